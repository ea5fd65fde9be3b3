//! The real bootstrap root's sources (29 Debian .debs, 46 MB), fetched once
//! per test run through the Debian mirror of the machine's apt sources,
//! exactly as `magpkg build` fetches them, and shared read-only by the slow
//! tests: each one links them into its own store's source cache, so its
//! `magpkg` finds them cached instead of downloading them again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{magpkg_bin, run_dir, show, TestContext};

/// The store (under the cargo target dir, one per test process) holding the
/// bootstrap's sources; fetched on first use.
pub fn store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(fetch)
}

fn fetch() -> PathBuf {
    let dir = run_dir("bootstrap");
    for d in ["home", "config", "data", "state", "cache"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let store = dir.join("store");
    // The environment of a test's magpkg, with magpkg's own network
    // settings (the ones a user gets).
    let out = Command::new(magpkg_bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("MAGPKG_STATE", dir.join("state/magpkg"))
        .env("MAGPKG_STORE", &store)
        .current_dir(&dir)
        .args(["fetch", "bootstrap"])
        .output()
        .expect("run magpkg fetch bootstrap");
    assert!(
        out.status.success(),
        "fetching the bootstrap through the Debian mirror failed: {}",
        show(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fetched 29 sources"), "{err}");
    store
}

impl TestContext {
    /// Put the bootstrap's sources (fetched once per run) in this test's
    /// source cache, `sources-v1/<sha256>/<filename>`: hard links when the
    /// file system allows (the files are read-only), copies otherwise.
    pub fn seed_bootstrap(&self) {
        let shared = store().join(magpkg::store::SOURCES);
        let mine = self.store().join(magpkg::store::SOURCES);
        let mut n = 0;
        for e in std::fs::read_dir(&shared).unwrap().filter_map(Result::ok) {
            let sha = e.file_name();
            std::fs::create_dir_all(mine.join(&sha)).unwrap();
            for f in std::fs::read_dir(e.path()).unwrap().filter_map(Result::ok) {
                let to = mine.join(&sha).join(f.file_name());
                if std::fs::hard_link(f.path(), &to).is_err() {
                    std::fs::copy(f.path(), &to).unwrap();
                }
                n += 1;
            }
        }
        assert_eq!(n, 29, "the bootstrap has 29 sources");
    }
}
