//! `--pure`: the bubblewrap container of a project environment.
//!
//! The container's root is an empty tmpfs; in it are bound, at their own
//! paths, the environment's packages and profile (read-only), the project
//! (read-write) and the manifest's `pure.mounts`. `/bin` and `/usr/bin`
//! point at the profile's `bin` so `#!/bin/sh` and `#!/usr/bin/env` scripts
//! find the environment's tools, and `$HOME` is an empty tmpfs. Nothing else
//! of the host is visible; the network is kept (tools fetch things), and the
//! variables are only those [`super::environment`] computed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{Session, SessionError};
use crate::env::profile::EnvRecord;

/// The record of the state's environment (beside its profile in the store).
fn record(session: &Session) -> Result<EnvRecord, SessionError> {
    let profile = &session.state.profile;
    let path = profile.with_file_name(format!("{}.json", session.state.env_id));
    std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(SessionError::BadRecord { path })
}

/// bwrap's arguments to run `argv` with `env` in the container.
pub fn bwrap_args(
    session: &Session,
    env: &BTreeMap<OsString, OsString>,
    rc_dir: Option<&Path>,
    argv: &[OsString],
) -> Result<Vec<OsString>, SessionError> {
    let st = session.state;
    let rec = record(session)?;
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        for i in items {
            a.push(i.as_ref().to_os_string());
        }
    };
    push(&[&"--unshare-all", &"--share-net", &"--die-with-parent"]);
    push(&[&"--proc", &"/proc", &"--dev", &"/dev", &"--tmpfs", &"/tmp"]);
    // HOME first: the store and the project are often below it, and a later
    // bind shows through an earlier tmpfs, not the other way round.
    let home = env.get(std::ffi::OsStr::new("HOME")).map(PathBuf::from);
    if let Some(h) = home.as_ref().filter(|h| h.is_absolute() && h != &Path::new("/")) {
        push(&[&"--tmpfs", h]);
    }
    for p in &rec.packages {
        push(&[&"--ro-bind", &p.path, &p.path]);
    }
    push(&[&"--ro-bind", &st.profile, &st.profile]);
    let bin = st.profile.join("bin");
    if bin.is_dir() {
        push(&[&"--symlink", &bin, &"/bin", &"--symlink", &bin, &"/usr/bin"]);
    }
    push(&[&"--bind", &st.root, &st.root]);
    for m in &st.pure.mounts {
        let flag = if m.rw { "--bind-try" } else { "--ro-bind-try" };
        push(&[&flag, &m.src, &m.dst]);
    }
    if let Some(d) = rc_dir {
        push(&[&"--ro-bind", &d, &d]);
    }
    let visible =
        |p: &Path| p.starts_with(&st.root) || st.pure.mounts.iter().any(|m| m.src == m.dst && p.starts_with(&m.dst));
    let cwd = if visible(&session.cwd) {
        session.cwd.clone()
    } else {
        st.root.clone()
    };
    push(&[&"--chdir", &cwd, &"--clearenv"]);
    for (k, v) in env {
        push(&[&"--setenv", k, v]);
    }
    push(&[&"--"]);
    for x in argv {
        push(&[x]);
    }
    Ok(a)
}
