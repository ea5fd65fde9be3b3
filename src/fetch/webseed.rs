//! Web seeds (BEP 19 semantics) for librqbit, which has none: a loopback
//! BitTorrent peer inside magpkg, given to the local torrent as one more
//! peer, that answers piece requests with HTTP `Range` requests to the
//! origin (a cache's archive URL, a source's HTTP URLs).
//!
//! librqbit asks a peer for the first pieces (in the torrent's order) it
//! has and the torrent lacks. A web seed that claimed every piece would make
//! every client starting at the same moment take the same pieces from the
//! origin, and trade nothing. So the bridge announces pieces a few at a
//! time, only pieces the torrent lacks, walking up the torrent from a random
//! start and jumping into the largest untaken run when it meets pieces the
//! torrent got from peers; and it lets librqbit ask (unchokes it) only while
//! the origin's share of what the torrent holds is at most its fair share:
//! with `n` other peers connected, 1 / (n + 1), plus a piece. A download
//! nobody else makes is served at the origin's pace; five clients starting
//! together each take about a fifth of the file from the origin, mostly
//! different pieces, and the rest from each other. When the torrent gets
//! nothing for a while (peers that do not deliver), the bridge serves
//! anyway, so a web seed alone always completes.
//!
//! Every byte still goes through librqbit's piece check (sha1 against the
//! info dictionary), then through magpkg's sha256 check before the store.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use librqbit::ManagedTorrent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads `len` bytes at `offset` of the file from the origin.
pub type RangeFn = Arc<dyn Fn(u64, u32) -> BoxFuture<'static, Result<Vec<u8>, String>> + Send + Sync>;

/// One origin of a torrent's single file.
#[derive(Clone)]
pub struct WebSeed {
    /// The URL, for messages.
    pub url: String,
    read: RangeFn,
}

impl WebSeed {
    /// A seed reading ranges with `read`.
    pub fn new(url: String, read: RangeFn) -> WebSeed {
        WebSeed { url, read }
    }

    /// An `http(s)://` URL of the whole file, read with `Range` requests.
    pub fn http(client: reqwest::Client, url: String) -> WebSeed {
        let u = url.clone();
        WebSeed::new(
            url,
            Arc::new(move |offset, len| {
                let (client, url) = (client.clone(), u.clone());
                Box::pin(async move { http_range(&client, &url, offset, len).await })
            }),
        )
    }
}

/// `len` bytes at `offset` of `url`: a `206` answer of exactly that length.
pub async fn http_range(client: &reqwest::Client, url: &str, offset: u64, len: u32) -> Result<Vec<u8>, String> {
    let end = offset + u64::from(len) - 1;
    let resp = client
        .get(url)
        .header(reqwest::header::RANGE, format!("bytes={offset}-{end}"))
        .send()
        .await
        .map_err(|e| super::http::chain(&e))?;
    let status = resp.status();
    if status != reqwest::StatusCode::PARTIAL_CONTENT {
        return Err(format!("HTTP {status} to a Range request"));
    }
    let body = resp.bytes().await.map_err(|e| super::http::chain(&e))?;
    if body.len() != len as usize {
        return Err(format!("{} bytes for a range of {len}", body.len()));
    }
    Ok(body.to_vec())
}

/// The shape of the torrent the bridge serves (one file, no padding).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub info_hash: [u8; 20],
    pub piece_length: u64,
    pub length: u64,
}

impl Shape {
    fn pieces(&self) -> u32 {
        self.length.div_ceil(self.piece_length) as u32
    }

    fn piece_size(&self, piece: u32) -> u64 {
        let start = u64::from(piece) * self.piece_length;
        self.piece_length.min(self.length - start)
    }
}

/// How the bridge paces the origin.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Pieces announced to librqbit and not asked for yet, kept ready so
    /// that its requester never finds nothing to ask (it would sleep 5 s).
    pub spares: usize,
    /// Pieces the origin may serve beyond its fair share.
    pub burst: u64,
    /// The torrent got nothing for this long: serve one piece anyway.
    pub starving: Duration,
    /// For this long after the start, only a starving torrent is served:
    /// peers starting at the same moment find each other first.
    pub warmup: Duration,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            spares: 3,
            burst: 1,
            starving: Duration::from_millis(250),
            warmup: Duration::from_millis(1500),
        }
    }
}

/// A running bridge; stops when dropped.
pub struct Bridge {
    pub addr: SocketAddr,
    served: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Bridge {
    /// Bytes the origins sent through the bridge so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start a bridge on a free loopback port. `torrent` is set once the
/// torrent it feeds is added (its progress and peers pace the origin).
pub async fn start(
    shape: Shape,
    seeds: Vec<WebSeed>,
    pace: Pace,
    torrent: Arc<OnceLock<Arc<ManagedTorrent>>>,
    session_port: Option<u16>,
) -> std::io::Result<Bridge> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let served = Arc::new(AtomicU64::new(0));
    let s = served.clone();
    let waker = session_port.map(|port| tokio::spawn(wake_requesters(shape, port, torrent.clone())));
    let task = tokio::spawn(async move {
        let _waker = waker.map(AbortOnDrop);
        let started = Instant::now();
        let seed = random_u64();
        // One connection at a time: librqbit connects again if one breaks.
        while let Ok((conn, _)) = listener.accept().await {
            let mut c = Conn::new(shape, &seeds, pace, &torrent, seed, &s, started);
            if let Err(e) = c.run(conn).await {
                tracing::debug!(error = %e, "web seed bridge: connection ended");
            }
            if c.origin_failed {
                // Every origin failed a piece: let the torrent's other peers
                // (or the caller's stall handling) take over.
                break;
            }
        }
    });
    Ok(Bridge { addr, served, task })
}

/// librqbit 9 asks a peer that had nothing new for it again only after
/// 5 s, or when a peer dies holding a piece (a `have` does not wake it):
/// among clients that all start empty, a piece one of them got waits up to
/// 5 s before the others ask for it, and meanwhile their web seeds fetch
/// it again. So while the torrent has peers and is not complete, a short
/// loopback connection to its own session every 150 ms offers every
/// piece, takes the first request and hangs up: librqbit puts the piece
/// back and wakes every waiting request loop (`on_peer_died`).
async fn wake_requesters(shape: Shape, port: u16, torrent: Arc<OnceLock<Arc<ManagedTorrent>>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(150));
    loop {
        tick.tick().await;
        let Some(t) = torrent.get() else { continue };
        let st = t.stats();
        let peers = st.live.as_ref().map_or(0, |l| l.snapshot.peer_stats.live);
        if st.finished {
            return;
        }
        // The bridge is one peer; with no other, nobody is waiting on a `have`.
        if peers < 2 {
            continue;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), wake_once(shape, port)).await;
    }
}

async fn wake_once(shape: Shape, port: u16) -> std::io::Result<()> {
    let mut conn = TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port)).await?;
    conn.set_nodelay(true).ok();
    let mut hs = [0u8; 68];
    hs[0] = 19;
    hs[1..20].copy_from_slice(b"BitTorrent protocol");
    hs[28..48].copy_from_slice(&shape.info_hash);
    hs[48..56].copy_from_slice(b"-MGWK01-");
    let _ = getrandom::fill(&mut hs[56..68]);
    conn.write_all(&hs).await?;
    let mut theirs = [0u8; 68];
    conn.read_exact(&mut theirs).await?;
    let n = shape.pieces() as usize;
    let mut bits = vec![0u8; n.div_ceil(8)];
    for i in 0..n {
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    let mut out = Vec::with_capacity(bits.len() + 10);
    out.extend_from_slice(&(bits.len() as u32 + 1).to_be_bytes());
    out.push(MSG_BITFIELD);
    out.extend_from_slice(&bits);
    out.extend_from_slice(&1u32.to_be_bytes());
    out.push(MSG_UNCHOKE);
    conn.write_all(&out).await?;
    // Until the first request (a piece is now reserved for us), then hang up.
    loop {
        let mut len = [0u8; 4];
        conn.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue;
        }
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body).await?;
        if body[0] == MSG_REQUEST {
            return Ok(());
        }
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// The largest run of pieces in `free` (the torrent order, wrapping
/// around), as (start, length).
fn largest_gap(free: impl Fn(u32) -> bool, n: u32) -> Option<(u32, u32)> {
    let first_taken = (0..n).find(|&p| !free(p));
    let Some(first_taken) = first_taken else {
        return (n > 0).then_some((0, n));
    };
    let mut best: Option<(u32, u32)> = None;
    let mut run: Option<(u32, u32)> = None;
    // Start just after a taken piece so that runs do not wrap in the middle.
    for k in 1..=n {
        let p = (first_taken + k) % n;
        if free(p) {
            let r = run.get_or_insert((p, 0));
            r.1 += 1;
        } else if let Some(r) = run.take() {
            if best.is_none_or(|b| r.1 > b.1) {
                best = Some(r);
            }
        }
    }
    best
}

const MSG_CHOKE: u8 = 0;
const MSG_UNCHOKE: u8 = 1;
const MSG_HAVE: u8 = 4;
const MSG_BITFIELD: u8 = 5;
const MSG_REQUEST: u8 = 6;
const MSG_PIECE: u8 = 7;
const MSG_CANCEL: u8 = 8;
const MSG_EXTENDED: u8 = 20;
/// The block size every client asks for.
const BLOCK: u64 = 16 << 10;
const AGENT: &str = concat!("magpkg web seed ", env!("CARGO_PKG_VERSION"));
/// librqbit reads with a 10 s timeout: keep the connection alive well within.
const KEEP_ALIVE: Duration = Duration::from_secs(3);
/// Pieces fetched from the origins at once.
const FETCHES: usize = 4;

struct Conn<'a> {
    shape: Shape,
    seeds: &'a [WebSeed],
    pace: Pace,
    torrent: &'a OnceLock<Arc<ManagedTorrent>>,
    served: &'a AtomicU64,
    started: Instant,
    /// The next piece to offer, walking up from a random start: clients
    /// starting together walk separate runs of the torrent, and one that
    /// reaches a piece it already has (the start of another's run, which
    /// peers send first) jumps into the largest run nobody has taken.
    cursor: u32,
    rng: u64,
    /// The torrent has the piece (its bitfield and `have`s, and pieces we
    /// served whole).
    have: Vec<bool>,
    /// Pieces offered (librqbit may ask for any of them from now on).
    announced: Vec<bool>,
    /// When each announced piece not asked for yet was announced.
    spare_since: Vec<(u32, Instant)>,
    /// Pieces asked for: bytes of them still to send.
    asked: std::collections::HashMap<u32, u64>,
    /// Requests waiting for their piece's bytes.
    waiting: Vec<(u32, u32, u32)>,
    /// Pieces fetched from an origin, kept until every block is sent.
    data: std::collections::HashMap<u32, Arc<Vec<u8>>>,
    fetching: std::collections::HashSet<u32>,
    /// Bytes of the pieces asked for (the origin's share so far).
    granted: u64,
    choked: bool,
    last_progress: (u64, Instant),
    /// `pace.starving`, between 1x and 3x at random: clients starving at
    /// once do not all ask the origin for the same last pieces.
    starving: Duration,
    origin_failed: bool,
    /// Bytes the torrent got from its other peers (about), the starving
    /// opens in a row since they last sent some, and the grants they allow.
    from_peers: u64,
    streak: u32,
    starve_until: u64,
    /// Times the bridge opened because the torrent starved, and for its
    /// fair share; the most peers seen (for the debug log).
    opened: (u32, u32, u64),
}

type Fetch = BoxFuture<'static, (u32, Result<Vec<u8>, String>)>;

impl<'a> Conn<'a> {
    fn new(
        shape: Shape,
        seeds: &'a [WebSeed],
        pace: Pace,
        torrent: &'a OnceLock<Arc<ManagedTorrent>>,
        seed: u64,
        served: &'a AtomicU64,
        started: Instant,
    ) -> Conn<'a> {
        let n = shape.pieces() as usize;
        Conn {
            shape,
            seeds,
            pace,
            torrent,
            served,
            cursor: (seed % u64::from(shape.pieces().max(1))) as u32,
            rng: seed | 1,
            started,
            have: vec![false; n],
            announced: vec![false; n],
            spare_since: Vec::new(),
            asked: Default::default(),
            waiting: Vec::new(),
            data: Default::default(),
            fetching: Default::default(),
            granted: 0,
            choked: true,
            last_progress: (0, Instant::now()),
            starving: pace.starving.mul_f64(1.0 + 2.0 * ((seed >> 32) % 101) as f64 / 100.0),
            origin_failed: false,
            from_peers: 0,
            streak: 0,
            starve_until: 0,
            opened: (0, 0, 0),
        }
    }

    async fn run(&mut self, mut conn: TcpStream) -> Result<(), String> {
        conn.set_nodelay(true).ok();
        let mut hs = [0u8; 68];
        conn.read_exact(&mut hs).await.map_err(|e| e.to_string())?;
        if hs[0] != 19 || &hs[1..20] != b"BitTorrent protocol" || hs[28..48] != self.shape.info_hash {
            return Err("not a handshake for this torrent".into());
        }
        let mut mine = [0u8; 68];
        mine[0] = 19;
        mine[1..20].copy_from_slice(b"BitTorrent protocol");
        // The extension protocol (BEP 10), for one thing: `reqq`.
        mine[25] = 0x10;
        mine[28..48].copy_from_slice(&self.shape.info_hash);
        mine[48..56].copy_from_slice(b"-MGWS01-");
        let _ = getrandom::fill(&mut mine[56..68]);
        conn.write_all(&mine).await.map_err(|e| e.to_string())?;
        // No extension messages (`m` empty), and at most two pieces' blocks
        // asked at once: librqbit takes a new piece only as blocks arrive,
        // so a choke stops it within a piece or two, and it always finds the
        // next announced piece ready instead of sleeping for want of one.
        let reqq = 2 * self.shape.piece_length.div_ceil(BLOCK);
        let dict = format!("d1:mde4:reqqi{reqq}e1:v{}:{}e", AGENT.len(), AGENT);
        let mut ext = Vec::with_capacity(dict.len() + 6);
        ext.extend_from_slice(&(dict.len() as u32 + 2).to_be_bytes());
        ext.extend_from_slice(&[MSG_EXTENDED, 0]);
        ext.extend_from_slice(dict.as_bytes());
        conn.write_all(&ext).await.map_err(|e| e.to_string())?;

        let (mut rd, mut wr) = conn.into_split();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(256);
        let max = 64 + self.shape.pieces() as usize / 8 + (1 << 17);
        let reader = tokio::spawn(async move {
            loop {
                let mut len = [0u8; 4];
                if rd.read_exact(&mut len).await.is_err() {
                    return;
                }
                let len = u32::from_be_bytes(len) as usize;
                if len == 0 {
                    continue;
                }
                if len > max {
                    return;
                }
                let mut buf = vec![0u8; len];
                if rd.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let id = buf[0];
                buf.remove(0);
                if tx.send((id, buf)).await.is_err() {
                    return;
                }
            }
        });
        let _stop_reader = AbortOnDrop(reader);
        let mut fetches: FuturesUnordered<Fetch> = FuturesUnordered::new();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut last_write = Instant::now();
        loop {
            let mut out: Vec<u8> = Vec::new();
            tokio::select! {
                m = rx.recv() => match m {
                    None => return Ok(()),
                    Some((id, body)) => self.on_message(id, &body)?,
                },
                Some((piece, r)) = fetches.next(), if !fetches.is_empty() => {
                    self.fetching.remove(&piece);
                    match r {
                        Ok(bytes) => {
                            self.served.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                            self.data.insert(piece, Arc::new(bytes));
                        }
                        Err(e) => {
                            self.origin_failed = true;
                            return Err(format!("piece {piece} from the web seeds: {e}"));
                        }
                    }
                }
                _ = tick.tick() => {}
            }
            self.serve(&mut out);
            self.start_fetches(&mut fetches);
            self.pace_and_announce(&mut out);
            if out.is_empty() && last_write.elapsed() >= KEEP_ALIVE {
                out.extend_from_slice(&[0, 0, 0, 0]);
            }
            if !out.is_empty() {
                wr.write_all(&out).await.map_err(|e| e.to_string())?;
                last_write = Instant::now();
            }
        }
    }

    fn on_message(&mut self, id: u8, body: &[u8]) -> Result<(), String> {
        let u = |i: usize| -> u32 { u32::from_be_bytes(body[i..i + 4].try_into().expect("4 bytes")) };
        match id {
            MSG_HAVE if body.len() >= 4 => {
                if let Some(h) = self.have.get_mut(u(0) as usize) {
                    *h = true;
                }
            }
            MSG_BITFIELD => {
                for (i, h) in self.have.iter_mut().enumerate() {
                    if body.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0) {
                        *h = true;
                    }
                }
            }
            MSG_REQUEST if body.len() >= 12 => {
                let (index, begin, len) = (u(0), u(4), u(8));
                if index >= self.shape.pieces()
                    || u64::from(begin) + u64::from(len) > self.shape.piece_size(index)
                    || !self.announced[index as usize]
                {
                    return Err(format!("request for a piece not offered: {index} {begin}+{len}"));
                }
                if let std::collections::hash_map::Entry::Vacant(e) = self.asked.entry(index) {
                    e.insert(self.shape.piece_size(index));
                    self.granted += self.shape.piece_size(index);
                    self.spare_since.retain(|(p, _)| *p != index);
                }
                self.waiting.push((index, begin, len));
            }
            MSG_CANCEL if body.len() >= 12 => {
                let (index, begin, len) = (u(0), u(4), u(8));
                self.waiting.retain(|w| *w != (index, begin, len));
            }
            // Choke, unchoke, interest, pieces (we ask for none), extensions.
            _ => {}
        }
        Ok(())
    }

    /// Answer every request whose piece is here.
    fn serve(&mut self, out: &mut Vec<u8>) {
        let mut i = 0;
        while i < self.waiting.len() {
            let (index, begin, len) = self.waiting[i];
            let Some(bytes) = self.data.get(&index).cloned() else {
                i += 1;
                continue;
            };
            self.waiting.swap_remove(i);
            let block = &bytes[begin as usize..(begin + len) as usize];
            out.extend_from_slice(&(9 + len).to_be_bytes());
            out.push(MSG_PIECE);
            out.extend_from_slice(&index.to_be_bytes());
            out.extend_from_slice(&begin.to_be_bytes());
            out.extend_from_slice(block);
            let left = self.asked.get_mut(&index).expect("asked");
            *left = left.saturating_sub(u64::from(len));
            if *left == 0 {
                self.asked.remove(&index);
                self.data.remove(&index);
                self.have[index as usize] = true;
            }
        }
    }

    fn start_fetches(&mut self, fetches: &mut FuturesUnordered<Fetch>) {
        let wanted: Vec<u32> = self
            .waiting
            .iter()
            .map(|w| w.0)
            .filter(|p| !self.data.contains_key(p) && !self.fetching.contains(p))
            .collect();
        for piece in wanted {
            if self.fetching.len() >= FETCHES || self.fetching.contains(&piece) {
                continue;
            }
            self.fetching.insert(piece);
            let offset = u64::from(piece) * self.shape.piece_length;
            let len = self.shape.piece_size(piece) as u32;
            let seeds: Vec<WebSeed> = self.seeds.to_vec();
            fetches.push(Box::pin(async move {
                let mut errors = Vec::new();
                for s in &seeds {
                    match (s.read)(offset, len).await {
                        Ok(b) => return (piece, Ok(b)),
                        Err(e) => errors.push(format!("{}: {e}", s.url)),
                    }
                }
                (piece, Err(errors.join("; ")))
            }));
        }
    }

    /// The next piece to offer: the cursor's, unless the torrent has it
    /// (another client's run begins there) or it was offered already; then
    /// a random piece of the middle half of the largest run of pieces
    /// neither had nor offered.
    fn next_piece(&mut self) -> Option<u32> {
        let n = self.shape.pieces();
        let free = |p: u32| !self.have[p as usize] && !self.announced[p as usize];
        let c = self.cursor;
        if c < n && free(c) {
            self.cursor = (c + 1) % n;
            return Some(c);
        }
        let (start, len) = largest_gap(free, n)?;
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let off = len / 4 + (self.rng % u64::from(len / 2 + 1)) as u32;
        let p = (start + off.min(len - 1)) % n;
        self.cursor = (p + 1) % n;
        Some(p)
    }

    /// Keep spares announced; unchoke while the origin is within its share.
    fn pace_and_announce(&mut self, out: &mut Vec<u8>) {
        let (progress, peers) = match self.torrent.get() {
            Some(t) => {
                let st = t.stats();
                let peers = st.live.as_ref().map(|l| l.snapshot.peer_stats.live).unwrap_or(0);
                // The bridge is one of the torrent's peers.
                (st.progress_bytes, u64::from(peers.saturating_sub(1)))
            }
            None => (0, 0),
        };
        if progress != self.last_progress.0 {
            self.last_progress = (progress, Instant::now());
        }
        // Spares asked for by nobody for long were taken from other peers.
        let now = Instant::now();
        self.spare_since.retain(|(p, at)| {
            let fresh = now.duration_since(*at) < Duration::from_secs(1);
            fresh && !self.have[*p as usize]
        });
        while self.spare_since.len() < self.pace.spares {
            let Some(p) = self.next_piece() else { break };
            self.announced[p as usize] = true;
            self.spare_since.push((p, now));
            out.extend_from_slice(&5u32.to_be_bytes());
            out.push(MSG_HAVE);
            out.extend_from_slice(&p.to_be_bytes());
        }
        // A choke may stop librqbit between the blocks of a piece it
        // began: the piece stays granted (counted whole), and the rest of it
        // is asked once the bridge opens again (or another peer takes it).
        let starving = self.waiting.is_empty() && self.last_progress.1.elapsed() >= self.starving;
        let warm = self.started.elapsed() >= self.pace.warmup;
        // The last pieces are those the other peers are most likely to be
        // getting right now: only a starving torrent takes them from the
        // origin.
        let missing = self
            .shape
            .length
            .saturating_sub(progress)
            .div_ceil(self.shape.piece_length);
        let end = missing <= peers + 1;
        let fair = progress / (peers + 1) + self.pace.burst * self.shape.piece_length;
        // Starving again and again while peers send nothing (slow or
        // useless peers): 1, 2, 4 (then 8 and 16 with no peer) pieces each
        // time, until a peer delivers again.
        let from_peers = progress.saturating_sub(self.served.load(Ordering::Relaxed));
        if from_peers > self.from_peers {
            self.from_peers = from_peers;
            self.streak = 0;
        }
        if starving {
            // With peers, who may just be slow to ask each other, at most
            // 4 pieces at once; alone, up to 16.
            let cap = if peers == 0 { 5 } else { 3 };
            self.streak = (self.streak + 1).min(cap);
            self.starve_until = self.granted + (1u64 << (self.streak - 1)) * self.shape.piece_length;
            self.last_progress.1 = now;
            self.opened.0 += 1;
        }
        let open = self.granted < self.starve_until || (warm && !end && self.granted < fair);
        self.opened.2 = self.opened.2.max(peers);
        if open == self.choked {
            self.choked = !open;
            out.extend_from_slice(&1u32.to_be_bytes());
            out.push(if open { MSG_UNCHOKE } else { MSG_CHOKE });
            if open && !starving {
                self.opened.1 += 1;
            }
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        tracing::debug!(
            served = self.served.load(Ordering::Relaxed),
            opened_starving = self.opened.0,
            opened_fair = self.opened.1,
            max_peers = self.opened.2,
            secs = self.started.elapsed().as_secs_f64(),
            "web seed bridge: done"
        );
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_gap_wraps_around() {
        let taken = [2u32, 3, 7];
        assert_eq!(largest_gap(|p| !taken.contains(&p), 10), Some((8, 4)));
        assert_eq!(largest_gap(|_| true, 5), Some((0, 5)));
        assert_eq!(largest_gap(|_| false, 5), None);
        assert_eq!(largest_gap(|p| p == 4, 10), Some((4, 1)));
    }

    #[test]
    fn the_last_piece_is_short() {
        let s = Shape {
            info_hash: [0; 20],
            piece_length: 1 << 18,
            length: (1 << 18) * 3 + 5,
        };
        assert_eq!(s.pieces(), 4);
        assert_eq!(s.piece_size(3), 5);
        assert_eq!(s.piece_size(0), 1 << 18);
    }
}
