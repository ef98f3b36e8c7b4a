//! Real Velero objects from the shared fixtures against the typed models and the generated CRD
//! schemas: nothing Velero wrote is pruned by skiff's CRDs, and the models read and re-write
//! them without losing a field.
//!
//! The folder is `$SKIFF_SHARED_DIR/fixtures` or `../shared/fixtures` next to the workspace; every
//! test prints a message and returns when it is absent.
#![allow(missing_docs, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use skiff_format::velero::{
    self, Backup, BackupStorageLocation, Schema, VolumeSnapshotLocation, pruned_paths,
};

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("SKIFF_SHARED_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")),
        PathBuf::from,
    );
    let fixtures = dir.join("fixtures");
    if fixtures.is_dir() {
        Some(fixtures)
    } else {
        eprintln!(
            "SKIP: shared fixtures not found at {} (set SKIFF_SHARED_DIR)",
            fixtures.display()
        );
        None
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every Backup object of the fixtures: the `velero-backup.json` files and the Backup CRs of the
/// debug bundle.
fn backup_objects(fx: &Path) -> Vec<(PathBuf, Value)> {
    let mut all = Vec::new();
    files(fx, &mut all);
    all.sort();
    all.into_iter()
        .filter(|p| {
            p.file_name().unwrap() == "velero-backup.json"
                || p.to_string_lossy().contains("derived-backup-crs")
        })
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect()
}

#[test]
fn no_field_velero_wrote_is_pruned_by_the_generated_backup_crd() {
    let Some(fx) = shared() else { return };
    let schema = Backup::schema();
    let objects = backup_objects(&fx);
    assert!(objects.len() >= 20, "found only {}", objects.len());
    for (p, v) in &objects {
        let pruned = pruned_paths(v, &schema);
        assert!(pruned.is_empty(), "{}: {pruned:?}", p.display());
    }
}

#[test]
fn storage_and_snapshot_locations_of_a_real_install_fit_the_models() {
    let Some(fx) = shared() else { return };
    let dir = fx
        .join("velero-real/velero-e2e-debug-bundle/extracted/velero-bundle/kubecapture/velero.io_v1/velero");
    let mut all = Vec::new();
    files(&dir, &mut all);
    let mut checked = 0;
    for p in all {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let list: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        for item in list["items"].as_array().unwrap() {
            let kind = item["kind"].as_str().unwrap();
            let k = velero::kind_named(kind).unwrap();
            assert!(pruned_paths(item, &k.schema).is_empty(), "{name}: {kind}");
            // The typed model keeps every field: re-serialized, the object is the same.
            let back = match kind {
                "BackupStorageLocation" => {
                    let b: BackupStorageLocation = serde_json::from_value(item.clone()).unwrap();
                    assert_eq!(b.spec.object_storage.as_ref().unwrap().bucket, "bucket-velero");
                    serde_json::to_value(&b).unwrap()
                }
                "VolumeSnapshotLocation" => {
                    let b: VolumeSnapshotLocation = serde_json::from_value(item.clone()).unwrap();
                    serde_json::to_value(&b).unwrap()
                }
                "Backup" => {
                    serde_json::to_value(serde_json::from_value::<Backup>(item.clone()).unwrap()).unwrap()
                }
                other => panic!("unexpected kind {other}"),
            };
            // An empty `status: {}` written by the server and an absent one decode alike.
            let drop_empty_status = |mut v: Value| {
                if v.get("status")
                    .is_some_and(|s| s.as_object().is_some_and(serde_json::Map::is_empty))
                {
                    v.as_object_mut().map(|m| m.remove("status"));
                }
                v
            };
            assert_eq!(
                drop_empty_status(back),
                drop_empty_status(item.clone()),
                "{name}: {kind}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 14, "checked only {checked}");
}

#[test]
fn an_unknown_field_is_pruned_where_velero_prunes_it() {
    let Some(fx) = shared() else { return };
    let (_, mut v) = backup_objects(&fx).swap_remove(0);
    v["spec"]["fieldFromTheFuture"] = 1.into();
    v["status"]["progress"]["newCounter"] = 2.into();
    v["topLevel"] = true.into();
    let mut got = pruned_paths(&v, &Backup::schema());
    got.sort();
    assert_eq!(
        got,
        [
            ".spec.fieldFromTheFuture",
            ".status.progress.newCounter",
            ".topLevel"
        ]
    );
}
