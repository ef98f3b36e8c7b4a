//! Archives and documents crafted to hurt: one regression test per defect class of issue 11.
//! Hostile inputs are built here by hand (tar blocks, gzip members) or with skiff's writer,
//! and stay small in memory; what they declare (gigabytes) must be refused from the headers.
#![allow(missing_docs)]

use std::io::Read;
use std::ops::ControlFlow;

use skiff_format::docs::{self, Backup};
use skiff_format::index::ArchiveIndex;
use skiff_format::reader::{self, MAX_EXTENSION_SIZE, MAX_PATH_LEN, find_unique};
use skiff_format::{
    ArchiveReader, ArchiveWriter, Entry, Error, ItemRef, ReaderOptions, WriterOptions, gojson, json, path,
};

const BLOCK: usize = 512;

/// One tar header block (USTAR magic, checksum set); `size` is written in octal.
fn header(name: &[u8], size: u64, flag: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000755\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    let size = format!("{size:011o}\0");
    h[124..136].copy_from_slice(size.as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = flag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// A regular file entry: header, data, padding.
fn file(tar: &mut Vec<u8>, name: &str, data: &[u8]) {
    tar.extend_from_slice(&header(name.as_bytes(), data.len() as u64, b'0'));
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
}

fn end(tar: &mut Vec<u8>) {
    tar.extend_from_slice(&[0; 2 * BLOCK]);
}

fn read_all(gz: &[u8]) -> Result<Vec<Entry>, Error> {
    ArchiveReader::new(gz).entries()?.collect()
}

fn items(n: usize) -> Vec<(ItemRef, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let item = ItemRef::namespaced("configmaps", "ns", format!("cm{i}"));
            let json = format!(
                r#"{{"apiVersion":"v1","data":{{"k":"{}"}},"kind":"ConfigMap","metadata":{{"name":"cm{i}","namespace":"ns"}}}}"#,
                "v".repeat(i * 37 % 300)
            );
            (item, json.into_bytes())
        })
        .collect()
}

fn write(items: &[(ItemRef, Vec<u8>)], member_size: usize) -> (Vec<u8>, ArchiveIndex) {
    let mut w = ArchiveWriter::with_options(
        Vec::new(),
        WriterOptions {
            member_size,
            max_in_flight: 2,
            ..WriterOptions::default()
        },
    );
    for (item, json) in items {
        w.add_item(item, "v1", json).unwrap();
    }
    w.finish().unwrap()
}

// ----- class 1: extension headers ------------------------------------------------------------

#[test]
fn class1_extension_headers_are_refused_from_their_declared_size() {
    const THREE_GIB: u64 = 3 << 30;
    for (flag, kind) in [
        (b'L', "GNU long name"),
        (b'x', "PAX extended header"),
        (b'g', "PAX global header"),
    ] {
        // The header declares 3 GiB; only 256 KiB follow. Nothing may be read, let alone kept.
        let mut tar = header(b"././@LongLink", THREE_GIB, flag).to_vec();
        tar.extend_from_slice(&vec![b'a'; 256 << 10]);
        let gz = gojson::gzip_sidecar(&tar);
        match read_all(&gz) {
            Err(Error::ExtensionTooLarge {
                kind: k,
                offset: 0,
                size,
                limit,
            }) => {
                assert_eq!((k, size), (kind, THREE_GIB));
                assert!(limit <= MAX_EXTENSION_SIZE.max(MAX_PATH_LEN as u64 + 1));
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
}

#[test]
fn class1_long_names_within_limits_work_and_longer_paths_are_refused_shortened() {
    // A GNU long name of 300 bytes (within the limit) names the entry.
    let long = format!("resources/configmaps/namespaces/ns/{}.json", "n".repeat(260));
    let mut tar = Vec::new();
    let mut name = long.clone().into_bytes();
    name.push(0);
    tar.extend_from_slice(&header(b"././@LongLink", name.len() as u64, b'L'));
    tar.extend_from_slice(&name);
    tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
    file(&mut tar, "short-name-ignored", b"{}");
    end(&mut tar);
    let entries = read_all(&gojson::gzip_sidecar(&tar)).unwrap();
    assert_eq!(entries[0].path, long);

    // A PAX path longer than PATH_MAX, with an escape sequence in it: refused, and the error
    // neither carries the whole path nor the raw ESC.
    let path = format!("resources/\x1b[2J{}", "p".repeat(MAX_PATH_LEN));
    let record = {
        let body = format!(" path={path}\n");
        let mut len = body.len() + 1;
        while len != body.len() + len.to_string().len() {
            len = body.len() + len.to_string().len();
        }
        format!("{len}{body}")
    };
    let mut tar = header(b"PaxHeaders/x", record.len() as u64, b'x').to_vec();
    tar.extend_from_slice(record.as_bytes());
    tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
    file(&mut tar, "x", b"{}");
    end(&mut tar);
    let err = read_all(&gojson::gzip_sidecar(&tar)).unwrap_err();
    let Error::PathTooLong { entry, len, limit } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*len, *limit), (path.len(), MAX_PATH_LEN));
    assert!(entry.len() <= skiff_format::MAX_ERROR_TEXT + 4);
    let msg = err.to_string();
    assert!(!msg.contains('\x1b'), "{msg}");
    assert!(msg.contains("\\u{1b}"), "{msg}");
    assert!(msg.len() < 1024, "{} bytes", msg.len());
}

// ----- class 2: JSON amplification -----------------------------------------------------------

fn bomb(n: usize) -> Vec<u8> {
    let mut v =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"ns"},"x":["#.to_vec();
    for i in 0..n {
        if i > 0 {
            v.push(b',');
        }
        v.extend_from_slice(br#"{"":0}"#);
    }
    v.extend_from_slice(b"]}");
    v
}

#[test]
fn class2_items_are_checked_without_a_tree_and_trees_are_capped() {
    let data = bomb(150_000); // 1 MiB of text, ~100 MiB as a Value
    // The streaming check reads the head and checks everything else, building nothing.
    let (head, scan) = json::check_item(&data, "resources/configmaps/namespaces/ns/b.json").unwrap();
    assert_eq!(
        (head.kind.as_str(), head.metadata.name.as_str()),
        ("ConfigMap", "b")
    );
    assert!(
        scan.tree_cost > 90 * data.len() as u64,
        "estimate {}",
        scan.tree_cost
    );
    // A capped tree build refuses it before building, naming the item.
    match json::parse_tree(&data, "resources/configmaps/namespaces/ns/b.json", 16 << 20) {
        Err(Error::JsonTooLarge {
            document,
            estimate,
            limit,
        }) => {
            assert_eq!(document, "resources/configmaps/namespaces/ns/b.json");
            assert_eq!(limit, 16 << 20);
            assert_eq!(estimate, scan.tree_cost);
        }
        other => panic!("{other:?}"),
    }
    // A top-level array is not an item.
    assert!(matches!(
        json::check_item(br#"[{"":0},{"":0}]"#, "p"),
        Err(Error::InvalidJson {
            reason: "an item must be a JSON object",
            ..
        })
    ));
    // Through an archive: the reader hands the item over, the check accepts it.
    let (gz, _) = write(&[(ItemRef::namespaced("configmaps", "ns", "b"), data)], 1 << 20);
    let mut r = ArchiveReader::new(&gz[..]);
    let mut checked = 0;
    r.for_each(|e| {
        if matches!(e.kind, skiff_format::EntryKind::Item(..)) {
            json::check_item(e.data, e.path)?;
            checked += 1;
        }
        Ok::<_, Error>(ControlFlow::Continue(()))
    })
    .unwrap();
    assert_eq!(checked, 2);
}

#[test]
fn class2_documents_are_bounded_before_decoding() {
    // velero-backup.json: size first (an endless input is cut at the limit + 1), then tree.
    let err = Backup::from_reader(std::io::repeat(b' ')).unwrap_err();
    assert!(matches!(err, Error::DocumentTooLarge { limit, .. } if limit == docs::MAX_BACKUP_JSON_SIZE));
    let mut doc = br#"{"kind":"Backup","apiVersion":"velero.io/v1","metadata":{"name":"b"},"x":["#.to_vec();
    for i in 0..1_500_000 {
        if i > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(br#"{"":0}"#);
    }
    doc.extend_from_slice(b"]}");
    assert!((doc.len() as u64) < docs::MAX_BACKUP_JSON_SIZE);
    assert!(matches!(Backup::from_json(&doc), Err(Error::JsonTooLarge { .. })));
    // Sidecars: the same check before decoding (14 MB of text, ~1.4 GB as a tree).
    let mut side = b"[".to_vec();
    for i in 0..2_000_000 {
        if i > 0 {
            side.push(b',');
        }
        side.extend_from_slice(br#"{"":0}"#);
    }
    side.push(b']');
    assert!(matches!(
        docs::decode_json::<Option<Vec<serde_json::Value>>>(&side, "b-volumesnapshots.json.gz"),
        Err(Error::JsonTooLarge { limit, .. }) if limit == docs::MAX_DOCUMENT_TREE_BYTES
    ));
    assert!(docs::read_limited(std::io::repeat(0), 1000, "x").is_err());
}

// ----- class 3: the index is verified --------------------------------------------------------

#[test]
fn class3_index_pointing_elsewhere_or_out_of_range_is_refused() {
    let (gz, index) = write(&items(60), 2048);
    assert!(index.members.len() > 4);
    index.check(Some(gz.len() as u64)).unwrap();
    let size = gz.len() as u64;
    let cm0 = "resources/configmaps/namespaces/ns/cm0.json";
    let other = "resources/configmaps/namespaces/ns/cm50.json";
    let read = |idx: &ArchiveIndex, p: &str| -> Result<Vec<u8>, Error> {
        let loc = idx.locate(p, size)?.expect("listed");
        let r = loc.range();
        loc.read(&gz[r.start as usize..r.end as usize], ReaderOptions::default())
    };
    let good = read(&index, cm0).unwrap();
    assert!(String::from_utf8(good).unwrap().contains("\"cm0\""));

    // cm0's record pointing at cm50's place (member and offset): refused, not cm50's object.
    let mut swapped = index.clone();
    let target = swapped.entries.iter().find(|e| e.path == other).unwrap().clone();
    let e = swapped.entries.iter_mut().find(|e| e.path == cm0).unwrap();
    e.member = target.member;
    e.header_offset = target.header_offset;
    e.size = target.size;
    e.sha256 = target.sha256.clone();
    assert!(matches!(read(&swapped, cm0), Err(Error::IndexMismatch { .. })));

    // A member length of 2^62: refused from the index, nothing allocated or fetched.
    let mut huge = index.clone();
    let m = huge.entries.iter().find(|e| e.path == cm0).unwrap().member;
    huge.members[m].compressed_length = 1 << 62;
    assert!(matches!(huge.locate(cm0, size), Err(Error::InvalidIndex { .. })));
    assert!(huge.check(Some(size)).is_err());
    huge.members[m].compressed_offset = u64::MAX - 10;
    huge.members[m].compressed_length = 100;
    assert!(matches!(huge.locate(cm0, size), Err(Error::InvalidIndex { .. })));

    // A changed hash, a path listed twice, a member number that does not exist.
    let mut bad = index.clone();
    bad.entries.iter_mut().find(|e| e.path == cm0).unwrap().sha256 = "0".repeat(64);
    assert!(matches!(read(&bad, cm0), Err(Error::IndexMismatch { .. })));
    let mut twice = index.clone();
    let dup = twice.entries.iter().find(|e| e.path == cm0).unwrap().clone();
    twice.entries.push(dup);
    assert!(matches!(twice.locate(cm0, size), Err(Error::InvalidIndex { .. })));
    let mut missing = index.clone();
    missing.entries.iter_mut().find(|e| e.path == cm0).unwrap().member = 10_000;
    assert!(matches!(
        missing.locate(cm0, size),
        Err(Error::InvalidIndex { .. })
    ));
}

#[test]
fn class3_member_decompression_bomb_is_bounded_by_the_index() {
    // A "member" whose entry claims 100 bytes but whose gzip member inflates to 4 MiB of zeros
    // after it: the read stops at the member length the index records.
    let mut tar = Vec::new();
    file(
        &mut tar,
        "resources/configmaps/namespaces/ns/a.json",
        &[b'x'; 100],
    );
    let entry_end = tar.len() as u64;
    tar.extend_from_slice(&vec![0; 4 << 20]);
    let member = gojson::gzip_sidecar(&tar);
    let data = [b'x'; 100];
    let json = format!(
        r#"{{"formatVersion":1,"entries":[{{"path":"resources/configmaps/namespaces/ns/a.json","size":100,"sha256":"{}","member":0,"headerOffset":0}}],"members":[{{"compressedOffset":0,"compressedLength":{},"uncompressedOffset":0,"uncompressedLength":{entry_end}}}],"compressedSize":{},"uncompressedSize":{entry_end}}}"#,
        sha256_hex(&data),
        member.len(),
        member.len()
    );
    let index: ArchiveIndex = serde_json::from_str(&json).unwrap();
    let loc = index
        .locate("resources/configmaps/namespaces/ns/a.json", member.len() as u64)
        .unwrap()
        .unwrap();
    let err = loc.read(&member, ReaderOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Gzip { .. } | Error::IndexMismatch { .. }),
        "{err:?}"
    );
}

fn sha256_hex(data: &[u8]) -> String {
    // The index verifier is the reference: an index built by the writer for the same data.
    let mut w = ArchiveWriter::new(Vec::new());
    w.add_file("x", data).unwrap();
    let (_, idx) = w.finish().unwrap();
    idx.entries.iter().find(|e| e.path == "x").unwrap().sha256.clone()
}

// ----- class 6: corruption and truncation ----------------------------------------------------

#[test]
fn class6_flipped_bytes_and_cut_ends_of_the_only_member_are_errors() {
    let (gz, index) = write(&items(40), 64 << 20);
    assert_eq!(index.members.len(), 1, "one member, as Velero writes");
    assert!(read_all(&gz).is_ok());
    let n = gz.len();
    // Every one of the last 24 bytes: 16 of deflate data, CRC-32 and ISIZE.
    for pos in n - 24..n {
        let mut bad = gz.clone();
        bad[pos] ^= 0xff;
        assert!(
            read_all(&bad).is_err(),
            "byte {pos} of {n} flipped and not detected"
        );
        // Finding the first entry reads (and checks) the whole archive.
        assert!(
            find_unique(&bad[..], ReaderOptions::default(), |p, _| p == "metadata/version").is_err(),
            "byte {pos}: find_unique"
        );
    }
    for cut in 1..=8 {
        let err = read_all(&gz[..n - cut]).unwrap_err();
        assert!(matches!(err, Error::Gzip { .. }), "cut {cut}: {err:?}");
    }
    // Garbage after the member; zero padding is what gzip tolerates.
    let mut garbage = gz.clone();
    garbage.extend_from_slice(b"\0\0junk");
    assert!(matches!(read_all(&garbage), Err(Error::Gzip { .. })));
    let mut padded = gz.clone();
    padded.extend_from_slice(&[0; 700]);
    assert!(read_all(&padded).is_ok());
}

#[test]
fn class6_the_tar_end_is_checked() {
    let mut tar = Vec::new();
    file(&mut tar, "metadata/version", b"1.1.0\n");
    // No end-of-archive marker: a multi-member archive cut at a member boundary looks so.
    assert!(matches!(
        read_all(&gojson::gzip_sidecar(&tar)),
        Err(Error::Tar { .. })
    ));
    // One zero block only.
    let mut one = tar.clone();
    one.extend_from_slice(&[0; BLOCK]);
    assert!(matches!(
        read_all(&gojson::gzip_sidecar(&one)),
        Err(Error::Tar { .. })
    ));
    // Data after the marker.
    let mut after = tar.clone();
    end(&mut after);
    file(&mut after, "resources/x/cluster/hidden.json", b"{}");
    assert!(matches!(
        read_all(&gojson::gzip_sidecar(&after)),
        Err(Error::Tar { .. })
    ));
    // Zero padding to a record is fine.
    let mut padded = tar.clone();
    end(&mut padded);
    padded.resize(10240, 0);
    assert_eq!(read_all(&gojson::gzip_sidecar(&padded)).unwrap().len(), 1);
    // A stop after the first entry, then `finish`, still checks the end.
    let (mut gz, _) = write(&items(5), 1 << 20);
    let len = gz.len();
    gz[len - 6] ^= 1; // ISIZE
    let mut r = ArchiveReader::new(&gz[..]);
    assert!(r.next_entry().unwrap().is_some());
    assert!(matches!(r.finish(), Err(Error::Gzip { .. })));
}

// ----- class 7: duplicates -------------------------------------------------------------------

#[test]
fn class7_duplicate_paths_are_reported() {
    let mut tar = Vec::new();
    file(&mut tar, "metadata/version", b"1.1.0\n");
    file(
        &mut tar,
        "resources/configmaps/namespaces/ns/a.json",
        br#"{"v":1}"#,
    );
    file(
        &mut tar,
        "./resources/configmaps/namespaces/ns/a.json",
        br#"{"v":2}"#,
    );
    end(&mut tar);
    let gz = gojson::gzip_sidecar(&tar);
    match read_all(&gz) {
        Err(Error::DuplicateEntry { entry }) => {
            assert_eq!(entry, "resources/configmaps/namespaces/ns/a.json");
        }
        other => panic!("{other:?}"),
    }
    // A validator reads on and reports.
    let mut r = ArchiveReader::with_options(
        &gz[..],
        ReaderOptions {
            allow_duplicates: true,
            ..ReaderOptions::default()
        },
    );
    let mut dups = Vec::new();
    while let Some(e) = r.next_entry().unwrap() {
        dups.push(e.duplicate);
    }
    assert_eq!(dups, [false, false, true]);
    // Looking the object up never picks one copy silently.
    assert!(matches!(
        find_unique(&gz[..], ReaderOptions::default(), |p, _| p.ends_with("/a.json")),
        Err(Error::AmbiguousEntry { .. })
    ));
    // Names one extracted file would hold on a case-insensitive filesystem share a key.
    assert_eq!(
        path::fold_key("resources/ConfigMaps/ns/Web.json"),
        path::fold_key("resources/configmaps/ns/web.json")
    );
    assert_ne!(path::fold_key("a.json"), path::fold_key("b.json"));
}

// ----- class 11: silent data changes ---------------------------------------------------------

#[test]
fn class11_wide_integers_render_as_stored_and_names_are_escaped() {
    let item = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n"},"spec":{"replicas":123456789012345678901234567890,"ratio":0.10000000000000000001}}"#;
    let (_, scan) = json::check_item(item, "p").unwrap();
    assert_eq!(scan.wide_integers, 1);
    let out = String::from_utf8(json::render_pretty(item, "p").unwrap()).unwrap();
    assert!(
        out.contains("\"replicas\": 123456789012345678901234567890"),
        "{out}"
    );
    assert!(out.contains("\"ratio\": 0.10000000000000000001"), "{out}");
    // Through a Value the integer would have become a float: the reason to render from text.
    let v: serde_json::Value = serde_json::from_slice(item).unwrap();
    assert!(
        !serde_json::to_string(&v)
            .unwrap()
            .contains("123456789012345678901234567890")
    );

    // Entry names with ESC and newline: kept as data, escaped for display and in errors.
    let name = "resources/configmaps/namespaces/ns/x\x1b]0;pwned\x07\n.json";
    assert_eq!(
        path::escape_for_display(name),
        "resources/configmaps/namespaces/ns/x\\u{1b}]0;pwned\\u{7}\\u{a}.json"
    );
    let mut tar = Vec::new();
    file(&mut tar, name, b"{}");
    file(&mut tar, name, b"{}");
    end(&mut tar);
    let err = read_all(&gojson::gzip_sidecar(&tar)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::DuplicateEntry { .. }));
    assert!(!msg.chars().any(char::is_control), "{msg:?}");
}

// ----- limits hold across the reader's API ---------------------------------------------------

#[test]
fn entry_limits_apply_to_directories_and_unknown_types() {
    let mut tar = header(b"resources/", 7 << 30, b'5').to_vec();
    tar.extend_from_slice(&[0; 4096]);
    assert!(matches!(
        read_all(&gojson::gzip_sidecar(&tar)),
        Err(Error::EntryTooLarge { .. })
    ));
    let mut tar = Vec::new();
    tar.extend_from_slice(&header(b"resources/x", 0, b'S'));
    end(&mut tar);
    assert!(matches!(
        read_all(&gojson::gzip_sidecar(&tar)),
        Err(Error::UnsupportedEntryType { .. })
    ));
    // The decompressed stream and the reader agree on what was read.
    let (gz, index) = write(&items(10), 1 << 20);
    let mut r = ArchiveReader::new(&gz[..]);
    r.finish().unwrap();
    assert_eq!(r.uncompressed_bytes(), index.uncompressed_size);
    assert_eq!(r.compressed_bytes(), gz.len() as u64);
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain.len() as u64, index.uncompressed_size);
    let _ = reader::DEFAULT_MAX_ENTRY_SIZE;
}
