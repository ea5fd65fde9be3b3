//! `magpkg log NAME|ID`: print the build log of a package, built or failed.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use super::{user_error, Ctx};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A package name or the start of its id (as printed by `magpkg build`)
    #[arg(value_name = "NAME|ID")]
    pub package: String,
    /// Show the log of the last `build --check` rebuild instead
    #[arg(long)]
    pub check: bool,
}

/// A log and what we know about it.
struct Found {
    id: String,
    path: PathBuf,
    modified: std::time::SystemTime,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    let needle = args.package.as_str();
    let suffix = if args.check { ".check.log" } else { ".log" };
    let logs_dir = store.bucket(crate::store::LOGS);
    // Built packages are found by their record; failed builds only have a
    // log, whose first line names the package (`magpkg: building NAME ...`).
    let mut ids: Vec<String> = store.find_packages(needle)?.into_iter().map(|r| r.id).collect();
    for ent in fs::read_dir(&logs_dir)? {
        let ent = ent?;
        let file = ent.file_name().to_string_lossy().into_owned();
        let Some(id) = file.strip_suffix(".log").filter(|i| !i.ends_with(".check")) else {
            continue;
        };
        if id.starts_with(needle) || log_names(&ent.path(), needle) {
            ids.push(id.to_string());
        }
    }
    ids.sort();
    ids.dedup();
    let mut found: Vec<Found> = ids
        .into_iter()
        .filter_map(|id| {
            let path = logs_dir.join(format!("{id}{suffix}"));
            let modified = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
            Some(Found { id, path, modified })
        })
        .collect();
    if found.is_empty() {
        let what = if args.check { "`build --check` log" } else { "build log" };
        return Err(user_error(
            format!("no {what} for `{needle}` in the store ({})", store.root().display()),
            "give a package name or id prefix as printed by `magpkg build`; logs exist only for packages built in this store",
        ));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.modified));
    if found.len() > 1 && !ctx.global.quiet {
        let others: Vec<&str> = found[1..].iter().map(|f| &f.id[..f.id.len().min(12)]).collect();
        eprintln!(
            "note: {} builds match `{needle}`; showing the most recent ({}); others: {}",
            found.len(),
            &found[0].id[..found[0].id.len().min(12)],
            others.join(", ")
        );
    }
    let bytes = fs::read(&found[0].path)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(0)
}

/// Does the log's header line name the package `name`?
fn log_names(path: &std::path::Path, name: &str) -> bool {
    use std::io::BufRead;
    let Ok(f) = fs::File::open(path) else { return false };
    let mut first = String::new();
    if std::io::BufReader::new(f).read_line(&mut first).is_err() {
        return false;
    }
    first
        .strip_prefix("magpkg: building ")
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|n| n == name)
}
