//! `magpkg challenge`: what every binary cache signed for packages of the
//! local store, against the store's own digests (Guix's `challenge`).

use std::io::Write;

use super::Ctx;
use crate::store::{PackageRecord, Store};

/// For each package (default: every package in the store), compare the
/// content digest in the local store with the one each substituter's
/// record gives. Exit 1 when a validly signed record disagrees: that
/// package does not build reproducibly, or a cache lies.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Package names or ids (or id prefixes) in the store
    // Not `packages`: that is the global --packages flag's id.
    #[arg(value_name = "PACKAGE")]
    pub names: Vec<String>,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    if ctx.settings.cache.substituters.is_empty() {
        return Err(super::user_error(
            "no substituters to challenge",
            "set `substituters` in the config or MAGPKG_SUBSTITUTERS",
        ));
    }
    let store = Store::open(&ctx.settings.store_dir)?;
    let all = store.packages()?;
    let chosen: Vec<PackageRecord> = if a.names.is_empty() {
        all
    } else {
        let mut out = Vec::new();
        for want in &a.names {
            let hits: Vec<&PackageRecord> = all
                .iter()
                .filter(|r| r.name == *want || r.id.starts_with(want.as_str()))
                .collect();
            if hits.is_empty() {
                return Err(super::user_error(
                    format!("no package `{want}` in the store"),
                    "`magpkg store list` shows what is there",
                ));
            }
            out.extend(hits.into_iter().cloned());
        }
        out
    };
    let results = crate::cache::challenge(&chosen, &ctx.settings)?;
    let differ = results.iter().filter(|c| c.disagrees()).count();
    let mut out = std::io::stdout().lock();
    if a.json {
        let doc: Vec<_> = results
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "name": c.name,
                    "version": c.version,
                    "local": c.local,
                    "agrees": !c.disagrees(),
                    "caches": c.claims.iter().map(|r| serde_json::json!({
                        "url": r.url,
                        "digest": r.digest,
                        "signers": r.signers,
                        "problem": r.problem,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "packages": doc }))?
        )?;
    } else {
        for c in &results {
            let verdict = if c.disagrees() {
                "DIFFERS"
            } else if c
                .claims
                .iter()
                .any(|r| r.digest.as_deref() == Some(c.local.as_str()) && !r.signers.is_empty())
            {
                "agrees"
            } else {
                "no trusted record"
            };
            writeln!(
                out,
                "{} {} ({}): {verdict}",
                c.name,
                c.version,
                &c.id[..c.id.len().min(12)]
            )?;
            writeln!(out, "  local store: {}", c.local)?;
            for r in &c.claims {
                let digest = r.digest.as_deref().unwrap_or("-");
                let who = if r.signers.is_empty() {
                    String::new()
                } else {
                    format!(" signed by {}", r.signers.join(", "))
                };
                let problem = r.problem.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
                writeln!(out, "  {}: {digest}{who}{problem}", r.url)?;
            }
        }
    }
    if differ > 0 {
        if !ctx.global.quiet {
            eprintln!(
                "error: {differ} of {} package{} signed with another content by a trusted cache",
                results.len(),
                if results.len() == 1 { "" } else { "s" }
            );
        }
        return Ok(crate::error::EXIT_USER);
    }
    Ok(0)
}
