//! [`S3Store`]: a location in an S3 (or S3-compatible) bucket, on aws-sdk-s3.
//!
//! Uploads stream: objects smaller than one part go up with a single `PutObject`, larger ones as
//! a multipart upload with a bounded number of parts in flight (memory ≈ part size × (parts in
//! flight + 1)); no temp file. A failed, aborted or dropped upload aborts the multipart upload so
//! no object and no dangling upload remains.

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use crate::credentials::Credentials;
use crate::error::{Error, Op, Result};
use crate::store::{BackupStore, ObjectMeta, ObjectReader, ObjectSink, validate_key, validate_prefix};

/// Smallest part size S3 accepts (for every part but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Default multipart part size.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Default number of parts uploaded concurrently per streaming upload.
pub const DEFAULT_PARTS_IN_FLIGHT: usize = 4;
/// S3's limit on the number of parts of one upload.
const MAX_PARTS: i32 = 10_000;
/// Keys per `DeleteObjects` request (S3's maximum).
const DELETE_BATCH: usize = 1000;

/// Upload checksum, following the AWS plugin's `checksumAlgorithm` BSL config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Checksum {
    /// Key absent: on AWS the SDK's default (CRC32 where supported), like the AWS plugin; on a
    /// custom endpoint (S3-compatible stores: older `MinIO`, Ceph RGW, providers' object storage
    /// reject the newer default checksums) only when the operation requires one.
    #[default]
    Default,
    /// `""`: send no flexible checksum unless the operation requires one (Ceph RGW, B2, …).
    None,
    /// `CRC32`.
    Crc32,
    /// `CRC32C`.
    Crc32c,
    /// `SHA1`.
    Sha1,
    /// `SHA256`.
    Sha256,
}

impl Checksum {
    /// Parses the BSL `checksumAlgorithm` value (case-insensitive; `""` means none).
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value.to_ascii_uppercase().as_str() {
            "" => Checksum::None,
            "CRC32" => Checksum::Crc32,
            "CRC32C" => Checksum::Crc32c,
            "SHA1" => Checksum::Sha1,
            "SHA256" => Checksum::Sha256,
            _ => return None,
        })
    }

    fn algorithm(self) -> Option<ChecksumAlgorithm> {
        match self {
            Checksum::Default | Checksum::None => None,
            Checksum::Crc32 => Some(ChecksumAlgorithm::Crc32),
            Checksum::Crc32c => Some(ChecksumAlgorithm::Crc32C),
            Checksum::Sha1 => Some(ChecksumAlgorithm::Sha1),
            Checksum::Sha256 => Some(ChecksumAlgorithm::Sha256),
        }
    }
}

/// When the SDK computes request checksums and validates response checksums (the AWS SDKs'
/// `request_checksum_calculation` / `response_checksum_validation`, one setting for both).
///
/// S3-compatible stores (older `MinIO`, Ceph RGW, providers' object storage) reject the newer
/// default checksums (`x-amz-checksum-*` trailers on every upload, `aws-chunked` encoding), so
/// a custom endpoint defaults to [`ChecksumMode::WhenRequired`]; AWS itself to
/// [`ChecksumMode::WhenSupported`], the SDK's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChecksumMode {
    /// Only for operations that require a checksum (e.g. `DeleteObjects`), or where an upload
    /// checksum algorithm ([`Checksum`]) is set explicitly.
    WhenRequired,
    /// On every operation that supports one (the SDK's default; CRC32 on uploads).
    WhenSupported,
}

impl ChecksumMode {
    /// Parses `when-required` / `when-supported` (also the AWS config spelling
    /// `when_required` / `when_supported`; case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().replace('_', "-").as_str() {
            "when-required" => Some(ChecksumMode::WhenRequired),
            "when-supported" => Some(ChecksumMode::WhenSupported),
            _ => None,
        }
    }

    /// The setting's name on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumMode::WhenRequired => "when-required",
            ChecksumMode::WhenSupported => "when-supported",
        }
    }
}

impl fmt::Display for ChecksumMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything needed to open an [`S3Store`]. `Debug` never shows secrets.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket, without leading/trailing `/` (may be empty).
    pub prefix: String,
    /// Region; `us-east-1` when `None`.
    pub region: Option<String>,
    /// Custom endpoint URL (S3-compatible stores), e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores.
    pub force_path_style: bool,
    /// Static credentials (required).
    pub credentials: Option<Credentials>,
    /// Extra trusted CA certificates (PEM), added to the system roots.
    pub ca_bundle: Option<Vec<u8>>,
    /// Skip TLS certificate verification (BSL `insecureSkipTLSVerify`).
    pub insecure_skip_tls_verify: bool,
    /// Upload checksum.
    pub checksum: Checksum,
    /// Request/response checksum mode; `None` picks one from the endpoint and the upload
    /// checksum (see [`S3Config::checksum_mode`]).
    pub checksum_mode: Option<ChecksumMode>,
    /// Multipart part size in bytes (≥ [`MIN_PART_SIZE`]).
    pub part_size: usize,
    /// Parts uploaded concurrently per streaming upload (≥ 1).
    pub max_parts_in_flight: usize,
    /// `max-keys` per listing page (1–1000).
    pub list_page_size: i32,
}

impl S3Config {
    /// A configuration for `bucket`/`prefix` with defaults everywhere else.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_owned(),
            region: None,
            endpoint: None,
            force_path_style: false,
            credentials: None,
            ca_bundle: None,
            insecure_skip_tls_verify: false,
            checksum: Checksum::Default,
            checksum_mode: None,
            part_size: DEFAULT_PART_SIZE,
            max_parts_in_flight: DEFAULT_PARTS_IN_FLIGHT,
            list_page_size: 1000,
        }
    }

    /// The checksum mode the client uses: the explicit setting if any; otherwise
    /// [`ChecksumMode::WhenRequired`] for a custom endpoint (S3-compatible stores) or when the
    /// BSL's `checksumAlgorithm` is `""`, and [`ChecksumMode::WhenSupported`] on AWS. An
    /// explicit upload algorithm is sent either way (it is named on each upload request).
    pub fn checksum_mode(&self) -> ChecksumMode {
        match self.checksum_mode {
            Some(m) => m,
            None if self.checksum == Checksum::None || self.endpoint.is_some() => ChecksumMode::WhenRequired,
            None => ChecksumMode::WhenSupported,
        }
    }

    fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A backup location in an S3 bucket (optionally under a prefix).
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    region: String,
    checksum: Checksum,
    part_size: usize,
    max_parts_in_flight: usize,
    list_page_size: i32,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("part_size", &self.part_size)
            .field("max_parts_in_flight", &self.max_parts_in_flight)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Builds the client. No request is sent.
    pub fn new(cfg: S3Config) -> Result<Self> {
        let location = cfg.url();
        let config_err = |reason: String| Error::Config {
            location: location.clone(),
            reason,
        };
        if cfg.bucket.is_empty() || cfg.bucket.contains('/') {
            return Err(config_err("bucket name is empty or contains '/'".into()));
        }
        if cfg.part_size < MIN_PART_SIZE {
            return Err(config_err(format!(
                "part size {} is below S3's minimum of {MIN_PART_SIZE} bytes",
                cfg.part_size
            )));
        }
        if cfg.max_parts_in_flight == 0 {
            return Err(config_err("parts in flight must be at least 1".into()));
        }
        if let Some(ep) = &cfg.endpoint {
            check_endpoint(ep).map_err(|r| config_err(r.into()))?;
        }
        let creds = cfg.credentials.as_ref().ok_or_else(|| {
            config_err(
                "no credentials: pass a credentials file (Velero `cloud` format) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                    .into(),
            )
        })?;
        let tls = cfg.endpoint.as_deref().is_none_or(|e| e.starts_with("https://"));
        let http = crate::tls::http_client(cfg.ca_bundle.as_deref(), cfg.insecure_skip_tls_verify, tls)
            .map_err(config_err)?;
        let region = cfg.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .credentials_provider(aws_credential_types::Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.expose().to_owned(),
                creds.session_token.as_ref().map(|t| t.expose().to_owned()),
                None,
                "skiff",
            ))
            .http_client(http)
            // 5xx/SlowDown bursts (shared S3 servers, proxies): the SDK default of 3 attempts
            // fails whole backups; retry longer with the standard backoff.
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(8))
            .force_path_style(cfg.force_path_style);
        if let Some(ep) = &cfg.endpoint {
            b = b.endpoint_url(ep.trim_end_matches('/'));
        }
        b = match cfg.checksum_mode() {
            ChecksumMode::WhenRequired => b
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired),
            ChecksumMode::WhenSupported => b
                .request_checksum_calculation(RequestChecksumCalculation::WhenSupported)
                .response_checksum_validation(ResponseChecksumValidation::WhenSupported),
        };
        Ok(Self {
            client: Client::from_conf(b.build()),
            bucket: cfg.bucket,
            prefix: cfg.prefix,
            endpoint: cfg.endpoint,
            region,
            checksum: cfg.checksum,
            part_size: cfg.part_size,
            max_parts_in_flight: cfg.max_parts_in_flight,
            list_page_size: cfg.list_page_size.clamp(1, 1000),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn relative<'a>(&self, full: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(full)
        } else {
            full.strip_prefix(&self.prefix)?.strip_prefix('/')
        }
    }

    async fn list_pages(
        &self,
        op: Op,
        prefix: &str,
        delimiter: bool,
    ) -> Result<(Vec<ObjectMeta>, Vec<String>)> {
        validate_prefix(prefix)?;
        let full_prefix = self.full_key(prefix);
        let full_prefix = if prefix.is_empty() && !self.prefix.is_empty() {
            format!("{}/", self.prefix)
        } else {
            full_prefix
        };
        let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                .max_keys(self.list_page_size)
                .set_continuation_token(token.take());
            if delimiter {
                req = req.delimiter("/");
            }
            let out = req.send().await.map_err(|e| classify(op, prefix, e))?;
            for o in out.contents() {
                let (Some(k), Some(rel)) = (o.key(), o.key().and_then(|k| self.relative(k))) else {
                    continue;
                };
                let _ = k;
                objects.push(ObjectMeta {
                    key: rel.to_owned(),
                    size: o.size().unwrap_or_default().max(0) as u64,
                    last_modified: o
                        .last_modified()
                        .and_then(|t| std::time::SystemTime::try_from(*t).ok()),
                });
            }
            for p in out.common_prefixes() {
                if let Some(rel) = p.prefix().and_then(|p| self.relative(p)) {
                    prefixes.push(rel.to_owned());
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects.dedup_by(|a, b| a.key == b.key);
        prefixes.sort();
        prefixes.dedup();
        Ok((objects, prefixes))
    }

    async fn delete_batch(&self, prefix: &str, keys: &[String]) -> Result<()> {
        let ids = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(self.full_key(k)).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| remote(Op::DeletePrefix, prefix, Box::new(e)))?;
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| remote(Op::DeletePrefix, prefix, Box::new(e)))?;
        let res = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await;
        match res {
            Ok(out) => {
                if let Some(err) = out.errors().first() {
                    let key = err.key().and_then(|k| self.relative(k)).unwrap_or(prefix);
                    return Err(Error::Remote {
                        op: Op::Delete,
                        key: key.to_owned(),
                        code: err.code().map(ToOwned::to_owned),
                        status: None,
                        retryable: matches!(err.code(), Some("InternalError" | "SlowDown")),
                        source: err
                            .message()
                            .unwrap_or("DeleteObjects reported an error")
                            .to_owned()
                            .into(),
                    });
                }
                Ok(())
            }
            Err(e) => {
                let e = classify(Op::DeletePrefix, prefix, e);
                if matches!(e, Error::AccessDenied { .. }) {
                    return Err(e);
                }
                tracing::warn!(error = %e, "DeleteObjects failed; falling back to single deletes");
                for k in keys {
                    self.delete(k).await?;
                }
                Ok(())
            }
        }
    }
}

/// Rejects endpoint URLs that carry credentials or a path (Velero's `s3Url` must not either).
fn check_endpoint(ep: &str) -> Result<(), &'static str> {
    let rest = ep
        .strip_prefix("http://")
        .or_else(|| ep.strip_prefix("https://"))
        .ok_or("endpoint must start with http:// or https://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("endpoint must not contain user info");
    }
    if authority.is_empty() {
        return Err("endpoint has no host");
    }
    if rest.trim_end_matches('/').contains('/') {
        return Err("endpoint must not contain a path");
    }
    Ok(())
}

fn remote(op: Op, key: &str, source: crate::error::BoxError) -> Error {
    Error::Remote {
        op,
        key: key.to_owned(),
        code: None,
        status: None,
        retryable: false,
        source,
    }
}

/// Maps an SDK error onto the store's error, keeping the SDK error as source.
fn classify<E>(op: Op, key: &str, err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(ToOwned::to_owned);
    let key = key.to_owned();
    match (code.as_deref(), status) {
        (Some("NoSuchBucket"), _) => {}
        (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) => {
            return Error::NotFound { op, key };
        }
        (Some("InvalidRange"), _) | (_, Some(416)) => {
            return Error::InvalidRange { op, key, range: 0..0 };
        }
        (
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "AccessDenied"
                | "InvalidToken"
                | "ExpiredToken",
            ),
            _,
        )
        | (_, Some(403)) => {
            return Error::AccessDenied {
                op,
                key,
                code: code.unwrap_or_else(|| "403 Forbidden".to_owned()),
                source: Box::new(err),
            };
        }
        _ => {}
    }
    let retryable = matches!(status, Some(429 | 500..=599))
        || matches!(
            code.as_deref(),
            Some("SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "Throttling")
        )
        || matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
        );
    Error::Remote {
        op,
        key,
        code,
        status,
        retryable,
        source: Box::new(err),
    }
}

#[async_trait]
impl BackupStore for S3Store {
    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        validate_key(key)?;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .body(ByteStream::from(data));
        if let Some(a) = self.checksum.algorithm() {
            req = req.checksum_algorithm(a);
        }
        req.send().await.map_err(|e| classify(Op::Put, key, e))?;
        Ok(())
    }

    async fn put_writer(&self, key: &str) -> Result<Box<dyn ObjectSink>> {
        validate_key(key)?;
        Ok(Box::new(S3Sink {
            store: self.clone(),
            key: key.to_owned(),
            full_key: self.full_key(key),
            buf: BytesMut::new(),
            upload_id: None,
            next_part: 1,
            in_flight: JoinSet::new(),
            parts: Vec::new(),
            size: 0,
            closed: false,
        }))
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        validate_key(key)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| classify(Op::Get, key, e))?;
        let data = out.body.collect().await.map_err(|e| Error::Remote {
            op: Op::Get,
            key: key.to_owned(),
            code: None,
            status: None,
            retryable: true,
            source: Box::new(e),
        })?;
        Ok(data.into_bytes())
    }

    async fn get_reader(&self, key: &str) -> Result<ObjectReader> {
        validate_key(key)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| classify(Op::Get, key, e))?;
        let key = key.to_owned();
        let stream = futures::stream::try_unfold(out.body, |mut body| async move {
            Ok(body.try_next().await?.map(|chunk| (chunk, body)))
        });
        let stream =
            futures::TryStreamExt::map_err(stream, move |e: aws_smithy_types::byte_stream::error::Error| {
                Error::Remote {
                    op: Op::Get,
                    key: key.clone(),
                    code: None,
                    status: None,
                    retryable: true,
                    source: Box::new(e),
                }
                .into_io()
            });
        Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(stream))))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        validate_key(key)?;
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| match classify(Op::GetRange, key, e) {
                Error::InvalidRange { op, key, .. } => Error::InvalidRange {
                    op,
                    key,
                    range: range.clone(),
                },
                other => other,
            })?;
        let data = out.body.collect().await.map_err(|e| Error::Remote {
            op: Op::GetRange,
            key: key.to_owned(),
            code: None,
            status: None,
            retryable: true,
            source: Box::new(e),
        })?;
        Ok(data.into_bytes())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: out.content_length().unwrap_or_default().max(0) as u64,
                last_modified: out
                    .last_modified()
                    .and_then(|t| std::time::SystemTime::try_from(*t).ok()),
            })),
            Err(e) => match classify(Op::Head, key, e) {
                Error::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        Ok(self.list_pages(Op::List, prefix, false).await?.0)
    }

    async fn list_prefixes(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.list_pages(Op::ListPrefixes, prefix, true).await?.1)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match classify(Op::Delete, key, e) {
                Error::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        if prefix.is_empty() {
            return Err(Error::InvalidKey {
                key: String::new(),
                reason: "refusing to delete every object of the location (empty prefix)",
            });
        }
        let keys: Vec<String> = self.list(prefix).await?.into_iter().map(|o| o.key).collect();
        for batch in keys.chunks(DELETE_BATCH) {
            self.delete_batch(prefix, batch).await?;
        }
        Ok(keys.len())
    }

    fn describe(&self) -> String {
        let url = if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        };
        match &self.endpoint {
            Some(ep) => format!("{url} (endpoint {ep}, region {})", self.region),
            None => format!("{url} (region {})", self.region),
        }
    }
}

/// Streaming upload: single `PutObject` below one part, multipart above.
struct S3Sink {
    store: S3Store,
    key: String,
    full_key: String,
    buf: BytesMut,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<CompletedPart>>,
    parts: Vec<CompletedPart>,
    size: u64,
    /// Finished or aborted; no further writes.
    closed: bool,
}

impl S3Sink {
    async fn ensure_upload(&mut self) -> Result<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let s = &self.store;
        let mut req = s
            .client
            .create_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.full_key);
        if let Some(a) = s.checksum.algorithm() {
            req = req.checksum_algorithm(a);
        }
        let out = req
            .send()
            .await
            .map_err(|e| classify(Op::PutStream, &self.key, e))?;
        let id = out
            .upload_id()
            .ok_or_else(|| {
                remote(
                    Op::PutStream,
                    &self.key,
                    "CreateMultipartUpload returned no upload id".into(),
                )
            })?
            .to_owned();
        tracing::debug!(key = %self.key, "started multipart upload");
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn collect_one(&mut self) -> Result<()> {
        if let Some(joined) = self.in_flight.join_next().await {
            let part = joined.map_err(|e| remote(Op::PutStream, &self.key, Box::new(e)))??;
            self.parts.push(part);
        }
        Ok(())
    }

    async fn send_part(&mut self, data: Bytes) -> Result<()> {
        let upload_id = self.ensure_upload().await?;
        if self.next_part > MAX_PARTS {
            return Err(remote(
                Op::PutStream,
                &self.key,
                format!("object needs more than {MAX_PARTS} parts; raise the part size").into(),
            ));
        }
        while self.in_flight.len() >= self.store.max_parts_in_flight {
            self.collect_one().await?;
        }
        let number = self.next_part;
        self.next_part += 1;
        let (client, bucket, full_key, key, checksum) = (
            self.store.client.clone(),
            self.store.bucket.clone(),
            self.full_key.clone(),
            self.key.clone(),
            self.store.checksum,
        );
        self.in_flight.spawn(async move {
            let mut req = client
                .upload_part()
                .bucket(bucket)
                .key(full_key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(data));
            if let Some(a) = checksum.algorithm() {
                req = req.checksum_algorithm(a);
            }
            let out = req.send().await.map_err(|e| classify(Op::PutStream, &key, e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(ToOwned::to_owned))
                .set_checksum_crc32(out.checksum_crc32().map(ToOwned::to_owned))
                .set_checksum_crc32_c(out.checksum_crc32_c().map(ToOwned::to_owned))
                .set_checksum_sha1(out.checksum_sha1().map(ToOwned::to_owned))
                .set_checksum_sha256(out.checksum_sha256().map(ToOwned::to_owned))
                .build())
        });
        Ok(())
    }

    async fn write_inner(&mut self, chunk: Bytes) -> Result<()> {
        self.size += chunk.len() as u64;
        self.buf.extend_from_slice(&chunk);
        while self.buf.len() >= self.store.part_size {
            let part = self.buf.split_to(self.store.part_size).freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn finish_inner(&mut self) -> Result<u64> {
        if self.upload_id.is_none() {
            let data = std::mem::take(&mut self.buf).freeze();
            let mut req = self
                .store
                .client
                .put_object()
                .bucket(&self.store.bucket)
                .key(&self.full_key)
                .body(ByteStream::from(data));
            if let Some(a) = self.store.checksum.algorithm() {
                req = req.checksum_algorithm(a);
            }
            req.send()
                .await
                .map_err(|e| classify(Op::PutStream, &self.key, e))?;
            return Ok(self.size);
        }
        if !self.buf.is_empty() {
            let last = std::mem::take(&mut self.buf).freeze();
            self.send_part(last).await?;
        }
        while !self.in_flight.is_empty() {
            self.collect_one().await?;
        }
        let mut parts = std::mem::take(&mut self.parts);
        parts.sort_by_key(CompletedPart::part_number);
        let upload_id = self.upload_id.clone().unwrap_or_default();
        self.store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.full_key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| classify(Op::PutStream, &self.key, e))?;
        self.upload_id = None;
        Ok(self.size)
    }

    async fn abort_inner(&mut self) -> Result<()> {
        self.closed = true;
        self.in_flight.shutdown().await;
        self.buf = BytesMut::new();
        let Some(upload_id) = self.upload_id.take() else {
            return Ok(());
        };
        self.store
            .client
            .abort_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.full_key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| classify(Op::PutStream, &self.key, e))?;
        tracing::debug!(key = %self.key, "aborted multipart upload");
        Ok(())
    }
}

#[async_trait]
impl ObjectSink for S3Sink {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if self.closed {
            return Err(Error::Aborted {
                key: self.key.clone(),
            });
        }
        match self.write_inner(chunk).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(abort_err) = self.abort_inner().await {
                    tracing::warn!(key = %self.key, error = %abort_err, "could not abort multipart upload");
                }
                Err(e)
            }
        }
    }

    async fn finish(mut self: Box<Self>) -> Result<u64> {
        if self.closed {
            return Err(Error::Aborted {
                key: self.key.clone(),
            });
        }
        match self.finish_inner().await {
            Ok(n) => {
                self.closed = true;
                tracing::debug!(key = %self.key, size = n, "stored object");
                Ok(n)
            }
            Err(e) => {
                if let Err(abort_err) = self.abort_inner().await {
                    tracing::warn!(key = %self.key, error = %abort_err, "could not abort multipart upload");
                }
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.abort_inner().await
    }
}

impl Drop for S3Sink {
    fn drop(&mut self) {
        // In-flight part uploads are cancelled by dropping the JoinSet; the multipart upload
        // itself is aborted in the background.
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let (client, bucket, full_key, key) = (
            self.store.client.clone(),
            self.store.bucket.clone(),
            self.full_key.clone(),
            self.key.clone(),
        );
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let r = client
                        .abort_multipart_upload()
                        .bucket(bucket)
                        .key(full_key)
                        .upload_id(upload_id)
                        .send()
                        .await;
                    if let Err(e) = r {
                        tracing::warn!(key = %key, error = %classify(Op::PutStream, &key, e), "could not abort dropped multipart upload");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(key = %key, "multipart upload dropped outside a tokio runtime; it stays open until the bucket's lifecycle rule removes it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(check_endpoint("http://127.0.0.1:9000").is_ok());
        assert!(check_endpoint("https://s3.example.com/").is_ok());
        assert!(check_endpoint("http://user:pw@host").is_err());
        assert!(check_endpoint("http://host/path").is_err());
        assert!(check_endpoint("host:9000").is_err());
    }

    #[test]
    fn checksum_values() {
        assert_eq!(Checksum::parse(""), Some(Checksum::None));
        assert_eq!(Checksum::parse("crc32c"), Some(Checksum::Crc32c));
        assert_eq!(Checksum::parse("md5"), None);
    }

    #[test]
    fn checksum_mode_defaults_and_setting() {
        let client_modes = |cfg: &S3Config| {
            let s = S3Store::new(cfg.clone()).unwrap();
            let c = s.client.config();
            (
                c.request_checksum_calculation().copied(),
                c.response_checksum_validation().copied(),
            )
        };
        let required = (
            Some(RequestChecksumCalculation::WhenRequired),
            Some(ResponseChecksumValidation::WhenRequired),
        );
        let supported = (
            Some(RequestChecksumCalculation::WhenSupported),
            Some(ResponseChecksumValidation::WhenSupported),
        );
        let mut cfg = S3Config::new("bucket", "p");
        cfg.credentials = Some(Credentials::new("AKIA", "topsecret"));
        // AWS itself: the SDK's default.
        assert_eq!(cfg.checksum_mode(), ChecksumMode::WhenSupported);
        assert_eq!(client_modes(&cfg), supported);
        // A custom endpoint (S3-compatible store): only when required, both directions.
        cfg.endpoint = Some("http://127.0.0.1:9000".into());
        assert_eq!(cfg.checksum_mode(), ChecksumMode::WhenRequired);
        assert_eq!(client_modes(&cfg), required);
        // The setting wins over the endpoint rule.
        cfg.checksum_mode = Some(ChecksumMode::WhenSupported);
        assert_eq!(client_modes(&cfg), supported);
        // BSL `checksumAlgorithm: ""` on AWS: none unless required.
        let mut aws = S3Config::new("bucket", "p");
        aws.credentials = cfg.credentials.clone();
        aws.checksum = Checksum::None;
        assert_eq!(client_modes(&aws), required);
        // An explicit upload algorithm on a custom endpoint keeps the endpoint rule for the
        // rest (the algorithm itself is still sent on uploads, where it is named per request).
        cfg.checksum_mode = None;
        cfg.checksum = Checksum::Sha256;
        assert_eq!(cfg.checksum_mode(), ChecksumMode::WhenRequired);
        for (text, mode) in [
            ("when-required", ChecksumMode::WhenRequired),
            ("WHEN_SUPPORTED", ChecksumMode::WhenSupported),
        ] {
            assert_eq!(ChecksumMode::parse(text), Some(mode));
            assert_eq!(ChecksumMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(ChecksumMode::parse("always"), None);
    }

    #[test]
    fn config_validation_and_debug() {
        let mut cfg = S3Config::new("bucket", "/some/prefix/");
        assert_eq!(cfg.prefix, "some/prefix");
        let e = S3Store::new(cfg.clone()).unwrap_err();
        assert!(e.to_string().contains("no credentials"), "{e}");
        cfg.credentials = Some(Credentials::new("AKIA", "topsecret"));
        cfg.part_size = 1024;
        assert!(S3Store::new(cfg.clone()).is_err());
        cfg.part_size = DEFAULT_PART_SIZE;
        let s = S3Store::new(cfg.clone()).unwrap();
        assert!(!format!("{s:?}").contains("topsecret"));
        assert!(!format!("{cfg:?}").contains("topsecret"));
        assert_eq!(s.describe(), "s3://bucket/some/prefix (region us-east-1)");
        assert_eq!(s.full_key("backups/x"), "some/prefix/backups/x");
        assert_eq!(s.relative("some/prefix/backups/x"), Some("backups/x"));
        assert_eq!(s.relative("some/prefixother/x"), None);
    }
}
