//! Cluster access as cloud users have it, against the real test bed: kubeconfig users whose
//! credentials come from an `exec` plugin (what EKS, GKE and AKS kubeconfigs use), expiring tokens
//! refreshed by the plugin, plugins that fail (the error names the plugin, shows its stderr and
//! never its stdout), and clusters reached through `proxy-url` (HTTP CONNECT, with and without
//! proxy credentials, and SOCKS5) via the test kit's loopback tunnel proxy.
//!
//! The plugin is a small POSIX shell script that prints an `ExecCredential` carrying the bed's
//! admin token. Needs the bed binaries (`bash scripts/provision-testbed.sh`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Value, json};
use skiff_kube::{ApiSurface, Cluster, ClusterConfig, KubeError, LimiterConfig, ListOptions};
use skiff_testkit::bed::{BedOptions, TestBed};
use skiff_testkit::tunnel::TunnelProxy;

const PLUGIN: &str = r#"#!/bin/sh
# skiff test credential plugin: $1 is the ExecCredential apiVersion to answer with.
echo "run $*" >> "$SKIFF_PLUGIN_LOG"
case "$KUBERNETES_EXEC_INFO" in
  *"\"apiVersion\":\"$1\""*) ;;
  *) echo "KUBERNETES_EXEC_INFO does not ask for $1" >&2; exit 2 ;;
esac
if [ -e "$SKIFF_PLUGIN_FAIL" ]; then
  echo '{"status":{"token":"STDOUT-MUST-NOT-SHOW"}}'
  echo "error: the SSO session has expired (skiff test plugin)" >&2
  exit 1
fi
exp=""
if [ -n "$SKIFF_EXPIRES_IN" ]; then
  exp=",\"expirationTimestamp\":\"$(date -u -d "+$SKIFF_EXPIRES_IN seconds" +%Y-%m-%dT%H:%M:%SZ)\""
fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s}}\n' "$1" "$SKIFF_TEST_TOKEN" "$exp"
"#;

struct Plugin {
    path: PathBuf,
    log: PathBuf,
    fail_flag: PathBuf,
}

impl Plugin {
    fn write(dir: &Path) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join("skiff-test-credential-plugin");
        std::fs::write(&path, PLUGIN)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self {
            path,
            log: dir.join("plugin.log"),
            fail_flag: dir.join("plugin.fail"),
        })
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |s| s.lines().count())
    }

    fn set_failing(&self, failing: bool) -> Result<()> {
        if failing {
            std::fs::write(&self.fail_flag, "")?;
        } else if self.fail_flag.exists() {
            std::fs::remove_file(&self.fail_flag)?;
        }
        Ok(())
    }

    /// The kubeconfig `exec` section.
    fn exec(&self, api_version: &str, bed: &TestBed, expires_in: Option<u32>, interactive: bool) -> Value {
        let mut env = vec![
            json!({"name": "SKIFF_TEST_TOKEN", "value": bed.admin_token()}),
            json!({"name": "SKIFF_PLUGIN_LOG", "value": self.log.display().to_string()}),
            json!({"name": "SKIFF_PLUGIN_FAIL", "value": self.fail_flag.display().to_string()}),
        ];
        if let Some(secs) = expires_in {
            env.push(json!({"name": "SKIFF_EXPIRES_IN", "value": secs.to_string()}));
        }
        let mut exec = json!({
            "apiVersion": api_version,
            "command": self.path.display().to_string(),
            "args": [api_version],
            "env": env,
        });
        if !interactive {
            exec["interactiveMode"] = json!("Never");
        }
        exec
    }
}

/// A kubeconfig for the bed with this user and optional `proxy-url`.
fn kubeconfig(
    dir: &Path,
    name: &str,
    bed: &TestBed,
    user: &Value,
    proxy_url: Option<&str>,
) -> Result<PathBuf> {
    use base64::Engine as _;
    let mut cluster = json!({
        "server": bed.server_url(),
        "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(bed.ca_pem()),
    });
    if let Some(proxy) = proxy_url {
        cluster["proxy-url"] = json!(proxy);
    }
    let doc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "bed", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "bed", "user": "u"}}],
        "current-context": "c",
    });
    let path = dir.join(format!("{name}.kubeconfig"));
    // JSON is YAML: kubeconfig loaders read it as is.
    std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
    Ok(path)
}

async fn connect(path: &Path) -> Result<Cluster, KubeError> {
    let limiter = LimiterConfig {
        max_attempts: 3,
        base_backoff: Duration::from_millis(20),
        ..LimiterConfig::default()
    };
    Cluster::connect(&ClusterConfig::from_kubeconfig(path), limiter).await
}

/// Discovery and a LIST of namespaces: the names found.
async fn discover_and_list(cluster: &Cluster) -> Result<(ApiSurface, Vec<String>)> {
    let surface = cluster.discover(false).await?;
    let ns = surface
        .preferred("namespaces")
        .cloned()
        .context("namespaces discovered")?;
    let mut pager = cluster.list_pages(&ns, ListOptions::default());
    let mut names = Vec::new();
    while let Some(page) = pager.next_page().await? {
        for item in &page.items {
            names.push(item["metadata"]["name"].as_str().context("name")?.to_owned());
        }
    }
    Ok((surface, names))
}

fn credentials_error(e: KubeError) -> Result<(String, String, String)> {
    let text = e.to_string();
    match e {
        KubeError::Credentials { plugin, reason } => Ok((plugin, reason, text)),
        other => bail!("expected a credentials error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_credential_plugins_and_proxy_urls() -> Result<()> {
    let bed = TestBed::start_with(BedOptions {
        controller_manager: false,
        ..BedOptions::named("kube-auth")
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let plugin = Plugin::write(dir.path())?;
    let plugin_path = plugin.path.display().to_string();

    // --- v1beta1, token without expiry: the plugin runs at connect only ----------------------
    // (kube 5 runs it up to three times while building the client: TLS identity, expiry, token.)
    let kc = kubeconfig(
        dir.path(),
        "v1beta1",
        &bed,
        &json!({"exec": plugin.exec("client.authentication.k8s.io/v1beta1", &bed, None, true)}),
        None,
    )?;
    let cluster = connect(&kc).await?;
    let at_connect = plugin.runs();
    ensure!(at_connect >= 1, "the plugin ran at connect");
    let (surface, names) = discover_and_list(&cluster).await?;
    assert_eq!(surface.git_version, "v1.20.2");
    // `kube-system` exists once the apiserver answers; `default` is created a moment later by
    // its bootstrap controller (a loaded machine showed the gap), so it is not waited for here.
    ensure!(names.contains(&"kube-system".to_owned()), "{names:?}");
    assert_eq!(plugin.runs(), at_connect, "a token without expiry is kept");

    // --- v1, never interactive, token about to expire: refreshed by the plugin ----------------
    let kc = kubeconfig(
        dir.path(),
        "v1",
        &bed,
        &json!({"exec": plugin.exec("client.authentication.k8s.io/v1", &bed, Some(30), false)}),
        None,
    )?;
    let before = plugin.runs();
    let cluster = connect(&kc).await?;
    let (_, names) = discover_and_list(&cluster).await?;
    ensure!(names.contains(&"kube-system".to_owned()), "{names:?}");
    // kube refreshes a token within 60 s of its expiry: every request ran the plugin again.
    let runs = plugin.runs() - before;
    ensure!(runs >= 3, "the plugin ran {runs} times");

    // The refresh fails mid-run: the request fails at once, naming the plugin, without retries.
    plugin.set_failing(true)?;
    let before = plugin.runs();
    let err = discover_and_list(&cluster)
        .await
        .expect_err("a failing refresh fails the request");
    let err = err.downcast::<KubeError>()?;
    assert!(!err.is_retryable());
    let (plugin_named, reason, text) = credentials_error(err)?;
    assert_eq!(plugin_named, plugin_path);
    ensure!(reason.contains("exit status: 1"), "{reason}");
    ensure!(
        reason.contains("the SSO session has expired"),
        "stderr is shown: {reason}"
    );
    ensure!(
        !text.contains("STDOUT-MUST-NOT-SHOW"),
        "stdout never shown: {text}"
    );
    ensure!(
        text.starts_with(&format!("get credentials from {plugin_path}: ")),
        "{text}"
    );
    assert_eq!(plugin.runs() - before, 1, "not retried");

    // --- failing at connect (interactive plugin: its stderr goes to the terminal) -------------
    let kc = kubeconfig(
        dir.path(),
        "failing",
        &bed,
        &json!({"exec": plugin.exec("client.authentication.k8s.io/v1beta1", &bed, None, true)}),
        None,
    )?;
    let (plugin_named, reason, text) = credentials_error(connect(&kc).await.expect_err("plugin fails"))?;
    assert_eq!(plugin_named, plugin_path);
    ensure!(reason.starts_with("it exited with exit status: 1"), "{reason}");
    ensure!(!text.contains("STDOUT-MUST-NOT-SHOW"), "{text}");
    plugin.set_failing(false)?;

    // --- a plugin that is not installed -------------------------------------------------------
    let missing = json!({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "skiff-no-such-credential-plugin",
        "args": ["token"],
    }});
    let kc = kubeconfig(dir.path(), "missing", &bed, &missing, None)?;
    let (plugin_named, reason, text) = credentials_error(connect(&kc).await.expect_err("no such plugin"))?;
    assert_eq!(plugin_named, "skiff-no-such-credential-plugin");
    ensure!(reason.starts_with("it could not be started"), "{reason}");
    assert_eq!(
        text,
        format!("get credentials from skiff-no-such-credential-plugin: {reason}")
    );

    // --- proxy-url: HTTP CONNECT, with proxy credentials, and SOCKS5 ----------------------------
    let token_user = json!({"token": bed.admin_token()});
    let proxy = TunnelProxy::start(None).await?;
    let kc = kubeconfig(
        dir.path(),
        "http-proxy",
        &bed,
        &token_user,
        Some(&proxy.http_url()),
    )?;
    let (_, names) = discover_and_list(&connect(&kc).await?).await?;
    ensure!(names.contains(&"kube-system".to_owned()), "{names:?}");
    ensure!(proxy.stats().http_connects >= 1, "{:?}", proxy.stats());
    let kc = kubeconfig(dir.path(), "socks5", &bed, &token_user, Some(&proxy.socks5_url()))?;
    let (_, names) = discover_and_list(&connect(&kc).await?).await?;
    ensure!(names.contains(&"kube-system".to_owned()), "{names:?}");
    ensure!(proxy.stats().socks5_connects >= 1, "{:?}", proxy.stats());
    assert_eq!(proxy.stats().refused, 0);

    // An exec plugin through a proxy that wants credentials (given in the proxy URL).
    let guarded = TunnelProxy::start(Some(("skiff", "proxy-secret"))).await?;
    let with_auth = guarded
        .http_url()
        .replace("http://", "http://skiff:proxy-secret@");
    let kc = kubeconfig(
        dir.path(),
        "proxy-auth",
        &bed,
        &json!({"exec": plugin.exec("client.authentication.k8s.io/v1", &bed, None, false)}),
        Some(&with_auth),
    )?;
    let (_, names) = discover_and_list(&connect(&kc).await?).await?;
    ensure!(names.contains(&"kube-system".to_owned()), "{names:?}");
    ensure!(guarded.stats().http_connects >= 1, "{:?}", guarded.stats());
    assert_eq!(guarded.stats().refused, 0);
    // Without them the proxy refuses the tunnel, and nothing reaches the server.
    let kc = kubeconfig(
        dir.path(),
        "proxy-noauth",
        &bed,
        &token_user,
        Some(&guarded.http_url()),
    )?;
    let err = discover_and_list(&connect(&kc).await?)
        .await
        .expect_err("the proxy wants credentials");
    ensure!(guarded.stats().refused >= 1, "{:?} / {err:#}", guarded.stats());
    Ok(())
}
