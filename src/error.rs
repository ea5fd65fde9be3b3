//! Exit codes and the classification of errors into "the user's input is
//! wrong" and "magpkg (or the machine) failed".
//!
//! Library modules return their own `thiserror` enums; the CLI wraps them in
//! `anyhow`. Before exiting, [`classify`] walks the error chain and asks each
//! known module error whether it is a user error, and [`report`] prints
//! `error:` / `Caused by:` / `hint:` lines.

use std::io::Write;

/// Everything went fine.
pub const EXIT_OK: i32 = 0;
/// The user's input is wrong (bad Jsonnet, unknown package, hash mismatch of
/// a pinned source, failed build script, untrusted project...). Fixable by
/// the user.
pub const EXIT_USER: i32 = 1;
/// Command-line usage error (clap's own code).
pub const EXIT_USAGE: i32 = 2;
/// magpkg or the machine failed (I/O error in the store, a bug, a missing
/// system tool). Not the user's input.
pub const EXIT_INTERNAL: i32 = 70;

/// Implemented by every module error enum so the CLI can pick the exit code
/// and print a hint.
pub trait Classify {
    /// True when the error is caused by the user's input and the user can fix it.
    fn is_user_error(&self) -> bool;
    /// A suggestion for what to do next, printed as `hint:`.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// An error caused by the user's input that has no module error type of its
/// own (e.g. a CLI argument that names nothing).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: None,
        }
    }
    pub fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl Classify for UserError {
    fn is_user_error(&self) -> bool {
        true
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// A command that wants a specific exit code without printing an error
/// (e.g. `magpkg shell -- CMD` returning CMD's status).
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct ExitStatus(pub i32);

fn as_classify<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Classify> {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {
            $(if let Some(x) = e.downcast_ref::<$t>() { return Some(x); })*
        };
    }
    try_types!(
        UserError,
        crate::eval::EvalError,
        crate::hash::HashError,
        crate::plan::PlanError,
        crate::fetch::FetchError,
        crate::build::BuildError,
        crate::store::StoreError,
        crate::settings::SettingsError,
        crate::env::EnvError,
        crate::shell::ShellError,
        crate::hook::HookError,
        crate::app::AppError,
        crate::oci::OciError,
    );
    None
}

/// Is the error (or anything in its chain) a user error?
pub fn classify(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(c) = as_classify(cause) {
            return if c.is_user_error() { EXIT_USER } else { EXIT_INTERNAL };
        }
    }
    EXIT_INTERNAL
}

/// True if the error is a broken pipe (e.g. `magpkg eval | head`), which is
/// not an error at all.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Print an error with its causes and the first hint found in the chain.
pub fn report(err: &anyhow::Error) {
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    let _ = writeln!(out, "error: {err}");
    let mut hint = None;
    for (i, cause) in err.chain().enumerate() {
        if hint.is_none() {
            hint = as_classify(cause).and_then(|c| c.hint());
        }
        if i == 0 {
            continue;
        }
        let text = cause.to_string();
        // Wrappers often repeat their source's text; don't print it twice.
        if err.to_string().contains(&text) {
            continue;
        }
        let _ = writeln!(out, "  Caused by: {}", text.replace('\n', "\n    "));
    }
    if let Some(h) = hint {
        let _ = writeln!(out, "hint: {h}");
    }
}
