//! bash (4.4 or newer): the prompt hook (`shell-hooks/magpkg.bash`), the
//! code `hook-env bash` prints, and the `--rcfile` of `magpkg shell`.
//! Values are quoted as in POSIX sh ([`super::posix::quote`]).

use std::path::Path;

use super::{posix, Dialect, Launch};

/// A list of the hook as a bash (and zsh) array assignment.
pub(super) fn array(out: &mut Vec<u8>, name: &str, items: &[&[u8]]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=(");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend(posix::quote(item));
    }
    out.extend_from_slice(b");\n");
}

const BASHRC: &str = r#"# magpkg shell (bash): the user's bashrc, then the environment's prompt and shellHook.
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
PS1="(magpkg:${MAGPKG_ENV-}) ${PS1-\s-\v\$ }"
"#;

pub struct Bash;

impl Dialect for Bash {
    fn name(&self) -> &'static str {
        "bash"
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        posix::quote(value)
    }
    fn set(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        posix::export(out, name, value)
    }
    fn unset(&self, out: &mut Vec<u8>, name: &str) {
        posix::unset(out, name)
    }
    fn hook_template(&self) -> Option<&'static str> {
        Some(include_str!("../../shell-hooks/magpkg.bash"))
    }
    fn set_list(&self, out: &mut Vec<u8>, name: &str, items: &[&[u8]]) {
        array(out, name, items)
    }
    fn test_env(&self, vars: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        // `${X+x}` first: under `set -u` nothing else is expanded for an
        // unset variable (`&&` stops there).
        let mut out = b"[[ 1".to_vec();
        for (name, value) in vars {
            match value {
                None => out.extend_from_slice(format!(" && -z ${{{name}+x}}").as_bytes()),
                Some(v) => {
                    out.extend_from_slice(
                        format!(" && -n ${{{name}+x}} && ${{{name}@a}} == *x* && ${name} == ").as_bytes(),
                    );
                    out.extend(posix::quote(v));
                }
            }
        }
        out.extend_from_slice(b" ]]");
        out
    }
    fn set_var(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend(posix::quote(value));
        out.push(b'\n');
    }
    fn rc_files(&self, shell_hook: Option<&str>) -> Vec<(&'static str, String)> {
        vec![("bashrc", posix::with_hook(BASHRC, shell_hook))]
    }
    fn launch(&self, dir: &Path) -> Launch {
        Launch {
            args: vec!["--rcfile".into(), dir.join("bashrc").into()],
            env: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::{check_test_env, require, round_trip, EnvCase};

    #[test]
    fn quote_round_trips_in_bash() {
        round_trip("bash", &["--noprofile", "--norc", "-c"], posix::quote);
    }

    #[test]
    fn hook_code_evaluates_in_bash() {
        let mut code = Vec::new();
        Bash.set(&mut code, "A", b"it's $x\n");
        Bash.unset(&mut code, "HOME");
        Bash.set_watch(&mut code, &[(b"/p/magnet.jsonnet".to_vec(), b"".to_vec())]);
        code.extend_from_slice(
            b"printf '%s|%s|%s|%s' \"$A\" \"${HOME-unset}\" \"${#_magpkg_watch[@]}\" \"${_magpkg_watch[0]}\"",
        );
        let out = std::process::Command::new(require("bash"))
            .args(["--noprofile", "--norc", "-euc"])
            .arg(std::str::from_utf8(&code).unwrap())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "it's $x\n|unset|2|/p/magnet.jsonnet",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn test_env_is_exact_under_set_u() {
        // A: exported with that value; B: unset; C: set but not exported
        // (not what hook-env sees).
        let cases: &[EnvCase] = &[
            (&[("A", Some(b"it's $x\n")), ("B", None)], true),
            (&[("A", Some(b"it's $x"))], false),
            (&[("B", Some(b""))], false),
            (&[("A", None)], false),
            (&[("C", Some(b"c"))], false),
            (&[], true),
        ];
        check_test_env(
            &Bash,
            "bash",
            &["--noprofile", "--norc", "-uc"],
            b"export A=\"it's \\$x\n\"; unset B; C=c; ",
            cases,
        );
    }

    #[test]
    fn rc_file_parses_in_bash() {
        let t = tempfile::tempdir().unwrap();
        let (name, text) = Bash.rc_files(Some("echo 'hi there'")).remove(0);
        std::fs::write(t.path().join(name), &text).unwrap();
        assert!(text.ends_with("echo 'hi there'\n"), "{text}");
        let st = std::process::Command::new(require("bash"))
            .arg("-n")
            .arg(t.path().join(name))
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(Bash.launch(t.path()).args[1], t.path().join("bashrc").into_os_string());
    }
}
