//! `clickedge check` and `clickedge sign` as an operator runs them.

mod common;
use common::*;
use std::process::Command;

#[test]
fn check_accepts_the_shipped_config() {
    let out = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok"));
    assert!(text.contains("development key"), "{text}");
}

#[test]
fn check_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(
        &f,
        "listen: ['127.0.0.1:99999']\nsigning:\n  keys: [{id: 'has space', secret: short}]\nevents:\n  flush_interval_ms: 5000\n",
    )
    .unwrap();
    let (code, text) = check(&f);
    assert_eq!(code, Some(1), "{text}");
    for needle in [
        "listen",
        "keys[0].id",
        "keys[0].secret",
        "flush_interval_ms",
        "4 problem(s)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn check_names_a_typo_and_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("typo.yaml");
    std::fs::write(
        &f,
        "listen: ['127.0.0.1:8080']\nsigning:\n  requird: false\n",
    )
    .unwrap();
    let (code, text) = check(&f);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("requird"), "{text}");
}

#[test]
fn serve_refuses_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, "signing:\n  required: false\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("allowed_landing_hosts"));
}

#[test]
fn serve_warns_about_the_dev_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let text = config_text(port, metrics_port, &dir.path().join("data"), "")
        .replace(SECRET, clickedge::config::DEV_SECRET);
    let f = dir.path().join("dev.yaml");
    std::fs::write(&f, text).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&f)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while try_get(port, "/healthz").is_err() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEVELOPMENT signing key"));
}

#[test]
fn sign_prints_one_url_the_edge_accepts_with_rotated_keys() {
    let edge = Edge::start();
    let with_k1 = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    assert!(with_k1.starts_with("/c?u=https%3A%2F%2Fa.example%2F&cmp=c&imp="));
    assert!(with_k1.contains("&kid=k1&sig="));
    // Rotation: a config that signs with k2 mints URLs the same edge accepts.
    let text = std::fs::read_to_string(&edge.config)
        .unwrap()
        .replace("signing:\n", "signing:\n  sign_with: k2\n");
    let k2 = edge.dir.path().join("k2.yaml");
    std::fs::write(&k2, text).unwrap();
    let out = Command::new(BIN)
        .args(["sign", "--config"])
        .arg(&k2)
        .args(["--landing", "https://a.example/", "--campaign", "c"])
        .output()
        .unwrap();
    let with_k2 = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(with_k2.contains("&kid=k2&sig="));
    for url in [&with_k1, &with_k2] {
        assert_eq!(edge.get(url, &[]).status, 302, "{url}");
    }
    // Impressions default to unique ids.
    assert_ne!(with_k1.split("imp=").nth(1), with_k2.split("imp=").nth(1));
}

#[test]
fn serve_exits_at_once_when_a_port_is_taken_or_listed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let f = dir.path().join("c.yaml");
    std::fs::write(
        &f,
        config_text(port, metrics_port, &dir.path().join("data"), ""),
    )
    .unwrap();
    // Listed twice: `check` and `serve` both say so.
    let twice = format!("127.0.0.1:{port}");
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&f)
        .args(["--listen", &twice, "--listen", &twice])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("already taken by listen"), "{err}");
    let text = std::fs::read_to_string(&f).unwrap().replace(
        &format!("listen: [\"{twice}\"]"),
        &format!("listen: [\"{twice}\", \"{twice}\"]"),
    );
    let g = dir.path().join("twice.yaml");
    std::fs::write(&g, text).unwrap();
    let (code, text) = check(&g);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("already taken by listen"), "{text}");

    // Held by another process: an error and a non-zero exit, not a
    // process that stays up serving nothing.
    let _other = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn serve_writes_its_pid_file_and_removes_it_at_exit() {
    let mut edge = Edge::start();
    let pid_file = edge.data().join("clickedge.pid");
    let text = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(text.trim(), edge.pid().to_string());
    edge.stop();
    assert!(!pid_file.exists());
}
