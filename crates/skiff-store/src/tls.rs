//! The HTTP client under aws-sdk-s3: rustls with the ring provider only (one crypto provider in
//! the binary, shared with kube).
//!
//! The normal path is `aws-smithy-http-client`'s rustls client with system roots plus an optional
//! PEM CA bundle. That client cannot disable certificate verification, so for
//! `insecureSkipTLSVerify` this module builds its own connector: hyper-util's client over
//! hyper-rustls with a verifier that accepts any certificate but still checks handshake
//! signatures (so the connection is encrypted, just not authenticated). It does not honour the
//! SDK's per-request connect/read timeout settings (the SDK's operation timeouts still apply).

use std::sync::Arc;

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Whether the system CA store holds any certificate (`SSL_CERT_FILE`, `SSL_CERT_DIR`, the usual
/// `/etc/ssl` paths), loaded once. A static binary in an empty root or a `scratch` image has none.
fn system_roots_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| !rustls_native_certs::load_native_certs().certs.is_empty())
}

/// What to say when an https endpoint cannot be verified for want of CA certificates.
const NO_CA_STORE: &str = "no CA certificates to verify the endpoint's TLS certificate: this system has no CA store (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl/certs, …); install CA certificates, set SSL_CERT_FILE, or pass the endpoint's CA with --cacert (BSL caCert)";

/// Builds the HTTP client for the S3 SDK. `tls` says whether the endpoint is `https` (or AWS
/// itself): then, without a CA bundle, the system CA store must hold certificates.
pub(crate) fn http_client(
    ca_bundle: Option<&[u8]>,
    insecure: bool,
    tls: bool,
) -> Result<SharedHttpClient, String> {
    if insecure {
        tracing::warn!(
            "TLS certificate verification is disabled for the object store (insecureSkipTLSVerify)"
        );
        return insecure_client();
    }
    let system = system_roots_available();
    if tls && !system && ca_bundle.is_none() {
        return Err(NO_CA_STORE.into());
    }
    // Native roots only where there are some (the SDK asserts on an empty store in debug builds).
    let mut trust = TrustStore::default().with_native_roots(system);
    if let Some(pem) = ca_bundle {
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err("CA bundle contains no PEM certificate".into());
        }
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let ctx = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| format!("invalid TLS settings: {e}"))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::rustls(CryptoMode::Ring))
        .tls_context(ctx)
        .build_https())
}

fn insecure_client() -> Result<SharedHttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, SdkBody>(https);
    Ok(SharedHttpClient::new(InsecureClient(SharedHttpConnector::new(
        InsecureConnector { client },
    ))))
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    SdkBody,
>;

#[derive(Clone)]
struct InsecureConnector {
    client: HyperClient,
}

impl std::fmt::Debug for InsecureConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InsecureConnector")
    }
}

impl HttpConnector for InsecureConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(Box::new(e)))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| ConnectorError::io(Box::new(e)))?;
            let response = response.map(SdkBody::from_body_1_x);
            Response::try_from(response).map_err(|e| ConnectorError::other(Box::new(e), None))
        })
    }
}

#[derive(Debug)]
struct InsecureClient(SharedHttpConnector);

impl HttpClient for InsecureClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.clone()
    }
}
