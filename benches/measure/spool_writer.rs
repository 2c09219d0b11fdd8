//! The spool writer on its own: how many events one writer thread takes
//! per CPU-second, with the shipped `events` settings (batches, flushes and
//! fsyncs as `serve` runs them).
//!
//!     cargo run --release --example spool_writer -- [N]
//!
//! Encodes N events first (default 1,000,000), then hands them to the
//! writer's queue as fast as it takes them, waits until they are written
//! and fsynced, and reads the writer thread's CPU time from
//! /proc/self/task/*/stat (the thread is named `clickedge-spool`).

// Only its event builder is used here.
#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use clickedge::internals::spool::{Spool, SpoolConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (user + system) clock ticks of this process's thread with that name.
fn thread_ticks(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).ok()?;
        if comm.trim() == name {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            let rest = stat.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split(' ').collect();
            return Some(f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?);
        }
    }
    None
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("N: a number of events"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = clickedge::internals::config::Config::default();
    let spool_cfg = SpoolConfig::from_config(&cfg.events, dir.path()).unwrap();
    let lines: Vec<Vec<u8>> = (0..n).map(support::event_line).collect();
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let metrics = Arc::new(clickedge::internals::metrics::Metrics::new());
    let spool = Spool::start(spool_cfg, metrics.clone()).unwrap();
    let q = spool.queue();
    let t0 = thread_ticks("clickedge-spool").unwrap_or(0);
    let started = Instant::now();
    let mut full = 0u64;
    for line in lines {
        let mut line = line;
        loop {
            // push() takes the line; on a full queue, hand it again.
            if q.push(line.clone()) {
                break;
            }
            full += 1;
            std::thread::sleep(Duration::from_micros(200));
            line = line.clone();
        }
    }
    spool.sync();
    let wall = started.elapsed();
    let t1 = thread_ticks("clickedge-spool").expect("the writer thread");
    spool.shutdown();
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (t1 - t0) as f64 / hz;
    println!(
        "{n} events ({:.0} MB) written and fsynced in {:.2} s; writer thread CPU {:.2} s: \
         {:.0} events per CPU-second ({:.2} µs an event); the queue was full {full} times",
        bytes as f64 / 1e6,
        wall.as_secs_f64(),
        cpu,
        n as f64 / cpu,
        cpu * 1e6 / n as f64,
    );
}
