//! `magpkg list` and `magpkg search WORD`: the packages of the tree, with
//! their versions and descriptions.

use std::io::Write;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print a JSON list of {attr, name, version, description, id}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words that must all appear (case-insensitive) in the package's
    /// name, attribute or description
    #[arg(value_name = "WORD", required = true)]
    pub words: Vec<String>,
    /// Print a JSON list of {attr, name, version, description, id}
    #[arg(long)]
    pub json: bool,
}

pub fn run_list(args: ListArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    show(&[], args.json, ctx)
}

pub fn run_search(args: SearchArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    show(&args.words, args.json, ctx)
}

fn show(words: &[String], json: bool, ctx: &Ctx) -> anyhow::Result<i32> {
    let (graph, names) = crate::eval::tree_packages(ctx.settings.packages_dir.as_deref())?;
    let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let rows: Vec<serde_json::Value> = names
        .iter()
        .filter_map(|(attr, id)| {
            let p = graph.get(id);
            let description = p.meta.description.clone().unwrap_or_default();
            let hay = format!("{attr} {} {description}", p.name).to_lowercase();
            words.iter().all(|w| hay.contains(w)).then(|| {
                serde_json::json!({
                    "attr": attr,
                    "name": p.name,
                    "version": p.version,
                    "description": description,
                    "id": id,
                })
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        let width = rows
            .iter()
            .map(|r| r["attr"].as_str().unwrap_or("").len())
            .max()
            .unwrap_or(0);
        let vwidth = rows
            .iter()
            .map(|r| r["version"].as_str().unwrap_or("").len())
            .max()
            .unwrap_or(0);
        for r in &rows {
            writeln!(
                out,
                "{:<width$}  {:<vwidth$}  {}",
                r["attr"].as_str().unwrap_or(""),
                r["version"].as_str().unwrap_or(""),
                r["description"].as_str().unwrap_or("")
            )?;
        }
    }
    if rows.is_empty() && !words.is_empty() {
        if !ctx.global.quiet {
            eprintln!("no package of the tree matches {}", words.join(" "));
        }
        return Ok(crate::error::EXIT_USER);
    }
    Ok(0)
}
