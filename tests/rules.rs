//! Rules bundles (docs/contract.md §8): several edges poll one bundle server;
//! a pattern added centrally turns a user agent into `known_bot` on every
//! edge; a tampered or stale bundle is refused by all of them; an edge
//! restarted while the server is down keeps the last good rules.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn clickedge(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "clickedge {args:?}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A bundle server: serves whatever bytes it holds, with an ETag, and 304
/// to a matching If-None-Match. Stops when dropped.
struct BundleServer {
    port: u16,
    bundle: Arc<Mutex<Option<Vec<u8>>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl BundleServer {
    fn start() -> BundleServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let bundle: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, s) = (bundle.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut inm = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("if-none-match:") {
                        inm = Some(v.trim().to_string());
                    }
                }
                let mut w = stream;
                let body = b.lock().unwrap().clone();
                let _ = match body {
                    None => w.write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    ),
                    Some(body) => {
                        let tag = format!(
                            "\"{}-{}\"",
                            body.len(),
                            body.iter().map(|&x| x as u64).sum::<u64>()
                        );
                        if inm.as_deref() == Some(tag.as_str()) {
                            w.write_all(format!("HTTP/1.1 304 Not Modified\r\netag: {tag}\r\nconnection: close\r\n\r\n").as_bytes())
                        } else {
                            w.write_all(format!("HTTP/1.1 200 OK\r\netag: {tag}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes())
                                .and_then(|_| w.write_all(&body))
                        }
                    }
                };
            }
        });
        BundleServer { port, bundle, stop }
    }

    fn serve(&self, bytes: Vec<u8>) {
        *self.bundle.lock().unwrap() = Some(bytes);
    }
}

impl Drop for BundleServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn build(key: &Path, dir: &Path, pattern: &str, version: u64) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("bot_patterns.txt"),
        format!("# central list\n{pattern}\n"),
    )
    .unwrap();
    let out = dir.with_extension("bundle");
    clickedge(&[
        "rules",
        "build",
        "--key",
        key.to_str().unwrap(),
        "--from",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--version",
        &version.to_string(),
    ]);
    std::fs::read(out).unwrap()
}

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Zqxfleet/2.0";

fn click(edge: &Edge) -> (u16, String, String) {
    let n = edge.events().len();
    let url = edge.sign(&["--landing", "https://shop.example/", "--campaign", "fleet"]);
    let status = edge.get(&url, &[("User-Agent", UA)]).status;
    let ev = edge.wait_events(n + 1);
    (
        status,
        ev[n]["reason"].as_str().unwrap().to_string(),
        ev[n]["rule"].as_str().unwrap_or("").to_string(),
    )
}

fn until(what: &str, edge: &Edge, mut done: impl FnMut() -> bool) {
    // The poll (1 s, plus or minus 10%) and the reload's file check (1 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}; edge log:\n{}",
            edge.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_fleet_takes_a_new_bundle_refuses_a_tampered_or_stale_one_and_keeps_the_last_good() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("rules.key");
    let public = clickedge(&["rules", "keygen", "--out", key.to_str().unwrap()]);
    let public = public.trim();
    let server = BundleServer::start();
    let v1 = build(&key, &work.path().join("v1"), "zz-nothing-matches", 1);
    server.serve(v1.clone());
    let extra = format!(
        "rules:\n  url: http://127.0.0.1:{}/bundle.json\n  public_key: \"{public}\"\n  poll_seconds: 1\nreload:\n  check_interval_seconds: 1\nivt:\n  duplicate_window_seconds: 0\n",
        server.port
    );
    let mut edges: Vec<Edge> = (0..3).map(|_| Edge::start_with(&extra, &[])).collect();
    for e in &edges {
        until("v1 taken", e, || {
            e.metric("clickedge_rules_bundle_version") == 1.0
        });
        assert_eq!(click(e), (302, String::new(), String::new()));
    }

    // A pattern added centrally: every edge blocks the agent.
    let v2 = build(&key, &work.path().join("v2"), "Zqxfleet", 2);
    server.serve(v2.clone());
    for e in &edges {
        until("v2 taken", e, || {
            e.metric("clickedge_rules_bundle_version") == 2.0
        });
        until("v2 in force", e, || click(e).0 == 403);
        assert_eq!(
            click(e),
            (403, "known_bot".into(), "bundle/bot_patterns.txt:2".into())
        );
    }
    let verify = clickedge(&[
        "rules",
        "verify",
        work.path().join("v2.bundle").to_str().unwrap(),
        "--public-key",
        public,
    ]);
    assert!(verify.contains("ok, version 2"), "{verify}");

    // Tampered: a list changed after signing. Refused by all; v2 stays.
    let mut w: serde_json::Value =
        serde_json::from_slice(&build(&key, &work.path().join("v3"), "Zqxfleet", 3)).unwrap();
    w["files"]["bot_patterns.txt"] = serde_json::Value::String("eg==".into());
    let tampered = serde_json::to_vec(&w).unwrap();
    std::fs::write(work.path().join("tampered.bundle"), &tampered).unwrap();
    let out = Command::new(BIN)
        .args([
            "rules",
            "verify",
            work.path().join("tampered.bundle").to_str().unwrap(),
            "--public-key",
            public,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tampered"));
    server.serve(tampered);
    for e in &edges {
        until("tampered refused", e, || {
            e.metric("clickedge_rules_fetch_failures_total{reason=\"invalid\"}") >= 1.0
        });
        assert_eq!(e.metric("clickedge_rules_bundle_version"), 2.0);
        assert_eq!(click(e).0, 403);
    }
    // Unsigned by this key: another key's bundle is refused the same way.
    let other = work.path().join("other.key");
    clickedge(&["rules", "keygen", "--out", other.to_str().unwrap()]);
    server.serve(build(&other, &work.path().join("v9"), "zz-other", 9));
    for e in &edges {
        until("foreign key refused", e, || {
            e.metric("clickedge_rules_fetch_failures_total{reason=\"invalid\"}") >= 2.0
        });
        assert_eq!(e.metric("clickedge_rules_bundle_version"), 2.0);
    }
    // Stale: an older version, properly signed, is refused.
    server.serve(v1);
    for e in &edges {
        until("stale refused", e, || {
            e.metric("clickedge_rules_fetch_failures_total{reason=\"stale\"}") >= 1.0
        });
        assert_eq!(click(e).0, 403);
    }

    // The server goes away; an edge restarted meanwhile keeps v2.
    drop(server);
    edges[0].stop();
    edges[0].restart(&[]);
    let e = &edges[0];
    assert_eq!(
        click(e),
        (403, "known_bot".into(), "bundle/bot_patterns.txt:2".into())
    );
    until("unreachable counted", e, || {
        e.metric("clickedge_rules_fetch_failures_total{reason=\"unreachable\"}") >= 1.0
    });
    assert_eq!(e.metric("clickedge_rules_bundle_version"), 2.0);
}

#[test]
fn a_bundle_setting_without_its_key_or_a_bad_key_is_named_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    for (extra, want) in [
        (
            "rules:\n  url: http://127.0.0.1:9/b\n",
            "rules.public_key: needed",
        ),
        (
            "rules:\n  url: http://127.0.0.1:9/b\n  public_key: nope\n",
            "rules.public_key: not an Ed25519",
        ),
        (
            "rules:\n  url: ftp://x/b\n  public_key: nope\n",
            "rules.url",
        ),
    ] {
        std::fs::write(
            &cfg,
            config_text(free_port(), free_port(), &dir.path().join("d"), extra),
        )
        .unwrap();
        let (code, text) = check(&cfg);
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains(want), "{want}: {text}");
    }
}
