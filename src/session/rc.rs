//! Startup files for interactive `magpkg shell`: they load the user's own
//! configuration, then put the environment's name in the prompt and run the
//! manifest's `shellHook`. What each file says is its dialect's
//! ([`crate::dialect::Dialect::rc_files`]); this module writes them.
//!
//! The files only depend on the shellHook, so they are content-addressed
//! under the state dir (`shells-v1/<digest>/`), written once and reused;
//! `magpkg shell` can then `exec` the shell and leave nothing to clean up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::SessionError;
use crate::dialect;

/// How to start an interactive shell with magpkg's startup files.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub args: Vec<OsString>,
    /// Variables to set for the shell.
    pub env: Vec<(OsString, OsString)>,
    /// The directory holding the startup files (bound into `--pure`).
    pub dir: PathBuf,
}

/// The startup files of every shell for a shellHook: (file name, content).
/// All shells' files share one directory, so a `--pure` shell found in the
/// environment finds its own whatever `$SHELL` said.
fn files(hook: Option<&str>) -> Vec<(&'static str, String)> {
    dialect::RC_SHELLS.iter().flat_map(|d| d.rc_files(hook)).collect()
}

/// Write (once) the startup files for `hook` under `state_dir` and return
/// how to launch `program` with them.
pub fn prepare(state_dir: &Path, program: &Path, hook: Option<&str>) -> Result<Launch, SessionError> {
    let files = files(hook);
    let mut all = String::new();
    for (name, text) in &files {
        all.push_str(name);
        all.push('\0');
        all.push_str(text);
        all.push('\0');
    }
    let digest = crate::hash::digest("magpkg-shell-rc-v1", all.as_bytes());
    let dir = state_dir.join("shells-v1").join(&digest[..32]);
    for (name, text) in &files {
        let path = dir.join(name);
        if !path.is_file() {
            crate::util::write_atomic(&path, text.as_bytes())?;
        }
    }
    let dialect::Launch { args, env } = dialect::for_program(program).launch(&dir);
    Ok(Launch { args, env, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_once_per_hook() {
        let t = tempfile::tempdir().unwrap();
        let a = prepare(t.path(), Path::new("/bin/bash"), Some("echo 'hi there'")).unwrap();
        let b = prepare(t.path(), Path::new("/usr/bin/zsh"), Some("echo 'hi there'")).unwrap();
        let c = prepare(t.path(), Path::new("/bin/bash"), None).unwrap();
        assert_eq!(a.dir, b.dir, "same hook, same files");
        assert_ne!(a.dir, c.dir);
        assert_eq!(a.args[1], a.dir.join("bashrc").into_os_string());
        assert!(b
            .env
            .iter()
            .any(|(k, v)| k == "ZDOTDIR" && *v == b.dir.join("zsh").into_os_string()));
        let bashrc = std::fs::read_to_string(a.dir.join("bashrc")).unwrap();
        assert!(bashrc.ends_with("echo 'hi there'\n"), "{bashrc}");
        for f in ["bashrc", "zsh/.zshenv", "zsh/.zshrc", "config.fish", "shrc"] {
            assert!(a.dir.join(f).is_file(), "{f}");
        }
    }
}
