//! The app directory tree and the two file kinds in it: `MPKG` (one per
//! variant: version, compatibility, content entries) and `<app>.mpkg`
//! (the app's settings). Both are read in the seed's Python-literal format
//! ([`super::pylit`]) or, when named `MPKG.jsonnet` / `<app>.mpkg.jsonnet`,
//! as Jsonnet evaluating to an object with the same keys.

use std::path::{Path, PathBuf};

use fs_err as fs;

use super::pylit::{self, Node, Value};

use super::AppError;

/// One `content` entry of an `MPKG` file, as written (nothing expanded or
/// detected yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub file: String,
    pub args: Option<String>,
    pub kind: Option<String>,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub line: Option<usize>,
    /// Keys magpkg does not know, kept as written.
    pub extra: Vec<(String, serde_json::Value)>,
}

/// An `MPKG` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub path: PathBuf,
    pub version: Option<String>,
    pub compatible_100: bool,
    pub content: Vec<Entry>,
    pub origin: Option<String>,
    /// The AppImage facts magpkg recorded at install ([`super::embedded`]).
    pub update_info: Option<String>,
    pub appimage_sha1: Option<String>,
    pub signature: Option<String>,
    pub extra: Vec<(String, serde_json::Value)>,
    /// Non-fatal remarks (unknown keys...), already prefixed with file:line.
    pub warnings: Vec<String>,
}

/// A `<app>.mpkg` file (all fields empty when the app has none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub path: Option<PathBuf>,
    pub run_default: Option<String>,
    pub preferred_variants: Vec<String>,
    pub disabled_variants: Vec<String>,
    pub add_to_path: Vec<String>,
    pub add_to_apps: Vec<String>,
    pub notes: Option<String>,
    /// The name menu entries show (else the AppDir's, else the entry's).
    pub display_name: Option<String>,
    /// The icon of menu entries, as written (see [`App::resolve_path`]).
    pub icon: Option<String>,
    /// `sandbox = True/False`: run sandboxed or not, whatever the variant's
    /// `compatible_100` says.
    pub sandbox: Option<bool>,
    /// Paths the sandbox shows read-only / read-write, as written
    /// (`cwd`, `tmp`, `~/...`, absolute paths).
    pub sandbox_read: Vec<String>,
    pub sandbox_write: Vec<String>,
    pub extra: Vec<(String, serde_json::Value)>,
    pub warnings: Vec<String>,
    /// Each key as written, with its line when known.
    pub keys: Vec<(String, Option<usize>)>,
}

/// One directory under `<app>/package/`.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// A directory under `<app>/package/` whose MPKG cannot be read. It is
/// skipped: one broken variant must not keep the others from running.
#[derive(Debug, Clone)]
pub struct Broken {
    pub name: String,
    pub dir: PathBuf,
    /// Why, with the file and line (the error and its causes on one line).
    pub error: String,
}

impl Broken {
    /// The one warning a command prints about it.
    pub fn warning(&self) -> String {
        format!("skipping variant `{}`: {}", self.name, self.error)
    }
}

/// One app directory, fully read.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub dir: PathBuf,
    pub settings: Settings,
    /// The variants that were read, in directory order.
    pub variants: Vec<Variant>,
    /// The variants that could not be read, in directory order.
    pub broken: Vec<Broken>,
}

impl App {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn package_dir(&self) -> PathBuf {
        self.dir.join("package")
    }
    pub fn src_dir(&self) -> PathBuf {
        self.dir.join("src")
    }
    /// A path written in the app's settings: `~/...` is in the home
    /// directory, a relative path is relative to the app directory.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        match expand_home(p) {
            Some(h) => h,
            None => self.dir.join(p),
        }
    }
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }
    /// Every warning of the settings file and the variants' MPKG files,
    /// without those about broken variants ([`Broken::warning`]).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.settings.warnings.clone();
        for v in &self.variants {
            w.extend(v.manifest.warnings.iter().cloned());
        }
        w
    }
    pub fn broken_variant(&self, name: &str) -> Option<&Broken> {
        self.broken.iter().find(|b| b.name == name)
    }
    /// Whether runs default to the sandbox: the app's variants claim to be
    /// 100% portable (`compatible_100`).
    pub fn compatible_100(&self, variant: &Variant) -> bool {
        variant.manifest.compatible_100
    }
}

/// `~` and `~/...` with the home directory; `None` for other paths.
pub fn expand_home(p: &str) -> Option<PathBuf> {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    if p == "~" {
        return home();
    }
    p.strip_prefix("~/").and_then(|rest| home().map(|h| h.join(rest)))
}

/// The apps root.
#[derive(Debug, Clone)]
pub struct Apps {
    pub root: PathBuf,
}

impl Apps {
    pub fn new(root: impl Into<PathBuf>) -> Apps {
        Apps { root: root.into() }
    }

    /// Names of the app directories (sorted). A directory is an app when it
    /// has a `package/` directory or a `.mpkg` file; hidden ones are skipped.
    pub fn names(&self) -> Result<Vec<String>, AppError> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !ent.path().is_dir() {
                continue;
            }
            if is_app_dir(&ent.path()) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Read one app.
    pub fn open(&self, name: &str) -> Result<App, AppError> {
        super::validate_name(name)?;
        let dir = self.root.join(name);
        if !dir.is_dir() || !is_app_dir(&dir) {
            let names = self.names().unwrap_or_default();
            return Err(AppError::NotFound {
                name: name.into(),
                root: self.root.clone(),
                suggestion: crate::util::closest(name, names.iter().map(String::as_str)),
            });
        }
        // The real path: the sandbox binds real directories, and a symlink on
        // the way (e.g. under /tmp) may not exist inside it.
        let dir = dir.canonicalize().unwrap_or(dir);
        let mut settings = read_settings(name, &dir)?;
        let mut variants = Vec::new();
        let mut broken = Vec::new();
        let pkg = dir.join("package");
        if pkg.is_dir() {
            let mut names: Vec<String> = fs::read_dir(&pkg)?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            for vname in names {
                let vdir = pkg.join(&vname);
                match read_manifest(name, &vdir) {
                    Ok(manifest) => variants.push(Variant {
                        name: vname,
                        dir: vdir,
                        manifest,
                    }),
                    Err(e) => broken.push(Broken {
                        name: vname,
                        dir: vdir,
                        error: crate::error::one_line(&e),
                    }),
                }
            }
        }
        let existing: Vec<&str> = variants
            .iter()
            .map(|v| v.name.as_str())
            .chain(broken.iter().map(|b| b.name.as_str()))
            .collect();
        let typos = unknown_variant_warnings(name, &settings, &existing);
        settings.warnings.extend(typos);
        Ok(App {
            name: name.into(),
            dir,
            settings,
            variants,
            broken,
        })
    }
}

/// `prefered_variants` and `disabled_variants` naming a variant the app
/// does not have: a typo would otherwise be ignored without a word.
fn unknown_variant_warnings(app: &str, s: &Settings, existing: &[&str]) -> Vec<String> {
    let Some(path) = &s.path else {
        return Vec::new();
    };
    // The key as written (the last one wins, as in Python) and its line.
    let key = |names: &[&str]| s.keys.iter().rev().find(|(k, _)| names.contains(&k.as_str())).cloned();
    let lists = [
        (key(&["prefered_variants", "preferred_variants"]), &s.preferred_variants),
        (key(&["disabled_variants"]), &s.disabled_variants),
    ];
    let mut out = Vec::new();
    for (k, names) in lists {
        let Some((key, line)) = k else { continue };
        for n in names.iter().filter(|n| !existing.contains(&n.as_str())) {
            let hint = match crate::util::closest(n, existing.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!(
                    "it has: {}",
                    if existing.is_empty() {
                        "none".into()
                    } else {
                        existing.join(", ")
                    }
                ),
            };
            out.push(format!(
                "{}: `{key}` names `{n}`, which is not a variant of `{app}` (ignored; {hint})",
                at(path, line)
            ));
        }
    }
    out
}

fn is_app_dir(dir: &Path) -> bool {
    dir.join("package").is_dir()
        || fs::read_dir(dir).is_ok_and(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| settings_file_kind(&e.file_name().to_string_lossy()).is_some())
        })
}

/// `Some(true)` for a Jsonnet settings file, `Some(false)` for the Python form.
fn settings_file_kind(name: &str) -> Option<bool> {
    if name.starts_with('.') {
        return None;
    }
    if name.ends_with(".mpkg.jsonnet") {
        Some(true)
    } else if name.ends_with(".mpkg") {
        Some(false)
    } else {
        None
    }
}

/// The settings file of an app: `<app>.mpkg` (or `.mpkg.jsonnet`), else
/// the only `*.mpkg` in the directory.
pub fn settings_path(app: &str, dir: &Path) -> Result<Option<PathBuf>, AppError> {
    for cand in [format!("{app}.mpkg"), format!("{app}.mpkg.jsonnet")] {
        let p = dir.join(&cand);
        if p.is_file() {
            return Ok(Some(p));
        }
    }
    let mut found: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| settings_file_kind(n).is_some())
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(Some(dir.join(&found[0]))),
        _ => Err(AppError::AmbiguousSettings {
            app: app.into(),
            files: found,
        }),
    }
}

/// `key = value` read from a file, with its line when known.
type Item = (String, Node, Option<usize>);

/// Read a file in either format into items and warnings.
fn read_assignments(path: &Path) -> Result<(Vec<Item>, Vec<String>), AppError> {
    let jsonnet = path.extension().is_some_and(|e| e == "jsonnet");
    if jsonnet {
        let v = crate::jsonnet::evaluate_plain_file(path).map_err(|e| AppError::Jsonnet {
            path: path.into(),
            source: Box::new(e),
        })?;
        let serde_json::Value::Object(obj) = v else {
            return Err(AppError::Malformed {
                path: path.into(),
                line: None,
                message: "must evaluate to an object".into(),
            });
        };
        let items = obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Node {
                        line: None,
                        value: Value::from_json(v),
                    },
                    None,
                )
            })
            .collect();
        return Ok((items, Vec::new()));
    }
    let bytes = fs::read(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        AppError::Malformed {
            path: path.into(),
            line: Some(line),
            message: "not valid UTF-8 text".into(),
        }
    })?;
    let parsed = pylit::parse(&text).map_err(|e| AppError::Malformed {
        path: path.into(),
        line: Some(e.line),
        message: e.message,
    })?;
    let warnings = parsed
        .warnings
        .iter()
        .map(|(l, w)| format!("{}:{l}: {w}", path.display()))
        .collect();
    // Python semantics: a name assigned twice keeps the last value.
    let mut items: Vec<Item> = Vec::new();
    for a in parsed.assignments {
        items.retain(|(k, _, _)| *k != a.name);
        items.push((a.name, a.value, Some(a.line)));
    }
    Ok((items, warnings))
}

fn at(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

/// A file's items as one JSON object (the last assignment of a name wins).
fn as_object(items: &[Item]) -> serde_json::Value {
    serde_json::Value::Object(items.iter().map(|(k, n, _)| (k.clone(), n.value.to_json())).collect())
}

/// The line of a field (`version`, `content[1].args`) in the items: the
/// deepest part of the path that has one.
fn line_of(items: &[Item], path: &str) -> Option<usize> {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    let (_, node, line) = items.iter().rev().find(|(k, _, _)| k == &path[..end])?;
    let mut best = node.line.or(*line);
    let mut cur = node;
    let mut rest = &path[end..];
    loop {
        let next = if let Some(r) = rest.strip_prefix('[') {
            let Some((idx, after)) = r.split_once(']') else { break };
            rest = after;
            match (&cur.value, idx.parse::<usize>()) {
                (Value::List(l), Ok(i)) => l.get(i),
                // `content` written as one dict is item 0.
                (Value::Dict(_), Ok(0)) => Some(cur),
                _ => None,
            }
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            rest = &r[end..];
            match &cur.value {
                Value::Dict(d) => d.iter().rev().find(|(k, _)| k == key).map(|(_, n)| n),
                _ => None,
            }
        } else {
            break;
        };
        let Some(n) = next else { break };
        cur = n;
        best = cur.line.or(best);
    }
    best
}

/// Read a file's items as `T` (see [`super::fields::read`]): unknown keys
/// become warnings naming the file, line and closest known key, and are
/// returned to be kept; a wrong value is an error at its line.
fn read_typed<T: serde::de::DeserializeOwned>(
    path: &Path,
    items: &[Item],
    warnings: &mut Vec<String>,
) -> Result<(T, Vec<super::fields::Unknown>), AppError> {
    let jsonnet = path.extension().is_some_and(|e| e == "jsonnet");
    let files = if jsonnet {
        crate::jsonnet::typed::file_at(path)
    } else {
        Vec::new()
    };
    let (t, unknown) = super::fields::read::<T>(as_object(items), &files).map_err(|w| {
        // Jsonnet: `file:line:col` from the source; Python: the parser's lines.
        // For Jsonnet the field itself is searched for (the deepest name of
        // its path: `args` of `content[0].args`), else where serde stopped.
        let last = w.path.rsplit(['.', ']']).next().unwrap_or(&w.path);
        let found = (jsonnet && !last.is_empty())
            .then(|| {
                let q = crate::jsonnet::locate::Query {
                    field: last,
                    package: None,
                    kind: None,
                    sibling: None,
                };
                crate::jsonnet::locate::find(&files, &q).map(|f| f.location)
            })
            .flatten()
            .or(w.location.clone());
        let line = match &found {
            Some(loc) => loc.rsplit(':').nth(1).and_then(|l| l.parse().ok()),
            None => line_of(items, &w.path),
        };
        AppError::Malformed {
            path: path.into(),
            line,
            message: format!("`{}` {}", w.path, w.message),
        }
    })?;
    for u in &unknown {
        let (what, name) = match u.path.rsplit_once('.') {
            Some((_, k)) => ("entry key", k),
            None => ("key", u.path.as_str()),
        };
        let hint = u
            .suggestion
            .as_ref()
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        warnings.push(format!(
            "{}: unknown {what} `{name}` (kept, not used{hint})",
            at(path, line_of(items, &u.path))
        ));
    }
    Ok((t, unknown))
}

fn bad(path: &Path, line: Option<usize>, message: String) -> AppError {
    AppError::Malformed {
        path: path.into(),
        line,
        message,
    }
}

/// The entries of a variant without an MPKG: an AppDir's `AppRun`, named
/// like the app; else the Windows programs (`*.exe`) at its top, the only
/// one named like the app, several by their file names.
fn implicit_entries(app: &str, vdir: &Path) -> Vec<Entry> {
    let entry = |name: &str, file: &str| Entry {
        name: name.into(),
        file: format!("$MPKG_PACKAGE/{file}"),
        args: None,
        kind: None,
        os: None,
        architecture: None,
        line: None,
        extra: Vec::new(),
    };
    if vdir.join("AppRun").is_file() {
        return vec![entry(app, "AppRun")];
    }
    let mut exes: Vec<String> = fs::read_dir(vdir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() > 4 && n[n.len() - 4..].eq_ignore_ascii_case(".exe"))
        .collect();
    exes.sort();
    match exes.as_slice() {
        [one] => vec![entry(app, one)],
        several => several
            .iter()
            .filter_map(|f| {
                let stem = &f[..f.len() - 4];
                super::validate_name(stem).ok().map(|_| entry(stem, f))
            })
            .collect(),
    }
}

/// Read the `MPKG` (or `MPKG.jsonnet`) of a variant directory. A variant
/// without one that holds an `AppRun` is an AppDir dropped in by hand: it
/// gets an implicit entry named like the app.
pub fn read_manifest(app: &str, vdir: &Path) -> Result<Manifest, AppError> {
    let py = vdir.join("MPKG");
    let js = vdir.join("MPKG.jsonnet");
    let path = match (py.is_file(), js.is_file()) {
        (true, true) => {
            return Err(AppError::Malformed {
                path: js,
                line: None,
                message: "the variant has both MPKG and MPKG.jsonnet; keep one".into(),
            })
        }
        (true, false) => py,
        (false, true) => js,
        (false, false) => {
            let content = implicit_entries(app, vdir);
            let warnings = if content.is_empty() {
                vec![format!(
                    "{}: no MPKG file, AppRun or .exe; the variant has no entries",
                    vdir.display()
                )]
            } else {
                Vec::new()
            };
            return Ok(Manifest {
                path: py,
                version: None,
                compatible_100: false,
                content,
                origin: None,
                update_info: None,
                appimage_sha1: None,
                signature: None,
                extra: Vec::new(),
                warnings,
            });
        }
    };
    let (items, mut warnings) = read_assignments(&path)?;
    let (file, unknown) = read_typed::<super::fields::MpkgFile>(&path, &items, &mut warnings)?;
    let text = |t: Option<super::fields::Text>| t.map(|t| t.0);
    let mut m = Manifest {
        path: path.clone(),
        version: text(file.version),
        compatible_100: file.compatible_100.is_some_and(|f| f.0),
        content: Vec::new(),
        origin: text(file.origin),
        update_info: text(file.update_info),
        appimage_sha1: text(file.appimage_sha1),
        signature: text(file.signature),
        extra: Vec::new(),
        warnings: Vec::new(),
    };
    let content_line = |i: usize| line_of(&items, &format!("content[{i}]"));
    for (i, e) in file.content.map(|c| c.0).unwrap_or_default().into_iter().enumerate() {
        let line = content_line(i);
        let nonblank = |t: Option<super::fields::Text>| t.map(|t| t.0).filter(|s| !s.trim().is_empty());
        // Blank means any (the seed's "or blank"); only a missing value is
        // detected.
        let any_if_blank =
            |t: Option<super::fields::Text>| t.map(|t| if t.0.trim().is_empty() { "any".into() } else { t.0 });
        let mut entry = Entry {
            name: nonblank(e.name).unwrap_or_default(),
            file: nonblank(e.file).unwrap_or_default(),
            args: text(e.args),
            kind: nonblank(e.kind),
            os: any_if_blank(e.os),
            architecture: any_if_blank(e.architecture),
            line,
            extra: Vec::new(),
        };
        if entry.file.is_empty() {
            return Err(bad(&path, line, "a `content` entry has no `file`".into()));
        }
        if entry.name.is_empty() {
            // The seed calls `name` the invocation name; without one, the
            // file's name (without extension) is what a user would type.
            let base = entry.file.rsplit(['/', '\\']).next().unwrap_or(&entry.file);
            entry.name = base.split('.').next().unwrap_or(base).to_string();
            warnings.push(format!(
                "{}: entry for `{}` has no `name`; using `{}`",
                at(&path, line),
                entry.file,
                entry.name
            ));
        }
        super::validate_name(&entry.name).map_err(|err| bad(&path, line, err.to_string()))?;
        if m.content.iter().any(|x| x.name == entry.name) {
            return Err(bad(
                &path,
                line,
                format!("two content entries are named `{}`", entry.name),
            ));
        }
        m.content.push(entry);
    }
    for u in unknown {
        let in_entry = u
            .path
            .strip_prefix("content[")
            .and_then(|r| r.split_once("]."))
            .and_then(|(i, k)| Some((i.parse::<usize>().ok()?, k.to_string())));
        match in_entry {
            Some((i, k)) if i < m.content.len() => m.content[i].extra.push((k, u.value)),
            _ => m.extra.push((u.path, u.value)),
        }
    }
    if m.version.is_none() {
        warnings.push(format!("{}: no `version`", path.display()));
    }
    m.warnings = warnings;
    Ok(m)
}

/// Read the settings of an app (empty settings if it has no `.mpkg`).
pub fn read_settings(app: &str, dir: &Path) -> Result<Settings, AppError> {
    let Some(path) = settings_path(app, dir)? else {
        return Ok(Settings::default());
    };
    let (items, mut warnings) = read_assignments(&path)?;
    let (f, unknown) = read_typed::<super::fields::SettingsFile>(&path, &items, &mut warnings)?;
    let text = |t: Option<super::fields::Text>| t.map(|t| t.0);
    let nonblank = |t: Option<super::fields::Text>| t.map(|t| t.0).filter(|s| !s.trim().is_empty());
    let names = |n: Option<super::fields::Names>| n.map(|n| n.0).unwrap_or_default();
    let paths = |p: Option<super::fields::Paths>| p.map(|p| p.0).unwrap_or_default();
    // Both spellings: the one written last wins, as for any name.
    let preferred_last = items
        .iter()
        .rev()
        .find(|(k, _, _)| k == "prefered_variants" || k == "preferred_variants")
        .map(|(k, _, _)| k.as_str());
    let preferred = match preferred_last {
        Some("preferred_variants") => f.preferred_variants.or(f.prefered_variants),
        _ => f.prefered_variants.or(f.preferred_variants),
    };
    let s = Settings {
        path: Some(path.clone()),
        run_default: nonblank(f.run_default),
        preferred_variants: names(preferred),
        disabled_variants: names(f.disabled_variants),
        add_to_path: names(f.add_to_path),
        add_to_apps: names(f.add_to_apps),
        notes: text(f.notes),
        display_name: nonblank(f.display_name),
        icon: nonblank(f.icon),
        sandbox: f.sandbox.map(|b| b.0),
        sandbox_read: paths(f.sandbox_read),
        sandbox_write: paths(f.sandbox_write),
        extra: unknown.into_iter().map(|u| (u.path, u.value)).collect(),
        keys: items.iter().map(|(k, _, l)| (k.clone(), *l)).collect(),
        warnings: Vec::new(),
    };
    for (key, list) in [("sandbox_read", &s.sandbox_read), ("sandbox_write", &s.sandbox_write)] {
        for p in list {
            let ok = matches!(p.as_str(), "cwd" | "tmp") || p.starts_with('/') || p == "~" || p.starts_with("~/");
            if !ok {
                return Err(bad(
                    &path,
                    line_of(&items, key),
                    format!("`{key}` names `{p}`: give an absolute path, `~/...`, `cwd` or `tmp`"),
                ));
            }
        }
    }
    for n in s.add_to_path.iter().chain(&s.add_to_apps) {
        super::validate_name(n).map_err(|e| bad(&path, None, e.to_string()))?;
    }
    Ok(Settings { warnings, ..s })
}

/// Quote a string as a Python literal (for the files magpkg writes).
pub fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Render an `MPKG` file in the Python-literal format.
pub fn render_manifest(version: &str, compatible_100: bool, origin: Option<&str>, entries: &[Entry]) -> String {
    render_manifest_with(version, compatible_100, origin, &[], entries)
}

/// [`render_manifest`] with more top-level keys (`update_info`...), written
/// after `origin` in the order given.
pub fn render_manifest_with(
    version: &str,
    compatible_100: bool,
    origin: Option<&str>,
    keys: &[(&str, String)],
    entries: &[Entry],
) -> String {
    let mut out = String::from("# Written by magpkg; edit freely (see doc/apps.md).\n");
    out.push_str(&format!("version = {}\n", py_str(version)));
    if compatible_100 {
        out.push_str("compatible_100 = '1'\n");
    }
    if let Some(o) = origin {
        out.push_str(&format!("origin = {}\n", py_str(o)));
    }
    for (k, v) in keys {
        out.push_str(&format!("{k} = {}\n", py_str(v)));
    }
    out.push_str("content = [");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\n");
        let mut fields = vec![("name", e.name.clone()), ("file", e.file.clone())];
        if let Some(a) = &e.args {
            fields.push(("args", a.clone()));
        }
        for (k, v) in [("type", &e.kind), ("os", &e.os), ("architecture", &e.architecture)] {
            if let Some(v) = v {
                fields.push((k, v.clone()));
            }
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\t'{k}' : {}", py_str(v))).collect();
        out.push_str(&body.join(",\n"));
        out.push_str("\n\t}");
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_manifest_reads_back() {
        let t = tempfile::tempdir().unwrap();
        let e = Entry {
            name: "x".into(),
            file: "$MPKG_PACKAGE/bin/x".into(),
            args: Some("$MPKG_ARGS --dir \"$MPKG_DATA\"".into()),
            kind: Some("binary".into()),
            os: Some("linux".into()),
            architecture: Some("amd64".into()),
            line: None,
            extra: vec![],
        };
        let text = render_manifest("1.2 'q'", true, Some("test\\origin"), std::slice::from_ref(&e));
        fs::write(t.path().join("MPKG"), &text).unwrap();
        let m = read_manifest("x", t.path()).unwrap();
        assert_eq!(m.version.as_deref(), Some("1.2 'q'"));
        assert!(m.compatible_100);
        assert_eq!(m.origin.as_deref(), Some("test\\origin"));
        assert_eq!(m.content.len(), 1);
        assert_eq!(m.content[0].args, e.args);
        assert_eq!(m.content[0].line, Some(5));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }
}
