//! `rules keygen`, `rules build`, `rules verify`: the signed bundles a
//! fleet's edges poll (docs/contract.md §8).

use crate::bundle;
use crate::config::Config;
use anyhow::{bail, Context};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub(super) enum RulesAction {
    /// Write a new Ed25519 secret key to KEYFILE and print its public key
    /// (for the edges' rules.public_key).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Pack the lists in DIR into a bundle signed with KEYFILE.
    Build {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The bundle's version; default: the current Unix time, so each
        /// build is newer than the last.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Check a bundle against a public key (default: the config's
    /// rules.public_key).
    Verify {
        bundle: PathBuf,
        #[arg(long)]
        public_key: Option<String>,
        #[arg(long, default_value = "conf/clickedge.yaml")]
        config: PathBuf,
    },
}

impl RulesAction {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            RulesAction::Keygen { out } => {
                if out.exists() {
                    bail!("{} exists; a key is never overwritten", out.display());
                }
                let (key, public) = bundle::keygen()?;
                {
                    let mut f = crate::files::create_new(&out, 0o600)
                        .with_context(|| format!("writing {}", out.display()))?;
                    f.write_all(bundle::key_file_text(&key).as_bytes())?;
                }
                println!("{public}");
                eprintln!(
                "secret key in {} (keep it off the edges); give the edges rules.public_key: {public}",
                out.display()
            );
            }
            RulesAction::Build {
                key,
                from,
                out,
                version,
            } => {
                let key = bundle::read_key_file(&key)?;
                let now = std::time::SystemTime::now();
                let version = version.unwrap_or_else(|| {
                    now.duration_since(std::time::UNIX_EPOCH)
                        .map_or(1, |d| d.as_secs())
                });
                let bytes = bundle::build(&key, &from, version, now)?;
                crate::files::replace_whole(&out, &bytes)?;
                println!(
                    "{}: version {version}, {} bytes",
                    out.display(),
                    bytes.len()
                );
            }
            RulesAction::Verify {
                bundle,
                public_key,
                config,
            } => {
                let pk = match public_key {
                    Some(k) => k,
                    None => Config::load(&config)?.rules.public_key.with_context(|| {
                        format!(
                            "no --public-key and no rules.public_key in {}",
                            config.display()
                        )
                    })?,
                };
                let key = bundle::parse_public_key(&pk)?;
                let bytes = std::fs::read(&bundle)
                    .with_context(|| format!("reading {}", bundle.display()))?;
                match bundle::open(&bytes, &key)
                    .map_err(|e| e.to_string())
                    .and_then(|b| {
                        b.check()
                            .map(|()| b)
                            .map_err(|p| format!("a list would not load: {p}"))
                    }) {
                    Ok(b) => {
                        println!(
                            "{}: ok, version {}, built {}",
                            bundle.display(),
                            b.version,
                            b.created
                        );
                        for (name, text) in &b.files {
                            println!("  {name}: {} lines", text.lines().count());
                        }
                    }
                    Err(e) => {
                        println!("{}: refused: {e}", bundle.display());
                        return Ok(ExitCode::from(1));
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
