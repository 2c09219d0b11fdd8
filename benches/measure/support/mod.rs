//! Shared by the examples: fills a spool with realistic click events.

use clickedge::internals::device::Device;
use clickedge::internals::event::Event;
use clickedge::internals::ivt::{Action, Reason, Verdict};
use clickedge::internals::metrics::Metrics;
use clickedge::internals::spool::{Spool, SpoolConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The `i`th of a realistic mix of click events: campaigns, publishers,
/// devices and verdicts vary with `i`.
pub fn event_line(i: usize) -> Vec<u8> {
    let uas = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    ];
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let imp = format!("imp-{i}");
    let reason = [
        None,
        None,
        None,
        Some(Reason::KnownBot),
        Some(Reason::Duplicate),
    ][i % 5];
    Event {
        ts: SystemTime::now(),
        click_id: &id,
        campaign: ["spring", "summer", "autumn"][i % 3],
        impression: &imp,
        publisher: ["pub-1", "pub-2"][i % 2],
        landing_host: "shop.example",
        verdict: Verdict::of(reason),
        reason,
        action: Action::Redirected,
        method: "GET",
        ip: clickedge::internals::event::IpField::Addr([203, 0, 113, 0].into()),
        user_agent: uas[i % 2],
        device: [Device::Desktop, Device::Mobile][i % 2],
        country: "",
        referrer_host: "news.example",
        edge: "bench",
        ip_full: None,
        platform: None,
        rule: None,
        data_use: clickedge::internals::event::DataUse::Standard,
    }
    .to_line()
}

/// Writes `n` events with the real spool writer into `dir` and returns the
/// bytes written. A mix of campaigns, publishers, devices and verdicts.
pub fn fill_spool(dir: &Path, n: usize, metrics: Arc<Metrics>) -> u64 {
    let spool = Spool::start(
        SpoolConfig {
            dir: dir.to_path_buf(),
            queue_capacity: 1 << 20,
            batch_max: 8192,
            flush_interval: Duration::from_millis(100),
            fsync_interval: Duration::from_millis(1000),
            segment_max_bytes: 64 << 20,
            max_spool_bytes: u64::MAX,
        },
        metrics,
    )
    .unwrap();
    let q = spool.queue();
    for i in 0..n {
        let line = event_line(i);
        while !q.push(line.clone()) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    spool.shutdown();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}
