//! Uploading store entries to a cache.
//!
//! One index request says what the cache has. Only the rest is packed and
//! uploaded, several at once: the archive first, then its record, and the
//! index last, so a reader never finds an index entry without its record or
//! a record without its archive. An entry the cache already has with the
//! same digest but not our signature gets it added, if our archive is the
//! same file (the signature then covers exactly the record that is there).
//!
//! Two pushes to one cache at the same moment may each write the index
//! without the other's entries; the records and archives are all there, and
//! the next push lists them again (the index only says where to look).

use std::path::PathBuf;

use futures::StreamExt;

use super::record::{self, ArchiveInfo, Index, Record, COMPRESSION, INDEX_PATH};
use super::remote::{Remote, RemoteError};
use super::sign::SecretKey;
use super::{block_on, short, CacheError};
use crate::fetch::torrent::TorrentMeta;
use crate::model::PackageId;
use crate::settings::Settings;
use crate::store::Store;

/// One store entry to push.
#[derive(Debug, Clone)]
pub struct PushItem {
    pub id: PackageId,
    pub name: String,
    pub version: String,
    /// Its directory in the store.
    pub dir: PathBuf,
    pub run_deps: Vec<PackageId>,
    /// The digest its store record holds.
    pub digest: String,
}

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// Entries uploaded (archive and record): (name version, id, archive bytes).
    pub uploaded: Vec<(String, String, u64)>,
    /// Entries the cache had, to whose record our signature was added.
    pub signed: Vec<(String, String)>,
    /// Entries the cache already had, signed by us.
    pub present: usize,
    /// Entries left as they are, and why.
    pub skipped: Vec<(String, String)>,
}

enum Done {
    Uploaded(Record, u64),
    Signed(Record),
    Skipped(String),
}

/// Push `items` to `target`, signing with `key`.
pub fn push(
    target: &str,
    items: &[PushItem],
    key: &SecretKey,
    store: &Store,
    settings: &Settings,
) -> Result<PushReport, CacheError> {
    let remote = Remote::open(target, settings, true)?;
    if !remote.writable() {
        return Err(CacheError::ReadOnly { url: target.into() });
    }
    block_on(async {
        let index = read_index(&remote).await?;
        let mut report = PushReport::default();
        let mut work = Vec::new();
        for item in items {
            match index.packages.get(item.id.as_str()) {
                Some(e) if e.digest == item.digest && e.keys.contains(&key.name) => report.present += 1,
                Some(e) if e.digest != item.digest => report.skipped.push((
                    label(item),
                    format!(
                        "the cache has another digest for it ({}, signed by {}); left as it is, `magpkg challenge` shows the disagreement",
                        e.digest,
                        e.keys.join(", ")
                    ),
                )),
                listed => work.push((item, listed.is_some())),
            }
        }
        let results: Vec<(&PushItem, Result<Done, CacheError>)> = futures::stream::iter(work)
            .map(|(item, listed)| {
                let remote = &remote;
                async move { (item, push_one(remote, item, listed, key, store).await) }
            })
            .buffer_unordered(settings.fetch_jobs.max(1))
            .collect()
            .await;
        let mut done = Vec::new();
        let mut first_error = None;
        for (item, r) in results {
            match r {
                Ok(Done::Uploaded(rec, size)) => {
                    report.uploaded.push((label(item), item.id.to_string(), size));
                    done.push(rec);
                }
                Ok(Done::Signed(rec)) => {
                    report.signed.push((label(item), item.id.to_string()));
                    done.push(rec);
                }
                Ok(Done::Skipped(why)) => report.skipped.push((label(item), why)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !done.is_empty() {
            // Read again: keep what others pushed meanwhile.
            let mut index = read_index(&remote).await?;
            for rec in &done {
                index.insert(rec);
            }
            remote
                .put(INDEX_PATH, index.to_file_bytes())
                .await
                .map_err(|e| remote_err(&remote, INDEX_PATH, e))?;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    })?
}

fn label(item: &PushItem) -> String {
    format!("{} {} ({})", item.name, item.version, short(item.id.as_str()))
}

fn remote_err(remote: &Remote, rel: &str, e: RemoteError) -> CacheError {
    CacheError::Remote {
        url: remote.url.clone(),
        message: format!("{}: {e}", remote.display(rel)),
    }
}

async fn read_index(remote: &Remote) -> Result<Index, CacheError> {
    match remote.get(INDEX_PATH, 1 << 30).await {
        Ok(bytes) => Index::parse(&bytes).map_err(|message| CacheError::BadIndex {
            url: remote.url.clone(),
            message,
        }),
        Err(RemoteError::NotFound) => Ok(Index::new()),
        Err(e) => Err(remote_err(remote, INDEX_PATH, e)),
    }
}

async fn push_one(
    remote: &Remote,
    item: &PushItem,
    listed: bool,
    key: &SecretKey,
    store: &Store,
) -> Result<Done, CacheError> {
    let tmp = store.tempdir("push-")?;
    let file = tmp.path().join("archive.tar.zst");
    let (dir, name, file2, want) = (item.dir.clone(), item.name.clone(), file.clone(), item.digest.clone());
    let (store2, id) = (store.clone(), item.id.clone());
    let (size, sha, meta) = tokio::task::spawn_blocking(move || -> Result<(u64, String, TorrentMeta), CacheError> {
        // What is signed must be what the archive unpacks to: an entry
        // changed after it was added is not pushed, and is marked damaged.
        let actual = crate::store::tree_digest(&dir)?;
        if actual != want {
            store2.set_damaged(&id, Some(&format!("content digest {actual}, the record says {want}")))?;
            return Err(CacheError::Store(crate::store::StoreError::DigestMismatch {
                path: dir,
                expected: want,
                actual,
            }));
        }
        let f = fs_err::File::create(&file2)?;
        let (size, sha) =
            super::archive::pack(&dir, std::io::BufWriter::new(f)).map_err(|source| CacheError::Pack {
                name,
                path: dir.clone(),
                source,
            })?;
        // The archive's deterministic torrent: any machine holding the
        // archive (a seeder, a client that took it) serves it to the swarm
        // under this info-hash.
        let meta = crate::fetch::torrent::from_file(&file2, &Record::archive_file(&sha))?;
        Ok((size, sha, meta))
    })
    .await
    .map_err(|e| CacheError::Runtime { message: e.to_string() })??;
    let mut rec = Record {
        format: super::FORMAT.into(),
        id: item.id.to_string(),
        name: item.name.clone(),
        version: item.version.clone(),
        digest: item.digest.clone(),
        run_deps: item.run_deps.iter().map(ToString::to_string).collect(),
        archive: ArchiveInfo {
            file: Record::archive_file(&sha),
            size,
            sha256: sha,
            compression: COMPRESSION.into(),
        },
        btih: Some(meta.info_hash.clone()),
        signatures: Vec::new(),
    };
    let ours = key.sign(&rec.to_value());
    let rec_path = record::record_path(&rec.id);
    if listed {
        // Add our signature to the record that is there, if it is the record
        // we would write (same archive bytes).
        let theirs = remote
            .get(&rec_path, 1 << 20)
            .await
            .map_err(|e| remote_err(remote, &rec_path, e))?;
        if let Ok((value, mut existing)) = record::parse(&theirs) {
            // A record written before records named their archive's
            // info-hash is the same record: sign it as it is (every
            // signature of a record covers the same bytes).
            let mut same = rec.clone();
            if existing.btih.is_none() {
                same.btih = None;
            }
            if record::signed_bytes(&value) == record::signed_bytes(&same.to_value()) {
                let ours = key.sign(&value);
                existing
                    .signatures
                    .retain(|s| !s.starts_with(&format!("{}:", key.name)));
                existing.signatures.push(ours);
                remote
                    .put(&rec_path, existing.to_file_bytes())
                    .await
                    .map_err(|e| remote_err(remote, &rec_path, e))?;
                return Ok(Done::Signed(existing));
            }
            return Ok(Done::Skipped(
                "the cache's record of it names another archive; left as it is".into(),
            ));
        }
    }
    rec.signatures.push(ours);
    let arch_path = record::archive_path(&rec.archive.file);
    remote
        .put_file(&arch_path, &file)
        .await
        .map_err(|e| remote_err(remote, &arch_path, e))?;
    let torrent_path = record::torrent_path(&rec.archive.file);
    remote
        .put(&torrent_path, meta.torrent_file(&[]))
        .await
        .map_err(|e| remote_err(remote, &torrent_path, e))?;
    remote
        .put(&rec_path, rec.to_file_bytes())
        .await
        .map_err(|e| remote_err(remote, &rec_path, e))?;
    Ok(Done::Uploaded(rec, size))
}
