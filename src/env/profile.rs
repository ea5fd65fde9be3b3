//! Realised environments in the store: `envs-v1/<env-id>/`, a merged tree
//! of the runtime closure made of symlinks into the package entries, and
//! `envs-v1/<env-id>.json`, its record (packages, implied variables,
//! conflicts). As with packages, the record is written last: its presence is
//! what commits the entry.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::EnvError;
use crate::model::Package;
use crate::store::{self, Store, StoreError, ENVS};

/// The record of a realised environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvRecord {
    pub id: String,
    /// The runtime closure, priority order.
    pub packages: Vec<RecordPackage>,
    /// Path-like variable → directories relative to the profile, first =
    /// highest priority (only directories the profile has).
    pub prepend: BTreeMap<String, Vec<String>>,
    /// The packages' own `env`, `$out` expanded; on a clash the package
    /// listed first wins.
    pub set: BTreeMap<String, String>,
    /// Files several packages provide; the first package's copy is linked.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPackage {
    pub id: String,
    pub name: String,
    pub version: String,
    /// The package's directory in the store.
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Path inside the profile.
    pub path: String,
    /// Package whose file is linked.
    pub kept: String,
    /// Package whose file is hidden.
    pub hidden: String,
}

/// The profile directory of environment `id`.
pub fn profile_dir(store_root: &Path, id: &str) -> PathBuf {
    store_root.join(ENVS).join(id)
}

/// The record of environment `id`.
pub fn record_path(store_root: &Path, id: &str) -> PathBuf {
    store_root.join(ENVS).join(format!("{id}.json"))
}

/// The mark saying environment `id` uses a damaged package, beside its
/// profile: `envs-v1/<id>.damaged`, holding the packages' names. The hook
/// will not activate an environment so marked (one `stat` when it
/// activates); realising it again, once its packages are whole, removes it.
pub fn damage_mark(profile: &Path) -> PathBuf {
    profile.with_extension("damaged")
}

/// Mark every realised environment that lists one of `damaged` (package
/// ids with their names); returns the ids of the environments marked.
pub fn mark_damaged(store: &Store, damaged: &[(String, String)]) -> Result<Vec<String>, EnvError> {
    let dir = store.bucket(ENVS);
    let mut marked = Vec::new();
    if damaged.is_empty() {
        return Ok(marked);
    }
    let entries = fs_err::read_dir(&dir)?;
    for ent in entries.flatten() {
        let name = ent.file_name().to_string_lossy().to_string();
        let Some(env) = name.strip_suffix(".json") else {
            continue;
        };
        let Some(rec) = read_record(store.root(), env)? else {
            continue;
        };
        let names: Vec<&str> = damaged
            .iter()
            .filter(|(id, _)| rec.packages.iter().any(|p| &p.id == id))
            .map(|(_, name)| name.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        let mark = damage_mark(&profile_dir(store.root(), env));
        store::write_file(&mark, format!("{}\n", names.join(" ")).as_bytes())?;
        marked.push(env.to_string());
    }
    Ok(marked)
}

/// Remove the damage mark of environment `id`, if it has one.
pub fn clear_damage(store: &Store, id: &str) -> Result<(), EnvError> {
    let mark = damage_mark(&profile_dir(store.root(), id));
    match fs_err::remove_file(&mark) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Remove the damage mark of every environment whose packages are all
/// present and whole again (after a repair).
pub fn clear_repaired(store: &Store) -> Result<(), EnvError> {
    let dir = store.bucket(ENVS);
    let Ok(entries) = fs::read_dir(&dir) else { return Ok(()) };
    for ent in entries.flatten() {
        let name = ent.file_name().to_string_lossy().to_string();
        let Some(env) = name.strip_suffix(".damaged") else {
            continue;
        };
        let Some(rec) = read_record(store.root(), env)? else {
            continue;
        };
        let whole = rec.packages.iter().all(|p| {
            store
                .usable_package(&crate::model::PackageId::from_string(p.id.clone()))
                .is_ok()
        });
        if whole {
            clear_damage(store, env)?;
        }
    }
    Ok(())
}

/// Read the record of a realised environment, if it is in the store.
pub fn read_record(store_root: &Path, id: &str) -> Result<Option<EnvRecord>, EnvError> {
    let path = record_path(store_root, id);
    match fs_err::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EnvError::BadRecord {
                path,
                problem: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Make sure environment `id` is realised: `packages` (priority order, each
/// with its directory in the store) merged into `envs-v1/<id>/`. Returns
/// the record and whether this call created it.
pub fn ensure(store: &Store, id: &str, packages: &[(&Package, PathBuf)]) -> Result<(EnvRecord, bool), EnvError> {
    if let Some(rec) = read_record(store.root(), id)? {
        return Ok((rec, false));
    }
    let _lock = store.lock(ENVS, id)?;
    // Another process may have finished while we waited for the lock.
    if let Some(rec) = read_record(store.root(), id)? {
        return Ok((rec, false));
    }
    let tmp = store.tempdir("env-")?;
    let tree = tmp.path().join("profile");
    fs_err::create_dir(&tree).map_err(StoreError::from)?;
    let conflicts = merge(&tree, packages)?;
    let prepend = implied_prepend(&tree);
    let mut set = BTreeMap::new();
    for (p, dir) in packages {
        for (k, v) in &p.env {
            set.entry(k.clone()).or_insert_with(|| expand_out(v, dir));
        }
    }
    let record = EnvRecord {
        id: id.to_string(),
        packages: packages
            .iter()
            .map(|(p, dir)| RecordPackage {
                id: p.id.to_string(),
                name: p.name.clone(),
                version: p.version.clone(),
                path: dir.clone(),
            })
            .collect(),
        prepend,
        set,
        conflicts,
    };
    store::sync_tree(&tree)?;
    let dest = profile_dir(store.root(), id);
    // A tree without a record is left by a crash before the record was
    // written: it was never visible, replace it.
    if dest.symlink_metadata().is_ok() {
        store::remove_tree(&dest)?;
    }
    // Read-only only after the rename: moving a directory to another parent
    // needs write permission on it (to update its `..`) when not root.
    fs_err::rename(&tree, &dest).map_err(StoreError::from)?;
    store::make_read_only(&dest)?;
    let envs = store.bucket(ENVS);
    crate::util::fsync_dir(&envs).map_err(StoreError::from)?;
    store::fail_point("env-after-rename");
    let json = serde_json::to_vec_pretty(&record).expect("an env record serialises");
    store::write_file(&record_path(store.root(), id), &json)?;
    Ok((record, true))
}

/// `$out` / `${out}` in a package's `env` value → its store directory.
fn expand_out(value: &str, dir: &Path) -> String {
    let dir = dir.to_string_lossy();
    value.replace("${out}", &dir).replace("$out", &dir)
}

/// Link every file of `packages` into `out`: real directories, symlinks to
/// the files (and symlinks) of the package entries. The first package that
/// has a path wins; later ones are recorded as conflicts. Walks are sorted
/// by name so the result does not depend on directory order.
fn merge(out: &Path, packages: &[(&Package, PathBuf)]) -> Result<Vec<Conflict>, EnvError> {
    let mut owner: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut conflicts = Vec::new();
    for (pkg, dir) in packages {
        let mut walk = walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name().into_iter();
        while let Some(ent) = walk.next() {
            let ent = ent.map_err(|e| StoreError::Io(e.into()))?;
            let rel = ent.path().strip_prefix(dir).expect("walk stays under its root");
            let dest = out.join(rel);
            let existing = dest.symlink_metadata().ok();
            if ent.file_type().is_dir() {
                match existing {
                    None => {
                        fs_err::create_dir(&dest).map_err(StoreError::from)?;
                        owner.insert(rel.to_path_buf(), pkg.name.clone());
                    }
                    // Both have this directory: merge into it.
                    Some(m) if m.is_dir() => {}
                    Some(_) => {
                        conflicts.push(Conflict {
                            path: rel.to_string_lossy().into_owned(),
                            kept: owner.get(rel).cloned().unwrap_or_default(),
                            hidden: pkg.name.clone(),
                        });
                        walk.skip_current_dir();
                    }
                }
            } else if existing.is_some() {
                conflicts.push(Conflict {
                    path: rel.to_string_lossy().into_owned(),
                    kept: owner.get(rel).cloned().unwrap_or_default(),
                    hidden: pkg.name.clone(),
                });
            } else {
                fs_err::os::unix::fs::symlink(ent.path(), &dest).map_err(StoreError::from)?;
                owner.insert(rel.to_path_buf(), pkg.name.clone());
            }
        }
    }
    Ok(conflicts)
}

/// The search-path variables a profile implies, for the directories it has.
/// `C_INCLUDE_PATH`/`CPLUS_INCLUDE_PATH` only when it has headers, and
/// `LIBRARY_PATH` only when it has libraries to link, so an environment of
/// plain tools does not change how the host compiler behaves.
fn implied_prepend(profile: &Path) -> BTreeMap<String, Vec<String>> {
    let has_dir = |rel: &str| profile.join(rel).is_dir();
    let non_empty = |rel: &str| {
        fs::read_dir(profile.join(rel))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    };
    let mut vars: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |var: &str, dirs: &[&str], cond: &dyn Fn(&str) -> bool| {
        let found: Vec<String> = dirs.iter().filter(|d| cond(d)).map(|d| d.to_string()).collect();
        if !found.is_empty() {
            vars.insert(var.to_string(), found);
        }
    };
    add("PATH", &["bin", "sbin"], &has_dir);
    add("MANPATH", &["share/man", "man"], &has_dir);
    add("INFOPATH", &["share/info"], &has_dir);
    add("PKG_CONFIG_PATH", &["lib/pkgconfig", "share/pkgconfig"], &has_dir);
    add("ACLOCAL_PATH", &["share/aclocal"], &has_dir);
    add("C_INCLUDE_PATH", &["include"], &non_empty);
    add("CPLUS_INCLUDE_PATH", &["include"], &non_empty);
    add("LIBRARY_PATH", &["lib", "lib64"], &|d: &str| {
        has_libraries(&profile.join(d))
    });
    vars
}

fn has_libraries(dir: &Path) -> bool {
    let Ok(rd) = fs::read_dir(dir) else { return false };
    rd.filter_map(Result::ok).any(|e| {
        let n = e.file_name();
        let n = n.to_string_lossy();
        n.starts_with("lib") && (n.ends_with(".a") || n.ends_with(".so") || n.contains(".so."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Build, Meta, PackageId};
    use std::os::unix::fs::PermissionsExt;

    fn pkg(name: &str, env: &[(&str, &str)]) -> Package {
        Package {
            id: PackageId::from_string(format!("{name}-id")),
            name: name.into(),
            version: "1".into(),
            sources: vec![],
            build: Build::Script(String::new()),
            build_deps: vec![],
            run_deps: vec![],
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            meta: Meta::default(),
            oci: None,
        }
    }

    fn files(root: &Path, list: &[(&str, &str)]) {
        for (p, content) in list {
            let f = root.join(p);
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(&f, content).unwrap();
        }
    }

    #[test]
    fn profile_merges_links_and_first_wins() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let a_dir = t.path().join("a");
        let b_dir = t.path().join("b");
        files(
            &a_dir,
            &[
                ("bin/tool", "a"),
                ("share/man/man1/tool.1", "man"),
                ("include/a.h", "h"),
            ],
        );
        files(
            &b_dir,
            &[
                ("bin/tool", "b"),
                ("bin/other", "b"),
                ("lib/libz.a", "ar"),
                ("share/doc", "file"),
            ],
        );
        fs::set_permissions(a_dir.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("tool", a_dir.join("bin/alias")).unwrap();
        let a = pkg("a", &[("A_HOME", "$out/share"), ("SHARED", "from-a")]);
        let b = pkg("b", &[("SHARED", "from-b")]);
        let pkgs = vec![(&a, a_dir.clone()), (&b, b_dir.clone())];
        let (rec, created) = ensure(&store, "envid", &pkgs).unwrap();
        assert!(created);
        let prof = profile_dir(store.root(), "envid");
        assert_eq!(
            fs::read_to_string(prof.join("bin/tool")).unwrap(),
            "a",
            "first package wins"
        );
        assert_eq!(fs::read_to_string(prof.join("bin/other")).unwrap(), "b");
        assert_eq!(
            fs::read_link(prof.join("bin/tool")).unwrap(),
            a_dir.join("bin/tool"),
            "a link, not a copy"
        );
        assert_eq!(
            fs::read_to_string(prof.join("bin/alias")).unwrap(),
            "a",
            "package symlinks resolve"
        );
        assert_eq!(
            rec.conflicts,
            vec![Conflict {
                path: "bin/tool".into(),
                kept: "a".into(),
                hidden: "b".into()
            }]
        );
        assert_eq!(rec.prepend["PATH"], vec!["bin"]);
        assert_eq!(rec.prepend["MANPATH"], vec!["share/man"]);
        assert_eq!(rec.prepend["C_INCLUDE_PATH"], vec!["include"]);
        assert_eq!(rec.prepend["LIBRARY_PATH"], vec!["lib"]);
        assert!(!rec.prepend.contains_key("PKG_CONFIG_PATH"));
        assert_eq!(rec.set["A_HOME"], format!("{}/share", a_dir.display()));
        assert_eq!(rec.set["SHARED"], "from-a");
        // Realised once: the second call reads the record.
        let (again, created) = ensure(&store, "envid", &pkgs).unwrap();
        assert!(!created);
        assert_eq!(again, rec);
        assert_eq!(read_record(store.root(), "envid").unwrap(), Some(rec));
        assert_eq!(fs::read_dir(store.bucket(crate::store::TMP)).unwrap().count(), 0);
    }

    #[test]
    fn file_where_another_package_has_a_directory_is_a_conflict() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let (a_dir, b_dir) = (t.path().join("a"), t.path().join("b"));
        files(&a_dir, &[("share/doc", "a file")]);
        files(&b_dir, &[("share/doc/readme", "b"), ("share/b", "b")]);
        let (a, b) = (pkg("a", &[]), pkg("b", &[]));
        let (rec, _) = ensure(&store, "e2", &[(&a, a_dir), (&b, b_dir)]).unwrap();
        assert_eq!(rec.conflicts.len(), 1);
        assert_eq!(rec.conflicts[0].path, "share/doc");
        let prof = profile_dir(store.root(), "e2");
        assert!(prof.join("share/b").exists());
        assert!(rec.prepend.is_empty(), "{:?}", rec.prepend);
    }

    #[test]
    fn leftover_tree_without_record_is_replaced() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let stale = profile_dir(store.root(), "e3");
        fs::create_dir_all(stale.join("junk")).unwrap();
        let a_dir = t.path().join("a");
        files(&a_dir, &[("bin/x", "x")]);
        let a = pkg("a", &[]);
        ensure(&store, "e3", &[(&a, a_dir)]).unwrap();
        assert!(!stale.join("junk").exists());
        assert!(stale.join("bin/x").exists());
    }
}
