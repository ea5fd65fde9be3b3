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
    /// Lowercase hex sha256 of the content; for a symbolic link, `link:`
    /// and the sha256 of its target text ([`digest`]).
    pub sha256: String,
}

/// How a symbolic link's stamp starts.
const LINK: &str = "link:";

impl FileStamp {
    /// A symbolic link (what it points to is a stamp of its own).
    pub fn is_link(&self) -> bool {
        self.sha256.starts_with(LINK)
    }
}

/// What `path` holds now, as a [`FileStamp::sha256`]: the content's sha256,
/// or for a symbolic link (not followed) `link:` and the sha256 of the text
/// it points to, so retargeting a link changes its stamp even when both
/// targets have the same content.
pub fn digest(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        let target = std::fs::read_link(path)?;
        let h = sha2::Sha256::digest(target.as_os_str().as_encoded_bytes());
        return Ok(format!("{LINK}{}", hex::encode(h)));
    }
    crate::util::sha256_file(path)
}

/// Stamps of everything an evaluation depended on: every file it `read`
/// (canonical paths), and for every path an import `named`, each symbolic
/// link met while resolving it (a link to a link, a linked directory on
/// the way) and the file it leads to. Sorted by path, each path once.
pub fn dependencies(read: &[PathBuf], named: &[PathBuf]) -> Result<Vec<FileStamp>, (PathBuf, std::io::Error)> {
    let mut paths = std::collections::BTreeSet::new();
    for p in read {
        paths.insert(p.clone());
    }
    for n in named {
        let (links, target) = resolve_links(n).map_err(|e| (n.clone(), e))?;
        paths.extend(links);
        paths.insert(target);
    }
    paths
        .into_iter()
        .map(|path| match digest(&path) {
            Ok(sha256) => Ok(FileStamp { path, sha256 }),
            Err(e) => Err((path, e)),
        })
        .collect()
}

/// Resolve `path` (absolute) as the kernel does, one component at a time:
/// the symbolic links met on the way (each by the path it was found at)
/// and the physical path reached.
fn resolve_links(path: &Path) -> std::io::Result<(Vec<PathBuf>, PathBuf)> {
    use std::collections::VecDeque;
    use std::path::Component;
    // Linux's limit on links followed in one lookup.
    const MAX_LINKS: usize = 40;
    let owned = |c: Component| c.as_os_str().to_os_string();
    let mut rest: VecDeque<std::ffi::OsString> = path.components().map(owned).collect();
    let mut at = PathBuf::from("/");
    let mut links = Vec::new();
    while let Some(c) = rest.pop_front() {
        match Path::new(&c).components().next() {
            Some(Component::RootDir) => at = PathBuf::from("/"),
            Some(Component::ParentDir) => {
                at.pop();
            }
            Some(Component::Normal(name)) => {
                let next = at.join(name);
                if std::fs::symlink_metadata(&next)?.file_type().is_symlink() {
                    if links.len() == MAX_LINKS {
                        return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    let target = std::fs::read_link(&next)?;
                    links.push(next);
                    for t in target.components().rev() {
                        rest.push_front(owned(t));
                    }
                } else {
                    at = next;
                }
            }
            _ => {}
        }
    }
    Ok((links, at))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn every_link_on_the_way_is_a_dependency() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("conf-a")).unwrap();
        std::fs::write(d.join("conf-a/real.libsonnet"), "{}").unwrap();
        symlink("real.libsonnet", d.join("conf-a/x.libsonnet")).unwrap();
        symlink("conf-a", d.join("conf")).unwrap();
        symlink("./conf/../conf/x.libsonnet", d.join("top.libsonnet")).unwrap();
        let got = dependencies(&[d.join("conf-a/real.libsonnet")], &[d.join("top.libsonnet")]).unwrap();
        let paths: Vec<_> = got
            .iter()
            .map(|f| f.path.strip_prefix(&d).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            paths,
            ["conf", "conf-a/real.libsonnet", "conf-a/x.libsonnet", "top.libsonnet"].map(PathBuf::from)
        );
        let links: Vec<bool> = got.iter().map(FileStamp::is_link).collect();
        assert_eq!(links, [true, false, true, true]);
        assert_eq!(
            got[1].sha256,
            crate::util::sha256_file(&d.join("conf-a/real.libsonnet")).unwrap()
        );

        // Retargeting a link to a file of the same content changes its stamp.
        std::fs::create_dir_all(d.join("conf-b")).unwrap();
        std::fs::copy(d.join("conf-a/real.libsonnet"), d.join("conf-b/x.libsonnet")).unwrap();
        let before = digest(&d.join("conf")).unwrap();
        std::fs::remove_file(d.join("conf")).unwrap();
        symlink("conf-b", d.join("conf")).unwrap();
        assert_ne!(digest(&d.join("conf")).unwrap(), before);

        // A loop is an error, not a hang.
        symlink("loop", d.join("loop")).unwrap();
        assert!(dependencies(&[], &[d.join("loop")]).is_err());
    }
}
