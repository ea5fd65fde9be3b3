//! Shared helpers of the integration tests: each test gets its own temp
//! HOME, XDG dirs, store and state, and runs the real binary.
#![allow(dead_code)]

pub mod net;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One isolated magpkg user: HOME, XDG dirs, store.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.home().join("store")
    }

    /// `magpkg` with a clean environment pointing at this user. Networking
    /// defaults suit loopback tests: no DHT, short timeouts.
    pub fn cmd(&self) -> Command {
        let home = self.home();
        let mut c = Command::new(env!("CARGO_BIN_EXE_magpkg"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("MAGPKG_STORE", self.store())
            .env("MAGPKG_STATE", home.join("state/magpkg"))
            .env("MAGPKG_DHT", "0")
            .env("MAGPKG_STALL_TIMEOUT", "5")
            .env("MAGPKG_HTTP_TIMEOUT", "5")
            .env("MAGPKG_RETRIES", "2");
        c
    }

    /// Run `magpkg ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
