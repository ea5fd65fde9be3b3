//! `magpkg hook`, `hook-env`, `allow`, `deny`, `status`.

use std::io::Write;
use std::path::PathBuf;

use super::Ctx;
use crate::hook::{self, shell::SHELLS};
use crate::settings::Overrides;

const INSTALL: &str = "\
Install (once, in the shell's rc file):
  bash  ~/.bashrc                   eval \"$(magpkg hook bash)\"
  zsh   ~/.zshrc                    eval \"$(magpkg hook zsh)\"
  fish  ~/.config/fish/config.fish  magpkg hook fish | source

From then on, entering a trusted project (a directory with magnet.jsonnet, \
after `magpkg allow`) applies its environment, and leaving restores the shell \
exactly. A prompt where nothing changed runs no process. See doc/shells.md.";

#[derive(Debug, clap::Args)]
#[command(after_help = INSTALL)]
pub struct HookArgs {
    /// The shell to print the hook for
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(SHELLS))]
    pub shell: String,
}

#[derive(Debug, clap::Args)]
pub struct HookEnvArgs {
    pub shell: String,
}

#[derive(Debug, clap::Args)]
pub struct AllowArgs {
    /// The project directory (or any directory inside it) [default: the current directory]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Look at this directory instead of the current one
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The path the hook calls magpkg by: the path magpkg was called by, when
/// that is the running binary or leads to it (a symlink that a later upgrade
/// may repoint, a wrapper script that `exec -a`s it), else the binary itself.
fn self_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("magpkg"));
    let Some(arg0) = std::env::args_os().next().map(PathBuf::from) else {
        return exe;
    };
    let called = if arg0.components().count() > 1 {
        std::path::absolute(&arg0).ok()
    } else {
        // Found on PATH: keep that path if it is this binary.
        which::which(&arg0)
            .ok()
            .filter(|p| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&exe).ok())
    };
    match called {
        Some(p) if p.is_file() => p,
        _ => exe,
    }
}

pub fn run_hook(a: HookArgs, _ctx: &Ctx) -> anyhow::Result<i32> {
    let sh = hook::shell::for_name(&a.shell)?;
    std::io::stdout().lock().write_all(&sh.hook_script(&self_path()))?;
    Ok(0)
}

/// Called at prompts: cheap, settings-free, never an error exit (a failing
/// hook would print at every prompt).
pub fn run_hook_env(a: HookEnvArgs, _o: Overrides) -> anyhow::Result<i32> {
    let sh = match hook::shell::for_name(&a.shell) {
        Ok(sh) => sh,
        Err(e) => {
            eprintln!("magpkg: {e}");
            return Ok(0);
        }
    };
    let out = hook::hook_env(sh);
    {
        let mut err = std::io::stderr().lock();
        for m in &out.messages {
            let _ = writeln!(err, "{m}");
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&out.code);
    let _ = stdout.flush();
    Ok(0)
}

pub fn run_allow(a: AllowArgs, ctx: &Ctx, allow: bool) -> anyhow::Result<i32> {
    if allow {
        let done = hook::allow(a.dir.as_deref(), &ctx.settings)?;
        let files: Vec<String> = done
            .record
            .files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(&done.project.root)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| hook::display(&f.path))
            })
            .collect();
        eprintln!(
            "magpkg: allowed {} ({})",
            hook::display(&done.project.found),
            files.join(", ")
        );
    } else {
        let p = hook::deny(a.dir.as_deref(), &ctx.settings)?;
        eprintln!(
            "magpkg: denied {}; the hook will not activate it until `magpkg allow`",
            hook::display(&p.found)
        );
    }
    Ok(0)
}

pub fn run_status(a: StatusArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let text = hook::status(a.dir.as_deref(), &ctx.settings)?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(0)
}
