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
            Record {
                headers: vec![
                    RecordHeader {
                        key: "trace".to_string(),
                        value: Some(Bytes::from_static(b"abc")),
                    },
                    RecordHeader {
                        key: "empty".to_string(),
                        value: None,
                    },
                ],
                ..Record::new(None, &b"value three"[..], 120)
            },
        ],
    );
    batch.base_offset = 1_000;
    batch.partition_leader_epoch = 3;
    batch
}

const COMPRESSIONS: [Compression; 5] = Compression::ALL;

#[test]
fn round_trips_and_derives_fields() {
    let batch = sample();
    let bytes = batch.encode();
    assert_eq!(bytes.len() as u64, batch.encoded_len());
    assert_eq!(RecordBatch::decode(&bytes).unwrap(), batch);
    let header = BatchHeader::decode(&bytes).unwrap();
    assert_eq!(header.base_offset, 1_000);
    assert_eq!(header.partition_leader_epoch, 3);
    assert_eq!(header.last_offset(), 1_002);
    assert_eq!(header.first_timestamp_ms, 100);
    assert_eq!(header.max_timestamp_ms, 120);
    assert_eq!(header.last_sequence(), 42);
    assert_eq!(batch.last_sequence(), 42);
    assert_eq!(header.batch_bytes(), bytes.len() as u64);
}

#[test]
fn every_compression_round_trips() {
    let values: Vec<Record> = (0..50)
        .map(|i| Record::new(None, format!("value {i} value {i} value {i}"), 1_000 + i))
        .collect();
    for compression in COMPRESSIONS {
        let batch = RecordBatch::new(values.clone()).with_compression(compression);
        let bytes = batch.encode();
        let header = BatchHeader::decode(&bytes).unwrap();
        assert_eq!(header.compression, compression);
        assert_eq!(
            RecordBatch::decode(&bytes).unwrap(),
            batch,
            "{compression:?}"
        );
        if compression != Compression::None {
            assert!(
                (bytes.len() as u64) < batch.encoded_len(),
                "{compression:?} should shrink repetitive values"
            );
        }
    }
}

/// Kafka's own codec (the `kafka-protocol` crate, generated from Kafka's schemas) reads what we
/// write, and we read what it writes: the format, the varints and the CRC are Kafka's.
#[test]
fn kafka_codec_agrees_both_ways() {
    use kafka_protocol::records as kafka;
    for compression in COMPRESSIONS {
        let ours = sample().with_compression(compression);
        let bytes = ours.encode();
        let mut buf = bytes.clone();
        let decoded = kafka::RecordBatchDecoder::decode(&mut buf).expect("kafka decodes ours");
        assert_eq!(decoded.records.len(), 3, "{compression:?}");
        for (theirs, mine) in decoded.records.iter().zip(&ours.records) {
            assert_eq!(theirs.offset, 1_000 + (theirs.offset - 1_000));
            assert_eq!(theirs.timestamp, mine.timestamp_ms);
            assert_eq!(theirs.key, mine.key);
            assert_eq!(theirs.value.as_ref(), Some(&mine.value));
            assert_eq!(theirs.producer_id, 7);
            assert_eq!(theirs.partition_leader_epoch, 3);
            assert_eq!(theirs.headers.len(), mine.headers.len());
        }

        let records: Vec<kafka::Record> = ours
            .records
            .iter()
            .enumerate()
            .map(|(index, record)| kafka::Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 3,
                producer_id: 7,
                producer_epoch: 2,
                sequence: 40 + index as i32,
                timestamp_type: kafka::TimestampType::Creation,
                offset: 1_000 + index as i64,
                timestamp: record.timestamp_ms,
                key: record.key.clone(),
                value: Some(record.value.clone()),
                headers: record
                    .headers
                    .iter()
                    .map(|header| (header.key.clone().into(), header.value.clone()))
                    .collect(),
            })
            .collect();
        let mut theirs = BytesMut::new();
        let kafka_compression = match compression {
            Compression::None => kafka::Compression::None,
            Compression::Gzip => kafka::Compression::Gzip,
            Compression::Snappy => kafka::Compression::Snappy,
            Compression::Lz4 => kafka::Compression::Lz4,
            Compression::Zstd => kafka::Compression::Zstd,
        };
        kafka::RecordBatchEncoder::encode(
            &mut theirs,
            &records,
            &kafka::RecordEncodeOptions {
                version: 2,
                compression: kafka_compression,
            },
        )
        .expect("kafka encodes");
        assert_eq!(
            RecordBatch::decode(&theirs).unwrap(),
            ours,
            "{compression:?}"
        );
        // kafka-protocol takes the smallest timestamp as the base, Kafka's Java producer (and
        // this encoder) the first record's: the bytes agree when the first is the smallest.
        let sorted = ours
            .records
            .windows(2)
            .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms);
        if compression == Compression::None && sorted {
            assert_eq!(theirs.as_ref(), bytes.as_ref(), "byte for byte");
        }
    }
}

#[test]
fn stamping_keeps_the_crc_valid() {
    let mut bytes =
        BytesMut::from(&RecordBatch::new(vec![Record::new(None, &b"x"[..], 5)]).encode()[..]);
    stamp(&mut bytes, 77, 9);
    let batch = RecordBatch::decode(&bytes).unwrap();
    assert_eq!(batch.base_offset, 77);
    assert_eq!(batch.partition_leader_epoch, 9);
    let stored = StoredBatch::verify(bytes.freeze()).unwrap();
    assert_eq!(stored.header.next_offset(), 78);
    assert_eq!(stored.decode().unwrap(), batch);
}

#[test]
fn every_flipped_byte_outside_offset_and_epoch_is_caught() {
    let bytes = sample().encode();
    for position in 0..bytes.len() {
        if position < LENGTH_AT || (EPOCH_AT..MAGIC_AT).contains(&position) {
            continue; // not covered by the CRC, as in Kafka (stamped by the leader)
        }
        let mut damaged = bytes.to_vec();
        damaged[position] ^= 0x5a;
        assert!(
            matches!(
                RecordBatch::decode(&damaged),
                Err(BatchError::CorruptBatch { .. })
            ),
            "flip at {position} not caught"
        );
        assert!(
            verify_bytes(&damaged).is_err(),
            "verify misses a flip at {position}"
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

/// Batches Kafka's format allows but this broker does not store are refused with the reason.
#[test]
fn unsupported_batches_name_the_reason() {
    let bytes = sample().encode();
    let with_attributes = |bits: i16| {
        let mut damaged = bytes.to_vec();
        damaged[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&bits.to_be_bytes());
        let crc = crc32c::crc32c(&damaged[ATTRIBUTES_AT..]);
        damaged[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        RecordBatch::decode(&damaged).unwrap_err().to_string()
    };
    assert!(with_attributes(TRANSACTIONAL_BIT).contains("transactional"));
    assert!(with_attributes(CONTROL_BIT).contains("control"));
    assert!(with_attributes(TIMESTAMP_TYPE_BIT).contains("log-append-time"));
    assert!(with_attributes(5).contains("unknown compression type 5"));
    let mut old = bytes.to_vec();
    old[MAGIC_AT] = 1;
    assert!(RecordBatch::decode(&old)
        .unwrap_err()
        .to_string()
        .contains("magic 1"));
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
    assert_eq!(
        BatchHeader::decode(&batch.encode())
            .unwrap()
            .last_sequence(),
        1
    );
}

#[test]
fn size_bounds_hold_at_any_place_in_a_batch() {
    let record = Record::new(
        Some(Bytes::from_static(b"key")),
        vec![7u8; 300],
        i64::MIN / 2,
    );
    let records = vec![Record::new(None, &b""[..], i64::MAX / 2), record.clone()];
    let batch = RecordBatch::new(records);
    let first_len = RecordBatch::new(vec![batch.records[0].clone()]).encoded_len();
    assert!(batch.encoded_len() - first_len <= record.encoded_len_bound());
    assert_eq!(record.encoded_len_bound(), record_len_bound(Some(3), 300));
}

fn record() -> impl Strategy<Value = Record> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        proptest::collection::vec(any::<u8>(), 0..32),
        -1_000_000i64..1_000_000,
        proptest::collection::vec(
            (
                "[a-z]{0,4}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
            ),
            0..3,
        ),
    )
        .prop_map(|(key, value, timestamp_ms, headers)| Record {
            key: key.map(Bytes::from),
            value: Bytes::from(value),
            timestamp_ms,
            headers: headers
                .into_iter()
                .map(|(key, value)| RecordHeader {
                    key,
                    value: value.map(Bytes::from),
                })
                .collect(),
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
        compression in proptest::sample::select(COMPRESSIONS.to_vec()),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = RecordBatch::new(records).with_compression(compression).encode().to_vec();
        let mut damaged = bytes.clone();
        for (index, value) in mutations {
            let position = index.index(damaged.len());
            damaged[position] = value;
        }
        // Mutations under a valid CRC reach the record and decompression code.
        let crc = crc32c::crc32c(&damaged[ATTRIBUTES_AT..]);
        let mut recrc = damaged.clone();
        recrc[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        let _ = RecordBatch::decode(&damaged);
        let _ = RecordBatch::decode(&recrc);
        let _ = RecordBatch::decode(&damaged[..cut.index(damaged.len())]);
    }

    #[test]
    fn any_valid_batch_round_trips(
        records in proptest::collection::vec(record(), 1..8),
        base_offset in 0..OFFSET_MAX - 8,
        epoch in 0..i32::MAX as u32,
        compression in proptest::sample::select(COMPRESSIONS.to_vec()),
        producer in proptest::option::of((0..i64::MAX, 0..i16::MAX, 0..i32::MAX)),
    ) {
        let mut batch = match producer {
            Some((id, producer_epoch, sequence)) => RecordBatch::idempotent(id, producer_epoch, sequence, records),
            None => RecordBatch::new(records),
        }.with_compression(compression);
        batch.base_offset = base_offset;
        batch.partition_leader_epoch = epoch;
        let bytes = batch.encode();
        if compression == Compression::None {
            prop_assert_eq!(bytes.len() as u64, batch.encoded_len());
        }
        prop_assert_eq!(RecordBatch::decode(&bytes).unwrap(), batch);
    }
}

#[test]
fn kafka_codec_writes_the_same_bytes_for_ordered_timestamps() {
    use kafka_protocol::records as kafka;
    let ours = RecordBatch::idempotent(
        3,
        1,
        0,
        vec![
            Record::new(Some(Bytes::from_static(b"k")), &b"a"[..], 10),
            Record::new(None, &b"bb"[..], 12),
        ],
    );
    let records: Vec<kafka::Record> = ours
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| kafka::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 3,
            producer_epoch: 1,
            sequence: index as i32,
            timestamp_type: kafka::TimestampType::Creation,
            offset: index as i64,
            timestamp: record.timestamp_ms,
            key: record.key.clone(),
            value: Some(record.value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut theirs = BytesMut::new();
    kafka::RecordBatchEncoder::encode(
        &mut theirs,
        &records,
        &kafka::RecordEncodeOptions {
            version: 2,
            compression: kafka::Compression::None,
        },
    )
    .unwrap();
    assert_eq!(theirs.as_ref(), ours.encode().as_ref());
}
