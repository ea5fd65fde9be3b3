//! Building packages from source in a bubblewrap sandbox, and the builtins (unpacking) that need no sandbox.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Other(String),
}

impl Classify for BuildError {
    fn is_user_error(&self) -> bool {
        false
    }
}
