//! The crate's error type: every variant names what was being done (verb, resource, namespace,
//! name) and, for API answers, carries the server's `Status` (code, reason, message, causes).
//!
//! Nothing here ever holds a bearer token or a request / response body: API messages are the
//! server's own `Status.message`, and decode failures keep only the position and category.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Result alias of this crate.
pub type Result<T, E = KubeError> = std::result::Result<T, E>;

/// What a request was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verb {
    /// Discovery (`/api`, `/apis`, group/version resource lists).
    Discover,
    /// `GET /version`.
    Version,
    /// Paged LIST.
    List,
    /// GET of one object.
    Get,
    /// POST (create).
    Create,
    /// PATCH with `application/merge-patch+json`.
    MergePatch,
    /// PATCH with `application/apply-patch+yaml` (server-side apply).
    Apply,
    /// DELETE.
    Delete,
    /// A readiness wait (polls GET).
    Wait,
    /// WATCH (a stream of changes).
    Watch,
    /// PATCH with `application/json-patch+json`.
    JsonPatch,
}

impl Verb {
    /// Lowercase name used in messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Discover => "discover",
            Verb::Version => "get version of",
            Verb::List => "list",
            Verb::Get => "get",
            Verb::Create => "create",
            Verb::MergePatch | Verb::JsonPatch => "patch",
            Verb::Apply => "apply",
            Verb::Delete => "delete",
            Verb::Wait => "wait for",
            Verb::Watch => "watch",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The request an error belongs to: verb, group-resource (`deployments.apps`), namespace, name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// What was being done.
    pub verb: Verb,
    /// Group-resource string (`configmaps`, `deployments.apps`) or the discovery path.
    pub resource: String,
    /// Namespace, when the request was namespaced.
    pub namespace: Option<String>,
    /// Object name, when the request named one.
    pub name: Option<String>,
}

impl RequestContext {
    /// A context without namespace or name.
    pub fn new(verb: Verb, resource: impl Into<String>) -> Self {
        Self {
            verb,
            resource: resource.into(),
            namespace: None,
            name: None,
        }
    }

    /// With a namespace (`None` leaves it unset).
    #[must_use]
    pub fn in_namespace(mut self, namespace: Option<&str>) -> Self {
        self.namespace = namespace.map(str::to_owned);
        self
    }

    /// With an object name.
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

impl fmt::Display for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        match (&self.namespace, &self.name) {
            (Some(ns), Some(name)) => write!(f, " {ns}/{name}"),
            (None, Some(name)) => write!(f, " {name}"),
            (Some(ns), None) => write!(f, " in namespace {ns}"),
            (None, None) => Ok(()),
        }
    }
}

/// One `details.causes` entry of a Kubernetes `Status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StatusCause {
    /// Machine-readable reason, e.g. `FieldManagerConflict`, `FieldValueInvalid`.
    pub reason: String,
    /// Human-readable description.
    pub message: String,
    /// Field path the cause refers to, e.g. `.data.key`.
    pub field: String,
}

/// The API server's answer to a failed request (its `Status` object plus the HTTP code).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiStatus {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason` (`AlreadyExists`, `NotFound`, `Conflict`, `Expired`, …); may be empty.
    pub reason: String,
    /// `Status.message`; the HTTP reason phrase when the body was not a `Status`.
    pub message: String,
    /// `Status.details.causes`.
    pub causes: Vec<StatusCause>,
    /// How many attempts the request took (retries on 429 / 5xx included).
    pub attempts: u32,
}

/// A server-side apply field conflict: another field manager owns `field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// Field path, e.g. `.data.key`.
    pub field: String,
    /// The manager that owns it, when the message names one (`kubectl-client-side-apply`).
    pub manager: Option<String>,
    /// The server's message for this conflict.
    pub message: String,
}

/// Errors of the kube crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeError {
    /// A kubeconfig file could not be read or has no usable context.
    #[error("load kubeconfig{}", path_suffix(path.as_ref()))]
    Kubeconfig {
        /// The file, when one was named (`--kubeconfig`).
        path: Option<PathBuf>,
        /// The loader's error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster environment was found.
    #[error("find a cluster configuration (no kubeconfig file and not running inside a cluster)")]
    NoConfig {
        /// Why the in-cluster configuration was not usable.
        #[source]
        source: Option<kube::config::InClusterError>,
    },
    /// The HTTP client could not be built (TLS setup, certificates, auth plugin).
    #[error("build the kubernetes client")]
    Client {
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// The kubeconfig's credential plugin (`users[].user.exec`: `aws`, `gke-gcloud-auth-plugin`,
    /// `kubelogin`, …) or auth provider could not supply credentials, when the client was built or
    /// when a token was refreshed. Never retried: the plugin would fail the same way.
    #[error("get credentials from {plugin}: {reason}")]
    Credentials {
        /// The plugin command as the kubeconfig names it, or `auth-provider <name>`.
        plugin: String,
        /// Why: its exit status and the end of its standard error, or why it could not run. Never
        /// its standard output (which carries credentials).
        reason: String,
    },
    /// The API server answered with a non-success status.
    #[error("{ctx}: the api server answered {} {}: {}", status.code, status.reason, status.message)]
    Api {
        /// The request.
        ctx: Box<RequestContext>,
        /// The server's answer.
        status: Box<ApiStatus>,
    },
    /// The request never got an HTTP answer (connection refused / reset, timeout, TLS).
    #[error("{ctx}: no answer from the api server after {attempts} attempts")]
    Transport {
        /// The request.
        ctx: Box<RequestContext>,
        /// How many attempts were made.
        attempts: u32,
        /// The last transport error.
        #[source]
        source: kube::Error,
    },
    /// The response body was not the JSON expected.
    #[error("{ctx}: decode the response ({detail})")]
    Decode {
        /// The request.
        ctx: Box<RequestContext>,
        /// Category and position of the decode error (never the content).
        detail: String,
    },
    /// The request could not be formed (missing namespace for a namespaced resource, a body that
    /// does not serialise, a name that does not match the object, …).
    #[error("{ctx}: invalid request: {detail}")]
    InvalidRequest {
        /// The request.
        ctx: Box<RequestContext>,
        /// What is wrong.
        detail: String,
    },
    /// A readiness wait ran out of time.
    #[error("{ctx}: not ready after {waited:?} (last state: {last_state})")]
    Timeout {
        /// What was waited for.
        ctx: Box<RequestContext>,
        /// How long the wait lasted.
        waited: Duration,
        /// The last observed state, e.g. `Established=False`.
        last_state: String,
    },
    /// A paged LIST had to restart more often than allowed after 410 Expired.
    #[error("{ctx}: continue token expired {restarts} times in a row")]
    TooManyRestarts {
        /// The LIST.
        ctx: Box<RequestContext>,
        /// Restarts made before giving up.
        restarts: u32,
    },
}

fn path_suffix(path: Option<&PathBuf>) -> String {
    path.map(|p| format!(" {}", p.display())).unwrap_or_default()
}

impl KubeError {
    /// The request context, when the error belongs to one request.
    pub fn context(&self) -> Option<&RequestContext> {
        match self {
            KubeError::Api { ctx, .. }
            | KubeError::Transport { ctx, .. }
            | KubeError::Decode { ctx, .. }
            | KubeError::InvalidRequest { ctx, .. }
            | KubeError::Timeout { ctx, .. }
            | KubeError::TooManyRestarts { ctx, .. } => Some(ctx),
            _ => None,
        }
    }

    /// The API server's status, for [`KubeError::Api`].
    pub fn api_status(&self) -> Option<&ApiStatus> {
        match self {
            KubeError::Api { status, .. } => Some(status),
            _ => None,
        }
    }

    /// HTTP status code of an API answer.
    pub fn status_code(&self) -> Option<u16> {
        self.api_status().map(|s| s.code)
    }

    fn reason(&self) -> Option<&str> {
        self.api_status().map(|s| s.reason.as_str())
    }

    /// Worth retrying later: 429, retryable 5xx, transport failures, and optimistic-concurrency
    /// conflicts (409 `Conflict` that is not a server-side-apply field conflict). The limiter has
    /// already retried 429 / 5xx / transport failures up to its attempt bound before this error
    /// surfaced.
    pub fn is_retryable(&self) -> bool {
        match self {
            KubeError::Transport { .. } | KubeError::TooManyRestarts { .. } => true,
            KubeError::Api { status, .. } => {
                is_retryable_status(status.code, &status.message)
                    || (self.is_conflict() && self.field_conflicts().is_empty())
            }
            _ => false,
        }
    }

    /// 409 `AlreadyExists`.
    pub fn is_already_exists(&self) -> bool {
        self.status_code() == Some(409) && self.reason() == Some("AlreadyExists")
    }

    /// 404 (object or resource not found).
    pub fn is_not_found(&self) -> bool {
        self.status_code() == Some(404)
    }

    /// 409 other than `AlreadyExists`: a resourceVersion conflict or a server-side-apply field
    /// conflict (see [`KubeError::field_conflicts`]).
    pub fn is_conflict(&self) -> bool {
        self.status_code() == Some(409) && self.reason() != Some("AlreadyExists")
    }

    /// 403.
    pub fn is_forbidden(&self) -> bool {
        self.status_code() == Some(403)
    }

    /// 410 `Expired` / `Gone` (an expired continue token or resourceVersion).
    pub fn is_expired(&self) -> bool {
        self.status_code() == Some(410)
    }

    /// 422 `Invalid` (schema / validation rejection).
    pub fn is_invalid(&self) -> bool {
        self.status_code() == Some(422)
    }

    /// The field conflicts of a server-side apply that was refused with 409 (empty otherwise).
    pub fn field_conflicts(&self) -> Vec<FieldConflict> {
        let Some(status) = self.api_status() else {
            return Vec::new();
        };
        if status.code != 409 {
            return Vec::new();
        }
        status
            .causes
            .iter()
            .filter(|c| c.reason == "FieldManagerConflict")
            .map(|c| FieldConflict {
                field: c.field.clone(),
                manager: manager_of(&c.message),
                message: c.message.clone(),
            })
            .collect()
    }
}

/// `conflict with "kubectl" using v1` → `kubectl`.
fn manager_of(message: &str) -> Option<String> {
    let rest = message.split_once("conflict with \"")?.1;
    let (manager, _) = rest.split_once('"')?;
    Some(manager.to_owned())
}

/// Whether an HTTP status is retried by the limiter: 429, 500, 502, 503, 504 — except a 500 from a
/// failed admission-webhook call, which will not heal by retrying within seconds (the plan orders
/// webhooks after their backends instead).
pub(crate) fn is_retryable_status(code: u16, message: &str) -> bool {
    match code {
        429 | 502..=504 => true,
        500 => !message.contains("failed calling webhook"),
        _ => false,
    }
}

/// The server's `Status` body, as far as errors need it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StatusBody {
    pub kind: String,
    pub message: String,
    pub reason: String,
    pub details: Option<StatusDetails>,
}

/// `Status.details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StatusDetails {
    pub causes: Vec<StatusCause>,
}

impl ApiStatus {
    /// Build from an HTTP code and a response body that is usually a `Status`.
    pub(crate) fn from_response(code: http::StatusCode, body: &[u8], attempts: u32) -> Self {
        let parsed: Option<StatusBody> = serde_json::from_slice::<StatusBody>(body)
            .ok()
            .filter(|s| s.kind == "Status");
        match parsed {
            Some(s) => ApiStatus {
                code: code.as_u16(),
                reason: s.reason,
                message: s.message,
                causes: s.details.map(|d| d.causes).unwrap_or_default(),
                attempts,
            },
            None => ApiStatus {
                code: code.as_u16(),
                reason: code.canonical_reason().unwrap_or("").replace(' ', ""),
                message: code
                    .canonical_reason()
                    .unwrap_or("unexpected status")
                    .to_ascii_lowercase(),
                causes: Vec::new(),
                attempts,
            },
        }
    }
}

/// Why credentials could not be had, when `e` is (or wraps) kube's auth error: described without
/// the plugin's standard output, which may hold a token.
pub(crate) fn credentials_failure(e: &kube::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(auth) = err.downcast_ref::<kube::client::AuthError>() {
            return Some(describe_auth(auth));
        }
        cur = err.source();
    }
    None
}

fn describe_auth(e: &kube::client::AuthError) -> String {
    use kube::client::AuthError;
    match e {
        AuthError::AuthExecStart(io) => format!("it could not be started ({io})"),
        AuthError::AuthExecRun { out, .. } => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let mut tail = lines[lines.len().saturating_sub(5)..].join("; ");
            if tail.len() > 1000 {
                let mut cut = tail.len() - 1000;
                while !tail.is_char_boundary(cut) {
                    cut += 1;
                }
                tail = format!("…{}", &tail[cut..]);
            }
            if tail.is_empty() {
                format!("it exited with {}", out.status)
            } else {
                format!("it exited with {}: {tail}", out.status)
            }
        }
        AuthError::AuthExecParse(_) => "its output is not an ExecCredential (JSON or YAML)".to_owned(),
        AuthError::ExecPluginFailed => "its ExecCredential has no status".to_owned(),
        AuthError::MalformedTokenExpirationDate(_) => {
            "its ExecCredential has a malformed expirationTimestamp".to_owned()
        }
        AuthError::InvalidBearerToken(_) => "the token it returned is not a valid header value".to_owned(),
        AuthError::MissingCommand => "the kubeconfig's exec section names no command".to_owned(),
        other => other.to_string(),
    }
}

/// Describe a JSON decode error without quoting the content (which may be Secret data).
pub(crate) fn decode_detail(e: &serde_json::Error) -> String {
    let category = match e.classify() {
        serde_json::error::Category::Io => "io error",
        serde_json::error::Category::Syntax => "malformed json",
        serde_json::error::Category::Data => "unexpected json shape",
        serde_json::error::Category::Eof => "truncated json",
    };
    format!("{category} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, causes: Vec<StatusCause>) -> KubeError {
        KubeError::Api {
            ctx: Box::new(
                RequestContext::new(Verb::Apply, "configmaps")
                    .in_namespace(Some("ns"))
                    .named("cm"),
            ),
            status: Box::new(ApiStatus {
                code,
                reason: reason.into(),
                message: "m".into(),
                causes,
                attempts: 1,
            }),
        }
    }

    #[test]
    fn classification() {
        let exists = api(409, "AlreadyExists", vec![]);
        assert!(exists.is_already_exists() && !exists.is_conflict() && !exists.is_retryable());
        let rv_conflict = api(409, "Conflict", vec![]);
        assert!(rv_conflict.is_conflict() && rv_conflict.is_retryable());
        let ssa = api(
            409,
            "Conflict",
            vec![StatusCause {
                reason: "FieldManagerConflict".into(),
                message: "conflict with \"kubectl-edit\" using v1".into(),
                field: ".data.a".into(),
            }],
        );
        assert!(ssa.is_conflict() && !ssa.is_retryable());
        assert_eq!(
            ssa.field_conflicts(),
            vec![FieldConflict {
                field: ".data.a".into(),
                manager: Some("kubectl-edit".into()),
                message: "conflict with \"kubectl-edit\" using v1".into()
            }]
        );
        assert!(api(404, "NotFound", vec![]).is_not_found());
        assert!(api(403, "Forbidden", vec![]).is_forbidden());
        assert!(api(503, "ServiceUnavailable", vec![]).is_retryable());
        assert!(!api(422, "Invalid", vec![]).is_retryable());
    }

    #[test]
    fn message_names_request_and_server_message() {
        let e = api(409, "AlreadyExists", vec![]);
        assert_eq!(
            e.to_string(),
            "apply configmaps ns/cm: the api server answered 409 AlreadyExists: m"
        );
    }

    #[test]
    fn webhook_500_is_not_retried() {
        assert!(is_retryable_status(500, "etcdserver: request timed out"));
        assert!(!is_retryable_status(
            500,
            "Internal error occurred: failed calling webhook \"x\""
        ));
        assert!(!is_retryable_status(501, ""));
    }

    #[test]
    fn status_body_parsing() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"configmaps \"a\" already exists","reason":"AlreadyExists","details":{"name":"a","kind":"configmaps"},"code":409}"#;
        let s = ApiStatus::from_response(http::StatusCode::CONFLICT, body, 2);
        assert_eq!(s.reason, "AlreadyExists");
        assert_eq!(s.message, "configmaps \"a\" already exists");
        assert_eq!(s.attempts, 2);
        let s = ApiStatus::from_response(http::StatusCode::BAD_GATEWAY, b"<html>", 1);
        assert_eq!((s.code, s.reason.as_str()), (502, "BadGateway"));
    }

    #[test]
    fn decode_detail_does_not_quote_content() {
        let e = serde_json::from_str::<u32>("\"s3cr3t\"").unwrap_err();
        let d = decode_detail(&e);
        assert!(!d.contains("s3cr3t"), "{d}");
    }
}
