//! The gateway without any IO: Kafka frames in, internal requests and answers, frames out.

use bytes::Bytes;
use kafka_protocol::messages::{self as km, ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use protocol::api::{self as api, Envelope, ErrorCode, Request, Response};
use std::net::SocketAddr;
use std::time::Duration;
use wire::errors::code;
use wire::{decode_response, encode_request, ConnId, Gateway, GatewayConfig, GatewayOutput};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const BROKER: &str = "10.0.0.2:1";
const CONTROLLER: &str = "10.0.0.1:1";

fn gateway() -> Gateway {
    let mut config = GatewayConfig::new(2, addr(BROKER), addr(CONTROLLER), 9092);
    config.advertised.insert(3, addr("127.0.0.1:19093"));
    Gateway::new(config)
}

struct Harness {
    gateway: Gateway,
    now: Duration,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            gateway: gateway(),
            now: Duration::ZERO,
        }
    }

    fn with(gateway: Gateway) -> Harness {
        Harness {
            gateway,
            now: Duration::ZERO,
        }
    }

    fn send(&mut self, conn: u64, key: ApiKey, version: i16, corr: i32, request: RequestKind) {
        let frame = encode_request(key, version, corr, &request).expect("encodable request");
        self.gateway.on_bytes(self.now, ConnId(conn), &frame);
    }

    fn outputs(&mut self) -> Vec<GatewayOutput> {
        let mut outputs = Vec::new();
        self.gateway.take_outputs(&mut outputs);
        outputs
    }

    /// The internal requests sent, with their correlation ids and targets.
    fn sends(outputs: &[GatewayOutput]) -> Vec<(SocketAddr, u64, Request)> {
        outputs
            .iter()
            .filter_map(|o| match o {
                GatewayOutput::Send {
                    to,
                    envelope:
                        Envelope::Request {
                            correlation_id,
                            request,
                        },
                } => Some((*to, *correlation_id, request.clone())),
                _ => None,
            })
            .collect()
    }

    fn answer(&mut self, from: SocketAddr, correlation_id: u64, response: Response) {
        self.gateway.on_message(
            self.now,
            from,
            Envelope::Response {
                correlation_id,
                response,
            },
        );
    }
}

fn writes(outputs: &[GatewayOutput]) -> Vec<(ConnId, Bytes)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            GatewayOutput::Write { conn, bytes } => Some((*conn, bytes.clone())),
            _ => None,
        })
        .collect()
}

fn closes(outputs: &[GatewayOutput]) -> Vec<ConnId> {
    outputs
        .iter()
        .filter_map(|o| match o {
            GatewayOutput::Close { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect()
}

/// Decodes one written frame (with its size prefix).
fn decode(key: ApiKey, version: i16, frame: &Bytes) -> (i32, ResponseKind) {
    let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(size + 4, frame.len(), "frame size matches");
    decode_response(key, version, frame.slice(4..)).expect("decodable response")
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn metadata_request(topics: Option<Vec<&str>>) -> RequestKind {
    let mut r = km::MetadataRequest::default();
    r.topics = topics.map(|ts| {
        ts.into_iter()
            .map(|t| {
                let mut topic = km::metadata_request::MetadataRequestTopic::default();
                topic.name = Some(km::TopicName(str(t)));
                topic
            })
            .collect()
    });
    RequestKind::Metadata(r)
}

fn cluster_metadata() -> api::ClusterMetadata {
    api::ClusterMetadata {
        version: 7,
        brokers: vec![
            (1, addr("10.0.0.3:1")),
            (2, addr(BROKER)),
            (3, addr("10.0.0.4:1")),
        ],
        topics: vec![api::TopicMetadata {
            name: "t".into(),
            partitions: vec![
                api::PartitionMetadata {
                    partition: 0,
                    leader: Some(2),
                    leader_epoch: 4,
                    partition_epoch: 9,
                    replicas: vec![2, 3, 4],
                    isr: vec![2, 3],
                },
                api::PartitionMetadata {
                    partition: 1,
                    leader: None,
                    leader_epoch: 5,
                    partition_epoch: 9,
                    replicas: vec![1, 3],
                    isr: vec![],
                },
            ],
        }],
    }
}

fn produce_request(acks: i16, partitions: &[(i32, Bytes)]) -> RequestKind {
    let mut r = km::ProduceRequest::default();
    r.acks = acks;
    r.timeout_ms = 1000;
    let mut topic = km::produce_request::TopicProduceData::default();
    topic.name = km::TopicName(str("t"));
    for (index, records) in partitions {
        let mut p = km::produce_request::PartitionProduceData::default();
        p.index = *index;
        p.records = Some(records.clone());
        topic.partition_data.push(p);
    }
    r.topic_data.push(topic);
    RequestKind::Produce(r)
}

/// A fake batch: 12 bytes of offset and length, then `length` bytes.
fn fake_batch(length: usize) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    b.extend_from_slice(&(length as i32).to_be_bytes());
    b.extend(std::iter::repeat_n(7u8, length));
    b
}

// ---- ApiVersions ------------------------------------------------------------------------------

#[test]
fn api_versions_lists_exactly_the_served_ranges_at_every_version() {
    for version in 0..=3 {
        let mut h = Harness::new();
        h.send(
            1,
            ApiKey::ApiVersions,
            version,
            11,
            RequestKind::ApiVersions(Default::default()),
        );
        let out = h.outputs();
        let w = writes(&out);
        assert_eq!(w.len(), 1, "v{version}");
        let (corr, response) = decode(ApiKey::ApiVersions, version, &w[0].1);
        assert_eq!(corr, 11);
        let ResponseKind::ApiVersions(r) = response else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        let listed: Vec<(i16, i16, i16)> = r
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        let served: Vec<(i16, i16, i16)> = wire::SUPPORTED_APIS
            .iter()
            .map(|(k, min, max)| (*k as i16, *min, *max))
            .collect();
        assert_eq!(listed, served);
    }
}

#[test]
fn api_versions_above_the_range_gets_a_v0_unsupported_version_answer() {
    let mut h = Harness::new();
    // A v4 request (whatever its body) is answered in v0 with UNSUPPORTED_VERSION.
    h.send(
        1,
        ApiKey::ApiVersions,
        4,
        5,
        RequestKind::ApiVersions(Default::default()),
    );
    let out = h.outputs();
    assert!(closes(&out).is_empty());
    let w = writes(&out);
    let (corr, response) = decode(ApiKey::ApiVersions, 0, &w[0].1);
    assert_eq!(corr, 5);
    let ResponseKind::ApiVersions(r) = response else {
        panic!()
    };
    assert_eq!(r.error_code, code::UNSUPPORTED_VERSION);
    assert_eq!(r.api_keys.len(), wire::SUPPORTED_APIS.len());
    // The connection stays usable.
    h.send(
        1,
        ApiKey::ApiVersions,
        3,
        6,
        RequestKind::ApiVersions(Default::default()),
    );
    assert_eq!(writes(&h.outputs()).len(), 1);
}

// ---- bad input --------------------------------------------------------------------------------

fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn assert_closes_and_others_live(bytes: &[u8]) {
    let mut h = Harness::new();
    h.gateway.on_bytes(h.now, ConnId(1), bytes);
    let out = h.outputs();
    assert_eq!(closes(&out), vec![ConnId(1)], "closes the connection");
    assert!(writes(&out).is_empty());
    assert_eq!(h.gateway.connections(), 0);
    // Another connection is served.
    h.send(
        2,
        ApiKey::ApiVersions,
        3,
        1,
        RequestKind::ApiVersions(Default::default()),
    );
    let out = h.outputs();
    assert!(closes(&out).is_empty());
    assert_eq!(writes(&out).len(), 1);
    assert_eq!(writes(&out)[0].0, ConnId(2));
}

#[test]
fn a_negative_frame_size_closes() {
    assert_closes_and_others_live(&(-5i32).to_be_bytes());
}

#[test]
fn a_frame_above_the_maximum_closes() {
    assert_closes_and_others_live(&(100 * 1024 * 1024 + 1i32).to_be_bytes());
}

#[test]
fn a_frame_shorter_than_a_header_closes() {
    assert_closes_and_others_live(&raw_frame(&[0, 18, 0]));
    assert_closes_and_others_live(&raw_frame(&[]));
}

#[test]
fn an_unknown_api_key_closes() {
    // Key 999, version 0, correlation 1.
    assert_closes_and_others_live(&raw_frame(&[3, 231, 0, 0, 0, 0, 0, 1, 0, 0]));
}

#[test]
fn an_api_not_served_closes() {
    // DescribeGroups (15) v0: a known key, not served.
    assert_closes_and_others_live(&raw_frame(&[0, 15, 0, 0, 0, 0, 0, 1, 0, 0]));
}

#[test]
fn an_unsupported_version_closes() {
    let frame = encode_request(ApiKey::Metadata, 13, 1, &metadata_request(None)).unwrap();
    assert_closes_and_others_live(&frame);
    // Produce v2 (below the range): a v3 frame with its version field set to 2.
    let mut frame = encode_request(ApiKey::Produce, 3, 1, &produce_request(1, &[]))
        .unwrap()
        .to_vec();
    frame[6..8].copy_from_slice(&2i16.to_be_bytes());
    assert_closes_and_others_live(&frame);
}

#[test]
fn a_garbage_body_closes() {
    // Metadata v1: header then an array count far beyond the bytes that follow.
    let mut body = vec![0, 3, 0, 1, 0, 0, 0, 9, 0, 0];
    body.extend_from_slice(&[0x00, 0x00, 0x10, 0x00, 0xff]);
    assert_closes_and_others_live(&raw_frame(&body));
    // Produce v9 (flexible) with a truncated body.
    assert_closes_and_others_live(&raw_frame(&[0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0xff]));
}

#[test]
fn bad_input_on_a_connection_discards_only_its_pending_requests() {
    // With one request in flight (Kafka's default) the bad bytes would wait unread behind the
    // metadata request; allow more so they are read at once.
    let mut config = GatewayConfig::new(2, addr(BROKER), addr(CONTROLLER), 9092);
    config.max_in_flight_per_connection = 4;
    let mut h = Harness::with(Gateway::new(config));
    h.send(1, ApiKey::Metadata, 9, 1, metadata_request(None));
    h.send(2, ApiKey::Metadata, 9, 1, metadata_request(None));
    let out = h.outputs();
    let sends = Harness::sends(&out);
    assert_eq!(sends.len(), 2);
    assert_eq!(h.gateway.outstanding(), 2);
    h.gateway.on_bytes(h.now, ConnId(1), &(-1i32).to_be_bytes());
    assert_eq!(closes(&h.outputs()), vec![ConnId(1)]);
    assert_eq!(h.gateway.outstanding(), 1);
    // The answer for the closed connection is dropped; the other is delivered.
    for (to, corr, _) in sends {
        h.answer(
            to,
            corr,
            Response::Metadata(api::MetadataResponse {
                metadata: cluster_metadata(),
            }),
        );
    }
    let w = writes(&h.outputs());
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, ConnId(2));
}

// ---- Metadata -----------------------------------------------------------------------------------

#[test]
fn metadata_maps_brokers_topics_and_errors() {
    for version in [0i16, 1, 4, 5, 7, 9, 12] {
        let mut h = Harness::new();
        h.send(
            1,
            ApiKey::Metadata,
            version,
            3,
            metadata_request(Some(vec!["t", "nope"])),
        );
        let out = h.outputs();
        let sends = Harness::sends(&out);
        assert_eq!(sends.len(), 1);
        assert_eq!(sends[0].0, addr(BROKER));
        assert_eq!(
            sends[0].2,
            Request::Metadata(api::MetadataRequest {
                topics: Some(vec!["t".into(), "nope".into()])
            })
        );
        h.answer(
            addr(BROKER),
            sends[0].1,
            Response::Metadata(api::MetadataResponse {
                metadata: cluster_metadata(),
            }),
        );
        let w = writes(&h.outputs());
        let (_, response) = decode(ApiKey::Metadata, version, &w[0].1);
        let ResponseKind::Metadata(r) = response else {
            panic!()
        };
        let brokers: Vec<(i32, String, i32)> = r
            .brokers
            .iter()
            .map(|b| (b.node_id.0, b.host.to_string(), b.port))
            .collect();
        assert_eq!(
            brokers,
            vec![
                (1, "10.0.0.3".into(), 9092),
                (2, "10.0.0.2".into(), 9092),
                (3, "127.0.0.1".into(), 19093)
            ]
        );
        if version >= 1 {
            assert_eq!(r.controller_id.0, 2);
            assert_eq!(r.brokers[0].rack.as_deref(), Some("rack-1"));
        }
        assert_eq!(r.topics.len(), 2);
        assert_eq!(r.topics[0].error_code, 0);
        let p0 = &r.topics[0].partitions[0];
        assert_eq!(p0.leader_id.0, 2);
        assert_eq!(p0.error_code, 0);
        assert_eq!(p0.replica_nodes.len(), 3);
        assert_eq!(p0.isr_nodes.len(), 2);
        if version >= 7 {
            assert_eq!(p0.leader_epoch, 4);
        }
        if version >= 5 {
            // Broker 4 is not live.
            assert_eq!(p0.offline_replicas, vec![km::BrokerId(4)]);
        }
        let p1 = &r.topics[0].partitions[1];
        assert_eq!(p1.error_code, code::LEADER_NOT_AVAILABLE);
        assert_eq!(p1.leader_id.0, -1);
        assert_eq!(r.topics[1].error_code, code::UNKNOWN_TOPIC_OR_PARTITION);
        assert_eq!(
            r.topics[1].name.as_ref().map(|n| n.0.to_string()),
            Some("nope".into())
        );
    }
}

#[test]
fn metadata_v0_empty_list_means_all_topics() {
    let mut h = Harness::new();
    h.send(1, ApiKey::Metadata, 0, 3, metadata_request(Some(vec![])));
    let sends = Harness::sends(&h.outputs());
    assert_eq!(
        sends[0].2,
        Request::Metadata(api::MetadataRequest { topics: None })
    );
    // v1+: empty means none.
    h.send(2, ApiKey::Metadata, 1, 3, metadata_request(Some(vec![])));
    let sends = Harness::sends(&h.outputs());
    assert_eq!(
        sends[0].2,
        Request::Metadata(api::MetadataRequest {
            topics: Some(vec![])
        })
    );
}

// ---- Produce ----------------------------------------------------------------------------------

#[test]
fn produce_fans_out_per_partition_and_maps_answers() {
    let mut h = Harness::new();
    let batch = Bytes::from(fake_batch(20));
    h.send(
        1,
        ApiKey::Produce,
        9,
        8,
        produce_request(-1, &[(0, batch.clone()), (1, batch.clone())]),
    );
    let sends = Harness::sends(&h.outputs());
    assert_eq!(sends.len(), 2);
    let Request::Produce(p) = &sends[0].2 else {
        panic!()
    };
    assert_eq!(p.batch, batch, "the batch bytes pass unchanged");
    assert_eq!(p.acks, api::Acks::All);
    assert_eq!(p.timeout_ms, 1000);
    // The second partition's answer first: the response still lists partitions in order.
    h.answer(
        addr(BROKER),
        sends[1].1,
        Response::Produce(api::ProduceResponse {
            result: Err(ErrorCode::CorruptMessage),
            log_start_offset: 3,
        }),
    );
    assert!(writes(&h.outputs()).is_empty());
    h.answer(
        addr(BROKER),
        sends[0].1,
        Response::Produce(api::ProduceResponse {
            result: Ok(42),
            log_start_offset: 3,
        }),
    );
    let w = writes(&h.outputs());
    let (corr, response) = decode(ApiKey::Produce, 9, &w[0].1);
    assert_eq!(corr, 8);
    let ResponseKind::Produce(r) = response else {
        panic!()
    };
    let ps = &r.responses[0].partition_responses;
    assert_eq!(
        (
            ps[0].index,
            ps[0].error_code,
            ps[0].base_offset,
            ps[0].log_start_offset
        ),
        (0, 0, 42, 3)
    );
    assert_eq!(
        (ps[1].index, ps[1].error_code, ps[1].base_offset),
        (1, code::CORRUPT_MESSAGE, -1)
    );
}

#[test]
fn produce_with_acks_0_gets_no_response_and_the_next_request_is_answered() {
    let mut h = Harness::new();
    h.send(
        1,
        ApiKey::Produce,
        9,
        1,
        produce_request(0, &[(0, Bytes::from(fake_batch(5)))]),
    );
    let out = h.outputs();
    let sends = Harness::sends(&out);
    assert_eq!(sends.len(), 1);
    let Request::Produce(p) = &sends[0].2 else {
        panic!()
    };
    assert_eq!(p.acks, api::Acks::None);
    assert!(writes(&out).is_empty());
    assert_eq!(h.gateway.outstanding(), 0);
    h.send(
        1,
        ApiKey::ApiVersions,
        3,
        2,
        RequestKind::ApiVersions(Default::default()),
    );
    let w = writes(&h.outputs());
    assert_eq!(w.len(), 1);
    assert_eq!(decode(ApiKey::ApiVersions, 3, &w[0].1).0, 2);
}

#[test]
fn produce_rejects_several_batches_bad_acks_and_transactions() {
    let mut h = Harness::new();
    let mut two = fake_batch(3);
    two.extend(fake_batch(4));
    h.send(
        1,
        ApiKey::Produce,
        9,
        1,
        produce_request(
            1,
            &[(0, Bytes::from(two)), (-1, Bytes::from(fake_batch(1)))],
        ),
    );
    let out = h.outputs();
    assert!(Harness::sends(&out).is_empty());
    let (_, response) = decode(ApiKey::Produce, 9, &writes(&out)[0].1);
    let ResponseKind::Produce(r) = response else {
        panic!()
    };
    let ps = &r.responses[0].partition_responses;
    assert_eq!(ps[0].error_code, code::INVALID_RECORD);
    assert_eq!(ps[1].error_code, code::UNKNOWN_TOPIC_OR_PARTITION);

    h.send(
        1,
        ApiKey::Produce,
        9,
        2,
        produce_request(2, &[(0, Bytes::from(fake_batch(1)))]),
    );
    let out = h.outputs();
    let (_, response) = decode(ApiKey::Produce, 9, &writes(&out)[0].1);
    let ResponseKind::Produce(r) = response else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        code::INVALID_REQUIRED_ACKS
    );

    let RequestKind::Produce(mut txn) = produce_request(1, &[(0, Bytes::from(fake_batch(1)))])
    else {
        panic!()
    };
    txn.transactional_id = Some(km::TransactionalId(str("tx")));
    h.send(1, ApiKey::Produce, 9, 3, RequestKind::Produce(txn));
    let out = h.outputs();
    let (_, response) = decode(ApiKey::Produce, 9, &writes(&out)[0].1);
    let ResponseKind::Produce(r) = response else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        code::INVALID_REQUEST
    );
}

#[test]
fn a_batch_whose_length_fields_do_not_add_up_goes_to_the_core_unchanged() {
    let mut h = Harness::new();
    let mut bad = fake_batch(10);
    bad.truncate(15);
    h.send(
        1,
        ApiKey::Produce,
        3,
        1,
        produce_request(1, &[(0, Bytes::from(bad.clone()))]),
    );
    let sends = Harness::sends(&h.outputs());
    let Request::Produce(p) = &sends[0].2 else {
        panic!()
    };
    assert_eq!(p.batch.as_ref(), bad.as_slice());
}

// ---- ordering, in-flight, timeouts ------------------------------------------------------------

#[test]
fn one_request_in_flight_per_connection_by_default_like_kafka() {
    let mut h = Harness::new();
    let mut bytes = encode_request(ApiKey::Metadata, 9, 1, &metadata_request(None))
        .unwrap()
        .to_vec();
    bytes.extend_from_slice(
        &encode_request(
            ApiKey::ApiVersions,
            3,
            2,
            &RequestKind::ApiVersions(Default::default()),
        )
        .unwrap(),
    );
    h.gateway.on_bytes(h.now, ConnId(1), &bytes);
    let out = h.outputs();
    // The metadata request is out; ApiVersions waits in the buffer.
    assert_eq!(Harness::sends(&out).len(), 1);
    assert!(writes(&out).is_empty());
    let corr = Harness::sends(&out)[0].1;
    h.answer(
        addr(BROKER),
        corr,
        Response::Metadata(api::MetadataResponse {
            metadata: cluster_metadata(),
        }),
    );
    let w = writes(&h.outputs());
    assert_eq!(w.len(), 2);
    assert_eq!(decode(ApiKey::Metadata, 9, &w[0].1).0, 1);
    assert_eq!(decode(ApiKey::ApiVersions, 3, &w[1].1).0, 2);
}

#[test]
fn pipelined_responses_leave_in_request_order() {
    let mut config = GatewayConfig::new(2, addr(BROKER), addr(CONTROLLER), 9092);
    config.max_in_flight_per_connection = 8;
    let mut h = Harness::with(Gateway::new(config));
    h.send(1, ApiKey::Metadata, 9, 1, metadata_request(None));
    h.send(1, ApiKey::Metadata, 9, 2, metadata_request(Some(vec!["t"])));
    h.send(
        1,
        ApiKey::ApiVersions,
        3,
        3,
        RequestKind::ApiVersions(Default::default()),
    );
    let out = h.outputs();
    let sends = Harness::sends(&out);
    assert_eq!(sends.len(), 2);
    assert!(
        writes(&out).is_empty(),
        "ApiVersions waits for the earlier responses"
    );
    // Answers in reverse order.
    for (to, corr, _) in sends.iter().rev() {
        h.answer(
            *to,
            *corr,
            Response::Metadata(api::MetadataResponse {
                metadata: cluster_metadata(),
            }),
        );
    }
    let w = writes(&h.outputs());
    let corrs: Vec<i32> = w
        .iter()
        .zip([ApiKey::Metadata, ApiKey::Metadata, ApiKey::ApiVersions])
        .map(|((_, b), key)| decode(key, if key == ApiKey::Metadata { 9 } else { 3 }, b).0)
        .collect();
    assert_eq!(corrs, vec![1, 2, 3]);
}

fn offset_commit_request(group: &str) -> RequestKind {
    let mut r = km::OffsetCommitRequest::default();
    r.group_id = km::GroupId(str(group));
    let mut t = km::offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = km::TopicName(str("t"));
    for (p, o) in [(0, 5i64), (1, -3)] {
        let mut part = km::offset_commit_request::OffsetCommitRequestPartition::default();
        part.partition_index = p;
        part.committed_offset = o;
        t.partitions.push(part);
    }
    r.topics.push(t);
    RequestKind::OffsetCommit(r)
}

#[test]
fn a_controller_that_never_answers_gets_coordinator_not_available_in_time() {
    let mut h = Harness::new();
    h.send(1, ApiKey::OffsetCommit, 8, 4, offset_commit_request("g"));
    let out = h.outputs();
    let sends = Harness::sends(&out);
    assert_eq!(sends[0].0, addr(CONTROLLER));
    assert_eq!(
        sends[0].2,
        Request::OffsetCommit(api::OffsetCommitRequest {
            group: "g".into(),
            offsets: vec![(api::TopicPartition::new("t", 0), 5)],
            member: None,
        })
    );
    let deadline = h.gateway.next_tick().expect("a deadline");
    assert_eq!(deadline, Duration::from_secs(5));
    h.gateway.on_tick(deadline - Duration::from_millis(1));
    assert!(writes(&h.outputs()).is_empty());
    h.now = deadline;
    h.gateway.on_tick(deadline);
    let w = writes(&h.outputs());
    let (_, response) = decode(ApiKey::OffsetCommit, 8, &w[0].1);
    let ResponseKind::OffsetCommit(r) = response else {
        panic!()
    };
    let codes: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(
        codes,
        vec![code::COORDINATOR_NOT_AVAILABLE, code::INVALID_REQUEST]
    );
    assert_eq!(h.gateway.next_tick(), None);
    // A late answer is ignored.
    h.answer(
        addr(CONTROLLER),
        sends[0].1,
        Response::OffsetCommit(api::OffsetCommitResponse { result: Ok(()) }),
    );
    assert!(h.outputs().is_empty());
}

#[test]
fn an_answer_from_the_wrong_address_is_ignored() {
    let mut h = Harness::new();
    h.send(1, ApiKey::OffsetCommit, 2, 4, offset_commit_request("g"));
    let sends = Harness::sends(&h.outputs());
    h.answer(
        addr(BROKER),
        sends[0].1,
        Response::OffsetCommit(api::OffsetCommitResponse { result: Ok(()) }),
    );
    assert!(h.outputs().is_empty());
    h.answer(
        addr(CONTROLLER),
        sends[0].1,
        Response::OffsetCommit(api::OffsetCommitResponse { result: Ok(()) }),
    );
    let w = writes(&h.outputs());
    let (_, response) = decode(ApiKey::OffsetCommit, 2, &w[0].1);
    let ResponseKind::OffsetCommit(r) = response else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}

#[test]
fn an_empty_group_id_is_invalid() {
    let mut h = Harness::new();
    h.send(1, ApiKey::OffsetCommit, 8, 4, offset_commit_request(""));
    let out = h.outputs();
    assert!(Harness::sends(&out).is_empty());
    let (_, response) = decode(ApiKey::OffsetCommit, 8, &writes(&out)[0].1);
    let ResponseKind::OffsetCommit(r) = response else {
        panic!()
    };
    assert!(r.topics[0]
        .partitions
        .iter()
        .all(|p| p.error_code == code::INVALID_GROUP_ID));
}

// ---- Fetch ------------------------------------------------------------------------------------

fn fetch_request(session_id: i32, offset: i64) -> RequestKind {
    let mut r = km::FetchRequest::default();
    r.replica_id = km::BrokerId(-1);
    r.max_wait_ms = 500;
    r.min_bytes = 1;
    r.session_id = session_id;
    r.rack_id = str("rack-9");
    let mut t = km::fetch_request::FetchTopic::default();
    t.topic = km::TopicName(str("t"));
    let mut p = km::fetch_request::FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1000;
    p.current_leader_epoch = 4;
    t.partitions.push(p);
    r.topics.push(t);
    RequestKind::Fetch(r)
}

#[test]
fn fetch_maps_to_a_consumer_fetch_and_back() {
    let mut h = Harness::new();
    h.send(1, ApiKey::Fetch, 12, 1, fetch_request(0, 10));
    let sends = Harness::sends(&h.outputs());
    assert_eq!(
        sends[0].2,
        Request::Fetch(api::FetchRequest {
            partition: api::TopicPartition::new("t", 0),
            offset: 10,
            max_bytes: 1000,
            replica_id: None,
            current_leader_epoch: Some(4),
            replica_log_start_offset: None,
            replica_epoch: None,
            rack: Some("rack-9".into()),
            max_wait_ms: 500,
        })
    );
    // The deadline covers the long poll.
    assert_eq!(h.gateway.next_tick(), Some(Duration::from_millis(5500)));
    h.answer(
        addr(BROKER),
        sends[0].1,
        Response::Fetch(api::FetchResponse {
            result: Ok(vec![Bytes::from_static(b"abc"), Bytes::from_static(b"de")]),
            high_watermark: 20,
            log_start_offset: 2,
            leader_epoch: 4,
            preferred_read_replica: Some(3),
        }),
    );
    let (_, response) = decode(ApiKey::Fetch, 12, &writes(&h.outputs())[0].1);
    let ResponseKind::Fetch(r) = response else {
        panic!()
    };
    assert_eq!(r.session_id, 0);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.records.as_deref(), Some(&b"abcde"[..]));
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (20, 20, 2)
    );
    assert_eq!(p.preferred_read_replica.0, 3);
}

#[test]
fn fetch_below_the_log_start_is_offset_out_of_range_with_the_new_start() {
    let mut h = Harness::new();
    h.send(1, ApiKey::Fetch, 4, 1, fetch_request(0, 1));
    let sends = Harness::sends(&h.outputs());
    let Request::Fetch(f) = &sends[0].2 else {
        panic!()
    };
    assert_eq!(f.rack, None, "rack_id only from v11");
    h.answer(
        addr(BROKER),
        sends[0].1,
        Response::Fetch(api::FetchResponse {
            result: Err(ErrorCode::OffsetEvicted { next_available: 17 }),
            high_watermark: 30,
            log_start_offset: 17,
            leader_epoch: 4,
            preferred_read_replica: None,
        }),
    );
    let (_, response) = decode(ApiKey::Fetch, 4, &writes(&h.outputs())[0].1);
    let ResponseKind::Fetch(r) = response else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, code::OFFSET_OUT_OF_RANGE);
    assert_eq!(p.high_watermark, 30);
}

#[test]
fn fetch_with_a_session_is_refused() {
    let mut h = Harness::new();
    h.send(1, ApiKey::Fetch, 7, 1, fetch_request(77, 0));
    let out = h.outputs();
    assert!(Harness::sends(&out).is_empty());
    let (_, response) = decode(ApiKey::Fetch, 7, &writes(&out)[0].1);
    let ResponseKind::Fetch(r) = response else {
        panic!()
    };
    assert_eq!(r.error_code, code::FETCH_SESSION_ID_NOT_FOUND);
    assert!(r.responses.is_empty());
}

// ---- ListOffsets, FindCoordinator, OffsetFetch ------------------------------------------------

#[test]
fn list_offsets_earliest_latest_and_an_honest_error_for_timestamps() {
    let mut h = Harness::new();
    let mut r = km::ListOffsetsRequest::default();
    let mut t = km::list_offsets_request::ListOffsetsTopic::default();
    t.name = km::TopicName(str("t"));
    for ts in [-2i64, -1, 1_700_000_000_000] {
        let mut p = km::list_offsets_request::ListOffsetsPartition::default();
        p.partition_index = 0;
        p.timestamp = ts;
        t.partitions.push(p);
    }
    r.topics.push(t);
    h.send(1, ApiKey::ListOffsets, 7, 1, RequestKind::ListOffsets(r));
    let sends = Harness::sends(&h.outputs());
    assert_eq!(sends.len(), 2);
    let specs: Vec<api::OffsetSpec> = sends
        .iter()
        .map(|(_, _, r)| match r {
            Request::ListOffsets(l) => l.spec,
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        specs,
        vec![api::OffsetSpec::Earliest, api::OffsetSpec::Latest]
    );
    h.answer(
        addr(BROKER),
        sends[0].1,
        Response::ListOffsets(api::ListOffsetsResponse { result: Ok(3) }),
    );
    h.answer(
        addr(BROKER),
        sends[1].1,
        Response::ListOffsets(api::ListOffsetsResponse {
            result: Err(ErrorCode::NotLeaderOrFollower),
        }),
    );
    let (_, response) = decode(ApiKey::ListOffsets, 7, &writes(&h.outputs())[0].1);
    let ResponseKind::ListOffsets(r) = response else {
        panic!()
    };
    let got: Vec<(i16, i64)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.offset))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 3),
            (code::NOT_LEADER_OR_FOLLOWER, -1),
            (code::INVALID_REQUEST, -1)
        ]
    );
}

#[test]
fn find_coordinator_names_this_broker_for_groups_only() {
    for version in 0..=4i16 {
        for key_type in [0i8, 1] {
            if version == 0 && key_type == 1 {
                continue;
            }
            let mut h = Harness::new();
            let mut r = km::FindCoordinatorRequest::default();
            if version >= 4 {
                r.coordinator_keys = vec![str("g1"), str("g2")];
            } else {
                r.key = str("g1");
            }
            r.key_type = key_type;
            h.send(
                1,
                ApiKey::FindCoordinator,
                version,
                1,
                RequestKind::FindCoordinator(r),
            );
            let out = h.outputs();
            assert!(Harness::sends(&out).is_empty());
            let (_, response) = decode(ApiKey::FindCoordinator, version, &writes(&out)[0].1);
            let ResponseKind::FindCoordinator(r) = response else {
                panic!()
            };
            let expected = if key_type == 0 {
                0
            } else {
                code::INVALID_REQUEST
            };
            if version >= 4 {
                assert_eq!(r.coordinators.len(), 2);
                for c in &r.coordinators {
                    assert_eq!(c.error_code, expected);
                    if expected == 0 {
                        assert_eq!(
                            (c.node_id.0, c.host.to_string(), c.port),
                            (2, "10.0.0.2".into(), 9092)
                        );
                    }
                }
            } else {
                assert_eq!(r.error_code, expected);
                if expected == 0 {
                    assert_eq!(
                        (r.node_id.0, r.host.to_string(), r.port),
                        (2, "10.0.0.2".into(), 9092)
                    );
                }
            }
        }
    }
}

#[test]
fn offset_fetch_maps_committed_offsets() {
    for version in [1i16, 2, 5, 7] {
        let mut h = Harness::new();
        let mut r = km::OffsetFetchRequest::default();
        r.group_id = km::GroupId(str("g"));
        let mut t = km::offset_fetch_request::OffsetFetchRequestTopic::default();
        t.name = km::TopicName(str("t"));
        t.partition_indexes = vec![0, 1];
        r.topics = Some(vec![t]);
        h.send(
            1,
            ApiKey::OffsetFetch,
            version,
            1,
            RequestKind::OffsetFetch(r),
        );
        let sends = Harness::sends(&h.outputs());
        assert_eq!(sends[0].0, addr(CONTROLLER));
        h.answer(
            addr(CONTROLLER),
            sends[0].1,
            Response::OffsetFetch(api::OffsetFetchResponse {
                result: Ok(vec![
                    (api::TopicPartition::new("t", 0), Some(9)),
                    (api::TopicPartition::new("t", 1), None),
                ]),
            }),
        );
        let (_, response) = decode(ApiKey::OffsetFetch, version, &writes(&h.outputs())[0].1);
        let ResponseKind::OffsetFetch(r) = response else {
            panic!()
        };
        let got: Vec<(i32, i64, i16)> = r.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset, p.error_code))
            .collect();
        assert_eq!(got, vec![(0, 9, 0), (1, -1, 0)]);
    }
}

#[test]
fn offset_fetch_of_all_partitions_asks_for_every_offset_of_the_group() {
    let mut h = Harness::new();
    let mut r = km::OffsetFetchRequest::default();
    r.group_id = km::GroupId(str("g"));
    r.topics = None;
    h.send(1, ApiKey::OffsetFetch, 7, 1, RequestKind::OffsetFetch(r));
    let sends = Harness::sends(&h.outputs());
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].0, addr(CONTROLLER));
    assert_eq!(
        sends[0].2,
        Request::OffsetFetch(api::OffsetFetchRequest {
            group: "g".into(),
            partitions: None,
        })
    );
    h.answer(
        addr(CONTROLLER),
        sends[0].1,
        Response::OffsetFetch(api::OffsetFetchResponse {
            result: Ok(vec![
                (api::TopicPartition::new("a", 1), Some(4)),
                (api::TopicPartition::new("t", 0), Some(9)),
                (api::TopicPartition::new("t", 2), Some(3)),
            ]),
        }),
    );
    let (_, response) = decode(ApiKey::OffsetFetch, 7, &writes(&h.outputs())[0].1);
    let ResponseKind::OffsetFetch(r) = response else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    // Per topic: (partition, committed offset, error code) of each partition.
    type Fetched = Vec<(String, Vec<(i32, i64, i16)>)>;
    let got: Fetched = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".to_string(), vec![(1, 4, 0)]),
            ("t".to_string(), vec![(0, 9, 0), (2, 3, 0)]),
        ]
    );
}

#[test]
fn internal_requests_are_ignored_and_do_not_panic() {
    let mut h = Harness::new();
    h.gateway.on_message(
        h.now,
        addr(BROKER),
        Envelope::Request {
            correlation_id: 1,
            request: Request::Metadata(api::MetadataRequest { topics: None }),
        },
    );
    h.gateway.on_closed(ConnId(42));
    h.gateway.on_tick(Duration::from_secs(100));
    assert!(h.outputs().is_empty());
}

#[test]
fn huge_array_counts_close_the_connection_instead_of_aborting() {
    // kafka-protocol 0.18 reserved wire counts up front: these few bytes aborted the process
    // (a 154 GB allocation) before the vendored patch (vendor/kafka-protocol).
    // Metadata v1: null client id, then a topic array claiming i32::MAX elements.
    assert_closes_and_others_live(&raw_frame(&[
        0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 1, b'a',
    ]));
    // Produce v9 (flexible): a compact topic array claiming 2^32 - 2 elements.
    assert_closes_and_others_live(&raw_frame(&[
        0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0xff, 0, 0, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff,
        0x0f,
    ]));
    // CreateTopics v2: topics claiming i32::MAX elements.
    assert_closes_and_others_live(&raw_frame(&[
        0, 19, 0, 2, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
    ]));
}

#[test]
fn arbitrary_request_bodies_never_panic() {
    // Every served API and version, with a valid header and a body of pseudo-random bytes
    // (a fixed xorshift sequence: the test is deterministic).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (key, min, max) in wire::SUPPORTED_APIS {
        for version in *min..=*max {
            for length in [0usize, 1, 3, 8, 40, 300] {
                let mut body = Vec::new();
                body.extend_from_slice(&(*key as i16).to_be_bytes());
                body.extend_from_slice(&version.to_be_bytes());
                body.extend_from_slice(&1i32.to_be_bytes());
                body.extend_from_slice(&[0xff, 0xff]); // null client id
                for _ in 0..length {
                    body.push(next() as u8);
                }
                let mut h = Harness::new();
                h.gateway.on_bytes(h.now, ConnId(1), &raw_frame(&body));
                // Closed, answered, or waiting on internal requests that time out into an
                // answer: never a panic, and the connection is never left hanging.
                let out = h.outputs();
                let mut done = !closes(&out).is_empty() || !writes(&out).is_empty();
                if !done {
                    h.gateway.on_tick(Duration::from_secs(3600));
                    let out = h.outputs();
                    done = !closes(&out).is_empty() || !writes(&out).is_empty();
                    // acks=0 produce: no answer by design.
                    done |= *key == ApiKey::Produce && !Harness::sends(&out).is_empty();
                    done |= *key == ApiKey::Produce && h.gateway.outstanding() == 0;
                }
                assert!(
                    done,
                    "{key:?} v{version} with {length} random bytes left hanging"
                );
            }
        }
    }
}

#[test]
fn a_connection_that_buffers_too_much_is_closed() {
    let mut config = GatewayConfig::new(2, addr(BROKER), addr(CONTROLLER), 9092);
    config.max_frame_bytes = 100;
    let mut h = Harness::with(Gateway::new(config));
    h.send(1, ApiKey::Metadata, 9, 1, metadata_request(None));
    assert_eq!(Harness::sends(&h.outputs()).len(), 1);
    // While the request is in flight, more frames than two maximum frames' worth pile up.
    let frame = encode_request(
        ApiKey::ApiVersions,
        3,
        2,
        &RequestKind::ApiVersions(Default::default()),
    )
    .unwrap();
    let mut closed = false;
    for _ in 0..20 {
        h.gateway.on_bytes(h.now, ConnId(1), &frame);
        if !closes(&h.outputs()).is_empty() {
            closed = true;
            break;
        }
    }
    assert!(closed);
    assert_eq!(h.gateway.connections(), 0);
    assert_eq!(h.gateway.outstanding(), 0);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A valid header for a served API and version, then arbitrary bytes, arriving in
        /// arbitrary pieces: never a panic, and the connection is answered, closed, or waits
        /// only on internal requests that time out into an answer.
        #[test]
        fn arbitrary_requests_never_panic_nor_hang(
            api in 0usize..wire::SUPPORTED_APIS.len(),
            version_pick in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(0usize..220, 0..4),
        ) {
            let (key, min, max) = wire::SUPPORTED_APIS[api];
            let version = min + (version_pick as i16) % (max - min + 1);
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&(key as i16).to_be_bytes());
            bytes.extend_from_slice(&version.to_be_bytes());
            bytes.extend_from_slice(&1i32.to_be_bytes());
            bytes.extend_from_slice(&[0xff, 0xff]);
            bytes.extend_from_slice(&body);
            let stream = raw_frame(&bytes);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut h = Harness::new();
            let mut out = Vec::new();
            let mut start = 0;
            for end in cuts.into_iter().chain([stream.len()]) {
                h.gateway.on_bytes(h.now, ConnId(1), &stream[start..end]);
                out.extend(h.outputs());
                start = end;
            }
            h.gateway.on_tick(Duration::from_secs(3600));
            out.extend(h.outputs());
            let answered = !writes(&out).is_empty();
            let closed = !closes(&out).is_empty();
            // An acks=0 produce is never answered; it must not wait on anything either.
            let acks_0 = key == ApiKey::Produce && h.gateway.outstanding() == 0;
            prop_assert!(answered || closed || acks_0, "{:?} v{} left hanging", key, version);
            prop_assert_eq!(h.gateway.outstanding(), 0);
        }
    }
}

// ---- the classic group APIs ------------------------------------------------------------------

fn join_request(member: &str, rebalance_ms: i32) -> RequestKind {
    let mut r = km::JoinGroupRequest::default();
    r.group_id = km::GroupId(str("g"));
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = rebalance_ms;
    r.member_id = str(member);
    r.protocol_type = str("consumer");
    let mut p = km::join_group_request::JoinGroupRequestProtocol::default();
    p.name = str("range");
    p.metadata = Bytes::from_static(b"sub");
    r.protocols.push(p);
    RequestKind::JoinGroup(r)
}

fn joined(generation: u32, member: &str, leader: &str, skip: bool) -> Response {
    Response::JoinGroup(api::JoinGroupResponse {
        member_id: member.into(),
        result: Ok(api::JoinedGroup {
            generation,
            protocol_name: "range".into(),
            leader: leader.into(),
            members: vec![api::JoinedMember {
                member_id: member.into(),
                group_instance_id: Some("i1".into()),
                metadata: Bytes::from_static(b"sub"),
            }],
            skip_assignment: skip,
        }),
    })
}

#[test]
fn group_apis_are_advertised_at_the_implemented_versions() {
    assert_eq!(wire::supported_versions(ApiKey::JoinGroup), Some((4, 9)));
    assert_eq!(wire::supported_versions(ApiKey::SyncGroup), Some((0, 4)));
    assert_eq!(wire::supported_versions(ApiKey::Heartbeat), Some((0, 4)));
    assert_eq!(wire::supported_versions(ApiKey::LeaveGroup), Some((0, 5)));
    // Below and above the ranges: the connection closes.
    for (key, version) in [
        (ApiKey::JoinGroup, 3i16),
        (ApiKey::JoinGroup, 10),
        (ApiKey::SyncGroup, 5),
        (ApiKey::Heartbeat, 5),
        (ApiKey::LeaveGroup, 6),
    ] {
        let mut h = Harness::new();
        let mut frame = encode_request(
            ApiKey::ApiVersions,
            0,
            1,
            &RequestKind::ApiVersions(Default::default()),
        )
        .unwrap();
        let mut raw = frame.to_vec();
        raw[4..6].copy_from_slice(&(key as i16).to_be_bytes());
        raw[6..8].copy_from_slice(&version.to_be_bytes());
        frame = Bytes::from(raw);
        h.gateway.on_bytes(Duration::ZERO, ConnId(1), &frame);
        assert_eq!(closes(&h.outputs()), vec![ConnId(1)], "{key:?} v{version}");
    }
}

#[test]
fn join_group_is_forwarded_and_answered_at_every_version() {
    for version in 4..=9 {
        let mut h = Harness::new();
        h.send(1, ApiKey::JoinGroup, version, 7, join_request("", 60_000));
        let out = h.outputs();
        let sends = Harness::sends(&out);
        assert_eq!(sends.len(), 1);
        assert_eq!(sends[0].0, addr(CONTROLLER));
        assert_eq!(
            sends[0].2,
            Request::JoinGroup(Box::new(api::JoinGroupRequest {
                group: "g".into(),
                member_id: String::new(),
                group_instance_id: None,
                client_id: "streamsim-test".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 60_000,
                protocol_type: "consumer".into(),
                protocols: vec![api::GroupProtocol {
                    name: "range".into(),
                    metadata: Bytes::from_static(b"sub"),
                }],
            }))
        );
        // MEMBER_ID_REQUIRED carries the assigned id.
        h.answer(
            addr(CONTROLLER),
            sends[0].1,
            Response::JoinGroup(api::JoinGroupResponse {
                member_id: "m-1".into(),
                result: Err(ErrorCode::MemberIdRequired),
            }),
        );
        let w = writes(&h.outputs());
        let (corr, ResponseKind::JoinGroup(r)) = decode(ApiKey::JoinGroup, version, &w[0].1) else {
            panic!()
        };
        assert_eq!(corr, 7);
        assert_eq!(r.error_code, code::MEMBER_ID_REQUIRED, "v{version}");
        assert_eq!(r.member_id.as_str(), "m-1");
        assert_eq!(r.generation_id, -1);

        // The rejoin succeeds: the leader gets the members.
        h.send(
            1,
            ApiKey::JoinGroup,
            version,
            8,
            join_request("m-1", 60_000),
        );
        let out = h.outputs();
        let sends = Harness::sends(&out);
        h.answer(addr(CONTROLLER), sends[0].1, joined(3, "m-1", "m-1", true));
        let w = writes(&h.outputs());
        let (_, ResponseKind::JoinGroup(r)) = decode(ApiKey::JoinGroup, version, &w[0].1) else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        assert_eq!(r.generation_id, 3);
        assert_eq!(r.leader.as_str(), "m-1");
        assert_eq!(r.member_id.as_str(), "m-1");
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        if version >= 7 {
            assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
        }
        assert_eq!(r.skip_assignment, version >= 9);
        assert_eq!(r.members.len(), 1);
        assert_eq!(r.members[0].metadata, Bytes::from_static(b"sub"));
        let instance = (version >= 5).then(|| str("i1"));
        assert_eq!(r.members[0].group_instance_id, instance);
    }
}

#[test]
fn join_group_waits_for_its_rebalance_timeout_not_the_fixed_request_timeout() {
    let mut h = Harness::new();
    h.send(1, ApiKey::JoinGroup, 5, 1, join_request("m", 120_000));
    let out = h.outputs();
    let sends = Harness::sends(&out);
    // The rebalance timeout plus the gateway's margin (its request timeout, 5 s).
    let deadline = h.gateway.next_tick().expect("a deadline");
    assert_eq!(deadline, Duration::from_secs(125));
    h.now = Duration::from_secs(100);
    h.gateway.on_tick(h.now);
    assert!(writes(&h.outputs()).is_empty(), "still held at 100 s");
    // The held answer arrives late in the rebalance: it is delivered.
    h.now = Duration::from_secs(119);
    h.answer(addr(CONTROLLER), sends[0].1, joined(1, "m", "m", false));
    let w = writes(&h.outputs());
    let (_, ResponseKind::JoinGroup(r)) = decode(ApiKey::JoinGroup, 5, &w[0].1) else {
        panic!()
    };
    assert_eq!(r.error_code, 0);

    // No answer at all: COORDINATOR_NOT_AVAILABLE after the rebalance timeout and the margin.
    let mut h = Harness::new();
    h.send(1, ApiKey::JoinGroup, 5, 1, join_request("m", 30_000));
    h.outputs();
    assert_eq!(h.gateway.next_tick(), Some(Duration::from_secs(35)));
    h.now = Duration::from_secs(35);
    h.gateway.on_tick(h.now);
    let w = writes(&h.outputs());
    let (_, ResponseKind::JoinGroup(r)) = decode(ApiKey::JoinGroup, 5, &w[0].1) else {
        panic!()
    };
    assert_eq!(r.error_code, code::COORDINATOR_NOT_AVAILABLE);

    // A SyncGroup is held for its group's rebalance timeout (from the group's JoinGroup)...
    h.send(1, ApiKey::SyncGroup, 3, 2, sync_request(1, "m", &[]));
    h.outputs();
    assert_eq!(
        h.gateway.next_tick(),
        Some(Duration::from_secs(35 + 30 + 5))
    );
    // ...or, for a group the gateway has not seen join, the default rebalance timeout.
    let mut h = Harness::new();
    h.send(1, ApiKey::SyncGroup, 3, 2, sync_request(1, "m", &[]));
    h.outputs();
    assert_eq!(
        h.gateway.next_tick(),
        Some(wire::DEFAULT_REBALANCE_TIMEOUT + Duration::from_secs(5))
    );
}

fn sync_request(generation: i32, member: &str, assignments: &[(&str, &[u8])]) -> RequestKind {
    let mut r = km::SyncGroupRequest::default();
    r.group_id = km::GroupId(str("g"));
    r.generation_id = generation;
    r.member_id = str(member);
    for (m, a) in assignments {
        let mut x = km::sync_group_request::SyncGroupRequestAssignment::default();
        x.member_id = str(m);
        x.assignment = Bytes::copy_from_slice(a);
        r.assignments.push(x);
    }
    RequestKind::SyncGroup(r)
}

#[test]
fn sync_group_is_forwarded_and_answered_at_every_version() {
    for version in 0..=4 {
        let mut h = Harness::new();
        h.send(
            1,
            ApiKey::SyncGroup,
            version,
            3,
            sync_request(2, "m-1", &[("m-1", b"a1"), ("m-2", b"a2")]),
        );
        let out = h.outputs();
        let sends = Harness::sends(&out);
        assert_eq!(sends[0].0, addr(CONTROLLER));
        assert_eq!(
            sends[0].2,
            Request::SyncGroup(api::SyncGroupRequest {
                group: "g".into(),
                generation: 2,
                member_id: "m-1".into(),
                group_instance_id: None,
                assignments: vec![
                    ("m-1".into(), Bytes::from_static(b"a1")),
                    ("m-2".into(), Bytes::from_static(b"a2")),
                ],
            })
        );
        h.answer(
            addr(CONTROLLER),
            sends[0].1,
            Response::SyncGroup(api::SyncGroupResponse {
                result: Ok(Bytes::from_static(b"a1")),
            }),
        );
        let w = writes(&h.outputs());
        let (_, ResponseKind::SyncGroup(r)) = decode(ApiKey::SyncGroup, version, &w[0].1) else {
            panic!()
        };
        assert_eq!((r.error_code, r.assignment.as_ref()), (0, &b"a1"[..]));

        // Errors map; a negative generation reaches the coordinator as one no group has.
        h.send(
            1,
            ApiKey::SyncGroup,
            version,
            4,
            sync_request(-1, "m-1", &[]),
        );
        let out = h.outputs();
        let sends = Harness::sends(&out);
        let Request::SyncGroup(s) = &sends[0].2 else {
            panic!()
        };
        assert_eq!(s.generation, u32::MAX);
        h.answer(
            addr(CONTROLLER),
            sends[0].1,
            Response::SyncGroup(api::SyncGroupResponse {
                result: Err(ErrorCode::IllegalGeneration),
            }),
        );
        let w = writes(&h.outputs());
        let (_, ResponseKind::SyncGroup(r)) = decode(ApiKey::SyncGroup, version, &w[0].1) else {
            panic!()
        };
        assert_eq!(r.error_code, code::ILLEGAL_GENERATION);
        assert!(r.assignment.is_empty());
    }
}

#[test]
fn heartbeat_is_forwarded_and_answered_at_every_version() {
    for version in 0..=4 {
        for (result, expected) in [
            (Ok(()), code::NONE),
            (
                Err(ErrorCode::RebalanceInProgress),
                code::REBALANCE_IN_PROGRESS,
            ),
            (Err(ErrorCode::UnknownMemberId), code::UNKNOWN_MEMBER_ID),
            (Err(ErrorCode::FencedInstanceId), code::FENCED_INSTANCE_ID),
        ] {
            let mut h = Harness::new();
            let mut r = km::HeartbeatRequest::default();
            r.group_id = km::GroupId(str("g"));
            r.generation_id = 4;
            r.member_id = str("m");
            if version >= 3 {
                r.group_instance_id = Some(str("i"));
            }
            h.send(1, ApiKey::Heartbeat, version, 9, RequestKind::Heartbeat(r));
            let out = h.outputs();
            let sends = Harness::sends(&out);
            assert_eq!(
                sends[0].2,
                Request::HeartbeatGroup(api::HeartbeatGroupRequest {
                    group: "g".into(),
                    generation: 4,
                    member_id: "m".into(),
                    group_instance_id: (version >= 3).then(|| "i".to_string()),
                })
            );
            assert_eq!(h.gateway.next_tick(), Some(Duration::from_secs(5)));
            h.answer(
                addr(CONTROLLER),
                sends[0].1,
                Response::HeartbeatGroup(api::HeartbeatGroupResponse { result }),
            );
            let w = writes(&h.outputs());
            let (_, ResponseKind::Heartbeat(r)) = decode(ApiKey::Heartbeat, version, &w[0].1)
            else {
                panic!()
            };
            assert_eq!(r.error_code, expected, "v{version}");
        }
    }
}

#[test]
fn leave_group_maps_one_member_or_each_of_a_batch() {
    for version in 0..=5 {
        let mut h = Harness::new();
        let mut r = km::LeaveGroupRequest::default();
        r.group_id = km::GroupId(str("g"));
        if version < 3 {
            r.member_id = str("m-1");
        } else {
            for (m, i) in [("m-1", None), ("", Some("static"))] {
                let mut x = km::leave_group_request::MemberIdentity::default();
                x.member_id = str(m);
                x.group_instance_id = i.map(str);
                r.members.push(x);
            }
        }
        h.send(
            1,
            ApiKey::LeaveGroup,
            version,
            5,
            RequestKind::LeaveGroup(r),
        );
        let out = h.outputs();
        let sends = Harness::sends(&out);
        let expected: Vec<Request> = if version < 3 {
            vec![Request::LeaveGroup(api::LeaveGroupRequest {
                group: "g".into(),
                member_id: "m-1".into(),
                group_instance_id: None,
            })]
        } else {
            vec![
                Request::LeaveGroup(api::LeaveGroupRequest {
                    group: "g".into(),
                    member_id: "m-1".into(),
                    group_instance_id: None,
                }),
                Request::LeaveGroup(api::LeaveGroupRequest {
                    group: "g".into(),
                    member_id: String::new(),
                    group_instance_id: Some("static".into()),
                }),
            ]
        };
        let got: Vec<Request> = sends.iter().map(|s| s.2.clone()).collect();
        assert_eq!(got, expected, "v{version}");
        // Answers out of order: the response keeps the request's order.
        for (i, send) in sends.iter().enumerate().rev() {
            let result = if i == 0 {
                Ok(())
            } else {
                Err(ErrorCode::UnknownMemberId)
            };
            h.answer(
                addr(CONTROLLER),
                send.1,
                Response::LeaveGroup(api::LeaveGroupResponse { result }),
            );
        }
        let w = writes(&h.outputs());
        let (_, ResponseKind::LeaveGroup(r)) = decode(ApiKey::LeaveGroup, version, &w[0].1) else {
            panic!()
        };
        assert_eq!(r.error_code, 0, "v{version}");
        if version >= 3 {
            let members: Vec<(&str, i16)> = r
                .members
                .iter()
                .map(|m| (m.member_id.as_str(), m.error_code))
                .collect();
            assert_eq!(members, vec![("m-1", 0), ("", code::UNKNOWN_MEMBER_ID)]);
            assert_eq!(r.members[1].group_instance_id.as_deref(), Some("static"));
        }
    }
    // The coordinator unavailable for every member: the request's error.
    let mut h = Harness::new();
    let mut r = km::LeaveGroupRequest::default();
    r.group_id = km::GroupId(str("g"));
    let mut x = km::leave_group_request::MemberIdentity::default();
    x.member_id = str("m-1");
    r.members.push(x);
    h.send(1, ApiKey::LeaveGroup, 3, 5, RequestKind::LeaveGroup(r));
    h.outputs();
    h.now = Duration::from_secs(5);
    h.gateway.on_tick(h.now);
    let w = writes(&h.outputs());
    let (_, ResponseKind::LeaveGroup(r)) = decode(ApiKey::LeaveGroup, 3, &w[0].1) else {
        panic!()
    };
    assert_eq!(r.error_code, code::COORDINATOR_NOT_AVAILABLE);
}

#[test]
fn group_apis_with_an_empty_group_id_are_invalid_without_a_request() {
    let mut h = Harness::new();
    let mut j = km::JoinGroupRequest::default();
    j.protocol_type = str("consumer");
    h.send(1, ApiKey::JoinGroup, 5, 1, RequestKind::JoinGroup(j));
    let mut s = km::SyncGroupRequest::default();
    s.generation_id = 1;
    h.send(1, ApiKey::SyncGroup, 3, 2, RequestKind::SyncGroup(s));
    h.send(
        1,
        ApiKey::Heartbeat,
        3,
        3,
        RequestKind::Heartbeat(Default::default()),
    );
    h.send(
        1,
        ApiKey::LeaveGroup,
        1,
        4,
        RequestKind::LeaveGroup(Default::default()),
    );
    let out = h.outputs();
    assert!(Harness::sends(&out).is_empty());
    let w = writes(&out);
    assert_eq!(w.len(), 4);
    let codes: Vec<i16> = [
        (ApiKey::JoinGroup, 5),
        (ApiKey::SyncGroup, 3),
        (ApiKey::Heartbeat, 3),
        (ApiKey::LeaveGroup, 1),
    ]
    .iter()
    .zip(&w)
    .map(
        |((key, version), (_, frame))| match decode(*key, *version, frame).1 {
            ResponseKind::JoinGroup(r) => r.error_code,
            ResponseKind::SyncGroup(r) => r.error_code,
            ResponseKind::Heartbeat(r) => r.error_code,
            ResponseKind::LeaveGroup(r) => r.error_code,
            _ => panic!(),
        },
    )
    .collect();
    assert_eq!(codes, vec![code::INVALID_GROUP_ID; 4]);
}

#[test]
fn offset_commit_passes_its_member_through() {
    // (generation, member id, instance id) -> the internal member.
    type Case = (
        i16,
        i32,
        &'static str,
        Option<&'static str>,
        Option<api::CommitMember>,
    );
    let cases: Vec<Case> = vec![
        (8, -1, "", None, None),
        (
            8,
            3,
            "m-1",
            Some("i"),
            Some(api::CommitMember {
                generation: 3,
                member_id: "m-1".into(),
                group_instance_id: Some("i".into()),
            }),
        ),
        (
            2,
            -1,
            "m-1",
            None,
            Some(api::CommitMember {
                generation: u32::MAX,
                member_id: "m-1".into(),
                group_instance_id: None,
            }),
        ),
        (
            6,
            0,
            "",
            None,
            Some(api::CommitMember {
                generation: 0,
                member_id: String::new(),
                group_instance_id: None,
            }),
        ),
    ];
    for (version, generation, member, instance, expected) in cases {
        let mut h = Harness::new();
        let RequestKind::OffsetCommit(mut r) = offset_commit_request("g") else {
            panic!()
        };
        r.generation_id_or_member_epoch = generation;
        r.member_id = str(member);
        r.group_instance_id = instance.map(str);
        h.send(
            1,
            ApiKey::OffsetCommit,
            version,
            1,
            RequestKind::OffsetCommit(r),
        );
        let out = h.outputs();
        let sends = Harness::sends(&out);
        let Request::OffsetCommit(c) = &sends[0].2 else {
            panic!()
        };
        assert_eq!(c.member, expected, "v{version} gen {generation} {member:?}");
        h.answer(
            addr(CONTROLLER),
            sends[0].1,
            Response::OffsetCommit(api::OffsetCommitResponse {
                result: Err(ErrorCode::IllegalGeneration),
            }),
        );
        let w = writes(&h.outputs());
        let (_, ResponseKind::OffsetCommit(r)) = decode(ApiKey::OffsetCommit, version, &w[0].1)
        else {
            panic!()
        };
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            code::ILLEGAL_GENERATION
        );
    }
}
