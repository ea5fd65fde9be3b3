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
                Some(dirs) => {
                    let mut value = dirs.join(":").into_bytes();
                    match base.filter(|b| !b.0.is_empty()) {
                        Some(base) => {
                            value.push(b':');
                            value.extend(base.0);
                        }
                        // In MANPATH and INFOPATH an empty entry stands for
                        // the system's default list, which must stay searched.
                        None if default_list(k) => value.push(b':'),
                        // Anywhere else never add an empty entry: in PATH it
                        // would mean "the current directory".
                        None => {}
                    }
                    Some(Val(value))
                }
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
    /// only the entries the activation added are removed.
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
                            let rest = remove_entries(&cur.0, added);
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

/// `value` split on `:` with the first occurrence of each of `added`
/// removed.
fn remove_entries(value: &[u8], added: &[String]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = value.split(|&b| b == b':').collect();
    for a in added {
        if let Some(i) = parts.iter().position(|p| *p == a.as_bytes()) {
            parts.remove(i);
        }
    }
    parts.join(&b':')
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

    /// Apply `values` (None = unset) to `env`.
    fn patch(env: &mut Env, values: &BTreeMap<String, Option<Val>>) {
        for (k, v) in values {
            match v {
                Some(v) => env.insert(k.clone(), v.clone()),
                None => env.remove(k),
            };
        }
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
        patch(&mut inside, &d.next());
        assert_eq!(inside["PATH"], Val::text("/s/bin:/s/sbin:/usr/bin:/bin"));
        assert_eq!(inside["MANPATH"], Val::text("/s/man:"), "the default man path kept");
        assert_eq!(inside["FOO"], Val::text("new value"));
        let mut after = inside.clone();
        patch(&mut after, &d.revert(&inside));
        assert_eq!(after, before);
    }

    #[test]
    fn user_path_edits_inside_survive_leaving() {
        let before = env(&[("PATH", "/usr/bin:/bin")]);
        let d = EnvDiff::activate(&state(&[], &[("PATH", &["/s/bin"])]), &before);
        let mut inside = before.clone();
        patch(&mut inside, &d.next());
        inside.insert("PATH".into(), Val::text("/mine:/s/bin:/usr/bin:/bin:/also"));
        let mut after = inside.clone();
        patch(&mut after, &d.revert(&inside));
        assert_eq!(after["PATH"], Val::text("/mine:/usr/bin:/bin:/also"));
    }

    #[test]
    fn a_duplicate_entry_already_in_path_stays() {
        let before = env(&[("PATH", "/s/bin:/usr/bin")]);
        let d = EnvDiff::activate(&state(&[], &[("PATH", &["/s/bin"])]), &before);
        let mut inside = before.clone();
        patch(&mut inside, &d.next());
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
        patch(&mut inside, &d.next());
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
}
