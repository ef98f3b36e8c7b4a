//! Structural `OpenAPI` v3 schemas generated from the typed models, the `CustomResourceDefinitions`
//! built from them, and the API server's pruning applied locally.
//!
//! * [`Schema`]: implemented by every model type (by the `velero_struct!` macro for structs,
//!   here for strings, numbers, lists and maps); `Option<T>` has `T`'s schema. Per-field details
//!   Go's struct tags and kubebuilder markers carry in Velero (`nullable`, `format`, `enum`,
//!   `required`, `x-kubernetes-*`) are builder calls on [`Props`].
//! * [`crd`]: an `apiextensions.k8s.io/v1` `CustomResourceDefinition` of one [`VeleroKind`].
//! * [`normalize`]: what the API server does to a custom resource before storing it — unknown
//!   fields pruned, non-nullable `null`s without a default dropped, defaults filled in — so a
//!   caller can tell which fields of an object would be lost.
//! * [`Props::typed_paths`]: the schema flattened to one line per field path, for tests that
//!   hold the field list of Velero's own CRDs.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// A type with a structural `OpenAPI` v3 schema.
pub trait Schema {
    /// The type's schema.
    fn schema() -> Props;
}

/// One node of a structural `OpenAPI` v3 schema (`JSONSchemaProps`), limited to what Velero's CRDs
/// use. Descriptions are not generated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props {
    /// `type`; `None` only for the embedded `metadata` marker.
    pub type_: Option<&'static str>,
    /// `format` (`date-time`, `byte`, `int64`).
    pub format: Option<&'static str>,
    /// `nullable: true`.
    pub nullable: bool,
    /// `enum` (string values).
    pub enum_values: Vec<&'static str>,
    /// `required` property names.
    pub required: Vec<&'static str>,
    /// `default`.
    pub default: Option<Value>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `properties`, by name.
    pub properties: BTreeMap<&'static str, Props>,
    /// `items`.
    pub items: Option<Box<Props>>,
    /// `additionalProperties`.
    pub additional_properties: Option<Box<Props>>,
    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub preserve_unknown_fields: bool,
    /// `x-kubernetes-map-type`.
    pub map_type: Option<&'static str>,
    /// `x-kubernetes-list-type`.
    pub list_type: Option<&'static str>,
    /// The object's `metadata`: the API server validates and prunes it itself, so
    /// [`normalize`] leaves it alone. Rendered as `type: object`.
    pub object_meta: bool,
}

impl Props {
    fn of(type_: &'static str) -> Self {
        Props {
            type_: Some(type_),
            ..Props::default()
        }
    }

    /// `type: string`.
    pub fn string() -> Self {
        Props::of("string")
    }

    /// `type: boolean`.
    pub fn boolean() -> Self {
        Props::of("boolean")
    }

    /// `type: integer`.
    pub fn integer() -> Self {
        Props::of("integer")
    }

    /// `type: object` (add properties with [`Props::property`]).
    pub fn object() -> Self {
        Props::of("object")
    }

    /// `type: array` of `items`.
    pub fn array(items: Props) -> Self {
        Props {
            items: Some(Box::new(items)),
            ..Props::of("array")
        }
    }

    /// `type: object` with `additionalProperties: values` (a Go map).
    pub fn map(values: Props) -> Self {
        Props {
            additional_properties: Some(Box::new(values)),
            ..Props::of("object")
        }
    }

    /// An object kept whole (`x-kubernetes-preserve-unknown-fields: true`).
    pub fn preserved_object() -> Self {
        Props {
            preserve_unknown_fields: true,
            ..Props::of("object")
        }
    }

    /// The `metadata` of a resource: `type: object`, validated by the API server itself.
    pub fn object_meta() -> Self {
        Props {
            object_meta: true,
            ..Props::of("object")
        }
    }

    /// Add property `name`.
    #[must_use]
    pub fn property(mut self, name: &'static str, schema: Props) -> Self {
        self.properties.insert(name, schema);
        self
    }

    /// `nullable: true` (Go pointers, slices and maps marked `+nullable`).
    #[must_use]
    pub fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }

    /// `format: <f>`.
    #[must_use]
    pub fn format(mut self, f: &'static str) -> Self {
        self.format = Some(f);
        self
    }

    /// `format: date-time` (a `metav1.Time`).
    #[must_use]
    pub fn date_time(self) -> Self {
        self.format("date-time")
    }

    /// `format: int64` (a Go `int64`).
    #[must_use]
    pub fn int64(self) -> Self {
        self.format("int64")
    }

    /// `enum` of string values.
    #[must_use]
    pub fn one_of(mut self, values: &[&'static str]) -> Self {
        self.enum_values = values.to_vec();
        self
    }

    /// `required` property names (kept sorted, as controller-gen writes them).
    #[must_use]
    pub fn required(mut self, names: &[&'static str]) -> Self {
        self.required = names.to_vec();
        self.required.sort_unstable();
        self
    }

    /// `default`.
    #[must_use]
    pub fn default_value(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }

    /// `minItems`.
    #[must_use]
    pub fn min_items(mut self, n: u64) -> Self {
        self.min_items = Some(n);
        self
    }

    /// `x-kubernetes-map-type: atomic`.
    #[must_use]
    pub fn atomic_map(mut self) -> Self {
        self.map_type = Some("atomic");
        self
    }

    /// `x-kubernetes-list-type: atomic`.
    #[must_use]
    pub fn atomic_list(mut self) -> Self {
        self.list_type = Some("atomic");
        self
    }

    /// `x-kubernetes-preserve-unknown-fields: true`.
    #[must_use]
    pub fn preserve_unknown(mut self) -> Self {
        self.preserve_unknown_fields = true;
        self
    }

    /// The schema as `OpenAPI` v3 JSON (`openAPIV3Schema` and below); keys sorted.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(t) = self.type_ {
            m.insert("type".into(), t.into());
        }
        if let Some(f) = self.format {
            m.insert("format".into(), f.into());
        }
        if self.nullable {
            m.insert("nullable".into(), true.into());
        }
        if !self.enum_values.is_empty() {
            m.insert("enum".into(), self.enum_values.clone().into());
        }
        if !self.required.is_empty() {
            m.insert("required".into(), self.required.clone().into());
        }
        if let Some(d) = &self.default {
            m.insert("default".into(), d.clone());
        }
        if let Some(n) = self.min_items {
            m.insert("minItems".into(), n.into());
        }
        if !self.properties.is_empty() {
            let props: Map<String, Value> = self
                .properties
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_json()))
                .collect();
            m.insert("properties".into(), Value::Object(props));
        }
        if let Some(items) = &self.items {
            m.insert("items".into(), items.to_json());
        }
        if let Some(ap) = &self.additional_properties {
            m.insert("additionalProperties".into(), ap.to_json());
        }
        if self.preserve_unknown_fields {
            m.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
        }
        if let Some(t) = self.map_type {
            m.insert("x-kubernetes-map-type".into(), t.into());
        }
        if let Some(t) = self.list_type {
            m.insert("x-kubernetes-list-type".into(), t.into());
        }
        Value::Object(m)
    }

    /// The schema flattened to one line per node: `<path> <type> [flags…]`, the root as `.`,
    /// properties as `.name`, list items as `[]`, map values as `{}`; flags in this order:
    /// `nullable`, `format=…`, `enum=a|b`, `required=a,b`, `default=<json>`, `minItems=N`,
    /// `map=…`, `list=…`, `preserve`.
    pub fn typed_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.flatten("", &mut out);
        out
    }

    fn flatten(&self, path: &str, out: &mut Vec<String>) {
        let mut line = vec![
            if path.is_empty() { "." } else { path }.to_owned(),
            self.type_.unwrap_or("-").to_owned(),
        ];
        if self.nullable {
            line.push("nullable".into());
        }
        if let Some(f) = self.format {
            line.push(format!("format={f}"));
        }
        if !self.enum_values.is_empty() {
            line.push(format!("enum={}", self.enum_values.join("|")));
        }
        if !self.required.is_empty() {
            line.push(format!("required={}", self.required.join(",")));
        }
        if let Some(d) = &self.default {
            line.push(format!("default={d}"));
        }
        if let Some(n) = self.min_items {
            line.push(format!("minItems={n}"));
        }
        if let Some(t) = self.map_type {
            line.push(format!("map={t}"));
        }
        if let Some(t) = self.list_type {
            line.push(format!("list={t}"));
        }
        if self.preserve_unknown_fields {
            line.push("preserve".into());
        }
        out.push(line.join(" "));
        for (name, p) in &self.properties {
            p.flatten(&format!("{path}.{name}"), out);
        }
        if let Some(items) = &self.items {
            items.flatten(&format!("{path}[]"), out);
        }
        if let Some(ap) = &self.additional_properties {
            ap.flatten(&format!("{path}{{}}"), out);
        }
    }
}

impl Schema for String {
    fn schema() -> Props {
        Props::string()
    }
}

impl Schema for bool {
    fn schema() -> Props {
        Props::boolean()
    }
}

impl Schema for i64 {
    fn schema() -> Props {
        Props::integer()
    }
}

impl<T: Schema> Schema for Option<T> {
    fn schema() -> Props {
        T::schema()
    }
}

impl<T: Schema> Schema for Vec<T> {
    fn schema() -> Props {
        Props::array(T::schema())
    }
}

impl<T: Schema> Schema for BTreeMap<String, T> {
    fn schema() -> Props {
        Props::map(T::schema())
    }
}

/// An embedded object kept as is (Velero's `runtime.RawExtension`, e.g. a restore hook's init
/// containers).
impl Schema for Value {
    fn schema() -> Props {
        Props::preserved_object()
    }
}

// ---------------------------------------------------------------------------------------------
// CRDs
// ---------------------------------------------------------------------------------------------

/// An `additionalPrinterColumns` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column name.
    pub name: &'static str,
    /// Column type (`string`, `date`, `integer`, `boolean`).
    pub type_: &'static str,
    /// JSON path of the value.
    pub json_path: &'static str,
    /// `format` (`int64` for byte counters).
    pub format: Option<&'static str>,
    /// `priority` (columns above 0 show only with `-o wide`).
    pub priority: Option<i32>,
}

impl PrinterColumn {
    /// A column with no format and the default priority.
    pub const fn new(name: &'static str, type_: &'static str, json_path: &'static str) -> Self {
        PrinterColumn {
            name,
            type_,
            json_path,
            format: None,
            priority: None,
        }
    }

    /// An `int64` integer column.
    pub const fn int64(name: &'static str, json_path: &'static str) -> Self {
        PrinterColumn {
            name,
            type_: "integer",
            json_path,
            format: Some("int64"),
            priority: None,
        }
    }

    /// The same column with a `priority`.
    #[must_use]
    pub const fn with_priority(mut self, p: i32) -> Self {
        self.priority = Some(p);
        self
    }
}

/// The names and served version of a Velero custom resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrdInfo {
    /// API group (`velero.io`).
    pub group: &'static str,
    /// The one served (and storage) version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name.
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Short names (`bsl`, `vsl`, `ssr`).
    pub short_names: &'static [&'static str],
    /// Printer columns, in order.
    pub printer_columns: &'static [PrinterColumn],
    /// Whether the version carries `subresources: {}`. Velero v1.18 keeps this empty object on
    /// the eight CRDs whose status subresource it removed (so `status` is written with the object
    /// and survives a create); it enables no subresource.
    pub empty_subresources: bool,
}

impl CrdInfo {
    /// `<plural>.<group>`, the CRD's name.
    pub fn name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// `<group>/<version>`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
}

/// A Velero custom resource type: a typed model plus its CRD names.
pub trait VeleroKind: Schema {
    /// Names, version, printer columns.
    const CRD: CrdInfo;
}

/// The `apiextensions.k8s.io/v1` `CustomResourceDefinition` of `T`, labelled `component: velero`
/// as `velero install` labels it. No `status`, no controller-gen annotation (skiff's CRDs are
/// not generated by controller-gen).
pub fn crd<T: VeleroKind>() -> Value {
    crd_of(&T::CRD, &T::schema())
}

/// [`crd`] for a descriptor and schema.
pub fn crd_of(info: &CrdInfo, schema: &Props) -> Value {
    let mut names = json!({
        "kind": info.kind,
        "listKind": format!("{}List", info.kind),
        "plural": info.plural,
        "singular": info.singular,
    });
    if !info.short_names.is_empty() {
        names["shortNames"] = info.short_names.to_vec().into();
    }
    let mut version = json!({
        "name": info.version,
        "schema": {"openAPIV3Schema": schema.to_json()},
        "served": true,
        "storage": true,
    });
    if !info.printer_columns.is_empty() {
        let cols: Vec<Value> = info
            .printer_columns
            .iter()
            .map(|c| {
                let mut col = json!({"jsonPath": c.json_path, "name": c.name, "type": c.type_});
                if let Some(f) = c.format {
                    col["format"] = f.into();
                }
                if let Some(p) = c.priority {
                    col["priority"] = p.into();
                }
                col
            })
            .collect();
        version["additionalPrinterColumns"] = cols.into();
    }
    if info.empty_subresources {
        version["subresources"] = json!({});
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.name(),
            "labels": {"component": "velero"},
        },
        "spec": {
            "group": info.group,
            "names": names,
            "scope": "Namespaced",
            "versions": [version],
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Pruning
// ---------------------------------------------------------------------------------------------

/// Apply to `value` what the API server applies to a custom resource of this schema before it
/// stores it: fields the schema does not type are pruned (except under
/// `x-kubernetes-preserve-unknown-fields` or in maps), `null`s of non-nullable fields without a
/// default are dropped, and defaults fill absent fields. `metadata` is left alone (the server
/// handles it itself). Validation (enums, formats, required fields) is not checked.
pub fn normalize(value: &mut Value, schema: &Props) {
    match value {
        Value::Object(map) => {
            if schema.object_meta {
                return;
            }
            if !schema.preserve_unknown_fields && schema.additional_properties.is_none() {
                map.retain(|k, _| schema.properties.contains_key(k.as_str()));
            }
            map.retain(|k, v| {
                let sub = schema
                    .properties
                    .get(k.as_str())
                    .or(schema.additional_properties.as_deref());
                !(v.is_null() && sub.is_some_and(|s| !s.nullable && s.default.is_none()))
            });
            for (k, v) in map.iter_mut() {
                if let Some(sub) = schema
                    .properties
                    .get(k.as_str())
                    .or(schema.additional_properties.as_deref())
                {
                    normalize(v, sub);
                }
            }
            for (k, p) in &schema.properties {
                if let Some(d) = &p.default
                    && !map.contains_key(*k)
                {
                    map.insert((*k).to_owned(), d.clone());
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = &schema.items {
                for item in items {
                    normalize(item, s);
                }
            }
        }
        _ => {}
    }
}

/// The paths (`.spec.x`, `.items[2].y`) of every non-null field of `value` that [`normalize`]
/// would remove. Empty when the object survives whole.
pub fn pruned_paths(value: &Value, schema: &Props) -> Vec<String> {
    let mut normalized = value.clone();
    normalize(&mut normalized, schema);
    let mut out = Vec::new();
    diff_removed(value, &normalized, "", &mut out);
    out
}

fn diff_removed(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    // A null dropped is no data lost (Go decodes absent and null alike).
                    None if v.is_null() => {}
                    None => out.push(p),
                    Some(w) => diff_removed(v, w, &p, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff_removed(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Props {
        Props::object()
            .property("metadata", Props::object_meta())
            .property(
                "spec",
                Props::object()
                    .required(&["name"])
                    .property("name", Props::string())
                    .property("when", Props::string().nullable().date_time())
                    .property("labels", Props::map(Props::string()))
                    .property(
                        "ref",
                        Props::object()
                            .atomic_map()
                            .property("name", Props::string().default_value(json!("")))
                            .property("key", Props::string()),
                    )
                    .property("raw", Props::array(Props::preserved_object()).preserve_unknown()),
            )
    }

    #[test]
    fn renders_openapi() {
        let j = sample().to_json();
        assert_eq!(j["properties"]["spec"]["required"], json!(["name"]));
        assert_eq!(
            j["properties"]["spec"]["properties"]["when"],
            json!({"type":"string","format":"date-time","nullable":true})
        );
        assert_eq!(
            j["properties"]["spec"]["properties"]["labels"],
            json!({"type":"object","additionalProperties":{"type":"string"}})
        );
        assert_eq!(
            j["properties"]["spec"]["properties"]["raw"],
            json!({"type":"array","x-kubernetes-preserve-unknown-fields":true,"items":{"type":"object","x-kubernetes-preserve-unknown-fields":true}})
        );
        assert_eq!(j["properties"]["metadata"], json!({"type":"object"}));
    }

    #[test]
    fn flattens_paths() {
        let p = sample().typed_paths();
        assert!(p.contains(&".spec object required=name".to_owned()), "{p:?}");
        assert!(p.contains(&".spec.labels{} string".to_owned()));
        assert!(p.contains(&".spec.ref object map=atomic".to_owned()));
        assert!(p.contains(&".spec.ref.name string default=\"\"".to_owned()));
        assert!(p.contains(&".spec.raw[] object preserve".to_owned()));
        assert_eq!(p[0], ". object");
    }

    #[test]
    fn normalize_prunes_like_the_api_server() {
        let mut v = json!({
            "metadata": {"name": "x", "anything": 1},
            "unknownTop": true,
            "spec": {
                "name": "n", "bogus": [1],
                "when": null,
                "labels": {"a": "b", "c": null},
                "ref": {"key": "k", "extra": 1},
                "raw": [{"whatever": {"deep": 1}}],
            },
        });
        let before = v.clone();
        let mut removed = pruned_paths(&before, &sample());
        removed.sort();
        assert_eq!(
            removed,
            [".spec.bogus", ".spec.ref.extra", ".unknownTop"],
            "a null map value is dropped (labels.c) but not reported: no data is lost"
        );
        normalize(&mut v, &sample());
        assert_eq!(
            v,
            json!({
                "metadata": {"name": "x", "anything": 1},
                "spec": {
                    "name": "n",
                    "when": null,
                    "labels": {"a": "b"},
                    "ref": {"key": "k", "name": ""},
                    "raw": [{"whatever": {"deep": 1}}],
                },
            })
        );
    }
}
