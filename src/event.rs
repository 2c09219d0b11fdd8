//! The click event (SPEC §5) and its encoding: one JSON object a line.
//!
//! Owns: the fields and their order, how each is derived from the request
//! (the client address truncated, the referrer reduced to its host), and the
//! bytes written to the spool.
//!
//! Invariants: an event is encoded once, on the request path, into one
//! buffer that is then moved through the queue and written as is; nothing
//! downstream re-encodes it. Only what SPEC §5 lists is written: the full
//! client address and the full referrer never leave this module.
//!
//! Does not: queue or write events (`spool`), or classify (`ivt`).

use crate::device::Device;
use crate::ivt::{Action, Reason, Verdict};
pub use crate::privacy::IpField;
use serde::{Serialize, Serializer};
use std::net::IpAddr;
use std::time::SystemTime;

/// One click event, borrowing from the request it describes.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    #[serde(serialize_with = "rfc3339_millis")]
    pub ts: SystemTime,
    pub click_id: &'a str,
    pub campaign: &'a str,
    pub impression: &'a str,
    pub publisher: &'a str,
    pub landing_host: &'a str,
    #[serde(serialize_with = "verdict")]
    pub verdict: Verdict,
    #[serde(serialize_with = "reason")]
    pub reason: Option<Reason>,
    #[serde(serialize_with = "action")]
    pub action: Action,
    pub method: &'a str,
    #[serde(serialize_with = "ip")]
    pub ip: IpField,
    pub user_agent: &'a str,
    #[serde(serialize_with = "device")]
    pub device: Device,
    pub country: &'a str,
    pub referrer_host: &'a str,
    pub edge: &'a str,
    /// Only in the `full` privacy mode: the whole address, for fraud
    /// analysis; never read by reports, never sent to the HTTP sink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_full: Option<IpAddr>,
}

impl Event<'_> {
    /// The event as one spool record: an NDJSON line, newline included,
    /// whose last field is `crc`, the CRC32C of everything before it (see
    /// [`crate::spool::record`]).
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        // Writing to a Vec cannot fail, and every field serialises.
        if serde_json::to_writer(&mut out, self).is_err() {
            out.clear();
            out.extend_from_slice(b"{}");
        }
        crate::spool::record::seal(&mut out);
        out
    }
}

fn rfc3339_millis<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

fn verdict<S: Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn reason<S: Serializer>(r: &Option<Reason>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.map_or("", Reason::as_str))
}

fn action<S: Serializer>(a: &Action, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

fn ip<S: Serializer>(ip: &IpField, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ip)
}

fn device<S: Serializer>(d: &Device, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.as_str())
}

/// The address as it may be written: IPv4 truncated to its /24, IPv6 to its
/// /48 (the default privacy mode), enough for country and network-level
/// fraud analysis, not enough to single out a household.
pub fn truncate_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => truncate_ip(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
            }
        },
    }
}

/// The host of a `Referer` header value, lowercased by the caller if needed;
/// empty when there is none. Path, query, credentials and port are dropped:
/// they can carry personal data and are not needed to measure clicks.
pub fn referrer_host(referer: &str) -> &str {
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
             \"device\":\"desktop\",\"country\":\"\",\"referrer_host\":\"news.example\",\"edge\":\"edge-1\"}\n"
        );
    }

    #[test]
    fn truncation() {
        let t = |s: &str| truncate_ip(s.parse().unwrap()).to_string();
        assert_eq!(t("192.0.2.255"), "192.0.2.0");
        assert_eq!(t("2001:db8:abcd:1234:5678::1"), "2001:db8:abcd::");
        assert_eq!(t("::ffff:198.51.100.9"), "198.51.100.0");
        assert_eq!(t("::1"), "::");
    }

    #[test]
    fn referrer_hosts() {
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
