//! The bridge between the store and portable apps: `magpkg app export PKG`
//! copies a built package into an app directory as a new variant with a
//! generated MPKG; `magpkg app build NAME` builds the package definition
//! in `<app>/src/` (self-buildable packages) and exports the result.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fs_err as fs;

use super::appimage::{copy_tree, make_files_read_only};
use super::model::{self, Apps, Entry};
use super::{detect, AppError};
use crate::model::PackageId;
use crate::store::{PackageRecord, Store};

/// What an export produced.
#[derive(Debug, Clone)]
pub struct Exported {
    pub app: String,
    pub variant: String,
    pub dir: PathBuf,
    /// True when the variant already held this exact package.
    pub unchanged: bool,
    pub warnings: Vec<String>,
}

/// Find one store package by name or id prefix.
pub fn find_package(store: &Store, needle: &str) -> Result<PackageRecord, AppError> {
    let mut found = store.find_packages(needle)?;
    match found.len() {
        0 => Err(AppError::NoStorePackage { needle: needle.into() }),
        1 => Ok(found.remove(0)),
        _ => Err(AppError::AmbiguousStorePackage {
            needle: needle.into(),
            ids: found
                .iter()
                .map(|r| format!("{} ({} {})", r.id, r.name, r.version))
                .collect(),
        }),
    }
}

/// The programs of a package tree: executables in `bin/` and `sbin/`.
fn programs(tree: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sub in ["bin", "sbin"] {
        let Ok(rd) = fs::read_dir(tree.join(sub)) else { continue };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| fs::metadata(e.path()).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| super::validate_name(n).is_ok())
            .collect();
        names.sort();
        for n in names {
            if !out.iter().any(|(x, _): &(String, String)| *x == n) {
                out.push((n.clone(), format!("{sub}/{n}")));
            }
        }
    }
    out
}

/// Copy store package `rec` into `<apps>/<app>/package/<variant>/`.
pub fn export(
    apps: &Apps,
    store: &Store,
    rec: &PackageRecord,
    app: Option<&str>,
    variant: Option<&str>,
) -> Result<Exported, AppError> {
    let id = PackageId::from_string(rec.id.clone());
    let src = store.package_path(&id)?;
    let app = app.unwrap_or(&rec.name).to_string();
    super::validate_name(&app)?;
    let short = &rec.id[..rec.id.len().min(12)];
    let variant = variant
        .map(String::from)
        .unwrap_or_else(|| format!("{}-{}-{short}", rec.name, rec.version));
    super::validate_name(&variant)?;
    let app_dir = apps.dir(&app);
    let dest = app_dir.join("package").join(&variant);
    let origin = format!("magpkg store package {}", rec.id);
    let mut warnings = Vec::new();
    if dest.symlink_metadata().is_ok() {
        // Exporting the same package again is a no-op, anything else a clash.
        let same = model::read_manifest(&app, &dest)
            .ok()
            .and_then(|m| m.origin)
            .is_some_and(|o| o == origin);
        if same {
            return Ok(Exported {
                app,
                variant,
                dir: dest,
                unchanged: true,
                warnings,
            });
        }
        return Err(AppError::VariantExists { path: dest });
    }
    if !rec.run_deps.is_empty() {
        warnings.push(format!(
            "{} has runtime dependencies ({}); the variant uses them from the store, so keep them there",
            rec.name,
            rec.run_deps.join(", ")
        ));
    }
    let progs = programs(&src);
    if progs.is_empty() {
        warnings.push(format!(
            "{} has no programs in bin/; the variant has no entries",
            rec.name
        ));
    }
    let host = detect::host_arch();
    let entries: Vec<Entry> = progs
        .iter()
        .map(|(name, rel)| {
            let d = detect::detect(&src.join(rel));
            Entry {
                name: name.clone(),
                file: format!("$MPKG_PACKAGE/{rel}"),
                args: Some("$MPKG_ARGS".into()),
                kind: d.kind,
                os: d.os,
                architecture: Some(d.arch.unwrap_or_else(|| host.clone())),
                line: None,
                extra: Vec::new(),
            }
        })
        .collect();
    fs::create_dir_all(&apps.root)?;
    let staging = tempfile::Builder::new().prefix(".magpkg-tmp-").tempdir_in(&apps.root)?;
    let tree = staging.path().join("tree");
    copy_tree(&src, &tree)?;
    if tree.join("MPKG").exists() {
        warnings.push("the package has its own MPKG file; it is replaced by the generated one".into());
        fs::remove_file(tree.join("MPKG"))?;
    }
    let text = model::render_manifest(&rec.version, false, Some(&origin), &entries);
    fs::write(tree.join("MPKG"), text)?;
    make_files_read_only(&tree)?;
    let pkg = app_dir.join("package");
    fs::create_dir_all(&pkg)?;
    fs::create_dir_all(app_dir.join("data"))?;
    fs::rename(&tree, &dest)?;
    if model::settings_path(&app, &app_dir)?.is_none() {
        let default = progs
            .iter()
            .find(|(n, _)| *n == app || *n == rec.name)
            .or(progs.first())
            .map(|(n, _)| n.clone());
        let mut text = format!("# Settings of {app} (see doc/apps.md). Edit freely.\n");
        if let Some(d) = default {
            text.push_str(&format!("run_default = {}\n", model::py_str(&d)));
        }
        text.push_str(&format!(
            "notes = {}\n",
            model::py_str(&format!(
                "exported from the magpkg store package {} {}",
                rec.name, rec.version
            ))
        ));
        let path = app_dir.join(format!("{app}.mpkg"));
        crate::util::write_atomic(&path, text.as_bytes())?;
    }
    Ok(Exported {
        app,
        variant,
        dir: dest,
        unchanged: false,
        warnings,
    })
}

/// The package definition of a self-buildable app: `src/package.jsonnet`,
/// else `src/magnet.jsonnet`, else the only `*.jsonnet` in `src/`.
pub fn definition(app: &str, app_dir: &Path) -> Result<PathBuf, AppError> {
    let src = app_dir.join("src");
    for name in ["package.jsonnet", "magnet.jsonnet"] {
        let p = src.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let mut found: Vec<PathBuf> = fs::read_dir(&src)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonnet"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if found.len() == 1 {
        return Ok(found.remove(0));
    }
    Err(AppError::NoDefinition {
        app: app.into(),
        dir: src,
    })
}

/// Build the app's definition into the store and export it as a variant.
pub fn build(
    apps: &Apps,
    app: &str,
    settings: &crate::settings::Settings,
    opts: &crate::build::BuildOptions,
) -> Result<Exported, AppError> {
    super::validate_name(app)?;
    let app_dir = apps.dir(app);
    if !app_dir.is_dir() {
        return Err(AppError::NotFound {
            name: app.into(),
            root: apps.root.clone(),
            suggestion: None,
        });
    }
    let def = definition(app, &app_dir)?;
    let graph = crate::eval::evaluate(&crate::eval::Input::File(def.clone()), settings.packages_dir.as_deref())?;
    let root = match graph.roots.as_slice() {
        [one] => one.clone(),
        many => many
            .iter()
            .find(|id| graph.get(id).name == app)
            .cloned()
            .ok_or(AppError::SeveralDefinitions {
                path: def.clone(),
                app: app.into(),
                count: many.len(),
            })?,
    };
    let store = crate::store::Store::open(&settings.store_dir)?;
    crate::build::build(&graph, Some(std::slice::from_ref(&root)), &store, settings, opts)?;
    let rec = store
        .package(&root)?
        .ok_or_else(|| crate::store::StoreError::NotFound { id: root.to_string() })?;
    export(apps, &store, &rec, Some(app), None)
}
