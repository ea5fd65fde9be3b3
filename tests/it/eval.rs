//! `magpkg eval`: the Jsonnet package graph, package ids, the embedded tree
//! and `--packages`, error messages with locations, cycles.

use crate::support::snapshot::assert_snapshot;
use crate::support::{fixture, run, stderr, stdout, TestContext};
use serde_json::Value;

/// `magpkg eval ARGS...` in the fixtures directory; the parsed graph.
fn eval_ok(env: &TestContext, args: &[&str]) -> Value {
    let out = run(env.in_dir(fixture("eval")).arg("eval").args(args));
    assert!(out.status.success(), "magpkg eval {args:?} failed:\n{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("eval prints JSON")
}

/// `magpkg eval ARGS...` that must fail as a user error; its stderr.
fn eval_err(env: &TestContext, args: &[&str]) -> String {
    let out = run(env.in_dir(fixture("eval")).arg("eval").args(args));
    assert_eq!(
        out.status.code(),
        Some(1),
        "magpkg eval {args:?} should exit 1:\nstdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "nothing on stdout on errors");
    stderr(&out)
}

fn root(g: &Value, i: usize) -> &Value {
    let id = g["roots"][i].as_str().expect("a root");
    &g["packages"][id]
}

fn root_id(env: &TestContext, expr: &str) -> String {
    let g = eval_ok(env, &["-e", expr]);
    g["roots"][0].as_str().unwrap().to_string()
}

fn names(g: &Value, ids: &Value) -> Vec<String> {
    ids.as_array()
        .unwrap()
        .iter()
        .map(|id| {
            g["packages"][id.as_str().unwrap()]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn eval_hello_prints_the_graph_with_deps_by_id() {
    let env = TestContext::new();
    let g = eval_ok(&env, &["hello"]);
    assert_eq!(g["roots"].as_array().unwrap().len(), 1);
    let hello = root(&g, 0);
    assert_eq!(hello["name"], "hello");
    assert_eq!(hello["version"], "2.10");
    assert_eq!(hello["id"], g["roots"][0]);
    let id = hello["id"].as_str().unwrap();
    assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let src = &hello["sources"][0];
    assert_eq!(src["filename"], "hello-2.10.tar.gz");
    assert_eq!(
        src["sha256"],
        "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b"
    );
    let urls: Vec<&str> = src["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(urls.contains(&"mirror://debian/pool/main/h/hello/hello_2.10.orig.tar.gz"));
    assert!(urls
        .iter()
        .any(|u| u.starts_with("https://") && u.ends_with("/hello-2.10.tar.gz")));
    // Dependencies are ids of packages in the graph.
    assert_eq!(names(&g, &hello["buildDeps"]), ["bootstrap"]);
    assert!(
        hello["build"].as_str().unwrap().contains("musl-gcc -static"),
        "static by default"
    );
    assert!(hello["meta"]["license"].is_string());
}

#[test]
fn hidden_parameters_make_one_line_variants() {
    let env = TestContext::new();
    let static_id = root_id(&env, r#"(import "magnet/packages.jsonnet").hello"#);
    let g = eval_ok(
        &env,
        &["-e", r#"(import "magnet/packages.jsonnet").hello { static: false }"#],
    );
    let glibc = root(&g, 0);
    assert_ne!(glibc["id"].as_str().unwrap(), static_id);
    assert!(!glibc["build"].as_str().unwrap().contains("musl"));
    // The parameter itself is not part of the definition.
    assert!(glibc.get("static").is_none());
    // `magpkg eval hello` is the same package as the expression.
    assert_eq!(eval_ok(&env, &["hello"])["roots"][0], static_id.as_str());
}

#[test]
fn whole_tree_evaluates_with_every_package_a_root_sorted_by_name() {
    let env = TestContext::new();
    let g = eval_ok(&env, &["-e", r#"import "magnet/packages.jsonnet""#]);
    let roots = names(&g, &g["roots"]);
    assert!(roots.contains(&"hello".to_string()) && roots.contains(&"bootstrap".to_string()));
    let mut sorted = roots.clone();
    sorted.sort();
    assert_eq!(roots, sorted);
}

/// Golden digests: these ids pin the v1 encoding of package definitions
/// (tests/fixtures/eval/golden.jsonnet). If one changes, every id in every
/// store changed: that needs a new encoding version, not a new expectation.
#[test]
fn golden_ids_are_stable() {
    let env = TestContext::new();
    let g = eval_ok(&env, &["-f", "golden.jsonnet"]);
    // Object of packages: every field a root, sorted by field name.
    assert_eq!(
        g["roots"],
        serde_json::json!([
            "a629e13ddf4358c61b68c983a61219da",
            "51034c68418794f8cc83fd47bb5da6c9",
            "8a43f7ace27597dd0cd6be3af4be3931"
        ])
    );
    assert_eq!(names(&g, &g["roots"]), ["app", "leaf", "zlib"]);
    let app = &g["packages"]["a629e13ddf4358c61b68c983a61219da"];
    assert_eq!(
        app["buildDeps"],
        serde_json::json!(["8a43f7ace27597dd0cd6be3af4be3931"])
    );
    assert_eq!(app["build"], serde_json::json!({"builtin": "unpack", "strip": 1}));
    assert_eq!(app["oci"]["entrypoint"][0], "/bin/app");
}

#[test]
fn same_input_same_ids_from_any_directory_and_home() {
    let a = TestContext::new();
    let b = TestContext::new();
    let path = fixture("eval/golden.jsonnet");
    let from_fixtures = run(a.in_dir(fixture("eval")).args(["eval", "-f", "golden.jsonnet"]));
    let from_home = run(b.cmd().args(["eval", "-f", path.to_str().unwrap()]));
    assert!(from_fixtures.status.success() && from_home.status.success());
    assert_eq!(from_fixtures.stdout, from_home.stdout);
}

#[test]
fn id_follows_build_deps_and_source_hash_but_not_urls_or_meta() {
    let env = TestContext::new();
    let golden = fixture("eval/golden.jsonnet");
    let g = golden.to_str().unwrap();
    let id = |body: &str| root_id(&env, &format!("local g = import \"{g}\"; {body}"));
    let base = id("g.zlib");
    let app = id("g.app");

    // Not part of the identity.
    assert_eq!(
        id("g.zlib { sources: [super.sources[0] { urls+: ['mirror://debian/pool/main/z/zlib/zlib_1.3.1.orig.tar.gz'] }] }"),
        base,
        "adding a mirror URL"
    );
    assert_eq!(
        id("g.zlib { sources: [super.sources[0] { urls: [] }] }"),
        base,
        "removing URLs"
    );
    assert_eq!(id("g.zlib { meta+: { homepage: 'https://zlib.net' } }"), base, "meta");
    assert_eq!(id("g.zlib { oci: { cmd: ['x'] } }"), base, "oci");
    assert_eq!(id("g.zlib { extra:: 'hidden' }"), base, "hidden field");

    // Part of it.
    assert_ne!(
        id("g.zlib { build: super.build + 'make check\\n' }"),
        base,
        "build script"
    );
    assert_ne!(
        id("g.zlib { sources: [super.sources[0] { sha256: std.repeat('1', 64) }] }"),
        base,
        "source sha256"
    );
    assert_ne!(id("g.zlib { version: '1.3.2' }"), base, "version");
    assert_ne!(id("g.zlib { env: { X: '1' } }"), base, "env");
    assert_ne!(id("g.app { buildDeps: [g.leaf] }"), app, "build deps");
    assert_ne!(id("g.app { runDeps: [] }"), app, "run deps");
    // A change deep down changes every dependent.
    assert_ne!(
        id("g.app { buildDeps: [g.zlib { build: 'make' }], runDeps: self.buildDeps }"),
        app,
        "a dependency's build script"
    );
    assert_eq!(
        id("g.app { buildDeps: [g.zlib { meta: {} }] }"),
        app,
        "a dependency's meta"
    );
}

#[test]
fn unknown_field_names_field_location_and_closest_valid_one() {
    let env = TestContext::new();
    let err = eval_err(&env, &["-f", "unknown-field.jsonnet"]);
    assert!(
        err.contains("unknown-field.jsonnet:7:3: unknown field `buidDeps` in package `tool`"),
        "{err}"
    );
    assert!(err.contains("buidDeps: [pkgs.hello],"), "offending line shown: {err}");
    assert!(err.contains("hint: did you mean `buildDeps`?"), "{err}");
}

#[test]
fn unknown_fields_in_sources_and_meta_are_errors_too() {
    let env = TestContext::new();
    let err = eval_err(
        &env,
        &["-e", "{ name: 'x', version: '1', build: 'b', sources: [{ filename: 'f', sha256: std.repeat('0', 64), url: [] }] }"],
    );
    assert!(err.contains("unknown field `url` in source `f`"), "{err}");
    assert!(err.contains("<expr>:1:"), "{err}");
    assert!(err.contains("did you mean `urls`?"), "{err}");
    let err = eval_err(
        &env,
        &[
            "-e",
            "{ name: 'x', version: '1', build: 'b', meta: { licence: 'MIT' } }",
        ],
    );
    assert!(
        err.contains("unknown field `meta.licence`") && err.contains("did you mean `license`?"),
        "{err}"
    );
}

#[test]
fn type_errors_show_file_line_and_column() {
    let env = TestContext::new();
    let err = eval_err(&env, &["-f", "version-number.jsonnet"]);
    assert!(
        err.contains("version-number.jsonnet:5:5: `version` of package `tool` must be a string, found a number"),
        "{err}"
    );
    assert!(err.contains("version: 2.10,"), "{err}");

    let err = eval_err(&env, &["-f", "bad-sha256.jsonnet"]);
    assert!(
        err.contains("bad-sha256.jsonnet:7:29:"),
        "points at the sha256 of b.tar.gz: {err}"
    );
    assert!(
        err.contains("64 lowercase hex digits") && err.contains("abc123"),
        "{err}"
    );

    let err = eval_err(&env, &["-f", "bad-filename.jsonnet"]);
    assert!(err.contains("bad-filename.jsonnet:7:7:"), "{err}");
    assert!(
        err.contains("`../escape.tar.gz`") && err.contains("without `/`"),
        "{err}"
    );

    let err = eval_err(&env, &["-e", "{ name: 'x', version: '1', build: 42 }"]);
    assert!(
        err.contains("<expr>:1:28:") && err.contains("`build` of package `x`"),
        "{err}"
    );
    let err = eval_err(
        &env,
        &["-e", "{ name: 'x', version: '1', build: 'b', runDeps: 'hello' }"],
    );
    assert!(err.contains("`runDeps` of package `x` must be a list"), "{err}");
    let err = eval_err(&env, &["-e", "{ name: 'x', version: '1', build: 'b', env: { A: 1 } }"]);
    assert!(err.contains("`env.A` of package `x` must be a string"), "{err}");
    let err = eval_err(
        &env,
        &["-e", "{ name: 'x', version: '1', build: 'b', sources: [{ filename: 'f', sha256: std.repeat('0', 64), urls: ['ftp://h/f'] }] }"],
    );
    assert!(
        err.contains("URL `ftp://h/f`") && err.contains("mirror://NAME/PATH"),
        "{err}"
    );
    let err = eval_err(&env, &["-e", "{ name: 'a/b', version: '1', build: 'b' }"]);
    assert!(err.contains("package name `a/b`"), "{err}");
    let err = eval_err(&env, &["-e", "{ version: '1', build: 'b' }"]);
    assert!(err.contains("without a `name`"), "{err}");
    let err = eval_err(&env, &["-e", "42"]);
    assert!(err.contains("the input is a number"), "{err}");
}

#[test]
fn syntax_error_shows_location_and_offending_text() {
    let env = TestContext::new();
    let err = eval_err(&env, &["-f", "syntax-error.jsonnet"]);
    assert!(err.contains("syntax-error.jsonnet:3:17: syntax error"), "{err}");
    assert!(err.contains("version: '1' +,"), "{err}");
    assert_snapshot!(&env, "error_syntax", &err);
    let err = eval_err(&env, &["-e", "{ a: }"]);
    assert!(err.contains("<expr>:1:"), "{err}");
}

#[test]
fn runtime_errors_show_location() {
    let env = TestContext::new();
    let err = eval_err(&env, &["-f", "runtime-error.jsonnet"]);
    assert!(
        err.contains("runtime-error.jsonnet:1:17: no version for this platform"),
        "{err}"
    );
    assert!(err.contains("while evaluating field `version`"), "{err}");
    // jrsonnet gives no location for a missing field; magpkg finds it.
    let err = eval_err(&env, &["-e", r#"(import "magnet/packages.jsonnet").helo"#]);
    assert!(err.contains("<expr>:1:36: no such field: helo"), "{err}");
    assert!(err.contains("hello"), "suggests the similar field: {err}");
    // Errors jrsonnet does not locate point at the field being evaluated;
    // files of the embedded tree are named `magnet/...`.
    let err = eval_err(
        &env,
        &["-e", r#"(import "magnet/packages.jsonnet").hello { static: 42 }"#],
    );
    assert!(err.contains("error: magnet/hello.jsonnet:"), "{err}");
    assert!(err.contains("expected boolean"), "{err}");
    assert!(
        err.contains("while evaluating field `build` of package `hello`"),
        "{err}"
    );
}

#[test]
fn dependency_cycles_are_named() {
    let env = TestContext::new();
    let err = eval_err(&env, &["-f", "cycle.jsonnet"]);
    assert!(err.contains("dependency cycle: a -> b -> a"), "{err}");
    // Manifesting to plain JSON detects it too (manifests go that way).
    let err = eval_err(&env, &["--json", "-f", "cycle.jsonnet"]);
    assert!(err.contains("dependency cycle: a -> b -> a"), "{err}");
    // A function building a new package at every call never repeats an
    // object; the chain limit stops it cleanly.
    let err = eval_err(&env, &["-f", "cycle-through-function.jsonnet"]);
    assert!(err.contains("dependency cycle: loop -> loop"), "{err}");
}

#[test]
fn packages_dir_replaces_the_embedded_tree() {
    let env = TestContext::new();
    let embedded = eval_ok(&env, &["hello"]);
    assert_eq!(root(&embedded, 0)["version"], "2.10");

    let tree = fixture("eval/tree");
    let forked = eval_ok(&env, &["--packages", tree.to_str().unwrap(), "hello"]);
    assert_eq!(root(&forked, 0)["version"], "2.12");
    assert_ne!(forked["roots"], embedded["roots"]);

    // The same through the environment, and through a relative path.
    let out = run(env.in_dir(fixture("eval")).env("MAGPKG_PACKAGES", "tree").args([
        "eval",
        "-e",
        r#"(import "magnet/packages.jsonnet").hello"#,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let via_env: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(via_env["roots"], forked["roots"]);

    // Relative imports and importstr inside the local tree.
    let extra = eval_ok(&env, &["--packages", "tree", "extra"]);
    assert_eq!(root(&extra, 0)["build"], "echo extra\n");
    assert_eq!(names(&extra, &root(&extra, 0)["runDeps"]), ["hello"]);
    assert_eq!(root(&extra, 0)["runDeps"][0], forked["roots"][0]);

    // The embedded tree has no `extra`.
    let err = eval_err(&env, &["extra"]);
    assert!(err.contains("no package named `extra`"), "{err}");
}

#[test]
fn tree_imports_cannot_leave_the_tree() {
    let env = TestContext::new();
    let err = eval_err(&env, &["-e", r#"import "magnet/../Cargo.toml""#]);
    assert!(err.contains("leaves the package tree"), "{err}");
    let err = eval_err(&env, &["-e", r#"import "magnet/nope.jsonnet""#]);
    assert!(err.contains("no file `nope.jsonnet` in the package tree"), "{err}");
}

#[test]
fn expr_imports_resolve_from_cwd_and_file_imports_from_the_file() {
    let env = TestContext::new();
    let dir = env.home().join("project");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("lib.jsonnet"), "{ name: 'lib', version: '1', build: 'make' }").unwrap();
    std::fs::write(
        dir.join("sub/lib.jsonnet"),
        "{ name: 'sublib', version: '1', build: 'make' }",
    )
    .unwrap();
    std::fs::write(dir.join("sub/main.jsonnet"), "[import 'lib.jsonnet']").unwrap();

    let out = run(env.in_dir(&dir).args(["eval", "-e", "import 'lib.jsonnet'"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"name\": \"lib\""));

    let out = run(env.in_dir(&dir).args(["eval", "-f", "sub/main.jsonnet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"name\": \"sublib\""));

    let out = run(env.in_dir(&dir).args(["eval", "-e", "import 'missing.jsonnet'"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("missing.jsonnet does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_attr_suggests_the_closest_name() {
    let env = TestContext::new();
    let err = eval_err(&env, &["helo"]);
    assert!(err.contains("no package named `helo` in the package tree"), "{err}");
    assert!(err.contains("hint: did you mean `hello`?"), "{err}");
    assert_snapshot!(&env, "error_unknown_package", &err);
    let err = eval_err(&env, &["zzzzzzzzzz"]);
    assert!(err.contains("hint: `magpkg list` lists the packages"), "{err}");
}

#[test]
fn missing_input_file_is_a_user_error() {
    let env = TestContext::new();
    let err = eval_err(&env, &["-f", "does-not-exist.jsonnet"]);
    assert!(err.contains("cannot read does-not-exist.jsonnet"), "{err}");
}

#[test]
fn list_input_keeps_order_and_json_flag_prints_the_plain_value() {
    let env = TestContext::new();
    let g = eval_ok(
        &env,
        &[
            "-e",
            "[{ name: 'z', version: '1', build: 'b' }, { name: 'a', version: '1', build: 'b' }]",
        ],
    );
    assert_eq!(names(&g, &g["roots"]), ["z", "a"]);
    let v = eval_ok(&env, &["--json", "-e", "{ b: 1.5, a: [1, 'x', null, true] }"]);
    assert_eq!(v, serde_json::json!({ "a": [1, "x", null, true], "b": 1.5 }));
}

#[test]
fn closed_stdout_is_not_an_error() {
    let env = TestContext::new();
    // Large output so the write fails with EPIPE after the reader is gone.
    let expr = "[{ name: 'p' + i, version: '1', build: std.repeat('x', 2000) } for i in std.range(1, 400)]";
    let mut child = env
        .cmd()
        .args(["eval", "-e", expr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn long_dependency_chains_are_not_cycles() {
    let env = TestContext::new();
    // 700 distinct packages, each building with the previous one.
    let expr = "local mk(i) = { name: 'p' + i, version: '1', build: 'make', \
                buildDeps: if i == 0 then [] else [mk(i - 1)] }; mk(700)";
    let g = eval_ok(&env, &["-e", expr]);
    assert_eq!(g["packages"].as_object().unwrap().len(), 701);
    // The same through plain JSON (700 nested objects, too deep for
    // serde_json's parser, so only looked at as text).
    let out = run(env.cmd().args(["eval", "--json", "-e", expr]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"name\": \"p0\""));
}

/// A synthetic tree of `n` packages, `p0`..: package `i` depends on
/// `i/2`, `i/3` and `i/5`; every package outside `keep` fails if evaluated.
fn poisoned_tree(dir: &std::path::Path, n: usize, keep: &std::collections::BTreeSet<usize>) {
    let mut s = String::from("local t = {\n");
    for i in 0..n {
        let deps = tree_deps(i);
        if keep.contains(&i) {
            let d: Vec<String> = deps.iter().map(|d| format!("t.p{d}")).collect();
            s.push_str(&format!(
                "  p{i}: {{ name: 'p{i}', version: '1', build: 'true', buildDeps: [{}] }},\n",
                d.join(", ")
            ));
        } else {
            s.push_str(&format!("  p{i}: error 'p{i} was evaluated',\n"));
        }
    }
    s.push_str("};\nt\n");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("packages.jsonnet"), s).unwrap();
}

fn tree_deps(i: usize) -> Vec<usize> {
    let mut d: Vec<usize> = [i / 2, i / 3, i / 5].into_iter().filter(|&d| d < i).collect();
    d.dedup();
    d
}

/// `target` and everything it reaches through [`tree_deps`].
fn closure_of(target: usize) -> std::collections::BTreeSet<usize> {
    let mut keep = std::collections::BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if keep.insert(i) {
            todo.extend(tree_deps(i));
        }
    }
    keep
}

#[test]
fn one_package_of_a_large_tree_evaluates_without_forcing_the_others() {
    let env = TestContext::new();
    // p4096's closure is a few dozen packages; the other ~4,950 are poison.
    let n = 5000;
    let target = 4096;
    let keep = closure_of(target);
    assert!(keep.len() < 100, "{}", keep.len());
    let dir = env.path("tree");
    poisoned_tree(&dir, n, &keep);
    let tree = dir.join("packages.jsonnet");
    let g = eval_ok(&env, &["-e", &format!("(import '{}').p{target}", tree.display())]);
    assert_eq!(root(&g, 0)["name"], format!("p{target}"));
    assert_eq!(g["packages"].as_object().unwrap().len(), keep.len());
    // By name, through a package tree given with --packages.
    let out = run(env
        .cmd()
        .args(["--packages", dir.to_str().unwrap(), "eval", &format!("p{target}")]));
    assert!(out.status.success(), "{}", stderr(&out));
    // And a poisoned one fails, naming itself: the poison is real.
    let poisoned = (0..n).find(|i| !keep.contains(i)).unwrap();
    let out = run(env
        .cmd()
        .args(["--packages", dir.to_str().unwrap(), "eval", &format!("p{poisoned}")]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("p{poisoned} was evaluated")),
        "{}",
        stderr(&out)
    );
}

/// A package kept in `by-name/<first two letters>/NAME.jsonnet` is found by
/// name without reading `packages.jsonnet` (here a file that fails if read)
/// or any package outside its closure (each also failing if read).
#[test]
fn a_by_name_package_is_read_without_the_index_or_unrelated_packages() {
    let env = TestContext::new();
    let dir = env.path("tree");
    let n = 3000;
    let target = 2048;
    let keep = closure_of(target);
    let file = |i: usize| format!("by-name/p{}/p{i}.jsonnet", i.to_string().chars().next().unwrap());
    for i in 0..n {
        let path = dir.join(file(i));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let body = if keep.contains(&i) {
            let deps: Vec<String> = tree_deps(i)
                .iter()
                .map(|d| format!("import '../../{}'", file(*d)))
                .collect();
            format!(
                "{{ name: 'p{i}', version: '1', build: 'true', buildDeps: [{}] }}\n",
                deps.join(", ")
            )
        } else {
            format!("error 'p{i} was read'\n")
        };
        std::fs::write(path, body).unwrap();
    }
    std::fs::write(dir.join("packages.jsonnet"), "error 'the index was read'\n").unwrap();
    let out = run(env
        .cmd()
        .args(["--packages", dir.to_str().unwrap(), "eval", &format!("p{target}")]));
    assert!(out.status.success(), "{}", stderr(&out));
    let g: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(root(&g, 0)["name"], format!("p{target}"));
    assert_eq!(g["packages"].as_object().unwrap().len(), keep.len());
    // The same package through the file itself: the same id.
    let direct = eval_ok(&env, &["-f", dir.join(file(target)).to_str().unwrap()]);
    assert_eq!(g["roots"], direct["roots"]);
    // A name with no by-name file falls back to the index (which fails here).
    let out = run(env.cmd().args(["--packages", dir.to_str().unwrap(), "eval", "q1"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the index was read"), "{}", stderr(&out));
}
