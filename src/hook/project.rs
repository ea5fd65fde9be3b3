//! Deciding, without evaluating any Jsonnet, whether its environment may be activated: trust record and
//! realised project state against the current content of the files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::trust::{self, Status, Summary, TrustRecord};
use super::{watch, HookError};
use crate::env::project::Project;
use crate::env::state::{project_state_path, FileStamp, ProjectState};

/// The directory the user is in: `$PWD` when it names the current directory
/// (it keeps the symlinks the shell walked through), else the physical path.
pub fn current_dir() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let cwd = std::env::current_dir().ok();
    if let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from).filter(|p| p.is_absolute()) {
        if let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata(".")) {
            if a.dev() == b.dev() && a.ino() == b.ino() {
                return Some(pwd);
            }
        }
    }
    cwd
}

/// Whether the project's environment may be active, and if not, why.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// No `magpkg allow` for this path.
    Untrusted,
    /// `magpkg deny` was run here.
    Denied,
    /// Allowed once, but trusted files changed since.
    Blocked {
        files: Vec<String>,
        /// Packages/variables that changed, when the new content is realised.
        changes: Option<String>,
    },
    /// Trusted, but no environment was realised for it yet.
    NotBuilt,
    /// Trusted, but the realised environment is for other file contents.
    /// `previous`: that environment, when it was realised from content
    /// trusted before the last `magpkg allow` (and is still in the store):
    /// it may stay loaded until the new one is built.
    OutOfDate {
        files: Vec<String>,
        previous: Option<Box<ProjectState>>,
    },
    /// Trusted and realised, but a package of its environment was found
    /// damaged in the store (the names): not activated until repaired.
    Damaged { packages: String },
    /// Trusted and realised: activate this.
    Ready(Box<ProjectState>),
}

/// Everything the hook and `magpkg status` need to know about a project.
#[derive(Debug)]
pub struct Inspection {
    pub project: Project,
    pub verdict: Verdict,
    pub trust: Option<TrustRecord>,
    pub state: Option<ProjectState>,
    /// (watched path, stamp) pairs for the shell: when none of them changes,
    /// this inspection stays true.
    pub watch: Vec<(PathBuf, PathBuf)>,
    /// Records that exist but could not be read.
    pub problems: Vec<String>,
}

pub(crate) fn read_state(state_dir: &Path, root: &Path) -> Result<Option<ProjectState>, HookError> {
    let path = project_state_path(state_dir, root);
    let bytes = match fs_err::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let state: ProjectState = serde_json::from_slice(&bytes).map_err(|source| HookError::Corrupt { path, source })?;
    Ok((state.root == root).then_some(state))
}

/// `path` for messages: relative to the project `root` when inside it.
fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Current content hashes, each file read once.
#[derive(Default)]
struct Hashes(HashMap<PathBuf, Option<String>>);

impl Hashes {
    fn get(&mut self, path: &Path) -> Option<&str> {
        self.0
            .entry(path.to_path_buf())
            .or_insert_with(|| crate::env::state::digest(path).ok())
            .as_deref()
    }

    /// The files whose content differs from `files` (shown relative to `root`).
    fn changed(&mut self, files: &[FileStamp], root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for f in files {
            if self.get(&f.path) != Some(f.sha256.as_str()) {
                let shown = shown(&f.path, root);
                out.push(if f.path.symlink_metadata().is_ok() {
                    shown
                } else {
                    format!("{shown} (deleted)")
                });
            }
        }
        out
    }
}

/// Decide about `project`. With `stamps`, make a stamp for every watched path
/// first (before any file is hashed, so an edit racing with this run still
/// shows as a change at the next prompt).
pub fn inspect(state_dir: &Path, project: Project, stamps: Option<&Path>) -> Inspection {
    let mut problems = Vec::new();
    let trust = trust::read(state_dir, &project.root).unwrap_or_else(|e| {
        problems.push(crate::hook::error_line(&e));
        None
    });
    let allowed = trust.as_ref().filter(|t| t.status == Status::Allowed);
    let state = if allowed.is_some() {
        read_state(state_dir, &project.root).unwrap_or_else(|e| {
            problems.push(crate::hook::error_line(&e));
            None
        })
    } else {
        None
    };

    let mut watched = vec![trust::record_path(state_dir, &project.root)];
    if let Some(t) = allowed {
        watched.extend(t.files.iter().map(|f| f.path.clone()));
        watched.push(project_state_path(state_dir, &project.root));
        watched.push(super::background::paths(state_dir, &project.root).job);
        if let Some(s) = &state {
            watched.extend(s.files.iter().map(|f| f.path.clone()));
            watched.push(crate::env::profile::damage_mark(&s.profile));
            // Removed by `store gc`: the environment is no longer there.
            watched.push(s.profile.clone());
        }
        // The shell's tests follow links, so a link retargeted to a file of
        // the same mtime would go unseen; replacing a link always changes
        // the directory holding it.
        watched.extend(
            t.files
                .iter()
                .chain(state.iter().flat_map(|s| &s.files))
                .filter(|f| f.is_link())
                .filter_map(|f| f.path.parent().map(Path::to_path_buf)),
        );
    }
    let mut seen = std::collections::HashSet::new();
    watched.retain(|p| seen.insert(p.clone()));
    let watch = match stamps {
        Some(dir) => watched
            .into_iter()
            .filter_map(|p| watch::stamp(dir, &p).map(|s| (p, s)))
            .collect(),
        None => Vec::new(),
    };

    let mut hashes = Hashes::default();
    let verdict = match &trust {
        None => Verdict::Untrusted,
        Some(t) if t.status == Status::Denied => Verdict::Denied,
        Some(t) => {
            let mut blocked = hashes.changed(&t.files, &project.root);
            let fresh = state.as_ref().map(|s| hashes.changed(&s.files, &project.root));
            // A state realised from content the record does not list (a
            // file reached through a link the record never saw) is not
            // trusted, however current it is.
            if let (Some(s), Some(f)) = (&state, &fresh) {
                if f.is_empty() && blocked.is_empty() {
                    blocked.extend(
                        s.files
                            .iter()
                            .filter(|f| !t.files.contains(f))
                            .map(|f| shown(&f.path, &project.root) + " (not in the trusted content)"),
                    );
                }
            }
            if !blocked.is_empty() {
                let changes = match (&t.summary, &state, &fresh) {
                    (Some(old), Some(s), Some(f)) if f.is_empty() => old.changes_to(&Summary::of(s)),
                    _ => None,
                };
                Verdict::Blocked {
                    files: blocked,
                    changes,
                }
            } else {
                match (state.clone(), fresh) {
                    (None, _) => Verdict::NotBuilt,
                    // Realised once, but the profile has since been removed
                    // from the store: as good as never built.
                    (Some(s), _) if !s.profile.is_dir() => Verdict::NotBuilt,
                    (Some(s), Some(f)) if f.is_empty() => {
                        match std::fs::read_to_string(crate::env::profile::damage_mark(&s.profile)) {
                            Ok(names) => Verdict::Damaged {
                                packages: names.trim().to_string(),
                            },
                            Err(_) => Verdict::Ready(Box::new(s)),
                        }
                    }
                    (Some(s), f) => Verdict::OutOfDate {
                        files: f.unwrap_or_default(),
                        previous: (!s.files.is_empty() && s.files.iter().all(|f| t.previous.contains(f)))
                            .then(|| Box::new(s)),
                    },
                }
            }
        }
    };
    Inspection {
        project,
        verdict,
        trust,
        state,
        watch,
        problems,
    }
}
