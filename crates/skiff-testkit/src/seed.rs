//! Seeding a cluster with a generated workload, and the roofline probes the benchmarks compare
//! against.
//!
//! [`seed`] creates [`workload::generate`]'s objects through the API as raw JSON (nothing is
//! round-tripped through typed structs), with bounded concurrency, in dependency waves: CRDs
//! (then waits until they are `Established`), cluster-scoped objects and namespaces,
//! `ServiceAccounts`, every other namespaced object, and admission webhooks last. Objects that
//! already exist are counted, not failed, so seeding twice is harmless.
//!
//! [`raw_list_rate`] and [`raw_create_rate`] measure what the bed itself can do (paged LIST and
//! concurrent creates with no client-side work), the ceiling skiff's own numbers are read against.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _, stream};
use http::Request;
use serde_json::{Value, json};

use crate::bed::{Error, Result};
use crate::workload::{self, Size, Workload};

/// Requests in flight while seeding, unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// What [`seed`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Objects in the workload.
    pub objects: usize,
    /// Objects created, per kind.
    pub created: BTreeMap<String, usize>,
    /// Objects that already existed (left as they were).
    pub existed: usize,
    /// Wall-clock time of the whole seeding, CRD waits included.
    pub elapsed: Duration,
}

impl SeedReport {
    /// Objects created, all kinds.
    pub fn total_created(&self) -> usize {
        self.created.values().sum()
    }
}

/// Generates the `(size, seed)` workload and creates it in the cluster with
/// [`DEFAULT_CONCURRENCY`] requests in flight.
pub async fn seed(client: &kube::Client, size: Size, seed: u64) -> Result<SeedReport> {
    seed_workload(client, &workload::generate(size, seed), DEFAULT_CONCURRENCY).await
}

/// Creates an already generated workload with at most `concurrency` requests in flight.
pub async fn seed_workload(
    client: &kube::Client,
    workload: &Workload,
    concurrency: usize,
) -> Result<SeedReport> {
    let begin = Instant::now();
    let mut waves: [Vec<(usize, &Value)>; 5] = Default::default();
    for (index, obj) in workload.objects.iter().enumerate() {
        let kind = obj["kind"].as_str().unwrap_or_default();
        let wave = match kind {
            "CustomResourceDefinition" => 0,
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => 4,
            "ServiceAccount" => 2,
            _ if obj["metadata"]["namespace"].is_string() => 3,
            _ => 1,
        };
        waves[wave].push((index, obj));
    }
    let mut report = SeedReport {
        objects: workload.objects.len(),
        ..SeedReport::default()
    };
    for (wave_no, wave) in waves.iter().enumerate() {
        let outcomes: Vec<(String, bool)> = stream::iter(wave.iter().copied())
            .map(|(index, obj)| async move {
                let created = create_one(client, index, obj).await?;
                Ok::<_, Error>((obj["kind"].as_str().unwrap_or_default().to_owned(), created))
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        for (kind, created) in outcomes {
            if created {
                *report.created.entry(kind).or_default() += 1;
            } else {
                report.existed += 1;
            }
        }
        if wave_no == 0 {
            for (_, crd) in wave {
                let name = crd["metadata"]["name"].as_str().unwrap_or_default();
                wait_crd_established(client, name, Duration::from_secs(60)).await?;
            }
        }
    }
    report.elapsed = begin.elapsed();
    tracing::info!(objects = report.objects, created = report.total_created(), existed = report.existed,
        elapsed = ?report.elapsed, "workload seeded");
    Ok(report)
}

/// The collection path (`/api/v1/namespaces/ns/configmaps`, `/apis/apps/v1/deployments`, …) of
/// a generated object, from the workload's static resource table.
pub fn collection_path(index: usize, obj: &Value) -> Result<String> {
    let info = workload::resource_info(obj).ok_or_else(|| Error::UnknownKind {
        api_version: obj["apiVersion"].as_str().unwrap_or_default().to_owned(),
        kind: obj["kind"].as_str().unwrap_or_default().to_owned(),
    })?;
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let plural = info
        .group_resource
        .split_once('.')
        .map_or(info.group_resource, |(plural, _)| plural);
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    if info.namespaced {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .ok_or_else(|| Error::BadObject {
                index,
                reason: "namespaced object without metadata.namespace".into(),
            })?;
        Ok(format!("{prefix}/namespaces/{ns}/{plural}"))
    } else {
        Ok(format!("{prefix}/{plural}"))
    }
}

/// The object path (collection path + `/name`) of a generated object.
pub fn object_path(obj: &Value) -> Result<String> {
    let name = obj["metadata"]["name"].as_str().ok_or_else(|| Error::BadObject {
        index: 0,
        reason: "object without metadata.name".into(),
    })?;
    Ok(format!("{}/{name}", collection_path(0, obj)?))
}

/// POSTs one object; `Ok(false)` when it already existed.
async fn create_one(client: &kube::Client, index: usize, obj: &Value) -> Result<bool> {
    let path = collection_path(index, obj)?;
    let body = serde_json::to_vec(obj).map_err(|e| Error::BadObject {
        index,
        reason: e.to_string(),
    })?;
    match post_json(client, &path, body).await {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(source) => Err(Error::Kube {
            what: format!(
                "create {} {}/{}",
                obj["kind"].as_str().unwrap_or_default(),
                obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                obj["metadata"]["name"].as_str().unwrap_or_default(),
            ),
            source,
        }),
    }
}

async fn post_json(client: &kube::Client, path: &str, body: Vec<u8>) -> kube::Result<()> {
    let req = Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("a POST with a path is a valid request");
    client.request_text(req).await.map(drop)
}

async fn get_json(client: &kube::Client, path: &str) -> Result<Value> {
    let req = Request::get(path)
        .body(Vec::new())
        .map_err(|_| Error::BadUrl { url: path.into() })?;
    client.request::<Value>(req).await.map_err(|source| Error::Kube {
        what: format!("get {path}"),
        source,
    })
}

/// Waits until the CRD `name` has the condition `Established=True`.
pub async fn wait_crd_established(client: &kube::Client, name: &str, timeout: Duration) -> Result<()> {
    let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    let begin = Instant::now();
    loop {
        let crd = get_json(client, &path).await?;
        let established = crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        if established {
            return Ok(());
        }
        if begin.elapsed() > timeout {
            return Err(Error::Timeout {
                what: format!("crd {name} established"),
                waited: begin.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A measured rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Objects listed or created.
    pub objects: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
}

impl Rate {
    /// Objects per second.
    pub fn per_sec(&self) -> f64 {
        self.objects as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Page size of LISTs (design §4: 500 costs the apiserver the same seats as 5000).
pub const LIST_PAGE: usize = 500;

/// Lists each collection path (e.g. `/api/v1/secrets`, `/apis/apps/v1/namespaces/x/deployments`)
/// with paged LIST (`limit=500`, following `continue`), one collection after another, and returns
/// the objects seen per second. Items are decoded as JSON (counted, not kept).
pub async fn raw_list_rate(client: &kube::Client, collections: &[String]) -> Result<Rate> {
    let begin = Instant::now();
    let mut objects = 0u64;
    for collection in collections {
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("{collection}?limit={LIST_PAGE}");
            if let Some(t) = &token {
                path.push_str("&continue=");
                path.push_str(&encode_query(t));
            }
            let page = get_json(client, &path).await?;
            objects += page["items"].as_array().map_or(0, Vec::len) as u64;
            token = page["metadata"]["continue"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(Rate {
        objects,
        elapsed: begin.elapsed(),
    })
}

fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Kind created by [`raw_create_rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// `ConfigMaps` with one ~1 KiB value.
    ConfigMap,
    /// Opaque `Secrets` with one ~1 KiB value.
    Secret,
}

/// Creates `n` objects of `kind` with `concurrency` requests in flight in a fresh scratch
/// namespace (`skiff-probe-<random>`, deleted afterwards without waiting) and returns the
/// creates per second (namespace creation not included).
pub async fn raw_create_rate(
    client: &kube::Client,
    kind: ProbeKind,
    n: usize,
    concurrency: usize,
) -> Result<Rate> {
    let ns = format!("skiff-probe-{:08x}", rand::random::<u32>());
    let ns_obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    post_json(
        client,
        "/api/v1/namespaces",
        serde_json::to_vec(&ns_obj).unwrap_or_default(),
    )
    .await
    .map_err(|source| Error::Kube {
        what: format!("create namespace {ns}"),
        source,
    })?;
    let payload = "x".repeat(1024);
    let (plural, template) = match kind {
        ProbeKind::ConfigMap => (
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"payload": payload}}),
        ),
        ProbeKind::Secret => (
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {},
                   "stringData": {"payload": payload}}),
        ),
    };
    let path = format!("/api/v1/namespaces/{ns}/{plural}");
    let begin = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let mut obj = template.clone();
            obj["metadata"]["name"] = format!("probe-{i:06}").into();
            let body = serde_json::to_vec(&obj).unwrap_or_default();
            let path = &path;
            async move {
                post_json(client, path, body).await.map_err(|source| Error::Kube {
                    what: format!("create {plural} probe-{i:06}"),
                    source,
                })
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let elapsed = begin.elapsed();
    let req = Request::delete(format!("/api/v1/namespaces/{ns}"))
        .body(Vec::new())
        .expect("a DELETE with a path is a valid request");
    if let Err(error) = client.request_text(req).await {
        tracing::warn!(%error, namespace = %ns, "could not delete the probe namespace");
    }
    Ok(Rate {
        objects: n as u64,
        elapsed,
    })
}
