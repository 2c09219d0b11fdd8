//! Parallel tracking in a real browser: Debian's Chromium, driven by
//! playwright-core (tests/browser/parallel_tracking.mjs), with a person's
//! user agent. A publisher page does what Google Ads does with a tracking
//! template: the user goes straight to the landing page and the browser
//! sends the filled-in tracking URL with `navigator.sendBeacon`, a POST
//! that follows the edge's redirect.

mod common;
use common::*;
use std::process::Command;

/// Runs the browser once; returns the script's JSON line.
fn parallel_tracking(edge: &Edge, template: &str, gclid: &str, beacons: u32) -> serde_json::Value {
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
    // Filled in as the platform does: {lpurl} escaped, its own click id.
    let tracking = format!(
        "http://127.0.0.1:{}{}",
        edge.port,
        template
            .replace("{lpurl}", &percent_encode(&landing))
            .replace("{gclid}", gclid)
    );
    let out = Command::new("node")
        .arg("parallel_tracking.mjs")
        .current_dir(dir)
        .env("TRACKING_URL", &tracking)
        .env("LANDING_URL", &landing)
        .env("PUBLISHER_PORT", publisher_port.to_string())
        .env("BEACONS", beacons.to_string())
        .output()
        .expect("node is needed (apt-get install -y nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser could not be driven: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        v["final_url"],
        landing.as_str(),
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
