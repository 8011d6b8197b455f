//! Which connection an RPC arrived on, and word when that connection is gone.
//!
//! A server-streaming call cannot tell an edge that cancelled it (its client hung up, a budget
//! cut the stream) from an edge that died: both only drop the stream. The connection can: a
//! process killed with SIGKILL closes its sockets, so the connection ends. Routing uses this to
//! bill, itself, the calls of an edge that vanished before it could (see
//! `tollgate_routing::backstop`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// One accepted connection, unique for the life of the process (a peer address is not: ports
/// are reused). In every RPC's extensions as part of [`ConnInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

/// Told when a connection is closed, whichever side closed it.
pub trait ConnectionWatch: Send + Sync + 'static {
    fn closed(&self, conn: ConnId);
}

/// What an RPC knows of its connection (`request.extensions().get::<ConnInfo>()`).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub id: ConnId,
    pub tcp: TcpConnectInfo,
}

/// An accepted TCP stream that tells its watch when hyper drops it (the connection ended).
pub(crate) struct Watched {
    io: TcpStream,
    id: ConnId,
    watch: Option<Arc<dyn ConnectionWatch>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Watched {
    pub(crate) fn new(io: TcpStream, watch: Option<Arc<dyn ConnectionWatch>>) -> Watched {
        Watched {
            io,
            id: ConnId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            watch,
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(watch) = &self.watch {
            watch.closed(self.id);
        }
    }
}

impl Connected for Watched {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            id: self.id,
            tcp: self.io.connect_info(),
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
