//! Histories of a correct system, from a seed: for the property tests and the benchmark.
//!
//! The model is small and sequential: one topic whose partitions are in-memory logs; producers that send one
//! record at a time (keyed by a hash of the key, keyless round robin over the partitions their metadata knows);
//! consumers that each read every partition in order, commit their positions, crash and restart at their
//! committed offsets, close cleanly (committing first) and restart where they were; retention that advances the
//! log start (consumers that fall below it get `offset_evicted` with the right `next_available` and reset to it);
//! one partition growth, after which producers refresh their metadata within a few sends and consumers are
//! assigned the new partitions; nemesis faults (during which sends and requests may fail); then a `heal`, after
//! which nothing fails, and a final drain in which every consumer catches up on every partition.
//!
//! Every history it makes is valid; `tests/model.rs` checks that for many seeds, and that single mutations of
//! these histories are caught.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::event::{
    api, error_code, reset_reason, CommitPhase, Event, FaultKind, Op, Record, Request,
    TopicPartitionOffset,
};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub seed: u64,
    /// The history has at least this many events: the main phase stops here, then every consumer drains.
    pub events_min: usize,
    pub producers: u32,
    pub consumers: u32,
    pub topic: String,
    pub partitions_initial: u32,
    /// The topic grows to this many partitions during the fault phase (no growth when equal to the initial count).
    pub partitions_grown: u32,
    /// The `heal` comes after this share of `events_min`, in percent.
    pub heal_at_percent: u32,
}

impl GenConfig {
    /// Three producers, three consumers, topic `events` growing from 3 to 4 partitions, heal at 70%.
    pub fn new(seed: u64, events_min: usize) -> GenConfig {
        GenConfig {
            seed,
            events_min,
            producers: 3,
            consumers: 3,
            topic: "events".to_string(),
            partitions_initial: 3,
            partitions_grown: 4,
            heal_at_percent: 70,
        }
    }
}

/// Most records one poll delivers.
const POLL_RECORDS_MAX: u64 = 8;
/// Most offsets one retention step removes.
const RETENTION_STEP_OFFSETS_MAX: u64 = 32;
/// Simulated time between two events: 1 µs to 2 ms.
const EVENT_GAP_NS_MIN: u64 = 1_000;
const EVENT_GAP_NS_MAX: u64 = 2_000_000;
/// Distinct keys of keyed sends.
const KEYS: u32 = 32;

struct Producer {
    name: String,
    sent: u64,
    /// The partition count in this producer's metadata.
    known_partitions: u32,
    /// Sends left before this producer refreshes its metadata, once the topic grew.
    sends_until_refresh: Option<u32>,
    round_robin: u32,
}

struct Consumer {
    name: String,
    alive: bool,
    /// Position per partition (next offset to read), for the partitions assigned to it.
    positions: Vec<u64>,
    /// Durably committed offsets per partition (survive crashes).
    committed: Vec<Option<u64>>,
}

struct Model {
    rng: ChaCha8Rng,
    time_ns: u64,
    events: Vec<Event<'static>>,
    topic: String,
    /// Values per partition, index = offset.
    logs: Vec<Vec<String>>,
    log_starts: Vec<u64>,
    producers: Vec<Producer>,
    consumers: Vec<Consumer>,
    healed: bool,
    leader_epoch: i32,
}

/// Generates a valid history (see the module docs).
pub fn generate(config: &GenConfig) -> Vec<Event<'static>> {
    assert!(config.partitions_initial >= 1 && config.partitions_grown >= config.partitions_initial);
    assert!(config.producers >= 1 && config.consumers >= 1);
    let mut model = Model {
        rng: ChaCha8Rng::seed_from_u64(config.seed),
        time_ns: 0,
        events: Vec::with_capacity(config.events_min + config.events_min / 8 + 64),
        topic: config.topic.clone(),
        logs: vec![Vec::new(); config.partitions_initial as usize],
        log_starts: vec![0; config.partitions_initial as usize],
        producers: (0..config.producers)
            .map(|index| Producer {
                name: format!("producer-{index}"),
                sent: 0,
                known_partitions: config.partitions_initial,
                sends_until_refresh: None,
                round_robin: index,
            })
            .collect(),
        consumers: (0..config.consumers)
            .map(|index| Consumer {
                name: format!("consumer-{index}"),
                alive: true,
                positions: vec![0; config.partitions_initial as usize],
                committed: vec![None; config.partitions_initial as usize],
            })
            .collect(),
        healed: false,
        leader_epoch: 0,
    };
    model.begin();
    let grow_at = config.events_min * 2 / 5;
    let heal_at = config.events_min * config.heal_at_percent as usize / 100;
    let mut grown = config.partitions_grown == config.partitions_initial;
    while model.events.len() < config.events_min {
        if !grown && model.events.len() >= grow_at {
            model.grow(config.partitions_grown);
            grown = true;
        }
        if !model.healed && model.events.len() >= heal_at {
            model.push(Event::heal(model.time_ns));
            model.healed = true;
        }
        model.step();
    }
    if !grown {
        model.grow(config.partitions_grown);
    }
    if !model.healed {
        model.push(Event::heal(model.time_ns));
        model.healed = true;
    }
    model.drain();
    model.events
}

/// The history as JSON Lines text.
pub fn to_jsonl(events: &[Event]) -> String {
    let mut text = String::with_capacity(events.len() * 128);
    for event in events {
        text.push_str(&event.to_json_line());
        text.push('\n');
    }
    text
}

impl Model {
    fn push(&mut self, event: Event<'static>) {
        debug_assert!(event.time_ns >= self.time_ns);
        self.events.push(event);
    }

    fn tick(&mut self) -> u64 {
        self.time_ns += self.rng.gen_range(EVENT_GAP_NS_MIN..=EVENT_GAP_NS_MAX);
        self.time_ns
    }

    fn partition_count(&self) -> u32 {
        self.logs.len() as u32
    }

    fn begin(&mut self) {
        let time = self.time_ns;
        self.push(Event::partitions(
            time,
            self.topic.clone(),
            self.partition_count(),
        ));
        for partition in 0..self.partition_count() {
            self.leader(partition);
        }
        for index in 0..self.producers.len() {
            let time = self.tick();
            let name = self.producers[index].name.clone();
            self.push(Event::start(time, name.clone()));
            self.push(Event::new(
                time,
                name,
                Op::InitPid {
                    pid: 1000 + index as i64,
                    epoch: 0,
                },
            ));
        }
        for index in 0..self.consumers.len() {
            let time = self.tick();
            let name = self.consumers[index].name.clone();
            self.push(Event::start(time, name.clone()));
            let partitions = (0..self.partition_count())
                .map(|partition| TopicPartitionOffset::new(self.topic.clone(), partition, 0))
                .collect();
            self.push(Event::new(time, name, Op::Assign { partitions }));
        }
    }

    fn leader(&mut self, partition: u32) {
        let time = self.tick();
        self.leader_epoch += 1;
        let broker = self.rng.gen_range(0..3);
        self.push(Event::new(
            time,
            crate::event::CLUSTER_PROCESS,
            Op::Leader {
                topic: self.topic.clone().into(),
                partition,
                broker,
                epoch: self.leader_epoch,
            },
        ));
    }

    fn step(&mut self) {
        let roll = self.rng.gen_range(0..1000u32);
        match roll {
            0..=449 => self.send(),
            450..=799 => self.poll(),
            800..=879 => self.commit(),
            880..=889 => self.retention(),
            890..=899 => self.follower_log_start(),
            900..=909 if !self.healed => self.crash_consumer(),
            910..=959 => self.restart_consumer(),
            960..=964 => self.close_consumer(),
            965..=974 if !self.healed => self.nemesis_fault(),
            975..=979 => {
                let partition = self.rng.gen_range(0..self.partition_count());
                self.leader(partition);
            }
            980..=989 if !self.healed => self.transient_request_error(),
            _ => self.poll(),
        }
    }

    fn send(&mut self) {
        let index = self.rng.gen_range(0..self.producers.len());
        let keyed = self.rng.gen_bool(0.5);
        let key = keyed.then(|| format!("key-{}", self.rng.gen_range(0..KEYS)));
        let producer = &mut self.producers[index];
        if let Some(left) = producer.sends_until_refresh {
            if left == 0 {
                producer.known_partitions = self.logs.len() as u32;
                producer.sends_until_refresh = None;
            } else {
                producer.sends_until_refresh = Some(left - 1);
            }
        }
        let partition = match &key {
            Some(key) => key_hash(key) % producer.known_partitions,
            None => {
                producer.round_robin = (producer.round_robin + 1) % producer.known_partitions;
                producer.round_robin
            }
        };
        let value = format!("{}-{}", producer.name, producer.sent);
        producer.sent += 1;
        let name = producer.name.clone();
        let time = self.tick();
        self.push(Event::send_invoke(
            time,
            name.clone(),
            self.topic.clone(),
            key,
            value.clone(),
        ));
        let time = self.tick();
        if !self.healed && self.rng.gen_bool(0.04) {
            self.push(Event::send_fail(
                time,
                name,
                value,
                error_code::NOT_LEADER_OR_FOLLOWER,
            ));
            return;
        }
        if !self.healed && self.rng.gen_bool(0.02) {
            // Indeterminate: written or not, never acknowledged.
            if self.rng.gen_bool(0.5) {
                self.logs[partition as usize].push(value.clone());
            }
            self.push(Event::send_info(
                time,
                name,
                value,
                error_code::REQUEST_TIMED_OUT,
            ));
            return;
        }
        let log = &mut self.logs[partition as usize];
        let offset = log.len() as u64;
        log.push(value.clone());
        let sequence = i32::try_from(self.producers[index].sent).unwrap_or(i32::MAX);
        self.push(Event::new(
            time,
            name,
            Op::SendOk {
                value: value.into(),
                topic: self.topic.clone().into(),
                partition,
                offset,
                pid: Some(1000 + index as i64),
                epoch: Some(0),
                sequence: Some(sequence),
                acks: crate::event::SendAcks::All,
            },
        ));
    }

    fn pick_alive_consumer(&mut self) -> Option<usize> {
        let index = self.rng.gen_range(0..self.consumers.len());
        self.consumers[index].alive.then_some(index)
    }

    fn poll(&mut self) {
        let Some(consumer) = self.pick_alive_consumer() else {
            return;
        };
        let partition = self
            .rng
            .gen_range(0..self.consumers[consumer].positions.len() as u32);
        self.fetch(consumer, partition);
    }

    /// One fetch of `consumer` for `partition`: a request event, then the poll outcome. Returns whether the
    /// consumer's position moved.
    fn fetch(&mut self, consumer: usize, partition: u32) -> bool {
        let name = self.consumers[consumer].name.clone();
        let position = self.consumers[consumer].positions[partition as usize];
        let log_start = self.log_starts[partition as usize];
        let log_end = self.logs[partition as usize].len() as u64;
        let broker = self.rng.gen_range(0..3);
        let topic = self.topic.clone();
        let time = self.tick();
        if position < log_start {
            self.push(Event::new(
                time,
                name.clone(),
                Op::Request(Request {
                    api: api::FETCH.into(),
                    topic: topic.clone().into(),
                    partition,
                    offset: position,
                    broker,
                    error: Some(error_code::OFFSET_EVICTED.into()),
                    progress: false,
                    high_watermark: None,
                    log_start_offset: None,
                }),
            ));
            self.push(Event::new(
                time,
                name.clone(),
                Op::PollFail {
                    topic: topic.clone().into(),
                    partition,
                    offset: position,
                    error: error_code::OFFSET_EVICTED.into(),
                    next_available: Some(log_start),
                },
            ));
            self.push(Event::new(
                time,
                name,
                Op::Reset {
                    topic: topic.into(),
                    partition,
                    from: position,
                    to: log_start,
                    reason: reset_reason::OFFSET_EVICTED.into(),
                },
            ));
            self.consumers[consumer].positions[partition as usize] = log_start;
            return true;
        }
        let available = log_end - position;
        let delivered = available.min(self.rng.gen_range(1..=POLL_RECORDS_MAX));
        self.push(Event::new(
            time,
            name.clone(),
            Op::Request(Request {
                api: api::FETCH.into(),
                topic: topic.clone().into(),
                partition,
                offset: position,
                broker,
                error: None,
                progress: delivered > 0,
                // Every record of the model's logs is committed: the high watermark is the log end.
                high_watermark: Some(log_end),
                log_start_offset: Some(log_start),
            }),
        ));
        if delivered == 0 {
            return false;
        }
        let records = (position..position + delivered)
            .map(|offset| {
                Record::new(
                    topic.clone(),
                    partition,
                    offset,
                    self.logs[partition as usize][offset as usize].clone(),
                )
            })
            .collect();
        self.push(Event::poll_ok(time, name, records));
        self.consumers[consumer].positions[partition as usize] = position + delivered;
        true
    }

    fn transient_request_error(&mut self) {
        let Some(consumer) = self.pick_alive_consumer() else {
            return;
        };
        let partition = self
            .rng
            .gen_range(0..self.consumers[consumer].positions.len() as u32);
        let position = self.consumers[consumer].positions[partition as usize];
        let time = self.tick();
        let name = self.consumers[consumer].name.clone();
        let broker = self.rng.gen_range(0..3);
        self.push(Event::new(
            time,
            name,
            Op::Request(Request {
                api: api::FETCH.into(),
                topic: self.topic.clone().into(),
                partition,
                offset: position,
                broker,
                error: Some(error_code::NOT_LEADER_OR_FOLLOWER.into()),
                progress: false,
                high_watermark: None,
                log_start_offset: None,
            }),
        ));
    }

    /// Commits every position of `consumer` that moved since its last commit.
    fn commit_positions(&mut self, consumer: usize) {
        for partition in 0..self.consumers[consumer].positions.len() {
            let position = self.consumers[consumer].positions[partition];
            if self.consumers[consumer].committed[partition] == Some(position) {
                continue;
            }
            let name = self.consumers[consumer].name.clone();
            let topic = self.topic.clone();
            let time = self.tick();
            self.push(Event::new(
                time,
                name.clone(),
                Op::Commit {
                    phase: CommitPhase::Invoke,
                    topic: topic.clone().into(),
                    partition: partition as u32,
                    offset: position,
                    group: None,
                    generation: None,
                    error: None,
                },
            ));
            let time = self.tick();
            self.push(Event::commit_ok(
                time,
                name,
                topic,
                partition as u32,
                position,
            ));
            self.consumers[consumer].committed[partition] = Some(position);
        }
    }

    fn commit(&mut self) {
        if let Some(consumer) = self.pick_alive_consumer() {
            self.commit_positions(consumer);
        }
    }

    fn retention(&mut self) {
        let partition = self.rng.gen_range(0..self.partition_count()) as usize;
        let log_end = self.logs[partition].len() as u64;
        let log_start = self.log_starts[partition];
        if log_end == log_start {
            return;
        }
        let step = self
            .rng
            .gen_range(1..=RETENTION_STEP_OFFSETS_MAX.min(log_end - log_start));
        self.log_starts[partition] = log_start + step;
        let time = self.tick();
        self.push(Event::log_start(
            time,
            self.topic.clone(),
            partition as u32,
            log_start + step,
        ));
    }

    /// A follower's log start: not authoritative, and behind the leader's.
    fn follower_log_start(&mut self) {
        let partition = self.rng.gen_range(0..self.partition_count());
        let log_start = self.log_starts[partition as usize];
        let time = self.tick();
        let broker = self.rng.gen_range(0..3);
        self.push(Event::new(
            time,
            crate::event::CLUSTER_PROCESS,
            Op::LogStart {
                topic: self.topic.clone().into(),
                partition,
                offset: log_start / 2,
                broker: Some(broker),
            },
        ));
    }

    fn crash_consumer(&mut self) {
        let Some(consumer) = self.pick_alive_consumer() else {
            return;
        };
        let name = self.consumers[consumer].name.clone();
        let time = self.tick();
        self.push(Event::fault(time, FaultKind::Crash, Some(name.clone())));
        self.push(Event::crash(time, name));
        self.consumers[consumer].alive = false;
    }

    /// A dead consumer starts and is assigned every partition at its committed offset (the log start when it
    /// never committed one).
    fn restart_consumer(&mut self) {
        let index = self.rng.gen_range(0..self.consumers.len());
        if self.consumers[index].alive {
            return;
        }
        self.restart(index);
    }

    fn restart(&mut self, consumer: usize) {
        let name = self.consumers[consumer].name.clone();
        let time = self.tick();
        self.push(Event::start(time, name.clone()));
        let mut partitions = Vec::new();
        for partition in 0..self.partition_count() as usize {
            let position =
                self.consumers[consumer].committed[partition].unwrap_or(self.log_starts[partition]);
            self.consumers[consumer].positions[partition] = position;
            partitions.push(TopicPartitionOffset::new(
                self.topic.clone(),
                partition as u32,
                position,
            ));
        }
        let time = self.tick();
        self.push(Event::new(
            time,
            name,
            Op::Assign {
                partitions: partitions.into(),
            },
        ));
        self.consumers[consumer].alive = true;
    }

    /// A clean shutdown (commits flushed first) and a restart at the committed positions.
    fn close_consumer(&mut self) {
        let Some(consumer) = self.pick_alive_consumer() else {
            return;
        };
        self.commit_positions(consumer);
        let name = self.consumers[consumer].name.clone();
        let time = self.tick();
        self.push(Event::close(time, name));
        self.consumers[consumer].alive = false;
        self.restart(consumer);
    }

    fn nemesis_fault(&mut self) {
        let faults = [
            FaultKind::Partition,
            FaultKind::Clog,
            FaultKind::Disk,
            FaultKind::Restart,
        ];
        let fault = faults[self.rng.gen_range(0..faults.len())];
        let time = self.tick();
        let target = format!("broker-{}", self.rng.gen_range(0..3));
        self.push(Event::fault(time, fault, Some(target)));
    }

    fn grow(&mut self, count: u32) {
        let old_count = self.partition_count();
        if count == old_count {
            return;
        }
        let time = self.tick();
        if !self.healed {
            self.push(Event::fault(time, FaultKind::AddPartitions, None));
        }
        self.logs.resize(count as usize, Vec::new());
        self.log_starts.resize(count as usize, 0);
        self.push(Event::partitions(time, self.topic.clone(), count));
        for partition in old_count..count {
            self.leader(partition);
        }
        for producer in &mut self.producers {
            // Within at most 2*count sends: round robin then reaches a new partition within count more sends,
            // well before the 10*count keyless sends stale-partitions needs.
            producer.sends_until_refresh = Some(self.rng.gen_range(0..2 * count));
        }
        for consumer in 0..self.consumers.len() {
            self.consumers[consumer].positions.resize(count as usize, 0);
            self.consumers[consumer]
                .committed
                .resize(count as usize, None);
            if self.consumers[consumer].alive {
                let name = self.consumers[consumer].name.clone();
                let partitions = (old_count..count)
                    .map(|partition| TopicPartitionOffset::new(self.topic.clone(), partition, 0))
                    .collect();
                let time = self.tick();
                self.push(Event::new(time, name, Op::Assign { partitions }));
            }
        }
    }

    /// Every consumer comes back and reads every partition to its end, then commits and closes.
    fn drain(&mut self) {
        for consumer in 0..self.consumers.len() {
            if !self.consumers[consumer].alive {
                self.restart(consumer);
            }
            for partition in 0..self.partition_count() {
                let log_end = self.logs[partition as usize].len() as u64;
                while self.consumers[consumer].positions[partition as usize] < log_end {
                    let moved = self.fetch(consumer, partition);
                    assert!(moved, "a fetch below the log end always moves the position");
                }
            }
            self.commit_positions(consumer);
            let name = self.consumers[consumer].name.clone();
            let time = self.tick();
            self.push(Event::close(time, name));
            self.consumers[consumer].alive = false;
        }
    }
}

/// A stable hash of a key for the keyed partitioner (FNV-1a).
fn key_hash(key: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}
