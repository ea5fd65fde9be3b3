//! Remote builders over SSH, with the real binary on both sides: a real
//! OpenSSH server on loopback (its own port and host key) logs builder
//! users in (`magpkgb`, `magpkgk`, made by `.ci/setup`), whose stores are
//! their own; `magpkg build --builders` reaches them with the system's ssh
//! client (`MAGPKG_SSH_COMMAND` gives it the test's key and known hosts).
//! Every output that comes back must be byte-identical to a local build,
//! and nothing a lying or dying builder sends may enter the store.

use std::path::{Path, PathBuf};
use std::process::Command;

use magpkg::model::PackageId;
use magpkg::store::Store;

use crate::support::servers::Sshd;
use crate::support::{assert_same_tree, assert_store_clean, busybox, fixture, ok, sha256, text, TestContext};

/// Applets the build scripts below use.
const APPLETS: &[&str] = &[
    "cat", "chmod", "echo", "ln", "ls", "mkdir", "printf", "sleep", "test", "true",
];

/// Six packages: a busybox root filesystem (builtin), two independent
/// libraries, a tool using both, an app running the tool at run time and
/// a doc package built with the app. `extra` goes into every script.
fn graph_jsonnet(ctx: &TestContext, extra: &str) -> PathBuf {
    let tb = ctx.path("busybox-root.tar.gz");
    crate::support::packages::tarball(&tb, &[("bin/busybox", &busybox(), true)], &[]);
    let sha = sha256(&std::fs::read(&tb).unwrap());
    let applets = serde_json::to_string(APPLETS).unwrap();
    let def = format!(
        r#"
local root = {{
  name: "testroot", version: "1",
  sources: [{{ filename: "busybox-root.tar.gz", sha256: "{sha}", urls: ["file://{tb}"] }}],
  build: {{ builtin: "rootfs", links: {{ "/bin/sh": "busybox" }}, busybox: "bin/busybox", applets: {applets} }},
}};
local script(name, deps, body) = {{
  name: name, version: "1.0", buildDeps: [root] + deps,
  build: "{extra}\n" + body,
}};
local liba = script("liba", [], "mkdir -p $out/lib; echo 'alpha' > $out/lib/a.txt; echo built liba");
local libb = script("libb", [], "mkdir -p $out/lib; echo 'beta' > $out/lib/b.txt; echo built libb");
local tool = script("tool", [liba, libb], "mkdir -p $out/bin; printf '#!/bin/sh\\necho tool: %s %s\\n' \"$(cat /deps/lib/a.txt)\" \"$(cat /deps/lib/b.txt)\" > $out/bin/tool; chmod 755 $out/bin/tool; ln -s tool $out/bin/t");
local app = script("app", [tool], "mkdir -p $out/share; /deps/bin/tool > $out/share/greeting") + {{ runDeps: [tool] }};
local doc = script("doc", [app], "mkdir -p $out/doc; cat /deps/share/greeting > $out/doc/README; ls /deps/bin >> $out/doc/README");
[app, doc]
"#,
        tb = tb.display(),
        extra = extra,
    );
    let path = ctx.path("graph.jsonnet");
    std::fs::write(&path, def).unwrap();
    path
}

/// The builder world of one test: its own sshd and a client context.
struct World {
    ctx: TestContext,
    sshd: Sshd,
    def: PathBuf,
}

fn world(users: &[&str], extra: &str) -> World {
    let ctx = TestContext::new().with_path("/usr/local/bin:/usr/bin:/bin");
    let sshd = Sshd::start(users);
    let def = graph_jsonnet(&ctx, extra);
    World { ctx, sshd, def }
}

impl World {
    /// `magpkg ARGS` on `store`, reaching the builders with this sshd's key.
    fn cmd(&self, store: &Path) -> Command {
        let mut c = self.ctx.cmd();
        c.env("MAGPKG_STORE", store)
            .env("MAGPKG_SSH_COMMAND", self.sshd.ssh_command())
            .env("MAGPKG_SUBSTITUTE", "0");
        c
    }

    fn build(&self, store: &Path, args: &[&str]) -> std::process::Output {
        let mut c = self.cmd(store);
        c.args(["build", "--json", "-f", self.def.to_str().unwrap()]).args(args);
        c.output().unwrap()
    }

    fn store(&self, name: &str) -> PathBuf {
        self.ctx.path(&format!("stores/{name}"))
    }
}

fn report(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn names(v: &serde_json::Value, field: &str) -> Vec<String> {
    let mut n: Vec<String> = v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

const ALL: [&str; 6] = ["app", "doc", "libb", "liba", "testroot", "tool"];

fn all_sorted() -> Vec<String> {
    let mut v: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Every package's id and tree, from a build report and its store.
fn entries(store: &Path) -> Vec<(String, String, PathBuf, Option<String>)> {
    let s = Store::open(store).unwrap();
    let mut v: Vec<_> = s
        .packages()
        .unwrap()
        .into_iter()
        .map(|r| {
            let id = PackageId::from_string(r.id.clone());
            (
                r.name.clone(),
                r.id.clone(),
                s.package_path(&id).unwrap(),
                r.built_by.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The warnings magpkg printed.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("warning:")).collect()
}

#[test]
fn a_graph_built_remotely_is_byte_identical_to_a_local_build() {
    let w = world(&["magpkgb"], "");
    let uri = w.sshd.uri("magpkgb");
    // The reference: everything built on this machine.
    let local = w.store("local");
    let r = report(&w.build(&local, &["-j", "2"]));
    assert_eq!(names(&r, "built"), all_sorted());

    // Only on the builder (--jobs 0), two builds at once there.
    let remote_only = w.store("remote-only");
    let builders = format!("{uri}?jobs=2");
    let out = w.build(&remote_only, &["-j", "0", "--builders", &builders]);
    let r = report(&out);
    assert_eq!(names(&r, "built"), all_sorted(), "{}", text(&out.stderr));
    assert_eq!(names(&r, "builtRemotely"), all_sorted());
    for p in r["builtRemotely"].as_array().unwrap() {
        assert_eq!(p["builtBy"], uri.as_str());
    }
    assert!(warnings(&text(&out.stderr)).is_empty(), "{}", text(&out.stderr));
    let (a, b) = (entries(&local), entries(&remote_only));
    assert_eq!(a.len(), 6);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, &x.1), (&y.0, &y.1));
        assert_same_tree(&x.2, &y.2);
        assert_eq!(x.3, None, "built here");
        assert_eq!(
            y.3.as_deref(),
            Some(uri.as_str()),
            "{} recorded as built by the builder",
            y.0
        );
    }
    assert_store_clean(&remote_only);
    // The builder's own store holds them too, verified.
    let theirs = entries(&w.sshd.store("magpkgb"));
    assert_eq!(
        theirs.iter().map(|e| e.1.clone()).collect::<Vec<_>>(),
        a.iter().map(|e| e.1.clone()).collect::<Vec<_>>()
    );
    for e in &theirs {
        assert_eq!(e.3, None, "the builder built {} itself", e.0);
    }
    assert_store_clean(&w.sshd.store("magpkgb"));

    // `store list --json` says by whom.
    let mut c = w.cmd(&remote_only);
    c.args(["store", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&ok(&c.output().unwrap())).unwrap();
    for e in list.as_array().unwrap() {
        assert_eq!(e["builtBy"], uri.as_str(), "{e}");
    }
    let mut c = w.cmd(&remote_only);
    c.args(["store", "list"]);
    let list = ok(&c.output().unwrap());
    assert_eq!(list.matches(&format!("(built by {uri})")).count(), 6, "{list}");
    // The build log streamed back into the local log.
    let tool = b.iter().find(|e| e.0 == "liba").unwrap();
    let log = std::fs::read_to_string(remote_only.join("logs-v1").join(format!("{}.log", tool.1))).unwrap();
    assert!(log.contains("built liba"), "{log}");
    assert!(log.contains(&format!("on {uri}")), "{log}");

    // `build --check` rebuilds here and compares with what the builder sent.
    let mut c = w.cmd(&remote_only);
    c.args(["build", "--check", "--json", "-f", w.def.to_str().unwrap()]);
    let check: serde_json::Value = serde_json::from_str(&ok(&c.output().unwrap())).unwrap();
    let checked = check["checked"].as_array().unwrap();
    assert_eq!(checked.len(), 2);
    assert!(checked.iter().all(|r| r["identical"] == true), "{check}");

    // Builders and local slots at once: the builder gets work while this
    // machine builds too (one slot each), and everything is still equal.
    let mixed = w.store("mixed");
    let out = w.build(&mixed, &["-j", "1", "--builders", &uri]);
    let r = report(&out);
    assert_eq!(names(&r, "built"), all_sorted());
    let remote = names(&r, "builtRemotely");
    assert!(
        !remote.is_empty() && remote.len() < 6,
        "some packages on each side: remote {remote:?}"
    );
    assert!(
        !remote.contains(&"testroot".to_string()),
        "the builtin root is unpacked here"
    );
    for (x, y) in a.iter().zip(&entries(&mixed)) {
        assert_same_tree(&x.2, &y.2);
    }
    assert_store_clean(&mixed);
}

#[test]
fn a_builder_killed_mid_graph_leaves_the_rest_to_local_builds() {
    // Each script sleeps, so the graph is still running when the builder dies.
    let mut w = world(&["magpkgk"], "sleep 1");
    let uri = w.sshd.uri("magpkgk");
    let store = w.store("client");
    let mut c = w.cmd(&store);
    c.args([
        "build",
        "--json",
        "-j",
        "1",
        "--builders",
        &uri,
        "-f",
        w.def.to_str().unwrap(),
    ]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    // Wait until the builder is running a build, then kill sshd and every
    // process of the builder's user.
    let builder_logs = w.sshd.store("magpkgk").join("logs-v1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let running = std::fs::read_dir(&builder_logs).map(|d| d.count()).unwrap_or(0);
        if running > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the builder never started a build"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    w.sshd.kill("magpkgk");
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    let r = report(&out);
    let mut present = names(&r, "built");
    present.extend(names(&r, "present"));
    present.sort();
    assert_eq!(present, all_sorted(), "{stderr}");
    let warned = warnings(&stderr);
    assert_eq!(warned.len(), 1, "said once: {stderr}");
    assert!(warned[0].contains(&uri) && warned[0].contains("dropped"), "{stderr}");
    // Whatever the builder finished before it died was verified and kept;
    // the rest was built here.
    let local_built = entries(&store).iter().filter(|e| e.3.is_none()).count();
    assert!(local_built >= 2, "{:?}", entries(&store));
    assert_store_clean(&store);
    let reference = w.store("reference");
    report(&w.build(&reference, &["-j", "2"]));
    for (x, y) in entries(&reference).iter().zip(&entries(&store)) {
        assert_same_tree(&x.2, &y.2);
    }
}

/// A builder whose `program` is the tampering wrapper in `mode`.
fn tampering_config(w: &World, mode: &str, jobs_here: &str) -> (PathBuf, std::process::Output) {
    let config = w.ctx.path(&format!("config-{mode}.jsonnet"));
    let program = format!(
        "python3 {} {mode} magpkg",
        w.sshd.share(&fixture("remote/tamper.py")).display()
    );
    std::fs::write(
        &config,
        format!(
            "{{ builders: [{{ uri: \"{}\", jobs: 1, features: [\"test\"], program: {} }}] }}\n",
            w.sshd.uri("magpkgb"),
            serde_json::to_string(&program).unwrap()
        ),
    )
    .unwrap();
    let store = w.store(&format!("tampered-{mode}-{jobs_here}"));
    let mut c = w.cmd(&store);
    c.env("MAGPKG_CONFIG", &config)
        .args(["build", "--json", "-j", jobs_here, "-f", w.def.to_str().unwrap()]);
    (store, c.output().unwrap())
}

#[test]
fn a_builder_that_returns_other_bytes_than_it_claims_is_refused() {
    crate::support::require("python3");
    crate::support::require("zstd");
    let w = world(&["magpkgb"], "");
    let reference = w.store("reference");
    report(&w.build(&reference, &["-j", "2"]));
    let uri = w.sshd.uri("magpkgb");
    for mode in ["payload", "digest", "tree"] {
        // With local slots: refused, the builder dropped, built here.
        let (store, out) = tampering_config(&w, mode, "1");
        let stderr = text(&out.stderr);
        let r = report(&out);
        assert_eq!(names(&r, "built"), all_sorted(), "{mode}: {stderr}");
        assert!(names(&r, "builtRemotely").is_empty(), "{mode}: nothing of it kept: {r}");
        let warned = warnings(&stderr);
        assert_eq!(warned.len(), 1, "{mode}: {stderr}");
        assert!(
            warned[0].contains(&uri) && warned[0].contains("not what it claims") && warned[0].contains("refused"),
            "{mode}: {stderr}"
        );
        for (x, y) in entries(&reference).iter().zip(&entries(&store)) {
            assert_eq!(y.3, None, "{mode}: {} must not come from the builder", y.0);
            assert_same_tree(&x.2, &y.2);
        }
        assert_store_clean(&store);
    }
    // Remote only: the command fails, naming the builder, and nothing of it
    // is in the store.
    let (store, out) = tampering_config(&w, "tree", "0");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&uri) && stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("every remote builder is gone"), "{stderr}");
    assert!(entries(&store).is_empty(), "{:?}", entries(&store));
    assert_store_clean(&store);
}

#[test]
fn unreachable_builders_and_remote_failures_are_reported() {
    let w = world(&["magpkgb"], "");
    // A builder nobody answers: one warning, everything built here.
    let dead = format!("ssh://magpkgb@127.0.0.1:{}", crate::support::net::closed_port());
    let store = w.store("dead");
    let out = w.build(&store, &["-j", "2", "--builders", &dead]);
    let stderr = text(&out.stderr);
    let r = report(&out);
    assert_eq!(names(&r, "built"), all_sorted());
    let warned = warnings(&stderr);
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains(&dead) && warned[0].contains("cannot connect"),
        "{stderr}"
    );
    // A builder where magpkg is not installed: named, with the remote
    // shell's words, and left out.
    let config = w.ctx.path("config-missing.jsonnet");
    std::fs::write(
        &config,
        format!(
            "{{ builders: [{{ uri: \"{}\", program: \"/nonexistent/magpkg\" }}] }}\n",
            w.sshd.uri("magpkgb")
        ),
    )
    .unwrap();
    let store = w.store("missing");
    let mut c = w.cmd(&store);
    c.env("MAGPKG_CONFIG", &config)
        .args(["build", "--json", "-j", "2", "-f", w.def.to_str().unwrap()]);
    let out = c.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(names(&report(&out), "built"), all_sorted(), "{stderr}");
    let warned = warnings(&stderr);
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains("cannot connect")
            && warned[0].contains("/nonexistent/magpkg")
            && warned[0].contains("not found"),
        "{stderr}"
    );
    // --jobs 0 with no builder at all, and with only a dead one.
    let out = w.build(&w.store("none"), &["-j", "0", "--builders", ""]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--jobs 0 builds only on remote builders, and none is configured"),
        "{}",
        text(&out.stderr)
    );
    let out = w.build(&w.store("none2"), &["-j", "0", "--builders", &dead]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("every remote builder is gone"),
        "{}",
        text(&out.stderr)
    );
    // A bad URI is a usage error naming it.
    let out = w.build(&w.store("bad"), &["--builders", "build1.lan"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`build1.lan` is not an ssh://"),
        "{}",
        text(&out.stderr)
    );

    // A build script failing on the builder fails the build, with its log.
    let bad = w.ctx.path("bad.jsonnet");
    std::fs::write(
        &bad,
        format!(
            "local g = import '{}';\ng[0] + {{ name: 'broken', build: 'echo about to fail; exit 3' }}\n",
            w.def.display()
        ),
    )
    .unwrap();
    let store = w.store("failing");
    let mut c = w.cmd(&store);
    c.args([
        "build",
        "-j",
        "0",
        "--builders",
        &w.sshd.uri("magpkgb"),
        "-f",
        bad.to_str().unwrap(),
    ]);
    let out = c.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("build of broken 1.0 failed (exit status 3, on ssh://magpkgb@"),
        "{stderr}"
    );
    assert!(stderr.contains("about to fail"), "{stderr}");
    assert!(
        warnings(&stderr).is_empty(),
        "a failed build is not a dead builder: {stderr}"
    );
    assert_store_clean(&store);
}

/// On a terminal, the progress display shows the remote build's log as it
/// is written there (real tmux): the package's first line appears while its
/// build still runs, and the summary says where it was built.
#[test]
fn the_progress_display_shows_the_remote_log_as_it_streams() {
    let w = world(&["magpkgb"], "");
    let slow = w.ctx.path("slow.jsonnet");
    std::fs::write(
        &slow,
        format!(
            "local g = import '{}';\ng[0] + {{ name: 'slowshow', build: 'echo streamed-from-the-builder; sleep 4; mkdir -p $out/share' }}\n",
            w.def.display()
        ),
    )
    .unwrap();
    let store = w.store("tty");
    let t = crate::support::tmux::Tmux::outer_bash(
        &w.ctx,
        w.ctx.root(),
        &[
            ("MAGPKG_STORE", store.display().to_string()),
            ("MAGPKG_SSH_COMMAND", w.sshd.ssh_command()),
            ("MAGPKG_SUBSTITUTE", "0".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ],
    );
    t.send(&format!(
        "{} build -j 0 --builders {} -f {}; echo BUILD''-DONE",
        crate::support::magpkg_bin().display(),
        w.sshd.uri("magpkgb"),
        slow.display()
    ));
    // The spinner line of the running build shows the builder and its log.
    let pane = t.wait_for("the remote log line on the progress display", |p| {
        p.contains("streamed-from-the-builder") && p.contains("slowshow 1.0 on ssh://")
    });
    assert!(!pane.contains("BUILD-DONE"), "shown while it ran:\n{pane}");
    let pane = t.wait_for_text("BUILD-DONE", 1);
    assert!(pane.contains("built slowshow 1.0"), "{pane}");
    assert!(pane.contains(&format!("on {}", w.sshd.uri("magpkgb"))), "{pane}");
}
