//! The trust store: which projects the hook may activate.
//!
//! One record per project under `<state>/trust-v1/`, named by a hash of the
//! project's canonical path, so a copied or moved project has no record. An
//! allowed record lists the manifest and every file it imports with their
//! sha256: trust holds only while every one still has that content. For
//! "what changed" messages it also keeps a summary (packages, variables) of
//! the environment that was last activated from trusted content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::HookError;
use crate::env::state::{FileStamp, ProjectState};

pub const TRUST_DIR: &str = "trust-v1";
const VERSION: u32 = 1;

/// Allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Allowed,
    Denied,
}

/// What an environment provides, for messages comparing two of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub env_id: String,
    /// The realised profile: a new one comes with every change of packages,
    /// so paths inside it are compared relative to it.
    #[serde(default)]
    pub profile: PathBuf,
    pub packages: BTreeMap<String, String>,
    pub set: BTreeMap<String, String>,
    pub prepend: BTreeMap<String, Vec<String>>,
}

impl Summary {
    pub fn of(state: &ProjectState) -> Summary {
        Summary {
            env_id: state.env_id.clone(),
            profile: state.profile.clone(),
            packages: state.packages.clone(),
            set: state.set.clone(),
            prepend: state.prepend.clone(),
        }
    }

    /// What changed from `self` to `new`: `packages +a -b ~c, variables +X
    /// -Y ~Z`, or `None` when nothing a user would see changed.
    pub fn changes_to(&self, new: &Summary) -> Option<String> {
        fn diff<V: PartialEq>(old: &BTreeMap<String, V>, new: &BTreeMap<String, V>) -> Vec<String> {
            let mut out = Vec::new();
            for (k, v) in new {
                match old.get(k) {
                    None => out.push(format!("+{k}")),
                    Some(o) if o != v => out.push(format!("~{k}")),
                    _ => {}
                }
            }
            out.extend(old.keys().filter(|k| !new.contains_key(*k)).map(|k| format!("-{k}")));
            out
        }
        let packages = diff(&self.packages, &new.packages);
        // Variables: set and prepended ones together, by name, with the
        // profile's path written as `$profile` (it moves with any package
        // change, which is already told); magpkg's own markers left out.
        let vars = |s: &Summary| -> BTreeMap<String, String> {
            let profile = s.profile.to_string_lossy();
            let rel = |v: &str| {
                if profile.is_empty() {
                    v.to_string()
                } else {
                    v.replace(profile.as_ref(), "$profile")
                }
            };
            let mut m: BTreeMap<String, String> = s
                .set
                .iter()
                .filter(|(k, _)| !k.starts_with("MAGPKG_"))
                .map(|(k, v)| (k.clone(), rel(v)))
                .collect();
            for (k, dirs) in &s.prepend {
                m.entry(k.clone())
                    .or_default()
                    .push_str(&format!("\0{}", rel(&dirs.join(":"))));
            }
            m
        };
        let vars = diff(&vars(self), &vars(new));
        let mut parts = Vec::new();
        if !packages.is_empty() {
            parts.push(format!("packages {}", packages.join(" ")));
        }
        if !vars.is_empty() {
            parts.push(format!("variables {}", vars.join(" ")));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// One project's trust record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustRecord {
    pub v: u32,
    /// The canonical project root the record is for.
    pub root: PathBuf,
    pub status: Status,
    /// Allowed: the manifest and every file it imports, with content hashes.
    pub files: Vec<FileStamp>,
    /// When `magpkg allow` / `deny` wrote it (seconds since the epoch).
    pub time: u64,
    /// The environment last activated from this trusted content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// The files (with their contents' hashes) of the environment realised
    /// from content trusted before this `magpkg allow`: while the newly
    /// trusted content is not built yet, the hook may keep that environment
    /// loaded (lorri's rule), and only that one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<FileStamp>,
}

impl TrustRecord {
    pub fn new(root: PathBuf, status: Status, files: Vec<FileStamp>) -> TrustRecord {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        TrustRecord {
            v: VERSION,
            root,
            status,
            files,
            time,
            summary: None,
            previous: Vec::new(),
        }
    }
}

/// Where the record of the project at canonical `root` lives.
pub fn record_path(state_dir: &Path, root: &Path) -> PathBuf {
    let key = crate::hash::digest("magpkg-trust-path-v1", root.as_os_str().as_encoded_bytes());
    state_dir.join(TRUST_DIR).join(format!("{}.json", &key[..32]))
}

/// The record of `root`, if any. A record for another path (a hash
/// collision, or a file copied by hand) or of another format counts as none.
pub fn read(state_dir: &Path, root: &Path) -> Result<Option<TrustRecord>, HookError> {
    let path = record_path(state_dir, root);
    let bytes = match fs_err::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let rec: TrustRecord = serde_json::from_slice(&bytes).map_err(|source| HookError::Corrupt {
        path: path.clone(),
        source,
    })?;
    Ok((rec.v == VERSION && rec.root == root).then_some(rec))
}

/// Write `rec` atomically.
pub fn write(state_dir: &Path, rec: &TrustRecord) -> Result<(), HookError> {
    let path = record_path(state_dir, &rec.root);
    let json = serde_json::to_vec_pretty(rec).expect("records serialise");
    Ok(crate::util::write_atomic(&path, &json)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(packages: &[(&str, &str)], set: &[(&str, &str)], path: &[&str]) -> Summary {
        Summary {
            env_id: "e".into(),
            profile: PathBuf::new(),
            packages: packages.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            set: set.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            prepend: [("PATH".to_string(), path.iter().map(|s| s.to_string()).collect())].into(),
        }
    }

    #[test]
    fn changes_name_packages_and_variables() {
        let old = summary(
            &[("hello", "1"), ("fd", "2"), ("rg", "3")],
            &[("A", "1"), ("B", "2")],
            &["/a"],
        );
        let new = summary(
            &[("hello", "1"), ("rg", "4"), ("jq", "5")],
            &[("A", "1"), ("C", "3")],
            &["/b"],
        );
        assert_eq!(
            old.changes_to(&new).unwrap(),
            "packages +jq ~rg -fd, variables +C ~PATH -B"
        );
        assert_eq!(old.changes_to(&old), None);
    }

    #[test]
    fn a_new_profile_path_alone_is_no_change_of_variables() {
        let mut old = summary(&[("hello", "1")], &[("MAGPKG_ENV_ID", "a")], &["/store/envs-v1/a/bin"]);
        old.profile = "/store/envs-v1/a".into();
        let mut new = summary(
            &[("hello", "1"), ("jq", "2")],
            &[("MAGPKG_ENV_ID", "b")],
            &["/store/envs-v1/b/bin"],
        );
        new.profile = "/store/envs-v1/b".into();
        assert_eq!(old.changes_to(&new).unwrap(), "packages +jq");
    }

    #[test]
    fn records_are_bound_to_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let rec = TrustRecord::new("/some/project".into(), Status::Allowed, vec![]);
        write(dir.path(), &rec).unwrap();
        assert_eq!(read(dir.path(), Path::new("/some/project")).unwrap(), Some(rec.clone()));
        assert_eq!(read(dir.path(), Path::new("/some/copy")).unwrap(), None);
        // A record copied by hand to another project's name is not trust.
        std::fs::copy(
            record_path(dir.path(), Path::new("/some/project")),
            record_path(dir.path(), Path::new("/some/copy")),
        )
        .unwrap();
        assert_eq!(read(dir.path(), Path::new("/some/copy")).unwrap(), None);
    }
}
