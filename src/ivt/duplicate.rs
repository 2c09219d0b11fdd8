//! The duplicate-click window: a click on the same campaign and impression
//! within `window` after a counted click is a `duplicate` (docs/contract.md §5).
//!
//! Keys are a keyed 64-bit hash of (campaign, impression), with a key
//! drawn at start-up so that nobody can aim collisions at it; two different
//! clicks share a hash with odds of about n²/2⁶⁵ (one in 36 million for a
//! million entries), and would then be judged duplicates of each other.
//!
//! Memory is bounded: at most `max_entries` keys are kept, in 16 shards,
//! each a hash map plus a FIFO of insertions; when a shard is full its
//! oldest entry is evicted, and entries older than the window are dropped
//! as new ones arrive. Each shard has its own short `Mutex` (held for a map
//! lookup and insert, never across an `.await`), so the request threads
//! rarely meet. The state survives policy reloads: it belongs to the edge,
//! not to the lists.

use crate::config::{IvtConfig, Problems};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// The longest window `ivt.duplicate_window_seconds` takes: 30 days.
pub(crate) const MAX_WINDOW_SECONDS: u64 = 30 * 86_400;

/// The keys are already hashes: use them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[derive(Default)]
struct Shard {
    /// key → ms (since `start`) of the counted click that opened its window.
    last: HashMap<u64, u64, BuildHasherDefault<Identity>>,
    /// Insertions, oldest first.
    order: VecDeque<(u64, u64)>,
}

/// What a duplicate click was keyed on, named in its event's `rule`
/// (`duplicate:impression`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedOn {
    /// The signed impression id.
    Impression,
    /// A template click's platform click id.
    PlatformClickId,
    /// Neither: the client address and the user agent.
    AddressAndAgent,
}

impl KeyedOn {
    /// The name in the event's `rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyedOn::Impression => "impression",
            KeyedOn::PlatformClickId => "platform-click-id",
            KeyedOn::AddressAndAgent => "address-agent",
        }
    }
}

/// What stands in for the impression in a duplicate key (never equal to
/// an impression's key: those hash no kind byte).
#[derive(Debug, Clone, Copy)]
pub enum DupKind {
    /// A template click's platform click id.
    PlatformId = 1,
    /// Neither: a hash of the client address and the user agent.
    AddressAndAgent = 2,
}

pub struct DuplicateWindow {
    window_ms: u64,
    cap_per_shard: usize,
    hasher: ahash::RandomState,
    start: Instant,
    shards: Box<[Mutex<Shard>]>,
}

impl DuplicateWindow {
    /// Checks `ivt.duplicate_window_seconds` and
    /// `ivt.duplicate_max_entries`; the window itself is built once per
    /// process (its state survives reloads).
    pub fn check_config(cfg: &IvtConfig) -> Result<(), Problems> {
        let mut p = Problems::default();
        if cfg.duplicate_window_seconds > MAX_WINDOW_SECONDS {
            p.push(
                "ivt.duplicate_window_seconds",
                format!(
                    "{} is more than 30 days ({MAX_WINDOW_SECONDS}); a double click comes \
                     within seconds (default {})",
                    cfg.duplicate_window_seconds,
                    IvtConfig::default().duplicate_window_seconds
                ),
            );
        }
        if cfg.duplicate_window_seconds > 0 && cfg.duplicate_max_entries == 0 {
            p.push(
                "ivt.duplicate_max_entries",
                "must be greater than 0 while the window is on",
            );
        }
        p.or(())
    }

    /// `max_entries` 0 or a zero window turns duplicate detection off.
    pub fn new(window: Duration, max_entries: usize) -> DuplicateWindow {
        DuplicateWindow {
            window_ms: window.as_millis() as u64,
            cap_per_shard: max_entries.div_ceil(SHARDS),
            hasher: ahash::RandomState::new(),
            start: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    pub fn key(&self, campaign: &str, impression: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(campaign.as_bytes());
        h.write_u8(0xff); // not a byte of the id alphabet: ("ab","c") ≠ ("a","bc")
        h.write(impression.as_bytes());
        h.finish()
    }

    /// The key of a click without an impression: its campaign, what kind
    /// of value stands in for the impression, and that value's parts.
    pub fn key_of(&self, campaign: &str, kind: DupKind, parts: &[&[u8]]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(campaign.as_bytes());
        h.write_u8(0xff);
        h.write_u8(kind as u8);
        for p in parts {
            h.write_usize(p.len());
            h.write(p);
        }
        h.finish()
    }

    pub fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// Milliseconds from this window's start to `at` (0 before it).
    pub fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    /// True if `key` had a counted click less than the window ago; else
    /// records this click as the counted one and returns false.
    pub fn check_and_record(&self, key: u64, now_ms: u64) -> bool {
        if self.window_ms == 0 || self.cap_per_shard == 0 {
            return false;
        }
        let Ok(mut shard) = self.shards[(key >> 60) as usize % SHARDS].lock() else {
            // A panic while holding the lock is a bug elsewhere; never fail a click for it.
            return false;
        };
        let Shard { last, order } = &mut *shard;
        while let Some(&(k, t)) = order.front() {
            if now_ms.saturating_sub(t) < self.window_ms {
                break;
            }
            order.pop_front();
            if last.get(&k) == Some(&t) {
                last.remove(&k);
            }
        }
        if let Some(&t) = last.get(&key) {
            if now_ms.saturating_sub(t) < self.window_ms {
                return true;
            }
        }
        last.insert(key, now_ms);
        order.push_back((key, now_ms));
        if order.len() > self.cap_per_shard {
            if let Some((k, t)) = order.pop_front() {
                if last.get(&k) == Some(&t) {
                    last.remove(&k);
                }
            }
        }
        false
    }

    /// Keys currently held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.last.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_click_within_the_window_is_a_duplicate() {
        let w = DuplicateWindow::new(Duration::from_secs(10), 1000);
        let k = w.key("c", "i");
        assert!(!w.check_and_record(k, 1_000));
        assert!(w.check_and_record(k, 1_001));
        assert!(w.check_and_record(k, 10_999));
        // The window runs from the counted click, not from the duplicates.
        assert!(!w.check_and_record(k, 11_000));
        assert!(w.check_and_record(k, 11_500));
        // Other campaign or impression: not a duplicate.
        assert!(!w.check_and_record(w.key("c", "j"), 11_500));
        assert!(!w.check_and_record(w.key("d", "i"), 11_500));
        assert_ne!(w.key("ab", "c"), w.key("a", "bc"));
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_go_first() {
        let w = DuplicateWindow::new(Duration::from_secs(3600), 1600);
        let keys: Vec<u64> = (0..10_000).map(|i| w.key("c", &i.to_string())).collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(!w.check_and_record(*k, i as u64));
        }
        assert!(w.len() <= 1600, "{} entries", w.len());
        assert!(w.len() >= 1500, "{} entries", w.len());
        // The newest are remembered, the oldest were evicted.
        assert!(w.check_and_record(keys[9_999], 10_000));
        assert!(!w.check_and_record(keys[0], 10_000));
    }

    #[test]
    fn expired_entries_are_dropped() {
        let w = DuplicateWindow::new(Duration::from_millis(100), 100_000);
        for i in 0..500u64 {
            w.check_and_record(w.key("c", &i.to_string()), i);
        }
        w.check_and_record(w.key("c", "late"), 10_000);
        // Only the shard that saw the late click was swept; a thousand more
        // keys reach every shard (the odds of missing one are about 1e-27).
        for s in 0..1000 {
            w.check_and_record(w.key("x", &s.to_string()), 10_000);
        }
        assert_eq!(w.len(), 1001);
    }

    #[test]
    fn a_zero_window_turns_it_off() {
        let w = DuplicateWindow::new(Duration::ZERO, 1000);
        let k = w.key("c", "i");
        assert!(!w.check_and_record(k, 1));
        assert!(!w.check_and_record(k, 2));
    }
}
