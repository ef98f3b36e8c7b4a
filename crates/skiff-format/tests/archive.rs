//! Archive writer/reader behaviour: round trips, determinism, interoperability, bad input.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use flate2::read::MultiGzDecoder;
use proptest::prelude::*;
use skiff_format::index::{ArchiveIndex, read_member};
use skiff_format::reader::read_version;
use skiff_format::{
    ArchiveReader, ArchiveWriter, Entry, EntryKind, Error, IndexStream, ItemRef, ReaderOptions, VersionDir,
    WriterOptions, gojson,
};

fn small_members() -> WriterOptions {
    WriterOptions {
        member_size: 4096,
        max_in_flight: 2,
        ..WriterOptions::default()
    }
}

fn sample_items(n: usize) -> Vec<(ItemRef, Vec<u8>)> {
    let grs = [
        "configmaps",
        "secrets",
        "deployments.apps",
        "namespaces",
        "widgets.skiff.test",
    ];
    (0..n)
        .map(|i| {
            let gr = grs[i % grs.len()];
            let item = if gr == "namespaces" {
                ItemRef::cluster(gr, format!("ns-{i}"))
            } else {
                ItemRef::namespaced(gr, format!("ns-{}", i % 7), format!("obj-{i}"))
            };
            let v = serde_json::json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": item.name}, "data": {"k": "<&>".repeat(i % 50), "i": i}});
            (item, gojson::to_vec(&v))
        })
        .collect()
}

fn write(items: &[(ItemRef, Vec<u8>)], opts: WriterOptions) -> (Vec<u8>, ArchiveIndex) {
    let mut sorted: Vec<&(ItemRef, Vec<u8>)> = items.iter().collect();
    sorted.sort_by(|a, b| a.0.group_resource.cmp(&b.0.group_resource));
    let mut w = ArchiveWriter::with_options(Vec::new(), opts);
    for (item, json) in sorted {
        w.add_item(item, "v1", json).unwrap();
    }
    w.finish().unwrap()
}

fn read_all(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    let mut r = ArchiveReader::new(bytes);
    r.entries()?.collect()
}

#[test]
fn layout_matches_velero() {
    let items = sample_items(12);
    let (bytes, index) = write(&items, WriterOptions::default());
    let entries = read_all(&bytes).unwrap();
    assert_eq!(entries[0].path, "metadata/version");
    assert_eq!(entries[0].kind, EntryKind::Version);
    assert_eq!(entries[0].data, b"1.1.0\n");
    assert_eq!(entries.len(), 1 + 2 * items.len());
    // Each item: classic then preferred copy, same bytes.
    for pair in entries[1..].chunks(2) {
        let (EntryKind::Item(a, VersionDir::Classic), EntryKind::Item(b, VersionDir::Preferred(v))) =
            (&pair[0].kind, &pair[1].kind)
        else {
            panic!("unexpected kinds {pair:?}");
        };
        assert_eq!(a, b);
        assert_eq!(v, "v1");
        assert_eq!(pair[0].data, pair[1].data);
    }
    assert!(
        entries
            .iter()
            .any(|e| e.path == "resources/namespaces/cluster/ns-3.json")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.path == "resources/deployments.apps/v1-preferredversion/namespaces/ns-2/obj-2.json")
    );
    // Index agrees.
    assert_eq!(index.entries.len(), entries.len());
    assert!(
        index
            .verify(&bytes[..], ReaderOptions::default())
            .unwrap()
            .is_ok()
    );
}

#[test]
fn raw_headers_mode_uid_no_dirs_and_end_blocks() {
    let (bytes, index) = write(&sample_items(5), WriterOptions::default());
    let mut tar = Vec::new();
    MultiGzDecoder::new(&bytes[..]).read_to_end(&mut tar).unwrap();
    assert_eq!(tar.len() as u64, index.uncompressed_size);
    assert!(tar[tar.len() - 1024..].iter().all(|&b| b == 0));
    let mut a = tar::Archive::new(&tar[..]);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.entry_type(), tar::EntryType::Regular);
        assert_eq!(h.mode().unwrap(), 0o755);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.groupname().unwrap(), Some(""));
        assert_eq!(h.mtime().unwrap(), skiff_format::writer::DEFAULT_MTIME);
        assert!(h.as_ustar().is_some());
    }
}

#[test]
fn deterministic_and_multi_member() {
    let items = sample_items(300);
    let (a, ia) = write(&items, small_members());
    let (b, ib) = write(&items, small_members());
    assert_eq!(a, b);
    assert_eq!(ia, ib);
    assert!(
        ia.members.len() > 5,
        "expected many members, got {}",
        ia.members.len()
    );
    // Members are contiguous and cover the file.
    let mut off = 0;
    for m in &ia.members {
        assert_eq!(m.compressed_offset, off);
        off += m.compressed_length;
    }
    assert_eq!(off, a.len() as u64);
    // Plain MultiGzDecoder + tar crate reads it.
    let mut n = 0;
    let mut ar = tar::Archive::new(MultiGzDecoder::new(&a[..]));
    for e in ar.entries().unwrap() {
        e.unwrap();
        n += 1;
    }
    assert_eq!(n, 1 + 2 * items.len());
}

#[test]
fn member_by_member_reads_and_extract() {
    let items = sample_items(200);
    let (bytes, index) = write(&items, small_members());
    let mut count = 0;
    for (i, _) in index.members.iter().enumerate() {
        let r = index.member_range(i).unwrap();
        let member = &bytes[r.start as usize..r.end as usize];
        let entries = read_member(member, ReaderOptions::default()).unwrap();
        for e in &entries {
            let ie = index.entry(&e.path).unwrap();
            assert_eq!(ie.member, i);
        }
        count += entries.len();
    }
    assert_eq!(count, index.entries.len());
    index.check(Some(bytes.len() as u64)).unwrap();
    let target = &index.entries[77];
    let loc = index.locate(&target.path, bytes.len() as u64).unwrap().unwrap();
    let r = loc.range();
    let data = loc
        .read(&bytes[r.start as usize..r.end as usize], ReaderOptions::default())
        .unwrap();
    assert_eq!(data.len() as u64, target.size);
}

#[test]
fn gnu_gzip_and_tar_read_it() {
    let items = sample_items(100);
    let (bytes, _) = write(&items, small_members());
    let mut gz = Command::new("gzip")
        .args(["-dc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip on PATH");
    let mut stdin = gz.stdin.take().unwrap();
    let input = bytes.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = Command::new("tar")
        .args(["-tv"])
        .stdin(gz.stdout.take().unwrap())
        .output()
        .expect("tar on PATH");
    feeder.join().unwrap().unwrap();
    assert!(gz.wait().unwrap().success());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * items.len());
    assert!(lines[0].starts_with("-rwxr-xr-x 0/0"), "{}", lines[0]);
    assert!(lines[0].ends_with("metadata/version"));
}

#[test]
fn long_and_unicode_names_round_trip() {
    let long = ItemRef::namespaced("configmaps", "ns", "x".repeat(240));
    let mid = ItemRef::namespaced("configmaps", "ns", "y".repeat(95));
    let uni = ItemRef::cluster("clusterroles.rbac.authorization.k8s.io", "système:rôle");
    let mut w = ArchiveWriter::new(Vec::new());
    for it in [&long, &mid, &uni] {
        w.add_item(it, "v1", b"{}").unwrap();
    }
    w.add_item_version(&mid, "v1beta1", b"{\"old\":true}").unwrap();
    let (bytes, _) = w.finish().unwrap();
    let entries = read_all(&bytes).unwrap();
    let items: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Item(i, d) => Some((i.clone(), d.clone())),
            _ => None,
        })
        .collect();
    assert!(items.contains(&(long.clone(), VersionDir::Classic)));
    assert!(items.contains(&(uni.clone(), VersionDir::Preferred("v1".into()))));
    assert!(items.contains(&(mid.clone(), VersionDir::Version("v1beta1".into()))));
    // GNU tar agrees on the long name.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.tar.gz");
    std::fs::write(&f, &bytes).unwrap();
    let out = Command::new("tar").arg("-tzf").arg(&f).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&long.path(&VersionDir::Classic)));
}

#[test]
fn writer_rejects_bad_items() {
    let mut w = ArchiveWriter::new(Vec::new());
    assert!(matches!(
        w.add_item(&ItemRef::namespaced("pods", "..", "x"), "v1", b"{}"),
        Err(Error::InvalidItem { .. })
    ));
    assert!(matches!(
        w.add_item(&ItemRef::namespaced("pods", "a", "b/c"), "v1", b"{}"),
        Err(Error::InvalidItem { .. })
    ));
    assert!(matches!(
        w.add_item(&ItemRef::namespaced("pods", "a", "b"), "v1/x", b"{}"),
        Err(Error::InvalidItem { .. })
    ));
    assert!(matches!(
        w.add_file("../evil", b""),
        Err(Error::UnsafePath { .. })
    ));
}

// ----- bad input -------------------------------------------------------------------------------

/// Build a tar.gz by hand with the tar crate (which can write things skiff never writes).
fn custom_archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(6);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(&mut h, "metadata/version", &b"1.1.0\n"[..])
        .unwrap();
    build(&mut b);
    let tar = b.into_inner().unwrap();
    gojson::gzip_sidecar(&tar)
}

fn raw_name_header(name: &[u8], size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_mode(0o755);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

#[test]
fn truncated_gzip_is_a_gzip_error() {
    let (bytes, _) = write(&sample_items(50), WriterOptions::default());
    let cut = &bytes[..bytes.len() / 2];
    let err = read_all(cut).unwrap_err();
    assert!(matches!(err, Error::Gzip { .. }), "{err:?}");
    let err = read_all(b"definitely not gzip").unwrap_err();
    assert!(matches!(err, Error::Gzip { .. }), "{err:?}");
}

#[test]
fn corrupt_tar_is_a_tar_error() {
    let (bytes, _) = write(&sample_items(5), WriterOptions::default());
    let mut tar = Vec::new();
    MultiGzDecoder::new(&bytes[..]).read_to_end(&mut tar).unwrap();
    // Break the checksum of the second header (after metadata/version: 512 + 512).
    tar[1024 + 150] ^= 0x55;
    let err = read_all(&gojson::gzip_sidecar(&tar)).unwrap_err();
    assert!(matches!(err, Error::Tar { .. }), "{err:?}");
    // Garbage instead of a tar stream.
    let err = read_all(&gojson::gzip_sidecar(&[0x42; 2000])).unwrap_err();
    assert!(matches!(err, Error::Tar { .. }), "{err:?}");
}

#[test]
fn dotdot_path_is_refused_with_the_entry_name() {
    let gz = custom_archive(|b| {
        let h = raw_name_header(b"resources/../../etc/passwd", 2, tar::EntryType::Regular);
        b.append(&h, &b"{}"[..]).unwrap();
    });
    let err = read_all(&gz).unwrap_err();
    match err {
        Error::UnsafePath { entry, .. } => assert_eq!(entry, "resources/../../etc/passwd"),
        other => panic!("{other:?}"),
    }
    let gz = custom_archive(|b| {
        let h = raw_name_header(b"/abs/x.json", 2, tar::EntryType::Regular);
        b.append(&h, &b"{}"[..]).unwrap();
    });
    assert!(matches!(read_all(&gz), Err(Error::UnsafePath { .. })));
}

#[test]
fn links_devices_fifos_are_refused() {
    for kind in [
        tar::EntryType::Symlink,
        tar::EntryType::Link,
        tar::EntryType::Char,
        tar::EntryType::Block,
        tar::EntryType::Fifo,
    ] {
        let gz = custom_archive(|b| {
            let h = raw_name_header(b"resources/pods/cluster/x.json", 0, kind);
            b.append(&h, &b""[..]).unwrap();
        });
        match read_all(&gz) {
            Err(Error::UnsupportedEntryType { entry, .. }) => {
                assert_eq!(entry, "resources/pods/cluster/x.json");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[test]
fn directories_are_accepted_and_skipped() {
    let gz = custom_archive(|b| {
        let h = raw_name_header(b"resources/", 0, tar::EntryType::Directory);
        b.append(&h, &b""[..]).unwrap();
        let h = raw_name_header(b"resources/pods/cluster/x.json", 2, tar::EntryType::Regular);
        b.append(&h, &b"{}"[..]).unwrap();
    });
    let entries = read_all(&gz).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1].kind,
        EntryKind::Item(ItemRef::cluster("pods", "x"), VersionDir::Classic)
    );
}

#[test]
fn ten_gb_declared_size_is_refused_from_the_header() {
    // Only the header exists: the 10 GB of data are never there, and must never be read.
    let mut tar = Vec::new();
    let mut h = tar::Header::new_gnu();
    h.set_path("resources/secrets/namespaces/a/huge.json").unwrap();
    h.set_size(10 * 1024 * 1024 * 1024);
    h.set_mode(0o755);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(&[b'x'; 4096]);
    let gz = gojson::gzip_sidecar(&tar);
    match read_all(&gz) {
        Err(Error::EntryTooLarge { entry, size, limit }) => {
            assert_eq!(entry, "resources/secrets/namespaces/a/huge.json");
            assert_eq!(size, 10 * 1024 * 1024 * 1024);
            assert_eq!(limit, skiff_format::reader::DEFAULT_MAX_ENTRY_SIZE);
        }
        other => panic!("{other:?}"),
    }
    // A configurable, smaller limit.
    let (bytes, _) = write(&sample_items(3), WriterOptions::default());
    let mut r = ArchiveReader::with_options(
        &bytes[..],
        ReaderOptions {
            max_entry_size: 4,
            ..ReaderOptions::default()
        },
    );
    let err = r.entries().unwrap().find_map(Result::err).unwrap();
    assert!(matches!(err, Error::EntryTooLarge { .. }));
}

#[test]
fn version_checks() {
    let (bytes, _) = write(&sample_items(1), WriterOptions::default());
    assert_eq!(read_version(&bytes[..]).unwrap(), "1.1.0");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(6);
    h.set_cksum();
    b.append_data(&mut h, "metadata/version", &b"2.0.0\n"[..])
        .unwrap();
    let gz = gojson::gzip_sidecar(&b.into_inner().unwrap());
    assert!(matches!(read_version(&gz[..]), Err(Error::UnsupportedVersion { found }) if found == "2.0.0"));
    let empty = gojson::gzip_sidecar(&[0u8; 1024]);
    assert!(matches!(read_version(&empty[..]), Err(Error::MissingVersion)));
}

#[test]
fn counters_track_bytes() {
    let (bytes, index) = write(&sample_items(40), WriterOptions::default());
    let mut r = ArchiveReader::new(&bytes[..]);
    let n = r.entries().unwrap().count();
    assert_eq!(n, 81);
    assert_eq!(r.compressed_bytes(), bytes.len() as u64);
    assert!(r.uncompressed_bytes() >= index.uncompressed_size - 1024);
}

#[test]
fn index_serialization_and_verify_reports() {
    let (bytes, index) = write(&sample_items(20), small_members());
    let gz = index.to_gzip_json().unwrap();
    let back = ArchiveIndex::from_gzip_json(&gz).unwrap();
    assert_eq!(back, index);
    // Tamper: drop an entry from the index, change another's hash, add a phantom.
    let mut tampered = index.clone();
    let dropped = tampered.entries.remove(3).path;
    tampered.entries[5].sha256 = "00".repeat(32);
    let changed = tampered.entries[5].path.clone();
    let mut phantom = tampered.entries[0].clone();
    phantom.path = "resources/pods/cluster/ghost.json".into();
    tampered.entries.push(phantom);
    let report = tampered.verify(&bytes[..], ReaderOptions::default()).unwrap();
    assert_eq!(report.extra, vec![dropped]);
    assert_eq!(report.mismatched, vec![changed]);
    assert_eq!(
        report.missing,
        vec!["resources/pods/cluster/ghost.json".to_owned()]
    );
    assert!(!report.is_ok());
}

#[test]
fn streamed_index_equals_the_whole_index() {
    let items = sample_items(60);
    let (bytes, whole) = write(&items, small_members());
    // The same archive, with entries taken out of the writer while it runs.
    let mut sorted: Vec<&(ItemRef, Vec<u8>)> = items.iter().collect();
    sorted.sort_by(|a, b| a.0.group_resource.cmp(&b.0.group_resource));
    let mut w = ArchiveWriter::with_options(Vec::new(), small_members());
    let mut stream = IndexStream::new(Vec::new()).unwrap();
    let mut held_max = 0;
    for (item, json) in sorted {
        w.add_item(item, "v1", json).unwrap();
        let taken = w.take_entries();
        held_max = held_max.max(taken.len());
        stream.push_all(taken).unwrap();
    }
    let (streamed_bytes, rest) = w.finish().unwrap();
    assert_eq!(
        streamed_bytes, bytes,
        "taking entries does not change the archive"
    );
    assert!(
        held_max < whole.entries.len() / 4,
        "entries left the writer as members were written"
    );
    let gz = stream.finish(rest).unwrap();
    let back = ArchiveIndex::from_gzip_json(&gz).unwrap();
    assert_eq!(back, whole);
    assert!(back.verify(&bytes[..], ReaderOptions::default()).unwrap().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_is_identity(
        objs in prop::collection::vec(
            ("[a-z]{1,8}(\\.[a-z]{1,6})?", prop::option::of("[a-z0-9-]{1,20}"), "[a-z0-9.:@-]{1,120}", prop::collection::vec(any::<u8>(), 0..300)),
            1..40,
        ),
        member_size in 512usize..20_000,
    ) {
        // Unique by path; raw bytes (not even JSON) must survive untouched.
        let mut seen = std::collections::BTreeSet::new();
        let mut items: Vec<(ItemRef, Vec<u8>)> = Vec::new();
        for (gr, ns, name, data) in objs {
            if name == "." || name == ".." { continue; }
            let item = ItemRef { group_resource: gr, namespace: ns, name };
            if seen.insert(item.clone()) { items.push((item, data)); }
        }
        items.sort_by(|a, b| a.0.group_resource.cmp(&b.0.group_resource));
        let opts = WriterOptions { member_size, max_in_flight: 3, ..WriterOptions::default() };
        let (bytes, index) = write(&items, opts);
        let entries = read_all(&bytes).unwrap();
        let got: Vec<(ItemRef, Vec<u8>)> = entries.iter().filter_map(|e| match &e.kind {
            EntryKind::Item(i, VersionDir::Classic) => Some((i.clone(), e.data.clone())),
            _ => None,
        }).collect();
        prop_assert_eq!(got, items);
        prop_assert!(index.verify(&bytes[..], ReaderOptions::default()).unwrap().is_ok());
    }
}

#[test]
fn failing_source_is_a_read_error() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            // A valid gzip header start, then the failure.
            let hdr = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
            let n = hdr.len().min(buf.len());
            buf[..n].copy_from_slice(&hdr[..n]);
            self.0 -= 1;
            Ok(n)
        }
    }
    let mut r = ArchiveReader::new(Failing(1));
    let err = r.entries().and_then(|mut e| e.next().unwrap()).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
}
