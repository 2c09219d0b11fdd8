//! `events` and `sink`: the spool ([`crate::spool`]) and the shipper
//! ([`crate::ship`]).

use serde::Deserialize;
use smart_default::SmartDefault;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Events the in-memory queue holds between the request path and the
    /// spool writer. A full queue drops (and counts) events, never delays clicks.
    #[default = 65_536]
    pub queue_capacity: usize,
    /// Most events the writer takes off the queue per write.
    #[default = 4096]
    pub batch_max: usize,
    /// Longest time an event waits before it is written to the spool file
    /// (readable by other processes), in milliseconds.
    #[default = 100]
    pub flush_interval_ms: u64,
    /// Longest time written events wait for fsync, in milliseconds: what a
    /// machine crash can lose at most.
    #[default = 1000]
    pub fsync_interval_ms: u64,
    /// A spool file is closed and a new one begun past this size.
    #[default(64 * 1024 * 1024)]
    pub segment_max_bytes: u64,
    /// Most bytes of spool kept on disk. Past it, new events are dropped
    /// (and counted); unshipped ones are never deleted to make room.
    #[default(8 * 1024 * 1024 * 1024)]
    pub max_spool_bytes: u64,
}

/// Central storage the spool is shipped to.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct SinkConfig {
    /// `clickhouse://HOST:PORT/DATABASE.TABLE` or an `http(s)://` URL taking
    /// gzip NDJSON by POST. None: events stay in `<data_dir>/clicks/`.
    pub url: Option<String>,
    /// Basic authentication (ClickHouse user; optional for HTTP).
    #[default("default".to_string())]
    pub user: String,
    pub password: String,
    /// Extra request headers for the HTTP sink.
    pub headers: BTreeMap<String, String>,
    /// Most events per batch sent.
    #[default = 100_000]
    pub batch_max_events: usize,
    /// Most spool bytes read per batch.
    #[default(64 * 1024 * 1024)]
    pub batch_max_bytes: usize,
    /// Seconds one send may take.
    #[default = 30]
    pub timeout_seconds: u64,
    /// First retry delay, doubled per failure up to `retry_max_ms`.
    #[default = 250]
    pub retry_initial_ms: u64,
    #[default = 30_000]
    pub retry_max_ms: u64,
    /// Wait between looks at the spool when there is nothing new.
    #[default = 200]
    pub poll_interval_ms: u64,
    /// Least time between two inserts into the sink: at a fleet's scale
    /// every insert is a new part for ClickHouse to merge, so each edge
    /// inserts at most this often, in batches of up to batch_max_events.
    /// 0: as soon as there are events.
    #[default = 0]
    pub min_insert_interval_ms: u64,
}
