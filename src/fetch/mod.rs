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

use std::path::PathBuf;

use crate::eval::Source;
use crate::settings::Settings;
use crate::store::Store;

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Show progress bars (on a terminal).
    pub progress: bool,
}

/// One source that was downloaded.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub source: Source,
    /// Its path in the store's source cache.
    pub path: PathBuf,
    /// The URL (or peer) it came from.
    pub origin: String,
    pub bytes: u64,
}

/// What [`fetch`] did.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    pub fetched: Vec<Fetched>,
    /// Sources that were already in the cache.
    pub cached: Vec<Source>,
}

/// Make sure every source is in the store's source cache, downloading the
/// missing ones (in parallel, bounded by `settings.fetch_jobs`) from their
/// URLs in order until one verifies.
pub fn fetch(
    sources: &[Source],
    store: &Store,
    settings: &Settings,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    let _ = (sources, store, settings, opts);
    todo!("fetch::fetch")
}
