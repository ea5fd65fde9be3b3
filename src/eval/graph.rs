//! Package definitions → [`Graph`]: validation of every field, dependency
//! resolution (deps replaced by ids), cycle detection.
//!
//! The walk is generic over [`Node`] so the same rules apply to Jsonnet
//! values ([`ValNode`], walked lazily: a package that reaches itself through
//! its dependencies is seen as the same object again, a cycle, before
//! anything is manifested) and to plain JSON (manifests, [`JsonNode`]).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::path::PathBuf;

use jrsonnet_evaluator::{ObjValue, Val};

use super::EvalError;
use crate::jsonnet::locate::{self, Kind, Query};
use crate::jsonnet::{num_to_json, LoadedFile, Session};
use crate::model::{Build, Graph, Meta, Package, PackageId, Source};

/// The fields a package definition may have.
pub const PACKAGE_FIELDS: &[&str] = &[
    "name",
    "version",
    "sources",
    "build",
    "buildDeps",
    "runDeps",
    "env",
    "meta",
    "oci",
];
/// The fields of one entry of `sources`.
pub const SOURCE_FIELDS: &[&str] = &["filename", "sha256", "urls"];
/// The fields of `meta`.
pub const META_FIELDS: &[&str] = &["description", "license", "homepage"];

/// Longest dependency chain followed (real ones are a few dozen deep).
/// Chains of distinct objects this long come from a function that builds a
/// new package on every call and depends on its own result: a cycle that
/// object identity cannot see.
const MAX_CHAIN: usize = 1000;

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Null => "null",
        Kind::Bool => "a boolean",
        Kind::Number => "a number",
        Kind::String => "a string",
        Kind::Array => "a list",
        Kind::Object => "an object",
        Kind::Function => "a function",
    }
}

/// A value the walk can look into: a Jsonnet value or plain JSON.
pub trait Node: Sized {
    /// Identity of an object value, to recognise the same package again.
    type Id: Eq + Hash + Clone;
    fn identity(&self) -> Option<Self::Id>;
    fn kind(&self) -> Kind;
    /// Visible fields of an object, sorted.
    fn fields(&self) -> Vec<String>;
    fn get(&self, field: &str) -> Result<Option<Self>, EvalError>;
    /// Elements of a list.
    fn elements(&self) -> Result<Vec<Self>, EvalError>;
    /// The whole value as JSON.
    fn json(&self) -> Result<serde_json::Value, EvalError>;
}

/// A Jsonnet value (its state must be entered while walking).
pub struct ValNode<'c> {
    pub val: Val,
    pub session: &'c Session,
}

impl ValNode<'_> {
    fn err(&self, e: jrsonnet_evaluator::Error) -> EvalError {
        self.session.error(&e).into()
    }
}

impl Node for ValNode<'_> {
    type Id = ObjValue;
    fn identity(&self) -> Option<ObjValue> {
        self.val.as_obj()
    }
    fn kind(&self) -> Kind {
        match &self.val {
            Val::Null => Kind::Null,
            Val::Bool(_) => Kind::Bool,
            Val::Str(_) => Kind::String,
            Val::Num(_) => Kind::Number,
            Val::Arr(_) => Kind::Array,
            Val::Obj(_) => Kind::Object,
            Val::Func(_) => Kind::Function,
            #[allow(unreachable_patterns)]
            _ => Kind::Number,
        }
    }
    fn fields(&self) -> Vec<String> {
        match &self.val {
            Val::Obj(o) => o.fields().into_iter().map(|f| f.to_string()).collect(),
            _ => Vec::new(),
        }
    }
    fn get(&self, field: &str) -> Result<Option<Self>, EvalError> {
        let Val::Obj(o) = &self.val else { return Ok(None) };
        // Hidden fields are parameters, not part of the definition.
        if !o.has_field(field.into()) {
            return Ok(None);
        }
        let v = o.get(field.into()).map_err(|e| self.err(e))?;
        Ok(v.map(|val| ValNode {
            val,
            session: self.session,
        }))
    }
    fn elements(&self) -> Result<Vec<Self>, EvalError> {
        let Val::Arr(a) = &self.val else { return Ok(Vec::new()) };
        a.iter()
            .map(|v| {
                v.map(|val| ValNode {
                    val,
                    session: self.session,
                })
                .map_err(|e| self.err(e))
            })
            .collect()
    }
    fn json(&self) -> Result<serde_json::Value, EvalError> {
        // Scalars are common (name, version): skip the general path.
        match &self.val {
            Val::Str(s) => Ok(serde_json::Value::String(s.to_string())),
            Val::Num(n) => Ok(num_to_json(n.get())),
            _ => Ok(crate::jsonnet::val_to_json(&self.val, self.session)?),
        }
    }
}

/// Plain JSON.
#[derive(Clone, Copy)]
pub struct JsonNode<'a>(pub &'a serde_json::Value);

impl Node for JsonNode<'_> {
    // JSON has no shared values and no cycles: every node is new.
    type Id = ();
    fn identity(&self) -> Option<()> {
        None
    }
    fn kind(&self) -> Kind {
        Kind::of_json(self.0)
    }
    fn fields(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }
    fn get(&self, field: &str) -> Result<Option<Self>, EvalError> {
        Ok(self.0.get(field).map(JsonNode))
    }
    fn elements(&self) -> Result<Vec<Self>, EvalError> {
        Ok(self
            .0
            .as_array()
            .map(|a| a.iter().map(JsonNode).collect())
            .unwrap_or_default())
    }
    fn json(&self) -> Result<serde_json::Value, EvalError> {
        Ok(self.0.clone())
    }
}

/// Resolves definitions into a graph.
pub struct Walker<'f, N: Node> {
    /// The files to search for locations (only asked for on errors).
    files: &'f dyn Fn() -> Vec<LoadedFile>,
    memo: HashMap<N::Id, PackageId>,
    /// Packages being resolved (outermost first), to name cycles.
    stack: Vec<(Option<N::Id>, String)>,
    /// The roots so far, to keep them unique without a linear search (an
    /// object of 100,000 packages has 100,000 roots).
    root_set: std::collections::HashSet<PackageId>,
    pub graph: Graph,
}

/// Details of a definition error before it gets a location.
/// What [`Walker::enter`] found.
enum Entered<K> {
    /// A package walked before: its id.
    Known(PackageId),
    /// A new one, with its identity (to memoise its id).
    New(Option<K>),
}

struct Problem<'a> {
    /// Field to locate in the source.
    field: &'a str,
    package: Option<&'a str>,
    kind: Option<Kind>,
    sibling: Option<(&'a str, &'a str)>,
    message: String,
    suggestion: Option<String>,
    /// Where in the input, when the source cannot tell (`hello.buildDeps[0]`).
    path: &'a str,
}

impl<'a> Problem<'a> {
    /// `here(field, kind, message)`: a problem with a field of package
    /// `pkg`, at `path` in the input.
    fn in_package(pkg: &'a str, path: &'a str) -> impl Fn(&'a str, Option<Kind>, String) -> Problem<'a> {
        move |field, kind, message| Problem {
            field,
            package: Some(pkg),
            kind,
            sibling: None,
            message,
            suggestion: None,
            path,
        }
    }
}

impl<'f, N: Node> Walker<'f, N> {
    pub fn new(files: &'f dyn Fn() -> Vec<LoadedFile>) -> Self {
        Walker {
            files,
            memo: HashMap::new(),
            stack: Vec::new(),
            root_set: Default::default(),
            graph: Graph::default(),
        }
    }

    fn invalid(&self, p: Problem<'_>) -> EvalError {
        let files = (self.files)();
        let found = locate::find(
            &files,
            &Query {
                field: p.field,
                package: p.package,
                kind: p.kind,
                sibling: p.sibling,
            },
        );
        match found {
            Some(f) => EvalError::Invalid {
                location: f.location,
                message: format!("{}\n{}", p.message, f.snippet),
                suggestion: p.suggestion,
            },
            None => EvalError::Invalid {
                location: if p.path.is_empty() {
                    "input".to_string()
                } else {
                    format!("`{}`", p.path)
                },
                message: p.message,
                suggestion: p.suggestion,
            },
        }
    }

    /// An evaluation error in field `field` of a package: jrsonnet gives
    /// some errors (type mismatches) no location, so point at the field's
    /// definition then; and say which package was being read.
    fn field_context(&self, msg: String, field: &str, pkg: Option<&str>, path: &str) -> String {
        let mut msg = msg;
        if !has_location(&msg) {
            let files = (self.files)();
            let q = Query {
                field,
                package: pkg,
                kind: None,
                sibling: None,
            };
            if let Some(f) = locate::find(&files, &q) {
                let (first, rest) = match msg.split_once('\n') {
                    Some((a, b)) => (a.to_string(), format!("\n{b}")),
                    None => (msg.clone(), String::new()),
                };
                msg = format!("{}: {first}\n{}{rest}", f.location, f.snippet);
            }
        }
        match (pkg, path.is_empty()) {
            (Some(p), _) => format!("{msg}\n  while evaluating field `{field}` of package `{p}`"),
            (None, true) => format!("{msg}\n  while evaluating field `{field}` of the input"),
            (None, false) => format!("{msg}\n  while evaluating field `{field}` of `{path}`"),
        }
    }

    fn add_root(&mut self, id: PackageId) {
        if self.root_set.insert(id.clone()) {
            self.graph.roots.push(id);
        }
    }

    /// The input's value: one package, a list or an object of packages.
    pub fn roots(&mut self, top: N) -> Result<(), EvalError> {
        match top.kind() {
            Kind::Object => {
                // A package has a string `name`; an object of packages has
                // objects everywhere. A string `version` or `build` without
                // a name is a package that forgot its name.
                let is_package = match top.get("name")? {
                    Some(n) => n.kind() == Kind::String,
                    None => ["version", "build"]
                        .iter()
                        .map(|f| top.get(f))
                        .collect::<Result<Vec<_>, _>>()?
                        .iter()
                        .any(|v| v.as_ref().is_some_and(|v| v.kind() == Kind::String)),
                };
                if is_package {
                    let id = self.package(top, "")?;
                    self.add_root(id);
                } else {
                    for f in top.fields() {
                        let v = top.get(&f)?.expect("listed field exists");
                        let id = self.package(v, &f)?;
                        self.add_root(id);
                    }
                }
            }
            Kind::Array => {
                for (i, v) in top.elements()?.into_iter().enumerate() {
                    let id = self.package(v, &format!("[{i}]"))?;
                    self.add_root(id);
                }
            }
            k => {
                return Err(self.invalid(Problem {
                    field: "",
                    package: None,
                    kind: None,
                    sibling: None,
                    message: format!(
                        "the input is {}; expected a package definition, a list of them or an object of them",
                        kind_name(k)
                    ),
                    suggestion: None,
                    path: "",
                }))
            }
        }
        Ok(())
    }

    fn cycle_error(&self, from: usize) -> EvalError {
        let mut cycle: Vec<String> = self.stack[from..].iter().map(|(_, n)| n.clone()).collect();
        cycle.push(self.stack[from].1.clone());
        EvalError::Cycle { cycle }
    }

    /// Resolve one package definition (and its dependencies) into the graph.
    pub fn package(&mut self, node: N, path: &str) -> Result<PackageId, EvalError> {
        let key = match self.enter(&node, path)? {
            Entered::Known(id) => return Ok(id),
            Entered::New(key) => key,
        };
        let fields = node.fields();
        // The package's name once known, for messages about other fields.
        let known_name: std::cell::RefCell<Option<String>> = Default::default();
        let json_field = |name: &str| -> Result<Option<serde_json::Value>, EvalError> {
            match node.get(name).and_then(|v| v.map(|v| v.json()).transpose()) {
                Ok(v) => Ok(v),
                Err(EvalError::Jsonnet(msg)) => {
                    let pkg = known_name.borrow().clone();
                    Err(EvalError::Jsonnet(self.field_context(msg, name, pkg.as_deref(), path)))
                }
                Err(e) => Err(e),
            }
        };

        // The name first: every later message names the package.
        let name = self.name(json_field("name")?, &fields, path)?;
        *known_name.borrow_mut() = Some(name.clone());
        let pkg = name.as_str();
        self.known_fields(&fields, pkg, path)?;
        let version = self.version(json_field("version")?, pkg, path)?;
        let sources = match json_field("sources")? {
            None => Vec::new(),
            Some(v) => self.sources(&v, pkg, path)?,
        };
        let build = self.build(json_field("build")?, pkg, path)?;
        let env = self.env(json_field("env")?, pkg, path)?;
        let meta = self.meta(json_field("meta")?, pkg, path)?;
        let oci = self.oci(json_field("oci")?, pkg, path)?;
        // Dependencies last, with this package on the stack.
        self.stack.push((key.clone(), name.clone()));
        let build_deps = self.deps(&node, "buildDeps", pkg, path);
        let build_deps = build_deps.and_then(|b| Ok((b, self.deps(&node, "runDeps", pkg, path)?)));
        self.stack.pop();
        let (build_deps, run_deps) = build_deps?;

        let mut p = Package {
            id: PackageId::from_string(String::new()),
            name,
            version,
            sources,
            build,
            build_deps,
            run_deps,
            env,
            meta,
            oci,
        };
        let id = crate::hash::package_id(&p);
        p.id = id.clone();
        self.graph.packages.entry(id.clone()).or_insert(p);
        if let Some(k) = key {
            self.memo.insert(k, id.clone());
        }
        Ok(id)
    }

    /// Check that `node` is an object and not a package being walked (a
    /// cycle) or a chain too long; a package seen before is known by id.
    fn enter(&self, node: &N, path: &str) -> Result<Entered<N::Id>, EvalError> {
        let kind = node.kind();
        if kind != Kind::Object {
            return Err(self.invalid(Problem {
                field: "",
                package: None,
                kind: None,
                sibling: None,
                message: format!("expected a package definition (an object), found {}", kind_name(kind)),
                suggestion: None,
                path,
            }));
        }
        let key = node.identity();
        if let Some(k) = &key {
            if let Some(id) = self.memo.get(k) {
                return Ok(Entered::Known(id.clone()));
            }
            if let Some(pos) = self.stack.iter().position(|(s, _)| s.as_ref() == Some(k)) {
                return Err(self.cycle_error(pos));
            }
        }
        if self.stack.len() >= MAX_CHAIN {
            // Name the repetition if there is one.
            for i in 0..self.stack.len() {
                if self.stack[i + 1..].iter().any(|(_, n)| *n == self.stack[i].1) {
                    let j = i
                        + 1
                        + self.stack[i + 1..]
                            .iter()
                            .position(|(_, n)| *n == self.stack[i].1)
                            .unwrap();
                    let cycle = self.stack[i..=j].iter().map(|(_, n)| n.clone()).collect();
                    return Err(EvalError::Cycle { cycle });
                }
            }
            return Err(EvalError::Jsonnet(format!(
                "dependency chain longer than {MAX_CHAIN} packages at `{path}`"
            )));
        }
        Ok(Entered::New(key))
    }

    fn name(&self, value: Option<serde_json::Value>, fields: &[String], path: &str) -> Result<String, EvalError> {
        let name = match value {
            Some(serde_json::Value::String(s)) => s,
            Some(v) => {
                return Err(self.invalid(Problem {
                    field: "name",
                    package: None,
                    kind: Some(Kind::of_json(&v)),
                    sibling: None,
                    message: format!("`name` must be a string, found {}", kind_name(Kind::of_json(&v))),
                    suggestion: None,
                    path,
                }))
            }
            None => {
                return Err(self.invalid(Problem {
                    field: "version",
                    package: None,
                    kind: None,
                    sibling: None,
                    message: format!(
                        "package definition without a `name` (fields: {})",
                        if fields.is_empty() {
                            "none".to_string()
                        } else {
                            fields.join(", ")
                        }
                    ),
                    suggestion: None,
                    path,
                }))
            }
        };
        if let Err(problem) = check_name(&name) {
            let here = Problem::in_package(&name, path);
            return Err(self.invalid(here(
                "name",
                Some(Kind::String),
                format!("package name `{name}` {problem}"),
            )));
        }
        Ok(name)
    }

    fn known_fields(&self, fields: &[String], pkg: &str, path: &str) -> Result<(), EvalError> {
        let name = pkg;
        for f in fields {
            if !PACKAGE_FIELDS.contains(&f.as_str()) {
                let message = format!("unknown field `{f}` in package `{name}`");
                let suggestion = crate::util::closest(f, PACKAGE_FIELDS.iter().copied());
                return Err(self.invalid(Problem {
                    field: f,
                    package: Some(pkg),
                    kind: None,
                    sibling: None,
                    message,
                    suggestion,
                    path,
                }));
            }
        }
        Ok(())
    }

    fn version(&self, value: Option<serde_json::Value>, pkg: &str, path: &str) -> Result<String, EvalError> {
        let name = pkg;
        let here = Problem::in_package(pkg, path);
        let version = match value {
            Some(serde_json::Value::String(s)) => s,
            Some(v) => {
                let k = Kind::of_json(&v);
                return Err(self.invalid(here(
                    "version",
                    Some(k),
                    format!(
                        "`version` of package `{name}` must be a string, found {}{}",
                        kind_name(k),
                        if k == Kind::Number { " (write it in quotes)" } else { "" }
                    ),
                )));
            }
            None => return Err(self.invalid(here("name", None, format!("package `{name}` has no `version`")))),
        };
        if let Err(problem) = check_version(&version) {
            return Err(self.invalid(here(
                "version",
                Some(Kind::String),
                format!("version `{version}` of package `{name}` {problem}"),
            )));
        }
        Ok(version)
    }

    fn build(&self, value: Option<serde_json::Value>, pkg: &str, path: &str) -> Result<Build, EvalError> {
        let name = pkg;
        let here = Problem::in_package(pkg, path);
        Ok(match value {
            Some(serde_json::Value::String(s)) => Build::Script(s),
            Some(serde_json::Value::Object(m)) => match m.get("builtin") {
                Some(serde_json::Value::String(b)) if !b.is_empty() => Build::Builtin(m.into_iter().collect()),
                _ => {
                    return Err(self.invalid(here(
                        "build",
                        Some(Kind::Object),
                        format!("`build` of package `{name}` is an object without a `builtin` name (a string)"),
                    )))
                }
            },
            Some(v) => {
                let k = Kind::of_json(&v);
                return Err(self.invalid(here(
                    "build",
                    Some(k),
                    format!(
                        "`build` of package `{name}` must be a shell script (a string) or {{builtin: NAME, ...}}, found {}",
                        kind_name(k)
                    ),
                )));
            }
            None => return Err(self.invalid(here("name", None, format!("package `{name}` has no `build`")))),
        })
    }

    fn env(
        &self,
        value: Option<serde_json::Value>,
        pkg: &str,
        path: &str,
    ) -> Result<BTreeMap<String, String>, EvalError> {
        let name = pkg;
        let here = Problem::in_package(pkg, path);
        Ok(match value {
            None => BTreeMap::new(),
            Some(serde_json::Value::Object(m)) => {
                let mut env = BTreeMap::new();
                for (k, v) in m {
                    if !is_var_name(&k) {
                        return Err(self.invalid(here(
                            "env",
                            Some(Kind::Object),
                            format!("`env` of package `{name}`: `{k}` is not a valid variable name"),
                        )));
                    }
                    match v {
                        serde_json::Value::String(s) => {
                            env.insert(k, s);
                        }
                        other => {
                            return Err(self.invalid(here(
                                "env",
                                Some(Kind::Object),
                                format!(
                                    "`env.{k}` of package `{name}` must be a string, found {}",
                                    kind_name(Kind::of_json(&other))
                                ),
                            )))
                        }
                    }
                }
                env
            }
            Some(v) => {
                let k = Kind::of_json(&v);
                return Err(self.invalid(here(
                    "env",
                    Some(k),
                    format!(
                        "`env` of package `{name}` must be an object of strings, found {}",
                        kind_name(k)
                    ),
                )));
            }
        })
    }

    fn meta(&self, value: Option<serde_json::Value>, pkg: &str, path: &str) -> Result<Meta, EvalError> {
        let name = pkg;
        let here = Problem::in_package(pkg, path);
        Ok(match value {
            None => Meta::default(),
            Some(serde_json::Value::Object(m)) => {
                let mut meta = Meta::default();
                for (k, v) in m {
                    let slot = match k.as_str() {
                        "description" => &mut meta.description,
                        "license" => &mut meta.license,
                        "homepage" => &mut meta.homepage,
                        _ => {
                            let suggestion = crate::util::closest(&k, META_FIELDS.iter().copied());
                            let message = format!("unknown field `meta.{k}` in package `{name}`");
                            return Err(self.invalid(Problem {
                                field: &k,
                                package: None,
                                kind: None,
                                sibling: None,
                                message,
                                suggestion,
                                path,
                            }));
                        }
                    };
                    match v {
                        serde_json::Value::String(s) => *slot = Some(s),
                        serde_json::Value::Null => {}
                        other => {
                            let kind = Kind::of_json(&other);
                            let message = format!(
                                "`meta.{k}` of package `{name}` must be a string, found {}",
                                kind_name(kind)
                            );
                            return Err(self.invalid(Problem {
                                field: &k,
                                package: None,
                                kind: Some(kind),
                                sibling: None,
                                message,
                                suggestion: None,
                                path,
                            }));
                        }
                    }
                }
                meta
            }
            Some(v) => {
                let k = Kind::of_json(&v);
                return Err(self.invalid(here(
                    "meta",
                    Some(k),
                    format!("`meta` of package `{name}` must be an object, found {}", kind_name(k)),
                )));
            }
        })
    }

    fn oci(
        &self,
        value: Option<serde_json::Value>,
        pkg: &str,
        path: &str,
    ) -> Result<Option<serde_json::Value>, EvalError> {
        let name = pkg;
        let here = Problem::in_package(pkg, path);
        Ok(match value {
            None | Some(serde_json::Value::Null) => None,
            Some(v @ serde_json::Value::Object(_)) => Some(v),
            Some(v) => {
                let k = Kind::of_json(&v);
                return Err(self.invalid(here(
                    "oci",
                    Some(k),
                    format!("`oci` of package `{name}` must be an object, found {}", kind_name(k)),
                )));
            }
        })
    }

    fn deps(&mut self, node: &N, field: &'static str, pkg: &str, path: &str) -> Result<Vec<PackageId>, EvalError> {
        let Some(list) = node.get(field)? else {
            return Ok(Vec::new());
        };
        let k = list.kind();
        if k != Kind::Array {
            return Err(self.invalid(Problem {
                field,
                package: Some(pkg),
                kind: Some(k),
                sibling: None,
                message: format!(
                    "`{field}` of package `{pkg}` must be a list of package definitions, found {}",
                    kind_name(k)
                ),
                suggestion: None,
                path,
            }));
        }
        let mut ids = Vec::new();
        let base = if path.is_empty() {
            pkg.to_string()
        } else {
            path.to_string()
        };
        for (i, d) in list.elements()?.into_iter().enumerate() {
            let path = format!("{base}.{field}[{i}]");
            // Long dependency chains recurse deeply: grow the stack as needed.
            ids.push(jrsonnet_evaluator::ensure_sufficient_stack(|| self.package(d, &path))?);
        }
        Ok(ids)
    }

    fn sources(&self, v: &serde_json::Value, pkg: &str, path: &str) -> Result<Vec<Source>, EvalError> {
        let problem =
            |field: &'static str, kind: Option<Kind>, sibling: Option<(&'static str, &str)>, message: String| {
                self.invalid(Problem {
                    field,
                    package: if sibling.is_some() { None } else { Some(pkg) },
                    kind,
                    sibling,
                    message,
                    suggestion: None,
                    path,
                })
            };
        let Some(list) = v.as_array() else {
            let k = Kind::of_json(v);
            return Err(problem(
                "sources",
                Some(k),
                None,
                format!("`sources` of package `{pkg}` must be a list, found {}", kind_name(k)),
            ));
        };
        let mut out: Vec<Source> = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let Some(m) = s.as_object() else {
                return Err(problem(
                    "sources",
                    Some(Kind::Array),
                    None,
                    format!(
                        "`sources[{i}]` of package `{pkg}` must be an object {{filename, sha256, urls}}, found {}",
                        kind_name(Kind::of_json(s))
                    ),
                ));
            };
            let filename = match m.get("filename") {
                Some(serde_json::Value::String(f)) => f.clone(),
                Some(other) => {
                    let k = Kind::of_json(other);
                    return Err(problem(
                        "filename",
                        Some(k),
                        None,
                        format!(
                            "`sources[{i}].filename` of package `{pkg}` must be a string, found {}",
                            kind_name(k)
                        ),
                    ));
                }
                None => {
                    return Err(problem(
                        "sources",
                        None,
                        None,
                        format!("`sources[{i}]` of package `{pkg}` has no `filename`"),
                    ))
                }
            };
            let sib = Some(("filename", filename.as_str()));
            for k in m.keys() {
                if !SOURCE_FIELDS.contains(&k.as_str()) {
                    let suggestion = crate::util::closest(k, SOURCE_FIELDS.iter().copied());
                    return Err(self.invalid(Problem {
                        field: k,
                        package: None,
                        kind: None,
                        sibling: sib,
                        message: format!("unknown field `{k}` in source `{filename}` of package `{pkg}`"),
                        suggestion,
                        path,
                    }));
                }
            }
            if let Err(why) = check_filename(&filename) {
                return Err(problem(
                    "filename",
                    Some(Kind::String),
                    sib,
                    format!("source file name `{filename}` of package `{pkg}` {why}"),
                ));
            }
            if out.iter().any(|o| o.filename == filename) {
                return Err(problem(
                    "filename",
                    Some(Kind::String),
                    sib,
                    format!("package `{pkg}` has two sources named `{filename}`"),
                ));
            }
            let sha256 = match m.get("sha256") {
                Some(serde_json::Value::String(h)) if is_sha256(h) => h.clone(),
                Some(serde_json::Value::String(h)) => {
                    return Err(problem(
                        "sha256",
                        Some(Kind::String),
                        sib,
                        format!(
                            "`sha256` of source `{filename}` (package `{pkg}`) must be 64 lowercase hex digits, found `{h}` ({} characters)",
                            h.chars().count()
                        ),
                    ))
                }
                Some(other) => {
                    let k = Kind::of_json(other);
                    return Err(problem(
                        "sha256",
                        Some(k),
                        sib,
                        format!("`sha256` of source `{filename}` (package `{pkg}`) must be a string, found {}", kind_name(k)),
                    ));
                }
                None => {
                    return Err(problem(
                        "filename",
                        None,
                        sib,
                        format!("source `{filename}` of package `{pkg}` has no `sha256`"),
                    ))
                }
            };
            let urls = match m.get("urls") {
                None => Vec::new(),
                Some(serde_json::Value::Array(a)) => {
                    let mut urls = Vec::new();
                    for u in a {
                        let Some(u) = u.as_str() else {
                            return Err(problem(
                                "urls",
                                Some(Kind::Array),
                                sib,
                                format!("`urls` of source `{filename}` (package `{pkg}`) must be a list of strings"),
                            ));
                        };
                        if let Err(why) = check_url(u) {
                            return Err(problem(
                                "urls",
                                Some(Kind::Array),
                                sib,
                                format!("URL `{u}` of source `{filename}` (package `{pkg}`) {why}"),
                            ));
                        }
                        urls.push(u.to_string());
                    }
                    urls
                }
                Some(other) => {
                    let k = Kind::of_json(other);
                    return Err(problem(
                        "urls",
                        Some(k),
                        sib,
                        format!(
                            "`urls` of source `{filename}` (package `{pkg}`) must be a list of strings, found {}",
                            kind_name(k)
                        ),
                    ));
                }
            };
            out.push(Source { filename, sha256, urls });
        }
        Ok(out)
    }
}

/// Does a message start with `file:line:col: `?
fn has_location(msg: &str) -> bool {
    let first = msg.lines().next().unwrap_or("");
    let Some((prefix, _)) = first.split_once(": ") else {
        return false;
    };
    let mut parts = prefix.rsplitn(3, ':');
    let col = parts.next().unwrap_or("");
    let line = parts.next().unwrap_or("");
    let file = parts.next().unwrap_or("");
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    !file.is_empty() && digits(line) && digits(col)
}

fn check_name(n: &str) -> Result<(), &'static str> {
    if n.is_empty() {
        return Err("is empty");
    }
    if n.starts_with(['.', '-']) {
        return Err("must not start with `.` or `-`");
    }
    if !n.chars().all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c)) {
        return Err("may only hold letters, digits and `+-._` (it is part of store paths)");
    }
    Ok(())
}

fn check_version(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("is empty");
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || "+-._~:".contains(c)) {
        return Err("may only hold letters, digits and `+-._~:`");
    }
    Ok(())
}

fn check_filename(f: &str) -> Result<(), &'static str> {
    if f.is_empty() || f == "." || f == ".." {
        return Err("is not a file name");
    }
    if f.contains('/') {
        return Err("must be a plain file name, without `/`");
    }
    if f.contains('\0') || f.chars().any(char::is_control) {
        return Err("must not hold control characters");
    }
    Ok(())
}

fn is_sha256(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_var_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The URL forms `fetch` understands.
fn check_url(u: &str) -> Result<(), &'static str> {
    if let Some(rest) = u.strip_prefix("mirror://") {
        return match rest.split_once('/') {
            Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok(()),
            _ => Err("must be mirror://NAME/PATH"),
        };
    }
    if u.starts_with("https://")
        || u.starts_with("http://")
        || u.starts_with("magnet:?")
        || u.starts_with("file://")
        || u.ends_with(".torrent")
    {
        return Ok(());
    }
    Err("has an unknown form; use https://, http://, mirror://NAME/PATH, magnet:?..., file:// or a .torrent")
}

/// Read local files for locations (graph_from_value has only paths).
pub fn read_files(paths: &[PathBuf], cwd: &std::path::Path) -> Vec<LoadedFile> {
    let mut out: Vec<LoadedFile> = paths
        .iter()
        .filter_map(|p| {
            let code = std::fs::read_to_string(p).ok()?;
            Some(LoadedFile {
                display: crate::jsonnet::display_path(p, cwd),
                path: Some(p.clone()),
                code: code.into(),
            })
        })
        .collect();
    out.extend(crate::jsonnet::embedded_files().map(|(display, c)| LoadedFile {
        display,
        path: None,
        code: String::from_utf8_lossy(c).into(),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        assert!(check_url("https://example.org/a.tar.gz").is_ok());
        assert!(check_url("mirror://debian/pool/main/h/hello/x.tar.gz").is_ok());
        assert!(check_url("magnet:?xt=urn:btih:abc").is_ok());
        assert!(check_url("file:///tmp/x").is_ok());
        assert!(check_url("seed/x.torrent").is_ok());
        assert!(check_url("mirror://debian").is_err());
        assert!(check_url("ftp://x/y").is_err());
    }

    #[test]
    fn location_prefix() {
        assert!(has_location("a/b.jsonnet:3:17: syntax error"));
        assert!(has_location("<expr>:1:5: boom\n  |"));
        assert!(!has_location("type mismatch: expected boolean"));
        assert!(!has_location("no such field: foo"));
    }

    #[test]
    fn names_and_versions() {
        assert!(check_name("gcc-12").is_ok());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
        assert!(check_version("1:2.3~rc1+dfsg-1").is_ok());
        assert!(check_version("1 2").is_err());
        assert!(check_filename("x.tar.gz").is_ok());
        assert!(check_filename("../x").is_err());
        assert!(is_var_name("PKG_CONFIG_PATH") && !is_var_name("1A") && !is_var_name("A-B"));
    }
}
