//! Binary substitutes: signed store entries kept in plain files (a
//! directory, a directory served over HTTP, an S3 bucket), so a machine
//! can take a package another machine built instead of building it again.
//!
//! The format (`magpkg-cache-v1`, see `doc/binary-cache.md`) is one signed
//! [`record`] and one deterministic [`archive`] per package id, plus an
//! [`record::Index`] that answers "which of these ids do you have" in one
//! request. The same files serve three users: this module's
//! [`substitute`] (before a build), a BitTorrent swarm of the same archives
//! (the record names the archive's info-hash; [`seedable`] packs store
//! entries for `magpkg seed`) and remote builders.
//!
//! Nothing a cache says is believed on its word. A record counts only with
//! signatures of trusted keys ([`sign`]), a quorum of distinct keys must
//! agree on the content digest ([`substitute::decide`]), and the unpacked
//! tree must have that digest before the store's normal atomic add commits
//! it. A cache that fails any check is named in a warning and skipped for
//! that package; the build falls through to the next cache or to a source
//! build.

pub mod archive;
mod challenge;
mod push;
pub mod record;
mod remote;
mod s3;
pub mod seedable;
pub mod sign;
pub mod substitute;

use std::path::PathBuf;

pub use challenge::{challenge, Challenge, RemoteClaim};
pub use push::{push, PushItem, PushReport};
pub use substitute::{substitute, SubstituteReport};

use crate::error::Classify;
use crate::store::StoreError;

/// The format's name: the directory every cache keeps its files under,
/// and the value of every record's and index's `format` field.
pub const FORMAT: &str = "magpkg-cache-v1";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("`{url}` is not a binary cache location (file://DIR, http(s)://HOST/PATH or s3://BUCKET/PREFIX)")]
    BadUrl { url: String },
    #[error("cannot push to {url}: HTTP caches are read-only")]
    ReadOnly { url: String },
    #[error("binary cache {url}: {message}")]
    Remote { url: String, message: String },
    #[error("binary cache {url}: its index is not a {FORMAT} index: {message}")]
    BadIndex { url: String, message: String },
    #[error("{what}: `{text}` is not a key (expected NAME:BASE64)")]
    BadKey { what: String, text: String },
    #[error("key name `{name}` is not valid (letters, digits, `.`, `_` and `-` only)")]
    BadKeyName { name: String },
    #[error("no secret key `{name}` ({path})")]
    NoKey { name: String, path: PathBuf },
    #[error("the key `{name}` already exists ({path})")]
    KeyExists { name: String, path: PathBuf },
    #[error("no signing key: `magpkg cache push` signs every record it uploads")]
    NoSigningKey,
    #[error("not in any binary cache, and --substitute-only forbids building: {}", names.join(", "))]
    NotSubstituted { names: Vec<String> },
    #[error("cannot pack {name} ({path}) into an archive")]
    Pack {
        name: String,
        path: PathBuf,
        #[source]
        source: archive::ArchiveError,
    },
    #[error("cannot start the async runtime: {message}")]
    Runtime { message: String },
    /// A file operation failed; the error (from `fs_err`) names the
    /// operation and the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for CacheError {
    fn is_user_error(&self) -> bool {
        match self {
            CacheError::Pack { .. } | CacheError::Runtime { .. } | CacheError::Io(_) => false,
            CacheError::Store(e) => e.is_user_error(),
            _ => true,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            CacheError::BadUrl { .. } => Some("e.g. file:///srv/cache, https://cache.example.org, s3://bucket/magpkg".into()),
            CacheError::ReadOnly { .. } => Some("push to the directory or bucket the HTTP server serves".into()),
            CacheError::Remote { .. } => Some("check the URL and that the server is up; AWS_* variables give S3 credentials and AWS_ENDPOINT_URL the endpoint".into()),
            CacheError::BadKey { .. } => Some("`magpkg key public NAME` prints a public key in the right form".into()),
            CacheError::NoKey { .. } => Some("create it with `magpkg key generate NAME`".into()),
            CacheError::KeyExists { .. } => Some("pick another name, or remove the old key files if it is really unused".into()),
            CacheError::NoSigningKey => Some("create a key with `magpkg key generate NAME`, then pass --key NAME or set signingKey (MAGPKG_SIGNING_KEY)".into()),
            CacheError::NotSubstituted { .. } => Some("check `substituters` and `trustedKeys`, the warnings above, or build without --substitute-only".into()),
            CacheError::Store(e) => e.hint(),
            _ => None,
        }
    }
}

/// Run a future on a fresh single-thread runtime. A cache's work is
/// waiting on sockets and files (unpacking runs in `spawn_blocking`), so one
/// thread drives every transfer, and the futures need not be `Send`.
fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, CacheError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(CacheError::Runtime {
            message: "called from inside an async runtime".into(),
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CacheError::Runtime { message: e.to_string() })?;
    let out = rt.block_on(fut);
    rt.shutdown_background();
    Ok(out)
}

/// The short form of an id used in messages.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
