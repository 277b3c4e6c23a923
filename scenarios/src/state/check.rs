//! The state checks: pure functions over [`super::model`]. Each returns its anomalies, one per
//! subject (a partition, a pair of replicas, a group's partition), the first proof with a count of
//! the others, so a broken invariant reads as one finding, not thousands.

use super::model::*;
use super::{StateAnomaly, StateAnomalyKind};
use broker::api::{BrokerId, TopicPartition};
use broker::inspect::{ReplicaLog, StoredRecord};
use oracle::event::CommitPhase;
use oracle::{Event, Op};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

// ---- replicas agree below the high watermark ---------------------------------------------------

/// Replicas agree on every record below both their high watermarks: at each offset both hold, the
/// same value and leader epoch; and neither lacks an offset inside the range its disk holds.
/// Replicas not read from disk take no part.
pub fn check_agreement(state: &ClusterState) -> Vec<StateAnomaly> {
    check_agreement_with(state, &mut Agreements::default())
}

/// What [`check_agreement_with`] keeps from one sample to the next: for each pair of replicas, the
/// generations of the logs it compared ([`broker::inspect::ReplicaLog::generation`]) and the
/// offset below which they agreed, bounded by both logs' last records. Below that offset and below
/// where each later log is still a view of the one compared
/// ([`broker::inspect::ReplicaLog::unchanged_below`]), the later logs hold nothing new, and what
/// both still hold is what they held, so no difference can be there: only the offsets from there
/// on are compared again.
#[derive(Debug, Default)]
pub struct Agreements {
    agreed: BTreeMap<(TopicPartition, BrokerId, BrokerId), (Seen, Seen)>,
}

/// How far a replica's log was looked at: its generation then, and the offset below which every
/// record was, bounded by its last record (a later log of that generation holds nothing new
/// below its log end then).
#[derive(Debug, Clone, Copy)]
struct Seen {
    generation: u64,
    below: u64,
}

impl Seen {
    /// `log` looked at below `bound`.
    fn new(log: &ReplicaLog, bound: u64) -> Seen {
        let after_last = log.records().last().map_or(0, |record| record.offset + 1);
        Seen {
            generation: log.generation(),
            below: bound.min(after_last),
        }
    }

    /// Where `log`, read later, is to be looked at from: where this look stopped, or where `log`
    /// stops being a view of the log looked at ([`ReplicaLog::unchanged_below`]), or its start.
    fn resume(&self, log: &ReplicaLog) -> u64 {
        log.unchanged_below(self.generation)
            .map_or(0, |unchanged| unchanged.min(self.below))
    }
}

/// [`check_agreement`], comparing each pair of replicas only where `agreements` does not already
/// say they agree, and keeping what it finds for the next sample.
pub fn check_agreement_with(
    state: &ClusterState,
    agreements: &mut Agreements,
) -> Vec<StateAnomaly> {
    let mut anomalies = Vec::new();
    for (partition, replicas) in &state.partitions {
        for (index, a) in replicas.iter().enumerate() {
            for b in &replicas[index + 1..] {
                let (Some(log_a), Some(log_b)) = (&a.log, &b.log) else {
                    continue;
                };
                let key = (partition.clone(), a.broker, b.broker);
                let from = agreements.agreed.get(&key).map_or(0, |(seen_a, seen_b)| {
                    seen_a.resume(log_a).min(seen_b.resume(log_b))
                });
                match compare_pair(state, partition, a, b, from) {
                    // What they agreed on before still stands.
                    Some(anomaly) => anomalies.push(anomaly),
                    None => {
                        let below = a.high_watermark.min(b.high_watermark);
                        let seen = (Seen::new(log_a, below), Seen::new(log_b, below));
                        agreements.agreed.insert(key, seen);
                    }
                }
            }
        }
    }
    anomalies
}

/// The first offset below both high watermarks where `a` and `b` differ, and how many do; offsets
/// below `from` are known to agree and are not looked at.
fn compare_pair(
    state: &ClusterState,
    partition: &TopicPartition,
    a: &ReplicaState,
    b: &ReplicaState,
    from: u64,
) -> Option<StateAnomaly> {
    let (Some(records_a), Some(records_b)) = (a.records(), b.records()) else {
        return None;
    };
    let below = a.high_watermark.min(b.high_watermark);
    // (offset, a's record, b's record) wherever they differ; both sides in offset order, walked
    // together.
    let mut differences: Vec<(u64, Option<&StoredRecord>, Option<&StoredRecord>)> = Vec::new();
    let mut in_a = between(records_a, from, below).iter().peekable();
    let mut in_b = between(records_b, from, below).iter().peekable();
    loop {
        // Which side holds the lowest offset not yet looked at, or both.
        let a_alone = match (in_a.peek().copied(), in_b.peek().copied()) {
            (None, None) => break,
            (Some(record), Some(other)) if record.offset == other.offset => {
                if other.value != record.value || other.leader_epoch != record.leader_epoch {
                    differences.push((record.offset, Some(record), Some(other)));
                }
                in_a.next();
                in_b.next();
                continue;
            }
            (Some(record), other) => other.is_none_or(|other| record.offset < other.offset),
            (None, Some(_)) => false,
        };
        if a_alone {
            let record = in_a.next().expect("peeked");
            if holds_range(records_b, record.offset) {
                differences.push((record.offset, Some(record), None));
            }
        } else {
            let other = in_b.next().expect("peeked");
            if holds_range(records_a, other.offset) {
                differences.push((other.offset, None, Some(other)));
            }
        }
    }
    let differing = differences.len();
    let (offset, in_a, in_b) = differences
        .into_iter()
        .min_by_key(|(offset, _, _)| *offset)?;
    let others = match differing {
        1 => String::new(),
        n => format!("; {n} offsets differ in all"),
    };
    Some(StateAnomaly::new(
        StateAnomalyKind::ReplicasDiverge,
        format!("{partition} brokers {} and {}", a.broker, b.broker),
        format!(
            "{partition}: brokers {} and {} disagree below both their high watermarks ({} and {}) \
             {}: at offset {offset} broker {} {} and broker {} {}{others}",
            a.broker,
            b.broker,
            a.high_watermark,
            b.high_watermark,
            state.when(),
            a.broker,
            holds(in_a),
            b.broker,
            holds(in_b),
        ),
    ))
}

/// The records at offsets from `from` up to `below`.
fn between(records: &[StoredRecord], from: u64, below: u64) -> &[StoredRecord] {
    let start = records.partition_point(|record| record.offset < from);
    let end = records.partition_point(|record| record.offset < below);
    &records[start..end.max(start)]
}

/// Does the disk's range (first to last record) cover `offset`?
fn holds_range(records: &[StoredRecord], offset: u64) -> bool {
    match (records.first(), records.last()) {
        (Some(first), Some(last)) => first.offset <= offset && offset <= last.offset,
        _ => false,
    }
}

fn holds(record: Option<&StoredRecord>) -> String {
    match record {
        Some(record) => format!(
            "holds {} (leader epoch {})",
            show_value(&record.value),
            record.leader_epoch
        ),
        None => "holds no record there, inside the range its disk holds".to_string(),
    }
}

// ---- after the heal, replicas converge --------------------------------------------------------

/// After the heal: every partition has a leader; every assigned replica on a running broker exists,
/// has the leader's log end and is in the leader's ISR.
pub fn check_convergence(state: &ClusterState, expected: &Expectation) -> Vec<StateAnomaly> {
    let mut anomalies = Vec::new();
    for (partition, assigned) in &expected.assignments {
        let live: Vec<BrokerId> = assigned
            .iter()
            .copied()
            .filter(|broker| expected.running.contains(broker))
            .collect();
        if live.is_empty() {
            continue;
        }
        let Some(leader) = state.leader(partition) else {
            anomalies.push(StateAnomaly::new(
                StateAnomalyKind::PartitionLeaderless,
                partition.to_string(),
                format!(
                    "{partition}: no running broker leads it {}, though its assigned brokers \
                     {live:?} run",
                    state.when()
                ),
            ));
            continue;
        };
        let replicas = state
            .partitions
            .get(partition)
            .map_or(&[][..], Vec::as_slice);
        for broker in live {
            let replica = replicas.iter().find(|replica| replica.broker == broker);
            let subject = format!("{partition} broker {broker}");
            match replica {
                None => anomalies.push(StateAnomaly::new(
                    StateAnomalyKind::ReplicaNotCaughtUp,
                    subject.clone(),
                    format!(
                        "{partition}: broker {broker} is assigned a replica and runs but holds \
                         none {}; leader broker {} (leader epoch {}) has log end {}",
                        state.when(),
                        leader.broker,
                        leader.leader_epoch,
                        leader.log_end()
                    ),
                )),
                Some(replica) if replica.broker != leader.broker => {
                    if replica.log_end() != leader.log_end() {
                        anomalies.push(StateAnomaly::new(
                            StateAnomalyKind::ReplicaNotCaughtUp,
                            subject.clone(),
                            format!(
                                "{partition}: broker {broker}'s log end is {} {}, the leader \
                                 broker {}'s (leader epoch {}) is {}",
                                replica.log_end(),
                                state.when(),
                                leader.broker,
                                leader.leader_epoch,
                                leader.log_end()
                            ),
                        ));
                    }
                }
                Some(_) => {}
            }
            if !leader.isr.contains(&broker) {
                anomalies.push(StateAnomaly::new(
                    StateAnomalyKind::IsrNotFull,
                    subject,
                    format!(
                        "{partition}: broker {broker} is assigned a replica and runs but is not in \
                         leader broker {}'s ISR {:?} (leader epoch {}) {}",
                        leader.broker,
                        leader.isr,
                        leader.leader_epoch,
                        state.when()
                    ),
                ));
            }
        }
    }
    anomalies
}

// ---- what was exposed stays -------------------------------------------------------------------

/// A high watermark once exposed is never above the final leader's log end.
pub fn check_high_watermarks(
    witnesses: &BTreeMap<TopicPartition, HighWatermarkWitness>,
    state: &ClusterState,
) -> Vec<StateAnomaly> {
    witnesses
        .iter()
        .filter_map(|(partition, witness)| {
            let leader = state.leader(partition)?;
            let what = format!(
                "the leader broker {} (leader epoch {}) has log end {} {}",
                leader.broker,
                leader.leader_epoch,
                leader.log_end(),
                state.when()
            );
            high_watermark_kept(partition, witness, leader.log_end(), &what)
        })
        .collect()
}

/// `high-watermark-lost` when `witness` is above `log_end`, the log end of a leader that `what`
/// describes (with the log end and the moment).
pub fn high_watermark_kept(
    partition: &TopicPartition,
    witness: &HighWatermarkWitness,
    log_end: u64,
    what: &str,
) -> Option<StateAnomaly> {
    if witness.offset <= log_end {
        return None;
    }
    let mut anomaly = StateAnomaly::new(
        StateAnomalyKind::HighWatermarkLost,
        partition.to_string(),
        format!(
            "{partition}: high watermark {} was exposed ({}), but {what}: offsets {log_end}..{} \
             were committed and are gone",
            witness.offset, witness.witness, witness.offset
        ),
    );
    anomaly.events.extend(witness.line);
    Some(anomaly)
}

/// Records exposed as committed, per partition and offset: the first exposure of each offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub partitions: BTreeMap<TopicPartition, BTreeMap<u64, Exposure>>,
}

impl Ledger {
    /// Adds an exposure. An offset exposed before with another value (or, both from logs, another
    /// leader epoch) is a `committed-record-changed` — except between two consumers' reads, which
    /// is the oracle's `inconsistent-offsets`.
    pub fn expose(
        &mut self,
        partition: &TopicPartition,
        exposure: Exposure,
    ) -> Option<StateAnomaly> {
        if !self.partitions.contains_key(partition) {
            self.partitions.insert(partition.clone(), BTreeMap::new());
        }
        let offsets = self.partitions.get_mut(partition)?;
        let Some(earlier) = offsets.get(&exposure.offset) else {
            offsets.insert(exposure.offset, exposure);
            return None;
        };
        let both_reads = earlier.source.line().is_some() && exposure.source.line().is_some();
        let epochs_differ = matches!(
            (earlier.leader_epoch, exposure.leader_epoch),
            (Some(a), Some(b)) if a != b
        );
        if both_reads || (earlier.value == exposure.value && !epochs_differ) {
            return None;
        }
        Some(changed(partition, earlier, &exposure))
    }

    /// Is `record` (from a log) exposed already, as it is? Saves building an exposure for the
    /// records every sample sees again.
    pub fn holds(&self, partition: &TopicPartition, record: &StoredRecord) -> bool {
        self.partitions
            .get(partition)
            .and_then(|offsets| offsets.get(&record.offset))
            .is_some_and(|earlier| {
                earlier.value == record.value
                    && earlier
                        .leader_epoch
                        .is_none_or(|epoch| epoch == record.leader_epoch)
            })
    }
}

/// What [`expose_leaders`] keeps from one sample to the next: per leader's replica, the
/// generation of its log and the offset below which its records went to the ledger. A later log
/// holds nothing new below that offset and below where it is still a view of that one
/// ([`broker::inspect::ReplicaLog::unchanged_below`]), so only its records from there on can add
/// to the ledger.
#[derive(Debug, Default)]
pub struct Exposed {
    below: BTreeMap<(TopicPartition, BrokerId), Seen>,
}

/// Puts every leader's records below its high watermark in `ledger`, and returns the
/// `committed-record-changed` anomalies that finds. Records an earlier sample put there are not
/// looked at again (`exposed`): seeing one again adds nothing, since the ledger keeps the first
/// exposure of each offset, and a change was reported the first time.
pub fn expose_leaders(
    ledger: &mut Ledger,
    exposed: &mut Exposed,
    state: &ClusterState,
) -> Vec<StateAnomaly> {
    let mut anomalies = Vec::new();
    for (partition, replicas) in &state.partitions {
        for leader in replicas.iter().filter(|replica| replica.leader) {
            let Some(log) = &leader.log else {
                continue;
            };
            let key = (partition.clone(), leader.broker);
            let from = exposed.below.get(&key).map_or(0, |seen| seen.resume(log));
            exposed
                .below
                .insert(key, Seen::new(log, leader.high_watermark));
            for record in between(log.records(), from, leader.high_watermark) {
                if ledger.holds(partition, record) {
                    continue;
                }
                let exposure = Exposure {
                    offset: record.offset,
                    value: record.value.to_vec(),
                    leader_epoch: Some(record.leader_epoch),
                    source: ExposureSource::Leader {
                        broker: leader.broker,
                        high_watermark: leader.high_watermark,
                        time_ns: state.time_ns,
                    },
                };
                anomalies.extend(ledger.expose(partition, exposure));
            }
        }
    }
    anomalies
}

/// `committed-record-changed`: `partition`'s offset exposed as `earlier`, then as `later`.
fn changed(partition: &TopicPartition, earlier: &Exposure, later: &Exposure) -> StateAnomaly {
    let mut anomaly = StateAnomaly::new(
        StateAnomalyKind::CommittedRecordChanged,
        partition.to_string(),
        format!(
            "{partition}: offset {} was exposed as committed as {} ({}) and later as {} ({})",
            later.offset,
            describe_exposed(&earlier.value, earlier.leader_epoch),
            earlier.source.describe(),
            describe_exposed(&later.value, later.leader_epoch),
            later.source.describe(),
        ),
    );
    anomaly.events.extend(earlier.source.line());
    anomaly.events.extend(later.source.line());
    anomaly
}

fn describe_exposed(value: &[u8], leader_epoch: Option<u32>) -> String {
    match leader_epoch {
        Some(epoch) => format!("{} (leader epoch {epoch})", show_value(value)),
        None => show_value(value),
    }
}

/// Every exposed record the leader's log still covers (at or above its log start, below its log
/// end) is there with the same value (and leader epoch, when the exposure knows it). Exposures at
/// or above the log end are [`check_high_watermarks`]'s.
pub fn check_exposed_records(ledger: &Ledger, state: &ClusterState) -> Vec<StateAnomaly> {
    let mut anomalies = Vec::new();
    for partition in ledger.partitions.keys() {
        if let Some(leader) = state.leader(partition) {
            let what = format!(
                "leader broker {} (leader epoch {}, log start {})",
                leader.broker,
                leader.leader_epoch,
                leader.log_start()
            );
            anomalies.extend(compare_with_ledger(
                ledger,
                partition,
                leader,
                &what,
                &state.when(),
            ));
        }
    }
    anomalies
}

/// The first exposed record `replica`'s disk covers but holds differently (or not at all), with
/// the number of such records; `what` names the replica, `when` the moment.
pub fn compare_with_ledger(
    ledger: &Ledger,
    partition: &TopicPartition,
    replica: &ReplicaState,
    what: &str,
    when: &str,
) -> Option<StateAnomaly> {
    let exposures = ledger.partitions.get(partition)?;
    replica.log.as_ref()?;
    let from = replica.log_start();
    let to = replica.log_end();
    if from >= to {
        return None;
    }
    let mut first: Option<(&Exposure, Option<&StoredRecord>)> = None;
    let mut differing = 0u64;
    let mut lines = Vec::new();
    // Both in offset order: one walk finds each exposure's record.
    let mut records = replica.records().unwrap_or_default().iter().peekable();
    for exposure in exposures.range(from..to).map(|(_, exposure)| exposure) {
        let held = loop {
            match records.peek().copied() {
                Some(record) if record.offset < exposure.offset => drop(records.next()),
                Some(record) if record.offset == exposure.offset => break Some(record),
                _ => break None,
            }
        };
        let same = held.is_some_and(|record| {
            record.value == exposure.value
                && exposure
                    .leader_epoch
                    .is_none_or(|epoch| epoch == record.leader_epoch)
        });
        if !same {
            differing += 1;
            first.get_or_insert((exposure, held));
            if lines.len() < 5 {
                lines.extend(exposure.source.line());
            }
        }
    }
    let (exposure, held) = first?;
    let now = match held {
        Some(record) => format!(
            "holds {} (leader epoch {}) there",
            show_value(&record.value),
            record.leader_epoch
        ),
        None => "holds no record there".to_string(),
    };
    let others = match differing {
        1 => String::new(),
        n => format!("; {n} exposed offsets differ in all"),
    };
    let mut anomaly = StateAnomaly::new(
        StateAnomalyKind::CommittedRecordChanged,
        partition.to_string(),
        format!(
            "{partition}: offset {} was exposed as committed as {} ({}), but {what} {now} \
             {when}{others}",
            exposure.offset,
            describe_exposed(&exposure.value, exposure.leader_epoch),
            exposure.source.describe(),
        ),
    );
    anomaly.events = lines;
    Some(anomaly)
}

/// What the history's consumers read, as exposures, and the highest offset each partition was
/// read at, as high-watermark witnesses (a read record is below the high watermark).
pub fn exposures_read(
    events: &[Event<'_>],
) -> (
    Vec<(TopicPartition, Exposure)>,
    BTreeMap<TopicPartition, HighWatermarkWitness>,
) {
    let mut exposures = Vec::new();
    let mut witnesses: BTreeMap<TopicPartition, HighWatermarkWitness> = BTreeMap::new();
    // A poll's records mostly share a partition: its name is shared, not copied per record.
    let mut last: Option<TopicPartition> = None;
    for (index, event) in events.iter().enumerate() {
        let Op::PollOk { records } = &event.op else {
            continue;
        };
        let line = index as u64 + 1;
        let process: Arc<str> = Arc::from(&*event.process);
        for record in records.iter() {
            let partition = match &last {
                Some(last)
                    if last.partition == record.partition && *last.topic == *record.topic =>
                {
                    last.clone()
                }
                _ => TopicPartition::new(&record.topic, record.partition),
            };
            last = Some(partition.clone());
            let above = record.offset + 1;
            if witnesses
                .get(&partition)
                .is_none_or(|witness| witness.offset < above)
            {
                witnesses.insert(
                    partition.clone(),
                    HighWatermarkWitness {
                        offset: above,
                        witness: Witness::Read {
                            process: process.clone(),
                            offset: record.offset,
                            line,
                        },
                        line: Some(line),
                    },
                );
            }
            exposures.push((
                partition,
                Exposure {
                    offset: record.offset,
                    value: record.value.as_bytes().to_vec(),
                    leader_epoch: None,
                    source: ExposureSource::Poll {
                        line,
                        process: process.clone(),
                    },
                },
            ));
        }
    }
    (exposures, witnesses)
}

/// Keeps the higher of two witnesses (the earlier among equals).
pub fn raise_witness(
    witnesses: &mut BTreeMap<TopicPartition, HighWatermarkWitness>,
    partition: &TopicPartition,
    witness: HighWatermarkWitness,
) {
    if witnesses
        .get(partition)
        .is_none_or(|known| known.offset < witness.offset)
    {
        witnesses.insert(partition.clone(), witness);
    }
}

// ---- committed offsets survive ----------------------------------------------------------------

/// The history's commits, each with its outcome: an invoke paired with the next answer of the
/// same process and partition for the same offset; an invoke left open when its process crashes,
/// restarts or the history ends is `Unknown`. `groups` maps a consumer process to its group;
/// commits of other processes are left out.
pub fn commit_attempts(
    events: &[Event<'_>],
    groups: &BTreeMap<String, String>,
) -> Vec<CommitAttempt> {
    type Key = (String, String, u32);
    let mut open: BTreeMap<Key, VecDeque<CommitAttempt>> = BTreeMap::new();
    let mut done: Vec<CommitAttempt> = Vec::new();
    let close_process = |open: &mut BTreeMap<Key, VecDeque<CommitAttempt>>,
                         done: &mut Vec<CommitAttempt>,
                         process: &str| {
        for (key, attempts) in open.iter_mut() {
            if key.0 == process {
                done.extend(attempts.drain(..));
            }
        }
    };
    for (index, event) in events.iter().enumerate() {
        let line = index as u64 + 1;
        let process = event.process.as_ref();
        match &event.op {
            Op::Start | Op::Crash => close_process(&mut open, &mut done, process),
            // Offset retention deleted them: what was acknowledged before no longer has to be
            // there (a commit still in flight, or of unknown outcome, may land after it).
            Op::OffsetsExpired {
                group: expired_group,
                partitions,
                ..
            } => done.retain(|attempt| {
                attempt.outcome == CommitOutcome::Unknown
                    || attempt.group != **expired_group
                    || !partitions.iter().any(|expired| {
                        expired.topic == attempt.topic.as_str()
                            && expired.partition == attempt.partition
                    })
            }),
            Op::Commit {
                phase,
                topic,
                partition,
                offset,
                ..
            } => {
                let Some(group) = groups.get(process) else {
                    continue;
                };
                let key = (process.to_string(), topic.to_string(), *partition);
                let outcome = match phase {
                    CommitPhase::Invoke => {
                        open.entry(key).or_default().push_back(CommitAttempt {
                            group: group.clone(),
                            process: process.to_string(),
                            topic: topic.to_string(),
                            partition: *partition,
                            offset: *offset,
                            outcome: CommitOutcome::Unknown,
                            invoke_line: line,
                            end_line: None,
                        });
                        continue;
                    }
                    CommitPhase::Ok => CommitOutcome::Ok,
                    CommitPhase::Fail => CommitOutcome::Failed,
                    CommitPhase::Info => CommitOutcome::Unknown,
                };
                let queue = open.entry(key).or_default();
                let mut attempt = match queue.iter().position(|a| a.offset == *offset) {
                    Some(position) => queue.remove(position).expect("position is in the queue"),
                    None => CommitAttempt {
                        group: group.clone(),
                        process: process.to_string(),
                        topic: topic.to_string(),
                        partition: *partition,
                        offset: *offset,
                        outcome,
                        invoke_line: line,
                        end_line: None,
                    },
                };
                attempt.outcome = outcome;
                attempt.end_line = Some(line);
                done.push(attempt);
            }
            _ => {}
        }
    }
    for attempts in open.into_values() {
        done.extend(attempts);
    }
    done.sort_by_key(|attempt| attempt.invoke_line);
    done
}

/// Committed offsets survive: for each group's partition with an acknowledged commit, the offset
/// the coordinator's storage holds (after a simulated crash) is one a commit that may have been
/// applied last asked for, or not below every acknowledged one of those.
///
/// A commit may have been applied last unless it failed, or it was acknowledged and another
/// acknowledged commit was invoked after its answer (that one was applied after it). A commit of
/// unknown outcome may land at any time after it was asked, so it is never ruled out.
pub fn check_committed_offsets(
    attempts: &[CommitAttempt],
    committed: &CommittedOffsets,
) -> Vec<StateAnomaly> {
    let mut by_key: BTreeMap<(String, String, u32), Vec<&CommitAttempt>> = BTreeMap::new();
    for attempt in attempts {
        by_key
            .entry((
                attempt.group.clone(),
                attempt.topic.clone(),
                attempt.partition,
            ))
            .or_default()
            .push(attempt);
    }
    let mut anomalies = Vec::new();
    for (key, attempts) in by_key {
        let acknowledged: Vec<&CommitAttempt> = attempts
            .iter()
            .copied()
            .filter(|attempt| attempt.outcome == CommitOutcome::Ok)
            .collect();
        let possibly_last: Vec<&CommitAttempt> = attempts
            .iter()
            .copied()
            .filter(|attempt| match attempt.outcome {
                CommitOutcome::Failed => false,
                CommitOutcome::Unknown => true,
                CommitOutcome::Ok => {
                    let answered = attempt.end_line.unwrap_or(attempt.invoke_line);
                    !acknowledged
                        .iter()
                        .any(|later| later.invoke_line > answered)
                }
            })
            .collect();
        let Some(highest) = possibly_last
            .iter()
            .filter(|attempt| attempt.outcome == CommitOutcome::Ok)
            .max_by_key(|attempt| (attempt.offset, std::cmp::Reverse(attempt.invoke_line)))
        else {
            continue;
        };
        let stored = committed.get(&key).copied();
        let explained = stored.is_some_and(|offset| {
            offset >= highest.offset || possibly_last.iter().any(|attempt| attempt.offset == offset)
        });
        if explained {
            continue;
        }
        let (group, topic, partition) = &key;
        let holds = match stored {
            Some(offset) => format!("offset {offset}"),
            None => "no offset".to_string(),
        };
        let line = highest.end_line.unwrap_or(highest.invoke_line);
        let mut anomaly = StateAnomaly::new(
            StateAnomalyKind::CommittedOffsetLost,
            format!("{group} {topic}-{partition}"),
            format!(
                "group {group}, {topic}-{partition}: the controller's disk, crashed, recovers \
                 {holds}, but {} committed offset {} (commit ok, line {line}) and no later \
                 acknowledged commit replaced it, nor did a commit of unknown outcome ask for \
                 that offset",
                highest.process, highest.offset
            ),
        );
        anomaly.events.push(line);
        anomalies.push(anomaly);
    }
    anomalies
}
