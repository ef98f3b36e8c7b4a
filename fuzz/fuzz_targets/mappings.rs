//! Restore mappings: resource priorities (Velero's flag syntax) and image-registry mapping.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use skiff_engine::restore::{ResourcePriorities, map_image};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ResourcePriorities::parse(text);
    // "image\nfrom=to\nfrom=to…"
    let mut lines = text.lines();
    let image = lines.next().unwrap_or_default();
    let mappings: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once('='))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let _ = map_image(image, &mappings);
});
