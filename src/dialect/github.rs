//! GitHub Actions' environment files (`magpkg env --format github`):
//! variables go to the file named by `$GITHUB_ENV` as `NAME=value` lines, or
//! `NAME<<DELIMITER` ... `DELIMITER` for a multi-line value; directories for
//! `PATH` go to `$GITHUB_PATH`, one a line, which the runner prepends to
//! `PATH` itself in later steps ([`path_file`]).
//!
//! The runner reads both files as UTF-8: a value that is not UTF-8 cannot
//! reach a later step intact, and there is no way to unset a variable (an
//! unset is written as an empty value).

use super::{Change, Dialect};

/// The delimiter of a multi-line `value`: derived from the value, so it is
/// stable between runs and (a digest being what it is) never one of its lines.
fn delimiter(value: &[u8]) -> String {
    format!("MAGPKG_EOF_{}", &crate::hash::digest("magpkg-gh-delim", value)[..16])
}

/// What follows a variable's name in `$GITHUB_ENV`: `=value` and a newline,
/// or, for a value with a line break in it, the heredoc form.
pub fn quote(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    if value.contains(&b'\n') || value.contains(&b'\r') {
        let delim = delimiter(value);
        out.extend_from_slice(b"<<");
        out.extend_from_slice(delim.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(value);
        out.push(b'\n');
        out.extend_from_slice(delim.as_bytes());
    } else {
        out.push(b'=');
        out.extend_from_slice(value);
    }
    out.push(b'\n');
    out
}

/// The `$GITHUB_PATH` lines that put `PATH`'s new entries in front. The
/// runner prepends each line in turn, so the lowest priority comes first.
pub fn path_file(changes: &[Change]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in changes {
        if let Change::Prepend {
            name: "PATH", entries, ..
        } = c
        {
            for d in entries.iter().rev() {
                out.extend_from_slice(d.as_bytes());
                out.push(b'\n');
            }
        }
    }
    out
}

pub struct Github;

impl Dialect for Github {
    fn name(&self) -> &'static str {
        "github"
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        quote(value)
    }
    fn set(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.extend_from_slice(name.as_bytes());
        out.extend(quote(value));
    }
    fn unset(&self, out: &mut Vec<u8>, name: &str) {
        self.set(out, name, b"")
    }
    /// `PATH` is the runner's to prepend to (see [`path_file`]): setting it
    /// in `$GITHUB_ENV` would fight with the runner's own additions.
    fn prepend(&self, out: &mut Vec<u8>, name: &str, entries: &[String], value: &[u8]) {
        let _ = entries;
        if name != "PATH" {
            self.set(out, name, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::HOSTILE;

    /// `$GITHUB_ENV` read back as the runner reads it (actions/runner,
    /// `SetEnvFileCommand`): `NAME=value` when the first `=` comes before
    /// any `<<`, else `NAME<<DELIM` and the lines up to `DELIM`.
    fn parse(file: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut lines = file.split('\n');
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            let eq = line.find('=');
            let here = line.find("<<");
            match (eq, here) {
                (Some(e), h) if h.is_none_or(|h| e < h) => out.push((line[..e].into(), line[e + 1..].into())),
                (_, Some(h)) => {
                    let delim = &line[h + 2..];
                    let mut value = Vec::new();
                    for l in lines.by_ref() {
                        if l == delim {
                            break;
                        }
                        value.push(l);
                    }
                    out.push((line[..h].into(), value.join("\n")));
                }
                _ => panic!("bad line {line:?}"),
            }
        }
        out
    }

    #[test]
    fn quote_round_trips_through_the_runners_rules() {
        let mut file = Vec::new();
        let texts: Vec<&str> = HOSTILE.iter().filter_map(|v| std::str::from_utf8(v).ok()).collect();
        for (i, v) in texts.iter().enumerate() {
            Github.set(&mut file, &format!("V{i}"), v.as_bytes());
        }
        let got = parse(std::str::from_utf8(&file).unwrap());
        assert_eq!(got.len(), texts.len());
        for (i, v) in texts.iter().enumerate() {
            assert_eq!(got[i], (format!("V{i}"), v.to_string()));
        }
    }

    #[test]
    fn multi_line_values_use_a_stable_delimiter() {
        let q = String::from_utf8(quote(b"a\nb")).unwrap();
        let d = delimiter(b"a\nb");
        assert_eq!(q, format!("<<{d}\na\nb\n{d}\n"));
        assert_eq!(quote(b"a\nb"), quote(b"a\nb"));
        assert_eq!(quote(b"x=y"), b"=x=y\n");
    }

    #[test]
    fn path_goes_to_github_path_lowest_priority_first() {
        let entries = vec!["/first".to_string(), "/second".to_string()];
        let changes = [
            Change::Prepend {
                name: "PATH",
                entries: &entries,
                value: b"/first:/second:/bin",
            },
            Change::Prepend {
                name: "MANPATH",
                entries: &entries[..1],
                value: b"/first:",
            },
            Change::Set { name: "A", value: b"1" },
        ];
        assert_eq!(path_file(&changes), b"/second\n/first\n");
        assert_eq!(Github.script(&changes), b"MANPATH=/first:\nA=1\n");
    }
}
