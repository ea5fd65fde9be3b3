//! Background realisation: a trusted project whose environment is not
//! built, or out of date, is realised by a process of its own while the
//! prompt goes on, lorri's idea without a daemon.
//!
//! The hook ([`at_prompt`]) takes the project's lock under
//! `<state>/realise-v1/` without waiting and, when it gets it, starts
//! `magpkg env --background` with the lock as its standard input: the lock
//! is then held exactly as long as that process (and the builds it runs)
//! lives, so a second shell entering the project finds it taken and starts
//! nothing. The process appends to `<key>.log` and leaves `<key>.json` (a
//! [`Job`]) saying how it ended; the hook watches that file and the
//! project state, so the first prompt after it finishes loads the
//! environment or says, once, that the build failed. `magpkg env --cancel`
//! ([`cancel`]) ends it.

use std::io::Write;
use std::path::{Path, PathBuf};

use fs_err::{File, OpenOptions};
use serde::{Deserialize, Serialize};

use super::project::{Inspection, Verdict};
use super::trust::TrustRecord;
use super::{display, error_line, HookError};
use crate::env::project::Project;
use crate::env::state::project_key;
use crate::settings::Settings;

pub const JOBS_DIR: &str = "realise-v1";
const VERSION: u32 = 1;

/// Where a project's background realisation keeps its lock, log and job
/// record.
pub struct Paths {
    pub lock: PathBuf,
    pub log: PathBuf,
    pub job: PathBuf,
}

pub fn paths(state_dir: &Path, root: &Path) -> Paths {
    let base = state_dir.join(JOBS_DIR).join(project_key(root));
    Paths {
        lock: base.with_extension("lock"),
        log: base.with_extension("log"),
        job: base.with_extension("json"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// The last background realisation of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub v: u32,
    pub root: PathBuf,
    /// The trusted content it realises ([`content_key`]): a job that failed
    /// or was cancelled is not started again for the same content.
    pub key: String,
    pub state: JobState,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A shell has been told how it ended.
    #[serde(default)]
    pub reported: bool,
}

/// What a trust record trusts, as one word.
pub fn content_key(t: &TrustRecord) -> String {
    let json = serde_json::to_vec(&t.files).expect("stamps serialise");
    crate::hash::digest("magpkg-realise-content-v1", &json)[..32].to_string()
}

/// The job record of the project at `root`, if any.
pub fn read(state_dir: &Path, root: &Path) -> Option<Job> {
    let bytes = std::fs::read(paths(state_dir, root).job).ok()?;
    let job: Job = serde_json::from_slice(&bytes).ok()?;
    (job.v == VERSION && job.root == root).then_some(job)
}

fn write(state_dir: &Path, job: &Job) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(job).expect("jobs serialise");
    crate::util::write_atomic(&paths(state_dir, &job.root).job, &json)
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    fs_err::create_dir_all(path.parent().expect("lock paths have a parent"))?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The lock, taken without waiting; `None` while a realisation holds it.
fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let f = open_lock(path)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(crate::util::at("lock", path, e)),
    }
}

/// Whether a background realisation of `root` is running.
pub fn running(state_dir: &Path, root: &Path) -> bool {
    matches!(try_lock(&paths(state_dir, root).lock), Ok(None))
}

/// Start `magpkg env --background` for `root`, unless one is running.
/// `Ok(false)`: one is.
fn start(magpkg: &Path, state_dir: &Path, root: &Path, key: &str) -> std::io::Result<bool> {
    use std::os::unix::process::CommandExt;
    let p = paths(state_dir, root);
    let Some(lock) = try_lock(&p.lock)? else {
        return Ok(false);
    };
    let log = OpenOptions::new().create(true).append(true).open(&p.log)?.into_file();
    let child = std::process::Command::new(magpkg)
        .args(["env", "--background", "-C"])
        .arg(root)
        .current_dir(root)
        // The lock travels as standard input: held while the child lives.
        .stdin(lock.into_file())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: no Ctrl-C or hangup of the terminal reaches
        // it, and `--cancel` ends it with its builds.
        .process_group(0)
        .spawn()?;
    write(
        state_dir,
        &Job {
            v: VERSION,
            root: root.to_path_buf(),
            key: key.to_string(),
            state: JobState::Running,
            pid: child.id(),
            error: None,
            reported: false,
        },
    )?;
    Ok(true)
}

/// What the hook says about a trusted project that is not ready, in place
/// of the verdict's line: it starts a background realisation (when it
/// knows `magpkg`'s path), tells that one is running, or tells once that
/// the last one failed. `None`: the verdict's own line. Writing the job
/// record is reported through `touched`, so its stamp can be made again.
pub fn at_prompt(state_dir: &Path, i: &Inspection, magpkg: Option<&Path>, touched: &mut bool) -> Option<String> {
    if !matches!(i.verdict, Verdict::NotBuilt | Verdict::OutOfDate { .. }) {
        return None;
    }
    let t = i.trust.as_ref()?;
    let root = &i.project.root;
    let shown = display(&i.project.found);
    let p = paths(state_dir, root);
    let log = display(&p.log);
    let key = content_key(t);
    let job = read(state_dir, root);
    if running(state_dir, root) {
        return Some(format!(
            "magpkg: {shown}: environment being built in the background (log: {log}); it loads at the first prompt after"
        ));
    }
    match job {
        Some(mut j) if j.key == key && j.state == JobState::Failed => {
            if j.reported {
                return None;
            }
            j.reported = true;
            *touched |= write(state_dir, &j).is_ok();
            Some(format!(
                "magpkg: {shown}: building the environment in the background failed{}; see {log} (`magpkg shell` builds it here)",
                j.error.map(|e| format!(" ({e})")).unwrap_or_default()
            ))
        }
        Some(j) if j.key == key && j.state != JobState::Running => None,
        _ => {
            let magpkg = magpkg?;
            match start(magpkg, state_dir, root, &key) {
                Ok(started) => {
                    *touched |= started;
                    Some(format!(
                        "magpkg: {shown}: building the environment in the background (log: {log}; `magpkg env --cancel` stops it); it loads at the first prompt after"
                    ))
                }
                Err(e) => Some(format!(
                    "magpkg: {shown}: cannot start a background build ({}): {e}",
                    display(magpkg)
                )),
            }
        }
    }
}

/// Whether the environment the hook is loading now was just realised in
/// the background: then the loaded line says so (once).
pub fn just_built(state_dir: &Path, i: &Inspection, touched: &mut bool) -> bool {
    let (Some(t), Some(mut j)) = (&i.trust, read(state_dir, &i.project.root)) else {
        return false;
    };
    if j.reported || j.key != content_key(t) || !matches!(j.state, JobState::Running | JobState::Done) {
        return false;
    }
    j.reported = true;
    *touched |= write(state_dir, &j).is_ok();
    true
}

/// `magpkg env --background`: realise the project's environment, as the
/// hook asked. Run with the lock as standard input (see [`at_prompt`]), or
/// by hand, when it takes the lock itself. Output goes to the log.
pub fn run(project: Project, settings: &Settings) -> Result<i32, HookError> {
    let p = paths(&settings.state_dir, &project.root);
    let inherited = {
        use std::os::unix::fs::MetadataExt;
        let lock = open_lock(&p.lock)?.metadata()?;
        std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.dev() == lock.dev() && m.ino() == lock.ino())
    };
    let _held = if inherited {
        None
    } else {
        match try_lock(&p.lock)? {
            Some(l) => Some(l),
            None => {
                eprintln!(
                    "magpkg: a background realisation of {} is already running (log: {})",
                    display(&project.root),
                    display(&p.log)
                );
                return Ok(0);
            }
        }
    };
    let i = super::project::inspect(&settings.state_dir, project.clone(), None);
    let key = i.trust.as_ref().map(content_key).unwrap_or_default();
    let mut job = Job {
        v: VERSION,
        root: project.root.clone(),
        key,
        state: JobState::Running,
        pid: std::process::id(),
        error: None,
        reported: false,
    };
    let _ = writeln!(
        std::io::stderr(),
        "magpkg: background realisation of {} started (pid {})",
        project.root.display(),
        job.pid
    );
    let outcome = match &i.verdict {
        Verdict::NotBuilt | Verdict::OutOfDate { .. } | Verdict::Ready(_) => {
            let opts = crate::env::Options {
                locked: false,
                build: crate::build::BuildOptions {
                    jobs: settings.jobs,
                    keep_failed: false,
                    progress: false,
                    remote_only: false,
                },
            };
            crate::env::activate(&project, settings, &opts)
                .map(|a| a.state.env_id)
                .map_err(|e| error_line(&e))
        }
        _ => Err("the project is not trusted as it is now; run `magpkg allow`".into()),
    };
    let code = match outcome {
        Ok(id) => {
            job.state = JobState::Done;
            eprintln!(
                "magpkg: background realisation done: environment {}",
                &id[..id.len().min(12)]
            );
            0
        }
        Err(e) => {
            eprintln!("magpkg: background realisation failed: {e}");
            job.state = JobState::Failed;
            job.error = Some(first_line(&e));
            1
        }
    };
    // A shell that already loaded the new state while this process was
    // ending has told the user: keep that.
    job.reported = read(&settings.state_dir, &project.root).is_some_and(|j| j.reported && j.pid == job.pid);
    write(&settings.state_dir, &job)?;
    Ok(code)
}

fn first_line(e: &str) -> String {
    let line = e.lines().next().unwrap_or("");
    let mut s: String = line.chars().take(200).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

/// `magpkg env --cancel`: end the project's background realisation and its
/// builds; the hook does not start it again for the same content. The pid
/// of the process ended, `None` if none was running.
pub fn cancel(project: &Project, settings: &Settings) -> Result<Option<u32>, HookError> {
    let sd = &settings.state_dir;
    let root = &project.root;
    let Some(mut job) = read(sd, root).filter(|_| running(sd, root)) else {
        return Ok(None);
    };
    let group = -(job.pid as libc::pid_t);
    // SAFETY: kill(2) has no memory effects; the group is the job's own
    // (its lock is still held, so the pid is not another process's yet).
    let signal = |sig| unsafe { libc::kill(group, sig) == 0 };
    signal(libc::SIGTERM);
    // Until the job and every build it started are gone; what ignores
    // SIGTERM gets SIGKILL after a while.
    let start = std::time::Instant::now();
    let mut killed = false;
    while (running(sd, root) || signal(0)) && start.elapsed() < std::time::Duration::from_secs(20) {
        if !killed && start.elapsed() > std::time::Duration::from_secs(5) {
            signal(libc::SIGKILL);
            killed = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    job.state = JobState::Cancelled;
    job.reported = true;
    write(sd, &job)?;
    Ok(Some(job.pid))
}
