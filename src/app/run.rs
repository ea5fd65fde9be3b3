//! Running an entry of an app: pick the variant, expand `file` and `args`,
//! choose how to start it (directly, its interpreter, `AppRun`, wine), and
//! optionally wrap it in a bubblewrap sandbox where only `data/` and the
//! host's `/tmp` are writable. magpkg then replaces itself with the program
//! (`exec`), so the app's exit status, signals and terminal behave as if it
//! was started directly.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::expand::{self, Values};
use super::model::App;
use super::select::{self, Host, Resolved};
use super::{io_err, AppError};

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
}

/// Decide what to run.
pub fn plan(app: &App, opts: &Options, host: &Host) -> Result<Plan, AppError> {
    let (variant, r) = select::select(app, opts.entry.as_deref(), opts.variant.as_deref(), host)?;
    let data = app.data_dir();
    std::fs::create_dir_all(&data).map_err(io_err(&data))?;
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
    };
    if opts.sandbox.unwrap_or(variant.manifest.compatible_100) {
        plan = sandbox(plan, &app.dir, &variant.dir, &data)?;
    }
    Ok(plan)
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

/// Wrap a plan in bubblewrap: the whole system read-only but the host's
/// `/tmp`, private `/dev` and `/proc`, the variant read-only and `data/`
/// read-write.
fn sandbox(plan: Plan, app_dir: &Path, variant_dir: &Path, data: &Path) -> Result<Plan, AppError> {
    let bwrap = which::which("bwrap").map_err(|_| AppError::BwrapMissing)?;
    // Bind the real directories: a symlink on the way is visible read-only
    // in the sandbox and still leads to them.
    let variant_dir = &variant_dir.canonicalize().map_err(io_err(variant_dir))?;
    let data = &data.canonicalize().map_err(io_err(data))?;
    let mut a: Vec<OsString> = Vec::new();
    macro_rules! push {
        ($($x:expr),* $(,)?) => { $(a.push(OsString::from($x));)* };
    }
    push!("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc");
    // Graphics and sound devices for desktop apps (absent on servers).
    push!("--dev-bind-try", "/dev/dri", "/dev/dri");
    push!("--dev-bind-try", "/dev/snd", "/dev/snd");
    // The host's /tmp, writable: a private one would swallow what the app
    // saves there (the write succeeds, the file is gone with the sandbox).
    push!("--bind", "/tmp", "/tmp");
    // What must stay read-only even when it lies under /tmp: the home
    // directory, the apps root, the working directory; then the variant,
    // and data last so that nothing covers it.
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .and_then(|h| h.canonicalize().ok());
    let apps_root = app_dir.parent().and_then(|r| r.canonicalize().ok());
    let cwd = std::env::current_dir().ok();
    for p in [&home, &apps_root, &cwd].into_iter().flatten() {
        if p.starts_with("/tmp") && !p.starts_with(data) {
            push!("--ro-bind-try", p, p);
        }
    }
    push!("--ro-bind", variant_dir, variant_dir, "--bind", data, data);
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
pub fn spawn_and_wait(plan: &Plan) -> Result<i32, AppError> {
    use std::os::unix::process::ExitStatusExt;
    let status = std::process::Command::new(&plan.program)
        .args(&plan.args)
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .status()
        .map_err(|source| AppError::Spawn {
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
