//! `clickedge conversions export`: the ad platform's offline-conversion
//! import file (docs/contract.md §9), from the data dir or ClickHouse.

use super::stored::StoreArgs;
use crate::click::Platform;
use crate::stored::export::{self, ExportQuery};
use crate::time::parse_time;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(clap::Subcommand)]
pub(super) enum ConversionsAction {
    /// Write the platform's offline-conversion import file (CSV) with the
    /// attributed conversions it may have and has not had yet.
    Export(ExportArgs),
}

impl ConversionsAction {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ConversionsAction::Export(a) => a.run(),
        }
    }
}

#[derive(clap::Args)]
pub(super) struct ExportArgs {
    /// google or microsoft.
    #[arg(long, value_enum)]
    platform: Platform,
    #[command(flatten)]
    store: StoreArgs,
    /// Conversions from this time on (RFC 3339 or YYYY-MM-DD, UTC), inclusive.
    #[arg(long, value_parser = parse_time)]
    from: Option<SystemTime>,
    /// Up to this time, exclusive.
    #[arg(long, value_parser = parse_time)]
    to: Option<SystemTime>,
    /// The file to write; it must not exist.
    #[arg(long)]
    out: PathBuf,
}

impl ExportArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let (cfg, store) = self.store.open("conversions export")?;
        let q = ExportQuery {
            platform: self.platform,
            from: self.from,
            to: self.to,
            window_days: cfg.conversions.window_days,
            actions: &cfg.conversions.actions,
            out: &self.out,
        };
        let e = export::export(&store, &q, SystemTime::now())?;
        println!(
            "{}: {} conversions written for {}; withheld: {} not attributed, {} without a {}, \
             {} by data_use, {} by consent, {} already exported",
            self.out.display(),
            e.written,
            self.platform.as_str(),
            e.not_attributed,
            e.no_platform_click_id,
            self.platform.click_param(),
            e.data_use,
            e.consent,
            e.already_exported
        );
        Ok(ExitCode::SUCCESS)
    }
}
