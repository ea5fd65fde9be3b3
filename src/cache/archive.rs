//! The archive of a store entry: a tar stream compressed with zstd, the same
//! bytes on every machine for the same tree.
//!
//! Packing visits the tree in the order `store::tree_digest` does (depth
//! first, names byte-wise sorted) and writes GNU tar headers with owner 0:0,
//! no user or group names, mtime 1, mode 0755 for directories and
//! executables, 0644 for other files, 0777 for symlinks. Hard links are
//! written as the files they are (the digest ignores links, so must the
//! archive). zstd runs single-threaded at [`ZSTD_LEVEL`] with a frame
//! checksum; all of that is part of the format.
//!
//! Unpacking takes only what packing makes. An archive comes from a cache,
//! so everything else is refused rather than cleaned up: absolute paths,
//! `.` and `..` components, an entry whose parent is not a directory the
//! archive made before it (so nothing is ever written through a symlink),
//! an entry twice, hard links, device nodes and fifos, set-id and sticky
//! bits, any other entry type.

use std::collections::HashSet;
use std::fs::Permissions;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use fs_err::os::unix::fs::OpenOptionsExt;
use fs_err::{self as fs, File, OpenOptions};

/// zstd level of v1 archives. High enough that a cache stays small, low
/// enough that packing a 180 MB root filesystem takes seconds, not minutes.
pub const ZSTD_LEVEL: i32 = 12;

/// Every entry's modification time, the store's own.
pub const MTIME: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file operation failed (the error, from `fs_err`, names the path),
    /// or writing the archive did (the caller names the archive).
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("damaged archive: {0}")]
    Format(String),
    #[error("entry `{entry}` {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("{path}: only files, directories and symlinks can be archived")]
    FileType { path: PathBuf },
}

/// Counts and hashes what goes through it.
pub struct HashWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    len: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        use sha2::Digest;
        HashWriter {
            inner,
            hasher: sha2::Sha256::new(),
            len: 0,
        }
    }

    /// (bytes written, hex sha256), and the inner writer.
    pub fn finish(self) -> (u64, String, W) {
        use sha2::Digest;
        (self.len, hex::encode(self.hasher.finalize()), self.inner)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write the archive of the tree at `root` to `out`; returns the archive's
/// size and sha256.
pub fn pack<W: Write>(root: &Path, out: W) -> Result<(u64, String), ArchiveError> {
    pack_at_level(root, out, ZSTD_LEVEL)
}

/// [`pack`] at another zstd level, for archives that are only carried
/// (remote builds: what counts there is the unpacked tree's digest, not
/// the archive's bytes). Level 12 costs ~40 ms and 50 MB of tables even for
/// a tiny tree, since a stream's size is not known in advance; level 3
/// costs nothing.
pub fn pack_at_level<W: Write>(root: &Path, out: W, level: i32) -> Result<(u64, String), ArchiveError> {
    let sink = HashWriter::new(out);
    let mut enc = zstd::stream::write::Encoder::new(sink, level)?;
    enc.include_checksum(true)?;
    let mut tar = tar::Builder::new(enc);
    let meta = fs::symlink_metadata(root)?;
    if !meta.is_dir() {
        return Err(ArchiveError::FileType { path: root.into() });
    }
    pack_children(&mut tar, root, Path::new(""))?;
    let enc = tar.into_inner()?;
    let sink = enc.finish()?;
    let (len, sha, mut out) = sink.finish();
    out.flush()?;
    Ok((len, sha))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    h
}

fn pack_children<W: Write>(tar: &mut tar::Builder<W>, dir: &Path, rel: &Path) -> Result<(), ArchiveError> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = dir.join(&name);
        let rel = rel.join(&name);
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, &rel, io::empty())?;
            pack_children(tar, &path, &rel)?;
        } else if ft.is_file() {
            let mode = if meta.mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            let mut h = header(tar::EntryType::Regular, mode, meta.len());
            let f = File::open(&path)?;
            // Store entries are read-only; `take` keeps a file that grew
            // anyway from breaking the tar framing (the digest check of
            // whoever unpacks it would then fail, as it should).
            tar.append_data(&mut h, &rel, f.take(meta.len()))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut h, &rel, &target)?;
        } else {
            return Err(ArchiveError::FileType { path });
        }
    }
    Ok(())
}

/// What an unpack made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
}

/// Unpack an archive read from `r` into `dest`, an existing empty
/// directory. Everything [`pack`] would not have made is refused (see the
/// module documentation); on an error `dest` holds a partial tree, which
/// the caller throws away.
pub fn unpack<R: Read>(r: R, dest: &Path) -> Result<Unpacked, ArchiveError> {
    let fmt = |e: io::Error| ArchiveError::Format(e.to_string());
    let dec = zstd::stream::read::Decoder::new(r).map_err(fmt)?;
    let mut ar = tar::Archive::new(dec);
    let mut dirs: HashSet<PathBuf> = HashSet::from([PathBuf::new()]);
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut stats = Unpacked::default();
    for entry in ar.entries().map_err(fmt)? {
        let mut entry = entry.map_err(fmt)?;
        let rel = entry.path().map_err(fmt)?.into_owned();
        let shown = rel.display().to_string();
        let refuse = |reason: &str| ArchiveError::Unsafe {
            entry: shown.clone(),
            reason: reason.into(),
        };
        if rel.as_os_str().is_empty() {
            return Err(refuse("has an empty path"));
        }
        for c in rel.components() {
            match c {
                Component::Normal(_) => {}
                Component::ParentDir => return Err(refuse("contains `..`")),
                Component::CurDir => return Err(refuse("contains `.`")),
                Component::RootDir | Component::Prefix(_) => return Err(refuse("has an absolute path")),
            }
        }
        if !seen.insert(rel.clone()) {
            return Err(refuse("appears twice"));
        }
        let parent = rel.parent().unwrap_or(Path::new(""));
        if !dirs.contains(parent) {
            return Err(refuse("is not inside a directory the archive made before it"));
        }
        let header = entry.header();
        let mode = header.mode().map_err(fmt)?;
        if mode & 0o7000 != 0 {
            return Err(refuse("has set-id or sticky bits"));
        }
        let target = dest.join(&rel);
        match header.entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir(&target)?;
                fs::set_permissions(&target, Permissions::from_mode(0o755))?;
                dirs.insert(rel);
                stats.dirs += 1;
            }
            tar::EntryType::Regular => {
                let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                let size = header.size().map_err(fmt)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&target)?;
                let n = io::copy(&mut entry, &mut f).map_err(fmt)?;
                if n != size {
                    return Err(ArchiveError::Format(format!(
                        "`{shown}` ends after {n} of {size} bytes"
                    )));
                }
                // The umask may have taken bits away.
                fs::set_permissions(&target, Permissions::from_mode(mode))?;
                stats.files += 1;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(fmt)?
                    .filter(|l| !l.as_os_str().is_empty())
                    .ok_or_else(|| refuse("is a symlink without a target"))?;
                // Its target may be absolute (root filesystems have such
                // links); what matters is that nothing is written through
                // it, which the parent rule above guarantees.
                fs::os::unix::fs::symlink(&link, &target)?;
                stats.symlinks += 1;
            }
            tar::EntryType::Link => return Err(refuse("is a hard link (archives hold none)")),
            tar::EntryType::Char | tar::EntryType::Block => return Err(refuse("is a device node")),
            tar::EntryType::Fifo => return Err(refuse("is a fifo")),
            other => return Err(refuse(&format!("has the entry type {other:?}"))),
        }
    }
    // The rest of the stream: the end of the tar, then the zstd frame's
    // checksum, which a damaged or truncated archive fails.
    let mut rest = ar.into_inner();
    let extra = io::copy(&mut rest, &mut io::sink()).map_err(fmt)?;
    if extra > 1024 * 1024 {
        return Err(ArchiveError::Format(format!("{extra} bytes after the end of the tar")));
    }
    Ok(stats)
}

/// Why [`unpack_checked`] refused an archive.
#[derive(Debug)]
pub enum Refusal {
    /// The archive itself is refused ([`unpack`]'s rules).
    Archive(ArchiveError),
    /// It unpacks to a tree with digest `actual`, not the expected one.
    Digest { actual: String },
    /// The tree could not be read back to compute its digest.
    Unreadable(crate::store::StoreError),
}

/// Unpack an archive from another machine (a binary cache, a remote
/// builder, a client of `magpkg serve`) into `dest` and check that the
/// tree has the content digest it was claimed to have. Nothing from another
/// machine enters a store without passing here.
pub fn unpack_checked<R: Read>(r: R, dest: &Path, digest: &str) -> Result<(), Refusal> {
    unpack(r, dest).map_err(Refusal::Archive)?;
    let actual = crate::store::tree_digest(dest).map_err(Refusal::Unreadable)?;
    if actual != digest {
        return Err(Refusal::Digest { actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same tree whichever `other_order`: the files are made in another
    /// order and with other modes the digest ignores.
    fn tree(root: &Path, other_order: bool) {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(130));
        let mut files: Vec<(&str, Vec<u8>)> = vec![
            ("share/doc/README", b"read me\n".to_vec()),
            ("bin-notes", b"sorted between bin and bin/\n".to_vec()),
            ("bin/tool", b"#!/bin/sh\necho hi\n".to_vec()),
            (&long, vec![7u8; 70_000]),
        ];
        if other_order {
            files.reverse();
        }
        for (rel, data) in files {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, data).unwrap();
        }
        let exec = if other_order { 0o700 } else { 0o755 };
        fs::set_permissions(root.join("bin/tool"), Permissions::from_mode(exec)).unwrap();
        std::os::unix::fs::symlink("tool", root.join("bin/alias")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("abs-link")).unwrap();
    }

    fn packed(root: &Path) -> Vec<u8> {
        use sha2::Digest;
        let mut out = Vec::new();
        let (len, sha) = pack(root, &mut out).unwrap();
        assert_eq!(len, out.len() as u64);
        assert_eq!(sha, hex::encode(sha2::Sha256::digest(&out)));
        out
    }

    #[test]
    fn same_tree_same_bytes_and_a_faithful_round_trip() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        tree(a.path(), false);
        tree(b.path(), true);
        // Other mtimes and modes that the digest ignores.
        let t = nix::sys::time::TimeSpec::new(999_999, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &b.path().join("share/doc/README"),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
        fs::set_permissions(b.path().join("share/doc/README"), Permissions::from_mode(0o600)).unwrap();
        let one = packed(a.path());
        assert_eq!(one, packed(a.path()), "twice the same bytes");
        assert_eq!(one, packed(b.path()), "same digest, same bytes");
        assert_eq!(
            crate::store::tree_digest(a.path()).unwrap(),
            crate::store::tree_digest(b.path()).unwrap()
        );

        let out = tempfile::tempdir().unwrap();
        let stats = unpack(&one[..], out.path()).unwrap();
        assert_eq!(stats.symlinks, 2);
        assert_eq!(
            crate::store::tree_digest(out.path()).unwrap(),
            crate::store::tree_digest(a.path()).unwrap()
        );
        assert_eq!(
            fs::read_link(out.path().join("abs-link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn a_damaged_archive_is_refused() {
        let a = tempfile::tempdir().unwrap();
        tree(a.path(), false);
        let mut bytes = packed(a.path());
        let truncated = &bytes[..bytes.len() - 10];
        assert!(unpack(truncated, tempfile::tempdir().unwrap().path()).is_err());
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        assert!(unpack(&bytes[..], tempfile::tempdir().unwrap().path()).is_err());
    }

    /// A zstd-compressed tar of hand-made headers (names set byte by byte, so
    /// the tar crate's own path checks do not stop hostile ones).
    fn hostile(entries: &[(tar::EntryType, &str, u32, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (kind, path, mode, link) in entries {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(*kind);
            h.set_mode(*mode);
            h.set_size(if *kind == tar::EntryType::Regular { 2 } else { 0 });
            h.set_cksum();
            let data: &[u8] = if *kind == tar::EntryType::Regular { b"hi" } else { b"" };
            b.append(&h, data).unwrap();
        }
        zstd::encode_all(&b.into_inner().unwrap()[..], 1).unwrap()
    }

    /// An entry of a crafted archive: type, path, mode, link target.
    type Entry<'a> = (tar::EntryType, &'a str, u32, &'a str);

    #[test]
    fn hostile_archives_are_refused_and_write_nothing_outside() {
        use tar::EntryType::{Block, Char, Directory as D, Fifo, Link, Regular as F, Symlink as L};
        let cases: Vec<(&str, Vec<Entry>)> = vec![
            ("absolute path", vec![(F, "/tmp/x", 0o644, "")]),
            ("contains `..`", vec![(D, "a", 0o755, ""), (F, "a/../../x", 0o644, "")]),
            ("before it", vec![(L, "out", 0o777, ".."), (F, "out/x", 0o644, "")]),
            ("before it", vec![(F, "nodir/x", 0o644, "")]),
            ("hard link", vec![(F, "a", 0o644, ""), (Link, "b", 0o644, "a")]),
            ("device node", vec![(Char, "tty", 0o644, "")]),
            ("device node", vec![(Block, "sda", 0o644, "")]),
            ("fifo", vec![(Fifo, "p", 0o644, "")]),
            ("set-id", vec![(F, "su", 0o4755, "")]),
            ("set-id", vec![(D, "sticky", 0o1777, "")]),
            ("twice", vec![(F, "a", 0o644, ""), (F, "a", 0o644, "")]),
        ];
        for (want, entries) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let dest = tmp.path().join("dest");
            fs::create_dir(&dest).unwrap();
            let err = unpack(&hostile(&entries)[..], &dest).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
            let names: Vec<_> = fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from("dest")], "{want}");
        }
    }
}
