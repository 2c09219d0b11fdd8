//! The central sinks: ClickHouse over its HTTP interface, and any HTTP
//! endpoint that takes NDJSON by POST. Both get the batch gzipped.
//!
//! `clickhouse://HOST:PORT/DATABASE.TABLE` becomes
//! `POST http://HOST:PORT/?query=INSERT INTO DATABASE.TABLE (columns) FORMAT RowBinary`
//! (every column a length-prefixed string: far cheaper for the server to
//! parse than JSON)
//! with the user and password as HTTP basic authentication. Success is a
//! 2xx answer, nothing else.

pub(crate) use super::sink::SinkOptions;
use super::sink::{redact, without_full_ip, CheckError, QueryError, Sink, SinkError};
use super::sink_url::{ClickHouseUrl, SinkUrl, SinkUrlError};
use crate::event::{Field, Record};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::time::Duration;

/// Builds the sink a `--sink` URL names.
pub fn from_url(url: &str, opts: &SinkOptions) -> Result<Box<dyn Sink>, SinkUrlError> {
    Ok(build(&SinkUrl::parse(url)?, opts))
}

/// Builds the sink a parsed URL names: nothing left to refuse.
pub(crate) fn build(url: &SinkUrl, opts: &SinkOptions) -> Box<dyn Sink> {
    match url {
        SinkUrl::ClickHouse(c) => Box::new(ClickHouse::new(c, opts)),
        SinkUrl::Kafka(k) => Box::new(super::kafka::Kafka::new(k, opts)),
        SinkUrl::Http(h) => Box::new(HttpNdjson {
            agent: agent(opts),
            url: h.url.clone(),
            opts: opts.clone(),
            stream: "clicks",
        }),
    }
}

/// The conversions' sink beside the clicks' a URL names: the table
/// `clickedge_conversions` in the click table's database, the topic
/// `<topic>_conversions`, or the same HTTP URL with the header
/// `X-Clickedge-Stream: conversions` (docs/storage.md).
pub(crate) fn build_conversions(url: &SinkUrl, opts: &SinkOptions) -> Box<dyn Sink> {
    match url {
        SinkUrl::ClickHouse(c) => Box::new(ClickHouseConversions(ClickHouse::new(c, opts))),
        SinkUrl::Kafka(k) => Box::new(super::kafka::Kafka::conversions(k, opts)),
        SinkUrl::Http(h) => Box::new(HttpNdjson {
            agent: agent(opts),
            url: h.url.clone(),
            opts: opts.clone(),
            stream: "conversions",
        }),
    }
}

/// The table conversions are shipped to, beside the click table.
pub(crate) const CONVERSIONS_TABLE: &str = "clickedge_conversions";

/// The conversion record's fields, as the table's columns.
const CONVERSION_COLUMNS: [&str; 13] = [
    "ts",
    "conversion_id",
    "click_id",
    "click_ts",
    "event",
    "category",
    "time",
    "value",
    "currency",
    "txn_hash",
    "consent",
    "source",
    "edge",
];

/// Ships conversion records to `clickedge_conversions` as JSONEachRow:
/// they are few, and every value is a string the table takes as it is
/// (the record's `crc` is skipped by the server).
pub(crate) struct ClickHouseConversions(ClickHouse);

impl Sink for ClickHouseConversions {
    fn encode(&self, ndjson: &[u8]) -> Result<Vec<u8>, SinkError> {
        gzip(ndjson)
    }

    fn send(&self, body: &[u8]) -> Result<(), SinkError> {
        let url = format!(
            "{}&input_format_skip_unknown_fields=1",
            self.0.query_url(&format!(
                "INSERT INTO {} ({}) FORMAT JSONEachRow",
                self.0.sibling(CONVERSIONS_TABLE),
                CONVERSION_COLUMNS.join(", ")
            ))
        );
        verdict(self.0.post(&url, body, true))
    }

    fn describe(&self) -> String {
        format!(
            "ClickHouse {}{}",
            self.0.base,
            self.0.sibling(CONVERSIONS_TABLE)
        )
    }

    fn check(&self) -> Result<String, CheckError> {
        let text = self.0.query(&format!(
            "SELECT name FROM system.columns WHERE database = '{}' AND table = '{}' FORMAT TSV",
            self.0.database, CONVERSIONS_TABLE
        ))?;
        let have: Vec<&str> = text.lines().collect();
        let table = self.0.sibling(CONVERSIONS_TABLE);
        if have.is_empty() {
            return Err(CheckError::NoConversionsTable { table });
        }
        let columns: Vec<String> = CONVERSION_COLUMNS
            .iter()
            .filter(|c| !have.contains(c))
            .map(|c| c.to_string())
            .collect();
        if !columns.is_empty() {
            return Err(CheckError::MissingConversionColumns { table, columns });
        }
        Ok(format!("{}: table ready", self.describe()))
    }
}

fn agent(opts: &SinkOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        // A redirect is answered, not followed: following one re-sends a
        // POST as a GET without its body, and a 2xx at the end of it would
        // count as the sink taking a batch it never saw.
        .max_redirects(0)
        .build()
        .into()
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, SinkError> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 6), Compression::fast());
    enc.write_all(data)
        .and_then(|_| enc.finish())
        .map_err(|e| SinkError::Failed(format!("gzip: {e}")))
}

fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Maps an answer to the sink's verdict.
fn verdict(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<(), SinkError> {
    let mut resp = resp.map_err(|e| SinkError::Failed(e.to_string()))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    if (300..400).contains(&status) {
        let to = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        return Err(SinkError::Rejected(format!(
            "HTTP {status} to {to:?}: redirects are not followed, set the sink's URL to where it points"
        )));
    }
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    let msg = format!(
        "HTTP {status}: {}",
        body.chars().take(300).collect::<String>().trim()
    );
    if (400..500).contains(&status) && status != 408 && status != 429 {
        Err(SinkError::Rejected(msg))
    } else {
        Err(SinkError::Failed(msg))
    }
}

pub(crate) struct ClickHouse {
    agent: ureq::Agent,
    base: String,
    database: String,
    table: String,
    opts: SinkOptions,
}

impl ClickHouse {
    /// `clickhouse://HOST:PORT/DATABASE.TABLE`
    pub(crate) fn from_url(url: &str, opts: &SinkOptions) -> Result<ClickHouse, SinkUrlError> {
        Ok(ClickHouse::new(&ClickHouseUrl::parse(url)?, opts))
    }

    /// The sink a parsed URL names; credentials in the URL take the place
    /// of `sink.user` and `sink.password`.
    pub(crate) fn new(url: &ClickHouseUrl, opts: &SinkOptions) -> ClickHouse {
        let mut opts = opts.clone();
        if let Some((user, password)) = &url.credentials {
            opts.user = user.clone();
            opts.password = password.clone();
        }
        ClickHouse {
            agent: agent(&opts),
            base: format!("http://{}/", url.host),
            database: url.database.clone(),
            table: url.table.clone(),
            opts,
        }
    }

    /// `database.table`
    pub(crate) fn table_name(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// The click table's database.
    pub(crate) fn database(&self) -> &str {
        &self.database
    }

    /// `database.name`: another table in the click table's database.
    pub(crate) fn sibling(&self, name: &str) -> String {
        format!("{}.{}", self.database, name)
    }

    fn query_url(&self, query: &str) -> String {
        format!(
            "{}?query={}",
            self.base,
            percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
        )
    }

    fn post(
        &self,
        url: &str,
        body: &[u8],
        gz: bool,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut req = self.agent.post(url).header(
            "Authorization",
            basic_auth(&self.opts.user, &self.opts.password),
        );
        if gz {
            req = req.header("Content-Encoding", "gzip");
        }
        req.send(body)
    }

    /// Runs a query (an `INSERT` may carry its rows after the query text)
    /// and returns the answer's text.
    pub(crate) fn query(&self, query: &str) -> Result<String, QueryError> {
        let mut resp = self.post(&self.base, query.as_bytes(), false)?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string()?;
        if status != 200 {
            return Err(QueryError::Status {
                status,
                body: text.trim().to_string(),
            });
        }
        Ok(text)
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

/// The batch in ClickHouse's RowBinary format, a string a column in
/// [`Field`] order: parsing it costs the server far less than JSON
/// (measured: the JSONEachRow insert was the bottleneck of shipping).
pub(crate) fn row_binary(ndjson: &[u8]) -> Result<Vec<u8>, SinkError> {
    let mut out = Vec::with_capacity(ndjson.len());
    for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let r = Record::parse(line)
            .map_err(|e| SinkError::Rejected(format!("event is not a click event: {e}")))?;
        if let Some(f) = r.missing() {
            return Err(SinkError::Rejected(format!(
                "event is not a click event: it has no {}",
                f.as_str()
            )));
        }
        for &f in Field::ALL {
            put_string(&mut out, r.text(f));
        }
    }
    Ok(out)
}

/// The table's columns, as the insert names them.
fn columns() -> String {
    Field::ALL
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Sink for ClickHouse {
    fn encode(&self, ndjson: &[u8]) -> Result<Vec<u8>, SinkError> {
        gzip(&row_binary(ndjson)?)
    }

    fn send(&self, body: &[u8]) -> Result<(), SinkError> {
        let url = self.query_url(&format!(
            "INSERT INTO {}.{} ({}) FORMAT RowBinary",
            self.database,
            self.table,
            columns()
        ));
        verdict(self.post(&url, body, true))
    }

    fn describe(&self) -> String {
        format!("ClickHouse {}{}.{}", self.base, self.database, self.table)
    }

    fn check(&self) -> Result<String, CheckError> {
        let text = self.query(&format!(
            "SELECT name FROM system.columns WHERE database = '{}' AND table = '{}' FORMAT TSV",
            self.database, self.table
        ))?;
        let have: Vec<&str> = text.lines().collect();
        if have.is_empty() {
            return Err(CheckError::NoTable {
                table: self.table_name(),
            });
        }
        let missing: Vec<String> = Field::ALL
            .iter()
            .map(|f| f.as_str())
            .filter(|c| !have.contains(c))
            .map(String::from)
            .collect();
        if !missing.is_empty() {
            return Err(CheckError::MissingColumns {
                table: self.table_name(),
                columns: missing,
            });
        }
        Ok(format!(
            "{} reachable, table has the expected columns",
            self.describe()
        ))
    }
}

pub(crate) struct HttpNdjson {
    agent: ureq::Agent,
    url: String,
    opts: SinkOptions,
    /// `X-Clickedge-Stream`: `clicks` or `conversions`, for a receiver
    /// that takes both on one URL.
    stream: &'static str,
}

impl Sink for HttpNdjson {
    fn encode(&self, ndjson: &[u8]) -> Result<Vec<u8>, SinkError> {
        gzip(&without_full_ip(ndjson))
    }

    fn send(&self, body: &[u8]) -> Result<(), SinkError> {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/x-ndjson")
            .header("Content-Encoding", "gzip")
            .header("X-Clickedge-Stream", self.stream);
        if !self.opts.user.is_empty() {
            req = req.header(
                "Authorization",
                basic_auth(&self.opts.user, &self.opts.password),
            );
        }
        for (k, v) in &self.opts.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        verdict(req.send(body))
    }

    fn describe(&self) -> String {
        format!("HTTP NDJSON {}", redact(&self.url))
    }

    fn check(&self) -> Result<String, CheckError> {
        let parsed = url::Url::parse(&self.url).map_err(CheckError::Url)?;
        let addrs = parsed
            .socket_addrs(|| None)
            .map_err(|error| CheckError::Resolve {
                sink: self.describe(),
                error,
            })?;
        let addr = *addrs.first().ok_or_else(|| CheckError::NoAddress {
            sink: self.describe(),
        })?;
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|error| {
            CheckError::Connect {
                sink: self.describe(),
                addr,
                error,
            }
        })?;
        Ok(format!("{} reachable (TCP)", self.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_sink_names_its_password() {
        let opts = SinkOptions::default();
        for url in [
            "http://user:s3cret@127.0.0.1:9/ingest?token=t0ken",
            "https://user:s3cret@example.com/x#t0ken",
            "clickhouse://user:s3cret@127.0.0.1:8123/db.clicks",
        ] {
            let sink = from_url(url, &opts).unwrap();
            let shown = sink.describe();
            assert!(
                !shown.contains("s3cret") && !shown.contains("t0ken"),
                "{shown}"
            );
            // The user may be named; ClickHouse takes it as its login.
            assert!(
                shown.contains("user") || url.starts_with("clickhouse"),
                "{shown}"
            );
        }
        assert!(from_url("kafka://user:s3cret@127.0.0.1:9092/clicks", &opts).is_err());
        let e = from_url("clickhouse://user:s3cret@127.0.0.1:8123/nodot", &opts)
            .err()
            .unwrap();
        assert!(matches!(e, SinkUrlError::ClickHouseTable { .. }), "{e:?}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(
            redact("http://u:p@h:1/a/b?c=d"),
            "http://u:***@h:1/a/b".to_string()
        );
    }

    #[test]
    fn row_binary_writes_each_column_as_a_length_prefixed_string() {
        let mut line = String::from("{");
        for (i, c) in Field::ALL.iter().map(|f| f.as_str()).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&format!(
                "\"{c}\":\"{}\"",
                if c == "user_agent" {
                    "u".repeat(200)
                } else {
                    c.to_string()
                }
            ));
        }
        line.push_str("}\n");
        let rb = row_binary(line.as_bytes()).unwrap();
        // "ts" is 2 bytes: length 2 then the bytes.
        assert_eq!(&rb[..3], b"\x02ts");
        // A 200-byte string has a two-byte LEB128 length: 0xc8 0x01.
        let ua_at = rb.windows(3).position(|w| w == [0xc8, 0x01, b'u']).unwrap();
        assert!(ua_at > 0);
        assert!(matches!(
            row_binary(b"{\"ts\":1}\n"),
            Err(SinkError::Rejected(_))
        ));
    }

    #[test]
    fn full_ips_are_never_exported() {
        let b = without_full_ip(b"{\"a\":1,\"ip_full\":\"203.0.113.7\"}\n{\"a\":2}\n");
        assert_eq!(b, b"{\"a\":1}\n{\"a\":2}\n");
    }

    #[test]
    fn only_well_formed_sink_urls_build_a_sink() {
        let o = SinkOptions::default();
        assert!(from_url("clickhouse://127.0.0.1:8123/clickedge.clicks", &o).is_ok());
        assert!(from_url("http://127.0.0.1:9/ingest", &o).is_ok());
        for bad in [
            "clickhouse://127.0.0.1:8123",
            "clickhouse://127.0.0.1:8123/clicks",
            "clickhouse://127.0.0.1:8123/a.b.c",
            "clickhouse://127.0.0.1:8123/db;drop.t",
            "ftp://x/",
            "kafka://x",
        ] {
            assert!(from_url(bad, &o).is_err(), "{bad}");
        }
    }
}
