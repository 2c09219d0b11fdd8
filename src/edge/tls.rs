//! TLS listeners: the certificate chain and key come from PEM files named in
//! the config, are handed to OpenSSL per handshake from a swappable slot,
//! and are replaced by the reloader without a restart.
//!
//! Owns: loading and checking a certificate/key pair (the key must match the
//! leaf certificate), and the handshake callback.
//!
//! Invariants: a handshake always sees one whole pair (an `ArcSwap` load);
//! a pair that fails to load never replaces the one in force.
//!
//! Backend: OpenSSL, Pingora's `openssl` feature, which builds OpenSSL 3
//! from source into the binary (only a C compiler, make and perl are needed,
//! all in Debian's base; no system libssl at build or run time). Pingora's
//! OpenSSL/BoringSSL path is its oldest, the one Cloudflare runs, and the one
//! with a per-handshake certificate callback, which is how certificates
//! reload here; BoringSSL would need Go and a longer build, and Pingora still
//! calls its rustls path experimental.

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::tls::error::ErrorStack;
use pingora::tls::pkey::{PKey, Private};
use pingora::tls::ssl::{select_next_proto, AlpnError, SslAcceptor, SslMethod};
use pingora::tls::x509::X509;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate chain (leaf first) and its private key.
pub struct CertKey {
    chain: Vec<X509>,
    key: PKey<Private>,
}

/// Why a certificate and key pair cannot be used; each names the file and
/// what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CertKeyError {
    #[error("tls: cannot read {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("tls.cert_file {}: not a PEM certificate chain ({error})", path.display())]
    NotAChain { path: PathBuf, error: ErrorStack },
    #[error(
        "tls.cert_file {}: holds no certificate; put the PEM chain there, leaf first",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error("tls.key_file {}: not a PEM private key ({error})", path.display())]
    NotAKey { path: PathBuf, error: ErrorStack },
    #[error(
        "tls.key_file {} is not the key of the first certificate in {}",
        key_file.display(),
        cert_file.display()
    )]
    NotTheLeafsKey {
        key_file: PathBuf,
        cert_file: PathBuf,
    },
}

impl CertKey {
    /// Reads and checks both files; the error says which file and what to fix.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<CertKey, CertKeyError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|error| CertKeyError::Unreadable {
                path: p.to_path_buf(),
                error,
            })
        };
        let chain =
            X509::stack_from_pem(&read(cert_file)?).map_err(|error| CertKeyError::NotAChain {
                path: cert_file.to_path_buf(),
                error,
            })?;
        let Some(leaf) = chain.first() else {
            return Err(CertKeyError::NoCertificate {
                path: cert_file.to_path_buf(),
            });
        };
        let key = PKey::private_key_from_pem(&read(key_file)?).map_err(|error| {
            CertKeyError::NotAKey {
                path: key_file.to_path_buf(),
                error,
            }
        })?;
        let matches = leaf
            .public_key()
            .map(|public| public.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(CertKeyError::NotTheLeafsKey {
                key_file: key_file.to_path_buf(),
                cert_file: cert_file.to_path_buf(),
            });
        }
        Ok(CertKey { chain, key })
    }
}

/// The pair in force; the reloader stores a new one, handshakes load it.
pub struct CertStore {
    slot: ArcSwap<CertKey>,
}

impl CertStore {
    pub fn new(pair: CertKey) -> Arc<CertStore> {
        Arc::new(CertStore {
            slot: ArcSwap::from_pointee(pair),
        })
    }

    pub fn store(&self, pair: CertKey) {
        self.slot.store(Arc::new(pair));
    }

    /// The acceptor of the TLS doors: Mozilla's intermediate settings (as
    /// Pingora's own listeners), HTTP/2 offered by ALPN before HTTP/1.1
    /// unless `http2` is off. The certificate comes from
    /// [`CertStore::callbacks`] at each handshake.
    pub fn acceptor(http2: bool) -> Result<SslAcceptor, ErrorStack> {
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
        let ours: &'static [u8] = if http2 {
            b"\x02h2\x08http/1.1"
        } else {
            b"\x08http/1.1"
        };
        // The first of ours the client offers; none in common: no ALPN, and
        // the connection speaks HTTP/1.1.
        b.set_alpn_select_callback(move |_, client| {
            select_next_proto(ours, client).ok_or(AlpnError::NOACK)
        });
        Ok(b.build())
    }

    /// The handshake callbacks that hand OpenSSL this store's pair.
    pub fn callbacks(self: &Arc<Self>) -> Box<dyn TlsAccept + Send + Sync> {
        Box::new(Callback(self.clone()))
    }
}

struct Callback(Arc<CertStore>);

#[async_trait]
impl TlsAccept for Callback {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        use pingora::tls::ext;
        let pair = self.0.slot.load();
        let Some(leaf) = pair.chain.first() else {
            return;
        };
        let result = ext::ssl_use_certificate(ssl, leaf)
            .and_then(|()| {
                pair.chain[1..]
                    .iter()
                    .try_for_each(|c| ext::ssl_add_chain_cert(ssl, c))
            })
            .and_then(|()| ext::ssl_use_private_key(ssl, &pair.key));
        if let Err(e) = result {
            // The handshake then fails for want of a certificate; the client
            // sees a TLS alert, and the log says why.
            tracing::error!(error = %e, "cannot use the TLS certificate in a handshake");
        }
    }
}
