//! The click handler embedded in a `ProxyHttp` of someone else's: it answers
//! clicks, the host proxy keeps serving its own paths, and the runtime the
//! embedder starts beside its server (spool, shipper, reloader) takes the
//! clicks to a real HTTP sink.

mod common;
use async_trait::async_trait;
use clickedge::{ClickEdge, Runtime, Settings};
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
fn plugin_answers_clicks_inside_another_proxy_and_its_runtime_ships_them() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (sink_url, received) = receiver(0);
    let text = config_text(
        port,
        free_port(),
        &dir.path().join("data"),
        &format!("sink:\n  url: \"{sink_url}\"\n  user: \"\"\n  poll_interval_ms: 20\n"),
    );
    let path = dir.path().join("host.yaml");
    std::fs::write(&path, text).unwrap();

    // What an embedder writes: settings, the runtime, its own server.
    let settings = Settings::load(&path).unwrap();
    let mut runtime = Runtime::start(settings).unwrap();
    let mut server = Server::new(None).unwrap();
    server.bootstrap();
    let mut svc = http_proxy_service(
        &server.configuration,
        HostProxy {
            clicks: runtime.edge(),
        },
    );
    svc.add_tcp(&format!("127.0.0.1:{port}"));
    server.add_service(svc);
    runtime.add_services(&mut server);
    let data = dir.path().join("data");
    std::thread::spawn(move || runtime.run(server));

    let deadline = Instant::now() + Duration::from_secs(20);
    while try_get(port, "/healthz").is_err() {
        assert!(Instant::now() < deadline, "host proxy never came up");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A URL minted the way an ad server would, with the same key.
    let keys = clickedge::mint::Keys::new([("k1", SECRET.as_bytes())]);
    let req = clickedge::mint::SignRequest {
        landing: "https://shop.example/",
        campaign: "c",
        impression: "i",
        publisher: None,
        test: false,
        child_directed: false,
        expires: None,
    };
    let url = clickedge::mint::sign(&keys, "k1", &req, 4096).unwrap();

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

    // The runtime's shipper took both clicks to the sink.
    wait_received(&received, 2);
    let got = received.lock().unwrap();
    let events: Vec<&serde_json::Value> = got.iter().flat_map(|(_, e)| e).collect();
    assert_eq!(events[0]["action"], "redirected");
    assert_eq!(events[1]["action"], "beacon");
    assert_eq!(events[0]["campaign"], "c");
    assert!(
        data.join("ship.pos").exists(),
        "the shipper saved its position"
    );
}
