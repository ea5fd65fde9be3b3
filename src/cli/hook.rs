//! `magpkg hook`, `hook-env`, `allow`, `deny`, `status` (not implemented yet).

use super::Ctx;
use crate::settings::Overrides;

#[derive(Debug, clap::Args)]
pub struct HookArgs {
    pub shell: String,
}
#[derive(Debug, clap::Args)]
pub struct HookEnvArgs {
    pub shell: String,
}
#[derive(Debug, clap::Args)]
pub struct AllowArgs {}
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

pub fn run_hook(_a: HookArgs, _ctx: &Ctx) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg hook` is not implemented yet")
}
pub fn run_hook_env(_a: HookEnvArgs, _o: Overrides) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg hook-env` is not implemented yet")
}
pub fn run_allow(_a: AllowArgs, _ctx: &Ctx, _allow: bool) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg allow` is not implemented yet")
}
pub fn run_status(_a: StatusArgs, _ctx: &Ctx) -> anyhow::Result<i32> {
    anyhow::bail!("`magpkg status` is not implemented yet")
}
