//! The back-end commands read the local data dir in bounded memory: a line
//! longer than any record the edge can write is a damaged record, skipped
//! and counted, whatever its length, and the records around it count.
//!
//! Each command runs as the real binary under an address-space limit far
//! below the long line's size, so one that held the line would abort.

mod common;
use common::*;
use std::io::Write;
use std::process::Command;

/// The long line: well past any record (and past the memory limit below).
const LONG: usize = 48 << 20;

/// Address space a command may take, in KiB: what the binary needs to run
/// (its mappings, libraries and stack, about 30 MiB) with room for one
/// record of the longest kind (`record::MAX_LINE`), and less than `LONG`
/// on top of that.
const LIMIT_KIB: u64 = 64 << 10;

/// A valid click of October 2026, sealed as the edge seals it.
fn record(i: usize, ip: &str) -> Vec<u8> {
    let mut r = format!(
        r#"{{"ts":"2026-10-15T10:00:{s:02}.{i:03}Z","click_id":"c{i}","campaign":"shop","impression":"i{i}","publisher":"p1","landing_host":"a.example","verdict":"valid","reason":"","action":"redirected","method":"GET","ip":"{ip}","user_agent":"Mozilla/5.0","device":"desktop","country":"","referrer_host":"","edge":"e1"}}"#,
        s = i % 60
    )
    .into_bytes();
    clickedge::internals::spool::record::seal(&mut r);
    r
}

/// `LONG` bytes of something that looks like the start of a record and
/// never ends, written in pieces.
fn long_line(f: &mut impl Write) {
    f.write_all(br#"{"ts":"2026-10-15T10:00:00.000Z","user_agent":""#)
        .unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..LONG >> 20 {
        f.write_all(&chunk).unwrap();
    }
}

/// A data dir with 6 good clicks around two long lines: one that ends
/// with a newline, followed by more records, and one that runs to the end
/// of its file.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let clicks = dir.path().join("clicks");
    std::fs::create_dir_all(&clicks).unwrap();
    let mut a = std::fs::File::create(clicks.join("1-1-0001.ndjson")).unwrap();
    a.write_all(&record(0, "198.51.100.0")).unwrap();
    a.write_all(&record(1, "198.51.100.0")).unwrap();
    long_line(&mut a);
    a.write_all(b"\n").unwrap();
    a.write_all(&record(2, "198.51.100.0")).unwrap();
    a.write_all(&record(3, "198.51.100.0")).unwrap();
    let mut b = std::fs::File::create(clicks.join("1-1-0002.ndjson")).unwrap();
    b.write_all(&record(4, "198.51.100.0")).unwrap();
    b.write_all(&record(5, "198.51.100.0")).unwrap();
    long_line(&mut b);
    dir
}

/// Runs `clickedge args` under the memory limit: (success, stdout, stderr).
fn limited(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -v "$1" && shift && exec "$@""#)
        .arg("bash")
        .arg(LIMIT_KIB.to_string())
        .arg(BIN)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> (String, String) {
    let (ok, out, err) = limited(args);
    assert!(ok, "clickedge {:?} failed: {err}{out}", &args[..2]);
    (out, err)
}

#[test]
fn a_line_longer_than_any_record_is_skipped_and_counted_by_every_command() {
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let src = ["--data-dir", d];

    let (out, err) = ok(&[&["report", "--format", "json"][..], &src].concat());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["valid_clicks"], 6, "{out}");
    assert!(err.contains("skipped 2 damaged records"), "{err}");

    let (out, _) = ok(&[
        &["rescore", "--from", "2026-10-01", "--to", "2026-11-01"][..],
        &src,
    ]
    .concat());
    assert!(out.contains(": 6 counted clicks read"), "{out}");

    let (out, _) = ok(&[&["strikes", "evaluate", "--day", "2026-10-15"][..], &src].concat());
    assert!(out.contains("2026-10-15: 0 violation"), "{out}");

    let (out, _) = ok(&[&["freeze", "--month", "2026-10"][..], &src].concat());
    assert!(out.contains("(6 gross clicks, 6 valid)"), "{out}");

    // Retention copies damaged records through as they are (never lose
    // data), the long ones too, and rewrites the good ones.
    let config = dir.path().join("retention.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {d}\nprivacy:\n  retention:\n    ip_days: 1\n    \
             user_agent_days: 3650\n    ip_full_days: 1\n"
        ),
    )
    .unwrap();
    let (out, _) = ok(&[
        "retention",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert!(
        out.contains("6 records read, 6 changed in 2 segments; 2 damaged"),
        "{out}"
    );
    // The long lines are still there, byte for byte, where they were.
    let clicks = dir.path().join("clicks");
    let mut long = Vec::new();
    long_line(&mut long);
    for (name, at, ended) in [("1-1-0001.ndjson", 2, true), ("1-1-0002.ndjson", 2, false)] {
        let data = std::fs::read(clicks.join(name)).unwrap();
        let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        assert!(lines[at] == long.as_slice(), "{name}");
        assert_eq!(lines.len(), if ended { 5 + 1 } else { 3 }, "{name}");
    }
    let (out, _) = ok(&[&["report", "--format", "json"][..], &src].concat());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["valid_clicks"], 6, "{out}");
}

#[test]
fn an_adjustment_line_longer_than_any_adjustment_is_refused_in_bounded_memory() {
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let adj = dir.path().join("adjustments");
    std::fs::create_dir_all(&adj).unwrap();
    let mut f = std::fs::File::create(adj.join("run-1.ndjson")).unwrap();
    f.write_all(br#"{"click_id":"c0","reason":"click_flood","rule":"r","run":"run-1","time":1}"#)
        .unwrap();
    f.write_all(b"\n").unwrap();
    long_line(&mut f);
    drop(f);
    let (ok, out, err) = limited(&["report", "--data-dir", d]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("run-1.ndjson line 2: longer than any adjustment"),
        "{err}"
    );
}
