//! Startup files for interactive `magpkg shell`: they load the user's own
//! configuration, then put the environment's name in the prompt and run the
//! manifest's `shellHook`.
//!
//! The files only depend on the shellHook, so they are content-addressed
//! under the state dir (`shells-v1/<digest>/`), written once and reused;
//! `magpkg shell` can then `exec` the shell and leave nothing to clean up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::quote;
use super::ShellError;

/// The shells magpkg knows how to decorate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bash,
    Zsh,
    Fish,
    /// sh, dash, ash, ksh...: read `$ENV` when interactive.
    Posix,
}

impl Kind {
    pub fn of(program: &Path) -> Kind {
        match program.file_name().and_then(|n| n.to_str()).unwrap_or("") {
            "bash" => Kind::Bash,
            "zsh" => Kind::Zsh,
            "fish" => Kind::Fish,
            _ => Kind::Posix,
        }
    }
}

/// How to start an interactive shell of `kind` with magpkg's startup files.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub args: Vec<OsString>,
    /// Variables to set for the shell.
    pub env: Vec<(OsString, OsString)>,
    /// The directory holding the startup files (bound into `--pure`).
    pub dir: PathBuf,
}

const BASHRC: &str = r#"# magpkg shell (bash): the user's bashrc, then the environment's prompt and shellHook.
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
PS1="(magpkg:${MAGPKG_ENV-}) ${PS1-\s-\v\$ }"
"#;

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

const FISH: &str = r#"# magpkg shell (fish): read after the user's config; marks the prompt.
if functions -q fish_prompt
    functions -c fish_prompt __magpkg_fish_prompt
    function fish_prompt
        printf '(magpkg:%s) ' $MAGPKG_ENV
        __magpkg_fish_prompt
    end
end
"#;

const SHRC: &str = r#"# magpkg shell (sh): the user's $ENV file, then the environment's prompt and shellHook.
if [ -n "${MAGPKG_SH_ENV+x}" ]; then ENV=$MAGPKG_SH_ENV; unset MAGPKG_SH_ENV; [ -f "$ENV" ] && . "$ENV"; else unset ENV; fi
PS1="(magpkg:${MAGPKG_ENV-}) ${PS1-\$ }"
"#;

/// The startup files for a shellHook: (file name, content).
fn files(hook: Option<&str>) -> Vec<(&'static str, String)> {
    let posix_hook = hook
        .map(|h| format!("# shellHook from the manifest\n{h}\n"))
        .unwrap_or_default();
    // fish cannot source POSIX sh: the hook runs in sh, so its output shows
    // but the variables it sets do not reach fish (doc/manifest.md says so).
    let fish_hook = hook
        .map(|h| format!("# shellHook from the manifest, in sh\nsh -c {}\n", quote::fish(h)))
        .unwrap_or_default();
    vec![
        ("bashrc", format!("{BASHRC}{posix_hook}")),
        ("zsh/.zshenv", ZSHENV.to_string()),
        ("zsh/.zshrc", format!("{ZSHRC}{posix_hook}")),
        ("config.fish", format!("{FISH}{fish_hook}")),
        ("shrc", format!("{SHRC}{posix_hook}")),
    ]
}

/// Write (once) the startup files for `hook` under `state_dir` and return
/// how to launch `program` with them.
pub fn prepare(state_dir: &Path, program: &Path, hook: Option<&str>) -> Result<Launch, ShellError> {
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
            crate::util::write_atomic(&path, text.as_bytes()).map_err(|source| ShellError::Io {
                path: path.clone(),
                source,
            })?;
        }
    }
    let mut launch = Launch {
        dir: dir.clone(),
        ..Default::default()
    };
    match Kind::of(program) {
        Kind::Bash => {
            launch.args = vec!["--rcfile".into(), dir.join("bashrc").into()];
        }
        Kind::Zsh => {
            if let Some(orig) = std::env::var_os("ZDOTDIR") {
                launch.env.push(("MAGPKG_ZDOTDIR".into(), orig));
            }
            launch.env.push(("ZDOTDIR".into(), dir.join("zsh").into()));
        }
        Kind::Fish => {
            let file = dir.join("config.fish");
            launch.args = vec![
                "--init-command".into(),
                format!("source {}", quote::fish(&file.to_string_lossy())).into(),
            ];
        }
        Kind::Posix => {
            if let Some(orig) = std::env::var_os("ENV") {
                launch.env.push(("MAGPKG_SH_ENV".into(), orig));
            }
            launch.env.push(("ENV".into(), dir.join("shrc").into()));
        }
    }
    Ok(launch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_once_per_hook_and_parse() {
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
        for (shell, file) in [
            ("bash", "bashrc"),
            ("zsh", "zsh/.zshrc"),
            ("zsh", "zsh/.zshenv"),
            ("sh", "shrc"),
        ] {
            let st = std::process::Command::new(shell)
                .args(["-n", &a.dir.join(file).to_string_lossy()])
                .status()
                .unwrap();
            assert!(st.success(), "{shell} -n {file}");
        }
        if which::which("fish").is_ok() {
            let st = std::process::Command::new("fish")
                .args(["--no-execute", &a.dir.join("config.fish").to_string_lossy()])
                .status()
                .unwrap();
            assert!(st.success(), "fish --no-execute config.fish");
        }
    }

    #[test]
    fn kinds_by_name() {
        assert_eq!(Kind::of(Path::new("/usr/bin/bash")), Kind::Bash);
        assert_eq!(Kind::of(Path::new("zsh")), Kind::Zsh);
        assert_eq!(Kind::of(Path::new("/usr/bin/fish")), Kind::Fish);
        assert_eq!(Kind::of(Path::new("/bin/dash")), Kind::Posix);
    }
}
