//! One spool record: an NDJSON line that checks itself.
//!
//! ```text
//! {"ts":"…",…,"edge":"e1","crc":"1a2b3c4d"}\n
//! └──────────── body ─────────┘└── 18-byte suffix ──┘
//! ```
//!
//! The body is the event's JSON object without its closing brace; the
//! suffix is `,"crc":"` + the CRC32C of the body in 8 lowercase hex digits +
//! `"}`. The line stays one JSON object a line (any NDJSON reader takes it;
//! `crc` is one more field), and a reader can tell a whole record from a
//! torn or corrupted one without any framing but the newline: JSON strings
//! escape newlines, so a `\n` only ends a record. A record is never split
//! across files.

/// `,"crc":"` + 8 hex digits + `"}`
pub const SUFFIX_LEN: usize = 18;

/// The longest record line (newline excluded) the edge can write; a longer
/// line is damaged, whatever it holds, and readers skip it without holding
/// it ([`super::reader::read_line`]).
///
/// Why 8 MiB: every free-text value of an event comes from the click's
/// request (campaign, impression, publisher, landing host and platform
/// click id from the query; user agent and referrer host from header
/// fields), and the request line and header fields together are at most
/// `limits.max_header_bytes`, which `check` takes up to 1 MiB (the query
/// alone is at most `click.max_query_bytes`, up to 64 KiB). Written into a
/// record, one byte of them takes at most 6 (JSON's `\u00XX`; a byte that
/// is not UTF-8 becomes U+FFFD, 3 bytes; `[scrubbed]`, 10 bytes, replaces
/// at least 2, as in `::`). Everything else (field names, the time, the
/// UUID, the address, the edge id of at most 128 bytes, the rule's list
/// name and line, the checksum) is well under 64 KiB. 6 x 1 MiB + 64 KiB,
/// rounded up.
pub(crate) const MAX_LINE: usize = 8 << 20;

/// Turns `{…}` (a JSON object, or one whose closing brace is still to
/// come) into a sealed record with its newline.
pub fn seal(json: &mut Vec<u8>) {
    if json.last() == Some(&b'}') {
        json.pop();
    }
    let crc = crc32c::crc32c(json);
    json.extend_from_slice(b",\"crc\":\"");
    const HEX: &[u8; 16] = b"0123456789abcdef";
    json.extend((0..8).rev().map(|i| HEX[(crc >> (4 * i) & 0xf) as usize]));
    json.extend_from_slice(b"\"}\n");
}

/// The body of a record line (without its newline) if it is whole and its
/// checksum matches; the event is the body followed by `}`.
pub(crate) fn open(line: &[u8]) -> Option<&[u8]> {
    if line.len() < SUFFIX_LEN + 1 {
        return None;
    }
    let (body, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let hex = suffix.strip_prefix(b",\"crc\":\"")?.strip_suffix(b"\"}")?;
    if !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let hex = std::str::from_utf8(hex).ok()?;
    let want = u32::from_str_radix(hex, 16).ok()?;
    (crc32c::crc32c(body) == want && body.first() == Some(&b'{')).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_to_its_event() {
        let mut r = br#"{"a":1,"b":"x\ny"}"#.to_vec();
        seal(&mut r);
        assert!(r.ends_with(b"\"}\n"));
        let line = &r[..r.len() - 1];
        assert_eq!(open(line), Some(&br#"{"a":1,"b":"x\ny""#[..]));
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["crc"].as_str().unwrap().len(), 8);
    }

    #[test]
    fn any_flipped_byte_is_caught() {
        let mut r = br#"{"click_id":"abc","campaign":"c1"}"#.to_vec();
        seal(&mut r);
        let line = &r[..r.len() - 1];
        for i in 0..line.len() {
            for bit in 0..8 {
                let mut bad = line.to_vec();
                bad[i] ^= 1 << bit;
                assert_eq!(open(&bad), None, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn torn_records_are_refused() {
        let mut r = br#"{"a":1}"#.to_vec();
        seal(&mut r);
        for n in 0..r.len() - 1 {
            assert_eq!(open(&r[..n]), None, "prefix of {n} bytes");
        }
        assert_eq!(open(b""), None);
        assert_eq!(open(b"garbage that is long enough to check"), None);
    }
}
