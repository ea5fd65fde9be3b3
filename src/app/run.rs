//! Running an entry of an app: pick the variant, expand `file` and `args`,
//! choose how to start it (directly, its interpreter, `AppRun`, wine), and
//! optionally wrap it in a bubblewrap sandbox where only `data/`, the app's
//! temporary directory and the paths granted are writable. magpkg then replaces itself with the program
//! (`exec`), so the app's exit status, signals and terminal behave as if it
//! was started directly.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::expand::{self, Values};
use super::model::App;
use super::select::{self, Host, Resolved};
use super::AppError;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub entry: Option<String>,
    pub variant: Option<String>,
    /// `Some(true)` = `--sandbox`, `Some(false)` = `--no-sandbox`, `None` =
    /// sandbox when the variant is `compatible_100`.
    pub sandbox: Option<bool>,
    pub args: Vec<OsString>,
    /// What the app is called as (launcher name), for `ARGV0`.
    pub argv0: Option<String>,
    /// Paths granted on the command line, on top of the app's settings.
    pub grants: Vec<Grant>,
}

/// A path the sandbox shows the app beyond its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub what: GrantPath,
    pub write: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantPath {
    /// The working directory of the run.
    Cwd,
    /// The host's `/tmp`.
    Tmp,
    Path(PathBuf),
}

impl GrantPath {
    /// `cwd`, `tmp`, `~/...`; other relative paths are relative to `base`.
    pub fn parse(s: &str, base: &Path) -> GrantPath {
        match s {
            "cwd" => GrantPath::Cwd,
            "tmp" => GrantPath::Tmp,
            _ => GrantPath::Path(super::model::expand_home(s).unwrap_or_else(|| base.join(s))),
        }
    }
}

/// The command to run, fully decided.
#[derive(Debug, Clone)]
pub struct Plan {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
    pub sandboxed: bool,
    pub variant: String,
    pub entry: String,
    /// Remarks for the user (a granted path that does not exist).
    pub warnings: Vec<String>,
}

/// Decide what to run.
pub fn plan(app: &App, opts: &Options, host: &Host) -> Result<Plan, AppError> {
    let (variant, r) = select::select(app, opts.entry.as_deref(), opts.variant.as_deref(), host)?;
    let data = app.data_dir();
    fs_err::create_dir_all(&data)?;
    let values = Values {
        package: variant.dir.clone().into_os_string(),
        data: data.clone().into_os_string(),
        args: opts.args.clone(),
        windows_paths: r.is_windows(),
    };
    let args = expand::expand_args(r.entry.args.as_deref(), &values).map_err(|message| AppError::BadTemplate {
        path: variant.manifest.path.clone(),
        entry: r.entry.name.clone(),
        field: "args",
        message,
    })?;
    let mut env: Vec<(String, OsString)> = vec![
        ("MPKG_PACKAGE".into(), variant.dir.clone().into_os_string()),
        ("MPKG_DATA".into(), data.clone().into_os_string()),
    ];
    let (program, args) = command_for(&r, args, &variant.name, &data, opts, &mut env)?;
    let mut plan = Plan {
        program,
        args,
        env,
        sandboxed: false,
        variant: variant.name.clone(),
        entry: r.entry.name.clone(),
        warnings: Vec::new(),
    };
    let sandboxed = opts
        .sandbox
        .or(app.settings.sandbox)
        .unwrap_or(variant.manifest.compatible_100);
    if sandboxed {
        let grants = app_grants(app, opts);
        plan = sandbox(plan, app, &variant.dir, &data, &grants)?;
    }
    Ok(plan)
}

/// The grants of the app's settings, then those of the command line.
pub fn app_grants(app: &App, opts: &Options) -> Vec<Grant> {
    let s = &app.settings;
    let from = |list: &[String], write: bool| -> Vec<Grant> {
        list.iter()
            .map(|p| Grant {
                what: GrantPath::parse(p, &app.dir),
                write,
            })
            .collect()
    };
    let mut g = from(&s.sandbox_read, false);
    g.extend(from(&s.sandbox_write, true));
    g.extend(opts.grants.iter().cloned());
    g
}

fn command_for(
    r: &Resolved,
    args: Vec<OsString>,
    variant: &str,
    data: &Path,
    opts: &Options,
    env: &mut Vec<(String, OsString)>,
) -> Result<(PathBuf, Vec<OsString>), AppError> {
    if r.is_windows() {
        let wine = which::which("wine").map_err(|_| AppError::WineMissing {
            variant: variant.into(),
            entry: r.entry.name.clone(),
        })?;
        // Keep the Windows side of a portable app inside the app too.
        if std::env::var_os("WINEPREFIX").is_none() {
            env.push(("WINEPREFIX".into(), data.join(".wine").into_os_string()));
        }
        let mut a: Vec<OsString> = Vec::new();
        if r.kind == "script-cmd" {
            a.extend(["cmd".into(), "/c".into()]);
        }
        a.push(r.file.clone().into_os_string());
        a.extend(args);
        return Ok((wine, a));
    }
    if r.is_apprun() {
        // What the AppImage runtime sets for AppRun. There is no AppImage
        // file any more (it was extracted), so APPIMAGE names AppRun, which
        // behaves the same when started.
        let appdir = r.file.parent().unwrap_or(Path::new("/")).to_path_buf();
        env.push(("APPDIR".into(), appdir.into_os_string()));
        env.push(("APPIMAGE".into(), r.file.clone().into_os_string()));
        env.push((
            "ARGV0".into(),
            opts.argv0.clone().unwrap_or_else(|| r.entry.name.clone()).into(),
        ));
        if let Ok(cwd) = std::env::current_dir() {
            env.push(("OWD".into(), cwd.into_os_string()));
        }
        return direct(r, args);
    }
    if let Some(interp) = r.kind.strip_prefix("script-") {
        // A script the kernel can start by its shebang runs directly; one
        // that is not executable (or has no shebang) goes through its
        // interpreter.
        let direct = is_executable(&r.file) && has_shebang(&r.file);
        if !direct {
            let mut a = vec![r.file.clone().into_os_string()];
            a.extend(args);
            return Ok((PathBuf::from(interp), a));
        }
    }
    direct(r, args)
}

/// Start the file itself.
fn direct(r: &Resolved, args: Vec<OsString>) -> Result<(PathBuf, Vec<OsString>), AppError> {
    if !r.file.exists() {
        return Err(AppError::MissingFile {
            path: r.file.clone(),
            entry: r.entry.name.clone(),
        });
    }
    if !is_executable(&r.file) {
        return Err(AppError::NotExecutable { path: r.file.clone() });
    }
    Ok((r.file.clone(), args))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn has_shebang(p: &Path) -> bool {
    use std::io::Read;
    let mut b = [0u8; 2];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut b)).is_ok() && &b == b"#!"
}

/// What one directory of the sandbox is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mount {
    /// An empty read-only directory in place of the real one.
    Hidden,
    ReadOnly,
    ReadWrite,
}

/// The mounts of a sandbox, in the order bwrap must make them: a mount
/// hides what was mounted below its path before, so parents come first;
/// for one path, the last decision wins.
fn order_mounts(mut m: Vec<(PathBuf, Mount)>) -> Vec<(PathBuf, Mount)> {
    // Stable: among equal depths, the order of the decisions is kept.
    m.sort_by_key(|(p, _)| p.components().count());
    let mut out: Vec<(PathBuf, Mount)> = Vec::new();
    for (p, k) in m {
        out.retain(|(q, _)| *q != p);
        out.push((p, k));
    }
    out.sort_by_key(|(p, _)| p.components().count());
    out
}

/// The app's own temporary directory, `TMPDIR` in the sandbox: in the
/// user's runtime directory (else the system's temporary directory), a
/// directory only this user can enter, the same path inside and out.
fn app_tmp_dir(app: &str) -> Result<PathBuf, AppError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let uid = nix::unistd::geteuid().as_raw();
    let top = base.join(format!("magpkg-app-tmp-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&top);
    // Someone else's directory (or a link) in a shared /tmp is not ours.
    let m = fs_err::symlink_metadata(&top)?;
    if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        let e = std::io::Error::other("not a private directory of this user");
        return Err(crate::util::at("use", &top, e).into());
    }
    let dir = top.join(app);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .map_err(|e| crate::util::at("create directory", &dir, e))?;
    Ok(dir)
}

/// Wrap a plan in bubblewrap: the system read-only, the home directory
/// hidden, the working directory read-only, the variant read-only, `data/`
/// and the app's own temporary directory read-write; then the grants.
/// Every writable path is the host's own path, so nothing written is lost;
/// a write anywhere else fails.
fn sandbox(mut plan: Plan, app: &App, variant_dir: &Path, data: &Path, grants: &[Grant]) -> Result<Plan, AppError> {
    let bwrap = which::which("bwrap").map_err(|_| AppError::BwrapMissing)?;
    // Bind the real directories: a symlink on the way is visible read-only
    // in the sandbox and still leads to them.
    let real = |p: &Path| fs_err::canonicalize(p);
    let variant_dir = real(variant_dir)?;
    let data = real(data)?;
    let tmp = app_tmp_dir(&app.name)?;
    let cwd = std::env::current_dir().ok().and_then(|c| c.canonicalize().ok());
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .and_then(|h| h.canonicalize().ok())
        .filter(|h| h.parent().is_some());
    // The grants: (path, mount, is it `tmp`).
    let mut granted: Vec<(PathBuf, Mount, bool)> = Vec::new();
    for g in grants {
        let path = match &g.what {
            GrantPath::Cwd => cwd.clone(),
            GrantPath::Tmp => Some(PathBuf::from("/tmp")),
            GrantPath::Path(p) => match p.canonicalize() {
                Ok(r) => Some(r),
                Err(_) => {
                    plan.warnings.push(format!(
                        "{} is granted to the sandbox but does not exist; not shown",
                        p.display()
                    ));
                    None
                }
            },
        };
        if let Some(p) = path {
            let m = if g.write { Mount::ReadWrite } else { Mount::ReadOnly };
            granted.push((p, m, g.what == GrantPath::Tmp));
        }
    }
    // The defaults give way to a grant of a path holding them (a grant of
    // ~/projects covers a working directory below it), but not to `tmp`:
    // it grants the host's temporary files, not what happens to lie under
    // /tmp.
    let covered = |d: &Path| granted.iter().any(|(p, _, tmp)| !tmp && d.starts_with(p));
    let mut mounts: Vec<(PathBuf, Mount)> = Vec::new();
    if let Some(h) = home.as_ref().filter(|h| !covered(h)) {
        mounts.push((h.clone(), Mount::Hidden));
    }
    if let Some(c) = cwd.as_ref().filter(|c| !covered(c)) {
        mounts.push((c.clone(), Mount::ReadOnly));
    }
    // The X11 cookie (often ~/.Xauthority): without it a desktop app in
    // the sandbox cannot open a window.
    let xauth = std::env::var_os("XAUTHORITY")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".Xauthority")))
        .and_then(|x| x.canonicalize().ok())
        .filter(|x| x.is_file());
    if let Some(x) = xauth {
        mounts.push((x, Mount::ReadOnly));
    }
    mounts.extend(granted.iter().map(|(p, m, _)| (p.clone(), *m)));
    // Other apps stay read-only even under a writable grant (a grant of
    // /tmp, the working directory) that holds the apps root.
    if let Some(root) = app.dir.parent().and_then(|r| r.canonicalize().ok()) {
        let under_rw = mounts
            .iter()
            .any(|(p, k)| *k == Mount::ReadWrite && root.starts_with(p) && root != *p);
        if under_rw {
            mounts.push((root, Mount::ReadOnly));
        }
    }
    mounts.push((variant_dir.clone(), Mount::ReadOnly));
    mounts.push((tmp.clone(), Mount::ReadWrite));
    mounts.push((data.clone(), Mount::ReadWrite));
    let mounts = order_mounts(mounts);

    let mut a: Vec<OsString> = Vec::new();
    macro_rules! push {
        ($($x:expr),* $(,)?) => { $(a.push(OsString::from($x));)* };
    }
    push!("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc");
    // Graphics and sound devices for desktop apps (absent on servers).
    push!("--dev-bind-try", "/dev/dri", "/dev/dri");
    push!("--dev-bind-try", "/dev/snd", "/dev/snd");
    for (p, k) in &mounts {
        match k {
            Mount::Hidden => {
                push!("--tmpfs", p);
            }
            Mount::ReadOnly => {
                push!("--ro-bind", p, p);
            }
            Mount::ReadWrite => {
                push!("--bind", p, p);
            }
        }
    }
    // The hidden directories become read-only last: bwrap makes the mount
    // points of what lies below them first.
    for (p, _) in mounts.iter().filter(|(_, k)| *k == Mount::Hidden) {
        push!("--remount-ro", p);
    }
    push!(
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try"
    );
    push!("--die-with-parent");
    // No TIOCSTI: the app cannot type into the user's terminal.
    push!("--new-session");
    if let Some(c) = &cwd {
        push!("--chdir", c);
    }
    push!("--", &plan.program);
    a.extend(plan.args.iter().cloned());
    plan.env.push(("TMPDIR".into(), tmp.into_os_string()));
    Ok(Plan {
        program: bwrap,
        args: a,
        sandboxed: true,
        ..plan
    })
}

/// Replace this process with the plan's program. Returns only on failure.
pub fn exec(plan: &Plan) -> AppError {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(&plan.program);
    cmd.args(&plan.args);
    for (k, v) in &plan.env {
        cmd.env(k, v);
    }
    if plan.sandboxed {
        // SAFETY: close_fds_from makes only async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(|| crate::util::close_fds_from(3));
        }
    }
    let source = cmd.exec();
    AppError::Spawn {
        program: plan.program.clone(),
        source,
    }
}

/// Run the plan as a child and return its exit status (128 + signal when
/// it was killed), for callers that must outlive the app.
/// Like system(3), magpkg ignores SIGINT and SIGQUIT while it waits: the
/// terminal's Ctrl-C is the app's to handle, and magpkg must live to see
/// how the app ended.
pub fn spawn_and_wait(plan: &Plan) -> Result<i32, AppError> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut cmd = std::process::Command::new(&plan.program);
    cmd.args(&plan.args).envs(plan.env.iter().map(|(k, v)| (k, v)));
    let sandboxed = plan.sandboxed;
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: the child only restores default signal actions and closes
    // descriptors, both async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let _ = sigaction(Signal::SIGINT, &default);
            let _ = sigaction(Signal::SIGQUIT, &default);
            if sandboxed {
                crate::util::close_fds_from(3)?;
            }
            Ok(())
        });
    }
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_IGN runs no code in a handler.
    let saved = unsafe { [sigaction(Signal::SIGINT, &ignore), sigaction(Signal::SIGQUIT, &ignore)] };
    let status = cmd.status();
    for (sig, old) in [Signal::SIGINT, Signal::SIGQUIT].into_iter().zip(saved) {
        if let Ok(old) = old {
            // SAFETY: restores the action that was installed before.
            unsafe {
                let _ = sigaction(sig, &old);
            }
        }
    }
    let status = status.map_err(|source| AppError::Spawn {
        program: plan.program.clone(),
        source,
    })?;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Select, plan and exec.
pub fn run(app: &App, opts: &Options, host: &Host) -> Result<std::convert::Infallible, AppError> {
    let p = plan(app, opts, host)?;
    Err(exec(&p))
}
