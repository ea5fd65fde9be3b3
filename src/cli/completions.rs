use clap_complete::Shell;

/// Print a completion script for a shell.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    pub shell: Shell,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let mut cmd = super::command();
    clap_complete::generate(args.shell, &mut cmd, "magpkg", &mut std::io::stdout());
    Ok(0)
}
