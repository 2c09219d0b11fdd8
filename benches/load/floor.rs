//! The floor of the load harness (benches/load/run.sh): a bare Pingora
//! server that answers every request with a fixed 302, and nothing else.
//!
//! It goes through the same Pingora path as `clickedge serve`: an HTTP proxy
//! service whose `request_filter` writes the answer and returns `Ok(true)`,
//! one worker thread. The 302 carries the same headers as a click's redirect
//! (docs/contract.md §4) with a fixed `Location`, so what clickedge costs above this
//! figure is its own work: signature, filters, click id, event, spool.
//! `/healthz` answers 200, as in clickedge: the harness's wrk script ends
//! each run on it so that no click is in flight when wrk stops.
//!
//! `app` mode serves the same answer through Pingora's plainer
//! `ServeHttp` app instead of the proxy service (no proxy session or
//! phases), for a look at what the proxy machinery itself costs.
//!
//! Usage: cargo run --release --example floor -- PORT [proxy|app]
//! Listens on 127.0.0.1:PORT only. SIGTERM or SIGINT stops it.

use async_trait::async_trait;
use pingora::apps::http_app::ServeHttp;
use pingora::http::ResponseHeader;
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use pingora::Result;

const LOCATION: &str = "https://shop.example/p";
const NO_CACHE: &str = "no-store, no-cache, must-revalidate, private, max-age=0";

/// The answer of the proxy mode: a 302 like a click's, or 200 on /healthz.
struct Floor;

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        if session.req_header().uri.path() == "/healthz" {
            let mut h = ResponseHeader::build(200, Some(2))?;
            h.insert_header("Content-Length", "3")?;
            session.write_response_header(Box::new(h), false).await?;
            session
                .write_response_body(Some(bytes::Bytes::from_static(b"ok\n")), true)
                .await?;
            return Ok(true);
        }
        let mut h = ResponseHeader::build(302, Some(5))?;
        h.insert_header("Location", LOCATION)?;
        h.insert_header("Cache-Control", NO_CACHE)?;
        h.insert_header("Pragma", "no-cache")?;
        h.insert_header("Expires", "0")?;
        h.insert_header("Content-Length", "0")?;
        session.write_response_header(Box::new(h), true).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        // Never reached: request_filter answers everything.
        Err(pingora::Error::new_str("the floor has no upstream"))
    }
}

/// The same answers through the ServeHttp app.
struct FloorApp;

#[async_trait]
impl ServeHttp for FloorApp {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let b = http::Response::builder();
        if session.req_header().uri.path() == "/healthz" {
            return b
                .status(200)
                .header("Content-Length", "3")
                .body(b"ok\n".to_vec())
                .unwrap_or_default();
        }
        b.status(302)
            .header("Location", LOCATION)
            .header("Cache-Control", NO_CACHE)
            .header("Pragma", "no-cache")
            .header("Expires", "0")
            .header("Content-Length", "0")
            .body(Vec::new())
            .unwrap_or_default()
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = match args.next().and_then(|p| p.parse().ok()) {
        Some(p) => p,
        None => {
            eprintln!("usage: floor PORT [proxy|app] [THREADS]");
            std::process::exit(2);
        }
    };
    let mode = args.next().unwrap_or_else(|| "proxy".to_string());
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let addr = format!("127.0.0.1:{port}");

    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: format!("/tmp/clickedge_floor_{port}.sock"),
        pid_file: format!("/tmp/clickedge_floor_{port}.pid"),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    match mode.as_str() {
        "proxy" => {
            let mut svc =
                pingora::proxy::http_proxy_service_with_name(&server.configuration, Floor, "floor");
            svc.add_tcp(&addr);
            server.add_service(svc);
        }
        "app" => {
            let mut svc = pingora::services::listening::Service::new("floor".to_string(), FloorApp);
            svc.add_tcp(&addr);
            server.add_service(svc);
        }
        other => {
            eprintln!("unknown mode {other}: proxy or app");
            std::process::exit(2);
        }
    }
    eprintln!("floor ({mode}) listening on {addr}");
    server.run(RunArgs::default());
}
