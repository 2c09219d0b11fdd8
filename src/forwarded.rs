//! The client's address behind load balancers (docs/contract.md §8).
//!
//! The socket peer is the client, unless the peer is one of
//! `server.trusted_proxies`; then the client is the right-most address of
//! `X-Forwarded-For` (or, without one, of `Forwarded: for=`) that is not
//! itself a trusted proxy. Addresses to the right of it were added by
//! trusted proxies; everything to the left was written by the client and
//! is never believed. A trusted peer that sends no usable header is the
//! client itself.
//!
//! Requests proxied to the origin carry the edge's own `X-Forwarded-For`:
//! the checked part of the chain (the client and the trusted proxies after
//! it) and the peer, never a chain the client made up.
//!
//! Costs: nothing for a peer that is not trusted (one prefix-trie lookup);
//! for a trusted one, a scan of the header's bytes.

use crate::ivt::IpSet;
use std::net::IpAddr;

/// The trusted proxies, from `server.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(IpSet);

impl TrustedProxies {
    pub fn new(set: IpSet) -> TrustedProxies {
        TrustedProxies(set)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address and, for the origin, the checked chain ending
    /// with the peer (`client, proxy, ..., peer`).
    pub fn resolve(&self, peer: IpAddr, headers: &http::HeaderMap) -> Resolved {
        if !self.0.contains(peer) {
            return Resolved {
                client: peer,
                chain: Vec::new(),
                peer,
            };
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            hops.extend(
                v.as_bytes()
                    .split(|&b| b == b',')
                    .filter_map(|h| parse_hop(h, false)),
            );
        }
        if hops.is_empty() {
            for v in headers.get_all("forwarded") {
                for element in v.as_bytes().split(|&b| b == b',') {
                    for pair in element.split(|&b| b == b';') {
                        let pair = pair.trim_ascii();
                        if pair.len() > 4 && pair[..4].eq_ignore_ascii_case(b"for=") {
                            hops.extend(parse_hop(&pair[4..], true));
                        }
                    }
                }
            }
        }
        // Right to left: skip the trusted proxies; the first other is the client.
        match hops.iter().rposition(|ip| !self.0.contains(*ip)) {
            Some(i) => Resolved {
                client: hops[i],
                chain: hops.split_off(i),
                peer,
            },
            // Only trusted hops (or none): the leftmost trusted one, or the peer.
            None => Resolved {
                client: hops.first().copied().unwrap_or(peer),
                chain: hops,
                peer,
            },
        }
    }
}

/// What [`TrustedProxies::resolve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The client, as every check, privacy mode and lookup sees it.
    pub client: IpAddr,
    /// The checked hops, client first (empty when the peer is the client).
    pub chain: Vec<IpAddr>,
    pub peer: IpAddr,
}

impl Resolved {
    /// The `X-Forwarded-For` the origin gets: the checked chain, then the peer.
    pub fn forwarded_for(&self) -> String {
        let mut out = String::new();
        for ip in self.chain.iter().chain(std::iter::once(&self.peer)) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&ip.to_string());
        }
        out
    }
}

/// One hop: an address, maybe quoted, bracketed, or with a port (`Forwarded`
/// writes `"[2001:db8::1]:4711"` and `192.0.2.1:80`). Anything else
/// (`unknown`, an obfuscated name) is no address.
fn parse_hop(raw: &[u8], forwarded: bool) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    let s = if forwarded { s.trim_matches('"') } else { s };
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    // v4 with a port
    let (host, port) = s.rsplit_once(':')?;
    port.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(IpSet::parse("10.0.0.0/8\n2001:db8:ffff::/48").unwrap())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let r = trusted().resolve(
            ip("198.51.100.7"),
            &headers(&[("x-forwarded-for", "6.6.6.6")]),
        );
        assert_eq!(r.client, ip("198.51.100.7"));
        assert_eq!(r.forwarded_for(), "198.51.100.7");
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted();
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        let r = t.resolve(ip("10.0.0.2"), &h);
        assert_eq!(
            r.client,
            ip("203.0.113.9"),
            "6.6.6.6 was the client's own claim"
        );
        assert_eq!(r.forwarded_for(), "203.0.113.9, 10.1.1.1, 10.0.0.2");
        // Two header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(t.resolve(ip("10.0.0.2"), &h).client, ip("203.0.113.9"));
        // IPv6, with garbage the client wrote on the left.
        let h = headers(&[("x-forwarded-for", "nonsense, 2001:db8:1::5")]);
        assert_eq!(
            t.resolve(ip("2001:db8:ffff::1"), &h).client,
            ip("2001:db8:1::5")
        );
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8:1::5]:4711\";proto=https, For=10.2.2.2:80",
        )]);
        let r = trusted().resolve(ip("10.0.0.2"), &h);
        assert_eq!(r.client, ip("2001:db8:1::5"));
        assert_eq!(r.chain, [ip("2001:db8:1::5"), ip("10.2.2.2")]);
    }

    #[test]
    fn a_trusted_peer_without_a_usable_header_is_the_client() {
        let t = trusted();
        assert_eq!(
            t.resolve(ip("10.0.0.2"), &headers(&[])).client,
            ip("10.0.0.2")
        );
        let h = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(t.resolve(ip("10.0.0.2"), &h).client, ip("10.0.0.2"));
        // Only trusted hops: the first of them.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(t.resolve(ip("10.0.0.2"), &h).client, ip("10.9.9.9"));
    }
}
