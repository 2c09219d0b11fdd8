//! What every click shares, under several threads at once: the metrics
//! counters, the duplicate window's shards, the event queue (and its one
//! writer), and the policy's `ArcSwap` load. Each bench runs the same
//! operation from 1, 2 and 4 threads and reports the time per operation
//! per thread; a cost that grows with the threads is contention.
//!
//! Run: `cargo bench --bench contention`. On a 2-core machine 4 threads
//! also share cores: compare 1 and 2.

use clickedge::internals::ivt::DuplicateWindow;
use clickedge::internals::metrics::Metrics;
use clickedge::internals::spool::{Spool, SpoolConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Runs `op(thread, i)` `iters` times on each of `threads` threads, started
/// together; the time of the slowest thread.
fn on_threads<F>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(usize, u64) + Send + Sync + 'static,
{
    let op = Arc::new(op);
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (op, start) = (op.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                for i in 0..iters {
                    op(t, i);
                }
                began.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap()
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for threads in [1usize, 2, 4] {
        let metrics = Arc::new(Metrics::new());
        g.bench_with_input(
            BenchmarkId::new("metrics_click", threads),
            &threads,
            |b, &n| {
                let m = metrics.clone();
                b.iter_custom(move |iters| {
                    let m = m.clone();
                    on_threads(n, iters, move |_, _| {
                        m.click(None, clickedge::internals::ivt::Action::Redirected)
                    })
                })
            },
        );

        let window = Arc::new(DuplicateWindow::new(Duration::from_secs(60), 1_000_000));
        g.bench_with_input(
            BenchmarkId::new("duplicate_window", threads),
            &threads,
            |b, &n| {
                let w = window.clone();
                b.iter_custom(move |iters| {
                    let w = w.clone();
                    on_threads(n, iters, move |t, i| {
                        let key = w.key("cmp", &format!("{t}-{i}"));
                        black_box(w.check_and_record(key, w.now_ms()));
                    })
                })
            },
        );

        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::start(
            SpoolConfig {
                dir: dir.path().join("clicks"),
                queue_capacity: 65_536,
                batch_max: 4096,
                flush_interval: Duration::from_millis(100),
                fsync_interval: Duration::from_secs(1),
                segment_max_bytes: 64 * 1024 * 1024,
                max_spool_bytes: 64 * 1024 * 1024 * 1024,
            },
            metrics.clone(),
        )
        .unwrap();
        let queue = spool.queue();
        let line = vec![b'x'; 400];
        g.bench_with_input(
            BenchmarkId::new("event_queue_push", threads),
            &threads,
            |b, &n| {
                let q = queue.clone();
                let line = line.clone();
                b.iter_custom(move |iters| {
                    let (q, line) = (q.clone(), line.clone());
                    on_threads(n, iters, move |_, _| {
                        black_box(q.push(line.clone()));
                    })
                })
            },
        );
        spool.shutdown();

        let slot = Arc::new(arc_swap::ArcSwap::from_pointee(42u64));
        g.bench_with_input(
            BenchmarkId::new("policy_load", threads),
            &threads,
            |b, &n| {
                let s = slot.clone();
                b.iter_custom(move |iters| {
                    let s = s.clone();
                    on_threads(n, iters, move |_, _| {
                        black_box(**s.load());
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, contention);
criterion_main!(benches);
