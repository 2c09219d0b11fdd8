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
//!
//! Each default is stated once, beside its field (`#[default = ...]`);
//! a problem that quotes a default reads it from the section's `Default`,
//! and a test holds docs/operations.md's configuration reference to them.
//! The sections are grouped by the module that owns them, one file each.

mod backend;
mod click;
mod conversions;
mod edge;
mod events;
mod ivt;
mod lists;
mod privacy;
mod problems;

pub(crate) use backend::{BackendConfig, PublisherSpikeRule, StrikesConfig};
pub use click::KeyConfig;
pub(crate) use click::{ClickConfig, SigningConfig};
pub(crate) use conversions::{ActionConfig, Category, ConversionsConfig};
pub(crate) use edge::{LimitsConfig, MetricsConfig, ReloadConfig, ServerConfig, TlsConfig};
pub(crate) use events::{EventsConfig, SinkConfig};
pub(crate) use ivt::{ActionKind, BotsConfig, IvtConfig};
pub(crate) use lists::{GeoConfig, RulesConfig};
pub use privacy::IpMode;
pub(crate) use privacy::{PrivacyConfig, RetentionConfig};
pub(crate) use problems::{Problem, Problems};

use serde::Deserialize;
use smart_default::SmartDefault;
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
    #[error("config file {path} is not valid: {error}")]
    Parse { path: PathBuf, error: SyntaxError },
}

/// YAML that does not parse into a [`Config`]: a syntax error, a value of
/// the wrong type, or an unknown key. The message names the line and the
/// key, never the text around them (it can hold a secret).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SyntaxError(Box<serde_saphyr::Error>);

/// The whole file. Every field has a default that works on a fresh checkout.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
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
    /// Conversions reported back by click id (docs/contract.md §9).
    pub conversions: ConversionsConfig,
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
        Self::parse(&text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Parses YAML text; an empty document is the default config.
    pub fn parse(text: &str) -> Result<Config, SyntaxError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        // No snippet of the file in the message: the lines around a typo
        // can hold a signing secret or the sink's password, and a failed
        // reload logs the message.
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options(text, options).map_err(|e| SyntaxError(Box::new(e)))
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
            .chain(&self.conversions.sensitive_term_files)
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
mod tests;
