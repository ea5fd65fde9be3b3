//! The software bill of materials of an image or tarball, as an SPDX 2.3
//! JSON document.
//!
//! Every package of the closure is an SPDX package; every source file it was
//! built from is one too (with its file name, sha256 and the URLs it can be
//! fetched from), linked by `GENERATED_FROM`. Runtime dependencies are
//! `DEPENDS_ON`; the document `DESCRIBES` the roots. Nothing in it depends on
//! the time or the machine, so it is as reproducible as the image.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::ClosurePackage;
use crate::model::PackageId;

pub const MEDIA_TYPE: &str = "application/spdx+json";

/// The SPDX document for `packages` (the closure) with `roots` described.
pub fn document(name: &str, created: &str, roots: &[PackageId], packages: &[ClosurePackage]) -> Value {
    let mut ids: Vec<&str> = packages.iter().map(|p| p.id.as_str()).collect();
    ids.sort();
    // Unique per content, the same for the same closure: SPDX wants a URI
    // that identifies this document, not a random one.
    let ns_digest = crate::hash::digest("magpkg-sbom-v1", ids.join("\n").as_bytes());
    let mut spdx_packages = Vec::new();
    let mut relationships = Vec::new();
    let mut seen_sources = BTreeSet::new();
    for r in roots {
        relationships.push(json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": package_ref(r),
        }));
    }
    let mut sorted: Vec<&ClosurePackage> = packages.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for p in sorted {
        let mut pkg = serde_json::Map::new();
        pkg.insert("SPDXID".into(), json!(package_ref(&p.id)));
        pkg.insert("name".into(), json!(p.name));
        pkg.insert("versionInfo".into(), json!(p.version));
        let download = p
            .sources
            .first()
            .and_then(|s| s.urls.first())
            .cloned()
            .unwrap_or_else(|| "NOASSERTION".into());
        pkg.insert("downloadLocation".into(), json!(download));
        pkg.insert("filesAnalyzed".into(), json!(false));
        if let Some(h) = &p.meta.homepage {
            pkg.insert("homepage".into(), json!(h));
        }
        if let Some(d) = &p.meta.description {
            pkg.insert("summary".into(), json!(d));
        }
        let (declared, comment) = license(p.meta.license.as_deref());
        pkg.insert("licenseConcluded".into(), json!("NOASSERTION"));
        pkg.insert("licenseDeclared".into(), json!(declared));
        if let Some(c) = comment {
            pkg.insert("licenseComments".into(), json!(c));
        }
        pkg.insert("copyrightText".into(), json!("NOASSERTION"));
        pkg.insert("primaryPackagePurpose".into(), json!("APPLICATION"));
        pkg.insert(
            "externalRefs".into(),
            json!([{
                "referenceCategory": "OTHER",
                "referenceType": "magpkg-id",
                "referenceLocator": p.id.as_str(),
            }]),
        );
        spdx_packages.push(Value::Object(pkg));
        for s in &p.sources {
            let sref = source_ref(&s.sha256, &s.filename);
            relationships.push(json!({
                "spdxElementId": package_ref(&p.id),
                "relationshipType": "GENERATED_FROM",
                "relatedSpdxElement": sref,
            }));
            if !seen_sources.insert(sref.clone()) {
                continue;
            }
            let mut src = serde_json::Map::new();
            src.insert("SPDXID".into(), json!(sref));
            src.insert("name".into(), json!(s.filename));
            src.insert("packageFileName".into(), json!(s.filename));
            src.insert(
                "downloadLocation".into(),
                json!(s.urls.first().map(String::as_str).unwrap_or("NOASSERTION")),
            );
            if !s.urls.is_empty() {
                src.insert("sourceInfo".into(), json!(format!("origins: {}", s.urls.join(" "))));
            }
            src.insert("filesAnalyzed".into(), json!(false));
            src.insert(
                "checksums".into(),
                json!([{"algorithm": "SHA256", "checksumValue": s.sha256.to_ascii_lowercase()}]),
            );
            src.insert("licenseConcluded".into(), json!("NOASSERTION"));
            src.insert("licenseDeclared".into(), json!("NOASSERTION"));
            src.insert("copyrightText".into(), json!("NOASSERTION"));
            src.insert("primaryPackagePurpose".into(), json!("SOURCE"));
            spdx_packages.push(Value::Object(src));
        }
        let mut deps: Vec<&PackageId> = p.run_deps.iter().collect();
        deps.sort();
        deps.dedup();
        for d in deps {
            relationships.push(json!({
                "spdxElementId": package_ref(&p.id),
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": package_ref(d),
            }));
        }
    }
    // Sources are listed after the package that first names them; order the
    // whole list by SPDX id so the document does not depend on closure order.
    spdx_packages.sort_by(|a, b| a["SPDXID"].as_str().cmp(&b["SPDXID"].as_str()));
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("urn:magpkg:sbom:{}", &ns_digest[..32]),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: magpkg-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": spdx_packages,
        "relationships": relationships,
    })
}

fn package_ref(id: &PackageId) -> String {
    format!("SPDXRef-Package-{}", id.as_str())
}

fn source_ref(sha256: &str, filename: &str) -> String {
    // SPDX ids allow letters, digits, `.` and `-` only.
    let clean: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "SPDXRef-Source-{}-{clean}",
        &sha256.to_ascii_lowercase()[..16.min(sha256.len())]
    )
}

/// A declared license: the definition's text if it reads as an SPDX license
/// expression, else NOASSERTION with the text kept as a comment.
fn license(text: Option<&str>) -> (String, Option<String>) {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return ("NOASSERTION".into(), None);
    };
    let looks_spdx = t
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .all(|w| {
            matches!(w, "AND" | "OR" | "WITH")
                || w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | ':'))
        });
    if looks_spdx {
        (t.to_string(), None)
    } else {
        ("NOASSERTION".into(), Some(format!("declared as: {t}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_expressions_pass_and_prose_is_kept_as_comment() {
        assert_eq!(license(Some("GPL-3.0-or-later")).0, "GPL-3.0-or-later");
        assert_eq!(license(Some("MIT OR Apache-2.0")).0, "MIT OR Apache-2.0");
        let (l, c) = license(Some("BSD, see COPYING"));
        assert_eq!(l, "NOASSERTION");
        assert!(c.unwrap().contains("see COPYING"));
        assert_eq!(license(None).0, "NOASSERTION");
    }

    #[test]
    fn source_ids_are_valid_spdx_ids() {
        let r = source_ref(&"a".repeat(64), "hello_2.10.orig.tar.gz");
        assert!(r.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    }
}
