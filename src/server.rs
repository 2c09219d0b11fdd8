//! The process: a Pingora server with the edge proxy, the metrics listener,
//! and the spool writer, from start to a drained exit.
//!
//! Owns: the order of shutdown. Pingora stops accepting on SIGTERM (or
//! SIGQUIT after handing its sockets to a new process), serves the requests
//! it has for `grace_period_seconds`, stops its runtimes, and returns from
//! `run`; only then is the spool shut down, so every event of every answered
//! request is written before the process exits.

use crate::config::Config;
use crate::limits::{Guarded, Limits};
use crate::proxy::{ClickEdge, EdgeProxy, MetricsApp, StartError};
use crate::reload::Reloader;
use crate::tls::{CertKey, CertStore};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};

/// Options of `clickedge serve` that are not in the config file.
#[derive(Debug, Default, Clone)]
pub struct ServeOptions {
    /// Take the listening sockets over from a running old process.
    pub upgrade: bool,
    /// The config file, re-read on reload. None: no reloading.
    pub config_path: Option<std::path::PathBuf>,
}

fn server_conf(cfg: &Config) -> ServerConf {
    let s = &cfg.server;
    let threads = match s.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    ServerConf {
        threads,
        grace_period_seconds: Some(s.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(s.graceful_shutdown_timeout_seconds),
        upgrade_sock: s.upgrade_sock.clone(),
        pid_file: s.pid_file.clone(),
        ..ServerConf::default()
    }
}

/// Binds every address the server will listen on, all at once, and lets
/// go: Pingora retries a failed bind for half a minute and then leaves the
/// process running with nothing to serve, so a port already taken is found
/// here and ends the start instead. Not on an upgrade, whose sockets come
/// from the old process.
fn probe_listen(cfg: &Config) -> Result<(), StartError> {
    let addrs = cfg
        .listen
        .iter()
        .chain(&cfg.tls.listen)
        .chain(cfg.metrics.listen.as_ref());
    let mut held = Vec::new();
    for addr in addrs {
        let l = std::net::TcpListener::bind(addr.as_str()).map_err(|error| StartError::Listen {
            addr: addr.clone(),
            error,
        })?;
        held.push(l);
    }
    Ok(())
}

/// `server.pid_file`: written once the server is set up (Pingora writes it
/// only when it daemonizes, which `serve` does not), removed at exit if it
/// is still this process's (after an upgrade it is the new one's).
struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    fn write(path: &str) -> PidFile {
        let path = std::path::PathBuf::from(path);
        let tmp = path.with_extension("pid.tmp");
        let done = std::fs::write(&tmp, format!("{}\n", std::process::id()))
            .and_then(|()| std::fs::rename(&tmp, &path));
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

/// Runs until SIGTERM, SIGINT or SIGQUIT, then drains and returns.
pub fn serve(cfg: &Config, opts: &ServeOptions) -> Result<(), StartError> {
    let origin = cfg.origin_addr().map_err(|e| StartError::Config(vec![e]))?;
    if !opts.upgrade {
        probe_listen(cfg)?;
    }
    let (edge, spool) = ClickEdge::start(cfg)?;
    let metrics = edge.metrics().clone();
    let shipper = match &cfg.sink.url {
        None => None,
        Some(url) => {
            let sink = crate::ship::sinks::from_url(url, &cfg.sink.options())
                .map_err(|e| StartError::Config(vec![e]))?;
            let s = &cfg.sink;
            let ship_cfg = crate::ship::ShipConfig {
                dir: cfg.data_dir.join("clicks"),
                state_dir: cfg.data_dir.clone(),
                batch_max_events: s.batch_max_events,
                batch_max_bytes: s.batch_max_bytes,
                poll_interval: std::time::Duration::from_millis(s.poll_interval_ms),
                retry_initial: std::time::Duration::from_millis(s.retry_initial_ms),
                retry_max: std::time::Duration::from_millis(s.retry_max_ms),
            };
            let dir = ship_cfg.dir.clone();
            Some(
                crate::ship::Shipper::start(
                    ship_cfg,
                    sink,
                    metrics.clone(),
                    spool.active_segment(),
                )
                .map_err(|source| StartError::Spool { dir, source })?,
            )
        }
    };
    let certs = match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(c), Some(k)) if !cfg.tls.listen.is_empty() => Some(CertStore::new(
            CertKey::load(c, k).map_err(|e| StartError::Config(vec![e]))?,
        )),
        _ => None,
    };
    let reloader = opts.config_path.clone().map(|path| {
        Reloader::new(path, cfg, edge.policy_slot(), metrics.clone()).with_certs(certs.clone())
    });
    let limits = Limits::new(&cfg.limits, metrics.clone());

    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(cfg));
    server.bootstrap();

    let mut app = pingora::proxy::HttpProxy::new(
        EdgeProxy {
            edge,
            origin,
            limits: limits.clone(),
        },
        server.configuration.clone(),
    );
    app.handle_init_modules();
    app.server_options = Some(limits.server_options());
    let mut proxy = pingora::services::listening::Service::new(
        "clickedge".to_string(),
        Guarded::new(
            app,
            limits,
            std::time::Duration::from_secs(cfg.server.keepalive_drain_seconds),
        ),
    );
    for addr in &cfg.listen {
        proxy.add_tcp(addr);
    }
    if let Some(certs) = &certs {
        for addr in &cfg.tls.listen {
            let settings = certs.settings(cfg.tls.http2).map_err(|e| {
                StartError::Config(vec![format!("tls: cannot set up OpenSSL: {e}")])
            })?;
            proxy.add_tls_with_settings(addr, None, settings);
        }
    }
    server.add_service(proxy);
    if let Some(r) = reloader {
        server.add_service(pingora::services::background::background_service(
            "reload", r,
        ));
    }

    if let Some(addr) = &cfg.metrics.listen {
        let mut svc = pingora::services::listening::Service::new(
            "clickedge metrics".to_string(),
            MetricsApp { metrics },
        );
        svc.add_tcp(addr);
        svc.threads = Some(1);
        server.add_service(svc);
    }

    tracing::info!(listen = ?cfg.listen, tls = ?cfg.tls.listen, metrics = ?cfg.metrics.listen, origin = ?origin,
        data_dir = %cfg.data_dir.display(), "clickedge serving");
    let pid_file = PidFile::write(&cfg.server.pid_file);
    server.run(RunArgs::default());
    tracing::info!("server stopped; writing queued events");
    spool.shutdown();
    tracing::info!("spool drained");
    if let Some(s) = shipper {
        s.shutdown();
        tracing::info!("shipper stopped");
    }
    drop(pid_file);
    tracing::info!("exiting");
    Ok(())
}
