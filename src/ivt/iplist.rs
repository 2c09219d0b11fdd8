//! Sets of IPv4 and IPv6 networks: internal ranges, data-center ranges, the
//! IAB's robot IP list.
//!
//! A lookup walks a prefix trie ([`prefix_trie`]) at most 32 or 128 levels
//! deep and stops at the first covering network: its cost depends on the
//! address length, not on how many networks are listed. IPv4-mapped IPv6
//! addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports) are
//! looked up as the IPv4 address they are.
//!
//! File format: one network a line, `a.b.c.d/len`, `a:b::/len`, or a bare
//! address (a /32 or /128); `#` starts a comment, blank lines are skipped,
//! and anything after the first space or comma on a line is ignored (so
//! CSV-style exports with a network in the first column load as they are).

use super::list_file::{self, ListFileError};
use super::BundleLists;
use crate::config::{IvtConfig, Problems};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// An entry that is neither a network nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not a network (like 10.0.0.0/8 or 2001:db8::/32) or an address")]
pub struct NotANetwork {
    pub entry: String,
}

/// Why a list of networks does not load: the line, and what is on it.
#[derive(Debug, thiserror::Error)]
pub enum IpListError {
    #[error("line {line}: {entry}")]
    Line { line: usize, entry: NotANetwork },
}

/// The networks `ivt` lists, each set from the config's entries and
/// files and the rules bundle's list of the same kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpLists {
    /// The IAB IP exclusion list (`ivt.bots.iab_ip_file`): robots by address.
    pub robots: IpSet,
    /// `ivt.internal_ips`, `ivt.internal_ip_files`, the bundle's `internal_ips.txt`.
    pub internal: IpSet,
    /// `ivt.datacenter_ips`, `ivt.datacenter_ip_files`, the bundle's
    /// `datacenter_ips.txt`.
    pub datacenter: IpSet,
}

impl IpLists {
    /// Reads every set; `Err` lists each entry and file that does not load,
    /// by key, file and line.
    pub(crate) fn from_config(
        cfg: &IvtConfig,
        bundle: &BundleLists<'_>,
    ) -> Result<IpLists, Problems> {
        let mut p = Problems::default();
        let mut robots = IpSet::default();
        if let Some(path) = &cfg.bots.iab_ip_file {
            if let Err(e) = robots.extend_from_file(path) {
                p.push("ivt.bots.iab_ip_file", e.to_string());
            }
        }
        let mut set = |kind: &str, inline: &[String], files: &[PathBuf], shared: Option<&str>| {
            let mut set = IpSet::default();
            for entry in inline {
                if let Err(e) = set.add_entry(entry) {
                    p.push(format!("ivt.{kind}_ips"), e.to_string());
                }
            }
            for f in files {
                if let Err(e) = set.extend_from_file(f) {
                    p.push(format!("ivt.{kind}_ip_files"), e.to_string());
                }
            }
            if let Some(text) = shared {
                if let Err(e) = set.extend_from_text(text) {
                    p.push("", format!("rules bundle {kind}_ips.txt: {e}"));
                }
            }
            set
        };
        let internal = set(
            "internal",
            &cfg.internal_ips,
            &cfg.internal_ip_files,
            bundle.internal_ips,
        );
        let datacenter = set(
            "datacenter",
            &cfg.datacenter_ips,
            &cfg.datacenter_ip_files,
            bundle.datacenter_ips,
        );
        p.or(IpLists {
            robots,
            internal,
            datacenter,
        })
    }
}

/// A set of networks, looked up by address.
#[derive(Default, Clone)]
pub struct IpSet {
    v4: PrefixSet<Ipv4Net>,
    v6: PrefixSet<Ipv6Net>,
    len: usize,
}

impl std::fmt::Debug for IpSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IpSet({} networks)", self.len)
    }
}

impl IpSet {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn insert(&mut self, net: IpNet) {
        let new = match net.trunc() {
            IpNet::V4(n) => self.v4.insert(n),
            IpNet::V6(n) => self.v6.insert(n),
        };
        self.len += usize::from(new);
    }

    /// The most specific listed network holding `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<IpNet> {
        match ip {
            IpAddr::V4(v4) => self.v4.get_spm(&Ipv4Net::from(v4)).map(IpNet::V4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.get_spm(&Ipv4Net::from(v4)).map(IpNet::V4),
                None => self.v6.get_spm(&Ipv6Net::from(v6)).map(IpNet::V6),
            },
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4.get_spm(&Ipv4Net::from(v4)).is_some(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.get_spm(&Ipv4Net::from(v4)).is_some(),
                None => self.v6.get_spm(&Ipv6Net::from(v6)).is_some(),
            },
        }
    }

    /// Adds the networks of one entry: CIDR or bare address.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), NotANetwork> {
        let entry = entry.trim();
        let net = match entry.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => match entry.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => {
                    return Err(NotANetwork {
                        entry: entry.to_string(),
                    })
                }
            },
        };
        self.insert(net);
        Ok(())
    }

    /// Parses a list; an error names the line.
    pub fn parse(text: &str) -> Result<IpSet, IpListError> {
        let mut set = IpSet::default();
        set.extend_from_text(text)?;
        Ok(set)
    }

    pub fn extend_from_text(&mut self, text: &str) -> Result<(), IpListError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            let first = line.split([' ', ',', '\t', ';']).next().unwrap_or("");
            if first.is_empty() {
                continue;
            }
            self.add_entry(first)
                .map_err(|entry| IpListError::Line { line: i + 1, entry })?;
        }
        Ok(())
    }

    pub fn extend_from_file(&mut self, path: &Path) -> Result<(), ListFileError<IpListError>> {
        list_file::load(path, |text| self.extend_from_text(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_v6_and_mapped_addresses_are_found() {
        let set = IpSet::parse(
            "# data centers\n10.0.0.0/8\n192.0.2.7\n\n2001:db8::/32  # docs\n203.0.113.0/24,AS64500,Example\n",
        )
        .unwrap();
        assert_eq!(set.len(), 4);
        assert!(set.contains(ip("10.200.1.1")));
        assert!(set.contains(ip("192.0.2.7")));
        assert!(!set.contains(ip("192.0.2.8")));
        assert!(set.contains(ip("2001:db8:1::5")));
        assert!(!set.contains(ip("2001:db9::1")));
        assert!(set.contains(ip("::ffff:10.1.2.3")));
        assert!(set.contains(ip("203.0.113.99")));
        assert!(!set.contains(ip("11.0.0.1")));
    }

    #[test]
    fn host_bits_are_ignored_and_duplicates_counted_once() {
        let set = IpSet::parse("10.1.2.3/8\n10.0.0.0/8\n").unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains(ip("10.9.9.9")));
    }

    #[test]
    fn errors_name_the_line() {
        let e = IpSet::parse("10.0.0.0/8\nnot-an-ip\n").unwrap_err();
        assert!(matches!(e, IpListError::Line { line: 2, .. }), "{e}");
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        assert!(IpSet::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn empty_set_contains_nothing() {
        let set = IpSet::default();
        assert!(set.is_empty());
        assert!(!set.contains(ip("127.0.0.1")));
    }
}
