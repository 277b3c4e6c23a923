//! Idempotent producers (KIP-98, KIP-360) through the log and through the table alone.

mod common;

use broker::batch::{Record, RecordBatch};
use broker::log::{AppendOutcome, Log, LogConfig, LogError};
use broker::producer_state::{
    increment_sequence, ProducerBatch, ProducerStateError, ProducerStateTable, SequenceCheck,
    PRODUCER_BATCHES_CACHED,
};
use common::{batch, disk};
use proptest::prelude::*;

const DIR: &str = "log/idempotent-0/";

#[derive(Debug, Clone)]
enum Op {
    /// The next batch of `records` records.
    Send { records: usize },
    /// A retry of the batch sent `back` batches ago (0 = the last one).
    Retry { back: usize },
    /// A batch `skip` sequences past the next one.
    Gap { skip: i32 },
    /// Another, non-idempotent writer.
    Other,
    /// Sync, crash, recover: the producer state is rebuilt from the log.
    CrashAndRecover,
    /// Retention passes every batch so far; the producer is forgotten (franz-go #805).
    EvictAll,
    /// KIP-360 recovery after `UnknownProducerId`: bump the epoch, restart at sequence 0.
    BumpEpoch,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1..4usize).prop_map(|records| Op::Send { records }),
        5 => (0..8usize).prop_map(|back| Op::Retry { back }),
        2 => (1..4i32).prop_map(|skip| Op::Gap { skip }),
        2 => Just(Op::Other),
        1 => Just(Op::CrashAndRecover),
        1 => Just(Op::EvictAll),
        1 => Just(Op::BumpEpoch),
    ]
}

/// What the client knows of one batch it sent and had acknowledged.
#[derive(Debug, Clone)]
struct Sent {
    epoch: i16,
    first_sequence: i32,
    records: usize,
    base_offset: u64,
    last_offset: u64,
}

fn idempotent_batch(epoch: i16, sequence: i32, records: usize) -> RecordBatch {
    RecordBatch::idempotent(
        11,
        epoch,
        sequence,
        (0..records)
            .map(|n| Record::new(None, format!("s{sequence}r{n}").into_bytes(), 0))
            .collect(),
    )
}

proptest! {
    /// Any retry of one of the producer's last 5 batches is answered with its original offsets
    /// and writes nothing; an older one, or a gap, is `OutOfOrderSequence` and writes nothing;
    /// after eviction a sequence other than 0 is `UnknownProducerId`; all of it also after a
    /// crash, when the state is rebuilt from the log.
    #[test]
    fn retries_gaps_and_expiry_through_the_log(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..60)) {
        let disk = disk(seed);
        let config = LogConfig { segment_bytes_max: 400, ..LogConfig::default() };
        let (mut log, _) = Log::open(disk.clone(), DIR, config.clone()).unwrap();
        let mut epoch: i16 = 0;
        let mut sent: Vec<Sent> = Vec::new();
        let mut evicted = false;
        for op in ops {
            let size_before = log.size_bytes();
            let next_sequence = sent
                .last()
                .filter(|last| last.epoch == epoch)
                .map_or(0, |last| increment_sequence(last.first_sequence, last.records as i32));
            match op {
                Op::Send { records } => {
                    let result = log.append_as_leader(idempotent_batch(epoch, next_sequence, records), 1, 0);
                    if evicted && next_sequence != 0 {
                        let is_unknown = matches!(
                            result,
                            Err(LogError::Producer(ProducerStateError::UnknownProducerId { producer_id: 11, .. }))
                        );
                        prop_assert!(is_unknown, "{:?}", result);
                        prop_assert_eq!(log.size_bytes(), size_before);
                        continue;
                    }
                    let outcome = result.unwrap();
                    let AppendOutcome::Appended { base_offset, last_offset } = outcome else {
                        return Err(TestCaseError::fail(format!("{outcome:?}")));
                    };
                    prop_assert_eq!(last_offset - base_offset + 1, records as u64);
                    sent.push(Sent { epoch, first_sequence: next_sequence, records, base_offset, last_offset });
                    evicted = false;
                }
                Op::Retry { back } => {
                    let current: Vec<&Sent> = sent.iter().filter(|s| s.epoch == epoch).collect();
                    if back >= current.len() || evicted {
                        continue;
                    }
                    let original = current[current.len() - 1 - back].clone();
                    let result = log.append_as_leader(
                        idempotent_batch(epoch, original.first_sequence, original.records), 1, 0);
                    if back < PRODUCER_BATCHES_CACHED {
                        prop_assert_eq!(result, Ok(AppendOutcome::Duplicate {
                            base_offset: original.base_offset,
                            last_offset: original.last_offset,
                        }));
                    } else {
                        let out_of_order = matches!(
                            result,
                            Err(LogError::Producer(ProducerStateError::OutOfOrderSequence { .. }))
                        );
                        prop_assert!(out_of_order, "old retry: {:?}", result);
                    }
                    prop_assert_eq!(log.size_bytes(), size_before, "a retry wrote something");
                }
                Op::Gap { skip } => {
                    let result = log.append_as_leader(
                        idempotent_batch(epoch, increment_sequence(next_sequence, skip), 1), 1, 0);
                    prop_assert!(result.is_err(), "a gap was accepted");
                    prop_assert_eq!(log.size_bytes(), size_before);
                }
                Op::Other => {
                    log.append_as_leader(batch(&["other"], 0), 1, 0).unwrap();
                }
                Op::CrashAndRecover => {
                    log.sync().unwrap();
                    disk.crash();
                    log = Log::open(disk.clone(), DIR, config.clone()).unwrap().0;
                }
                Op::EvictAll => {
                    log.roll().unwrap();
                    let end = log.log_end_offset();
                    log.advance_log_start(end).unwrap();
                    if !sent.is_empty() {
                        evicted = true;
                        prop_assert!(log.producer_state().get(11).is_none());
                    }
                }
                Op::BumpEpoch => {
                    epoch += 1;
                    let result = log.append_as_leader(idempotent_batch(epoch, 0, 1), 1, 0).unwrap();
                    let AppendOutcome::Appended { base_offset, last_offset } = result else {
                        return Err(TestCaseError::fail(format!("{result:?}")));
                    };
                    sent.push(Sent { epoch, first_sequence: 0, records: 1, base_offset, last_offset });
                    evicted = false;
                    // The old epoch is now fenced.
                    let fenced = log.append_as_leader(idempotent_batch(epoch - 1, 0, 1), 1, 0);
                    let is_fenced = matches!(
                        fenced,
                        Err(LogError::Producer(ProducerStateError::InvalidProducerEpoch { .. }))
                    );
                    prop_assert!(is_fenced, "{:?}", fenced);
                }
            }
        }
    }

    /// The table alone, from any starting sequence (so across the wrap at `i32::MAX`).
    #[test]
    fn table_accepts_exactly_the_next_sequence_and_deduplicates_the_last_five(
        start in prop_oneof![Just(0i32), (i32::MAX - 40)..=i32::MAX, any::<i32>().prop_map(|n| n.abs().max(0))],
        steps in proptest::collection::vec((0..3u8, 1..4i32, 0..7usize), 1..40),
    ) {
        let mut table = ProducerStateTable::new();
        // Seed the producer as if it had reached `start`.
        let mut next_offset = 100u64;
        let seed = ProducerBatch { producer_id: 1, producer_epoch: 3, first_sequence: start, last_sequence: start };
        table.record(seed, next_offset, next_offset);
        let mut history = vec![(seed, next_offset, next_offset)];
        next_offset += 1;
        for (kind, records, back) in steps {
            let (last, _, _) = *history.last().unwrap();
            let next = increment_sequence(last.last_sequence, 1);
            match kind {
                0 => {
                    let batch = ProducerBatch {
                        producer_id: 1,
                        producer_epoch: 3,
                        first_sequence: next,
                        last_sequence: increment_sequence(next, records - 1),
                    };
                    prop_assert_eq!(table.check_and_update(batch, next_offset), Ok(SequenceCheck::Accept));
                    history.push((batch, next_offset, next_offset + records as u64 - 1));
                    next_offset += records as u64;
                }
                1 if back < history.len() => {
                    let (batch, base_offset, last_offset) = history[history.len() - 1 - back];
                    let verdict = table.check(batch);
                    if back < PRODUCER_BATCHES_CACHED {
                        prop_assert_eq!(verdict, Ok(SequenceCheck::Duplicate { base_offset, last_offset }));
                    } else {
                        let out_of_order = matches!(verdict, Err(ProducerStateError::OutOfOrderSequence { .. }));
                        prop_assert!(out_of_order, "{:?}", verdict);
                    }
                }
                _ => {
                    let gap = ProducerBatch {
                        producer_id: 1,
                        producer_epoch: 3,
                        first_sequence: increment_sequence(next, records),
                        last_sequence: increment_sequence(next, records),
                    };
                    let verdict = table.check(gap);
                    prop_assert_eq!(verdict, Err(ProducerStateError::OutOfOrderSequence {
                        producer_id: 1,
                        producer_epoch: 3,
                        expected_sequence: next,
                        first_sequence: gap.first_sequence,
                    }));
                }
            }
            prop_assert!(table.get(1).unwrap().batches.len() <= PRODUCER_BATCHES_CACHED);
        }
    }
}
