//! WATCH: a stream of changes to one resource type from a resourceVersion, as raw JSON objects.
//!
//! `GET <collection>?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N`; the
//! server streams one JSON event per line. The caller resumes from the last resourceVersion it
//! saw (an object's or a bookmark's) when the stream ends. A resourceVersion older than the
//! server keeps (etcd compaction, the watch cache's window) ends the watch with **410 Gone**:
//! either the whole request fails with it ([`KubeError::is_expired`]) or an `ERROR` event
//! carries it ([`WatchEvent::Error`] with code 410); both mean "list again".
//!
//! A watch is long-lived: it does not hold a slot of the run's limiter while it streams.

// Kubernetes field names (resourceVersion) appear as prose in these docs.
#![allow(clippy::doc_markdown)]

use futures::{Stream, StreamExt};
use serde_json::{Map, Value};

use crate::cluster::{Cluster, Query, collection_path, context};
use crate::error::{ApiStatus, KubeError, RequestContext, Result, Verb};
use crate::surface::ApiResourceInfo;

/// What to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Namespace; `None` watches all namespaces (ignored for cluster-scoped resources).
    pub namespace: Option<String>,
    /// Label selector.
    pub label_selector: Option<String>,
    /// Start after this resourceVersion (`None`: the server's choice, "any").
    pub resource_version: Option<String>,
    /// Ask the server to end the stream after this many seconds (then resume).
    pub timeout_seconds: u32,
    /// Ask for BOOKMARK events (the resourceVersion moves on quiet types).
    pub bookmarks: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            label_selector: None,
            resource_version: None,
            timeout_seconds: 290,
            bookmarks: true,
        }
    }
}

/// One event of a watch. Objects carry `apiVersion` and `kind`.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// An object was created.
    Added(Value),
    /// An object was changed.
    Modified(Value),
    /// An object was deleted (its last state).
    Deleted(Value),
    /// Nothing changed up to this resourceVersion.
    Bookmark(String),
    /// The server ended the watch with an error (code 410: the resourceVersion is too old).
    Error(ApiStatus),
}

impl WatchEvent {
    /// The resourceVersion the event brings the watch to (`None` for errors).
    pub fn resource_version(&self) -> Option<&str> {
        match self {
            Self::Added(o) | Self::Modified(o) | Self::Deleted(o) => {
                o.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            }
            Self::Bookmark(rv) => Some(rv),
            Self::Error(_) => None,
        }
    }

    /// Whether this is an error event with code 410 (list again).
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Error(s) if s.code == 410)
    }
}

/// Convert one raw event of kube's stream.
fn convert(ev: kube::core::WatchEvent<Map<String, Value>>, res: &ApiResourceInfo) -> WatchEvent {
    use kube::core::WatchEvent as K;
    let complete = |mut m: Map<String, Value>| {
        if !m.contains_key("apiVersion") {
            m.insert("apiVersion".into(), Value::String(res.api_version()));
        }
        if !m.contains_key("kind") && !res.kind.is_empty() {
            m.insert("kind".into(), Value::String(res.kind.clone()));
        }
        Value::Object(m)
    };
    match ev {
        K::Added(m) => WatchEvent::Added(complete(m)),
        K::Modified(m) => WatchEvent::Modified(complete(m)),
        K::Deleted(m) => WatchEvent::Deleted(complete(m)),
        K::Bookmark(b) => WatchEvent::Bookmark(b.metadata.resource_version),
        K::Error(s) => WatchEvent::Error(status_of(&s)),
    }
}

fn status_of(s: &kube::core::Status) -> ApiStatus {
    ApiStatus {
        code: s.code,
        reason: s.reason.clone(),
        message: s.message.clone(),
        causes: Vec::new(),
        attempts: 1,
    }
}

fn kube_error(e: kube::Error, ctx: &RequestContext) -> KubeError {
    match e {
        kube::Error::Api(s) => KubeError::Api {
            ctx: Box::new(ctx.clone()),
            status: Box::new(status_of(&s)),
        },
        other => KubeError::Transport {
            ctx: Box::new(ctx.clone()),
            attempts: 1,
            source: other,
        },
    }
}

impl Cluster {
    /// Start a watch of `res`. The request fails with 410 ([`KubeError::is_expired`]) when the
    /// resourceVersion is too old for the server to answer at all; the stream's items are the
    /// events, or the error that cut the stream (a transport failure: resume from the last
    /// resourceVersion seen). The stream ends when the server closes it (`timeout_seconds`).
    pub async fn watch(
        &self,
        res: &ApiResourceInfo,
        opts: &WatchOptions,
    ) -> Result<impl Stream<Item = Result<WatchEvent>> + Send + 'static + use<>> {
        let ctx = context(Verb::Watch, res, opts.namespace.as_deref());
        let mut path = collection_path(res, opts.namespace.as_deref(), &ctx, false)?;
        let mut q = Query::default();
        q.push("watch", "1");
        if let Some(rv) = &opts.resource_version {
            q.push("resourceVersion", rv);
        }
        if opts.bookmarks {
            q.push("allowWatchBookmarks", "true");
        }
        q.push("timeoutSeconds", &opts.timeout_seconds.max(1).to_string());
        if let Some(s) = &opts.label_selector {
            q.push("labelSelector", s);
        }
        q.append_to(&mut path);
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| KubeError::InvalidRequest {
                ctx: Box::new(ctx.clone()),
                detail: e.to_string(),
            })?;
        let stream = self
            .kube_client()
            .request_events::<Map<String, Value>>(request)
            .await
            .map_err(|e| kube_error(e, &ctx))?;
        let res = res.clone();
        Ok(stream
            .map(
                move |r: kube::Result<kube::core::WatchEvent<Map<String, Value>>>| match r {
                    Ok(ev) => Ok(convert(ev, &res)),
                    Err(e) => Err(kube_error(e, &ctx)),
                },
            )
            .boxed())
    }
}
