//! `magpkg serve --stdio`: the builder's side of remote builds.
//!
//! Started by a client through SSH (`crate::remote`), it answers the
//! messages of [`crate::remote::proto`] on stdin/stdout until the client
//! closes the stream. It holds nothing of the client's but what the client
//! sends, and checks all of it before its store takes it: every store entry
//! against the digest in its record (the archive reader refuses what a
//! store entry cannot hold), every source against its sha256, every package
//! definition against its id. Builds run as local builds do here: in this
//! user's store, in its sandbox, one at a time per channel, never on this
//! machine's own remote builders.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use crate::build::{BuildError, BuildOptions};
use crate::error::Classify;
use crate::model::{Graph, PackageId};
use crate::remote::proto::{self, Msg};
use crate::settings::Settings;
use crate::store::{PackageRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the client spoke protocol {theirs}; this magpkg speaks {}", proto::PROTOCOL)]
    Protocol { theirs: u32 },
    #[error("the connection to the client broke")]
    Wire(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for ServeError {
    fn is_user_error(&self) -> bool {
        matches!(self, ServeError::Protocol { .. })
    }

    fn hint(&self) -> Option<String> {
        match self {
            ServeError::Protocol { .. } => Some("install the same magpkg version on both machines".into()),
            _ => None,
        }
    }
}

/// Serve one client on `input`/`output` until it closes `input`.
pub fn serve(input: impl Read, output: impl Write, store: &Store, settings: &Settings) -> Result<(), ServeError> {
    let mut rx = BufReader::new(input);
    let mut tx = BufWriter::new(output);
    // A builder never passes work on: no remote builders of its own.
    let mut settings = settings.clone();
    settings.builders.clear();
    let wire = ServeError::Wire;
    loop {
        let msg = match proto::read_msg(&mut rx) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(wire(e)),
        };
        let answer = match msg {
            Msg::Hello { protocol, .. } => {
                proto::write_msg(
                    &mut tx,
                    &Msg::Hello {
                        protocol: proto::PROTOCOL,
                        version: env!("CARGO_PKG_VERSION").into(),
                    },
                )
                .map_err(wire)?;
                tx.flush().map_err(wire)?;
                if protocol != proto::PROTOCOL {
                    return Err(ServeError::Protocol { theirs: protocol });
                }
                continue;
            }
            Msg::Have { packages, sources } => {
                let packages = packages
                    .into_iter()
                    .filter(|id| store.has_package(&PackageId::from_string(id.clone())))
                    .collect();
                let sources = sources.into_iter().filter(|sha| store.has_source(sha)).collect();
                Msg::Has { packages, sources }
            }
            Msg::PutPackage { record, size } => match receive_package(&mut rx, store, record, size)? {
                Ok(()) => Msg::Ok,
                Err(message) => Msg::Error { message },
            },
            Msg::PutSource { filename, sha256, size } => {
                match receive_source(&mut rx, store, &filename, &sha256, size)? {
                    Ok(()) => Msg::Ok,
                    Err(message) => Msg::Error { message },
                }
            }
            Msg::Build { root, packages } => {
                build(&mut tx, store, &settings, root, packages)?;
                continue;
            }
            other => Msg::Error {
                message: format!("unexpected message `{}`", op_name(&other)),
            },
        };
        proto::write_msg(&mut tx, &answer).map_err(wire)?;
        tx.flush().map_err(wire)?;
    }
}

fn op_name(m: &Msg) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v["op"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Take a store entry off the wire. The outer `Result` is the wire (fatal),
/// the inner one a refusal the client is told about.
fn receive_package(
    rx: &mut impl Read,
    store: &Store,
    mut record: PackageRecord,
    size: u64,
) -> Result<Result<(), String>, ServeError> {
    let (tmp, mut f) = store.scratch_file("serve-")?;
    let mut w = BufWriter::new(&mut f);
    proto::copy_payload(rx, &mut w, size)
        .and_then(|_| w.flush())
        .map_err(ServeError::Wire)?;
    drop(w);
    if !valid_id(&record.id) {
        return Ok(Err(format!("`{}` is not a package id", record.id)));
    }
    let id = PackageId::from_string(record.id.clone());
    if store.has_package(&id) {
        return Ok(Ok(()));
    }
    f.seek(SeekFrom::Start(0)).map_err(StoreError::from)?;
    let out = tmp.path().join("out");
    fs_err::create_dir(&out).map_err(StoreError::from)?;
    use crate::cache::archive::Refusal;
    match crate::cache::archive::unpack_checked(BufReader::new(f), &out, &record.digest) {
        Ok(()) => {}
        Err(Refusal::Archive(e)) => return Ok(Err(format!("the archive of {} is refused: {e}", record.name))),
        Err(Refusal::Digest { actual }) => {
            return Ok(Err(format!(
                "the archive of {} unpacks to digest {actual}, its record says {}",
                record.name, record.digest
            )))
        }
        Err(Refusal::Unreadable(e)) => return Err(e.into()),
    }
    record.built_by = None;
    let _lock = store.lock("build", id.as_str())?;
    store.add_package(&out, record)?;
    Ok(Ok(()))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn receive_source(
    rx: &mut impl Read,
    store: &Store,
    filename: &str,
    sha256: &str,
    size: u64,
) -> Result<Result<(), String>, ServeError> {
    let tmp = store.tempdir("serve-")?;
    // The file name is checked by the store's commit; until then it is
    // written under a fixed name.
    let staged = tmp.path().join("incoming");
    let mut f = fs_err::File::create(&staged).map_err(StoreError::from)?;
    proto::copy_payload(rx, &mut BufWriter::new(&mut f), size).map_err(ServeError::Wire)?;
    drop(f);
    let dir = store.tempdir("serve-")?;
    if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".." {
        return Ok(Err(format!("`{filename}` is not a source file name")));
    }
    fs_err::rename(&staged, dir.path().join(filename)).map_err(StoreError::from)?;
    match store.commit_source(dir, filename, Some(sha256), "the magpkg client") {
        Ok(_) => Ok(Ok(())),
        Err(e @ StoreError::HashMismatch { .. }) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Run a `Build`: check the definitions, build, stream the log, send the
/// output (or why not).
fn build(
    tx: &mut impl Write,
    store: &Store,
    settings: &Settings,
    root: String,
    packages: Vec<crate::model::Package>,
) -> Result<(), ServeError> {
    let wire = ServeError::Wire;
    let fail = |tx: &mut dyn Write, message: String| -> Result<(), ServeError> {
        proto::write_msg(tx, &Msg::Error { message }).map_err(wire)?;
        tx.flush().map_err(wire)
    };
    let mut graph = Graph::default();
    for p in packages {
        let id = crate::hash::package_id(&p);
        if id != p.id {
            return fail(
                tx,
                format!(
                    "the definition of {} hashes to {id}, not to the id {} it came with",
                    p.name, p.id
                ),
            );
        }
        graph.packages.insert(p.id.clone(), p);
    }
    let root = PackageId::from_string(root);
    if !graph.packages.contains_key(&root) {
        return fail(
            tx,
            format!("the package to build ({root}) is not among the definitions sent"),
        );
    }
    for p in graph.packages.values() {
        if let Some(d) = p
            .build_deps
            .iter()
            .chain(&p.run_deps)
            .find(|d| !graph.packages.contains_key(d))
        {
            return fail(tx, format!("{} depends on {d}, whose definition was not sent", p.name));
        }
    }
    graph.roots = vec![root.clone()];
    let log_path = store.log_path(&root);
    let opts = BuildOptions {
        jobs: 1,
        keep_failed: false,
        progress: false,
        remote_only: false,
    };
    let result = if store.has_package(&root) {
        Ok(())
    } else {
        // Stream the log while the build runs in another thread; its end
        // wakes this one at once (a poll would add its period to every build).
        let _ = fs::remove_file(&log_path);
        std::thread::scope(|s| {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let (graph, opts) = (&graph, &opts);
            s.spawn(move || {
                let r = crate::build::build(graph, None, store, settings, opts).map(|_| ());
                let _ = done_tx.send(r);
            });
            let mut offset = 0u64;
            loop {
                let r = done_rx.recv_timeout(Duration::from_millis(100));
                send_log(tx, &log_path, &mut offset, r.is_err()).map_err(wire)?;
                match r {
                    Ok(r) => return Ok::<_, ServeError>(r),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return Ok(Err(BuildError::Io {
                            name: root.to_string(),
                            source: std::io::Error::other("the build thread panicked"),
                        }))
                    }
                }
            }
        })?
    };
    match result {
        Ok(()) => {}
        Err(BuildError::Failed(f)) => {
            proto::write_msg(
                tx,
                &Msg::Failed {
                    status: f.status.clone(),
                    tail: f.tail.clone(),
                },
            )
            .map_err(wire)?;
            return tx.flush().map_err(wire);
        }
        Err(e) => return fail(tx, crate::error::one_line(&e)),
    }
    let Some(record) = store.package(&root)? else {
        return fail(tx, format!("{root} is not in the store after its build"));
    };
    let dir = store.package_dir(&root, &record.name);
    let (_tmp, mut f) = store.scratch_file("serve-")?;
    let size = match crate::cache::archive::pack_at_level(&dir, BufWriter::new(&mut f), proto::WIRE_ZSTD_LEVEL) {
        Ok((size, _)) => size,
        Err(e) => return fail(tx, format!("cannot pack {}: {e}", dir.display())),
    };
    f.seek(SeekFrom::Start(0)).map_err(StoreError::from)?;
    proto::write_msg(
        tx,
        &Msg::Built {
            id: root.to_string(),
            digest: record.digest,
            size,
        },
    )
    .map_err(wire)?;
    proto::copy_payload(&mut f, tx, size).map_err(wire)?;
    tx.flush().map_err(wire)
}

/// Send what the log gained since `offset` as a `Log` frame; with `beat`,
/// an empty one when it gained nothing (the client's progress display
/// refreshes on each, and a silent build still shows it is alive).
fn send_log(tx: &mut impl Write, path: &Path, offset: &mut u64, beat: bool) -> std::io::Result<()> {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        if f.seek(SeekFrom::Start(*offset)).is_ok() {
            (&mut f).take(1 << 20).read_to_end(&mut buf)?;
        }
    }
    if buf.is_empty() && !beat {
        return Ok(());
    }
    *offset += buf.len() as u64;
    proto::write_msg(
        tx,
        &Msg::Log {
            text: String::from_utf8_lossy(&buf).into_owned(),
        },
    )?;
    tx.flush()
}
