//! What the store lacks: which sources must be fetched and which packages
//! built, in dependency order, to have every root of a graph.

use crate::error::Classify;
use crate::model::{Graph, PackageId, Source};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for PlanError {
    fn is_user_error(&self) -> bool {
        false
    }
}

/// The work needed to realise a graph's roots.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Packages to build, dependencies first.
    pub build: Vec<PackageId>,
    /// Packages already in the store (not built again).
    pub present: Vec<PackageId>,
    /// Sources of the packages to build that are not in the source cache.
    pub fetch: Vec<Source>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.build.is_empty() && self.fetch.is_empty()
    }
}

/// Compare the graph needed for `roots` (default: the graph's roots) against
/// the store. A package whose id is in the store is never rebuilt, and its
/// build dependencies are not needed.
pub fn plan(graph: &Graph, store: &Store, roots: Option<&[PackageId]>) -> Result<Plan, PlanError> {
    let roots = roots.unwrap_or(&graph.roots);
    let mut plan = Plan::default();
    let mut needed = std::collections::BTreeSet::new();
    let mut stack: Vec<PackageId> = roots.to_vec();
    // Walk down from the roots; stop at packages the store has (their build
    // deps are irrelevant), but keep their runtime deps, which must exist too.
    while let Some(id) = stack.pop() {
        if !needed.insert(id.clone()) {
            continue;
        }
        let p = graph.get(&id);
        if store.has_package(&id) {
            stack.extend(p.run_deps.iter().cloned());
        } else {
            stack.extend(p.build_deps.iter().cloned());
            stack.extend(p.run_deps.iter().cloned());
        }
    }
    let mut seen_src = std::collections::BTreeSet::new();
    for id in graph.build_order(roots) {
        if !needed.contains(&id) {
            continue;
        }
        if store.has_package(&id) {
            tracing::debug!(package = %graph.get(&id).name, %id, "in the store: nothing to do");
            plan.present.push(id);
            continue;
        }
        for s in &graph.get(&id).sources {
            if store.source(&s.sha256, &s.filename)?.is_none()
                && seen_src.insert((s.sha256.clone(), s.filename.clone()))
            {
                plan.fetch.push(s.clone());
            }
        }
        tracing::debug!(package = %graph.get(&id).name, %id, "not in the store: to be built");
        plan.build.push(id);
    }
    tracing::debug!(
        present = plan.present.len(),
        build = plan.build.len(),
        fetch = plan.fetch.len(),
        "plan made"
    );
    Ok(plan)
}
