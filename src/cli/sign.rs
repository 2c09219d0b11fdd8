//! `sign`: signed click URLs and ad platforms' tracking templates, minted
//! as an ad server would (docs/contract.md §3).

use super::ConfigArg;
use crate::click::{self, ClickPolicy, Keys, SignRequest};
use crate::config::Config;
use anyhow::Context;
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(super) struct SignArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Landing page, an absolute http or https URL.
    #[arg(long, required_unless_present = "template")]
    landing: Option<String>,
    /// Print a tracking template for this ad platform (google or
    /// microsoft): it fills in the landing URL and its click id.
    #[arg(long, conflicts_with_all = ["landing", "impression", "test", "child_directed", "count"])]
    template: Option<String>,
    /// With --template: the landing hosts the template may send to,
    /// comma-separated (shop.example, *.shop.example).
    #[arg(long, value_delimiter = ',', requires = "template")]
    landing_host: Vec<String>,
    /// Where the edge is reached, put before the path
    /// (https://clicks.example); default: the path and query alone.
    #[arg(long)]
    base: Option<String>,
    /// The click expires this many seconds from now (a signed `exp`):
    /// later clicks are still redirected, never billed.
    #[arg(long)]
    ttl: Option<u64>,
    /// Campaign id: 1 to 128 of A-Z a-z 0-9 . _ ~ -
    #[arg(long)]
    campaign: String,
    /// Impression id (same alphabet); default: a new unique id.
    #[arg(long, conflicts_with = "count")]
    impression: Option<String>,
    /// Publisher id (same alphabet); default: none.
    #[arg(long)]
    publisher: Option<String>,
    /// Mark as a test click (never billable).
    #[arg(long)]
    test: bool,
    /// The ad runs on a service directed to children (cd=1): the click
    /// is counted, nothing personal is logged.
    #[arg(long)]
    child_directed: bool,
    /// Print this many URLs, one a line, each with its own impression
    /// (for load tools: `benches/load/urls.lua` walks through them).
    #[arg(long, default_value_t = 1)]
    count: u64,
}

impl SignArgs {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let SignArgs {
            config,
            landing,
            template,
            landing_host,
            base,
            ttl,
            campaign,
            impression,
            publisher,
            test,
            child_directed,
            count,
        } = self;
        let config = config.config;
        // Keys the edge would refuse to start with, and landing hosts it
        // would refuse to redirect to, sign nothing: the click policy's
        // owner checks the sections it is built from.
        let cfg = Config::load(&config)?;
        let policy = ClickPolicy::from_config(&cfg.signing, &cfg.click).map_err(|p| {
            anyhow::anyhow!(
                "{} has problems (run `clickedge check`):\n  {p}",
                config.display()
            )
        })?;
        let key = cfg
            .signing_key()
            .with_context(|| format!("{} has no signing key to sign with", config.display()))?;
        let keys = Keys::new([(key.id.as_str(), key.secret.as_bytes())]);
        let expires = ttl.map(|t| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_add(t)
        });
        let base = base.as_deref().unwrap_or("").trim_end_matches('/');
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if let Some(platform) = template {
            let platform: click::Platform = platform
                .parse()
                .map_err(|_| anyhow::anyhow!("--template {platform:?}: use google or microsoft"))?;
            let req = click::TemplateRequest {
                platform,
                campaign: &campaign,
                publisher: publisher.as_deref(),
                landing_hosts: &landing_host,
                expires,
            };
            let url = click::sign_template(&keys, &key.id, &req, &policy)
                .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
            writeln!(out, "{base}{url}")?;
            out.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        let landing = landing.unwrap_or_default();
        for _ in 0..count {
            let impression = impression
                .clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
            let req = SignRequest {
                landing: &landing,
                campaign: &campaign,
                impression: &impression,
                publisher: publisher.as_deref(),
                test,
                child_directed,
                expires,
            };
            let url = click::sign_for(
                &keys,
                &key.id,
                &req,
                policy.max_query_bytes(),
                policy.allowed_hosts(),
            )
            .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
            writeln!(out, "{base}{url}")?;
        }
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}
