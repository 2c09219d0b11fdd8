//! Reloading the policy without a restart: on SIGHUP, and when a periodic
//! check sees the config file or a list it names change (modification time
//! or size).
//!
//! A reload re-reads the config file and every list, builds a whole new
//! [`Policy`], and swaps it in; requests in flight finish with the policy
//! they loaded, the next ones use the new one, and none waits. A config or
//! list that fails to load leaves the old policy in force: the failure is
//! logged with every problem and counted (`clickedge_reloads_total{result="failed"}`).
//!
//! What reloads: signing keys, allowed landing hosts, bot and link-scanner
//! lists, IP and data-center AS lists, publisher statuses, IVT actions,
//! `click.max_query_bytes`, the country and ASN databases, the kept rules
//! bundle (written by the rules poller), the TLS certificate and key. Everything else needs a restart (or a graceful
//! upgrade); a reload that finds such a setting changed in the file says
//! which, at every reload until the restart (see [`restart_only_changes`]).

use crate::config::{Config, Overrides};
use crate::edge::tls::CertStore;
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::settings::{Settings, SettingsError};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What a file looked like at the last load: (path, mtime, size).
type Stamp = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// The settings of `new` that differ from `old` and take effect only at a
/// restart, by their config keys.
pub(crate) fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    fn differs<T: PartialEq>(a: &T, b: &T) -> bool {
        a != b
    }
    let sink = |c: &Config| {
        let mut s = c.sink.clone();
        s.url = None;
        s
    };
    let checks: [(&'static str, bool); 19] = [
        ("listen", differs(&old.listen, &new.listen)),
        ("origin", differs(&old.origin, &new.origin)),
        ("data_dir", differs(&old.data_dir, &new.data_dir)),
        ("edge_id", differs(&old.edge_id, &new.edge_id)),
        (
            "click.clickid_param",
            differs(&old.click.clickid_param, &new.click.clickid_param),
        ),
        (
            "click.robots_txt",
            differs(&old.click.robots_txt, &new.click.robots_txt),
        ),
        (
            "click.beacon_max_body_bytes",
            differs(
                &old.click.beacon_max_body_bytes,
                &new.click.beacon_max_body_bytes,
            ),
        ),
        (
            "ivt.duplicate_window_seconds",
            differs(
                &old.ivt.duplicate_window_seconds,
                &new.ivt.duplicate_window_seconds,
            ),
        ),
        (
            "ivt.duplicate_max_entries",
            differs(
                &old.ivt.duplicate_max_entries,
                &new.ivt.duplicate_max_entries,
            ),
        ),
        ("privacy", differs(&old.privacy, &new.privacy)),
        ("events", differs(&old.events, &new.events)),
        ("sink.url", differs(&old.sink.url, &new.sink.url)),
        ("sink", differs(&sink(old), &sink(new))),
        ("metrics", differs(&old.metrics, &new.metrics)),
        ("reload", differs(&old.reload, &new.reload)),
        // The poller keeps the URL and the key it started with.
        ("rules", differs(&old.rules, &new.rules)),
        ("server", differs(&old.server, &new.server)),
        ("limits", differs(&old.limits, &new.limits)),
        (
            "tls.listen, tls.http2",
            differs(
                &(&old.tls.listen, old.tls.http2),
                &(&new.tls.listen, new.tls.http2),
            ),
        ),
    ];
    checks.iter().filter(|(_, d)| *d).map(|(k, _)| *k).collect()
}

pub(crate) struct Reloader {
    config_path: PathBuf,
    /// The flags `serve` was given, applied to every read of the file.
    overrides: Overrides,
    /// The file's settings when the process started, to name the changes
    /// a reload cannot apply.
    started_with: Option<Config>,
    slot: Arc<ArcSwap<Policy>>,
    metrics: Arc<Metrics>,
    interval: Duration,
    seen: Mutex<Stamp>,
    /// The TLS certificate in force, reloaded with the policy.
    certs: Option<Arc<CertStore>>,
}

fn stamp<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Stamp {
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            (
                p.to_path_buf(),
                meta.as_ref().and_then(|m| m.modified().ok()),
                meta.map_or(0, |m| m.len()),
            )
        })
        .collect()
}

/// The config file and every list it names.
fn stamp_config(config_path: &Path, cfg: &Config) -> Stamp {
    let files = cfg.list_files();
    stamp(std::iter::once(config_path).chain(files.iter().map(PathBuf::as_path)))
}

impl Reloader {
    pub(crate) fn new(
        config_path: PathBuf,
        overrides: Overrides,
        cfg: &Config,
        slot: Arc<ArcSwap<Policy>>,
        metrics: Arc<Metrics>,
    ) -> Reloader {
        Reloader {
            seen: Mutex::new(stamp_config(&config_path, cfg)),
            // The file as it is, with the same flags: a setting a flag
            // gives is the flag's, whatever the file says later.
            started_with: Config::load(&config_path).ok().map(|mut c| {
                overrides.apply(&mut c);
                c
            }),
            overrides,
            config_path,
            slot,
            metrics,
            interval: Duration::from_secs(cfg.reload.check_interval_seconds),
            certs: None,
        }
    }

    /// Also reload the TLS certificate and key into this store.
    pub(crate) fn with_certs(mut self, certs: Option<Arc<CertStore>>) -> Reloader {
        self.certs = certs;
        self
    }

    /// Whether the config or a list changed since the last load.
    pub(crate) fn changed(&self) -> bool {
        let Ok(seen) = self.seen.lock() else {
            return false;
        };
        // The files to look at are those of the config as last loaded; a new
        // config naming other files changes the config's own stamp.
        stamp(seen.iter().map(|(p, _, _)| p.as_path())) != *seen
    }

    /// Loads the config and its lists and swaps the policy in, or keeps the
    /// old one and says why.
    pub(crate) fn reload(&self, why: &str) -> Result<(), SettingsError> {
        // The files as they are before reading them: one replaced while
        // they are read (a rules bundle the poller writes, say) then differs
        // from this at the next check and is loaded again.
        let before = match self.seen.lock() {
            Ok(seen) => stamp(seen.iter().map(|(p, _, _)| p.as_path())),
            Err(_) => Stamp::new(),
        };
        match Settings::load_with(&self.config_path, &self.overrides) {
            Ok(settings) => {
                let cfg = settings.config;
                if let Some(why) = &settings.policy.bundle_refused {
                    tracing::warn!(%why, "rules bundle left out; the other lists are in force");
                }
                self.metrics
                    .rules_version
                    .set(settings.policy.bundle_version as i64);
                self.slot.store(Arc::new(settings.policy));
                if let (Some(store), Some(pair)) = (&self.certs, settings.server.tls) {
                    store.store(pair);
                }
                if let Ok(mut seen) = self.seen.lock() {
                    *seen = stamp_config(&self.config_path, &cfg)
                        .into_iter()
                        .map(|now| {
                            before
                                .iter()
                                .find(|(p, _, _)| *p == now.0)
                                .cloned()
                                .unwrap_or(now)
                        })
                        .collect();
                }
                tracing::info!(why, config = %self.config_path.display(), "policy reloaded");
                if let Some(old) = &self.started_with {
                    let pending = restart_only_changes(old, &cfg);
                    if !pending.is_empty() {
                        tracing::warn!(
                            settings = %pending.join(", "),
                            "changed in the config file but not in force: they take effect at a restart or a graceful upgrade"
                        );
                    }
                }
                // Counted last: a reload seen in the metrics has logged
                // all it has to say.
                self.metrics.reloads_ok.inc();
                Ok(())
            }
            Err(e) => {
                // Do not retry the same broken files on every tick.
                if let Ok(mut seen) = self.seen.lock() {
                    let fresh = stamp(seen.iter().map(|(p, _, _)| p.as_path()));
                    *seen = fresh;
                }
                tracing::error!(why, problems = %e.lines().join("; "), "reload failed; the old policy stays in force");
                self.metrics.reloads_failed.inc();
                Err(e)
            }
        }
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reloading on file changes only");
                None
            }
        };
        let period = if self.interval.is_zero() {
            Duration::from_secs(3600 * 24 * 365)
        } else {
            self.interval
        };
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { match &mut hup { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    let _ = self.reload("SIGHUP");
                }
                _ = tick.tick() => {
                    if !self.interval.is_zero() && self.changed() {
                        let _ = self.reload("files changed");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_rules_section_is_named_as_waiting_for_a_restart() {
        // The poller keeps the URL and key it started with.
        let old = Config::default();
        let mut new = Config::default();
        new.rules.public_key = Some("rotated".into());
        assert_eq!(restart_only_changes(&old, &new), vec!["rules"]);
        assert!(restart_only_changes(&old, &old.clone()).is_empty());
    }
}
