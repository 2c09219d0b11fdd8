//! Embedding the click handler in a Pingora proxy of your own.
//!
//! ```sh
//! cargo run --release --example embed -- conf/clickedge.yaml 127.0.0.1:8080 127.0.0.1:8000
//! ```
//!
//! Serves `/c`, `/b`, `/robots.txt` and `/healthz` as `clickedge serve`
//! does (the same decision, events, spool and shipper, reloaded on SIGHUP),
//! and proxies everything else to the origin, here with no logic of its
//! own. Uses only the crate's public surface (`clickedge::prelude`).

use async_trait::async_trait;
use clickedge::prelude::*;
use pingora::prelude::*;

/// Your proxy, holding the click handler beside whatever else it needs.
struct MyProxy {
    clicks: ClickEdge,
    origin: String,
}

#[async_trait]
impl ProxyHttp for MyProxy {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _: &mut ()) -> Result<bool> {
        if self.clicks.handle(session).await? {
            return Ok(true); // a click, a beacon, robots.txt or healthz: answered
        }
        Ok(false) // your own logic goes here
    }

    // Keeps click URLs (landing URL, signature) out of Pingora's error log.
    fn request_summary(&self, session: &Session, _: &()) -> String {
        ClickEdge::request_summary(session)
    }

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.origin.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let config = args.next().unwrap_or_else(|| "conf/clickedge.yaml".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let origin = args.next().unwrap_or_else(|| "127.0.0.1:8000".into());

    // Every problem of the file at once, each naming its key.
    let settings = match Settings::load(config.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{config}: {line}");
            }
            return std::process::ExitCode::from(2);
        }
    };
    // The spool writer and the shipper start here.
    let mut runtime = match Runtime::start(settings) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut server = Server::new(None).expect("Pingora's default server settings");
    server.bootstrap();
    let proxy = MyProxy {
        clicks: runtime.edge(),
        origin,
    };
    let mut svc = http_proxy_service(&server.configuration, proxy);
    svc.add_tcp(&listen);
    server.add_service(svc);
    runtime.add_services(&mut server); // reload on SIGHUP and file changes
    runtime.run(server); // serves; then writes every queued event and stops
    std::process::ExitCode::SUCCESS
}
