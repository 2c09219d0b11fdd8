//! Limits against abusive or broken clients, for `clickedge serve`: request
//! header size and count, the time to send a request header, idle keep-alive
//! connections, and requests per connection. Each trigger is counted in
//! `clickedge_limit_hits_total{limit=...}`. (The click query's length is the
//! click parser's: `click.max_query_bytes`, a 400 counted as `query_too_long`.)
//!
//! Owns: [`Guarded`], a wrapper around Pingora's HTTP app that puts a
//! deadline on reading each HTTP/1 request header, and [`Limits::check`],
//! which the proxy runs first on every request.
//!
//! Why a wrapper: Pingora reads the request header before any `ProxyHttp`
//! hook runs, with a per-read timeout of 60 s on a new connection and none
//! between keep-alive requests, so a client dripping a byte at a time could
//! hold a connection for ever. The wrapper races the whole request against
//! the deadline and gives up only while the header is still unread (the
//! proxy marks it read in `on_connection_reuse`, through the connection's
//! user context); an answer or a proxied request in progress is never cut.

use crate::config::{LimitsConfig, Problems};
use crate::metrics::{Limit, LimitHits};
use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The limits, with their counters.
#[derive(Clone)]
pub(crate) struct Limits {
    max_header_bytes: usize,
    max_headers: usize,
    idle_timeout: Duration,
    header_timeout: Duration,
    body_timeout: Duration,
    /// Pingora's `keepalive_request_limit`: reuses after the first request.
    reuse_limit: u32,
    hits: LimitHits,
}

/// The connection user context the wrapper hands to the proxy: set once the
/// request header has been read.
pub(crate) struct HeaderRead(Arc<AtomicBool>);

impl HeaderRead {
    /// Called by the proxy's `on_connection_reuse` with the context it got.
    pub(crate) fn mark(ctx: Box<dyn std::any::Any + Send + Sync>) {
        if let Ok(h) = ctx.downcast::<HeaderRead>() {
            h.0.store(true, Ordering::Release);
        }
    }
}

impl Limits {
    /// Checks the `limits` section; every problem named by its key.
    pub(crate) fn check_config(cfg: &LimitsConfig) -> Result<(), Problems> {
        let mut p = Problems::default();
        if !(1024..=1024 * 1024).contains(&cfg.max_header_bytes) {
            p.push(
                "limits.max_header_bytes",
                format!(
                    "{} is out of range; use 1024 to 1048576 (default {})",
                    cfg.max_header_bytes,
                    LimitsConfig::default().max_header_bytes
                ),
            );
        }
        if !(8..=256).contains(&cfg.max_headers) {
            p.push(
                "limits.max_headers",
                format!(
                    "{} is out of range; use 8 to 256 (default {})",
                    cfg.max_headers,
                    LimitsConfig::default().max_headers
                ),
            );
        }
        for (name, v) in [
            ("limits.header_timeout_seconds", cfg.header_timeout_seconds),
            ("limits.idle_timeout_seconds", cfg.idle_timeout_seconds),
            ("limits.body_timeout_seconds", cfg.body_timeout_seconds),
        ] {
            if v == 0 || v > 3600 {
                p.push(name, format!("{v} is out of range; use 1 to 3600"));
            }
        }
        p.or(())
    }

    /// From a section [`Limits::check_config`] accepted; the counters come from
    /// the edge's metrics ([`crate::metrics::Metrics::limits`]).
    pub(crate) fn new(cfg: &LimitsConfig, hits: LimitHits) -> Limits {
        Limits {
            max_header_bytes: cfg.max_header_bytes,
            max_headers: cfg.max_headers,
            idle_timeout: Duration::from_secs(cfg.idle_timeout_seconds),
            header_timeout: Duration::from_secs(cfg.header_timeout_seconds),
            body_timeout: Duration::from_secs(cfg.body_timeout_seconds),
            reuse_limit: match cfg.requests_per_connection {
                0 => u32::MAX,
                n => n - 1,
            },
            hits,
        }
    }

    /// `limits.header_timeout_seconds`: also the TLS handshake's deadline.
    pub(crate) fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// `limits.body_timeout_seconds`.
    pub(crate) fn body_timeout(&self) -> Duration {
        self.body_timeout
    }

    /// The counters, to count a limit met elsewhere.
    pub(crate) fn hits(&self) -> &LimitHits {
        &self.hits
    }

    /// Pingora's options for the proxy service: the request limit per
    /// connection and the HTTP/2 idle timeout.
    pub(crate) fn server_options(&self) -> HttpServerOptions {
        let mut o = HttpServerOptions::default();
        o.keepalive_request_limit = Some(self.reuse_limit);
        o.h2_idle_timeout = Some(self.idle_timeout);
        o
    }

    /// Runs first on every request. Sets the idle timeout for the wait for
    /// the next request, counts the last request of a connection, and says
    /// why the request must be refused (431), if it must.
    pub(crate) fn check(&self, session: &mut Session) -> Option<&'static str> {
        // HTTP/1.1 keep-alive would otherwise wait for the next request for
        // ever; only a connection that is kept alive gets the timeout.
        if session.get_keepalive().is_some() {
            session.set_keepalive(Some(self.idle_timeout.as_secs()));
        }
        if session.get_keepalive_reuses_remaining() == Some(0) && self.reuse_limit != u32::MAX {
            self.hits.hit(Limit::RequestsPerConnection);
        }
        let h = session.req_header();
        if h.headers.len() > self.max_headers {
            self.hits.hit(Limit::Headers);
            return Some("too many request header fields\n");
        }
        // The request line and each `name: value\r\n` line, as sent.
        let line = h.method.as_str().len() + h.raw_path().len() + 12;
        let bytes = h
            .headers
            .iter()
            .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4);
        if bytes > self.max_header_bytes {
            self.hits.hit(Limit::HeaderBytes);
            return Some("request header too large\n");
        }
        None
    }
}

/// Pingora's HTTP app (the proxy) with a deadline on each HTTP/1 request
/// header: the header timeout from the connection's start for its first
/// request, the idle timeout plus the header timeout for later ones.
///
/// It also drains kept-alive connections on shutdown: Pingora closes every
/// connection waiting for its next request as soon as shutdown starts, which
/// races a client that is sending one (a failed request for it). The wrapper
/// holds that back for `drain`; meanwhile each connection's next request is
/// answered with `Connection: close`, and the client reconnects.
pub(crate) struct Guarded<A> {
    app: Arc<A>,
    limits: Limits,
    drain: Duration,
}

impl<A> Guarded<A> {
    pub(crate) fn new(app: A, limits: Limits, drain: Duration) -> Guarded<A> {
        Guarded {
            app: Arc::new(app),
            limits,
            drain,
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for Guarded<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if session.is_http2() {
            // The stream's header has already arrived; h2 has its own limits.
            return self.app.process_new_http(session, shutdown).await;
        }
        let l = &self.limits;
        // Pipelined requests are answered in order (docs/contract.md §4),
        // not dropped with their connection; the setting follows the
        // connection from request to request.
        session.set_pipelining_enabled(true);
        // The longest wait for any piece of a body (the whole body's
        // deadline is the proxy's and the click plugin's).
        session.set_read_timeout(Some(l.body_timeout));
        let first = match session.get_keepalive_reuses_remaining() {
            Some(n) => n == l.reuse_limit,
            // An app without a request limit (the metrics listener): every
            // request gets the first one's deadline.
            None => true,
        };
        let deadline = if first {
            l.header_timeout
        } else {
            l.idle_timeout + l.header_timeout
        };
        let read = Arc::new(AtomicBool::new(false));
        session.set_connection_user_context(Some(Box::new(HeaderRead(read.clone()))));
        let start = Instant::now();
        let work = self.app.process_new_http(session, shutdown);
        tokio::pin!(work);
        tokio::select! {
            biased;
            done = &mut work => {
                if done.is_none()
                    && !first
                    && !read.load(Ordering::Acquire)
                    && start.elapsed() >= l.idle_timeout
                {
                    l.hits.hit(Limit::IdleTimeout);
                }
                done
            }
            () = tokio::time::sleep(deadline) => {
                if read.load(Ordering::Acquire) {
                    work.await
                } else {
                    // Dropping the request closes the connection.
                    l.hits.hit(Limit::HeaderTimeout);
                    None
                }
            }
        }
    }

    fn h2_options(&self) -> Option<pingora::protocols::http::v2::server::H2Options> {
        self.app.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.app.server_options()
    }

    async fn http_cleanup(&self) {
        tokio::time::sleep(self.drain).await;
        self.app.http_cleanup().await
    }
}
