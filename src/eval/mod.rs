//! Jsonnet → package definitions.
//!
//! Entry point: [`evaluate`] turns a Jsonnet input (an expression, a file or
//! a name in the package tree) into a [`Graph`] of [`Package`]s whose
//! dependencies are replaced by their ids (computed by [`crate::hash`]).
//!
//! `import "magnet/..."` resolves to the package tree embedded in the binary
//! (compiled in from `packages/`), or to the `packages_dir` the caller names.

use std::path::{Path, PathBuf};

use crate::error::Classify;
use crate::model::Graph;

mod graph;

use crate::jsonnet::{JsonnetError, Session, Tree, TREE_PREFIX};
use graph::{JsonNode, ValNode, Walker};

pub use graph::{META_FIELDS, PACKAGE_FIELDS, SOURCE_FIELDS};

/// What to evaluate.
#[derive(Debug, Clone)]
pub enum Input {
    /// A Jsonnet expression (`-e`); relative imports resolve from the
    /// current directory.
    Expr(String),
    /// A Jsonnet file (`-f`).
    File(PathBuf),
    /// A name in the package tree's `packages.jsonnet` (`magpkg eval hello`).
    Attr(String),
}

impl Input {
    /// A positional argument: a package name when it looks like one
    /// (`hello`, `lua5.4`, `gcc-12`), otherwise a Jsonnet expression, so the
    /// Magnet Linux README's own `magpkg build '(import
    /// "packages/core.jsonnet").coreutils'` works as written.
    pub fn positional(arg: &str) -> Input {
        let is_name = arg.is_empty()
            || arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
                && arg
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if is_name {
            Input::Attr(arg.to_string())
        } else {
            Input::Expr(arg.to_string())
        }
    }
}

/// The JSON value of an input, with every file that was read to produce it.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub value: serde_json::Value,
    /// Local files read (the input file and everything it imported, not the
    /// embedded tree), canonical, sorted. Used to bind trust to content.
    pub files: Vec<PathBuf>,
    /// The same files as the imports named them, symbolic links not
    /// resolved ([`crate::jsonnet::NameLog`]): trust covers every link on
    /// the way too.
    pub named: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Jsonnet(String),
    #[error("{location}: {message}")]
    Invalid {
        location: String,
        message: String,
        suggestion: Option<String>,
    },
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("no package named `{name}` in the package tree")]
    UnknownAttr { name: String, suggestion: Option<String> },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<JsonnetError> for EvalError {
    fn from(e: JsonnetError) -> Self {
        match e {
            JsonnetError::Message(m) => EvalError::Jsonnet(m),
            JsonnetError::Cycle { cycle } => EvalError::Cycle { cycle },
            JsonnetError::Io { path, source } => EvalError::Io { path, source },
        }
    }
}

impl Classify for EvalError {
    fn is_user_error(&self) -> bool {
        match self {
            // A file the user named that is not there is their mistake.
            EvalError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::IsADirectory
            ),
            _ => true,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            EvalError::Invalid {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            EvalError::UnknownAttr {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            EvalError::UnknownAttr { .. } => {
                Some("`magpkg list` lists the packages, `magpkg search WORD` finds them".into())
            }
            EvalError::Cycle { .. } => Some("a package cannot depend on itself, directly or through others".into()),
            _ => None,
        }
    }
}

/// The package tree: a local checkout (`--packages`, `MAGPKG_PACKAGES`) or
/// the one embedded in the binary.
fn tree(packages_dir: Option<&Path>) -> Tree {
    match packages_dir {
        Some(d) => Tree::Dir(d.to_path_buf()),
        None => Tree::Embedded,
    }
}

/// The file a package may have in the tree, `by-name/<first two letters of
/// NAME>/NAME.jsonnet` (as Nixpkgs' `pkgs/by-name`): when it exists it is
/// the package NAME, and `packages.jsonnet` imports it as it is.
pub fn by_name_file(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    ok.then(|| {
        let shard: String = name.chars().take(2).collect::<String>().to_ascii_lowercase();
        format!("by-name/{shard}/{name}.jsonnet")
    })
}

/// Evaluate `input` in `session` to a Jsonnet value.
fn input_value(session: &Session, input: &Input) -> Result<jrsonnet_evaluator::Val, EvalError> {
    match input {
        Input::Expr(code) => Ok(session.eval_expr(code)?),
        Input::File(path) => Ok(session.eval_file(path)?),
        Input::Attr(name) => {
            // A tree too big to parse whole for one package keeps each
            // package in a file of its own: by name, only that file and
            // what it imports are read.
            if let Some(rel) = by_name_file(name).filter(|rel| session.tree_has_file(rel)) {
                return Ok(session.eval_tree_file(&rel)?);
            }
            let tree = session.eval_tree_file("packages.jsonnet")?;
            let Some(obj) = tree.as_obj() else {
                return Err(EvalError::Jsonnet(format!(
                    "{TREE_PREFIX}/packages.jsonnet must be an object of packages by name"
                )));
            };
            let names: Vec<String> = obj.fields().into_iter().map(|f| f.to_string()).collect();
            if !names.iter().any(|n| n == name) {
                return Err(EvalError::UnknownAttr {
                    name: name.clone(),
                    suggestion: crate::util::closest(name, names.iter().map(String::as_str)),
                });
            }
            session
                .enter(|| obj.get(name.as_str().into()))
                .map_err(|e| session.error(&e).into())
                .map(|v| v.expect("field listed by fields()"))
        }
    }
}

/// Evaluate an input to a package graph.
///
/// Definitions are walked as Jsonnet values, not JSON: a package reached
/// again through its own dependencies is a cycle (reported by name), and a
/// package shared by many others is resolved once.
pub fn evaluate(input: &Input, packages_dir: Option<&Path>) -> Result<Graph, EvalError> {
    evaluate_in(input, tree(packages_dir))
}

fn evaluate_in(input: &Input, tree: Tree) -> Result<Graph, EvalError> {
    let session = Session::new(tree);
    let top = input_value(&session, input)?;
    let files = || session.log.borrow().clone();
    let mut walker = Walker::<ValNode>::new(&files);
    session.enter(|| {
        let top = ValNode {
            val: top,
            session: &session,
        };
        match input {
            // A name is one package, even if it is an object of them.
            Input::Attr(name) => walker.package(top, name).map(|id| walker.graph.roots.push(id)),
            _ => walker.roots(top),
        }
    })?;
    Ok(walker.graph)
}

/// Every package of the package tree under its name in `packages.jsonnet`
/// (in name order), with the graph they make: what `magpkg list` and
/// `magpkg search` show.
pub fn tree_packages(
    packages_dir: Option<&Path>,
) -> Result<(Graph, Vec<(String, crate::model::PackageId)>), EvalError> {
    let session = Session::new(tree(packages_dir));
    let top = session.eval_tree_file("packages.jsonnet")?;
    let Some(obj) = top.as_obj() else {
        return Err(EvalError::Jsonnet(format!(
            "{TREE_PREFIX}/packages.jsonnet must be an object of packages by name"
        )));
    };
    let files = || session.log.borrow().clone();
    let mut walker = Walker::<ValNode>::new(&files);
    let mut names = Vec::new();
    session.enter(|| {
        let mut fields: Vec<String> = obj.fields().into_iter().map(|f| f.to_string()).collect();
        fields.sort();
        for name in fields {
            let val = obj
                .get(name.as_str().into())
                .map_err(|e| EvalError::from(session.error(&e)))?
                .expect("field listed by fields()");
            let id = walker.package(ValNode { val, session: &session }, &name)?;
            names.push((name, id));
        }
        Ok::<_, EvalError>(())
    })?;
    Ok((walker.graph, names))
}

/// Evaluate an input to plain JSON (manifests use this, then
/// [`graph_from_value`] on their `packages`).
pub fn evaluate_value(input: &Input, packages_dir: Option<&Path>) -> Result<Evaluated, EvalError> {
    evaluate_value_in(input, tree(packages_dir))
}

fn evaluate_value_in(input: &Input, tree: Tree) -> Result<Evaluated, EvalError> {
    let session = Session::new(tree);
    let v = input_value(&session, input)?;
    let value = session.to_json(&v)?;
    Ok(Evaluated {
        value,
        files: session.local_files(),
        named: session.local_names(),
    })
}

/// Resolve package definitions (a package object, a list of them or an
/// object of them) into a graph.
///
/// Locations in error messages are searched in `evaluated.files` (and the
/// embedded tree).
pub fn graph_from_value(value: &serde_json::Value, evaluated: &Evaluated) -> Result<Graph, EvalError> {
    let cwd = std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .unwrap_or_default();
    let files = || graph::read_files(&evaluated.files, &cwd);
    let mut walker = Walker::<JsonNode>::new(&files);
    walker.roots(JsonNode(value))?;
    Ok(walker.graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(code: &str) -> Input {
        Input::Expr(code.to_string())
    }

    const PKGS: &str = r#"
        local leaf = { name: 'leaf', version: '1', build: 'true' };
        local mid = { name: 'mid', version: '2', build: { builtin: 'unpack' }, runDeps: [leaf] };
        { name: 'top', version: '3', build: 'make', buildDeps: [mid, leaf], env: { A: 'b' } }
    "#;

    #[test]
    fn value_walk_and_json_walk_give_the_same_graph() {
        let g = evaluate_in(&expr(PKGS), Tree::Embedded).unwrap();
        let v = evaluate_value_in(&expr(PKGS), Tree::Embedded).unwrap();
        let g2 = graph_from_value(&v.value, &v).unwrap();
        assert_eq!(g, g2);
        assert_eq!(g.packages.len(), 3);
        let top = g.get(&g.roots[0]);
        assert_eq!(top.name, "top");
        assert_eq!(top.build_deps.len(), 2);
        assert_eq!(g.get(&top.build_deps[0]).name, "mid");
        // Dependencies first.
        let order: Vec<&str> = g.build_order(&g.roots).iter().map(|i| g.get(i).name.as_str()).collect();
        assert_eq!(order, ["leaf", "mid", "top"]);
    }

    #[test]
    fn files_lists_local_files_read_not_embedded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        std::fs::write(dir.join("lib.libsonnet"), "{ v: '1' }").unwrap();
        std::fs::write(dir.join("script.sh"), "make").unwrap();
        std::fs::write(
            dir.join("main.jsonnet"),
            "local pkgs = import 'magnet/packages.jsonnet';\n{ name: 'x', version: (import 'lib.libsonnet').v, build: importstr 'script.sh', buildDeps: [pkgs.hello] }",
        )
        .unwrap();
        let v = evaluate_value_in(&Input::File(dir.join("main.jsonnet")), Tree::Embedded).unwrap();
        assert_eq!(
            v.files,
            vec![
                dir.join("lib.libsonnet"),
                dir.join("main.jsonnet"),
                dir.join("script.sh")
            ]
        );
        assert_eq!(v.value["build"], "make");
        assert_eq!(v.value["buildDeps"][0]["name"], "hello");
    }

    #[test]
    fn json_walk_reports_unknown_fields_with_suggestion() {
        let v = serde_json::json!({ "name": "x", "version": "1", "build": "b", "runDep": [] });
        let ev = Evaluated {
            value: v.clone(),
            files: vec![],
            named: vec![],
        };
        match graph_from_value(&v, &ev) {
            Err(e @ EvalError::Invalid { .. }) => {
                assert!(e.to_string().contains("unknown field `runDep` in package `x`"), "{e}");
                assert_eq!(e.hint().as_deref(), Some("did you mean `runDeps`?"));
            }
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn plain_file_has_no_package_tree() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.jsonnet");
        std::fs::write(&f, "{ jobs: 1 + 1, mirrors: { gnu: ['http://127.0.0.1:1/gnu'] } }").unwrap();
        let v = crate::jsonnet::evaluate_plain_file(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "jobs": 2, "mirrors": { "gnu": ["http://127.0.0.1:1/gnu"] } })
        );
        std::fs::write(&f, "import 'magnet/packages.jsonnet'").unwrap();
        assert!(crate::jsonnet::evaluate_plain_file(&f).is_err());
    }
}
