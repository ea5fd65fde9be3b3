//! The archive extractor (`build::unpack`) on arbitrary bytes: it must
//! never panic, never write outside its destination, and leave only
//! files, directories and symlinks that stay inside it.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use magpkg::build::unpack::{unpack, Limits, UnpackOptions};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temp dir");
    let archive = dir.path().join("archive");
    std::fs::write(&archive, data).expect("the archive is written");
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).expect("the destination is made");
    let opts = UnpackOptions {
        strip_components: usize::from(data.first().copied().unwrap_or(0) % 2),
        // Small limits: a bomb found by the fuzzer must not fill the disk.
        limits: Limits {
            size: 4 << 20,
            ratio: 0,
        },
    };
    let _ = unpack(&archive, &dest, &opts);
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the temp dir is readable")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["archive", "out"], "nothing is written beside the destination");
    check_tree(&dest, &dest);
    magpkg::store::remove_tree(dir.path()).expect("the tree is removable");
});

/// Every entry under `dir` is a file, a directory or a symlink whose target
/// stays inside `root`.
fn check_tree(root: &Path, dir: &Path) {
    for e in std::fs::read_dir(dir).expect("readable") {
        let e = e.expect("an entry");
        let ft = e.file_type().expect("a type");
        let path = e.path();
        if ft.is_dir() {
            check_tree(root, &path);
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).expect("a link target");
            let rel = path.parent().expect("a parent").strip_prefix(root).expect("under root");
            assert!(
                stays_inside(rel, &target),
                "{} -> {} leads out",
                path.display(),
                target.display()
            );
        } else {
            assert!(ft.is_file(), "{} is a special file", path.display());
        }
    }
}

/// Whether `target`, read from directory `from` (relative to the root),
/// names a path inside the root, lexically.
fn stays_inside(from: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut at: Vec<Component> = from.components().collect();
    for c in target.components() {
        match c {
            Component::ParentDir => {
                if at.pop().is_none() {
                    return false;
                }
            }
            Component::Normal(_) => at.push(c),
            _ => {}
        }
    }
    true
}
