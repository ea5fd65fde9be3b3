//! Automatic activation on cd: the shell hooks, the reversible environment diff, trust.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{0}")]
    Other(String),
}

impl Classify for HookError {
    fn is_user_error(&self) -> bool {
        false
    }
}
