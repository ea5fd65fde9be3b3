//! `magpkg seed`: offer every cached source and every package of the store
//! (as its binary-cache archive) over BitTorrent until Ctrl-C.

use std::io::Write;
use std::time::Duration;

use super::Ctx;
use crate::fetch::seed::{self, SeedEvent, SeedOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to accept peers on, on every interface [config: seedPort; default: dhtPort, or any free port]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Announce to this tracker too (repeatable) [config: trackers]
    #[arg(long, value_name = "URL")]
    pub tracker: Vec<String>,
    /// Seconds between scans of the store for new sources and packages
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub poll: u64,
    /// Seed only the source cache, not the store's packages
    #[arg(long)]
    pub sources_only: bool,
    /// Send at most this many bytes per second to peers, all files together
    #[arg(long, value_name = "BYTES")]
    pub max_upload_rate: Option<std::num::NonZeroU32>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    let opts = SeedOptions {
        // On a team DHT the DHT port is the peer port too (see
        // fetch::bt::team_peers).
        port: args
            .port
            .or(ctx.settings.seed_port)
            .or(ctx.settings.dht_port.filter(|_| ctx.settings.dht))
            .unwrap_or(0),
        trackers: args.tracker,
        poll: Duration::from_secs(args.poll.max(1)),
        max_upload_rate: args.max_upload_rate,
        extra: (!args.sources_only).then(|| {
            let store = store.clone();
            let warned = std::sync::Mutex::new(std::collections::BTreeSet::new());
            let extra: seed::Extra = std::sync::Arc::new(move || package_archives(&store, &warned));
            extra
        }),
    };
    let quiet = ctx.global.quiet;
    seed::seed(&store, &ctx.settings, &opts, |ev| {
        // Lines on stdout, one per event, so scripts can follow them; a
        // closed stdout is ignored (seeding goes on).
        let mut out = std::io::stdout().lock();
        let _ = match ev {
            SeedEvent::Listening { port } => writeln!(out, "listening on port {port} (peers can use x.pe=HOST:{port})"),
            SeedEvent::Seeding { source, label, magnet } => {
                writeln!(out, "seeding {}  {label}  {magnet}", source.sha256)
            }
            SeedEvent::Skipped { source, label, reason } => {
                writeln!(out, "skipping {}  {label}: {reason}", source.sha256)
            }
            SeedEvent::Removed { source, label } => writeln!(out, "removed {}  {label}", source.sha256),
            SeedEvent::Stopped { .. } if quiet => Ok(()),
            SeedEvent::Stopped { uploaded } => writeln!(out, "stopped (uploaded {uploaded} bytes)"),
        };
        let _ = out.flush();
    })?;
    Ok(0)
}

/// The store's packages as archives, labelled `package NAME VERSION (ID)`;
/// one that cannot be packed is left out with a warning.
fn package_archives(
    store: &crate::store::Store,
    warned: &std::sync::Mutex<std::collections::BTreeSet<String>>,
) -> Vec<(crate::fetch::Cached, String)> {
    match crate::cache::seedable::package_archives(store) {
        Ok((ok, failed)) => {
            for (p, why) in failed {
                // Once per package, not on every scan.
                if !warned.lock().expect("not poisoned").insert(p.id.clone()) {
                    continue;
                }
                eprintln!(
                    "warning: package {} {} ({}) is not seeded: {why}",
                    p.name,
                    p.version,
                    &p.id[..8.min(p.id.len())]
                );
            }
            ok.into_iter()
                .map(|a| {
                    let label = format!("package {} {} ({})", a.package.name, a.package.version, a.package.id);
                    (a.file, label)
                })
                .collect()
        }
        Err(e) => {
            eprintln!("warning: cannot list the store's packages for seeding: {e}");
            Vec::new()
        }
    }
}
