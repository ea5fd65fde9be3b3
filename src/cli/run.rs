//! `magpkg run` (not implemented yet).

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg run` is not implemented yet")
}
