//! Real servers on loopback, started by the tests that need them: nginx
//! (Debian's package) serving a directory, and an S3-compatible object
//! store (`s3s-fs`, from crates.io). Each is stopped when dropped.

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
            .args(["-p", dir.to_str().unwrap(), "-c", dir.join("nginx.conf").to_str().unwrap()])
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
