//! Bridges between the sync format crate (`std::io::Read`/`Write`) and the async store.
//!
//! Use both from blocking threads (`tokio::task::spawn_blocking`), never from an async task:
//! they block the calling thread while the runtime does the I/O.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::store::{BackupStore, ObjectSink};

/// Size of the chunks handed to the async sink.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Chunks buffered between the writer and the sink (memory bound ≈ `CHUNK_SIZE * (CHANNEL_DEPTH + 1)`
/// plus the sink's own parts in flight).
pub const CHANNEL_DEPTH: usize = 4;

enum Msg {
    Data(Bytes),
    Finish,
}

/// A blocking [`io::Write`] feeding an [`ObjectSink`] on the runtime. Call
/// [`finish`](BlockingWriter::finish) to complete the upload; dropping the writer without it
/// aborts the upload (nothing becomes visible).
#[derive(Debug)]
pub struct BlockingWriter {
    tx: Option<mpsc::Sender<Msg>>,
    buf: BytesMut,
    key: String,
}

/// Completion of a [`BlockingWriter`]'s upload.
#[derive(Debug)]
pub struct UploadCompletion {
    task: JoinHandle<Result<u64>>,
    key: String,
}

impl UploadCompletion {
    /// Waits for the upload to finish; returns the object's size. Reports the sink's error (e.g.
    /// S3 refused a part) or [`Error::Aborted`] if the writer was dropped without finishing.
    pub async fn wait(self) -> Result<u64> {
        self.task.await.map_err(|e| Error::Remote {
            op: crate::error::Op::PutStream,
            key: self.key,
            code: None,
            status: None,
            retryable: false,
            source: Box::new(e),
        })?
    }
}

/// Wraps `sink` (uploading `key`) into a blocking writer. Chunks go over a bounded channel to a
/// task spawned on `runtime`, so a slow store slows the writer down instead of buffering.
pub fn blocking_writer(
    sink: Box<dyn ObjectSink>,
    key: &str,
    runtime: &Handle,
) -> (BlockingWriter, UploadCompletion) {
    let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_DEPTH);
    let task_key = key.to_owned();
    let task = runtime.spawn(async move {
        let mut sink = sink;
        loop {
            match rx.recv().await {
                Some(Msg::Data(chunk)) => sink.write(chunk).await?,
                Some(Msg::Finish) => return sink.finish().await,
                None => {
                    if let Err(e) = sink.abort().await {
                        tracing::warn!(key = %task_key, error = %e, "could not abort upload");
                    }
                    return Err(Error::Aborted { key: task_key });
                }
            }
        }
    });
    (
        BlockingWriter {
            tx: Some(tx),
            buf: BytesMut::with_capacity(CHUNK_SIZE),
            key: key.to_owned(),
        },
        UploadCompletion {
            task,
            key: key.to_owned(),
        },
    )
}

impl BlockingWriter {
    fn send(&mut self, msg: Msg) -> io::Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("writer already finished"))?;
        tx.blocking_send(msg).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("upload of {:?} failed; its completion reports why", self.key),
            )
        })
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK_SIZE);
        self.send(Msg::Data(chunk))
    }

    /// Sends the remaining bytes and asks the sink to complete the upload. Wait on the
    /// [`UploadCompletion`] for the result.
    pub fn finish(mut self) -> io::Result<()> {
        self.send_buffered()?;
        self.send(Msg::Finish)?;
        self.tx = None;
        Ok(())
    }
}

impl io::Write for BlockingWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_SIZE - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK_SIZE {
            self.send_buffered()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Data is handed to the sink in chunks; there is nothing durable to flush before finish.
        Ok(())
    }
}

/// Opens `key` for blocking reads: returns a [`io::Read`] to use inside `spawn_blocking`.
/// Must be called from within the runtime (the reader remembers its handle).
pub async fn blocking_reader(store: &dyn BackupStore, key: &str) -> Result<impl io::Read + Send + use<>> {
    let reader = store.get_reader(key).await?;
    Ok(tokio_util::io::SyncIoBridge::new_with_handle(
        reader,
        Handle::current(),
    ))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::local::LocalStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trip_and_abort() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();

        let sink = store.put_writer("x/obj").await.unwrap();
        let (mut w, done) = blocking_writer(sink, "x/obj", &Handle::current());
        let d = data.clone();
        tokio::task::spawn_blocking(move || {
            for c in d.chunks(7777) {
                w.write_all(c)?;
            }
            w.finish()
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(done.wait().await.unwrap(), data.len() as u64);

        let mut r = blocking_reader(&store, "x/obj").await.unwrap();
        let back = tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(back, data);

        // Dropped without finish: aborted, nothing visible.
        let sink = store.put_writer("x/aborted").await.unwrap();
        let (mut w, done) = blocking_writer(sink, "x/aborted", &Handle::current());
        tokio::task::spawn_blocking(move || {
            w.write_all(&vec![1; 2_500_000]).unwrap();
            drop(w);
        })
        .await
        .unwrap();
        assert!(matches!(done.wait().await, Err(Error::Aborted { .. })));
        assert!(store.head("x/aborted").await.unwrap().is_none());
        assert_eq!(store.list("").await.unwrap().len(), 1);
    }
}
