//! Finding the project a directory belongs to: the nearest `magnet.jsonnet`
//! at or above it.

use std::path::{Path, PathBuf};

use super::EnvError;

/// The manifest's file name.
pub const MANIFEST: &str = "magnet.jsonnet";
/// The lock file's name, beside the manifest.
pub const LOCK: &str = "magnet.lock";
/// Per-project directory magpkg writes (not to be committed).
pub const LOCAL_DIR: &str = ".magpkg";

/// A project: a directory holding a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Canonical path of the directory holding the manifest.
    pub root: PathBuf,
    /// `root/magnet.jsonnet`.
    pub manifest: PathBuf,
}

impl Project {
    /// A project rooted at `root` (which must be canonical).
    pub fn at(root: PathBuf) -> Project {
        let manifest = root.join(MANIFEST);
        Project { root, manifest }
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK)
    }

    /// The root's directory name, the default display name of the environment.
    pub fn dir_name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into())
    }
}

/// The project whose manifest is in `start` or the nearest directory above it.
pub fn find_project(start: &Path) -> Result<Project, EnvError> {
    let canon = std::fs::canonicalize(start).map_err(|source| EnvError::Io {
        action: "open directory",
        path: start.to_path_buf(),
        source,
    })?;
    for dir in canon.ancestors() {
        if dir.join(MANIFEST).is_file() {
            return Ok(Project::at(dir.to_path_buf()));
        }
    }
    Err(EnvError::NoManifest { start: canon })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nearest_manifest_upward() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join(MANIFEST), "{}").unwrap();
        std::fs::write(root.join("a/b").join(MANIFEST), "{}").unwrap();
        assert_eq!(find_project(&root.join("a/b/c")).unwrap().root, root.join("a/b"));
        assert_eq!(find_project(&root.join("a")).unwrap().root, root);
        let p = find_project(&root).unwrap();
        assert_eq!(p.manifest, root.join(MANIFEST));
        assert_eq!(p.lock_path(), root.join(LOCK));
    }

    #[test]
    fn no_manifest_is_a_user_error_naming_the_start() {
        let t = tempfile::tempdir().unwrap();
        let err = find_project(t.path()).unwrap_err();
        assert!(matches!(err, EnvError::NoManifest { .. }), "{err}");
        assert!(crate::error::Classify::is_user_error(&err));
        assert!(err.to_string().contains("magnet.jsonnet"));
    }
}
