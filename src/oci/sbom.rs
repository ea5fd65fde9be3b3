//! The software bill of materials of an image or tarball, as an SPDX 2.3
//! JSON document and a CycloneDX 1.6 JSON document.
//!
//! Both list every package of the runtime closure and every package it was
//! built with (the build closure: the bootstrap root and what it holds),
//! each with its name, version, a package URL (`pkg:generic/NAME@VERSION`
//! with the first source's download URL and sha256), its declared license
//! and the source files it was built from (file name, sha256, every origin).
//! A `.deb` source is a package of its own (`pkg:deb/debian/NAME@VERSION`),
//! so the Debian packages of the build root, the static C library (musl)
//! among them, are named as scanners know them. A package with a statically
//! linked executable built with a root holding `musl-dev` is said to link
//! it statically (SPDX `STATIC_LINK`; CycloneDX: it depends on it).
//!
//! Licenses: an SPDX expression whose identifiers are all on the SPDX
//! license list is kept (in canonical case), a few unambiguous prose forms
//! (`Apache 2.0`, `GPLv3+`, `MIT License`, `Public Domain`...) are mapped,
//! `LicenseRef-*` identifiers get the extracted-licensing entry SPDX
//! requires, and anything else is `NOASSERTION` with the text in a comment.
//! Nothing depends on the time or the machine but `created`.

use std::collections::{BTreeMap, BTreeSet};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::ClosurePackage;
use crate::model::{PackageId, Source};

/// Media type (and OCI artifact type) of the SPDX document.
pub const MEDIA_TYPE: &str = "application/spdx+json";
/// Media type (and OCI artifact type) of the CycloneDX document.
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// What the documents describe: the shipped closure and its build inputs.
pub struct Input<'a> {
    pub name: &'a str,
    pub created: &'a str,
    pub roots: &'a [PackageId],
    /// The runtime closure: what the image holds.
    pub packages: &'a [ClosurePackage],
    /// Packages only needed to build them (not in the image).
    pub build_inputs: &'a [ClosurePackage],
}

impl Input<'_> {
    fn all(&self) -> Vec<(&ClosurePackage, bool)> {
        let mut v: Vec<(&ClosurePackage, bool)> = self
            .packages
            .iter()
            .map(|p| (p, true))
            .chain(self.build_inputs.iter().map(|p| (p, false)))
            .collect();
        v.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        v
    }

    fn get(&self, id: &PackageId) -> Option<&ClosurePackage> {
        self.packages.iter().chain(self.build_inputs).find(|p| &p.id == id)
    }

    /// Digest naming this document set: the same for the same closure.
    fn digest(&self) -> String {
        let mut ids: Vec<&str> = self
            .packages
            .iter()
            .chain(self.build_inputs)
            .map(|p| p.id.as_str())
            .collect();
        ids.sort();
        crate::hash::digest(
            "magpkg-sbom-v1",
            format!("{}\n{}", self.name, ids.join("\n")).as_bytes(),
        )
    }

    /// The static C library `p` links: the `musl-dev` (or musl source)
    /// among the sources of its build closure, when `p` has a statically
    /// linked executable.
    fn static_libc(&self, p: &ClosurePackage) -> Option<&Source> {
        if !p.static_exe {
            return None;
        }
        let mut todo: Vec<&PackageId> = p.build_deps.iter().collect();
        let mut seen = BTreeSet::new();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(d) = self.get(id) else { continue };
            if let Some(s) = d.sources.iter().find(|s| is_static_libc(&s.filename)) {
                return Some(s);
            }
            todo.extend(d.run_deps.iter().chain(&d.build_deps));
        }
        None
    }
}

/// Is this source file the static C library (musl's `libc.a`)?
fn is_static_libc(filename: &str) -> bool {
    match deb_parts(filename) {
        Some((name, _, _)) => name == "musl-dev",
        None => filename.starts_with("musl-") && filename.contains(".tar"),
    }
}

/// `NAME_VERSION_ARCH.deb` → its parts.
fn deb_parts(filename: &str) -> Option<(&str, &str, &str)> {
    let stem = filename.strip_suffix(".deb")?;
    let mut it = stem.splitn(3, '_');
    let (n, v, a) = (it.next()?, it.next()?, it.next()?);
    (!n.is_empty() && !v.is_empty() && !a.is_empty()).then_some((n, v, a))
}

/// Characters a purl component keeps as is (the rest is percent-encoded).
const PURL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_').remove(b'~');
/// In qualifier values `:` and `/` stay, as in the spec's examples.
const PURL_VALUE: &AsciiSet = &PURL.remove(b':').remove(b'/');

fn enc(s: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(s, set).to_string()
}

/// The first URL a generic tool can download from (not `mirror://`, a
/// magnet link or a local file).
fn download_url(s: &Source) -> Option<&str> {
    s.urls
        .iter()
        .map(String::as_str)
        .find(|u| u.starts_with("https://") || u.starts_with("http://") || u.starts_with("ftp://"))
}

/// `pkg:generic/NAME@VERSION?checksum=sha256:…&download_url=…` of a package.
pub fn package_purl(p: &ClosurePackage) -> String {
    let mut purl = format!("pkg:generic/{}@{}", enc(&p.name, PURL), enc(&p.version, PURL));
    if let Some(s) = p.sources.first() {
        // Qualifiers in lexical order of their keys, as the spec asks.
        purl.push_str(&format!("?checksum=sha256:{}", s.sha256.to_ascii_lowercase()));
        if let Some(u) = download_url(s) {
            purl.push_str(&format!("&download_url={}", enc(u, PURL_VALUE)));
        }
    }
    purl
}

/// The purl of a source file: `pkg:deb/debian/…` for a `.deb`, else
/// `pkg:generic/FILENAME?checksum=…`.
fn source_purl(s: &Source) -> String {
    match deb_parts(&s.filename) {
        Some((n, v, a)) => format!("pkg:deb/debian/{}@{}?arch={}", enc(n, PURL), enc(v, PURL), enc(a, PURL)),
        None => {
            let mut purl = format!(
                "pkg:generic/{}?checksum=sha256:{}",
                enc(&s.filename, PURL),
                s.sha256.to_ascii_lowercase()
            );
            if let Some(u) = download_url(s) {
                purl.push_str(&format!("&download_url={}", enc(u, PURL_VALUE)));
            }
            purl
        }
    }
}

// --------------------------------------------------------------- licenses

/// A declared license, mapped for SBOMs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// An SPDX license expression, or `NOASSERTION`.
    pub expression: String,
    /// `LicenseRef-*` identifiers the expression uses.
    pub refs: Vec<String>,
    /// The declared text, when it is not what `expression` says.
    pub declared: Option<String>,
}

/// Prose seen in package definitions, whole, case-insensitive.
const ALIASES: &[(&str, &str)] = &[
    ("apache 2.0", "Apache-2.0"),
    ("apache 2", "Apache-2.0"),
    ("apache-2", "Apache-2.0"),
    ("apache license 2.0", "Apache-2.0"),
    ("apache license, version 2.0", "Apache-2.0"),
    ("asl 2.0", "Apache-2.0"),
    ("mit license", "MIT"),
    ("expat", "MIT"),
    ("bsd 2-clause", "BSD-2-Clause"),
    ("bsd 3-clause", "BSD-3-Clause"),
    ("gplv2", "GPL-2.0-only"),
    ("gplv2+", "GPL-2.0-or-later"),
    ("gpl-2+", "GPL-2.0-or-later"),
    ("gplv3", "GPL-3.0-only"),
    ("gplv3+", "GPL-3.0-or-later"),
    ("gpl-3+", "GPL-3.0-or-later"),
    ("lgplv2.1", "LGPL-2.1-only"),
    ("lgplv2.1+", "LGPL-2.1-or-later"),
    ("lgplv3", "LGPL-3.0-only"),
    ("lgplv3+", "LGPL-3.0-or-later"),
    ("public domain", "LicenseRef-Public-Domain"),
    ("zlib license", "Zlib"),
];

/// Map a declared license text (see the module documentation).
pub fn license(text: Option<&str>) -> License {
    let none = |declared: Option<String>| License {
        expression: "NOASSERTION".into(),
        refs: Vec::new(),
        declared,
    };
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return none(None);
    };
    if let Some((_, id)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(t)) {
        let refs = if id.starts_with("LicenseRef-") {
            vec![id.to_string()]
        } else {
            Vec::new()
        };
        return License {
            expression: id.to_string(),
            refs,
            declared: Some(t.into()),
        };
    }
    match expression(t) {
        Some((expression, refs)) => {
            let declared = (expression != t).then(|| t.to_string());
            License {
                expression,
                refs,
                declared,
            }
        }
        None => none(Some(t.into())),
    }
}

/// Parse `t` as an SPDX expression over known identifiers; returns it in
/// canonical form and its `LicenseRef-*` identifiers.
fn expression(t: &str) -> Option<(String, Vec<String>)> {
    let spaced = t.replace('(', " ( ").replace(')', " ) ");
    let mut out = Vec::new();
    let mut refs = Vec::new();
    // What the grammar allows next: a license (true) or an operator.
    let mut want_license = true;
    let mut after_with = false;
    let mut depth = 0i32;
    for w in spaced.split_whitespace() {
        let op = w.to_ascii_uppercase();
        match (w, op.as_str()) {
            ("(", _) if want_license => {
                depth += 1;
                out.push("(".to_string());
            }
            (")", _) if !want_license => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
                out.push(")".into());
            }
            (_, "AND" | "OR") if !want_license => {
                out.push(op);
                want_license = true;
            }
            (_, "WITH") if !want_license => {
                out.push(op);
                want_license = true;
                after_with = true;
            }
            _ if want_license && after_with => {
                out.push(spdx::exception_id(w)?.name.to_string());
                want_license = false;
                after_with = false;
            }
            _ if want_license => {
                if let Some(r) = w.strip_prefix("LicenseRef-") {
                    if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                        return None;
                    }
                    refs.push(w.to_string());
                    out.push(w.to_string());
                } else {
                    let (base, plus) = match w.strip_suffix('+') {
                        Some(b) => (b, "+"),
                        None => (w, ""),
                    };
                    out.push(format!("{}{plus}", canonical_case(base)?));
                }
                want_license = false;
            }
            _ => return None,
        }
    }
    if want_license || depth != 0 {
        return None;
    }
    refs.sort();
    refs.dedup();
    Some((out.join(" ").replace("( ", "(").replace(" )", ")"), refs))
}

/// The identifier on the SPDX list spelled like `w` but for case.
fn canonical_case(w: &str) -> Option<&'static str> {
    spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(w))
        .map(|l| l.name)
}

/// The text given for a `LicenseRef-*` identifier: SPDX requires one, and
/// magpkg has only the declaration of the packages that use it.
fn extracted_text(id: &str, declared_by: &[String]) -> String {
    format!(
        "{id} is declared by the package definitions of {}; the license text is in their sources.",
        declared_by.join(", ")
    )
}

// ------------------------------------------------------------------- SPDX

fn package_ref(id: &PackageId) -> String {
    format!("SPDXRef-Package-{}", id.as_str())
}

fn source_ref(s: &Source) -> String {
    // SPDX ids allow letters, digits, `.` and `-` only.
    let clean: String = s
        .filename
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
        &s.sha256.to_ascii_lowercase()[..16.min(s.sha256.len())]
    )
}

/// A value SPDX accepts as a download location.
fn spdx_location(s: &Source) -> String {
    download_url(s).unwrap_or("NOASSERTION").to_string()
}

/// The SPDX 2.3 document.
pub fn spdx(input: &Input) -> Value {
    let digest = input.digest();
    let mut packages: Vec<Value> = Vec::new();
    let mut relationships = Vec::new();
    let mut seen_sources = BTreeSet::new();
    // LicenseRef id → packages declaring it.
    let mut license_refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let rel = |a: String, kind: &str, b: String| json!({"spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b});
    for r in input.roots {
        relationships.push(rel("SPDXRef-DOCUMENT".into(), "DESCRIBES", package_ref(r)));
    }
    if input.roots.is_empty() {
        // An empty environment: the document describes the (empty) image,
        // as SPDX wants it to describe something.
        packages.push(json!({
            "SPDXID": "SPDXRef-Image",
            "name": input.name,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "CONTAINER",
            "comment": "an image of an environment with no packages",
        }));
        relationships.push(rel("SPDXRef-DOCUMENT".into(), "DESCRIBES", "SPDXRef-Image".into()));
    }
    for (p, shipped) in input.all() {
        let mut pkg = Map::new();
        pkg.insert("SPDXID".into(), json!(package_ref(&p.id)));
        pkg.insert("name".into(), json!(p.name));
        pkg.insert("versionInfo".into(), json!(p.version));
        let download = p.sources.first().map_or("NOASSERTION".into(), spdx_location);
        pkg.insert("downloadLocation".into(), json!(download));
        pkg.insert("filesAnalyzed".into(), json!(false));
        if let Some(h) = &p.meta.homepage {
            pkg.insert("homepage".into(), json!(h));
        }
        if let Some(d) = &p.meta.description {
            pkg.insert("summary".into(), json!(d));
        }
        let lic = license(p.meta.license.as_deref());
        for r in &lic.refs {
            license_refs.entry(r.clone()).or_default().push(p.name.clone());
        }
        pkg.insert("licenseConcluded".into(), json!("NOASSERTION"));
        pkg.insert("licenseDeclared".into(), json!(lic.expression));
        if let Some(d) = &lic.declared {
            pkg.insert("licenseComments".into(), json!(format!("declared as: {d}")));
        }
        pkg.insert("copyrightText".into(), json!("NOASSERTION"));
        pkg.insert(
            "primaryPackagePurpose".into(),
            json!(if shipped { "APPLICATION" } else { "OTHER" }),
        );
        if !shipped {
            pkg.insert("comment".into(), json!("a build input: not in the image"));
        }
        pkg.insert(
            "externalRefs".into(),
            json!([
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": package_purl(p)},
                {"referenceCategory": "OTHER", "referenceType": "magpkg-id", "referenceLocator": p.id.as_str()},
            ]),
        );
        packages.push(Value::Object(pkg));
        for s in &p.sources {
            let sref = source_ref(s);
            relationships.push(rel(package_ref(&p.id), "GENERATED_FROM", sref.clone()));
            if seen_sources.insert(sref.clone()) {
                packages.push(spdx_source(s, &sref));
            }
        }
        let mut deps: Vec<&PackageId> = p.run_deps.iter().collect();
        deps.sort();
        deps.dedup();
        for d in deps {
            relationships.push(rel(package_ref(&p.id), "DEPENDS_ON", package_ref(d)));
        }
        let mut bdeps: Vec<&PackageId> = p.build_deps.iter().collect();
        bdeps.sort();
        bdeps.dedup();
        for d in bdeps {
            relationships.push(rel(package_ref(d), "BUILD_DEPENDENCY_OF", package_ref(&p.id)));
        }
        if let Some(libc) = input.static_libc(p) {
            relationships.push(rel(package_ref(&p.id), "STATIC_LINK", source_ref(libc)));
        }
    }
    // Sources are listed after the package that first names them; order the
    // whole list by SPDX id so the document does not depend on closure order.
    packages.sort_by(|a, b| a["SPDXID"].as_str().cmp(&b["SPDXID"].as_str()));
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": input.name,
        "documentNamespace": format!("urn:magpkg:sbom:{}", &digest[..32]),
        "creationInfo": {
            "created": input.created,
            "creators": [format!("Tool: magpkg-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !license_refs.is_empty() {
        doc["hasExtractedLicensingInfos"] = license_refs
            .iter()
            .map(|(id, by)| {
                json!({
                    "licenseId": id,
                    "name": id.trim_start_matches("LicenseRef-"),
                    "extractedText": extracted_text(id, by),
                })
            })
            .collect();
    }
    doc
}

fn spdx_source(s: &Source, sref: &str) -> Value {
    let mut src = Map::new();
    src.insert("SPDXID".into(), json!(sref));
    match deb_parts(&s.filename) {
        Some((name, version, _)) => {
            src.insert("name".into(), json!(name));
            src.insert("versionInfo".into(), json!(version));
            src.insert("supplier".into(), json!("Organization: Debian"));
            src.insert("primaryPackagePurpose".into(), json!("INSTALL"));
        }
        None => {
            src.insert("name".into(), json!(s.filename));
            src.insert("primaryPackagePurpose".into(), json!("SOURCE"));
        }
    }
    src.insert("packageFileName".into(), json!(s.filename));
    src.insert("downloadLocation".into(), json!(spdx_location(s)));
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
    src.insert(
        "externalRefs".into(),
        json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": source_purl(s)}]),
    );
    Value::Object(src)
}

// -------------------------------------------------------------- CycloneDX

fn bom_ref(id: &PackageId) -> String {
    format!("magpkg:{}", id.as_str())
}

fn source_bom_ref(s: &Source) -> String {
    format!("source:{}:{}", s.sha256.to_ascii_lowercase(), s.filename)
}

fn cdx_licenses(text: Option<&str>) -> Value {
    let lic = license(text);
    if lic.expression != "NOASSERTION" {
        json!([{"expression": lic.expression}])
    } else if let Some(d) = lic.declared {
        json!([{"license": {"name": d}}])
    } else {
        json!([])
    }
}

/// A UUID (version 5 form) from a hex digest, for `serialNumber`.
fn uuid_of(hex: &str) -> String {
    let h: Vec<char> = hex.chars().collect();
    let s = |a: usize, b: usize| h[a..b].iter().collect::<String>();
    let variant = "89ab"
        .chars()
        .nth(h[16].to_digit(16).unwrap_or(0) as usize % 4)
        .unwrap_or('8');
    format!(
        "{}-{}-5{}-{variant}{}-{}",
        s(0, 8),
        s(8, 12),
        s(13, 16),
        s(17, 20),
        s(20, 32)
    )
}

/// The CycloneDX 1.6 document.
pub fn cyclonedx(input: &Input) -> Value {
    let digest = input.digest();
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    let mut seen_sources = BTreeSet::new();
    let mut deb_components: BTreeMap<String, Value> = BTreeMap::new();
    for (p, shipped) in input.all() {
        let mut c = Map::new();
        c.insert("type".into(), json!("application"));
        c.insert("bom-ref".into(), json!(bom_ref(&p.id)));
        c.insert("name".into(), json!(p.name));
        c.insert("version".into(), json!(p.version));
        if let Some(d) = &p.meta.description {
            c.insert("description".into(), json!(d));
        }
        c.insert("scope".into(), json!(if shipped { "required" } else { "excluded" }));
        c.insert("licenses".into(), cdx_licenses(p.meta.license.as_deref()));
        c.insert("purl".into(), json!(package_purl(p)));
        let mut refs = Vec::new();
        if let Some(h) = &p.meta.homepage {
            refs.push(json!({"type": "website", "url": h}));
        }
        for s in &p.sources {
            for u in &s.urls {
                refs.push(json!({
                    "type": "source-distribution",
                    "url": u,
                    "comment": s.filename,
                    "hashes": [{"alg": "SHA-256", "content": s.sha256.to_ascii_lowercase()}],
                }));
            }
        }
        if !refs.is_empty() {
            c.insert("externalReferences".into(), Value::Array(refs));
        }
        let mut props = vec![json!({"name": "magpkg:id", "value": p.id.as_str()})];
        let mut bdeps: Vec<&PackageId> = p.build_deps.iter().collect();
        bdeps.sort();
        bdeps.dedup();
        for d in bdeps {
            props.push(json!({"name": "magpkg:buildDependency", "value": bom_ref(d)}));
        }
        c.insert("properties".into(), Value::Array(props));
        // A build root's .deb files are its parts, named as Debian names them.
        let mut parts = Vec::new();
        for s in p.sources.iter().filter(|s| deb_parts(&s.filename).is_some()) {
            if seen_sources.insert(source_bom_ref(s)) {
                let (name, version, _) = deb_parts(&s.filename).expect("filtered");
                let deb = json!({
                    "type": if name.starts_with("lib") || name.starts_with("musl") { "library" } else { "application" },
                    "bom-ref": source_bom_ref(s),
                    "name": name,
                    "version": version,
                    "supplier": {"name": "Debian"},
                    "scope": if shipped { "required" } else { "excluded" },
                    "hashes": [{"alg": "SHA-256", "content": s.sha256.to_ascii_lowercase()}],
                    "purl": source_purl(s),
                    "externalReferences": s.urls.iter().map(|u| json!({"type": "distribution", "url": u})).collect::<Vec<_>>(),
                });
                deb_components.insert(source_bom_ref(s), deb.clone());
                parts.push(deb);
            }
        }
        if !parts.is_empty() {
            c.insert("components".into(), Value::Array(parts));
        }
        components.push(Value::Object(c));
        let mut deps: Vec<String> = p.run_deps.iter().map(bom_ref).collect();
        // Linked into the executables: a part of what is shipped.
        if let Some(libc) = input.static_libc(p) {
            deps.push(source_bom_ref(libc));
        }
        deps.sort();
        deps.dedup();
        dependencies.push(json!({"ref": bom_ref(&p.id), "dependsOn": deps}));
    }
    for r in deb_components.keys() {
        dependencies.push(json!({"ref": r, "dependsOn": []}));
    }
    let mut roots: Vec<String> = input.roots.iter().map(bom_ref).collect();
    roots.dedup();
    dependencies.push(json!({"ref": "image", "dependsOn": roots}));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_of(&digest)),
        "version": 1,
        "metadata": {
            "timestamp": input.created,
            "tools": {"components": [{"type": "application", "name": "magpkg", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": "image", "name": input.name},
        },
        "components": components,
        "dependencies": dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_are_mapped_to_spdx_or_noassertion() {
        assert_eq!(license(Some("GPL-3.0-or-later")).expression, "GPL-3.0-or-later");
        assert_eq!(license(Some("MIT OR Apache-2.0")).expression, "MIT OR Apache-2.0");
        assert_eq!(license(Some("mit or apache-2.0")).expression, "MIT OR Apache-2.0");
        assert_eq!(license(Some("Apache 2.0")).expression, "Apache-2.0");
        assert_eq!(license(Some("GPLv3+")).expression, "GPL-3.0-or-later");
        assert_eq!(
            license(Some(
                "(MIT AND BSD-2-Clause) OR GPL-2.0-or-later WITH Classpath-exception-2.0"
            ))
            .expression,
            "(MIT AND BSD-2-Clause) OR GPL-2.0-or-later WITH Classpath-exception-2.0"
        );
        let x = license(Some("LicenseRef-Public-Domain AND LGPL-2.1-or-later"));
        assert_eq!(x.expression, "LicenseRef-Public-Domain AND LGPL-2.1-or-later");
        assert_eq!(x.refs, vec!["LicenseRef-Public-Domain".to_string()]);
        for prose in [
            "various (Debian main)",
            "BSD, see COPYING",
            "Not-A-License",
            "MIT AND",
            "(MIT",
        ] {
            let l = license(Some(prose));
            assert_eq!(l.expression, "NOASSERTION", "{prose}");
            assert_eq!(l.declared.as_deref(), Some(prose));
        }
        assert_eq!(license(None).expression, "NOASSERTION");
    }

    #[test]
    fn purls_carry_checksum_and_download_url() {
        let s = Source {
            filename: "hello-2.10.tar.gz".into(),
            sha256: "AB".repeat(32),
            urls: vec![
                "mirror://gnu/hello/hello-2.10.tar.gz".into(),
                "https://ftp.example/gnu/hello 2.10.tar.gz".into(),
            ],
        };
        assert_eq!(
            source_purl(&s),
            format!(
                "pkg:generic/hello-2.10.tar.gz?checksum=sha256:{}&download_url=https://ftp.example/gnu/hello%202.10.tar.gz",
                "ab".repeat(32)
            )
        );
        let deb = Source {
            filename: "musl-dev_1.2.3-1_amd64.deb".into(),
            sha256: "0".repeat(64),
            urls: vec!["mirror://debian/pool/main/m/musl/musl-dev_1.2.3-1_amd64.deb".into()],
        };
        assert_eq!(source_purl(&deb), "pkg:deb/debian/musl-dev@1.2.3-1?arch=amd64");
        assert!(is_static_libc(&deb.filename));
        assert!(!is_static_libc("musl-tools_1.2.3-1_amd64.deb"));
    }

    #[test]
    fn ids_are_valid() {
        let s = Source {
            filename: "hello_2.10.orig.tar.gz".into(),
            sha256: "a".repeat(64),
            urls: vec![],
        };
        let r = source_ref(&s);
        assert!(r.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
        let u = uuid_of(&"0123456789abcdef".repeat(4));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
    }
}
