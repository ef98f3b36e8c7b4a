//! Differential: the Go-JSON transcoder's output equals `gojson::to_vec` of `serde_json`'s
//! tree of the same text, or it declines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use skiff_format::gojson;

fuzz_target!(|data: &[u8]| {
    let mut out = b"keep".to_vec();
    let fast = gojson::transcode(data, &mut out).map(|()| out[4..].to_vec());
    if fast.is_none() {
        assert_eq!(out, b"keep", "declining must leave the output unchanged");
    }
    let tree = serde_json::from_slice::<Value>(data)
        .ok()
        .map(|v| gojson::to_vec(&v));
    match (fast, tree) {
        (Some(f), Some(t)) => assert_eq!(f, t, "transcoder and tree path differ"),
        (Some(f), None) => panic!(
            "transcoded input serde_json refuses into {}",
            String::from_utf8_lossy(&f)
        ),
        (None, _) => {}
    }
    // With defaults, on objects.
    let mut out = Vec::new();
    if gojson::transcode_with(data, &[("apiVersion", "v1"), ("kind", "Secret")], &mut out).is_some() {
        let v: Value = serde_json::from_slice(&out).expect("transcoded output parses");
        assert!(v.get("kind").is_some_and(Value::is_string));
    }
});
