//! Comparing a planned object with what the target holds: the rule behind `unchanged` (and what
//! a verify step reuses).

use serde_json::{Map, Value};

/// Whether every field of `want` is present with the same value in `have` (server defaults and
/// server-set fields in `have` are ignored).
pub fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| is_subset(v, hv)))
        }
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have,
    }
}

/// The desired object without what the server owns (metadata it sets, `status`, the restore
/// labels), for comparison with an existing object through [`is_subset`].
pub fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            m.remove(k);
        }
        if let Some(labels) = m.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove("velero.io/restore-name");
            labels.remove("velero.io/backup-name");
        }
        // Only the restore labels: an object without labels is still the same object.
        if m.get("labels")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            m.remove("labels");
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}
