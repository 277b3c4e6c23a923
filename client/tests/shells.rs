//! The client node shells in the simulation, against a *stub* cluster: one node that answers
//! every API as a single broker + controller would (an in-memory log per partition, KIP-98
//! deduplication, committed offsets). It checks the shells' plumbing — transport, ticks,
//! history recording, crash/restart, clean close, determinism — not the broker: the tests
//! against the real cluster (`broker::node`) are in `scenarios/tests/clients_on_cluster.rs`.

use bytes::Bytes;
use client::node::{ConsumerNode, ConsumerWorkload, ProducerNode, ProducerWorkload};
use client::{
    ClusterAddrs, CommitMode, ConsumerConfig, History, ProducerConfig, ResetPolicy, Subscription,
};
use protocol::api::*;
use protocol::batch::{Record, RecordBatch};
use sim::net::Socket;
use sim::{RunLimits, Seed, World};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TOPIC: &str = "t";
const PARTITIONS: u32 = 2;

#[derive(Default)]
struct StubPartition {
    /// (value, producer id, epoch, sequence) per offset.
    records: Vec<Bytes>,
    /// (pid, epoch, base sequence, count) -> base offset of appended batches.
    batches: BTreeMap<(i64, i16, i32, u32), u64>,
    /// pid -> (epoch, next sequence).
    producers: BTreeMap<i64, (i16, i32)>,
}

#[derive(Default)]
struct Stub {
    partitions: BTreeMap<u32, StubPartition>,
    committed: BTreeMap<(String, TopicPartition), u64>,
    next_pid: i64,
    epochs: BTreeMap<i64, i16>,
}

impl Stub {
    fn answer(&mut self, request: Request, me: std::net::SocketAddr) -> Response {
        match request {
            Request::Metadata(_) => Response::Metadata(MetadataResponse {
                metadata: ClusterMetadata {
                    version: 1,
                    brokers: vec![(1, me)],
                    topics: vec![TopicMetadata {
                        name: TOPIC.to_string(),
                        partitions: (0..PARTITIONS)
                            .map(|partition| PartitionMetadata {
                                partition,
                                leader: Some(1),
                                leader_epoch: 0,
                                partition_epoch: 0,
                                replicas: vec![1],
                                isr: vec![1],
                            })
                            .collect(),
                    }],
                },
            }),
            Request::InitProducerId(request) => {
                let result = match request.current {
                    None => {
                        self.next_pid += 1;
                        self.epochs.insert(self.next_pid, 0);
                        Ok((self.next_pid, 0))
                    }
                    Some((pid, epoch)) => {
                        let current = self.epochs.entry(pid).or_insert(0);
                        if *current == epoch {
                            *current += 1;
                        }
                        Ok((pid, *current))
                    }
                };
                Response::InitProducerId(InitProducerIdResponse { result })
            }
            Request::Produce(request) => {
                let batch =
                    RecordBatch::decode(&request.batch).expect("the client encodes valid batches");
                let partition = self
                    .partitions
                    .entry(request.partition.partition)
                    .or_default();
                let count = batch.records.len() as u32;
                let key = (
                    batch.producer_id,
                    batch.producer_epoch,
                    batch.base_sequence,
                    count,
                );
                let result = if let Some(offset) = partition.batches.get(&key) {
                    Ok(*offset)
                } else {
                    let expected = match partition.producers.get(&batch.producer_id) {
                        Some((epoch, next)) if *epoch == batch.producer_epoch => *next,
                        _ => 0,
                    };
                    if batch.base_sequence != expected {
                        Err(ErrorCode::OutOfOrderSequence)
                    } else {
                        let base = partition.records.len() as u64;
                        for record in &batch.records {
                            partition.records.push(record.value.clone());
                        }
                        partition.batches.insert(key, base);
                        partition.producers.insert(
                            batch.producer_id,
                            (batch.producer_epoch, batch.base_sequence + count as i32),
                        );
                        Ok(base)
                    }
                };
                Response::Produce(ProduceResponse {
                    result,
                    log_start_offset: 0,
                })
            }
            Request::Fetch(request) => {
                let partition = self
                    .partitions
                    .entry(request.partition.partition)
                    .or_default();
                let end = partition.records.len() as u64;
                let result = if request.offset > end {
                    Err(ErrorCode::OffsetOutOfRange)
                } else if request.offset == end {
                    Ok(vec![])
                } else {
                    let last = end.min(request.offset + 100);
                    let mut batch = RecordBatch::new(
                        (request.offset..last)
                            .map(|o| Record::new(None, partition.records[o as usize].clone(), 0))
                            .collect(),
                    );
                    batch.base_offset = request.offset;
                    Ok(vec![batch.encode()])
                };
                Response::Fetch(FetchResponse {
                    result,
                    high_watermark: end,
                    log_start_offset: 0,
                    leader_epoch: 0,
                    preferred_read_replica: None,
                })
            }
            Request::ListOffsets(request) => {
                let partition = self
                    .partitions
                    .entry(request.partition.partition)
                    .or_default();
                let offset = match request.spec {
                    OffsetSpec::Earliest => 0,
                    OffsetSpec::Latest | OffsetSpec::LogEnd => partition.records.len() as u64,
                };
                Response::ListOffsets(ListOffsetsResponse { result: Ok(offset) })
            }
            Request::OffsetCommit(request) => {
                for (partition, offset) in request.offsets {
                    self.committed
                        .insert((request.group.clone(), partition), offset);
                }
                Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) })
            }
            Request::OffsetFetch(request) => {
                let answers = request
                    .partitions
                    .into_iter()
                    .flatten()
                    .map(|partition| {
                        let offset = self
                            .committed
                            .get(&(request.group.clone(), partition.clone()))
                            .copied();
                        (partition, offset)
                    })
                    .collect();
                Response::OffsetFetch(OffsetFetchResponse {
                    result: Ok(answers),
                })
            }
            other => panic!("the stub does not serve {other:?}"),
        }
    }
}

/// Starts the stub cluster node; answers its address.
fn start_stub(world: &World) -> ClusterAddrs {
    let addr = world.add_node("stub-cluster", |context| async move {
        let socket = Socket::<Envelope>::bind(context.addr).await.expect("bind");
        let mut stub = Stub::default();
        while let Ok((envelope, from)) = socket.recv().await {
            if let Envelope::Request {
                correlation_id,
                request,
            } = envelope
            {
                let response = stub.answer(request, context.addr);
                socket
                    .send(
                        from,
                        Envelope::Response {
                            correlation_id,
                            response,
                        },
                    )
                    .await;
            }
        }
    });
    ClusterAddrs {
        bootstrap: vec![addr],
        controller: addr,
    }
}

/// What one run produced, for the checks.
struct Run {
    lines: Vec<String>,
    trace_hash: sim::TraceHash,
}

fn run(seed: u64, packet_loss: f64) -> Run {
    let outcome = sim::run(
        Seed::new(seed),
        RunLimits::default(),
        move |world: World| async move {
            let history = History::new(world.trace().clone());
            let cluster = start_stub(&world);
            if packet_loss > 0.0 {
                world.set_packet_loss(packet_loss);
            }
            let mut producer_config = ProducerConfig::new("producer-0");
            producer_config.linger_ms = 2;
            let mut workload = ProducerWorkload::new(TOPIC, 2_000);
            workload.pending_max = 200;
            let producer = ProducerNode::start(
                &world,
                cluster.clone(),
                producer_config,
                workload,
                history.clone(),
            );
            let subscription = Subscription::Group {
                topics: vec![TOPIC.to_string()],
                member_index: 0,
                members: 1,
            };
            let mut consumer_config = ConsumerConfig::new("consumer-0", subscription);
            consumer_config.reset_policy = ResetPolicy::Earliest;
            consumer_config.commit_mode = CommitMode::Auto {
                offset_flush_ms: 50,
            };
            let consumer = ConsumerNode::start(
                &world,
                cluster,
                consumer_config,
                ConsumerWorkload {
                    processing_delay_ms: 1,
                    poll_records_max: 20,
                    ..ConsumerWorkload::default()
                },
                history.clone(),
            );
            madsim::time::sleep(Duration::from_millis(700)).await;
            consumer.crash();
            madsim::time::sleep(Duration::from_millis(100)).await;
            consumer.restart();
            assert!(
                producer.wait_done(Duration::from_secs(120)).await,
                "the producer finished"
            );
            let acked = producer.progress().status.acked;
            let read_all = client::node::wait_for(Duration::from_secs(120), || {
                let status = consumer.progress().status;
                status.caught_up
                    && status.partitions.values().map(|p| p.position).sum::<u64>() >= acked
            })
            .await;
            assert!(
                read_all,
                "the consumer read everything: {:?}",
                consumer.progress()
            );
            assert!(
                consumer.close_and_wait(Duration::from_secs(10)).await,
                "the consumer closed"
            );
            producer.close();
            assert!(producer.wait_done(Duration::from_secs(10)).await);
            madsim::time::sleep(Duration::from_millis(50)).await;
            assert!(producer.progress().status.closed);
            assert_eq!(consumer.progress().incarnations, 2);
            history.lines()
        },
    );
    assert!(
        outcome.status.is_completed(),
        "{}",
        outcome.status.describe()
    );
    if std::env::var_os("SHELLS_DUMP").is_some() {
        let lines = outcome.value.as_ref().expect("completed");
        std::fs::write(format!("/tmp/shells-{seed}.jsonl"), lines.join("\n")).expect("dump");
    }
    Run {
        lines: outcome.value.expect("completed"),
        trace_hash: outcome.trace_hash,
    }
}

fn parse(lines: &[String]) -> Vec<oracle::Event<'static>> {
    let text = lines.join("\n");
    let mut reader = oracle::HistoryReader::new(text.as_bytes());
    let mut events = Vec::new();
    while let Some((_, event)) = reader
        .next_event()
        .expect("every line is docs/history-format.md")
    {
        events.push(event);
    }
    events
}

fn check_history(lines: &[String]) {
    let events = parse(lines);
    let mut acked = BTreeSet::new();
    let mut read = BTreeSet::new();
    let mut crashes = 0;
    for event in &events {
        match &event.op {
            oracle::Op::SendOk { value, .. } => {
                acked.insert(value.to_string());
            }
            oracle::Op::PollOk { records } => {
                for record in records.iter() {
                    read.insert(record.value.to_string());
                }
            }
            oracle::Op::Crash => crashes += 1,
            _ => {}
        }
    }
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.contains(r#""f":"send""#)
                && (l.contains(r#""type":"fail""#) || l.contains(r#""type":"info""#))
        })
        .take(5)
        .collect();
    assert_eq!(
        acked.len(),
        2_000,
        "every send acknowledged; not: {failures:?}"
    );
    let unread: Vec<_> = acked.difference(&read).collect();
    assert!(unread.is_empty(), "acknowledged, never read: {unread:?}");
    assert_eq!(crashes, 1);
    let result = oracle::check_events(&events);
    assert!(
        result.valid,
        "the oracle finds anomalies: {:?}",
        result.anomalies
    );
}

#[test]
fn producer_and_consumer_shells_exchange_records_through_a_consumer_crash() {
    let run = run(1, 0.0);
    check_history(&run.lines);
    let first: Vec<&str> = run.lines.iter().take(2).map(String::as_str).collect();
    assert!(
        first.iter().all(|line| line.contains(r#""f":"start""#)),
        "{first:?}"
    );
}

#[test]
fn shells_survive_packet_loss() {
    let run = run(2, 0.05);
    check_history(&run.lines);
}

#[test]
fn a_seed_replays_to_the_same_history_and_trace_hash() {
    let a = run(3, 0.02);
    let b = run(3, 0.02);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.lines, b.lines);
    let c = run(4, 0.02);
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, another run");
}

#[test]
fn the_history_records_assign_commits_and_close() {
    let run = run(5, 0.0);
    let events = parse(&run.lines);
    let consumer: Vec<&oracle::Op> = events
        .iter()
        .filter(|e| e.process == "consumer-0")
        .map(|e| &e.op)
        .collect();
    assert!(consumer
        .iter()
        .any(|op| matches!(op, oracle::Op::Assign { .. })));
    assert!(consumer.iter().any(|op| matches!(
        op,
        oracle::Op::Commit {
            phase: oracle::CommitPhase::Ok,
            ..
        }
    )));
    assert!(matches!(consumer.last(), Some(oracle::Op::Close)));
}
