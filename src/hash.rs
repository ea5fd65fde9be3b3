//! Canonical encoding of package definitions and their BLAKE3 ids.
//!
//! The encoding is versioned; golden-digest tests pin it so an id never
//! changes by accident.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot encode {what}: {problem}")]
    Encode { what: String, problem: String },
}

impl Classify for HashError {
    fn is_user_error(&self) -> bool {
        true
    }
}

/// Canonical JSON bytes: sorted keys, no whitespace, numbers as written by
/// serde_json. Shared by package ids, environment ids and OCI digests.
pub fn canonical_json(v: &serde_json::Value) -> Vec<u8> {
    let _ = v;
    todo!("hash::canonical_json")
}

/// BLAKE3 of `bytes` under a domain tag (e.g. `magpkg-package-v1`), hex.
pub fn digest(domain: &str, bytes: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(domain.as_bytes());
    h.update(b"\0");
    h.update(bytes);
    h.finalize().to_hex().to_string()
}
