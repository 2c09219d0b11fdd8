//! Shipping rate from the spool to a sink: writes N events to a fresh
//! spool with the real writer, then ships them with the real shipper and
//! times it until the sink has acknowledged all of them.
//!
//!     cargo run --release --example ship_rate -- SINK_URL [EVENTS] [BATCH_EVENTS]
//!
//! `benches/ship/run.sh` starts a local ClickHouse and runs this.

use clickedge::device::Device;
use clickedge::event::Event;
use clickedge::ivt::{Action, Verdict};
use clickedge::metrics::Metrics;
use clickedge::ship::{sinks, ShipConfig, Shipper};
use clickedge::spool::{Spool, SpoolConfig};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .expect("usage: ship_rate SINK_URL [EVENTS] [BATCH_EVENTS]");
    let n: usize = args.get(1).map_or(1_000_000, |s| s.parse().unwrap());
    let batch: usize = args.get(2).map_or(50_000, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let spool = Spool::start(
        SpoolConfig {
            dir: dir.path().join("clicks"),
            queue_capacity: 1 << 20,
            batch_max: 8192,
            flush_interval: Duration::from_millis(100),
            fsync_interval: Duration::from_millis(1000),
            segment_max_bytes: 64 << 20,
            max_spool_bytes: u64::MAX,
        },
        metrics.clone(),
    )
    .unwrap();
    let q = spool.queue();
    let t0 = Instant::now();
    let uas = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    ];
    for i in 0..n {
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        let imp = format!("imp-{i}");
        let line = Event {
            ts: SystemTime::now(),
            click_id: &id,
            campaign: ["spring", "summer", "autumn"][i % 3],
            impression: &imp,
            publisher: "pub-1",
            landing_host: "shop.example",
            verdict: Verdict::Valid,
            reason: None,
            action: Action::Redirected,
            method: "GET",
            ip: Some([203, 0, 113, 0].into()),
            user_agent: uas[i % 2],
            device: Device::Desktop,
            country: "",
            referrer_host: "news.example",
            edge: "bench",
        }
        .to_line();
        while !q.push(line.clone()) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    spool.shutdown();
    let bytes: u64 = std::fs::read_dir(dir.path().join("clicks"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
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
