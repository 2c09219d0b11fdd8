//! The click event (docs/contract.md §5): its schema, declared once, and
//! its encoding, one JSON object a line.
//!
//! Owns: the fields and their order ([`Field`]: the encoder, the sinks'
//! columns, the report, retention and `conf/clickhouse/schema.sql` all
//! follow it, and a test holds the SQL file to it), how an event is
//! written on the request path ([`Event::to_line`]), and how a stored one is
//! read back and rewritten ([`Record`]).
//!
//! Invariants: an event is encoded once, on the request path, into one
//! buffer that is then moved through the queue and written as is. Only
//! what the contract lists is written; the full client address appears
//! only in `ip_full`, and only in the `full` privacy mode, which the HTTP
//! sink strips and reports never read.
//!
//! Does not: queue or write events (`spool`), or classify (`ivt`).

use crate::closed_set::closed_set;
use crate::device::Device;
use crate::ivt::{Action, Reason, Verdict};
pub use crate::privacy::IpField;
use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;
use std::time::SystemTime;
use strum::EnumCount;

closed_set! {
    /// The event's fields, in the order they are written. The one list of
    /// them: a new field is a variant here, its value in [`Event::to_line`],
    /// and a column in `conf/clickhouse/schema.sql` (a test checks the file).
    pub enum Field {
        Ts,
        ClickId,
        Campaign,
        Impression,
        Publisher,
        LandingHost,
        Verdict,
        Reason,
        Action,
        Method,
        Ip,
        UserAgent,
        Device,
        Country,
        ReferrerHost,
        Edge,
        /// Only in the `full` privacy mode: the whole address, for fraud
        /// analysis; never read by reports, never sent to the HTTP sink.
        IpFull,
        /// Only for a template click: the ad platform's click-id parameter
        /// (`gclid`...) and its value.
        PlatformClickParam,
        PlatformClickId,
        /// Only for an invalid or test click: the rule that fired (list
        /// and line, network, signal), so a dispute can be answered.
        Rule,
        /// What may be done with the click's conversions ([`DataUse`]).
        /// Optional when read: events written before it lack it, and their
        /// conversions are never exported (an opted-out and a
        /// child-directed click looked alike then).
        DataUse,
    }
}

closed_set! {
    /// What may later be done with a click's conversions (docs/contract.md
    /// §5, §9): only a `standard` click's are sent to an ad platform.
    pub enum DataUse {
        Standard,
        /// An opt-out header (`privacy.opt_out_headers`: GPC, DNT) was sent.
        OptedOut,
        /// The click URL carries `cd=1`: a child-directed ad.
        ChildDirected,
    }
}

impl Field {
    /// Whether an event may lack the field: `ip_full` is written only in
    /// the `full` privacy mode.
    pub fn optional(self) -> bool {
        matches!(
            self,
            Field::IpFull
                | Field::PlatformClickParam
                | Field::PlatformClickId
                | Field::Rule
                | Field::DataUse
        )
    }
}

/// One click event, borrowing from the request it describes.
#[derive(Debug)]
pub struct Event<'a> {
    pub ts: SystemTime,
    pub click_id: &'a str,
    pub campaign: &'a str,
    pub impression: &'a str,
    pub publisher: &'a str,
    pub landing_host: &'a str,
    pub verdict: Verdict,
    pub reason: Option<Reason>,
    pub action: Action,
    pub method: &'a str,
    pub ip: IpField,
    pub user_agent: &'a str,
    pub device: Device,
    pub country: &'a str,
    pub referrer_host: &'a str,
    pub edge: &'a str,
    pub ip_full: Option<IpAddr>,
    /// A template click's platform click-id parameter and value.
    pub platform: Option<(&'a str, &'a str)>,
    /// The rule behind the reason, when there is one.
    pub rule: Option<&'a str>,
    pub data_use: DataUse,
}

impl Event<'_> {
    /// The event as one spool record: an NDJSON line, newline included,
    /// whose last field is `crc`, the CRC32C of everything before it (see
    /// [`crate::spool::record`]).
    ///
    /// Written by hand into one buffer, in [`Field`] order, with JSON's
    /// string escapes (the same bytes serde_json writes, which a test
    /// checks): this runs on every click, and serde_json took about 1.8
    /// times as long (criterion `event/encode`, docs/benchmarks.md).
    pub fn to_line(&self) -> Vec<u8> {
        // Field names, punctuation, the fixed-size values and the checksum
        // `seal` adds come to about 410 bytes; the rest is the free text.
        let free = [
            self.user_agent,
            self.campaign,
            self.impression,
            self.publisher,
            self.landing_host,
            self.country,
            self.referrer_host,
            self.edge,
        ];
        let mut out = Vec::with_capacity(416 + free.iter().map(|f| f.len()).sum::<usize>());
        out.push(b'{');
        for &f in Field::ALL {
            let text = match f {
                Field::Ts => {
                    push_name(&mut out, f);
                    out.push(b'"');
                    crate::time::push_rfc3339_millis(&mut out, self.ts);
                    out.push(b'"');
                    continue;
                }
                // An address or a hex hash: nothing to escape.
                Field::Ip => {
                    push_name(&mut out, f);
                    let _ = write!(out, "\"{}\"", self.ip);
                    continue;
                }
                Field::IpFull => {
                    if let Some(full) = self.ip_full {
                        push_name(&mut out, f);
                        let _ = write!(out, "\"{full}\"");
                    }
                    continue;
                }
                Field::Rule => {
                    if let Some(rule) = self.rule.filter(|r| !r.is_empty()) {
                        push_field(&mut out, f, rule);
                    }
                    continue;
                }
                Field::PlatformClickParam | Field::PlatformClickId => {
                    if let Some((param, id)) = self.platform {
                        let v = if f == Field::PlatformClickParam {
                            param
                        } else {
                            id
                        };
                        push_field(&mut out, f, v);
                    }
                    continue;
                }
                Field::ClickId => self.click_id,
                Field::Campaign => self.campaign,
                Field::Impression => self.impression,
                Field::Publisher => self.publisher,
                Field::LandingHost => self.landing_host,
                Field::Verdict => self.verdict.as_str(),
                Field::Reason => self.reason.map_or("", Reason::as_str),
                Field::Action => self.action.as_str(),
                Field::Method => self.method,
                Field::UserAgent => self.user_agent,
                Field::Device => self.device.as_str(),
                Field::Country => self.country,
                Field::ReferrerHost => self.referrer_host,
                Field::Edge => self.edge,
                Field::DataUse => self.data_use.as_str(),
            };
            push_field(&mut out, f, text);
        }
        // `seal` closes the object after its checksum.
        crate::spool::record::seal(&mut out);
        out
    }
}

/// A stored event read back: each field's text, borrowed from the line
/// where it needed no unescaping. Fields the schema does not know are
/// skipped; a value that is not a string makes the line unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    values: [Option<Cow<'a, str>>; Field::COUNT],
}

impl<'a> Record<'a> {
    /// Reads one JSON object (a spool record's body with its brace closed,
    /// or a line as shipped).
    pub(crate) fn parse(json: &'a [u8]) -> Result<Record<'a>, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// The field's text; `None` when the event lacks it.
    pub(crate) fn get(&self, f: Field) -> Option<&str> {
        self.values[f as usize].as_deref()
    }

    /// The field's text, empty when the event lacks it.
    pub(crate) fn text(&self, f: Field) -> &str {
        self.get(f).unwrap_or("")
    }

    pub(crate) fn set(&mut self, f: Field, value: Option<Cow<'a, str>>) {
        self.values[f as usize] = value;
    }

    /// The first field the schema requires and the event lacks.
    pub(crate) fn missing(&self) -> Option<Field> {
        Field::ALL
            .iter()
            .copied()
            .find(|f| !f.optional() && self.get(*f).is_none())
    }

    /// The JSON object, fields in schema order, without the closing brace
    /// (for [`crate::spool::record::seal`]): the same bytes
    /// [`Event::to_line`] writes for the same values.
    pub(crate) fn to_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.push(b'{');
        for &f in Field::ALL {
            if let Some(v) = self.get(f) {
                push_field(&mut out, f, v);
            }
        }
        out
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Record<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Record<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a click event (a JSON object of strings)")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Record<'a>, M::Error> {
                let mut r = Record::default();
                while let Some(key) = m.next_key::<Cow<'de, str>>()? {
                    match key.parse::<Field>() {
                        Ok(f) => {
                            let v: Cow<'de, str> = m.next_value()?;
                            r.values[f as usize] = Some(v);
                        }
                        Err(_) => {
                            m.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// `,"name":` (no comma before the first field).
fn push_name(out: &mut Vec<u8>, f: Field) {
    if out.len() > 1 {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(f.as_str().as_bytes());
    out.extend_from_slice(b"\":");
}

/// `,"name":"value"`, the value escaped.
fn push_field(out: &mut Vec<u8>, f: Field, value: &str) {
    push_name(out, f);
    out.push(b'"');
    push_escaped(out, value);
    out.push(b'"');
}

/// `s` as the inside of a JSON string: `"` and `\\` escaped, control
/// characters as `\\n`-style or `\\u00XX` escapes, everything else as is.
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Nearly every value has nothing to escape: check that in one pass
    // without branches (it vectorises), then copy it whole.
    let plain = bytes
        .iter()
        .fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.extend_from_slice(bytes);
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

/// The host of a `Referer` header value as written (an IPv6 address without
/// its brackets), lowercased by the caller if needed; empty when there is
/// none. Path, query, credentials and port are dropped: they can carry
/// personal data and are not needed to measure clicks. What may be written
/// of it is [`crate::privacy::Privacy::referrer_host`]'s to say (it reads
/// the host as a URL's host is read).
pub(crate) fn referrer_host(referer: &str) -> &str {
    let Some((_, rest)) = referer.split_once("://") else {
        return "";
    };
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::truncate_ip;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn encodes_every_field_in_order() {
        let e = Event {
            ts: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            click_id: "id-1",
            campaign: "c",
            impression: "i",
            publisher: "",
            landing_host: "shop.example",
            verdict: Verdict::Invalid,
            reason: Some(Reason::HeadRequest),
            action: Action::Redirected,
            method: "HEAD",
            ip: IpField::Addr(truncate_ip("203.0.113.77".parse().unwrap())),
            user_agent: "Mozilla/5.0 \"quoted\"",
            device: Device::Desktop,
            country: "",
            referrer_host: "news.example",
            edge: "edge-1",
            ip_full: None,
            platform: None,
            rule: None,
            data_use: DataUse::Standard,
        };
        let line = String::from_utf8(e.to_line()).unwrap();
        let body = crate::spool::record::open(line.trim_end().as_bytes()).unwrap();
        let line = format!("{}\n", String::from_utf8(body.to_vec()).unwrap() + "}");
        assert_eq!(
            line,
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"click_id\":\"id-1\",\"campaign\":\"c\",\
             \"impression\":\"i\",\"publisher\":\"\",\"landing_host\":\"shop.example\",\
             \"verdict\":\"invalid\",\"reason\":\"head_request\",\"action\":\"redirected\",\
             \"method\":\"HEAD\",\"ip\":\"203.0.113.0\",\"user_agent\":\"Mozilla/5.0 \\\"quoted\\\"\",\
             \"device\":\"desktop\",\"country\":\"\",\"referrer_host\":\"news.example\",\"edge\":\"edge-1\",\"data_use\":\"standard\"}\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn escapes_as_serde_json_does(s in "\\PC*|[\\x00-\\x7f]*") {
            let mut mine = Vec::new();
            push_escaped(&mut mine, &s);
            let theirs = serde_json::to_string(&s).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(mine).unwrap(), &theirs[1..theirs.len() - 1]);
        }

        #[test]
        fn a_line_is_json_with_the_fields_given(ua in "\\PC*", campaign in "[ -~]{0,40}", full in proptest::option::of(proptest::prelude::any::<[u8; 4]>()), platform in proptest::option::of(("[a-z]{1,8}", "[A-Za-z0-9_-]{1,40}")), rule in proptest::option::of("[ -~]{0,30}")) {
            let e = Event {
                ts: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
                click_id: "id-1",
                campaign: &campaign,
                impression: "i\u{7}\"",
                publisher: "p",
                landing_host: "shop.example",
                verdict: Verdict::Valid,
                reason: None,
                action: Action::Redirected,
                method: "GET",
                ip: IpField::Hash([0xab; 12]),
                user_agent: &ua,
                device: Device::Mobile,
                country: "DE",
                referrer_host: "",
                edge: "edge-1",
                ip_full: full.map(IpAddr::from),
                platform: platform.as_ref().map(|(p, id)| (p.as_str(), id.as_str())),
                rule: rule.as_deref(),
                data_use: DataUse::OptedOut,
            };
            let line = e.to_line();
            proptest::prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            proptest::prop_assert_eq!(v["user_agent"].as_str(), Some(ua.as_str()));
            proptest::prop_assert_eq!(v["campaign"].as_str(), Some(campaign.as_str()));
            proptest::prop_assert_eq!(v["impression"].as_str(), Some("i\u{7}\""));
            proptest::prop_assert_eq!(v["ip"].as_str(), Some("h:abababababababababababab"));
            proptest::prop_assert_eq!(v["reason"].as_str(), Some(""));
            proptest::prop_assert_eq!(v["ip_full"].as_str().map(str::to_owned), full.map(|a| IpAddr::from(a).to_string()));
            proptest::prop_assert_eq!(v["platform_click_id"].as_str(), platform.as_ref().map(|(_, id)| id.as_str()));
            proptest::prop_assert_eq!(v["rule"].as_str(), rule.as_deref().filter(|r| !r.is_empty()));
            proptest::prop_assert!(crate::spool::record::open(&line[..line.len() - 1]).is_some());
            // Read back and written again, it is the same bytes.
            let body = crate::spool::record::open(&line[..line.len() - 1]).unwrap();
            let mut json = body.to_vec();
            json.push(b'}');
            let rec = Record::parse(&json).unwrap();
            proptest::prop_assert_eq!(rec.text(Field::UserAgent), ua.as_str());
            proptest::prop_assert_eq!(rec.missing(), None);
            proptest::prop_assert_eq!(rec.to_body(), body.to_vec());
        }
    }

    #[test]
    fn the_clickhouse_schema_has_the_event_fields_in_order() {
        let sql = include_str!("../conf/clickhouse/schema.sql");
        let table = &sql[sql.find("CREATE TABLE").unwrap()..];
        let body = &table[table.find('(').unwrap() + 1..table.find("\n)").unwrap()];
        let columns: Vec<&str> = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        let mut want: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
        want.push("time"); // derived from ts for partitioning
        assert_eq!(columns, want);
    }

    #[test]
    fn records_skip_unknown_fields_and_refuse_non_strings() {
        let r = Record::parse(br#"{"ts":"t","crc":"00","campaign":"c\u0041"}"#).unwrap();
        assert_eq!(r.get(Field::Ts), Some("t"));
        assert_eq!(r.text(Field::Campaign), "cA");
        assert_eq!(r.get(Field::Edge), None);
        assert_eq!(r.missing(), Some(Field::ClickId));
        assert!(Record::parse(br#"{"ts":1}"#).is_err());
        assert!(Record::parse(b"[]").is_err());
    }

    #[test]
    fn a_referrer_is_reduced_to_its_host() {
        for (r, want) in [
            ("https://news.example/a/b?email=x@y.z", "news.example"),
            ("http://user:pw@host.example:8080/p", "host.example"),
            ("https://[2001:db8::1]:443/x", "2001:db8::1"),
            ("https://h.example#frag", "h.example"),
            ("https://h.example?q", "h.example"),
            ("android-app://com.example.app/", "com.example.app"),
            ("not a url", ""),
            ("", ""),
        ] {
            assert_eq!(referrer_host(r), want, "{r}");
        }
    }
}
