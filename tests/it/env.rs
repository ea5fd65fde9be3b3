//! Project environments end to end: `magpkg init`, `shell`, `run`, `env`,
//! the lock file and `--pure`, with the real binary, real shells in tmux and
//! real bubblewrap. Each test has its own store, state, HOME and XDG dirs.
//!
//! Packages are made without a sandbox build: a local tarball added to the
//! store's source cache and unpacked by the `unpack` builtin.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::packages::{local_package, tarball};
use crate::support::snapshot::assert_snapshot;
use crate::support::tmux::Tmux;
use crate::support::{busybox, ok, real_network, require, text, TestContext};

const BIN: &str = env!("CARGO_BIN_EXE_magpkg");

/// A test's context with a fixed, small PATH and a UTF-8 locale, trusting
/// its projects (these tests are not about trust).
fn world() -> TestContext {
    untrusting_world().trusting()
}

/// [`world`] where `magpkg shell` and `magpkg run` need `magpkg allow`.
fn untrusting_world() -> TestContext {
    TestContext::new()
        .with_path("/usr/local/bin:/usr/bin:/bin")
        .with_env("LC_ALL", "C.UTF-8")
}

/// `magpkg` in `cwd` with another store.
fn cmd_with_store(w: &TestContext, cwd: &Path, store: &Path) -> Command {
    let mut c = w.in_dir(cwd);
    c.env("MAGPKG_STORE", store);
    c
}

const GREET: &[u8] = b"#!/bin/sh\necho \"Hello, ${1:-world}!\"\nexit ${2:-0}\n";

/// A project with the `greet` package (bin/greet, a man page) and the
/// given extra manifest fields.
fn greet_project(w: &TestContext, name: &str, extra: &str) -> PathBuf {
    let root = w.project(name);
    let tb = w.path(&format!("{name}-greet-1.0.tar.gz"));
    tarball(
        &tb,
        &[
            ("bin/greet", GREET, true),
            ("share/man/man1/greet.1", b".TH GREET 1\n", false),
        ],
        &[],
    );
    let pkg = local_package("greet", "1.0", &tb, &[w.store()]);
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
    let w = world();
    let root = w.project("empty");
    let out = w.run_in(&root, &["init"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("template `minimal` (detected)"),
        "{}",
        text(&out.stderr)
    );
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
    let w = world();
    let root = w.project("cproj");
    std::fs::create_dir(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.c"), "int main(void) { return 0; }\n").unwrap();
    std::fs::write(root.join("Makefile"), "all:\n\tcc -o main src/main.c\n").unwrap();
    std::fs::write(root.join(".gitignore"), "main\n").unwrap();
    let out = w.run_in(&root, &["init"]);
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
fn init_in_python_and_perl_projects_picks_their_templates() {
    let w = world();
    // A Python project with a Makefile and a C extension is still Python.
    let py = w.project("pyproj");
    std::fs::create_dir(py.join("pkg")).unwrap();
    std::fs::write(py.join("pyproject.toml"), "[project]\nname = \"pkg\"\n").unwrap();
    std::fs::write(py.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(py.join("pkg/_speed.c"), "").unwrap();
    std::fs::write(py.join("Makefile"), "test:\n\tpytest\n").unwrap();
    let out = w.run_in(&py, &["init"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("template `python` (detected)"),
        "{}",
        text(&out.stderr)
    );
    let manifest = std::fs::read_to_string(py.join("magnet.jsonnet")).unwrap();
    assert!(manifest.contains("pkgs.python3"), "{manifest}");
    assert!(manifest.contains("python3 -m venv .venv"), "{manifest}");
    let gi = std::fs::read_to_string(py.join(".gitignore")).unwrap();
    assert!(gi.contains("/.magpkg/") && gi.contains("/.venv/"), "{gi}");
    // requirements.txt alone, and a lone script, are Python too.
    let req = w.project("reqproj");
    std::fs::write(req.join("requirements.txt"), "numpy\n").unwrap();
    assert!(text(&w.run_in(&req, &["init"]).stderr).contains("template `python` (detected)"));
    let script = w.project("scriptproj");
    std::fs::write(script.join("tool.py"), "print(1)\n").unwrap();
    assert!(text(&w.run_in(&script, &["init"]).stderr).contains("template `python` (detected)"));

    let pl = w.project("plproj");
    std::fs::create_dir_all(pl.join("lib/App")).unwrap();
    std::fs::create_dir(pl.join("t")).unwrap();
    std::fs::write(pl.join("Makefile.PL"), "use ExtUtils::MakeMaker;\n").unwrap();
    std::fs::write(pl.join("lib/App/Tool.pm"), "package App::Tool; 1;\n").unwrap();
    std::fs::write(pl.join("t/basic.t"), "use Test::More; ok 1; done_testing;\n").unwrap();
    let out = w.run_in(&pl, &["init"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("template `perl` (detected)"),
        "{}",
        text(&out.stderr)
    );
    let manifest = std::fs::read_to_string(pl.join("magnet.jsonnet")).unwrap();
    assert!(
        manifest.contains("pkgs.perl") && manifest.contains("PERL5LIB"),
        "{manifest}"
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let w = world();
    let root = w.project("p");
    std::fs::write(root.join("magnet.jsonnet"), "{ packages: [] } // mine\n").unwrap();
    let out = w.run_in(&root, &["init", "--template", "lua"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("magnet.jsonnet already exists"), "{err}");
    assert!(err.contains("hint: use --force"), "{err}");
    assert!(std::fs::read_to_string(root.join("magnet.jsonnet"))
        .unwrap()
        .contains("// mine"));
    ok(&w.run_in(&root, &["init", "--template", "lua", "--force"]));
    assert!(std::fs::read_to_string(root.join("magnet.jsonnet"))
        .unwrap()
        .contains("pkgs.lua"));
}

#[test]
fn init_lists_templates_and_suggests_on_typos() {
    let w = world();
    let root = w.project("p");
    let list = ok(&w.run_in(&root, &["init", "--list"]));
    for t in ["minimal", "c", "lua", "shell", "python", "perl"] {
        assert!(list.lines().any(|l| l.starts_with(t)), "{list}");
    }
    let out = w.run_in(&root, &["init", "-t", "lau"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("did you mean `lua`?"),
        "{}",
        text(&out.stderr)
    );
    assert!(!root.join("magnet.jsonnet").exists());
}

/// Every template names packages the embedded tree has, and is a valid
/// manifest (evaluating gives an environment id; nothing is built).
#[test]
fn every_template_evaluates_against_the_embedded_tree() {
    let w = world();
    let list = ok(&w.run_in(w.path(""), &["init", "--list"]));
    let names: Vec<&str> = list.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.len() >= 4, "{list}");
    for name in names {
        let root = w.project(&format!("t-{name}"));
        ok(&w.run_in(&root, &["init", "--template", name]));
        let out = w.run_in(&root, &["env", "--id"]);
        assert!(
            out.status.success(),
            "template {name} does not evaluate:\n{}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout).trim().len(), 32);
    }
}

#[test]
fn commands_outside_a_project_say_how_to_start_one() {
    let w = world();
    let root = w.project("nothing");
    let out = w.run_in(&root, &["shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no magnet.jsonnet in"), "{err}");
    assert!(err.contains("magpkg init"), "{err}");
}

// ----------------------------------------------------------- shell -- CMD

#[test]
fn shell_runs_a_command_in_the_env_and_returns_its_status() {
    let w = world();
    let root = greet_project(
        &w,
        "proj",
        "  env: { WHERE: '$MAGPKG_PROJECT_ROOT/data', GREETING: 'hi there' },\n  path: ['./scripts'],",
    );
    std::fs::create_dir_all(root.join("scripts")).unwrap();
    std::fs::write(root.join("scripts/mytool"), "#!/bin/sh\necho mytool-ran\n").unwrap();
    std::fs::set_permissions(root.join("scripts/mytool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(root.join("sub/dir")).unwrap();

    let out = w.run_in(&root, &["shell", "--", "greet", "you", "7"]);
    assert_eq!(text(&out.stdout), "Hello, you!\n", "stderr: {}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(7), "the command's exit status is magpkg's");
    let err = text(&out.stderr);
    assert!(err.contains("realised environment"), "{err}");
    assert!(err.contains("wrote ") && err.contains("magnet.lock"), "{err}");

    // From a subdirectory: the project is found upward; variables, path
    // entries and the profile's implied variables are there.
    let out = ok(&w.run_in(
        root.join("sub/dir"),
        &[
            "shell",
            "--",
            "sh",
            "-c",
            r#"echo "where=$WHERE"; echo "greeting=$GREETING"; mytool; echo "env=$MAGPKG_ENV"; command -v greet; echo "man=$MANPATH"; pwd"#,
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("where={}/data", root.display()));
    assert_eq!(lines[1], "greeting=hi there");
    assert_eq!(lines[2], "mytool-ran");
    assert_eq!(lines[3], "env=proj");
    assert!(
        lines[4].contains("/envs-v1/") && lines[4].ends_with("/bin/greet"),
        "{out}"
    );
    assert!(
        lines[5].starts_with("man=") && lines[5].ends_with("/share/man:"),
        "{out}"
    );
    assert_eq!(lines[6], root.join("sub/dir").display().to_string(), "cwd kept");

    // Second run: nothing realised again, nothing written.
    let out = w.run_in(&root, &["shell", "--", "greet"]);
    assert_eq!(text(&out.stdout), "Hello, world!\n");
    assert_eq!(text(&out.stderr), "", "the cached environment is used silently");

    let out = w.run_in(&root, &["shell", "--", "no-such-tool", "x"]);
    assert_eq!(out.status.code(), Some(127));
    let err = text(&out.stderr);
    assert!(
        err.contains("no-such-tool: command not found in the environment"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn shell_command_replaces_magpkg_so_signals_reach_it() {
    let w = world();
    let root = greet_project(&w, "proj", "");
    ok(&w.run_in(&root, &["env", "--id"]));
    let mut child = w
        .in_dir(&root)
        .args(["shell", "--", "sh", "-c", "echo $$; exec sleep 60"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(
        line.trim(),
        child.id().to_string(),
        "the command runs in magpkg's own process"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(15));
}

#[test]
fn realisation_links_the_profile_and_registers_a_gc_root() {
    let w = world();
    let root = greet_project(&w, "proj", "");
    ok(&w.run_in(&root, &["env"]));
    let id = ok(&w.run_in(&root, &["env", "--id"])).trim().to_string();
    assert_eq!(id.len(), 32, "{id}");
    let profile = w.store().join("envs-v1").join(&id);
    assert!(profile.join("bin/greet").exists());
    assert!(
        std::fs::symlink_metadata(profile.join("bin/greet"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "profiles link, they do not copy"
    );
    assert_eq!(std::fs::read_link(root.join(".magpkg/profile")).unwrap(), profile);
    let roots: Vec<PathBuf> = std::fs::read_dir(w.store().join("gcroots-v1"))
        .unwrap()
        .map(|e| std::fs::read_link(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(roots, vec![profile]);
}

#[test]
fn run_executes_a_manifest_script_in_the_project_root() {
    let w = world();
    let root = greet_project(
        &w,
        "proj",
        r#"  scripts: { hello: 'greet "$1" && echo "cwd=$PWD args=$#"', fail: 'exit 4' },"#,
    );
    std::fs::create_dir_all(root.join("deep")).unwrap();
    let out = ok(&w.run_in(root.join("deep"), &["run", "hello", "script", "--flag"]));
    assert_eq!(out, format!("Hello, script!\ncwd={} args=2\n", root.display()));
    assert_eq!(w.run_in(&root, &["run", "fail"]).status.code(), Some(4));
    let list = ok(&w.run_in(&root, &["run"]));
    assert!(list.contains("hello\t") && list.contains("fail\texit 4"), "{list}");
    let out = w.run_in(&root, &["run", "helo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no script `helo`") && err.contains("did you mean `hello`?"),
        "{err}"
    );
}

#[test]
fn manifest_mistakes_point_at_the_line() {
    let w = world();
    let root = w.project("bad");
    std::fs::write(
        root.join("magnet.jsonnet"),
        "{\n  packages: [],\n  shelHook: 'echo hi',\n}\n",
    )
    .unwrap();
    let out = w.run_in(&root, &["shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("magnet.jsonnet:3: unknown field `shelHook`"), "{err}");
    assert!(err.contains("hint: did you mean `shellHook`?"), "{err}");
    std::fs::write(
        root.join("magnet.jsonnet"),
        "{\n  packages: [],\n  env: { PATH: '/x' },\n}\n",
    )
    .unwrap();
    let err = text(&w.run_in(&root, &["env", "--id"]).stderr);
    assert!(err.contains(":3: env: `PATH` cannot be set here"), "{err}");
    std::fs::write(root.join("magnet.jsonnet"), "{\n  packages: [\n").unwrap();
    let out = w.run_in(&root, &["env", "--id"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("magnet.jsonnet:"), "{}", text(&out.stderr));
}

#[test]
fn editing_an_imported_file_invalidates_the_cache() {
    let w = world();
    let root = greet_project(&w, "proj", "  env: import 'env.libsonnet',");
    std::fs::write(root.join("env.libsonnet"), "{ COLOR: 'red' }\n").unwrap();
    let out = ok(&w.run_in(&root, &["shell", "--", "sh", "-c", "echo $COLOR"]));
    assert_eq!(out, "red\n");
    let id1 = ok(&w.run_in(&root, &["env", "--id"]));
    std::fs::write(root.join("env.libsonnet"), "{ COLOR: 'blue' }\n").unwrap();
    let out = ok(&w.run_in(&root, &["shell", "--", "sh", "-c", "echo $COLOR"]));
    assert_eq!(out, "blue\n");
    assert_ne!(ok(&w.run_in(&root, &["env", "--id"])), id1);
}

// ------------------------------------------------------------ lock file

#[test]
fn locked_fails_with_a_readable_diff_and_relocking_fixes_it() {
    let w = world();
    let root = greet_project(&w, "proj", "  env: { A: '1' },");
    let out = w.run_in(&root, &["env", "--locked", "--id"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("magnet.lock does not exist"),
        "{}",
        text(&out.stderr)
    );

    ok(&w.run_in(&root, &["shell", "--", "true"]));
    let lock1 = std::fs::read_to_string(root.join("magnet.lock")).unwrap();
    assert!(lock1.contains("\"greet\"") && lock1.contains("\"1.0\""), "{lock1}");
    ok(&w.run_in(&root, &["shell", "--locked", "--", "true"]));

    // A new version of greet and a changed variable.
    let tb = w.path("greet-2.0.tar.gz");
    tarball(&tb, &[("bin/greet", b"#!/bin/sh\necho v2\n", true)], &[]);
    let pkg2 = local_package("greet", "2.0", &tb, &[w.store()]);
    std::fs::write(
        root.join("magnet.jsonnet"),
        format!("{{\n  packages: [{pkg2}],\n  env: {{ A: '2', B: 'new' }},\n}}\n"),
    )
    .unwrap();
    for args in [
        &["shell", "--locked", "--", "greet"][..],
        &["env", "--locked", "--id"][..],
        &["run", "--locked"][..],
    ] {
        let out = w.run_in(&root, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&out.stdout), "", "nothing ran: {args:?}");
        let err = text(&out.stderr);
        for want in [
            "magnet.lock is out of date",
            "~ package greet: 1.0 -> 2.0",
            "~ env A: \"1\" -> \"2\"",
            "+ env B=\"new\"",
            "hint: if the change is intended, run the command without --locked",
        ] {
            assert!(err.contains(want), "{args:?}: missing {want:?} in\n{err}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(root.join("magnet.lock")).unwrap(),
        lock1,
        "--locked never writes"
    );

    // Re-lock, then --locked passes.
    assert_eq!(ok(&w.run_in(&root, &["shell", "--", "greet"])), "v2\n");
    let lock2 = std::fs::read_to_string(root.join("magnet.lock")).unwrap();
    assert!(lock2.contains("\"2.0\""), "{lock2}");
    assert_eq!(ok(&w.run_in(&root, &["shell", "--locked", "--", "greet"])), "v2\n");
}

#[test]
fn env_id_is_the_same_across_stores_and_checkouts() {
    let w = world();
    let store_b = w.path("store-b");
    let root = greet_project(
        &w,
        "proj",
        "  env: { DATA: '$MAGPKG_PROJECT_ROOT/data' },\n  path: ['bin'],",
    );
    // The same sources in a second, independent store.
    for e in std::fs::read_dir(w.path("")).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".tar.gz") {
            let store = magpkg::store::Store::open(&store_b).unwrap();
            store
                .add_source_file(&p, p.file_name().unwrap().to_str().unwrap(), None, "test")
                .unwrap();
        }
    }
    let id_a = ok(&w.run_in(&root, &["env", "--id"]));
    let id_b = ok(&cmd_with_store(&w, &root, &store_b)
        .args(["env", "--id"])
        .output()
        .unwrap());
    assert_eq!(id_a, id_b);
    // Realised in both stores: same id, in the lock too.
    ok(&w.run_in(&root, &["env"]));
    ok(&cmd_with_store(&w, &root, &store_b).args(["env"]).output().unwrap());
    assert!(w.store().join("envs-v1").join(id_a.trim()).is_dir());
    assert!(store_b.join("envs-v1").join(id_a.trim()).is_dir());
    assert_eq!(
        ok(&cmd_with_store(&w, &root, &store_b)
            .args(["env", "--id"])
            .output()
            .unwrap()),
        id_a
    );
    let lock = std::fs::read_to_string(root.join("magnet.lock")).unwrap();
    assert!(lock.contains(id_a.trim()), "{lock}");
    // Another checkout path: the root placeholder keeps the id unchanged.
    let other = w.project("elsewhere/proj");
    std::fs::copy(root.join("magnet.jsonnet"), other.join("magnet.jsonnet")).unwrap();
    assert_eq!(ok(&w.run_in(&other, &["env", "--id"])), id_a);
}

// -------------------------------------------------------------- env / CI

#[test]
fn env_formats_for_people_scripts_and_github_actions() {
    let w = world();
    let root = greet_project(&w, "proj", "  env: { GREETING: 'hi there', MULTI: 'a\\nb' },");
    let id = ok(&w.run_in(&root, &["env", "--id"])).trim().to_string();

    let json: serde_json::Value = serde_json::from_str(&ok(&w.run_in(&root, &["env", "--json"]))).unwrap();
    assert_eq!(json["envId"], id.as_str());
    assert_eq!(json["packages"][0]["name"], "greet");
    assert_eq!(json["set"]["GREETING"], "hi there");

    let human = ok(&w.run_in(&root, &["env"]));
    assert!(human.contains(&id) && human.contains("greet"), "{human}");

    let sh = ok(&w.run_in(&root, &["env", "--format", "sh"]));
    let out = Command::new("sh")
        .args(["-c", &format!("{sh}\ngreet sh; printf '%s|' \"$GREETING\" \"$MULTI\"")])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "Hello, sh!\nhi there|a\nb|", "{sh}");

    let gh_path = w.path("github_path");
    let gh_env = w.path("github_env");
    std::fs::write(&gh_env, "EARLIER=1\n").unwrap();
    github_env(&w, &root, &gh_path, &gh_env);
    let p = std::fs::read_to_string(&gh_path).unwrap();
    assert_eq!(
        p,
        format!("{}\n", w.store().join("envs-v1").join(&id).join("bin").display())
    );
    let e = std::fs::read_to_string(&gh_env).unwrap();
    assert!(e.starts_with("EARLIER=1\n"), "appended, not replaced: {e}");
    assert!(e.contains("GREETING=hi there\n"), "{e}");
    assert!(e.contains(&format!("MAGPKG_ENV_ID={id}\n")), "{e}");
    let delim = e
        .lines()
        .find_map(|l| l.strip_prefix("MULTI<<"))
        .expect("multi-line values use the heredoc syntax");
    assert!(e.contains(&format!("MULTI<<{delim}\na\nb\n{delim}\n")), "{e}");
    assert!(e.contains("MANPATH="), "{e}");
}

/// `magpkg env --format github` in `root`, writing to these files; stdout.
fn github_env(w: &TestContext, root: &Path, gh_path: &Path, gh_env: &Path) -> String {
    ok(&w
        .in_dir(root)
        .args(["env", "--format", "github"])
        .env("GITHUB_PATH", gh_path)
        .env("GITHUB_ENV", gh_env)
        .output()
        .unwrap())
}

/// What `magpkg env --format sh|json|github` print (and, for GitHub, write)
/// for a small project.
#[test]
fn env_formats_snapshots() {
    let w = world();
    let root = greet_project(&w, "proj", "  env: { GREETING: 'hi there', QUOTED: \"it's $HOME\" },");
    ok(&w.run_in(&root, &["env", "--id"]));
    for format in ["sh", "json"] {
        let out = ok(&w.run_in(&root, &["env", "--format", format]));
        assert_snapshot!(&w, &format!("env_format_{format}"), &out);
    }
    let gh_path = w.path("github_path");
    let gh_env = w.path("github_env");
    let out = github_env(&w, &root, &gh_path, &gh_env);
    let written = format!(
        "--- stdout\n{out}--- $GITHUB_PATH\n{}--- $GITHUB_ENV\n{}",
        std::fs::read_to_string(&gh_path).unwrap(),
        std::fs::read_to_string(&gh_env).unwrap()
    );
    assert_snapshot!(&w, "env_format_github", &written);
}

// ------------------------------------------------------ interactive shells

/// A plain bash (prompt `outer$ `) in tmux, in `cwd`, with this test's
/// environment and `SHELL=shell`.
fn outer_shell(w: &TestContext, cwd: &Path, shell: &str) -> Tmux {
    Tmux::outer_bash(w, cwd, &[("SHELL", shell.into())])
}

/// `magpkg shell` with `shell` as $SHELL: the prompt is marked, the user's
/// rc file and the shellHook ran, the tools are there, `exit` returns.
fn interactive(shell: &str) {
    let shell_path = require(shell);
    let w = world();
    let root = greet_project(&w, "proj", "  shellHook: 'echo hook-ran-in-$MAGPKG_ENV',");
    let home = w.path("home");
    std::fs::write(home.join(".bashrc"), "USER_RC=loaded\n").unwrap();
    std::fs::write(home.join(".zshrc"), "USER_RC=loaded\nPS1='zsh%# '\n").unwrap();
    std::fs::create_dir_all(w.path("config/fish")).unwrap();
    std::fs::write(w.path("config/fish/config.fish"), "set -g USER_RC loaded\n").unwrap();
    // Realise first, so the interactive part does not wait for it.
    ok(&w.run_in(&root, &["env"]));
    let t = outer_shell(&w, &root, shell_path.to_str().unwrap());
    t.send(&format!("{BIN} shell; echo back-$?"));
    t.wait_for("the marked prompt", |s| s.contains("(magpkg:proj)"));
    t.wait_for("the shellHook", |s| s.contains("hook-ran-in-proj"));
    t.send("greet tmux; echo \"rc=$USER_RC env=$MAGPKG_ENV\"");
    t.wait_for("greet's output", |s| {
        s.contains("Hello, tmux!") && s.contains("rc=loaded env=proj")
    });
    t.send("exit");
    let s = t.wait_for("the outer shell again", |s| s.contains("back-0"));
    assert!(!s.contains("command not found"), "{s}");
}

// ------------------------------------------------------------------- trust

/// Issue 16 item 8: off a terminal, `magpkg shell` and `magpkg run` refuse a
/// project never allowed here (nothing of it runs, nothing is realised)
/// with an error and a hint; `--trust`, `MAGPKG_TRUST=1` and `CI=true` let
/// them in for that run only; after `magpkg allow` they run, and a change to
/// the manifest since `allow` is refused again, as the hook does.
#[test]
fn shell_and_run_refuse_a_project_not_allowed_here_off_a_terminal() {
    let w = untrusting_world();
    let marker = w.path("hook-ran");
    let root = greet_project(
        &w,
        "proj",
        &format!("  scripts: {{ hi: 'touch {} && greet script' }},", marker.display()),
    );
    for args in [&["shell", "--", "greet"][..], &["run", "hi"]] {
        let o = w.run_in(&root, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!(
                "error: {} is not allowed on this machine: `magpkg {}` runs its shellHook and scripts only in trusted projects",
                root.display(),
                args[0]
            )),
            "{err}"
        );
        assert!(
            err.contains("hint: read ") && err.contains("magnet.jsonnet, then run `magpkg allow` there to trust it; or pass --trust (or set MAGPKG_TRUST=1) to trust it for this run; CI=true trusts every project"),
            "{err}"
        );
        assert!(text(&o.stdout).is_empty(), "{args:?}");
    }
    assert!(!marker.exists(), "the script did not run");
    assert!(!w.store().join("envs-v1").exists() || std::fs::read_dir(w.store().join("envs-v1")).unwrap().count() == 0);
    // Trusted for one run, three ways; still not allowed afterwards.
    let o = ok(&w.run_in(&root, &["shell", "--trust", "--", "greet", "flag"]));
    assert_eq!(o, "Hello, flag!\n");
    assert_eq!(ok(&w.run_in(&root, &["run", "--trust", "hi"])), "Hello, script!\n");
    assert!(marker.exists(), "the script ran");
    for (var, value) in [("MAGPKG_TRUST", "1"), ("CI", "true")] {
        let o = w.in_dir(&root).env(var, value).args(["run", "hi"]).output().unwrap();
        assert_eq!(ok(&o), "Hello, script!\n", "{var}={value}");
    }
    assert_eq!(w.run_in(&root, &["run", "hi"]).status.code(), Some(1));
    // Allowed: no flag needed.
    ok(&w.run_in(&root, &["allow"]));
    assert_eq!(
        ok(&w.run_in(&root, &["shell", "--", "greet", "allowed"])),
        "Hello, allowed!\n"
    );
    assert_eq!(ok(&w.run_in(&root, &["run", "hi"])), "Hello, script!\n");
    // Changed since `allow`: refused again, naming the file.
    let m = std::fs::read_to_string(root.join("magnet.jsonnet")).unwrap();
    std::fs::write(root.join("magnet.jsonnet"), m.replace("greet script", "greet changed")).unwrap();
    let o = w.run_in(&root, &["run", "hi"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!(
            "error: {} changed since `magpkg allow` (magnet.jsonnet)",
            root.display()
        )),
        "{}",
        text(&o.stderr)
    );
}

/// Issue 16 item 8 on a terminal (real tmux): `magpkg shell` in a project
/// never allowed asks once; `n` runs nothing, `y` allows it (as `magpkg
/// allow`) and enters; the next `magpkg shell` and `magpkg run` ask nothing.
#[test]
fn shell_on_a_terminal_asks_once_before_trusting_a_project() {
    let w = untrusting_world();
    let root = greet_project(
        &w,
        "proj",
        "  shellHook: 'echo hook-ran-in-$MAGPKG_ENV',\n  scripts: { hi: 'greet script' },",
    );
    let t = outer_shell(&w, &root, "/usr/bin/bash");
    t.send(&format!("{BIN} shell -- greet first; echo back-$?"));
    t.wait_for("the question", |s| {
        s.contains("is not allowed on this machine.")
            && s.contains("Trust it on this machine (as `magpkg allow`)? [y/N]")
    });
    t.send("n");
    let s = t.wait_for("the refusal", |s| s.contains("back-1"));
    assert!(s.contains("is not trusted: nothing was run"), "{s}");
    assert!(!s.contains("Hello, first!"), "{s}");
    t.send(&format!("{BIN} shell; echo back-$?"));
    t.wait_for("the question again", |s| s.matches("[y/N]").count() == 2);
    t.send("y");
    t.wait_for("the marked prompt", |s| s.contains("(magpkg:proj)"));
    let s = t.wait_for("the shellHook", |s| s.contains("hook-ran-in-proj"));
    assert!(s.contains("magpkg: allowed "), "{s}");
    t.send("exit");
    t.wait_for("the outer shell", |s| s.contains("back-0"));
    t.send(&format!("{BIN} run hi; echo back-$?"));
    let s = t.wait_for("the script", |s| s.matches("back-0").count() == 2);
    assert!(s.contains("Hello, script!"), "{s}");
    assert_eq!(s.matches("[y/N]").count(), 2, "asked once per refusal only: {s}");
}

#[test]
fn interactive_bash() {
    interactive("bash");
}

#[test]
fn interactive_zsh() {
    interactive("zsh");
}

#[test]
fn interactive_fish() {
    interactive("fish");
}

// ------------------------------------------------------------------ --pure

/// A package `tools` with a static busybox (sh, ls, cat) and greet: what a
/// `--pure` environment needs to run scripts.
fn tools_package(w: &TestContext) -> String {
    let busybox = busybox();
    let tb = w.path("tools-1.0.tar.gz");
    tarball(
        &tb,
        &[("bin/busybox", &busybox, true), ("bin/greet", GREET, true)],
        &[("bin/sh", "busybox"), ("bin/ls", "busybox"), ("bin/cat", "busybox")],
    );
    local_package("tools", "1.0", &tb, &[w.store()])
}

#[test]
fn pure_shows_only_the_environment_and_the_project() {
    let w = world();
    let root = w.project("proj");
    let pkg = tools_package(&w);
    let shared = w.path("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("note"), "from the host\n").unwrap();
    std::fs::write(
        root.join("magnet.jsonnet"),
        format!(
            "{{\n  packages: [{pkg}],\n  pure: {{ mounts: ['{}', '/does/not/exist'], keepEnv: ['KEEP_ME'] }},\n}}\n",
            shared.display()
        ),
    )
    .unwrap();
    std::fs::write(root.join("data.txt"), "project file\n").unwrap();
    let script = r#"greet pure; cat data.txt; cat SHARED/note;
        command -v bash || echo no-bash; test -e /etc/passwd || echo no-etc;
        echo "keep=${KEEP_ME-unset} editor=${EDITOR-unset} pure=$MAGPKG_PURE";
        echo "path=$PATH"; echo made > out.txt"#
        .replace("SHARED", &shared.display().to_string());
    let out = w
        .in_dir(&root)
        .args(["shell", "--pure", "--", "sh", "-c", &script])
        .env("KEEP_ME", "yes")
        .env("EDITOR", "vi")
        .output()
        .unwrap();
    let s = ok(&out);
    assert!(s.contains("Hello, pure!"), "{s}");
    assert!(s.contains("project file\n"), "the project is visible: {s}");
    assert!(s.contains("from the host\n"), "pure.mounts are visible: {s}");
    assert!(s.contains("no-bash"), "host tools are absent: {s}");
    assert!(s.contains("no-etc"), "host files are absent: {s}");
    assert!(s.contains("keep=yes editor=unset pure=1"), "{s}");
    let path_line = s.lines().find(|l| l.starts_with("path=")).unwrap();
    assert!(!path_line.contains("/usr/bin"), "{path_line}");
    assert_eq!(
        std::fs::read_to_string(root.join("out.txt")).unwrap(),
        "made\n",
        "the project is writable"
    );

    let out = w.run_in(&root, &["shell", "--pure", "--", "bash", "-c", "true"]);
    assert_eq!(out.status.code(), Some(127));
    let err = text(&out.stderr);
    assert!(err.contains("bash: command not found in the environment"), "{err}");
    assert!(err.contains("--pure hides the host's tools"), "{err}");
}

// ------------------------------------------------------------- real world

/// The README's main job on a fresh machine: the example project with the
/// real GNU hello. Slow: needs the bootstrap root (29 Debian packages,
/// 45 MiB, fetched once per test run through the machine's Debian mirror
/// and seeded into this test's store) and builds hello from source in the
/// sandbox.
#[test]
#[ignore]
fn example_hello_project_runs_hello() {
    let w = world();
    w.seed_bootstrap();
    let root = w.project("hello");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    for f in ["magnet.jsonnet", "magnet.lock"] {
        if example.join(f).exists() {
            std::fs::copy(example.join(f), root.join(f)).unwrap();
        }
    }
    // With the committed lock, the example must evaluate to exactly it.
    let locked = root.join("magnet.lock").exists();
    let mut args = vec!["shell"];
    if locked {
        args.push("--locked");
    }
    args.extend(["--", "hello"]);
    let out = real_network(&mut w.in_dir(&root)).args(&args).output().unwrap();
    assert_eq!(text(&out.stdout), "Hello, world!\n", "stderr:\n{}", text(&out.stderr));
    assert!(out.status.success());
    let out = ok(&w.run_in(&root, &["run", "greet", "Bonjour"]));
    assert_eq!(out, "Bonjour, hello\n");
}

#[test]
fn pure_interactive_shell_is_the_environments_own() {
    let w = world();
    let root = w.project("proj");
    let pkg = tools_package(&w);
    std::fs::write(
        root.join("magnet.jsonnet"),
        format!("{{\n  packages: [{pkg}],\n  shellHook: 'echo pure-hook-ran',\n}}\n"),
    )
    .unwrap();
    ok(&w.run_in(&root, &["env"]));
    // $SHELL is bash, which the environment lacks: its sh (busybox) is used.
    let t = outer_shell(&w, &root, "/usr/bin/bash");
    t.send(&format!("{BIN} shell --pure; echo back-$?"));
    t.wait_for("the marked prompt", |s| s.contains("(magpkg:proj)"));
    t.wait_for("the shellHook", |s| s.contains("pure-hook-ran"));
    t.send("greet pure; ls /; echo \"shell=$SHELL\"");
    // `shell=/`: the output line, not the typed one.
    let s = t.wait_for("greet in the container", |s| {
        s.contains("Hello, pure!") && s.contains("shell=/")
    });
    assert!(s.contains("/bin/sh"), "the environment's sh: {s}");
    assert!(!s.contains("etc"), "no host /etc in the container: {s}");
    t.send("exit");
    t.wait_for("the outer shell again", |s| s.contains("back-0"));
}

/// Regression: a hook in the user's rc file used to activate the project a
/// second time inside `magpkg shell` (PATH entries doubled). The shell now
/// records the activation the way the hook does, so the hook sees it active.
#[test]
fn hook_inside_magpkg_shell_sees_the_environment_already_active() {
    let w = world();
    let root = greet_project(&w, "proj", "");
    let out = w.run_in(&root, &["allow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = w.run_in(&root, &["shell", "--", BIN, "hook-env", "bash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The code before the watch list; the pre-rendered entries after it
    // spell an activation without running it.
    let script = text(&out.stdout);
    let script = script.split("_magpkg_watch=(").next().unwrap();
    assert!(
        !script.contains("export PATH="),
        "the hook applied the environment again:\n{script}"
    );
    // Outside `magpkg shell` the same hook does activate it (so the check
    // above is not vacuous).
    let out = w.run_in(&root, &["hook-env", "bash"]);
    let script = text(&out.stdout);
    assert!(
        script.split("_magpkg_watch=(").next().unwrap().contains("export PATH="),
        "{script}"
    );
}

/// `magpkg store gc`: a project's current environment and its packages are
/// kept (the GC root), the environment it had before and the packages only
/// that one used are removed; sources stay.
#[test]
fn store_gc_keeps_what_projects_use_and_removes_the_rest() {
    let w = world();
    let root = greet_project(&w, "proj", "");
    ok(&w.run_in(&root, &["env", "--id"]));
    ok(&w.run_in(&root, &["shell", "--", "true"]));
    let old_env = text(&w.run_in(&root, &["env", "--id"]).stdout).trim().to_string();

    let tb = w.path("greet-2.0.tar.gz");
    tarball(&tb, &[("bin/greet", b"#!/bin/sh\necho v2\n", true)], &[]);
    let pkg2 = local_package("greet", "2.0", &tb, &[w.store()]);
    std::fs::write(root.join("magnet.jsonnet"), format!("{{ packages: [{pkg2}] }}\n")).unwrap();
    ok(&w.run_in(&root, &["shell", "--", "true"]));
    let new_env = text(&w.run_in(&root, &["env", "--id"]).stdout).trim().to_string();
    assert_ne!(old_env, new_env);
    let envs = w.store().join("envs-v1");
    assert!(envs.join(&old_env).is_dir() && envs.join(&new_env).is_dir());

    // Everything is young: the default grace period keeps it all.
    let out = w.run_in(&root, &["store", "gc"]);
    assert!(
        text(&out.stderr).contains("removed 0 packages"),
        "{}",
        text(&out.stderr)
    );

    let out = w.run_in(&root, &["store", "gc", "--grace", "0", "--dry-run"]);
    let said = ok(&out);
    assert_snapshot!(&w, "store_gc_dry_run", &said);
    assert!(said.contains(&format!("would remove environment {old_env}")), "{said}");
    assert!(said.contains("would remove package greet"), "{said}");
    assert!(envs.join(&old_env).is_dir(), "a dry run removes nothing");

    let said = ok(&w.run_in(&root, &["store", "gc", "--grace", "0"]));
    assert!(said.contains(&format!("removed environment {old_env}")), "{said}");
    assert_eq!(said.matches("removed package").count(), 1, "{said}");
    assert!(!envs.join(&old_env).exists() && !envs.join(format!("{old_env}.json")).exists());
    assert!(envs.join(&new_env).is_dir());
    let out = w.run_in(&root, &["shell", "--", "greet"]);
    assert_eq!(text(&out.stdout), "v2\n", "{}", text(&out.stderr));
    // Both source tarballs are still cached.
    let sources = ok(&w.run_in(&root, &["source", "list"]));
    assert!(
        sources.contains("greet-2.0.tar.gz") && sources.contains("proj-greet-1.0.tar.gz"),
        "{sources}"
    );
    // Nothing left to collect.
    let out = w.run_in(&root, &["store", "gc", "--grace", "0"]);
    assert!(
        text(&out.stderr).contains("removed 0 packages"),
        "{}",
        text(&out.stderr)
    );
}
