//! JSON: the variables an activation sets, as one object (`null` for a
//! variable it unsets), for programs that apply an environment themselves
//! (the `vars` of `magpkg env --format json`). A value that is not UTF-8 is
//! `{"hex": "..."}`, as in `MAGPKG_DIFF`.

use super::{Change, Dialect};
use crate::env::diff::Val;

/// A value as a JSON string, or `{"hex": ...}` when it is not UTF-8.
pub fn quote(value: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&Val(value.to_vec())).expect("values serialise")
}

fn member(out: &mut Vec<u8>, name: &str, value: Option<&[u8]>) {
    out.extend(serde_json::to_vec(name).expect("names serialise"));
    out.push(b':');
    match value {
        Some(v) => out.extend(quote(v)),
        None => out.extend_from_slice(b"null"),
    }
}

pub struct Json;

impl Dialect for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn quote(&self, value: &[u8]) -> Vec<u8> {
        quote(value)
    }
    /// On its own, a change is a one-member object on a line (JSON Lines).
    fn set(&self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.push(b'{');
        member(out, name, Some(value));
        out.extend_from_slice(b"}\n");
    }
    fn unset(&self, out: &mut Vec<u8>, name: &str) {
        out.push(b'{');
        member(out, name, None);
        out.extend_from_slice(b"}\n");
    }
    /// All changes: one object.
    fn script(&self, changes: &[Change]) -> Vec<u8> {
        let mut out = vec![b'{'];
        for (i, c) in changes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match *c {
                Change::Set { name, value } | Change::Prepend { name, value, .. } => {
                    member(&mut out, name, Some(value))
                }
                Change::Unset { name } => member(&mut out, name, None),
            }
        }
        out.extend_from_slice(b"}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::{require, HOSTILE};

    /// jq reads every value back: a string byte for byte (`-j` prints it
    /// raw), a non-UTF-8 value as its hex.
    #[test]
    fn quote_round_trips_through_jq() {
        let jq = require("jq");
        for v in HOSTILE {
            let mut input = quote(v);
            input.push(b'\n');
            let mut child = std::process::Command::new(&jq)
                .args(["-j", "if type == \"string\" then . else \"hex:\" + .hex end"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "jq rejects {}", String::from_utf8_lossy(&input));
            let expect = match std::str::from_utf8(v) {
                Ok(_) => v.to_vec(),
                Err(_) => format!("hex:{}", hex::encode(v)).into_bytes(),
            };
            assert_eq!(out.stdout, expect, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn a_script_is_one_object() {
        let entries = vec!["/s".to_string()];
        let changes = [
            Change::Set { name: "A", value: b"1" },
            Change::Unset { name: "B" },
            Change::Prepend {
                name: "PATH",
                entries: &entries,
                value: b"/s:/bin",
            },
        ];
        let v: serde_json::Value = serde_json::from_slice(&Json.script(&changes)).unwrap();
        assert_eq!(v, serde_json::json!({"A": "1", "B": null, "PATH": "/s:/bin"}));
        let mut line = Vec::new();
        Json.unset(&mut line, "B");
        assert_eq!(line, b"{\"B\":null}\n");
    }
}
