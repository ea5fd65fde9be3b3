//! Packages without a sandbox build: a local tarball unpacked by the
//! `unpack` builtin, or a tree put straight into a test's store the way
//! the build engine does.

use std::path::{Path, PathBuf};

use super::{sha256, TestContext};

/// A `.tar.gz` of `files` (path, content, executable) and symlinks
/// (path, target), as a package's unpacked tree (fixed mtime and modes).
pub fn tarball(dest: &Path, files: &[(&str, &[u8], bool)], links: &[(&str, &str)]) {
    let f = std::fs::File::create(dest).unwrap();
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, content, exec) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(if *exec { 0o755 } else { 0o644 });
        h.set_mtime(1);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, *content).unwrap();
    }
    for (path, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(1);
        h.set_entry_type(tar::EntryType::Symlink);
        tar.append_link(&mut h, path, target).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().sync_all().unwrap();
}

/// A `sources` entry (Jsonnet) for the local `file`, which is put in the
/// source cache of each store given and listed by `file://` URL.
pub fn local_source(file: &Path, stores: &[&Path]) -> String {
    let sha = sha256(&std::fs::read(file).unwrap());
    let filename = file.file_name().unwrap().to_str().unwrap();
    for s in stores {
        let store = magpkg::store::Store::open(s).unwrap();
        store.add_source_file(file, filename, Some(&sha), "test").unwrap();
    }
    format!(
        r#"{{ filename: "{filename}", sha256: "{sha}", urls: ["file://{path}"] }}"#,
        path = file.display()
    )
}

/// A local package definition (Jsonnet) for a tarball, unpacked by the
/// `unpack` builtin ([`local_source`]).
pub fn local_package(name: &str, version: &str, tarball: &Path, stores: &[&Path]) -> String {
    let source = local_source(tarball, stores);
    format!(
        r#"{{
    name: "{name}",
    version: "{version}",
    sources: [{source}],
    build: {{ builtin: "unpack" }},
  }}"#
    )
}

/// A root filesystem package (Jsonnet) made of the host's static busybox
/// by the `rootfs` builtin, for packages whose build script runs in the
/// sandbox: list it first in their `buildDeps`. The tarball is written to
/// `dir`.
pub fn busybox_root(dir: &Path, stores: &[&Path]) -> String {
    let tb = dir.join("busybox-root.tar.gz");
    tarball(&tb, &[("bin/busybox", &super::busybox(), true)], &[]);
    let source = local_source(&tb, stores);
    format!(
        r#"{{
    name: "testroot",
    version: "1",
    sources: [{source}],
    build: {{
      builtin: "rootfs",
      links: {{ "/bin/sh": "busybox" }},
      busybox: "bin/busybox",
      applets: ["cat", "chmod", "echo", "mkdir", "printf", "sleep", "test", "true", "false"],
    }},
  }}"#
    )
}

impl TestContext {
    /// Add package `id` (`name` `version`, depending at run time on
    /// `run_deps`) to this test's store with the tree `fill` writes, as the
    /// build engine does after a build; returns its store path.
    pub fn add_package(
        &self,
        id: &str,
        name: &str,
        version: &str,
        run_deps: &[String],
        fill: impl FnOnce(&Path),
    ) -> PathBuf {
        let store = self.open_store();
        let tree = store.tempdir("build-").unwrap();
        fill(tree.path());
        let record = magpkg::store::PackageRecord {
            id: id.into(),
            name: name.into(),
            version: version.into(),
            digest: String::new(),
            run_deps: run_deps.to_vec(),
            build_deps: vec![],
            sources: vec![],
            built_by: None,
            damaged: None,
        };
        store.add_package(&tree.keep(), record).unwrap();
        let id = magpkg::model::PackageId::from_string(id.to_string());
        store.package_path(&id).unwrap()
    }
}
