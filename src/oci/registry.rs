//! Talking to OCI registries (the distribution API, through `oci-client`):
//! pushing an image written into a layout, with its SBOM referrers, and
//! pulling a base image into a layout.
//!
//! Credentials come from the files docker and podman keep, in podman's
//! order: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`), then
//! `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`); the first file
//! with an entry for the registry (or for `registry/repository...`, the
//! longest match) wins. Only inline credentials (`auth`, or `username` and
//! `password`) are read, not credential helpers. A registry on a loopback
//! address is spoken to over plain HTTP, as Docker does; others over HTTPS
//! unless `plain_http` is asked for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::{json, Value};

use super::layout::{self, Descriptor, Layout};
use super::OciError;

/// Where a registry image is: its reference (`registry/name:tag`).
#[derive(Debug, Clone)]
pub struct Remote {
    pub reference: Reference,
    /// Plain HTTP (loopback registries always use it).
    pub plain_http: bool,
}

impl Remote {
    /// Parse `REGISTRY/NAME[:TAG]` (`:latest` when no tag is given). A
    /// reference without a registry host (`hello:1`) is refused: magpkg
    /// does not guess a default registry.
    pub fn parse(s: &str, plain_http: bool) -> Result<Remote, OciError> {
        let bad = |problem: String| OciError::BadReference {
            reference: s.into(),
            problem,
        };
        let first = s.split('/').next().unwrap_or("");
        if !s.contains('/') || !(first.contains('.') || first.contains(':') || first == "localhost") {
            return Err(bad("it names no registry (REGISTRY[:PORT]/NAME:TAG)".into()));
        }
        let reference = Reference::from_str(s).map_err(|e| bad(e.to_string()))?;
        Ok(Remote { reference, plain_http })
    }

    fn host(&self) -> &str {
        self.reference.registry()
    }

    fn is_loopback(&self) -> bool {
        let host = self.host();
        let h = match host.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn client(&self) -> Client {
        let protocol = if self.plain_http || self.is_loopback() {
            ClientProtocol::HttpsExcept(vec![self.host().to_string()])
        } else {
            ClientProtocol::Https
        };
        Client::new(ClientConfig {
            protocol,
            ..Default::default()
        })
    }

    fn with_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.reference.registry().to_string(),
            self.reference.repository().to_string(),
            format!("sha256:{digest}"),
        )
    }

    fn err(&self, what: &str) -> impl FnOnce(oci_client::errors::OciDistributionError) -> OciError + '_ {
        let what = what.to_string();
        move |e| OciError::Registry {
            reference: self.reference.whole(),
            what,
            message: e.to_string(),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

// ------------------------------------------------------------ credentials

/// The auth files to read, in order.
fn auth_files() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = env("HOME");
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(f);
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        files.push(d.join("containers/auth.json"));
    }
    if let Some(d) = env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config"))) {
        files.push(d.join("containers/auth.json"));
    }
    if let Some(d) = env("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker"))) {
        files.push(d.join("config.json"));
    }
    files
}

/// The credentials for `registry/repository` in the auth file `path`, if
/// it has an entry for them.
pub fn credentials_in(path: &Path, registry: &str, repository: &str) -> Result<Option<(String, String)>, OciError> {
    let bytes = match fs_err::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bad = |problem: String| OciError::AuthFile {
        path: path.into(),
        problem,
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let Some(auths) = v.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let full = format!("{registry}/{repository}");
    let mut best: Option<(usize, &Value)> = None;
    for (key, entry) in auths {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .trim_end_matches("/v2");
        let matches = k == registry || (full.starts_with(k) && full[k.len()..].starts_with('/')) || k == full;
        if matches && best.is_none_or(|(n, _)| k.len() > n) {
            best = Some((k.len(), entry));
        }
    }
    let Some((_, entry)) = best else { return Ok(None) };
    if let Some(a) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(a)
            .map_err(|e| bad(format!("`auth` of {registry} is not base64: {e}")))?;
        let text = String::from_utf8(decoded).map_err(|_| bad(format!("`auth` of {registry} is not UTF-8")))?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| bad(format!("`auth` of {registry} is not USER:PASSWORD")))?;
        return Ok(Some((u.into(), p.into())));
    }
    match (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        (Some(u), Some(p)) => Ok(Some((u.into(), p.into()))),
        _ => Ok(None),
    }
}

fn auth_for(remote: &Remote) -> Result<RegistryAuth, OciError> {
    for f in auth_files() {
        if let Some((u, p)) = credentials_in(&f, remote.host(), remote.reference.repository())? {
            return Ok(RegistryAuth::Basic(u, p));
        }
    }
    Ok(RegistryAuth::Anonymous)
}

// ------------------------------------------------------------------- push

/// What was pushed.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `registry/name:tag`.
    pub reference: String,
    /// sha256 hex of the image manifest (as in the layout).
    pub digest: String,
    /// Blobs already in the registry, not sent again.
    pub reused: usize,
    pub sent: usize,
}

/// Push the image `manifest` of `layout`, then its `referrers` (artifact
/// manifests whose subject it is, with their blobs). A registry without
/// the referrers API gets the OCI 1.1 fallback: an index of them tagged
/// `sha256-<image digest>`.
pub fn push(
    layout: &Layout,
    manifest: &Descriptor,
    referrers: &[(Descriptor, String)],
    remote: &Remote,
) -> Result<Pushed, OciError> {
    let client = remote.client();
    let auth = auth_for(remote)?;
    let rt = runtime();
    rt.block_on(async {
        client
            .auth(&remote.reference, &auth, RegistryOperation::Push)
            .await
            .map_err(remote.err("log in"))?;
        let mut pushed = Pushed {
            reference: remote.reference.whole(),
            digest: manifest.digest.clone(),
            reused: 0,
            sent: 0,
        };
        let m = read_manifest(layout, manifest)?;
        push_manifest_tree(layout, &client, remote, &m, &mut pushed).await?;
        put_manifest(&client, remote, &remote.reference, layout, manifest).await?;
        // Referrers: their blobs, then the manifests by digest.
        let mut listed = Vec::new();
        for (r, artifact_type) in referrers {
            let rm = read_manifest(layout, r)?;
            push_manifest_tree(layout, &client, remote, &rm, &mut pushed).await?;
            put_manifest(&client, remote, &remote.with_digest(&r.digest), layout, r).await?;
            let mut d = r.to_json();
            d["artifactType"] = json!(artifact_type);
            listed.push(d);
        }
        if !listed.is_empty() {
            push_referrers_tag(&client, remote, manifest, listed).await?;
        }
        Ok(pushed)
    })
}

fn read_manifest(layout: &Layout, d: &Descriptor) -> Result<Value, OciError> {
    let path = layout.blob_path(&d.digest);
    let bytes = fs_err::read(&path)?;
    serde_json::from_slice(&bytes).map_err(|e| OciError::BadFile {
        path,
        problem: e.to_string(),
    })
}

/// Push the config and layers a manifest names (unless the registry has them).
async fn push_manifest_tree(
    layout: &Layout,
    client: &Client,
    remote: &Remote,
    m: &Value,
    pushed: &mut Pushed,
) -> Result<(), OciError> {
    let mut blobs = vec![m["config"].clone()];
    blobs.extend(m["layers"].as_array().cloned().unwrap_or_default());
    for b in blobs {
        let digest = b["digest"].as_str().unwrap_or_default().to_string();
        if client
            .blob_exists(&remote.reference, &digest)
            .await
            .map_err(remote.err("check a blob"))?
        {
            pushed.reused += 1;
            continue;
        }
        let path = layout.blob_path(digest.trim_start_matches("sha256:"));
        let size = fs_err::metadata(&path)?.len();
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| crate::util::at("open file", &path, e))?;
        // Streamed in 4 MiB chunks: layers are never held in memory.
        let stream = futures::stream::try_unfold(file, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 4 << 20];
            let mut n = 0;
            while n < buf.len() {
                let r = f.read(&mut buf[n..]).await?;
                if r == 0 {
                    break;
                }
                n += r;
            }
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((bytes::Bytes::from(buf), f)))
        });
        client
            .push_blob_stream(&remote.reference, stream, &digest, Some(size))
            .await
            .map_err(remote.err(&format!("upload blob {digest}")))?;
        pushed.sent += 1;
    }
    Ok(())
}

async fn put_manifest(
    client: &Client,
    remote: &Remote,
    at: &Reference,
    layout: &Layout,
    d: &Descriptor,
) -> Result<(), OciError> {
    let path = layout.blob_path(&d.digest);
    let bytes = fs_err::read(&path)?;
    let ct = reqwest::header::HeaderValue::from_str(&d.media_type).expect("media types are ASCII");
    client
        .push_manifest_raw(at, bytes, ct)
        .await
        .map_err(remote.err("upload a manifest"))?;
    Ok(())
}

/// The referrers tag schema (OCI distribution 1.1): an index of the
/// artifacts whose subject is `manifest`, tagged `sha256-<hex>`, merged
/// with what the registry lists already. Registries with the referrers API
/// ignore the tag; others serve it to clients looking for referrers.
async fn push_referrers_tag(
    client: &Client,
    remote: &Remote,
    manifest: &Descriptor,
    ours: Vec<Value>,
) -> Result<(), OciError> {
    let subject = remote.with_digest(&manifest.digest);
    let existing = client
        .pull_referrers(&subject, None)
        .await
        .map_err(remote.err("list referrers"))?;
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    for m in existing.manifests {
        let v = serde_json::to_value(&m).expect("descriptors serialise");
        entries.insert(m.digest.clone(), v);
    }
    let ours_listed = ours
        .iter()
        .all(|d| entries.contains_key(d["digest"].as_str().unwrap_or_default()));
    if ours_listed {
        return Ok(());
    }
    for d in ours {
        entries.insert(d["digest"].as_str().unwrap_or_default().to_string(), d);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": layout::INDEX,
        "manifests": entries.into_values().collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&index).expect("index serialises");
    let tag = Reference::with_tag(
        remote.reference.registry().to_string(),
        remote.reference.repository().to_string(),
        format!("sha256-{}", manifest.digest),
    );
    let ct = reqwest::header::HeaderValue::from_static(layout::INDEX);
    client
        .push_manifest_raw(&tag, bytes, ct)
        .await
        .map_err(remote.err("upload the referrers index"))?;
    Ok(())
}

// ------------------------------------------------------------------- pull

/// Manifest media types asked for when pulling.
const ACCEPT: &[&str] = &[
    layout::MANIFEST,
    layout::INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The manifest of an index for linux on this machine's architecture.
pub fn pick_platform(index: &Value) -> Option<String> {
    index["manifests"].as_array()?.iter().find_map(|m| {
        let p = &m["platform"];
        (p["os"] == "linux" && p["architecture"] == super::config::go_arch())
            .then(|| m["digest"].as_str().map(str::to_string))
            .flatten()
    })
}

/// Pull the image `remote` names into `layout` (its layers and config,
/// each checked against its digest): a base image.
pub fn pull(remote: &Remote, layout: &Layout) -> Result<super::base::BaseImage, OciError> {
    let client = remote.client();
    let auth = auth_for(remote)?;
    let rt = runtime();
    rt.block_on(async {
        let (bytes, _) = client
            .pull_manifest_raw(&remote.reference, &auth, ACCEPT)
            .await
            .map_err(remote.err("read the manifest"))?;
        let mut manifest: Value = serde_json::from_slice(&bytes).map_err(|e| OciError::Registry {
            reference: remote.reference.whole(),
            what: "read the manifest".into(),
            message: e.to_string(),
        })?;
        if manifest.get("manifests").is_some() {
            let d = pick_platform(&manifest).ok_or_else(|| OciError::BadBase {
                base: remote.reference.whole(),
                problem: format!("has no image for linux/{}", super::config::go_arch()),
            })?;
            let (bytes, _) = client
                .pull_manifest_raw(&remote.with_digest(d.trim_start_matches("sha256:")), &auth, ACCEPT)
                .await
                .map_err(remote.err("read the manifest"))?;
            manifest = serde_json::from_slice(&bytes).map_err(|e| OciError::Registry {
                reference: remote.reference.whole(),
                what: "read the manifest".into(),
                message: e.to_string(),
            })?;
        }
        let cfg = fetch_blob(&client, remote, layout, &manifest["config"], layout::CONFIG).await?;
        let cfg_path = layout.blob_path(&cfg.digest);
        let config: Value = serde_json::from_slice(&fs_err::read(&cfg_path)?).map_err(|e| OciError::BadFile {
            path: cfg_path,
            problem: e.to_string(),
        })?;
        let mut layers = Vec::new();
        for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
            let mt = super::base::oci_layer_type(l["mediaType"].as_str().unwrap_or(layout::LAYER_GZIP));
            layers.push(fetch_blob(&client, remote, layout, &l, &mt).await?);
        }
        Ok(super::base::BaseImage {
            name: remote.reference.whole(),
            config,
            layers,
        })
    })
}

/// Download the blob `d` describes into `layout`, refusing other content.
async fn fetch_blob(
    client: &Client,
    remote: &Remote,
    layout: &Layout,
    d: &Value,
    media_type: &str,
) -> Result<Descriptor, OciError> {
    use futures::StreamExt;
    use std::io::Write;
    let digest = d["digest"].as_str().unwrap_or_default();
    let mut s = client
        .pull_blob_stream(&remote.reference, digest)
        .await
        .map_err(remote.err(&format!("download blob {digest}")))?;
    let mut w = layout.blob_writer()?;
    while let Some(chunk) = s.stream.next().await {
        let chunk = chunk.map_err(|e| crate::util::at(&format!("download blob {digest} into"), layout.dir(), e))?;
        w.write_all(&chunk)?;
    }
    let (got, size) = w.commit()?;
    if format!("sha256:{got}") != digest {
        return Err(OciError::Registry {
            reference: remote.reference.whole(),
            what: format!("download blob {digest}"),
            message: format!("the registry sent content with digest sha256:{got}"),
        });
    }
    Ok(Descriptor {
        media_type: media_type.into(),
        digest: got,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_need_a_registry() {
        assert!(Remote::parse("hello:1", false).is_err());
        assert!(Remote::parse("team/hello:1", false).is_err());
        let r = Remote::parse("127.0.0.1:5000/team/hello:1", false).unwrap();
        assert!(r.is_loopback());
        assert_eq!(r.reference.repository(), "team/hello");
        assert!(!Remote::parse("registry.example/hello", false).unwrap().is_loopback());
        assert!(Remote::parse("localhost:5000/hello", false).unwrap().is_loopback());
    }

    #[test]
    fn auth_files_match_registry_then_longest_repository_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &f,
            json!({"auths": {
                "reg.example:5000": {"auth": b64("all:one")},
                "reg.example:5000/team": {"auth": b64("team:two")},
                "https://other.example/v1/": {"username": "u", "password": "p"},
            }})
            .to_string(),
        )
        .unwrap();
        let get = |r: &str, repo: &str| credentials_in(&f, r, repo).unwrap();
        assert_eq!(get("reg.example:5000", "x"), Some(("all".into(), "one".into())));
        assert_eq!(get("reg.example:5000", "team/app"), Some(("team".into(), "two".into())));
        assert_eq!(get("reg.example:5000", "teamx/app"), Some(("all".into(), "one".into())));
        assert_eq!(get("other.example", "a"), Some(("u".into(), "p".into())));
        assert_eq!(get("nowhere.example", "a"), None);
        std::fs::write(&f, "{").unwrap();
        assert!(credentials_in(&f, "reg.example:5000", "x").is_err());
    }
}
