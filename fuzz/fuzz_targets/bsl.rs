//! Velero BackupStorageLocation documents (YAML or JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_store::location::BackupStorageLocation;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = BackupStorageLocation::from_yaml(text, "fuzz");
    }
});
