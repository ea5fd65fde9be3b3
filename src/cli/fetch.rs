//! `magpkg fetch`: put every source of a package graph into the source
//! cache, without building anything.

use super::Ctx;
use crate::fetch::{self, FetchOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: super::InputArgs,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let graph = crate::eval::evaluate(&args.input.input(), ctx.settings.packages_dir.as_deref())?;
    // Every package of the graph, dependencies included: after this the
    // whole graph builds offline.
    let sources: Vec<_> = graph
        .packages
        .values()
        .flat_map(|p| p.sources.iter().cloned())
        .collect();
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    let report = fetch::fetch(
        &sources,
        &store,
        &ctx.settings,
        &FetchOptions {
            progress: ctx.progress(),
        },
    )?;
    if !ctx.global.quiet {
        eprintln!("{}", summary(&report));
    }
    Ok(0)
}

/// `fetched 3 sources (12.3 MiB), 2 already cached`
pub fn summary(report: &fetch::FetchReport) -> String {
    let bytes: u64 = report.fetched.iter().map(|f| f.bytes).sum();
    let n = report.fetched.len();
    let mut s = format!(
        "fetched {n} source{} ({})",
        if n == 1 { "" } else { "s" },
        fetch::human_bytes(bytes)
    );
    if !report.cached.is_empty() {
        s.push_str(&format!(", {} already cached", report.cached.len()));
    }
    s
}
