//! Kubernetes label selectors: parsing the `kubectl -l` string syntax and matching label maps.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value`.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A conjunction of requirements; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelector {
    /// All must hold.
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Self { requirements })
    }

    /// Build from a Kubernetes `LabelSelector` JSON object (`matchLabels`, `matchExpressions`).
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in m {
                let val = val
                    .as_str()
                    .ok_or_else(|| format!("matchLabels.{k} is not a string"))?;
                requirements.push(Requirement::Equals(k.clone(), val.to_string()));
            }
        }
        if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("matchExpressions entry without key")?;
                let op = e
                    .get("operator")
                    .and_then(Value::as_str)
                    .ok_or("matchExpressions entry without operator")?;
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                requirements.push(match op {
                    "In" => Requirement::In(key.into(), values),
                    "NotIn" => Requirement::NotIn(key.into(), values),
                    "Exists" => Requirement::Exists(key.into()),
                    "DoesNotExist" => Requirement::DoesNotExist(key.into()),
                    other => return Err(format!("unknown selector operator {other:?}")),
                });
            }
        }
        Ok(Self { requirements })
    }

    /// Whether the selector is empty.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Match a label map.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|x| vs.contains(x)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|x| !vs.contains(x)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }

    /// Match an object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(&object_labels(obj))
    }

    /// The selector as a `Kubernetes LabelSelector` JSON value (for velero-backup.json).
    pub fn to_json(&self) -> Value {
        let mut match_labels = serde_json::Map::new();
        let mut exprs = Vec::new();
        for r in &self.requirements {
            match r {
                Requirement::Equals(k, v) => {
                    match_labels.insert(k.clone(), Value::String(v.clone()));
                }
                Requirement::NotEquals(k, v) => {
                    exprs.push(serde_json::json!({"key": k, "operator": "NotIn", "values": [v]}));
                }
                Requirement::In(k, vs) => {
                    exprs.push(serde_json::json!({"key": k, "operator": "In", "values": vs}));
                }
                Requirement::NotIn(k, vs) => {
                    exprs.push(serde_json::json!({"key": k, "operator": "NotIn", "values": vs}));
                }
                Requirement::Exists(k) => exprs.push(serde_json::json!({"key": k, "operator": "Exists"})),
                Requirement::DoesNotExist(k) => {
                    exprs.push(serde_json::json!({"key": k, "operator": "DoesNotExist"}));
                }
            }
        }
        let mut out = serde_json::Map::new();
        if !match_labels.is_empty() {
            out.insert("matchLabels".into(), Value::Object(match_labels));
        }
        if !exprs.is_empty() {
            out.insert("matchExpressions".into(), Value::Array(exprs));
        }
        Value::Object(out)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `metadata.labels` of an object as a map (non-string values ignored).
pub fn object_labels(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let bad = || format!("invalid label selector requirement {part:?}");
    if let Some(k) = part.strip_prefix('!') {
        let k = k.trim();
        check_key(k).map_err(|()| bad())?;
        return Ok(Requirement::DoesNotExist(k.to_string()));
    }
    for (op, notin) in [(" notin ", true), (" in ", false)] {
        if let Some(idx) = part.find(op) {
            let key = part[..idx].trim();
            let rest = part[idx + op.len()..].trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            check_key(key).map_err(|()| bad())?;
            return Ok(if notin {
                Requirement::NotIn(key.into(), values)
            } else {
                Requirement::In(key.into(), values)
            });
        }
    }
    if let Some((k, v)) = part.split_once("!=") {
        check_key(k.trim()).map_err(|()| bad())?;
        return Ok(Requirement::NotEquals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        check_key(k.trim()).map_err(|()| bad())?;
        return Ok(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    check_key(part).map_err(|()| bad())?;
    Ok(Requirement::Exists(part.to_string()))
}

fn check_key(k: &str) -> Result<(), ()> {
    if k.is_empty() || k.contains(char::is_whitespace) || k.contains(['(', ')', '=', '!', ',']) {
        Err(())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn parse_and_match() {
        let s = LabelSelector::parse("app=web,tier!=db,env in (prod, stage),!legacy,team").unwrap();
        assert_eq!(s.requirements.len(), 5);
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "dev"), ("team", "x")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("team", "x"),
            ("legacy", "1")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        let n = LabelSelector::parse("a notin (x)").unwrap();
        assert!(n.matches(&labels(&[])));
        assert!(!n.matches(&labels(&[("a", "x")])));
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("=b").is_err());
        assert!(LabelSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn json_round_trip_semantics() {
        let s = LabelSelector::parse("app=web,env in (prod)").unwrap();
        let j = s.to_json();
        let back = LabelSelector::from_json(&j).unwrap();
        assert!(back.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!back.matches(&labels(&[("app", "web"), ("env", "dev")])));
        assert_eq!(s.to_string(), "app=web,env in (prod)");
    }
}
