//! Portable apps (the mpkg format): app directories, `MPKG` and `.mpkg`
//! files, variants, launchers, AppImage/AppDir and the store bridge.
//!
//! The directory tree under the apps root *is* the database: every command
//! reads it afresh, so apps added, edited or removed by hand (file manager,
//! text editor) are seen at once. Layout of one app:
//!
//! ```text
//! <apps>/<app>/<app>.mpkg          settings (what to run, preferred variants, integration)
//! <apps>/<app>/package/<variant>/  one directory per variant, each with its MPKG file
//! <apps>/<app>/data/               the user's data ($MPKG_DATA); never removed without asking
//! <apps>/<app>/src/                material to build the app from (`magpkg app build`)
//! ```
//!
//! Entry point for running: [`run::run`]; the other front-end operations are
//! [`integrate`], [`appimage`] and [`bridge`].

use std::path::{Path, PathBuf};

use crate::error::Classify;

pub mod appimage;
pub mod bridge;
pub mod detect;
pub mod embedded;
pub mod expand;
pub mod fields;
pub mod integrate;
pub mod model;
pub mod pylit;
pub mod run;
pub mod select;
pub mod sync;
pub mod update;
pub mod zsync;

pub use model::{App, Apps, Entry, Manifest, Settings as AppSettings, Variant};

/// Why a variant was not chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub variant: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{}: {message}", location(path, *line))]
    Malformed {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{path}: invalid Jsonnet")]
    Jsonnet {
        path: PathBuf,
        #[source]
        source: Box<crate::jsonnet::JsonnetError>,
    },
    /// A file operation failed; the error (from `fs_err`, or
    /// [`crate::util::at`]) names the operation and the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("no app named `{name}` in {root}")]
    NotFound {
        name: String,
        root: PathBuf,
        suggestion: Option<String>,
    },
    #[error("`{name}` is not a valid app or entry name: {reason}")]
    BadName { name: String, reason: String },
    #[error("app `{app}` has several settings files ({}) and none is named {app}.mpkg", files.join(", "))]
    AmbiguousSettings { app: String, files: Vec<String> },
    #[error("app `{app}` has no variant `{variant}` (it has: {})", list_or_none(available))]
    UnknownVariant {
        app: String,
        variant: String,
        available: Vec<String>,
    },
    #[error("no variant of `{app}` can run {}:\n{}", entry.as_ref().map(|e| format!("entry `{e}`")).unwrap_or_else(|| "here".into()), rejected_list(rejected))]
    NoVariant {
        app: String,
        entry: Option<String>,
        rejected: Vec<Rejected>,
    },
    #[error(
        "variant `{variant}` of `{app}` has no entry `{entry}` (it has: {})",
        list_or_none(available)
    )]
    UnknownEntry {
        app: String,
        variant: String,
        entry: String,
        available: Vec<String>,
    },
    #[error(
        "app `{app}` has no run_default and variant `{variant}` has several entries ({}): say which one",
        list_or_none(entries)
    )]
    NoDefaultEntry {
        app: String,
        variant: String,
        entries: Vec<String>,
    },
    #[error("entry `{entry}` of `{app}` is of type `{kind}`, which cannot be run")]
    NotRunnable { app: String, entry: String, kind: String },
    #[error("{path}: `{field}` of entry `{entry}`: {message}")]
    BadTemplate {
        path: PathBuf,
        entry: String,
        field: &'static str,
        message: String,
    },
    #[error("{path} (the file of entry `{entry}`) does not exist")]
    MissingFile { path: PathBuf, entry: String },
    #[error("{path} is not executable")]
    NotExecutable { path: PathBuf },
    #[error("`{entry}` ({variant}) is a Windows program and wine is not installed")]
    WineMissing { variant: String, entry: String },
    #[error("the sandbox needs bubblewrap (`bwrap`), which is not installed")]
    BwrapMissing,
    #[error("cannot start {program}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an AppImage: {reason}")]
    NotAppImage { path: PathBuf, reason: String },
    #[error("cannot extract the SquashFS image of {path}: {message}")]
    Extract { path: PathBuf, message: String },
    #[error("{path} is not an AppDir: {reason}")]
    NotAppDir { path: PathBuf, reason: String },
    #[error("variant directory {path} already exists")]
    VariantExists { path: PathBuf },
    #[error("{path} exists and was not written by magpkg; not overwriting it")]
    Conflict { path: PathBuf },
    #[error("no package `{needle}` in the store")]
    NoStorePackage { needle: String },
    #[error("`{needle}` matches several store packages: {}", ids.join(", "))]
    AmbiguousStorePackage { needle: String, ids: Vec<String> },
    #[error("app `{app}` has no package definition in {dir}")]
    NoDefinition { app: String, dir: PathBuf },
    #[error("{path} defines {count} packages; `magpkg app build` needs exactly one (or one named `{app}`)")]
    SeveralDefinitions { path: PathBuf, app: String, count: usize },
    #[error("{path}: its embedded signature is invalid: {reason}")]
    BadSignature { path: PathBuf, reason: String },
    #[error("app `{app}` has no variant with update information{}", if variants.is_empty() { String::new() } else { format!(" (its variants: {})", variants.join(", ")) })]
    NoUpdateInfo { app: String, variants: Vec<String> },
    #[error("variant `{variant}` of `{app}`: cannot use the update information `{info}`: {reason}")]
    BadUpdateInfo {
        app: String,
        variant: String,
        info: String,
        reason: String,
    },
    #[error("cannot download {url}")]
    Download {
        url: String,
        #[source]
        source: crate::fetch::OriginError,
    },
    #[error("{url}: {reason}")]
    BadUpdateServer { url: String, reason: String },
    #[error("the file downloaded from {url} is not the one {zsync} announces: {what}")]
    UpdateMismatch { url: String, zsync: String, what: String },
    #[error("the update of `{app}` from {url} is {new}, but the installed variant was signed by {old}")]
    SignerChanged {
        app: String,
        url: String,
        old: String,
        new: String,
    },
    #[error("app `{app}` has no update waiting for its first run")]
    NoPendingUpdate { app: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Eval(Box<crate::eval::EvalError>),
    #[error(transparent)]
    Build(Box<crate::build::BuildError>),
}

// Boxed: these errors are large and would bloat every `Result<_, AppError>`.
impl From<crate::eval::EvalError> for AppError {
    fn from(e: crate::eval::EvalError) -> Self {
        AppError::Eval(Box::new(e))
    }
}

impl From<crate::build::BuildError> for AppError {
    fn from(e: crate::build::BuildError) -> Self {
        AppError::Build(Box::new(e))
    }
}

fn location(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn rejected_list(r: &[Rejected]) -> String {
    if r.is_empty() {
        return "  (the app has no variants in its package/ directory)".into();
    }
    r.iter()
        .map(|r| format!("  {}: {}", r.variant, r.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Classify for AppError {
    fn is_user_error(&self) -> bool {
        match self {
            AppError::Io(_) | AppError::Spawn { .. } | AppError::BwrapMissing => false,
            AppError::Store(e) => e.is_user_error(),
            AppError::Eval(e) => e.is_user_error(),
            AppError::Build(e) => e.is_user_error(),
            AppError::Jsonnet { source, .. } => source.is_user_error(),
            _ => true,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            AppError::NotFound {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            AppError::NotFound { .. } => Some("`magpkg app list` shows the installed apps".into()),
            AppError::Malformed { path, .. } if path.extension().is_some_and(|e| e == "jsonnet") => Some(
                "the Jsonnet form holds the same keys as the Python one (see doc/apps.md)".into(),
            ),
            AppError::Malformed { .. } => Some(
                "MPKG and .mpkg files hold Python literals: `key = 'text'`, lists `[...]`, dicts `{'k': 'v'}`, True/False/None"
                    .into(),
            ),
            AppError::AmbiguousSettings { app, .. } => Some(format!("rename the one to use to {app}.mpkg")),
            AppError::UnknownVariant { .. } => Some("`magpkg app show NAME` lists the variants".into()),
            AppError::NoVariant { .. } => Some(
                "edit prefered_variants/disabled_variants in the app's .mpkg, or force one with --variant".into(),
            ),
            AppError::NoDefaultEntry { app, .. } => {
                Some(format!("run `magpkg app run {app}:ENTRY`, or set run_default in {app}.mpkg"))
            }
            AppError::WineMissing { .. } => {
                Some("install wine (e.g. `apt-get install wine`) to run Windows programs".into())
            }
            AppError::BwrapMissing => {
                Some("install bubblewrap (`apt-get install bubblewrap`), or run with --no-sandbox".into())
            }
            AppError::VariantExists { .. } => {
                Some("pick another name with --variant, or remove the old directory first".into())
            }
            AppError::MissingFile { .. } => Some("check `file` in the variant's MPKG".into()),
            AppError::NotExecutable { .. } => Some(
                "make it executable (chmod +x), or give its entry a `type` such as 'script-sh' to run it through an interpreter"
                    .into(),
            ),
            AppError::Conflict { .. } => Some("rename or remove that file, then run `magpkg app integrate`".into()),
            AppError::AmbiguousStorePackage { .. } => Some("give more of the package id".into()),
            AppError::NoStorePackage { .. } => Some("`magpkg store list` lists the built packages".into()),
            AppError::NoDefinition { .. } => {
                Some("put a package definition in <app>/src/package.jsonnet (see doc/apps.md)".into())
            }
            AppError::BadSignature { .. } => Some(
                "the AppImage was changed after it was signed, or the signature is not its publisher's: get it again from the publisher; \
                 `--allow-invalid-signature` installs it anyway"
                    .into(),
            ),
            AppError::NoUpdateInfo { .. } => Some(
                "only AppImages carrying update information (`.upd_info`, e.g. `zsync|URL`), installed with `magpkg app install-appimage`, \
                 can be updated; install a newer AppImage with `magpkg app install-appimage FILE` instead"
                    .into(),
            ),
            AppError::BadUpdateInfo { .. } => Some(
                "magpkg understands `zsync|URL` and `gh-releases-zsync|OWNER|REPO|TAG|FILENAME`; install newer versions by hand with \
                 `magpkg app install-appimage FILE`"
                    .into(),
            ),
            AppError::Download { .. } | AppError::BadUpdateServer { .. } => Some(
                "check the network and the URL (it comes from the AppImage's update information; for GitHub releases, \
                 MAGPKG_GITHUB_API or config `githubApi` names the API server); nothing was installed"
                    .into(),
            ),
            AppError::UpdateMismatch { .. } => Some(
                "the server may be in the middle of a release, or the file was tampered with; nothing was installed: try again later"
                    .into(),
            ),
            AppError::SignerChanged { .. } => Some(
                "an update must be signed by the key of the installed variant; nothing was installed. If the publisher really \
                 changed keys, check the new key and install the file with `magpkg app install-appimage`"
                    .into(),
            ),
            AppError::Store(e) => e.hint(),
            AppError::Eval(e) => e.hint(),
            AppError::Build(e) => e.hint(),
            AppError::Jsonnet { .. } => None,
            _ => None,
        }
    }
}

/// App and entry names become directory names, launcher names and parts of
/// desktop file ids: no path separators, no `:` (it separates app and
/// entry on the command line), nothing hidden, nothing invisible.
pub fn validate_name(name: &str) -> Result<(), AppError> {
    let bad = |reason: &str| {
        Err(AppError::BadName {
            name: name.into(),
            reason: reason.into(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.starts_with('.') {
        return bad("it starts with `.`");
    }
    if name.starts_with('-') {
        return bad("it starts with `-`");
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | ':' | '\\') || c.is_control() || c.is_whitespace())
    {
        return bad(&format!("it contains {c:?}"));
    }
    Ok(())
}

/// Compare two version strings the way people read them: runs of digits
/// numerically, the rest as text (`2.10` > `2.9`, `v1` = `1`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn parts(s: &str) -> Vec<(bool, String)> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            if !c.is_ascii_alphanumeric() {
                out.push((false, String::new()));
                continue;
            }
            match out.last_mut() {
                Some((d, p)) if *d == digit && !p.is_empty() => p.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out.retain(|(_, p)| !p.is_empty());
        out
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (xs, ys) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys))
            }
            // A number sorts after text (1.0 > 1.0rc is handled by length below).
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.1.cmp(&y.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_naturally() {
        assert_eq!(compare_versions("2.10", "2.9"), Greater);
        assert_eq!(compare_versions("v1.0", "1.0"), Equal);
        assert_eq!(compare_versions("0.1.0", "2.3.0"), Less);
        assert_eq!(compare_versions("1.0.1", "1.0"), Greater);
        assert_eq!(compare_versions("10", "9"), Greater);
        assert_eq!(compare_versions("1.0b", "1.0a"), Greater);
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("runme").is_ok());
        assert!(validate_name("Krita-5.2").is_ok());
        for bad in ["", ".hidden", "a/b", "a:b", "a b", "-x", "..", "a\nb"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
