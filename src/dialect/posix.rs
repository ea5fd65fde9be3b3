//! POSIX sh (dash, busybox ash, ksh...): `magpkg env --format sh` and the
//! startup file of an interactive `magpkg shell` run by a plain sh. Its
//! quoting and `export` lines are also bash's and zsh's.

use std::path::Path;

use super::{Dialect, Launch};

/// POSIX single quotes, always: everything is literal inside but `'`
/// itself, written `'\''`. Newlines, `$`, backslashes and bytes that are
/// not UTF-8 need nothing. Never a bare word: in zsh even a plain-looking
/// `=ls` expands, and one rule for every value is easier to trust.
pub fn quote(value: &[u8]) -> Vec<u8> {
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

/// `export NAME='value';` (the `;` lets the lines be joined).
pub(super) fn export(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(b"export ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend(quote(value));
    out.extend_from_slice(b";\n");
}

pub(super) fn unset(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"unset ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b";\n");
}

/// The manifest's `shellHook` appended to a POSIX startup file.
pub(super) fn with_hook(rc: &str, shell_hook: Option<&str>) -> String {
    match shell_hook {
        Some(h) => format!("{rc}# shellHook from the manifest\n{h}\n"),
        None => rc.to_string(),
    }
}

const SHRC: &str = r#"# magpkg shell (sh): the user's $ENV file, then the environment's prompt and shellHook.
if [ -n "${MAGPKG_SH_ENV+x}" ]; then ENV=$MAGPKG_SH_ENV; unset MAGPKG_SH_ENV; [ -f "$ENV" ] && . "$ENV"; else unset ENV; fi
PS1="(magpkg:${MAGPKG_ENV-}) ${PS1-\$ }"
"#;

pub struct Posix;

impl Dialect for Posix {
    fn name(&self) -> &'static str {
        "sh"
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        quote(value)
    }
    fn set(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        export(out, name, value)
    }
    fn unset(&self, out: &mut Vec<u8>, name: &str) {
        unset(out, name)
    }
    fn rc_files(&self, shell_hook: Option<&str>) -> Vec<(&'static str, String)> {
        vec![("shrc", with_hook(SHRC, shell_hook))]
    }
    /// An interactive sh reads `$ENV`; the user's own one is passed on in
    /// `MAGPKG_SH_ENV` for the startup file to read first.
    fn launch(&self, dir: &Path) -> Launch {
        let mut l = Launch::default();
        if let Some(orig) = std::env::var_os("ENV") {
            l.env.push(("MAGPKG_SH_ENV".into(), orig));
        }
        l.env.push(("ENV".into(), dir.join("shrc").into()));
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::{require, round_trip};

    #[test]
    fn quote_round_trips_in_dash() {
        round_trip("dash", &["-c"], quote);
    }

    #[test]
    fn quote_is_exact() {
        assert_eq!(quote(b"it's"), b"'it'\\''s'");
        assert_eq!(quote(b""), b"''");
        assert_eq!(quote(b"plain"), b"'plain'", "never bare");
    }

    #[test]
    fn exports_evaluate_in_dash() {
        let mut code = Vec::new();
        Posix.set(&mut code, "A", b"x y\n$HOME");
        Posix.set(&mut code, "B", b"gone");
        Posix.unset(&mut code, "B");
        code.extend_from_slice(b"printf '%s|%s' \"$A\" \"${B-unset}\"");
        let out = std::process::Command::new(require("dash"))
            .arg("-c")
            .arg(std::ffi::OsStr::new(std::str::from_utf8(&code).unwrap()))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x y\n$HOME|unset");
    }

    #[test]
    fn rc_file_parses_in_dash() {
        let t = tempfile::tempdir().unwrap();
        let (name, text) = Posix.rc_files(Some("echo 'hi there'")).remove(0);
        std::fs::write(t.path().join(name), &text).unwrap();
        assert!(text.ends_with("echo 'hi there'\n"), "{text}");
        let st = std::process::Command::new(require("dash"))
            .arg("-n")
            .arg(t.path().join(name))
            .status()
            .unwrap();
        assert!(st.success());
        let l = Posix.launch(t.path());
        assert!(l
            .env
            .iter()
            .any(|(k, v)| k == "ENV" && *v == t.path().join("shrc").into_os_string()));
    }

    /// What `magpkg env --format sh` prints passes shellcheck, hostile
    /// values and all.
    #[test]
    fn a_script_passes_shellcheck() {
        use crate::dialect::{testing::HOSTILE, Change};
        let names: Vec<String> = (0..HOSTILE.len()).map(|i| format!("V{i}")).collect();
        let mut changes: Vec<Change> = HOSTILE
            .iter()
            .zip(&names)
            .map(|(v, name)| Change::Set { name, value: v })
            .collect();
        changes.push(Change::Unset { name: "GONE" });
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("env.sh");
        std::fs::write(&file, Posix.script(&changes)).unwrap();
        let out = std::process::Command::new(require("shellcheck"))
            // Info notes (SC1003: "want to escape a single quote?") are
            // guesses about intent; warnings and errors are not.
            .args(["-s", "sh", "--severity=warning"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}
