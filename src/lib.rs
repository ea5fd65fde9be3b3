//! magpkg: the package manager and dev-environment tool of Magnet Linux.
//!
//! The crate is a pipeline, one module per stage, each with one public entry
//! point and its own error type:
//!
//! `eval` (Jsonnet → definitions) → `hash` (canonical ids) → `store`
//! (atomic, locked, verifiable) → `plan` (what the store lacks) → `fetch`
//! (HTTP, torrent, mirrors, source cache) → `cache` (signed binary
//! substitutes) → `remote` (builders over SSH) → `build` (scheduler, bwrap
//! sandbox) → `env` (realise, diff, activate) → `dialect` (bash, zsh, fish,
//! sh, GitHub Actions, JSON) → front ends: `session` (`magpkg shell`),
//! `hook` and `serve` (the builder side), the `app` runner, `oci` export and
//! the `cli`. Below them all sit
//! the leaves (`error`, `util`, `jsonnet`, `model`) and `settings`.
//! [`layers::LAYERS`] is the order, and a test holds every import to it; see
//! `ARCHITECTURE.md`.

pub mod app;
pub mod build;
pub mod cache;
pub mod cli;
pub mod dialect;
pub mod env;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod hash;
pub mod hook;
pub mod jsonnet;
pub mod layers;
pub mod model;
pub mod oci;
pub mod plan;
pub mod remote;
pub mod serve;
pub mod session;
pub mod settings;
pub mod store;
pub mod util;
