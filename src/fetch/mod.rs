//! Getting sources: the content-addressed source cache, HTTP with mirrors, BitTorrent (librqbit) fetch and seeding.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Other(String),
}

impl Classify for FetchError {
    fn is_user_error(&self) -> bool {
        false
    }
}
