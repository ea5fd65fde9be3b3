//! `magpkg export`: a runtime closure as one reproducible `.tar.zst`.

use std::path::PathBuf;

use super::oci::What;
use super::Ctx;

/// Write the runtime closure of packages or of a project environment as
/// one reproducible tarball, building what is missing. It unpacks to
/// `magpkg/` (packages, profile, SBOM); `magpkg/env/bin/TOOL` runs from
/// wherever it is unpacked. See doc/oci.md.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub what: What,
    /// The tarball to write (zstd-compressed tar)
    #[arg(short = 'o', long, value_name = "FILE", required = true)]
    pub output: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    let created = crate::oci::config::created(ctx.settings.source_date_epoch);
    let closure = super::oci::resolve(&args.what, ctx)?;
    let sha = crate::oci::export_tarball(&closure, &args.output, &created)?;
    if !ctx.global.quiet {
        eprintln!(
            "wrote {}: {} packages; unpack with `tar --zstd -xf`, run magpkg/env/bin/…",
            args.output.display(),
            closure.packages.len()
        );
    }
    // sha256sum's format, so `sha256sum -c` can check a copy.
    println!("{sha}  {}", args.output.display());
    Ok(0)
}
