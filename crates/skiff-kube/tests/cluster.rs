//! skiff-kube against the real test bed (etcd + kube-apiserver 1.20.2 + controller-manager on
//! loopback, started by skiff-testkit). Needs the binaries built by
//! `bash scripts/provision-testbed.sh`; without them the bed fails to start and these tests fail
//! loudly with that hint — they never skip.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};
use skiff_kube::{
    ApiResourceInfo, ApiSurface, Cluster, ClusterConfig, KubeError, LimiterConfig, ListOptions,
    NamespaceState,
};
use skiff_testkit::bed::{BedOptions, TestBed};
use skiff_testkit::proxy::{FaultProxy, Faults};

fn preferred(surface: &ApiSurface, group_resource: &str) -> Result<ApiResourceInfo> {
    surface
        .preferred(group_resource)
        .cloned()
        .with_context(|| format!("{group_resource} not discovered"))
}

async fn connect(bed: &TestBed) -> Result<Cluster> {
    Ok(Cluster::connect(
        &ClusterConfig::from_kubeconfig(bed.kubeconfig_path()),
        LimiterConfig::default(),
    )
    .await?)
}

async fn create_namespace(cluster: &Cluster, ns_res: &ApiResourceInfo, name: &str) -> Result<()> {
    cluster
        .create(
            ns_res,
            None,
            &json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":name}}),
            false,
        )
        .await?;
    Ok(())
}

fn config_map(ns: &str, name: &str, label: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"skiff-test": label}},
        "data": {"a": "1"}
    })
}

/// Create `n` config maps `cm-0000…` concurrently; returns their names.
async fn seed_config_maps(
    cluster: &Cluster,
    cm: &ApiResourceInfo,
    ns: &str,
    n: usize,
    label: &str,
) -> Result<BTreeSet<String>> {
    let names: BTreeSet<String> = (0..n).map(|i| format!("cm-{i:04}")).collect();
    futures::stream::iter(names.iter().cloned())
        .map(|name| async move {
            match cluster
                .create(cm, Some(ns), &config_map(ns, &name, label), false)
                .await
            {
                Ok(_) => Ok(()),
                // A create retried after a lost answer may find the first attempt's object.
                Err(e) if e.is_already_exists() && e.api_status().is_some_and(|s| s.attempts > 1) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(names)
}

/// Every item of a paged LIST, checking each page's shape.
async fn list_names(
    cluster: &Cluster,
    res: &ApiResourceInfo,
    opts: ListOptions,
) -> Result<(Vec<String>, usize)> {
    let page_size = opts.page_size as usize;
    let mut pager = cluster.list_pages(res, opts);
    let mut names = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pager.next_page().await? {
        page_count += 1;
        ensure!(!page.restarted, "no restart expected");
        ensure!(page.items.len() <= page_size, "page larger than the limit");
        ensure!(
            page.last || page.items.len() == page_size,
            "a non-last page is full"
        );
        for item in &page.items {
            ensure!(
                item["apiVersion"] == res.api_version().as_str(),
                "apiVersion filled in: {item}"
            );
            ensure!(item["kind"] == res.kind.as_str(), "kind filled in: {item}");
            names.push(item["metadata"]["name"].as_str().context("name")?.to_owned());
        }
    }
    Ok((names, page_count))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_paging_writes_and_waits() -> Result<()> {
    let bed = TestBed::start_named("kube-main").await?;
    let cluster = connect(&bed).await?;

    // --- discovery -------------------------------------------------------------------------
    let surface = cluster.discover(false).await?;
    assert_eq!(surface.git_version, "v1.20.2");
    assert_eq!((surface.major.as_str(), surface.minor.as_str()), ("1", "20"));
    assert_eq!(surface.groups[0].name, "", "core group first");
    assert_eq!(surface.groups[0].preferred_version, "v1");
    let group_names: Vec<&str> = surface.groups.iter().map(|g| g.name.as_str()).collect();
    for g in ["apps", "apiextensions.k8s.io", "rbac.authorization.k8s.io"] {
        assert!(group_names.contains(&g), "group {g} in {group_names:?}");
    }
    assert!(surface.failures.is_empty(), "{:?}", surface.failures);
    assert!(
        surface.resources.iter().all(|r| !r.resource.contains('/')),
        "no subresources"
    );
    assert!(surface.resources.iter().all(|r| r.preferred));
    let cm = preferred(&surface, "configmaps")?;
    assert_eq!(
        (cm.version.as_str(), cm.kind.as_str(), cm.namespaced),
        ("v1", "ConfigMap", true)
    );
    assert!(cm.short_names.contains(&"cm".to_owned()) && cm.supports("list") && cm.supports("create"));
    let deploy = preferred(&surface, "deployments.apps")?;
    assert_eq!(
        (deploy.version.as_str(), deploy.kind.as_str()),
        ("v1", "Deployment")
    );
    assert_eq!(surface.resolve("deploy").as_deref(), Some("deployments.apps"));
    let ns_res = preferred(&surface, "namespaces")?;
    assert!(!ns_res.namespaced);
    let crd_res = preferred(&surface, "customresourcedefinitions.apiextensions.k8s.io")?;

    let all = cluster.discover(true).await?;
    assert!(
        all.resources.len() > surface.resources.len(),
        "more versions with all_versions"
    );
    assert!(
        all.versions_of("horizontalpodautoscalers.autoscaling")
            .filter(|r| !r.preferred)
            .count()
            >= 1,
        "non-preferred autoscaling versions are listed"
    );

    // --- paged LIST over > 1000 objects ----------------------------------------------------
    create_namespace(&cluster, &ns_res, "paging").await?;
    let expected = seed_config_maps(&cluster, &cm, "paging", 1100, "paging").await?;
    let opts = ListOptions {
        namespace: Some("paging".into()),
        label_selector: Some("skiff-test=paging".into()),
        page_size: 100,
        ..ListOptions::default()
    };
    let (names, pages) = list_names(&cluster, &cm, opts).await?;
    assert_eq!(names.len(), 1100, "every item exactly once");
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(pages >= 11, "{pages} pages");
    // All namespaces, by label.
    let opts = ListOptions {
        label_selector: Some("skiff-test=paging".into()),
        page_size: 250,
        ..ListOptions::default()
    };
    let (names, _) = list_names(&cluster, &cm, opts).await?;
    assert_eq!(names.len(), 1100);

    // Several resource types at once on clones of one handle, as streams.
    let kinds = [
        "configmaps",
        "secrets",
        "serviceaccounts",
        "clusterroles.rbac.authorization.k8s.io",
        "namespaces",
    ];
    let lists = kinds.iter().map(|gr| {
        let cluster = cluster.clone();
        let res = surface.preferred(gr).cloned().expect("discovered");
        tokio::spawn(async move {
            let pages: Vec<_> = cluster
                .list_pages(
                    &res,
                    ListOptions {
                        page_size: 50,
                        ..ListOptions::default()
                    },
                )
                .into_stream()
                .try_collect()
                .await?;
            Ok::<_, KubeError>(pages.iter().map(|p| p.items.len()).sum::<usize>())
        })
    });
    let counts: Vec<usize> = futures::future::try_join_all(lists)
        .await?
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert!(
        counts[0] >= 1100 && counts[3] > 10 && counts[4] >= 4,
        "{counts:?}"
    );

    // --- writes ------------------------------------------------------------------------------
    create_namespace(&cluster, &ns_res, "writes").await?;
    cluster
        .wait_namespace_ready("writes", Duration::from_secs(30))
        .await?;
    let ns = Some("writes");
    assert!(cluster.get(&cm, ns, "w").await?.is_none());

    let dry = cluster
        .create(&cm, ns, &config_map("writes", "w", "w"), true)
        .await?;
    assert_eq!(dry["metadata"]["name"], "w");
    assert!(
        cluster.get(&cm, ns, "w").await?.is_none(),
        "dry-run create creates nothing"
    );

    let created = cluster
        .create(&cm, ns, &config_map("writes", "w", "w"), false)
        .await?;
    assert!(created["metadata"]["uid"].is_string());
    let again = cluster
        .create(&cm, ns, &config_map("writes", "w", "w"), false)
        .await
        .unwrap_err();
    assert!(again.is_already_exists() && !again.is_retryable(), "{again}");
    assert!(
        again.to_string().contains("already exists"),
        "server message carried: {again}"
    );
    let ctx = again.context().expect("context");
    assert_eq!(
        (ctx.namespace.as_deref(), ctx.name.as_deref()),
        (Some("writes"), Some("w"))
    );

    let fetched = cluster.get(&cm, ns, "w").await?.expect("exists");
    assert_eq!(fetched["data"], json!({"a": "1"}));

    let dry = cluster
        .merge_patch(&cm, ns, "w", &json!({"data": {"b": "2"}}), true)
        .await?;
    assert_eq!(dry["data"]["b"], "2");
    assert!(
        cluster.get(&cm, ns, "w").await?.expect("exists")["data"]
            .get("b")
            .is_none(),
        "dry-run patch changes nothing"
    );
    let patched = cluster
        .merge_patch(&cm, ns, "w", &json!({"data": {"b": "2"}}), false)
        .await?;
    assert_eq!(patched["data"], json!({"a": "1", "b": "2"}));

    // Server-side apply: `a` is owned by the creating manager → a structured conflict.
    let mine = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w","namespace":"writes"},"data":{"a":"mine"}});
    let conflict = cluster
        .apply(&cm, ns, "w", &mine, "skiff-test", false, false)
        .await
        .unwrap_err();
    assert!(conflict.is_conflict() && !conflict.is_retryable(), "{conflict}");
    let fields = conflict.field_conflicts();
    assert!(
        fields.iter().any(|f| f.field == ".data.a" && f.manager.is_some()),
        "{fields:?}"
    );
    let forced = cluster
        .apply(&cm, ns, "w", &mine, "skiff-test", true, false)
        .await?;
    assert_eq!(forced["data"]["a"], "mine");
    let managers: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"skiff-test"), "{managers:?}");
    // Apply creates when absent; with dry_run it does not.
    let fresh = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fresh","namespace":"writes"},"data":{"x":"y"}});
    cluster
        .apply(&cm, ns, "fresh", &fresh, "skiff-test", false, true)
        .await?;
    assert!(
        cluster.get(&cm, ns, "fresh").await?.is_none(),
        "dry-run apply creates nothing"
    );
    cluster
        .apply(&cm, ns, "fresh", &fresh, "skiff-test", false, false)
        .await?;
    assert_eq!(
        cluster.get(&cm, ns, "fresh").await?.expect("created")["data"]["x"],
        "y"
    );

    cluster.delete(&cm, ns, "w", true).await?;
    assert!(
        cluster.get(&cm, ns, "w").await?.is_some(),
        "dry-run delete deletes nothing"
    );
    cluster.delete(&cm, ns, "w", false).await?;
    assert!(cluster.get(&cm, ns, "w").await?.is_none());
    let gone = cluster.delete(&cm, ns, "w", false).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    let invalid = cluster
        .create(&cm, ns, &config_map("writes", "Not_Valid", "w"), false)
        .await
        .unwrap_err();
    assert!(
        invalid.is_invalid() && invalid.status_code() == Some(422),
        "{invalid}"
    );
    let no_ns = cluster.get(&cm, None, "w").await.unwrap_err();
    assert!(matches!(no_ns, KubeError::InvalidRequest { .. }), "{no_ns}");

    // --- CRD established, discovery refresh, a custom resource -------------------------------
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.skiff.test"},
        "spec": {
            "group": "skiff.test",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    cluster.create(&crd_res, None, &crd, false).await?;
    cluster
        .wait_crd_established("widgets.skiff.test", Duration::from_secs(60))
        .await?;
    let widgets = cluster
        .wait_resource_served("skiff.test", "v1", "widgets", Duration::from_secs(60))
        .await?;
    assert_eq!((widgets.kind.as_str(), widgets.namespaced), ("Widget", true));
    assert_eq!(widgets.short_names, ["wg"]);
    let w = json!({"apiVersion":"skiff.test/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":3}});
    cluster.create(&widgets, ns, &w, false).await?;
    let (names, _) = list_names(
        &cluster,
        &widgets,
        ListOptions {
            namespace: Some("writes".into()),
            ..ListOptions::default()
        },
    )
    .await?;
    assert_eq!(names, ["w1"]);
    let timeout = cluster
        .wait_crd_established("nothings.skiff.test", Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(matches!(timeout, KubeError::Timeout { .. }), "{timeout}");

    // --- namespace waits ---------------------------------------------------------------------
    cluster.delete(&ns_res, None, "paging", false).await?;
    let state = cluster.namespace_state("paging").await?;
    assert_ne!(
        state,
        NamespaceState::Active,
        "deleted namespace is terminating or gone"
    );
    let settled = cluster
        .wait_namespace_settled("paging", Duration::from_secs(120))
        .await?;
    assert_eq!(settled, NamespaceState::Absent);
    let never = cluster
        .wait_namespace_ready("never-created", Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(matches!(never, KubeError::Timeout { .. }), "{never}");

    // --- forbidden for the ordinary user -----------------------------------------------------
    let user = Cluster::connect(
        &ClusterConfig {
            context: Some("user".into()),
            ..ClusterConfig::from_kubeconfig(bed.kubeconfig_path())
        },
        LimiterConfig::default(),
    )
    .await?;
    let secrets = preferred(&surface, "secrets")?;
    let denied = user
        .list_pages(&secrets, ListOptions::default())
        .next_page()
        .await
        .unwrap_err();
    assert!(denied.is_forbidden() && !denied.is_retryable(), "{denied}");

    // --- an aggregated API whose backend is absent does not abort discovery -----------------
    let apiservices = preferred(&surface, "apiservices.apiregistration.k8s.io")?;
    let apiservice = json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.broken.skiff.test"},
        "spec": {"group": "broken.skiff.test", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
                 "insecureSkipTLSVerify": true, "service": {"namespace": "default", "name": "absent", "port": 443}}
    });
    cluster.create(&apiservices, None, &apiservice, false).await?;
    let mut failed = None;
    for _ in 0..40 {
        let s = cluster.discover(false).await?;
        if let Some(f) = s
            .failures
            .iter()
            .find(|f| f.group_version == "broken.skiff.test/v1beta1")
        {
            assert!(
                s.preferred("configmaps").is_some(),
                "other groups still discovered"
            );
            failed = Some(f.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let failed = failed.context("the broken aggregated group is recorded as a discovery failure")?;
    // The aggregator answers 503 (backend unreachable) or 404 (service not found).
    assert!(matches!(failed.status_code, Some(404 | 503)), "{failed:?}");

    let counters = cluster.stats();
    assert!(
        counters.requests > 1100 && counters.in_flight == 0,
        "{counters:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_errors_and_drops_are_retried() -> Result<()> {
    let bed = TestBed::start_named("kube-faults").await?;
    let proxy = FaultProxy::for_bed(&bed).await?;
    let dir = tempfile_dir("faults")?;
    let kubeconfig = dir.join("kubeconfig");
    proxy.write_kubeconfig(&bed, &kubeconfig)?;
    let limiter = LimiterConfig {
        base_backoff: Duration::from_millis(20),
        ..LimiterConfig::default()
    };
    let cluster = Cluster::connect(&ClusterConfig::from_kubeconfig(&kubeconfig), limiter).await?;

    let surface = cluster.discover(false).await?;
    let cm = preferred(&surface, "configmaps")?;
    let ns_res = preferred(&surface, "namespaces")?;
    create_namespace(&cluster, &ns_res, "faults").await?;

    proxy.set_faults(
        Faults::none()
            .throttle_every(10, 1)
            .error_every(7, 503)
            .drop_every(13),
    );
    let expected = seed_config_maps(&cluster, &cm, "faults", 150, "faults").await?;
    let opts = ListOptions {
        namespace: Some("faults".into()),
        label_selector: Some("skiff-test=faults".into()),
        page_size: 10,
        ..ListOptions::default()
    };
    let (names, _) = list_names(&cluster, &cm, opts).await?;
    assert_eq!(names.len(), 150, "every object listed once through the faults");
    assert_eq!(names.into_iter().collect::<BTreeSet<_>>(), expected);

    let injected = proxy.stats();
    let stats = cluster.stats();
    assert!(
        injected.throttled > 0 && injected.errors > 0 && injected.dropped > 0,
        "{injected:?}"
    );
    assert_eq!(
        stats.throttles, injected.throttled,
        "every injected 429 seen: {stats:?}"
    );
    assert_eq!(stats.server_errors, injected.errors, "{stats:?}");
    assert!(
        stats.transport_errors >= 1 && stats.retries >= injected.throttled + injected.errors,
        "{stats:?}"
    );

    // Bounded attempts: with every request failing, the error surfaces as retryable.
    proxy.set_faults(Faults::none().error_every(1, 503));
    let strict = cluster.with_limiter(skiff_kube::Limiter::new(LimiterConfig {
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        ..LimiterConfig::default()
    }));
    let err = strict.get(&cm, Some("faults"), "cm-0000").await.unwrap_err();
    assert!(err.is_retryable() && err.status_code() == Some(503), "{err}");
    assert_eq!(err.api_status().map(|s| s.attempts), Some(3));
    assert_eq!(strict.stats().retries, 2);

    // An answer slower than the request timeout is a (retryable) transport failure.
    proxy.set_faults(Faults::none().latency(Duration::from_secs(30)));
    let impatient = Cluster::connect(
        &ClusterConfig {
            request_timeout: Some(Duration::from_millis(300)),
            ..ClusterConfig::from_kubeconfig(&kubeconfig)
        },
        LimiterConfig {
            max_attempts: 2,
            base_backoff: Duration::from_millis(1),
            ..LimiterConfig::default()
        },
    )
    .await?;
    let err = tokio::time::timeout(Duration::from_secs(20), impatient.server_version())
        .await
        .context("the request timeout did not fire")?
        .unwrap_err();
    assert!(
        matches!(err, KubeError::Transport { attempts: 2, .. }) && err.is_retryable(),
        "{err}"
    );
    proxy.set_faults(Faults::none());
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_continue_token_restarts_the_list() -> Result<()> {
    // etcd compaction every second makes a continue token older than ~2 s expire (410).
    let options = BedOptions {
        controller_manager: false,
        apiserver_args: vec!["--etcd-compaction-interval=1s".into()],
        ..BedOptions::named("kube-expire")
    };
    let bed = TestBed::start_with(options).await?;
    let cluster = connect(&bed).await?;
    let surface = cluster.discover(false).await?;
    let cm = preferred(&surface, "configmaps")?;
    create_namespace(&cluster, &preferred(&surface, "namespaces")?, "expire").await?;
    let expected = seed_config_maps(&cluster, &cm, "expire", 30, "expire").await?;

    let opts = ListOptions {
        namespace: Some("expire".into()),
        label_selector: Some("skiff-test=expire".into()),
        page_size: 10,
        ..ListOptions::default()
    };
    let mut found = None;
    for attempt in 0..4 {
        let mut pager = cluster.list_pages(&cm, opts.clone());
        let first = pager.next_page().await?.context("first page")?;
        assert_eq!(first.items.len(), 10);
        // Move the revision on every second so each compaction passes the list's snapshot.
        for tick in 0..4 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let patch = json!({"data": {"tick": format!("{attempt}-{tick}")}});
            cluster
                .merge_patch(&cm, Some("expire"), "cm-0000", &patch, false)
                .await?;
        }
        let page = pager.next_page().await?.context("a page after the pause")?;
        if page.restarted {
            found = Some((pager, page));
            break;
        }
    }
    let (mut pager, page) = found.context("a 410 was provoked and the list restarted")?;
    assert_eq!(pager.restarts(), 1);
    let name = |i: &Value| i["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let mut after_restart: BTreeSet<String> = page.items.iter().map(name).collect();
    assert_eq!(page.items.len(), 10, "the restart begins at the first page");
    while let Some(page) = pager.next_page().await? {
        assert!(!page.restarted);
        after_restart.extend(page.items.iter().map(name));
    }
    assert_eq!(after_restart, expected, "the restarted list is complete");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verification_is_on_by_default() -> Result<()> {
    let bed = TestBed::start_with(BedOptions {
        controller_manager: false,
        ..BedOptions::named("kube-tls")
    })
    .await?;
    let dir = tempfile_dir("tls")?;
    // The bed's server with no CA: the self-signed certificate must be refused.
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
            bed.server_url()
        ),
    )?;
    let limiter = LimiterConfig {
        max_attempts: 1,
        ..LimiterConfig::default()
    };
    let cluster = Cluster::connect(&ClusterConfig::from_kubeconfig(&kubeconfig), limiter.clone()).await?;
    let err = cluster.server_version().await.unwrap_err();
    assert!(matches!(err, KubeError::Transport { .. }), "{err}");
    // With the bed's kubeconfig (its CA) the same server answers.
    let ok = Cluster::connect(&ClusterConfig::from_kubeconfig(bed.kubeconfig_path()), limiter).await?;
    assert_eq!(ok.server_version().await?.git_version, "v1.20.2");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

fn tempfile_dir(tag: &str) -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("skiff-kube-it-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
