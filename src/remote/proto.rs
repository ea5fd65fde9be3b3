//! The wire protocol between `magpkg build` (the client) and
//! `magpkg serve --stdio` (a builder), over an SSH channel's stdin/stdout.
//!
//! A frame is a 4-byte big-endian length and that many bytes of JSON (a
//! [`Msg`]); the messages that carry a file ([`Msg::PutPackage`],
//! [`Msg::PutSource`], [`Msg::Built`]) are followed by exactly `size` raw
//! bytes. Package outputs travel as binary-cache archives
//! ([`crate::cache::archive`]), sources as the files themselves. The client
//! speaks first; every request has one answer, except `Build`, whose answer
//! is preceded by any number of `Log` frames. `doc/remote-builds.md`
//! describes a session.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::model::Package;
use crate::store::PackageRecord;

/// The zstd level of archives on the wire: the binary cache's format at a
/// cheaper level (their bytes need not be the same on every machine; the
/// unpacked tree's digest is what is checked).
pub const WIRE_ZSTD_LEVEL: i32 = 3;

/// The protocol version both sides must speak ([`Msg::Hello`]).
pub const PROTOCOL: u32 = 1;

/// The largest JSON frame accepted: a `Build` carries a package's whole
/// build closure, a few KiB per package.
pub const MAX_FRAME: u32 = 64 << 20;

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Msg {
    /// First message of each side: the protocol and magpkg versions.
    Hello {
        protocol: u32,
        version: String,
    },
    /// Which of these package ids and source sha256s does the builder hold?
    Have {
        packages: Vec<String>,
        sources: Vec<String>,
    },
    /// The answer to `Have`: the ones it holds.
    Has {
        packages: Vec<String>,
        sources: Vec<String>,
    },
    /// A store entry (its archive follows, `size` bytes); answered `Ok` once
    /// it is verified against `record.digest` and in the builder's store.
    PutPackage {
        record: PackageRecord,
        size: u64,
    },
    /// A source file (`size` bytes follow); answered `Ok` once its sha256
    /// is checked and it is in the builder's source cache.
    PutSource {
        filename: String,
        sha256: String,
        size: u64,
    },
    /// Build `root`; `packages` is its build closure (every package the
    /// build reads), each of which the builder checks hashes to its id.
    Build {
        root: String,
        packages: Vec<Package>,
    },
    /// What the running build's log gained, every 100 ms (empty when it
    /// gained nothing: the client's progress display refreshes on each).
    Log {
        text: String,
    },
    /// The build succeeded: the output's digest, its archive follows.
    Built {
        id: String,
        digest: String,
        size: u64,
    },
    /// The build script failed (a result, not a fault of the builder).
    Failed {
        status: String,
        tail: String,
    },
    Ok,
    /// Anything else went wrong on the builder's side.
    Error {
        message: String,
    },
}

/// Write one frame (a payload, if any, is written by the caller after it).
pub fn write_msg<W: Write + ?Sized>(w: &mut W, msg: &Msg) -> io::Result<()> {
    let json = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(|_| io::Error::other("message too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&json)?;
    Ok(())
}

/// Read one frame. End of stream before its first byte is
/// `UnexpectedEof`, as is one in the middle.
pub fn read_msg(r: &mut impl Read) -> io::Result<Msg> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes (at most {MAX_FRAME}): not the magpkg protocol"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    serde_json::from_slice(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {e}")))
}

/// Copy exactly `size` bytes of payload from `r` to `w`.
pub fn copy_payload<R: Read + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W, size: u64) -> io::Result<()> {
    let n = io::copy(&mut r.take(size), w)?;
    if n != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the stream ended after {n} of {size} payload bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_name_their_op() {
        let msgs = vec![
            Msg::Hello {
                protocol: PROTOCOL,
                version: "0.1.0".into(),
            },
            Msg::Have {
                packages: vec!["a".into()],
                sources: vec![],
            },
            Msg::Built {
                id: "a".into(),
                digest: "blake3:00".into(),
                size: 3,
            },
            Msg::Ok,
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            write_msg(&mut buf, m).unwrap();
        }
        // The JSON is tagged by `op`, fields camelCase.
        assert!(String::from_utf8_lossy(&buf).contains(r#"{"op":"built","id":"a","digest":"blake3:00","size":3}"#));
        let mut r = &buf[..];
        for m in &msgs {
            assert_eq!(&read_msg(&mut r).unwrap(), m);
        }
        assert_eq!(read_msg(&mut r).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn oversized_and_garbage_frames_are_refused() {
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert_eq!(read_msg(&mut r).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let mut buf = 5u32.to_be_bytes().to_vec();
        buf.extend_from_slice(b"hello");
        assert_eq!(read_msg(&mut &buf[..]).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let mut short: &[u8] = b"abc";
        let mut out = Vec::new();
        assert!(copy_payload(&mut short, &mut out, 5).is_err());
    }
}
