//! HMAC-SHA256 signing of click queries, several keys at once.
//!
//! The signature covers the raw query string before `&sig=`, byte for byte
//! (docs/contract.md §3), so what is verified is exactly what was minted: no
//! re-encoding, no parameter reordering. Verification is constant-time
//! (`hmac`'s `verify_slice`). Each key's HMAC state is keyed once when the
//! key set is built and cloned per request, so a click pays for the hash of
//! its query only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The keys in force, by id. Small (a handful during a rotation), so a
/// linear scan beats hashing.
#[derive(Clone, Default)]
pub struct Keys {
    keys: Vec<(String, HmacSha256)>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keys").field("ids", &ids).finish()
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigError {
    UnknownKey,
    Malformed,
    Mismatch,
}

impl Keys {
    /// The keys by id, each with its secret bytes.
    pub fn new<'a>(keys: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Keys {
        Keys {
            keys: keys
                .into_iter()
                .map(|(id, secret)| {
                    // HMAC takes keys of any length; this cannot fail.
                    let mac = <HmacSha256 as Mac>::new_from_slice(secret)
                        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
                    (id.to_string(), mac)
                })
                .collect(),
        }
    }

    /// No key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn get(&self, kid: &str) -> Option<&HmacSha256> {
        self.keys.iter().find(|(id, _)| id == kid).map(|(_, m)| m)
    }

    /// Checks `sig` (base64url, no padding) over `signed` with key `kid`.
    pub fn verify(&self, kid: &str, signed: &[u8], sig: &str) -> Result<(), SigError> {
        let mac = self.get(kid).ok_or(SigError::UnknownKey)?;
        let mut raw = [0u8; 32];
        // A valid tag is 43 characters; anything else cannot match. The decoder
        // rejects non-canonical trailing bits, so one tag has one spelling.
        if sig.len() != 43 {
            return Err(SigError::Malformed);
        }
        match URL_SAFE_NO_PAD.decode_slice(sig.as_bytes(), &mut raw) {
            Ok(32) => {}
            _ => return Err(SigError::Malformed),
        }
        let mut mac = mac.clone();
        mac.update(signed);
        mac.verify_slice(&raw).map_err(|_| SigError::Mismatch)
    }

    /// The signature of `signed` with key `kid`, base64url without padding.
    pub fn sign(&self, kid: &str, signed: &[u8]) -> Option<String> {
        let mut mac = self.get(kid)?.clone();
        mac.update(signed);
        Some(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new([
            ("k1", &b"0123456789abcdef-one"[..]),
            ("k2", b"0123456789abcdef-two"),
        ])
    }

    #[test]
    fn sign_then_verify_with_each_key() {
        let k = keys();
        for kid in ["k1", "k2"] {
            let sig = k.sign(kid, b"u=x&cmp=1").unwrap();
            assert_eq!(sig.len(), 43);
            assert_eq!(k.verify(kid, b"u=x&cmp=1", &sig), Ok(()));
            assert_eq!(k.verify(kid, b"u=x&cmp=2", &sig), Err(SigError::Mismatch));
        }
        let sig1 = k.sign("k1", b"q").unwrap();
        assert_eq!(k.verify("k2", b"q", &sig1), Err(SigError::Mismatch));
        assert_eq!(k.verify("k3", b"q", &sig1), Err(SigError::UnknownKey));
    }

    #[test]
    fn signing_matches_rfc_4231_test_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let k = Keys::new([("t", &b"Jefe"[..])]);
        let sig = k.sign("t", b"what do ya want for nothing?").unwrap();
        let hex: String = URL_SAFE_NO_PAD
            .decode(&sig)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn malformed_tags_are_refused_as_malformed() {
        let k = keys();
        let good = k.sign("k1", b"q").unwrap();
        assert_eq!(k.verify("k1", b"q", ""), Err(SigError::Malformed));
        assert_eq!(k.verify("k1", b"q", &good[..42]), Err(SigError::Malformed));
        assert_eq!(
            k.verify("k1", b"q", &format!("{good}A")),
            Err(SigError::Malformed)
        );
        let mut bad = good.clone().into_bytes();
        bad[5] = b'*';
        assert_eq!(
            k.verify("k1", b"q", std::str::from_utf8(&bad).unwrap()),
            Err(SigError::Malformed)
        );
    }
}
