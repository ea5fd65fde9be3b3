//! OCI image and plain tarball export of packages and environments.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{0}")]
    Other(String),
}

impl Classify for OciError {
    fn is_user_error(&self) -> bool {
        false
    }
}
