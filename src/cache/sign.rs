//! Ed25519 keys and record signatures.
//!
//! A key has a name; its public half is written `NAME:BASE64` (32 bytes),
//! a signature `NAME:BASE64` (64 bytes). The name only says which trusted
//! key to check a signature with: two keys count as two votes only if their
//! public keys differ. Secret keys live in `<state>/keys/NAME.secret`
//! (mode 0600, the 32-byte seed as `NAME:BASE64`), next to `NAME.public`.

use fs_err as fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};

use super::CacheError;
use crate::settings::Settings;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A public key others' records are checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    key: VerifyingKey,
}

/// A secret key records are signed with.
pub struct SecretKey {
    pub name: String,
    key: SigningKey,
}

pub fn check_name(name: &str) -> Result<(), CacheError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CacheError::BadKeyName { name: name.into() })
    }
}

/// `NAME:BASE64` → (name, decoded bytes of length `N`).
fn split_key<const N: usize>(text: &str, what: &str) -> Result<(String, [u8; N]), CacheError> {
    let bad = || CacheError::BadKey {
        what: what.into(),
        text: text.into(),
    };
    let (name, b64) = text.trim().split_once(':').ok_or_else(bad)?;
    check_name(name).map_err(|_| bad())?;
    let bytes = B64.decode(b64).map_err(|_| bad())?;
    let arr: [u8; N] = bytes.try_into().map_err(|_| bad())?;
    Ok((name.to_string(), arr))
}

impl PublicKey {
    /// Parse `NAME:BASE64`; `what` says where the text came from.
    pub fn parse(text: &str, what: &str) -> Result<PublicKey, CacheError> {
        let (name, bytes) = split_key::<32>(text, what)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| CacheError::BadKey {
            what: what.into(),
            text: text.into(),
        })?;
        Ok(PublicKey { name, key })
    }

    pub fn bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, B64.encode(self.key.to_bytes()))
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate(name: &str) -> Result<SecretKey, CacheError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            CacheError::Io(std::io::Error::other(format!(
                "cannot read the operating system's random source: {e}"
            )))
        })?;
        Ok(SecretKey {
            name: name.into(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn parse(text: &str, what: &str) -> Result<SecretKey, CacheError> {
        let (name, seed) = split_key::<32>(text, what)?;
        Ok(SecretKey {
            name,
            key: SigningKey::from_bytes(&seed),
        })
    }

    fn to_text(&self) -> String {
        format!("{}:{}\n", self.name, B64.encode(self.key.to_bytes()))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// `NAME:BASE64` signature of a record (see [`super::record::signed_bytes`]).
    pub fn sign(&self, record: &serde_json::Value) -> String {
        let sig = self.key.sign(&super::record::signed_bytes(record));
        format!("{}:{}", self.name, B64.encode(sig.to_bytes()))
    }
}

/// What one signature of a record is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Made by this trusted key.
    Valid(PublicKey),
    /// Named after a trusted key but made by another key or over other bytes.
    Bad(String),
    /// Made by a key nobody trusts.
    Unknown(String),
    Malformed(String),
}

/// Check one `NAME:BASE64` signature over `signed` against the trusted keys.
pub fn check(sig: &str, signed: &[u8], trusted: &[PublicKey]) -> Check {
    let Ok((name, bytes)) = split_key::<64>(sig, "signature") else {
        return Check::Malformed(sig.chars().take(80).collect());
    };
    let sig = ed25519_dalek::Signature::from_bytes(&bytes);
    let mut named = trusted.iter().filter(|k| k.name == name).peekable();
    if named.peek().is_none() {
        return Check::Unknown(name);
    }
    for k in named {
        if k.key.verify(signed, &sig).is_ok() {
            return Check::Valid(k.clone());
        }
    }
    Check::Bad(name)
}

/// The keys that `trustedKeys` names, plus the public half of the signing
/// key: what this machine signed is its own build, which counts as one vote.
pub fn trusted_keys(settings: &Settings) -> Result<Vec<PublicKey>, CacheError> {
    let mut out: Vec<PublicKey> = Vec::new();
    for k in &settings.cache.trusted_keys {
        out.push(PublicKey::parse(k, "trustedKeys")?);
    }
    if let Some(spec) = &settings.cache.signing_key {
        if let Ok(sk) = load_secret(settings, spec) {
            out.push(sk.public());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|k| seen.insert((k.name.clone(), k.bytes())));
    Ok(out)
}

/// Where secret and public key files are kept.
pub fn key_dir(settings: &Settings) -> PathBuf {
    settings.state_dir.join("keys")
}

fn secret_path(settings: &Settings, name: &str) -> PathBuf {
    key_dir(settings).join(format!("{name}.secret"))
}

/// Make a new key `name`; refuses to replace an existing one (records it
/// signed would lose their signer).
pub fn generate_key_file(settings: &Settings, name: &str) -> Result<(PublicKey, PathBuf), CacheError> {
    let key = SecretKey::generate(name)?;
    let dir = key_dir(settings);
    fs::create_dir_all(&dir)?;
    fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let path = secret_path(settings, name);
    // tempfile creates its files with mode 0600: the seed is never readable
    // by others, not even for a moment.
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
    tmp.write_all(key.to_text().as_bytes())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| crate::util::at("sync file", tmp.path(), e))?;
    tmp.persist_noclobber(&path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            CacheError::KeyExists {
                name: name.into(),
                path: path.clone(),
            }
        } else {
            crate::util::at("write file", &path, e.error).into()
        }
    })?;
    fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let public = key.public();
    let pub_path = dir.join(format!("{name}.public"));
    crate::util::write_atomic(&pub_path, format!("{public}\n").as_bytes())?;
    Ok((public, path))
}

/// A secret key by name (in [`key_dir`]) or by path (anything with a `/`).
pub fn load_secret(settings: &Settings, spec: &str) -> Result<SecretKey, CacheError> {
    let path = if spec.contains('/') {
        PathBuf::from(spec)
    } else {
        check_name(spec)?;
        secret_path(settings, spec)
    };
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CacheError::NoKey {
                name: spec.into(),
                path,
            })
        }
        Err(e) => return Err(e.into()),
    };
    SecretKey::parse(&text, &path.display().to_string())
}

/// The public key of a secret key file.
pub fn public_of(settings: &Settings, spec: &str) -> Result<PublicKey, CacheError> {
    load_secret(settings, spec).map(|k| k.public())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, seed: u8) -> SecretKey {
        SecretKey {
            name: name.into(),
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_over_its_record() {
        let rec = super::super::record::tests::sample().to_value();
        let k1 = key("k1", 1);
        let sig = k1.sign(&rec);
        let signed = super::super::record::signed_bytes(&rec);
        let trusted = vec![k1.public()];
        assert_eq!(check(&sig, &signed, &trusted), Check::Valid(k1.public()));
        // Another record (one byte of the digest changed).
        let mut other = rec.clone();
        other["digest"] = format!("blake3:{}", "ac".repeat(32)).into();
        let other_signed = super::super::record::signed_bytes(&other);
        assert_eq!(check(&sig, &other_signed, &trusted), Check::Bad("k1".into()));
        // Same name, other key: an impostor.
        let impostor = key("k1", 2);
        assert_eq!(check(&impostor.sign(&rec), &signed, &trusted), Check::Bad("k1".into()));
        // A key nobody trusts.
        assert_eq!(
            check(&key("k9", 9).sign(&rec), &signed, &trusted),
            Check::Unknown("k9".into())
        );
        assert!(matches!(check("junk", &signed, &trusted), Check::Malformed(_)));
        assert!(matches!(check("k1:AAAA", &signed, &trusted), Check::Malformed(_)));
    }

    #[test]
    fn keys_round_trip_through_their_text() {
        let k = key("ci.example-1", 7);
        let p = PublicKey::parse(&k.public().to_string(), "test").unwrap();
        assert_eq!(p, k.public());
        let again = SecretKey::parse(&k.to_text(), "test").unwrap();
        assert_eq!(again.public(), k.public());
        assert!(PublicKey::parse("no-colon", "test").is_err());
        assert!(PublicKey::parse("bad name:AAAA", "test").is_err());
        assert!(PublicKey::parse("k:AAAA", "test").is_err(), "too short");
        assert!(check_name("../x").is_err() && check_name("").is_err() && check_name(".hidden").is_err());
        let a = SecretKey::generate("a").unwrap();
        let b = SecretKey::generate("a").unwrap();
        assert_ne!(a.public(), b.public(), "fresh randomness each time");
    }
}
