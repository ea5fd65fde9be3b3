//! Seeding the source cache over BitTorrent (`magpkg seed`).
//!
//! Every cached source is offered as its deterministic torrent
//! ([`super::torrent`]), read in place from `sources-v1/<sha256>/` through a
//! storage that refuses writes ([`super::bt::ReadOnlyStorageFactory`]): no
//! second copy of the bytes, and the verified file cannot be modified. The
//! cache is scanned again every few seconds so sources fetched while the
//! seeder runs are offered too; sources removed from the store stop being
//! seeded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{bt, Cached, FetchError};
use crate::settings::Settings;
use crate::store::Store;

/// How to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Port to accept peers on (all interfaces); 0 = any free port.
    pub port: u16,
    /// Trackers to announce to, besides `settings.trackers`.
    pub trackers: Vec<String>,
    /// How often the cache is scanned for new sources.
    pub poll: Duration,
}

/// What the seeder reports while it runs.
#[derive(Debug, Clone)]
pub enum SeedEvent {
    /// Accepting peers on this port.
    Listening { port: u16 },
    /// A source is now offered.
    Seeding { source: Cached, magnet: String },
    /// A source could not be offered (e.g. empty or unreadable).
    Skipped { source: Cached, reason: String },
    /// A source left the store and is no longer offered.
    Removed { source: Cached },
    /// Ctrl-C or SIGTERM: the session was stopped.
    Stopped,
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
    let session = bt::session(settings, &scratch, Some(opts.port), &opts.trackers)
        .await
        .map_err(|message| FetchError::Listen {
            port: opts.port,
            message,
        })?;
    let port = session.listen_addr().map(|a| a.port()).unwrap_or(opts.port);
    on_event(SeedEvent::Listening { port });

    // Path in the store → the torrent seeding it.
    let mut seeding: BTreeMap<PathBuf, (Cached, Arc<librqbit::ManagedTorrent>)> = BTreeMap::new();
    // Sources that failed once are not retried on every scan.
    let mut skipped: BTreeMap<PathBuf, ()> = BTreeMap::new();
    let mut tick = tokio::time::interval(opts.poll);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick.tick() => {}
        }
        let now = super::cached(store)?;
        for c in &now {
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
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let dir = c.path.parent().expect("a source file has a directory");
            let trackers: Vec<String> = settings.trackers.iter().chain(&opts.trackers).cloned().collect();
            match bt::seed(&session, meta.torrent_file(&trackers), dir).await {
                Ok(handle) => {
                    seeding.insert(c.path.clone(), (c.clone(), handle));
                    on_event(SeedEvent::Seeding {
                        source: c.clone(),
                        magnet: meta.magnet(&[]),
                    });
                }
                Err(reason) => {
                    skipped.insert(c.path.clone(), ());
                    on_event(SeedEvent::Skipped {
                        source: c.clone(),
                        reason,
                    });
                }
            }
        }
        let gone: Vec<PathBuf> = seeding
            .keys()
            .filter(|p| !now.iter().any(|c| &c.path == *p))
            .cloned()
            .collect();
        for p in gone {
            if let Some((c, h)) = seeding.remove(&p) {
                bt::unseed(&session, &h).await;
                on_event(SeedEvent::Removed { source: c });
            }
        }
    }
    session.stop().await;
    on_event(SeedEvent::Stopped);
    Ok(())
}
