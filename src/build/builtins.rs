//! Builtins: builds done by magpkg itself, in Rust, with no sandbox and no
//! tools (they are what makes the first sandbox root). A definition selects
//! one with `build: { builtin: NAME, ...args }`; the arguments are documented
//! in `doc/building.md`.
//!
//! Builtins run on the host, so everything they take from a definition or an
//! archive is treated as hostile: paths are cleaned and resolved with
//! [`unpack::safe_dir`], never written through a symlink that leads out.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::unpack::{self, DirProblem, UnpackError, UnpackOptions};

/// The builtins and their arguments (besides `builtin`).
pub const BUILTINS: &[(&str, &[&str])] = &[
    ("unpack", &["stripComponents"]),
    ("rootfs", &["links", "busybox", "applets"]),
];

#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    #[error("unknown builtin `{builtin}`")]
    Unknown {
        builtin: String,
        suggestion: Option<String>,
    },
    #[error("builtin `{builtin}`: {message}")]
    BadArgs {
        builtin: String,
        message: String,
        suggestion: Option<String>,
    },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// A file operation failed; the error (from `fs_err`) names the
    /// operation and the path (the build log's too: it is an `fs_err` file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The arguments of `unpack`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UnpackArgs {
    #[allow(dead_code)]
    builtin: String,
    strip_components: Option<usize>,
}

/// The arguments of `rootfs`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RootfsArgs {
    #[allow(dead_code)]
    builtin: String,
    /// PATH: TARGET symbolic links made after unpacking.
    links: Option<BTreeMap<String, String>>,
    /// The path of the busybox binary in the root.
    busybox: Option<String>,
    applets: Option<Vec<String>>,
}

/// What a builtin works with.
pub struct Ctx<'a> {
    /// The package's sources: (file name, path in the source cache).
    pub sources: &'a [(String, PathBuf)],
    /// The output directory (empty, exists).
    pub out: &'a Path,
    /// The build log; writing to it names it when it fails.
    pub log: &'a mut fs_err::File,
    /// How much an archive may unpack to.
    pub unpack_limits: unpack::Limits,
}

/// The name of the builtin a `build` object selects.
pub fn name_of(args: &BTreeMap<String, Value>) -> Option<&str> {
    args.get("builtin").and_then(Value::as_str)
}

/// Run the builtin `args["builtin"]`.
pub fn run(args: &BTreeMap<String, Value>, ctx: &mut Ctx) -> Result<(), BuiltinError> {
    let name = name_of(args).unwrap_or_default().to_string();
    if !BUILTINS.iter().any(|(n, _)| *n == name) {
        return Err(BuiltinError::Unknown {
            suggestion: crate::util::closest(&name, BUILTINS.iter().map(|(n, _)| *n)),
            builtin: name,
        });
    }
    let bad = |message: String| BuiltinError::BadArgs {
        builtin: name.clone(),
        message,
        suggestion: None,
    };
    // Arguments are read as typed structs, like every file magpkg reads: an
    // unknown one is named with the closest known one, a value of the wrong
    // type or range is an error, never a silent conversion.
    let value = Value::Object(args.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let typed_err = |m: crate::jsonnet::typed::Mistake| BuiltinError::BadArgs {
        builtin: name.clone(),
        suggestion: m.suggestion().map(str::to_string),
        message: match &m.kind {
            crate::jsonnet::typed::MistakeKind::UnknownField { .. } => format!("unknown argument `{}`", m.field),
            crate::jsonnet::typed::MistakeKind::Invalid(_) => m.to_string(),
        },
    };
    match name.as_str() {
        "unpack" => {
            let a: UnpackArgs = crate::jsonnet::typed::read(&value, &[]).map_err(typed_err)?;
            if ctx.sources.is_empty() {
                return Err(bad("needs at least one source to unpack".into()));
            }
            unpack_all(ctx, a.strip_components.unwrap_or(0))
        }
        "rootfs" => {
            let a: RootfsArgs = crate::jsonnet::typed::read(&value, &[]).map_err(typed_err)?;
            let links = a.links.unwrap_or_default();
            let applets = a.applets.unwrap_or_default();
            let busybox = a.busybox;
            if !applets.is_empty() && busybox.is_none() {
                return Err(bad("`applets` needs `busybox` (the path of the busybox binary)".into()));
            }
            unpack_all(ctx, 0)?;
            let root = fs_err::canonicalize(ctx.out)?;
            for (path, target) in &links {
                let made = make_link(&root, path, target, false).map_err(&bad)?;
                assert!(made, "strict links are made or fail");
                writeln!(ctx.log, "link /{} -> {target}", path.trim_start_matches('/'))?;
            }
            if let Some(busybox) = busybox {
                busybox_links(&root, &busybox, &applets, ctx.log).map_err(bad)?;
            }
            Ok(())
        }
        _ => unreachable!("checked against BUILTINS"),
    }
}

fn unpack_all(ctx: &mut Ctx, strip: usize) -> Result<(), BuiltinError> {
    let opts = UnpackOptions {
        strip_components: strip,
        limits: ctx.unpack_limits,
    };
    for (name, path) in ctx.sources {
        let stats = unpack::unpack(path, ctx.out, &opts)?;
        writeln!(
            ctx.log,
            "unpacked {name}: {} files, {} directories, {} symlinks, {} hard links",
            stats.files, stats.dirs, stats.symlinks, stats.hardlinks
        )?;
        for s in &stats.skipped {
            writeln!(ctx.log, "  skipped {s} (device node or fifo)")?;
        }
    }
    Ok(())
}

/// Create the symlink `path -> target` below `root` (canonical). A leading
/// `/` in `path` is allowed (it means the root). If something exists at
/// `path`: `Ok(false)` with `if_missing`; otherwise fine if it is the same
/// symlink, an error if not.
fn make_link(root: &Path, path: &str, target: &str, if_missing: bool) -> Result<bool, String> {
    let rel =
        unpack::clean_path(Path::new(path.trim_start_matches('/'))).map_err(|r| format!("link path `{path}` {r}"))?;
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(format!("link path `{path}` names no file"));
    };
    if target.is_empty() {
        return Err(format!("link `{path}` has an empty target"));
    }
    let dir = unpack::safe_dir(root, parent).map_err(|e| match e {
        DirProblem::Io(e) => format!("link `{path}`: {e}"),
        DirProblem::Unsafe(r) => format!("link `{path}` {r}"),
    })?;
    let dest = dir.join(name);
    if dest.symlink_metadata().is_ok() {
        // The very link asked for (e.g. a .deb that already ships it) is fine.
        if !if_missing && fs::read_link(&dest).is_ok_and(|t| t == Path::new(target)) {
            return Ok(true);
        }
        if if_missing {
            return Ok(false);
        }
        return Err(format!("link `{path}`: something is already there"));
    }
    std::os::unix::fs::symlink(target, &dest).map_err(|e| format!("link `{path}`: {e}"))?;
    Ok(true)
}

/// Directories searched for a command of the same name before a busybox
/// applet link is made (the debs' real tools win).
const BIN_DIRS: &[&str] = &["bin", "sbin", "usr/bin", "usr/sbin"];

/// Link every applet next to the busybox binary unless a command of that
/// name exists already.
fn busybox_links(root: &Path, busybox: &str, applets: &[String], log: &mut dyn Write) -> Result<(), String> {
    let rel = unpack::clean_path(Path::new(busybox.trim_start_matches('/'))).map_err(|r| format!("`busybox` {r}"))?;
    let host = root.join(&rel);
    if !host.symlink_metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!(
            "`busybox`: /{} is not a file of the unpacked sources",
            rel.display()
        ));
    }
    let dir = rel.parent().unwrap_or(Path::new(""));
    let file = rel.file_name().expect("a file").to_string_lossy().into_owned();
    let mut made = Vec::new();
    for a in applets {
        if a.is_empty() || a.contains('/') || a == "." || a == ".." {
            return Err(format!("applet name `{a}` is not a plain name"));
        }
        if BIN_DIRS.iter().any(|d| root.join(d).join(a).symlink_metadata().is_ok()) {
            continue;
        }
        let path = dir.join(a);
        if make_link(root, &path.to_string_lossy(), &file, true)? {
            made.push(a.as_str());
        }
    }
    let _ = writeln!(log, "busybox applets linked in /{}: {}", dir.display(), made.join(" "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_table_lists_the_arguments_serde_accepts() {
        use crate::jsonnet::typed::{read, MistakeKind};
        for (name, args) in BUILTINS {
            let v = serde_json::json!({ "builtin": name, "x-unknown": 1 });
            let known = match *name {
                "unpack" => read::<UnpackArgs>(&v, &[]).unwrap_err().kind,
                "rootfs" => read::<RootfsArgs>(&v, &[]).unwrap_err().kind,
                other => panic!("builtin {other} has no argument struct"),
            };
            let MistakeKind::UnknownField { known, .. } = known else {
                panic!()
            };
            assert_eq!(known[1..], **args, "{name}");
        }
    }
}
