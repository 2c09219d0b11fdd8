//! `server`, `tls`, `limits`, `metrics` and `reload`: the serving
//! process ([`crate::edge`]) and its background work.

use serde::Deserialize;
use smart_default::SmartDefault;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Seconds between checks of the config's and the lists' modification
    /// times; a change reloads them. 0: reload on SIGHUP only.
    #[default = 5]
    pub check_interval_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the Prometheus listener (`GET /metrics`); none turns it off.
    #[default(Some("127.0.0.1:9108".to_string()))]
    pub listen: Option<String>,
    /// Most connections open at once on the metrics listener, apart from
    /// `server.max_connections`: scrapers cannot take the clicks' slots,
    /// nor a flood of scrapers every file descriptor.
    #[default = 16]
    pub max_connections: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Worker threads of the proxy; 0 means one per CPU core.
    pub threads: usize,
    /// After SIGTERM or SIGQUIT: seconds the old process keeps serving the
    /// requests it already has before its runtimes stop.
    #[default = 5]
    pub grace_period_seconds: u64,
    /// Then: seconds to let the runtimes finish before they are stopped.
    #[default = 2]
    pub graceful_shutdown_timeout_seconds: u64,
    /// After SIGTERM or SIGQUIT: seconds a kept-alive HTTP/1 connection
    /// may still bring one more request (answered with `Connection: close`)
    /// before idle ones are closed. Busy clients then reconnect (to the new
    /// process, in an upgrade) instead of racing a close. Less than
    /// `grace_period_seconds`.
    #[default = 2]
    pub keepalive_drain_seconds: u64,
    /// Unix socket the listening sockets are handed over on in a graceful upgrade.
    #[default("/tmp/clickedge_upgrade.sock".to_string())]
    pub upgrade_sock: String,
    /// Where the pid is written.
    #[default("/tmp/clickedge.pid".to_string())]
    pub pid_file: String,
    /// Most connections open at once on the proxy's listeners; one past it
    /// is closed as soon as it is accepted (and counted). Keep it below the
    /// process's open-file limit (`ulimit -n`).
    #[default = 16_384]
    pub max_connections: usize,
    /// A debugging aid: let request paths and queries into the error log.
    /// Off, no log line at any level carries a path or a query (they can
    /// hold personal data, and a click's holds its signature).
    pub log_request_paths: bool,
    /// Load balancers and proxies in front of the edge (CIDRs or
    /// addresses): only from such a peer are `X-Forwarded-For` and
    /// `Forwarded` believed (docs/contract.md §8).
    pub trusted_proxies: Vec<String>,
    /// The server's own log level (`error`, `warn`, `info`, `debug`, `trace`,
    /// or a `tracing` filter like `info,pingora=warn`); `RUST_LOG` overrides it.
    #[default("info".to_string())]
    pub log_level: String,
}

/// TLS listeners (HTTP/1.1 and HTTP/2 by ALPN).
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Addresses served over TLS, `IP:PORT`; empty: no TLS.
    pub listen: Vec<String>,
    /// PEM certificate chain, leaf first. Reloaded when it changes.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate. Reloaded when it changes.
    pub key_file: Option<PathBuf>,
    /// Offer HTTP/2 by ALPN next to HTTP/1.1.
    #[default = true]
    pub http2: bool,
}

/// Limits against abusive or broken clients; each one counted in
/// `clickedge_limit_hits_total{limit=...}` when it triggers.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request header (request line and every header line); over it: 431.
    #[default(16 * 1024)]
    pub max_header_bytes: usize,
    /// Most header fields in a request; over it: 431.
    #[default = 64]
    pub max_headers: usize,
    /// Seconds a client gets to send a whole request header (HTTP/1), counted
    /// from the connection (first request) or from the end of the previous
    /// answer plus `idle_timeout_seconds` (later requests). Then it is closed.
    #[default = 10]
    pub header_timeout_seconds: u64,
    /// Seconds an HTTP/1 keep-alive connection may sit idle between
    /// requests, and an HTTP/2 connection without streams, before it is closed.
    #[default = 60]
    pub idle_timeout_seconds: u64,
    /// Requests served on one HTTP/1 connection before it is closed
    /// (`Connection: close` on the last answer); 0: no limit.
    #[default = 10_000]
    pub requests_per_connection: u32,
    /// Seconds a request body may take in full, from the end of its header
    /// (a beacon's, or one proxied to the origin), and the longest wait for
    /// any one piece of it. Past it the connection is closed.
    #[default = 30]
    pub body_timeout_seconds: u64,
}
