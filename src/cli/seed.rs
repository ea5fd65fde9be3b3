//! `magpkg seed`: offer every cached source over BitTorrent until Ctrl-C.

use std::io::Write;
use std::time::Duration;

use super::Ctx;
use crate::fetch::seed::{self, SeedEvent, SeedOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to accept peers on, on every interface [config: seedPort; default: any free port]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Announce to this tracker too (repeatable) [config: trackers]
    #[arg(long, value_name = "URL")]
    pub tracker: Vec<String>,
    /// Seconds between scans of the source cache for new sources
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub poll: u64,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    let opts = SeedOptions {
        port: args.port.or(ctx.settings.seed_port).unwrap_or(0),
        trackers: args.tracker,
        poll: Duration::from_secs(args.poll.max(1)),
    };
    let quiet = ctx.global.quiet;
    seed::seed(&store, &ctx.settings, &opts, |ev| {
        // Lines on stdout, one per event, so scripts can follow them; a
        // closed stdout is ignored (seeding goes on).
        let mut out = std::io::stdout().lock();
        let _ = match ev {
            SeedEvent::Listening { port } => writeln!(out, "listening on port {port} (peers can use x.pe=HOST:{port})"),
            SeedEvent::Seeding { source, magnet } => {
                writeln!(out, "seeding {}  {}  {magnet}", source.sha256, source.filename)
            }
            SeedEvent::Skipped { source, reason } => {
                writeln!(out, "skipping {}  {}: {reason}", source.sha256, source.filename)
            }
            SeedEvent::Removed { source } => writeln!(out, "removed {}  {}", source.sha256, source.filename),
            SeedEvent::Stopped if quiet => Ok(()),
            SeedEvent::Stopped => writeln!(out, "stopped"),
        };
        let _ = out.flush();
    })?;
    Ok(0)
}
