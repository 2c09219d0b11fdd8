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
use std::time::SystemTime;

mod poller;
pub(crate) use poller::Poller;

/// The largest bundle an edge reads: a larger one is refused as
/// `too_large` without being buffered (the lists of a fleet are a few MiB).
pub(crate) const MAX_BUNDLE_BYTES: u64 = 64 << 20;

/// The files a bundle may carry, and what the edge does with each.
pub(crate) const FILES: &[(&str, &str)] = &[
    ("bot_patterns.txt", "bot patterns, one regular expression a line (the format of ivt.bots.pattern_files): known_bot, blocked like the operator's own files"),
    ("link_scanners.txt", "link and mail scanner patterns, the same format: link_scanner, flagged"),
    ("internal_ips.txt", "internal networks, one CIDR a line: internal_ip"),
    ("datacenter_ips.txt", "data-center networks, one CIDR a line: datacenter_ip"),
    ("datacenter_asns.txt", "data-center AS numbers, one a line (with geo.asn_db): datacenter_ip"),
    ("publishers.tsv", "publisher statuses as `clickedge strikes export` writes them: publisher_hold, publisher_suspended"),
];

/// A verified bundle: its version and its files' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bundle {
    pub version: u64,
    /// RFC 3339.
    pub created: String,
    pub files: BTreeMap<String, String>,
}

impl Bundle {
    /// Loads each list as the edge will (patterns compiled, networks, AS
    /// numbers and publisher statuses parsed), so a bundle that verifies
    /// also loads. `Err` names every file that would not, with its line.
    pub(crate) fn check(&self) -> Result<(), Unloadable> {
        check_files(self.files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }
}

/// One list of a bundle that an edge could not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub(crate) struct UnloadableList {
    /// The bundle's file name (`bot_patterns.txt`...).
    pub file: String,
    /// What is wrong, with the line, for people.
    pub problem: String,
}

/// The lists of a bundle that an edge could not load, each with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub(crate) struct Unloadable(pub Vec<UnloadableList>);

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
            _ => Err(format!("a bundle carries only {}", known_files())),
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

/// Why a key could not be made, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no randomness from the OS: {0}")]
    NoRandomness(getrandom::Error),
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a key written by `clickedge rules keygen`", .path.display())]
    NotAKeyFile { path: PathBuf },
    #[error("not an Ed25519 public key as `clickedge rules keygen` prints it (base64, 32 bytes)")]
    NotBase64PublicKey,
    #[error("not an Ed25519 public key: {0}")]
    NotAPublicKey(ed25519_dalek::SignatureError),
}

/// Why `rules build` made no bundle.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: a bundle carries only {}", .path.display(), known_files())]
    UnknownFile { path: PathBuf },
    #[error("{}: not UTF-8 text", .path.display())]
    NotText { path: PathBuf },
    #[error("{}: no list to bundle", .dir.display())]
    Empty { dir: PathBuf },
    /// A list the edges could not load.
    #[error("{}: {lists}", .dir.display())]
    Unloadable { dir: PathBuf, lists: Unloadable },
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
}

/// Why a bundle was refused: what is wrong with it, by kind.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("not a rules bundle: {0}")]
    NotABundle(serde_json::Error),
    #[error("unsigned: no Ed25519 signature")]
    Unsigned,
    #[error("the signature does not hold for the configured public key")]
    BadSignature,
    #[error("bad manifest: {0}")]
    BadManifest(serde_json::Error),
    #[error("unknown file {0:?} in the manifest")]
    UnknownFile(String),
    #[error("{0}: in the manifest but not in the bundle")]
    MissingFile(String),
    /// A file whose size or SHA-256 is not the manifest's.
    #[error("{0}: does not match the manifest's SHA-256 (tampered)")]
    Tampered(String),
    #[error("{0}: not UTF-8 text")]
    NotText(String),
    /// A file the manifest does not list.
    #[error("a file not in the manifest (tampered)")]
    Unlisted,
}

/// Why the kept bundle could not be used: its file, and why.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeptError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Refused { path: PathBuf, source: OpenError },
}

/// The file names a bundle may carry, for messages.
fn known_files() -> String {
    FILES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// A new secret key, and its public key in base64.
pub(crate) fn keygen() -> Result<(SigningKey, String), KeyError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(KeyError::NoRandomness)?;
    let key = SigningKey::from_bytes(&secret);
    let public = B64.encode(key.verifying_key().as_bytes());
    Ok((key, public))
}

/// The key file's text: the secret key in base64, one line.
pub(crate) fn key_file_text(key: &SigningKey) -> String {
    format!("{}\n", B64.encode(key.to_bytes()))
}

/// The secret key of a `rules keygen` key file.
pub fn read_key_file(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::NotAKeyFile {
            path: path.to_path_buf(),
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// A public key as `rules keygen` prints it.
pub(crate) fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(KeyError::NotBase64PublicKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(KeyError::NotAPublicKey)
}

/// Packs the known files of `dir` into a signed bundle. Any other file in
/// `dir` is an error: a misnamed list must not be left out silently.
pub(crate) fn build(
    key: &SigningKey,
    dir: &Path,
    version: u64,
    created: SystemTime,
) -> Result<Vec<u8>, BuildError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Read { path, source }
    };
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !FILES.iter().any(|(n, _)| *n == name) {
            return Err(BuildError::UnknownFile { path });
        }
        let bytes = std::fs::read(&path).map_err(read_error(&path))?;
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(BuildError::NotText { path });
        };
        texts.push((name, text));
    }
    if texts.is_empty() {
        return Err(BuildError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    // A list the edges could not load is refused here, not by every edge.
    check_files(texts.iter().map(|(n, t)| (n.as_str(), t.as_str()))).map_err(|lists| {
        BuildError::Unloadable {
            dir: dir.to_path_buf(),
            lists,
        }
    })?;
    Ok(sign(key, &texts, version, created)?)
}

/// Signs `files` (name, text) as a bundle, without checking that the lists
/// load: `build` checks first. Public so a test can make the bundle an
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
pub(crate) fn open(bytes: &[u8], key: &VerifyingKey) -> Result<Bundle, OpenError> {
    let wire: Wire = serde_json::from_slice(bytes).map_err(OpenError::NotABundle)?;
    let sig: [u8; 64] = B64
        .decode(wire.signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(OpenError::Unsigned)?;
    key.verify(wire.manifest.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| OpenError::BadSignature)?;
    let manifest: Manifest =
        serde_json::from_str(&wire.manifest).map_err(OpenError::BadManifest)?;
    let mut files = BTreeMap::new();
    for (name, entry) in &manifest.files {
        if !FILES.iter().any(|(n, _)| n == name) {
            return Err(OpenError::UnknownFile(name.clone()));
        }
        let data = wire
            .files
            .get(name)
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(|| OpenError::MissingFile(name.clone()))?;
        if data.len() as u64 != entry.bytes || hex(&Sha256::digest(&data)) != entry.sha256 {
            return Err(OpenError::Tampered(name.clone()));
        }
        let text = String::from_utf8(data).map_err(|_| OpenError::NotText(name.clone()))?;
        files.insert(name.clone(), text);
    }
    if wire.files.keys().any(|n| !manifest.files.contains_key(n)) {
        return Err(OpenError::Unlisted);
    }
    Ok(Bundle {
        version: manifest.version,
        created: manifest.created,
        files,
    })
}

/// The bundle an edge keeps, read and verified; `Ok(None)` when there is
/// none yet.
pub(crate) fn load_kept(path: &Path, key: &VerifyingKey) -> Result<Option<Bundle>, KeptError> {
    match std::fs::read(path) {
        Ok(bytes) => open(&bytes, key)
            .map(Some)
            .map_err(|source| KeptError::Refused {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeptError::Read {
            path: path.to_path_buf(),
            source,
        }),
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
        assert!(matches!(
            open(&bytes, &parse_public_key(&other).unwrap()),
            Err(OpenError::BadSignature)
        ));
        // A file changed after signing.
        let mut w: Wire = serde_json::from_slice(&bytes).unwrap();
        w.files
            .insert("bot_patterns.txt".into(), B64.encode("nothing\n"));
        let e = open(&serde_json::to_vec(&w).unwrap(), &pk).unwrap_err();
        assert!(
            matches!(&e, OpenError::Tampered(name) if name == "bot_patterns.txt"),
            "{e:?}"
        );
        assert!(e.to_string().contains("tampered"), "{e}");
        // The manifest changed after signing.
        let mut w: Wire = serde_json::from_slice(&bytes).unwrap();
        w.manifest = w.manifest.replace("\"version\":7", "\"version\":8");
        assert!(matches!(
            open(&serde_json::to_vec(&w).unwrap(), &pk),
            Err(OpenError::BadSignature)
        ));
        // Unsigned.
        let mut w: Wire = serde_json::from_slice(&bytes).unwrap();
        w.signature = String::new();
        assert!(matches!(
            open(&serde_json::to_vec(&w).unwrap(), &pk),
            Err(OpenError::Unsigned)
        ));
        // A file a bundle does not carry.
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let e = build(&key, dir.path(), 8, SystemTime::now()).unwrap_err();
        assert!(
            matches!(&e, BuildError::UnknownFile { path } if path.ends_with("notes.txt")),
            "{e:?}"
        );
        assert!(e.to_string().contains("carries only"), "{e}");
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
        assert!(matches!(
            read_key_file(&path),
            Err(KeyError::NotAKeyFile { .. })
        ));
        assert!(matches!(
            parse_public_key("short"),
            Err(KeyError::NotBase64PublicKey)
        ));
    }
}
