//! Pre-rendered activations: entering a built, trusted, unchanged project
//! with no process at all.
//!
//! Each time `hook-env` activates (or keeps) a ready environment, it also
//! leaves the activation as data the shell can apply with builtins: an
//! *entry*, a list of words (format version, canonical root, the
//! `MAGPKG_DIFF` value, the loaded and the unloaded line, the watch list,
//! then for every variable the activation touches its name, kind, value
//! before and value after). The shell keeps the active one in
//! `_magpkg_active` (its reverse is the leaving), and `hook-env` writes the
//! project's to `<state>/hook-v1/enter/<found path>.<shell>` for the next
//! time a shell enters it.
//!
//! The shell uses an entry only after the checks that make it what
//! `hook-env` would print: the same stamp checks as the no-op prompt (trust
//! record, trusted files, realised state, background job, profile), every
//! touched variable exported with exactly the value it had before (or
//! unset), and the variables the entry's lines and location depend on
//! (`HOME`, `MAGPKG_STATE`, `XDG_STATE_HOME`) as they were. Leaving with
//! builtins requires every prepended list to be exactly what the activation
//! made (else `hook-env` removes only the added entries). Any failed check
//! runs `hook-env`, whose result is the same by construction.

use std::path::{Path, PathBuf};

use crate::dialect::Dialect;
use crate::env::diff::{Env, EnvDiff};

pub const ENTER_DIR: &str = "hook-v1/enter";
/// The format of an entry, its first word; the hooks use only this one.
const FORMAT: &[u8] = b"1";
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
    /// The entry as the hook's list; `env` is the environment the hook runs
    /// in, for the conditions.
    pub fn words(&self, env: &Env) -> Vec<Vec<u8>> {
        let d = self.diff;
        let mut out: Vec<Vec<u8>> = vec![
            FORMAT.to_vec(),
            d.root.as_os_str().as_encoded_bytes().to_vec(),
            self.diff_text.to_vec(),
            self.loaded.clone().into_bytes(),
            self.unloaded.clone().into_bytes(),
            (2 * self.watch.len()).to_string().into_bytes(),
        ];
        for (p, s) in self.watch {
            out.push(p.clone());
            out.push(s.clone());
        }
        let next = d.next();
        for (k, prev) in &d.prev {
            let kind = if d.prepend.contains_key(k) && !d.set.contains_key(k) {
                "p"
            } else {
                "s"
            };
            out.push(k.clone().into_bytes());
            out.push(format!("{kind}{}", u8::from(prev.is_some())).into_bytes());
            out.push(prev.as_ref().map(|v| v.0.clone()).unwrap_or_default());
            out.push(next.get(k).cloned().flatten().map(|v| v.0).unwrap_or_default());
        }
        for c in CONDITIONS.iter().filter(|c| !d.prev.contains_key(**c)) {
            let v = env.get(*c);
            out.push(c.as_bytes().to_vec());
            out.push(format!("={}", u8::from(v.is_some())).into_bytes());
            out.push(v.map(|v| v.0.clone()).unwrap_or_default());
            out.push(Vec::new());
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
/// get here re-derive the same one).
pub fn write(state_dir: &Path, found: &Path, sh: &dyn Dialect, words: &[Vec<u8>]) {
    let Some(path) = path(state_dir, found, sh.name()) else {
        return;
    };
    let items: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
    let mut code = b"# magpkg: the activation of this project, pre-rendered for the shell hook\n".to_vec();
    sh.set_list(&mut code, "_magpkg_entry", &items);
    if std::fs::read(&path).is_ok_and(|old| old == code) {
        return;
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = crate::util::write_atomic(&path, &code) {
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
