//! `magpkg shell`: enter the project environment, interactively or for one
//! command.

use std::ffi::OsString;
use std::path::PathBuf;

use super::Ctx;
use crate::env::{self, state::ProjectState, Project};
use crate::session::{Session, SessionError};

/// Which project a command works on and whether its lock may change:
/// `--locked` and `-C DIR`, the same for `shell`, `run` and `env`.
#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    /// Fail if magnet.lock does not match what the manifest evaluates to,
    /// instead of updating it (for CI)
    #[arg(long)]
    pub locked: bool,
    /// The project directory [default: the nearest directory with a
    /// magnet.jsonnet, from the current one upward]
    #[arg(short = 'C', long = "project", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ProjectArgs {
    /// The project `-C` names, or the one the current directory is in.
    pub(super) fn find(&self) -> anyhow::Result<Project> {
        let start = match &self.dir {
            Some(d) => d.clone(),
            None => std::env::current_dir()?,
        };
        Ok(env::find_project(&start)?)
    }
}

/// What `magpkg shell` and `magpkg run` share: the project, how to run in
/// it, and whether to trust it this once.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// Run in a bubblewrap container where only the environment's tools and
    /// the project directory are visible (see `pure` in doc/manifest.md)
    #[arg(long)]
    pub pure: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Trust a project that is not allowed on this machine, this once,
    /// without asking (as MAGPKG_TRUST=1)
    #[arg(long)]
    pub trust: bool,
}

impl SessionArgs {
    /// `project`'s environment for `magpkg {command}`, once the project is
    /// trusted ([`ensure_trusted`]) and the environment realised.
    pub(super) fn enter(&self, ctx: &Ctx, project: &Project, command: &str) -> anyhow::Result<ProjectState> {
        ensure_trusted(ctx, project, self.trust, command)?;
        activate(ctx, project, self.project.locked)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Run this command in the environment instead of an interactive shell;
    /// its exit status is magpkg's
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let project = args.session.project.find()?;
    let state = args.session.enter(ctx, &project, "shell")?;
    let session = Session {
        state: &state,
        pure: args.session.pure,
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

/// `magpkg shell` and `magpkg run` run what a project's manifest says
/// (its `shellHook`, scripts, variables): in a project not allowed on this
/// machine (never allowed, denied, or changed since `magpkg allow`), only
/// after the user said so. On a terminal the question is asked once (yes
/// is `magpkg allow`); elsewhere it is an error, unless `--trust`,
/// `MAGPKG_TRUST=1` or `CI=true` say to trust it. doc/shells.md#trust.
fn ensure_trusted(ctx: &Ctx, project: &Project, trust: bool, command: &str) -> anyhow::Result<()> {
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
