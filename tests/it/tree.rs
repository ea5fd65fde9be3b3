//! The package tree (`packages/`): every definition evaluates with pinned
//! sources, complete metadata and one-line variants (fast), and (slow,
//! #[ignore]d) small packages build through the real binary from their real
//! upstream tarballs and run on the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::elf::has_interpreter;
use crate::support::{real_network, TestContext};
use serde_json::Value;

/// The packages of the tree besides `bootstrap` and `hello` (the build
/// engine's), with whether Debian's orig tarball is its own source (a
/// repack, or a file Debian made that no upstream server has: only in the
/// Debian archive).
const TREE: &[(&str, bool)] = &[
    ("autoconf", false),
    ("automake", false),
    ("bash", true),
    ("binutils", true),
    ("bison", true),
    ("busybox", false),
    ("bzip2", false),
    ("cmake", false),
    ("coreutils", false),
    ("curl", false),
    ("diffutils", false),
    ("expat", true),
    ("file", false),
    ("findutils", false),
    ("flex", false),
    ("gawk", true),
    ("gcc", true),
    ("git", false),
    ("go", false),
    ("grep", false),
    ("gzip", false),
    ("less", false),
    ("libffi", false),
    ("libtool", true),
    ("lua", false),
    ("m4", false),
    ("make", true),
    ("ncurses", false),
    ("ninja", false),
    ("openssl", false),
    ("patch", false),
    ("perl", false),
    ("pkgconf", true),
    ("python3", false),
    ("readline", false),
    ("sed", false),
    ("sqlite", true),
    ("tcl", true),
    ("tree", false),
    ("xz", false),
    ("zlib", true),
];

/// `magpkg eval --json -e EXPR` (the plain JSON value, dependencies nested).
fn eval_json(env: &TestContext, expr: &str) -> Value {
    let o = env.cmd().args(["eval", "--json", "-e", expr]).output().unwrap();
    assert!(o.status.success(), "eval {expr}: {}", crate::support::stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `magpkg eval -e EXPR`: the graph (ids).
fn eval_graph(env: &TestContext, expr: &str) -> Value {
    let o = env.cmd().args(["eval", "-e", expr]).output().unwrap();
    assert!(o.status.success(), "eval {expr}: {}", crate::support::stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn root_id(graph: &Value) -> String {
    graph["roots"][0].as_str().unwrap().to_string()
}

fn tree_expr(name: &str) -> String {
    format!("(import 'magnet/packages.jsonnet')['{name}']")
}

#[test]
fn every_tree_package_has_pinned_sources_with_every_origin() {
    let env = TestContext::new();
    let all = eval_json(&env, "import 'magnet/packages.jsonnet'");
    for (name, repack) in TREE {
        let p = &all[*name];
        assert_eq!(p["name"], *name, "packages.jsonnet has `{name}`");
        let sources = p["sources"].as_array().unwrap();
        assert!(!sources.is_empty(), "{name} has sources");
        for s in sources {
            let sha = s["sha256"].as_str().unwrap();
            assert!(
                sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: sha256 {sha}"
            );
            let all_urls: Vec<&str> = s["urls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap())
                .collect();
            // The magnet comes last (tree_sources_list_their_magnet checks
            // it); the other origins are checked here.
            let urls: Vec<&str> = all_urls.iter().copied().filter(|u| !u.starts_with("magnet:")).collect();
            let debian: Vec<&&str> = urls.iter().filter(|u| u.starts_with("mirror://debian/pool/")).collect();
            assert_eq!(debian.len(), 1, "{name}: one Debian archive mirror in {urls:?}");
            // Registry hosts are only ever named through mirror://.
            for u in &urls {
                assert!(
                    u.starts_with("mirror://") || !u.contains("debian"),
                    "{name}: {u} names the Debian archive's host"
                );
            }
            let filename = s["filename"].as_str().unwrap();
            if filename.ends_with(".deb") {
                // A binary seed (Go's bootstrap compiler): a Debian binary
                // package, only in the Debian archive, under its own name.
                assert_eq!(urls.len(), 1, "{name}: {urls:?}");
                assert!(debian[0].ends_with(&format!("/{filename}")), "{name}: {filename}");
            } else if *repack && (urls.len() == 1 || std::ptr::eq(s, &sources[0])) {
                // A repack is its own source: only Debian has it, under its
                // Debian name, and the version says it is the repack
                // (`+dfsg`) or Debian's own tarball (`+debian`). (A package
                // made of several sources, gcc, may have upstream releases
                // beside its main one.)
                assert_eq!(urls.len(), 1, "{name}: {urls:?}");
                assert!(debian[0].ends_with(&format!("/{filename}")), "{name}: {filename}");
                let version = p["version"].as_str().unwrap();
                assert!(
                    version.ends_with("+dfsg") || version.ends_with("+debian"),
                    "{name}: {}",
                    p["version"]
                );
            } else {
                // The upstream release first, under its upstream name.
                assert!(urls[0].starts_with("https://"), "{name}: {urls:?}");
                assert!(
                    urls[0].ends_with(&format!("/{filename}")),
                    "{name}: {} vs {filename}",
                    urls[0]
                );
                assert!(urls.len() >= 2, "{name}: {urls:?}");
            }
        }
    }
}

/// Every source of the tree (bootstrap and hello included) lists one
/// magnet, last, naming its file and a size, as `magpkg source magnets`
/// writes them into packages/magnets.libsonnet.
#[test]
fn every_tree_source_lists_its_magnet_last() {
    let env = TestContext::new();
    let all = eval_json(&env, "import 'magnet/packages.jsonnet'");
    let mut n = 0;
    for (name, p) in all.as_object().unwrap() {
        for s in p["sources"].as_array().unwrap() {
            let filename = s["filename"].as_str().unwrap();
            let urls = s["urls"].as_array().unwrap();
            let magnets: Vec<&str> = urls
                .iter()
                .filter_map(|u| u.as_str().filter(|u| u.starts_with("magnet:")))
                .collect();
            assert_eq!(magnets.len(), 1, "{name}: {filename}: one magnet in {urls:?}");
            assert_eq!(
                urls.last().unwrap().as_str().unwrap(),
                magnets[0],
                "{name}: the magnet is last"
            );
            let m = magpkg::fetch::torrent::parse_magnet(magnets[0]).unwrap();
            assert_eq!(m.name.as_deref(), Some(filename), "{name}: {}", magnets[0]);
            assert!(m.size.is_some_and(|s| s > 0), "{name}: {}", magnets[0]);
            n += 1;
        }
    }
    assert!(n >= 50, "{n} sources");
}

/// Slow (every source of the tree through the Debian mirror, the bootstrap's
/// from the run's shared download): each listed magnet is the one the
/// pinned bytes give. A magnet that does not match is an error of the tree.
#[test]
#[ignore]
fn tree_magnets_are_the_pinned_bytes_magnets() {
    let env = TestContext::new();
    env.seed_bootstrap();
    // The mirrors only: this is about the bytes, not about finding peers.
    let mut c = env.cmd();
    real_network(&mut c).env("MAGPKG_DHT", "0");
    let out = c.args(["--quiet", "source", "magnets", "--check"]).output().unwrap();
    assert!(out.status.success(), "{}", crate::support::show(&out));
    // Without --check it prints the file the tree holds, byte for byte.
    let mut c = env.cmd();
    real_network(&mut c).env("MAGPKG_DHT", "0");
    let out = c.args(["--quiet", "source", "magnets"]).output().unwrap();
    assert!(out.status.success(), "{}", crate::support::show(&out));
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/packages/magnets.libsonnet")).unwrap();
    assert_eq!(crate::support::stdout(&out), file);
}

#[test]
fn every_tree_package_has_metadata_and_builds_on_the_bootstrap_root() {
    let env = TestContext::new();
    let all = eval_json(&env, "import 'magnet/packages.jsonnet'");
    for (name, _) in TREE {
        let p = &all[*name];
        for field in ["description", "license", "homepage"] {
            let v = p["meta"][field].as_str().unwrap_or_default();
            assert!(!v.is_empty(), "{name}: meta.{field}");
        }
        assert!(
            p["meta"]["homepage"].as_str().unwrap().starts_with("https://"),
            "{name}"
        );
        let deps: Vec<&str> = p["buildDeps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(deps[0], "bootstrap", "{name}: built on the bootstrap root");
    }
    // Dependencies between tree packages.
    let names = |p: &Value, field: &str| -> Vec<String> {
        p[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&all["less"], "buildDeps").contains(&"ncurses".to_string()));
    assert!(names(&all["flex"], "buildDeps").contains(&"m4".to_string()));
    assert_eq!(names(&all["flex"], "runDeps"), ["m4"]);
    for lib in ["zlib", "bzip2", "xz"] {
        assert!(
            names(&all["file"], "buildDeps").contains(&lib.to_string()),
            "file needs {lib}"
        );
    }
    assert_eq!(all["file"]["env"]["MAGIC"], "$out/share/misc/magic.mgc");
}

#[test]
fn variants_are_one_line_and_get_their_own_ids() {
    let env = TestContext::new();
    let mut ids = BTreeMap::new();
    for (label, expr) in [
        ("tree", tree_expr("tree")),
        ("tree glibc", format!("{} {{ static: false }}", tree_expr("tree"))),
        ("tree unstripped", format!("{} {{ strip: false }}", tree_expr("tree"))),
        ("sed", tree_expr("sed")),
        ("sed checked", format!("{} {{ check: true }}", tree_expr("sed"))),
    ] {
        ids.insert(label, root_id(&eval_graph(&env, &expr)));
    }
    let distinct: std::collections::BTreeSet<&String> = ids.values().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:#?}");

    // The default is a static musl build; the variant changes the script.
    let tree = eval_json(&env, &tree_expr("tree"));
    let glibc = eval_json(&env, &format!("{} {{ static: false }}", tree_expr("tree")));
    assert!(tree["build"].as_str().unwrap().contains("musl-gcc --static"));
    assert!(!glibc["build"].as_str().unwrap().contains("musl-gcc"));
    let checked = eval_json(&env, &format!("{} {{ check: true }}", tree_expr("sed")));
    assert!(checked["build"].as_str().unwrap().contains("make -j"));
    assert!(checked["build"].as_str().unwrap().contains(" check"));

    // A program's variant passes down to the libraries it links.
    let less = eval_json(&env, &format!("{} {{ static: false }}", tree_expr("less")));
    let ncurses = less["buildDeps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "ncurses")
        .unwrap();
    assert!(!ncurses["build"].as_str().unwrap().contains("musl-gcc"));

    // Impossible combinations are refused with a message.
    let o = env
        .cmd()
        .args(["eval", "-e", &format!("{} {{ shared: true }}", tree_expr("zlib"))])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        crate::support::stderr(&o).contains("a shared libz needs { static: false }"),
        "{}",
        crate::support::stderr(&o)
    );
}

// ------------------------------------------------------------ real builds (slow)

/// Run a program of the store with an empty environment; its stdout.
fn run_ok(program: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut c = Command::new(program);
    c.args(args)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// tree, zlib, bzip2 and lua built through `magpkg build` from their real
/// upstream tarballs on the real bootstrap root, then run on the host.
/// Every source comes from the `debian` mirror of the machine's apt sources
/// (the orig tarballs are the same files; the tests reach no other host).
/// Slow: it needs the bootstrap root (46 MB, fetched once per test run and
/// seeded into this test's store) and downloads the sources, unpacks 181 MB
/// and compiles four packages: a minute or more on 2 cores.
#[test]
#[ignore]
fn small_packages_build_through_magpkg_and_run_on_the_host() {
    let env = TestContext::new();
    env.seed_bootstrap();
    let expr = "local p = import 'magnet/packages.jsonnet'; [p.tree, p.zlib, p.bzip2, p.lua]";
    // The package sources through their Debian mirror URL only (the
    // bootstrap's .debs have no other); `build` then finds them cached.
    for p in eval_json(&env, expr).as_array().unwrap() {
        for s in p["sources"].as_array().unwrap() {
            let mirror = s["urls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap())
                .find(|u| u.starts_with("mirror://debian/"))
                .unwrap();
            let sha = s["sha256"].as_str().unwrap();
            let o = real_network(&mut env.cmd())
                .args(["source", "fetch", "--sha256", sha, mirror])
                .output()
                .unwrap();
            assert!(o.status.success(), "{mirror}: {}", crate::support::stderr(&o));
        }
    }
    let o = real_network(&mut env.cmd())
        .env("MAGPKG_BUILD_CORES", "2")
        .args(["build", "--json", "-e", expr])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let path = |name: &str| -> PathBuf {
        let r = report["roots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap();
        PathBuf::from(r["path"].as_str().unwrap())
    };
    let built: Vec<&str> = report["built"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    for name in ["bootstrap", "tree", "zlib", "bzip2", "lua"] {
        assert!(built.contains(&name), "{name} built: {built:?}");
    }

    // tree: a static program that lists a directory.
    let tree = path("tree");
    let bin = tree.join("bin/tree");
    assert!(!has_interpreter(&bin), "tree is statically linked");
    let version = String::from_utf8(run_ok(&bin, &["--version"], None)).unwrap();
    assert!(version.starts_with("tree v2.1.0"), "{version}");
    let listing = String::from_utf8(run_ok(&bin, &["--noreport", tree.to_str().unwrap()], None)).unwrap();
    assert!(listing.contains("tree.1") && listing.contains("bin"), "{listing}");

    // lua: runs code.
    let lua = path("lua").join("bin/lua");
    assert!(!has_interpreter(&lua));
    let out = run_ok(&lua, &["-e", "print(1 + 1, ('magnet'):upper())"], None);
    assert_eq!(String::from_utf8(out).unwrap(), "2\tMAGNET\n");
    assert!(path("lua").join("lib/liblua.a").is_file());

    // bzip2: a round trip through the compressor, and the library.
    let bz = path("bzip2");
    let bzip2 = bz.join("bin/bzip2");
    assert!(!has_interpreter(&bzip2));
    let help = Command::new(&bzip2).arg("--help").env_clear().output().unwrap();
    assert!(String::from_utf8_lossy(&help.stderr).contains("Version 1.0.8"));
    let data = b"magnet linux ".repeat(1000);
    let packed = run_ok(&bzip2, &["-9"], Some(&data));
    assert!(packed.starts_with(b"BZh9") && packed.len() < data.len() / 10);
    assert_eq!(run_ok(&bz.join("bin/bzcat"), &[], Some(&packed)), data);
    assert!(bz.join("lib/libbz2.a").is_file() && bz.join("include/bzlib.h").is_file());
    // Symlinks made by `ln -s $(PREFIX)/...` were made relative.
    assert_eq!(std::fs::read_link(bz.join("bin/bzless")).unwrap(), Path::new("bzmore"));

    // zlib: the static library (musl), its header and pkg-config file.
    let z = path("zlib");
    assert!(z.join("lib/libz.a").is_file());
    let header = std::fs::read_to_string(z.join("include/zlib.h")).unwrap();
    assert!(header.contains("#define ZLIB_VERSION \"1.2.13\""));
    let pc = std::fs::read_to_string(z.join("lib/pkgconfig/zlib.pc")).unwrap();
    assert!(pc.contains("Version: 1.2.13"), "{pc}");
    assert!(!z.join("lib/libz.so").exists(), "static only by default");
    let log = std::fs::read_to_string(
        env.store()
            .join("logs-v1")
            .join(format!("{}.log", report_id(&report, "zlib"))),
    )
    .unwrap();
    assert!(log.contains("*** zlib test OK ***"), "zlib's own tests ran");

    // Nothing is rebuilt the second time.
    let o = real_network(&mut env.cmd())
        .args(["build", "--json", "-e", expr])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["built"].as_array().unwrap().len(), 0, "{again}");
}

fn report_id(report: &Value, name: &str) -> String {
    let r = report["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap();
    r["id"].as_str().unwrap().to_string()
}

/// The Magnet Linux README's own command, verbatim: a positional argument
/// that is not a name is a Jsonnet expression, and `packages/...` is the
/// package tree wherever magpkg runs (a local `packages/` directory wins).
#[test]
fn the_readme_command_names_the_trees_coreutils() {
    let env = TestContext::new();
    let readme = r#"(import "packages/core.jsonnet").coreutils"#;
    let o = env.in_dir(env.root()).args(["eval", readme]).output().unwrap();
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let by_readme: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(root_id(&by_readme), root_id(&eval_graph(&env, &tree_expr("coreutils"))));
    // Every package of core.jsonnet is the tree's own.
    let core = eval_json(&env, r#"std.objectFields(import "packages/core.jsonnet")"#);
    let core: Vec<&str> = core.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(
        core.contains(&"coreutils") && core.contains(&"grep") && core.len() >= 10,
        "{core:?}"
    );
    for name in &core {
        let a = eval_graph(&env, &format!(r#"(import "packages/core.jsonnet")["{name}"]"#));
        assert_eq!(root_id(&a), root_id(&eval_graph(&env, &tree_expr(name))), "{name}");
    }
    // Names keep working as names.
    let o = env.cmd().args(["eval", "coreutils"]).output().unwrap();
    assert_eq!(
        root_id(&serde_json::from_slice(&o.stdout).unwrap()),
        root_id(&by_readme)
    );
    // In a checkout with its own packages/, that directory is read.
    let dir = env.path("checkout");
    std::fs::create_dir_all(dir.join("packages")).unwrap();
    std::fs::write(
        dir.join("packages/core.jsonnet"),
        "{ coreutils: { name: 'local-coreutils', version: '0', build: 'true' } }\n",
    )
    .unwrap();
    let o = env.in_dir(&dir).args(["eval", readme]).output().unwrap();
    let local: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(local["packages"][root_id(&local)]["name"], "local-coreutils");
}

#[test]
fn list_and_search_show_the_trees_packages() {
    let env = TestContext::new();
    let o = env.cmd().args(["list", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = list.as_array().unwrap();
    let attrs: Vec<&str> = rows.iter().map(|r| r["attr"].as_str().unwrap()).collect();
    for (name, _) in TREE {
        assert!(attrs.contains(name), "{name} listed: {attrs:?}");
    }
    let mut sorted = attrs.clone();
    sorted.sort();
    assert_eq!(attrs, sorted, "in name order");
    let zlib = rows.iter().find(|r| r["attr"] == "zlib").unwrap();
    assert_eq!(zlib["version"], "1.2.13+dfsg");
    assert!(zlib["description"].as_str().unwrap().contains("Compression library"));
    assert_eq!(
        zlib["id"].as_str().unwrap(),
        root_id(&eval_graph(&env, &tree_expr("zlib")))
    );
    // The plain listing: one line per package, name, version, description.
    let o = env.cmd().arg("list").output().unwrap();
    let text = crate::support::stdout(&o);
    assert_eq!(text.lines().count(), rows.len());
    assert!(
        text.lines()
            .any(|l| l.starts_with("zlib ") && l.contains("1.2.13+dfsg") && l.contains("Compression library")),
        "{text}"
    );
    // search: every word must match the name or the description.
    let o = env.cmd().args(["search", "--json", "COMPRESS"]).output().unwrap();
    let found: Value = serde_json::from_slice(&o.stdout).unwrap();
    let found: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attr"].as_str().unwrap())
        .collect();
    assert!(
        found.contains(&"zlib") && found.contains(&"xz") && found.contains(&"bzip2"),
        "{found:?}"
    );
    assert!(!found.contains(&"coreutils"), "{found:?}");
    let o = env.cmd().args(["search", "compression", "library"]).output().unwrap();
    assert_eq!(
        crate::support::stdout(&o).lines().count(),
        1,
        "{}",
        crate::support::stdout(&o)
    );
    let o = env.cmd().args(["search", "no-such-thing"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(crate::support::stderr(&o).contains("no package of the tree matches no-such-thing"));
}

/// Issue 15: Go from source (the toolchain bootstrapped from Debian's Go
/// binary packages), then a module from the `go` template built and run in
/// `magpkg shell --pure`, offline, with the environment's go (the host has
/// none). Slow: fetches 106 MB and builds the Go toolchain (minutes on 2
/// cores).
#[test]
#[ignore]
fn go_from_source_builds_a_module_in_a_pure_shell() {
    // Not a test of trust: the project is this test's own.
    let env = TestContext::new().trusting();
    env.seed_bootstrap();
    let root = env.project("gomod");
    // A module: `magpkg init` detects it by its go.mod.
    crate::support::write(&root.join("go.mod"), "module example.org/gomod\n\ngo 1.19\n");
    crate::support::write(
        &root.join("greet/greet.go"),
        "package greet\n\nimport \"strings\"\n\nfunc Hello(who string) string { return \"hello, \" + strings.ToUpper(who) }\n",
    );
    crate::support::write(
        &root.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\n\t\"example.org/gomod/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello(os.Args[1])) }\n",
    );
    let out = env.run_in(&root, &["init"]);
    assert!(out.status.success(), "{}", crate::support::show(&out));
    let manifest = std::fs::read_to_string(root.join("magnet.jsonnet")).unwrap();
    assert!(manifest.contains("pkgs.go"), "the go template was picked: {manifest}");

    let out = real_network(&mut env.in_dir(&root))
        .env("MAGPKG_BUILD_CORES", "2")
        .args(["shell", "--pure", "--", "go", "build", "-o", "gomod", "."])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::support::show(&out));
    let bin = root.join("gomod");
    assert!(!has_interpreter(&bin), "a static, pure-Go program");
    // It runs anywhere, in the environment or not.
    assert_eq!(run_ok(&bin, &["magnet"], None), b"hello, MAGNET\n");
    let out = env
        .in_dir(&root)
        .args(["shell", "--pure", "--", "./gomod", "pure"])
        .output()
        .unwrap();
    assert_eq!(
        crate::support::stdout(&out),
        "hello, PURE\n",
        "{}",
        crate::support::show(&out)
    );
    // The template's scripts, and the go in use is the store's.
    let out = env.in_dir(&root).args(["run", "build"]).output().unwrap();
    assert!(out.status.success(), "{}", crate::support::show(&out));
    let out = env
        .in_dir(&root)
        .args(["shell", "--", "sh", "-c", "command -v go; go env GOROOT CGO_ENABLED"])
        .output()
        .unwrap();
    let s = crate::support::stdout(&out);
    let store = env.store().to_string_lossy().into_owned();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 3, "{}", crate::support::show(&out));
    assert!(!lines[0].starts_with("/usr"), "go comes from the environment: {s}");
    assert!(
        lines[1].starts_with(&store) && lines[1].ends_with("-go/lib/go"),
        "GOROOT in the store: {s}"
    );
    assert_eq!(lines[2], "0", "cgo is off by default: {s}");
    // The build cache stays in the project.
    assert!(root.join(".magpkg/go/cache").is_dir());
}
