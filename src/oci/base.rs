//! Base images (`magpkg oci --from IMAGE`): the image whose layers go below
//! the environment's.
//!
//! `IMAGE` is one of
//! - `oci:DIR[:TAG]`: an OCI image layout (the only image when no tag);
//! - `oci-archive:FILE[:TAG]`, `docker-archive:FILE`, or a path to a tar
//!   file: an archive as `podman save`, `docker save`, skopeo or `magpkg
//!   oci -o` write (an OCI layout or Docker's `manifest.json`);
//! - `[docker://]REGISTRY[:PORT]/NAME[:TAG|@DIGEST]`: a registry image
//!   (credentials as for `--push`; an index picks linux and this machine's
//!   architecture).
//!
//! Its layers are copied, byte for byte, into the layout being written, and
//! its configuration is returned for the new image to build on.

use std::io::{self, Read};

use std::path::{Path, PathBuf};

use fs_err as fs;
use serde_json::Value;

use super::layout::{self, Descriptor, Layout};
use super::OciError;

/// A base image whose layers are in the layout.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// How it was named (for history and errors).
    pub name: String,
    /// Its configuration (the OCI/Docker config JSON).
    pub config: Value,
    /// Its layers, in order, as blobs of the layout.
    pub layers: Vec<Descriptor>,
}

impl BaseImage {
    /// `rootfs.diff_ids` of the base (with `sha256:`).
    pub fn diff_ids(&self) -> Vec<String> {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// `config.Env` of the base, as (name, value).
    pub fn env(&self) -> Vec<(String, String)> {
        self.config["config"]["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A string field of `config` (`User`, `WorkingDir`).
    pub fn field(&self, key: &str) -> Option<String> {
        self.config["config"][key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// A list field of `config` (`Entrypoint`, `Cmd`).
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        self.config["config"][key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
    }
}

fn bad(spec: &str, problem: impl Into<String>) -> OciError {
    OciError::BadBase {
        base: spec.into(),
        problem: problem.into(),
    }
}

/// Bring the base image `spec` into `layout`.
pub fn fetch(spec: &str, layout: &Layout) -> Result<BaseImage, OciError> {
    let must_exist = |p: &Path| {
        if p.exists() {
            Ok(())
        } else {
            Err(bad(spec, format!("cannot be read: {} does not exist", p.display())))
        }
    };
    let base = if let Some(rest) = spec.strip_prefix("oci:") {
        let (dir, tag) = split_tag(rest);
        must_exist(&Path::new(dir).join("index.json"))?;
        from_layout_dir(spec, Path::new(dir), tag, layout)?
    } else if let Some(rest) = spec.strip_prefix("oci-archive:") {
        let (file, tag) = split_tag(rest);
        must_exist(Path::new(file))?;
        from_archive(spec, Path::new(file), tag, layout)?
    } else if let Some(file) = spec.strip_prefix("docker-archive:") {
        must_exist(Path::new(file))?;
        from_archive(spec, Path::new(file), None, layout)?
    } else if Path::new(spec).is_file() {
        from_archive(spec, Path::new(spec), None, layout)?
    } else {
        let r = spec.strip_prefix("docker://").unwrap_or(spec);
        let remote = super::registry::Remote::parse(r, false).map_err(|_| {
            bad(
                spec,
                "is neither a file, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE` \
                 nor a registry image REGISTRY/NAME:TAG",
            )
        })?;
        super::registry::pull(&remote, layout)?
    };
    let arch = base.config["architecture"].as_str().unwrap_or("");
    let os = base.config["os"].as_str().unwrap_or("");
    if arch != super::config::go_arch() || os != "linux" {
        return Err(bad(
            spec,
            format!(
                "is for {os}/{arch}, the environment's packages are built for linux/{}",
                super::config::go_arch()
            ),
        ));
    }
    if base.diff_ids().len() != base.layers.len() {
        return Err(bad(spec, "its configuration does not list one diff id per layer"));
    }
    Ok(base)
}

/// `PATH:TAG` → (`PATH`, `TAG`), split at the first `:` as skopeo does
/// (the tag may be `NAME:TAG`, as magpkg's layouts name images).
fn split_tag(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((p, t)) if !t.is_empty() => (p, Some(t)),
        _ => (s, None),
    }
}

fn read_json(path: &Path) -> Result<Value, OciError> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| OciError::BadFile {
        path: path.into(),
        problem: e.to_string(),
    })
}

/// Copy the blob `digest` (`sha256:…`) of the layout at `src` into `layout`,
/// checking its digest.
fn copy_blob(src: &Path, digest: &str, media_type: &str, layout: &Layout) -> Result<Descriptor, OciError> {
    let hex = digest.trim_start_matches("sha256:");
    let path = src.join("blobs/sha256").join(hex);
    copy_file(&path, digest, media_type, layout)
}

fn copy_file(path: &Path, digest: &str, media_type: &str, layout: &Layout) -> Result<Descriptor, OciError> {
    let mut f = fs::File::open(path)?;
    let mut w = layout.blob_writer()?;
    io::copy(&mut f, &mut w)?;
    let (got, size) = w.commit()?;
    if !digest.is_empty() && got != digest.trim_start_matches("sha256:") {
        return Err(OciError::BadFile {
            path: path.into(),
            problem: format!("content is sha256:{got}, not {digest}"),
        });
    }
    Ok(Descriptor {
        media_type: media_type.into(),
        digest: got,
        size,
    })
}

/// OCI media type of a layer given as a Docker one (same bytes).
pub fn oci_layer_type(media_type: &str) -> String {
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => layout::LAYER_GZIP.into(),
        "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar".into(),
        other => other.into(),
    }
}

/// The image manifest `tag` names in the layout at `dir` (its only image
/// when no tag is given; an index is followed to this machine's platform).
fn from_layout_dir(spec: &str, dir: &Path, tag: Option<&str>, layout: &Layout) -> Result<BaseImage, OciError> {
    let index = read_json(&dir.join("index.json"))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let images: Vec<&Value> = entries
        .iter()
        // An artifact (an SBOM referrer) is not an image to build on.
        .filter(|e| e.get("artifactType").is_none() && e["annotations"].get(layout::SUBJECT_ANNOTATION).is_none())
        .filter(|e| match tag {
            Some(t) => {
                let name = e["annotations"][layout::REF_NAME].as_str().unwrap_or("");
                name == t || name.rsplit_once(':').is_some_and(|(_, nt)| nt == t && !t.contains(':'))
            }
            None => true,
        })
        .collect();
    let entry = match images.as_slice() {
        [one] => *one,
        [] => {
            return Err(bad(
                spec,
                format!(
                    "has no image{}",
                    tag.map(|t| format!(" tagged {t}")).unwrap_or_default()
                ),
            ))
        }
        _ => return Err(bad(spec, "holds several images: name one with :TAG")),
    };
    let mut manifest = read_json(
        &dir.join("blobs/sha256")
            .join(entry["digest"].as_str().unwrap_or("").trim_start_matches("sha256:")),
    )?;
    if manifest.get("manifests").is_some() {
        let d = super::registry::pick_platform(&manifest).ok_or_else(|| bad(spec, "has no image for this platform"))?;
        manifest = read_json(&dir.join("blobs/sha256").join(d.trim_start_matches("sha256:")))?;
    }
    let cfg_digest = manifest["config"]["digest"].as_str().unwrap_or("");
    let config = read_json(&dir.join("blobs/sha256").join(cfg_digest.trim_start_matches("sha256:")))?;
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let mt = oci_layer_type(l["mediaType"].as_str().unwrap_or(layout::LAYER_GZIP));
        layers.push(copy_blob(dir, l["digest"].as_str().unwrap_or(""), &mt, layout)?);
    }
    Ok(BaseImage {
        name: spec.into(),
        config,
        layers,
    })
}

/// An archive: unpacked into a scratch directory beside the layout's
/// blobs, then read as an OCI layout or a Docker archive.
fn from_archive(spec: &str, file: &Path, tag: Option<&str>, layout: &Layout) -> Result<BaseImage, OciError> {
    let scratch = tempfile::Builder::new()
        .prefix(".magpkg-base-")
        .tempdir_in(layout.dir())?;
    let f = fs::File::open(file)?;
    // The tar reader's own errors (a damaged header) name no file.
    let in_archive = |e| crate::util::at("read archive", file, e);
    let mut ar = tar::Archive::new(f);
    // Older `docker save` archives link a layer shared by two images:
    // copied once the files are out.
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for entry in ar.entries().map_err(in_archive)? {
        let mut entry = entry.map_err(in_archive)?;
        let rel: PathBuf = entry.path().map_err(in_archive)?.into_owned();
        // Only plain relative names: nothing may land outside the scratch.
        if rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
        {
            return Err(bad(spec, format!("holds an unsafe name {}", rel.display())));
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(target) = entry.link_name().map_err(in_archive)? {
                let target = if kind.is_symlink() {
                    rel.parent().unwrap_or(Path::new("")).join(target)
                } else {
                    target.into_owned()
                };
                links.push((rel, target));
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let dest = scratch.path().join(&rel);
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p)?;
        }
        let mut out = fs::File::create(&dest)?;
        io::copy(&mut entry, &mut out)?;
    }
    for (rel, target) in links {
        // `a/../b` resolved by hand, never outside the scratch.
        let mut resolved = PathBuf::new();
        for c in target.components() {
            match c {
                std::path::Component::Normal(n) => resolved.push(n),
                std::path::Component::ParentDir if resolved.pop() => {}
                std::path::Component::CurDir => {}
                _ => return Err(bad(spec, format!("links {} outside the archive", rel.display()))),
            }
        }
        let (from, to) = (scratch.path().join(&resolved), scratch.path().join(&rel));
        if from.is_file() {
            if let Some(p) = to.parent() {
                fs::create_dir_all(p)?;
            }
            fs::copy(&from, &to)?;
        }
    }
    let dir = scratch.path();
    if dir.join("index.json").is_file() && (tag.is_some() || !dir.join("manifest.json").is_file()) {
        return from_layout_dir(spec, dir, tag, layout);
    }
    if !dir.join("manifest.json").is_file() {
        return Err(bad(spec, "is neither an OCI archive nor a Docker archive"));
    }
    // Docker's manifest.json: [{Config, RepoTags, Layers}].
    let m = read_json(&dir.join("manifest.json"))?;
    let images = m.as_array().cloned().unwrap_or_default();
    let [img] = images.as_slice() else {
        return Err(bad(spec, "holds several images; use oci-archive:FILE:TAG"));
    };
    let config = read_json(&dir.join(img["Config"].as_str().unwrap_or("")))?;
    let mut layers = Vec::new();
    for l in img["Layers"].as_array().cloned().unwrap_or_default() {
        let path = dir.join(l.as_str().unwrap_or(""));
        let mut magic = [0u8; 2];
        fs::File::open(&path).and_then(|mut f| f.read_exact(&mut magic))?;
        let mt = if magic == [0x1f, 0x8b] {
            layout::LAYER_GZIP
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        layers.push(copy_file(&path, "", mt, layout)?);
    }
    Ok(BaseImage {
        name: spec.into(),
        config,
        layers,
    })
}
