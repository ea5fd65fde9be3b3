//! Portable apps (the mpkg format): app directories, MPKG and .mpkg files, variants, launchers.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Other(String),
}

impl Classify for AppError {
    fn is_user_error(&self) -> bool {
        false
    }
}
