//! `serve` and `check`: the proxy, and what it would run checked first.

use super::ConfigArg;
use crate::config::{Config, Overrides};
use crate::serve::{serve, ServeOptions};
use crate::settings::Settings;
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags of `serve` that override the file (and of `check`, which
/// checks what `serve` would run).
#[derive(clap::Args)]
pub(super) struct ServeFlags {
    /// Listen address (repeatable); replaces the config's list.
    #[arg(long)]
    listen: Vec<String>,
    /// The data dir: the spool of events is <DATA_DIR>/clicks/.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// HOST:PORT every non-click request is proxied to.
    #[arg(long)]
    origin: Option<String>,
    /// Central store: clickhouse://HOST:PORT/DATABASE.TABLE,
    /// kafka://HOST:PORT/TOPIC, or an http(s):// NDJSON endpoint.
    #[arg(long)]
    sink: Option<String>,
}

impl From<ServeFlags> for Overrides {
    fn from(f: ServeFlags) -> Self {
        Overrides {
            listen: f.listen,
            data_dir: f.data_dir,
            origin: f.origin,
            sink: f.sink,
        }
    }
}

#[derive(clap::Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    flags: ServeFlags,
    /// Take the listening sockets over from the running process (graceful upgrade).
    #[arg(long)]
    upgrade: bool,
}

impl ServeArgs {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let path = self.config.config;
        let overrides = Overrides::from(self.flags);
        let mut cfg = Config::load(&path)?;
        init_logs(&cfg.server.log_level, cfg.server.log_request_paths);
        overrides.apply(&mut cfg);
        let mut settings = Settings::build(cfg, Some(path.clone())).map_err(|p| {
            anyhow::anyhow!(
                "{} with the flags given has problems:\n  {p}",
                path.display()
            )
        })?;
        settings.overrides = overrides;
        if settings.config.uses_dev_key() {
            tracing::warn!(
                "serving with the DEVELOPMENT signing key shipped in conf/clickedge.yaml: \
                 anyone can mint clicks for it. Replace signing.keys before production."
            );
        }
        serve(
            settings,
            &ServeOptions {
                upgrade: self.upgrade,
            },
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub(super) struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    flags: ServeFlags,
}

impl CheckArgs {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let path = self.config.config;
        let mut cfg = Config::load(&path)?;
        Overrides::from(self.flags).apply(&mut cfg);
        let (probed, found) = crate::settings::probe(&cfg);
        let dev_key = cfg.uses_dev_key();
        let mut warnings = Vec::new();
        let mut problems = match Settings::build(cfg, Some(path.clone())) {
            Ok(s) => {
                warnings.extend(s.server.descriptor_warning);
                warnings.extend(s.policy.bundle_refused.map(|why| {
                    format!("{why}; serve starts without it and takes the next good one")
                }));
                Vec::new()
            }
            Err(p) => p.lines(),
        };
        problems.extend(probed.iter().map(|p| p.to_string()));
        if let Some(msg) = found {
            println!("sink: {msg}");
        }
        if !problems.is_empty() {
            for p in &problems {
                println!("{}: {p}", path.display());
            }
            println!("{} problem(s)", problems.len());
            return Ok(ExitCode::from(1));
        }
        println!("{}: ok", path.display());
        if dev_key {
            println!(
                "warning: signing.keys uses the shipped development key; replace it before production"
            );
        }
        for w in &warnings {
            println!("warning: {w}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Server logs on stderr: `RUST_LOG` when set, else `server.log_level`.
/// Pingora's own debug and trace lines print whole request lines and
/// headers: unless `server.log_request_paths` is set, its crates log at
/// `info` at most, whatever the general level (a filter that names them
/// explicitly is the operator's choice).
fn init_logs(level: &str, log_paths: bool) {
    let given = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    let mut filter = tracing_subscriber::EnvFilter::try_new(&given)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if !log_paths {
        for target in ["pingora_core", "pingora_proxy", "pingora"] {
            if !given.contains(target) {
                if let Ok(d) = format!("{target}=info").parse() {
                    filter = filter.add_directive(d);
                }
            }
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
