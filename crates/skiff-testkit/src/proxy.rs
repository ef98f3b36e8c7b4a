//! A fault-injecting loopback proxy for the apiserver or the S3 server.
//!
//! The proxy serves HTTP/1.1 on `127.0.0.1:<port>` (over TLS in front of a bed, plain for S3)
//! and forwards every request to its upstream (the bed's apiserver over HTTPS, trusting the bed's CA, or the S3 server over HTTP),
//! passing method, path, query, headers (`Authorization` and `Host` included, so S3 signatures
//! stay valid) and bodies through as streams. The real server stays real; only the network in
//! between is disturbed, as configured at run time with [`FaultProxy::set_faults`]:
//!
//! - a fixed latency before each request is forwarded,
//! - every Nth request answered `429 Too Many Requests` with `Retry-After`,
//! - every Nth request answered with a 5xx status,
//! - every Nth request's connection dropped without an answer.
//!
//! In front of a bed the proxy serves TLS with the bed's own serving certificate (its SANs cover
//! `127.0.0.1`), so the proxy's kubeconfig trusts the bed's CA as the bed's does. This is what makes
//! kubectl work through it: client-go only sends a kubeconfig's credentials over TLS, and over
//! plain HTTP every kubectl request reached the apiserver as `system:anonymous` (403, which kubectl
//! reports as "couldn't get current server API group list: unknown"). ALPN offers `http/1.1` only.
//!
//! Injection is counter based (deterministic): the counter counts matching requests since the
//! last `set_faults`. Injected answers look like the upstream's own (a Kubernetes `Status` object
//! or an S3 XML error). [`FaultProxy::stats`] tells what was injected.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::bed::{Error, Result, TestBed, install_crypto_provider, kubeconfig_yaml};

/// Which server sits behind the proxy; decides the shape of injected error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// A Kubernetes apiserver: injected errors are `Status` objects.
    Kubernetes,
    /// An S3 server: injected errors are S3 XML errors.
    S3,
}

/// The server requests are forwarded to.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Base URL, `http://…` or `https://…` (loopback).
    pub url: String,
    /// CA to trust for an `https` upstream.
    pub ca_pem: Option<String>,
    /// Shape of injected errors.
    pub flavor: Flavor,
    /// Serve TLS to clients with this certificate chain and key (PEM); `None` serves plain HTTP.
    pub serve_tls: Option<ServeTls>,
}

/// The certificate (chain) and private key, PEM, a proxy serves TLS with.
#[derive(Debug, Clone)]
pub struct ServeTls {
    /// Certificate chain, leaf first.
    pub cert_pem: String,
    /// Private key of the leaf.
    pub key_pem: String,
}

/// Faults to inject. `Faults::default()` injects nothing. Rates are "every Nth matching request"
/// (0 = never); when several apply to one request, drop wins over 429, 429 over 5xx.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Delay before each matching request is forwarded (or answered by a fault).
    pub latency: Duration,
    /// Answer every Nth matching request with 429.
    pub throttle_every: u64,
    /// `Retry-After` seconds sent with an injected 429.
    pub retry_after_secs: u64,
    /// Answer every Nth matching request with [`Faults::error_status`].
    pub error_every: u64,
    /// Status of injected errors (default 503 when 0).
    pub error_status: u16,
    /// Drop the connection of every Nth matching request without answering.
    pub drop_every: u64,
    /// Only requests whose path starts with this are counted and disturbed (`None`: all).
    pub path_prefix: Option<String>,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a fixed latency per request.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Answers every `n`th request with 429 and `Retry-After: retry_after_secs`.
    #[must_use]
    pub fn throttle_every(mut self, n: u64, retry_after_secs: u64) -> Self {
        self.throttle_every = n;
        self.retry_after_secs = retry_after_secs;
        self
    }

    /// Answers every `n`th request with `status` (a 5xx).
    #[must_use]
    pub fn error_every(mut self, n: u64, status: u16) -> Self {
        self.error_every = n;
        self.error_status = status;
        self
    }

    /// Drops the connection of every `n`th request.
    #[must_use]
    pub fn drop_every(mut self, n: u64) -> Self {
        self.drop_every = n;
        self
    }

    /// Restricts the faults to requests whose path starts with `prefix`.
    #[must_use]
    pub fn only_paths(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
}

/// What the proxy has done since it started (or since [`FaultProxy::reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests received.
    pub requests: u64,
    /// Requests delayed by the configured latency.
    pub delayed: u64,
    /// Requests answered with an injected 429.
    pub throttled: u64,
    /// Requests answered with an injected 5xx.
    pub errors: u64,
    /// Connections dropped.
    pub dropped: u64,
    /// Requests forwarded to the upstream.
    pub forwarded: u64,
    /// Forwarded requests the upstream failed to answer (answered 502 by the proxy).
    pub upstream_failures: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    delayed: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    forwarded: AtomicU64,
    upstream_failures: AtomicU64,
}

struct State {
    upstream: Uri,
    flavor: Flavor,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Incoming>,
    faults: Mutex<(Faults, u64)>,
    counters: Counters,
}

enum Decision {
    Forward,
    Throttle(u64),
    Error(u16),
    Drop,
}

/// The injected-drop "error" that makes hyper close the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// A running fault proxy; stops when dropped. See the module docs.
pub struct FaultProxy {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.state.upstream)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// A proxy in front of a bed's apiserver.
    pub async fn for_bed(bed: &TestBed) -> Result<Self> {
        let read = |name: &str| {
            let path = bed.dir().join(name);
            std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })
        };
        Self::start(Upstream {
            url: bed.server_url().to_owned(),
            ca_pem: Some(bed.ca_pem().to_owned()),
            flavor: Flavor::Kubernetes,
            serve_tls: Some(ServeTls {
                cert_pem: read("server.crt")?,
                key_pem: read("server.key")?,
            }),
        })
        .await
    }

    /// A proxy in front of a plain-HTTP S3 endpoint (e.g. `http://127.0.0.1:9000`).
    pub async fn for_s3(endpoint: &str) -> Result<Self> {
        Self::start(Upstream {
            url: endpoint.to_owned(),
            ca_pem: None,
            flavor: Flavor::S3,
            serve_tls: None,
        })
        .await
    }

    /// Starts a proxy on a free loopback port.
    pub async fn start(upstream: Upstream) -> Result<Self> {
        install_crypto_provider();
        let uri: Uri = upstream.url.parse().map_err(|_| Error::BadUrl {
            url: upstream.url.clone(),
        })?;
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = &upstream.ca_pem {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
                roots.add(cert).map_err(Error::Tls)?;
            }
        }
        let tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(Error::Tls)?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| Error::Net {
                what: "bind the fault proxy",
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Net {
            what: "read the fault proxy's address",
            source,
        })?;
        let acceptor = match &upstream.serve_tls {
            Some(t) => Some(tls_acceptor(t)?),
            None => None,
        };
        let tls = acceptor.is_some();
        let state = Arc::new(State {
            upstream: uri,
            flavor: upstream.flavor,
            client,
            faults: Mutex::new((Faults::none(), 0)),
            counters: Counters::default(),
        });
        let task = tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&state)));
        tracing::debug!(%addr, upstream = %upstream.url, tls, "fault proxy listening");
        Ok(Self {
            addr,
            tls,
            state,
            task,
        })
    }

    /// `https://127.0.0.1:<port>` (TLS, in front of a bed) or `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The loopback address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the faults and restarts the request counter they are applied by.
    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.lock().expect("faults lock") = (faults, 0);
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> FaultStats {
        let c = &self.state.counters;
        FaultStats {
            requests: c.requests.load(Ordering::Relaxed),
            delayed: c.delayed.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            forwarded: c.forwarded.load(Ordering::Relaxed),
            upstream_failures: c.upstream_failures.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the statistics.
    pub fn reset_stats(&self) {
        let c = &self.state.counters;
        for counter in [
            &c.requests,
            &c.delayed,
            &c.throttled,
            &c.errors,
            &c.dropped,
            &c.forwarded,
            &c.upstream_failures,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// A kubeconfig (YAML, contexts `admin` and `user`) reaching `bed` through this proxy.
    pub fn kubeconfig_yaml(&self, bed: &TestBed) -> String {
        kubeconfig_yaml(&self.url(), bed.ca_pem(), bed.admin_token(), bed.user_token())
    }

    /// Writes [`FaultProxy::kubeconfig_yaml`] to `path` (mode 0600).
    pub fn write_kubeconfig(&self, bed: &TestBed, path: &Path) -> Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        file.write_all(self.kubeconfig_yaml(bed).as_bytes())
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })
    }

    /// An admin kube client whose requests go through this proxy to `bed`. kube's built-in retry
    /// of 429/503/504 is OFF, so callers see every injected fault.
    pub async fn client(&self, bed: &TestBed) -> Result<kube::Client> {
        self.client_with_retry(bed, false).await
    }

    /// Like [`FaultProxy::client`], choosing whether kube's built-in retry is on.
    pub async fn client_with_retry(&self, bed: &TestBed, retry: bool) -> Result<kube::Client> {
        let yaml = self.kubeconfig_yaml(bed);
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).map_err(|e| Error::Kubeconfig {
            path: "<fault proxy>".into(),
            source: Box::new(e),
        })?;
        crate::bed::client_from(kubeconfig, None, Path::new("<fault proxy>"), retry).await
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.task.abort();
    }
}

fn tls_acceptor(t: &ServeTls) -> Result<tokio_rustls::TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(t.cert_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Tls(rustls::Error::General(format!("proxy certificate: {e}"))))?;
    let key = PrivateKeyDer::from_pem_slice(t.key_pem.as_bytes())
        .map_err(|e| Error::Tls(rustls::Error::General(format!("proxy key: {e}"))))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(Error::Tls)?;
    // HTTP/1.1 only: the proxy's server side speaks nothing else.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn serve<S>(stream: S, state: Arc<State>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { handle(state, req).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn accept_loop(listener: TcpListener, acceptor: Option<tokio_rustls::TlsAcceptor>, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    match acceptor {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => serve(tls, state).await,
                            Err(error) => tracing::debug!(%error, "fault proxy: TLS handshake failed"),
                        },
                        None => serve(stream, state).await,
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn decide(state: &State, path: &str) -> (Duration, Decision) {
    let mut guard = state.faults.lock().expect("faults lock");
    let (faults, counter) = &mut *guard;
    if faults
        .path_prefix
        .as_deref()
        .is_some_and(|p| !path.starts_with(p))
    {
        return (Duration::ZERO, Decision::Forward);
    }
    *counter += 1;
    let n = *counter;
    let hits = |every: u64| every != 0 && n % every == 0;
    let decision = if hits(faults.drop_every) {
        Decision::Drop
    } else if hits(faults.throttle_every) {
        Decision::Throttle(faults.retry_after_secs)
    } else if hits(faults.error_every) {
        Decision::Error(if faults.error_status == 0 {
            503
        } else {
            faults.error_status
        })
    } else {
        Decision::Forward
    };
    (faults.latency, decision)
}

async fn handle(state: Arc<State>, mut req: Request<Incoming>) -> Result<Response<ProxyBody>, Dropped> {
    let c = &state.counters;
    c.requests.fetch_add(1, Ordering::Relaxed);
    let (latency, decision) = decide(&state, req.uri().path());
    if !latency.is_zero() {
        c.delayed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(latency).await;
    }
    match decision {
        Decision::Drop => {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Dropped);
        }
        Decision::Throttle(secs) => {
            c.throttled.fetch_add(1, Ordering::Relaxed);
            let mut resp = injected(state.flavor, 429);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return Ok(resp);
        }
        Decision::Error(status) => {
            c.errors.fetch_add(1, Ordering::Relaxed);
            return Ok(injected(state.flavor, status));
        }
        Decision::Forward => {}
    }

    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    let mut parts = state.upstream.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    let Ok(uri) = Uri::from_parts(parts) else {
        return Ok(injected(state.flavor, 400));
    };
    *req.uri_mut() = uri;
    for hop in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ] {
        req.headers_mut().remove(hop);
    }
    c.forwarded.fetch_add(1, Ordering::Relaxed);
    match state.client.request(req).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            for hop in [
                "connection",
                "keep-alive",
                "proxy-connection",
                "te",
                "trailer",
                "upgrade",
            ] {
                parts.headers.remove(hop);
            }
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Err(error) => {
            c.upstream_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%error, "fault proxy: upstream request failed");
            Ok(injected(state.flavor, 502))
        }
    }
}

fn injected(flavor: Flavor, status: u16) -> Response<ProxyBody> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (content_type, body) = match flavor {
        Flavor::Kubernetes => {
            let reason = match status {
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                400 => "BadRequest",
                _ => "InternalError",
            };
            let body = serde_json::json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": format!("injected by the skiff fault proxy ({status})"),
                "reason": reason,
                "code": status,
            });
            ("application/json", body.to_string())
        }
        Flavor::S3 => {
            let s3_code = match status {
                429 | 503 => "SlowDown",
                400 => "BadRequest",
                _ => "InternalError",
            };
            (
                "application/xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{s3_code}</Code>\
                     <Message>injected by the skiff fault proxy ({status})</Message></Error>"
                ),
            )
        }
    };
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
