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
