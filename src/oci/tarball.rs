//! The plain closure tarball: `magpkg/` (packages, profile, SBOM) as one
//! `.tar.zst`, the same tree the image has under `/magpkg`. Unpacked
//! anywhere, `magpkg/env/bin/<tool>` runs: the profile's links are relative.

use std::io::BufWriter;
use std::path::Path;

use super::gzip::HashWriter;
use super::{tar, Closure, ClosurePackage, OciError};

/// zstd level: near gzip -9 ratio at several times its speed. The output
/// is a function of the input and the zstd version (pinned by Cargo.lock);
/// compression runs on one thread so no scheduling can change it.
pub const ZSTD_LEVEL: i32 = 9;

pub fn write(closure: &Closure, out: &Path, created: &str) -> Result<String, OciError> {
    let profile = super::profile(closure)?;
    let sbom = closure.sboms(created);
    let parent = super::output_dir(out)?;
    let tmp = tempfile::Builder::new()
        .prefix(".magpkg-export-")
        .tempfile_in(&parent)?;
    let file = fs_err::File::from_parts(tmp.reopen()?, tmp.path());
    let hashed = HashWriter::new(BufWriter::with_capacity(256 * 1024, file));
    let mut z = zstd::Encoder::new(hashed, ZSTD_LEVEL)?;
    // Frame checksums let `zstd -t` and `tar --zstd` detect corruption.
    z.include_checksum(true)?;
    let mut t = tar::TarWriter::new(z);
    let mut pkgs: Vec<&ClosurePackage> = closure.packages.iter().collect();
    pkgs.sort_by(|a, b| a.id.cmp(&b.id));
    super::write_packages(&mut t, &pkgs)?;
    let project = closure.project_entries();
    if !project.is_empty() {
        super::write_project(&mut t, &project)?;
    }
    super::write_profile_and_sbom(&mut t, &profile, &sbom)?;
    let z = t.finish()?;
    let hashed = z.finish()?;
    let (buf, sha, _) = hashed.finish();
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(out)
        .map_err(|e| crate::util::at("write file", out, e.error))?;
    Ok(sha)
}
