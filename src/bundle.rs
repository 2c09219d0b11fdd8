//! Rules bundles (docs/contract.md §8): the lists a fleet's edges share,
//! packed into one signed file that every edge polls, verifies and keeps.
//!
//! A bundle is one JSON object:
//!
//! ```json
//! {"manifest": "<the manifest, as JSON text>",
//!  "signature": "<Ed25519 signature of the manifest text, base64>",
//!  "files": {"bot_patterns.txt": "<contents, base64>", ...}}
//! ```
//!
//! The manifest (`{"version":N,"created":"RFC 3339","files":{NAME:
//! {"sha256":HEX,"bytes":N}}}`) is signed as the exact text it is, so no
//! canonical JSON is needed; each file must have the size and SHA-256 the
//! manifest gives. An edge takes a bundle only if the signature holds with
//! its configured public key, every file matches, every file is one it
//! knows ([`FILES`]), and the version is newer than the one it has.
//!
//! The poller ([`Poller`]) fetches with `If-None-Match`, writes a bundle it
//! takes to `<data_dir>/rules/bundle.json` (replaced whole), and the
//! reloader, which watches that file, swaps the new policy in: the bundle
//! goes through the same path as a changed list file. An edge restarted
//! while the bundle server is down starts with the file it kept.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The largest bundle an edge reads: a larger one is refused as
/// `too_large` without being buffered (the lists of a fleet are a few MiB).
pub const MAX_BUNDLE_BYTES: u64 = 64 << 20;

/// The files a bundle may carry, and what the edge does with each.
pub const FILES: &[(&str, &str)] = &[
    ("bot_patterns.txt", "bot patterns, one regular expression a line (the format of ivt.bots.pattern_files): known_bot, blocked like the operator's own files"),
    ("link_scanners.txt", "link and mail scanner patterns, the same format: link_scanner, flagged"),
    ("internal_ips.txt", "internal networks, one CIDR a line: internal_ip"),
    ("datacenter_ips.txt", "data-center networks, one CIDR a line: datacenter_ip"),
    ("datacenter_asns.txt", "data-center AS numbers, one a line (with geo.asn_db): datacenter_ip"),
    ("publishers.tsv", "publisher statuses as `clickedge strikes export` writes them: publisher_hold, publisher_suspended"),
];

/// A verified bundle: its version and its files' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub version: u64,
    /// RFC 3339.
    pub created: String,
    pub files: BTreeMap<String, String>,
}

impl Bundle {
    /// Loads each list as the edge will (patterns compiled, networks, AS
    /// numbers and publisher statuses parsed), so a bundle that verifies
    /// also loads. `Err` names every file that would not, with its line.
    pub fn check(&self) -> Result<(), Unloadable> {
        check_files(self.files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }
}

/// One list of a bundle that an edge could not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct UnloadableList {
    /// The bundle's file name (`bot_patterns.txt`...).
    pub file: String,
    /// What is wrong, with the line, for people.
    pub problem: String,
}

/// The lists of a bundle that an edge could not load, each with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Unloadable(pub Vec<UnloadableList>);

/// The lists of a bundle, by file name, checked as [`Bundle::check`] says.
fn check_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), Unloadable> {
    use crate::ivt::bots::PatternList;
    let mut problems = Vec::new();
    for (name, text) in files {
        let loaded = match name {
            "bot_patterns.txt" | "link_scanners.txt" => {
                PatternList::compile([(format!("bundle {name}").as_str(), text)])
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            "internal_ips.txt" | "datacenter_ips.txt" => crate::ivt::IpSet::default()
                .extend_from_text(text)
                .map_err(|e| e.to_string()),
            "datacenter_asns.txt" => crate::ivt::DatacenterAsns::parse_numbers(text)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            "publishers.tsv" => crate::ivt::PublisherStatuses::parse(text)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "a bundle carries only {}",
                FILES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )),
        };
        if let Err(problem) = loaded {
            problems.push(UnloadableList {
                file: name.to_string(),
                problem,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Unloadable(problems))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    manifest: String,
    signature: String,
    files: BTreeMap<String, String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    version: u64,
    created: String,
    files: BTreeMap<String, FileEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FileEntry {
    sha256: String,
    bytes: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new secret key, and its public key in base64.
pub fn keygen() -> Result<(SigningKey, String), String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let key = SigningKey::from_bytes(&secret);
    let public = B64.encode(key.verifying_key().as_bytes());
    Ok((key, public))
}

/// The key file's text: the secret key in base64, one line.
pub fn key_file_text(key: &SigningKey) -> String {
    format!("{}\n", B64.encode(key.to_bytes()))
}

pub fn read_key_file(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            format!(
                "{}: not a key written by `clickedge rules keygen`",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// A public key as `rules keygen` prints it.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(
            "not an Ed25519 public key as `clickedge rules keygen` prints it (base64, 32 bytes)",
        )?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// Packs the known files of `dir` into a signed bundle. Any other file in
/// `dir` is an error: a misnamed list must not be left out silently.
pub fn build(
    key: &SigningKey,
    dir: &Path,
    version: u64,
    created: SystemTime,
) -> Result<Vec<u8>, String> {
    let mut texts = Vec::new();
    let read = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in read {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !FILES.iter().any(|(n, _)| *n == name) {
            return Err(format!(
                "{}: a bundle carries only {}",
                entry.path().display(),
                FILES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        }
        let bytes =
            std::fs::read(entry.path()).map_err(|e| format!("{}: {e}", entry.path().display()))?;
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(format!("{}: not UTF-8 text", entry.path().display()));
        };
        texts.push((name, text));
    }
    if texts.is_empty() {
        return Err(format!("{}: no list to bundle", dir.display()));
    }
    // A list the edges could not load is refused here, not by every edge.
    check_files(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .map_err(|p| format!("{}: {p}", dir.display()))?;
    sign(key, &texts, version, created).map_err(|e| e.to_string())
}

/// Signs `files` (name, text) as a bundle, without checking that the lists
/// load: [`build`] checks first. Public so a test can make the bundle an
/// older or foreign build would, and see every edge refuse it.
pub fn sign(
    key: &SigningKey,
    files: &[(String, String)],
    version: u64,
    created: SystemTime,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut entries = BTreeMap::new();
    let mut encoded = BTreeMap::new();
    for (name, text) in files {
        entries.insert(
            name.clone(),
            FileEntry {
                sha256: hex(&Sha256::digest(text.as_bytes())),
                bytes: text.len() as u64,
            },
        );
        encoded.insert(name.clone(), B64.encode(text.as_bytes()));
    }
    let manifest = serde_json::to_string(&Manifest {
        version,
        created: humantime::format_rfc3339(created).to_string(),
        files: entries,
    })?;
    let signature = B64.encode(key.sign(manifest.as_bytes()).to_bytes());
    serde_json::to_vec(&Wire {
        manifest,
        signature,
        files: encoded,
    })
}

/// Checks a bundle's signature, files and names; `Err` says what is wrong
/// (unsigned, tampered, unknown file).
pub fn open(bytes: &[u8], key: &VerifyingKey) -> Result<Bundle, String> {
    let wire: Wire =
        serde_json::from_slice(bytes).map_err(|e| format!("not a rules bundle: {e}"))?;
    let sig: [u8; 64] = B64
        .decode(wire.signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("unsigned: no Ed25519 signature")?;
    key.verify(wire.manifest.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not hold for the configured public key")?;
    let manifest: Manifest =
        serde_json::from_str(&wire.manifest).map_err(|e| format!("bad manifest: {e}"))?;
    let mut files = BTreeMap::new();
    for (name, entry) in &manifest.files {
        if !FILES.iter().any(|(n, _)| n == name) {
            return Err(format!("unknown file {name:?} in the manifest"));
        }
        let data = wire
            .files
            .get(name)
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(|| format!("{name}: in the manifest but not in the bundle"))?;
        if data.len() as u64 != entry.bytes || hex(&Sha256::digest(&data)) != entry.sha256 {
            return Err(format!(
                "{name}: does not match the manifest's SHA-256 (tampered)"
            ));
        }
        let text = String::from_utf8(data).map_err(|_| format!("{name}: not UTF-8 text"))?;
        files.insert(name.clone(), text);
    }
    if wire.files.keys().any(|n| !manifest.files.contains_key(n)) {
        return Err("a file not in the manifest (tampered)".into());
    }
    Ok(Bundle {
        version: manifest.version,
        created: manifest.created,
        files,
    })
}

/// The bundle an edge keeps, read and verified; `Ok(None)` when there is
/// none yet.
pub fn load_kept(path: &Path, key: &VerifyingKey) -> Result<Option<Bundle>, String> {
    match std::fs::read(path) {
        Ok(bytes) => open(&bytes, key)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Polls the bundle URL on its own thread.
pub struct Poller {
    stop: Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct PollState {
    url: String,
    key: VerifyingKey,
    poll: Duration,
    kept: PathBuf,
    metrics: Arc<crate::metrics::Metrics>,
    version: AtomicU64,
    created: std::sync::Mutex<Option<SystemTime>>,
}

impl Poller {
    /// Starts polling `url` every `poll` (plus or minus 10%).
    pub fn start(
        url: String,
        key: VerifyingKey,
        poll: Duration,
        kept: PathBuf,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> std::io::Result<Poller> {
        let state = PollState {
            url,
            key,
            poll,
            kept,
            metrics,
            version: AtomicU64::new(0),
            created: std::sync::Mutex::new(None),
        };
        // Only a bundle that loads is the last good one; another is
        // replaced by the next one the server has, whatever its version.
        if let Ok(Some(b)) = load_kept(&state.kept, &state.key) {
            if b.check().is_ok() {
                state.take(&b);
            }
        }
        let (stop, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("clickedge-rules".into())
            .spawn(move || state.run(rx))?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }

    pub fn shutdown(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl PollState {
    /// Notes a bundle as the one kept. The version in force
    /// (`clickedge_rules_bundle_version`) is the reload's to set, once the
    /// policy built from it is swapped in.
    fn take(&self, b: &Bundle) {
        self.version.store(b.version, Ordering::Relaxed);
        *self.created.lock().unwrap_or_else(|e| e.into_inner()) =
            humantime::parse_rfc3339(&b.created).ok();
    }

    fn fail(&self, why: &str, detail: &str) {
        self.metrics.rules_failures.with_label_values(&[why]).inc();
        tracing::warn!(
            reason = why,
            "rules bundle refused or not fetched: {detail}; the rules in force stay"
        );
    }

    fn run(self, stop: Receiver<()>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut etag: Option<String> = None;
        let mut first = true;
        loop {
            let wait = if first {
                Duration::ZERO
            } else {
                // Plus or minus 10%, so a fleet started together spreads out.
                let jitter = (uuid::Uuid::new_v4().as_u128() % 2001) as f64 / 1000.0 - 1.0;
                self.poll.mul_f64(1.0 + 0.1 * jitter)
            };
            first = false;
            match stop.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(created) = *self.created.lock().unwrap_or_else(|e| e.into_inner()) {
                let age = SystemTime::now()
                    .duration_since(created)
                    .unwrap_or_default();
                self.metrics.rules_age.set(age.as_secs() as i64);
            }
            let mut req = agent.get(&self.url);
            if let Some(tag) = &etag {
                req = req.header("If-None-Match", tag);
            }
            let mut resp = match req.call() {
                Ok(r) => r,
                Err(e) => {
                    self.fail("unreachable", &e.to_string());
                    continue;
                }
            };
            match resp.status().as_u16() {
                304 => continue,
                200 => {}
                s => {
                    self.fail("http_status", &format!("HTTP {s}"));
                    continue;
                }
            }
            let tag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // Too large by its own account: refused before a byte is read,
            // and its tag kept so the next poll is a 304, not the same body.
            let declared = resp
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_BUNDLE_BYTES) {
                self.fail(
                    "too_large",
                    &format!("{} bytes, over {MAX_BUNDLE_BYTES}", declared.unwrap_or(0)),
                );
                etag = tag;
                continue;
            }
            let bytes = match resp
                .body_mut()
                .with_config()
                .limit(MAX_BUNDLE_BYTES)
                .read_to_vec()
            {
                Ok(b) => b,
                Err(ureq::Error::BodyExceedsLimit(_)) => {
                    self.fail("too_large", &format!("over {MAX_BUNDLE_BYTES} bytes"));
                    etag = tag;
                    continue;
                }
                Err(e) => {
                    self.fail("unreachable", &e.to_string());
                    continue;
                }
            };
            let bundle = match open(&bytes, &self.key) {
                Ok(b) => b,
                Err(e) => {
                    self.fail("invalid", &e);
                    etag = tag;
                    continue;
                }
            };
            // Signed but not loadable (a pattern that does not compile):
            // never kept, so a restart still starts on the last good one.
            if let Err(unloadable) = bundle.check() {
                self.fail("unloadable", &unloadable.to_string());
                etag = tag;
                continue;
            }
            let current = self.version.load(Ordering::Relaxed);
            if bundle.version <= current {
                if bundle.version < current {
                    self.fail(
                        "stale",
                        &format!("version {} is older than {current}", bundle.version),
                    );
                }
                etag = tag;
                continue;
            }
            if let Err(e) = crate::files::replace_whole(&self.kept, &bytes) {
                self.fail("store", &e.to_string());
                continue;
            }
            self.take(&bundle);
            etag = tag;
            tracing::info!(
                version = bundle.version,
                "rules bundle taken; the reload picks it up"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_bundle_whose_list_does_not_load_names_that_list() {
        let (key, public) = keygen().unwrap();
        let files = [
            (
                "bot_patterns.txt".to_string(),
                "ok\n(unclosed\n".to_string(),
            ),
            ("publishers.tsv".to_string(), "p1\thold\n".to_string()),
        ];
        let bytes = sign(&key, &files, 3, SystemTime::now()).unwrap();
        let b = open(&bytes, &parse_public_key(&public).unwrap()).unwrap();
        let Err(Unloadable(lists)) = b.check() else {
            panic!("a pattern that does not compile was loadable");
        };
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].file, "bot_patterns.txt");
        assert!(lists[0].problem.contains("line 2"), "{}", lists[0].problem);
    }

    #[test]
    fn a_bundle_verifies_and_any_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bot_patterns.txt"), "zzbot\n").unwrap();
        std::fs::write(dir.path().join("publishers.tsv"), "p1\thold\n").unwrap();
        let (key, public) = keygen().unwrap();
        let pk = parse_public_key(&public).unwrap();
        let bytes = build(&key, dir.path(), 7, SystemTime::now()).unwrap();
        let b = open(&bytes, &pk).unwrap();
        assert_eq!(b.version, 7);
        assert_eq!(b.files["bot_patterns.txt"], "zzbot\n");

        // Another key's public key.
        let (_, other) = keygen().unwrap();
        assert!(open(&bytes, &parse_public_key(&other).unwrap())
            .unwrap_err()
            .contains("signature"));
        // A file changed after signing.
        let mut w: Wire = serde_json::from_slice(&bytes).unwrap();
        w.files
            .insert("bot_patterns.txt".into(), B64.encode("nothing\n"));
        let e = open(&serde_json::to_vec(&w).unwrap(), &pk).unwrap_err();
        assert!(e.contains("tampered"), "{e}");
        // The manifest changed after signing.
        let mut w: Wire = serde_json::from_slice(&bytes).unwrap();
        w.manifest = w.manifest.replace("\"version\":7", "\"version\":8");
        assert!(open(&serde_json::to_vec(&w).unwrap(), &pk).is_err());
        // Unsigned.
        let mut w: Wire = serde_json::from_slice(&bytes).unwrap();
        w.signature = String::new();
        assert!(open(&serde_json::to_vec(&w).unwrap(), &pk)
            .unwrap_err()
            .contains("unsigned"));
        // A file a bundle does not carry.
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        assert!(build(&key, dir.path(), 8, SystemTime::now())
            .unwrap_err()
            .contains("carries only"));
    }

    #[test]
    fn keys_round_trip_through_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keygen().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, key_file_text(&key)).unwrap();
        let read = read_key_file(&path).unwrap();
        assert_eq!(B64.encode(read.verifying_key().as_bytes()), public);
        std::fs::write(&path, "nope").unwrap();
        assert!(read_key_file(&path).is_err());
        assert!(parse_public_key("short").is_err());
    }
}
