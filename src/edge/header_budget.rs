//! A cap on the bytes of a request header, read by read, before Pingora
//! buffers it. Counted in `clickedge_limit_hits_total` as `header_bytes`.

use crate::metrics::{Limit, LimitHits};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// A connection's stream that refuses to read more of a request header
/// than the budget: Pingora buffers a header of up to 1 MiB before any
/// limit of ours can look at it, so a client sending an endless header
/// would hold 1 MiB a connection. Bytes count from the start of a request
/// (the connection's, or the end of the previous answer) until the blank
/// line that ends its header; past the budget the read fails, the
/// connection closes, and `header_bytes` is counted. Bodies are not
/// counted, and an interim `100 Continue` does not start a new header.
/// Costs a request one scan of its header bytes.
pub(crate) struct HeaderBudget {
    inner: pingora::protocols::Stream,
    budget: usize,
    in_header: bool,
    seen: usize,
    /// How much of a header's end (`\r\n\r\n`, or bare `\n`s) was just read.
    end: u8,
    hits: LimitHits,
}

impl HeaderBudget {
    pub(crate) fn new(
        inner: pingora::protocols::Stream,
        budget: usize,
        hits: LimitHits,
    ) -> HeaderBudget {
        HeaderBudget {
            inner,
            budget,
            in_header: true,
            seen: 0,
            end: 0,
            hits,
        }
    }

    /// Counts bytes just read; `Err` when the header is over budget.
    fn account(&mut self, read: &[u8]) -> std::io::Result<()> {
        if !self.in_header {
            return Ok(());
        }
        for (i, &b) in read.iter().enumerate() {
            self.end = match (self.end, b) {
                (2 | 3, b'\n') => 4,
                (2, b'\r') => 3,
                (_, b'\n') => 2,
                (_, b'\r') => 1,
                _ => 0,
            };
            if self.end == 4 {
                self.in_header = false;
                self.seen += i + 1;
                return Ok(());
            }
        }
        self.seen += read.len();
        if self.seen > self.budget {
            self.hits.hit(Limit::HeaderBytes);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request header over limits.max_header_bytes",
            ));
        }
        Ok(())
    }

    /// An answer went out: the next bytes are a new request's header.
    fn answered(&mut self, written: &[u8]) {
        if !written.is_empty()
            && !written.starts_with(b"HTTP/1.1 1")
            && !written.starts_with(b"HTTP/1.0 1")
        {
            self.in_header = true;
            self.seen = 0;
            self.end = 0;
        }
    }
}

impl std::fmt::Debug for HeaderBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderBudget")
            .field("inner", &self.inner)
            .finish()
    }
}

impl tokio::io::AsyncRead for HeaderBudget {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(Ok(())) => {
                std::task::Poll::Ready(this.account(&buf.filled()[before..]))
            }
            other => other,
        }
    }
}

impl tokio::io::AsyncWrite for HeaderBudget {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let done = std::pin::Pin::new(&mut this.inner).poll_write(cx, data);
        if let std::task::Poll::Ready(Ok(n)) = done {
            this.answered(&data[..n]);
        }
        done
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl pingora::protocols::Shutdown for HeaderBudget {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl pingora::protocols::UniqueID for HeaderBudget {
    fn id(&self) -> pingora::protocols::UniqueIDType {
        self.inner.id()
    }
}

impl pingora::protocols::Ssl for HeaderBudget {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl pingora::protocols::GetTimingDigest for HeaderBudget {
    fn get_timing_digest(&self) -> Vec<Option<pingora::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl pingora::protocols::GetProxyDigest for HeaderBudget {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: pingora::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl pingora::protocols::GetSocketDigest for HeaderBudget {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: pingora::protocols::SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl pingora::protocols::Peek for HeaderBudget {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}
