//! Fill an install's bucket, prefix, BSL config, CA and credentials from a skiff location, so
//! `--from-location` needs no retyping: the Velero that gets installed reads the bucket skiff
//! writes.

use skiff_store::{BackupStorageLocation, Checksum, Location, LocationOptions};

use super::install::{InstallOptions, SecretData};
use super::{Result, VeleroError};

fn checksum_name(c: Checksum) -> Option<&'static str> {
    match c {
        Checksum::None => Some(""),
        Checksum::Crc32 => Some("CRC32"),
        Checksum::Crc32c => Some("CRC32C"),
        Checksum::Sha1 => Some("SHA1"),
        Checksum::Sha256 => Some("SHA256"),
        // `Default` (key absent) and anything newer: leave the key out.
        _ => None,
    }
}

/// Fill what `options` does not set yet from an S3 location and its options: bucket, prefix,
/// BSL config `region` (`us-east-1` when an endpoint is set without one, as skiff itself
/// assumes), `s3Url`, `s3ForcePathStyle`, `insecureSkipTLSVerify`, `profile`,
/// `checksumAlgorithm`, the CA bundle, and the `cloud` Secret (the credentials file as is, or a
/// `[default]` profile written from static keys). Values already in `options` win.
pub fn apply_location(
    options: &mut InstallOptions,
    location: &Location,
    loc: &LocationOptions,
) -> Result<()> {
    let Location::S3 { bucket, prefix } = location else {
        return Err(VeleroError::InvalidOptions(format!(
            "{location} is a local folder; Velero needs an object store (s3://bucket/prefix or a BackupStorageLocation file)"
        )));
    };
    if options.bucket.is_empty() {
        options.bucket.clone_from(bucket);
    }
    if options.prefix.is_empty() {
        options.prefix.clone_from(prefix);
    }
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v
            && !options.backup_location_config.contains_key(k)
        {
            options.backup_location_config.insert(k.to_owned(), v);
        }
    };
    let region = loc
        .region
        .clone()
        .or_else(|| loc.endpoint.as_ref().map(|_| "us-east-1".to_owned()));
    put("region", region);
    put("s3Url", loc.endpoint.clone());
    put(
        "s3ForcePathStyle",
        loc.path_style.filter(|p| *p).map(|_| "true".to_owned()),
    );
    put(
        "insecureSkipTLSVerify",
        loc.insecure_skip_tls_verify
            .filter(|p| *p)
            .map(|_| "true".to_owned()),
    );
    put(
        "checksumAlgorithm",
        loc.checksum.and_then(checksum_name).map(str::to_owned),
    );
    if options.ca_cert.is_none() {
        options.ca_cert.clone_from(&loc.ca_bundle);
    }
    if options.secret.is_none() {
        if let Some(c) = &loc.credentials {
            // A generated file has only the `default` profile.
            options.secret = Some(SecretData::aws_credentials(
                &c.access_key_id,
                c.secret_access_key.expose(),
                c.session_token.as_ref().map(skiff_store::Secret::expose),
            ));
        } else if let Some(path) = &loc.credentials_file {
            let bytes = std::fs::read(path).map_err(|source| VeleroError::Io {
                op: "read the credentials file",
                path: path.display().to_string(),
                source,
            })?;
            options.secret = Some(SecretData::new(bytes));
            if let Some(p) = &loc.profile
                && !options.backup_location_config.contains_key("profile")
            {
                options.backup_location_config.insert("profile".into(), p.clone());
            }
        }
    }
    Ok(())
}

/// Fill what `options` does not set yet from a Velero `BackupStorageLocation`: bucket, prefix, the
/// whole `spec.config` (including keys skiff itself does not use, such as SSE settings) and the
/// CA. The BSL's own credential reference is not copied: the install uses `cloud-credentials`.
pub fn apply_bsl(options: &mut InstallOptions, bsl: &BackupStorageLocation) {
    if options.bucket.is_empty() {
        options.bucket.clone_from(&bsl.bucket);
    }
    if options.prefix.is_empty() {
        options.prefix.clone_from(&bsl.prefix);
    }
    for (k, v) in &bsl.config {
        options
            .backup_location_config
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    if options.ca_cert.is_none() {
        options.ca_cert.clone_from(&bsl.ca_cert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_store::Credentials;

    #[test]
    fn from_s3_location() {
        let mut o = InstallOptions::default();
        o.backup_location_config
            .insert("region".into(), "from-flag".into());
        let loc = Location::parse("s3://skiff/cluster-a").unwrap();
        let lo = LocationOptions {
            endpoint: Some("http://minio.minio.svc:9000".into()),
            path_style: Some(true),
            credentials: Some(Credentials::new("AK", "SK")),
            profile: Some("ignored".into()),
            checksum: Some(Checksum::None),
            ca_bundle: Some(b"PEM".to_vec()),
            ..LocationOptions::default()
        };
        apply_location(&mut o, &loc, &lo).unwrap();
        assert_eq!((o.bucket.as_str(), o.prefix.as_str()), ("skiff", "cluster-a"));
        assert_eq!(o.backup_location_config["region"], "from-flag", "flags win");
        assert_eq!(o.backup_location_config["s3Url"], "http://minio.minio.svc:9000");
        assert_eq!(o.backup_location_config["s3ForcePathStyle"], "true");
        assert_eq!(o.backup_location_config["checksumAlgorithm"], "");
        assert!(!o.backup_location_config.contains_key("profile"));
        assert!(!o.backup_location_config.contains_key("insecureSkipTLSVerify"));
        assert_eq!(o.ca_cert.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(
            o.secret.as_ref().unwrap().expose(),
            b"[default]\naws_access_key_id=AK\naws_secret_access_key=SK\n"
        );
        let e = apply_location(
            &mut InstallOptions::default(),
            &Location::parse("./dir").unwrap(),
            &lo,
        )
        .unwrap_err();
        assert!(e.to_string().contains("local folder"), "{e}");
    }

    #[test]
    fn region_defaults_only_with_an_endpoint() {
        let mut o = InstallOptions::default();
        let loc = Location::parse("s3://b").unwrap();
        apply_location(&mut o, &loc, &LocationOptions::default()).unwrap();
        assert!(o.backup_location_config.is_empty());
        assert!(o.secret.is_none());
    }

    #[test]
    fn credentials_file_is_copied_with_its_profile() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cloud");
        std::fs::write(&f, "[backup]\naws_access_key_id=A\naws_secret_access_key=B\n").unwrap();
        let mut o = InstallOptions::default();
        let lo = LocationOptions {
            credentials_file: Some(f),
            profile: Some("backup".into()),
            ..LocationOptions::default()
        };
        apply_location(&mut o, &Location::parse("s3://b/p").unwrap(), &lo).unwrap();
        assert_eq!(
            o.secret.unwrap().expose(),
            b"[backup]\naws_access_key_id=A\naws_secret_access_key=B\n"
        );
        assert_eq!(o.backup_location_config["profile"], "backup");
    }

    #[test]
    fn from_bsl() {
        let bsl = BackupStorageLocation::from_yaml(
            "kind: BackupStorageLocation\nspec:\n  provider: aws\n  objectStorage:\n    bucket: velero-backups\n    prefix: cluster-a\n  config:\n    region: minio\n    serverSideEncryption: AES256\n",
            "bsl.yaml",
        )
        .unwrap();
        let mut o = InstallOptions::default();
        apply_bsl(&mut o, &bsl);
        assert_eq!(o.bucket, "velero-backups");
        assert_eq!(o.prefix, "cluster-a");
        assert_eq!(o.backup_location_config["serverSideEncryption"], "AES256");
        assert_eq!(o.backup_location_config["region"], "minio");
    }
}
