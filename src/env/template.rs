//! `magpkg init`: manifests from the templates in `templates/`, compiled
//! into the binary, and detection of a project's type from its files.

use std::path::{Path, PathBuf};

use super::project::{LOCAL_DIR, MANIFEST};
use super::EnvError;

/// One template: `templates/<name>.jsonnet`.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub name: &'static str,
    pub description: &'static str,
    pub text: &'static str,
}

macro_rules! templates {
    ($($name:literal: $desc:literal;)*) => {
        /// Every template, the default (`minimal`) first.
        pub const TEMPLATES: &[Template] = &[$(Template {
            name: $name,
            description: $desc,
            text: include_str!(concat!("../../templates/", $name, ".jsonnet")),
        }),*];
    };
}

templates! {
    "minimal": "an empty environment to add packages to";
    "c": "C with make: make and zlib from the tree (headers and libraries on the search paths); cc from the host";
    "go": "Go modules: the go toolchain from the tree (pure Go, no C compiler); caches in the project";
    "lua": "Lua: the interpreter, and the project's modules on LUA_PATH";
    "python": "Python 3.11: a virtual environment in .venv (made on entry) for pip, binary wheels included";
    "perl": "Perl 5.36 with its core modules; the project's lib/ on PERL5LIB, tests with prove";
    "shell": "shell scripts: pinned GNU coreutils, sed, grep, findutils, diffutils, gzip; ./scripts on PATH";
}

/// The template called `name`.
pub fn template(name: &str) -> Result<&'static Template, EnvError> {
    TEMPLATES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| EnvError::UnknownTemplate {
            name: name.to_string(),
            suggestion: crate::util::closest(name, TEMPLATES.iter().map(|t| t.name)),
        })
}

/// Guess a project's template from its files (the directory and its
/// subdirectories, two levels deep; hidden and vendored directories skipped).
pub fn detect(dir: &Path) -> &'static Template {
    let mut c = 0usize;
    let mut lua = 0usize;
    let mut go = 0usize;
    let mut sh = 0usize;
    let mut python = 0usize;
    let mut perl = 0usize;
    let walk = walkdir::WalkDir::new(dir).max_depth(3).into_iter().filter_entry(|e| {
        e.depth() == 0
            || !(e.file_name().to_string_lossy().starts_with('.')
                || matches!(
                    e.file_name().to_str(),
                    Some("node_modules" | "target" | "vendor" | "build")
                ))
    });
    for ent in walk.filter_map(Result::ok) {
        if !ent.file_type().is_file() {
            continue;
        }
        let name = ent.file_name().to_string_lossy();
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match (name.as_ref(), ext) {
            ("Makefile" | "makefile" | "GNUmakefile" | "configure.ac" | "CMakeLists.txt" | "meson.build", _) => c += 2,
            // The `c` template is C and C++ (gcc with libstdc++).
            (_, "c" | "h" | "cc" | "cpp" | "cxx" | "hh" | "hpp" | "hxx") => c += 1,
            // A module file decides: a Go module with some C in it is a Go
            // project.
            ("go.mod" | "go.work", _) => go += 100,
            (_, "go") => go += 1,
            (_, "lua" | "rockspec") => lua += 1,
            // A Python project's own files say so more than its scripts.
            ("pyproject.toml" | "requirements.txt" | "setup.py" | "setup.cfg" | "Pipfile", _) => python += 3,
            (_, "py") => python += 1,
            ("Makefile.PL" | "Build.PL" | "cpanfile" | "META.json", _) => perl += 3,
            (_, "pl" | "pm" | "t") => perl += 1,
            (_, "sh" | "bash") => sh += 1,
            _ => {}
        }
    }
    // The language with the most evidence; C wins ties (its Makefile is
    // often the build of a project in another language's extension).
    let best = [("c", c), ("go", go), ("python", python), ("perl", perl), ("lua", lua)]
        .into_iter()
        .fold(("", 0), |best, lang| if lang.1 > best.1 { lang } else { best });
    let pick = if best.1 > 0 {
        best.0
    } else if sh > 0 {
        "shell"
    } else {
        "minimal"
    };
    template(pick).expect("detected templates exist")
}

/// What [`init`] did.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub manifest: PathBuf,
    pub template: &'static str,
    /// Whether the template was chosen by [`detect`].
    pub detected: bool,
    /// Lines added to `.gitignore`.
    pub gitignore_added: Vec<String>,
}

/// Write `dir/magnet.jsonnet` from a template (detected when `name` is
/// `None`); refuse to replace an existing manifest unless `force`. Adds
/// magpkg's local directory to `.gitignore` (the lock file is meant to be
/// committed, so it is not ignored).
pub fn init(dir: &Path, name: Option<&str>, force: bool) -> Result<InitReport, EnvError> {
    let (tpl, detected) = match name {
        Some(n) => (template(n)?, false),
        None => (detect(dir), true),
    };
    let manifest = dir.join(MANIFEST);
    if !force && manifest.symlink_metadata().is_ok() {
        return Err(EnvError::ManifestExists { path: manifest });
    }
    crate::util::write_atomic(&manifest, tpl.text.as_bytes())?;
    let local = format!("/{LOCAL_DIR}/");
    let mut ignored = vec![local.as_str()];
    // The python template's virtual environment is per machine too.
    if tpl.name == "python" {
        ignored.push("/.venv/");
    }
    let gitignore_added = add_to_gitignore(dir, &ignored)?;
    Ok(InitReport {
        manifest,
        template: tpl.name,
        detected,
        gitignore_added,
    })
}

/// Append the `lines` missing from `dir/.gitignore` (creating it).
fn add_to_gitignore(dir: &Path, lines: &[&str]) -> Result<Vec<String>, EnvError> {
    let path = dir.join(".gitignore");
    let existing = match fs_err::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let present = |l: &str| {
        let bare = l.trim_matches('/');
        existing.lines().any(|e| e.trim().trim_matches('/') == bare)
    };
    let missing: Vec<String> = lines.iter().filter(|l| !present(l)).map(|l| l.to_string()).collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# magpkg: per-machine links to the environment (magnet.lock is committed)\n");
    for l in &missing {
        text.push_str(l);
        text.push('\n');
    }
    crate::util::write_atomic(&path, text.as_bytes())?;
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn every_template_has_a_distinct_name_and_text() {
        assert_eq!(TEMPLATES[0].name, "minimal");
        for t in TEMPLATES {
            assert!(t.text.contains("packages"), "{} lists packages", t.name);
            assert_eq!(TEMPLATES.iter().filter(|u| u.name == t.name).count(), 1);
        }
        assert!(matches!(
            template("cc"),
            Err(EnvError::UnknownTemplate { suggestion: Some(ref s), .. }) if s == "c"
        ));
    }

    #[test]
    fn detection_by_files() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(detect(t.path()).name, "minimal");
        fs::write(t.path().join("run.sh"), "").unwrap();
        assert_eq!(detect(t.path()).name, "shell");
        fs::create_dir(t.path().join("src")).unwrap();
        fs::write(t.path().join("src/main.lua"), "").unwrap();
        assert_eq!(detect(t.path()).name, "lua");
        fs::write(t.path().join("Makefile"), "").unwrap();
        assert_eq!(detect(t.path()).name, "c");
        // Python: its project files outweigh a Makefile and a few C files.
        fs::write(t.path().join("requirements.txt"), "").unwrap();
        fs::write(t.path().join("src/app.py"), "").unwrap();
        assert_eq!(detect(t.path()).name, "python");
        let py = tempfile::tempdir().unwrap();
        fs::write(py.path().join("pyproject.toml"), "").unwrap();
        assert_eq!(detect(py.path()).name, "python");
        let script = tempfile::tempdir().unwrap();
        fs::write(script.path().join("tool.py"), "").unwrap();
        fs::write(script.path().join("run.sh"), "").unwrap();
        assert_eq!(detect(script.path()).name, "python");
        let perl = tempfile::tempdir().unwrap();
        fs::write(perl.path().join("Makefile.PL"), "").unwrap();
        fs::create_dir(perl.path().join("lib")).unwrap();
        fs::write(perl.path().join("lib/App.pm"), "").unwrap();
        assert_eq!(detect(perl.path()).name, "perl");
        fs::write(t.path().join("go.mod"), "module x\n").unwrap();
        assert_eq!(detect(t.path()).name, "go", "a module file decides over a Makefile");
        let cxx = tempfile::tempdir().unwrap();
        fs::write(cxx.path().join("main.cpp"), "").unwrap();
        fs::write(cxx.path().join("util.hpp"), "").unwrap();
        fs::write(cxx.path().join("tool.py"), "").unwrap();
        assert_eq!(detect(cxx.path()).name, "c", "C++ sources are the c template's");
        let hidden = tempfile::tempdir().unwrap();
        fs::create_dir(hidden.path().join(".git")).unwrap();
        fs::write(hidden.path().join(".git/x.c"), "").unwrap();
        assert_eq!(detect(hidden.path()).name, "minimal", "hidden dirs are skipped");
    }

    #[test]
    fn gitignore_lines_are_added_once() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(".gitignore"), "target").unwrap();
        assert_eq!(add_to_gitignore(t.path(), &["/.magpkg/"]).unwrap(), vec!["/.magpkg/"]);
        assert!(add_to_gitignore(t.path(), &["/.magpkg/"]).unwrap().is_empty());
        let text = fs::read_to_string(t.path().join(".gitignore")).unwrap();
        assert!(text.starts_with("target\n"), "{text}");
        assert_eq!(text.matches(".magpkg").count(), 1);
    }
}
