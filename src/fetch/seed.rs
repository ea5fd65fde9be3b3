//! Seeding the source cache over BitTorrent (`magpkg seed`).
//!
//! Every cached source is offered as its deterministic torrent
//! ([`super::torrent`]), read in place from `sources-v1/<sha256>/` through a
//! storage that refuses writes ([`super::bt::ReadOnlyStorageFactory`]): no
//! second copy of the bytes, and the verified file cannot be modified. The
//! cache is scanned again every few seconds so sources fetched while the
//! seeder runs are offered too; sources removed from the store stop being
//! seeded. The caller may add more files (`magpkg seed` adds the store's
//! packages as binary-cache archives, see `cache::seedable`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{bt, Cached, FetchError};
use crate::settings::Settings;
use crate::store::Store;

/// Files to seed besides the source cache (the store's packages as
/// archives), each with how to name it; asked again on every scan, in a
/// blocking task (it may pack archives).
pub type Extra = Arc<dyn Fn() -> Vec<(Cached, String)> + Send + Sync>;

/// How to seed.
#[derive(Clone)]
pub struct SeedOptions {
    /// Port to accept peers on (all interfaces); 0 = any free port.
    pub port: u16,
    /// Trackers to announce to, besides `settings.trackers`.
    pub trackers: Vec<String>,
    /// How often the cache is scanned for new sources.
    pub poll: Duration,
    /// More files to seed.
    pub extra: Option<Extra>,
    /// Bytes per second sent to peers at most, all files together.
    pub max_upload_rate: Option<std::num::NonZeroU32>,
}

/// What the seeder reports while it runs.
#[derive(Debug, Clone)]
pub enum SeedEvent {
    /// Accepting peers on this port.
    Listening { port: u16 },
    /// A file is now offered; `label` says what it is (a source's file
    /// name, a package's name and version).
    Seeding {
        source: Cached,
        label: String,
        magnet: String,
    },
    /// A file could not be offered (e.g. empty or unreadable).
    Skipped {
        source: Cached,
        label: String,
        reason: String,
    },
    /// A file left the store and is no longer offered.
    Removed { source: Cached, label: String },
    /// Ctrl-C or SIGTERM: the session was stopped, after sending
    /// `uploaded` bytes of pieces to peers.
    Stopped { uploaded: u64 },
}

/// Seed until interrupted (Ctrl-C / SIGTERM).
pub fn seed(
    store: &Store,
    settings: &Settings,
    opts: &SeedOptions,
    on_event: impl FnMut(SeedEvent) + Send,
) -> Result<(), FetchError> {
    super::block_on(run(store, settings, opts, on_event))?
}

async fn run(
    store: &Store,
    settings: &Settings,
    opts: &SeedOptions,
    mut on_event: impl FnMut(SeedEvent) + Send,
) -> Result<(), FetchError> {
    use tokio::signal::unix::{signal, SignalKind};
    // Install the handlers first: a signal that arrives while the session
    // starts must still stop us cleanly.
    let mut term = signal(SignalKind::terminate()).map_err(|e| FetchError::Session {
        message: format!("cannot handle SIGTERM: {e}"),
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| FetchError::Session {
        message: format!("cannot handle SIGINT: {e}"),
    })?;
    let scratch = store.bucket(crate::store::TMP);
    let session = bt::session_limited(
        settings,
        &scratch,
        Some(opts.port),
        &opts.trackers,
        opts.max_upload_rate,
    )
    .await
    .map_err(|message| FetchError::Listen {
        port: opts.port,
        message,
    })?;
    let port = session.listen_addr().map(|a| a.port()).unwrap_or(opts.port);
    on_event(SeedEvent::Listening { port });

    // Path in the store → the torrent seeding it.
    let mut seeding: BTreeMap<PathBuf, (Cached, String, Arc<librqbit::ManagedTorrent>)> = BTreeMap::new();
    // Files that failed once are not retried on every scan.
    let mut skipped: BTreeMap<PathBuf, ()> = BTreeMap::new();
    let mut tick = tokio::time::interval(opts.poll);
    let mut uploaded = 0u64;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick.tick() => {}
        }
        let mut now: Vec<(Cached, String)> = super::cached(store)?
            .into_iter()
            .map(|c| {
                let label = c.filename.clone();
                (c, label)
            })
            .collect();
        if let Some(extra) = &opts.extra {
            let extra = extra.clone();
            now.extend(tokio::task::spawn_blocking(move || extra()).await.expect("scan task"));
        }
        for (c, label) in &now {
            if seeding.contains_key(&c.path) || skipped.contains_key(&c.path) {
                continue;
            }
            let cc = c.clone();
            let meta = tokio::task::spawn_blocking(move || super::torrent_of(&cc))
                .await
                .expect("hash task");
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    skipped.insert(c.path.clone(), ());
                    on_event(SeedEvent::Skipped {
                        source: c.clone(),
                        label: label.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let dir = c.path.parent().expect("a seeded file has a directory");
            let trackers: Vec<String> = settings.trackers.iter().chain(&opts.trackers).cloned().collect();
            match bt::seed(&session, meta.torrent_file(&trackers), dir).await {
                Ok(handle) => {
                    seeding.insert(c.path.clone(), (c.clone(), label.clone(), handle));
                    on_event(SeedEvent::Seeding {
                        source: c.clone(),
                        label: label.clone(),
                        magnet: meta.magnet(&[]),
                    });
                }
                Err(reason) => {
                    skipped.insert(c.path.clone(), ());
                    on_event(SeedEvent::Skipped {
                        source: c.clone(),
                        label: label.clone(),
                        reason,
                    });
                }
            }
        }
        let gone: Vec<PathBuf> = seeding
            .keys()
            .filter(|p| !now.iter().any(|(c, _)| &c.path == *p))
            .cloned()
            .collect();
        for p in gone {
            if let Some((c, label, h)) = seeding.remove(&p) {
                uploaded += h.stats().uploaded_bytes;
                bt::unseed(&session, &h).await;
                on_event(SeedEvent::Removed { source: c, label });
            }
        }
    }
    uploaded += seeding.values().map(|(_, _, h)| h.stats().uploaded_bytes).sum::<u64>();
    session.stop().await;
    on_event(SeedEvent::Stopped { uploaded });
    Ok(())
}
