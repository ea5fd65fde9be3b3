//! Fetching sources: HTTP mirrors on loopback (404s, cut connections,
//! wrong bytes), BitTorrent between magpkg processes and with aria2c, the
//! deterministic torrents checked against mktorrent, and one real Debian
//! archive download (ignored by default: it needs the network).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::net::{Behaviour, HttpServer, Tracker};
use crate::support::{pseudo_random, require, sha256, stderr, stdout, TestContext};

fn dir_entries(p: &Path) -> Vec<String> {
    match std::fs::read_dir(p) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

/// `magpkg source fetch` with the given mirrors; returns the output.
fn source_fetch(env: &TestContext, mirrors: &str, sha: &str, urls: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.env("MAGPKG_MIRRORS", mirrors)
        .args(["source", "fetch", "--sha256", sha]);
    c.args(urls);
    c.output().unwrap()
}

#[test]
fn http_source_through_a_mirror_mapping_is_cached_once() {
    let server = HttpServer::start();
    let data = pseudo_random(300_000, 1);
    let sha = sha256(&data);
    server.serve("/pub/demo-1.0.tar.gz", data.clone(), Behaviour::Normal);
    let env = TestContext::new();
    let mirrors = format!("test={}/pub", server.base());

    let out = source_fetch(&env, &mirrors, &sha, &["mirror://test/demo-1.0.tar.gz"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = stdout(&out).trim().to_string();
    assert_eq!(
        Path::new(&path),
        env.store().join("sources-v1").join(&sha).join("demo-1.0.tar.gz")
    );
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert!(
        stderr(&out).contains("fetched 1 source (293.0 KiB)"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&server.url("/pub/demo-1.0.tar.gz")),
        "{}",
        stderr(&out)
    );

    // Second time: from the cache, no request.
    let out = source_fetch(&env, &mirrors, &sha, &["mirror://test/demo-1.0.tar.gz"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("fetched 0 sources (0 B), 1 already cached"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests().len(), 1);
    // The cache lists it.
    let list = stdout(&env.run(&["source", "list"]));
    assert!(list.contains(&sha) && list.contains("demo-1.0.tar.gz"), "{list}");
}

#[test]
fn a_404_mirror_is_skipped_for_the_next_one() {
    let server = HttpServer::start();
    let data = pseudo_random(50_000, 2);
    let sha = sha256(&data);
    server.serve("/good/a.tar.xz", data.clone(), Behaviour::Normal);
    let env = TestContext::new();
    let mirrors = format!("test={0}/missing,{0}/good", server.base());
    let out = source_fetch(&env, &mirrors, &sha, &["mirror://test/a.tar.xz"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    // A 404 is final for that URL: no retry of it.
    assert_eq!(paths, vec!["/missing/a.tar.xz", "/good/a.tar.xz"]);
    assert!(stderr(&out).contains(&server.url("/good/a.tar.xz")));
}

#[test]
fn magpkg_log_debug_says_which_origin_failed_and_which_gave_the_source() {
    let server = HttpServer::start();
    let data = pseudo_random(10_000, 12);
    let sha = sha256(&data);
    server.serve("/good/b.tar.xz", data, Behaviour::Normal);
    let env = TestContext::new();
    let mirrors = format!("test={0}/missing,{0}/good", server.base());
    let mut c = env.cmd();
    c.env("MAGPKG_LOG", "debug").env("MAGPKG_MIRRORS", &mirrors);
    let out = c
        .args(["source", "fetch", "--sha256", &sha, "mirror://test/b.tar.xz"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let missing = server.url("/missing/b.tar.xz");
    let good = server.url("/good/b.tar.xz");
    assert!(
        err.lines()
            .any(|l| l.contains("DEBUG") && l.contains("origin failed") && l.contains(&missing) && l.contains("404")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains("fetched and verified") && l.contains(&good)),
        "{err}"
    );
    // Without MAGPKG_LOG the channel is silent.
    let out = source_fetch(&env, &mirrors, &sha, &["mirror://test/b.tar.xz"]);
    assert!(!stderr(&out).contains("DEBUG"), "{}", stderr(&out));
}

#[test]
fn a_cut_connection_is_resumed_with_a_range_request() {
    let server = HttpServer::start();
    let data = pseudo_random(3_000_000, 3);
    let sha = sha256(&data);
    server.serve("/f/big.tar.gz", data.clone(), Behaviour::CutOnceAfter(1_000_000));
    let env = TestContext::new();
    let url = server.url("/f/big.tar.gz");
    let out = source_fetch(&env, "", &sha, &[&url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range, None);
    let range = reqs[1].range.clone().expect("the second request resumes");
    let from: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .unwrap()
        .parse()
        .unwrap();
    assert!(from > 0 && from <= 1_000_000, "{range}");
}

#[test]
fn wrong_bytes_are_rejected_and_nothing_stays() {
    let server = HttpServer::start();
    let good = pseudo_random(10_000, 4);
    let bad = pseudo_random(10_000, 5);
    let (sha, bad_sha) = (sha256(&good), sha256(&bad));
    server.serve("/x/src.tar.gz", bad, Behaviour::Normal);
    let env = TestContext::new();
    let url = server.url("/x/src.tar.gz");
    let out = source_fetch(&env, "", &sha, &[&url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&url), "{err}");
    assert!(err.contains(&format!("expected sha256 {sha}, got {bad_sha}")), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(dir_entries(&env.store().join("sources-v1")).is_empty());
    assert!(dir_entries(&env.store().join("tmp-v1")).is_empty());
}

#[test]
fn offline_and_unknown_mirror_errors_say_what_to_do() {
    let env = TestContext::new();
    let sha = "0".repeat(64);
    let out = env
        .cmd()
        .args([
            "--offline",
            "source",
            "fetch",
            "--sha256",
            &sha,
            "http://127.0.0.1:1/a.tar.gz",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("offline"), "{}", stderr(&out));
    assert!(stderr(&out).contains("magpkg source add"), "{}", stderr(&out));

    let out = source_fetch(&env, "", &sha, &["mirror://nosuch/a.tar.gz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown mirror `nosuch`"), "{}", stderr(&out));
}

#[test]
fn source_add_imports_by_hash_and_magnet_is_the_same_in_every_store() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("tool-2.0.tar.gz");
    let data = pseudo_random(700_000, 6);
    std::fs::write(&file, &data).unwrap();
    let sha = sha256(&data);
    let (a, b) = (TestContext::new(), TestContext::new());
    let mut magnets = Vec::new();
    for env in [&a, &b] {
        let out = env.run(&["source", "add", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), format!("{sha}  tool-2.0.tar.gz"));
        let by_hash = env.run(&["source", "magnet", &sha]);
        let by_name = env.run(&["source", "magnet", "tool-2.0.tar.gz", "--peer", "127.0.0.1:7000"]);
        assert!(by_hash.status.success(), "{}", stderr(&by_hash));
        let m = stdout(&by_hash).trim().to_string();
        assert!(
            m.starts_with("magnet:?xt=urn:btih:") && m.ends_with("&dn=tool-2.0.tar.gz&xl=700000"),
            "{m}"
        );
        assert_eq!(stdout(&by_name).trim(), format!("{m}&x.pe=127.0.0.1:7000"));
        magnets.push(m);
    }
    assert_eq!(magnets[0], magnets[1]);
    // The original file is untouched, the cached copy read-only.
    assert_eq!(std::fs::read(&file).unwrap(), data);
    let out = a.run(&["source", "magnet", "nothing-like-this"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no cached source matches"), "{}", stderr(&out));
}

/// Parse `Info Hash: ...` from `aria2c -S FILE.torrent`.
fn aria2_info_hash(torrent: &Path) -> String {
    let out = Command::new(require("aria2c"))
        .arg("-S")
        .arg(torrent)
        .output()
        .expect("aria2c is installed (.ci/setup)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Info Hash: "))
        .unwrap_or_else(|| panic!("no info hash in aria2c -S output:\n{text}"))
        .trim()
        .to_string()
}

#[test]
fn deterministic_torrent_matches_mktorrent() {
    let work = tempfile::tempdir().unwrap();
    // Not a multiple of the piece length, several pieces.
    let file = work.path().join("pkg-1.2.3.tar.xz");
    std::fs::write(&file, pseudo_random(1_000_003, 7)).unwrap();
    let env = TestContext::new();
    assert!(env.run(&["source", "add", file.to_str().unwrap()]).status.success());
    let ours = work.path().join("ours.torrent");
    let out = env.run(&["source", "torrent", "pkg-1.2.3.tar.xz", "-o", ours.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let our_hash = stdout(&out).split_whitespace().next().unwrap().to_string();

    // mktorrent with the same piece length (2^18) and nothing in the info
    // dictionary but the file; the announce URL lives outside it.
    let theirs = work.path().join("theirs.torrent");
    let st = Command::new(require("mktorrent"))
        .args(["-l", "18", "-d", "-a", "http://127.0.0.1:1/announce", "-o"])
        .arg(&theirs)
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .expect("mktorrent is installed (.ci/setup)");
    assert!(st.success());
    assert_eq!(aria2_info_hash(&theirs), our_hash);
    assert_eq!(aria2_info_hash(&ours), our_hash);
    let magnet = stdout(&env.run(&["source", "magnet", "pkg-1.2.3.tar.xz"]));
    assert!(magnet.contains(&our_hash));
}

/// A running `magpkg seed`, its stdout lines arriving on a channel.
pub(crate) struct Seeder {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub(crate) port: u16,
}

impl Seeder {
    fn start(env: &TestContext, extra: &[&str]) -> Seeder {
        let mut c = env.cmd();
        c.args(["seed", "--port", "0", "--poll", "1"]).args(extra);
        Seeder::spawn(c)
    }

    /// `magpkg seed` as `cmd` says (which prints "listening on port N").
    pub(crate) fn spawn(mut cmd: Command) -> Seeder {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Seeder {
            child,
            lines: rx,
            port: 0,
        };
        let l = s.wait_for(|l| l.starts_with("listening on port "));
        s.port = l["listening on port ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        s
    }

    pub(crate) fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(e) => panic!("magpkg seed: no expected line ({e})"),
            }
        }
    }

    /// The seeder's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit status and the remaining lines.
    pub(crate) fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::SIGTERM,
        )
        .unwrap();
        let st = self.child.wait().unwrap();
        // Lines until the reader thread sees the end of the pipe.
        let mut rest = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(10)) {
            rest.push(l);
        }
        (st, rest)
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn magpkg_seed_serves_magpkg_fetch_by_magnet_with_x_pe() {
    let work = tempfile::tempdir().unwrap();
    let seeder_env = TestContext::new();
    let first = work.path().join("first-1.0.tar.gz");
    let data = pseudo_random(1_500_000, 8);
    std::fs::write(&first, &data).unwrap();
    let sha = sha256(&data);
    assert!(seeder_env
        .run(&["source", "add", first.to_str().unwrap()])
        .status
        .success());
    let magnet = stdout(&seeder_env.run(&["source", "magnet", &sha])).trim().to_string();

    let mut seeder = Seeder::start(&seeder_env, &[]);
    let line = seeder.wait_for(|l| l.starts_with("seeding "));
    assert!(line.contains(&sha) && line.contains(&magnet), "{line}");

    let leecher = TestContext::new();
    let link = format!("{magnet}&x.pe=127.0.0.1:{}", seeder.port);
    let out = source_fetch(&leecher, "", &sha, &[&link]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
    assert!(dir_entries(&leecher.store().join("tmp-v1")).is_empty());

    // A source added while the seeder runs is picked up.
    let second = work.path().join("second-2.0.tar.gz");
    let data2 = pseudo_random(300_000, 9);
    std::fs::write(&second, &data2).unwrap();
    let sha2 = sha256(&data2);
    assert!(seeder_env
        .run(&["source", "add", second.to_str().unwrap()])
        .status
        .success());
    seeder.wait_for(|l| l.starts_with("seeding ") && l.contains(&sha2));
    let magnet2 = stdout(&seeder_env.run(&["source", "magnet", &sha2])).trim().to_string();
    let out = source_fetch(
        &leecher,
        "",
        &sha2,
        &[&format!("{magnet2}&x.pe=127.0.0.1:{}", seeder.port)],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Seeding never wrote to the store's file.
    assert_eq!(
        std::fs::read(
            seeder_env
                .store()
                .join("sources-v1")
                .join(&sha)
                .join("first-1.0.tar.gz")
        )
        .unwrap(),
        data
    );
    let (st, rest) = seeder.stop();
    assert!(st.success(), "{st:?}");
    // Both files (1.5 MB and 0.3 MB) went to the leecher, and it says so.
    let stopped = rest
        .iter()
        .find(|l| l.starts_with("stopped (uploaded "))
        .expect("a stopped line");
    let uploaded: u64 = stopped["stopped (uploaded ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(uploaded >= 1_800_000, "{stopped}");
}

#[test]
fn seed_on_a_busy_port_is_a_clear_user_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let env = TestContext::new();
    let out = env.run(&["seed", "--port", &port]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot seed on port {port}")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint: "), "{}", stderr(&out));
}

#[test]
fn aria2c_downloads_a_source_seeded_by_magpkg() {
    let work = tempfile::tempdir().unwrap();
    let tracker = Tracker::start();
    let env = TestContext::new();
    let file = work.path().join("interop-0.1.tar.gz");
    let data = pseudo_random(900_000, 10);
    std::fs::write(&file, &data).unwrap();
    assert!(env.run(&["source", "add", file.to_str().unwrap()]).status.success());
    let mut seeder = Seeder::start(&env, &["--tracker", &tracker.announce_url()]);
    let line = seeder.wait_for(|l| l.starts_with("seeding "));
    let magnet = line.split_whitespace().last().unwrap().to_string();

    // aria2c cannot be given a peer address: it finds the seeder through
    // the loopback tracker, like any client would on the internet.
    let dl = work.path().join("aria2");
    let out = Command::new(require("aria2c"))
        .args([
            "--enable-dht=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-time=0",
            "--bt-stop-timeout=60",
            "--console-log-level=warn",
            "--summary-interval=0",
        ])
        .arg(format!("--listen-port={}", crate::support::net::free_port()))
        .arg(format!("--dir={}", dl.display()))
        .arg(format!("--bt-tracker={}", tracker.announce_url()))
        .arg(&magnet)
        .output()
        .expect("aria2c is installed (.ci/setup)");
    assert!(
        out.status.success(),
        "aria2c failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(std::fs::read(dl.join("interop-0.1.tar.gz")).unwrap(), data);
    let (st, _) = seeder.stop();
    assert!(st.success());
}

/// Wait until something accepts TCP connections on the port.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// aria2c seeding one file (named `name`, holding `data`) from `work/seed`,
/// with the torrent mktorrent makes for it (a real third-party tool's
/// torrent, announced to a loopback tracker); killed on drop.
struct Aria2c {
    /// Held for its drop, which stops aria2c.
    _seeder: Aria2cSeeder,
    port: u16,
    file: PathBuf,
    torrent: PathBuf,
    _tracker: Tracker,
}

impl Aria2c {
    /// `extra`: more aria2c options (e.g. an upload limit).
    fn seed(work: &Path, name: &str, data: &[u8], extra: &[&str]) -> Aria2c {
        let seed_dir = work.join("seed");
        std::fs::create_dir_all(&seed_dir).unwrap();
        let file = seed_dir.join(name);
        std::fs::write(&file, data).unwrap();
        let tracker = Tracker::start();
        let torrent = work.join(format!("{name}.torrent"));
        assert!(Command::new(require("mktorrent"))
            .args(["-l", "18", "-d", "-a", &tracker.announce_url(), "-o"])
            .arg(&torrent)
            .arg(&file)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success());
        let extra: Vec<&str> = std::iter::once("--seed-time=10").chain(extra.iter().copied()).collect();
        let seeder = Aria2cSeeder::start(&seed_dir, &torrent, &extra);
        Aria2c {
            port: seeder.port,
            _seeder: seeder,
            file,
            torrent,
            _tracker: tracker,
        }
    }
}

/// An `aria2c` seeding `torrent` from `seed_dir` (no DHT, no local
/// discovery, no peer exchange: only the torrent's tracker), listening on
/// `port`; killed when dropped.
pub(crate) struct Aria2cSeeder {
    child: Child,
    pub(crate) port: u16,
}

impl Aria2cSeeder {
    /// `extra`: more aria2c options (e.g. an upload limit).
    pub(crate) fn start(seed_dir: &Path, torrent: &Path, extra: &[&str]) -> Aria2cSeeder {
        let port = crate::support::net::free_port();
        let child = Command::new(require("aria2c"))
            .args([
                "-V",
                "--enable-dht=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--seed-ratio=0.0",
                "--console-log-level=warn",
                "--summary-interval=0",
            ])
            .args(extra)
            .arg(format!("--listen-port={port}"))
            .arg(format!("--dir={}", seed_dir.display()))
            .arg(torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed if the wait fails too.
        let seeder = Aria2cSeeder { child, port };
        wait_listening(port);
        seeder
    }
}

impl Drop for Aria2cSeeder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 16 item 4 for BitTorrent: a magnet's size is known (`xl=`, and
/// the torrent's metadata): a file longer than `maxDownloadSize` is refused
/// before a byte of it is asked for (from the link alone when it has `xl=`,
/// else once the metadata arrived, the torrent being added paused), and a
/// file that is not as long as the link says is refused; a peer sending
/// below `minRate` (aria2c with an upload limit) is given up as a trickling
/// HTTP server is. Nothing stays in the store.
#[test]
fn torrents_are_bounded_by_the_maximum_size_and_the_minimum_rate() {
    let work = tempfile::tempdir().unwrap();
    let seeder_env = TestContext::new();
    let first = work.path().join("big-1.0.tar.gz");
    let data = pseudo_random(1_500_000, 21);
    std::fs::write(&first, &data).unwrap();
    let sha = sha256(&data);
    assert!(seeder_env
        .run(&["source", "add", first.to_str().unwrap()])
        .status
        .success());
    let magnet = stdout(&seeder_env.run(&["source", "magnet", &sha])).trim().to_string();
    assert!(magnet.contains("&xl=1500000"), "{magnet}");
    let seeder = Seeder::start(&seeder_env, &[]);
    let peer = format!("&x.pe=127.0.0.1:{}", seeder.port);
    let without_xl = magnet.replace("&xl=1500000", "");
    let leecher = TestContext::new().with_env("MAGPKG_MAX_DOWNLOAD_SIZE", "1000000");
    for (link, when) in [
        (format!("{magnet}{peer}"), "from xl="),
        (format!("{without_xl}{peer}"), "from the metadata"),
    ] {
        let out = source_fetch(&leecher, "", &sha, &[&link]);
        assert_eq!(out.status.code(), Some(1), "{when}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "the torrent's file has 1.4 MiB, more than the maximum download size of 976.6 KiB \
                 (maxDownloadSize / MAGPKG_MAX_DOWNLOAD_SIZE); nothing of it was downloaded"
            ),
            "{when}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("hint: a server sent more than a source may have"),
            "{}",
            stderr(&out)
        );
        assert!(dir_entries(&leecher.store().join("tmp-v1")).is_empty());
        assert!(dir_entries(&leecher.store().join("sources-v1")).is_empty());
    }
    let lying = format!("{without_xl}&xl=1000{peer}");
    let out = source_fetch(&TestContext::new(), "", &sha, &[&lying]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the torrent's file big-1.0.tar.gz has 1500000 bytes, the magnet link says xl=1000"),
        "{}",
        stderr(&out)
    );
    drop(seeder);

    // A peer that trickles (aria2c limited to 40 KiB/s) is given up once
    // the download averaged less than minRate over a stall window.
    let slow = pseudo_random(1_200_000, 22);
    let slow_sha = sha256(&slow);
    let aria = Aria2c::seed(
        work.path(),
        "slow-1.0.tar.gz",
        &slow,
        &["--max-overall-upload-limit=40K"],
    );
    let other = TestContext::new();
    assert!(other
        .run(&["source", "add", aria.file.to_str().unwrap()])
        .status
        .success());
    let magnet = stdout(&other.run(&[
        "source",
        "magnet",
        &slow_sha,
        "--peer",
        &format!("127.0.0.1:{}", aria.port),
    ]))
    .trim()
    .to_string();
    let env = TestContext::new()
        .with_env("MAGPKG_STALL_TIMEOUT", "8")
        .with_env("MAGPKG_MIN_RATE", "200000");
    let start = std::time::Instant::now();
    let out = source_fetch(&env, "", &slow_sha, &[&magnet]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("slower than the minimum rate of 200000 bytes/s (minRate / MAGPKG_MIN_RATE)"),
        "{}",
        stderr(&out)
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(45),
        "{:?}",
        start.elapsed()
    );
    assert!(dir_entries(&env.store().join("tmp-v1")).is_empty());
    assert!(dir_entries(&env.store().join("sources-v1")).is_empty());
}

#[test]
fn magpkg_fetches_a_file_seeded_by_aria2c() {
    let work = tempfile::tempdir().unwrap();
    let data = pseudo_random(1_200_000, 11);
    let sha = sha256(&data);
    let aria = Aria2c::seed(work.path(), "from-aria-3.1.tar.bz2", &data, &[]);
    let (port, file, torrent) = (aria.port, aria.file.clone(), aria.torrent.clone());

    // The magnet magpkg would print for that file, pointing at aria2c.
    let other = TestContext::new();
    assert!(other.run(&["source", "add", file.to_str().unwrap()]).status.success());
    let magnet = stdout(&other.run(&["source", "magnet", &sha, "--peer", &format!("127.0.0.1:{port}")]))
        .trim()
        .to_string();
    let env = TestContext::new();
    let out = source_fetch(&env, "", &sha, &[&magnet]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);

    // The same through the .torrent file (a local path as an origin): no
    // peer address given, the peer comes from the torrent's tracker.
    let env2 = TestContext::new();
    let out = env2
        .cmd()
        .args(["source", "fetch", "--sha256", &sha, "--name", "from-aria-3.1.tar.bz2"])
        .arg(&torrent)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);

    // And through a .torrent URL served over HTTP.
    let server = HttpServer::start();
    server.serve(
        "/t/from-aria.torrent",
        std::fs::read(&torrent).unwrap(),
        Behaviour::Normal,
    );
    let env3 = TestContext::new();
    let out = env3
        .cmd()
        .args(["source", "fetch", "--sha256", &sha, "--name", "from-aria-3.1.tar.bz2"])
        .arg(server.url("/t/from-aria.torrent"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(stdout(&out).trim()).unwrap(), data);
}

#[test]
fn a_magnet_without_reachable_peer_falls_back_to_http_within_the_stall_timeout() {
    let server = HttpServer::start();
    let data = pseudo_random(80_000, 12);
    let sha = sha256(&data);
    server.serve("/d/fallback.tar.gz", data.clone(), Behaviour::Normal);
    // Compute the file's real magnet, then point it at a closed port.
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("fallback.tar.gz");
    std::fs::write(&f, &data).unwrap();
    let other = TestContext::new();
    assert!(other.run(&["source", "add", f.to_str().unwrap()]).status.success());
    let dead = crate::support::net::closed_port();
    let magnet = stdout(&other.run(&["source", "magnet", &sha, "--peer", &format!("127.0.0.1:{dead}")]))
        .trim()
        .to_string();
    let env = TestContext::new();
    let out = env
        .cmd()
        .env("MAGPKG_STALL_TIMEOUT", "3")
        .args([
            "source",
            "fetch",
            "--sha256",
            &sha,
            &magnet,
            &server.url("/d/fallback.tar.gz"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("fallback.tar.gz from {}", server.url("/d/fallback.tar.gz"))),
        "{}",
        stderr(&out)
    );

    // A server that stops sending mid-body is abandoned after the stall
    // timeout too: retried once from where it stopped (MAGPKG_RETRIES=1),
    // then given up for the next URL.
    let stall = HttpServer::start();
    stall.serve("/s/fallback.tar.gz", data.clone(), Behaviour::StallAfter(1000));
    let env = TestContext::new();
    let out = env
        .cmd()
        .env("MAGPKG_STALL_TIMEOUT", "1")
        .env("MAGPKG_RETRIES", "1")
        .args([
            "source",
            "fetch",
            "--sha256",
            &sha,
            &stall.url("/s/fallback.tar.gz"),
            &server.url("/d/fallback.tar.gz"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stall
            .requests()
            .iter()
            .any(|r| r.range.as_deref() == Some("bytes=1000-")),
        "{:?}",
        stall.requests()
    );
}

#[test]
fn http_joins_the_race_while_a_magnet_peer_is_still_silent() {
    let server = HttpServer::start();
    let data = pseudo_random(60_000, 15);
    let sha = sha256(&data);
    server.serve("/r/race.tar.gz", data.clone(), Behaviour::Normal);
    let (port, closed) = crate::support::net::silent_peer();
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("race.tar.gz");
    std::fs::write(&f, &data).unwrap();
    let other = TestContext::new();
    assert!(other.run(&["source", "add", f.to_str().unwrap()]).status.success());
    let magnet = stdout(&other.run(&["source", "magnet", &sha, "--peer", &format!("127.0.0.1:{port}")]))
        .trim()
        .to_string();
    // The magnet comes first and its only peer hangs; the stall timeout is
    // long. HTTP must not wait for BitTorrent to give up.
    let env = TestContext::new();
    let out = env
        .cmd()
        .env("MAGPKG_STALL_TIMEOUT", "120")
        .args([
            "source",
            "fetch",
            "--sha256",
            &sha,
            &magnet,
            &server.url("/r/race.tar.gz"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("race.tar.gz from {}", server.url("/r/race.tar.gz"))));
    let http_at = server.requests()[0].at;
    // Give the peer thread a moment to see the close at magpkg's exit.
    std::thread::sleep(Duration::from_millis(200));
    let closed = closed.lock().unwrap().clone();
    assert!(!closed.is_empty(), "magpkg never connected to the magnet's peer");
    assert!(
        closed.iter().all(|c| *c > http_at),
        "the HTTP mirror was only tried after the peer was dropped"
    );
}

/// Settings for library-level tests: this test's store, no DHT, short
/// timeouts, a `test` mirror.
fn settings(env: &TestContext, mirror: &str) -> magpkg::settings::Settings {
    let mut s = magpkg::settings::Settings::resolve(&magpkg::settings::Overrides {
        store: Some(env.store().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    s.dht = false;
    s.offline = false;
    s.stall_timeout = Duration::from_secs(5);
    s.http_timeout = Duration::from_secs(5);
    s.retries = 1;
    s.mirrors = [("test".to_string(), vec![mirror.to_string()])].into();
    s
}

#[test]
fn library_fetch_runs_downloads_in_parallel_up_to_fetch_jobs_and_reports() {
    let server = HttpServer::start();
    let env = TestContext::new();
    let mut sources = Vec::new();
    for i in 0..5u64 {
        let data = pseudo_random(100_000, 100 + i);
        let name = format!("p{i}-1.tar.gz");
        server.serve(&format!("/m/{name}"), data.clone(), Behaviour::Slow(600));
        sources.push(magpkg::model::Source {
            filename: name.clone(),
            sha256: sha256(&data),
            urls: vec![format!("mirror://test/{name}")],
        });
    }
    let store = magpkg::store::Store::open(env.store()).unwrap();
    // One of them is already cached: it is reported, not downloaded.
    let pre = env.home().join("p0-1.tar.gz");
    std::fs::write(&pre, pseudo_random(100_000, 100)).unwrap();
    store
        .add_source_file(&pre, "p0-1.tar.gz", Some(&sources[0].sha256), "test")
        .unwrap();

    let mut s = settings(&env, &format!("{}/m", server.base()));
    s.fetch_jobs = 2;
    let report = magpkg::fetch::fetch(&sources, &store, &s, &Default::default()).unwrap();
    assert_eq!(report.cached, vec![sources[0].clone()]);
    let mut got: Vec<String> = report.fetched.iter().map(|f| f.source.filename.clone()).collect();
    got.sort();
    assert_eq!(got, vec!["p1-1.tar.gz", "p2-1.tar.gz", "p3-1.tar.gz", "p4-1.tar.gz"]);
    for f in &report.fetched {
        assert_eq!(f.bytes, 100_000);
        assert_eq!(f.origin, server.url(&format!("/m/{}", f.source.filename)));
        assert_eq!(magpkg::util::sha256_file(&f.path).unwrap(), f.source.sha256);
    }
    // Four slow downloads, two at a time: never more, and they did overlap.
    assert_eq!(server.max_active(), 2);
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn magpkg_fetch_fetches_every_source_of_a_graph() {
    // Needs `crate::eval` (package definitions → graph).
    let server = HttpServer::start();
    let a = pseudo_random(20_000, 13);
    let b = pseudo_random(30_000, 14);
    server.serve("/m/a-1.tar.gz", a.clone(), Behaviour::Normal);
    server.serve("/m/b-1.tar.gz", b.clone(), Behaviour::Normal);
    let env = TestContext::new();
    let def = env.home().join("pkgs.jsonnet");
    std::fs::write(
        &def,
        format!(
            r#"{{
  a: {{ name: "a", version: "1", build: "true",
        sources: [{{ filename: "a-1.tar.gz", sha256: "{}", urls: ["mirror://test/a-1.tar.gz"] }}] }},
  b: {{ name: "b", version: "1", build: "true",
        sources: [{{ filename: "b-1.tar.gz", sha256: "{}", urls: ["mirror://test/b-1.tar.gz"] }}] }},
}}"#,
            sha256(&a),
            sha256(&b)
        ),
    )
    .unwrap();
    let run = || {
        env.cmd()
            .env("MAGPKG_MIRRORS", format!("test={}/m", server.base()))
            .args(["fetch", "-f", def.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fetched 2 sources (48.8 KiB)"),
        "{}",
        stderr(&out)
    );
    let out = run();
    assert!(
        stderr(&out).contains("fetched 0 sources (0 B), 2 already cached"),
        "{}",
        stderr(&out)
    );
}

/// The row of `hello` in shared/data/debian-orig-tarballs.tsv: GNU hello's
/// upstream release tarball, byte-identical in the Debian archive.
const HELLO: (&str, &str, u64) = (
    "pool/main/h/hello/hello_2.10.orig.tar.gz",
    "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b",
    725946,
);

// Slow and online: downloads from the Debian archive mirror named in the
// machine's apt sources (read at run time; the host is never written here).
#[test]
#[ignore]
fn real_upstream_tarball_through_the_debian_mirror_from_apt_sources() {
    let env = TestContext::new();
    let (path, sha, size) = HELLO;
    let out = env
        .cmd()
        .env("MAGPKG_HTTP_TIMEOUT", "30")
        .env("MAGPKG_STALL_TIMEOUT", "30")
        .args(["source", "fetch", "--sha256", sha, &format!("mirror://debian/{path}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let file = stdout(&out).trim().to_string();
    assert!(file.ends_with("/hello_2.10.orig.tar.gz"), "{file}");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len() as u64, size);
    assert_eq!(sha256(&bytes), sha);
}
