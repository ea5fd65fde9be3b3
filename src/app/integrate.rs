//! PATH launchers (`add_to_path`) and freedesktop menu entries
//! (`add_to_apps`). Launchers are tiny `sh` scripts that call
//! `magpkg app run APP:ENTRY`, so they always go through variant selection
//! and keep working when variants are added or removed. Every file magpkg
//! writes carries a marker naming its app, so removing an app removes
//! exactly its files and never a file someone else wrote.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fs_err as fs;

use super::model::{App, Apps};
use super::select::{self, Host, Status};
use super::AppError;

/// Where integration goes and what it calls.
#[derive(Debug, Clone)]
pub struct Targets {
    pub bin_dir: PathBuf,
    pub applications_dir: PathBuf,
    /// The magpkg binary launchers call.
    pub magpkg: PathBuf,
    /// The apps root, baked into launchers so they work whatever the
    /// environment of the caller.
    pub apps_root: PathBuf,
}

/// What an integration pass did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub written: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

const LAUNCHER_MARK: &str = "# magpkg app launcher: ";
const DESKTOP_PREFIX: &str = "magpkg-app-";

/// Quote for `sh`: the POSIX dialect's one quoting function.
fn sh_quote(s: &str) -> String {
    String::from_utf8(crate::dialect::posix::quote(s.as_bytes())).expect("quoting keeps UTF-8")
}

/// Shell lines that find magpkg: on PATH first (it may have moved or been
/// upgraded since), else where it was when the file was written; when
/// neither exists, say so and exit 127 as a shell does for a missing
/// command.
fn find_magpkg_sh(t: &Targets) -> String {
    format!(
        "magpkg=$(command -v magpkg) || magpkg={rec}\n\
         [ -x \"$magpkg\" ] || {{ echo \"${{0##*/}}: magpkg is not on PATH (it was $magpkg when this was written)\" >&2; exit 127; }}\n",
        rec = sh_quote(&t.magpkg.to_string_lossy()),
    )
}

fn launcher_text(t: &Targets, app: &str, entry: &str) -> String {
    format!(
        "#!/bin/sh\n{LAUNCHER_MARK}app={app} entry={entry}\n\
         # Written by magpkg for add_to_path in the app's .mpkg; it goes when the app or that entry goes.\n\
         MAGPKG_APPS={apps}\nexport MAGPKG_APPS\n\
         {find}\
         exec \"$magpkg\" app run --argv0 \"${{0##*/}}\" {target} -- \"$@\"\n",
        apps = sh_quote(&t.apps_root.to_string_lossy()),
        find = find_magpkg_sh(t),
        target = sh_quote(&format!("{app}:{entry}")),
    )
}

/// Write `text` to `path` unless it already holds exactly that; `true`
/// when it was written.
fn write_if_changed(path: &Path, text: &str, mode: Option<u32>) -> Result<bool, AppError> {
    let same = fs::read(path).is_ok_and(|old| old == text.as_bytes())
        && mode.is_none_or(|m| fs::metadata(path).is_ok_and(|md| md.permissions().mode() & 0o777 == m));
    if same {
        return Ok(false);
    }
    crate::util::write_atomic(path, text.as_bytes())?;
    if let Some(m) = mode {
        fs::set_permissions(path, Permissions::from_mode(m))?;
    }
    Ok(true)
}

/// The (app, entry) a file in the bin dir is a launcher for, if magpkg wrote it.
fn launcher_owner(path: &Path) -> Option<(String, String)> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 4096 {
        return None;
    }
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().nth(1)?.strip_prefix(LAUNCHER_MARK)?;
    let rest = line.strip_prefix("app=")?;
    let (app, entry) = rest.split_once(" entry=")?;
    Some((app.to_string(), entry.to_string()))
}

fn desktop_owner(path: &Path) -> Option<(String, String)> {
    let name = path.file_name()?.to_str()?;
    if !name.starts_with(DESKTOP_PREFIX) || !name.ends_with(".desktop") {
        return None;
    }
    let text = fs::read_to_string(path).ok()?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(str::to_string)
    };
    Some((get("X-Magpkg-App")?, get("X-Magpkg-Entry")?))
}

/// Desktop file ids may only hold `[A-Za-z0-9_.-]`.
fn desktop_id(app: &str, entry: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!("{DESKTOP_PREFIX}{}-{}.desktop", clean(app), clean(entry))
}

/// Escape a value of type `string` in a desktop file.
fn desktop_escape(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('\n', r"\n")
        .replace('\t', r"\t")
        .replace('\r', r"\r")
}

/// Quote one argument of `Exec` (desktop entry spec, "The Exec key"), before
/// the string escaping of the whole value.
fn exec_arg(s: &str) -> String {
    let s = s.replace('%', "%%");
    let reserved = |c: char| " \t\n\"'\\><~|&;$*?#()`".contains(c);
    if !s.chars().any(reserved) {
        return s;
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `[Desktop Entry]` keys of an AppDir's own `.desktop` file.
fn appdir_desktop(dir: &Path) -> Vec<(String, String)> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "desktop") && p.is_file())
        .collect();
    files.sort();
    let Some(f) = files.first() else { return Vec::new() };
    parse_desktop(&fs::read_to_string(f).unwrap_or_default())
}

/// Keys of the `[Desktop Entry]` group, localised ones (`Name[de]`) as
/// written.
pub fn parse_desktop(text: &str) -> Vec<(String, String)> {
    let mut in_group = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_group = l == "[Desktop Entry]";
            continue;
        }
        if !in_group || l.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

const ICON_EXTS: &[&str] = &["svg", "png", "xpm"];

/// The icon for a menu entry: `icon` of the app's settings, else the app's
/// own (`<app>/icon.*`), else the AppDir's (`Icon=` of its desktop file, `.DirIcon`).
fn find_icon(app: &App, variant_dir: Option<&Path>, desktop: &[(String, String)]) -> Option<PathBuf> {
    if let Some(i) = &app.settings.icon {
        return Some(app.resolve_path(i));
    }
    for ext in ICON_EXTS {
        let p = app.dir.join(format!("icon.{ext}"));
        if p.is_file() {
            return Some(p);
        }
    }
    let vdir = variant_dir?;
    if let Some((_, name)) = desktop.iter().find(|(k, _)| k == "Icon") {
        for ext in ICON_EXTS {
            let p = vdir.join(format!("{name}.{ext}"));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let d = vdir.join(".DirIcon");
    d.is_file().then_some(d)
}

/// Write or refresh the launchers and menu entries of one app, and remove
/// its old ones that its settings no longer ask for.
pub fn integrate(app: &App, t: &Targets, host: &Host) -> Result<Report, AppError> {
    let owned = Owners {
        launchers: owned_launchers(&t.bin_dir)?,
        desktop: owned_desktop_files(&t.applications_dir)?,
    };
    integrate_with(app, t, host, &owned)
}

/// The files magpkg wrote in the targets, read once for a pass over every
/// app (reading them again for each app made that quadratic).
struct Owners {
    launchers: Vec<Owned>,
    desktop: Vec<Owned>,
}

fn integrate_with(app: &App, t: &Targets, host: &Host, owned: &Owners) -> Result<Report, AppError> {
    let mut rep = Report::default();
    let s = &app.settings;
    let all_entries: Vec<&str> = app
        .variants
        .iter()
        .flat_map(|v| v.manifest.content.iter().map(|e| e.name.as_str()))
        .collect();
    for e in s.add_to_path.iter().chain(&s.add_to_apps) {
        if !all_entries.contains(&e.as_str()) {
            rep.warnings.push(format!(
                "app `{}` asks to integrate `{e}`, but no variant has an entry of that name",
                app.name
            ));
        }
    }

    // Launchers.
    for (owner, path) in &owned.launchers {
        if owner.0 == app.name && !s.add_to_path.contains(&owner.1) && path.exists() {
            fs::remove_file(path)?;
            rep.removed.push(path.clone());
        }
    }
    for entry in &s.add_to_path {
        let path = t.bin_dir.join(entry);
        match fs::symlink_metadata(&path) {
            Ok(_) => match launcher_owner(&path) {
                Some((a, _)) if a == app.name => {}
                Some((a, _)) => {
                    rep.warnings.push(format!(
                        "{} is the launcher of app `{a}`; not replacing it with `{}`'s",
                        path.display(),
                        app.name
                    ));
                    continue;
                }
                None => {
                    rep.warnings.push(AppError::Conflict { path: path.clone() }.to_string());
                    continue;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if write_if_changed(&path, &launcher_text(t, &app.name, entry), Some(0o755))? {
            rep.written.push(path);
        }
    }

    // Menu entries.
    for (owner, path) in &owned.desktop {
        if owner.0 == app.name && !s.add_to_apps.contains(&owner.1) && path.exists() {
            fs::remove_file(path)?;
            rep.removed.push(path.clone());
        }
    }
    for entry in &s.add_to_apps {
        let path = t.applications_dir.join(desktop_id(&app.name, entry));
        let text = desktop_text(app, entry, t, host);
        if write_if_changed(&path, &text, None)? {
            rep.written.push(path);
        }
    }
    Ok(rep)
}

fn desktop_text(app: &App, entry: &str, t: &Targets, host: &Host) -> String {
    // Name, icon and the like come from the variant that would run.
    let ranked = select::rank(app, Some(entry), host);
    let chosen = ranked.iter().find_map(|(n, st)| match st {
        Status::Candidate { rank: 0, resolved, .. } => Some((n.clone(), resolved.clone())),
        _ => None,
    });
    let (vdir, apprun) = match &chosen {
        Some((n, r)) => (app.variant(n).map(|v| v.dir.clone()), r.is_apprun()),
        None => (
            app.variants
                .iter()
                .find(|v| v.manifest.content.iter().any(|e| e.name == entry))
                .map(|v| v.dir.clone()),
            false,
        ),
    };
    let own = match (&vdir, apprun) {
        (Some(d), true) => appdir_desktop(d),
        _ => Vec::new(),
    };
    let get = |k: &str| own.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
    // Localised values of a key (`Name[de]`...), as the AppDir wrote them.
    let localised = |k: &str| {
        own.iter()
            .filter(|(kk, _)| {
                kk.strip_prefix(k)
                    .is_some_and(|r| r.starts_with('[') && r.ends_with(']'))
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    // The settings' display name wins, and then the AppDir's translations of
    // its own name would contradict it.
    // Values from the AppDir's file are copied as written (already escaped).
    let (name, names) = match &app.settings.display_name {
        Some(n) => (desktop_escape(n), Vec::new()),
        None => (get("Name").unwrap_or_else(|| desktop_escape(entry)), localised("Name")),
    };
    // Keep the AppDir's file-argument field code, if it takes files.
    let field = get("Exec")
        .and_then(|e| {
            e.split_whitespace()
                .find(|w| matches!(*w, "%f" | "%F" | "%u" | "%U"))
                .map(String::from)
        })
        .unwrap_or_default();
    // magpkg is found when the entry starts, like a launcher finds it (see
    // `find_magpkg_sh`); `sh -c` gets the app as $0 (for messages) and the
    // files as its arguments.
    let script = format!(
        "{}exec \"$magpkg\" app run {} -- \"$@\"",
        find_magpkg_sh(t),
        sh_quote(&format!("{}:{entry}", app.name))
    );
    let mut exec = [
        "env".to_string(),
        exec_arg(&format!("MAGPKG_APPS={}", t.apps_root.display())),
        "sh".into(),
        "-c".into(),
        exec_arg(&script),
        exec_arg(&format!("{}:{entry}", app.name)),
    ]
    .join(" ");
    if !field.is_empty() {
        exec = format!("{exec} {field}");
    }
    let mut out = String::from("[Desktop Entry]\nType=Application\n");
    out.push_str(&format!("Name={name}\n"));
    for (k, v) in names {
        out.push_str(&format!("{k}={v}\n"));
    }
    for key in ["GenericName", "Comment", "Keywords"] {
        if let Some(c) = get(key) {
            out.push_str(&format!("{key}={c}\n"));
        }
        for (k, v) in localised(key) {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    out.push_str(&format!("Exec={}\n", desktop_escape(&exec)));
    if let Some(icon) = find_icon(app, vdir.as_deref(), &own) {
        out.push_str(&format!("Icon={}\n", desktop_escape(&icon.to_string_lossy())));
    }
    out.push_str(&format!(
        "Terminal={}\n",
        get("Terminal")
            .filter(|v| v == "true")
            .unwrap_or_else(|| "false".into())
    ));
    for key in ["Categories", "MimeType"] {
        if let Some(v) = get(key) {
            out.push_str(&format!("{key}={v}\n"));
        }
    }
    out.push_str(&format!(
        "X-Magpkg-App={}\nX-Magpkg-Entry={}\n",
        desktop_escape(&app.name),
        desktop_escape(entry)
    ));
    out
}

/// A file magpkg wrote: (app, entry) and its path.
type Owned = ((String, String), PathBuf);

fn owned_launchers(dir: &Path) -> Result<Vec<Owned>, AppError> {
    owned(dir, launcher_owner)
}

fn owned_desktop_files(dir: &Path) -> Result<Vec<Owned>, AppError> {
    owned(dir, desktop_owner)
}

fn owned(dir: &Path, owner: fn(&Path) -> Option<(String, String)>) -> Result<Vec<Owned>, AppError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for ent in rd {
        let p = ent?.path();
        if let Some(o) = owner(&p) {
            out.push((o, p));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Remove every launcher and menu entry of `app`.
pub fn unintegrate(app: &str, t: &Targets) -> Result<Report, AppError> {
    let mut rep = Report::default();
    let files = owned_launchers(&t.bin_dir)?
        .into_iter()
        .chain(owned_desktop_files(&t.applications_dir)?);
    for ((a, _), p) in files {
        if a == app {
            fs::remove_file(&p)?;
            rep.removed.push(p);
        }
    }
    Ok(rep)
}

/// Integrate every app, and remove the integration of apps whose directory
/// is gone (deleted by hand).
pub fn integrate_all(apps: &Apps, t: &Targets, host: &Host) -> Result<Report, AppError> {
    let mut rep = Report::default();
    let names = apps.names()?;
    let owned = Owners {
        launchers: owned_launchers(&t.bin_dir)?,
        desktop: owned_desktop_files(&t.applications_dir)?,
    };
    for name in &names {
        match apps.open(name) {
            Ok(app) => {
                let r = integrate_with(&app, t, host, &owned)?;
                rep.written.extend(r.written);
                rep.removed.extend(r.removed);
                rep.warnings.extend(r.warnings);
            }
            Err(e) => rep.warnings.push(format!("skipping app `{name}`: {e}")),
        }
    }
    let files = owned_launchers(&t.bin_dir)?
        .into_iter()
        .chain(owned_desktop_files(&t.applications_dir)?);
    for ((a, _), p) in files {
        if !names.contains(&a) {
            fs::remove_file(&p)?;
            rep.removed.push(p);
        }
    }
    Ok(rep)
}

/// The launchers and menu entries that exist for `app`.
pub fn integrated_files(app: &str, t: &Targets) -> Result<Vec<PathBuf>, AppError> {
    Ok(owned_launchers(&t.bin_dir)?
        .into_iter()
        .chain(owned_desktop_files(&t.applications_dir)?)
        .filter(|((a, _), _)| a == app)
        .map(|(_, p)| p)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_quoting_follows_the_spec() {
        assert_eq!(exec_arg("plain"), "plain");
        assert_eq!(exec_arg("/a b/magpkg"), "\"/a b/magpkg\"");
        assert_eq!(exec_arg("x$y\"z"), "\"x\\$y\\\"z\"");
        assert_eq!(exec_arg("100%"), "100%%");
        assert_eq!(desktop_escape("\"a\\$b\""), "\"a\\\\$b\"");
    }

    #[test]
    fn launcher_marker_roundtrips() {
        let t = tempfile::tempdir().unwrap();
        let targets = Targets {
            bin_dir: t.path().into(),
            applications_dir: t.path().into(),
            magpkg: "/opt/it's/magpkg".into(),
            apps_root: "/apps".into(),
        };
        let p = t.path().join("x");
        fs::write(&p, launcher_text(&targets, "my-app", "x")).unwrap();
        assert_eq!(launcher_owner(&p), Some(("my-app".into(), "x".into())));
        assert!(fs::read_to_string(&p).unwrap().contains("'/opt/it'\\''s/magpkg'"));
        fs::write(&p, "#!/bin/sh\necho not ours\n").unwrap();
        assert_eq!(launcher_owner(&p), None);
    }
}
