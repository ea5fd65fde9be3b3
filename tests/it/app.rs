//! `magpkg app`: portable app directories in the mpkg format, run for real
//! (compiled ELF programs, shebang scripts, bwrap sandboxes, AppImages
//! built with squashfs-tools, desktop-file-validate).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::appimage::{build_appimage, compile, install_args};
use crate::support::snapshot::assert_snapshot;
use crate::support::{
    magpkg_bin, path_without, require, show, stderr, stdout, write, write_exe as write_exec, TestContext,
};

/// A test's context, with `work/` as the directory magpkg runs in.
fn world() -> TestContext {
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.path("work")).unwrap();
    ctx
}

/// The same, with a PATH that surely lacks wine: what magpkg does without
/// it is then the same on every machine.
fn world_without_wine() -> TestContext {
    world().with_path(path_without(&["wine"]))
}

/// The app commands of a test, on top of its [`TestContext`].
trait Apps {
    /// The directory of app `name` under MAGPKG_APPS.
    fn app(&self, name: &str) -> PathBuf;
    /// `magpkg` run in `work/`.
    fn app_cmd(&self) -> Command;
    fn magpkg(&self, args: &[&str]) -> Output;
    /// Run and require success; returns stdout.
    fn ok(&self, args: &[&str]) -> String;
    fn show_json(&self, target: &str) -> Value;
}

impl Apps for TestContext {
    fn app(&self, name: &str) -> PathBuf {
        self.apps_dir().join(name)
    }

    fn app_cmd(&self) -> Command {
        self.in_dir(self.path("work"))
    }

    fn magpkg(&self, args: &[&str]) -> Output {
        self.app_cmd().args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.magpkg(args);
        assert!(o.status.success(), "magpkg {args:?} failed: {}", show(&o));
        String::from_utf8(o.stdout).unwrap()
    }

    fn show_json(&self, target: &str) -> Value {
        serde_json::from_str(&self.ok(&["app", "show", "--json", target])).unwrap()
    }
}

/// A text of `tests/fixtures/app/`.
fn fixture(name: &str) -> String {
    fs::read_to_string(crate::support::fixture("app").join(name)).unwrap()
}

/// Prints `ELF` then each argument in brackets, one per line; exits 7.
const ARGS_C: &str = r#"#include <stdio.h>
int main(int argc, char **argv) {
    printf("ELF\n");
    for (int i = 1; i < argc; i++) printf("[%s]\n", argv[i]);
    return 7;
}
"#;

/// The same in sh: the script reports which interpreter ran it.
const ARGS_SH: &str = "#!/bin/sh\necho SH\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n";

/// A minimal PE header: MZ stub, `PE\0\0`, COFF header, optional-header magic.
fn pe_bytes(machine: u16, dll: bool) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[0] = b'M';
    b[1] = b'Z';
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
    b[0x94..0x96].copy_from_slice(&0xf0u16.to_le_bytes());
    let ch: u16 = 0x0002 | if dll { 0x2000 } else { 0 };
    b[0x96..0x98].copy_from_slice(&ch.to_le_bytes());
    let magic: u16 = if machine == 0x14c { 0x10b } else { 0x20b };
    b[0x98..0x9a].copy_from_slice(&magic.to_le_bytes());
    b
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// The seed's app: its MPKG and .mpkg texts as the README writes them, a
/// real ELF for `runme-linux64-v2.3.0`, a Windows build, and a script
/// variant (the only one the seed's .mpkg leaves enabled: it disables both
/// variants it names).
fn seed_app(w: &TestContext) -> PathBuf {
    let app = w.app("runme");
    let linux = app.join("package/runme-linux64-v2.3.0");
    write(&linux.join("MPKG"), fixture("seed-MPKG"));
    compile(&linux.join("runme"), ARGS_C, false);
    let win = app.join("package/runme-win64-v0.1.0");
    write(
        &win.join("MPKG"),
        "version = '0.1.0'\ncontent = [{'name': 'runme', 'file': '$MPKG_PACKAGE/runme.exe', 'args': '$MPKG_ARGS /config %MPKG_DATA%'}]\n",
    );
    write(&win.join("runme.exe"), pe_bytes(0x8664, false));
    let script = app.join("package/runme-script-v1");
    write(
        &script.join("MPKG"),
        "version = '1'\ncontent = [{\n\t'name' : 'runme',\n\t'file' : '$MPKG_PACKAGE/runme.sh',\n\t'args' : '$MPKG_ARGS --use-config \"$MPKG_DATA\"',\n\t}]\n",
    );
    write_exec(&script.join("runme.sh"), ARGS_SH);
    write(&app.join("runme.mpkg"), fixture("seed.mpkg"));
    app
}

const NASTY: &[&str] = &[
    "a b",
    "it's \"quoted\"",
    "$(touch pwned)",
    "; touch pwned2",
    "`id`",
    "*",
    "",
];

fn nasty_expected(data: &Path) -> Vec<String> {
    let mut v: Vec<String> = NASTY.iter().map(|a| format!("[{a}]")).collect();
    v.push("[--use-config]".into());
    v.push(format!("[{}]", data.display()));
    v
}

#[test]
fn seed_texts_parse_as_written_and_drive_a_real_run() {
    let w = world();
    let app = seed_app(&w);
    let j = w.show_json("runme");
    assert_eq!(j["notes"], "this is an example\nðŸ˜€");
    assert_eq!(j["run_default"], "runme");
    assert_eq!(
        j["prefered_variants"],
        serde_json::json!(["runme-win64-v0.1.0", "runme-linux64-v2.3.0"])
    );
    assert_eq!(j["add_to_path"], serde_json::json!(["runme"]));
    // The seed's `...` placeholder is read (and reported), not an error.
    let warnings = j["warnings"].to_string();
    assert!(warnings.contains("placeholder"), "{warnings}");

    // Both seed-named variants are disabled by the seed's own .mpkg: the
    // script variant runs, and the shebang was detected.
    let mut args = vec!["app", "run", "runme", "--"];
    args.extend(NASTY);
    let o = w.magpkg(&args);
    assert!(o.status.success(), "{}", show(&o));
    let out = stdout(&o);
    let got = lines(&out);
    assert_eq!(got[0], "SH");
    assert_eq!(got[1..], nasty_expected(&app.join("data")));
    assert!(!w.path("work/pwned").exists() && !w.path("work/pwned2").exists());
    let v = &j["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "runme-script-v1")
        .unwrap()["entry"];
    assert_eq!(v["type"], "script-sh");
    assert_eq!(v["detected"], serde_json::json!(["type"]));
    assert_snapshot!(&w, "app_show_runme", &w.ok(&["app", "show", "runme"]));

    // The ELF variant, forced: compatible_100 makes it run sandboxed, and
    // its exit status is magpkg's.
    let mut args = vec!["app", "run", "--variant", "runme-linux64-v2.3.0", "runme", "--"];
    args.extend(NASTY);
    let o = w.magpkg(&args);
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));
    let out = stdout(&o);
    let got = lines(&out);
    assert_eq!(got[0], "ELF");
    assert_eq!(got[1..], nasty_expected(&app.join("data")));
    assert!(app.join("data").is_dir());
}

#[test]
fn preferred_order_skips_what_cannot_run_here() {
    let w = world_without_wine();
    let app = seed_app(&w);
    // Without the seed's disabled list, its preferred order applies: the
    // Windows build first (rejected: no wine here), then the Linux ELF.
    let text = fixture("seed.mpkg").replace("disabled_variants", "# disabled_variants");
    write(&app.join("runme.mpkg"), text);
    let j = w.show_json("runme");
    let by_name = |n: &str| {
        j["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == n)
            .unwrap()
            .clone()
    };
    let win = by_name("runme-win64-v0.1.0");
    // No wine on this test's PATH.
    assert!(win["rejected"].as_str().unwrap().contains("wine"), "{win}");
    assert_eq!(win["entry"]["os"], "windows");
    assert_eq!(win["entry"]["architecture"], "amd64");
    let linux = by_name("runme-linux64-v2.3.0");
    assert_eq!(linux["rank"], 0);
    assert_eq!(linux["preferred"], true);
    assert_eq!(by_name("runme-script-v1")["preferred"], false);
    let o = w.magpkg(&["app", "run", "runme", "--", "x"]);
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));
    assert!(stdout(&o).starts_with("ELF\n[x]\n"));
}

#[test]
fn windows_variant_without_wine_is_a_clear_error() {
    let w = world_without_wine();
    seed_app(&w);
    let o = w.magpkg(&["app", "run", "--variant", "runme-win64-v0.1.0", "runme"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(e.contains("is a Windows program and wine is not installed"), "{e}");
    assert!(e.contains("hint: install wine"), "{e}");
}

/// A variant with one entry; `fields` are extra MPKG entry keys.
fn variant(w: &TestContext, app: &str, name: &str, version: &str, file: &str, fields: &str) -> PathBuf {
    let d = w.app(app).join("package").join(name);
    write(
        &d.join("MPKG"),
        format!("version = '{version}'\ncontent = [{{'name': '{app}', 'file': '$MPKG_PACKAGE/{file}'{fields}}}]\n"),
    );
    d
}

#[test]
fn selection_across_os_arch_preferred_and_disabled() {
    let w = world_without_wine();
    // Real ELF files: the host's (amd64 on CI) and an arm64 one (the same
    // file with e_machine set to AArch64), a minimal PE, explicit values.
    let a = variant(&w, "tool", "tool-linux-amd64-1.9", "1.9", "tool", "");
    compile(&a.join("tool"), ARGS_C, false);
    let b = variant(&w, "tool", "tool-linux-amd64-1.10", "1.10", "tool", "");
    compile(&b.join("tool"), ARGS_C, true);
    let c = variant(&w, "tool", "tool-linux-arm64-2.0", "2.0", "tool", "");
    let mut elf = fs::read(a.join("tool")).unwrap();
    elf[18..20].copy_from_slice(&183u16.to_le_bytes());
    write_exec(&c.join("tool"), elf);
    let d = variant(&w, "tool", "tool-win32-3.0", "3.0", "tool.exe", "");
    write(&d.join("tool.exe"), pe_bytes(0x14c, false));
    // An explicit value overrides detection: this ELF claims to be arm64.
    let e = variant(
        &w,
        "tool",
        "tool-claims-arm64-4.0",
        "4.0",
        "tool",
        ", 'architecture': 'aarch64'",
    );
    compile(&e.join("tool"), ARGS_C, false);
    let f = variant(&w, "tool", "tool-dll-5.0", "5.0", "tool.dll", ", 'os': 'windows'");
    write(&f.join("tool.dll"), pe_bytes(0xaa64, true));

    let ranks = |w: &TestContext| -> Vec<(String, Value, Value)> {
        let j = w.show_json("tool");
        j["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["rank"].clone(),
                    v["rejected"].clone(),
                )
            })
            .collect()
    };
    let j = w.show_json("tool");
    let entry = |n: &str| {
        j["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == n)
            .unwrap()["entry"]
            .clone()
    };
    assert_eq!(entry("tool-linux-amd64-1.10")["type"], "binary");
    assert_eq!(entry("tool-linux-amd64-1.10")["os"], "linux");
    assert_eq!(entry("tool-linux-amd64-1.10")["architecture"], "amd64");
    assert_eq!(
        entry("tool-linux-amd64-1.9")["type"],
        "binary",
        "a PIE is a program, not a library"
    );
    assert_eq!(entry("tool-linux-arm64-2.0")["architecture"], "arm64");
    assert_eq!(entry("tool-win32-3.0")["os"], "windows");
    assert_eq!(entry("tool-win32-3.0")["architecture"], "i386");
    assert_eq!(entry("tool-claims-arm64-4.0")["architecture"], "arm64");
    assert_eq!(
        entry("tool-claims-arm64-4.0")["detected"],
        serde_json::json!(["type", "os"]),
        "architecture was written, not detected"
    );
    assert_eq!(entry("tool-dll-5.0")["type"], "library");
    assert_eq!(entry("tool-dll-5.0")["architecture"], "arm64");

    // Newest native first: 1.10 > 1.9 (numeric, not text, comparison).
    let r = ranks(&w);
    let get = |r: &[(String, Value, Value)], n: &str| r.iter().find(|x| x.0 == n).unwrap().clone();
    assert_eq!(get(&r, "tool-linux-amd64-1.10").1, 0);
    assert_eq!(get(&r, "tool-linux-amd64-1.9").1, 1);
    assert!(get(&r, "tool-linux-arm64-2.0")
        .2
        .as_str()
        .unwrap()
        .contains("made for arm64"));
    assert!(get(&r, "tool-claims-arm64-4.0")
        .2
        .as_str()
        .unwrap()
        .contains("made for arm64"));
    assert!(get(&r, "tool-dll-5.0").2.as_str().unwrap().contains("not a program"));

    // Preferred variants first, in their order; an unusable preferred one
    // is skipped.
    write(
        &w.app("tool").join("tool.mpkg"),
        "prefered_variants = 'tool-linux-arm64-2.0, tool-linux-amd64-1.9'\n",
    );
    let r = ranks(&w);
    assert_eq!(get(&r, "tool-linux-amd64-1.9").1, 0);
    assert_eq!(get(&r, "tool-linux-amd64-1.10").1, 1);
    let o = w.magpkg(&["app", "run", "tool", "--", "p"]);
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));

    // Disabled variants are out; with nothing left the error lists every
    // variant and why.
    write(
        &w.app("tool").join("tool.mpkg"),
        "disabled_variants = ['tool-linux-amd64-1.9', 'tool-linux-amd64-1.10']\n",
    );
    let o = w.magpkg(&["app", "run", "tool"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(e.contains("no variant of `tool` can run"), "{e}");
    assert!(e.contains("tool-linux-amd64-1.9: disabled in disabled_variants"), "{e}");
    assert!(
        e.contains("tool-linux-arm64-2.0: made for arm64, this machine is amd64"),
        "{e}"
    );
    assert!(
        e.contains("tool-dll-5.0: `tool` is of type `library`, not a program"),
        "{e}"
    );
    assert!(
        e.contains("tool-win32-3.0: Windows program, and wine is not installed"),
        "{e}"
    );
    assert!(e.contains("hint:"), "{e}");

    let text = w.ok(&["app", "show", "tool"]);
    assert!(
        text.contains("tool-linux-arm64-2.0 (version 2.0): binary linux/arm64, rejected: made for arm64"),
        "{text}"
    );

    // --variant forces one, disabled or not; unknown names are reported.
    let o = w.magpkg(&["app", "run", "--variant", "tool-linux-amd64-1.9", "tool"]);
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));
    let o = w.magpkg(&["app", "run", "--variant", "nope", "tool"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("has no variant `nope`"), "{}", show(&o));
    fs::remove_file(b.join("tool")).unwrap();
    let o = w.magpkg(&["app", "run", "--variant", "tool-linux-amd64-1.10", "tool"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not exist"), "{}", show(&o));
}

#[test]
fn entries_and_run_default() {
    let w = world();
    let d = w.app("suite").join("package/suite-1");
    write(
        &d.join("MPKG"),
        "version = '1'\ncontent = [\n {'name': 'one', 'file': 'one.sh', 'args': 'ONE $MPKG_ARGS'},\n {'name': 'two', 'file': '%MPKG_PACKAGE%/two.sh'},\n {'name': 'lib', 'file': 'libx.so', 'type': 'library'},\n]\n",
    );
    write_exec(&d.join("one.sh"), ARGS_SH);
    // Not executable and no shebang: runs through the interpreter its type names.
    write(&d.join("two.sh"), "echo TWO \"$@\"\n");
    write(&d.join("libx.so"), "");
    fs::set_permissions(d.join("two.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    let o = w.magpkg(&["app", "run", "suite"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("several entries"), "{}", show(&o));
    // Neither executable nor recognisable: a clear error, not EACCES.
    let o = w.magpkg(&["app", "run", "suite:two"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("is not executable"), "{}", show(&o));
    assert_eq!(w.ok(&["app", "run", "suite:one", "--", "x"]), "SH\n[ONE]\n[x]\n");
    write(
        &d.join("MPKG"),
        fs::read_to_string(d.join("MPKG"))
            .unwrap()
            .replace("two.sh'}", "two.sh', 'type': 'script-sh'}"),
    );
    assert_eq!(w.ok(&["app", "run", "suite:two", "--", "y z"]), "TWO y z\n");
    write(&w.app("suite").join("suite.mpkg"), "run_default = 'two'\n");
    assert_eq!(w.ok(&["app", "run", "suite"]), "TWO\n");
    let o = w.magpkg(&["app", "run", "suite:lib"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("library"), "{}", show(&o));
    let o = w.magpkg(&["app", "run", "suite:nope"]);
    assert!(stderr(&o).contains("has no entry `nope`"), "{}", show(&o));
    let o = w.magpkg(&["app", "run", "suiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("did you mean `suite`"), "{}", show(&o));
}

#[test]
fn malformed_files_name_file_and_line_and_unknown_keys_warn() {
    let w = world();
    let d = variant(&w, "bad", "bad-1", "1", "run.sh", "");
    write_exec(&d.join("run.sh"), ARGS_SH);
    let mpkg = w.app("bad").join("bad.mpkg");
    write(
        &mpkg,
        "run_default = 'bad'\nnotes = __import__('os').system('touch pwned')\n",
    );
    let o = w.magpkg(&["app", "run", "bad"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(e.contains(&format!("{}:2:", mpkg.display())), "{e}");
    assert!(e.contains("function call"), "{e}");
    assert!(!w.path("work/pwned").exists());

    write(&mpkg, "run_default = 'bad'\nnotes = 'unterminated\n");
    let e = stderr(&w.magpkg(&["app", "show", "bad"]));
    assert!(
        e.contains(&format!("{}:2:", mpkg.display())) && e.contains("not closed"),
        "{e}"
    );

    write(
        &d.join("MPKG"),
        "version = '1'\ncontent = [\n  {'name': 'bad',\n   'file': 'run.sh'\n   'args': 'x'},\n]\n",
    );
    write(&mpkg, "run_default = 'bad'\n");
    let e = stderr(&w.magpkg(&["app", "run", "bad"]));
    assert!(e.contains(&format!("{}:5:", d.join("MPKG").display())), "{e}");

    // Unknown keys: kept, warned about with a suggestion, not fatal.
    write(
        &d.join("MPKG"),
        "version = '1'\nlicence = 'MIT'\ncontent = [{'name': 'bad', 'file': 'run.sh', 'icon': 'x.png'}]\n",
    );
    write(&mpkg, "run_default = 'bad'\nprefered_variant = 'bad-1'\n");
    let o = w.magpkg(&["app", "run", "bad", "--", "ok"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(stdout(&o), "SH\n[ok]\n");
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "warning: {}:2: unknown key `prefered_variant`",
            mpkg.display()
        )),
        "{e}"
    );
    assert!(e.contains("did you mean `prefered_variants`"), "{e}");
    assert!(e.contains("unknown key `licence`"), "{e}");
    assert!(e.contains("unknown entry key `icon`"), "{e}");
    let j = w.show_json("bad");
    assert_eq!(j["unknown_keys"]["prefered_variant"], "bad-1");
}

/// Issue 19, item 1: one broken variant must not block the whole app.
#[test]
fn a_broken_variant_is_skipped_with_one_warning_and_the_good_one_runs() {
    let w = world();
    let good = variant(&w, "pair", "pair-1", "1", "run.sh", "");
    write_exec(&good.join("run.sh"), ARGS_SH);
    // Newer, so it would win if it could be read.
    let bad = w.app("pair").join("package/pair-2");
    write(
        &bad.join("MPKG"),
        "version = '2'\ncontent = __import__('os').system('touch pwned')\n",
    );
    write_exec(&bad.join("run.sh"), "#!/bin/sh\necho WRONG\n");
    let warning = format!(
        "warning: skipping variant `pair-2`: {}:2: `__import__` is a function call; only literals are allowed \
         (strings, numbers, lists, dicts, True, False, None) and nothing is evaluated\n",
        bad.join("MPKG").display()
    );
    let o = w.magpkg(&["app", "run", "pair", "--", "hi"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(stdout(&o), "SH\n[hi]\n");
    assert_eq!(stderr(&o), warning);
    assert!(!w.path("work/pwned").exists());

    let o = w.magpkg(&["app", "list"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        lines(&stdout(&o))[1].split_whitespace().collect::<Vec<_>>(),
        ["pair", "1", "pair-1"]
    );
    assert_eq!(stderr(&o), warning);
    let j: Value = serde_json::from_str(&w.ok(&["app", "list", "--json"])).unwrap();
    assert_eq!(j[0]["selected"], "pair-1");
    let out = w.ok(&["app", "show", "pair"]);
    assert!(out.contains("  -  pair-2: skipped: "), "{out}");

    // Asked for by name, the broken variant's own error (once, no warning).
    let o = w.magpkg(&["app", "run", "--variant", "pair-2", "pair"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "error: {}:2: `__import__` is a function call",
            bad.join("MPKG").display()
        )),
        "{e}"
    );
    assert!(!e.contains("warning"), "{e}");

    // Every variant broken: the error names each, with its file and line.
    write(
        &good.join("MPKG"),
        "version = '1'\ncontent = [{'name': 'pair', 'file': 'run.sh'}\n",
    );
    let o = w.magpkg(&["app", "run", "pair"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "error: no variant of `pair` can run here:\n  \
             pair-1: skipped: {}:2: `[` is never closed\n  \
             pair-2: skipped: {}:2: `__import__` is a function call; only literals are allowed \
             (strings, numbers, lists, dicts, True, False, None) and nothing is evaluated\n\
             hint: edit prefered_variants/disabled_variants in the app's .mpkg, or force one with --variant\n",
            good.join("MPKG").display(),
            bad.join("MPKG").display()
        )
    );
}

/// Issue 19, item 2: a variant name in prefered_variants/disabled_variants
/// that the app does not have is a typo until shown otherwise.
#[test]
fn unknown_variant_names_in_settings_warn_with_the_closest_one() {
    let w = world();
    for (name, version) in [("typo-1.0", "1.0"), ("typo-2.0", "2.0")] {
        let d = variant(&w, "typo", name, version, "run.sh", "");
        write_exec(&d.join("run.sh"), format!("#!/bin/sh\necho {name}\n"));
    }
    let mpkg = w.app("typo").join("typo.mpkg");
    // The typo in disabled_variants leaves typo-2.0 enabled (and newest);
    // the one in prefered_variants puts nothing first.
    write(
        &mpkg,
        "notes = 'x'\nprefered_variants = 'typo-1.O'\ndisabled_variants = ['typo-2,0', 'nothing-like-it']\n",
    );
    let o = w.magpkg(&["app", "run", "typo"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(stdout(&o), "typo-2.0\n");
    let m = mpkg.display();
    assert_eq!(
        stderr(&o),
        format!(
            "warning: {m}:2: `prefered_variants` names `typo-1.O`, which is not a variant of `typo` (ignored; did you mean `typo-1.0`?)\n\
             warning: {m}:3: `disabled_variants` names `typo-2`, which is not a variant of `typo` (ignored; did you mean `typo-2.0`?)\n\
             warning: {m}:3: `disabled_variants` names `0`, which is not a variant of `typo` (ignored; it has: typo-1.0, typo-2.0)\n\
             warning: {m}:3: `disabled_variants` names `nothing-like-it`, which is not a variant of `typo` (ignored; it has: typo-1.0, typo-2.0)\n"
        )
    );
    // The correctly spelled alias is named as written; fixed, the names apply.
    write(&mpkg, "preferred_variants = 'typo-1.o'\n");
    let e = stderr(&w.magpkg(&["app", "show", "typo"]));
    assert_eq!(
        e,
        format!("warning: {m}:1: `preferred_variants` names `typo-1.o`, which is not a variant of `typo` (ignored; did you mean `typo-1.0`?)\n")
    );
    write(
        &mpkg,
        "prefered_variants = 'typo-1.0'\ndisabled_variants = 'typo-2.0'\n",
    );
    let o = w.magpkg(&["app", "run", "typo"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("typo-1.0\n", ""));
}

#[test]
fn apps_added_and_removed_by_hand_are_seen_at_once() {
    let w = world();
    assert!(w.ok(&["app", "list"]).contains("no apps"));
    let d = variant(&w, "hand", "hand-1", "1", "run.sh", "");
    write_exec(&d.join("run.sh"), ARGS_SH);
    write(&w.app("hand").join("hand.mpkg"), "notes = 'made with a text editor'\n");
    let out = w.ok(&["app", "list"]);
    assert!(
        out.contains("hand") && out.contains("hand-1") && out.contains("made with a text editor"),
        "{out}"
    );
    let j: Value = serde_json::from_str(&w.ok(&["app", "list", "--json"])).unwrap();
    assert_eq!(j[0]["name"], "hand");
    assert_eq!(j[0]["selected"], "hand-1");
    // A second variant dropped in by hand: an AppDir without MPKG.
    let appdir = w.app("hand").join("package/hand-2");
    write_exec(&appdir.join("AppRun"), "#!/bin/sh\necho APPDIR=$APPDIR\n");
    write(
        &d.join("MPKG"),
        "version = '1'\ncontent = [{'name': 'hand', 'file': 'run.sh'}]\n",
    );
    let out = w.ok(&["app", "run", "--variant", "hand-2", "hand"]);
    assert_eq!(out, format!("APPDIR={}\n", appdir.display()));
    fs::remove_dir_all(w.app("hand")).unwrap();
    assert!(w.ok(&["app", "list"]).contains("no apps"));
}

#[test]
fn launchers_work_from_any_directory_and_desktop_files_validate() {
    let w = world();
    let app = seed_app(&w);
    // With the seed's .mpkg as written, the script variant is the one that runs.
    let o = w.magpkg(&["app", "integrate", "runme"]);
    assert!(o.status.success(), "{}", show(&o));
    let launcher = w.bin_dir().join("runme");
    assert!(launcher.is_file());
    let desktop = w.applications_dir().join("magpkg-app-runme-runme.desktop");
    assert!(desktop.is_file(), "{}", show(&o));

    // The launcher, called by name from another directory with a bare
    // environment (no MAGPKG_APPS), finds its app.
    let elsewhere = tempfile::tempdir().unwrap();
    let path = format!("{}:/usr/bin:/bin", w.bin_dir().display());
    let o = Command::new("sh")
        .arg("-c")
        .arg("runme \"$@\"")
        .arg("sh")
        .args(["with space", "$(id)"])
        .env_clear()
        .env("PATH", &path)
        .env("HOME", w.home())
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "SH\n[with space]\n[$(id)]\n[--use-config]\n[{}]\n",
            app.join("data").display()
        )
    );

    let v = Command::new(require("desktop-file-validate"))
        .arg(&desktop)
        .output()
        .unwrap();
    assert!(v.status.success() && v.stdout.is_empty(), "{}", show(&v));
    let text = fs::read_to_string(&desktop).unwrap();
    assert!(text.contains("X-Magpkg-App=runme"), "{text}");

    // A file magpkg did not write is never replaced.
    write(&w.bin_dir().join("other"), "#!/bin/sh\necho mine\n");
    write(
        &app.join("runme.mpkg"),
        fixture("seed.mpkg").replace("add_to_path = 'runme'", "add_to_path = 'other'"),
    );
    let o = w.magpkg(&["app", "integrate"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(stderr(&o).contains("was not written by magpkg"), "{}", show(&o));
    assert_eq!(
        fs::read_to_string(w.bin_dir().join("other")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    assert!(!launcher.exists(), "the launcher no longer asked for is removed");

    // remove: the integration goes, the app stays.
    write(&app.join("runme.mpkg"), fixture("seed.mpkg"));
    w.ok(&["app", "integrate"]);
    assert!(launcher.exists());
    let o = w.magpkg(&["app", "remove", "runme"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(!launcher.exists() && !desktop.exists());
    assert!(w.bin_dir().join("other").exists());
    assert!(app.join("runme.mpkg").exists());
}

#[test]
fn integrate_all_cleans_up_after_apps_deleted_by_hand() {
    let w = world();
    seed_app(&w);
    w.ok(&["app", "integrate"]);
    assert!(w.bin_dir().join("runme").exists());
    fs::remove_dir_all(w.app("runme")).unwrap();
    let o = w.magpkg(&["app", "integrate"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(!w.bin_dir().join("runme").exists());
    assert!(!w.applications_dir().join("magpkg-app-runme-runme.desktop").exists());
}

#[test]
fn purge_never_deletes_data_without_asking() {
    let w = world();
    let app = seed_app(&w);
    w.ok(&["app", "integrate", "runme"]);
    write(&app.join("data/settings.ini"), "precious");
    // Not a terminal: data stays, and magpkg says so.
    let o = w
        .cmd()
        .args(["app", "remove", "--purge", "runme"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(stderr(&o).contains("kept its data"), "{}", show(&o));
    assert_eq!(fs::read_to_string(app.join("data/settings.ini")).unwrap(), "precious");
    assert!(!app.join("package").exists() && !app.join("runme.mpkg").exists());
    assert!(!w.bin_dir().join("runme").exists());
    // Confirmed explicitly: everything goes.
    w.ok(&["app", "remove", "--purge", "--purge-data", "runme"]);
    assert!(!app.exists());
    let o = w.magpkg(&["app", "remove", "runme"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
}

#[test]
fn purge_asks_on_a_terminal() {
    // `script` gives magpkg a pseudo-terminal; the answer comes on its stdin.
    require("script");
    for (answer, kept) in [("n", true), ("y", false)] {
        let w = world();
        let app = seed_app(&w);
        write(&app.join("data/settings.ini"), "precious");
        let cmd = format!("{} app remove --purge runme", magpkg_bin().display());
        let mut c = w.command("script");
        c.args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut p = c.spawn().unwrap();
        {
            use std::io::Write;
            let mut stdin = p.stdin.take().unwrap();
            stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        }
        let o = p.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        assert!(stdout(&o).contains("[y/N]"), "{}", show(&o));
        assert_eq!(app.join("data/settings.ini").exists(), kept, "{}", show(&o));
    }
}

#[test]
fn sandboxed_app_cannot_write_outside_data() {
    let w = world();
    // Outside /tmp too (the sandbox writes to the host's /tmp), where the
    // host is writable: /var/tmp, never under /tmp (the checkout, and so
    // CARGO_TARGET_TMPDIR, may be).
    let outside = tempfile::tempdir_in("/var/tmp").unwrap();
    let d = w.app("boxed").join("package/boxed-1");
    write(
        &d.join("MPKG"),
        "version = '1'\ncompatible_100 = '1'\ncontent = [{'name': 'boxed', 'file': 'try.sh', 'args': '\"$MPKG_DATA\" \"$MPKG_PACKAGE\" $MPKG_ARGS'}]\n",
    );
    write_exec(
        &d.join("try.sh"),
        "#!/bin/sh\ndata=$1; pkg=$2; shift 2\n\
         for t in \"$data/ok\" \"$pkg/bad\" \"$@\"; do\n\
           if echo x 2>/dev/null > \"$t\"; then echo \"wrote $t\"; else echo \"denied $t\"; fi\n\
         done\n",
    );
    let targets = [
        w.home().join("bad"),
        outside.path().join("bad"),
        w.path("work/bad"),
        w.app("boxed").join("bad"),
    ];
    let mut args: Vec<String> = ["app", "run", "boxed", "--"].map(String::from).to_vec();
    args.extend(targets.iter().map(|t| t.display().to_string()));
    let o = w.app_cmd().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("wrote {}/ok", w.app("boxed").join("data").display())),
        "{out}"
    );
    assert!(w.app("boxed").join("data/ok").exists());
    assert!(!d.join("bad").exists(), "{out}");
    for t in &targets {
        assert!(!t.exists(), "{} was written: {out}", t.display());
    }
    // The same run without the sandbox does write: the test can see writes.
    let mut args = args.clone();
    args.insert(2, "--no-sandbox".into());
    let o = w.app_cmd().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(targets[1].exists(), "{}", show(&o));
    // --sandbox applies it to an app that does not claim compatible_100.
    fs::remove_file(&targets[1]).unwrap();
    let mpkg = d.join("MPKG");
    write(
        &mpkg,
        fs::read_to_string(&mpkg)
            .unwrap()
            .replace("compatible_100 = '1'", "compatible_100 = '0'"),
    );
    let mut args = args.clone();
    args[2] = "--sandbox".into();
    let o = w.app_cmd().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(!targets[1].exists(), "{}", show(&o));
    // An apps root reached through a symlink still works: the real
    // directories are bound.
    let link = w.path("apps-link");
    std::os::unix::fs::symlink(w.apps_dir(), &link).unwrap();
    fs::remove_file(w.app("boxed").join("data/ok")).unwrap();
    let o = w.app_cmd().env("MAGPKG_APPS", &link).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(w.app("boxed").join("data/ok").exists(), "{}", show(&o));
}

/// Issue 19, item 4 (in part): a sandboxed app's write under /tmp used to
/// report success and land in a private tmpfs that vanished with the app.
#[test]
fn sandboxed_writes_to_tmp_reach_the_host_tmp() {
    let w = world();
    require("bwrap");
    let tmp = tempfile::Builder::new()
        .prefix("magpkg-it-")
        .tempdir_in("/tmp")
        .unwrap();
    write(&tmp.path().join("from-host"), "hello from the host\n");
    let d = w.app("saver").join("package/saver-1");
    write(
        &d.join("MPKG"),
        "version = '1'\ncompatible_100 = '1'\ncontent = [{'name': 'saver', 'file': 'save.sh'}]\n",
    );
    write_exec(
        &d.join("save.sh"),
        "#!/bin/sh\ncat \"$1/from-host\"\necho saved > \"$1/from-app\" && echo \"wrote $1/from-app\"\n\
         if echo x 2>/dev/null > \"$HOME/bad\"; then echo \"wrote $HOME/bad\"; fi\n",
    );
    let dir = tmp.path().display().to_string();
    let o = w.magpkg(&["app", "run", "saver", "--", &dir]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(stdout(&o), format!("hello from the host\nwrote {dir}/from-app\n"));
    assert_eq!(fs::read_to_string(tmp.path().join("from-app")).unwrap(), "saved\n");
    // The home directory stays read-only, even though the test's lies under /tmp.
    assert!(!w.home().join("bad").exists());
}

#[test]
fn appimage_installs_without_running_and_runs_through_apprun() {
    let w = world();
    let src = tempfile::tempdir().unwrap();
    let img = build_appimage(src.path(), "Hello", "gzip", &[]);
    let o = w
        .cmd()
        .current_dir(src.path())
        .args(["app", "install-appimage"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(!src.path().join("RUNTIME-RAN").exists() && !w.path("work/RUNTIME-RAN").exists());
    let app = w.app("hello");
    let variant = app.join("package/hello-1.2.3-amd64");
    assert_eq!(stdout(&o).trim(), variant.display().to_string());
    assert_eq!(
        fs::read_to_string(variant.join("usr/share/hello/greeting")).unwrap(),
        "hello from the image\n"
    );
    assert_eq!(
        fs::read_link(variant.join("greeting-link")).unwrap(),
        Path::new("usr/share/hello/greeting")
    );
    assert!(app.join("hello.mpkg").is_file() && app.join("data").is_dir());
    assert!(app.join("icon.png").is_file(), "the AppDir's icon becomes the app's");
    let mpkg = fs::read_to_string(variant.join("MPKG")).unwrap();
    assert!(
        mpkg.contains("origin = 'appimage Hello-1.2.3-x86_64.AppImage sha256:"),
        "{mpkg}"
    );

    // Installing integrated it: the launcher runs AppRun with the AppImage
    // variables, from any directory.
    let o = Command::new(w.bin_dir().join("hello"))
        .args(["two words", "--flag"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(src.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "APPDIR={v}\nAPPIMAGE={v}/AppRun\nARGV0=hello\n[two words]\n[--flag]\nhello from the image\n",
            v = variant.display()
        )
    );
    let desktop = w.applications_dir().join("magpkg-app-hello-hello.desktop");
    let text = fs::read_to_string(&desktop).unwrap();
    assert!(text.contains("Name=Hello\n"), "{text}");
    assert!(
        text.contains(&format!("Icon={}\n", app.join("icon.png").display())),
        "{text}"
    );
    assert!(
        text.contains("Categories=Utility;\n") && text.contains(" -- %F\n"),
        "{text}"
    );
    let v = Command::new(require("desktop-file-validate"))
        .arg(&desktop)
        .output()
        .unwrap();
    assert!(v.status.success() && v.stdout.is_empty(), "{}", show(&v));

    // An AppImage kept as a file in a variant is detected as one.
    let raw = app.join("package/hello-raw");
    write(
        &raw.join("MPKG"),
        "version = '0'\ncontent = [{'name': 'hello', 'file': 'hello.AppImage'}]\n",
    );
    fs::copy(&img, raw.join("hello.AppImage")).unwrap();
    let j = w.show_json("hello");
    let e = &j["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "hello-raw")
        .unwrap()["entry"];
    assert_eq!(e["appimage"], 2);
    assert_eq!(e["type"], "binary");
    assert_eq!(e["architecture"], "amd64");
    fs::remove_dir_all(&raw).unwrap();

    // The same AppImage again: the variant exists, nothing is touched.
    let o = w
        .app_cmd()
        .args(["app", "install-appimage"])
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("already exists"), "{}", show(&o));
    // Under another variant name it is a second variant; the settings the
    // user may have edited are kept.
    write(&app.join("hello.mpkg"), "run_default = 'hello'\nnotes = 'mine'\n");
    let o = w
        .cmd()
        .args(["app", "install-appimage", "--variant", "hello-again", "--no-integrate"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        fs::read_to_string(app.join("hello.mpkg")).unwrap(),
        "run_default = 'hello'\nnotes = 'mine'\n"
    );
    assert!(app.join("package/hello-again/AppRun").is_file());
}

#[test]
fn appimage_compressions_and_fallback() {
    let w = world();
    let src = tempfile::tempdir().unwrap();
    // zstd and xz through backhand; lzo, which backhand lacks, through unsquashfs.
    for (i, comp) in ["zstd", "xz", "lzo"].iter().enumerate() {
        let dir = src.path().join(comp);
        fs::create_dir_all(&dir).unwrap();
        let img = build_appimage(&dir, "Hello", comp, &[]);
        let name = format!("hello{i}");
        let o = w.magpkg(&install_args(&name, &img));
        assert!(o.status.success(), "{comp}: {}", show(&o));
        assert_eq!(
            stderr(&o).contains("extracted with unsquashfs"),
            *comp == "lzo",
            "{}",
            show(&o)
        );
        let out = w.ok(&["app", "run", &name, "--", "x"]);
        assert!(out.ends_with("[x]\nhello from the image\n"), "{comp}: {out}");
        assert!(!dir.join("RUNTIME-RAN").exists());
    }
}

#[test]
fn broken_appimages_are_refused_and_leave_nothing() {
    let w = world();
    let src = tempfile::tempdir().unwrap();
    let img = build_appimage(src.path(), "Hello", "gzip", &[]);
    // Truncated image: the runtime, the superblock and a little more.
    let bytes = fs::read(&img).unwrap();
    let offset = fs::metadata(src.path().join("runtime")).unwrap().len() as usize;
    let cut = src.path().join("cut.AppImage");
    write_exec(&cut, &bytes[..offset + 200]);
    let o = w.magpkg(&["app", "install-appimage", cut.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stderr(&o).contains("cut.AppImage"), "{}", show(&o));
    // No magic: a plain ELF.
    let plain = src.path().join("runtime");
    let o = w.magpkg(&["app", "install-appimage", plain.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("AppImage magic"), "{}", show(&o));
    let left: Vec<_> = fs::read_dir(w.apps_dir()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn appdir_installs_as_a_variant() {
    let w = world();
    let src = tempfile::tempdir().unwrap();
    let appdir = src.path().join("Tool.AppDir");
    write_exec(&appdir.join("AppRun"), "#!/bin/sh\necho \"tool $ARGV0 $*\"\n");
    let o = w.magpkg(&["app", "install-appdir", appdir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(w.ok(&["app", "run", "tool", "--", "a"]), "tool tool a\n");
    assert!(appdir.join("AppRun").exists(), "the source AppDir is copied, not moved");
    let o = w.magpkg(&["app", "install-appdir", src.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("has no AppRun"), "{}", show(&o));
}

#[test]
fn store_package_exports_as_an_app() {
    let w = world();
    let id = "0123456789abcdef0123456789abcdef";
    w.add_package(id, "greet", "2.0", &[], |tree| {
        write_exec(&tree.join("bin/greet"), ARGS_SH);
        write(&tree.join("share/doc/greet/README"), "doc");
    });
    let o = w.magpkg(&["app", "export", "greet"]);
    assert!(o.status.success(), "{}", show(&o));
    let variant = w.app("greet").join("package/greet-2.0-0123456789ab");
    assert_eq!(stdout(&o).trim(), variant.display().to_string());
    let mpkg = fs::read_to_string(variant.join("MPKG")).unwrap();
    assert!(mpkg.contains("'file' : '$MPKG_PACKAGE/bin/greet'"), "{mpkg}");
    assert!(
        mpkg.contains(&format!("origin = 'magpkg store package {id}'")),
        "{mpkg}"
    );
    assert_eq!(w.ok(&["app", "run", "greet", "--", "hi there"]), "SH\n[hi there]\n");
    // Again: nothing to do.
    let o = w.magpkg(&["app", "export", "0123"]);
    assert!(
        o.status.success() && stderr(&o).contains("already holds"),
        "{}",
        show(&o)
    );
    let o = w.magpkg(&["app", "export", "nothing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no package `nothing` in the store"), "{}", show(&o));
}

#[test]
fn build_without_a_definition_says_where_to_put_it() {
    let w = world();
    seed_app(&w);
    let o = w.magpkg(&["app", "build", "runme"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(
        e.contains("has no package definition in") && e.contains("src/package.jsonnet"),
        "{e}"
    );
}

#[test]
fn jsonnet_form_is_equivalent() {
    let w = world();
    let d = w.app("jt").join("package/jt-1");
    write(
        &d.join("MPKG.jsonnet"),
        r#"local entry(name) = { name: name, file: '$MPKG_PACKAGE/' + name + '.sh', args: '--from-jsonnet $MPKG_ARGS' };
{
  version: '1',
  compatible_100: false,
  content: [entry('jt'), entry('other')],
  extra_key: 'kept',
}
"#,
    );
    write_exec(&d.join("jt.sh"), ARGS_SH);
    write_exec(&d.join("other.sh"), ARGS_SH);
    write(
        &w.app("jt").join("jt.mpkg.jsonnet"),
        "{ run_default: 'other', prefered_variants: ['jt-1'], notes: 'from %s' % 'jsonnet' }\n",
    );
    let o = w.magpkg(&["app", "run", "jt", "--", "a b"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(stdout(&o), "SH\n[--from-jsonnet]\n[a b]\n");
    assert!(stderr(&o).contains("unknown key `extra_key`"), "{}", show(&o));
    let j = w.show_json("jt");
    assert_eq!(j["notes"], "from jsonnet");
    assert_eq!(j["run_default"], "other");
    // A Jsonnet error names the file and line.
    let bad = w.app("jt").join("jt.mpkg.jsonnet");
    write(&bad, "{\n  run_default: 'other',\n  notes: error 'broken here',\n}\n");
    let o = w.magpkg(&["app", "run", "jt"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(e.contains(&bad.display().to_string()) && e.contains(":3"), "{e}");
    // Both forms in one variant is ambiguous.
    write(&d.join("MPKG"), "version = '1'\n");
    write(&bad, "{}\n");
    let e = stderr(&w.magpkg(&["app", "run", "jt"]));
    assert!(e.contains("both MPKG and MPKG.jsonnet"), "{e}");
}

#[test]
fn build_makes_a_variant_from_the_definition_in_src() {
    let w = world();
    // The source, already in the store's cache (no network in tests).
    let t = tempfile::tempdir().unwrap();
    write_exec(&t.path().join("greet-1/bin/greet"), ARGS_SH);
    let tarball = t.path().join("greet-1.tar.gz");
    let o = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(t.path())
        .arg("greet-1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let store = w.open_store();
    let (sha, _) = store.add_source_file(&tarball, "greet-1.tar.gz", None, "test").unwrap();
    write(
        &w.app("greet").join("src/package.jsonnet"),
        format!(
            "{{ name: 'greet', version: '1', sources: [{{ filename: 'greet-1.tar.gz', sha256: '{sha}', urls: [] }}],\n  build: {{ builtin: 'unpack', stripComponents: 1 }} }}\n"
        ),
    );
    let o = w.magpkg(&["app", "build", "greet"]);
    assert!(o.status.success(), "{}", show(&o));
    let variant = PathBuf::from(stdout(&o).trim());
    assert!(variant.starts_with(w.app("greet").join("package")), "{}", show(&o));
    assert!(variant.join("MPKG").is_file());
    assert_eq!(w.ok(&["app", "run", "greet", "--", "x y"]), "SH\n[x y]\n");
    // Building again changes nothing.
    let o = w.magpkg(&["app", "build", "greet"]);
    assert!(
        o.status.success() && stderr(&o).contains("already holds"),
        "{}",
        show(&o)
    );
    // A broken definition: the eval error, with its file.
    write(
        &w.app("greet").join("src/package.jsonnet"),
        "{ name: 'greet', version: 1, build: 'x' }\n",
    );
    let o = w.magpkg(&["app", "build", "greet"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("package.jsonnet"), "{}", show(&o));
}
