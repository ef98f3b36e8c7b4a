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
