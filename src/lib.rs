//! # clickedge
//!
//! An edge proxy for ad-click redirection on [Pingora](https://github.com/cloudflare/pingora).
//! Each click on a signed click URL is answered at once with a non-cacheable
//! 302 to the advertiser's landing page, classified inline (prefetch, known
//! bots, HEAD, internal and data-center addresses, test clicks, double
//! clicks), and written in the background to a durable local spool, which
//! is shipped to central storage. Everything else is proxied to the
//! operator's origin. The contract is `docs/contract.md` in the repository;
//! comments cite its sections as §N.
//!
//! The click handler is a plugin: any Pingora `ProxyHttp` can call
//! [`ClickEdge::handle`] from its `request_filter`, and the [`Runtime`]
//! runs the spool, the shipper and the reloader beside the embedding
//! server:
//!
//! ```no_run
//! use async_trait::async_trait;
//! use clickedge::{ClickEdge, Runtime, Settings};
//! use pingora::prelude::*;
//!
//! struct MyProxy { clicks: ClickEdge }
//!
//! #[async_trait]
//! impl ProxyHttp for MyProxy {
//!     type CTX = ();
//!     fn new_ctx(&self) {}
//!     async fn request_filter(&self, session: &mut Session, _: &mut ()) -> Result<bool> {
//!         if self.clicks.handle(session).await? {
//!             return Ok(true); // /c, /b, /robots.txt or /healthz: answered
//!         }
//!         Ok(false) // your own logic
//!     }
//!     // Keeps click URLs (landing URL, signature) out of Pingora's error log.
//!     fn request_summary(&self, session: &Session, _: &()) -> String {
//!         ClickEdge::request_summary(session)
//!     }
//!     async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
//!         Ok(Box::new(HttpPeer::new("127.0.0.1:8000", false, String::new())))
//!     }
//! }
//!
//! // Every problem of the file at once, each naming its key.
//! let settings = Settings::load("conf/clickedge.yaml".as_ref()).unwrap();
//! let mut runtime = Runtime::start(settings).unwrap(); // spool writer, shipper
//! let mut server = Server::new(None).unwrap();
//! server.bootstrap();
//! let mut svc = http_proxy_service(&server.configuration, MyProxy { clicks: runtime.edge() });
//! svc.add_tcp("127.0.0.1:8080");
//! server.add_service(svc);
//! runtime.add_services(&mut server); // reload on SIGHUP and file changes
//! runtime.run(server); // serves; then writes every queued event and stops
//! ```
//!
//! A Rust ad server can mint the click URLs the edge accepts with
//! [`mint`]; the shipped binary's command line is [`cli::main`].
//!
//! Everything else is the crate's own: `docs/architecture.md` in the
//! repository maps the modules, the layers and the path of a click.

#![warn(missing_docs, unreachable_pub)]

mod bundle;
pub mod cli;
mod click;
mod closed_set;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod config;
mod conversion;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod decide;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod device;
mod edge;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod event;
mod files;
mod geo;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod ivt;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod metrics;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod policy;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod privacy;
mod reload;
mod request;
mod runtime;
mod serve;
mod settings;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod ship;
#[allow(missing_docs)] // reached from outside only through `internals`, not an API
mod spool;
mod stored;
mod time;

pub use config::Overrides;
pub use edge::proxy::ClickEdge;
pub use runtime::{Runtime, StartError};
pub use settings::{Settings, SettingsError};

/// What an embedder imports: `use clickedge::prelude::*;`.
pub mod prelude {
    pub use crate::{ClickEdge, Overrides, Runtime, Settings, SettingsError, StartError};
}

/// Minting click URLs the edge accepts, for an ad server written in Rust
/// (docs/contract.md §3; `clickedge sign` does the same from the shell).
///
/// ```
/// use clickedge::mint::{sign, Keys, SignRequest};
///
/// let keys = Keys::new([("k1", b"a-secret-of-at-least-32-bytes-here!".as_slice())]);
/// let url = sign(
///     &keys,
///     "k1",
///     &SignRequest {
///         landing: "https://shop.example/spring?sku=42",
///         campaign: "spring",
///         impression: "imp-1",
///         publisher: None,
///         test: false,
///         child_directed: false,
///         expires: None,
///     },
///     4096, // the edge's click.max_query_bytes
/// )
/// .unwrap();
/// assert!(url.starts_with("/c?u=https%3A%2F%2Fshop.example"));
/// ```
pub mod mint {
    pub use crate::click::{
        sign, sign_template, ClickError, Keys, Platform, SignRequest, TemplateRequest,
    };
}

/// Not an API: the parts the project's own benches, measurement programs,
/// fuzz targets and black-box tests reach into. It changes without notice.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod internals {
    pub mod bundle {
        pub use crate::bundle::{read_key_file, sign};
    }
    pub mod click {
        pub use crate::click::{
            location, parse, sign, Click, ClickPolicy, HostPattern, Keys, SignRequest,
        };
    }
    pub mod config {
        pub use crate::config::{Config, IpMode, KeyConfig, DEV_SECRET};
    }
    pub mod decide {
        pub use crate::decide::{Decider, DeciderSettings, Decision, Now, Outcome, Request};
    }
    pub mod device {
        pub use crate::device::{classify, Device};
    }
    pub mod event {
        pub use crate::event::{DataUse, Event, IpField};
    }
    pub mod ivt {
        pub use crate::ivt::{Action, DuplicateWindow, Reason, Signals, Verdict};
    }
    pub mod metrics {
        pub use crate::metrics::Metrics;
    }
    pub mod policy {
        pub use crate::policy::Policy;
    }
    pub mod privacy {
        pub use crate::privacy::{scrub, truncate_ip, Privacy};
    }
    pub mod ship {
        pub use crate::ship::{ShipConfig, Shipper};
        pub mod sinks {
            pub use crate::ship::sink::SinkOptions;
            pub use crate::ship::sinks::from_url;
        }
    }
    pub mod spool {
        pub use crate::spool::{Spool, SpoolConfig};
        pub mod record {
            pub use crate::spool::record::{seal, SUFFIX_LEN};
        }
        pub mod reader {
            pub use crate::spool::reader::scan;
        }
    }
}
