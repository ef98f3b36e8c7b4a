//! The generated CRDs against the facts of Velero v1.18's own CRDs (`velero_v1_18_crds.txt`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

const VELERO_CRDS: &str = include_str!("velero_v1_18_crds.txt");

/// One CRD of the data file: its `crd` line, printer columns and schema lines.
#[derive(Debug, Default)]
struct Expected {
    crd: String,
    cols: Vec<String>,
    paths: Vec<String>,
}

fn expected() -> Vec<Expected> {
    let mut out: Vec<Expected> = Vec::new();
    for line in VELERO_CRDS.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("crd ") {
            out.push(Expected {
                crd: line.to_owned(),
                ..Expected::default()
            });
        } else if let Some(c) = line.strip_prefix("col ") {
            out.last_mut().unwrap().cols.push(c.to_owned());
        } else {
            out.last_mut().unwrap().paths.push(line.to_owned());
        }
    }
    out
}

fn s(v: &Value, p: &str) -> String {
    v.pointer(p).and_then(Value::as_str).unwrap_or("-").to_owned()
}

/// The `crd` line of a generated CRD, in the data file's notation.
fn crd_line(crd: &Value) -> String {
    let v = &crd["spec"]["versions"][0];
    let short: Vec<&str> = crd["spec"]["names"]["shortNames"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "crd {} group={} scope={} kind={} listKind={} plural={} singular={} short={} version={} served={} storage={} subresources={}",
        s(crd, "/metadata/name"),
        s(crd, "/spec/group"),
        s(crd, "/spec/scope"),
        s(crd, "/spec/names/kind"),
        s(crd, "/spec/names/listKind"),
        s(crd, "/spec/names/plural"),
        s(crd, "/spec/names/singular"),
        if short.is_empty() {
            "-".to_owned()
        } else {
            short.join(",")
        },
        s(v, "/name"),
        v["served"],
        v["storage"],
        v.get("subresources")
            .map_or_else(|| "none".to_owned(), Value::to_string),
    )
}

fn col_lines(crd: &Value) -> Vec<String> {
    crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    format!(
                        "{}|{}|{}|{}|{}",
                        s(c, "/name"),
                        s(c, "/type"),
                        s(c, "/jsonPath"),
                        s(c, "/format"),
                        c.get("priority").map_or_else(|| "-".to_owned(), Value::to_string)
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The rendered `openAPIV3Schema` JSON flattened like the data file (independently of
/// `Props::typed_paths`, so the JSON rendering is checked too).
fn flatten_json(s: &Value, path: &str, out: &mut Vec<String>) {
    let mut line = vec![
        if path.is_empty() { "." } else { path }.to_owned(),
        s["type"].as_str().unwrap_or("-").to_owned(),
    ];
    if s["nullable"] == json!(true) {
        line.push("nullable".into());
    }
    if let Some(f) = s["format"].as_str() {
        line.push(format!("format={f}"));
    }
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    if s.get("enum").is_some() {
        line.push(format!("enum={}", strs(&s["enum"]).join("|")));
    }
    if s.get("required").is_some() {
        line.push(format!("required={}", strs(&s["required"]).join(",")));
    }
    if let Some(d) = s.get("default") {
        line.push(format!("default={d}"));
    }
    if let Some(n) = s.get("minItems") {
        line.push(format!("minItems={n}"));
    }
    if let Some(t) = s["x-kubernetes-map-type"].as_str() {
        line.push(format!("map={t}"));
    }
    if let Some(t) = s["x-kubernetes-list-type"].as_str() {
        line.push(format!("list={t}"));
    }
    if s["x-kubernetes-preserve-unknown-fields"] == json!(true) {
        line.push("preserve".into());
    }
    out.push(line.join(" "));
    if let Some(props) = s["properties"].as_object() {
        for (k, v) in props {
            flatten_json(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = s.get("items") {
        flatten_json(items, &format!("{path}[]"), out);
    }
    if let Some(ap) = s.get("additionalProperties") {
        flatten_json(ap, &format!("{path}{{}}"), out);
    }
}

fn diff(what: &str, want: &[String], got: &[String]) -> Option<String> {
    let w: BTreeSet<&String> = want.iter().collect();
    let g: BTreeSet<&String> = got.iter().collect();
    let missing: Vec<&&String> = w.difference(&g).collect();
    let extra: Vec<&&String> = g.difference(&w).collect();
    (!missing.is_empty() || !extra.is_empty())
        .then(|| format!("{what}:\n  missing (in Velero, not generated): {missing:#?}\n  extra (generated, not in Velero): {extra:#?}"))
}

#[test]
fn generated_crds_match_velero_v1_18() {
    let want = expected();
    let got = all_crds();
    assert_eq!(want.len(), 13);
    assert_eq!(got.len(), 13);
    let mut problems = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        // Same order as `velero install` creates them, same names and version facts.
        assert_eq!(crd_line(g), w.crd);
        assert_eq!(col_lines(g), w.cols, "{}", w.crd);
        let mut paths = Vec::new();
        flatten_json(
            &g["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            "",
            &mut paths,
        );
        problems.extend(diff(&w.crd, &w.paths, &paths));
        // The Props flattening used elsewhere agrees with the JSON.
        let kind = kind_named(g["metadata"]["name"].as_str().unwrap()).unwrap();
        assert_eq!(kind.schema.typed_paths(), paths);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn crds_carry_velero_labels_and_nothing_server_set() {
    for crd in all_crds() {
        assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(crd["kind"], "CustomResourceDefinition");
        assert_eq!(crd["metadata"]["labels"], json!({"component": "velero"}));
        assert!(crd.get("status").is_none());
        assert!(crd["spec"].get("preserveUnknownFields").is_none());
        let name = crd["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            name,
            format!(
                "{}.{}",
                crd["spec"]["names"]["plural"].as_str().unwrap(),
                crd["spec"]["group"].as_str().unwrap()
            )
        );
    }
}

#[test]
fn a_dropped_field_is_noticed() {
    // The comparison above fails when a model loses a field: simulate it on Backup.
    let mut schema = Backup::schema();
    schema
        .properties
        .get_mut("status")
        .unwrap()
        .properties
        .remove("hookStatus");
    let paths = schema.typed_paths();
    let want = expected();
    let backup = want.iter().find(|e| e.crd.contains("backups.velero.io")).unwrap();
    let d = diff("backups", &backup.paths, &paths).unwrap();
    assert!(d.contains(".status.hookStatus.hooksAttempted"), "{d}");
}

#[test]
fn models_round_trip_their_own_output() {
    let bsl: BackupStorageLocation = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1",
        "kind": "BackupStorageLocation",
        "metadata": {"name": "default", "namespace": "velero"},
        "spec": {
            "provider": "aws",
            "objectStorage": {"bucket": "b", "prefix": "p", "caCert": "Zm9v"},
            "config": {"region": "minio"},
            "default": true,
            "futureKnob": 1,
        },
        "status": {"phase": "Available", "lastSyncedTime": "2026-05-20T10:00:00Z"},
    }))
    .unwrap();
    assert_eq!(bsl.spec.object_storage.as_ref().unwrap().bucket, "b");
    assert!(bsl.spec.default);
    let out = crate::gojson::to_vec_typed(&bsl).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"kind":"BackupStorageLocation","apiVersion":"velero.io/v1","metadata":{"name":"default","namespace":"velero","creationTimestamp":null},"spec":{"provider":"aws","config":{"region":"minio"},"objectStorage":{"bucket":"b","prefix":"p","caCert":"Zm9v"},"default":true,"futureKnob":1},"status":{"phase":"Available","lastSyncedTime":"2026-05-20T10:00:00Z"}}"#
    );
    let restore: Restore = serde_json::from_value(json!({
        "spec": {"backupName": "b", "hooks": {"resources": [{"name": "h", "postHooks": [
            {"init": {"initContainers": [{"name": "c", "image": "busybox", "z": {"b": 1, "a": 2}}]}}
        ]}]}},
    }))
    .unwrap();
    let v = serde_json::to_value(&restore).unwrap();
    assert_eq!(
        v["spec"]["hooks"]["resources"][0]["postHooks"][0]["init"]["initContainers"][0]["z"],
        json!({"a": 2, "b": 1})
    );
}

#[test]
fn normalize_keeps_init_containers_and_prunes_elsewhere() {
    let schema = Restore::schema();
    let obj = json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": "r"},
        "spec": {
            "backupName": "b",
            "unknownSpecField": true,
            "hooks": {"resources": [{"name": "h", "postHooks": [
                {"init": {"initContainers": [{"name": "c", "anything": {"x": 1}}]}, "bogus": 1}
            ]}]},
        },
        "status": {"phase": "Completed", "newCounter": 3},
    });
    let mut removed = pruned_paths(&obj, &schema);
    removed.sort();
    assert_eq!(
        removed,
        [
            ".spec.hooks.resources[0].postHooks[0].bogus",
            ".spec.unknownSpecField",
            ".status.newCounter"
        ]
    );
}
