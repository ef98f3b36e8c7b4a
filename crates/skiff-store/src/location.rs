//! Where backups live: `s3://bucket/prefix` URLs, local directories, and Velero
//! `BackupStorageLocation` objects as a source of settings.
//!
//! Precedence (flags > BSL): [`BackupStorageLocation::apply_to`] only fills options that are
//! still unset, so the CLI applies its explicit flags first and the BSL afterwards.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;

use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::local::LocalStore;
use crate::s3::{Checksum, ChecksumMode, S3Config, S3Store};
use crate::store::BackupStore;

/// A backup location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory laid out like a bucket.
    Local(PathBuf),
    /// A bucket and a key prefix (no leading/trailing `/`, may be empty).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Prefix inside the bucket.
        prefix: String,
    },
}

impl Location {
    /// Parses `s3://bucket[/prefix]`, `file:///path`, or a plain local path.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidLocation {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = input.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("missing bucket name"));
            }
            if bucket.contains('@') || bucket.contains(':') {
                return Err(invalid(
                    "bucket name must not contain '@' or ':' (put credentials in a credentials file)",
                ));
            }
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                crate::store::validate_prefix(prefix)
                    .map_err(|_| invalid("invalid prefix (empty, '.' or '..' segment)"))?;
            }
            return Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if let Some(path) = input.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid("empty path"));
            }
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = input.split_once("://") {
            return Err(Error::InvalidLocation {
                input: input.to_owned(),
                reason: format!("unsupported scheme {scheme:?} (use s3:// or a directory path)"),
            });
        }
        if input.is_empty() {
            return Err(invalid("empty location"));
        }
        Ok(Location::Local(PathBuf::from(input)))
    }
}

impl FromStr for Location {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Settings for opening a location. Only S3 locations use them. `Debug` never shows secrets.
#[derive(Debug, Clone, Default)]
pub struct LocationOptions {
    /// Region (BSL `region`); `us-east-1` when unset.
    pub region: Option<String>,
    /// Endpoint URL (BSL `s3Url`).
    pub endpoint: Option<String>,
    /// Path-style addressing (BSL `s3ForcePathStyle`).
    pub path_style: Option<bool>,
    /// Explicit static credentials (e.g. from [`Credentials::from_env_lookup`]); win over the file.
    pub credentials: Option<Credentials>,
    /// AWS shared-credentials file, e.g. Velero's `cloud` secret saved to disk.
    pub credentials_file: Option<PathBuf>,
    /// Profile in the credentials file (BSL `profile`); `default` when unset.
    pub profile: Option<String>,
    /// Extra trusted CA certificates, PEM (BSL `caCert`, decoded).
    pub ca_bundle: Option<Vec<u8>>,
    /// Skip TLS verification (BSL `insecureSkipTLSVerify`).
    pub insecure_skip_tls_verify: Option<bool>,
    /// Upload checksum (BSL `checksumAlgorithm`).
    pub checksum: Option<Checksum>,
    /// Request/response checksum mode; default by endpoint (see [`S3Config::checksum_mode`]).
    pub checksum_mode: Option<ChecksumMode>,
    /// Multipart part size in bytes (default 8 MiB, minimum 5 MiB).
    pub part_size: Option<usize>,
    /// Parts in flight per streaming upload (default 4).
    pub max_parts_in_flight: Option<usize>,
    /// Listing page size (default 1000).
    pub list_page_size: Option<i32>,
}

/// Opens a location.
///
/// S3 credentials: [`LocationOptions::credentials`] if set, else the credentials file with the
/// profile. Opening sends no request; the first operation reports connection or credential
/// problems (naming the operation and key).
pub async fn open(location: &Location, options: &LocationOptions) -> Result<Arc<dyn BackupStore>> {
    match location {
        Location::Local(path) => Ok(Arc::new(LocalStore::new(path.clone()))),
        Location::S3 { bucket, prefix } => {
            let mut cfg = S3Config::new(bucket.clone(), prefix.clone());
            cfg.region.clone_from(&options.region);
            cfg.endpoint.clone_from(&options.endpoint);
            cfg.force_path_style = options.path_style.unwrap_or(false);
            cfg.credentials = match (&options.credentials, &options.credentials_file) {
                (Some(c), _) => Some(c.clone()),
                (None, Some(path)) => {
                    let path = path.clone();
                    let profile = options.profile.clone();
                    Some(
                        tokio::task::spawn_blocking(move || {
                            Credentials::from_shared_file(&path, profile.as_deref())
                        })
                        .await
                        .map_err(|e| Error::Config {
                            location: location.to_string(),
                            reason: format!("credentials loader failed: {e}"),
                        })??,
                    )
                }
                (None, None) => None,
            };
            cfg.ca_bundle.clone_from(&options.ca_bundle);
            cfg.insecure_skip_tls_verify = options.insecure_skip_tls_verify.unwrap_or(false);
            cfg.checksum = options.checksum.unwrap_or_default();
            cfg.checksum_mode = options.checksum_mode;
            if let Some(n) = options.part_size {
                cfg.part_size = n;
            }
            if let Some(n) = options.max_parts_in_flight {
                cfg.max_parts_in_flight = n;
            }
            if let Some(n) = options.list_page_size {
                cfg.list_page_size = n;
            }
            Ok(Arc::new(S3Store::new(cfg)?))
        }
    }
}

/// The parts of a Velero `BackupStorageLocation` that describe where and how to reach the
/// bucket. Parsed leniently (unknown fields ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStorageLocation {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `spec.provider` (`aws` or `velero.io/aws`).
    pub provider: String,
    /// `spec.objectStorage.bucket`.
    pub bucket: String,
    /// `spec.objectStorage.prefix`, trimmed of `/`.
    pub prefix: String,
    /// `spec.objectStorage.caCert`, base64-decoded PEM.
    pub ca_cert: Option<Vec<u8>>,
    /// `spec.config` (all values as strings).
    pub config: BTreeMap<String, String>,
    /// `spec.credential` secret reference (`name`, `key`), if any. skiff cannot read Secrets
    /// here; the caller passes the credentials file.
    pub credential: Option<(String, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBsl {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: RawMeta,
    #[serde(default)]
    spec: Option<RawSpec>,
}

#[derive(Deserialize, Default)]
struct RawMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    object_storage: Option<RawObjectStorage>,
    #[serde(default)]
    config: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    credential: Option<RawSecretRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObjectStorage {
    bucket: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    ca_cert: Option<String>,
}

#[derive(Deserialize)]
struct RawSecretRef {
    #[serde(default)]
    name: String,
    #[serde(default)]
    key: String,
}

impl BackupStorageLocation {
    /// Parses a BSL from YAML (or JSON). Multi-document input is accepted; the first document
    /// with `kind: BackupStorageLocation` is used.
    pub fn from_yaml(text: &str, source: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidLocation {
            input: source.to_owned(),
            reason,
        };
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let raw = RawBsl::deserialize(doc)
                .map_err(|e| invalid(format!("not a BackupStorageLocation document: {e}")))?;
            if raw.kind.as_deref() != Some("BackupStorageLocation") {
                continue;
            }
            let spec = raw.spec.ok_or_else(|| invalid("missing spec".into()))?;
            let provider = spec.provider.unwrap_or_default();
            if !matches!(provider.as_str(), "aws" | "velero.io/aws") {
                return Err(invalid(format!(
                    "provider {provider:?} is not supported (skiff speaks S3: aws or velero.io/aws)"
                )));
            }
            let os = spec
                .object_storage
                .ok_or_else(|| invalid("missing spec.objectStorage".into()))?;
            let bucket = os
                .bucket
                .filter(|b| !b.is_empty())
                .ok_or_else(|| invalid("missing spec.objectStorage.bucket".into()))?;
            if bucket.contains('/') {
                return Err(invalid("spec.objectStorage.bucket must not contain '/'".into()));
            }
            let ca_cert = match os.ca_cert.filter(|c| !c.trim().is_empty()) {
                None => None,
                Some(c) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(c.split_whitespace().collect::<String>())
                        .map_err(|e| invalid(format!("spec.objectStorage.caCert is not base64: {e}")))?,
                ),
            };
            let config = spec
                .config
                .into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        serde_yaml_ng::Value::String(s) => s,
                        serde_yaml_ng::Value::Bool(b) => b.to_string(),
                        serde_yaml_ng::Value::Number(n) => n.to_string(),
                        serde_yaml_ng::Value::Null => String::new(),
                        _ => return Err(invalid(format!("spec.config.{k} is not a scalar"))),
                    };
                    Ok((k, s))
                })
                .collect::<Result<BTreeMap<_, _>>>()?;
            return Ok(Self {
                name: raw.metadata.name,
                namespace: raw.metadata.namespace,
                provider,
                bucket,
                prefix: os.prefix.unwrap_or_default().trim_matches('/').to_owned(),
                ca_cert,
                config,
                credential: spec.credential.map(|c| (c.name, c.key)),
            });
        }
        Err(invalid("no document with kind: BackupStorageLocation".into()))
    }

    /// Reads and parses a BSL YAML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
            what: "BackupStorageLocation file",
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// The location the BSL points at.
    pub fn location(&self) -> Location {
        Location::S3 {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// Fills every option that is still `None` from the BSL (`region`, `s3Url`,
    /// `s3ForcePathStyle`, `insecureSkipTLSVerify`, `profile`, `checksumAlgorithm`, `caCert`).
    /// Other config keys are ignored (logged at debug level).
    pub fn apply_to(&self, options: &mut LocationOptions) -> Result<()> {
        let bool_key = |k: &str| -> Result<Option<bool>> {
            match self.config.get(k).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(None),
                Some(v) if v == "true" => Ok(Some(true)),
                Some(v) if v == "false" || v.is_empty() => Ok(Some(false)),
                Some(v) => Err(Error::InvalidLocation {
                    input: self
                        .name
                        .clone()
                        .unwrap_or_else(|| "BackupStorageLocation".into()),
                    reason: format!("spec.config.{k} must be \"true\" or \"false\", not {v:?}"),
                }),
            }
        };
        let non_empty = |k: &str| self.config.get(k).filter(|v| !v.is_empty()).cloned();
        if options.region.is_none() {
            options.region = non_empty("region");
        }
        if options.endpoint.is_none() {
            options.endpoint = non_empty("s3Url");
        }
        if options.path_style.is_none() {
            options.path_style = bool_key("s3ForcePathStyle")?;
        }
        if options.insecure_skip_tls_verify.is_none() {
            options.insecure_skip_tls_verify = bool_key("insecureSkipTLSVerify")?;
        }
        if options.profile.is_none() {
            options.profile = non_empty("profile");
        }
        if options.checksum.is_none()
            && let Some(v) = self.config.get("checksumAlgorithm")
        {
            options.checksum = Some(Checksum::parse(v).ok_or_else(|| Error::InvalidLocation {
                input: self.name.clone().unwrap_or_else(|| "BackupStorageLocation".into()),
                reason: format!("spec.config.checksumAlgorithm {v:?} is not one of CRC32, CRC32C, SHA1, SHA256 or \"\""),
            })?);
        }
        if options.ca_bundle.is_none() {
            options.ca_bundle.clone_from(&self.ca_cert);
        }
        for k in self.config.keys() {
            if !matches!(
                k.as_str(),
                "region"
                    | "s3Url"
                    | "s3ForcePathStyle"
                    | "insecureSkipTLSVerify"
                    | "profile"
                    | "checksumAlgorithm"
            ) {
                tracing::debug!(key = %k, "ignoring BackupStorageLocation config key");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_locations() {
        assert_eq!(
            Location::parse("s3://bucket/a/b/").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            Location::parse("s3://bucket").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("./backups").unwrap(),
            Location::Local("./backups".into())
        );
        assert_eq!(
            Location::parse("file:///srv/b").unwrap(),
            Location::Local("/srv/b".into())
        );
        assert!(Location::parse("s3://").is_err());
        assert!(Location::parse("s3://ak:sk@bucket/x").is_err());
        assert!(Location::parse("s3://b/../x").is_err());
        assert!(Location::parse("gs://b").is_err());
        assert_eq!(Location::parse("s3://b/p/").unwrap().to_string(), "s3://b/p");
    }

    const BSL: &str = r#"
apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata:
  name: default
  namespace: velero
spec:
  provider: aws
  default: true
  objectStorage:
    bucket: velero-backups
    prefix: /cluster-a/
    caCert: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
  config:
    region: minio
    s3Url: http://minio.velero.svc:9000
    s3ForcePathStyle: "true"
    insecureSkipTLSVerify: false
    profile: backup
    checksumAlgorithm: ""
    serverSideEncryption: AES256
"#;

    #[test]
    fn bsl_settings() {
        let bsl = BackupStorageLocation::from_yaml(BSL, "bsl.yaml").unwrap();
        assert_eq!(
            bsl.location(),
            Location::S3 {
                bucket: "velero-backups".into(),
                prefix: "cluster-a".into()
            }
        );
        assert_eq!(
            bsl.ca_cert.as_deref(),
            Some(&b"-----BEGIN CERTIFICATE-----\n"[..])
        );
        let mut opts = LocationOptions {
            region: Some("from-flag".into()),
            ..LocationOptions::default()
        };
        bsl.apply_to(&mut opts).unwrap();
        assert_eq!(opts.region.as_deref(), Some("from-flag"), "flags win");
        assert_eq!(opts.endpoint.as_deref(), Some("http://minio.velero.svc:9000"));
        assert_eq!(opts.path_style, Some(true));
        assert_eq!(opts.insecure_skip_tls_verify, Some(false));
        assert_eq!(opts.profile.as_deref(), Some("backup"));
        assert_eq!(opts.checksum, Some(Checksum::None));
    }

    #[test]
    fn bsl_rejections() {
        let e = BackupStorageLocation::from_yaml(&BSL.replace("provider: aws", "provider: gcp"), "x")
            .unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = BackupStorageLocation::from_yaml("kind: ConfigMap\n", "x").unwrap_err();
        assert!(e.to_string().contains("no document"), "{e}");
        let multi = format!("kind: ConfigMap\n---\n{BSL}");
        assert!(BackupStorageLocation::from_yaml(&multi, "x").is_ok());
    }
}
