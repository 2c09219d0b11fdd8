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

/// A click by `ua`, its status and the event's (reason, rule), with the
/// events read from `clicks`.
fn click_into(edge: &Edge, clicks: &Path, ua: &str) -> (u16, String, String) {
    let n = read_events(clicks).len();
    let url = edge.sign(&["--landing", "https://shop.example/", "--campaign", "flags"]);
    let status = edge.get(&url, &[("User-Agent", ua)]).status;
    let deadline = Instant::now() + Duration::from_secs(10);
    let ev = loop {
        let ev = read_events(clicks);
        if ev.len() > n {
            break ev;
        }
        assert!(
            Instant::now() < deadline,
            "no event in {}",
            clicks.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        ev[n]["reason"].as_str().unwrap().to_string(),
        ev[n]["rule"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn every_serve_flag_holds_across_sighup_a_changed_list_a_changed_config_and_a_new_bundle() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("rules.key");
    let public = clickedge(&["rules", "keygen", "--out", key.to_str().unwrap()]);
    let public = public.trim();
    let server = BundleServer::start();
    server.serve(build(&key, &work.path().join("v1"), "Zqxfleet", 1));
    // An origin of the test's own, for --origin.
    let origin = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_addr = origin.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in origin.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\norigin",
            );
        }
    });
    let (sink, received) = receiver(0);
    let flag_data = work.path().join("flag-data");
    let clicks = flag_data.join("clicks");
    let list = work.path().join("local-bots.txt");
    std::fs::write(&list, "zz-nothing-matches\n").unwrap();
    let extra = format!(
        "rules:\n  url: http://127.0.0.1:{}/bundle.json\n  public_key: \"{public}\"\n  poll_seconds: 1\nreload:\n  check_interval_seconds: 1\nivt:\n  duplicate_window_seconds: 0\n  bots:\n    pattern_files: [\"{}\"]\n",
        server.port,
        list.display()
    );
    // The file names a port nobody answers on; --listen gives the edge's.
    let edge = Edge::start_with_port_args(
        |c| {
            let file_port = c
                .split("listen: [\"127.0.0.1:")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap()
                .to_string();
            c.replace(
                &format!("127.0.0.1:{file_port}\""),
                &format!("127.0.0.1:{}\"", free_port()),
            ) + &extra
        },
        |port| {
            [
                "--data-dir",
                flag_data.to_str().unwrap(),
                "--origin",
                &origin_addr,
                "--sink",
                &sink,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ]
            .map(String::from)
            .to_vec()
        },
    );
    let reloads = |e: &Edge| e.metric("clickedge_reloads_total{result=\"ok\"}");
    let all_flags_hold = |e: &Edge, ua: &str, want: (u16, &str, &str)| {
        until("the expected verdict", e, || {
            click_into(e, &clicks, ua).0 == want.0
        });
        let got = click_into(e, &clicks, ua);
        assert_eq!((got.0, got.1.as_str(), got.2.as_str()), want, "{}", e.log());
        // Every click so far reached the --sink.
        wait_received(&received, read_events(&clicks).len());
        let r = request(e.port, "GET", "/page", &[], b"");
        assert_eq!((r.status, r.text()), (200, "origin".to_string()));
        assert!(
            read_events(&e.data().join("clicks")).is_empty(),
            "nothing under the file's data_dir"
        );
    };
    const UA2: &str = "Mozilla/5.0 (X11; Linux x86_64) Zqxlocal/1.0";
    const UA3: &str = "Mozilla/5.0 (X11; Linux x86_64) Zqxnew/1.0";

    // The bundle the poller stored under --data-dir is in force.
    until("v1 taken", &edge, || {
        edge.metric("clickedge_rules_bundle_version") == 1.0
    });
    let bundled = (403, "known_bot", "bundle/bot_patterns.txt:2");
    all_flags_hold(&edge, UA, bundled);

    // SIGHUP.
    let before = reloads(&edge);
    edge.signal("HUP");
    until("reloaded on SIGHUP", &edge, || reloads(&edge) > before);
    all_flags_hold(&edge, UA, bundled);

    // A changed list.
    let before = reloads(&edge);
    std::fs::write(&list, "# local\nZqxlocal\n").unwrap();
    until("reloaded for the list", &edge, || reloads(&edge) > before);
    all_flags_hold(&edge, UA, bundled);
    all_flags_hold(&edge, UA2, (403, "known_bot", "local-bots.txt:2"));

    // A changed config: the file now names yet another data dir.
    let before = reloads(&edge);
    let text = std::fs::read_to_string(&edge.config).unwrap();
    std::fs::write(
        &edge.config,
        text.replace("/data\"", "/elsewhere\"") + "# changed\n",
    )
    .unwrap();
    until("reloaded for the config", &edge, || reloads(&edge) > before);
    all_flags_hold(&edge, UA, bundled);

    // A new bundle.
    server.serve(build(&key, &work.path().join("v2"), "Zqxnew", 2));
    until("v2 taken", &edge, || {
        edge.metric("clickedge_rules_bundle_version") == 2.0
    });
    all_flags_hold(&edge, UA3, (403, "known_bot", "bundle/bot_patterns.txt:2"));
    // A flag is not a pending change: no reload warned about one.
    let log = edge.log();
    for key in ["data_dir", "origin", "sink.url", "listen"] {
        assert!(
            !log.lines()
                .any(|l| l.contains("not in force") && l.contains(key)),
            "a flag named as a pending change ({key}):\n{log}"
        );
    }
}

/// A bundle signed with `key` whose bot list does not compile: what an
/// older `rules build`, which did not check, could sign.
fn broken_bundle(key: &Path, version: u64) -> Vec<u8> {
    let key = clickedge::internals::bundle::read_key_file(key).unwrap();
    clickedge::internals::bundle::sign(
        &key,
        &[(
            "bot_patterns.txt".to_string(),
            "# central list\n(unclosed\n".to_string(),
        )],
        version,
        std::time::SystemTime::now(),
    )
    .unwrap()
}

#[test]
fn a_fleet_handed_a_broken_bundle_keeps_its_last_good_rules_restarts_on_them_and_counts_it() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("rules.key");
    let public = clickedge(&["rules", "keygen", "--out", key.to_str().unwrap()]);
    let public = public.trim();

    // `rules build` refuses a list the edges could not load, naming it.
    let dir = work.path().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bot_patterns.txt"), "ok-pattern\n(unclosed\n").unwrap();
    let out = Command::new(BIN)
        .args(["rules", "build", "--key", key.to_str().unwrap(), "--from"])
        .arg(&dir)
        .args(["--out", work.path().join("bad.bundle").to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("bot_patterns.txt") && said.contains("line 2"),
        "{said}"
    );
    assert!(!work.path().join("bad.bundle").exists());

    // `rules verify` refuses one signed anyway.
    let broken = broken_bundle(&key, 2);
    let broken_file = work.path().join("broken.bundle");
    std::fs::write(&broken_file, &broken).unwrap();
    let out = Command::new(BIN)
        .args(["rules", "verify", broken_file.to_str().unwrap()])
        .args(["--public-key", public])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("refused") && said.contains("would not load"),
        "{said}"
    );

    let server = BundleServer::start();
    server.serve(build(&key, &work.path().join("v1"), "Zqxfleet", 1));
    let extra = format!(
        "rules:\n  url: http://127.0.0.1:{}/bundle.json\n  public_key: \"{public}\"\n  poll_seconds: 1\nreload:\n  check_interval_seconds: 1\nivt:\n  duplicate_window_seconds: 0\n",
        server.port
    );
    let mut edges: Vec<Edge> = (0..2).map(|_| Edge::start_with(&extra, &[])).collect();
    let good = (
        403,
        "known_bot".to_string(),
        "bundle/bot_patterns.txt:2".to_string(),
    );
    for e in &edges {
        until("v1 in force", e, || {
            e.metric("clickedge_rules_bundle_version") == 1.0 && click(e).0 == 403
        });
    }

    // The broken bundle: refused and counted by each edge, never kept.
    server.serve(broken.clone());
    let unloadable = "clickedge_rules_fetch_failures_total{reason=\"unloadable\"}";
    for e in &edges {
        until("broken bundle refused", e, || e.metric(unloadable) >= 1.0);
        assert_eq!(e.metric("clickedge_rules_bundle_version"), 1.0);
        assert_eq!(click(e), good);
        let kept = std::fs::read(e.data().join("rules/bundle.json")).unwrap();
        assert_ne!(kept, broken, "the broken bundle was kept");
    }

    // A restart while the server still hands out the broken bundle starts
    // on the last good rules; `check` passes.
    edges[0].stop();
    let (code, text) = check(&edges[0].config);
    assert_eq!(code, Some(0), "{text}");
    edges[0].restart(&[]);
    let e = &edges[0];
    assert_eq!(click(e), good);
    assert_eq!(e.metric("clickedge_rules_bundle_version"), 1.0);
    until("broken bundle refused after the restart", e, || {
        e.metric(unloadable) >= 1.0
    });

    // A broken bundle already kept (written by an older edge) never stops
    // a start: the edge serves on its other lists, says why and counts it.
    drop(server);
    edges[1].stop();
    std::fs::write(edges[1].data().join("rules/bundle.json"), &broken).unwrap();
    let (code, text) = check(&edges[1].config);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("warning: the kept rules bundle"), "{text}");
    edges[1].restart(&[]);
    let e = &edges[1];
    assert_eq!(click(e), (302, String::new(), String::new()));
    assert_eq!(e.metric("clickedge_rules_bundle_version"), 0.0);
    assert!(e.metric(unloadable) >= 1.0);
    assert!(e.log().contains("rules bundle left out"), "{}", e.log());
}

#[test]
fn a_bundle_over_the_size_limit_is_refused_unread_and_counted_as_too_large() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("rules.key");
    let public = clickedge(&["rules", "keygen", "--out", key.to_str().unwrap()]);
    let server = BundleServer::start();
    server.serve(vec![b' '; (64 << 20) + 1]);
    let extra = format!(
        "rules:\n  url: http://127.0.0.1:{}/bundle.json\n  public_key: \"{}\"\n  poll_seconds: 1\n",
        server.port,
        public.trim()
    );
    let edge = Edge::start_with(&extra, &[]);
    let too_large = "clickedge_rules_fetch_failures_total{reason=\"too_large\"}";
    until("too_large counted", &edge, || edge.metric(too_large) >= 1.0);
    // Its ETag is kept: later polls are answered 304, not sent it again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(edge.metric(too_large), 1.0);
    assert_eq!(
        edge.metric("clickedge_rules_fetch_failures_total{reason=\"unreachable\"}"),
        0.0
    );
    assert_eq!(edge.metric("clickedge_rules_bundle_version"), 0.0);
}
