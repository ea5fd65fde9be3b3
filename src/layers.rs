//! The layer order of the crate's modules, and the test that holds the code
//! to it: a module may use modules of lower layers only (never one of its own
//! layer but itself, never a higher one). `ARCHITECTURE.md` draws the same
//! table.

/// Bottom to top. Modules on one line are peers: neither may use the other.
pub const LAYERS: &[&[&str]] = &[
    &["error", "util"],
    &["jsonnet", "model"],
    &["settings"],
    &["hash"],
    &["eval"],
    &["store"],
    &["plan", "fetch"],
    &["cache"],
    &["remote"],
    &["build"],
    &["env"],
    &["dialect"],
    &["session", "hook", "serve"],
    &["app", "oci"],
    &["cli"],
];

/// The layer of a top-level module, `None` for a module the table lacks.
pub fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules a piece of Rust code uses through `crate::` paths,
/// comments and string literals left out. `use crate::{a, b::c}` counts `a`
/// and `b`.
pub fn crate_refs(code: &str) -> Vec<String> {
    let code = strip_comments_and_strings(code);
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        // `magpkg_crate::` or `xcrate::` are other names.
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest_trim = rest.trim_start();
        if let Some(group) = rest_trim.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest_trim
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Code with `//` and `/* */` comments and the contents of string literals
/// blanked, so a doc link or a message naming a module is not an import.
fn strip_comments_and_strings(code: &str) -> String {
    let b = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) && !prev_ident(b, i) {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            j += 1;
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal such as '"' or '{'.
            i += 3;
            out.push_str("' '");
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            let mut j = i + 2;
            while j < b.len() && b[j] != b'\'' {
                j += 1;
            }
            i = j + 1;
            out.push_str("' '");
        } else {
            let ch = code[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn prev_ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every `crate::` use of every module under `src/` (but `lib.rs`,
    /// `main.rs` and `bin/`) goes to a lower layer.
    fn violations(src: &Path) -> Vec<String> {
        let mut bad = Vec::new();
        for entry in walkdir::WalkDir::new(src).sort_by_file_name() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            let module = top.trim_end_matches(".rs").to_string();
            if ["lib", "main", "bin", "layers"].contains(&module.as_str()) {
                continue;
            }
            let Some(from) = layer_of(&module) else {
                bad.push(format!(
                    "{}: module `{module}` is in no layer of src/layers.rs",
                    rel.display()
                ));
                continue;
            };
            let code = std::fs::read_to_string(path).unwrap();
            for target in crate_refs(&code) {
                if target == module {
                    continue;
                }
                match layer_of(&target) {
                    Some(to) if to < from => {}
                    Some(_) => bad.push(format!(
                        "{}: `{module}` (layer {from}) uses `crate::{target}` (layer {}): a lower stage never imports a higher one or a peer",
                        rel.display(),
                        layer_of(&target).unwrap()
                    )),
                    None => bad.push(format!("{}: uses `crate::{target}`, which is in no layer", rel.display())),
                }
            }
        }
        bad
    }

    #[test]
    fn every_module_uses_only_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let bad = violations(&src);
        assert!(bad.is_empty(), "forbidden imports:\n{}", bad.join("\n"));
    }

    #[test]
    fn a_forbidden_import_is_found() {
        // The same check on a copy of the tree with one upward `use` added.
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("store")).unwrap();
        std::fs::write(
            src.join("store/mod.rs"),
            "use crate::{model::PackageId, cli::report};\n",
        )
        .unwrap();
        std::fs::write(
            src.join("model.rs"),
            "// crate::cli in a comment is no import\nconst X: &str = \"crate::env\";\n",
        )
        .unwrap();
        let bad = violations(&src);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].contains("`store` (layer 5) uses `crate::cli`"), "{}", bad[0]);
    }

    #[test]
    fn refs_are_read_from_paths_and_groups_only() {
        let code = r#"
            use crate::{error::Classify, model::{Package, PackageId}};
            use crate::store::Store;
            fn f() { crate::util::closest("x", []); let s = "crate::cli"; let c = '{'; }
            // crate::oci
            /* crate::app */
            let r = r"crate::hook";
        "#;
        assert_eq!(crate_refs(code), ["error", "model", "store", "util"]);
    }
}
