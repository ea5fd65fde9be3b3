//! `magpkg key`: the ed25519 keys binary-cache records are signed with.

use super::Ctx;
use crate::cache::sign;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a new signing key NAME; prints its public key (NAME:BASE64),
    /// which others put in their `trustedKeys`
    Generate {
        /// Letters, digits, `.`, `_` and `-` (e.g. ci.example.org-1)
        name: String,
    },
    /// Print the public key of the secret key NAME (or of a key file)
    Public {
        /// A name given to `magpkg key generate`, or a path
        name: String,
    },
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        Command::Generate { name } => {
            let (public, path) = sign::generate_key_file(&ctx.settings, &name)?;
            if !ctx.global.quiet {
                eprintln!(
                    "secret key written to {} (mode 0600: keep it secret, back it up)\n\
                     trust it elsewhere with: trustedKeys: [\"{public}\"] (or MAGPKG_TRUSTED_KEYS)",
                    path.display()
                );
            }
            println!("{public}");
        }
        Command::Public { name } => println!("{}", sign::public_of(&ctx.settings, &name)?),
    }
    Ok(0)
}
