//! `build --check`: rebuild packages that are in the store in a fresh
//! sandbox and compare the result bit for bit with the stored entry.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fs_err as fs;

use super::{build, sandbox_closure, BuildError, BuildOptions, Builder, Progress, Scratch};
use crate::model::{Build, Graph, PackageId};
use crate::settings::Settings;
use crate::store::{self, Store, StoreError};

/// The result of rebuilding one package.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: PackageId,
    pub name: String,
    pub version: String,
    /// Digest in the store's record.
    pub expected: String,
    /// Digest of the rebuild.
    pub actual: String,
    /// Paths (relative to the package) that differ, each prefixed with
    /// `changed`, `only in store` or `only in rebuild`.
    pub differences: Vec<String>,
    /// Where the differing rebuild was kept (with --keep-failed).
    pub kept: Option<PathBuf>,
    /// The rebuild's log.
    pub log: PathBuf,
}

impl CheckResult {
    pub fn identical(&self) -> bool {
        self.expected == self.actual
    }
}

/// Rebuild every root (building it first if the store lacks it) and compare.
pub fn check(
    graph: &Graph,
    roots: Option<&[PackageId]>,
    store: &Store,
    settings: &Settings,
    opts: &BuildOptions,
) -> Result<Vec<CheckResult>, BuildError> {
    let roots: Vec<PackageId> = roots.map(<[_]>::to_vec).unwrap_or_else(|| graph.roots.clone());
    build(graph, Some(&roots), store, settings, opts)?;
    // A package found in the store was not built here, so its build
    // dependencies and sources may be missing: get them.
    let mut need = Vec::new();
    let mut sources = Vec::new();
    for id in &roots {
        let p = graph.get(id);
        if matches!(p.build, Build::Script(_)) {
            need.extend(sandbox_closure(graph, p));
        }
        for s in &p.sources {
            if store.source(&s.sha256, &s.filename)?.is_none() {
                sources.push(s.clone());
            }
        }
    }
    if !need.is_empty() {
        build(graph, Some(&need), store, settings, opts)?;
    }
    if !sources.is_empty() {
        crate::fetch::fetch(
            &sources,
            store,
            settings,
            &crate::fetch::FetchOptions {
                progress: opts.progress,
            },
        )?;
    }
    let builder = Builder {
        graph,
        store,
        settings,
        opts,
        bwrap: super::sandbox::find_bwrap(),
        progress: Progress::new(opts.progress),
    };
    roots.iter().map(|id| builder.check_one(id)).collect()
}

impl Builder<'_> {
    fn check_one(&self, id: &PackageId) -> Result<CheckResult, BuildError> {
        let p = self.graph.get(id);
        let record = self
            .store
            .package(id)?
            .ok_or_else(|| StoreError::NotFound { id: id.to_string() })?;
        let stored = self.store.package_dir(id, &record.name);
        let scratch = Scratch::new(self.store, self.opts.keep_failed)?;
        let log = self.store.log_path(id).with_extension("check.log");
        let mut bar = self.progress.start(&format!("{} {} (check)", p.name, p.version), &log);
        let out = self.produce(p, &scratch, &log, &mut bar)?;
        bar.message("comparing");
        let io = |source| BuildError::Io {
            name: p.name.clone(),
            source,
        };
        // The same checks and normalisation as when it entered the store.
        store::prepare_tree(&out)
            .and_then(|()| store::normalize_tree(&out))
            .map_err(|source| BuildError::BadOutput {
                name: p.name.clone(),
                version: p.version.clone(),
                source: Box::new(source),
            })?;
        let actual = store::tree_digest(&out)?;
        let mut result = CheckResult {
            id: id.clone(),
            name: p.name.clone(),
            version: p.version.clone(),
            expected: record.digest.clone(),
            actual,
            differences: Vec::new(),
            kept: None,
            log,
        };
        if result.identical() {
            scratch.success();
        } else {
            result.differences = differences(&stored, &out).map_err(io)?;
            result.kept = scratch.keep_on_failure().map(|p| p.join("out"));
        }
        Ok(result)
    }
}

/// What one tree entry is, for comparison: its type and a hash of its
/// contents (files: bytes and executable bit; symlinks: target).
#[derive(PartialEq, Eq)]
enum Entry {
    Dir,
    File { exec: bool, hash: blake3::Hash },
    Link(PathBuf),
    Other,
}

fn entries(root: &Path) -> std::io::Result<BTreeMap<PathBuf, Entry>> {
    let mut out = BTreeMap::new();
    for ent in walkdir::WalkDir::new(root).min_depth(1) {
        let ent = ent.map_err(std::io::Error::from)?;
        let rel = ent.path().strip_prefix(root).expect("below root").to_path_buf();
        let ft = ent.file_type();
        let e = if ft.is_dir() {
            Entry::Dir
        } else if ft.is_symlink() {
            Entry::Link(fs::read_link(ent.path())?)
        } else if ft.is_file() {
            let meta = ent.metadata().map_err(std::io::Error::from)?;
            let mut h = blake3::Hasher::new();
            let mut f = fs::File::open(ent.path())?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Entry::File {
                exec: meta.mode() & 0o111 != 0,
                hash: h.finalize(),
            }
        } else {
            Entry::Other
        };
        out.insert(rel, e);
    }
    Ok(out)
}

/// The paths that differ between two trees.
fn differences(stored: &Path, rebuilt: &Path) -> std::io::Result<Vec<String>> {
    let a = entries(stored)?;
    let b = entries(rebuilt)?;
    let mut out = Vec::new();
    for (path, ea) in &a {
        match b.get(path) {
            None => out.push(format!("only in store: {}", path.display())),
            Some(eb) if eb != ea => out.push(format!("changed: {}", path.display())),
            Some(_) => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(format!("only in rebuild: {}", path.display()));
    }
    Ok(out)
}
