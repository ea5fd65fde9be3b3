//! The `oci` field of a package definition or a manifest, and the image
//! configuration made from it.
//!
//! ```jsonnet
//! oci: {
//!   entrypoint: ["hello"],          // or a string: one argument
//!   cmd: ["--greeting", "hi"],
//!   env: { LANG: "C.UTF-8" },       // or ["LANG=C.UTF-8"]
//!   workdir: "/work",
//!   user: "app",                    // NAME[:GROUP] or UID[:GID]: /etc/passwd and /etc/group made
//!   volumes: ["/data"],
//!   copy: ["config", "static/index.html"], // project files, at /magpkg/project/<entry> (--env)
//!   caCertificates: true,           // the host's CA bundle, or a file's path
//!   exposedPorts: [8080, "53/udp"],
//!   labels: { "org.example.team": "infra" },
//! }
//! ```

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::OciError;

/// The keys `oci` may have.
pub const KEYS: &[&str] = &[
    "entrypoint",
    "cmd",
    "env",
    "workdir",
    "user",
    "exposedPorts",
    "labels",
    "volumes",
    "caCertificates",
    "copy",
];

/// The fields `oci` may have (their values are checked one by one below).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Fields {
    entrypoint: Option<Value>,
    cmd: Option<Value>,
    env: Option<Value>,
    workdir: Option<Value>,
    user: Option<Value>,
    exposed_ports: Option<Value>,
    labels: Option<Value>,
    volumes: Option<Value>,
    ca_certificates: Option<Value>,
    copy: Option<Value>,
}

/// Parsed `oci` settings. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OciSettings {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `PORT/PROTO`, sorted.
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Absolute paths, sorted.
    pub volumes: Vec<String>,
    pub ca_certificates: Option<CaCertificates>,
    /// Project files and directories (relative to the project root, as
    /// written) copied into an image of a project's environment.
    pub copy: Vec<String>,
}

/// Where the image's CA bundle comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaCertificates {
    /// The building machine's bundle (see [`HOST_CA_BUNDLES`]).
    Host,
    /// This file (PEM).
    File(std::path::PathBuf),
}

/// Where distributions keep their CA bundle, the first found is used:
/// Debian/Ubuntu/Arch, Fedora/RHEL, openSUSE, Alpine.
pub const HOST_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Where the bundle is in the image (and `SSL_CERT_FILE`).
pub const IMAGE_CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// The passwd/group entries `oci.user` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub name: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
}

impl ImageUser {
    /// `NAME[:GROUP]` (uid and gid 1000) or `UID[:GID]` (named `user`, group
    /// `user` unless the gid is 0); `None` for root.
    pub fn parse(user: &str) -> Option<ImageUser> {
        let (u, g) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        let num = |s: &str| s.parse::<u32>().ok();
        let (name, uid) = match num(u) {
            Some(0) => return None,
            Some(n) => ("user".to_string(), n),
            None if u == "root" => return None,
            None => (u.to_string(), 1000),
        };
        let (group, gid) = match g {
            None => (name.clone(), if num(u).is_some() { uid } else { 1000 }),
            Some(g) => match num(g) {
                Some(0) => ("root".to_string(), 0),
                Some(n) => (name.clone(), n),
                None if g == "root" => ("root".to_string(), 0),
                None => (g.to_string(), 1000),
            },
        };
        Some(ImageUser { name, uid, group, gid })
    }

    /// `/etc/passwd` with root and this user (home `/home/NAME`).
    pub fn passwd(&self) -> String {
        format!(
            "root:x:0:0:root:/root:/bin/sh\n{n}:x:{u}:{g}::/home/{n}:/bin/sh\n",
            n = self.name,
            u = self.uid,
            g = self.gid
        )
    }

    /// `/etc/group` with root and this user's group.
    pub fn group(&self) -> String {
        let mut s = "root:x:0:\n".to_string();
        if self.gid != 0 {
            s.push_str(&format!("{}:x:{}:\n", self.group, self.gid));
        }
        s
    }
}

impl OciSettings {
    /// Parse an `oci` value; `origin` names where it comes from (a package
    /// or a manifest) for error messages.
    pub fn parse(value: &Value, origin: &str) -> Result<OciSettings, OciError> {
        let bad = |field: &str, problem: String| OciError::BadSetting {
            origin: origin.into(),
            field: field.into(),
            problem,
            suggestion: None,
        };
        let obj = match value {
            Value::Null => return Ok(OciSettings::default()),
            Value::Object(o) => o,
            _ => return Err(bad("oci", "must be an object".into())),
        };
        // The field names are checked by serde like every file magpkg
        // reads; the values by the rules below, whose messages say what a
        // field may hold.
        crate::jsonnet::typed::read::<Fields>(value, &[]).map_err(|m| OciError::BadSetting {
            origin: origin.into(),
            field: m.field.clone(),
            problem: format!("is not an oci setting (known: {})", KEYS.join(", ")),
            suggestion: m.suggestion().map(str::to_string),
        })?;
        let mut s = OciSettings::default();
        for (key, v) in obj {
            if v.is_null() {
                continue;
            }
            match key.as_str() {
                "entrypoint" => s.entrypoint = Some(string_list(v).ok_or_else(|| bad(key, list_problem()))?),
                "cmd" => s.cmd = Some(string_list(v).ok_or_else(|| bad(key, list_problem()))?),
                "env" => {
                    s.env = match v {
                        Value::Object(m) => m
                            .iter()
                            .map(|(k, v)| scalar(v).map(|v| (k.clone(), v)))
                            .collect::<Option<_>>()
                            .ok_or_else(|| bad(key, "values must be strings".into()))?,
                        Value::Array(a) => a
                            .iter()
                            .map(|item| {
                                item.as_str()
                                    .and_then(|s| s.split_once('='))
                                    .map(|(k, v)| (k.to_string(), v.to_string()))
                            })
                            .collect::<Option<_>>()
                            .ok_or_else(|| bad(key, "list items must be \"NAME=VALUE\" strings".into()))?,
                        _ => return Err(bad(key, "must be an object of NAME: VALUE".into())),
                    };
                    for (k, _) in &s.env {
                        if k.is_empty() || k.contains('=') {
                            return Err(bad(key, format!("`{k}` is not a variable name")));
                        }
                    }
                }
                "workdir" => {
                    let w = v.as_str().ok_or_else(|| bad(key, "must be a string".into()))?;
                    if !w.starts_with('/') {
                        return Err(bad(key, format!("`{w}` must be an absolute path")));
                    }
                    s.workdir = Some(w.into());
                }
                "user" => {
                    let u = scalar(v).ok_or_else(|| bad(key, "must be a string or a number".into()))?;
                    let ok = |p: &str| {
                        !p.is_empty()
                            && p.len() <= 32
                            && p.chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                            && !p.starts_with('-')
                    };
                    if !u.split(':').all(ok) || u.split(':').count() > 2 {
                        return Err(bad(key, format!("`{u}` is not NAME[:GROUP] or UID[:GID]")));
                    }
                    s.user = Some(u);
                }
                "volumes" => {
                    let mut vols = string_list(v).ok_or_else(|| bad(key, list_problem()))?;
                    for p in &vols {
                        if !p.starts_with('/') {
                            return Err(bad(key, format!("`{p}` must be an absolute path")));
                        }
                    }
                    vols.sort();
                    vols.dedup();
                    s.volumes = vols;
                }
                "copy" => {
                    s.copy = string_list(v).ok_or_else(|| bad(key, list_problem()))?;
                }
                "caCertificates" => {
                    s.ca_certificates = match v {
                        Value::Bool(false) => None,
                        Value::Bool(true) => Some(CaCertificates::Host),
                        Value::String(p) if p.starts_with('/') => Some(CaCertificates::File(p.into())),
                        _ => {
                            return Err(bad(
                                key,
                                "must be true (the host's CA bundle) or the absolute path of a PEM file".into(),
                            ))
                        }
                    }
                }
                "exposedPorts" => {
                    let items: Vec<Value> = match v {
                        Value::Array(a) => a.clone(),
                        Value::Object(m) => m.keys().map(|k| Value::String(k.clone())).collect(),
                        other => vec![other.clone()],
                    };
                    let mut ports = Vec::new();
                    for item in items {
                        ports.push(port(&item).ok_or_else(|| {
                            bad(key, format!("{item} is not a port (8080, \"8080/tcp\" or \"53/udp\")"))
                        })?);
                    }
                    ports.sort();
                    ports.dedup();
                    s.exposed_ports = ports;
                }
                "labels" => {
                    let m = v
                        .as_object()
                        .ok_or_else(|| bad(key, "must be an object of NAME: VALUE".into()))?;
                    for (k, v) in m {
                        let v = scalar(v).ok_or_else(|| bad(key, format!("label `{k}` must be a string")))?;
                        s.labels.insert(k.clone(), v);
                    }
                }
                other => unreachable!("`{other}` passed the field check"),
            }
        }
        Ok(s)
    }

    /// True if nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == OciSettings::default()
    }
}

fn list_problem() -> String {
    "must be a string or a list of strings".into()
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn port(v: &Value) -> Option<String> {
    let s = scalar(v)?;
    let (num, proto) = s.split_once('/').unwrap_or((&s, "tcp"));
    let n: u16 = num.parse().ok()?;
    if n == 0 || !matches!(proto, "tcp" | "udp" | "sctp") {
        return None;
    }
    Some(format!("{n}/{proto}"))
}

/// Everything that goes into the image configuration.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// `created`, RFC 3339.
    pub created: String,
    pub env: Vec<(String, String)>,
    pub settings: OciSettings,
    pub labels: BTreeMap<String, String>,
    /// A base image's `history` entries, kept as they are.
    pub base_history: Vec<Value>,
    /// One `history` line per layer.
    pub history: Vec<String>,
    /// sha256 hex of each uncompressed layer, in order.
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    /// The OCI image configuration JSON (compact, keys in a fixed order).
    pub fn to_json(&self) -> Value {
        let mut config = serde_json::Map::new();
        if let Some(u) = &self.settings.user {
            config.insert("User".into(), json!(u));
        }
        if !self.settings.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, Value> = self
                .settings
                .exposed_ports
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            config.insert("ExposedPorts".into(), Value::Object(ports));
        }
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        config.insert("Env".into(), json!(env));
        if let Some(e) = &self.settings.entrypoint {
            config.insert("Entrypoint".into(), json!(e));
        }
        if let Some(c) = &self.settings.cmd {
            config.insert("Cmd".into(), json!(c));
        }
        if let Some(w) = &self.settings.workdir {
            config.insert("WorkingDir".into(), json!(w));
        }
        if !self.settings.volumes.is_empty() {
            let vols: serde_json::Map<String, Value> =
                self.settings.volumes.iter().map(|p| (p.clone(), json!({}))).collect();
            config.insert("Volumes".into(), Value::Object(vols));
        }
        config.insert("Labels".into(), json!(self.labels));
        let history: Vec<Value> = self
            .base_history
            .iter()
            .cloned()
            .chain(
                self.history
                    .iter()
                    .map(|h| json!({"created": self.created, "created_by": h, "comment": "magpkg"})),
            )
            .collect();
        let diff_ids: Vec<String> = self.diff_ids.iter().map(|d| format!("sha256:{d}")).collect();
        json!({
            "created": self.created,
            "architecture": go_arch(),
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        })
    }
}

/// The machine's architecture in Go's (and so OCI's) spelling. Packages are
/// built for the machine that builds them, so the image is for it too.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// `created` of every image: `SOURCE_DATE_EPOCH` if set (the reproducible
/// builds convention), else 1970-01-01T00:00:01Z, the store's mtime.
/// (`Settings::source_date_epoch`, already checked to be at most year 9999).
pub fn created(source_date_epoch: Option<u64>) -> String {
    rfc3339(source_date_epoch.unwrap_or(super::tar::MTIME))
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(1), "1970-01-01T00:00:01Z");
        assert_eq!(rfc3339(951782400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1700000000), "2023-11-14T22:13:20Z");
        assert_eq!(created(None), "1970-01-01T00:00:01Z");
        assert_eq!(
            created(Some(crate::settings::MAX_SOURCE_DATE_EPOCH)),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn parses_every_field_and_rejects_typos() {
        let v = json!({
            "entrypoint": "hello",
            "cmd": ["--greeting", "hi"],
            "env": ["LANG=C.UTF-8"],
            "workdir": "/work",
            "user": 1000,
            "exposedPorts": [8080, "53/udp", "8080/tcp"],
            "labels": {"a": "b"},
        });
        let s = OciSettings::parse(&v, "package hello").unwrap();
        assert_eq!(s.entrypoint, Some(vec!["hello".to_string()]));
        assert_eq!(s.cmd.as_ref().unwrap().len(), 2);
        assert_eq!(s.env, vec![("LANG".to_string(), "C.UTF-8".to_string())]);
        assert_eq!(s.user.as_deref(), Some("1000"));
        assert_eq!(s.exposed_ports, vec!["53/udp", "8080/tcp"]);
        let err = OciSettings::parse(&json!({"entrypont": "x"}), "package hello").unwrap_err();
        assert!(err.to_string().contains("entrypont"), "{err}");
        assert!(crate::error::Classify::hint(&err).unwrap().contains("entrypoint"));
        assert!(OciSettings::parse(&json!({"workdir": "rel"}), "p").is_err());
        assert!(OciSettings::parse(&json!({"exposedPorts": [0]}), "p").is_err());
        assert!(OciSettings::parse(&json!({"env": {"A": {}}}), "p").is_err());
    }

    #[test]
    fn keys_are_the_fields_serde_accepts() {
        let e = crate::jsonnet::typed::read::<Fields>(&json!({ "x-unknown": 1 }), &[]).unwrap_err();
        let crate::jsonnet::typed::MistakeKind::UnknownField { known, .. } = e.kind else {
            panic!("{e}")
        };
        assert_eq!(known, KEYS);
    }
}
