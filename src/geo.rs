//! Country of a click (docs/contract.md §5 `country`): the ISO 3166-1 code that a
//! MaxMind-format database (GeoLite2-Country, GeoIP2-Country, or any mmdb
//! with `country.iso_code`) gives for the client's full address.
//!
//! The database is read whole into memory when the policy loads (a
//! GeoLite2-Country file is about 9 MB) and looked up per click without
//! allocation: a walk of the search tree and one borrowed string. It is
//! reloaded with the other lists when its file changes. No database, or an
//! address it does not know: the country is empty.

use crate::config::{Problem, Problems};
use maxminddb::{path, Reader};
use std::net::IpAddr;
use std::path::Path;

/// Why a database file cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("{}: not a readable MaxMind DB (.mmdb) file: {source}", path.display())]
    Unreadable {
        path: std::path::PathBuf,
        source: maxminddb::MaxMindDbError,
    },
    /// A database of another kind than the key takes (its metadata's
    /// `database_type`): every lookup would miss, and nothing would say so.
    #[error(
        "{}: a {kind} database, not {wanted} database (geo.country_db takes a country or \
         city database, geo.asn_db an ASN one)", path.display()
    )]
    WrongKind {
        path: std::path::PathBuf,
        kind: String,
        wanted: &'static str,
    },
}

/// Reads a whole MaxMind DB file into memory, refusing one whose type
/// names one of `other` kinds (`GeoLite2-ASN` given as a country database).
fn open_mmdb(
    path: &Path,
    other: &[&str],
    wanted: &'static str,
) -> Result<Reader<Vec<u8>>, GeoError> {
    let reader = Reader::open_readfile(path).map_err(|source| GeoError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = &reader.metadata().database_type;
    let lower = kind.to_ascii_lowercase();
    if other.iter().any(|o| lower.contains(o)) {
        return Err(GeoError::WrongKind {
            path: path.to_path_buf(),
            kind: kind.clone(),
            wanted,
        });
    }
    Ok(reader)
}

/// A two-letter country code, copied out of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Country([u8; 2]);

impl Country {
    pub fn as_str(&self) -> &str {
        // Built only from two ASCII letters, so always UTF-8; empty if unset.
        if self.0 == [0, 0] {
            ""
        } else {
            std::str::from_utf8(&self.0).unwrap_or("")
        }
    }
}

pub struct CountryDb {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for CountryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryDb")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl CountryDb {
    /// `geo.country_db`, when configured.
    pub fn from_config(cfg: &crate::config::GeoConfig) -> Result<Option<CountryDb>, Problems> {
        match cfg.country_db.as_deref().map(CountryDb::open) {
            None => Ok(None),
            Some(Ok(db)) => Ok(Some(db)),
            Some(Err(e)) => Err(Problem::new("geo.country_db", e.to_string()).into()),
        }
    }

    /// Reads and checks the file: a MaxMind DB, not of another kind.
    pub fn open(path: &Path) -> Result<CountryDb, GeoError> {
        let reader = open_mmdb(
            path,
            &["asn", "isp", "domain", "connection", "anonymous"],
            "a country (or city)",
        )?;
        Ok(CountryDb { reader })
    }

    /// The country of `ip`, or empty when the database has none for it (or
    /// its record has no two-letter `country.iso_code`).
    pub fn lookup(&self, ip: IpAddr) -> Country {
        let Ok(found) = self.reader.lookup(ip) else {
            return Country::default();
        };
        match found.decode_path::<&str>(&path!["country", "iso_code"]) {
            Ok(Some(code)) if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
                let b = code.as_bytes();
                Country([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
            }
            _ => Country::default(),
        }
    }
}

/// The autonomous system of an address, from a GeoLite2-ASN-format mmdb
/// (`autonomous_system_number`): what `datacenter_ip` checks against the
/// data-center ASN list. Read whole when the policy loads, reloaded with it.
pub struct AsnDb {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for AsnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsnDb")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl AsnDb {
    /// Reads and checks the file: a MaxMind DB, not of another kind.
    pub fn open(path: &Path) -> Result<AsnDb, GeoError> {
        let reader = open_mmdb(path, &["country", "city"], "an ASN")?;
        Ok(AsnDb { reader })
    }

    /// The AS number of `ip`, when the database has one.
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        let found = self.reader.lookup(ip).ok()?;
        found
            .decode_path::<u32>(&path!["autonomous_system_number"])
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn db(dir: &Path) -> std::path::PathBuf {
        #[derive(serde::Serialize)]
        struct Rec {
            country: BTreeMap<&'static str, &'static str>,
        }
        let mut w = mmdb_writer::Writer::new("Test-Country");
        let rec = |c| Rec {
            country: [("iso_code", c)].into(),
        };
        w.insert("192.0.2.0/24".parse::<ipnet::IpNet>().unwrap(), &rec("NZ"))
            .unwrap();
        w.insert("2001:db8::/32".parse::<ipnet::IpNet>().unwrap(), &rec("de"))
            .unwrap();
        w.insert(
            "198.51.100.0/24".parse::<ipnet::IpNet>().unwrap(),
            &rec("XYZ"),
        )
        .unwrap();
        let p = dir.join("country.mmdb");
        std::fs::write(&p, w.to_bytes().unwrap()).unwrap();
        p
    }

    #[test]
    fn looks_up_v4_and_v6_and_misses_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let db = CountryDb::open(&db(dir.path())).unwrap();
        assert_eq!(db.lookup("192.0.2.77".parse().unwrap()).as_str(), "NZ");
        assert_eq!(db.lookup("2001:db8::1".parse().unwrap()).as_str(), "DE");
        assert_eq!(db.lookup("203.0.113.1".parse().unwrap()).as_str(), "");
        // Not a two-letter code: left empty rather than logged wrong.
        assert_eq!(db.lookup("198.51.100.1".parse().unwrap()).as_str(), "");
    }

    #[test]
    fn a_database_of_the_other_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A country database given as the ASN one: every lookup would miss.
        let e = AsnDb::open(&db(dir.path())).err().unwrap();
        assert!(
            matches!(&e, GeoError::WrongKind { kind, .. } if kind == "Test-Country"),
            "{e}"
        );
        let e = e.to_string();
        assert!(e.contains("Test-Country") && e.contains("ASN"), "{e}");
        #[derive(serde::Serialize)]
        struct Rec {
            autonomous_system_number: u32,
        }
        let mut w = mmdb_writer::Writer::new("GeoLite2-ASN");
        w.insert(
            "192.0.2.0/24".parse::<ipnet::IpNet>().unwrap(),
            &Rec {
                autonomous_system_number: 64500,
            },
        )
        .unwrap();
        let p = dir.path().join("asn.mmdb");
        std::fs::write(&p, w.to_bytes().unwrap()).unwrap();
        assert_eq!(
            AsnDb::open(&p)
                .unwrap()
                .lookup("192.0.2.1".parse().unwrap()),
            Some(64500)
        );
        let e = CountryDb::open(&p).err().unwrap();
        assert!(
            matches!(&e, GeoError::WrongKind { kind, .. } if kind == "GeoLite2-ASN"),
            "{e}"
        );
        let e = e.to_string();
        assert!(e.contains("GeoLite2-ASN") && e.contains("country"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_an_mmdb_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mmdb");
        std::fs::write(&p, b"not a database").unwrap();
        let e = CountryDb::open(&p).err().unwrap();
        assert!(matches!(e, GeoError::Unreadable { .. }), "{e}");
        let e = e.to_string();
        assert!(e.contains("x.mmdb") && e.contains("MaxMind"), "{e}");
    }
}
