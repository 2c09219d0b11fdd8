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
        .replace(SECRET, clickedge::internals::config::DEV_SECRET);
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

#[test]
fn check_refuses_sink_timings_headers_and_log_levels_that_would_misbehave() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(
        &f,
        "listen: ['127.0.0.1:8080']\nsigning:\n  keys: [{id: k, secret: 0123456789abcdef0123}]\n\
         sink:\n  timeout_seconds: 0\n  retry_initial_ms: 0\n  poll_interval_ms: 0\n  \
         headers: {\"X Bad\": \"v\\nx\"}\nserver:\n  log_level: warning\n",
    )
    .unwrap();
    let (code, text) = check(&f);
    assert_eq!(code, Some(1), "{text}");
    for needle in [
        "sink.timeout_seconds",
        "sink.retry_initial_ms",
        "sink.poll_interval_ms",
        "\"X Bad\" is not a valid header name",
        "not a valid header value",
        "\"warning\" is not a level",
        "6 problem(s)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // A module's own level is still a filter.
    std::fs::write(
        &f,
        "listen: ['127.0.0.1:8080']\nsigning:\n  keys: [{id: k, secret: 0123456789abcdef0123}]\n\
         server:\n  log_level: info,pingora_proxy=warn\n",
    )
    .unwrap();
    let (code, text) = check(&f);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn sign_refuses_what_the_edge_would_refuse_and_report_a_missing_spool() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    let text = config_text(free_port(), free_port(), &dir.path().join("data"), "").replace(
        "signing:\n",
        "signing:\n  allowed_landing_hosts: [shop.example]\n",
    );
    std::fs::write(&f, &text).unwrap();
    let sign = |cfg: &std::path::Path, landing: &str| {
        Command::new(BIN)
            .args(["sign", "--config"])
            .arg(cfg)
            .args(["--landing", landing, "--campaign", "c"])
            .output()
            .unwrap()
    };
    assert!(sign(&f, "https://shop.example/p").status.success());
    let out = sign(&f, "https://evil.example/p");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("landing host not allowed"), "{err}");
    // A key the edge would refuse to start with signs nothing.
    let g = dir.path().join("short.yaml");
    std::fs::write(&g, text.replace(SECRET, "short")).unwrap();
    let out = sign(&g, "https://shop.example/p");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret"));

    // A mistyped data dir is an error, not a report of zero clicks.
    let out = Command::new(BIN)
        .args(["report", "--config"])
        .arg(&f)
        .args(["--data-dir", "/nonexistent/clickedge"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no spool at /nonexistent/clickedge/clicks")
    );
}

#[test]
fn check_refuses_a_landing_pattern_of_a_whole_top_level_domain_and_an_endless_duplicate_window() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    let text = config_text(free_port(), free_port(), &dir.path().join("data"), "").replace(
        "signing:\n",
        "signing:\n  allowed_landing_hosts: [\"*.com\", \"*.shop.example\"]\n",
    ) + "ivt:\n  duplicate_window_seconds: 18446744073709551615\n";
    std::fs::write(&f, text).unwrap();
    let (code, text) = check(&f);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("\"*.com\" allows every host under a top-level domain"),
        "{text}"
    );
    assert!(!text.contains("*.shop.example\" allows"), "{text}");
    assert!(
        text.contains("ivt.duplicate_window_seconds: 18446744073709551615 is more than 30 days"),
        "{text}"
    );
    assert!(text.contains("2 problem(s)"), "{text}");
}

#[test]
fn check_takes_serves_flags_and_checks_what_serve_would_run() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        config_text(port, metrics_port, &dir.path().join("file-data"), ""),
    )
    .unwrap();
    let flag_data = dir.path().join("flag-data");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The data dir checked is the flag's, not the file's.
    let (code, text) = run(&["--data-dir", flag_data.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(flag_data.join("clicks").is_dir());
    assert!(!dir.path().join("file-data").exists());
    // A listener the flag gives on the metrics port is the clash serve
    // would meet.
    let (code, text) = run(&["--listen", &format!("127.0.0.1:{metrics_port}")]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("already taken"), "{text}");
    // A sink the flag names is the one probed.
    let (code, text) = run(&["--sink", "ftp://nowhere/"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("sink"), "{text}");
}

#[test]
fn a_link_planted_beside_the_pid_file_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "keep me\n").unwrap();
    let pid_dir = dir.path().join("run");
    std::fs::create_dir_all(&pid_dir).unwrap();
    let pid_file = pid_dir.join("clickedge.pid");
    // The name the pid file used to be written through, and a link in
    // its place.
    std::os::unix::fs::symlink(&precious, pid_dir.join("clickedge.pid.tmp")).unwrap();
    std::os::unix::fs::symlink(&precious, &pid_file).unwrap();
    let mut edge = Edge::start_edited(
        |c| {
            let from = c.find("  pid_file:").unwrap();
            let to = from + c[from..].find('\n').unwrap();
            format!(
                "{}  pid_file: \"{}\"{}",
                &c[..from],
                pid_file.display(),
                &c[to..]
            )
        },
        &[],
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
    let text = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(text.trim(), edge.pid().to_string());
    assert!(!std::fs::symlink_metadata(&pid_file).unwrap().is_symlink());
    edge.stop();
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
}

#[test]
fn a_landing_host_wildcard_on_a_public_suffix_is_refused_by_check_and_by_sign() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    let good = config_text(free_port(), free_port(), &dir.path().join("data"), "");
    let bad = good.replace(
        "signing:\n",
        "signing:\n  allowed_landing_hosts: [\"*.co.uk\", \"*.github.io\", \"*.shop.co.uk\", \"*.shop.github.io\"]\n",
    );
    std::fs::write(&f, bad).unwrap();
    let (code, text) = check(&f);
    assert_eq!(code, Some(1), "{text}");
    for p in ["*.co.uk", "*.github.io"] {
        assert!(
            text.contains(&format!("{p:?} allows every host under the public suffix")),
            "{text}"
        );
    }
    assert!(!text.contains("shop.co.uk\" allows"), "{text}");
    assert!(!text.contains("shop.github.io\" allows"), "{text}");
    assert!(text.contains("2 problem(s)"), "{text}");

    std::fs::write(&f, good).unwrap();
    let template = |hosts: &str| {
        Command::new(BIN)
            .args(["sign", "--config"])
            .arg(&f)
            .args(["--template", "google", "--campaign", "c"])
            .args(["--landing-host", hosts])
            .output()
            .unwrap()
    };
    for hosts in ["*.co.uk", "shop.example,*.github.io"] {
        let out = template(hosts);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{hosts}: signed");
        assert!(
            err.contains("lh must not allow every host under a public suffix"),
            "{hosts}: {err}"
        );
    }
    assert!(template("*.shop.co.uk,*.shop.github.io").status.success());
}
