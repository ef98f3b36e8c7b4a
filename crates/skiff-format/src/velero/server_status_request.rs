//! `velero.io/v1` `ServerStatusRequest`.
#![allow(missing_docs)]

use super::prelude::*;

velero_struct! {
    /// `velero.io/v1` `ServerStatusRequest` (short name `ssr`): asks the server for its version and
    /// plugins.
    pub struct ServerStatusRequest {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub kind: String = "kind",
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub api_version: String = "apiVersion",
        #[serde(deserialize_with = "nd")]
        pub metadata: ObjectMeta = "metadata",
        #[serde(deserialize_with = "nd")]
        pub spec: ServerStatusRequestSpec = "spec",
        #[serde(deserialize_with = "nd")]
        pub status: ServerStatusRequestStatus = "status",
    }
}

impl VeleroKind for ServerStatusRequest {
    const CRD: CrdInfo = CrdInfo {
        group: GROUP,
        version: "v1",
        kind: "ServerStatusRequest",
        plural: "serverstatusrequests",
        singular: "serverstatusrequest",
        short_names: &["ssr"],
        printer_columns: &[],
        empty_subresources: false,
    };
}

velero_struct! {
    /// `ServerStatusRequestSpec`: no fields.
    pub struct ServerStatusRequestSpec {}
}

velero_struct! {
    /// `ServerStatusRequestStatus`.
    pub struct ServerStatusRequestStatus {
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub phase: String = "phase" [.one_of(&["New", "Processed"])],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub processed_timestamp: Option<String> = "processedTimestamp" [.nullable().date_time()],
        #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nd")]
        pub server_version: String = "serverVersion",
        #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nd")]
        pub plugins: Vec<PluginInfo> = "plugins" [.nullable()],
    }
}

velero_struct! {
    /// One entry of `status.plugins`.
    pub struct PluginInfo [.required(&["kind", "name"])] {
        #[serde(deserialize_with = "nd")]
        pub name: String = "name",
        #[serde(deserialize_with = "nd")]
        pub kind: String = "kind",
    }
}
