//! One place that turns a config file into everything the edge runs on.
//!
//! [`Settings::build`] asks each owner to build its runtime part from its
//! own section (the click policy and the lists, the spool, the shipper, the
//! limits, the listeners), collects every [`Problem`] at once, and hands
//! back the parts only when there is none. `serve`, `check` and reload go
//! through it, so a config that one accepts, the others accept too. The
//! commands that read only a section or two build just those parts through
//! the same owners (`sign`: [`crate::click::ClickPolicy::from_config`];
//! `report` and `retention`: the sink's options), so a bot list or a
//! certificate missing on an analyst's machine does not stop a report.
//!
//! Invariants: building reads the files the config names (lists, the
//! country database, the TLS pair) but writes nothing and starts nothing;
//! [`Settings::probe`] is the one step with side effects (a probe file in
//! the data dir, a connection to the sink), and only `check` runs it.

use crate::config::{Config, ConfigError, Overrides, Problem, Problems};
use crate::decide::DeciderSettings;
use crate::edge::process::ServerSettings;
use crate::policy::Policy;
use crate::ship::sinks::SinkOptions;
use crate::ship::{ShipConfig, SinkUrl};
use crate::spool::SpoolConfig;
use std::path::{Path, PathBuf};

/// A config that loaded and checked, with every runtime part built.
pub struct Settings {
    /// The config as given (with any flags applied).
    pub(crate) config: Config,
    /// The file it came from, re-read on reload; `None`: built in code.
    pub(crate) path: Option<PathBuf>,
    /// The command line's flags, applied again at every reload.
    pub(crate) overrides: Overrides,
    pub(crate) policy: Policy,
    pub(crate) core: DeciderSettings,
    /// Most bytes of a beacon's POST body read (and ignored).
    pub(crate) beacon_max_body: usize,
    pub(crate) spool: SpoolConfig,
    pub(crate) ship: ShipConfig,
    /// The central sink's URL, parsed, and its options, when one is
    /// configured.
    pub(crate) sink: Option<(SinkUrl, SinkOptions)>,
    pub(crate) server: ServerSettings,
}

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or is not the config's YAML.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file was read; these keys are wrong, every one named.
    #[error("{} has problems:\n  {problems}", .path.display())]
    Problems {
        /// The config file.
        path: PathBuf,
        /// Every problem, each with its key.
        problems: Problems,
    },
}

impl SettingsError {
    /// Every problem, one line each (the unreadable file is one).
    pub fn lines(&self) -> Vec<String> {
        match self {
            SettingsError::Config(e) => vec![e.to_string()],
            SettingsError::Problems { problems, .. } => problems.lines(),
        }
    }
}

impl Settings {
    /// Reads `path` and builds.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        Settings::load_with(path, &Overrides::default())
    }

    /// Reads `path`, applies the command line's flags, and builds; the
    /// reloader applies the same flags to every later read of the file.
    pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Settings, SettingsError> {
        let mut config = Config::load(path)?;
        overrides.apply(&mut config);
        let mut settings =
            Settings::build(config, Some(path.to_path_buf())).map_err(|problems| {
                SettingsError::Problems {
                    path: path.to_path_buf(),
                    problems,
                }
            })?;
        settings.overrides = overrides.clone();
        Ok(settings)
    }

    /// Checks every section and builds every part; `Err` lists every
    /// problem, each naming its key (and the file and line of a list).
    pub fn build(config: Config, path: Option<PathBuf>) -> Result<Settings, Problems> {
        let mut p = Problems::default();
        let server = p.take(ServerSettings::from_config(&config));
        let policy = p.take(Policy::load(&config));
        let spool = p.take(SpoolConfig::from_config(&config.events, &config.data_dir));
        let ship = p.take(ShipConfig::from_config(&config.sink, &config.data_dir));
        p.take(crate::edge::limits::Limits::check_config(&config.limits));
        p.take(crate::privacy::Privacy::check_config(&config.privacy));
        // Read by `rescore` and `strikes`, not by `serve`; checked here so
        // `check` names its problems before a back-end run trips on them.
        p.take(crate::stored::activity::Rules::from_config(&config.backend));
        p.take(crate::stored::strikes::check_config(
            &config.backend.strikes,
        ));
        if !config.edge_id.is_empty() && !crate::click::is_id(&config.edge_id, 128) {
            p.push(
                "edge_id",
                format!(
                    "{:?} must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -",
                    config.edge_id
                ),
            );
        }
        let sink = match config.sink.url.as_deref().map(SinkUrl::parse) {
            Some(Ok(url)) => Some((url, SinkOptions::from_config(&config.sink))),
            Some(Err(e)) => {
                p.push("sink.url", e.to_string());
                None
            }
            None => None,
        };
        let (Some(server), Some(policy), Some(spool), Some(ship)) = (server, policy, spool, ship)
        else {
            return Err(p);
        };
        let core = DeciderSettings {
            clickid_param: config.click.clickid_param.clone(),
            robots_txt: config.click.robots_txt,
            edge_id: config.edge_id(),
            duplicate_window: std::time::Duration::from_secs(config.ivt.duplicate_window_seconds),
            duplicate_max_entries: config.ivt.duplicate_max_entries,
        };
        p.or(Settings {
            beacon_max_body: config.click.beacon_max_body_bytes,
            core,
            policy,
            spool,
            ship,
            sink,
            server,
            path,
            overrides: Overrides::default(),
            config,
        })
    }
}

/// What `check` adds to building: the data dir can be written, and the
/// sink answers (the second value says what it found). Runs whether or not
/// the rest of the config built, so `check` names every problem at once.
pub(crate) fn probe(config: &Config) -> (Vec<Problem>, Option<String>) {
    let mut problems = Vec::new();
    let clicks = config.data_dir.join("clicks");
    let writable = std::fs::create_dir_all(&clicks).and_then(|()| {
        let probe = clicks.join(format!(".check-{}", std::process::id()));
        crate::files::create_new(&probe, 0o644)?;
        std::fs::remove_file(&probe)
    });
    if let Err(e) = writable {
        problems.push(Problem::new(
            "data_dir",
            format!("{} cannot be written: {e}", config.data_dir.display()),
        ));
    }
    let mut found = None;
    // Unparsed: this runs whether or not the config built; a URL that
    // does not parse is `build`'s problem to name.
    if let Some(Ok(url)) = config.sink.url.as_deref().map(SinkUrl::parse) {
        let opts = SinkOptions::from_config(&config.sink);
        let mut sinks = vec![crate::ship::sinks::build(&url, &opts)];
        // Conversions on: their table or topic must be there too.
        if !config.conversions.keys.is_empty() {
            sinks.push(crate::ship::sinks::build_conversions(&url, &opts));
        }
        for sink in sinks {
            match sink.check() {
                Ok(msg) => {
                    found = Some(match found {
                        Some(prev) => format!("{prev}; {msg}"),
                        None => msg,
                    })
                }
                Err(e) => problems.push(Problem::new(
                    format!("sink {}", sink.describe()),
                    e.to_string(),
                )),
            }
        }
    }
    (problems, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_builds() {
        let text = include_str!("../conf/clickedge.yaml");
        let c = Config::parse(text).expect("shipped config parses");
        assert!(
            c.uses_dev_key(),
            "shipped config carries the marked dev key"
        );
        assert_eq!(c.listen, Config::default().listen);
        let s = Settings::build(c, None).map_err(|p| p.lines()).unwrap();
        assert_eq!(s.core.clickid_param, "clickid");
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let c = Config::parse(
            "listen: ['nope']\norigin: 'bad origin'\nsigning:\n  required: false\n  keys: [{id: 'a b', secret: short}]\nclick:\n  clickid_param: ''\nevents:\n  batch_max: 0\nlimits:\n  max_headers: 1\n",
        )
        .unwrap();
        let all = Settings::build(c, None).err().unwrap().lines().join("\n");
        for needle in [
            "listen: \"nope\"",
            "origin",
            "allowed_landing_hosts",
            "keys[0].id",
            "keys[0].secret",
            "clickid_param",
            "events.batch_max: must be greater than 0",
            "limits.max_headers",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in\n{all}");
        }
    }
}
