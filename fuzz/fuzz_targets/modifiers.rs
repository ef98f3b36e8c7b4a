//! Velero resource-modifier files (YAML).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = skiff_engine::restore::ResourceModifiers::parse(text);
    }
});
