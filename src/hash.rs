//! Canonical encoding of package definitions and their BLAKE3 ids.
//!
//! A package id is the BLAKE3 digest, under the domain tag
//! [`PACKAGE_DOMAIN`], of the canonical JSON ([`canonical_json`]) of the
//! definition's *identity*: `name`, `version`, `sources` reduced to
//! `filename` + `sha256` (in order), `build`, `env`, and `buildDeps` /
//! `runDeps` as lists of the dependencies' ids (in order). `meta`, `oci` and
//! the sources' `urls` are left out: they describe a package or say where to
//! get its sources, they do not change what is built.
//!
//! The id is the first [`ID_HEX_LEN`] hex digits (128 bits) of the digest,
//! short enough for store paths, far beyond collision range.
//!
//! The encoding is versioned by the domain tag; golden-digest tests
//! (`tests/it/eval.rs`, and the unit tests below) pin it so an id never changes
//! by accident. Changing it means a new tag (`magpkg-package-v2`).

use crate::error::Classify;
use crate::model::{Build, Package, PackageId};

/// Domain tag of package ids; bump the version when the encoding changes.
pub const PACKAGE_DOMAIN: &str = "magpkg-package-v1";

/// Hex digits of a package id (128 bits).
pub const ID_HEX_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot encode {what}: {problem}")]
    Encode { what: String, problem: String },
}

impl Classify for HashError {
    fn is_user_error(&self) -> bool {
        true
    }
}

/// Canonical JSON bytes: sorted keys, no whitespace, numbers as written by
/// serde_json. Shared by package ids, environment ids and OCI digests.
///
/// Keys are sorted by their UTF-8 bytes; strings use serde_json's escaping
/// (only `"`, `\` and control characters are escaped), so equal values give
/// equal bytes whatever order their objects were built in.
pub fn canonical_json(v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        // Null, booleans and numbers have one serde_json spelling each.
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string serialisation is deterministic and cannot fail.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// BLAKE3 of `bytes` under a domain tag (e.g. `magpkg-package-v1`), hex.
pub fn digest(domain: &str, bytes: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(domain.as_bytes());
    h.update(b"\0");
    h.update(bytes);
    h.finalize().to_hex().to_string()
}

/// The identity of a package as canonical-JSON-ready value: everything that
/// determines what gets built, with dependencies by id. `p.id` is ignored.
pub fn package_identity(p: &Package) -> serde_json::Value {
    let sources: Vec<serde_json::Value> = p
        .sources
        .iter()
        .map(|s| serde_json::json!({ "filename": s.filename, "sha256": s.sha256 }))
        .collect();
    let build = match &p.build {
        Build::Script(s) => serde_json::Value::String(s.clone()),
        Build::Builtin(m) => serde_json::Value::Object(m.clone().into_iter().collect()),
    };
    let ids = |v: &[PackageId]| -> Vec<String> { v.iter().map(|i| i.as_str().to_string()).collect() };
    serde_json::json!({
        "name": p.name,
        "version": p.version,
        "sources": sources,
        "build": build,
        "buildDeps": ids(&p.build_deps),
        "runDeps": ids(&p.run_deps),
        "env": p.env,
    })
}

/// The id of a package definition (its dependencies' ids must be set).
pub fn package_id(p: &Package) -> PackageId {
    let full = digest(PACKAGE_DOMAIN, &canonical_json(&package_identity(p)));
    PackageId::from_string(full[..ID_HEX_LEN].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let a = json!({"b": 1, "a": [true, null, "x\"y"], "c": {"z": 1.5, "y": -2}});
        assert_eq!(
            String::from_utf8(canonical_json(&a)).unwrap(),
            r#"{"a":[true,null,"x\"y"],"b":1,"c":{"y":-2,"z":1.5}}"#
        );
        // Insertion order does not matter.
        let b: serde_json::Value =
            serde_json::from_str(r#"{"c":{"y":-2,"z":1.5},"b":1,"a":[true,null,"x\"y"]}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn canonical_json_escapes_like_json() {
        let v = json!({"k\n": "tab\there é"});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            "{\"k\\n\":\"tab\\there é\"}"
        );
    }

    #[test]
    fn digest_is_domain_separated() {
        // Golden: BLAKE3("magpkg-package-v1\0{}").
        let d = digest(PACKAGE_DOMAIN, b"{}");
        assert_eq!(d.len(), 64);
        assert_ne!(d, digest("magpkg-env-v1", b"{}"));
        assert_eq!(d, blake3::hash(b"magpkg-package-v1\0{}").to_hex().to_string());
    }

    fn sample() -> Package {
        use crate::model::{Meta, Source};
        Package {
            id: PackageId::from_string(String::new()),
            name: "hello".into(),
            version: "2.10".into(),
            sources: vec![Source {
                filename: "hello-2.10.tar.gz".into(),
                sha256: "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b".into(),
                urls: vec!["mirror://debian/pool/main/h/hello/hello_2.10.orig.tar.gz".into()],
            }],
            build: Build::Script("./configure --prefix=/ && make install DESTDIR=\"$out\"".into()),
            build_deps: vec![PackageId::from_string("0123456789abcdef0123456789abcdef".into())],
            run_deps: vec![],
            env: [("HELLO".to_string(), "$out/share".to_string())].into(),
            meta: Meta {
                description: Some("greets".into()),
                ..Meta::default()
            },
            oci: None,
        }
    }

    /// Golden: pins the v1 encoding. If this fails, every package id has
    /// changed: that needs a new domain tag, not a new expected value.
    #[test]
    fn golden_package_encoding_and_id() {
        let p = sample();
        assert_eq!(
            String::from_utf8(canonical_json(&package_identity(&p))).unwrap(),
            GOLDEN_ENCODING
        );
        assert_eq!(package_id(&p).as_str(), GOLDEN_ID);
    }

    const GOLDEN_ENCODING: &str = r#"{"build":"./configure --prefix=/ && make install DESTDIR=\"$out\"","buildDeps":["0123456789abcdef0123456789abcdef"],"env":{"HELLO":"$out/share"},"name":"hello","runDeps":[],"sources":[{"filename":"hello-2.10.tar.gz","sha256":"31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b"}],"version":"2.10"}"#;
    const GOLDEN_ID: &str = "6accf6be5a53388592c973b2dd09ed1a";

    #[test]
    fn id_ignores_urls_meta_oci_and_follows_the_rest() {
        let base = package_id(&sample());
        let mut p = sample();
        p.sources[0]
            .urls
            .push("https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz".into());
        p.meta.license = Some("GPL-3.0-or-later".into());
        p.oci = Some(serde_json::json!({"entrypoint": ["/bin/hello"]}));
        assert_eq!(package_id(&p), base);

        let changed = |f: &dyn Fn(&mut Package)| {
            let mut p = sample();
            f(&mut p);
            package_id(&p)
        };
        assert_ne!(changed(&|p| p.build = Build::Script("make".into())), base);
        assert_ne!(changed(&|p| p.sources[0].sha256 = "0".repeat(64)), base);
        assert_ne!(changed(&|p| p.sources[0].filename = "hello.tgz".into()), base);
        assert_ne!(changed(&|p| p.build_deps.clear()), base);
        assert_ne!(changed(&|p| p.run_deps = p.build_deps.clone()), base);
        assert_ne!(changed(&|p| p.env.clear()), base);
        assert_ne!(changed(&|p| p.version = "2.12".into()), base);
        // The id is a function of the definition, not of a previous id.
        assert_eq!(changed(&|p| p.id = PackageId::from_string("x".into())), base);
    }
}
