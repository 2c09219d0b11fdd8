//! Data-center networks by autonomous system (`datacenter_ip`, rule
//! `asn:<number>`): a GeoLite2-ASN-format database (`geo.asn_db`) and the
//! AS numbers that count as data centers (the shipped list, `ivt`'s own,
//! the rules bundle's).
//!
//! List format: one AS number a line (`16509` or `AS16509`), `#` comments.

use super::list_file::{self, ListFileError};
use super::BundleLists;
use crate::config::{GeoConfig, IvtConfig, Problems};
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// The shipped data-center AS numbers (`conf/asn/datacenter-asns.txt`).
pub(crate) const BUILTIN_DATACENTER_ASNS: &str = include_str!("../../conf/asn/datacenter-asns.txt");

/// Why a list of AS numbers does not load: the line, and what is on it.
#[derive(Debug, thiserror::Error)]
pub enum AsnListError {
    #[error("line {line}: {text:?} is not an AS number (16509 or AS16509)")]
    Line { line: usize, text: String },
}

/// Data-center networks by autonomous system: an ASN database and the AS
/// numbers that count as data centers.
#[derive(Debug)]
pub struct DatacenterAsns {
    pub db: crate::geo::AsnDb,
    pub numbers: HashSet<u32>,
}

impl DatacenterAsns {
    /// With `geo.asn_db`: the database and every AS number `ivt` and the
    /// bundle list; without it, nothing (and a problem if numbers are
    /// listed, since they could never be looked up).
    pub fn from_config(
        cfg: &IvtConfig,
        geo: &GeoConfig,
        bundle: &BundleLists<'_>,
    ) -> Result<Option<Arc<DatacenterAsns>>, Problems> {
        let mut p = Problems::default();
        let Some(path) = &geo.asn_db else {
            if !cfg.datacenter_asns.is_empty() || !cfg.datacenter_asn_files.is_empty() {
                p.push(
                    "ivt.datacenter_asns",
                    "AS numbers need geo.asn_db (a GeoLite2-ASN-format .mmdb) to look \
                     addresses up in",
                );
            }
            return p.or(None);
        };
        let db = match crate::geo::AsnDb::open(path) {
            Ok(db) => db,
            Err(e) => {
                p.push("geo.asn_db", e.to_string());
                return Err(p);
            }
        };
        let mut numbers: HashSet<u32> = cfg.datacenter_asns.iter().copied().collect();
        if cfg.datacenter_asns_builtin {
            numbers.extend(Self::parse_numbers(BUILTIN_DATACENTER_ASNS).unwrap_or_default());
        }
        if let Some(t) = bundle.datacenter_asns {
            match Self::parse_numbers(t) {
                Ok(n) => numbers.extend(n),
                Err(e) => p.push("", format!("rules bundle datacenter_asns.txt: {e}")),
            }
        }
        for f in &cfg.datacenter_asn_files {
            match Self::read_numbers(f) {
                Ok(n) => numbers.extend(n),
                Err(e) => p.push("ivt.datacenter_asn_files", e.to_string()),
            }
        }
        p.or(Some(Arc::new(DatacenterAsns { db, numbers })))
    }

    /// The address's AS number, when it is a listed data center.
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        self.db.lookup(ip).filter(|n| self.numbers.contains(n))
    }

    /// AS numbers from a list's text, one a line, `#` comments; the error
    /// names the line.
    pub fn parse_numbers(text: &str) -> Result<Vec<u32>, AsnListError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let n = line.strip_prefix("AS").unwrap_or(line);
            out.push(n.parse().map_err(|_| AsnListError::Line {
                line: i + 1,
                text: line.to_string(),
            })?);
        }
        Ok(out)
    }

    /// AS numbers from a list file; the error names the file and the line.
    pub fn read_numbers(path: &Path) -> Result<Vec<u32>, ListFileError<AsnListError>> {
        list_file::load(path, Self::parse_numbers)
    }
}
