use clap_complete::Shell;

/// Print a completion script for a shell.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    pub shell: Shell,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let mut cmd = super::command();
    // Generate into memory: clap_complete panics on write errors, and a
    // closed pipe must not be one.
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "magpkg", &mut buf);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &buf)?;
    Ok(0)
}
