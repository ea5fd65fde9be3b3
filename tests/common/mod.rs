//! Shared helpers of the integration tests: every test gets its own HOME,
//! XDG dirs and store, and runs the real binary.

#![allow(dead_code)]

pub mod net;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An isolated environment for one test.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `magpkg` with a clean environment pointing at this test's dirs,
    /// run in `cwd`.
    pub fn magpkg_in(&self, cwd: &Path) -> Command {
        let home = self.home();
        let mut c = Command::new(env!("CARGO_BIN_EXE_magpkg"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("MAGPKG_STORE", home.join("store"))
            .env("MAGPKG_STATE", home.join("state/magpkg"))
            .current_dir(cwd);
        c
    }

    /// `magpkg` run in this test's HOME.
    pub fn magpkg(&self) -> Command {
        self.magpkg_in(self.home())
    }

    pub fn store(&self) -> PathBuf {
        self.home().join("store")
    }

    /// `magpkg` with networking defaults suited to loopback tests: no DHT,
    /// short timeouts.
    pub fn cmd(&self) -> Command {
        let mut c = self.magpkg();
        c.env("MAGPKG_DHT", "0")
            .env("MAGPKG_STALL_TIMEOUT", "5")
            .env("MAGPKG_HTTP_TIMEOUT", "5")
            .env("MAGPKG_RETRIES", "2");
        c
    }

    /// Run `magpkg ARGS` (with [`TestEnv::cmd`]) to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
}

/// Run and capture; panics if the binary cannot be started.
pub fn run(c: &mut Command) -> Output {
    c.output().expect("run magpkg")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
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
