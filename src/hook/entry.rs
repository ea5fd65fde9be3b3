//! Pre-rendered activations: entering a built, trusted, unchanged project
//! with no process at all.
//!
//! Each time `hook-env` activates (or keeps) a ready environment, it also
//! leaves the activation pre-rendered for the shell: an *entry*, a list of
//! words (format, canonical root, the `MAGPKG_DIFF` value, the loaded and
//! the unloaded line, then four pieces of shell code: the check that
//! leaving can be done here, the leaving, the check that entering can, the
//! entering; then the watch list). The shell keeps the active one in
//! `_magpkg_active`, and `hook-env` writes the project's to
//! `<state>/hook-v1/enter/<found path>.<shell>` for the next time a shell
//! enters it.
//!
//! The shell uses an entry only after the checks that make it what
//! `hook-env` would print: the same stamp checks as the no-op prompt (trust
//! record, trusted files, realised state, background job, profile), the
//! directory being the entry's root, and the entering check: every variable
//! the activation touches exported with exactly the value it had before (or
//! unset), as are the variables the entry's lines and location depend on
//! (`HOME`, `MAGPKG_STATE`, `XDG_STATE_HOME`). The leaving check requires
//! every prepended list to be exactly what the activation made (else
//! `hook-env` removes only the added entries) and the same conditions. Any
//! failed check runs `hook-env`, whose result is the same by construction.

use std::path::{Path, PathBuf};

use crate::dialect::Dialect;
use crate::env::diff::{Env, EnvDiff, DIFF_VAR};

pub const ENTER_DIR: &str = "hook-v1/enter";
/// The format of an entry, its first word; the hooks use only this one.
const FORMAT: &[u8] = b"2";
/// Variables an entry's messages and location depend on.
const CONDITIONS: &[&str] = &["HOME", "MAGPKG_STATE", "XDG_STATE_HOME"];

/// What an entry applies.
pub struct Entry<'a> {
    pub diff: &'a EnvDiff,
    /// `MAGPKG_DIFF`'s value for it.
    pub diff_text: &'a [u8],
    pub loaded: String,
    pub unloaded: String,
    pub watch: &'a [(Vec<u8>, Vec<u8>)],
}

impl Entry<'_> {
    /// The entry as the hook's list, in `sh`; `env` is the environment the
    /// hook runs in, for the conditions.
    pub fn words(&self, sh: &dyn Dialect, env: &Env) -> Vec<Vec<u8>> {
        let d = self.diff;
        let next = d.next();
        let conditions: Vec<(&str, Option<&[u8]>)> = CONDITIONS
            .iter()
            .filter(|c| !d.prev.contains_key(**c))
            .map(|c| (*c, env.get(*c).map(|v| &v.0[..])))
            .collect();
        // Leaving: the prepended lists as the activation made them.
        let mut leave_check = conditions.clone();
        let mut leave = Vec::new();
        let mut enter_check = conditions;
        let mut enter = Vec::new();
        for (k, prev) in &d.prev {
            let after = next.get(k).cloned().flatten().map(|v| v.0).unwrap_or_default();
            if d.prepend.contains_key(k) && !d.set.contains_key(k) {
                leave_check.push((k, next.get(k).and_then(|v| v.as_ref()).map(|v| &v.0[..])));
            }
            match prev {
                Some(v) => sh.set(&mut leave, k, &v.0),
                None => sh.unset(&mut leave, k),
            }
            enter_check.push((k, prev.as_ref().map(|v| &v.0[..])));
            sh.set(&mut enter, k, &after);
        }
        sh.unset(&mut leave, DIFF_VAR);
        sh.set(&mut enter, DIFF_VAR, self.diff_text);
        let mut out: Vec<Vec<u8>> = vec![
            FORMAT.to_vec(),
            d.root.as_os_str().as_encoded_bytes().to_vec(),
            self.diff_text.to_vec(),
            self.loaded.clone().into_bytes(),
            self.unloaded.clone().into_bytes(),
            sh.test_env(&leave_check),
            leave,
            sh.test_env(&enter_check),
            enter,
        ];
        for (p, s) in self.watch {
            out.push(p.clone());
            out.push(s.clone());
        }
        out
    }
}

/// Where the entry of the project found at `found` (the path the shell
/// walked to, not resolved) is kept for `shell`: the path with `%` and `/`
/// escaped, so the shell can compute the name with builtins. `None` when
/// the name would be too long for a file name.
pub fn path(state_dir: &Path, found: &Path, shell: &str) -> Option<PathBuf> {
    let mut name = Vec::new();
    for &b in found.as_os_str().as_encoded_bytes() {
        match b {
            b'%' => name.extend_from_slice(b"%25"),
            b'/' => name.extend_from_slice(b"%2F"),
            _ => name.push(b),
        }
    }
    name.push(b'.');
    name.extend_from_slice(shell.as_bytes());
    if name.len() > 255 {
        return None;
    }
    let name = <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(name);
    Some(state_dir.join(ENTER_DIR).join(name))
}

/// Write the entry file (only when its content changed: most prompts that
/// get here re-derive the same one): the words, each ended by a NUL byte
/// (no value of the environment can hold one), which every shell reads with
/// a builtin and no parsing (`mapfile -d ''`, `${(0)...}`, `string split0`).
pub fn write(state_dir: &Path, found: &Path, sh: &dyn Dialect, words: &[Vec<u8>]) {
    let Some(path) = path(state_dir, found, sh.name()) else {
        return;
    };
    let mut data = Vec::new();
    for w in words {
        debug_assert!(!w.contains(&0));
        data.extend_from_slice(w);
        data.push(0);
    }
    if std::fs::read(&path).is_ok_and(|old| old == data) {
        return;
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = crate::util::write_atomic(&path, &data) {
        tracing::debug!("cannot write {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escape_the_path_and_stay_file_names() {
        let p = path(Path::new("/s"), Path::new("/a%b/c d"), "bash").unwrap();
        assert_eq!(p, Path::new("/s/hook-v1/enter/%2Fa%25b%2Fc d.bash"));
        let long = format!("/{}", "x".repeat(250));
        assert_eq!(path(Path::new("/s"), Path::new(&long), "fish"), None);
    }
}
