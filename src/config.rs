//! The YAML configuration file: its types, their defaults, and `check`.
//!
//! Owns: every key an operator can set, the default of each (the shipped
//! `conf/clickedge.yaml` documents the same defaults with a comment per key),
//! and [`Config::problems`], which lists *every* problem in a file at once,
//! each phrased as what to fix.
//!
//! Invariants: unknown keys are an error (a typo must not silently fall back to
//! a default); a `Config` that `problems()` accepts can be turned into a
//! running edge without any further validation failing.
//!
//! Does not: read the lists or keys it names at request time, or reload them
//! (that is `proxy.rs`'s swap of a whole [`crate::proxy::Policy`]).

use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The development signing secret shipped in `conf/clickedge.yaml`. `serve`
/// warns whenever a configured key uses it: anyone can mint clicks with it.
pub const DEV_SECRET: &str = "clickedge-development-key-DO-NOT-USE-IN-PRODUCTION";

/// Errors loading the file; validation problems come from [`Config::problems`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

/// The whole file. Every field has a default that works on a fresh checkout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Id of this edge node, written in every event. Empty: the host name.
    pub edge_id: String,
    /// Addresses the proxy listens on, `IP:PORT`.
    pub listen: Vec<String>,
    /// `HOST:PORT` every non-click request is proxied to; none answers 404.
    pub origin: Option<String>,
    /// Where the spool lives; events are under `<data_dir>/clicks/`.
    pub data_dir: PathBuf,
    pub signing: SigningConfig,
    pub click: ClickConfig,
    pub ivt: IvtConfig,
    pub privacy: PrivacyConfig,
    pub geo: GeoConfig,
    pub events: EventsConfig,
    pub sink: SinkConfig,
    pub metrics: MetricsConfig,
    pub reload: ReloadConfig,
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub limits: LimitsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            edge_id: String::new(),
            listen: vec!["127.0.0.1:8080".to_string()],
            origin: None,
            data_dir: PathBuf::from("data"),
            signing: SigningConfig::default(),
            click: ClickConfig::default(),
            ivt: IvtConfig::default(),
            privacy: PrivacyConfig::default(),
            geo: GeoConfig::default(),
            events: EventsConfig::default(),
            sink: SinkConfig::default(),
            metrics: MetricsConfig::default(),
            reload: ReloadConfig::default(),
            server: ServerConfig::default(),
            tls: TlsConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// Refuse clicks without a valid signature (403). When false, signatures
    /// are not checked and only `allowed_landing_hosts` are redirected to.
    pub required: bool,
    /// Keys in force; several at once for rotation.
    pub keys: Vec<KeyConfig>,
    /// Key that `clickedge sign` uses; default: the first key.
    pub sign_with: Option<String>,
    /// Landing hosts that may be redirected to: `example.com` (exact) or
    /// `*.example.com` (any subdomain, not the apex). Required when signing is
    /// off; when signing is on and the list is not empty it is enforced too.
    pub allowed_landing_hosts: Vec<String>,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig {
            required: true,
            keys: Vec::new(),
            sign_with: None,
            allowed_landing_hosts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The `kid` value in click URLs.
    pub id: String,
    /// The HMAC-SHA256 secret, used as raw bytes; at least 16, better 32.
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickConfig {
    /// Name of the query parameter that carries the click id to the landing page.
    pub clickid_param: String,
    /// Longest query string accepted on `/c` and `/b`; longer is a 400.
    pub max_query_bytes: usize,
    /// Most bytes of a beacon POST body read (and ignored); past it the
    /// connection is closed after the answer.
    pub beacon_max_body_bytes: usize,
    /// Serve `/robots.txt` disallowing the click paths.
    pub robots_txt: bool,
}

impl Default for ClickConfig {
    fn default() -> Self {
        ClickConfig {
            clickid_param: "clickid".to_string(),
            max_query_bytes: 4096,
            beacon_max_body_bytes: 16 * 1024,
            robots_txt: true,
        }
    }
}

/// Invalid-traffic filtering (GIVT): lists, the duplicate window, actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IvtConfig {
    pub bots: BotsConfig,
    /// Internal ranges (`internal_ip`), inline CIDRs or addresses.
    pub internal_ips: Vec<String>,
    /// Files of internal ranges, one CIDR a line.
    pub internal_ip_files: Vec<PathBuf>,
    /// Data-center ranges (`datacenter_ip`), inline.
    pub datacenter_ips: Vec<String>,
    /// Files of data-center ranges, one CIDR a line.
    pub datacenter_ip_files: Vec<PathBuf>,
    /// A click on the same campaign and impression this many seconds after a
    /// counted one is a `duplicate`. 0 turns the check off.
    pub duplicate_window_seconds: u64,
    /// Most (campaign, impression) pairs remembered; the oldest are evicted.
    pub duplicate_max_entries: usize,
    pub actions: ActionsConfig,
}

impl Default for IvtConfig {
    fn default() -> Self {
        IvtConfig {
            bots: BotsConfig::default(),
            internal_ips: Vec::new(),
            internal_ip_files: Vec::new(),
            datacenter_ips: Vec::new(),
            datacenter_ip_files: Vec::new(),
            duplicate_window_seconds: 60,
            duplicate_max_entries: 1_000_000,
            actions: ActionsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotsConfig {
    /// The open default list compiled into clickedge (conf/bots/open-bots.txt).
    pub builtin: bool,
    /// More pattern files, same format: one case-insensitive regex a line.
    pub pattern_files: Vec<PathBuf>,
    /// The IAB/ABC International Spiders & Robots List, for licensees:
    /// the robot exclude list, the valid-browser include list, and the IP
    /// exclusion list, as published.
    pub iab_exclude_file: Option<PathBuf>,
    pub iab_include_file: Option<PathBuf>,
    pub iab_ip_file: Option<PathBuf>,
}

impl Default for BotsConfig {
    fn default() -> Self {
        BotsConfig {
            builtin: true,
            pattern_files: Vec::new(),
            iab_exclude_file: None,
            iab_include_file: None,
            iab_ip_file: None,
        }
    }
}

/// What happens to a click with a given reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Not redirected: 503 for prefetch, 403 otherwise. Logged `blocked`.
    Block,
    /// Answered as a normal click, logged invalid.
    Flag,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    pub prefetch: ActionKind,
    pub known_bot: ActionKind,
    pub non_browser: ActionKind,
    pub head_request: ActionKind,
    pub internal_ip: ActionKind,
    pub datacenter_ip: ActionKind,
    pub test_click: ActionKind,
    pub duplicate: ActionKind,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        use ActionKind::*;
        ActionsConfig {
            prefetch: Block,
            known_bot: Block,
            non_browser: Flag,
            head_request: Flag,
            internal_ip: Flag,
            datacenter_ip: Flag,
            test_click: Flag,
            duplicate: Flag,
        }
    }
}

impl ActionsConfig {
    /// Whether `reason` blocks, indexed like [`crate::ivt::Reason::ALL`].
    pub fn blocks(&self) -> [bool; 8] {
        let a = self;
        [
            a.prefetch,
            a.known_bot,
            a.non_browser,
            a.head_request,
            a.internal_ip,
            a.datacenter_ip,
            a.test_click,
            a.duplicate,
        ]
        .map(|k| k == ActionKind::Block)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Seconds between checks of the config's and the lists' modification
    /// times; a change reloads them. 0: reload on SIGHUP only.
    pub check_interval_seconds: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            check_interval_seconds: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Events the in-memory queue holds between the request path and the
    /// spool writer. A full queue drops (and counts) events, never delays clicks.
    pub queue_capacity: usize,
    /// Most events the writer takes off the queue per write.
    pub batch_max: usize,
    /// Longest time an event waits before it is written to the spool file
    /// (readable by other processes), in milliseconds.
    pub flush_interval_ms: u64,
    /// Longest time written events wait for fsync, in milliseconds: what a
    /// machine crash can lose at most.
    pub fsync_interval_ms: u64,
    /// A spool file is closed and a new one begun past this size.
    pub segment_max_bytes: u64,
    /// Most bytes of spool kept on disk. Past it, new events are dropped
    /// (and counted); unshipped ones are never deleted to make room.
    pub max_spool_bytes: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            queue_capacity: 65_536,
            batch_max: 4096,
            flush_interval_ms: 100,
            fsync_interval_ms: 1000,
            segment_max_bytes: 64 * 1024 * 1024,
            max_spool_bytes: 8 * 1024 * 1024 * 1024,
        }
    }
}

/// What may be written about a person (see `privacy.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// truncate (default), hash, full, none.
    pub ip_mode: crate::privacy::IpMode,
    /// Key material of `hash` mode; empty: a random key per process (hashes
    /// then differ between edges and restarts).
    pub ip_hash_secret: String,
    /// The hash key changes every this many hours.
    pub ip_hash_rotation_hours: u64,
    /// Request headers that opt the user out when their value is `1`.
    pub opt_out_headers: Vec<String>,
    pub retention: RetentionConfig,
}

/// Ages after which `clickedge retention` removes personal detail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `ip` is emptied after this many days (about 9 months).
    pub ip_days: u32,
    /// `user_agent` is cut to the device class after this many days (about
    /// 18 months).
    pub user_agent_days: u32,
    /// `ip_full` (fraud analysis only) is emptied after this many days.
    pub ip_full_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            ip_days: 270,
            user_agent_days: 540,
            ip_full_days: 30,
        }
    }
}

/// Where clicks come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoConfig {
    /// A MaxMind-format country database (GeoLite2-Country.mmdb, say); none:
    /// `country` is empty.
    pub country_db: Option<PathBuf>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            ip_mode: crate::privacy::IpMode::Truncate,
            ip_hash_secret: String::new(),
            ip_hash_rotation_hours: 24,
            opt_out_headers: vec!["sec-gpc".to_string(), "dnt".to_string()],
            retention: RetentionConfig::default(),
        }
    }
}

impl PrivacyConfig {
    pub fn build(&self) -> crate::privacy::Privacy {
        crate::privacy::Privacy::new(
            self.ip_mode,
            &self.ip_hash_secret,
            self.ip_hash_rotation_hours,
            &self.opt_out_headers,
        )
    }
}

/// Central storage the spool is shipped to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkConfig {
    /// `clickhouse://HOST:PORT/DATABASE.TABLE` or an `http(s)://` URL taking
    /// gzip NDJSON by POST. None: events stay in `<data_dir>/clicks/`.
    pub url: Option<String>,
    /// Basic authentication (ClickHouse user; optional for HTTP).
    pub user: String,
    pub password: String,
    /// Extra request headers for the HTTP sink.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Most events per batch sent.
    pub batch_max_events: usize,
    /// Most spool bytes read per batch.
    pub batch_max_bytes: usize,
    /// Seconds one send may take.
    pub timeout_seconds: u64,
    /// First retry delay, doubled per failure up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Wait between looks at the spool when there is nothing new.
    pub poll_interval_ms: u64,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            url: None,
            user: "default".to_string(),
            password: String::new(),
            headers: Default::default(),
            batch_max_events: 100_000,
            batch_max_bytes: 64 * 1024 * 1024,
            timeout_seconds: 30,
            retry_initial_ms: 250,
            retry_max_ms: 30_000,
            poll_interval_ms: 200,
        }
    }
}

impl SinkConfig {
    pub fn options(&self) -> crate::ship::sinks::SinkOptions {
        crate::ship::sinks::SinkOptions {
            user: self.user.clone(),
            password: self.password.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: std::time::Duration::from_secs(self.timeout_seconds),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the Prometheus listener (`GET /metrics`); none turns it off.
    pub listen: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: Some("127.0.0.1:9108".to_string()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Worker threads of the proxy; 0 means one per CPU core.
    pub threads: usize,
    /// After SIGTERM or SIGQUIT: seconds the old process keeps serving the
    /// requests it already has before its runtimes stop.
    pub grace_period_seconds: u64,
    /// Then: seconds to let the runtimes finish before they are stopped.
    pub graceful_shutdown_timeout_seconds: u64,
    /// After SIGTERM or SIGQUIT: seconds a kept-alive HTTP/1 connection
    /// may still bring one more request (answered with `Connection: close`)
    /// before idle ones are closed. Busy clients then reconnect (to the new
    /// process, in an upgrade) instead of racing a close. Less than
    /// `grace_period_seconds`.
    pub keepalive_drain_seconds: u64,
    /// Unix socket the listening sockets are handed over on in a graceful upgrade.
    pub upgrade_sock: String,
    /// Where the pid is written.
    pub pid_file: String,
    /// The server's own log level (`error`, `warn`, `info`, `debug`, `trace`,
    /// or a `tracing` filter like `info,pingora=warn`); `RUST_LOG` overrides it.
    pub log_level: String,
}

/// TLS listeners (HTTP/1.1 and HTTP/2 by ALPN).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Addresses served over TLS, `IP:PORT`; empty: no TLS.
    pub listen: Vec<String>,
    /// PEM certificate chain, leaf first. Reloaded when it changes.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate. Reloaded when it changes.
    pub key_file: Option<PathBuf>,
    /// Offer HTTP/2 by ALPN next to HTTP/1.1.
    pub http2: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            listen: Vec::new(),
            cert_file: None,
            key_file: None,
            http2: true,
        }
    }
}

/// Limits against abusive or broken clients; each one counted in
/// `clickedge_limit_hits_total{limit=...}` when it triggers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request header (request line and every header line); over it: 431.
    pub max_header_bytes: usize,
    /// Most header fields in a request; over it: 431.
    pub max_headers: usize,
    /// Seconds a client gets to send a whole request header (HTTP/1), counted
    /// from the connection (first request) or from the end of the previous
    /// answer plus `idle_timeout_seconds` (later requests). Then it is closed.
    pub header_timeout_seconds: u64,
    /// Seconds an HTTP/1 keep-alive connection may sit idle between
    /// requests, and an HTTP/2 connection without streams, before it is closed.
    pub idle_timeout_seconds: u64,
    /// Requests served on one HTTP/1 connection before it is closed
    /// (`Connection: close` on the last answer); 0: no limit.
    pub requests_per_connection: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            header_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            requests_per_connection: 10_000,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            threads: 0,
            grace_period_seconds: 5,
            graceful_shutdown_timeout_seconds: 2,
            keepalive_drain_seconds: 2,
            upgrade_sock: "/tmp/clickedge_upgrade.sock".to_string(),
            pid_file: "/tmp/clickedge.pid".to_string(),
            log_level: "info".to_string(),
        }
    }
}

impl Config {
    /// Reads and parses a file. Only syntax and types are checked here.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses YAML text; an empty document is the default config.
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// The edge id to write in events: the configured one, else the host name.
    pub fn edge_id(&self) -> String {
        if !self.edge_id.is_empty() {
            return self.edge_id.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "edge".to_string())
    }

    /// Every list file the config names, for `check` and for reload's watch.
    pub fn list_files(&self) -> Vec<&Path> {
        let i = &self.ivt;
        let b = &i.bots;
        b.pattern_files
            .iter()
            .chain(&i.internal_ip_files)
            .chain(&i.datacenter_ip_files)
            .chain(&b.iab_exclude_file)
            .chain(&b.iab_include_file)
            .chain(&b.iab_ip_file)
            .chain(&self.geo.country_db)
            .chain(&self.tls.cert_file)
            .chain(&self.tls.key_file)
            .map(PathBuf::as_path)
            .collect()
    }

    /// The key `sign` uses.
    pub fn signing_key(&self) -> Option<&KeyConfig> {
        match &self.signing.sign_with {
            Some(id) => self.signing.keys.iter().find(|k| &k.id == id),
            None => self.signing.keys.first(),
        }
    }

    /// Whether any configured key is the shipped development key.
    pub fn uses_dev_key(&self) -> bool {
        self.signing.keys.iter().any(|k| k.secret == DEV_SECRET)
    }

    /// Resolves `origin` to one socket address.
    pub fn origin_addr(&self) -> Result<Option<SocketAddr>, String> {
        let Some(origin) = &self.origin else {
            return Ok(None);
        };
        match origin.to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => Ok(Some(a)),
                None => Err(format!("origin {origin:?} resolves to no address")),
            },
            Err(e) => Err(format!(
                "origin {origin:?} is not a reachable HOST:PORT ({e}); write it like 127.0.0.1:8000"
            )),
        }
    }

    /// Every problem with this config, each saying what to fix. Empty: good to serve.
    /// `touch_disk` also checks that the data directory can be created and written.
    pub fn problems(&self, touch_disk: bool) -> Vec<String> {
        let mut p = Vec::new();
        if self.listen.is_empty() {
            p.push("listen: give at least one address, like 127.0.0.1:8080".to_string());
        }
        for l in &self.listen {
            if l.parse::<SocketAddr>().is_err() {
                p.push(format!(
                    "listen: {l:?} is not an IP:PORT address (like 0.0.0.0:8080 or [::]:8080)"
                ));
            }
        }
        if let Some(m) = &self.metrics.listen {
            if m.parse::<SocketAddr>().is_err() {
                p.push(format!("metrics.listen: {m:?} is not an IP:PORT address"));
            }
        }
        // One address, one listener: a second bind of it fails at start.
        let mut seen: Vec<(SocketAddr, &str)> = Vec::new();
        let named = self
            .listen
            .iter()
            .map(|a| (a, "listen"))
            .chain(self.tls.listen.iter().map(|a| (a, "tls.listen")))
            .chain(self.metrics.listen.iter().map(|a| (a, "metrics.listen")));
        for (addr, key) in named {
            let Ok(sa) = addr.parse::<SocketAddr>() else {
                continue;
            };
            match seen.iter().find(|(other, _)| {
                other.port() == sa.port()
                    && (*other == sa || other.ip().is_unspecified() || sa.ip().is_unspecified())
            }) {
                Some((_, first)) => p.push(format!(
                    "{key}: {addr} is already taken by {first}; give each listener its own port"
                )),
                None => seen.push((sa, key)),
            }
        }
        if let Err(e) = self.origin_addr() {
            p.push(e);
        }
        self.tls_and_limits_problems(touch_disk, &mut p);
        if !self.edge_id.is_empty() && !is_id(&self.edge_id, 128) {
            p.push(format!(
                "edge_id: {:?} must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -",
                self.edge_id
            ));
        }
        self.signing_problems(&mut p);
        let c = &self.click;
        if !is_id(&c.clickid_param, 64) {
            p.push(format!(
                "click.clickid_param: {:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ ~ -",
                c.clickid_param
            ));
        }
        if c.max_query_bytes < 256 || c.max_query_bytes > 65_536 {
            p.push(format!(
                "click.max_query_bytes: {} is out of range; use 256 to 65536 (default 4096)",
                c.max_query_bytes
            ));
        }
        if c.beacon_max_body_bytes > 1024 * 1024 {
            p.push("click.beacon_max_body_bytes: at most 1048576".to_string());
        }
        if self.ivt.actions.prefetch != ActionKind::Block {
            p.push(
                "ivt.actions.prefetch: must be block; a redirected prefetch makes the browser \
                 serve the real click from it, and the edge never sees the click"
                    .to_string(),
            );
        }
        if self.ivt.duplicate_window_seconds > 0 && self.ivt.duplicate_max_entries == 0 {
            p.push(
                "ivt.duplicate_max_entries: must be greater than 0 while the window is on"
                    .to_string(),
            );
        }
        let e = &self.events;
        for (name, v) in [
            ("events.queue_capacity", e.queue_capacity as u64),
            ("events.batch_max", e.batch_max as u64),
            ("events.flush_interval_ms", e.flush_interval_ms),
            ("events.fsync_interval_ms", e.fsync_interval_ms),
        ] {
            if v == 0 {
                p.push(format!("{name}: must be greater than 0"));
            }
        }
        if e.flush_interval_ms > 1000 {
            p.push(format!(
                "events.flush_interval_ms: {} is over 1000; events must be readable within one second",
                e.flush_interval_ms
            ));
        }
        if e.segment_max_bytes < 64 * 1024 {
            p.push("events.segment_max_bytes: use at least 65536".to_string());
        }
        if e.max_spool_bytes < e.segment_max_bytes.saturating_mul(2) {
            // Only sealed files are deleted once shipped: a quota the open
            // file alone can fill would refuse events for ever.
            p.push(format!(
                "events.max_spool_bytes: {} must be at least twice events.segment_max_bytes ({})",
                e.max_spool_bytes, e.segment_max_bytes
            ));
        }
        if let Some(url) = &self.sink.url {
            if let Err(e) = crate::ship::sinks::from_url(url, &self.sink.options()) {
                p.push(format!("sink.url: {e}"));
            }
            if self.sink.batch_max_events == 0 || self.sink.batch_max_bytes < 64 * 1024 {
                p.push(
                    "sink: batch_max_events must be > 0 and batch_max_bytes at least 65536"
                        .to_string(),
                );
            }
        }
        self.sink_problems(&mut p);
        if touch_disk {
            if let Err(e) = check_writable_dir(&self.data_dir.join("clicks")) {
                p.push(format!(
                    "data_dir: {} cannot be written: {e}",
                    self.data_dir.display()
                ));
            }
        }
        p
    }

    /// Timing and headers of the sink, checked with or without a URL (one
    /// may come from `--sink`): a zero delay retries in a tight loop.
    fn sink_problems(&self, p: &mut Vec<String>) {
        let s = &self.sink;
        if s.timeout_seconds == 0 {
            p.push("sink.timeout_seconds: must be at least 1 (default 30)".to_string());
        }
        if s.retry_initial_ms < 10 {
            p.push(format!(
                "sink.retry_initial_ms: {} is too short; use at least 10 (default 250)",
                s.retry_initial_ms
            ));
        }
        if s.retry_max_ms < s.retry_initial_ms {
            p.push(format!(
                "sink.retry_max_ms: {} must be at least sink.retry_initial_ms ({})",
                s.retry_max_ms, s.retry_initial_ms
            ));
        }
        if s.poll_interval_ms == 0 {
            p.push("sink.poll_interval_ms: must be at least 1 (default 200)".to_string());
        }
        for (name, value) in &s.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                p.push(format!("sink.headers: {name:?} is not a valid header name"));
            }
            if http::HeaderValue::from_str(value).is_err() {
                p.push(format!(
                    "sink.headers.{name}: the value is not a valid header value (no line breaks or control characters)"
                ));
            }
        }
    }

    fn tls_and_limits_problems(&self, _touch_disk: bool, p: &mut Vec<String>) {
        let t = &self.tls;
        for l in &t.listen {
            if l.parse::<SocketAddr>().is_err() {
                p.push(format!("tls.listen: {l:?} is not an IP:PORT address"));
            }
        }
        match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => {
                if let Err(e) = crate::tls::CertKey::load(c, k) {
                    p.push(e);
                }
            }
            (None, None) if t.listen.is_empty() => {}
            _ => p.push(
                "tls: tls.listen needs both tls.cert_file and tls.key_file (PEM files)".to_string(),
            ),
        }
        let l = &self.limits;
        if !(1024..=1024 * 1024).contains(&l.max_header_bytes) {
            p.push(format!(
                "limits.max_header_bytes: {} is out of range; use 1024 to 1048576 (default 16384)",
                l.max_header_bytes
            ));
        }
        if !(8..=256).contains(&l.max_headers) {
            p.push(format!(
                "limits.max_headers: {} is out of range; use 8 to 256 (default 64)",
                l.max_headers
            ));
        }
        for (name, v) in [
            ("limits.header_timeout_seconds", l.header_timeout_seconds),
            ("limits.idle_timeout_seconds", l.idle_timeout_seconds),
        ] {
            if v == 0 || v > 3600 {
                p.push(format!("{name}: {v} is out of range; use 1 to 3600"));
            }
        }
        let sv = &self.server;
        if sv.keepalive_drain_seconds > 0 && sv.keepalive_drain_seconds >= sv.grace_period_seconds {
            p.push(format!(
                "server.keepalive_drain_seconds: {} must be less than server.grace_period_seconds ({})",
                sv.keepalive_drain_seconds, sv.grace_period_seconds
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.server.log_level) {
            p.push(format!(
                "server.log_level: {:?} is not a level or filter ({e}); use error, warn, info, debug or trace",
                self.server.log_level
            ));
        }
        // A bare word is a level; the filter syntax would read a misspelt
        // one (`warning`) as a module name and silence every log line.
        const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
        for d in self.server.log_level.split(',').map(str::trim) {
            if !d.is_empty()
                && !d.contains('=')
                && !LEVELS.contains(&d.to_ascii_lowercase().as_str())
            {
                p.push(format!(
                    "server.log_level: {d:?} is not a level; use error, warn, info, debug or \
                     trace, and module=level for one module (like info,pingora=warn)"
                ));
            }
        }
    }

    fn signing_problems(&self, p: &mut Vec<String>) {
        let s = &self.signing;
        if s.required && s.keys.is_empty() {
            p.push(
                "signing.keys: signing is required but no key is configured; add one \
                 (id and secret) or set signing.required: false with allowed_landing_hosts"
                    .to_string(),
            );
        }
        if !s.required && s.allowed_landing_hosts.is_empty() {
            p.push(
                "signing.allowed_landing_hosts: signing is off, so list the landing hosts \
                 that may be redirected to (an open redirect otherwise)"
                    .to_string(),
            );
        }
        for (i, k) in s.keys.iter().enumerate() {
            if !is_id(&k.id, 64) {
                p.push(format!(
                    "signing.keys[{i}].id: {:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ ~ -",
                    k.id
                ));
            }
            if k.secret.len() < 16 {
                p.push(format!(
                    "signing.keys[{i}].secret: {} bytes is too short; use at least 16 random bytes (32 recommended)",
                    k.secret.len()
                ));
            }
            if s.keys[..i].iter().any(|o| o.id == k.id) {
                p.push(format!("signing.keys[{i}].id: {:?} is listed twice", k.id));
            }
        }
        if let Some(id) = &s.sign_with {
            if !s.keys.iter().any(|k| &k.id == id) {
                p.push(format!("signing.sign_with: no key has id {id:?}"));
            }
        }
        for h in &s.allowed_landing_hosts {
            if crate::click::HostPattern::parse(h).is_none() {
                p.push(format!(
                    "signing.allowed_landing_hosts: {h:?} is not a host name; write example.com or *.example.com"
                ));
            }
        }
    }
}

/// The id alphabet of click URLs: 1 to `max` bytes of `[A-Za-z0-9._~-]`.
pub fn is_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

fn check_writable_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_parses_and_has_no_problems() {
        let text = include_str!("../conf/clickedge.yaml");
        let c = Config::parse(text).expect("shipped config parses");
        assert_eq!(c.problems(false), Vec::<String>::new());
        assert!(
            c.uses_dev_key(),
            "shipped config carries the marked dev key"
        );
        assert_eq!(c.listen, Config::default().listen);
        assert_eq!(c.click.clickid_param, "clickid");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::parse("listen: ['127.0.0.1:1']\nlisten_typo: 3\n").unwrap_err();
        assert!(err.contains("listen_typo"), "{err}");
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let c = Config::parse(
            "listen: ['nope']\norigin: 'bad origin'\nsigning:\n  required: false\n  keys: [{id: 'a b', secret: short}]\nclick:\n  clickid_param: ''\n",
        )
        .unwrap();
        let p = c.problems(false);
        let all = p.join("\n");
        for needle in [
            "listen: \"nope\"",
            "origin",
            "allowed_landing_hosts",
            "keys[0].id",
            "keys[0].secret",
            "clickid_param",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in\n{all}");
        }
    }

    #[test]
    fn ids() {
        assert!(is_id("abc-1.2_3~", 128));
        assert!(!is_id("", 128));
        assert!(!is_id("a b", 128));
        assert!(!is_id(&"a".repeat(129), 128));
        assert!(is_id(&"a".repeat(128), 128));
    }
}
