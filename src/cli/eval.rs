//! `magpkg eval`: evaluate package definitions and print the resolved graph.

use std::io::Write;

use super::Ctx;

/// Print the package graph of a Jsonnet input as JSON: `roots` (ids of the
/// packages the input evaluated to) and `packages` by id, each with its
/// dependencies by id. The same input gives the same ids on every machine.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: super::InputArgs,
    /// Print the input's plain JSON value instead of the package graph
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let input = args.input.input();
    // Render first, then write: an io::Error from the write (a closed pipe)
    // must reach the CLI as such, not wrapped in a serde_json error. The
    // graph is rendered straight from its types (no JSON value in between:
    // for 100,000 packages that copy costs as much as the evaluation).
    let mut text = if args.json {
        serde_json::to_string_pretty(&crate::eval::evaluate_value(&input, ctx.settings.packages_dir.as_deref())?.value)?
    } else {
        serde_json::to_string_pretty(&crate::eval::evaluate(&input, ctx.settings.packages_dir.as_deref())?)?
    };
    text.push('\n');
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}
