//! The Pingora glue: the click plugin any `ProxyHttp` can call from its
//! `request_filter`, the standalone proxy the binary runs, and the metrics
//! listener.
//!
//! Owns: which paths are the edge's (`/c`, `/b`, `/robots.txt`,
//! `/healthz`), the bytes of every answer on them (SPEC §4), and the order
//! of the click path:
//!
//! ```text
//! parse + verify ─► classify ─► answer written ─► event queued (try_send)
//! ```
//!
//! Invariants: nothing on the click path waits for disk, network or a lock;
//! the only `.await`s are reading a beacon's body and writing the answer.
//! An event is queued once its answer was written, so every logged click is
//! one a client was answered for. Answers keep the connection alive
//! (explicit `Content-Length`, never `respond_error`).
//!
//! Does not: parse URLs (`click`), classify (`ivt`), or touch files (`spool`).

use crate::click::{self, ClickError};
use crate::config::Config;
use crate::event::{self, Event};
use crate::ivt::{self, Action, DuplicateWindow, Reason, Signals};
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::spool::{EventQueue, Spool, SpoolConfig};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{Method, RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::{ErrorType::InvalidHTTPHeader, OrErr, Result};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// `Cache-Control` of a redirect (SPEC §4): no cache anywhere may keep it,
/// or the next user's click would never reach the edge.
pub const REDIRECT_CACHE_CONTROL: &str = "no-store, no-cache, must-revalidate, private, max-age=0";

/// Disallows the click paths, and nothing else of the origin's site.
/// `Disallow` is a prefix match, so `/c?` rather than `/c` (which would
/// also hide `/cars`); `$` anchors the bare paths for crawlers that
/// support it.
pub const ROBOTS_TXT: &str =
    "User-agent: *\nDisallow: /c?\nDisallow: /c$\nDisallow: /b?\nDisallow: /b$\n";

/// Errors starting the edge.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("config problems:\n  {}", .0.join("\n  "))]
    Config(Vec<String>),
    #[error("cannot start the spool under {dir}: {source}")]
    Spool {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {error} (is another process on that port?)")]
    Listen { addr: String, error: std::io::Error },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Click,
    Beacon,
}

/// The click plugin. Call [`ClickEdge::handle`] first thing in your
/// `request_filter`; when it returns `Ok(true)` the request was answered.
pub struct ClickEdge {
    policy: Arc<ArcSwap<Policy>>,
    privacy: crate::privacy::Privacy,
    duplicates: DuplicateWindow,
    clickid_param: String,
    beacon_max_body: usize,
    robots_txt: bool,
    edge_id: String,
    events: EventQueue,
    metrics: Arc<Metrics>,
}

/// How a click is answered, decided before anything is written.
struct Answer {
    status: u16,
    /// For a redirect.
    location: Option<String>,
    event: Vec<u8>,
    reason: Option<Reason>,
    action: Action,
}

impl ClickEdge {
    /// Checks the config, starts the spool writer, and builds the plugin.
    /// Call [`Spool::shutdown`] once your server has stopped, so that every
    /// queued event reaches the disk.
    pub fn start(cfg: &Config) -> std::result::Result<(ClickEdge, Spool), StartError> {
        let problems = cfg.problems(false);
        if !problems.is_empty() {
            return Err(StartError::Config(problems));
        }
        let policy = Policy::load(cfg).map_err(StartError::Config)?;
        let metrics = Arc::new(Metrics::new());
        let spool_cfg = SpoolConfig::from_config(cfg);
        let dir = spool_cfg.dir.clone();
        let spool = Spool::start(spool_cfg, metrics.clone())
            .map_err(|source| StartError::Spool { dir, source })?;
        let edge = ClickEdge::new(cfg, policy, spool.queue(), metrics);
        Ok((edge, spool))
    }

    /// Builds the plugin around a policy and a queue you made yourself.
    pub fn new(
        cfg: &Config,
        policy: Policy,
        events: EventQueue,
        metrics: Arc<Metrics>,
    ) -> ClickEdge {
        ClickEdge {
            policy: Arc::new(ArcSwap::from_pointee(policy)),
            privacy: cfg.privacy.build(),
            duplicates: DuplicateWindow::new(
                std::time::Duration::from_secs(cfg.ivt.duplicate_window_seconds),
                cfg.ivt.duplicate_max_entries,
            ),
            clickid_param: cfg.click.clickid_param.clone(),
            beacon_max_body: cfg.click.beacon_max_body_bytes,
            robots_txt: cfg.click.robots_txt,
            edge_id: cfg.edge_id(),
            events,
            metrics,
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The slot the policy lives in, for a reloader: `store` a new policy
    /// there and the next request uses it; requests in flight finish with
    /// the one they loaded.
    pub fn policy_slot(&self) -> Arc<ArcSwap<Policy>> {
        self.policy.clone()
    }

    /// Answers the edge's own paths. `Ok(false)`: not ours, carry on.
    pub async fn handle(&self, session: &mut Session) -> Result<bool> {
        let endpoint = match session.req_header().uri.path() {
            "/c" => Endpoint::Click,
            "/b" => Endpoint::Beacon,
            "/robots.txt" if self.robots_txt => {
                respond_text(session, 200, ROBOTS_TXT).await?;
                return Ok(true);
            }
            "/healthz" => {
                respond_text(session, 200, "ok\n").await?;
                return Ok(true);
            }
            _ => return Ok(false),
        };
        self.click(session, endpoint).await?;
        Ok(true)
    }

    async fn click(&self, session: &mut Session, endpoint: Endpoint) -> Result<()> {
        let started = Instant::now();
        let method = &session.req_header().method;
        let allowed = match endpoint {
            Endpoint::Click => method == Method::GET || method == Method::HEAD,
            Endpoint::Beacon => method == Method::GET || method == Method::POST,
        };
        if !allowed {
            self.metrics.bad_method.inc();
            let allow = match endpoint {
                Endpoint::Click => "GET, HEAD",
                Endpoint::Beacon => "GET, POST",
            };
            let mut h = text_header(405, "method not allowed\n")?;
            h.insert_header("Allow", allow)?;
            return write_text(session, h, "method not allowed\n").await;
        }
        if endpoint == Endpoint::Beacon && method == Method::POST {
            // The body is ignored; one that never arrives (a tab closed
            // mid-send) does not stop the beacon being counted. The
            // connection is not reused after it.
            if self.skip_body(session).await.is_err() {
                session.set_keepalive(None);
            }
        }

        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let decided = self
            .decide(session.req_header(), client_ip, endpoint)
            .and_then(|mut a| match answer_header(a.status, a.location.take()) {
                Ok(h) => Ok((a, h)),
                // Only a Location that is not a valid header value can fail.
                Err(_) => Err(ClickError::BadLanding),
            });
        // A client that is gone by the time its answer is written is the
        // client's business: the connection is closed and counted, never an
        // error (Pingora would log the whole click URL with it).
        let written = match decided {
            Err(e) => {
                self.metrics.refused(e);
                let body = format!("{e}\n");
                write_text(session, text_header(e.status(), &body)?, &body).await
            }
            Ok((answer, header)) => {
                // Logged whether or not the answer reaches the client: the
                // click was decided (and opened its duplicate window), and a
                // written answer only ever meant the kernel took it.
                self.metrics.click(answer.reason, answer.action);
                self.events.push(answer.event);
                session.write_response_header(header, true).await
            }
        };
        if written.is_err() {
            self.metrics.unanswered.inc();
            session.set_keepalive(None);
        }
        self.metrics
            .latency
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Pingora's one-line summary of a request, for its error log, without
    /// the query of a click or a beacon: that holds the landing URL (which
    /// may carry personal data) and the signature. Embedders: return this
    /// from `ProxyHttp::request_summary`.
    pub fn request_summary(session: &Session) -> String {
        let req = session.req_header();
        match req.uri.path() {
            path @ ("/c" | "/b") => {
                let host = req
                    .headers
                    .get("host")
                    .map(|h| String::from_utf8_lossy(h.as_bytes()))
                    .unwrap_or_default();
                format!("{} {path}?<withheld>, Host: {host}", req.method)
            }
            _ => session.as_ref().request_summary(),
        }
    }

    /// Everything about a click that needs no I/O: verify, classify, build
    /// the answer and encode the event.
    fn decide(
        &self,
        req: &RequestHeader,
        client_ip: Option<IpAddr>,
        endpoint: Endpoint,
    ) -> std::result::Result<Answer, ClickError> {
        let policy = self.policy.load();
        let click = click::parse(req.uri.query().unwrap_or(""), &policy.click)?;
        let user_agent = header_str(req, "user-agent");
        let mut reason = policy.ivt.classify(&Signals {
            req,
            user_agent: &user_agent,
            ip: client_ip,
            test: click.test,
        });
        // Last in SPEC §5's order, and only for a click that would count.
        if reason.is_none() {
            let key = self.duplicates.key(&click.campaign, &click.impression);
            if self
                .duplicates
                .check_and_record(key, self.duplicates.now_ms())
            {
                reason = Some(Reason::Duplicate);
            }
        }
        let blocked = reason.is_some_and(|r| policy.ivt.blocks(r));
        let action = match (blocked, endpoint) {
            (true, _) => Action::Blocked,
            (false, Endpoint::Click) => Action::Redirected,
            (false, Endpoint::Beacon) => Action::Beacon,
        };

        let mut id_buf = uuid::Uuid::encode_buffer();
        let click_id: &str = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut id_buf);

        let (status, location) = match action {
            Action::Redirected => (
                302,
                Some(click::location(
                    &click.landing,
                    &self.clickid_param,
                    click_id,
                )),
            ),
            Action::Beacon => (204, None),
            Action::Blocked if reason == Some(Reason::Prefetch) => (503, None),
            Action::Blocked => (403, None),
        };

        let device = if reason == Some(Reason::KnownBot) {
            crate::device::Device::Bot
        } else {
            crate::device::classify(
                &user_agent,
                req.headers.get("sec-ch-ua-mobile").map(|v| v.as_bytes()),
            )
        };
        // Opted out (GPC, DNT, or a child-directed ad): counted and
        // redirected, but no address, no referrer, only the device class.
        let opted_out = click.child_directed
            || self.privacy.opt_out_headers().iter().any(|h| {
                req.headers
                    .get(h.as_str())
                    .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
            });
        let (ip, ip_full) = self.privacy.ip_fields(client_ip, opted_out);
        // From the full address in memory; only the two-letter code is kept.
        let country = match (&policy.country, client_ip) {
            (Some(db), Some(ip)) => db.lookup(ip),
            _ => crate::geo::Country::default(),
        };
        let logged_ua = if opted_out {
            std::borrow::Cow::Borrowed(device.as_str())
        } else {
            crate::privacy::scrub(&user_agent)
        };
        let referrer_host = if opted_out {
            String::new()
        } else {
            event::referrer_host(&header_str(req, "referer")).to_ascii_lowercase()
        };
        let event = Event {
            ts: SystemTime::now(),
            click_id,
            campaign: &click.campaign,
            impression: &click.impression,
            publisher: &click.publisher,
            landing_host: click.landing_host(),
            verdict: ivt::Verdict::of(reason),
            reason,
            action,
            method: req.method.as_str(),
            ip,
            user_agent: &logged_ua,
            device,
            country: country.as_str(),
            referrer_host: &referrer_host,
            edge: &self.edge_id,
            ip_full,
        }
        .to_line();
        Ok(Answer {
            status,
            location,
            event,
            reason,
            action,
        })
    }

    /// Reads a beacon's body up to the limit and throws it away; past the
    /// limit the connection is not reused.
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

/// A header's value as text (lossy for non-UTF-8 bytes), empty when absent.
fn header_str<'a>(req: &'a RequestHeader, name: &str) -> std::borrow::Cow<'a, str> {
    req.headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .unwrap_or_default()
}

/// The header of a click's answer (SPEC §4). A redirect and a block carry
/// `Content-Length: 0` so the connection stays alive; a 204 has no body by
/// definition. The fixed values are static and the `Location` takes over
/// the string it was built in: no value is copied.
fn answer_header(status: u16, location: Option<String>) -> Result<Box<ResponseHeader>> {
    const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
    let mut h = ResponseHeader::build(status, Some(5))?;
    match location {
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
    if status != 204 {
        h.insert_header("Content-Length", HeaderValue::from_static("0"))?;
    }
    Ok(Box::new(h))
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
pub async fn respond_text(session: &mut Session, status: u16, body: &str) -> Result<()> {
    write_text(session, text_header(status, body)?, body).await
}

/// The standalone proxy of `clickedge serve`: the click plugin, then the
/// operator's origin for everything else (404 when none is configured).
pub struct EdgeProxy {
    pub edge: ClickEdge,
    pub origin: Option<SocketAddr>,
    pub limits: crate::limits::Limits,
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = ();

    fn new_ctx(&self) {}

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
        prev: Box<dyn std::any::Any + Send + Sync>,
    ) {
        crate::limits::HeaderRead::mark(prev);
    }

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        if let Some(why) = self.limits.check(session) {
            session.set_keepalive(None);
            respond_text(session, 431, why).await?;
            return Ok(true);
        }
        if self.edge.handle(session).await? {
            return Ok(true);
        }
        if self.origin.is_none() {
            respond_text(session, 404, "not found\n").await?;
            return Ok(true);
        }
        Ok(false)
    }

    fn request_summary(&self, session: &Session, _ctx: &()) -> String {
        ClickEdge::request_summary(session)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        match self.origin {
            Some(addr) => Ok(Box::new(HttpPeer::new(addr, false, String::new()))),
            None => Err(pingora::Error::new_str("no origin configured")),
        }
    }
}

/// `GET /metrics` (any path, in fact) on the metrics listener.
pub struct MetricsApp {
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
