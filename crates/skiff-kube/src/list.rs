//! Paged LIST: pages of raw JSON items with `apiVersion` and `kind` filled in, continue tokens,
//! and a clean restart from scratch when the server says the continue token expired (410).
//!
//! **Restart contract.** After a 410 the pager starts the LIST again from the first page and marks
//! that page `restarted = true`. Items of the earlier pages will then be delivered again (possibly
//! changed, possibly gone). The caller decides what to do: drop what it collected so far, or
//! dedupe by `metadata.uid` (keeping the newer copy). The pager never dedupes itself — that would
//! mean holding every uid of the LIST in memory.

use futures::Stream;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::cluster::{Call, Cluster, Query, collection_path, context};
use crate::error::{KubeError, RequestContext, Result, Verb, decode_detail};
use crate::surface::ApiResourceInfo;

/// Default page size: the apiserver charges a page of 500 the same flow-control seats as 5000,
/// and 500 keeps pages small in memory.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// Namespace; `None` lists all namespaces (ignored for cluster-scoped resources).
    pub namespace: Option<String>,
    /// Label selector (`app=x,tier!=db`).
    pub label_selector: Option<String>,
    /// Field selector.
    pub field_selector: Option<String>,
    /// Items per page (`limit`).
    pub page_size: u32,
    /// Restarts after 410 Expired allowed before the LIST fails.
    pub max_restarts: u32,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            label_selector: None,
            field_selector: None,
            page_size: DEFAULT_PAGE_SIZE,
            max_restarts: 5,
        }
    }
}

/// One page of a LIST.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Items, each with `apiVersion` and `kind` set.
    pub items: Vec<Value>,
    /// This is the first page of a LIST restarted after 410 Expired: items of earlier pages will
    /// come again (see the module docs).
    pub restarted: bool,
    /// The list's `metadata.resourceVersion` (the snapshot the pages come from).
    pub resource_version: String,
    /// The server's estimate of the items still to come (`metadata.remainingItemCount`).
    pub remaining_item_count: Option<i64>,
    /// No page follows.
    pub last: bool,
}

/// One page of a LIST with its items still as JSON text inside the response body: a page costs
/// about its own size in memory instead of several times more as parsed [`Value`]s. Parse one
/// item at a time with [`RawPage::item`] (or iterate [`RawPage::items`]) and drop it before the
/// next.
#[derive(Debug)]
pub struct RawPage {
    body: bytes::Bytes,
    spans: Vec<std::ops::Range<usize>>,
    /// See [`Page::restarted`].
    pub restarted: bool,
    /// See [`Page::resource_version`].
    pub resource_version: String,
    /// See [`Page::remaining_item_count`].
    pub remaining_item_count: Option<i64>,
    /// No page follows.
    pub last: bool,
    api_version: String,
    kind: String,
}

impl RawPage {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// No items.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Item `i` as the server sent it (built-in types lack `apiVersion` and `kind`).
    pub fn raw_item(&self, i: usize) -> Option<&[u8]> {
        self.spans.get(i).map(|r| &self.body[r.clone()])
    }

    /// The `apiVersion` the items are completed with when they lack one.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The `kind` the items are completed with when they lack one (may be empty).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Item `i` parsed, with `apiVersion` and `kind` filled in; `None` past the end or when the
    /// item is not a JSON object.
    pub fn item(&self, i: usize) -> Option<Value> {
        let map: Map<String, Value> = serde_json::from_slice(self.raw_item(i)?).ok()?;
        Some(complete_item(map, &self.api_version, &self.kind))
    }

    /// The items parsed one at a time (items that are not JSON objects are left out).
    pub fn items(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len()).filter_map(|i| self.item(i))
    }

    /// Every item parsed (what [`ListPager::next_page`] returns).
    pub fn into_page(self) -> Page {
        let items = self.items().collect();
        Page {
            items,
            restarted: self.restarted,
            resource_version: self.resource_version,
            remaining_item_count: self.remaining_item_count,
            last: self.last,
        }
    }
}

/// The light shape a LIST response is parsed into: items are borrowed from the body as raw
/// JSON and only their positions are kept.
#[derive(Debug, Deserialize)]
struct ListBody<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    #[serde(rename = "continue")]
    continue_token: Option<String>,
    resource_version: Option<String>,
    remaining_item_count: Option<i64>,
}

impl ListBody<'_> {
    /// Byte ranges of the items within `body` (the slice this was parsed from).
    fn spans(&self, body: &[u8]) -> Vec<std::ops::Range<usize>> {
        let base = body.as_ptr() as usize;
        self.items
            .iter()
            .flatten()
            .map(|raw| {
                let start = raw.get().as_ptr() as usize - base;
                start..start + raw.get().len()
            })
            .collect()
    }
}

/// Where a pager stands; pure, so the restart logic is testable without a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PagerState {
    continue_token: Option<String>,
    done: bool,
    restarts: u32,
    restart_pending: bool,
    max_restarts: u32,
}

/// What the pager should do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Fetch the next page with this continue token (`None`: the first page).
    Fetch(Option<String>),
    /// The LIST is complete.
    Done,
}

impl PagerState {
    pub(crate) fn new(max_restarts: u32) -> Self {
        Self {
            continue_token: None,
            done: false,
            restarts: 0,
            restart_pending: false,
            max_restarts,
        }
    }

    pub(crate) fn next(&self) -> Step {
        if self.done {
            Step::Done
        } else {
            Step::Fetch(self.continue_token.clone())
        }
    }

    /// A page arrived; returns its `restarted` flag and whether it was the last.
    pub(crate) fn on_page(&mut self, continue_token: Option<String>) -> (bool, bool) {
        let restarted = std::mem::take(&mut self.restart_pending);
        self.continue_token = continue_token.filter(|t| !t.is_empty());
        self.done = self.continue_token.is_none();
        (restarted, self.done)
    }

    /// The server answered 410 to the current request. `Ok` = start again from scratch;
    /// `Err(restarts)` = give up (410 on the first page, or too many restarts).
    pub(crate) fn on_expired(&mut self) -> std::result::Result<(), u32> {
        if self.continue_token.is_none() || self.restarts >= self.max_restarts {
            return Err(self.restarts);
        }
        self.restarts += 1;
        self.continue_token = None;
        self.restart_pending = true;
        Ok(())
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.restarts
    }
}

/// A paged LIST of one resource. Pull pages with [`ListPager::next_page`], or turn it into a
/// stream with [`ListPager::into_stream`].
#[derive(Debug)]
pub struct ListPager {
    cluster: Cluster,
    res: ApiResourceInfo,
    opts: ListOptions,
    ctx: RequestContext,
    state: PagerState,
}

impl Cluster {
    /// Start a paged LIST (no request is sent until the first page is pulled).
    pub fn list_pages(&self, res: &ApiResourceInfo, opts: ListOptions) -> ListPager {
        let ctx = context(Verb::List, res, opts.namespace.as_deref());
        let state = PagerState::new(opts.max_restarts);
        ListPager {
            cluster: self.clone(),
            res: res.clone(),
            opts,
            ctx,
            state,
        }
    }
}

impl ListPager {
    /// How many times this LIST restarted after 410 Expired.
    pub fn restarts(&self) -> u32 {
        self.state.restarts()
    }

    /// The resource being listed.
    pub fn resource(&self) -> &ApiResourceInfo {
        &self.res
    }

    /// The next page, or `None` when the LIST is complete.
    pub async fn next_page(&mut self) -> Result<Option<Page>> {
        Ok(self.next_raw_page().await?.map(RawPage::into_page))
    }

    /// The next page with its items unparsed (see [`RawPage`]), or `None` when the LIST is
    /// complete.
    pub async fn next_raw_page(&mut self) -> Result<Option<RawPage>> {
        loop {
            let Step::Fetch(token) = self.state.next() else {
                return Ok(None);
            };
            let mut path = collection_path(&self.res, self.opts.namespace.as_deref(), &self.ctx, false)?;
            let mut q = Query::default();
            q.push("limit", &self.opts.page_size.max(1).to_string());
            if let Some(t) = &token {
                q.push("continue", t);
            }
            if let Some(s) = &self.opts.label_selector {
                q.push("labelSelector", s);
            }
            if let Some(s) = &self.opts.field_selector {
                q.push("fieldSelector", s);
            }
            q.append_to(&mut path);
            let answer = self.cluster.execute(Call::get(path, &self.ctx)).await?;
            if answer.status == http::StatusCode::GONE {
                let err = answer.into_error(&self.ctx);
                match self.state.on_expired() {
                    Ok(()) => {
                        tracing::info!(ctx = %self.ctx, restarts = self.state.restarts(), "continue token expired; restarting the list");
                        continue;
                    }
                    Err(0) => return Err(err),
                    Err(restarts) => {
                        return Err(KubeError::TooManyRestarts {
                            ctx: Box::new(self.ctx.clone()),
                            restarts,
                        });
                    }
                }
            }
            let answer = answer.error_for_status(&self.ctx)?;
            let body: ListBody<'_> = serde_json::from_slice(&answer.body).map_err(|e| KubeError::Decode {
                ctx: Box::new(self.ctx.clone()),
                detail: decode_detail(&e),
            })?;
            let spans = body.spans(&answer.body);
            let meta = body.metadata;
            let (restarted, last) = self.state.on_page(meta.continue_token);
            return Ok(Some(RawPage {
                body: answer.body,
                spans,
                restarted,
                resource_version: meta.resource_version.unwrap_or_default(),
                remaining_item_count: meta.remaining_item_count,
                last,
                api_version: self.res.api_version(),
                kind: self.res.kind.clone(),
            }));
        }
    }

    /// The pages as a stream (ends after the last page or the first error).
    pub fn into_stream(self) -> impl Stream<Item = Result<Page>> + Send + 'static {
        futures::stream::unfold(Some(self), |pager| async move {
            let mut pager = pager?;
            match pager.next_page().await {
                Ok(Some(page)) => Some((Ok(page), Some(pager))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

/// Fill in `apiVersion` and `kind`, which LIST responses omit on items of built-in types.
fn complete_item(mut item: Map<String, Value>, api_version: &str, kind: &str) -> Value {
    if !item.get("apiVersion").is_some_and(Value::is_string) {
        item.insert("apiVersion".into(), Value::String(api_version.to_owned()));
    }
    if !item.get("kind").is_some_and(Value::is_string) && !kind.is_empty() {
        item.insert("kind".into(), Value::String(kind.to_owned()));
    }
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_until_no_continue_token() {
        let mut s = PagerState::new(3);
        assert_eq!(s.next(), Step::Fetch(None));
        assert_eq!(s.on_page(Some("t1".into())), (false, false));
        assert_eq!(s.next(), Step::Fetch(Some("t1".into())));
        assert_eq!(
            s.on_page(Some(String::new())),
            (false, true),
            "empty token ends the list"
        );
        assert_eq!(s.next(), Step::Done);
    }

    #[test]
    fn expired_token_restarts_from_scratch_and_flags_the_next_page() {
        let mut s = PagerState::new(2);
        s.on_page(Some("t1".into()));
        s.on_page(Some("t2".into()));
        assert_eq!(s.on_expired(), Ok(()));
        assert_eq!(s.next(), Step::Fetch(None), "restart from the first page");
        assert_eq!(
            s.on_page(Some("t1b".into())),
            (true, false),
            "first page after restart is flagged"
        );
        assert_eq!(s.on_page(None), (false, true), "only that page");
        assert_eq!(s.restarts(), 1);
    }

    #[test]
    fn gives_up_after_max_restarts_and_on_first_page() {
        let mut s = PagerState::new(1);
        assert_eq!(
            s.on_expired(),
            Err(0),
            "410 without a continue token is not restartable"
        );
        s.on_page(Some("t".into()));
        assert_eq!(s.on_expired(), Ok(()));
        s.on_page(Some("t".into()));
        assert_eq!(s.on_expired(), Err(1));
    }

    #[test]
    fn items_get_api_version_and_kind() {
        let body = bytes::Bytes::from_static(
            br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc","remainingItemCount":7},
                "items":[{"metadata":{"name":"a"}}, {"apiVersion":"x/v9","kind":"K","metadata":{"name":"b"}},"not-an-object"]}"#,
        );
        let parsed: ListBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.metadata.continue_token.as_deref(), Some("abc"));
        assert_eq!(parsed.metadata.remaining_item_count, Some(7));
        let spans = parsed.spans(&body);
        let page = RawPage {
            body: body.clone(),
            spans,
            restarted: false,
            resource_version: "42".into(),
            remaining_item_count: Some(7),
            last: false,
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
        };
        assert_eq!(page.len(), 3);
        assert_eq!(
            page.raw_item(0).unwrap(),
            br#"{"metadata":{"name":"a"}}"#,
            "spans cut items exactly"
        );
        assert_eq!(
            page.item(0).unwrap(),
            serde_json::json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}})
        );
        assert_eq!(page.item(1).unwrap()["apiVersion"], "x/v9", "present values kept");
        assert!(page.item(2).is_none(), "a non-object item is not an object");
        assert!(page.item(3).is_none());
        assert_eq!(page.into_page().items.len(), 2);
        let empty: ListBody = serde_json::from_str(r#"{"metadata":{},"items":null}"#).unwrap();
        assert!(empty.items.is_none());
        let missing: ListBody = serde_json::from_str(r#"{"metadata":{}}"#).unwrap();
        assert!(missing.spans(b"").is_empty());
    }
}
