//! OCI image and tarball export, checked with the real tools that consume
//! them: skopeo, umoci, podman (+ runc), GNU tar.
//!
//! Packages are put in a temp store with `Store::add_package`, the way the
//! build engine does, so these tests need neither Jsonnet nor a sandbox.
//! The "hello" package holds a static binary compiled on the host.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use magpkg::model::{Build, Graph, Meta, Package, PackageId, Source};
use magpkg::oci::{self, Closure, ImageOptions, Target};
use magpkg::store::Store;
use serde_json::{json, Value};

use crate::support::{require, TestContext};

const GREETING: &str = "Hello from a magpkg image!";

/// A static binary printing GREETING and its arguments, built once.
fn hello_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oci-hello");
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("hello.c");
        fs::write(
            &src,
            format!(
                "#include <stdio.h>\nint main(int argc, char **argv) {{\n  puts(\"{GREETING}\");\n  \
                 for (int i = 1; i < argc; i++) puts(argv[i]);\n  return 0;\n}}\n"
            ),
        )
        .unwrap();
        let bin = dir.join(format!("hello-{}", std::process::id()));
        let st = Command::new(require("cc"))
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .status()
            .expect("cc (gcc + libc6-dev) is needed to build the test binary");
        assert!(st.success(), "cc -static failed");
        bin
    })
}

/// A test's store (its [`TestContext`]'s) and the packages added to it.
struct Fixture {
    ctx: TestContext,
    store: Store,
    graph: Graph,
}

impl Fixture {
    fn new() -> Fixture {
        let ctx = TestContext::new();
        let store = ctx.open_store();
        Fixture {
            ctx,
            store,
            graph: Graph::default(),
        }
    }

    /// Add a package whose tree `fill` writes; returns its id.
    fn add(&mut self, name: &str, version: &str, deps: &[&PackageId], fill: impl FnOnce(&Path)) -> PackageId {
        let id = PackageId::from_string(
            magpkg::hash::digest("test-pkg", format!("{name}-{version}").as_bytes())[..32].into(),
        );
        let run_deps: Vec<String> = deps.iter().map(|d| d.to_string()).collect();
        self.ctx.add_package(id.as_str(), name, version, &run_deps, fill);
        let sha = magpkg::hash::digest("src", name.as_bytes());
        self.graph.packages.insert(
            id.clone(),
            Package {
                id: id.clone(),
                name: name.into(),
                version: version.into(),
                sources: vec![Source {
                    filename: format!("{name}-{version}.tar.gz"),
                    sha256: sha[..64].into(),
                    urls: vec![
                        format!("https://example.org/{name}/{name}-{version}.tar.gz"),
                        format!("mirror://gnu/{name}/{name}-{version}.tar.gz"),
                    ],
                }],
                build: Build::Script("true".into()),
                build_deps: vec![],
                run_deps: deps.iter().map(|d| (*d).clone()).collect(),
                env: BTreeMap::new(),
                meta: Meta {
                    description: Some(format!("the {name} test package")),
                    license: Some("GPL-3.0-or-later".into()),
                    homepage: None,
                },
                oci: None,
            },
        );
        id
    }

    /// The hello package: `bin/hello` (static), a data file and a doc dir.
    fn hello(&mut self) -> PackageId {
        self.add("hello", "2.12", &[], |t| {
            fs::create_dir_all(t.join("bin")).unwrap();
            fs::copy(hello_binary(), t.join("bin/hello")).unwrap();
            fs::create_dir_all(t.join("share/hello")).unwrap();
            fs::write(t.join("share/hello/greeting.txt"), GREETING).unwrap();
        })
    }

    /// A package with `n` bytes of incompressible-ish data under share/.
    fn filler(&mut self, name: &str, deps: &[&PackageId]) -> PackageId {
        let name_owned = name.to_string();
        self.add(name, "1.0", deps, move |t| {
            fs::create_dir_all(t.join("share").join(&name_owned)).unwrap();
            fs::write(t.join("share").join(&name_owned).join("data"), name_owned.repeat(100)).unwrap();
            fs::create_dir_all(t.join("bin")).unwrap();
            fs::write(t.join("bin").join(&name_owned), "#!/bin/sh\necho hi\n").unwrap();
            fs::set_permissions(t.join("bin").join(&name_owned), fs::Permissions::from_mode(0o755)).unwrap();
        })
    }

    fn closure(&self, roots: &[&PackageId]) -> Closure {
        let roots: Vec<PackageId> = roots.iter().map(|r| (*r).clone()).collect();
        Closure::from_roots(&self.graph, &roots, &self.store).unwrap()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.ctx.path(name)
    }
}

fn archive_opts(path: &Path) -> ImageOptions {
    let mut o = ImageOptions::new(Target::Archive(path.into()));
    o.tag = Some("hello:test".into());
    o
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// The manifest of the only image (tagged entry) of a layout.
fn layout_manifest(dir: &Path) -> Value {
    let index = read_json(&dir.join("index.json"));
    let images: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"].get(magpkg::oci::layout::REF_NAME).is_some())
        .collect();
    assert_eq!(images.len(), 1, "{index}");
    let d = images[0]["digest"].as_str().unwrap();
    read_json(&dir.join("blobs/sha256").join(d.trim_start_matches("sha256:")))
}

/// The tags of a layout's `index.json`, in its order (its other entries
/// are the images' SBOM referrers).
fn index_tags(layout: &Path) -> Vec<String> {
    read_json(&layout.join("index.json"))["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"][magpkg::oci::layout::REF_NAME].as_str())
        .map(str::to_string)
        .collect()
}

fn layer_digests(manifest: &Value) -> BTreeSet<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

// ------------------------------------------------------------------ tests

#[test]
fn same_input_gives_byte_identical_archives_and_layouts() {
    // Two stores at different paths, same packages: the image must not
    // depend on where the store is, when it runs or which directory it
    // writes to.
    let mut a = Fixture::new();
    let ha = a.hello();
    let mut b = Fixture::new();
    let hb = b.hello();
    assert_eq!(ha, hb);
    let ca = a.closure(&[&ha]);
    let cb = b.closure(&[&hb]);
    let ra = oci::export_image(&ca, &archive_opts(&a.out("one.tar"))).unwrap();
    let rb = oci::export_image(&cb, &archive_opts(&b.out("sub-dir-two.tar"))).unwrap();
    assert_eq!(ra.manifest, rb.manifest);
    assert_eq!(
        fs::read(a.out("one.tar")).unwrap(),
        fs::read(b.out("sub-dir-two.tar")).unwrap(),
        "archives differ"
    );
    // Layouts too, file for file.
    let la = a.out("layout");
    let lb = b.out("elsewhere/layout");
    let mut o = ImageOptions::new(Target::Layout(la.clone()));
    o.tag = Some("hello:test".into());
    oci::export_image(&ca, &o).unwrap();
    o.target = Target::Layout(lb.clone());
    oci::export_image(&cb, &o).unwrap();
    let files = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = walk(d)
            .into_iter()
            .map(|p| (p.strip_prefix(d).unwrap().display().to_string(), fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(files(&la), files(&lb));
    // No temp files left next to the outputs.
    let names: Vec<_> = fs::read_dir(a.ctx.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().starts_with(".magpkg")),
        "{names:?}"
    );
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn skopeo_reads_the_archive_as_oci_and_docker_and_copies_it() {
    require("skopeo");
    let mut f = Fixture::new();
    let h = f.hello();
    let tar = f.out("hello.tar");
    let report = oci::export_image(&f.closure(&[&h]), &archive_opts(&tar)).unwrap();
    for transport in ["oci-archive", "docker-archive"] {
        let out = run(Command::new(require("skopeo")).args(["inspect", &format!("{transport}:{}", tar.display())]));
        let v = json_of(&out);
        assert_eq!(v["Architecture"], "amd64", "{transport}: {v}");
        assert_eq!(v["Layers"].as_array().unwrap().len(), 2, "{transport}: {v}");
        assert_eq!(v["Labels"]["dev.magpkg.roots"], h.as_str(), "{transport}");
        assert_eq!(v["Created"], "1970-01-01T00:00:01Z", "{transport}");
        let cfg = run(Command::new(require("skopeo")).args([
            "inspect",
            "--config",
            &format!("{transport}:{}", tar.display()),
        ]));
        let cfg = json_of(&cfg);
        assert_eq!(cfg["config"]["Env"][0], format!("PATH={}", oci::IMAGE_PATH));
        assert_eq!(cfg["config"]["Cmd"], json!(["hello"]));
    }
    // The oci-archive view names the image by its tag.
    let out =
        run(Command::new(require("skopeo")).args(["inspect", &format!("oci-archive:{}:hello:test", tar.display())]));
    assert_eq!(json_of(&out)["Digest"], format!("sha256:{}", report.manifest.digest));
    let dest = f.out("copied");
    run(Command::new(require("skopeo")).args([
        "copy",
        &format!("oci-archive:{}", tar.display()),
        &format!("oci:{}:copied", dest.display()),
    ]));
    let m = layout_manifest(&dest);
    assert_eq!(m["layers"].as_array().unwrap().len(), 2);
    // skopeo copies layers as they are: same digests.
    let ours: BTreeSet<String> = report
        .layers
        .iter()
        .map(|l| format!("sha256:{}", l.blob.digest))
        .collect();
    assert_eq!(layer_digests(&m), ours);
}

#[test]
fn umoci_unpacks_the_package_files_with_their_modes() {
    require("umoci");
    let mut f = Fixture::new();
    let h = f.hello();
    let closure = f.closure(&[&h]);
    let layout = f.out("layout");
    let mut o = ImageOptions::new(Target::Layout(layout.clone()));
    o.tag = Some("hello:test".into());
    oci::export_image(&closure, &o).unwrap();
    let bundle = f.out("bundle");
    let mut cmd = Command::new(require("umoci"));
    cmd.args(["unpack", "--image", &format!("{}:hello:test", layout.display())]);
    if !nix_is_root() {
        cmd.arg("--rootless");
    }
    run(cmd.arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let pkg = rootfs.join("magpkg/store/pkgs-v1").join(format!("{h}-hello"));
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&pkg.join("bin/hello")), 0o755);
    assert_eq!(mode(&pkg.join("share/hello/greeting.txt")), 0o644);
    assert_eq!(mode(&pkg.join("share/hello")), 0o755);
    assert_eq!(mode(&rootfs.join("tmp")), 0o1777);
    assert_eq!(
        fs::read(pkg.join("bin/hello")).unwrap(),
        fs::read(hello_binary()).unwrap()
    );
    // The profile links resolve inside the unpacked tree.
    let link = rootfs.join("magpkg/env/bin");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let out = run(&mut Command::new(rootfs.join("magpkg/env/bin/hello")));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), GREETING);
    // /bin and /usr/bin lead there too (for #!/bin/sh and absolute entrypoints).
    for p in ["bin/hello", "usr/bin/hello"] {
        assert_eq!(
            fs::read(rootfs.join(p)).unwrap(),
            fs::read(hello_binary()).unwrap(),
            "{p}"
        );
    }
    // The SBOM file in the image is the blob the manifest points at.
    let m = layout_manifest(&layout);
    let sbom_digest = m["annotations"][oci::SBOM_ANNOTATION].as_str().unwrap();
    let blob = fs::read(
        layout
            .join("blobs/sha256")
            .join(sbom_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(fs::read(rootfs.join(oci::SBOM_PATH)).unwrap(), blob);
}

fn nix_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn sbom_lists_every_package_with_version_license_and_sources() {
    let mut f = Fixture::new();
    let lib = f.filler("libgreet", &[]);
    let h = f.add("greeter", "0.3", &[&lib], |t| {
        fs::create_dir_all(t.join("bin")).unwrap();
        fs::copy(hello_binary(), t.join("bin/greeter")).unwrap();
    });
    let closure = f.closure(&[&h]);
    let doc: Value = serde_json::from_slice(&closure.sbom("1970-01-01T00:00:01Z")).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["dataLicense"], "CC0-1.0");
    let pkgs = doc["packages"].as_array().unwrap();
    let find = |name: &str| {
        pkgs.iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {doc}"))
    };
    for (name, version) in [("greeter", "0.3"), ("libgreet", "1.0")] {
        let p = find(name);
        assert_eq!(p["versionInfo"], version);
        assert_eq!(p["licenseDeclared"], "GPL-3.0-or-later");
        let src = find(&format!("{name}-{version}.tar.gz"));
        let sha = &f.graph.packages.values().find(|p| p.name == name).unwrap().sources[0].sha256;
        assert_eq!(src["checksums"][0]["checksumValue"], sha.as_str());
        assert_eq!(src["checksums"][0]["algorithm"], "SHA256");
        assert!(src["sourceInfo"].as_str().unwrap().contains("mirror://gnu/"), "{src}");
        assert!(src["downloadLocation"]
            .as_str()
            .unwrap()
            .starts_with("https://example.org/"));
    }
    let rels = doc["relationships"].as_array().unwrap();
    let has = |a: &str, kind: &str, b: &str| {
        rels.iter().any(|r| {
            r["spdxElementId"].as_str().unwrap().contains(a)
                && r["relationshipType"] == kind
                && r["relatedSpdxElement"].as_str().unwrap().contains(b)
        })
    };
    assert!(has("DOCUMENT", "DESCRIBES", h.as_str()));
    assert!(has(h.as_str(), "DEPENDS_ON", lib.as_str()));
    assert!(has(lib.as_str(), "GENERATED_FROM", "libgreet-1.0.tar.gz"));
    // Every SPDX id referenced by a relationship is defined.
    let ids: BTreeSet<&str> = pkgs.iter().map(|p| p["SPDXID"].as_str().unwrap()).collect();
    for r in rels {
        for k in ["spdxElementId", "relatedSpdxElement"] {
            let id = r[k].as_str().unwrap();
            assert!(id == "SPDXRef-DOCUMENT" || ids.contains(id), "dangling {id}");
        }
    }
}

#[test]
fn config_carries_path_oci_settings_labels_and_package_env() {
    let mut f = Fixture::new();
    let h = f.hello();
    let p = f.graph.packages.get_mut(&h).unwrap();
    p.oci = Some(json!({
        "entrypoint": ["hello"],
        "cmd": ["--verbose"],
        "env": {"LANG": "C.UTF-8"},
        "workdir": "/work",
        "user": 1000,
        "exposedPorts": [8080],
        "labels": {"org.example.team": "infra"},
    }));
    p.env.insert("HELLO_DATA".into(), "$out/share/hello".into());
    let closure = f.closure(&[&h]);
    let layout = f.out("layout");
    let report = oci::export_image(&closure, &ImageOptions::new(Target::Layout(layout.clone()))).unwrap();
    assert_eq!(report.tag, format!("hello:{}", &h.as_str()[..12]), "default tag");
    let cfg = read_json(&layout.join("blobs/sha256").join(&report.config.digest));
    let c = &cfg["config"];
    assert_eq!(c["Entrypoint"], json!(["hello"]));
    assert_eq!(c["Cmd"], json!(["--verbose"]));
    assert_eq!(c["WorkingDir"], "/work");
    assert_eq!(c["User"], "1000");
    assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}}));
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(env[0], format!("PATH={}", oci::IMAGE_PATH));
    assert!(env.contains(&"LANG=C.UTF-8"), "{env:?}");
    assert!(
        env.contains(&format!("HELLO_DATA=/magpkg/store/pkgs-v1/{h}-hello/share/hello").as_str()),
        "{env:?}"
    );
    assert_eq!(c["Labels"]["org.example.team"], "infra");
    assert_eq!(c["Labels"]["dev.magpkg.packages"], format!("{h}-hello"));
    assert_eq!(c["Labels"]["org.opencontainers.image.version"], "2.12");
    assert_eq!(cfg["created"], "1970-01-01T00:00:01Z");
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);

    // A typo in the settings is a user error naming the field.
    f.graph.packages.get_mut(&h).unwrap().oci = Some(json!({"entrypont": "hello"}));
    let roots = vec![h.clone()];
    let err = Closure::from_roots(&f.graph, &roots, &f.store).unwrap_err();
    assert!(err.to_string().contains("entrypont"), "{err}");
    assert!(magpkg::error::Classify::is_user_error(&err));
}

#[test]
fn adding_a_package_changes_only_its_layer_and_the_top_layer() {
    let mut f = Fixture::new();
    let h = f.hello();
    let a = f.filler("alpha", &[]);
    let before = oci::export_image(&f.closure(&[&h, &a]), &archive_opts(&f.out("a.tar"))).unwrap();
    let z = f.filler("zeta", &[]);
    let after = oci::export_image(&f.closure(&[&h, &a, &z]), &archive_opts(&f.out("b.tar"))).unwrap();
    let set = |r: &oci::ImageReport| -> BTreeSet<String> { r.layers.iter().map(|l| l.blob.digest.clone()).collect() };
    let (b, a2) = (set(&before), set(&after));
    let added: Vec<_> = a2.difference(&b).collect();
    let removed: Vec<_> = b.difference(&a2).collect();
    let top_before = &before.layers.last().unwrap().blob.digest;
    let top_after = &after.layers.last().unwrap().blob.digest;
    let zeta_layer = after
        .layers
        .iter()
        .find(|l| l.packages == vec![format!("{z}-zeta")])
        .unwrap();
    assert_eq!(removed, vec![top_before], "only the top layer (profile, SBOM) goes");
    let mut want = vec![top_after, &zeta_layer.blob.digest];
    want.sort();
    let mut added: Vec<&String> = added.into_iter().collect();
    added.sort();
    assert_eq!(added, want);
}

#[test]
fn large_closures_are_grouped_under_the_layer_budget_stably() {
    let mut f = Fixture::new();
    let ids: Vec<PackageId> = (0..12).map(|i| f.filler(&format!("pkg{i:02}"), &[])).collect();
    let refs: Vec<&PackageId> = ids.iter().collect();
    let mut o = archive_opts(&f.out("a.tar"));
    o.max_layers = 5;
    let before = oci::export_image(&f.closure(&refs), &o).unwrap();
    assert!(before.layers.len() <= 5, "{} layers", before.layers.len());
    let in_layers: usize = before.layers.iter().map(|l| l.packages.len()).sum();
    assert_eq!(in_layers, 12, "every package in exactly one layer");
    let extra = f.filler("newcomer", &[]);
    let mut refs2 = refs.clone();
    refs2.push(&extra);
    o.target = Target::Archive(f.out("b.tar"));
    let after = oci::export_image(&f.closure(&refs2), &o).unwrap();
    let set = |r: &oci::ImageReport| -> BTreeSet<String> { r.layers.iter().map(|l| l.blob.digest.clone()).collect() };
    // The newcomer's bucket and the top layer change; nothing else.
    assert_eq!(set(&after).difference(&set(&before)).count(), 2);
    // skopeo still reads a grouped image.
    require("skopeo");
    let out =
        run(Command::new(require("skopeo")).args(["inspect", &format!("docker-archive:{}", f.out("b.tar").display())]));
    assert_eq!(json_of(&out)["Layers"].as_array().unwrap().len(), after.layers.len());
}

#[test]
fn profile_merges_shared_directories_and_roots_win_conflicts() {
    let mut f = Fixture::new();
    let dep = f.add("dep", "1", &[], |t| {
        fs::create_dir_all(t.join("bin")).unwrap();
        fs::write(t.join("bin/tool"), "dep's").unwrap();
        fs::write(t.join("bin/dep-only"), "x").unwrap();
        fs::create_dir_all(t.join("lib")).unwrap();
        fs::write(t.join("lib/libdep.a"), "x").unwrap();
    });
    let root = f.add("root", "1", &[&dep], |t| {
        fs::create_dir_all(t.join("bin")).unwrap();
        fs::write(t.join("bin/tool"), "root's").unwrap();
    });
    let closure = f.closure(&[&root]);
    let p = oci::profile(&closure).unwrap();
    let show: Vec<String> = p
        .iter()
        .map(|e| match e {
            oci::ProfileEntry::Dir(d) => format!("{}/", String::from_utf8_lossy(d)),
            oci::ProfileEntry::Link(l, t) => {
                format!("{} -> {}", String::from_utf8_lossy(l), String::from_utf8_lossy(t))
            }
        })
        .collect();
    assert_eq!(
        show,
        vec![
            "bin/".to_string(),
            format!("bin/dep-only -> ../../store/pkgs-v1/{dep}-dep/bin/dep-only"),
            format!("bin/tool -> ../../store/pkgs-v1/{root}-root/bin/tool"),
            format!("lib -> ../store/pkgs-v1/{dep}-dep/lib"),
        ]
    );
}

#[test]
fn tarball_is_reproducible_and_runs_where_it_is_unpacked() {
    let mut a = Fixture::new();
    let h = a.hello();
    let mut b = Fixture::new();
    b.hello();
    let t1 = a.out("one.tar.zst");
    let t2 = b.out("two.tar.zst");
    let created = "1970-01-01T00:00:01Z";
    let s1 = oci::export_tarball(&a.closure(&[&h]), &t1, created).unwrap();
    let s2 = oci::export_tarball(&b.closure(&[&h]), &t2, created).unwrap();
    assert_eq!(s1, s2);
    assert_eq!(fs::read(&t1).unwrap(), fs::read(&t2).unwrap());
    assert_eq!(s1, sha256_hex(&fs::read(&t1).unwrap()));
    let dest = a.out("unpacked somewhere");
    fs::create_dir_all(&dest).unwrap();
    run(Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&t1)
        .arg("-C")
        .arg(&dest));
    let out = run(Command::new(dest.join("magpkg/env/bin/hello")).arg("arg1"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{GREETING}\narg1\n"));
    assert!(dest.join(oci::SBOM_PATH).is_file());
    let listing = run(Command::new("tar").arg("--zstd").arg("-tvf").arg(&t1));
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.lines().all(|l| l.contains(" 0/0 ")), "owner is 0/0:\n{listing}");
    assert!(
        listing.lines().all(|l| l.contains("1970-01-01")),
        "fixed mtime:\n{listing}"
    );
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn a_package_missing_from_the_store_is_a_user_error_with_a_hint() {
    let mut f = Fixture::new();
    let h = f.hello();
    f.store.remove_package(&h).unwrap();
    let err = Closure::from_roots(&f.graph, &[h], &f.store).unwrap_err();
    assert!(matches!(err, oci::OciError::Missing { .. }), "{err}");
    assert!(magpkg::error::Classify::is_user_error(&err));
    assert!(magpkg::error::Classify::hint(&err).unwrap().contains("magpkg build"));
}

#[test]
fn layout_is_added_to_but_other_directories_are_refused() {
    let mut f = Fixture::new();
    let h = f.hello();
    let a = f.filler("alpha", &[]);
    let layout = f.out("layout");
    let mut o = ImageOptions::new(Target::Layout(layout.clone()));
    o.tag = Some("hello:1".into());
    oci::export_image(&f.closure(&[&h]), &o).unwrap();
    o.tag = Some("alpha:1".into());
    oci::export_image(&f.closure(&[&a]), &o).unwrap();
    // Same tag again replaces, not duplicates.
    oci::export_image(&f.closure(&[&a]), &o).unwrap();
    assert_eq!(index_tags(&layout), vec!["alpha:1", "hello:1"]);
    require("umoci");
    let out = run(Command::new(require("umoci")).args(["ls", "--layout"]).arg(&layout));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha:1\nhello:1\n");
    let other = f.out("not-a-layout");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("precious.txt"), "keep me").unwrap();
    o.target = Target::Layout(other.clone());
    let err = oci::export_image(&f.closure(&[&h]), &o).unwrap_err();
    assert!(matches!(err, oci::OciError::NotALayout { .. }), "{err}");
    assert_eq!(fs::read_dir(&other).unwrap().count(), 1);
}

/// Podman: load the archive, run the image (default Cmd, then an explicit
/// command). Slow (a few seconds: podman sets up storage and a runc
/// container), hence ignored by default; CI runs it.
#[test]
#[ignore]
fn podman_loads_and_runs_the_image() {
    require("podman");
    require("runc");
    let mut f = Fixture::new();
    let h = f.hello();
    let tar = f.out("hello.tar");
    oci::export_image(&f.closure(&[&h]), &archive_opts(&tar)).unwrap();
    let podman = |args: &[&str]| podman(f.ctx.root(), args);
    let out = podman(&["load", "-i", tar.to_str().unwrap()]);
    let loaded = String::from_utf8_lossy(&out.stdout);
    assert!(loaded.contains("hello:test"), "{loaded}");
    let limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"];
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend(limits);
    args.push("hello:test");
    let out = podman(&args);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), GREETING);
    args.extend(["hello", "from", "podman"]);
    let out = podman(&args);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{GREETING}\nfrom\npodman\n")
    );
    // An absolute path through /bin, as definitions' entrypoints may say.
    let n = args.len();
    args[n - 3] = "/bin/hello";
    let out = podman(&args);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{GREETING}\nfrom\npodman\n")
    );
}

// -------------------------------------------------------------------- CLI

/// A definition of `hello` built by the `unpack` builtin from a local
/// tarball holding the static test binary, written into `dir`.
fn hello_definition(dir: &Path) -> PathBuf {
    let tree = dir.join("hello-tree");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::create_dir_all(tree.join("share/hello")).unwrap();
    fs::copy(hello_binary(), tree.join("bin/hello")).unwrap();
    fs::write(tree.join("share/hello/greeting.txt"), GREETING).unwrap();
    let tarball = dir.join("hello-bin.tar.gz");
    run(Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .args([
            "--sort=name",
            "--mtime=@1",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-czf",
        ])
        .arg(&tarball)
        .arg("."));
    let sha = crate::support::sha256(&fs::read(&tarball).unwrap());
    let def = dir.join("hello.jsonnet");
    fs::write(
        &def,
        format!(
            "{{\n  name: 'hello',\n  version: '2.12',\n  sources: [{{ filename: 'hello-bin.tar.gz', sha256: '{sha}', \
             urls: ['file://{}'] }}],\n  build: {{ builtin: 'unpack' }},\n  env: {{ HELLO_SHARE: '$out/share/hello' }},\n  \
             meta: {{ license: 'GPL-3.0-or-later', description: 'test greeter' }},\n}}\n",
            tarball.display()
        ),
    )
    .unwrap();
    def
}

/// [`hello_definition`] in HOME, built into the test's store; its path.
fn built_hello(t: &TestContext) -> String {
    let def = hello_definition(t.home()).to_str().unwrap().to_string();
    ok(t.run(&["build", "-f", &def]));
    def
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        crate::support::stdout(&o),
        crate::support::stderr(&o)
    );
    o
}

#[test]
fn cli_builds_what_is_missing_then_writes_a_reproducible_image() {
    let t = TestContext::new();
    let def = hello_definition(t.home());
    let out = ok(t.run(&["oci", "-f", def.to_str().unwrap(), "-o", "one.tar"]));
    // stdout: NAME:TAG sha256:DIGEST, the tag from the name and the id.
    let line = crate::support::stdout(&out);
    let (tag, digest) = line.trim().split_once(' ').unwrap();
    assert!(tag.starts_with("hello:") && tag.len() == "hello:".len() + 12, "{line}");
    assert!(digest.starts_with("sha256:"), "{line}");
    assert!(
        crate::support::stderr(&out).contains("wrote one.tar"),
        "{}",
        crate::support::stderr(&out)
    );
    // Second run: nothing to build, same bytes in another directory.
    fs::create_dir_all(t.home().join("elsewhere")).unwrap();
    let out2 = ok(t
        .cmd()
        .current_dir(t.home().join("elsewhere"))
        .args(["oci", "-f", def.to_str().unwrap(), "-o", "two.tar"])
        .output()
        .unwrap());
    assert_eq!(crate::support::stdout(&out2), line);
    assert_eq!(
        fs::read(t.home().join("one.tar")).unwrap(),
        fs::read(t.home().join("elsewhere/two.tar")).unwrap()
    );
    // The image runs the package: inspect it with skopeo.
    let tar = t.home().join("one.tar");
    let cfg = json_of(&run(Command::new(require("skopeo")).args([
        "inspect",
        "--config",
        &format!("docker-archive:{}", tar.display()),
    ])));
    let env: Vec<&str> = cfg["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.iter()
            .any(|e| e.starts_with("HELLO_SHARE=/magpkg/store/pkgs-v1/") && e.ends_with("-hello/share/hello")),
        "{env:?}"
    );
    assert_eq!(cfg["config"]["Cmd"], json!(["hello"]));
    // --layout and --tag.
    ok(t.run(&[
        "oci",
        "-f",
        def.to_str().unwrap(),
        "--layout",
        "lay",
        "--tag",
        "greeter:1",
    ]));
    assert_eq!(index_tags(&t.home().join("lay")), ["greeter:1"]);
}

#[test]
fn cli_export_writes_a_tarball_that_runs_where_unpacked() {
    let t = TestContext::new();
    let def = hello_definition(t.home());
    let out = ok(t.run(&["export", "-f", def.to_str().unwrap(), "-o", "hello.tar.zst"]));
    // sha256sum's format.
    let line = crate::support::stdout(&out);
    let sha = crate::support::sha256(&fs::read(t.home().join("hello.tar.zst")).unwrap());
    assert_eq!(line, format!("{sha}  hello.tar.zst\n"));
    let dest = t.home().join("unpacked");
    fs::create_dir_all(&dest).unwrap();
    run(Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(t.home().join("hello.tar.zst"))
        .arg("-C")
        .arg(&dest));
    let out = run(&mut Command::new(dest.join("magpkg/env/bin/hello")));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), GREETING);
    let out = ok(t.run(&["export", "-f", def.to_str().unwrap(), "-o", "again.tar.zst"]));
    assert!(crate::support::stdout(&out).starts_with(&sha));
}

#[test]
fn cli_env_exports_the_project_environment_with_its_oci_settings() {
    let t = TestContext::new();
    let def = hello_definition(t.home());
    let proj = t.home().join("proj");
    fs::create_dir_all(proj.join("sub")).unwrap();
    fs::write(
        proj.join("magnet.jsonnet"),
        format!(
            "{{\n  name: 'demo',\n  packages: [import '{}'],\n  env: {{ DATA_DIR: '$MAGPKG_PROJECT_ROOT/data' }},\n  \
             oci: {{ cmd: ['hello', 'from-env'], workdir: '/srv', labels: {{ team: 'infra' }} }},\n}}\n",
            def.display()
        ),
    )
    .unwrap();
    // From a subdirectory: the nearest manifest above is used.
    let out = ok(t
        .cmd()
        .current_dir(proj.join("sub"))
        .args(["oci", "--env", "-o", "../env.tar"])
        .output()
        .unwrap());
    let tag = crate::support::stdout(&out);
    assert!(tag.starts_with("demo:"), "{tag}");
    let cfg = json_of(&run(Command::new(require("skopeo")).args([
        "inspect",
        "--config",
        &format!("oci-archive:{}", proj.join("env.tar").display()),
    ])));
    let c = &cfg["config"];
    assert_eq!(c["Cmd"], json!(["hello", "from-env"]));
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["Labels"]["team"], "infra");
    assert!(c["Labels"]["dev.magpkg.env-id"].as_str().unwrap().len() >= 12);
    // The image is named by the same environment id as `magpkg env --id`
    // (the id used for the lock file and CI cache keys).
    let id = ok(t.cmd().current_dir(&proj).args(["env", "--id"]).output().unwrap());
    assert_eq!(
        c["Labels"]["dev.magpkg.env-id"].as_str().unwrap(),
        crate::support::stdout(&id).trim()
    );
    assert!(
        tag.contains(&c["Labels"]["dev.magpkg.env-id"].as_str().unwrap()[..12]),
        "{tag}"
    );
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"DATA_DIR=/srv/data"), "{env:?}");
    // A typo in the manifest's oci settings names the field and the manifest.
    fs::write(
        proj.join("magnet.jsonnet"),
        format!("{{ packages: [import '{}'], oci: {{ cmdd: ['x'] }} }}\n", def.display()),
    )
    .unwrap();
    let out = t
        .cmd()
        .current_dir(&proj)
        .args(["oci", "--env", "-o", "x.tar"])
        .output()
        .unwrap();
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("oci.cmdd") && err.contains("magnet.jsonnet"), "{err}");
    assert!(err.contains("did you mean `cmd`"), "{err}");
    assert!(!proj.join("x.tar").exists());
}

#[test]
fn cli_rejects_a_bad_tag_and_a_missing_output_before_doing_work() {
    let t = TestContext::new();
    let out = t.run(&["oci", "hello"]);
    assert_eq!(out.status.code(), Some(2), "no -o/--layout is a usage error");
    let out = t.run(&["oci", "hello", "-o", "x.tar", "--layout", "dir"]);
    assert_eq!(out.status.code(), Some(2));
    let out = t.run(&["oci", "hello", "-o", "x.tar", "--tag", "Hello:1"]);
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Hello:1") && err.contains("hint:"), "{err}");
    // Nothing was evaluated or built: the store has no package.
    assert!(!t.store().join("pkgs-v1").exists() || fs::read_dir(t.store().join("pkgs-v1")).unwrap().count() == 0);
    let out = t.run(&["export", "hello"]);
    assert_eq!(out.status.code(), Some(2), "export needs -o");
}

#[test]
fn an_output_in_a_missing_directory_is_a_user_error() {
    let mut f = Fixture::new();
    let h = f.hello();
    let c = f.closure(&[&h]);
    let out = f.out("no/such/dir/x.tar");
    let err = oci::export_image(&c, &archive_opts(&out)).unwrap_err();
    assert!(matches!(err, oci::OciError::NoOutputDir { .. }), "{err}");
    assert!(magpkg::error::Classify::is_user_error(&err));
    let err = oci::export_tarball(&c, &f.out("no/such/x.tar.zst"), "1970-01-01T00:00:01Z").unwrap_err();
    assert!(err.to_string().contains("no/such"), "{err}");
}

#[test]
fn cli_env_without_a_manifest_says_where_it_looked() {
    let t = TestContext::new();
    let dir = t.home().join("no-project");
    fs::create_dir_all(&dir).unwrap();
    let out = t.run(&["oci", "--env", dir.to_str().unwrap(), "-o", "x.tar"]);
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("magnet.jsonnet") && err.contains("no-project"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!t.home().join("x.tar").exists());
}

/// The real GNU hello of the package tree: bootstrap root from the Debian
/// mirror (fetched once per test run, seeded into this test's store), a
/// sandboxed build, then the image run by podman. Slow (unpacks the root,
/// compiles hello) and needs the Debian mirror, hence ignored.
#[test]
#[ignore]
fn real_hello_image_prints_its_greeting_in_podman() {
    require("podman");
    require("runc");
    let t = TestContext::new();
    t.seed_bootstrap();
    ok(t.run(&["oci", "hello", "-o", "hello.tar", "--tag", "hello:real"]));
    let tar = t.home().join("hello.tar");
    let v = json_of(&run(
        Command::new(require("skopeo")).args(["inspect", &format!("oci-archive:{}", tar.display())])
    ));
    assert_eq!(v["Labels"]["org.opencontainers.image.version"], "2.10");
    let out = podman(t.home(), &["load", "-i", tar.to_str().unwrap()]);
    assert!(crate::support::stdout(&out).contains("hello:real"));
    let out = podman_run(t.home(), &[], "hello:real", &[]);
    assert_eq!(crate::support::stdout(&out).trim(), "Hello, world!");
    // Any command of the environment runs, found through PATH.
    let out = podman_run(t.home(), &["--entrypoint", ""], "hello:real", &["hello", "--version"]);
    assert!(crate::support::stdout(&out).contains("2.10"));

    // The SBOMs of the real tree validate, and name the bootstrap root,
    // its Debian packages and musl, statically linked into hello.
    ok(t.run(&["oci", "hello", "--layout", "lay", "--tag", "hello:real"]));
    let lay = t.home().join("lay");
    let (spdx, cyclonedx) = layout_sboms(&lay);
    validate_sboms(&spdx, &cyclonedx);
    let doc = read_json(&spdx);
    let pkgs = doc["packages"].as_array().unwrap();
    let id_of = |name: &str| {
        pkgs.iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))["SPDXID"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (hello, boot, musl) = (id_of("hello"), id_of("bootstrap"), id_of("musl-dev"));
    let rels = doc["relationships"].as_array().unwrap();
    let has = |a: &str, k: &str, b: &str| {
        rels.iter()
            .any(|r| r["spdxElementId"] == a && r["relationshipType"] == k && r["relatedSpdxElement"] == b)
    };
    assert!(has(&boot, "BUILD_DEPENDENCY_OF", &hello));
    assert!(has(&hello, "STATIC_LINK", &musl), "hello is a static musl binary");
}

/// `podman run` of `image` (with `opts` before it and `args` after) with
/// no network and the limits the CI machines allow.
fn podman_run(dir: &Path, opts: &[&str], image: &str, args: &[&str]) -> Output {
    let mut a = vec![
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
    ];
    a.extend(opts);
    a.push(image);
    a.extend(args);
    podman(dir, &a)
}

/// `podman` with storage of its own under `dir` (vfs, runc: see the shared
/// data README for why).
fn podman(dir: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(require("podman"));
    c.arg("--root")
        .arg(dir.join("podman-root"))
        .arg("--runroot")
        .arg(dir.join("podman-runroot"))
        .args([
            "--storage-driver",
            "vfs",
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ])
        .args(args);
    run(&mut c)
}

/// Issue 18: eight `magpkg oci` processes writing one new layout at once
/// each leave their tag in `index.json` (the read-modify-write of the index
/// and the layout's creation are locked), and every tag is a valid image.
#[test]
fn parallel_exports_to_one_layout_keep_every_tag() {
    let t = TestContext::new();
    // Built once, so the eight runs only export.
    let def = built_hello(&t);
    let def = def.as_str();
    let layout = t.home().join("shared-layout");
    let children: Vec<_> = (0..8)
        .map(|i| {
            t.cmd()
                .args([
                    "oci",
                    "-f",
                    def,
                    "--layout",
                    "shared-layout",
                    "--tag",
                    &format!("par:{i}"),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut digests = BTreeSet::new();
    for c in children {
        let out = ok(c.wait_with_output().unwrap());
        let line = crate::support::stdout(&out);
        digests.insert(line.split_whitespace().nth(1).unwrap().to_string());
    }
    assert_eq!(digests.len(), 1, "the same image under eight tags: {digests:?}");
    let want: Vec<String> = (0..8).map(|i| format!("par:{i}")).collect();
    assert_eq!(index_tags(&layout), want);
    let digest = digests.into_iter().next().unwrap();
    for tag in &want {
        let v = json_of(&run(
            Command::new(require("skopeo")).args(["inspect", &format!("oci:{}:{tag}", layout.display())])
        ));
        assert_eq!(v["Digest"], digest, "{tag}");
        assert_eq!(v["Layers"].as_array().unwrap().len(), 2, "{tag}");
    }
    // The layout holds nothing but the layout's own files and blobs.
    let mut top: Vec<String> = fs::read_dir(&layout)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, [".magpkg-lock", "blobs", "index.json", "oci-layout"]);
    let stray: Vec<_> = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "temp files left: {stray:?}");
}

/// A package definition (Jsonnet) unpacking a tarball with `bin/NAME` and
/// a data file, both saying NAME, into `dir`'s store sources.
fn tool_package(t: &TestContext, name: &str) -> String {
    let tb = t.home().join(format!("{name}.tar.gz"));
    let script = format!("#!/bin/sh\necho {name}\n");
    let data = name.repeat(50);
    crate::support::packages::tarball(
        &tb,
        &[
            (&format!("bin/{name}"), script.as_bytes(), true),
            (&format!("share/{name}/data"), data.as_bytes(), false),
        ],
        &[],
    );
    crate::support::packages::local_package(name, "1.0", &tb, &[t.store()])
}

/// The layers podman's storage under `dir` holds (vfs: one per chain).
fn podman_stored_layers(dir: &Path) -> usize {
    let v = read_json(&dir.join("podman-root/vfs-layers/layers.json"));
    v.as_array().unwrap().len()
}

/// Issue 18: adding a package at the end of an environment's `packages`
/// adds its layer after all the others, so podman stores exactly one new
/// package layer (and the new top layer: profile and SBOM), reusing every
/// earlier one. `aardvark` sorts first by name and has no dependencies: an
/// order by name, or by dependency depth then name, would put it first and
/// make podman store every layer again.
#[test]
#[ignore]
fn adding_a_package_to_an_environment_stores_one_new_layer_in_podman() {
    require("podman");
    require("runc");
    let t = TestContext::new();
    let proj = t.project("proj");
    let hello = fs::read_to_string(hello_definition(t.home())).unwrap();
    let (zulu, mike, aardvark) = (
        tool_package(&t, "zulu"),
        tool_package(&t, "mike"),
        tool_package(&t, "aardvark"),
    );
    let export = |packages: &[&str], tar: &str| {
        fs::write(
            proj.join("magnet.jsonnet"),
            format!("{{ name: 'app', packages: [{}] }}\n", packages.join(", ")),
        )
        .unwrap();
        let out = ok(t.run_in(&proj, &["oci", "--env", "-o", tar]));
        let tag = crate::support::stdout(&out)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        (proj.join(tar), tag)
    };
    let (one, _) = export(&[&hello, &zulu, &mike], "one.tar");
    let (two, tag_two) = export(&[&hello, &zulu, &mike, &aardvark], "two.tar");
    let diff_ids = |tar: &Path| -> Vec<String> {
        let cfg = json_of(&run(Command::new(require("skopeo")).args([
            "inspect",
            "--config",
            &format!("oci-archive:{}", tar.display()),
        ])));
        cfg["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    };
    let (before, after) = (diff_ids(&one), diff_ids(&two));
    assert_eq!(before.len(), 4, "three packages and the top layer");
    assert_eq!(after.len(), 5);
    assert_eq!(
        after[..3],
        before[..3],
        "the earlier package layers come first, unchanged"
    );
    assert!(!before.contains(&after[3]) && after[4] != before[3]);
    podman(t.home(), &["load", "-i", one.to_str().unwrap()]);
    let stored = podman_stored_layers(t.home());
    assert_eq!(stored, 4);
    podman(t.home(), &["load", "-i", two.to_str().unwrap()]);
    assert_eq!(
        podman_stored_layers(t.home()),
        stored + 2,
        "one new package layer and the new top layer"
    );
    // The loaded image is the one written, layer for layer.
    let out = podman(
        t.home(),
        &["image", "inspect", "--format", "{{json .RootFS.Layers}}", &tag_two],
    );
    let loaded: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(loaded, after);
}

/// Issue 18: without `name` in the manifest, the checkout's directory
/// names the default tag only; the image (title, SBOM) and so its digest
/// are the same wherever the project is checked out.
#[test]
fn a_projects_directory_name_does_not_change_its_image_digest() {
    let t = TestContext::new();
    let def = hello_definition(t.home());
    let export = |dir: &str| {
        let proj = t.project(dir);
        fs::write(
            proj.join("magnet.jsonnet"),
            format!("{{ packages: [import '{}'] }}\n", def.display()),
        )
        .unwrap();
        let out = ok(t.run_in(&proj, &["oci", "--env", "-o", "image.tar"]));
        let line = crate::support::stdout(&out);
        let (tag, digest) = line.trim().split_once(' ').unwrap();
        (tag.to_string(), digest.to_string(), proj.join("image.tar"))
    };
    let (tag_a, digest_a, tar_a) = export("checkout-one");
    let (tag_b, digest_b, tar_b) = export("ci/build-4711/other-name");
    assert_eq!(digest_a, digest_b, "{tag_a} vs {tag_b}");
    assert!(
        tag_a.starts_with("checkout-one:") && tag_b.starts_with("other-name:"),
        "{tag_a} {tag_b}"
    );
    for tar in [&tar_a, &tar_b] {
        let v = json_of(&run(
            Command::new(require("skopeo")).args(["inspect", &format!("oci-archive:{}", tar.display())])
        ));
        assert_eq!(v["Digest"], digest_a);
        assert_eq!(v["Labels"]["org.opencontainers.image.title"], "hello");
    }
}

/// Issue 18: a store entry whose files changed after it was built is not
/// exported: the error names the package and says how to repair it; the
/// first export to find it marks it damaged (issue 16), and the next one
/// refuses it by that mark.
#[test]
fn a_corrupted_store_entry_is_refused() {
    let t = TestContext::new();
    let def = built_hello(&t);
    let def = def.as_str();
    let pkgs = t.store().join("pkgs-v1");
    let entry = fs::read_dir(&pkgs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && p.to_string_lossy().ends_with("-hello"))
        .unwrap();
    let greeting = entry.join("share/hello/greeting.txt");
    fs::set_permissions(&greeting, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&greeting, "tampered").unwrap();
    let out = t.run(&["oci", "-f", def, "-o", "x.tar"]);
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("package hello (") && err.contains("corrupt"), "{err}");
    assert!(err.contains(&entry.display().to_string()), "{err}");
    assert!(
        err.contains("hint: it is marked damaged in its record") && err.contains(".json"),
        "{err}"
    );
    assert!(err.contains("`magpkg store verify --repair "), "{err}");
    assert!(!t.home().join("x.tar").exists());
    let out = t.run(&["export", "-f", def, "-o", "x.tar.zst"]);
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("package hello (") && err.contains("is damaged in the store"),
        "{err}"
    );
    assert!(err.contains("`magpkg store verify --repair "), "{err}");
    assert!(!t.home().join("x.tar.zst").exists());
    // Following the hint: the entry rebuilt, the export works.
    ok(t.run(&["store", "verify", "--repair", "hello"]));
    ok(t.run(&["oci", "-f", def, "-o", "x.tar"]));
    assert_eq!(fs::read_to_string(&greeting).unwrap(), GREETING);
}

/// Issue 18: a `SOURCE_DATE_EPOCH` past 9999-12-31T23:59:59Z (the last
/// date of RFC 3339, which skopeo and every OCI tool parse) is refused
/// before any work; the last accepted one gives a `created` skopeo reads.
#[test]
fn a_source_date_epoch_beyond_year_9999_is_refused() {
    let t = TestContext::new();
    let def = hello_definition(t.home());
    let def = def.to_str().unwrap();
    let out = t
        .cmd()
        .env("SOURCE_DATE_EPOCH", "253402300800")
        .args(["oci", "-f", def, "-o", "late.tar"])
        .output()
        .unwrap();
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SOURCE_DATE_EPOCH") && err.contains("253402300800") && err.contains("year 9999"),
        "{err}"
    );
    assert!(!t.home().join("late.tar").exists());
    assert!(!t.store().join("pkgs-v1").exists() || fs::read_dir(t.store().join("pkgs-v1")).unwrap().count() == 0);
    ok(t.cmd()
        .env("SOURCE_DATE_EPOCH", "253402300799")
        .args(["oci", "-f", def, "-o", "last.tar"])
        .output()
        .unwrap());
    let v = json_of(&run(Command::new(require("skopeo")).args([
        "inspect",
        &format!("oci-archive:{}", t.home().join("last.tar").display()),
    ])));
    assert_eq!(v["Created"], "9999-12-31T23:59:59Z");
}

/// A project whose manifest lists `packages` (Jsonnet expressions), has
/// `scripts/greet` (a sh script calling hello) and the given `path` and
/// `oci` fields; its directory.
fn project_with_script(t: &TestContext, packages: &[&str], path: &str, oci: &str) -> PathBuf {
    let proj = t.project("proj");
    crate::support::write_exe(
        &proj.join("scripts/greet"),
        "#!/bin/sh\necho \"project script says $1\"\nexec hello\n",
    );
    crate::support::write(&proj.join("scripts/lib/common.sh"), "GREETING=hi\n");
    fs::write(
        proj.join("magnet.jsonnet"),
        format!(
            "{{ name: 'app', packages: [{}], path: {path}, oci: {oci} }}\n",
            packages.join(", ")
        ),
    )
    .unwrap();
    proj
}

/// Issue 18: the manifest's `path` directories are in the image under
/// /magpkg/project and first on PATH, so a `cmd` naming a project script
/// runs in podman (it was dropped without a word before).
#[test]
#[ignore]
fn a_project_script_on_path_runs_as_the_images_cmd_in_podman() {
    require("podman");
    require("runc");
    let t = TestContext::new();
    let hello = fs::read_to_string(hello_definition(t.home())).unwrap();
    let tb = t.home().join("busybox.tar.gz");
    crate::support::packages::tarball(
        &tb,
        &[("bin/busybox", &crate::support::busybox(), true)],
        &[("bin/sh", "busybox")],
    );
    let busybox = crate::support::packages::local_package("busybox", "1", &tb, &[t.store()]);
    let proj = project_with_script(&t, &[&hello, &busybox], "['./scripts']", "{ cmd: ['greet', 'podman'] }");
    let out = ok(t.run_in(&proj, &["oci", "--env", "-o", "app.tar", "--tag", "app:test"]));
    assert!(crate::support::stdout(&out).starts_with("app:test sha256:"));
    let tar = proj.join("app.tar");
    let cfg = json_of(&run(Command::new(require("skopeo")).args([
        "inspect",
        "--config",
        &format!("oci-archive:{}", tar.display()),
    ])));
    assert_eq!(
        cfg["config"]["Env"][0],
        format!("PATH=/magpkg/project/scripts:{}", oci::IMAGE_PATH)
    );
    assert_eq!(
        cfg["rootfs"]["diff_ids"].as_array().unwrap().len(),
        4,
        "two packages, the project, the top"
    );
    podman(t.home(), &["load", "-i", tar.to_str().unwrap()]);
    let run_args = |args: &[&str]| crate::support::stdout(&podman_run(t.home(), &[], "app:test", args));
    assert_eq!(run_args(&[]), format!("project script says podman\n{GREETING}\n"));
    // The whole directory came along, subdirectories included.
    assert_eq!(
        run_args(&["busybox", "cat", "/magpkg/project/scripts/lib/common.sh"]),
        "GREETING=hi\n"
    );
}

/// Issue 18: a `path` entry an image cannot hold is refused, naming it.
#[test]
fn a_path_entry_outside_the_project_or_missing_is_refused() {
    let t = TestContext::new();
    let hello = fs::read_to_string(hello_definition(t.home())).unwrap();
    for (path, problem) in [
        (
            "['./scripts', '../elsewhere']",
            "\"../elsewhere\" is outside the project",
        ),
        ("['./bin']", "\"bin\" is not a directory of the project"),
        ("['.']", "\".\" is the whole project"),
    ] {
        let proj = project_with_script(&t, &[&hello], path, "{}");
        let out = t.run_in(&proj, &["oci", "--env", "-o", "app.tar"]);
        let err = crate::support::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{path}: {err}");
        assert!(err.contains(problem) && err.contains("magnet.jsonnet"), "{path}: {err}");
        assert!(err.contains("hint:"), "{err}");
        assert!(!proj.join("app.tar").exists());
    }
}

/// Issue 18: `oci.copy` puts project files and directories into the image
/// at /magpkg/project/<entry> (off PATH, unlike `path`), in images and
/// tarballs alike; an entry the image cannot hold is refused, naming it.
#[test]
fn oci_copy_ships_project_files_beside_the_path_directories() {
    let t = TestContext::new();
    let hello = fs::read_to_string(hello_definition(t.home())).unwrap();
    let proj = project_with_script(
        &t,
        &[&hello],
        "['./scripts']",
        "{ copy: ['config/app.toml', './static/'] }",
    );
    crate::support::write(&proj.join("config/app.toml"), "port = 8080\n");
    crate::support::write(&proj.join("config/secret.toml"), "not shipped\n");
    crate::support::write(&proj.join("static/css/site.css"), "body {}\n");
    ok(t.run_in(&proj, &["oci", "--env", "-o", "app.tar", "--tag", "app:copy"]));
    let cfg = json_of(&run(Command::new(require("skopeo")).args([
        "inspect",
        "--config",
        &format!("oci-archive:{}", proj.join("app.tar").display()),
    ])));
    assert_eq!(
        cfg["config"]["Env"][0],
        format!("PATH=/magpkg/project/scripts:{}", oci::IMAGE_PATH),
        "copied entries are not on PATH"
    );
    // The same project files in the tarball export.
    ok(t.run_in(&proj, &["export", "--env", "-o", "app.tar.zst"]));
    let dest = t.home().join("unpacked");
    fs::create_dir_all(&dest).unwrap();
    run(Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(proj.join("app.tar.zst"))
        .arg("-C")
        .arg(&dest));
    let project = dest.join("magpkg/project");
    assert_eq!(
        fs::read_to_string(project.join("config/app.toml")).unwrap(),
        "port = 8080\n"
    );
    assert!(
        !project.join("config/secret.toml").exists(),
        "only the named file of config/"
    );
    assert_eq!(
        fs::read_to_string(project.join("static/css/site.css")).unwrap(),
        "body {}\n"
    );
    assert!(project.join("scripts/greet").is_file());

    for (copy, problem) in [
        (
            "['../elsewhere']",
            "`oci.copy` entry \"../elsewhere\" is outside the project",
        ),
        (
            "['missing.txt']",
            "`oci.copy` entry \"missing.txt\" does not exist in the project",
        ),
        ("['.']", "`oci.copy` entry \".\" is the whole project"),
    ] {
        let proj = project_with_script(&t, &[&hello], "[]", &format!("{{ copy: {copy} }}"));
        let _ = fs::remove_file(proj.join("bad.tar"));
        let out = t.run_in(&proj, &["oci", "--env", "-o", "bad.tar"]);
        let err = crate::support::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{copy}: {err}");
        assert!(err.contains(problem) && err.contains("magnet.jsonnet"), "{copy}: {err}");
        assert!(!proj.join("bad.tar").exists());
    }
}

/// Issue 18: a file with two names in a package is one file and one hard
/// link in its layer (it was written twice), and umoci unpacks it as one
/// inode with two names.
#[test]
fn hard_links_stay_hard_links_in_the_layer() {
    let mut f = Fixture::new();
    let big = crate::support::pseudo_random(300_000, 18);
    let p = f.add("linked", "1", &[], |t| {
        fs::create_dir_all(t.join("bin")).unwrap();
        fs::write(t.join("bin/tool"), &big).unwrap();
        fs::hard_link(t.join("bin/tool"), t.join("bin/tool-alias")).unwrap();
        fs::write(t.join("bin/other"), "x").unwrap();
    });
    let layout = f.out("layout");
    let mut o = ImageOptions::new(Target::Layout(layout.clone()));
    o.tag = Some("linked:1".into());
    let report = oci::export_image(&f.closure(&[&p]), &o).unwrap();
    let blob = fs::read(layout.join("blobs/sha256").join(&report.layers[0].blob.digest)).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
    let (mut files, mut links) = (Vec::new(), Vec::new());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        match e.header().entry_type() {
            tar::EntryType::Regular => files.push(path),
            tar::EntryType::Link => links.push((path, e.link_name().unwrap().unwrap().to_string_lossy().into_owned())),
            _ => {}
        }
    }
    let dir = format!("magpkg/store/pkgs-v1/{p}-linked/bin");
    assert_eq!(
        files,
        vec![format!("{dir}/other"), format!("{dir}/tool")],
        "distinct files"
    );
    assert_eq!(links, vec![(format!("{dir}/tool-alias"), format!("{dir}/tool"))]);
    assert!(
        blob.len() < big.len() * 3 / 2,
        "the data is in the layer once: {} bytes",
        blob.len()
    );
    require("umoci");
    let bundle = f.out("bundle");
    let mut cmd = Command::new(require("umoci"));
    cmd.args(["unpack", "--image", &format!("{}:linked:1", layout.display())]);
    if !nix_is_root() {
        cmd.arg("--rootless");
    }
    run(cmd.arg(&bundle));
    use std::os::unix::fs::MetadataExt;
    let bin = bundle.join("rootfs").join(&dir);
    let (a, b) = (
        fs::metadata(bin.join("tool")).unwrap(),
        fs::metadata(bin.join("tool-alias")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(fs::read(bin.join("tool-alias")).unwrap(), big);
}

// ------------------------------------------------------------------ SBOMs

/// Check `spdx` with `pyspdxtools` (PyPI spdx-tools) and `cyclonedx` with
/// the JSON schema validator of PyPI cyclonedx-python-lib (strict, 1.6).
fn validate_sboms(spdx: &Path, cyclonedx: &Path) {
    // pyspdxtools tells formats by the file name.
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("sbom.spdx.json");
    fs::copy(spdx, &named).unwrap();
    let out = Command::new(require("pyspdxtools"))
        .arg("-i")
        .arg(&named)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyspdxtools rejects {}:\n{}{}",
        spdx.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let script = "import sys\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        from cyclonedx.schema import SchemaVersion\n\
        err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
        if err is not None:\n    print(err)\n    sys.exit(1)\n";
    let out = Command::new(require("python3"))
        .args(["-c", script])
        .arg(cyclonedx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the CycloneDX 1.6 schema rejects {}:\n{}{}",
        cyclonedx.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SPDX and CycloneDX documents of a layout's SBOM referrers (its
/// index must list one of each).
fn layout_sboms(lay: &Path) -> (PathBuf, PathBuf) {
    let index = read_json(&lay.join("index.json"));
    let sbom = |kind: &str| -> PathBuf {
        let e = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["artifactType"] == kind)
            .unwrap_or_else(|| panic!("no {kind} referrer in {index}"));
        let art = read_json(&layout_blob(lay, e["digest"].as_str().unwrap()));
        layout_blob(lay, art["layers"][0]["digest"].as_str().unwrap())
    };
    (sbom("application/spdx+json"), sbom("application/vnd.cyclonedx+json"))
}

/// A blob of a layout by its `sha256:` digest.
fn layout_blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Issue 18: SBOMs that validators accept, with purls, mapped licenses,
/// the build closure (bootstrap root, the static musl) and sources; both
/// attached to the image as OCI 1.1 referrers that `umoci gc` keeps.
#[test]
fn sboms_are_valid_spdx_and_cyclonedx_and_referrers_of_the_image() {
    require("umoci");
    let mut f = Fixture::new();
    // A build root as in the tree: not shipped, not even in the store,
    // made of Debian packages, musl-dev among them.
    let boot = PackageId::from_string(magpkg::hash::digest("test-pkg", b"bootstrap")[..32].into());
    let deb = |name: &str, sha: &str| Source {
        filename: name.into(),
        sha256: sha.repeat(64),
        urls: vec![format!("mirror://debian/pool/main/x/{name}")],
    };
    f.graph.packages.insert(
        boot.clone(),
        Package {
            id: boot.clone(),
            name: "bootstrap".into(),
            version: "bookworm-1".into(),
            sources: vec![
                deb("musl-dev_1.2.3-1_amd64.deb", "1"),
                deb("dash_0.5.12-2_amd64.deb", "2"),
            ],
            build: Build::Builtin(BTreeMap::new()),
            build_deps: vec![],
            run_deps: vec![],
            env: BTreeMap::new(),
            meta: Meta {
                description: None,
                license: Some("various (Debian main)".into()),
                homepage: None,
            },
            oci: None,
        },
    );
    let lib = f.filler("libgreet", &[]);
    let h = f.add("greeter", "0.3", &[&lib], |t| {
        fs::create_dir_all(t.join("bin")).unwrap();
        fs::copy(hello_binary(), t.join("bin/greeter")).unwrap();
    });
    for (id, license) in [(&h, "Apache 2.0"), (&lib, "LicenseRef-Public-Domain AND mit")] {
        let p = f.graph.packages.get_mut(id).unwrap();
        p.build_deps = vec![boot.clone()];
        p.meta.license = Some(license.into());
    }
    let layout = f.out("layout");
    let mut opts = ImageOptions::new(Target::Layout(layout.clone()));
    opts.tag = Some("greeter:1".into());
    let report = oci::export_image(&f.closure(&[&h]), &opts).unwrap();

    // Both documents are referrers: artifact manifests listed in the index
    // whose subject is the image.
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    let image_digest = format!("sha256:{}", report.manifest.digest);
    let mut docs = BTreeMap::new();
    for kind in ["application/spdx+json", "application/vnd.cyclonedx+json"] {
        let entry = manifests
            .iter()
            .find(|m| m["artifactType"] == kind)
            .unwrap_or_else(|| panic!("no {kind} referrer in {index}"));
        let m = read_json(&layout_blob(&layout, entry["digest"].as_str().unwrap()));
        assert_eq!(m["artifactType"], kind);
        assert_eq!(m["subject"]["digest"], image_digest.as_str());
        assert_eq!(m["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
        assert_eq!(m["layers"][0]["mediaType"], kind);
        docs.insert(kind, layout_blob(&layout, m["layers"][0]["digest"].as_str().unwrap()));
    }
    let spdx_path = docs["application/spdx+json"].clone();
    let cdx_path = docs["application/vnd.cyclonedx+json"].clone();
    validate_sboms(&spdx_path, &cdx_path);

    // umoci gc keeps them; the image still resolves by its tag.
    run(Command::new(require("umoci")).args(["gc", "--layout"]).arg(&layout));
    assert!(spdx_path.is_file() && cdx_path.is_file(), "umoci gc removed an SBOM");
    for (r, _) in &report.referrers {
        assert!(layout_blob(&layout, &r.digest).is_file(), "umoci gc removed a referrer");
    }
    run(Command::new(require("skopeo")).args(["inspect", &format!("oci:{}:greeter:1", layout.display())]));

    // SPDX content: purls, mapped licenses with their extracted texts, the
    // build root and musl, statically linked into the greeter.
    let doc = read_json(&spdx_path);
    let pkgs = doc["packages"].as_array().unwrap();
    let find = |name: &str| {
        pkgs.iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {doc}"))
    };
    let purl = |p: &Value| -> String {
        p["externalRefs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["referenceType"] == "purl")
            .map(|r| r["referenceLocator"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no purl: {p}"))
    };
    for p in pkgs {
        purl(p);
    }
    let greeter = find("greeter");
    assert_eq!(greeter["licenseDeclared"], "Apache-2.0");
    let src_sha = &f.graph.get(&h).sources[0].sha256;
    assert_eq!(
        purl(greeter),
        format!(
            "pkg:generic/greeter@0.3?checksum=sha256:{src_sha}&download_url=https://example.org/greeter/greeter-0.3.tar.gz"
        )
    );
    assert_eq!(find("libgreet")["licenseDeclared"], "LicenseRef-Public-Domain AND MIT");
    assert_eq!(
        doc["hasExtractedLicensingInfos"][0]["licenseId"],
        "LicenseRef-Public-Domain"
    );
    let boot_pkg = find("bootstrap");
    assert_eq!(boot_pkg["licenseDeclared"], "NOASSERTION");
    assert!(boot_pkg["licenseComments"]
        .as_str()
        .unwrap()
        .contains("various (Debian main)"));
    let musl = find("musl-dev");
    assert_eq!(musl["versionInfo"], "1.2.3-1");
    assert_eq!(purl(musl), "pkg:deb/debian/musl-dev@1.2.3-1?arch=amd64");
    assert_eq!(musl["checksums"][0]["checksumValue"], "1".repeat(64));
    assert!(musl["sourceInfo"].as_str().unwrap().contains("mirror://debian/"));
    let rels = doc["relationships"].as_array().unwrap();
    let has = |a: &str, kind: &str, b: &str| {
        rels.iter()
            .any(|r| r["spdxElementId"] == a && r["relationshipType"] == kind && r["relatedSpdxElement"] == b)
    };
    let sid = |p: &Value| p["SPDXID"].as_str().unwrap().to_string();
    assert!(has(&sid(boot_pkg), "BUILD_DEPENDENCY_OF", &sid(greeter)));
    assert!(has(&sid(greeter), "STATIC_LINK", &sid(musl)), "{rels:?}");
    // libgreet has no executable: it links nothing.
    assert!(!has(&sid(find("libgreet")), "STATIC_LINK", &sid(musl)));

    // CycloneDX content: the same packages, the build root excluded from
    // the image, musl required (it is inside the greeter).
    let cdx = read_json(&cdx_path);
    let comps = cdx["components"].as_array().unwrap();
    let comp = |name: &str| {
        comps
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {cdx}"))
    };
    assert_eq!(comp("greeter")["purl"], purl(greeter).as_str());
    assert_eq!(comp("greeter")["licenses"][0]["expression"], "Apache-2.0");
    assert_eq!(comp("bootstrap")["scope"], "excluded");
    let musl_c = comp("bootstrap")["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "musl-dev")
        .unwrap()
        .clone();
    assert_eq!(musl_c["purl"], "pkg:deb/debian/musl-dev@1.2.3-1?arch=amd64");
    let deps = cdx["dependencies"].as_array().unwrap();
    let greeter_deps = deps.iter().find(|d| d["ref"] == comp("greeter")["bom-ref"]).unwrap();
    assert!(greeter_deps["dependsOn"]
        .as_array()
        .unwrap()
        .contains(&musl_c["bom-ref"]));

    // The same documents are in the image, and an archive holds them too.
    let tar = f.out("greeter.tar");
    oci::export_image(&f.closure(&[&h]), &archive_opts(&tar)).unwrap();
    let x = f.out("x");
    fs::create_dir_all(&x).unwrap();
    run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&x));
    // The archive's index lists the image alone (oci-archive:FILE works
    // without a tag); the SBOM blobs are in it.
    assert_eq!(
        read_json(&x.join("index.json"))["manifests"].as_array().unwrap().len(),
        1
    );
    assert!(layout_blob(&x, &format!("sha256:{}", report.sbom.digest)).is_file());
    run(Command::new(require("skopeo")).args(["inspect", &format!("oci-archive:{}", tar.display())]));
}

// ------------------------------------------------------------- registries

/// GET `path` of the registry with its credentials (curl), as JSON.
fn registry_get(reg: &crate::support::servers::Registry, path: &str, accept: &str) -> Vec<u8> {
    use crate::support::servers::{REGISTRY_PASSWORD, REGISTRY_USER};
    let out = run(Command::new(require("curl"))
        .args(["-fsSL", "-u", &format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"), "-H"])
        .arg(format!("Accept: {accept}"))
        .arg(format!("http://{}/v2/{path}", reg.host())));
    out.stdout
}

/// Issue 18: `magpkg oci --push` to a real registry (Debian's
/// docker-registry, htpasswd auth, on loopback): without credentials it
/// fails naming where they are read from; with them in
/// ~/.docker/config.json the image goes up, skopeo pulls it with the same
/// digest, and both SBOMs are there as referrers (the OCI 1.1 tag schema:
/// this registry has no referrers API), valid.
#[test]
fn push_to_a_loopback_registry_then_pull_with_skopeo() {
    use crate::support::servers::{Registry, REGISTRY_PASSWORD, REGISTRY_USER};
    let t = TestContext::new();
    let def = built_hello(&t);
    let reg = Registry::start(t.home());
    let reference = format!("{}/team/hello:1.0", reg.host());

    let out = t.run(&["oci", "-f", &def, "--push", &reference]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::support::stderr(&out));
    let err = crate::support::stderr(&out);
    assert!(err.contains("401") && err.contains(".docker/config.json"), "{err}");

    fs::create_dir_all(t.home().join(".docker")).unwrap();
    fs::write(t.home().join(".docker/config.json"), reg.auth_json()).unwrap();
    let out = ok(t.run(&["oci", "-f", &def, "--layout", "lay", "--push", &reference]));
    let line = crate::support::stdout(&out);
    let pushed_line = line.lines().last().unwrap();
    let (r, digest) = pushed_line.split_once(' ').unwrap();
    assert_eq!(r, reference);
    // The layout got the same image, tagged with the reference.
    assert_eq!(index_tags(&t.home().join("lay")), [reference.as_str()]);
    assert_eq!(
        format!("sha256:{}", layout_manifest_digest(&t.home().join("lay"))),
        digest
    );

    // skopeo pulls it: same digest, a runnable layout.
    let creds = format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}");
    let v = json_of(&run(Command::new(require("skopeo")).args([
        "inspect",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{reference}"),
    ])));
    assert_eq!(v["Digest"], digest);
    let pulled = t.home().join("pulled");
    run(Command::new(require("skopeo")).args([
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{reference}"),
        &format!("oci:{}:hello", pulled.display()),
    ]));
    let idx = read_json(&pulled.join("index.json"));
    assert_eq!(idx["manifests"][0]["digest"], digest);

    // The referrers: an index tagged sha256-<digest> listing both SBOM
    // artifacts, whose subject is the image and whose documents validate.
    let hex = digest.trim_start_matches("sha256:");
    let index: Value = serde_json::from_slice(&registry_get(
        &reg,
        &format!("team/hello/manifests/sha256-{hex}"),
        oci::layout::INDEX,
    ))
    .unwrap();
    let mut docs = BTreeMap::new();
    for m in index["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        let art: Value = serde_json::from_slice(&registry_get(
            &reg,
            &format!("team/hello/manifests/{d}"),
            oci::layout::MANIFEST,
        ))
        .unwrap();
        assert_eq!(art["subject"]["digest"], digest);
        assert_eq!(art["artifactType"], m["artifactType"]);
        let blob = registry_get(
            &reg,
            &format!("team/hello/blobs/{}", art["layers"][0]["digest"].as_str().unwrap()),
            "*/*",
        );
        let path = t.home().join(format!("referrer-{}", docs.len()));
        fs::write(&path, blob).unwrap();
        docs.insert(m["artifactType"].as_str().unwrap().to_string(), path);
    }
    assert_eq!(docs.len(), 2, "{index}");
    validate_sboms(&docs["application/spdx+json"], &docs["application/vnd.cyclonedx+json"]);

    // Pushed again (from a staged layout this time): nothing new is sent,
    // the digest is the same.
    let out = ok(t.run(&["oci", "-f", &def, "--push", &reference]));
    assert_eq!(crate::support::stdout(&out).trim(), pushed_line);
    assert!(
        crate::support::stderr(&out).contains("0 blobs sent"),
        "{}",
        crate::support::stderr(&out)
    );
}

/// The digest (hex) of the only tagged image of a layout.
fn layout_manifest_digest(dir: &Path) -> String {
    let index = read_json(&dir.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"].get(magpkg::oci::layout::REF_NAME).is_some())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string()
}

// ------------------------------------------------------------- base images

/// Issue 18: `--from` a busybox-based base (made here from Debian's
/// busybox-static with `podman import`, saved as an OCI archive): the
/// environment's tools run in the base's `sh -c` via podman, the base's
/// /bin stays, and the same base named as an archive, an `oci:` layout and
/// a registry image gives the same image digest.
#[test]
#[ignore]
fn an_image_from_a_busybox_base_runs_sh_with_the_environments_tools() {
    use crate::support::servers::{Registry, REGISTRY_PASSWORD, REGISTRY_USER};
    require("podman");
    require("runc");
    let t = TestContext::new();
    let root = t.home().join("base-root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::copy(require("busybox"), root.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo", "readlink"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let base_tar = t.home().join("base.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&base_tar)
        .arg("."));
    podman(
        t.home(),
        &[
            "import",
            "--change",
            "ENV PATH=/bin",
            "--change",
            "ENV BASE_VAR=kept",
            "--change",
            "CMD [\"/bin/sh\"]",
            base_tar.to_str().unwrap(),
            "localhost/bbbase:1",
        ],
    );
    let base_archive = t.home().join("base-oci.tar");
    podman(
        t.home(),
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            base_archive.to_str().unwrap(),
            "localhost/bbbase:1",
        ],
    );

    let proj = t.project("proj");
    fs::write(
        proj.join("magnet.jsonnet"),
        format!("{{ name: 'tools', packages: [{}] }}\n", tool_package(&t, "zulu")),
    )
    .unwrap();
    let from_archive = format!("oci-archive:{}", base_archive.display());
    let out = ok(t.run_in(
        &proj,
        &[
            "oci",
            "--env",
            "--from",
            &from_archive,
            "-o",
            "img.tar",
            "--tag",
            "onbase:1",
        ],
    ));
    let digest = crate::support::stdout(&out)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();

    let tar = proj.join("img.tar");
    podman(t.home(), &["load", "-i", tar.to_str().unwrap()]);
    let out = podman_run(
        t.home(),
        &[],
        "onbase:1",
        &[
            "sh",
            "-c",
            "zulu && echo PATH=$PATH BASE_VAR=$BASE_VAR && readlink /bin/sh && ls /magpkg/env/bin",
        ],
    );
    let stdout = crate::support::stdout(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "zulu", "{stdout}");
    assert_eq!(lines[1], "PATH=/magpkg/env/bin:/bin BASE_VAR=kept", "{stdout}");
    // The base's /bin is still busybox's, not a link to the profile.
    assert_eq!(lines[2], "busybox", "{stdout}");
    assert_eq!(lines[3], "zulu", "{stdout}");
    let cfg = json_of(&run(Command::new(require("skopeo")).args([
        "inspect",
        "--config",
        &format!("oci-archive:{}", tar.display()),
    ])));
    // The environment's default command (its first package's tool) wins
    // over the base's; the base's variables stay.
    assert_eq!(cfg["config"]["Cmd"], json!(["zulu"]), "{cfg}");
    assert!(
        cfg["config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("BASE_VAR=kept")),
        "{cfg}"
    );
    assert_eq!(
        cfg["history"][0]["comment"], "imported from tarball",
        "the base's history first: {cfg}"
    );
    assert_eq!(
        cfg["rootfs"]["diff_ids"].as_array().unwrap().len(),
        3,
        "base + zulu + top: {cfg}"
    );

    // The same base as an OCI layout, then from a registry: same image.
    let base_dir = t.home().join("base-layout");
    run(Command::new(require("skopeo")).args(["copy", &from_archive, &format!("oci:{}:b", base_dir.display())]));
    let out = ok(t.run_in(
        &proj,
        &[
            "oci",
            "--env",
            "--from",
            &format!("oci:{}:b", base_dir.display()),
            "--layout",
            "lay",
            "--tag",
            "onbase:1",
        ],
    ));
    assert_eq!(crate::support::stdout(&out).split_whitespace().nth(1).unwrap(), digest);
    let reg = Registry::start(t.home());
    let base_ref = format!("{}/base/busybox:1", reg.host());
    run(Command::new(require("skopeo")).args([
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"),
        &from_archive,
        &format!("docker://{base_ref}"),
    ]));
    fs::create_dir_all(t.home().join(".docker")).unwrap();
    fs::write(t.home().join(".docker/config.json"), reg.auth_json()).unwrap();
    let out = ok(t.run_in(
        &proj,
        &[
            "oci", "--env", "--from", &base_ref, "--layout", "lay2", "--tag", "onbase:1",
        ],
    ));
    assert_eq!(crate::support::stdout(&out).split_whitespace().nth(1).unwrap(), digest);

    // A Docker archive whose layer file is a symlink (as older `docker
    // save` writes shared layers): the same layer contents below ours.
    let dock = t.home().join("dock");
    run(Command::new(require("skopeo")).args([
        "copy",
        &from_archive,
        &format!("docker-archive:{}", t.home().join("base-docker.tar").display()),
    ]));
    fs::create_dir_all(&dock).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(t.home().join("base-docker.tar"))
        .arg("-C")
        .arg(&dock));
    let m = read_json(&dock.join("manifest.json"));
    let layer = m[0]["Layers"][0].as_str().unwrap().to_string();
    fs::create_dir_all(dock.join("shared")).unwrap();
    fs::rename(dock.join(&layer), dock.join("shared/layer.tar")).unwrap();
    std::os::unix::fs::symlink("shared/layer.tar", dock.join(&layer)).unwrap();
    let linked = t.home().join("base-linked.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&dock)
        .arg("-cf")
        .arg(&linked)
        .arg("."));
    ok(t.run_in(
        &proj,
        &[
            "oci",
            "--env",
            "--from",
            &format!("docker-archive:{}", linked.display()),
            "-o",
            "d.tar",
        ],
    ));
    let via_docker = read_json(&unpacked_config(&proj.join("d.tar"), &t.home().join("d")));
    assert_eq!(via_docker["rootfs"]["diff_ids"], cfg["rootfs"]["diff_ids"]);
}

/// A base that does not exist, or is for another architecture, is a user
/// error naming it, before anything is written.
#[test]
fn a_missing_or_foreign_base_image_is_refused() {
    let t = TestContext::new();
    let def = built_hello(&t);
    let out = t.run(&["oci", "-f", &def, "--from", "oci:/nonexistent/layout", "-o", "x.tar"]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::support::stderr(&out));
    assert!(crate::support::stderr(&out).contains("/nonexistent/layout"));
    assert!(!t.home().join("x.tar").exists());
    let out = t.run(&["oci", "-f", &def, "--from", "not a reference", "-o", "x.tar"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::support::stderr(&out).contains("base image `not a reference`"),
        "{}",
        crate::support::stderr(&out)
    );
    // An image for arm64 (the machine here builds amd64 or another arch).
    let other = if magpkg::oci::config::go_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let lay = t.home().join("foreign");
    ok(t.run(&["oci", "-f", &def, "--layout", lay.to_str().unwrap(), "--tag", "f:1"]));
    let m = read_json(&layout_blob(&lay, &format!("sha256:{}", layout_manifest_digest(&lay))));
    let cfg_path = layout_blob(&lay, m["config"]["digest"].as_str().unwrap());
    let mut cfg = read_json(&cfg_path);
    cfg["architecture"] = json!(other);
    let bytes = serde_json::to_vec(&cfg).unwrap();
    let hex = sha256_hex(&bytes);
    fs::write(lay.join("blobs/sha256").join(&hex), &bytes).unwrap();
    let mut m2 = m.clone();
    m2["config"]["digest"] = json!(format!("sha256:{hex}"));
    m2["config"]["size"] = json!(bytes.len());
    let mb = serde_json::to_vec(&m2).unwrap();
    let mhex = sha256_hex(&mb);
    fs::write(lay.join("blobs/sha256").join(&mhex), &mb).unwrap();
    let mut index = read_json(&lay.join("index.json"));
    index["manifests"] = json!([{"mediaType": oci::layout::MANIFEST, "digest": format!("sha256:{mhex}"), "size": mb.len(),
        "annotations": {oci::layout::REF_NAME: "f:1"}}]);
    fs::write(lay.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let out = t.run(&[
        "oci",
        "-f",
        &def,
        "--from",
        &format!("oci:{}:f:1", lay.display()),
        "-o",
        "x.tar",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::support::stderr(&out));
    assert!(
        crate::support::stderr(&out).contains(&format!("linux/{other}")),
        "{}",
        crate::support::stderr(&out)
    );
}

// ------------------------------------------------ user, volumes, CA, empty

/// A package `busybox` (the host's static busybox with `sh`, `id`,
/// `whoami`, `cat`, `ls`, `stat` links), as a Jsonnet expression.
fn busybox_package(t: &TestContext) -> String {
    let tb = t.home().join("busybox-tools.tar.gz");
    let links: Vec<(String, &str)> = ["sh", "id", "whoami", "cat", "ls", "stat"]
        .iter()
        .map(|a| (format!("bin/{a}"), "busybox"))
        .collect();
    let links: Vec<(&str, &str)> = links.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    crate::support::packages::tarball(&tb, &[("bin/busybox", &crate::support::busybox(), true)], &links);
    crate::support::packages::local_package("busybox", "1.35", &tb, &[t.store()])
}

/// Unpack the archive `tar` into `dir`; the path of its image's config.
fn unpacked_config(tar: &Path, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    run(Command::new("tar").arg("-xf").arg(tar).arg("-C").arg(dir));
    let docker = read_json(&dir.join("manifest.json"));
    dir.join(docker[0]["Config"].as_str().unwrap())
}

/// Issue 18: `oci.user` makes /etc/passwd, /etc/group and a home owned by
/// the user (podman runs as it, `whoami` resolves it); `oci.volumes` are
/// the config's `Volumes`; `oci.caCertificates` (a file here; `true` takes
/// the host's bundle) is /etc/ssl/certs/ca-certificates.crt with
/// SSL_CERT_FILE pointing at it.
#[test]
#[ignore]
fn user_volumes_and_ca_certificates_in_podman() {
    require("podman");
    require("runc");
    let t = TestContext::new();
    let proj = t.project("proj");
    let bundle = t.home().join("corp-ca.pem");
    fs::write(
        &bundle,
        "-----BEGIN CERTIFICATE-----\nTUFHUEtH\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    fs::write(
        proj.join("magnet.jsonnet"),
        format!(
            "{{ name: 'tools', packages: [{}],\n  oci: {{ user: 'app', volumes: ['/data', '/cache'], caCertificates: '{}' }} }}\n",
            busybox_package(&t),
            bundle.display()
        ),
    )
    .unwrap();
    ok(t.run_in(&proj, &["oci", "--env", "-o", "img.tar", "--tag", "withuser:1"]));
    let tar = proj.join("img.tar");
    let cfg = read_json(&unpacked_config(&tar, &t.home().join("img")));
    assert_eq!(cfg["config"]["User"], "app");
    assert_eq!(cfg["config"]["Volumes"], json!({"/cache": {}, "/data": {}}));
    assert!(
        cfg["config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")),
        "{cfg}"
    );

    podman(t.home(), &["load", "-i", tar.to_str().unwrap()]);
    let out = podman_run(
        t.home(),
        &["--entrypoint", ""],
        "withuser:1",
        &[
            "sh",
            "-c",
            "whoami; id -u; id -g -n; echo $HOME; stat -c %u:%g /home/app; cat $SSL_CERT_FILE",
        ],
    );
    let stdout = crate::support::stdout(&out);
    assert_eq!(
        stdout,
        format!(
            "app\n1000\napp\n/home/app\n1000:1000\n{}",
            fs::read_to_string(&bundle).unwrap()
        ),
        "{stdout}"
    );

    // A numeric user gets an entry too; root none.
    fs::write(
        proj.join("magnet.jsonnet"),
        format!(
            "{{ name: 'tools', packages: [{}], oci: {{ user: '4242:4343' }} }}\n",
            busybox_package(&t)
        ),
    )
    .unwrap();
    ok(t.run_in(&proj, &["oci", "--env", "-o", "num.tar", "--tag", "numuser:1"]));
    podman(t.home(), &["load", "-i", proj.join("num.tar").to_str().unwrap()]);
    let out = podman_run(
        t.home(),
        &["--entrypoint", ""],
        "numuser:1",
        &["sh", "-c", "whoami; id -u; id -g"],
    );
    assert_eq!(crate::support::stdout(&out), "user\n4242\n4343\n");
}

/// `oci.caCertificates: true` ships the host's bundle (the first of the
/// usual places) byte for byte; a bad value names the field.
#[test]
fn ca_certificates_true_ships_the_hosts_bundle() {
    let host = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("a CA bundle on this machine (.ci/setup installs ca-certificates)");
    let t = TestContext::new();
    let proj = t.project("proj");
    fs::write(
        proj.join("magnet.jsonnet"),
        "{ name: 'tools', packages: [], oci: { caCertificates: true } }\n",
    )
    .unwrap();
    ok(t.run_in(&proj, &["oci", "--env", "--layout", "lay", "--tag", "ca:1"]));
    let lay = proj.join("lay");
    let m = read_json(&layout_blob(&lay, &format!("sha256:{}", layout_manifest_digest(&lay))));
    let top = m["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let x = t.home().join("top");
    fs::create_dir_all(&x).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(layout_blob(&lay, &top))
        .arg("-C")
        .arg(&x));
    assert_eq!(
        fs::read(x.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
        fs::read(host).unwrap()
    );
    fs::write(
        proj.join("magnet.jsonnet"),
        "{ name: 'tools', packages: [], oci: { caCertificates: 'relative.pem' } }\n",
    )
    .unwrap();
    let out = t.run_in(&proj, &["oci", "--env", "-o", "x.tar"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::support::stderr(&out).contains("oci.caCertificates"),
        "{}",
        crate::support::stderr(&out)
    );
}

/// Issue 18: an environment with no packages is an empty image (the top
/// layer: profile and SBOMs, which validate), not an error; an input that
/// names nothing still is one.
#[test]
fn an_empty_environment_is_an_empty_image() {
    let t = TestContext::new();
    let proj = t.project("proj");
    fs::write(proj.join("magnet.jsonnet"), "{ name: 'nothing', packages: [] }\n").unwrap();
    let out = ok(t.run_in(&proj, &["oci", "--env", "--layout", "lay"]));
    assert!(
        crate::support::stdout(&out).starts_with("nothing:"),
        "{}",
        crate::support::stdout(&out)
    );
    let lay = proj.join("lay");
    let m = read_json(&layout_blob(&lay, &format!("sha256:{}", layout_manifest_digest(&lay))));
    assert_eq!(m["layers"].as_array().unwrap().len(), 1, "{m}");
    run(Command::new(require("skopeo")).args(["inspect", &format!("oci:{}:{}", lay.display(), index_tags(&lay)[0])]));
    let (spdx, cyclonedx) = layout_sboms(&lay);
    validate_sboms(&spdx, &cyclonedx);
    ok(t.run_in(&proj, &["export", "--env", "-o", "empty.tar.zst"]));
    let out = t.run(&["oci", "-e", "[]", "-o", "x.tar"]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::support::stderr(&out));
    assert!(crate::support::stderr(&out).contains("names no package"));
}

/// The set-id policy: no file in an image or tarball keeps a setuid,
/// setgid or sticky bit (modes are 0755 or 0644); only /tmp is 1777.
#[test]
fn setuid_and_setgid_bits_are_dropped() {
    let mut f = Fixture::new();
    let id = f.add("suid", "1", &[], |t| {
        fs::create_dir_all(t.join("bin")).unwrap();
        for (name, mode) in [("su-like", 0o4755), ("sg-like", 0o2755), ("sticky", 0o1644)] {
            fs::write(t.join("bin").join(name), "#!/bin/sh\n").unwrap();
            fs::set_permissions(t.join("bin").join(name), fs::Permissions::from_mode(mode)).unwrap();
        }
    });
    let lay = f.out("lay");
    let mut opts = ImageOptions::new(Target::Layout(lay.clone()));
    opts.tag = Some("suid:1".into());
    oci::export_image(&f.closure(&[&id]), &opts).unwrap();
    let m = layout_manifest(&lay);
    for l in m["layers"].as_array().unwrap() {
        let listing = run(Command::new("tar")
            .arg("-tvzf")
            .arg(layout_blob(&lay, l["digest"].as_str().unwrap())));
        for line in String::from_utf8_lossy(&listing.stdout).lines() {
            let perms = line.split_whitespace().next().unwrap();
            let special = perms.contains(['s', 'S']) || (perms.contains(['t', 'T']) && !line.ends_with(" tmp/"));
            assert!(!special, "a set-id or sticky bit in the image: {line}");
        }
    }
}
