//! `magpkg app update`: newer versions of AppImages that carry update
//! information, installed as new variants.
//!
//! A variant installed from an AppImage records the AppImage's update
//! information (`update_info`), its SHA-1 (`appimage_sha1`) and its
//! signature in its MPKG. The update information names a zsync control
//! file, directly (`zsync|URL`) or as the asset of a GitHub release
//! (`gh-releases-zsync|OWNER|REPO|TAG|FILENAME`, asked of the API at
//! `githubApi`). Its header says which file is current (`SHA-1`, `Length`)
//! and where it is (`URL`, relative to the control file). When the SHA-1 is
//! not the installed one, the new file is made from the blocks the old
//! variant's kept AppImage shares with it ([`super::zsync`]) and HTTP range
//! requests for the rest, or else downloaded whole through the fetcher's
//! HTTP client; it is checked against the SHA-1 and the length, its signature checked (it must be signed by the installed
//! variant's key when that one was signed), and installed as a new variant
//! next to the old one. Everything happens in a scratch directory of the
//! apps root; a failure leaves nothing.
//!
//! The old variant stays until the new one has run successfully: the
//! update writes `package/.magpkg-update.json` (the new variant, the old
//! one), and the first `magpkg app run` that picks the new variant runs it
//! as a child instead of replacing itself; when it exits with status 0 the
//! old variant is removed, else both stay and a warning says how to go
//! back (`magpkg app update --rollback APP`).

use std::path::{Path, PathBuf};

use fs_err as fs;

use super::appimage::{self, InstallOptions, Installed};
use super::embedded::{self, Signature};
use super::model::{App, Apps, Variant};
use super::select::{self, Host};
use super::zsync::{self, Zsync};
use super::AppError;
use crate::fetch::http;
use crate::settings::Settings;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// Only say what would change.
    pub dry_run: bool,
}

/// What the check of one app found (and did).
#[derive(Debug, Clone)]
pub struct Checked {
    pub app: String,
    /// The variant the update starts from.
    pub variant: String,
    /// The zsync control file asked.
    pub zsync_url: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The current file is this variant's (or another variant's) AppImage.
    UpToDate { variant: String },
    /// `--dry-run`: this file would be downloaded.
    Available { file: String, url: String, size: u64 },
    /// Downloaded and installed as a new variant.
    Installed {
        file: String,
        url: String,
        transfer: Transfer,
        installed: Box<Installed>,
    },
}

/// How the new file came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes taken from the AppImage the old variant keeps.
    pub reused: u64,
    /// That variant (`None`: the whole file was downloaded).
    pub reused_from: Option<String>,
}

/// An update that waits for the new variant's first successful run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The variant the update installed.
    pub new: String,
    /// The variant it replaces once it has run successfully.
    pub old: String,
    /// Variants of earlier updates that never ran successfully before this
    /// one replaced them; removed with `old`.
    #[serde(default)]
    pub unconfirmed: Vec<String>,
}

const PENDING: &str = ".magpkg-update.json";

fn pending_path(app: &App) -> PathBuf {
    app.package_dir().join(PENDING)
}

/// The update of `app` waiting for its first successful run, if any (a
/// record whose new variant was deleted by hand is none).
pub fn pending(app: &App) -> Option<Pending> {
    let text = fs::read(pending_path(app)).ok()?;
    let p: Pending = serde_json::from_slice(&text).ok()?;
    (super::validate_name(&p.new).is_ok() && app.package_dir().join(&p.new).is_dir()).then_some(p)
}

/// The new variant ran successfully: remove the old one(s) and the record.
/// Returns the variants removed.
pub fn confirm(app: &App, p: &Pending) -> Result<Vec<String>, AppError> {
    let mut removed = Vec::new();
    for v in std::iter::once(&p.old).chain(&p.unconfirmed) {
        if *v == p.new || super::validate_name(v).is_err() {
            continue;
        }
        let dir = app.package_dir().join(v);
        if dir.symlink_metadata().is_ok() {
            crate::store::remove_tree(&dir)?;
            removed.push(v.clone());
        }
    }
    remove_record(app)?;
    Ok(removed)
}

/// Go back to the old variant: remove the new one and the record.
pub fn rollback(app: &App) -> Result<Pending, AppError> {
    let p = pending(app).ok_or_else(|| AppError::NoPendingUpdate { app: app.name.clone() })?;
    for v in std::iter::once(&p.new).chain(&p.unconfirmed) {
        if super::validate_name(v).is_err() {
            continue;
        }
        let dir = app.package_dir().join(v);
        if dir.symlink_metadata().is_ok() {
            crate::store::remove_tree(&dir)?;
        }
    }
    remove_record(app)?;
    Ok(p)
}

fn remove_record(app: &App) -> Result<(), AppError> {
    let path = pending_path(app);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The variant an update starts from: the one that runs by default when it
/// has update information, else the newest one that has.
fn updatable<'a>(app: &'a App, host: &Host) -> Result<&'a Variant, AppError> {
    if let Ok((v, _)) = select::select(app, None, None, host) {
        if v.manifest.update_info.is_some() {
            return Ok(v);
        }
    }
    app.variants
        .iter()
        .filter(|v| v.manifest.update_info.is_some())
        .max_by(|a, b| {
            super::compare_versions(
                a.manifest.version.as_deref().unwrap_or(""),
                b.manifest.version.as_deref().unwrap_or(""),
            )
        })
        .ok_or_else(|| AppError::NoUpdateInfo {
            app: app.name.clone(),
            variants: app.variants.iter().map(|v| v.name.clone()).collect(),
        })
}

/// Whether any variant of the app has update information (`magpkg app
/// update` without a name checks only those apps).
pub fn has_update_info(app: &App) -> bool {
    app.variants.iter().any(|v| v.manifest.update_info.is_some())
}

/// Check one app for an update and, unless `--dry-run`, install it.
pub fn update(
    apps: &Apps,
    app: &App,
    settings: &Settings,
    host: &Host,
    opts: &UpdateOptions,
) -> Result<Checked, AppError> {
    let from = updatable(app, host)?;
    let info = from.manifest.update_info.clone().unwrap_or_default();
    let bad_info = |reason: String| AppError::BadUpdateInfo {
        app: app.name.clone(),
        variant: from.name.clone(),
        info: info.clone(),
        reason,
    };
    if settings.offline {
        return Err(AppError::BadUpdateServer {
            url: info.clone(),
            reason: "magpkg is offline (MAGPKG_OFFLINE / config `offline`)".into(),
        });
    }
    let staging = appimage::staging_dir(apps)?;
    let zsync_url = match info.split('|').collect::<Vec<_>>().as_slice() {
        ["zsync", url] => http_url(url).map_err(bad_info)?,
        ["gh-releases-zsync", owner, repo, tag, pattern] => {
            gh_release_asset(settings, owner, repo, tag, pattern, staging.path()).map_err(|e| match e {
                Gh::Info(r) => bad_info(r),
                Gh::Err(e) => e,
            })?
        }
        [kind, ..] if kind.ends_with("-zsync") => {
            return Err(bad_info(format!("the transport `{kind}` is not supported")))
        }
        _ => return Err(bad_info("it is not of a form magpkg knows".into())),
    };
    let control = staging.path().join("control.zsync");
    download(settings, &zsync_url, &control)?;
    let text = fs::read(&control)?;
    let z = zsync::parse(&text, &zsync_url).map_err(|reason| AppError::BadUpdateServer {
        url: zsync_url.clone(),
        reason,
    })?;
    let checked = |outcome| Checked {
        app: app.name.clone(),
        variant: from.name.clone(),
        zsync_url: zsync_url.clone(),
        outcome,
    };
    if let Some(v) = app.variants.iter().find(|v| {
        v.manifest
            .appimage_sha1
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(&z.sha1))
    }) {
        return Ok(checked(Outcome::UpToDate {
            variant: v.name.clone(),
        }));
    }
    let file = z
        .filename
        .clone()
        .or_else(|| z.url.rsplit('/').next().map(String::from))
        .filter(|f| super::validate_name(f).is_ok())
        .unwrap_or_else(|| format!("{}.AppImage", app.name));
    if opts.dry_run {
        return Ok(checked(Outcome::Available {
            file,
            url: z.url.clone(),
            size: z.length,
        }));
    }
    let dl_dir = staging.path().join("download");
    fs::create_dir(&dl_dir)?;
    let dest = dl_dir.join(&file);
    // The blocks the installed AppImage already has are taken from it; the
    // whole file is downloaded when there is none or that does not work out.
    let seed = from.dir.join(appimage::KEPT_APPIMAGE);
    let mut transfer = None;
    if seed.is_file() && z.blocksize.is_some() {
        match reuse_blocks(settings, &seed, &text, &z, &dest) {
            Ok(downloaded) if appimage::sha1_file(&dest).is_ok_and(|s| s == z.sha1) => {
                transfer = Some(Transfer {
                    downloaded,
                    reused: z.length - downloaded,
                    reused_from: Some(from.name.clone()),
                })
            }
            Ok(_) => tracing::debug!(url = %z.url, "the file made from reused blocks is not the announced one"),
            Err(e) => tracing::debug!(url = %z.url, error = %e, "no block reuse"),
        }
    }
    let transfer = match transfer {
        Some(t) => t,
        None => {
            if dest.exists() {
                fs::remove_file(&dest)?;
            }
            let (size, _) = download(settings, &z.url, &dest)?;
            Transfer {
                downloaded: size,
                reused: 0,
                reused_from: None,
            }
        }
    };
    let size = fs::metadata(&dest)?.len();
    let mismatch = |what: String| AppError::UpdateMismatch {
        url: z.url.clone(),
        zsync: zsync_url.clone(),
        what,
    };
    if size != z.length {
        return Err(mismatch(format!("{size} bytes instead of {}", z.length)));
    }
    let sha1 = appimage::sha1_file(&dest)?;
    if sha1 != z.sha1 {
        return Err(mismatch(format!("SHA-1 {sha1} instead of {}", z.sha1)));
    }
    check_signer(app, from, &dest, &z.url)?;
    let mut iopts = InstallOptions {
        name: Some(app.name.clone()),
        variant: None,
        integrate: false,
        allow_invalid_signature: false,
    };
    let installed = match appimage::install_appimage_as(apps, &dest, Some(&file), &iopts) {
        // The same version published again as another file.
        Err(AppError::VariantExists { path }) => {
            let base = path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            iopts.variant = Some(format!("{base}-{}", &sha1[..8]));
            appimage::install_appimage_as(apps, &dest, Some(&file), &iopts)?
        }
        r => r?,
    };
    drop(staging);
    // The old variant stays until the new one has run once successfully.
    let earlier = pending(app);
    let record = match earlier {
        Some(p) if p.new == from.name => Pending {
            new: installed.variant.clone(),
            old: p.old,
            unconfirmed: p.unconfirmed.into_iter().chain([p.new]).collect(),
        },
        _ => Pending {
            new: installed.variant.clone(),
            old: from.name.clone(),
            unconfirmed: Vec::new(),
        },
    };
    let path = pending_path(app);
    let json = serde_json::to_vec_pretty(&record).expect("a record serializes");
    crate::util::write_atomic(&path, &json)?;
    Ok(checked(Outcome::Installed {
        file,
        url: z.url.clone(),
        transfer,
        installed: Box::new(installed),
    }))
}

/// Make the new file at `dest` from the blocks of `seed` it shares and
/// HTTP range requests for the rest. Returns the bytes downloaded.
fn reuse_blocks(settings: &Settings, seed: &Path, control: &[u8], z: &Zsync, dest: &Path) -> Result<u64, String> {
    use std::io::{Seek, SeekFrom, Write};
    let old = fs::read(seed).map_err(|e| e.to_string())?;
    let blocks = zsync::find_blocks(&old, control, z)?;
    let bs = z.blocksize.ok_or("no block size")? as u64;
    // fs_err's file names `dest` in its errors.
    let mut f = fs::File::create(dest).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| e.to_string();
    f.set_len(z.length).map_err(io)?;
    for (i, b) in blocks.iter().enumerate() {
        let Some(off) = *b else { continue };
        let (s, e) = (i as u64 * bs, ((i as u64 + 1) * bs).min(z.length));
        // A match may run into the zeros zsync pads the last block with.
        let mut block = old
            .get(off..)
            .unwrap_or_default()
            .iter()
            .take((e - s) as usize)
            .copied()
            .collect::<Vec<_>>();
        block.resize((e - s) as usize, 0);
        f.seek(SeekFrom::Start(s)).map_err(io)?;
        f.write_all(&block).map_err(io)?;
    }
    // Few requests: gaps of up to 16 KiB between missing parts are fetched too.
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for r in zsync::missing_ranges(&blocks, z) {
        match ranges.last_mut() {
            Some(last) if r.0 - last.1 <= 16 << 10 => last.1 = r.1,
            _ => ranges.push(r),
        }
    }
    let downloaded = fetch_ranges(settings, &z.url, &ranges, &mut f)?;
    f.sync_all().map_err(io)?;
    Ok(downloaded)
}

/// Fetch byte ranges of `url` into `f` at their offsets, with the timeouts
/// of downloads. A server that does not answer a range with 206 and the
/// range asked for is an error (the caller then downloads the whole file).
fn fetch_ranges(settings: &Settings, url: &str, ranges: &[(u64, u64)], f: &mut fs::File) -> Result<u64, String> {
    use std::io::{Seek, SeekFrom, Write};
    if ranges.is_empty() {
        return Ok(0);
    }
    let limits = limits(settings);
    let client = http::client(&limits)?;
    let run = async {
        let mut total = 0u64;
        for &(s, e) in ranges {
            let want = format!("bytes {s}-{}/", e - 1);
            let req = client
                .get(url)
                .header(reqwest::header::RANGE, format!("bytes={s}-{}", e - 1));
            let mut resp = tokio::time::timeout(limits.timeout, req.send())
                .await
                .map_err(|_| format!("no answer within {}s", limits.timeout.as_secs()))?
                .map_err(|e| e.to_string())?;
            let range = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if resp.status() != reqwest::StatusCode::PARTIAL_CONTENT || !range.starts_with(&want) {
                return Err(format!(
                    "HTTP {} (Content-Range `{range}`) to a request for {want}",
                    resp.status()
                ));
            }
            f.seek(SeekFrom::Start(s)).map_err(|e| e.to_string())?;
            let mut got = 0u64;
            loop {
                match tokio::time::timeout(limits.stall, resp.chunk()).await {
                    Err(_) => return Err(format!("no progress for {}s", limits.stall.as_secs())),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(c))) => {
                        got += c.len() as u64;
                        if got > e - s {
                            return Err(format!("more than the {} bytes of {want}", e - s));
                        }
                        f.write_all(&c).map_err(|e| e.to_string())?;
                    }
                }
            }
            if got != e - s {
                return Err(format!("{got} bytes for {want}"));
            }
            total += got;
        }
        Ok(total)
    };
    crate::fetch::block_on(run).map_err(|e| e.to_string())?
}

fn limits(settings: &Settings) -> http::HttpLimits {
    http::HttpLimits {
        timeout: settings.http_timeout,
        stall: settings.stall_timeout,
        retries: settings.retries,
        max_size: settings.max_download_size,
        min_rate: settings.min_rate,
    }
}

/// An update of a signed variant must be signed by the same key.
fn check_signer(app: &App, from: &Variant, file: &Path, url: &str) -> Result<(), AppError> {
    let Some(Signature::Valid { fingerprint: old, .. }) = from.manifest.signature.as_deref().map(Signature::parse)
    else {
        return Ok(());
    };
    let new = embedded::verify(file).map_err(|reason| AppError::NotAppImage {
        path: file.into(),
        reason,
    })?;
    match &new {
        Signature::Valid { fingerprint, .. } if *fingerprint == old => Ok(()),
        // install_appimage says this one itself.
        Signature::Invalid { reason } => Err(AppError::BadSignature {
            path: file.into(),
            reason: reason.clone(),
        }),
        other => Err(AppError::SignerChanged {
            app: app.name.clone(),
            url: url.into(),
            old,
            new: other.describe(),
        }),
    }
}

/// An `http://` or `https://` URL, as given.
fn http_url(u: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(u.trim()).map_err(|e| format!("`{u}` is not a URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed.to_string()),
        s => Err(format!("the URL scheme `{s}` is not supported (only http and https)")),
    }
}

/// Download `url` into `dest` with the fetcher's HTTP client and limits.
fn download(settings: &Settings, url: &str, dest: &Path) -> Result<(u64, String), AppError> {
    let limits = limits(settings);
    let server = |reason: String| AppError::BadUpdateServer {
        url: url.into(),
        reason,
    };
    let client = http::client(&limits).map_err(server)?;
    let pb = indicatif::ProgressBar::hidden();
    crate::fetch::block_on(http::download(&client, url, dest, &limits, &pb))
        .map_err(|e| server(e.to_string()))?
        .map_err(|source| AppError::Download {
            url: url.into(),
            source,
        })
}

enum Gh {
    /// The update information itself is wrong.
    Info(String),
    Err(AppError),
}

/// The URL of the zsync asset of a GitHub release: `TAG` is a tag name,
/// `latest` (the latest release), `latest-pre` (the newest pre-release) or
/// `latest-all` (the newest release of any kind); `PATTERN` is the asset's
/// file name, `*` and `?` as wildcards.
fn gh_release_asset(
    settings: &Settings,
    owner: &str,
    repo: &str,
    tag: &str,
    pattern: &str,
    scratch: &Path,
) -> Result<String, Gh> {
    let plain = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if !plain(owner) || !plain(repo) {
        return Err(Gh::Info(format!("`{owner}/{repo}` is not a GitHub repository name")));
    }
    let api = settings.github_api.trim_end_matches('/');
    let url = match tag {
        "latest" => format!("{api}/repos/{owner}/{repo}/releases/latest"),
        "latest-pre" | "latest-all" => format!("{api}/repos/{owner}/{repo}/releases"),
        t => {
            let t: String = url_escape(t);
            format!("{api}/repos/{owner}/{repo}/releases/tags/{t}")
        }
    };
    let dest = scratch.join("release.json");
    download(settings, &url, &dest).map_err(Gh::Err)?;
    let server = |reason: String| {
        Gh::Err(AppError::BadUpdateServer {
            url: url.clone(),
            reason,
        })
    };
    let text = fs::read(&dest).map_err(|e| server(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| server(format!("not JSON: {e}")))?;
    let release = match tag {
        "latest-pre" => v
            .as_array()
            .and_then(|a| a.iter().find(|r| r["prerelease"] == true))
            .cloned(),
        "latest-all" => v.as_array().and_then(|a| a.first()).cloned(),
        _ => Some(v),
    }
    .ok_or_else(|| server("no such release".into()))?;
    let assets = release["assets"]
        .as_array()
        .ok_or_else(|| server("the release has no `assets` list".into()))?;
    let names: Vec<&str> = assets.iter().filter_map(|a| a["name"].as_str()).collect();
    assets
        .iter()
        .find(|a| a["name"].as_str().is_some_and(|n| glob(pattern, n)))
        .and_then(|a| a["browser_download_url"].as_str())
        .map(String::from)
        .ok_or_else(|| {
            server(format!(
                "release `{}` has no asset matching `{pattern}` (it has: {})",
                release["tag_name"].as_str().unwrap_or("?"),
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        })
        .and_then(|u| http_url(&u).map_err(server))
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Shell-style matching with `*` (any run) and `?` (one character).
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_patterns() {
        assert!(glob("App-*-x86_64.AppImage.zsync", "App-1.2-x86_64.AppImage.zsync"));
        assert!(!glob("App-*-x86_64.AppImage.zsync", "App-1.2-aarch64.AppImage.zsync"));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("*", "") && glob("**x", "yx"));
    }
}
