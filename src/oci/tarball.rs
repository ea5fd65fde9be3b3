//! The plain closure tarball: `magpkg/` (packages, profile, SBOM) as one
//! `.tar.zst`, the same tree the image has under `/magpkg`. Unpacked
//! anywhere, `magpkg/env/bin/<tool>` runs: the profile's links are relative.

use std::fs;
use std::io::{self, BufWriter};
use std::path::Path;

use super::gzip::HashWriter;
use super::{io_err, tar, Closure, ClosurePackage, OciError};

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
        .tempfile_in(&parent)
        .map_err(io_err(&parent))?;
    let file = tmp.reopen().map_err(io_err(tmp.path()))?;
    let err = |e: io::Error| OciError::Io {
        path: tmp.path().into(),
        source: e,
    };
    let hashed = HashWriter::new(BufWriter::with_capacity(256 * 1024, file));
    let mut z = zstd::Encoder::new(hashed, ZSTD_LEVEL).map_err(err)?;
    // Frame checksums let `zstd -t` and `tar --zstd` detect corruption.
    z.include_checksum(true).map_err(err)?;
    let mut t = tar::TarWriter::new(z);
    let mut pkgs: Vec<&ClosurePackage> = closure.packages.iter().collect();
    pkgs.sort_by(|a, b| a.id.cmp(&b.id));
    super::write_packages(&mut t, &pkgs)?;
    let project = closure.project_entries();
    if !project.is_empty() {
        super::write_project(&mut t, &project)?;
    }
    super::write_profile_and_sbom(&mut t, &profile, &sbom).map_err(err)?;
    let z = t.finish().map_err(err)?;
    let hashed = z.finish().map_err(err)?;
    let (buf, sha, _) = hashed.finish();
    let file = buf.into_inner().map_err(|e| err(e.into_error()))?;
    file.sync_all().map_err(err)?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644)).map_err(err)?;
    tmp.persist(out).map_err(|e| OciError::Io {
        path: out.into(),
        source: e.error,
    })?;
    Ok(sha)
}
