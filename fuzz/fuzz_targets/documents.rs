//! Velero's documents: velero-backup.json and the sidecar decoders, plain and gzip'd.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use skiff_format::docs::{self, Backup, ItemOperation, Results, VolumeInfo};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Backup::from_json(data) {
        // What parses re-encodes and parses again to the same document.
        let out = b.to_json().expect("encode");
        assert_eq!(Backup::from_json(&out).expect("re-parse"), b);
    }
    let _ = Backup::from_reader(data);
    let _ = docs::decode_json::<BTreeMap<String, Vec<String>>>(data, "resource list");
    let _ = docs::decode_json::<Results>(data, "results");
    let _ = docs::decode_json::<Vec<ItemOperation>>(data, "item operations");
    let _ = docs::decode_json::<Vec<VolumeInfo>>(data, "volume info");
    let _ = docs::decode_json::<Option<Vec<Value>>>(data, "volume snapshots");
    let _ = docs::decode_sidecar::<Results>(data, "results");
    let _ = docs::decode_sidecar::<BTreeMap<String, Vec<String>>>(data, "resource list");
    let _ = docs::decode_sidecar::<Option<Vec<Value>>>(data, "pod volume backups");
});
