//! Project environments: the magnet.jsonnet manifest, environment ids,
//! realised profiles, the lock file.
//!
//! A project is a directory with a `magnet.jsonnet` ([`project`]). Its
//! manifest is evaluated and checked ([`manifest`]) into a package graph;
//! the runtime closure of its packages plus its `env` and `path` give the
//! environment id and the lock ([`lock`]). Realising builds what the store
//! lacks, merges the closure into a profile in the store ([`profile`]),
//! registers a GC root for the project, writes `magnet.lock` and the
//! [`state::ProjectState`] that the shell hook, `magpkg shell` and `magpkg
//! env --id` read without evaluating Jsonnet again.
//!
//! Entry points: [`find_project`], then [`activate`] (cached state, or
//! [`resolve`] + [`realise`]), or [`env_id`] (no build).

pub mod diff;
pub mod lock;
pub mod manifest;
pub mod profile;
pub mod project;
pub mod state;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fs_err as fs;

use crate::build::{BuildError, BuildOptions};
use crate::error::Classify;
use crate::eval::{EvalError, Input};
use crate::model::{Graph, PackageId};
use crate::settings::Settings;
use crate::store::{StoreError, GCROOTS};

use lock::Lock;
use manifest::Manifest;
use profile::EnvRecord;
pub use project::{find_project, Project};
use state::{project_key, project_state_path, FileStamp, ProjectState};

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("no magnet.jsonnet in {start} or any directory above it")]
    NoManifest { start: PathBuf },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Manifest {
        path: PathBuf,
        line: Option<usize>,
        message: String,
        suggestion: Option<String>,
        hint: Option<String>,
    },
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("cannot build the environment of {root}")]
    Build {
        root: PathBuf,
        // Boxed: a build error is large, and every other variant pays for it.
        #[source]
        source: Box<BuildError>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file operation failed; the error (from `fs_err`, or
    /// [`crate::util::at`]) names the operation and the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path} is out of date: the manifest now evaluates to another environment\n{diff}")]
    LockMismatch { path: PathBuf, diff: String },
    #[error("{path} does not exist, and --locked needs it")]
    NoLock { path: PathBuf },
    #[error("{path} is not a valid lock file: {problem}")]
    BadLock { path: PathBuf, problem: String },
    #[error("environment record {path} is corrupt: {problem}")]
    BadRecord { path: PathBuf, problem: String },
    #[error("no template named `{name}`")]
    UnknownTemplate { name: String, suggestion: Option<String> },
    #[error("{path} already exists")]
    ManifestExists { path: PathBuf },
}

impl Classify for EnvError {
    fn is_user_error(&self) -> bool {
        match self {
            EnvError::Eval(e) => e.is_user_error(),
            EnvError::Build { source, .. } => source.is_user_error(),
            EnvError::Store(e) => e.is_user_error(),
            EnvError::Io(_) | EnvError::BadRecord { .. } => false,
            _ => true,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            EnvError::NoManifest { .. } => Some("create one with `magpkg init`".into()),
            EnvError::Manifest {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            EnvError::Manifest { hint, .. } => hint.clone(),
            EnvError::Eval(e) => e.hint(),
            EnvError::Build { source, .. } => source.hint(),
            EnvError::Store(e) => e.hint(),
            EnvError::LockMismatch { .. } => Some(
                "if the change is intended, run the command without --locked to update magnet.lock, and commit it"
                    .into(),
            ),
            EnvError::NoLock { .. } => {
                Some("run `magpkg env` (or `magpkg shell`) once without --locked, and commit magnet.lock".into())
            }
            EnvError::BadLock { .. } => {
                Some("fix it, or delete it and run `magpkg env` without --locked to write it again".into())
            }
            EnvError::BadRecord { path, .. } => Some(format!(
                "remove {} and its directory; the next `magpkg shell` realises it again",
                path.display()
            )),
            EnvError::UnknownTemplate {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            EnvError::UnknownTemplate { .. } => Some("`magpkg init --list` lists the templates".into()),
            EnvError::ManifestExists { .. } => Some("use --force to replace it".into()),
            _ => None,
        }
    }
}

/// A manifest evaluated into an environment, not yet realised.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub project: Project,
    pub manifest: Manifest,
    pub graph: Graph,
    /// The runtime closure in priority order: the manifest's packages as
    /// listed, then their runtime dependencies (dependencies first). On a
    /// file conflict in the profile, the earlier package wins.
    pub closure: Vec<PackageId>,
    /// What `magnet.lock` must say; `lock.env_id` is the environment id.
    pub lock: Lock,
    /// The manifest and every local file it read.
    pub files: Vec<FileStamp>,
}

impl Resolved {
    pub fn env_id(&self) -> &str {
        &self.lock.env_id
    }
}

/// Evaluate and check a project's manifest, and compute its environment id
/// (nothing is built or written).
pub fn resolve(project: &Project, settings: &Settings) -> Result<Resolved, EnvError> {
    let evaluated =
        crate::eval::evaluate_value(&Input::File(project.manifest.clone()), settings.packages_dir.as_deref())?;
    let manifest = manifest::parse(&evaluated.value, &project.manifest, &project.root)?;
    let empty = match &manifest.packages {
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    };
    let graph = if empty {
        Graph::default()
    } else {
        crate::eval::graph_from_value(&manifest.packages, &evaluated)?
    };
    let closure = priority_closure(&graph);
    let lock = Lock::new(closure.iter().map(|id| graph.get(id)), &manifest.env, &manifest.path);
    let files = state::dependencies(&evaluated.files, &evaluated.named)
        .map_err(|(path, e)| crate::util::at("read", &path, e))?;
    Ok(Resolved {
        project: project.clone(),
        manifest,
        graph,
        closure,
        lock,
        files,
    })
}

/// The roots as listed, then everything they need at run time.
fn priority_closure(graph: &Graph) -> Vec<PackageId> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in graph.roots.iter().cloned().chain(graph.runtime_closure(&graph.roots)) {
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    out
}

/// How to realise.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fail if `magnet.lock` differs from the evaluation instead of
    /// rewriting it.
    pub locked: bool,
    pub build: BuildOptions,
}

/// What [`realise`] did.
#[derive(Debug, Clone)]
pub struct Realised {
    pub state: ProjectState,
    pub record: EnvRecord,
    /// The profile was created by this call.
    pub created: bool,
    /// `magnet.lock` was written (created or changed) by this call.
    pub lock_written: bool,
    /// Things the user should know that did not stop realisation.
    pub warnings: Vec<String>,
}

/// Make a resolved environment real: check the lock (`--locked`), build
/// what is missing, write the profile, the GC root, `magnet.lock`, the
/// project state and the `.magpkg/profile` link.
pub fn realise(resolved: &Resolved, settings: &Settings, opts: &Options) -> Result<Realised, EnvError> {
    let project = &resolved.project;
    if opts.locked {
        check_lock(resolved)?;
    }
    let store = crate::store::Store::open(&settings.store_dir)?;
    if !resolved.closure.is_empty() {
        crate::build::build(&resolved.graph, Some(&resolved.closure), &store, settings, &opts.build).map_err(
            |source| EnvError::Build {
                root: project.root.clone(),
                source: Box::new(source),
            },
        )?;
    }
    let mut packages = Vec::new();
    for id in &resolved.closure {
        // A damaged entry is never activated: one read of its record.
        let rec = store.usable_package(id)?;
        packages.push((resolved.graph.get(id), store.package_dir(id, &rec.name)));
    }
    let id = resolved.env_id();
    // Every package is whole now (repaired, or rebuilt): the environment
    // may be activated again.
    profile::clear_damage(&store, id)?;
    let (record, created) = profile::ensure(&store, id, &packages)?;
    let profile = profile::profile_dir(store.root(), id);
    register_gc_root(&store, &project.root, &profile)?;

    let mut warnings = Vec::new();
    let lock_path = project.lock_path();
    let lock_written = if opts.locked {
        false
    } else {
        // A lock we cannot parse is replaced: it is a record, not an input.
        let current = Lock::read(&lock_path).ok().flatten();
        if current.as_ref() != Some(&resolved.lock) {
            crate::util::write_atomic(&lock_path, resolved.lock.to_text().as_bytes())?;
            true
        } else {
            false
        }
    };
    let state = project_state(resolved, &record, &profile, evaluation_key(settings));
    let state_path = project_state_path(&settings.state_dir, &project.root);
    let json = serde_json::to_vec_pretty(&state).expect("project state serialises");
    crate::util::write_atomic(&state_path, &json)?;
    if let Err(e) = link_profile(&project.root, &profile) {
        warnings.push(format!(
            "cannot link {}/{}/profile to the environment: {e}",
            project.root.display(),
            project::LOCAL_DIR
        ));
    }
    if created && !record.conflicts.is_empty() {
        let c = &record.conflicts[0];
        warnings.push(format!(
            "{} file(s) are provided by more than one package; the package listed first wins (e.g. {} from {}, not {})",
            record.conflicts.len(),
            c.path,
            c.kept,
            c.hidden
        ));
    }
    Ok(Realised {
        state,
        record,
        created,
        lock_written,
        warnings,
    })
}

/// The state the hook and the shell apply: the profile's variables, the
/// manifest's `path` (first on `PATH`) and `env` (root expanded, overriding
/// the packages' variables), and magpkg's own markers.
fn project_state(resolved: &Resolved, record: &EnvRecord, profile: &Path, tree: String) -> ProjectState {
    let root = &resolved.project.root;
    let m = &resolved.manifest;
    let name = m.name.clone().unwrap_or_else(|| resolved.project.dir_name());
    let mut prepend: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut path: Vec<String> = m
        .path
        .iter()
        .map(|p| {
            if p == "." {
                root.display().to_string()
            } else {
                root.join(p).display().to_string()
            }
        })
        .collect();
    for (var, rels) in &record.prepend {
        let dirs = rels.iter().map(|r| profile.join(r).display().to_string());
        if var == "PATH" {
            path.extend(dirs);
        } else {
            prepend.insert(var.clone(), dirs.collect());
        }
    }
    if !path.is_empty() {
        prepend.insert("PATH".into(), path);
    }
    let mut set = record.set.clone();
    for (k, v) in &m.env {
        set.insert(k.clone(), manifest::expand_root(v, root));
    }
    set.insert("MAGPKG_ENV".into(), name.clone());
    set.insert("MAGPKG_ENV_ID".into(), resolved.env_id().to_string());
    set.insert(manifest::ROOT_VAR.into(), root.display().to_string());
    // A variable given a value is not also a search path: the value wins.
    prepend.retain(|k, _| !set.contains_key(k));
    let mut packages = BTreeMap::new();
    for id in &resolved.closure {
        let p = resolved.graph.get(id);
        packages.entry(p.name.clone()).or_insert_with(|| id.to_string());
    }
    ProjectState {
        root: root.clone(),
        manifest: resolved.project.manifest.clone(),
        files: resolved.files.clone(),
        env_id: resolved.env_id().to_string(),
        profile: profile.to_path_buf(),
        set,
        prepend,
        packages,
        name,
        tree,
        shell_hook: m.shell_hook.clone(),
        scripts: m.scripts.clone(),
        pure: m.pure.clone(),
    }
}

/// `gcroots-v1/<project key>` → the profile, replaced atomically, so the
/// project's current environment survives a garbage collection.
fn register_gc_root(store: &crate::store::Store, root: &Path, profile: &Path) -> Result<(), EnvError> {
    let link = store.bucket(GCROOTS).join(project_key(root));
    replace_symlink(profile, &link)
}

/// `<root>/.magpkg/profile` → the profile, for editors and tools that want
/// a stable path to the environment's files.
fn link_profile(root: &Path, profile: &Path) -> Result<(), EnvError> {
    let dir = root.join(project::LOCAL_DIR);
    fs::create_dir_all(&dir)?;
    replace_symlink(profile, &dir.join("profile"))
}

fn replace_symlink(target: &Path, link: &Path) -> Result<(), EnvError> {
    if fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let tmp = link.with_file_name(format!(
        ".tmp-{}-{}",
        link.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    fs::os::unix::fs::symlink(target, &tmp)?;
    Ok(fs::rename(&tmp, link)?)
}

/// Compare the lock file with what the manifest evaluates to now.
pub fn check_lock(resolved: &Resolved) -> Result<(), EnvError> {
    let path = resolved.project.lock_path();
    match Lock::read(&path)? {
        None => Err(EnvError::NoLock { path }),
        Some(l) if l == resolved.lock => Ok(()),
        Some(l) => Err(EnvError::LockMismatch {
            diff: lock::diff(&l, &resolved.lock),
            path,
        }),
    }
}

/// What the cached evaluation depended on besides the manifest's files: the
/// magpkg binary (its embedded package tree) and the package tree setting.
pub fn evaluation_key(settings: &Settings) -> String {
    let exe = std::env::current_exe()
        .and_then(fs::metadata)
        .map(|m| format!("{}:{}.{}:{}", m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
        .unwrap_or_default();
    let tree = match &settings.packages_dir {
        Some(p) => p.display().to_string(),
        None => "embedded".into(),
    };
    format!("magpkg {} exe {exe} tree {tree}", env!("CARGO_PKG_VERSION"))
}

/// The project's state if it is still valid: same binary and tree setting,
/// every watched file unchanged, the profile present in the current store.
/// This is the fast path: no Jsonnet, a few small reads and hashes.
pub fn cached_state(project: &Project, settings: &Settings) -> Option<ProjectState> {
    let bytes = fs::read(project_state_path(&settings.state_dir, &project.root)).ok()?;
    let st: ProjectState = serde_json::from_slice(&bytes).ok()?;
    let valid = st.root == project.root
        && st.manifest == project.manifest
        && st.tree == evaluation_key(settings)
        && st.profile == profile::profile_dir(&settings.store_dir, &st.env_id)
        && profile::record_path(&settings.store_dir, &st.env_id).is_file();
    if !valid {
        return None;
    }
    for f in &st.files {
        if state::digest(&f.path).ok()? != f.sha256 {
            return None;
        }
    }
    Some(st)
}

/// True if `magnet.lock` exists and names environment `env_id`.
fn lock_names(project: &Project, env_id: &str) -> bool {
    matches!(Lock::read(&project.lock_path()), Ok(Some(l)) if l.env_id == env_id)
}

/// The project's environment, realised: from the cached state when it is
/// valid and the lock agrees, else evaluated and realised now.
pub fn activate(project: &Project, settings: &Settings, opts: &Options) -> Result<Activated, EnvError> {
    if let Some(state) = cached_state(project, settings) {
        // A damage mark (one `stat`) sends it down the slow path, which
        // reads every package's record and refuses a damaged one.
        if lock_names(project, &state.env_id) && !profile::damage_mark(&state.profile).exists() {
            return Ok(Activated { state, realised: None });
        }
    }
    let resolved = resolve(project, settings)?;
    let r = realise(&resolved, settings, opts)?;
    Ok(Activated {
        state: r.state.clone(),
        realised: Some(r),
    })
}

/// What [`activate`] returns.
#[derive(Debug, Clone)]
pub struct Activated {
    pub state: ProjectState,
    /// Set when the slow path ran (evaluation and realisation).
    pub realised: Option<Realised>,
}

/// Realise the project's environment now if that builds and downloads
/// nothing (every package is in the store): `magpkg allow` does it so that
/// the next prompt loads what was allowed. `None`: nothing done, because
/// the state is current already or something must be built first.
pub fn realise_if_built(project: &Project, settings: &Settings) -> Result<Option<Realised>, EnvError> {
    if cached_state(project, settings).is_some_and(|s| lock_names(project, &s.env_id)) {
        return Ok(None);
    }
    let resolved = resolve(project, settings)?;
    let store = crate::store::Store::open(&settings.store_dir)?;
    let missing = resolved.closure.iter().any(|id| !store.has_package(id));
    if missing {
        return Ok(None);
    }
    realise(&resolved, settings, &Options::default()).map(Some)
}

/// The manifest's `scripts` (name → POSIX sh), without building anything:
/// from the cached state when valid, else by evaluating the manifest.
pub fn scripts(project: &Project, settings: &Settings) -> Result<BTreeMap<String, String>, EnvError> {
    if let Some(state) = cached_state(project, settings) {
        return Ok(state.scripts);
    }
    Ok(resolve(project, settings)?.manifest.scripts)
}

/// The environment id of a project, without building anything: from the
/// cached state when valid, else by evaluating the manifest.
pub fn env_id(project: &Project, settings: &Settings, locked: bool) -> Result<String, EnvError> {
    if let Some(state) = cached_state(project, settings) {
        if !locked || lock_names(project, &state.env_id) {
            return Ok(state.env_id);
        }
    }
    let resolved = resolve(project, settings)?;
    if locked {
        check_lock(&resolved)?;
    }
    Ok(resolved.lock.env_id)
}
