//! `magnet.lock`: what a manifest evaluated to, recorded beside it.
//!
//! The lock is a record and a check, not an input: package versions are
//! pinned by the package tree, and the lock says which environment that gave
//! (its id, every package of the runtime closure, the manifest's `env` and
//! `path`). `--locked` compares a fresh evaluation against it and fails with
//! a readable diff, so CI notices when a magpkg upgrade or a manifest edit
//! changes the environment. The environment id is computed from exactly the
//! locked content, so the lock is self-describing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::EnvError;
use crate::model::Package;

/// Version of the lock format and of the environment id encoding.
pub const LOCK_VERSION: u32 = 1;
/// Domain tag of environment ids.
pub const ENV_ID_DOMAIN: &str = "magpkg-env-v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    pub env_id: String,
    /// The runtime closure in priority order (the manifest's packages as
    /// listed, then their dependencies).
    pub packages: Vec<LockedPackage>,
    /// The manifest's `env`, unexpanded.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The manifest's `path`, normalised.
    #[serde(default)]
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub id: String,
}

impl Lock {
    /// The lock of an environment made of `packages` (priority order) and
    /// the manifest's `env` and `path`.
    pub fn new<'a>(
        packages: impl IntoIterator<Item = &'a Package>,
        env: &BTreeMap<String, String>,
        path: &[String],
    ) -> Lock {
        let packages: Vec<LockedPackage> = packages
            .into_iter()
            .map(|p| LockedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                id: p.id.to_string(),
            })
            .collect();
        let env_id = env_id(packages.iter().map(|p| p.id.as_str()), env, path);
        Lock {
            version: LOCK_VERSION,
            env_id,
            packages,
            env: env.clone(),
            path: path.to_vec(),
        }
    }

    /// Read a lock file; `None` if it does not exist.
    pub fn read(path: &Path) -> Result<Option<Lock>, EnvError> {
        let text = match fs_err::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let lock: Lock = serde_json::from_slice(&text).map_err(|e| EnvError::BadLock {
            path: path.into(),
            problem: e.to_string(),
        })?;
        if lock.version != LOCK_VERSION {
            return Err(EnvError::BadLock {
                path: path.into(),
                problem: format!(
                    "format version {} (this magpkg writes version {LOCK_VERSION})",
                    lock.version
                ),
            });
        }
        Ok(Some(lock))
    }

    /// The file's text: pretty JSON, one package per entry, newline-terminated.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a lock serialises");
        s.push('\n');
        s
    }
}

/// The environment id: BLAKE3 (domain `magpkg-env-v1`) over the canonical
/// JSON of `{packages: [ids in priority order], env, path}`, the first 32
/// hex digits (128 bits, like package ids). Nothing machine-specific goes
/// in: no store path, no project path (`env` values keep their
/// `$MAGPKG_PROJECT_ROOT` placeholder).
pub fn env_id<'a>(
    package_ids: impl IntoIterator<Item = &'a str>,
    env: &BTreeMap<String, String>,
    path: &[String],
) -> String {
    let value = serde_json::json!({
        "packages": package_ids.into_iter().collect::<Vec<_>>(),
        "env": env,
        "path": path,
    });
    let mut id = crate::hash::digest(ENV_ID_DOMAIN, &crate::hash::canonical_json(&value));
    id.truncate(32);
    id
}

/// A readable account of how `new` (what the manifest evaluates to now)
/// differs from `old` (the lock file), one change per line.
pub fn diff(old: &Lock, new: &Lock) -> String {
    let mut out = String::new();
    let short = |id: &str| id.chars().take(12).collect::<String>();
    let _ = writeln!(
        out,
        "  environment id: {} (magnet.lock) -> {} (manifest)",
        short(&old.env_id),
        short(&new.env_id)
    );
    let by_name = |l: &Lock| -> BTreeMap<String, Vec<LockedPackage>> {
        let mut m: BTreeMap<String, Vec<LockedPackage>> = BTreeMap::new();
        for p in &l.packages {
            m.entry(p.name.clone()).or_default().push(p.clone());
        }
        m
    };
    let (o, n) = (by_name(old), by_name(new));
    let mut names: Vec<&String> = o.keys().chain(n.keys()).collect();
    names.sort();
    names.dedup();
    let mut package_lines = 0;
    for name in names {
        match (o.get(name), n.get(name)) {
            (Some(a), None) => {
                for p in a {
                    let _ = writeln!(out, "  - package {} {}", p.name, p.version);
                    package_lines += 1;
                }
            }
            (None, Some(b)) => {
                for p in b {
                    let _ = writeln!(out, "  + package {} {}", p.name, p.version);
                    package_lines += 1;
                }
            }
            (Some(a), Some(b)) if a != b => {
                if a.len() == 1 && b.len() == 1 {
                    let (a, b) = (&a[0], &b[0]);
                    if a.version != b.version {
                        let _ = writeln!(out, "  ~ package {}: {} -> {}", name, a.version, b.version);
                    } else {
                        let _ = writeln!(
                            out,
                            "  ~ package {} {}: definition changed (id {} -> {})",
                            name,
                            a.version,
                            short(&a.id),
                            short(&b.id)
                        );
                    }
                } else {
                    let list = |v: &Vec<LockedPackage>| {
                        v.iter()
                            .map(|p| format!("{} ({})", p.version, short(&p.id)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let _ = writeln!(out, "  ~ package {}: {} -> {}", name, list(a), list(b));
                }
                package_lines += 1;
            }
            _ => {}
        }
    }
    if package_lines == 0 && old.packages != new.packages {
        let _ = writeln!(
            out,
            "  ~ package order changed (it decides which package wins a file conflict)"
        );
    }
    let mut keys: Vec<&String> = old.env.keys().chain(new.env.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        match (old.env.get(k), new.env.get(k)) {
            (Some(a), None) => {
                let _ = writeln!(out, "  - env {k}={a:?}");
            }
            (None, Some(b)) => {
                let _ = writeln!(out, "  + env {k}={b:?}");
            }
            (Some(a), Some(b)) if a != b => {
                let _ = writeln!(out, "  ~ env {k}: {a:?} -> {b:?}");
            }
            _ => {}
        }
    }
    if old.path != new.path {
        let _ = writeln!(out, "  ~ path: {:?} -> {:?}", old.path, new.path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(pkgs: &[(&str, &str, &str)], env: &[(&str, &str)], path: &[&str]) -> Lock {
        let packages: Vec<LockedPackage> = pkgs
            .iter()
            .map(|(n, v, id)| LockedPackage {
                name: n.to_string(),
                version: v.to_string(),
                id: id.to_string(),
            })
            .collect();
        Lock {
            version: LOCK_VERSION,
            env_id: format!("{:?}", (pkgs, env, path)),
            packages,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            path: path.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn diff_names_each_change() {
        let old = lock(
            &[("hello", "2.10", "aaa"), ("lua", "5.4", "bbb"), ("zlib", "1.3", "ccc")],
            &[("A", "1"), ("B", "2")],
            &["bin"],
        );
        let new = lock(
            &[("hello", "2.12", "ddd"), ("zlib", "1.3", "eee"), ("make", "4.3", "fff")],
            &[("A", "1"), ("B", "3"), ("C", "x")],
            &["bin", "scripts"],
        );
        let d = diff(&old, &new);
        for want in [
            "environment id:",
            "~ package hello: 2.10 -> 2.12",
            "- package lua 5.4",
            "+ package make 4.3",
            "~ package zlib 1.3: definition changed (id ccc -> eee)",
            "~ env B: \"2\" -> \"3\"",
            "+ env C=\"x\"",
            "~ path: [\"bin\"] -> [\"bin\", \"scripts\"]",
        ] {
            assert!(d.contains(want), "diff lacks {want:?}:\n{d}");
        }
        assert!(!d.contains("env A"), "unchanged variables are not listed:\n{d}");
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Pins the encoding: an environment id must never change by accident
    /// (it keys CI caches, realised profiles and OCI images). Changing the
    /// encoding means a new domain tag.
    #[test]
    fn env_id_golden() {
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        let data = vars(&[("DATA", "$MAGPKG_PROJECT_ROOT/data")]);
        assert_eq!(
            env_id([a, b], &data, &["bin".into()]),
            "074caa15bf048d840b1f8fb17c9a8327"
        );
        assert_eq!(env_id([], &BTreeMap::new(), &[]), "89d8b6de18bb0a9ff6a02f20296022db");
    }

    #[test]
    fn env_id_covers_packages_order_env_and_path() {
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let base = env_id([a.as_str(), b.as_str()], &vars(&[("X", "1")]), &["bin".into()]);
        assert_eq!(
            base,
            env_id([a.as_str(), b.as_str()], &vars(&[("X", "1")]), &["bin".into()])
        );
        for other in [
            env_id([b.as_str(), a.as_str()], &vars(&[("X", "1")]), &["bin".into()]),
            env_id([a.as_str()], &vars(&[("X", "1")]), &["bin".into()]),
            env_id([a.as_str(), b.as_str()], &vars(&[("X", "2")]), &["bin".into()]),
            env_id([a.as_str(), b.as_str()], &vars(&[("X", "1")]), &["scripts".into()]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn reordering_alone_is_reported() {
        let a = lock(&[("x", "1", "1"), ("y", "1", "2")], &[], &[]);
        let b = lock(&[("y", "1", "2"), ("x", "1", "1")], &[], &[]);
        assert!(diff(&a, &b).contains("package order changed"));
    }

    #[test]
    fn lock_round_trips_and_rejects_garbage() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("magnet.lock");
        assert_eq!(Lock::read(&p).unwrap(), None);
        let l = lock(&[("hello", "2.12", "abc")], &[("A", "1")], &["bin"]);
        std::fs::write(&p, l.to_text()).unwrap();
        assert_eq!(Lock::read(&p).unwrap(), Some(l));
        std::fs::write(&p, "{\"version\": 1, \"envId\": \"x\", \"packages\": [], \"extra\": 1}").unwrap();
        let err = Lock::read(&p).unwrap_err();
        assert!(
            matches!(err, EnvError::BadLock { .. }) && err.to_string().contains("extra"),
            "{err}"
        );
        std::fs::write(&p, "{\"version\": 9, \"envId\": \"x\", \"packages\": []}").unwrap();
        assert!(Lock::read(&p).unwrap_err().to_string().contains("version 9"));
    }
}
