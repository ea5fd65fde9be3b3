//! `magpkg run`: run a script of the project's manifest in its environment.

use std::ffi::OsString;
use std::path::PathBuf;

use super::Ctx;
use crate::session::Session;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run in a bubblewrap container where only the environment's tools and
    /// the project directory are visible
    #[arg(long)]
    pub pure: bool,
    /// Fail if magnet.lock does not match what the manifest evaluates to
    #[arg(long)]
    pub locked: bool,
    /// The project directory [default: the nearest directory with a
    /// magnet.jsonnet, from the current one upward]
    #[arg(short = 'C', long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Run a script of a project that is not allowed on this machine, this
    /// once, without asking (as MAGPKG_TRUST=1)
    #[arg(long)]
    pub trust: bool,
    /// The script (a key of `scripts` in magnet.jsonnet); without it, list them
    #[arg(value_name = "SCRIPT")]
    pub script: Option<String>,
    /// Arguments for the script (`$1`, `$2`... in it)
    #[arg(value_name = "ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let project = super::shell::find(args.project.as_deref())?;
    let Some(name) = args.script else {
        // Listing is read-only: it builds nothing.
        if args.locked {
            crate::env::env_id(&project, &ctx.settings, true)?;
        }
        let scripts = crate::env::scripts(&project, &ctx.settings)?;
        if scripts.is_empty() {
            eprintln!("{} has no scripts", project.manifest.display());
        }
        for (name, body) in &scripts {
            let first = body.lines().next().unwrap_or("");
            println!("{name}\t{first}");
        }
        return Ok(0);
    };
    super::shell::ensure_trusted(ctx, &project, args.trust, "run")?;
    let state = super::shell::activate(ctx, &project, args.locked)?;
    let session = Session {
        state: &state,
        pure: args.pure,
        state_dir: &ctx.settings.state_dir,
        cwd: state.root.clone(),
    };
    super::shell::fail(crate::session::script(&session, &name, &args.args))
}
