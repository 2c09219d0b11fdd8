//! Under load from a real load tool (wrk), every answered click is on disk
//! after SIGTERM: none lost, none dropped.

mod common;
use common::*;
use std::process::Command;

fn wrk_available() {
    if Command::new("wrk").arg("--version").output().is_err() {
        panic!("wrk is needed for this test: apt-get install -y wrk");
    }
}

#[test]
fn every_click_answered_under_load_is_on_disk_after_sigterm() {
    wrk_available();
    let mut edge = Edge::start();
    let url = edge.sign(&[
        "--landing",
        "https://shop.example/p?a=1",
        "--campaign",
        "load",
    ]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/load/clicks.lua");
    let out = Command::new("wrk")
        .args(["-t1", "-c50", "-d5s", "-s", script])
        .arg(format!("http://127.0.0.1:{}", edge.port))
        .args(["--", &url, "3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answered: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("clicks_answered "))
        .unwrap_or_else(|| panic!("no count in wrk output:\n{text}"))
        .parse()
        .unwrap();
    assert!(text.contains("unexpected_status 0"), "{text}");
    assert!(answered > 1000, "the load test did not load: {text}");
    let dropped = edge.metric("clickedge_events_dropped_total");
    edge.stop();
    let events = edge.events();
    assert_eq!(dropped, 0.0, "events dropped under load");
    assert_eq!(
        events.len(),
        answered,
        "events on disk vs clicks wrk counted\n{text}"
    );
    eprintln!("{text}events on disk: {}", events.len());
}
