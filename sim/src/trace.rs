//! The trace hash: a rolling 64-bit fingerprint of everything observable in a run.
//!
//! Every history event (the typed event, every field of it) and every fault the world injects is
//! fed into it, in the order they happen in simulated time. Same seed, same binary, same scenario
//! => same trace hash, whatever the log level, the thread the run landed on or `--jobs`: nothing
//! that depends on those (log output, wall clock, thread ids) is ever fed in. The hash function is
//! streamsim's own ([`TraceHasher`]), fixed: the same run gives the same hash on every platform
//! and with every Rust toolchain, not only with the same binary.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// A trace hash value, printed as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceHash(pub u64);

impl fmt::Display for TraceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl TraceHash {
    /// Parses the 16-hex-digit form printed by `Display`.
    pub fn parse(text: &str) -> Option<TraceHash> {
        if text.len() != 16 {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(TraceHash)
    }
}

/// The trace's hash function: each 64-bit word (an integer, eight bytes of a byte string, a byte
/// string's length) is folded into the state by a rotate, an exclusive or and a multiplication by
/// an odd constant. Each step is a bijection of the state for a given word and of the word for a
/// given state, so two streams of the same length that differ in one word always end in different
/// states. Words are read little-endian and `usize`s widened to 64 bits: nothing depends on the
/// platform. `finish` mixes the state's bits once more, so that nearby states print unlike hashes.
#[derive(Debug, Clone)]
pub struct TraceHasher {
    state: u64,
}

impl TraceHasher {
    const SEED: u64 = 0x243f_6a88_85a3_08d3;
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new() -> TraceHasher {
        TraceHasher { state: Self::SEED }
    }

    #[inline]
    fn word(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(Self::MULTIPLIER);
    }
}

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher::new()
    }
}

/// `Hasher` methods that fold one integer into the state as one word.
macro_rules! integer_words {
    ($($method:ident: $integer:ty),* $(,)?) => {
        $(
            fn $method(&mut self, value: $integer) {
                self.word(value as u64);
            }
        )*
    };
}

impl Hasher for TraceHasher {
    /// The length first (so that `"ab"` and `"ab\0"` differ), then the bytes eight at a time, the
    /// last word padded with zeros.
    fn write(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.word(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut last = [0u8; 8];
            last[..tail.len()].copy_from_slice(tail);
            self.word(u64::from_le_bytes(last));
        }
    }

    // Every integer is one word, widened (or sign-extended) to 64 bits whatever the platform's
    // width and byte order; a 128-bit one is two.
    integer_words!(
        write_u8: u8,
        write_u16: u16,
        write_u32: u32,
        write_u64: u64,
        write_usize: usize,
        write_i8: i8,
        write_i16: i16,
        write_i32: i32,
        write_i64: i64,
        write_isize: isize,
    );

    fn write_u128(&mut self, value: u128) {
        self.word(value as u64);
        self.word((value >> 64) as u64);
    }

    fn write_i128(&mut self, value: i128) {
        self.write_u128(value as u128);
    }

    /// splitmix64's finalizer over the state.
    fn finish(&self) -> u64 {
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// What kind of item was fed: a byte string or a value.
const BYTES_ITEM: u8 = 0;
const VALUE_ITEM: u8 = 1;

#[derive(Debug)]
struct TraceState {
    hasher: TraceHasher,
    items: u64,
}

/// A shared trace: clones feed the same hash.
#[derive(Debug, Clone)]
pub struct Trace {
    state: Arc<Mutex<TraceState>>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace {
            state: Arc::new(Mutex::new(TraceState {
                hasher: TraceHasher::new(),
                items: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TraceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds one item given as bytes (a fault's or a round's description).
    pub fn feed(&self, item: &[u8]) {
        let mut state = self.lock();
        state.hasher.write_u8(BYTES_ITEM);
        state.hasher.write(item);
        state.items += 1;
    }

    /// Feeds one item given as a value: every field its `Hash` visits (a history event).
    pub fn feed_value<T: Hash + ?Sized>(&self, item: &T) {
        let mut state = self.lock();
        state.hasher.write_u8(VALUE_ITEM);
        item.hash(&mut state.hasher);
        state.items += 1;
    }

    pub fn hash(&self) -> TraceHash {
        TraceHash(self.lock().hasher.finish())
    }

    /// Number of items fed so far.
    pub fn items(&self) -> u64 {
        self.lock().items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_items_same_hash_and_order_matters() {
        let a = Trace::new();
        let b = Trace::new();
        let c = Trace::new();
        for t in [&a, &b] {
            t.feed(b"x");
            t.feed(b"y");
        }
        c.feed(b"y");
        c.feed(b"x");
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.items(), 2);
    }

    #[test]
    fn item_boundaries_matter() {
        let a = Trace::new();
        a.feed(b"ab");
        a.feed(b"c");
        let b = Trace::new();
        b.feed(b"a");
        b.feed(b"bc");
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn a_byte_item_and_a_value_item_differ_and_values_hash_every_field() {
        let bytes = Trace::new();
        bytes.feed(b"x");
        let value = Trace::new();
        value.feed_value("x");
        assert_ne!(bytes.hash(), value.hash());
        let a = Trace::new();
        a.feed_value(&(1u64, "ab", 2u32));
        let b = Trace::new();
        b.feed_value(&(1u64, "ab", 3u32));
        let c = Trace::new();
        c.feed_value(&(1u64, "ab\0", 2u32));
        assert_ne!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
    }

    /// The function is fixed: these values must hold on every platform and toolchain (a change
    /// here changes every run's trace hash).
    #[test]
    fn the_hash_function_is_fixed() {
        let empty = Trace::new();
        assert_eq!(empty.hash(), TraceHash(TraceHasher::new().finish()));
        let trace = Trace::new();
        trace.feed(b"fault 1500000000 crash broker-1");
        trace.feed_value(&(42u64, "producer-0", Some(7u32)));
        assert_eq!(trace.hash().to_string(), "1ce9c43e759b6be7");
    }

    #[test]
    fn display_round_trips() {
        let hash = TraceHash(0x00ab_cdef_0123_4567);
        assert_eq!(hash.to_string(), "00abcdef01234567");
        assert_eq!(TraceHash::parse(&hash.to_string()), Some(hash));
        assert_eq!(TraceHash::parse("xyz"), None);
    }
}
