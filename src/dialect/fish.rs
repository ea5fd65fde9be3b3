//! fish (3.x): the prompt hook (`shell-hooks/magpkg.fish`), the code
//! `hook-env fish` prints, and the `--init-command` file of `magpkg shell`.

use std::path::Path;

use super::{Dialect, Launch};

/// fish single quotes: only `\` and `'` are special inside (as `\\` and
/// `\'`); newlines and other bytes are literal. Words of letters, digits,
/// `_`, `/` and `-` only stay bare, as `fish_indent` writes them (so the
/// printed hook passes `fish_indent --check`).
pub fn quote(value: &[u8]) -> Vec<u8> {
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

fn quote_str(value: &str) -> String {
    String::from_utf8(quote(value.as_bytes())).expect("quoting keeps UTF-8")
}

const CONFIG: &str = r#"# magpkg shell (fish): read after the user's config; marks the prompt.
if functions -q fish_prompt
    functions -c fish_prompt __magpkg_fish_prompt
    function fish_prompt
        printf '(magpkg:%s) ' $MAGPKG_ENV
        __magpkg_fish_prompt
    end
end
"#;

pub struct Fish;

impl Dialect for Fish {
    fn name(&self) -> &'static str {
        "fish"
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        quote(value)
    }
    fn set(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        // fish splits variables named `*PATH` on `:` by itself and joins
        // them again on export, so one string round-trips.
        out.extend_from_slice(b"set -gx ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend(quote(value));
        out.extend_from_slice(b";\n");
    }
    fn unset(&self, out: &mut Vec<u8>, name: &str) {
        out.extend_from_slice(b"set -e -g ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b";\n");
    }
    fn hook_template(&self) -> Option<&'static str> {
        Some(include_str!("../../shell-hooks/magpkg.fish"))
    }
    fn set_list(&self, out: &mut Vec<u8>, name: &str, items: &[&[u8]]) {
        out.extend_from_slice(b"set -g ");
        out.extend_from_slice(name.as_bytes());
        for item in items {
            out.push(b' ');
            out.extend(quote(item));
        }
        out.extend_from_slice(b";\n");
    }
    fn test_env(&self, vars: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        // Quoted, a path variable (`*PATH`) expands joined with `:`, as it
        // is exported.
        let mut out = b"true".to_vec();
        for (name, value) in vars {
            match value {
                None => out.extend_from_slice(format!("; and not set -q {name}").as_bytes()),
                Some(v) => {
                    out.extend_from_slice(format!("; and set -qx {name}; and test \"${name}\" = ").as_bytes());
                    out.extend(quote(v));
                }
            }
        }
        out
    }
    fn set_var(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        // No `;`: the line ends the printed hook, which fish_indent checks.
        self.set_list(out, name, &[value]);
        out.truncate(out.len() - 2);
        out.push(b'\n');
    }
    fn rc_files(&self, shell_hook: Option<&str>) -> Vec<(&'static str, String)> {
        // fish cannot source POSIX sh: the hook runs in sh, so its output
        // shows but the variables it sets do not reach fish (doc/manifest.md
        // says so).
        let hook = shell_hook
            .map(|h| format!("# shellHook from the manifest, in sh\nsh -c {}\n", quote_str(h)))
            .unwrap_or_default();
        vec![("config.fish", format!("{CONFIG}{hook}"))]
    }
    fn launch(&self, dir: &Path) -> Launch {
        let file = dir.join("config.fish");
        Launch {
            args: vec![
                "--init-command".into(),
                format!("source {}", quote_str(&file.to_string_lossy())).into(),
            ],
            env: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::{check_test_env, require, round_trip, EnvCase};

    #[test]
    fn quote_round_trips_in_fish() {
        round_trip("fish", &["--no-config", "-c"], quote);
    }

    #[test]
    fn quote_is_exact() {
        assert_eq!(quote(b"it's \\"), b"'it\\'s \\\\'");
        assert_eq!(quote(b"/usr/bin/magpkg-hook"), b"/usr/bin/magpkg-hook");
        assert_eq!(quote(b""), b"''");
    }

    #[test]
    fn hook_code_evaluates_in_fish() {
        let mut code = Vec::new();
        Fish.set(&mut code, "A", b"it's $x\n");
        Fish.set(&mut code, "MYPATH", b"/a b:/c");
        Fish.set(&mut code, "B", b"gone");
        Fish.unset(&mut code, "B");
        Fish.set_watch(&mut code, &[(b"/p/x".to_vec(), b"".to_vec())]);
        code.extend_from_slice(b"printf '%s|' \"$A\" (count $MYPATH) (set -q B; or echo unset) (count $_magpkg_watch); env | string match -q 'MYPATH=/a b:/c'; and echo exported");
        let out = std::process::Command::new(require("fish"))
            .args(["--no-config", "-c"])
            .arg(std::str::from_utf8(&code).unwrap())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "it's $x\n|2|unset|2|exported\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn test_env_is_exact() {
        let cases: &[EnvCase] = &[
            (
                &[("A", Some(b"it's $x\n")), ("B", None), ("MYPATH", Some(b"/a b:/c"))],
                true,
            ),
            (&[("A", Some(b"it's $x"))], false),
            (&[("A", None)], false),
            (&[("C", Some(b"c"))], false),
            (&[], true),
        ];
        check_test_env(
            &Fish,
            "fish",
            &["--no-config", "-c"],
            b"set -gx A \"it's \\$x\n\"; set -e B; set -g C c; set -gx MYPATH '/a b:/c'; ",
            cases,
        );
    }

    #[test]
    fn rc_file_parses_in_fish() {
        let t = tempfile::tempdir().unwrap();
        let (name, text) = Fish.rc_files(Some("echo 'hi there'")).remove(0);
        std::fs::write(t.path().join(name), &text).unwrap();
        let st = std::process::Command::new(require("fish"))
            .arg("--no-execute")
            .arg(t.path().join(name))
            .status()
            .unwrap();
        assert!(st.success(), "fish --no-execute config.fish");
    }
}
