//! Remote builders over SSH: the client side.
//!
//! A [`Builder`] is one `ssh://` machine with `magpkg` installed. It holds
//! one SSH connection (an OpenSSH control master, so the handshake is paid
//! once per command, not once per package) and up to `jobs` channels over
//! it, each running `magpkg serve --stdio` on the remote (`crate::serve`)
//! and speaking [`proto`]. A job sends what the remote lacks (store entries
//! as binary-cache archives, sources as files), asks for the build, streams
//! its log into the local log file and receives the output.
//!
//! Nothing the remote returns is believed: the output is unpacked into a
//! scratch directory by the archive reader (which refuses anything a store
//! entry cannot hold) and its digest recomputed here; the caller adds it to
//! the store only if it matches the digest the remote claimed, and records
//! who built it. A remote that cannot be reached, dies, or returns bytes
//! that are not what it claims is dropped for the rest of the command, with
//! one warning; its jobs run elsewhere ([`Attempt::Lost`]).

pub mod proto;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Classify;
use crate::model::{Build, Graph, Package, PackageId};
use crate::settings::BuilderSpec;
use crate::store::{Store, StoreError};
use proto::Msg;

/// Seconds ssh may take to connect; a dead connection is noticed after
/// [`ALIVE_INTERVAL`] × [`ALIVE_COUNT`] seconds without an answer.
const CONNECT_TIMEOUT: u32 = 2;
const ALIVE_INTERVAL: u32 = 1;
const ALIVE_COUNT: u32 = 2;
/// How long an orphaned control master (magpkg killed) outlives its last use.
const PERSIST: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("every remote builder is gone and --jobs 0 allows no local build: {} not built", names.join(", "))]
    NoBuilderLeft { names: Vec<String> },
    #[error("--jobs 0 builds only on remote builders, and none is configured")]
    NoBuilders,
    #[error("remote builder {uri} refused the output of {name}: {reason}")]
    Refused { uri: String, name: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for RemoteError {
    fn is_user_error(&self) -> bool {
        match self {
            RemoteError::Store(e) => e.is_user_error(),
            _ => true,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            RemoteError::NoBuilderLeft { .. } | RemoteError::NoBuilders => Some(
                "check `builders` (or --builders, MAGPKG_BUILDERS) and the warnings above, or allow local builds with --jobs N"
                    .into(),
            ),
            RemoteError::Store(e) => e.hint(),
            _ => None,
        }
    }
}

/// How one remote job ended.
#[derive(Debug)]
pub enum Attempt {
    /// The output is unpacked into the `out` directory given, and its
    /// recomputed digest is the one the remote claimed (here).
    Built { digest: String },
    /// The build script failed on the remote: a result, not a fault.
    Failed { status: String, tail: String },
    /// The builder is gone or untrustworthy (it has been dropped and warned
    /// about); run the job somewhere else.
    Lost,
    /// A local failure (the local store).
    Local(StoreError),
}

/// One remote builder, connected.
pub struct Builder {
    pub spec: BuilderSpec,
    ssh: String,
    /// Holds the control socket (short path: sockets have a ~100-byte limit).
    control: tempfile::TempDir,
    idle: Mutex<Vec<Channel>>,
    dead: AtomicBool,
    /// Builds running there now, at most `spec.jobs`: the scheduler gives
    /// a builder one job more than that, so that the next build starts
    /// there while this machine verifies and stores the last output.
    running: (Mutex<usize>, std::sync::Condvar),
}

/// A running `magpkg serve --stdio` on the remote.
struct Channel {
    child: Child,
    tx: BufWriter<ChildStdin>,
    rx: BufReader<ChildStdout>,
    /// The last lines the remote wrote on stderr (for messages).
    stderr: Arc<Mutex<String>>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        // End of input makes `magpkg serve` exit; do not wait for a dead peer.
        let _ = self.tx.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connect every builder at once; the ones that fail are named in one
/// warning each and left out.
pub fn connect_all(specs: &[BuilderSpec], ssh: &str) -> Vec<Builder> {
    std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| s.spawn(move || Builder::connect(spec, ssh)))
            .collect();
        handles
            .into_iter()
            .zip(specs)
            .filter_map(|(h, spec)| match h.join().expect("connect does not panic") {
                Ok(b) => Some(b),
                Err(reason) => {
                    warn(&format!(
                        "builder {}: cannot connect: {reason}; building without it",
                        spec.uri
                    ));
                    None
                }
            })
            .collect()
    })
}

fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}

impl Builder {
    /// Open the control master and one channel (which proves `magpkg
    /// serve` runs there and speaks our protocol).
    pub fn connect(spec: &BuilderSpec, ssh: &str) -> Result<Builder, String> {
        let control = tempfile::Builder::new()
            .prefix("magpkg-ssh-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("cannot create a directory for the ssh control socket: {e}"))?;
        let b = Builder {
            spec: spec.clone(),
            ssh: ssh.to_string(),
            control,
            idle: Mutex::new(Vec::new()),
            dead: AtomicBool::new(false),
            running: (Mutex::new(0), std::sync::Condvar::new()),
        };
        let errlog = b.control.path().join("master.log");
        let err = File::create(&errlog).map_err(|e| format!("cannot create {}: {e}", errlog.display()))?;
        let mut master = b.ssh_command(&[
            "-o",
            "ControlMaster=yes",
            "-o",
            &format!("ControlPersist={PERSIST}"),
            "-N",
            "-f",
        ]);
        master.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
        let status = master
            .status()
            .map_err(|e| format!("cannot run the ssh command `{}`: {e}", b.ssh))?;
        if !status.success() {
            let text = std::fs::read_to_string(&errlog).unwrap_or_default();
            return Err(last_lines(&text, 3).unwrap_or_else(|| format!("ssh exited with {status}")));
        }
        let ch = b.open_channel()?;
        b.idle.lock().expect("not poisoned").push(ch);
        tracing::debug!(builder = %spec.uri, "connected");
        Ok(b)
    }

    fn control_path(&self) -> PathBuf {
        self.control.path().join("c")
    }

    /// The ssh command with the connection options, then `extra`, then the
    /// destination.
    fn ssh_command(&self, extra: &[&str]) -> Command {
        let (dest, port) = self.spec.destination();
        let mut args: Vec<String> = vec![
            "-o".into(),
            format!("ControlPath={}", self.control_path().display()),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={CONNECT_TIMEOUT}"),
            "-o".into(),
            format!("ServerAliveInterval={ALIVE_INTERVAL}"),
            "-o".into(),
            format!("ServerAliveCountMax={ALIVE_COUNT}"),
        ];
        if let Some(p) = port {
            args.push("-p".into());
            args.push(p);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(dest);
        if self.ssh == "ssh" {
            let mut c = Command::new("ssh");
            c.args(args);
            c
        } else {
            // As git runs GIT_SSH_COMMAND: by the shell, arguments appended.
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!("{} \"$@\"", self.ssh)).arg("ssh").args(args);
            c
        }
    }

    fn open_channel(&self) -> Result<Channel, String> {
        let remote = format!("{} serve --stdio", self.spec.program);
        let mut c = self.ssh_command(&["-o", "ControlMaster=no", "-T"]);
        c.arg(&remote);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .map_err(|e| format!("cannot run the ssh command `{}`: {e}", self.ssh))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut err = child.stderr.take().expect("piped");
            let keep = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut k = keep.lock().expect("not poisoned");
                    k.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if k.len() > 8192 {
                        let cut = k.len() - 4096;
                        let cut = (cut..k.len()).find(|&i| k.is_char_boundary(i)).unwrap_or(k.len());
                        k.replace_range(..cut, "");
                    }
                }
            });
        }
        let mut ch = Channel {
            tx: BufWriter::new(child.stdin.take().expect("piped")),
            rx: BufReader::new(child.stdout.take().expect("piped")),
            child,
            stderr,
        };
        let hello = Msg::Hello {
            protocol: proto::PROTOCOL,
            version: env!("CARGO_PKG_VERSION").into(),
        };
        let answer = proto::write_msg(&mut ch.tx, &hello)
            .and_then(|_| ch.tx.flush())
            .and_then(|_| proto::read_msg(&mut ch.rx));
        match answer {
            Ok(Msg::Hello { protocol, .. }) if protocol == proto::PROTOCOL => Ok(ch),
            Ok(Msg::Hello { protocol, version }) => Err(format!(
                "it runs magpkg {version}, which speaks protocol {protocol}; this magpkg speaks {}",
                proto::PROTOCOL
            )),
            Ok(other) => Err(format!("unexpected answer {other:?} to hello")),
            Err(e) => Err(ch.failure(&format!("`{remote}` did not answer: {e}"))),
        }
    }

    /// Whether the builder is still usable.
    pub fn alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }

    /// Drop the builder for the rest of the command; warns once.
    pub fn lose(&self, reason: &str) {
        if !self.dead.swap(true, Ordering::SeqCst) {
            warn(&format!(
                "builder {}: {reason}; it is dropped and its builds run elsewhere",
                self.spec.uri
            ));
            self.idle.lock().expect("not poisoned").clear();
        }
    }

    fn take_channel(&self) -> Result<Channel, String> {
        if let Some(ch) = self.idle.lock().expect("not poisoned").pop() {
            return Ok(ch);
        }
        self.open_channel()
    }

    /// Build `p` (whose build closure is in the local store) on this
    /// builder: its output ends up unpacked and verified in `out` (an empty
    /// directory), its log appended to `log`. `tick` is called as log
    /// lines arrive.
    pub fn build(
        &self,
        graph: &Graph,
        p: &Package,
        store: &Store,
        out: &Path,
        log: &mut File,
        tick: &mut dyn FnMut(),
    ) -> Attempt {
        if !self.alive() {
            return Attempt::Lost;
        }
        let mut ch = match self.take_channel() {
            Ok(ch) => ch,
            Err(reason) => {
                self.lose(&format!("cannot open a channel: {reason}"));
                return Attempt::Lost;
            }
        };
        match self.job(&mut ch, graph, p, store, out, log, tick) {
            Ok(JobEnd::Built(digest)) => {
                self.idle.lock().expect("not poisoned").push(ch);
                Attempt::Built { digest }
            }
            Ok(JobEnd::Failed { status, tail }) => {
                self.idle.lock().expect("not poisoned").push(ch);
                Attempt::Failed { status, tail }
            }
            Err(JobError::Wire(e)) => {
                let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "the connection closed".to_string()
                } else {
                    e.to_string()
                };
                let reason = ch.failure(&format!(
                    "connection lost while building {} {}: {what}",
                    p.name, p.version
                ));
                drop(ch);
                self.lose(&reason);
                Attempt::Lost
            }
            Err(JobError::Remote(message)) => {
                self.lose(&format!("could not build {} {}: {message}", p.name, p.version));
                Attempt::Lost
            }
            Err(JobError::Refused(reason)) => {
                self.lose(&format!(
                    "returned an output of {} {} that is not what it claims ({reason}); the output is refused",
                    p.name, p.version
                ));
                Attempt::Lost
            }
            Err(JobError::Local(e)) => {
                self.idle.lock().expect("not poisoned").push(ch);
                Attempt::Local(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn job(
        &self,
        ch: &mut Channel,
        graph: &Graph,
        p: &Package,
        store: &Store,
        out: &Path,
        log: &mut File,
        tick: &mut dyn FnMut(),
    ) -> Result<JobEnd, JobError> {
        let started = Instant::now();
        let needed: Vec<String> = needed_entries(graph, p).iter().map(|id| id.to_string()).collect();
        let sources: Vec<String> = p.sources.iter().map(|s| s.sha256.clone()).collect();
        ch.send(&Msg::Have {
            packages: needed.clone(),
            sources: sources.clone(),
        })?;
        let (has_pkgs, has_srcs) = match ch.recv()? {
            Msg::Has { packages, sources } => (packages, sources),
            other => return Err(unexpected(other)),
        };
        for id in needed.iter().filter(|id| !has_pkgs.contains(id)) {
            self.put_package(ch, store, &PackageId::from_string(id.clone()))?;
        }
        for s in p.sources.iter().filter(|s| !has_srcs.contains(&s.sha256)) {
            let path = store
                .source(&s.sha256, &s.filename)
                .map_err(JobError::Local)?
                .ok_or_else(|| JobError::Local(StoreError::NotFound { id: s.filename.clone() }))?;
            let size = fs_err::metadata(&path).map_err(|e| JobError::Local(e.into()))?.len();
            ch.send(&Msg::PutSource {
                filename: s.filename.clone(),
                sha256: s.sha256.clone(),
                size,
            })?;
            let mut f = fs_err::File::open(&path).map_err(|e| JobError::Local(e.into()))?;
            proto::copy_payload(&mut f, &mut ch.tx, size).map_err(JobError::Wire)?;
            ch.expect_ok()?;
        }
        // The builder plans as this machine does, so it gets every
        // definition `p` depends on, present or not (a few KiB each).
        let packages: Vec<Package> = graph
            .build_order(std::slice::from_ref(&p.id))
            .iter()
            .map(|id| graph.get(id).clone())
            .collect();
        let sent = started.elapsed();
        let permit = self.permit();
        ch.send(&Msg::Build {
            root: p.id.to_string(),
            packages,
        })?;
        loop {
            match ch.recv()? {
                Msg::Log { text } => {
                    if !text.is_empty() {
                        let _ = log.write_all(text.as_bytes());
                        let _ = log.flush();
                    }
                    tick();
                }
                Msg::Failed { status, tail } => return Ok(JobEnd::Failed { status, tail }),
                Msg::Built { id, digest, size } => {
                    if id != p.id.as_str() {
                        return Err(JobError::Refused(format!("it sent {id} for {}", p.id)));
                    }
                    let built = started.elapsed();
                    let archive = self.receive_archive(ch, store, size)?;
                    drop(permit);
                    verify_output(&archive.1, out, &digest)?;
                    tracing::debug!(
                        package = %p.name,
                        builder = %self.spec.uri,
                        inputs_ms = sent.as_millis() as u64,
                        build_ms = (built - sent).as_millis() as u64,
                        receive_ms = (started.elapsed() - built).as_millis() as u64,
                        "built remotely"
                    );
                    return Ok(JobEnd::Built(digest));
                }
                Msg::Error { message } => return Err(JobError::Remote(message)),
                other => return Err(unexpected(other)),
            }
        }
    }

    fn put_package(&self, ch: &mut Channel, store: &Store, id: &PackageId) -> Result<(), JobError> {
        let record = store
            .package(id)
            .map_err(JobError::Local)?
            .ok_or_else(|| JobError::Local(StoreError::NotFound { id: id.to_string() }))?;
        let dir = store.package_dir(id, &record.name);
        let (_tmp, mut f) = store.scratch_file("remote-").map_err(JobError::Local)?;
        let (size, _) = crate::cache::archive::pack_at_level(&dir, BufWriter::new(&mut f), proto::WIRE_ZSTD_LEVEL)
            .map_err(|e| JobError::Local(crate::util::at("pack", &dir, std::io::Error::other(e.to_string())).into()))?;
        f.seek(SeekFrom::Start(0)).map_err(|e| JobError::Local(e.into()))?;
        let mut record = record;
        record.built_by = None;
        ch.send(&Msg::PutPackage { record, size })?;
        proto::copy_payload(&mut f, &mut ch.tx, size).map_err(JobError::Wire)?;
        ch.expect_ok()
    }

    /// Take the `size` bytes of an output archive off the wire into a
    /// scratch file (its directory, which removes it, and the file).
    fn receive_archive(
        &self,
        ch: &mut Channel,
        store: &Store,
        size: u64,
    ) -> Result<(tempfile::TempDir, fs_err::File), JobError> {
        let (tmp, mut f) = store.scratch_file("remote-").map_err(JobError::Local)?;
        proto::copy_payload(&mut ch.rx, &mut f, size).map_err(JobError::Wire)?;
        f.seek(SeekFrom::Start(0)).map_err(|e| JobError::Local(e.into()))?;
        Ok((tmp, f))
    }

    /// Wait for one of the builder's `jobs` build slots.
    fn permit(&self) -> Permit<'_> {
        let (lock, cv) = &self.running;
        let mut n = lock.lock().expect("not poisoned");
        while *n >= self.spec.jobs {
            n = cv.wait(n).expect("not poisoned");
        }
        *n += 1;
        Permit(self)
    }
}

/// One build running on a builder.
struct Permit<'a>(&'a Builder);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let (lock, cv) = &self.0.running;
        *lock.lock().expect("not poisoned") -= 1;
        cv.notify_one();
    }
}

/// Unpack an output archive into `out` and check the digest the remote
/// claims for it.
fn verify_output(archive: &fs_err::File, out: &Path, claimed: &str) -> Result<(), JobError> {
    use crate::cache::archive::Refusal;
    crate::cache::archive::unpack_checked(BufReader::new(archive), out, claimed).map_err(|r| {
        JobError::Refused(match r {
            Refusal::Archive(e) => format!("bad archive: {e}"),
            Refusal::Digest { actual } => format!("it claims digest {claimed}, the tree it sent has {actual}"),
            Refusal::Unreadable(e) => e.to_string(),
        })
    })
}

impl Drop for Builder {
    fn drop(&mut self) {
        self.idle.lock().map(|mut v| v.clear()).ok();
        // Stop the control master (it would exit by itself after PERSIST s).
        let mut c = self.ssh_command(&["-O", "exit"]);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        if let Ok(mut child) = c.spawn() {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(2) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

enum JobEnd {
    Built(String),
    Failed { status: String, tail: String },
}

enum JobError {
    /// The channel broke (the remote or the connection died).
    Wire(std::io::Error),
    /// The remote answered with an error.
    Remote(String),
    /// The remote sent something that fails verification.
    Refused(String),
    Local(StoreError),
}

impl From<std::io::Error> for JobError {
    fn from(e: std::io::Error) -> Self {
        JobError::Wire(e)
    }
}

fn unexpected(msg: Msg) -> JobError {
    let shown = format!("{msg:?}");
    JobError::Remote(format!("unexpected message {}", &shown[..shown.len().min(200)]))
}

impl Channel {
    fn send(&mut self, msg: &Msg) -> Result<(), JobError> {
        proto::write_msg(&mut self.tx, msg)?;
        if !matches!(msg, Msg::PutPackage { .. } | Msg::PutSource { .. }) {
            self.tx.flush()?;
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<Msg, JobError> {
        self.tx.flush()?;
        Ok(proto::read_msg(&mut self.rx)?)
    }

    fn expect_ok(&mut self) -> Result<(), JobError> {
        match self.recv()? {
            Msg::Ok => Ok(()),
            Msg::Error { message } => Err(JobError::Remote(message)),
            other => Err(unexpected(other)),
        }
    }

    /// `what`, with the remote's last stderr lines when it said anything.
    fn failure(&mut self, what: &str) -> String {
        // Give the stderr reader a moment to collect the remote's last words.
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        match last_lines(&text, 3) {
            Some(said) => format!("{what} ({said})"),
            None => what.to_string(),
        }
    }
}

fn last_lines(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines[lines.len().saturating_sub(n)..].join("; "))
}

/// The store entries a build of `p` needs on the builder: for a script,
/// its sandbox closure (build dependencies with their runtime closures);
/// for a builtin, none; and in both cases `p`'s runtime dependencies, so
/// the builder's entry of `p` is complete. `p` itself is not included.
pub fn needed_entries(graph: &Graph, p: &Package) -> Vec<PackageId> {
    let mut ids = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut add = |v: Vec<PackageId>| {
        for x in v {
            if x != p.id && seen.insert(x.clone()) {
                ids.push(x);
            }
        }
    };
    if let Build::Script(_) = p.build {
        for d in &p.build_deps {
            add(graph.runtime_closure(std::slice::from_ref(d)));
        }
    }
    add(graph.runtime_closure(&p.run_deps));
    ids
}
