//! The `clickedge` command line: one file per family of commands, each
//! parsing its flags, calling the library and printing what it returns.
//! No behaviour lives here; `anyhow` does, as the binary's edge (every
//! library error is a typed one, turned into a message here).
//!
//! - `serve` and `check` in `cli/serve.rs`;
//! - the commands over stored clicks (`report`, `retention`, `rescore`,
//!   `freeze`, `strikes`) in `cli/stored.rs`;
//! - `rules keygen|build|verify` in `cli/bundle.rs`;
//! - `sign` (click URLs and tracking templates) in `cli/sign.rs`;
//! - `conversions export` in `cli/conversions.rs`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod bundle;
mod conversions;
mod serve;
mod sign;
mod stored;

/// Runs the command line of `std::env::args`: what the shipped binary's
/// `main` does. Exit 0 on success, 1 when a check or verification finds
/// problems, 2 when the command could not run (with the reason on stderr).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clickedge: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[derive(Parser)]
#[command(
    name = "clickedge",
    version,
    about = "Edge proxy for ad-click redirection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve(serve::ServeArgs),
    /// Validate the config and the files it names, with serve's flags
    /// applied as serve would; exit non-zero on any problem.
    Check(serve::CheckArgs),
    /// Summarise clicks: gross, valid, invalid (per reason) and test, per group.
    Report(stored::ReportArgs),
    /// Remove personal detail from stored clicks once it is old enough
    /// (privacy.retention): from ClickHouse, or from the local spool.
    Retention(stored::RetentionArgs),
    /// Run the activity rules over stored clicks and record what they find
    /// as adjustments (the click log is never rewritten).
    Rescore(stored::RescoreArgs),
    /// Freeze a month's report: later reports of it read these numbers,
    /// and later adjustments show as credits.
    Freeze(stored::FreezeArgs),
    /// The publisher strike ladder: evaluate a day, list, acknowledge,
    /// appeal, export the status list the edges read.
    Strikes {
        #[command(subcommand)]
        action: stored::StrikesAction,
    },
    /// Signed rules bundles for a fleet: keygen, build, verify.
    Rules {
        #[command(subcommand)]
        action: bundle::RulesAction,
    },
    /// Print signed click URLs (path and query), one a line; or, with
    /// --template, a tracking template to paste into an ad platform.
    Sign(sign::SignArgs),
    /// Conversions: export the attributed ones to an ad platform's
    /// offline-conversion import file.
    Conversions {
        #[command(subcommand)]
        action: conversions::ConversionsAction,
    },
}

impl Command {
    fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Serve(a) => a.run(),
            Command::Check(a) => a.run(),
            Command::Report(a) => a.run(),
            Command::Retention(a) => a.run(),
            Command::Rescore(a) => a.run(),
            Command::Freeze(a) => a.run(),
            Command::Strikes { action } => action.run(),
            Command::Rules { action } => action.run(),
            Command::Sign(a) => a.run(),
            Command::Conversions { action } => action.run(),
        }
    }
}

/// `--config`, for every command that reads the config file.
#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// The config file (paths in it are relative to the working directory).
    #[arg(long, default_value = "conf/clickedge.yaml")]
    config: PathBuf,
}
