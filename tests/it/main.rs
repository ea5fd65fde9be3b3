//! magpkg's integration tests: one binary, one module per area, all on the
//! real `magpkg` binary with real shells, servers on loopback, bwrap and
//! the OCI tools. `support` gives each test its own HOME, XDG dirs, store
//! and state dir ([`support::TestContext`]).
//!
//! Fast tests run with `cargo test`; the slow real-world ones (Debian
//! mirror, real builds, podman) are `#[ignore]`d and run by CI with
//! `cargo test --locked -- --include-ignored`. They share one download of
//! the bootstrap root ([`support::bootstrap`]). Output snapshots live in
//! `tests/it/snapshots/`: after a deliberate change of output, review
//! the `.snap.new` files a failing run writes (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test` and `git diff`).

mod support;

mod app;
mod app_update;
mod build;
mod buildtools;
mod cache;
mod cli;
mod env;
mod envmodel;
mod eval;
mod faults;
mod fetch;
mod hook;
mod oci;
mod remote;
mod swarm;
mod toolchains;
mod tree;
