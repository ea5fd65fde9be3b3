//! `magpkg source` (not implemented yet).

use super::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List
    List,
}

pub fn run(_cmd: Command, _ctx: &Ctx) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg source` is not implemented yet")
}
