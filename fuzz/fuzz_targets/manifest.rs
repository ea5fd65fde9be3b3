//! The manifest reader (`env::manifest`) on arbitrary JSON values (what a
//! `magnet.jsonnet` evaluates to), with the same text as the manifest file
//! its error messages point into: a manifest or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let manifest = dir.path().join("magnet.jsonnet");
    std::fs::write(&manifest, data).expect("the manifest is written");
    let _ = magpkg::env::manifest::parse(&value, &manifest, dir.path());
    let text = String::from_utf8_lossy(data);
    for key in ["packages", "env", "path", "scripts", "shellHook", "pure", "oci", "name"] {
        let _ = magpkg::env::manifest::find_key_line(&text, key);
    }
});
