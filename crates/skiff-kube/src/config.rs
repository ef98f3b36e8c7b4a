//! Where the cluster is and how to reach it: kubeconfig (`--kubeconfig`, `KUBECONFIG`,
//! `~/.kube/config`, `--context`) or the in-cluster service account.
//!
//! This crate does not read the process environment for these settings: the CLI passes the value
//! of `KUBECONFIG` and the home directory in [`ClusterConfig`]. (The in-cluster fallback is the one
//! exception: kube reads `KUBERNETES_SERVICE_HOST` / `_PORT` itself, as every Kubernetes client
//! does.)

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{KubeError, Result};

/// How to find and talk to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `--kubeconfig`: this file only (it must exist). Wins over everything else.
    pub kubeconfig: Option<PathBuf>,
    /// The value of `KUBECONFIG` as the CLI read it: a list of files joined by the platform's path
    /// separator, merged with kubectl's rules (first file to set a value wins; missing files are
    /// skipped).
    pub kubeconfig_env: Option<OsString>,
    /// Home directory, for the default `~/.kube/config` when neither of the above is set.
    pub home_dir: Option<PathBuf>,
    /// `--context`: the kubeconfig context; the file's `current-context` when `None`.
    pub context: Option<String>,
    /// Fall back to the in-cluster service account when no kubeconfig is found.
    pub allow_in_cluster: bool,
    /// Skip TLS verification of the API server. Off by default; only when the user asks (the
    /// kubeconfig's `insecure-skip-tls-verify: true` is honoured as kubectl does).
    pub insecure_skip_tls_verify: bool,
    /// TCP connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Time allowed for one response (a LIST page, a create) once its request is written.
    pub request_timeout: Option<Duration>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            kubeconfig_env: None,
            home_dir: None,
            context: None,
            allow_in_cluster: true,
            insecure_skip_tls_verify: false,
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(120)),
        }
    }
}

impl ClusterConfig {
    /// A configuration that uses exactly this kubeconfig file (tests, `--kubeconfig`).
    pub fn from_kubeconfig(path: impl Into<PathBuf>) -> Self {
        Self {
            kubeconfig: Some(path.into()),
            ..Self::default()
        }
    }

    /// Resolve into kube's client configuration.
    pub(crate) async fn resolve(&self) -> Result<kube::Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            cluster: None,
            user: None,
        };
        let mut cluster_name = None;
        let loaded = match self.load_kubeconfig()? {
            Some((kubeconfig, path)) => {
                cluster_name = cluster_of_context(&kubeconfig, self.context.as_deref());
                Some(
                    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                        .await
                        .map_err(|source| KubeError::Kubeconfig { path, source })?,
                )
            }
            None => None,
        };
        let mut config = match loaded {
            Some(c) => c,
            None if self.allow_in_cluster => {
                kube::Config::incluster().map_err(|source| KubeError::NoConfig { source: Some(source) })?
            }
            None => return Err(KubeError::NoConfig { source: None }),
        };
        // Every retry goes through skiff's limiter; kube's own retry layer would retry underneath
        // it and hide 429s from the window.
        config.default_retry = false;
        config.connect_timeout = self.connect_timeout;
        config.read_timeout = self.request_timeout;
        // Count the read timeout from when the request was sent, not from when a pooled connection
        // went idle.
        config.reset_reader_on_write = true;
        if self.insecure_skip_tls_verify {
            config.accept_invalid_certs = true;
        }
        if config.accept_invalid_certs {
            // Once per connection setup (kube's own note comes on every new TLS connection).
            tracing::warn!(
                "TLS certificate of cluster {:?} ({}) is not verified: insecure-skip-tls-verify is set",
                cluster_name.as_deref().unwrap_or("in-cluster"),
                config.cluster_url
            );
        }
        Ok(config)
    }

    /// The merged kubeconfig, and the single file it came from when there was one.
    fn load_kubeconfig(&self) -> Result<Option<(Kubeconfig, Option<PathBuf>)>> {
        if let Some(path) = &self.kubeconfig {
            let kc = Kubeconfig::read_from(path).map_err(|source| KubeError::Kubeconfig {
                path: Some(path.clone()),
                source,
            })?;
            return Ok(Some((kc, Some(path.clone()))));
        }
        if let Some(list) = self.kubeconfig_env.as_ref().filter(|v| !v.is_empty()) {
            let paths: Vec<PathBuf> = std::env::split_paths(list)
                .filter(|p| !p.as_os_str().is_empty() && p.exists())
                .collect();
            if !paths.is_empty() {
                let single = (paths.len() == 1).then(|| paths[0].clone());
                let mut merged = Kubeconfig::default();
                for p in &paths {
                    let kc = Kubeconfig::read_from(p).map_err(|source| KubeError::Kubeconfig {
                        path: Some(p.clone()),
                        source,
                    })?;
                    merged = merged.merge(kc).map_err(|source| KubeError::Kubeconfig {
                        path: Some(p.clone()),
                        source,
                    })?;
                }
                return Ok(Some((merged, single)));
            }
        }
        if let Some(home) = &self.home_dir {
            let path = home.join(".kube").join("config");
            if path.exists() {
                let kc = Kubeconfig::read_from(&path).map_err(|source| KubeError::Kubeconfig {
                    path: Some(path.clone()),
                    source,
                })?;
                return Ok(Some((kc, Some(path))));
            }
        }
        Ok(None)
    }
}

/// Install rustls' `ring` crypto provider as the process default unless one is installed
/// already. Idempotent and race-free (a lost race leaves the winner's provider in place).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The kubeconfig's cluster name for a context (the current one when `None`).
fn cluster_of_context(kubeconfig: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.or(kubeconfig.current_context.as_deref())?;
    kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KC: &str = r"apiVersion: v1
kind: Config
clusters:
- name: a
  cluster:
    server: https://127.0.0.1:6443
- name: b
  cluster:
    server: https://127.0.0.2:7443
users:
- name: u
  user:
    token: not-a-real-token
contexts:
- name: ctx-a
  context: {cluster: a, user: u, namespace: team-a}
- name: ctx-b
  context: {cluster: b, user: u}
current-context: ctx-a
";

    fn write_kc(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("skiff-kube-config-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test]
    async fn explicit_file_and_context() {
        let dir = tmpdir("explicit");
        let p = write_kc(&dir, "kc", KC);
        let cfg = ClusterConfig::from_kubeconfig(&p).resolve().await.unwrap();
        assert_eq!(cfg.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert_eq!(cfg.default_namespace, "team-a");
        assert!(!cfg.accept_invalid_certs, "tls verification on by default");
        assert!(!cfg.default_retry);
        let cfg = ClusterConfig {
            context: Some("ctx-b".into()),
            ..ClusterConfig::from_kubeconfig(&p)
        }
        .resolve()
        .await
        .unwrap();
        assert_eq!(cfg.cluster_url.to_string(), "https://127.0.0.2:7443/");
        assert_eq!(cfg.default_namespace, "default");
        let err = ClusterConfig {
            context: Some("nope".into()),
            ..ClusterConfig::from_kubeconfig(&p)
        }
        .resolve()
        .await
        .unwrap_err();
        assert!(matches!(err, KubeError::Kubeconfig { .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn env_list_skips_missing_files_and_home_is_the_fallback() {
        let dir = tmpdir("env");
        let p = write_kc(&dir, "kc", KC);
        let missing = dir.join("missing");
        let list = std::env::join_paths([missing.clone(), p.clone()]).unwrap();
        let cfg = ClusterConfig {
            kubeconfig_env: Some(list),
            allow_in_cluster: false,
            ..Default::default()
        }
        .resolve()
        .await
        .unwrap();
        assert_eq!(cfg.cluster_url.to_string(), "https://127.0.0.1:6443/");

        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".kube")).unwrap();
        std::fs::write(
            home.join(".kube/config"),
            KC.replace("current-context: ctx-a", "current-context: ctx-b"),
        )
        .unwrap();
        let cfg = ClusterConfig {
            home_dir: Some(home.clone()),
            allow_in_cluster: false,
            ..Default::default()
        }
        .resolve()
        .await
        .unwrap();
        assert_eq!(cfg.cluster_url.to_string(), "https://127.0.0.2:7443/");

        let err = ClusterConfig {
            home_dir: Some(dir.join("nohome")),
            kubeconfig_env: Some(missing.into_os_string()),
            allow_in_cluster: false,
            ..Default::default()
        }
        .resolve()
        .await
        .unwrap_err();
        assert!(matches!(err, KubeError::NoConfig { .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn cluster_name_follows_the_context() {
        let kc = Kubeconfig::from_yaml(KC).unwrap();
        assert_eq!(cluster_of_context(&kc, None).as_deref(), Some("a"));
        assert_eq!(cluster_of_context(&kc, Some("ctx-b")).as_deref(), Some("b"));
        assert_eq!(cluster_of_context(&kc, Some("nope")), None);
    }

    #[test]
    fn provider_install_is_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
