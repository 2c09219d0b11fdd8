//! The click handler embedded in a `ProxyHttp` of someone else's: it answers
//! clicks, and the host proxy keeps serving its own paths.

mod common;
use async_trait::async_trait;
use clickedge::{ClickEdge, Config};
use common::*;
use pingora::prelude::*;
use std::time::{Duration, Instant};

/// A host proxy with its own logic: `/own` is answered by the host, the
/// rest goes to its upstream (none here: its error is a 500).
struct HostProxy {
    clicks: ClickEdge,
}

#[async_trait]
impl ProxyHttp for HostProxy {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _: &mut ()) -> Result<bool> {
        if self.clicks.handle(session).await? {
            return Ok(true);
        }
        if session.req_header().uri.path() == "/own" {
            let mut h = pingora::http::ResponseHeader::build(200, None)?;
            h.insert_header("Content-Length", "8")?;
            h.insert_header("X-Host", "mine")?;
            session.write_response_header(Box::new(h), false).await?;
            session
                .write_response_body(Some(bytes::Bytes::from_static(b"host own")), true)
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Err(pingora::Error::new_str("host has no upstream in this test"))
    }
}

#[test]
fn plugin_answers_clicks_inside_another_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = config_text(port, free_port(), &dir.path().join("data"), "");
    let cfg = Config::parse(&text).unwrap();
    let (clicks, spool) = ClickEdge::start(&cfg).unwrap();

    let mut server = Server::new(None).unwrap();
    server.bootstrap();
    let mut svc = http_proxy_service(&server.configuration, HostProxy { clicks });
    svc.add_tcp(&format!("127.0.0.1:{port}"));
    server.add_service(svc);
    std::thread::spawn(move || server.run(pingora::server::RunArgs::default()));

    let deadline = Instant::now() + Duration::from_secs(20);
    while try_get(port, "/healthz").is_err() {
        assert!(Instant::now() < deadline, "host proxy never came up");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A URL minted the way an ad server would, with the same key.
    let keys = clickedge::click::Keys::new([("k1", SECRET.as_bytes())]);
    let req = clickedge::click::SignRequest {
        landing: "https://shop.example/",
        campaign: "c",
        impression: "i",
        publisher: None,
        test: false,
        child_directed: false,
    };
    let url = clickedge::click::sign(&keys, "k1", &req, 4096).unwrap();

    let mut conn = Conn::open(port).unwrap();
    let r = conn
        .send("GET", &url, &[("User-Agent", BROWSER_UA)], b"")
        .unwrap();
    assert_eq!(r.status, 302);
    assert!(r
        .header("location")
        .unwrap()
        .starts_with("https://shop.example/?clickid="));
    let r = conn.send("GET", "/own", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-host"), Some("mine"));
    assert_eq!(r.text(), "host own");
    let r = conn
        .send("GET", &url.replacen("/c?", "/b?", 1), &[], b"")
        .unwrap();
    assert_eq!(r.status, 204);
    let r = conn.send("GET", "/c?u=x", &[], b"").unwrap();
    assert_eq!(r.status, 403);
    // Neither the plugin's nor the host's own path: the host's proxy logic ran.
    let r = request(port, "GET", "/elsewhere", &[], b"");
    assert_eq!(r.status, 500, "the host's upstream_peer error");

    spool.sync();
    let ev = read_events(&dir.path().join("data/clicks"));
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["action"], "redirected");
    assert_eq!(ev[1]["action"], "beacon");
}
