//! A forward proxy on loopback that tunnels TCP: HTTP `CONNECT` (what a kubeconfig's
//! `proxy-url: http://…` makes a client send) and SOCKS5 without authentication
//! (`proxy-url: socks5://…`), told apart by the first byte a client sends.
//!
//! It only ever dials loopback targets (127.0.0.0/8, `localhost`, `[::1]`): any other target is
//! refused (`403` / SOCKS reply `0x02`), so a test cannot make it reach past the machine. It
//! counts the tunnels it opened, per protocol, so a test can tell that traffic went through it.
//! Optional `Proxy-Authorization: Basic` checking answers `407` without the right credentials.
//! The proxy stops when the [`TunnelProxy`] is dropped (its task is aborted, open tunnels too).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Counters of a [`TunnelProxy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// HTTP `CONNECT` tunnels opened.
    pub http_connects: u64,
    /// SOCKS5 tunnels opened.
    pub socks5_connects: u64,
    /// Requests refused (bad credentials, non-loopback target, malformed request).
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    http: AtomicU64,
    socks: AtomicU64,
    refused: AtomicU64,
}

/// A running tunnel proxy. See the module docs.
#[derive(Debug)]
pub struct TunnelProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl TunnelProxy {
    /// Starts on `127.0.0.1:<free port>`. With `basic_auth`, HTTP `CONNECT` requests must carry
    /// `Proxy-Authorization: Basic base64(user:password)`.
    pub async fn start(basic_auth: Option<(&str, &str)>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the tunnel proxy")?;
        let addr = listener.local_addr().context("read the proxy's address")?;
        let counters = Arc::new(Counters::default());
        let expected = basic_auth.map(|(user, password)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        let task = tokio::spawn(serve(listener, counters.clone(), expected));
        Ok(Self { addr, counters, task })
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, for a kubeconfig's `proxy-url`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `socks5://127.0.0.1:<port>`.
    pub fn socks5_url(&self) -> String {
        format!("socks5://{}", self.addr)
    }

    /// What it did so far.
    pub fn stats(&self) -> TunnelStats {
        TunnelStats {
            http_connects: self.counters.http.load(Ordering::Relaxed),
            socks5_connects: self.counters.socks.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
        }
    }
}

impl Drop for TunnelProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, counters: Arc<Counters>, expected_auth: Option<String>) {
    // Connections live in the set: aborting `serve` drops the set, which aborts them.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let counters = counters.clone();
                let expected_auth = expected_auth.clone();
                conns.spawn(async move {
                    if let Err(e) = handle(stream, &counters, expected_auth.as_deref()).await {
                        tracing::debug!(error = %e, "tunnel proxy connection ended");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(mut client: TcpStream, counters: &Counters, expected_auth: Option<&str>) -> Result<()> {
    let mut first = [0u8; 1];
    client.peek(&mut first).await.context("read the first byte")?;
    let mut upstream = if first[0] == 0x05 {
        socks5_handshake(&mut client, counters).await?
    } else {
        http_connect(&mut client, counters, expected_auth).await?
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}

/// Whether a target host may be dialled: loopback only.
fn loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn http_connect(
    client: &mut TcpStream,
    counters: &Counters,
    expected_auth: Option<&str>,
) -> Result<TcpStream> {
    // Read the request head (bounded).
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            bail!("request head too large");
        }
        let n = client.read(&mut byte).await.context("read the request head")?;
        if n == 0 {
            bail!("client closed during the request head");
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let auth = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_owned());
    if method != "CONNECT" {
        refuse(client, counters, "405 Method Not Allowed").await;
        bail!("not a CONNECT request: {request_line}");
    }
    if let Some(expected) = expected_auth
        && auth.as_deref() != Some(expected)
    {
        refuse(
            client,
            counters,
            "407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"skiff\"",
        )
        .await;
        bail!("missing or wrong proxy credentials");
    }
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    if !loopback(host) {
        refuse(client, counters, "403 Forbidden").await;
        bail!("refused non-loopback target {target}");
    }
    let upstream = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            refuse(client, counters, "502 Bad Gateway").await;
            return Err(e).context("dial the target");
        }
    };
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .context("answer the CONNECT")?;
    counters.http.fetch_add(1, Ordering::Relaxed);
    Ok(upstream)
}

async fn refuse(client: &mut TcpStream, counters: &Counters, status: &str) {
    counters.refused.fetch_add(1, Ordering::Relaxed);
    let _ = client
        .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
        .await;
}

async fn socks5_handshake(client: &mut TcpStream, counters: &Counters) -> Result<TcpStream> {
    // Greeting: VER NMETHODS METHODS…; only "no authentication" (0x00) is offered back.
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&0x00) {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        client.write_all(&[0x05, 0xff]).await?;
        bail!("socks5 client offers no acceptable method");
    }
    client.write_all(&[0x05, 0x00]).await?;
    // Request: VER CMD RSV ATYP ADDR PORT; CONNECT (0x01) only.
    let mut req = [0u8; 4];
    client.read_exact(&mut req).await?;
    let host = match req[3] {
        0x01 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a).await?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        0x04 => {
            let mut a = [0u8; 16];
            client.read_exact(&mut a).await?;
            format!("[{}]", std::net::Ipv6Addr::from(a))
        }
        0x03 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        other => bail!("socks5 address type {other}"),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    let reply = |code: u8| [0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    if req[1] != 0x01 {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        client.write_all(&reply(0x07)).await?;
        bail!("socks5 command {} is not CONNECT", req[1]);
    }
    if !loopback(&host) {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        client.write_all(&reply(0x02)).await?;
        bail!("refused non-loopback target {host}:{port}");
    }
    let upstream = match TcpStream::connect(format!("{host}:{port}")).await {
        Ok(s) => s,
        Err(e) => {
            client.write_all(&reply(0x05)).await?;
            return Err(e).context("dial the target");
        }
    };
    client.write_all(&reply(0x00)).await?;
    counters.socks.fetch_add(1, Ordering::Relaxed);
    Ok(upstream)
}
