//! Downloading one URL over HTTP(S) into a file: timeouts, retries with
//! backoff, and resuming an interrupted transfer with a Range request.

use sha2::Digest as _;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;

use super::OriginError;

/// Limits for one URL.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Time to connect and get the response headers.
    pub timeout: Duration,
    /// Time the body may send nothing.
    pub stall: Duration,
    /// Extra attempts after a failure that made no progress.
    pub retries: u32,
    /// Bytes the whole file may have (`maxDownloadSize`).
    pub max_size: u64,
    /// Bytes per second the body must average over each `stall` window
    /// (`minRate`; 0: no check).
    pub min_rate: u64,
}

/// The client every download shares (connection reuse, redirects).
pub fn client(limits: &HttpLimits) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("magpkg/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(10))
        .connect_timeout(limits.timeout)
        // Sources are compressed archives: ask for the bytes as they are.
        .no_gzip()
        .build()
        .map_err(|e| chain(&e))
}

/// One attempt's failure.
struct Failed {
    err: OriginError,
    /// Worth another attempt (network trouble, 5xx), not a 404.
    retryable: bool,
    /// Bytes arrived before it failed: the next attempt resumes.
    progressed: bool,
    /// How many bytes this attempt received.
    got: u64,
}

/// Bytes one connection must deliver before it breaks for the resume to
/// not count as a retry.
const FREE_RESUME: u64 = 1 << 20;

/// Download `url` into `dest` (created or resumed). Returns the file size
/// and its sha256 (hashed while the bytes arrive, so the cache need not
/// read the file a second time).
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    limits: &HttpLimits,
    pb: &ProgressBar,
) -> Result<(u64, String), OriginError> {
    let mut failures = 0u32;
    let mut backoff = Duration::from_millis(250);
    loop {
        match attempt(client, url, dest, limits, pb).await {
            Ok(n) => return Ok(n),
            Err(f) if !f.retryable => return Err(f.err),
            Err(f) => {
                // A connection that delivered a good part of the file before
                // it broke is resumed without using up a retry: the server
                // is alive, the network is flaky. A stall, or a server that
                // trickles a few bytes per connection, uses one up.
                let free = f.progressed && f.got >= FREE_RESUME && !matches!(f.err, OriginError::Stalled { .. });
                if !free {
                    failures += 1;
                    if failures > limits.retries {
                        return Err(f.err);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(8));
                }
            }
        }
    }
}

impl Failed {
    /// A failure before any byte of the body arrived.
    fn early(err: OriginError, retryable: bool) -> Failed {
        Failed {
            err,
            retryable,
            progressed: false,
            got: 0,
        }
    }
}

/// How a server answered a (possibly resumed) request.
enum Answer {
    /// The file we have is already whole: its size and sha256.
    Complete(u64, String),
    /// A body follows; `have` bytes of the file are kept (0: start over),
    /// `total` is the whole file's size when the server said.
    Body { have: u64, total: Option<u64> },
}

/// One request: resume from what `dest` holds, stream the body into it
/// while hashing. Returns the file's size and sha256.
async fn attempt(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    limits: &HttpLimits,
    pb: &ProgressBar,
) -> Result<(u64, String), Failed> {
    let have = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    let resp = send(client, url, have, limits).await?;
    match answer(&resp, have, dest, pb)? {
        Answer::Complete(size, sha) => Ok((size, sha)),
        Answer::Body { total: Some(t), .. } if t > limits.max_size => {
            // Not worth a byte of the body, nor another attempt.
            let _ = std::fs::remove_file(dest);
            Err(Failed::early(
                OriginError::TooBig {
                    limit: limits.max_size,
                    announced: Some(t),
                },
                false,
            ))
        }
        Answer::Body { have, total } => receive(resp, dest, have, total, limits, pb).await,
    }
}

fn io_failure(dest: &Path) -> impl Fn(std::io::Error) -> Failed + Copy + '_ {
    move |e| Failed::early(OriginError::Io(format!("{}: {e}", dest.display())), false)
}

/// Send the request (a range request when `have` bytes are already there)
/// and wait for the answer's head, at most the HTTP timeout.
async fn send(
    client: &reqwest::Client,
    url: &str,
    have: u64,
    limits: &HttpLimits,
) -> Result<reqwest::Response, Failed> {
    let mut req = client.get(url);
    if have > 0 {
        req = req.header(RANGE, format!("bytes={have}-"));
    }
    match tokio::time::timeout(limits.timeout, req.send()).await {
        Err(_) => Err(Failed::early(
            OriginError::Network(format!("no answer within {}s", limits.timeout.as_secs())),
            true,
        )),
        Ok(Err(e)) => Err(Failed::early(OriginError::Network(chain(&e)), true)),
        Ok(Ok(r)) => Ok(r),
    }
}

/// What the status and range headers say about the part we have.
fn answer(resp: &reqwest::Response, have: u64, dest: &Path, pb: &ProgressBar) -> Result<Answer, Failed> {
    let io = io_failure(dest);
    let status = resp.status();
    match status {
        StatusCode::PARTIAL_CONTENT if have > 0 => {
            let range = resp
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range);
            match range {
                Some((start, total)) if start == have => Ok(Answer::Body {
                    have,
                    total: total.or(resp.content_length().map(|n| n + have)),
                }),
                // The server resumed somewhere else: start over.
                _ => {
                    std::fs::remove_file(dest).map_err(io)?;
                    Err(Failed::early(
                        OriginError::Network("the server answered a resume request with another range".into()),
                        true,
                    ))
                }
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
            // Either the file is already complete, or what we have is longer
            // than the server's file: drop it and start again.
            let total = resp
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes */"))
                .and_then(|v| v.trim().parse::<u64>().ok());
            if total == Some(have) {
                pb.set_length(have);
                pb.set_position(have);
                let sha = crate::util::sha256_file(dest).map_err(io)?;
                return Ok(Answer::Complete(have, sha));
            }
            std::fs::remove_file(dest).map_err(io)?;
            Err(Failed::early(
                OriginError::Http {
                    status: status.as_u16(),
                    reason: reason(status),
                },
                true,
            ))
        }
        // A full answer (200, or a server that ignores Range).
        s if s.is_success() => Ok(Answer::Body {
            have: 0,
            total: resp.content_length(),
        }),
        s => {
            let retryable =
                s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT;
            Err(Failed::early(
                OriginError::Http {
                    status: s.as_u16(),
                    reason: reason(s),
                },
                retryable,
            ))
        }
    }
}

/// Stream the body after the `have` bytes kept, hashing as it is written;
/// a stall longer than the stall timeout or a short body is a failure the
/// next attempt resumes from.
async fn receive(
    mut resp: reqwest::Response,
    dest: &Path,
    have: u64,
    total: Option<u64>,
    limits: &HttpLimits,
    pb: &ProgressBar,
) -> Result<(u64, String), Failed> {
    let io = io_failure(dest);
    if let Some(t) = total {
        pb.set_length(t);
    }
    pb.set_position(have);
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(have > 0)
        .truncate(have == 0)
        .open(dest)
        .map_err(io)?;
    // Hash as we write. A resumed download first hashes the part it has
    // (rare, and cheaper than hashing the whole file again at the end).
    let mut hasher = sha2::Sha256::new();
    if have > 0 {
        let mut part = std::fs::File::open(dest).map_err(io)?;
        std::io::copy(&mut part, &mut hasher).map_err(io)?;
    }
    // Big buffer: few write calls; chunks from the network are small.
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut got = have;
    let start = have;
    let mut synced = have;
    let mut progressed = false;
    // The rate is measured over windows as long as the stall timeout: a
    // server sending a byte now and then never stalls, but is too slow.
    let mut window = (std::time::Instant::now(), got);
    loop {
        let chunk = match tokio::time::timeout(limits.stall, resp.chunk()).await {
            Err(_) => {
                out.flush().map_err(io)?;
                return Err(Failed {
                    err: OriginError::Stalled {
                        secs: limits.stall.as_secs(),
                        got,
                    },
                    retryable: true,
                    progressed,
                    got: got - start,
                });
            }
            Ok(Err(e)) => {
                out.flush().map_err(io)?;
                return Err(Failed {
                    err: OriginError::Network(format!("connection lost after {got} bytes: {}", chain(&e))),
                    retryable: true,
                    progressed,
                    got: got - start,
                });
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(c))) => c,
        };
        if got + chunk.len() as u64 > limits.max_size {
            // A body with no end (or a lying Content-Length) must not fill
            // the disk before the sha256 could reject it.
            drop(out);
            let _ = std::fs::remove_file(dest);
            return Err(Failed {
                err: OriginError::TooBig {
                    limit: limits.max_size,
                    announced: None,
                },
                retryable: false,
                progressed,
                got: got - start,
            });
        }
        out.write_all(&chunk).map_err(io)?;
        hasher.update(&chunk);
        got += chunk.len() as u64;
        if got - synced >= WRITEBACK_STEP {
            out.flush().map_err(io)?;
            start_writeback(out.get_ref(), synced, got - synced);
            synced = got;
        }
        progressed = true;
        pb.set_position(got);
        let elapsed = window.0.elapsed();
        if limits.min_rate > 0 && elapsed >= limits.stall {
            let rate = (got - window.1) as f64 / elapsed.as_secs_f64();
            if rate < limits.min_rate as f64 {
                drop(out);
                return Err(Failed {
                    err: OriginError::TooSlow {
                        rate: rate as u64,
                        min: limits.min_rate,
                        secs: elapsed.as_secs(),
                        got,
                    },
                    retryable: false,
                    progressed,
                    got: got - start,
                });
            }
            window = (std::time::Instant::now(), got);
        }
    }
    out.flush().map_err(io)?;
    if let Some(t) = total {
        if got < t {
            return Err(Failed {
                err: OriginError::Network(format!("connection closed after {got} of {t} bytes")),
                retryable: true,
                progressed,
                got: got - start,
            });
        }
    }
    Ok((got, hex::encode(hasher.finalize())))
}

/// How much is written before the kernel is asked to start writing it back.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Start writing a range of the file back to disk, without waiting. The
/// store fsyncs every source before it commits it; starting the writeback
/// while the download goes on overlaps the disk's work with the network's,
/// so that final fsync has little left to do.
fn start_writeback(file: &std::fs::File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on an open descriptor. It is only a hint:
    // an error (e.g. a file system without support) changes nothing.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), from as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// `bytes START-END/TOTAL` → (START, TOTAL if known).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let v = v.trim().strip_prefix("bytes ")?;
    let (range, total) = v.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

fn reason(s: StatusCode) -> String {
    s.canonical_reason().unwrap_or("").to_string()
}

/// An error and its causes on one line (reqwest's own text is terse).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    crate::error::one_line(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 100-199/200"), Some((100, Some(200))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
