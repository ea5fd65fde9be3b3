//! `magpkg shell` and `magpkg run`: entering a project environment, interactively or for one command.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("{0}")]
    Other(String),
}

impl Classify for ShellError {
    fn is_user_error(&self) -> bool {
        false
    }
}
