//! The client's address behind load balancers (docs/contract.md §8).
//!
//! The socket peer is the client, unless the peer is one of
//! `server.trusted_proxies`; then the client is the right-most address of
//! `X-Forwarded-For` (or, without one, of `Forwarded: for=`) that is not
//! itself a trusted proxy. Addresses to the right of it were added by
//! trusted proxies; everything to the left was written by the client and
//! is never believed. An entry that is no address (RFC 7239's `for=unknown`,
//! an obfuscated name, garbage) ends the walk: the hop that wrote it, the
//! last trusted proxy walked or else the peer, is the client as far as
//! anyone knows. A trusted peer that sends no usable header is the client
//! itself.
//!
//! Requests proxied to the origin carry the edge's own `X-Forwarded-For`:
//! the checked part of the chain (the client and the trusted proxies after
//! it) and the peer, never a chain the client made up; and the client alone
//! as `X-Real-IP` (see `proxy::EdgeProxy::upstream_request_filter`).
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

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
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
        let hops = hops(headers);
        // Right to left: skip the trusted proxies; the first other is the
        // client. An entry that cannot be read ends the walk: the hop that
        // wrote it (the last trusted one walked, or the peer) is the client
        // as far as anyone knows, and nothing to its left is believed.
        let mut client = peer;
        let mut start = hops.len();
        for (i, hop) in hops.iter().enumerate().rev() {
            let Some(ip) = *hop else { break };
            client = ip;
            start = i;
            if !self.0.contains(ip) {
                break;
            }
        }
        Resolved {
            client,
            chain: hops[start..].iter().flatten().copied().collect(),
            peer,
        }
    }
}

/// The entries of `X-Forwarded-For` (every line, one list) or, without
/// one, of `Forwarded`, left to right: `None` for an entry that is no
/// address (`unknown`, an obfuscated name, garbage, a `Forwarded` element
/// without `for=`). Empty list elements are not entries (RFC 9110 §5.6.1).
fn hops(headers: &http::HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        hops.extend(
            v.as_bytes()
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|h| !h.is_empty())
                .map(|h| parse_hop(h, false)),
        );
    }
    if !hops.is_empty() {
        return hops;
    }
    for v in headers.get_all("forwarded") {
        for element in split_unquoted(v.as_bytes(), b',') {
            if element.trim_ascii().is_empty() {
                continue;
            }
            let for_ = split_unquoted(element, b';').find_map(|pair| {
                let pair = pair.trim_ascii();
                (pair.len() >= 4 && pair[..4].eq_ignore_ascii_case(b"for=")).then(|| &pair[4..])
            });
            hops.push(for_.and_then(|f| parse_hop(f, true)));
        }
    }
    hops
}

/// `s` split at each `sep` outside a quoted string (RFC 7239 values may be
/// quoted, and a quoted value may hold a comma or a semicolon).
fn split_unquoted(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in s.iter().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == sep && !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
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
    fn an_unreadable_entry_ends_the_walk() {
        let t = trusted();
        let peer = ip("10.0.0.2");
        // The trusted proxy wrote `unknown` (or something that is no
        // address): the client is as far as anyone knows the proxy itself,
        // never the address the client wrote to its left.
        for xff in ["1.1.1.1, unknown", "1.1.1.1, garbage", "1.1.1.1,_hidden"] {
            let r = t.resolve(peer, &headers(&[("x-forwarded-for", xff)]));
            assert_eq!(r.client, peer, "{xff}");
            assert_eq!(r.forwarded_for(), "10.0.0.2", "{xff}");
        }
        // Behind two proxies, the last trusted hop walked is the client.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, unknown, 10.1.1.1")]);
        let r = t.resolve(peer, &h);
        assert_eq!(r.client, ip("10.1.1.1"));
        assert_eq!(r.forwarded_for(), "10.1.1.1, 10.0.0.2");
        // The same in `Forwarded`, where RFC 7239 lets a proxy write it.
        for fwd in [
            "for=1.1.1.1, for=unknown",
            "for=1.1.1.1, for=_hidden",
            "for=1.1.1.1, for=\"_x,y\"",
            "for=1.1.1.1, proto=https",
        ] {
            let r = t.resolve(peer, &headers(&[("forwarded", fwd)]));
            assert_eq!(r.client, peer, "{fwd}");
        }
        // A quoted comma is no element boundary.
        let h = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=203.0.113.9;ext=\"a,for=6.6.6.6\"",
        )]);
        assert_eq!(t.resolve(peer, &h).client, ip("203.0.113.9"));
        // Empty list elements are no entries (RFC 9110 §5.6.1).
        let h = headers(&[("x-forwarded-for", "203.0.113.9, , 10.1.1.1,")]);
        assert_eq!(t.resolve(peer, &h).client, ip("203.0.113.9"));
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
