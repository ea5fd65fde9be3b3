//! The fault suite (issue 16): hostile inputs made by the tests themselves
//! — deep trees, deeply nested definitions, interrupted and killed runs,
//! hostile squashfs images, endless and trickling servers, compression
//! bombs, builds that never end. Each test asserts the clear error, that
//! nothing was written outside the places magpkg owns, and that
//! `magpkg store verify` is clean afterwards. `doc/reliability.md` lists
//! the guarantee each one proves.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::sandbox::cli;
use crate::support::{show, stderr, stdout, write, write_exe, TestContext};

/// Every path of a test's world except its store (and, when given, the
/// apps root): what a fault must never change.
fn outside(ctx: &TestContext, also_owned: &[&Path]) -> BTreeSet<PathBuf> {
    let store = ctx.store().to_path_buf();
    walkdir::WalkDir::new(ctx.root())
        .into_iter()
        .filter_entry(|e| e.path() != store && !also_owned.contains(&e.path()))
        .map(|e| e.expect("the world stays walkable").path().to_path_buf())
        .collect()
}

/// `magpkg store verify` succeeds (every package matches its record).
#[track_caller]
fn assert_verify_clean(ctx: &TestContext) {
    let o = ctx.run(&["store", "verify"]);
    assert!(o.status.success(), "store verify: {}", show(&o));
}

/// Nothing is left in the store's scratch space.
#[track_caller]
fn assert_no_scratch(store: &Path) {
    let left: Vec<_> = fs::read_dir(store.join("tmp-v1"))
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in tmp-v1: {left:?}");
}

// ------------------------------------------------------------------ depth

/// Regression (audit: a package can crash magpkg): a build leaving a
/// 30,000-deep tree in `$out` (paths far beyond `PATH_MAX`) overflowed the
/// stack while magpkg removed it. Now the output is refused with a clear
/// error and the whole scratch tree is removed.
#[test]
fn a_30000_deep_build_output_is_refused_and_removed() {
    let c = cli();
    // busybox's `cd` cannot go below PATH_MAX: grow the tree by moving a
    // chain of 1,000 directories to the bottom of a new one, 30 times.
    let f = c.def(
        "deep",
        "cd $out\np=d; i=1; while [ $i -lt 1000 ]; do p=$p/d; i=$((i+1)); done\n\
         r=0; while [ $r -lt 30 ]; do mkdir -p n/$p; if [ -e acc ]; then mv acc n/$p/; fi; mv n acc; r=$((r+1)); done\n\
         echo grown",
    );
    let before = outside(&c.ctx, &[]);
    let (code, out, err) = c.run(&["build", "-f", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("error: the output of deep 1 cannot enter the store"), "{err}");
    assert!(err.contains("directories nested more than 256 deep (at `acc/d/d/d/…("), "{err}");
    assert!(err.contains("hint: a store entry nests directories at most 256 deep"), "{err}");
    assert!(!err.contains("overflow"), "{err}");
    assert_no_scratch(&c.store);
    assert_eq!(outside(&c.ctx, &[]), before);
    let names: Vec<String> = c.ctx.open_store().packages().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["testroot"], "only the root entered the store");
    assert_verify_clean(&c.ctx);
}

/// Regression (audit): Jsonnet nested 5,000 deep aborted magpkg with a
/// stack overflow in the parser. Now it is refused before parsing, with
/// the file, line and column, for a definition, an expression and the
/// config file alike.
#[test]
fn jsonnet_nested_5000_deep_is_a_clear_error() {
    let ctx = TestContext::new();
    let before = outside(&ctx, &[]);
    let cases = [
        ("brackets.jsonnet", format!("{}1{}", "[".repeat(5000), "]".repeat(5000))),
        ("objects.jsonnet", format!("{}1{}", "{a:".repeat(5000), "}".repeat(5000))),
        ("sums.jsonnet", format!("1{}", " + 1".repeat(5000))),
        ("locals.jsonnet", format!("{}1", "local a = 1;\n".repeat(5000))),
    ];
    let mut written = Vec::new();
    for (name, code) in &cases {
        let path = ctx.path(name);
        fs::write(&path, code).unwrap();
        written.push(path.clone());
        for cmd in ["eval", "build"] {
            let o = ctx.run(&[cmd, "-f", path.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(1), "{name}: {}", show(&o));
            let err = stderr(&o);
            assert!(err.contains(&format!("{name}:")), "{name}: {err}");
            assert!(err.contains("nested more than 1000 levels deep"), "{name}: {err}");
        }
    }
    let o = ctx.run(&["eval", "-e", &cases[0].1]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("<expr>:1:1000: the code is nested more than 1000 levels deep"), "{}", show(&o));
    let config = ctx.config_dir().join("magpkg/config.jsonnet");
    write(&config, &cases[1].1);
    let o = ctx.run(&["store", "path"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("nested more than 1000 levels deep"), "{}", show(&o));
    fs::remove_file(&config).unwrap();
    let mut after = outside(&ctx, &[]);
    for p in written {
        after.remove(&p);
    }
    after.remove(&ctx.config_dir().join("magpkg"));
    assert_eq!(after, before);
    assert_verify_clean(&ctx);
}

/// Regression (audit): an MPKG file nested 20,000 deep aborted magpkg and
/// so broke `magpkg app list` for every app. Now that app alone shows an
/// error naming the file and line; the others are listed and run.
#[test]
fn an_mpkg_nested_20000_deep_breaks_only_its_own_app() {
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("work")).unwrap();
    let good = ctx.apps_dir().join("good/package/good-1");
    write(
        &good.join("MPKG"),
        "version = '1'\ncontent = [{'name': 'good', 'file': '$MPKG_PACKAGE/run.sh'}]\n",
    );
    write_exe(&good.join("run.sh"), "#!/bin/sh\necho good runs\n");
    let bad = ctx.apps_dir().join("bad/package/bad-1/MPKG");
    write(
        &bad,
        format!("version = '1'\ncontent = {}{}\n", "[".repeat(20_000), "]".repeat(20_000)),
    );
    let before = outside(&ctx, &[]);
    let o = ctx.run_in(ctx.path("work"), &["app", "list"]);
    assert!(o.status.success(), "{}", show(&o));
    let out = stdout(&o);
    let line = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{out}"));
    assert!(line("good ").contains("good-1"), "{out}");
    assert!(
        line("bad ").contains(&format!("{}:2: brackets nested more than 200 deep", bad.display())),
        "{out}"
    );
    let o = ctx.run_in(ctx.path("work"), &["app", "run", "good"]);
    assert_eq!(stdout(&o), "good runs\n", "{}", show(&o));
    let o = ctx.run_in(ctx.path("work"), &["app", "show", "bad"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("nested more than 200 deep"), "{}", show(&o));
    // Running `good` made its data directory, nothing else appeared.
    let data = ctx.apps_dir().join("good/data");
    assert!(data.is_dir());
    assert_eq!(outside(&ctx, &[&data]), before);
    assert_verify_clean(&ctx);
}
