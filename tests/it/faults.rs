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
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::appimage::{build_appimage, install_args};
use crate::support::net::{Behaviour, HttpServer};
use crate::support::sandbox::cli;
use crate::support::{process_running, require, show, stderr, stdout, write, write_exe, TestContext};

/// Every path of a test's world except its store (and, when given, the
/// apps root): what a fault must never change.
fn outside(ctx: &TestContext, also_owned: &[&Path]) -> BTreeSet<PathBuf> {
    let store = ctx.store().to_path_buf();
    // The apps root's fingerprint (and its lock), kept by every `magpkg app`
    // command that reads the root, is magpkg's own state, like the store.
    let apps_state = ctx.state_dir().join("apps-integration");
    let lock = ctx.state_dir().join("apps-integration.lock");
    walkdir::WalkDir::new(ctx.root())
        .into_iter()
        .filter_entry(|e| {
            e.path() != store && e.path() != apps_state && e.path() != lock && !also_owned.contains(&e.path())
        })
        .map(|e| e.expect("the world stays walkable").path().to_path_buf())
        .collect()
}

/// `magpkg store verify` succeeds (every package matches its record).
#[track_caller]
fn assert_verify_clean(ctx: &TestContext) {
    let o = ctx.run(&["store", "verify"]);
    assert!(o.status.success(), "store verify: {}", show(&o));
}

/// The names of the packages in the store.
fn package_names(ctx: &TestContext) -> Vec<String> {
    ctx.open_store()
        .packages()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect()
}

/// Outside the store, only `made` (the test's own files) appeared since
/// `before`; and `store verify` is clean.
#[track_caller]
fn assert_only_made(ctx: &TestContext, before: BTreeSet<PathBuf>, made: &[PathBuf]) {
    let mut after = outside(ctx, &[]);
    for p in made {
        after.remove(p);
    }
    assert_eq!(after, before);
    assert_verify_clean(ctx);
}

/// Nothing is in the store's `bucket` (missing is empty).
#[track_caller]
fn assert_empty_bucket(store: &Path, bucket: &str) {
    let left: Vec<_> = fs::read_dir(store.join(bucket))
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {bucket}: {left:?}");
}

/// Nothing is left in the store's scratch space.
#[track_caller]
fn assert_no_scratch(store: &Path) {
    assert_empty_bucket(store, "tmp-v1");
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
    assert!(
        err.contains("error: the output of deep 1 cannot enter the store"),
        "{err}"
    );
    assert!(
        err.contains("directories nested more than 256 deep (at `acc/d/d/d/…("),
        "{err}"
    );
    assert!(
        err.contains("hint: a store entry nests directories at most 256 deep"),
        "{err}"
    );
    assert!(!err.contains("overflow"), "{err}");
    assert_no_scratch(&c.store);
    assert_eq!(outside(&c.ctx, &[]), before);
    assert_eq!(package_names(&c.ctx), ["testroot"], "only the root entered the store");
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
        (
            "objects.jsonnet",
            format!("{}1{}", "{a:".repeat(5000), "}".repeat(5000)),
        ),
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
    assert!(
        stderr(&o).contains("<expr>:1:1000: the code is nested more than 1000 levels deep"),
        "{}",
        show(&o)
    );
    let config = ctx.config_dir().join("magpkg/config.jsonnet");
    write(&config, &cases[1].1);
    let o = ctx.run(&["store", "path"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("nested more than 1000 levels deep"), "{}", show(&o));
    fs::remove_file(&config).unwrap();
    written.push(ctx.config_dir().join("magpkg"));
    assert_only_made(&ctx, before, &written);
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
        format!(
            "version = '1'\ncontent = {}{}\n",
            "[".repeat(20_000),
            "]".repeat(20_000)
        ),
    );
    let before = outside(&ctx, &[]);
    let o = ctx.run_in(ctx.path("work"), &["app", "list"]);
    assert!(o.status.success(), "{}", show(&o));
    let out = stdout(&o);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{out}"))
    };
    assert!(line("good ").contains("good-1"), "{out}");
    // The broken variant is skipped (issue 19): its app shows that nothing
    // runs there, and the one warning names the file, the line and the limit.
    assert!(line("bad ").contains("(nothing runs here)"), "{out}");
    assert!(
        crate::support::stderr(&o).contains(&format!("{}:2: brackets nested more than 200 deep", bad.display())),
        "{}",
        show(&o)
    );
    let o = ctx.run_in(ctx.path("work"), &["app", "run", "good"]);
    assert_eq!(stdout(&o), "good runs\n", "{}", show(&o));
    // `app show` lists the variant as skipped, with why; running the app
    // fails naming it.
    let o = ctx.run_in(ctx.path("work"), &["app", "show", "bad"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        stdout(&o).contains("bad-1: skipped:") && stdout(&o).contains("nested more than 200 deep"),
        "{}",
        show(&o)
    );
    let o = ctx.run_in(ctx.path("work"), &["app", "run", "bad"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("nested more than 200 deep"), "{}", show(&o));
    // Running `good` made its data directory, nothing else appeared.
    let data = ctx.apps_dir().join("good/data");
    assert!(data.is_dir());
    assert_eq!(outside(&ctx, &[&data]), before);
    assert_verify_clean(&ctx);
}

// ------------------------------------------------------- scratch directories

/// The scratch entries of `tmp-v1/`, by name.
fn scratch(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(store.join("tmp-v1"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Wait (at most two minutes) until a file called `name` exists anywhere
/// under `dir`.
#[track_caller]
fn wait_for_file(dir: &Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .any(|e| e.file_name() == name)
    {
        assert!(
            Instant::now() < deadline,
            "{name} never appeared under {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until no process runs `needle` (the sandbox died with magpkg).
#[track_caller]
fn wait_gone(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_running(needle) {
        assert!(Instant::now() < deadline, "`{needle}` outlived magpkg");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A [`cli`] world whose test root (and a package `warm`, whose definition
/// is returned) is built: a later build runs only its package's script.
fn warmed_cli() -> (crate::support::sandbox::Cli, PathBuf) {
    let c = cli();
    let warm = c.def("warm", "echo ok > $out/ok");
    assert_eq!(c.run(&["build", "-f", warm.to_str().unwrap()]).0, 0);
    (c, warm)
}

/// Start `magpkg build` of a package whose script hangs in `sleep TAG`
/// once it has written part of its output; returns when it hangs there.
fn start_hanging_build(c: &crate::support::sandbox::Cli, name: &str, tag: &str) -> std::process::Child {
    let f = c.def(
        name,
        &format!("echo half > $out/half\ntouch $out/started\nsleep {tag}\necho done > $out/done"),
    );
    let child = c.cmd().args(["build", "-f", f.to_str().unwrap()]).spawn().unwrap();
    wait_for_file(&c.store.join("tmp-v1"), "started");
    child
}

/// Regression (audit: scratch directories pile up): Ctrl-C (SIGINT) or
/// SIGTERM during a build left its scratch tree in `tmp-v1/`. Now magpkg
/// kills the sandbox, removes its scratch directories and dies of the
/// signal, as the caller expects.
#[test]
fn sigint_and_sigterm_during_a_build_kill_the_sandbox_and_clean_up() {
    use std::os::unix::process::ExitStatusExt;
    let (c, _) = warmed_cli();
    let before = outside(&c.ctx, &[]);
    for (sig, tag) in [(Signal::SIGINT, "6062"), (Signal::SIGTERM, "6063")] {
        let mut child = start_hanging_build(&c, "hang", tag);
        assert!(!scratch(&c.store).is_empty());
        kill(Pid::from_raw(child.id() as i32), sig).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig as i32), "{sig}: {status:?}");
        wait_gone(&format!("sleep {tag}"));
        assert_no_scratch(&c.store);
    }
    assert_eq!(package_names(&c.ctx), ["testroot", "warm"]);
    assert_only_made(&c.ctx, before, &[c.ctx.path("hang.jsonnet")]);
}

/// SIGTERM during a download (from a server that stalls half-way) leaves
/// no partial file behind.
#[test]
fn sigterm_during_a_download_leaves_no_partial_file() {
    use std::os::unix::process::ExitStatusExt;
    let ctx = TestContext::new().with_env("MAGPKG_STALL_TIMEOUT", "600");
    let server = HttpServer::start();
    let data = crate::support::pseudo_random(1 << 20, 16);
    server.serve("/big.tar.gz", data.clone(), Behaviour::StallAfter(256 << 10));
    let def = ctx.path("big.jsonnet");
    fs::write(
        &def,
        format!(
            "{{ name: 'big', version: '1', sources: [{{ filename: 'big.tar.gz', sha256: '{}', urls: ['{}'] }}], \
             build: {{ builtin: 'unpack' }} }}",
            crate::support::sha256(&data),
            server.url("/big.tar.gz")
        ),
    )
    .unwrap();
    let before = outside(&ctx, &[]);
    let mut child = ctx.cmd().args(["fetch", "-f", def.to_str().unwrap()]).spawn().unwrap();
    // The partial file is there once the body started (its first bytes
    // are still in magpkg's write buffer).
    wait_for_file(&ctx.store().join("tmp-v1"), "big.tar.gz");
    assert_eq!(server.requests().len(), 1);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(Signal::SIGTERM as i32));
    assert_no_scratch(ctx.store());
    assert!(fs::read_dir(ctx.store().join("sources-v1")).unwrap().next().is_none());
    assert_eq!(outside(&ctx, &[]), before);
    assert_verify_clean(&ctx);
}

/// Regression (audit): SIGKILL leaves scratch directories no later run
/// removed. Now `store gc` (and its `--dry-run`) and the next store-writing
/// command remove those whose process is gone — and never the one of a
/// build still running.
#[test]
fn scratch_of_killed_runs_is_swept_but_never_a_live_one() {
    let (c, warm) = warmed_cli();
    let before = outside(&c.ctx, &[]);
    let killed = |tag: &str| {
        let mut child = start_hanging_build(&c, "hang", tag);
        child.kill().unwrap();
        child.wait().unwrap();
        wait_gone(&format!("sleep {tag}"));
        let left = scratch(&c.store);
        assert!(left.iter().any(|n| n.starts_with("build-")), "{left:?}");
        left
    };
    // gc --dry-run lists, gc removes.
    let left = killed("6064");
    let (code, out, err) = c.run(&["store", "gc", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    for name in &left {
        assert!(
            out.contains(&format!(
                "would remove scratch entry tmp-v1/{name} (its process is gone)"
            )),
            "{out}"
        );
    }
    assert_eq!(scratch(&c.store), left);
    let (code, out, err) = c.run(&["store", "gc"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed scratch entry tmp-v1/"), "{out}");
    assert_no_scratch(&c.store);
    // The next build sweeps before it starts.
    killed("6065");
    assert_eq!(c.run(&["build", "-f", warm.to_str().unwrap()]).0, 0);
    assert_no_scratch(&c.store);
    // A running build's scratch directory survives gc and other builds.
    let mut live = start_hanging_build(&c, "hang", "6066");
    let running = scratch(&c.store);
    let (code, out, _) = c.run(&["store", "gc"]);
    assert_eq!(code, 0);
    assert!(!out.contains("scratch entry"), "{out}");
    assert_eq!(c.run(&["build", "-f", warm.to_str().unwrap()]).0, 0);
    assert_eq!(scratch(&c.store), running);
    assert!(process_running("sleep 6066"), "the live build still runs");
    live.kill().unwrap();
    live.wait().unwrap();
    wait_gone("sleep 6066");
    let (code, _, _) = c.run(&["store", "gc"]);
    assert_eq!(code, 0);
    assert_no_scratch(&c.store);
    assert_only_made(&c.ctx, before, &[c.ctx.path("hang.jsonnet")]);
}

// ------------------------------------------------------------- AppImages

/// Regression (audit: the unsquashfs fallback bypassed the safety rules):
/// an LZO AppImage installed as root put a world-writable device node and
/// a fifo into the app directory. Now LZO images (which backhand cannot
/// read) and XZ ones (which it can) come out the same: devices, fifos and
/// sockets skipped with a warning, no set-id bit, everything owned by us.
#[test]
fn appimage_devices_fifos_and_setid_bits_never_reach_the_app_directory() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    require("mksquashfs");
    require("unsquashfs");
    let ctx = TestContext::new();
    let src = ctx.project("images");
    let pseudo = [
        "dev c 666 0 0 1 3",
        "blk b 666 0 0 8 0",
        "fifo i 666 0 0 f",
        "sock i 666 0 0 s",
        "devlink l /dev/null",
        "AppRun m 6755 0 0",
    ];
    let before = outside(&ctx, &[&ctx.apps_dir(), &src]);
    for comp in ["lzo", "xz"] {
        let dir = src.join(comp);
        fs::create_dir_all(&dir).unwrap();
        let img = build_appimage(&dir, "Hello", comp, &pseudo);
        let name = format!("hello-{comp}");
        let o = ctx.run(&install_args(&name, &img));
        assert!(o.status.success(), "{comp}: {}", show(&o));
        let err = stderr(&o);
        assert_eq!(
            err.contains("extracted with unsquashfs"),
            comp == "lzo",
            "{comp}: {err}"
        );
        for special in ["/dev ", "/blk ", "/fifo ", "/sock "] {
            assert!(
                err.contains(&format!("skipped special file {special}")),
                "{comp}: {err}"
            );
        }
        let app = ctx.apps_dir().join(&name);
        for e in walkdir::WalkDir::new(&app) {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            let ft = m.file_type();
            assert!(
                ft.is_dir() || ft.is_file() || ft.is_symlink(),
                "{comp}: {} is special",
                e.path().display()
            );
            assert_eq!(
                m.permissions().mode() & 0o7000,
                0,
                "{comp}: set-id bit on {}",
                e.path().display()
            );
            assert_eq!(
                (m.uid(), m.gid()),
                (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())
            );
            assert_ne!(e.file_name(), "devlink", "{comp}: a hard link to a device");
        }
        let o = ctx.run(&["app", "run", &name, "--", "x"]);
        assert!(
            stdout(&o).ends_with("[x]\nhello from the image\n"),
            "{comp}: {}",
            show(&o)
        );
        assert!(!dir.join("RUNTIME-RAN").exists());
    }
    // A damaged image is refused, not handed to unsquashfs.
    let img = src.join("xz/Hello-1.2.3-x86_64.AppImage");
    let bytes = fs::read(&img).unwrap();
    let cut = src.join("cut.AppImage");
    let runtime = fs::metadata(src.join("xz/runtime")).unwrap().len() as usize;
    write_exe(&cut, &bytes[..runtime + 200]);
    let o = ctx.run(&[
        "app",
        "install-appimage",
        "--no-integrate",
        "--name",
        "cut",
        cut.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("cannot extract the SquashFS image"), "{}", show(&o));
    assert!(!stderr(&o).contains("unsquashfs"), "{}", show(&o));
    assert!(!ctx.apps_dir().join("cut").exists());
    let leftovers: Vec<_> = fs::read_dir(ctx.apps_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(outside(&ctx, &[&ctx.apps_dir(), &src]), before);
    assert_verify_clean(&ctx);
}

// ---------------------------------------------------------- unbounded inputs

/// A definition of one source, `name.tar.gz`, pinned to `data`, with these
/// URLs (built with the `unpack` builtin).
fn source_def(ctx: &TestContext, name: &str, data: &[u8], urls: &[String]) -> PathBuf {
    let def = ctx.path(&format!("{name}.jsonnet"));
    let urls: Vec<String> = urls.iter().map(|u| format!("'{u}'")).collect();
    fs::write(
        &def,
        format!(
            "{{ name: '{name}', version: '1', sources: [{{ filename: '{name}.tar.gz', sha256: '{}', urls: [{}] }}], \
             build: {{ builtin: 'unpack' }} }}",
            crate::support::sha256(data),
            urls.join(", ")
        ),
    )
    .unwrap();
    def
}

/// Regression (audit: unbounded inputs): an HTTP body with no end filled
/// the disk before the sha256 could reject it. Now a body growing beyond
/// `maxDownloadSize` is cut off, a server announcing more is not asked for
/// the body, nothing stays in the store, and the next origin is tried.
#[test]
fn an_endless_or_oversized_body_is_cut_off_at_the_maximum_download_size() {
    let ctx = TestContext::new().with_env("MAGPKG_MAX_DOWNLOAD_SIZE", (1u64 << 20).to_string());
    let server = HttpServer::start();
    let data = crate::support::pseudo_random(200 << 10, 21);
    server.serve("/endless.tar.gz", Vec::new(), Behaviour::Endless);
    server.serve(
        "/big.tar.gz",
        crate::support::pseudo_random(3 << 20, 22),
        Behaviour::Normal,
    );
    server.serve("/good.tar.gz", data.clone(), Behaviour::Normal);
    let (endless, big, good) = (
        server.url("/endless.tar.gz"),
        server.url("/big.tar.gz"),
        server.url("/good.tar.gz"),
    );
    let def = source_def(&ctx, "bounded", &data, &[endless.clone(), big.clone()]);
    let before = outside(&ctx, &[]);
    let o = ctx.run(&["fetch", "-f", def.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{endless}: the body was cut off at the maximum download size of 1.0 MiB \
             (maxDownloadSize / MAGPKG_MAX_DOWNLOAD_SIZE)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{big}: the server announces 3.0 MiB, more than the maximum download size of 1.0 MiB"
        )),
        "{err}"
    );
    assert!(err.contains("hint: a server sent more than a source may have"), "{err}");
    // Neither is retried: one request each.
    assert_eq!(server.requests().len(), 2, "{:?}", server.requests());
    assert_no_scratch(ctx.store());
    assert_empty_bucket(ctx.store(), "sources-v1");
    assert_eq!(outside(&ctx, &[]), before);
    assert_verify_clean(&ctx);
    // The next origin is tried after an endless one.
    let def = source_def(&ctx, "bounded", &data, &[endless, good]);
    let o = ctx.run(&["fetch", "-f", def.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    assert_no_scratch(ctx.store());
    assert_verify_clean(&ctx);
}

/// Regression (audit: unbounded inputs): a server sending a byte now and
/// then never stalled, so it was never given up, and it held the source's
/// lock meanwhile. Now a download averaging less than `minRate` over a
/// stall timeout is given up with a clear message, and a second run waiting
/// for that source's lock gets it and fetches from a good server.
#[test]
fn a_trickling_server_is_given_up_below_the_minimum_rate() {
    let ctx = TestContext::new()
        .with_env("MAGPKG_STALL_TIMEOUT", "2")
        .with_env("MAGPKG_MIN_RATE", "1000");
    let server = HttpServer::start();
    let data = crate::support::pseudo_random(64 << 10, 23);
    server.serve("/trickle.tar.gz", data.clone(), Behaviour::Trickle(50));
    server.serve("/good.tar.gz", data.clone(), Behaviour::Normal);
    let trickle = server.url("/trickle.tar.gz");
    // Same source, a good URL, for a second run that waits for the lock.
    let good = ctx.path("good");
    fs::create_dir_all(&good).unwrap();
    let moved = good.join("slow.jsonnet");
    fs::rename(source_def(&ctx, "slow", &data, &[server.url("/good.tar.gz")]), &moved).unwrap();
    let slow = source_def(&ctx, "slow", &data, std::slice::from_ref(&trickle));
    let before = outside(&ctx, &[]);
    let fetch = |def: &Path| {
        ctx.cmd()
            .args(["fetch", "-f", def.to_str().unwrap()])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    let first = fetch(&slow);
    wait_for_file(&ctx.store().join("tmp-v1"), "slow.tar.gz");
    let second = fetch(&moved);
    let o = first.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{trickle}: slower than the minimum rate of 1000 bytes/s (minRate / MAGPKG_MIN_RATE): "
        )),
        "{err}"
    );
    assert!(err.contains("hint: every server was too slow"), "{err}");
    let o = second.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    // The trickle was asked once (given up, not retried).
    let asked = server.requests().iter().filter(|r| r.path == "/trickle.tar.gz").count();
    assert_eq!(asked, 1);
    assert_no_scratch(ctx.store());
    assert_only_made(&ctx, before, &[]);
}

/// A gzip bomb: a tar holding one file of `mib` MiB of zeros, as gzip
/// members of one MiB each (magpkg reads multi-member gzip), so a big bomb
/// is cheap to make.
fn gzip_bomb(mib: u64) -> Vec<u8> {
    use std::io::Write as _;
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(mib << 20);
    h.set_mode(0o644);
    h.set_cksum();
    let mut out = gz(h.as_bytes());
    let member = gz(&vec![0u8; 1 << 20]);
    for _ in 0..mib {
        out.extend_from_slice(&member);
    }
    // The end of the archive: two zero blocks.
    out.extend_from_slice(&gz(&[0u8; 1024]));
    out
}

/// Regression (audit: unbounded inputs): `unpack` had no size or ratio
/// limit, so a small gzip of gigabytes of zeros ran until the disk was
/// full. Now unpacking stops at `maxUnpackSize`, or at `maxUnpackRatio`
/// times the archive's size once 64 MiB are out, with a clear error; the
/// scratch tree is removed and nothing enters the store.
#[test]
fn a_gzip_bomb_stops_at_the_unpack_limits() {
    let ctx = TestContext::new();
    let server = HttpServer::start();
    let small = gzip_bomb(20);
    let big = gzip_bomb(80);
    assert!(big.len() < 200 << 10, "{}", big.len());
    server.serve("/small.tar.gz", small.clone(), Behaviour::Normal);
    server.serve("/big.tar.gz", big.clone(), Behaviour::Normal);
    let small_def = source_def(&ctx, "small", &small, &[server.url("/small.tar.gz")]);
    let big_def = source_def(&ctx, "big", &big, &[server.url("/big.tar.gz")]);
    let before = outside(&ctx, &[]);
    // A lowered size limit.
    let o = ctx
        .cmd()
        .env("MAGPKG_MAX_UNPACK_SIZE", (10u64 << 20).to_string())
        .args(["build", "-f", small_def.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(err.contains("error: small 1: "), "{err}");
    assert!(
        err.contains(
            "small.tar.gz: it unpacks to more than 10.0 MiB (maxUnpackSize / MAGPKG_MAX_UNPACK_SIZE); \
             a compression bomb?"
        ),
        "{err}"
    );
    assert_no_scratch(ctx.store());
    // The default ratio: 100 times a 80 KiB-ish archive is below the
    // 64 MiB floor, so it stops there.
    let o = ctx.run(&["build", "-f", big_def.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "big.tar.gz: it unpacks to more than 64.0 MiB (100 times its size of {}; \
             maxUnpackRatio / MAGPKG_MAX_UNPACK_RATIO); a compression bomb?",
            magpkg::fetch::human_bytes(big.len() as u64)
        )),
        "{err}"
    );
    assert_no_scratch(ctx.store());
    assert!(package_names(&ctx).is_empty(), "{:?}", package_names(&ctx));
    // Within the limits, the same archive unpacks.
    let o = ctx
        .cmd()
        .env("MAGPKG_MAX_UNPACK_RATIO", "0")
        .args(["build", "-f", small_def.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(package_names(&ctx), ["small"]);
    assert_no_scratch(ctx.store());
    assert_only_made(&ctx, before, &[]);
}

/// Regression (audit: unbounded inputs): a build had no time limit. Now a
/// build running longer than `buildTimeout` is killed with its whole
/// sandbox (the processes it started too), with a message naming the
/// package and the setting; its scratch is removed, nothing enters the
/// store.
#[test]
fn a_build_running_past_the_build_timeout_is_killed_with_its_sandbox() {
    let (c, warm) = warmed_cli();
    let f = c.def(
        "endless",
        "echo half > $out/half\n(sleep 6068) &\necho waiting\nsleep 6067\necho done > $out/done",
    );
    let before = outside(&c.ctx, &[]);
    let started = Instant::now();
    let o = c
        .cmd()
        .env("MAGPKG_BUILD_TIMEOUT", "2")
        .args(["build", "-f", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "error: the build of endless 1 ran longer than the build timeout of 2s \
             (buildTimeout / MAGPKG_BUILD_TIMEOUT) and was killed"
        ),
        "{err}"
    );
    assert!(err.contains("waiting"), "the log's tail: {err}");
    assert!(
        err.contains("hint: a build that needs longer: raise buildTimeout"),
        "{err}"
    );
    wait_gone("sleep 6067");
    wait_gone("sleep 6068");
    assert_no_scratch(&c.store);
    assert_eq!(package_names(&c.ctx), ["testroot", "warm"]);
    // The timeout leaves a quick build alone (`--check` rebuilds it).
    let o = c
        .cmd()
        .env("MAGPKG_BUILD_TIMEOUT", "30")
        .args(["build", "--check", "-f", warm.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_only_made(&c.ctx, before, &[]);
}

// ------------------------------------------------------------- full disk

/// Unmounts a tmpfs when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Regression (audit, item 7): a full disk during a build was reported as
/// an I/O error on `/usr/bin/bwrap`. It must name the store and say what
/// to do, and leave nothing half-made. The store is a small tmpfs (the
/// tests run as root, as CI does), filled to the last block.
#[test]
fn a_full_disk_names_the_store_not_bwrap() {
    require("bwrap");
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test mounts a tmpfs: run it as root (as CI does)"
    );
    let c = cli();
    let saved = c.ctx.path("store-saved");
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(&c.store)
        .arg(&saved)
        .status()
        .unwrap()
        .success());
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&c.store)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs");
    let _guard = Mounted(c.store.clone());
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", saved.display()))
        .arg(&c.store)
        .status()
        .unwrap()
        .success());
    // The root first, while there is room.
    let root = c.ctx.path("root.jsonnet");
    fs::write(&root, &c.root_def).unwrap();
    let (code, out, err) = c.run(&["build", "-f", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    // Then every last block taken.
    let st = nix::sys::statvfs::statvfs(&c.store).unwrap();
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    let filler = c.store.join("filler");
    let f = fs::File::create(&filler).unwrap();
    nix::fcntl::fallocate(&f, nix::fcntl::FallocateFlags::empty(), 0, free as i64).unwrap();
    drop(f);
    let def = c.def("spacey", "mkdir -p $out/share; echo hi > $out/share/x");
    let (code, out, err) = c.run(&["build", "-f", def.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(!err.contains("/usr/bin/bwrap"), "{err}");
    assert!(err.contains(c.store.to_str().unwrap()), "the store is named: {err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("hint:") && err.contains("full"), "{err}");
    // Room again: nothing half-made stayed, and the build now works.
    fs::remove_file(&filler).unwrap();
    assert_no_scratch(&c.store);
    assert_eq!(package_names(&c.ctx), ["testroot"]);
    assert_verify_clean(&c.ctx);
    let (code, out, err) = c.run(&["build", "-f", def.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// Regression (audit, item 7): a `file://` source that is not the pinned
/// file printed that file's sha256, so a definition could learn the digest
/// of any file on the machine. The error now says "wrong file" and shows
/// only the pinned digest; an HTTP origin still shows both (it is the
/// server's file, and the difference helps fixing a pin).
#[test]
fn a_wrong_local_file_does_not_echo_its_digest() {
    let ctx = TestContext::new();
    let secret = ctx.path("secret.txt");
    fs::write(&secret, "not for the build's author\n").unwrap();
    let secret_sha = crate::support::sha256(&fs::read(&secret).unwrap());
    let def = source_def(
        &ctx,
        "peek",
        b"the pinned bytes",
        &[format!("file://{}", secret.display())],
    );
    let o = ctx.run(&["fetch", "-f", def.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains("wrong file: it is not the file with the pinned sha256"),
        "{err}"
    );
    assert!(
        err.contains(&crate::support::sha256(b"the pinned bytes")),
        "the pin is shown: {err}"
    );
    assert!(
        !err.contains(&secret_sha),
        "the local file's digest must not be shown: {err}"
    );
    assert_empty_bucket(ctx.store(), "sources-v1");
    assert_no_scratch(ctx.store());
}

// ---------------------------------------------------------------- seccomp

/// Issue 16 item 7: builds run under a seccomp filter, as Nix's do. A
/// static probe (compiled here) tries what a build must not do: trace a
/// process, use the kernel keyring, make a user namespace (by `unshare` and
/// by `clone`), mount, load BPF; each fails with EPERM. What builds do need
/// keeps working: fork, and threads (the C library's `clone3` is refused
/// with ENOSYS and it falls back to `clone`).
#[test]
fn builds_cannot_ptrace_keyctl_mount_or_make_namespaces() {
    require("bwrap");
    let c = cli();
    let probe = c.ctx.path("probe-bin/probe");
    crate::support::appimage::compile(
        &probe,
        r#"
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static char stack[65536];
static int child(void *a) { (void)a; return 0; }
static void *thread(void *a) { return a; }
static const char *r(long v) { return v < 0 ? (errno == EPERM ? "EPERM" : strerror(errno)) : "allowed"; }
int main(void) {
    printf("ptrace=%s\n", r(ptrace(PTRACE_TRACEME, 0, 0, 0)));
    printf("keyctl=%s\n", r(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0)));
    printf("unshare=%s\n", r(unshare(CLONE_NEWUSER)));
    printf("clone-newuser=%s\n", r(clone(child, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, 0)));
    printf("mount=%s\n", r(mount("none", "/tmp", "tmpfs", 0, 0)));
    printf("bpf=%s\n", r(syscall(SYS_bpf, 0, 0, 0)));
    pid_t p = fork();
    if (p == 0) _exit(7);
    int st = 0;
    waitpid(p, &st, 0);
    printf("fork=%s\n", WIFEXITED(st) && WEXITSTATUS(st) == 7 ? "ok" : "broken");
    pthread_t t;
    int e = pthread_create(&t, 0, thread, 0);
    if (e == 0) pthread_join(t, 0);
    printf("thread=%s\n", e == 0 ? "ok" : strerror(e));
    return 0;
}
"#,
        true,
    );
    let (sha, _) = magpkg::store::Store::open(&c.store)
        .unwrap()
        .add_source_file(&probe, "probe", None, "test")
        .unwrap();
    let def = c.def_with(
        "probe",
        &format!("sources: [{{ filename: 'probe', sha256: '{sha}', urls: [] }}],"),
        "cp $src/probe /tmp/probe\nchmod 755 /tmp/probe\nmkdir -p $out\n/tmp/probe > $out/result",
    );
    let (code, out, err) = c.run(&["build", "-f", def.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let result = fs::read_to_string(Path::new(out.trim()).join("result")).unwrap();
    assert_eq!(
        result,
        "ptrace=EPERM\nkeyctl=EPERM\nunshare=EPERM\nclone-newuser=EPERM\nmount=EPERM\nbpf=EPERM\nfork=ok\nthread=ok\n"
    );
}

// ------------------------------------------------------------------ repair

/// Make a store file writable and replace its contents, as a stray edit or
/// a failing disk would.
fn tamper(file: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(file.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(file, text).unwrap();
}

/// Issue 16 item 6: `store verify` marks a damaged package in its record;
/// from then on `magpkg env`/`run`, the hook, `oci` and `export` refuse it
/// by that mark (no digest computed) and say to repair; `store verify
/// --repair` downloads the damaged source again and rebuilds the package
/// from the definitions kept when it was built, and everything works again.
/// A package built before definitions were kept is removed instead, and
/// the next build makes it again.
#[test]
fn store_verify_repair_replaces_damaged_packages_and_sources() {
    let c = cli();
    let server = HttpServer::start();
    let data = crate::support::pseudo_random(4096, 16);
    server.serve("/data.bin", data.clone(), Behaviour::Normal);
    let sha = crate::support::sha256(&data);
    let def = c.def_with(
        "rep",
        &format!(
            "sources: [{{ filename: 'data.bin', sha256: '{sha}', urls: ['{}'] }}],",
            server.url("/data.bin")
        ),
        "mkdir -p $out/share\ncp $src/data.bin $out/share/data.bin\necho whole > $out/share/state",
    );
    let def = def.to_str().unwrap();
    // Not offline: the source comes from the loopback server.
    let online = |dir: &Path| {
        let mut cmd = c.ctx.in_dir(dir);
        cmd.env("MAGPKG_BUILD_CORES", "2");
        cmd
    };
    let root = c.ctx.root().to_path_buf();
    let o = online(&root).args(["build", "-f", def]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let entry = PathBuf::from(stdout(&o).trim());
    let id = entry
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches("-rep")
        .to_string();
    let pid = magpkg::model::PackageId::from_string(id.clone());
    assert!(c.ctx.open_store().has_recipe(&pid), "the definitions are kept");
    let proj = c.ctx.project("proj");
    write(
        &proj.join("magnet.jsonnet"),
        format!("{{ packages: [import '{def}'], scripts: {{ hi: 'echo hi' }} }}\n"),
    );
    assert!(c.ctx.run_in(&proj, &["allow"]).status.success());
    let o = online(&proj).args(["env", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let o = c.ctx.run_in(&proj, &["hook-env", "bash"]);
    assert!(
        stdout(&o).contains("export MAGPKG_ENV='proj'"),
        "activated: {}",
        show(&o)
    );

    let source = c.store.join("sources-v1").join(&sha).join("data.bin");
    tamper(&entry.join("share/state"), "broken\n");
    tamper(&source, "garbage");
    let o = c.ctx.run(&["store", "verify"]);
    assert_eq!(o.status.code(), Some(70), "{}", show(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("CORRUPT  rep {id}: ")), "{out}");
    assert!(out.contains(&format!("CORRUPT  source data.bin {sha}: ")), "{out}");
    assert!(out.contains("ok       testroot "), "{out}");
    assert!(
        stderr(&o).contains("hint: `magpkg store verify --repair` replaces them"),
        "{}",
        show(&o)
    );
    let rec = c.ctx.open_store().package(&pid).unwrap().unwrap();
    assert!(
        rec.damaged.as_deref().unwrap().starts_with("content digest blake3:"),
        "{rec:?}"
    );

    // Every path that uses the entry refuses it, by its record.
    for (dir, args) in [
        (&proj, vec!["env", "--json"]),
        (&proj, vec!["run", "hi"]),
        (&root, vec!["oci", "-f", def, "-o", "x.tar"]),
        (&root, vec!["export", "-f", def, "-o", "x.tar.zst"]),
    ] {
        let o = online(dir).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", show(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("package rep ({id}) is damaged in the store: content digest")),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!(
                "hint: its files no longer match its record; `magpkg store verify --repair {}`",
                &id[..12]
            )),
            "{args:?}: {err}"
        );
    }
    assert!(!root.join("x.tar").exists() && !root.join("x.tar.zst").exists());
    let o = c.ctx.run_in(&proj, &["hook-env", "bash"]);
    assert!(
        stderr(&o).contains(
            "not activated: its environment uses damaged store entries (rep); run `magpkg store verify --repair`"
        ),
        "{}",
        show(&o)
    );
    assert!(!stdout(&o).contains("export MAGPKG_ENV="), "{}", show(&o));

    let before = server.requests().len();
    let o = online(&root).args(["store", "verify", "--repair"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("repaired source data.bin {sha} (downloaded again)")),
        "{out}"
    );
    assert!(out.contains(&format!("repaired rep {id} (rebuilt)")), "{out}");
    assert_eq!(server.requests().len(), before + 1, "the source was downloaded again");
    assert_eq!(fs::read(&source).unwrap(), data);
    assert_eq!(fs::read_to_string(entry.join("share/state")).unwrap(), "whole\n");
    assert_eq!(c.ctx.open_store().package(&pid).unwrap().unwrap().damaged, None);
    assert_verify_clean(&c.ctx);
    assert_no_scratch(&c.store);
    let o = online(&proj).args(["env", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let o = c.ctx.run_in(&proj, &["hook-env", "bash"]);
    assert!(
        stdout(&o).contains("export MAGPKG_ENV='proj'"),
        "activated again: {}",
        show(&o)
    );

    // Built before definitions were kept: removed, built again when needed.
    fs::remove_file(c.store.join("recipes-v1").join(format!("{id}.json"))).unwrap();
    tamper(&entry.join("share/state"), "broken again\n");
    let o = c.ctx.run(&["store", "verify", "--repair", "rep"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        stdout(&o).contains(&format!("removed  rep {id}: no definition was kept for it")),
        "{}",
        show(&o)
    );
    assert!(!package_names(&c.ctx).contains(&"rep".to_string()));
    let (code, out, err) = c.run(&["build", "-f", def]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), entry.display().to_string());
    assert_eq!(fs::read_to_string(entry.join("share/state")).unwrap(), "whole\n");
    assert_verify_clean(&c.ctx);
    assert_no_scratch(&c.store);
}

// ------------------------------------------------------------- evaluation

/// Issue 16 item 4 (evaluation): a definition that recurses without end,
/// runs for ever or builds an enormous value stops with a clear error
/// naming the setting (`evalTimeout`, `evalMaxMemory`, `evalMaxStack`),
/// exit 1, from the command line, a definition file and the config file's
/// settings alike; within the limits the same code evaluates.
#[test]
fn evaluation_stops_at_its_time_memory_and_call_depth_limits() {
    let ctx = TestContext::new();
    let before = outside(&ctx, &[]);
    // Exponential time, shallow recursion.
    let slow = "local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1); f(60)";
    let start = Instant::now();
    let o = ctx
        .cmd()
        .env("MAGPKG_EVAL_TIMEOUT", "1")
        .args(["eval", "-e", slow])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(
            "error: the evaluation ran longer than the evaluation timeout of 1 s (evalTimeout / MAGPKG_EVAL_TIMEOUT) \
             and was stopped\nhint: a definition that recurses without end or builds an enormous value?"
        ),
        "{}",
        show(&o)
    );
    assert!(start.elapsed() < Duration::from_secs(15), "{:?}", start.elapsed());
    // The same from the config file, on a definition given to `build`.
    let def = ctx.path("slow.jsonnet");
    write(
        &def,
        format!("{{ name: 'slow', version: '1', build: 'true', env: {{ X: std.toString({slow}) }} }}\n"),
    );
    write(&ctx.config_dir().join("magpkg/config.jsonnet"), "{ evalTimeout: 1 }\n");
    let o = ctx.run(&["build", "-f", def.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("than the evaluation timeout of 1 s (evalTimeout"),
        "{}",
        show(&o)
    );
    fs::remove_file(ctx.config_dir().join("magpkg/config.jsonnet")).unwrap();
    // 50 million array elements: far beyond 100 MB.
    let big = "std.length(std.makeArray(50000000, function(i) [i]))";
    let o = ctx
        .cmd()
        .env("MAGPKG_EVAL_MAX_MEMORY", (100u64 << 20).to_string())
        .args(["eval", "-e", big])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(
            "error: the evaluation took more than the evaluation memory limit of 100.0 MiB \
             (evalMaxMemory / MAGPKG_EVAL_MAX_MEMORY) and was stopped"
        ),
        "{}",
        show(&o)
    );
    // Call depth: 300 nested calls are beyond the default of 200 ...
    let deep = "local f(n) = if n == 0 then {} else { a: f(n - 1) }.a; f(300)";
    let o = ctx.run(&["eval", "-e", deep]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(
            "more than 200 nested function calls (evalMaxStack / MAGPKG_EVAL_MAX_STACK): a recursion without end?"
        ),
        "{}",
        show(&o)
    );
    // ... and within a raised one (no crash of magpkg's own stack).
    let o = ctx
        .cmd()
        .env("MAGPKG_EVAL_MAX_STACK", "5000")
        .args([
            "eval",
            "-e",
            "local f(n) = if n == 0 then {} else { a: f(n - 1) }.a; f(3000)",
        ])
        .output()
        .unwrap();
    assert!(!stderr(&o).contains("nested function calls"), "{}", show(&o));
    assert!(!stderr(&o).contains("overflow"), "{}", show(&o));
    assert!(package_names(&ctx).is_empty());
    assert_only_made(&ctx, before, &[def, ctx.config_dir().join("magpkg")]);
}
