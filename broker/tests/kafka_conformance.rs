//! Kafka's wire protocol against a running simulated cluster: requests encoded with
//! kafka-protocol's client side, over madsim TCP, to the brokers' Kafka listeners, for every
//! API and every version the gateway advertises; answers decoded with the client side.

use broker::batch::{Record, RecordBatch};
use broker::controller::ControllerConfig;
use broker::node::{start_cluster, Cluster, ClusterConfig, KafkaListeners};
use bytes::{Bytes, BytesMut};
use sim::{run, RunLimits, Seed, World};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wire::errors::code;
use wire::kafka_protocol::messages::{self as km, ApiKey, RequestKind, ResponseKind};
use wire::kafka_protocol::protocol::StrBytes;
use wire::{decode_response, encode_request, FrameDecoder, SUPPORTED_APIS};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

fn limits() -> RunLimits {
    RunLimits {
        sim_time: Duration::from_secs(600),
        wall_clock: Duration::from_secs(120),
    }
}

fn config() -> ClusterConfig {
    ClusterConfig {
        brokers: 3,
        controller: ControllerConfig {
            session_timeout_ms: 1_000,
            ..ControllerConfig::default()
        },
        kafka: KafkaListeners {
            enabled: true,
            ..KafkaListeners::default()
        },
        ..ClusterConfig::default()
    }
}

/// Runs `body` on a client node next to a started cluster; panics with the run's status if it
/// does not complete.
fn with_cluster<F, Fut>(seed: u64, body: F) -> sim::TraceHash
where
    F: FnOnce(World, Cluster) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_cluster_config(seed, config(), body)
}

fn with_cluster_config<F, Fut>(seed: u64, config: ClusterConfig, body: F) -> sim::TraceHash
where
    F: FnOnce(World, Cluster) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let outcome = run(Seed::new(seed), limits(), move |world: World| async move {
        let cluster = start_cluster(&world, config, Arc::new(|_| {}));
        world.add_node("client", |_context| std::future::pending::<()>());
        // Brokers register with the controller.
        madsim::time::sleep(Duration::from_millis(1_000)).await;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let client_world = world.clone();
        world.spawn_on("client", async move {
            body(client_world, cluster).await;
            let _ = sender.send(());
        });
        receiver.await.is_ok()
    });
    assert_eq!(
        outcome.value,
        Some(true),
        "the run did not complete: {}",
        outcome.status.describe()
    );
    outcome.trace_hash
}

/// A Kafka client connection over madsim TCP.
struct Kafka {
    stream: madsim::net::TcpStream,
    decoder: FrameDecoder,
    next_correlation_id: i32,
}

impl Kafka {
    async fn connect(addr: SocketAddr) -> Kafka {
        for _ in 0..50 {
            if let Ok(stream) = madsim::net::TcpStream::connect(addr).await {
                return Kafka {
                    stream,
                    decoder: FrameDecoder::new(wire::MAX_FRAME_BYTES),
                    next_correlation_id: 1,
                };
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot connect to {addr}");
    }

    async fn write(&mut self, bytes: &[u8]) {
        let stream = &mut self.stream;
        let mut written = 0;
        while written < bytes.len() {
            written += poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, &bytes[written..]))
                .await
                .expect("write");
        }
        poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx))
            .await
            .expect("flush");
    }

    /// The next frame; None at the end of the stream (closed by the broker).
    async fn read_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let mut chunk = vec![0u8; 65536];
            loop {
                if let Some(frame) = self.decoder.next_frame().expect("valid response frames") {
                    return Some(frame);
                }
                let stream = &mut self.stream;
                let n = poll_fn(|cx| {
                    let mut buf = ReadBuf::new(&mut chunk);
                    Pin::new(&mut *stream)
                        .poll_read(cx, &mut buf)
                        .map_ok(|()| buf.filled().len())
                })
                .await
                .unwrap_or(0);
                if n == 0 {
                    return None;
                }
                self.decoder.push(&chunk[..n]);
            }
        };
        madsim::time::timeout(ANSWER_TIMEOUT, read)
            .await
            .expect("an answer or a close in time")
    }

    /// Sends `request` and returns the decoded answer (checking its correlation id).
    async fn call(&mut self, key: ApiKey, version: i16, request: RequestKind) -> ResponseKind {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame = encode_request(key, version, correlation_id, &request).expect("encodable");
        self.write(&frame).await;
        let answer = self
            .read_frame()
            .await
            .unwrap_or_else(|| panic!("{key:?} v{version}: connection closed"));
        let (answered, response) = decode_response(key, version, answer)
            .unwrap_or_else(|e| panic!("{key:?} v{version}: undecodable answer: {e}"));
        assert_eq!(answered, correlation_id, "{key:?} v{version}");
        response
    }
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn range(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (min, max) = wire::supported_versions(key).expect("served");
    min..=max
}

fn metadata_request(topics: &[&str]) -> RequestKind {
    let mut r = km::MetadataRequest::default();
    r.topics = Some(
        topics
            .iter()
            .map(|t| {
                let mut topic = km::metadata_request::MetadataRequestTopic::default();
                topic.name = Some(km::TopicName(str(t)));
                topic
            })
            .collect(),
    );
    RequestKind::Metadata(r)
}

fn create_topics_request(name: &str, partitions: i32, replication: i16) -> RequestKind {
    let mut r = km::CreateTopicsRequest::default();
    r.timeout_ms = 5_000;
    let mut t = km::create_topics_request::CreatableTopic::default();
    t.name = km::TopicName(str(name));
    t.num_partitions = partitions;
    t.replication_factor = replication;
    r.topics.push(t);
    RequestKind::CreateTopics(r)
}

fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> RequestKind {
    let mut r = km::ProduceRequest::default();
    r.acks = acks;
    r.timeout_ms = 5_000;
    let mut t = km::produce_request::TopicProduceData::default();
    t.name = km::TopicName(str(topic));
    let mut p = km::produce_request::PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    t.partition_data.push(p);
    r.topic_data.push(t);
    RequestKind::Produce(r)
}

fn fetch_request(topic: &str, partition: i32, offset: i64, leader_epoch: i32) -> RequestKind {
    let mut r = km::FetchRequest::default();
    r.replica_id = km::BrokerId(-1);
    r.max_wait_ms = 100;
    r.min_bytes = 1;
    r.max_bytes = 1 << 20;
    r.session_epoch = -1;
    let mut t = km::fetch_request::FetchTopic::default();
    t.topic = km::TopicName(str(topic));
    let mut p = km::fetch_request::FetchPartition::default();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    p.current_leader_epoch = leader_epoch;
    t.partitions.push(p);
    r.topics.push(t);
    RequestKind::Fetch(r)
}

fn list_offsets_request(topic: &str, partition: i32, timestamp: i64) -> RequestKind {
    let mut r = km::ListOffsetsRequest::default();
    r.replica_id = km::BrokerId(-1);
    let mut t = km::list_offsets_request::ListOffsetsTopic::default();
    t.name = km::TopicName(str(topic));
    let mut p = km::list_offsets_request::ListOffsetsPartition::default();
    p.partition_index = partition;
    p.timestamp = timestamp;
    t.partitions.push(p);
    r.topics.push(t);
    RequestKind::ListOffsets(r)
}

/// One record in streamsim's own batch encoding, which the core accepts before and after the
/// switch to Kafka's record batch v2.
fn core_batch(value: &str) -> Bytes {
    RecordBatch::new(vec![Record::new(None, value.as_bytes().to_vec(), 0)]).encode()
}

/// (leader id, leader epoch) of each partition of `topic`, once every partition has a leader.
async fn leaders(kafka: &mut Kafka, topic: &str) -> Vec<(i32, i32)> {
    for _ in 0..100 {
        let ResponseKind::Metadata(r) = kafka
            .call(ApiKey::Metadata, 12, metadata_request(&[topic]))
            .await
        else {
            panic!("metadata answer")
        };
        let t = &r.topics[0];
        if t.error_code == 0
            && !t.partitions.is_empty()
            && t.partitions
                .iter()
                .all(|p| p.error_code == 0 && p.leader_id.0 > 0)
        {
            let mut ps: Vec<&km::metadata_response::MetadataResponsePartition> =
                t.partitions.iter().collect();
            ps.sort_by_key(|p| p.partition_index);
            return ps.iter().map(|p| (p.leader_id.0, p.leader_epoch)).collect();
        }
        madsim::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{topic} has no leaders");
}

fn kafka_addr(cluster: &Cluster, broker: i32) -> SocketAddr {
    cluster.brokers[&(broker as u32)].kafka_addr()
}

#[test]
fn every_api_and_every_advertised_version_is_answered() {
    with_cluster(1, |_world, cluster| async move {
        let mut any = Kafka::connect(kafka_addr(&cluster, 1)).await;

        // ApiVersions: every version lists exactly the served ranges.
        for version in range(ApiKey::ApiVersions) {
            let ResponseKind::ApiVersions(r) = any
                .call(
                    ApiKey::ApiVersions,
                    version,
                    RequestKind::ApiVersions(Default::default()),
                )
                .await
            else {
                panic!()
            };
            assert_eq!(r.error_code, 0, "v{version}");
            let listed: Vec<(i16, i16, i16)> = r
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version))
                .collect();
            let served: Vec<(i16, i16, i16)> = SUPPORTED_APIS
                .iter()
                .map(|(k, a, b)| (*k as i16, *a, *b))
                .collect();
            assert_eq!(listed, served);
        }

        // CreateTopics: one topic per version, then "t" exists already.
        for version in range(ApiKey::CreateTopics) {
            let name = format!("t{version}");
            let ResponseKind::CreateTopics(r) = any
                .call(
                    ApiKey::CreateTopics,
                    version,
                    create_topics_request(&name, 2, 3),
                )
                .await
            else {
                panic!()
            };
            assert_eq!(
                r.topics[0].error_code, 0,
                "CreateTopics v{version}: {:?}",
                r.topics[0].error_message
            );
            assert_eq!(r.topics[0].name.0.as_str(), name);
        }
        let ResponseKind::CreateTopics(r) = any
            .call(ApiKey::CreateTopics, 7, create_topics_request("t", 2, 3))
            .await
        else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, 0);
        let ResponseKind::CreateTopics(r) = any
            .call(ApiKey::CreateTopics, 7, create_topics_request("t", 2, 3))
            .await
        else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, code::TOPIC_ALREADY_EXISTS);

        // Metadata: 3 brokers, the topic, this broker as the controller; an unknown topic.
        let partitions = leaders(&mut any, "t").await;
        for version in range(ApiKey::Metadata) {
            let ResponseKind::Metadata(r) = any
                .call(
                    ApiKey::Metadata,
                    version,
                    metadata_request(&["t", "unknown"]),
                )
                .await
            else {
                panic!()
            };
            let mut brokers: Vec<(i32, String, i32)> = r
                .brokers
                .iter()
                .map(|b| (b.node_id.0, b.host.to_string(), b.port))
                .collect();
            brokers.sort();
            let expected: Vec<(i32, String, i32)> = cluster
                .brokers
                .values()
                .map(|b| {
                    (
                        b.id as i32,
                        b.kafka_addr().ip().to_string(),
                        b.kafka_addr().port() as i32,
                    )
                })
                .collect();
            assert_eq!(brokers, expected, "Metadata v{version}");
            if version >= 1 {
                assert_eq!(r.controller_id.0, 1);
            }
            assert_eq!(r.topics.len(), 2);
            assert_eq!(r.topics[0].error_code, 0);
            assert_eq!(r.topics[0].partitions.len(), 2);
            for p in &r.topics[0].partitions {
                assert_eq!(p.replica_nodes.len(), 3);
                assert!(p.leader_id.0 >= 1);
                if version >= 7 {
                    assert_eq!(p.leader_epoch, partitions[p.partition_index as usize].1);
                }
            }
            assert_eq!(r.topics[1].error_code, code::UNKNOWN_TOPIC_OR_PARTITION);
        }

        // The partition's leader serves the data path.
        let (leader, epoch) = partitions[0];
        let mut lead = Kafka::connect(kafka_addr(&cluster, leader)).await;
        let follower = (1..=3).find(|b| *b != leader).unwrap();
        let mut follow = Kafka::connect(kafka_addr(&cluster, follower)).await;

        // ListOffsets on the empty partition: 0 and 0.
        for version in range(ApiKey::ListOffsets) {
            for ts in [-2, -1] {
                let ResponseKind::ListOffsets(r) = lead
                    .call(
                        ApiKey::ListOffsets,
                        version,
                        list_offsets_request("t", 0, ts),
                    )
                    .await
                else {
                    panic!()
                };
                let p = &r.topics[0].partitions[0];
                assert_eq!(
                    (p.error_code, p.offset),
                    (0, 0),
                    "ListOffsets v{version} ts {ts}"
                );
            }
        }

        // Produce, one record per version, acks=all; offsets follow each other.
        let mut produced = 0i64;
        for version in range(ApiKey::Produce) {
            let ResponseKind::Produce(r) = lead
                .call(
                    ApiKey::Produce,
                    version,
                    produce_request("t", 0, -1, core_batch("v")),
                )
                .await
            else {
                panic!()
            };
            let p = &r.responses[0].partition_responses[0];
            assert_eq!(
                (p.error_code, p.base_offset),
                (0, produced),
                "Produce v{version}"
            );
            produced += 1;
        }
        // acks=1 too; a follower refuses; an unknown topic is unknown.
        let ResponseKind::Produce(r) = lead
            .call(
                ApiKey::Produce,
                12,
                produce_request("t", 0, 1, core_batch("one")),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        produced += 1;
        let ResponseKind::Produce(r) = follow
            .call(
                ApiKey::Produce,
                12,
                produce_request("t", 0, -1, core_batch("x")),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            code::NOT_LEADER_OR_FOLLOWER
        );
        let ResponseKind::Produce(r) = lead
            .call(
                ApiKey::Produce,
                12,
                produce_request("nope", 0, -1, core_batch("x")),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            code::UNKNOWN_TOPIC_OR_PARTITION
        );
        // acks=0: no answer; the next request on the connection is answered.
        let frame = encode_request(
            ApiKey::Produce,
            9,
            999,
            &produce_request("t", 0, 0, core_batch("zero")),
        )
        .unwrap();
        lead.write(&frame).await;
        produced += 1;
        madsim::time::sleep(Duration::from_millis(500)).await;

        // ListOffsets now: latest is the high watermark.
        let ResponseKind::ListOffsets(r) = lead
            .call(ApiKey::ListOffsets, 7, list_offsets_request("t", 0, -1))
            .await
        else {
            panic!()
        };
        assert_eq!(
            (
                r.topics[0].partitions[0].error_code,
                r.topics[0].partitions[0].offset
            ),
            (0, produced)
        );
        let ResponseKind::ListOffsets(r) = lead
            .call(ApiKey::ListOffsets, 7, list_offsets_request("t", 0, 1_000))
            .await
        else {
            panic!()
        };
        assert_eq!(r.topics[0].partitions[0].error_code, code::INVALID_REQUEST);

        // Fetch from offset 0 at every version: the records, high watermark and log start.
        for version in range(ApiKey::Fetch) {
            let ResponseKind::Fetch(r) = lead
                .call(ApiKey::Fetch, version, fetch_request("t", 0, 0, epoch))
                .await
            else {
                panic!()
            };
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0, "Fetch v{version}");
            assert_eq!(p.high_watermark, produced, "Fetch v{version}");
            if version >= 5 {
                assert_eq!(p.log_start_offset, 0);
            }
            assert_eq!(p.last_stable_offset, produced);
            assert!(
                !p.records.as_ref().unwrap().is_empty(),
                "Fetch v{version}: records"
            );
            // At the high watermark: nothing (after the max wait).
            let ResponseKind::Fetch(r) = lead
                .call(
                    ApiKey::Fetch,
                    version,
                    fetch_request("t", 0, produced, epoch),
                )
                .await
            else {
                panic!()
            };
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0);
            assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
        }
        // Beyond the end: out of range; a stale epoch is fenced.
        let ResponseKind::Fetch(r) = lead
            .call(
                ApiKey::Fetch,
                12,
                fetch_request("t", 0, produced + 10, epoch),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(
            r.responses[0].partitions[0].error_code,
            code::OFFSET_OUT_OF_RANGE
        );
        if epoch > 0 {
            let ResponseKind::Fetch(r) = lead
                .call(ApiKey::Fetch, 12, fetch_request("t", 0, 0, epoch - 1))
                .await
            else {
                panic!()
            };
            assert_eq!(
                r.responses[0].partitions[0].error_code,
                code::FENCED_LEADER_EPOCH
            );
        }
        let ResponseKind::Fetch(r) = lead
            .call(ApiKey::Fetch, 12, fetch_request("t", 0, 0, epoch + 1))
            .await
        else {
            panic!()
        };
        assert_eq!(
            r.responses[0].partitions[0].error_code,
            code::UNKNOWN_LEADER_EPOCH
        );

        // OffsetForLeaderEpoch: the current epoch ends at the log end.
        for version in range(ApiKey::OffsetForLeaderEpoch) {
            let mut r = km::OffsetForLeaderEpochRequest::default();
            r.replica_id = km::BrokerId(-1);
            let mut t = km::offset_for_leader_epoch_request::OffsetForLeaderTopic::default();
            t.topic = km::TopicName(str("t"));
            let mut p = km::offset_for_leader_epoch_request::OffsetForLeaderPartition::default();
            p.partition = 0;
            p.current_leader_epoch = epoch;
            p.leader_epoch = epoch;
            t.partitions.push(p);
            r.topics.push(t);
            let ResponseKind::OffsetForLeaderEpoch(r) = lead
                .call(
                    ApiKey::OffsetForLeaderEpoch,
                    version,
                    RequestKind::OffsetForLeaderEpoch(r),
                )
                .await
            else {
                panic!()
            };
            let e = &r.topics[0].partitions[0];
            assert_eq!(
                (e.error_code, e.leader_epoch, e.end_offset),
                (0, epoch, produced),
                "OffsetForLeaderEpoch v{version}"
            );
        }

        // InitProducerId: fresh ids.
        for version in range(ApiKey::InitProducerId) {
            let mut r = km::InitProducerIdRequest::default();
            r.transactional_id = None;
            r.producer_id = km::ProducerId(-1);
            r.producer_epoch = -1;
            r.transaction_timeout_ms = 60_000;
            let ResponseKind::InitProducerId(r) = any
                .call(
                    ApiKey::InitProducerId,
                    version,
                    RequestKind::InitProducerId(r),
                )
                .await
            else {
                panic!()
            };
            assert_eq!(r.error_code, 0, "InitProducerId v{version}");
            assert!(r.producer_id.0 >= 0);
            assert!(r.producer_epoch >= 0);
        }

        // FindCoordinator: this broker, for every group.
        for version in range(ApiKey::FindCoordinator) {
            let mut r = km::FindCoordinatorRequest::default();
            if version >= 4 {
                r.coordinator_keys = vec![str("g")];
            } else {
                r.key = str("g");
            }
            let ResponseKind::FindCoordinator(r) = follow
                .call(
                    ApiKey::FindCoordinator,
                    version,
                    RequestKind::FindCoordinator(r),
                )
                .await
            else {
                panic!()
            };
            let (error, node, port) = if version >= 4 {
                (
                    r.coordinators[0].error_code,
                    r.coordinators[0].node_id.0,
                    r.coordinators[0].port,
                )
            } else {
                (r.error_code, r.node_id.0, r.port)
            };
            assert_eq!(
                (error, node, port),
                (0, follower, 9092),
                "FindCoordinator v{version}"
            );
        }

        // OffsetCommit then OffsetFetch, every version.
        for version in range(ApiKey::OffsetCommit) {
            let mut r = km::OffsetCommitRequest::default();
            r.group_id = km::GroupId(str("g"));
            r.generation_id_or_member_epoch = -1;
            r.retention_time_ms = -1;
            let mut t = km::offset_commit_request::OffsetCommitRequestTopic::default();
            t.name = km::TopicName(str("t"));
            let mut p = km::offset_commit_request::OffsetCommitRequestPartition::default();
            p.partition_index = 0;
            p.committed_offset = version as i64;
            t.partitions.push(p);
            r.topics.push(t);
            let ResponseKind::OffsetCommit(r) = follow
                .call(ApiKey::OffsetCommit, version, RequestKind::OffsetCommit(r))
                .await
            else {
                panic!()
            };
            assert_eq!(
                r.topics[0].partitions[0].error_code, 0,
                "OffsetCommit v{version}"
            );
        }
        let last_commit = *range(ApiKey::OffsetCommit).end() as i64;
        for version in range(ApiKey::OffsetFetch) {
            let mut r = km::OffsetFetchRequest::default();
            r.group_id = km::GroupId(str("g"));
            let mut t = km::offset_fetch_request::OffsetFetchRequestTopic::default();
            t.name = km::TopicName(str("t"));
            t.partition_indexes = vec![0, 1];
            r.topics = Some(vec![t]);
            let ResponseKind::OffsetFetch(r) = follow
                .call(ApiKey::OffsetFetch, version, RequestKind::OffsetFetch(r))
                .await
            else {
                panic!()
            };
            let got: Vec<(i32, i64, i16)> = r.topics[0]
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                .collect();
            assert_eq!(
                got,
                vec![(0, last_commit, 0), (1, -1, 0)],
                "OffsetFetch v{version}"
            );
            if version >= 2 {
                assert_eq!(r.error_code, 0);
            }
        }
        // Null topics (v2+): every offset the group has, as admin tools ask to describe a group;
        // a group without offsets has none.
        for (group, expected) in [("g", vec![(str("t"), 0, last_commit)]), ("none", vec![])] {
            for version in 2..=*range(ApiKey::OffsetFetch).end() {
                let mut r = km::OffsetFetchRequest::default();
                r.group_id = km::GroupId(str(group));
                r.topics = None;
                let ResponseKind::OffsetFetch(r) = follow
                    .call(ApiKey::OffsetFetch, version, RequestKind::OffsetFetch(r))
                    .await
                else {
                    panic!()
                };
                let got: Vec<(StrBytes, i32, i64)> = r
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (t.name.0.clone(), p.partition_index, p.committed_offset))
                    })
                    .collect();
                assert_eq!(got, expected, "OffsetFetch v{version} of all of {group}");
                assert_eq!(r.error_code, 0, "OffsetFetch v{version} of all of {group}");
            }
        }

        // CreatePartitions: grow "t" once per version; shrinking is refused.
        let mut count = 2;
        for version in range(ApiKey::CreatePartitions) {
            count += 1;
            let mut r = km::CreatePartitionsRequest::default();
            r.timeout_ms = 5_000;
            let mut t = km::create_partitions_request::CreatePartitionsTopic::default();
            t.name = km::TopicName(str("t"));
            t.count = count;
            r.topics.push(t);
            let ResponseKind::CreatePartitions(r) = any
                .call(
                    ApiKey::CreatePartitions,
                    version,
                    RequestKind::CreatePartitions(r),
                )
                .await
            else {
                panic!()
            };
            assert_eq!(
                r.results[0].error_code, 0,
                "CreatePartitions v{version}: {:?}",
                r.results[0].error_message
            );
        }
        let mut r = km::CreatePartitionsRequest::default();
        let mut t = km::create_partitions_request::CreatePartitionsTopic::default();
        t.name = km::TopicName(str("t"));
        t.count = 1;
        r.topics.push(t);
        let ResponseKind::CreatePartitions(r) = any
            .call(
                ApiKey::CreatePartitions,
                3,
                RequestKind::CreatePartitions(r),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(r.results[0].error_code, code::INVALID_PARTITIONS);
        // The brokers learn of the new partitions from the controller's metadata.
        let mut seen = 0;
        for _ in 0..50 {
            seen = leaders(&mut any, "t").await.len();
            if seen == count as usize {
                break;
            }
            madsim::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(seen, count as usize);
    });
}

/// Reads until the broker closes the connection (None) or answers (Some).
async fn closed(kafka: &mut Kafka) -> bool {
    kafka.read_frame().await.is_none()
}

/// Advertised addresses (what `streamsim serve` gives) switch the listeners on by themselves and
/// are what Metadata and FindCoordinator name.
#[test]
fn advertised_addresses_are_served_and_named() {
    let mut config = config();
    config.kafka.enabled = false;
    config.kafka.advertised = (1..=3u32)
        .map(|id| (id, SocketAddr::from(([127, 0, 0, 1], 19_091 + id as u16))))
        .collect();
    with_cluster_config(8, config, |_world, cluster| async move {
        let mut kafka = Kafka::connect(kafka_addr(&cluster, 2)).await;
        let ResponseKind::Metadata(r) = kafka
            .call(ApiKey::Metadata, 12, metadata_request(&[]))
            .await
        else {
            panic!()
        };
        let mut brokers: Vec<(i32, String, i32)> = r
            .brokers
            .iter()
            .map(|b| (b.node_id.0, b.host.to_string(), b.port))
            .collect();
        brokers.sort();
        assert_eq!(
            brokers,
            vec![
                (1, "127.0.0.1".into(), 19092),
                (2, "127.0.0.1".into(), 19093),
                (3, "127.0.0.1".into(), 19094)
            ]
        );
        assert_eq!(r.controller_id.0, 2);
        let mut find = km::FindCoordinatorRequest::default();
        find.key = str("g");
        let ResponseKind::FindCoordinator(r) = kafka
            .call(
                ApiKey::FindCoordinator,
                3,
                RequestKind::FindCoordinator(find),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(
            (r.error_code, r.node_id.0, r.host.to_string(), r.port),
            (0, 2, "127.0.0.1".into(), 19093)
        );
    });
}

#[test]
fn bad_input_over_tcp_closes_only_that_connection() {
    with_cluster(2, |_world, cluster| async move {
        let addr = kafka_addr(&cluster, 2);
        let mut good = Kafka::connect(addr).await;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("negative length", (-1i32).to_be_bytes().to_vec()),
            (
                "length above 100 MiB",
                (200 * 1024 * 1024i32).to_be_bytes().to_vec(),
            ),
            (
                "unknown api key",
                vec![0, 0, 0, 10, 3, 231, 0, 0, 0, 0, 0, 1, 0, 0],
            ),
            (
                "unsupported version",
                encode_request(ApiKey::Metadata, 12, 1, &metadata_request(&["t"]))
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(i, b)| if i == 7 { 13 } else { *b })
                    .collect(),
            ),
            (
                "garbage body",
                vec![0, 0, 0, 12, 0, 3, 0, 9, 0, 0, 0, 1, 0, 0, 0xff, 0xff],
            ),
        ];
        for (name, bytes) in cases {
            let mut bad = Kafka::connect(addr).await;
            bad.write(&bytes).await;
            assert!(closed(&mut bad).await, "{name}: the connection is closed");
            // The other connection keeps being served.
            let ResponseKind::ApiVersions(r) = good
                .call(
                    ApiKey::ApiVersions,
                    3,
                    RequestKind::ApiVersions(Default::default()),
                )
                .await
            else {
                panic!()
            };
            assert_eq!(r.error_code, 0, "after {name}");
        }
        // ApiVersions above the range: a v0 answer with UNSUPPORTED_VERSION, connection open.
        let mut frame = encode_request(
            ApiKey::ApiVersions,
            3,
            77,
            &RequestKind::ApiVersions(Default::default()),
        )
        .unwrap()
        .to_vec();
        frame[6..8].copy_from_slice(&9i16.to_be_bytes());
        good.write(&frame).await;
        let answer = good.read_frame().await.expect("an answer");
        let (corr, ResponseKind::ApiVersions(r)) =
            decode_response(ApiKey::ApiVersions, 0, answer).unwrap()
        else {
            panic!()
        };
        assert_eq!((corr, r.error_code), (77, code::UNSUPPORTED_VERSION));
        assert_eq!(r.api_keys.len(), SUPPORTED_APIS.len());
        let ResponseKind::ApiVersions(r) = good
            .call(
                ApiKey::ApiVersions,
                3,
                RequestKind::ApiVersions(Default::default()),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
    });
}

/// What a client saw: every answer with its simulated time.
type Seen = Arc<std::sync::Mutex<Vec<String>>>;

fn deterministic_run(seed: u64) -> Vec<String> {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    with_cluster(seed, move |_world: World, cluster: Cluster| async move {
        let note = |what: String| {
            log.lock()
                .unwrap()
                .push(format!("{:?} {what}", sim::time::now()))
        };
        let mut kafka = Kafka::connect(kafka_addr(&cluster, 1)).await;
        let answer = kafka
            .call(ApiKey::CreateTopics, 7, create_topics_request("d", 2, 3))
            .await;
        note(format!("{answer:?}"));
        let partitions = leaders(&mut kafka, "d").await;
        note(format!("{partitions:?}"));
        let mut lead = Kafka::connect(kafka_addr(&cluster, partitions[0].0)).await;
        for i in 0..5 {
            let answer = lead
                .call(
                    ApiKey::Produce,
                    9,
                    produce_request("d", 0, -1, core_batch(&format!("{i}"))),
                )
                .await;
            note(format!("{answer:?}"));
        }
        let answer = lead
            .call(ApiKey::Fetch, 12, fetch_request("d", 0, 0, partitions[0].1))
            .await;
        note(format!("{answer:?}"));
    });
    let seen = seen.lock().unwrap().clone();
    seen
}

#[test]
fn runs_with_kafka_clients_are_deterministic() {
    let first = deterministic_run(7);
    assert_eq!(first.len(), 8);
    assert_eq!(
        first,
        deterministic_run(7),
        "same seed, same answers at the same times"
    );
}

#[test]
fn a_controller_cut_off_answers_coordinator_not_available_in_time() {
    with_cluster(3, |world, cluster| async move {
        let mut kafka = Kafka::connect(kafka_addr(&cluster, 1)).await;
        world.partition(&[
            vec![cluster.controller_name.clone()],
            vec![
                Cluster::broker_name(1),
                Cluster::broker_name(2),
                Cluster::broker_name(3),
            ],
        ]);
        let start = sim::time::now();
        let mut r = km::OffsetCommitRequest::default();
        r.group_id = km::GroupId(str("g"));
        let mut t = km::offset_commit_request::OffsetCommitRequestTopic::default();
        t.name = km::TopicName(str("t"));
        let mut p = km::offset_commit_request::OffsetCommitRequestPartition::default();
        p.partition_index = 0;
        p.committed_offset = 3;
        t.partitions.push(p);
        r.topics.push(t);
        let ResponseKind::OffsetCommit(r) = kafka
            .call(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(r))
            .await
        else {
            panic!()
        };
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            code::COORDINATOR_NOT_AVAILABLE
        );
        let waited = sim::time::now() - start;
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_secs(7),
            "{waited:?}"
        );
        let ResponseKind::CreateTopics(r) = kafka
            .call(ApiKey::CreateTopics, 7, create_topics_request("late", 1, 1))
            .await
        else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, code::REQUEST_TIMED_OUT);
        world.heal_network();
    });
}

#[test]
fn a_broker_crash_closes_its_kafka_connections() {
    with_cluster(4, |world, cluster| async move {
        let mut kafka = Kafka::connect(kafka_addr(&cluster, 3)).await;
        let ResponseKind::ApiVersions(_) = kafka
            .call(
                ApiKey::ApiVersions,
                3,
                RequestKind::ApiVersions(Default::default()),
            )
            .await
        else {
            panic!()
        };
        world.kill(&Cluster::broker_name(3));
        assert!(
            closed(&mut kafka).await,
            "the connection dies with the broker"
        );
        world.restart(&Cluster::broker_name(3));
        madsim::time::sleep(Duration::from_millis(500)).await;
        let mut again = Kafka::connect(kafka_addr(&cluster, 3)).await;
        let ResponseKind::ApiVersions(r) = again
            .call(
                ApiKey::ApiVersions,
                3,
                RequestKind::ApiVersions(Default::default()),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
    });
}

/// Records encoded by Kafka clients (record batch v2), produced and fetched back, uncompressed
/// and compressed with each of Kafka's codecs (the broker decompresses what it accepts; the
/// encoder here is kafka-protocol's, a fresh codec context per batch).
#[test]
fn kafka_v2_batches_round_trip_through_produce_and_fetch() {
    use wire::kafka_protocol::records::{
        Compression, Record as KRecord, RecordBatchDecoder, RecordBatchEncoder,
        RecordEncodeOptions, TimestampType,
    };
    fn records(values: &[&str], base: i64) -> Vec<KRecord> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| KRecord {
                transactional: false,
                delete_horizon: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: base + i as i64,
                // RecordBatchEncoder keeps records in one batch while offset - sequence stays
                // the same, and takes the first record's as the base sequence: -1, as a
                // producer without idempotence writes.
                sequence: i as i32 - 1,
                timestamp: 1_700_000_000_000 + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(v.to_string())),
                headers: Default::default(),
            })
            .collect()
    }
    fn encode(records: &[KRecord], compression: Compression) -> Bytes {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encodable batch");
        buf.freeze()
    }
    let compressions = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    with_cluster(5, move |_world, cluster| async move {
        let mut any = Kafka::connect(kafka_addr(&cluster, 1)).await;
        for (name, compression) in compressions {
            let topic = format!("v2-{name}");
            let ResponseKind::CreateTopics(r) = any
                .call(ApiKey::CreateTopics, 7, create_topics_request(&topic, 1, 3))
                .await
            else {
                panic!()
            };
            assert_eq!(r.topics[0].error_code, 0, "{name}");
            let (leader, epoch) = leaders(&mut any, &topic).await[0];
            let mut lead = Kafka::connect(kafka_addr(&cluster, leader)).await;
            let first = records(&["a", "b", "c"], 0);
            let second = records(&["d", "e"], 0);
            for (batch, base) in [(&first, 0), (&second, 3)] {
                let ResponseKind::Produce(r) = lead
                    .call(
                        ApiKey::Produce,
                        9,
                        produce_request(&topic, 0, -1, encode(batch, compression)),
                    )
                    .await
                else {
                    panic!()
                };
                let p = &r.responses[0].partition_responses[0];
                assert_eq!((p.error_code, p.base_offset), (0, base), "{name}");
            }
            let ResponseKind::Fetch(r) = lead
                .call(ApiKey::Fetch, 12, fetch_request(&topic, 0, 0, epoch))
                .await
            else {
                panic!()
            };
            let p = &r.responses[0].partitions[0];
            assert_eq!((p.error_code, p.high_watermark), (0, 5), "{name}");
            let mut bytes = p.records.clone().expect("records");
            let sets = RecordBatchDecoder::decode_all(&mut bytes).expect("decodable batches");
            assert!(
                sets.iter().all(|set| set.compression == compression),
                "{name}: served as stored"
            );
            let got: Vec<(i64, Option<Bytes>, Option<Bytes>)> = sets
                .iter()
                .flat_map(|set| {
                    set.records
                        .iter()
                        .map(|r| (r.offset, r.key.clone(), r.value.clone()))
                })
                .collect();
            let want: Vec<(i64, Option<Bytes>, Option<Bytes>)> = first
                .iter()
                .chain(second.iter())
                .enumerate()
                .map(|(i, r)| (i as i64, r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    });
}

/// A Kafka v2 batch is stored (the broker's own format is record batch v2); garbage is
/// CORRUPT_MESSAGE.
#[test]
fn a_kafka_v2_batch_gets_an_answer() {
    use wire::kafka_protocol::records::{
        Compression, Record as KRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    with_cluster(6, |_world, cluster| async move {
        let mut any = Kafka::connect(kafka_addr(&cluster, 1)).await;
        let ResponseKind::CreateTopics(r) = any
            .call(ApiKey::CreateTopics, 7, create_topics_request("k", 1, 3))
            .await
        else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, 0);
        let (leader, _) = leaders(&mut any, "k").await[0];
        let mut lead = Kafka::connect(kafka_addr(&cluster, leader)).await;
        let record = KRecord {
            transactional: false,
            delete_horizon: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [&record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        let ResponseKind::Produce(r) = lead
            .call(
                ApiKey::Produce,
                9,
                produce_request("k", 0, -1, buf.freeze()),
            )
            .await
        else {
            panic!()
        };
        let error = r.responses[0].partition_responses[0].error_code;
        assert_eq!(error, 0, "a Kafka v2 batch is stored");
        // A batch that is garbage is CORRUPT_MESSAGE whatever the format.
        let mut garbage = vec![0u8; 8];
        garbage.extend_from_slice(&20i32.to_be_bytes());
        garbage.extend_from_slice(&[0xab; 20]);
        let ResponseKind::Produce(r) = lead
            .call(
                ApiKey::Produce,
                9,
                produce_request("k", 0, -1, Bytes::from(garbage)),
            )
            .await
        else {
            panic!()
        };
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            code::CORRUPT_MESSAGE
        );
    });
}

// ---- the classic group APIs -------------------------------------------------------------------

/// The version of `key` for round `round`: every advertised version is used by some round.
fn version_for(key: ApiKey, round: i16) -> i16 {
    let (min, max) = wire::supported_versions(key).expect("served");
    (min + round).min(max)
}

fn join_request(group: &str, member: &str) -> RequestKind {
    let mut r = km::JoinGroupRequest::default();
    r.group_id = km::GroupId(str(group));
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = 20_000;
    r.member_id = str(member);
    r.protocol_type = str("consumer");
    let mut p = km::join_group_request::JoinGroupRequestProtocol::default();
    p.name = str("range");
    p.metadata = Bytes::from(format!("sub-{member}"));
    r.protocols.push(p);
    RequestKind::JoinGroup(r)
}

async fn join(kafka: &mut Kafka, version: i16, group: &str, member: &str) -> km::JoinGroupResponse {
    let ResponseKind::JoinGroup(r) = kafka
        .call(ApiKey::JoinGroup, version, join_request(group, member))
        .await
    else {
        panic!()
    };
    r
}

async fn sync(
    kafka: &mut Kafka,
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    assignments: &[(String, Bytes)],
) -> km::SyncGroupResponse {
    let mut r = km::SyncGroupRequest::default();
    r.group_id = km::GroupId(str(group));
    r.generation_id = generation;
    r.member_id = str(member);
    for (m, a) in assignments {
        let mut x = km::sync_group_request::SyncGroupRequestAssignment::default();
        x.member_id = str(m);
        x.assignment = a.clone();
        r.assignments.push(x);
    }
    let ResponseKind::SyncGroup(r) = kafka
        .call(ApiKey::SyncGroup, version, RequestKind::SyncGroup(r))
        .await
    else {
        panic!()
    };
    r
}

async fn heartbeat(
    kafka: &mut Kafka,
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
) -> i16 {
    let mut r = km::HeartbeatRequest::default();
    r.group_id = km::GroupId(str(group));
    r.generation_id = generation;
    r.member_id = str(member);
    let ResponseKind::Heartbeat(r) = kafka
        .call(ApiKey::Heartbeat, version, RequestKind::Heartbeat(r))
        .await
    else {
        panic!()
    };
    r.error_code
}

async fn commit(
    kafka: &mut Kafka,
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    offset: i64,
) -> i16 {
    let mut r = km::OffsetCommitRequest::default();
    r.group_id = km::GroupId(str(group));
    r.generation_id_or_member_epoch = generation;
    r.member_id = str(member);
    r.retention_time_ms = -1;
    let mut t = km::offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = km::TopicName(str("gt"));
    let mut p = km::offset_commit_request::OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    t.partitions.push(p);
    r.topics.push(t);
    let ResponseKind::OffsetCommit(r) = kafka
        .call(ApiKey::OffsetCommit, version, RequestKind::OffsetCommit(r))
        .await
    else {
        panic!()
    };
    r.topics[0].partitions[0].error_code
}

#[test]
fn group_apis_at_every_advertised_version_over_tcp() {
    with_cluster(5, |_world, cluster| async move {
        let mut a = Kafka::connect(kafka_addr(&cluster, 1)).await;
        let mut b = Kafka::connect(kafka_addr(&cluster, 1)).await;
        let ResponseKind::CreateTopics(r) = a
            .call(ApiKey::CreateTopics, 7, create_topics_request("gt", 1, 1))
            .await
        else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, 0);
        let rounds = [
            ApiKey::JoinGroup,
            ApiKey::SyncGroup,
            ApiKey::Heartbeat,
            ApiKey::LeaveGroup,
            ApiKey::OffsetCommit,
            ApiKey::DescribeGroups,
            ApiKey::ListGroups,
        ]
        .iter()
        .map(|k| {
            let (min, max) = wire::supported_versions(*k).unwrap();
            max - min + 1
        })
        .max()
        .unwrap();
        for round in 0..rounds {
            let jv = version_for(ApiKey::JoinGroup, round);
            let sv = version_for(ApiKey::SyncGroup, round);
            let hv = version_for(ApiKey::Heartbeat, round);
            let lv = version_for(ApiKey::LeaveGroup, round);
            let cv = version_for(ApiKey::OffsetCommit, round);
            let what = format!("round {round}: JoinGroup v{jv} SyncGroup v{sv} Heartbeat v{hv} LeaveGroup v{lv} OffsetCommit v{cv}");
            let group = format!("group-{round}");

            // A first join gets MEMBER_ID_REQUIRED with the id to join with (KIP-394).
            let first_a = join(&mut a, jv, &group, "").await;
            assert_eq!(first_a.error_code, code::MEMBER_ID_REQUIRED, "{what}");
            let first_b = join(&mut b, jv, &group, "").await;
            assert_eq!(first_b.error_code, code::MEMBER_ID_REQUIRED, "{what}");
            let (id_a, id_b) = (first_a.member_id.to_string(), first_b.member_id.to_string());
            assert!(!id_a.is_empty() && id_a != id_b, "{what}");

            // Both join; the answers are held until the join phase completes.
            let (ja, jb) = tokio::join!(
                join(&mut a, jv, &group, &id_a),
                join(&mut b, jv, &group, &id_b)
            );
            assert_eq!((ja.error_code, jb.error_code), (0, 0), "{what}");
            assert_eq!(ja.generation_id, jb.generation_id, "{what}");
            assert!(ja.generation_id >= 1, "{what}");
            assert_eq!(ja.leader, jb.leader, "{what}");
            assert_eq!(ja.protocol_name.as_deref(), Some("range"), "{what}");
            let generation = ja.generation_id;
            let (leader, follower) = if ja.leader.as_str() == id_a {
                (&ja, &jb)
            } else {
                (&jb, &ja)
            };
            assert!(follower.members.is_empty(), "{what}");
            let mut listed: Vec<String> = leader
                .members
                .iter()
                .map(|m| m.member_id.to_string())
                .collect();
            listed.sort();
            let mut expected = vec![id_a.clone(), id_b.clone()];
            expected.sort();
            assert_eq!(listed, expected, "{what}");
            for m in &leader.members {
                assert_eq!(
                    m.metadata,
                    Bytes::from(format!("sub-{}", m.member_id)),
                    "{what}"
                );
            }

            // Sync: the leader hands out the assignments.
            let assignments: Vec<(String, Bytes)> = vec![
                (id_a.clone(), Bytes::from_static(b"assignment-a")),
                (id_b.clone(), Bytes::from_static(b"assignment-b")),
            ];
            let a_leads = ja.leader.as_str() == id_a;
            let (sa, sb) = tokio::join!(
                sync(
                    &mut a,
                    sv,
                    &group,
                    generation,
                    &id_a,
                    if a_leads { &assignments } else { &[] }
                ),
                sync(
                    &mut b,
                    sv,
                    &group,
                    generation,
                    &id_b,
                    if a_leads { &[] } else { &assignments }
                ),
            );
            assert_eq!((sa.error_code, sb.error_code), (0, 0), "{what}");
            assert_eq!(sa.assignment, Bytes::from_static(b"assignment-a"), "{what}");
            assert_eq!(sb.assignment, Bytes::from_static(b"assignment-b"), "{what}");

            // Heartbeats: accepted in the generation; a stale generation is refused.
            assert_eq!(
                heartbeat(&mut a, hv, &group, generation, &id_a).await,
                0,
                "{what}"
            );
            assert_eq!(
                heartbeat(&mut b, hv, &group, generation, &id_b).await,
                0,
                "{what}"
            );
            assert_eq!(
                heartbeat(&mut a, hv, &group, generation - 1, &id_a).await,
                code::ILLEGAL_GENERATION,
                "{what}"
            );
            assert_eq!(
                heartbeat(&mut a, hv, &group, generation, "nobody").await,
                code::UNKNOWN_MEMBER_ID,
                "{what}"
            );

            // Described: Stable, its protocol, both members with their subscriptions and
            // assignments; a group nobody knows is Dead.
            let dv = version_for(ApiKey::DescribeGroups, round);
            let mut r = km::DescribeGroupsRequest::default();
            r.groups = vec![km::GroupId(str(&group)), km::GroupId(str("unknown"))];
            let ResponseKind::DescribeGroups(r) = a
                .call(ApiKey::DescribeGroups, dv, RequestKind::DescribeGroups(r))
                .await
            else {
                panic!()
            };
            let described = &r.groups[0];
            assert_eq!(described.error_code, 0, "DescribeGroups v{dv}, {what}");
            assert_eq!(
                (
                    described.group_state.as_str(),
                    described.protocol_type.as_str(),
                    described.protocol_data.as_str()
                ),
                ("Stable", "consumer", "range"),
                "DescribeGroups v{dv}, {what}"
            );
            let mut members: Vec<(String, Bytes, Bytes)> = described
                .members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.member_metadata.clone(),
                        m.member_assignment.clone(),
                    )
                })
                .collect();
            members.sort();
            let mut expected = vec![
                (
                    id_a.clone(),
                    Bytes::from(format!("sub-{id_a}")),
                    Bytes::from_static(b"assignment-a"),
                ),
                (
                    id_b.clone(),
                    Bytes::from(format!("sub-{id_b}")),
                    Bytes::from_static(b"assignment-b"),
                ),
            ];
            expected.sort();
            assert_eq!(members, expected, "DescribeGroups v{dv}, {what}");
            assert_eq!(
                (r.groups[1].error_code, r.groups[1].group_state.as_str()),
                (0, "Dead"),
                "DescribeGroups v{dv}, {what}"
            );
            assert!(r.groups[1].members.is_empty(), "{what}");

            // Listed once across the three brokers (each lists the groups whose home it is).
            let lv_ = version_for(ApiKey::ListGroups, round);
            let mut seen = Vec::new();
            for broker in 1..=3 {
                let mut k = Kafka::connect(kafka_addr(&cluster, broker)).await;
                let ResponseKind::ListGroups(r) = k
                    .call(
                        ApiKey::ListGroups,
                        lv_,
                        RequestKind::ListGroups(km::ListGroupsRequest::default()),
                    )
                    .await
                else {
                    panic!()
                };
                assert_eq!(r.error_code, 0, "ListGroups v{lv_}, {what}");
                for g in &r.groups {
                    if g.group_id.0.as_str() == group {
                        seen.push((g.protocol_type.to_string(), g.group_state.to_string()));
                    }
                }
            }
            let state = if lv_ >= 4 { "Stable" } else { "" };
            assert_eq!(
                seen,
                vec![("consumer".to_string(), state.to_string())],
                "ListGroups v{lv_}, {what}"
            );

            // Commits with the member's generation are accepted; a stale one is not.
            assert_eq!(
                commit(&mut a, cv, &group, generation, &id_a, 10).await,
                0,
                "{what}"
            );
            assert_eq!(
                commit(&mut b, cv, &group, generation, &id_b, 11).await,
                0,
                "{what}"
            );
            assert_eq!(
                commit(&mut a, cv, &group, generation - 1, &id_a, 12).await,
                code::ILLEGAL_GENERATION,
                "{what}"
            );
            // A simple commit (no member) while the group has members is refused too.
            assert_ne!(commit(&mut a, cv, &group, -1, "", 13).await, 0, "{what}");

            // Leave: v3+ batches both members in one request.
            if lv >= 3 {
                let mut r = km::LeaveGroupRequest::default();
                r.group_id = km::GroupId(str(&group));
                for id in [&id_a, &id_b, &"nobody".to_string()] {
                    let mut x = km::leave_group_request::MemberIdentity::default();
                    x.member_id = str(id);
                    r.members.push(x);
                }
                let ResponseKind::LeaveGroup(r) = a
                    .call(ApiKey::LeaveGroup, lv, RequestKind::LeaveGroup(r))
                    .await
                else {
                    panic!()
                };
                assert_eq!(r.error_code, 0, "{what}");
                let codes: Vec<(String, i16)> = r
                    .members
                    .iter()
                    .map(|m| (m.member_id.to_string(), m.error_code))
                    .collect();
                assert_eq!(
                    codes,
                    vec![
                        (id_a.clone(), 0),
                        (id_b.clone(), 0),
                        ("nobody".into(), code::UNKNOWN_MEMBER_ID)
                    ],
                    "{what}"
                );
            } else {
                for (kafka, id) in [(&mut a, &id_a), (&mut b, &id_b)] {
                    let mut r = km::LeaveGroupRequest::default();
                    r.group_id = km::GroupId(str(&group));
                    r.member_id = str(id);
                    let ResponseKind::LeaveGroup(r) = kafka
                        .call(ApiKey::LeaveGroup, lv, RequestKind::LeaveGroup(r))
                        .await
                    else {
                        panic!()
                    };
                    assert_eq!(r.error_code, 0, "{what}");
                }
            }
            // Gone: a heartbeat is refused, and a simple commit is accepted again (empty group).
            assert_eq!(
                heartbeat(&mut a, hv, &group, generation, &id_a).await,
                code::UNKNOWN_MEMBER_ID,
                "{what}"
            );
            assert_eq!(commit(&mut a, cv, &group, -1, "", 14).await, 0, "{what}");
        }
    });
}

/// A JoinGroup held by the coordinator past the gateway's fixed request timeout (5 s), while
/// the group waits for an old member to rejoin, is answered by the coordinator, not timed out
/// by the gateway.
#[test]
fn a_join_held_longer_than_the_request_timeout_is_answered() {
    with_cluster(6, |_world, cluster| async move {
        let mut a = Kafka::connect(kafka_addr(&cluster, 2)).await;
        let mut b = Kafka::connect(kafka_addr(&cluster, 2)).await;
        let id_a = join(&mut a, 5, "held", "").await.member_id.to_string();
        let ja = join(&mut a, 5, "held", &id_a).await;
        assert_eq!(ja.error_code, 0);
        let generation = ja.generation_id;
        let sa = sync(
            &mut a,
            3,
            "held",
            generation,
            &id_a,
            &[(id_a.clone(), Bytes::from_static(b"x"))],
        )
        .await;
        assert_eq!(sa.error_code, 0);
        // B joins: a rebalance starts; B's JoinGroup is held until A rejoins, 8 s later.
        let id_b = join(&mut b, 5, "held", "").await.member_id.to_string();
        let start = sim::time::now();
        let rejoin_a = async {
            madsim::time::sleep(Duration::from_secs(4)).await;
            assert_eq!(
                heartbeat(&mut a, 3, "held", generation, &id_a).await,
                code::REBALANCE_IN_PROGRESS
            );
            madsim::time::sleep(Duration::from_secs(4)).await;
            join(&mut a, 5, "held", &id_a).await
        };
        let (jb, ja) = tokio::join!(join(&mut b, 5, "held", &id_b), rejoin_a);
        let waited = sim::time::now() - start;
        assert_eq!((ja.error_code, jb.error_code), (0, 0));
        assert_eq!(jb.generation_id, generation + 1);
        assert!(waited >= Duration::from_secs(8), "{waited:?}");
    });
}
