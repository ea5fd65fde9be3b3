//! Jsonnet, shared by every reader of Jsonnet files: a jrsonnet [`State`]
//! with the standard library and magpkg's import resolver, the package tree
//! embedded in the binary, turning values into JSON, readable error messages
//! and (in [`locate`]) finding where a field is written, for `file:line`.
//!
//! A leaf below `settings` and `eval`: the config file is plain Jsonnet
//! ([`evaluate_plain_file`]) and must not need the package evaluator.

use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{AsPathLike, ImportResolver, ObjValue, Span, State, Val};
use jrsonnet_ir::{SourceFile, SourcePath, SourceVirtual};

pub mod limits;
pub mod locate;
pub mod typed;

/// A Jsonnet file or value that could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum JsonnetError {
    /// An evaluation error, already rendered with its location and snippet.
    #[error("{0}")]
    Message(String),
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl JsonnetError {
    /// A file the user named that is not there is their mistake; other I/O
    /// errors are the machine's.
    pub fn is_user_error(&self) -> bool {
        match self {
            JsonnetError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::IsADirectory
            ),
            _ => true,
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/embedded_packages.rs"));

/// Prefix of imports that name the package tree.
pub const TREE_PREFIX: &str = "magnet";

/// The name `-e` expressions get in messages (`<expr>:1:5`).
pub const EXPR_NAME: &str = "<expr>";

/// Contents of a file of the embedded tree (`rel` relative to `packages/`).
pub fn embedded_file(rel: &str) -> Option<&'static [u8]> {
    EMBEDDED_PACKAGES.iter().find(|(p, _)| *p == rel).map(|(_, c)| *c)
}

/// Every file of the embedded tree, as (`magnet/...` name, contents).
pub fn embedded_files() -> impl Iterator<Item = (String, &'static [u8])> {
    EMBEDDED_PACKAGES
        .iter()
        .map(|(p, c)| (format!("{TREE_PREFIX}/{p}"), *c))
}

/// A file the evaluation loaded.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// How messages name it: a path relative to the current directory when
    /// below it, `magnet/...` for the embedded tree, `<expr>` for `-e`.
    pub display: String,
    /// The local file, `None` for embedded files and expressions.
    pub path: Option<PathBuf>,
    pub code: Rc<str>,
}

/// Every file loaded so far, in load order (shared by the resolver and the
/// session).
pub type LoadLog = Rc<RefCell<Vec<LoadedFile>>>;

/// Every local path an import (or the input) named, before symbolic links
/// are resolved: the directory it is relative to (itself canonical) joined
/// with the name as written. What trust and watching follow, link by link.
pub type NameLog = Rc<RefCell<Vec<PathBuf>>>;

/// Where `import "magnet/..."` goes.
#[derive(Debug, Clone)]
pub enum Tree {
    Embedded,
    Dir(PathBuf),
    /// No package tree (the config file): `magnet/...` is an ordinary path.
    None,
}

struct Resolver {
    tree: Tree,
    cwd: PathBuf,
    log: LoadLog,
    names: NameLog,
}

// The resolver holds no garbage-collected values, so it needs no tracing
// and cannot be part of a reference cycle.
impl jrsonnet_gcmodule::Trace for Resolver {
    fn is_type_tracked() -> bool {
        false
    }
}
// SAFETY: no field holds a `Cc`, so there is nothing a cycle could go through.
unsafe impl jrsonnet_gcmodule::Acyclic for Resolver {}

fn runtime_error(msg: String) -> jrsonnet_evaluator::Error {
    ErrorKind::RuntimeError(msg.into()).into()
}

/// `a/./b/../c` → `a/c`; `None` if it climbs above its start.
fn normalize_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Resolver {
    /// `rel` inside the package tree (relative to its root).
    fn resolve_tree(&self, rel: &Path, asked: &Path) -> jrsonnet_evaluator::Result<SourcePath> {
        let norm = normalize_relative(rel)
            .ok_or_else(|| runtime_error(format!("import \"{}\" leaves the package tree", asked.display())))?;
        match &self.tree {
            Tree::Embedded => {
                let name = norm.to_string_lossy().into_owned();
                if embedded_file(&name).is_none() {
                    return Err(runtime_error(format!(
                        "import \"{}\": no file `{name}` in the package tree embedded in magpkg",
                        asked.display()
                    )));
                }
                Ok(SourcePath::new(SourceVirtual(format!("{TREE_PREFIX}/{name}").into())))
            }
            Tree::Dir(dir) => {
                let full = dir.join(&norm);
                self.names.borrow_mut().push(full.clone());
                if !full.is_file() {
                    return Err(runtime_error(format!(
                        "import \"{}\": no file {} in the package tree {}",
                        asked.display(),
                        full.display(),
                        dir.display()
                    )));
                }
                local_source(&full)
            }
            Tree::None => unreachable!("no tree imports without a tree"),
        }
    }
}

fn local_source(path: &Path) -> jrsonnet_evaluator::Result<SourcePath> {
    let canon = path
        .canonicalize()
        .map_err(|e| runtime_error(format!("cannot read {}: {e}", path.display())))?;
    Ok(SourcePath::new(SourceFile::new(canon)))
}

impl ImportResolver for Resolver {
    fn resolve_from(&self, from: &SourcePath, path: &dyn AsPathLike) -> jrsonnet_evaluator::Result<SourcePath> {
        let asked = path.as_path();
        let asked: &Path = asked.as_ref();
        if !matches!(self.tree, Tree::None) {
            if let Ok(rest) = asked.strip_prefix(TREE_PREFIX) {
                return self.resolve_tree(rest, asked);
            }
        }
        // Relative imports from an embedded file stay in the embedded tree.
        if let Some(v) = from.downcast_ref::<SourceVirtual>() {
            if let Some(from_rel) = v.0.strip_prefix(&format!("{TREE_PREFIX}/")) {
                let dir = Path::new(from_rel).parent().unwrap_or(Path::new(""));
                return self.resolve_tree(&dir.join(asked), asked);
            }
        }
        let base = match from.downcast_ref::<SourceFile>() {
            Some(f) => f.path().parent().map(Path::to_path_buf).unwrap_or_default(),
            None => self.cwd.clone(),
        };
        let full = base.join(asked);
        if full.is_file() {
            self.names.borrow_mut().push(full.clone());
            return local_source(&full);
        }
        // `packages/...` names the tree's own directory (as in a checkout of
        // magpkg): when no such file is here, it is the package tree.
        if !matches!(self.tree, Tree::None) {
            if let Ok(rest) = asked.strip_prefix("packages") {
                return self.resolve_tree(rest, asked);
            }
        }
        Err(runtime_error(format!(
            "cannot import \"{}\": {} does not exist",
            asked.display(),
            display_path(&full, &self.cwd)
        )))
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> jrsonnet_evaluator::Result<Vec<u8>> {
        let (display, path, bytes) = if let Some(f) = resolved.downcast_ref::<SourceFile>() {
            let bytes = std::fs::read(f.path())
                .map_err(|e| runtime_error(format!("cannot read {}: {e}", f.path().display())))?;
            (display_path(f.path(), &self.cwd), Some(f.path().to_path_buf()), bytes)
        } else if let Some(v) = resolved.downcast_ref::<SourceVirtual>() {
            let rel = v.0.strip_prefix(&format!("{TREE_PREFIX}/")).unwrap_or(&v.0);
            let bytes = embedded_file(rel).ok_or_else(|| runtime_error(format!("no embedded file {}", v.0)))?;
            (v.0.to_string(), None, bytes.to_vec())
        } else {
            return Err(runtime_error(format!("cannot load {resolved}")));
        };
        let code: Rc<str> = String::from_utf8_lossy(&bytes).into();
        check_nesting(&display, &code).map_err(runtime_error)?;
        self.log.borrow_mut().push(LoadedFile { display, path, code });
        Ok(bytes)
    }
}

/// Deepest nesting of Jsonnet source [`check_nesting`] lets through: far
/// beyond any real definition, well below what overflows the parser's and
/// the evaluator's stack (they recurse once per level).
pub const MAX_NESTING: usize = 1000;

/// Refuse source nested deeper than [`MAX_NESTING`] before the parser sees
/// it (it would overflow its stack and abort magpkg). The measure follows
/// the syntax tree's depth closely enough: each open bracket, each operator
/// or keyword of a chain (`a + b + c`, `if ... else if ...`) and each
/// `local`/`assert` before the expression they scope is one level; a `,`
/// starts a new element of the enclosing bracket.
pub fn check_nesting(name: &str, code: &str) -> Result<(), String> {
    // Per open bracket: (locals so far, operators since the last `;` or `,`).
    let mut levels: Vec<(usize, usize)> = vec![(0, 0)];
    let mut total = 1usize;
    let b = code.as_bytes();
    let mut i = 0;
    let too_deep = |at: usize| {
        let (line, col, _) = line_col(code, at);
        Err(format!(
            "{name}:{line}:{col}: the code is nested more than {MAX_NESTING} levels deep (brackets, operators, \
             `local`s); magpkg does not evaluate it, as deeper nesting would overflow its stack: split it up \
             into smaller expressions or files"
        ))
    };
    let skip_to = |from: usize, pat: &[u8]| {
        b[from..]
            .windows(pat.len())
            .position(|w| w == pat)
            .map_or(b.len(), |p| from + p + pat.len())
    };
    while i < b.len() {
        let c = b[i];
        let mut grow = 0;
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => i = skip_to(i, b"\n") - 1,
            b'#' => i = skip_to(i, b"\n") - 1,
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_to(i + 2, b"*/") - 1,
            b'|' if b[i..].starts_with(b"|||") => {
                // A text block ends at a line whose first non-blank is `|||`.
                let mut j = skip_to(i + 3, b"\n");
                loop {
                    let rest = &b[j.min(b.len())..];
                    let blank = rest.iter().take_while(|c| **c == b' ' || **c == b'\t').count();
                    if j >= b.len() || rest[blank..].starts_with(b"|||") {
                        i = (j + blank + 3).min(b.len()) - 1;
                        break;
                    }
                    j = skip_to(j, b"\n");
                }
            }
            b'\'' | b'"' => {
                let verbatim = i > 0 && b[i - 1] == b'@';
                let mut j = i + 1;
                while j < b.len() {
                    if b[j] == c {
                        if verbatim && b.get(j + 1) == Some(&c) {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += if b[j] == b'\\' && !verbatim { 2 } else { 1 };
                }
                i = j.min(b.len());
            }
            b'(' | b'[' | b'{' => {
                levels.push((0, 0));
                total += 1;
            }
            b')' | b']' | b'}' if levels.len() > 1 => {
                let (locals, ops) = levels.pop().expect("more than one");
                total -= 1 + locals + ops;
            }
            b',' | b';' => {
                let top = levels.last_mut().expect("the top level stays");
                total -= top.1;
                top.1 = 0;
                if c == b',' {
                    total -= top.0;
                    top.0 = 0;
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>' | b'=' | b'!' | b'&' | b'|' | b'^' | b'~' | b'.' => grow = 1,
            c if c.is_ascii_digit() => {
                while i + 1 < b.len() && (b[i + 1].is_ascii_alphanumeric() || b[i + 1] == b'.' || b[i + 1] == b'_') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i + 1 < b.len() && (b[i + 1].is_ascii_alphanumeric() || b[i + 1] == b'_') {
                    i += 1;
                }
                match &b[start..=i] {
                    b"local" | b"assert" => {
                        levels.last_mut().expect("the top level stays").0 += 1;
                        total += 1;
                    }
                    b"if" | b"then" | b"else" | b"function" | b"error" | b"in" | b"for" => grow = 1,
                    _ => {}
                }
            }
            _ => {}
        }
        if grow > 0 {
            levels.last_mut().expect("the top level stays").1 += grow;
            total += grow;
        }
        if total > MAX_NESTING {
            return too_deep(i.min(b.len().saturating_sub(1)));
        }
        i += 1;
    }
    Ok(())
}

/// `path` relative to `cwd` when below it, else as is.
pub fn display_path(path: &Path, cwd: &Path) -> String {
    match path.strip_prefix(cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// One evaluation: a jrsonnet state and the log of files it loaded.
pub struct Session {
    pub state: State,
    pub log: LoadLog,
    pub names: NameLog,
    pub cwd: PathBuf,
    tree: Tree,
    /// Time and memory of this evaluation, watched while the session lives.
    _watch: limits::Watch,
}

impl Session {
    pub fn new(tree: Tree) -> Session {
        let cwd = std::env::current_dir()
            .and_then(|d| d.canonicalize())
            .unwrap_or_default();
        let log: LoadLog = Rc::default();
        let names: NameLog = Rc::default();
        let mut b = State::builder();
        b.import_resolver(Resolver {
            tree: tree.clone(),
            cwd: cwd.clone(),
            log: log.clone(),
            names: names.clone(),
        });
        b.context_initializer(jrsonnet_stdlib::ContextInitializer::new(PathResolver::Relative(
            cwd.clone(),
        )));
        jrsonnet_evaluator::stack::set_stack_depth_limit(limits::current().max_stack);
        Session {
            state: b.build(),
            log,
            names,
            cwd,
            tree,
            _watch: limits::Watch::start(),
        }
    }

    /// Whether the package tree has the file `rel` (relative to its root).
    pub fn tree_has_file(&self, rel: &str) -> bool {
        match &self.tree {
            Tree::Embedded => embedded_file(rel).is_some(),
            Tree::Dir(d) => d.join(rel).is_file(),
            Tree::None => false,
        }
    }

    /// Run `f` with this session's state as the current one (imports inside
    /// evaluation look it up there).
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.state.try_enter();
        f()
    }

    /// Evaluate an expression given on the command line.
    pub fn eval_expr(&self, code: &str) -> Result<Val, JsonnetError> {
        check_nesting(EXPR_NAME, code).map_err(JsonnetError::Message)?;
        self.log.borrow_mut().push(LoadedFile {
            display: EXPR_NAME.into(),
            path: None,
            code: code.into(),
        });
        self.enter(|| self.state.evaluate_snippet(EXPR_NAME, code))
            .map_err(|e| self.error(&e))
    }

    /// Evaluate a local file.
    pub fn eval_file(&self, path: &Path) -> Result<Val, JsonnetError> {
        let full = self.cwd.join(path);
        if let Err(source) = std::fs::metadata(&full).and_then(|m| {
            if m.is_dir() {
                Err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"))
            } else {
                Ok(())
            }
        }) {
            return Err(JsonnetError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        let sp = local_source(&full).map_err(|e| self.error(&e))?;
        // Named from its canonical directory: links above it (a symlinked
        // checkout) lead to the file's directory, not to the file itself.
        if let (Some(dir), Some(name)) = (full.parent().and_then(|d| d.canonicalize().ok()), full.file_name()) {
            self.names.borrow_mut().push(dir.join(name));
        }
        self.enter(|| self.state.import_resolved(sp))
            .map_err(|e| self.error(&e))
    }

    /// Evaluate a file of the package tree (`rel` relative to its root).
    pub fn eval_tree_file(&self, rel: &str) -> Result<Val, JsonnetError> {
        self.enter(|| self.state.import(format!("{TREE_PREFIX}/{rel}").as_str()))
            .map_err(|e| self.error(&e))
    }

    /// Local files read so far, sorted, each once.
    pub fn local_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.log.borrow().iter().filter_map(|f| f.path.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Local paths named so far ([`NameLog`]), sorted, each once.
    pub fn local_names(&self) -> Vec<PathBuf> {
        let mut v = self.names.borrow().clone();
        v.sort();
        v.dedup();
        v
    }

    /// A jrsonnet error as a readable message.
    pub fn error(&self, e: &jrsonnet_evaluator::Error) -> JsonnetError {
        JsonnetError::Message(format_error(e, &self.cwd, &self.log.borrow()))
    }

    /// A whole value as JSON (forcing everything), detecting objects that
    /// contain themselves.
    pub fn to_json(&self, v: &Val) -> Result<serde_json::Value, JsonnetError> {
        self.enter(|| val_to_json(v, self))
    }
}

/// A whole value as JSON (forcing everything), detecting objects that
/// contain themselves. The value's state must be entered.
pub fn val_to_json(v: &Val, session: &Session) -> Result<serde_json::Value, JsonnetError> {
    to_json(v, &mut Vec::new(), &mut String::new()).map_err(|e| match e {
        JsonError::Jsonnet(e) => session.error(&e),
        JsonError::Eval(e) => e,
    })
}

/// How a span is named in messages.
pub fn source_name(sp: &SourcePath, cwd: &Path) -> String {
    if let Some(f) = sp.downcast_ref::<SourceFile>() {
        display_path(f.path(), cwd)
    } else if let Some(v) = sp.downcast_ref::<SourceVirtual>() {
        v.0.to_string()
    } else {
        sp.to_string()
    }
}

/// 1-based line and column (in characters) of byte `offset` in `code`, and
/// the text of that line.
pub fn line_col(code: &str, offset: usize) -> (usize, usize, &str) {
    let mut offset = offset.min(code.len());
    while !code.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &code[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = code[line_start..offset].chars().count() + 1;
    let line_end = code[offset..].find('\n').map_or(code.len(), |i| offset + i);
    (line, col, &code[line_start..line_end])
}

/// `file:line:col` plus the offending line with a marker under the span.
pub fn render_span(name: &str, code: &str, start: usize, end: usize) -> (String, String) {
    let (line, col, text) = line_col(code, start);
    let text = text.trim_end_matches('\r');
    // Mark the span up to its end or the end of its line, at least 1 wide.
    let start = start.min(code.len());
    let width = code
        .get(start..end.clamp(start, code.len()))
        .map_or(1, |s| s.chars().take_while(|&c| c != '\n').count().max(1));
    let gutter = line.to_string().len();
    let caret_pad: String = text
        .chars()
        .take(col - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let snippet = format!(
        "{:gutter$} |\n{line} | {text}\n{:gutter$} | {caret_pad}{}",
        "",
        "",
        "^".repeat(width.min(text.chars().count().saturating_sub(col - 1)).max(1))
    );
    (format!("{name}:{line}:{col}"), snippet)
}

fn span_location(span: &Span, cwd: &Path) -> (String, String) {
    let name = source_name(span.0.source_path(), cwd);
    render_span(&name, span.0.code(), span.1 as usize, span.2 as usize)
}

/// A jrsonnet error: `file:line:col: message`, the offending line, then the
/// rest of the stack trace. `files` (those loaded) help to place errors
/// jrsonnet gives no location for.
pub fn format_error(e: &jrsonnet_evaluator::Error, cwd: &Path, files: &[LoadedFile]) -> String {
    let kind = e.error();
    let (message, mut primary) = match kind {
        ErrorKind::ImportSyntaxError { error, .. } => {
            (format!("syntax error: {}", error.message), Some(error.location.clone()))
        }
        ErrorKind::StaticAnalysisError(diags) => {
            let errors: Vec<_> = diags
                .iter()
                .filter(|d| matches!(d.level, jrsonnet_evaluator::analyze::DiagLevel::Error))
                .collect();
            let msg = errors.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; ");
            (msg, errors.iter().find_map(|d| d.span.clone()))
        }
        ErrorKind::ImportFileNotFound(from, asked) => (
            format!("cannot import \"{asked}\" from {}", source_name(from, cwd)),
            None,
        ),
        ErrorKind::RuntimeError(s) => (s.to_string(), None),
        ErrorKind::StackOverflow => (
            format!(
                "more than {} nested function calls (evalMaxStack / MAGPKG_EVAL_MAX_STACK): a recursion \
                 without end?",
                limits::current().max_stack
            ),
            None,
        ),
        other => (other.to_string(), None),
    };
    let trace = &e.trace().0;
    let mut rest = trace.iter();
    if primary.is_none() {
        // The innermost frame with a location is where it went wrong.
        for el in rest.by_ref() {
            if let Some(l) = &el.location {
                primary = Some(l.clone());
                break;
            }
        }
    }
    // Extra lines of jrsonnet's message ("There is a field with similar
    // name present: ...") go after the snippet.
    let (message, tail) = match message.split_once('\n') {
        Some((head, tail)) => (head.to_string(), Some(tail.to_string())),
        None => (message, None),
    };
    let mut out = String::new();
    match &primary {
        Some(span) => {
            let (loc, snippet) = span_location(span, cwd);
            out.push_str(&format!("{loc}: {message}\n{snippet}"));
        }
        None => {
            // jrsonnet does not locate a missing field (`pkgs.helo`): find
            // where the loaded files index by that name.
            let found = match kind {
                ErrorKind::NoSuchField(field, _) => locate::find_index(files, field),
                _ => None,
            };
            match found {
                Some(f) => out.push_str(&format!("{}: {message}\n{}", f.location, f.snippet)),
                None => out.push_str(&message),
            }
        }
    }
    if let Some(tail) = tail {
        out.push('\n');
        out.push_str(&tail);
    }
    let mut shown = 0;
    for el in rest {
        if shown == 12 {
            out.push_str("\n  ...");
            break;
        }
        match &el.location {
            Some(span) => {
                let (loc, _) = span_location(span, cwd);
                if primary.as_ref().is_some_and(|p| p == span) {
                    continue;
                }
                out.push_str(&format!("\n  at {loc}: {}", el.desc));
            }
            None => out.push_str(&format!("\n  during {}", el.desc)),
        }
        shown += 1;
    }
    out
}

pub enum JsonError {
    Jsonnet(jrsonnet_evaluator::Error),
    Eval(JsonnetError),
}

impl From<jrsonnet_evaluator::Error> for JsonError {
    fn from(e: jrsonnet_evaluator::Error) -> Self {
        JsonError::Jsonnet(e)
    }
}

/// Deepest object nesting [`to_json`] follows: far beyond any real
/// definition, low enough to fail cleanly instead of overflowing the stack
/// on endless structures that are not cycles of one object (a function
/// building a new object each call).
const MAX_DEPTH: usize = 2000;

/// A Jsonnet number as JSON: integral values as integers.
pub fn num_to_json(f: f64) -> serde_json::Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        serde_json::Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// The `name` of an object, if it has a string one (for cycle messages).
pub fn object_name(o: &ObjValue) -> Option<String> {
    match o.get("name".into()) {
        Ok(Some(Val::Str(s))) => Some(s.to_string()),
        _ => None,
    }
}

fn to_json(v: &Val, stack: &mut Vec<ObjValue>, path: &mut String) -> Result<serde_json::Value, JsonError> {
    use serde_json::Value;
    Ok(match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Str(s) => Value::String(s.to_string()),
        Val::Num(n) => num_to_json(n.get()),
        Val::Arr(a) => {
            let mut out = Vec::with_capacity(a.len() as usize);
            for (i, x) in a.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(jrsonnet_evaluator::ensure_sufficient_stack(|| {
                    to_json(&x?, stack, path)
                })?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        Val::Obj(o) => {
            if let Some(pos) = stack.iter().position(|s| s == o) {
                let mut cycle: Vec<String> = stack[pos..].iter().filter_map(object_name).collect();
                let first = object_name(o).unwrap_or_else(|| "(object)".into());
                if cycle.first() != Some(&first) {
                    cycle.insert(0, first.clone());
                }
                cycle.push(first);
                return Err(JsonError::Eval(JsonnetError::Cycle { cycle }));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(JsonError::Eval(JsonnetError::Message(format!(
                    "value nested more than {MAX_DEPTH} objects deep at `{path}`: a structure that never ends?"
                ))));
            }
            o.run_assertions()?;
            stack.push(o.clone());
            let mut map = serde_json::Map::new();
            for (k, val) in o.iter() {
                let len = path.len();
                path.push('.');
                path.push_str(&k);
                let j = jrsonnet_evaluator::ensure_sufficient_stack(|| to_json(&val?, stack, path))?;
                path.truncate(len);
                map.insert(k.to_string(), j);
            }
            stack.pop();
            Value::Object(map)
        }
        Val::Func(_) => {
            return Err(JsonError::Eval(JsonnetError::Message(format!(
                "`{}` is a function, which has no JSON value (call it, or make the field hidden with `::`)",
                if path.is_empty() {
                    "the value"
                } else {
                    path.trim_start_matches('.')
                }
            ))))
        }
        #[allow(unreachable_patterns)]
        _ => {
            return Err(JsonError::Eval(JsonnetError::Message(format!(
                "`{path}` has a value JSON cannot represent"
            ))))
        }
    })
}

/// Evaluate a Jsonnet file with no package tree (the config file, app
/// settings): `magnet/...` is an ordinary relative path there.
pub fn evaluate_plain_file(path: &Path) -> Result<serde_json::Value, JsonnetError> {
    let session = Session::new(Tree::None);
    let v = session.eval_file(path)?;
    session.to_json(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_render_with_line_column_and_marker() {
        let code = "{\n  a: 1,\n  béb: 2 +,\n}\n";
        let start = code.find("béb").unwrap();
        let (loc, snippet) = render_span("f.jsonnet", code, start, start + "béb".len());
        assert_eq!(loc, "f.jsonnet:3:3");
        assert_eq!(snippet, "  |\n3 |   béb: 2 +,\n  |   ^^^");
        // A span running past its line is cut at the line's end.
        let (_, snippet) = render_span("f", code, start, code.len());
        assert!(snippet.ends_with("|   ^^^^^^^^^"), "{snippet}");
        // Offsets past the end are clamped.
        let (loc, _) = render_span("f", code, code.len() + 5, code.len() + 9);
        assert_eq!(loc, "f:5:1");
    }

    #[test]
    fn tree_paths_cannot_climb_out() {
        assert_eq!(normalize_relative(Path::new("a/./b/../c")), Some(PathBuf::from("a/c")));
        assert_eq!(normalize_relative(Path::new("../x")), None);
        assert_eq!(normalize_relative(Path::new("/etc/passwd")), None);
    }

    #[test]
    fn nesting_is_measured_outside_strings_comments_and_text_blocks() {
        let deep = |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
        assert!(check_nesting("f", &deep("[", "]", MAX_NESTING - 1)).is_ok());
        let e = check_nesting("f", &deep("[", "]", 5000)).unwrap_err();
        assert!(
            e.starts_with("f:1:1000: the code is nested more than 1000 levels deep"),
            "{e}"
        );
        assert!(check_nesting("f", &format!("1{}", "+1".repeat(5000))).is_err());
        assert!(check_nesting("f", &"local a = 1;\n".repeat(5000)).is_err());
        // Siblings do not add up: long lists, many fields, many statements.
        assert!(check_nesting("f", &format!("[{}]", "1 + 2,".repeat(5000))).is_ok());
        assert!(check_nesting("f", &format!("{{{}}}", "a: {{ b: [1] }},".repeat(5000))).is_ok());
        // Brackets in strings, comments and text blocks are text.
        let b = "[".repeat(5000);
        let quoted =
            format!("{{ a: '{b}', b: \"{b}\", c: @'{b}''', d: |||\n  {b}\n|||, // {b}\n /* {b} */ e: 1 }} # {b}");
        check_nesting("f", &quoted).unwrap();
        for (_, code) in embedded_files() {
            check_nesting("tree", std::str::from_utf8(code).unwrap()).unwrap();
        }
    }

    #[test]
    fn integral_numbers_stay_integers() {
        assert_eq!(num_to_json(3.0).to_string(), "3");
        assert_eq!(num_to_json(-0.5).to_string(), "-0.5");
        assert_eq!(num_to_json(1e300).to_string(), "1e+300");
    }
}
