//! Exit codes and the classification of errors into "the user's input is
//! wrong" and "magpkg (or the machine) failed".
//!
//! Library modules return their own `thiserror` enums implementing
//! [`Classify`]; the CLI wraps them in `anyhow`. This module is a leaf: it
//! knows no stage. The CLI (`cli::report`), the top of the pipeline, holds
//! the list of stage errors it walks to pick the exit code and print
//! `error:` / `Caused by:` / `hint:` lines.

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

/// An error and its causes on one line (`a: b: c`), a cause left out when
/// the text before already says it (reqwest's and io's messages repeat).
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
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
