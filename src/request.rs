//! The view of a request the click core judges: method, path, query, a
//! header lookup and the client address, with no server framework's types,
//! so that the decision can be made (and tested) without a server.

use std::net::IpAddr;

use http::HeaderName;

/// Looks a request header up by name: the first value's raw bytes, or
/// `None` when absent. Names are `HeaderName`s made once ([`names`], or at
/// start-up from the config): a lookup by `&str` would parse and hash the
/// name on every click.
pub trait Headers {
    fn get(&self, name: &HeaderName) -> Option<&[u8]>;

    /// Whether any value of a header that may be sent more than once
    /// satisfies `test` (a check that read only the first could be
    /// dodged by sending a harmless value before the telling one). The
    /// default reads the first value only: implement it where a header
    /// can repeat.
    fn any(&self, name: &HeaderName, test: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.get(name).is_some_and(test)
    }
}

impl Headers for http::HeaderMap {
    fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        http::HeaderMap::get(self, name).map(|v| v.as_bytes())
    }

    fn any(&self, name: &HeaderName, test: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.get_all(name).iter().any(|v| test(v.as_bytes()))
    }
}

/// The request headers the click core reads that `http` does not name.
pub(crate) mod names {
    use http::HeaderName;
    pub(crate) const SEC_PURPOSE: HeaderName = HeaderName::from_static("sec-purpose");
    pub(crate) const PURPOSE: HeaderName = HeaderName::from_static("purpose");
    pub(crate) const X_PURPOSE: HeaderName = HeaderName::from_static("x-purpose");
    pub(crate) const X_MOZ: HeaderName = HeaderName::from_static("x-moz");
    pub(crate) const SEC_CH_UA_MOBILE: HeaderName = HeaderName::from_static("sec-ch-ua-mobile");
    pub(crate) const SEC_CH_UA: HeaderName = HeaderName::from_static("sec-ch-ua");
    pub(crate) const SEC_CH_UA_PLATFORM: HeaderName = HeaderName::from_static("sec-ch-ua-platform");
    pub(crate) const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
    pub(crate) const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
    pub(crate) const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");
}

/// Headers as a list of pairs, for tests and for embedders whose server
/// keeps headers another way. Names compare case-insensitively.
impl Headers for Vec<(&str, &str)> {
    fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_str()))
            .map(|(_, v)| v.as_bytes())
    }

    fn any(&self, name: &HeaderName, test: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name.as_str()))
            .any(|(_, v)| test(v.as_bytes()))
    }
}

/// One request as the click core sees it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, `POST`, ... as sent.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query, without `?`; empty when there is none.
    pub query: &'a str,
    /// Its headers, looked up by name.
    pub headers: &'a dyn Headers,
    /// The client's address, in full (only what the privacy mode allows is
    /// ever written).
    pub client_ip: Option<IpAddr>,
    /// The request came over this server's own TLS listener (browsers send
    /// `Sec-Fetch-*` and client hints only to secure origins).
    pub secure: bool,
}

impl<'a> Request<'a> {
    /// A header's raw bytes.
    pub fn header(&self, name: &HeaderName) -> Option<&'a [u8]> {
        self.headers.get(name)
    }

    /// A header's value as text (lossy for non-UTF-8 bytes), empty when absent.
    pub fn header_str(&self, name: &HeaderName) -> std::borrow::Cow<'a, str> {
        self.header(name)
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
    }
}
