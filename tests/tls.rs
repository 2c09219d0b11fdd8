//! TLS listeners, reached with real curl over HTTP/1.1 and HTTP/2 (ALPN):
//! the same answers as over plain HTTP, and certificates that reload
//! without a restart. Certificates are made here, at run time.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn tls_edge(certs: &Path, tls_port: u16) -> Edge {
    let (cert, key) = make_cert(certs, "a");
    Edge::start_with(
        &format!(
            "tls:\n  listen: [\"127.0.0.1:{tls_port}\"]\n  cert_file: \"{}\"\n  key_file: \"{}\"\nreload:\n  check_interval_seconds: 1\n",
            cert.display(),
            key.display()
        ),
        &[],
    )
}

/// What curl saw: HTTP version, status, and the headers that matter.
#[derive(Debug, PartialEq)]
struct Seen {
    version: String,
    status: String,
    location: Option<String>,
    cache_control: Option<String>,
    body: String,
}

fn curl(base: &str, proto: &str, cacert: Option<&Path>, path: &str, ua: &str) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", proto, "-A", ua, "-o", "-", "-D"])
        .arg(&headers)
        .args(["-w", "\n%{http_version} %{http_code}"]);
    match cacert {
        Some(ca) => {
            cmd.arg("--cacert").arg(ca);
        }
        None => {
            cmd.arg("-k");
        }
    }
    let port = base.rsplit(':').next().unwrap();
    cmd.args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
    let out = cmd.arg(format!("{base}{path}")).output().unwrap();
    assert!(
        out.status.success(),
        "curl {proto} {base}{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (version, status) = tail.split_once(' ').unwrap();
    let h = std::fs::read_to_string(&headers).unwrap();
    let header = |name: &str| {
        h.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    Seen {
        version: version.to_string(),
        status: status.to_string(),
        // The click id differs per click; the rest must not.
        location: header("location").map(|l| l.split("clickid=").next().unwrap().to_string()),
        cache_control: header("cache-control"),
        body: body.to_string(),
    }
}

#[test]
fn tls_over_http1_and_http2_answers_as_plain_http_does() {
    let certs = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let edge = tls_edge(certs.path(), tls_port);
    let click = edge.sign(&[
        "--landing",
        "https://shop.example/p?a=1",
        "--campaign",
        "tls",
    ]);
    let forged = click.replace("sig=", "sig=x");
    let plain = format!("http://localhost:{}", edge.port);
    let tls = format!("https://localhost:{tls_port}");
    let paths = [
        (click.as_str(), BROWSER_UA),
        (
            click.as_str(),
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        ),
        (forged.as_str(), BROWSER_UA),
        ("/robots.txt", BROWSER_UA),
        ("/c?u=nope", BROWSER_UA),
    ];
    let mut clicks = 0;
    for (path, ua) in paths {
        let want = curl(&plain, "--http1.1", None, path, ua);
        assert_eq!(want.version, "1.1");
        for proto in ["--http1.1", "--http2"] {
            let got = curl(&tls, proto, None, path, ua);
            let version = if proto == "--http2" { "2" } else { "1.1" };
            assert_eq!(
                got.version, version,
                "{proto} was not negotiated for {path}"
            );
            assert_eq!(
                Seen {
                    version: want.version.clone(),
                    ..got
                },
                want,
                "{proto} {path} with {ua}"
            );
        }
        if path == click {
            clicks += 3;
        }
    }
    // Every click over every protocol is logged, and only those.
    let events = edge.wait_events(clicks);
    assert_eq!(events.len(), clicks);
    assert!(edge.log().contains("clickedge serving"));
}

#[test]
fn certificates_reload_without_a_restart_and_a_broken_pair_keeps_the_old_one() {
    let certs = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let edge = tls_edge(certs.path(), tls_port);
    let base = format!("https://localhost:{tls_port}");
    let a_cert = certs.path().join("a.crt");
    // Trusting only certificate a: it is what is served.
    let ok = curl(&base, "--http2", Some(&a_cert), "/healthz", BROWSER_UA);
    assert_eq!(ok.status, "200");

    // Swap in certificate b under the same file names.
    let saved_a = certs.path().join("a-saved.crt");
    std::fs::copy(&a_cert, &saved_a).unwrap();
    let (b_cert, b_key) = make_cert(certs.path(), "b");
    let reloads = edge.metric("clickedge_reloads_total{result=\"ok\"}");
    std::fs::copy(&b_key, certs.path().join("a.key")).unwrap();
    std::fs::copy(&b_cert, &a_cert).unwrap();
    wait_metric(
        &edge,
        "clickedge_reloads_total{result=\"ok\"}",
        reloads + 1.0,
    );
    let served_b = curl(&base, "--http1.1", Some(&b_cert), "/healthz", BROWSER_UA);
    assert_eq!(served_b.status, "200");
    let old = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&saved_a)
        .args(["--resolve", &format!("localhost:{tls_port}:127.0.0.1")])
        .arg(format!("{base}/healthz"))
        .output()
        .unwrap();
    assert!(!old.status.success(), "the old certificate is still served");

    // A key that is not the certificate's: refused, b stays in force.
    let failed = edge.metric("clickedge_reloads_total{result=\"failed\"}");
    let (_, c_key) = make_cert(certs.path(), "c");
    std::fs::copy(&c_key, certs.path().join("a.key")).unwrap();
    wait_metric(
        &edge,
        "clickedge_reloads_total{result=\"failed\"}",
        failed + 1.0,
    );
    assert!(
        edge.log()
            .contains("is not the key of the first certificate"),
        "{}",
        edge.log()
    );
    let still_b = curl(&base, "--http2", Some(&b_cert), "/healthz", BROWSER_UA);
    assert_eq!(still_b.status, "200");
}

#[test]
fn check_names_a_missing_or_mismatched_pair() {
    let dir = tempfile::tempdir().unwrap();
    let (a_cert, _) = make_cert(dir.path(), "a");
    let (_, b_key) = make_cert(dir.path(), "b");
    let config = dir.path().join("c.yaml");
    let base = config_text(free_port(), free_port(), &dir.path().join("data"), "");
    std::fs::write(
        &config,
        format!(
            "{base}tls:\n  listen: [\"127.0.0.1:{}\"]\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
            free_port(),
            a_cert.display(),
            b_key.display()
        ),
    )
    .unwrap();
    let (code, text) = check(&config);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("is not the key of the first certificate"),
        "{text}"
    );

    std::fs::write(
        &config,
        format!("{base}tls:\n  listen: [\"127.0.0.1:{}\"]\n", free_port()),
    )
    .unwrap();
    let (code, text) = check(&config);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("needs both tls.cert_file and tls.key_file"),
        "{text}"
    );
}

fn wait_metric(edge: &Edge, name: &str, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge.metric(name) < at_least {
        assert!(
            Instant::now() < deadline,
            "{name} stayed below {at_least}\n{}",
            edge.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
