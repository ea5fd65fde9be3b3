//! `magpkg shell` and `magpkg run`: entering a project environment,
//! interactively or for one command.
//!
//! The environment comes from a realised [`ProjectState`]; this module only
//! turns it into a process: variables applied on top of the caller's
//! environment (or, with `--pure`, on an empty one inside a bubblewrap
//! container that shows only the environment's packages and the project),
//! then `exec`, so the command's exit status and signals are its own.

pub mod pure;
pub mod rc;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::diff::{Env, EnvDiff, Val, DIFF_VAR};
use crate::env::state::ProjectState;
use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{program}: command not found in the environment")]
    CommandNotFound { program: String, pure: bool },
    #[error("cannot run {program}")]
    Exec {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--pure needs bwrap (bubblewrap), which is not on PATH")]
    NoBwrap,
    #[error("the environment has no shell to run in --pure mode (looked for {wanted} in {profile}/bin)")]
    NoShellInEnv { wanted: String, profile: PathBuf },
    #[error("no script `{name}` in {manifest}")]
    UnknownScript {
        name: String,
        manifest: PathBuf,
        suggestion: Option<String>,
        available: Vec<String>,
    },
    #[error("environment record {path} is missing or corrupt")]
    BadRecord { path: PathBuf },
    /// A file operation failed; the error (from `fs_err`, or util's
    /// writers) names the operation and the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Classify for SessionError {
    fn is_user_error(&self) -> bool {
        match self {
            SessionError::CommandNotFound { .. }
            | SessionError::NoShellInEnv { .. }
            | SessionError::UnknownScript { .. } => true,
            SessionError::Exec { source, .. } => source.kind() == std::io::ErrorKind::PermissionDenied,
            _ => false,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            SessionError::CommandNotFound { pure: true, .. } => Some(
                "--pure hides the host's tools: add a package that provides it, or list a host directory in `pure.mounts`"
                    .into(),
            ),
            SessionError::CommandNotFound { pure: false, .. } => {
                Some("add a package that provides it to `packages` in magnet.jsonnet".into())
            }
            SessionError::NoBwrap => Some("install bubblewrap (Debian: apt-get install bubblewrap)".into()),
            SessionError::NoShellInEnv { .. } => {
                Some("add a shell (e.g. pkgs.bash or pkgs.busybox) to `packages`, or leave out --pure".into())
            }
            SessionError::UnknownScript {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            SessionError::UnknownScript { available, .. } if available.is_empty() => {
                Some("the manifest has no `scripts`".into())
            }
            SessionError::UnknownScript { available, .. } => Some(format!("the scripts are: {}", available.join(", "))),
            SessionError::BadRecord { .. } => Some("run `magpkg env` to realise the environment again".into()),
            _ => None,
        }
    }
}

impl SessionError {
    /// The exit status a shell would give: 127 for a command that is not
    /// found, 126 for one that cannot be executed.
    pub fn exit_code(&self) -> i32 {
        match self {
            SessionError::CommandNotFound { .. } => 127,
            SessionError::Exec { .. } if self.is_user_error() => 126,
            _ if self.is_user_error() => crate::error::EXIT_USER,
            _ => crate::error::EXIT_INTERNAL,
        }
    }
}

/// An environment to enter.
#[derive(Debug, Clone)]
pub struct Session<'a> {
    pub state: &'a ProjectState,
    /// Run inside a bubblewrap container with only the environment visible.
    pub pure: bool,
    /// Where startup files for interactive shells are kept.
    pub state_dir: &'a Path,
    /// Working directory of the command.
    pub cwd: PathBuf,
}

/// Variables a `--pure` container gets from the host besides `keepEnv`.
const PURE_KEEP: &[&str] = &["TERM", "HOME"];

/// The variables of a process in the environment: `host` with the state
/// applied ([`ProjectState::apply`], the same rule the hook and `magpkg env`
/// follow); with `pure`, only the few of `host` a container keeps
/// ([`ProjectState::apply_pure`]).
pub fn environment(
    state: &ProjectState,
    host: impl IntoIterator<Item = (OsString, OsString)>,
    pure: bool,
) -> BTreeMap<OsString, OsString> {
    let mut out = BTreeMap::new();
    let mut env = Env::new();
    for (k, v) in host {
        match k.into_string() {
            Ok(k) => {
                env.insert(k, Val(v.into_encoded_bytes()));
            }
            // A name that is not UTF-8 is no environment's business: it
            // passes through untouched (a container drops it).
            Err(k) if !pure => {
                out.insert(k, v);
            }
            Err(_) => {}
        }
    }
    // Started inside a shell where the hook activated a project: what that
    // activation changed is undone first, so this session's diff records
    // the environment from before any project, and leaving the project in
    // here restores that, not the outer project's variables.
    if let Some(active) = env.remove(DIFF_VAR).and_then(|v| EnvDiff::decode(&v.0)) {
        for (k, v) in active.revert(&env) {
            match v {
                Some(v) => env.insert(k, v),
                None => env.remove(&k),
            };
        }
    }
    let applied = if pure {
        let keep: Vec<&str> = PURE_KEEP
            .iter()
            .copied()
            .chain(state.pure.keep_env.iter().map(String::as_str))
            .collect();
        env.retain(|k, _| keep.contains(&k.as_str()));
        let mut applied = state.apply_pure(&env);
        applied.insert("MAGPKG_PURE".into(), Val::text("1"));
        applied
    } else {
        let mut applied = state.apply(&env);
        // What the shell hook would record had it activated this
        // environment: a hook installed in the user's rc file then sees the
        // project as already active inside `magpkg shell` instead of
        // applying it twice.
        applied.insert(DIFF_VAR.into(), Val::text(&EnvDiff::activate(state, &env).encode()));
        applied
    };
    out.extend(
        applied
            .into_iter()
            .map(|(k, v)| (OsString::from(k), std::os::unix::ffi::OsStringExt::from_vec(v.0))),
    );
    out
}

/// Find `program` the way `execvp` would, in the `PATH` of `env`.
fn which_in(program: &OsStr, env: &BTreeMap<OsString, OsString>) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 || program.as_encoded_bytes().contains(&b'/') {
        return Some(p.to_path_buf());
    }
    let path = env.get(OsStr::new("PATH"))?;
    std::env::split_paths(path)
        .map(|d| d.join(p))
        .find(|c| is_executable(c))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Replace this process with `argv` in the environment. Returns only on
/// failure.
pub fn exec(session: &Session, argv: &[OsString]) -> SessionError {
    exec_with(session, argv, &[], None)
}

fn exec_with(
    session: &Session,
    argv: &[OsString],
    extra_env: &[(OsString, OsString)],
    rc_dir: Option<&Path>,
) -> SessionError {
    let Some((program, args)) = argv.split_first() else {
        return SessionError::CommandNotFound {
            program: String::new(),
            pure: session.pure,
        };
    };
    let mut env = environment(session.state, std::env::vars_os(), session.pure);
    env.extend(extra_env.iter().cloned());
    let Some(resolved) = which_in(program, &env) else {
        return SessionError::CommandNotFound {
            program: program.to_string_lossy().into_owned(),
            pure: session.pure,
        };
    };
    let err = if session.pure {
        let bwrap = match which::which("bwrap") {
            Ok(b) => b,
            Err(_) => return SessionError::NoBwrap,
        };
        let bargs = match pure::bwrap_args(session, &env, rc_dir, argv) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let mut cmd = Command::new(bwrap);
        cmd.args(bargs).env_clear();
        // SAFETY: close_fds_from makes only async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(|| crate::util::close_fds_from(3));
        }
        cmd.exec()
    } else {
        Command::new(&resolved)
            .arg0(program)
            .args(args)
            .env_clear()
            .envs(&env)
            .current_dir(&session.cwd)
            .exec()
    };
    if err.kind() == std::io::ErrorKind::NotFound {
        // The file exists (found above): its interpreter does not.
        return SessionError::Exec {
            program: resolved.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "its interpreter (#! line) or loader was not found",
            ),
        };
    }
    SessionError::Exec {
        program: resolved.display().to_string(),
        source: err,
    }
}

/// Replace this process with an interactive shell in the environment: the
/// user's `$SHELL` (with `--pure`, the environment's shell of that name, or
/// its bash, zsh, fish or sh), with the prompt marked and the shellHook run.
pub fn interactive(session: &Session) -> SessionError {
    let user_shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/sh"));
    let program = if session.pure {
        let profile_bin = session.state.profile.join("bin");
        let mut wanted: Vec<String> = Vec::new();
        if let Some(n) = user_shell.file_name() {
            wanted.push(n.to_string_lossy().into_owned());
        }
        for n in ["bash", "zsh", "fish", "sh"] {
            if !wanted.iter().any(|w| w == n) {
                wanted.push(n.into());
            }
        }
        match wanted.iter().map(|n| profile_bin.join(n)).find(|p| p.exists()) {
            Some(p) => p,
            None => {
                return SessionError::NoShellInEnv {
                    wanted: wanted.join(", "),
                    profile: session.state.profile.clone(),
                }
            }
        }
    } else {
        user_shell
    };
    let launch = match rc::prepare(session.state_dir, &program, session.state.shell_hook.as_deref()) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let mut argv: Vec<OsString> = vec![program.clone().into_os_string()];
    argv.extend(launch.args.iter().cloned());
    let mut extra = launch.env.clone();
    extra.push(("SHELL".into(), program.into_os_string()));
    exec_with(session, &argv, &extra, Some(&launch.dir))
}

/// Replace this process with script `name` of the manifest, run by `sh -c`
/// in the project root with `args` as `$1...`.
pub fn script(session: &Session, name: &str, args: &[OsString]) -> SessionError {
    let Some(body) = session.state.scripts.get(name) else {
        let available: Vec<String> = session.state.scripts.keys().cloned().collect();
        return SessionError::UnknownScript {
            name: name.to_string(),
            manifest: session.state.manifest.clone(),
            suggestion: crate::util::closest(name, available.iter().map(String::as_str)),
            available,
        };
    };
    let mut argv: Vec<OsString> = vec!["sh".into(), "-c".into(), body.into(), name.into()];
    argv.extend(args.iter().cloned());
    let s = Session {
        cwd: session.state.root.clone(),
        ..session.clone()
    };
    exec(&s, &argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ProjectState {
        let mut st = ProjectState::default();
        st.prepend
            .insert("PATH".into(), vec!["/p/scripts".into(), "/env/bin".into()]);
        st.prepend.insert("MANPATH".into(), vec!["/env/share/man".into()]);
        st.set.insert("GREETING".into(), "hi there".into());
        st.pure.keep_env = vec!["SSH_AUTH_SOCK".into()];
        st
    }

    fn host(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn prepends_without_duplicates_and_sets() {
        let env = environment(
            &state(),
            host(&[("PATH", "/env/bin:/usr/bin:/bin"), ("GREETING", "old"), ("OTHER", "x")]),
            false,
        );
        assert_eq!(env[OsStr::new("PATH")], "/p/scripts:/env/bin:/usr/bin:/bin");
        assert_eq!(
            env[OsStr::new("MANPATH")],
            "/env/share/man:",
            "default man pages stay reachable"
        );
        assert_eq!(env[OsStr::new("GREETING")], "hi there");
        assert_eq!(env[OsStr::new("OTHER")], "x");
    }

    #[test]
    fn pure_keeps_only_what_it_is_told() {
        let env = environment(
            &state(),
            host(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/home/me"),
                ("SSH_AUTH_SOCK", "/s"),
                ("EDITOR", "vi"),
            ]),
            true,
        );
        assert_eq!(env[OsStr::new("PATH")], "/p/scripts:/env/bin", "no host PATH");
        assert_eq!(env[OsStr::new("MANPATH")], "/env/share/man");
        assert_eq!(env[OsStr::new("SSH_AUTH_SOCK")], "/s");
        assert_eq!(env[OsStr::new("HOME")], "/home/me");
        assert_eq!(env[OsStr::new("MAGPKG_PURE")], "1");
        assert!(!env.contains_key(OsStr::new("EDITOR")));
    }

    #[test]
    fn unknown_script_suggests() {
        let mut st = state();
        st.scripts.insert("test".into(), "true".into());
        let t = tempfile::tempdir().unwrap();
        let s = Session {
            state: &st,
            pure: false,
            state_dir: t.path(),
            cwd: t.path().into(),
        };
        let e = script(&s, "tset", &[]);
        assert_eq!(e.hint().as_deref(), Some("did you mean `test`?"));
        assert_eq!(e.exit_code(), 1);
    }
}
