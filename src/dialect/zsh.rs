//! zsh: the prompt hook (`shell-hooks/magpkg.zsh`), the code `hook-env zsh`
//! prints, and the `ZDOTDIR` startup files of `magpkg shell`. Values are
//! quoted as in POSIX sh ([`super::posix::quote`]).

use std::path::Path;

use super::{bash, posix, Dialect, Launch};

const ZSHENV: &str = r#"# magpkg shell (zsh): read the user's .zshenv, then come back here for .zshrc.
__magpkg_zdotdir=$ZDOTDIR
if (( ${+MAGPKG_ZDOTDIR} )); then ZDOTDIR=$MAGPKG_ZDOTDIR; else ZDOTDIR=$HOME; fi
[[ -f $ZDOTDIR/.zshenv ]] && source $ZDOTDIR/.zshenv
ZDOTDIR=$__magpkg_zdotdir
unset __magpkg_zdotdir
"#;

const ZSHRC: &str = r#"# magpkg shell (zsh): restore ZDOTDIR, read the user's .zshrc, then the environment's prompt and shellHook.
if (( ${+MAGPKG_ZDOTDIR} )); then ZDOTDIR=$MAGPKG_ZDOTDIR; unset MAGPKG_ZDOTDIR; else unset ZDOTDIR; fi
[[ -f ${ZDOTDIR:-$HOME}/.zshrc ]] && source ${ZDOTDIR:-$HOME}/.zshrc
PS1="(magpkg:${MAGPKG_ENV-}) $PS1"
"#;

pub struct Zsh;

impl Dialect for Zsh {
    fn name(&self) -> &'static str {
        "zsh"
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
        Some(include_str!("../../shell-hooks/magpkg.zsh"))
    }
    fn set_list(&self, out: &mut Vec<u8>, name: &str, items: &[&[u8]]) {
        // The hook evaluates this inside its function: make sure the
        // assignment reaches the global array.
        out.extend_from_slice(b"typeset -ga ");
        bash::array(out, name, items)
    }
    fn test_env(&self, vars: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut out = b"[[ 1 == 1".to_vec();
        for (name, value) in vars {
            match value {
                None => out.extend_from_slice(format!(" && ! -v {name}").as_bytes()),
                Some(v) => {
                    out.extend_from_slice(
                        format!(" && -v {name} && ${{(t){name}}} == *-export* && ${name} == ").as_bytes(),
                    );
                    out.extend(posix::quote(v));
                }
            }
        }
        out.extend_from_slice(b" ]]");
        out
    }
    fn set_var(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.extend_from_slice(b"typeset -g ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend(posix::quote(value));
        out.push(b'\n');
    }
    fn rc_files(&self, shell_hook: Option<&str>) -> Vec<(&'static str, String)> {
        vec![
            ("zsh/.zshenv", ZSHENV.to_string()),
            ("zsh/.zshrc", posix::with_hook(ZSHRC, shell_hook)),
        ]
    }
    /// zsh reads its startup files from `$ZDOTDIR`; the user's own one is
    /// passed on in `MAGPKG_ZDOTDIR`.
    fn launch(&self, dir: &Path) -> Launch {
        let mut l = Launch::default();
        if let Some(orig) = std::env::var_os("ZDOTDIR") {
            l.env.push(("MAGPKG_ZDOTDIR".into(), orig));
        }
        l.env.push(("ZDOTDIR".into(), dir.join("zsh").into()));
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::{check_test_env, require, round_trip, EnvCase};

    #[test]
    fn quote_round_trips_in_zsh() {
        round_trip("zsh", &["--no-rcs", "-c"], posix::quote);
    }

    #[test]
    fn hook_code_evaluates_in_zsh_inside_a_function() {
        let mut code = b"f() {\n".to_vec();
        Zsh.set(&mut code, "A", b"=ls it's");
        Zsh.set_watch(&mut code, &[(b"/p/x".to_vec(), b"/s/y".to_vec())]);
        code.extend_from_slice(b"}\nf\nprintf '%s|%s' \"$A\" \"${_magpkg_watch[2]}\"");
        let out = std::process::Command::new(require("zsh"))
            .args(["--no-rcs", "-euc"])
            .arg(std::str::from_utf8(&code).unwrap())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "=ls it's|/s/y",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn test_env_is_exact_under_nounset() {
        let cases: &[EnvCase] = &[
            (&[("A", Some(b"it's $x\n")), ("B", None)], true),
            (&[("A", Some(b"it's $x"))], false),
            (&[("A", None)], false),
            (&[("C", Some(b"c"))], false),
            (&[], true),
        ];
        check_test_env(
            &Zsh,
            "zsh",
            &["--no-rcs", "-uc"],
            b"export A=\"it's \\$x\n\"; unset B; C=c; ",
            cases,
        );
    }

    #[test]
    fn rc_files_parse_in_zsh() {
        let t = tempfile::tempdir().unwrap();
        let files = Zsh.rc_files(Some("echo 'hi there'"));
        for (name, text) in &files {
            let path = t.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            let st = std::process::Command::new(require("zsh"))
                .arg("-n")
                .arg(&path)
                .status()
                .unwrap();
            assert!(st.success(), "zsh -n {name}");
        }
        assert!(files[1].1.ends_with("echo 'hi there'\n"));
        let l = Zsh.launch(t.path());
        assert!(l
            .env
            .iter()
            .any(|(k, v)| k == "ZDOTDIR" && *v == t.path().join("zsh").into_os_string()));
    }
}
