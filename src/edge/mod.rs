//! The serving process: the Pingora doors a click comes through, the
//! limits and TLS around them, the client's address, and the process's own settings;
//! `crate::serve` assembles them into `clickedge serve`.

pub(crate) mod connections;
pub(crate) mod conversions;
pub(crate) mod forwarded;
pub(crate) mod header_budget;
pub(crate) mod limits;
pub(crate) mod process;
pub(crate) mod proxy;
pub(crate) mod tls;
