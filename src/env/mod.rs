//! Project environments: the magnet.jsonnet manifest, environment ids, realised profiles, the lock file.

pub mod state;

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{0}")]
    Other(String),
}

impl Classify for EnvError {
    fn is_user_error(&self) -> bool {
        false
    }
}
