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
    /// Recompute the content digest of packages and compare with their records
    Verify {
        /// Package names or id prefixes (default: every package)
        #[arg(value_name = "PACKAGE")]
        names: Vec<String>,
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
                        .map_err(|e| crate::store::StoreError::Io {
                            path: crate::env::profile::record_path(&root, env),
                            source: std::io::Error::other(e.to_string()),
                        })
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
        Command::Verify { names: packages } => {
            let all = store.packages()?;
            let selected: Vec<_> = if packages.is_empty() {
                all
            } else {
                let mut out = Vec::new();
                for needle in &packages {
                    let found: Vec<_> = all
                        .iter()
                        .filter(|r| &r.name == needle || r.id.starts_with(needle.as_str()))
                        .cloned()
                        .collect();
                    if found.is_empty() {
                        return Err(super::user_error(
                            format!("no package `{needle}` in the store"),
                            "`magpkg store list` shows what the store has",
                        ));
                    }
                    out.extend(found);
                }
                out
            };
            let mut bad = 0;
            // Digests are computed on every core (a store of thousands of
            // entries is hashing-bound once in the page cache); results are
            // printed in the store's order.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let results: Vec<std::sync::Mutex<Option<Result<(), crate::store::StoreError>>>> =
                selected.iter().map(|_| std::sync::Mutex::new(None)).collect();
            let workers = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(selected.len().max(1));
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(rec) = selected.get(i) else { break };
                        let r = store.verify_package(&PackageId::from_string(rec.id.clone()));
                        *results[i].lock().expect("not poisoned") = Some(r);
                    });
                }
            });
            for (rec, r) in selected.iter().zip(results) {
                let r = r.into_inner().expect("not poisoned").expect("every entry was verified");
                match r {
                    Ok(()) => println!("ok       {} {}", rec.name, rec.id),
                    Err(e) => {
                        bad += 1;
                        println!("CORRUPT  {} {}: {e}", rec.name, rec.id);
                    }
                }
            }
            if bad > 0 {
                eprintln!(
                    "error: {bad} of {} packages do not match their recorded digest",
                    selected.len()
                );
                eprintln!("hint: remove them and build again");
                return Ok(crate::error::EXIT_INTERNAL);
            }
            eprintln!("{} packages verified", selected.len());
            Ok(0)
        }
    }
}
