//! Connections that say nothing, on every door at once (plain, TLS before
//! its handshake, metrics), against an edge that may open few files: the
//! caps hold them, the deadlines close them, and a person's click is
//! answered meanwhile (docs/operations.md, "What each limit bounds").

mod common;
use common::*;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// The most files the edge may open in these tests.
const NOFILE: u64 = 256;

fn set_nofile(cmd: &mut Command, n: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// This test process may hold its own side of every connection.
fn raise_own_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max.min(65_536);
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn silent_connections_on_every_door_stay_under_the_caps_and_a_click_is_answered() {
    raise_own_nofile();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "edge");
    let tls_port = free_port();
    let max_connections = 64;
    let metrics_max = 8;
    let edge = Edge::spawn(
        |c| {
            c.replace(
                "server:\n",
                &format!("server:\n  max_connections: {max_connections}\n"),
            )
            .replace(
                "metrics:\n",
                &format!("metrics:\n  max_connections: {metrics_max}\n"),
            ) + &format!(
                "tls:\n  listen: [\"127.0.0.1:{tls_port}\"]\n  cert_file: \"{}\"\n  key_file: \"{}\"\nlimits:\n  header_timeout_seconds: 2\n",
                cert.display(),
                key.display()
            )
        },
        |_| Vec::new(),
        |cmd| set_nofile(cmd, NOFILE),
    );
    let url = edge.sign(&["--landing", "https://shop.example/", "--campaign", "c"]);
    // 1,200 connections that never send a byte: more than the edge may
    // open, a third on each door.
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..400 {
        for port in [edge.port, tls_port, edge.metrics_port] {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                held.push(s);
            }
        }
    }
    assert!(
        held.len() > NOFILE as usize,
        "only {} connected",
        held.len()
    );
    // While they are held: the edge never holds more than its caps (and a
    // margin for its own files), and a click is answered once the
    // deadlines have closed the silent ones inside the caps.
    let most = max_connections + metrics_max + 64;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut answered = false;
    while Instant::now() < deadline {
        let n = open_files(edge.pid());
        assert!(n <= most, "the edge holds {n} files, over {most}");
        if let Ok(r) = try_get(edge.port, &url) {
            if r.status == 302 {
                answered = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        answered,
        "no click answered while the silent connections were held:\n{}",
        edge.log()
    );
    assert!(open_files(edge.pid()) <= most);
    edge.metrics(); // the metrics door answers too
    for limit in ["connections", "handshake_timeout", "header_timeout"] {
        let n = edge.metric(&format!("clickedge_limit_hits_total{{limit=\"{limit}\"}}"));
        assert!(n >= 1.0, "{limit} not counted");
    }
    drop(held);
}

#[test]
fn check_says_when_the_caps_need_more_files_than_the_process_may_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        config_text(free_port(), free_port(), &dir.path().join("d"), ""),
    )
    .unwrap();
    let run = |nofile: u64| {
        let mut cmd = Command::new(BIN);
        cmd.args(["check", "--config"]).arg(&config);
        set_nofile(&mut cmd, nofile);
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The default cap, 16,384 connections, under a limit of 256 files.
    let (code, text) = run(NOFILE);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("warning: server.max_connections (16384)") && text.contains("ulimit -Hn"),
        "{text}"
    );
    // Caps that fit: no warning.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("server:\n", "server:\n  max_connections: 100\n"),
    )
    .unwrap();
    let (code, text) = run(NOFILE);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("max_connections"), "{text}");
}
