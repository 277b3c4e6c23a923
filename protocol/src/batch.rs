//! Record batches in Kafka's format, record batch v2 (magic 2): the unit the log appends,
//! stores, replicates and serves, on disk and on the wire.
//!
//! ```text
//! position  field                    type
//!  0        base_offset              i64   offset of the first record (the leader stamps it)
//!  8        batch_length             i32   bytes after this field
//! 12        partition_leader_epoch   i32   epoch of the leader that appended it (stamped too)
//! 16        magic                    i8    2
//! 17        crc                      u32   CRC32C (Castagnoli) of every byte from `attributes` on
//! 21        attributes               i16   bits 0-2 compression, 3 timestamp type, 4 transactional,
//!                                          5 control, 6 delete horizon
//! 23        last_offset_delta        i32   record_count - 1 (nothing is compacted)
//! 27        base_timestamp           i64   timestamp of the first record
//! 35        max_timestamp            i64   largest record timestamp
//! 43        producer_id              i64   -1 = not idempotent
//! 51        producer_epoch           i16   -1 when producer_id is -1
//! 53        base_sequence            i32   -1 when producer_id is -1
//! 57        record_count             i32
//! 61        records, compressed as a whole when the attributes say so; each record:
//!             length varint, attributes i8, timestamp_delta varlong, offset_delta varint,
//!             key_length varint (-1 = no key), key, value_length varint, value,
//!             header_count varint, headers (key_length varint, key, value_length varint, value)
//! ```
//!
//! Varints are zig-zag encoded, as Kafka's (protobuf's `sint32`/`sint64`). As in Kafka, the CRC
//! leaves out the base offset and the partition leader epoch, so the leader stamps both into the
//! producer's bytes ([`stamp`]) without recomputing anything, and fetches serve the stored bytes
//! as they are. A flipped bit in those two fields is not caught by the CRC: recovery catches a
//! wrong base offset by the offsets' continuity (as Kafka's does).
//!
//! Guarantees: [`RecordBatch::decode`] never panics, whatever the bytes; it answers
//! [`BatchError::CorruptBatch`], naming the problem, for anything that is not one whole valid
//! batch (bad length, magic, CRC, records, trailing bytes). [`StoredBatch::verify`] checks the
//! header, the length and the CRC without decoding the records (what a follower and a read do).
//! Supported: compression none, gzip, snappy (Kafka's xerial framing, raw accepted), lz4
//! (Kafka's frame format) and zstd; record headers; create-time timestamps. Refused as corrupt,
//! with the reason: transactional and control batches, log-append-time timestamps, delete
//! horizons, null values (tombstones: nothing is compacted here), and the old magic 0/1
//! message sets.

use crate::codec::Reader;
use crate::increment_sequence;
use bytes::{BufMut, Bytes, BytesMut};

/// Largest encoded batch, header included (Kafka's `message.max.bytes` is about 1 MiB).
pub const BATCH_BYTES_MAX: u64 = 1024 * 1024;
/// Most records in one batch.
pub const RECORDS_PER_BATCH_MAX: u32 = 10_000;
/// Bytes of the fixed batch header (Kafka's `RECORD_BATCH_OVERHEAD`).
pub const BATCH_HEADER_BYTES: u64 = 61;
/// Bytes of the base offset and the length field: the part of the header `batch_length` leaves
/// out (Kafka's `LOG_OVERHEAD`).
pub const LOG_OVERHEAD_BYTES: u64 = 12;
/// Largest offset a record may have (Kafka's offsets are non-negative i64).
pub const OFFSET_MAX: u64 = i64::MAX as u64;
/// The batch format's magic byte.
pub const MAGIC: i8 = 2;

/// `producer_id` of a batch from a producer that is not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producer_epoch` of a batch without a producer id.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `base_sequence` of a batch without a producer id.
pub const NO_SEQUENCE: i32 = -1;

const LENGTH_AT: usize = 8;
const EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// Largest encoding of a record's varint fields that depend on its place in the batch (the
/// length prefix, the timestamp delta and the offset delta), for size bounds.
const RECORD_POSITION_BYTES_MAX: u64 = 5 + 10 + 5;

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

/// How a batch's records are compressed (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// Every codec, in attribute order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn from_attributes(attributes: i16) -> Result<Compression, BatchError> {
        match attributes & COMPRESSION_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(corrupt(format!("unknown compression type {other}"))),
        }
    }

    fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name Kafka's `compression.type` uses.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses Kafka's `compression.type` names.
    pub fn from_name(name: &str) -> Option<Compression> {
        Compression::ALL
            .into_iter()
            .find(|compression| compression.name() == name)
    }
}

/// A record header: a string key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: String,
    pub value: Option<Bytes>,
}

/// One record. Its offset is its batch's base offset plus its index in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub timestamp_ms: i64,
    pub headers: Vec<RecordHeader>,
}

impl Record {
    pub fn new(key: Option<Bytes>, value: impl Into<Bytes>, timestamp_ms: i64) -> Record {
        Record {
            key,
            value: value.into(),
            timestamp_ms,
            headers: Vec::new(),
        }
    }

    /// Bytes of the record's fields that do not depend on its place in the batch.
    fn body_len_without_position(&self) -> u64 {
        let mut len = 1; // attributes
        len += match &self.key {
            None => varint_len(-1),
            Some(key) => varint_len(key.len() as i64) + key.len() as u64,
        };
        len += varint_len(self.value.len() as i64) + self.value.len() as u64;
        len += varint_len(self.headers.len() as i64);
        for header in &self.headers {
            len += varint_len(header.key.len() as i64) + header.key.len() as u64;
            len += match &header.value {
                None => varint_len(-1),
                Some(value) => varint_len(value.len() as i64) + value.len() as u64,
            };
        }
        len
    }

    /// An upper bound of the record's encoded size wherever it sits in a batch (uncompressed):
    /// what a producer adds to a batch's size when it appends the record.
    pub fn encoded_len_bound(&self) -> u64 {
        self.body_len_without_position() + RECORD_POSITION_BYTES_MAX
    }

    fn body_len(&self, timestamp_delta: i64, offset_delta: i64) -> u64 {
        self.body_len_without_position() + varint_len(timestamp_delta) + varint_len(offset_delta)
    }
}

/// An upper bound of the encoded size of a record without headers with this key and value; see
/// [`Record::encoded_len_bound`].
pub fn record_len_bound(key_bytes: Option<usize>, value_bytes: usize) -> u64 {
    let key = match key_bytes {
        None => varint_len(-1),
        Some(len) => varint_len(len as i64) + len as u64,
    };
    1 + key + varint_len(value_bytes as i64) + value_bytes as u64 + 1 + RECORD_POSITION_BYTES_MAX
}

/// A decoded record batch. Timestamps are the records'; the header's are derived from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Assigned by the leader on append; a producer sends 0.
    pub base_offset: u64,
    /// Stamped by the leader on append; a producer sends 0.
    pub partition_leader_epoch: u32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub compression: Compression,
    pub records: Vec<Record>,
}

/// The fixed header of an encoded batch, read without decoding (or checking) the records.
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
    pub compression: Compression,
    /// Bytes of the records section (compressed, if the batch is).
    pub payload_bytes: u32,
}

/// Where the batch whose header starts `bytes` ends: (next offset, batch bytes), read from the
/// four fields a read walking past it needs (base offset, length, magic, last offset delta), or
/// None when any of them looks wrong, which [`BatchHeader::decode`] then explains. Kafka's log
/// reads walk headers the same way (`FileRecords.searchForOffsetWithSize` reads offset and size
/// only). A batch a read serves is still decoded and its CRC checked.
#[inline]
pub fn peek_span(bytes: &[u8]) -> Option<(u64, u64)> {
    let head = bytes.get(..BATCH_HEADER_BYTES as usize)?;
    let base_offset = i64::from_be_bytes(head[0..8].try_into().ok()?);
    let batch_length = i32::from_be_bytes(head[LENGTH_AT..LENGTH_AT + 4].try_into().ok()?);
    let last_offset_delta = i32::from_be_bytes(
        head[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .try_into()
            .ok()?,
    );
    let batch_bytes = LOG_OVERHEAD_BYTES as i64 + batch_length as i64;
    let plausible = head[MAGIC_AT] as i8 == MAGIC
        && base_offset >= 0
        && last_offset_delta >= 0
        && (last_offset_delta as u32) < RECORDS_PER_BATCH_MAX
        && batch_bytes >= BATCH_HEADER_BYTES as i64
        && batch_bytes as u64 <= BATCH_BYTES_MAX
        && (base_offset as u64) < OFFSET_MAX - last_offset_delta as u64;
    plausible.then(|| {
        (
            base_offset as u64 + last_offset_delta as u64 + 1,
            batch_bytes as u64,
        )
    })
}

impl BatchHeader {
    /// Reads the header at the start of `bytes`. Checks the magic, the sizes, the attributes and
    /// the offset range (so [`BatchHeader::last_offset`] cannot overflow), not the CRC.
    pub fn decode(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        // One bounds check, then fixed positions: this runs for every batch a read walks past.
        let Some(head) = bytes.get(..BATCH_HEADER_BYTES as usize) else {
            return Err(corrupt(format!(
                "{} bytes: shorter than a batch header ({BATCH_HEADER_BYTES})",
                bytes.len()
            )));
        };
        let field = |at: usize, len: usize| &head[at..at + len];
        let i64_at = |at| i64::from_be_bytes(field(at, 8).try_into().expect("8 bytes"));
        let i32_at = |at| i32::from_be_bytes(field(at, 4).try_into().expect("4 bytes"));
        let i16_at = |at| i16::from_be_bytes(field(at, 2).try_into().expect("2 bytes"));
        let base_offset = i64_at(0);
        let batch_length = i32_at(LENGTH_AT);
        let partition_leader_epoch = i32_at(EPOCH_AT);
        let magic = head[MAGIC_AT] as i8;
        let crc = i32_at(CRC_AT) as u32;
        let attributes = i16_at(ATTRIBUTES_AT);
        let last_offset_delta = i32_at(LAST_OFFSET_DELTA_AT);
        let first_timestamp_ms = i64_at(27);
        let max_timestamp_ms = i64_at(35);
        let producer_id = i64_at(43);
        let producer_epoch = i16_at(51);
        let base_sequence = i32_at(53);
        let record_count = i32_at(57);
        if magic != MAGIC {
            return Err(corrupt(format!(
                "magic {magic}: only record batch v2 (magic 2) is supported"
            )));
        }
        if base_offset < 0 {
            return Err(corrupt(format!("negative base offset {base_offset}")));
        }
        let batch_bytes = LOG_OVERHEAD_BYTES as i64 + batch_length as i64;
        if batch_bytes < BATCH_HEADER_BYTES as i64 {
            return Err(corrupt(format!(
                "batch length {batch_length} is shorter than the header"
            )));
        }
        if batch_bytes as u64 > BATCH_BYTES_MAX {
            return Err(corrupt(format!(
                "length {batch_bytes} exceeds BATCH_BYTES_MAX ({BATCH_BYTES_MAX})"
            )));
        }
        if attributes & (TRANSACTIONAL_BIT | CONTROL_BIT) != 0 {
            return Err(corrupt(
                "transactional and control batches are not supported",
            ));
        }
        if attributes & TIMESTAMP_TYPE_BIT != 0 {
            return Err(corrupt("log-append-time timestamps are not supported"));
        }
        if attributes & DELETE_HORIZON_BIT != 0 {
            return Err(corrupt("delete horizons (compaction) are not supported"));
        }
        if attributes & !0x7f != 0 {
            return Err(corrupt(format!(
                "unknown attribute bits in {attributes:#06x}"
            )));
        }
        let compression = Compression::from_attributes(attributes)?;
        if record_count <= 0 || record_count as u32 > RECORDS_PER_BATCH_MAX {
            return Err(corrupt(format!(
                "record count {record_count} outside 1..={RECORDS_PER_BATCH_MAX}"
            )));
        }
        if last_offset_delta != record_count - 1 {
            return Err(corrupt(format!(
                "last offset delta {last_offset_delta} with {record_count} records \
                 (compacted batches are not supported)"
            )));
        }
        let record_count = record_count as u32;
        let base_offset = base_offset as u64;
        if base_offset > OFFSET_MAX - (record_count as u64 - 1) {
            return Err(corrupt(format!(
                "base offset {base_offset} with {record_count} records overflows"
            )));
        }
        check_producer_fields(producer_id, producer_epoch, base_sequence)
            .map_err(|error| corrupt(error.to_string()))?;
        Ok(BatchHeader {
            crc,
            base_offset,
            partition_leader_epoch: partition_leader_epoch as u32,
            record_count,
            producer_id,
            producer_epoch,
            base_sequence,
            first_timestamp_ms,
            max_timestamp_ms,
            compression,
            payload_bytes: (batch_bytes as u64 - BATCH_HEADER_BYTES) as u32,
        })
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

    pub fn is_idempotent(&self) -> bool {
        self.producer_id != NO_PRODUCER_ID
    }

    /// Sequence of the last record, wrapping past `i32::MAX` to 0 as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if !self.is_idempotent() {
            return NO_SEQUENCE;
        }
        increment_sequence(
            self.base_sequence,
            self.record_count.saturating_sub(1).min(i32::MAX as u32) as i32,
        )
    }
}

/// Writes the base offset and the partition leader epoch into an encoded batch. The CRC does
/// not cover them, so the batch stays valid. Panics if `bytes` is shorter than a header.
pub fn stamp(bytes: &mut [u8], base_offset: u64, partition_leader_epoch: u32) {
    bytes[..LENGTH_AT].copy_from_slice(&(base_offset as i64).to_be_bytes());
    bytes[EPOCH_AT..MAGIC_AT].copy_from_slice(&(partition_leader_epoch as i32).to_be_bytes());
}

/// An encoded batch whose header, length and CRC were checked; its records were not decoded.
/// What the log stores and serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub header: BatchHeader,
    pub bytes: Bytes,
}

impl StoredBatch {
    /// Checks that `bytes` are one whole batch with a valid header and CRC.
    pub fn verify(bytes: Bytes) -> Result<StoredBatch, BatchError> {
        let header = verify_bytes(&bytes)?;
        Ok(StoredBatch { header, bytes })
    }

    /// Checks `bytes` as [`StoredBatch::verify`] does and decodes every record (decompressing
    /// if needed), as a leader checks a producer's batch (Kafka's LogValidator).
    pub fn verify_records(bytes: Bytes) -> Result<StoredBatch, BatchError> {
        let header = verify_bytes(&bytes)?;
        decode_body(&header, &bytes)?;
        Ok(StoredBatch { header, bytes })
    }

    /// Decodes the records (for whoever needs them: a consumer, the state checker, tests).
    /// Keys and values share the stored bytes (no copy) when the batch is not compressed.
    pub fn decode(&self) -> Result<RecordBatch, BatchError> {
        decode_body(&self.header, &self.bytes)
    }
}

/// What the log appends: stored bytes as they are, or a decoded batch (encoded once, after
/// [`RecordBatch::validate`]), which tests and tools build.
pub trait IntoStored {
    fn into_stored(self) -> Result<StoredBatch, BatchError>;
}

impl IntoStored for StoredBatch {
    fn into_stored(self) -> Result<StoredBatch, BatchError> {
        Ok(self)
    }
}

impl IntoStored for &StoredBatch {
    fn into_stored(self) -> Result<StoredBatch, BatchError> {
        Ok(self.clone())
    }
}

impl IntoStored for &RecordBatch {
    fn into_stored(self) -> Result<StoredBatch, BatchError> {
        self.validate()?;
        StoredBatch::verify(self.encode())
    }
}

impl IntoStored for RecordBatch {
    fn into_stored(self) -> Result<StoredBatch, BatchError> {
        (&self).into_stored()
    }
}

/// The header of `bytes` once its length and CRC are checked.
pub fn verify_bytes(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::decode(bytes)?;
    if bytes.len() as u64 != header.batch_bytes() {
        return Err(corrupt(format!(
            "{} bytes, but the header says {}",
            bytes.len(),
            header.batch_bytes()
        )));
    }
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
    if crc != header.crc {
        return Err(corrupt(format!(
            "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
            header.crc
        )));
    }
    Ok(header)
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
            compression: Compression::None,
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
            producer_id,
            producer_epoch,
            base_sequence,
            ..RecordBatch::new(records)
        }
    }

    /// The same batch with its records compressed this way.
    pub fn with_compression(mut self, compression: Compression) -> RecordBatch {
        self.compression = compression;
        self
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

    /// Length of the encoding without compression, header included (the exact encoded length
    /// of an uncompressed batch; a compressed one is usually shorter).
    pub fn encoded_len(&self) -> u64 {
        BATCH_HEADER_BYTES + self.records_len()
    }

    fn records_len(&self) -> u64 {
        let first = self.first_timestamp_ms();
        self.records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let body = record.body_len(record.timestamp_ms.wrapping_sub(first), index as i64);
                varint_len(body as i64) + body
            })
            .sum()
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
        buf.put_i64(self.base_offset as i64);
        buf.put_i32(0); // the length, filled in below
        buf.put_i32(self.partition_leader_epoch as i32);
        buf.put_i8(MAGIC);
        buf.put_u32(0); // the CRC, filled in below
        buf.put_i16(self.compression.attribute_bits());
        buf.put_i32(self.records.len() as i32 - 1);
        let first = self.first_timestamp_ms();
        buf.put_i64(first);
        buf.put_i64(self.max_timestamp_ms());
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_i32(self.base_sequence);
        buf.put_i32(self.records.len() as i32);
        match self.compression {
            Compression::None => self.put_records(&mut buf, first),
            compression => {
                let mut plain = BytesMut::with_capacity(self.records_len() as usize);
                self.put_records(&mut plain, first);
                compress(compression, &plain, &mut buf);
            }
        }
        let length = (buf.len() as u64 - LOG_OVERHEAD_BYTES) as i32;
        buf[LENGTH_AT..EPOCH_AT].copy_from_slice(&length.to_be_bytes());
        let crc = crc32c::crc32c(&buf[ATTRIBUTES_AT..]);
        buf[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        buf.freeze()
    }

    fn put_records(&self, buf: &mut BytesMut, first_timestamp_ms: i64) {
        for (index, record) in self.records.iter().enumerate() {
            let timestamp_delta = record.timestamp_ms.wrapping_sub(first_timestamp_ms);
            let body = record.body_len(timestamp_delta, index as i64);
            put_varint(buf, body as i64);
            buf.put_i8(0); // record attributes: unused
            put_varint(buf, timestamp_delta);
            put_varint(buf, index as i64);
            put_nullable(buf, record.key.as_deref());
            put_nullable(buf, Some(&record.value));
            put_varint(buf, record.headers.len() as i64);
            for header in &record.headers {
                put_nullable(buf, Some(header.key.as_bytes()));
                put_nullable(buf, header.value.as_deref());
            }
        }
    }

    /// Decodes exactly one batch occupying all of `bytes`. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<RecordBatch, BatchError> {
        let header = verify_bytes(bytes)?;
        decode_body(&header, &Bytes::copy_from_slice(bytes))
    }

    /// [`RecordBatch::decode`] of bytes the records may share (no copy of keys and values).
    pub fn decode_bytes(bytes: &Bytes) -> Result<RecordBatch, BatchError> {
        let header = verify_bytes(bytes)?;
        decode_body(&header, bytes)
    }
}

/// The records of a batch whose header, length and CRC were checked.
fn decode_body(header: &BatchHeader, bytes: &Bytes) -> Result<RecordBatch, BatchError> {
    let section = bytes.slice(BATCH_HEADER_BYTES as usize..);
    let records_bytes = match header.compression {
        Compression::None => section,
        compression => decompress(compression, &section)?,
    };
    let records = decode_records(header, &records_bytes)?;
    let batch = RecordBatch {
        base_offset: header.base_offset,
        partition_leader_epoch: header.partition_leader_epoch,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        compression: header.compression,
        records,
    };
    if batch.max_timestamp_ms() != header.max_timestamp_ms {
        return Err(corrupt(format!(
            "max timestamp {} in the header, {} in the records",
            header.max_timestamp_ms,
            batch.max_timestamp_ms()
        )));
    }
    Ok(batch)
}

fn decode_records(header: &BatchHeader, bytes: &Bytes) -> Result<Vec<Record>, BatchError> {
    let mut reader = Reader::new(bytes);
    // Keys, values and header values are slices of `bytes`: positions are taken from the readers.
    let base = bytes.as_ptr() as usize;
    let share = |slice: &[u8]| {
        bytes
            .slice((slice.as_ptr() as usize - base)..(slice.as_ptr() as usize - base + slice.len()))
    };
    // Every record takes at least 7 bytes, and the header bounds the count, so this allocation
    // is bounded by the bytes we were given.
    let capacity = (header.record_count as usize).min(bytes.len() / 7);
    let mut records = Vec::with_capacity(capacity);
    for index in 0..header.record_count {
        let bad = |what: &str| corrupt(format!("record {index}: {what}"));
        let length = read_varint(&mut reader).ok_or_else(|| bad("bad length"))?;
        if length < 0 || length as u64 > reader.remaining() as u64 {
            return Err(bad(&format!(
                "length {length} with {} bytes left",
                reader.remaining()
            )));
        }
        let body = reader
            .take(length as usize)
            .ok_or_else(|| bad("truncated"))?;
        let mut body = Reader::new(body);
        let _attributes = body.u8().ok_or_else(|| bad("no attributes"))?;
        let timestamp_delta = read_varint(&mut body).ok_or_else(|| bad("bad timestamp delta"))?;
        let offset_delta = read_varint(&mut body).ok_or_else(|| bad("bad offset delta"))?;
        if offset_delta != index as i64 {
            return Err(bad(&format!(
                "offset delta {offset_delta} (compacted batches are not supported)"
            )));
        }
        let key = read_nullable(&mut body)
            .map_err(|what| bad(&format!("key: {what}")))?
            .map(share);
        let value = read_nullable(&mut body)
            .map_err(|what| bad(&format!("value: {what}")))?
            .map(share)
            .ok_or_else(|| bad("null value (tombstones are not supported)"))?;
        let header_count = read_varint(&mut body).ok_or_else(|| bad("bad header count"))?;
        if header_count < 0 || header_count as u64 > body.remaining() as u64 {
            return Err(bad(&format!("header count {header_count}")));
        }
        let mut headers = Vec::with_capacity(header_count as usize);
        for _ in 0..header_count {
            let key = read_nullable(&mut body)
                .map_err(|what| bad(&format!("header key: {what}")))?
                .ok_or_else(|| bad("null header key"))?;
            let key = String::from_utf8(key.to_vec()).map_err(|_| bad("header key not UTF-8"))?;
            let value = read_nullable(&mut body)
                .map_err(|what| bad(&format!("header value: {what}")))?
                .map(share);
            headers.push(RecordHeader { key, value });
        }
        if body.remaining() != 0 {
            return Err(bad(&format!(
                "{} bytes left in the record",
                body.remaining()
            )));
        }
        records.push(Record {
            key,
            value,
            timestamp_ms: header.first_timestamp_ms.wrapping_add(timestamp_delta),
            headers,
        });
    }
    if reader.remaining() != 0 {
        return Err(corrupt(format!(
            "{} bytes left after the last record",
            reader.remaining()
        )));
    }
    Ok(records)
}

fn compress(compression: Compression, plain: &[u8], out: &mut BytesMut) {
    use kafka_protocol::compression::Compressor;
    let fill = |buf: &mut BytesMut| {
        buf.put_slice(plain);
        Ok(())
    };
    let result = match compression {
        Compression::None => {
            out.put_slice(plain);
            Ok(())
        }
        Compression::Gzip => crate::compression::gzip_compress(plain, out).map_err(Into::into),
        Compression::Snappy => kafka_protocol::compression::Snappy::compress(out, fill),
        Compression::Lz4 => kafka_protocol::compression::Lz4::compress(out, fill),
        Compression::Zstd => crate::compression::zstd_compress(plain, out).map_err(Into::into),
    };
    // Compressing bytes in memory does not fail; a failure is a bug in the codec.
    if let Err(error) = result {
        panic!("{} compression failed: {error}", compression.name());
    }
}

fn decompress(compression: Compression, section: &[u8]) -> Result<Bytes, BatchError> {
    use kafka_protocol::compression::Decompressor;
    let mut input = Bytes::copy_from_slice(section);
    let take = |buf: &mut Bytes| Ok(std::mem::take(buf));
    // The codecs are foreign code: a panic on hostile bytes is caught and reported as corrupt.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match compression {
        Compression::None => Ok(input.clone()),
        Compression::Gzip => crate::compression::gzip_decompress(section).map_err(Into::into),
        Compression::Snappy => kafka_protocol::compression::Snappy::decompress(&mut input, take),
        Compression::Lz4 => kafka_protocol::compression::Lz4::decompress(&mut input, take),
        Compression::Zstd => crate::compression::zstd_decompress(section).map_err(Into::into),
    }));
    match result {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(corrupt(format!(
            "{} records do not decompress: {error:#}",
            compression.name()
        ))),
        Err(_) => Err(corrupt(format!(
            "{} records do not decompress",
            compression.name()
        ))),
    }
}

// ---- varints (zig-zag, as Kafka's ByteUtils) ---------------------------------------------------

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn varint_len(value: i64) -> u64 {
    let mut rest = zigzag(value);
    let mut len = 1;
    while rest >= 0x80 {
        rest >>= 7;
        len += 1;
    }
    len
}

fn put_varint(buf: &mut impl BufMut, value: i64) {
    let mut rest = zigzag(value);
    while rest >= 0x80 {
        buf.put_u8((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    buf.put_u8(rest as u8);
}

fn put_nullable(buf: &mut impl BufMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(buf, -1),
        Some(bytes) => {
            put_varint(buf, bytes.len() as i64);
            buf.put_slice(bytes);
        }
    }
}

/// A zig-zag varint of at most 10 bytes; None when the bytes end first or it is longer.
fn read_varint(reader: &mut Reader<'_>) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = reader.u8()?;
        value |= ((byte & 0x7f) as u64).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

fn read_nullable<'a>(reader: &mut Reader<'a>) -> Result<Option<&'a [u8]>, String> {
    let len = read_varint(reader).ok_or("bad length")?;
    match len {
        -1 => Ok(None),
        len if len >= 0 => reader
            .take(len as usize)
            .map(Some)
            .ok_or_else(|| format!("length {len} beyond the record")),
        len => Err(format!("length {len}")),
    }
}

#[cfg(test)]
mod tests;
