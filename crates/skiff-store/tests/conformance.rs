//! Storage conformance suite: ONE set of async test functions, run against every backend —
//! `LocalStore` in a temp directory and `S3Store` (aws-sdk-s3, exactly as production, opened
//! through `skiff_store::open` with a Velero-style credentials file) against a real third-party
//! S3 server (`s3s-fs`) on loopback.
//!
//! Run: `cargo test -p skiff-store --test conformance`.

use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail, ensure};
use async_trait::async_trait;
use bytes::Bytes;
use skiff_store::layout::{self, BackupCommit, BackupFile};
use skiff_store::{BackupStore, Error, Location, LocationOptions, ObjectMeta, ObjectReader, ObjectSink, Op};
use skiff_testkit::s3::S3Server;
use tokio::io::AsyncReadExt;

const MIB: usize = 1024 * 1024;
/// Part size used for S3 in this suite (S3's minimum), so multipart paths run on small data.
const PART: usize = 5 * MIB;

/// A backend under test.
struct Fixture {
    store: Arc<dyn BackupStore>,
    server: Option<S3Server>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn local() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(skiff_store::LocalStore::new(dir.path().join("store")));
        Ok(Self {
            store,
            server: None,
            dir,
        })
    }

    async fn s3() -> Result<Self> {
        let server = S3Server::start()?;
        let bucket = server.fresh_bucket()?;
        let dir = tempfile::tempdir()?;
        let creds = dir.path().join("cloud");
        std::fs::write(&creds, server.credentials_file_contents())?;
        let options = LocationOptions {
            region: Some(server.region().to_owned()),
            endpoint: Some(server.endpoint()),
            path_style: Some(true),
            credentials_file: Some(creds),
            part_size: Some(PART),
            max_parts_in_flight: Some(2),
            // Small pages so every listing below exercises pagination.
            list_page_size: Some(3),
            ..LocationOptions::default()
        };
        let location = Location::parse(&format!("s3://{bucket}/team/cluster-a/"))?;
        let store = skiff_store::open(&location, &options).await?;
        Ok(Self {
            store,
            server: Some(server),
            dir,
        })
    }

    fn store(&self) -> &dyn BackupStore {
        self.store.as_ref()
    }

    /// Waits (bounded) until the S3 server has no open multipart upload; asserts it.
    async fn assert_no_open_uploads(&self) -> Result<()> {
        let Some(server) = &self.server else {
            return Ok(());
        };
        // Background aborts (dropped writers) finish shortly; poll instead of sleeping blindly.
        for _ in 0..200 {
            if server.open_multipart_uploads()? == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        bail!(
            "{} multipart upload(s) still open",
            server.open_multipart_uploads()?
        )
    }
}

/// Deterministic pseudo-random bytes (xorshift), so multipart data is not trivially repetitive.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn keys(list: &[ObjectMeta]) -> Vec<&str> {
    list.iter().map(|m| m.key.as_str()).collect()
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    let f = super::Fixture::local()?;
                    super::cases::$case(&f).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    let f = super::Fixture::s3().await?;
                    super::cases::$case(&f).await
                }
            )*
        }
    };
}

suite!(
    put_get_head,
    list_and_list_prefixes,
    ranges,
    delete_and_delete_prefix,
    streaming_multipart_round_trip,
    streaming_small_object,
    odd_keys,
    aborted_upload_leaves_nothing,
    dropped_upload_leaves_nothing,
    failed_producer_leaves_nothing,
    commit_order,
    commit_requires_tarball_and_refuses_overwrite,
    list_backups_requires_metadata,
    delete_backup_deletes_metadata_first,
    not_found_names_key,
    invalid_keys_rejected,
);

mod cases {
    use super::*;

    pub async fn put_get_head(f: &Fixture) -> Result<()> {
        let s = f.store();
        s.put("a/b.txt", Bytes::from_static(b"hello")).await?;
        ensure!(s.get("a/b.txt").await? == Bytes::from_static(b"hello"));
        let meta = s.head("a/b.txt").await?.context("head after put")?;
        ensure!(meta.key == "a/b.txt" && meta.size == 5, "{meta:?}");
        ensure!(meta.last_modified.is_some());
        ensure!(s.head("a/missing").await?.is_none());
        if f.server.is_none() {
            // A "directory" is not an object. (s3s-fs answers HEAD on a directory with a 500,
            // unlike S3's 404, so this is only checked on the local backend.)
            ensure!(s.head("a").await?.is_none(), "a 'directory' is not an object");
        }
        // Overwrite replaces.
        s.put("a/b.txt", Bytes::from_static(b"bye")).await?;
        ensure!(s.get("a/b.txt").await? == Bytes::from_static(b"bye"));
        // Empty objects are objects.
        s.put("a/empty", Bytes::new()).await?;
        ensure!(s.get("a/empty").await?.is_empty());
        ensure!(s.head("a/empty").await?.context("empty head")?.size == 0);
        Ok(())
    }

    pub async fn list_and_list_prefixes(f: &Fixture) -> Result<()> {
        let s = f.store();
        let all = [
            "backups/b1/b1.tar.gz",
            "backups/b1/velero-backup.json",
            "backups/b10/y",
            "backups/b2/x",
            "backups/loose.json",
            "restores/r1/z",
            "top.txt",
        ];
        for (i, k) in all.iter().enumerate() {
            s.put(k, Bytes::from(vec![b'x'; i + 1])).await?;
        }
        let listed = s.list("").await?;
        ensure!(keys(&listed) == all, "{:?}", keys(&listed));
        ensure!(listed[2].size == 3, "sizes: {listed:?}");
        ensure!(keys(&s.list("backups/").await?) == all[..5]);
        // Raw string prefix, like S3.
        ensure!(keys(&s.list("backups/b1").await?) == all[..3]);
        ensure!(keys(&s.list("backups/b1/").await?) == all[..2]);
        ensure!(s.list("nothing/").await?.is_empty());

        ensure!(s.list_prefixes("").await? == ["backups/", "restores/"]);
        ensure!(
            s.list_prefixes("backups/").await? == ["backups/b1/", "backups/b10/", "backups/b2/"],
            "{:?}",
            s.list_prefixes("backups/").await?
        );
        ensure!(s.list_prefixes("backups/b1").await? == ["backups/b1/", "backups/b10/"]);
        ensure!(s.list_prefixes("backups/b1/").await?.is_empty());
        ensure!(s.list_prefixes("nothing/").await?.is_empty());
        Ok(())
    }

    pub async fn ranges(f: &Fixture) -> Result<()> {
        let s = f.store();
        let d = data(1000, 7);
        s.put("r/obj", Bytes::from(d.clone())).await?;
        ensure!(s.get_range("r/obj", 10..20).await?[..] == d[10..20]);
        ensure!(s.get_range("r/obj", 0..1000).await?[..] == d[..]);
        ensure!(
            s.get_range("r/obj", 990..5000).await?[..] == d[990..],
            "end is clamped"
        );
        ensure!(s.get_range("r/obj", 5..5).await?.is_empty());
        match s.get_range("r/obj", 1000..1001).await {
            Err(Error::InvalidRange { key, range, .. }) => {
                ensure!(key == "r/obj" && range == (1000..1001));
            }
            other => bail!("expected InvalidRange, got {other:?}"),
        }
        Ok(())
    }

    pub async fn delete_and_delete_prefix(f: &Fixture) -> Result<()> {
        let s = f.store();
        for k in ["d/b1/x", "d/b1/sub/y", "d/b10/z", "d/other"] {
            s.put(k, Bytes::from_static(b"1")).await?;
        }
        s.delete("d/other").await?;
        ensure!(s.head("d/other").await?.is_none());
        s.delete("d/other")
            .await
            .context("deleting a missing object succeeds")?;
        ensure!(s.delete_prefix("d/b1/").await? == 2);
        ensure!(keys(&s.list("d/").await?) == ["d/b10/z"]);
        ensure!(s.list_prefixes("d/").await? == ["d/b10/"]);
        ensure!(s.delete_prefix("d/nothing/").await? == 0);
        ensure!(matches!(s.delete_prefix("").await, Err(Error::InvalidKey { .. })));
        Ok(())
    }

    #[allow(clippy::many_single_char_names)]
    pub async fn streaming_multipart_round_trip(f: &Fixture) -> Result<()> {
        let s = f.store();
        let d = data(20 * MIB + 12345, 42);
        let mut w = s.put_writer("big/blob.tar.gz").await?;
        // Odd chunk sizes so part boundaries never align with writes.
        for chunk in d.chunks(MIB + 7) {
            w.write(Bytes::copy_from_slice(chunk)).await?;
        }
        ensure!(
            s.head("big/blob.tar.gz").await?.is_none(),
            "visible before finish"
        );
        ensure!(w.finish().await? == d.len() as u64);
        ensure!(s.head("big/blob.tar.gz").await?.context("head")?.size == d.len() as u64);
        ensure!(s.get("big/blob.tar.gz").await?[..] == d[..], "get differs");
        let mut r: ObjectReader = s.get_reader("big/blob.tar.gz").await?;
        let mut back = Vec::new();
        r.read_to_end(&mut back).await?;
        ensure!(back == d, "streamed read differs");
        ensure!(
            s.get_range("big/blob.tar.gz", (PART as u64 - 3)..(PART as u64 + 3))
                .await?[..]
                == d[PART - 3..PART + 3]
        );
        f.assert_no_open_uploads().await
    }

    pub async fn streaming_small_object(f: &Fixture) -> Result<()> {
        let s = f.store();
        let mut w = s.put_writer("small/x.json").await?;
        w.write(Bytes::from_static(b"{\"a\":")).await?;
        w.write(Bytes::from_static(b"1}")).await?;
        ensure!(w.finish().await? == 7);
        ensure!(s.get("small/x.json").await? == Bytes::from_static(b"{\"a\":1}"));
        let w = s.put_writer("small/empty").await?;
        ensure!(w.finish().await? == 0);
        ensure!(
            s.head("small/empty")
                .await?
                .context("empty streamed object")?
                .size
                == 0
        );
        f.assert_no_open_uploads().await
    }

    pub async fn odd_keys(f: &Fixture) -> Result<()> {
        let s = f.store();
        let mut odd = vec![
            "odd/with space.json",
            "odd/colon:name@at+plus%percent=eq",
            "odd/system:controller:job-controller.json",
            "odd/ünïcödé/日本語.json",
            "odd/a&b$c;d,e'f(g)!~*",
            "odd/%2F-not-a-slash",
        ];
        for (i, k) in odd.iter().enumerate() {
            s.put(k, Bytes::from(format!("value {i}")))
                .await
                .with_context(|| format!("put {k}"))?;
        }
        for (i, k) in odd.iter().enumerate() {
            ensure!(s.get(k).await?[..] == *format!("value {i}").as_bytes(), "get {k}");
            ensure!(s.head(k).await?.is_some(), "head {k}");
        }
        odd.sort_unstable();
        let listed = s.list("odd/").await?;
        ensure!(keys(&listed) == odd, "{:?}", keys(&listed));
        ensure!(s.list_prefixes("odd/").await? == ["odd/ünïcödé/"]);
        ensure!(keys(&s.list("odd/colon:").await?) == ["odd/colon:name@at+plus%percent=eq"]);
        for k in &odd {
            s.delete(k).await?;
        }
        ensure!(s.list("odd/").await?.is_empty());
        Ok(())
    }

    pub async fn aborted_upload_leaves_nothing(f: &Fixture) -> Result<()> {
        let s = f.store();
        let mut w = s.put_writer("backups/b/b.tar.gz").await?;
        // Two full parts and some: on S3 parts have been uploaded when we abort.
        let d = data(2 * PART + MIB, 3);
        for chunk in d.chunks(MIB) {
            w.write(Bytes::copy_from_slice(chunk)).await?;
        }
        w.abort().await?;
        ensure!(s.head("backups/b/b.tar.gz").await?.is_none());
        ensure!(s.list("").await?.is_empty(), "{:?}", s.list("").await?);
        ensure!(s.list_prefixes("").await?.is_empty());
        f.assert_no_open_uploads().await
    }

    pub async fn dropped_upload_leaves_nothing(f: &Fixture) -> Result<()> {
        let s = f.store();
        let mut w = s.put_writer("backups/b/b.tar.gz").await?;
        let d = data(2 * PART + 17, 4);
        for chunk in d.chunks(3 * MIB) {
            w.write(Bytes::copy_from_slice(chunk)).await?;
        }
        drop(w);
        f.assert_no_open_uploads().await?;
        ensure!(s.head("backups/b/b.tar.gz").await?.is_none());
        ensure!(s.list("").await?.is_empty());
        Ok(())
    }

    /// The producer (sync archive writer on a blocking thread) fails halfway: the upload is
    /// aborted through the bridge and nothing becomes visible.
    pub async fn failed_producer_leaves_nothing(f: &Fixture) -> Result<()> {
        use std::io::Write as _;
        let s = f.store();
        let key = "backups/b/b.tar.gz";
        let sink = s.put_writer(key).await?;
        let (mut w, done) =
            skiff_store::bridge::blocking_writer(sink, key, &tokio::runtime::Handle::current());
        let produced = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let d = data(PART * 2 + 100, 5);
            w.write_all(&d)?;
            Err(std::io::Error::other("producer failed halfway"))
        })
        .await?;
        ensure!(produced.is_err());
        match done.wait().await {
            Err(Error::Aborted { key: k }) => ensure!(k == key),
            other => bail!("expected Aborted, got {other:?}"),
        }
        ensure!(s.head(key).await?.is_none());
        ensure!(s.list("").await?.is_empty());
        f.assert_no_open_uploads().await
    }

    pub async fn commit_order(f: &Fixture) -> Result<()> {
        let rec = Recorder::new(f.store.clone());
        let mut c = BackupCommit::begin(&rec, "b1", false).await?;
        c.put(BackupFile::Logs, Bytes::from_static(b"logs")).await?;
        let mut w = c.writer(BackupFile::Tarball).await?;
        w.write(Bytes::from(data(PART + 10, 9))).await?;
        w.finish().await?;
        for file in [
            BackupFile::ResourceList,
            BackupFile::Results,
            BackupFile::VolumeSnapshots,
            BackupFile::PodVolumeBackups,
            BackupFile::ItemOperations,
            BackupFile::VolumeInfo,
            BackupFile::SkiffIndex,
        ] {
            c.put(file, Bytes::from_static(b"sidecar")).await?;
        }
        ensure!(
            matches!(
                c.put(BackupFile::Metadata, Bytes::new()).await,
                Err(Error::Commit { .. })
            ),
            "metadata must only go through commit()"
        );
        ensure!(
            layout::list_backups(&rec).await?.is_empty(),
            "listed before commit"
        );
        c.commit(Bytes::from_static(b"{\"kind\":\"Backup\"}")).await?;
        ensure!(layout::list_backups(&rec).await? == ["b1"]);

        let log = rec.writes();
        ensure!(log.len() == 10, "{log:?}");
        ensure!(
            log.last().map(String::as_str) == Some("backups/b1/velero-backup.json"),
            "{log:?}"
        );
        ensure!(log[..9].iter().all(|k| k.starts_with("backups/b1/b1")), "{log:?}");
        // Only backups/ exists at the top level.
        ensure!(f.store().list_prefixes("").await? == ["backups/"]);
        Ok(())
    }

    pub async fn commit_requires_tarball_and_refuses_overwrite(f: &Fixture) -> Result<()> {
        let s = f.store();
        let mut c = BackupCommit::begin(s, "b2", false).await?;
        c.put(BackupFile::ResourceList, Bytes::from_static(b"x")).await?;
        ensure!(matches!(
            c.commit(Bytes::from_static(b"{}")).await,
            Err(Error::Commit { .. })
        ));
        ensure!(s.head("backups/b2/velero-backup.json").await?.is_none());
        ensure!(layout::list_backups(s).await?.is_empty());

        let mut c = BackupCommit::begin(s, "b2", false).await?;
        c.put(BackupFile::Tarball, Bytes::from_static(b"tar")).await?;
        c.commit(Bytes::from_static(b"{}")).await?;
        match BackupCommit::begin(s, "b2", false).await {
            Err(Error::AlreadyExists { key, .. }) => ensure!(key == "backups/b2/velero-backup.json"),
            other => bail!("expected AlreadyExists, got {other:?}"),
        }
        BackupCommit::begin(s, "b2", true).await?;
        ensure!(matches!(
            BackupCommit::begin(s, "../b", false).await,
            Err(Error::InvalidName { .. })
        ));
        Ok(())
    }

    pub async fn list_backups_requires_metadata(f: &Fixture) -> Result<()> {
        let s = f.store();
        for k in [
            "backups/complete/velero-backup.json",
            "backups/complete/complete.tar.gz",
            "backups/half/half.tar.gz",
            "backups/half/half-logs.gz",
            "backups/loose-object.json",
            "restores/r1/restore-r1-logs.gz",
            "backups/zz/velero-backup.json",
        ] {
            s.put(k, Bytes::from_static(b"{}")).await?;
        }
        ensure!(layout::list_backups(s).await? == ["complete", "zz"]);
        Ok(())
    }

    pub async fn delete_backup_deletes_metadata_first(f: &Fixture) -> Result<()> {
        let rec = Recorder::new(f.store.clone());
        for b in ["b1", "b1-other"] {
            let mut c = BackupCommit::begin(&rec, b, false).await?;
            c.put(BackupFile::Tarball, Bytes::from_static(b"t")).await?;
            c.put(BackupFile::Results, Bytes::from_static(b"r")).await?;
            c.commit(Bytes::from_static(b"{}")).await?;
        }
        rec.put("backups/b1/unknown-extra", Bytes::from_static(b"?"))
            .await?;
        rec.clear();
        ensure!(layout::delete_backup(&rec, "b1").await? == 4);
        let deletes = rec.deletes();
        ensure!(
            deletes.first().map(String::as_str) == Some("backups/b1/velero-backup.json"),
            "{deletes:?}"
        );
        ensure!(layout::list_backups(&rec).await? == ["b1-other"]);
        ensure!(rec.list("backups/b1/").await?.is_empty());
        ensure!(rec.list("backups/b1-other/").await?.len() == 3);
        ensure!(layout::delete_backup(&rec, "b1").await? == 0);
        Ok(())
    }

    pub async fn not_found_names_key(f: &Fixture) -> Result<()> {
        let s = f.store();
        let key = "backups/nope/velero-backup.json";
        let e = s.get(key).await.err().context("get of a missing key")?;
        ensure!(e.is_not_found() && !e.is_retryable(), "{e:?}");
        ensure!(e.key() == Some(key) && e.op() == Some(Op::Get));
        ensure!(
            e.to_string().contains(key) && e.to_string().contains("get"),
            "{e}"
        );
        let e = s
            .get_reader(key)
            .await
            .err()
            .context("get_reader of a missing key")?;
        ensure!(e.is_not_found() && e.to_string().contains(key), "{e}");
        let e = s
            .get_range(key, 0..10)
            .await
            .err()
            .context("get_range of a missing key")?;
        ensure!(e.is_not_found() && e.to_string().contains(key), "{e}");
        ensure!(s.head(key).await?.is_none());
        Ok(())
    }

    pub async fn invalid_keys_rejected(f: &Fixture) -> Result<()> {
        let s = f.store();
        for bad in ["../escape", "/abs", "a//b", "a/./b", "a/../../b", "", "dir/"] {
            match s.put(bad, Bytes::from_static(b"x")).await {
                Err(Error::InvalidKey { key, .. }) => ensure!(key == bad),
                other => bail!("put {bad:?}: expected InvalidKey, got {other:?}"),
            }
            ensure!(
                matches!(s.get(bad).await, Err(Error::InvalidKey { .. })),
                "get {bad:?}"
            );
        }
        ensure!(matches!(s.list("../").await, Err(Error::InvalidKey { .. })));
        ensure!(s.list("").await?.is_empty(), "nothing was written");
        if f.server.is_none() {
            let parent = f.dir.path();
            ensure!(!parent.join("escape").exists(), "escaped the root");
        }
        Ok(())
    }
}

/// S3-only behaviour.
mod s3_only {
    use super::*;

    async fn open_with(
        server: &S3Server,
        bucket: &str,
        creds: skiff_store::Credentials,
    ) -> Result<Arc<dyn BackupStore>> {
        let options = LocationOptions {
            region: Some(server.region().to_owned()),
            endpoint: Some(server.endpoint()),
            path_style: Some(true),
            credentials: Some(creds),
            ..LocationOptions::default()
        };
        Ok(skiff_store::open(&Location::parse(&format!("s3://{bucket}"))?, &options).await?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_credentials_are_a_clear_error() -> Result<()> {
        let server = S3Server::start()?;
        let bucket = server.fresh_bucket()?;
        let bad_secret = "definitely-not-the-secret-0123456789";
        let store = open_with(
            &server,
            &bucket,
            skiff_store::Credentials::new(server.access_key(), bad_secret),
        )
        .await?;
        let e = store
            .list("backups/")
            .await
            .err()
            .context("list with a wrong secret")?;
        let msg = e.to_string();
        ensure!(matches!(e, Error::AccessDenied { op: Op::List, .. }), "{e:?}");
        ensure!(
            msg.contains("list") && msg.contains("backups/") && msg.contains("access denied"),
            "{msg}"
        );
        let chain = format!(
            "{:?} {}",
            e,
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        ensure!(
            !chain.contains(bad_secret) && !chain.contains(server.secret_key()),
            "secret leaked: {chain}"
        );
        ensure!(!e.is_retryable());

        let e = store
            .put("backups/b/x", Bytes::from_static(b"x"))
            .await
            .err()
            .context("put")?;
        ensure!(
            matches!(e, Error::AccessDenied { op: Op::Put, ref key, .. } if key == "backups/b/x"),
            "{e:?}"
        );

        let store = open_with(
            &server,
            &bucket,
            skiff_store::Credentials::new("NOSUCHKEYID", server.secret_key()),
        )
        .await?;
        let e = store
            .head("backups/b/velero-backup.json")
            .await
            .err()
            .context("head with unknown key id")?;
        ensure!(matches!(e, Error::AccessDenied { op: Op::Head, .. }), "{e:?}");
        ensure!(!format!("{store:?} {}", store.describe()).contains(server.secret_key()));
        Ok(())
    }

    /// The insecure-skip-TLS client is skiff's own hyper connector; over plain HTTP this checks
    /// its request/response plumbing (signing, bodies, errors). TLS itself is not exercised here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn insecure_connector_speaks_s3() -> Result<()> {
        let server = S3Server::start()?;
        let bucket = server.fresh_bucket()?;
        let options = LocationOptions {
            region: Some(server.region().to_owned()),
            endpoint: Some(server.endpoint()),
            path_style: Some(true),
            credentials: Some(skiff_store::Credentials::new(
                server.access_key(),
                server.secret_key(),
            )),
            insecure_skip_tls_verify: Some(true),
            part_size: Some(PART),
            ..LocationOptions::default()
        };
        let store = skiff_store::open(&Location::parse(&format!("s3://{bucket}/p"))?, &options).await?;
        let d = data(PART + 99, 11);
        let mut w = store.put_writer("backups/b/b.tar.gz").await?;
        w.write(Bytes::from(d.clone())).await?;
        w.finish().await?;
        ensure!(store.get("backups/b/b.tar.gz").await?[..] == d[..]);
        ensure!(store.list_prefixes("backups/").await? == ["backups/b/"]);
        ensure!(
            store
                .get("backups/none")
                .await
                .err()
                .is_some_and(|e| e.is_not_found())
        );
        ensure!(server.open_multipart_uploads()? == 0);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_bucket_names_operation() -> Result<()> {
        let server = S3Server::start()?;
        let store = open_with(
            &server,
            "no-such-bucket",
            skiff_store::Credentials::new(server.access_key(), server.secret_key()),
        )
        .await?;
        let e = store
            .list("backups/")
            .await
            .err()
            .context("list of a missing bucket")?;
        ensure!(
            matches!(&e, Error::Remote { op: Op::List, code: Some(c), .. } if c == "NoSuchBucket"),
            "{e:?}"
        );
        ensure!(e.to_string().contains("NoSuchBucket"), "{e}");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bsl_yaml_opens_the_bucket() -> Result<()> {
        let server = S3Server::start()?;
        let bucket = server.fresh_bucket()?;
        let yaml = format!(
            "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata:\n  name: default\n  namespace: velero\nspec:\n  provider: aws\n  objectStorage:\n    bucket: {bucket}\n    prefix: velero\n  config:\n    region: {}\n    s3Url: {}\n    s3ForcePathStyle: \"true\"\n    profile: backup\n",
            server.region(),
            server.endpoint()
        );
        let bsl = skiff_store::BackupStorageLocation::from_yaml(&yaml, "bsl.yaml")?;
        let dir = tempfile::tempdir()?;
        let cloud = dir.path().join("cloud");
        std::fs::write(
            &cloud,
            format!(
                "[default]\naws_access_key_id=WRONG\naws_secret_access_key=WRONG\n\n[backup]\naws_access_key_id={}\naws_secret_access_key={}\n",
                server.access_key(),
                server.secret_key()
            ),
        )?;
        let mut options = LocationOptions {
            credentials_file: Some(cloud),
            ..LocationOptions::default()
        };
        bsl.apply_to(&mut options)?;
        let store = skiff_store::open(&bsl.location(), &options).await?;
        store
            .put("backups/b/velero-backup.json", Bytes::from_static(b"{}"))
            .await?;
        ensure!(
            server
                .root()
                .join(&bucket)
                .join("velero/backups/b/velero-backup.json")
                .is_file()
        );
        Ok(())
    }
}

/// A store wrapper recording completed writes and deletes, in order.
#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn BackupStore>,
    log: Arc<Mutex<Vec<(char, String)>>>,
}

impl Recorder {
    fn new(inner: Arc<dyn BackupStore>) -> Self {
        Self {
            inner,
            log: Arc::default(),
        }
    }
    fn writes(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| *c == 'w')
            .map(|(_, k)| k.clone())
            .collect()
    }
    fn deletes(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| *c == 'd')
            .map(|(_, k)| k.clone())
            .collect()
    }
    fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

struct RecordingSink {
    inner: Box<dyn ObjectSink>,
    key: String,
    log: Arc<Mutex<Vec<(char, String)>>>,
}

#[async_trait]
impl ObjectSink for RecordingSink {
    async fn write(&mut self, chunk: Bytes) -> skiff_store::Result<()> {
        self.inner.write(chunk).await
    }
    async fn finish(self: Box<Self>) -> skiff_store::Result<u64> {
        let n = self.inner.finish().await?;
        self.log.lock().unwrap().push(('w', self.key));
        Ok(n)
    }
    async fn abort(self: Box<Self>) -> skiff_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl BackupStore for Recorder {
    async fn put(&self, key: &str, data: Bytes) -> skiff_store::Result<()> {
        self.inner.put(key, data).await?;
        self.log.lock().unwrap().push(('w', key.to_owned()));
        Ok(())
    }
    async fn put_writer(&self, key: &str) -> skiff_store::Result<Box<dyn ObjectSink>> {
        Ok(Box::new(RecordingSink {
            inner: self.inner.put_writer(key).await?,
            key: key.to_owned(),
            log: self.log.clone(),
        }))
    }
    async fn get(&self, key: &str) -> skiff_store::Result<Bytes> {
        self.inner.get(key).await
    }
    async fn get_reader(&self, key: &str) -> skiff_store::Result<ObjectReader> {
        self.inner.get_reader(key).await
    }
    async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> skiff_store::Result<Bytes> {
        self.inner.get_range(key, range).await
    }
    async fn head(&self, key: &str) -> skiff_store::Result<Option<ObjectMeta>> {
        self.inner.head(key).await
    }
    async fn list(&self, prefix: &str) -> skiff_store::Result<Vec<ObjectMeta>> {
        self.inner.list(prefix).await
    }
    async fn list_prefixes(&self, prefix: &str) -> skiff_store::Result<Vec<String>> {
        self.inner.list_prefixes(prefix).await
    }
    async fn delete(&self, key: &str) -> skiff_store::Result<()> {
        self.inner.delete(key).await?;
        self.log.lock().unwrap().push(('d', key.to_owned()));
        Ok(())
    }
    async fn delete_prefix(&self, prefix: &str) -> skiff_store::Result<usize> {
        // Record per object, in the order the inner store would see them.
        let keys: Vec<String> = self
            .inner
            .list(prefix)
            .await?
            .into_iter()
            .map(|m| m.key)
            .collect();
        let n = self.inner.delete_prefix(prefix).await?;
        self.log
            .lock()
            .unwrap()
            .extend(keys.into_iter().map(|k| ('d', k)));
        Ok(n)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}
