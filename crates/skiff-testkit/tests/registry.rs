//! The test kit's container registry, hand-made OCI images, skopeo, and tunnel proxy. Needs
//! Debian's `docker-registry` and `skopeo` (`bash scripts/provision-testbed.sh`).

use std::path::Path;

use anyhow::Result;
use skiff_testkit::registry::{OciImage, Registry, Skopeo};
use skiff_testkit::tunnel::TunnelProxy;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test]
async fn registry_serves_pushed_images_and_stops_on_drop() -> Result<()> {
    let work = tempfile::tempdir()?;
    let a = OciImage::build(&work.path().join("a"), "a", "file.txt", b"one\n")?;
    // Deterministic: the same content gives the same digests, other content others.
    let again = OciImage::build(&work.path().join("again"), "a", "file.txt", b"one\n")?;
    let b = OciImage::build(&work.path().join("b"), "b", "file.txt", b"two\n")?;
    assert_eq!(a.manifest_digest, again.manifest_digest);
    assert_eq!(a.layer_digest, again.layer_digest);
    assert_ne!(a.manifest_digest, b.manifest_digest);
    for (image, digest) in [
        (&a, &a.manifest_digest),
        (&a, &a.config_digest),
        (&a, &a.layer_digest),
    ] {
        let hex = digest.strip_prefix("sha256:").expect("sha256");
        assert!(image.layout.join("blobs/sha256").join(hex).is_file(), "{digest}");
    }
    assert!(a.layout.join("oci-layout").is_file() && a.layout.join("index.json").is_file());

    let registry = Registry::start("kit").await?;
    let host = registry.host();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    assert!(registry.catalog().await?.is_empty());
    assert!(
        registry.tags("x/y").await?.is_empty(),
        "unknown repository: no tags"
    );
    let skopeo = Skopeo::locate()?;
    skopeo.push(&a, &registry, "kit/a", "1").await?;
    skopeo.push(&b, &registry, "kit/a", "2").await?;
    assert_eq!(registry.catalog().await?, ["kit/a"]);
    assert_eq!(registry.tags("kit/a").await?, ["1", "2"]);
    assert_eq!(
        registry.manifest_digest("kit/a", "1").await?.as_deref(),
        Some(a.manifest_digest.as_str())
    );
    assert_eq!(
        registry
            .manifest_digest("kit/a", &b.manifest_digest)
            .await?
            .as_deref(),
        Some(b.manifest_digest.as_str())
    );
    assert_eq!(registry.manifest_digest("kit/a", "3").await?, None);
    // skopeo reads it back (plain HTTP) and sees the one layer written by hand.
    let out = skopeo
        .run([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{host}/kit/a:1"),
        ])
        .await?;
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)?;
    assert_eq!(doc["Digest"], a.manifest_digest.as_str());
    assert_eq!(doc["Layers"][0], a.layer_digest.as_str());
    // A failing skopeo run reports its stderr.
    let err = skopeo
        .run([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{host}/kit/none:1"),
        ])
        .await
        .expect_err("no such image");
    assert!(format!("{err:#}").contains("kit/none"), "{err:#}");

    let pid = registry.pid().expect("running");
    let proc_dir = format!("/proc/{pid}");
    assert!(Path::new(&proc_dir).exists());
    drop(registry);
    assert!(!Path::new(&proc_dir).exists(), "the registry process is gone");
    Ok(())
}

#[tokio::test]
async fn tunnel_proxy_refuses_anything_but_loopback() -> Result<()> {
    let proxy = TunnelProxy::start(None).await?;
    let addr = proxy.addr();
    let ask = |request: &'static [u8]| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(request).await?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    // TEST-NET-1: never dialled, refused before any connection is attempted.
    let answer = ask(b"CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n").await?;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let answer = ask(b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n").await?;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    // SOCKS5 CONNECT to 192.0.2.1:443: reply 0x02 (not allowed).
    let mut s = tokio::net::TcpStream::connect(proxy.addr()).await?;
    s.write_all(&[0x05, 0x01, 0x00]).await?;
    let mut hello = [0u8; 2];
    s.read_exact(&mut hello).await?;
    assert_eq!(hello, [0x05, 0x00]);
    s.write_all(&[0x05, 0x01, 0x00, 0x01, 192, 0, 2, 1, 0x01, 0xbb])
        .await?;
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).await?;
    assert_eq!(reply[1], 0x02);
    let stats = proxy.stats();
    assert_eq!(
        (stats.refused, stats.http_connects, stats.socks5_connects),
        (3, 0, 0)
    );

    // With credentials required, a CONNECT without them is answered 407.
    let guarded = TunnelProxy::start(Some(("u", "p"))).await?;
    let mut s = tokio::net::TcpStream::connect(guarded.addr()).await?;
    s.write_all(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n").await?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 407"));
    Ok(())
}
