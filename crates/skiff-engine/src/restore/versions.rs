//! API versions: which version of an item the target gets (API-group-version fallback), and the
//! resources a CRD of the backup will serve once restored.

use super::item::BackupItem;
use super::json::RawJson;
use super::model::SkipReason;
use serde_json::{Value, json};
use skiff_kube::{ApiResourceInfo, ApiSurface};
use std::collections::BTreeMap;

/// Pick the version to restore (API-group-version fallback): the item's own version when the
/// target serves it; otherwise another version the backup holds, the target's preferred first.
pub(crate) fn fit_version(
    item: &BackupItem,
    object: &RawJson,
    alt_versions: &[(String, RawJson)],
    surface: &ApiSurface,
    crd_resources: &BTreeMap<String, Vec<ApiResourceInfo>>,
) -> Result<(ApiResourceInfo, Value, Vec<String>), SkipReason> {
    let gr = &item.group_resource;
    let mut served: Vec<ApiResourceInfo> = surface.versions_of(gr).cloned().collect();
    if served.is_empty() {
        served = crd_resources.get(gr).cloned().unwrap_or_default();
    }
    if served.is_empty() {
        return Err(SkipReason::NotServed { detail: gr.clone() });
    }
    if let Some(info) = served.iter().find(|r| r.api_version() == item.api_version) {
        let mut obj = object.to_value();
        obj["apiVersion"] = json!(item.api_version);
        if obj.get("kind").is_none() {
            obj["kind"] = json!(info.kind);
        }
        return Ok((info.clone(), obj, vec![]));
    }
    served.sort_by_key(|r| !r.preferred);
    for info in &served {
        if let Some((v, o)) = alt_versions.iter().find(|(v, _)| *v == info.api_version()) {
            let action = format!(
                "api version {} not served by the target; using the backup's {v} copy",
                item.api_version
            );
            return Ok((info.clone(), o.to_value(), vec![action]));
        }
    }
    let offered: Vec<String> = served.iter().map(ApiResourceInfo::api_version).collect();
    Err(SkipReason::NotServed {
        detail: format!(
            "{gr} at {} (it serves {}) and the backup holds no other version",
            item.api_version,
            offered.join(", ")
        ),
    })
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first, others last.
fn version_priority(v: &str) -> (u8, u64, u8, u64) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return (0, 0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (tier, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(m) = tail.strip_prefix("beta") {
        (2, m.parse().unwrap_or(0))
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (1, m.parse().unwrap_or(0))
    } else {
        return (0, 0, 0, 0);
    };
    (1, major, tier, minor)
}

/// The resources a CRD of the backup will serve once restored.
pub(crate) fn crd_resource_infos(crd: &Value) -> Vec<ApiResourceInfo> {
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (group, plural, kind, singular) = (
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
        s("/spec/names/singular"),
    );
    if group.is_empty() || plural.is_empty() {
        return vec![];
    }
    let namespaced = s("/spec/scope") != "Cluster";
    let mut versions: Vec<String> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    if versions.is_empty() && !s("/spec/version").is_empty() {
        versions.push(s("/spec/version"));
    }
    let preferred = versions
        .iter()
        .max_by_key(|v| (version_priority(v), std::cmp::Reverse((*v).clone())))
        .cloned();
    let short_names: Vec<String> = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    versions
        .into_iter()
        .map(|version| ApiResourceInfo {
            preferred: Some(&version) == preferred.as_ref(),
            group: group.clone(),
            version,
            resource: plural.clone(),
            kind: kind.clone(),
            singular: singular.clone(),
            namespaced,
            verbs: vec![
                "create".into(),
                "get".into(),
                "list".into(),
                "patch".into(),
                "update".into(),
            ],
            short_names: short_names.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priorities() {
        let mut v = vec!["v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
