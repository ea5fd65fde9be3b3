//! Deterministic gzip and a hashing writer.
//!
//! gzip headers carry a timestamp, a file name and the OS that wrote them;
//! all three are fixed here (no time, no name, OS 255 "unknown"), so the
//! compressed bytes depend only on the input and the deflate implementation
//! (flate2's pure-Rust backend, pinned by Cargo.lock, same on every machine).

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

/// gzip's own default level: the ratio people expect from `tar | gzip`.
pub const LEVEL: u32 = 6;

/// A gzip encoder whose output is the same on every run and machine.
pub fn encoder<W: Write>(out: W) -> GzEncoder<W> {
    GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, Compression::new(LEVEL))
}

/// Passes bytes through to `W`, computing their sha256 and count.
pub struct HashWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, the lowercase hex sha256 and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.count)
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_header_has_no_time_name_or_host() {
        let mut e = encoder(Vec::new());
        e.write_all(b"same input").unwrap();
        let a = e.finish().unwrap();
        assert_eq!(&a[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut e = encoder(Vec::new());
        e.write_all(b"same input").unwrap();
        assert_eq!(a, e.finish().unwrap());
        let mut d = flate2::read::GzDecoder::new(&a[..]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut d, &mut s).unwrap();
        assert_eq!(s, "same input");
    }

    #[test]
    fn hash_writer_hashes_what_passes() {
        let mut w = HashWriter::new(Vec::new());
        w.write_all(b"hello").unwrap();
        let (inner, sha, n) = w.finish();
        assert_eq!(inner, b"hello");
        assert_eq!(n, 5);
        assert_eq!(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    }
}
