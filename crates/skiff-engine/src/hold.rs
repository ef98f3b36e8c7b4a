//! Holds: land workloads on a target without running them, and release them later exactly as
//! the source had them. One mechanism for `skiff migrate --hold`, `skiff sync` (holds by
//! default) and `skiff cutover` (which holds the source and releases the target).
//!
//! Holding an object rewrites a few fields and records, in the annotation [`HOLD_ANNOTATION`],
//! the original value (or absence) of every field it touched, so releasing needs nothing but the
//! object itself:
//!
//! | kind | held form |
//! |---|---|
//! | `Deployment`, `StatefulSet`, `ReplicaSet`, `ReplicationController` | `spec.replicas: 0` |
//! | `CronJob` | `spec.suspend: true` |
//! | `DaemonSet` | a pod-template node selector `skiff.io/held: "true"` that matches no node (as Konveyor MTC does) |
//! | `Job`, bare `Pod` (no controller owner) | not created while held: **deferred** to the release |
//! | custom resources named in [`HoldRules`] | the user's JSON patch (e.g. `/spec/shutdown: true`) |
//!
//! Pure: no IO. The executor sends the held objects; releasing in a cluster sends the JSON patch
//! from [`release_patch`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use thiserror::Error;

/// Annotation holding the record of a hold (JSON: a list of [`Touched`] fields).
pub const HOLD_ANNOTATION: &str = "skiff.io/hold";
/// Node-selector key that keeps a held `DaemonSet`'s pods off every node.
pub const HOLD_NODE_SELECTOR: &str = "skiff.io/held";

/// A hold that cannot be applied or released.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HoldError {
    /// The hold-rules document is malformed.
    #[error("parse hold rules: {reason}")]
    Rules {
        /// What is wrong.
        reason: String,
    },
    /// A rule's patch does not apply to an object.
    #[error("hold {object}: {reason}")]
    Patch {
        /// The object (`group-resource/ns/name`).
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The hold annotation of an object is not skiff's record.
    #[error("release {object}: annotation {HOLD_ANNOTATION} is malformed")]
    Record {
        /// The object.
        object: String,
    },
}

/// One field a hold changed: its JSON pointer and the value it had (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Touched {
    /// JSON pointer of the field.
    pub path: String,
    /// The value before the hold; `None` when the field did not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<Value>,
}

/// One operation of a user hold patch (the subset of RFC 6902 a hold needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldOp {
    /// `add`, `replace` or `remove`.
    pub op: String,
    /// JSON pointer.
    pub path: String,
    /// New value (`add`, `replace`).
    #[serde(default)]
    pub value: Option<Value>,
}

/// User rules: custom resources patched to an idle form while held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HoldRules {
    /// Group-resource (`postgresclusters.postgres-operator.crunchydata.com`) → patch.
    pub custom: BTreeMap<String, Vec<HoldOp>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RulesDoc {
    holds: Vec<RuleDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuleDoc {
    group_resource: String,
    patch: Vec<HoldOp>,
}

impl HoldRules {
    /// Parse a rules file:
    ///
    /// ```yaml
    /// holds:
    /// - groupResource: postgresclusters.postgres-operator.crunchydata.com
    ///   patch:
    ///   - {op: replace, path: /spec/shutdown, value: true}
    /// ```
    pub fn parse(text: &str) -> Result<Self, HoldError> {
        let doc: RulesDoc = serde_yaml_ng::from_str(text).map_err(|e| HoldError::Rules {
            reason: e.to_string(),
        })?;
        let mut custom = BTreeMap::new();
        for (i, r) in doc.holds.into_iter().enumerate() {
            if r.group_resource.is_empty() || r.patch.is_empty() {
                return Err(HoldError::Rules {
                    reason: format!("holds[{i}]: groupResource and patch must not be empty"),
                });
            }
            for (j, op) in r.patch.iter().enumerate() {
                let ok = match op.op.as_str() {
                    "add" | "replace" => op.value.is_some(),
                    "remove" => op.value.is_none(),
                    _ => false,
                };
                if !ok || !op.path.starts_with('/') || op.path.starts_with("/metadata") {
                    return Err(HoldError::Rules {
                        reason: format!(
                            "holds[{i}].patch[{j}]: expected add/replace with a value or remove without one, \
                             at a path outside /metadata"
                        ),
                    });
                }
            }
            custom.insert(r.group_resource, r.patch);
        }
        Ok(Self { custom })
    }
}

/// What a hold did to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HoldOutcome {
    /// Nothing to hold (not a workload, or already in the held form).
    NotHeld,
    /// Rewritten to its held form (the fields named).
    Held(Vec<String>),
    /// Not to be created until the release (Jobs, bare Pods).
    Deferred,
}

fn describe(obj: &Value, gr: &str) -> String {
    let m = obj.get("metadata");
    let name = m
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match m.and_then(|m| m.get("namespace")).and_then(Value::as_str) {
        Some(ns) => format!("{gr}/{ns}/{name}"),
        None => format!("{gr}/{name}"),
    }
}

/// Whether a Pod has a controller owner (then its controller, not skiff, creates it).
fn has_controller(obj: &Value) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("controller") == Some(&Value::Bool(true)))
        })
}

/// Whether an object is created only at the release (Jobs, bare Pods).
pub fn is_deferred(gr: &str, obj: &Value) -> bool {
    matches!(gr, "jobs.batch" | "pods") && !has_controller(obj)
}

/// Set `path` (a JSON pointer whose parents may be missing) to `value`.
fn set(obj: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut cur = obj;
    let parts: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = parts.split_last() else {
        return Err("empty path".into());
    };
    for p in parents {
        cur = match cur {
            Value::Object(m) => m.entry(p.clone()).or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => {
                let i: usize = p.parse().map_err(|_| format!("{path}: {p:?} is not an index"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("{path}: index {i} out of range"))?
            }
            _ => return Err(format!("{path}: parent is not an object")),
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("{path}: {last:?} is not an index"))?;
            let slot = a
                .get_mut(i)
                .ok_or_else(|| format!("{path}: index {i} out of range"))?;
            *slot = value;
            Ok(())
        }
        _ => Err(format!("{path}: parent is not an object")),
    }
}

/// The shortest prefix of `path` that does not exist in `obj` (`None`: every prefix exists or
/// the whole path is the first missing one).
fn first_missing(obj: &Value, path: &str) -> Option<String> {
    let mut prefix = String::new();
    for part in path.split('/').skip(1) {
        prefix.push('/');
        prefix.push_str(part);
        if obj.pointer(&prefix).is_none() {
            return Some(prefix);
        }
    }
    None
}

/// Remove `path` if present.
fn remove(obj: &mut Value, path: &str) {
    let Some((parent, last)) = path.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = if parent.is_empty() {
        Some(obj)
    } else {
        obj.pointer_mut(parent)
    };
    if let Some(Value::Object(m)) = target {
        m.remove(&last);
    }
}

/// Rewrite `obj` (of group-resource `gr`) to its held form, recording what changed in its
/// annotation. An object already holding a record is left alone (holding is idempotent).
pub fn hold(gr: &str, obj: &mut Value, rules: &HoldRules) -> Result<HoldOutcome, HoldError> {
    if obj
        .pointer(&format!(
            "/metadata/annotations/{}",
            HOLD_ANNOTATION.replace('/', "~1")
        ))
        .is_some()
    {
        return Ok(HoldOutcome::NotHeld);
    }
    if is_deferred(gr, obj) {
        return Ok(HoldOutcome::Deferred);
    }
    let ops: Vec<(String, Option<Value>)> = match gr {
        "deployments.apps" | "statefulsets.apps" | "replicasets.apps" | "replicationcontrollers" => {
            vec![("/spec/replicas".into(), Some(json!(0)))]
        }
        "cronjobs.batch" => vec![("/spec/suspend".into(), Some(json!(true)))],
        "daemonsets.apps" => vec![(
            format!(
                "/spec/template/spec/nodeSelector/{}",
                HOLD_NODE_SELECTOR.replace('/', "~1")
            ),
            Some(json!("true")),
        )],
        _ => match rules.custom.get(gr) {
            Some(patch) => patch.iter().map(|o| (o.path.clone(), o.value.clone())).collect(),
            None => return Ok(HoldOutcome::NotHeld),
        },
    };
    let mut touched = Vec::new();
    for (path, value) in ops {
        let was = obj.pointer(&path).cloned();
        if was.as_ref() == value.as_ref() {
            continue;
        }
        // A missing parent is created by the hold: record the parent, so a release removes it.
        let recorded = first_missing(obj, &path).unwrap_or_else(|| path.clone());
        match value {
            Some(v) => set(obj, &path, v).map_err(|reason| HoldError::Patch {
                object: describe(obj, gr),
                reason,
            })?,
            None => remove(obj, &path),
        }
        touched.push(Touched {
            was: if recorded == path { was } else { None },
            path: recorded,
        });
    }
    if touched.is_empty() {
        return Ok(HoldOutcome::NotHeld);
    }
    let fields = touched.iter().map(|t| t.path.clone()).collect();
    let record = serde_json::to_string(&touched).expect("hold record serializes");
    set(
        obj,
        &format!("/metadata/annotations/{}", HOLD_ANNOTATION.replace('/', "~1")),
        Value::String(record),
    )
    .map_err(|reason| HoldError::Patch {
        object: describe(obj, gr),
        reason,
    })?;
    Ok(HoldOutcome::Held(fields))
}

/// The hold record of an object, if it has one.
pub fn record(obj: &Value) -> Result<Option<Vec<Touched>>, HoldError> {
    let Some(text) = obj
        .pointer(&format!(
            "/metadata/annotations/{}",
            HOLD_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|_| HoldError::Record {
            object: describe(obj, obj.get("kind").and_then(Value::as_str).unwrap_or("object")),
        })
}

/// Update a held object's record with a newer source value of a held field (sync: the source
/// scaled a held Deployment). `source` is the source object; every touched path takes the
/// source's current value, so a release restores what the source has now.
pub fn refresh(obj: &mut Value, source: &Value) -> Result<(), HoldError> {
    let Some(mut touched) = record(obj)? else {
        return Ok(());
    };
    for t in &mut touched {
        t.was = source.pointer(&t.path).cloned();
    }
    let text = serde_json::to_string(&touched).expect("hold record serializes");
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.insert(HOLD_ANNOTATION.into(), Value::String(text));
    }
    Ok(())
}

/// Release locally: put back every recorded field and drop the record. Returns whether the
/// object was held.
pub fn release(obj: &mut Value) -> Result<bool, HoldError> {
    let Some(touched) = record(obj)? else {
        return Ok(false);
    };
    for t in touched.iter().rev() {
        match &t.was {
            Some(v) => set(obj, &t.path, v.clone()).map_err(|reason| HoldError::Patch {
                object: describe(obj, "object"),
                reason,
            })?,
            None => remove(obj, &t.path),
        }
    }
    remove(
        obj,
        &format!("/metadata/annotations/{}", HOLD_ANNOTATION.replace('/', "~1")),
    );
    if obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        remove(obj, "/metadata/annotations");
    }
    Ok(true)
}

/// The RFC 6902 JSON patch that releases a held object in a cluster (`None` if not held). It
/// tests the record first, so a release never applies a stale record.
pub fn release_patch(obj: &Value) -> Result<Option<Value>, HoldError> {
    let Some(touched) = record(obj)? else {
        return Ok(None);
    };
    let ann = format!("/metadata/annotations/{}", HOLD_ANNOTATION.replace('/', "~1"));
    let mut ops =
        vec![json!({"op": "test", "path": ann, "value": obj.pointer(&ann).cloned().unwrap_or(Value::Null)})];
    for t in touched.iter().rev() {
        match &t.was {
            Some(v) => ops.push(json!({"op": "add", "path": t.path, "value": v})),
            None if obj.pointer(&t.path).is_some() => ops.push(json!({"op": "remove", "path": t.path})),
            None => {}
        }
    }
    ops.push(json!({"op": "remove", "path": ann}));
    Ok(Some(Value::Array(ops)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(replicas: Option<i64>) -> Value {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "app"}, "spec": {"template": {"spec": {}}}});
        if let Some(r) = replicas {
            d["spec"]["replicas"] = json!(r);
        }
        d
    }

    #[test]
    fn workloads_hold_and_release_to_the_original() {
        let rules = HoldRules::default();
        for original in [deploy(Some(3)), deploy(None)] {
            let mut d = original.clone();
            assert_eq!(
                hold("deployments.apps", &mut d, &rules).unwrap(),
                HoldOutcome::Held(vec!["/spec/replicas".into()])
            );
            assert_eq!(d["spec"]["replicas"], 0);
            // Idempotent: a second hold changes nothing.
            let again = d.clone();
            assert_eq!(
                hold("deployments.apps", &mut d, &rules).unwrap(),
                HoldOutcome::NotHeld
            );
            assert_eq!(d, again);
            assert!(release(&mut d).unwrap());
            assert_eq!(d, original);
        }
        let mut cj = json!({"kind": "CronJob", "metadata": {"name": "c", "annotations": {"keep": "x"}},
            "spec": {"suspend": false}});
        let original = cj.clone();
        hold("cronjobs.batch", &mut cj, &rules).unwrap();
        assert_eq!(cj["spec"]["suspend"], true);
        release(&mut cj).unwrap();
        assert_eq!(cj, original);
        let mut ds = json!({"kind": "DaemonSet", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}});
        let original = ds.clone();
        hold("daemonsets.apps", &mut ds, &rules).unwrap();
        assert_eq!(
            ds["spec"]["template"]["spec"]["nodeSelector"][HOLD_NODE_SELECTOR],
            "true"
        );
        assert_eq!(ds["spec"]["template"]["spec"]["nodeSelector"]["disk"], "ssd");
        release(&mut ds).unwrap();
        assert_eq!(ds, original);
    }

    #[test]
    fn jobs_and_bare_pods_are_deferred() {
        let rules = HoldRules::default();
        let mut job = json!({"metadata": {"name": "j"}});
        assert_eq!(
            hold("jobs.batch", &mut job, &rules).unwrap(),
            HoldOutcome::Deferred
        );
        let mut pod = json!({"metadata": {"name": "p"}});
        assert_eq!(hold("pods", &mut pod, &rules).unwrap(), HoldOutcome::Deferred);
        let mut owned = json!({"metadata": {"name": "p", "ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}});
        assert_eq!(hold("pods", &mut owned, &rules).unwrap(), HoldOutcome::NotHeld);
        let mut cm = json!({"metadata": {"name": "c"}});
        assert_eq!(hold("configmaps", &mut cm, &rules).unwrap(), HoldOutcome::NotHeld);
    }

    #[test]
    fn custom_resources_follow_user_rules() {
        let rules = HoldRules::parse(
            "holds:\n- groupResource: dbs.example.com\n  patch:\n  - {op: replace, path: /spec/shutdown, value: true}\n  - {op: add, path: /spec/standby/enabled, value: true}\n",
        )
        .unwrap();
        let original = json!({"kind": "Db", "metadata": {"name": "db"}, "spec": {"shutdown": false}});
        let mut db = original.clone();
        let out = hold("dbs.example.com", &mut db, &rules).unwrap();
        // `standby` did not exist: the record names it, so the release removes it whole.
        assert_eq!(
            out,
            HoldOutcome::Held(vec!["/spec/shutdown".into(), "/spec/standby".into()])
        );
        assert_eq!(db["spec"]["standby"]["enabled"], true);
        // The cluster-side release patch, applied with json-patch, gives the original back
        // (but for the emptied annotations map, which a server keeps).
        let patch: json_patch::Patch = serde_json::from_value(release_patch(&db).unwrap().unwrap()).unwrap();
        let mut applied = db.clone();
        json_patch::patch(&mut applied, &patch).unwrap();
        assert_eq!(applied["spec"], original["spec"]);
        assert_eq!(applied["metadata"]["annotations"], json!({}));
        let mut local = db.clone();
        assert!(release(&mut local).unwrap());
        assert_eq!(local, original);
        for bad in [
            "holds: [{groupResource: x, patch: [{op: move, path: /a}]}]",
            "holds: [{groupResource: x, patch: [{op: replace, path: /metadata/name, value: y}]}]",
            "holds: [{groupResource: '', patch: []}]",
            "holds: [{groupResource: x, patch: [{op: remove, path: /a, value: 1}]}]",
        ] {
            assert!(
                matches!(HoldRules::parse(bad), Err(HoldError::Rules { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn refresh_tracks_the_source() {
        let mut d = deploy(Some(3));
        hold("deployments.apps", &mut d, &HoldRules::default()).unwrap();
        refresh(&mut d, &deploy(Some(5))).unwrap();
        assert_eq!(d["spec"]["replicas"], 0);
        release(&mut d).unwrap();
        assert_eq!(d["spec"]["replicas"], 5);
    }
}
