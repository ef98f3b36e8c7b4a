//! The LIST jobs of a read: raw pages → per item a header parse, Velero's item checks,
//! de-duplication and Go-style JSON transcoded straight from the response bytes (blocking pool)
//! → batches to the consumer. Pods, PVCs and PVs are parsed whole: they pull in related items.

use super::select::{EXCLUDE_LABEL, Selection};
use super::source::{ItemBatch, ReadOptions, ReadState, SelectedItem, Shared, lock, str_at};
use crate::error::{Error, Result};
use crate::offline::chain;
use crate::progress::Progress;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::Value;
use skiff_format::docs::{PvInfo, VolumeInfo};
use skiff_format::gojson;
use skiff_format::path::ItemRef;
use skiff_kube::{ApiResourceInfo, Cluster, ListOptions, RawPage};
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a listing task needs besides the LIST itself (shared by the jobs of one type).
pub(super) struct ListCtx {
    pub res: ApiResourceInfo,
    pub gr: String,
    pub preferred: bool,
    pub is_custom: bool,
    pub sel: Arc<Selection>,
    pub shared: Arc<Shared>,
}

/// One LIST: a type, in one namespace or all, with one label selector or none.
pub(super) struct Job {
    pub ctx: Arc<ListCtx>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
}

/// Run the LIST jobs, `opts.list_concurrency` at once. A LIST that fails with an API error (e.g.
/// forbidden) is recorded and the others go on; any other failure stops them all.
pub(super) async fn run_jobs(
    cluster: &Cluster,
    jobs: Vec<Job>,
    opts: &ReadOptions,
    tx: &mpsc::Sender<ItemBatch>,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    let page_size = opts.page_size;
    futures::stream::iter(jobs.into_iter().map(|job| async move {
        let list_opts = ListOptions {
            namespace: job.namespace.clone(),
            label_selector: job.label_selector.clone(),
            page_size,
            ..ListOptions::default()
        };
        match list_type(cluster, &job.ctx, list_opts, tx, progress, cancel).await {
            Err(e @ Error::Kube(_)) => {
                let msg = format!(
                    "resource: /{} message: /Error listing items error: /{}",
                    job.ctx.gr,
                    chain(&e)
                );
                lock(&job.ctx.shared).outcome.error(job.namespace.as_deref(), msg);
                Ok(())
            }
            other => other,
        }
    }))
    .buffer_unordered(opts.list_concurrency.max(1))
    .try_collect::<()>()
    .await
}

async fn list_type(
    cluster: &Cluster,
    ctx: &Arc<ListCtx>,
    opts: ListOptions,
    tx: &mpsc::Sender<ItemBatch>,
    progress: &dyn Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut pager = cluster.list_pages(&ctx.res, opts.clone());
    let mut count = 0u64;
    loop {
        let page = tokio::select! {
            () = cancel.cancelled() => return Err(Error::Interrupted),
            p = pager.next_raw_page() => p?,
        };
        let Some(page) = page else { break };
        // Items are parsed, checked and encoded one at a time on the blocking pool, so a page
        // never exists as parsed values all at once.
        let task_ctx = ctx.clone();
        let batch = tokio::task::spawn_blocking(move || encode_page(&task_ctx, &page))
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        count += batch.len() as u64;
        deliver(tx, batch, progress).await?;
    }
    if count > 0 {
        let mut fields = vec![("resource".to_string(), ctx.gr.clone())];
        if let Some(ns) = &opts.namespace {
            fields.push(("namespace".into(), ns.clone()));
        }
        lock(&ctx.shared)
            .outcome
            .log(format!("Listed {count} items"), fields);
    }
    Ok(())
}

/// Parse, filter, de-duplicate and encode the items of one raw page (blocking pool).
///
/// Most items take the fast path ([`encode_raw`]): only their header is parsed and their JSON
/// is transcoded to Go's encoding straight from the response bytes. Items whose content the
/// backup reads (pods, PVCs and PVs pull in related items) or that the fast path declines are
/// parsed whole.
fn encode_page(ctx: &ListCtx, page: &RawPage) -> ItemBatch {
    let mut out = Vec::with_capacity(page.len());
    let whole = matches!(
        ctx.gr.as_str(),
        "pods" | "persistentvolumeclaims" | "persistentvolumes"
    );
    for i in 0..page.len() {
        if !whole {
            match encode_raw(ctx, page, i) {
                Fast::Done(Some(e)) => {
                    out.push(e);
                    continue;
                }
                Fast::Done(None) => continue,
                Fast::Declined => {}
            }
        }
        let Some(obj) = page.item(i) else { continue };
        if ctx.sel.skip_reason(&ctx.gr, ctx.res.namespaced, &obj).is_some() {
            continue;
        }
        let ns = if ctx.res.namespaced {
            str_at(&obj, "/metadata/namespace")
        } else {
            None
        };
        let name = str_at(&obj, "/metadata/name").unwrap_or_default();
        {
            let mut st = lock(&ctx.shared);
            if !st.seen.insert(item_hash(ctx, ns, name)) {
                continue; // repeated after a LIST restart, or by another or-selector
            }
            if ctx.preferred {
                note_related(&mut st, &ctx.gr, &obj, ctx.is_custom);
            }
        }
        out.push(encode_item(&ctx.res, ctx.preferred, &obj));
    }
    out
}

fn key_hash(gr: &str, ns: Option<&str>, name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    gr.hash(&mut h);
    ns.hash(&mut h);
    name.hash(&mut h);
    h.finish()
}

/// The de-duplication key of an item at its preferred version (main pass and related items).
pub(super) fn key_hash_any(gr: &str, ns: Option<&str>, name: &str) -> u64 {
    key_hash(&format!("{gr}@*"), ns, name)
}

/// The de-duplication key of an item: other versions of one object are distinct entries.
fn item_hash(ctx: &ListCtx, ns: Option<&str>, name: &str) -> u64 {
    if ctx.preferred {
        key_hash_any(&ctx.gr, ns, name)
    } else {
        key_hash(&format!("{}@{}", ctx.gr, ctx.res.version), ns, name)
    }
}

/// Outcome of the fast path for one item.
enum Fast {
    /// Encoded, or `None` when skipped (filtered out or already seen).
    Done(Option<SelectedItem>),
    /// Take the whole-parse path (nothing was recorded for the item).
    Declined,
}

/// The parts of an item the backup reads when it does not parse it whole.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: HeadMeta<'a>,
}

#[derive(serde::Deserialize, Default)]
struct HeadMeta<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(default)]
    labels: Option<ExcludeLabel>,
    #[serde(default, rename = "deletionTimestamp")]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

/// Whether a label map holds `velero.io/exclude-from-backup: "true"`, read without building it.
struct ExcludeLabel(bool);

impl<'de> serde::Deserialize<'de> for ExcludeLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExcludeLabel;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of labels")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<ExcludeLabel, A::Error> {
                let mut excluded = false;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value = map.next_value::<Cow<'de, str>>()?;
                    if key == EXCLUDE_LABEL {
                        excluded = value == "true";
                    }
                }
                Ok(ExcludeLabel(excluded))
            }
        }
        d.deserialize_map(V)
    }
}

/// The fast path: header parse, filters, transcoding, then de-duplication and bookkeeping.
/// Anything the header parse or the transcoder does not take (odd JSON, duplicate keys,
/// non-string label values) is declined before anything is recorded.
fn encode_raw(ctx: &ListCtx, page: &RawPage, i: usize) -> Fast {
    let Some(raw) = page.raw_item(i) else {
        return Fast::Done(None);
    };
    let Ok(head) = serde_json::from_slice::<Head<'_>>(raw) else {
        return Fast::Declined;
    };
    let meta = &head.metadata;
    let ns = meta.namespace.as_deref().filter(|_| ctx.res.namespaced);
    let excluded = meta.labels.as_ref().is_some_and(|l| l.0);
    if ctx
        .sel
        .skip_reason_of(
            &ctx.gr,
            ctx.res.namespaced,
            excluded,
            meta.deletion_timestamp.is_some(),
            meta.namespace.as_deref().unwrap_or_default(),
        )
        .is_some()
    {
        return Fast::Done(None);
    }
    let mut json = Vec::with_capacity(raw.len() + 64);
    let defaults = [("apiVersion", page.api_version()), ("kind", page.kind())];
    let defaults = if page.kind().is_empty() {
        &defaults[..1]
    } else {
        &defaults[..]
    };
    if gojson::transcode_with(raw, defaults, &mut json).is_none() {
        return Fast::Declined;
    }
    let name = meta.name.as_deref().unwrap_or_default();
    {
        let mut st = lock(&ctx.shared);
        if !st.seen.insert(item_hash(ctx, ns, name)) {
            return Fast::Done(None);
        }
        if ctx.preferred {
            if let Some(ns) = meta.namespace.as_deref().filter(|n| !n.is_empty()) {
                st.namespaces_with_items.insert(ns.to_owned());
            }
            if ctx.gr == "serviceaccounts" {
                if meta.name.is_some() {
                    st.related.service_accounts.insert((
                        meta.namespace.as_deref().unwrap_or_default().to_owned(),
                        name.to_owned(),
                    ));
                }
            } else if ctx.is_custom {
                st.related.custom_types.insert(ctx.gr.clone());
            }
        }
    }
    let item = match ns {
        Some(ns) => ItemRef::namespaced(ctx.gr.as_str(), ns, name),
        None => ItemRef::cluster(ctx.gr.as_str(), name),
    };
    let api_version = head.api_version.as_deref().unwrap_or_else(|| page.api_version());
    let kind = head
        .kind
        .as_deref()
        .or_else(|| Some(page.kind()).filter(|k| !k.is_empty()))
        .unwrap_or(&ctx.res.kind);
    Fast::Done(Some(SelectedItem {
        item,
        version: ctx.res.version.clone(),
        preferred: ctx.preferred,
        list_key: format!("{api_version}/{kind}"),
        json,
    }))
}

/// Record what an item pulls in, and the namespace it contributes to (§4.3, §4.4).
pub(super) fn note_related(st: &mut ReadState, gr: &str, obj: &Value, is_custom: bool) {
    let ns = str_at(obj, "/metadata/namespace").unwrap_or_default().to_string();
    if !ns.is_empty() {
        st.namespaces_with_items.insert(ns.clone());
    }
    match gr {
        "pods" => {
            if let Some(vols) = obj.pointer("/spec/volumes").and_then(Value::as_array) {
                for v in vols {
                    if let Some(claim) = str_at(v, "/persistentVolumeClaim/claimName") {
                        st.related.pvcs.insert((ns.clone(), claim.to_string()));
                    }
                }
            }
            if let Some(pc) = str_at(obj, "/spec/priorityClassName") {
                st.related.priority_classes.insert(pc.to_string());
            }
        }
        "persistentvolumeclaims" => {
            if str_at(obj, "/status/phase") == Some("Bound")
                && let Some(pv) = str_at(obj, "/spec/volumeName")
            {
                st.related.pvs.insert(pv.to_string());
            }
        }
        "persistentvolumes" => {
            st.outcome.volume_info.push(skipped_volume(obj));
        }
        "serviceaccounts" => {
            if let Some(name) = str_at(obj, "/metadata/name") {
                st.related.service_accounts.insert((ns, name.to_string()));
            }
        }
        _ if is_custom => {
            st.related.custom_types.insert(gr.to_string());
        }
        _ => {}
    }
}

/// The volume-info entry Velero writes for a PV backed up as a plain resource.
pub(super) fn skipped_volume(pv: &Value) -> VolumeInfo {
    let labels = pv.pointer("/metadata/labels").cloned().filter(|l| !l.is_null());
    VolumeInfo {
        pvc_name: str_at(pv, "/spec/claimRef/name").unwrap_or_default().into(),
        pvc_namespace: str_at(pv, "/spec/claimRef/namespace").unwrap_or_default().into(),
        pv_name: str_at(pv, "/metadata/name").unwrap_or_default().into(),
        skipped: true,
        skipped_reason: "volumeSnapshot: no applicable volumesnapshotter found;".into(),
        pv_info: Some(PvInfo {
            reclaim_policy: str_at(pv, "/spec/persistentVolumeReclaimPolicy")
                .unwrap_or_default()
                .into(),
            labels: labels.and_then(|l| serde_json::from_value(l).ok()),
            ..PvInfo::default()
        }),
        ..VolumeInfo::default()
    }
}

/// Encode a batch of (small, already fetched) items on the blocking pool and hand it on.
pub(super) async fn send_batch(
    tx: &mpsc::Sender<ItemBatch>,
    res: &ApiResourceInfo,
    preferred: bool,
    items: Vec<Value>,
    progress: &dyn Progress,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let res = res.clone();
    let batch = tokio::task::spawn_blocking(move || {
        items
            .iter()
            .map(|obj| encode_item(&res, preferred, obj))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?;
    deliver(tx, batch, progress).await
}

/// Hand a batch to the consumer (waits while its queue is full).
async fn deliver(tx: &mpsc::Sender<ItemBatch>, batch: ItemBatch, progress: &dyn Progress) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (n, bytes) = (
        batch.len() as u64,
        batch.iter().map(|e| e.json.len() as u64).sum(),
    );
    tx.send(batch)
        .await
        .map_err(|_| Error::Task("item consumer stopped".into()))?;
    progress.advance(n, bytes);
    Ok(())
}

fn encode_item(res: &ApiResourceInfo, preferred: bool, obj: &Value) -> SelectedItem {
    let gr = res.group_resource();
    let name = str_at(obj, "/metadata/name").unwrap_or_default();
    let item = match (res.namespaced, str_at(obj, "/metadata/namespace")) {
        (true, Some(ns)) => ItemRef::namespaced(gr, ns, name),
        _ => ItemRef::cluster(gr, name),
    };
    let kind = str_at(obj, "/kind").unwrap_or(&res.kind);
    let list_key = match str_at(obj, "/apiVersion") {
        Some(av) => format!("{av}/{kind}"),
        None => format!("{}/{kind}", res.api_version()),
    };
    SelectedItem {
        item,
        version: res.version.clone(),
        preferred,
        list_key,
        json: gojson::to_vec(obj),
    }
}
