//! `magpkg serve --stdio`: be a remote builder for a `magpkg build` that
//! reached this machine over SSH (`doc/remote-builds.md`).

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Speak the remote-build protocol on stdin/stdout (how `magpkg build
    /// --builders` starts it through ssh); the only mode there is
    #[arg(long, required = true)]
    pub stdio: bool,
}

pub fn run(_args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    crate::serve::serve(std::io::stdin().lock(), std::io::stdout().lock(), &store, &ctx.settings)?;
    Ok(0)
}
