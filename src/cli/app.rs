//! `magpkg app` (not implemented yet).

use super::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List
    List,
}

pub fn run(_cmd: Command, _ctx: &Ctx) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg app` is not implemented yet")
}
