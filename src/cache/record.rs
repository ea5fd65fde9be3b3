//! The signed record of one cached package and the cache's index.
//!
//! A record is a JSON object (see `doc/binary-cache.md`). What a signature
//! covers is [`signed_bytes`]: the domain tag [`RECORD_DOMAIN`], a NUL, and
//! the canonical JSON ([`crate::hash::canonical_json`]) of the whole record
//! but its `signatures` field. It is computed from the JSON as read, not
//! from [`Record`], so a field a later version adds is signed too and an
//! older magpkg still verifies it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FORMAT;

/// Domain tag of record signatures: a signature over a record can never be
/// taken for a signature over anything else magpkg (or another program
/// using the same key) signs.
pub const RECORD_DOMAIN: &str = "magpkg-cache-v1-record";

/// The only compression of v1 archives.
pub const COMPRESSION: &str = "zstd";

/// Where the files of a cache live, relative to its root.
pub const INDEX_PATH: &str = "magpkg-cache-v1/index.json";

pub fn record_path(id: &str) -> String {
    format!("{FORMAT}/records/{id}.json")
}

pub fn archive_path(file: &str) -> String {
    format!("{FORMAT}/archives/{file}")
}

/// Where the deterministic `.torrent` of an archive is (its info dictionary,
/// whose sha1 is the record's `btih`): what lets a client take the archive
/// from peers and from the cache's URL as a web seed with no peer to ask
/// for the metadata first.
pub fn torrent_path(file: &str) -> String {
    format!("{FORMAT}/torrents/{file}.torrent")
}

/// One package in a cache: what its output is, and the archive holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub format: String,
    /// The package id (the definition's hash, see `doc/packages.md`).
    pub id: String,
    pub name: String,
    pub version: String,
    /// `blake3:<hex>`, exactly what `store::tree_digest` gives for the entry.
    pub digest: String,
    /// Ids of the runtime dependencies, in the definition's order.
    pub run_deps: Vec<String>,
    pub archive: ArchiveInfo,
    /// BitTorrent v1 info-hash of the archive, for swarms of the same files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btih: Option<String>,
    /// `keyname:base64(ed25519 signature over signed_bytes)`.
    #[serde(default)]
    pub signatures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// File name under `archives/`: `<sha256>.tar.zst`.
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub compression: String,
}

impl Record {
    /// The record as JSON, signatures included (what a cache stores).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a record serialises")
    }

    /// The bytes written to a cache: pretty JSON with a final newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("a record serialises");
        b.push(b'\n');
        b
    }

    /// Archive file name of an archive with this sha256.
    pub fn archive_file(sha256: &str) -> String {
        format!("{sha256}.tar.zst")
    }
}

/// What a record's signatures cover: the domain tag, NUL, and the canonical
/// JSON of the record without `signatures`.
pub fn signed_bytes(record: &serde_json::Value) -> Vec<u8> {
    let mut v = record.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("signatures");
    }
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(RECORD_DOMAIN.as_bytes());
    out.push(0);
    out.extend_from_slice(&crate::hash::canonical_json(&v));
    out
}

/// Why a record's text is not a usable v1 record (before any signature is
/// looked at).
pub fn parse(bytes: &[u8]) -> Result<(serde_json::Value, Record), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let rec: Record = serde_json::from_value(value.clone()).map_err(|e| format!("not a {FORMAT} record: {e}"))?;
    if rec.format != FORMAT {
        return Err(format!("format `{}`, expected `{FORMAT}`", rec.format));
    }
    if rec.archive.compression != COMPRESSION {
        return Err(format!("unknown compression `{}`", rec.archive.compression));
    }
    let f = &rec.archive.file;
    if f.is_empty() || f.contains('/') || f.starts_with('.') || f.contains('\0') {
        return Err(format!("archive file name `{f}` is not a plain file name"));
    }
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !hex64(&rec.archive.sha256) {
        return Err(format!("archive sha256 `{}` is not 64 hex digits", rec.archive.sha256));
    }
    if let Some(b) = &rec.btih {
        if !(b.len() == 40 && b.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())) {
            return Err(format!("btih `{b}` is not 40 lowercase hex digits"));
        }
    }
    if !rec.digest.strip_prefix("blake3:").is_some_and(hex64) {
        return Err(format!("digest `{}` is not blake3:<64 hex digits>", rec.digest));
    }
    Ok((value, rec))
}

/// The cache's table of contents: one entry per package id it holds. It is
/// not signed: it only says where to look, the records say what is true.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub format: String,
    pub packages: BTreeMap<String, IndexEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub name: String,
    pub digest: String,
    /// Names of the keys that signed the record (so a push knows, from the
    /// index alone, whether it has something to add).
    #[serde(default)]
    pub keys: Vec<String>,
}

impl Index {
    pub fn new() -> Index {
        Index {
            format: FORMAT.into(),
            packages: BTreeMap::new(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Index, String> {
        let idx: Index = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if idx.format != FORMAT {
            return Err(format!("format `{}`, expected `{FORMAT}`", idx.format));
        }
        Ok(idx)
    }

    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("an index serialises");
        b.push(b'\n');
        b
    }

    /// Record `rec` (which carries its signatures) in the index.
    pub fn insert(&mut self, rec: &Record) {
        let keys = rec
            .signatures
            .iter()
            .filter_map(|s| s.split_once(':').map(|(k, _)| k.to_string()))
            .collect();
        self.packages.insert(
            rec.id.clone(),
            IndexEntry {
                name: rec.name.clone(),
                digest: rec.digest.clone(),
                keys,
            },
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Record {
        Record {
            format: FORMAT.into(),
            id: "6accf6be5a53388592c973b2dd09ed1a".into(),
            name: "hello".into(),
            version: "2.10".into(),
            digest: format!("blake3:{}", "ab".repeat(32)),
            run_deps: vec!["0123456789abcdef0123456789abcdef".into()],
            archive: ArchiveInfo {
                file: Record::archive_file(&"cd".repeat(32)),
                size: 1234,
                sha256: "cd".repeat(32),
                compression: COMPRESSION.into(),
            },
            btih: None,
            signatures: vec!["k1:AAAA".into()],
        }
    }

    /// Golden: pins what v1 signatures cover. If this fails, every signature
    /// in every cache has become invalid: that needs a new domain tag and
    /// format name, not a new expected value.
    #[test]
    fn golden_signed_encoding() {
        let bytes = signed_bytes(&sample().to_value());
        assert_eq!(String::from_utf8(bytes).unwrap(), GOLDEN);
    }

    const GOLDEN: &str = concat!(
        "magpkg-cache-v1-record\0",
        r#"{"archive":{"compression":"zstd","file":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd.tar.zst","#,
        r#""sha256":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","size":1234},"#,
        r#""digest":"blake3:abababababababababababababababababababababababababababababababab","#,
        r#""format":"magpkg-cache-v1","id":"6accf6be5a53388592c973b2dd09ed1a","name":"hello","#,
        r#""runDeps":["0123456789abcdef0123456789abcdef"],"version":"2.10"}"#
    );

    #[test]
    fn signed_bytes_ignore_signatures_and_order_but_cover_new_fields() {
        let r = sample();
        let mut other = r.clone();
        other.signatures = vec!["k2:BBBB".into(), "k3:CCCC".into()];
        assert_eq!(signed_bytes(&r.to_value()), signed_bytes(&other.to_value()));
        // Key order of the file does not matter.
        let text = String::from_utf8(r.to_file_bytes()).unwrap();
        let reordered: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(signed_bytes(&reordered), signed_bytes(&r.to_value()));
        // A field this version does not know is still signed.
        let mut v = r.to_value();
        v["builder"] = "ci-1".into();
        assert_ne!(signed_bytes(&v), signed_bytes(&r.to_value()));
        let mut b = r.clone();
        b.btih = Some("0".repeat(40));
        assert_ne!(signed_bytes(&b.to_value()), signed_bytes(&r.to_value()));
    }

    #[test]
    fn parse_refuses_what_is_not_a_plain_v1_record() {
        let ok = sample().to_file_bytes();
        assert!(parse(&ok).is_ok());
        let bad = |f: &dyn Fn(&mut Record)| {
            let mut r = sample();
            f(&mut r);
            parse(&r.to_file_bytes()).unwrap_err()
        };
        assert!(bad(&|r| r.format = "magpkg-cache-v2".into()).contains("format"));
        assert!(bad(&|r| r.archive.file = "../../etc/passwd".into()).contains("plain file name"));
        assert!(bad(&|r| r.btih = Some("x".repeat(40))).contains("btih"));
        assert!(bad(&|r| r.archive.compression = "gzip".into()).contains("compression"));
        assert!(bad(&|r| r.digest = "sha1:00".into()).contains("digest"));
        assert!(parse(b"{}").is_err());
    }
}
