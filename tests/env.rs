//! Project environments end to end: `magpkg init`, `shell`, `run`, `env`,
//! the lock file and `--pure`, with the real binary, real shells in tmux and
//! real bubblewrap. Each test has its own store, state, HOME and XDG dirs.
//!
//! Packages are made without a sandbox build: a local tarball added to the
//! store's source cache and unpacked by the `unpack` builtin.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_magpkg");

/// One test's world: temp HOME, XDG dirs, store and state.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["home", "config", "data", "state", "cache", "store", "magpkg-state"] {
            std::fs::create_dir_all(w.path(d)).unwrap();
        }
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// A project directory (created).
    fn project(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::canonicalize(p).unwrap()
    }

    /// The variables every magpkg process of this test gets.
    fn vars(&self, store: &Path) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("HOME".into(), self.path("home").display().to_string()),
            ("XDG_CONFIG_HOME".into(), self.path("config").display().to_string()),
            ("XDG_DATA_HOME".into(), self.path("data").display().to_string()),
            ("XDG_STATE_HOME".into(), self.path("state").display().to_string()),
            ("XDG_CACHE_HOME".into(), self.path("cache").display().to_string()),
            ("MAGPKG_STORE".into(), store.display().to_string()),
            ("MAGPKG_STATE".into(), self.path("magpkg-state").display().to_string()),
            ("LC_ALL".into(), "C.UTF-8".into()),
        ]
    }

    fn cmd_in(&self, cwd: &Path, store: &Path) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear().envs(self.vars(store)).current_dir(cwd);
        c
    }

    fn cmd(&self, cwd: &Path) -> Command {
        self.cmd_in(cwd, &self.store())
    }

    fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        self.cmd(cwd).args(args).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A `.tar.gz` of `files` (path, content, executable) and symlinks
/// (path, target), as a package's unpacked tree.
fn tarball(dest: &Path, files: &[(&str, &[u8], bool)], links: &[(&str, &str)]) {
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

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

/// A local package definition (Jsonnet) for a tarball: the tarball is put
/// in the source cache of each store given, and listed by `file://` URL.
fn local_package(name: &str, version: &str, tarball: &Path, stores: &[&Path]) -> String {
    let sha = sha256(tarball);
    let filename = tarball.file_name().unwrap().to_str().unwrap();
    for s in stores {
        let store = magpkg::store::Store::open(s).unwrap();
        store.add_source_file(tarball, filename, Some(&sha), "test").unwrap();
    }
    format!(
        r#"{{
    name: "{name}",
    version: "{version}",
    sources: [{{ filename: "{filename}", sha256: "{sha}", urls: ["file://{path}"] }}],
    build: {{ builtin: "unpack" }},
  }}"#,
        path = tarball.display()
    )
}

const GREET: &[u8] = b"#!/bin/sh\necho \"Hello, ${1:-world}!\"\nexit ${2:-0}\n";

/// A project with the `greet` package (bin/greet, a man page) and the
/// given extra manifest fields.
fn greet_project(w: &World, name: &str, extra: &str) -> PathBuf {
    let root = w.project(name);
    let tb = w.path(&format!("{name}-greet-1.0.tar.gz"));
    tarball(
        &tb,
        &[("bin/greet", GREET, true), ("share/man/man1/greet.1", b".TH GREET 1\n", false)],
        &[],
    );
    let pkg = local_package("greet", "1.0", &tb, &[&w.store()]);
    std::fs::write(
        root.join("magnet.jsonnet"),
        format!("local greet = {pkg};\n{{\n  packages: [greet],\n{extra}\n}}\n"),
    )
    .unwrap();
    root
}

// ------------------------------------------------------------------- init

#[test]
fn init_in_an_empty_dir_writes_the_minimal_template() {
    let w = World::new();
    let root = w.project("empty");
    let out = w.run(&root, &["init"]);
    ok(&out);
    assert!(text(&out.stderr).contains("template `minimal` (detected)"), "{}", text(&out.stderr));
    let manifest = std::fs::read_to_string(root.join("magnet.jsonnet")).unwrap();
    assert!(manifest.contains("packages: []"), "{manifest}");
    let gi = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(gi.contains("/.magpkg/"), "{gi}");
    assert!(
        !gi.lines().any(|l| l.trim().trim_matches('/') == "magnet.lock"),
        "the lock file is committed: {gi}"
    );
}

#[test]
fn init_in_a_c_project_picks_the_c_template() {
    let w = World::new();
    let root = w.project("cproj");
    std::fs::create_dir(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.c"), "int main(void) { return 0; }\n").unwrap();
    std::fs::write(root.join("Makefile"), "all:\n\tcc -o main src/main.c\n").unwrap();
    std::fs::write(root.join(".gitignore"), "main\n").unwrap();
    let out = w.run(&root, &["init"]);
    ok(&out);
    assert!(text(&out.stderr).contains("template `c` (detected)"));
    let manifest = std::fs::read_to_string(root.join("magnet.jsonnet")).unwrap();
    assert!(manifest.contains("pkgs.make"), "{manifest}");
    assert_eq!(
        std::fs::read_to_string(root.join(".gitignore")).unwrap().lines().next(),
        Some("main"),
        "existing .gitignore kept"
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let w = World::new();
    let root = w.project("p");
    std::fs::write(root.join("magnet.jsonnet"), "{ packages: [] } // mine\n").unwrap();
    let out = w.run(&root, &["init", "--template", "lua"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("magnet.jsonnet already exists"), "{err}");
    assert!(err.contains("hint: use --force"), "{err}");
    assert!(std::fs::read_to_string(root.join("magnet.jsonnet")).unwrap().contains("// mine"));
    ok(&w.run(&root, &["init", "--template", "lua", "--force"]));
    assert!(std::fs::read_to_string(root.join("magnet.jsonnet"))
        .unwrap()
        .contains("pkgs.lua"));
}

#[test]
fn init_lists_templates_and_suggests_on_typos() {
    let w = World::new();
    let root = w.project("p");
    let list = ok(&w.run(&root, &["init", "--list"]));
    for t in ["minimal", "c", "lua", "shell"] {
        assert!(list.lines().any(|l| l.starts_with(t)), "{list}");
    }
    let out = w.run(&root, &["init", "-t", "lau"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("did you mean `lua`?"), "{}", text(&out.stderr));
    assert!(!root.join("magnet.jsonnet").exists());
}

#[test]
fn commands_outside_a_project_say_how_to_start_one() {
    let w = World::new();
    let root = w.project("nothing");
    let out = w.run(&root, &["shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no magnet.jsonnet in"), "{err}");
    assert!(err.contains("magpkg init"), "{err}");
}
