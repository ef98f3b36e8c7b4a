//! Loading: a backup's items into the compressed item store, ready for the planner.

use super::item::{BackupItem, ItemKey};
use super::json::{JsonDict, RawJson};
use crate::error::{Error, Result};
use crate::offline::{BackupSource, for_each_entry};
use crate::progress::Progress;
use serde_json::Value;
use skiff_format::path::VersionDir;
use skiff_format::reader::EntryKind;
use std::sync::{Arc, Mutex};

/// An item's key, borrowed.
fn item_key(i: &BackupItem) -> (&String, &Option<String>, &String) {
    (&i.group_resource, &i.namespace, &i.name)
}

/// JSON bytes read before a compression dictionary is trained on them.
const DICT_SAMPLE_BYTES: usize = 1 << 20;
/// Items read before a compression dictionary is trained on them (with the bytes above).
const DICT_SAMPLE_ITEMS: usize = 256;

/// The items read so far.
#[derive(Default)]
struct Loading {
    items: Vec<BackupItem>,
    /// Other versions: key, apiVersion, object.
    alts: Vec<(ItemKey, String, RawJson)>,
    /// JSON bytes read while no dictionary was trained.
    plain_bytes: usize,
    /// Whether a dictionary was tried.
    trained: bool,
    dict: Option<Arc<JsonDict>>,
}

impl Loading {
    /// Once enough items are in, trains a dictionary on them and compresses them with it.
    fn maybe_train(&mut self) {
        if self.trained
            || self.plain_bytes < DICT_SAMPLE_BYTES
            || self.items.len() + self.alts.len() < DICT_SAMPLE_ITEMS
        {
            return;
        }
        self.trained = true;
        let samples: Vec<_> = self.items.iter().map(|i| i.object.bytes()).collect();
        self.dict = JsonDict::train(&samples);
        drop(samples);
        if let Some(dict) = &self.dict {
            for i in &mut self.items {
                i.object = i.object.compress(dict);
            }
            for (_, _, o) in &mut self.alts {
                *o = o.compress(dict);
            }
        }
    }
}

/// Read every item of a backup (classic copies, plus other versions as fallbacks).
///
/// Each item is parsed once (to check it and read its `apiVersion`) and kept as compact JSON
/// ([`RawJson`]), never as a parsed tree; after the first MiB of items a zstd dictionary is
/// trained on them and every item is kept compressed with it. Memory grows with the backup's
/// compressed JSON size, not with several times its JSON size.
pub async fn load_items(source: &BackupSource, progress: &dyn Progress) -> Result<Vec<BackupItem>> {
    progress.stage("reading backup", None);
    let acc: Arc<Mutex<Loading>> = Arc::default();
    let a1 = acc.clone();
    for_each_entry(source, progress, move |e| {
        let EntryKind::Item(item, dir) = &e.kind else {
            return Ok(true);
        };
        if matches!(dir, VersionDir::Preferred(_)) {
            return Ok(true); // identical copy of the classic item
        }
        let object: Value = serde_json::from_slice(&e.data).map_err(|source| {
            Error::Format(skiff_format::Error::Json {
                document: e.path.clone(),
                source,
            })
        })?;
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut acc = a1.lock().expect("items lock");
        let raw = RawJson::with_dict(&object, acc.dict.as_ref());
        drop(object);
        if raw.dict().is_none() {
            acc.plain_bytes += e.data.len();
        }
        if *dir == VersionDir::Classic {
            acc.items.push(BackupItem {
                group_resource: item.group_resource.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
                api_version,
                object: raw,
                alt_versions: Vec::new(),
            });
        } else {
            let key = ItemKey {
                group_resource: item.group_resource.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
            };
            acc.alts.push((key, api_version, raw));
        }
        acc.maybe_train();
        Ok(true)
    })
    .await?;
    progress.finish_stage();
    let Loading { mut items, alts, .. } = std::mem::take(&mut *acc.lock().expect("items lock"));
    // In key order; of an item stored twice, the last copy read (as a map insert kept it).
    items.reverse();
    items.sort_by(|a, b| item_key(a).cmp(&item_key(b)));
    items.dedup_by(|later, first| item_key(later) == item_key(first));
    for (k, av, obj) in alts {
        if let Ok(at) = items.binary_search_by(|i| {
            (&i.group_resource, &i.namespace, &i.name).cmp(&(&k.group_resource, &k.namespace, &k.name))
        }) {
            items[at].alt_versions.push((av, obj));
        }
    }
    items.shrink_to_fit();
    Ok(items)
}

/// Read every object in `scope` from a live cluster (the backup pipeline's selection, each
/// group's preferred version) into the same compact item store as [`load_items`]: what
/// `skiff migrate` plans from, with no archive in between.
pub async fn load_live(
    cluster: &skiff_kube::Cluster,
    scope: &crate::scope::Scope,
    progress: &dyn Progress,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Vec<BackupItem>> {
    use crate::backup::source::{ItemBatch, ReadOptions, read_selected};
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ItemBatch>(16);
    let collect = async move {
        let mut acc = Loading::default();
        while let Some(batch) = rx.recv().await {
            for s in batch.into_iter().filter(|s| s.preferred) {
                let object: Value = serde_json::from_slice(&s.json).map_err(|source| {
                    Error::Format(skiff_format::Error::Json {
                        document: s.item.to_string(),
                        source,
                    })
                })?;
                let api_version = object
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let raw = RawJson::with_dict(&object, acc.dict.as_ref());
                if raw.dict().is_none() {
                    acc.plain_bytes += s.json.len();
                }
                acc.items.push(BackupItem {
                    group_resource: s.item.group_resource,
                    namespace: s.item.namespace,
                    name: s.item.name,
                    api_version,
                    object: raw,
                    alt_versions: Vec::new(),
                });
                acc.maybe_train();
            }
        }
        Ok::<_, Error>(acc.items)
    };
    let opts = ReadOptions::default();
    let read = read_selected(cluster, scope, false, &opts, tx, progress, cancel);
    let (read, items) = tokio::join!(read, collect);
    read?;
    let mut items = items?;
    items.sort_by(|a, b| item_key(a).cmp(&item_key(b)));
    items.dedup_by(|later, first| item_key(later) == item_key(first));
    items.shrink_to_fit();
    Ok(items)
}
