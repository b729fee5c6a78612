//! Fuzz target: the reader of Zeph's `messages.parts` JSON (current and legacy forms). A row
//! that is neither is reported corrupt; it must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pagevm_migrate::fuzz_parts(&String::from_utf8_lossy(data));
});
