//! The bubblewrap sandbox a build script runs in.
//!
//! Layout inside the sandbox (fixed paths, so nothing depends on where the
//! store lives and the same package built in two stores is bit-identical):
//!
//! ```text
//! /                 tmpfs, read-only once set up
//! /bin /usr /lib... the root filesystem dependency (e.g. `bootstrap`), read-only
//! /etc              the root filesystem's /etc, plus our passwd, group, hosts
//! /pkgs/<id>-<name> every other dependency of the closure, read-only
//! /deps             one merged view of them (symlinks into /pkgs), read-only
//! /fetch/<file>     the package's sources, read-only
//! /build            scratch directory, the working directory
//! /out              the output; what is there at the end enters the store
//! /tmp              tmpfs
//! /dev /proc        minimal (bwrap's --dev, --proc of the new pid namespace)
//! ```
//!
//! Every namespace is unshared (no network: only a loopback of its own), the
//! script runs as uid/gid 1000 in a new session and pid namespace, so when the
//! script's shell exits every process it left behind is killed, and bwrap dies
//! with us (`--die-with-parent`). The environment is cleared and set to a
//! fixed list (see `doc/building.md`). No flag needs root: it works the same
//! for an unprivileged user with user namespaces.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fs_err as fs;

/// uid/gid of the build user inside the sandbox.
pub const BUILD_UID: u32 = 1000;

/// Top-level names the sandbox mounts itself; a root filesystem's entries of
/// the same name are not used.
const RESERVED: &[&str] = &[
    "dev", "proc", "tmp", "out", "build", "fetch", "deps", "pkgs", "etc", "magpkg",
];

/// Files of /etc we always provide (a root filesystem's are ignored):
/// deterministic user and host names whatever the host has.
const ETC_FILES: &[(&str, &str)] = &[
    (
        "passwd",
        "root:x:0:0:root:/homeless:/bin/sh\nbuild:x:1000:1000:magpkg build user:/homeless:/bin/sh\nnobody:x:65534:65534:nobody:/homeless:/bin/false\n",
    ),
    ("group", "root:x:0:\nbuild:x:1000:\nnogroup:x:65534:\n"),
    ("hosts", "127.0.0.1 localhost magpkg\n::1 localhost\n"),
];

/// Everything bwrap needs for one build.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// A dependency that is a whole root filesystem (built by the `rootfs`
    /// builtin), bound at `/`.
    pub rootfs: Option<PathBuf>,
    /// Other dependencies: (directory name under /pkgs, host path).
    pub pkgs: Vec<(String, PathBuf)>,
    /// The merged view of `pkgs` on the host, bound at /deps.
    pub deps_view: Option<PathBuf>,
    /// Sources: (file name under /fetch, host path).
    pub sources: Vec<(String, PathBuf)>,
    /// Host directories bound at /out and /build.
    pub out: PathBuf,
    pub build: PathBuf,
    /// Host directory holding our /etc files and the script.
    pub meta: PathBuf,
    pub env: BTreeMap<String, String>,
}

/// How a sandboxed script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The script exited with this status (0 = success).
    Exited(i32),
    /// bwrap could not set the sandbox up (its message is in the log).
    SetupFailed(i32),
    /// It ran longer than the timeout and was killed, sandbox and all.
    TimedOut,
}

/// Where `bwrap` is, or `None` if it is not installed.
pub fn find_bwrap() -> Option<PathBuf> {
    which::which("bwrap").ok()
}

impl Sandbox {
    /// Write the files the sandbox needs besides the script (our /etc).
    /// Write what the sandbox is made of into the build's scratch directory
    /// (`meta/`: /etc files, the script). Separate from [`Sandbox::run`] so
    /// an error here (a full disk) names the store, not bwrap.
    pub fn prepare(&self, script: &str) -> io::Result<()> {
        self.write_meta()?;
        for (i, prog) in super::seccomp::programs().iter().enumerate() {
            fs::write(self.meta.join(format!("seccomp-{i}.bpf")), prog)?;
        }
        fs::write(self.meta.join("build.sh"), script)
    }

    fn write_meta(&self) -> io::Result<()> {
        fs::create_dir_all(self.meta.join("etc"))?;
        for (name, text) in ETC_FILES {
            fs::write(self.meta.join("etc").join(name), text)?;
        }
        Ok(())
    }

    /// The bwrap arguments (without the program).
    pub fn args(&self) -> io::Result<Vec<String>> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        push(&[
            "--unshare-all",
            // Explicitly (not "-try"): --uid needs a user namespace, and it is
            // what lets an unprivileged user run all of this.
            "--unshare-user",
            "--uid",
            "1000",
            "--gid",
            "1000",
            "--hostname",
            "magpkg",
            // Run by root, bwrap would keep the bounding set: drop it all.
            "--cap-drop",
            "ALL",
            "--new-session",
            "--die-with-parent",
            "--clearenv",
        ]);
        for (k, v) in &self.env {
            push(&["--setenv", k, v]);
        }
        let p = |x: &Path| x.to_string_lossy().into_owned();
        if let Some(root) = &self.rootfs {
            let mut names: Vec<_> = fs::read_dir(root)?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()?;
            names.sort();
            for name in names {
                if RESERVED.contains(&name.as_str()) {
                    continue;
                }
                let host = root.join(&name);
                let dest = format!("/{name}");
                let meta = fs::symlink_metadata(&host)?;
                if meta.file_type().is_symlink() {
                    push(&["--symlink", &p(&fs::read_link(&host)?), &dest]);
                } else {
                    push(&["--ro-bind", &p(&host), &dest]);
                }
            }
            let etc = root.join("etc");
            if etc.is_dir() {
                let mut names: Vec<_> = fs::read_dir(&etc)?
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<_, _>>()?;
                names.sort();
                for name in names {
                    if ETC_FILES.iter().any(|(n, _)| *n == name) {
                        continue;
                    }
                    let host = etc.join(&name);
                    let dest = format!("/etc/{name}");
                    if fs::symlink_metadata(&host)?.file_type().is_symlink() {
                        push(&["--symlink", &p(&fs::read_link(&host)?), &dest]);
                    } else {
                        push(&["--ro-bind", &p(&host), &dest]);
                    }
                }
            }
        } else if self.deps_view.as_ref().is_some_and(|d| d.join("bin").is_dir()) {
            // No root filesystem: let /bin/sh and #!/usr/bin/env resolve to
            // whatever the dependencies provide.
            push(&["--symlink", "/deps/bin", "/bin"]);
            push(&["--dir", "/usr"]);
            push(&["--symlink", "/deps/bin", "/usr/bin"]);
        }
        for (name, _) in ETC_FILES {
            push(&[
                "--ro-bind",
                &p(&self.meta.join("etc").join(name)),
                &format!("/etc/{name}"),
            ]);
        }
        for (name, host) in &self.pkgs {
            push(&["--ro-bind", &p(host), &format!("/pkgs/{name}")]);
        }
        if let Some(view) = &self.deps_view {
            push(&["--ro-bind", &p(view), "/deps"]);
        }
        push(&["--dir", "/fetch"]);
        for (name, host) in &self.sources {
            push(&["--ro-bind", &p(host), &format!("/fetch/{name}")]);
        }
        push(&["--ro-bind", &p(&self.meta.join("build.sh")), "/magpkg/build.sh"]);
        push(&["--bind", &p(&self.out), "/out"]);
        push(&["--bind", &p(&self.build), "/build"]);
        push(&["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
        push(&["--chdir", "/build", "--remount-ro", "/"]);
        push(&["--json-status-fd", "3"]);
        // The seccomp filters (`seccomp.rs`), on fds 4 and 5.
        push(&["--add-seccomp-fd", "4", "--add-seccomp-fd", "5"]);
        push(&["/bin/sh", "-e", "/magpkg/build.sh"]);
        Ok(a)
    }

    /// Run `script` in the sandbox, its output appended to `log`, for at
    /// most `timeout`. `tick` is called a few times a second while it runs
    /// (progress display).
    pub fn run(
        &self,
        bwrap: &Path,
        log: &File,
        timeout: Option<Duration>,
        tick: &mut dyn FnMut(),
    ) -> io::Result<Outcome> {
        let args = self.args()?;
        // bwrap reports on fd 3 whether it got as far as starting the script
        // ({"child-pid": N}) and how it ended ({"exit-code": N}); that tells a
        // failed script from a sandbox that could not be set up.
        let (status_r, status_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let mut cmd = Command::new(bwrap);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .env_clear();
        let wfd = status_w.as_raw_fd();
        let filters = [
            fs::File::open(self.meta.join("seccomp-0.bpf"))?,
            fs::File::open(self.meta.join("seccomp-1.bpf"))?,
        ];
        let ffds = [filters[0].as_raw_fd(), filters[1].as_raw_fd()];
        // SAFETY: fcntl, dup2 and close are async-signal-safe; this runs
        // between fork and exec. The status pipe becomes fd 3 and the two
        // filters fds 4 and 5 (moved out of the way first, so no dup2
        // overwrites a descriptor still to be moved), without O_CLOEXEC, so
        // bwrap inherits exactly those; everything else is closed.
        unsafe {
            cmd.pre_exec(move || {
                let mut high = [0; 3];
                for (h, fd) in high.iter_mut().zip([wfd, ffds[0], ffds[1]]) {
                    *h = nix::libc::fcntl(fd, nix::libc::F_DUPFD, 64);
                    if *h < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                for (target, h) in (3..).zip(high) {
                    if nix::libc::dup2(h, target) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                crate::util::close_fds_from(6)
            });
        }
        let mut child = cmd.spawn()?;
        // An interrupt kills it before removing the directories it writes to.
        let _writer = crate::store::scratch::Writer::register(child.id());
        drop(status_w);
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                // bwrap is the parent of the sandbox's pid 1, which dies with
                // it (--die-with-parent), and every process of the sandbox's
                // pid namespace with that.
                child.kill()?;
                child.wait()?;
                return Ok(Outcome::TimedOut);
            }
            tick();
            std::thread::sleep(Duration::from_millis(100));
        };
        let reports = read_status(status_r);
        let started = reports.iter().any(|v| v.get("child-pid").is_some());
        let exit = reports
            .iter()
            .find_map(|v| v.get("exit-code").and_then(|c| c.as_i64()))
            .map(|c| c as i32)
            .or(status.code())
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if !started {
            return Ok(Outcome::SetupFailed(status.code().unwrap_or(-1)));
        }
        Ok(Outcome::Exited(exit))
    }
}

/// Read what bwrap wrote on its status fd (JSON objects, one after another).
/// Every process that could hold the pipe open is dead once bwrap exited
/// (they were in its pid namespace), so reading to the end cannot hang.
fn read_status(fd: OwnedFd) -> Vec<serde_json::Value> {
    let mut text = String::new();
    let _ = File::from(fd).read_to_string(&mut text);
    serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .map_while(Result::ok)
        .collect()
}

/// Build the merged view of the dependencies at `view` (a host directory):
/// directories are real, every file or symlink is a symlink to
/// `/pkgs/<name>/<path>`, the dependency's place inside the sandbox. The
/// first dependency providing a path wins; later ones are noted in `log`.
pub fn merge_view(view: &Path, pkgs: &[(String, PathBuf)], log: &mut dyn Write) -> io::Result<()> {
    fs::create_dir_all(view)?;
    for (name, host) in pkgs {
        let mut walk = walkdir::WalkDir::new(host).min_depth(1).sort_by_file_name().into_iter();
        while let Some(ent) = walk.next() {
            let ent = ent.map_err(io::Error::other)?;
            let rel = ent.path().strip_prefix(host).expect("walkdir stays below its root");
            let dest = view.join(rel);
            let existing = fs::symlink_metadata(&dest).ok();
            if ent.file_type().is_dir() {
                match existing {
                    None => fs::create_dir(&dest)?,
                    Some(m) if m.is_dir() => {}
                    Some(_) => {
                        writeln!(
                            log,
                            "magpkg: /deps/{} is provided by an earlier dependency; /pkgs/{name}/{} is not merged",
                            rel.display(),
                            rel.display()
                        )?;
                        walk.skip_current_dir();
                    }
                }
            } else if existing.is_none() {
                fs::os::unix::fs::symlink(format!("/pkgs/{name}/{}", rel.display()), &dest)?;
            } else {
                writeln!(
                    log,
                    "magpkg: /deps/{} is provided by an earlier dependency; /pkgs/{name}/{} is not used",
                    rel.display(),
                    rel.display()
                )?;
            }
        }
    }
    Ok(())
}
