//! Real network servers on 127.0.0.1 for tests: a small HTTP/1.1 file
//! server whose misbehaviours are scripted (404, a cut connection, a stall),
//! which records the requests it saw, and a BitTorrent HTTP tracker.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a path misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Serve it, with Range support.
    Normal,
    /// The first full (non-Range) request gets the right headers but the
    /// connection is closed after this many bytes; later ones are served.
    CutOnceAfter(usize),
    /// Send this many bytes, then keep the connection open and silent.
    StallAfter(usize),
    /// Send the body in five parts spread over this many milliseconds.
    Slow(u64),
    /// Announce no length and send zeros for ever (the data is ignored).
    Endless,
    /// Send the body one byte every this many milliseconds.
    Trickle(u64),
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub range: Option<String>,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct State {
    files: HashMap<String, (Vec<u8>, Behaviour)>,
    requests: Vec<Request>,
    cut_done: HashMap<String, bool>,
    active: usize,
    max_active: usize,
}

pub struct HttpServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &st);
                });
            }
        });
        HttpServer { addr, state }
    }

    /// Serve `data` at `path` (starting with `/`).
    pub fn serve(&self, path: &str, data: Vec<u8>, behaviour: Behaviour) {
        self.state.lock().unwrap().files.insert(path.into(), (data, behaviour));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Base URL (for mirror definitions).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The most `Slow` bodies that were being sent at the same time.
    pub fn max_active(&self) -> usize {
        self.state.lock().unwrap().max_active
    }
}

fn read_head(conn: &TcpStream) -> std::io::Result<(String, HashMap<String, String>)> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok((target, headers))
}

fn handle(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    respond(conn, state)
}

fn respond(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let (path, headers) = read_head(&conn)?;
    let range = headers.get("range").cloned();
    let (file, first_cut) = {
        let mut st = state.lock().unwrap();
        st.requests.push(Request {
            path: path.clone(),
            range: range.clone(),
            at: std::time::Instant::now(),
        });
        let file = st.files.get(&path).cloned();
        let first = matches!(file, Some((_, Behaviour::CutOnceAfter(_))))
            && range.is_none()
            && !st.cut_done.get(&path).copied().unwrap_or(false);
        if first {
            st.cut_done.insert(path.clone(), true);
        }
        (file, first)
    };
    let Some((data, behaviour)) = file else {
        let body = b"not found\n";
        write!(
            conn,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        return conn.write_all(body);
    };
    if behaviour == Behaviour::Endless {
        write!(conn, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
        let zeros = vec![0u8; 64 << 10];
        loop {
            conn.write_all(&zeros)?;
        }
    }
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, body, extra) = match start {
        Some(s) if s < data.len() => (
            "206 Partial Content",
            &data[s..],
            format!("Content-Range: bytes {}-{}/{}\r\n", s, data.len() - 1, data.len()),
        ),
        Some(_) => {
            write!(
                conn,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                data.len()
            )?;
            return Ok(());
        }
        None => ("200 OK", &data[..], String::new()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )?;
    match behaviour {
        Behaviour::CutOnceAfter(n) if first_cut => {
            conn.write_all(&body[..n.min(body.len())])?;
            conn.flush()?;
            // An abrupt end of the connection, mid-body.
            conn.shutdown(std::net::Shutdown::Both)
        }
        Behaviour::StallAfter(n) => {
            conn.write_all(&body[..n.min(body.len())])?;
            conn.flush()?;
            std::thread::sleep(Duration::from_secs(120));
            Ok(())
        }
        Behaviour::Slow(ms) => {
            // Counted as active while the body is being sent, up to its
            // last part: once that is sent, the client may start another
            // request before this thread gets to run again.
            {
                let mut st = state.lock().unwrap();
                st.active += 1;
                st.max_active = st.max_active.max(st.active);
            }
            let parts: Vec<&[u8]> = body.chunks(body.len().div_ceil(5).max(1)).collect();
            let (last, first) = parts.split_last().expect("a body");
            for part in first {
                conn.write_all(part)?;
                conn.flush()?;
                std::thread::sleep(Duration::from_millis(ms / 5));
            }
            state.lock().unwrap().active -= 1;
            conn.write_all(last)
        }
        Behaviour::Trickle(ms) => {
            for b in body {
                conn.write_all(std::slice::from_ref(b))?;
                conn.flush()?;
                std::thread::sleep(Duration::from_millis(ms));
            }
            Ok(())
        }
        _ => conn.write_all(body),
    }
}

/// A BitTorrent HTTP tracker (BEP 3 with compact peer lists, BEP 23): every
/// announce is remembered and answered with the other peers of the same
/// info-hash. Enough for clients that cannot be given a peer address
/// directly (aria2c has no `x.pe`).
pub struct Tracker {
    pub addr: SocketAddr,
    peers: Arc<Mutex<HashMap<Vec<u8>, Vec<SocketAddr>>>>,
}

impl Tracker {
    pub fn start() -> Tracker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peers: Arc<Mutex<HashMap<Vec<u8>, Vec<SocketAddr>>>> = Default::default();
        let p = peers.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let p = p.clone();
                std::thread::spawn(move || {
                    let _ = announce(conn, &p);
                });
            }
        });
        Tracker { addr, peers }
    }

    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    /// Peers that announced `info_hash` (hex).
    pub fn peers(&self, info_hash: &str) -> Vec<SocketAddr> {
        let key = hex::decode(info_hash).unwrap();
        self.peers.lock().unwrap().get(&key).cloned().unwrap_or_default()
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(0));
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn announce(mut conn: TcpStream, peers: &Mutex<HashMap<Vec<u8>, Vec<SocketAddr>>>) -> std::io::Result<()> {
    let (target, _) = read_head(&conn)?;
    let ip = conn.peer_addr()?.ip();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut info_hash = Vec::new();
    let mut port = 0u16;
    let mut stopped = false;
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "info_hash" => info_hash = percent_decode(v),
            "port" => port = v.parse().unwrap_or(0),
            "event" => stopped = v == "stopped",
            _ => {}
        }
    }
    let me = SocketAddr::new(ip, port);
    let others: Vec<SocketAddr> = {
        let mut g = peers.lock().unwrap();
        let list = g.entry(info_hash).or_default();
        list.retain(|p| *p != me);
        let others = list.clone();
        if !stopped {
            list.push(me);
        }
        others
    };
    let mut compact = Vec::new();
    for p in &others {
        if let SocketAddr::V4(v4) = p {
            compact.extend_from_slice(&v4.ip().octets());
            compact.extend_from_slice(&v4.port().to_be_bytes());
        }
    }
    let mut body = Vec::new();
    body.extend_from_slice(b"d8:intervali2e12:min intervali1e5:peers");
    body.extend_from_slice(format!("{}:", compact.len()).as_bytes());
    body.extend_from_slice(&compact);
    body.push(b'e');
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(&body)?;
    // Drain anything left so the client sees a clean close.
    let _ = conn.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = conn.read(&mut [0u8; 64]);
    Ok(())
}

/// A peer that accepts TCP connections and never says a word. Returns its
/// port and, per connection, when it was closed by the other side.
pub fn silent_peer() -> (u16, Arc<Mutex<Vec<std::time::Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed: Arc<Mutex<Vec<std::time::Instant>>> = Default::default();
    let c = closed.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let c = c.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                c.lock().unwrap().push(std::time::Instant::now());
            });
        }
    });
    (port, closed)
}

/// A TCP port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A port that was free a moment ago (TCP and UDP, IPv4 and IPv6), for
/// tools that need one given.
///
/// Taken below the kernel's ephemeral range (32768-60999 by default) and
/// never twice in one run: a port the kernel handed out with `bind(0)` and
/// released is soon handed out again, to an outgoing connection or another
/// test's listener, and a daemon started on it fails with "Address already in
/// use" (a swarm test failed in CI that way).
pub fn free_port() -> u16 {
    use std::net::UdpSocket;
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Start at a place that depends on the process, so two test runs on one
    // machine do not walk the same ports in step.
    let _ = NEXT.compare_exchange(
        0,
        1 + (std::process::id() % SPAN as u32) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let p = LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let free = TcpListener::bind(("0.0.0.0", p)).is_ok()
            && TcpListener::bind(("::", p)).is_ok()
            && UdpSocket::bind(("0.0.0.0", p)).is_ok()
            && UdpSocket::bind(("::", p)).is_ok();
        if free {
            return p;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN)
}
