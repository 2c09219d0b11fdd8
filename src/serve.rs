//! `clickedge serve`: a Pingora server with the edge proxy behind the
//! limits, the TLS listeners, the metrics listener and the [`Runtime`]'s
//! background work, from start to a drained exit.
//!
//! Owns: the order of start-up. Shutdown is the runtime's
//! ([`Runtime::run`]).

use crate::config::Problems;
use crate::edge::connections::{Capped, ConnectionCap};
use crate::edge::limits::{Guarded, Limits};
use crate::edge::proxy::{EdgeProxy, MetricsApp};
use crate::edge::tls::CertStore;
use crate::runtime::{Runtime, StartError};
use crate::settings::Settings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::Opt;
use pingora::server::Server;

/// Each connection's read buffer: enough for a whole request header under
/// `limits.max_header_bytes`' default; Pingora's default of 64 KiB, taken
/// by every idle connection, is most of what one costs.
const L4_READ_BUFFER: usize = 16 * 1024;

/// Options of `clickedge serve` that are not in the config file.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServeOptions {
    /// Take the listening sockets over from a running old process.
    pub upgrade: bool,
}

/// Runs until SIGTERM, SIGINT or SIGQUIT, then drains and returns.
pub(crate) fn serve(mut settings: Settings, opts: &ServeOptions) -> Result<(), StartError> {
    if !opts.upgrade {
        settings
            .server
            .probe_listen()
            .map_err(|(addr, error)| StartError::Listen { addr, error })?;
    }
    crate::edge::process::raise_open_file_limit();
    if let Some(w) = &settings.server.descriptor_warning {
        tracing::warn!("{w}");
    }
    let certs = settings.server.tls.take().map(CertStore::new);
    let conf = std::mem::take(&mut settings.server.conf);
    let origin = settings.server.origin;
    let listen = settings.server.listen.clone();
    let tls_listen = settings.server.tls_listen.clone();
    let metrics_listen = settings.server.metrics_listen;
    let (drain, http2) = (
        std::time::Duration::from_secs(settings.config.server.keepalive_drain_seconds),
        settings.config.tls.http2,
    );
    let data_dir = settings.config.data_dir.clone();
    let log_paths = settings.config.server.log_request_paths;
    let max_connections = settings.config.server.max_connections;
    let metrics_max_connections = settings.config.metrics.max_connections;
    let max_header_bytes = settings.config.limits.max_header_bytes;
    let limits_cfg = settings.config.limits.clone();
    let mut runtime = Runtime::start(settings)?.with_certs(certs.clone());
    let metrics = runtime.metrics().clone();
    let limits = Limits::new(&limits_cfg, metrics.limits.clone());

    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let mut app = pingora::proxy::HttpProxy::new(
        EdgeProxy {
            edge: runtime.edge(),
            origin,
            limits: limits.clone(),
            log_paths,
        },
        server.configuration.clone(),
    );
    app.handle_init_modules();
    app.server_options = Some(limits.server_options());
    app.h2_options = Some(h2_options());
    // One app and one cap behind both doors: `server.max_connections`
    // bounds plain and TLS connections together, handshakes included.
    let app = std::sync::Arc::new(Guarded::new(app, limits.clone(), drain));
    let cap = ConnectionCap::new(max_connections, limits.hits().clone());
    let listener = |addr: &std::net::SocketAddr| {
        ListenerConfig::tcp(addr.to_string()).l4_buffer(L4BufferSettings::new(L4_READ_BUFFER, 1460))
    };
    let mut plain = pingora::services::listening::Service::new(
        "clickedge".to_string(),
        Capped::new(app.clone(), cap.clone()).with_header_budget(max_header_bytes),
    );
    for addr in &listen {
        plain.add_listener(listener(addr));
    }
    server.add_service(plain);
    if let Some(certs) = certs.as_ref().filter(|_| !tls_listen.is_empty()) {
        // The TLS listeners accept TCP; the handshake runs inside the cap,
        // under the header deadline (see `Capped::with_tls`).
        let acceptor = CertStore::acceptor(http2).map_err(|e| {
            StartError::Config(Problems::from(crate::config::Problem::new(
                "tls",
                format!("cannot set up OpenSSL: {e}"),
            )))
        })?;
        let mut tls = pingora::services::listening::Service::new(
            "clickedge tls".to_string(),
            Capped::new(app, cap)
                .with_tls(acceptor, certs.callbacks(), limits.header_timeout())
                .with_header_budget(max_header_bytes),
        );
        for addr in &tls_listen {
            tls.add_listener(listener(addr));
        }
        server.add_service(tls);
    }
    runtime.add_services(&mut server);

    if let Some(addr) = &metrics_listen {
        // The same header deadline as the proxy's, so a dripping client
        // cannot hold the metrics listener's one thread, and a cap of its own.
        let mut svc = pingora::services::listening::Service::new(
            "clickedge metrics".to_string(),
            Capped::new(
                std::sync::Arc::new(Guarded::new(
                    MetricsApp { metrics },
                    limits.clone(),
                    std::time::Duration::ZERO,
                )),
                ConnectionCap::new(metrics_max_connections, limits.hits().clone()),
            )
            .with_header_budget(max_header_bytes),
        );
        svc.add_tcp(&addr.to_string());
        svc.threads = Some(1);
        server.add_service(svc);
    }

    tracing::info!(listen = ?listen, tls = ?tls_listen, metrics = ?metrics_listen, origin = ?origin,
        data_dir = %data_dir.display(), "clickedge serving");
    runtime.run(server);
    Ok(())
}

/// HTTP/2 as Pingora sets it up (at most 100 streams a connection, 64 KiB
/// of header list), with at most 64 KiB buffered per stream for a reader
/// that does not read; h2's own defaults bound rapid resets (20 pending)
/// and CONTINUATION floods (by the header list size).
fn h2_options() -> pingora::protocols::http::v2::server::H2Options {
    let mut o = pingora::protocols::http::v2::server::default_h2_options();
    o.max_send_buffer_size(64 * 1024);
    o
}
