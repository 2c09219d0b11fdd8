//! Shipping rate from the spool to a sink: writes N events to a fresh
//! spool with the real writer, then ships them with the real shipper and
//! times it until the sink has acknowledged all of them.
//!
//!     cargo run --release --example ship_rate -- SINK_URL [EVENTS] [BATCH_EVENTS]
//!
//! `benches/ship/run.sh` starts a local ClickHouse and runs this.

#[path = "support/mod.rs"]
mod support;

use clickedge::internals::metrics::Metrics;
use clickedge::internals::ship::{sinks, ShipConfig, Shipper};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .expect("usage: ship_rate SINK_URL [EVENTS] [BATCH_EVENTS]");
    let n: usize = args.get(1).map_or(1_000_000, |s| s.parse().unwrap());
    let batch: usize = args.get(2).map_or(50_000, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let t0 = Instant::now();
    let bytes = support::fill_spool(&dir.path().join("clicks"), n, metrics.clone());
    println!(
        "spooled {n} events ({:.0} MB) in {:.2?}",
        bytes as f64 / 1e6,
        t0.elapsed()
    );

    let sink = sinks::from_url(
        url,
        &sinks::SinkOptions {
            user: "default".into(),
            timeout: Duration::from_secs(120),
            ..Default::default()
        },
    )
    .unwrap();
    let t1 = Instant::now();
    let shipper = Shipper::start(
        ShipConfig {
            dir: dir.path().join("clicks"),
            state_dir: dir.path().to_path_buf(),
            batch_max_events: batch,
            batch_max_bytes: 64 << 20,
            poll_interval: Duration::from_millis(5),
            min_insert_interval: Duration::ZERO,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
        },
        sink,
        metrics.clone(),
        Default::default(),
    )
    .unwrap();
    while metrics.events_shipped.get() < n as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = t1.elapsed();
    shipper.shutdown();
    println!(
        "shipped {n} events in {took:.2?}: {:.0} events/s ({} batches of up to {batch}, sink errors {})",
        n as f64 / took.as_secs_f64(),
        n.div_ceil(batch),
        metrics.sink_errors.get()
    );
}
