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
    magpkg_bin, path_without, require, show, stderr, stdout, text, write, write_exe as write_exec, TestContext,
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

/// A file error names its path once, in fs-err's words (issue 11): the
/// sync's lock used to be named by `util::lock_exclusive` and again by
/// the app layer.
#[test]
fn an_unusable_sync_lock_is_named_once() {
    let w = world();
    seed_app(&w);
    let lock = w.state_dir().join("apps-integration.lock");
    fs::create_dir_all(&lock).unwrap();
    let o = w.magpkg(&["app", "integrate"]);
    assert_eq!(o.status.code(), Some(70), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("failed to open file `{}`", lock.display())),
        "{err}"
    );
    assert_eq!(err.matches(&*lock.to_string_lossy()).count(), 1, "{err}");
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

/// An app that tries what it is told: `r:PATH` reads, `w:PATH` writes
/// (saying why not), then makes a temporary file in `$TMPDIR`.
const TRIER: &str = "#!/bin/sh\nfor t in \"$@\"; do\n  p=${t#?:}\n  case $t in\n\
    r:*) if cat \"$p\" >/dev/null 2>&1; then echo \"read $p\"; else echo \"cannot read $p\"; fi;;\n\
    w:*) if err=$( { echo saved > \"$p\"; } 2>&1 ); then echo \"wrote $p\"; else echo \"cannot write $p: ${err##*: }\"; fi;;\n\
  esac\ndone\necho temp > \"$TMPDIR/t\" && echo \"temp file in $TMPDIR\"\n";

/// A `compatible_100` app running [`TRIER`].
fn trier_app(w: &TestContext, name: &str) -> PathBuf {
    let d = w.app(name).join(format!("package/{name}-1"));
    write(
        &d.join("MPKG"),
        format!("version = '1'\ncompatible_100 = '1'\ncontent = [{{'name': '{name}', 'file': 'try.sh'}}]\n"),
    );
    write_exec(&d.join("try.sh"), TRIER);
    w.app(name)
}

/// Issue 19, item 4: the sandbox hides the home directory, shows the
/// working directory and the host's /tmp read-only, and gives the app a
/// TMPDIR of its own at the same path inside and out; `.mpkg` keys and
/// flags grant paths read-only or read-write (`cwd`, `tmp`), or turn the
/// sandbox off. A write either reaches the host or fails with EROFS: it is
/// never swallowed by a private file system.
#[test]
fn sandbox_grants_paths_and_never_loses_a_write() {
    let w = world();
    require("bwrap");
    let app = trier_app(&w, "saver");
    let tmp = tempfile::Builder::new()
        .prefix("magpkg-it-")
        .tempdir_in("/tmp")
        .unwrap();
    let t = tmp.path().display().to_string();
    write(&tmp.path().join("from-host"), "hello\n");
    write(&w.path("work/doc-in"), "a document\n");
    write(&w.home().join("secret"), "private\n");
    write(&w.home().join("docs/a"), "shared\n");
    write(&w.home().join(".Xauthority"), "cookie\n");
    let h = w.home().display().to_string();
    let run = |extra: &[&str], tries: &[String]| -> String {
        let mut args: Vec<String> = ["app", "run"].map(String::from).to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("saver".into());
        args.push("--".into());
        args.extend(tries.iter().cloned());
        let o = w.app_cmd().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        stdout(&o) + &stderr(&o)
    };
    let tries: Vec<String> = [
        format!("r:{t}/from-host"),
        format!("w:{t}/from-app"),
        "r:doc-in".into(),
        "w:doc-out".into(),
        format!("r:{h}/secret"),
        format!("w:{h}/bad"),
        format!("r:{h}/docs/a"),
        format!("w:{h}/docs/b"),
        format!("r:{h}/.Xauthority"),
        format!("w:{h}/.Xauthority"),
    ]
    .to_vec();

    // The defaults.
    let out = run(&[], &tries);
    let temp_dir = out
        .lines()
        .find_map(|l| l.strip_prefix("temp file in "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    assert_eq!(
        lines(&out)[..7],
        [
            format!("read {t}/from-host"),
            format!("cannot write {t}/from-app: Read-only file system"),
            "read doc-in".into(),
            "cannot write doc-out: Read-only file system".into(),
            format!("cannot read {h}/secret"),
            format!("cannot write {h}/bad: Read-only file system"),
            format!("cannot read {h}/docs/a"),
        ],
        "{out}"
    );
    // The hidden home is empty: the directory is not there at all. The X11
    // cookie is there, read-only.
    assert!(
        lines(&out)[7].starts_with(&format!("cannot write {h}/docs/b: ")),
        "{out}"
    );
    assert_eq!(
        lines(&out)[8..10],
        [
            format!("read {h}/.Xauthority"),
            format!("cannot write {h}/.Xauthority: Read-only file system")
        ],
        "{out}"
    );
    assert!(!tmp.path().join("from-app").exists() && !w.path("work/doc-out").exists());
    // The temporary file is on the host, at the path the app saw.
    assert_eq!(fs::read_to_string(Path::new(&temp_dir).join("t")).unwrap(), "temp\n");
    assert!(temp_dir.ends_with("/saver"), "{temp_dir}");

    // Granted in the app's settings: it saves in the working directory and
    // in /tmp, reads ~/docs but cannot write there; the rest is as before.
    write(
        &app.join("saver.mpkg"),
        "sandbox_write = 'cwd, tmp'\nsandbox_read = ['~/docs', '~/not-there']\n",
    );
    let out = run(&[], &tries);
    assert_eq!(
        lines(&out)[..8],
        [
            format!("read {t}/from-host"),
            format!("wrote {t}/from-app"),
            "read doc-in".into(),
            "wrote doc-out".into(),
            format!("cannot read {h}/secret"),
            format!("cannot write {h}/bad: Read-only file system"),
            format!("read {h}/docs/a"),
            format!("cannot write {h}/docs/b: Read-only file system"),
        ],
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "warning: {h}/not-there is granted to the sandbox but does not exist"
        )),
        "{out}"
    );
    assert_eq!(fs::read_to_string(w.path("work/doc-out")).unwrap(), "saved\n");
    assert_eq!(fs::read_to_string(tmp.path().join("from-app")).unwrap(), "saved\n");
    // Even with /tmp writable, the home directory under it stays hidden
    // and the apps root read-only (this test's tree lies under /tmp).
    assert!(!w.home().join("bad").exists());
    let other = format!("w:{}", w.app("other").join("x").display());
    fs::create_dir_all(w.app("other")).unwrap();
    let out = run(&[], std::slice::from_ref(&other));
    assert!(out.contains("Read-only file system"), "{out}");
    fs::remove_file(w.path("work/doc-out")).unwrap();

    // The same from the command line, with a grant of a parent of the
    // working directory: the app saves where it runs.
    fs::remove_file(app.join("saver.mpkg")).unwrap();
    fs::create_dir_all(w.path("work/sub")).unwrap();
    let work = w.path("work").display().to_string();
    let o = w
        .in_dir(w.path("work/sub"))
        .args([
            "app",
            "run",
            "--sandbox-write",
            "..",
            "--sandbox-read",
            "~/docs",
            "saver",
            "--",
        ])
        .args(["w:doc-out", &format!("r:{h}/docs/a"), &format!("w:{t}/cli")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        lines(&stdout(&o))[..3],
        [
            "wrote doc-out".to_string(),
            format!("read {h}/docs/a"),
            format!("cannot write {t}/cli: Read-only file system"),
        ],
        "{}",
        show(&o)
    );
    assert!(Path::new(&work).join("sub/doc-out").exists());

    // `sandbox = False` turns it off; --sandbox turns it back on.
    write(&app.join("saver.mpkg"), "sandbox = False\n");
    let out = run(&[], &[format!("w:{h}/unboxed")]);
    assert!(out.starts_with(&format!("wrote {h}/unboxed\n")), "{out}");
    let out = run(&["--sandbox"], &[format!("w:{h}/boxed")]);
    assert!(out.starts_with(&format!("cannot write {h}/boxed:")), "{out}");
    // A grant on the command line of an unsandboxed run says it does nothing.
    let out = run(&["--sandbox-write", "cwd"], &[]);
    assert!(out.contains("do nothing without the sandbox"), "{out}");
    // A path that is not absolute, ~/..., cwd or tmp is an error in the file.
    write(&app.join("saver.mpkg"), "sandbox_write = 'docs'\n");
    let o = w.magpkg(&["app", "run", "saver"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("saver.mpkg:1: `sandbox_write` names `docs`: give an absolute path"),
        "{}",
        show(&o)
    );
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
        text.contains("Categories=Utility;\n") && text.contains(" hello:hello %F\n"),
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

/// The arguments of a desktop file's `Exec` (desktop entry spec: string
/// escapes, then double-quoted arguments), `%F` replaced by `files`.
fn desktop_exec(text: &str, files: &[&str]) -> Vec<String> {
    let raw = text
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .expect("an Exec line");
    let mut v = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            v.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => v.push(' '),
            Some('n') => v.push('\n'),
            Some('t') => v.push('\t'),
            Some('r') => v.push('\r'),
            Some(o) => v.push(o),
            None => {}
        }
    }
    let mut args: Vec<String> = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => args.extend(cur.take()),
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        q => w.push(q),
                    }
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    args.extend(cur);
    args.into_iter()
        .flat_map(|a| match a.as_str() {
            "%F" | "%U" => files.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            _ => vec![a.replace("%%", "%")],
        })
        .collect()
}

/// A plain app with two script entries, integrated by its settings.
fn follow_app(w: &TestContext, root: &Path, path_entry: &str) {
    let d = root.join("follow/package/follow-1");
    write(
        &d.join("MPKG"),
        "version = '1'\ncontent = [{'name': 'follow', 'file': 'run.sh'}, {'name': 'tool', 'file': 'run.sh'}]\n",
    );
    write_exec(&d.join("run.sh"), ARGS_SH);
    write(
        &root.join("follow/follow.mpkg"),
        format!("add_to_path = '{path_entry}'\nadd_to_apps = 'follow'\n"),
    );
    let _ = w;
}

/// Issue 19, item 3: launchers and menu entries follow the apps root
/// without `magpkg app integrate`: every `magpkg app` command (a launcher
/// included) brings them in step when the root changed; launchers and menu
/// entries find magpkg on PATH at run time, else where it was.
#[test]
fn launchers_follow_the_apps_root_without_a_command() {
    let w = world();
    let launcher = |n: &str| w.bin_dir().join(n);
    let desktop = w.applications_dir().join("magpkg-app-follow-follow.desktop");
    // An app copied in by hand: the next magpkg command integrates it.
    follow_app(&w, &w.apps_dir(), "follow");
    assert!(!launcher("follow").exists());
    w.ok(&["app", "list"]);
    assert!(launcher("follow").is_file() && desktop.is_file());
    // Editing add_to_path takes effect: the old launcher goes, the new comes.
    write(
        &w.app("follow").join("follow.mpkg"),
        "add_to_path = ['tool']\nadd_to_apps = 'follow'\n",
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let bare = |cmd: &Path| {
        let mut c = Command::new(cmd);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", w.home())
            .env("MAGPKG_STATE", w.state_dir())
            .env("MAGPKG_BIN_DIR", w.bin_dir())
            .env("MAGPKG_APPLICATIONS_DIR", w.applications_dir())
            .current_dir(elsewhere.path());
        c
    };
    // The stale launcher itself runs the sync: it still runs its entry,
    // and is gone afterwards, replaced by `tool`.
    let o = bare(&launcher("follow")).arg("x").output().unwrap();
    assert_eq!(stdout(&o), "SH\n[x]\n", "{}", show(&o));
    assert!(!launcher("follow").exists() && launcher("tool").is_file());
    assert!(desktop.is_file());

    // The menu entry's Exec runs the app without magpkg on PATH, and
    // passes desktop-file-validate.
    let text = fs::read_to_string(&desktop).unwrap();
    let argv = desktop_exec(&text, &[]);
    let o = bare(Path::new(&argv[0])).args(&argv[1..]).output().unwrap();
    assert_eq!(stdout(&o), "SH\n", "{}", show(&o));
    let v = Command::new(require("desktop-file-validate"))
        .arg(&desktop)
        .output()
        .unwrap();
    assert!(v.status.success() && v.stdout.is_empty(), "{}", show(&v));

    // Launchers find magpkg on PATH first (it may have moved), and say so
    // when it is nowhere.
    let elsewhere_bin = w.path("other-bin");
    write_exec(
        &elsewhere_bin.join("magpkg"),
        "#!/bin/sh\necho \"magpkg from PATH: $*\"\n",
    );
    let o = bare(&launcher("tool"))
        .env("PATH", format!("{}:/usr/bin:/bin", elsewhere_bin.display()))
        .arg("y")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o),
        "magpkg from PATH: app run --argv0 tool follow:tool -- y\n",
        "{}",
        show(&o)
    );
    let text = fs::read_to_string(launcher("tool")).unwrap();
    let recorded = magpkg_bin().display().to_string();
    assert!(text.contains(&recorded), "{text}");
    let moved = w.path("moved-launcher");
    write_exec(&moved, text.replace(&recorded, "/nowhere/magpkg"));
    let o = bare(&moved).output().unwrap();
    assert_eq!(o.status.code(), Some(127), "{}", show(&o));
    assert_eq!(
        stderr(&o),
        "moved-launcher: magpkg is not on PATH (it was /nowhere/magpkg when this was written)\n"
    );

    // A deleted app: its launcher says the app is gone, and goes with it;
    // so does its menu entry.
    fs::remove_dir_all(w.app("follow")).unwrap();
    let o = bare(&launcher("tool")).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("no app named `follow`"), "{}", show(&o));
    assert!(!launcher("tool").exists() && !desktop.exists());

    // `app remove` turns integration off in the settings, so it stays off.
    follow_app(&w, &w.apps_dir(), "follow");
    w.ok(&["app", "list"]);
    assert!(launcher("follow").exists());
    let o = w.magpkg(&["app", "remove", "follow"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(stderr(&o).contains("turned integration off in"), "{}", show(&o));
    w.ok(&["app", "list"]);
    w.ok(&["app", "integrate"]);
    assert!(!launcher("follow").exists() && !desktop.exists());
    let j = w.show_json("follow");
    assert_eq!(j["add_to_path"], serde_json::json!([]));
}

/// Issue 19, item 3: `magpkg app watch` follows the apps root with inotify
/// while no other magpkg command runs; `--install-unit` writes a systemd
/// user unit running it.
#[test]
fn app_watch_follows_changes_as_they_happen() {
    let w = world();
    let launcher = |n: &str| w.bin_dir().join(n);
    let wait_for = |what: &str, f: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !f() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "timed out: {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // The root does not exist yet: its parent is watched until it does.
    fs::remove_dir(w.apps_dir()).unwrap();
    // Killed on the way out, also when a wait below panics: a watcher left
    // running would outlive the test run (holding whatever it inherited).
    struct Watcher(Option<std::process::Child>);
    impl Drop for Watcher {
        fn drop(&mut self) {
            if let Some(mut c) = self.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut watcher = Watcher(Some(
        w.app_cmd()
            .args(["app", "watch"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let staging = w.path("staging");
    follow_app(&w, &staging, "follow");
    wait_for("the watcher started", &|| {
        w.state_dir().join("apps-integration").exists()
    });
    fs::create_dir(w.apps_dir()).unwrap();
    fs::rename(staging.join("follow"), w.app("follow")).unwrap();
    wait_for("the launcher of an app moved in", &|| launcher("follow").is_file());
    write(&w.app("follow").join("follow.mpkg"), "add_to_path = 'tool'\n");
    wait_for("add_to_path edited", &|| {
        launcher("tool").is_file() && !launcher("follow").exists()
    });
    assert!(!w.applications_dir().join("magpkg-app-follow-follow.desktop").exists());
    fs::remove_dir_all(w.app("follow")).unwrap();
    wait_for("the app deleted", &|| !launcher("tool").exists());
    let mut child = watcher.0.take().unwrap();
    child.kill().unwrap();
    let o = child.wait_with_output().unwrap();
    let err = text(&o.stderr);
    assert!(err.contains("watching ") && err.contains("removed "), "{err}");

    // The unit runs this magpkg with this apps root and these targets.
    let o = w.magpkg(&["app", "watch", "--install-unit"]);
    assert!(o.status.success(), "{}", show(&o));
    let unit = w.config_dir().join("systemd/user/magpkg-app-watch.service");
    let text = fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("ExecStart=\"{}\" app watch\n", magpkg_bin().display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("Environment=\"MAGPKG_APPS={}\"\n", w.apps_dir().display())),
        "{text}"
    );
    assert!(
        stderr(&o).contains("systemctl --user enable --now magpkg-app-watch.service"),
        "{}",
        show(&o)
    );
    let v = Command::new(require("systemd-analyze"))
        .args(["verify", "--user"])
        .arg(&unit)
        .env("XDG_CONFIG_HOME", w.config_dir())
        .env("XDG_RUNTIME_DIR", w.path("state"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", show(&v));
}

/// Issue 19, item 5: a `file` written the Windows way
/// (`%MPKG_PACKAGE%\bin\x.exe`, any case) is found, and a bare `.exe` in
/// a variant without an MPKG is an entry.
#[test]
fn windows_conventions_backslash_files_and_bare_exe() {
    let w = world_without_wine();
    let v = w.app("winapp").join("package/winapp-1");
    write(
        &v.join("MPKG"),
        r#"version = '1'
content = [{'name': 'winapp', 'file': r'%MPKG_PACKAGE%\Bin\WinApp.EXE'},
           {'name': 'helper', 'file': 'tools\\helper.exe'}]
"#,
    );
    write(&v.join("bin/winapp.exe"), pe_bytes(0x8664, false));
    write(&v.join("tools/helper.exe"), pe_bytes(0x14c, false));
    for (target, file, arch) in [
        ("winapp", "bin/winapp.exe", "amd64"),
        ("winapp:helper", "tools/helper.exe", "i386"),
    ] {
        let j = w.show_json(target);
        let var = &j["variants"][0];
        assert_eq!(var["entry"]["file"], v.join(file).display().to_string(), "{j}");
        assert_eq!(var["entry"]["os"], "windows", "{j}");
        assert_eq!(var["entry"]["architecture"], arch, "{j}");
        assert_eq!(var["rejected"], "Windows program, and wine is not installed", "{j}");
    }
    let o = w.magpkg(&["app", "run", "--variant", "winapp-1", "winapp"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("is a Windows program and wine is not installed"),
        "{}",
        show(&o)
    );

    // A portable .exe dropped into a variant directory, no MPKG.
    let p = w.app("portable").join("package/portable-2");
    write(&p.join("Portable.exe"), pe_bytes(0x8664, false));
    write(&p.join("readme.txt"), "read me\n");
    let j = w.show_json("portable");
    assert_eq!(j["variants"][0]["entries"], serde_json::json!(["portable"]), "{j}");
    assert_eq!(
        j["variants"][0]["entry"]["file"],
        p.join("Portable.exe").display().to_string()
    );
    assert_eq!(j["variants"][0]["entry"]["os"], "windows");
    assert_eq!(j["warnings"], serde_json::json!([]), "{j}");
    // Several: one entry each, by file name.
    let s = w.app("suite").join("package/suite-1");
    write(&s.join("edit.exe"), pe_bytes(0x8664, false));
    write(&s.join("view.EXE"), pe_bytes(0x8664, false));
    let j = w.show_json("suite:view");
    assert_eq!(j["variants"][0]["entries"], serde_json::json!(["edit", "view"]), "{j}");
    assert_eq!(
        j["variants"][0]["entry"]["file"],
        s.join("view.EXE").display().to_string()
    );
    // Nothing to run: the warning says what was looked for.
    fs::create_dir_all(w.app("empty").join("package/empty-1")).unwrap();
    let j = w.show_json("empty");
    assert!(
        j["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no MPKG file, AppRun or .exe"),
        "{j}"
    );
}

/// A 64-byte ELF64 header of an executable for `machine`.
fn elf_header(machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    b[16..18].copy_from_slice(&2u16.to_le_bytes());
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b
}

/// Issue 19, item 6: the store hint names `store list`; a blank `os` and
/// `architecture` mean any (no detection); an AppDir with a script AppRun
/// gets the architecture of its programs; localised names of an AppDir's
/// desktop file are kept; `display_name` and `icon` name the menu entry of
/// a plain app.
#[test]
fn smaller_points_of_the_app_audit() {
    let w = world_without_wine();
    let o = w.magpkg(&["app", "export", "nosuch"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("hint: `magpkg store list` lists the built packages"),
        "{}",
        show(&o)
    );
    w.ok(&["store", "list"]);

    // Blank os/architecture: any, not detected.
    let b = variant(
        &w,
        "blank",
        "blank-1",
        "1",
        "tool.exe",
        ", 'os': '', 'architecture': ''",
    );
    write(&b.join("tool.exe"), pe_bytes(0x8664, false));
    let j = w.show_json("blank");
    let e = &j["variants"][0]["entry"];
    assert_eq!(
        (e["os"].as_str(), e["architecture"].as_str()),
        (Some("any"), Some("any")),
        "{j}"
    );
    assert_eq!(e["detected"], serde_json::json!(["type"]), "{j}");
    assert_eq!(j["variants"][0]["rank"], 0, "{j}");

    // A script AppRun: the architecture is that of the AppDir's programs.
    let src = tempfile::tempdir().unwrap();
    let native = src.path().join("Native.AppDir");
    write_exec(
        &native.join("AppRun"),
        "#!/bin/sh\nexec \"$APPDIR/usr/bin/native\" \"$@\"\n",
    );
    compile(&native.join("usr/bin/native"), ARGS_C, false);
    let out = w.ok(&["app", "install-appdir", "--no-integrate", native.to_str().unwrap()]);
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert!(out.trim_end().ends_with(&format!("native-0-{host_arch}")), "{out}");
    let mpkg = fs::read_to_string(Path::new(out.trim_end()).join("MPKG")).unwrap();
    assert!(mpkg.contains(&format!("'architecture' : '{host_arch}'")), "{mpkg}");
    let (machine, foreign) = if host_arch == "arm64" {
        (62, "amd64")
    } else {
        (183, "arm64")
    };
    let cross = src.path().join("Cross.AppDir");
    write_exec(&cross.join("AppRun"), "#!/bin/sh\nexec \"$APPDIR/usr/bin/cross\"\n");
    write_exec(&cross.join("usr/bin/cross"), elf_header(machine));
    let out = w.ok(&["app", "install-appdir", "--no-integrate", cross.to_str().unwrap()]);
    assert!(out.trim_end().ends_with(&format!("cross-0-{foreign}")), "{out}");
    let j = w.show_json("cross");
    assert_eq!(
        j["variants"][0]["rejected"],
        format!("made for {foreign}, this machine is {host_arch}"),
        "{j}"
    );

    // Localised names and comments of the AppDir's desktop file are kept;
    // its field code passes the files on.
    let hello = src.path().join("Hello.AppDir");
    write_exec(&hello.join("AppRun"), ARGS_SH);
    write(
        &hello.join("hello.desktop"),
        "[Desktop Entry]\nType=Application\nName=Hello\nName[de]=Hallo Welt\nGenericName=Greeter\n\
         Comment=Says hello\nComment[fr]=Dit bonjour\nExec=hello %F\nIcon=hello\nCategories=Utility;\n\
         [Desktop Action x]\nName=Other\nName[de]=Andere\n",
    );
    w.ok(&["app", "install-appdir", hello.to_str().unwrap()]);
    let desktop = w.applications_dir().join("magpkg-app-hello-hello.desktop");
    let text = fs::read_to_string(&desktop).unwrap();
    for line in [
        "Name=Hello\n",
        "Name[de]=Hallo Welt\n",
        "GenericName=Greeter\n",
        "Comment=Says hello\n",
        "Comment[fr]=Dit bonjour\n",
    ] {
        assert!(text.contains(line), "{line:?} missing: {text}");
    }
    assert!(!text.contains("Andere"), "{text}");
    let validate = |p: &Path| {
        let v = Command::new(require("desktop-file-validate")).arg(p).output().unwrap();
        assert!(v.status.success() && v.stdout.is_empty(), "{}", show(&v));
    };
    validate(&desktop);
    let argv = desktop_exec(&text, &["/f/a b.txt", "/f/$(id)"]);
    let o = w
        .command(&argv[0])
        .args(&argv[1..])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "SH\n[/f/a b.txt]\n[/f/$(id)]\n", "{}", show(&o));
    // The settings' display name wins, and the AppDir's translations of
    // its own name go with it.
    let settings = w.app("hello").join("hello.mpkg");
    let old = fs::read_to_string(&settings).unwrap();
    write(&settings, format!("{old}display_name = 'Hello Deluxe'\n"));
    w.ok(&["app", "list"]);
    let text = fs::read_to_string(&desktop).unwrap();
    assert!(
        text.contains("Name=Hello Deluxe\n") && !text.contains("Name[de]"),
        "{text}"
    );

    // A plain app: display name and icon from its settings.
    let p = variant(&w, "plain", "plain-1", "1", "run.sh", "");
    write_exec(&p.join("run.sh"), ARGS_SH);
    write(
        &w.app("plain").join("art/plain.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>\n",
    );
    write(
        &w.app("plain").join("plain.mpkg"),
        "add_to_apps = 'plain'\ndisplay_name = 'Plain Notes'\nicon = 'art/plain.svg'\n",
    );
    w.ok(&["app", "list"]);
    let desktop = w.applications_dir().join("magpkg-app-plain-plain.desktop");
    let text = fs::read_to_string(&desktop).unwrap();
    assert!(text.contains("Name=Plain Notes\n"), "{text}");
    assert!(
        text.contains(&format!("Icon={}\n", w.app("plain").join("art/plain.svg").display())),
        "{text}"
    );
    validate(&desktop);
    let j = w.show_json("plain");
    assert_eq!(j["display_name"], "Plain Notes", "{j}");
}

/// Issue 11 (typed app files): MPKG and .mpkg are read through typed
/// structs; a wrong value names the field's path and its line (Python and
/// Jsonnet forms), an unknown entry key gets the closest known one.
#[test]
fn wrong_values_name_the_field_path_and_line() {
    let w = world();
    let d = w.app("typed").join("package/typed-1");
    write_exec(&d.join("run.sh"), ARGS_SH);
    let mpkg = d.join("MPKG");
    write(
        &mpkg,
        "version = '1'\ncontent = [\n  {'name': 'typed', 'file': 'run.sh', 'architecure': 'x64'},\n  {'name': 'other',\n   'file': 'run.sh',\n   'args': ['x']},\n]\n",
    );
    let o = w.magpkg(&["app", "show", "typed"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!(
            "{}:6: `content[1].args` must be a string, not a list",
            mpkg.display()
        )),
        "{}",
        show(&o)
    );
    write(
        &mpkg,
        "version = '1'\ncontent = [\n  {'name': 'typed', 'file': 'run.sh', 'architecure': 'x64'},\n]\n",
    );
    let o = w.magpkg(&["app", "run", "typed", "--", "a"]);
    assert_eq!(stdout(&o), "SH\n[a]\n", "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!(
            "warning: {}:3: unknown entry key `architecure` (kept, not used; did you mean `architecture`?)",
            mpkg.display()
        )),
        "{}",
        show(&o)
    );
    let settings = w.app("typed").join("typed.mpkg");
    write(&settings, "notes = 'fine'\nsandbox = 'maybe'\n");
    let o = w.magpkg(&["app", "run", "typed"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!(
            "{}:2: `sandbox` must be '1' or '0' (or True/False), not \"maybe\"",
            settings.display()
        )),
        "{}",
        show(&o)
    );
    fs::remove_file(&settings).unwrap();
    // The Jsonnet form: the line comes from the source.
    fs::remove_file(&mpkg).unwrap();
    let js = d.join("MPKG.jsonnet");
    write(
        &js,
        "{\n  version: '1',\n  content: [\n    { name: 'typed', file: 'run.sh',\n      args: { a: 1 } },\n  ],\n}\n",
    );
    let o = w.magpkg(&["app", "run", "--variant", "typed-1", "typed"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!(
            "{}:5: `content[0].args` must be a string, not a dict",
            js.display()
        )),
        "{}",
        show(&o)
    );
}
