//! Real servers on loopback, started by the tests that need them: nginx
//! (Debian's package) serving a directory, and an S3-compatible object
//! store (`s3s-fs`, from crates.io), and OpenSSH's sshd with builder users
//! (Debian's `openssh-server`). Each is stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::free_port;
use super::require;

/// Wait until something accepts connections on `port`.
fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} does not listen on port {port} after 20 s");
}

/// nginx serving `root` at `http://127.0.0.1:PORT/`, with an access log.
pub struct Nginx {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Nginx {
    pub fn serve(root: &Path, work: &Path) -> Nginx {
        let bin = require("nginx");
        let dir = work.join("nginx");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let port = free_port();
        // As root (CI), workers would switch to `nobody`; one master
        // process in the foreground serves as the test's user.
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/body;\n\
               proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
               uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
               types {{ application/json json; }}\n  default_type application/octet-stream;\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n",
            d = dir.display(),
            root = root.display(),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut child = Command::new(bin)
            .args([
                "-p",
                dir.to_str().unwrap(),
                "-c",
                dir.join("nginx.conf").to_str().unwrap(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        wait_listening(port, &mut child, "nginx");
        Nginx { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines of the access log so far (`GET /path HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split('"').nth(1).map(str::to_string))
            .collect()
    }
}

impl Nginx {
    /// The body bytes of every answer so far (`$body_bytes_sent` of the
    /// access log): what the origin served.
    pub fn bytes_served(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split('"').nth(2)?.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3-compatible server (`s3s-fs`) keeping its buckets under `root`.
pub struct S3 {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
}

pub const S3_ACCESS_KEY: &str = "magpkg-test-access";
pub const S3_SECRET_KEY: &str = "magpkg-test-secret-key";

impl S3 {
    /// Started with one (empty) bucket `bucket`.
    pub fn start(work: &Path, bucket: &str) -> S3 {
        let bin = which::which("s3s-fs").unwrap_or_else(|_| {
            panic!("required tool `s3s-fs` is not installed: run bash .ci/setup (cargo install s3s-fs)")
        });
        let root = work.join("s3");
        // s3s-fs keeps a bucket as a directory of its root.
        std::fs::create_dir_all(root.join(bucket)).unwrap();
        let port = free_port();
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        wait_listening(port, &mut child, "s3s-fs");
        S3 { child, port, root }
    }

    /// The variables a client needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", self.port)),
        ]
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real OpenSSH server on loopback, on its own port and host key, that
/// lets `users` (Unix accounts made by `.ci/setup`) log in with a key of
/// the test's. Each user's sessions get `MAGPKG_STORE` set to a store of
/// that user's own and the directory of the `magpkg` under test first on
/// `PATH`, so the remote side is "magpkg on PATH", as on a real builder.
pub struct Sshd {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl Sshd {
    pub fn start(users: &[&str]) -> Sshd {
        let sshd = PathBuf::from("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "required program /usr/sbin/sshd is missing: run bash .ci/setup (openssh-server)"
        );
        require("ssh");
        let keygen = require("ssh-keygen");
        for u in users {
            assert!(
                nix::unistd::User::from_name(u).unwrap().is_some(),
                "required user `{u}` is missing: run bash .ci/setup"
            );
        }
        // sshd wants its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        // The users must reach their store and authorized_keys: a
        // directory of its own under /tmp, readable by all.
        let dir = tempfile::Builder::new()
            .prefix("magpkg-sshd-")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        for (key, comment) in [("host", "host"), ("client", "client")] {
            let out = Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(dir.join(key))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
        // The magpkg under test, where the users can run it whatever the
        // permissions of the checkout (it may live in root's home).
        let magpkg_dir = dir.join("bin");
        std::fs::create_dir(&magpkg_dir).unwrap();
        std::fs::copy(super::magpkg_bin(), magpkg_dir.join("magpkg")).unwrap();
        std::fs::set_permissions(
            magpkg_dir.join("magpkg"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = free_port();
        let mut conf = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n\
             AllowUsers {users}\nMaxSessions 64\nMaxStartups 64\nPrintMotd no\nLogLevel VERBOSE\n",
            d = dir.display(),
            users = users.join(" "),
        );
        for u in users {
            let store = dir.join(format!("store-{u}"));
            std::fs::create_dir(&store).unwrap();
            let pw = nix::unistd::User::from_name(u).unwrap().unwrap();
            nix::unistd::chown(&store, Some(pw.uid), Some(pw.gid)).unwrap();
            conf.push_str(&format!(
                "Match User {u}\n  SetEnv MAGPKG_STORE={} PATH={}:/usr/local/bin:/usr/bin:/bin\n",
                store.display(),
                magpkg_dir.display()
            ));
        }
        std::fs::write(dir.join("sshd_config"), conf).unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        wait_listening(port, &mut child, "sshd");
        let host = std::fs::read_to_string(dir.join("host.pub")).unwrap();
        let host: Vec<&str> = host.split_whitespace().take(2).collect();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", host.join(" ")),
        )
        .unwrap();
        Sshd {
            child: Some(child),
            port,
            dir,
        }
    }

    /// `ssh://USER@127.0.0.1:PORT`.
    pub fn uri(&self, user: &str) -> String {
        format!("ssh://{user}@127.0.0.1:{}", self.port)
    }

    /// `MAGPKG_SSH_COMMAND` for this server: no user config, the test's
    /// key, this server's host key as the only known host.
    pub fn ssh_command(&self) -> String {
        format!(
            "ssh -F /dev/null -i {d}/client -o IdentitiesOnly=yes -o UserKnownHostsFile={d}/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR",
            d = self.dir.display()
        )
    }

    /// A copy of `file` the builder users can read (mode 0755).
    pub fn share(&self, file: &Path) -> PathBuf {
        let dest = self.dir.join("bin").join(file.file_name().unwrap());
        std::fs::copy(file, &dest).unwrap();
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        dest
    }

    /// `user`'s store on the builder.
    pub fn store(&self, user: &str) -> PathBuf {
        self.dir.join(format!("store-{user}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// Kill the server at once (SIGKILL): the listener, every session
    /// process it forked, and every process of `user` (the builds).
    pub fn kill(&mut self, user: &str) {
        let Some(mut child) = self.child.take() else { return };
        let mut pids = descendants(child.id());
        pids.push(child.id());
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.wait();
        let _ = Command::new("pkill").args(["-KILL", "-u", user]).status();
    }
}

/// Every process below `pid` (from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // The fields after the command name (which may hold spaces).
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid: u32 = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        parent_of.push((p, ppid));
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(x) = todo.pop() {
        for &(p, pp) in &parent_of {
            if pp == x && !out.contains(&p) {
                out.push(p);
                todo.push(p);
            }
        }
    }
    out
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The builder stores belong to the users: removed as root here.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's `docker-registry` (distribution 2.8) on loopback, storing under
/// `work/registry`, with htpasswd authentication for [`REGISTRY_USER`].
pub struct Registry {
    child: Child,
    pub port: u16,
}

pub const REGISTRY_USER: &str = "tester";
pub const REGISTRY_PASSWORD: &str = "magpkg-test-pass";
/// bcrypt of [`REGISTRY_PASSWORD`] (cost 5, fixed salt), as htpasswd keeps it.
const REGISTRY_BCRYPT: &str = "$2b$05$abcdefghijklmnopqrstuu4JxPPAsZ347xByP1lBm4Pwq7Y6tvg0q";

impl Registry {
    pub fn start(work: &Path) -> Registry {
        let bin = require("docker-registry");
        let dir = work.join("registry");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("htpasswd"), format!("{REGISTRY_USER}:{REGISTRY_BCRYPT}\n")).unwrap();
        let port = free_port();
        let conf = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {d}/data\n\
             http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: magpkg-test\n    path: {d}/htpasswd\n",
            d = dir.display()
        );
        std::fs::write(dir.join("config.yml"), conf).unwrap();
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        wait_listening(port, &mut child, "docker-registry");
        Registry { child, port }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A docker/podman auth file's content with this registry's credentials.
    pub fn auth_json(&self) -> String {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"));
        format!("{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}", self.host())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
