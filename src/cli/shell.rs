//! `magpkg shell`: enter the project environment, interactively or for one
//! command.

use std::ffi::OsString;
use std::path::PathBuf;

use super::Ctx;
use crate::env::{self, state::ProjectState, Project};
use crate::session::{Session, SessionError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run in a bubblewrap container where only the environment's tools and
    /// the project directory are visible (see `pure` in doc/manifest.md)
    #[arg(long)]
    pub pure: bool,
    /// Fail if magnet.lock does not match what the manifest evaluates to,
    /// instead of updating it (for CI)
    #[arg(long)]
    pub locked: bool,
    /// The project directory [default: the nearest directory with a
    /// magnet.jsonnet, from the current one upward]
    #[arg(short = 'C', long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Enter a project that is not allowed on this machine, this once,
    /// without asking (as MAGPKG_TRUST=1)
    #[arg(long)]
    pub trust: bool,
    /// Run this command in the environment instead of an interactive shell;
    /// its exit status is magpkg's
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let project = find(args.project.as_deref())?;
    ensure_trusted(ctx, &project, args.trust, "shell")?;
    let state = activate(ctx, &project, args.locked)?;
    let session = Session {
        state: &state,
        pure: args.pure,
        state_dir: &ctx.settings.state_dir,
        cwd: std::env::current_dir()?,
    };
    let err = if args.command.is_empty() {
        crate::session::interactive(&session)
    } else {
        crate::session::exec(&session, &args.command)
    };
    fail(err)
}

/// The project at `dir`, or the one the current directory is in.
pub(super) fn find(dir: Option<&std::path::Path>) -> anyhow::Result<Project> {
    let start = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir()?,
    };
    Ok(env::find_project(&start)?)
}

/// `magpkg shell` and `magpkg run` run what a project's manifest says
/// (its `shellHook`, scripts, variables): in a project not allowed on this
/// machine (never allowed, denied, or changed since `magpkg allow`), only
/// after the user said so. On a terminal the question is asked once (yes
/// is `magpkg allow`); elsewhere it is an error, unless `--trust`,
/// `MAGPKG_TRUST=1` or `CI=true` say to trust it. doc/shells.md#trust.
pub(super) fn ensure_trusted(ctx: &Ctx, project: &Project, trust: bool, command: &str) -> anyhow::Result<()> {
    use crate::hook::project::Verdict;
    use std::io::{IsTerminal, Write};
    if trust || ctx.settings.trust_projects {
        return Ok(());
    }
    let i = crate::hook::project::inspect(&ctx.settings.state_dir, project.clone(), None);
    let why = match &i.verdict {
        Verdict::Untrusted => "is not allowed on this machine".to_string(),
        Verdict::Denied => "is denied on this machine (`magpkg deny`)".to_string(),
        Verdict::Blocked { files, .. } => format!("changed since `magpkg allow` ({})", files.join(", ")),
        _ => return Ok(()),
    };
    let shown = crate::hook::display(&project.found);
    let manifest = crate::hook::display(&project.manifest);
    let hint = format!(
        "read {manifest}, then run `magpkg allow` there to trust it; or pass --trust (or set MAGPKG_TRUST=1) \
         to trust it for this run; CI=true trusts every project"
    );
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        eprint!(
            "magpkg: {shown} {why}.\n`magpkg {command}` runs the shellHook, scripts and variables of {manifest}.\n\
             Trust it on this machine (as `magpkg allow`)? [y/N] "
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            crate::hook::allow(Some(&project.root), &ctx.settings)?;
            eprintln!("magpkg: allowed {shown}");
            return Ok(());
        }
        return Err(super::user_error(
            format!("{shown} is not trusted: nothing was run"),
            hint,
        ));
    }
    Err(super::user_error(
        format!("{shown} {why}: `magpkg {command}` runs its shellHook and scripts only in trusted projects"),
        hint,
    ))
}

/// Realise the project's environment (or take it from the cache), telling
/// the user on stderr what was written.
pub(super) fn activate(ctx: &Ctx, project: &Project, locked: bool) -> anyhow::Result<ProjectState> {
    let opts = env::Options {
        locked,
        build: crate::build::BuildOptions {
            jobs: ctx.settings.jobs,
            keep_failed: false,
            progress: ctx.progress(),
            remote_only: false,
        },
    };
    let a = env::activate(project, &ctx.settings, &opts)?;
    if let Some(r) = &a.realised {
        report(ctx, r);
    }
    Ok(a.state)
}

pub(super) fn report(ctx: &Ctx, r: &env::Realised) {
    let short = &r.state.env_id[..r.state.env_id.len().min(12)];
    if !ctx.global.quiet {
        if r.created {
            eprintln!(
                "magpkg: realised environment {short} ({} package{})",
                r.record.packages.len(),
                if r.record.packages.len() == 1 { "" } else { "s" }
            );
        }
        if r.lock_written {
            eprintln!("magpkg: wrote {}", r.state.root.join(env::project::LOCK).display());
        }
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
}

/// `exec` returned: report why, with the exit status a shell would use.
pub(super) fn fail(err: SessionError) -> anyhow::Result<i32> {
    let code = err.exit_code();
    super::report::report(&anyhow::Error::new(err));
    Ok(code)
}
