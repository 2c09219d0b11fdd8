//! The server's own sections of the config: `listen`, `origin`, `server`,
//! `tls` and `metrics`, checked and built into [`ServerSettings`] (what
//! `clickedge serve` listens on, where it proxies, and how the Pingora
//! server runs). `crate::serve` puts them to work.

use crate::config::{Config, Problems};
use crate::edge::forwarded::TrustedProxies;
use crate::edge::tls::CertKey;
use crate::ivt::IpSet;
use pingora::server::configuration::ServerConf;
use std::net::{SocketAddr, ToSocketAddrs};

/// The listeners and the process settings, checked.
pub(crate) struct ServerSettings {
    pub listen: Vec<SocketAddr>,
    pub tls_listen: Vec<SocketAddr>,
    pub metrics_listen: Option<SocketAddr>,
    pub origin: Option<SocketAddr>,
    /// The TLS pair, when `tls.listen` is set.
    pub tls: Option<CertKey>,
    /// `server.trusted_proxies`.
    pub trusted_proxies: TrustedProxies,
    pub conf: ServerConf,
    /// Set when the connection caps need more file descriptors than this
    /// process may open: `check` prints it and `serve` logs it at start.
    pub descriptor_warning: Option<String>,
}

/// File descriptors the edge may hold at once under `cfg`'s caps: one a
/// connection on the click listeners (two with an origin: the upstream
/// one), one a metrics connection, and a margin for the listeners, the
/// spool, the shipper and the lists.
pub(crate) fn descriptors_needed(cfg: &Config) -> u64 {
    let per_click = if cfg.origin.is_some() { 2 } else { 1 };
    let metrics = if cfg.metrics.listen.is_some() {
        cfg.metrics.max_connections as u64
    } else {
        0
    };
    (cfg.server.max_connections as u64).saturating_mul(per_click) + metrics + DESCRIPTOR_MARGIN
}

/// Descriptors beside the connections: listeners, spool segments, the
/// shipper's and the poller's sockets, list and database files, logs.
const DESCRIPTOR_MARGIN: u64 = 64;

fn nofile() -> Option<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given and nothing else.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0).then_some(r)
}

/// How many files `serve` may open: the hard limit on open files, which
/// [`raise_open_file_limit`] lifts the soft one (`ulimit -n`) to; `None`:
/// unlimited.
pub(crate) fn open_file_limit() -> Option<u64> {
    nofile()
        .map(|r| r.rlim_max)
        .filter(|&max| max != libc::RLIM_INFINITY)
}

/// Lifts this process's soft limit on open files to its hard limit, as
/// nginx's `worker_rlimit_nofile` and Go's runtime do: the soft limit
/// (often 1,024) is there for programs that do not expect many files, and
/// the edge counts its connections itself.
pub(crate) fn raise_open_file_limit() {
    if let Some(mut r) = nofile() {
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            // SAFETY: setrlimit reads the struct it is given; raising the
            // soft limit up to the hard one needs no privilege.
            let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
        }
    }
}

impl ServerSettings {
    /// From `listen`, `origin`, `server`, `tls` and `metrics`; every
    /// problem named by its key.
    pub(crate) fn from_config(cfg: &Config) -> Result<ServerSettings, Problems> {
        let mut p = Problems::default();
        if cfg.listen.is_empty() {
            p.push("listen", "give at least one address, like 127.0.0.1:8080");
        }
        let listen = addresses(&cfg.listen, "listen", &mut p);
        let tls_listen = addresses(&cfg.tls.listen, "tls.listen", &mut p);
        let metrics_listen = addresses(cfg.metrics.listen.as_slice(), "metrics.listen", &mut p);
        // One address, one listener: a second bind of it fails at start.
        let mut seen: Vec<(SocketAddr, &str)> = Vec::new();
        let named = listen
            .iter()
            .map(|a| (a, "listen"))
            .chain(tls_listen.iter().map(|a| (a, "tls.listen")))
            .chain(metrics_listen.iter().map(|a| (a, "metrics.listen")));
        for (&sa, key) in named {
            match seen.iter().find(|(other, _)| {
                other.port() == sa.port()
                    && (*other == sa || other.ip().is_unspecified() || sa.ip().is_unspecified())
            }) {
                Some((_, first)) => p.push(
                    key,
                    format!("{sa} is already taken by {first}; give each listener its own port"),
                ),
                None => seen.push((sa, key)),
            }
        }
        let origin = match origin_addr(cfg.origin.as_deref()) {
            Ok(o) => o,
            Err(e) => {
                p.push("", e.to_string());
                None
            }
        };
        let t = &cfg.tls;
        let tls = match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => match CertKey::load(c, k) {
                Ok(pair) => Some(pair),
                Err(e) => {
                    p.push("", e.to_string());
                    None
                }
            },
            (None, None) if t.listen.is_empty() => None,
            _ => {
                p.push(
                    "tls",
                    "tls.listen needs both tls.cert_file and tls.key_file (PEM files)",
                );
                None
            }
        };
        let sv = &cfg.server;
        if sv.keepalive_drain_seconds > 0 && sv.keepalive_drain_seconds >= sv.grace_period_seconds {
            p.push(
                "server.keepalive_drain_seconds",
                format!(
                    "{} must be less than server.grace_period_seconds ({})",
                    sv.keepalive_drain_seconds, sv.grace_period_seconds
                ),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&sv.log_level) {
            p.push(
                "server.log_level",
                format!(
                    "{:?} is not a level or filter ({e}); use error, warn, info, debug or trace",
                    sv.log_level
                ),
            );
        }
        // A bare word is a level; the filter syntax would read a misspelt
        // one (`warning`) as a module name and silence every log line.
        const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
        for d in sv.log_level.split(',').map(str::trim) {
            if !d.is_empty()
                && !d.contains('=')
                && !LEVELS.contains(&d.to_ascii_lowercase().as_str())
            {
                p.push(
                    "server.log_level",
                    format!(
                        "{d:?} is not a level; use error, warn, info, debug or \
                         trace, and module=level for one module (like info,pingora=warn)"
                    ),
                );
            }
        }
        let mut trusted = IpSet::default();
        for entry in &sv.trusted_proxies {
            if let Err(e) = trusted.add_entry(entry) {
                p.push("server.trusted_proxies", e.to_string());
            }
        }
        let defaults = Config::default();
        if sv.max_connections == 0 {
            p.push(
                "server.max_connections",
                format!(
                    "must be at least 1 (default {})",
                    defaults.server.max_connections
                ),
            );
        }
        if cfg.metrics.max_connections == 0 {
            p.push(
                "metrics.max_connections",
                format!(
                    "must be at least 1 (default {})",
                    defaults.metrics.max_connections
                ),
            );
        }
        let need = descriptors_needed(cfg);
        let descriptor_warning = open_file_limit().filter(|&have| have < need).map(|have| {
            format!(
                "server.max_connections ({}) and metrics.max_connections ({}) need about {need} \
                 open files, but this process may open {have} (the hard limit, ulimit -Hn): \
                 raise it (LimitNOFILE= under systemd) or lower the caps, or connections past the \
                 limit fail at accept instead of being counted",
                sv.max_connections, cfg.metrics.max_connections
            )
        });
        let threads = match sv.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        p.or(ServerSettings {
            listen,
            tls_listen,
            metrics_listen: metrics_listen.into_iter().next(),
            origin,
            tls: if t.listen.is_empty() { None } else { tls },
            trusted_proxies: TrustedProxies::new(trusted),
            conf: ServerConf {
                threads,
                grace_period_seconds: Some(sv.grace_period_seconds),
                graceful_shutdown_timeout_seconds: Some(sv.graceful_shutdown_timeout_seconds),
                upgrade_sock: sv.upgrade_sock.clone(),
                pid_file: sv.pid_file.clone(),
                ..ServerConf::default()
            },
            descriptor_warning,
        })
    }

    /// Binds every address the server will listen on, all at once, and
    /// lets go: Pingora retries a failed bind for half a minute and then
    /// leaves the process running with nothing to serve, so a port already
    /// taken is found here and ends the start instead. Not on an upgrade,
    /// whose sockets come from the old process.
    pub(crate) fn probe_listen(&self) -> Result<(), (SocketAddr, std::io::Error)> {
        let addrs = self
            .listen
            .iter()
            .chain(&self.tls_listen)
            .chain(self.metrics_listen.as_ref());
        let mut held = Vec::new();
        for addr in addrs {
            let l = std::net::TcpListener::bind(addr).map_err(|e| (*addr, e))?;
            held.push(l);
        }
        Ok(())
    }
}

/// The addresses of one listen key, each parsed once; a bad one is a
/// problem of that key.
fn addresses(given: &[String], key: &str, p: &mut Problems) -> Vec<SocketAddr> {
    given
        .iter()
        .filter_map(|a| match a.parse::<SocketAddr>() {
            Ok(sa) => Some(sa),
            Err(_) => {
                p.push(
                    key,
                    format!("{a:?} is not an IP:PORT address (like 0.0.0.0:8080 or [::]:8080)"),
                );
                None
            }
        })
        .collect()
}

/// Why `origin` is not one socket address.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OriginError {
    #[error("origin {origin:?} resolves to no address")]
    NoAddress { origin: String },
    #[error(
        "origin {origin:?} is not a reachable HOST:PORT ({source}); write it like 127.0.0.1:8000"
    )]
    Unresolvable {
        origin: String,
        source: std::io::Error,
    },
}

/// Resolves `origin` to one socket address.
fn origin_addr(origin: Option<&str>) -> Result<Option<SocketAddr>, OriginError> {
    let Some(origin) = origin else {
        return Ok(None);
    };
    match origin.to_socket_addrs() {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => Ok(Some(a)),
            None => Err(OriginError::NoAddress {
                origin: origin.to_string(),
            }),
        },
        Err(source) => Err(OriginError::Unresolvable {
            origin: origin.to_string(),
            source,
        }),
    }
}
