//! Sources and binary-cache archives in BitTorrent swarms, with real peers
//! on loopback only: `magpkg seed` nodes on a private DHT bootstrapped from
//! each other, a peer serving corrupted pieces (tests/fixtures/bad_peer.py),
//! aria2c both ways through a loopback tracker, and the bounded wait before
//! HTTP when nobody seeds. Nothing from a peer may enter a store unverified.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use magpkg::model::PackageId;
use magpkg::store::Store;

use crate::fetch::{Aria2cSeeder, Seeder};
use crate::support::net::{closed_port, free_port, Behaviour, HttpServer, Tracker};
use crate::support::packages::{local_package, tarball};
use crate::support::servers::Nginx;
use crate::support::{
    assert_same_tree, assert_store_clean, fixture, ok, pseudo_random, require, sha256, stderr, stdout, text,
    TestContext,
};

/// The magnet of a file as `magpkg source magnet` prints it (computed in a
/// throwaway store).
fn magnet_of(file: &Path) -> String {
    let env = TestContext::new();
    ok(&env.run(&["source", "add", file.to_str().unwrap()]));
    ok(&env.run(&["source", "magnet", file.file_name().unwrap().to_str().unwrap()]))
        .trim()
        .to_string()
}

/// One machine of a swarm test: its own store, a package `pkg` built from a
/// local tarball (the "build from source" is unpacking it) and a key.
struct Machine {
    ctx: TestContext,
    def: PathBuf,
}

impl Machine {
    fn new() -> Machine {
        // Incompressible, so the archive has many pieces (~1.3 MB).
        Machine::with_blob(1_300_000)
    }

    /// pkg with `len` incompressible bytes.
    fn with_blob(len: usize) -> Machine {
        let ctx = TestContext::new().with_path("/usr/local/bin:/usr/bin:/bin");
        let tb = ctx.path("pkg-1.0.tar.gz");
        let blob = pseudo_random(len, 31);
        tarball(
            &tb,
            &[
                ("bin/pkg", b"#!/bin/sh\necho swarm\n", true),
                ("share/pkg/blob", &blob, false),
            ],
            &[],
        );
        let pkg = local_package("pkg", "1.0", &tb, &[]);
        let def = ctx.path("pkg.jsonnet");
        std::fs::write(&def, format!("{pkg}\n")).unwrap();
        Machine { ctx, def }
    }

    fn def(&self) -> &str {
        self.def.to_str().unwrap()
    }

    /// Build pkg here (from source), push it to the `file://` cache `dir`
    /// signed by a new key `k`; the public key.
    fn build_and_push(&self, dir: &Path) -> String {
        ok(&self.ctx.run(&["--no-substitute", "build", "-f", self.def()]));
        let key = ok(&self.ctx.run(&["key", "generate", "k"])).trim().to_string();
        ok(&self.ctx.run(&[
            "cache",
            "push",
            &format!("file://{}", dir.display()),
            "--key",
            "k",
            "-f",
            self.def(),
        ]));
        key
    }

    fn pkg_id(&self) -> PackageId {
        let out = ok(&self.ctx.run(&["eval", "-f", self.def()]));
        let graph: serde_json::Value = serde_json::from_str(&out).unwrap();
        PackageId::from_string(graph["roots"][0].as_str().unwrap().to_string())
    }
}

/// The record of `id` in the `file://` cache at `dir`.
fn record(dir: &Path, id: &PackageId) -> serde_json::Value {
    let p = dir.join(format!("magpkg-cache-v1/records/{id}.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Remove every archive of the cache: what is left (index and signed
/// records) says what to take, not where the bytes are.
fn drop_archives(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("magpkg-cache-v1/archives")).unwrap() {
        let e = e.unwrap();
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        ));
        std::fs::remove_file(e.path()).unwrap();
    }
    out
}

/// `magpkg` of `ctx` on a DHT bootstrapped only from `dht` (loopback).
fn on_dht(ctx: &TestContext, dht: &[u16]) -> Command {
    let nodes: Vec<String> = dht.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut c = ctx.cmd();
    c.env("MAGPKG_DHT", "1")
        .env("MAGPKG_DHT_BOOTSTRAP", nodes.join(" "))
        .env("MAGPKG_STALL_TIMEOUT", "90");
    c
}

#[test]
fn five_nodes_on_a_private_dht_share_a_source_and_a_package() {
    let cache = tempfile::tempdir().unwrap();
    let first = Machine::new();
    let key = first.build_and_push(cache.path());
    let id = first.pkg_id();
    let rec = record(cache.path(), &id);
    let btih = rec["btih"]
        .as_str()
        .expect("the signed record names the archive's info-hash")
        .to_string();
    let archives = drop_archives(cache.path());
    assert_eq!(archives.len(), 1);

    // A source only the first machine has.
    let src = first.ctx.path("swarm-src-2.0.tar.gz");
    let data = pseudo_random(2_000_000, 32);
    std::fs::write(&src, &data).unwrap();
    let sha = sha256(&data);
    let magnet = magnet_of(&src);
    ok(&first.ctx.run(&["source", "add", src.to_str().unwrap()]));

    // Five nodes, each a `magpkg seed` whose DHT node has a fixed port (its
    // peer port too) and knows only the four others. No tracker, no x.pe:
    // the leechers know the DHT's nodes, nothing else.
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let others: Vec<Machine> = (0..4).map(|_| Machine::new()).collect();
    let ctxs: Vec<&TestContext> = std::iter::once(&first.ctx)
        .chain(others.iter().map(|m| &m.ctx))
        .collect();
    let mut seeders = Vec::new();
    for (i, ctx) in ctxs.iter().enumerate() {
        let peers: Vec<u16> = ports.iter().copied().filter(|&p| p != ports[i]).collect();
        let mut c = on_dht(ctx, &peers);
        c.env("MAGPKG_DHT_PORT", ports[i].to_string())
            .args(["seed", "--poll", "1"]);
        seeders.push(Seeder::spawn(c));
    }
    for (s, p) in seeders.iter().zip(&ports) {
        assert_eq!(s.port, *p, "the peer port is the DHT port");
    }
    let line = seeders[0].wait_for(|l| l.starts_with("seeding ") && l.contains(&sha));
    assert!(line.ends_with(&magnet), "{line}");
    let line = seeders[0].wait_for(|l| l.starts_with("seeding ") && l.contains("package pkg 1.0"));
    assert!(
        line.contains(&btih),
        "the seeder's archive has the signed info-hash: {line}"
    );

    // The four others take both, knowing only the magnet (from the tree)
    // and the signed record (from the cache, which has no archive).
    for m in &others {
        let t = Instant::now();
        let out = on_dht(&m.ctx, &ports)
            .args(["source", "fetch", "--sha256", &sha, &magnet])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
        eprintln!("source by DHT in {:?}", t.elapsed());

        let out = on_dht(&m.ctx, &ports)
            .env("MAGPKG_SUBSTITUTERS", format!("file://{}", cache.path().display()))
            .env("MAGPKG_TRUSTED_KEYS", &key)
            .args(["build", "--json", "-f", m.def()])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
        assert_eq!(report["built"].as_array().unwrap().len(), 0, "{}", text(&out.stderr));
        let from = report["substituted"][0]["from"].as_str().unwrap();
        assert!(
            from.starts_with("the swarm (magnet:?xt=urn:btih:") && from.contains(&btih),
            "{from}"
        );
        let here = Store::open(m.ctx.store()).unwrap();
        let there = Store::open(first.ctx.store()).unwrap();
        assert_same_tree(&here.package_path(&id).unwrap(), &there.package_path(&id).unwrap());
        // Nothing of the download left behind (this machine's own seeder
        // may be packing the new package for seeding meanwhile).
        let left: Vec<String> = std::fs::read_dir(m.ctx.store().join("tmp-v1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("archive-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        here.verify_package(&id).unwrap();
    }
    for s in seeders {
        let (st, _) = s.stop();
        assert!(st.success());
    }
}

/// tests/fixtures/bad_peer.py serving `file` (flipped bytes) for `btih`.
struct BadPeer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl BadPeer {
    fn start(file: &Path, btih: &str) -> BadPeer {
        let log = file.with_extension("bad-peer.log");
        let mut child = Command::new(require("python3"))
            .arg(fixture("bad_peer.py"))
            .arg(file)
            .arg(btih)
            .arg((1u32 << 18).to_string())
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
        BadPeer { child, port, log }
    }

    /// Corrupted blocks sent so far.
    fn blocks_sent(&self) -> usize {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().count()
    }
}

impl Drop for BadPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_peer_serving_corrupted_pieces_neither_stops_the_download_nor_reaches_the_store() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("corrupt-me-1.0.tar.gz");
    let data = pseudo_random(3_000_000, 33);
    std::fs::write(&file, &data).unwrap();
    let sha = sha256(&data);
    let magnet = magnet_of(&file);
    let btih = magnet["magnet:?xt=urn:btih:".len()..][..40].to_string();
    let bad = BadPeer::start(&file, &btih);

    // A good seeder too: the download completes from it.
    let seeder_env = TestContext::new();
    ok(&seeder_env.run(&["source", "add", file.to_str().unwrap()]));
    let mut seeder = Seeder::spawn({
        let mut c = seeder_env.cmd();
        c.args(["seed", "--port", "0", "--poll", "1"]);
        c
    });
    seeder.wait_for(|l| l.starts_with("seeding "));
    let env = TestContext::new();
    let link = format!("{magnet}&x.pe=127.0.0.1:{}&x.pe=127.0.0.1:{}", bad.port, seeder.port);
    let out = env
        .cmd()
        .env("MAGPKG_STALL_TIMEOUT", "60")
        .args(["source", "fetch", "--sha256", &sha, &link])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
    assert_store_clean(env.store());
    eprintln!(
        "corrupted blocks sent while a good seeder served: {}",
        bad.blocks_sent()
    );
    let (st, _) = seeder.stop();
    assert!(st.success());

    // Only the bad peer: the swarm never verifies a piece, HTTP takes over
    // after the bounded wait, and nothing of the peer's bytes is kept.
    let server = HttpServer::start();
    server.serve("/d/corrupt-me-1.0.tar.gz", data.clone(), Behaviour::Normal);
    let env = TestContext::new();
    let out = env
        .cmd()
        .env("MAGPKG_STALL_TIMEOUT", "60")
        .env("MAGPKG_SWARM_WAIT", "2")
        .args([
            "source",
            "fetch",
            "--sha256",
            &sha,
            &format!("{magnet}&x.pe=127.0.0.1:{}", bad.port),
            &server.url("/d/corrupt-me-1.0.tar.gz"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("from {}", server.url("/d/corrupt-me-1.0.tar.gz"))),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
    assert_store_clean(env.store());
    assert!(
        bad.blocks_sent() > 0,
        "the bad peer was asked for pieces and sent corrupted ones"
    );
}

#[test]
fn a_magnet_nobody_seeds_falls_back_to_http_after_the_swarm_wait() {
    let server = HttpServer::start();
    let data = pseudo_random(500_000, 34);
    let sha = sha256(&data);
    server.serve("/d/lonely-1.0.tar.gz", data.clone(), Behaviour::Normal);
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("lonely-1.0.tar.gz");
    std::fs::write(&f, &data).unwrap();
    let magnet = magnet_of(&f);
    // The DHT is on, but its only bootstrap node is a closed port: no peer
    // anywhere. The stall timeout is long; the swarm wait is not.
    let env = TestContext::new();
    let t = Instant::now();
    let out = env
        .cmd()
        .env("MAGPKG_DHT", "1")
        .env("MAGPKG_DHT_BOOTSTRAP", format!("127.0.0.1:{}", closed_port()))
        .env("MAGPKG_STALL_TIMEOUT", "300")
        .env("MAGPKG_SWARM_WAIT", "2")
        .args([
            "source",
            "fetch",
            "--sha256",
            &sha,
            &magnet,
            &server.url("/d/lonely-1.0.tar.gz"),
        ])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("from {}", server.url("/d/lonely-1.0.tar.gz"))));
    // HTTP waited for the swarm (the magnet comes first), but only the
    // swarm wait, never the stall timeout.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_package_nobody_seeds_comes_from_the_cache_after_the_swarm_wait() {
    let cache = tempfile::tempdir().unwrap();
    let m = Machine::new();
    let key = m.build_and_push(cache.path());
    let id = m.pkg_id();
    assert!(record(cache.path(), &id)["btih"].is_string());
    let work = tempfile::tempdir().unwrap();
    let nginx = Nginx::serve(cache.path(), work.path());
    let other = Machine::new();
    let t = Instant::now();
    let out = other
        .ctx
        .cmd()
        .env("MAGPKG_DHT", "1")
        .env("MAGPKG_DHT_BOOTSTRAP", format!("127.0.0.1:{}", closed_port()))
        .env("MAGPKG_STALL_TIMEOUT", "300")
        .env("MAGPKG_SWARM_WAIT", "2")
        .env("MAGPKG_SUBSTITUTERS", nginx.url())
        .env("MAGPKG_TRUSTED_KEYS", &key)
        .args(["build", "--json", "-f", other.def()])
        .output()
        .unwrap();
    let took = t.elapsed();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["substituted"][0]["from"], nginx.url());
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert!(nginx.requests().iter().any(|r| r.contains("/archives/")));
}

#[test]
fn aria2c_takes_a_package_archive_from_magpkg_seed_and_magpkg_takes_one_from_aria2c() {
    let aria2c = require("aria2c");
    let tracker = Tracker::start();
    let cache = tempfile::tempdir().unwrap();
    let m = Machine::new();
    let key = m.build_and_push(cache.path());
    let id = m.pkg_id();
    let rec = record(cache.path(), &id);
    let archive_sha = rec["archive"]["sha256"].as_str().unwrap().to_string();
    let archive_file = rec["archive"]["file"].as_str().unwrap().to_string();

    // aria2c, through the loopback tracker, from `magpkg seed`.
    let mut seeder = Seeder::spawn({
        let mut c = m.ctx.cmd();
        c.args([
            "seed",
            "--port",
            "0",
            "--poll",
            "1",
            "--tracker",
            &tracker.announce_url(),
        ]);
        c
    });
    let line = seeder.wait_for(|l| l.starts_with("seeding ") && l.contains("package pkg 1.0"));
    let magnet = line.split_whitespace().last().unwrap().to_string();
    let dl = cache.path().join("aria2");
    let out = Command::new(&aria2c)
        .args([
            "--enable-dht=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-time=0",
            "--bt-stop-timeout=60",
            "--console-log-level=warn",
            "--summary-interval=0",
        ])
        .arg(format!("--listen-port={}", free_port()))
        .arg(format!("--dir={}", dl.display()))
        .arg(format!("--bt-tracker={}", tracker.announce_url()))
        .arg(&magnet)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aria2c: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let got = std::fs::read(dl.join(&archive_file)).unwrap();
    assert_eq!(sha256(&got), archive_sha, "aria2c got the signed archive");
    let (st, _) = seeder.stop();
    assert!(st.success());

    // magpkg, from an aria2c seeding that archive (the cache itself keeps
    // only its records).
    let archives = drop_archives(cache.path());
    let seed_dir = cache.path().join("aria-seed");
    std::fs::create_dir(&seed_dir).unwrap();
    std::fs::write(seed_dir.join(&archives[0].0), &archives[0].1).unwrap();
    let tool = TestContext::new();
    ok(&tool.run(&["source", "add", seed_dir.join(&archive_file).to_str().unwrap()]));
    let torrent = cache.path().join("pkg.torrent");
    ok(&tool.run(&[
        "source",
        "torrent",
        &archive_sha,
        "-o",
        torrent.to_str().unwrap(),
        "--tracker",
        &tracker.announce_url(),
    ]));
    let _aria = Aria2cSeeder::start(&seed_dir, &torrent, &[]);
    let other = Machine::new();
    std::fs::create_dir_all(other.ctx.config_dir().join("magpkg")).unwrap();
    std::fs::write(
        other.ctx.config_dir().join("magpkg/config.jsonnet"),
        format!("{{ trackers: ['{}'] }}\n", tracker.announce_url()),
    )
    .unwrap();
    let out = other
        .ctx
        .cmd()
        .env("MAGPKG_STALL_TIMEOUT", "60")
        .env("MAGPKG_SUBSTITUTERS", format!("file://{}", cache.path().display()))
        .env("MAGPKG_TRUSTED_KEYS", &key)
        .args(["build", "--json", "-f", other.def()])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["built"].as_array().unwrap().len(), 0, "{}", text(&out.stderr));
    assert!(report["substituted"][0]["from"]
        .as_str()
        .unwrap()
        .starts_with("the swarm"));
    assert_same_tree(
        &Store::open(m.ctx.store()).unwrap().package_path(&id).unwrap(),
        &Store::open(other.ctx.store()).unwrap().package_path(&id).unwrap(),
    );
}

#[test]
fn source_magnets_checks_each_listed_magnet_against_the_bytes() {
    let env = TestContext::new();
    let f = env.path("m-1.0.tar.gz");
    let data = pseudo_random(400_000, 35);
    std::fs::write(&f, &data).unwrap();
    let sha = sha256(&data);
    let right = magnet_of(&f);
    let other_bytes = env.path("other/m-1.0.tar.gz");
    std::fs::create_dir_all(other_bytes.parent().unwrap()).unwrap();
    std::fs::write(&other_bytes, pseudo_random(400_000, 36)).unwrap();
    let wrong = magnet_of(&other_bytes);
    let def = |urls: &[&str]| {
        let p = env.path("m.jsonnet");
        let urls: Vec<String> = urls.iter().map(|u| format!("'{u}'")).collect();
        std::fs::write(
            &p,
            format!(
                "{{ name: 'm', version: '1.0', build: {{ builtin: 'unpack' }},\n  \
                 sources: [{{ filename: 'm-1.0.tar.gz', sha256: '{sha}', urls: [{}] }}] }}\n",
                urls.join(", ")
            ),
        )
        .unwrap();
        p
    };
    let file_url = format!("file://{}", f.display());

    let p = def(&[&file_url, &right]);
    let out = env.run(&["source", "magnets", "--check", "-f", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 sources, each lists the magnet its bytes give"),
        "{}",
        stderr(&out)
    );
    // Without --check: the magnets, as the tree's magnets.libsonnet.
    let out = env.run(&["source", "magnets", "-f", p.to_str().unwrap()]);
    assert!(
        stdout(&out).contains(&format!("'{sha}': '{right}',")),
        "{}",
        stdout(&out)
    );

    let p = def(&[&file_url, &wrong]);
    let out = env.run(&["source", "magnets", "--check", "-f", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("m (m-1.0.tar.gz, sha256 ") && err.contains("is not its magnet: info-hash"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");

    let p = def(&[&file_url]);
    let out = env.run(&["source", "magnets", "--check", "-f", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("lists no magnet; its bytes give {right}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn seed_sources_only_leaves_the_packages_out() {
    let m = Machine::new();
    ok(&m.ctx.run(&["--no-substitute", "build", "-f", m.def()]));
    let f = m.ctx.path("only-1.0.tar.gz");
    std::fs::write(&f, pseudo_random(300_000, 37)).unwrap();
    ok(&m.ctx.run(&["source", "add", f.to_str().unwrap()]));
    let mut seeder = Seeder::spawn({
        let mut c = m.ctx.cmd();
        c.args(["seed", "--port", "0", "--poll", "1", "--sources-only"]);
        c
    });
    // The package's tarball is a cached source too (it was fetched by
    // file:// URL to build it): two sources, no package.
    seeder.wait_for(|l| l.starts_with("seeding ") && l.contains("only-1.0.tar.gz"));
    std::thread::sleep(Duration::from_secs(3));
    let (st, rest) = seeder.stop();
    assert!(st.success());
    assert!(!rest.iter().any(|l| l.contains("package pkg")), "{rest:?}");
    assert!(!m.ctx.store().join("archives-v1").exists());
}

/// A record pushed before records named their archive's info-hash is
/// signed again as it is by a later push with another key (every
/// signature of a record covers the same bytes), and is used over HTTP.
#[test]
fn a_record_without_btih_gets_a_second_signature_as_it_is() {
    let cache = tempfile::tempdir().unwrap();
    let m = Machine::new();
    let k1 = m.build_and_push(cache.path());
    let id = m.pkg_id();
    let path = cache.path().join(format!("magpkg-cache-v1/records/{id}.json"));
    let mut old = record(cache.path(), &id);
    old.as_object_mut().unwrap().remove("btih");
    old.as_object_mut().unwrap().remove("signatures");
    let secret = std::fs::read_to_string(m.ctx.state_dir().join("keys/k.secret")).unwrap();
    let key = magpkg::cache::sign::SecretKey::parse(secret.trim(), "test key").unwrap();
    old["signatures"] = serde_json::json!([key.sign(&old)]);
    std::fs::write(&path, serde_json::to_vec_pretty(&old).unwrap()).unwrap();

    let k2 = ok(&m.ctx.run(&["key", "generate", "k2"])).trim().to_string();
    ok(&m.ctx.run(&[
        "cache",
        "push",
        &format!("file://{}", cache.path().display()),
        "--key",
        "k2",
        "-f",
        m.def(),
    ]));
    let now = record(cache.path(), &id);
    assert!(now.get("btih").is_none(), "{now}");
    assert_eq!(now["signatures"].as_array().unwrap().len(), 2, "{now}");

    // Both signatures count: a quorum of the two keys substitutes it.
    let other = Machine::new();
    let out = other
        .ctx
        .cmd()
        .env("MAGPKG_SUBSTITUTERS", format!("file://{}", cache.path().display()))
        .env("MAGPKG_TRUSTED_KEYS", format!("{k1} {k2}"))
        .env("MAGPKG_SUBSTITUTE_QUORUM", "2")
        .args(["build", "--json", "-f", other.def()])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["built"].as_array().unwrap().len(), 0, "{}", text(&out.stderr));
    assert!(report["substituted"][0]["from"]
        .as_str()
        .unwrap()
        .starts_with("file://"));
}

#[test]
fn five_clients_at_once_take_a_package_mostly_from_each_other_with_the_cache_as_web_seed() {
    // One origin (nginx serving the cache, nobody seeding), five empty
    // stores substituting the same ~20 MB archive at the same moment, finding
    // each other through a loopback tracker. Without the swarm the origin
    // serves 5x the archive; through the web seeds it serves each piece
    // about once and the clients trade the rest.
    let cache = tempfile::tempdir().unwrap();
    let m = Machine::with_blob(20_000_000);
    let key = m.build_and_push(cache.path());
    let id = m.pkg_id();
    let rec = record(cache.path(), &id);
    let size = rec["archive"]["size"].as_u64().unwrap();
    assert!(size > 19_000_000, "{size}");
    let work = tempfile::tempdir().unwrap();
    let nginx = Nginx::serve(cache.path(), work.path());
    let tracker = Tracker::start();
    let leechers: Vec<TestContext> = (0..5).map(|_| TestContext::new()).collect();
    let children: Vec<Child> = leechers
        .iter()
        .map(|ctx| {
            std::fs::create_dir_all(ctx.config_dir().join("magpkg")).unwrap();
            std::fs::write(
                ctx.config_dir().join("magpkg/config.jsonnet"),
                format!("{{ trackers: ['{}'] }}\n", tracker.announce_url()),
            )
            .unwrap();
            ctx.cmd()
                .env("MAGPKG_DHT", "0")
                .env("MAGPKG_STALL_TIMEOUT", "60")
                .env("MAGPKG_SUBSTITUTERS", nginx.url())
                .env("MAGPKG_TRUSTED_KEYS", &key)
                .args(["--substitute-only", "build", "--json", "-f", m.def()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let there = Store::open(m.ctx.store()).unwrap();
    for (ctx, child) in leechers.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
        assert_eq!(
            report["substituted"].as_array().unwrap().len(),
            1,
            "{}",
            text(&out.stderr)
        );
        let here = Store::open(ctx.store()).unwrap();
        here.verify_package(&id).unwrap();
        assert_same_tree(&here.package_path(&id).unwrap(), &there.package_path(&id).unwrap());
    }
    let served = nginx.bytes_served();
    let ratio = served as f64 / size as f64;
    eprintln!("the origin served {served} bytes for a {size}-byte archive and 5 clients: {ratio:.2}x");
    // Every piece came from the origin at least once (nobody seeded).
    assert!(ratio >= 0.99, "{ratio}");
    assert!(ratio < 2.0, "the origin served {ratio:.2}x the archive to 5 clients");
    // Through byte ranges of the archive: the web seeds, not whole downloads.
    let archive = format!("/magpkg-cache-v1/archives/{}", rec["archive"]["file"].as_str().unwrap());
    let asked = nginx.requests().iter().filter(|r| r.contains(&archive)).count();
    assert!(asked > 5, "{asked} requests of the archive");
}

#[test]
fn a_source_s_http_url_is_the_web_seed_of_its_magnet() {
    // A peer that knows the source but uploads at 64 KiB/s, and the
    // source's HTTP URL: once the peer gave the torrent's metadata, the URL
    // feeds pieces into the swarm (byte ranges), so the download neither
    // crawls at the peer's pace nor downloads the whole file again.
    let seeder_env = TestContext::new();
    let work = tempfile::tempdir().unwrap();
    let www = work.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let file = www.join("slow-peer-1.0.tar.gz");
    let data = pseudo_random(4_000_000, 41);
    std::fs::write(&file, &data).unwrap();
    let sha = sha256(&data);
    ok(&seeder_env.run(&["source", "add", file.to_str().unwrap()]));
    let magnet = ok(&seeder_env.run(&["source", "magnet", &sha])).trim().to_string();
    let mut c = seeder_env.cmd();
    c.args(["seed", "--port", "0", "--poll", "1", "--max-upload-rate", "65536"]);
    let mut seeder = Seeder::spawn(c);
    seeder.wait_for(|l| l.starts_with("seeding ") && l.contains(&sha));
    let nginx = Nginx::serve(&www, work.path());
    let url = format!("{}/slow-peer-1.0.tar.gz", nginx.url());

    let leecher = TestContext::new();
    let t = Instant::now();
    let out = leecher
        .cmd()
        .env("MAGPKG_STALL_TIMEOUT", "60")
        .args(["source", "fetch", "--sha256", &sha])
        .arg(format!("{magnet}&x.pe=127.0.0.1:{}", seeder.port))
        .arg(&url)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
    let served = nginx.bytes_served();
    let asked = nginx.requests().len();
    eprintln!("{took:?}; the URL served {served} bytes in {asked} requests");
    // Most pieces from the URL (the peer alone would need a minute), as
    // ranges, and never the whole file on top of them.
    assert!(served > data.len() as u64 / 2, "{served}");
    assert!(served <= data.len() as u64, "{served}");
    assert!(asked > 1, "{asked}");
    let (st, _) = seeder.stop();
    assert!(st.success());
}

/// Issue 13: the archive `magpkg seed` packed of a package is a second copy
/// in the store; `store gc` removes it with the package (and one whose
/// package is gone some other way).
#[test]
fn store_gc_removes_a_packages_seeding_archive_with_it() {
    let m = Machine::new();
    ok(&m.ctx.run(&["--no-substitute", "build", "-f", m.def()]));
    let id = m.pkg_id().as_str().to_string();
    let mut seeder = Seeder::spawn({
        let mut c = m.ctx.cmd();
        c.args(["seed", "--port", "0", "--poll", "1"]);
        c
    });
    seeder.wait_for(|l| l.starts_with("seeding ") && l.contains("package pkg 1.0"));
    let (st, _) = seeder.stop();
    assert!(st.success());
    let archives = m.ctx.store().join("archives-v1");
    assert!(archives.join(&id).is_dir());
    // An archive left by a package that is no longer in the store.
    let orphan = archives.join("0".repeat(id.len()));
    std::fs::create_dir(&orphan).unwrap();
    std::fs::write(orphan.join("x.tar.zst"), b"old").unwrap();

    let said = ok(&m.ctx.run(&["store", "gc", "--grace", "0", "--dry-run"]));
    assert!(said.contains("would remove package pkg"), "{said}");
    assert!(
        archives.join(&id).is_dir() && orphan.is_dir(),
        "a dry run removes nothing"
    );
    let said = ok(&m.ctx.run(&["store", "gc", "--grace", "0"]));
    assert!(said.contains("removed package pkg"), "{said}");
    assert!(!archives.join(&id).exists(), "the package's archive went with it");
    assert!(!orphan.exists(), "an archive whose package is gone is removed");
}

/// Issue 13, BEP 14: on a LAN with no tracker, no reachable DHT node and no
/// `x.pe`, a leecher finds a seeder by local service discovery alone, at
/// once (librqbit announces a magnet on the LAN only once it downloads, so
/// magpkg sends the search while the magnet is listed). The LAN is a
/// network namespace of this test's own (loopback, multicast routed),
/// shared by the seeder (`unshare -n`) and the leecher (`nsenter -n`); it
/// reaches nothing else.
#[test]
fn a_seeder_on_the_lan_is_found_by_local_service_discovery_alone() {
    let (unshare, nsenter, ip) = (require("unshare"), require("nsenter"), require("ip"));
    let seeder = TestContext::new();
    let data = pseudo_random(1_500_000, 35);
    let sha = sha256(&data);
    let src = seeder.path("lan-src-1.0.tar.gz");
    std::fs::write(&src, &data).unwrap();
    ok(&seeder.run(&["source", "add", src.to_str().unwrap()]));
    let magnet = magnet_of(&src);
    assert!(!magnet.contains("x.pe=") && !magnet.contains("tr="), "{magnet}");

    // The DHT is on (local discovery goes with it), but its only bootstrap
    // node is a port nothing listens on: the one way to meet is multicast.
    let lan = |c: &mut Command| {
        c.env("MAGPKG_DHT", "1")
            .env("MAGPKG_DHT_BOOTSTRAP", "127.0.0.1:9")
            .env("MAGPKG_STALL_TIMEOUT", "60");
    };
    let mut c = seeder.command(&unshare);
    lan(&mut c);
    c.args(["-n", "sh", "-euc"])
        .arg(
            "ip=$1; shift; \"$ip\" link set lo up; \"$ip\" link set lo multicast on; \
             \"$ip\" route add 224.0.0.0/4 dev lo src 127.0.0.1; exec \"$@\"",
        )
        .arg("sh")
        .arg(&ip)
        .arg(crate::support::magpkg_bin())
        .args(["seed", "--port", "0", "--poll", "1", "--sources-only"]);
    let mut s = Seeder::spawn(c);
    s.wait_for(|l| l.starts_with("seeding ") && l.contains(&sha));

    let leecher = TestContext::new();
    let mut c = leecher.command(&nsenter);
    lan(&mut c);
    // The magnet has no HTTP URL to fall back to: a leecher that found
    // nobody fails after the stall timeout.
    c.arg("-t")
        .arg(s.pid().to_string())
        .arg("-n")
        .arg(crate::support::magpkg_bin())
        .args(["source", "fetch", "--sha256", &sha, &magnet]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
    assert!(stderr(&out).contains("from magnet:"), "{}", stderr(&out));
    let (st, _) = s.stop();
    assert!(st.success());
}
