//! Parallel tracking in a real browser: Debian's Chromium, driven by
//! playwright-core (tests/browser/parallel_tracking.mjs), with a person's
//! user agent. A publisher page does what Google Ads does with a tracking
//! template: the user goes straight to the landing page and the browser
//! sends the filled-in tracking URL with `navigator.sendBeacon`, a POST
//! that follows the edge's redirect.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Runs the browser once; returns the script's JSON line.
fn parallel_tracking(edge: &Edge, template: &str, gclid: &str, beacons: u32) -> serde_json::Value {
    let base = format!("http://127.0.0.1:{}", edge.port);
    let beacons = beacons.to_string();
    let fill = |landing: &str| fill_template(template, landing, gclid);
    chromium(&base, &fill, gclid, &[("BEACONS", &beacons)])
}

/// A tracking template filled in as the platform does: `{lpurl}` escaped,
/// its own click id.
fn fill_template(template: &str, landing: &str, gclid: &str) -> String {
    template
        .replace("{lpurl}", &percent_encode(landing))
        .replace("{gclid}", gclid)
}

/// Runs tests/browser/parallel_tracking.mjs once against the edge at
/// `base`; `click` makes the edge's path and query for the landing URL;
/// `env` is passed on. Returns the script's JSON line.
fn chromium(
    base: &str,
    click: &dyn Fn(&str) -> String,
    gclid: &str,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    if !std::path::Path::new(dir)
        .join("node_modules/playwright-core")
        .exists()
    {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(dir)
            .status()
            .expect("npm is needed (apt-get install -y npm)");
        assert!(ok.success(), "npm ci in tests/browser failed");
    }
    let publisher_port = free_port();
    let landing = format!("http://localhost:{publisher_port}/landing?gclid={gclid}");
    let tracking = format!("{base}{}", click(&landing));
    let out = Command::new("node")
        .arg("parallel_tracking.mjs")
        .current_dir(dir)
        .env("TRACKING_URL", &tracking)
        .env("LANDING_URL", &landing)
        .env("PUBLISHER_PORT", publisher_port.to_string())
        .envs(env.iter().copied())
        .output()
        .expect("node is needed (apt-get install -y nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser could not be driven: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // Straight to the landing page; through the edge, with its click id.
    let navigated = env.contains(&("MODE", "navigate"));
    let at = v["final_url"].as_str().unwrap_or("");
    assert!(
        at == landing || navigated && at.starts_with(&format!("{landing}&clickid=")),
        "the user is on the landing page: {v}"
    );
    assert_eq!(v["title"], "landing");
    v
}

#[test]
fn a_google_parallel_tracking_beacon_is_one_valid_post_click_and_a_second_is_a_duplicate() {
    let edge = Edge::start();
    let template = edge.sign(&[
        "--template",
        "google",
        "--campaign",
        "summer",
        "--landing-host",
        "localhost",
    ]);
    assert!(template.ends_with("&u={lpurl}&gclid={gclid}"), "{template}");

    let v = parallel_tracking(&edge, &template, "EAIaIQobChMI-one", 1);
    assert_eq!(v["beacon_statuses"], serde_json::json!([302]), "{v}");
    let events = edge.wait_events(1);
    let e = &events[0];
    assert_eq!(e["verdict"], "valid", "{e}");
    assert_eq!(e["method"], "POST");
    assert_eq!(e["action"], "redirected");
    assert_eq!(e["platform_click_param"], "gclid");
    assert_eq!(e["platform_click_id"], "EAIaIQobChMI-one");
    assert_eq!(e["landing_host"], "localhost");
    assert_eq!(e["device"], "desktop");

    // The same platform click beaconed twice within the window.
    let v = parallel_tracking(&edge, &template, "EAIaIQobChMI-two", 2);
    assert_eq!(v["beacon_statuses"], serde_json::json!([302, 302]), "{v}");
    let events = edge.wait_events(3);
    let two: Vec<_> = events
        .iter()
        .filter(|e| e["platform_click_id"] == "EAIaIQobChMI-two")
        .collect();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0]["verdict"], "valid");
    assert_eq!(two[1]["reason"], "duplicate");
    assert_eq!(events.len(), 3, "exactly one event a beacon");
}

/// An edge with a TLS listener serving `cert` (HTTP/2 offered by ALPN or
/// not), and the header-consistency signal as it is by default (on);
/// returns it and its TLS port.
fn tls_edge(cert: &std::path::Path, key: &std::path::Path, http2: bool) -> (Edge, u16) {
    let port = free_port();
    let edge = Edge::start_with(
        &format!(
            "tls:\n  listen: [\"127.0.0.1:{port}\"]\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  http2: {http2}\n",
            cert.display(),
            key.display()
        ),
        &[],
    );
    (edge, port)
}

/// The header-consistency signal (a current Chromium over TLS without
/// client hints or `Sec-Fetch-*` is `non_browser`) is on by default only
/// because real browsers never trip it. Here Debian's Chromium, over TLS on
/// HTTP/2 and on HTTP/1.1, sends a classic click (a navigation through the
/// edge) and a parallel-tracking beacon: each is valid. A client with the
/// same user agent and none of those headers, over the same listener, is
/// flagged, so the signal is on by default.
#[test]
fn over_tls_chromium_never_trips_the_header_check_and_a_bare_client_does() {
    let certs = tempfile::tempdir().unwrap();
    for (http2, protocol, imp, extra) in [
        (true, "h2", "h2", ""),
        (false, "http/1.1", "h1", "--disable-http2"),
    ] {
        let (_, cert, key) = make_ca_and_cert(certs.path());
        let (edge, port) = tls_edge(&cert, &key, http2);
        let base = format!("https://localhost:{port}");
        let env = [("IGNORE_HTTPS_ERRORS", "1"), ("EXTRA_ARGS", extra)];

        // A classic click: the ad's link goes through the edge.
        let signed = |landing: &str| {
            edge.sign(&[
                "--landing",
                landing,
                "--campaign",
                "tls-nav",
                "--impression",
                imp,
            ])
        };
        let nav = chromium(
            &base,
            &signed,
            "unused",
            &[&env[..], &[("MODE", "navigate")]].concat(),
        );
        // Parallel tracking: the browser beacons the filled-in template.
        let template = edge.sign(&[
            "--template",
            "google",
            "--campaign",
            "tls-beacon",
            "--landing-host",
            "localhost",
        ]);
        let fill = |landing: &str| fill_template(&template, landing, &format!("gclid-{imp}"));
        let beacon = chromium(
            &base,
            &fill,
            &format!("gclid-{imp}"),
            &[&env[..], &[("NAVIGATE_AFTER_MS", "1000")]].concat(),
        );
        for v in [&nav, &beacon] {
            let sent = v["edge_requests"].as_array().unwrap();
            assert_eq!(sent.len(), 1, "{v}");
            assert_eq!(sent[0]["protocol"], protocol, "{v}");
        }
        assert_eq!(nav["edge_requests"][0]["method"], "GET");
        assert_eq!(beacon["edge_requests"][0]["method"], "POST");

        // The same user agent from a client that sends none of the headers.
        let bare = Command::new("curl")
            .args([
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version}",
            ])
            .arg(if http2 { "--http2" } else { "--http1.1" })
            .args(["-A", BROWSER_UA])
            .arg(format!(
                "{base}{}",
                edge.sign(&[
                    "--landing",
                    "https://shop.example/",
                    "--campaign",
                    "tls-bare"
                ])
            ))
            .output()
            .unwrap();
        let version = if http2 { "2" } else { "1.1" };
        assert_eq!(
            String::from_utf8_lossy(&bare.stdout),
            format!("302 {version}")
        );

        let events = edge.wait_events(3);
        assert_eq!(events.len(), 3, "{events:?}");
        let by = |campaign: &str| events.iter().find(|e| e["campaign"] == campaign).unwrap();
        for campaign in ["tls-nav", "tls-beacon"] {
            let e = by(campaign);
            assert_eq!(e["verdict"], "valid", "{protocol}: {e}\n{nav}\n{beacon}");
        }
        assert_eq!(by("tls-beacon")["method"], "POST");
        let bare = by("tls-bare");
        assert_eq!(bare["reason"], "non_browser", "{bare}");
        assert_eq!(
            bare["rule"],
            "headers:chromium-without-sec-fetch-or-client-hints"
        );
        assert_eq!(bare["action"], "redirected", "flagged, never blocked");
    }
}

/// A certificate authority and a certificate for `localhost` it signed, as
/// PEM files: (authority, certificate, key). Firefox trusts an authority
/// added to its profile, not a self-signed server certificate.
fn make_ca_and_cert(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "clickedge test authority");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("edge.crt"),
        dir.join("edge.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// Serves `/publisher` (the given page), `/slow` (answered after 1.5 s, so
/// that a page holding it stays loading) and `/landing` on loopback, one
/// thread a connection; returns the port.
fn serve_pages(publisher: impl Fn(u16) -> String + Send + 'static) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let publisher = std::sync::Arc::new(publisher(port));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let publisher = publisher.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                // The rest of the head; a beacon's follow-up has no body.
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                        break;
                    }
                }
                let (kind, body) = if path.starts_with("/publisher") {
                    ("text/html", publisher.to_string())
                } else if path.starts_with("/slow") {
                    std::thread::sleep(Duration::from_millis(1500));
                    ("text/css", String::new())
                } else {
                    (
                        "text/html",
                        "<!doctype html><title>landing</title>".to_string(),
                    )
                };
                let _ = (&stream).write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\
                         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

/// Loads `url` in a headless Firefox with `profile` (which trusts the
/// test authority) until the page has loaded, logging its HTTP layer to
/// `log_dir`; returns that log.
fn firefox(profile: &std::path::Path, log_dir: &std::path::Path, url: &str) -> String {
    std::fs::create_dir_all(log_dir).unwrap();
    let shot = log_dir.join("shot.png");
    let out = Command::new("firefox-esr")
        .args(["--headless", "--no-remote", "--profile"])
        .arg(profile)
        .arg("--screenshot")
        .arg(&shot)
        .arg(url)
        .env("MOZ_LOG", "nsHttp:3")
        .env("MOZ_LOG_FILE", log_dir.join("moz.log"))
        .env("HOME", profile)
        .output()
        .expect("firefox-esr is needed (apt-get install -y firefox-esr)");
    assert!(
        out.status.success() && shot.exists(),
        "firefox did not load {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut log = String::new();
    for f in std::fs::read_dir(log_dir).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("moz.log") {
            log += &String::from_utf8_lossy(&std::fs::read(f.path()).unwrap());
        }
    }
    log
}

/// Debian's Firefox ESR, over TLS on HTTP/2 and on HTTP/1.1: a classic
/// click (a navigation through the edge) and a parallel-tracking beacon
/// are both valid with the header-consistency signal on (by default). Firefox's log
/// shows which protocol it spoke.
#[test]
fn over_tls_firefox_never_trips_the_header_check() {
    for (http2, imp) in [(true, "h2"), (false, "h1")] {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = make_ca_and_cert(dir.path());
        let (edge, port) = tls_edge(&cert, &key, http2);
        let base = format!("https://localhost:{port}");

        // A fresh profile that trusts the test authority, and nothing else
        // of note: no first-run pages, no telemetry, HTTP/2 as asked.
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).unwrap();
        let db = format!("sql:{}", profile.display());
        for args in [
            vec!["-N", "-d", &db, "--empty-password"],
            vec![
                "-A",
                "-d",
                &db,
                "-n",
                "clickedge-test",
                "-t",
                "C,,",
                "-i",
                ca.to_str().unwrap(),
            ],
        ] {
            let ok = Command::new("certutil")
                .args(&args)
                .status()
                .expect("certutil is needed (apt-get install -y libnss3-tools)");
            assert!(ok.success(), "certutil {args:?}");
        }
        std::fs::write(
            profile.join("user.js"),
            format!(
                "user_pref(\"browser.shell.checkDefaultBrowser\", false);\n\
                 user_pref(\"datareporting.policy.dataSubmissionEnabled\", false);\n\
                 user_pref(\"toolkit.telemetry.reportingpolicy.firstRun\", false);\n\
                 user_pref(\"browser.startup.homepage_override.mstone\", \"ignore\");\n\
                 user_pref(\"network.http.http2.enabled\", {http2});\n"
            ),
        )
        .unwrap();

        let template = edge.sign(&[
            "--template",
            "google",
            "--campaign",
            "ff-beacon",
            "--landing-host",
            "localhost",
        ]);
        let gclid = format!("gclid-{imp}");
        let tracking = base.clone();
        let pages = serve_pages(move |port| {
            let landing = format!("http://localhost:{port}/landing?gclid={gclid}");
            let url = format!("{tracking}{}", fill_template(&template, &landing, &gclid));
            // The beacon goes out at once; the stylesheet keeps the page
            // loading (and Firefox running) while it is answered.
            format!(
                "<!doctype html><title>publisher</title>\
                 <link rel=stylesheet href=/slow>\
                 <script>navigator.sendBeacon({url:?});</script>"
            )
        });
        let landing = format!("http://localhost:{pages}/landing");
        let click = edge.sign(&[
            "--landing",
            &landing,
            "--campaign",
            "ff-nav",
            "--impression",
            imp,
        ]);

        let logs = [
            firefox(&profile, &dir.path().join("nav"), &format!("{base}{click}")),
            firefox(
                &profile,
                &dir.path().join("beacon"),
                &format!("http://localhost:{pages}/publisher"),
            ),
        ];
        for log in &logs {
            assert_eq!(
                log.contains("Http2Session::Http2Session"),
                http2,
                "Firefox spoke HTTP/2 to the edge only when offered"
            );
        }

        let events = edge.wait_events(2);
        assert_eq!(events.len(), 2, "{events:?}");
        for (campaign, method) in [("ff-nav", "GET"), ("ff-beacon", "POST")] {
            let e = events.iter().find(|e| e["campaign"] == campaign).unwrap();
            assert_eq!(e["verdict"], "valid", "{imp}: {e}");
            assert_eq!(e["method"], method, "{e}");
            assert!(
                e["user_agent"].as_str().unwrap().contains("Firefox/"),
                "{e}"
            );
        }
    }
}
