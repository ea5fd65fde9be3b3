//! Building packages from source in a bubblewrap sandbox, and the builtins
//! (unpacking) that need no sandbox.
//!
//! Entry points: [`build`] (make packages present in the store) and
//! [`check`] (rebuild present packages and compare bit for bit). A package is
//! built into a scratch directory of the store (`tmp-v1/build-*`), by a
//! builtin ([`builtins`]) or by its script in a [`sandbox`]; its output then
//! enters the store through [`Store::add_package`], which normalises it and
//! records its digest. A failed build leaves nothing but its log
//! (`logs-v1/<id>.log`). The sandbox layout and the build environment are
//! described in `doc/building.md`.

pub mod builtins;
mod check;
mod progress;
pub mod sandbox;
pub mod scheduler;
mod seccomp;
pub mod unpack;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use check::{check, CheckResult};
pub use progress::tail as log_tail;

use fs_err::{self as fs, File};

use crate::cache::CacheError;
use crate::error::Classify;
use crate::fetch::{FetchError, FetchOptions};
use crate::model::{Build, Graph, Package, PackageId};
use crate::plan::PlanError;
use crate::remote::RemoteError;
use crate::settings::{Settings, Substitute};
use crate::store::{PackageRecord, Store, StoreError};
use builtins::BuiltinError;
use progress::Progress;

/// `SOURCE_DATE_EPOCH` in the sandbox: 1980-01-01, the earliest date a zip
/// file can hold (what Nix uses too).
pub const SOURCE_DATE_EPOCH: &str = "315532800";

/// Lines of the log shown when a build fails.
const TAIL_LINES: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("bubblewrap (`bwrap`) is not installed; it is needed to build {name}")]
    NoBwrap { name: String },
    #[error("{0}")]
    Failed(Box<Failure>),
    #[error("cannot set up the build sandbox for {name} {version} (bwrap exited with status {code})\n{}\n  full log: {}",
        indent(tail), log.display())]
    Sandbox {
        name: String,
        version: String,
        code: i32,
        log: PathBuf,
        tail: String,
    },
    #[error("the build of {name} {version} ran longer than the build timeout of {secs}s (buildTimeout / MAGPKG_BUILD_TIMEOUT) and was killed\n{}\n  full log: {}",
        indent(tail), log.display())]
    TimedOut {
        name: String,
        version: String,
        secs: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("{name} {version}: {source}")]
    Builtin {
        name: String,
        version: String,
        #[source]
        source: Box<BuiltinError>,
    },
    #[error("{name}: the build dependencies {first} and {second} are both root filesystems; a build can use one")]
    TwoRoots {
        name: String,
        first: String,
        second: String,
    },
    #[error("{name}: there is no /bin/sh in its sandbox to run the build script")]
    NoShell { name: String },
    #[error("the output of {name} {version} cannot enter the store")]
    BadOutput {
        name: String,
        version: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("source {filename} (sha256 {sha256}) of {name} is not in the source cache")]
    MissingSource {
        name: String,
        filename: String,
        sha256: String,
    },
    /// A file operation failed; the error (from `fs_err`, or
    /// [`crate::util::at`]) names the operation and the path.
    #[error("I/O error while building {name}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

/// A build script that failed.
#[derive(Debug, thiserror::Error)]
#[error("build of {name} {version} failed ({status})\n{}\n  full log: {}{}",
    indent(tail), log.display(),
    kept.as_ref().map(|k| format!("\n  build directory kept at {}", k.display())).unwrap_or_default())]
pub struct Failure {
    pub name: String,
    pub version: String,
    pub id: PackageId,
    /// "exit status 2", "killed by signal 9".
    pub status: String,
    pub log: PathBuf,
    /// The last lines of the log.
    pub tail: String,
    /// The build directory, with --keep-failed.
    pub kept: Option<PathBuf>,
}

fn indent(text: &str) -> String {
    if text.is_empty() {
        return "    | (the log is empty)".into();
    }
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Classify for BuildError {
    fn is_user_error(&self) -> bool {
        match self {
            BuildError::Failed(_)
            | BuildError::TimedOut { .. }
            | BuildError::TwoRoots { .. }
            | BuildError::NoShell { .. }
            | BuildError::MissingSource { .. } => true,
            BuildError::Builtin { source, .. } => !matches!(source.as_ref(), BuiltinError::Io(_)),
            BuildError::BadOutput { source, .. } => source.is_user_error(),
            BuildError::NoBwrap { .. } | BuildError::Sandbox { .. } | BuildError::Io { .. } => false,
            BuildError::Plan(e) => e.is_user_error(),
            BuildError::Fetch(e) => e.is_user_error(),
            BuildError::Store(e) => e.is_user_error(),
            BuildError::Cache(e) => e.is_user_error(),
            BuildError::Remote(e) => e.is_user_error(),
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            BuildError::NoBwrap { .. } => Some("install bubblewrap (apt-get install bubblewrap)".into()),
            BuildError::Failed(f) => Some(match &f.kept {
                Some(_) => format!(
                    "`magpkg log {}` shows the whole log; the build directory holds build/ (the scratch directory) and out/",
                    short(&f.id)
                ),
                None => format!(
                    "`magpkg log {}` shows the whole log; rebuild with --keep-failed to keep the build directory",
                    short(&f.id)
                ),
            }),
            BuildError::TimedOut { .. } => Some(
                "a build that needs longer: raise buildTimeout (config) or MAGPKG_BUILD_TIMEOUT (seconds, 0: no limit)"
                    .into(),
            ),
            BuildError::Sandbox { .. } => Some(
                "bwrap needs user namespaces: check `sysctl kernel.unprivileged_userns_clone` (Debian) or \
                 `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu), and that bwrap runs at all"
                    .into(),
            ),
            BuildError::Builtin { source, .. } => match source.as_ref() {
                BuiltinError::Unknown { suggestion: Some(s), .. } | BuiltinError::BadArgs { suggestion: Some(s), .. } => {
                    Some(format!("did you mean `{s}`?"))
                }
                BuiltinError::Unknown { .. } => Some(format!(
                    "the builtins are: {}",
                    builtins::BUILTINS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                )),
                BuiltinError::Unpack(unpack::UnpackError::TooBig { .. }) => Some(
                    "if the archive really unpacks to that much, raise maxUnpackSize / maxUnpackRatio (config) or \
                     MAGPKG_MAX_UNPACK_SIZE / MAGPKG_MAX_UNPACK_RATIO"
                        .into(),
                ),
                BuiltinError::Unpack(_) => {
                    Some("the archive is damaged or hostile; check the source's sha256 and where it came from".into())
                }
                _ => None,
            },
            BuildError::Io { source, .. } => crate::store::full_disk_hint(None, source),
            BuildError::NoShell { .. } => {
                Some("add a root filesystem (e.g. `bootstrap`) or a package with bin/sh to its buildDeps".into())
            }
            BuildError::BadOutput { source, .. } => source.hint(),
            BuildError::MissingSource { .. } => Some("fetch it with `magpkg fetch`, or add the file with `magpkg source add`".into()),
            BuildError::Plan(e) => e.hint(),
            BuildError::Fetch(e) => e.hint(),
            BuildError::Store(e) => e.hint(),
            BuildError::Cache(e) => e.hint(),
            BuildError::Remote(e) => e.hint(),
            _ => None,
        }
    }
}

/// The short form of an id used in messages (enough to be unique in practice).
pub fn short(id: &PackageId) -> &str {
    &id.as_str()[..id.as_str().len().min(12)]
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Packages built at once (0: `settings.jobs`).
    pub jobs: usize,
    /// Keep the build directory of a failed build (path printed).
    pub keep_failed: bool,
    /// Show progress (package being built, tail of its log).
    pub progress: bool,
    /// `--jobs 0`: no local build slot; everything goes to the remote
    /// builders of `settings.builders`.
    pub remote_only: bool,
}

/// What [`build`] did.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// Packages built by this call, in the order they finished.
    pub built: Vec<PackageId>,
    /// Packages that were already in the store.
    pub present: Vec<PackageId>,
    /// Packages taken from a binary cache, with the cache's URL.
    pub substituted: Vec<(PackageId, String)>,
    /// Packages of `built` that a remote builder built, with its URI.
    pub built_remotely: Vec<(PackageId, String)>,
    /// Store path of every root (and everything built or present).
    pub paths: BTreeMap<PackageId, PathBuf>,
}

/// Make every package of `roots` (default: the graph's roots) present in
/// the store: plan, fetch missing sources, build missing packages in
/// dependency order.
pub fn build(
    graph: &Graph,
    roots: Option<&[PackageId]>,
    store: &Store,
    settings: &Settings,
    opts: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let mut plan = crate::plan::plan(graph, store, roots)?;
    let mut report = BuildReport::default();
    let mode = settings.cache.substitute;
    if !plan.build.is_empty() && mode != Substitute::Never {
        let all_roots = roots.unwrap_or(&graph.roots);
        report.substituted = crate::cache::substitute(graph, all_roots, store, settings, opts.progress)?.substituted;
        if !report.substituted.is_empty() {
            plan = crate::plan::plan(graph, store, roots)?;
        }
    }
    if mode == Substitute::Only && !plan.build.is_empty() {
        let names = plan
            .build
            .iter()
            .map(|id| format!("{} {} ({})", graph.get(id).name, graph.get(id).version, short(id)))
            .collect();
        return Err(CacheError::NotSubstituted { names }.into());
    }
    report.present = plan
        .present
        .iter()
        .filter(|id| !report.substituted.iter().any(|(s, _)| s == *id))
        .cloned()
        .collect();
    if !plan.build.is_empty() {
        let bwrap = sandbox::find_bwrap();
        if bwrap.is_none() {
            if let Some(id) = plan
                .build
                .iter()
                .find(|id| matches!(graph.get(id).build, Build::Script(_)))
            {
                return Err(BuildError::NoBwrap {
                    name: graph.get(id).name.clone(),
                });
            }
        }
        if !plan.fetch.is_empty() {
            crate::fetch::fetch(
                &plan.fetch,
                store,
                settings,
                &FetchOptions {
                    progress: opts.progress,
                },
            )?;
        }
        let jobs = if opts.jobs == 0 { settings.jobs } else { opts.jobs };
        let remotes = if settings.builders.is_empty() {
            Vec::new()
        } else {
            crate::remote::connect_all(&settings.builders, &settings.ssh_command)
        };
        if opts.remote_only && remotes.is_empty() {
            return Err(if settings.builders.is_empty() {
                RemoteError::NoBuilders
            } else {
                RemoteError::NoBuilderLeft {
                    names: plan.build.iter().map(|id| graph.get(id).name.clone()).collect(),
                }
            }
            .into());
        }
        let builder = Builder {
            graph,
            store,
            settings,
            opts,
            bwrap,
            progress: Progress::new(opts.progress),
        };
        let index: BTreeMap<&PackageId, usize> = plan.build.iter().enumerate().map(|(i, id)| (id, i)).collect();
        let deps: Vec<Vec<usize>> = plan
            .build
            .iter()
            .map(|id| {
                let p = graph.get(id);
                let mut ds: Vec<usize> = p
                    .build_deps
                    .iter()
                    .chain(&p.run_deps)
                    .filter_map(|d| index.get(d).copied())
                    .collect();
                ds.sort_unstable();
                ds.dedup();
                ds
            })
            .collect();
        // Group 0 is this machine, group g > 0 the remote builder g - 1.
        let mut capacity = vec![if opts.remote_only { 0 } else { jobs }];
        capacity.extend(remotes.iter().map(|r| r.spec.jobs));
        // One job more than a builder runs at once: it waits for a build
        // slot there while this machine verifies and stores the last output.
        let mut spare = vec![0];
        spare.extend(remotes.iter().map(|_| 1));
        // A builtin only unpacks sources: sending them away and the tree
        // back costs more than doing it here.
        let builtin = |i: usize| !opts.remote_only && matches!(graph.get(&plan.build[i]).build, Build::Builtin(_));
        let out = scheduler::run_groups(&deps, &capacity, &spare, builtin, |g, i| {
            let id = &plan.build[i];
            if g == 0 {
                match builder.build_one(id) {
                    Ok(b) => scheduler::Attempt::Done((b, None)),
                    Err(e) => scheduler::Attempt::Failed(e),
                }
            } else {
                builder.build_remote(&remotes[g - 1], id)
            }
        });
        for (i, (built, by)) in out.done {
            if built {
                report.built.push(plan.build[i].clone());
                if let Some(uri) = by {
                    report.built_remotely.push((plan.build[i].clone(), uri));
                }
            } else {
                // Another magpkg process built it while we waited for its lock.
                report.present.push(plan.build[i].clone());
            }
        }
        if let Some((_, e)) = out.failed.into_iter().next() {
            return Err(e);
        }
        if !out.stranded.is_empty() {
            let mut names: Vec<String> = plan
                .build
                .iter()
                .filter(|id| !report.built.contains(id) && !report.present.contains(id))
                .map(|id| graph.get(id).name.clone())
                .collect();
            names.dedup();
            return Err(RemoteError::NoBuilderLeft { names }.into());
        }
    }
    let roots = roots.unwrap_or(&graph.roots);
    let substituted: Vec<PackageId> = report.substituted.iter().map(|(id, _)| id.clone()).collect();
    for id in roots
        .iter()
        .chain(&report.built)
        .chain(&report.present)
        .chain(&substituted)
    {
        if !report.paths.contains_key(id) {
            report.paths.insert(id.clone(), store.package_path(id)?);
        }
    }
    for id in report.paths.keys() {
        keep_recipe(graph, id, store)?;
    }
    Ok(report)
}

/// Keep, once, the definitions that rebuild `id` (it and everything its
/// build needs) beside its entry: `magpkg store verify --repair` rebuilds a
/// damaged entry from them, even once its build dependencies were
/// collected.
fn keep_recipe(graph: &Graph, id: &PackageId, store: &Store) -> Result<(), StoreError> {
    if store.has_recipe(id) {
        return Ok(());
    }
    let recipe = Graph {
        roots: vec![id.clone()],
        packages: graph
            .build_order(std::slice::from_ref(id))
            .into_iter()
            .map(|d| (d.clone(), graph.get(&d).clone()))
            .collect(),
    };
    store.write_recipe(id, &recipe)
}

/// Shared state of one [`build`] call.
struct Builder<'a> {
    graph: &'a Graph,
    store: &'a Store,
    settings: &'a Settings,
    opts: &'a BuildOptions,
    bwrap: Option<PathBuf>,
    progress: Progress,
}

impl Builder<'_> {
    /// Build one package into the store. `Ok(false)` if it appeared there
    /// meanwhile (built by another process).
    fn build_one(&self, id: &PackageId) -> Result<bool, BuildError> {
        let p = self.graph.get(id);
        // One builder per package across processes; the loser finds it built.
        let _lock = self.store.lock("build", id.as_str())?;
        if self.store.has_package(id) {
            tracing::debug!(package = %p.name, %id, "built meanwhile by another process");
            return Ok(false);
        }
        tracing::debug!(package = %p.name, %id, sandbox = self.bwrap.is_some(), "building");
        let started = Instant::now();
        let scratch = Scratch::new(self.store, self.opts.keep_failed)?;
        let log_path = self.store.log_path(id);
        let mut bar = self.progress.start(&format!("{} {}", p.name, p.version), &log_path);
        let out = self.produce(p, &scratch, &log_path, &mut bar)?;
        bar.message("normalising and adding to the store");
        let record = PackageRecord::of(p);
        self.add_output(p, &out, record)?;
        scratch.success();
        drop(bar);
        self.announce(p, started, "");
        Ok(true)
    }

    /// Add a build's output to the store; what a store entry cannot hold
    /// is the package's fault ([`BuildError::BadOutput`]).
    fn add_output(&self, p: &Package, out: &Path, record: PackageRecord) -> Result<PackageRecord, BuildError> {
        self.store.add_package(out, record).map_err(|source| match source {
            e @ (StoreError::BadFileType { .. } | StoreError::TooDeep { .. } | StoreError::PathTooLong { .. }) => {
                BuildError::BadOutput {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    source: Box::new(e),
                }
            }
            e => BuildError::Store(e),
        })
    }

    /// The line above the spinners saying a package is built (`place`: ""
    /// or " on ssh://...").
    fn announce(&self, p: &Package, started: Instant, place: &str) {
        self.progress.println(&format!(
            "built {} {} ({}){place} in {:.1}s",
            p.name,
            p.version,
            short(&p.id),
            started.elapsed().as_secs_f64()
        ));
    }

    /// Build one package on a remote builder; `Retry` if the builder is
    /// lost (it has said so), so that the job runs elsewhere.
    fn build_remote(
        &self,
        remote: &crate::remote::Builder,
        id: &PackageId,
    ) -> scheduler::Attempt<(bool, Option<String>), BuildError> {
        use scheduler::Attempt;
        let p = self.graph.get(id);
        let uri = &remote.spec.uri;
        let run = || -> Result<Attempt<(bool, Option<String>), BuildError>, BuildError> {
            let _lock = self.store.lock("build", id.as_str())?;
            if self.store.has_package(id) {
                return Ok(Attempt::Done((false, None)));
            }
            tracing::debug!(package = %p.name, %id, builder = %uri, "building remotely");
            let started = Instant::now();
            let scratch = Scratch::new(self.store, false)?;
            let io = |source| BuildError::Io {
                name: p.name.clone(),
                source,
            };
            let out = scratch.path.join("out");
            fs::create_dir(&out).map_err(io)?;
            let log_path = self.store.log_path(id);
            let mut log = File::create(&log_path).map_err(io)?;
            writeln!(log, "magpkg: building {} {} ({}) on {uri}", p.name, p.version, p.id).map_err(io)?;
            let mut bar = self
                .progress
                .start(&format!("{} {} on {uri}", p.name, p.version), &log_path);
            match remote.build(self.graph, p, self.store, &out, log.file_mut(), &mut || bar.tick()) {
                crate::remote::Attempt::Built { digest } => {
                    let mut record = PackageRecord::of(p);
                    record.built_by = Some(uri.clone());
                    let added = self.add_output(p, &out, record)?;
                    if added.digest != digest {
                        // The store normalises what it adds; an output that
                        // changes there was not what the builder said.
                        self.store.remove_package(id)?;
                        remote.lose(&format!(
                            "returned an output of {} {} that is not what it claims (the store holds {}, it claims {digest}); the output is refused",
                            p.name, p.version, added.digest
                        ));
                        return Ok(Attempt::Retry);
                    }
                    scratch.success();
                    drop(bar);
                    self.announce(p, started, &format!(" on {uri}"));
                    Ok(Attempt::Done((true, Some(uri.clone()))))
                }
                crate::remote::Attempt::Failed { status, tail } => {
                    let _ = writeln!(log, "magpkg: build script failed on {uri} ({status})");
                    Ok(Attempt::Failed(BuildError::Failed(Box::new(Failure {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        id: p.id.clone(),
                        status: format!("{status}, on {uri}"),
                        log: log_path.clone(),
                        tail,
                        kept: None,
                    }))))
                }
                crate::remote::Attempt::Lost => Ok(Attempt::Retry),
                crate::remote::Attempt::Local(e) => Err(e.into()),
            }
        };
        match run() {
            Ok(a) => a,
            Err(e) => Attempt::Failed(e),
        }
    }

    /// Run the package's build into `scratch/out` (returned), its output
    /// written to a new log at `log_path`.
    fn produce(
        &self,
        p: &Package,
        scratch: &Scratch,
        log_path: &Path,
        bar: &mut progress::Bar,
    ) -> Result<PathBuf, BuildError> {
        let io = |source| BuildError::Io {
            name: p.name.clone(),
            source,
        };
        let out = scratch.path.join("out");
        fs::create_dir(&out).map_err(io)?;
        let mut log = File::create(log_path).map_err(io)?;
        writeln!(log, "magpkg: building {} {} ({})", p.name, p.version, p.id).map_err(io)?;
        let mut sources = Vec::new();
        for s in &p.sources {
            let path = self
                .store
                .source(&s.sha256, &s.filename)?
                .ok_or_else(|| BuildError::MissingSource {
                    name: p.name.clone(),
                    filename: s.filename.clone(),
                    sha256: s.sha256.clone(),
                })?;
            sources.push((s.filename.clone(), path));
        }
        match &p.build {
            Build::Builtin(args) => {
                bar.message(&format!(
                    "builtin {}: {} source(s)",
                    builtins::name_of(args).unwrap_or("?"),
                    sources.len()
                ));
                let mut ctx = builtins::Ctx {
                    sources: &sources,
                    out: &out,
                    log: &mut log,
                    unpack_limits: unpack::Limits {
                        size: self.settings.max_unpack_size,
                        ratio: self.settings.max_unpack_ratio,
                    },
                };
                builtins::run(args, &mut ctx).map_err(|source| {
                    let _ = writeln!(log, "magpkg: {source}");
                    BuildError::Builtin {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        source: Box::new(source),
                    }
                })?;
            }
            Build::Script(script) => {
                let bwrap = self
                    .bwrap
                    .as_ref()
                    .ok_or_else(|| BuildError::NoBwrap { name: p.name.clone() })?;
                let sb = self.sandbox(p, scratch, &out, sources, &mut log)?;
                sb.prepare(script).map_err(io)?;
                let outcome = sb
                    .run(bwrap, log.file(), self.settings.build_timeout, &mut || bar.tick())
                    .map_err(|e| io(crate::util::at("run", bwrap, e)))?;
                match outcome {
                    sandbox::Outcome::Exited(0) => {}
                    sandbox::Outcome::Exited(code) => {
                        let status = if code > 128 {
                            format!("killed by signal {}", code - 128)
                        } else {
                            format!("exit status {code}")
                        };
                        let _ = writeln!(log, "magpkg: build script failed ({status})");
                        return Err(BuildError::Failed(Box::new(Failure {
                            name: p.name.clone(),
                            version: p.version.clone(),
                            id: p.id.clone(),
                            status,
                            log: log_path.to_path_buf(),
                            tail: progress::tail(log_path, TAIL_LINES),
                            kept: scratch.keep_on_failure(),
                        })));
                    }
                    sandbox::Outcome::TimedOut => {
                        let secs = self.settings.build_timeout.map(|t| t.as_secs()).unwrap_or_default();
                        let _ = writeln!(log, "magpkg: build killed after the build timeout of {secs}s");
                        return Err(BuildError::TimedOut {
                            name: p.name.clone(),
                            version: p.version.clone(),
                            secs,
                            log: log_path.to_path_buf(),
                            tail: progress::tail(log_path, TAIL_LINES),
                        });
                    }
                    sandbox::Outcome::SetupFailed(code) => {
                        return Err(BuildError::Sandbox {
                            name: p.name.clone(),
                            version: p.version.clone(),
                            code,
                            log: log_path.to_path_buf(),
                            tail: progress::tail(log_path, TAIL_LINES),
                        })
                    }
                }
            }
        }
        Ok(out)
    }

    /// Compose the sandbox of a script build: the root filesystem, the other
    /// dependencies under /pkgs and merged at /deps, and the environment.
    fn sandbox(
        &self,
        p: &Package,
        scratch: &Scratch,
        out: &Path,
        sources: Vec<(String, PathBuf)>,
        log: &mut File,
    ) -> Result<sandbox::Sandbox, BuildError> {
        let io = |source| BuildError::Io {
            name: p.name.clone(),
            source,
        };
        let mut rootfs: Option<(&Package, PathBuf)> = None;
        let mut pkgs = Vec::new();
        let mut deps_env = Vec::new();
        for id in sandbox_closure(self.graph, p) {
            let d = self.graph.get(&id);
            let host = self.store.package_path(&id)?;
            if is_rootfs(d) {
                if let Some((first, _)) = &rootfs {
                    return Err(BuildError::TwoRoots {
                        name: p.name.clone(),
                        first: first.name.clone(),
                        second: d.name.clone(),
                    });
                }
                deps_env.push((d, String::new()));
                rootfs = Some((d, host));
            } else {
                let mount = format!("{}-{}", id, d.name);
                deps_env.push((d, format!("/pkgs/{mount}")));
                pkgs.push((mount, host));
            }
        }
        let build = scratch.path.join("build");
        fs::create_dir(&build).map_err(io)?;
        let deps_view = if pkgs.is_empty() {
            None
        } else {
            let view = scratch.path.join("deps");
            sandbox::merge_view(&view, &pkgs, log).map_err(io)?;
            Some(view)
        };
        let has_sh = match (&rootfs, &deps_view) {
            (Some((_, root)), _) => ["bin/sh", "usr/bin/sh"]
                .iter()
                .any(|s| root.join(s).symlink_metadata().is_ok()),
            (None, Some(view)) => view.join("bin/sh").symlink_metadata().is_ok(),
            (None, None) => false,
        };
        if !has_sh {
            return Err(BuildError::NoShell { name: p.name.clone() });
        }
        let env = sandbox_env(p, self.settings.build_cores, deps_view.is_some(), &deps_env);
        Ok(sandbox::Sandbox {
            rootfs: rootfs.map(|(_, h)| h),
            pkgs,
            deps_view,
            sources,
            out: out.to_path_buf(),
            build,
            meta: scratch.path.join("meta"),
            env,
        })
    }
}

/// True for a package that is a whole root filesystem (bound at `/` of the
/// sandbox instead of being merged under /deps).
pub fn is_rootfs(p: &Package) -> bool {
    matches!(&p.build, Build::Builtin(args) if builtins::name_of(args) == Some("rootfs"))
}

/// What a script build of `p` sees: its build dependencies with their
/// runtime closures. Order = precedence in /deps: each direct build
/// dependency (in the order listed) before its own runtime dependencies.
pub fn sandbox_closure(graph: &Graph, p: &Package) -> Vec<PackageId> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for d in &p.build_deps {
        for x in graph.runtime_closure(std::slice::from_ref(d)).into_iter().rev() {
            if seen.insert(x.clone()) {
                out.push(x);
            }
        }
    }
    out
}

/// The environment of a script build (documented in doc/building.md).
/// `deps` are the sandbox closure with each one's path inside the sandbox
/// ("" for the root filesystem), highest precedence first.
pub fn sandbox_env(p: &Package, cores: usize, has_deps: bool, deps: &[(&Package, String)]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    let system_path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
    if has_deps {
        set("PATH", format!("/deps/bin:/deps/sbin:{system_path}"));
        set("C_INCLUDE_PATH", "/deps/include".into());
        set("CPLUS_INCLUDE_PATH", "/deps/include".into());
        set("LIBRARY_PATH", "/deps/lib".into());
        set("PKG_CONFIG_PATH", "/deps/lib/pkgconfig:/deps/share/pkgconfig".into());
        // Packages are built with --prefix=/ (their .pc files say prefix=/):
        // pkg-config puts /deps in front of their -I/-L paths.
        set("PKG_CONFIG_SYSROOT_DIR", "/deps".into());
        set("ACLOCAL_PATH", "/deps/share/aclocal".into());
    } else {
        set("PATH", system_path.into());
    }
    set("HOME", "/homeless".into());
    set("TMPDIR", "/tmp".into());
    set("TZ", "UTC".into());
    set("LC_ALL", "C".into());
    set("LANG", "C".into());
    set("SHELL", "/bin/sh".into());
    set("USER", "build".into());
    set("LOGNAME", "build".into());
    set("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH.into());
    set("MAGPKG_BUILD_CORES", cores.to_string());
    set("MAKEFLAGS", format!("-j{cores}"));
    set("out", "/out".into());
    set("name", p.name.clone());
    set("version", p.version.clone());
    set("src", "/fetch".into());
    // Lowest precedence first, so a direct dependency's value wins.
    for (d, place) in deps.iter().rev() {
        for (k, v) in &d.env {
            let value = expand(v, place, &env);
            env.insert(k.clone(), value);
        }
    }
    env
}

/// Expand `$out` / `${out}` to `out` and `$NAME` / `${NAME}` to the value
/// in `env` (empty if unset); `$$` is a `$`.
fn expand(value: &str, out: &str, env: &BTreeMap<String, String>) -> String {
    let mut res = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        res.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            res.push('$');
            rest = stripped;
            continue;
        }
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(j) => (&braced[..j], &braced[j + 1..]),
                None => ("", after),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            res.push('$');
            rest = after;
            continue;
        }
        if name == "out" {
            res.push_str(out);
        } else if let Some(v) = env.get(name) {
            res.push_str(v);
        }
        rest = next;
    }
    res.push_str(rest);
    res
}

/// A build's scratch directory in the store's tmp-v1/: removed when dropped
/// unless the build failed with --keep-failed.
struct Scratch {
    path: PathBuf,
    keep_failed: bool,
    keep: std::cell::Cell<bool>,
}

impl Scratch {
    fn new(store: &Store, keep_failed: bool) -> Result<Scratch, StoreError> {
        let dir = store.tempdir("build-")?;
        Ok(Scratch {
            path: dir.keep(),
            keep_failed,
            // Kept unless the build succeeds (with --keep-failed).
            keep: std::cell::Cell::new(keep_failed),
        })
    }

    /// Called on failure: the path if it is kept (out of reach of the
    /// sweeps of scratch directories whose process is gone).
    fn keep_on_failure(&self) -> Option<PathBuf> {
        self.keep_failed
            .then(|| crate::store::scratch::keep(&self.path).unwrap_or_else(|_| self.path.clone()))
    }

    fn success(&self) {
        self.keep.set(false);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep.get() {
            let _ = crate::store::remove_tree(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_substitutes_out_and_known_variables() {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_string(), "/bin".to_string());
        assert_eq!(expand("$out/bin:$PATH", "/pkgs/x", &env), "/pkgs/x/bin:/bin");
        assert_eq!(expand("${out}/share", "/pkgs/x", &env), "/pkgs/x/share");
        assert_eq!(expand("a$UNSET-b", "", &env), "a-b");
        assert_eq!(expand("cost $$5 $", "", &env), "cost $5 $");
    }
}
