//! `magpkg build`: make packages present in the store, building what is
//! missing; `--check` rebuilds and compares bit for bit.

use std::io::Write;

use super::Ctx;
use crate::build::{self, BuildOptions, CheckResult};
use crate::model::{Graph, PackageId};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: super::InputArgs,
    /// Packages built at once on this machine; 0: only on remote builders
    /// [env: MAGPKG_JOBS; default: 1]
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Remote builders to use, separated by spaces: ssh://[USER@]HOST[:PORT][?jobs=N]
    /// ('' for none) [env: MAGPKG_BUILDERS; config: builders]
    #[arg(long, value_name = "URIS")]
    pub builders: Option<String>,
    /// Print a JSON report on stdout instead of store paths
    #[arg(long)]
    pub json: bool,
    /// Keep the build directory of a failed build (its path is printed)
    #[arg(long)]
    pub keep_failed: bool,
    /// Rebuild the packages in a fresh sandbox and compare them bit for bit
    /// with the store (building them first if missing); exit 1 if any differs
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let graph = crate::eval::evaluate(&args.input.input(), ctx.settings.packages_dir.as_deref())?;
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    let mut settings = ctx.settings.clone();
    if let Some(text) = &args.builders {
        settings.builders =
            crate::settings::parse_builders(text).map_err(|problem| crate::settings::SettingsError::BadFlag {
                flag: "--builders",
                value: text.clone(),
                problem,
            })?;
    }
    let jobs = args.jobs.unwrap_or(ctx.settings.jobs);
    let opts = BuildOptions {
        jobs: jobs.max(1),
        keep_failed: args.keep_failed,
        progress: ctx.progress(),
        remote_only: jobs == 0,
    };
    if args.check {
        // The rebuild that is compared runs here; builders may supply
        // what is missing first.
        let results = build::check(&graph, None, &store, &settings, &opts)?;
        return print_check(&results, args.json, ctx);
    }
    let report = build::build(&graph, None, &store, &settings, &opts)?;
    let mut out = std::io::stdout().lock();
    let pkg = |id: &PackageId| {
        let p = graph.get(id);
        serde_json::json!({
            "id": id,
            "name": p.name,
            "version": p.version,
            "path": report.paths.get(id),
        })
    };
    if args.json {
        let doc = serde_json::json!({
            "built": report.built.iter().map(pkg).collect::<Vec<_>>(),
            "present": report.present.iter().map(pkg).collect::<Vec<_>>(),
            "substituted": report.substituted.iter().map(|(id, from)| {
                let mut v = pkg(id);
                v["from"] = from.clone().into();
                v
            }).collect::<Vec<_>>(),
            "builtRemotely": report.built_remotely.iter().map(|(id, by)| {
                let mut v = pkg(id);
                v["builtBy"] = by.clone().into();
                v
            }).collect::<Vec<_>>(),
            "roots": graph.roots.iter().map(pkg).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(0);
    }
    if !ctx.global.quiet {
        // With progress on, each package was announced as it finished.
        summary(&graph, &report, !ctx.progress());
    }
    // stdout: the store path of each root, one per line (for scripts).
    for id in &graph.roots {
        writeln!(out, "{}", report.paths[id].display())?;
    }
    Ok(0)
}

fn summary(graph: &Graph, report: &build::BuildReport, each: bool) {
    let name = |id: &PackageId| {
        let p = graph.get(id);
        format!("{} {}", p.name, p.version)
    };
    for (id, from) in &report.substituted {
        eprintln!("substituted {} ({}) from {from}", name(id), build::short(id));
    }
    if report.built.is_empty() && report.substituted.is_empty() {
        let roots: Vec<String> = graph.roots.iter().map(name).collect();
        eprintln!("nothing to build: {} already in the store", roots.join(", "));
        return;
    }
    if each {
        for id in &report.built {
            match report.built_remotely.iter().find(|(b, _)| b == id) {
                Some((_, by)) => eprintln!("built {} ({}) on {by}", name(id), build::short(id)),
                None => eprintln!("built {} ({})", name(id), build::short(id)),
            }
        }
    }
    let n = report.built.len();
    if n == 0 {
        return;
    }
    eprintln!("{n} package{} built", if n == 1 { "" } else { "s" });
}

fn print_check(results: &[CheckResult], json: bool, ctx: &Ctx) -> anyhow::Result<i32> {
    let differ = results.iter().filter(|r| !r.identical()).count();
    let mut out = std::io::stdout().lock();
    if json {
        let doc: Vec<_> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "name": r.name,
                    "version": r.version,
                    "identical": r.identical(),
                    "expected": r.expected,
                    "actual": r.actual,
                    "differences": r.differences,
                    "kept": r.kept,
                    "log": r.log,
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "checked": doc }))?
        )?;
    } else {
        for r in results {
            if r.identical() {
                writeln!(out, "{} {}: bit-identical ({})", r.name, r.version, r.actual)?;
            } else {
                writeln!(out, "{} {}: DIFFERS from the store", r.name, r.version)?;
                writeln!(out, "  store:   {}\n  rebuild: {}", r.expected, r.actual)?;
                for d in &r.differences {
                    writeln!(out, "  {d}")?;
                }
                if let Some(k) = &r.kept {
                    writeln!(out, "  rebuild kept at {}", k.display())?;
                }
                writeln!(out, "  rebuild log: {}", r.log.display())?;
            }
        }
    }
    if differ > 0 {
        if !ctx.global.quiet {
            eprintln!(
                "error: {differ} of {} package{} did not rebuild bit for bit",
                results.len(),
                if results.len() == 1 { "" } else { "s" }
            );
        }
        return Ok(crate::error::EXIT_USER);
    }
    Ok(0)
}
