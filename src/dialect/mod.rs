/*!
The languages magpkg writes environments in: one [`Dialect`] per shell or
format (bash, zsh, fish, POSIX sh, GitHub Actions' `$GITHUB_ENV` and JSON),
one file each, as direnv's `shell_*.go` and mise's `Shell` trait.

A dialect knows how to quote a value (one function per dialect, tested
against the real shell), how to set, unset and prepend a variable, and for
the interactive shells, the prompt hook ([`Dialect::hook_script`]) and the
startup files an interactive `magpkg shell` reads ([`Dialect::rc_files`]).
*What* to set is decided once, in [`crate::env::diff`]; a dialect only
spells it.
*/

pub mod bash;
pub mod fish;
pub mod github;
pub mod json;
pub mod posix;
pub mod zsh;

use std::ffi::OsString;
use std::path::Path;

pub use crate::env::diff::valid_name;
use crate::env::diff::{EnvDiff, Val};

/// One step of making a process environment what an activation wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    Set {
        name: &'a str,
        value: &'a [u8],
    },
    Unset {
        name: &'a str,
    },
    /// `entries` put in front of the list `name`; `value` is the whole list
    /// afterwards (see [`crate::env::diff::prepend_list`]).
    Prepend {
        name: &'a str,
        entries: &'a [String],
        value: &'a [u8],
    },
}

/// The changes that apply `diff` to the environment it was made on, with
/// the values [`EnvDiff::next`] computed.
pub fn changes<'a>(diff: &'a EnvDiff, next: &'a std::collections::BTreeMap<String, Option<Val>>) -> Vec<Change<'a>> {
    next.iter()
        .map(|(name, value)| match (value, diff.prepend.get(name)) {
            (None, _) => Change::Unset { name },
            (Some(v), Some(entries)) if !diff.set.contains_key(name) => Change::Prepend {
                name,
                entries,
                value: &v.0,
            },
            (Some(v), _) => Change::Set { name, value: &v.0 },
        })
        .collect()
}

/// How to start an interactive shell so that it reads magpkg's startup
/// files from a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub args: Vec<OsString>,
    /// Variables to set for the shell.
    pub env: Vec<(OsString, OsString)>,
}

/// What differs between the languages magpkg writes environments in.
/// Variable names given to it are valid ([`valid_name`]).
pub trait Dialect: Sync {
    /// The name on the command line (`magpkg hook bash`).
    fn name(&self) -> &'static str;
    /// `value` as one word (a value) of this dialect, byte for byte.
    fn quote(&self, value: &[u8]) -> Vec<u8>;
    /// Export `name=value`.
    fn set(&self, out: &mut Vec<u8>, name: &str, value: &[u8]);
    /// Remove `name` from the environment.
    fn unset(&self, out: &mut Vec<u8>, name: &str);
    /// Put `entries` in front of the list `name`, which is `value` after.
    /// Most dialects export the whole value: the one de-duplication rule
    /// then holds without the shell's help.
    fn prepend(&self, out: &mut Vec<u8>, name: &str, entries: &[String], value: &[u8]) {
        let _ = entries;
        self.set(out, name, value)
    }
    /// The code that makes all of `changes`.
    fn script(&self, changes: &[Change]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in changes {
            match *c {
                Change::Set { name, value } => self.set(&mut out, name, value),
                Change::Unset { name } => self.unset(&mut out, name),
                Change::Prepend { name, entries, value } => self.prepend(&mut out, name, entries, value),
            }
        }
        out
    }
    /// The prompt hook under `shell-hooks/`, with `@HOOK_ENV@` where it
    /// runs `hook-env`; `None` for a dialect without one.
    fn hook_template(&self) -> Option<&'static str> {
        None
    }
    /// The hook script installed in the rc file; `hook_env` is the command
    /// (program and arguments) that runs `hook-env`, to which the dialect's
    /// name is appended.
    fn hook_script(&self, hook_env: &[&[u8]]) -> Option<Vec<u8>> {
        let template = self.hook_template()?;
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
        Some(out)
    }
    /// Replace the hook's watch list: (path, stamp or empty) pairs.
    fn set_watch(&self, out: &mut Vec<u8>, watch: &[(Vec<u8>, Vec<u8>)]) {
        let flat: Vec<&[u8]> = watch.iter().flat_map(|(p, s)| [&p[..], &s[..]]).collect();
        self.set_list(out, "_magpkg_watch", &flat);
    }
    /// Set the hook's global list `name` (not exported) to `items`; for
    /// dialects with a prompt hook.
    fn set_list(&self, out: &mut Vec<u8>, name: &str, items: &[&[u8]]) {
        let _ = (out, name, items);
    }
    /// One command that succeeds exactly when every variable of `vars` is
    /// exported with that value (`None`: is not set at all); for dialects
    /// with a prompt hook.
    fn test_env(&self, vars: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let _ = vars;
        b"false".to_vec()
    }
    /// Set the hook's global variable `name` (not exported).
    fn set_var(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        let _ = (out, name, value);
    }
    /// The startup files (name under the rc directory, content) that an
    /// interactive `magpkg shell` of this dialect reads: the user's own
    /// configuration, then the prompt mark and the manifest's `shellHook`.
    fn rc_files(&self, shell_hook: Option<&str>) -> Vec<(&'static str, String)> {
        let _ = shell_hook;
        Vec::new()
    }
    /// How to start the shell so that it reads [`Self::rc_files`] from `dir`.
    fn launch(&self, dir: &Path) -> Launch {
        let _ = dir;
        Launch::default()
    }
}

/// Every dialect, by name.
pub const ALL: &[&dyn Dialect] = &[
    &bash::Bash,
    &zsh::Zsh,
    &fish::Fish,
    &posix::Posix,
    &github::Github,
    &json::Json,
];

/// The shells magpkg has a prompt hook for.
pub const HOOK_SHELLS: &[&str] = &["bash", "zsh", "fish"];

/// The dialect named `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Dialect> {
    ALL.iter().copied().find(|d| d.name() == name)
}

/// The shell named `name`, if magpkg has a prompt hook for it.
pub fn hook_shell(name: &str) -> Option<&'static dyn Dialect> {
    by_name(name).filter(|d| d.hook_template().is_some())
}

/// The dialect of an interactive shell program: bash, zsh and fish by
/// name, anything else (sh, dash, ash, ksh...) as a POSIX sh.
pub fn for_program(program: &Path) -> &'static dyn Dialect {
    match program.file_name().and_then(|n| n.to_str()).unwrap_or("") {
        "bash" => &bash::Bash,
        "zsh" => &zsh::Zsh,
        "fish" => &fish::Fish,
        _ => &posix::Posix,
    }
}

/// The dialects whose startup files an interactive `magpkg shell` writes,
/// in the order their files are written (and digested).
pub const RC_SHELLS: &[&dyn Dialect] = &[&bash::Bash, &zsh::Zsh, &fish::Fish, &posix::Posix];

#[cfg(test)]
pub(crate) mod testing {
    //! What the quoting tests of every dialect share.

    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::process::Command;

    /// Values that must come back byte for byte from every dialect.
    pub const HOSTILE: &[&[u8]] = &[
        b"",
        b"plain",
        b"with space",
        b"it's",
        b"''",
        b"back\\slash\\",
        b"\\'",
        b"\\n",
        b"new\nline\n",
        b"\n",
        b"cr\rlf\r\n",
        b"$HOME `id` $(id) ${x} $",
        b"*?[a] ~ ~root !x #c {a,b}",
        b"tab\there",
        b"h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\xa6\x80",
        b"not utf-8: \xff\xfe \x80 \xc3(",
        b"semi;colon&amp|pipe>redir<in",
        b"\"double\" \\\"",
        b"bare/word-1_x",
        b"-e",
        b"-n",
        b"--",
        b"=ls",
        b"%1",
        b"a:b::c:",
        b"\x01\x1b[31mctl\x7f",
    ];

    /// The path of `tool`, or a panic that says how to get it: a test that
    /// passes because its tool is missing proves nothing.
    pub fn require(tool: &str) -> std::path::PathBuf {
        which::which(tool).unwrap_or_else(|_| panic!("required tool {tool} is missing: run bash .ci/setup"))
    }

    /// Variables to check with [`super::Dialect::test_env`] and whether the
    /// check must hold.
    pub type EnvCase<'a> = (&'a [(&'a str, Option<&'a [u8]>)], bool);

    /// Run `setup` then `d`'s `test_env` for each case in `shell ARGS`, and
    /// check its status.
    pub fn check_test_env(d: &dyn super::Dialect, shell: &str, args: &[&str], setup: &[u8], cases: &[EnvCase]) {
        for (vars, want) in cases {
            let mut code = setup.to_vec();
            code.extend(d.test_env(vars));
            let st = Command::new(require(shell))
                .args(args)
                .arg(OsStr::from_bytes(&code))
                .status()
                .unwrap();
            assert_eq!(st.success(), *want, "{shell}: {}", String::from_utf8_lossy(&code));
        }
    }

    /// Run `shell ARGS script` where the script prints each of `words`
    /// (already quoted) NUL-terminated with `printf '%s\0'`, and check that
    /// each comes back as `values`.
    pub fn round_trip(shell: &str, args: &[&str], quote: impl Fn(&[u8]) -> Vec<u8>) {
        let program = require(shell);
        let mut script = Vec::new();
        for v in HOSTILE {
            script.extend_from_slice(b"printf '%s\\0' ");
            script.extend(quote(v));
            script.push(b'\n');
        }
        let out = Command::new(program)
            .args(args)
            .arg(OsStr::from_bytes(&script))
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}\nscript:\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&script)
        );
        let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        assert_eq!(
            got.len(),
            HOSTILE.len() + 1,
            "{shell}: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        for (v, g) in HOSTILE.iter().zip(got) {
            assert_eq!(
                g,
                *v,
                "{shell} mangled {:?} into {:?}",
                String::from_utf8_lossy(v),
                String::from_utf8_lossy(g)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_hook_template_calls_hook_env_once() {
        for name in HOOK_SHELLS {
            let d = hook_shell(name).unwrap();
            assert_eq!(d.hook_template().unwrap().matches("@HOOK_ENV@").count(), 1, "{name}");
            let script = d.hook_script(&[b"/opt/it's here/magpkg", b"hook-env"]).unwrap();
            let text = String::from_utf8(script).unwrap();
            assert!(!text.contains("@HOOK_ENV@"));
            let q = |w: &[u8]| String::from_utf8(d.quote(w)).unwrap();
            let call = format!("{} {} {name}", q(b"/opt/it's here/magpkg"), q(b"hook-env"));
            assert!(text.contains(&call), "{name}: {call}");
        }
        assert!(hook_shell("tcsh").is_none());
        assert!(hook_shell("sh").is_none(), "POSIX sh has no prompt hook");
        assert!(by_name("sh").is_some());
    }

    #[test]
    fn names_are_unique_and_found() {
        for d in ALL {
            assert_eq!(by_name(d.name()).unwrap().name(), d.name());
        }
        let mut names: Vec<_> = ALL.iter().map(|d| d.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn programs_map_to_their_dialect() {
        assert_eq!(for_program(Path::new("/usr/bin/bash")).name(), "bash");
        assert_eq!(for_program(Path::new("zsh")).name(), "zsh");
        assert_eq!(for_program(Path::new("/usr/bin/fish")).name(), "fish");
        assert_eq!(for_program(Path::new("/bin/dash")).name(), "sh");
        assert_eq!(for_program(Path::new("/bin/ksh")).name(), "sh");
    }

    #[test]
    fn changes_follow_the_diff() {
        let mut st = crate::env::state::ProjectState::default();
        st.prepend.insert("PATH".into(), vec!["/s/bin".into()]);
        st.set.insert("A".into(), "1".into());
        let host: crate::env::diff::Env = [("PATH".to_string(), Val::text("/bin"))].into();
        let d = EnvDiff::activate(&st, &host);
        let next = d.next();
        let c = changes(&d, &next);
        assert_eq!(
            c,
            vec![
                Change::Set { name: "A", value: b"1" },
                Change::Prepend {
                    name: "PATH",
                    entries: &["/s/bin".to_string()],
                    value: b"/s/bin:/bin"
                },
            ]
        );
    }
}
