//! Idempotent-producer state of one partition (KIP-98, KIP-360).
//!
//! Per producer id the table keeps the producer epoch and the metadata of its last
//! [`PRODUCER_BATCHES_CACHED`] batches (first/last sequence, base/last offset). On a leader
//! append, [`ProducerStateTable::check`] decides:
//!
//! - a retry of one of the cached batches (same epoch, same first and last sequence) is a
//!   [`SequenceCheck::Duplicate`]: the caller answers the original offsets and writes nothing;
//! - the next sequence (last + 1, wrapping from `i32::MAX` to 0) is accepted;
//! - any other sequence — a gap, or an old one no longer cached — is `OutOfOrderSequence`;
//! - an epoch below the known one is `InvalidProducerEpoch`; an epoch above it must start at
//!   sequence 0 (else `OutOfOrderSequence`) and replaces the producer's state;
//! - an unknown producer id must start at sequence 0 (a new producer), else `UnknownProducerId`.
//!
//! [`ProducerStateTable::record`] then stores the appended batch. Followers and recovery call
//! `record` without `check`: the log is the truth, the table follows it.
//!
//! Expiry: when the log start passes a producer's last batch (retention), its state is
//! removed, and its next batch with a sequence other than 0 gets `UnknownProducerId` — the
//! situation of franz-go #805, which KIP-360 clients resolve by bumping their epoch.
//! [`ProducerStateTable::expire_producer`] forgets one producer on demand (fault injection).
//!
//! Not modelled: time-based expiry (`producer.id.expiration.ms`), transactions, producer-state
//! snapshots on disk (the log rebuilds the table by scanning its batches on recovery).

use std::collections::{BTreeMap, VecDeque};

/// How many of a producer's most recent batches are remembered for duplicate detection
/// (Kafka's `max.in.flight.requests.per.connection` bound for idempotence).
pub const PRODUCER_BATCHES_CACHED: usize = 5;

pub use protocol::increment_sequence;

/// Where one appended batch of a producer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: u64,
    pub last_offset: u64,
}

/// What the table knows about one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub producer_epoch: i16,
    /// Oldest first; at most [`PRODUCER_BATCHES_CACHED`], all of `producer_epoch`.
    pub batches: VecDeque<BatchMetadata>,
}

impl ProducerEntry {
    /// Offset of the producer's last record in the log, if it has a batch.
    pub fn last_offset(&self) -> Option<u64> {
        self.batches.back().map(|batch| batch.last_offset)
    }

    pub fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|batch| batch.last_sequence)
    }
}

/// The sequence fields of an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
}

/// The verdict on an incoming batch that is not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Accept,
    /// A retry of a batch already in the log at these offsets: write nothing.
    Duplicate { base_offset: u64, last_offset: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerStateError {
    #[error(
        "out of order sequence for producer {producer_id} epoch {producer_epoch}: \
         expected {expected_sequence}, got {first_sequence}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        producer_epoch: i16,
        expected_sequence: i32,
        first_sequence: i32,
    },
    #[error(
        "producer {producer_id} has epoch {current_epoch}; batch has older epoch {producer_epoch}"
    )]
    InvalidProducerEpoch {
        producer_id: i64,
        producer_epoch: i16,
        current_epoch: i16,
    },
    #[error("unknown producer {producer_id} (sequence {first_sequence}, not 0)")]
    UnknownProducerId {
        producer_id: i64,
        first_sequence: i32,
    },
}

/// The producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateTable {
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStateTable {
    pub fn new() -> ProducerStateTable {
        ProducerStateTable::default()
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Every producer, by id.
    pub fn producers(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> + '_ {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }

    /// Decides whether a leader may append `batch`. Changes nothing.
    pub fn check(&self, batch: ProducerBatch) -> Result<SequenceCheck, ProducerStateError> {
        assert!(
            batch.producer_id >= 0,
            "check of a batch without producer id"
        );
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return if batch.first_sequence == 0 {
                Ok(SequenceCheck::Accept)
            } else {
                Err(ProducerStateError::UnknownProducerId {
                    producer_id: batch.producer_id,
                    first_sequence: batch.first_sequence,
                })
            };
        };
        if batch.producer_epoch < entry.producer_epoch {
            return Err(ProducerStateError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                producer_epoch: batch.producer_epoch,
                current_epoch: entry.producer_epoch,
            });
        }
        let expected_sequence = if batch.producer_epoch > entry.producer_epoch {
            // A new epoch starts over at 0 (KIP-360).
            0
        } else {
            if let Some(original) = entry.batches.iter().find(|cached| {
                cached.first_sequence == batch.first_sequence
                    && cached.last_sequence == batch.last_sequence
            }) {
                return Ok(SequenceCheck::Duplicate {
                    base_offset: original.base_offset,
                    last_offset: original.last_offset,
                });
            }
            entry
                .last_sequence()
                .map_or(0, |last| increment_sequence(last, 1))
        };
        if batch.first_sequence == expected_sequence {
            Ok(SequenceCheck::Accept)
        } else {
            Err(ProducerStateError::OutOfOrderSequence {
                producer_id: batch.producer_id,
                producer_epoch: batch.producer_epoch,
                expected_sequence,
                first_sequence: batch.first_sequence,
            })
        }
    }

    /// Stores a batch that is now in the log at `base_offset..=last_offset`. A different epoch
    /// than the known one replaces the producer's state (the log says so).
    pub fn record(&mut self, batch: ProducerBatch, base_offset: u64, last_offset: u64) {
        assert!(
            batch.producer_id >= 0,
            "record of a batch without producer id"
        );
        assert!(
            base_offset <= last_offset,
            "batch offsets {base_offset}..={last_offset}"
        );
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_epoch: batch.producer_epoch,
                batches: VecDeque::new(),
            });
        if entry.producer_epoch != batch.producer_epoch {
            entry.producer_epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        if let Some(previous) = entry.batches.back() {
            assert!(
                previous.last_offset < base_offset,
                "producer {} batch at {base_offset} recorded after one ending at {}",
                batch.producer_id,
                previous.last_offset
            );
        }
        entry.batches.push_back(BatchMetadata {
            first_sequence: batch.first_sequence,
            last_sequence: batch.last_sequence,
            base_offset,
            last_offset,
        });
        while entry.batches.len() > PRODUCER_BATCHES_CACHED {
            entry.batches.pop_front();
        }
    }

    /// `check`, then `record` at `base_offset` if accepted. For callers that cannot fail
    /// between the two (the log uses them separately, recording only after the write).
    pub fn check_and_update(
        &mut self,
        batch: ProducerBatch,
        base_offset: u64,
    ) -> Result<SequenceCheck, ProducerStateError> {
        let verdict = self.check(batch)?;
        if verdict == SequenceCheck::Accept {
            let record_count = increment_distance(batch.first_sequence, batch.last_sequence);
            self.record(batch, base_offset, base_offset + record_count);
        }
        Ok(verdict)
    }

    /// The log start moved to `log_start_offset`: forget every producer whose last batch lies
    /// wholly below it. Returns the ids removed.
    pub fn expire_below(&mut self, log_start_offset: u64) -> Vec<i64> {
        let expired: Vec<i64> = self
            .producers
            .iter()
            .filter(|(_, entry)| {
                entry
                    .last_offset()
                    .is_none_or(|last| last < log_start_offset)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.producers.remove(id);
        }
        expired
    }

    /// Forgets one producer (fault injection `expire-pid`). Returns whether it was known.
    pub fn expire_producer(&mut self, producer_id: i64) -> bool {
        self.producers.remove(&producer_id).is_some()
    }
}

/// How many sequences lie after `first` up to `last` (0 for a one-record batch), wrapping.
fn increment_distance(first: i32, last: i32) -> u64 {
    if last >= first {
        (last - first) as u64
    } else {
        (i32::MAX - first) as u64 + last as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(producer_epoch: i16, first_sequence: i32, records: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: 9,
            producer_epoch,
            first_sequence,
            last_sequence: increment_sequence(first_sequence, records - 1),
        }
    }

    #[test]
    fn sequence_increment_wraps_like_kafka() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_distance(i32::MAX - 1, 1), 3);
        assert_eq!(increment_distance(4, 4), 0);
    }

    #[test]
    fn new_producer_must_start_at_zero() {
        let mut table = ProducerStateTable::new();
        assert_eq!(
            table.check(batch(0, 3, 1)),
            Err(ProducerStateError::UnknownProducerId {
                producer_id: 9,
                first_sequence: 3
            })
        );
        assert_eq!(
            table.check_and_update(batch(0, 0, 2), 10),
            Ok(SequenceCheck::Accept)
        );
        assert_eq!(table.get(9).unwrap().last_offset(), Some(11));
    }

    #[test]
    fn epoch_rules() {
        let mut table = ProducerStateTable::new();
        table.check_and_update(batch(3, 0, 1), 0).unwrap();
        assert!(matches!(
            table.check(batch(2, 1, 1)),
            Err(ProducerStateError::InvalidProducerEpoch {
                current_epoch: 3,
                ..
            })
        ));
        assert!(matches!(
            table.check(batch(4, 1, 1)),
            Err(ProducerStateError::OutOfOrderSequence {
                expected_sequence: 0,
                ..
            })
        ));
        assert_eq!(
            table.check_and_update(batch(4, 0, 1), 1),
            Ok(SequenceCheck::Accept)
        );
        assert_eq!(table.get(9).unwrap().producer_epoch, 4);
        assert_eq!(table.get(9).unwrap().batches.len(), 1);
    }

    #[test]
    fn continues_across_the_sequence_wrap() {
        let mut table = ProducerStateTable::new();
        table.record(batch(0, i32::MAX - 1, 2), 0, 1);
        assert_eq!(table.check(batch(0, 0, 1)), Ok(SequenceCheck::Accept));
        assert!(table.check(batch(0, 1, 1)).is_err());
    }
}
