//! Quoting values for the shells magpkg writes code for. One function per
//! shell, tested against the real shell.

/// A POSIX sh word that evaluates to exactly `s` (bash, zsh, dash, busybox).
pub fn posix(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:,=+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A fish word that evaluates to exactly `s`: inside single quotes fish
/// only interprets `\\` and `\'`.
pub fn fish(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const NASTY: &[&str] = &[
        "",
        "plain",
        "two words",
        "it's",
        "back\\slash",
        "$HOME `id` $(id) \"q\"",
        "new\nline",
        "tab\there",
        "ünïcödé ✓",
        "*?[a]",
        "'",
        "\\'",
        "-n",
    ];

    fn roundtrip(shell: &str, flag: &str, code: String) -> String {
        let out = Command::new(shell).args([flag, &code]).output().unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn posix_quoting_survives_sh_bash_and_zsh() {
        for shell in ["sh", "bash", "zsh"] {
            if which::which(shell).is_err() {
                continue;
            }
            for s in NASTY {
                let got = roundtrip(shell, "-c", format!("printf '%s' {}", posix(s)));
                assert_eq!(&got, s, "{shell} with {s:?}");
            }
        }
    }

    #[test]
    fn fish_quoting_survives_fish() {
        if which::which("fish").is_err() {
            return;
        }
        for s in NASTY {
            let got = roundtrip("fish", "-c", format!("printf '%s' {}", fish(s)));
            assert_eq!(&got, s, "fish with {s:?}");
        }
    }
}
