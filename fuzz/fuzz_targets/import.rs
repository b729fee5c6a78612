//! Fuzz target: every session importer on arbitrary bytes. The first byte picks the format
//! (or detection); the rest is the file, read as the CLI reads it (invalid UTF-8 replaced).
//! An importer may reject the input; it must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use page_import::{Format, import};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let format = Format::ALL.get(usize::from(pick)).copied();
    let text = String::from_utf8_lossy(rest);
    if let Ok(transcript) = import(&text, format) {
        // Whatever was read must render: diagnostics name their place.
        for d in &transcript.diagnostics {
            let _ = d.to_string();
        }
    }
});
