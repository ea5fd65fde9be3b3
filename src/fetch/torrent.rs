//! Deterministic BitTorrent metadata for cached sources, and magnet links.
//!
//! Any machine holding the same bytes under the same file name computes the
//! same info-hash, so a magnet printed on one machine finds seeders on every
//! other: the info dictionary is derived from (file name, bytes, a fixed
//! piece length) only. It is a BitTorrent v1 single-file info dictionary
//! with exactly four keys, bencoded canonically (keys sorted, no extras):
//!
//! ```text
//! d6:lengthi<size>e4:name<len>:<filename>12:piece lengthi262144e6:pieces<20*n>:<sha1 of each piece>e
//! ```
//!
//! This is what `mktorrent -l 18` writes too (without `-p`/`-s`), so a
//! torrent made by mktorrent from the same file has the same info-hash.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

use sha1::{Digest, Sha1};

/// Piece length of magpkg's deterministic torrents: 256 KiB (2^18), the
/// default of mktorrent and of most clients. Part of the torrent identity:
/// changing it changes every info-hash.
pub const PIECE_LENGTH: u64 = 1 << 18;

/// The metadata of one deterministic torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentMeta {
    pub name: String,
    pub length: u64,
    /// The bencoded info dictionary.
    pub info: Vec<u8>,
    /// sha1 of `info`, lowercase hex.
    pub info_hash: String,
}

impl TorrentMeta {
    /// The magnet link: `magnet:?xt=urn:btih:HASH&dn=NAME&xl=SIZE`, with
    /// `x.pe=HOST:PORT` for each peer given.
    pub fn magnet(&self, peers: &[String]) -> String {
        let mut m = format!(
            "magnet:?xt=urn:btih:{}&dn={}&xl={}",
            self.info_hash,
            encode_component(&self.name),
            self.length
        );
        for p in peers {
            m.push_str("&x.pe=");
            m.push_str(&encode_component(p));
        }
        m
    }

    /// A complete `.torrent` file: the info dictionary and, if given,
    /// trackers (`announce`, `announce-list`). Nothing time- or
    /// machine-dependent, so the file is as reproducible as the info-hash.
    pub fn torrent_file(&self, trackers: &[String]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.info.len() + 64);
        out.push(b'd');
        if let Some(first) = trackers.first() {
            bstr(&mut out, b"announce");
            bstr(&mut out, first.as_bytes());
            bstr(&mut out, b"announce-list");
            out.push(b'l');
            for t in trackers {
                out.push(b'l');
                bstr(&mut out, t.as_bytes());
                out.push(b'e');
            }
            out.push(b'e');
        }
        bstr(&mut out, b"info");
        out.extend_from_slice(&self.info);
        out.push(b'e');
        out
    }
}

fn bstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(s);
}

fn bint(out: &mut Vec<u8>, n: u64) {
    out.push(b'i');
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'e');
}

/// Compute the deterministic torrent of `reader`'s bytes published as `name`.
pub fn from_reader(name: &str, mut reader: impl Read) -> std::io::Result<TorrentMeta> {
    let mut pieces = Vec::new();
    let mut length = 0u64;
    let mut buf = vec![0u8; PIECE_LENGTH as usize];
    loop {
        // Fill a whole piece (read may return short counts).
        let mut filled = 0;
        while filled < buf.len() {
            let n = reader.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        length += filled as u64;
        pieces.extend_from_slice(&Sha1::digest(&buf[..filled]));
        if filled < buf.len() {
            break;
        }
    }
    // Keys in sorted (byte-wise) order, as bencode requires.
    let mut info = Vec::with_capacity(pieces.len() + name.len() + 64);
    info.push(b'd');
    bstr(&mut info, b"length");
    bint(&mut info, length);
    bstr(&mut info, b"name");
    bstr(&mut info, name.as_bytes());
    bstr(&mut info, b"piece length");
    bint(&mut info, PIECE_LENGTH);
    bstr(&mut info, b"pieces");
    bstr(&mut info, &pieces);
    info.push(b'e');
    let info_hash = hex::encode(Sha1::digest(&info));
    Ok(TorrentMeta {
        name: name.to_string(),
        length,
        info,
        info_hash,
    })
}

/// The deterministic torrent of a file, published under `name`.
pub fn from_file(path: &Path, name: &str) -> std::io::Result<TorrentMeta> {
    from_reader(name, fs_err::File::open(path)?)
}

/// What magpkg needs from a magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagnetInfo {
    /// BitTorrent v1 info-hash, lowercase hex.
    pub info_hash: String,
    pub name: Option<String>,
    /// `xl`: the file's size in bytes.
    pub size: Option<u64>,
    /// `x.pe` peers as written (`host:port`, `[v6]:port`).
    pub peers: Vec<String>,
    pub trackers: Vec<String>,
}

/// Parse the parts of a magnet link librqbit does not use itself (`x.pe`).
pub fn parse_magnet(link: &str) -> Result<MagnetInfo, String> {
    let url = url::Url::parse(link).map_err(|e| format!("not a valid magnet link: {e}"))?;
    if url.scheme() != "magnet" {
        return Err("not a magnet link".into());
    }
    let mut info = MagnetInfo {
        info_hash: String::new(),
        name: None,
        size: None,
        peers: Vec::new(),
        trackers: Vec::new(),
    };
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "xt" => {
                if let Some(h) = v.strip_prefix("urn:btih:") {
                    info.info_hash = normalise_btih(h)?;
                }
            }
            "dn" => info.name = Some(v.into_owned()),
            "xl" => info.size = Some(v.parse().map_err(|_| format!("bad size xl={v}"))?),
            "x.pe" => info.peers.push(v.into_owned()),
            "tr" => info.trackers.push(v.into_owned()),
            _ => {}
        }
    }
    if info.info_hash.is_empty() {
        return Err("the magnet link has no BitTorrent v1 info-hash (xt=urn:btih:...)".into());
    }
    Ok(info)
}

/// A btih is 40 hex digits or 32 base32 characters.
fn normalise_btih(h: &str) -> Result<String, String> {
    if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(h.to_ascii_lowercase());
    }
    if h.len() == 32 {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut bits = 0u64;
        let mut nbits = 0;
        let mut out = Vec::with_capacity(20);
        for c in h.bytes() {
            let v = ALPHABET
                .iter()
                .position(|&a| a == c.to_ascii_uppercase())
                .ok_or_else(|| format!("bad info-hash {h:?}"))?;
            bits = (bits << 5) | v as u64;
            nbits += 5;
            if nbits >= 8 {
                nbits -= 8;
                out.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        return Ok(hex::encode(out));
    }
    Err(format!("bad info-hash {h:?}"))
}

/// A source's `urls` compared with the deterministic torrent of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListedMagnet {
    /// The URLs have a magnet for the file and every such magnet matches.
    Matches,
    /// No magnet of the URLs names the file (`dn=` its file name, or no `dn`).
    Missing,
    /// A magnet for the file whose info-hash or size is not the bytes'.
    Wrong { magnet: String, why: String },
}

/// Check the magnets of `urls` that stand for `meta`'s file (their `dn` is
/// its name, or they have none) against it. Magnets naming another file
/// (a multi-file torrent holding it, say) are not magpkg's deterministic
/// magnet and are left alone.
pub fn check_listed(urls: &[String], meta: &TorrentMeta) -> ListedMagnet {
    let mut found = false;
    for u in urls.iter().filter(|u| u.starts_with("magnet:")) {
        let m = match parse_magnet(u) {
            Ok(m) => m,
            Err(why) => return ListedMagnet::Wrong { magnet: u.clone(), why },
        };
        if m.name.as_ref().is_some_and(|n| *n != meta.name) {
            continue;
        }
        found = true;
        if m.info_hash != meta.info_hash {
            return ListedMagnet::Wrong {
                magnet: u.clone(),
                why: format!("info-hash {}, the file's is {}", m.info_hash, meta.info_hash),
            };
        }
        if let Some(size) = m.size.filter(|&s| s != meta.length) {
            return ListedMagnet::Wrong {
                magnet: u.clone(),
                why: format!("size xl={size}, the file has {} bytes", meta.length),
            };
        }
    }
    if found {
        ListedMagnet::Matches
    } else {
        ListedMagnet::Missing
    }
}

/// Resolve `x.pe` peers to socket addresses (host names are looked up; a
/// peer that does not resolve is skipped, the others may still work).
pub fn resolve_peers(peers: &[String]) -> Vec<SocketAddr> {
    use std::net::ToSocketAddrs;
    let mut out = Vec::new();
    for p in peers {
        if let Ok(a) = p.parse::<SocketAddr>() {
            out.push(a);
        } else if let Ok(addrs) = p.to_socket_addrs() {
            out.extend(addrs);
        }
    }
    out
}

fn encode_component(s: &str) -> String {
    // Keep `:` readable in x.pe (host:port) and `.` `-` `_` `~` in names.
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'.')
        .remove(b'-')
        .remove(b'_')
        .remove(b'~')
        .remove(b':');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_dict_is_canonical_bencode() {
        let data = vec![7u8; (PIECE_LENGTH + 10) as usize];
        let t = from_reader("a.tar.gz", &data[..]).unwrap();
        assert_eq!(t.length, PIECE_LENGTH + 10);
        let mut expected = Vec::new();
        expected.extend_from_slice(b"d6:lengthi262154e4:name8:a.tar.gz12:piece lengthi262144e6:pieces40:");
        expected.extend_from_slice(&Sha1::digest(&data[..PIECE_LENGTH as usize]));
        expected.extend_from_slice(&Sha1::digest(&data[PIECE_LENGTH as usize..]));
        expected.push(b'e');
        assert_eq!(t.info, expected);
        assert_eq!(t.info_hash, hex::encode(Sha1::digest(&expected)));
    }

    #[test]
    fn same_bytes_same_hash_and_name_matters() {
        let a = from_reader("x", &b"hello"[..]).unwrap();
        let b = from_reader("x", &b"hello"[..]).unwrap();
        let c = from_reader("y", &b"hello"[..]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.info_hash, c.info_hash);
    }

    #[test]
    fn exact_multiple_of_piece_length() {
        let data = vec![1u8; (2 * PIECE_LENGTH) as usize];
        let t = from_reader("f", &data[..]).unwrap();
        // Two pieces, not a third empty one.
        assert!(t.info.windows(4).any(|w| w == b"s40:"));
    }

    #[test]
    fn magnet_round_trips_with_peers() {
        let t = from_reader("hello 2.10.tar.gz", &b"abc"[..]).unwrap();
        let m = t.magnet(&["127.0.0.1:6881".into()]);
        assert!(m.starts_with(&format!(
            "magnet:?xt=urn:btih:{}&dn=hello%202.10.tar.gz&xl=3",
            t.info_hash
        )));
        let p = parse_magnet(&m).unwrap();
        assert_eq!(p.info_hash, t.info_hash);
        assert_eq!(p.name.as_deref(), Some("hello 2.10.tar.gz"));
        assert_eq!(p.peers, vec!["127.0.0.1:6881"]);
        assert_eq!(resolve_peers(&p.peers), vec!["127.0.0.1:6881".parse().unwrap()]);
    }

    #[test]
    fn listed_magnets_are_checked_against_the_bytes() {
        let t = from_reader("a.tar.gz", &b"abc"[..]).unwrap();
        let http = "https://example.org/a.tar.gz".to_string();
        assert_eq!(check_listed(std::slice::from_ref(&http), &t), ListedMagnet::Missing);
        assert_eq!(check_listed(&[http.clone(), t.magnet(&[])], &t), ListedMagnet::Matches);
        // Another file's magnet is not this file's deterministic one.
        let other = from_reader("b.tar.gz", &b"abc"[..]).unwrap();
        assert_eq!(check_listed(&[other.magnet(&[])], &t), ListedMagnet::Missing);
        // Same name, other bytes: wrong.
        let wrong = from_reader("a.tar.gz", &b"abd"[..]).unwrap();
        assert!(matches!(
            check_listed(&[wrong.magnet(&[])], &t),
            ListedMagnet::Wrong { .. }
        ));
        // Right hash, wrong size.
        let m = format!("magnet:?xt=urn:btih:{}&dn=a.tar.gz&xl=4", t.info_hash);
        match check_listed(&[m], &t) {
            ListedMagnet::Wrong { why, .. } => assert!(why.contains("xl=4"), "{why}"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn base32_btih() {
        // 20 zero bytes in base32 is 32 'A's.
        let p = parse_magnet(&format!("magnet:?xt=urn:btih:{}", "A".repeat(32))).unwrap();
        assert_eq!(p.info_hash, "0".repeat(40));
        assert!(parse_magnet("magnet:?dn=x").is_err());
        assert!(parse_magnet("http://x/").is_err());
    }

    #[test]
    fn torrent_file_wraps_info() {
        let t = from_reader("f", &b"abc"[..]).unwrap();
        let f = t.torrent_file(&[]);
        assert_eq!(&f[..7], b"d4:info");
        let f = t.torrent_file(&["http://127.0.0.1:1/announce".into()]);
        assert!(f.starts_with(b"d8:announce27:http://127.0.0.1:1/announce13:announce-listll"));
    }
}
