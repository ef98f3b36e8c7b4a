//! Remapping: namespaces, storage classes and image registries.
//!
//! Image registry mapping is deterministic, unlike Velero's ConfigMap rows tried in Go map order:
//! a mapping `old → new` applies to an image reference that equals `old` or starts with `old/`
//! (so `registry.old` never matches `registry.older/app`); among matching keys the **longest**
//! wins (`registry.old/team` beats `registry.old`), and only that prefix is replaced. Matching is
//! textual on the reference as written: `docker.io` does not match `nginx:1.27`.

use super::{PlanError, Result};
use serde_json::Value;
use std::collections::BTreeMap;

/// DNS-1123 label: lowercase alphanumerics and `-`, alphanumeric at both ends, ≤ 63 chars.
pub(crate) fn dns1123_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !s.chars().all(ok_char) || s.starts_with('-') || s.ends_with('-') {
        return Err(
            "must be a DNS-1123 label (lowercase alphanumerics and '-', alphanumeric at both ends)".into(),
        );
    }
    Ok(())
}

/// DNS-1123 subdomain: dot-separated labels, ≤ 253 chars.
fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    s.split('.')
        .try_for_each(dns1123_label)
        .map_err(|_| "must be a DNS-1123 subdomain".to_string())
}

/// Validate every mapping of the options.
pub(crate) fn validate(
    namespaces: &BTreeMap<String, String>,
    storage_classes: &BTreeMap<String, String>,
    registries: &BTreeMap<String, String>,
) -> Result<()> {
    for (from, to) in namespaces {
        dns1123_label(to)
            .and_then(|()| {
                if from.is_empty() {
                    Err("source namespace is empty".into())
                } else {
                    Ok(())
                }
            })
            .map_err(|reason| PlanError::InvalidNamespaceMapping {
                from: from.clone(),
                to: to.clone(),
                reason,
            })?;
    }
    for (from, to) in storage_classes {
        dns1123_subdomain(to)
            .and_then(|()| {
                if from.is_empty() {
                    Err("source class is empty".into())
                } else {
                    Ok(())
                }
            })
            .map_err(|reason| PlanError::InvalidStorageClassMapping {
                from: from.clone(),
                to: to.clone(),
                reason,
            })?;
    }
    for (from, to) in registries {
        if from.is_empty() || to.is_empty() {
            return Err(PlanError::InvalidImageMapping {
                from: from.clone(),
                to: to.clone(),
            });
        }
    }
    Ok(())
}

/// Apply the registry mappings to one image reference (see the module docs). `None` = unchanged.
pub fn map_image(image: &str, mappings: &BTreeMap<String, String>) -> Option<String> {
    let (from, to) = mappings
        .iter()
        .filter(|(from, _)| {
            let from = from.trim_end_matches('/');
            image == from || image.strip_prefix(from).is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|(from, _)| from.trim_end_matches('/').len())?;
    let rest = &image[from.trim_end_matches('/').len()..];
    Some(format!("{}{rest}", to.trim_end_matches('/')))
}

/// Pod specs inside an object of the given resource (containers live under these).
fn pod_spec_pointers(gr: &str) -> &'static [&'static str] {
    match gr {
        "pods" => &["/spec"],
        "cronjobs.batch" => &["/spec/jobTemplate/spec/template/spec"],
        "deployments.apps"
        | "statefulsets.apps"
        | "daemonsets.apps"
        | "replicasets.apps"
        | "replicationcontrollers"
        | "jobs.batch" => &["/spec/template/spec"],
        _ => &[],
    }
}

/// Rewrite images of containers, initContainers and ephemeralContainers; returns the actions.
pub(crate) fn map_images(gr: &str, obj: &mut Value, mappings: &BTreeMap<String, String>) -> Vec<String> {
    let mut actions = Vec::new();
    if mappings.is_empty() {
        return actions;
    }
    for ptr in pod_spec_pointers(gr) {
        let Some(spec) = obj.pointer_mut(ptr) else {
            continue;
        };
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in cs {
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let Some(image) = c.get("image").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(new) = map_image(image, mappings) {
                    actions.push(format!("image of {list}[{name}] {image} -> {new}"));
                    c["image"] = Value::String(new);
                }
            }
        }
    }
    actions
}

/// Storage class mapping (§5.10) for PVs, PVCs and StatefulSet claim templates. Returns the
/// actions and the new classes used (checked against the target by the caller).
pub(crate) fn map_storage_classes(
    gr: &str,
    obj: &mut Value,
    mappings: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let mut actions = Vec::new();
    let mut used = Vec::new();
    let mut map_at = |v: &mut Value, what: &str| {
        let Some(old) = v.get("storageClassName").and_then(Value::as_str) else {
            return;
        };
        if let Some(new) = mappings.get(old) {
            actions.push(format!("storage class of {what} {old} -> {new}"));
            used.push(new.clone());
            v["storageClassName"] = Value::String(new.clone());
        }
    };
    match gr {
        "persistentvolumes" | "persistentvolumeclaims" => {
            if let Some(spec) = obj.get_mut("spec") {
                map_at(spec, "spec");
            }
        }
        "statefulsets.apps" => {
            if let Some(ts) = obj
                .pointer_mut("/spec/volumeClaimTemplates")
                .and_then(Value::as_array_mut)
            {
                for t in ts {
                    let name = t
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if let Some(spec) = t.get_mut("spec") {
                        map_at(spec, &format!("volumeClaimTemplates[{name}]"));
                    }
                }
            }
        }
        _ => {}
    }
    (actions, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_mapping_is_prefix_and_longest_wins() {
        let m: BTreeMap<String, String> = [
            ("registry.old".to_string(), "registry.new".to_string()),
            (
                "registry.old/team".to_string(),
                "mirror.example/team2".to_string(),
            ),
            (
                "docker.io/library/".to_string(),
                "mirror.example/lib/".to_string(),
            ),
        ]
        .into();
        assert_eq!(
            map_image("registry.old/app:1", &m).as_deref(),
            Some("registry.new/app:1")
        );
        assert_eq!(
            map_image("registry.old/team/app@sha256:ab", &m).as_deref(),
            Some("mirror.example/team2/app@sha256:ab")
        );
        assert_eq!(map_image("registry.older/app:1", &m), None);
        assert_eq!(
            map_image("docker.io/library/nginx", &m).as_deref(),
            Some("mirror.example/lib/nginx")
        );
        assert_eq!(map_image("nginx:1.27", &m), None);
    }

    #[test]
    fn mapping_validation() {
        let ns = |to: &str| [("app".to_string(), to.to_string())].into();
        let none = BTreeMap::new();
        assert!(validate(&ns("app-2"), &none, &none).is_ok());
        for bad in ["App", "-a", "a_b", "", &"a".repeat(64)] {
            let err = validate(&ns(bad), &none, &none).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("validate namespace mapping app:{bad}: ")),
                "{err}"
            );
        }
        let sc = [("gp2".to_string(), "Fast SSD".to_string())].into();
        assert!(matches!(
            validate(&none, &sc, &none),
            Err(PlanError::InvalidStorageClassMapping { .. })
        ));
    }
}
