//! Printing an error report and choosing the exit code: the CLI is the only
//! layer that knows every stage's error type, so the list of them lives here
//! (a stage importing this list would import every other stage).

use std::io::Write;

use crate::error::{Classify, UserError, EXIT_INTERNAL, EXIT_USER};

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
        crate::cache::CacheError,
        crate::build::BuildError,
        crate::store::StoreError,
        crate::settings::SettingsError,
        crate::env::EnvError,
        crate::session::SessionError,
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
