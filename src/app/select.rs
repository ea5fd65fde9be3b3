//! Which variant runs: disabled variants are out, preferred ones come first
//! in their order, then the variants native to this OS and CPU, then those
//! that run here through a compatibility layer (wine, 32-bit on 64-bit),
//! newest version first within each group.

use std::path::PathBuf;

use super::detect::{self, normalize_arch, normalize_os};
use super::expand::{self, Values};
use super::model::{App, Entry, Variant};
use super::{AppError, Rejected};

/// What this machine can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub os: String,
    pub arch: String,
    /// Is `wine` on PATH?
    pub wine: bool,
}

impl Host {
    pub fn current() -> Host {
        Host {
            os: detect::host_os(),
            arch: detect::host_arch(),
            wine: which::which("wine").is_ok(),
        }
    }

    /// Architectures this CPU runs besides its own.
    fn compatible_arch(&self, arch: &str) -> bool {
        matches!((self.arch.as_str(), arch), ("amd64", "i386") | ("arm64", "arm"))
    }
}

/// An entry of a variant with its file expanded and its type, OS and
/// architecture known (from the MPKG, else detected, else "any").
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub entry: Entry,
    pub file: PathBuf,
    pub kind: String,
    pub os: String,
    pub arch: String,
    pub appimage: Option<u8>,
    /// Which of kind/os/arch were detected rather than written.
    pub detected: Vec<&'static str>,
}

impl Resolved {
    pub fn is_windows(&self) -> bool {
        self.os == "windows"
    }
    /// Runs through `AppRun` with the AppImage variables set.
    pub fn is_apprun(&self) -> bool {
        self.file.file_name().is_some_and(|n| n == "AppRun")
    }
}

/// Types that are programs.
pub fn is_program_kind(kind: &str) -> bool {
    kind == "binary" || kind.starts_with("script-")
}

/// Expand and inspect one entry of a variant.
pub fn resolve(app: &App, variant: &Variant, entry: &Entry) -> Result<Resolved, AppError> {
    let values = Values {
        package: variant.dir.clone().into_os_string(),
        data: app.data_dir().into_os_string(),
        args: Vec::new(),
        windows_paths: false,
    };
    let file = expand::expand_path(&entry.file, &values).map_err(|message| AppError::BadTemplate {
        path: variant.manifest.path.clone(),
        entry: entry.name.clone(),
        field: "file",
        message,
    })?;
    let file = windows_path(&variant.dir, file);
    let needs_detection = entry.kind.is_none() || entry.os.is_none() || entry.architecture.is_none();
    let d = if needs_detection {
        detect::detect(&file)
    } else {
        Default::default()
    };
    let mut detected = Vec::new();
    let kind = match &entry.kind {
        Some(k) => k.trim().to_ascii_lowercase(),
        None => match &d.kind {
            Some(k) => {
                detected.push("type");
                k.clone()
            }
            // An executable nobody can classify (no ELF, PE or shebang) is
            // still something the kernel may run (e.g. via binfmt_misc).
            None => "binary".into(),
        },
    };
    let os = match &entry.os {
        Some(o) => normalize_os(o),
        None => match &d.os {
            Some(o) => {
                detected.push("os");
                o.clone()
            }
            None => "any".into(),
        },
    };
    let arch = match &entry.architecture {
        Some(a) => normalize_arch(a),
        None => match &d.arch {
            Some(a) => {
                detected.push("architecture");
                a.clone()
            }
            None => "any".into(),
        },
    };
    Ok(Resolved {
        entry: entry.clone(),
        file,
        kind,
        os,
        arch,
        appimage: d.appimage,
        detected,
    })
}

/// The file an entry names. Written the Windows way
/// (`%MPKG_PACKAGE%\bin\x.exe`), backslashes separate directories unless
/// a file of that exact name exists; when the file is not there as
/// written, a name differing only in case is taken (Windows file names
/// ignore case, so MPKGs written there do too).
fn windows_path(variant_dir: &std::path::Path, file: std::ffi::OsString) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let rooted = |p: PathBuf| if p.is_relative() { variant_dir.join(p) } else { p };
    let literal = rooted(PathBuf::from(&file));
    if literal.exists() || !file.as_bytes().contains(&b'\\') {
        return case_insensitive(literal);
    }
    let slashed: Vec<u8> = file
        .into_vec()
        .into_iter()
        .map(|b| if b == b'\\' { b'/' } else { b })
        .collect();
    case_insensitive(rooted(PathBuf::from(std::ffi::OsString::from_vec(slashed))))
}

/// `p` itself when it exists, else the path whose components match it
/// ignoring ASCII case (the first match of each, in directory order), else `p`.
fn case_insensitive(p: PathBuf) -> PathBuf {
    if p.exists() {
        return p;
    }
    let mut cur = PathBuf::new();
    for c in p.components() {
        let next = cur.join(c);
        if next.exists() || !matches!(c, std::path::Component::Normal(_)) {
            cur = next;
            continue;
        }
        let want = c.as_os_str().to_string_lossy().to_ascii_lowercase();
        let found = std::fs::read_dir(&cur).ok().and_then(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .find(|n| n.to_string_lossy().to_ascii_lowercase() == want)
        });
        match found {
            Some(n) => cur.push(n),
            None => return p,
        }
    }
    cur
}

/// Can `r` run here? `Ok(true)`: natively; `Ok(false)`: through a
/// compatibility layer; `Err(reason)`: not at all.
pub fn runnable(r: &Resolved, host: &Host) -> Result<bool, String> {
    if !is_program_kind(&r.kind) {
        return Err(format!("`{}` is of type `{}`, not a program", r.entry.name, r.kind));
    }
    if !r.file.exists() {
        return Err(format!("{} does not exist", r.file.display()));
    }
    let mut native = true;
    match r.os.as_str() {
        "any" => {}
        o if o == host.os => {}
        "windows" => {
            if !host.wine {
                return Err("Windows program, and wine is not installed".into());
            }
            native = false;
        }
        o => return Err(format!("made for {o}, this machine runs {}", host.os)),
    }
    match r.arch.as_str() {
        "any" => {}
        a if a == host.arch => {}
        a if host.compatible_arch(a) => native = false,
        a => return Err(format!("made for {a}, this machine is {}", host.arch)),
    }
    Ok(native)
}

/// The entry of `variant` to run: the one asked for, else `run_default`,
/// else the one named like the app, else the only program.
pub fn pick_entry<'v>(app: &App, variant: &'v Variant, wanted: Option<&str>) -> Result<&'v Entry, AppError> {
    let content = &variant.manifest.content;
    let names = || content.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
    if let Some(w) = wanted.or(app.settings.run_default.as_deref()) {
        return content
            .iter()
            .find(|e| e.name == w)
            .ok_or_else(|| AppError::UnknownEntry {
                app: app.name.clone(),
                variant: variant.name.clone(),
                entry: w.into(),
                available: names(),
            });
    }
    if let Some(e) = content.iter().find(|e| e.name == app.name) {
        return Ok(e);
    }
    let programs: Vec<&Entry> = content
        .iter()
        .filter(|e| e.kind.as_deref().is_none_or(is_program_kind))
        .collect();
    match programs.as_slice() {
        [one] => Ok(one),
        _ => Err(AppError::NoDefaultEntry {
            app: app.name.clone(),
            variant: variant.name.clone(),
            entries: names(),
        }),
    }
}

/// How one variant fared.
#[derive(Debug, Clone)]
pub enum Status {
    /// Usable; `rank` 0 is the one that runs.
    Candidate {
        rank: usize,
        native: bool,
        preferred: bool,
        resolved: Box<Resolved>,
    },
    /// Not usable, and why; with what the entry was found to be, when it
    /// was found.
    Rejected {
        reason: String,
        resolved: Option<Box<Resolved>>,
    },
}

/// Every variant of the app, in the app's order, with its status for
/// running `entry`.
pub fn rank(app: &App, entry: Option<&str>, host: &Host) -> Vec<(String, Status)> {
    let disabled = &app.settings.disabled_variants;
    let preferred = &app.settings.preferred_variants;
    let mut usable: Vec<(usize, bool, Resolved)> = Vec::new();
    let mut out: Vec<(String, Status)> = Vec::new();
    for (i, v) in app.variants.iter().enumerate() {
        let resolved = pick_entry(app, v, entry)
            .map_err(|e| match e {
                AppError::UnknownEntry { entry, .. } => format!("has no entry `{entry}`"),
                AppError::NoDefaultEntry { entries, .. } if entries.is_empty() => "has no entries".into(),
                AppError::NoDefaultEntry { entries, .. } => {
                    format!("several entries ({}) and no run_default", entries.join(", "))
                }
                other => other.to_string(),
            })
            .and_then(|e| resolve(app, v, e).map_err(|e| e.to_string()));
        let rejected = |reason: String, r: Option<Resolved>| Status::Rejected {
            reason,
            resolved: r.map(Box::new),
        };
        let status = if disabled.contains(&v.name) {
            rejected("disabled in disabled_variants".into(), resolved.ok())
        } else {
            match resolved {
                Err(reason) => rejected(reason, None),
                Ok(r) => match runnable(&r, host) {
                    Ok(native) => {
                        usable.push((i, native, r));
                        continue;
                    }
                    Err(reason) => rejected(reason, Some(r)),
                },
            }
        };
        out.push((v.name.clone(), status));
    }
    let version = |i: usize| app.variants[i].manifest.version.clone().unwrap_or_default();
    let pref_pos = |i: usize| preferred.iter().position(|p| *p == app.variants[i].name);
    usable.sort_by(|a, b| {
        let key = |x: &(usize, bool, Resolved)| (pref_pos(x.0).is_none(), pref_pos(x.0), !x.1);
        key(a).cmp(&key(b)).then_with(|| {
            super::compare_versions(&version(b.0), &version(a.0))
                .then_with(|| app.variants[b.0].name.cmp(&app.variants[a.0].name))
        })
    });
    for (rank, (i, native, r)) in usable.into_iter().enumerate() {
        out.push((
            app.variants[i].name.clone(),
            Status::Candidate {
                rank,
                native,
                preferred: pref_pos(i).is_some(),
                resolved: Box::new(r),
            },
        ));
    }
    // Back to the app's (directory) order.
    let order = |n: &str| app.variants.iter().position(|v| v.name == n);
    out.sort_by_key(|(n, _)| order(n));
    out
}

/// Choose the variant and entry to run. `forced` (`--variant`) skips the
/// ranking but not the checks that would make the run fail anyway.
pub fn select<'a>(
    app: &'a App,
    entry: Option<&str>,
    forced: Option<&str>,
    host: &Host,
) -> Result<(&'a Variant, Resolved), AppError> {
    if let Some(f) = forced {
        if let Some(b) = app.broken_variant(f) {
            // Asked for by name: its own error, with the file's hint.
            return Err(super::model::read_manifest(&app.name, &b.dir)
                .err()
                .unwrap_or_else(|| AppError::Malformed {
                    path: b.dir.clone(),
                    line: None,
                    message: b.error.clone(),
                }));
        }
        let v = app.variant(f).ok_or_else(|| AppError::UnknownVariant {
            app: app.name.clone(),
            variant: f.into(),
            available: app.variants.iter().map(|v| v.name.clone()).collect(),
        })?;
        let e = pick_entry(app, v, entry)?;
        let r = resolve(app, v, e)?;
        if !is_program_kind(&r.kind) {
            return Err(AppError::NotRunnable {
                app: app.name.clone(),
                entry: r.entry.name.clone(),
                kind: r.kind.clone(),
            });
        }
        return Ok((v, r));
    }
    let ranked = rank(app, entry, host);
    let best = ranked.iter().find_map(|(name, s)| match s {
        Status::Candidate { rank: 0, resolved, .. } => Some((name.clone(), (**resolved).clone())),
        _ => None,
    });
    if let Some((name, r)) = best {
        return Ok((app.variant(&name).expect("ranked variants exist"), r));
    }
    let mut rejected: Vec<Rejected> = ranked
        .into_iter()
        .filter_map(|(variant, s)| match s {
            Status::Rejected { reason, .. } => Some(Rejected { variant, reason }),
            Status::Candidate { .. } => None,
        })
        .chain(app.broken.iter().map(|b| Rejected {
            variant: b.name.clone(),
            reason: format!("skipped: {}", b.error),
        }))
        .collect();
    // The app's (directory) order, broken variants among the others.
    rejected.sort_by(|a, b| a.variant.cmp(&b.variant));
    Err(AppError::NoVariant {
        app: app.name.clone(),
        entry: entry.or(app.settings.run_default.as_deref()).map(String::from),
        rejected,
    })
}
