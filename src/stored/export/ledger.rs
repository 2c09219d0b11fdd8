//! What has been exported to each platform: the ledger that makes each
//! conversion go out once per platform, beside the conversions.
//!
//! - Data dir: `<data-dir>/exported-<platform>.ndjson`, one line per
//!   conversion exported (`{"conversion_id":"…","exported_at":UNIX}`),
//!   appended and synced. It is opened without following a link and must
//!   be a regular file ([`crate::files::open_append`]): a link planted at
//!   its name cannot redirect the append. A torn last line (a crash during
//!   the append) is ignored: that conversion goes out again.
//! - ClickHouse: the table `clickedge_exported` (platform, conversion_id,
//!   exported_at) beside the click table, created when missing.

use crate::click::Platform;
use crate::ship::sinks::ClickHouse;
use crate::spool::reader::{read_line, Line};
use crate::spool::record;
use crate::stored::clickhouse::{self as ch, escape_tsv, unescape_tsv, ClickHouseError};
use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The ClickHouse table of exported conversions.
pub(crate) const EXPORTED_TABLE: &str = "clickedge_exported";

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LedgerError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} line {line}: not a ledger line", path.display())]
    NotALine { path: PathBuf, line: u64 },
    #[error("ClickHouse: {0}")]
    ClickHouse(ClickHouseError),
}

impl From<ClickHouseError> for LedgerError {
    fn from(e: ClickHouseError) -> Self {
        LedgerError::ClickHouse(e)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    conversion_id: String,
    exported_at: u64,
}

/// Where the ledger is.
pub(crate) enum Ledger<'a> {
    Local(PathBuf),
    ClickHouse(&'a ClickHouse),
}

impl<'a> Ledger<'a> {
    /// The ledger of `platform` in a data dir.
    pub(crate) fn local(data_dir: &Path, platform: Platform) -> Ledger<'a> {
        Ledger::Local(data_dir.join(format!("exported-{}.ndjson", platform.as_str())))
    }

    /// The conversions already exported to `platform`.
    pub(crate) fn read(&self, platform: Platform) -> Result<HashSet<String>, LedgerError> {
        let mut out = HashSet::new();
        match self {
            Ledger::Local(path) => {
                let io = |error| LedgerError::Io {
                    path: path.clone(),
                    error,
                };
                let file = match std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(path)
                {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(io(e)),
                };
                let mut r = std::io::BufReader::new(file);
                let mut line = Vec::new();
                for n in 1.. {
                    match read_line(&mut r, &mut line, record::MAX_LINE, &mut |_| Ok(()))
                        .map_err(io)?
                    {
                        Line::Eof | Line::Unended => break,
                        Line::TooLong { .. } => {
                            return Err(LedgerError::NotALine {
                                path: path.clone(),
                                line: n,
                            })
                        }
                        Line::Whole => {}
                    }
                    let e: Entry =
                        serde_json::from_slice(&line).map_err(|_| LedgerError::NotALine {
                            path: path.clone(),
                            line: n,
                        })?;
                    out.insert(e.conversion_id);
                }
            }
            Ledger::ClickHouse(c) => {
                prepare(c)?;
                let sql = format!(
                    "SELECT DISTINCT conversion_id FROM {} WHERE platform = '{}' FORMAT TSV",
                    c.sibling(EXPORTED_TABLE),
                    platform.as_str()
                );
                for line in ch::query(c, &sql)?.lines() {
                    out.insert(unescape_tsv(line));
                }
            }
        }
        Ok(out)
    }

    /// Records `ids` as exported to `platform` at `now` (Unix seconds):
    /// appended and synced, or inserted.
    pub(crate) fn append(
        &self,
        platform: Platform,
        ids: &[String],
        now: u64,
    ) -> Result<(), LedgerError> {
        if ids.is_empty() {
            return Ok(());
        }
        match self {
            Ledger::Local(path) => {
                let io = |error| LedgerError::Io {
                    path: path.clone(),
                    error,
                };
                let mut text = Vec::new();
                for id in ids {
                    let e = Entry {
                        conversion_id: id.clone(),
                        exported_at: now,
                    };
                    serde_json::to_writer(&mut text, &e)
                        .map_err(|e| io(std::io::Error::other(e)))?;
                    text.push(b'\n');
                }
                append_whole(path, &text).map_err(io)?;
                let dir = path.parent().unwrap_or(Path::new(""));
                crate::files::sync_dir(dir).map_err(io)?;
            }
            Ledger::ClickHouse(c) => {
                let mut sql = format!(
                    "INSERT INTO {} (platform, conversion_id, exported_at) FORMAT TSV\n",
                    c.sibling(EXPORTED_TABLE)
                );
                for id in ids {
                    sql.push_str(&format!(
                        "{}\t{}\t{now}\n",
                        platform.as_str(),
                        escape_tsv(id)
                    ));
                }
                ch::query(c, &sql)?;
            }
        }
        Ok(())
    }
}

/// Appends `text` (whole lines) to the ledger file and syncs it, after
/// cutting a torn last line (a crash during an earlier append) so the new
/// lines start on a line of their own. The file is opened without
/// following a link and must be a regular file.
fn append_whole(path: &Path, text: &[u8]) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let len = f.metadata()?.len();
    // A ledger line is far shorter than this.
    let tail_start = len.saturating_sub(4096);
    f.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let keep = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => tail_start + i as u64 + 1,
        None if tail_start == 0 => 0,
        None => len,
    };
    if keep < len {
        f.set_len(keep)?;
    }
    f.seek(SeekFrom::End(0))?;
    f.write_all(text)?;
    f.sync_all()
}

/// Creates the ledger's table when missing.
fn prepare(c: &ClickHouse) -> Result<(), ClickHouseError> {
    ch::query(
        c,
        &format!(
            "CREATE TABLE IF NOT EXISTS {} (platform String, conversion_id String, \
             exported_at UInt32) ENGINE = MergeTree() ORDER BY (platform, conversion_id)",
            c.sibling(EXPORTED_TABLE)
        ),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_keeps_what_was_exported_and_never_writes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::local(dir.path(), Platform::Google);
        assert!(l.read(Platform::Google).unwrap().is_empty());
        l.append(Platform::Google, &["a".into(), "b".into()], 1)
            .unwrap();
        l.append(Platform::Google, &["c".into()], 2).unwrap();
        let got = l.read(Platform::Google).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.contains("c"));
        // A torn last line is no entry.
        let path = dir.path().join("exported-google.ndjson");
        let mut f = crate::files::open_append(&path).unwrap();
        f.write_all(b"{\"conversion_id\":\"d").unwrap();
        assert_eq!(l.read(Platform::Google).unwrap().len(), 3);
        // And the next append cuts it.
        l.append(Platform::Google, &["e".into()], 3).unwrap();
        let got = l.read(Platform::Google).unwrap();
        assert_eq!(got.len(), 4);
        assert!(got.contains("e") && !got.contains("d"));

        // A link planted at the ledger's name is neither read nor written.
        let other = tempfile::tempdir().unwrap();
        let target = other.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, other.path().join("exported-microsoft.ndjson"))
            .unwrap();
        let l = Ledger::local(other.path(), Platform::Microsoft);
        assert!(matches!(
            l.append(Platform::Microsoft, &["x".into()], 1),
            Err(LedgerError::Io { .. })
        ));
        assert!(matches!(
            l.read(Platform::Microsoft),
            Err(LedgerError::Io { .. })
        ));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }
}
