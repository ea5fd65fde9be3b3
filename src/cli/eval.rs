//! `magpkg eval` (not implemented yet).

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: super::InputArgs,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg eval` is not implemented yet")
}
