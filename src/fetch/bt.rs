//! BitTorrent through librqbit: downloading a source from a magnet link or
//! a `.torrent`, and serving cached sources read-only from the store.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use librqbit::api::TorrentIdOrHash;
use librqbit::storage::{StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, DhtSessionConfig, ListenerMode, ListenerOptions, ManagedTorrent,
    ManagedTorrentShared, Session, SessionOptions, TorrentMetadata,
};

use super::OriginError;
use crate::settings::Settings;

/// Session options from the settings. `listen_port`: accept incoming peers
/// on that port (all interfaces, IPv4 and IPv6; 0: any free port, which is
/// what downloads use, so peers downloading the same file at the same time
/// trade pieces); `None` = only connect out.
pub fn session_options(settings: &Settings, listen_port: Option<u16>, extra_trackers: &[String]) -> SessionOptions {
    let trackers = settings
        .trackers
        .iter()
        .chain(extra_trackers)
        .filter_map(|t| url::Url::parse(t).ok())
        .collect();
    SessionOptions {
        dht: settings.dht.then(|| DhtSessionConfig {
            // librqbit would keep DHT state in its own folder under the
            // user's data dir; magpkg keeps no state outside the store.
            persistence: None,
            bootstrap_addrs: settings.dht_bootstrap.clone(),
            // The fixed port is the seeder's, whose address others bootstrap
            // from; a download's node takes any (a seeder may run beside it).
            port: listen_port.filter(|&p| p != 0).and(settings.dht_port),
        }),
        persistence: None,
        fastresume: false,
        listen: listen_port.map(|port| ListenerOptions {
            mode: ListenerMode::TcpOnly,
            listen_addr: (std::net::Ipv6Addr::UNSPECIFIED, port).into(),
            enable_upnp_port_forwarding: false,
            ..Default::default()
        }),
        // Local service discovery multicasts on the LAN; it goes with the DHT.
        disable_local_service_discovery: !settings.dht,
        trackers,
        client_name_and_version: Some(concat!("magpkg ", env!("CARGO_PKG_VERSION")).to_string()),
        ..Default::default()
    }
}

/// Peers asked directly for every torrent: on a team's own DHT
/// (`dhtBootstrap` set), the bootstrap nodes are `magpkg seed` machines
/// whose peer port is their DHT port. librqbit 9 announces a torrent only
/// to DHT nodes whose id shares 16 bits with the info-hash, and stores an
/// announce only within 20 bits: right on the public DHT's millions of
/// nodes, never met in a DHT of a few. So on a small DHT the nodes
/// themselves are the candidate peers; on the public DHT (no
/// `dhtBootstrap`) there are none.
pub fn team_peers(settings: &Settings) -> Vec<SocketAddr> {
    match (&settings.dht_bootstrap, settings.dht) {
        (Some(nodes), true) => super::torrent::resolve_peers(nodes),
        _ => Vec::new(),
    }
}

/// Start a session (inside a tokio runtime).
pub async fn session(
    settings: &Settings,
    scratch: &Path,
    listen_port: Option<u16>,
    extra_trackers: &[String],
) -> Result<Arc<Session>, String> {
    session_limited(settings, scratch, listen_port, extra_trackers, None).await
}

/// [`session`] with an upload limit (bytes per second, all torrents).
pub async fn session_limited(
    settings: &Settings,
    scratch: &Path,
    listen_port: Option<u16>,
    extra_trackers: &[String],
    upload_bps: Option<std::num::NonZeroU32>,
) -> Result<Arc<Session>, String> {
    let mut opts = session_options(settings, listen_port, extra_trackers);
    opts.ratelimits.upload_bps = upload_bps;
    Session::new_with_opts(scratch.to_path_buf(), opts)
        .await
        .map_err(|e| format!("{e:#}"))
}

/// Where a torrent comes from.
pub enum TorrentSource {
    /// A magnet link and the `x.pe` peers it names (librqbit ignores them).
    Magnet { link: String, peers: Vec<SocketAddr> },
    /// The bytes of a `.torrent` file.
    File(Vec<u8>),
}

/// How a torrent download is bounded, as HTTP downloads are.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nothing arrives (no metadata, no peer, no piece) for this long: give up.
    pub stall: Duration,
    /// Bytes per second the download must average over each `stall`
    /// window (`minRate`; 0: no check).
    pub min_rate: u64,
    /// Bytes the wanted file may have (`maxDownloadSize`).
    pub max_size: u64,
    /// Local service discovery is on (it goes with `dht`).
    pub lsd: bool,
}

impl Limits {
    /// The limits the settings give (`stallTimeout`, `minRate`,
    /// `maxDownloadSize`).
    pub fn of(settings: &Settings) -> Limits {
        Limits {
            stall: settings.stall_timeout,
            min_rate: settings.min_rate,
            max_size: settings.max_download_size,
            lsd: settings.dht,
        }
    }
}

/// BEP 14's multicast group and port (IPv4).
const LSD_GROUP: &str = "239.192.152.143:6771";

/// Ask the LAN for peers of `hash` (BEP 14 `BT-SEARCH`, from a socket of
/// our own with no cookie, so the session's own LSD socket takes the
/// answers as anyone's), a few times while a magnet is listed.
async fn lan_search(hash: String, port: u16) {
    let msg = format!("BT-SEARCH * HTTP/1.1\r\nHost: {LSD_GROUP}\r\nPort: {port}\r\nInfohash: {hash}\r\n\r\n\r\n");
    let Ok(sock) = tokio::net::UdpSocket::bind("0.0.0.0:0").await else {
        return;
    };
    // One hop (the LAN), and heard by peers on this machine too.
    let _ = sock.set_multicast_ttl_v4(1);
    let _ = sock.set_multicast_loop_v4(true);
    for wait in [0, 1, 2, 4, 8] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        if let Err(e) = sock.send_to(msg.as_bytes(), LSD_GROUP).await {
            tracing::debug!(error = %e, "local service discovery search not sent");
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

/// The exact length a magnet link gives (`xl=`), if any.
pub fn magnet_length(link: &str) -> Option<u64> {
    let query = link.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("xl="))
        .and_then(|v| v.parse().ok())
}

/// Download the file called `filename` from a torrent into `out_dir`,
/// within `limits`. The torrent is first only listed (its metadata
/// fetched, nothing written): a wanted file longer than `maxDownloadSize`,
/// or not as long as the magnet's `xl=`, is refused before a piece of it
/// is asked for (a magnet's `xl=` over the limit before any peer is);
/// then it is added for that one file only. `web_seeds` are origins of
/// the file's bytes (BEP 19): once the metadata is known, a loopback
/// [`webseed`](super::webseed) bridge feeds them to the torrent as one more
/// peer. Returns the path of the downloaded file and the bytes the web seeds
/// sent.
#[allow(clippy::too_many_arguments)]
pub async fn download(
    session: &Arc<Session>,
    src: TorrentSource,
    out_dir: &Path,
    filename: &str,
    limits: Limits,
    web_seeds: Vec<super::webseed::WebSeed>,
    pb: &ProgressBar,
    delivered: &AtomicU64,
) -> Result<(PathBuf, u64), OriginError> {
    let stall = limits.stall;
    type Add = Box<dyn Fn() -> AddTorrent<'static> + Send + Sync>;
    let (add, peers, expected_len, magnet_hash): (Add, _, _, _) = match src {
        TorrentSource::Magnet { link, peers } => {
            let len = magnet_length(&link);
            let hash = super::torrent::parse_magnet(&link).ok().map(|m| m.info_hash);
            (Box::new(move || AddTorrent::from_url(link.clone())), peers, len, hash)
        }
        TorrentSource::File(bytes) => (
            Box::new(move || AddTorrent::from_bytes(bytes.clone())),
            Vec::new(),
            None,
            None,
        ),
    };
    if let Some(xl) = expected_len.filter(|&xl| xl > limits.max_size) {
        return Err(OriginError::TorrentTooBig {
            size: xl,
            limit: limits.max_size,
        });
    }
    // Listing a magnet waits for a peer to send the metadata. librqbit
    // announces a torrent on the LAN (BEP 14) only once it downloads, so a
    // magnet being listed would be found only by a seeder's next announce,
    // minutes away: the search is sent here meanwhile (a seeder answers it
    // with its port, which librqbit's own LSD socket hears).
    let lan_search = match (limits.lsd, magnet_hash.as_deref(), session.listen_addr()) {
        (true, Some(hash), Some(addr)) => Some(tokio::spawn(lan_search(hash.to_string(), addr.port()))),
        _ => None,
    };
    let _stop_search = AbortOnDrop(lan_search);
    let list = AddTorrentOptions {
        list_only: true,
        initial_peers: (!peers.is_empty()).then(|| peers.clone()),
        ..Default::default()
    };
    let listed = match add_within(session, add(), list, stall).await? {
        AddTorrentResponse::ListOnly(l) => l,
        _ => return Err(OriginError::Torrent("librqbit did not list the torrent".into())),
    };
    let files: Vec<(PathBuf, u64, bool)> = listed
        .info
        .iter_file_details()
        .map(|d| (d.filename.to_pathbuf(), d.len, d.attrs().padding))
        .collect();
    let pick = files
        .iter()
        .position(|(p, _, pad)| !pad && p.file_name().is_some_and(|n| n == filename))
        .or_else(|| {
            let real: Vec<usize> = (0..files.len()).filter(|&i| !files[i].2).collect();
            (real.len() == 1).then(|| real[0])
        })
        .ok_or_else(|| OriginError::Torrent(format!("the torrent has no file named {filename}")))?;
    let len = files[pick].1;
    // The metadata is the torrent's own (its info hash is the magnet's):
    // the file's length is known before a byte of it is asked for.
    if len > limits.max_size {
        return Err(OriginError::TorrentTooBig {
            size: len,
            limit: limits.max_size,
        });
    }
    if let Some(xl) = expected_len.filter(|&xl| xl != len) {
        return Err(OriginError::Torrent(format!(
            "the torrent's file {filename} has {len} bytes, the magnet link says xl={xl}"
        )));
    }
    let mut initial: Vec<std::net::SocketAddr> = listed.seen_peers.clone();
    initial.extend(peers.iter().copied().filter(|p| !listed.seen_peers.contains(p)));
    // The web seeds serve a single-file torrent (magpkg's are).
    let torrent_cell = Arc::new(std::sync::OnceLock::new());
    let bridge = match (web_seeds.is_empty(), files.len()) {
        (false, 1) => {
            let shape = super::webseed::Shape {
                info_hash: listed.info_hash.0,
                piece_length: u64::from(listed.info.info().piece_length),
                length: len,
            };
            let seeds: Vec<String> = web_seeds.iter().map(|w| w.url.clone()).collect();
            let port = session.listen_addr().map(|a| a.port());
            match super::webseed::start(
                shape,
                web_seeds,
                super::webseed::Pace::default(),
                torrent_cell.clone(),
                port,
            )
            .await
            {
                Ok(b) => {
                    tracing::debug!(?seeds, bridge = %b.addr, "web seeds join the torrent");
                    initial.push(b.addr);
                    Some(b)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "no web seed bridge");
                    None
                }
            }
        }
        _ => None,
    };
    let opts = AddTorrentOptions {
        output_folder: Some(out_dir.to_string_lossy().into_owned()),
        // The folder is a fresh scratch directory of ours.
        overwrite: true,
        only_files: Some(vec![pick]),
        initial_peers: (!initial.is_empty()).then_some(initial),
        ..Default::default()
    };
    let Some(handle) = add_within(session, add(), opts, stall).await?.into_handle() else {
        return Err(OriginError::Torrent("librqbit did not start the torrent".into()));
    };
    // Stop it whatever happens, even if this future is dropped (it lost a
    // race against another origin): the file is ours now, or useless.
    let _remove = RemoveOnDrop {
        session: session.clone(),
        id: handle.id(),
    };
    let _ = torrent_cell.set(handle.clone());
    let path = wait(&handle, out_dir, &files[pick].0, len, limits, pb, delivered).await?;
    let from_web = bridge.as_ref().map_or(0, |b| b.served());
    tracing::debug!(bytes = len, from_web_seeds = from_web, "torrent complete");
    Ok((path, from_web))
}

/// `session.add_torrent`, given up after `stall` (a magnet waits there for
/// a peer to send the metadata), with librqbit's errors in plain words.
async fn add_within(
    session: &Arc<Session>,
    add: AddTorrent<'static>,
    opts: AddTorrentOptions,
    stall: Duration,
) -> Result<AddTorrentResponse, OriginError> {
    match tokio::time::timeout(stall, session.add_torrent(add, Some(opts))).await {
        Err(_) => Err(OriginError::Stalled {
            secs: stall.as_secs(),
            got: 0,
        }),
        Ok(Err(e)) => {
            let e = format!("{e:#}");
            // librqbit's words for "every peer we knew failed".
            if e.contains("input address stream exhausted") {
                return Err(OriginError::Torrent(
                    "no reachable peer sent the torrent's metadata".into(),
                ));
            }
            if e.contains("no known way to resolve peers") {
                return Err(OriginError::Torrent(
                    "no way to find peers: the magnet names none (x.pe), no tracker, and the DHT is off".into(),
                ));
            }
            Err(OriginError::Torrent(e))
        }
        Ok(Ok(r)) => Ok(r),
    }
}

struct RemoveOnDrop {
    session: Arc<Session>,
    id: usize,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let (session, id) = (self.session.clone(), self.id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = session.delete(TorrentIdOrHash::Id(id), false).await;
            });
        }
    }
}

async fn wait(
    handle: &Arc<ManagedTorrent>,
    out_dir: &Path,
    rel: &Path,
    len: u64,
    limits: Limits,
    pb: &ProgressBar,
    delivered: &AtomicU64,
) -> Result<PathBuf, OriginError> {
    let stall = limits.stall;
    pb.set_length(len);

    let mut done = handle.wait_until_completed();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last = 0u64;
    let mut last_change = Instant::now();
    // The minimum rate, as for HTTP: what arrived over each stall window.
    let mut window = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            r = &mut done => {
                r.map_err(|e| OriginError::Torrent(format!("{e:#}")))?;
                break;
            }
            _ = tick.tick() => {
                let st = handle.stats();
                if let Some(e) = st.error {
                    return Err(OriginError::Torrent(e));
                }
                let now = st.progress_bytes;
                pb.set_position(now.min(len));
                delivered.store(now, Ordering::Relaxed);
                if now != last {
                    last = now;
                    last_change = Instant::now();
                } else if last_change.elapsed() >= stall {
                    return Err(OriginError::Stalled { secs: stall.as_secs(), got: now });
                }
                let elapsed = window.0.elapsed();
                if limits.min_rate > 0 && elapsed >= stall {
                    let rate = now.saturating_sub(window.1) as f64 / elapsed.as_secs_f64();
                    if rate < limits.min_rate as f64 {
                        return Err(OriginError::TooSlow {
                            rate: rate as u64,
                            min: limits.min_rate,
                            secs: elapsed.as_secs(),
                            got: now,
                        });
                    }
                    window = (Instant::now(), now);
                }
            }
        }
    }
    pb.set_position(len);
    Ok(out_dir.join(rel))
}

/// Storage for seeding straight from the source cache: files are opened
/// read-only and every write is refused, so librqbit can never truncate,
/// extend or modify a verified store file (even when running as root,
/// where the 0444 mode would not stop it).
#[derive(Clone)]
pub struct ReadOnlyStorageFactory {
    pub dir: PathBuf,
}

pub struct ReadOnlyStorage {
    dir: PathBuf,
    files: Vec<Option<std::fs::File>>,
}

impl StorageFactory for ReadOnlyStorageFactory {
    type Storage = ReadOnlyStorage;

    fn create(&self, _shared: &ManagedTorrentShared, _metadata: &TorrentMetadata) -> anyhow::Result<ReadOnlyStorage> {
        Ok(ReadOnlyStorage {
            dir: self.dir.clone(),
            files: Vec::new(),
        })
    }

    fn clone_box(&self) -> librqbit::storage::BoxStorageFactory {
        self.clone().boxed()
    }
}

fn read_only() -> anyhow::Error {
    anyhow::anyhow!("magpkg seeds from the read-only source cache; refusing to write")
}

impl TorrentStorage for ReadOnlyStorage {
    fn init(&mut self, _shared: &ManagedTorrentShared, metadata: &TorrentMetadata) -> anyhow::Result<()> {
        let mut files = Vec::new();
        for fi in metadata.file_infos.iter() {
            if fi.attrs.padding {
                files.push(None);
                continue;
            }
            let path = self.dir.join(&fi.relative_filename);
            let f = std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            files.push(Some(f));
        }
        self.files = files;
        Ok(())
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        use std::os::unix::fs::FileExt;
        match self.files.get(file_id) {
            Some(Some(f)) => Ok(f.read_exact_at(buf, offset)?),
            Some(None) => {
                // Padding files read as zeroes.
                buf.fill(0);
                Ok(())
            }
            None => anyhow::bail!("no file {file_id}"),
        }
    }

    fn pwrite_all(&self, _file_id: usize, _offset: u64, _buf: &[u8]) -> anyhow::Result<()> {
        Err(read_only())
    }

    fn pwrite_all_vectored(&self, _file_id: usize, _offset: u64, _bufs: [IoSlice<'_>; 2]) -> anyhow::Result<usize> {
        Err(read_only())
    }

    fn remove_file(&self, _file_id: usize, _filename: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn remove_directory_if_empty(&self, _path: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        match self.files.get(file_id) {
            Some(Some(f)) if f.metadata()?.len() == length => Ok(()),
            Some(Some(_)) => Err(read_only()),
            _ => Ok(()),
        }
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(ReadOnlyStorage {
            dir: self.dir.clone(),
            files: self
                .files
                .iter()
                .map(|f| f.as_ref().map(|f| f.try_clone()).transpose())
                .collect::<std::io::Result<_>>()?,
        }))
    }
}

/// Add a complete file to a seeding session. `torrent` is the `.torrent`
/// file (magpkg's deterministic one); the file is read in place from `dir`.
pub async fn seed(session: &Arc<Session>, torrent: Vec<u8>, dir: &Path) -> Result<Arc<ManagedTorrent>, String> {
    let opts = AddTorrentOptions {
        output_folder: Some(dir.to_string_lossy().into_owned()),
        storage_factory: Some(ReadOnlyStorageFactory { dir: dir.to_path_buf() }.boxed()),
        ..Default::default()
    };
    let added = session
        .add_torrent(AddTorrent::from_bytes(torrent), Some(opts))
        .await
        .map_err(|e| format!("{e:#}"))?;
    added
        .into_handle()
        .ok_or_else(|| "librqbit did not start the torrent".to_string())
}

/// Stop seeding one torrent.
pub async fn unseed(session: &Arc<Session>, handle: &Arc<ManagedTorrent>) {
    let _ = session.delete(TorrentIdOrHash::Id(handle.id()), false).await;
}
