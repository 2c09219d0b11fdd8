//! `clickedge`: the command line. Every behaviour lives in the library;
//! this file parses flags and calls it.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use clickedge::click::{self, ClickPolicy, Keys, SignRequest};
use clickedge::edge::serve::{serve, ServeOptions};
use clickedge::ship::sinks::{ClickHouse, SinkOptions};
use clickedge::{Config, Settings};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: each click allocates a few short-lived
/// buffers (the Location, the event line, Pingora's header maps); in the
/// load harness mimalloc served about 2.5% more clicks (see docs/benchmarks.md,
/// "Measured choices").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    Serve {
        /// The config file (paths in it are relative to the working directory).
        #[arg(long, default_value = "conf/clickedge.yaml")]
        config: PathBuf,
        #[command(flatten)]
        flags: ServeFlags,
        /// Take the listening sockets over from the running process (graceful upgrade).
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate the config and the files it names, with serve's flags
    /// applied as serve would; exit non-zero on any problem.
    Check {
        /// The config file (paths in it are relative to the working directory).
        #[arg(long, default_value = "conf/clickedge.yaml")]
        config: PathBuf,
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Summarise clicks: gross, valid, invalid (per reason) and test, per group.
    Report {
        #[command(flatten)]
        store: StoreArgs,
        /// From this time on (RFC 3339 or YYYY-MM-DD, UTC), inclusive.
        #[arg(long)]
        from: Option<String>,
        /// Up to this time, exclusive.
        #[arg(long)]
        to: Option<String>,
        /// Group by any of campaign,publisher,day,device,country,platform.
        #[arg(long, value_delimiter = ',')]
        by: Vec<String>,
        /// table, json or csv.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Remove personal detail from stored clicks once it is old enough
    /// (privacy.retention): from ClickHouse, or from the local spool.
    Retention {
        /// The config file (paths in it are relative to the working directory).
        #[arg(long, default_value = "conf/clickedge.yaml")]
        config: PathBuf,
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
    },
    /// Run the activity rules over stored clicks and record what they find
    /// as adjustments (the click log is never rewritten).
    Rescore {
        #[command(flatten)]
        store: StoreArgs,
        /// From this time on (RFC 3339 or YYYY-MM-DD, UTC); default: 24 hours ago.
        #[arg(long)]
        from: Option<String>,
        /// Up to this time, exclusive; default: now.
        #[arg(long)]
        to: Option<String>,
    },
    /// Freeze a month's report: later reports of it read these numbers,
    /// and later adjustments show as credits.
    Freeze {
        #[command(flatten)]
        store: StoreArgs,
        /// The month, YYYY-MM; it must be over.
        #[arg(long)]
        month: String,
    },
    /// The publisher strike ladder: evaluate a day, list, acknowledge,
    /// appeal, export the status list the edges read.
    Strikes {
        #[command(subcommand)]
        action: StrikesAction,
    },
    /// Signed rules bundles for a fleet: keygen, build, verify.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Print signed click URLs (path and query), one a line; or, with
    /// --template, a tracking template to paste into an ad platform.
    Sign {
        /// The config file (paths in it are relative to the working directory).
        #[arg(long, default_value = "conf/clickedge.yaml")]
        config: PathBuf,
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
    },
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

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (mimalloc.h, v3, which
/// the crate builds by default; v2 numbers it the same): the Rust crate
/// names only some options.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Memory freed by mimalloc goes back to the OS at once instead of after
    // a delay that only later allocations run out: with the default, the
    // resident size stayed at its peak after a burst of connections closed
    // (1,000 idle connections closed: 130 MiB stayed resident; with 0, back
    // to 32 MiB). SAFETY: stores an option value; nothing else runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clickedge: {e:#}");
            ExitCode::from(2)
        }
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

/// The flags of `serve` that override the file (and of `check`, which
/// checks what `serve` would run).
#[derive(clap::Args)]
struct ServeFlags {
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

impl From<ServeFlags> for clickedge::config::Overrides {
    fn from(f: ServeFlags) -> Self {
        clickedge::config::Overrides {
            listen: f.listen,
            data_dir: f.data_dir,
            origin: f.origin,
            sink: f.sink,
        }
    }
}

/// Where a back-end command reads and writes: the local data dir or a
/// ClickHouse.
#[derive(clap::Args, Clone)]
struct StoreArgs {
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

#[derive(Subcommand)]
enum RulesAction {
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

fn rules(action: RulesAction) -> anyhow::Result<ExitCode> {
    use clickedge::bundle;
    let msg = anyhow::Error::msg;
    match action {
        RulesAction::Keygen { out } => {
            if out.exists() {
                bail!("{} exists; a key is never overwritten", out.display());
            }
            let (key, public) = bundle::keygen().map_err(msg)?;
            {
                let mut f = clickedge::files::create_new(&out, 0o600)
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
            let key = bundle::read_key_file(&key).map_err(msg)?;
            let now = std::time::SystemTime::now();
            let version = version.unwrap_or_else(|| {
                now.duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs())
            });
            let bytes = bundle::build(&key, &from, version, now).map_err(msg)?;
            clickedge::files::replace_whole(&out, &bytes)?;
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
            let key = bundle::parse_public_key(&pk).map_err(msg)?;
            let bytes =
                std::fs::read(&bundle).with_context(|| format!("reading {}", bundle.display()))?;
            match bundle::open(&bytes, &key).and_then(|b| {
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

#[derive(Subcommand)]
enum StrikesAction {
    /// Count each publisher's clicks on a day and apply the ladder.
    Evaluate {
        #[command(flatten)]
        store: StoreArgs,
        /// The day, YYYY-MM-DD (UTC).
        #[arg(long)]
        day: String,
    },
    /// Every publisher the ladder knows, with its status on a day.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// The day (default: today, UTC).
        #[arg(long)]
        on: Option<String>,
    },
    /// The owner acknowledged the publisher's latest hold.
    Acknowledge {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        publisher: String,
        #[arg(long)]
        on: Option<String>,
    },
    /// A successful appeal: removes the publisher's latest strike.
    Appeal {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        publisher: String,
        #[arg(long)]
        on: Option<String>,
    },
    /// Write the status list the edges read (ivt.publisher_status_file).
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// The file to write (replaced whole); `-` for standard output.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        on: Option<String>,
    },
}

impl StoreArgs {
    /// The config (its back-end section) and the store named by the flags.
    fn open(self, what: &str) -> anyhow::Result<(Config, clickedge::stored::Store)> {
        use clickedge::stored::Store;
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

/// `--on DAY`, default today (UTC).
fn day_or_today(on: Option<&str>) -> anyhow::Result<clickedge::stored::strikes::Day> {
    use clickedge::stored::strikes::parse_day;
    match on {
        Some(d) => parse_day(d).map_err(anyhow::Error::msg),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64
            / 86_400),
    }
}

fn strikes(action: StrikesAction) -> anyhow::Result<ExitCode> {
    use clickedge::stored::report::{GroupKey, Query};
    use clickedge::stored::strikes::{parse_day, show_day, Ladder};
    let msg = anyhow::Error::msg;
    let store_args = match &action {
        StrikesAction::Evaluate { store, .. }
        | StrikesAction::List { store, .. }
        | StrikesAction::Acknowledge { store, .. }
        | StrikesAction::Appeal { store, .. }
        | StrikesAction::Export { store, .. } => store.clone(),
    };
    let (cfg, store) = store_args.open("strikes")?;
    let sc = &cfg.backend.strikes;
    clickedge::stored::strikes::check_config(sc).map_err(|p| {
        anyhow::anyhow!("the config's backend.strikes section has problems:\n  {p}")
    })?;
    store.prepare().map_err(msg)?;
    let mut ladder = match store.states("strikes").map_err(msg)?.get("ladder") {
        Some(body) => Ladder::from_json(body).map_err(msg)?,
        None => Ladder::default(),
    };
    let save = |l: &Ladder| {
        store
            .put_state("strikes", "ladder", &l.to_json())
            .map_err(msg)
    };
    match action {
        StrikesAction::Evaluate { day, .. } => {
            let d = parse_day(&day).map_err(msg)?;
            let from = clickedge::stored::report::parse_time(&day).map_err(msg)?;
            let q = Query {
                from: Some(from),
                to: Some(from + std::time::Duration::from_secs(86_400)),
                by: vec![GroupKey::Publisher],
            };
            let backend = store.backend().map_err(msg)?;
            let rows = store.report(&q, &backend).map_err(msg)?;
            let by_publisher = rows
                .into_iter()
                .map(|(k, c)| (k.into_iter().next().unwrap_or_default(), c))
                .collect();
            match ladder.evaluate(d, &by_publisher, sc) {
                None => println!("{day}: evaluated before; nothing changed"),
                Some(outcomes) => {
                    save(&ladder)?;
                    for o in &outcomes {
                        println!(
                            "{}\t{}\tgross {}\tinvalid {}",
                            o.publisher, o.what, o.gross, o.invalid
                        );
                    }
                    println!("{day}: {} violation(s)", outcomes.len());
                }
            }
        }
        StrikesAction::List { on, .. } => {
            let d = day_or_today(on.as_deref())?;
            println!("on {}:", show_day(d));
            for line in ladder.list(d, sc) {
                println!("{line}");
            }
        }
        StrikesAction::Acknowledge { publisher, on, .. } => {
            let d = day_or_today(on.as_deref())?;
            ladder.acknowledge(&publisher, d, sc).map_err(msg)?;
            save(&ladder)?;
            println!("{publisher}: acknowledged on {}", show_day(d));
        }
        StrikesAction::Appeal { publisher, on, .. } => {
            let d = day_or_today(on.as_deref())?;
            ladder.appeal(&publisher, d, sc).map_err(msg)?;
            save(&ladder)?;
            println!(
                "{publisher}: appeal upheld on {}; latest strike removed",
                show_day(d)
            );
        }
        StrikesAction::Export { out, on, .. } => {
            let d = day_or_today(on.as_deref())?;
            let text = ladder.export(d, sc);
            if out.as_os_str() == "-" {
                print!("{text}");
            } else {
                clickedge::files::replace_whole(&out, text.as_bytes())?;
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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            flags,
            upgrade,
        } => {
            let overrides = clickedge::config::Overrides::from(flags);
            let mut cfg = Config::load(&config)?;
            init_logs(&cfg.server.log_level, cfg.server.log_request_paths);
            overrides.apply(&mut cfg);
            let mut settings = Settings::build(cfg, Some(config.clone())).map_err(|p| {
                anyhow::anyhow!(
                    "{} with the flags given has problems:\n  {p}",
                    config.display()
                )
            })?;
            settings.overrides = overrides;
            if settings.config.uses_dev_key() {
                tracing::warn!(
                    "serving with the DEVELOPMENT signing key shipped in conf/clickedge.yaml: \
                     anyone can mint clicks for it. Replace signing.keys before production."
                );
            }
            serve(settings, &ServeOptions { upgrade })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, flags } => {
            let mut cfg = Config::load(&config)?;
            clickedge::config::Overrides::from(flags).apply(&mut cfg);
            let (probed, found) = clickedge::settings::probe(&cfg);
            let dev_key = cfg.uses_dev_key();
            let mut warnings = Vec::new();
            let mut problems = match Settings::build(cfg, Some(config.clone())) {
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
            if problems.is_empty() {
                println!("{}: ok", config.display());
                if dev_key {
                    println!("warning: signing.keys uses the shipped development key; replace it before production");
                }
                for w in &warnings {
                    println!("warning: {w}");
                }
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    println!("{}: {p}", config.display());
                }
                println!("{} problem(s)", problems.len());
                Ok(ExitCode::from(1))
            }
        }
        Command::Report {
            store,
            from,
            to,
            by,
            format,
        } => {
            use clickedge::stored::report;
            let q = report::Query {
                from: from
                    .as_deref()
                    .map(report::parse_time)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                to: to
                    .as_deref()
                    .map(report::parse_time)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                by: by
                    .iter()
                    .map(|b| report::GroupKey::parse(b))
                    .collect::<Result<_, _>>()
                    .map_err(anyhow::Error::msg)?,
            };
            let format = report::Format::parse(&format).map_err(anyhow::Error::msg)?;
            let (_, store) = store.open("report")?;
            let backend = store.backend().map_err(anyhow::Error::msg)?;
            let rows = store.report(&q, &backend).map_err(anyhow::Error::msg)?;
            report::write(&mut std::io::stdout().lock(), &q.by, &rows, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention {
            config,
            data_dir,
            sink,
            wait_seconds,
        } => {
            use clickedge::stored::retention;
            let local = data_dir.is_some();
            let cfg = stored_clicks_config(&config, data_dir, sink)?;
            let ages = &cfg.privacy.retention;
            match central_store(&cfg, local) {
                Some(url) => {
                    let ch = clickhouse(
                        &cfg,
                        url,
                        "retention runs on ClickHouse; an HTTP sink's receiver \
                         keeps its own retention; for local data use --data-dir",
                    )?;
                    let done = retention::clickhouse(
                        &ch,
                        ages,
                        std::time::Duration::from_secs(wait_seconds),
                    )?;
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
        Command::Rescore { store, from, to } => {
            use clickedge::stored::{self, activity::Rules};
            let msg = anyhow::Error::msg;
            let now = std::time::SystemTime::now();
            let parse = |t: Option<String>, default| -> anyhow::Result<std::time::SystemTime> {
                t.as_deref()
                    .map(clickedge::stored::report::parse_time)
                    .transpose()
                    .map_err(msg)
                    .map(|t| t.unwrap_or(default))
            };
            let from = parse(from, now - std::time::Duration::from_secs(86_400))?;
            let to = parse(to, now)?;
            let (cfg, store) = store.open("rescore")?;
            let rules = Rules::from_config(&cfg.backend).map_err(|p| {
                anyhow::anyhow!("the config's backend section has problems:\n  {p}")
            })?;
            let r = stored::rescore(&store, &rules, from, to, now).map_err(msg)?;
            let by: Vec<String> = clickedge::ivt::BackendReason::ALL
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
        Command::Freeze { store, month } => {
            let (_, store) = store.open("freeze")?;
            let f = clickedge::stored::freeze(&store, &month, std::time::SystemTime::now())
                .map_err(anyhow::Error::msg)?;
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
        Command::Strikes { action } => strikes(action),
        Command::Rules { action } => rules(action),
        Command::Sign {
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
        } => {
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
                let platform: click::Platform = platform.parse().map_err(|_| {
                    anyhow::anyhow!("--template {platform:?}: use google or microsoft")
                })?;
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
                    policy.max_query_bytes,
                    &policy.allowed_hosts,
                )
                .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
                writeln!(out, "{base}{url}")?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
