//! Taking packages from binary caches instead of building them.
//!
//! [`substitute`] walks the graph from its roots the way the planner does,
//! but stops at every package a cache can give: its build dependencies are
//! then not needed at all (a substituted compiler needs no bootstrap). For
//! each such package, every cache whose index lists it is asked for its
//! record; records are checked ([`check_record`]), and [`decide`] accepts a
//! content digest only when `quorum` distinct trusted keys signed it, over
//! all caches together. The archive is then downloaded from the first cache
//! with that digest (sha256 checked while streaming), unpacked into the
//! store's scratch space, its tree digest recomputed and compared, and only
//! then added with the store's atomic add. Any failure is a warning naming
//! the cache and the package, and the next cache (or, in the end, a source
//! build) takes over. A package that cannot be substituted is built, so its
//! build dependencies are looked up in turn.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;

use super::record::{self, Index, Record, INDEX_PATH};
use super::remote::{Remote, RemoteError};
use super::sign::{self, Check, PublicKey};
use super::{block_on, short, CacheError};
use crate::model::{Graph, Package, PackageId};
use crate::settings::Settings;
use crate::store::{PackageRecord, Store};

/// Largest index or record read from a cache.
const INDEX_LIMIT: u64 = 256 << 20;
const RECORD_LIMIT: u64 = 1 << 20;
/// 20 bytes per 256 KiB piece: 16 MiB is the torrent of a 200 GiB archive.
const TORRENT_LIMIT: u64 = 16 << 20;

/// What [`substitute`] did.
#[derive(Debug, Clone, Default)]
pub struct SubstituteReport {
    /// Packages now in the store, with the cache each came from.
    pub substituted: Vec<(PackageId, String)>,
}

/// One cache for the length of a command.
pub(super) struct Cache {
    pub remote: Arc<Remote>,
    pub index: Option<Index>,
    /// Stopped answering: not asked again by this command.
    pub dead: AtomicBool,
}

impl Cache {
    fn lists(&self, id: &PackageId) -> bool {
        !self.dead.load(Ordering::Relaxed)
            && self
                .index
                .as_ref()
                .is_some_and(|i| i.packages.contains_key(id.as_str()))
    }

    /// A warning about this cache (and a package).
    pub fn warn(&self, what: &str, reason: &str) {
        eprintln!("warning: binary cache {}: {what}: {reason}", self.remote.url);
    }

    fn failed(&self, what: &str, e: &RemoteError) {
        if let RemoteError::Down(m) = e {
            if !self.dead.swap(true, Ordering::Relaxed) {
                self.warn(what, &format!("{m}; not asked again by this command"));
            }
        } else {
            self.warn(what, &e.to_string());
        }
    }
}

/// Open the caches of `settings` (the network ones only when online) and
/// read their indexes, all at once.
pub(super) async fn open_caches(settings: &Settings) -> Result<Vec<Cache>, CacheError> {
    let mut remotes = Vec::new();
    for url in &settings.cache.substituters {
        let r = Remote::open(url, settings, false)?;
        if !(settings.offline && r.is_network()) {
            remotes.push(r);
        }
    }
    let indexes = futures::future::join_all(remotes.iter().map(|r| r.get(INDEX_PATH, INDEX_LIMIT))).await;
    Ok(remotes
        .into_iter()
        .zip(indexes)
        .map(|(remote, got)| {
            let cache = Cache {
                remote: Arc::new(remote),
                index: None,
                dead: AtomicBool::new(false),
            };
            match got {
                Ok(bytes) => match Index::parse(&bytes) {
                    Ok(i) => Cache {
                        index: Some(i),
                        ..cache
                    },
                    Err(e) => {
                        cache.warn("index", &format!("not a {} index ({e}); cache not used", super::FORMAT));
                        cache
                    }
                },
                // No index: an empty cache (nothing pushed yet).
                Err(RemoteError::NotFound) => cache,
                Err(e) => {
                    cache.failed("index", &e);
                    cache.dead.store(true, Ordering::Relaxed);
                    cache
                }
            }
        })
        .collect())
}

/// What a record must say to be about the package we want.
pub(super) struct Expect<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub run_deps: Vec<String>,
}

impl Expect<'_> {
    fn of(p: &Package) -> Expect<'_> {
        Expect {
            id: p.id.as_str(),
            name: &p.name,
            version: &p.version,
            run_deps: p.run_deps.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A record that passed [`check_record`]: its content digest and the
/// distinct trusted keys that signed it.
#[derive(Debug, Clone)]
pub struct Vote {
    pub cache: usize,
    pub digest: String,
    /// Public key bytes of the valid signatures (distinct keys).
    pub keys: BTreeSet<[u8; 32]>,
    pub signers: Vec<String>,
    pub record: Record,
}

/// Check a record's text: a v1 record, about the expected package, with at
/// least one valid signature of a trusted key. The error says why not.
pub(super) fn check_record(bytes: &[u8], want: &Expect, trusted: &[PublicKey], cache: usize) -> Result<Vote, String> {
    let (value, rec) = record::parse(bytes)?;
    if rec.id != want.id {
        return Err(format!(
            "the record is for package id {} ({} {}), not {}",
            rec.id, rec.name, rec.version, want.id
        ));
    }
    if rec.name != want.name || rec.version != want.version {
        return Err(format!("the record names {} {}", rec.name, rec.version));
    }
    if rec.run_deps != want.run_deps {
        return Err("its runtime references are not the definition's".into());
    }
    let signed = record::signed_bytes(&value);
    let mut keys = BTreeSet::new();
    let mut signers = Vec::new();
    let mut problems = Vec::new();
    for s in &rec.signatures {
        match sign::check(s, &signed, trusted) {
            Check::Valid(k) => {
                if keys.insert(k.bytes()) {
                    signers.push(k.name);
                }
            }
            Check::Bad(n) => problems.push(format!("bad signature by key `{n}`")),
            Check::Unknown(n) => problems.push(format!("signed by unknown key `{n}`")),
            Check::Malformed(s) => problems.push(format!("malformed signature `{s}`")),
        }
    }
    if keys.is_empty() {
        if problems.is_empty() {
            problems.push("the record is not signed".into());
        }
        return Err(format!("{}; not trusted", problems.join(", ")));
    }
    Ok(Vote {
        cache,
        digest: rec.digest.clone(),
        keys,
        signers,
        record: rec,
    })
}

/// What the votes of all caches for one package allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// This digest has the quorum; these caches (indexes into the votes'
    /// caches, in order) have a record of it to download from.
    Accept { digest: String, caches: Vec<usize> },
    /// No digest has enough distinct keys.
    NoQuorum,
    /// Several digests have a quorum: the trusted keys disagree, and no
    /// choice between them is safe.
    Conflict { digests: Vec<String> },
}

/// Count distinct trusted keys per content digest, over every cache (the
/// same key signing in two caches is one vote).
pub fn decide(votes: &[Vote], quorum: usize) -> Decision {
    let mut by_digest: BTreeMap<&str, BTreeSet<[u8; 32]>> = BTreeMap::new();
    for v in votes {
        by_digest.entry(&v.digest).or_default().extend(v.keys.iter().copied());
    }
    let winners: Vec<&str> = by_digest
        .iter()
        .filter(|(_, keys)| keys.len() >= quorum.max(1))
        .map(|(d, _)| *d)
        .collect();
    match winners.as_slice() {
        [] => Decision::NoQuorum,
        [d] => {
            let mut caches: Vec<usize> = votes.iter().filter(|v| v.digest == *d).map(|v| v.cache).collect();
            caches.sort_unstable();
            caches.dedup();
            Decision::Accept {
                digest: d.to_string(),
                caches,
            }
        }
        many => Decision::Conflict {
            digests: many.iter().map(|d| d.to_string()).collect(),
        },
    }
}

/// Take every package the store lacks for `roots` from the substituters,
/// where they have it and the signatures say so. Packages no cache gives
/// stay missing (the caller builds them); nothing that failed a check is
/// in the store.
pub fn substitute(
    graph: &Graph,
    roots: &[PackageId],
    store: &Store,
    settings: &Settings,
    progress: bool,
) -> Result<SubstituteReport, CacheError> {
    if settings.cache.substituters.is_empty() {
        return Ok(SubstituteReport::default());
    }
    let trusted = sign::trusted_keys(settings)?;
    if trusted.is_empty() {
        eprintln!("warning: substituters are set but no trustedKeys: no binary substitute can be accepted");
        return Ok(SubstituteReport::default());
    }
    block_on(async {
        let caches = open_caches(settings).await?;
        let run = Run {
            graph,
            store,
            settings,
            caches: &caches,
            trusted: &trusted,
            multi: progress.then(indicatif::MultiProgress::new),
            session: tokio::sync::OnceCell::new(),
        };
        let run = &run;
        let mut report = SubstituteReport::default();
        let mut failed = BTreeSet::new();
        loop {
            let wanted = run.wanted(roots, &failed);
            if wanted.is_empty() {
                break;
            }
            let results: Vec<(PackageId, Option<String>)> = futures::stream::iter(wanted)
                .map(|id| async move {
                    let got = run.one(&id).await;
                    (id, got)
                })
                .buffer_unordered(settings.fetch_jobs.max(1))
                .collect()
                .await;
            for (id, got) in results {
                match got {
                    Some(url) => report.substituted.push((id, url)),
                    None => {
                        failed.insert(id);
                    }
                }
            }
        }
        if let Some(Ok(s)) = run.session.get() {
            s.cancellation_token().cancel();
        }
        Ok(report)
    })?
}

struct Run<'a> {
    graph: &'a Graph,
    store: &'a Store,
    settings: &'a Settings,
    caches: &'a [Cache],
    trusted: &'a [PublicKey],
    /// Download bars, like the fetch stage's (None: no terminal).
    multi: Option<indicatif::MultiProgress>,
    /// The BitTorrent session, started by the first archive with an
    /// info-hash.
    session: tokio::sync::OnceCell<Result<Arc<librqbit::Session>, String>>,
}

impl Run<'_> {
    /// The missing packages a cache lists, found from the roots down: below
    /// a package that can be substituted only its runtime dependencies are
    /// needed, below one that cannot (in the store: none; `failed`: it will
    /// be built) its build dependencies too.
    fn wanted(&self, roots: &[PackageId], failed: &BTreeSet<PackageId>) -> Vec<PackageId> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<PackageId> = roots.iter().rev().cloned().collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let p = self.graph.get(&id);
            if self.store.has_package(&id) {
                stack.extend(p.run_deps.iter().cloned());
            } else if !failed.contains(&id) && self.caches.iter().any(|c| c.lists(&id)) {
                out.push(id);
                stack.extend(p.run_deps.iter().cloned());
            } else {
                stack.extend(p.build_deps.iter().chain(&p.run_deps).cloned());
            }
        }
        out
    }

    /// Substitute one package; the URL of the cache it came from.
    async fn one(&self, id: &PackageId) -> Option<String> {
        let p = self.graph.get(id);
        let what = format!("{} {} ({})", p.name, p.version, short(id.as_str()));
        let want = Expect::of(p);
        let asked: Vec<usize> = (0..self.caches.len()).filter(|&i| self.caches[i].lists(id)).collect();
        let path = record::record_path(id.as_str());
        let got =
            futures::future::join_all(asked.iter().map(|&i| self.caches[i].remote.get(&path, RECORD_LIMIT))).await;
        let mut votes = Vec::new();
        for (&i, r) in asked.iter().zip(got) {
            let cache = &self.caches[i];
            match r {
                Ok(bytes) => match check_record(&bytes, &want, self.trusted, i) {
                    Ok(v) => votes.push(v),
                    Err(why) => cache.warn(&what, &format!("{why}; record not used")),
                },
                Err(RemoteError::NotFound) => cache.warn(&what, "listed in the index, but has no record"),
                Err(e) => cache.failed(&what, &e),
            }
        }
        let quorum = self.settings.cache.quorum;
        let (digest, from) = match decide(&votes, quorum) {
            Decision::Accept { digest, caches } => (digest, caches),
            Decision::NoQuorum => {
                if !votes.is_empty() {
                    let seen: Vec<String> = votes
                        .iter()
                        .map(|v| format!("{} signed by {}", v.digest, v.signers.join(", ")))
                        .collect();
                    eprintln!(
                        "warning: {what}: no content digest is signed by {quorum} distinct trusted keys (substituteQuorum), \
                         the caches say: {}; building it from source",
                        seen.join("; ")
                    );
                }
                return None;
            }
            Decision::Conflict { digests } => {
                eprintln!(
                    "warning: {what}: trusted keys signed different contents ({}); building it from source \
                     (`magpkg challenge` shows who says what)",
                    digests.join(", ")
                );
                return None;
            }
        };
        for i in from {
            let cache = &self.caches[i];
            if cache.dead.load(Ordering::Relaxed) {
                continue;
            }
            let vote = votes
                .iter()
                .find(|v| v.cache == i && v.digest == digest)
                .expect("decide names caches that voted for the digest");
            match self.fetch(cache, &vote.record, p, &what).await {
                Ok(origin) => return Some(origin),
                Err(Fail::Remote(e)) => cache.failed(&what, &e),
                Err(Fail::Refused(why) | Fail::Swarm(why)) => {
                    cache.warn(&what, &format!("{why}; nothing of it was added to the store"))
                }
                Err(Fail::Store(e)) => {
                    eprintln!("warning: {what}: cannot add it to the store: {e}");
                    return None;
                }
            }
        }
        None
    }

    /// Download, verify and add one archive: from the swarm when the signed
    /// record names the archive's info-hash, from the cache too when the
    /// swarm delivers nothing within `swarmWait` (or fails). Returns where
    /// the archive came from.
    async fn fetch(&self, cache: &Cache, rec: &Record, p: &Package, what: &str) -> Result<String, Fail> {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(indicatif::ProgressBar::new(rec.archive.size));
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:30!} {bar:25} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
                )
                .expect("valid template"),
            );
            b.set_prefix(format!("{} {}", p.name, p.version));
            b.set_message(format!("from {}", cache.remote.url));
            b
        });
        let swarm = rec.btih.as_ref().filter(|_| swarm_usable(self.settings));
        let (tmp, archive, origin) = match swarm {
            None => self
                .take_from_cache(cache, rec, bar.as_ref())
                .await
                .map_err(Option::unwrap)?,
            Some(btih) => {
                let delivered = AtomicU64::new(0);
                let (a, b) = crate::fetch::race_swarm(
                    self.take_from_swarm(cache, btih, rec, &delivered),
                    &delivered,
                    self.settings.swarm_wait.min(self.settings.stall_timeout),
                    self.take_from_cache(cache, rec, bar.as_ref()),
                )
                .await;
                match (a, b) {
                    (Ok(got), _) | (_, Ok(got)) => got,
                    (Err(swarm_err), Err(cache_err)) => {
                        if let Some(Fail::Refused(why) | Fail::Swarm(why)) = &swarm_err {
                            eprintln!("warning: {what}: the swarm (btih {btih}): {why}");
                        }
                        return Err(cache_err.unwrap_or(Fail::Refused("the cache was not asked".into())));
                    }
                }
            }
        };
        let store = self.store.clone();
        let digest = rec.digest.clone();
        let record = PackageRecord::of(p);
        if let Some(b) = &bar {
            b.set_message("verifying and unpacking");
        }
        let done = tokio::task::spawn_blocking(move || unpack_and_add(&store, tmp, &archive, &digest, record))
            .await
            .map_err(|e| Fail::Refused(format!("unpacking panicked: {e}")))?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        done.map(|()| origin)
    }

    /// The archive from the cache's own files; its sha256 checked.
    async fn take_from_cache(
        &self,
        cache: &Cache,
        rec: &Record,
        bar: Option<&indicatif::ProgressBar>,
    ) -> Result<(tempfile::TempDir, PathBuf, String), Option<Fail>> {
        let tmp = self.store.tempdir("subst-").map_err(Fail::Store)?;
        let archive = tmp.path().join("archive.tar.zst");
        let sha = cache
            .remote
            .download(
                &record::archive_path(&rec.archive.file),
                &archive,
                rec.archive.size,
                |n| {
                    if let Some(b) = bar {
                        b.inc(n)
                    }
                },
            )
            .await
            .map_err(|e| match e {
                RemoteError::NotFound => Fail::Refused(format!("its archive {} is missing", rec.archive.file)),
                e => Fail::Remote(e),
            })?;
        if sha != rec.archive.sha256 {
            return Err(Some(Fail::Refused(format!(
                "the archive's sha256 is {sha}, the signed record says {}",
                rec.archive.sha256
            ))));
        }
        Ok((tmp, archive, cache.remote.url.clone()))
    }

    /// The archive from BitTorrent peers (DHT, trackers, local discovery),
    /// by the signed info-hash: librqbit checks every piece against the
    /// info dictionary whose sha1 is that info-hash, then the whole file's
    /// sha256 is checked against the record here.
    async fn take_from_swarm(
        &self,
        cache: &Cache,
        btih: &str,
        rec: &Record,
        delivered: &AtomicU64,
    ) -> Result<(tempfile::TempDir, PathBuf, String), Option<Fail>> {
        let session = self
            .session
            .get_or_init(|| async {
                let scratch = self.store.bucket(crate::store::TMP);
                crate::fetch::bt::session(self.settings, &scratch, Some(0), &[]).await
            })
            .await
            .clone()
            .map_err(|e| Fail::Swarm(format!("cannot start a BitTorrent session: {e}")))?;
        let magnet = format!(
            "magnet:?xt=urn:btih:{btih}&dn={}&xl={}",
            rec.archive.file, rec.archive.size
        );
        let tmp = self.store.tempdir("subst-").map_err(Fail::Store)?;
        let dl = tmp.path().join("bt");
        fs_err::create_dir(&dl).map_err(|e| Fail::Store(e.into()))?;
        // The cache's archive URL is the swarm's web seed (BEP 19), given
        // the torrent's metadata: the cache's `.torrent` of the archive, taken
        // only if its info dictionary is the signed info-hash's. Without it
        // (a cache pushed before torrents were), the magnet asks peers.
        let (source, seeds) = match self.torrent_of(cache, btih, rec).await {
            Some(bytes) => {
                let rel = record::archive_path(&rec.archive.file);
                let remote = cache.remote.clone();
                let read: crate::fetch::webseed::RangeFn = Arc::new(move |offset, len| {
                    let (remote, rel) = (remote.clone(), rel.clone());
                    Box::pin(async move { remote.get_range(&rel, offset, len).await.map_err(|e| e.to_string()) })
                });
                let seed = crate::fetch::webseed::WebSeed::new(
                    cache.remote.display(&record::archive_path(&rec.archive.file)),
                    read,
                );
                (crate::fetch::bt::TorrentSource::File(bytes), vec![seed])
            }
            None => (
                crate::fetch::bt::TorrentSource::Magnet {
                    link: magnet.clone(),
                    peers: crate::fetch::bt::team_peers(self.settings),
                },
                Vec::new(),
            ),
        };
        let (got, from_web) = crate::fetch::bt::download(
            &session,
            source,
            &dl,
            &rec.archive.file,
            crate::fetch::bt::Limits::of(self.settings),
            seeds,
            &indicatif::ProgressBar::hidden(),
            delivered,
        )
        .await
        .map_err(|e| Fail::Swarm(e.to_string()))?;
        let archive = tmp.path().join("archive.tar.zst");
        fs_err::rename(&got, &archive).map_err(|e| Fail::Store(e.into()))?;
        let a = archive.clone();
        let sha = tokio::task::spawn_blocking(move || crate::util::sha256_file(&a))
            .await
            .map_err(|e| Fail::Swarm(e.to_string()))?
            .map_err(|e| Fail::Store(e.into()))?;
        if sha != rec.archive.sha256 {
            return Err(Some(Fail::Refused(format!(
                "the archive's sha256 is {sha}, the signed record says {}",
                rec.archive.sha256
            ))));
        }
        // Every byte from the cache's URL (no peer sent any): the cache is
        // where it came from.
        let origin = if from_web >= rec.archive.size {
            cache.remote.url.clone()
        } else {
            format!("the swarm ({magnet})")
        };
        Ok((tmp, archive, origin))
    }

    /// The cache's `.torrent` of a record's archive, if it has one whose
    /// info dictionary hashes to the signed `btih` (anything else is
    /// ignored: the magnet then asks peers for the metadata).
    async fn torrent_of(&self, cache: &Cache, btih: &str, rec: &Record) -> Option<Vec<u8>> {
        if !cache.remote.ranged() {
            return None;
        }
        let path = record::torrent_path(&rec.archive.file);
        let bytes = cache.remote.get(&path, TORRENT_LIMIT).await.ok()?;
        let info = bytes.strip_prefix(b"d4:info")?.strip_suffix(b"e")?;
        use sha1::Digest;
        if hex::encode(sha1::Sha1::digest(info)) != btih {
            cache.warn(
                &rec.name,
                &format!(
                    "{}: not the torrent of the signed btih {btih}; ignored",
                    cache.remote.display(&path)
                ),
            );
            return None;
        }
        Some(bytes)
    }
}

/// Whether peers can be found at all: the DHT (and with it local peer
/// discovery) or a tracker.
fn swarm_usable(settings: &Settings) -> bool {
    !settings.offline && (settings.dht || !settings.trackers.is_empty())
}

enum Fail {
    /// The cache did not deliver.
    Remote(RemoteError),
    /// The swarm did not deliver.
    Swarm(String),
    /// It delivered something that is not what its record promised.
    Refused(String),
    /// Our own store failed.
    Store(crate::store::StoreError),
}

fn unpack_and_add(
    store: &Store,
    tmp: tempfile::TempDir,
    archive: &Path,
    digest: &str,
    record: PackageRecord,
) -> Result<(), Fail> {
    let out = tmp.path().join("out");
    fs_err::create_dir(&out).map_err(|e| Fail::Store(e.into()))?;
    let f = fs_err::File::open(archive).map_err(|e| Fail::Store(e.into()))?;
    use super::archive::Refusal;
    super::archive::unpack_checked(std::io::BufReader::new(f), &out, digest).map_err(|r| {
        Fail::Refused(match r {
            Refusal::Archive(e) => format!("bad archive: {e}"),
            Refusal::Digest { actual } => {
                format!("the unpacked tree's digest is {actual}, the signed record says {digest}")
            }
            Refusal::Unreadable(e) => e.to_string(),
        })
    })?;
    // The build lock: a build of the same package in another process and
    // this substitution do not both do the work.
    let id = PackageId::from_string(record.id.clone());
    let _lock = store.lock("build", id.as_str()).map_err(Fail::Store)?;
    if store.has_package(&id) {
        return Ok(());
    }
    let added = store.add_package(&out, record).map_err(Fail::Store)?;
    // The store normalises what it adds; what it ends up holding must still
    // be what was signed.
    if added.digest != digest {
        let _ = store.remove_package(&id);
        return Err(Fail::Refused(format!(
            "the store entry's digest is {}, the signed record says {digest}",
            added.digest
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(cache: usize, digest: &str, keys: &[u8]) -> Vote {
        Vote {
            cache,
            digest: digest.into(),
            keys: keys.iter().map(|&k| [k; 32]).collect(),
            signers: keys.iter().map(|k| format!("k{k}")).collect(),
            record: super::super::record::tests::sample(),
        }
    }

    #[test]
    fn quorum_counts_distinct_keys_across_caches() {
        // One key, quorum 1: accepted.
        assert_eq!(
            decide(&[vote(0, "D", &[1])], 1),
            Decision::Accept {
                digest: "D".into(),
                caches: vec![0]
            }
        );
        // Quorum 2: one key is not enough, even when it signed in two caches.
        assert_eq!(decide(&[vote(0, "D", &[1]), vote(1, "D", &[1])], 2), Decision::NoQuorum);
        // Two keys in two caches agreeing: accepted, from both.
        assert_eq!(
            decide(&[vote(0, "D", &[1]), vote(1, "D", &[2])], 2),
            Decision::Accept {
                digest: "D".into(),
                caches: vec![0, 1]
            }
        );
        // Two keys on one record.
        assert!(matches!(decide(&[vote(3, "D", &[1, 2])], 2), Decision::Accept { .. }));
        // An honest cache and one that signed another digest: no quorum of 2.
        assert_eq!(decide(&[vote(0, "D", &[1]), vote(1, "E", &[2])], 2), Decision::NoQuorum);
        // With quorum 1 they conflict: neither is taken.
        assert_eq!(
            decide(&[vote(0, "D", &[1]), vote(1, "E", &[2])], 1),
            Decision::Conflict {
                digests: vec!["D".into(), "E".into()]
            }
        );
        // Two agreeing against one dissenter, quorum 2: the majority digest,
        // downloaded only from caches that have it.
        assert_eq!(
            decide(&[vote(0, "E", &[3]), vote(1, "D", &[1]), vote(2, "D", &[2])], 2),
            Decision::Accept {
                digest: "D".into(),
                caches: vec![1, 2]
            }
        );
        assert_eq!(decide(&[], 1), Decision::NoQuorum);
    }

    #[test]
    fn a_record_must_be_about_the_package_and_trusted() {
        let sk = sign::SecretKey::generate("k1").unwrap();
        let mut rec = super::super::record::tests::sample();
        rec.signatures.clear();
        rec.signatures.push(sk.sign(&rec.to_value()));
        let want = Expect {
            id: &rec.id.clone(),
            name: "hello",
            version: "2.10",
            run_deps: rec.run_deps.clone(),
        };
        let trusted = vec![sk.public()];
        let bytes = rec.to_file_bytes();
        let v = check_record(&bytes, &want, &trusted, 0).unwrap();
        assert_eq!(v.signers, ["k1"]);
        let other = Expect {
            id: "ffffffffffffffffffffffffffffffff",
            ..want
        };
        assert!(check_record(&bytes, &other, &trusted, 0)
            .unwrap_err()
            .contains("not ffff"));
        let want = Expect {
            id: &rec.id.clone(),
            name: "hello",
            version: "2.10",
            run_deps: vec![],
        };
        assert!(check_record(&bytes, &want, &trusted, 0)
            .unwrap_err()
            .contains("runtime references"));
        let want = Expect {
            run_deps: rec.run_deps.clone(),
            ..want
        };
        let stranger = sign::SecretKey::generate("k2").unwrap();
        assert!(check_record(&bytes, &want, &[stranger.public()], 0)
            .unwrap_err()
            .contains("unknown key `k1`"));
        let mut tampered = rec.clone();
        tampered.digest = format!("blake3:{}", "00".repeat(32));
        let err = check_record(&tampered.to_file_bytes(), &want, &trusted, 0).unwrap_err();
        assert!(err.contains("bad signature by key `k1`"), "{err}");
    }
}
