//! The project manifest (`magnet.jsonnet`), validated.
//!
//! The manifest is evaluated by [`crate::eval::evaluate_value`]; this module
//! checks the resulting JSON field by field and turns mistakes into errors
//! that point at the manifest's line and suggest the closest valid field.
//! See `doc/manifest.md` for the format.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::state::{Mount, PureConfig};
use super::EnvError;

/// The fields of a manifest, read with serde: an unknown field anywhere is
/// reported by the one typed-reading helper ([`crate::jsonnet::typed`]),
/// with the closest known field. The values keep their own checks below
/// (reserved variables, relative paths...), which serde cannot express.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Fields {
    name: Option<Value>,
    packages: Option<Value>,
    env: Option<Value>,
    path: Option<Value>,
    scripts: Option<Value>,
    shell_hook: Option<Value>,
    pure: Option<Value>,
    oci: Option<Value>,
}

/// Fields of `pure`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PureFields {
    mounts: Option<Value>,
    keep_env: Option<Value>,
}

/// Fields of an object in `pure.mounts`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MountFields {
    src: Option<Value>,
    dst: Option<Value>,
    rw: Option<Value>,
}

/// The placeholder for the project root in `env` values (and the variable
/// magpkg sets to it).
pub const ROOT_VAR: &str = "MAGPKG_PROJECT_ROOT";

/// Variables magpkg sets itself; a manifest may not set them.
pub const RESERVED_VARS: &[&str] = &["PATH", "MAGPKG_ENV", "MAGPKG_ENV_ID", ROOT_VAR];

/// A validated manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    /// Display name (`MAGPKG_ENV`, the shell prompt).
    pub name: Option<String>,
    /// Package definitions, as evaluated (a list, or an object of them).
    pub packages: Value,
    /// Variables; values may contain `$MAGPKG_PROJECT_ROOT`.
    pub env: BTreeMap<String, String>,
    /// Project-relative directories prepended to `PATH`, normalised
    /// (`./scripts/` → `scripts`).
    pub path: Vec<String>,
    /// Named commands (`magpkg run NAME`): POSIX sh scripts.
    pub scripts: BTreeMap<String, String>,
    /// POSIX sh run by interactive `magpkg shell`.
    pub shell_hook: Option<String>,
    /// What `--pure` lets through from the host, paths resolved.
    pub pure: PureConfig,
    /// Free-form OCI image settings (read by `magpkg oci --env`).
    pub oci: Option<Value>,
}

/// Where a mistake is: the manifest and the key to look for.
struct Ctx<'a> {
    manifest: &'a Path,
    root: &'a Path,
    text: std::cell::OnceCell<String>,
}

impl Ctx<'_> {
    /// Read `value` (at `at`, a dotted path, empty for the manifest itself)
    /// as `T`; an unknown field is named with its path and line, and the
    /// closest known field is suggested.
    fn fields<T: DeserializeOwned>(&self, at: &str, value: &Value) -> Result<T, EnvError> {
        crate::jsonnet::typed::read::<T>(value, &[]).map_err(|m| {
            use crate::jsonnet::typed::MistakeKind;
            let field = if at.is_empty() || m.field.is_empty() {
                format!("{at}{}", m.field)
            } else {
                format!("{at}.{}", m.field)
            };
            let key = field.rsplit('.').next().unwrap_or(&field).to_string();
            match m.kind {
                MistakeKind::UnknownField {
                    name,
                    suggestion,
                    known,
                } => {
                    let whose = if at.is_empty() {
                        "a manifest".to_string()
                    } else {
                        format!("`{at}`")
                    };
                    self.err(
                        &name,
                        format!("unknown field `{field}`"),
                        suggestion,
                        Some(format!("{whose} has the fields {}", known.join(", "))),
                    )
                }
                MistakeKind::Invalid(msg) => self.err(&key, format!("`{field}` {msg}"), None, None),
            }
        })
    }

    /// An error at the line where `key` is written in the manifest (when it
    /// is written there at all: it may come from an imported file).
    fn err(&self, key: &str, message: String, suggestion: Option<String>, hint: Option<String>) -> EnvError {
        let text = self
            .text
            .get_or_init(|| std::fs::read_to_string(self.manifest).unwrap_or_default());
        EnvError::Manifest {
            path: self.manifest.to_path_buf(),
            line: find_key_line(text, key),
            message,
            suggestion,
            hint,
        }
    }
}

/// Validate an evaluated manifest of the project at `root`.
pub fn parse(value: &Value, manifest: &Path, root: &Path) -> Result<Manifest, EnvError> {
    let cx = Ctx {
        manifest,
        root,
        text: Default::default(),
    };
    if !value.is_object() {
        return Err(cx.err(
            "",
            format!("the manifest must evaluate to an object, not {}", kind(value)),
            None,
            Some("start from `magpkg init`, or see doc/manifest.md".into()),
        ));
    }
    let f: Fields = cx.fields("", value)?;
    let mut m = Manifest::default();
    if let Some(v) = &f.name {
        let s = v
            .as_str()
            .ok_or_else(|| cx.err("name", format!("`name` must be a string, not {}", kind(v)), None, None))?;
        if s.is_empty() || s.contains(['\n', '/']) {
            return Err(cx.err(
                "name",
                format!("`name` {s:?} must be a non-empty single word"),
                None,
                None,
            ));
        }
        m.name = Some(s.to_string());
    }
    m.packages = match &f.packages {
        None => Value::Array(vec![]),
        Some(v @ (Value::Array(_) | Value::Object(_))) => v.clone(),
        Some(v) => {
            return Err(cx.err(
                "packages",
                format!("`packages` must be a list of package definitions, not {}", kind(v)),
                None,
                Some("e.g. `packages: [pkgs.hello]` with `local pkgs = import \"magnet/packages.jsonnet\";`".into()),
            ))
        }
    };
    if let Some(v) = &f.env {
        m.env = parse_env(&cx, v)?;
    }
    if let Some(v) = &f.path {
        m.path = parse_path(&cx, v)?;
    }
    if let Some(v) = &f.scripts {
        m.scripts = parse_scripts(&cx, v)?;
    }
    if let Some(v) = &f.shell_hook {
        let text = script_text(v).map_err(|k| {
            cx.err(
                "shellHook",
                format!("`shellHook` must be a string or a list of strings, not {k}"),
                None,
                None,
            )
        })?;
        m.shell_hook = Some(text).filter(|t| !t.trim().is_empty());
    }
    if let Some(v) = &f.pure {
        m.pure = parse_pure(&cx, v)?;
    }
    m.oci = f.oci;
    if let Some(oci) = &m.oci {
        if !oci.is_object() {
            return Err(cx.err("oci", format!("`oci` must be an object, not {}", kind(oci)), None, None));
        }
    }
    Ok(m)
}

/// `env`: variable names checked, reserved ones refused, scalars as text.
fn parse_env(cx: &Ctx, v: &Value) -> Result<BTreeMap<String, String>, EnvError> {
    let mut out = BTreeMap::new();
    let env = v.as_object().ok_or_else(|| {
        cx.err(
            "env",
            format!("`env` must be an object of variables, not {}", kind(v)),
            None,
            None,
        )
    })?;
    for (name, val) in env {
        if !is_var_name(name) {
            return Err(cx.err(name, format!("env: `{name}` is not a valid variable name"), None, None));
        }
        if RESERVED_VARS.contains(&name.as_str()) {
            let hint = if name == "PATH" {
                "add directories to PATH with `path: [\"./bin\"]`, or put tools in `packages`".to_string()
            } else {
                format!("magpkg sets `{name}` itself")
            };
            return Err(cx.err(name, format!("env: `{name}` cannot be set here"), None, Some(hint)));
        }
        let s = match val {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(cx.err(
                    name,
                    format!("env: `{name}` must be a string, not {}", kind(other)),
                    None,
                    None,
                ))
            }
        };
        out.insert(name.clone(), s);
    }
    Ok(out)
}

/// `path`: project-relative directories, normalised, each once.
fn parse_path(cx: &Ctx, v: &Value) -> Result<Vec<String>, EnvError> {
    let mut out: Vec<String> = Vec::new();
    let items = v.as_array().ok_or_else(|| {
        cx.err(
            "path",
            format!("`path` must be a list of directories, not {}", kind(v)),
            None,
            None,
        )
    })?;
    for item in items {
        let s = item.as_str().ok_or_else(|| {
            cx.err(
                "path",
                format!("`path` entries must be strings, not {}", kind(item)),
                None,
                None,
            )
        })?;
        let norm = normalize_relative(s).ok_or_else(|| {
            cx.err(
                "path",
                format!("`path` entry {s:?} must be a directory relative to the project root"),
                None,
                Some("host directories are not reproducible; put the tools in `packages`".into()),
            )
        })?;
        if !out.contains(&norm) {
            out.push(norm);
        }
    }
    Ok(out)
}

/// `scripts`: NAME: script (a string, or a list of lines).
fn parse_scripts(cx: &Ctx, v: &Value) -> Result<BTreeMap<String, String>, EnvError> {
    let mut out = BTreeMap::new();
    let scripts = v.as_object().ok_or_else(|| {
        cx.err(
            "scripts",
            format!("`scripts` must be an object of NAME: \"command\", not {}", kind(v)),
            None,
            None,
        )
    })?;
    for (name, body) in scripts {
        out.insert(
            name.clone(),
            script_text(body).map_err(|k| {
                cx.err(
                    name,
                    format!("scripts: `{name}` must be a string or a list of strings, not {k}"),
                    None,
                    None,
                )
            })?,
        );
    }
    Ok(out)
}

fn parse_pure(cx: &Ctx, v: &Value) -> Result<PureConfig, EnvError> {
    if !v.is_object() {
        return Err(cx.err(
            "pure",
            format!("`pure` must be an object {{ mounts, keepEnv }}, not {}", kind(v)),
            None,
            None,
        ));
    }
    let f: PureFields = cx.fields("pure", v)?;
    let mut out = PureConfig::default();
    if let Some(v) = &f.mounts {
        let items = v.as_array().ok_or_else(|| {
            cx.err(
                "mounts",
                format!("`pure.mounts` must be a list, not {}", kind(v)),
                None,
                None,
            )
        })?;
        for (i, item) in items.iter().enumerate() {
            out.mounts.push(parse_mount(cx, i, item)?);
        }
    }
    if let Some(v) = &f.keep_env {
        let items = v.as_array().ok_or_else(|| {
            cx.err(
                "keepEnv",
                format!("`pure.keepEnv` must be a list of variable names, not {}", kind(v)),
                None,
                None,
            )
        })?;
        for item in items {
            match item.as_str() {
                Some(s) if is_var_name(s) => out.keep_env.push(s.to_string()),
                _ => {
                    return Err(cx.err(
                        "keepEnv",
                        format!("`pure.keepEnv` entry {item} is not a variable name"),
                        None,
                        None,
                    ))
                }
            }
        }
    }
    Ok(out)
}

fn parse_mount(cx: &Ctx, index: usize, item: &Value) -> Result<Mount, EnvError> {
    let bad = |msg: String| cx.err("mounts", msg, None, None);
    let (src, dst, rw) = match item {
        Value::String(s) => (s.clone(), None, false),
        Value::Object(_) => {
            let o: MountFields = cx.fields(&format!("pure.mounts[{index}]"), item)?;
            let src = o
                .src
                .as_ref()
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a `pure.mounts` entry needs `src` (a path)".into()))?;
            let dst = match &o.dst {
                None => None,
                Some(Value::String(d)) => Some(d.clone()),
                Some(other) => return Err(bad(format!("`dst` must be a path, not {}", kind(other)))),
            };
            let rw = match &o.rw {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => return Err(bad(format!("`rw` must be true or false, not {}", kind(other)))),
            };
            (src.to_string(), dst, rw)
        }
        other => {
            return Err(bad(format!(
                "a `pure.mounts` entry must be a path or {{ src, dst, rw }}, not {}",
                kind(other)
            )))
        }
    };
    let src = resolve_host_path(&src, cx.root);
    let dst = match dst {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => return Err(bad(format!("`dst` {d:?} must be an absolute path"))),
        None => src.clone(),
    };
    Ok(Mount { src, dst, rw })
}

/// `~/x` → `$HOME/x`; relative → under the project root.
fn resolve_host_path(p: &str, root: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    root.join(p)
}

/// A script is a string, or a list of lines.
fn script_text(v: &Value) -> Result<String, &'static str> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().ok_or(kind(i)))
            .collect::<Result<Vec<_>, _>>()
            .map(|lines| lines.join("\n")),
        other => Err(kind(other)),
    }
}

/// `./scripts/` → `scripts`, `a/./b` → `a/b`; `None` for an absolute path.
pub fn normalize_relative(p: &str) -> Option<String> {
    let path = Path::new(p);
    if path.is_absolute() || p.starts_with('~') {
        return None;
    }
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(if parts.is_empty() { ".".into() } else { parts.join("/") })
}

pub fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Replace `$MAGPKG_PROJECT_ROOT` and `${MAGPKG_PROJECT_ROOT}` in a value.
pub fn expand_root(value: &str, root: &Path) -> String {
    let root = root.to_string_lossy();
    value
        .replace(&format!("${{{ROOT_VAR}}}"), &root)
        .replace(&format!("${ROOT_VAR}"), &root)
}

/// The 1-based line where `key` is written as an object field (`key:`,
/// `"key":`, `'key'::`, `key+:`) in Jsonnet source, if anywhere. The
/// evaluated JSON has no positions, so this finds the field in the text.
pub fn find_key_line(text: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let bytes = code.as_bytes();
        let mut from = 0;
        while let Some(pos) = code[from..].find(key) {
            let start = from + pos;
            let end = start + key.len();
            from = end;
            let before = start.checked_sub(1).map(|i| bytes[i]);
            let ident = |b: u8| b == b'_' || b.is_ascii_alphanumeric();
            if before.is_some_and(ident) || bytes.get(end).copied().is_some_and(ident) {
                continue;
            }
            let mut rest = &code[end..];
            if let Some(q @ (b'"' | b'\'')) = before {
                if !rest.starts_with(q as char) {
                    continue;
                }
                rest = &rest[1..];
            }
            let rest = rest.trim_start();
            if rest.starts_with(':') || rest.starts_with("+:") {
                return Some(n + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_text(text: &str, value: Value) -> Result<Manifest, EnvError> {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("magnet.jsonnet");
        std::fs::write(&m, text).unwrap();
        parse(&value, &m, Path::new("/proj"))
    }

    #[test]
    fn full_manifest_parses() {
        let v = json!({
            "name": "demo",
            "packages": [],
            "env": {"GREETING": "hi", "PORT": 8080, "DATA": "$MAGPKG_PROJECT_ROOT/data"},
            "path": ["./scripts/", "bin", "scripts"],
            "scripts": {"test": "make test", "multi": ["a", "b"]},
            "shellHook": "echo welcome",
            "pure": {"mounts": ["/etc/ssl", "data", {"src": "~/.cache", "dst": "/cache", "rw": true}], "keepEnv": ["SSH_AUTH_SOCK"]},
            "oci": {"cmd": ["hello"]},
        });
        let m = parse_text("{}", v).unwrap();
        assert_eq!(m.name.as_deref(), Some("demo"));
        assert_eq!(m.env["PORT"], "8080");
        assert_eq!(m.path, vec!["scripts", "bin"], "normalised and deduplicated");
        assert_eq!(m.scripts["multi"], "a\nb");
        assert_eq!(m.shell_hook.as_deref(), Some("echo welcome"));
        assert_eq!(m.pure.mounts[0].src, Path::new("/etc/ssl"));
        assert_eq!(m.pure.mounts[1].src, Path::new("/proj/data"));
        assert_eq!(m.pure.mounts[2].dst, Path::new("/cache"));
        assert!(m.pure.mounts[2].rw);
        assert_eq!(m.pure.keep_env, vec!["SSH_AUTH_SOCK"]);
        assert_eq!(m.oci, Some(json!({"cmd": ["hello"]})));
    }

    #[test]
    fn unknown_field_names_the_line_and_suggests() {
        let text = "local pkgs = {};\n{\n  packages: [],\n  shelHook: 'echo',\n}\n";
        let err = parse_text(text, json!({"packages": [], "shelHook": "echo"})).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("magnet.jsonnet:4: unknown field `shelHook`"), "{msg}");
        assert_eq!(crate::error::Classify::hint(&err).unwrap(), "did you mean `shellHook`?");
        assert!(crate::error::Classify::is_user_error(&err));
        let err = parse_text("{ pure: {\n mount: [] } }", json!({"pure": {"mount": []}})).unwrap_err();
        assert!(err.to_string().contains(":2: unknown field `pure.mount`"), "{err}");
        assert_eq!(crate::error::Classify::hint(&err).unwrap(), "did you mean `mounts`?");
        let text = "{ pure: { mounts: [\n  { src: '/x',\n    dest: '/y' } ] } }";
        let err = parse_text(text, json!({"pure": {"mounts": [{"src": "/x", "dest": "/y"}]}})).unwrap_err();
        assert!(
            err.to_string().contains(":3: unknown field `pure.mounts[0].dest`"),
            "{err}"
        );
        assert_eq!(crate::error::Classify::hint(&err).unwrap(), "did you mean `dst`?");
        // Without a close name, the hint lists the fields.
        let err = parse_text("{ zzz: 1 }", json!({"zzz": 1})).unwrap_err();
        let hint = crate::error::Classify::hint(&err).unwrap();
        assert!(
            hint.starts_with("a manifest has the fields name, packages, env"),
            "{hint}"
        );
    }

    #[test]
    fn type_errors_are_clear() {
        for (v, want) in [
            (json!([]), "must evaluate to an object"),
            (json!({"packages": "hello"}), "`packages` must be a list"),
            (json!({"env": {"A": [1]}}), "env: `A` must be a string, not a list"),
            (json!({"env": {"PATH": "/x"}}), "env: `PATH` cannot be set"),
            (json!({"env": {"1A": "x"}}), "not a valid variable name"),
            (json!({"path": ["/usr/bin"]}), "relative to the project root"),
            (json!({"scripts": {"t": 1}}), "scripts: `t` must be a string"),
            (json!({"pure": {"mounts": [{"dst": "/x"}]}}), "needs `src`"),
            (
                json!({"pure": {"mounts": [{"src": "/x", "dst": "rel"}]}}),
                "must be an absolute path",
            ),
        ] {
            let err = parse_text("{}", v).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn key_lines_are_found_in_jsonnet_source() {
        let text = "{\n  // shellHook: in a comment\n  env: {\n    \"FOO\": 'x',\n    BAR+: 'y',\n  },\n  foo_bar: 1,\n  'q'  :: 2,\n}";
        assert_eq!(find_key_line(text, "env"), Some(3));
        assert_eq!(find_key_line(text, "FOO"), Some(4));
        assert_eq!(find_key_line(text, "BAR"), Some(5));
        assert_eq!(find_key_line(text, "foo"), None, "part of another identifier");
        assert_eq!(find_key_line(text, "q"), Some(8));
        assert_eq!(find_key_line(text, "shellHook"), None, "comments are skipped");
    }

    #[test]
    fn project_root_is_expanded_in_both_spellings() {
        let root = Path::new("/home/me/proj");
        assert_eq!(
            expand_root("$MAGPKG_PROJECT_ROOT/a:${MAGPKG_PROJECT_ROOT}/b:$HOME", root),
            "/home/me/proj/a:/home/me/proj/b:$HOME"
        );
    }
}
