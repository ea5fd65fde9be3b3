//! Installing AppImages and AppDirs as new variants.
//!
//! An AppImage (type 2) is an ELF runtime followed by a SquashFS image; the
//! image starts where the ELF ends, after its section header table. magpkg
//! reads that offset from the ELF header and extracts the image itself
//! (with the `backhand` crate, falling back to `unsquashfs -o`), so the
//! AppImage is never executed. The result is an AppDir, run through its
//! `AppRun`.

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use fs_err::os::unix::fs::OpenOptionsExt;
use fs_err::{self as fs, File};

use super::detect::{self, ElfHeader};
use super::embedded::{self, Signature};
use super::integrate::parse_desktop;
use super::model::{self, Apps, Entry};
use super::AppError;

/// What to install as.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// App name (default: from the AppDir's desktop file or the file name).
    pub name: Option<String>,
    /// Variant directory name (default: `<name>-<version>-<arch>`).
    pub variant: Option<String>,
    /// Whether a new app's settings ask for a launcher and a menu entry.
    pub integrate: bool,
    /// Install an AppImage whose embedded signature is invalid (with a
    /// warning) instead of refusing it.
    pub allow_invalid_signature: bool,
}

/// What was installed.
#[derive(Debug, Clone)]
pub struct Installed {
    pub app: String,
    pub variant: String,
    pub dir: PathBuf,
    pub warnings: Vec<String>,
    /// The AppImage's embedded signature (`None` for an AppDir).
    pub signature: Option<Signature>,
}

/// The offset of the SquashFS image of an AppImage, checked.
pub fn payload_offset(path: &Path) -> Result<u64, AppError> {
    let not = |reason: &str| AppError::NotAppImage {
        path: path.into(),
        reason: reason.into(),
    };
    let mut f = File::open(path)?;
    let mut head = [0u8; 64];
    let n = f.read(&mut head)?;
    let h = ElfHeader::parse(&head[..n]).ok_or_else(|| not("it is not an ELF file"))?;
    match (&head[8..10], head[10]) {
        (b"AI", 2) => {}
        (b"AI", 1) => return Err(not("it is a type 1 AppImage (ISO 9660), which magpkg cannot extract")),
        _ => return Err(not("it has no AppImage magic bytes (`AI\\x02` at offset 8)")),
    }
    let off = h.end_of_section_headers();
    let len = f.metadata()?.len();
    if off == 0 || off + 4 > len {
        return Err(not("its ELF header points past the end of the file"));
    }
    let mut magic = [0u8; 4];
    f.seek(SeekFrom::Start(off))?;
    f.read_exact(&mut magic)?;
    if &magic != b"hsqs" {
        return Err(not(&format!(
            "no SquashFS image at offset {off} (end of the ELF runtime)"
        )));
    }
    Ok(off)
}

/// Extract the SquashFS image at `offset` of `file` into `dest` (which must
/// not exist). Nothing from the image can land outside `dest`: names are
/// checked, parents must be real directories, files are created with
/// O_NOFOLLOW | O_EXCL, devices, fifos and sockets are skipped, set-id bits
/// dropped. Only an image backhand cannot decompress (LZO) goes to
/// `unsquashfs`, under the same rules ([`extract_with_unsquashfs`]); an
/// image refused for what it holds is refused.
pub fn extract(file: &Path, offset: u64, dest: &Path) -> Result<Vec<String>, AppError> {
    let first = match extract_with_backhand(file, offset, dest) {
        Ok(w) => return Ok(w),
        Err(Native::Refused(message)) => {
            return Err(AppError::Extract {
                path: file.into(),
                message,
            })
        }
        Err(Native::Unsupported(m)) => m,
    };
    let Ok(unsquashfs) = which::which("unsquashfs") else {
        return Err(AppError::Extract {
            path: file.into(),
            message: format!("{first} (and `unsquashfs` from squashfs-tools is not installed to try instead)"),
        });
    };
    if dest.exists() {
        crate::store::remove_tree(dest)?;
    }
    let mut warnings = extract_with_unsquashfs(&unsquashfs, file, offset, dest).map_err(|message| {
        let _ = crate::store::remove_tree(dest);
        AppError::Extract {
            path: file.into(),
            message: format!("{first}; with unsquashfs: {message}"),
        }
    })?;
    warnings.insert(0, format!("extracted with unsquashfs ({first})"));
    Ok(warnings)
}

/// Why the native extractor failed.
enum Native {
    /// The image uses what backhand cannot decompress: unsquashfs may.
    Unsupported(String),
    /// Anything else: a damaged image, or one refused for what it holds.
    Refused(String),
}

fn extract_with_backhand(file: &Path, offset: u64, dest: &Path) -> Result<Vec<String>, Native> {
    use backhand::{BackhandError, FilesystemReader, InnerNode};
    let refused = |e: String| Native::Refused(e);
    let f = File::open(file).map_err(|e| refused(e.to_string()))?;
    let fs_ = FilesystemReader::from_reader_with_offset(BufReader::new(f), offset).map_err(|e| match e {
        BackhandError::UnsupportedCompression(_) => Native::Unsupported(e.to_string()),
        e => refused(e.to_string()),
    })?;
    let mut warnings = Vec::new();
    fs::create_dir(dest).map_err(|e| refused(e.to_string()))?;
    let mut dirs: Vec<(PathBuf, u32)> = Vec::new();
    for node in fs_.files() {
        let mut rel = PathBuf::new();
        for c in node.fullpath.components() {
            match c {
                Component::RootDir => {}
                Component::Normal(n) => rel.push(n),
                _ => return Err(refused(format!("unsafe path {} in the image", node.fullpath.display()))),
            }
        }
        let mode = (node.header.permissions as u32) & 0o777;
        if rel.as_os_str().is_empty() {
            dirs.push((dest.to_path_buf(), mode));
            continue;
        }
        let target = dest.join(&rel);
        check_parents(dest, &rel).map_err(refused)?;
        match &node.inner {
            InnerNode::Dir(_) => {
                fs::create_dir(&target).map_err(|e| refused(e.to_string()))?;
                dirs.push((target, mode));
            }
            InnerNode::File(fr) => {
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|e| refused(e.to_string()))?;
                let mut r = fs_.file(fr).reader();
                std::io::copy(&mut r, &mut out).map_err(|e| {
                    let m = format!("{}: {e}", rel.display());
                    if e.kind() == std::io::ErrorKind::Unsupported {
                        Native::Unsupported(m)
                    } else {
                        refused(m)
                    }
                })?;
                out.flush().map_err(|e| refused(e.to_string()))?;
                fs::set_permissions(&target, Permissions::from_mode(mode | 0o600))
                    .map_err(|e| refused(e.to_string()))?;
            }
            InnerNode::Symlink(l) => {
                fs::os::unix::fs::symlink(&l.link, &target).map_err(|e| refused(e.to_string()))?;
            }
            _ => warnings.push(skipped(&rel)),
        }
    }
    // Directory modes last, so read-only directories could be filled.
    for (d, mode) in dirs.into_iter().rev() {
        fs::set_permissions(&d, Permissions::from_mode(mode | 0o700)).map_err(|e| refused(e.to_string()))?;
    }
    Ok(warnings)
}

/// Every parent of `dest/rel` must be a real directory inside `dest` (not a
/// symlink an earlier entry planted).
fn check_parents(dest: &Path, rel: &Path) -> Result<(), String> {
    let mut cur = dest.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        let m = fs::symlink_metadata(&cur).map_err(|e| e.to_string())?;
        if !m.is_dir() {
            return Err(format!("{} is not a directory in the image", cur.display()));
        }
    }
    Ok(())
}

fn skipped(rel: &Path) -> String {
    format!("skipped special file /{} (device, fifo or socket)", rel.display())
}

/// Extract with `unsquashfs` under the native extractor's rules. Its own
/// inode list (`-pf`) says what the image holds; devices, fifos and sockets
/// (and hard links to them) are excluded by name, so they are never
/// created; an image whose list cannot be read that way is refused. The
/// result is then checked again: only files, directories and symlinks, no
/// set-id bits, everything owned by us. unsquashfs (4.5 and later) itself
/// refuses names with `/` or `..` and writes only below `dest`, and a
/// squashfs image is a tree, so no entry can be written through a symlink.
fn extract_with_unsquashfs(unsquashfs: &Path, file: &Path, offset: u64, dest: &Path) -> Result<Vec<String>, String> {
    let scratch = tempfile::Builder::new()
        .prefix(".magpkg-unsquashfs-")
        .tempdir_in(dest.parent().unwrap_or(Path::new(".")))
        .map_err(|e| e.to_string())?;
    let run = |args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let out = std::process::Command::new(unsquashfs)
            .args(["-no-progress", "-no-xattrs", "-o", &offset.to_string()])
            .args(args)
            .arg(file)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", unsquashfs.display()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!("it failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    };
    let list = scratch.path().join("inodes");
    run(&["-pf".as_ref(), list.as_os_str()])?;
    let text = fs::read(&list).map_err(|e| e.to_string())?;
    let special = special_inodes(&String::from_utf8_lossy(&text))?;
    let mut excluded = String::new();
    for name in &special {
        if name.contains('\n') {
            return Err(format!(
                "the image holds a special file whose name has a line break ({name:?})"
            ));
        }
        excluded.push_str(name);
        excluded.push('\n');
    }
    let exclude = scratch.path().join("exclude");
    fs::write(&exclude, excluded).map_err(|e| e.to_string())?;
    run(&[
        "-no-wildcards".as_ref(),
        "-exclude-file".as_ref(),
        exclude.as_os_str(),
        "-d".as_ref(),
        dest.as_os_str(),
    ])?;
    sanitize(dest)?;
    Ok(special.iter().map(|n| skipped(Path::new(n))).collect())
}

/// The names of the devices, fifos and sockets (and hard links to them) in
/// unsquashfs's pseudo-file list of an image (`name TYPE ...` a line,
/// spaces and backslashes in names escaped with a backslash).
fn special_inodes(list: &str) -> Result<Vec<String>, String> {
    let mut kinds: BTreeMap<String, char> = BTreeMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    for line in list.lines() {
        if line.starts_with('#') {
            if line.contains("START OF DATA") {
                break;
            }
            continue;
        }
        let (name, rest) = unescape_name(line);
        let mut fields = rest.split_whitespace();
        let kind = fields.next().and_then(|k| k.chars().next());
        match kind {
            Some('L' | 'l') => links.push((name, unescape_name(fields.collect::<Vec<_>>().join(" ").as_str()).0)),
            Some(k) => {
                kinds.insert(name, k);
            }
            None => return Err(format!("unsquashfs lists an inode it does not describe: {line:?}")),
        }
    }
    let is_special = |k: char| !matches!(k, 'D' | 'd' | 'R' | 'S' | 's' | 'F' | 'f');
    let mut special: Vec<String> = kinds
        .iter()
        .filter(|(_, k)| is_special(**k))
        .map(|(n, _)| n.clone())
        .collect();
    for (name, target) in links {
        if kinds.get(&target).is_none_or(|k| is_special(*k)) {
            special.push(name);
        }
    }
    special.sort();
    Ok(special)
}

/// The first field of a pseudo-file line, unescaped, and the rest.
fn unescape_name(line: &str) -> (String, &str) {
    let mut name = String::new();
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    name.push(n);
                }
            }
            ' ' => return (name, &line[i + 1..]),
            c => name.push(c),
        }
    }
    (name, "")
}

/// What unsquashfs wrote, held to the native extractor's result: anything
/// but files, directories and symlinks is an error (it was excluded, so it
/// should not be there), set-id and sticky bits go, files and directories
/// are ours and usable by us.
fn sanitize(root: &Path) -> Result<(), String> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    for ent in walkdir::WalkDir::new(root).follow_links(false) {
        let ent = ent.map_err(|e| e.to_string())?;
        let ft = ent.file_type();
        let m = ent.metadata().map_err(|e| e.to_string())?;
        if !(ft.is_dir() || ft.is_file() || ft.is_symlink()) {
            return Err(format!(
                "it created the special file {}, which was excluded",
                ent.path().display()
            ));
        }
        if std::os::unix::fs::MetadataExt::uid(&m) != uid.as_raw()
            || std::os::unix::fs::MetadataExt::gid(&m) != gid.as_raw()
        {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                ent.path(),
                Some(uid),
                Some(gid),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| crate::util::at("change the owner of", ent.path(), e.into()).to_string())?;
        }
        if !ft.is_symlink() {
            let keep = if ft.is_dir() { 0o700 } else { 0o600 };
            let mode = (m.permissions().mode() & 0o777) | keep;
            fs::set_permissions(ent.path(), Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// A name fit for an app directory: lowercase, `[a-z0-9._-]`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(['-', '.']).to_string()
}

/// `Foo-1.2.3-x86_64.AppImage` → (`foo`, `1.2.3`).
fn name_version_from_filename(file: &Path) -> (String, Option<String>) {
    let stem = file
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = stem
        .strip_suffix(".AppImage")
        .or_else(|| stem.strip_suffix(".appimage"))
        .unwrap_or(&stem)
        .to_string();
    let parts: Vec<&str> = stem.split(['-', '_']).collect();
    let vpos = parts.iter().position(|p| {
        let p = p.trim_start_matches(['v', 'V']);
        p.chars().next().is_some_and(|c| c.is_ascii_digit())
    });
    match vpos {
        Some(0) | None => (slug(&stem), None),
        Some(i) => (
            slug(&parts[..i].join("-")),
            Some(parts[i].trim_start_matches(['v', 'V']).to_string()),
        ),
    }
}

/// Install an AppImage as a new variant of an app.
pub fn install_appimage(apps: &Apps, file: &Path, opts: &InstallOptions) -> Result<Installed, AppError> {
    install_appimage_as(apps, file, None, opts)
}

/// [`install_appimage`], with the file name the AppImage is published
/// under when `file` is a download with another name.
pub fn install_appimage_as(
    apps: &Apps,
    file: &Path,
    published: Option<&str>,
    opts: &InstallOptions,
) -> Result<Installed, AppError> {
    let offset = payload_offset(file)?;
    let signature = embedded::verify(file).map_err(|reason| AppError::NotAppImage {
        path: file.into(),
        reason: format!("its ELF sections cannot be read: {reason}"),
    })?;
    let mut sig_warnings = Vec::new();
    match &signature {
        Signature::Invalid { reason } if !opts.allow_invalid_signature => {
            return Err(AppError::BadSignature {
                path: file.into(),
                reason: reason.clone(),
            })
        }
        Signature::Invalid { reason } => sig_warnings.push(format!(
            "{}: its embedded signature is INVALID ({reason}); installed anyway (--allow-invalid-signature)",
            file.display()
        )),
        Signature::Unchecked { reason } => sig_warnings.push(format!(
            "{}: its embedded signature was not checked: {reason}",
            file.display()
        )),
        Signature::Unsigned | Signature::Valid { .. } => {}
    }
    let update_info = embedded::update_info(file).ok().flatten();
    let arch = detect::detect(file).arch.unwrap_or_else(|| "any".into());
    let staging = staging_dir(apps)?;
    let tree = staging.path().join("tree");
    let mut warnings = extract(file, offset, &tree)?;
    if !tree.join("AppRun").exists() {
        return Err(AppError::NotAppImage {
            path: file.into(),
            reason: "its image has no AppRun at the top".into(),
        });
    }
    if update_info.is_some() {
        keep_appimage(file, &tree)?;
    }
    let sha = crate::util::sha256_file(file)?;
    let sha1 = sha1_file(file)?;
    let fname = published.map(String::from).unwrap_or_else(|| {
        file.file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    let origin = format!("appimage {fname} sha256:{sha}");
    let (fname, fversion) = name_version_from_filename(Path::new(&fname));
    let mut keys = vec![("appimage_sha1", sha1)];
    if let Some(u) = update_info {
        keys.push(("update_info", u));
    }
    keys.push(("signature", signature.record()));
    warnings.extend(sig_warnings);
    let installed = finish_install(
        apps,
        staging,
        &tree,
        opts,
        &arch,
        fname,
        fversion,
        &origin,
        &keys,
        &mut warnings,
    )?;
    Ok(Installed {
        warnings,
        signature: Some(signature),
        ..installed
    })
}

/// The copy of the AppImage an updatable variant keeps, so that an update
/// can take the blocks that did not change from it ([`super::zsync`]).
pub const KEPT_APPIMAGE: &str = ".magpkg-source.AppImage";

/// Copy the AppImage into the extracted tree as [`KEPT_APPIMAGE`]; whatever
/// the image put under that name is replaced, never written through.
fn keep_appimage(file: &Path, tree: &Path) -> Result<(), AppError> {
    let dest = tree.join(KEPT_APPIMAGE);
    if dest.symlink_metadata().is_ok() {
        crate::store::remove_tree(&dest)?;
    }
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&dest)?;
    let mut input = File::open(file)?;
    std::io::copy(&mut input, &mut out)?;
    Ok(())
}

/// The lowercase hex SHA-1 of a file (what zsync control files name).
pub fn sha1_file(path: &Path) -> std::io::Result<String> {
    use sha1::Digest as _;
    let mut f = File::open(path)?;
    let mut h = sha1::Sha1::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Install an AppDir (a directory with `AppRun`) as a new variant; the
/// directory is copied, not moved.
pub fn install_appdir(apps: &Apps, dir: &Path, opts: &InstallOptions) -> Result<Installed, AppError> {
    let apprun = dir.join("AppRun");
    let m = fs::metadata(&apprun).map_err(|_| AppError::NotAppDir {
        path: dir.into(),
        reason: "it has no AppRun".into(),
    })?;
    if !m.is_file() || m.permissions().mode() & 0o111 == 0 {
        return Err(AppError::NotAppDir {
            path: dir.into(),
            reason: "its AppRun is not an executable file".into(),
        });
    }
    let arch = appdir_arch(dir, &apprun);
    let staging = staging_dir(apps)?;
    let tree = staging.path().join("tree");
    copy_tree(dir, &tree)?;
    let dname = dir
        .file_name()
        .map(|s| s.to_string_lossy().trim_end_matches(".AppDir").to_string())
        .unwrap_or_default();
    let origin = format!("appdir {}", dir.display());
    let mut warnings = Vec::new();
    let installed = finish_install(
        apps,
        staging,
        &tree,
        opts,
        &arch,
        slug(&dname),
        None,
        &origin,
        &[],
        &mut warnings,
    )?;
    Ok(Installed { warnings, ..installed })
}

/// The architecture of an AppDir: its `AppRun`'s when that is an ELF
/// program; for a script `AppRun`, that of the first ELF program in
/// `usr/bin` (else anywhere in the tree, in name order); `any` when it
/// holds none (a script-only app).
fn appdir_arch(dir: &Path, apprun: &Path) -> String {
    let of = |p: &Path| detect::detect(&fs::canonicalize(p).unwrap_or(p.to_path_buf())).arch;
    if let Some(a) = of(apprun) {
        return a;
    }
    for sub in [dir.join("usr/bin"), dir.to_path_buf()] {
        let found = walkdir::WalkDir::new(&sub)
            .follow_links(false)
            .sort_by_file_name()
            .max_depth(16)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .find_map(|e| {
                let d = detect::detect(e.path());
                (d.kind.as_deref() == Some("binary")).then_some(d.arch).flatten()
            });
        if let Some(a) = found {
            return a;
        }
    }
    "any".into()
}

/// Scratch space inside the apps root, so the final rename stays on one
/// file system and a failed install leaves nothing behind.
pub(crate) fn staging_dir(apps: &Apps) -> Result<tempfile::TempDir, AppError> {
    fs::create_dir_all(&apps.root)?;
    // tempfile's errors name the directory it tried to create.
    Ok(tempfile::Builder::new().prefix(".magpkg-tmp-").tempdir_in(&apps.root)?)
}

/// Copy a directory tree: files, directories and symlinks (kept as links),
/// modes without set-id bits. Special files are refused.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), AppError> {
    for ent in walkdir::WalkDir::new(from).follow_links(false) {
        // walkdir's errors name the path they were about.
        let ent = ent.map_err(std::io::Error::from)?;
        let rel = ent.path().strip_prefix(from).expect("walkdir stays below its root");
        let dest = to.join(rel);
        let ft = ent.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dest)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(ent.path())?;
            fs::os::unix::fs::symlink(&target, &dest)?;
        } else if ft.is_file() {
            fs::copy(ent.path(), &dest)?;
        } else {
            return Err(AppError::NotAppDir {
                path: ent.path().into(),
                reason: "it is a device, fifo or socket".into(),
            });
        }
        if !ft.is_symlink() {
            let mode = ent.metadata().map(|m| m.permissions().mode()).unwrap_or(0o755) & 0o777;
            let mode = if ft.is_dir() { mode | 0o700 } else { mode | 0o600 };
            fs::set_permissions(&dest, Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Name the variant, write its MPKG and the app's settings (if it has
/// none), copy the icon, rename the tree into place.
#[allow(clippy::too_many_arguments)]
fn finish_install(
    apps: &Apps,
    staging: tempfile::TempDir,
    tree: &Path,
    opts: &InstallOptions,
    arch: &str,
    fallback_name: String,
    fallback_version: Option<String>,
    origin: &str,
    keys: &[(&str, String)],
    warnings: &mut Vec<String>,
) -> Result<Installed, AppError> {
    let desktop = find_desktop(tree);
    let get = |k: &str| desktop.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => {
            let from_desktop = get("Name").map(|n| slug(&n)).filter(|n| !n.is_empty());
            from_desktop.unwrap_or(fallback_name)
        }
    };
    super::validate_name(&name)?;
    let version = get("X-AppImage-Version")
        .or(fallback_version)
        .unwrap_or_else(|| "0".into());
    let variant = opts
        .variant
        .clone()
        .unwrap_or_else(|| format!("{name}-{}-{arch}", slug(&version)));
    super::validate_name(&variant)?;
    let app_dir = apps.dir(&name);
    let pkg = app_dir.join("package");
    let dest = pkg.join(&variant);
    if dest.symlink_metadata().is_ok() {
        return Err(AppError::VariantExists { path: dest });
    }
    let entry = Entry {
        name: name.clone(),
        file: "$MPKG_PACKAGE/AppRun".into(),
        args: Some("$MPKG_ARGS".into()),
        kind: Some("binary".into()),
        os: Some("linux".into()),
        architecture: Some(arch.into()),
        line: None,
        extra: Vec::new(),
    };
    let mpkg = model::render_manifest_with(&version, false, Some(origin), keys, &[entry]);
    fs::write(tree.join("MPKG"), mpkg)?;
    make_files_read_only(tree)?;
    fs::create_dir_all(&pkg)?;
    fs::create_dir_all(app_dir.join("data"))?;
    fs::rename(tree, &dest)?;
    drop(staging);

    // Human-managed files are written only when missing.
    if model::settings_path(&name, &app_dir)?.is_none() {
        let path = app_dir.join(format!("{name}.mpkg"));
        let mut text = format!(
            "# Settings of {name} (see doc/apps.md). Edit freely.\nrun_default = {q}\n",
            q = model::py_str(&name)
        );
        if opts.integrate {
            text.push_str(&format!(
                "add_to_path = {q}\nadd_to_apps = {q}\n",
                q = model::py_str(&name)
            ));
        }
        crate::util::write_atomic(&path, text.as_bytes())?;
    } else {
        warnings.push(format!(
            "kept the existing settings of `{name}`; the new variant is `{variant}`"
        ));
    }
    copy_icon(&app_dir, &dest, get("Icon").as_deref())?;
    Ok(Installed {
        app: name,
        variant,
        dir: dest,
        warnings: Vec::new(),
        signature: None,
    })
}

fn find_desktop(tree: &Path) -> Vec<(String, String)> {
    let Ok(rd) = fs::read_dir(tree) else { return Vec::new() };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "desktop"))
        .collect();
    files.sort();
    files
        .first()
        .and_then(|f| fs::read_to_string(f).ok())
        .map(|t| parse_desktop(&t))
        .unwrap_or_default()
}

/// Give the app a stable icon (`<app>/icon.<ext>`) from its first AppDir,
/// so menu entries keep it when variants come and go.
fn copy_icon(app_dir: &Path, vdir: &Path, icon: Option<&str>) -> Result<(), AppError> {
    if ["svg", "png", "xpm"]
        .iter()
        .any(|e| app_dir.join(format!("icon.{e}")).exists())
    {
        return Ok(());
    }
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(i) = icon {
        for e in ["svg", "png", "xpm"] {
            cands.push(vdir.join(format!("{i}.{e}")));
        }
    }
    cands.push(vdir.join(".DirIcon"));
    for c in cands {
        // Resolve links but stay inside the variant.
        let Ok(real) = fs::canonicalize(&c) else { continue };
        let Ok(vreal) = fs::canonicalize(vdir) else { continue };
        if !real.starts_with(&vreal) || !real.is_file() {
            continue;
        }
        let ext = icon_ext(&real);
        let dest = app_dir.join(format!("icon.{ext}"));
        fs::copy(&real, &dest)?;
        fs::set_permissions(&dest, Permissions::from_mode(0o644))?;
        return Ok(());
    }
    Ok(())
}

fn icon_ext(p: &Path) -> &'static str {
    let mut head = [0u8; 8];
    let n = File::open(p).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    if head[..n].starts_with(b"\x89PNG") {
        "png"
    } else if head[..n].starts_with(b"/* XPM") {
        "xpm"
    } else {
        "svg"
    }
}

/// Installed variants are not meant to change: drop write permission on
/// files (directories stay writable so a file manager can still delete them).
pub fn make_files_read_only(root: &Path) -> Result<(), AppError> {
    for ent in walkdir::WalkDir::new(root) {
        let ent = ent.map_err(std::io::Error::from)?;
        if !ent.file_type().is_file() {
            continue;
        }
        let m = ent.metadata().map_err(std::io::Error::from)?;
        let mode = m.permissions().mode() & 0o555;
        fs::set_permissions(ent.path(), Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(
            name_version_from_filename(Path::new("/x/Krita-5.2.0-x86_64.AppImage")),
            ("krita".into(), Some("5.2.0".into()))
        );
        assert_eq!(
            name_version_from_filename(Path::new("My_Tool-v1.0.AppImage")),
            ("my-tool".into(), Some("1.0".into()))
        );
        assert_eq!(
            name_version_from_filename(Path::new("tool.AppImage")),
            ("tool".into(), None)
        );
        assert_eq!(slug("Hello World!"), "hello-world");
    }

    #[test]
    fn special_inodes_of_an_unsquashfs_list() {
        let list = "/ D 1 755 0 0\nbin D 1 755 0 0\na\\ b\\\\c R 1 644 0 0 2 0\nnull C 1 666 0 0 1 3\n\
                    we\\ ird I 1 666 0 0 f\nsame L a\\ b\\\\c\nnull2 L null\nln S 1 777 0 0 /etc\n#\n\
                    # START OF DATA - DO NOT MODIFY\nx I 1 1 1 1\n";
        assert_eq!(special_inodes(list).unwrap(), ["null", "null2", "we ird"]);
        assert_eq!(unescape_name("a\\ b\\\\c R 1"), ("a b\\c".to_string(), "R 1"));
        assert!(special_inodes("lonely\n").is_err());
    }

    #[test]
    fn not_an_appimage() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x");
        fs::write(&p, b"#!/bin/sh\n").unwrap();
        assert!(matches!(payload_offset(&p), Err(AppError::NotAppImage { .. })));
        let exe = std::env::current_exe().unwrap();
        let e = payload_offset(&exe).unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
    }
}
