//! Who owns a scratch directory of `tmp-v1/`, removing the ones whose owner
//! is gone, and cleaning up this process's own on SIGINT/SIGTERM.
//!
//! Every process that makes a scratch directory holds an exclusive `flock`
//! on `locks-v1/scratch-<token>.lock` for as long as it lives, and names
//! its directories `<prefix><random>.owner-<token>`. The kernel drops the
//! lock when the process dies, however it dies (SIGKILL included), so a
//! scratch directory whose owner's lock can be taken belongs to nobody and
//! can go; one whose lock is held is never touched. A directory kept on
//! purpose (`--keep-failed`) is renamed to `<name>.kept` and left alone.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fs_err as fs;
use nix::fcntl::{Flock, FlockArg};

use super::{remove_tree, StoreError, LOCKS, TMP};

const OWNER: &str = ".owner-";

/// This process's token: its pid and random bits (a later process with
/// the same pid is another owner).
fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut r = [0u8; 4];
        let _ = getrandom::fill(&mut r);
        format!("{}-{}", std::process::id(), hex::encode(r))
    })
}

/// The stores this process made scratch directories in, with the lock
/// that says so (held until the process ends).
static OWNED: Mutex<BTreeMap<PathBuf, Flock<File>>> = Mutex::new(BTreeMap::new());

fn lock_path(root: &Path, token: &str) -> PathBuf {
    root.join(LOCKS).join(format!("scratch-{token}.lock"))
}

/// The suffix of this process's scratch directories in the store at
/// `root`, taking the owner lock there first.
pub(super) fn owner_suffix(root: &Path) -> Result<String, StoreError> {
    let mut owned = OWNED.lock().unwrap_or_else(|p| p.into_inner());
    if !owned.contains_key(root) {
        let lock = super::lock_file(&lock_path(root, token()), FlockArg::LockExclusiveNonblock)?;
        owned.insert(root.to_path_buf(), lock);
    }
    Ok(format!("{OWNER}{}", token()))
}

/// The owner token of a scratch entry's name, if it has a well-formed one.
fn owner_of(name: &str) -> Option<&str> {
    let (_, token) = name.rsplit_once(OWNER)?;
    (!token.is_empty() && token.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then_some(token)
}

/// Remove the scratch entries of `tmp-v1/` in the store at `root` whose
/// owner process is gone (only report them with `dry_run`); returns their
/// names. Entries of live processes, kept ones and ones without an owner
/// are left alone. A store that does not exist yet has nothing to sweep.
pub fn sweep(root: &Path, dry_run: bool) -> Result<Vec<String>, StoreError> {
    let tmp = root.join(TMP);
    let rd = match fs::read_dir(&tmp) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    // token -> the dead owner's lock (held while its entries go), or None
    // for a live owner.
    let mut owners: BTreeMap<String, Option<Option<Flock<File>>>> = BTreeMap::new();
    let mut removed = Vec::new();
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let Some(token) = owner_of(&name) else { continue };
        if token == self::token() {
            continue;
        }
        let dead = owners.entry(token.to_string()).or_insert_with(|| {
            let path = lock_path(root, token);
            match File::open(&path) {
                // Owners take their lock before they make a directory.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
                Err(_) => None,
                Ok(f) => Flock::lock(f, FlockArg::LockExclusiveNonblock).ok().map(Some),
            }
        });
        if dead.is_none() {
            continue;
        }
        if !dry_run {
            remove_tree(&tmp.join(&name))?;
        }
        tracing::debug!(entry = %name, "removed a scratch entry whose owner is gone");
        removed.push(name);
    }
    if !dry_run {
        for (token, dead) in owners {
            if let Some(lock) = dead {
                // Still holding it: no one can be using it.
                let _ = fs::remove_file(lock_path(root, &token));
                drop(lock);
            }
        }
    }
    Ok(removed)
}

/// Keep a scratch directory of ours for good (`--keep-failed`): renamed
/// without its owner, so no sweep removes it. Returns its new path.
pub fn keep(dir: &Path) -> Result<PathBuf, StoreError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((base, _)) = name.rsplit_once(OWNER) else {
        return Ok(dir.to_path_buf());
    };
    let kept = dir.with_file_name(format!("{base}.kept"));
    fs::rename(dir, &kept)?;
    Ok(kept)
}

// ------------------------------------------------------------- interrupts

/// Processes writing into scratch directories of ours (build sandboxes):
/// killed before those directories are removed on an interrupt.
static WRITERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// A process that writes into a scratch directory, registered for as long
/// as this value lives.
pub struct Writer(i32);

impl Writer {
    pub fn register(pid: u32) -> Writer {
        let pid = pid as i32;
        WRITERS.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
        Writer(pid)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        WRITERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|p| *p != self.0);
    }
}

/// Write end of the pipe the signal handler wakes the cleaner with.
static WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Set by the signal handler: the process is going down by a signal, and
/// only the cleaner thread may end it (see [`wait_if_interrupted`]).
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called by `main` before it exits: once a SIGINT/SIGTERM was caught, the
/// cleaner thread kills the sandboxes, removes the scratch directories and
/// dies of the signal. The main thread, which may see its build fail
/// because the cleaner killed the sandbox, must not exit first with an
/// ordinary status (the caller expects death by the signal), so it waits.
pub fn wait_if_interrupted() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

extern "C" fn on_signal(sig: nix::libc::c_int) {
    // An atomic store is async-signal-safe.
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let byte = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the descriptor stays open for
    // the life of the process.
    unsafe {
        nix::libc::write(
            WAKE.load(std::sync::atomic::Ordering::Relaxed),
            (&byte as *const u8).cast(),
            1,
        );
    }
}

/// On SIGINT or SIGTERM: kill the registered sandboxes, remove this
/// process's scratch directories, then die of the signal as if it had not
/// been caught (same exit status for the caller). Installed once, by the
/// commands that write to the store.
pub fn clean_up_on_interrupt() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok((read, write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
            return;
        };
        WAKE.store(
            std::os::fd::IntoRawFd::into_raw_fd(write),
            std::sync::atomic::Ordering::Relaxed,
        );
        let spawned = std::thread::Builder::new().name("interrupt".into()).spawn(move || {
            let mut byte = [0u8; 1];
            // Never closed: a command that closes every descriptor before it
            // execs (`app run`) may have closed it already.
            let mut read = std::mem::ManuallyDrop::new(File::from(read));
            if std::io::Read::read_exact(&mut *read, &mut byte).is_err() {
                return;
            }
            clean_up_own();
            let sig = Signal::try_from(i32::from(byte[0])).unwrap_or(Signal::SIGTERM);
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring the default action installs no handler.
            unsafe {
                let _ = sigaction(sig, &default);
            }
            let _ = nix::sys::signal::raise(sig);
            std::process::exit(128 + byte[0] as i32);
        });
        if spawned.is_err() {
            return;
        }
        let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only calls write(2).
            unsafe {
                let _ = sigaction(sig, &action);
            }
        }
    });
}

/// Kill the sandboxes writing into our scratch directories, wait until
/// they are gone, remove the directories.
fn clean_up_own() {
    let writers: Vec<i32> = WRITERS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for pid in &writers {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while writers.iter().any(|p| running(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let suffix = format!("{OWNER}{}", token());
    let roots: Vec<PathBuf> = OWNED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .cloned()
        .collect();
    for root in roots {
        let tmp = root.join(TMP);
        let Ok(rd) = fs::read_dir(&tmp) else { continue };
        for ent in rd.filter_map(Result::ok) {
            if !ent.file_name().to_string_lossy().ends_with(&suffix) {
                continue;
            }
            // The last processes of a killed sandbox may still be going.
            for _ in 0..100 {
                if remove_tree(&ent.path()).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// True while `pid` runs (a zombie has stopped writing).
fn running(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tokens_are_read_from_names_only_when_well_formed() {
        assert_eq!(owner_of("build-Ab12.owner-123-beef"), Some("123-beef"));
        assert_eq!(owner_of("build-Ab12"), None);
        assert_eq!(owner_of("build-Ab12.owner-../x"), None);
        assert_eq!(owner_of("build-Ab12.kept"), None);
    }

    /// Child half of `only_scratch_of_dead_processes_is_swept`: makes a
    /// scratch directory, keeps it and then exits at once or waits.
    #[test]
    fn scratch_child() {
        let Ok(root) = std::env::var("MAGPKG_SCRATCH_CHILD_STORE") else {
            return;
        };
        let store = crate::store::Store::open(Path::new(&root)).unwrap();
        let dir = store.tempdir("child-").unwrap().keep();
        fs::write(dir.join("partial"), b"half a download").unwrap();
        if std::env::var_os("MAGPKG_SCRATCH_CHILD_WAIT").is_some() {
            std::thread::sleep(Duration::from_secs(600));
        }
    }

    fn child(root: &Path, wait: bool) -> std::process::Child {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args(["--exact", "store::scratch::tests::scratch_child", "--test-threads=1"])
            .env("MAGPKG_SCRATCH_CHILD_STORE", root)
            .stdout(std::process::Stdio::null());
        if wait {
            c.env("MAGPKG_SCRATCH_CHILD_WAIT", "1");
        }
        c.spawn().unwrap()
    }

    fn entries(root: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(root.join(TMP))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn only_scratch_of_dead_processes_is_swept() {
        let root = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(root.path()).unwrap();
        // Ours, alive; one kept; one without an owner (an older magpkg).
        let mine = store.tempdir("mine-").unwrap();
        fs::create_dir(root.path().join(TMP).join("build-x.kept")).unwrap();
        fs::create_dir(root.path().join(TMP).join("build-old")).unwrap();
        assert!(child(root.path(), false).wait().unwrap().success());
        let mut live = child(root.path(), true);
        let deadline = Instant::now() + Duration::from_secs(30);
        while entries(root.path()).iter().filter(|n| n.starts_with("child-")).count() < 2 {
            assert!(Instant::now() < deadline, "the children made no scratch directory");
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = entries(root.path());
        let dead: Vec<String> = sweep(root.path(), true).unwrap();
        assert_eq!(dead.len(), 1, "{before:?}");
        assert_eq!(entries(root.path()), before, "a dry run removes nothing");
        assert_eq!(sweep(root.path(), false).unwrap(), dead);
        let after = entries(root.path());
        assert_eq!(after.len(), before.len() - 1);
        assert!(!after.contains(&dead[0]));
        assert!(mine.path().is_dir());
        // Once the live child is gone (SIGKILL), its directory goes too.
        live.kill().unwrap();
        live.wait().unwrap();
        assert_eq!(sweep(root.path(), false).unwrap().len(), 1);
        let mut left = entries(root.path());
        left.retain(|n| !n.starts_with("mine-"));
        assert_eq!(left, ["build-old", "build-x.kept"]);
        let locks: Vec<_> = fs::read_dir(root.path().join(LOCKS))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("scratch-"))
            .collect();
        assert_eq!(
            locks,
            [format!("scratch-{}.lock", token())],
            "the dead owners' locks are gone"
        );
    }
}
