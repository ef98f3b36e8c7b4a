//! Readiness waits the restore needs between waves: a CRD `Established` (and its names
//! accepted), a namespace that exists and is not terminating. They poll GET through the limiter,
//! first at once, then after 50 ms, backing off (doubling) to 1 s: a CRD is usually Established
//! within 100 ms, and the restore's custom resources wait for it.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::Cluster;
use crate::error::{KubeError, RequestContext, Result, Verb};
use crate::surface::ApiResourceInfo;

pub(crate) const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(1);
/// First delay of a readiness wait (shorter than discovery's: waits are on the restore's path).
const WAIT_FIRST_POLL: Duration = Duration::from_millis(50);

pub(crate) fn next_poll(d: Duration) -> Duration {
    (d * 2).min(MAX_POLL)
}

fn builtin(group: &str, resource: &str, kind: &str, namespaced: bool) -> ApiResourceInfo {
    ApiResourceInfo {
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
        kind: kind.into(),
        singular: String::new(),
        namespaced,
        verbs: Vec::new(),
        short_names: Vec::new(),
        preferred: true,
    }
}

/// Whether a namespace is usable and, if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceState {
    /// Exists and is not terminating.
    Active,
    /// Being deleted.
    Terminating,
    /// Does not exist.
    Absent,
}

/// The CRD state the wait looks at: `Established` and `NamesAccepted` conditions.
pub(crate) fn crd_state(crd: &Value) -> (bool, String) {
    let cond = |t: &str| {
        crd.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
            })
            .and_then(|c| c.get("status").and_then(Value::as_str))
            .unwrap_or("Unknown")
            .to_owned()
    };
    let established = cond("Established");
    let names = cond("NamesAccepted");
    let ready = established == "True" && names == "True";
    (ready, format!("Established={established}, NamesAccepted={names}"))
}

pub(crate) fn namespace_state(ns: Option<&Value>) -> NamespaceState {
    match ns {
        None => NamespaceState::Absent,
        Some(ns) => {
            let terminating = ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
                || ns
                    .pointer("/metadata/deletionTimestamp")
                    .is_some_and(|v| !v.is_null());
            if terminating {
                NamespaceState::Terminating
            } else {
                NamespaceState::Active
            }
        }
    }
}

impl Cluster {
    /// Wait until the `CustomResourceDefinition` `name` has `Established=True` and
    /// `NamesAccepted=True` (a CRD not yet visible is waited for too).
    pub async fn wait_crd_established(&self, name: &str, timeout: Duration) -> Result<()> {
        let res = builtin(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        );
        self.poll(&res, None, name, timeout, |crd| match crd {
            Some(crd) => crd_state(crd),
            None => (false, "not found".into()),
        })
        .await
    }

    /// Wait until namespace `name` exists and is not terminating (a terminating namespace is
    /// waited out; an absent one is waited for).
    pub async fn wait_namespace_ready(&self, name: &str, timeout: Duration) -> Result<()> {
        let res = builtin("", "namespaces", "Namespace", false);
        self.poll(&res, None, name, timeout, |ns| {
            let st = namespace_state(ns);
            (st == NamespaceState::Active, format!("{st:?}"))
        })
        .await
    }

    /// Wait while namespace `name` is terminating; returns `Active` or `Absent` (then the caller
    /// creates it).
    pub async fn wait_namespace_settled(&self, name: &str, timeout: Duration) -> Result<NamespaceState> {
        let res = builtin("", "namespaces", "Namespace", false);
        let mut last = NamespaceState::Absent;
        self.poll(&res, None, name, timeout, |ns| {
            last = namespace_state(ns);
            (last != NamespaceState::Terminating, format!("{last:?}"))
        })
        .await?;
        Ok(last)
    }

    /// The current state of namespace `name` (one GET).
    pub async fn namespace_state(&self, name: &str) -> Result<NamespaceState> {
        let res = builtin("", "namespaces", "Namespace", false);
        Ok(namespace_state(self.get(&res, None, name).await?.as_ref()))
    }

    async fn poll(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        timeout: Duration,
        mut ready: impl FnMut(Option<&Value>) -> (bool, String),
    ) -> Result<()> {
        let start = Instant::now();
        let mut delay = WAIT_FIRST_POLL;
        loop {
            let obj = self.get(res, namespace, name).await?;
            let (ok, state) = ready(obj.as_ref());
            if ok {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(KubeError::Timeout {
                    ctx: Box::new(RequestContext::new(Verb::Wait, res.group_resource()).named(name)),
                    waited: start.elapsed(),
                    last_state: state,
                });
            }
            let remaining = timeout.saturating_sub(start.elapsed());
            crate::cluster::sleep(delay.min(remaining.max(Duration::from_millis(10)))).await;
            delay = next_poll(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_needs_both_conditions() {
        let crd = |e: &str, n: &str| json!({"status":{"conditions":[{"type":"NamesAccepted","status":n},{"type":"Established","status":e}]}});
        assert!(crd_state(&crd("True", "True")).0);
        assert!(!crd_state(&crd("True", "False")).0);
        assert!(!crd_state(&crd("False", "True")).0);
        let (ok, state) = crd_state(&json!({"metadata":{}}));
        assert!(!ok);
        assert_eq!(state, "Established=Unknown, NamesAccepted=Unknown");
    }

    #[test]
    fn namespace_states() {
        assert_eq!(namespace_state(None), NamespaceState::Absent);
        assert_eq!(
            namespace_state(Some(&json!({"status":{"phase":"Active"}}))),
            NamespaceState::Active
        );
        assert_eq!(
            namespace_state(Some(&json!({"status":{"phase":"Terminating"}}))),
            NamespaceState::Terminating
        );
        assert_eq!(
            namespace_state(Some(
                &json!({"metadata":{"deletionTimestamp":"2020-01-01T00:00:00Z"},"status":{"phase":"Active"}})
            )),
            NamespaceState::Terminating
        );
    }

    #[test]
    fn poll_interval_backs_off_to_one_second() {
        assert_eq!(next_poll(FIRST_POLL), Duration::from_millis(500));
        assert_eq!(next_poll(Duration::from_millis(500)), MAX_POLL);
        assert_eq!(next_poll(MAX_POLL), MAX_POLL);
    }
}
