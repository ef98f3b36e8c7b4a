//! A real third-party S3 server on loopback: `s3s-fs` (objects as files under a root
//! directory) served in-process by `s3s` over hyper, with `SigV4` authentication so wrong
//! credentials are rejected.
//!
//! The server runs on its own thread with its own tokio runtime, so it works from sync tests,
//! async tests (any runtime flavour) and CLIs alike. It shuts down when the [`S3Server`] is
//! dropped.
//!
//! On-disk layout (s3s-fs): bucket `b` is directory `<root>/b`, object `k` is file `<root>/b/k`;
//! open multipart uploads are `<root>/.upload-<id>.json` (+ `.upload_id-<id>.part-<n>` parts).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, bail};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

/// Region the server pretends to be in (s3s-fs accepts any; clients must sign for one).
pub const REGION: &str = "us-east-1";

static BUCKET_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A running S3 server. `Debug` never shows the secret key.
pub struct S3Server {
    addr: SocketAddr,
    access_key: String,
    secret_key: String,
    root: PathBuf,
    temp: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for S3Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Server")
            .field("endpoint", &self.endpoint())
            .field("access_key", &self.access_key)
            .field("secret_key", &"** redacted **")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl S3Server {
    /// Starts a server on `127.0.0.1:<random port>` with its root in a fresh temp directory
    /// (removed on drop) and freshly generated credentials.
    pub fn start() -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("skiff-s3-")
            .tempdir()
            .context("create temp dir for the S3 server")?;
        let root = temp.path().to_owned();
        let mut server = Self::start_with(&root, 0, random_key(20), random_key(40))?;
        server.temp = Some(temp);
        Ok(server)
    }

    /// Starts a server on `127.0.0.1:<port>` (0 = any free port) storing its data under `root`
    /// (created if missing, kept on drop) with freshly generated credentials. For the
    /// `skiff-testbed` CLI.
    pub fn start_at(root: &Path, port: u16) -> Result<Self> {
        Self::start_with(root, port, random_key(20), random_key(40))
    }

    /// Like [`Self::start_at`] with given credentials (e.g. to restart a bed with the same keys).
    pub fn start_with(root: &Path, port: u16, access_key: String, secret_key: String) -> Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("create S3 root {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("resolve S3 root {}", root.display()))?;
        let listener = StdListener::bind((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("bind 127.0.0.1:{port} for the S3 server"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let fs = s3s_fs::FileSystem::new(&root)
            .map_err(|e| anyhow::anyhow!("open s3s-fs root {}: {e:?}", root.display()))?;
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(access_key.clone(), secret_key.clone()));
            b.build()
        };
        let (tx, rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("s3-server-{}", addr.port()))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("s3-server-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let http = ConnBuilder::new(TokioExecutor::new());
                    let mut rx = rx;
                    loop {
                        let socket = tokio::select! {
                            r = listener.accept() => match r {
                                Ok((s, _)) => s,
                                Err(e) => {
                                    tracing::warn!(error = %e, "S3 server accept failed");
                                    continue;
                                }
                            },
                            _ = &mut rx => break,
                        };
                        let conn = http
                            .serve_connection(TokioIo::new(socket), service.clone())
                            .into_owned();
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                });
                // Dropping the runtime cancels open connections.
            })
            .context("spawn S3 server thread")?;
        ready_rx
            .recv()
            .context("S3 server thread exited during start-up")??;
        tracing::info!(endpoint = %format!("http://{addr}"), root = %root.display(), "S3 server started");
        Ok(Self {
            addr,
            access_key,
            secret_key,
            root,
            temp: None,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`; use path-style addressing.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The access key id.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret access key. Do not log it.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The region clients should sign for.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An AWS shared-credentials file (the format of Velero's `cloud` secret) for this server,
    /// under `[default]`.
    pub fn credentials_file_contents(&self) -> String {
        format!(
            "[default]\naws_access_key_id={}\naws_secret_access_key={}\n",
            self.access_key, self.secret_key
        )
    }

    /// Creates bucket `name` (s3s-fs: a directory under the root). Existing buckets are kept.
    pub fn create_bucket(&self, name: &str) -> Result<()> {
        if name.len() < 3
            || name.len() > 63
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("invalid bucket name {name:?}");
        }
        std::fs::create_dir_all(self.root.join(name)).with_context(|| format!("create bucket {name}"))
    }

    /// Creates a bucket with a unique name and returns the name.
    pub fn fresh_bucket(&self) -> Result<String> {
        let name = format!(
            "skiff-{}-{}",
            BUCKET_COUNTER.fetch_add(1, Ordering::Relaxed),
            random_key(8).to_ascii_lowercase()
        );
        self.create_bucket(&name)?;
        Ok(name)
    }

    /// Number of multipart uploads that were started and neither completed nor aborted.
    pub fn open_multipart_uploads(&self) -> Result<usize> {
        let mut n = 0;
        for entry in std::fs::read_dir(&self.root)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".upload-") && name.ends_with(".json") {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Stops the server (also done on drop).
    pub fn stop(mut self) {
        self.shutdown_inner();
    }

    fn shutdown_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

fn random_key(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect::<String>()
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_serves_and_stops() {
        use std::io::{Read, Write};
        let s = S3Server::start().unwrap();
        let b = s.fresh_bucket().unwrap();
        assert!(s.root().join(&b).is_dir());
        assert!(!format!("{s:?}").contains(s.secret_key()));
        // Anonymous request is refused (auth is on).
        let addr = s.addr();
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "GET /{b}?list-type=2 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
        assert_eq!(s.open_multipart_uploads().unwrap(), 0);
        s.stop();
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
