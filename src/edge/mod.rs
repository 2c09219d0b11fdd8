//! The serving process: the Pingora doors a click comes through, the
//! limits and TLS around them, the client's address, and `clickedge serve`.

pub mod connections;
pub mod forwarded;
pub mod header_budget;
pub mod limits;
pub mod process;
pub mod proxy;
pub mod serve;
pub mod tls;
