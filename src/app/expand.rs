//! `$MPKG_PACKAGE`, `$MPKG_DATA` and `$MPKG_ARGS` (also `${MPKG_...}` and
//! `%MPKG_...%`) in the `file` and `args` of an entry, expanded without a
//! shell.
//!
//! `args` is split into words with the quoting rules of a POSIX shell
//! (whitespace separates words; `'...'` is literal; in `"..."` a backslash
//! escapes `"`, `\`, `$` and `` ` ``; outside quotes a backslash escapes the
//! next character), but nothing else of a shell happens: no globbing, no
//! command substitution, no pipes or redirections. Variable values are
//! never split or re-parsed, so a user argument like `"; rm -rf ~"` or
//! `$(id)` reaches the program as exactly that text. `$MPKG_ARGS` expands
//! like `"$@"`: one word per user argument, intact.
//!
//! Unknown `$NAMES` and `%NAMES%` are left as they are.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Package,
    Data,
    Args,
}

impl Var {
    fn from_name(n: &str) -> Option<Var> {
        match n {
            "MPKG_PACKAGE" => Some(Var::Package),
            "MPKG_DATA" => Some(Var::Data),
            "MPKG_ARGS" => Some(Var::Args),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    /// The variable and whether it was written `%NAME%` (Windows style).
    Var(Var, bool),
}

/// The values variables expand to.
#[derive(Debug, Clone)]
pub struct Values {
    pub package: OsString,
    pub data: OsString,
    pub args: Vec<OsString>,
    /// `%MPKG_PACKAGE%` / `%MPKG_DATA%` expand to Windows paths (`Z:\...`)
    /// when the program runs under wine; `$` forms stay Unix paths.
    pub windows_paths: bool,
}

impl Values {
    fn path(&self, v: Var, percent: bool) -> OsString {
        let p = match v {
            Var::Package => &self.package,
            Var::Data => &self.data,
            Var::Args => unreachable!("handled by the caller"),
        };
        if percent && self.windows_paths {
            // Wine maps Z: to the Unix root.
            let mut out = b"Z:".to_vec();
            out.extend(p.as_bytes().iter().map(|&b| if b == b'/' { b'\\' } else { b }));
            OsString::from_vec(out)
        } else {
            p.clone()
        }
    }
}

/// Read a variable reference at `chars[i]` (`$`, `${` or `%`). Returns the
/// variable, whether it is the `%` form, and the index after it.
fn var_at(chars: &[char], i: usize) -> Option<(Var, bool, usize)> {
    let ident_end = |from: usize| {
        let mut j = from;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        j
    };
    match chars[i] {
        '$' if chars.get(i + 1) == Some(&'{') => {
            let end = ident_end(i + 2);
            if chars.get(end) != Some(&'}') {
                return None;
            }
            let name: String = chars[i + 2..end].iter().collect();
            Var::from_name(&name).map(|v| (v, false, end + 1))
        }
        '$' => {
            let end = ident_end(i + 1);
            let name: String = chars[i + 1..end].iter().collect();
            Var::from_name(&name).map(|v| (v, false, end))
        }
        '%' => {
            let end = ident_end(i + 1);
            if chars.get(end) != Some(&'%') {
                return None;
            }
            let name: String = chars[i + 1..end].iter().collect();
            Var::from_name(&name).map(|v| (v, true, end + 1))
        }
        _ => None,
    }
}

fn push_lit(word: &mut Vec<Piece>, c: char) {
    if let Some(Piece::Lit(s)) = word.last_mut() {
        s.push(c);
    } else {
        word.push(Piece::Lit(c.to_string()));
    }
}

/// A parsed `args` template: words made of literal text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    words: Vec<Vec<Piece>>,
}

impl Template {
    /// Split `s` into words. Errors: an unclosed quote, a trailing backslash.
    pub fn parse(s: &str) -> Result<Template, String> {
        let chars: Vec<char> = s.chars().collect();
        let mut words = Vec::new();
        let mut word: Vec<Piece> = Vec::new();
        // A word exists once anything (even empty quotes) was seen.
        let mut in_word = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                    i += 1;
                }
                '\'' => {
                    in_word = true;
                    let Some(end) = chars[i + 1..].iter().position(|&c| c == '\'') else {
                        return Err("a single quote (') is never closed".into());
                    };
                    if end == 0 && !matches!(word.last(), Some(Piece::Lit(_))) {
                        word.push(Piece::Lit(String::new()));
                    }
                    for &c in &chars[i + 1..i + 1 + end] {
                        push_lit(&mut word, c);
                    }
                    i += end + 2;
                }
                '"' => {
                    in_word = true;
                    if !matches!(word.last(), Some(Piece::Lit(_))) {
                        word.push(Piece::Lit(String::new()));
                    }
                    i += 1;
                    loop {
                        let Some(&c) = chars.get(i) else {
                            return Err("a double quote (\") is never closed".into());
                        };
                        match c {
                            '"' => {
                                i += 1;
                                break;
                            }
                            '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                                push_lit(&mut word, chars[i + 1]);
                                i += 2;
                            }
                            '\\' if chars.get(i + 1) == Some(&'\n') => i += 2,
                            '$' | '%' => match var_at(&chars, i) {
                                Some((v, pct, next)) => {
                                    word.push(Piece::Var(v, pct));
                                    i = next;
                                }
                                None => {
                                    push_lit(&mut word, c);
                                    i += 1;
                                }
                            },
                            c => {
                                push_lit(&mut word, c);
                                i += 1;
                            }
                        }
                    }
                }
                '\\' => {
                    match chars.get(i + 1) {
                        None => return Err("ends with a backslash".into()),
                        Some('\n') => {}
                        Some(&n) => {
                            in_word = true;
                            push_lit(&mut word, n);
                        }
                    }
                    i += 2;
                }
                '$' | '%' => {
                    in_word = true;
                    match var_at(&chars, i) {
                        Some((v, pct, next)) => {
                            word.push(Piece::Var(v, pct));
                            i = next;
                        }
                        None => {
                            push_lit(&mut word, c);
                            i += 1;
                        }
                    }
                }
                c => {
                    in_word = true;
                    push_lit(&mut word, c);
                    i += 1;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        Ok(Template { words })
    }

    /// Does the template mention `$MPKG_ARGS`?
    pub fn uses_args(&self) -> bool {
        self.words
            .iter()
            .flatten()
            .any(|p| matches!(p, Piece::Var(Var::Args, _)))
    }

    /// Expand into the argument vector.
    pub fn expand(&self, values: &Values) -> Vec<OsString> {
        let mut out = Vec::new();
        for word in &self.words {
            // `cur` is the word being built; `$MPKG_ARGS` splits it like "$@".
            let mut cur: Vec<u8> = Vec::new();
            let mut has_args = false;
            for p in word {
                match p {
                    Piece::Lit(s) => cur.extend_from_slice(s.as_bytes()),
                    Piece::Var(Var::Args, _) => {
                        has_args = true;
                        if let Some((last, init)) = values.args.split_last() {
                            for a in init {
                                cur.extend_from_slice(a.as_bytes());
                                out.push(OsString::from_vec(std::mem::take(&mut cur)));
                            }
                            cur.extend_from_slice(last.as_bytes());
                        }
                    }
                    Piece::Var(v, pct) => cur.extend_from_slice(values.path(*v, *pct).as_bytes()),
                }
            }
            // A word that is only `$MPKG_ARGS` with no arguments vanishes, as
            // "$@" does; otherwise the (possibly empty) word stays.
            let only_args = word.iter().all(|p| match p {
                Piece::Var(Var::Args, _) => true,
                Piece::Lit(s) => s.is_empty(),
                _ => false,
            });
            if has_args && values.args.is_empty() && only_args {
                continue;
            }
            out.push(OsString::from_vec(cur));
        }
        out
    }
}

/// Expand `file`: variables only, no word splitting or quote removal (it
/// names one path). `$MPKG_ARGS` makes no sense there and is an error.
pub fn expand_path(s: &str, values: &Values) -> Result<OsString, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '$' | '%') {
            if let Some((v, pct, next)) = var_at(&chars, i) {
                if v == Var::Args {
                    return Err("$MPKG_ARGS belongs in `args`, not in `file`".into());
                }
                out.extend_from_slice(values.path(v, pct).as_bytes());
                i = next;
                continue;
            }
        }
        let mut b = [0u8; 4];
        out.extend_from_slice(chars[i].encode_utf8(&mut b).as_bytes());
        i += 1;
    }
    Ok(OsString::from_vec(out))
}

/// The words of `args`, or just the user's arguments when the entry has no
/// `args`. When `args` does not mention `$MPKG_ARGS`, the user's arguments
/// are appended (they are never dropped silently).
pub fn expand_args(args: Option<&str>, values: &Values) -> Result<Vec<OsString>, String> {
    let Some(a) = args else {
        return Ok(values.args.clone());
    };
    let t = Template::parse(a)?;
    let mut out = t.expand(values);
    if !t.uses_args() {
        out.extend(values.args.iter().cloned());
    }
    Ok(out)
}

/// Shorthand for tests and callers holding `&str`s.
pub fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(args: &[&str]) -> Values {
        Values {
            package: os("/apps/x/package/v1"),
            data: os("/apps/my data/x/data"),
            args: args.iter().map(os).collect(),
            windows_paths: false,
        }
    }

    fn run(t: &str, args: &[&str]) -> Vec<String> {
        expand_args(Some(t), &vals(args))
            .unwrap()
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn seed_example_keeps_words_intact() {
        let got = run(
            r#"$MPKG_ARGS --use-config "$MPKG_DATA""#,
            &["a b", "it's \"q\"", "$(id)", "; rm -rf ~"],
        );
        assert_eq!(
            got,
            [
                "a b",
                "it's \"q\"",
                "$(id)",
                "; rm -rf ~",
                "--use-config",
                "/apps/my data/x/data"
            ]
        );
    }

    #[test]
    fn unquoted_variables_are_not_split() {
        assert_eq!(run("--data=$MPKG_DATA", &[]), ["--data=/apps/my data/x/data"]);
        assert_eq!(run("%MPKG_DATA%/cfg", &[]), ["/apps/my data/x/data/cfg"]);
        assert_eq!(run("${MPKG_PACKAGE}/lib", &[]), ["/apps/x/package/v1/lib"]);
    }

    #[test]
    fn args_behave_like_quoted_at() {
        assert_eq!(run("$MPKG_ARGS", &[]), Vec::<String>::new());
        assert_eq!(run("\"$MPKG_ARGS\"", &[]), Vec::<String>::new());
        assert_eq!(run("pre$MPKG_ARGS-post", &["1", "2"]), ["pre1", "2-post"]);
        assert_eq!(run("pre$MPKG_ARGS", &[]), ["pre"]);
        assert_eq!(run("-x $MPKG_ARGS", &[""]), ["-x", ""]);
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(
            run(r#"'$MPKG_DATA' "a\"b" c\ d '' "" e"#, &[]),
            ["$MPKG_DATA", "a\"b", "c d", "", "", "e"]
        );
        assert_eq!(run(r#""\n\$MPKG_DATA""#, &[]), ["\\n$MPKG_DATA"]);
        assert_eq!(
            run("$HOME %PATH% 100% $(id) ; | >x", &[]),
            ["$HOME", "%PATH%", "100%", "$(id)", ";", "|", ">x"]
        );
        assert_eq!(run("$MPKG_PACKAGES", &[]), ["$MPKG_PACKAGES"]);
    }

    #[test]
    fn without_mpkg_args_user_args_are_appended() {
        assert_eq!(run("--portable", &["f g"]), ["--portable", "f g"]);
        let none = expand_args(None, &vals(&["x y"])).unwrap();
        assert_eq!(none, [os("x y")]);
    }

    #[test]
    fn errors() {
        assert!(Template::parse("'open").is_err());
        assert!(Template::parse("\"open").is_err());
        assert!(Template::parse("x\\").is_err());
        assert!(expand_path("$MPKG_ARGS", &vals(&[])).is_err());
    }

    #[test]
    fn windows_paths_for_percent_form_under_wine() {
        let mut v = vals(&[]);
        v.windows_paths = true;
        let got = expand_args(Some("/cfg %MPKG_DATA% $MPKG_DATA"), &v).unwrap();
        assert_eq!(
            got,
            [os("/cfg"), os("Z:\\apps\\my data\\x\\data"), os("/apps/my data/x/data")]
        );
        assert_eq!(
            expand_path("$MPKG_PACKAGE/app.exe", &v).unwrap(),
            os("/apps/x/package/v1/app.exe")
        );
    }
}
