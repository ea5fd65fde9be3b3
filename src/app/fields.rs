//! The two app files as typed structs: an `MPKG` ([`MpkgFile`], its
//! `content` entries [`EntryFile`]) and a `.mpkg` ([`SettingsFile`]),
//! read through [`crate::jsonnet::typed`] like every other file magpkg
//! reads (`deny_unknown_fields`, the field's path in messages, the closest
//! known field for a typo).
//!
//! One rule differs, because the format says so: an unknown key is kept
//! and warned about, never an error. [`read`] therefore takes each unknown
//! field serde reports off the value, records it, and reads again, so the
//! structs stay the one list of known keys.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::jsonnet::typed::{self, Mistake, MistakeKind};
use crate::jsonnet::LoadedFile;

/// A text value; numbers are taken as text (`version = 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

/// `'1'`/`'0'`, `True`/`False`, `1`/`0`, `None` (false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

/// A comma-separated string (the seed's form) or a list of strings, each
/// of which may hold several names separated by commas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

/// Like [`Names`], but a list's items are taken whole (a path may hold a
/// comma).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths(pub Vec<String>);

/// `content`: a list of entries, or one entry written as a dict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Content(pub Vec<EntryFile>);

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpkgFile {
    #[serde(default)]
    pub version: Option<Text>,
    #[serde(default)]
    pub compatible_100: Option<Flag>,
    #[serde(default)]
    pub content: Option<Content>,
    /// Written by magpkg: where the variant came from.
    #[serde(default)]
    pub origin: Option<Text>,
    /// Written by magpkg for an AppImage: its update information
    /// (`zsync|URL`, `gh-releases-zsync|...`).
    #[serde(default)]
    pub update_info: Option<Text>,
    /// Written by magpkg for an AppImage: the SHA-1 of the file (what a
    /// zsync control file names).
    #[serde(default)]
    pub appimage_sha1: Option<Text>,
    /// Written by magpkg for an AppImage: its embedded signature as checked
    /// at install (`valid FINGERPRINT SIGNER`, `invalid REASON`, ...).
    #[serde(default)]
    pub signature: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFile {
    #[serde(default)]
    pub name: Option<Text>,
    #[serde(default)]
    pub file: Option<Text>,
    #[serde(default)]
    pub args: Option<Text>,
    #[serde(default, rename = "type")]
    pub kind: Option<Text>,
    #[serde(default)]
    pub os: Option<Text>,
    #[serde(default)]
    pub architecture: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    #[serde(default)]
    pub run_default: Option<Text>,
    #[serde(default)]
    pub prefered_variants: Option<Names>,
    /// The correctly spelled alias of the seed's `prefered_variants`.
    #[serde(default)]
    pub preferred_variants: Option<Names>,
    #[serde(default)]
    pub disabled_variants: Option<Names>,
    #[serde(default)]
    pub add_to_path: Option<Names>,
    #[serde(default)]
    pub add_to_apps: Option<Names>,
    #[serde(default)]
    pub notes: Option<Text>,
    #[serde(default)]
    pub display_name: Option<Text>,
    #[serde(default)]
    pub icon: Option<Text>,
    #[serde(default)]
    pub sandbox: Option<Flag>,
    #[serde(default)]
    pub sandbox_read: Option<Paths>,
    #[serde(default)]
    pub sandbox_write: Option<Paths>,
}

/// What a value is, in the words of the file's format.
fn kind_of(u: de::Unexpected) -> &'static str {
    match u {
        de::Unexpected::Bool(_) => "a boolean",
        de::Unexpected::Seq => "a list",
        de::Unexpected::Map => "a dict",
        de::Unexpected::Str(_) => "a string",
        de::Unexpected::Float(_) => "a number",
        de::Unexpected::Signed(_) | de::Unexpected::Unsigned(_) => "an integer",
        _ => "something else",
    }
}

/// A visitor error in the format's words: "must be X, not a list".
fn wrong<E: de::Error>(expected: &str, got: de::Unexpected) -> E {
    E::custom(format!("must be {expected}, not {}", kind_of(got)))
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Err(wrong("a string", de::Unexpected::Bool(v)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Text, A::Error> {
                Err(wrong("a string", de::Unexpected::Seq))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Text, A::Error> {
                Err(wrong("a string", de::Unexpected::Map))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let b = match &v {
            serde_json::Value::Bool(b) => Some(*b),
            serde_json::Value::Number(n) => n.as_f64().map(|x| x != 0.0),
            serde_json::Value::Null => Some(false),
            serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" | "" => Some(false),
                _ => None,
            },
            _ => None,
        };
        let shown = match &v {
            serde_json::Value::String(s) => format!("{s:?}"),
            serde_json::Value::Array(_) => "a list".into(),
            serde_json::Value::Object(_) => "a dict".into(),
            other => other.to_string(),
        };
        b.map(Flag)
            .ok_or_else(|| de::Error::custom(format!("must be '1' or '0' (or True/False), not {shown}")))
    }
}

fn split(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// A string or a list of strings, as (was it a list, the strings).
fn string_or_list<'de, D: Deserializer<'de>>(d: D, what: &str) -> Result<(bool, Vec<String>), D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::String(s) => Ok((false, vec![s])),
        serde_json::Value::Null => Ok((false, Vec::new())),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|it| match it {
                serde_json::Value::String(s) => Ok(s),
                other => Err(de::Error::custom(format!(
                    "must list {what} as strings, found {}",
                    json_kind(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| (true, v)),
        other => Err(de::Error::custom(format!(
            "must be a comma-separated string or a list, not {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "None",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a number",
        serde_json::Value::Number(_) => "an integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a dict",
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (_, v) = string_or_list(d, "names")?;
        Ok(Names(v.iter().flat_map(|s| split(s)).collect()))
    }
}

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (list, v) = string_or_list(d, "paths")?;
        Ok(Paths(if list {
            v.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        } else {
            v.iter().flat_map(|s| split(s)).collect()
        }))
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Untyped first, so each item is read by `EntryFile` itself (with
        // its index in the path of a mistake).
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Null => Ok(Content(Vec::new())),
            serde_json::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, it)| entry(it).map_err(|m| de::Error::custom(format!("[{i}]{m}"))))
                .collect::<Result<Vec<_>, _>>()
                .map(Content),
            one @ serde_json::Value::Object(_) => entry(one)
                .map(|e| Content(vec![e]))
                .map_err(|m| de::Error::custom(format!("[0]{m}"))),
            other => Err(de::Error::custom(format!(
                "must be a list of dicts, not {}",
                json_kind(&other)
            ))),
        }
    }
}

/// One `content` item; a mistake comes back as `.field message` (or
/// ` message` for the item itself), to be appended to `content[i]`.
fn entry(v: serde_json::Value) -> Result<EntryFile, String> {
    if !v.is_object() {
        return Err(format!(
            " must be a dict like {{'name': ..., 'file': ...}}, not {}",
            json_kind(&v)
        ));
    }
    typed::read::<EntryFile>(&v, &[]).map_err(|m| match m.kind {
        MistakeKind::UnknownField { .. } => format!(".{} is unknown", m.field),
        MistakeKind::Invalid(msg) => format!(".{} {msg}", m.field),
    })
}

/// An unknown key taken off the value: its path (`licence`,
/// `content[0].icon`), its value and the closest known key.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    pub path: String,
    pub value: serde_json::Value,
    pub suggestion: Option<String>,
}

/// A wrong value: the path of the field (`version`, `content[1].args`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrong {
    pub path: String,
    pub message: String,
    /// `file:line:col`, for a value read from Jsonnet.
    pub location: Option<String>,
}

/// Read `value` as `T`; unknown keys (at the top and in `content` items)
/// are taken off and returned, the rest must fit.
pub fn read<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
    files: &[LoadedFile],
) -> Result<(T, Vec<Unknown>), Wrong> {
    let mut unknown = Vec::new();
    // Each round takes one unknown key off; a file has only so many.
    loop {
        // Unknown keys of entries first: `Content` reports them as
        // messages, the top-level struct as unknown fields.
        if let Some(u) = take_unknown_entry_key(&mut value) {
            unknown.push(u);
            continue;
        }
        match typed::read::<T>(&value, files) {
            Ok(t) => return Ok((t, unknown)),
            Err(Mistake {
                field,
                kind: MistakeKind::UnknownField { name, suggestion, .. },
                ..
            }) if !field.contains(['.', '[']) => {
                let v = value
                    .as_object_mut()
                    .and_then(|o| o.shift_remove(&name))
                    .unwrap_or_default();
                unknown.push(Unknown {
                    path: name,
                    value: v,
                    suggestion,
                });
            }
            Err(m) => {
                // `Content` puts the item's path in front of its message.
                let (path, message) = match &m.kind {
                    MistakeKind::Invalid(msg) if msg.starts_with('[') => {
                        let (p, rest) = msg.split_once(' ').unwrap_or((msg, ""));
                        (format!("{}{p}", m.field), rest.to_string())
                    }
                    MistakeKind::Invalid(msg) => (m.field.clone(), msg.clone()),
                    MistakeKind::UnknownField { .. } => (m.field.clone(), "is unknown".into()),
                };
                return Err(Wrong {
                    path,
                    message,
                    location: m.location,
                });
            }
        }
    }
}

/// The first key of a `content` item that [`EntryFile`] does not know.
fn take_unknown_entry_key(value: &mut serde_json::Value) -> Option<Unknown> {
    let content = value.get_mut("content")?;
    let items: Vec<&mut serde_json::Map<String, serde_json::Value>> = match content {
        serde_json::Value::Array(a) => a.iter_mut().filter_map(|v| v.as_object_mut()).collect(),
        serde_json::Value::Object(o) => vec![o],
        _ => return None,
    };
    let known = known_fields::<EntryFile>();
    for (i, o) in items.into_iter().enumerate() {
        if let Some(k) = o.keys().find(|k| !known.iter().any(|n| n == *k)).cloned() {
            let v = o.shift_remove(&k).unwrap_or_default();
            return Some(Unknown {
                suggestion: crate::util::closest(&k, known.iter().map(String::as_str)),
                path: format!("content[{i}].{k}"),
                value: v,
            });
        }
    }
    None
}

/// The keys a struct knows, from serde itself: reading a key no struct
/// has lists them.
pub fn known_fields<T: serde::de::DeserializeOwned>() -> Vec<String> {
    let probe = serde_json::json!({ "\u{0}": null });
    match typed::read::<T>(&probe, &[]) {
        Err(Mistake {
            kind: MistakeKind::UnknownField { known, .. },
            ..
        }) => known,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_fields_come_from_the_structs() {
        assert_eq!(
            known_fields::<EntryFile>(),
            ["name", "file", "args", "type", "os", "architecture"]
        );
        assert!(known_fields::<SettingsFile>().contains(&"sandbox_write".to_string()));
    }

    #[test]
    fn unknown_keys_are_taken_off_and_values_read() {
        let v = json!({
            "version": 2,
            "licence": "MIT",
            "compatible_100": "1",
            "content": [{"name": "a", "file": "x", "icon": "i.png"}, {"file": "y", "os": ""}],
        });
        let (m, unknown) = read::<MpkgFile>(v, &[]).unwrap();
        assert_eq!(m.version, Some(Text("2".into())));
        assert_eq!(m.compatible_100, Some(Flag(true)));
        assert_eq!(m.content.as_ref().unwrap().0.len(), 2);
        let paths: Vec<_> = unknown.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(paths, ["content[0].icon", "licence"]);
        assert_eq!(unknown[1].suggestion, None);
    }

    #[test]
    fn wrong_values_name_their_path() {
        let e = read::<MpkgFile>(json!({"version": [1]}), &[]).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("version", "must be a string, not a list")
        );
        let e = read::<MpkgFile>(
            json!({"content": [{"file": "x"}, {"file": "y", "args": {"a": 1}}]}),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("content[1].args", "must be a string, not a dict")
        );
        let e = read::<MpkgFile>(json!({"content": ["x"]}), &[]).unwrap_err();
        assert_eq!(e.path, "content[0]");
        assert!(e.message.starts_with("must be a dict like"), "{}", e.message);
        let e = read::<SettingsFile>(json!({"sandbox": "maybe"}), &[]).unwrap_err();
        assert_eq!(e.message, "must be '1' or '0' (or True/False), not \"maybe\"");
        let e = read::<SettingsFile>(json!({"add_to_path": ["a", 1]}), &[]).unwrap_err();
        assert_eq!(e.message, "must list names as strings, found an integer");
        let (s, _) =
            read::<SettingsFile>(json!({"sandbox_read": ["/a,b", "~/c"], "add_to_path": "x, y"}), &[]).unwrap();
        assert_eq!(s.sandbox_read.unwrap().0, ["/a,b", "~/c"]);
        assert_eq!(s.add_to_path.unwrap().0, ["x", "y"]);
    }
}
