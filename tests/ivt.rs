//! Invalid-traffic filtering seen from outside: each reason on the wire and
//! in the log, the IAB dual pass with sample files, actions, `check` on
//! lists, and reload (SIGHUP, file changes, a broken file, under load).

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const EXCLUDE: &str = "# sample in the IAB format, written for these tests\n\
bot|1|cubot|0|2|0|\n\
crawler|1||0|1|0|\n\
Java/|1||1|2|1|\n";
const INCLUDE: &str = "Mozilla/|1|1\nOpera/|1|1\n";

fn curl(port: u16, path: &str, args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl is needed: apt-get install -y curl");
    String::from_utf8(out.stdout).unwrap()
}

fn reasons(edge: &Edge, n: usize) -> Vec<(String, String, String)> {
    edge.wait_events(n)
        .iter()
        .map(|e| {
            (
                e["verdict"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn t(v: &str, r: &str, a: &str) -> (String, String, String) {
    (v.to_string(), r.to_string(), a.to_string())
}

#[test]
fn every_reason_on_the_wire_and_in_the_log() {
    let edge = Edge::start_with(
        "ivt:\n  internal_ips: ['127.0.0.1']\n  datacenter_ips: ['127.0.0.2/32']\n",
        &[],
    );
    let url = |imp: &str| {
        edge.sign(&[
            "--landing",
            "https://a.example/",
            "--campaign",
            "c",
            "--impression",
            imp,
        ])
    };
    let ua = ["-A", BROWSER_UA];
    assert_eq!(
        curl(
            edge.port,
            &url("1"),
            &["-A", "Googlebot/2.1 (+http://www.google.com/bot.html)"]
        ),
        "403"
    );
    assert_eq!(curl(edge.port, &url("2"), &["-A", ""]), "302");
    assert_eq!(
        curl(edge.port, &url("3"), &[&ua[..], &["-I"]].concat()),
        "302"
    );
    assert_eq!(curl(edge.port, &url("4"), &ua), "302");
    assert_eq!(
        curl(
            edge.port,
            &url("5"),
            &[&ua[..], &["--interface", "127.0.0.2"]].concat()
        ),
        "302"
    );
    let dup = url("6");
    let from_dc = [&ua[..], &["--interface", "127.0.0.3"]].concat();
    assert_eq!(curl(edge.port, &dup, &from_dc), "302");
    assert_eq!(curl(edge.port, &dup, &from_dc), "302");
    let test_click = edge.sign(&[
        "--landing",
        "https://a.example/",
        "--campaign",
        "c",
        "--test",
    ]);
    assert_eq!(curl(edge.port, &test_click, &from_dc), "302");
    assert_eq!(
        reasons(&edge, 8),
        vec![
            t("invalid", "known_bot", "blocked"),
            t("invalid", "non_browser", "redirected"),
            t("invalid", "head_request", "redirected"),
            t("invalid", "internal_ip", "redirected"),
            t("invalid", "datacenter_ip", "redirected"),
            t("valid", "", "redirected"),
            t("invalid", "duplicate", "redirected"),
            t("test", "test_click", "redirected"),
        ]
    );
    let ev = edge.events();
    assert_eq!(ev[0]["device"], "bot");
    // The full address is used to classify; only its /24 is written.
    assert_eq!(ev[4]["ip"], "127.0.0.0");
}

#[test]
fn duplicates_are_per_campaign_and_impression() {
    let edge = Edge::start_with("ivt:\n  duplicate_window_seconds: 3600\n", &[]);
    let a = edge.sign(&[
        "--landing",
        "https://a.example/",
        "--campaign",
        "c",
        "--impression",
        "i1",
    ]);
    let b = edge.sign(&[
        "--landing",
        "https://a.example/",
        "--campaign",
        "c",
        "--impression",
        "i2",
    ]);
    let c = edge.sign(&[
        "--landing",
        "https://a.example/",
        "--campaign",
        "d",
        "--impression",
        "i1",
    ]);
    let mut conn = Conn::open(edge.port).unwrap();
    for path in [&a, &a, &b, &c, &a.replacen("/c?", "/b?", 1)] {
        assert_eq!(
            conn.send("GET", path, &[("User-Agent", BROWSER_UA)], b"")
                .unwrap()
                .status
                / 100,
            2 + (path.starts_with("/c") as u16)
        );
    }
    let r: Vec<String> = reasons(&edge, 5).into_iter().map(|(_, r, _)| r).collect();
    assert_eq!(r, ["", "duplicate", "", "", "duplicate"]);
}

#[test]
fn iab_dual_pass_from_sample_files() {
    let dir = tempfile::tempdir().unwrap();
    let ex = dir.path().join("exclude.txt");
    let inc = dir.path().join("include.txt");
    let ips = dir.path().join("ips.txt");
    std::fs::write(&ex, EXCLUDE).unwrap();
    std::fs::write(&inc, INCLUDE).unwrap();
    std::fs::write(&ips, "192.0.2.0/24\n").unwrap();
    let edge = Edge::start_with(
        &format!(
            "ivt:\n  duplicate_window_seconds: 0\n  bots:\n    builtin: false\n    iab_exclude_file: {}\n    iab_include_file: {}\n    iab_ip_file: {}\n",
            ex.display(),
            inc.display(),
            ips.display()
        ),
        &[],
    );
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let cases = [
        (BROWSER_UA, "302"),
        ("curl/8.5.0", "302"), // fails the include list: non_browser, flagged
        ("Mozilla/5.0 (compatible; SomeBot/1.0)", "403"), // passes include, matches exclude
        ("Mozilla/5.0 (Linux; Android 9; CUBOT X19)", "302"), // exception spares it
        ("Java/1.8.0", "403"), // start-of-string pattern (and no include match)
        ("Mozilla/5.0 MyApp Java/17", "302"), // not at the start
    ];
    for (ua, want) in cases {
        assert_eq!(curl(edge.port, &url, &["-A", ua]), want, "{ua}");
    }
    assert_eq!(
        reasons(&edge, 6),
        vec![
            t("valid", "", "redirected"),
            t("invalid", "non_browser", "redirected"),
            t("invalid", "known_bot", "blocked"),
            t("valid", "", "redirected"),
            t("invalid", "known_bot", "blocked"),
            t("valid", "", "redirected"),
        ]
    );
}

#[test]
fn actions_are_configurable() {
    let edge = Edge::start_with(
        "ivt:\n  actions:\n    known_bot: flag\n    head_request: block\n",
        &[],
    );
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    assert_eq!(
        curl(edge.port, &url, &[]),
        "302",
        "curl is a known bot, flagged only"
    );
    assert_eq!(curl(edge.port, &url, &["-A", BROWSER_UA, "-I"]), "403");
    assert_eq!(
        reasons(&edge, 2),
        vec![
            t("invalid", "known_bot", "redirected"),
            t("invalid", "head_request", "blocked")
        ]
    );
}

#[test]
fn check_validates_the_lists() {
    let dir = tempfile::tempdir().unwrap();
    let bad_ips = dir.path().join("dc.txt");
    std::fs::write(&bad_ips, "10.0.0.0/8\n300.1.1.1/8\n").unwrap();
    let bad_patterns = dir.path().join("bots.txt");
    std::fs::write(&bad_patterns, "fine\n(unclosed\n").unwrap();
    let bad_iab = dir.path().join("exclude.txt");
    std::fs::write(&bad_iab, "bot|1||0|9|0|\n").unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {}\nivt:\n  datacenter_ip_files: [{}]\n  internal_ip_files: [/nonexistent/internal.txt]\n  bots:\n    pattern_files: [{}]\n    iab_exclude_file: {}\n  actions:\n    prefetch: flag\n",
            dir.path().join("data").display(),
            bad_ips.display(),
            bad_patterns.display(),
            bad_iab.display()
        ),
    )
    .unwrap();
    let (code, text) = check(&cfg);
    assert_eq!(code, Some(1), "{text}");
    for needle in [
        "dc.txt: line 2",
        "/nonexistent/internal.txt",
        "bots.txt line 2",
        "exclude.txt: line 1: impact",
        "ivt.actions.prefetch: must be block",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_keys_and_a_broken_file_keeps_the_old_policy() {
    let dir = tempfile::tempdir().unwrap();
    let dc = dir.path().join("dc.txt");
    std::fs::write(&dc, "192.0.2.0/24\n").unwrap();
    let edge = Edge::start_with(
        &format!(
            "ivt:\n  datacenter_ip_files: [{}]\nreload:\n  check_interval_seconds: 0\n",
            dc.display()
        ),
        &[],
    );
    // A URL signed with a key the edge does not know yet.
    let original = std::fs::read_to_string(&edge.config).unwrap();
    let with_k3 = original.replace(
        "    - {id: k2,",
        "    - {id: k3, secret: \"third-secret-0123456789abcdef\"}\n    - {id: k2,",
    );
    let k3_cfg = edge.dir.path().join("k3.yaml");
    std::fs::write(
        &k3_cfg,
        with_k3.replace("signing:\n", "signing:\n  sign_with: k3\n"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["sign", "--config"])
        .arg(&k3_cfg)
        .args(["--landing", "https://a.example/", "--campaign", "c"])
        .output()
        .unwrap();
    let k3_url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(edge.get(&k3_url, &[]).status, 403);

    std::fs::write(&edge.config, &with_k3).unwrap();
    edge.signal("HUP");
    wait_for("the new key", || edge.get(&k3_url, &[]).status == 302);
    // The policy answers as soon as it is swapped in; the reload is
    // counted once it has logged what it has to say.
    wait_for("the reload counted", || {
        edge.metric("clickedge_reloads_total{result=\"ok\"}") == 1.0
    });

    // A broken list: the reload fails, says why, and the old policy stays.
    std::fs::write(&dc, "192.0.2.0/24\nnot-a-network\n").unwrap();
    edge.signal("HUP");
    wait_for("the failed reload", || {
        edge.metric("clickedge_reloads_total{result=\"failed\"}") == 1.0
    });
    assert_eq!(edge.get(&k3_url, &[]).status, 302);
    assert!(edge.log().contains("not-a-network"), "{}", edge.log());
    assert!(edge.log().contains("old policy stays in force"));

    // Settings a reload cannot apply are named, not silently ignored.
    std::fs::write(
        &dc,
        "192.0.2.0/24
",
    )
    .unwrap();
    std::fs::write(
        &edge.config,
        with_k3.replace("edge_id: test-edge", "edge_id: other-edge")
            + "privacy:
  ip_mode: none
click:
  clickid_param: gclid
",
    )
    .unwrap();
    edge.signal("HUP");
    wait_for("the reload", || {
        edge.metric("clickedge_reloads_total{result=\"ok\"}") == 2.0
    });
    let log = edge.log();
    let line = log
        .lines()
        .find(|l| l.contains("not in force"))
        .unwrap_or_else(|| panic!("no warning in\n{log}"));
    for key in ["edge_id", "click.clickid_param", "privacy"] {
        assert!(line.contains(key), "{key} not named in {line}");
    }
    assert!(!line.contains("listen"), "{line}");
}

#[test]
fn a_changed_list_is_picked_up_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let internal = dir.path().join("internal.txt");
    std::fs::write(&internal, "# none yet\n").unwrap();
    let edge = Edge::start_with(
        &format!("ivt:\n  duplicate_window_seconds: 0\n  internal_ip_files: [{}]\nreload:\n  check_interval_seconds: 1\n", internal.display()),
        &[],
    );
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let ua = [("User-Agent", BROWSER_UA)];
    assert_eq!(edge.get(&url, &ua).status, 302);
    assert_eq!(edge.wait_events(1)[0]["reason"], "");
    std::fs::write(&internal, "127.0.0.0/8\n").unwrap();
    wait_for("the reload", || {
        edge.metric("clickedge_reloads_total{result=\"ok\"}") >= 1.0
    });
    assert_eq!(edge.get(&url, &ua).status, 302);
    assert_eq!(edge.wait_events(2)[1]["reason"], "internal_ip");
}

#[test]
fn reloads_under_load_fail_no_request() {
    if Command::new("wrk").arg("--version").output().is_err() {
        panic!("wrk is needed for this test: apt-get install -y wrk");
    }
    let dir = tempfile::tempdir().unwrap();
    let dc = dir.path().join("dc.txt");
    std::fs::write(&dc, "203.0.113.0/24\n").unwrap();
    let mut edge = Edge::start_with(
        &format!(
            "ivt:\n  datacenter_ip_files: [{}]\nreload:\n  check_interval_seconds: 1\n",
            dc.display()
        ),
        &[],
    );
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/load/clicks.lua");
    let wrk = Command::new("wrk")
        .args([
            "-t1",
            "-c20",
            "-d4s",
            "-s",
            script,
            "-H",
            &format!("User-Agent: {BROWSER_UA}"),
        ])
        .arg(format!("http://127.0.0.1:{}", edge.port))
        .args(["--", &url, "3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Reload as fast as the edge takes it while wrk runs: SIGHUPs, and a
    // list that keeps changing.
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(3) {
        std::fs::write(&dc, format!("203.0.113.0/24\n198.51.100.{}/32\n", n % 250)).unwrap();
        edge.signal("HUP");
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = wrk.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let answered: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("clicks_answered "))
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap();
    assert!(text.contains("unexpected_status 0"), "{text}");
    assert!(
        text.contains("errors connect 0 read 0 write 0 timeout 0 status 0"),
        "{text}"
    );
    let ok = edge.metric("clickedge_reloads_total{result=\"ok\"}");
    assert!(ok >= 10.0, "only {ok} reloads happened during the load");
    edge.stop();
    assert_eq!(edge.events().len(), answered);
    eprintln!("{n} reload requests, {ok} reloads, {answered} clicks, all answered\n{text}");
}
