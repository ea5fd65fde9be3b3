//! Typed reading of evaluated files: a value is deserialized with serde
//! (`deny_unknown_fields` on every struct), and a mistake becomes one kind
//! of message everywhere: the field's path, where the field is written
//! (`file:line:col`, found by [`super::locate`]) and, for an unknown field,
//! the closest known one.
//!
//! The config file, manifests' and packages' `oci` settings, builtins'
//! arguments and app files all read through [`read`], so "unknown field"
//! and "out of range" mean the same thing in each of them.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::locate::{self, Query};
use super::LoadedFile;

/// What was wrong with a value, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    /// Dotted path of the field (`mirrors.gnu`, `cmd[1]`), the unknown
    /// field's own name last; empty for the value itself.
    pub field: String,
    pub kind: MistakeKind,
    /// `file:line:col` of the field, when it is written in one of the files.
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MistakeKind {
    /// A field no struct has; `suggestion` is the closest known one.
    UnknownField {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    /// A value of the wrong type or out of range, in words.
    Invalid(String),
}

impl Mistake {
    /// The closest known field, for a `hint: did you mean`.
    pub fn suggestion(&self) -> Option<&str> {
        match &self.kind {
            MistakeKind::UnknownField { suggestion, .. } => suggestion.as_deref(),
            MistakeKind::Invalid(_) => None,
        }
    }
}

impl std::fmt::Display for Mistake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        match &self.kind {
            MistakeKind::UnknownField { .. } => write!(f, "unknown field `{}`", self.field),
            MistakeKind::Invalid(msg) if self.field.is_empty() => f.write_str(msg),
            MistakeKind::Invalid(msg) => write!(f, "`{}` {msg}", self.field),
        }
    }
}

/// Deserialize `value` as `T`. `files` are the files the value was
/// evaluated from (searched for the field's location only on a mistake).
pub fn read<T: DeserializeOwned>(value: &serde_json::Value, files: &[LoadedFile]) -> Result<T, Mistake> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        let kind = match parse_unknown_field(&message) {
            Some((name, known)) => MistakeKind::UnknownField {
                suggestion: crate::util::closest(&name, known.iter().map(String::as_str)),
                name,
                known,
            },
            None => MistakeKind::Invalid(reword(&message)),
        };
        // The path ends with the field (the unknown one, or the one whose
        // value is wrong); that name is what the source is searched for.
        let needle = last_segment(&field).to_string();
        let location = (!needle.is_empty())
            .then(|| {
                locate::find(
                    files,
                    &Query {
                        field: &needle,
                        package: None,
                        kind: None,
                        sibling: None,
                    },
                )
                .map(|f| f.location)
            })
            .flatten();
        Mistake { field, kind, location }
    })
}

/// The files to search for a value read from the local file `path`.
pub fn file_at(path: &Path) -> Vec<LoadedFile> {
    let code = std::fs::read_to_string(path).unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_default();
    vec![LoadedFile {
        display: super::display_path(path, &cwd),
        path: Some(path.to_path_buf()),
        code: code.into(),
    }]
}

fn last_segment(path: &str) -> &str {
    let s = path.rsplit('.').next().unwrap_or(path);
    s.split('[').next().unwrap_or(s)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`
/// or `b`", "expected `a`", "there are no fields").
fn parse_unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let known = rest.split('`').skip(1).step_by(2).map(str::to_string).collect();
    Some((name.to_string(), known))
}

/// serde's type names in words a user of the file knows.
fn reword(msg: &str) -> String {
    let mut out = msg.to_string();
    for (from, to) in [
        ("expected u8", "expected an integer from 0 to 255"),
        ("expected u16", "expected an integer from 0 to 65535"),
        ("expected u32", "expected an integer from 0 to 4294967295"),
        ("expected u64", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected i64", "expected an integer"),
        ("expected a boolean", "expected true or false"),
        ("invalid type: ", ""),
        ("invalid value: ", ""),
    ] {
        out = out.replace(from, to);
    }
    if out.starts_with("integer `")
        || out.starts_with("string ")
        || out.starts_with("map")
        || out.starts_with("sequence")
    {
        out = format!("must not be {out}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Conf {
        seed_port: Option<u16>,
        fetch_jobs: Option<usize>,
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        rw: Option<bool>,
    }

    fn files(code: &str) -> Vec<LoadedFile> {
        vec![LoadedFile {
            display: "config.jsonnet".into(),
            path: None,
            code: code.into(),
        }]
    }

    #[test]
    fn unknown_fields_are_located_and_suggested() {
        let code = "{\n  fetchJob: 3,\n}\n";
        let e = read::<Conf>(&serde_json::json!({ "fetchJob": 3 }), &files(code)).unwrap_err();
        assert_eq!(e.to_string(), "config.jsonnet:2:3: unknown field `fetchJob`");
        assert_eq!(e.suggestion(), Some("fetchJobs"));
        let e = read::<Conf>(&serde_json::json!({ "inner": { "ro": true } }), &[]).unwrap_err();
        assert_eq!(e.to_string(), "unknown field `inner.ro`");
        assert_eq!(e.suggestion(), Some("rw"));
    }

    #[test]
    fn out_of_range_numbers_are_errors_not_wrapped() {
        let code = "{ seedPort: 70000 }";
        let e = read::<Conf>(&serde_json::json!({ "seedPort": 70000 }), &files(code)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.jsonnet:1:3: `seedPort` must not be integer `70000`, expected an integer from 0 to 65535"
        );
        let e = read::<Conf>(&serde_json::json!({ "fetchJobs": "4" }), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`fetchJobs` must not be string \"4\", expected a non-negative integer"
        );
        let e = read::<Conf>(&serde_json::json!({ "inner": { "rw": 1 } }), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`inner.rw` must not be integer `1`, expected true or false"
        );
    }
}
