//! `magpkg store`: inspect and verify the store.

use super::Ctx;
use crate::model::PackageId;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the store root
    Path,
    /// List the packages in the store
    List {
        /// Print JSON records instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Remove packages and environments no project uses any more
    Gc {
        /// Only print what would be removed
        #[arg(long)]
        dry_run: bool,
        /// Keep entries added less than this many seconds ago (a build whose
        /// environment is not registered yet)
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        grace: u64,
    },
    /// Recompute the content digest of packages (and the sha256 of cached
    /// sources) and compare with their records; a damaged package is marked
    /// so, and never exported or activated until repaired
    Verify {
        /// Package names or id prefixes, source file names or sha256
        /// prefixes (default: every package and source)
        #[arg(value_name = "PACKAGE")]
        names: Vec<String>,
        /// Replace what is damaged: packages are taken from a binary cache
        /// or rebuilt from the definitions kept when they were built,
        /// sources downloaded again
        #[arg(long)]
        repair: bool,
    },
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    match cmd {
        Command::Path => {
            println!("{}", store.root().display());
            Ok(0)
        }
        Command::List { json } => {
            let pkgs = store.packages()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pkgs)?);
            } else {
                for p in &pkgs {
                    let dir = store.package_dir(&PackageId::from_string(p.id.clone()), &p.name);
                    match &p.built_by {
                        Some(by) => println!("{:<20} {:<12} {} (built by {by})", p.name, p.version, dir.display()),
                        None => println!("{:<20} {:<12} {}", p.name, p.version, dir.display()),
                    }
                }
            }
            Ok(0)
        }
        Command::Gc { dry_run, grace } => {
            let root = store.root().to_path_buf();
            let report = store.collect_garbage(
                |env| {
                    crate::env::profile::read_record(&root, env)
                        .map(|r| r.map(|r| r.packages.into_iter().map(|p| p.id).collect()))
                        // The environment's error names the record it read.
                        .map_err(|e| crate::store::StoreError::Io(std::io::Error::other(e.to_string())))
                },
                std::time::Duration::from_secs(grace),
                dry_run,
            )?;
            let verb = if dry_run { "would remove" } else { "removed" };
            for name in &report.scratch {
                println!("{verb} scratch entry tmp-v1/{name} (its process is gone)");
            }
            for link in &report.stale_roots {
                println!("{verb} stale root {}", link.display());
            }
            for id in &report.envs {
                println!("{verb} environment {id}");
            }
            for (id, name) in &report.packages {
                println!("{verb} package {name} {id}");
            }
            eprintln!(
                "{verb} {} packages ({:.1} MiB) and {} environments",
                report.packages.len(),
                report.bytes as f64 / (1024.0 * 1024.0),
                report.envs.len()
            );
            Ok(0)
        }
        Command::Verify { names, repair } => verify(&store, &names, repair, ctx),
    }
}

/// A cached source file: its sha256 and one of its names.
type SourceFile = (String, std::path::PathBuf);

fn verify(store: &crate::store::Store, names: &[String], repair: bool, ctx: &Ctx) -> anyhow::Result<i32> {
    let all = store.packages()?;
    let all_sources = store.sources()?;
    let (selected, sources): (Vec<_>, Vec<SourceFile>) = if names.is_empty() {
        (all, all_sources)
    } else {
        let (mut out, mut srcs) = (Vec::new(), Vec::new());
        for needle in names {
            let found: Vec<_> = all
                .iter()
                .filter(|r| &r.name == needle || r.id.starts_with(needle.as_str()))
                .cloned()
                .collect();
            let found_src: Vec<_> = all_sources
                .iter()
                .filter(|(sha, path)| {
                    sha.starts_with(needle.as_str()) || path.file_name().is_some_and(|n| n == needle.as_str())
                })
                .cloned()
                .collect();
            if found.is_empty() && found_src.is_empty() {
                return Err(super::user_error(
                    format!("no package or source `{needle}` in the store"),
                    "`magpkg store list` shows what the store has",
                ));
            }
            out.extend(found);
            srcs.extend(found_src);
        }
        (out, srcs)
    };
    // Digests are computed on every core (a store of thousands of entries
    // is hashing-bound once in the page cache); results are printed in the
    // store's order.
    let pkg_results = parallel(&selected, |rec| {
        store.verify_package(&PackageId::from_string(rec.id.clone()))
    });
    let src_results = parallel(&sources, |(sha, path)| store.verify_source(sha, path));
    let mut damaged = Vec::new();
    for (rec, r) in selected.iter().zip(pkg_results) {
        let id = PackageId::from_string(rec.id.clone());
        match r {
            Ok(()) => {
                if rec.damaged.is_some() {
                    // Whole again (its files were put back): usable again.
                    store.set_damaged(&id, None)?;
                }
                println!("ok       {} {}", rec.name, rec.id);
            }
            Err(e) => {
                println!("CORRUPT  {} {}: {e}", rec.name, rec.id);
                let why = match &e {
                    crate::store::StoreError::DigestMismatch { expected, actual, .. } => {
                        format!("content digest {actual}, the record says {expected}")
                    }
                    other => other.to_string(),
                };
                store.set_damaged(&id, Some(&why))?;
                damaged.push(rec.clone());
            }
        }
    }
    let mut bad_sources = Vec::new();
    for ((sha, path), r) in sources.iter().zip(src_results) {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        match r {
            Ok(()) => println!("ok       source {file} {sha}"),
            Err(e) => {
                println!("CORRUPT  source {file} {sha}: {e}");
                if !bad_sources.contains(sha) {
                    bad_sources.push(sha.clone());
                }
            }
        }
    }
    let ids: Vec<(String, String)> = damaged.iter().map(|r| (r.id.clone(), r.name.clone())).collect();
    crate::env::profile::mark_damaged(store, &ids)?;
    if damaged.is_empty() && bad_sources.is_empty() {
        eprintln!("{} packages and {} sources verified", selected.len(), sources.len());
        return Ok(0);
    }
    if !repair {
        eprintln!(
            "error: {} of {} packages and {} of {} sources do not match their recorded digest",
            damaged.len(),
            selected.len(),
            bad_sources.len(),
            sources.len()
        );
        eprintln!(
            "hint: `magpkg store verify --repair` replaces them (damaged packages are not exported or activated \
             until then)"
        );
        return Ok(crate::error::EXIT_INTERNAL);
    }
    let failed = repair_sources(store, &bad_sources, ctx) + repair_packages(store, &damaged, ctx);
    crate::env::profile::clear_repaired(store)?;
    if failed > 0 {
        eprintln!("error: {failed} damaged entries could not be repaired");
        eprintln!("hint: the messages above say why; `magpkg store verify` lists what is still damaged");
        return Ok(crate::error::EXIT_INTERNAL);
    }
    eprintln!("repaired {} packages and {} sources", damaged.len(), bad_sources.len());
    Ok(0)
}

/// `check` of every item, on every core; the results in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], check: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                *results[i].lock().expect("not poisoned") = Some(check(item));
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().expect("not poisoned").expect("every item was checked"))
        .collect()
}

/// Remove each damaged source and download it again from the URLs a kept
/// recipe gives; the number that could not be fetched again.
fn repair_sources(store: &crate::store::Store, bad: &[String], ctx: &Ctx) -> usize {
    if bad.is_empty() {
        return 0;
    }
    let mut wanted: Vec<crate::model::Source> = Vec::new();
    for sha in bad {
        if let Err(e) = store.remove_source(sha) {
            eprintln!("error: cannot remove the damaged source {sha}: {e}");
            return bad.len();
        }
        match recipe_source(store, sha) {
            Some(s) => wanted.push(s),
            None => println!(
                "removed  source {sha}: no kept definition names it; the next build that needs it downloads it again"
            ),
        }
    }
    if wanted.is_empty() {
        return 0;
    }
    let opts = crate::fetch::FetchOptions {
        progress: ctx.progress(),
    };
    match crate::fetch::fetch(&wanted, store, &ctx.settings, &opts) {
        Ok(_) => {
            for s in &wanted {
                println!("repaired source {} {} (downloaded again)", s.filename, s.sha256);
            }
            0
        }
        Err(e) => {
            super::report::report(&anyhow::Error::new(e));
            wanted.len()
        }
    }
}

/// A source with this sha256 as some kept recipe defines it (with its URLs).
fn recipe_source(store: &crate::store::Store, sha: &str) -> Option<crate::model::Source> {
    let dir = store.bucket(crate::store::RECIPES);
    for ent in std::fs::read_dir(dir).ok()?.flatten() {
        let name = ent.file_name().to_string_lossy().to_string();
        let Some(id) = name.strip_suffix(".json") else { continue };
        let Ok(Some(g)) = store.recipe(&PackageId::from_string(id.to_string())) else {
            continue;
        };
        let found = g
            .packages
            .values()
            .flat_map(|p| &p.sources)
            .find(|s| s.sha256.eq_ignore_ascii_case(sha));
        if let Some(s) = found {
            return Some(s.clone());
        }
    }
    None
}

/// Take every damaged package out of the store, then make each again from
/// its kept recipe (a binary cache supplies it when one is configured and
/// trusted, else it is rebuilt; dependencies taken out are made again
/// first, by the same build). The number that could not be repaired; those
/// are put back, still marked damaged.
fn repair_packages(store: &crate::store::Store, damaged: &[crate::store::PackageRecord], ctx: &Ctx) -> usize {
    let mut aside = Vec::new();
    let mut failed = 0;
    for rec in damaged {
        let id = PackageId::from_string(rec.id.clone());
        match store.set_aside(&id) {
            Ok(Some(a)) => aside.push((id, a)),
            // Removed meanwhile (a concurrent gc): nothing to repair.
            Ok(None) => {}
            Err(e) => {
                failed += 1;
                eprintln!("error: cannot take {} {} out of the store: {e}", rec.name, rec.id);
            }
        }
    }
    let opts = crate::build::BuildOptions {
        jobs: ctx.settings.jobs.max(1),
        keep_failed: false,
        progress: ctx.progress(),
        remote_only: false,
    };
    for (id, a) in aside {
        let name = a.record.name.clone();
        let recipe = match store.recipe(&id) {
            Ok(Some(r)) => r,
            Ok(None) => {
                // Built before recipes were kept: gone now, made again
                // from its definition by the next command needing it.
                drop(a);
                println!(
                    "removed  {name} {id}: no definition was kept for it (built by an older magpkg); the next \
                     command that needs it builds it again"
                );
                continue;
            }
            Err(e) => {
                eprintln!("error: {name} {id}: {e}");
                failed += 1;
                let _ = a.restore(store);
                continue;
            }
        };
        match crate::build::build(&recipe, Some(std::slice::from_ref(&id)), store, &ctx.settings, &opts) {
            Ok(report) => {
                let how = match report.substituted.iter().find(|(s, _)| s == &id) {
                    Some((_, url)) => format!("from {url}"),
                    None => "rebuilt".to_string(),
                };
                let note = match store.package(&id) {
                    Ok(Some(new)) if new.digest != a.record.digest => format!(
                        "; the new entry's digest is {} (the damaged one's record said {}): its build is not \
                         reproducible bit for bit",
                        new.digest, a.record.digest
                    ),
                    _ => String::new(),
                };
                println!("repaired {name} {id} ({how}){note}");
            }
            Err(e) => {
                failed += 1;
                super::report::report(&anyhow::Error::new(e).context(format!("cannot repair {name} {id}")));
                if let Err(e) = a.restore(store) {
                    eprintln!("error: cannot put {name} {id} back: {e}");
                }
            }
        }
    }
    failed
}
