//! Renames applied on the way into a target: namespaces, storage classes, image registries.
//! Shared by restore and every command that plans like one (migrate, preflight, images, verify,
//! diff, sync). The rules themselves live in `restore::remap`; this is the options value.

use serde::Serialize;
use std::collections::BTreeMap;
use thiserror::Error;

/// A mapping entry that is not `old:new`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{flag}: {entry:?} is not old:new")]
pub struct MappingError {
    /// The flag.
    pub flag: &'static str,
    /// The entry.
    pub entry: String,
}

/// The three mappings of a restore (Velero's `namespaceMapping` plus its storage-class and
/// image-registry `ConfigMaps`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mappings {
    /// Original namespace → target namespace.
    pub namespaces: BTreeMap<String, String>,
    /// Old storage class → new storage class.
    pub storage_classes: BTreeMap<String, String>,
    /// Old registry (prefix of the image reference) → new registry; see
    /// [`crate::restore::map_image`].
    pub image_registries: BTreeMap<String, String>,
}

impl Mappings {
    /// The target namespace of an original namespace.
    pub fn namespace<'a>(&'a self, original: &'a str) -> &'a str {
        self.namespaces.get(original).map_or(original, String::as_str)
    }

    /// Whether no mapping is set.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.storage_classes.is_empty() && self.image_registries.is_empty()
    }

    /// The scope that selects, on the target side, what `scope` selects on the source side:
    /// namespace includes/excludes (and the namespace part of `--include-name` entries) mapped.
    /// A glob stays as it is and also gains the targets of the mapped namespaces it matches.
    pub fn target_scope(&self, scope: &crate::scope::Scope) -> crate::scope::Scope {
        let map_one = |pattern: &str, out: &mut Vec<String>| {
            if crate::glob::has_wildcard(pattern) {
                out.push(pattern.to_owned());
                out.extend(
                    self.namespaces
                        .iter()
                        .filter(|(from, _)| crate::glob::matches(pattern, from))
                        .map(|(_, to)| to.clone()),
                );
            } else {
                out.push(self.namespace(pattern).to_owned());
            }
        };
        let map_all = |list: &[String]| {
            let mut out = Vec::new();
            for p in list {
                map_one(p, &mut out);
            }
            out.dedup();
            out
        };
        let mut mapped = scope.clone();
        mapped.included_namespaces = map_all(&scope.included_namespaces);
        mapped.excluded_namespaces = map_all(&scope.excluded_namespaces);
        mapped.included_names = scope
            .included_names
            .iter()
            .flat_map(|n| match &n.namespace {
                crate::scope::NamespacePart::Pattern(p) => {
                    let mut targets = Vec::new();
                    map_one(p, &mut targets);
                    targets
                        .into_iter()
                        .map(|t| crate::scope::NamePattern {
                            namespace: crate::scope::NamespacePart::Pattern(t),
                            ..n.clone()
                        })
                        .collect::<Vec<_>>()
                }
                _ => vec![n.clone()],
            })
            .collect();
        mapped
    }
}

/// Parse `old:new` entries of `flag`. Registries may carry a port on either side
/// (`old.example:5000:new.example:5001`): the split is at the first `:` whose right side does
/// not start with a port (digits followed by the end, `/` or `:`), with both sides non-empty.
/// Namespaces and storage classes never contain `:`.
pub fn parse_pairs(flag: &'static str, values: &[String]) -> Result<BTreeMap<String, String>, MappingError> {
    let is_port = |rest: &str| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && matches!(rest.as_bytes().get(digits), None | Some(b'/' | b':'))
    };
    let mut out = BTreeMap::new();
    for v in values.iter().filter(|v| !v.is_empty()) {
        let split = v
            .match_indices(':')
            .map(|(i, _)| i)
            .find(|&i| i > 0 && i + 1 < v.len() && !is_port(&v[i + 1..]));
        let Some(i) = split else {
            return Err(MappingError {
                flag,
                entry: v.clone(),
            });
        };
        out.insert(v[..i].to_string(), v[i + 1..].to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn target_scope_maps_namespaces_and_keeps_globs() {
        let m = Mappings {
            namespaces: [("shop", "shop-moved"), ("shop-2", "other")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into_iter()
                .collect(),
            ..Mappings::default()
        };
        let scope = crate::scope::Scope {
            included_namespaces: vec!["shop".into(), "web-*".into(), "shop-*".into()],
            excluded_namespaces: vec!["shop-2".into()],
            included_names: vec!["configmaps/shop/cfg-*".parse().expect("pattern")],
            ..crate::scope::Scope::default()
        };
        let t = m.target_scope(&scope);
        assert_eq!(t.included_namespaces, ["shop-moved", "web-*", "shop-*", "other"]);
        assert_eq!(t.excluded_namespaces, ["other"]);
        assert_eq!(
            t.included_names[0].namespace,
            crate::scope::NamespacePart::Pattern("shop-moved".into())
        );
        assert_eq!(t.included_names[0].name, "cfg-*");
        assert_eq!(Mappings::default().target_scope(&scope), scope);
    }

    use super::*;

    #[test]
    fn pairs() {
        let m = parse_pairs(
            "--image-registry-mappings",
            &[
                "a:b".into(),
                "old.example:5000:new.example:5001".into(),
                "localhost:5000/team:mirror.local/team".into(),
                String::new(),
            ],
        )
        .unwrap();
        assert_eq!(m["a"], "b");
        assert_eq!(m["old.example:5000"], "new.example:5001");
        assert_eq!(m["localhost:5000/team"], "mirror.local/team");
        for bad in ["nocolon", ":x", "x:", "host:5000"] {
            assert_eq!(
                parse_pairs("--namespace-mappings", &[bad.into()]),
                Err(MappingError {
                    flag: "--namespace-mappings",
                    entry: bad.into()
                })
            );
        }
        let m = Mappings {
            namespaces: [("a".to_string(), "b".to_string())].into(),
            ..Mappings::default()
        };
        assert_eq!(m.namespace("a"), "b");
        assert_eq!(m.namespace("c"), "c");
    }
}
