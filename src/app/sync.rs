//! Launchers and menu entries that follow the apps root without a command.
//!
//! The integration of every app is a function of the apps root (which apps
//! exist, their `.mpkg`, their variants) and of where launchers go. A
//! fingerprint of that state — names and `stat` data only, nothing is read
//! — is kept in the state directory; every `magpkg app` command compares it
//! (a few hundred `stat` calls for a hundred apps) and re-integrates every
//! app when it changed: launchers of deleted apps go, an edited
//! `add_to_path` takes effect, an app copied in gets its launchers.
//! [`watch`] does the same on inotify events, for changes made while no
//! magpkg runs.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs_err as fs;

use super::integrate::{self, Report, Targets};
use super::model::Apps;
use super::select::Host;
use super::AppError;

/// What the fingerprint of the apps root is stored in, in the state dir.
const STAMP: &str = "apps-integration";

fn stat_line(out: &mut String, p: &Path) {
    use std::fmt::Write;
    match fs::symlink_metadata(p) {
        Ok(m) => {
            let _ = writeln!(
                out,
                "{}\t{}\t{}.{}\t{}\t{:o}",
                p.display(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.size(),
                m.mode()
            );
        }
        Err(_) => {
            let _ = writeln!(out, "{}\t-", p.display());
        }
    }
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The state integration depends on, hashed: the targets, and for every
/// app directory its entries, its `package/` and each variant's directory
/// and MPKG.
pub fn fingerprint(apps: &Apps, t: &Targets) -> String {
    let mut s = format!(
        "v1\n{}\n{}\n{}\n{}\n",
        apps.root.display(),
        t.bin_dir.display(),
        t.applications_dir.display(),
        t.magpkg.display()
    );
    stat_line(&mut s, &apps.root);
    for app in dir_names(&apps.root) {
        if app.starts_with('.') {
            continue;
        }
        let dir = apps.root.join(&app);
        stat_line(&mut s, &dir);
        // data/ and src/ change as the app and its author work; nothing of
        // them is integrated.
        for f in dir_names(&dir).into_iter().filter(|f| f != "data" && f != "src") {
            stat_line(&mut s, &dir.join(f));
        }
        let pkg = dir.join("package");
        for v in dir_names(&pkg) {
            let vdir = pkg.join(v);
            for f in ["MPKG", "MPKG.jsonnet", "AppRun"] {
                stat_line(&mut s, &vdir.join(f));
            }
        }
    }
    blake3::hash(s.as_bytes()).to_hex().to_string()
}

/// Bring the integration of every app in step with the apps root when it
/// changed since the last time (`force`: in any case). `None` when nothing
/// changed. The fingerprint is recorded even when integrating failed, so a
/// problem is reported once, not at every start of an app.
pub fn sync(apps: &Apps, t: &Targets, host: &Host, state_dir: &Path, force: bool) -> Result<Option<Report>, AppError> {
    fs::create_dir_all(state_dir)?;
    let stamp = state_dir.join(STAMP);
    let lock = state_dir.join(format!("{STAMP}.lock"));
    let _guard = crate::util::lock_exclusive(&lock)?;
    let mut now = fingerprint(apps, t);
    if !force && fs::read_to_string(&stamp).is_ok_and(|old| old.trim() == now) {
        return Ok(None);
    }
    // The fingerprint recorded is the one after integrating, since what
    // integration wrote may be inside the apps root (an unusual bin dir).
    // But an edit made while integrating (an `.mpkg` saved meanwhile) moves
    // it too, and recording it would mark that edit integrated when it was
    // not (regression: `app watch` missed an `add_to_path` written just
    // after the launchers of a new app). So integrate again until the
    // fingerprint holds still; integration's own writes are the same the
    // second time.
    let mut report = Report::default();
    let mut rounds = 0;
    let result = loop {
        rounds += 1;
        let result = integrate::integrate_all(apps, t, host).map(|r| {
            report.written.extend(r.written);
            report.removed.extend(r.removed);
            report.warnings.extend(r.warnings);
        });
        let after = fingerprint(apps, t);
        if after == now || rounds == 3 || result.is_err() {
            crate::util::write_atomic(&stamp, format!("{after}\n").as_bytes())?;
            break result;
        }
        now = after;
    };
    report.written.sort();
    report.written.dedup();
    report.removed.sort();
    report.removed.dedup();
    let mut seen = std::collections::HashSet::new();
    report.warnings.retain(|w| seen.insert(w.clone()));
    result.map(|()| Some(report))
}

/// The directories whose changes can change integration: the apps root
/// (or, while it does not exist, its closest existing parent), every app
/// directory, its `package/` and each variant.
fn watched_dirs(apps: &Apps) -> Vec<PathBuf> {
    let mut root = apps.root.clone();
    while !root.is_dir() {
        match root.parent() {
            Some(p) => root = p.to_path_buf(),
            None => break,
        }
    }
    let mut out = vec![root.clone()];
    if root != apps.root {
        return out;
    }
    for app in dir_names(&apps.root).into_iter().filter(|n| !n.starts_with('.')) {
        let dir = apps.root.join(app);
        if !dir.is_dir() {
            continue;
        }
        out.push(dir.clone());
        let pkg = dir.join("package");
        if pkg.is_dir() {
            out.push(pkg.clone());
            for v in dir_names(&pkg) {
                let vdir = pkg.join(v);
                if vdir.is_dir() {
                    out.push(vdir);
                }
            }
        }
    }
    out
}

/// Follow the apps root until killed: watch it with inotify, and after each
/// burst of changes (settled for `settle`), sync. `report` gets what each
/// sync did.
pub fn watch(
    apps: &Apps,
    t: &Targets,
    host: &Host,
    state_dir: &Path,
    settle: Duration,
    mut report: impl FnMut(Result<Report, AppError>),
) -> Result<std::convert::Infallible, AppError> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let flags = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF;
    let mut force = true;
    loop {
        // A fresh watch set each round: directories come and go.
        let ino = Inotify::init(InitFlags::IN_CLOEXEC).map_err(|e| crate::util::at("watch", &apps.root, e.into()))?;
        for d in watched_dirs(apps) {
            // A directory removed meanwhile is seen by the next round.
            let _ = ino.add_watch(&d, flags);
        }
        // Watches first, then the sync: nothing changed in between is missed.
        match sync(apps, t, host, state_dir, force) {
            Ok(Some(r)) => report(Ok(r)),
            Ok(None) => {}
            Err(e) => report(Err(e)),
        }
        force = false;
        ino.read_events()
            .map_err(|e| crate::util::at("watch", &apps.root, e.into()))?;
        std::thread::sleep(settle);
    }
}

/// A systemd user unit running `magpkg app watch` with this apps root and
/// these targets.
pub fn unit_text(apps: &Apps, t: &Targets) -> String {
    // systemd's quoting: "..." with C escapes; % starts a specifier, $ a
    // variable in ExecStart.
    let q = |s: &str, exec: bool| {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c)
                }
                '%' => out.push_str("%%"),
                '$' if exec => out.push_str("$$"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    };
    let env = [
        ("MAGPKG_APPS", &apps.root),
        ("MAGPKG_BIN_DIR", &t.bin_dir),
        ("MAGPKG_APPLICATIONS_DIR", &t.applications_dir),
    ]
    .iter()
    .map(|(k, v)| format!("Environment={}\n", q(&format!("{k}={}", v.display()), false)))
    .collect::<String>();
    format!(
        "# Written by `magpkg app watch --install-unit`; magpkg's path is the one that wrote it\n\
         # (run that command again after moving magpkg).\n\
         [Unit]\n\
         Description=magpkg: app launchers and menu entries follow the apps root\n\n\
         [Service]\n\
         {env}\
         ExecStart={} app watch\n\
         Restart=on-failure\n\n\
         [Install]\n\
         WantedBy=default.target\n",
        q(&t.magpkg.to_string_lossy(), true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_settings_and_variants() {
        let t = tempfile::tempdir().unwrap();
        let apps = Apps::new(t.path().join("apps"));
        let targets = Targets {
            bin_dir: t.path().join("bin"),
            applications_dir: t.path().join("share"),
            magpkg: "/usr/bin/magpkg".into(),
            apps_root: apps.root.clone(),
        };
        let a = fingerprint(&apps, &targets);
        let v = apps.root.join("x/package/x-1");
        fs::create_dir_all(&v).unwrap();
        let b = fingerprint(&apps, &targets);
        assert_ne!(a, b);
        assert_eq!(b, fingerprint(&apps, &targets));
        fs::write(v.join("MPKG"), "version = '1'\n").unwrap();
        let c = fingerprint(&apps, &targets);
        assert_ne!(b, c);
        fs::write(apps.root.join("x/x.mpkg"), "add_to_path = 'x'\n").unwrap();
        assert_ne!(c, fingerprint(&apps, &targets));
    }

    /// Integration that writes inside the apps root (a bin dir there) moves
    /// the fingerprint every time; sync must still settle, record it and
    /// find nothing to do the next time.
    #[test]
    fn sync_settles_when_integration_writes_inside_the_apps_root() {
        let t = tempfile::tempdir().unwrap();
        let apps = Apps::new(t.path().join("apps"));
        let v = apps.root.join("x/package/x-1");
        fs::create_dir_all(&v).unwrap();
        fs::write(
            v.join("MPKG"),
            "version = '1'\ncontent = [{'name': 'x', 'file': 'run.sh'}]\n",
        )
        .unwrap();
        fs::write(v.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::write(apps.root.join("x/x.mpkg"), "add_to_path = 'x'\n").unwrap();
        let targets = Targets {
            bin_dir: apps.root.join("x/bin"),
            applications_dir: t.path().join("share"),
            magpkg: "/usr/bin/magpkg".into(),
            apps_root: apps.root.clone(),
        };
        let host = Host::current();
        let state = t.path().join("state");
        let first = sync(&apps, &targets, &host, &state, false)
            .unwrap()
            .expect("a first sync integrates");
        assert_eq!(first.written, vec![targets.bin_dir.join("x")], "{first:?}");
        assert!(sync(&apps, &targets, &host, &state, false).unwrap().is_none());
        fs::write(apps.root.join("x/x.mpkg"), "add_to_path = 'y'\n").unwrap();
        let second = sync(&apps, &targets, &host, &state, false)
            .unwrap()
            .expect("an edit integrates");
        assert!(second.written.contains(&targets.bin_dir.join("y")), "{second:?}");
        assert!(sync(&apps, &targets, &host, &state, false).unwrap().is_none());
    }

    #[test]
    fn unit_quotes_for_systemd() {
        let apps = Apps::new("/a b/100%");
        let t = Targets {
            bin_dir: "/b".into(),
            applications_dir: "/s".into(),
            magpkg: "/opt/$x/magpkg".into(),
            apps_root: apps.root.clone(),
        };
        let u = unit_text(&apps, &t);
        assert!(u.contains("Environment=\"MAGPKG_APPS=/a b/100%%\"\n"), "{u}");
        assert!(u.contains("ExecStart=\"/opt/$$x/magpkg\" app watch\n"), "{u}");
    }
}
