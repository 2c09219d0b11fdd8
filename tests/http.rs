//! What a browser, an ad tag and a scanner see on the wire (docs/contract.md §4), and
//! what is logged for it (docs/contract.md §5, §6).

mod common;
use common::*;
use std::collections::HashSet;

const REDIRECT_CC: &str = "no-store, no-cache, must-revalidate, private, max-age=0";

#[test]
fn a_signed_click_is_redirected_with_the_exact_headers_and_logged() {
    let edge = Edge::start();
    let url = edge.sign(&[
        "--landing",
        "https://shop.example/spring?sku=42#reviews",
        "--campaign",
        "cmp-1",
        "--impression",
        "imp-1",
        "--publisher",
        "pub-1",
    ]);
    let r = edge.get(
        &url,
        &[
            ("User-Agent", BROWSER_UA),
            (
                "Referer",
                "https://news.example/article?email=someone@example.com",
            ),
        ],
    );
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap();
    let (before, frag) = loc.split_once('#').unwrap();
    assert_eq!(frag, "reviews");
    let click_id = before
        .strip_prefix("https://shop.example/spring?sku=42&clickid=")
        .unwrap_or_else(|| panic!("unexpected Location {loc}"));
    assert_eq!(r.header("cache-control"), Some(REDIRECT_CC));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("expires"), Some("0"));
    assert_eq!(r.header("content-length"), Some("0"));
    assert_ne!(r.header("connection"), Some("close"));

    let ev = edge.wait_events(1);
    let e = &ev[0];
    let obj = e.as_object().unwrap();
    let fields: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut want = vec![
        "ts",
        "click_id",
        "campaign",
        "impression",
        "publisher",
        "landing_host",
        "verdict",
        "reason",
        "action",
        "method",
        "ip",
        "user_agent",
        "device",
        "country",
        "referrer_host",
        "edge",
        "data_use",
        "crc", // the spool record's checksum, last
    ];
    let mut got = fields.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(e["click_id"], click_id);
    assert_eq!(e["campaign"], "cmp-1");
    assert_eq!(e["impression"], "imp-1");
    assert_eq!(e["publisher"], "pub-1");
    assert_eq!(e["landing_host"], "shop.example");
    assert_eq!(e["verdict"], "valid");
    assert_eq!(e["reason"], "");
    assert_eq!(e["action"], "redirected");
    assert_eq!(e["method"], "GET");
    assert_eq!(e["ip"], "127.0.0.0", "client address truncated to its /24");
    assert_eq!(e["user_agent"], BROWSER_UA);
    assert_eq!(e["device"], "desktop");
    assert_eq!(e["country"], "");
    assert_eq!(
        e["referrer_host"], "news.example",
        "referrer reduced to its host"
    );
    assert_eq!(e["edge"], "test-edge");
    assert_eq!(e["data_use"], "standard", "no opt-out header, no cd=1");
    let ts = e["ts"].as_str().unwrap();
    assert!(
        humantime::parse_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
        "{ts}"
    );
}

#[test]
fn keep_alive_is_kept_across_clicks_and_refusals() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    for path in [
        url.as_str(),
        "/c?u=bad",
        url.as_str(),
        "/robots.txt",
        "/healthz",
        url.as_str(),
    ] {
        let r = conn
            .send("GET", path, &[("User-Agent", BROWSER_UA)], b"")
            .unwrap();
        assert!(matches!(r.status, 200 | 302 | 403), "{path}: {}", r.status);
        assert_ne!(r.header("connection"), Some("close"), "{path}");
    }
    edge.wait_events(3);
}

#[test]
fn every_click_gets_its_own_click_id() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    let mut ids = HashSet::new();
    for _ in 0..200 {
        let r = conn.send("GET", &url, &[], b"").unwrap();
        ids.insert(r.header("location").unwrap().to_string());
    }
    assert_eq!(ids.len(), 200);
    let logged: HashSet<String> = edge
        .wait_events(200)
        .iter()
        .map(|e| {
            format!(
                "https://a.example/?clickid={}",
                e["click_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(logged, ids);
}

#[test]
fn head_is_redirected_and_logged_invalid() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let r = request(edge.port, "HEAD", &url, &[("User-Agent", BROWSER_UA)], b"");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("cache-control"), Some(REDIRECT_CC));
    assert!(r
        .header("location")
        .unwrap()
        .starts_with("https://a.example/?clickid="));
    let e = &edge.wait_events(1)[0];
    assert_eq!(e["verdict"], "invalid");
    assert_eq!(e["reason"], "head_request");
    assert_eq!(e["action"], "redirected");
    assert_eq!(e["method"], "HEAD");
}

#[test]
fn test_clicks_are_redirected_and_never_valid() {
    let edge = Edge::start();
    let url = edge.sign(&[
        "--landing",
        "https://a.example/",
        "--campaign",
        "c",
        "--test",
    ]);
    assert!(url.contains("&test=1&"));
    let r = edge.get(&url, &[("User-Agent", BROWSER_UA)]);
    assert_eq!(r.status, 302);
    let e = &edge.wait_events(1)[0];
    assert_eq!(e["verdict"], "test");
    assert_eq!(e["reason"], "test_click");
}

#[test]
fn beacons_answer_204_for_get_and_post() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let beacon = url.replacen("/c?", "/b?", 1);
    let mut conn = Conn::open(edge.port).unwrap();
    let r = conn
        .send("GET", &beacon, &[("User-Agent", BROWSER_UA)], b"")
        .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("location"), None);
    let r = conn
        .send(
            "POST",
            &beacon,
            &[("Content-Type", "text/plain")],
            b"ping from sendBeacon",
        )
        .unwrap();
    assert_eq!(r.status, 204);
    // The connection is still usable after a body was read and ignored.
    let r = conn.send("GET", &url, &[], b"").unwrap();
    assert_eq!(r.status, 302);
    let ev = edge.wait_events(3);
    let actions: Vec<_> = ev
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["beacon", "beacon", "redirected"]);
    assert_eq!(ev[1]["method"], "POST");

    // A body past the limit still gets its 204; the connection is then closed.
    let big = vec![b'x'; 64 * 1024];
    let r = request(edge.port, "POST", &beacon, &[], &big);
    assert_eq!(r.status, 204);
}

#[test]
fn a_click_with_a_body_is_answered_and_so_is_the_request_pipelined_behind_it() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let beacon = url.replacen("/c?", "/b?", 1);
    let mut conn = Conn::open(edge.port).unwrap();
    // A GET with a body, then a beacon that expects `100 Continue` and
    // sends its body without waiting for it (HTTP allows both), then a
    // plain click, all in one write.
    let pipelined = format!(
        "GET {url} HTTP/1.1\r\nHost: e\r\nUser-Agent: {BROWSER_UA}\r\nContent-Length: 5\r\n\r\nhello\
         POST {beacon} HTTP/1.1\r\nHost: e\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nping\
         GET /healthz HTTP/1.1\r\nHost: e\r\n\r\n"
    );
    conn.write_raw(pipelined.as_bytes()).unwrap();
    assert_eq!(conn.read_response("GET").unwrap().status, 302);
    assert_eq!(conn.read_line().unwrap(), "HTTP/1.1 100 Continue");
    assert_eq!(conn.read_line().unwrap(), "");
    assert_eq!(conn.read_response("POST").unwrap().status, 204);
    assert_eq!(conn.read_response("GET").unwrap().status, 200);
    // A beacon that waits for `100 Continue` before its body, then one
    // more request on the same connection.
    let head = format!(
        "POST {beacon} HTTP/1.1\r\nHost: e\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    );
    conn.write_raw(head.as_bytes()).unwrap();
    assert_eq!(conn.read_line().unwrap(), "HTTP/1.1 100 Continue");
    assert_eq!(conn.read_line().unwrap(), "");
    conn.write_raw(b"ping").unwrap();
    assert_eq!(conn.read_response("POST").unwrap().status, 204);
    assert_eq!(conn.send("GET", "/healthz", &[], b"").unwrap().status, 200);
    // Without an origin, a 404 to a request with a body keeps it too.
    let r = conn.send("POST", "/form", &[], b"name=x").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(conn.send("GET", "/healthz", &[], b"").unwrap().status, 200);
    let actions: Vec<_> = edge
        .wait_events(3)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["redirected", "beacon", "beacon"]);
}

#[test]
fn curl_sends_a_beacon_that_expects_100_continue_and_keeps_the_connection() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let beacon = format!(
        "http://127.0.0.1:{}{}",
        edge.port,
        url.replacen("/c?", "/b?", 1)
    );
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-A", BROWSER_UA])
        .args(["-H", "Expect: 100-continue", "--data", "ping"])
        .args(["-w", "%{http_code} %{num_connects}\n"])
        .arg(&beacon)
        .arg(&beacon)
        .output()
        .expect("curl is needed for this test: apt-get install -y curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text, "204 1\n204 0\n",
        "the second beacon reuses the connection"
    );
    assert_eq!(edge.wait_events(2).len(), 2);
}

#[test]
fn wrong_methods_get_405() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    // POST is a parallel-tracking beacon on /c (docs/contract.md §4); PUT is nothing.
    let r = request(edge.port, "PUT", &url, &[], b"x");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    let r = request(edge.port, "PUT", &url.replacen("/c?", "/b?", 1), &[], b"x");
    assert_eq!(r.status, 405);
    assert_eq!(edge.metric("clickedge_bad_method_total"), 2.0);
}

#[test]
fn prefetch_in_every_header_form_gets_503_and_no_redirect() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let forms = [
        ("Sec-Purpose", "prefetch"),
        ("Sec-Purpose", "prefetch;prerender"),
        ("Purpose", "prefetch"),
        ("X-Purpose", "preview"),
        ("X-Purpose", "prefetch"),
        ("X-Moz", "prefetch"),
    ];
    let mut conn = Conn::open(edge.port).unwrap();
    for (h, v) in forms {
        let r = conn
            .send("GET", &url, &[(h, v), ("User-Agent", BROWSER_UA)], b"")
            .unwrap();
        assert_eq!(r.status, 503, "{h}: {v}");
        assert_eq!(r.header("location"), None);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    let r = conn
        .send(
            "GET",
            &url.replacen("/c?", "/b?", 1),
            &[("Sec-Purpose", "prefetch")],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 503);
    let ev = edge.wait_events(forms.len() + 1);
    for e in &ev {
        assert_eq!(e["verdict"], "invalid");
        assert_eq!(e["reason"], "prefetch");
        assert_eq!(e["action"], "blocked");
    }
}

#[test]
fn a_prefetch_header_sent_twice_is_read_in_full() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let r = edge.get(
        &url,
        &[
            ("User-Agent", BROWSER_UA),
            ("Sec-Purpose", "x"),
            ("Sec-Purpose", "prefetch"),
        ],
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.header("location"), None);
    assert_eq!(edge.wait_events(1)[0]["reason"], "prefetch");
}

#[test]
fn refusals_get_their_status_a_reason_and_a_counter_and_nothing_is_logged() {
    let edge = Edge::start();
    let good = edge.sign(&[
        "--landing",
        "https://a.example/",
        "--campaign",
        "c",
        "--impression",
        "i",
    ]);
    let q = &good[3..];
    let unsigned_js = "/c?u=javascript%3Aalert(1)&cmp=c&imp=i&kid=k1&sig=x";
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            format!("/c?{}", q.replace("cmp=c", "cmp=d")),
            403,
            "bad signature",
            "bad_signature",
        ),
        (
            format!("/c?{}", q.replace("kid=k1", "kid=zz")),
            403,
            "unknown key id",
            "unknown_key",
        ),
        (
            "/c?u=https%3A%2F%2Fa.example%2F&cmp=c&imp=i".to_string(),
            403,
            "missing signature",
            "missing_signature",
        ),
        (
            format!("{good}&u=https%3A%2F%2Fevil.example%2F"),
            403,
            "sig must be the last parameter",
            "sig_not_last",
        ),
        (
            unsigned_js.to_string(),
            403,
            "bad signature",
            "bad_signature",
        ),
        (
            format!("/c?u=%zz&{q}"),
            400,
            "bad percent-encoding in u",
            "bad_encoding",
        ),
        (
            format!("/c?{}&{q}", "x=".repeat(3000)),
            400,
            "query too long",
            "query_too_long",
        ),
        (
            "/c".to_string(),
            403,
            "missing signature",
            "missing_signature",
        ),
    ];
    for (path, status, reason, label) in &cases {
        let r = edge.get(path, &[]);
        assert_eq!(r.status, *status, "{path}");
        assert!(r.text().starts_with(reason), "{path}: {:?}", r.text());
        assert_eq!(r.header("location"), None);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(edge.metric(&format!("clickedge_refused_total{{reason=\"{label}\"}}")) >= 1.0);
    }
    // A valid click afterwards is the only event.
    assert_eq!(edge.get(&good, &[]).status, 302);
    let ev = edge.wait_events(1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        edge.events().len(),
        1,
        "refused requests are not logged: {ev:?}"
    );
}

#[test]
fn signed_with_bad_ids_or_landing_gets_400() {
    let edge = Edge::start();
    // The `sign` command itself refuses what the edge would refuse.
    let out = std::process::Command::new(BIN)
        .args(["sign", "--config"])
        .arg(&edge.config)
        .args(["--landing", "javascript:alert(1)", "--campaign", "c"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http or https"));
    let out = std::process::Command::new(BIN)
        .args(["sign", "--config"])
        .arg(&edge.config)
        .args([
            "--landing",
            "https://a.example/",
            "--campaign",
            &"x".repeat(129),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cmp must be 1 to 128"));
}

#[test]
fn robots_healthz_and_no_origin() {
    let edge = Edge::start();
    let r = edge.get("/robots.txt", &[]);
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(
        t.contains("User-agent: *") && t.contains("Disallow: /c?") && t.contains("Disallow: /b?")
    );
    assert_eq!(edge.get("/healthz", &[]).status, 200);
    let r = edge.get("/anything/else", &[]);
    assert_eq!(r.status, 404);
}

#[test]
fn other_paths_are_proxied_to_the_origin() {
    // A real HTTP origin of the test's own.
    let origin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_addr = origin.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for stream in origin.incoming() {
            let mut s = stream.unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            loop {
                let mut l = String::new();
                reader.read_line(&mut l).unwrap();
                if l.trim().is_empty() {
                    break;
                }
            }
            let body = format!("origin saw {}", first.trim());
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let edge = Edge::start_with("", &["--origin", &origin_addr]);
    let r = edge.get("/products/1?x=y", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "origin saw GET /products/1?x=y HTTP/1.1");
    // Click paths never reach the origin.
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    assert_eq!(edge.get(&url, &[]).status, 302);
}

#[test]
fn events_are_readable_within_a_second_and_sigterm_drains() {
    let mut edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    assert_eq!(edge.get(&url, &[]).status, 302);
    // Readable while serving (flush interval), not only at exit.
    let started = std::time::Instant::now();
    edge.wait_events(1);
    let waited = started.elapsed();
    let mut conn = Conn::open(edge.port).unwrap();
    for _ in 0..500 {
        assert_eq!(conn.send("GET", &url, &[], b"").unwrap().status, 302);
    }
    drop(conn);
    edge.stop();
    assert_eq!(edge.events().len(), 501);
    assert!(edge.log().contains("spool drained"), "{}", edge.log());
    eprintln!("first event readable after {waited:?}");
}

#[test]
fn curl_sees_the_redirect() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("curl is needed for this test: apt-get install -y curl");
    }
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/x?y=1", "--campaign", "c"]);
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-A",
            BROWSER_UA,
            "-w",
            "%{http_code} %{redirect_url} %{num_connects}",
        ])
        .arg(format!("http://127.0.0.1:{}{url}", edge.port))
        .arg(format!("http://127.0.0.1:{}{url}", edge.port))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    // Two requests, one connection: curl reused it.
    assert!(
        text.starts_with("302 https://a.example/x?y=1&clickid="),
        "{text}"
    );
    assert!(
        text.ends_with(" 0"),
        "second request reused the connection: {text}"
    );
}

#[test]
fn curl_as_itself_is_a_known_bot_and_blocked() {
    let edge = Edge::start();
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{}{url}", edge.port))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    let e = &edge.wait_events(1)[0];
    assert_eq!(e["verdict"], "invalid");
    assert_eq!(e["reason"], "known_bot");
    assert_eq!(e["action"], "blocked");
    assert_eq!(e["device"], "bot");
    assert!(e["user_agent"].as_str().unwrap().starts_with("curl/"));
}

#[test]
fn a_click_whose_client_is_gone_is_logged_once_and_its_url_stays_out_of_the_log() {
    use socket2::{Domain, Socket, Type};
    use std::io::Write;
    let edge = Edge::start();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", edge.port).parse().unwrap();
    let click = edge.sign(&[
        "--landing",
        "https://shop.example/p?email=jane.doe%40example.com",
        "--campaign",
        "gone",
        "--impression",
        "reset",
    ]);
    // Sent, then reset at once (SO_LINGER 0): by the time the edge writes
    // its answer, the connection is gone.
    for _ in 0..20 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.connect(&addr.into()).unwrap();
        let req = format!(
            "GET {click} HTTP/1.1\r\nHost: clicks.example\r\nUser-Agent: {BROWSER_UA}\r\n\r\n"
        );
        (&s).write_all(req.as_bytes()).unwrap();
        s.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    }
    // A beacon whose body never arrives in full (its tab was closed).
    let beacon = edge
        .sign(&[
            "--landing",
            "https://shop.example/",
            "--campaign",
            "gone",
            "--impression",
            "tab",
        ])
        .replacen("/c?", "/b?", 1);
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "POST {beacon} HTTP/1.1\r\nHost: clicks.example\r\nUser-Agent: {BROWSER_UA}\r\nContent-Length: 100\r\n\r\n0123456789"
    );
    s.write_all(req.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    drop(s);

    // Every request past the signature check is one event (docs/contract.md §5): the
    // first reset click counts, the other 19 are its duplicates.
    edge.wait_events(21);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let events = edge.events();
    assert_eq!(events.len(), 21, "{events:?}");
    let reset: Vec<_> = events
        .iter()
        .filter(|e| e["impression"] == "reset")
        .collect();
    assert_eq!(reset.iter().filter(|e| e["verdict"] == "valid").count(), 1);
    assert_eq!(
        reset.iter().filter(|e| e["reason"] == "duplicate").count(),
        19
    );
    let tab: Vec<_> = events.iter().filter(|e| e["impression"] == "tab").collect();
    assert_eq!(tab.len(), 1);
    assert_eq!(tab[0]["action"], "beacon");
    // Nothing of the click URL reaches the log.
    let log = edge.log();
    assert!(!log.contains("jane"), "{log}");
    assert!(!log.contains("sig="), "{log}");
}

#[test]
fn an_answer_to_a_reset_connection_is_counted_unanswered_and_its_click_still_logged() {
    use socket2::{Domain, Socket, Type};
    use std::io::Write;
    let edge = Edge::start();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", edge.port).parse().unwrap();
    let click = edge.sign(&["--landing", "https://shop.example/", "--campaign", "reset"]);
    // Whether the reset arrives before the answer is written is a race the
    // edge cannot control, so clicks are sent, each reset at once, until
    // one answer found its connection gone (bounded).
    let mut sent = 0;
    while sent < 400 && edge.metric("clickedge_clicks_unanswered_total") == 0.0 {
        for _ in 0..20 {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.connect(&addr.into()).unwrap();
            let req =
                format!("GET {click} HTTP/1.1\r\nHost: e\r\nUser-Agent: {BROWSER_UA}\r\n\r\n");
            (&s).write_all(req.as_bytes()).unwrap();
            s.set_linger(Some(std::time::Duration::ZERO)).unwrap();
            sent += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let unanswered = edge.metric("clickedge_clicks_unanswered_total");
    assert!(
        unanswered >= 1.0,
        "no answer of {sent} found its connection reset"
    );
    // Every click whose request was read is logged, answered or not.
    let logged = edge.metric("clickedge_events_queued_total");
    assert!(
        logged >= unanswered,
        "{logged} events, {unanswered} unanswered"
    );
}

#[test]
fn template_refusals_on_the_wire_are_never_redirected_and_each_is_counted() {
    let edge = Edge::start();
    let t = edge.sign(&[
        "--template",
        "google",
        "--campaign",
        "t",
        "--landing-host",
        "*.shop.example",
    ]);
    let fill = |landing: &str, id: &str| {
        t.replace("{lpurl}", &percent_encode(landing))
            .replace("{gclid}", id)
    };
    let ok = fill("https://www.shop.example/p", "g1");
    let ua = [("User-Agent", BROWSER_UA)];
    assert_eq!(edge.get(&ok, &ua).status, 302);
    for (path, status, label) in [
        (
            fill("https://evil.example/p", "g2"),
            403,
            "host_not_allowed",
        ),
        (format!("{ok}&utm_source=x"), 400, "param_after_sig"),
        (ok.replacen("cmp=t", "cmp=u", 1), 403, "bad_signature"),
        (
            ok.split("&u=").next().unwrap().to_string(),
            400,
            "missing_param",
        ),
    ] {
        for method in ["GET", "POST"] {
            let r = request(edge.port, method, &path, &ua, b"");
            assert_eq!(r.status, status, "{method} {path}");
            assert_eq!(r.header("location"), None, "{path}");
        }
        assert_eq!(
            edge.metric(&format!("clickedge_refused_total{{reason=\"{label}\"}}")),
            2.0,
            "{label}"
        );
    }
    // Only the one good click was logged.
    assert_eq!(edge.wait_events(1).len(), 1);
}

#[test]
fn an_origin_that_never_answers_holds_no_request_past_the_body_deadline() {
    // An origin that takes the connection and the request, and says nothing.
    let origin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_addr = origin.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in origin.incoming().flatten() {
            held.push(s);
        }
    });
    let edge = Edge::start_edited(
        |c| c + "limits:\n  body_timeout_seconds: 2\n",
        &["--origin", &origin_addr],
    );
    // The client waits 10 s (Conn's read timeout); the deadline is 2 s.
    let mut c = Conn::open(edge.port).unwrap();
    let r = c.send("GET", "/slow/page", &[], b"");
    let r = r.expect("the edge answers for an origin that does not");
    assert!(r.status == 502 || r.status == 504, "status {}", r.status);
}
