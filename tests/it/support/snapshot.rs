//! insta settings for snapshots of magpkg's textual output: the test's own
//! paths, the binary's path, package and environment ids, hashes and
//! magnet info-hashes are replaced by placeholders, so a snapshot says what
//! a user sees and nothing that changes from one run to the next.

use super::{magpkg_bin, TestContext};

/// `s` as a regex matching itself.
fn literal(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl TestContext {
    /// Settings with this test's filters (longest paths first); run
    /// assertions inside `settings.bind(|| ...)`.
    pub fn snapshot_settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_prepend_module_to_snapshot(false);
        // Relative to the test's file: tests/it/snapshots/.
        s.set_snapshot_path("snapshots");
        let tmp = std::env::temp_dir().canonicalize().unwrap();
        let bin = magpkg_bin();
        let mut paths: Vec<(String, &str)> = vec![
            (bin.parent().unwrap().display().to_string(), "[BIN_DIR]"),
            (self.store().display().to_string(), "[STORE]"),
            (self.state_dir().display().to_string(), "[STATE]"),
            (self.home().display().to_string(), "[HOME]"),
            (self.root().display().to_string(), "[ROOT]"),
            (tmp.display().to_string(), "[TMP]"),
        ];
        paths.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        for (p, name) in paths {
            s.add_filter(&literal(&p), name);
        }
        // Names of other temp dirs (tempfile's `.tmpXXXXXX`).
        s.add_filter(r"\.tmp[A-Za-z0-9]{6}", "[TMPNAME]");
        s.add_filter(r"\b[0-9a-f]{64}\b", "[SHA256]");
        s.add_filter(r"\b[0-9a-f]{40}\b", "[SHA1]");
        s.add_filter(r"\b[0-9a-f]{32}\b", "[ID]");
        s.add_filter(r"\b[0-9a-f]{12}\b", "[SHORT_ID]");
        s
    }
}

/// `assert_snapshot!(ctx, "name", text)`: `text`, filtered for the
/// [`TestContext`] `ctx`, is snapshot `tests/it/snapshots/name.snap`.
macro_rules! assert_snapshot {
    ($ctx:expr, $name:expr, $text:expr) => {
        $ctx.snapshot_settings().bind(|| {
            let name: &str = $name;
            insta::assert_snapshot!(name, $text)
        })
    };
}
pub(crate) use assert_snapshot;
