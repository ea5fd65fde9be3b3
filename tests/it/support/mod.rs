//! What every integration test shares: [`TestContext`] (a temp HOME, XDG
//! dirs, store and state dir of its own, and `magpkg` commands pointing at
//! them), [`require`] for system tools, AppImages ([`appimage`]), real
//! servers on loopback ([`net`]), one tmux driver ([`tmux`]), an ELF helper ([`elf`]), the busybox test
//! root ([`sandbox`]), the real bootstrap fetched once per run
//! ([`bootstrap`]) and insta filters ([`snapshot`]).

#![allow(dead_code)]

pub mod appimage;
pub mod bootstrap;
pub mod elf;
pub mod net;
pub mod packages;
pub mod sandbox;
pub mod servers;
pub mod snapshot;
pub mod tmux;

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Networking settings suited to loopback servers: no DHT, short timeouts,
/// few retries. [`TestContext::cmd`] sets them; [`real_network`] removes
/// them for tests that reach real mirrors.
pub const LOOPBACK_DEFAULTS: &[(&str, &str)] = &[
    ("MAGPKG_DHT", "0"),
    ("MAGPKG_STALL_TIMEOUT", "5"),
    ("MAGPKG_HTTP_TIMEOUT", "5"),
    ("MAGPKG_RETRIES", "2"),
];

/// One test's world, all in one temp dir (canonical path):
///
/// ```text
/// home/                     HOME
/// config/ data/ cache/      XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_CACHE_HOME
/// state/                    XDG_STATE_HOME
/// state/magpkg/             MAGPKG_STATE
/// store/                    MAGPKG_STORE (created by magpkg when needed)
/// apps/ bin/ share/applications/   MAGPKG_APPS, MAGPKG_BIN_DIR, MAGPKG_APPLICATIONS_DIR
/// ```
///
/// Everything else under the root is the test's own scratch space.
pub struct TestContext {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    store: PathBuf,
    state: PathBuf,
    path: OsString,
    extra: Vec<(String, String)>,
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

impl TestContext {
    pub fn new() -> TestContext {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().canonicalize().unwrap();
        for d in [
            "home",
            "config",
            "data",
            "cache",
            "state/magpkg",
            "apps",
            "bin",
            "share/applications",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        TestContext {
            _tmp: tmp,
            home: root.join("home"),
            store: root.join("store"),
            state: root.join("state/magpkg"),
            root,
            path: std::env::var_os("PATH").unwrap_or_default(),
            extra: Vec::new(),
        }
    }

    /// The PATH every process of this test gets (default: the caller's).
    pub fn with_path(mut self, path: impl Into<OsString>) -> TestContext {
        self.path = path.into();
        self
    }

    /// One more variable every process of this test gets.
    pub fn with_env(mut self, key: &str, value: impl AsRef<OsStr>) -> TestContext {
        self.extra
            .push((key.into(), value.as_ref().to_string_lossy().into_owned()));
        self
    }

    /// `MAGPKG_TRUST=1` for every process: `magpkg shell` and `magpkg run`
    /// enter the test's projects without `magpkg allow`. For tests that are
    /// not about trust; the trust rule itself is tested without it
    /// (`env::shell_and_run_refuse_a_project_not_allowed_here_off_a_terminal`).
    pub fn trusting(self) -> TestContext {
        self.with_env("MAGPKG_TRUST", "1")
    }

    /// The temp dir holding everything of this test.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn config_dir(&self) -> PathBuf {
        self.path("config")
    }

    pub fn store(&self) -> &Path {
        &self.store
    }

    /// `MAGPKG_STATE`: trust records, project states.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    pub fn apps_dir(&self) -> PathBuf {
        self.path("apps")
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.path("bin")
    }

    pub fn applications_dir(&self) -> PathBuf {
        self.path("share/applications")
    }

    /// The store, opened through the library.
    pub fn open_store(&self) -> magpkg::store::Store {
        magpkg::store::Store::open(&self.store).unwrap()
    }

    /// A directory `root/rel` (created), by its canonical path.
    pub fn project(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).unwrap();
        p.canonicalize().unwrap()
    }

    /// Every variable a process of this test gets (nothing else is
    /// inherited).
    pub fn envs(&self) -> Vec<(String, String)> {
        let d = |rel: &str| self.path(rel).display().to_string();
        let mut v: Vec<(String, String)> = vec![
            ("PATH".into(), self.path.to_string_lossy().into_owned()),
            ("HOME".into(), self.home.display().to_string()),
            ("XDG_CONFIG_HOME".into(), d("config")),
            ("XDG_DATA_HOME".into(), d("data")),
            ("XDG_STATE_HOME".into(), d("state")),
            ("XDG_CACHE_HOME".into(), d("cache")),
            ("MAGPKG_STORE".into(), self.store.display().to_string()),
            ("MAGPKG_STATE".into(), self.state.display().to_string()),
            ("MAGPKG_APPS".into(), d("apps")),
            ("MAGPKG_BIN_DIR".into(), d("bin")),
            ("MAGPKG_APPLICATIONS_DIR".into(), d("share/applications")),
        ];
        v.extend(
            LOOPBACK_DEFAULTS
                .iter()
                .map(|(k, val)| (k.to_string(), val.to_string())),
        );
        for (k, val) in &self.extra {
            v.retain(|(key, _)| key != k);
            v.push((k.clone(), val.clone()));
        }
        v
    }

    /// `program` with this test's environment only, run in HOME.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(self.envs()).current_dir(&self.home);
        c
    }

    /// `magpkg` with this test's environment only, run in HOME.
    pub fn cmd(&self) -> Command {
        self.command(magpkg_bin())
    }

    /// `magpkg` run in `dir`.
    pub fn in_dir(&self, dir: impl AsRef<Path>) -> Command {
        let mut c = self.cmd();
        c.current_dir(dir);
        c
    }

    /// Run `magpkg ARGS` in HOME to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output_retry()
    }

    /// Run `magpkg ARGS` in `dir` to completion.
    pub fn run_in(&self, dir: impl AsRef<Path>, args: &[&str]) -> Output {
        self.in_dir(dir).args(args).output_retry()
    }
}

/// The binary under test. `MAGPKG_TEST_BIN` overrides it (a copy kept
/// apart from a target dir that another build may be rewriting).
pub fn magpkg_bin() -> PathBuf {
    std::env::var_os("MAGPKG_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_magpkg")))
}

/// Drop the [`LOOPBACK_DEFAULTS`] of a command: for real mirrors, magpkg's
/// own defaults apply.
pub fn real_network(c: &mut Command) -> &mut Command {
    for (k, _) in LOOPBACK_DEFAULTS {
        c.env_remove(k);
    }
    c
}

/// The path of system tool `tool`; a test that needs it fails (never
/// skips) when it is missing.
#[track_caller]
pub fn require(tool: &str) -> PathBuf {
    which::which(tool).unwrap_or_else(|_| panic!("required tool `{tool}` is not installed: run bash .ci/setup"))
}

/// The host's static busybox (package busybox-static), for the tiny root
/// filesystems and tool packages the tests make.
pub fn busybox() -> Vec<u8> {
    std::fs::read("/bin/busybox")
        .unwrap_or_else(|e| panic!("required file /bin/busybox (static busybox) is missing ({e}): run bash .ci/setup"))
}

/// A fresh directory `target/tmp/<name>-<pid>` for this test process,
/// kept after it (statics are never dropped); the ones of earlier runs,
/// whose process is gone, are removed here.
pub fn run_dir(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(rd) = std::fs::read_dir(&base) {
        for e in rd.filter_map(Result::ok) {
            let file = e.file_name().to_string_lossy().into_owned();
            let pid = file.strip_prefix(name).and_then(|r| r.strip_prefix('-'));
            if pid.is_some_and(|p| p.parse::<u32>().is_ok() && !Path::new("/proc").join(p).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A PATH with every program of the caller's PATH except `tools` (a
/// directory of symlinks, made once per run and tool set), so a test
/// sees for sure what magpkg does when they are missing.
pub fn path_without(tools: &[&str]) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static MADE: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let key = tools.join(",");
    let mut made = MADE.lock().unwrap();
    let made = made.get_or_insert_with(HashMap::new);
    if let Some(p) = made.get(&key) {
        return p.clone();
    }
    let dir = run_dir(&format!("path-without-{}", key.replace(',', "-")));
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name();
            let n = name.to_string_lossy();
            if tools.iter().any(|t| n == *t) || dir.join(&name).exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), dir.join(&name));
        }
    }
    for t in tools {
        assert!(which::which_in(t, Some(&dir), "/").is_err(), "{t} still reachable");
    }
    made.insert(key, dir.clone());
    dir
}

/// Every file of two trees the same, with the same kind, mode and bytes.
#[track_caller]
pub fn assert_same_tree(a: &Path, b: &Path) {
    let out = Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} and {} differ:\n{}",
        a.display(),
        b.display(),
        text(&out.stdout)
    );
    assert_eq!(
        magpkg::store::tree_digest(a).unwrap(),
        magpkg::store::tree_digest(b).unwrap()
    );
}

/// Nothing half-made: the store's scratch space is empty and every entry
/// verifies.
#[track_caller]
pub fn assert_store_clean(store: &Path) {
    let s = magpkg::store::Store::open(store).unwrap();
    let tmp = store.join(magpkg::store::TMP);
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", tmp.display());
    for r in s.packages().unwrap() {
        s.verify_package(&magpkg::model::PackageId::from_string(r.id.clone()))
            .unwrap();
    }
}

/// True while a process whose command line contains `needle` runs.
pub fn process_running(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().filter_map(Result::ok).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
            .unwrap_or(false)
    })
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Status, stdout and stderr, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Write `path` (parents created).
pub fn write(path: &Path, text: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Write an executable file `path` (parents created).
pub fn write_exe(path: &Path, text: impl AsRef<[u8]>) {
    write(path, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Lowercase hex sha256 of bytes.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Bytes that do not compress or repeat (so a wrong offset shows).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Single-quote `s` for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Running a program that may be "text file busy": another test thread
/// may fork while a freshly written script is still open for writing, and
/// the child holds that descriptor until it execs. Retried for a second.
pub trait Retry {
    fn output_retry(&mut self) -> Output;
    fn status_retry(&mut self) -> std::process::ExitStatus;
}

impl Retry for Command {
    fn output_retry(&mut self) -> Output {
        for _ in 0..50 {
            match self.output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                r => return r.unwrap_or_else(|e| panic!("cannot run {self:?}: {e}")),
            }
        }
        panic!("{self:?} stays busy");
    }

    fn status_retry(&mut self) -> std::process::ExitStatus {
        self.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output_retry()
            .status
    }
}

/// Run to completion and capture; panics if the program cannot be started.
pub fn run(c: &mut Command) -> Output {
    c.output_retry()
}

/// The stdout of a command that must have succeeded; otherwise fail with
/// its status and both outputs.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}
