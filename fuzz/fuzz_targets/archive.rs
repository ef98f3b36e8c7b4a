//! The archive reader on arbitrary bytes: gzip members, tar headers and extensions, entry rules,
//! the end checks — whole iterations, in both duplicate modes, and a single-entry lookup.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use skiff_format::reader::{ArchiveReader, ReaderOptions, find_unique};
use skiff_format::{Error, json};

fuzz_target!(|data: &[u8]| {
    let opts = ReaderOptions {
        max_entry_size: 1 << 20,
        allow_duplicates: false,
    };
    let mut r = ArchiveReader::with_options(data, opts);
    let mut n = 0u64;
    let res: Result<(), Error> = r.for_each(|e| {
        n += 1;
        assert!(e.path.len() <= skiff_format::reader::MAX_PATH_LEN);
        assert!(e.data.len() as u64 <= opts.max_entry_size);
        if matches!(e.kind, skiff_format::EntryKind::Item(..)) {
            let _ = json::check_item(e.data, e.path);
        }
        Ok(ControlFlow::Continue(()))
    });
    if let Err(e) = &res {
        // Messages stay bounded whatever the input.
        assert!(e.to_string().len() < 24 * skiff_format::MAX_ERROR_TEXT);
    }
    // Reading again, allowing duplicates: the same entries or more, never fewer before an error.
    let mut r = ArchiveReader::with_options(
        data,
        ReaderOptions {
            allow_duplicates: true,
            ..opts
        },
    );
    let mut m = 0u64;
    let res2: Result<(), Error> = r.for_each(|_| {
        m += 1;
        Ok(ControlFlow::Continue(()))
    });
    assert!(m >= n);
    if res2.is_ok() {
        assert!(res.is_ok() || matches!(res, Err(Error::DuplicateEntry { .. })));
    }
    let _ = find_unique(data, opts, |p, _| p.ends_with(".json"));
    let mut r = ArchiveReader::with_options(data, opts);
    let _ = r.next_entry().map(|_| ());
    let _ = r.finish();
});
