//! Record batches: the unit the log appends, stores, replicates and serves.
//!
//! A batch is a header and a payload of records, encoded big-endian with `bytes`:
//!
//! ```text
//! position  field                    type
//!  0        crc                      u32   CRC32C (Castagnoli) of every byte after this field
//!  4        base_offset              u64   offset of the first record
//! 12        partition_leader_epoch   u32   epoch of the leader that appended the batch
//! 16        record_count             u32   1 ..= RECORDS_PER_BATCH_MAX
//! 20        producer_id              i64   -1 = not idempotent
//! 28        producer_epoch           i16   -1 when producer_id is -1
//! 30        base_sequence            i32   -1 when producer_id is -1
//! 34        first_timestamp_ms       i64   timestamp of the first record
//! 42        max_timestamp_ms         i64   largest record timestamp
//! 50        payload_bytes            u32   length of the payload that follows
//! 54        payload: record_count records, each:
//!             timestamp_ms i64, key_bytes i32 (-1 = no key), key, value_bytes u32, value
//! ```
//!
//! Unlike Kafka's format the CRC is the first field, so it covers the base offset and the leader
//! epoch too: the leader stamps both and re-encodes (computing a new CRC), and recovery then
//! catches a flipped bit anywhere in a stored batch.
//!
//! Guarantees: [`RecordBatch::decode`] never panics, whatever the bytes; it accepts exactly the
//! bytes [`RecordBatch::encode`] produces for a valid batch and answers
//! [`BatchError::CorruptBatch`] for anything else (bad length, bad CRC, inconsistent fields,
//! trailing bytes). [`RecordBatch::validate`] checks an in-memory batch against the same rules
//! and the size limits. Not provided: compression, record headers, transactions/control batches.

use crate::codec::Reader;
use crate::increment_sequence;
use bytes::{BufMut, Bytes, BytesMut};

/// Largest encoded batch, header included (Kafka's `message.max.bytes` is about 1 MiB).
pub const BATCH_BYTES_MAX: u64 = 1024 * 1024;
/// Most records in one batch.
pub const RECORDS_PER_BATCH_MAX: u32 = 10_000;
/// Bytes of the fixed batch header.
pub const BATCH_HEADER_BYTES: u64 = 54;
/// Fixed bytes of one record besides its key and value.
pub const RECORD_OVERHEAD_BYTES: u64 = 16;
/// Largest offset a record may have (Kafka's offsets are non-negative i64).
pub const OFFSET_MAX: u64 = i64::MAX as u64;

/// `producer_id` of a batch from a producer that is not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producer_epoch` of a batch without a producer id.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `base_sequence` of a batch without a producer id.
pub const NO_SEQUENCE: i32 = -1;

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Bytes that do not decode to a valid batch (Kafka's `CORRUPT_MESSAGE`).
    #[error("corrupt batch: {reason}")]
    CorruptBatch { reason: String },
    #[error("batch of {batch_bytes} bytes exceeds the limit of {batch_bytes_max} bytes")]
    BatchTooLarge {
        batch_bytes: u64,
        batch_bytes_max: u64,
    },
    #[error("batch of {record_count} records exceeds the limit of {records_max} records")]
    TooManyRecords { record_count: u64, records_max: u32 },
    #[error("a batch must hold at least one record")]
    EmptyBatch,
    #[error(
        "inconsistent producer fields: producer id {producer_id}, epoch {producer_epoch}, \
         base sequence {base_sequence}"
    )]
    InvalidProducerFields {
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    },
    #[error("offsets of a batch at {base_offset} with {record_count} records overflow")]
    OffsetOverflow { base_offset: u64, record_count: u64 },
}

fn corrupt(reason: impl Into<String>) -> BatchError {
    BatchError::CorruptBatch {
        reason: reason.into(),
    }
}

/// One record. Its offset is its batch's base offset plus its index in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub timestamp_ms: i64,
}

impl Record {
    pub fn new(key: Option<Bytes>, value: impl Into<Bytes>, timestamp_ms: i64) -> Record {
        Record {
            key,
            value: value.into(),
            timestamp_ms,
        }
    }

    fn encoded_len(&self) -> u64 {
        RECORD_OVERHEAD_BYTES
            + self.key.as_ref().map_or(0, |key| key.len() as u64)
            + self.value.len() as u64
    }
}

/// A decoded record batch. Timestamps are derived from the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Assigned by the leader on append; a producer sends 0.
    pub base_offset: u64,
    /// Stamped by the leader on append; a producer sends 0.
    pub partition_leader_epoch: u32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records: Vec<Record>,
}

/// The fixed header of an encoded batch, read without decoding (or checking) the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub crc: u32,
    pub base_offset: u64,
    pub partition_leader_epoch: u32,
    pub record_count: u32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub first_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
    pub payload_bytes: u32,
}

impl BatchHeader {
    /// Reads the header at the start of `bytes`. Checks the sizes and the offset range (so
    /// [`BatchHeader::last_offset`] cannot overflow), not the CRC.
    pub fn decode(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        let mut reader = Reader::new(bytes);
        let short = || {
            corrupt(format!(
                "{} bytes: shorter than a batch header",
                bytes.len()
            ))
        };
        let header = BatchHeader {
            crc: reader.u32().ok_or_else(short)?,
            base_offset: reader.u64().ok_or_else(short)?,
            partition_leader_epoch: reader.u32().ok_or_else(short)?,
            record_count: reader.u32().ok_or_else(short)?,
            producer_id: reader.i64().ok_or_else(short)?,
            producer_epoch: reader.i16().ok_or_else(short)?,
            base_sequence: reader.i32().ok_or_else(short)?,
            first_timestamp_ms: reader.i64().ok_or_else(short)?,
            max_timestamp_ms: reader.i64().ok_or_else(short)?,
            payload_bytes: reader.u32().ok_or_else(short)?,
        };
        debug_assert_eq!(reader.position() as u64, BATCH_HEADER_BYTES);
        if header.batch_bytes() > BATCH_BYTES_MAX {
            return Err(corrupt(format!(
                "length {} exceeds BATCH_BYTES_MAX ({BATCH_BYTES_MAX})",
                header.batch_bytes()
            )));
        }
        if header.record_count == 0 || header.record_count > RECORDS_PER_BATCH_MAX {
            return Err(corrupt(format!(
                "record count {} outside 1..={RECORDS_PER_BATCH_MAX}",
                header.record_count
            )));
        }
        if header.base_offset > OFFSET_MAX - (header.record_count as u64 - 1) {
            return Err(corrupt(format!(
                "base offset {} with {} records overflows",
                header.base_offset, header.record_count
            )));
        }
        check_producer_fields(
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
        )
        .map_err(|error| corrupt(error.to_string()))?;
        Ok(header)
    }

    /// Encoded length of the whole batch.
    pub fn batch_bytes(&self) -> u64 {
        BATCH_HEADER_BYTES + self.payload_bytes as u64
    }

    pub fn last_offset(&self) -> u64 {
        self.base_offset + self.record_count as u64 - 1
    }

    /// Offset just after the batch.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + self.record_count as u64
    }
}

fn check_producer_fields(
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<(), BatchError> {
    let consistent = if producer_id == NO_PRODUCER_ID {
        producer_epoch == NO_PRODUCER_EPOCH && base_sequence == NO_SEQUENCE
    } else {
        producer_id >= 0 && producer_epoch >= 0 && base_sequence >= 0
    };
    if consistent {
        Ok(())
    } else {
        Err(BatchError::InvalidProducerFields {
            producer_id,
            producer_epoch,
            base_sequence,
        })
    }
}

impl RecordBatch {
    /// A batch from a producer without idempotence.
    pub fn new(records: Vec<Record>) -> RecordBatch {
        RecordBatch {
            base_offset: 0,
            partition_leader_epoch: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records,
        }
    }

    /// A batch from an idempotent producer (KIP-98).
    pub fn idempotent(
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        records: Vec<Record>,
    ) -> RecordBatch {
        RecordBatch {
            base_offset: 0,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            base_sequence,
            records,
        }
    }

    pub fn record_count(&self) -> u32 {
        u32::try_from(self.records.len()).unwrap_or(u32::MAX)
    }

    /// Offset of the last record. Panics on an empty batch (validate first).
    pub fn last_offset(&self) -> u64 {
        assert!(!self.records.is_empty(), "last_offset of an empty batch");
        self.base_offset + self.records.len() as u64 - 1
    }

    /// Offset just after the batch.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + self.records.len() as u64
    }

    pub fn is_idempotent(&self) -> bool {
        self.producer_id != NO_PRODUCER_ID
    }

    /// Sequence of the last record, wrapping past `i32::MAX` to 0 as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if !self.is_idempotent() {
            return NO_SEQUENCE;
        }
        let increment = i32::try_from(self.records.len().saturating_sub(1)).unwrap_or(i32::MAX);
        increment_sequence(self.base_sequence, increment)
    }

    pub fn first_timestamp_ms(&self) -> i64 {
        self.records
            .first()
            .map_or(-1, |record| record.timestamp_ms)
    }

    pub fn max_timestamp_ms(&self) -> i64 {
        self.records
            .iter()
            .map(|record| record.timestamp_ms)
            .max()
            .unwrap_or(-1)
    }

    /// Length of the encoding, header included.
    pub fn encoded_len(&self) -> u64 {
        BATCH_HEADER_BYTES + self.payload_len()
    }

    fn payload_len(&self) -> u64 {
        self.records.iter().map(Record::encoded_len).sum()
    }

    /// The records with their offsets.
    pub fn records_with_offsets(&self) -> impl Iterator<Item = (u64, &Record)> + '_ {
        (self.base_offset..).zip(self.records.iter())
    }

    /// Checks the batch against the format's rules and limits.
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.records.is_empty() {
            return Err(BatchError::EmptyBatch);
        }
        if self.records.len() as u64 > RECORDS_PER_BATCH_MAX as u64 {
            return Err(BatchError::TooManyRecords {
                record_count: self.records.len() as u64,
                records_max: RECORDS_PER_BATCH_MAX,
            });
        }
        let batch_bytes = self.encoded_len();
        if batch_bytes > BATCH_BYTES_MAX {
            return Err(BatchError::BatchTooLarge {
                batch_bytes,
                batch_bytes_max: BATCH_BYTES_MAX,
            });
        }
        if self.base_offset > OFFSET_MAX - (self.records.len() as u64 - 1) {
            return Err(BatchError::OffsetOverflow {
                base_offset: self.base_offset,
                record_count: self.records.len() as u64,
            });
        }
        check_producer_fields(self.producer_id, self.producer_epoch, self.base_sequence)
    }

    /// Encodes the batch. Panics if it is not valid (call [`RecordBatch::validate`] first on
    /// anything that came from outside).
    pub fn encode(&self) -> Bytes {
        if let Err(error) = self.validate() {
            panic!("encoding an invalid batch: {error}");
        }
        let mut buf = BytesMut::with_capacity(self.encoded_len() as usize);
        buf.put_u32(0); // the CRC, filled in below
        buf.put_u64(self.base_offset);
        buf.put_u32(self.partition_leader_epoch);
        buf.put_u32(self.records.len() as u32);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_i32(self.base_sequence);
        buf.put_i64(self.first_timestamp_ms());
        buf.put_i64(self.max_timestamp_ms());
        buf.put_u32(self.payload_len() as u32);
        for record in &self.records {
            buf.put_i64(record.timestamp_ms);
            match &record.key {
                None => buf.put_i32(-1),
                Some(key) => {
                    buf.put_i32(key.len() as i32);
                    buf.put_slice(key);
                }
            }
            buf.put_u32(record.value.len() as u32);
            buf.put_slice(&record.value);
        }
        let crc = crc32c::crc32c(&buf[4..]);
        buf[0..4].copy_from_slice(&crc.to_be_bytes());
        debug_assert_eq!(buf.len() as u64, self.encoded_len());
        buf.freeze()
    }

    /// Decodes exactly one batch occupying all of `bytes`. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<RecordBatch, BatchError> {
        let header = BatchHeader::decode(bytes)?;
        if bytes.len() as u64 != header.batch_bytes() {
            return Err(corrupt(format!(
                "{} bytes, but the header says {}",
                bytes.len(),
                header.batch_bytes()
            )));
        }
        let crc = crc32c::crc32c(&bytes[4..]);
        if crc != header.crc {
            return Err(corrupt(format!(
                "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
                header.crc
            )));
        }
        let mut reader = Reader::new(&bytes[BATCH_HEADER_BYTES as usize..]);
        let short = |index: u32| corrupt(format!("payload ends inside record {index}"));
        // Every record takes at least RECORD_OVERHEAD_BYTES, and the header bounds the count, so
        // this allocation is bounded by the bytes we were given.
        let capacity = (header.record_count as u64)
            .min(header.payload_bytes as u64 / RECORD_OVERHEAD_BYTES)
            as usize;
        let mut records = Vec::with_capacity(capacity);
        for index in 0..header.record_count {
            let timestamp_ms = reader.i64().ok_or_else(|| short(index))?;
            let key_bytes = reader.i32().ok_or_else(|| short(index))?;
            let key = match key_bytes {
                -1 => None,
                len if len >= 0 => Some(Bytes::copy_from_slice(
                    reader.take(len as usize).ok_or_else(|| short(index))?,
                )),
                len => return Err(corrupt(format!("record {index} has key length {len}"))),
            };
            let value_bytes = reader.u32().ok_or_else(|| short(index))?;
            let value = Bytes::copy_from_slice(
                reader
                    .take(value_bytes as usize)
                    .ok_or_else(|| short(index))?,
            );
            records.push(Record {
                key,
                value,
                timestamp_ms,
            });
        }
        if reader.remaining() != 0 {
            return Err(corrupt(format!(
                "{} bytes left after the last record",
                reader.remaining()
            )));
        }
        let batch = RecordBatch {
            base_offset: header.base_offset,
            partition_leader_epoch: header.partition_leader_epoch,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            records,
        };
        if batch.first_timestamp_ms() != header.first_timestamp_ms
            || batch.max_timestamp_ms() != header.max_timestamp_ms
        {
            return Err(corrupt(
                "timestamps in the header disagree with the records",
            ));
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> RecordBatch {
        let mut batch = RecordBatch::idempotent(
            7,
            2,
            40,
            vec![
                Record::new(Some(Bytes::from_static(b"k")), &b"v1"[..], 100),
                Record::new(None, &b""[..], 90),
                Record::new(None, &b"value three"[..], 120),
            ],
        );
        batch.base_offset = 1_000;
        batch.partition_leader_epoch = 3;
        batch
    }

    #[test]
    fn round_trips_and_derives_fields() {
        let batch = sample();
        let bytes = batch.encode();
        assert_eq!(bytes.len() as u64, batch.encoded_len());
        assert_eq!(RecordBatch::decode(&bytes).unwrap(), batch);
        let header = BatchHeader::decode(&bytes).unwrap();
        assert_eq!(header.base_offset, 1_000);
        assert_eq!(header.last_offset(), 1_002);
        assert_eq!(header.first_timestamp_ms, 100);
        assert_eq!(header.max_timestamp_ms, 120);
        assert_eq!(batch.last_sequence(), 42);
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let bytes = sample().encode();
        for position in 0..bytes.len() {
            let mut damaged = bytes.to_vec();
            damaged[position] ^= 0x5a;
            assert!(
                matches!(
                    RecordBatch::decode(&damaged),
                    Err(BatchError::CorruptBatch { .. })
                ),
                "flip at {position} not caught"
            );
        }
    }

    #[test]
    fn truncated_or_extended_bytes_are_corrupt() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(RecordBatch::decode(&bytes[..len]).is_err(), "prefix {len}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(RecordBatch::decode(&longer).is_err());
    }

    #[test]
    fn validate_names_what_is_wrong() {
        assert_eq!(
            RecordBatch::new(vec![]).validate(),
            Err(BatchError::EmptyBatch)
        );
        let big = RecordBatch::new(vec![Record::new(
            None,
            vec![0u8; BATCH_BYTES_MAX as usize],
            0,
        )]);
        assert!(matches!(
            big.validate(),
            Err(BatchError::BatchTooLarge { .. })
        ));
        let many = RecordBatch::new(vec![
            Record::new(None, &b""[..], 0);
            RECORDS_PER_BATCH_MAX as usize + 1
        ]);
        assert!(matches!(
            many.validate(),
            Err(BatchError::TooManyRecords { .. })
        ));
        let bad_producer = RecordBatch::idempotent(5, -1, 0, vec![Record::new(None, &b""[..], 0)]);
        assert!(matches!(
            bad_producer.validate(),
            Err(BatchError::InvalidProducerFields { .. })
        ));
        let mut overflow = RecordBatch::new(vec![Record::new(None, &b""[..], 0); 2]);
        overflow.base_offset = OFFSET_MAX;
        assert!(matches!(
            overflow.validate(),
            Err(BatchError::OffsetOverflow { .. })
        ));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let batch =
            RecordBatch::idempotent(1, 0, i32::MAX - 1, vec![Record::new(None, &b""[..], 0); 4]);
        assert_eq!(batch.last_sequence(), 1);
    }

    fn record() -> impl Strategy<Value = Record> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            proptest::collection::vec(any::<u8>(), 0..32),
            any::<i64>(),
        )
            .prop_map(|(key, value, timestamp_ms)| Record {
                key: key.map(Bytes::from),
                value: Bytes::from(value),
                timestamp_ms,
            })
    }

    proptest! {
        /// decode(any bytes) never panics, and answers only CorruptBatch.
        #[test]
        fn decode_of_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            match RecordBatch::decode(&bytes) {
                Ok(batch) => prop_assert_eq!(batch.encode().to_vec(), bytes),
                Err(error) => {
                    let is_corrupt = matches!(error, BatchError::CorruptBatch { .. });
                    prop_assert!(is_corrupt, "{:?}", error);
                }
            }
        }

        /// Arbitrary mutations of a valid encoding never panic: corrupt, or (rarely) the same batch.
        #[test]
        fn decode_of_mutated_batches_never_panics(
            records in proptest::collection::vec(record(), 1..5),
            mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = RecordBatch::new(records).encode().to_vec();
            let mut damaged = bytes.clone();
            for (index, value) in mutations {
                let position = index.index(damaged.len());
                damaged[position] = value;
            }
            let _ = RecordBatch::decode(&damaged);
            let _ = RecordBatch::decode(&damaged[..cut.index(damaged.len())]);
        }

        #[test]
        fn any_valid_batch_round_trips(
            records in proptest::collection::vec(record(), 1..8),
            base_offset in 0..OFFSET_MAX - 8,
            epoch in any::<u32>(),
            producer in proptest::option::of((0..i64::MAX, 0..i16::MAX, 0..i32::MAX)),
        ) {
            let mut batch = match producer {
                Some((id, producer_epoch, sequence)) => RecordBatch::idempotent(id, producer_epoch, sequence, records),
                None => RecordBatch::new(records),
            };
            batch.base_offset = base_offset;
            batch.partition_leader_epoch = epoch;
            prop_assert_eq!(RecordBatch::decode(&batch.encode()).unwrap(), batch);
        }
    }
}
