//! `magpkg source`: the source cache (files addressed by sha256).

use std::io::Write;
use std::path::PathBuf;

use super::Ctx;
use crate::fetch::{self, FetchOptions};
use crate::model::Source;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Import local files into the source cache (found later by their sha256)
    Add {
        /// Files to import; each keeps its file name
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the cached sources: sha256, size, file name
    List,
    /// Print the magnet link of a cached source (its deterministic torrent)
    Magnet {
        /// The source's sha256 (or a unique prefix) or file name
        #[arg(value_name = "SHA256|FILENAME")]
        source: String,
        /// Add a peer address to the link (`x.pe`), e.g. the host running `magpkg seed`
        #[arg(long, value_name = "HOST:PORT")]
        peer: Vec<String>,
    },
    /// Print the deterministic magnet of every source of a package graph (default: the whole
    /// tree) as the Jsonnet of `packages/magnets.libsonnet`, fetching sources not yet cached
    Magnets {
        #[command(flatten)]
        input: MagnetsInput,
        /// Check instead: fail if a source lists no magnet, or one its bytes do not give
        #[arg(long)]
        check: bool,
    },
    /// Write the deterministic .torrent file of a cached source (to seed it from another client)
    Torrent {
        /// The source's sha256 (or a unique prefix) or file name
        #[arg(value_name = "SHA256|FILENAME")]
        source: String,
        /// Output file [default: FILENAME.torrent in the current directory]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Tracker to put in the file (repeatable); the info-hash does not change
        #[arg(long, value_name = "URL")]
        tracker: Vec<String>,
    },
    /// Fetch one source from URLs, mirror:// URLs or magnet links into the cache
    Fetch {
        /// The sha256 the file must have
        #[arg(long, value_name = "SHA256")]
        sha256: String,
        /// File name in the cache [default: the magnet's dn= or the URL's last segment]
        #[arg(long, value_name = "FILENAME")]
        name: Option<String>,
        /// Where to get it, tried in order
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        Command::Add { files } => {
            for (sha, path) in fetch::add_files(&store, &files)? {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                writeln!(out, "{sha}  {name}")?;
            }
        }
        Command::List => {
            for c in fetch::cached(&store)? {
                let size = std::fs::metadata(&c.path).map(|m| m.len()).unwrap_or(0);
                writeln!(out, "{}  {:>10}  {}", c.sha256, fetch::human_bytes(size), c.filename)?;
            }
        }
        Command::Magnet { source, peer } => {
            let c = fetch::find_cached(&store, &source)?;
            writeln!(out, "{}", fetch::torrent_of(&c)?.magnet(&peer))?;
        }
        Command::Magnets { input, check } => return magnets(&input, check, &store, ctx, &mut out),
        Command::Torrent {
            source,
            output,
            tracker,
        } => {
            let c = fetch::find_cached(&store, &source)?;
            let meta = fetch::torrent_of(&c)?;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{}.torrent", c.filename)));
            std::fs::write(&path, meta.torrent_file(&tracker))
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            writeln!(out, "{}  {}", meta.info_hash, path.display())?;
        }
        Command::Fetch { sha256, name, urls } => {
            let filename = match name.or_else(|| name_from_urls(&urls)) {
                Some(n) => n,
                None => {
                    return Err(super::user_error(
                        "cannot tell the file name from the URLs",
                        "give it with --name FILENAME",
                    ))
                }
            };
            let src = Source {
                filename,
                sha256: sha256.to_ascii_lowercase(),
                urls,
            };
            let report = fetch::fetch(
                std::slice::from_ref(&src),
                &store,
                &ctx.settings,
                &FetchOptions {
                    progress: ctx.progress(),
                },
            )?;
            let path = store
                .source(&src.sha256, &src.filename)?
                .ok_or_else(|| anyhow::anyhow!("{} is not in the cache after fetching", src.filename))?;
            if !ctx.global.quiet {
                eprintln!("{}", super::fetch::summary(&report));
                for f in &report.fetched {
                    eprintln!("{} from {}", f.source.filename, f.origin);
                }
            }
            writeln!(out, "{}", path.display())?;
        }
    }
    Ok(0)
}

/// `magpkg source magnets`: the deterministic magnet of each source (one
/// per sha256 and file name), computed from its cached bytes, compared with
/// the magnets its definition lists.
fn magnets(
    input: &MagnetsInput,
    check: bool,
    store: &crate::store::Store,
    ctx: &Ctx,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    use crate::fetch::torrent::{self, ListedMagnet};
    use std::collections::BTreeMap;
    let input = match (&input.expr, &input.file, &input.attr) {
        (None, None, None) => crate::eval::Input::Expr("import 'magnet/packages.jsonnet'".into()),
        (expr, file, attr) => super::input_of(expr, file, attr),
    };
    let graph = crate::eval::evaluate(&input, ctx.settings.packages_dir.as_deref())?;
    // (sha256, file name) -> the source and the packages listing it.
    let mut sources: BTreeMap<(String, String), (Source, Vec<String>)> = BTreeMap::new();
    for p in graph.packages.values() {
        for s in &p.sources {
            let key = (s.sha256.to_ascii_lowercase(), s.filename.clone());
            let e = sources.entry(key).or_insert_with(|| (s.clone(), Vec::new()));
            e.1.push(p.name.clone());
        }
    }
    let all: Vec<Source> = sources.values().map(|(s, _)| s.clone()).collect();
    let report = fetch::fetch(
        &all,
        store,
        &ctx.settings,
        &FetchOptions {
            progress: ctx.progress(),
        },
    )?;
    if !report.fetched.is_empty() && !ctx.global.quiet {
        eprintln!("{}", super::fetch::summary(&report));
    }
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    for ((sha, filename), (src, names)) in &sources {
        let path = store
            .source(sha, filename)?
            .ok_or_else(|| anyhow::anyhow!("{filename} is not in the cache after fetching"))?;
        let meta = torrent::from_file(&path, filename).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let whose = format!("{} ({filename}, sha256 {sha})", names.join(", "));
        match torrent::check_listed(&src.urls, &meta) {
            ListedMagnet::Matches => {}
            ListedMagnet::Missing => {
                problems.push(format!("{whose}: lists no magnet; its bytes give {}", meta.magnet(&[])))
            }
            ListedMagnet::Wrong { magnet, why } => problems.push(format!("{whose}: {magnet} is not its magnet: {why}")),
        }
        lines.push(format!("  '{sha}': '{}',", meta.magnet(&[])));
    }
    if check {
        if problems.is_empty() {
            if !ctx.global.quiet {
                eprintln!("{} sources, each lists the magnet its bytes give", sources.len());
            }
            return Ok(0);
        }
        return Err(super::user_error(
            format!(
                "{} of {} sources have no matching magnet:{}",
                problems.len(),
                sources.len(),
                problems.iter().map(|p| format!("\n  {p}")).collect::<String>()
            ),
            "regenerate the tree's list with `magpkg source magnets > packages/magnets.libsonnet`, \
             or fix the magnet in the definition",
        ));
    }
    writeln!(
        out,
        "// The deterministic magnet of every source of the tree, by sha256 (see doc/p2p-hosting.md).\n\
         // Written by `magpkg source magnets`; `magpkg source magnets --check` checks the tree against the bytes."
    )?;
    writeln!(out, "{{")?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    writeln!(out, "}}")?;
    if !ctx.global.quiet && !problems.is_empty() {
        eprintln!(
            "{} of {} sources do not list this magnet yet",
            problems.len(),
            sources.len()
        );
    }
    Ok(0)
}

/// `[-e EXPR | -f FILE | ATTR]`: like the other commands' input, but
/// optional (the whole tree by default).
#[derive(Debug, Clone, clap::Args)]
#[group(required = false, multiple = false)]
pub struct MagnetsInput {
    /// A Jsonnet expression evaluating to packages
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    pub expr: Option<String>,
    /// A Jsonnet file evaluating to a package, a list or an object of packages
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A package name in the tree [default: every package of the tree]
    #[arg(value_name = "ATTR")]
    pub attr: Option<String>,
}

fn name_from_urls(urls: &[String]) -> Option<String> {
    for u in urls {
        if u.starts_with("magnet:") {
            if let Ok(Some(n)) = fetch::torrent::parse_magnet(u).map(|m| m.name) {
                return Some(n);
            }
            continue;
        }
        let path = u.split(['?', '#']).next().unwrap_or(u);
        if let Some(last) = path
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty() && !s.ends_with(".torrent"))
        {
            let decoded = percent_encoding::percent_decode_str(last)
                .decode_utf8_lossy()
                .into_owned();
            if !decoded.contains('/') {
                return Some(decoded);
            }
        }
    }
    None
}
