//! The archive sink: a writer thread that turns [`ItemBatch`]es into tar entries and parallel
//! gzip members streamed into the tarball upload, with skiff's integrity index streamed into its
//! own upload beside it, and the resource list kept front-coded.

use super::keys::KeyList;
use super::source::ItemBatch;
use crate::error::{Error, Result};
use skiff_format::index::IndexStream;
use skiff_format::writer::{ArchiveWriter, WriterOptions};
use skiff_store::bridge::{BlockingWriter, UploadCompletion, blocking_writer};
use skiff_store::layout::{BackupCommit, BackupFile};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Batches queued for the writer thread.
const QUEUE: usize = 2;

/// What the archive sink produced.
pub(super) struct Archived {
    /// Resource list keys (`<apiVersion>/<Kind>` → `ns/name` keys).
    pub resource_list: BTreeMap<String, KeyList>,
    /// Uncompressed item bytes (one copy each).
    pub item_bytes: u64,
    /// Compressed tarball size.
    pub tarball_bytes: u64,
}

/// The writer thread and the two uploads it feeds.
pub(super) struct ArchiveSink {
    tx: mpsc::Sender<ItemBatch>,
    writer: JoinHandle<Result<Written>>,
    failed: Arc<AtomicBool>,
    upload: UploadCompletion,
    index_upload: UploadCompletion,
}

impl ArchiveSink {
    /// Open the tarball and index uploads of `commit` and start the writer thread.
    pub async fn open(commit: &mut BackupCommit<'_>, name: &str, level: u32) -> Result<Self> {
        let runtime = tokio::runtime::Handle::current();
        let tar_key = BackupFile::Tarball.key(name)?;
        let index_key = BackupFile::SkiffIndex.key(name)?;
        let sink = commit.writer(BackupFile::Tarball).await?;
        let (blocking, upload) = blocking_writer(sink, &tar_key, &runtime);
        let index_sink = match commit.writer(BackupFile::SkiffIndex).await {
            Ok(s) => s,
            Err(e) => {
                drop(blocking); // aborts the tarball upload
                let _ = upload.wait().await;
                return Err(e.into());
            }
        };
        let (index_blocking, index_upload) = blocking_writer(index_sink, &index_key, &runtime);
        let (tx, rx) = mpsc::channel::<ItemBatch>(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let writer = {
            let failed = failed.clone();
            tokio::task::spawn_blocking(move || write_archive(blocking, index_blocking, rx, level, &failed))
        };
        Ok(Self {
            tx,
            writer,
            failed,
            upload,
            index_upload,
        })
    }

    /// Where items go.
    pub fn sender(&self) -> mpsc::Sender<ItemBatch> {
        self.tx.clone()
    }

    /// Wait for the writer and the uploads. With `complete` false (the producer failed) the
    /// uploads are aborted and nothing becomes visible; the result is then an error.
    ///
    /// An error other than [`Error::Interrupted`] is the writer's or the store's own failure
    /// (which a producer only sees as a closed channel).
    pub async fn finish(self, complete: bool) -> Result<Archived> {
        let Self {
            tx,
            writer,
            failed,
            upload,
            index_upload,
        } = self;
        if !complete {
            failed.store(true, Ordering::SeqCst);
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| Error::Task(e.to_string()))
            .and_then(|w| w);
        let (tarball, index) = tokio::join!(upload.wait(), index_upload.wait());
        let written = written?;
        let tarball_bytes = tarball?;
        index?;
        Ok(Archived {
            resource_list: written.resource_list,
            item_bytes: written.item_bytes,
            tarball_bytes,
        })
    }
}

/// What the writer thread produced.
struct Written {
    resource_list: BTreeMap<String, KeyList>,
    item_bytes: u64,
}

fn write_archive(
    out: BlockingWriter,
    index_out: BlockingWriter,
    mut rx: mpsc::Receiver<ItemBatch>,
    level: u32,
    failed: &AtomicBool,
) -> Result<Written> {
    let mut w = ArchiveWriter::with_options(
        out,
        WriterOptions {
            level,
            ..WriterOptions::default()
        },
    );
    let mut index = IndexStream::new(index_out)?;
    let mut resource_list: BTreeMap<String, KeyList> = BTreeMap::new();
    let mut item_bytes = 0u64;
    while let Some(batch) = rx.blocking_recv() {
        for e in batch {
            if e.preferred {
                w.add_item(&e.item, &e.version, &e.json)?;
            } else {
                w.add_item_version(&e.item, &e.version, &e.json)?;
            }
            item_bytes += e.json.len() as u64;
            resource_list
                .entry(e.list_key)
                .or_default()
                .push(&e.item.list_key());
        }
        index.push_all(w.take_entries())?;
    }
    if failed.load(Ordering::SeqCst) {
        // Dropping the writers without finishing aborts the uploads: nothing becomes visible.
        return Err(Error::Interrupted);
    }
    let (out, rest) = w.finish()?;
    let finish_err = |what: &str, e| Error::Io {
        op: "finish upload of",
        path: what.into(),
        source: e,
    };
    out.finish().map_err(|e| finish_err("tarball", e))?;
    index
        .finish(rest)?
        .finish()
        .map_err(|e| finish_err("skiff index", e))?;
    Ok(Written {
        resource_list,
        item_bytes,
    })
}
