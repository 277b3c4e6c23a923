//! The producer core against a model leader (the broker's own `ProducerStateTable`) over a
//! network that loses and reorders, with retention and producer-state expiry thrown in, all
//! chosen by proptest. After the faults heal, every send must have exactly one outcome, every
//! `ok` must name the offset its value has in the log, no `fail`ed value may be in the log
//! (G1a), and no value may be in the log twice unless the leader lost the producer's state
//! between the two writes (KIP-98/KIP-360: idempotence survives retries, reordering and epoch
//! bumps; a leader that forgot the producer accepts its sequence 0 again, which no client can
//! prevent).

use super::*;
use crate::testkit::{self, broker, metadata};
use broker::producer_state::{ProducerBatch, ProducerStateTable, SequenceCheck};
use proptest::prelude::*;
use protocol::api::{InitProducerIdResponse, MetadataResponse, ProduceResponse, Response};
use std::collections::BTreeSet;

const PARTITIONS: u32 = 2;

#[derive(Default)]
struct ModelPartition {
    log: Vec<String>,
    /// (producer id, epoch, sequence) of each record in the log.
    identities: Vec<(i64, i16, i32)>,
    log_start: u64,
    producers: ProducerStateTable,
    /// The log's length each time the leader lost producer state (retention or expiry).
    state_lost_at: Vec<u64>,
}

/// A leader of every partition and a controller, in one.
#[derive(Default)]
struct ModelCluster {
    partitions: BTreeMap<u32, ModelPartition>,
    /// pid -> current epoch.
    epochs: BTreeMap<i64, i16>,
    next_pid: i64,
}

impl ModelCluster {
    fn answer(&mut self, request: &Request) -> Response {
        match request {
            Request::Metadata(_) => Response::Metadata(MetadataResponse {
                metadata: metadata(1, &[("t", &[Some(1), Some(1)])], 0),
            }),
            Request::InitProducerId(request) => {
                let result = match request.current {
                    None => {
                        self.next_pid += 1;
                        self.epochs.insert(self.next_pid, 0);
                        Ok((self.next_pid, 0))
                    }
                    Some((pid, epoch)) => match self.epochs.get_mut(&pid) {
                        Some(current) if *current == epoch => {
                            *current += 1;
                            Ok((pid, *current))
                        }
                        Some(current) if *current == epoch + 1 => Ok((pid, *current)),
                        _ => Err(ErrorCode::InvalidProducerEpoch),
                    },
                };
                Response::InitProducerId(InitProducerIdResponse { result })
            }
            Request::Produce(request) => {
                let batch = RecordBatch::decode(&request.batch).expect("valid batch");
                let partition = self
                    .partitions
                    .entry(request.partition.partition)
                    .or_default();
                let producer_batch = ProducerBatch {
                    producer_id: batch.producer_id,
                    producer_epoch: batch.producer_epoch,
                    first_sequence: batch.base_sequence,
                    last_sequence: batch.last_sequence(),
                };
                let base = partition.log.len() as u64;
                let result = match partition.producers.check_and_update(producer_batch, base) {
                    Ok(SequenceCheck::Accept) => {
                        for (index, record) in batch.records.iter().enumerate() {
                            partition
                                .log
                                .push(String::from_utf8(record.value.to_vec()).unwrap());
                            partition.identities.push((
                                batch.producer_id,
                                batch.producer_epoch,
                                increment_sequence(batch.base_sequence, index as i32),
                            ));
                        }
                        Ok(base)
                    }
                    Ok(SequenceCheck::Duplicate { base_offset, .. }) => Ok(base_offset),
                    Err(broker::producer_state::ProducerStateError::UnknownProducerId {
                        ..
                    }) => Err(ErrorCode::UnknownProducerId),
                    Err(broker::producer_state::ProducerStateError::OutOfOrderSequence {
                        ..
                    }) => Err(ErrorCode::OutOfOrderSequence),
                    Err(broker::producer_state::ProducerStateError::InvalidProducerEpoch {
                        ..
                    }) => Err(ErrorCode::InvalidProducerEpoch),
                };
                Response::Produce(ProduceResponse {
                    result,
                    log_start_offset: partition.log_start,
                })
            }
            other => panic!("the model does not serve {other:?}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// The application sends this many records.
    Send(u8),
    /// The network delivers the in-flight message at this index (any order).
    Deliver(usize),
    /// The network loses it.
    Drop(usize),
    Tick(u16),
    /// Retention deletes every record of the partition (the producer's state expires with it).
    Retention(u8),
    /// The leader forgets the producer without retention (fault `expire-pid`).
    ExpireProducer(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u8..4).prop_map(Step::Send),
        8 => any::<usize>().prop_map(Step::Deliver),
        1 => any::<usize>().prop_map(Step::Drop),
        3 => (1u16..1_500).prop_map(Step::Tick),
        1 => (0u8..PARTITIONS as u8).prop_map(Step::Retention),
        1 => (0u8..PARTITIONS as u8).prop_map(Step::ExpireProducer),
    ]
}

enum Message {
    ToCluster {
        to: SocketAddr,
        correlation_id: u64,
        request: Request,
    },
    ToProducer {
        from: SocketAddr,
        correlation_id: u64,
        response: Response,
    },
}

struct World {
    producer: Producer,
    cluster: ModelCluster,
    network: Vec<Message>,
    now_ms: u64,
    ops: Vec<Op>,
    sent: u64,
}

impl World {
    fn absorb(&mut self) {
        for action in self.producer.poll_actions() {
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
                Action::Record(op) => self.ops.push(op),
            }
        }
        assert_eq!(
            self.producer.pending_sends(),
            self.producer.pending_sends_queued(),
            "the pending count is the sends still queued"
        );
    }

    fn deliver(&mut self, index: usize) {
        match self.network.remove(index) {
            Message::ToCluster {
                to,
                correlation_id,
                request,
            } => {
                assert!(
                    to == broker(1)
                        || to == testkit::controller()
                        || to == broker(2)
                        || to == broker(3)
                );
                if to == broker(2) || to == broker(3) {
                    // Metadata from another broker: the same view.
                    assert!(matches!(request, Request::Metadata(_)));
                }
                let response = self.cluster.answer(&request);
                self.network.push(Message::ToProducer {
                    from: to,
                    correlation_id,
                    response,
                });
            }
            Message::ToProducer {
                from,
                correlation_id,
                response,
            } => {
                self.producer
                    .on_response(self.now_ms, correlation_id, from, response);
                self.absorb();
            }
        }
    }

    fn run(&mut self, step: Step) {
        match step {
            Step::Send(count) => {
                for _ in 0..count {
                    let value = format!("v-{}", self.sent);
                    self.sent += 1;
                    self.producer.send(self.now_ms, "t", None, value);
                }
                self.absorb();
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
            Step::Tick(ms) => {
                self.now_ms += ms as u64;
                self.producer.on_tick(self.now_ms);
                self.absorb();
            }
            Step::Retention(partition) => {
                let partition = self.cluster.partitions.entry(partition as u32).or_default();
                partition.log_start = partition.log.len() as u64;
                partition.producers.expire_below(partition.log_start);
                partition.state_lost_at.push(partition.log.len() as u64);
            }
            Step::ExpireProducer(partition) => {
                let partition = self.cluster.partitions.entry(partition as u32).or_default();
                for pid in 1..=self.cluster.next_pid {
                    partition.producers.expire_producer(pid);
                }
                partition.state_lost_at.push(partition.log.len() as u64);
            }
        }
    }

    /// Faults end: every message is delivered in order, time passes, until nothing is pending.
    fn heal(&mut self) {
        for _ in 0..2_000 {
            while !self.network.is_empty() {
                self.deliver(0);
            }
            if self.producer.pending_sends() == 0 {
                return;
            }
            self.now_ms += 100;
            self.producer.on_tick(self.now_ms);
            self.absorb();
        }
        panic!(
            "{} sends still pending after the heal: {:?}",
            self.producer.pending_sends(),
            self.producer.status()
        );
    }
}

fn check(world: &World) {
    let mut outcomes: BTreeMap<String, Vec<&Op>> = BTreeMap::new();
    for op in &world.ops {
        match op {
            Op::SendOk { value, .. } | Op::SendFail { value, .. } | Op::SendInfo { value, .. } => {
                outcomes.entry(value.to_string()).or_default().push(op)
            }
            _ => {}
        }
    }
    assert_eq!(
        outcomes.len() as u64,
        world.sent,
        "every send has an outcome"
    );
    for (value, ops) in &outcomes {
        assert_eq!(ops.len(), 1, "{value} has one outcome: {ops:?}");
    }
    let mut in_log = BTreeSet::new();
    for (partition, state) in &world.cluster.partitions {
        let mut first_offset: BTreeMap<&String, u64> = BTreeMap::new();
        for (offset, value) in state.log.iter().enumerate() {
            let offset = offset as u64;
            in_log.insert(value.clone());
            let Some(first) = first_offset.get(value) else {
                first_offset.insert(value, offset);
                continue;
            };
            // A leader that lost the producer's state accepts sequence 0 from it as from a new
            // producer, so a batch retried unchanged across that loss is written again: no
            // client can prevent it (KIP-360). Any other duplicate is the client's fault, e.g.
            // a batch re-sequenced under the same epoch (KIP-360's unsafe reset).
            let same_attempt =
                state.identities[*first as usize] == state.identities[offset as usize];
            let explained = same_attempt
                && state
                    .state_lost_at
                    .iter()
                    .any(|lost| *first < *lost && *lost <= offset);
            assert!(
                explained,
                "{value} is in partition {partition}'s log at {first} and {offset} ({:?} and \
                 {:?}), not a retry across lost producer state",
                state.identities[*first as usize], state.identities[offset as usize]
            );
        }
    }
    for op in &world.ops {
        match op {
            Op::SendOk {
                value,
                partition,
                offset,
                ..
            } => {
                let log = &world.cluster.partitions[partition].log;
                assert_eq!(
                    log.get(*offset as usize).map(String::as_str),
                    Some(&**value),
                    "ok at its offset"
                );
            }
            Op::SendFail { value, error } => {
                assert!(
                    !in_log.contains(&**value),
                    "G1a: {value} failed ({error}) but is in the log"
                );
            }
            _ => {}
        }
    }
}

fn producer(on_state_loss: ProducerStateLossPolicy) -> Producer {
    let mut config = ProducerConfig::new("producer-0");
    config.batch_bytes_max = 200;
    config.delivery_timeout_ms = 20_000;
    config.producer_state_loss_policy = on_state_loss;
    Producer::new(config, testkit::cluster(), 0, testkit::rng())
}

fn world(on_state_loss: ProducerStateLossPolicy) -> World {
    let mut world = World {
        producer: producer(on_state_loss),
        cluster: ModelCluster::default(),
        network: Vec::new(),
        now_ms: 0,
        ops: Vec::new(),
        sent: 0,
    };
    world.producer.on_tick(0);
    world.absorb();
    world
}

fn run_case(on_state_loss: ProducerStateLossPolicy, steps: Vec<Step>) {
    let mut world = world(on_state_loss);
    for step in steps {
        world.run(step);
    }
    world.heal();
    check(&world);
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 1..300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_send_has_one_truthful_outcome_and_nothing_is_duplicated(steps in steps()) {
        run_case(ProducerStateLossPolicy::BumpEpoch, steps);
    }
}

/// The property can fail: with KIP-360's unsafe reset (bug `pid-reset-without-bump`) the model
/// finds a duplicate.
#[test]
fn the_model_catches_the_unsafe_sequence_reset() {
    let config = ProptestConfig {
        cases: 1_024,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        config.clone(),
        proptest::test_runner::TestRng::deterministic_rng(config.rng_algorithm),
    );
    let result = runner.run(&steps(), |steps| {
        run_case(ProducerStateLossPolicy::ResetWithoutBump, steps);
        Ok(())
    });
    assert!(result.is_err(), "1024 cases and no duplicate found");
}

/// Without faults, everything is acknowledged.
#[test]
fn without_faults_every_send_is_acknowledged() {
    let mut world = world(ProducerStateLossPolicy::BumpEpoch);
    for _ in 0..50 {
        world.run(Step::Send(3));
        world.run(Step::Tick(10));
        while !world.network.is_empty() {
            world.deliver(0);
        }
    }
    world.heal();
    check(&world);
    assert_eq!(world.producer.status().acked, 150);
}
