//! Activation as a reversible diff (direnv's `DIRENV_DIFF` idea).
//!
//! Activating a project records, for every variable it touches, the value
//! before and right after activation. The record travels with the shell in
//! the exported `MAGPKG_DIFF` (JSON in URL-safe base64),
//! so leaving can restore the previous state exactly, in this shell or in a
//! child shell that inherited it. Path-like variables get special care: if the
//! user edited `PATH` while inside, only the entries the activation added are
//! removed, so the user's own edits survive.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::env::state::ProjectState;

/// The exported variable holding the active environment's diff.
pub const DIFF_VAR: &str = "MAGPKG_DIFF";

/// The current format of [`EnvDiff`].
const VERSION: u32 = 1;

/// A variable's value, byte for byte. Serialised as a JSON string when it is
/// UTF-8, else as `{"hex": "..."}`, so even odd values restore exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Val(pub Vec<u8>);

impl Serialize for Val {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("hex", &hex::encode(&self.0))?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Hex { hex: String },
        }
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(Val(t.into_bytes())),
            Repr::Hex { hex } => hex::decode(hex).map(Val).map_err(serde::de::Error::custom),
        }
    }
}

impl Val {
    pub fn text(s: &str) -> Val {
        Val(s.as_bytes().to_vec())
    }
}

/// The variables of an environment (names that are not UTF-8 are left out:
/// magpkg never touches them).
pub type Env = BTreeMap<String, Val>;

/// The current process environment.
pub fn process_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, Val(v.into_encoded_bytes()))))
        .collect()
}

/// What an activation changed, enough to undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvDiff {
    pub v: u32,
    /// The project's canonical root.
    pub root: PathBuf,
    pub env_id: String,
    /// Variables set by the activation (as in the project state).
    pub set: BTreeMap<String, String>,
    /// Path-like variables and the entries the activation prepended.
    pub prepend: BTreeMap<String, Vec<String>>,
    /// Every touched variable's value before activation (`None`: unset).
    /// The values right after activation follow from these ([`Self::next`]),
    /// so they are not stored.
    pub prev: BTreeMap<String, Option<Val>>,
}

/// Variables a project may not set: the hook's own state.
fn reserved(name: &str) -> bool {
    name == DIFF_VAR
}

fn usable(name: &str) -> bool {
    valid_name(name) && !reserved(name)
}

impl EnvDiff {
    /// The diff that activates `state` on top of `env`.
    pub fn activate(state: &ProjectState, env: &Env) -> EnvDiff {
        let set: BTreeMap<String, String> = state
            .set
            .iter()
            .filter(|(k, _)| usable(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let prepend: BTreeMap<String, Vec<String>> = state
            .prepend
            .iter()
            .filter(|(k, dirs)| usable(k) && !dirs.is_empty())
            .map(|(k, dirs)| (k.clone(), dirs.clone()))
            .collect();
        let prev = set
            .keys()
            .chain(prepend.keys())
            .map(|k| (k.clone(), env.get(k).cloned()))
            .collect();
        EnvDiff {
            v: VERSION,
            root: state.root.clone(),
            env_id: state.env_id.clone(),
            set,
            prepend,
            prev,
        }
    }

    /// The value of every touched variable right after activation.
    pub fn next(&self) -> BTreeMap<String, Option<Val>> {
        let mut next = BTreeMap::new();
        for (k, prev) in &self.prev {
            let base = match self.set.get(k) {
                Some(v) => Some(Val::text(v)),
                None => prev.clone(),
            };
            let value = match self.prepend.get(k) {
                None => base,
                Some(dirs) => Some(Val(prepend_list(
                    k,
                    dirs,
                    base.as_ref().map(|b| &b.0[..]),
                    Defaults::Host,
                ))),
            };
            next.insert(k.clone(), value);
        }
        next
    }

    /// True when this diff is what activating `state` would do now: same
    /// project, same variables.
    pub fn is_activation_of(&self, state: &ProjectState) -> bool {
        let probe = EnvDiff::activate(state, &Env::new());
        self.root == state.root && self.env_id == state.env_id && self.set == probe.set && self.prepend == probe.prepend
    }

    /// The values of the touched variables after undoing this diff in `env`.
    /// Variables set by the activation get their previous value back. For
    /// path-like ones, if the value is still what the activation made, the
    /// previous value comes back exactly; otherwise the user edited it, and
    /// only what the activation added is removed (`remove_added`).
    pub fn revert(&self, env: &Env) -> BTreeMap<String, Option<Val>> {
        let next = self.next();
        let mut out = BTreeMap::new();
        for (k, prev) in &self.prev {
            let cur = env.get(k);
            let value = match self.prepend.get(k) {
                Some(added) if !self.set.contains_key(k) && cur != next.get(k).and_then(Option::as_ref) => {
                    match cur {
                        // Unset by the user while inside: keep it so.
                        None => None,
                        Some(cur) => {
                            let rest = remove_added(&cur.0, added, prev.as_ref().map(|p| &p.0[..]));
                            if rest.is_empty() && prev.as_ref().is_none_or(|p| p.0.is_empty()) {
                                prev.clone()
                            } else {
                                Some(Val(rest))
                            }
                        }
                    }
                }
                _ => prev.clone(),
            };
            out.insert(k.clone(), value);
        }
        out
    }

    /// `MAGPKG_DIFF`'s value: the JSON in URL-safe base64, one word with no
    /// character any shell treats specially. (Not compressed: setting up a
    /// compressor costs more at each activation than the bytes it saves.)
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("diffs serialise");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Read `MAGPKG_DIFF`; `None` if it is not a diff of this format.
    pub fn decode(text: &[u8]) -> Option<EnvDiff> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
        let diff: EnvDiff = serde_json::from_slice(&json).ok()?;
        (diff.v == VERSION).then_some(diff)
    }
}

/// Path-like variables where an empty entry means "the default list".
fn default_list(name: &str) -> bool {
    matches!(name, "MANPATH" | "INFOPATH")
}

/// Whether the process an environment is applied to has the system's
/// default lists (of man pages, info files) that an empty `MANPATH` or
/// `INFOPATH` entry stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defaults {
    /// The caller's machine: keep its default lists searched.
    Host,
    /// A `--pure` container: it has none, so an empty entry means nothing.
    None,
}

/// The one rule for a path-like variable `name` with `entries` prepended to
/// its previous value `old` (`None`: unset):
/// - the entries come first, in order, each once: an entry already in `old`
///   moves to the front instead of appearing twice, also when `old` spells
///   the same directory another way ([`Dirs`]: `/p/bin/`, `/p//bin`, or a
///   path through a symbolic link, such as a project reached by a link);
/// - the rest of `old` follows as it was;
/// - no empty entry is added (in `PATH` it would mean "the current
///   directory"), except that when `old` is unset or empty, `MANPATH` and
///   `INFOPATH` get a trailing `:` on the host, so the system's default
///   pages stay reachable.
pub fn prepend_list(name: &str, entries: &[String], old: Option<&[u8]>, defaults: Defaults) -> Vec<u8> {
    let mut ours: Vec<&[u8]> = Vec::new();
    for e in entries {
        if !e.is_empty() && !ours.contains(&e.as_bytes()) {
            ours.push(e.as_bytes());
        }
    }
    let mut parts = ours.clone();
    let dirs = Dirs::of(&ours);
    match old.filter(|o| !o.is_empty()) {
        Some(old) => parts.extend(old.split(|&b| b == b':').filter(|p| !dirs.names(p))),
        None if defaults == Defaults::Host && default_list(name) => parts.push(b""),
        None => {}
    }
    parts.join(&b':')
}

/// Entries of a path-like variable, for telling whether another entry names
/// one of the same directories: the same bytes, the same path once empty
/// and `.` components are dropped (`/p//bin/` is `/p/bin`), or, for
/// directories that exist, the same device and inode (a path through a
/// symbolic link). Relative entries only match themselves: they mean
/// another directory in every working directory.
struct Dirs<'a> {
    entries: Vec<&'a [u8]>,
    lexical: Vec<Vec<u8>>,
    ids: Vec<(u64, u64)>,
}

impl<'a> Dirs<'a> {
    fn of(entries: &[&'a [u8]]) -> Dirs<'a> {
        Dirs {
            entries: entries.to_vec(),
            lexical: entries.iter().filter_map(|e| lexical(e)).collect(),
            ids: entries.iter().filter_map(|e| dir_id(e)).collect(),
        }
    }

    /// Whether `entry` names one of these directories.
    fn names(&self, entry: &[u8]) -> bool {
        self.entries.contains(&entry)
            || lexical(entry).is_some_and(|l| self.lexical.contains(&l))
            || (!self.ids.is_empty() && dir_id(entry).is_some_and(|id| self.ids.contains(&id)))
    }
}

/// An absolute entry without empty and `.` components; `None` if relative.
fn lexical(entry: &[u8]) -> Option<Vec<u8>> {
    if !entry.starts_with(b"/") {
        return None;
    }
    let mut out = Vec::with_capacity(entry.len());
    for c in entry.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".") {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    Some(out)
}

/// Device and inode of the directory an absolute entry names.
fn dir_id(entry: &[u8]) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    if !entry.starts_with(b"/") {
        return None;
    }
    let m = std::fs::metadata(std::ffi::OsStr::from_bytes(entry)).ok()?;
    m.is_dir().then(|| (m.dev(), m.ino()))
}

/// `value` (a path-like variable the user edited after activation) without
/// what the activation added: an entry of `added` that was not in `prev` is
/// removed (its first occurrence), or put back as `prev` spelled it when
/// `prev` named the same directory another way; one that was in `prev` (the
/// activation only moved it to the front) stays, unless it is now there
/// twice.
fn remove_added(value: &[u8], added: &[String], prev: Option<&[u8]>) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = value.split(|&b| b == b':').collect();
    let before: Vec<&[u8]> = prev.map(|p| p.split(|&b| b == b':').collect()).unwrap_or_default();
    for a in added {
        let a = a.as_bytes();
        let count = parts.iter().filter(|p| **p == a).count();
        let had = before.contains(&a);
        if count > usize::from(had) {
            if let Some(i) = parts.iter().position(|p| *p == a) {
                let dirs = Dirs::of(&[a]);
                match before.iter().find(|b| !b.is_empty() && dirs.names(b)) {
                    Some(spelled) if !had && !parts.contains(spelled) => parts[i] = spelled,
                    _ => {
                        parts.remove(i);
                    }
                }
            }
        }
    }
    parts.join(&b':')
}

impl ProjectState {
    /// The environment of a process in this project environment, started
    /// from `host`: the same values the hook gives a shell that enters the
    /// project ([`EnvDiff::next`]), with [`prepend_list`]'s one rule.
    pub fn apply(&self, host: &Env) -> Env {
        let mut env = host.clone();
        patch(&mut env, EnvDiff::activate(self, host).next());
        env
    }

    /// The environment of a process in a `--pure` container: only `kept`
    /// of the host, and no default lists to keep reachable.
    pub fn apply_pure(&self, kept: &Env) -> Env {
        let mut env = kept.clone();
        for (k, dirs) in self.prepend.iter().filter(|(k, d)| usable(k) && !d.is_empty()) {
            let old = env.get(k).map(|v| v.0.clone());
            env.insert(k.clone(), Val(prepend_list(k, dirs, old.as_deref(), Defaults::None)));
        }
        for (k, v) in self.set.iter().filter(|(k, _)| usable(k)) {
            env.insert(k.clone(), Val::text(v));
        }
        env
    }
}

/// Apply `values` (`None`: unset) to `env`.
pub fn patch(env: &mut Env, values: impl IntoIterator<Item = (String, Option<Val>)>) {
    for (k, v) in values {
        match v {
            Some(v) => env.insert(k, v),
            None => env.remove(&k),
        };
    }
}

/// True for names every shell accepts as a variable name; anything else is
/// never printed, so a variable name cannot inject code.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(set: &[(&str, &str)], prepend: &[(&str, &[&str])]) -> ProjectState {
        ProjectState {
            root: "/p".into(),
            manifest: "/p/magnet.jsonnet".into(),
            files: vec![],
            env_id: "e1".into(),
            profile: "/store/envs-v1/e1".into(),
            set: set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            prepend: prepend
                .iter()
                .map(|(k, d)| (k.to_string(), d.iter().map(|s| s.to_string()).collect()))
                .collect(),
            ..Default::default()
        }
    }

    fn env(vars: &[(&str, &str)]) -> Env {
        vars.iter().map(|(k, v)| (k.to_string(), Val::text(v))).collect()
    }

    #[test]
    fn activate_then_revert_restores_exactly() {
        let before = env(&[("PATH", "/usr/bin:/bin"), ("FOO", "old"), ("KEEP", "x")]);
        let st = state(
            &[("FOO", "new value"), ("NEWVAR", "n\nl")],
            &[("PATH", &["/s/bin", "/s/sbin"]), ("MANPATH", &["/s/man"])],
        );
        let d = EnvDiff::activate(&st, &before);
        let mut inside = before.clone();
        patch(&mut inside, d.next());
        assert_eq!(inside["PATH"], Val::text("/s/bin:/s/sbin:/usr/bin:/bin"));
        assert_eq!(inside["MANPATH"], Val::text("/s/man:"), "the default man path kept");
        assert_eq!(inside["FOO"], Val::text("new value"));
        let mut after = inside.clone();
        patch(&mut after, d.revert(&inside));
        assert_eq!(after, before);
    }

    #[test]
    fn user_path_edits_inside_survive_leaving() {
        let before = env(&[("PATH", "/usr/bin:/bin")]);
        let d = EnvDiff::activate(&state(&[], &[("PATH", &["/s/bin"])]), &before);
        let mut inside = before.clone();
        patch(&mut inside, d.next());
        inside.insert("PATH".into(), Val::text("/mine:/s/bin:/usr/bin:/bin:/also"));
        let mut after = inside.clone();
        patch(&mut after, d.revert(&inside));
        assert_eq!(after["PATH"], Val::text("/mine:/usr/bin:/bin:/also"));
    }

    #[test]
    fn a_duplicate_entry_already_in_path_stays() {
        let before = env(&[("PATH", "/s/bin:/usr/bin")]);
        let d = EnvDiff::activate(&state(&[], &[("PATH", &["/s/bin"])]), &before);
        let mut inside = before.clone();
        patch(&mut inside, d.next());
        inside.insert("PATH".into(), Val::text("/x:/s/bin:/s/bin:/usr/bin"));
        assert_eq!(d.revert(&inside)["PATH"], Some(Val::text("/x:/s/bin:/usr/bin")));
    }

    #[test]
    fn no_empty_entry_is_added_to_path() {
        let d = EnvDiff::activate(&state(&[], &[("PATH", &["/s/bin"])]), &env(&[("PATH", "")]));
        assert_eq!(d.next()["PATH"], Some(Val::text("/s/bin")));
        let d = EnvDiff::activate(&state(&[], &[("PATH", &["/s/bin"])]), &Env::new());
        assert_eq!(d.next()["PATH"], Some(Val::text("/s/bin")));
    }

    #[test]
    fn unset_and_empty_previous_values_come_back() {
        let before = env(&[("EMPTY", "")]);
        let d = EnvDiff::activate(&state(&[], &[("EMPTY", &["/a"]), ("GONE", &["/b"])]), &before);
        let mut inside = before.clone();
        patch(&mut inside, d.next());
        assert_eq!(inside["EMPTY"], Val::text("/a"));
        // Edited by the user, then reverted: previous "unset"/"empty" kept.
        inside.insert("GONE".into(), Val::text("/b"));
        let r = d.revert(&inside);
        assert_eq!(r["EMPTY"], Some(Val::text("")));
        assert_eq!(r["GONE"], None);
    }

    #[test]
    fn reserved_and_invalid_names_are_never_set() {
        let d = EnvDiff::activate(
            &state(&[("MAGPKG_DIFF", "x"), ("A;B", "y"), ("OK", "z")], &[]),
            &Env::new(),
        );
        assert_eq!(d.next().keys().cloned().collect::<Vec<_>>(), vec!["OK"]);
    }

    #[test]
    fn encoding_round_trips_including_non_utf8() {
        let mut before = env(&[("PATH", "/bin")]);
        before.insert("ODD".into(), Val(vec![0xff, b'a', 0xfe]));
        let d = EnvDiff::activate(&state(&[("ODD", "now utf8 é")], &[("PATH", &["/x"])]), &before);
        let text = d.encode();
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(EnvDiff::decode(text.as_bytes()), Some(d));
        assert_eq!(EnvDiff::decode(b"garbage!"), None);
    }

    #[test]
    fn is_activation_of_compares_variables() {
        let st = state(&[("A", "1")], &[("PATH", &["/x"])]);
        let d = EnvDiff::activate(&st, &env(&[("PATH", "/bin")]));
        assert!(d.is_activation_of(&st));
        assert!(!d.is_activation_of(&state(&[("A", "2")], &[("PATH", &["/x"])])));
    }

    fn list(name: &str, entries: &[&str], old: Option<&str>, d: Defaults) -> String {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        String::from_utf8(prepend_list(name, &entries, old.map(str::as_bytes), d)).unwrap()
    }

    #[test]
    fn an_entry_already_on_the_list_moves_to_the_front() {
        assert_eq!(
            list("PATH", &["/s/bin"], Some("/usr/bin:/s/bin:/bin"), Defaults::Host),
            "/s/bin:/usr/bin:/bin"
        );
        assert_eq!(list("PATH", &["/a", "/b"], Some("/b:/a"), Defaults::Host), "/a:/b");
        assert_eq!(
            list("PATH", &["/a", "/a", ""], Some("/x"), Defaults::Host),
            "/a:/x",
            "each entry once"
        );
        // The caller's own duplicates and empty entries are not ours to fix.
        assert_eq!(list("PATH", &["/a"], Some("/x::/x"), Defaults::Host), "/a:/x::/x");
        assert_eq!(list("LIBRARY_PATH", &["/l"], Some("/l"), Defaults::Host), "/l");
    }

    #[test]
    fn another_spelling_of_an_entry_is_the_same_entry() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("proj/bin")).unwrap();
        std::os::unix::fs::symlink("proj", d.join("link")).unwrap();
        let ours = d.join("proj/bin").display().to_string();
        let at = |rel: &str| format!("{}/{rel}", d.display());
        for spelled in [
            at("proj/bin/"),
            at("proj//./bin"),
            at("link/bin"),
            at("link/../link/bin"),
        ] {
            let old = format!("/usr/bin:{spelled}:/bin");
            assert_eq!(
                list("PATH", &[&ours], Some(&old), Defaults::Host),
                format!("{ours}:/usr/bin:/bin"),
                "{spelled}"
            );
            // Edited inside, then left: the caller's spelling comes back.
            let before = env(&[("PATH", &old)]);
            let d = EnvDiff::activate(&state(&[], &[("PATH", &[&ours])]), &before);
            let edited = format!("/mine:{ours}:/usr/bin:/bin");
            assert_eq!(
                d.revert(&env(&[("PATH", &edited)]))["PATH"],
                Some(Val(format!("/mine:{spelled}:/usr/bin:/bin").into_bytes()))
            );
        }
        // A relative entry is another directory wherever the shell is.
        assert_eq!(
            list("PATH", &[&ours], Some("bin:/x"), Defaults::Host),
            format!("{ours}:bin:/x")
        );
        // Different directories stay apart.
        std::fs::create_dir_all(d.join("other/bin")).unwrap();
        let other = at("other/bin");
        assert_eq!(
            list("PATH", &[&ours], Some(&other), Defaults::Host),
            format!("{ours}:{other}")
        );
    }

    #[test]
    fn manpath_and_infopath_keep_the_default_list_on_the_host_only() {
        for var in ["MANPATH", "INFOPATH"] {
            assert_eq!(list(var, &["/m"], None, Defaults::Host), "/m:");
            assert_eq!(list(var, &["/m"], Some(""), Defaults::Host), "/m:");
            assert_eq!(
                list(var, &["/m"], None, Defaults::None),
                "/m",
                "a container has no default list"
            );
            assert_eq!(
                list(var, &["/m"], Some("/u"), Defaults::Host),
                "/m:/u",
                "the caller's choice stands"
            );
            assert_eq!(list(var, &["/m"], Some("/u:"), Defaults::Host), "/m:/u:");
        }
        assert_eq!(list("PATH", &["/s"], None, Defaults::Host), "/s");
        assert_eq!(list("PATH", &["/s"], Some(""), Defaults::Host), "/s");
    }

    #[test]
    fn leaving_after_an_edit_keeps_an_entry_the_caller_had() {
        let before = env(&[("PATH", "/usr/bin:/s/bin")]);
        let d = EnvDiff::activate(&state(&[], &[("PATH", &["/s/bin", "/new"])]), &before);
        let mut inside = before.clone();
        patch(&mut inside, d.next());
        assert_eq!(inside["PATH"], Val::text("/s/bin:/new:/usr/bin"));
        inside.insert("PATH".into(), Val::text("/mine:/s/bin:/new:/usr/bin"));
        assert_eq!(d.revert(&inside)["PATH"], Some(Val::text("/mine:/s/bin:/usr/bin")));
    }

    #[test]
    fn apply_is_the_activation_on_top_of_the_host() {
        let host = env(&[("PATH", "/p/bin:/usr/bin"), ("KEEP", "k")]);
        let st = state(
            &[("A", "1"), ("MAGPKG_DIFF", "no")],
            &[("PATH", &["/p/bin", "/e/bin"]), ("MANPATH", &["/e/man"])],
        );
        let got = st.apply(&host);
        assert_eq!(got["PATH"], Val::text("/p/bin:/e/bin:/usr/bin"));
        assert_eq!(got["MANPATH"], Val::text("/e/man:"));
        assert_eq!(got["A"], Val::text("1"));
        assert_eq!(got["KEEP"], Val::text("k"));
        assert!(!got.contains_key("MAGPKG_DIFF"), "reserved names are never set");
        let pure = st.apply_pure(&env(&[("HOME", "/h")]));
        assert_eq!(pure["PATH"], Val::text("/p/bin:/e/bin"));
        assert_eq!(pure["MANPATH"], Val::text("/e/man"));
        assert_eq!(pure["HOME"], Val::text("/h"));
    }
}
