//! The cluster handle: a kube client plus the run's shared limiter. Every request goes through
//! [`Cluster::execute`], which waits for a slot in the limiter's window, retries 429 (after
//! `Retry-After`) and retryable 5xx / transport failures (exponential backoff with jitter, bounded
//! attempts), and feeds every outcome back into the window.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use kube::client::Body;
use serde_json::Value;

use crate::config::{ClusterConfig, install_crypto_provider};
use crate::error::{
    ApiStatus, KubeError, RequestContext, Result, Verb, credentials_failure, decode_detail,
    is_retryable_status,
};
use crate::limiter::{Limiter, LimiterConfig, LimiterStats, parse_retry_after};
use crate::surface::ApiResourceInfo;

/// A connection to one cluster. Cheap to clone: clones share the HTTP connection pool and the
/// limiter, so several resource types can be listed (or many objects created) concurrently.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    limiter: Limiter,
    /// The kubeconfig's credential plugin, named in [`KubeError::Credentials`].
    credential_plugin: Option<Arc<str>>,
    /// Time allowed for one attempt (request written → whole body read); `None` leaves it to
    /// the client (kube's read timeout).
    request_timeout: Option<Duration>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("limiter", &self.limiter.stats())
            .finish_non_exhaustive()
    }
}

/// How a kubeconfig user gets credentials from a program: its `exec` command, or its auth
/// provider.
fn credential_plugin(user: &kube::config::AuthInfo) -> Option<String> {
    if let Some(exec) = &user.exec {
        return Some(exec.command.clone().unwrap_or_else(|| "exec plugin".to_owned()));
    }
    user.auth_provider
        .as_ref()
        .map(|p| format!("auth-provider {}", p.name))
}

/// One HTTP call, rebuilt for every attempt.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub content_type: Option<&'static str>,
    pub body: Option<Bytes>,
    pub ctx: &'a RequestContext,
    /// Overrides the limiter's attempt bound (discovery of aggregated APIs uses few attempts).
    pub max_attempts: Option<u32>,
}

impl<'a> Call<'a> {
    pub(crate) fn get(path: String, ctx: &'a RequestContext) -> Self {
        Self {
            method: Method::GET,
            path,
            content_type: None,
            body: None,
            ctx,
            max_attempts: None,
        }
    }
}

/// The final HTTP answer to a call (any status), after retries.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub attempts: u32,
}

impl Answer {
    /// Turn a non-2xx answer into [`KubeError::Api`].
    pub(crate) fn error_for_status(self, ctx: &RequestContext) -> Result<Self> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.into_error(ctx))
        }
    }

    /// The answer as [`KubeError::Api`], whatever its status.
    pub(crate) fn into_error(self, ctx: &RequestContext) -> KubeError {
        KubeError::Api {
            ctx: Box::new(ctx.clone()),
            status: Box::new(ApiStatus::from_response(self.status, &self.body, self.attempts)),
        }
    }

    /// Decode a 2xx body.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(self, ctx: &RequestContext) -> Result<T> {
        let ok = self.error_for_status(ctx)?;
        serde_json::from_slice(&ok.body).map_err(|e| KubeError::Decode {
            ctx: Box::new(ctx.clone()),
            detail: decode_detail(&e),
        })
    }
}

impl Cluster {
    /// Connect: resolve the configuration, install the crypto provider if none is, build the
    /// client. No request is sent yet (use [`Cluster::server_version`] to check reachability).
    ///
    /// A kubeconfig user with an `exec` credential plugin runs the plugin here (and again when
    /// its token expires); its failure is [`KubeError::Credentials`], naming the plugin.
    pub async fn connect(config: &ClusterConfig, limiter: LimiterConfig) -> Result<Self> {
        install_crypto_provider();
        let kube_config = config.resolve().await?;
        let plugin = credential_plugin(&kube_config.auth_info);
        let map_err = |e: KubeError| match &e {
            KubeError::Client { source } => match credentials_failure(source) {
                Some(reason) => KubeError::Credentials {
                    plugin: plugin.as_deref().unwrap_or("the kubeconfig user").to_owned(),
                    reason,
                },
                None => e,
            },
            _ => e,
        };
        let (client, request_timeout) = if kube_config.proxy_url.is_some() {
            // Through a proxy: kube's own stack, which knows the proxy protocols.
            let client = kube::Client::try_from(kube_config)
                .map_err(|source| map_err(KubeError::Client { source }))?;
            (client, None)
        } else {
            (
                build_client(&kube_config).map_err(map_err)?,
                config.request_timeout,
            )
        };
        Ok(Self {
            request_timeout,
            credential_plugin: plugin.map(Arc::from),
            ..Self::from_client(client, limiter)
        })
    }

    /// Wrap an existing kube client (e.g. the test bed's) with a fresh limiter.
    pub fn from_client(client: kube::Client, limiter: LimiterConfig) -> Self {
        Self {
            client,
            limiter: Limiter::new(limiter),
            credential_plugin: None,
            request_timeout: None,
        }
    }

    /// The same connection with a different limiter (e.g. a separate window for a probe).
    #[must_use]
    pub fn with_limiter(&self, limiter: Limiter) -> Self {
        Self {
            client: self.client.clone(),
            limiter,
            credential_plugin: self.credential_plugin.clone(),
            request_timeout: self.request_timeout,
        }
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Counters of every request made through this handle and its clones.
    pub fn stats(&self) -> LimiterStats {
        self.limiter.stats()
    }

    /// The kubeconfig context's default namespace (`default` when unset).
    pub fn default_namespace(&self) -> &str {
        self.client.default_namespace()
    }

    /// The underlying kube client (for typed access outside the data path).
    pub fn kube_client(&self) -> &kube::Client {
        &self.client
    }

    /// Send a call through the limiter with retries; returns the final answer of any status.
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Answer> {
        let max_attempts = call
            .max_attempts
            .unwrap_or(self.limiter.config().max_attempts)
            .max(1);
        let max_retry_after = self.limiter.config().max_retry_after;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.limiter.count_retry();
            }
            let request = build_request(&call)?;
            let permit = self.limiter.acquire().await;
            let started = Instant::now();
            let exchange = async {
                let resp = self.client.send(request).await?;
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, max_retry_after));
                let body = resp.into_body().collect_bytes().await?;
                Ok((status, retry_after, body))
            };
            let outcome = match self.request_timeout {
                Some(limit) => tokio::time::timeout(limit, exchange)
                    .await
                    .unwrap_or_else(|_| Err(timed_out(limit))),
                None => exchange.await,
            };
            let last = attempt >= max_attempts;
            match outcome {
                Ok((status, retry_after, body)) if status == StatusCode::TOO_MANY_REQUESTS => {
                    permit.throttled();
                    if last {
                        return Ok(Answer {
                            status,
                            body,
                            attempts: attempt,
                        });
                    }
                    let delay = retry_after.unwrap_or_else(|| self.limiter.backoff(attempt));
                    tracing::debug!(ctx = %call.ctx, attempt, ?delay, "throttled (429); retrying after delay");
                    tokio::time::sleep(delay).await;
                }
                Ok((status, _, body))
                    if status.is_server_error()
                        && is_retryable_status(status.as_u16(), &server_message(&body)) =>
                {
                    permit.failed(true);
                    if last {
                        return Ok(Answer {
                            status,
                            body,
                            attempts: attempt,
                        });
                    }
                    let delay = self.limiter.backoff(attempt);
                    tracing::debug!(ctx = %call.ctx, attempt, status = status.as_u16(), ?delay, "server error; retrying");
                    tokio::time::sleep(delay).await;
                }
                Ok((status, _, body)) => {
                    permit.success(started.elapsed());
                    return Ok(Answer {
                        status,
                        body,
                        attempts: attempt,
                    });
                }
                Err(source) => {
                    // No credentials (an expired exec token whose refresh failed): the request was
                    // never sent, and a retry would run the failing plugin again.
                    if let Some(reason) = credentials_failure(&source) {
                        drop(permit);
                        return Err(KubeError::Credentials {
                            plugin: self
                                .credential_plugin
                                .as_deref()
                                .unwrap_or("the kubeconfig user")
                                .to_owned(),
                            reason,
                        });
                    }
                    permit.failed(false);
                    if last {
                        return Err(KubeError::Transport {
                            ctx: Box::new(call.ctx.clone()),
                            attempts: attempt,
                            source,
                        });
                    }
                    let delay = self.limiter.backoff(attempt);
                    tracing::debug!(ctx = %call.ctx, attempt, ?delay, error = %source, "transport error; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// GET one object; `None` when it does not exist.
    pub async fn get(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>> {
        let ctx = context(Verb::Get, res, namespace).named(name);
        let path = object_path(res, namespace, name, &ctx)?;
        let answer = self.execute(Call::get(path, &ctx)).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        answer.json(&ctx).map(Some)
    }

    /// POST an object; returns what the server stored (or would store, with `dry_run`). A create
    /// that was retried after a transport failure may answer `AlreadyExists` for an object the
    /// earlier attempt created (see `ApiStatus::attempts`).
    pub async fn create(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        obj: &Value,
        dry_run: bool,
    ) -> Result<Value> {
        let mut ctx = context(Verb::Create, res, namespace);
        if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
            ctx = ctx.named(name);
        }
        let body = to_body(obj, &ctx)?;
        self.post(res, namespace, &ctx, body, dry_run, None)
            .await?
            .json(&ctx)
    }

    /// POST an object given as JSON bytes (`name` is its `metadata.name`, for errors and
    /// retries); the server's answer is checked but not decoded — what a bulk restore needs.
    pub async fn create_raw(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        body: Bytes,
        dry_run: bool,
    ) -> Result<()> {
        self.create_raw_as(res, namespace, name, body, dry_run, None)
            .await
    }

    /// [`Cluster::create_raw`] recording `field_manager` as the owner of the fields it sets
    /// (`None`: the server's default, from the user agent).
    pub async fn create_raw_as(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        body: Bytes,
        dry_run: bool,
        field_manager: Option<&str>,
    ) -> Result<()> {
        let ctx = context(Verb::Create, res, namespace).named(name);
        self.post(res, namespace, &ctx, body, dry_run, field_manager)
            .await?
            .error_for_status(&ctx)?;
        Ok(())
    }

    /// The POST of a create: the collection path, `dryRun` when asked, a JSON body.
    async fn post(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        ctx: &RequestContext,
        body: Bytes,
        dry_run: bool,
        field_manager: Option<&str>,
    ) -> Result<Answer> {
        let mut path = collection_path(res, namespace, ctx, true)?;
        let mut q = Query::default();
        if let Some(m) = field_manager {
            q.push("fieldManager", m);
        }
        q.dry_run(dry_run);
        q.append_to(&mut path);
        let call = Call {
            method: Method::POST,
            path,
            content_type: Some("application/json"),
            body: Some(body),
            ctx,
            max_attempts: None,
        };
        self.execute(call).await
    }

    /// PATCH with a JSON merge patch (RFC 7386).
    pub async fn merge_patch(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        dry_run: bool,
    ) -> Result<Value> {
        let ctx = context(Verb::MergePatch, res, namespace).named(name);
        self.patch(
            res,
            namespace,
            name,
            "application/merge-patch+json",
            patch,
            dry_run,
            &ctx,
        )
        .await
    }

    /// PATCH with a JSON patch (RFC 6902); a failed `test` operation answers 422.
    pub async fn json_patch(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        dry_run: bool,
    ) -> Result<Value> {
        let ctx = context(Verb::JsonPatch, res, namespace).named(name);
        self.patch(
            res,
            namespace,
            name,
            "application/json-patch+json",
            patch,
            dry_run,
            &ctx,
        )
        .await
    }

    /// One PATCH of `content_type`; returns what the server stored.
    #[allow(clippy::too_many_arguments)]
    async fn patch(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        content_type: &'static str,
        patch: &Value,
        dry_run: bool,
        ctx: &RequestContext,
    ) -> Result<Value> {
        let mut url = object_path(res, namespace, name, ctx)?;
        let mut q = Query::default();
        q.dry_run(dry_run);
        q.append_to(&mut url);
        let call = Call {
            method: Method::PATCH,
            path: url,
            content_type: Some(content_type),
            body: Some(to_body(patch, ctx)?),
            ctx,
            max_attempts: None,
        };
        self.execute(call).await?.json(ctx)
    }

    /// Server-side apply `obj` (which must carry `apiVersion`, `kind`, `metadata.name`) as
    /// `field_manager`. Without `force`, fields owned by another manager make the server refuse
    /// with 409; the error's [`KubeError::field_conflicts`] lists them.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        obj: &Value,
        field_manager: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<Value> {
        let ctx = context(Verb::Apply, res, namespace).named(name);
        let mut path = object_path(res, namespace, name, &ctx)?;
        let mut q = Query::default();
        q.push("fieldManager", field_manager);
        if force {
            q.push("force", "true");
        }
        q.dry_run(dry_run);
        q.append_to(&mut path);
        let call = Call {
            method: Method::PATCH,
            path,
            // JSON is YAML; the server accepts it under the apply content type.
            content_type: Some("application/apply-patch+yaml"),
            body: Some(to_body(obj, &ctx)?),
            ctx: &ctx,
            max_attempts: None,
        };
        self.execute(call).await?.json(&ctx)
    }

    /// DELETE an object only if its UID is still `uid` (a precondition: the server answers
    /// Conflict when the object was replaced since it was read). Background propagation.
    pub async fn delete_uid(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        uid: Option<&str>,
        dry_run: bool,
    ) -> Result<()> {
        let ctx = context(Verb::Delete, res, namespace).named(name);
        let mut path = object_path(res, namespace, name, &ctx)?;
        let mut q = Query::default();
        q.dry_run(dry_run);
        q.append_to(&mut path);
        let mut options = serde_json::json!({
            "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
        });
        if let Some(uid) = uid {
            options["preconditions"] = serde_json::json!({ "uid": uid });
        }
        let call = Call {
            method: Method::DELETE,
            path,
            content_type: Some("application/json"),
            body: Some(to_body(&options, &ctx)?),
            ctx: &ctx,
            max_attempts: None,
        };
        self.execute(call).await?.error_for_status(&ctx).map(drop)
    }

    /// DELETE one object (background propagation: dependents are garbage-collected later).
    /// A missing object is an error with [`KubeError::is_not_found`].
    pub async fn delete(
        &self,
        res: &ApiResourceInfo,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> Result<()> {
        let ctx = context(Verb::Delete, res, namespace).named(name);
        let mut path = object_path(res, namespace, name, &ctx)?;
        let mut q = Query::default();
        q.push("propagationPolicy", "Background");
        q.dry_run(dry_run);
        q.append_to(&mut path);
        let call = Call {
            method: Method::DELETE,
            path,
            content_type: None,
            body: None,
            ctx: &ctx,
            max_attempts: None,
        };
        self.execute(call).await?.error_for_status(&ctx).map(drop)
    }
}

/// kube's client stack (TLS from the kubeconfig, auth, extra headers, base URI) over a connector
/// with `TCP_NODELAY`, as client-go's: without it the first request on every new connection
/// waits for the delayed ACK of the TLS handshake's last flight (~40 ms on Linux).
fn build_client(config: &kube::Config) -> Result<kube::Client> {
    use kube::client::{ClientBuilder, ConfigExt as _};
    let client_err = |source| KubeError::Client { source };
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let https = config
        .rustls_https_connector_with_connector(http)
        .map_err(client_err)?;
    let pool = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Body>(https);
    let pool = tower::ServiceBuilder::new()
        .map_err(tower::BoxError::from)
        .service(pool);
    let builder = ClientBuilder::new(pool, config.default_namespace.clone())
        .with_layer(&config.extra_headers_layer().map_err(client_err)?);
    let base_uri = config.base_uri_layer();
    Ok(match config.auth_layer().map_err(client_err)? {
        Some(auth) => builder.with_layer(&auth).with_layer(&base_uri).build(),
        None => builder.with_layer(&base_uri).build(),
    })
}

/// The transport error of an attempt that outlived the request timeout.
fn timed_out(limit: Duration) -> kube::Error {
    kube::Error::Service(Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no complete response within {limit:?}"),
    )))
}

fn build_request(call: &Call<'_>) -> Result<http::Request<Body>> {
    let mut b = http::Request::builder()
        .method(call.method.clone())
        .uri(call.path.as_str())
        .header(header::ACCEPT, HeaderValue::from_static("application/json"));
    if let Some(ct) = call.content_type {
        b = b.header(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let body = call.body.clone().map_or_else(Body::empty, Body::from);
    b.body(body).map_err(|e| KubeError::InvalidRequest {
        ctx: Box::new(call.ctx.clone()),
        detail: e.to_string(),
    })
}

/// `Status.message` of an error body, for the retry decision (empty when not a Status).
fn server_message(body: &[u8]) -> String {
    serde_json::from_slice::<crate::error::StatusBody>(body)
        .map(|s| s.message)
        .unwrap_or_default()
}

fn to_body(v: &Value, ctx: &RequestContext) -> Result<Bytes> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| KubeError::InvalidRequest {
            ctx: Box::new(ctx.clone()),
            detail: decode_detail(&e),
        })
}

pub(crate) fn context(verb: Verb, res: &ApiResourceInfo, namespace: Option<&str>) -> RequestContext {
    RequestContext::new(verb, res.group_resource()).in_namespace(if res.namespaced {
        namespace
    } else {
        None
    })
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub(crate) fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// Collection URL. Namespaced resources need a namespace unless `all_namespaces_ok` (LIST);
/// the namespace is ignored for cluster-scoped resources.
pub(crate) fn collection_path(
    res: &ApiResourceInfo,
    namespace: Option<&str>,
    ctx: &RequestContext,
    require_namespace: bool,
) -> Result<String> {
    let mut p = group_version_path(&res.group, &res.version);
    if res.namespaced {
        match namespace.filter(|n| !n.is_empty()) {
            Some(ns) => {
                p.push_str("/namespaces/");
                push_segment(&mut p, ns);
            }
            None if require_namespace => {
                return Err(KubeError::InvalidRequest {
                    ctx: Box::new(ctx.clone()),
                    detail: "a namespaced resource needs a namespace".into(),
                });
            }
            None => {}
        }
    }
    p.push('/');
    push_segment(&mut p, &res.resource);
    Ok(p)
}

pub(crate) fn object_path(
    res: &ApiResourceInfo,
    namespace: Option<&str>,
    name: &str,
    ctx: &RequestContext,
) -> Result<String> {
    if name.is_empty() {
        return Err(KubeError::InvalidRequest {
            ctx: Box::new(ctx.clone()),
            detail: "empty object name".into(),
        });
    }
    let mut p = collection_path(res, namespace, ctx, true)?;
    p.push('/');
    push_segment(&mut p, name);
    Ok(p)
}

/// Percent-encode a path segment (Kubernetes names are DNS-like; `:` and `@` occur in RBAC names
/// and stay as they are).
fn push_segment(out: &mut String, s: &str) {
    encode_into(out, s, |b| b.is_ascii_alphanumeric() || b"-._~:@".contains(&b));
}

fn encode_into(out: &mut String, s: &str, keep: impl Fn(u8) -> bool) {
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// A query string builder with form-style escaping of values.
#[derive(Debug, Default)]
pub(crate) struct Query {
    parts: Vec<String>,
}

impl Query {
    pub(crate) fn push(&mut self, key: &str, value: &str) {
        let mut s = String::with_capacity(key.len() + value.len() + 1);
        s.push_str(key);
        s.push('=');
        encode_into(&mut s, value, |b| {
            b.is_ascii_alphanumeric() || b"-._~".contains(&b)
        });
        self.parts.push(s);
    }

    pub(crate) fn dry_run(&mut self, on: bool) {
        if on {
            self.push("dryRun", "All");
        }
    }

    pub(crate) fn append_to(&self, path: &mut String) {
        if !self.parts.is_empty() {
            path.push('?');
            path.push_str(&self.parts.join("&"));
        }
    }
}

/// Sleep helper shared by the waits and the pager.
pub(crate) async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, version: &str, plural: &str, namespaced: bool) -> ApiResourceInfo {
        ApiResourceInfo {
            group: group.into(),
            version: version.into(),
            resource: plural.into(),
            kind: String::new(),
            singular: String::new(),
            namespaced,
            verbs: vec![],
            short_names: vec![],
            preferred: true,
        }
    }

    #[test]
    fn paths() {
        let cm = res("", "v1", "configmaps", true);
        let ctx = context(Verb::Get, &cm, Some("a"));
        assert_eq!(
            object_path(&cm, Some("a"), "x", &ctx).unwrap(),
            "/api/v1/namespaces/a/configmaps/x"
        );
        assert_eq!(
            collection_path(&cm, None, &ctx, false).unwrap(),
            "/api/v1/configmaps"
        );
        assert!(object_path(&cm, None, "x", &ctx).is_err());
        let cr = res("rbac.authorization.k8s.io", "v1", "clusterroles", false);
        assert_eq!(
            object_path(&cr, Some("ignored"), "system:aggregate-to-admin", &ctx).unwrap(),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-admin"
        );
        assert_eq!(
            object_path(&cr, None, "a b/c", &ctx).unwrap(),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/a%20b%2Fc"
        );
    }

    #[test]
    fn query_escaping() {
        let mut q = Query::default();
        q.push("labelSelector", "app in (a,b),tier!=x");
        q.push("limit", "500");
        q.dry_run(true);
        let mut p = String::from("/api/v1/pods");
        q.append_to(&mut p);
        assert_eq!(
            p,
            "/api/v1/pods?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Dx&limit=500&dryRun=All"
        );
    }

    #[test]
    fn context_drops_namespace_for_cluster_scoped() {
        let ns = res("", "v1", "namespaces", false);
        let ctx = context(Verb::Create, &ns, Some("x")).named("y");
        assert_eq!(ctx.to_string(), "create namespaces y");
    }
}
