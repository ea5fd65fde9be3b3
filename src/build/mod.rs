//! Building packages from source in a bubblewrap sandbox, and the builtins (unpacking) that need no sandbox.

use crate::error::Classify;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Other(String),
}

impl Classify for BuildError {
    fn is_user_error(&self) -> bool {
        false
    }
}

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::eval::{Graph, PackageId};
use crate::settings::Settings;
use crate::store::Store;

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Packages built at once.
    pub jobs: usize,
    /// Keep the build directory of a failed build (path printed).
    pub keep_failed: bool,
    /// Show progress (package being built, tail of its log).
    pub progress: bool,
}

/// What [`build`] did.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// Packages built by this call, in the order they finished.
    pub built: Vec<PackageId>,
    /// Packages that were already in the store.
    pub present: Vec<PackageId>,
    /// Store path of every root (and everything built or present).
    pub paths: BTreeMap<PackageId, PathBuf>,
}

/// Make every package of `roots` (default: the graph's roots) present in
/// the store: plan, fetch missing sources, build missing packages in
/// dependency order.
pub fn build(
    graph: &Graph,
    roots: Option<&[PackageId]>,
    store: &Store,
    settings: &Settings,
    opts: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let _ = (graph, roots, store, settings, opts);
    todo!("build::build")
}
