//! `magpkg run`: run a script of the project's manifest in its environment.

use std::ffi::OsString;

use super::Ctx;
use crate::session::Session;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub session: super::shell::SessionArgs,
    /// The script (a key of `scripts` in magnet.jsonnet); without it, list them
    #[arg(value_name = "SCRIPT")]
    pub script: Option<String>,
    /// Arguments for the script (`$1`, `$2`... in it)
    #[arg(value_name = "ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let project = args.session.project.find()?;
    let Some(name) = args.script else {
        // Listing is read-only: it builds nothing.
        if args.session.project.locked {
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
    let state = args.session.enter(ctx, &project, "run")?;
    let session = Session {
        state: &state,
        pure: args.session.pure,
        state_dir: &ctx.settings.state_dir,
        cwd: state.root.clone(),
    };
    super::shell::fail(crate::session::script(&session, &name, &args.args))
}
