//! The spool record reader, on whatever bytes a crash, a bad disk or a
//! stray writer could leave in a segment:
//! - never a panic, never past the end of what it was given, never more
//!   events than asked for, one NDJSON line per event;
//! - no whole record is lost: records sealed from the input, with garbage
//!   lines between them, all come back, in order.
#![no_main]

use clickedge::internals::spool::{reader, record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&params, rest)) = data.split_first() else {
        return;
    };
    let max_events = 1 + (params as usize % 17);
    let sealed = params & 0x80 != 0;
    let to_eof = params & 0x40 != 0;

    // Raw bytes as a segment.
    let b = reader::scan(rest, 7, max_events, to_eof, sealed);
    assert!(b.end >= 7 && b.end <= 7 + rest.len() as u64);
    assert!(b.count <= max_events);
    assert_eq!(b.ndjson.iter().filter(|&&c| c == b'\n').count(), b.count);

    // Sealed records (the input's lines as bodies) between garbage lines.
    let mut segment = Vec::new();
    let mut want = Vec::new();
    for (i, part) in rest.split(|&c| c == b'\n').enumerate() {
        if i % 2 == 0 {
            let mut r = b"{\"n\":".to_vec();
            r.extend_from_slice(part);
            r.push(b'}');
            record::seal(&mut r);
            want.push(r[..r.len() - record::SUFFIX_LEN - 1].to_vec());
            segment.extend_from_slice(&r);
        } else {
            segment.push(b'#'); // never a record: a record starts with {
            segment.extend_from_slice(part);
            segment.push(b'\n');
        }
    }
    let mut got = Vec::new();
    let mut offset = 0usize;
    loop {
        let b = reader::scan(&segment[offset..], offset as u64, max_events, true, true);
        for line in b.ndjson.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            got.push(line[..line.len() - 1].to_vec());
        }
        if b.at_eof || b.end as usize == offset {
            break;
        }
        offset = b.end as usize;
    }
    assert_eq!(got, want);
});
