//! `mirror://NAME/path` URLs, and the Debian-archive mirrors read from the
//! machine's own apt sources.
//!
//! A mirror name maps to base URLs (config `mirrors`, `MAGPKG_MIRRORS`).
//! When neither names `debian` or `debian-security`, they come from apt:
//! every `deb`/`deb-src` entry of `sources.list`, `sources.list.d/*.list`
//! (one-line format) and `sources.list.d/*.sources` (deb822), in file order.
//! Entries whose suites are security suites (`*-security`, `*/updates`)
//! give `debian-security`, the others `debian`. A Debian or Ubuntu machine
//! therefore fetches archive files from the mirror it already uses, and the
//! sha256 of the source decides whether the file is the right one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::FetchError;

/// Mirror names that fall back to the machine's apt sources.
pub const APT_MIRRORS: &[&str] = &["debian", "debian-security"];

/// Expand one URL of a source into the URLs to try. `mirror://` URLs give
/// one URL per base of the mirror; anything else is returned as is.
pub fn expand(url: &str, mirrors: &BTreeMap<String, Vec<String>>, apt_dir: &Path) -> Result<Vec<String>, FetchError> {
    let Some(rest) = url.strip_prefix("mirror://") else {
        return Ok(vec![url.to_string()]);
    };
    let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
    let bases = match mirrors.get(name) {
        Some(b) => b.clone(),
        None if APT_MIRRORS.contains(&name) => apt_mirrors(apt_dir).remove(name).unwrap_or_default(),
        None => Vec::new(),
    };
    if bases.is_empty() {
        let mut known: Vec<String> = mirrors.keys().cloned().collect();
        for n in APT_MIRRORS {
            if !known.iter().any(|k| k == n) {
                known.push(n.to_string());
            }
        }
        return Err(FetchError::UnknownMirror {
            url: url.to_string(),
            name: name.to_string(),
            known,
        });
    }
    Ok(bases
        .iter()
        .map(|b| format!("{}/{}", b.trim_end_matches('/'), path.trim_start_matches('/')))
        .collect())
}

/// `debian` and `debian-security` base URLs from the apt sources under
/// `apt_dir` (usually `/etc/apt`). Unreadable files and lines apt itself
/// would reject are skipped: this is a best-effort default, never an error.
pub fn apt_mirrors(apt_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, text) in apt_files(apt_dir) {
        let entries = if file.extension().is_some_and(|e| e == "sources") {
            parse_deb822(&text)
        } else {
            parse_one_line(&text)
        };
        for e in entries {
            let name = if e.suites.iter().any(|s| is_security_suite(s)) {
                "debian-security"
            } else {
                "debian"
            };
            let list = out.entry(name.to_string()).or_default();
            let uri = e.uri.trim_end_matches('/').to_string();
            if !list.contains(&uri) {
                list.push(uri);
            }
        }
    }
    out
}

fn is_security_suite(s: &str) -> bool {
    s.ends_with("-security") || s.ends_with("/updates")
}

fn apt_files(apt_dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = vec![apt_dir.join("sources.list")];
    let d = apt_dir.join("sources.list.d");
    if let Ok(rd) = std::fs::read_dir(&d) {
        let mut more: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    files
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(&f).ok().map(|t| (f, t)))
        .collect()
}

/// One repository entry: a base URI and its suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptEntry {
    pub uri: String,
    pub suites: Vec<String>,
}

/// Only URIs magpkg can fetch from (apt also knows cdrom:, mirror+file:...).
fn usable_uri(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://") || uri.starts_with("file:/")
}

/// Parse the one-line format: `deb [options] URI suite [component...]`.
pub fn parse_one_line(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut rest = match line.split_once(char::is_whitespace) {
            Some(("deb" | "deb-src", rest)) => rest.trim_start(),
            _ => continue,
        };
        if let Some(after) = rest.strip_prefix('[') {
            match after.split_once(']') {
                Some((_, r)) => rest = r.trim_start(),
                None => continue,
            }
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        if usable_uri(uri) {
            out.push(AptEntry {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
            });
        }
    }
    out
}

/// Parse deb822 `.sources` stanzas (`Types`, `URIs`, `Suites`, `Enabled`).
pub fn parse_deb822(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    let mut stanza: BTreeMap<String, String> = BTreeMap::new();
    let mut last_key: Option<String> = None;
    let flush = |stanza: &mut BTreeMap<String, String>, out: &mut Vec<AptEntry>| {
        let field = |k: &str| stanza.get(k).map(|s| s.as_str()).unwrap_or("");
        let types = field("types");
        let enabled = !field("enabled").trim().eq_ignore_ascii_case("no");
        if enabled && types.split_whitespace().any(|t| t == "deb" || t == "deb-src") {
            let suites: Vec<String> = field("suites").split_whitespace().map(str::to_string).collect();
            for uri in field("uris").split_whitespace().filter(|u| usable_uri(u)) {
                out.push(AptEntry {
                    uri: uri.to_string(),
                    suites: suites.clone(),
                });
            }
        }
        stanza.clear();
    };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut stanza, &mut out);
            last_key = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Continuation of the previous field.
            if let Some(k) = &last_key {
                let v = stanza.entry(k.clone()).or_default();
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            stanza.insert(k.clone(), v.trim().to_string());
            last_key = Some(k);
        }
    }
    flush(&mut stanza, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixture host names are invented (example.org, RFC 2606), never a real
    // archive's.
    const ONE_LINE: &str = "\
# a comment
deb http://mirror.example.org/debian bookworm main contrib
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] https://mirror.example.org/debian/ bookworm-updates main
deb-src http://mirror.example.org/debian bookworm main
deb http://security.example.org/debian-security bookworm-security main
deb http://old.example.org/debian-security buster/updates main
deb cdrom:[Debian 12]/ bookworm main
#deb http://disabled.example.org/debian bookworm main
deb [broken http://bad.example.org/debian bookworm main
";

    const DEB822: &str = "\
Types: deb deb-src
# http://comment.example.org/debian
URIs: http://a.example.org/debian
  http://b.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://sec.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://off.example.org/debian
Suites: bookworm
Enabled: no
";

    #[test]
    fn one_line_format() {
        let e = parse_one_line(ONE_LINE);
        let uris: Vec<&str> = e.iter().map(|e| e.uri.as_str()).collect();
        assert_eq!(
            uris,
            vec![
                "http://mirror.example.org/debian",
                "https://mirror.example.org/debian/",
                "http://mirror.example.org/debian",
                "http://security.example.org/debian-security",
                "http://old.example.org/debian-security",
            ]
        );
        assert_eq!(e[1].suites, vec!["bookworm-updates"]);
    }

    #[test]
    fn deb822_format() {
        let e = parse_deb822(DEB822);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].uri, "http://a.example.org/debian");
        assert_eq!(e[1].uri, "http://b.example.org/debian");
        assert_eq!(e[0].suites, vec!["bookworm", "bookworm-updates"]);
        assert_eq!(e[2].uri, "http://sec.example.org/debian-security");
    }

    #[test]
    fn apt_dir_gives_debian_and_security_mirrors() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("sources.list"), ONE_LINE).unwrap();
        std::fs::create_dir(d.path().join("sources.list.d")).unwrap();
        std::fs::write(d.path().join("sources.list.d/debian.sources"), DEB822).unwrap();
        std::fs::write(
            d.path().join("sources.list.d/x.list.disabled"),
            ONE_LINE.replace("mirror", "nope"),
        )
        .unwrap();
        let m = apt_mirrors(d.path());
        assert_eq!(
            m["debian"],
            vec![
                "http://mirror.example.org/debian",
                "https://mirror.example.org/debian",
                "http://a.example.org/debian",
                "http://b.example.org/debian",
            ]
        );
        assert_eq!(
            m["debian-security"],
            vec![
                "http://security.example.org/debian-security",
                "http://old.example.org/debian-security",
                "http://sec.example.org/debian-security",
            ]
        );
        let urls = expand("mirror://debian/pool/main/h/hello/x.tar.gz", &BTreeMap::new(), d.path()).unwrap();
        assert_eq!(urls[0], "http://mirror.example.org/debian/pool/main/h/hello/x.tar.gz");
        assert_eq!(urls.len(), 4);
    }

    #[test]
    fn configured_mirror_wins_and_unknown_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("sources.list"), ONE_LINE).unwrap();
        let mut m = BTreeMap::new();
        m.insert("debian".to_string(), vec!["http://127.0.0.1:9/d/".to_string()]);
        assert_eq!(
            expand("mirror://debian/pool/a", &m, d.path()).unwrap(),
            vec!["http://127.0.0.1:9/d/pool/a"]
        );
        assert_eq!(
            expand("https://x.example.org/a", &m, d.path()).unwrap(),
            vec!["https://x.example.org/a"]
        );
        let e = expand("mirror://gnu/hello/a", &m, d.path()).unwrap_err();
        assert!(e.to_string().contains("gnu"), "{e}");
        // No apt sources at all: `debian` is unknown too.
        let empty = tempfile::tempdir().unwrap();
        assert!(expand("mirror://debian/a", &BTreeMap::new(), empty.path()).is_err());
    }
}
