//! Binary caches end to end, with the real binary: keys, `magpkg cache
//! push` to a directory and to an S3-compatible server (`s3s-fs`), served
//! by a real nginx, substitution into empty stores, the quorum of keys,
//! `magpkg challenge`, hostile and dead caches. Nothing a cache sends may
//! enter a store unverified; every refusal must name the cache and the
//! package, and the build must go on from source.
//!
//! The fast tests use packages made by the `unpack` builtin from local
//! tarballs (a "build from source" is unpacking the tarball); the slow one
//! pushes the tree's real `hello` built from the bootstrap root.

use std::path::{Path, PathBuf};
use std::process::Command;

use magpkg::model::PackageId;
use magpkg::store::Store;

use crate::support::packages::{local_package, tarball};
use crate::support::servers::{Nginx, S3};
use crate::support::{assert_same_tree, assert_store_clean, ok, text, TestContext};

/// One test: store A (the test context's) where packages are built and
/// pushed from, keys `k1` and `k2`, and the definition `app.jsonnet` of
/// `app` (bin/app) depending at run time on `lib` (lib/libgreet.txt).
struct World {
    ctx: TestContext,
    def: PathBuf,
    k1: String,
    k2: String,
}

fn world() -> World {
    let ctx = TestContext::new().with_path("/usr/local/bin:/usr/bin:/bin").trusting();
    let lib_tb = ctx.path("lib-1.0.tar.gz");
    tarball(
        &lib_tb,
        &[("lib/libgreet.txt", b"greetings from lib\n", false)],
        &[("lib/current", "libgreet.txt")],
    );
    let app_tb = ctx.path("app-1.0.tar.gz");
    tarball(&app_tb, &[("bin/app", b"#!/bin/sh\necho 'Hello, world!'\n", true)], &[]);
    // Sources only by file:// URL: a store that builds fetches them from
    // there, a store that substitutes never needs them.
    let lib = local_package("lib", "1.0", &lib_tb, &[]);
    let app = local_package("app", "1.0", &app_tb, &[]);
    let def = ctx.path("app.jsonnet");
    std::fs::write(&def, format!("local lib = {lib};\n{app} + {{ runDeps: [lib] }}\n")).unwrap();
    let k1 = ok(&ctx.run(&["key", "generate", "k1"])).trim().to_string();
    let k2 = ok(&ctx.run(&["key", "generate", "k2"])).trim().to_string();
    World { ctx, def, k1, k2 }
}

impl World {
    /// `magpkg ARGS` on store `store`, with `substituters` and `keys`.
    fn cmd(&self, store: &Path, substituters: &[&str], keys: &[&str]) -> Command {
        let mut c = self.ctx.cmd();
        c.env("MAGPKG_STORE", store)
            .env("MAGPKG_SUBSTITUTERS", substituters.join(" "))
            .env("MAGPKG_TRUSTED_KEYS", keys.join(" "));
        c
    }

    fn def(&self) -> &str {
        self.def.to_str().unwrap()
    }

    /// Build `app` in store A.
    fn build_in_a(&self) -> serde_json::Value {
        let out = ok(&self.ctx.run(&["--no-substitute", "build", "--json", "-f", self.def()]));
        serde_json::from_str(&out).unwrap()
    }

    /// Push app's closure from store A to `target`, signed by `key`.
    fn push(&self, target: &str, key: &str) -> String {
        ok(&self.ctx.run(&["cache", "push", target, "--key", key, "-f", self.def()]))
    }

    /// A fresh, empty store path under the test's root.
    fn store(&self, name: &str) -> PathBuf {
        self.ctx.path(&format!("stores/{name}"))
    }

    /// `magpkg build --json -f app.jsonnet` on `store`: (report, stderr).
    fn build(
        &self,
        store: &Path,
        substituters: &[&str],
        keys: &[&str],
        extra: &[(&str, &str)],
    ) -> (serde_json::Value, String) {
        let mut c = self.cmd(store, substituters, keys);
        c.envs(extra.iter().copied())
            .args(["build", "--json", "-f", self.def()]);
        let out = c.output().unwrap();
        let report = serde_json::from_str(&ok(&out)).unwrap();
        (report, text(&out.stderr))
    }
}

fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

fn names(report: &serde_json::Value, field: &str) -> Vec<String> {
    let mut v: Vec<String> = report[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn id_of(report: &serde_json::Value, name: &str) -> PackageId {
    for field in ["built", "present", "substituted", "roots"] {
        for p in report[field].as_array().into_iter().flatten() {
            if p["name"] == name {
                return PackageId::from_string(p["id"].as_str().unwrap().to_string());
            }
        }
    }
    panic!("no {name} in {report}")
}

fn archives(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache.join("magpkg-cache-v1/archives"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

// ------------------------------------------------------------------ keys

#[test]
fn key_generate_keeps_the_secret_private_and_prints_the_public_key() {
    use std::os::unix::fs::PermissionsExt;
    let w = world();
    let (name, b64) = w.k1.split_once(':').unwrap();
    assert_eq!(name, "k1");
    assert_eq!(b64.len(), 44, "32 bytes of base64: {}", w.k1);
    let secret = w.ctx.state_dir().join("keys/k1.secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_ne!(w.k1, w.k2);
    assert_eq!(ok(&w.ctx.run(&["key", "public", "k1"])).trim(), w.k1);

    // An existing key is never replaced: records it signed would lose
    // their signer.
    let out = w.ctx.run(&["key", "generate", "k1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the key `k1` already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok(&w.ctx.run(&["key", "public", "k1"])).trim(), w.k1);
    let out = w.ctx.run(&["key", "generate", "../evil"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not valid"), "{}", text(&out.stderr));

    // Pushing without any key says how to make one, before any work.
    let out = w.ctx.run(&["cache", "push", "file:///nonexistent", "-f", w.def()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no signing key") && err.contains("magpkg key generate"),
        "{err}"
    );
    let out = w
        .ctx
        .run(&["cache", "push", "file:///nonexistent", "--key", "nokey", "-f", w.def()]);
    assert!(
        text(&out.stderr).contains("no secret key `nokey`"),
        "{}",
        text(&out.stderr)
    );
}

// ------------------------------------------------------ push and substitute

/// The cache is a directory; the config file names it and the key. Store B
/// builds nothing, its entries are A's byte for byte, a re-push uploads
/// nothing, and a second cache pushed from B holds the same archive bytes.
#[test]
fn push_to_a_directory_then_an_empty_store_substitutes_the_closure() {
    let w = world();
    let a = w.build_in_a();
    assert_eq!(names(&a, "built"), ["app", "lib"]);
    let cache = w.ctx.path("cache1");
    let url = file_url(&cache);
    let out = w.push(&url, "k1");
    assert!(out.contains(": 2 uploaded") && out.contains("0 already there"), "{out}");
    let first = archives(&cache);
    assert_eq!(first.len(), 2);
    let mtimes: Vec<_> = first
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();

    // Unchanged closure: nothing uploaded, nothing rewritten.
    let out = w.push(&url, "k1");
    assert!(out.contains(": 0 uploaded") && out.contains("2 already there"), "{out}");
    let again: Vec<_> = first
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(mtimes, again);

    // Store B: the substituter and trusted key come from the config file.
    let b = w.store("b");
    std::fs::create_dir_all(w.ctx.config_dir().join("magpkg")).unwrap();
    std::fs::write(
        w.ctx.config_dir().join("magpkg/config.jsonnet"),
        format!("{{ substituters: ['{url}'], trustedKeys: ['{}'] }}\n", w.k1),
    )
    .unwrap();
    let out = w
        .ctx
        .cmd()
        .env("MAGPKG_STORE", &b)
        .args(["build", "--json", "-f", w.def()])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(names(&report, "built"), Vec::<String>::new(), "{}", text(&out.stderr));
    assert_eq!(names(&report, "substituted"), ["app", "lib"]);
    assert!(report["substituted"][0]["from"]
        .as_str()
        .unwrap()
        .starts_with("file://"));
    let sa = Store::open(w.ctx.store()).unwrap();
    let sb = Store::open(&b).unwrap();
    for name in ["app", "lib"] {
        let id = id_of(&a, name);
        assert_same_tree(&sa.package_path(&id).unwrap(), &sb.package_path(&id).unwrap());
        assert_eq!(
            sa.package(&id).unwrap().unwrap().digest,
            sb.package(&id).unwrap().unwrap().digest
        );
    }
    // B never needed the sources: nothing was fetched.
    assert!(sb.sources().unwrap().is_empty(), "{:?}", sb.sources().unwrap());
    assert_store_clean(&b);
    // It runs from B.
    let app = sb.package_path(&id_of(&a, "app")).unwrap();
    let o = Command::new(app.join("bin/app")).output().unwrap();
    assert_eq!(text(&o.stdout), "Hello, world!\n");

    // The same output packs to the same bytes on another machine (B).
    let cache2 = w.ctx.path("cache2");
    let out = w
        .ctx
        .cmd()
        .env("MAGPKG_STORE", &b)
        .args(["cache", "push", &file_url(&cache2), "--key", "k2", "--all"])
        .output()
        .unwrap();
    assert!(ok(&out).contains(": 2 uploaded"));
    let names_of = |v: &[PathBuf]| v.iter().map(|p| p.file_name().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        names_of(&archives(&cache2)),
        names_of(&first),
        "archive file names are their sha256"
    );
    for (x, y) in first.iter().zip(archives(&cache2)) {
        assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
    }

    // --substitute-only with a cache that lacks the package: an error
    // naming it, nothing built; --no-substitute builds although the cache has it.
    let empty = w.ctx.path("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    let c = w.store("c");
    let out = w
        .cmd(&c, &[&file_url(&empty)], &[&w.k1])
        .args(["--substitute-only", "build", "-f", w.def()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("--substitute-only forbids building") && err.contains("app 1.0") && err.contains("lib 1.0"),
        "{err}"
    );
    assert!(Store::open(&c).unwrap().packages().unwrap().is_empty());
    let d = w.store("d");
    let (report, _) = w.build(&d, &[&url], &[&w.k1], &[("MAGPKG_SUBSTITUTE", "0")]);
    assert_eq!(names(&report, "built"), ["app", "lib"]);
    let e = w.store("e");
    let out = w
        .cmd(&e, &[&url], &[&w.k1])
        .args(["--no-substitute", "build", "--json", "-f", w.def()])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(names(&report, "built"), ["app", "lib"]);
}

/// The same push and pull through a real S3-compatible server.
#[test]
fn push_to_s3_then_substitute_from_it() {
    let w = world();
    let a = w.build_in_a();
    let s3 = S3::start(&w.ctx.path("servers"), "magpkg-bucket");
    let url = "s3://magpkg-bucket/team/cache";
    let mut c = w.ctx.cmd();
    c.envs(s3.env())
        .args(["cache", "push", url, "--key", "k1", "-f", w.def()]);
    let out = ok(&c.output().unwrap());
    assert!(out.contains(": 2 uploaded"), "{out}");
    // Objects are where the format says, under the prefix.
    let idx = s3.root.join("magpkg-bucket/team/cache/magpkg-cache-v1/index.json");
    assert!(idx.is_file(), "no {}", idx.display());
    let mut c = w.ctx.cmd();
    c.envs(s3.env())
        .args(["cache", "push", url, "--key", "k1", "-f", w.def()]);
    assert!(ok(&c.output().unwrap()).contains(": 0 uploaded"));

    let b = w.store("b");
    let mut c = w.cmd(&b, &[url], &[&w.k1]);
    c.envs(s3.env()).args(["build", "--json", "-f", w.def()]);
    let out = c.output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(names(&report, "substituted"), ["app", "lib"], "{}", text(&out.stderr));
    assert_eq!(names(&report, "built"), Vec::<String>::new());
    let (sa, sb) = (Store::open(w.ctx.store()).unwrap(), Store::open(&b).unwrap());
    for name in ["app", "lib"] {
        let id = id_of(&a, name);
        assert_same_tree(&sa.package_path(&id).unwrap(), &sb.package_path(&id).unwrap());
    }
    assert_store_clean(&b);
}

// ------------------------------------------------------------------ quorum

/// Put in a new store `dir` the entries of `app`'s closure with `app`'s
/// tree replaced by other content under the same id: what a builder that
/// builds differently, or lies, would push.
fn forged_store(w: &World, a: &serde_json::Value, dir: &Path) {
    let sa = Store::open(w.ctx.store()).unwrap();
    let sf = Store::open(dir).unwrap();
    for name in ["lib", "app"] {
        let id = id_of(a, name);
        let rec = sa.package(&id).unwrap().unwrap();
        let tree = sf.tempdir("forge-").unwrap().keep();
        if name == "app" {
            std::fs::create_dir_all(tree.join("bin")).unwrap();
            crate::support::write_exe(&tree.join("bin/app"), "#!/bin/sh\necho 'pwned'\n");
        } else {
            let out = Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", sa.package_path(&id).unwrap().display()))
                .arg(&tree)
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        sf.add_package(&tree, rec).unwrap();
    }
}

#[test]
fn a_quorum_of_keys_decides_and_challenge_shows_who_disagrees() {
    let w = world();
    let a = w.build_in_a();
    let honest1 = w.ctx.path("honest-k1");
    let honest2 = w.ctx.path("honest-k2");
    let evil = w.ctx.path("evil-k2");
    w.push(&file_url(&honest1), "k1");
    w.push(&file_url(&honest2), "k2");
    let forged = w.ctx.path("forged-store");
    forged_store(&w, &a, &forged);
    ok(&w
        .ctx
        .cmd()
        .env("MAGPKG_STORE", &forged)
        .args(["cache", "push", &file_url(&evil), "--key", "k2", "--all"])
        .output()
        .unwrap());
    let keys = [w.k1.as_str(), w.k2.as_str()];
    let q2 = [("MAGPKG_SUBSTITUTE_QUORUM", "2")];

    // One honest cache and one that signed other content: no digest has
    // two keys, so app is built from source (lib, where they agree, is
    // substituted).
    let b = w.store("b");
    let (report, err) = w.build(&b, &[&file_url(&honest1), &file_url(&evil)], &keys, &q2);
    assert_eq!(names(&report, "built"), ["app"], "{err}");
    assert_eq!(names(&report, "substituted"), ["lib"], "{err}");
    assert!(
        err.contains("app 1.0") && err.contains("no content digest is signed by 2 distinct trusted keys"),
        "{err}"
    );
    let app = Store::open(&b).unwrap().package_path(&id_of(&a, "app")).unwrap();
    assert_eq!(
        text(&Command::new(app.join("bin/app")).output().unwrap().stdout),
        "Hello, world!\n"
    );

    // Two caches agreeing, with two keys: substituted.
    let c = w.store("c");
    let (report, err) = w.build(&c, &[&file_url(&honest1), &file_url(&honest2)], &keys, &q2);
    assert_eq!(names(&report, "substituted"), ["app", "lib"], "{err}");
    assert_eq!(names(&report, "built"), Vec::<String>::new());

    // One key signing in two caches is one vote.
    let d = w.store("d");
    let (report, err) = w.build(&d, &[&file_url(&honest1), &file_url(&honest1)], &keys, &q2);
    assert_eq!(names(&report, "built"), ["app", "lib"], "{err}");

    // Quorum 1 and two trusted keys that disagree: neither is safe.
    let e = w.store("e");
    let (report, err) = w.build(&e, &[&file_url(&evil), &file_url(&honest1)], &keys, &[]);
    assert_eq!(names(&report, "built"), ["app"], "{err}");
    assert!(err.contains("trusted keys signed different contents"), "{err}");
    // Quorum 1, only the liar: the output is taken, and challenge is how
    // the machine that built it finds out.
    let out = w
        .ctx
        .cmd()
        .env(
            "MAGPKG_SUBSTITUTERS",
            format!("{} {}", file_url(&honest1), file_url(&evil)),
        )
        .env("MAGPKG_TRUSTED_KEYS", keys.join(" "))
        .args(["challenge", "app"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.contains("app 1.0") && o.contains("DIFFERS"), "{o}");
    assert!(
        o.contains(&format!("{}: blake3:", file_url(&evil))) && o.contains("signed by k2"),
        "{o}"
    );
    let local = Store::open(w.ctx.store())
        .unwrap()
        .package(&id_of(&a, "app"))
        .unwrap()
        .unwrap()
        .digest;
    assert!(o.contains(&format!("local store: {local}")), "{o}");
    assert!(
        text(&out.stderr).contains("1 of 1 package signed with another content"),
        "{}",
        text(&out.stderr)
    );

    let out = w
        .ctx
        .cmd()
        .env(
            "MAGPKG_SUBSTITUTERS",
            format!("{} {}", file_url(&honest1), file_url(&honest2)),
        )
        .env("MAGPKG_TRUSTED_KEYS", keys.join(" "))
        .args(["challenge", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let pkgs = doc["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 2);
    assert!(
        pkgs.iter()
            .all(|p| p["agrees"] == true && p["caches"].as_array().unwrap().len() == 2),
        "{doc}"
    );
    for s in [&b, &c, &d, &e] {
        assert_store_clean(s);
    }
}

// ------------------------------------------------------------ bad caches

/// A copy of the honest cache `src` at `dst`, changed by `spoil`.
fn spoiled(src: &Path, dst: &Path, spoil: impl FnOnce(&Path)) -> String {
    let out = Command::new("cp").arg("-a").arg(src).arg(dst).output().unwrap();
    assert!(out.status.success());
    spoil(dst);
    file_url(dst)
}

fn record_file(cache: &Path, id: &PackageId) -> PathBuf {
    cache.join(format!("magpkg-cache-v1/records/{}.json", id.as_str()))
}

fn archive_of(cache: &Path, id: &PackageId) -> PathBuf {
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(record_file(cache, id)).unwrap()).unwrap();
    cache
        .join("magpkg-cache-v1/archives")
        .join(rec["archive"]["file"].as_str().unwrap())
}

#[test]
fn a_bad_cache_is_refused_by_name_and_the_build_goes_on_from_source() {
    use std::io::Write;
    let w = world();
    let a = w.build_in_a();
    let app = id_of(&a, "app");
    let honest = w.ctx.path("honest");
    w.push(&file_url(&honest), "k1");
    let k1 = w.k1.as_str();

    let mut n = 0;
    let mut expect_refusal = |what: &str, url: &str, keys: &[&str], reason: &str| {
        n += 1;
        let store = w.store(&format!("s{n}"));
        let (report, err) = w.build(&store, &[url], keys, &[]);
        assert!(
            names(&report, "built").contains(&"app".to_string()),
            "{what}: app must be built from source\n{err}"
        );
        assert!(
            err.contains(&format!("warning: binary cache {url}")),
            "{what}: the cache is named\n{err}"
        );
        assert!(err.contains("app 1.0"), "{what}: the package is named\n{err}");
        assert!(err.contains(reason), "{what}: expected `{reason}` in\n{err}");
        // What is in the store was built here: it is A's output.
        let s = Store::open(&store).unwrap();
        assert_eq!(
            s.package(&app).unwrap().unwrap().digest,
            Store::open(w.ctx.store())
                .unwrap()
                .package(&app)
                .unwrap()
                .unwrap()
                .digest,
            "{what}"
        );
        assert_store_clean(&store);
    };

    // A byte of the archive changed (size kept).
    let url = spoiled(&honest, &w.ctx.path("flipped"), |c| {
        let f = archive_of(c, &app);
        let mut bytes = std::fs::read(&f).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&f, bytes).unwrap();
    });
    expect_refusal("tampered archive", &url, &[k1], "the archive's sha256 is");

    // Truncated.
    let url = spoiled(&honest, &w.ctx.path("truncated"), |c| {
        let f = archive_of(c, &app);
        let bytes = std::fs::read(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() / 3]).unwrap();
    });
    expect_refusal("truncated archive", &url, &[k1], "truncated download");

    // A key nobody trusts.
    expect_refusal(
        "unknown key",
        &file_url(&honest),
        &[&w.k2],
        "signed by unknown key `k1`",
    );

    // The record's digest changed, its signature kept.
    let url = spoiled(&honest, &w.ctx.path("rewritten"), |c| {
        let f = record_file(c, &app);
        let mut rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        rec["digest"] = format!("blake3:{}", "0".repeat(64)).into();
        std::fs::write(&f, serde_json::to_vec(&rec).unwrap()).unwrap();
    });
    expect_refusal("rewritten record", &url, &[k1], "bad signature by key `k1`");

    // lib's signed record copied under app's id.
    let lib = id_of(&a, "lib");
    let url = spoiled(&honest, &w.ctx.path("copied"), |c| {
        std::fs::copy(record_file(c, &lib), record_file(c, &app)).unwrap();
    });
    expect_refusal(
        "record of another id",
        &url,
        &[k1],
        &format!("the record is for package id {}", lib.as_str()),
    );

    // A validly signed record whose archive writes outside its root.
    let escape = w.ctx.path("escaped");
    let url = spoiled(&honest, &w.ctx.path("hostile"), |c| {
        let mut tar_bytes = Vec::new();
        {
            let mut tb = tar::Builder::new(&mut tar_bytes);
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(3);
            h.set_mode(0o644);
            let rel = format!("../../../../../../../../..{}", escape.display());
            h.as_gnu_mut().unwrap().name[..rel.len()].copy_from_slice(rel.as_bytes());
            h.set_cksum();
            tb.append(&h, &b"bad"[..]).unwrap();
            tb.finish().unwrap();
        }
        let mut zst = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        zst.write_all(&tar_bytes).unwrap();
        let zst = zst.finish().unwrap();
        let sha = crate::support::sha256(&zst);
        let archive = c.join(format!("magpkg-cache-v1/archives/{sha}.tar.zst"));
        std::fs::write(&archive, &zst).unwrap();
        let f = record_file(c, &app);
        let mut rec: magpkg::cache::record::Record = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        rec.archive.file = format!("{sha}.tar.zst");
        rec.archive.size = zst.len() as u64;
        rec.archive.sha256 = sha;
        let secret = std::fs::read_to_string(w.ctx.state_dir().join("keys/k1.secret")).unwrap();
        let key = magpkg::cache::sign::SecretKey::parse(&secret, "k1.secret").unwrap();
        rec.signatures = vec![key.sign(&rec.to_value())];
        std::fs::write(&f, rec.to_file_bytes()).unwrap();
    });
    expect_refusal("hostile archive", &url, &[k1], "contains `..`");
    assert!(!escape.exists(), "the archive wrote outside its root");

    // The next substituter is tried after a refusal.
    let store = w.store("next");
    let bad = file_url(&w.ctx.path("flipped"));
    let (report, err) = w.build(&store, &[&bad, &file_url(&honest)], &[k1], &[]);
    assert_eq!(names(&report, "substituted"), ["app", "lib"], "{err}");
    assert!(err.contains("sha256"), "{err}");
    assert_store_clean(&store);
}

// ------------------------------------------------------------- dead caches

/// An HTTP server answering 503 to everything.
fn failing_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            });
        }
    });
    port
}

/// A cache that never answers, refuses connections or fails is skipped
/// (once, with a warning), and the build goes on from source; a package
/// already in the store never asks a cache. (How long the fallback takes
/// is measured in bench/, not here.)
#[test]
fn a_dead_cache_is_skipped_and_the_build_falls_back_to_source() {
    let w = world();
    let a = w.build_in_a();
    let (silent, _) = crate::support::net::silent_peer();
    let closed = crate::support::net::closed_port();
    let failing = failing_server();
    let k1 = w.k1.as_str();
    for (what, url, reason) in [
        (
            "silent",
            format!("http://127.0.0.1:{silent}/cache"),
            "no answer within 1s",
        ),
        (
            "refusing",
            format!("http://127.0.0.1:{closed}/cache"),
            "not asked again",
        ),
        ("failing", format!("http://127.0.0.1:{failing}/cache"), "HTTP 503"),
    ] {
        let store = w.store(what);
        let (report, err) = w.build(&store, &[&url], &[k1], &[]);
        assert_eq!(names(&report, "built"), ["app", "lib"], "{what}: {err}");
        assert!(
            err.contains(&format!("warning: binary cache {url}")) && err.contains(reason),
            "{what}: {err}"
        );
        assert_eq!(
            err.matches("warning: binary cache").count(),
            1,
            "{what}: warned once: {err}"
        );
        // Now present: no cache is asked at all.
        let (report, err) = w.build(&store, &[&url], &[k1], &[]);
        assert_eq!(names(&report, "present"), ["app", "lib"], "{what}: {err}");
        assert!(!err.contains("binary cache"), "{what}: {err}");
    }
    drop(a);
}

// ------------------------------------------------------- slow: real hello

/// The tree's `hello`, built from the bootstrap root in store A, pushed to
/// a directory served by nginx; in an empty store B whose only substituter
/// is that nginx, `magpkg shell -- hello` builds nothing.
#[test]
#[ignore]
fn real_hello_from_nginx_builds_nothing() {
    let w = world();
    w.ctx.seed_bootstrap();
    let mut c = w.ctx.cmd();
    crate::support::real_network(&mut c).args(["--no-substitute", "build", "hello"]);
    let hello_a = PathBuf::from(ok(&c.output().unwrap()).trim());
    let cache = w.ctx.path("www");
    let out = ok(&w.ctx.run(&["cache", "push", &file_url(&cache), "--key", "k1", "hello"]));
    assert!(
        out.contains(": 1 uploaded"),
        "hello's runtime closure is hello alone: {out}"
    );
    let nginx = Nginx::serve(&cache, &w.ctx.path("servers"));

    let project = w.ctx.project("proj");
    std::fs::write(
        project.join("magnet.jsonnet"),
        "local pkgs = import 'magnet/packages.jsonnet';\n{ packages: [pkgs.hello] }\n",
    )
    .unwrap();
    let b = w.store("b");
    let out = w
        .cmd(&b, &[&nginx.url()], &[&w.k1])
        .current_dir(&project)
        .args(["shell", "--", "hello"])
        .output()
        .unwrap();
    assert_eq!(ok(&out), "Hello, world!\n");
    let err = text(&out.stderr);
    assert!(!err.contains("built "), "{err}");
    let sb = Store::open(&b).unwrap();
    let recs = sb.packages().unwrap();
    assert_eq!(
        recs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["hello"],
        "no bootstrap, no build"
    );
    let id = PackageId::from_string(recs[0].id.clone());
    assert_same_tree(&hello_a, &sb.package_path(&id).unwrap());
    assert!(sb.sources().unwrap().is_empty());
    let reqs = nginx.requests();
    assert!(
        reqs.iter().any(|r| r.starts_with("GET /magpkg-cache-v1/index.json")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|r| r.starts_with("GET /magpkg-cache-v1/archives/")),
        "{reqs:?}"
    );
    assert_store_clean(&b);
}

/// `cache push --env DIR` pushes a project environment's closure (what
/// `magpkg shell` there needs); an empty store then enters the project
/// with nothing built.
#[test]
fn push_env_pushes_a_projects_closure() {
    let w = world();
    let proj = w.ctx.path("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("magnet.jsonnet"),
        format!("{{ packages: [import '{}'] }}\n", w.def.display()),
    )
    .unwrap();
    // Build the environment in store A, then push it by directory.
    let mut c = w.ctx.cmd();
    c.current_dir(&proj).args(["--no-substitute", "env", "--format", "sh"]);
    ok(&c.output().unwrap());
    let cache = w.ctx.path("cache-env");
    let url = file_url(&cache);
    let out = ok(&w
        .ctx
        .run(&["cache", "push", &url, "--key", "k1", "--env", proj.to_str().unwrap()]));
    assert!(out.contains(": 2 uploaded"), "{out}");
    assert_eq!(archives(&cache).len(), 2);
    // Store B: `magpkg shell -- app` there substitutes both, builds nothing.
    let b = w.store("env-b");
    let mut c = w.cmd(&b, &[&url], &[&w.k1]);
    c.current_dir(&proj).args(["shell", "--", "app"]);
    let o = c.output().unwrap();
    assert_eq!(ok(&o), "Hello, world!\n");
    let stderr = text(&o.stderr);
    assert!(!stderr.contains("built "), "{stderr}");
    assert_eq!(Store::open(&b).unwrap().packages().unwrap().len(), 2);
    assert_store_clean(&b);
}

/// Issue 16 item 6: a store entry whose files changed is never pushed: the
/// push that finds it marks it damaged in its record, the next push refuses
/// it by that mark before reading a file; `store verify --repair` takes it
/// from a configured binary cache (checked as every substitute is), and it
/// can be pushed again.
#[test]
fn a_damaged_entry_is_never_pushed_and_repair_takes_it_from_a_cache() {
    use std::os::unix::fs::PermissionsExt;
    let w = world();
    let a = w.build_in_a();
    let good = file_url(&w.ctx.path("cache-good"));
    assert!(w.push(&good, "k1").contains(": 2 uploaded"));
    let app = id_of(&a, "app");
    let store = Store::open(w.ctx.store()).unwrap();
    let dir = store.package_path(&app).unwrap();
    let file = dir.join("bin/app");
    std::fs::set_permissions(dir.join("bin"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        &file,
        "#!/bin/sh
echo tampered
",
    )
    .unwrap();

    let other = w.ctx.path("cache-other");
    let url = file_url(&other);
    for first in [true, false] {
        let o = w.ctx.run(&["cache", "push", &url, "--key", "k1", "-f", w.def()]);
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{err}");
        if first {
            // Found by the closure's full check, which marks it.
            assert!(
                err.contains(&format!("error: package app ({app}) is corrupt in the store")),
                "{err}"
            );
        } else {
            assert_eq!(o.status.code(), Some(1), "{err}");
            assert!(
                err.contains(&format!("error: package app ({app}) is damaged in the store")),
                "{err}"
            );
            assert!(
                err.contains("hint: its files no longer match its record; `magpkg store verify --repair"),
                "{err}"
            );
        }
        let pushed = other.join("magpkg-cache-v1/archives");
        assert!(
            !pushed.exists() || std::fs::read_dir(&pushed).unwrap().count() <= 1,
            "the damaged entry's archive is not in the cache"
        );
    }
    assert!(store.package(&app).unwrap().unwrap().damaged.is_some());

    let out = ok(&w
        .cmd(w.ctx.store(), &[&good], &[&w.k1])
        .args(["store", "verify", "--repair", "app"])
        .output()
        .unwrap());
    assert!(out.contains(&format!("repaired app {app} (from {good})")), "{out}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "#!/bin/sh
echo 'Hello, world!'
"
    );
    ok(&w.ctx.run(&["store", "verify"]));
    assert!(w.push(&url, "k1").contains("uploaded"));
    assert_store_clean(w.ctx.store());
}

/// On a terminal, a substitution shows a download bar per package (name,
/// bytes, the cache), as builds show spinners (real tmux, a cache served
/// slowly over HTTP on loopback).
#[test]
fn downloads_show_progress_bars_on_a_terminal() {
    let w = world();
    w.build_in_a();
    let cache = w.ctx.path("cache-tty");
    w.push(&file_url(&cache), "k1");
    let server = crate::support::net::HttpServer::start();
    for f in walk(&cache) {
        let rel = f.strip_prefix(&cache).unwrap().to_str().unwrap().to_string();
        let behaviour = if rel.contains("/archives/") {
            crate::support::net::Behaviour::Slow(3000)
        } else {
            crate::support::net::Behaviour::Normal
        };
        server.serve(&format!("/{rel}"), std::fs::read(&f).unwrap(), behaviour);
    }
    let b = w.store("tty-b");
    let t = crate::support::tmux::Tmux::outer_bash(
        &w.ctx,
        w.ctx.root(),
        &[
            ("MAGPKG_STORE", b.display().to_string()),
            ("MAGPKG_SUBSTITUTERS", server.base()),
            ("MAGPKG_TRUSTED_KEYS", w.k1.clone()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ],
    );
    t.send(&format!(
        "{} build -f {}; echo SUBST''-DONE",
        crate::support::magpkg_bin().display(),
        w.def()
    ));
    let pane = t.wait_for("a download bar", |p| {
        p.contains(&format!("from {}", server.base())) && p.contains("lib 1.0")
    });
    assert!(!pane.contains("SUBST-DONE"), "shown while downloading:\n{pane}");
    let pane = t.wait_for_text("SUBST-DONE", 1);
    assert!(pane.contains("substituted"), "{pane}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
