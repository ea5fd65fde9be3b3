//! Getting sources: the content-addressed source cache, HTTP with mirrors,
//! BitTorrent (librqbit) fetch and seeding.
//!
//! A source is its sha256 (and the file name it is published under); its
//! URLs are only places to get it from. [`fetch`] tries them in order —
//! `https://`/`http://`, `mirror://NAME/path` (one URL per base of the
//! mirror, see [`mirrors`]), `magnet:` links, `.torrent` files or URLs and
//! `file://` — until one gives bytes with the right sha256. Every download
//! goes to a scratch directory inside the store and is committed by
//! [`Store::commit_source`] (verify, fsync, rename under the entry's lock),
//! so a wrong or half-downloaded file never becomes visible.

pub mod bt;
pub mod http;
pub mod mirrors;
pub mod seed;
pub mod torrent;
pub mod webseed;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Classify;
use crate::model::Source;
use crate::settings::Settings;
use crate::store::{Store, StoreError};

/// Why one origin (one URL, one magnet) did not give the source.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OriginError {
    #[error("HTTP {status} {reason}")]
    Http { status: u16, reason: String },
    #[error("{0}")]
    Network(String),
    #[error("no progress for {secs}s (stalled after {got} bytes)")]
    Stalled { secs: u64, got: u64 },
    #[error("{} the maximum download size of {} (maxDownloadSize / MAGPKG_MAX_DOWNLOAD_SIZE)",
        announced.map(|a| format!("the server announces {}, more than", human_bytes(a)))
            .unwrap_or_else(|| "the body was cut off at".into()),
        human_bytes(*limit))]
    TooBig { limit: u64, announced: Option<u64> },
    #[error("the torrent's file has {}, more than the maximum download size of {} (maxDownloadSize / MAGPKG_MAX_DOWNLOAD_SIZE); nothing of it was downloaded",
        human_bytes(*size), human_bytes(*limit))]
    TorrentTooBig { size: u64, limit: u64 },
    #[error("slower than the minimum rate of {min} bytes/s (minRate / MAGPKG_MIN_RATE): {rate} bytes/s over the last {secs}s; given up after {got} bytes")]
    TooSlow { rate: u64, min: u64, secs: u64, got: u64 },
    #[error("wrong file: expected sha256 {expected}, got {actual}")]
    HashMismatch { expected: String, actual: String },
    /// A local file that is not the pinned one. Its digest is not shown: a
    /// definition must not be able to learn the sha256 of any file on this
    /// machine by naming it.
    #[error("wrong file: it is not the file with the pinned sha256 {expected}")]
    WrongLocalFile { expected: String },
    #[error("BitTorrent: {0}")]
    Torrent(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Unsupported(String),
}

/// One failed origin of a source.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The URL (after `mirror://` expansion) or magnet.
    pub origin: String,
    pub error: OriginError,
}

fn list_failures(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(|f| format!("\n  {}: {}", f.origin, f.error))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("source {filename} (sha256 {sha256}) lists no URL to fetch it from")]
    NoUrls { filename: String, sha256: String },
    #[error("source {filename} (sha256 {sha256}) is not in the source cache, and magpkg is offline")]
    Offline { filename: String, sha256: String },
    #[error("{url}: unknown mirror `{name}` (known: {})", known.join(", "))]
    UnknownMirror {
        url: String,
        name: String,
        known: Vec<String>,
    },
    #[error(
        "cannot fetch {filename} (sha256 {sha256}), every origin failed:{}",
        list_failures(failures)
    )]
    Failed {
        filename: String,
        sha256: String,
        failures: Vec<Failure>,
    },
    #[error("{failed} of {total} sources could not be fetched; the first: {first}")]
    Several {
        failed: usize,
        total: usize,
        #[source]
        first: Box<FetchError>,
    },
    #[error("no cached source matches `{needle}`")]
    NotCached { needle: String },
    #[error("`{needle}` matches several cached sources:{}", matches.iter().map(|m| format!("\n  {m}")).collect::<String>())]
    Ambiguous { needle: String, matches: Vec<String> },
    #[error("{filename} is empty; BitTorrent cannot share an empty file")]
    EmptyFile { filename: String },
    /// A file operation failed; the error (from `fs_err`, or
    /// [`crate::util::at`]) names the operation and the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("BitTorrent session: {message}")]
    Session { message: String },
    #[error("cannot seed on port {port}: {message}")]
    Listen { port: u16, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for FetchError {
    fn is_user_error(&self) -> bool {
        match self {
            FetchError::Io(_) | FetchError::Session { .. } => false,
            FetchError::Store(e) => e.is_user_error(),
            FetchError::Several { first, .. } => first.is_user_error(),
            _ => true,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            FetchError::NoUrls { .. } => Some("add a URL, a mirror:// URL or a magnet to the source's `urls`".into()),
            FetchError::Offline { .. } => Some(
                "go online, or import the file with `magpkg source add FILE` (it is found by its sha256)".into(),
            ),
            FetchError::UnknownMirror { name, .. } => Some(format!(
                "define it in config.jsonnet (`mirrors: {{ {name}: [\"https://...\"] }}`) or with MAGPKG_MIRRORS='{name}=URL'"
            )),
            FetchError::Failed { failures, .. } => {
                if failures.iter().all(|f| matches!(f.error, OriginError::TooSlow { .. })) {
                    Some(
                        "every server was too slow: on a slow link, lower minRate (config) or MAGPKG_MIN_RATE \
                         (bytes/s, 0 disables the check), or add a mirror"
                            .into(),
                    )
                } else if failures
                    .iter()
                    .any(|f| matches!(f.error, OriginError::TooBig { .. } | OriginError::TorrentTooBig { .. }))
                {
                    Some(
                        "a server sent more than a source may have: if the file really is that large, raise \
                         maxDownloadSize (config) or MAGPKG_MAX_DOWNLOAD_SIZE (bytes)"
                            .into(),
                    )
                } else if failures
                    .iter()
                    .any(|f| matches!(f.error, OriginError::HashMismatch { .. } | OriginError::WrongLocalFile { .. }))
                {
                    Some(
                        "a server gave a different file than the definition pins: check the URL and the sha256 \
                         (an upstream that re-released a tarball needs a new sha256)"
                            .into(),
                    )
                } else {
                    Some(
                        "check the network, add a mirror (config `mirrors` or MAGPKG_MIRRORS), or import a copy \
                         you have with `magpkg source add FILE`"
                            .into(),
                    )
                }
            }
            FetchError::Several { first, .. } => first.hint(),
            FetchError::NotCached { .. } => Some("`magpkg source list` shows the cached sources".into()),
            FetchError::Ambiguous { .. } => Some("give the full sha256".into()),
            FetchError::Listen { .. } => {
                Some("another program uses that port: pick another with --port, or 0 for any free port".into())
            }
            FetchError::Store(e) => e.hint(),
            _ => None,
        }
    }
}

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Show progress bars (on a terminal).
    pub progress: bool,
}

/// One source that was downloaded.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub source: Source,
    /// Its path in the store's source cache.
    pub path: PathBuf,
    /// The URL (or peer) it came from.
    pub origin: String,
    pub bytes: u64,
}

/// What [`fetch`] did.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    pub fetched: Vec<Fetched>,
    /// Sources that were already in the cache.
    pub cached: Vec<Source>,
}

/// Make sure every source is in the store's source cache, downloading the
/// missing ones (in parallel, bounded by `settings.fetch_jobs`) from their
/// URLs in order until one verifies.
pub fn fetch(
    sources: &[Source],
    store: &Store,
    settings: &Settings,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    let mut report = FetchReport::default();
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    for s in sources {
        if !seen.insert((s.sha256.to_ascii_lowercase(), s.filename.clone())) {
            continue;
        }
        if store.source(&s.sha256.to_ascii_lowercase(), &s.filename)?.is_some() {
            report.cached.push(s.clone());
        } else {
            missing.push(s.clone());
        }
    }
    if missing.is_empty() {
        return Ok(report);
    }
    if settings.offline {
        let s = &missing[0];
        return Err(FetchError::Offline {
            filename: s.filename.clone(),
            sha256: s.sha256.clone(),
        });
    }
    let total = missing.len();
    let results = block_on(fetch_all(missing, store.clone(), settings.clone(), opts.clone()))?;
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(Ok(f)) => report.fetched.push(f),
            // Another process fetched it while we waited for its lock.
            Ok(Err(cached)) => report.cached.push(cached),
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(report),
        1 => Err(errors.remove(0)),
        n => Err(FetchError::Several {
            failed: n,
            total,
            first: Box::new(errors.remove(0)),
        }),
    }
}

/// Run a future on a fresh runtime, from a thread of our own if the caller
/// is already inside one (a runtime cannot block inside another).
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output, FetchError>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    let run = || -> Result<F::Output, FetchError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| FetchError::Session {
                message: format!("cannot start the async runtime: {e}"),
            })?;
        let out = rt.block_on(fut);
        // librqbit leaves background tasks (DHT, peers) that need no goodbye.
        rt.shutdown_background();
        Ok(out)
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(run).join().expect("fetch thread panicked"))
    } else {
        run()
    }
}

/// Shared by every download of one [`fetch`] call.
struct Ctx {
    store: Store,
    settings: Settings,
    client: reqwest::Client,
    limits: http::HttpLimits,
    session: tokio::sync::OnceCell<Result<Arc<librqbit::Session>, String>>,
    multi: MultiProgress,
}

impl Ctx {
    async fn session(&self) -> Result<Arc<librqbit::Session>, OriginError> {
        self.session
            .get_or_init(|| async {
                let scratch = self.store.bucket(crate::store::TMP);
                bt::session(&self.settings, &scratch, Some(0), &[]).await
            })
            .await
            .clone()
            .map_err(|e| OriginError::Torrent(format!("cannot start a session: {e}")))
    }

    fn bar(&self, filename: &str) -> ProgressBar {
        if self.multi.is_hidden() {
            return ProgressBar::hidden();
        }
        let pb = self.multi.add(ProgressBar::no_length());
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:30!} {bar:25} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
            )
            .expect("valid template"),
        );
        pb.set_prefix(filename.to_string());
        pb
    }
}

async fn fetch_all(
    missing: Vec<Source>,
    store: Store,
    settings: Settings,
    opts: FetchOptions,
) -> Vec<Result<Result<Fetched, Source>, FetchError>> {
    let limits = http::HttpLimits {
        timeout: settings.http_timeout,
        stall: settings.stall_timeout,
        retries: settings.retries,
        max_size: settings.max_download_size,
        min_rate: settings.min_rate,
    };
    let client = match http::client(&limits) {
        Ok(c) => c,
        Err(message) => {
            return vec![Err(FetchError::Session {
                message: format!("cannot create the HTTP client: {message}"),
            })]
        }
    };
    let multi = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let ctx = Arc::new(Ctx {
        store,
        limits,
        client,
        session: tokio::sync::OnceCell::new(),
        multi,
        settings,
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(ctx.settings.fetch_jobs.max(1)));
    let tasks: Vec<_> = missing
        .into_iter()
        .map(|s| {
            let ctx = ctx.clone();
            let permits = permits.clone();
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore open");
                fetch_one(&ctx, s).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| {
            Err(FetchError::Session {
                message: format!("a download task failed: {e}"),
            })
        }));
    }
    if let Some(Ok(s)) = ctx.session.get() {
        s.cancellation_token().cancel();
    }
    out
}

/// Fetch one source. `Ok(Err(source))`: another process cached it while
/// we waited for its lock.
async fn fetch_one(ctx: &Ctx, source: Source) -> Result<Result<Fetched, Source>, FetchError> {
    let sha = source.sha256.to_ascii_lowercase();
    // One download of a source at a time across processes; the second
    // finds it cached once the first is done.
    let store = ctx.store.clone();
    let key = sha.clone();
    let _lock = tokio::task::spawn_blocking(move || store.lock("fetch", &key))
        .await
        .expect("lock task")?;
    if ctx.store.source(&sha, &source.filename)?.is_some() {
        tracing::debug!(source = %source.filename, "already in the source cache");
        return Ok(Err(source));
    }
    if source.urls.is_empty() {
        return Err(FetchError::NoUrls {
            filename: source.filename.clone(),
            sha256: sha,
        });
    }
    let mut failures = Vec::new();
    let mut origins = Vec::new();
    for url in &source.urls {
        match mirrors::expand(url, &ctx.settings.mirrors, &ctx.settings.apt_dir) {
            Ok(u) => origins.extend(u),
            Err(FetchError::UnknownMirror { name, known, .. }) => failures.push(Failure {
                origin: url.clone(),
                error: OriginError::Unsupported(format!(
                    "unknown mirror `{name}` (known: {}; configure it in `mirrors` or MAGPKG_MIRRORS)",
                    known.join(", ")
                )),
            }),
            Err(e) => return Err(e),
        }
    }
    // BitTorrent and the other origins race, each lane in the order of the
    // definition: the swarm first, the others after `swarmWait` if no peer
    // has delivered (or as soon as BitTorrent failed), so a file peers have
    // costs the mirrors nothing, and a magnet nobody seeds holds up an HTTP
    // mirror for `swarmWait`, not the whole stall timeout.
    tracing::debug!(source = %source.filename, ?origins, "origins, in the definition's order");
    let is_bt = |o: &String| o.starts_with("magnet:") || (is_torrent_url(o) && !source.filename.ends_with(".torrent"));
    let (bt, other): (Vec<String>, Vec<String>) = origins.iter().cloned().partition(is_bt);
    let delivered = AtomicU64::new(0);
    let web_seeds: Vec<String> = other
        .iter()
        .filter(|o| o.starts_with("http://") || o.starts_with("https://"))
        .cloned()
        .collect();
    let (fa, fb) = if bt.is_empty() || other.is_empty() {
        // One kind of origin: nothing to race.
        let only = if bt.is_empty() { &other } else { &bt };
        (lane(ctx, &source, &sha, only, &[], &delivered).await, Err(Vec::new()))
    } else {
        // The swarm first, HTTP (and the other origins) after a bounded
        // wait, whatever the order of the definition: what peers serve
        // costs the origins nothing.
        race_swarm(
            // The HTTP origins are the swarm's web seeds too (BEP 19):
            // once a peer gave the metadata, they feed pieces into it.
            lane(ctx, &source, &sha, &bt, &web_seeds, &delivered),
            &delivered,
            ctx.settings.swarm_wait.min(ctx.settings.stall_timeout),
            lane(ctx, &source, &sha, &other, &[], &AtomicU64::new(0)),
        )
        .await
    };
    let (fa, fb) = match (fa, fb) {
        (Ok(f), _) | (_, Ok(f)) => return Ok(Ok(f)),
        (Err(a), Err(b)) => (Some(a), Some(b)),
    };
    failures.extend(fa.unwrap_or_default());
    failures.extend(fb.unwrap_or_default());
    Err(FetchError::Failed {
        filename: source.filename.clone(),
        sha256: sha.clone(),
        failures,
    })
}

/// Race a swarm download against HTTP. The swarm starts at once; `http`
/// (a future not polled yet) joins after `wait` if the swarm has delivered
/// no byte by then (`delivered`), or as soon as the swarm fails. A swarm
/// that is delivering keeps the download to itself until it fails (a stall
/// included). The first success wins and the other future is dropped,
/// which cancels it. Returns (the swarm's result, HTTP's result); a side
/// that never finished (it lost, or never started) is `Err(E::default())`.
pub async fn race_swarm<T, E: Default>(
    swarm: impl std::future::Future<Output = Result<T, E>>,
    delivered: &AtomicU64,
    wait: std::time::Duration,
    http: impl std::future::Future<Output = Result<T, E>>,
) -> (Result<T, E>, Result<T, E>) {
    let swarm_failed = tokio::sync::Notify::new();
    let swarm = async {
        let r = swarm.await;
        if r.is_err() {
            swarm_failed.notify_one();
        }
        r
    };
    let http = async {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                if delivered.load(Ordering::Relaxed) > 0 {
                    swarm_failed.notified().await;
                }
            }
            _ = swarm_failed.notified() => {}
        }
        tracing::debug!(
            swarm_bytes = delivered.load(Ordering::Relaxed),
            "HTTP origins join the swarm's download"
        );
        http.await
    };
    tokio::pin!(swarm, http);
    let (mut a, mut b) = (None, None);
    loop {
        tokio::select! {
            r = &mut swarm, if a.is_none() => match r {
                Ok(f) => return (Ok(f), Err(E::default())),
                Err(e) => a = Some(e),
            },
            r = &mut http, if b.is_none() => match r {
                Ok(f) => return (Err(a.unwrap_or_default()), Ok(f)),
                Err(e) => b = Some(e),
            },
        }
        if a.is_some() && b.is_some() {
            return (Err(a.unwrap_or_default()), Err(b.unwrap_or_default()));
        }
    }
}

/// Try origins in order until one gives the source.
async fn lane(
    ctx: &Ctx,
    source: &Source,
    sha: &str,
    origins: &[String],
    web_seeds: &[String],
    delivered: &AtomicU64,
) -> Result<Fetched, Vec<Failure>> {
    let mut failures = Vec::new();
    for origin in origins {
        let pb = ctx.bar(&source.filename);
        let r = try_origin(ctx, &source.filename, sha, origin, web_seeds, &pb, delivered).await;
        pb.finish_and_clear();
        match r {
            Ok((path, bytes)) => {
                tracing::debug!(source = %source.filename, %origin, bytes, "fetched and verified");
                return Ok(Fetched {
                    source: source.clone(),
                    path,
                    origin: origin.clone(),
                    bytes,
                });
            }
            Err(error) => {
                tracing::debug!(source = %source.filename, %origin, %error, "origin failed; trying the next");
                failures.push(Failure {
                    origin: origin.clone(),
                    error,
                })
            }
        }
    }
    Err(failures)
}

fn is_torrent_url(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.ends_with(".torrent")
}

async fn try_origin(
    ctx: &Ctx,
    filename: &str,
    sha: &str,
    origin: &str,
    web_seeds: &[String],
    pb: &ProgressBar,
    delivered: &AtomicU64,
) -> Result<(PathBuf, u64), OriginError> {
    let store_err = |e: StoreError| OriginError::Io(e.to_string());
    // A source that *is* a .torrent file is fetched like any other file.
    let torrent = is_torrent_url(origin) && !filename.ends_with(".torrent");
    if origin.starts_with("magnet:") {
        let info = torrent::parse_magnet(origin).map_err(OriginError::Torrent)?;
        let mut peers = torrent::resolve_peers(&info.peers);
        peers.extend(bt::team_peers(&ctx.settings));
        let src = bt::TorrentSource::Magnet {
            link: origin.to_string(),
            peers,
        };
        return via_torrent(ctx, filename, sha, origin, src, web_seeds, pb, delivered).await;
    }
    if torrent {
        let bytes = if origin.starts_with("http://") || origin.starts_with("https://") {
            let tmp = ctx.store.tempdir("torrent-").map_err(store_err)?;
            let dest = tmp.path().join("t.torrent");
            http::download(&ctx.client, origin, &dest, &ctx.limits, &ProgressBar::hidden()).await?;
            fs_err::read(&dest).map_err(|e| OriginError::Io(e.to_string()))?
        } else {
            let path = local_path(origin);
            fs_err::read(&path).map_err(|e| OriginError::Io(e.to_string()))?
        };
        return via_torrent(
            ctx,
            filename,
            sha,
            origin,
            bt::TorrentSource::File(bytes),
            web_seeds,
            pb,
            delivered,
        )
        .await;
    }
    if origin.starts_with("http://") || origin.starts_with("https://") {
        let tmp = ctx.store.tempdir("fetch-").map_err(store_err)?;
        let dest = tmp.path().join(filename);
        let (bytes, actual) = http::download(&ctx.client, origin, &dest, &ctx.limits, pb).await?;
        let path = commit_hashed(ctx, pb, tmp, filename, sha, &actual, origin).await?;
        return Ok((path, bytes));
    }
    if origin.starts_with("file:") || origin.starts_with('/') {
        let path = local_path(origin);
        let store = ctx.store.clone();
        let (f, s, o) = (filename.to_string(), sha.to_string(), origin.to_string());
        let r = tokio::task::spawn_blocking(move || store.add_source_file(&path, &f, Some(&s), &o))
            .await
            .expect("copy task");
        let (_, path) = r.map_err(|e| match e {
            StoreError::HashMismatch { expected, .. } => OriginError::WrongLocalFile { expected },
            e => origin_error(e),
        })?;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        return Ok((path, bytes));
    }
    Err(OriginError::Unsupported(
        "unsupported URL (use http(s)://, mirror://NAME/..., magnet:, file:// or a .torrent)".into(),
    ))
}

fn local_path(origin: &str) -> PathBuf {
    match url::Url::parse(origin) {
        Ok(u) if u.scheme() == "file" => u.to_file_path().unwrap_or_else(|_| PathBuf::from(u.path())),
        _ => PathBuf::from(origin),
    }
}

#[allow(clippy::too_many_arguments)]
async fn via_torrent(
    ctx: &Ctx,
    filename: &str,
    sha: &str,
    origin: &str,
    src: bt::TorrentSource,
    web_seeds: &[String],
    pb: &ProgressBar,
    delivered: &AtomicU64,
) -> Result<(PathBuf, u64), OriginError> {
    let session = ctx.session().await?;
    let seeds = web_seeds
        .iter()
        .map(|u| webseed::WebSeed::http(ctx.client.clone(), u.clone()))
        .collect();
    let dl = ctx.store.tempdir("bt-").map_err(|e| OriginError::Io(e.to_string()))?;
    let (got, _) = bt::download(
        &session,
        src,
        dl.path(),
        filename,
        bt::Limits::of(&ctx.settings),
        seeds,
        pb,
        delivered,
    )
    .await?;
    // Move just the wanted file into a clean scratch dir: a multi-file
    // torrent may have left other files next to it.
    let tmp = ctx
        .store
        .tempdir("fetch-")
        .map_err(|e| OriginError::Io(e.to_string()))?;
    fs_err::rename(&got, tmp.path().join(filename)).map_err(|e| OriginError::Io(e.to_string()))?;
    drop(dl);
    let bytes = std::fs::metadata(tmp.path().join(filename))
        .map(|m| m.len())
        .unwrap_or(0);
    let path = commit(ctx, pb, tmp, filename, sha, origin).await?;
    Ok((path, bytes))
}

/// Verify and move a downloaded file into the cache (blocking work: hash,
/// fsync, rename).
async fn commit(
    ctx: &Ctx,
    pb: &ProgressBar,
    tmp: tempfile::TempDir,
    filename: &str,
    sha: &str,
    origin: &str,
) -> Result<PathBuf, OriginError> {
    let store = ctx.store.clone();
    let (f, s, o) = (filename.to_string(), sha.to_string(), origin.to_string());
    pb.set_message("verifying");
    tokio::task::spawn_blocking(move || store.commit_source(tmp, &f, Some(&s), &o))
        .await
        .expect("commit task")
        .map(|(_, p)| p)
        .map_err(origin_error)
}

/// [`commit`] for a file whose sha256 was computed while it downloaded.
async fn commit_hashed(
    ctx: &Ctx,
    pb: &ProgressBar,
    tmp: tempfile::TempDir,
    filename: &str,
    sha: &str,
    actual: &str,
    origin: &str,
) -> Result<PathBuf, OriginError> {
    let store = ctx.store.clone();
    let (f, s, a, o) = (
        filename.to_string(),
        sha.to_string(),
        actual.to_string(),
        origin.to_string(),
    );
    pb.set_message("verifying");
    tokio::task::spawn_blocking(move || store.commit_source_hashed(tmp, &f, Some(&s), &a, &o))
        .await
        .expect("commit task")
        .map(|(_, p)| p)
        .map_err(origin_error)
}

fn origin_error(e: StoreError) -> OriginError {
    match e {
        StoreError::HashMismatch { expected, actual, .. } => OriginError::HashMismatch { expected, actual },
        e => OriginError::Io(crate::fetch::http::chain(&e)),
    }
}

// ------------------------------------------------------------ source cache

/// Import local files into the source cache by their sha256 (the file name
/// is kept). Returns (sha256, path in the store) for each.
pub fn add_files(store: &Store, files: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, FetchError> {
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
            crate::util::at("add", f, e)
        })?;
        if !f.is_file() {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(crate::util::at("add", f, e).into());
        }
        let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
        out.push(store.add_source_file(f, &name, None, &format!("file://{}", abs.display()))?);
    }
    Ok(out)
}

/// One cached source: its sha256, file name and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub sha256: String,
    pub filename: String,
    pub path: PathBuf,
}

/// Every cached source (one entry per name).
pub fn cached(store: &Store) -> Result<Vec<Cached>, FetchError> {
    Ok(store
        .sources()?
        .into_iter()
        .filter(|(_, p)| p.is_file())
        .map(|(sha256, path)| Cached {
            sha256,
            filename: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path,
        })
        .collect())
}

/// The cached source named by `needle`: a sha256 (or a unique prefix of at
/// least 8 digits) or a file name.
pub fn find_cached(store: &Store, needle: &str) -> Result<Cached, FetchError> {
    let all = cached(store)?;
    let lower = needle.to_ascii_lowercase();
    let by_hash = needle.len() >= 8 && needle.bytes().all(|b| b.is_ascii_hexdigit());
    let matches: Vec<Cached> = all
        .into_iter()
        .filter(|c| c.filename == needle || (by_hash && c.sha256.starts_with(&lower)))
        .collect();
    match matches.len() {
        0 => Err(FetchError::NotCached {
            needle: needle.to_string(),
        }),
        1 => Ok(matches.into_iter().next().expect("one")),
        _ => Err(FetchError::Ambiguous {
            needle: needle.to_string(),
            matches: matches
                .iter()
                .map(|c| format!("{}  {}", c.sha256, c.filename))
                .collect(),
        }),
    }
}

/// The deterministic torrent of a cached source.
pub fn torrent_of(c: &Cached) -> Result<torrent::TorrentMeta, FetchError> {
    let meta = torrent::from_file(&c.path, &c.filename)?;
    if meta.length == 0 {
        return Err(FetchError::EmptyFile {
            filename: c.filename.clone(),
        });
    }
    Ok(meta)
}

/// Size in a short human form (`12.3 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(12_900_000), "12.3 MiB");
    }

    #[test]
    fn torrent_urls() {
        assert!(is_torrent_url("http://x/a.torrent"));
        assert!(is_torrent_url("http://x/a.torrent?x=1"));
        assert!(!is_torrent_url("http://x/a.tar.gz"));
    }

    #[test]
    fn failed_error_names_every_origin() {
        let e = FetchError::Failed {
            filename: "a.tar.gz".into(),
            sha256: "ab".into(),
            failures: vec![
                Failure {
                    origin: "http://127.0.0.1:1/a.tar.gz".into(),
                    error: OriginError::Http {
                        status: 404,
                        reason: "Not Found".into(),
                    },
                },
                Failure {
                    origin: "http://127.0.0.1:2/a.tar.gz".into(),
                    error: OriginError::HashMismatch {
                        expected: "ab".into(),
                        actual: "cd".into(),
                    },
                },
            ],
        };
        let s = e.to_string();
        assert!(s.contains("http://127.0.0.1:1/a.tar.gz: HTTP 404 Not Found"), "{s}");
        assert!(
            s.contains("http://127.0.0.1:2/a.tar.gz: wrong file: expected sha256 ab, got cd"),
            "{s}"
        );
        assert!(e.is_user_error());
        assert!(e.hint().unwrap().contains("sha256"));
    }
}
