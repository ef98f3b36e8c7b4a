//! The API surface of a cluster as discovery reports it: plain data, no IO.
//!
//! The engine plans against this value (backup: what to list; restore: what the target serves),
//! so it lives apart from the code that fetches it.

use serde::{Deserialize, Serialize};

/// One resource type served by the API server at one group/version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Singular name as discovery reports it (may be empty on old servers).
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Verbs the server supports (`list`, `create`, …).
    pub verbs: Vec<String>,
    /// Short names (`po`, `deploy`, …).
    pub short_names: Vec<String>,
    /// Whether `version` is the group's preferred version.
    pub preferred: bool,
}

impl ApiResourceInfo {
    /// A well-known resource type (no discovery needed): `known("", "v1", "namespaces",
    /// "Namespace", false)`. Verbs and short names are left empty; it counts as preferred.
    pub fn known(group: &str, version: &str, resource: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            kind: kind.into(),
            singular: String::new(),
            namespaced,
            verbs: Vec::new(),
            short_names: Vec::new(),
            preferred: true,
        }
    }

    /// `group/version`, or `version` for the core group (the `apiVersion` field of objects).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Kubernetes `GroupResource.String()`: `resource` for core, `resource.group` otherwise.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// Whether the server supports `verb` on this resource.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// One API group with its versions, preferred first as the server orders them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiGroupInfo {
    /// Group name; empty for the core group.
    pub name: String,
    /// The server's preferred version.
    pub preferred_version: String,
    /// Every served version.
    pub versions: Vec<String>,
}

/// Everything discovery found, in server order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiSurface {
    /// Groups in the order the server lists them (core group first).
    pub groups: Vec<ApiGroupInfo>,
    /// Resources of every discovered group/version, subresources excluded.
    pub resources: Vec<ApiResourceInfo>,
    /// Server `gitVersion`, e.g. `v1.20.2`.
    pub git_version: String,
    /// Server major version string.
    pub major: String,
    /// Server minor version string.
    pub minor: String,
    /// Group/versions whose discovery failed (typically an aggregated API whose backend is down):
    /// their resources are missing from `resources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<DiscoveryFailure>,
}

/// A group/version whose resource list could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryFailure {
    /// `group/version` (or `v1` for the core group).
    pub group_version: String,
    /// HTTP status of the last answer, when there was one.
    pub status_code: Option<u16>,
    /// The error, as text (the server's message or the transport failure).
    pub message: String,
}

impl ApiSurface {
    /// The preferred-version entry of a group-resource string (`deployments.apps`, `pods`).
    pub fn preferred(&self, group_resource: &str) -> Option<&ApiResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.preferred && r.group_resource() == group_resource)
    }

    /// Every served version of a group-resource string.
    pub fn versions_of<'a>(
        &'a self,
        group_resource: &'a str,
    ) -> impl Iterator<Item = &'a ApiResourceInfo> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.group_resource() == group_resource)
    }

    /// Resolve a user-given resource name (`po`, `pod`, `pods`, `deployments.apps`, `deploy`,
    /// `Deployment`) to a group-resource string, as Velero resolves filter entries. `None` when
    /// discovery knows no such name.
    pub fn resolve(&self, name: &str) -> Option<String> {
        let lower = name.to_ascii_lowercase();
        let (base, group) = match lower.split_once('.') {
            Some((b, g)) => (b.to_string(), Some(g.to_string())),
            None => (lower.clone(), None),
        };
        let matches = |r: &ApiResourceInfo| {
            (r.resource == base
                || r.singular == base
                || r.kind.to_ascii_lowercase() == base
                || r.short_names.iter().any(|s| s == &base))
                && group.as_ref().is_none_or(|g| &r.group == g)
        };
        self.resources
            .iter()
            .filter(|r| r.preferred)
            .find(|r| matches(r))
            .map(ApiResourceInfo::group_resource)
    }
}
