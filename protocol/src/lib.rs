//! streamsim's wire vocabulary, at the bottom of the tree: the requests and responses brokers,
//! the controller and clients exchange ([`api`]), with Kafka-style error codes, and the record
//! batch they carry ([`batch`]: Kafka's record batch v2), encoded with [`codec`].
//!
//! Both cores depend on this crate and on nothing of each other: the broker core and the client
//! cores speak only these types, so a shell can carry them over madsim's simulated network or,
//! later, over real TCP. The crate knows nothing of the simulation (no `sim`, madsim or tokio).

pub mod api;
pub mod batch;
pub mod codec;
mod compression;
pub mod node;

/// `seq + increment`, wrapping past `i32::MAX` to 0 as Kafka's
/// `DefaultRecordBatch.incrementSequence` does.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    assert!(
        sequence >= 0 && increment >= 0,
        "sequences are non-negative"
    );
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// FNV-1a, 64-bit: a hash that is fixed across platforms, builds and runs (std's `DefaultHasher`
/// may change between Rust releases). The keyed partitioner and the controller's placement use
/// it, so changing it moves every key and every replica.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_pinned() {
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn sequences_wrap_past_i32_max() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }
}
