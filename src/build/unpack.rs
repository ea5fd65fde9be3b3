//! Safe extraction of source archives: tar (plain, gzip, xz, bzip2, zstd)
//! and Debian `.deb` packages (an `ar` archive whose `data.tar.*` member is
//! extracted; maintainer scripts are never looked at).
//!
//! Archives are untrusted input. Nothing an archive holds can make us write
//! outside the destination directory:
//! - absolute paths and `..` components are rejected;
//! - a path whose parent goes through a symlink (one created earlier by the
//!   same archive, or one already in the destination) is followed only if the
//!   symlink resolves to a directory inside the destination;
//! - an existing symlink at the path of a file entry is replaced, never
//!   written through (files are created with `O_EXCL`);
//! - hard links may only point at files inside the destination;
//! - device nodes and fifos are skipped (and counted), never created.
//!
//! Owners and timestamps are not restored (the store normalises them);
//! permissions are reduced to "executable or not".

use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use fs_err::os::unix::fs::OpenOptionsExt;
use fs_err::{self as fs, File, OpenOptions};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Reading the archive or writing what it holds failed; the source
    /// (from `fs_err` for a file operation) names the file.
    #[error("cannot unpack {archive}")]
    Io {
        archive: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot unpack {archive}: {message}")]
    Format { archive: PathBuf, message: String },
    #[error("refusing to unpack {archive}: it unpacks to more than {} ({why}); a compression bomb?",
        crate::fetch::human_bytes(*limit))]
    TooBig {
        archive: PathBuf,
        limit: u64,
        /// Which setting makes the limit.
        why: String,
    },
    #[error("refusing to unpack {archive}: entry `{entry}` {reason}")]
    Unsafe {
        archive: PathBuf,
        entry: String,
        reason: String,
    },
}

/// How to unpack.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Leading path components removed from every entry (like
    /// `tar --strip-components`); entries with no component left are skipped.
    pub strip_components: usize,
    pub limits: Limits,
}

/// How much an archive may unpack to: file contents, counted as written.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes at most (`maxUnpackSize`).
    pub size: u64,
    /// Times the archive's own size at most, once [`RATIO_FLOOR`] bytes are
    /// out (`maxUnpackRatio`; 0: no check).
    pub ratio: u64,
}

/// Output below which the ratio is not checked: a small archive of a file
/// of zeros is no bomb.
pub const RATIO_FLOOR: u64 = 64 << 20;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            size: 32 << 30,
            ratio: 100,
        }
    }
}

impl Limits {
    /// The byte limit for an archive of `len` bytes, and the setting that
    /// makes it.
    fn allowed(&self, len: u64) -> (u64, String) {
        let by_ratio = len.saturating_mul(self.ratio).max(RATIO_FLOOR);
        if self.ratio > 0 && by_ratio < self.size {
            (
                by_ratio,
                format!(
                    "{} times its size of {}; maxUnpackRatio / MAGPKG_MAX_UNPACK_RATIO",
                    self.ratio,
                    crate::fetch::human_bytes(len)
                ),
            )
        } else {
            (self.size, "maxUnpackSize / MAGPKG_MAX_UNPACK_SIZE".into())
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Entries that were not created (device nodes, fifos, unknown types).
    pub skipped: Vec<String>,
}

/// The archive formats we know, detected from the first bytes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Deb,
    Tar,
    TarGz,
    TarXz,
    TarBz2,
    TarZst,
}

/// Detect an archive's format from its magic bytes (not its name, which a
/// mirror may have changed).
pub fn detect(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"!<arch>\n") {
        Some(Format::Deb)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(Format::TarGz)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Format::TarXz)
    } else if head.starts_with(b"BZh") {
        Some(Format::TarBz2)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Format::TarZst)
    } else if head.len() >= 512 && (&head[257..262] == b"ustar" || tar_checksum_ok(&head[..512])) {
        Some(Format::Tar)
    } else {
        None
    }
}

/// Old (v7) tar headers have no magic; their checksum identifies them.
fn tar_checksum_ok(h: &[u8]) -> bool {
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    // An all-zero block sums to 256 with the blank checksum; not a header.
    sum == want && h[0] != 0
}

/// Unpack `archive` (any supported format) into the directory `dest`,
/// which must exist.
pub fn unpack(archive: &Path, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats, UnpackError> {
    let in_archive = |source| UnpackError::Io {
        archive: archive.to_path_buf(),
        source,
    };
    let mut f = File::open(archive).map_err(in_archive)?;
    let mut head = Vec::with_capacity(512);
    (&mut f).take(512).read_to_end(&mut head).map_err(in_archive)?;
    let format = detect(&head).ok_or_else(|| UnpackError::Format {
        archive: archive.into(),
        message: "not a tar archive (plain, gzip, xz, bzip2 or zstd) or a .deb".into(),
    })?;
    let len = f.metadata().map_err(in_archive)?.len();
    drop(f);
    let f = BufReader::new(File::open(archive).map_err(in_archive)?);
    let mut x = Extractor::new(archive, dest, opts)?;
    (x.allowed, x.why) = opts.limits.allowed(len);
    match format {
        Format::Deb => unpack_deb(f, &mut x)?,
        other => x.tar(decompress(f, other))?,
    }
    Ok(x.stats)
}

fn decompress<'a, R: io::BufRead + 'a>(r: R, format: Format) -> Box<dyn Read + 'a> {
    match format {
        Format::Tar | Format::Deb => Box::new(r),
        Format::TarGz => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Format::TarXz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        Format::TarBz2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        Format::TarZst => match zstd::stream::read::Decoder::with_buffer(r) {
            Ok(d) => Box::new(d),
            // Only fails on allocation of the zstd context; surface it on read.
            Err(e) => Box::new(FailingReader(Some(e))),
        },
    }
}

struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| io::Error::other("decoder failed")))
    }
}

/// A `.deb` is an `ar` archive: `debian-binary`, `control.tar.*`,
/// `data.tar.*`. Only the data member is extracted.
fn unpack_deb<R: Read>(r: R, x: &mut Extractor) -> Result<(), UnpackError> {
    let bad = |message: String| UnpackError::Format {
        archive: x.archive.clone(),
        message,
    };
    let mut ar = ar::Archive::new(r);
    let mut seen = Vec::new();
    while let Some(entry) = ar.next_entry() {
        let entry = entry.map_err(|e| bad(format!("bad ar archive: {e}")))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        let format = match name.as_str() {
            "data.tar" => Format::Tar,
            "data.tar.gz" => Format::TarGz,
            "data.tar.xz" => Format::TarXz,
            "data.tar.bz2" => Format::TarBz2,
            "data.tar.zst" => Format::TarZst,
            _ => {
                seen.push(name);
                continue;
            }
        };
        return x.tar(decompress(BufReader::new(entry), format));
    }
    Err(bad(format!(
        "a .deb without a data.tar member (members: {})",
        seen.join(", ")
    )))
}

struct Extractor {
    archive: PathBuf,
    /// Canonical destination: every path we write must be below it.
    root: PathBuf,
    strip: usize,
    stats: UnpackStats,
    /// Bytes of file contents written so far, and the most allowed.
    written: u64,
    allowed: u64,
    why: String,
}

impl Extractor {
    fn new(archive: &Path, dest: &Path, opts: &UnpackOptions) -> Result<Extractor, UnpackError> {
        let root = fs::canonicalize(dest).map_err(|source| UnpackError::Io {
            archive: archive.into(),
            source,
        })?;
        Ok(Extractor {
            archive: archive.into(),
            root,
            strip: opts.strip_components,
            stats: UnpackStats::default(),
            written: 0,
            allowed: u64::MAX,
            why: String::new(),
        })
    }

    /// The error of a file operation (`fs_err` names the path) or of a
    /// read of the archive's stream, in this archive.
    fn io(&self, source: io::Error) -> UnpackError {
        UnpackError::Io {
            archive: self.archive.clone(),
            source,
        }
    }

    fn unsafe_entry(&self, entry: &Path, reason: impl Into<String>) -> UnpackError {
        UnpackError::Unsafe {
            archive: self.archive.clone(),
            entry: entry.display().to_string(),
            reason: reason.into(),
        }
    }

    fn tar<R: Read>(&mut self, r: R) -> Result<(), UnpackError> {
        let mut ar = tar::Archive::new(r);
        let bad = |e: io::Error| UnpackError::Format {
            archive: self.archive.clone(),
            message: format!("bad tar data: {e}"),
        };
        let entries = ar.entries().map_err(bad)?;
        for entry in entries {
            let mut entry = entry.map_err(|e| UnpackError::Format {
                archive: self.archive.clone(),
                message: format!("bad tar data: {e}"),
            })?;
            self.entry(&mut entry)?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        use tar::EntryType as T;
        let raw = entry.path().map_err(|e| self.io(e))?.into_owned();
        let Some(rel) = self.clean(&raw)? else { return Ok(()) };
        let kind = entry.header().entry_type();
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let exec = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                let target = self.prepare_leaf(&raw, &rel)?;
                let mode = if exec { 0o755 } else { 0o644 };
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&target)
                    .map_err(|e| self.io(e))?;
                let room = self.allowed - self.written;
                let n = io::copy(&mut entry.take(room.saturating_add(1)), &mut f).map_err(|e| self.io(e))?;
                if n > room {
                    return Err(UnpackError::TooBig {
                        archive: self.archive.clone(),
                        limit: self.allowed,
                        why: self.why.clone(),
                    });
                }
                self.written += n;
                // The umask may have removed bits we want.
                fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .map_err(|e| self.io(e))?;
                self.stats.files += 1;
            }
            T::Directory => {
                self.dir(&raw, &rel)?;
                self.stats.dirs += 1;
            }
            T::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(|e| self.io(e))?
                    .ok_or_else(|| self.unsafe_entry(&raw, "is a symlink without a target"))?
                    .into_owned();
                if link.as_os_str().is_empty() {
                    return Err(self.unsafe_entry(&raw, "is a symlink with an empty target"));
                }
                let target = self.prepare_leaf(&raw, &rel)?;
                // The link itself may point anywhere (a root filesystem has
                // absolute links); what is refused is writing through it.
                fs::os::unix::fs::symlink(&link, &target).map_err(|e| self.io(e))?;
                self.stats.symlinks += 1;
            }
            T::Link => {
                let link = entry
                    .link_name()
                    .map_err(|e| self.io(e))?
                    .ok_or_else(|| self.unsafe_entry(&raw, "is a hard link without a target"))?
                    .into_owned();
                let link_rel = self
                    .clean_link(&raw, &link)?
                    .ok_or_else(|| self.unsafe_entry(&raw, "is a hard link to a path removed by stripComponents"))?;
                let source = self.existing(&raw, &link_rel)?;
                let target = self.prepare_leaf(&raw, &rel)?;
                if source == target {
                    return Ok(());
                }
                fs::hard_link(&source, &target).map_err(|e| self.io(e))?;
                self.stats.hardlinks += 1;
            }
            T::Char | T::Block | T::Fifo => {
                self.stats.skipped.push(raw.display().to_string());
            }
            // pax/GNU headers are consumed by the tar crate; anything else
            // (e.g. a global pax header) has no file to create.
            _ => {}
        }
        Ok(())
    }

    /// The entry path relative to the destination, with `.` components
    /// removed and `strip_components` applied; `None` if nothing is left.
    fn clean(&self, raw: &Path) -> Result<Option<PathBuf>, UnpackError> {
        let clean = clean_path(raw).map_err(|reason| self.unsafe_entry(raw, reason))?;
        let parts: Vec<_> = clean.components().collect();
        if parts.len() <= self.strip {
            return Ok(None);
        }
        Ok(Some(parts[self.strip..].iter().collect()))
    }

    fn clean_link(&self, raw: &Path, link: &Path) -> Result<Option<PathBuf>, UnpackError> {
        self.clean(link).map_err(|e| match e {
            UnpackError::Unsafe { reason, .. } => {
                self.unsafe_entry(raw, format!("is a hard link to `{}`, which {reason}", link.display()))
            }
            e => e,
        })
    }

    /// Resolve (creating missing directories) the directory `rel` below the
    /// root, refusing symlinks that lead outside.
    fn dir(&self, raw: &Path, rel: &Path) -> Result<PathBuf, UnpackError> {
        safe_dir(&self.root, rel).map_err(|e| match e {
            DirProblem::Io(source) => self.io(source),
            DirProblem::Unsafe(reason) => self.unsafe_entry(raw, reason),
        })
    }

    /// Where a non-directory entry goes: its parent resolved safely, and
    /// whatever non-directory was there before removed (so a symlink at
    /// that path is replaced, not followed).
    fn prepare_leaf(&self, raw: &Path, rel: &Path) -> Result<PathBuf, UnpackError> {
        let parent = self.dir(raw, rel.parent().unwrap_or(Path::new("")))?;
        let name = rel.file_name().expect("cleaned paths end in a normal component");
        let target = parent.join(name);
        match fs::symlink_metadata(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(e)),
            Ok(m) if m.is_dir() => {
                return Err(self.unsafe_entry(raw, "would replace a directory"));
            }
            Ok(_) => fs::remove_file(&target).map_err(|e| self.io(e))?,
        }
        Ok(target)
    }

    /// An existing non-directory inside the root (a hard link's source).
    fn existing(&self, raw: &Path, rel: &Path) -> Result<PathBuf, UnpackError> {
        let missing = || {
            self.unsafe_entry(
                raw,
                format!("is a hard link to `{}`, which is not in the archive", rel.display()),
            )
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        let parent = self.root.join(parent).canonicalize().map_err(|_| missing())?;
        if !parent.starts_with(&self.root) {
            return Err(self.unsafe_entry(
                raw,
                format!("is a hard link to `{}`, outside the archive", rel.display()),
            ));
        }
        let source = parent.join(rel.file_name().expect("cleaned paths end in a normal component"));
        match fs::symlink_metadata(&source) {
            Ok(m) if m.is_dir() => Err(self.unsafe_entry(raw, "is a hard link to a directory")),
            Ok(_) => Ok(source),
            Err(_) => Err(missing()),
        }
    }
}

/// Why [`safe_dir`] refused.
#[derive(Debug)]
pub enum DirProblem {
    /// A file operation failed (`fs_err` names the path).
    Io(io::Error),
    /// The path leads outside the root (through a symlink) or through a file.
    Unsafe(String),
}

/// Resolve the directory `rel` (a clean relative path, see [`clean_path`])
/// below `root` (canonical), creating what is missing. Existing symlinks on
/// the way are followed only when they lead to a directory inside `root`, so
/// nothing can be created outside it.
pub fn safe_dir(root: &Path, rel: &Path) -> Result<PathBuf, DirProblem> {
    let show = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        let next = cur.join(c);
        match fs::symlink_metadata(&next) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&next).map_err(DirProblem::Io)?;
                cur = next;
            }
            Err(e) => return Err(DirProblem::Io(e)),
            Ok(m) if m.is_dir() => cur = next,
            Ok(m) if m.file_type().is_symlink() => {
                let resolved = next
                    .canonicalize()
                    .map_err(|_| DirProblem::Unsafe(format!("goes through the dangling symlink `{}`", show(&next))))?;
                if !resolved.starts_with(root) {
                    return Err(DirProblem::Unsafe(format!(
                        "goes through the symlink `{}`, which leads outside",
                        show(&next)
                    )));
                }
                if !resolved.is_dir() {
                    return Err(DirProblem::Unsafe(format!(
                        "goes through `{}`, not a directory",
                        show(&next)
                    )));
                }
                cur = resolved;
            }
            Ok(_) => {
                return Err(DirProblem::Unsafe(format!(
                    "needs `{}` to be a directory, but it is a file",
                    show(&next)
                )))
            }
        }
    }
    Ok(cur)
}

/// `path` as a relative path with only normal components (`.` dropped);
/// absolute paths and `..` are refused.
pub fn clean_path(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("has an absolute path"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_magic() {
        assert_eq!(detect(b"!<arch>\ndebian-binary"), Some(Format::Deb));
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Some(Format::TarGz));
        assert_eq!(detect(b"BZh91AY"), Some(Format::TarBz2));
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Format::TarZst));
        assert_eq!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]), Some(Format::TarXz));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar), Some(Format::Tar));
        let mut v7 = tar::Header::new_old();
        v7.set_path("file").unwrap();
        v7.set_cksum();
        assert_eq!(detect(v7.as_bytes()), Some(Format::Tar));
        assert_eq!(detect(&[0u8; 512]), None);
        assert_eq!(detect(b"PK\x03\x04"), None);
    }
}
