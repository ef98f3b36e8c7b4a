//! Label selectors in kubectl's text syntax, and their JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_engine::labels::LabelSelector;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = LabelSelector::parse(text);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = LabelSelector::from_json(&v);
    }
});
