//! OCI image layouts (a directory with `oci-layout`, `index.json` and
//! `blobs/sha256/`) and the single-file archive that is at once an
//! `oci-archive` and a `docker-archive` (Docker's `manifest.json` pointing
//! into the same blobs, as `docker save` has written since Docker 25).
//!
//! Several processes may write one layout at once: blobs are
//! content-addressed and renamed into place, and the two steps that are
//! not (creating the layout, rewriting `index.json`) hold an exclusive
//! `flock` on the layout's lock file, [`LOCK_FILE`].

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use fs_err as fs;
use nix::fcntl::Flock;
use serde_json::{json, Value};

use super::gzip::HashWriter;
use super::tar::TarWriter;
use super::OciError;

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The config of an artifact that has none (OCI 1.1): the two bytes `{}`.
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Annotation of a referrer's `index.json` entry naming its subject, so the
/// referrers of a replaced image leave the index with it.
pub const SUBJECT_ANNOTATION: &str = "dev.magpkg.subject";
/// The file in a layout that writers `flock` (empty; tools ignore it).
pub const LOCK_FILE: &str = ".magpkg-lock";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    /// Lowercase hex sha256 (without `sha256:`).
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    pub fn to_json(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": format!("sha256:{}", self.digest),
            "size": self.size,
        })
    }
}

/// An image layout directory being written.
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Open `dir` as a layout, creating it (and `oci-layout`) if needed. An
    /// existing non-empty directory must already be a layout: images are
    /// added to it, nothing else is touched. Creation happens under the
    /// layout's lock, so a second process never sees a half-made layout.
    pub fn open(dir: &Path) -> Result<Layout, OciError> {
        fs::create_dir_all(dir)?;
        // A directory that is not a layout is refused before the lock file
        // is made, so nothing is written into it. A layout another process
        // is creating has its lock file already (made first): wait for the
        // lock, then check.
        if !dir.join(LOCK_FILE).exists() {
            check_is_layout(dir)?;
        }
        let layout = Layout { dir: dir.into() };
        let _lock = layout.lock()?;
        check_is_layout(dir)?;
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs)?;
        let marker = dir.join("oci-layout");
        if !marker.is_file() {
            crate::util::write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(layout)
    }

    /// Wait for, then hold until dropped, the exclusive lock of the layout.
    fn lock(&self) -> Result<Flock<File>, OciError> {
        let path = self.dir.join(LOCK_FILE);
        Ok(crate::util::lock_exclusive(&path)?)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest)
    }

    /// A writer for a new blob: a temp file in `blobs/sha256/` that becomes
    /// `blobs/sha256/<digest>` on [`BlobWriter::commit`].
    pub fn blob_writer(&self) -> Result<BlobWriter, OciError> {
        let dir = self.dir.join("blobs/sha256");
        let tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
        let file = fs::File::from_parts(tmp.reopen()?, tmp.path());
        Ok(BlobWriter {
            dir,
            tmp,
            out: HashWriter::new(BufWriter::with_capacity(256 * 1024, file)),
        })
    }

    /// Write a small blob (a manifest, a config, the SBOM).
    pub fn put(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, OciError> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes)?;
        let (digest, size) = w.commit()?;
        Ok(Descriptor {
            media_type: media_type.into(),
            digest,
            size,
        })
    }

    /// Record `manifest` in `index.json` under `ref_name`, replacing an
    /// entry with the same name (the same tag exported again), and its
    /// `referrers` (artifacts whose subject it is: `(descriptor, artifact
    /// type)`), which makes them reachable (`umoci gc` keeps them).
    /// Referrers of an image no longer in the index are dropped. Entries
    /// are kept sorted so the index does not depend on export order.
    pub fn add_to_index(
        &self,
        manifest: &Descriptor,
        annotations: &serde_json::Map<String, Value>,
        referrers: &[(Descriptor, String)],
    ) -> Result<(), OciError> {
        // Read, change, write: without the lock, two exporters read the
        // same index and the last rename drops the other's tag.
        let _lock = self.lock()?;
        let path = self.dir.join("index.json");
        let mut entries: Vec<Value> = match fs::read(&path) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| OciError::NotALayout {
                    path: path.with_file_name(format!("index.json ({e})")),
                })?;
                v.get("manifests")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let name = annotations.get(REF_NAME).cloned();
        entries
            .retain(|e| name.is_none() || e.pointer("/annotations/org.opencontainers.image.ref.name") != name.as_ref());
        let mut d = manifest.to_json();
        if !annotations.is_empty() {
            d["annotations"] = Value::Object(annotations.clone());
        }
        entries.push(d);
        for (r, artifact_type) in referrers {
            let mut d = r.to_json();
            d["artifactType"] = json!(artifact_type);
            d["annotations"] = json!({ SUBJECT_ANNOTATION: format!("sha256:{}", manifest.digest) });
            entries.retain(|e| e["digest"] != d["digest"]);
            entries.push(d);
        }
        let subject_of = |e: &Value| {
            e.pointer(&format!("/annotations/{SUBJECT_ANNOTATION}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let images: std::collections::BTreeSet<String> = entries
            .iter()
            .filter(|e| subject_of(e).is_none())
            .filter_map(|e| e["digest"].as_str().map(str::to_string))
            .collect();
        entries.retain(|e| subject_of(e).is_none_or(|s| images.contains(&s)));
        let key = |e: &Value| {
            (
                e.pointer("/annotations/org.opencontainers.image.ref.name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                e["digest"].as_str().unwrap_or("").to_string(),
            )
        };
        entries.sort_by_key(key);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": entries,
        });
        let bytes = serde_json::to_vec(&index).expect("index serialises");
        Ok(crate::util::write_atomic(&path, &bytes)?)
    }
}

/// A directory that has entries (other than the lock file) must have an
/// `oci-layout` marker.
fn check_is_layout(dir: &Path) -> Result<(), OciError> {
    let non_empty = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .any(|e| e.file_name() != LOCK_FILE);
    if non_empty && !dir.join("oci-layout").is_file() {
        return Err(OciError::NotALayout { path: dir.into() });
    }
    Ok(())
}

/// A blob being written; see [`Layout::blob_writer`].
pub struct BlobWriter {
    dir: PathBuf,
    tmp: tempfile::NamedTempFile,
    out: HashWriter<BufWriter<fs::File>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl BlobWriter {
    /// Flush, fsync and rename into place; returns (sha256 hex, size).
    pub fn commit(self) -> Result<(String, u64), OciError> {
        let BlobWriter { dir, tmp, out } = self;
        let (buf, digest, size) = out.finish();
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        // Readable by all like any other file of the output (tempfile makes 0600).
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        file.sync_all()?;
        let dest = dir.join(&digest);
        if dest.is_file() {
            // Same content already there (a layer shared with another image).
            return Ok((digest, size));
        }
        tmp.persist(&dest)
            .map_err(|e| crate::util::at("write file", &dest, e.error))?;
        Ok((digest, size))
    }
}

/// One image of an archive, for Docker's `manifest.json`.
pub struct DockerImage {
    pub config: String,
    pub layers: Vec<String>,
    pub tag: String,
}

/// Write the layout at `layout` plus Docker's `manifest.json` and
/// `repositories` as one tar to `out`. Entries are in a fixed order and
/// carry fixed metadata, so the same layout gives the same archive.
pub fn write_archive(layout: &Layout, image: &DockerImage, out: impl Write) -> Result<(), OciError> {
    let dir = layout.dir();
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", image.config),
        "RepoTags": [image.tag],
        "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{l}")).collect::<Vec<_>>(),
    }]);
    let (repo, tag) = image.tag.rsplit_once(':').unwrap_or((&image.tag, "latest"));
    // The pre-manifest.json format: repository → tag → top layer id. Old
    // loaders read it; new ones read manifest.json.
    let repositories = json!({ repo: { tag: image.layers.last().cloned().unwrap_or_default() } });
    let mut t = TarWriter::new(out);
    // Small metadata first so streaming readers see what the archive is early.
    let read = |name: &str| fs::read(dir.join(name));
    t.file_bytes(b"oci-layout", 0o644, &read("oci-layout")?)?;
    t.file_bytes(b"index.json", 0o644, &read("index.json")?)?;
    t.file_bytes(b"manifest.json", 0o644, &serde_json::to_vec(&manifest).expect("json"))?;
    t.file_bytes(
        b"repositories",
        0o644,
        &serde_json::to_vec(&repositories).expect("json"),
    )?;
    t.dir(b"blobs", 0o755)?;
    let blobs = dir.join("blobs/sha256");
    t.dir(b"blobs/sha256", 0o755)?;
    let mut names: Vec<String> = fs::read_dir(&blobs)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for n in names {
        let p = blobs.join(&n);
        t.tree(&p, format!("blobs/sha256/{n}").as_bytes())?;
    }
    let mut out = t.finish()?;
    Ok(out.flush()?)
}
