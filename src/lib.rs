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
//! Module map, in the order a click goes through them: [`proxy`] (Pingora
//! glue) hands a [`request::Request`] to [`core`] (the decision), which
//! uses [`click`] (URL, signature, Location), [`ivt`] (is it a person's
//! click?), [`device`], [`geo`], [`privacy`] and [`event`] (what is
//! logged); the event goes to [`spool`] (the queue and the files) and
//! [`ship`] (to the central store). Around them: [`config`] (the file's
//! types, a leaf), [`settings`] (the file checked and built into every
//! part), [`policy`] (what reloads), [`runtime`] (the background work),
//! [`serve`] and [`server`] (the binary's process and its sections),
//! [`limits`], [`tls`], [`reload`] and [`metrics`]; and the
//! commands over stored clicks, [`report`] and [`retention`].

pub mod bundle;
pub mod cli;
pub mod click;
mod closed_set;
pub mod config;
pub mod decide;
pub mod device;
pub mod edge;
pub mod event;
pub mod files;
pub mod geo;
pub mod ivt;
pub mod metrics;
pub mod policy;
pub mod privacy;
pub mod reload;
pub mod runtime;
pub mod settings;
pub mod ship;
pub mod spool;
pub mod stored;
pub mod time;

pub use config::{Config, Overrides};
pub use edge::proxy::{ClickEdge, EdgeProxy};
pub use runtime::{Runtime, StartError};
pub use settings::{Settings, SettingsError};

/// What an embedder imports: `use clickedge::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ClickEdge, EdgeProxy, Overrides, Runtime, Settings, SettingsError, StartError,
    };
}
