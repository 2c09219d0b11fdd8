//! The edge's background work, owned in one place: the spool writer, the
//! shipper, the reloader and the pid file, started and stopped in order.
//! `clickedge serve` runs on it, and so can any Pingora server that embeds
//! the click plugin:
//!
//! ```text
//! Runtime::start(settings)  spool writers (clicks, conversions) ─► shippers (if a sink) ─► plugin built
//! runtime.add_services(..)  the reloader, as a Pingora background service
//! runtime.run(server)       pid file ─► server runs until SIGTERM/SIGQUIT
//!                           ─► every queued event written ─► shipper stops
//!                           ─► pid file removed
//! ```
//!
//! Invariants: the spool is shut down only after the server has stopped
//! answering, so every event of every answered request is written before
//! the process exits; the shipper stops after the spool, so it may still
//! ship what the spool wrote last.

use crate::config::Problems;
use crate::decide::Decider;
use crate::edge::proxy::ClickEdge;
use crate::edge::tls::CertStore;
use crate::metrics::Metrics;
use crate::privacy::Privacy;
use crate::reload::Reloader;
use crate::settings::Settings;
use crate::ship::Shipper;
use crate::spool::Spool;
use pingora::server::{RunArgs, Server};
use std::sync::Arc;

/// Errors starting the edge.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The settings cannot be put to work (the TLS acceptor, for one).
    #[error("config problems:\n  {0}")]
    Config(Problems),
    /// The data dir's spool cannot be opened or written.
    #[error("cannot start the spool under {dir}: {source}")]
    Spool {
        /// The spool's directory, `<data_dir>/clicks`.
        dir: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A listen address cannot be bound.
    #[error("cannot listen on {addr}: {error} (is another process on that port?)")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// The started background work and the click plugin that feeds it.
pub struct Runtime {
    edge: ClickEdge,
    spool: Spool,
    shipper: Option<Shipper>,
    /// The conversions' spool and shipper (docs/contract.md §9).
    conversions: Spool,
    conversion_shipper: Option<Shipper>,
    reloader: Option<Reloader>,
    rules: Option<crate::bundle::Poller>,
    pid_file: String,
}

impl Runtime {
    /// Starts the spool writer and, with a sink, the shipper, and builds
    /// the click plugin ([`Runtime::edge`]).
    pub fn start(settings: Settings) -> Result<Runtime, StartError> {
        let metrics = Arc::new(Metrics::new());
        let dir = settings.spool.dir.clone();
        let spool = Spool::start(settings.spool.clone(), metrics.clone())
            .map_err(|source| StartError::Spool { dir, source })?;
        let conv_cfg = crate::conversion::spool_config(&settings.spool, &settings.config.data_dir);
        let conv_dir = conv_cfg.dir.clone();
        let conversions = Spool::start_durable(
            conv_cfg,
            metrics.clone(),
            metrics.conversion_stream.clone(),
            crate::conversion::stored_keys(&conv_dir),
        )
        .map_err(|source| StartError::Spool {
            dir: conv_dir.clone(),
            source,
        })?;
        let conversion_shipper = match &settings.sink {
            None => None,
            Some((url, options)) => {
                let cfg = crate::ship::ShipConfig {
                    dir: conv_dir.clone(),
                    state_dir: conv_dir.clone(),
                    ..settings.ship.clone()
                };
                Some(
                    Shipper::start_stream(
                        cfg,
                        crate::ship::sinks::build_conversions(url, options),
                        metrics.conversion_stream.clone(),
                        conversions.active_segment(),
                    )
                    .map_err(|source| StartError::Spool {
                        dir: conv_dir.clone(),
                        source,
                    })?,
                )
            }
        };
        let shipper = match &settings.sink {
            None => None,
            Some((url, options)) => {
                let sink = crate::ship::sinks::build(url, options);
                let dir = settings.ship.dir.clone();
                Some(
                    Shipper::start(
                        settings.ship.clone(),
                        sink,
                        metrics.clone(),
                        spool.active_segment(),
                    )
                    .map_err(|source| StartError::Spool { dir, source })?,
                )
            }
        };
        metrics
            .rules_version
            .set(settings.policy.bundle_version as i64);
        if let Some(why) = &settings.policy.bundle_refused {
            metrics
                .rules_failures
                .with_label_values(&["unloadable"])
                .inc();
            tracing::warn!(
                %why,
                "rules bundle left out; serving on the other lists until the poller takes a good one"
            );
        }
        let privacy = Privacy::from_config(&settings.config.privacy);
        let core = Decider::new(settings.policy, privacy, &settings.core);
        let reloader = settings.path.as_ref().map(|path| {
            Reloader::new(
                path.clone(),
                settings.overrides.clone(),
                &settings.config,
                core.policy_slot(),
                metrics.clone(),
            )
        });
        // Settings::build checked the key; without one there is no poller.
        // Started after the reloader took its first look at the files, so
        // the first bundle the poller writes is seen as a change.
        let rules = match (
            &settings.config.rules.url,
            &settings.config.rules.public_key,
        ) {
            (Some(url), Some(pk)) => match crate::bundle::parse_public_key(pk) {
                Ok(key) => Some(
                    crate::bundle::Poller::start(
                        url.clone(),
                        key,
                        std::time::Duration::from_secs(settings.config.rules.poll_seconds.max(1)),
                        settings.config.rules_bundle_path(),
                        metrics.clone(),
                    )
                    .map_err(|source| StartError::Spool {
                        dir: settings.config.rules_bundle_path(),
                        source,
                    })?,
                ),
                Err(_) => None,
            },
            _ => None,
        };
        let edge = ClickEdge::new(
            Arc::new(core),
            spool.queue(),
            metrics,
            settings.beacon_max_body,
        )
        .with_trusted_proxies(settings.server.trusted_proxies.clone())
        .with_body_timeout(std::time::Duration::from_secs(
            settings.config.limits.body_timeout_seconds,
        ))
        .with_conversions(conversions.durable());
        Ok(Runtime {
            edge,
            spool,
            shipper,
            conversions,
            conversion_shipper,
            reloader,
            rules,
            pid_file: settings.config.server.pid_file.clone(),
        })
    }

    /// Also reload this TLS certificate store with the policy.
    pub fn with_certs(mut self, certs: Option<Arc<CertStore>>) -> Runtime {
        self.reloader = self.reloader.map(|r| r.with_certs(certs));
        self
    }

    /// The click plugin; clones share everything (policy, duplicate
    /// window, queue, metrics).
    pub fn edge(&self) -> ClickEdge {
        self.edge.clone()
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        self.edge.metrics()
    }

    /// Adds the reloader (SIGHUP and file changes) to `server` as a
    /// background service. Without a config file there is none.
    pub fn add_services(&mut self, server: &mut Server) {
        if let Some(r) = self.reloader.take() {
            server.add_service(pingora::services::background::background_service(
                "reload", r,
            ));
        }
    }

    /// Blocks until every event queued so far is written and fsynced. Not
    /// for the request path.
    pub fn sync(&self) {
        self.spool.sync();
    }

    /// Writes `server.pid_file`, runs `server` until it stops (SIGTERM,
    /// SIGINT, or SIGQUIT after a graceful upgrade), then shuts down.
    pub fn run(self, server: Server) {
        let pid_file = PidFile::write(&self.pid_file);
        server.run(RunArgs::default());
        tracing::info!("server stopped; writing queued events");
        self.shutdown();
        drop(pid_file);
        tracing::info!("exiting");
    }

    /// Writes every queued event, then stops the shipper. For embedders
    /// that run their server themselves: call it once the server stopped.
    pub fn shutdown(self) {
        if let Some(r) = self.rules {
            r.shutdown();
        }
        self.spool.shutdown();
        self.conversions.shutdown();
        tracing::info!("spool drained");
        if let Some(s) = self.shipper {
            s.shutdown();
            tracing::info!("shipper stopped");
        }
        if let Some(s) = self.conversion_shipper {
            s.shutdown();
        }
    }
}

/// `server.pid_file`: written once the server is set up (Pingora writes it
/// only when it daemonizes, which `serve` does not), removed at exit if it
/// is still this process's (after an upgrade it is the new one's).
struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    fn write(path: &str) -> PidFile {
        let path = std::path::PathBuf::from(path);
        // Never through a link planted beside it (the default is under /tmp).
        let done =
            crate::files::replace_whole(&path, format!("{}\n", std::process::id()).as_bytes());
        match done {
            Ok(()) => PidFile(Some(path)),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot write the pid file");
                PidFile(None)
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let Some(path) = &self.0 else { return };
        let ours =
            std::fs::read_to_string(path).is_ok_and(|t| t.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(path);
        }
    }
}
