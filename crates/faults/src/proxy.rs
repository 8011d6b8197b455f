//! A fault-injecting TCP proxy (there is no toxiproxy here). Every dependency the suite takes
//! away — Redis, Postgres, billing, logging, the provider — sits behind one, so a fault is a mode
//! switch and the machine's real Postgres and Redis are never touched.
//!
//! Modes: `Pass` forwards; `Down` refuses new connections (accepted and dropped at once) and cuts
//! open ones, as a stopped server looks; `Slow` forwards every chunk after a delay; `Blackhole`
//! accepts and reads but never answers (open connections included); `Garbage` answers every new
//! connection with a well-formed HTTP status line and a body that is not what was asked for,
//! then closes. Leaving `Blackhole` or `Garbage` cuts what is open, as their streams are broken.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Down,
    Slow(Duration),
    Blackhole,
    Garbage,
}

const PASS: u8 = 0;
const DOWN: u8 = 1;
const SLOW: u8 = 2;
const BLACKHOLE: u8 = 3;
const GARBAGE: u8 = 4;

/// What a garbage-mode provider says: a 200 whose body is neither JSON nor SSE.
const GARBAGE_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
content-length: 29\r\nconnection: close\r\n\r\n\x00\x01<html>not json at all}}\xff";

struct Shared {
    mode: AtomicU8,
    delay_ms: AtomicU64,
    /// Bumped to cut every open connection.
    generation: watch::Sender<u64>,
}

#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Result<Proxy> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (generation, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(PASS),
            delay_ms: AtomicU64::new(0),
            generation,
        });
        let s = shared.clone();
        runtime()?.spawn(async move {
            let Ok(listener) = TcpListener::from_std(std_listener) else {
                return;
            };
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move { serve(s, client, target).await });
            }
        });
        Ok(Proxy { addr, shared })
    }

    pub fn set(&self, mode: Mode) {
        let before = self.shared.mode.load(Ordering::SeqCst);
        let code = match mode {
            Mode::Pass => PASS,
            Mode::Down => DOWN,
            Mode::Slow(d) => {
                let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                self.shared.delay_ms.store(ms, Ordering::SeqCst);
                SLOW
            }
            Mode::Blackhole => BLACKHOLE,
            Mode::Garbage => GARBAGE,
        };
        self.shared.mode.store(code, Ordering::SeqCst);
        // A stopped server drops its connections; a broken stream cannot be resumed.
        let cut = code == DOWN || code == GARBAGE || before == BLACKHOLE || before == GARBAGE;
        if cut && before != code {
            self.shared.generation.send_modify(|g| *g += 1);
        }
    }
}

/// The proxies' own runtime, on a thread of its own: a relay must not wait behind the load
/// generator's tasks, or a busy runner would look like a slow Redis.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("faults-proxy")
                .enable_all()
                .build()
        })
        .as_ref()
        .map_err(|e| crate::error::FaultsError::Setup(format!("proxy runtime: {e}")))
}

async fn serve(s: Arc<Shared>, mut client: TcpStream, target: SocketAddr) {
    let mut cut = s.generation.subscribe();
    match s.mode.load(Ordering::SeqCst) {
        DOWN => return,
        GARBAGE => {
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(1), client.read(&mut buf)).await;
            let _ = client.write_all(GARBAGE_REPLY).await;
            let _ = client.shutdown().await;
            return;
        }
        _ => {}
    }
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        _ = pump(s.clone(), cr, sw) => {}
        _ = pump(s.clone(), sr, cw) => {}
        _ = cut.changed() => {}
    }
}

/// One direction of a connection, obeying the mode chunk by chunk.
async fn pump(s: Arc<Shared>, mut from: OwnedReadHalf, mut to: OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match s.mode.load(Ordering::SeqCst) {
            BLACKHOLE => continue,
            SLOW => {
                let ms = s.delay_ms.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            _ => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// An echo server behind a proxy; one round trip through it, bounded in time.
    async fn echo_once(proxy: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(proxy).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        match tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf)).await {
            Ok(r) => r.map(|_| buf.to_vec()),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer",
            )),
        }
    }

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn each_mode_does_what_it_says() {
        let proxy = Proxy::start(echo_server().await).await.unwrap();
        assert_eq!(echo_once(proxy.addr).await.unwrap(), b"ping");

        proxy.set(Mode::Down);
        assert!(echo_once(proxy.addr).await.is_err(), "down answers nothing");

        proxy.set(Mode::Blackhole);
        let e = echo_once(proxy.addr).await.unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::TimedOut,
            "blackhole holds, never answers"
        );

        proxy.set(Mode::Slow(Duration::from_millis(150)));
        let t = std::time::Instant::now();
        assert_eq!(echo_once(proxy.addr).await.unwrap(), b"ping");
        assert!(
            t.elapsed() >= Duration::from_millis(300),
            "one delay each way"
        );

        proxy.set(Mode::Garbage);
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await.unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 200 OK"));

        proxy.set(Mode::Pass);
        assert_eq!(echo_once(proxy.addr).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn going_down_cuts_open_connections() {
        let proxy = Proxy::start(echo_server().await).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        proxy.set(Mode::Down);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest))
            .await
            .expect("the connection is closed, not left hanging");
        assert!(n.map_or(true, |n| n == 0));
    }
}
