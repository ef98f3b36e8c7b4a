//! The one-pass JSON checker against serde_json: it accepts exactly what serde_json accepts
//! (nesting aside), the head it returns is serde_json's, and the pretty rendering from the raw
//! text is the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use skiff_format::{Error, json};

fuzz_target!(|data: &[u8]| {
    let scanned = json::scan(data, "fuzz");
    let tree = serde_json::from_slice::<Value>(data);
    match (&scanned, &tree) {
        (Ok(_), Err(e)) => panic!("scan accepts what serde_json refuses: {e}"),
        (Err(Error::InvalidJson { reason, .. }), Ok(_)) => {
            assert_eq!(
                *reason, "nested too deeply",
                "scan refuses what serde_json accepts"
            );
        }
        (Err(e), Ok(_)) => panic!("unexpected scan error {e}"),
        _ => {}
    }
    if let (Ok(s), Ok(v)) = (&scanned, &tree) {
        let pretty = json::render_pretty(data, "fuzz").expect("render a scanned document");
        let back: Value = serde_json::from_slice(&pretty).expect("rendering parses");
        if s.wide_integers == 0 {
            assert_eq!(&back, v, "rendering changed the value");
        }
        assert!(!pretty.iter().any(|&b| b < 0x20 && b != b'\n'));
        if let Ok((head, _)) = json::check_item(data, "fuzz") {
            let str_at = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(head.kind, str_at("/kind"));
            assert_eq!(head.api_version, str_at("/apiVersion"));
            assert_eq!(head.metadata.name, str_at("/metadata/name"));
            assert_eq!(head.metadata.namespace, str_at("/metadata/namespace"));
        }
        let _ = json::parse_tree(data, "fuzz", 1 << 20);
    }
});
