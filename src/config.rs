//! The YAML configuration file: its types and their defaults, nothing else.
//!
//! Owns: every key an operator can set and the default of each (the shipped
//! `conf/clickedge.yaml` documents the same defaults with a comment per
//! key). A leaf: it depends on no other module of the crate.
//!
//! Invariants: unknown keys are an error (a typo must not silently fall back
//! to a default). Only syntax and types are checked here; what a value
//! means is checked by the module that uses it, when
//! [`crate::settings::Settings`] builds that module's runtime part, and every
//! such problem is a [`Problem`] naming its key.
//!
//! Does not: validate values, read the files it names, or reload them.

use serde::Deserialize;
use smart_default::SmartDefault;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The development signing secret shipped in `conf/clickedge.yaml`. `serve`
/// warns whenever a configured key uses it: anyone can mint clicks with it.
pub const DEV_SECRET: &str = "clickedge-development-key-DO-NOT-USE-IN-PRODUCTION";

/// Errors loading the file; what its values mean is checked by
/// [`crate::settings::Settings::build`].
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

/// One thing wrong with a config: the key (or the file it names) and what
/// to fix. `Display` is `key: message`, the line `check` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every problem found, in the order the sections were checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(key, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Moves the problems of a part's result into this list; `None` if it
    /// had any.
    pub fn take<T>(&mut self, r: Result<T, Problems>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(p) => {
                self.0.extend(p.0);
                None
            }
        }
    }

    /// `Ok(v)` when no problem was found.
    pub fn or<T>(self, v: T) -> Result<T, Problems> {
        if self.is_empty() {
            Ok(v)
        } else {
            Err(self)
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(Problem::to_string).collect()
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.lines().join("\n  "))
    }
}

impl std::error::Error for Problems {}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Problems {
        Problems(vec![p])
    }
}

/// The whole file. Every field has a default that works on a fresh checkout.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Id of this edge node, written in every event. Empty: the host name.
    pub edge_id: String,
    /// Addresses the proxy listens on, `IP:PORT`.
    #[default(vec!["127.0.0.1:8080".to_string()])]
    pub listen: Vec<String>,
    /// `HOST:PORT` every non-click request is proxied to; none answers 404.
    pub origin: Option<String>,
    /// Where the spool lives; events are under `<data_dir>/clicks/`.
    #[default(PathBuf::from("data"))]
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
    /// Back-end filtration and publisher strikes (`rescore`, `strikes`).
    pub backend: BackendConfig,
    /// A central, signed rules bundle the edge polls (docs/contract.md §8).
    pub rules: RulesConfig,
}

/// `rules`: where a fleet's edges fetch their shared lists.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// The bundle's URL (`http://` or `https://`); none: no bundle.
    pub url: Option<String>,
    /// The Ed25519 public key bundles must be signed with, as `clickedge
    /// rules keygen` prints it (base64).
    pub public_key: Option<String>,
    /// Seconds between polls; each wait is this plus or minus 10%.
    #[default = 60]
    pub poll_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// Refuse clicks without a valid signature (403). When false, signatures
    /// are not checked and only `allowed_landing_hosts` are redirected to.
    #[default = true]
    pub required: bool,
    /// Keys in force; several at once for rotation. None by default: the
    /// shipped file carries a development key.
    pub keys: Vec<KeyConfig>,
    /// Key that `clickedge sign` uses; default: the first key.
    pub sign_with: Option<String>,
    /// Landing hosts that may be redirected to: `example.com` (exact) or
    /// `*.example.com` (any subdomain, not the apex). Required when signing is
    /// off; when signing is on and the list is not empty it is enforced too.
    pub allowed_landing_hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The `kid` value in click URLs.
    pub id: String,
    /// The HMAC-SHA256 secret, used as raw bytes; at least 16, better 32.
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct ClickConfig {
    /// Name of the query parameter that carries the click id to the landing page.
    #[default("clickid".to_string())]
    pub clickid_param: String,
    /// Longest query string accepted on `/c` and `/b`; longer is a 400.
    #[default = 4096]
    pub max_query_bytes: usize,
    /// Most bytes of a beacon POST body read (and ignored); past it the
    /// connection is closed after the answer.
    #[default(16 * 1024)]
    pub beacon_max_body_bytes: usize,
    /// Serve `/robots.txt` disallowing the click paths.
    #[default = true]
    pub robots_txt: bool,
    /// The ad platforms' click-id parameters a template click may carry
    /// after `sig` (docs/contract.md §3).
    #[default(["gclid", "gbraid", "wbraid", "msclkid"].map(String::from).to_vec())]
    pub platform_click_params: Vec<String>,
}

/// Invalid-traffic filtering (GIVT): lists, the duplicate window, actions.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
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
    /// With `geo.asn_db`: the shipped list of cloud and VPS hosting
    /// autonomous systems (`conf/asn/datacenter-asns.txt`); a click from one
    /// is `datacenter_ip`.
    #[default = true]
    pub datacenter_asns_builtin: bool,
    /// More data-center AS numbers, inline.
    pub datacenter_asns: Vec<u32>,
    /// Files of AS numbers, one a line (`#` comments).
    pub datacenter_asn_files: Vec<PathBuf>,
    /// Publishers on hold or suspended by the strike ladder, as `clickedge
    /// strikes export` writes them: their clicks are logged
    /// `publisher_hold` / `publisher_suspended` and still redirected.
    pub publisher_status_file: Option<PathBuf>,
    /// A current Chromium's user agent on this server's own TLS listener
    /// with neither client hints nor `Sec-Fetch-*` headers is
    /// `non_browser`; only ever flagged. On: real Chromium and Firefox
    /// never trip it (tests/browser.rs, docs/accuracy.md).
    #[default = true]
    pub header_consistency: bool,
    /// A click on the same campaign and impression this many seconds after a
    /// counted one is a `duplicate`. 0 turns the check off.
    #[default = 60]
    pub duplicate_window_seconds: u64,
    /// Most (campaign, impression) pairs remembered; the oldest are evicted.
    #[default = 1_000_000]
    pub duplicate_max_entries: usize,
    /// What a reason does to a click, by the reason's name (`known_bot:
    /// block`). A reason not listed keeps its default, which its
    /// declaration in `ivt` gives (prefetch and known_bot block, the rest
    /// flag).
    pub actions: BTreeMap<String, ActionKind>,
}

#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct BotsConfig {
    /// The open default list compiled into clickedge (conf/bots/open-bots.txt).
    #[default = true]
    pub builtin: bool,
    /// More pattern files, same format: one case-insensitive regex a line.
    pub pattern_files: Vec<PathBuf>,
    /// More link-scanner files, same format (`link_scanner`, flagged).
    pub link_scanner_files: Vec<PathBuf>,
    /// The IAB/ABC International Spiders & Robots List, for licensees:
    /// the robot exclude list, the valid-browser include list, and the IP
    /// exclusion list, as published.
    pub iab_exclude_file: Option<PathBuf>,
    pub iab_include_file: Option<PathBuf>,
    pub iab_ip_file: Option<PathBuf>,
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

#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Seconds between checks of the config's and the lists' modification
    /// times; a change reloads them. 0: reload on SIGHUP only.
    #[default = 5]
    pub check_interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Events the in-memory queue holds between the request path and the
    /// spool writer. A full queue drops (and counts) events, never delays clicks.
    #[default = 65_536]
    pub queue_capacity: usize,
    /// Most events the writer takes off the queue per write.
    #[default = 4096]
    pub batch_max: usize,
    /// Longest time an event waits before it is written to the spool file
    /// (readable by other processes), in milliseconds.
    #[default = 100]
    pub flush_interval_ms: u64,
    /// Longest time written events wait for fsync, in milliseconds: what a
    /// machine crash can lose at most.
    #[default = 1000]
    pub fsync_interval_ms: u64,
    /// A spool file is closed and a new one begun past this size.
    #[default(64 * 1024 * 1024)]
    pub segment_max_bytes: u64,
    /// Most bytes of spool kept on disk. Past it, new events are dropped
    /// (and counted); unshipped ones are never deleted to make room.
    #[default(8 * 1024 * 1024 * 1024)]
    pub max_spool_bytes: u64,
}

/// What is written of the client address (see `privacy.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpMode {
    /// IPv4 to its /24, IPv6 to its /48.
    Truncate,
    /// A keyed hash, the key rotated every period: the same address gives
    /// the same value within a period, and no one without the key can find
    /// an address by hashing every candidate.
    Hash,
    /// The event has the truncated address; the full one goes to the
    /// separate `ip_full` field that reports and exports never read, with
    /// its own, shorter retention. For fraud analysis only.
    Full,
    /// No address at all.
    None,
}

/// What may be written about a person (see `privacy.rs`).
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// truncate (default), hash, full, none.
    #[default(IpMode::Truncate)]
    pub ip_mode: IpMode,
    /// Key material of `hash` mode; empty: a random key per process (hashes
    /// then differ between edges and restarts).
    pub ip_hash_secret: String,
    /// The hash key changes every this many hours.
    #[default = 24]
    pub ip_hash_rotation_hours: u64,
    /// Request headers that opt the user out when their value is `1`.
    #[default(vec!["sec-gpc".to_string(), "dnt".to_string()])]
    pub opt_out_headers: Vec<String>,
    pub retention: RetentionConfig,
}

/// Ages after which `clickedge retention` removes personal detail.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `ip` is replaced by `[scrubbed]` after this many days (about 9 months).
    #[default = 270]
    pub ip_days: u32,
    /// `user_agent` is cut to the device class after this many days (about
    /// 18 months).
    #[default = 540]
    pub user_agent_days: u32,
    /// `ip_full` (fraud analysis only) is emptied after this many days.
    #[default = 30]
    pub ip_full_days: u32,
}

/// Where clicks come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoConfig {
    /// A MaxMind-format country database (GeoLite2-Country.mmdb, say); none:
    /// `country` is empty.
    pub country_db: Option<PathBuf>,
    /// A GeoLite2-ASN-format database (`autonomous_system_number`): with
    /// it, a click from a data-center AS (`ivt.datacenter_asns...`) is
    /// `datacenter_ip`.
    pub asn_db: Option<PathBuf>,
}

/// Central storage the spool is shipped to.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct SinkConfig {
    /// `clickhouse://HOST:PORT/DATABASE.TABLE` or an `http(s)://` URL taking
    /// gzip NDJSON by POST. None: events stay in `<data_dir>/clicks/`.
    pub url: Option<String>,
    /// Basic authentication (ClickHouse user; optional for HTTP).
    #[default("default".to_string())]
    pub user: String,
    pub password: String,
    /// Extra request headers for the HTTP sink.
    pub headers: BTreeMap<String, String>,
    /// Most events per batch sent.
    #[default = 100_000]
    pub batch_max_events: usize,
    /// Most spool bytes read per batch.
    #[default(64 * 1024 * 1024)]
    pub batch_max_bytes: usize,
    /// Seconds one send may take.
    #[default = 30]
    pub timeout_seconds: u64,
    /// First retry delay, doubled per failure up to `retry_max_ms`.
    #[default = 250]
    pub retry_initial_ms: u64,
    #[default = 30_000]
    pub retry_max_ms: u64,
    /// Wait between looks at the spool when there is nothing new.
    #[default = 200]
    pub poll_interval_ms: u64,
    /// Least time between two inserts into the sink: at a fleet's scale
    /// every insert is a new part for ClickHouse to merge, so each edge
    /// inserts at most this often, in batches of up to batch_max_events.
    /// 0: as soon as there are events.
    #[default = 0]
    pub min_insert_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize, SmartDefault)]
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

#[derive(Debug, Clone, Deserialize, SmartDefault)]
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
#[derive(Debug, Clone, Deserialize, SmartDefault)]
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
#[derive(Debug, Clone, Deserialize, SmartDefault)]
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

/// The flags `clickedge serve` takes that override the file: applied when
/// the process starts and again at every reload, so a flag holds for the
/// life of the process (docs/contract.md §2) whatever the file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--listen` (repeatable): replaces `listen` when not empty.
    pub listen: Vec<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--origin`.
    pub origin: Option<String>,
    /// `--sink`: the central store's URL.
    pub sink: Option<String>,
}

impl Overrides {
    /// Writes each given flag over the file's value.
    pub fn apply(&self, cfg: &mut Config) {
        if !self.listen.is_empty() {
            cfg.listen = self.listen.clone();
        }
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(o) = &self.origin {
            cfg.origin = Some(o.clone());
        }
        if let Some(s) = &self.sink {
            cfg.sink.url = Some(s.clone());
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
        // No snippet of the file in the message: the lines around a typo
        // can hold a signing secret or the sink's password, and a failed
        // reload logs the message.
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options(text, options).map_err(|e| e.to_string())
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

    /// Every file the config names and a reload re-reads: the lists, the
    /// country database, the TLS certificate and key.
    pub fn list_files(&self) -> Vec<PathBuf> {
        let i = &self.ivt;
        let b = &i.bots;
        let mut files: Vec<PathBuf> = b
            .pattern_files
            .iter()
            .chain(&b.link_scanner_files)
            .chain(&i.internal_ip_files)
            .chain(&i.datacenter_ip_files)
            .chain(&i.datacenter_asn_files)
            .chain(&i.publisher_status_file)
            .chain(&b.iab_exclude_file)
            .chain(&b.iab_include_file)
            .chain(&b.iab_ip_file)
            .chain(&self.geo.country_db)
            .chain(&self.geo.asn_db)
            .chain(&self.tls.cert_file)
            .chain(&self.tls.key_file)
            .cloned()
            .collect();
        if self.rules.url.is_some() {
            files.push(self.rules_bundle_path());
        }
        files
    }

    /// Where the last good rules bundle is kept.
    pub fn rules_bundle_path(&self) -> PathBuf {
        self.data_dir.join("rules").join("bundle.json")
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_never_quotes_the_lines_around_it() {
        // A typo next to a secret, as in a key rotation: the message names
        // the line, never the text around it (it reaches the reload log).
        let text = "signing:\n  keys:\n    - {id: k1, secret: \"s3cr3t-0123456789abcdefghijklmn\"}\n  sign_with: [unclosed\nsink:\n  password: \"pa55word-xyz\"\n";
        let e = Config::parse(text).unwrap_err();
        assert!(!e.contains("s3cr3t") && !e.contains("pa55word"), "{e}");
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::parse("listen: ['127.0.0.1:1']\nlisten_typo: 3\n").unwrap_err();
        assert!(err.contains("listen_typo"), "{err}");
    }

    #[test]
    fn an_empty_file_is_the_default() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.listen, ["127.0.0.1:8080"]);
        assert_eq!(c.click.max_query_bytes, 4096);
        assert!(c.signing.required && c.signing.keys.is_empty());
        // A section given in part keeps the defaults of the rest.
        let c = Config::parse("events:\n  batch_max: 7\n").unwrap();
        assert_eq!(c.events.batch_max, 7);
        assert_eq!(c.events.flush_interval_ms, 100);
    }

    #[test]
    fn problems_read_as_key_and_what_to_fix() {
        let mut p = Problems::default();
        p.push("listen", "give at least one address");
        p.push("", "a file-level problem");
        assert_eq!(
            p.lines(),
            ["listen: give at least one address", "a file-level problem"]
        );
        assert_eq!(p.clone().or(()), Err(p));
        assert_eq!(Problems::default().or(1), Ok(1));
    }
}

/// `backend`: the activity rules `clickedge rescore` runs over stored
/// clicks, and the strike ladder's thresholds (docs/methodology.md).
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    pub click_flood: ClickFloodRule,
    pub address_spread: AddressSpreadRule,
    pub publisher_spike: PublisherSpikeRule,
    pub impression_cycling: ImpressionCyclingRule,
    pub strikes: StrikesConfig,
}

/// `click_flood`: more than `max_clicks` counted clicks from one stored
/// address on one campaign within `window_seconds`; the clicks past the
/// limit are invalid.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct ClickFloodRule {
    #[default = true]
    pub enabled: bool,
    #[default = 30]
    pub max_clicks: u32,
    #[default = 60]
    pub window_seconds: u64,
}

/// `address_spread`: one stored address clicking more than
/// `max_campaigns` campaigns, or more than `max_publishers` publishers,
/// within `window_seconds`.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct AddressSpreadRule {
    #[default = true]
    pub enabled: bool,
    #[default = 20]
    pub max_campaigns: u32,
    #[default = 20]
    pub max_publishers: u32,
    #[default = 600]
    pub window_seconds: u64,
}

/// `publisher_spike`: a publisher's counted clicks in one hour above
/// `factor` times its hourly mean over the `baseline_hours` before, and
/// above `min_clicks`; the clicks past that allowance are invalid.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct PublisherSpikeRule {
    #[default = true]
    pub enabled: bool,
    #[default = 10.0]
    pub factor: f64,
    #[default = 500]
    pub min_clicks: u32,
    #[default = 24]
    pub baseline_hours: u32,
}

/// `impression_cycling`: one stored address and user agent clicking more
/// than `max_impressions` distinct impressions within `window_seconds`.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct ImpressionCyclingRule {
    #[default = true]
    pub enabled: bool,
    #[default = 50]
    pub max_impressions: u32,
    #[default = 3600]
    pub window_seconds: u64,
}

/// The strike ladder: a publisher commits a violation on a day with at
/// least `min_gross_clicks` gross clicks of which more than
/// `max_invalid_share` are invalid.
#[derive(Debug, Clone, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct StrikesConfig {
    #[default = 100]
    pub min_gross_clicks: u64,
    #[default = 0.5]
    pub max_invalid_share: f64,
    /// Days the first and the second strike hold the publisher.
    #[default(vec![3, 7])]
    pub hold_days: Vec<u32>,
    /// A strike stops counting this many days after it was given.
    #[default = 90]
    pub expiry_days: u32,
}
