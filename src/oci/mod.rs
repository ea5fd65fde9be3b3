//! OCI image and plain tarball export of packages and environments.
//!
//! Entry points: [`export_image`] writes an OCI image (a layout directory,
//! or one tar that is both an `oci-archive` and a `docker-archive`) and
//! [`export_tarball`] a `.tar.zst` of the same files, both from a
//! [`Closure`]: the packages to ship, already present in the store.
//!
//! Inside the image (and the tarball) everything lives under `/magpkg`:
//!
//! ```text
//! /magpkg/store/pkgs-v1/<id>-<name>/   each package's tree, as in the store
//! /magpkg/env/                          the profile: symlinks into the packages
//! /magpkg/sbom.spdx.json                SPDX 2.3 bill of materials
//! /tmp/                                 (image only) 1777, as programs expect
//! /bin, /usr/bin                        (image only) links to /magpkg/env/bin
//! ```
//!
//! `PATH` starts with `/magpkg/env/bin`. Each package is one layer, in
//! closure order (grouped into at most [`MAX_LAYERS`] − 1 layers by a hash
//! of the id when the closure is larger), so images that share packages
//! share layers; the last layer holds the profile, the SBOM and `/tmp`.
//!
//! Every byte is a function of the input: tar entries are sorted, owned by
//! 0:0, dated [`tar::MTIME`], with modes 0755/0644 (symlinks 0777); gzip
//! and zstd run with fixed parameters and no timestamps; JSON is written
//! with keys in a fixed order. Layers stream from the store through tar,
//! gzip and sha256 into temp files, so memory does not grow with the image.

pub mod base;
pub mod config;
pub mod gzip;
pub mod layout;
pub mod registry;
pub mod sbom;
pub mod tar;
pub mod tarball;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use fs_err as fs;
use serde_json::{json, Value};

use crate::error::Classify;
use crate::model::{Graph, Meta, PackageId, Source};
use crate::store::{Store, StoreError};

pub use config::OciSettings;
pub use layout::Descriptor;

/// Most layers an image gets (the package layers plus the top layer).
/// Docker's overlay driver refuses more than 125; 100 leaves room for
/// images built on top of ours.
pub const MAX_LAYERS: usize = 100;
/// Directory of the packages inside the image and the tarball.
pub const STORE_PATH: &str = "magpkg/store/pkgs-v1";
/// The profile: symlinks to everything the packages provide.
pub const PROFILE_PATH: &str = "magpkg/env";
/// The project's `path` directories inside the image and the tarball.
pub const PROJECT_PATH: &str = "magpkg/project";
/// The SBOMs inside the image and the tarball.
pub const SBOM_PATH: &str = "magpkg/sbom.spdx.json";
pub const CYCLONEDX_PATH: &str = "magpkg/sbom.cdx.json";
/// `PATH` of the image.
pub const IMAGE_PATH: &str = "/magpkg/env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Manifest and label key holding the SBOM blob's digest.
pub const SBOM_ANNOTATION: &str = "dev.magpkg.sbom";

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A file operation failed; the error (from `fs_err`, or
    /// [`crate::util::at`]) names the operation and the path.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A file is not what it should be (JSON that does not parse, a blob
    /// whose content does not match its digest).
    #[error("{path}: {problem}")]
    BadFile { path: PathBuf, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("package {name} ({id}) is not in the store")]
    Missing { id: String, name: String },
    #[error("{origin}: oci.{field} {problem}")]
    BadSetting {
        origin: String,
        field: String,
        problem: String,
        suggestion: Option<String>,
    },
    #[error("`{tag}` is not a valid image name: {problem}")]
    BadTag { tag: String, problem: String },
    #[error("{path} exists and is not an OCI image layout")]
    NotALayout { path: PathBuf },
    #[error("{path}: not a file, directory or symlink; cannot be put in an image")]
    FileType { path: PathBuf },
    #[error("{path} changed while it was being exported")]
    Changed { path: PathBuf },
    #[error(
        "package {} ({}) is corrupt in the store: its files at {} changed after it was built \
         (content digest {}, the record says {})",
        .0.name, .0.id, .0.path.display(), .0.actual, .0.expected
    )]
    Corrupt(Box<CorruptEntry>),
    #[error("{manifest}: `{field}` entry {entry:?} {problem}")]
    ProjectPath {
        manifest: PathBuf,
        /// `path` or `oci.copy`.
        field: &'static str,
        entry: String,
        problem: String,
    },
    #[error("nothing to export: the input names no package")]
    Empty,
    #[error("`{reference}` is not a registry image reference: {problem}")]
    BadReference { reference: String, problem: String },
    #[error("{reference}: cannot {what}: {message}")]
    Registry {
        reference: String,
        what: String,
        message: String,
    },
    #[error("base image `{base}` {problem}")]
    BadBase { base: String, problem: String },
    #[error("{path}: not a valid registry auth file: {problem}")]
    AuthFile { path: PathBuf, problem: String },
    #[error("cannot write {path}: {dir} is not a directory")]
    NoOutputDir { path: PathBuf, dir: PathBuf },
}

/// A store entry whose files no longer match its record (see
/// [`OciError::Corrupt`]).
#[derive(Debug)]
pub struct CorruptEntry {
    pub id: String,
    pub name: String,
    /// The entry's directory.
    pub path: PathBuf,
    /// Its record: removing it makes the next build replace the entry.
    pub record: PathBuf,
    pub expected: String,
    pub actual: String,
}

impl Classify for OciError {
    fn is_user_error(&self) -> bool {
        match self {
            OciError::Store(e) => e.is_user_error(),
            OciError::Missing { .. }
            | OciError::Corrupt(_)
            | OciError::ProjectPath { .. }
            | OciError::BadSetting { .. }
            | OciError::BadTag { .. }
            | OciError::NotALayout { .. }
            | OciError::NoOutputDir { .. }
            | OciError::BadReference { .. }
            | OciError::Registry { .. }
            | OciError::AuthFile { .. }
            | OciError::BadBase { .. }
            | OciError::Empty => true,
            OciError::Io(_) | OciError::BadFile { .. } | OciError::FileType { .. } | OciError::Changed { .. } => false,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            OciError::Store(e) => e.hint(),
            OciError::Missing { .. } => Some("build it first with `magpkg build`".into()),
            OciError::Corrupt(c) => Some(format!(
                "it is marked damaged in its record {}; `magpkg store verify --repair {}` rebuilds it (or \
                 takes it from a binary cache), then export again",
                c.record.display(),
                &c.id[..c.id.len().min(12)]
            )),
            OciError::BadSetting {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            OciError::BadSetting { .. } => Some("the oci settings are described in doc/oci.md".into()),
            OciError::BadTag { .. } => Some(
                "use NAME:TAG with a lowercase NAME, e.g. `--tag hello:1.0` or `--tag registry:5000/team/hello:dev`"
                    .into(),
            ),
            OciError::NotALayout { .. } => {
                Some("give --layout an empty or new directory, or an existing layout".into())
            }
            OciError::ProjectPath { field: "path", .. } => Some(
                "an image holds the project's `path` directories: list directories inside the project (e.g. \
                 `path: [\"./scripts\"]`), or put tools in `packages`"
                    .into(),
            ),
            OciError::ProjectPath { .. } => Some(
                "`oci.copy` lists files and directories inside the project, e.g. `copy: [\"config/app.toml\", \"static\"]`"
                    .into(),
            ),
            OciError::Changed { .. } => Some("store entries must not change; `magpkg store verify` checks them".into()),
            OciError::BadReference { .. } => {
                Some("give the registry, e.g. `--push registry.example:5000/team/hello:1.0`".into())
            }
            OciError::Registry { .. } => Some(
                "credentials are read from $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, \
                 ~/.config/containers/auth.json and ~/.docker/config.json (`podman login` writes them); \
                 --plain-http for a registry without TLS"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// The directory an output file goes in (where its temp files are staged),
/// which must exist.
fn output_dir(out: &Path) -> Result<PathBuf, OciError> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(OciError::NoOutputDir { path: out.into(), dir });
    }
    Ok(dir)
}

/// One package of a closure, present in the store.
#[derive(Debug, Clone)]
pub struct ClosurePackage {
    pub id: PackageId,
    pub name: String,
    pub version: String,
    /// Its directory in the store.
    pub dir: PathBuf,
    pub run_deps: Vec<PackageId>,
    /// Variables it sets in environments using it (`$out` = its directory).
    pub env: BTreeMap<String, String>,
    pub meta: Meta,
    pub sources: Vec<Source>,
    /// Packages it was built with (for the SBOM).
    pub build_deps: Vec<PackageId>,
    /// It holds a statically linked executable (for the SBOM: it then
    /// carries the C library of its build root).
    pub static_exe: bool,
}

impl ClosurePackage {
    /// The package `p` (of id `id`) with its store directory `dir`.
    fn of(id: PackageId, p: &crate::model::Package, dir: PathBuf, static_exe: bool) -> ClosurePackage {
        ClosurePackage {
            id,
            name: p.name.clone(),
            version: p.version.clone(),
            dir,
            run_deps: p.run_deps.clone(),
            env: p.env.clone(),
            meta: p.meta.clone(),
            sources: p.sources.clone(),
            build_deps: p.build_deps.clone(),
            static_exe,
        }
    }

    /// `<id>-<name>`: its directory name in the store and in the image.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.id.as_str(), self.name)
    }

    /// Its absolute path inside the image.
    pub fn image_path(&self) -> String {
        format!("/{STORE_PATH}/{}", self.dir_name())
    }
}

/// What to export: a runtime closure and how to present it.
#[derive(Debug, Clone)]
pub struct Closure {
    /// The packages asked for (an input's roots or an environment's packages).
    pub roots: Vec<PackageId>,
    /// The runtime closure of the roots, dependencies first.
    pub packages: Vec<ClosurePackage>,
    /// What else building them took (the rest of the build closure), for
    /// the SBOM only: not in the image, not needed in the store.
    pub build_inputs: Vec<ClosurePackage>,
    /// The environment id, when exporting a project environment.
    pub env_id: Option<String>,
    /// The image's name: its title label and annotation, the SBOM's
    /// document name, and default tags (a package or project name).
    pub name: String,
    /// The name of default tags instead of `name`: a project's directory,
    /// which names the image for its user but must not be in its content
    /// (the same project checked out elsewhere gives the same digest).
    pub tag_name: Option<String>,
    /// Entrypoint, Cmd, extra Env... (from the definition or manifest).
    pub oci: OciSettings,
    /// Extra variables (an environment's own), set after the packages'.
    pub env: Vec<(String, String)>,
    /// A project's `path` directories: (entry relative to the project, its
    /// directory), in the manifest's order; see [`Closure::add_project_paths`].
    pub project_paths: Vec<(String, PathBuf)>,
    /// Project files and directories of `oci.copy`, shipped beside the
    /// `path` directories but not put on `PATH`; see
    /// [`Closure::add_project_copies`].
    pub project_copies: Vec<(String, PathBuf)>,
}

impl Closure {
    /// The runtime closure of the graph's roots, which must all be in the
    /// store. The `oci` settings come from the first root that has any.
    pub fn from_graph(graph: &Graph, store: &Store) -> Result<Closure, OciError> {
        Self::from_roots(graph, &graph.roots, store)
    }

    /// Like [`Closure::from_graph`] for the given roots.
    /// No roots give an empty closure (an environment with no packages).
    pub fn from_roots(graph: &Graph, roots: &[PackageId], store: &Store) -> Result<Closure, OciError> {
        let mut packages = Vec::new();
        for id in graph.runtime_closure(roots) {
            let p = graph.get(&id);
            match store.usable_package(&id) {
                Err(StoreError::NotFound { .. }) => {
                    return Err(OciError::Missing {
                        id: id.to_string(),
                        name: p.name.clone(),
                    })
                }
                // Marked damaged: refused before any file is read.
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
            // An image is published and trusted by its digest: it must hold
            // the files the record vouches for, not an entry edited since
            // (which is then marked damaged, like `store verify` does).
            match store.verify_and_mark(&id) {
                Ok(()) => {}
                Err(StoreError::DigestMismatch { path, expected, actual }) => {
                    // The environments using it are not activated either.
                    let _ = crate::env::profile::mark_damaged(store, &[(id.to_string(), p.name.clone())]);
                    return Err(OciError::Corrupt(Box::new(CorruptEntry {
                        id: id.to_string(),
                        name: p.name.clone(),
                        path,
                        record: store.record_path(&id),
                        expected,
                        actual,
                    })));
                }
                Err(e) => return Err(e.into()),
            }
            let dir = store.package_dir(&id, &p.name);
            let static_exe = has_static_executable(&dir)?;
            packages.push(ClosurePackage::of(id, p, dir, static_exe));
        }
        let shipped: std::collections::BTreeSet<&PackageId> = packages.iter().map(|p| &p.id).collect();
        let build_inputs = graph
            .build_order(roots)
            .into_iter()
            .filter(|id| !shipped.contains(id))
            .map(|id| {
                let p = graph.get(&id);
                // Not shipped: no directory in the image.
                ClosurePackage::of(id, p, PathBuf::new(), false)
            })
            .collect();
        let mut oci = OciSettings::default();
        for r in roots {
            let p = graph.get(r);
            if let Some(v) = &p.oci {
                oci = OciSettings::parse(v, &format!("package {}", p.name))?;
                if !oci.is_empty() {
                    break;
                }
            }
        }
        let mut names: Vec<&str> = roots.iter().map(|r| graph.get(r).name.as_str()).collect();
        names.dedup();
        Ok(Closure {
            roots: roots.to_vec(),
            packages,
            build_inputs,
            env_id: None,
            name: if names.is_empty() {
                "empty".into()
            } else {
                names.join("-")
            },
            tag_name: None,
            oci,
            env: Vec::new(),
            project_paths: Vec::new(),
            project_copies: Vec::new(),
        })
    }

    /// Ship a project's `path` entries (normalised, relative to `root`):
    /// each directory goes to `/magpkg/project/<entry>` and first on the
    /// image's `PATH`, as `magpkg shell` puts it first. An entry outside the
    /// project (`..`), the whole project (`.`) or one that is not a
    /// directory is refused, naming it, rather than dropped.
    pub fn add_project_paths(&mut self, manifest: &Path, root: &Path, entries: &[String]) -> Result<(), OciError> {
        for entry in entries {
            let dir = project_entry(manifest, root, entry, "path")?;
            if !dir.is_dir() {
                return Err(OciError::ProjectPath {
                    manifest: manifest.into(),
                    field: "path",
                    entry: entry.clone(),
                    problem: "is not a directory of the project".into(),
                });
            }
            self.project_paths.push((entry.clone(), dir));
        }
        Ok(())
    }

    /// Ship `oci.copy`'s project files and directories at
    /// `/magpkg/project/<entry>` (not on `PATH`). The same entries as
    /// `path` are refused: outside the project, the whole project, or
    /// missing.
    pub fn add_project_copies(&mut self, manifest: &Path, root: &Path, entries: &[String]) -> Result<(), OciError> {
        for entry in entries {
            let norm = crate::env::manifest::normalize_relative(entry).unwrap_or_else(|| entry.clone());
            let src = project_entry(manifest, root, &norm, "oci.copy")?;
            if std::fs::symlink_metadata(&src).is_err() {
                return Err(OciError::ProjectPath {
                    manifest: manifest.into(),
                    field: "oci.copy",
                    entry: entry.clone(),
                    problem: "does not exist in the project".into(),
                });
            }
            self.project_copies.push((norm, src));
        }
        Ok(())
    }

    /// Everything shipped under `/magpkg/project`: the `path` directories
    /// and the `oci.copy` entries.
    pub fn project_entries(&self) -> Vec<(String, PathBuf)> {
        self.project_paths.iter().chain(&self.project_copies).cloned().collect()
    }

    fn root_packages(&self) -> impl Iterator<Item = &ClosurePackage> {
        self.roots
            .iter()
            .filter_map(|r| self.packages.iter().find(|p| &p.id == r))
    }

    /// `NAME:TAG` used when none is given: the package (or project) name,
    /// and the first 12 characters of the environment id, or of the root's
    /// id (of a digest of the roots' ids when there are several).
    pub fn default_tag(&self) -> String {
        let name = sanitize_name(self.tag_name.as_deref().unwrap_or(&self.name));
        let id = match (&self.env_id, self.roots.as_slice()) {
            (Some(e), _) => e.clone(),
            (None, [one]) => one.to_string(),
            (None, many) => {
                let ids: Vec<&str> = many.iter().map(PackageId::as_str).collect();
                crate::hash::digest("magpkg-oci-roots-v1", ids.join("\n").as_bytes())
            }
        };
        let tag: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
        format!("{name}:{}", if tag.is_empty() { "latest" } else { &tag })
    }

    /// The image's environment variables: PATH, the roots' variables (with
    /// `$out` replaced by their path in the image), the environment's, then
    /// the `oci.env` settings. A later value replaces an earlier one.
    pub fn image_env(&self) -> Vec<(String, String)> {
        // The project's directories first, in the manifest's order.
        let mut path: Vec<String> = self
            .project_paths
            .iter()
            .map(|(e, _)| format!("/{PROJECT_PATH}/{e}"))
            .collect();
        path.push(IMAGE_PATH.into());
        let mut env: Vec<(String, String)> = vec![("PATH".into(), path.join(":"))];
        let mut set = |k: &str, v: String| match env.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k.to_string(), v)),
        };
        for p in self.root_packages() {
            for (k, v) in &p.env {
                set(k, substitute_out(v, &p.image_path()));
            }
        }
        for (k, v) in &self.env {
            set(k, v.clone());
        }
        for (k, v) in &self.oci.env {
            set(k, v.clone());
        }
        env
    }

    /// `oci` settings with defaults filled in: with neither entrypoint nor
    /// cmd, `Cmd` is the first root's name when it provides `bin/<name>`.
    pub fn effective_settings(&self) -> OciSettings {
        let mut s = self.oci.clone();
        if s.entrypoint.is_none() && s.cmd.is_none() {
            if let Some(p) = self.root_packages().next() {
                if p.dir.join("bin").join(&p.name).exists() {
                    s.cmd = Some(vec![p.name.clone()]);
                }
            }
        }
        s
    }

    fn sbom_input<'a>(&'a self, created: &'a str) -> sbom::Input<'a> {
        sbom::Input {
            name: &self.name,
            created,
            roots: &self.roots,
            packages: &self.packages,
            build_inputs: &self.build_inputs,
        }
    }

    /// The SPDX 2.3 document of the closure.
    pub fn sbom(&self, created: &str) -> Vec<u8> {
        pretty(&sbom::spdx(&self.sbom_input(created)))
    }

    /// The CycloneDX 1.6 document of the closure.
    pub fn cyclonedx(&self, created: &str) -> Vec<u8> {
        pretty(&sbom::cyclonedx(&self.sbom_input(created)))
    }

    /// Both SBOMs.
    pub fn sboms(&self, created: &str) -> Sboms {
        Sboms {
            spdx: self.sbom(created),
            cyclonedx: self.cyclonedx(created),
        }
    }
}

/// The SBOMs of a closure, serialised.
pub struct Sboms {
    pub spdx: Vec<u8>,
    pub cyclonedx: Vec<u8>,
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("sbom serialises");
    out.push(b'\n');
    out
}

/// Does `dir` hold an executable ELF file with no program interpreter (a
/// statically linked program)? Shared libraries (`*.so*`) do not count.
fn has_static_executable(dir: &Path) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        let meta = entry.metadata().map_err(io::Error::other)?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 || meta.len() < 64 {
            continue;
        }
        let mut f = fs::File::open(entry.path())?;
        let mut h = [0u8; 64];
        f.read_exact(&mut h)?;
        // ELF, 64-bit, little-endian: what this tree builds.
        if &h[..4] != b"\x7fELF" || h[4] != 2 || h[5] != 1 {
            continue;
        }
        let e_type = u16::from_le_bytes([h[16], h[17]]);
        let is_so = entry.file_name().to_string_lossy().contains(".so");
        if !(e_type == 2 || (e_type == 3 && !is_so)) {
            continue;
        }
        let phoff = u64::from_le_bytes(h[32..40].try_into().expect("8 bytes"));
        let phentsize = u16::from_le_bytes([h[54], h[55]]) as u64;
        let phnum = u16::from_le_bytes([h[56], h[57]]) as u64;
        if phentsize < 4 || phnum == 0 || phoff.saturating_add(phentsize * phnum) > meta.len() {
            continue;
        }
        let mut interp = false;
        for i in 0..phnum {
            f.seek(SeekFrom::Start(phoff + i * phentsize))?;
            let mut t = [0u8; 4];
            f.read_exact(&mut t)?;
            // PT_INTERP
            if u32::from_le_bytes(t) == 3 {
                interp = true;
                break;
            }
        }
        if !interp {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Replace `$out` and `${out}` (not `$output`) by `path`.
fn substitute_out(value: &str, path: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("${out}") {
            out.push_str(path);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("$out") {
            if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                out.push('$');
                rest = &tail[1..];
            } else {
                out.push_str(path);
                rest = after;
            }
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A Docker-compatible repository name made from free text.
fn sanitize_name(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(['-', '.', '_']) {
            out.push('-');
        }
    }
    let out = out.trim_end_matches(['-', '.', '_']).to_string();
    if out.is_empty() {
        "magpkg".into()
    } else {
        out
    }
}

/// Check `NAME[:TAG]` (adding `:latest` when there is no tag) against the
/// rules of Docker references.
pub fn parse_tag(tag: &str) -> Result<String, OciError> {
    let bad = |problem: &str| OciError::BadTag {
        tag: tag.into(),
        problem: problem.into(),
    };
    if tag.contains('@') {
        return Err(bad("digests cannot be given, only a tag"));
    }
    let last_slash = tag.rfind('/').map_or(0, |i| i + 1);
    let (name, t) = match tag[last_slash..].rfind(':') {
        Some(i) => (&tag[..last_slash + i], &tag[last_slash + i + 1..]),
        None => (tag, "latest"),
    };
    if t.is_empty()
        || t.len() > 128
        || t.starts_with(['.', '-'])
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(bad("the tag must be 1-128 letters, digits, `_`, `.` or `-`"));
    }
    if name.is_empty() || name.len() > 255 {
        return Err(bad("the name is empty or too long"));
    }
    let mut parts = name.split('/').peekable();
    // A first component with a `.` or `:` (or `localhost`) is a registry host.
    if name.contains('/') {
        let first = parts.peek().copied().unwrap_or("");
        if first.contains(['.', ':']) || first == "localhost" {
            parts.next();
        }
    }
    for p in parts {
        let ok = !p.is_empty()
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(bad(
                "name components are lowercase letters and digits, separated by `.`, `_` or `-`",
            ));
        }
    }
    Ok(format!("{name}:{t}"))
}

// ----------------------------------------------------------------- profile

/// One entry of the profile, relative to [`PROFILE_PATH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileEntry {
    Dir(Vec<u8>),
    /// (path, relative symlink target)
    Link(Vec<u8>, Vec<u8>),
}

/// The merged profile of a closure: for every name the packages provide at
/// the top of their trees (`bin`, `lib`, `share`...), a symlink to the one
/// package that has it, or — when several packages have a directory of that
/// name — a real directory merged the same way, recursively. When two
/// packages provide the same file, the earlier one wins: roots in their
/// order, then the rest of the closure in dependency order. Links are
/// relative, so the profile works wherever the tree is unpacked.
pub fn profile(closure: &Closure) -> Result<Vec<ProfileEntry>, OciError> {
    let mut order: Vec<&ClosurePackage> = closure.root_packages().collect();
    for p in &closure.packages {
        if !order.iter().any(|o| o.id == p.id) {
            order.push(p);
        }
    }
    let mut out = Vec::new();
    merge_level(&order, &[], &mut out)?;
    Ok(out)
}

fn merge_level(providers: &[&ClosurePackage], rel: &[u8], out: &mut Vec<ProfileEntry>) -> Result<(), OciError> {
    // name → providers having it, in priority order, with "is a directory".
    let mut names: BTreeMap<Vec<u8>, Vec<(&ClosurePackage, bool)>> = BTreeMap::new();
    for p in providers {
        let dir = p.dir.join(std::ffi::OsStr::from_bytes(rel));
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !rel.is_empty() => continue,
            Err(e) => return Err(e.into()),
        };
        for ent in rd {
            let ent = ent?;
            let name: OsString = ent.file_name();
            // symlinks count as files: a package's `lib -> lib64` is its own.
            let is_dir = ent.file_type()?.is_dir();
            names.entry(name.as_bytes().to_vec()).or_default().push((p, is_dir));
        }
    }
    let depth = 1 + rel.split(|&c| c == b'/').filter(|c| !c.is_empty()).count();
    for (name, provs) in names {
        let path = join(rel, &name);
        let (first, first_dir) = provs[0];
        let dirs: Vec<&ClosurePackage> = provs.iter().filter(|(_, d)| *d).map(|(p, _)| *p).collect();
        if !first_dir || dirs.len() == 1 {
            let mut target = b"../".repeat(depth);
            target.extend_from_slice(b"store/pkgs-v1/");
            target.extend_from_slice(first.dir_name().as_bytes());
            target.push(b'/');
            target.extend_from_slice(&path);
            out.push(ProfileEntry::Link(path, target));
        } else {
            out.push(ProfileEntry::Dir(path.clone()));
            merge_level(&dirs, &path, out)?;
        }
    }
    Ok(())
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = a.to_vec();
    if !v.is_empty() {
        v.push(b'/');
    }
    v.extend_from_slice(b);
    v
}

/// Write `magpkg/env` (profile), `magpkg/sbom.cdx.json` and
/// `magpkg/sbom.spdx.json` (the parent `magpkg/` must already be written).
fn write_profile_and_sbom<W: Write>(
    t: &mut tar::TarWriter<W>,
    profile: &[ProfileEntry],
    sbom: &Sboms,
) -> io::Result<()> {
    t.dir(PROFILE_PATH.as_bytes(), 0o755)?;
    for e in profile {
        match e {
            ProfileEntry::Dir(p) => t.dir(&join(PROFILE_PATH.as_bytes(), p), 0o755)?,
            ProfileEntry::Link(p, target) => t.symlink(&join(PROFILE_PATH.as_bytes(), p), target)?,
        }
    }
    t.file_bytes(CYCLONEDX_PATH.as_bytes(), 0o644, &sbom.cyclonedx)?;
    t.file_bytes(SBOM_PATH.as_bytes(), 0o644, &sbom.spdx)
}

/// Write `magpkg/store/pkgs-v1/<id>-<name>/...` for each package (the
/// parent directories included).
fn write_packages<W: Write>(t: &mut tar::TarWriter<W>, packages: &[&ClosurePackage]) -> Result<(), OciError> {
    t.dir(b"magpkg", 0o755)?;
    t.dir(b"magpkg/store", 0o755)?;
    t.dir(STORE_PATH.as_bytes(), 0o755)?;
    for p in packages {
        let dest = format!("{STORE_PATH}/{}", p.dir_name());
        t.tree(&p.dir, dest.as_bytes())?;
    }
    Ok(())
}

/// Write `magpkg/project/<entry>/...` for the project's `path` entries
/// (parent directories included, each once; an entry inside another is
/// already written with it), in byte-wise order of the entries.
/// `root/entry` for an entry of the project shipped in an image; an entry
/// outside the project (`..`, absolute) or the whole project (`.`) is
/// refused, naming it.
fn project_entry(manifest: &Path, root: &Path, entry: &str, field: &'static str) -> Result<PathBuf, OciError> {
    let refuse = |problem: &str| OciError::ProjectPath {
        manifest: manifest.into(),
        field,
        entry: entry.into(),
        problem: problem.into(),
    };
    if entry == "." {
        return Err(refuse("is the whole project, which is not copied into an image"));
    }
    if Path::new(entry)
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(refuse("is outside the project"));
    }
    Ok(root.join(entry))
}

fn write_project<W: Write>(t: &mut tar::TarWriter<W>, paths: &[(String, PathBuf)]) -> Result<(), OciError> {
    let mut sorted: Vec<&(String, PathBuf)> = paths.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut written: Vec<&str> = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    t.dir(PROJECT_PATH.as_bytes(), 0o755)?;
    for (entry, src) in sorted {
        if written.iter().any(|w| entry.starts_with(&format!("{w}/"))) {
            continue;
        }
        let parts: Vec<&str> = entry.split('/').collect();
        for i in 1..parts.len() {
            let parent = parts[..i].join("/");
            if dirs.insert(parent.clone()) {
                t.dir(format!("{PROJECT_PATH}/{parent}").as_bytes(), 0o755)?;
            }
        }
        t.tree(src, format!("{PROJECT_PATH}/{entry}").as_bytes())?;
        written.push(entry);
    }
    Ok(())
}

// ------------------------------------------------------------------- layers

/// Which packages go in which layer: one each, in closure order, when they
/// fit in `budget`; else grouped into `budget` buckets by a hash of the id,
/// so adding a package changes only the layer of its bucket. Returns
/// indices into `packages`.
///
/// Closure order is the roots as listed, each after its runtime
/// dependencies. A package added at the end of a manifest's `packages` (or
/// of the roots) thus comes after every layer the image had: a container
/// engine, which names a layer by everything below it, reuses them all.
/// An order by name, or by dependency depth then name, would put it among
/// the existing layers and make every layer above it new to the engine.
pub fn plan_layers(packages: &[ClosurePackage], budget: usize) -> Vec<Vec<usize>> {
    let budget = budget.max(1);
    let idx: Vec<usize> = (0..packages.len()).collect();
    if packages.len() <= budget {
        return idx.into_iter().map(|i| vec![i]).collect();
    }
    let mut buckets: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for i in idx {
        let h = crate::hash::digest("magpkg-oci-layer-v1", packages[i].id.as_str().as_bytes());
        let n = u64::from_str_radix(&h[..16], 16).expect("hex digest");
        buckets.entry(n % budget as u64).or_default().push(i);
    }
    buckets.into_values().collect()
}

enum LayerJob<'a> {
    Packages(Vec<&'a ClosurePackage>),
    /// The project's `path` directories (a layer of their own: they change
    /// more often than the packages, less often than nothing).
    Project(&'a [(String, PathBuf)]),
    Top {
        profile: &'a [ProfileEntry],
        sbom: &'a Sboms,
        /// On a base image: its `/bin`, `/usr/bin` and `/tmp` stay.
        on_base: bool,
        /// `/etc/passwd`, `/etc/group` and a home for `oci.user`.
        user: Option<&'a config::ImageUser>,
        /// The CA bundle (`oci.caCertificates`).
        ca: Option<&'a [u8]>,
    },
}

/// A layer written into the layout.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    /// The compressed blob.
    pub blob: Descriptor,
    /// sha256 hex of the uncompressed tar.
    pub diff_id: String,
    /// `<id>-<name>` of the packages in it; empty for the top layer.
    pub packages: Vec<String>,
}

fn write_layer(layout: &layout::Layout, job: &LayerJob) -> Result<(Descriptor, String), OciError> {
    let blob = layout.blob_writer()?;
    let raw = gzip::HashWriter::new(gzip::encoder(blob));
    let mut t = tar::TarWriter::new(raw);
    match job {
        LayerJob::Packages(pkgs) => write_packages(&mut t, pkgs)?,
        LayerJob::Project(paths) => {
            t.dir(b"magpkg", 0o755)?;
            write_project(&mut t, paths)?;
        }
        LayerJob::Top {
            profile,
            sbom,
            on_base,
            user,
            ca,
        } => {
            // `/bin` and `/usr/bin` lead to the profile so `#!/bin/sh`,
            // `#!/usr/bin/env` and absolute entrypoints like `/bin/app`
            // work when the environment provides them.
            // A base image keeps its own: a symlink here would hide them.
            if !on_base {
                t.symlink(b"bin", b"magpkg/env/bin")?;
            }
            if user.is_some() || ca.is_some() {
                t.dir(b"etc", 0o755)?;
            }
            if let Some(u) = user {
                t.file_bytes(b"etc/group", 0o644, u.group().as_bytes())?;
                t.file_bytes(b"etc/passwd", 0o644, u.passwd().as_bytes())?;
            }
            if let Some(ca) = ca {
                t.dir(b"etc/ssl", 0o755)?;
                t.dir(b"etc/ssl/certs", 0o755)?;
                t.file_bytes(config::IMAGE_CA_BUNDLE.as_bytes(), 0o644, ca)?;
            }
            if let Some(u) = user {
                t.dir(b"home", 0o755)?;
                t.dir_owned(format!("home/{}", u.name).as_bytes(), 0o755, u.uid, u.gid)?;
            }
            t.dir(b"magpkg", 0o755)?;
            write_profile_and_sbom(&mut t, profile, sbom)?;
            if !on_base {
                t.dir(b"tmp", 0o1777)?;
                t.dir(b"usr", 0o755)?;
                t.symlink(b"usr/bin", b"../magpkg/env/bin")?;
            }
        }
    }
    let raw = t.finish()?;
    let (gz, diff_id, _) = raw.finish();
    let blob = gz.finish()?;
    let (digest, size) = blob.commit()?;
    Ok((
        Descriptor {
            media_type: layout::LAYER_GZIP.into(),
            digest,
            size,
        },
        diff_id,
    ))
}

/// Run `jobs` on up to `threads` threads; results in job order.
fn write_layers(
    layout: &layout::Layout,
    jobs: &[LayerJob],
    threads: usize,
) -> Result<Vec<(Descriptor, String)>, OciError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    type Slot = Option<Result<(Descriptor, String), OciError>>;
    let results: Mutex<Vec<Slot>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let r = write_layer(layout, &jobs[i]);
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().expect("no panics while locked")[i] = Some(r);
            });
        }
    });
    let mut out = Vec::new();
    for r in results.into_inner().expect("threads joined") {
        match r {
            Some(Ok(x)) => out.push(x),
            Some(Err(e)) => return Err(e),
            // Skipped after another layer failed; that error comes first.
            None => {}
        }
    }
    Ok(out)
}

// -------------------------------------------------------------------- image

/// Where an image goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// One tar: OCI layout + Docker `manifest.json`.
    Archive(PathBuf),
    /// An OCI image layout directory (created, or an existing one added to).
    Layout(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub target: Target,
    /// `NAME:TAG`; default [`Closure::default_tag`].
    pub tag: Option<String>,
    /// Most layers, the top layer included (≥ 2).
    pub max_layers: usize,
    /// `created` (RFC 3339), see [`config::created`].
    pub created: String,
    /// Layers compressed at once.
    pub threads: usize,
    /// List the SBOM artifacts in `index.json` (layouts; not archives).
    pub index_referrers: bool,
    /// A base image (see [`base`]) to put the layers on.
    pub base: Option<String>,
}

impl ImageOptions {
    pub fn new(target: Target) -> Self {
        ImageOptions {
            target,
            tag: None,
            max_layers: MAX_LAYERS,
            created: config::rfc3339(tar::MTIME),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            index_referrers: true,
            base: None,
        }
    }
}

/// What [`export_image`] wrote.
#[derive(Debug, Clone)]
pub struct ImageReport {
    pub tag: String,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub sbom: Descriptor,
    pub cyclonedx: Descriptor,
    /// The SBOMs' artifact manifests (subject: the image) and their types.
    pub referrers: Vec<(Descriptor, String)>,
    /// Package layers in image order, then the top layer.
    pub layers: Vec<LayerInfo>,
}

/// Write the image of `closure`.
pub fn export_image(closure: &Closure, opts: &ImageOptions) -> Result<ImageReport, OciError> {
    let tag = match &opts.tag {
        Some(t) => parse_tag(t)?,
        None => parse_tag(&closure.default_tag())?,
    };
    match &opts.target {
        Target::Layout(dir) => {
            let layout = layout::Layout::open(dir)?;
            write_image(closure, opts, &tag, &layout)
        }
        Target::Archive(out) => {
            // Everything is staged next to the output (not in /tmp, which
            // may be a small tmpfs) and the archive renamed into place.
            let parent = output_dir(out)?;
            let stage = tempfile::Builder::new().prefix(".magpkg-oci-").tempdir_in(&parent)?;
            let layout = layout::Layout::open(&stage.path().join("layout"))?;
            let opts = ImageOptions {
                index_referrers: false,
                ..opts.clone()
            };
            let report = write_image(closure, &opts, &tag, &layout)?;
            let tmp = tempfile::Builder::new().prefix(".magpkg-oci-").tempfile_in(&parent)?;
            let file = fs::File::from_parts(tmp.reopen()?, tmp.path());
            let mut w = io::BufWriter::with_capacity(256 * 1024, file);
            let docker = layout::DockerImage {
                config: report.config.digest.clone(),
                layers: report.layers.iter().map(|l| l.blob.digest.clone()).collect(),
                tag: tag.clone(),
            };
            layout::write_archive(&layout, &docker, &mut w)?;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            tmp.persist(out)
                .map_err(|e| crate::util::at("write file", out, e.error))?;
            Ok(report)
        }
    }
}

fn write_image(
    closure: &Closure,
    opts: &ImageOptions,
    tag: &str,
    layout: &layout::Layout,
) -> Result<ImageReport, OciError> {
    // The base first: a wrong one is found before any layer is written.
    let base = opts.base.as_deref().map(|b| base::fetch(b, layout)).transpose()?;
    let profile = profile(closure)?;
    // The image's user gets passwd/group entries, unless a base image has
    // its own files (which ours would hide).
    let user = match &base {
        None => closure.oci.user.as_deref().and_then(config::ImageUser::parse),
        Some(_) => None,
    };
    let ca = ca_bundle(&closure.oci)?;
    let sboms = closure.sboms(&opts.created);
    let sbom = layout.put(sbom::MEDIA_TYPE, &sboms.spdx)?;
    let cyclonedx = layout.put(sbom::CYCLONEDX_MEDIA_TYPE, &sboms.cyclonedx)?;
    let groups = plan_layers(&closure.packages, opts.max_layers.max(2) - 1);
    let project = closure.project_entries();
    let mut jobs: Vec<LayerJob> = groups
        .iter()
        .map(|g| LayerJob::Packages(g.iter().map(|&i| &closure.packages[i]).collect()))
        .collect();
    if !project.is_empty() {
        jobs.push(LayerJob::Project(&project));
    }
    jobs.push(LayerJob::Top {
        profile: &profile,
        sbom: &sboms,
        on_base: base.is_some(),
        user: user.as_ref(),
        ca: ca.as_deref(),
    });
    let written = write_layers(layout, &jobs, opts.threads)?;
    let mut layers = Vec::new();
    let mut history = Vec::new();
    if let Some(b) = &base {
        for (blob, diff_id) in b.layers.iter().zip(b.diff_ids()) {
            layers.push(LayerInfo {
                blob: blob.clone(),
                diff_id: diff_id.trim_start_matches("sha256:").to_string(),
                packages: Vec::new(),
            });
        }
    }
    for (job, (blob, diff_id)) in jobs.iter().zip(written) {
        let packages: Vec<String> = match job {
            LayerJob::Packages(p) => p.iter().map(|p| p.dir_name()).collect(),
            LayerJob::Project(_) | LayerJob::Top { .. } => Vec::new(),
        };
        history.push(match job {
            LayerJob::Packages(p) => format!(
                "magpkg: {}",
                p.iter()
                    .map(|p| format!("{} {} ({})", p.name, p.version, p.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            LayerJob::Project(paths) => format!(
                "magpkg: project files /{PROJECT_PATH}/ ({})",
                paths.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>().join(", ")
            ),
            LayerJob::Top { on_base: false, .. } => {
                "magpkg: profile /magpkg/env, SBOMs /magpkg/sbom.spdx.json /magpkg/sbom.cdx.json, /bin, /tmp".into()
            }
            LayerJob::Top { on_base: true, .. } => {
                "magpkg: profile /magpkg/env, SBOMs /magpkg/sbom.spdx.json /magpkg/sbom.cdx.json".into()
            }
        });
        layers.push(LayerInfo {
            blob,
            diff_id,
            packages,
        });
    }

    let mut settings = closure.effective_settings();
    let mut env = closure.image_env();
    if ca.is_some() && !env.iter().any(|(k, _)| k == "SSL_CERT_FILE") {
        env.push(("SSL_CERT_FILE".into(), format!("/{}", config::IMAGE_CA_BUNDLE)));
    }
    let mut labels = BTreeMap::new();
    let mut base_history = Vec::new();
    if let Some(b) = &base {
        on_base(b, &mut settings, &mut env, &mut labels);
        // Not where the base came from: the same base read from an archive,
        // a layout or a registry gives the same image.
        base_history = b.config["history"].as_array().cloned().unwrap_or_default();
    }
    labels.insert("org.opencontainers.image.title".to_string(), closure.name.clone());
    if let [root] = closure.roots.as_slice() {
        if let Some(p) = closure.packages.iter().find(|p| &p.id == root) {
            labels.insert("org.opencontainers.image.version".into(), p.version.clone());
        }
    }
    let mut ids: Vec<String> = closure.packages.iter().map(ClosurePackage::dir_name).collect();
    ids.sort();
    labels.insert("dev.magpkg.packages".into(), ids.join(" "));
    labels.insert(
        "dev.magpkg.roots".into(),
        closure
            .roots
            .iter()
            .map(PackageId::as_str)
            .collect::<Vec<_>>()
            .join(" "),
    );
    if let Some(e) = &closure.env_id {
        labels.insert("dev.magpkg.env-id".into(), e.clone());
    }
    labels.insert(SBOM_ANNOTATION.into(), format!("sha256:{}", sbom.digest));
    for (k, v) in &settings.labels {
        labels.insert(k.clone(), v.clone());
    }
    let cfg = config::ImageConfig {
        created: opts.created.clone(),
        env,
        settings,
        labels,
        base_history,
        history,
        diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
    };
    let cfg_bytes = serde_json::to_vec(&cfg.to_json()).expect("config serialises");
    let config = layout.put(layout::CONFIG, &cfg_bytes)?;

    let mut annotations = serde_json::Map::new();
    annotations.insert("org.opencontainers.image.created".into(), json!(opts.created));
    annotations.insert("org.opencontainers.image.title".into(), json!(closure.name));
    annotations.insert(SBOM_ANNOTATION.into(), json!(format!("sha256:{}", sbom.digest)));
    let manifest_json = json!({
        "schemaVersion": 2,
        "mediaType": layout::MANIFEST,
        "config": config.to_json(),
        "layers": layers.iter().map(|l| l.blob.to_json()).collect::<Vec<Value>>(),
        "annotations": annotations,
    });
    let manifest_bytes = serde_json::to_vec(&manifest_json).expect("manifest serialises");
    let manifest = layout.put(layout::MANIFEST, &manifest_bytes)?;
    let mut index_ann = serde_json::Map::new();
    index_ann.insert(layout::REF_NAME.into(), json!(tag));
    index_ann.insert(SBOM_ANNOTATION.into(), json!(format!("sha256:{}", sbom.digest)));
    // The SBOMs as OCI 1.1 artifacts whose subject is the image, so tools
    // that follow referrers (registries, `oras discover`) find them.
    let empty = layout.put(layout::EMPTY, b"{}")?;
    let mut referrers = Vec::new();
    for (doc, artifact_type) in [(&sbom, sbom::MEDIA_TYPE), (&cyclonedx, sbom::CYCLONEDX_MEDIA_TYPE)] {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": layout::MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": layout::EMPTY, "digest": format!("sha256:{}", empty.digest), "size": 2, "data": "e30="},
            "layers": [doc.to_json()],
            "subject": manifest.to_json(),
            "annotations": {"org.opencontainers.image.created": opts.created},
        });
        let bytes = serde_json::to_vec(&m).expect("manifest serialises");
        referrers.push((layout.put(layout::MANIFEST, &bytes)?, artifact_type.to_string()));
    }
    // An archive's index holds the image alone: `oci-archive:FILE` without
    // a tag (skopeo, podman) refuses an index of several manifests.
    let listed: &[(Descriptor, String)] = if opts.index_referrers { &referrers } else { &[] };
    layout.add_to_index(&manifest, &index_ann, listed)?;
    Ok(ImageReport {
        tag: tag.to_string(),
        manifest,
        config,
        sbom,
        cyclonedx,
        referrers,
        layers,
    })
}

/// The CA bundle `oci.caCertificates` asks for: the host's (the first of
/// [`config::HOST_CA_BUNDLES`]) or the file named.
fn ca_bundle(settings: &OciSettings) -> Result<Option<Vec<u8>>, OciError> {
    let path = match &settings.ca_certificates {
        None => return Ok(None),
        Some(config::CaCertificates::File(p)) => p.clone(),
        Some(config::CaCertificates::Host) => config::HOST_CA_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| OciError::BadSetting {
                origin: "this machine".into(),
                field: "caCertificates".into(),
                problem: format!(
                    "is true but no CA bundle is here (looked for {})",
                    config::HOST_CA_BUNDLES.join(", ")
                ),
                suggestion: None,
            })?,
    };
    std::fs::read(&path).map(Some).map_err(|e| OciError::BadSetting {
        origin: "oci".into(),
        field: "caCertificates".into(),
        problem: format!("cannot read {}: {e}", path.display()),
        suggestion: None,
    })
}

/// Build on a base image's configuration: its variables (the environment's
/// `PATH` entries before its `PATH`), labels, user, working directory and
/// ports, and its entrypoint and command when the environment sets none.
fn on_base(
    b: &base::BaseImage,
    settings: &mut OciSettings,
    env: &mut Vec<(String, String)>,
    labels: &mut BTreeMap<String, String>,
) {
    let mut merged = b.env();
    let base_path = merged.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
    for (k, mut v) in std::mem::take(env) {
        if k == "PATH" {
            if let Some(bp) = &base_path {
                v = v.replace(IMAGE_PATH, &format!("/{PROFILE_PATH}/bin:{bp}"));
            }
        }
        match merged.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => merged.push((k, v)),
        }
    }
    *env = merged;
    if settings.entrypoint.is_none() && settings.cmd.is_none() {
        settings.entrypoint = b.list("Entrypoint");
        settings.cmd = b.list("Cmd");
    }
    if settings.user.is_none() {
        settings.user = b.field("User");
    }
    if settings.workdir.is_none() {
        settings.workdir = b.field("WorkingDir");
    }
    if let Some(ports) = b.config["config"]["ExposedPorts"].as_object() {
        settings.exposed_ports.extend(ports.keys().cloned());
        settings.exposed_ports.sort();
        settings.exposed_ports.dedup();
    }
    if let Some(l) = b.config["config"]["Labels"].as_object() {
        for (k, v) in l {
            if let Some(v) = v.as_str() {
                labels.entry(k.clone()).or_insert_with(|| v.to_string());
            }
        }
    }
}

/// Write the closure as one reproducible `.tar.zst` holding `magpkg/`
/// (packages, profile, SBOM). Returns the archive's sha256.
pub fn export_tarball(closure: &Closure, out: &Path, created: &str) -> Result<String, OciError> {
    tarball::write(closure, out, created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_is_substituted_but_not_longer_names() {
        assert_eq!(substitute_out("$out/lib:${out}/x", "/p"), "/p/lib:/p/x");
        assert_eq!(substitute_out("$output $$ $o", "/p"), "$output $$ $o");
        assert_eq!(substitute_out("a$out", "/p"), "a/p");
    }

    #[test]
    fn tags_follow_docker_rules() {
        assert_eq!(parse_tag("hello").unwrap(), "hello:latest");
        assert_eq!(parse_tag("hello:1.0").unwrap(), "hello:1.0");
        assert_eq!(
            parse_tag("localhost:5000/team/hello:dev").unwrap(),
            "localhost:5000/team/hello:dev"
        );
        assert!(parse_tag("Hello:1").is_err());
        assert!(parse_tag("hello:").is_err());
        assert!(parse_tag("hello:a b").is_err());
        assert!(parse_tag("hello@sha256:00").is_err());
        assert_eq!(sanitize_name("My Project!"), "my-project");
        assert_eq!(sanitize_name("..."), "magpkg");
    }

    fn pkg(id: &str) -> ClosurePackage {
        ClosurePackage {
            id: PackageId::from_string(id.into()),
            name: "p".into(),
            version: "1".into(),
            dir: PathBuf::new(),
            run_deps: vec![],
            env: BTreeMap::new(),
            meta: Meta::default(),
            sources: vec![],
            build_deps: vec![],
            static_exe: false,
        }
    }

    #[test]
    fn layer_plan_is_one_per_package_then_stable_buckets() {
        let ids: Vec<String> = (0..30).map(|i| crate::hash::digest("t", &[i as u8])).collect();
        let pkgs: Vec<ClosurePackage> = ids.iter().map(|i| pkg(i)).collect();
        let plan = plan_layers(&pkgs, 99);
        assert_eq!(plan.len(), 30);
        assert_eq!(plan, (0..30).map(|i| vec![i]).collect::<Vec<_>>(), "closure order");
        // Grouped: at most the budget, every package once.
        let plan = plan_layers(&pkgs, 7);
        assert!(plan.len() <= 7);
        let mut all: Vec<usize> = plan.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..30).collect::<Vec<_>>());
        // Adding a package changes exactly one group.
        let mut more = pkgs.clone();
        more.push(pkg(&crate::hash::digest("t", b"new")));
        let names = |plan: Vec<Vec<usize>>, ps: &[ClosurePackage]| -> Vec<Vec<String>> {
            plan.into_iter()
                .map(|g| g.into_iter().map(|i| ps[i].id.to_string()).collect())
                .collect()
        };
        let before = names(plan_layers(&pkgs, 7), &pkgs);
        let after = names(plan_layers(&more, 7), &more);
        let changed = after.iter().filter(|g| !before.contains(g)).count();
        assert_eq!(changed, 1);
    }
}
