//! Store entries as binary-cache archives, for seeding them (`magpkg seed`).
//!
//! An archive is deterministic ([`super::archive`]): the archive this
//! machine packs from a store entry has the sha256, and so the info-hash,
//! that the signed record of the same entry names in any cache. So a
//! machine holding a package serves it to the swarm without asking the
//! cache for anything. The archive has to exist as a file for peers to read
//! pieces from; it is packed once, the first time it is seeded, into the
//! store's `archives-v1/<id>/<sha256>.tar.zst` (the entry's digest checked
//! first, temp-then-rename under the entry's lock) and reused after. Archives
//! of packages no longer in the store are removed by the next scan.

use std::path::{Path, PathBuf};

use super::record::Record;
use super::CacheError;
use crate::fetch::Cached;
use crate::model::PackageId;
use crate::store::{PackageRecord, Store, StoreError, ARCHIVES};

/// One store entry's archive.
#[derive(Debug, Clone)]
pub struct PackageArchive {
    pub package: PackageRecord,
    /// The archive, as a cached file (sha256, `<sha256>.tar.zst`, path).
    pub file: Cached,
}

/// Packages that could not be packed, with the reason.
pub type Unpacked = Vec<(PackageRecord, String)>;

/// Every package of the store as its archive, packing the ones not packed
/// yet. A package that cannot be packed (changed after it was added, say)
/// is returned in the second list with the reason.
pub fn package_archives(store: &Store) -> Result<(Vec<PackageArchive>, Unpacked), CacheError> {
    let root = store.bucket(ARCHIVES);
    let packages = store.packages()?;
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for p in &packages {
        match archive_of(store, p) {
            Ok(file) => ok.push(PackageArchive {
                package: p.clone(),
                file,
            }),
            Err(e) => failed.push((p.clone(), crate::fetch::http::chain(&e))),
        }
    }
    // Archives of packages that left the store.
    if let Ok(dir) = std::fs::read_dir(&root) {
        for e in dir.filter_map(Result::ok) {
            let id = e.file_name().to_string_lossy().into_owned();
            if !packages.iter().any(|p| p.id == id) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok((ok, failed))
}

/// The archive of one store entry, packed if needed.
pub fn archive_of(store: &Store, p: &PackageRecord) -> Result<Cached, CacheError> {
    let dir = store.bucket(ARCHIVES).join(&p.id);
    if let Some(c) = existing(&dir)? {
        return Ok(c);
    }
    let _lock = store.lock("archive", &p.id)?;
    if let Some(c) = existing(&dir)? {
        return Ok(c);
    }
    let id = PackageId::from_string(p.id.clone());
    let tree = store.package_dir(&id, &p.name);
    let actual = crate::store::tree_digest(&tree)?;
    if actual != p.digest {
        return Err(CacheError::Store(StoreError::DigestMismatch {
            path: tree,
            expected: p.digest.clone(),
            actual,
        }));
    }
    let tmp = store.tempdir("archive-")?;
    let file = tmp.path().join("archive.tar.zst");
    let f = fs_err::File::create(&file)?;
    let (_, sha) = super::archive::pack(&tree, std::io::BufWriter::new(f)).map_err(|source| CacheError::Pack {
        name: p.name.clone(),
        path: tree.clone(),
        source,
    })?;
    fs_err::File::open(&file).and_then(|f| f.sync_all())?;
    let staged = tmp.path().join("dir");
    fs_err::create_dir(&staged)?;
    let name = Record::archive_file(&sha);
    fs_err::rename(&file, staged.join(&name))?;
    fs_err::create_dir_all(store.bucket(ARCHIVES))?;
    fs_err::rename(&staged, &dir)?;
    Ok(Cached {
        sha256: sha,
        filename: name.clone(),
        path: dir.join(name),
    })
}

fn existing(dir: &Path) -> Result<Option<Cached>, CacheError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(sha) = name.strip_suffix(".tar.zst") {
            let path: PathBuf = e.path();
            return Ok(Some(Cached {
                sha256: sha.to_string(),
                filename: name.clone(),
                path,
            }));
        }
    }
    Ok(None)
}
