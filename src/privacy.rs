//! What the edge may write about a person, and nothing more.
//!
//! Owns: the IP privacy modes, the opt-out signals (GPC, DNT, the signed
//! child-directed flag), and the scrubbing of e-mail addresses and phone
//! numbers from the one free-text field that is logged, the user agent.
//!
//! Invariants: classification always sees the full address in memory; only
//! the mode's output reaches an event. An opted-out click is still counted
//! and still redirected, but its event carries no address, no referrer, and
//! only the device class in place of the user agent. The landing URL and
//! the referrer are logged as hosts only, so none of their query parameters
//! (where e-mail addresses and phone numbers travel) is ever written; the
//! referrer's host is read as a URL's host is, so an address in any
//! spelling is known for one.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use crate::config::IpMode;

/// The `ip` field of an event, and `ip_full` in `full` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpField {
    Empty,
    Addr(IpAddr),
    Hash([u8; 12]),
}

impl std::fmt::Display for IpField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpField::Empty => Ok(()),
            IpField::Addr(a) => write!(f, "{a}"),
            IpField::Hash(h) => {
                f.write_str("h:")?;
                h.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

pub struct Privacy {
    mode: IpMode,
    secret: Vec<u8>,
    period_secs: u64,
    /// (period number, HMAC keyed for it)
    key: Mutex<(u64, Hmac<Sha256>)>,
    opt_out_headers: Vec<http::HeaderName>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy").field("mode", &self.mode).finish()
    }
}

fn period_key(secret: &[u8], period: u64) -> Hmac<Sha256> {
    let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    derive.update(&period.to_be_bytes());
    let key = derive.finalize().into_bytes();
    <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("32-byte key"))
}

impl Privacy {
    /// `secret` empty: a random one, so hashes differ per process.
    pub fn new(
        mode: IpMode,
        secret: &str,
        rotation_hours: u64,
        opt_out_headers: &[String],
    ) -> Privacy {
        let secret = if secret.is_empty() {
            [
                uuid::Uuid::new_v4().into_bytes(),
                uuid::Uuid::new_v4().into_bytes(),
            ]
            .concat()
        } else {
            secret.as_bytes().to_vec()
        };
        let period_secs = rotation_hours.max(1) * 3600;
        let key = Mutex::new((0, period_key(&secret, 0)));
        Privacy {
            mode,
            secret,
            period_secs,
            key,
            // `check` names one that is no header name (`opt_out_problems`).
            opt_out_headers: opt_out_headers
                .iter()
                .filter_map(|h| http::HeaderName::from_bytes(h.trim().as_bytes()).ok())
                .collect(),
        }
    }

    /// From the `privacy` section.
    pub fn from_config(cfg: &crate::config::PrivacyConfig) -> Privacy {
        Privacy::new(
            cfg.ip_mode,
            &cfg.ip_hash_secret,
            cfg.ip_hash_rotation_hours,
            &cfg.opt_out_headers,
        )
    }

    pub fn mode(&self) -> IpMode {
        self.mode
    }

    /// The headers that opt a user out when set to `1`.
    pub fn opt_out_headers(&self) -> &[http::HeaderName] {
        &self.opt_out_headers
    }

    /// Problems of the `privacy` section: an opt-out header that is not a
    /// header name would never match.
    pub fn check_config(cfg: &crate::config::PrivacyConfig) -> Result<(), crate::config::Problems> {
        let mut p = crate::config::Problems::default();
        for h in &cfg.opt_out_headers {
            if http::HeaderName::from_bytes(h.trim().as_bytes()).is_err() {
                p.push(
                    "privacy.opt_out_headers",
                    format!("{h:?} is not a header name (like sec-gpc)"),
                );
            }
        }
        p.or(())
    }

    /// (`ip`, `ip_full`) for an event of a request at `now` (which picks
    /// the hash key in `hash` mode).
    pub fn ip_fields(
        &self,
        ip: Option<IpAddr>,
        opted_out: bool,
        now: SystemTime,
    ) -> (IpField, Option<IpAddr>) {
        let Some(ip) = ip.filter(|_| !opted_out) else {
            return (IpField::Empty, None);
        };
        match self.mode {
            IpMode::Truncate => (IpField::Addr(truncate_ip(ip)), None),
            IpMode::Full => (IpField::Addr(truncate_ip(ip)), Some(ip)),
            IpMode::None => (IpField::Empty, None),
            IpMode::Hash => (IpField::Hash(self.hash(ip, now)), None),
        }
    }

    fn hash(&self, ip: IpAddr, now: SystemTime) -> [u8; 12] {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let period = now / self.period_secs;
        let mut mac = match self.key.lock() {
            Ok(mut k) => {
                if k.0 != period {
                    *k = (period, period_key(&self.secret, period));
                }
                k.1.clone()
            }
            Err(_) => period_key(&self.secret, period),
        };
        let canonical = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match canonical {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => mac.update(&a.octets()),
        }
        let out = mac.finalize().into_bytes();
        let mut h = [0u8; 12];
        h.copy_from_slice(&out[..12]);
        h
    }
}

impl Privacy {
    /// The user agent as it may be written: e-mail addresses and phone
    /// numbers scrubbed ([`scrub`]), and, in every mode but `full`, IP
    /// addresses too (some apps put the device's address there).
    pub fn user_agent<'a>(&self, ua: &'a str) -> std::borrow::Cow<'a, str> {
        let scrubbed = scrub(ua);
        if self.mode == IpMode::Full || ip_spans(&scrubbed).is_empty() {
            return scrubbed;
        }
        let mut out = scrubbed.into_owned();
        for (a, b) in ip_spans(&out.clone()).into_iter().rev() {
            out.replace_range(a..b, "[scrubbed]");
        }
        std::borrow::Cow::Owned(out)
    }

    /// The referrer's host as it may be written, read as a URL's host is
    /// (WHATWG host parsing, the `url` crate): an IP address in any
    /// spelling a browser accepts (`0x7f000001`, `3232235777`, `017.0.0.1`,
    /// a trailing dot) is a person's, and is scrubbed in every mode but
    /// `full` (which writes it the usual way); a name is written as a URL
    /// writes it (lowercase, IDNA's ASCII form); what is no host at all
    /// (`a b.com`) is not written. `host` is the bare host of
    /// [`crate::event::referrer_host`], an IPv6 address without brackets.
    pub fn referrer_host(&self, host: String) -> String {
        let parsed = match host.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => url::Host::Ipv6(v6),
            Err(_) => match url::Host::parse(&host) {
                Ok(h) => h,
                Err(_) => return String::new(),
            },
        };
        let ip = match parsed {
            url::Host::Domain(name) => return name,
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
        };
        if self.mode == IpMode::Full {
            ip.to_string()
        } else {
            "[scrubbed]".to_string()
        }
    }
}

/// Byte ranges of IPv4 and IPv6 addresses written out in text: a run of
/// digits and dots that is a dotted quad, or a run of hex digits, colons
/// and dots with at least two colons that parses as an IPv6 address, or,
/// in a run that is neither, each dotted quad between its colons (an
/// address with a port, `203.0.113.9:443`). Versions such as
/// `131.0.6778.85` are not addresses (a part over 255).
fn ip_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let is_part = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
        // A run after a letter, a digit or a `/` is part of a word or a
        // product version (`Chrome/131.0.0.0`), not an address.
        if !is_part(b[i]) || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'/')) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_part(b[j]) {
            j += 1;
        }
        let run = s[i..j].trim_end_matches(['.', ':']);
        let end = i + run.len();
        let followed_by_word = b.get(j).is_some_and(|c| c.is_ascii_alphanumeric());
        let v4 = is_dotted_quad(run);
        let v6 = run.bytes().filter(|&c| c == b':').count() >= 2
            && run.parse::<std::net::Ipv6Addr>().is_ok();
        if v4 || v6 {
            if !followed_by_word {
                spans.push((i, end));
            }
        } else if run.contains(':') {
            let mut at = i;
            for part in run.split(':') {
                let last = at + part.len() == end;
                if is_dotted_quad(part) && !(last && followed_by_word) {
                    spans.push((at, at + part.len()));
                }
                at += part.len() + 1;
            }
        }
        i = j.max(i + 1);
    }
    spans
}

/// `203.0.113.9`: four decimal parts, each up to 255.
fn is_dotted_quad(s: &str) -> bool {
    s.bytes().filter(|&c| c == b'.').count() == 3
        && s.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && s.parse::<std::net::Ipv4Addr>().is_ok()
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

/// The user agent with anything shaped like an e-mail address or a phone
/// number replaced by `[scrubbed]` (some in-app browsers put account
/// details there). Borrowed as is when there is none.
pub fn scrub(ua: &str) -> std::borrow::Cow<'_, str> {
    if !ua.contains('@') && phone_spans(ua).is_empty() {
        return std::borrow::Cow::Borrowed(ua);
    }
    // E-mail addresses: a word with an `@` and a dot after it.
    let mut mailless = String::with_capacity(ua.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let is_mail = word
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'));
        out.push_str(if is_mail { "[scrubbed]" } else { word.as_str() });
        word.clear();
    };
    for c in ua.chars() {
        if c.is_whitespace() || matches!(c, ';' | '(' | ')' | ',' | '[' | ']' | '=' | '&') {
            flush(&mut word, &mut mailless);
            mailless.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut mailless);
    // Phone numbers: replace each span, last first so offsets hold.
    let mut out = mailless;
    for (a, b) in phone_spans(&out.clone()).into_iter().rev() {
        out.replace_range(a..b, "[scrubbed]");
    }
    std::borrow::Cow::Owned(out)
}

/// Byte ranges of phone-like runs: digits joined by spaces, `-` or `(`/`)`,
/// ten digits or more, or eight or more after a `+`. Versions and build ids
/// are joined by dots, which end a run (`131.0.6778.85` is not a phone).
fn phone_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let plus = b[i] == b'+';
        if !(b[i].is_ascii_digit() || plus) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = 0;
        let mut end = i;
        let mut j = i + usize::from(plus);
        while j < b.len() {
            match b[j] {
                d if d.is_ascii_digit() => {
                    digits += 1;
                    end = j + 1;
                }
                b' ' | b'-' | b'(' | b')' if digits > 0 || plus => {}
                _ => break,
            }
            j += 1;
        }
        if digits >= 10 || (plus && digits >= 8) {
            spans.push((start, end));
        }
        i = j.max(i + 1);
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn truncation_keeps_a_v4_slash_24_and_a_v6_slash_48() {
        let t = |s: &str| truncate_ip(s.parse().unwrap()).to_string();
        assert_eq!(t("192.0.2.255"), "192.0.2.0");
        assert_eq!(t("2001:db8:abcd:1234:5678::1"), "2001:db8:abcd::");
        assert_eq!(t("::ffff:198.51.100.9"), "198.51.100.0");
        assert_eq!(t("::1"), "::");
    }

    #[test]
    fn each_ip_mode_writes_its_own_field_and_an_opt_out_writes_none() {
        let t = Privacy::new(IpMode::Truncate, "", 24, &[]);
        assert_eq!(
            t.ip_fields(ip("203.0.113.77"), false, SystemTime::now())
                .0
                .to_string(),
            "203.0.113.0"
        );
        assert_eq!(
            t.ip_fields(ip("203.0.113.77"), true, SystemTime::now()),
            (IpField::Empty, None)
        );
        let f = Privacy::new(IpMode::Full, "", 24, &[]);
        assert_eq!(
            f.ip_fields(ip("203.0.113.77"), false, SystemTime::now()),
            (
                IpField::Addr("203.0.113.0".parse().unwrap()),
                ip("203.0.113.77")
            )
        );
        assert_eq!(
            f.ip_fields(ip("203.0.113.77"), true, SystemTime::now()),
            (IpField::Empty, None)
        );
        let n = Privacy::new(IpMode::None, "", 24, &[]);
        assert_eq!(
            n.ip_fields(ip("203.0.113.77"), false, SystemTime::now())
                .0
                .to_string(),
            ""
        );
    }

    #[test]
    fn hashes_are_keyed_and_stable_within_a_period() {
        let a = Privacy::new(IpMode::Hash, "secret-one", 24, &[]);
        let b = Privacy::new(IpMode::Hash, "secret-two", 24, &[]);
        let noon =
            UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 / 86_400 * 86_400 + 43_200);
        let h = |p: &Privacy, addr: &str, at: SystemTime| {
            p.ip_fields(ip(addr), false, at).0.to_string()
        };
        let x = h(&a, "198.51.100.7", noon);
        assert!(x.starts_with("h:") && x.len() == 26, "{x}");
        assert_eq!(
            x,
            h(
                &a,
                "198.51.100.7",
                noon + std::time::Duration::from_secs(3600)
            )
        );
        assert_eq!(x, h(&a, "::ffff:198.51.100.7", noon));
        assert_ne!(x, h(&a, "198.51.100.8", noon));
        assert_ne!(x, h(&b, "198.51.100.7", noon));
        // The next day, another key.
        assert_ne!(
            x,
            h(
                &a,
                "198.51.100.7",
                noon + std::time::Duration::from_secs(86_400)
            )
        );
        assert!(!x.contains("198.51"));
        // Another period, another key.
        assert_ne!(
            period_key(b"s", 1).finalize().into_bytes(),
            period_key(b"s", 2).finalize().into_bytes()
        );
    }

    #[test]
    fn addresses_in_the_user_agent_and_referrer_go_except_in_full_mode() {
        let t = Privacy::new(IpMode::Truncate, "", 24, &[]);
        let ua =
            "Mozilla/5.0 (Linux; Android 14) MyApp/3.2 (clientip=203.0.113.77; v6 2001:db8::7)";
        let s = t.user_agent(ua);
        assert!(!s.contains("203.0.113") && !s.contains("2001:db8"), "{s}");
        assert!(s.contains("MyApp/3.2"), "{s}");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36";
        assert!(matches!(
            t.user_agent(chrome),
            std::borrow::Cow::Borrowed(_)
        ));
        for keep in [
            "Version/4.0.1.2a",
            "Build/UP1A.231005.007",
            "rv:133.0",
            "AppleWebKit/605.1.15",
        ] {
            assert!(ip_spans(keep).is_empty(), "{keep}");
        }
        assert_eq!(t.referrer_host("203.0.113.9".into()), "[scrubbed]");
        assert_eq!(t.referrer_host("2001:db8::1".into()), "[scrubbed]");
        assert_eq!(t.referrer_host("news.example".into()), "news.example");
        for mode in [IpMode::Hash, IpMode::None] {
            let p = Privacy::new(mode, "", 24, &[]);
            assert!(!p.user_agent(ua).contains("203.0.113"));
        }
        let f = Privacy::new(IpMode::Full, "", 24, &[]);
        assert!(f.user_agent(ua).contains("203.0.113.77"));
        assert_eq!(f.referrer_host("203.0.113.9".into()), "203.0.113.9");
    }

    #[test]
    fn an_address_with_a_port_in_the_user_agent_is_scrubbed() {
        let t = Privacy::new(IpMode::Truncate, "", 24, &[]);
        for ua in [
            "MyApp/3.2 (server 203.0.113.9:443)",
            "MyApp/3.2 (203.0.113.9:443:1)",
            "MyApp/3.2 (peer=198.51.100.1:8080:203.0.113.9)",
        ] {
            let s = t.user_agent(ua);
            assert!(
                !s.contains("203.0.113") && !s.contains("198.51.100"),
                "{ua} -> {s}"
            );
            assert!(s.starts_with("MyApp/3.2 ("), "{s}");
        }
        assert_eq!(
            t.user_agent("MyApp/3.2 (server 203.0.113.9:443)"),
            "MyApp/3.2 (server [scrubbed]:443)"
        );
        let f = Privacy::new(IpMode::Full, "", 24, &[]);
        assert!(f.user_agent("x 203.0.113.9:443").contains("203.0.113.9"));
    }

    #[test]
    fn a_referrer_host_is_read_as_a_url_host_is() {
        let t = Privacy::new(IpMode::Truncate, "", 24, &[]);
        // An address in any spelling a URL host may take is an address.
        for host in [
            "192.168.1.5.",
            "0x7f000001",
            "3232235777",
            "017.0.0.1",
            "0300.0250.1.5",
            "192.168.1",
            "%31%39%32.168.1.5",
            "::ffff:192.168.1.5",
        ] {
            assert_eq!(t.referrer_host(host.into()), "[scrubbed]", "{host}");
        }
        // Not a host at all: nothing is written.
        for host in ["a b.com", "a<b.com", "1.2.3.256", "", "a%20b.com"] {
            assert_eq!(t.referrer_host(host.into()), "", "{host}");
        }
        // A name is written as a URL writes it.
        assert_eq!(t.referrer_host("news.example".into()), "news.example");
        assert_eq!(t.referrer_host("News.Example".into()), "news.example");
        assert_eq!(
            t.referrer_host("bücher.example".into()),
            "xn--bcher-kva.example"
        );
        // `full` keeps the address, written the one usual way.
        let f = Privacy::new(IpMode::Full, "", 24, &[]);
        assert_eq!(f.referrer_host("0x7f000001".into()), "127.0.0.1");
        assert_eq!(f.referrer_host("192.168.1.5.".into()), "192.168.1.5");
        assert_eq!(f.referrer_host("2001:DB8::1".into()), "2001:db8::1");
        assert_eq!(f.referrer_host("a b.com".into()), "");
    }

    #[test]
    fn contact_details_are_scrubbed_from_agents_and_clean_agents_are_borrowed() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36";
        assert!(matches!(scrub(chrome), std::borrow::Cow::Borrowed(_)));
        let app = "Mozilla/5.0 (Linux; Android 14) MyApp/3.2 (user=jane.doe@example.com; tel +1 415-555-0100)";
        let s = scrub(app);
        assert!(
            !s.contains("jane") && !s.contains("example.com") && !s.contains("555"),
            "{s}"
        );
        assert!(s.contains("MyApp/3.2"));
        assert_eq!(scrub("call 0151 23456789 now"), "call [scrubbed] now");
        for keep in [
            "Chrome/131.0.6778.85",
            "Build/UP1A.231005.007",
            "FBBV/652578154",
            "rv:133.0",
        ] {
            assert!(phone_spans(keep).is_empty(), "{keep}");
        }
    }
}
