//! The command-line front end: clap derive, one file per command, doc
//! comments as help. Settings are resolved once here and handed down.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::{self, UserError};
use crate::eval::Input;
use crate::settings::{Overrides, Settings};

mod app;
mod build;
mod cache;
mod challenge;
mod completions;
mod env;
mod eval;
mod export;
mod fetch;
mod hook;
mod init;
mod key;
mod list;
mod log;
mod oci;
pub(crate) mod report;
mod run;
mod seed;
mod serve;
mod shell;
mod source;
mod store;

/// magpkg: reproducible packages built from source, and project environments.
#[derive(Debug, Parser)]
#[command(name = "magpkg", version, about, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Root of the store [env: MAGPKG_STORE]
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Use this package tree for `import "magnet/..."` instead of the embedded one [env: MAGPKG_PACKAGES]
    #[arg(long, global = true, value_name = "DIR")]
    pub packages: Option<PathBuf>,
    /// Config file [env: MAGPKG_CONFIG; default: $XDG_CONFIG_HOME/magpkg/config.jsonnet]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Never use the network [env: MAGPKG_OFFLINE]
    #[arg(long, global = true)]
    pub offline: bool,
    /// Print less (no progress bars)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Build everything missing from source; ask no binary cache [env: MAGPKG_SUBSTITUTE=0]
    #[arg(long, global = true, conflicts_with = "substitute_only")]
    pub no_substitute: bool,
    /// Take everything missing from binary caches; fail instead of building [env: MAGPKG_SUBSTITUTE=only]
    #[arg(long, global = true)]
    pub substitute_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate package definitions and print the resolved graph as JSON
    Eval(eval::Args),
    /// List the packages of the tree: name, version, description
    List(list::ListArgs),
    /// Find packages of the tree by words of their name or description
    Search(list::SearchArgs),
    /// Build packages (fetching their sources) into the store
    Build(build::Args),
    /// Show the build log of a package
    Log(log::Args),
    /// Fetch every source of a package graph without building
    Fetch(fetch::Args),
    /// Manage the source cache (add local files, print magnet links)
    #[command(subcommand)]
    Source(source::Command),
    /// Seed every cached source over BitTorrent
    Seed(seed::Args),
    /// Write a magnet.jsonnet for the current project from a template
    Init(init::Args),
    /// Enter the project environment (interactive shell or one command)
    Shell(shell::Args),
    /// Run a script of the project's manifest in its environment
    Run(run::Args),
    /// Print the project environment (for CI and scripts)
    Env(env::Args),
    /// Print the shell hook that activates project environments on cd
    Hook(hook::HookArgs),
    /// Internal: called by the shell hook at each prompt
    #[command(hide = true)]
    HookEnv(hook::HookEnvArgs),
    /// Trust the current project's manifest so the hook may activate it
    Allow(hook::AllowArgs),
    /// Revoke trust in the current project
    Deny(hook::AllowArgs),
    /// Tell which project environment is active here, and why (not)
    Status(hook::StatusArgs),
    /// Run and manage portable apps (mpkg app directories)
    #[command(subcommand)]
    App(app::Command),
    /// Export a package or environment as an OCI image
    Oci(oci::Args),
    /// Export a runtime closure as a plain reproducible tarball
    Export(export::Args),
    /// Inspect and verify the store
    #[command(subcommand)]
    Store(store::Command),
    /// Push store entries to a binary cache (signed, only what it lacks)
    #[command(subcommand)]
    Cache(cache::Command),
    /// Make and show the keys binary-cache records are signed with
    #[command(subcommand)]
    Key(key::Command),
    /// Compare what each binary cache signed for packages with the local store
    Challenge(challenge::Args),
    /// Be a remote builder (started through ssh by `magpkg build --builders`)
    Serve(serve::Args),
    /// Print shell completions
    Completions(completions::Args),
}

/// `-e EXPR | -f FILE | ATTR`: what to evaluate.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct InputArgs {
    /// A Jsonnet expression, e.g. '(import "magnet/packages.jsonnet").hello'
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    pub expr: Option<String>,
    /// A Jsonnet file evaluating to a package, a list or an object of packages
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A package name in the tree (magnet/packages.jsonnet), or a Jsonnet
    /// expression such as '(import "packages/core.jsonnet").coreutils'
    #[arg(value_name = "ATTR")]
    pub attr: Option<String>,
}

impl InputArgs {
    pub fn input(&self) -> Input {
        input_of(&self.expr, &self.file, &self.attr)
    }
}

/// `-e EXPR`, `-f FILE` or a positional (a name or an expression), as
/// every command that evaluates packages reads them.
pub fn input_of(expr: &Option<String>, file: &Option<PathBuf>, attr: &Option<String>) -> Input {
    if let Some(e) = expr {
        Input::Expr(e.clone())
    } else if let Some(f) = file {
        Input::File(f.clone())
    } else {
        Input::positional(attr.as_deref().unwrap_or_default())
    }
}

/// What every command gets: the resolved settings and the global flags.
pub struct Ctx {
    pub settings: Settings,
    pub global: GlobalArgs,
}

impl Ctx {
    /// Progress bars only on a terminal and without --quiet.
    pub fn progress(&self) -> bool {
        use std::io::IsTerminal;
        !self.global.quiet && std::io::stderr().is_terminal()
    }
}

/// The clap command, for completions and docs.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parse arguments, run the command, print errors; returns the exit code.
pub fn main() -> i32 {
    install_panic_hook();
    if let Some(level) = crate::settings::log_level() {
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .init();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                error::EXIT_USAGE
            } else {
                error::EXIT_OK
            };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if report::is_broken_pipe(&e) => error::EXIT_OK,
        Err(e) => {
            if let Some(s) = e.downcast_ref::<error::ExitStatus>() {
                return s.0;
            }
            report::report(&e);
            report::classify(&e)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    // Completions need no settings (and must work with a broken config).
    if let Command::Completions(args) = &cli.command {
        return completions::run(args);
    }
    let overrides = Overrides {
        store: cli.global.store.clone(),
        packages: cli.global.packages.clone(),
        config: cli.global.config.clone(),
        jobs: None,
        offline: cli.global.offline,
        substitute: if cli.global.no_substitute {
            Some(crate::settings::Substitute::Never)
        } else if cli.global.substitute_only {
            Some(crate::settings::Substitute::Only)
        } else {
            None
        },
    };
    // The prompt hook must stay cheap and never fail loudly on a bad config.
    if let Command::HookEnv(args) = cli.command {
        return hook::run_hook_env(args, overrides);
    }
    let settings = Settings::resolve(&overrides)?;
    crate::jsonnet::limits::set(settings.eval_limits);
    if writes_store(&cli.command) {
        prepare_store_writes(&settings);
    }
    let ctx = Ctx {
        settings,
        global: cli.global,
    };
    match cli.command {
        Command::Eval(a) => eval::run(a, &ctx),
        Command::List(a) => list::run_list(a, &ctx),
        Command::Search(a) => list::run_search(a, &ctx),
        Command::Build(a) => build::run(a, &ctx),
        Command::Log(a) => log::run(a, &ctx),
        Command::Fetch(a) => fetch::run(a, &ctx),
        Command::Source(c) => source::run(c, &ctx),
        Command::Seed(a) => seed::run(a, &ctx),
        Command::Init(a) => init::run(a, &ctx),
        Command::Shell(a) => shell::run(a, &ctx),
        Command::Run(a) => run::run(a, &ctx),
        Command::Env(a) => env::run(a, &ctx),
        Command::Hook(a) => hook::run_hook(a, &ctx),
        Command::Allow(a) => hook::run_allow(a, &ctx, true),
        Command::Deny(a) => hook::run_allow(a, &ctx, false),
        Command::Status(a) => hook::run_status(a, &ctx),
        Command::App(c) => app::run(c, &ctx),
        Command::Oci(a) => oci::run(a, &ctx),
        Command::Export(a) => export::run(a, &ctx),
        Command::Store(c) => store::run(c, &ctx),
        Command::Cache(c) => cache::run(c, &ctx),
        Command::Key(c) => key::run(c, &ctx),
        Command::Challenge(a) => challenge::run(a, &ctx),
        Command::Serve(a) => serve::run(a, &ctx),
        Command::HookEnv(_) | Command::Completions(_) => unreachable!("handled above"),
    }
}

/// Commands that may write to the store (build, fetch, realise, export).
fn writes_store(c: &Command) -> bool {
    matches!(
        c,
        Command::Build(_)
            | Command::Fetch(_)
            | Command::Source(_)
            | Command::Shell(_)
            | Command::Run(_)
            | Command::Env(_)
            | Command::App(_)
            | Command::Oci(_)
            | Command::Export(_)
            | Command::Cache(_)
            | Command::Store(store::Command::Verify { repair: true, .. })
    )
}

/// Before a command writes to the store: remove the scratch entries of
/// magpkg processes that died (a failure to do so only costs disk space,
/// so it never stops the command), and clean up our own on SIGINT/SIGTERM.
fn prepare_store_writes(settings: &Settings) {
    if let Err(e) = crate::store::scratch::sweep(&settings.store_dir, false) {
        tracing::debug!(error = %e, "could not sweep the store's scratch space");
    }
    crate::store::scratch::clean_up_on_interrupt();
}

/// A panic is a bug, except when it is `println!` hitting a closed pipe
/// (`magpkg ... | head`), which is how the reader says it has seen enough.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(error::EXIT_OK);
        }
        default(info);
        eprintln!("error: internal error in magpkg (a bug); please report it with the message above");
        std::process::exit(error::EXIT_INTERNAL);
    }));
}

/// Shorthand for a user error with a hint.
pub fn user_error(msg: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    UserError::with_hint(msg, hint).into()
}
