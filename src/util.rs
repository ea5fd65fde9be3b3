//! Small helpers shared by several stages.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The candidate closest to `word` (for "did you mean" hints), if any is
/// close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// Wait for, then hold until dropped, an exclusive `flock` on the file
/// `path` (created empty if missing, never truncated).
pub fn lock_exclusive(path: &Path) -> io::Result<nix::fcntl::Flock<File>> {
    lock_with(path, nix::fcntl::FlockArg::LockExclusive)
}

/// [`lock_exclusive`] with another kind of lock (shared, non-blocking).
pub fn lock_with(path: &Path, how: nix::fcntl::FlockArg) -> io::Result<nix::fcntl::Flock<File>> {
    let f = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    nix::fcntl::Flock::lock(f.into_file(), how).map_err(|(_, e)| at("lock", path, e.into()))
}

/// An error of a call `fs_err` does not wrap (a `flock`, a system call
/// through `nix`, a temp file's persist), with the path it was about in
/// `fs_err`'s words (`failed to lock `/x`: ...`). The kind is kept, so a
/// hint computed from it (a full disk) still works.
pub fn at(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("failed to {what} `{}`: {e}", path.display()))
}

/// Write `data` to `path` atomically: temp file in the same directory, fsync,
/// rename, fsync the directory. A crash leaves either the old or the new file.
/// Every error names the file it was about.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    // tempfile's own errors carry the temp file's path.
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all().map_err(|e| at("sync file", tmp.path(), e))?;
    tmp.persist(path).map_err(|e| at("write file", path, e.error))?;
    fsync_dir(dir)
}

/// fsync a directory so a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// Close every file descriptor from `lowest` up, in a child between fork
/// and exec (`CommandExt::pre_exec`), so a sandbox inherits nothing the
/// caller had open: `magpkg build 9<"$HOME"` must not hand the build a way
/// out through `/proc/self/fd/9`. Only async-signal-safe calls: the
/// `close_range` system call, else `close` on every possible descriptor.
pub fn close_fds_from(lowest: i32) -> std::io::Result<()> {
    // SAFETY: plain system calls on integers; nothing is allocated.
    unsafe {
        if libc::syscall(
            libc::SYS_close_range,
            lowest as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        ) == 0
        {
            return Ok(());
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur.min(1 << 20) as i32
        } else {
            4096
        };
        for fd in lowest..max {
            libc::close(fd);
        }
    }
    Ok(())
}

/// Lowercase hex sha256 of a file, streaming.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    use sha2::Digest;
    let mut f = fs_err::File::open(path)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_typos_only() {
        let keys = ["buildDeps", "runDeps", "sources", "version"];
        assert_eq!(closest("buildDep", keys).as_deref(), Some("buildDeps"));
        assert_eq!(closest("source", keys).as_deref(), Some("sources"));
        assert_eq!(closest("completelydifferent", keys), None);
    }
}
