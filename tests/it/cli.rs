//! The CLI frame: help, completions, exit codes, settings, store commands.

use std::process::Command;

use crate::support::{require, TestContext};

#[test]
fn help_lists_every_visible_command_with_one_line() {
    let ctx = TestContext::new();
    let out = ctx.cmd().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in magpkg::cli::command().get_subcommands() {
        let name = cmd.get_name();
        if cmd.is_hide_set() {
            assert!(!text.contains(&format!("  {name} ")), "hidden command {name} shown");
            continue;
        }
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| {
                panic!("`magpkg --help` does not list {name}:\n{text}");
            });
        assert!(line.trim().len() > name.len() + 5, "no help text for {name}: {line:?}");
    }
}

#[test]
fn completions_are_valid_scripts_for_bash_zsh_and_fish() {
    let ctx = TestContext::new();
    for (shell, check) in [
        ("bash", vec!["bash", "-n"]),
        ("zsh", vec!["zsh", "-n"]),
        ("fish", vec!["fish", "--no-execute"]),
    ] {
        let out = ctx.cmd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "completions {shell} failed");
        let script = ctx.path(&format!("completion.{shell}"));
        std::fs::write(&script, &out.stdout).unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("magpkg"));
        let st = Command::new(require(check[0]))
            .args(&check[1..])
            .arg(&script)
            .status()
            .unwrap();
        assert!(st.success(), "{shell} rejects the completion script");
    }
}

#[test]
fn usage_error_exits_2_and_bad_config_exits_1_with_suggestion() {
    let ctx = TestContext::new();
    let out = ctx.cmd().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let cfg = ctx.config_dir().join("magpkg/config.jsonnet");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, "{ fetchJob: 3 }").unwrap();
    let out = ctx.cmd().args(["store", "path"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown setting `fetchJob`"), "{err}");
    assert!(err.contains("did you mean `fetchJobs`"), "{err}");

    // Regression: `seedPort: 70000` used to become port 4464 (`as u16`).
    std::fs::write(&cfg, "{\n  seedPort: 70000,\n}\n").unwrap();
    let out = ctx.cmd().args(["store", "path"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`seedPort` must not be integer `70000`, expected an integer from 0 to 65535"),
        "{err}"
    );
    assert!(err.contains("config.jsonnet:2:3"), "{err}");
}

/// A `SOURCE_DATE_EPOCH` past year 9999 is refused (skopeo cannot read the
/// `created` date it would give an image), and so is one that is no number.
#[test]
fn source_date_epoch_is_checked_once_in_the_settings() {
    let ctx = TestContext::new();
    for (value, problem) in [
        ("253402300800", "later than year 9999"),
        ("soon", "not a number of seconds since 1970"),
    ] {
        let out = ctx
            .cmd()
            .env("SOURCE_DATE_EPOCH", value)
            .args(["oci", "hello", "-o", "x.tar"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("SOURCE_DATE_EPOCH=\"{value}\": {problem}")),
            "{err}"
        );
    }
}

#[test]
fn settings_precedence_flag_over_env_over_config() {
    let ctx = TestContext::new();
    let cfg = ctx.config_dir().join("magpkg/config.jsonnet");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, "{ store: 'from-config' }").unwrap();
    let path = |c: &mut Command| String::from_utf8(c.args(["store", "path"]).output().unwrap().stdout).unwrap();
    let mut c = ctx.cmd();
    c.env_remove("MAGPKG_STORE");
    assert_eq!(
        path(&mut c).trim(),
        cfg.parent().unwrap().join("from-config").to_str().unwrap()
    );
    let mut c = ctx.cmd();
    assert_eq!(path(&mut c).trim(), ctx.store().to_str().unwrap());
    let mut c = ctx.cmd();
    c.arg("--store").arg(ctx.path("flag"));
    assert_eq!(path(&mut c).trim(), ctx.path("flag").to_str().unwrap());
}

#[test]
fn store_verify_detects_a_modified_package() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = TestContext::new();
    let path = ctx.add_package(&"c".repeat(32), "x", "1", &[], |t| {
        std::fs::create_dir(t.join("bin")).unwrap();
        std::fs::write(t.join("bin/x"), "#!/bin/sh\n").unwrap();
    });
    let out = ctx.cmd().args(["store", "verify"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    let file = path.join("bin/x");
    let dir = file.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&file, "#!/bin/sh\necho tampered\n").unwrap();
    let out = ctx.cmd().args(["store", "verify", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(70));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("CORRUPT"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = ctx
        .cmd()
        .args(["store", "verify", "nothing-like-this"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn broken_pipe_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let ctx = TestContext::new();
    let mut child = ctx
        .cmd()
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte then close our end: magpkg gets EPIPE on its next writes.
    let mut out = child.stdout.take().unwrap();
    let mut b = [0u8; 1];
    out.read_exact(&mut b).unwrap();
    drop(out);
    let st = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!err.contains("error"), "{err}");
    assert!(st.code() == Some(0) || st.code().is_none(), "{st:?}");
}
