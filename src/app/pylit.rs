//! A safe reader for the Python-literal format of `MPKG` and `*.mpkg` files.
//!
//! The mpkg seed writes its files as Python assignments (`key = value`, one
//! per line) whose values are literals: strings (single, double, triple
//! quoted, raw), numbers, `True`/`False`/`None`, lists, tuples, dicts and
//! `...`. This module parses exactly that subset; nothing is ever executed,
//! and any name, call or operator is an error naming the file and line.

use std::fmt;

/// A literal value with the line it starts on (`None` for values that did
/// not come from a Python-literal file, e.g. from the Jsonnet form).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: Option<usize>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    List(Vec<Node>),
    /// Keys in file order; duplicates are resolved by the parser (last wins).
    Dict(Vec<(String, Node)>),
    /// `...`: Python's Ellipsis, used as a placeholder in the seed's examples.
    Ellipsis,
}

impl Value {
    /// A short description for error messages (`a list`, `a string`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::None => "None",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Ellipsis => "`...`",
        }
    }

    /// The value as JSON (for `magpkg app show --json` and unknown keys).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Str(s) => J::String(s.clone()),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::Bool(b) => J::Bool(*b),
            Value::None | Value::Ellipsis => J::Null,
            Value::List(l) => J::Array(l.iter().map(|n| n.value.to_json()).collect()),
            Value::Dict(d) => J::Object(d.iter().map(|(k, n)| (k.clone(), n.value.to_json())).collect()),
        }
    }

    /// Convert a JSON value (from the Jsonnet form) into a literal tree
    /// without line numbers.
    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        let node = |v: &J| Node {
            line: None,
            value: Value::from_json(v),
        };
        match v {
            J::Null => Value::None,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::List(a.iter().map(node).collect()),
            J::Object(o) => Value::Dict(o.iter().map(|(k, v)| (k.clone(), node(v))).collect()),
        }
    }
}

/// One `name = value` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub name: String,
    pub value: Node,
    pub line: usize,
}

/// What is wrong, and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The parsed file: assignments in order (a name assigned twice appears
/// twice; the caller decides, Python semantics are "last wins"), and
/// non-fatal remarks (duplicate dict keys, `...` placeholders).
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub assignments: Vec<Assignment>,
    pub warnings: Vec<(usize, String)>,
}

/// Parse a whole file.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        warnings: Vec::new(),
    };
    let mut out = Vec::new();
    loop {
        while p.eat(&Tok::Newline) {}
        if p.peek().tok == Tok::Eof {
            break;
        }
        let t = p.next();
        let name = match t.tok {
            Tok::Name(n) => n,
            other => {
                return Err(ParseError {
                    line: t.line,
                    message: format!("expected `name = value`, found {}", other.describe()),
                })
            }
        };
        let eq = p.next();
        if eq.tok != Tok::Op('=') {
            return Err(ParseError {
                line: eq.line,
                message: format!("expected `=` after `{name}`, found {}", eq.tok.describe()),
            });
        }
        let value = p.value()?;
        let end = p.next();
        match end.tok {
            Tok::Newline | Tok::Op(';') | Tok::Eof => {}
            other => {
                return Err(ParseError {
                    line: end.line,
                    message: format!(
                        "unexpected {} after the value of `{name}` (only literals are allowed; nothing is evaluated)",
                        other.describe()
                    ),
                })
            }
        }
        out.push(Assignment {
            name,
            value,
            line: t.line,
        });
        if end.tok == Tok::Eof {
            break;
        }
    }
    Ok(Parsed {
        assignments: out,
        warnings: p.warnings,
    })
}

// ------------------------------------------------------------------ lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Int(i64),
    Float(f64),
    /// One of `= , : ; [ ] ( ) { } - +`.
    Op(char),
    Ellipsis,
    Newline,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("`{n}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Int(_) | Tok::Float(_) => "a number".into(),
            Tok::Op(c) => format!("`{c}`"),
            Tok::Ellipsis => "`...`".into(),
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of file".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// Deepest bracket nesting a file may have, as in Python: the parser
/// recurses once per level, so this bounds its stack.
pub const MAX_NESTING: usize = 200;

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.trim_start_matches('\u{feff}').chars().collect();
    let mut i = 0;
    let mut line = 1;
    // Newlines inside brackets join lines, as in Python.
    let mut depth: Vec<(char, usize)> = Vec::new();
    let mut out: Vec<Token> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                if depth.is_empty() && !matches!(out.last(), Some(Token { tok: Tok::Newline, .. }) | None) {
                    out.push(Token {
                        tok: Tok::Newline,
                        line,
                    });
                }
                line += 1;
                i += 1;
            }
            ' ' | '\t' | '\r' | '\x0c' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                line += 1;
                i += 2;
            }
            '\\' if chars.get(i + 1) == Some(&'\r') && chars.get(i + 2) == Some(&'\n') => {
                line += 1;
                i += 3;
            }
            '[' | '(' | '{' => {
                if depth.len() >= MAX_NESTING {
                    return err(
                        line,
                        format!("brackets nested more than {MAX_NESTING} deep (Python's own limit is 200)"),
                    );
                }
                depth.push((c, line));
                out.push(Token { tok: Tok::Op(c), line });
                i += 1;
            }
            ']' | ')' | '}' => {
                let want = match c {
                    ']' => '[',
                    ')' => '(',
                    _ => '{',
                };
                match depth.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, l)) => return err(line, format!("`{c}` does not close `{open}` opened on line {l}")),
                    None => return err(line, format!("unmatched `{c}`")),
                }
                out.push(Token { tok: Tok::Op(c), line });
                i += 1;
            }
            '=' | ',' | ':' | ';' | '-' | '+' => {
                if c == '=' && chars.get(i + 1) == Some(&'=') {
                    return err(line, "`==` is an expression; only `name = literal` is allowed");
                }
                out.push(Token { tok: Tok::Op(c), line });
                i += 1;
            }
            '.' if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') => {
                out.push(Token {
                    tok: Tok::Ellipsis,
                    line,
                });
                i += 3;
            }
            '\'' | '"' => {
                let start_line = line;
                let (s, ni, nl) = lex_string(&chars, i, line, false)?;
                out.push(Token {
                    tok: Tok::Str(s),
                    line: start_line,
                });
                i = ni;
                line = nl;
            }
            c if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '_'
                        || chars[i] == '.'
                        || ((chars[i] == '+' || chars[i] == '-')
                            && matches!(chars[i - 1], 'e' | 'E')
                            && !chars[start..i].iter().any(|c| matches!(c, 'x' | 'X'))))
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                out.push(Token {
                    tok: parse_number(&raw).ok_or_else(|| ParseError {
                        line,
                        message: format!("`{raw}` is not a valid number"),
                    })?,
                    line,
                });
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // String prefixes: r'..', u'..', and their combinations.
                if matches!(chars.get(i), Some('\'' | '"')) {
                    let lower = word.to_ascii_lowercase();
                    if lower == "r" || lower == "u" {
                        let start_line = line;
                        let (s, ni, nl) = lex_string(&chars, i, line, lower == "r")?;
                        out.push(Token {
                            tok: Tok::Str(s),
                            line: start_line,
                        });
                        i = ni;
                        line = nl;
                        continue;
                    }
                    return err(
                        line,
                        format!("string prefix `{word}` is not supported (only text strings, `r` and `u`)"),
                    );
                }
                out.push(Token {
                    tok: Tok::Name(word),
                    line,
                });
            }
            // Attribute access (`os.system`): lexed so the parser can say
            // what is wrong (a name, not a literal).
            '.' => {
                out.push(Token {
                    tok: Tok::Op('.'),
                    line,
                });
                i += 1;
            }
            other => return err(line, format!("unexpected character `{other}`")),
        }
    }
    if let Some((open, l)) = depth.pop() {
        return err(l, format!("`{open}` is never closed"));
    }
    out.push(Token { tok: Tok::Eof, line });
    Ok(out)
}

fn parse_number(raw: &str) -> Option<Tok> {
    let clean: String = raw.chars().filter(|&c| c != '_').collect();
    if raw.starts_with('_') || raw.ends_with('_') || raw.contains("__") {
        return None;
    }
    let lower = clean.to_ascii_lowercase();
    let radix = |p: &str, r| {
        i64::from_str_radix(&lower[2..], r)
            .ok()
            .filter(|_| lower.len() > p.len())
    };
    if lower.starts_with("0x") {
        return radix("0x", 16).map(Tok::Int);
    }
    if lower.starts_with("0o") {
        return radix("0o", 8).map(Tok::Int);
    }
    if lower.starts_with("0b") {
        return radix("0b", 2).map(Tok::Int);
    }
    if lower.chars().all(|c| c.is_ascii_digit()) {
        // Python rejects `012` (ambiguous octal); so do we.
        if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|c| c != '0') {
            return None;
        }
        return lower.parse().ok().map(Tok::Int);
    }
    if lower
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
    {
        return lower.parse::<f64>().ok().filter(|f| f.is_finite()).map(Tok::Float);
    }
    None
}

/// Lex a string starting at `chars[i]` (the opening quote). Returns the
/// value, the index after the closing quote and the current line.
fn lex_string(chars: &[char], mut i: usize, mut line: usize, raw: bool) -> Result<(String, usize, usize), ParseError> {
    let q = chars[i];
    let start_line = line;
    let triple = chars.get(i + 1) == Some(&q) && chars.get(i + 2) == Some(&q);
    i += if triple { 3 } else { 1 };
    let mut s = String::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return err(start_line, "string is never closed");
        };
        if c == q {
            if !triple {
                return Ok((s, i + 1, line));
            }
            if chars.get(i + 1) == Some(&q) && chars.get(i + 2) == Some(&q) {
                return Ok((s, i + 3, line));
            }
            s.push(c);
            i += 1;
            continue;
        }
        if c == '\n' {
            if !triple {
                return err(
                    start_line,
                    "string is not closed before the end of the line (use \\n, or a triple-quoted string for several lines)",
                );
            }
            line += 1;
            s.push('\n');
            i += 1;
            continue;
        }
        if c != '\\' {
            s.push(c);
            i += 1;
            continue;
        }
        // A backslash.
        let Some(&e) = chars.get(i + 1) else {
            return err(start_line, "string is never closed");
        };
        if raw {
            // In raw strings a backslash escapes the quote but stays itself.
            s.push('\\');
            s.push(e);
            if e == '\n' {
                line += 1;
            }
            i += 2;
            continue;
        }
        i += 2;
        match e {
            '\n' => line += 1,
            '\\' => s.push('\\'),
            '\'' => s.push('\''),
            '"' => s.push('"'),
            'n' => s.push('\n'),
            't' => s.push('\t'),
            'r' => s.push('\r'),
            'a' => s.push('\x07'),
            'b' => s.push('\x08'),
            'f' => s.push('\x0c'),
            'v' => s.push('\x0b'),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap();
                for _ in 0..2 {
                    match chars.get(i).and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                s.push(char::from_u32(v).expect("octal escapes are below 0o777"));
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let digits: String = chars.get(i..i + n).map(|d| d.iter().collect()).unwrap_or_default();
                let v = (digits.len() == n)
                    .then(|| u32::from_str_radix(&digits, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                match v {
                    Some(ch) => s.push(ch),
                    None => return err(line, format!("invalid escape `\\{e}{digits}` (needs {n} hex digits)")),
                }
                i += n;
            }
            'N' => {
                return err(
                    line,
                    "named escapes (`\\N{...}`) are not supported; write the character itself",
                )
            }
            // Python keeps unknown escapes as they are.
            other => {
                s.push('\\');
                s.push(other);
            }
        }
    }
}

// ----------------------------------------------------------------- parser

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    warnings: Vec<(usize, String)>,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos]
    }
    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if &self.peek().tok == t {
            self.next();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        let t = self.next();
        let line = t.line;
        let value = match t.tok {
            Tok::Str(mut s) => {
                // Adjacent strings are concatenated, as in Python.
                while let Tok::Str(more) = &self.peek().tok {
                    s.push_str(more);
                    self.next();
                }
                Value::Str(s)
            }
            Tok::Int(i) => Value::Int(i),
            Tok::Float(f) => Value::Float(f),
            Tok::Op(sign @ ('-' | '+')) => {
                let n = self.next();
                let neg = sign == '-';
                match n.tok {
                    Tok::Int(i) => Value::Int(if neg { -i } else { i }),
                    Tok::Float(f) => Value::Float(if neg { -f } else { f }),
                    other => {
                        return err(
                            n.line,
                            format!("expected a number after `{sign}`, found {}", other.describe()),
                        )
                    }
                }
            }
            Tok::Ellipsis => Value::Ellipsis,
            Tok::Name(n) => match n.as_str() {
                "True" => Value::Bool(true),
                "False" => Value::Bool(false),
                "None" => Value::None,
                "true" | "false" | "null" | "none" => {
                    return err(
                        line,
                        format!(
                            "`{n}` is not a Python literal; write {}",
                            match n.as_str() {
                                "true" => "True",
                                "false" => "False",
                                _ => "None",
                            }
                        ),
                    )
                }
                _ => {
                    let what = if self.peek().tok == Tok::Op('(') {
                        "a function call"
                    } else {
                        "a variable"
                    };
                    return err(
                        line,
                        format!("`{n}` is {what}; only literals are allowed (strings, numbers, lists, dicts, True, False, None) and nothing is evaluated"),
                    );
                }
            },
            Tok::Op('[') => Value::List(self.sequence(']', line)?),
            Tok::Op('(') => Value::List(self.sequence(')', line)?),
            Tok::Op('{') => self.dict(line)?,
            other => return err(line, format!("expected a value, found {}", other.describe())),
        };
        Ok(Node {
            line: Some(line),
            value,
        })
    }

    fn sequence(&mut self, close: char, open_line: usize) -> Result<Vec<Node>, ParseError> {
        let mut items = Vec::new();
        loop {
            if self.eat(&Tok::Op(close)) {
                return Ok(items);
            }
            let v = self.value()?;
            if v.value == Value::Ellipsis {
                self.warnings.push((
                    v.line.unwrap_or(open_line),
                    "`...` in a list is a placeholder and is ignored".into(),
                ));
            } else {
                items.push(v);
            }
            let t = self.next();
            match t.tok {
                Tok::Op(',') => {}
                Tok::Op(c) if c == close => return Ok(items),
                other => {
                    return err(
                        t.line,
                        format!(
                            "expected `,` or `{close}` in the list opened on line {open_line}, found {}",
                            other.describe()
                        ),
                    )
                }
            }
        }
    }

    fn dict(&mut self, open_line: usize) -> Result<Value, ParseError> {
        let mut items: Vec<(String, Node)> = Vec::new();
        loop {
            if self.eat(&Tok::Op('}')) {
                return Ok(Value::Dict(items));
            }
            let kt = self.next();
            let key = match kt.tok {
                Tok::Str(s) => s,
                other => {
                    return err(
                        kt.line,
                        format!("dict keys must be strings (like 'name'), found {}", other.describe()),
                    )
                }
            };
            let colon = self.next();
            if colon.tok != Tok::Op(':') {
                return err(
                    colon.line,
                    format!("expected `:` after the key '{key}', found {}", colon.tok.describe()),
                );
            }
            let v = self.value()?;
            if let Some(pos) = items.iter().position(|(k, _)| *k == key) {
                self.warnings
                    .push((kt.line, format!("key '{key}' appears twice; the last one wins")));
                items.remove(pos);
            }
            items.push((key, v));
            let t = self.next();
            match t.tok {
                Tok::Op(',') => {}
                Tok::Op('}') => return Ok(Value::Dict(items)),
                other => {
                    return err(
                        t.line,
                        format!(
                            "expected `,` or `}}` in the dict opened on line {open_line}, found {}",
                            other.describe()
                        ),
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        let p = parse(text).unwrap();
        assert_eq!(p.assignments.len(), 1, "{text}");
        p.assignments[0].value.value.clone()
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(one("a = 'x'"), s("x"));
        assert_eq!(one("a = \"it's\""), s("it's"));
        assert_eq!(
            one(r"a = 'a\nb\t\'q\' \\ \x41\u00e9\U0001F600 \101'"),
            s("a\nb\t'q' \\ Aé😀 A")
        );
        assert_eq!(one(r"a = 'keep \d'"), s(r"keep \d"));
        assert_eq!(one(r"a = r'C:\new\dir'"), s(r"C:\new\dir"));
        assert_eq!(one("a = 'one' \"two\""), s("onetwo"));
        assert_eq!(one("a = '''multi\nline'''"), s("multi\nline"));
        assert_eq!(one("a = 'caf\u{e9} 😀'"), s("café 😀"));
        assert_eq!(one("a = 'x' # comment 'y'"), s("x"));
    }

    #[test]
    fn numbers_and_constants() {
        assert_eq!(one("a = 12"), Value::Int(12));
        assert_eq!(one("a = -3"), Value::Int(-3));
        assert_eq!(one("a = 1_000"), Value::Int(1000));
        assert_eq!(one("a = 0x1F"), Value::Int(31));
        assert_eq!(one("a = 2.5e2"), Value::Float(250.0));
        assert_eq!(one("a = True"), Value::Bool(true));
        assert_eq!(one("a = None"), Value::None);
    }

    #[test]
    fn containers_span_lines() {
        let v = one("a = [\n  {'k': 1,\n   'l': (2, 3),},\n  ...]\n");
        let Value::List(items) = v else { panic!() };
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].line, Some(2));
        let Value::Dict(d) = &items[0].value else { panic!() };
        assert_eq!(d[1].0, "l");
        assert_eq!(d[1].1.line, Some(3));
    }

    #[test]
    fn several_statements_and_lines() {
        let p = parse("# header\nversion = '1'\n\n  compatible_100 = '1'; x = 2\n").unwrap();
        let names: Vec<_> = p.assignments.iter().map(|a| (a.name.as_str(), a.line)).collect();
        assert_eq!(names, [("version", 2), ("compatible_100", 4), ("x", 4)]);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("a = 'x'\nb = os.system('rm -rf /')\n", 2, "variable"),
            ("a = 'x'\nb = print('hi')\n", 2, "function call"),
            ("a = 'x\n", 1, "not closed"),
            ("a = [1,\n 2\n", 1, "never closed"),
            ("a = 1 + 2\n", 1, "unexpected"),
            ("a = {1: 2}\n", 1, "keys must be strings"),
            ("a = true\n", 1, "True"),
            ("a\n", 1, "expected `=`"),
            ("a = [1,\n2 3]\n", 2, "expected `,`"),
            ("a = '\\N{DASH}'", 1, "named escapes"),
            ("a = 012", 1, "not a valid number"),
            ("a = [1)", 1, "does not close"),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error_not_a_crash() {
        let ok = format!("a = {}{}\n", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        parse(&ok).unwrap();
        let deep = format!("a = {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
        let e = parse(&deep).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("nested more than 200 deep"), "{e}");
    }

    #[test]
    fn duplicate_keys_and_placeholders_warn() {
        let p = parse("a = {'k': 1, 'k': 2}\nb = [1, ...]\n").unwrap();
        assert_eq!(p.warnings.len(), 2);
        assert_eq!(p.assignments[0].value.value.to_json(), serde_json::json!({"k": 2}));
    }
}
