//! `magpkg app update` and AppImage signatures: real type-2 AppImages whose
//! runtime reserves the `.upd_info`, `.sha256_sig` and `.sig_key` sections
//! (filled the way appimagetool fills them), zsync control files made by
//! `zsyncmake`, signatures made by `gpg`, served by a loopback HTTP server
//! (also as a fake GitHub API).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::Digest as _;

use crate::support::appimage::{build_appimage, compile, install_args};
use crate::support::net::{closed_port, Behaviour, HttpServer};
use crate::support::servers::Nginx;
use crate::support::snapshot::assert_snapshot;
use crate::support::{path_without, require, show, stderr, stdout, write, write_exe, TestContext};

/// A runtime with the sections appimagetool writes into, zero-filled and
/// with file contents (as in the real runtime).
const RUNTIME_C: &str = r#"#include <stdio.h>
__asm__(".pushsection .upd_info,\"a\",@progbits\n.zero 1024\n.popsection\n"
        ".pushsection .sha256_sig,\"a\",@progbits\n.zero 1024\n.popsection\n"
        ".pushsection .sig_key,\"a\",@progbits\n.zero 8192\n.popsection\n");
int main(void){FILE*f=fopen("RUNTIME-RAN","w");if(f)fclose(f);return 0;}
"#;

/// Where a section's bytes are in an ELF file (`readelf -S`).
fn section(file: &Path, name: &str) -> (usize, usize) {
    let o = Command::new(require("readelf"))
        .args(["-W", "-S"])
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let text = stdout(&o);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == name))
        .unwrap_or_else(|| panic!("no section {name} in {}:\n{text}", file.display()));
    let fields: Vec<&str> = line.split(']').nth(1).unwrap().split_whitespace().collect();
    let hex = |s: &str| usize::from_str_radix(s, 16).unwrap();
    (hex(fields[3]), hex(fields[4]))
}

fn put(bytes: &mut [u8], (off, size): (usize, usize), data: &[u8]) {
    assert!(data.len() <= size, "{} bytes do not fit in {size}", data.len());
    bytes[off..off + size].fill(0);
    bytes[off..off + data.len()].copy_from_slice(data);
}

/// `Hello-VERSION-x86_64.AppImage` in `dir`, with `upd` as its update
/// information. Its AppRun prints `hello VERSION`, or fails with status 3
/// once when `$MPKG_DATA/fail-next` exists.
fn hello_appimage(dir: &Path, version: &str, upd: Option<&str>) -> PathBuf {
    let work = dir.join(format!("build-{version}"));
    let appdir = work.join("Hello.AppDir");
    write_exe(
        &appdir.join("AppRun"),
        format!(
            "#!/bin/sh\nif [ -e \"$MPKG_DATA/fail-next\" ]; then rm -f \"$MPKG_DATA/fail-next\"; echo broken >&2; exit 3; fi\n\
             echo \"hello {version}\"\n"
        ),
    );
    write(
        &appdir.join("hello.desktop"),
        format!("[Desktop Entry]\nType=Application\nName=Hello\nExec=hello\nIcon=hello\nCategories=Utility;\nX-AppImage-Version={version}\n"),
    );
    let sq = work.join("image.squashfs");
    let o = Command::new(require("mksquashfs"))
        .arg(&appdir)
        .arg(&sq)
        .args(["-root-owned", "-noappend", "-quiet", "-no-progress", "-comp", "gzip"])
        .output()
        .unwrap();
    assert!(o.status.success(), "mksquashfs: {}", show(&o));
    let runtime = dir.join("runtime");
    if !runtime.exists() {
        compile(&runtime, RUNTIME_C, false);
    }
    let mut bytes = fs::read(&runtime).unwrap();
    if let Some(u) = upd {
        put(&mut bytes, section(&runtime, ".upd_info"), u.as_bytes());
    }
    bytes[8..11].copy_from_slice(b"AI\x02");
    bytes.extend(fs::read(&sq).unwrap());
    let out = dir.join(format!("Hello-{version}-x86_64.AppImage"));
    write_exe(&out, bytes);
    out
}

/// A gpg home with one signing key (no passphrase); its agent is stopped
/// when dropped.
struct Signer {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl Signer {
    fn new(uid: &str) -> Signer {
        // Short path: the agent's socket lives in it.
        let home = tempfile::Builder::new().prefix("gpg").tempdir_in("/tmp").unwrap();
        let mut s = Signer {
            home,
            fingerprint: String::new(),
        };
        let o = s.gpg(&["--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"]);
        assert!(o.status.success(), "gpg: {}", show(&o));
        let o = s.gpg(&["--with-colons", "--list-keys"]);
        s.fingerprint = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_string()))
            .unwrap();
        s
    }

    fn gpg(&self, args: &[&str]) -> Output {
        Command::new(require("gpg"))
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--yes", "--pinentry-mode", "loopback"])
            .args(args)
            .output()
            .unwrap()
    }

    /// Sign an AppImage as appimagetool does: a detached armored signature
    /// of the hex SHA-256 of the file (its signature sections still empty)
    /// into `.sha256_sig`, the armored public key into `.sig_key`.
    fn sign(&self, file: &Path) {
        let mut bytes = fs::read(file).unwrap();
        let digest = hex::encode(sha2::Sha256::digest(&bytes));
        let d = self.home.path().join("digest");
        fs::write(&d, &digest).unwrap();
        let sig = self.home.path().join("digest.asc");
        let o = self.gpg(&[
            "--armor",
            "--textmode",
            "--detach-sign",
            "-o",
            sig.to_str().unwrap(),
            d.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "gpg: {}", show(&o));
        let key = self.gpg(&["--armor", "--export", &self.fingerprint]);
        assert!(key.status.success() && !key.stdout.is_empty(), "{}", show(&key));
        put(&mut bytes, section(file, ".sha256_sig"), &fs::read(&sig).unwrap());
        put(&mut bytes, section(file, ".sig_key"), &key.stdout);
        fs::write(file, bytes).unwrap();
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// `zsyncmake` on `file`, the control file naming `url` (relative to itself or absolute).
fn zsync(file: &Path, url: &str) -> Vec<u8> {
    let out = file.with_extension("AppImage.zsync");
    let o = Command::new(require("zsyncmake"))
        .args(["-u", url, "-o"])
        .arg(&out)
        .arg(file)
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "zsyncmake: {}", show(&o));
    fs::read(out).unwrap()
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

/// Publish `file` and its zsync control file under `/rel/` (the control
/// file is always `/rel/Hello.AppImage.zsync`: what the update information names).
fn publish(server: &HttpServer, file: &Path) {
    let name = file_name(file);
    server.serve(&format!("/rel/{name}"), fs::read(file).unwrap(), Behaviour::Normal);
    server.serve("/rel/Hello.AppImage.zsync", zsync(file, name), Behaviour::Normal);
}

/// The same into the document root of a web server.
fn publish_to(root: &Path, file: &Path) {
    let name = file_name(file);
    write(&root.join("rel").join(name), fs::read(file).unwrap());
    write(&root.join("rel/Hello.AppImage.zsync"), zsync(file, name));
}

fn magpkg(w: &TestContext, args: &[&str]) -> Output {
    w.cmd().args(args).output().unwrap()
}

fn ok(w: &TestContext, args: &[&str]) -> String {
    let o = magpkg(w, args);
    assert!(o.status.success(), "magpkg {args:?}: {}", show(&o));
    stdout(&o)
}

fn variants(w: &TestContext, app: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(w.apps_dir().join(app).join("package"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Nothing of a failed update is left in the apps root.
fn no_scratch_left(w: &TestContext) {
    let left: Vec<String> = fs::read_dir(w.apps_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The bytes downloaded and reused an update reports.
fn transfer(out: &str) -> (u64, u64) {
    let num = |marker: &str| -> u64 {
        let before = &out[..out.find(marker).unwrap_or_else(|| panic!("no `{marker}` in {out}"))];
        before.rsplit([' ', '(']).next().unwrap().parse().unwrap()
    };
    (num(" bytes downloaded"), num(" bytes reused"))
}

fn sha1_hex(p: &Path) -> String {
    hex::encode(sha1::Sha1::digest(fs::read(p).unwrap()))
}

#[test]
fn zsync_update_is_installed_and_the_old_variant_kept_until_the_new_one_runs() {
    let w = TestContext::new();
    // A real web server: it answers range requests as servers do.
    let site = w.path("site");
    fs::create_dir_all(&site).unwrap();
    let server = Nginx::serve(&site, &w.path("nginx"));
    let src = tempfile::tempdir().unwrap();
    let base = server.url();
    let upd = format!("zsync|{base}/rel/Hello.AppImage.zsync");
    let v2_url = format!("{base}/rel/Hello-1.2.4-x86_64.AppImage");
    let v1 = hello_appimage(src.path(), "1.2.3", Some(&upd));
    ok(&w, &install_args("hello", &v1));
    let mpkg = fs::read_to_string(w.apps_dir().join("hello/package/hello-1.2.3-amd64/MPKG")).unwrap();
    assert!(mpkg.contains(&format!("update_info = '{upd}'\n")), "{mpkg}");
    assert!(
        mpkg.contains(&format!("appimage_sha1 = '{}'\n", sha1_hex(&v1))),
        "{mpkg}"
    );
    assert!(mpkg.contains("signature = 'unsigned'\n"), "{mpkg}");

    // The server offers the installed file: up to date, by name and for all apps.
    publish_to(&site, &v1);
    assert_eq!(
        ok(&w, &["app", "update", "hello"]),
        "hello: up to date (hello-1.2.3-amd64)\n"
    );
    assert_eq!(ok(&w, &["app", "update"]), "hello: up to date (hello-1.2.3-amd64)\n");

    // A new release: --dry-run says so and changes nothing.
    let v2 = hello_appimage(src.path(), "1.2.4", Some(&upd));
    publish_to(&site, &v2);
    let out = ok(&w, &["app", "update", "--dry-run", "hello"]);
    let size = fs::metadata(&v2).unwrap().len();
    assert_eq!(
        out,
        format!(
            "hello: would update hello-1.2.3-amd64 to Hello-1.2.4-x86_64.AppImage ({size} bytes from {}; the old variant stays until the new one has run once)\n",
            v2_url
        )
    );
    assert_eq!(variants(&w, "hello"), ["hello-1.2.3-amd64"]);
    assert!(!server.requests().iter().any(|r| r.contains("1.2.4-x86_64.AppImage ")));

    // The update: the blocks the installed AppImage shares with the new one
    // are taken from it, the rest comes with range requests; checked,
    // installed next to the old one.
    let kept = w
        .apps_dir()
        .join("hello/package/hello-1.2.3-amd64/.magpkg-source.AppImage");
    assert_eq!(
        fs::read(&kept).unwrap(),
        fs::read(&v1).unwrap(),
        "the variant keeps its AppImage"
    );
    let out = ok(&w, &["app", "update", "hello"]);
    assert!(
        out.starts_with("hello: updated hello-1.2.3-amd64 to hello-1.2.4-amd64 (Hello-1.2.4-x86_64.AppImage, "),
        "{out}"
    );
    let (downloaded, reused) = transfer(&out);
    assert!(
        out.contains(&format!(
            "{downloaded} bytes downloaded from {}, {reused} bytes reused from the AppImage of hello-1.2.3-amd64",
            v2_url
        )),
        "{out}"
    );
    assert_eq!(downloaded + reused, size, "{out}");
    eprintln!("block reuse: {reused} of {size} bytes reused, {downloaded} downloaded");
    // At least the runtime (with its reserved sections) is the same.
    let runtime = fs::metadata(src.path().join("runtime")).unwrap().len();
    assert!(reused >= runtime - 4096, "{out}");
    assert!(
        !src.path().join("RUNTIME-RAN").exists(),
        "the AppImage is never executed"
    );
    assert_eq!(
        variants(&w, "hello"),
        [".magpkg-update.json", "hello-1.2.3-amd64", "hello-1.2.4-amd64"]
    );
    let mpkg = fs::read_to_string(w.apps_dir().join("hello/package/hello-1.2.4-amd64/MPKG")).unwrap();
    assert!(
        mpkg.contains(&format!("appimage_sha1 = '{}'\n", sha1_hex(&v2))),
        "{mpkg}"
    );
    assert!(
        mpkg.contains("origin = 'appimage Hello-1.2.4-x86_64.AppImage sha256:"),
        "{mpkg}"
    );
    let text = ok(&w, &["app", "show", "hello"]);
    assert!(
        text.contains("update: hello-1.2.4-amd64 replaces hello-1.2.3-amd64 once it has run successfully"),
        "{text}"
    );
    let j: Value = serde_json::from_str(&ok(&w, &["app", "show", "--json", "hello"])).unwrap();
    assert_eq!(j["pending_update"]["old"], "hello-1.2.3-amd64");

    // Its first run fails: both variants stay, a warning says how to go back.
    write(&w.apps_dir().join("hello/data/fail-next"), "");
    let o = magpkg(&w, &["app", "run", "hello"]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        stderr(&o).contains(
            "warning: the updated variant `hello-1.2.4-amd64` of `hello` exited with status 3 on its first run; the previous variant `hello-1.2.3-amd64` is kept"
        ),
        "{}",
        show(&o)
    );
    assert_eq!(variants(&w, "hello").len(), 3);
    // The old one can still be run by name, which confirms nothing.
    assert_eq!(
        ok(&w, &["app", "run", "--variant", "hello-1.2.3-amd64", "hello"]),
        "hello 1.2.3\n"
    );
    assert_eq!(variants(&w, "hello").len(), 3);
    // A successful run of the new one: the old variant goes.
    let o = magpkg(&w, &["app", "run", "hello"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(stdout(&o), "hello 1.2.4\n");
    assert_eq!(variants(&w, "hello"), ["hello-1.2.4-amd64"]);
    assert_eq!(
        ok(&w, &["app", "update", "hello"]),
        "hello: up to date (hello-1.2.4-amd64)\n"
    );

    // Another update, rolled back: the new variant goes, the old one runs.
    let v3 = hello_appimage(src.path(), "1.3", Some(&upd));
    publish_to(&site, &v3);
    ok(&w, &["app", "update"]);
    assert_eq!(
        variants(&w, "hello"),
        [".magpkg-update.json", "hello-1.2.4-amd64", "hello-1.3-amd64"]
    );
    assert_eq!(
        ok(&w, &["app", "update", "--rollback", "hello"]),
        "hello: removed the update's variant hello-1.3-amd64; hello-1.2.4-amd64 runs again\n"
    );
    assert_eq!(variants(&w, "hello"), ["hello-1.2.4-amd64"]);
    assert_eq!(ok(&w, &["app", "run", "hello"]), "hello 1.2.4\n");
    let o = magpkg(&w, &["app", "update", "--rollback", "hello"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("no update waiting for its first run"),
        "{}",
        show(&o)
    );

    // The same version published again as another file: a variant of its
    // own. Without the kept AppImage (deleted by hand), the whole file comes.
    let again = src.path().join("again/Hello-1.2.4-x86_64.AppImage");
    write(&again, [fs::read(&v2).unwrap(), b"re-release".to_vec()].concat());
    publish_to(&site, &again);
    fs::remove_file(
        w.apps_dir()
            .join("hello/package/hello-1.2.4-amd64/.magpkg-source.AppImage"),
    )
    .unwrap();
    let out = ok(&w, &["app", "update", "hello"]);
    assert!(
        out.contains(&format!(
            "{} bytes downloaded from {}, whole file",
            fs::metadata(&again).unwrap().len(),
            v2_url
        )),
        "{out}"
    );
    let renamed = format!("hello-1.2.4-amd64-{}", &sha1_hex(&again)[..8]);
    assert!(out.contains(&format!("to {renamed} ")), "{out}");
    assert_eq!(
        variants(&w, "hello"),
        [".magpkg-update.json", "hello-1.2.4-amd64", &renamed]
    );
    // An update on top of one that never ran: the first successful run
    // removes the last confirmed variant and the unconfirmed one.
    let v4 = hello_appimage(src.path(), "1.4", Some(&upd));
    publish_to(&site, &v4);
    ok(&w, &["app", "update", "hello"]);
    let j: Value = serde_json::from_str(&ok(&w, &["app", "show", "--json", "hello"])).unwrap();
    assert_eq!(
        j["pending_update"],
        serde_json::json!({"new": "hello-1.4-amd64", "old": "hello-1.2.4-amd64", "unconfirmed": [renamed]})
    );
    assert_eq!(ok(&w, &["app", "run", "hello"]), "hello 1.4\n");
    assert_eq!(variants(&w, "hello"), ["hello-1.4-amd64"]);
}

#[test]
fn updates_that_cannot_be_trusted_or_reached_install_nothing() {
    let w = TestContext::new();
    let server = HttpServer::start();
    let src = tempfile::tempdir().unwrap();
    let upd = format!("zsync|{}", server.url("/rel/Hello.AppImage.zsync"));
    let v1 = hello_appimage(src.path(), "1.0", Some(&upd));
    ok(&w, &install_args("hello", &v1));

    // The file served is not the one the control file announces.
    let v2 = hello_appimage(src.path(), "2.0", Some(&upd));
    publish(&server, &v2);
    let mut wrong = fs::read(&v2).unwrap();
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    server.serve("/rel/Hello-2.0-x86_64.AppImage", wrong.clone(), Behaviour::Normal);
    let o = magpkg(&w, &["app", "update", "hello"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "error: the file downloaded from {} is not the one {} announces: SHA-1 {} instead of {}",
            server.url("/rel/Hello-2.0-x86_64.AppImage"),
            server.url("/rel/Hello.AppImage.zsync"),
            hex::encode(sha1::Sha1::digest(&wrong)),
            sha1_hex(&v2)
        )),
        "{e}"
    );
    assert!(e.contains("hint: ") && e.contains("nothing was installed"), "{e}");
    assert_eq!(variants(&w, "hello"), ["hello-1.0-amd64"]);
    no_scratch_left(&w);

    // A file cut short.
    server.serve(
        "/rel/Hello-2.0-x86_64.AppImage",
        wrong[..1000].to_vec(),
        Behaviour::Normal,
    );
    let o = magpkg(&w, &["app", "update", "hello"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("1000 bytes instead of"), "{}", show(&o));
    assert_eq!(variants(&w, "hello"), ["hello-1.0-amd64"]);

    // Not a control file (a 404 page served as 200 would be one).
    server.serve(
        "/rel/Hello.AppImage.zsync",
        b"<html>\n\nnot here</html>".to_vec(),
        Behaviour::Normal,
    );
    let o = magpkg(&w, &["app", "update", "hello"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("it is not a zsync control file"), "{}", show(&o));

    // Offline, nothing is asked.
    let o = w
        .cmd()
        .args(["app", "update", "hello"])
        .env("MAGPKG_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("magpkg is offline"), "{}", show(&o));

    // An unreachable server: the URL is named.
    let gone = format!("http://127.0.0.1:{}/rel/Hello.AppImage.zsync", closed_port());
    let v_gone = hello_appimage(src.path(), "1.1", Some(&format!("zsync|{gone}")));
    ok(&w, &install_args("gone", &v_gone));
    let o = magpkg(&w, &["app", "update", "gone"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(e.contains(&format!("error: cannot download {gone}")), "{e}");
    assert!(e.contains("hint: check the network and the URL"), "{e}");
    // A 404 is named too.
    let missing = server.url("/nothing/here.zsync");
    let v404 = hello_appimage(src.path(), "1.4", Some(&format!("zsync|{missing}")));
    ok(&w, &install_args("missing", &v404));
    let o = magpkg(&w, &["app", "update", "missing"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!("cannot download {missing}")) && stderr(&o).contains("404"),
        "{}",
        show(&o)
    );

    // No update information at all, and a kind magpkg does not know.
    let plain_dir = src.path().join("plain");
    fs::create_dir_all(&plain_dir).unwrap();
    let plain = build_appimage(&plain_dir, "Hello", "gzip", &[]);
    ok(&w, &install_args("plain", &plain));
    let o = magpkg(&w, &["app", "update", "plain"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(
        e.contains("error: app `plain` has no variant with update information (its variants: plain-1.2.3-amd64)"),
        "{e}"
    );
    assert!(e.contains("hint: only AppImages carrying update information"), "{e}");
    let odd = hello_appimage(src.path(), "1.5", Some("bintray-zsync|a|b|c|d"));
    ok(&w, &install_args("odd", &odd));
    let o = magpkg(&w, &["app", "update", "odd"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(
            "cannot use the update information `bintray-zsync|a|b|c|d`: the transport `bintray-zsync` is not supported"
        ),
        "{}",
        show(&o)
    );

    // Checking every app goes on past a failure, and says which failed.
    let o = magpkg(&w, &["app", "update"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.contains("gone: failed\n") && out.contains("hello: failed\n"),
        "{}",
        show(&o)
    );
    assert!(
        !out.contains("plain"),
        "apps without update information are not checked: {out}"
    );
    assert!(stderr(&o).contains("could not be updated"), "{}", show(&o));
    assert!(!w.apps_dir().join("hello/package/.magpkg-update.json").exists());
    no_scratch_left(&w);
}

#[test]
fn gh_releases_update_information_asks_the_configured_api() {
    let server = HttpServer::start();
    let w = TestContext::new().with_env("MAGPKG_GITHUB_API", server.url("/api"));
    let src = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(&w, &["app", "update"]),
        format!("no app in {} has update information\n", w.apps_dir().display())
    );
    let upd = "gh-releases-zsync|someone|hello|latest|Hello-*-x86_64.AppImage.zsync";
    let v1 = hello_appimage(src.path(), "1.0", Some(upd));
    ok(&w, &install_args("hello", &v1));
    let v2 = hello_appimage(src.path(), "1.1", Some(upd));
    let dl = |n: &str| server.url(&format!("/download/v1.1/{n}"));
    server.serve(
        "/download/v1.1/Hello-1.1-x86_64.AppImage",
        fs::read(&v2).unwrap(),
        Behaviour::Normal,
    );
    server.serve(
        "/download/v1.1/Hello-1.1-x86_64.AppImage.zsync",
        zsync(&v2, &dl("Hello-1.1-x86_64.AppImage")),
        Behaviour::Normal,
    );
    let release = serde_json::json!({
        "tag_name": "v1.1",
        "prerelease": false,
        "assets": [
            {"name": "Hello-1.1-aarch64.AppImage.zsync", "browser_download_url": dl("Hello-1.1-aarch64.AppImage.zsync")},
            {"name": "Hello-1.1-x86_64.AppImage", "browser_download_url": dl("Hello-1.1-x86_64.AppImage")},
            {"name": "Hello-1.1-x86_64.AppImage.zsync", "browser_download_url": dl("Hello-1.1-x86_64.AppImage.zsync")},
        ],
    });
    server.serve(
        "/api/repos/someone/hello/releases/latest",
        serde_json::to_vec(&release).unwrap(),
        Behaviour::Normal,
    );
    let out = ok(&w, &["app", "update", "--dry-run", "hello"]);
    assert!(
        out.starts_with("hello: would update hello-1.0-amd64 to Hello-1.1-x86_64.AppImage ("),
        "{out}"
    );
    let out = ok(&w, &["app", "update", "hello"]);
    assert!(
        out.starts_with("hello: updated hello-1.0-amd64 to hello-1.1-amd64 "),
        "{out}"
    );
    assert_eq!(ok(&w, &["app", "run", "hello"]), "hello 1.1\n");
    assert_eq!(variants(&w, "hello"), ["hello-1.1-amd64"]);
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        paths.contains(&"/api/repos/someone/hello/releases/latest".to_string()),
        "{paths:?}"
    );
    assert_eq!(
        ok(&w, &["app", "update", "hello"]),
        "hello: up to date (hello-1.1-amd64)\n"
    );

    // The newest pre-release, from the list of releases.
    let v4 = hello_appimage(src.path(), "1.2b", Some(upd));
    server.serve(
        "/download/pre/Hello-1.2b-x86_64.AppImage.zsync",
        zsync(&v4, "Hello-1.2b-x86_64.AppImage"),
        Behaviour::Normal,
    );
    let list = serde_json::json!([
        {"tag_name": "v1.3", "prerelease": false, "assets": []},
        {"tag_name": "v1.2b", "prerelease": true, "assets": [
            {"name": "Hello-1.2b-x86_64.AppImage.zsync", "browser_download_url": server.url("/download/pre/Hello-1.2b-x86_64.AppImage.zsync")},
        ]},
    ]);
    server.serve(
        "/api/repos/someone/pre/releases",
        serde_json::to_vec(&list).unwrap(),
        Behaviour::Normal,
    );
    let pre = hello_appimage(
        &src.path().join("pre"),
        "1.0",
        Some("gh-releases-zsync|someone|pre|latest-pre|Hello-*-x86_64.AppImage.zsync"),
    );
    ok(&w, &install_args("pre", &pre));
    let out = ok(&w, &["app", "update", "--dry-run", "pre"]);
    assert!(
        out.contains(&format!(
            "to Hello-1.2b-x86_64.AppImage ({} bytes from {};",
            fs::metadata(&v4).unwrap().len(),
            server.url("/download/pre/Hello-1.2b-x86_64.AppImage")
        )),
        "{out}"
    );

    // A release without a matching asset names what it has.
    let v3 = hello_appimage(
        src.path(),
        "1.2",
        Some("gh-releases-zsync|someone|other|v9|Other-*.zsync"),
    );
    ok(&w, &install_args("other", &v3));
    server.serve(
        "/api/repos/someone/other/releases/tags/v9",
        br#"{"tag_name": "v9", "assets": [{"name": "x.zsync", "browser_download_url": "http://127.0.0.1:1/x"}]}"#
            .to_vec(),
        Behaviour::Normal,
    );
    let o = magpkg(&w, &["app", "update", "other"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!(
            "error: {}: release `v9` has no asset matching `Other-*.zsync` (it has: x.zsync)",
            server.url("/api/repos/someone/other/releases/tags/v9")
        )),
        "{}",
        show(&o)
    );
}

#[test]
fn signed_appimages_are_checked_and_shown() {
    let w = TestContext::new();
    let server = HttpServer::start();
    let src = tempfile::tempdir().unwrap();
    let signer = Signer::new("Hello Publisher <publisher@example.org>");
    let upd = format!("zsync|{}", server.url("/rel/Hello.AppImage.zsync"));

    let signed = hello_appimage(&src.path().join("signed"), "1.0", Some(&upd));
    signer.sign(&signed);
    let o = magpkg(&w, &install_args("signed", &signed));
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!(
            "as variant signed-1.0-amd64 of app `signed` (signed by {} (Hello Publisher <publisher@example.org>))",
            signer.fingerprint
        )),
        "{}",
        show(&o)
    );

    // Without gpgv the signature cannot be checked: said on install and by show.
    let o = w
        .cmd()
        .args(install_args("unchecked", &signed))
        .env("PATH", path_without(&["gpgv"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        stderr(&o).contains("its embedded signature was not checked: gpgv is not installed"),
        "{}",
        show(&o)
    );
    let text = ok(&w, &["app", "show", "unchecked"]);
    assert!(
        text.contains("signature: signed, not checked: gpgv is not installed (apt-get install gpgv)"),
        "{text}"
    );
    fs::remove_dir_all(w.apps_dir().join("unchecked")).unwrap();

    let unsigned = hello_appimage(&src.path().join("unsigned"), "1.0", None);
    ok(&w, &install_args("unsigned", &unsigned));

    // Changed after signing (its update information redirected): refused,
    // and nothing is left; installed on request, flagged on every run.
    let tampered = hello_appimage(&src.path().join("tampered"), "1.0", Some(&upd));
    signer.sign(&tampered);
    let mut bytes = fs::read(&tampered).unwrap();
    put(
        &mut bytes,
        section(&tampered, ".upd_info"),
        b"zsync|http://attacker.invalid/x.zsync",
    );
    fs::write(&tampered, bytes).unwrap();
    let o = magpkg(&w, &install_args("tampered", &tampered));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "error: {}: its embedded signature is invalid: the file changed after it was signed (BADSIG)",
            tampered.display()
        )),
        "{e}"
    );
    assert!(e.contains("--allow-invalid-signature"), "{e}");
    assert!(!w.apps_dir().join("tampered").exists());
    no_scratch_left(&w);
    let mut args = install_args("tampered", &tampered).to_vec();
    args.insert(2, "--allow-invalid-signature");
    let o = magpkg(&w, &args);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        stderr(&o).contains("warning: ") && stderr(&o).contains("its embedded signature is INVALID"),
        "{}",
        show(&o)
    );
    let o = magpkg(&w, &["app", "run", "tampered"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        stderr(&o).contains("warning: variant `tampered-1.0-amd64` of `tampered` came from an AppImage with an INVALID signature (the file changed after it was signed (BADSIG)); it may not be what its publisher released"),
        "{}",
        show(&o)
    );

    let mut shown = String::new();
    for app in ["signed", "tampered", "unsigned"] {
        shown.push_str(&format!("$ magpkg app show {app}\n{}\n", ok(&w, &["app", "show", app])));
    }
    let shown = shown
        .replace(&signer.fingerprint, "[FINGERPRINT]")
        .replace(&server.base(), "[SERVER]");
    assert_snapshot!(&w, "app_show_signatures", &shown);
    let j: Value = serde_json::from_str(&ok(&w, &["app", "show", "--json", "signed"])).unwrap();
    assert_eq!(j["variants"][0]["signature"]["status"], "valid");
    assert_eq!(
        j["variants"][0]["signature"]["fingerprint"],
        signer.fingerprint.as_str()
    );

    // An AppImage kept as a file in a variant is checked when shown.
    let raw = w.apps_dir().join("unsigned/package/raw");
    write(
        &raw.join("MPKG"),
        "version = '9'\ncontent = [{'name': 'unsigned', 'file': 'hello.AppImage'}]\n",
    );
    fs::copy(&signed, raw.join("hello.AppImage")).unwrap();
    let j: Value = serde_json::from_str(&ok(&w, &["app", "show", "--json", "unsigned"])).unwrap();
    let rawj = j["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "raw")
        .unwrap();
    assert_eq!(rawj["signature"]["status"], "valid", "{rawj}");

    // Updates of a signed app must carry the same key's signature.
    let v2 = hello_appimage(&src.path().join("v2"), "2.0", Some(&upd));
    publish(&server, &v2);
    let o = magpkg(&w, &["app", "update", "signed"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!(
            "the update of `signed` from {} is unsigned, but the installed variant was signed by {}",
            server.url("/rel/Hello-2.0-x86_64.AppImage"),
            signer.fingerprint
        )),
        "{}",
        show(&o)
    );
    let other = Signer::new("Someone Else <else@example.org>");
    other.sign(&v2);
    publish(&server, &v2);
    let o = magpkg(&w, &["app", "update", "signed"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains(&format!("is signed by {}", other.fingerprint)),
        "{}",
        show(&o)
    );
    assert_eq!(variants(&w, "signed"), ["signed-1.0-amd64"]);
    let v2 = hello_appimage(&src.path().join("v2b"), "2.0", Some(&upd));
    signer.sign(&v2);
    publish(&server, &v2);
    let out = ok(&w, &["app", "update", "signed"]);
    assert!(out.contains(&format!("signed by {}", signer.fingerprint)), "{out}");
    assert_eq!(ok(&w, &["app", "run", "signed"]), "hello 2.0\n");
    assert_eq!(variants(&w, "signed"), ["signed-2.0-amd64"]);
}
