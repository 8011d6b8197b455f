//! A TCP proxy that answers late: every chunk from the server reaches the client `delay` after
//! it arrived (requests go through at once, order is kept). In front of Redis it makes the slow
//! but not refusing Redis that sends the limiter to its local fallback, deterministically rather
//! than only on a loaded machine. Also a look at the limiter's heartbeat set, so a test can wait
//! until every edge has counted the others.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub struct SlowProxy {
    pub addr: SocketAddr,
}

impl SlowProxy {
    pub async fn start(target: SocketAddr, delay: Duration) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        // The injected fault itself, not synchronisation: the answer is late.
                        tokio::time::sleep(delay).await;
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        SlowProxy { addr }
    }

    /// `redis://` URL of the proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

/// The Redis `host:port` of [`crate::redis_url`].
pub fn redis_addr() -> SocketAddr {
    crate::redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// The limiter heartbeat set of `prefix` (member -> expiry), read with a bare RESP `ZRANGE`.
async fn heartbeats(prefix: &str) -> BTreeMap<String, f64> {
    let key = format!("{prefix}:{{edges}}");
    let mut conn = TcpStream::connect(redis_addr()).await.unwrap();
    let mut cmd = String::from("*5\r\n");
    for a in ["ZRANGE", &key, "0", "-1", "WITHSCORES"] {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    conn.write_all(cmd.as_bytes()).await.unwrap();
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    let n: usize = line.trim().trim_start_matches('*').parse().unwrap();
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).await.unwrap(); // $<len>
        line.clear();
        r.read_line(&mut line).await.unwrap();
        items.push(line.trim_end().to_owned());
    }
    items
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].parse().unwrap()))
        .collect()
}

/// Waits until `edges` limiters of `prefix` are registered and each has counted all of them:
/// a beat that ran after all registered saw them all, and a replica sends its next beat only
/// once it took in the answer of the previous one, so two beats each make sure.
pub async fn wait_edges_counted(prefix: &str, edges: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = loop {
        let now = heartbeats(prefix).await;
        if now.len() >= edges {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {edges} edges registered",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for _ in 0..2 {
        seen = loop {
            let now = heartbeats(prefix).await;
            if seen
                .iter()
                .all(|(m, at)| now.get(m).is_some_and(|later| later > at))
            {
                break now;
            }
            assert!(Instant::now() < deadline, "edges did not beat again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
    }
}
