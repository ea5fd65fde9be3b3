//! One environment model (issue 11): `magpkg shell`, `magpkg run`, the
//! shell hook after `cd` and `magpkg env --format sh|json` give a process
//! the same variables, by the same rule, with real bash, zsh, fish and sh.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{self as common, require, TestContext as TestEnv};

const BIN: &str = env!("CARGO_BIN_EXE_magpkg");

/// A value every dialect must carry intact (a JSON string is a Jsonnet one).
const HOSTILE: &str = "it's $HOME `id` $(id) \"q\" \\ -e\n  line two, é 日本 ; | &";

/// A trusted project whose own `bin` (its manifest's `path`) is already on
/// the caller's `PATH`, in the middle: the case where the old code paths
/// disagreed (doubled, or moved, or left alone).
struct Fixture {
    t: TestEnv,
    root: PathBuf,
    /// The caller's `PATH`.
    path: String,
}

impl Fixture {
    fn new() -> Fixture {
        let t = TestEnv::new();
        let root = std::fs::canonicalize(t.home()).unwrap().join("proj");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(
            root.join("magnet.jsonnet"),
            format!(
                "{{\n  packages: [],\n  path: ['bin'],\n  env: {{ GREETING: 'hi there', HOSTILE: {} }},\n  scripts: {{ path: 'printenv PATH', hostile: 'printenv HOSTILE' }},\n}}\n",
                serde_json::to_string(HOSTILE).unwrap()
            ),
        )
        .unwrap();
        let path = format!("/usr/bin:{}:/bin", root.join("bin").display());
        let f = Fixture { t, root, path };
        let out = f.cmd(&f.root).arg("allow").output().unwrap();
        assert!(out.status.success(), "allow: {}", common::stderr(&out));
        f
    }

    /// magpkg in `cwd` with the caller's `PATH`.
    fn cmd(&self, cwd: &Path) -> Command {
        let mut c = self.t.in_dir(cwd);
        c.env("PATH", &self.path);
        c
    }

    /// `program args` run with this fixture's environment in `cwd`: its
    /// stdout, which must be a success.
    fn run(&self, cwd: &Path, program: &Path, args: &[&str]) -> String {
        // The same variables magpkg gets, for another program.
        let template = self.cmd(cwd);
        let mut c = Command::new(program);
        c.env_clear();
        for (k, v) in template.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        let out = c.current_dir(cwd).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{} {args:?}: {}\n{}",
            program.display(),
            common::stderr(&out),
            common::stdout(&out)
        );
        common::stdout(&out)
    }

    /// `probe` (shell code printing something) run by the hook of `shell`
    /// after `cd` into the project, then again after `cd` back out.
    fn hook(&self, shell: &str, probe: &str) -> String {
        let root = self.root.display();
        let outside = self.t.home().display();
        let (args, script) = match shell {
            "bash" => (
                vec!["--noprofile", "--norc", "-euo", "pipefail", "-c"],
                format!("eval \"$('{BIN}' hook bash)\"; cd '{root}'; _magpkg_hook 2>/dev/null; {probe}; cd '{outside}'; _magpkg_hook 2>/dev/null; {probe}"),
            ),
            "zsh" => (
                vec!["--no-rcs", "-c"],
                format!("eval \"$('{BIN}' hook zsh)\"; cd '{root}' 2>/dev/null; _magpkg_hook 2>/dev/null; {probe}; cd '{outside}' 2>/dev/null; _magpkg_hook 2>/dev/null; {probe}"),
            ),
            "fish" => (
                vec!["--no-config", "-c"],
                format!("'{BIN}' hook fish | source; cd '{root}' 2>/dev/null; _magpkg_hook 2>/dev/null; {probe}; cd '{outside}' 2>/dev/null; _magpkg_hook 2>/dev/null; {probe}"),
            ),
            _ => unreachable!("no hook for {shell}"),
        };
        let mut args = args;
        args.push(&script);
        self.run(self.t.home(), &require(shell), &args)
    }

    /// What the environment's `PATH` must be: the project's `bin` moved to
    /// the front, the rest of the caller's `PATH` as it was.
    fn expected_path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.root.join("bin").display())
    }
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{c:?}: {}", common::stderr(&out));
    common::stdout(&out)
}

#[test]
fn shell_run_hook_and_env_give_the_same_path() {
    let f = Fixture::new();
    let expected = f.expected_path();

    // `magpkg shell` (this also realises the environment for the others).
    let shell = ok(f.cmd(&f.root).args(["shell", "--", "printenv", "PATH"]));
    assert_eq!(shell.trim_end(), expected, "magpkg shell");

    let run = ok(f.cmd(&f.root).args(["run", "path"]));
    assert_eq!(run.trim_end(), expected, "magpkg run");

    // `eval "$(magpkg env --format sh)"` in a real POSIX sh.
    let sh = f.run(
        &f.root,
        &require("dash"),
        &[
            "-c",
            &format!("eval \"$('{BIN}' env --format sh)\"; printenv PATH; printenv GREETING"),
        ],
    );
    assert_eq!(sh, format!("{expected}\nhi there\n"), "magpkg env --format sh in dash");

    let json: serde_json::Value = serde_json::from_str(&ok(f.cmd(&f.root).args(["env", "--format", "json"]))).unwrap();
    assert_eq!(json["vars"]["PATH"], expected.as_str(), "magpkg env --format json");

    // The hook after `cd`, in each shell it supports; and leaving restores
    // the caller's PATH exactly (the entry it already had stays where it was).
    for shell in ["bash", "zsh", "fish"] {
        assert_eq!(
            f.hook(shell, "printenv PATH"),
            format!("{expected}\n{}\n", f.path),
            "{shell}: the hook's PATH inside, then after leaving"
        );
    }
}

#[test]
fn a_hostile_value_arrives_intact_everywhere() {
    let f = Fixture::new();
    let want = format!("{HOSTILE}\n");
    let shell = ok(f.cmd(&f.root).args(["shell", "--", "printenv", "HOSTILE"]));
    assert_eq!(shell, want, "magpkg shell");
    assert_eq!(ok(f.cmd(&f.root).args(["run", "hostile"])), want, "magpkg run");
    let sh = f.run(
        &f.root,
        &require("dash"),
        &["-c", &format!("eval \"$('{BIN}' env --format sh)\"; printenv HOSTILE")],
    );
    assert_eq!(sh, want, "magpkg env --format sh in dash");
    let json: serde_json::Value = serde_json::from_str(&ok(f.cmd(&f.root).args(["env", "--json"]))).unwrap();
    assert_eq!(json["vars"]["HOSTILE"], HOSTILE, "magpkg env --json");
    for shell in ["bash", "zsh", "fish"] {
        // Inside: the value; outside: unset again (printenv fails, so `|| echo`).
        assert_eq!(
            f.hook(shell, "printenv HOSTILE || echo unset"),
            format!("{want}unset\n"),
            "{shell}"
        );
    }
}

#[test]
fn a_caller_without_the_entry_gets_it_once_in_front() {
    let mut f = Fixture::new();
    f.path = "/usr/bin:/bin".into();
    let shell = ok(f.cmd(&f.root).args(["shell", "--", "printenv", "PATH"]));
    assert_eq!(shell.trim_end(), f.expected_path());
    let sh = f.run(
        &f.root,
        &require("dash"),
        &["-c", &format!("eval \"$('{BIN}' env --format sh)\"; printenv PATH")],
    );
    assert_eq!(sh.trim_end(), f.expected_path());
}

/// The prompt's fast path now goes through `dialect` and `env::diff`: it
/// must still link no Jsonnet evaluator and no HTTP stack (the reason the
/// small binary exists). The main binary is the control: the same search
/// finds them there.
#[test]
fn the_hook_binary_links_no_evaluator_and_no_http_stack() {
    let nm = require("nm");
    let symbols = |bin: &str| {
        let out = Command::new(&nm).arg(bin).output().unwrap();
        assert!(out.status.success(), "nm {bin}: {}", common::stderr(&out));
        common::stdout(&out)
    };
    let forbidden = ["jrsonnet", "reqwest", "hyper", "rustls", "librqbit"];
    let main = symbols(BIN);
    for f in forbidden {
        assert!(main.contains(f), "the control failed: no {f} in magpkg");
    }
    let hook = symbols(env!("CARGO_BIN_EXE_magpkg-hook"));
    assert!(hook.contains("dialect"), "magpkg-hook has no symbols to search");
    for f in forbidden {
        assert!(!hook.contains(f), "magpkg-hook links {f}");
    }
}
