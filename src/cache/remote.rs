//! One cache location: a directory (`file://`), a directory served over
//! HTTP (`http://`, `https://`, read-only) or an S3 bucket (`s3://`).
//! Everything is a plain file read whole or streamed, or written whole.
//!
//! A cache that does not answer must cost little: connecting and the first
//! byte of an answer get [`FIRST_BYTE`]; after that a body may stall for
//! the configured stall timeout. A cache that fails that way is
//! [`RemoteError::Down`], and the caller skips it for the rest of the
//! command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{Stream, StreamExt};

use super::{s3, CacheError};
use crate::settings::Settings;

/// Time to connect and get the first byte of an answer.
pub const FIRST_BYTE: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone)]
pub enum RemoteError {
    NotFound,
    /// Unreachable, not answering, or failing (5xx): skip the cache.
    Down(String),
    /// This file could not be had (too large, truncated, I/O...).
    Other(String),
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::NotFound => f.write_str("not found"),
            RemoteError::Down(m) | RemoteError::Other(m) => f.write_str(m),
        }
    }
}

enum Kind {
    File(PathBuf),
    Http { base: String, client: reqwest::Client },
    S3(s3::Bucket),
}

pub struct Remote {
    /// The URL as the user wrote it, for messages.
    pub url: String,
    kind: Kind,
    stall: Duration,
}

impl Remote {
    /// A cache location. `push` selects the patient network settings of an
    /// upload (retries) over the impatient ones of a lookup.
    pub fn open(url: &str, settings: &Settings, push: bool) -> Result<Remote, CacheError> {
        let bad = || CacheError::BadUrl { url: url.into() };
        let parsed = url::Url::parse(url).map_err(|_| bad())?;
        let kind = match parsed.scheme() {
            "file" => Kind::File(parsed.to_file_path().map_err(|_| bad())?),
            "http" | "https" => {
                let client = reqwest::Client::builder()
                    .user_agent(concat!("magpkg/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(FIRST_BYTE)
                    .no_gzip()
                    .build()
                    .map_err(|e| CacheError::Remote {
                        url: url.into(),
                        message: crate::fetch::http::chain(&e),
                    })?;
                Kind::Http {
                    base: url.trim_end_matches('/').to_string(),
                    client,
                }
            }
            "s3" => Kind::S3(s3::Bucket::open(&parsed, push).map_err(|message| CacheError::Remote {
                url: url.into(),
                message,
            })?),
            _ => return Err(bad()),
        };
        Ok(Remote {
            url: url.trim_end_matches('/').to_string(),
            kind,
            stall: settings.stall_timeout.max(Duration::from_secs(1)),
        })
    }

    pub fn is_network(&self) -> bool {
        !matches!(self.kind, Kind::File(_))
    }

    pub fn writable(&self) -> bool {
        !matches!(self.kind, Kind::Http { .. })
    }

    /// Where `rel` is, for messages.
    pub fn display(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    /// A small file, whole. More than `limit` bytes is an error.
    pub async fn get(&self, rel: &str, limit: u64) -> Result<Vec<u8>, RemoteError> {
        let mut out = Vec::new();
        self.stream_to(rel, limit, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Whether [`Remote::get_range`] works (files and HTTP; not S3).
    pub fn ranged(&self) -> bool {
        !matches!(self.kind, Kind::S3(_))
    }

    /// `len` bytes of `rel` at `offset`, exactly (a web seed's piece).
    pub async fn get_range(&self, rel: &str, offset: u64, len: u32) -> Result<Vec<u8>, RemoteError> {
        match &self.kind {
            Kind::File(root) => {
                let path = root.join(rel);
                tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::FileExt;
                    let f = std::fs::File::open(&path).map_err(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => RemoteError::NotFound,
                        _ => RemoteError::Other(format!("{}: {e}", path.display())),
                    })?;
                    let mut buf = vec![0u8; len as usize];
                    f.read_exact_at(&mut buf, offset)
                        .map_err(|e| RemoteError::Other(format!("{}: {e}", path.display())))?;
                    Ok(buf)
                })
                .await
                .map_err(|e| RemoteError::Other(e.to_string()))?
            }
            Kind::Http { base, client } => {
                let url = format!("{base}/{rel}");
                tokio::time::timeout(self.stall, crate::fetch::webseed::http_range(client, &url, offset, len))
                    .await
                    .map_err(|_| RemoteError::Down(format!("no answer within {:?}", self.stall)))?
                    .map_err(RemoteError::Down)
            }
            Kind::S3(_) => Err(RemoteError::Other("S3 caches serve no byte ranges here".into())),
        }
    }

    /// Download `rel` into the new file `dest`, which must come out exactly
    /// `size` bytes long. Returns its sha256, hashed while the bytes arrive.
    pub async fn download(
        &self,
        rel: &str,
        dest: &Path,
        size: u64,
        on_bytes: impl Fn(u64),
    ) -> Result<String, RemoteError> {
        use sha2::Digest;
        let file = std::fs::File::create(dest).map_err(|e| RemoteError::Other(format!("{}: {e}", dest.display())))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut hasher = sha2::Sha256::new();
        let got = self
            .stream_to(rel, size, |chunk| {
                hasher.update(chunk);
                on_bytes(chunk.len() as u64);
                out.write_all(chunk)
            })
            .await?;
        out.flush()
            .map_err(|e| RemoteError::Other(format!("{}: {e}", dest.display())))?;
        if got != size {
            return Err(RemoteError::Other(format!("truncated download: {got} of {size} bytes")));
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// Feed the file's bytes to `sink`; returns how many there were.
    async fn stream_to(
        &self,
        rel: &str,
        limit: u64,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, RemoteError> {
        match &self.kind {
            Kind::File(root) => {
                let path = root.join(rel);
                let mut f = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RemoteError::NotFound),
                    Err(e) => return Err(RemoteError::Other(format!("{}: {e}", path.display()))),
                };
                let mut buf = vec![0u8; 1 << 16];
                let mut got = 0u64;
                loop {
                    let n = std::io::Read::read(&mut f, &mut buf)
                        .map_err(|e| RemoteError::Other(format!("{}: {e}", path.display())))?;
                    if n == 0 {
                        return Ok(got);
                    }
                    got += n as u64;
                    if got > limit {
                        return Err(too_long(limit));
                    }
                    sink(&buf[..n]).map_err(|e| RemoteError::Other(e.to_string()))?;
                }
            }
            Kind::Http { base, client } => {
                let url = format!("{base}/{rel}");
                let resp = match tokio::time::timeout(FIRST_BYTE, client.get(&url).send()).await {
                    Err(_) => return Err(RemoteError::Down(format!("no answer within {FIRST_BYTE:?}"))),
                    Ok(Err(e)) => return Err(RemoteError::Down(crate::fetch::http::chain(&e))),
                    Ok(Ok(r)) => r,
                };
                let status = resp.status();
                if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                    return Err(RemoteError::NotFound);
                }
                if status.is_server_error() {
                    return Err(RemoteError::Down(format!("HTTP {status}")));
                }
                if !status.is_success() {
                    return Err(RemoteError::Other(format!("HTTP {status}")));
                }
                if resp.content_length().is_some_and(|n| n > limit) {
                    return Err(too_long(limit));
                }
                let body = resp
                    .bytes_stream()
                    .map(|r| r.map_err(|e| crate::fetch::http::chain(&e)));
                drain(body, limit, self.stall, sink).await
            }
            Kind::S3(bucket) => {
                let body = match tokio::time::timeout(FIRST_BYTE, bucket.get(rel)).await {
                    Err(_) => return Err(RemoteError::Down(format!("no answer within {FIRST_BYTE:?}"))),
                    Ok(r) => r?,
                };
                drain(body, limit, self.stall, sink).await
            }
        }
    }

    /// Write a small file (replacing it).
    pub async fn put(&self, rel: &str, data: Vec<u8>) -> Result<(), RemoteError> {
        match &self.kind {
            Kind::File(root) => publish(&root.join(rel), |f| f.write_all(&data)),
            Kind::Http { .. } => Err(RemoteError::Other("HTTP caches are read-only".into())),
            Kind::S3(bucket) => bucket.put(rel, data).await,
        }
    }

    /// Upload the file `src` as `rel`.
    pub async fn put_file(&self, rel: &str, src: &Path) -> Result<(), RemoteError> {
        match &self.kind {
            Kind::File(root) => {
                let dest = root.join(rel);
                let src = src.to_path_buf();
                // A copy, then a rename in the cache: a reader never sees
                // half an archive.
                tokio::task::spawn_blocking(move || {
                    let mut from =
                        std::fs::File::open(&src).map_err(|e| RemoteError::Other(format!("{}: {e}", src.display())))?;
                    publish(&dest, |f| std::io::copy(&mut from, f).map(|_| ()))
                })
                .await
                .map_err(|e| RemoteError::Other(e.to_string()))?
            }
            Kind::Http { .. } => Err(RemoteError::Other("HTTP caches are read-only".into())),
            Kind::S3(bucket) => bucket.put_file(rel, src).await,
        }
    }
}

fn too_long(limit: u64) -> RemoteError {
    RemoteError::Other(format!("longer than the {limit} bytes expected"))
}

/// Write a file of a `file://` cache: temp file, fsync, rename, so a reader
/// never sees half of one.
fn publish(dest: &Path, fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<(), RemoteError> {
    let err = |p: &Path, e: std::io::Error| RemoteError::Other(format!("{}: {e}", p.display()));
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| err(dir, e))?;
    fill(tmp.as_file_mut()).map_err(|e| err(dest, e))?;
    tmp.as_file().sync_all().map_err(|e| err(dest, e))?;
    // A web server running as another user serves these files.
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(|e| err(dest, e))?;
    tmp.persist(dest).map_err(|e| err(dest, e.error))?;
    crate::util::fsync_dir(dir).map_err(|e| err(dir, e))
}

/// Read a body, at most `limit` bytes, none of its chunks more than
/// `stall` apart.
async fn drain<B: AsRef<[u8]>>(
    body: impl Stream<Item = Result<B, String>>,
    limit: u64,
    stall: Duration,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, RemoteError> {
    let mut body = std::pin::pin!(body);
    let mut got = 0u64;
    loop {
        let chunk = match tokio::time::timeout(stall, body.next()).await {
            Err(_) => {
                return Err(RemoteError::Down(format!(
                    "no data for {}s after {got} bytes",
                    stall.as_secs()
                )))
            }
            Ok(None) => return Ok(got),
            Ok(Some(Err(e))) => return Err(RemoteError::Other(format!("connection lost after {got} bytes: {e}"))),
            Ok(Some(Ok(c))) => c,
        };
        let chunk = chunk.as_ref();
        got += chunk.len() as u64;
        if got > limit {
            return Err(too_long(limit));
        }
        sink(chunk).map_err(|e| RemoteError::Other(e.to_string()))?;
    }
}
