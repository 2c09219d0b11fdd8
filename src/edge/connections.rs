//! The connection cap and, on a TLS door, the handshake under a deadline:
//! both before Pingora reads anything of a connection. Counted in
//! `clickedge_limit_hits_total` as `connections` and `handshake_timeout`.

use super::header_budget::HeaderBudget;
use crate::metrics::{Limit, LimitHits};
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::server::ShutdownWatch;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A cap on the connections open at once, shared by every door it is
/// given to: one past it is closed as soon as it is accepted, before
/// anything is read or allocated for it, and counted (`Limit::Connections`).
#[derive(Clone)]
pub(crate) struct ConnectionCap {
    live: Arc<std::sync::atomic::AtomicUsize>,
    max: usize,
    hits: LimitHits,
}

impl ConnectionCap {
    pub(crate) fn new(max: usize, hits: LimitHits) -> ConnectionCap {
        ConnectionCap {
            live: Arc::default(),
            max,
            hits,
        }
    }

    /// A slot for one connection, held until it is dropped; `None` (and
    /// counted) past the cap.
    fn enter(&self) -> Option<Live> {
        let n = self.live.fetch_add(1, Ordering::AcqRel) + 1;
        let live = Live(self.live.clone());
        if n > self.max {
            self.hits.hit(Limit::Connections);
            return None; // `live` is released here
        }
        Some(live)
    }
}

/// An app behind a [`ConnectionCap`]: a connection counts from accept to
/// close, keep-alive included, and on a TLS door its handshake too, which
/// [`Capped::with_tls`] runs here under a deadline (Pingora's own runs
/// before any app sees the connection, uncounted, for up to 60 s).
pub(crate) struct Capped<A> {
    app: Arc<A>,
    cap: ConnectionCap,
    header_budget: Option<usize>,
    tls: Option<TlsDoor>,
}

/// The TLS handshake of a door whose listeners accept plain TCP.
struct TlsDoor {
    acceptor: pingora::tls::ssl::SslAcceptor,
    callbacks: Box<dyn pingora::listeners::TlsAccept + Send + Sync>,
    deadline: Duration,
}

impl<A> Capped<A> {
    /// `app` behind `cap`; clones of one `Arc` may sit behind several doors.
    pub(crate) fn new(app: Arc<A>, cap: ConnectionCap) -> Capped<A> {
        Capped {
            app,
            cap,
            header_budget: None,
            tls: None,
        }
    }

    /// Also stop reading a request header past `max_header_bytes` (see
    /// [`HeaderBudget`]).
    pub(crate) fn with_header_budget(mut self, max_header_bytes: usize) -> Capped<A> {
        self.header_budget = Some(max_header_bytes);
        self
    }

    /// Run each connection's TLS handshake (with `callbacks` choosing the
    /// certificate) within `deadline` of its accept; a slower one is closed
    /// and counted (`Limit::HandshakeTimeout`).
    pub(crate) fn with_tls(
        mut self,
        acceptor: pingora::tls::ssl::SslAcceptor,
        callbacks: Box<dyn pingora::listeners::TlsAccept + Send + Sync>,
        deadline: Duration,
    ) -> Capped<A> {
        self.tls = Some(TlsDoor {
            acceptor,
            callbacks,
            deadline,
        });
        self
    }
}

/// One live connection, released when it closes.
struct Live(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl TlsDoor {
    /// The handshake over the accepted TCP stream; `None`: it failed or
    /// missed its deadline, and the connection is closed.
    async fn accept(
        &self,
        stream: pingora::protocols::Stream,
        hits: &LimitHits,
    ) -> Option<pingora::protocols::Stream> {
        use pingora::protocols::l4::stream::Stream as Tcp;
        // The door's listeners are plain TCP ones: the stream is Pingora's.
        let tcp = stream.into_any().downcast::<Tcp>().ok()?;
        let handshake = pingora::protocols::tls::server::handshake_with_callback(
            &self.acceptor,
            *tcp,
            self.callbacks.as_ref(),
        );
        match tokio::time::timeout(self.deadline, handshake).await {
            Ok(Ok(tls)) => Some(Box::new(tls)),
            // A client that gave up or spoke something else: nothing to count.
            Ok(Err(_)) => None,
            Err(_) => {
                hits.hit(Limit::HandshakeTimeout);
                None
            }
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Capped<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: pingora::protocols::Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<pingora::protocols::Stream> {
        let _live = self.cap.enter()?; // dropping the stream closes it
        let stream = match &self.tls {
            Some(door) => door.accept(stream, &self.cap.hits).await?,
            None => stream,
        };
        let h2 = stream.selected_alpn_proto() == Some(pingora::protocols::ALPN::H2);
        let stream = match self.header_budget {
            // HTTP/2 has its own header list limit (64 KiB).
            Some(budget) if !h2 => {
                Box::new(HeaderBudget::new(stream, budget, self.cap.hits.clone()))
            }
            _ => stream,
        };
        self.app.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.app.cleanup().await
    }
}
