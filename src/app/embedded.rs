//! What an AppImage carries in the ELF sections of its runtime: the update
//! information (`.upd_info`) and the signature (`.sha256_sig`, with the
//! signer's public key in `.sig_key`), as appimagetool writes them.
//!
//! The signature is a detached OpenPGP signature over the lowercase hex
//! SHA-256 of the AppImage with both signature sections zeroed (they were
//! empty when appimagetool hashed the file). magpkg checks it with `gpgv`
//! against the key embedded next to it, in a keyring of that one key: a
//! valid signature proves the file is what the holder of that key signed,
//! and updates must keep the same key ([`super::update`]); whether the key
//! is the publisher's is for the user to judge by its fingerprint.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use fs_err::File;
use sha2::Digest as _;

use super::detect::ElfHeader;

/// One ELF section: its name and where its bytes are in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The sections of an ELF file with file contents (not `NOBITS`), read
/// from its section header table and section name table.
pub fn sections(path: &Path) -> Result<Vec<Section>, String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    let mut head = [0u8; 64];
    let n = f.read(&mut head).map_err(|e| e.to_string())?;
    let h = ElfHeader::parse(&head[..n]).ok_or("it is not an ELF file")?;
    let table = h.shnum as u64 * h.shentsize as u64;
    if h.shnum == 0 || h.shoff.checked_add(table).is_none_or(|end| end > len) || table > 1 << 20 {
        return Err("its section header table is missing or lies past the end of the file".into());
    }
    let mut raw = vec![0u8; table as usize];
    f.seek(SeekFrom::Start(h.shoff)).map_err(|e| e.to_string())?;
    f.read_exact(&mut raw).map_err(|e| e.to_string())?;
    let num = |b: &[u8]| -> u64 {
        let mut x = [0u8; 8];
        if h.little_endian {
            x[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(x)
        } else {
            x[8 - b.len()..].copy_from_slice(b);
            u64::from_be_bytes(x)
        }
    };
    // (name index, type, offset, size) of each header.
    let headers: Vec<(u64, u64, u64, u64)> = raw
        .chunks_exact(h.shentsize as usize)
        .map(|e| {
            if h.bits == 64 {
                (num(&e[0..4]), num(&e[4..8]), num(&e[24..32]), num(&e[32..40]))
            } else {
                (num(&e[0..4]), num(&e[4..8]), num(&e[16..20]), num(&e[20..24]))
            }
        })
        .collect();
    let strtab_index = {
        // e_shstrndx, right after e_shnum.
        let at = if h.bits == 64 { 62 } else { 50 };
        num(&head[at..at + 2]) as usize
    };
    let &(_, _, str_off, str_size) = headers.get(strtab_index).ok_or("it has no section name table")?;
    if str_off.checked_add(str_size).is_none_or(|e| e > len) || str_size > 1 << 20 {
        return Err("its section name table lies past the end of the file".into());
    }
    let mut names = vec![0u8; str_size as usize];
    f.seek(SeekFrom::Start(str_off)).map_err(|e| e.to_string())?;
    f.read_exact(&mut names).map_err(|e| e.to_string())?;
    const NOBITS: u64 = 8;
    let mut out = Vec::new();
    for (name, kind, offset, size) in headers {
        if kind == NOBITS || kind == 0 || offset.checked_add(size).is_none_or(|e| e > len) {
            continue;
        }
        let start = name as usize;
        let Some(rest) = names.get(start..) else { continue };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        out.push(Section {
            name: String::from_utf8_lossy(&rest[..end]).into_owned(),
            offset,
            size,
        });
    }
    Ok(out)
}

/// The bytes of a section up to its first NUL (appimagetool fills the
/// reserved space from the start); `None` when the file has no such
/// section or it is empty.
fn section_text(path: &Path, all: &[Section], name: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(s) = all.iter().find(|s| s.name == name) else {
        return Ok(None);
    };
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let mut b = vec![0u8; s.size.min(1 << 20) as usize];
    f.seek(SeekFrom::Start(s.offset)).map_err(|e| e.to_string())?;
    f.read_exact(&mut b).map_err(|e| e.to_string())?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b.truncate(end);
    Ok((!b.iter().all(|c| c.is_ascii_whitespace())).then_some(b))
}

/// The update information of an AppImage (`.upd_info`), if it has any.
pub fn update_info(path: &Path) -> Result<Option<String>, String> {
    let all = sections(path)?;
    Ok(section_text(path, &all, ".upd_info")?.map(|b| String::from_utf8_lossy(&b).trim().to_string()))
}

/// What the embedded signature of an AppImage says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// No signature in `.sha256_sig`.
    Unsigned,
    /// Made by the embedded key over this very file.
    Valid { fingerprint: String, signer: String },
    /// Present, and wrong: the file changed after signing, or the
    /// signature does not belong to the embedded key.
    Invalid { reason: String },
    /// Present, but it could not be checked (no `gpgv`).
    Unchecked { reason: String },
}

impl Signature {
    /// The one-line form recorded in a variant's MPKG (`signature = ...`).
    pub fn record(&self) -> String {
        match self {
            Signature::Unsigned => "unsigned".into(),
            Signature::Valid { fingerprint, signer } => format!("valid {fingerprint} {signer}").trim_end().into(),
            Signature::Invalid { reason } => format!("invalid {reason}"),
            Signature::Unchecked { reason } => format!("unchecked {reason}"),
        }
    }

    /// Read back what [`Signature::record`] wrote (an unknown form is
    /// taken as unchecked, never as valid).
    pub fn parse(s: &str) -> Signature {
        let (word, rest) = s.trim().split_once(' ').unwrap_or((s.trim(), ""));
        match word {
            "unsigned" => Signature::Unsigned,
            "valid" => {
                let (fingerprint, signer) = rest.split_once(' ').unwrap_or((rest, ""));
                Signature::Valid {
                    fingerprint: fingerprint.into(),
                    signer: signer.into(),
                }
            }
            "invalid" => Signature::Invalid { reason: rest.into() },
            "unchecked" => Signature::Unchecked { reason: rest.into() },
            _ => Signature::Unchecked {
                reason: format!("unreadable record `{s}`"),
            },
        }
    }

    /// How `magpkg app show` says it.
    pub fn describe(&self) -> String {
        match self {
            Signature::Unsigned => "unsigned".into(),
            Signature::Valid { fingerprint, signer } if signer.is_empty() => format!("signed by {fingerprint}"),
            Signature::Valid { fingerprint, signer } => format!("signed by {fingerprint} ({signer})"),
            Signature::Invalid { reason } => format!("INVALID: {reason}"),
            Signature::Unchecked { reason } => format!("signed, not checked: {reason}"),
        }
    }
}

/// Check the embedded signature of an AppImage with `gpgv`.
pub fn verify(path: &Path) -> Result<Signature, String> {
    let all = sections(path)?;
    let Some(sig) = section_text(path, &all, ".sha256_sig")? else {
        return Ok(Signature::Unsigned);
    };
    let Some(key) = section_text(path, &all, ".sig_key")? else {
        return Ok(Signature::Invalid {
            reason: "it has a signature but no key in .sig_key to check it with".into(),
        });
    };
    let zeroed: Vec<&Section> = all
        .iter()
        .filter(|s| s.name == ".sha256_sig" || s.name == ".sig_key")
        .collect();
    let digest = digest_with_zeroed(path, &zeroed).map_err(|e| e.to_string())?;
    let Ok(gpgv) = which::which("gpgv") else {
        return Ok(Signature::Unchecked {
            reason: "gpgv is not installed (apt-get install gpgv)".into(),
        });
    };
    let keyring = match dearmor(&key) {
        Some(k) => k,
        None => {
            return Ok(Signature::Invalid {
                reason: "its .sig_key holds no readable OpenPGP public key".into(),
            })
        }
    };
    let t = tempfile::Builder::new()
        .prefix("magpkg-sig-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let (ring, sigf, data) = (
        t.path().join("key.gpg"),
        t.path().join("sig.asc"),
        t.path().join("digest"),
    );
    for (p, b) in [
        (&ring, keyring.as_slice()),
        (&sigf, sig.as_slice()),
        (&data, digest.as_bytes()),
    ] {
        fs_err::write(p, b).map_err(|e| e.to_string())?;
    }
    let out = std::process::Command::new(&gpgv)
        .arg("--homedir")
        .arg(t.path())
        .arg("--keyring")
        .arg(&ring)
        .args(["--status-fd", "1"])
        .arg(&sigf)
        .arg(&data)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", gpgv.display()))?;
    Ok(read_status(&String::from_utf8_lossy(&out.stdout), out.status.success()))
}

/// The verdict in gpgv's status lines (`[GNUPG:] VALIDSIG FPR ...`).
fn read_status(status: &str, success: bool) -> Signature {
    let mut fingerprint = None;
    let mut signer = String::new();
    let mut bad = None;
    for line in status.lines() {
        let Some(rest) = line.strip_prefix("[GNUPG:] ") else {
            continue;
        };
        let mut words = rest.split(' ');
        match words.next() {
            Some("VALIDSIG") => fingerprint = words.next().map(String::from),
            Some("GOODSIG") => {
                words.next();
                signer = words.collect::<Vec<_>>().join(" ");
            }
            Some("BADSIG") => bad = Some("the file changed after it was signed (BADSIG)".to_string()),
            Some("EXPKEYSIG") => bad = Some("the signing key has expired (EXPKEYSIG)".into()),
            Some("REVKEYSIG") => bad = Some("the signing key was revoked (REVKEYSIG)".into()),
            Some("NO_PUBKEY") => {
                bad = Some(format!(
                    "it was made by key {}, not by the key embedded in .sig_key (NO_PUBKEY)",
                    words.next().unwrap_or("?")
                ))
            }
            Some("ERRSIG") if bad.is_none() => bad = Some("gpgv cannot check it (ERRSIG)".into()),
            _ => {}
        }
    }
    match (fingerprint, bad) {
        (Some(fingerprint), None) if success => Signature::Valid { fingerprint, signer },
        (_, Some(reason)) => Signature::Invalid { reason },
        _ => Signature::Invalid {
            reason: "gpgv did not accept it".into(),
        },
    }
}

/// The lowercase hex SHA-256 of the file with `zeroed` read as zeros.
fn digest_with_zeroed(path: &Path, zeroed: &[&Section]) -> std::io::Result<String> {
    let mut f = std::io::BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for s in zeroed {
            let (a, b) = (s.offset.max(pos), (s.offset + s.size).min(pos + n as u64));
            if a < b {
                buf[(a - pos) as usize..(b - pos) as usize].fill(0);
            }
        }
        h.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(hex::encode(h.finalize()))
}

/// An OpenPGP key as binary packets (what gpgv takes as a keyring): an
/// ASCII-armored block decoded, binary bytes as they are.
fn dearmor(key: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(key).ok();
    let Some(text) = text.filter(|t| t.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----")) else {
        // Binary packets start with a tag byte with the high bit set.
        return key.first().is_some_and(|b| b & 0x80 != 0).then(|| key.to_vec());
    };
    let body = text.split("-----BEGIN PGP PUBLIC KEY BLOCK-----").nth(1)?;
    let body = body.split("-----END PGP PUBLIC KEY BLOCK-----").next()?;
    // Armor headers end at the first blank line; the checksum line starts with `=`.
    let mut lines = body.lines().map(str::trim);
    let mut b64 = String::new();
    let mut in_headers = true;
    for l in lines.by_ref() {
        if in_headers {
            if l.is_empty() {
                in_headers = false;
            }
            continue;
        }
        if l.starts_with('=') {
            break;
        }
        b64.push_str(l);
    }
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back() {
        for s in [
            Signature::Unsigned,
            Signature::Valid {
                fingerprint: "ABCD".into(),
                signer: "A B <a@b>".into(),
            },
            Signature::Invalid {
                reason: "the file changed".into(),
            },
            Signature::Unchecked {
                reason: "no gpgv".into(),
            },
        ] {
            assert_eq!(Signature::parse(&s.record()), s);
        }
        assert!(matches!(Signature::parse("forged"), Signature::Unchecked { .. }));
    }

    #[test]
    fn gpgv_status_lines() {
        let good =
            "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 1122334455667788 Test <t@x>\n[GNUPG:] VALIDSIG AABB 2026-01-01 0\n";
        assert_eq!(
            read_status(good, true),
            Signature::Valid {
                fingerprint: "AABB".into(),
                signer: "Test <t@x>".into()
            }
        );
        assert!(matches!(read_status(good, false), Signature::Invalid { .. }));
        let bad = "[GNUPG:] NEWSIG\n[GNUPG:] BADSIG 1122334455667788 Test <t@x>\n";
        assert!(matches!(read_status(bad, false), Signature::Invalid { reason } if reason.contains("BADSIG")));
    }

    #[test]
    fn sections_of_this_binary() {
        let exe = std::env::current_exe().unwrap();
        let s = sections(&exe).unwrap();
        assert!(s.iter().any(|s| s.name == ".text"), "{s:?}");
        assert_eq!(update_info(&exe).unwrap(), None);
        assert_eq!(verify(&exe).unwrap(), Signature::Unsigned);
    }
}
