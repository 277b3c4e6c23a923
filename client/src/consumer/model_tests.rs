//! The consumer core against a model leader and coordinator over a network that loses and
//! reorders, with retention evicting records, consumer crashes and clean restarts, all chosen
//! by proptest. The model writes the whole history (the producer's sends, the leader's log
//! starts, the faults, and every event the consumer records) and the oracle checks it: no
//! poll-skip, no nonmonotonic poll, no duplicate delivery beyond the committed window, no lost
//! or unseen write after the heal, no commit regression, no spinloop.

use super::*;
use crate::testkit::{self, metadata};
use bytes::Bytes;
use proptest::prelude::*;
use protocol::api::{
    FetchResponse, ListOffsetsResponse, MetadataResponse, OffsetCommitResponse,
    OffsetFetchResponse, Response,
};
use protocol::batch::Record;

const PARTITIONS: u32 = 2;
const PROCESS: &str = "consumer-0";

#[derive(Default)]
struct ModelLog {
    values: Vec<String>,
    log_start: u64,
}

#[derive(Default)]
struct ModelCluster {
    logs: BTreeMap<u32, ModelLog>,
    committed: BTreeMap<TopicPartition, u64>,
}

impl ModelCluster {
    fn answer(&mut self, request: &Request, batch_records: usize) -> Response {
        match request {
            Request::Metadata(_) => Response::Metadata(MetadataResponse {
                metadata: metadata(1, &[("t", &[Some(1), Some(1)])], 0),
            }),
            Request::OffsetFetch(request) => Response::OffsetFetch(OffsetFetchResponse {
                result: Ok(request
                    .partitions
                    .iter()
                    .flatten()
                    .map(|p| (p.clone(), self.committed.get(p).copied()))
                    .collect()),
            }),
            Request::OffsetCommit(request) => {
                for (partition, offset) in &request.offsets {
                    self.committed.insert(partition.clone(), *offset);
                }
                Response::OffsetCommit(OffsetCommitResponse { result: Ok(()) })
            }
            Request::ListOffsets(request) => {
                let log = self.logs.entry(request.partition.partition).or_default();
                let offset = match request.spec {
                    OffsetSpec::Earliest => log.log_start,
                    OffsetSpec::Latest | OffsetSpec::LogEnd => log.values.len() as u64,
                };
                Response::ListOffsets(ListOffsetsResponse { result: Ok(offset) })
            }
            Request::Fetch(request) => {
                let log = self.logs.entry(request.partition.partition).or_default();
                let end = log.values.len() as u64;
                let result = if request.offset < log.log_start {
                    Err(ErrorCode::OffsetEvicted {
                        next_available: log.log_start,
                    })
                } else if request.offset > end {
                    Err(ErrorCode::OffsetOutOfRange)
                } else {
                    // Batches of `batch_records`, the first one starting at or before the offset,
                    // as a log's segments would serve them.
                    let size = batch_records.max(1) as u64;
                    let mut base = log.log_start.max(request.offset - request.offset % size);
                    let mut batches = Vec::new();
                    while base < end && batches.len() < 2 {
                        let last = end.min(base + size);
                        let mut batch = RecordBatch::new(
                            (base..last)
                                .map(|o| {
                                    Record::new(
                                        None,
                                        Bytes::from(log.values[o as usize].clone()),
                                        0,
                                    )
                                })
                                .collect(),
                        );
                        batch.base_offset = base;
                        batches.push(batch.encode());
                        base = last;
                    }
                    Ok(batches)
                };
                Response::Fetch(FetchResponse {
                    result,
                    high_watermark: end,
                    log_start_offset: log.log_start,
                    leader_epoch: 0,
                    preferred_read_replica: None,
                })
            }
            other => panic!("the model does not serve {other:?}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// The producer appends records to a partition (acknowledged sends).
    Append(u8, u8),
    /// Retention moves a partition's log start forward by this many records (at most to its end).
    Retention(u8, u8),
    Deliver(usize),
    Drop(usize),
    Tick(u16),
    /// The application polls up to this many records.
    Poll(u8),
    /// The application commits (manual mode; a no-op request otherwise).
    Commit,
    /// The consumer process crashes and starts again.
    Crash,
    /// The consumer closes cleanly (as far as the network allows) and starts again.
    CloseAndRestart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..PARTITIONS as u8, 1u8..8).prop_map(|(p, n)| Step::Append(p, n)),
        1 => (0u8..PARTITIONS as u8, 1u8..12).prop_map(|(p, n)| Step::Retention(p, n)),
        8 => any::<usize>().prop_map(Step::Deliver),
        1 => any::<usize>().prop_map(Step::Drop),
        3 => (1u16..1_200).prop_map(Step::Tick),
        4 => (1u8..10).prop_map(Step::Poll),
        1 => Just(Step::Commit),
        1 => Just(Step::Crash),
        1 => Just(Step::CloseAndRestart),
    ]
}

enum Message {
    ToCluster {
        to: SocketAddr,
        correlation_id: u64,
        request: Request,
    },
    ToConsumer {
        from: SocketAddr,
        correlation_id: u64,
        response: Response,
    },
}

struct World {
    config: ConsumerConfig,
    consumer: Consumer,
    incarnation: u64,
    cluster: ModelCluster,
    network: Vec<Message>,
    now_ms: u64,
    batch_records: usize,
    history: Vec<oracle::Event<'static>>,
    sent: u64,
}

impl World {
    fn new(config: ConsumerConfig, batch_records: usize) -> World {
        let consumer = Consumer::new(config.clone(), testkit::cluster(), 0, testkit::rng());
        let mut world = World {
            config,
            consumer,
            incarnation: 0,
            cluster: ModelCluster::default(),
            network: Vec::new(),
            now_ms: 0,
            batch_records,
            history: Vec::new(),
            sent: 0,
        };
        world.tick(0);
        world
    }

    fn record(&mut self, process: &str, op: Op) {
        self.history.push(oracle::Event::new(
            self.now_ms * 1_000_000,
            process.to_string(),
            op,
        ));
    }

    fn absorb(&mut self) {
        for action in self.consumer.poll_actions() {
            match action {
                Action::Send {
                    to,
                    correlation_id,
                    request,
                } => self.network.push(Message::ToCluster {
                    to,
                    correlation_id,
                    request,
                }),
                Action::Record(op) => self.record(PROCESS, op),
            }
        }
    }

    fn tick(&mut self, ms: u64) {
        self.now_ms += ms;
        self.consumer.on_tick(self.now_ms);
        self.absorb();
    }

    fn deliver(&mut self, index: usize) {
        match self.network.remove(index) {
            Message::ToCluster {
                to,
                correlation_id,
                request,
            } => {
                let response = self.cluster.answer(&request, self.batch_records);
                self.network.push(Message::ToConsumer {
                    from: to,
                    correlation_id,
                    response,
                });
            }
            Message::ToConsumer {
                from,
                correlation_id,
                response,
            } => {
                self.consumer
                    .on_response(self.now_ms, correlation_id, from, response);
                self.absorb();
            }
        }
    }

    fn poll(&mut self, records_max: usize) {
        self.consumer.poll(self.now_ms, records_max);
        self.absorb();
    }

    fn restart(&mut self) {
        self.incarnation += 1;
        self.consumer = Consumer::new(
            self.config.clone(),
            testkit::cluster(),
            self.incarnation,
            testkit::rng(),
        );
        self.tick(0);
    }

    fn run(&mut self, step: Step) {
        match step {
            Step::Append(partition, count) => {
                let log = self.cluster.logs.entry(partition as u32).or_default();
                let mut acked = Vec::new();
                for _ in 0..count {
                    let value = format!("producer-0-{}", self.sent);
                    self.sent += 1;
                    acked.push((value.clone(), log.values.len() as u64));
                    log.values.push(value);
                }
                for (value, offset) in acked {
                    self.record(
                        "producer-0",
                        Op::SendInvoke {
                            topic: "t".into(),
                            key: None,
                            value: value.clone().into(),
                        },
                    );
                    self.record(
                        "producer-0",
                        Op::SendOk {
                            value: value.into(),
                            topic: "t".into(),
                            partition: partition as u32,
                            offset,
                            pid: Some(1),
                            epoch: Some(0),
                            sequence: Some(offset as i32),
                            acks: oracle::SendAcks::All,
                        },
                    );
                }
            }
            Step::Retention(partition, count) => {
                let log = self.cluster.logs.entry(partition as u32).or_default();
                let log_start = (log.log_start + count as u64).min(log.values.len() as u64);
                if log_start > log.log_start {
                    log.log_start = log_start;
                    self.record(
                        oracle::event::CLUSTER_PROCESS,
                        Op::LogStart {
                            topic: "t".into(),
                            partition: partition as u32,
                            offset: log_start,
                            broker: None,
                        },
                    );
                }
            }
            Step::Deliver(index) if !self.network.is_empty() => {
                let index = index % self.network.len();
                self.deliver(index);
            }
            Step::Drop(index) if !self.network.is_empty() => {
                let index = index % self.network.len();
                self.network.remove(index);
            }
            Step::Deliver(_) | Step::Drop(_) => {}
            Step::Tick(ms) => self.tick(ms as u64),
            Step::Poll(count) => self.poll(count as usize),
            Step::Commit => {
                self.consumer.commit(self.now_ms);
                self.absorb();
            }
            Step::Crash => {
                self.record(PROCESS, Op::Crash);
                self.restart();
            }
            Step::CloseAndRestart => {
                self.consumer.close(self.now_ms);
                self.absorb();
                for _ in 0..200 {
                    if self.consumer.is_closed() {
                        break;
                    }
                    while !self.network.is_empty() {
                        self.deliver(0);
                    }
                    self.tick(50);
                }
                if !self.consumer.is_closed() || self.consumer.status().close_failed {
                    // Gave up on the last commit: the process just stops, as if crashed.
                    self.record(PROCESS, Op::Crash);
                }
                self.restart();
            }
        }
    }

    /// Faults end: every message is delivered, time passes, the application polls, until the
    /// consumer has delivered every partition to its end (or the bound is reached: the oracle
    /// then reports what was left unseen).
    fn heal(&mut self) {
        self.record(
            oracle::event::NEMESIS_PROCESS,
            Op::Fault {
                fault: "heal".into(),
                target: None,
            },
        );
        for _ in 0..3_000 {
            while !self.network.is_empty() {
                self.deliver(0);
            }
            self.poll(100);
            let done = (0..PARTITIONS).all(|p| {
                let end = self
                    .cluster
                    .logs
                    .get(&p)
                    .map_or(0, |log| log.values.len() as u64);
                self.consumer
                    .status()
                    .partitions
                    .get(&TopicPartition::new("t", p))
                    .is_some_and(|progress| progress.position >= end)
            });
            if done {
                return;
            }
            self.tick(20);
        }
    }
}

/// The policies a case sets away from the correct consumer's defaults.
type Policies = fn(&mut ConsumerConfig);

fn correct(_: &mut ConsumerConfig) {}

fn config(commit_mode: CommitMode, policies: Policies) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(
        PROCESS,
        Subscription::Group {
            topics: vec!["t".into()],
            member_index: 0,
            members: 1,
        },
    );
    config.commit_mode = commit_mode;
    config.fetch_buffer_records_max = 6;
    policies(&mut config);
    config
}

fn commit_mode() -> impl Strategy<Value = CommitMode> {
    prop_oneof![
        Just(CommitMode::Auto { offset_flush_ms: 0 }),
        (1u64..300).prop_map(|offset_flush_ms| CommitMode::Auto { offset_flush_ms }),
        Just(CommitMode::Manual),
    ]
}

fn run_case(
    commit_mode: CommitMode,
    policies: Policies,
    batch_records: usize,
    steps: Vec<Step>,
) -> oracle::CheckResult {
    let mut world = World::new(config(commit_mode, policies), batch_records);
    for step in steps {
        world.run(step);
    }
    world.heal();
    oracle::check_events(&world.history)
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 1..250)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_oracle_finds_nothing_wrong_with_the_consumer(
        commit_mode in commit_mode(),
        batch_records in 1usize..6,
        steps in steps(),
    ) {
        let result = run_case(commit_mode, correct, batch_records, steps);
        prop_assert!(result.valid, "anomalies: {:#?}", result.anomalies);
    }
}

/// The property can fail: each consumer bug's policy makes the oracle find something.
#[test]
fn the_model_and_the_oracle_catch_the_consumer_bugs() {
    let bugs: [(&str, Policies, &str); 3] = [
        (
            "commit-on-fetch",
            |config| config.commit_position_policy = CommitPositionPolicy::Fetched,
            "lost-write",
        ),
        (
            "last-record-never-committed",
            |config| config.commit_position_policy = CommitPositionPolicy::LastDelivered,
            "duplicate-delivery",
        ),
        (
            "evicted-offset-retry-loop",
            |config| config.offset_evicted_policy = OffsetEvictedPolicy::RetrySameOffset,
            "spinloop",
        ),
    ];
    for (bug, policies, anomaly) in bugs {
        let config = ProptestConfig {
            cases: 2_048,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let mut runner = proptest::test_runner::TestRunner::new_with_rng(
            config.clone(),
            proptest::test_runner::TestRng::deterministic_rng(config.rng_algorithm),
        );
        let result = runner.run(
            &(commit_mode(), 1usize..6, steps()),
            |(mode, size, steps)| {
                let result = run_case(mode, policies, size, steps);
                prop_assert!(!result.counts.contains_key(anomaly));
                Ok(())
            },
        );
        assert!(result.is_err(), "{bug}: no {anomaly} found in 2048 cases");
    }
}
