//! Velero resource modifiers (§6): strict parsing and application.
//!
//! Strategic merge patches are implemented without Kubernetes schemas, with these limits:
//! objects merge recursively (`null` deletes a key, `$patch: replace` on a map replaces it,
//! `$retainKeys` / `$setElementOrder` directives are ignored); lists merge by key only for the
//! well-known fields below, every other list is replaced (the strategic default for atomic lists):
//! `containers`, `initContainers`, `ephemeralContainers`, `volumes`, `env`, `imagePullSecrets`
//! (key `name`), `volumeMounts` (`mountPath`), `volumeDevices` (`devicePath`), `ports`
//! (`containerPort` when the patch element has one, else `port` as in Services), `hostAliases`
//! (`ip`), `conditions` (`type`); `finalizers` merges as a set. `$patch: delete` inside a keyed
//! list element removes it. Patch data is not checked against the kind's schema (Velero decodes
//! it strictly); strategic patches are refused for custom resources, as Velero refuses them.
//!
//! JSON patch `value`s follow Velero's typing (§6.4); YAML scalars that are not strings (`3`,
//! `true`) are accepted and read as their text.

use super::{PlanError, Result};
use crate::labels::{LabelSelector, object_labels};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A parsed resource modifiers document.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceModifiers {
    /// Rules in document order.
    pub rules: Vec<ModifierRule>,
}

/// One `resourceModifierRules` entry.
#[derive(Debug, Clone, Serialize)]
pub struct ModifierRule {
    /// `conditions.groupResource` glob (`.` separates segments).
    pub group_resource: String,
    /// `conditions.resourceNameRegex`.
    pub resource_name_regex: Option<String>,
    /// `conditions.namespaces` globs; empty = all.
    pub namespaces: Vec<String>,
    /// `conditions.labelSelector`.
    pub label_selector: Option<LabelSelector>,
    /// `conditions.matches`: JSON pointer → expected value.
    pub matches: Vec<(String, Value)>,
    /// The patches.
    pub patch: PatchKind,
    #[serde(skip)]
    gr_glob: globset::GlobMatcher,
    #[serde(skip)]
    name_re: Option<regex::Regex>,
}

/// The one kind of patch a rule carries.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", content = "patches", rename_all = "kebab-case")]
pub enum PatchKind {
    /// RFC 6902 operations, applied atomically.
    Json(json_patch::Patch),
    /// RFC 7386 merge patches, applied in order.
    Merge(Vec<Value>),
    /// Strategic merge patches, applied in order.
    Strategic(Vec<Value>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    conditions: RawConditions,
    patches: Option<Vec<RawJsonPatch>>,
    merge_patches: Option<Vec<RawPatchData>>,
    strategic_patches: Option<Vec<RawPatchData>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConditions {
    #[serde(default)]
    group_resource: String,
    resource_name_regex: Option<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    label_selector: Option<RawSelector>,
    #[serde(default)]
    matches: Vec<RawMatch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<RawExpr>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawExpr {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    path: String,
    value: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJsonPatch {
    #[serde(default)]
    operation: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    path: String,
    value: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPatchData {
    patch_data: String,
}

fn err(rule: Option<usize>, field: impl Into<String>, reason: impl std::fmt::Display) -> PlanError {
    PlanError::InvalidModifiers {
        rule,
        field: field.into(),
        reason: reason.to_string(),
    }
}

/// A YAML scalar as the string Velero's Go struct would hold.
fn scalar_text(v: Option<&serde_yaml_ng::Value>) -> Result<String, String> {
    use serde_yaml_ng::Value as Y;
    match v {
        None | Some(Y::Null) => Ok(String::new()),
        Some(Y::String(s)) => Ok(s.clone()),
        Some(Y::Bool(b)) => Ok(b.to_string()),
        Some(Y::Number(n)) => Ok(n.to_string()),
        Some(_) => Err("value must be a string (JSON text for objects and lists)".into()),
    }
}

/// Velero's JSON patch value typing (§6.4).
pub(crate) fn typed_value(s: &str) -> Result<Value, String> {
    if s.is_empty() {
        return Ok(Value::String(String::new()));
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return Ok(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s[1..s.len() - 1].to_string())));
    }
    if s == "null" {
        return Ok(Value::Null);
    }
    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        return Ok(Value::Bool(s.eq_ignore_ascii_case("true")));
    }
    if s.starts_with('{') || s.starts_with('[') {
        return serde_json::from_str(s).map_err(|e| format!("value is not valid JSON: {e}"));
    }
    if let Ok(f) = s.parse::<f64>() {
        if let Ok(v @ Value::Number(_)) = serde_json::from_str::<Value>(s) {
            return Ok(v);
        }
        if let Some(n) = serde_json::Number::from_f64(f) {
            return Ok(Value::Number(n));
        }
    }
    Ok(Value::String(s.to_string()))
}

impl ResourceModifiers {
    /// Parse Velero's resource modifiers YAML strictly (unknown fields are errors).
    pub fn parse(text: &str) -> Result<Self> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| err(None, "", e))?;
        let map = doc
            .as_mapping()
            .ok_or_else(|| err(None, "", "expected a mapping at the top level"))?;
        for k in map.keys() {
            let k = k.as_str().unwrap_or("?");
            if k != "version" && k != "resourceModifierRules" {
                return Err(err(None, k, "unknown field"));
            }
        }
        match map.get("version").and_then(serde_yaml_ng::Value::as_str) {
            Some(v) if v.eq_ignore_ascii_case("v1") => {}
            Some(v) => {
                return Err(err(
                    None,
                    "version",
                    format!("unsupported version {v:?} (expected v1)"),
                ));
            }
            None => return Err(err(None, "version", "required")),
        }
        let rules = map
            .get("resourceModifierRules")
            .and_then(serde_yaml_ng::Value::as_sequence)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| err(None, "resourceModifierRules", "must be a non-empty list"))?;
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| parse_rule(i, r))
            .collect::<Result<_>>()?;
        Ok(Self { rules })
    }

    /// Apply every matching rule to `obj` (conditions evaluated on `obj` as passed in). Returns
    /// error messages for failed patches; `actions` gets a line per applied patch.
    pub(crate) fn apply(
        &self,
        gr: &str,
        original_namespace: Option<&str>,
        obj: &mut Value,
        actions: &mut Vec<String>,
    ) -> Vec<String> {
        let matching: Vec<&ModifierRule> = self
            .rules
            .iter()
            .filter(|r| r.matches(gr, original_namespace, obj))
            .collect();
        let mut errors = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !matching.iter().any(|m| std::ptr::eq(*m, rule)) {
                continue;
            }
            match &rule.patch {
                PatchKind::Json(p) => match json_patch::patch(obj, p) {
                    Ok(()) => actions.push(format!("modifier rule {i}: json patch ({} operations)", p.len())),
                    Err(e) if matches!(e.kind, json_patch::PatchErrorKind::TestFailed) => {}
                    Err(e) => errors.push(format!("modifier rule {i}: json patch: {e}")),
                },
                PatchKind::Merge(ps) => {
                    for p in ps {
                        json_patch::merge(obj, p);
                    }
                    actions.push(format!("modifier rule {i}: merge patch"));
                }
                PatchKind::Strategic(ps) => {
                    if is_builtin(gr) {
                        for p in ps {
                            strategic_merge(obj, p);
                        }
                        actions.push(format!("modifier rule {i}: strategic merge patch"));
                    } else {
                        errors.push(format!(
                            "modifier rule {i}: strategic merge patch needs a built-in kind, {gr} is not; use a merge or JSON patch"
                        ));
                    }
                }
            }
        }
        errors
    }
}

fn parse_rule(i: usize, raw: &serde_yaml_ng::Value) -> Result<ModifierRule> {
    let r: RawRule = serde_yaml_ng::from_value(raw.clone()).map_err(|e| err(Some(i), "", e))?;
    let c = r.conditions;
    if c.group_resource.is_empty() {
        return Err(err(Some(i), "conditions.groupResource", "required"));
    }
    let gr_glob = globset::GlobBuilder::new(&c.group_resource.replace('.', "/"))
        .literal_separator(true)
        .build()
        .map_err(|e| err(Some(i), "conditions.groupResource", e))?
        .compile_matcher();
    let name_re = c
        .resource_name_regex
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| err(Some(i), "conditions.resourceNameRegex", e))?;
    let label_selector = c
        .label_selector
        .map(|s| {
            LabelSelector::from_json(
                &json!({"matchLabels": s.match_labels, "matchExpressions": s.match_expressions}),
            )
        })
        .transpose()
        .map_err(|e| err(Some(i), "conditions.labelSelector", e))?;
    let mut matches = Vec::new();
    for (j, m) in c.matches.iter().enumerate() {
        let field = format!("conditions.matches[{j}]");
        if !m.path.starts_with('/') {
            return Err(err(Some(i), field, "path must be a JSON pointer starting with /"));
        }
        let v = scalar_text(m.value.as_ref())
            .and_then(|s| typed_value(&s))
            .map_err(|e| err(Some(i), &field, e))?;
        matches.push((m.path.clone(), v));
    }
    let kinds = usize::from(r.patches.is_some())
        + usize::from(r.merge_patches.is_some())
        + usize::from(r.strategic_patches.is_some());
    if kinds != 1 {
        return Err(err(
            Some(i),
            "",
            "exactly one of patches, mergePatches, strategicPatches is required",
        ));
    }
    let patch = if let Some(ps) = r.patches {
        let mut ops = Vec::new();
        for (j, p) in ps.iter().enumerate() {
            let field = format!("patches[{j}]");
            if p.operation.is_empty() || p.path.is_empty() {
                return Err(err(Some(i), field, "operation and path are required"));
            }
            let op = p.operation.to_ascii_lowercase();
            if matches!(op.as_str(), "move" | "copy") && p.from.is_empty() {
                return Err(err(Some(i), field, format!("{op} needs from")));
            }
            let value = scalar_text(p.value.as_ref())
                .and_then(|s| typed_value(&s))
                .map_err(|e| err(Some(i), &field, e))?;
            let doc = json!({"op": op, "path": p.path, "from": p.from, "value": value});
            ops.push(serde_json::from_value(doc).map_err(|e| err(Some(i), field, e))?);
        }
        PatchKind::Json(json_patch::Patch(ops))
    } else {
        let (name, ps, strategic) = match (r.merge_patches, r.strategic_patches) {
            (Some(ps), _) => ("mergePatches", ps, false),
            (_, Some(ps)) => ("strategicPatches", ps, true),
            _ => unreachable!("exactly one kind checked above"),
        };
        let mut out = Vec::new();
        for (j, p) in ps.iter().enumerate() {
            let v: Value = serde_yaml_ng::from_str(&p.patch_data)
                .map_err(|e| err(Some(i), format!("{name}[{j}].patchData"), e))?;
            if !v.is_object() {
                return Err(err(
                    Some(i),
                    format!("{name}[{j}].patchData"),
                    "must be an object",
                ));
            }
            out.push(v);
        }
        if strategic {
            PatchKind::Strategic(out)
        } else {
            PatchKind::Merge(out)
        }
    };
    Ok(ModifierRule {
        group_resource: c.group_resource,
        resource_name_regex: c.resource_name_regex,
        namespaces: c.namespaces,
        label_selector,
        matches,
        patch,
        gr_glob,
        name_re,
    })
}

impl ModifierRule {
    /// Whether the rule's conditions hold for an object (§6.3).
    fn matches(&self, gr: &str, original_namespace: Option<&str>, obj: &Value) -> bool {
        if let Some(ns) = original_namespace
            && !self.namespaces.is_empty()
            && !self.namespaces.iter().any(|p| crate::glob::matches(p, ns))
        {
            return false;
        }
        if !self.gr_glob.is_match(gr.replace('.', "/")) {
            return false;
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if self.name_re.as_ref().is_some_and(|re| !re.is_match(name)) {
            return false;
        }
        if self
            .label_selector
            .as_ref()
            .is_some_and(|s| !s.matches(&object_labels(obj)))
        {
            return false;
        }
        self.matches.iter().all(|(path, v)| obj.pointer(path) == Some(v))
    }
}

/// Kinds Velero's scheme knows: core Kubernetes groups (no dot, or `*.k8s.io`) and Velero's.
fn is_builtin(gr: &str) -> bool {
    let group = gr.split_once('.').map_or("", |(_, g)| g);
    !group.contains('.') || group.ends_with(".k8s.io") || group == "velero.io"
}

fn merge_key(field: &str, element: &Value) -> Option<&'static str> {
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "volumes" | "env" | "imagePullSecrets" => {
            "name"
        }
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" if element.get("containerPort").is_some() => "containerPort",
        "ports" => "port",
        "hostAliases" => "ip",
        "conditions" => "type",
        _ => return None,
    })
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Strategic merge of `patch` into `target` (see the module docs for what is supported).
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(pm) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") || !target.is_object() {
        *target = strip_directives(patch);
        return;
    }
    let tm = target.as_object_mut().expect("checked above");
    for (k, pv) in pm {
        if k.starts_with('$') {
            continue;
        }
        match pv {
            Value::Null => {
                tm.remove(k);
            }
            Value::Object(_) if tm.get(k).is_some_and(Value::is_object) => strategic_merge(&mut tm[k], pv),
            Value::Array(pa) if tm.get(k).is_some_and(Value::is_array) => {
                let ta = tm
                    .get_mut(k)
                    .and_then(Value::as_array_mut)
                    .expect("checked above");
                merge_list(k, ta, pa);
            }
            _ => {
                tm.insert(k.clone(), strip_directives(pv));
            }
        }
    }
}

fn merge_list(field: &str, target: &mut Vec<Value>, patch: &[Value]) {
    if field == "finalizers" {
        for p in patch {
            if !target.contains(p) {
                target.push(p.clone());
            }
        }
        return;
    }
    let Some(key) = patch.first().and_then(|e| merge_key(field, e)) else {
        *target = patch.iter().map(strip_directives).collect();
        return;
    };
    for p in patch {
        let Some(kv) = p.get(key) else { continue };
        let pos = target.iter().position(|t| t.get(key) == Some(kv));
        let delete = p.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                target.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut target[i], p),
            (None, false) => target.push(strip_directives(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_typing() {
        assert_eq!(typed_value("").unwrap(), json!(""));
        assert_eq!(typed_value("\"3\"").unwrap(), json!("3"));
        assert_eq!(typed_value("null").unwrap(), Value::Null);
        assert_eq!(typed_value("true").unwrap(), json!(true));
        assert_eq!(typed_value("3").unwrap(), json!(3));
        assert_eq!(typed_value("1.5").unwrap(), json!(1.5));
        assert_eq!(typed_value("{\"a\":1}").unwrap(), json!({"a": 1}));
        assert_eq!(typed_value("gp3").unwrap(), json!("gp3"));
        assert!(typed_value("{oops").is_err());
    }

    #[test]
    fn group_resource_glob_uses_dot_segments() {
        let rule = |gr: &str| {
            ResourceModifiers::parse(&format!(
                "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: \"{gr}\"\n  mergePatches:\n  - patchData: '{{}}'\n"
            ))
            .unwrap()
            .rules
            .remove(0)
        };
        let o = json!({"metadata": {"name": "x"}});
        assert!(rule("*").matches("pods", None, &o));
        assert!(!rule("*").matches("deployments.apps", None, &o));
        assert!(rule("*.apps").matches("deployments.apps", None, &o));
        assert!(rule("*.*").matches("deployments.apps", None, &o));
        assert!(!rule("*.*").matches("ingresses.networking.k8s.io", None, &o));
        assert!(rule("ingresses.**").matches("ingresses.networking.k8s.io", None, &o));
    }

    #[test]
    fn strategic_merge_by_key() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}], "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}], "tolerations": [{"key": "t"}]}});
        strategic_merge(
            &mut pod,
            &json!({"spec": {"containers": [
            {"name": "a", "image": "a:2", "ports": [{"containerPort": 81}], "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]},
            {"name": "b", "$patch": "delete"}, {"name": "c", "image": "c:1"}], "tolerations": [{"key": "u"}]}}),
        );
        assert_eq!(
            pod,
            json!({"spec": {"containers": [
            {"name": "a", "image": "a:2", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81}],
             "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]},
            {"name": "c", "image": "c:1"}], "tolerations": [{"key": "u"}]}})
        );
    }

    #[test]
    fn malformed_documents_name_rule_and_field() {
        let e = |text: &str| ResourceModifiers::parse(text).unwrap_err().to_string();
        assert!(e("version: v2\nresourceModifierRules: []").contains("version"));
        assert!(e("version: v1\nresourceModifierRules: []").contains("non-empty"));
        assert!(e("version: v1\nextra: 1\nresourceModifierRules: [{}]").contains("extra"));
        let two = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /a}]\n  mergePatches: [{patchData: '{}'}]\n";
        assert_eq!(
            e(two),
            "parse resource modifiers: rule 0: exactly one of patches, mergePatches, strategicPatches is required"
        );
        let unknown = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /a}]\n- conditions: {groupResource: pods, namespace: [a]}\n  patches: [{operation: remove, path: /a}]\n";
        let msg = e(unknown);
        assert!(
            msg.starts_with("parse resource modifiers: rule 1: ") && msg.contains("namespace"),
            "{msg}"
        );
        let no_gr = "version: v1\nresourceModifierRules:\n- conditions: {namespaces: [a]}\n  patches: [{operation: remove, path: /a}]\n";
        assert_eq!(
            e(no_gr),
            "parse resource modifiers: rule 0, conditions.groupResource: required"
        );
        let bad_re = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods, resourceNameRegex: '('}\n  patches: [{operation: remove, path: /a}]\n";
        assert!(e(bad_re).starts_with("parse resource modifiers: rule 0, conditions.resourceNameRegex: "));
        let bad_op = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: frobnicate, path: /a}]\n";
        assert!(e(bad_op).starts_with("parse resource modifiers: rule 0, patches[0]: "));
        let bad_path = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: a/b}]\n";
        assert!(e(bad_path).starts_with("parse resource modifiers: rule 0, patches[0]: "));
        let no_from = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: copy, path: /a}]\n";
        assert!(e(no_from).contains("copy needs from"));
        let bad_merge = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  mergePatches: [{patchData: '[1]'}]\n";
        assert!(e(bad_merge).starts_with("parse resource modifiers: rule 0, mergePatches[0].patchData: "));
    }
}
