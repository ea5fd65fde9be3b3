//! The state a realised project environment leaves for the shell hook.
//!
//! `env` (realisation) writes one [`ProjectState`] per project; the hook's
//! fast path (`magpkg hook-env`) reads it without evaluating any Jsonnet, and
//! applies it only while every watched file still has the recorded content.
//! `magpkg shell`, `magpkg run` and `magpkg env --id` use the same file as
//! their cache, which is why it also carries the manifest's shell settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file the environment depends on, with its content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: PathBuf,
    /// Lowercase hex sha256 of the content.
    pub sha256: String,
}

/// What activating a project's environment means, precomputed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Display name of the environment (manifest `name`, else the root's
    /// directory name); also in `set` as `MAGPKG_ENV`.
    #[serde(default)]
    pub name: String,
    /// What the evaluation depended on besides `files`: the magpkg binary
    /// (whose embedded package tree may differ between versions) and the
    /// package tree setting. The state is stale when this differs from
    /// [`crate::env::evaluation_key`].
    #[serde(default)]
    pub tree: String,
    /// The manifest's `shellHook` (POSIX sh), run by interactive `magpkg shell`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell_hook: Option<String>,
    /// The manifest's `scripts`: name → POSIX sh script.
    #[serde(default)]
    pub scripts: BTreeMap<String, String>,
    /// The manifest's `pure` settings, paths resolved.
    #[serde(default)]
    pub pure: PureConfig,
}

/// What a `--pure` container lets through from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PureConfig {
    /// Host paths visible in the container.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Host variables passed through.
    #[serde(default)]
    pub keep_env: Vec<String>,
}

/// One host path bound into a `--pure` container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Absolute host path.
    pub src: PathBuf,
    /// Absolute path inside the container.
    pub dst: PathBuf,
    /// Writable (default: read-only).
    #[serde(default)]
    pub rw: bool,
}

/// Where the state of the project at `root` is kept: under the user's state
/// dir, keyed by a hash of the canonical project path.
pub fn project_state_path(state_dir: &Path, root: &Path) -> PathBuf {
    state_dir
        .join("projects-v1")
        .join(format!("{}.json", project_key(root)))
}

/// Short stable key of a project path (state file and GC root names).
pub fn project_key(root: &Path) -> String {
    let key = crate::hash::digest("magpkg-project-path-v1", root.as_os_str().as_encoded_bytes());
    key[..32].to_string()
}
