//! A small streaming tar writer that produces the same bytes for the same
//! tree on every machine: ustar headers with PAX records only where ustar
//! cannot hold a value, owner 0:0 with no user or group names, one fixed
//! mtime, normalised modes, entries in byte-wise name order; a file with
//! several names is written once, its other names as hard links.
//!
//! The `tar` crate writes GNU long-name headers and copies host metadata;
//! controlling every byte here is simpler than overriding it field by field.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fs_err::{self as fs, File};

/// Every entry's modification time: the epoch + 1 s, like store entries.
pub const MTIME: u64 = 1;

const BLOCK: usize = 512;

/// What went wrong while writing an entry taken from a file on disk.
#[derive(Debug)]
pub enum TreeError {
    /// A file operation (the error, from `fs_err`, names the path) or
    /// the write of the archive failed.
    Io(io::Error),
    /// A device node, socket or fifo: store entries never hold these.
    FileType { path: PathBuf },
    /// The file's size changed between `stat` and the end of reading.
    Changed { path: PathBuf },
}

impl From<TreeError> for super::OciError {
    fn from(e: TreeError) -> Self {
        match e {
            TreeError::Io(e) => super::OciError::Io(e),
            TreeError::FileType { path } => super::OciError::FileType { path },
            TreeError::Changed { path } => super::OciError::Changed { path },
        }
    }
}

/// Writes tar entries to `W`. Paths are relative (no leading `/`);
/// directories are given without a trailing slash.
pub struct TarWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// (device, inode) → the path a file with several links was first
    /// written as: its other names become hard-link entries to it.
    links: std::collections::HashMap<(u64, u64), Vec<u8>>,
    /// uid:gid of the next header (see [`TarWriter::dir_owned`]).
    owner: (u32, u32),
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter {
            out,
            buf: vec![0; 64 * 1024],
            links: std::collections::HashMap::new(),
            owner: (0, 0),
        }
    }

    /// A directory entry owned by `uid:gid` (a user's home): the one entry
    /// kind not owned by 0:0.
    pub fn dir_owned(&mut self, path: &[u8], mode: u32, uid: u32, gid: u32) -> io::Result<()> {
        self.owner = (uid, gid);
        let r = self.dir(path, mode);
        self.owner = (0, 0);
        r
    }

    /// A directory entry (mode 0755, or what `mode` says).
    pub fn dir(&mut self, path: &[u8], mode: u32) -> io::Result<()> {
        let mut p = path.to_vec();
        p.push(b'/');
        self.header(&p, mode, 0, b'5', b"")
    }

    /// A symbolic link.
    pub fn symlink(&mut self, path: &[u8], target: &[u8]) -> io::Result<()> {
        self.header(path, 0o777, 0, b'2', target)
    }

    /// A regular file with the given content.
    pub fn file_bytes(&mut self, path: &[u8], mode: u32, data: &[u8]) -> io::Result<()> {
        self.header(path, mode, data.len() as u64, b'0', b"")?;
        self.out.write_all(data)?;
        self.pad(data.len() as u64)
    }

    /// A regular file of `size` bytes read from `src`. Fails if `src` holds
    /// fewer bytes; never writes more than `size`.
    fn file_stream(&mut self, path: &[u8], mode: u32, size: u64, src: &mut impl Read) -> io::Result<bool> {
        self.header(path, mode, size, b'0', b"")?;
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let n = match src.read(&mut self.buf[..want]) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.out.write_all(&self.buf[..n])?;
            left -= n as u64;
        }
        self.pad(size)?;
        Ok(true)
    }

    /// The directory `src` and everything below it, as `dest` and below:
    /// children in byte-wise name order, depth first. Only one directory
    /// listing is held in memory per level.
    pub fn tree(&mut self, src: &Path, dest: &[u8]) -> Result<(), TreeError> {
        let meta = fs::symlink_metadata(src)?;
        self.entry(src, dest, &meta)
    }

    fn entry(&mut self, src: &Path, dest: &[u8], meta: &std::fs::Metadata) -> Result<(), TreeError> {
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(src)?;
            Ok(self.symlink(dest, target.as_os_str().as_bytes())?)
        } else if ft.is_file() {
            // A file with several names in the tree is stored once: the
            // first name (in the sorted walk, so the same every time) has
            // the data, the others are hard links to it, as in the store.
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key) {
                    let first = first.clone();
                    return Ok(self.header(dest, file_mode(meta.mode()), 0, b'1', &first)?);
                }
                self.links.insert(key, dest.to_vec());
            }
            let mut f = File::open(src)?;
            let size = f.metadata()?.len();
            let mode = file_mode(meta.mode());
            if !self.file_stream(dest, mode, size, &mut f)? {
                return Err(TreeError::Changed { path: src.into() });
            }
            // A file that grew while we read it would give a layer that
            // differs from the tree: refuse rather than export something else.
            let mut probe = [0u8; 1];
            if f.read(&mut probe)? != 0 {
                return Err(TreeError::Changed { path: src.into() });
            }
            Ok(())
        } else if ft.is_dir() {
            self.dir(dest, 0o755)?;
            let mut names: Vec<_> = fs::read_dir(src)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                let child = src.join(&name);
                let meta = fs::symlink_metadata(&child)?;
                let mut d = dest.to_vec();
                d.push(b'/');
                d.extend_from_slice(name.as_bytes());
                self.entry(&child, &d, &meta)?;
            }
            Ok(())
        } else {
            Err(TreeError::FileType { path: src.into() })
        }
    }

    /// The two zero blocks that end an archive; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    fn header(&mut self, path: &[u8], mode: u32, size: u64, kind: u8, link: &[u8]) -> io::Result<()> {
        // ustar holds a name of up to 100 bytes (or 155 + 100 split at a
        // slash), a link target of up to 100 and a size below 8 GiB; anything
        // longer goes into a PAX record that every reader prefers.
        let split = split_ustar(path);
        let mut pax = Vec::new();
        if split.is_none() {
            pax_record(&mut pax, "path", path);
        }
        if link.len() > 100 {
            pax_record(&mut pax, "linkpath", link);
        }
        if size > 0o77777777777 {
            pax_record(&mut pax, "size", size.to_string().as_bytes());
        }
        if !pax.is_empty() {
            let mut name = b"PaxHeaders/".to_vec();
            name.extend_from_slice(&path[path.len().saturating_sub(80)..]);
            let h = ustar_header(&name[..name.len().min(100)], b"", 0o644, pax.len() as u64, b'x', b"");
            self.out.write_all(&h)?;
            self.out.write_all(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        let (prefix, name) = split.unwrap_or((b"", &path[..path.len().min(100)]));
        let link = &link[..link.len().min(100)];
        let size_field = if size > 0o77777777777 { 0 } else { size };
        let mut h = ustar_header(name, prefix, mode, size_field, kind, link);
        if self.owner != (0, 0) {
            octal(&mut h[108..116], self.owner.0 as u64);
            octal(&mut h[116..124], self.owner.1 as u64);
            checksum(&mut h);
        }
        self.out.write_all(&h)
    }
}

/// 0755 for anything executable by its owner, group or others, else 0644.
pub fn file_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

impl From<io::Error> for TreeError {
    fn from(e: io::Error) -> Self {
        TreeError::Io(e)
    }
}

/// Split a path into ustar's (prefix, name) if it fits.
fn split_ustar(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= 100 {
        return Some((b"", path));
    }
    if path.len() > 256 {
        return None;
    }
    // The name part must be ≤ 100 bytes and the prefix ≤ 155, split at a slash.
    // A trailing slash (directories) stays with the name.
    let body = path.strip_suffix(b"/").unwrap_or(path);
    for (i, &c) in body.iter().enumerate() {
        if c == b'/' && i <= 155 && path.len() - i - 1 <= 100 && i > 0 {
            return Some((&path[..i], &path[i + 1..]));
        }
    }
    None
}

/// One PAX record: `<len> <key>=<value>\n`, where len counts itself.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = key.len() + value.len() + 3; // space, '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn ustar_header(name: &[u8], prefix: &[u8], mode: u32, size: u64, kind: u8, link: &[u8]) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], MTIME);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // uname/gname stay empty so extractors use the numeric ids (0:0), not a
    // host's idea of who "root" is.
    octal(&mut h[329..337], 0); // devmajor
    octal(&mut h[337..345], 0); // devminor
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    checksum(&mut h);
    h
}

/// Fill in a header's checksum, computed with its own field as spaces.
fn checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// Zero-padded octal, NUL-terminated, filling the field.
fn octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    field[..w].copy_from_slice(&s.as_bytes()[s.len() - w..]);
    field[w] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut v = Vec::new();
        pax_record(&mut v, "path", &[b'a'; 95]);
        let s = String::from_utf8(v.clone()).unwrap();
        let (len, _) = s.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), v.len());
        let mut v = Vec::new();
        pax_record(&mut v, "path", b"x");
        assert_eq!(v, b"9 path=x\n");
    }

    #[test]
    fn long_names_round_trip_through_the_tar_crate() {
        let dir = tempfile::tempdir().unwrap();
        let deep = "d".repeat(120);
        let src = dir.path().join("src");
        fs::create_dir_all(src.join(&deep)).unwrap();
        fs::write(src.join(&deep).join("f"), b"hello").unwrap();
        let target = "t".repeat(150);
        std::os::unix::fs::symlink(&target, src.join("link")).unwrap();
        let mut w = TarWriter::new(Vec::new());
        w.tree(&src, b"root").map_err(|e| format!("{e:?}")).unwrap();
        let bytes = w.finish().unwrap();
        let mut ar = ::tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().to_string();
            assert_eq!(e.header().mtime().unwrap(), MTIME);
            assert_eq!(e.header().uid().unwrap(), 0);
            if path.ends_with("/f") {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                assert_eq!(s, "hello");
                assert_eq!(e.header().mode().unwrap(), 0o644);
            }
            if path == "root/link" {
                assert_eq!(e.link_name().unwrap().unwrap().to_string_lossy(), target);
            }
            seen.push(path);
        }
        assert_eq!(
            seen,
            vec![
                "root/".to_string(),
                format!("root/{deep}/"),
                format!("root/{deep}/f"),
                "root/link".to_string()
            ]
        );
    }

    #[test]
    fn same_tree_gives_same_bytes_whatever_the_host_metadata() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (d, mode) in [(a.path(), 0o700), (b.path(), 0o755)] {
            fs::create_dir(d.join("bin")).unwrap();
            fs::write(d.join("bin/x"), b"#!/bin/sh\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(d.join("bin/x"), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let t = nix::sys::time::TimeSpec::new(99999, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &b.path().join("bin/x"),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::FollowSymlink,
        )
        .unwrap();
        let out = |p: &Path| {
            let mut w = TarWriter::new(Vec::new());
            w.tree(p, b"pkg").map_err(|e| format!("{e:?}")).unwrap();
            w.finish().unwrap()
        };
        assert_eq!(out(a.path()), out(b.path()));
    }
}
