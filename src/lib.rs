//! # clickedge
//!
//! An edge proxy for ad-click redirection on [Pingora](https://github.com/cloudflare/pingora).
//! Each click on a signed click URL is answered at once with a non-cacheable
//! 302 to the advertiser's landing page, classified inline (prefetch, HEAD,
//! test clicks, and more), and written in the background to a durable local
//! spool. Everything else is proxied to the operator's origin.
//!
//! The click handler is a plugin: any Pingora `ProxyHttp` can call
//! [`ClickEdge::handle`] from its `request_filter`:
//!
//! ```no_run
//! use async_trait::async_trait;
//! use clickedge::{ClickEdge, Config};
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
//! let cfg = Config::load("conf/clickedge.yaml".as_ref()).unwrap();
//! let (clicks, spool) = ClickEdge::start(&cfg).unwrap();
//! let mut server = Server::new(None).unwrap();
//! server.bootstrap();
//! let mut svc = http_proxy_service(&server.configuration, MyProxy { clicks });
//! svc.add_tcp("127.0.0.1:8080");
//! server.add_service(svc);
//! server.run(pingora::server::RunArgs::default());
//! spool.shutdown(); // write every queued event before exiting
//! ```
//!
//! Module map, in the order a click goes through them: [`click`] (URL,
//! signature, Location), [`ivt`] (is it a person's click?), [`event`] (what
//! is logged), [`spool`] (the queue and the files), [`proxy`] (Pingora
//! glue), [`limits`] and [`tls`] (the listeners of `clickedge serve`),
//! [`server`] (the process), [`config`], [`metrics`], [`device`].

pub mod click;
pub mod config;
pub mod device;
pub mod event;
pub mod geo;
pub mod ivt;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod privacy;
pub mod proxy;
pub mod reload;
pub mod report;
pub mod retention;
pub mod server;
pub mod ship;
pub mod spool;
pub mod tls;

pub use config::Config;
pub use policy::Policy;
pub use proxy::{ClickEdge, EdgeProxy, StartError};
pub use spool::{EventQueue, Spool};
