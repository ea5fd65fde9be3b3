//! `magpkg cache push`: upload runtime closures to a binary cache.

use super::oci::What;
use super::Ctx;
use crate::cache::{sign, CacheError, PushItem};
use crate::model::PackageId;
use crate::store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Push the runtime closure of packages, of a project environment or of
    /// the whole store to TARGET, building what is missing. Records are
    /// signed; only what TARGET lacks is uploaded. See doc/binary-cache.md.
    Push(PushArgs),
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// file:///DIR or s3://BUCKET/PREFIX (credentials and endpoint from AWS_* variables)
    #[arg(value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub what: PushWhat,
    /// The key to sign with: a name given to `magpkg key generate`, or a
    /// secret key file [env: MAGPKG_SIGNING_KEY; config: signingKey]
    #[arg(long, value_name = "NAME")]
    pub key: Option<String>,
}

/// `ATTR | -e EXPR | -f FILE | --env [DIR]` as `magpkg oci` takes them, or
/// `--all`.
#[derive(Debug, Clone, clap::Args)]
pub struct PushWhat {
    #[command(flatten)]
    pub what: What,
    /// Every package in the store
    #[arg(long, group = "what")]
    pub all: bool,
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        Command::Push(a) => push(a, ctx),
    }
}

fn push(a: PushArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    // A missing key should not cost an evaluation and a build to find out.
    let spec = a
        .key
        .clone()
        .or_else(|| ctx.settings.cache.signing_key.clone())
        .ok_or(CacheError::NoSigningKey)?;
    let key = sign::load_secret(&ctx.settings, &spec)?;
    let store = Store::open(&ctx.settings.store_dir)?;
    let ids: Vec<PackageId> = if a.what.all {
        store
            .packages()?
            .into_iter()
            .map(|r| PackageId::from_string(r.id))
            .collect()
    } else {
        super::oci::resolve(&a.what.what, ctx)?
            .packages
            .into_iter()
            .map(|p| p.id)
            .collect()
    };
    let mut items = Vec::with_capacity(ids.len());
    for id in &ids {
        // A damaged entry is never pushed: one read of its record.
        let rec = store.usable_package(id)?;
        items.push(PushItem {
            dir: store.package_dir(id, &rec.name),
            id: id.clone(),
            run_deps: rec.run_deps.iter().cloned().map(PackageId::from_string).collect(),
            name: rec.name,
            version: rec.version,
            digest: rec.digest,
        });
    }
    let report = crate::cache::push(&a.target, &items, &key, &store, &ctx.settings).inspect_err(|_| {
        // A push that found an entry damaged marked it: the environments
        // using it are not activated either.
        let damaged: Vec<(String, String)> = items
            .iter()
            .filter(|i| store.package(&i.id).ok().flatten().is_some_and(|r| r.damaged.is_some()))
            .map(|i| (i.id.to_string(), i.name.clone()))
            .collect();
        let _ = crate::env::profile::mark_damaged(&store, &damaged);
    })?;
    if !ctx.global.quiet {
        for (label, _, size) in &report.uploaded {
            eprintln!("uploaded {label} ({})", human(*size));
        }
        for (label, _) in &report.signed {
            eprintln!("signed {label} (the cache had the same archive)");
        }
        for (label, why) in &report.skipped {
            eprintln!("warning: not pushed: {label}: {why}");
        }
    }
    let bytes: u64 = report.uploaded.iter().map(|(_, _, s)| s).sum();
    println!(
        "{}: {} uploaded ({}), {} signed, {} already there, {} skipped",
        a.target,
        report.uploaded.len(),
        human(bytes),
        report.signed.len(),
        report.present,
        report.skipped.len()
    );
    Ok(0)
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
