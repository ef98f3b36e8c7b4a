//! Deprecated and removed Kubernetes APIs: a table built into skiff, and the check of one
//! group/version/kind (or resource) against a target Kubernetes version.
//!
//! The table follows the Kubernetes "Deprecated API Migration Guide" (removals from v1.16 to
//! v1.32: the `extensions/v1beta1` and `apps/v1beta1`/`v1beta2` workloads, the v1.22 batch of
//! `v1beta1` graduations, the v1.25 policy/batch/discovery/events/node/autoscaling removals,
//! flow control `v1beta1`…`v1beta3`, `CSIStorageCapacity`), completed with the
//! deprecation releases of the `prerelease-lifecycle-gen` tags of `k8s.io/api`, which the
//! guide does not state. Release numbers are Kubernetes minor releases (`1.22`).
//!
//! A [`check`] answers, for one API and a target version:
//!
//! - [`Verdict::Removed`]: the target no longer serves it (`removed_in <= target`);
//! - [`Verdict::Deprecated`]: still served but deprecated (`deprecated_in <= target`);
//! - [`Verdict::NotYetServed`]: the API is the replacement of a table entry and the target is
//!   older than the release that introduced it (restoring a `batch/v1` CronJob into 1.20);
//! - [`Verdict::Fine`]: nothing the table knows of.
//!
//! with the replacement to use *in the target*: the most stable replacement that the target
//! serves (`flowcontrol.apiserver.k8s.io/v1beta1` checked against 1.27 gives `v1beta3`, against
//! 1.29 gives `v1`), or for [`Verdict::NotYetServed`] the older API the target still serves.
//!
//! Architecture invariant: pure data and pure functions; the target's discovery (the API surface)
//! stays the authority on what a live cluster serves — this table explains and advises, and covers
//! APIs that are not installed anywhere yet (a backup's archived versions).

// Kubernetes kind names (CronJobs, PodTemplates, …) appear as prose in these docs.
#![allow(clippy::doc_markdown)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Kubernetes release: major and minor (the patch level never changes which APIs are served).
///
/// Parsing is tolerant of what clusters and users write: `v1.20.2`, `1.29`, `1.29.0`,
/// `1.29.0-eks-a1b2c3`, `v1.27.3+k3s1`, `1.30.2-gke.1587003`, and the `/version` minor field
/// style `1.29+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl KubeVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// `1.minor`, for the table.
    const fn v1(minor: u32) -> Self {
        Self::new(1, minor)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A version string that is not `[v]MAJOR.MINOR[…]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse kubernetes version {input:?} (expected e.g. 1.29, v1.20.2, 1.29.0-eks-…)")]
pub struct VersionError {
    /// What was given.
    pub input: String,
}

impl FromStr for KubeVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError { input: s.to_owned() };
        let t = s.trim();
        let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
        let (major, rest) = t.split_once('.').ok_or_else(err)?;
        // The minor is the leading digits of what follows: `29`, `29.0-eks-…`, `29+`, `27.3+k3s1`.
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (minor, tail) = rest.split_at(digits);
        let tail_ok = tail.is_empty() || tail.starts_with(['.', '-', '+']);
        if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) || minor.is_empty() || !tail_ok {
            return Err(err());
        }
        Ok(Self {
            major: major.parse().map_err(|_| err())?,
            minor: minor.parse().map_err(|_| err())?,
        })
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubeVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An API that replaces a deprecated one, and the release that introduced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replacement {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// First release that serves it.
    pub available_since: KubeVersion,
}

impl Replacement {
    /// `group/version` (`version` alone for the core group).
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }
}

/// One deprecated (and, in every entry so far, removed) group/version/kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeprecatedApi {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Resource (plural, lowercase).
    pub resource: &'static str,
    /// Release that introduced it.
    pub introduced_in: KubeVersion,
    /// Release that deprecated it.
    pub deprecated_in: KubeVersion,
    /// First release that no longer serves it.
    pub removed_in: Option<KubeVersion>,
    /// Replacements, most preferred (most stable) first; empty when there is none.
    pub replacements: &'static [Replacement],
    /// What changes when moving to the replacement (one line; empty when nothing notable).
    pub notes: &'static str,
}

impl DeprecatedApi {
    /// `group/version`.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    /// Whether `target` serves this API (as far as the table knows).
    pub fn served_in(&self, target: KubeVersion) -> bool {
        self.removed_in.is_none_or(|removed| target < removed)
    }
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// What [`check`] says of an API in a target release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The target does not serve it any more.
    Removed,
    /// Served, but deprecated: it will go in a later release.
    Deprecated,
    /// Served by newer releases only: the target predates it.
    NotYetServed,
    /// Nothing known against it.
    Fine,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Removed => "removed",
            Verdict::Deprecated => "deprecated",
            Verdict::NotYetServed => "not yet served",
            Verdict::Fine => "fine",
        })
    }
}

/// The API to use instead, as advised for the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Advice {
    /// `group/version` to use.
    pub api_version: String,
    /// Release that introduced it.
    pub available_since: KubeVersion,
    /// Whether the target serves it. `false` only when no listed alternative is served by the
    /// target (then the most preferred one is given).
    pub served_by_target: bool,
}

/// The result of checking one API against a target release. Serializable for `-o json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ApiCheck {
    /// `group/version` checked.
    pub api_version: String,
    /// Kind checked (the table's kind when a resource was checked).
    pub kind: String,
    /// The target release.
    pub target: KubeVersion,
    /// The verdict.
    pub verdict: Verdict,
    /// Release that deprecated the checked API (removed / deprecated verdicts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_in: Option<KubeVersion>,
    /// Release that removed the checked API (removed / deprecated verdicts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_in: Option<KubeVersion>,
    /// Release that introduced the checked API ([`Verdict::NotYetServed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced_in: Option<KubeVersion>,
    /// What to use instead: the replacement for removed / deprecated APIs, the older API the
    /// target serves for [`Verdict::NotYetServed`]. `None` when there is none (PodSecurityPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_instead: Option<Advice>,
    /// Notable changes between the two APIs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

impl ApiCheck {
    fn fine(api_version: String, kind: String, target: KubeVersion) -> Self {
        Self {
            api_version,
            kind,
            target,
            verdict: Verdict::Fine,
            deprecated_in: None,
            removed_in: None,
            introduced_in: None,
            use_instead: None,
            notes: String::new(),
        }
    }
}

impl fmt::Display for ApiCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.api_version, self.kind)?;
        match self.verdict {
            Verdict::Fine => write!(f, "served by {}", self.target)?,
            Verdict::Removed => write!(
                f,
                "removed in {} (deprecated in {})",
                opt(self.removed_in),
                opt(self.deprecated_in)
            )?,
            Verdict::Deprecated => {
                write!(f, "deprecated in {}", opt(self.deprecated_in))?;
                if let Some(removed) = self.removed_in {
                    write!(f, ", removed in {removed}")?;
                }
            }
            Verdict::NotYetServed => write!(
                f,
                "not served before {} (target {})",
                opt(self.introduced_in),
                self.target
            )?,
        }
        match (&self.use_instead, self.verdict) {
            (_, Verdict::Fine) => Ok(()),
            (None, _) => f.write_str("; no replacement"),
            (Some(a), _) => {
                write!(f, "; use {} (since {})", a.api_version, a.available_since)?;
                if a.served_by_target {
                    Ok(())
                } else {
                    f.write_str(", which the target does not serve either")
                }
            }
        }
    }
}

fn opt(v: Option<KubeVersion>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| v.to_string())
}

/// Checks `apiVersion` + `kind` (as written in an object: `apps/v1beta1`, `Deployment`) against
/// the target release.
pub fn check(api_version: &str, kind: &str, target: KubeVersion) -> ApiCheck {
    let (group, version) = split_api_version(api_version);
    check_with(group, version, target, |e| e.kind == kind)
        .unwrap_or_else(|| ApiCheck::fine(api_version.to_owned(), kind.to_owned(), target))
}

/// Checks a group / version / resource (`"apps"`, `"v1beta1"`, `"deployments"`) against the
/// target release; the kind in the answer is the table's (or the resource when nothing matched).
pub fn check_resource(group: &str, version: &str, resource: &str, target: KubeVersion) -> ApiCheck {
    check_with(group, version, target, |e| e.resource == resource)
        .unwrap_or_else(|| ApiCheck::fine(api_version(group, version), resource.to_owned(), target))
}

fn check_with(
    group: &str,
    version: &str,
    target: KubeVersion,
    same: impl Fn(&DeprecatedApi) -> bool,
) -> Option<ApiCheck> {
    // A deprecated API of the table.
    if let Some(entry) = TABLE
        .iter()
        .find(|e| e.group == group && e.version == version && same(e))
    {
        let verdict = if !entry.served_in(target) {
            Verdict::Removed
        } else if entry.deprecated_in <= target {
            Verdict::Deprecated
        } else {
            return None;
        };
        return Some(ApiCheck {
            api_version: entry.api_version(),
            kind: entry.kind.to_owned(),
            target,
            verdict,
            deprecated_in: Some(entry.deprecated_in),
            removed_in: entry.removed_in,
            introduced_in: None,
            use_instead: advise(entry, target),
            notes: entry.notes.to_owned(),
        });
    }
    // A replacement the target is too old for: point back at an older API the target serves.
    let since = TABLE
        .iter()
        .filter(|e| same(e))
        .flat_map(|e| e.replacements)
        .filter(|r| r.group == group && r.version == version && target < r.available_since)
        .map(|r| r.available_since)
        .min()?;
    // Among the entries it replaces, the most recent API the target serves.
    let older = TABLE
        .iter()
        .filter(|e| same(e) && e.introduced_in <= target && e.served_in(target))
        .filter(|e| {
            e.replacements
                .iter()
                .any(|r| r.group == group && r.version == version)
        })
        .max_by_key(|e| e.introduced_in);
    let use_instead = older.map(|e| Advice {
        api_version: e.api_version(),
        available_since: e.introduced_in,
        served_by_target: true,
    });
    let kind = older.map_or_else(
        || TABLE.iter().find(|e| same(e)).map_or("", |e| e.kind).to_owned(),
        |e| e.kind.to_owned(),
    );
    Some(ApiCheck {
        api_version: api_version(group, version),
        kind,
        target,
        verdict: Verdict::NotYetServed,
        deprecated_in: None,
        removed_in: None,
        introduced_in: Some(since),
        use_instead,
        notes: String::new(),
    })
}

/// The most preferred replacement that the target serves (available, and not itself removed),
/// else the most preferred one.
fn advise(entry: &DeprecatedApi, target: KubeVersion) -> Option<Advice> {
    let served = |r: &Replacement| {
        r.available_since <= target
            && !TABLE.iter().any(|e| {
                e.group == r.group && e.version == r.version && e.kind == entry.kind && !e.served_in(target)
            })
    };
    let pick = entry
        .replacements
        .iter()
        .find(|r| served(r))
        .or_else(|| entry.replacements.first())?;
    Some(Advice {
        api_version: pick.api_version(),
        available_since: pick.available_since,
        served_by_target: served(pick),
    })
}

/// The whole table (sorted by removal release, then group, version, kind).
pub fn table() -> &'static [DeprecatedApi] {
    TABLE
}

const fn r(group: &'static str, version: &'static str, since: u32) -> Replacement {
    Replacement {
        group,
        version,
        available_since: KubeVersion::v1(since),
    }
}

const fn e(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    resource: &'static str,
    [introduced, deprecated, removed]: [u32; 3],
    replacements: &'static [Replacement],
    notes: &'static str,
) -> DeprecatedApi {
    DeprecatedApi {
        group,
        version,
        kind,
        resource,
        introduced_in: KubeVersion::v1(introduced),
        deprecated_in: KubeVersion::v1(deprecated),
        removed_in: Some(KubeVersion::v1(removed)),
        replacements,
        notes,
    }
}

const APPS_V1: &[Replacement] = &[r("apps", "v1", 9)];
const NOTE_SELECTOR: &str = "spec.selector is required and immutable (use the template labels)";
const NOTE_DEPLOYMENT: &str = "spec.rollbackTo removed; spec.selector required and immutable; \
     progressDeadlineSeconds defaults to 600, revisionHistoryLimit to 10, maxSurge/maxUnavailable to 25%";
const NOTE_DAEMONSET: &str = "spec.templateGeneration removed; spec.selector required and immutable; \
     updateStrategy.type defaults to RollingUpdate";
const NOTE_STATEFULSET: &str =
    "spec.selector required and immutable; updateStrategy.type defaults to RollingUpdate";
const NOTE_INGRESS: &str = "spec.backend -> spec.defaultBackend; serviceName -> service.name; \
     servicePort -> service.port.number / service.port.name; pathType required";
const NOTE_WEBHOOK: &str = "failurePolicy defaults to Fail, matchPolicy to Equivalent, timeoutSeconds to 10s; \
     sideEffects and admissionReviewVersions required; webhook names unique";
const NOTE_CRD: &str = "spec.scope required; spec.version/validation/subresources/additionalPrinterColumns \
     move under spec.versions[*]; structural schema required; preserveUnknownFields: true disallowed";
const NOTE_CSR: &str = "spec.signerName and spec.usages required; kubernetes.io/legacy-unknown not allowed";
const NOTE_EVENT: &str = "involvedObject -> regarding; type Normal or Warning only; \
     action, reason, reportingComponent, reportingInstance required; deprecated* fields not writable";
const NOTE_ENDPOINTSLICE: &str = "topology -> per-endpoint nodeName and zone (deprecatedTopology read-only)";
const NOTE_PDB: &str = "an empty spec.selector selects every pod of the namespace (v1beta1: none)";
const NOTE_PLC: &str = "limited.assuredConcurrencyShares -> limited.nominalConcurrencyShares; \
     v1 defaults it to 30 only when unset (an explicit 0 stays 0)";
const NOTE_HPA: &str = "targetAverageUtilization/targetAverageValue -> target.averageUtilization / \
     target.averageValue (v2 metric target struct)";
const NOTE_SAR: &str = "spec.group -> spec.groups";
const NOTE_PSP: &str = "no replacement: use Pod Security Admission or a third-party admission webhook";

const FLOWCONTROL_V1BETA1: &[Replacement] = &[
    r("flowcontrol.apiserver.k8s.io", "v1", 29),
    r("flowcontrol.apiserver.k8s.io", "v1beta3", 26),
    r("flowcontrol.apiserver.k8s.io", "v1beta2", 23),
];
const FLOWCONTROL_V1BETA2: &[Replacement] = &[
    r("flowcontrol.apiserver.k8s.io", "v1", 29),
    r("flowcontrol.apiserver.k8s.io", "v1beta3", 26),
];
const FLOWCONTROL_V1BETA3: &[Replacement] = &[r("flowcontrol.apiserver.k8s.io", "v1", 29)];
const HPA: &[Replacement] = &[r("autoscaling", "v2", 23), r("autoscaling", "v2beta2", 12)];
const INGRESS: &[Replacement] = &[
    r("networking.k8s.io", "v1", 19),
    r("networking.k8s.io", "v1beta1", 14),
];

static TABLE: &[DeprecatedApi] = &[
    // v1.16
    e(
        "apps",
        "v1beta1",
        "ControllerRevision",
        "controllerrevisions",
        [7, 8, 16],
        APPS_V1,
        "",
    ),
    e(
        "apps",
        "v1beta1",
        "Deployment",
        "deployments",
        [6, 8, 16],
        APPS_V1,
        NOTE_DEPLOYMENT,
    ),
    e(
        "apps",
        "v1beta1",
        "StatefulSet",
        "statefulsets",
        [5, 8, 16],
        APPS_V1,
        NOTE_STATEFULSET,
    ),
    e(
        "apps",
        "v1beta2",
        "ControllerRevision",
        "controllerrevisions",
        [8, 9, 16],
        APPS_V1,
        "",
    ),
    e(
        "apps",
        "v1beta2",
        "DaemonSet",
        "daemonsets",
        [8, 9, 16],
        APPS_V1,
        NOTE_DAEMONSET,
    ),
    e(
        "apps",
        "v1beta2",
        "Deployment",
        "deployments",
        [8, 9, 16],
        APPS_V1,
        NOTE_DEPLOYMENT,
    ),
    e(
        "apps",
        "v1beta2",
        "ReplicaSet",
        "replicasets",
        [8, 9, 16],
        APPS_V1,
        NOTE_SELECTOR,
    ),
    e(
        "apps",
        "v1beta2",
        "StatefulSet",
        "statefulsets",
        [8, 9, 16],
        APPS_V1,
        NOTE_STATEFULSET,
    ),
    e(
        "extensions",
        "v1beta1",
        "DaemonSet",
        "daemonsets",
        [1, 8, 16],
        APPS_V1,
        NOTE_DAEMONSET,
    ),
    e(
        "extensions",
        "v1beta1",
        "Deployment",
        "deployments",
        [1, 8, 16],
        APPS_V1,
        NOTE_DEPLOYMENT,
    ),
    e(
        "extensions",
        "v1beta1",
        "NetworkPolicy",
        "networkpolicies",
        [3, 9, 16],
        &[r("networking.k8s.io", "v1", 8)],
        "",
    ),
    e(
        "extensions",
        "v1beta1",
        "PodSecurityPolicy",
        "podsecuritypolicies",
        [2, 11, 16],
        &[r("policy", "v1beta1", 10)],
        "policy/v1beta1 PodSecurityPolicy is itself removed in 1.25, with no replacement",
    ),
    e(
        "extensions",
        "v1beta1",
        "ReplicaSet",
        "replicasets",
        [2, 8, 16],
        APPS_V1,
        NOTE_SELECTOR,
    ),
    // v1.22
    e(
        "admissionregistration.k8s.io",
        "v1beta1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        [9, 16, 22],
        &[r("admissionregistration.k8s.io", "v1", 16)],
        NOTE_WEBHOOK,
    ),
    e(
        "admissionregistration.k8s.io",
        "v1beta1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        [9, 16, 22],
        &[r("admissionregistration.k8s.io", "v1", 16)],
        NOTE_WEBHOOK,
    ),
    e(
        "apiextensions.k8s.io",
        "v1beta1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        [7, 16, 22],
        &[r("apiextensions.k8s.io", "v1", 16)],
        NOTE_CRD,
    ),
    e(
        "apiregistration.k8s.io",
        "v1beta1",
        "APIService",
        "apiservices",
        [7, 19, 22],
        &[r("apiregistration.k8s.io", "v1", 10)],
        "",
    ),
    e(
        "authentication.k8s.io",
        "v1beta1",
        "TokenReview",
        "tokenreviews",
        [4, 19, 22],
        &[r("authentication.k8s.io", "v1", 6)],
        "",
    ),
    e(
        "authorization.k8s.io",
        "v1beta1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        [2, 19, 22],
        &[r("authorization.k8s.io", "v1", 6)],
        NOTE_SAR,
    ),
    e(
        "authorization.k8s.io",
        "v1beta1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        [2, 19, 22],
        &[r("authorization.k8s.io", "v1", 6)],
        NOTE_SAR,
    ),
    e(
        "authorization.k8s.io",
        "v1beta1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        [8, 19, 22],
        &[r("authorization.k8s.io", "v1", 8)],
        "",
    ),
    e(
        "authorization.k8s.io",
        "v1beta1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        [2, 19, 22],
        &[r("authorization.k8s.io", "v1", 6)],
        NOTE_SAR,
    ),
    e(
        "certificates.k8s.io",
        "v1beta1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        [12, 19, 22],
        &[r("certificates.k8s.io", "v1", 19)],
        NOTE_CSR,
    ),
    e(
        "coordination.k8s.io",
        "v1beta1",
        "Lease",
        "leases",
        [12, 19, 22],
        &[r("coordination.k8s.io", "v1", 14)],
        "",
    ),
    e(
        "extensions",
        "v1beta1",
        "Ingress",
        "ingresses",
        [1, 14, 22],
        INGRESS,
        NOTE_INGRESS,
    ),
    e(
        "networking.k8s.io",
        "v1beta1",
        "Ingress",
        "ingresses",
        [14, 19, 22],
        &[r("networking.k8s.io", "v1", 19)],
        NOTE_INGRESS,
    ),
    e(
        "networking.k8s.io",
        "v1beta1",
        "IngressClass",
        "ingressclasses",
        [18, 19, 22],
        &[r("networking.k8s.io", "v1", 19)],
        "",
    ),
    e(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "ClusterRole",
        "clusterroles",
        [6, 17, 22],
        &[r("rbac.authorization.k8s.io", "v1", 8)],
        "",
    ),
    e(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        [6, 17, 22],
        &[r("rbac.authorization.k8s.io", "v1", 8)],
        "",
    ),
    e(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "Role",
        "roles",
        [6, 17, 22],
        &[r("rbac.authorization.k8s.io", "v1", 8)],
        "",
    ),
    e(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "RoleBinding",
        "rolebindings",
        [6, 17, 22],
        &[r("rbac.authorization.k8s.io", "v1", 8)],
        "",
    ),
    e(
        "scheduling.k8s.io",
        "v1beta1",
        "PriorityClass",
        "priorityclasses",
        [11, 14, 22],
        &[r("scheduling.k8s.io", "v1", 14)],
        "",
    ),
    e(
        "storage.k8s.io",
        "v1beta1",
        "CSIDriver",
        "csidrivers",
        [14, 19, 22],
        &[r("storage.k8s.io", "v1", 19)],
        "",
    ),
    e(
        "storage.k8s.io",
        "v1beta1",
        "CSINode",
        "csinodes",
        [14, 17, 22],
        &[r("storage.k8s.io", "v1", 17)],
        "",
    ),
    e(
        "storage.k8s.io",
        "v1beta1",
        "StorageClass",
        "storageclasses",
        [4, 19, 22],
        &[r("storage.k8s.io", "v1", 6)],
        "",
    ),
    e(
        "storage.k8s.io",
        "v1beta1",
        "VolumeAttachment",
        "volumeattachments",
        [10, 19, 22],
        &[r("storage.k8s.io", "v1", 13)],
        "",
    ),
    // v1.25
    e(
        "autoscaling",
        "v2beta1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        [8, 22, 25],
        HPA,
        NOTE_HPA,
    ),
    e(
        "batch",
        "v1beta1",
        "CronJob",
        "cronjobs",
        [8, 21, 25],
        &[r("batch", "v1", 21)],
        "",
    ),
    e(
        "discovery.k8s.io",
        "v1beta1",
        "EndpointSlice",
        "endpointslices",
        [16, 21, 25],
        &[r("discovery.k8s.io", "v1", 21)],
        NOTE_ENDPOINTSLICE,
    ),
    e(
        "events.k8s.io",
        "v1beta1",
        "Event",
        "events",
        [8, 22, 25],
        &[r("events.k8s.io", "v1", 19)],
        NOTE_EVENT,
    ),
    e(
        "node.k8s.io",
        "v1beta1",
        "RuntimeClass",
        "runtimeclasses",
        [13, 22, 25],
        &[r("node.k8s.io", "v1", 20)],
        "",
    ),
    e(
        "policy",
        "v1beta1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        [5, 21, 25],
        &[r("policy", "v1", 21)],
        NOTE_PDB,
    ),
    e(
        "policy",
        "v1beta1",
        "PodSecurityPolicy",
        "podsecuritypolicies",
        [10, 21, 25],
        &[],
        NOTE_PSP,
    ),
    // v1.26
    e(
        "autoscaling",
        "v2beta2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        [12, 23, 26],
        &[r("autoscaling", "v2", 23)],
        "",
    ),
    e(
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "FlowSchema",
        "flowschemas",
        [20, 23, 26],
        FLOWCONTROL_V1BETA1,
        "",
    ),
    e(
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        [20, 23, 26],
        FLOWCONTROL_V1BETA1,
        NOTE_PLC,
    ),
    // v1.27
    e(
        "storage.k8s.io",
        "v1beta1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        [21, 24, 27],
        &[r("storage.k8s.io", "v1", 24)],
        "",
    ),
    // v1.29
    e(
        "flowcontrol.apiserver.k8s.io",
        "v1beta2",
        "FlowSchema",
        "flowschemas",
        [23, 26, 29],
        FLOWCONTROL_V1BETA2,
        "",
    ),
    e(
        "flowcontrol.apiserver.k8s.io",
        "v1beta2",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        [23, 26, 29],
        FLOWCONTROL_V1BETA2,
        NOTE_PLC,
    ),
    // v1.32
    e(
        "flowcontrol.apiserver.k8s.io",
        "v1beta3",
        "FlowSchema",
        "flowschemas",
        [26, 29, 32],
        FLOWCONTROL_V1BETA3,
        "",
    ),
    e(
        "flowcontrol.apiserver.k8s.io",
        "v1beta3",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        [26, 29, 32],
        FLOWCONTROL_V1BETA3,
        NOTE_PLC,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn versions_parse_tolerantly() {
        for (text, want) in [
            ("1.29", (1, 29)),
            ("v1.20.2", (1, 20)),
            ("V1.20", (1, 20)),
            ("1.29.0-eks-a1b2c3d", (1, 29)),
            ("v1.27.3+k3s1", (1, 27)),
            ("1.30.2-gke.1587003", (1, 30)),
            ("1.29+", (1, 29)),
            (" 1.32.0 ", (1, 32)),
        ] {
            assert_eq!(v(text), KubeVersion::new(want.0, want.1), "{text}");
        }
        for bad in ["", "1", "v1", "1.", "1.x", "x.29", "1.29x", "v.29", "1..2"] {
            let err = bad.parse::<KubeVersion>().unwrap_err();
            assert_eq!(err.input, bad);
        }
        assert!(v("1.9") < v("1.10"), "numeric, not textual, order");
        assert_eq!(v("v1.20.2").to_string(), "1.20");
        assert_eq!(serde_json::to_string(&v("1.29.1")).unwrap(), "\"1.29\"");
        let back: KubeVersion = serde_json::from_str("\"v1.25.4\"").unwrap();
        assert_eq!(back, v("1.25"));
    }

    #[test]
    fn extensions_ingress_is_removed_in_1_22() {
        let c = check("extensions/v1beta1", "Ingress", v("1.22"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.removed_in, Some(v("1.22")));
        assert_eq!(c.deprecated_in, Some(v("1.14")));
        let a = c.use_instead.clone().unwrap();
        assert_eq!(a.api_version, "networking.k8s.io/v1");
        assert_eq!(a.available_since, v("1.19"));
        assert!(a.served_by_target);
        assert!(c.notes.contains("defaultBackend"), "{}", c.notes);
        assert_eq!(
            c.to_string(),
            "extensions/v1beta1 Ingress: removed in 1.22 (deprecated in 1.14); use networking.k8s.io/v1 (since 1.19)"
        );
        // Before 1.22 it is served, and deprecated.
        let c = check("extensions/v1beta1", "Ingress", v("v1.20.2"));
        assert_eq!(c.verdict, Verdict::Deprecated);
        assert_eq!(c.use_instead.unwrap().api_version, "networking.k8s.io/v1");
        // On 1.16 networking.k8s.io/v1 Ingress did not exist yet: the advice falls back.
        let c = check("extensions/v1beta1", "Ingress", v("1.16"));
        assert_eq!(c.verdict, Verdict::Deprecated);
        assert_eq!(c.use_instead.unwrap().api_version, "networking.k8s.io/v1beta1");
        // Before its deprecation nothing is said.
        assert_eq!(
            check("extensions/v1beta1", "Ingress", v("1.13")).verdict,
            Verdict::Fine
        );
    }

    #[test]
    fn pod_security_policy_has_no_replacement() {
        let c = check("policy/v1beta1", "PodSecurityPolicy", v("1.25"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.use_instead, None);
        assert!(c.to_string().ends_with("; no replacement"), "{c}");
        assert!(c.notes.contains("Pod Security Admission"));
        assert_eq!(
            check("policy/v1beta1", "PodSecurityPolicy", v("1.24")).verdict,
            Verdict::Deprecated
        );
        // The PDB of the same group/version has one.
        let c = check("policy/v1beta1", "PodDisruptionBudget", v("1.25.3"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.use_instead.unwrap().api_version, "policy/v1");
    }

    #[test]
    fn flowcontrol_betas_chain_to_what_the_target_serves() {
        let c = check("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", v("1.32"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.removed_in, Some(v("1.32")));
        assert_eq!(
            c.use_instead.unwrap().api_version,
            "flowcontrol.apiserver.k8s.io/v1"
        );
        let c = check("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", v("1.31"));
        assert_eq!(c.verdict, Verdict::Deprecated);
        // v1beta1 on 1.27: v1 is not there yet, v1beta2 is deprecated but served, v1beta3 preferred.
        let c = check(
            "flowcontrol.apiserver.k8s.io/v1beta1",
            "PriorityLevelConfiguration",
            v("1.27"),
        );
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(
            c.use_instead.unwrap().api_version,
            "flowcontrol.apiserver.k8s.io/v1beta3"
        );
        assert!(c.notes.contains("nominalConcurrencyShares"));
        // v1beta2 on 1.29: removed; v1beta3 (deprecated) and v1 served: v1 first.
        let c = check(
            "flowcontrol.apiserver.k8s.io/v1beta2",
            "FlowSchema",
            v("1.29.0-eks-1"),
        );
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(
            c.use_instead.unwrap().api_version,
            "flowcontrol.apiserver.k8s.io/v1"
        );
        // And v1 itself is fine.
        assert_eq!(
            check("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", v("1.32")).verdict,
            Verdict::Fine
        );
    }

    #[test]
    fn hpa_advice_skips_a_replacement_removed_in_the_target() {
        // On 1.22, v2 does not exist: v2beta2 (served) is the advice.
        let c = check("autoscaling/v2beta1", "HorizontalPodAutoscaler", v("1.22"));
        assert_eq!(c.verdict, Verdict::Deprecated);
        assert_eq!(c.use_instead.unwrap().api_version, "autoscaling/v2beta2");
        let c = check("autoscaling/v2beta1", "HorizontalPodAutoscaler", v("1.26"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.use_instead.unwrap().api_version, "autoscaling/v2");
        let c = check("autoscaling/v2beta2", "HorizontalPodAutoscaler", v("1.26"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.removed_in, Some(v("1.26")));
    }

    #[test]
    fn newer_apis_into_an_older_target_are_not_yet_served() {
        // A batch/v1 CronJob (GA in 1.21) restored into the 1.20 test bed.
        let c = check("batch/v1", "CronJob", v("1.20.2"));
        assert_eq!(c.verdict, Verdict::NotYetServed);
        assert_eq!(c.introduced_in, Some(v("1.21")));
        let a = c.use_instead.clone().unwrap();
        assert_eq!(a.api_version, "batch/v1beta1");
        assert!(a.served_by_target);
        assert_eq!(
            c.to_string(),
            "batch/v1 CronJob: not served before 1.21 (target 1.20); use batch/v1beta1 (since 1.8)"
        );
        assert_eq!(check("batch/v1", "CronJob", v("1.21")).verdict, Verdict::Fine);
        // policy/v1 PDB on 1.20 → policy/v1beta1.
        let c = check("policy/v1", "PodDisruptionBudget", v("1.20"));
        assert_eq!(c.verdict, Verdict::NotYetServed);
        assert_eq!(c.use_instead.unwrap().api_version, "policy/v1beta1");
        // Core kinds and unknown groups are fine.
        assert_eq!(check("v1", "ConfigMap", v("1.20")).verdict, Verdict::Fine);
        assert_eq!(
            check("example.com/v1", "Widget", v("1.32")).verdict,
            Verdict::Fine
        );
    }

    #[test]
    fn resources_are_checked_like_kinds() {
        let c = check_resource("rbac.authorization.k8s.io", "v1beta1", "rolebindings", v("1.22"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.kind, "RoleBinding");
        assert_eq!(c.use_instead.unwrap().api_version, "rbac.authorization.k8s.io/v1");
        let c = check_resource("apps", "v1beta2", "deployments", v("1.16"));
        assert_eq!(c.verdict, Verdict::Removed);
        assert_eq!(c.use_instead.unwrap().api_version, "apps/v1");
        let c = check_resource("storage.k8s.io", "v1beta1", "csistoragecapacities", v("1.26"));
        assert_eq!(c.verdict, Verdict::Deprecated);
        assert_eq!(c.removed_in, Some(v("1.27")));
        let c = check_resource("", "v1", "configmaps", v("1.30"));
        assert_eq!(c.verdict, Verdict::Fine);
        assert_eq!((c.api_version.as_str(), c.kind.as_str()), ("v1", "configmaps"));
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::BTreeSet::new();
        for e in table() {
            assert!(seen.insert((e.group, e.version, e.kind)), "duplicate {e:?}");
            let removed = e.removed_in.unwrap();
            assert!(
                e.introduced_in < e.deprecated_in && e.deprecated_in < removed,
                "{e:?}"
            );
            assert!(
                e.resource.chars().all(|c| c.is_ascii_lowercase()) && e.resource.ends_with('s'),
                "{e:?}"
            );
            assert!(
                e.replacements.is_empty() || e.replacements.iter().any(|r| r.available_since <= removed),
                "a replacement is served when the API goes: {e:?}"
            );
            for r in e.replacements {
                assert!((r.group, r.version) != (e.group, e.version), "{e:?}");
            }
            // Every removed API's verdict flips at its removal release.
            let before = KubeVersion::new(1, removed.minor - 1);
            assert_eq!(check(&e.api_version(), e.kind, removed).verdict, Verdict::Removed);
            assert_eq!(
                check(&e.api_version(), e.kind, before).verdict,
                Verdict::Deprecated
            );
        }
        // Sorted by removal release (the module's reading order).
        assert!(table().windows(2).all(|w| w[0].removed_in <= w[1].removed_in));
        // Removals from 1.16 to 1.32 are covered.
        let releases: std::collections::BTreeSet<u32> =
            table().iter().map(|e| e.removed_in.unwrap().minor).collect();
        assert_eq!(
            releases.into_iter().collect::<Vec<_>>(),
            [16, 22, 25, 26, 27, 29, 32]
        );
        let c = serde_json::to_value(check("batch/v1beta1", "CronJob", v("1.25"))).unwrap();
        assert_eq!(
            c,
            serde_json::json!({
                "api-version": "batch/v1beta1", "kind": "CronJob", "target": "1.25",
                "verdict": "removed", "deprecated-in": "1.21", "removed-in": "1.25",
                "use-instead": {"api-version": "batch/v1", "available-since": "1.21", "served-by-target": true}
            })
        );
    }
}
