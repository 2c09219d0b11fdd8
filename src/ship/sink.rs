//! What every sink is: the [`Sink`] trait its shipper calls, its errors,
//! its options from the config, and what every sink does to a batch and a
//! URL before anything leaves the edge (`ip_full` cut, credentials hidden).

use crate::event::Field;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink answered 4xx: it will not take this batch as it is.
    #[error("sink refused the batch: {0}")]
    Rejected(String),
    /// Network error, timeout, or 5xx.
    #[error("sink failed: {0}")]
    Failed(String),
}

pub trait Sink: Send + Sync {
    /// Turns events (one JSON object a line) into the request body. Runs on
    /// the shipper's reading thread, while the previous batch is in flight.
    fn encode(&self, ndjson: &[u8]) -> Result<Vec<u8>, SinkError>;
    /// Sends an encoded batch; `Ok` only on acknowledgement.
    fn send(&self, body: &[u8]) -> Result<(), SinkError>;
    /// For logs: where it sends (no secrets).
    fn describe(&self) -> String;
    /// For `check`: whether the sink is reachable and ready.
    fn check(&self) -> Result<String, CheckError>;
}

/// Why `check` finds a sink not ready; `sink` is its [`Sink::describe`]
/// (no secrets).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// ClickHouse did not answer the query for the table's columns.
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("table {table} does not exist: create it with conf/clickhouse/schema.sql")]
    NoTable { table: String },
    #[error("table {table} does not exist: create it with conf/clickhouse/conversions.sql")]
    NoConversionsTable { table: String },
    #[error("table {table} lacks columns {}: see conf/clickhouse/schema.sql", .columns.join(", "))]
    MissingColumns { table: String, columns: Vec<String> },
    #[error("table {table} lacks columns {}: see conf/clickhouse/conversions.sql", .columns.join(", "))]
    MissingConversionColumns { table: String, columns: Vec<String> },
    #[error("{0}")]
    Url(url::ParseError),
    #[error("{sink}: {error}")]
    Resolve { sink: String, error: std::io::Error },
    #[error("{sink}: no address")]
    NoAddress { sink: String },
    #[error("{sink}: cannot connect to {addr}: {error}")]
    Connect {
        sink: String,
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    /// The Kafka producer could not be built.
    #[error(transparent)]
    Producer(SinkError),
    #[error("{sink}: {error}")]
    Metadata {
        sink: String,
        error: rdkafka::error::KafkaError,
    },
    #[error("{sink}: no such topic")]
    NoSuchTopic { sink: String },
    #[error("{sink}: the topic does not exist (create it, with as many partitions as consumers)")]
    NoPartitions { sink: String },
}

/// Why a ClickHouse query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No answer, or an answer that could not be read.
    #[error(transparent)]
    Request(#[from] ureq::Error),
    /// An answer other than 200, with its text.
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
}

/// The sink's settings from the config.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    pub user: String,
    pub password: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

impl SinkOptions {
    /// From the `sink` section.
    pub fn from_config(s: &crate::config::SinkConfig) -> SinkOptions {
        SinkOptions {
            user: s.user.clone(),
            password: s.password.clone(),
            headers: s
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: Duration::from_secs(s.timeout_seconds),
        }
    }
}

/// A sink URL as logs and messages may show it: no password (a user
/// name stays), no query or fragment (where tokens travel).
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split(['?', '#']).next().unwrap_or("").to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}{path}")
}

/// The batch without `ip_full` (kept for fraud analysis only, never
/// exported). The field holds an address, which has nothing to escape, so
/// it is cut out of the line as it stands: everything else keeps its bytes.
pub(crate) fn without_full_ip(ndjson: &[u8]) -> Vec<u8> {
    let name = format!(",\"{}\":\"", Field::IpFull.as_str());
    let mut out = Vec::with_capacity(ndjson.len());
    for line in ndjson.split_inclusive(|&b| b == b'\n') {
        let at = line.windows(name.len()).position(|w| w == name.as_bytes());
        match at.and_then(|at| {
            let value = at + name.len();
            let end = line[value..].iter().position(|&b| b == b'"')?;
            Some((at, value + end + 1))
        }) {
            Some((from, to)) => {
                out.extend_from_slice(&line[..from]);
                out.extend_from_slice(&line[to..]);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}
