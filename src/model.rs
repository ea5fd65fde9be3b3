//! The data every stage shares: package ids, definitions and graphs.
//!
//! `eval` produces these types, `hash` gives them ids, and everything above
//! (`store`, `plan`, `fetch`, `build`, `env`, the front ends) consumes them.
//! They live in a module of their own so no stage has to import `eval` (and
//! with it the Jsonnet evaluator) to name a package.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A package id: BLAKE3 over the canonical encoding of a definition
/// (see [`crate::hash`]), lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PackageId(String);

impl PackageId {
    pub fn from_string(s: String) -> Self {
        PackageId(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PackageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One source file of a package. Its identity is `filename` + `sha256`;
/// `urls` are only places to get it from (mirrors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub filename: String,
    pub sha256: String,
    /// `https://`, `http://`, `mirror://NAME/path`, `magnet:?...`, `file://`,
    /// or a URL/path ending in `.torrent`.
    pub urls: Vec<String>,
}

/// How a package is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Build {
    /// A shell script run in the sandbox (`/bin/sh -e`).
    Script(String),
    /// A builtin of magpkg that needs no sandbox tools (e.g. unpacking).
    /// `builtin` names it; the other fields are its arguments.
    Builtin(BTreeMap<String, serde_json::Value>),
}

/// Descriptive metadata; not part of the package id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
}

/// A resolved package definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub id: PackageId,
    pub name: String,
    pub version: String,
    pub sources: Vec<Source>,
    pub build: Build,
    pub build_deps: Vec<PackageId>,
    pub run_deps: Vec<PackageId>,
    /// Variables the package sets in environments that use it (and in the
    /// sandbox of packages that build with it). `$out` in a value stands for
    /// the package's store directory.
    pub env: BTreeMap<String, String>,
    pub meta: Meta,
    /// OCI image settings (`entrypoint`, `cmd`, ...); not part of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<serde_json::Value>,
}

/// Packages by id, with the ones the input named as roots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    /// The packages the input evaluated to, in the input's order.
    pub roots: Vec<PackageId>,
    pub packages: BTreeMap<PackageId, Package>,
}

impl Graph {
    pub fn get(&self, id: &PackageId) -> &Package {
        &self.packages[id]
    }

    /// The runtime closure of `ids`: them and their `run_deps`, recursively,
    /// in dependency order (dependencies before dependents), each once.
    pub fn runtime_closure(&self, ids: &[PackageId]) -> Vec<PackageId> {
        self.post_order(ids, &|p| p.run_deps.iter())
    }

    /// Everything needed to build `ids`: the packages, their build
    /// dependencies' runtime closures and their runtime dependencies,
    /// recursively, dependencies first.
    pub fn build_order(&self, ids: &[PackageId]) -> Vec<PackageId> {
        self.post_order(ids, &|p| p.build_deps.iter().chain(&p.run_deps))
    }

    /// `ids` and what `deps` leads to from them, recursively, each once,
    /// dependencies before dependents.
    fn post_order<'g, I: Iterator<Item = &'g PackageId>>(
        &'g self,
        ids: &[PackageId],
        deps: &dyn Fn(&'g Package) -> I,
    ) -> Vec<PackageId> {
        fn visit<'g, I: Iterator<Item = &'g PackageId>>(
            g: &'g Graph,
            id: &PackageId,
            deps: &dyn Fn(&'g Package) -> I,
            seen: &mut std::collections::BTreeSet<PackageId>,
            out: &mut Vec<PackageId>,
        ) {
            if !seen.insert(id.clone()) {
                return;
            }
            for d in deps(&g.packages[id]) {
                visit(g, d, deps, seen, out);
            }
            out.push(id.clone());
        }
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for id in ids {
            visit(self, id, deps, &mut seen, &mut out);
        }
        out
    }
}
