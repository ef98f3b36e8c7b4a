//! Discovery: server version, groups (core first, in server order) and their resources.
//!
//! Responses are parsed into light structs (not k8s-openapi types). A group/version whose
//! resource list fails (an aggregated API whose backend is down answers 503) is recorded in
//! [`ApiSurface::failures`] and discovery goes on.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::Deserialize;

use crate::cluster::{Call, Cluster, group_version_path};
use crate::error::{KubeError, RequestContext, Result, Verb};
use crate::surface::{ApiGroupInfo, ApiResourceInfo, ApiSurface, DiscoveryFailure};

/// Group/version resource lists fetched at once.
const DISCOVERY_CONCURRENCY: usize = 8;
/// Attempts per group/version: an aggregated API that is down should not hold discovery for
/// the limiter's full retry budget.
const GROUP_ATTEMPTS: u32 = 3;

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerVersion {
    /// Major version, e.g. `1`.
    pub major: String,
    /// Minor version, e.g. `20`.
    pub minor: String,
    /// Full version, e.g. `v1.20.2`.
    pub git_version: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiVersions {
    versions: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiGroupList {
    groups: Vec<ApiGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ApiGroup {
    name: String,
    versions: Vec<GroupVersionForDiscovery>,
    preferred_version: Option<GroupVersionForDiscovery>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GroupVersionForDiscovery {
    version: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiResourceList {
    resources: Vec<ApiResource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ApiResource {
    name: String,
    singular_name: String,
    namespaced: bool,
    kind: String,
    verbs: Vec<String>,
    short_names: Vec<String>,
}

impl Cluster {
    /// The server's version (`GET /version`).
    pub async fn server_version(&self) -> Result<ServerVersion> {
        let ctx = RequestContext::new(Verb::Version, "server");
        self.execute(Call::get("/version".into(), &ctx)).await?.json(&ctx)
    }

    /// Discover every group (core first, then server order), its preferred version — or every
    /// served version when `all_versions` — and every resource that is not a subresource.
    pub async fn discover(&self, all_versions: bool) -> Result<ApiSurface> {
        let version = self.server_version().await?;

        let ctx = RequestContext::new(Verb::Discover, "/api");
        let core: ApiVersions = self.execute(Call::get("/api".into(), &ctx)).await?.json(&ctx)?;
        let ctx = RequestContext::new(Verb::Discover, "/apis");
        let list: ApiGroupList = self.execute(Call::get("/apis".into(), &ctx)).await?.json(&ctx)?;

        let mut groups = Vec::with_capacity(list.groups.len() + 1);
        if let Some(first) = core.versions.first() {
            groups.push(ApiGroupInfo {
                name: String::new(),
                preferred_version: first.clone(),
                versions: core.versions.clone(),
            });
        }
        for g in list.groups {
            let versions: Vec<String> = g.versions.into_iter().map(|v| v.version).collect();
            let preferred = g
                .preferred_version
                .map(|p| p.version)
                .or_else(|| versions.first().cloned())
                .unwrap_or_default();
            groups.push(ApiGroupInfo {
                name: g.name,
                preferred_version: preferred,
                versions,
            });
        }

        // (group, version, preferred) in server order.
        let mut wanted = Vec::new();
        for g in &groups {
            if all_versions {
                for v in &g.versions {
                    wanted.push((g.name.clone(), v.clone(), *v == g.preferred_version));
                }
            } else if !g.preferred_version.is_empty() {
                wanted.push((g.name.clone(), g.preferred_version.clone(), true));
            }
        }
        let results: Vec<_> = futures::stream::iter(wanted)
            .map(|(group, version, preferred)| async move {
                let r = self
                    .fetch_group_version(&group, &version, preferred, Some(GROUP_ATTEMPTS))
                    .await;
                (group, version, r)
            })
            .buffered(DISCOVERY_CONCURRENCY)
            .collect()
            .await;

        let mut surface = ApiSurface {
            groups,
            resources: Vec::new(),
            git_version: version.git_version,
            major: version.major,
            minor: version.minor,
            failures: Vec::new(),
        };
        for (group, version, r) in results {
            match r {
                Ok(mut resources) => surface.resources.append(&mut resources),
                Err(e) => {
                    let group_version = if group.is_empty() {
                        version
                    } else {
                        format!("{group}/{version}")
                    };
                    tracing::warn!(%group_version, error = %e, "discovery of a group version failed; its resources are skipped");
                    surface.failures.push(DiscoveryFailure {
                        group_version,
                        status_code: e.status_code(),
                        message: e
                            .api_status()
                            .map_or_else(|| e.to_string(), |s| s.message.clone()),
                    });
                }
            }
        }
        Ok(surface)
    }

    /// The resources of one group/version (subresources skipped).
    pub async fn discover_group_version(
        &self,
        group: &str,
        version: &str,
        preferred: bool,
    ) -> Result<Vec<ApiResourceInfo>> {
        self.fetch_group_version(group, version, preferred, None).await
    }

    async fn fetch_group_version(
        &self,
        group: &str,
        version: &str,
        preferred: bool,
        max_attempts: Option<u32>,
    ) -> Result<Vec<ApiResourceInfo>> {
        let path = group_version_path(group, version);
        let ctx = RequestContext::new(Verb::Discover, path.clone());
        let call = Call {
            max_attempts,
            ..Call::get(path, &ctx)
        };
        let list: ApiResourceList = self.execute(call).await?.json(&ctx)?;
        Ok(list
            .resources
            .into_iter()
            .filter(|r| !r.name.contains('/'))
            .map(|r| ApiResourceInfo {
                group: group.to_owned(),
                version: version.to_owned(),
                resource: r.name,
                kind: r.kind,
                singular: r.singular_name,
                namespaced: r.namespaced,
                verbs: r.verbs,
                short_names: r.short_names,
                preferred,
            })
            .collect())
    }

    /// Poll discovery until `group/version` serves `resource` (a freshly established CRD takes a
    /// moment to appear), then return its entry.
    pub async fn wait_resource_served(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        timeout: Duration,
    ) -> Result<ApiResourceInfo> {
        let start = Instant::now();
        let mut delay = crate::wait::FIRST_POLL;
        loop {
            let last_state = match self.discover_group_version(group, version, true).await {
                Ok(list) => match list.into_iter().find(|r| r.resource == resource) {
                    Some(r) => return Ok(r),
                    None => "group version served without the resource".to_owned(),
                },
                Err(e) if e.is_not_found() => "group version not served".to_owned(),
                Err(e) => return Err(e),
            };
            if start.elapsed() >= timeout {
                let what = if group.is_empty() {
                    resource.to_owned()
                } else {
                    format!("{resource}.{group}")
                };
                return Err(KubeError::Timeout {
                    ctx: Box::new(RequestContext::new(Verb::Wait, what)),
                    waited: start.elapsed(),
                    last_state,
                });
            }
            crate::cluster::sleep(delay).await;
            delay = crate::wait::next_poll(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_structs_parse_real_shapes() {
        let groups: ApiGroupList = serde_json::from_str(
            r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],
            "preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]}"#,
        )
        .unwrap();
        assert_eq!(groups.groups[0].name, "apps");
        assert_eq!(groups.groups[0].preferred_version.as_ref().unwrap().version, "v1");
        let res: ApiResourceList = serde_json::from_str(
            r#"{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[
            {"name":"deployments","singularName":"","namespaced":true,"kind":"Deployment","verbs":["create","list"],"shortNames":["deploy"],"categories":["all"],"storageVersionHash":"x"},
            {"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","verbs":["get"]}]}"#,
        )
        .unwrap();
        assert_eq!(res.resources.len(), 2);
        assert_eq!(res.resources[0].short_names, ["deploy"]);
        let v: ServerVersion = serde_json::from_str(
            r#"{"major":"1","minor":"20","gitVersion":"v1.20.2","platform":"linux/amd64"}"#,
        )
        .unwrap();
        assert_eq!(v.git_version, "v1.20.2");
    }
}
