//! `magpkg init`: write a magnet.jsonnet for the current project from a template.

use std::path::PathBuf;

use super::Ctx;
use crate::env::template;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The template [default: guessed from the project's files]
    #[arg(short, long, value_name = "NAME")]
    pub template: Option<String>,
    /// List the templates
    #[arg(long, conflicts_with_all = ["template", "force"])]
    pub list: bool,
    /// Replace an existing magnet.jsonnet
    #[arg(long)]
    pub force: bool,
    /// The project directory [default: the current one]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    if args.list {
        for t in template::TEMPLATES {
            println!("{:<10} {}", t.name, t.description);
        }
        return Ok(0);
    }
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    let r = template::init(&dir, args.template.as_deref(), args.force)?;
    if !ctx.global.quiet {
        let how = if r.detected { " (detected)" } else { "" };
        eprintln!("wrote {} from template `{}`{how}", r.manifest.display(), r.template);
        if !r.gitignore_added.is_empty() {
            eprintln!("added {} to .gitignore", r.gitignore_added.join(", "));
        }
        eprintln!("next: edit `packages`, then `magpkg shell` (commit magnet.jsonnet and magnet.lock)");
    }
    Ok(0)
}
