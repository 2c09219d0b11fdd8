//! The `Location` a click is sent to. On the request path: one allocation
//! of the exact length, no parsing (the landing URL was parsed once, by
//! [`super::parse`]).

use url::Url;

/// The `Location` for a click: the landing URL with `param=click_id` added
/// to its query, before any fragment. A parameter of the same name already
/// in the landing URL is removed, so the landing page sees one click id.
/// `param` and `click_id` are of the id alphabet and need no encoding.
pub fn location(landing: &Url, param: &str, click_id: &str) -> String {
    let base = &landing[..url::Position::AfterPath];
    let fragment = landing.fragment();
    let query = landing.query().unwrap_or("");
    let mut out = String::with_capacity(
        base.len()
            + query.len()
            + param.len()
            + click_id.len()
            + 3
            + fragment.map_or(0, |f| f.len() + 1),
    );
    out.push_str(base);
    out.push('?');
    for seg in query.split('&') {
        let name = seg.split_once('=').map_or(seg, |(n, _)| n);
        if seg.is_empty() || name == param {
            continue;
        }
        out.push_str(seg);
        out.push('&');
    }
    out.push_str(param);
    out.push('=');
    out.push_str(click_id);
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}
