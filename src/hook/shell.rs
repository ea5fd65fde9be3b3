//! One [`Shell`] per supported shell: the hook script it installs and the
//! code `hook-env` prints for it (set, unset, watch list), with the shell's
//! own quoting. Everything printed for a shell goes through its `quote`, which
//! is tested against the real shell.

use super::HookError;
pub use crate::env::diff::valid_name;

/// What differs between shells.
pub trait Shell {
    /// The name used on the command line (`magpkg hook bash`).
    fn name(&self) -> &'static str;
    /// The hook script installed in the rc file; `hook_env` is the command
    /// (program and arguments) that runs `hook-env`, the shell's name is
    /// appended to it.
    fn hook_script(&self, hook_env: &[&[u8]]) -> Vec<u8> {
        let template = self.template();
        let (before, after) = template
            .split_once("@HOOK_ENV@")
            .expect("hook templates call hook-env once");
        debug_assert!(!after.contains("@HOOK_ENV@"));
        let mut out = before.as_bytes().to_vec();
        for (i, word) in hook_env.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend(self.quote(word));
        }
        out.extend(after.as_bytes());
        out
    }
    /// The hook file under `shell-hooks/`, with `@HOOK_ENV@` for the command.
    fn template(&self) -> &'static str;
    /// `value` as one word of this shell's syntax, byte for byte.
    fn quote(&self, value: &[u8]) -> Vec<u8>;
    /// Export `name=value`. `name` is a valid variable name.
    fn set_env(&self, out: &mut Vec<u8>, name: &str, value: &[u8]);
    /// Remove `name` from the environment.
    fn unset_env(&self, out: &mut Vec<u8>, name: &str);
    /// Replace the hook's watch list: (path, stamp or empty) pairs.
    fn set_watch(&self, out: &mut Vec<u8>, watch: &[(Vec<u8>, Vec<u8>)]);
}

/// The shell named `name`.
pub fn for_name(name: &str) -> Result<&'static dyn Shell, HookError> {
    match name {
        "bash" => Ok(&Bash),
        "zsh" => Ok(&Zsh),
        "fish" => Ok(&Fish),
        _ => Err(HookError::UnknownShell { name: name.into() }),
    }
}

/// The shells magpkg has a hook for.
pub const SHELLS: &[&str] = &["bash", "zsh", "fish"];

/// POSIX single quotes: everything is literal inside, except `'` itself,
/// which is written as `'\''`. Newlines, `$`, backslashes and non-ASCII bytes
/// need nothing. Used for bash and zsh.
pub fn quote_posix(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// fish single quotes: only `\` and `'` are special inside (as `\\` and
/// `\'`); newlines and non-ASCII are literal. Words of letters, digits,
/// `_`, `/` and `-` only stay bare, as `fish_indent` writes them.
pub fn quote_fish(value: &[u8]) -> Vec<u8> {
    if !value.is_empty() && value.iter().all(|b| b.is_ascii_alphanumeric() || b"_/-".contains(b)) {
        return value.to_vec();
    }
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'\'');
    for &b in value {
        if b == b'\'' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'\'');
    out
}

pub struct Bash;
pub struct Zsh;
pub struct Fish;

fn posix_set(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(b"export ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend(quote_posix(value));
    out.extend_from_slice(b";\n");
}

fn posix_unset(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"unset ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b";\n");
}

fn posix_watch(out: &mut Vec<u8>, watch: &[(Vec<u8>, Vec<u8>)]) {
    out.extend_from_slice(b"_magpkg_watch=(");
    for (i, (path, stamp)) in watch.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend(quote_posix(path));
        out.push(b' ');
        out.extend(quote_posix(stamp));
    }
    out.extend_from_slice(b");\n");
}

impl Shell for Bash {
    fn name(&self) -> &'static str {
        "bash"
    }
    fn template(&self) -> &'static str {
        include_str!("../../shell-hooks/magpkg.bash")
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        quote_posix(value)
    }
    fn set_env(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        posix_set(out, name, value)
    }
    fn unset_env(&self, out: &mut Vec<u8>, name: &str) {
        posix_unset(out, name)
    }
    fn set_watch(&self, out: &mut Vec<u8>, watch: &[(Vec<u8>, Vec<u8>)]) {
        posix_watch(out, watch)
    }
}

impl Shell for Zsh {
    fn name(&self) -> &'static str {
        "zsh"
    }
    fn template(&self) -> &'static str {
        include_str!("../../shell-hooks/magpkg.zsh")
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        quote_posix(value)
    }
    fn set_env(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        posix_set(out, name, value)
    }
    fn unset_env(&self, out: &mut Vec<u8>, name: &str) {
        posix_unset(out, name)
    }
    fn set_watch(&self, out: &mut Vec<u8>, watch: &[(Vec<u8>, Vec<u8>)]) {
        // The hook evaluates this inside its function: make sure the
        // assignment reaches the global array.
        out.extend_from_slice(b"typeset -ga ");
        posix_watch(out, watch)
    }
}

impl Shell for Fish {
    fn name(&self) -> &'static str {
        "fish"
    }
    fn template(&self) -> &'static str {
        include_str!("../../shell-hooks/magpkg.fish")
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        quote_fish(value)
    }
    fn set_env(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        // fish splits variables named `*PATH` on `:` by itself and joins
        // them again on export, so one string round-trips.
        out.extend_from_slice(b"set -gx ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend(quote_fish(value));
        out.extend_from_slice(b";\n");
    }
    fn unset_env(&self, out: &mut Vec<u8>, name: &str) {
        out.extend_from_slice(b"set -e -g ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b";\n");
    }
    fn set_watch(&self, out: &mut Vec<u8>, watch: &[(Vec<u8>, Vec<u8>)]) {
        out.extend_from_slice(b"set -g _magpkg_watch");
        for (path, stamp) in watch {
            out.push(b' ');
            out.extend(quote_fish(path));
            out.push(b' ');
            out.extend(quote_fish(stamp));
        }
        out.extend_from_slice(b";\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::process::Command;

    /// Awkward values: every one must come back byte for byte.
    const VALUES: &[&str] = &[
        "",
        "plain",
        "with space",
        "it's",
        "''",
        "back\\slash\\",
        "\\'",
        "new\nline\n",
        "$HOME `id` $(id) ${x}",
        "*?[a] ~ !x #c",
        "tab\there",
        "héllo wörld 日本語 🦀",
        "semi;colon&amp|pipe>redir",
        "\"double\"",
        "bare/word-1_x",
        "-n",
    ];

    fn have(shell: &str) -> bool {
        Command::new(shell)
            .arg("-c")
            .arg("true")
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Run `shell` on a script printing each quoted value NUL-terminated.
    fn round_trip(shell: &str, quote: fn(&[u8]) -> Vec<u8>) {
        if !have(shell) {
            panic!("{shell} is required for this test");
        }
        let mut script = Vec::new();
        for v in VALUES {
            script.extend_from_slice(b"printf '%s\\0' ");
            script.extend(quote(v.as_bytes()));
            script.push(b'\n');
        }
        let out = Command::new(shell)
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&script))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        for (i, v) in VALUES.iter().enumerate() {
            assert_eq!(got[i], v.as_bytes(), "{shell} mangled {v:?}");
        }
    }

    #[test]
    fn posix_quote_round_trips_in_bash() {
        round_trip("bash", quote_posix);
    }

    #[test]
    fn posix_quote_round_trips_in_zsh() {
        round_trip("zsh", quote_posix);
    }

    #[test]
    fn fish_quote_round_trips_in_fish() {
        round_trip("fish", quote_fish);
    }

    #[test]
    fn quoting_is_exact() {
        assert_eq!(quote_posix(b"it's"), b"'it'\\''s'");
        assert_eq!(quote_fish(b"it's \\"), b"'it\\'s \\\\'");
        assert_eq!(quote_fish(b"/usr/bin/magpkg-hook"), b"/usr/bin/magpkg-hook");
        assert_eq!(quote_fish(b""), b"''");
    }

    #[test]
    fn names_that_could_inject_code_are_invalid() {
        assert!(valid_name("PATH"));
        assert!(valid_name("_x1"));
        assert!(!valid_name("1x"));
        assert!(!valid_name(""));
        assert!(!valid_name("A;rm -rf ~"));
        assert!(!valid_name("A B"));
        assert!(!valid_name("Ä"));
    }

    #[test]
    fn every_template_calls_hook_env_once() {
        for name in SHELLS {
            let sh = for_name(name).unwrap();
            assert_eq!(sh.template().matches("@HOOK_ENV@").count(), 1, "{name}");
            let script = sh.hook_script(&[b"/opt/it's here/magpkg", b"hook-env"]);
            let text = String::from_utf8(script).unwrap();
            assert!(!text.contains("@HOOK_ENV@"));
            let q = |w: &[u8]| String::from_utf8(sh.quote(w)).unwrap();
            let call = format!("{} {} {name}", q(b"/opt/it's here/magpkg"), q(b"hook-env"));
            assert!(text.contains(&call), "{name}: {call}");
        }
        assert!(for_name("tcsh").is_err());
    }
}
