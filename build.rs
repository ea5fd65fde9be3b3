//! Embeds the package tree (`packages/`) in the binary: every file under it
//! becomes an entry of `EMBEDDED_PACKAGES` in `$OUT_DIR/embedded_packages.rs`,
//! which `src/eval` serves for `import "magnet/..."`.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("packages");
    // A directory here makes cargo re-run this script when any file below it
    // is added, removed or changed.
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut code = String::from("/// Every file of `packages/`: (path relative to it, contents).\npub static EMBEDDED_PACKAGES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        let rel = rel
            .to_str()
            .unwrap_or_else(|| panic!("non-UTF-8 file name in packages/: {}", f.display()));
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded_packages.rs");
    std::fs::write(out, code).unwrap();
}
