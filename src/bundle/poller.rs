//! The poller: fetches the bundle URL on its own thread, takes a bundle
//! that verifies, loads and is newer, and keeps it for the reloader (the
//! module doc of [`super`] says how a bundle travels).

use super::{load_kept, open, Bundle, MAX_BUNDLE_BYTES};
use ed25519_dalek::VerifyingKey;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Polls the bundle URL on its own thread.
pub(crate) struct Poller {
    stop: Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct PollState {
    url: String,
    key: VerifyingKey,
    poll: Duration,
    kept: PathBuf,
    metrics: Arc<crate::metrics::Metrics>,
    version: AtomicU64,
    created: std::sync::Mutex<Option<SystemTime>>,
}

impl Poller {
    /// Starts polling `url` every `poll` (plus or minus 10%).
    pub(crate) fn start(
        url: String,
        key: VerifyingKey,
        poll: Duration,
        kept: PathBuf,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> std::io::Result<Poller> {
        let state = PollState {
            url,
            key,
            poll,
            kept,
            metrics,
            version: AtomicU64::new(0),
            created: std::sync::Mutex::new(None),
        };
        // Only a bundle that loads is the last good one; another is
        // replaced by the next one the server has, whatever its version.
        if let Ok(Some(b)) = load_kept(&state.kept, &state.key) {
            if b.check().is_ok() {
                state.take(&b);
            }
        }
        let (stop, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("clickedge-rules".into())
            .spawn(move || state.run(rx))?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn shutdown(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl PollState {
    /// Notes a bundle as the one kept. The version in force
    /// (`clickedge_rules_bundle_version`) is the reload's to set, once the
    /// policy built from it is swapped in.
    fn take(&self, b: &Bundle) {
        self.version.store(b.version, Ordering::Relaxed);
        *self.created.lock().unwrap_or_else(|e| e.into_inner()) =
            humantime::parse_rfc3339(&b.created).ok();
    }

    fn fail(&self, why: &str, detail: &str) {
        self.metrics.rules_failures.with_label_values(&[why]).inc();
        tracing::warn!(
            reason = why,
            "rules bundle refused or not fetched: {detail}; the rules in force stay"
        );
    }

    fn run(self, stop: Receiver<()>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut etag: Option<String> = None;
        let mut first = true;
        loop {
            let wait = if first {
                Duration::ZERO
            } else {
                // Plus or minus 10%, so a fleet started together spreads out.
                let jitter = (uuid::Uuid::new_v4().as_u128() % 2001) as f64 / 1000.0 - 1.0;
                self.poll.mul_f64(1.0 + 0.1 * jitter)
            };
            first = false;
            match stop.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(created) = *self.created.lock().unwrap_or_else(|e| e.into_inner()) {
                let age = SystemTime::now()
                    .duration_since(created)
                    .unwrap_or_default();
                self.metrics.rules_age.set(age.as_secs() as i64);
            }
            let mut req = agent.get(&self.url);
            if let Some(tag) = &etag {
                req = req.header("If-None-Match", tag);
            }
            let mut resp = match req.call() {
                Ok(r) => r,
                Err(e) => {
                    self.fail("unreachable", &e.to_string());
                    continue;
                }
            };
            match resp.status().as_u16() {
                304 => continue,
                200 => {}
                s => {
                    self.fail("http_status", &format!("HTTP {s}"));
                    continue;
                }
            }
            let tag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // Too large by its own account: refused before a byte is read,
            // and its tag kept so the next poll is a 304, not the same body.
            let declared = resp
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_BUNDLE_BYTES) {
                self.fail(
                    "too_large",
                    &format!("{} bytes, over {MAX_BUNDLE_BYTES}", declared.unwrap_or(0)),
                );
                etag = tag;
                continue;
            }
            let bytes = match resp
                .body_mut()
                .with_config()
                .limit(MAX_BUNDLE_BYTES)
                .read_to_vec()
            {
                Ok(b) => b,
                Err(ureq::Error::BodyExceedsLimit(_)) => {
                    self.fail("too_large", &format!("over {MAX_BUNDLE_BYTES} bytes"));
                    etag = tag;
                    continue;
                }
                Err(e) => {
                    self.fail("unreachable", &e.to_string());
                    continue;
                }
            };
            let bundle = match open(&bytes, &self.key) {
                Ok(b) => b,
                Err(e) => {
                    self.fail("invalid", &e.to_string());
                    etag = tag;
                    continue;
                }
            };
            // Signed but not loadable (a pattern that does not compile):
            // never kept, so a restart still starts on the last good one.
            if let Err(unloadable) = bundle.check() {
                self.fail("unloadable", &unloadable.to_string());
                etag = tag;
                continue;
            }
            let current = self.version.load(Ordering::Relaxed);
            if bundle.version <= current {
                if bundle.version < current {
                    self.fail(
                        "stale",
                        &format!("version {} is older than {current}", bundle.version),
                    );
                }
                etag = tag;
                continue;
            }
            if let Err(e) = crate::files::replace_whole(&self.kept, &bytes) {
                self.fail("store", &e.to_string());
                continue;
            }
            self.take(&bundle);
            etag = tag;
            tracing::info!(
                version = bundle.version,
                "rules bundle taken; the reload picks it up"
            );
        }
    }
}
