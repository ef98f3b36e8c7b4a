//! skiff's index sidecar: parsed, checked and used against an archive — a fuzzed index against
//! a fixed archive (first byte even), or a fuzzed archive against that archive's index (odd).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skiff_format::index::ArchiveIndex;
use skiff_format::{ArchiveWriter, ItemRef, ReaderOptions, WriterOptions};

fn fixed() -> &'static (Vec<u8>, ArchiveIndex) {
    static F: OnceLock<(Vec<u8>, ArchiveIndex)> = OnceLock::new();
    F.get_or_init(|| {
        let mut w = ArchiveWriter::with_options(
            Vec::new(),
            WriterOptions {
                member_size: 600,
                max_in_flight: 1,
                ..WriterOptions::default()
            },
        );
        for i in 0..6 {
            let item = ItemRef::namespaced("configmaps", "ns", format!("cm{i}"));
            let json = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm{i}","namespace":"ns"}},"data":{{"k":"{i}"}}}}"#);
            w.add_item(&item, "v1", json.as_bytes()).expect("add");
        }
        w.finish().expect("finish")
    })
}

fn use_index(index: &ArchiveIndex, archive: &[u8]) {
    let _ = index.check(Some(archive.len() as u64));
    for e in index.entries.iter().take(16) {
        if let Ok(Some(loc)) = index.locate(&e.path, archive.len() as u64) {
            let r = loc.range();
            let (a, b) = (r.start as usize, r.end as usize);
            if b <= archive.len() {
                if let Ok(data) = loc.read(&archive[a..b], ReaderOptions::default()) {
                    assert_eq!(data.len() as u64, e.size);
                }
            }
        }
    }
    let _ = index.verify(archive, ReaderOptions::default());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (archive, index) = fixed();
    if mode % 2 == 0 {
        let _ = ArchiveIndex::from_gzip_json(rest);
        if let Ok(idx) = serde_json::from_slice::<ArchiveIndex>(rest) {
            use_index(&idx, archive);
        }
    } else {
        use_index(index, rest);
    }
});
