//! `magpkg hook`, `hook-env`, `allow`, `deny`, `status`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Ctx;
use crate::dialect::HOOK_SHELLS;
use crate::hook;
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
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(HOOK_SHELLS))]
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

/// The command the hook runs when something changed: the small
/// `magpkg-hook` binary when it is installed beside magpkg (it starts
/// faster; told magpkg's path, for background realisations), else `magpkg
/// hook-env`.
fn hook_env_command() -> Vec<OsString> {
    let exe = self_path();
    let beside = |p: &Path| p.parent().map(|d| d.join("magpkg-hook"));
    let current = std::env::current_exe().ok();
    let candidates = [beside(&exe), current.as_deref().and_then(beside)];
    for c in candidates.into_iter().flatten() {
        if is_executable(&c) {
            return vec![c.into_os_string(), "--magpkg".into(), exe.into_os_string()];
        }
    }
    vec![exe.into_os_string(), "hook-env".into()]
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub fn run_hook(a: HookArgs, _ctx: &Ctx) -> anyhow::Result<i32> {
    let sh = hook::for_name(&a.shell)?;
    let cmd = hook_env_command();
    let words: Vec<&[u8]> = cmd.iter().map(|w| w.as_encoded_bytes()).collect();
    let mut script = sh.hook_script(&words).expect("hook shells have a hook script");
    // Where magpkg keeps the pre-rendered activations, so that even the
    // first `cd` into a built project needs no process.
    if let Some(sd) = crate::settings::state_dir() {
        let dir = sd.join(hook::entry::ENTER_DIR);
        sh.set_var(&mut script, "_magpkg_enter", dir.as_os_str().as_encoded_bytes());
    }
    std::io::stdout().lock().write_all(&script)?;
    Ok(0)
}

/// Called at prompts when the `magpkg-hook` binary is not installed beside
/// magpkg: cheap, settings-free, never an error exit.
pub fn run_hook_env(a: HookEnvArgs, _o: Overrides) -> anyhow::Result<i32> {
    Ok(hook::run_hook_env(&a.shell, Some(&self_path())))
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
        if let Some(id) = &done.realised {
            eprintln!(
                "magpkg: realised environment {} (nothing to build); it loads at the next prompt",
                &id[..id.len().min(12)]
            );
        }
        // Say now if the hook will have nothing to load yet.
        let i = hook::project::inspect(&ctx.settings.state_dir, done.project, None);
        if let Some(line) = hook::verdict_line(&hook::display(&i.project.found), &i.verdict) {
            eprintln!("{line}");
        }
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
