//! magpkg: the package manager and dev-environment tool of Magnet Linux.
//!
//! The crate is a pipeline, one module per stage, each with one public entry
//! point and its own error type:
//!
//! `eval` (Jsonnet → definitions) → `hash` (canonical ids) → `plan` (what the
//! store lacks) → `fetch` (HTTP, torrent, mirrors, source cache) → `build`
//! (bwrap sandbox) → `store` (atomic, locked, verifiable) → `env` (realise,
//! diff, activate) → front ends: `shell` and `hook`, the `app` runner, `oci`
//! export and the `cli`.

pub mod app;
pub mod build;
pub mod cli;
pub mod env;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod hash;
pub mod hook;
pub mod oci;
pub mod plan;
pub mod settings;
pub mod shell;
pub mod store;
pub mod util;
