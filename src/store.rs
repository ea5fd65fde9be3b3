//! The store: one root directory holding built packages, source files,
//! realised environments and build logs.
//!
//! Layout (see `doc/store-layout.md`), every bucket versioned so a future
//! layout can live beside this one:
//!
//! ```text
//! <root>/
//!   pkgs-v1/<id>-<name>/      package output tree, read-only once added
//!   pkgs-v1/<id>.json         the entry record; its presence commits the entry
//!   sources-v1/<sha256>/<filename>   source files, addressed by sha256
//!   envs-v1/<env-id>/         realised environment profiles (written by `env`)
//!   logs-v1/<id>.log          build logs
//!   recipes-v1/<id>.json      the definitions that rebuild a package (repair)
//!   gcroots-v1/               links that keep environments alive
//!   locks-v1/                 one lock file per entry being written
//!   tmp-v1/                   scratch space for entries being written
//! ```
//!
//! Every write goes to `tmp-v1/` first, is fsynced, then renamed into place
//! under a per-entry lock, so a crash at any point leaves either nothing or
//! the whole entry visible. Directory renames are atomic only within one file
//! system, which is why the scratch space lives inside the root.

use std::fs::Permissions;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fs_err::{self as fs, File, OpenOptions};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::Classify;
use crate::model::PackageId;

pub mod scratch;

pub const PKGS: &str = "pkgs-v1";
pub const SOURCES: &str = "sources-v1";
pub const ENVS: &str = "envs-v1";
pub const LOGS: &str = "logs-v1";
pub const GCROOTS: &str = "gcroots-v1";
pub const LOCKS: &str = "locks-v1";
pub const TMP: &str = "tmp-v1";
pub const RECIPES: &str = "recipes-v1";
/// Binary-cache archives of store entries, packed for `magpkg seed`
/// (`cache::seedable`).
pub const ARCHIVES: &str = "archives-v1";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed. The error comes from `fs_err` (or
    /// [`crate::util::at`]), so its text names the operation and the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A system call of a descriptor walk ([`walk_fd`]) failed; `path` is
    /// filled in by the walk once it knows where it was.
    #[error("failed to {op} `{}`", path.display())]
    Walk {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("source {filename}: expected sha256 {expected}, got {actual} (from {origin})")]
    HashMismatch {
        filename: String,
        expected: String,
        actual: String,
        origin: String,
    },
    #[error("store entry {path} has a corrupt record")]
    CorruptRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("package {id} is not in the store")]
    NotFound { id: String },
    #[error("{path}: content digest is {actual}, the record says {expected}")]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("package {name} ({id}) is damaged in the store: {why}")]
    Damaged { id: String, name: String, why: String },
    #[error("{path}: unsupported file type in a store entry (only files, directories and symlinks)")]
    BadFileType { path: PathBuf },
    #[error("{root}: directories nested more than {limit} deep (at `{at}`)")]
    TooDeep { root: PathBuf, limit: usize, at: String },
    #[error("{root}: a path longer than {limit} bytes (at `{at}`)")]
    PathTooLong { root: PathBuf, limit: usize, at: String },
    #[error("{root}: `{at}` was moved while magpkg was walking the tree")]
    Moved { root: PathBuf, at: String },
}

/// The hint for an I/O error that is a full file system (or quota), if it
/// is one: nothing was half-written, so freeing space and running again is
/// all there is to do. `path` names the file system when the caller knows
/// it; an error from `fs_err` names its path in its own text.
pub fn full_disk_hint(path: Option<&Path>, e: &std::io::Error) -> Option<String> {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
    .then(|| {
        let which = match path {
            Some(p) => format!("the file system holding {}", p.display()),
            None => "the file system".into(),
        };
        format!(
            "{which} is full: free some space (`magpkg store gc` removes what no \
             project uses) and run the command again; nothing half-written was kept"
        )
    })
}

impl Classify for StoreError {
    fn is_user_error(&self) -> bool {
        matches!(
            self,
            StoreError::HashMismatch { .. }
                | StoreError::NotFound { .. }
                | StoreError::BadFileType { .. }
                | StoreError::TooDeep { .. }
                | StoreError::PathTooLong { .. }
                | StoreError::Damaged { .. }
        )
    }
    fn hint(&self) -> Option<String> {
        match self {
            StoreError::Io(source) => full_disk_hint(None, source),
            StoreError::Walk { path, source, .. } => full_disk_hint(Some(path), source),
            StoreError::HashMismatch { .. } => {
                Some("the file is not the one the definition pins; check the URL or the sha256".into())
            }
            StoreError::NotFound { .. } => Some("build it first with `magpkg build`".into()),
            StoreError::DigestMismatch { .. } => {
                Some("the entry was modified after it was added; `magpkg store verify --repair` rebuilds it".into())
            }
            StoreError::Damaged { id, .. } => Some(format!(
                "its files no longer match its record; `magpkg store verify --repair {}` rebuilds it \
                 (or takes it from a binary cache)",
                &id[..id.len().min(12)]
            )),
            StoreError::BadFileType { .. } => Some(
                "store entries hold only files, directories and symlinks; remove the others in the build script".into(),
            ),
            StoreError::TooDeep { .. } | StoreError::PathTooLong { .. } => Some(format!(
                "a store entry nests directories at most {MAX_TREE_DEPTH} deep and holds paths of at most \
                 {MAX_TREE_PATH} bytes; look for a loop in the build script that keeps creating directories"
            )),
            _ => None,
        }
    }
}

/// What the store knows about a package entry besides its files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PackageRecord {
    pub id: String,
    pub name: String,
    pub version: String,
    /// `blake3:<hex>` over the canonical serialisation of the tree ([`tree_digest`]).
    pub digest: String,
    #[serde(default)]
    pub run_deps: Vec<String>,
    #[serde(default)]
    pub build_deps: Vec<String>,
    #[serde(default)]
    pub sources: Vec<SourceRef>,
    /// The remote builder that built it (`ssh://...`); `None` when this
    /// machine built it or a binary cache supplied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_by: Option<String>,
    /// Set when the entry's files were found not to match `digest` (by
    /// `magpkg store verify`, an export or a push): what was found. A
    /// damaged entry is never exported or activated; `magpkg store verify
    /// --repair` replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

impl PackageRecord {
    /// The record of a package built (or substituted) from `p`; the digest
    /// is filled in by [`Store::add_package`].
    pub fn of(p: &crate::model::Package) -> PackageRecord {
        PackageRecord {
            id: p.id.to_string(),
            name: p.name.clone(),
            version: p.version.clone(),
            digest: String::new(),
            run_deps: p.run_deps.iter().map(ToString::to_string).collect(),
            build_deps: p.build_deps.iter().map(ToString::to_string).collect(),
            sources: p
                .sources
                .iter()
                .map(|s| SourceRef {
                    filename: s.filename.clone(),
                    sha256: s.sha256.clone(),
                })
                .collect(),
            built_by: None,
            damaged: None,
        }
    }
}

/// A package taken out of the store by [`Store::set_aside`].
pub struct SetAside {
    tmp: tempfile::TempDir,
    pub record: PackageRecord,
}

impl SetAside {
    /// Put the entry back as it was (a repair that failed), unless the id
    /// was added again meanwhile; then the old files are dropped.
    pub fn restore(self, store: &Store) -> Result<(), StoreError> {
        let id = PackageId::from_string(self.record.id.clone());
        let _lock = store.lock(PKGS, id.as_str())?;
        if store.package(&id)?.is_some() {
            return Ok(());
        }
        let dir = store.package_dir(&id, &self.record.name);
        let tree = self.tmp.path().join("tree");
        if tree.symlink_metadata().is_ok() {
            if dir.symlink_metadata().is_ok() {
                remove_tree(&dir)?;
            }
            fs::rename(&tree, &dir)?;
            make_read_only(&dir)?;
        }
        let json = serde_json::to_vec_pretty(&self.record).expect("record serialises");
        write_file(&store.record_path(&id), &json)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceRef {
    pub filename: String,
    pub sha256: String,
}

/// An exclusive lock on one store entry; released on drop.
pub struct EntryLock {
    _lock: Flock<std::fs::File>,
}

/// Open (creating it) and lock the lock file at `path`.
fn lock_file(path: &Path, how: FlockArg) -> Result<Flock<std::fs::File>, StoreError> {
    Ok(crate::util::lock_with(path, how)?)
}

/// A store root. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open the store at `root`, creating its layout if needed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for bucket in [PKGS, SOURCES, ENVS, LOGS, GCROOTS, LOCKS, TMP, RECIPES] {
            let p = root.join(bucket);
            fs::create_dir_all(&p)?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn bucket(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// Take the exclusive lock of entry `key` in `bucket`, waiting for other
    /// processes writing the same entry.
    pub fn lock(&self, bucket: &str, key: &str) -> Result<EntryLock, StoreError> {
        let path = self.root.join(LOCKS).join(format!("{bucket}-{key}.lock"));
        Ok(EntryLock {
            _lock: lock_file(&path, FlockArg::LockExclusive)?,
        })
    }

    /// A fresh scratch directory inside the store (same file system as the
    /// entries, so it can be renamed into place). Removed on drop unless
    /// kept with [`tempfile::TempDir::keep`]; named after this process
    /// (see [`scratch`]), so a later sweep removes it if the process dies
    /// before it does, and an interrupt removes it at once.
    pub fn tempdir(&self, prefix: &str) -> Result<tempfile::TempDir, StoreError> {
        let tmp = self.root.join(TMP);
        let suffix = scratch::owner_suffix(&self.root)?;
        tempfile::Builder::new()
            .prefix(prefix)
            .suffix(&suffix)
            .tempdir_in(&tmp)
            .map_err(StoreError::from)
    }

    /// A new empty file, open for reading and writing, alone in a fresh
    /// scratch directory (removed, with the file, when the directory is
    /// dropped): for archives passing through.
    pub fn scratch_file(&self, prefix: &str) -> Result<(tempfile::TempDir, File), StoreError> {
        let dir = self.tempdir(prefix)?;
        let path = dir.path().join("file");
        let f = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        Ok((dir, f))
    }

    // ---------------------------------------------------------------- packages

    /// Directory of a package entry (whether or not it exists).
    pub fn package_dir(&self, id: &PackageId, name: &str) -> PathBuf {
        self.root.join(PKGS).join(format!("{}-{}", id.as_str(), name))
    }

    /// The record of a package entry (whether or not it exists): removing
    /// it makes the entry invisible, and the next build replaces the files.
    pub fn record_path(&self, id: &PackageId) -> PathBuf {
        self.record_path_str(id.as_str())
    }

    fn record_path_str(&self, id: &str) -> PathBuf {
        self.root.join(PKGS).join(format!("{id}.json"))
    }

    /// The record of a package, if the store has it.
    pub fn package(&self, id: &PackageId) -> Result<Option<PackageRecord>, StoreError> {
        self.record_by_str(id.as_str())
    }

    fn record_by_str(&self, id: &str) -> Result<Option<PackageRecord>, StoreError> {
        let path = self.record_path_str(id);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let rec: PackageRecord = serde_json::from_slice(&text).map_err(|source| StoreError::CorruptRecord {
            path: path.clone(),
            source,
        })?;
        Ok(Some(rec))
    }

    /// True if the package is in the store.
    pub fn has_package(&self, id: &PackageId) -> bool {
        self.record_path_str(id.as_str()).is_file()
    }

    /// Path of a package that must be present.
    pub fn package_path(&self, id: &PackageId) -> Result<PathBuf, StoreError> {
        let rec = self
            .package(id)?
            .ok_or_else(|| StoreError::NotFound { id: id.to_string() })?;
        Ok(self.package_dir(id, &rec.name))
    }

    /// Every package record in the store, sorted by name then id.
    pub fn packages(&self) -> Result<Vec<PackageRecord>, StoreError> {
        let dir = self.root.join(PKGS);
        let mut out = Vec::new();
        for ent in fs::read_dir(&dir)? {
            let ent = ent?;
            let name = ent.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_suffix(".json") {
                if let Some(rec) = self.record_by_str(id)? {
                    out.push(rec);
                }
            }
        }
        out.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(out)
    }

    /// Find packages whose id starts with `prefix` or whose name is `prefix`.
    pub fn find_packages(&self, needle: &str) -> Result<Vec<PackageRecord>, StoreError> {
        Ok(self
            .packages()?
            .into_iter()
            .filter(|r| r.name == needle || r.id.starts_with(needle))
            .collect())
    }

    /// Add a package whose files were produced in `tree` (a directory inside
    /// the store's `tmp-v1/`, e.g. from [`Store::tempdir`]). The tree is
    /// checked ([`prepare_tree`]), normalised ([`normalize_tree`]), its digest computed, then it is
    /// renamed into place and the record written; the record's presence is
    /// what makes the entry visible. If the package is already present (a
    /// concurrent build finished first) the new tree is discarded.
    pub fn add_package(&self, tree: &Path, mut record: PackageRecord) -> Result<PackageRecord, StoreError> {
        let id = PackageId::from_string(record.id.clone());
        let _lock = self.lock(PKGS, &record.id)?;
        if let Some(existing) = self.package(&id)? {
            let _ = remove_tree(tree);
            return Ok(existing);
        }
        prepare_tree(tree)?;
        normalize_tree(tree)?;
        record.digest = tree_digest(tree)?;
        sync_tree(tree)?;
        let dest = self.package_dir(&id, &record.name);
        // A directory without a record is what a crash between the rename and
        // the record write leaves behind: it was never visible, remove it.
        if dest.symlink_metadata().is_ok() {
            remove_tree(&dest)?;
        }
        fs::rename(tree, &dest)?;
        make_read_only(&dest)?;
        crate::util::fsync_dir(&self.root.join(PKGS))?;
        fail_point("store-after-rename");
        let json = serde_json::to_vec_pretty(&record).expect("record serialises");
        let rp = self.record_path_str(&record.id);
        crate::util::write_atomic(&rp, &json)?;
        Ok(record)
    }

    /// Recompute the digest of a package and compare it with its record.
    pub fn verify_package(&self, id: &PackageId) -> Result<(), StoreError> {
        let rec = self
            .package(id)?
            .ok_or_else(|| StoreError::NotFound { id: id.to_string() })?;
        let dir = self.package_dir(id, &rec.name);
        let actual = tree_digest(&dir)?;
        if actual != rec.digest {
            return Err(StoreError::DigestMismatch {
                path: dir,
                expected: rec.digest,
                actual,
            });
        }
        Ok(())
    }

    /// Remove a package entry (record first, so it is invisible before its
    /// files go).
    pub fn remove_package(&self, id: &PackageId) -> Result<bool, StoreError> {
        let _lock = self.lock(PKGS, id.as_str())?;
        let Some(rec) = self.package(id)? else { return Ok(false) };
        let rp = self.record_path_str(id.as_str());
        fs::remove_file(&rp)?;
        remove_tree(&self.package_dir(id, &rec.name))?;
        let recipe = self.recipe_path(id);
        if let Err(e) = fs::remove_file(&recipe) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e.into());
            }
        }
        Ok(true)
    }

    /// The record of a package that may be used (exported, activated):
    /// present and not marked damaged. One read of the record: the cheap
    /// check every export and activation makes before anything else.
    pub fn usable_package(&self, id: &PackageId) -> Result<PackageRecord, StoreError> {
        let rec = self
            .package(id)?
            .ok_or_else(|| StoreError::NotFound { id: id.to_string() })?;
        match &rec.damaged {
            Some(why) => Err(StoreError::Damaged {
                id: rec.id.clone(),
                name: rec.name.clone(),
                why: why.clone(),
            }),
            None => Ok(rec),
        }
    }

    /// Mark a package damaged (`why`: what was found) in its record, or
    /// whole again (`None`), under the entry's lock; a no-op for a package
    /// the store does not have.
    pub fn set_damaged(&self, id: &PackageId, why: Option<&str>) -> Result<(), StoreError> {
        let _lock = self.lock(PKGS, id.as_str())?;
        let Some(mut rec) = self.package(id)? else {
            return Ok(());
        };
        if rec.damaged.as_deref() == why {
            return Ok(());
        }
        rec.damaged = why.map(str::to_string);
        let json = serde_json::to_vec_pretty(&rec).expect("record serialises");
        write_file(&self.record_path(id), &json)
    }

    /// [`Store::verify_package`], marking the package damaged in its record
    /// when its files do not match.
    pub fn verify_and_mark(&self, id: &PackageId) -> Result<(), StoreError> {
        match self.verify_package(id) {
            Err(StoreError::DigestMismatch { path, expected, actual }) => {
                let why = format!("content digest {actual}, the record says {expected}");
                self.set_damaged(id, Some(&why))?;
                Err(StoreError::DigestMismatch { path, expected, actual })
            }
            r => r,
        }
    }

    /// Take a package out of the store to replace it: under its lock, the
    /// record and the files move into a scratch directory of this process
    /// (swept if it dies), so the entry is absent and the next add of the
    /// id writes it afresh. [`SetAside::restore`] puts it back.
    pub fn set_aside(&self, id: &PackageId) -> Result<Option<SetAside>, StoreError> {
        let _lock = self.lock(PKGS, id.as_str())?;
        let Some(record) = self.package(id)? else {
            return Ok(None);
        };
        let tmp = self.tempdir("repair-")?;
        let rp = self.record_path(id);
        fs::rename(&rp, tmp.path().join("record.json"))?;
        let dir = self.package_dir(id, &record.name);
        // Renaming a read-only directory to another parent needs write
        // permission on it (its `..` changes) when not root.
        if let Ok(m) = fs::symlink_metadata(&dir) {
            let mut perm = m.permissions();
            perm.set_mode(perm.mode() | 0o700);
            let _ = fs::set_permissions(&dir, perm);
            fs::rename(&dir, tmp.path().join("tree"))?;
        }
        crate::util::fsync_dir(&self.root.join(PKGS))?;
        Ok(Some(SetAside { tmp, record }))
    }

    // ----------------------------------------------------------------- recipes

    /// Where the recipe of a package is kept (whether or not it exists).
    pub fn recipe_path(&self, id: &PackageId) -> PathBuf {
        self.root.join(RECIPES).join(format!("{}.json", id.as_str()))
    }

    /// Whether the store keeps a recipe for `id`.
    pub fn has_recipe(&self, id: &PackageId) -> bool {
        self.recipe_path(id).is_file()
    }

    /// Keep the definitions that build `id` (it and everything its build
    /// needs): what `magpkg store verify --repair` rebuilds it from.
    pub fn write_recipe(&self, id: &PackageId, recipe: &crate::model::Graph) -> Result<(), StoreError> {
        let json = serde_json::to_vec(recipe).expect("a graph serialises");
        write_file(&self.recipe_path(id), &json)
    }

    /// The recipe of `id`, if one was kept.
    pub fn recipe(&self, id: &PackageId) -> Result<Option<crate::model::Graph>, StoreError> {
        let path = self.recipe_path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StoreError::CorruptRecord { path, source })
    }

    /// Path of a build log.
    pub fn log_path(&self, id: &PackageId) -> PathBuf {
        self.root.join(LOGS).join(format!("{}.log", id.as_str()))
    }

    // ----------------------------------------------------------------- sources

    /// Path a source file has in the store (whether or not it exists).
    pub fn source_path(&self, sha256: &str, filename: &str) -> PathBuf {
        self.root.join(SOURCES).join(sha256).join(filename)
    }

    /// The cached file for `sha256` under `filename`, if present. If the same
    /// bytes are cached under another name, a hard link with the wanted name
    /// is added (no second copy).
    pub fn source(&self, sha256: &str, filename: &str) -> Result<Option<PathBuf>, StoreError> {
        let want = self.source_path(sha256, filename);
        if want.is_file() {
            return Ok(Some(want));
        }
        let dir = self.root.join(SOURCES).join(sha256);
        let Ok(rd) = fs::read_dir(&dir) else { return Ok(None) };
        let other = rd.filter_map(Result::ok).map(|e| e.path()).find(|p| p.is_file());
        let Some(other) = other else { return Ok(None) };
        let _lock = self.lock(SOURCES, sha256)?;
        if !want.exists() {
            fs::hard_link(&other, &want).or_else(|_| fs::copy(&other, &want).map(|_| ()))?;
        }
        Ok(Some(want))
    }

    /// Whether the source cache holds the bytes with this sha256, under
    /// any name.
    pub fn has_source(&self, sha256: &str) -> bool {
        sha256.len() == 64
            && sha256.bytes().all(|b| b.is_ascii_hexdigit())
            && fs::read_dir(self.root.join(SOURCES).join(sha256)).is_ok_and(|mut d| d.next().is_some())
    }

    /// Every cached source: (sha256, path of each name it has).
    pub fn sources(&self) -> Result<Vec<(String, PathBuf)>, StoreError> {
        let dir = self.root.join(SOURCES);
        let mut out = Vec::new();
        for ent in fs::read_dir(&dir)? {
            let ent = ent?;
            let sha = ent.file_name().to_string_lossy().to_string();
            if sha.len() != 64 || !ent.path().is_dir() {
                continue;
            }
            for f in fs::read_dir(ent.path())? {
                let f = f?;
                out.push((sha.clone(), f.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Recompute the sha256 of a cached source file (`path`, one name of
    /// the bytes `sha256`) and compare.
    pub fn verify_source(&self, sha256: &str, path: &Path) -> Result<(), StoreError> {
        let actual = crate::util::sha256_file(path)?;
        if !actual.eq_ignore_ascii_case(sha256) {
            return Err(StoreError::DigestMismatch {
                path: path.to_path_buf(),
                expected: format!("sha256:{sha256}"),
                actual: format!("sha256:{actual}"),
            });
        }
        Ok(())
    }

    /// Remove every name of the cached source `sha256` (under its lock), so
    /// the next fetch downloads it again.
    pub fn remove_source(&self, sha256: &str) -> Result<(), StoreError> {
        let _lock = self.lock(SOURCES, sha256)?;
        let dir = self.root.join(SOURCES).join(sha256);
        match fs::symlink_metadata(&dir) {
            Ok(_) => remove_tree(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Import a complete file into the source cache. `expected` is checked
    /// if given (the hash is always computed from the bytes). The file is
    /// copied into `tmp-v1/`, fsynced and renamed; on a mismatch nothing
    /// stays. Returns (sha256, path in the store).
    pub fn add_source_file(
        &self,
        file: &Path,
        filename: &str,
        expected: Option<&str>,
        origin: &str,
    ) -> Result<(String, PathBuf), StoreError> {
        let tmp = self.tempdir("src-")?;
        let staged = tmp.path().join(filename);
        // Copy (not move): the caller's file is theirs. Hard-link when we can
        // and the file is already inside the store's tmp (fetch downloads).
        if file.starts_with(self.root.join(TMP)) {
            fs::rename(file, &staged)?;
        } else {
            fs::copy(file, &staged)?;
        }
        self.commit_source(tmp, filename, expected, origin)
    }

    /// Commit a file already staged at `tmp/<filename>` (a directory from
    /// [`Store::tempdir`]) into the source cache, verifying its sha256.
    pub fn commit_source(
        &self,
        tmp: tempfile::TempDir,
        filename: &str,
        expected: Option<&str>,
        origin: &str,
    ) -> Result<(String, PathBuf), StoreError> {
        validate_filename(filename, tmp.path())?;
        let staged = tmp.path().join(filename);
        let actual = crate::util::sha256_file(&staged)?;
        self.commit_source_hashed(tmp, filename, expected, &actual, origin)
    }

    /// [`Store::commit_source`] for a file whose sha256 the caller computed
    /// from the very bytes it wrote (a download hashed as it arrived).
    pub fn commit_source_hashed(
        &self,
        tmp: tempfile::TempDir,
        filename: &str,
        expected: Option<&str>,
        actual: &str,
        origin: &str,
    ) -> Result<(String, PathBuf), StoreError> {
        validate_filename(filename, tmp.path())?;
        let staged = tmp.path().join(filename);
        let actual = actual.to_ascii_lowercase();
        if let Some(exp) = expected {
            if !exp.eq_ignore_ascii_case(&actual) {
                // `tmp` is dropped here: nothing stays in the store.
                return Err(StoreError::HashMismatch {
                    filename: filename.into(),
                    expected: exp.to_ascii_lowercase(),
                    actual,
                    origin: origin.into(),
                });
            }
        }
        File::open(&staged).and_then(|f| f.sync_all())?;
        let mut perm = fs::metadata(&staged)?.permissions();
        perm.set_mode(0o444);
        fs::set_permissions(&staged, perm)?;
        let _lock = self.lock(SOURCES, &actual)?;
        let dir = self.root.join(SOURCES).join(&actual);
        let dest = dir.join(filename);
        if dest.is_file() {
            return Ok((actual, dest));
        }
        if dir.is_dir() {
            // Same bytes under another name: move just this name in.
            fs::rename(&staged, &dest)?;
        } else {
            let tmp_path = tmp.keep();
            fs::rename(&tmp_path, &dir)?;
        }
        crate::util::fsync_dir(&self.root.join(SOURCES))?;
        Ok((actual, dest))
    }
}

fn validate_filename(filename: &str, at: &Path) -> Result<(), StoreError> {
    if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".." {
        return Err(StoreError::Io(crate::util::at(
            "store source",
            &at.join(filename),
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a source filename must be a plain name",
            ),
        )));
    }
    Ok(())
}

/// Test hook: `MAGPKG_TEST_FAIL_AT=<point>` aborts the process at that point,
/// to prove a crash there leaves the store consistent. Compiled in always
/// (it is one env lookup) so the real binary can be tested.
pub fn fail_point(name: &str) {
    if std::env::var("MAGPKG_TEST_FAIL_AT").is_ok_and(|v| v == name) {
        eprintln!("magpkg: test fail point {name} reached, aborting");
        std::process::abort();
    }
}

/// fsync every file and directory of a tree (before it is renamed into the
/// store, so the rename never publishes data still in the page cache).
pub fn sync_tree(root: &Path) -> Result<(), StoreError> {
    for ent in walkdir::WalkDir::new(root).contents_first(true) {
        let ent = ent.map_err(std::io::Error::from)?;
        if ent.file_type().is_symlink() {
            continue;
        }
        File::open(ent.path()).and_then(|f| f.sync_all())?;
    }
    Ok(())
}

/// Normalise a tree before it enters the store: drop setuid/setgid/sticky
/// bits and write permission for group and others, make files either 0644
/// or 0755 (directories 0755), reject device nodes, sockets and fifos, and
/// set every mtime to the epoch + 1 s (like Nix), symlinks included.
pub fn normalize_tree(root: &Path) -> Result<(), StoreError> {
    for ent in walkdir::WalkDir::new(root).contents_first(true) {
        let ent = ent.map_err(std::io::Error::from)?;
        let path = ent.path();
        let ft = ent.file_type();
        let meta = fs::symlink_metadata(path)?;
        if ft.is_symlink() {
            // Fall through to the timestamp.
        } else if ft.is_dir() {
            fs::set_permissions(path, Permissions::from_mode(0o755))?;
        } else if ft.is_file() {
            let mode = if meta.mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            fs::set_permissions(path, Permissions::from_mode(mode))?;
        } else {
            return Err(StoreError::BadFileType {
                path: path.to_path_buf(),
            });
        }
        let t = nix::sys::time::TimeSpec::new(1, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            path,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| crate::util::at("set the times of", path, e.into()))?;
    }
    Ok(())
}

/// Remove write permission everywhere in a tree (store entries are read-only).
pub fn make_read_only(root: &Path) -> Result<(), StoreError> {
    for ent in walkdir::WalkDir::new(root) {
        let ent = ent.map_err(std::io::Error::from)?;
        if ent.file_type().is_symlink() {
            continue;
        }
        let meta = ent.metadata().map_err(std::io::Error::from)?;
        let mode = meta.mode() & 0o555;
        fs::set_permissions(ent.path(), Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Deepest directory nesting a store entry may have (`a/b/c` is 3 deep).
/// Far beyond any real package; it keeps every walk of an entry (digest,
/// archive, export) shallow, and its paths below `PATH_MAX`.
pub const MAX_TREE_DEPTH: usize = 256;

/// Longest path (in bytes) inside a store entry, relative to its root: what
/// is left of Linux's 4096-byte `PATH_MAX` once a store root is in front.
pub const MAX_TREE_PATH: usize = 3072;

/// Descriptors a [`walk_fd`] keeps open: the deepest levels; the ones above
/// are closed and reopened through `..` when the walk climbs back.
const FD_WINDOW: usize = 32;

/// One entry a [`walk_fd`] found.
struct FdEntry<'a> {
    /// The directory holding it.
    dir: std::os::fd::BorrowedFd<'a>,
    name: &'a std::ffi::CStr,
    stat: nix::sys::stat::FileStat,
    /// 1 for the root's children.
    depth: usize,
    /// Bytes of its path relative to the root.
    rel_len: usize,
}

impl FdEntry<'_> {
    fn is_dir(&self) -> bool {
        self.stat.st_mode & nix::libc::S_IFMT == nix::libc::S_IFDIR
    }
}

/// A directory [`walk_fd`] is in: its descriptor (`None` while closed to
/// save descriptors), its identity to check a reopening, and what is left.
struct FdLevel {
    fd: Option<std::os::fd::OwnedFd>,
    id: (u64, u64),
    name: std::ffi::CString,
    todo: Vec<std::ffi::CString>,
    depth: usize,
    rel_len: usize,
}

/// `a/b/c` for messages: the names on the way down to `name` (cut short
/// when very deep).
fn fd_rel(stack: &[FdLevel], name: &std::ffi::CStr) -> String {
    let names: Vec<String> = stack
        .iter()
        .skip(1)
        .map(|l| l.name.to_string_lossy().into_owned())
        .chain(std::iter::once(name.to_string_lossy().into_owned()))
        .collect();
    if names.len() > 12 {
        format!(
            "{}/…({} more)…/{}",
            names[..4].join("/"),
            names.len() - 8,
            names[names.len() - 4..].join("/")
        )
    } else {
        names.join("/")
    }
}

fn errno_at(op: &'static str, path: PathBuf) -> impl FnOnce(nix::errno::Errno) -> StoreError {
    move |e| StoreError::Walk {
        op,
        path,
        source: e.into(),
    }
}

/// Walk the directory tree at `root` without building a single path: each
/// directory is opened relative to its parent (`openat`, never following a
/// symlink), so any depth and any path length work, with an explicit stack
/// (no recursion) and at most [`FD_WINDOW`] descriptors. `pre` sees every
/// entry below the root (parents first) and says whether to descend into a
/// directory; `post_dir` is called in the parent once a directory is done.
fn walk_fd(
    root: &Path,
    mut pre: impl FnMut(&FdEntry) -> Result<bool, StoreError>,
    mut post_dir: impl FnMut(std::os::fd::BorrowedFd, &std::ffi::CStr) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{fstat, fstatat, Mode};
    use std::os::fd::AsFd;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let id = |st: &nix::sys::stat::FileStat| (st.st_dev, st.st_ino);
    let root_fd = nix::fcntl::open(root, flags, Mode::empty()).map_err(errno_at("open directory", root.into()))?;
    let root_id = id(&fstat(&root_fd).map_err(errno_at("query metadata", root.into()))?);
    let mut stack = vec![FdLevel {
        fd: Some(root_fd),
        id: root_id,
        name: std::ffi::CString::default(),
        todo: Vec::new(),
        depth: 0,
        rel_len: 0,
    }];
    // List the directory on top of the stack: `pre` for each entry, the
    // directories to descend into remembered.
    let mut list = |stack: &mut Vec<FdLevel>| -> Result<(), StoreError> {
        let top = stack.last().expect("a level");
        let fd = top.fd.as_ref().expect("the top level is open");
        let at = |stack: &[FdLevel], name: &std::ffi::CStr| root.join(fd_rel(stack, name));
        let mut dir = nix::dir::Dir::openat(fd, ".", flags, Mode::empty())
            .map_err(|e| errno_at("read directory", at(stack, c""))(e))?;
        let names: Vec<std::ffi::CString> = dir
            .iter()
            .map(|e| e.map(|e| e.file_name().to_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| errno_at("read directory", at(stack, c""))(e))?;
        let mut todo = Vec::new();
        for name in names {
            if name.as_bytes() == b"." || name.as_bytes() == b".." {
                continue;
            }
            let stat = fstatat(fd, name.as_c_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| errno_at("query metadata", at(stack, &name))(e))?;
            let entry = FdEntry {
                dir: fd.as_fd(),
                name: &name,
                stat,
                depth: top.depth + 1,
                rel_len: top.rel_len + usize::from(top.depth > 0) + name.as_bytes().len(),
            };
            if pre(&entry).map_err(|e| with_rel(e, root, &fd_rel(stack, &name)))? && entry.is_dir() {
                todo.push(name);
            }
        }
        // Popped from the end: visit in directory order.
        todo.reverse();
        stack.last_mut().expect("a level").todo = todo;
        Ok(())
    };
    list(&mut stack)?;
    loop {
        if let Some(name) = stack.last_mut().expect("a level").todo.pop() {
            let top = stack.last().expect("a level");
            let parent = top.fd.as_ref().expect("the top level is open");
            let fd = openat(parent, name.as_c_str(), flags, Mode::empty())
                .map_err(|e| errno_at("open directory", root.join(fd_rel(&stack, &name)))(e))?;
            let st = fstat(&fd).map_err(|e| errno_at("query metadata", root.join(fd_rel(&stack, &name)))(e))?;
            let (depth, rel_len) = (
                top.depth + 1,
                top.rel_len + usize::from(top.depth > 0) + name.as_bytes().len(),
            );
            if stack.len() >= FD_WINDOW {
                let i = stack.len() - FD_WINDOW;
                stack[i].fd = None;
            }
            stack.push(FdLevel {
                fd: Some(fd),
                id: id(&st),
                name,
                todo: Vec::new(),
                depth,
                rel_len,
            });
            list(&mut stack)?;
            continue;
        }
        let done = stack.pop().expect("a level");
        let Some(parent) = stack.last_mut() else { break };
        if parent.fd.is_none() {
            let child = done.fd.as_ref().expect("the top level is open");
            let fd = openat(child, "..", flags, Mode::empty()).map_err(errno_at("open directory", root.into()))?;
            let st = fstat(&fd).map_err(errno_at("query metadata", root.into()))?;
            if id(&st) != parent.id {
                return Err(StoreError::Moved {
                    root: root.into(),
                    at: fd_rel(&stack, c""),
                });
            }
            parent.fd = Some(fd);
        }
        drop(done.fd);
        let parent_fd = stack.last().and_then(|l| l.fd.as_ref()).expect("reopened above");
        post_dir(parent_fd.as_fd(), &done.name).map_err(|e| with_rel(e, root, &fd_rel(&stack, &done.name)))?;
    }
    Ok(())
}

/// An error of a [`walk_fd`] callback, with the entry's place in the tree
/// filled in.
fn with_rel(e: StoreError, root: &Path, rel: &str) -> StoreError {
    match e {
        StoreError::TooDeep { limit, .. } => StoreError::TooDeep {
            root: root.into(),
            limit,
            at: rel.into(),
        },
        StoreError::PathTooLong { limit, .. } => StoreError::PathTooLong {
            root: root.into(),
            limit,
            at: rel.into(),
        },
        StoreError::Walk { op, path, source } if path.as_os_str().is_empty() => StoreError::Walk {
            op,
            path: root.join(rel),
            source,
        },
        e => e,
    }
}

/// Add `bits` to the mode of a directory or file of a walk (so it can be
/// read, entered or removed), if it lacks any.
fn add_mode(e: &FdEntry, bits: u32) -> Result<(), StoreError> {
    let mode = e.stat.st_mode & 0o7777;
    if mode & bits == bits {
        return Ok(());
    }
    // The entry is a directory or a regular file (checked by the caller):
    // following it is following nothing.
    nix::sys::stat::fchmodat(
        e.dir,
        e.name,
        nix::sys::stat::Mode::from_bits_truncate(mode | bits),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(errno_at("set permissions for", PathBuf::new()))
}

/// Make a tree the store is about to take fit for it, or refuse it: every
/// directory traversable and writable by us, every file readable (whatever
/// modes a build left: a mode-000 directory must not make the build fail or
/// the scratch directory impossible to remove), and no deeper than
/// [`MAX_TREE_DEPTH`] nor any path longer than [`MAX_TREE_PATH`]. Walks
/// with [`walk_fd`], so a tree of any depth gets a clear error.
pub fn prepare_tree(root: &Path) -> Result<(), StoreError> {
    if !fs::symlink_metadata(root)?.is_dir() {
        return Ok(());
    }
    let mode = fs::metadata(root)?.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(root, Permissions::from_mode(mode | 0o700))?;
    }
    walk_fd(
        root,
        |e| {
            if e.depth > MAX_TREE_DEPTH {
                return Err(StoreError::TooDeep {
                    root: PathBuf::new(),
                    limit: MAX_TREE_DEPTH,
                    at: String::new(),
                });
            }
            if e.rel_len > MAX_TREE_PATH {
                return Err(StoreError::PathTooLong {
                    root: PathBuf::new(),
                    limit: MAX_TREE_PATH,
                    at: String::new(),
                });
            }
            match e.stat.st_mode & nix::libc::S_IFMT {
                nix::libc::S_IFDIR => add_mode(e, 0o700)?,
                nix::libc::S_IFREG => add_mode(e, 0o600)?,
                _ => {}
            }
            Ok(true)
        },
        |_, _| Ok(()),
    )
}

/// Remove a tree even if it was made read-only, of any depth (see
/// [`walk_fd`]: no recursion, no path longer than the root's).
pub fn remove_tree(root: &Path) -> Result<(), StoreError> {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    let meta = match fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !meta.is_dir() {
        return Ok(fs::remove_file(root)?);
    }
    if meta.permissions().mode() & 0o700 != 0o700 {
        fs::set_permissions(root, Permissions::from_mode(0o755))?;
    }
    walk_fd(
        root,
        |e| {
            if e.is_dir() {
                add_mode(e, 0o700)?;
                Ok(true)
            } else {
                unlinkat(e.dir, e.name, UnlinkatFlags::NoRemoveDir).map_err(errno_at("remove file", PathBuf::new()))?;
                Ok(false)
            }
        },
        |dir, name| unlinkat(dir, name, UnlinkatFlags::RemoveDir).map_err(errno_at("remove directory", PathBuf::new())),
    )?;
    Ok(fs::remove_dir(root)?)
}

/// BLAKE3 digest of a tree in a canonical, NAR-like serialisation: entries
/// sorted by byte-wise path; for each, its type, path, executable bit and
/// contents (files) or target (symlinks). No timestamps, owners or other
/// mode bits. Returns `blake3:<hex>`.
pub fn tree_digest(root: &Path) -> Result<String, StoreError> {
    let mut h = blake3::Hasher::new();
    h.update(b"magpkg-tree-v1\0");
    digest_into(root, root, 0, &mut h)?;
    Ok(format!("blake3:{}", h.finalize().to_hex()))
}

fn digest_into(root: &Path, path: &Path, depth: usize, h: &mut blake3::Hasher) -> Result<(), StoreError> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    // Entries are checked on their way in (`prepare_tree`); this keeps the
    // recursion bounded for a tree that was not (a tampered entry).
    if depth > MAX_TREE_DEPTH {
        return Err(StoreError::TooDeep {
            root: root.into(),
            limit: MAX_TREE_DEPTH,
            at: rel.display().to_string(),
        });
    }
    let rel_bytes = std::os::unix::ffi::OsStrExt::as_bytes(rel.as_os_str());
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    let put = |h: &mut blake3::Hasher, bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    if ft.is_symlink() {
        let target = fs::read_link(path)?;
        h.update(b"L");
        put(h, rel_bytes);
        put(h, std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()));
    } else if ft.is_file() {
        h.update(if meta.mode() & 0o111 != 0 { b"X" } else { b"F" });
        put(h, rel_bytes);
        h.update(&meta.len().to_le_bytes());
        let mut f = File::open(path)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if ft.is_dir() {
        h.update(b"D");
        put(h, rel_bytes);
        let mut names: Vec<_> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort_by(|a, b| {
            std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())
                .cmp(std::os::unix::ffi::OsStrExt::as_bytes(b.as_os_str()))
        });
        h.update(&(names.len() as u64).to_le_bytes());
        for n in names {
            digest_into(root, &path.join(n), depth + 1, h)?;
        }
    } else {
        return Err(StoreError::BadFileType {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// What a garbage collection removed (or would remove, on a dry run).
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// (id, name) of removed packages.
    pub packages: Vec<(String, String)>,
    /// Ids of removed environment profiles.
    pub envs: Vec<String>,
    /// Roots whose environment no longer exists.
    pub stale_roots: Vec<PathBuf>,
    /// Bytes of regular files removed (hard-linked files counted once per name).
    pub bytes: u64,
    /// Scratch entries of `tmp-v1/` whose owner process is gone.
    pub scratch: Vec<String>,
}

impl Store {
    /// Remove every package and environment no GC root keeps alive, and
    /// the scratch entries of processes that are gone ([`scratch::sweep`]).
    ///
    /// Roots are the links in `gcroots-v1/` (one per project, made by
    /// environment realisation); `env_packages` gives the package ids an
    /// environment record lists. A root keeps its environment, the
    /// environment its packages, and a package its runtime dependencies
    /// (recursively). Build dependencies are not kept, as in Nix. Entries
    /// younger than `grace` are kept whatever the roots say, so a build whose
    /// environment is not registered yet is not collected under its feet.
    /// Sources are never removed: they are what `magpkg seed` shares. A
    /// removed package takes its seeding archive (`archives-v1/<id>/`) and
    /// its recipe with it; archives whose package is gone are removed too.
    pub fn collect_garbage(
        &self,
        env_packages: impl Fn(&str) -> Result<Option<Vec<String>>, StoreError>,
        grace: std::time::Duration,
        dry_run: bool,
    ) -> Result<GcReport, StoreError> {
        let _gc = self.lock("gc", "store")?;
        let mut report = GcReport {
            scratch: scratch::sweep(&self.root, dry_run)?,
            ..GcReport::default()
        };
        let now = std::time::SystemTime::now();
        let young = |p: &Path| {
            fs::symlink_metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() < grace)
        };
        // Live environments: the targets of the roots.
        let mut live_envs = std::collections::BTreeSet::new();
        let roots_dir = self.root.join(GCROOTS);
        for ent in fs::read_dir(&roots_dir)? {
            let ent = ent?;
            let link = ent.path();
            let target = match fs::read_link(&link) {
                Ok(t) => t,
                Err(_) => continue,
            };
            let id = target
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if target.starts_with(self.root.join(ENVS)) && target.is_dir() {
                live_envs.insert(id);
            } else {
                if !dry_run {
                    fs::remove_file(&link)?;
                }
                report.stale_roots.push(link);
            }
        }
        // Live packages: what the live environments list, and their
        // runtime closure through the package records.
        let records: std::collections::BTreeMap<String, PackageRecord> =
            self.packages()?.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut live = std::collections::BTreeSet::new();
        let mut stack: Vec<String> = Vec::new();
        for env in &live_envs {
            stack.extend(env_packages(env)?.unwrap_or_default());
        }
        for (id, rec) in &records {
            if young(&self.record_path_str(id)) {
                stack.push(rec.id.clone());
            }
        }
        while let Some(id) = stack.pop() {
            if live.insert(id.clone()) {
                if let Some(rec) = records.get(&id) {
                    stack.extend(rec.run_deps.iter().cloned());
                }
            }
        }
        // Environments first (they link into packages), then packages.
        let envs_dir = self.root.join(ENVS);
        let mut env_ids = std::collections::BTreeSet::new();
        for ent in fs::read_dir(&envs_dir)? {
            let ent = ent?;
            let name = ent.file_name().to_string_lossy().to_string();
            let id = name
                .strip_suffix(".json")
                .or_else(|| name.strip_suffix(".damaged"))
                .unwrap_or(&name);
            env_ids.insert(id.to_string());
        }
        for id in env_ids {
            let dir = envs_dir.join(&id);
            let rec = envs_dir.join(format!("{id}.json"));
            if live_envs.contains(&id) || young(&rec) || young(&dir) {
                continue;
            }
            if !dry_run {
                let _lock = self.lock(ENVS, &id)?;
                if rec.exists() {
                    fs::remove_file(&rec)?;
                }
                let _ = fs::remove_file(envs_dir.join(format!("{id}.damaged")));
                if dir.symlink_metadata().is_ok() {
                    remove_tree(&dir)?;
                }
            }
            report.envs.push(id);
        }
        for (id, rec) in &records {
            if live.contains(id) {
                continue;
            }
            let pid = PackageId::from_string(id.clone());
            report.bytes += tree_size(&self.package_dir(&pid, &rec.name));
            // Its archive packed for seeding goes with it (the recipe goes
            // in `remove_package`).
            let archive = self.root.join(ARCHIVES).join(id);
            report.bytes += tree_size(&archive);
            if !dry_run {
                self.remove_package(&pid)?;
                let _ = fs::remove_file(self.log_path(&pid));
                if archive.symlink_metadata().is_ok() {
                    remove_tree(&archive)?;
                }
            }
            report.packages.push((id.clone(), rec.name.clone()));
        }
        // Archives whose package is gone some other way (an older magpkg's
        // gc, a repair that moved it aside and failed): nothing seeds them.
        let archives = self.root.join(ARCHIVES);
        if archives.is_dir() {
            for ent in fs::read_dir(&archives)? {
                let path = ent?.path();
                let id = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if records.contains_key(&id) || young(&path) {
                    continue;
                }
                report.bytes += tree_size(&path);
                if !dry_run {
                    remove_tree(&path)?;
                }
            }
        }
        Ok(report)
    }
}

fn tree_size(root: &Path) -> u64 {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Write a text file into the store atomically (temp, fsync, rename).
pub fn write_file(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    Ok(crate::util::write_atomic(path, data)?)
}

/// Append to a log file, creating it.
pub fn append(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(f.write_all(data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> PackageRecord {
        PackageRecord {
            id: id.into(),
            name: "demo".into(),
            version: "1".into(),
            digest: String::new(),
            run_deps: vec![],
            build_deps: vec![],
            sources: vec![],
            built_by: None,
            damaged: None,
        }
    }

    fn fill(store: &Store) -> tempfile::TempDir {
        let t = store.tempdir("build-").unwrap();
        fs::create_dir_all(t.path().join("bin")).unwrap();
        fs::write(t.path().join("bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(t.path().join("bin/tool"), Permissions::from_mode(0o4777)).unwrap();
        std::os::unix::fs::symlink("tool", t.path().join("bin/alias")).unwrap();
        fs::write(t.path().join("README"), b"doc").unwrap();
        t
    }

    #[test]
    fn a_damaged_package_is_refused_and_set_aside_whole_or_dropped() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = PackageId::from_string("e".repeat(32));
        let t = fill(&store);
        store.add_package(&t.keep(), record(id.as_str())).unwrap();
        assert!(store.usable_package(&id).is_ok());
        store.set_damaged(&id, Some("found broken")).unwrap();
        let err = store.usable_package(&id).unwrap_err();
        assert!(
            matches!(&err, StoreError::Damaged { why, .. } if why == "found broken"),
            "{err}"
        );
        assert!(err
            .hint()
            .unwrap()
            .contains("`magpkg store verify --repair eeeeeeeeeeee`"));
        // Taken out: absent (no record, no files), then put back as it was.
        let aside = store.set_aside(&id).unwrap().unwrap();
        assert!(store.package(&id).unwrap().is_none());
        assert!(!store.package_dir(&id, "demo").exists());
        aside.restore(&store).unwrap();
        assert_eq!(
            store.package(&id).unwrap().unwrap().damaged.as_deref(),
            Some("found broken")
        );
        store.verify_package(&id).unwrap();
        store.set_damaged(&id, None).unwrap();
        assert!(store.usable_package(&id).is_ok());
        // Taken out and dropped (what a repair that replaced it does, or a
        // crash): gone, and nothing left in the scratch space.
        drop(store.set_aside(&id).unwrap().unwrap());
        assert!(store.package(&id).unwrap().is_none());
        assert_eq!(fs::read_dir(root.path().join(TMP)).unwrap().count(), 0);
    }

    #[test]
    fn add_package_is_atomic_normalised_and_read_only() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = PackageId::from_string("a".repeat(32));
        assert!(!store.has_package(&id));
        let t = fill(&store);
        let rec = store.add_package(&t.keep(), record(id.as_str())).unwrap();
        assert!(rec.digest.starts_with("blake3:"));
        assert!(store.has_package(&id));
        let dir = store.package_path(&id).unwrap();
        let m = fs::metadata(dir.join("bin/tool")).unwrap();
        assert_eq!(
            m.mode() & 0o7777,
            0o555,
            "setuid and write bits dropped, then read-only"
        );
        assert_eq!(m.mtime(), 1);
        assert_eq!(fs::metadata(dir.join("README")).unwrap().mode() & 0o777, 0o444);
        if !nix::unistd::geteuid().is_root() {
            // (root ignores permissions, so only a normal user can check this)
            assert!(fs::write(dir.join("README"), b"x").is_err());
        }
        store.verify_package(&id).unwrap();
        // tmp-v1 is empty again
        assert_eq!(fs::read_dir(root.path().join(TMP)).unwrap().count(), 0);
    }

    #[test]
    fn digest_ignores_timestamps_but_not_content_or_exec_bit() {
        let a = tempfile::tempdir().unwrap();
        fs::write(a.path().join("f"), b"one").unwrap();
        let d1 = tree_digest(a.path()).unwrap();
        filetime_touch(&a.path().join("f"));
        assert_eq!(d1, tree_digest(a.path()).unwrap());
        fs::set_permissions(a.path().join("f"), Permissions::from_mode(0o755)).unwrap();
        let d2 = tree_digest(a.path()).unwrap();
        assert_ne!(d1, d2);
        fs::write(a.path().join("f"), b"two").unwrap();
        assert_ne!(d2, tree_digest(a.path()).unwrap());
    }

    fn filetime_touch(p: &Path) {
        let t = nix::sys::time::TimeSpec::new(12345, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            p,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::FollowSymlink,
        )
        .unwrap();
    }

    /// A chain of `depth` directories `d/d/d/...` below `root`, made through
    /// descriptors (its paths are far longer than `PATH_MAX`), with a file
    /// at the bottom.
    fn deep_chain(root: &Path, depth: usize) {
        use nix::fcntl::{open, openat, OFlag};
        use nix::sys::stat::{mkdirat, Mode};
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut fd = open(root, flags, Mode::empty()).unwrap();
        for _ in 0..depth {
            mkdirat(&fd, "d", Mode::from_bits_truncate(0o755)).unwrap();
            fd = openat(&fd, "d", flags, Mode::empty()).unwrap();
        }
        let create = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC;
        drop(openat(&fd, "bottom", create, Mode::from_bits_truncate(0o444)).unwrap());
    }

    #[test]
    fn trees_of_any_depth_are_refused_cleanly_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("t");
        fs::create_dir(&tree).unwrap();
        deep_chain(&tree, 30_000);
        // On a small stack, as builds run: nothing here may recurse per level.
        let t = tree.clone();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let e = prepare_tree(&t).unwrap_err();
                assert!(matches!(e, StoreError::TooDeep { .. }), "{e}");
                assert!(
                    e.to_string().contains("nested more than 256 deep (at `d/d/d/d/…("),
                    "{e}"
                );
                assert!(e.is_user_error() && e.hint().unwrap().contains("loop"));
                remove_tree(&t).unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(!tree.exists());
    }

    #[test]
    fn prepare_and_remove_handle_unreadable_and_read_only_trees() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("t");
        fs::create_dir_all(tree.join("a/locked/inner")).unwrap();
        fs::write(tree.join("a/locked/inner/f"), b"x").unwrap();
        fs::write(tree.join("a/secret"), b"y").unwrap();
        std::os::unix::fs::symlink("/etc", tree.join("a/link")).unwrap();
        fs::set_permissions(tree.join("a/secret"), Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(tree.join("a/locked/inner"), Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(tree.join("a/locked"), Permissions::from_mode(0o000)).unwrap();
        prepare_tree(&tree).unwrap();
        assert_eq!(fs::read(tree.join("a/locked/inner/f")).unwrap(), b"x");
        assert_eq!(fs::metadata(tree.join("a/secret")).unwrap().mode() & 0o600, 0o600);
        // Long names: the path limit, not the depth one.
        let long = "n".repeat(250);
        let mut p = tree.clone();
        for _ in 0..14 {
            p.push(&long);
        }
        fs::create_dir_all(&p).unwrap();
        let e = prepare_tree(&tree).unwrap_err();
        assert!(matches!(e, StoreError::PathTooLong { .. }), "{e}");
        make_read_only(&tree.join("a")).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        // What the link points at is untouched.
        assert!(Path::new("/etc/passwd").is_file());
    }

    #[test]
    fn stale_directory_without_record_is_invisible_and_replaced() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = PackageId::from_string("b".repeat(32));
        // What a crash between rename and record write leaves.
        let stale = store.package_dir(&id, "demo");
        fs::create_dir_all(&stale).unwrap();
        fs::write(stale.join("junk"), b"half").unwrap();
        assert!(!store.has_package(&id));
        assert!(store.packages().unwrap().is_empty());
        let t = fill(&store);
        store.add_package(&t.keep(), record(id.as_str())).unwrap();
        assert!(!store.package_path(&id).unwrap().join("junk").exists());
    }

    /// A file error reaches the user with its operation and path (from
    /// `fs_err`), and a full file system still gets its hint: the kind
    /// survives the wrapping. `/dev/full` fails every write with ENOSPC.
    #[test]
    fn file_errors_name_their_path_and_a_full_disk_keeps_its_hint() {
        let e = write_file(Path::new("/dev/full/x"), b"x").unwrap_err();
        assert!(e.to_string().contains("`/dev/full`"), "{e}");
        let e = append(Path::new("/dev/full"), b"x").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("failed to write to file `/dev/full`: No space left on device"),
            "{e}"
        );
        let hint = e.hint().expect("a full disk has a hint");
        assert!(hint.starts_with("the file system is full: free some space"), "{hint}");
        let walk = errno_at("open directory", "/s/pkgs-v1/x".into())(nix::errno::Errno::ENOSPC);
        assert_eq!(walk.to_string(), "failed to open directory `/s/pkgs-v1/x`");
        assert!(walk
            .hint()
            .unwrap()
            .starts_with("the file system holding /s/pkgs-v1/x is full"));
    }

    #[test]
    fn source_mismatch_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let f = root.path().join("input.tar.gz");
        fs::write(&f, b"hello").unwrap();
        let err = store
            .add_source_file(&f, "x.tar.gz", Some(&"0".repeat(64)), "test")
            .unwrap_err();
        assert!(matches!(err, StoreError::HashMismatch { .. }), "{err}");
        assert_eq!(fs::read_dir(root.path().join(SOURCES)).unwrap().count(), 0);
        assert_eq!(fs::read_dir(root.path().join(TMP)).unwrap().count(), 0);
        let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let (got, path) = store.add_source_file(&f, "x.tar.gz", Some(sha), "test").unwrap();
        assert_eq!(got, sha);
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        // Same bytes under a second name: linked, not copied.
        let other = store.source(sha, "y.tar.gz").unwrap().unwrap();
        assert_eq!(fs::metadata(&other).unwrap().ino(), fs::metadata(&path).unwrap().ino());
        assert!(store.add_source_file(&f, "../evil", None, "test").is_err());
    }

    /// Child half of `crash_after_rename_leaves_nothing_visible`: adds a
    /// package with the fail point armed, so the process aborts between the
    /// directory rename and the record write.
    #[test]
    fn crash_child() {
        let Ok(root) = std::env::var("MAGPKG_CRASH_CHILD_STORE") else {
            return;
        };
        let store = Store::open(Path::new(&root)).unwrap();
        let t = fill(&store);
        let _ = store.add_package(&t.keep(), record(&"d".repeat(32)));
        unreachable!("the fail point aborts before this");
    }

    #[test]
    fn crash_after_rename_leaves_nothing_visible() {
        let root = tempfile::tempdir().unwrap();
        let st = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::tests::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MAGPKG_CRASH_CHILD_STORE", root.path())
            .env("MAGPKG_TEST_FAIL_AT", "store-after-rename")
            .output()
            .unwrap();
        assert!(!st.status.success(), "the child must have aborted");
        let store = Store::open(root.path()).unwrap();
        let id = PackageId::from_string("d".repeat(32));
        assert!(
            store.package_dir(&id, "demo").exists(),
            "the crash happened after the rename"
        );
        assert!(!store.has_package(&id));
        assert!(store.packages().unwrap().is_empty());
        // The next add of the same id replaces the stale directory.
        let t = fill(&store);
        store.add_package(&t.keep(), record(id.as_str())).unwrap();
        store.verify_package(&id).unwrap();
    }
}
