//! `magpkg env`: print the project environment, for CI and scripts.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::Ctx;
use crate::dialect::{self, github, Dialect};
use crate::env::diff::{self, EnvDiff};
use crate::env::{self, state::ProjectState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary for people
    Text,
    /// Everything, as JSON
    Json,
    /// `export` lines for `eval "$(magpkg env --format sh)"`: the full
    /// values, the caller's variables with the environment applied
    Sh,
    /// Append to $GITHUB_PATH and $GITHUB_ENV (GitHub Actions)
    Github,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print only the environment id (a cache key; builds nothing)
    #[arg(long, conflicts_with_all = ["json", "format"])]
    pub id: bool,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    #[command(flatten)]
    pub project: super::shell::ProjectArgs,
    /// Stop the realisation the shell hook started in the background for
    /// this project (and its builds)
    #[arg(long, conflicts_with_all = ["id", "json", "format", "locked", "background"])]
    pub cancel: bool,
    /// Internal: the realisation the shell hook starts in the background
    #[arg(long, hide = true, conflicts_with_all = ["id", "json", "format", "locked"])]
    pub background: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let project = args.project.find()?;
    if args.background {
        return Ok(crate::hook::background::run(project, &ctx.settings)?);
    }
    if args.cancel {
        let shown = crate::hook::display(&project.root);
        match crate::hook::background::cancel(&project, &ctx.settings)? {
            Some(pid) => eprintln!(
                "magpkg: cancelled the background realisation of {shown} (pid {pid}); `magpkg shell` builds it"
            ),
            None => eprintln!("magpkg: no background realisation of {shown} is running"),
        }
        return Ok(0);
    }
    if args.id {
        let id = env::env_id(&project, &ctx.settings, args.project.locked)?;
        writeln!(std::io::stdout(), "{id}")?;
        return Ok(0);
    }
    let format = if args.json {
        Format::Json
    } else {
        args.format.unwrap_or(Format::Text)
    };
    let state = super::shell::activate(ctx, &project, args.project.locked)?;
    // The same values `magpkg shell` and the hook give a process started
    // from this one (`EnvDiff`, one rule for lists).
    let activation = EnvDiff::activate(&state, &diff::process_env());
    let next = activation.next();
    let changes = dialect::changes(&activation, &next);
    let out = match format {
        Format::Text => text(&state).into_bytes(),
        Format::Json => json(&state, &changes)?.into_bytes(),
        Format::Sh => dialect::posix::Posix.script(&changes),
        Format::Github => return github_files(&changes),
    };
    std::io::stdout().write_all(&out)?;
    Ok(0)
}

fn text(st: &ProjectState) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "environment  {} ({})", st.name, st.env_id);
    let _ = writeln!(s, "project      {}", st.root.display());
    let _ = writeln!(s, "profile      {}", st.profile.display());
    let pkgs: Vec<&str> = st.packages.keys().map(String::as_str).collect();
    let _ = writeln!(
        s,
        "packages     {}",
        if pkgs.is_empty() {
            "(none)".into()
        } else {
            pkgs.join(" ")
        }
    );
    for (k, dirs) in &st.prepend {
        let _ = writeln!(s, "{k} += {}", dirs.join(":"));
    }
    for (k, v) in &st.set {
        let _ = writeln!(s, "{k} = {v}");
    }
    s
}

fn json(st: &ProjectState, changes: &[dialect::Change]) -> anyhow::Result<String> {
    let store_root = st.profile.parent().and_then(Path::parent).unwrap_or(Path::new("/"));
    let record = env::profile::read_record(store_root, &st.env_id)?;
    let packages = record.map(|r| r.packages).unwrap_or_default();
    let vars: serde_json::Value = serde_json::from_slice(&dialect::json::Json.script(changes))?;
    let v = serde_json::json!({
        "envId": st.env_id,
        "name": st.name,
        "root": st.root,
        "manifest": st.manifest,
        "profile": st.profile,
        "packages": packages,
        "set": st.set,
        "prepend": st.prepend,
        "scripts": st.scripts,
        "vars": vars,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&v)?))
}

/// GitHub Actions: directories for PATH go to `$GITHUB_PATH`, everything
/// else to `$GITHUB_ENV` ([`github`]). Without those variables (not in
/// Actions), print what would be appended.
fn github_files(changes: &[dialect::Change]) -> anyhow::Result<i32> {
    let path_lines = github::path_file(changes);
    let env_lines = github::Github.script(changes);
    for (var, text) in [("GITHUB_PATH", &path_lines), ("GITHUB_ENV", &env_lines)] {
        match std::env::var_os(var).filter(|v| !v.is_empty()) {
            Some(file) => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&file)
                    .map_err(|e| anyhow::anyhow!(e).context(format!("cannot append to ${var} ({file:?})")))?;
                f.write_all(text)?;
            }
            None => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "# ${var} is not set; this would be appended to it:")?;
                out.write_all(text)?;
            }
        }
    }
    Ok(0)
}
