//! S3 credentials: static keys, and the AWS shared-credentials file format used by Velero's
//! `cloud` secret.
//!
//! Architecture invariant: secret values never reach logs, errors or `Debug` output; the types
//! here implement `Debug` by hand and only show the access key id.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// Environment variable holding the access key id (read by the CLI, passed in via
/// [`Credentials::from_env_lookup`]).
pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// Environment variable holding the secret access key.
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Environment variable holding an optional session token.
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";

/// A secret string whose `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Only pass it to the code that needs it; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"** redacted **\"")
    }
}

/// Static S3 credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (not secret; shown in `Debug`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Optional session token.
    pub session_token: Option<Secret>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

impl Credentials {
    /// Static credentials from an access key id and secret.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: None,
        }
    }

    /// Credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` as
    /// returned by `lookup` (the CLI passes `|k| std::env::var(k).ok()`; the library never reads
    /// the environment itself). `None` unless both keys are set and non-empty.
    pub fn from_env_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let id = lookup(ENV_ACCESS_KEY_ID).filter(|s| !s.is_empty())?;
        let secret = lookup(ENV_SECRET_ACCESS_KEY).filter(|s| !s.is_empty())?;
        Some(Self {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: lookup(ENV_SESSION_TOKEN)
                .filter(|s| !s.is_empty())
                .map(Secret::new),
        })
    }

    /// Parses an AWS shared-credentials file (the format of Velero's `cloud` secret) and returns
    /// the credentials of `profile` (`default` when `None`).
    ///
    /// Accepted syntax: `[name]` or `[profile name]` section headers, `key = value` lines,
    /// comments starting with `#` or `;`. Keys `aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_session_token` (case-insensitive); other keys are ignored. Error messages name the
    /// profile and line numbers, never values.
    pub fn from_shared_file_contents(text: &str, profile: Option<&str>) -> Result<Self, String> {
        let wanted = profile.unwrap_or("default");
        let mut current: Option<String> = None;
        let mut found_section = false;
        let (mut id, mut secret, mut token) = (None, None, None);
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(format!("line {}: unterminated section header", n + 1));
                };
                let name = name.trim();
                let name = name.strip_prefix("profile ").map_or(name, str::trim);
                current = Some(name.to_owned());
                if name == wanted {
                    found_section = true;
                }
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(format!("line {}: expected 'key = value'", n + 1));
            };
            if current.as_deref() != Some(wanted) {
                continue;
            }
            let v = v.trim().to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
        if !found_section {
            return Err(format!("profile {wanted:?} not found"));
        }
        let id = id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("profile {wanted:?} has no aws_access_key_id"))?;
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("profile {wanted:?} has no aws_secret_access_key"))?;
        Ok(Self {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: token.filter(|s| !s.is_empty()).map(Secret::new),
        })
    }

    /// Reads a shared-credentials file from disk; see [`Self::from_shared_file_contents`].
    pub fn from_shared_file(path: &Path, profile: Option<&str>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
            what: "credentials file",
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        Self::from_shared_file_contents(&text, profile).map_err(|reason| Error::ConfigFile {
            what: "credentials file",
            path: path.to_owned(),
            source: reason.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# Velero cloud secret
[default]
aws_access_key_id=AKIADEFAULT
aws_secret_access_key=wJalrDEFAULTSECRET

[profile backup]
aws_access_key_id = AKIABACKUP
aws_secret_access_key = sEcReT/with=equals
aws_session_token = tok
";

    #[test]
    fn parses_profiles() {
        let c = Credentials::from_shared_file_contents(FILE, None).unwrap();
        assert_eq!(c.access_key_id, "AKIADEFAULT");
        assert_eq!(c.secret_access_key.expose(), "wJalrDEFAULTSECRET");
        assert!(c.session_token.is_none());
        let c = Credentials::from_shared_file_contents(FILE, Some("backup")).unwrap();
        assert_eq!(c.access_key_id, "AKIABACKUP");
        assert_eq!(c.secret_access_key.expose(), "sEcReT/with=equals");
        assert_eq!(c.session_token.as_ref().unwrap().expose(), "tok");
    }

    #[test]
    fn missing_profile_or_key() {
        let e = Credentials::from_shared_file_contents(FILE, Some("nope")).unwrap_err();
        assert!(e.contains("\"nope\" not found"), "{e}");
        let e = Credentials::from_shared_file_contents("[default]\naws_access_key_id=x\n", None).unwrap_err();
        assert!(e.contains("no aws_secret_access_key"), "{e}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::from_shared_file_contents(FILE, Some("backup")).unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("AKIABACKUP"));
        assert!(!d.contains("sEcReT") && !d.contains("tok\""), "{d}");
    }

    #[test]
    fn env_lookup() {
        let env = |k: &str| match k {
            ENV_ACCESS_KEY_ID => Some("id".to_owned()),
            ENV_SECRET_ACCESS_KEY => Some("s".to_owned()),
            _ => None,
        };
        let c = Credentials::from_env_lookup(env).unwrap();
        assert_eq!(c.access_key_id, "id");
        assert!(Credentials::from_env_lookup(|_| None).is_none());
    }
}
