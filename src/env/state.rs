//! The state a realised project environment leaves for the shell hook.
//!
//! `env` (realisation) writes one [`ProjectState`] per project; the hook's
//! fast path (`magpkg hook-env`) reads it without evaluating any Jsonnet, and
//! applies it only while every watched file still has the recorded content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file the environment depends on, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: PathBuf,
    /// Lowercase hex sha256 of the content.
    pub sha256: String,
}

/// What activating a project's environment means, precomputed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectState {
    /// Project root (directory holding `magnet.jsonnet`), canonical path.
    pub root: PathBuf,
    /// The manifest file.
    pub manifest: PathBuf,
    /// The manifest and every local file it imports, with content hashes.
    pub files: Vec<FileStamp>,
    /// The environment id.
    pub env_id: String,
    /// The realised profile directory in the store.
    pub profile: PathBuf,
    /// Variables set to a value on activation.
    pub set: BTreeMap<String, String>,
    /// Path-like variables (`PATH`, `MANPATH`, ...) → directories prepended
    /// on activation (first = highest priority). On deactivation exactly
    /// these entries are removed again, so the user's own edits survive.
    pub prepend: BTreeMap<String, Vec<String>>,
    /// Package names and ids in the environment (for "what changed" messages).
    pub packages: BTreeMap<String, String>,
}

/// Where the state of the project at `root` is kept: under the user's state
/// dir, keyed by a hash of the canonical project path.
pub fn project_state_path(state_dir: &Path, root: &Path) -> PathBuf {
    let key = crate::hash::digest("magpkg-project-path-v1", root.as_os_str().as_encoded_bytes());
    state_dir.join("projects-v1").join(format!("{}.json", &key[..32]))
}
