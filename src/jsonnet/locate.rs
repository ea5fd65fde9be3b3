//! Where a field of a package definition was written, for error messages.
//!
//! jrsonnet keeps no source location on object fields, so when a definition
//! is wrong (an unknown field, a number where a string belongs) the files the
//! evaluation loaded are parsed again and searched for object literals that
//! define that field. Among several candidates the best is the one in an
//! object literal that also says `name: "<the package>"` and whose value is
//! a literal of the offending kind. Only runs on errors, so it costs nothing
//! otherwise.

use jrsonnet_ir::visit::{self, Visitor};
use jrsonnet_ir::{Expr, FieldName, LiteralType, ObjBody, ObjMembers, Source, SourceVirtual};

use super::{render_span, LoadedFile};

/// The JSON kind of a literal in the source, when the value is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
    Function,
}

impl Kind {
    pub fn of_json(v: &serde_json::Value) -> Kind {
        use serde_json::Value;
        match v {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }
    fn of_expr(e: &Expr) -> Option<Kind> {
        Some(match e {
            Expr::Literal(LiteralType::Null) => Kind::Null,
            Expr::Literal(LiteralType::True | LiteralType::False) => Kind::Bool,
            Expr::Num(_) => Kind::Number,
            Expr::UnaryOp(_, inner) if matches!(**inner, Expr::Num(_)) => Kind::Number,
            Expr::Str(_) => Kind::String,
            Expr::Arr(_) | Expr::ArrComp(..) => Kind::Array,
            Expr::Obj(_) => Kind::Object,
            Expr::Function(..) => Kind::Function,
            _ => return None,
        })
    }
}

/// What to look for.
pub struct Query<'a> {
    /// The field whose definition is wanted.
    pub field: &'a str,
    /// The `name` of the package it belongs to, if known.
    pub package: Option<&'a str>,
    /// The kind of the (wrong) value, if it matters.
    pub kind: Option<Kind>,
    /// A string the field's value is (for sources: the filename).
    pub sibling: Option<(&'a str, &'a str)>,
}

/// A found definition: `file:line:col` and the line with a marker.
pub struct Found {
    pub location: String,
    pub snippet: String,
}

struct Candidate {
    file: usize,
    start: usize,
    end: usize,
    score: u32,
}

struct Search<'q, 'a> {
    q: &'q Query<'a>,
    file: usize,
    found: Vec<Candidate>,
}

fn fixed_str<'e>(m: &'e ObjMembers, field: &str) -> Option<&'e str> {
    m.fields.iter().find_map(|f| match (&f.name.value, &f.value) {
        (FieldName::Fixed(n), Expr::Str(s)) if &**n == field => Some(&**s),
        _ => None,
    })
}

impl Search<'_, '_> {
    fn members(&mut self, m: &ObjMembers) {
        for f in &m.fields {
            let FieldName::Fixed(n) = &f.name.value else { continue };
            if &**n != self.q.field {
                continue;
            }
            let mut score = 0;
            if let (Some(p), Some(name)) = (self.q.package, fixed_str(m, "name")) {
                if p == name {
                    score += 4;
                }
            }
            if let Some((k, v)) = self.q.sibling {
                if fixed_str(m, k) == Some(v) {
                    score += 4;
                }
            }
            if self.q.kind.is_some() && Kind::of_expr(&f.value) == self.q.kind {
                score += 2;
            }
            self.found.push(Candidate {
                file: self.file,
                start: f.name.span.1 as usize,
                end: f.name.span.2 as usize,
                score,
            });
        }
    }
}

impl Visitor for Search<'_, '_> {
    fn visit_expr(&mut self, e: &Expr) {
        match e {
            Expr::Obj(ObjBody::MemberList(m)) | Expr::ObjExtend(_, ObjBody::MemberList(m)) => self.members(m),
            _ => {}
        }
        visit::visit_expr(self, e);
    }
}

fn parse(f: &LoadedFile) -> Option<Expr> {
    let source = Source::new(
        jrsonnet_ir::SourcePath::new(SourceVirtual(f.display.as_str().into())),
        (&*f.code).into(),
    );
    jrsonnet_ir_parser::parse(&f.code, &jrsonnet_ir_parser::ParserSettings { source }).ok()
}

/// Finds `x.field` / `x["field"]`.
struct IndexSearch<'a> {
    field: &'a str,
    found: Option<(usize, usize)>,
}

impl Visitor for IndexSearch<'_> {
    fn visit_expr(&mut self, e: &Expr) {
        if self.found.is_some() {
            return;
        }
        if let Expr::Index { parts, .. } = e {
            for p in parts {
                if matches!(&p.value, Expr::Str(s) if &**s == self.field) {
                    self.found = Some((p.span.1 as usize, p.span.2 as usize));
                    return;
                }
            }
        }
        visit::visit_expr(self, e);
    }
}

/// The first place among `files` that indexes an object by `field` (for
/// "no such field" errors, which jrsonnet reports without a location).
pub fn find_index(files: &[LoadedFile], field: &str) -> Option<Found> {
    for f in files {
        let Some(expr) = parse(f) else { continue };
        let mut s = IndexSearch { field, found: None };
        s.visit_expr(&expr);
        if let Some((start, end)) = s.found {
            let (location, snippet) = render_span(&f.display, &f.code, start, end);
            return Some(Found { location, snippet });
        }
    }
    None
}

/// The most likely definition of `q.field` among `files`.
pub fn find(files: &[LoadedFile], q: &Query<'_>) -> Option<Found> {
    let mut search = Search {
        q,
        file: 0,
        found: Vec::new(),
    };
    for (i, f) in files.iter().enumerate() {
        let Some(expr) = parse(f) else { continue };
        search.file = i;
        search.visit_expr(&expr);
    }
    // Highest score; among equals the first found (files in load order: the
    // input before what it imports).
    let best = search
        .found
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (c.score, std::cmp::Reverse(*i)))?
        .1;
    let f = &files[best.file];
    let (location, snippet) = render_span(&f.display, &f.code, best.start, best.end);
    Some(Found { location, snippet })
}
