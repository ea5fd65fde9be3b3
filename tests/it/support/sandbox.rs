//! The busybox test root: a tiny root filesystem made of the host's static
//! busybox (`apt-get install busybox-static`, done by `.ci/setup`), turned
//! into a root by the `rootfs` builtin, and [`Cli`], a test's world for
//! building packages on it with the real binary.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use magpkg::store::Store;

use super::{busybox, TestContext};

/// Applets the test root needs (busybox-static has them all).
pub const APPLETS: &[&str] = &[
    "cat", "chmod", "cp", "date", "echo", "env", "false", "grep", "head", "id", "kill", "ln", "ls", "mkdir", "mkfifo",
    "mknod", "mv", "nc", "printf", "ps", "readlink", "rm", "sed", "setsid", "sleep", "sort", "tail", "test", "touch",
    "tr", "true", "uname", "wc", "wget", "hostname",
];

/// The source of the test root: `bin/busybox` in a .tar.gz.
pub fn busybox_tarball() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    tar.append_data(&mut dir, "bin/", &b""[..]).unwrap();
    let bb = busybox();
    let mut exe = tar::Header::new_gnu();
    exe.set_mode(0o755);
    exe.set_size(bb.len() as u64);
    tar.append_data(&mut exe, "bin/busybox", &bb[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// A test's [`TestContext`] for running the real binary offline, with the
/// busybox test root in its source cache.
pub struct Cli {
    pub ctx: TestContext,
    pub store: PathBuf,
    /// Jsonnet of the busybox test root, for `local root = ...;`.
    pub root_def: String,
}

pub fn cli() -> Cli {
    let ctx = TestContext::new();
    let store = ctx.store().to_path_buf();
    let f = ctx.path("busybox-root.tar.gz");
    fs::write(&f, busybox_tarball()).unwrap();
    // `magpkg source add` belongs to the fetch work; the library call is
    // the same import.
    let (sha, _) = Store::open(&store)
        .unwrap()
        .add_source_file(&f, "busybox-root.tar.gz", None, "test")
        .unwrap();
    let applets: Vec<String> = APPLETS.iter().map(|a| format!("'{a}'")).collect();
    let root_def = format!(
        "{{ name: 'testroot', version: '1', \
           sources: [{{ filename: 'busybox-root.tar.gz', sha256: '{sha}', urls: [] }}], \
           build: {{ builtin: 'rootfs', links: {{ '/bin/sh': 'busybox' }}, busybox: 'bin/busybox', applets: [{}] }} }}",
        applets.join(", ")
    );
    Cli { ctx, store, root_def }
}

impl Cli {
    /// `magpkg`, offline, in the test's root dir.
    pub fn cmd(&self) -> std::process::Command {
        let mut c = self.ctx.in_dir(self.ctx.root());
        c.env("MAGPKG_OFFLINE", "1").env("MAGPKG_BUILD_CORES", "2");
        c
    }

    /// Write `name.jsonnet` defining a package built with the test root.
    pub fn def(&self, name: &str, script: &str) -> PathBuf {
        self.def_with(name, "", script)
    }

    /// [`Cli::def`] with more fields (`fields` is Jsonnet: `sources: [...],`).
    pub fn def_with(&self, name: &str, fields: &str, script: &str) -> PathBuf {
        let path = self.ctx.path(&format!("{name}.jsonnet"));
        let text = format!(
            "local root = {};\n{{ name: '{name}', version: '1', buildDeps: [root], {fields} build: |||\n{}\n||| }}\n",
            self.root_def,
            script.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
        );
        fs::write(&path, text).unwrap();
        path
    }

    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd().args(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}
