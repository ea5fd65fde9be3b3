//! Stamps: how the shell tells, with builtins only, whether a watched file
//! changed since magpkg last looked at it.
//!
//! For each watched file that exists, `hook-env` makes an empty stamp file
//! whose mtime is the watched file's mtime (to the nanosecond). The hook then
//! tests `[[ $f -nt $stamp || $f -ot $stamp ]]` (fish: `test`), which is
//! false exactly while the mtime is unchanged. A watched path that does not
//! exist gets no stamp; the hook checks that it still does not exist.
//!
//! Stamps are named by a hash of (path, mtime), so shells sharing a stamp
//! all hold the same view, and a stamp never changes once made. Old ones
//! are removed now and then; a shell whose stamp was removed just asks
//! magpkg once more.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const STAMPS_DIR: &str = "hook-v1/stamps";

/// Above this many stamps, old ones are removed.
const GC_THRESHOLD: usize = 512;
/// Stamps made longer ago than this are removed by the clean-up.
const GC_AGE: Duration = Duration::from_secs(24 * 3600);

/// The stamp for `path`: `Some(stamp path)` if `path` exists, `Some(empty)`
/// if it does not. `None` if no stamp could be made (unwritable state dir):
/// the hook then asks magpkg at every prompt, which is slow but correct.
pub fn stamp(stamps: &Path, path: &Path) -> Option<PathBuf> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return Some(PathBuf::new()),
    };
    let mtime = meta.modified().ok()?;
    let since = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut key = path.as_os_str().as_encoded_bytes().to_vec();
    key.extend_from_slice(format!("\0{}.{}", since.as_secs(), since.subsec_nanos()).as_bytes());
    let name = &crate::hash::digest("magpkg-stamp-v1", &key)[..32];
    let stamp = stamps.join(name);
    if fs::metadata(&stamp).and_then(|m| m.modified()).ok() == Some(mtime) {
        return Some(stamp);
    }
    fs::create_dir_all(stamps).ok()?;
    let f = File::create(&stamp).ok()?;
    f.set_modified(mtime).ok()?;
    MADE.store(true, std::sync::atomic::Ordering::Relaxed);
    Some(stamp)
}

/// Whether this process made a stamp (only then can the directory have grown).
static MADE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// [`gc`], if this process added stamps: the common prompt only reads.
pub fn gc_if_grown(stamps: &Path) {
    if MADE.load(std::sync::atomic::Ordering::Relaxed) {
        gc(stamps)
    }
}

/// Remove stamps made more than a day ago, when there are many.
pub fn gc(stamps: &Path) {
    let Ok(entries) = fs::read_dir(stamps) else { return };
    let entries: Vec<_> = entries.flatten().collect();
    if entries.len() <= GC_THRESHOLD {
        return;
    }
    // A stamp's mtime is its watched file's; its ctime is when it was made.
    let cutoff = SystemTime::now()
        .checked_sub(GC_AGE)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for e in entries {
        if e.metadata().is_ok_and(|m| m.ctime() < cutoff) {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn changed_per_bash(file: &Path, stamp: &Path) -> bool {
        let st = Command::new("bash")
            .arg("-c")
            .arg(r#"[[ ! -e $1 || $1 -nt $2 || $1 -ot $2 ]]"#)
            .arg("-")
            .arg(file)
            .arg(stamp)
            .status()
            .unwrap();
        st.success()
    }

    #[test]
    fn a_stamp_matches_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = dir.path().join("stamps");
        let f = dir.path().join("magnet.jsonnet");
        fs::write(&f, "{}").unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        File::options().write(true).open(&f).unwrap().set_modified(t0).unwrap();
        let s = stamp(&stamps, &f).unwrap();
        assert!(!changed_per_bash(&f, &s));
        // The same state gives the same stamp.
        assert_eq!(stamp(&stamps, &f).unwrap(), s);
        // One nanosecond later, or earlier (a file replaced by an older one).
        for t in [t0 + Duration::from_nanos(1), t0 - Duration::from_nanos(1)] {
            File::options().write(true).open(&f).unwrap().set_modified(t).unwrap();
            assert!(changed_per_bash(&f, &s));
        }
        fs::remove_file(&f).unwrap();
        assert!(changed_per_bash(&f, &s));
        assert_eq!(stamp(&stamps, &f).unwrap(), PathBuf::new());
    }
}
