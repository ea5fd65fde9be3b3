//! The MPKG literal parser (`app::pylit`) on arbitrary text: it returns a
//! value or an error with a line number, never panics or overflows its
//! stack; what it parses converts to JSON and back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use magpkg::app::pylit::{parse, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(parsed) => {
            for a in &parsed.assignments {
                let json = a.value.value.to_json();
                let _ = Value::from_json(&json).to_json();
            }
        }
        Err(e) => {
            let lines = text.lines().count().max(1) + 1;
            assert!(
                e.line <= lines,
                "error line {} past the end ({lines} lines): {e}",
                e.line
            );
        }
    }
});
