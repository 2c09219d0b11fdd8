//! The commands over stored clicks, from the central store or a data dir:
//! `report`, `retention`, `rescore`, `freeze` and `strikes`.

use super::ConfigArg;
use crate::config::Config;
use crate::ship::sinks::{ClickHouse, SinkOptions};
use crate::stored::strikes::{self, Ladder, Settlement};
use crate::stored::{self, activity::Rules, report};
use crate::time::{parse_day, parse_time, show_day, Day, DAY};
use anyhow::bail;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// The stretch of time a command reads, each end parsed once.
#[derive(clap::Args)]
struct Window {
    /// From this time on (RFC 3339 or YYYY-MM-DD, UTC), inclusive;
    /// rescore's default: 24 hours ago.
    #[arg(long, value_parser = parse_time)]
    from: Option<SystemTime>,
    /// Up to this time, exclusive; rescore's default: now.
    #[arg(long, value_parser = parse_time)]
    to: Option<SystemTime>,
}

#[derive(clap::Args)]
pub(super) struct ReportArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    window: Window,
    /// Group by any of these, comma-separated.
    #[arg(long, value_delimiter = ',', value_enum)]
    by: Vec<report::GroupKey>,
    #[arg(long, value_enum, default_value = "table")]
    format: report::Format,
}

impl ReportArgs {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let ReportArgs {
            store,
            window,
            by,
            format,
        } = self;
        let (cfg, store) = store.open("report")?;
        let q = report::Query {
            from: window.from,
            to: window.to,
            by,
            window_days: cfg.conversions.window_days,
        };
        let r = store.report(&q, &store.amendments()?)?;
        report::write(&mut std::io::stdout().lock(), &q.by, &r, format)?;
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub(super) struct RetentionArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Rewrite the local spool of this data dir.
    #[arg(long, conflicts_with = "sink")]
    data_dir: Option<PathBuf>,
    /// This ClickHouse (clickhouse://HOST:PORT/DATABASE.TABLE); default:
    /// the config's sink, else the config's data dir.
    #[arg(long)]
    sink: Option<String>,
    /// How long to wait for ClickHouse to finish its mutations.
    #[arg(long, default_value_t = 600)]
    wait_seconds: u64,
}

impl RetentionArgs {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let RetentionArgs {
            config,
            data_dir,
            sink,
            wait_seconds,
        } = self;
        use crate::stored::retention;
        let local = data_dir.is_some();
        let cfg = stored_clicks_config(&config.config, data_dir, sink)?;
        let ages = &cfg.privacy.retention;
        match central_store(&cfg, local) {
            Some(url) => {
                let ch = clickhouse(
                    &cfg,
                    url,
                    "retention runs on ClickHouse; an HTTP sink's receiver \
                     keeps its own retention; for local data use --data-dir",
                )?;
                let done =
                    retention::clickhouse(&ch, ages, std::time::Duration::from_secs(wait_seconds))?;
                for s in done {
                    println!("done: {s}");
                }
            }
            None => {
                let dir = &cfg.data_dir;
                let cut = retention::Cutoffs::new(ages, std::time::SystemTime::now());
                let o = retention::local(dir, &cut)?;
                println!(
                    "{}: {} records read, {} changed in {} segments; {} damaged records \
                     copied as they were; {} open or part-shipped segments left alone",
                    dir.display(),
                    o.records_seen,
                    o.records_changed,
                    o.segments_rewritten,
                    o.damaged,
                    o.skipped_segments
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub(super) struct RescoreArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    window: Window,
}

impl RescoreArgs {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let RescoreArgs { store, window } = self;
        let now = SystemTime::now();
        let from = window.from.unwrap_or(now - DAY);
        let to = window.to.unwrap_or(now);
        let (cfg, store) = store.open("rescore")?;
        let rules = Rules::from_config(&cfg.backend)
            .map_err(|p| anyhow::anyhow!("the config's backend section has problems:\n  {p}"))?;
        let r = stored::rescore(&store, &rules, from, to, now)?;
        let by: Vec<String> = crate::ivt::BackendReason::ALL
            .iter()
            .zip(r.new)
            .map(|(reason, n)| format!("{} {n}", reason.as_str()))
            .collect();
        println!(
            "{}: {} counted clicks read; {} new adjustments ({}); {} found again, adjusted before",
            r.run,
            r.clicks_read,
            r.total_new(),
            by.join(", "),
            r.already
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub(super) struct FreezeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The month, YYYY-MM; it must be over.
    #[arg(long)]
    month: String,
}

impl FreezeArgs {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let FreezeArgs { store, month } = self;
        let (_, store) = store.open("freeze")?;
        let f = crate::stored::freeze(&store, &month, std::time::SystemTime::now())?;
        let total = f
            .rows
            .values()
            .fold((0, 0), |(g, v), c| (g + c.gross(), v + c.valid));
        println!(
            "{month}: frozen ({} gross clicks, {} valid); later adjustments show as credits",
            total.0, total.1
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// The config of a command over stored clicks (`report`, `retention`),
/// with its flags applied. Only the sections it reads matter: a bot list or
/// a certificate missing on an analyst's machine does not stop a report.
fn stored_clicks_config(
    path: &Path,
    data_dir: Option<PathBuf>,
    sink: Option<String>,
) -> anyhow::Result<Config> {
    let mut cfg = Config::load(path)?;
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    if sink.is_some() {
        cfg.sink.url = sink;
    }
    Ok(cfg)
}

/// The central store when one is named (flag or config) and no data dir
/// was asked for; `None`: the local spool.
fn central_store(cfg: &Config, local: bool) -> Option<&str> {
    cfg.sink.url.as_deref().filter(|_| !local)
}

/// The ClickHouse a command reads (`report`, `retention`), from a sink URL.
fn clickhouse(cfg: &Config, url: &str, what: &str) -> anyhow::Result<ClickHouse> {
    let options = SinkOptions::from_config(&cfg.sink);
    ClickHouse::from_url(url, &options).map_err(|e| anyhow::anyhow!("{e} ({what})"))
}

/// Where a back-end command reads and writes: the local data dir or a
/// ClickHouse.
#[derive(clap::Args, Clone)]
pub(super) struct StoreArgs {
    /// The config file (paths in it are relative to the working directory).
    #[arg(long, default_value = "conf/clickedge.yaml")]
    config: PathBuf,
    /// The local data dir (clicks, adjustments and state under it).
    #[arg(long, conflicts_with = "sink")]
    data_dir: Option<PathBuf>,
    /// This ClickHouse (clickhouse://HOST:PORT/DATABASE.TABLE); default:
    /// the config's sink, else the config's data dir.
    #[arg(long)]
    sink: Option<String>,
}

#[derive(clap::Subcommand)]
pub(super) enum StrikesAction {
    /// Count each publisher's clicks on a day and apply the ladder.
    Evaluate {
        #[command(flatten)]
        store: StoreArgs,
        /// The day, YYYY-MM-DD (UTC).
        #[arg(long, value_parser = parse_day)]
        day: Day,
    },
    /// Every publisher the ladder knows, with its status on a day.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// The day (default: today, UTC).
        #[arg(long, value_parser = parse_day)]
        on: Option<Day>,
    },
    /// The owner acknowledged the publisher's latest hold.
    Acknowledge(Settle),
    /// A successful appeal: removes the publisher's latest strike.
    Appeal(Settle),
    /// Write the status list the edges read (ivt.publisher_status_file).
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// The file to write (replaced whole); `-` for standard output.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_parser = parse_day)]
        on: Option<Day>,
    },
}

impl StoreArgs {
    /// The config (its back-end section) and the store named by the flags.
    pub(super) fn open(self, what: &str) -> anyhow::Result<(Config, crate::stored::Store)> {
        use crate::stored::Store;
        let local = self.data_dir.is_some();
        let cfg = stored_clicks_config(&self.config, self.data_dir, self.sink)?;
        let store = match central_store(&cfg, local) {
            Some(url) => Store::ClickHouse(clickhouse(
                &cfg,
                url,
                &format!("{what} reads ClickHouse; for local data use --data-dir"),
            )?),
            None => {
                let dir = &cfg.data_dir;
                if !dir.join("clicks").is_dir() {
                    bail!(
                        "no spool at {}: give the data dir `serve` writes to (--data-dir, or data_dir in the config)",
                        dir.join("clicks").display()
                    );
                }
                Store::Local(dir.clone())
            }
        };
        Ok((cfg, store))
    }
}

/// `strikes acknowledge` and `strikes appeal`: which publisher, and when.
#[derive(clap::Args)]
pub(super) struct Settle {
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long)]
    publisher: String,
    /// The day (default: today, UTC).
    #[arg(long, value_parser = parse_day)]
    on: Option<Day>,
}

/// Settles the publisher's latest strike and saves the ladder.
fn settle(
    store: &stored::Store,
    cfg: &crate::config::StrikesConfig,
    publisher: &str,
    on: Day,
    how: Settlement,
) -> anyhow::Result<()> {
    let mut ladder = Ladder::load(store)?;
    ladder.settle(publisher, on, cfg, how)?;
    ladder.save(store)?;
    Ok(())
}

/// `--on DAY`, default today (UTC).
fn day_or_today(on: Option<Day>) -> Day {
    on.unwrap_or_else(|| crate::time::day_of(SystemTime::now()))
}

impl StrikesAction {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let action = self;
        let store_args = match &action {
            StrikesAction::Evaluate { store, .. }
            | StrikesAction::List { store, .. }
            | StrikesAction::Acknowledge(Settle { store, .. })
            | StrikesAction::Appeal(Settle { store, .. })
            | StrikesAction::Export { store, .. } => store.clone(),
        };
        let (cfg, store) = store_args.open("strikes")?;
        let sc = &cfg.backend.strikes;
        strikes::check_config(sc).map_err(|p| {
            anyhow::anyhow!("the config's backend.strikes section has problems:\n  {p}")
        })?;
        match action {
            StrikesAction::Evaluate { day, .. } => {
                let shown = show_day(day);
                match strikes::evaluate_day(&store, day, sc)? {
                    None => println!("{shown}: evaluated before; nothing changed"),
                    Some(outcomes) => {
                        for o in &outcomes {
                            println!(
                                "{}\t{}\tgross {}\tinvalid {}",
                                o.publisher, o.what, o.gross, o.invalid
                            );
                        }
                        println!("{shown}: {} violation(s)", outcomes.len());
                    }
                }
            }
            StrikesAction::List { on, .. } => {
                let ladder = Ladder::load(&store)?;
                let d = day_or_today(on);
                println!("on {}:", show_day(d));
                for line in ladder.list(d, sc) {
                    println!("{line}");
                }
            }
            StrikesAction::Acknowledge(Settle { publisher, on, .. }) => {
                let d = day_or_today(on);
                settle(&store, sc, &publisher, d, Settlement::Acknowledged)?;
                println!("{publisher}: acknowledged on {}", show_day(d));
            }
            StrikesAction::Appeal(Settle { publisher, on, .. }) => {
                let d = day_or_today(on);
                settle(&store, sc, &publisher, d, Settlement::Appealed)?;
                println!(
                    "{publisher}: appeal upheld on {}; latest strike removed",
                    show_day(d)
                );
            }
            StrikesAction::Export { out, on, .. } => {
                let ladder = Ladder::load(&store)?;
                let d = day_or_today(on);
                let text = ladder.export(d, sc);
                if out.as_os_str() == "-" {
                    print!("{text}");
                } else {
                    crate::files::replace_whole(&out, text.as_bytes())?;
                    eprintln!(
                        "{}: {} publisher(s) on hold or suspended on {}",
                        out.display(),
                        text.lines().filter(|l| !l.starts_with('#')).count(),
                        show_day(d)
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
