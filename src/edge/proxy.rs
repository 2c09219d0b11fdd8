//! The Pingora glue: the click plugin any `ProxyHttp` can call from its
//! `request_filter`, the standalone proxy the binary runs, and the metrics
//! listener.
//!
//! Owns: turning a Pingora session into the click core's [`Request`] and
//! the core's [`Answer`] into bytes on the wire, in this order:
//!
//! ```text
//! decide ─► (a body: read and ignored) ─► counted ─► event queued (try_send) ─► answer written
//! ```
//!
//! Invariants: no decision is made here (that is [`crate::decide`]); nothing
//! waits for disk, network or a lock; the only `.await`s are reading a
//! request's body (a beacon's, or any other sent with a request the edge
//! answers) and writing the answer. An event is queued before its
//! answer is written: a click is logged once decided, whether or not the
//! client is still there to read the answer. Answers keep the connection
//! alive (explicit `Content-Length`, never `respond_error`).

use crate::decide::{Answer, Decider, Decision, Now, Outcome, Request, REDIRECT_CACHE_CONTROL};
use crate::edge::forwarded::{Resolved, TrustedProxies};
use crate::metrics::{BadRequest, Metrics};
use crate::spool::EventQueue;
use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{Method, RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::{ErrorType::InvalidHTTPHeader, OrErr, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The click plugin. Call [`ClickEdge::handle`] first thing in your
/// `request_filter`; when it returns `Ok(true)` the request was answered.
/// Cheap to clone: clones share the core, the queue and the metrics.
#[derive(Clone)]
pub struct ClickEdge {
    core: Arc<Decider>,
    events: EventQueue,
    metrics: Arc<Metrics>,
    beacon_max_body: usize,
    /// The longest a beacon's body may take (`limits.body_timeout_seconds`).
    body_timeout: std::time::Duration,
    trusted: Arc<TrustedProxies>,
    /// `/v1/conversions`, when the edge takes conversions.
    intake: Option<crate::edge::conversions::Intake>,
}

impl ClickEdge {
    /// Builds the plugin around a core and a queue. [`crate::Runtime`]
    /// makes one from a config; this is for those who build their own.
    pub fn new(
        core: Arc<Decider>,
        events: EventQueue,
        metrics: Arc<Metrics>,
        beacon_max_body: usize,
    ) -> ClickEdge {
        ClickEdge {
            core,
            events,
            metrics,
            beacon_max_body,
            body_timeout: std::time::Duration::from_secs(30),
            trusted: Arc::default(),
            intake: None,
        }
    }

    /// Takes conversions on `/v1/conversions` (while the policy has
    /// `conversions.keys`), written through this durable spool.
    pub(crate) fn with_conversions(mut self, queue: crate::spool::DurableQueue) -> ClickEdge {
        for r in crate::conversion::intake::Refusal::ALL {
            self.metrics
                .conversions_refused
                .with_label_values(&[r.as_str()]);
        }
        self.intake = Some(crate::edge::conversions::Intake { queue });
        self
    }

    /// The longest a beacon's body may take before the connection is
    /// closed (the beacon is still counted).
    pub fn with_body_timeout(mut self, timeout: std::time::Duration) -> ClickEdge {
        self.body_timeout = timeout;
        self
    }

    /// Believe `X-Forwarded-For` and `Forwarded` from these peers only
    /// (see `crate::edge::forwarded`).
    pub fn with_trusted_proxies(mut self, trusted: TrustedProxies) -> ClickEdge {
        self.trusted = Arc::new(trusted);
        self
    }

    /// The client's address (and the checked chain) of a session: the
    /// peer, or behind a trusted proxy the address it forwarded.
    pub fn client(&self, session: &Session) -> Option<Resolved> {
        let peer = session.client_addr()?.as_inet()?.ip();
        Some(self.trusted.resolve(peer, &session.req_header().headers))
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The slot the policy lives in, for a reloader (see
    /// [`Decider::policy_slot`]).
    pub fn policy_slot(&self) -> Arc<arc_swap::ArcSwap<crate::policy::Policy>> {
        self.core.policy_slot()
    }

    /// Answers the edge's own paths. `Ok(false)`: not ours, carry on.
    pub async fn handle(&self, session: &mut Session) -> Result<bool> {
        if let Some(intake) = &self.intake {
            if session.req_header().uri.path() == crate::edge::conversions::PATH {
                let policy = self.core.policy_slot().load_full();
                if let Some(c) = &policy.conversions {
                    intake
                        .handle(
                            session,
                            c,
                            self.core.edge_id(),
                            &self.metrics,
                            self.body_timeout,
                        )
                        .await?;
                    return Ok(true);
                }
            }
        }
        let mut started = Instant::now();
        let decision = {
            let req = session.req_header();
            let view = Request {
                method: req.method.as_str(),
                path: req.uri.path(),
                query: req.uri.query().unwrap_or(""),
                headers: &req.headers,
                client_ip: self.client(session).map(|r| r.client),
                secure: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
            };
            self.core.decide(&view, Now::current())
        };
        let mut answer = match decision {
            Decision::Pass => return Ok(false),
            Decision::Answer(a) => a,
        };
        if answer.read_body || !session.is_body_done() {
            // The body is read and thrown away (a beacon's, or one sent
            // with any other request the edge answers), so that the
            // connection serves the request pipelined behind it. The wait
            // is not the edge's latency.
            let decided = started.elapsed();
            self.discard_body(session).await;
            started = Instant::now().checked_sub(decided).unwrap_or(started);
        }
        match answer.outcome {
            Outcome::Page => {}
            Outcome::BadMethod => self.metrics.bad_method.inc(),
            Outcome::Refused(e) => self.metrics.refused(e),
            Outcome::Click { reason, action } => self.metrics.click(reason, action),
        }
        if let Some(event) = answer.event.take() {
            // Logged whether or not the answer reaches the client: the
            // click was decided (and opened its duplicate window), and a
            // written answer only ever meant the kernel took it.
            self.events.push(event);
        }
        let is_click = answer.outcome.is_click();
        // A client that is gone by the time its answer is written is the
        // client's business: the connection is closed and counted, never an
        // error (Pingora would log the whole click URL with it).
        let written = write_answer(session, answer).await;
        if !is_click {
            return written.map(|()| true);
        }
        if written.is_err() {
            self.metrics.unanswered.inc();
            session.set_keepalive(None);
        }
        self.metrics
            .latency
            .observe(started.elapsed().as_secs_f64());
        Ok(true)
    }

    /// Pingora's one-line summary of a request, for its error log, without
    /// the path or query: a click's holds the landing URL (which may carry
    /// personal data) and the signature, and any other path may carry an
    /// e-mail address or a token. Embedders: return this from
    /// `ProxyHttp::request_summary`.
    pub fn request_summary(session: &Session) -> String {
        let req = session.req_header();
        let host = req
            .headers
            .get("host")
            .map(|h| String::from_utf8_lossy(h.as_bytes()))
            .unwrap_or_default();
        format!("{} <path withheld>, Host: {host}", req.method)
    }

    /// Reads a request's body, if it has one, and throws it away before the
    /// edge answers: a body left unread would make Pingora close the
    /// connection after the answer, and drop a request pipelined behind it.
    /// A client that sent `Expect: 100-continue` gets `100 Continue` first
    /// (what curl waits for, and what keeps the connection's framing
    /// certain). One that never arrives in full (a tab closed mid-send, or
    /// a drip) does not stop the request being answered: past
    /// `click.beacon_max_body_bytes` or `limits.body_timeout_seconds` the
    /// connection is closed after the answer.
    pub(crate) async fn discard_body(&self, session: &mut Session) {
        if session.is_body_done() {
            return;
        }
        let req = session.req_header();
        let expects = req.version != http::Version::HTTP_10
            && req.headers.get_all("expect").iter().any(|v| {
                v.as_bytes()
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"100-continue")
            });
        if expects {
            // Pingora marks the connection for closing when any response
            // is written before the body is read, a `100 Continue` too;
            // that holds for the final answer only.
            session.set_close_on_response_before_downstream_finish(false);
            let sent = session.write_continue_response().await;
            session.set_close_on_response_before_downstream_finish(true);
            if sent.is_err() {
                session.set_keepalive(None);
                return;
            }
        }
        match tokio::time::timeout(self.body_timeout, self.skip_body(session)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => session.set_keepalive(None),
            Err(_) => {
                self.metrics.limits.hit(crate::metrics::Limit::BodyTimeout);
                session.set_keepalive(None);
            }
        }
    }

    /// Reads a body up to the limit and throws it away; past the limit the
    /// connection is not reused.
    async fn skip_body(&self, session: &mut Session) -> Result<()> {
        let mut read = 0usize;
        while let Some(chunk) = session.read_request_body().await? {
            read += chunk.len();
            if read > self.beacon_max_body {
                session.set_keepalive(None);
                break;
            }
        }
        Ok(())
    }
}

/// Writes an answer of the click core (docs/contract.md §4). A redirect
/// and a block carry `Content-Length: 0` so the connection stays alive; a
/// 204 has no body by definition. The fixed values are static and the
/// `Location` takes over the string it was built in: no value is copied.
async fn write_answer(session: &mut Session, a: Answer) -> Result<()> {
    const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
    if let Some(text) = a.text {
        let mut h = text_header(a.status, &text)?;
        if let Some(allow) = a.allow {
            h.insert_header("Allow", allow)?;
        }
        return write_text(session, h, &text).await;
    }
    let mut h = ResponseHeader::build(a.status, Some(5))?;
    match a.location {
        Some(location) => {
            let location = HeaderValue::from_maybe_shared(Bytes::from(location))
                .or_err(InvalidHTTPHeader, "Location is not a valid header value")?;
            h.insert_header("Location", location)?;
            h.insert_header(
                "Cache-Control",
                HeaderValue::from_static(REDIRECT_CACHE_CONTROL),
            )?;
            h.insert_header("Pragma", HeaderValue::from_static("no-cache"))?;
            h.insert_header("Expires", HeaderValue::from_static("0"))?;
        }
        None => h.insert_header("Cache-Control", NO_STORE)?,
    }
    if a.status != 204 {
        h.insert_header("Content-Length", HeaderValue::from_static("0"))?;
    }
    session.write_response_header(Box::new(h), true).await
}

fn text_header(status: u16, body: &str) -> Result<Box<ResponseHeader>> {
    let mut h = ResponseHeader::build(status, Some(4))?;
    h.insert_header("Content-Type", "text/plain; charset=utf-8")?;
    h.insert_header("Cache-Control", "no-store")?;
    h.insert_header("Content-Length", body.len())?;
    Ok(Box::new(h))
}

async fn write_text(session: &mut Session, header: Box<ResponseHeader>, body: &str) -> Result<()> {
    let head_only = session.req_header().method == Method::HEAD;
    session.write_response_header(header, head_only).await?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::copy_from_slice(body.as_bytes())), true)
            .await?;
    }
    Ok(())
}

/// A short plain-text answer that keeps the connection alive.
pub(crate) async fn respond_text(session: &mut Session, status: u16, body: &str) -> Result<()> {
    write_text(session, text_header(status, body)?, body).await
}

/// The standalone proxy of `clickedge serve`: the click plugin, then the
/// operator's origin for everything else (404 when none is configured).
pub(crate) struct EdgeProxy {
    pub edge: ClickEdge,
    pub origin: Option<SocketAddr>,
    pub limits: crate::edge::limits::Limits,
    /// `server.log_request_paths`: a debugging aid that lets paths and
    /// queries into the error log.
    pub log_paths: bool,
}

/// Why a request is refused before anything else looks at it (a 400 that
/// closes the connection), counted in `clickedge_bad_requests_total`.
fn malformed(session: &Session) -> Option<BadRequest> {
    let req = session.req_header();
    let mut lengths = req.headers.get_all("content-length").iter();
    if let Some(first) = lengths.next() {
        let digits = |v: &[u8]| !v.is_empty() && v.len() <= 18 && v.iter().all(u8::is_ascii_digit);
        if lengths.next().is_some() || !digits(first.as_bytes()) {
            return Some(BadRequest::BadContentLength);
        }
    }
    if req.version == http::Version::HTTP_11 && req.headers.get("host").is_none() {
        return Some(BadRequest::MissingHost);
    }
    None
}

/// Headers that name the client, or the host or scheme it used, as some
/// proxy on the way saw it: a client can write any of them, so none
/// reaches the origin as it came (the edge writes its own
/// `X-Forwarded-For`, `X-Real-IP` and `X-Forwarded-Proto`).
const UNVOUCHED: [&str; 16] = [
    "forwarded",
    "x-forwarded",
    "forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-original-forwarded-for",
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "fastly-client-ip",
    "x-envoy-external-address",
    "x-appengine-user-ip",
];

/// What the standalone proxy keeps per request.
pub(crate) struct RequestCtx {
    /// When the request's header was read: its body's deadline runs from here.
    started: Instant,
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
        }
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
        prev: Box<dyn std::any::Any + Send + Sync>,
    ) {
        crate::edge::limits::HeaderRead::mark(prev);
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.started = Instant::now();
        if let Some(why) = self.limits.check(session) {
            session.set_keepalive(None);
            respond_text(session, 431, why).await?;
            return Ok(true);
        }
        if let Some(bad) = malformed(session) {
            self.edge.metrics().bad_request(bad);
            session.set_keepalive(None);
            respond_text(session, 400, bad.message()).await?;
            return Ok(true);
        }
        if self.edge.handle(session).await? {
            return Ok(true);
        }
        if self.origin.is_none() {
            self.edge.discard_body(session).await;
            respond_text(session, 404, "not found\n").await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A body proxied to the origin must arrive in full within
    /// `limits.body_timeout_seconds` (each piece within the same time is
    /// Pingora's read timeout, set by the limits wrapper).
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if ctx.started.elapsed() > self.limits.body_timeout() {
            self.limits.hits().hit(crate::metrics::Limit::BodyTimeout);
            return Err(pingora::Error::explain(
                pingora::ErrorType::ReadTimedout,
                "request body past limits.body_timeout_seconds",
            ));
        }
        Ok(())
    }

    fn request_summary(&self, session: &Session, _ctx: &RequestCtx) -> String {
        if self.log_paths {
            return session.as_ref().request_summary();
        }
        ClickEdge::request_summary(session)
    }

    /// The origin gets only what the edge vouches for (docs/contract.md
    /// §8): the client's address as `X-Forwarded-For` (the checked chain
    /// and the peer) and `X-Real-IP`, and the scheme as
    /// `X-Forwarded-Proto`. Every other header that names the client, or
    /// the host or scheme it used, is removed: the edge cannot tell what a
    /// client wrote there from what a proxy did.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        for name in UNVOUCHED {
            upstream.remove_header(name);
        }
        let client = self.edge.client(session);
        match &client {
            Some(r) => {
                upstream.insert_header("X-Forwarded-For", r.forwarded_for())?;
                upstream.insert_header("X-Real-IP", r.client.to_string())?;
            }
            None => {
                upstream.remove_header("x-forwarded-for");
                upstream.remove_header("x-real-ip");
            }
        }
        // The scheme the edge was reached by; behind a trusted proxy, the
        // one it says the client used (it may have ended TLS itself).
        let own = if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
            "https"
        } else {
            "http"
        };
        let trusted_peer = client.is_some_and(|r| self.edge.trusted.contains(r.peer));
        let forwarded = trusted_peer
            .then(|| {
                let mut lines = upstream.headers.get_all("x-forwarded-proto").iter();
                match (lines.next(), lines.next()) {
                    (Some(v), None) => ["https", "http"]
                        .into_iter()
                        .find(|s| v.as_bytes().trim_ascii().eq_ignore_ascii_case(s.as_bytes())),
                    _ => None,
                }
            })
            .flatten();
        upstream.insert_header("X-Forwarded-Proto", forwarded.unwrap_or(own))?;
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        match self.origin {
            Some(addr) => {
                // A stalled origin holds no request (and no descriptor on
                // either side) for ever: Pingora's peer has no timeout of
                // its own. A read or write that waits longer than the body
                // deadline ends the request with a 502/504.
                let mut peer = HttpPeer::new(addr, false, String::new());
                let wait = self.limits.body_timeout();
                peer.options.connection_timeout = Some(ORIGIN_CONNECT_TIMEOUT.min(wait));
                peer.options.read_timeout = Some(wait);
                peer.options.write_timeout = Some(wait);
                Ok(Box::new(peer))
            }
            None => Err(pingora::Error::new_str("no origin configured")),
        }
    }
}

/// How long a new connection to the origin may take.
const ORIGIN_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET /metrics` (any path, in fact) on the metrics listener.
pub(crate) struct MetricsApp {
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl pingora::apps::http_app::ServeHttp for MetricsApp {
    async fn response(
        &self,
        _session: &mut pingora::protocols::http::ServerSession,
    ) -> http::Response<Vec<u8>> {
        let body = self.metrics.render();
        http::Response::builder()
            .status(200)
            .header("Content-Type", "text/plain; version=0.0.4")
            .header("Content-Length", body.len())
            .body(body)
            .unwrap_or_default()
    }
}
