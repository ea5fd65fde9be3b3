//! Finding the project a directory belongs to: the nearest `magnet.jsonnet`
//! at or above it, either from the canonical path (the commands) or from
//! the path as the shell shows it (the hook, which must agree with the hook
//! scripts' own walk on symlinked paths).

use std::os::unix::ffi::OsStrExt;
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
    /// Canonical path of the directory holding the manifest: what the
    /// state, the trust record and the environment are keyed by.
    pub root: PathBuf,
    /// `found/magnet.jsonnet`.
    pub manifest: PathBuf,
    /// The directory as reached from where the search started, symlinks
    /// kept (for messages: the path the user knows); `root` when the search
    /// started from a canonical path.
    pub found: PathBuf,
}

impl Project {
    /// A project rooted at `root` (which must be canonical).
    pub fn at(root: PathBuf) -> Project {
        let manifest = root.join(MANIFEST);
        Project {
            found: root.clone(),
            root,
            manifest,
        }
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
    let canon = fs_err::canonicalize(start)?;
    for dir in canon.ancestors() {
        if dir.join(MANIFEST).is_file() {
            return Ok(Project::at(dir.to_path_buf()));
        }
    }
    Err(EnvError::NoManifest { start: canon })
}

/// The nearest directory at or above `start` (a path as the shell shows it)
/// holding a manifest. The walk drops one `/component` at a time, exactly as
/// the hooks do with `${dir%/*}`, so both agree on symlinked paths.
pub fn find_as_shell(start: &Path) -> Option<Project> {
    let mut dir = start.as_os_str().as_bytes().to_vec();
    loop {
        let mut candidate = dir.clone();
        candidate.extend_from_slice(b"/");
        candidate.extend_from_slice(MANIFEST.as_bytes());
        let candidate = PathBuf::from(std::ffi::OsStr::from_bytes(&candidate));
        if candidate.is_file() {
            let found = if dir.is_empty() {
                PathBuf::from("/")
            } else {
                PathBuf::from(std::ffi::OsStr::from_bytes(&dir))
            };
            let root = std::fs::canonicalize(&found).ok()?;
            return Some(Project {
                manifest: found.join(MANIFEST),
                found,
                root,
            });
        }
        let slash = dir.iter().rposition(|&b| b == b'/')?;
        dir.truncate(slash);
    }
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
        assert_eq!(p.found, root);
    }

    #[test]
    fn the_shell_walk_keeps_symlinks_in_found() {
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        std::fs::write(real.join(MANIFEST), "{}").unwrap();
        let link = real.with_file_name("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let p = find_as_shell(&link.join("sub")).unwrap();
        assert_eq!(p.found, link);
        assert_eq!(p.manifest, link.join(MANIFEST));
        assert_eq!(p.root, real);
        assert!(find_as_shell(&real.with_file_name("nowhere")).is_none());
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
