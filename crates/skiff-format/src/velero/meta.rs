//! Kubernetes types the Velero models embed: `metav1.ObjectMeta` (with its owner references and
//! managed fields), `metav1.LabelSelector`, and the `corev1` references Velero uses.
#![allow(missing_docs)]

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::schema::{Props, Schema};
use super::{StringMap, is_zero, nd};
use crate::gojson::{serialize_extra, serialize_sorted_opt};
use std::collections::BTreeMap;

type Extra = Map<String, Value>;

/// `metav1.ObjectMeta`, in Go field order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub generate_name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub self_link: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub uid: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub resource_version: String,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "nd")]
    pub generation: i64,
    /// RFC 3339; `None` is written as `null`, as Kubernetes does for a zero time.
    pub creation_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
    pub labels: StringMap,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
    pub annotations: StringMap,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
    pub owner_references: Vec<OwnerReference>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
    pub finalizers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
    pub managed_fields: Vec<ManagedFieldsEntry>,
    /// Unknown fields, kept for write-back.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// The API server validates and prunes `metadata` itself: a CRD schema only says `object`.
impl Schema for ObjectMeta {
    fn schema() -> Props {
        Props::object_meta()
    }
}

/// `metav1.OwnerReference`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(deserialize_with = "nd")]
    pub api_version: String,
    #[serde(deserialize_with = "nd")]
    pub kind: String,
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

/// `metav1.ManagedFieldsEntry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ManagedFieldsEntry {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub manager: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub operation: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub api_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub fields_type: String,
    #[serde(
        rename = "fieldsV1",
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_sorted_opt"
    )]
    pub fields_v1: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
    pub subresource: String,
    /// Unknown fields.
    #[serde(flatten, serialize_with = "serialize_extra")]
    pub extra: Extra,
}

velero_struct! {
    /// `metav1.LabelSelector`.
    pub struct LabelSelector [.atomic_map()] {
        #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nd")]
        pub match_labels: StringMap = "matchLabels",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub match_expressions: Vec<LabelSelectorRequirement> = "matchExpressions" [.atomic_list()],
    }
}

velero_struct! {
    /// `metav1.LabelSelectorRequirement`.
    pub struct LabelSelectorRequirement [.required(&["key", "operator"])] {
        #[serde(deserialize_with = "nd")]
        pub key: String = "key",
        #[serde(deserialize_with = "nd")]
        pub operator: String = "operator",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub values: Vec<String> = "values" [.atomic_list()],
    }
}

velero_struct! {
    /// `corev1.SecretKeySelector` (a key of a Secret in the object's namespace).
    pub struct SecretKeySelector [.required(&["key"]).atomic_map()] {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub name: String = "name" [.default_value(serde_json::json!(""))],
        #[serde(deserialize_with = "nd")]
        pub key: String = "key",
        #[serde(skip_serializing_if = "Option::is_none")]
        pub optional: Option<bool> = "optional",
    }
}

velero_struct! {
    /// `corev1.ObjectReference` (all fields `omitempty`).
    pub struct ObjectReference [.atomic_map()] {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub namespace: String = "namespace",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub name: String = "name",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub uid: String = "uid",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub resource_version: String = "resourceVersion",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub field_path: String = "fieldPath",
    }
}

velero_struct! {
    /// `corev1.TypedLocalObjectReference`; Go writes a nil `apiGroup` as `null`.
    pub struct TypedLocalObjectReference [.required(&["kind", "name"]).atomic_map()] {
        pub api_group: Option<String> = "apiGroup",
        #[serde(deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(deserialize_with = "nd")]
        pub name: String = "name",
    }
}
