//! The checkers: one pass over the events, keeping compact state per value, per (partition, offset), per
//! partition and per (process, partition), then a final resolution of everything that needs whole-history
//! knowledge (what is *known*, what is *evicted*, the order of sends by invocation).
//!
//! Cost: each event costs O(log n) (hash lookups, a few small ordered maps per consumer); the resolution sorts
//! per-partition lists once and answers each pending question with a binary search. Memory: O(distinct values +
//! distinct (partition, offset) + processes x partitions + pending poll skips, and for consumer groups
//! (check/group.rs): groups x partitions, assigned (group, generation, partition)s, member ids, group commits
//! waiting for their outcome); no event is kept.
//!
//! The definitions are docs/history-format.md's table; where the table leaves a choice, the comment on the check says which
//! reading is implemented (the crate documentation lists them all).

use std::collections::{BTreeMap, BinaryHeap};

use crate::event::{
    error_code, CommitPhase, Event, FaultKind, Op, Request, SendAcks, TopicPartition,
};
mod deliver;
mod fetches;
mod group;
mod positions;
mod resolve;

use crate::intern::{LookupMap, OffsetRanges, ValueTable};
use crate::result::{Anomaly, AnomalyKind, CheckResult, Stats, ANOMALIES_LISTED_PER_KIND_MAX};
use positions::{PositionSlot, PositionTable};

/// `spinloop`: this many consecutive requests without progress (docs/history-format.md: ">= 20").
pub const SPINLOOP_REQUESTS_MIN: u32 = 20;
/// `stale-partitions`: a producer must have sent this many times the new partition count of keyless sends after
/// the growth (docs/history-format.md: ">= 10*m").
pub const STALE_PARTITIONS_SENDS_PER_PARTITION: u64 = 10;
/// `stale-partitions`: only sends invoked at least this long after the growth count. A correct producer learns
/// of new partitions at its next metadata refresh, which faults delay (a refresh sent to a crashed broker waits
/// for its request timeout; lost packets wait again): swarm seed 1472 saw 1.6 s pass, and 77 sends, between a
/// growth and the refresh that showed it, under a crash and 27% packet loss.
pub const STALE_PARTITIONS_GRACE_NS: u64 = 5_000_000_000;
/// At most this many extra offsets (for `duplicate`) or extra values (for `inconsistent-offsets`) are kept and
/// named per value or offset; the anomaly exists as soon as there is one.
const CONFLICTS_KEPT_MAX: usize = 8;
/// A `spinloop`'s proof names the first this-many requests of the run (and its last).
const SPINLOOP_REQUEST_LINES_LISTED_MAX: usize = SPINLOOP_REQUESTS_MIN as usize;
/// A `stale-partitions` proof names at most this many of the sends.
const STALE_SEND_LINES_LISTED_MAX: usize = 10;

type ProcessId = u32;
type TopicId = u32;
type PartitionId = u32;
type ValueId = u32;
type ErrorId = u32;

/// What a `send` invoke told us about a value.
#[derive(Debug, Clone, Copy)]
struct SendInvoked {
    line: u64,
    time_ns: u64,
    process: ProcessId,
    keyless: bool,
    topic: TopicId,
    /// `Some(heal line)` when the send was invoked in a liveness phase.
    liveness_heal_line: Option<u64>,
}

/// A place in the log: (partition, offset), with the line that named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sighting {
    partition: PartitionId,
    offset: u64,
    line: u64,
}

/// What the sends told us about a value: touched when it is sent, and at the end.
#[derive(Debug, Default)]
struct ValueState {
    invoked: Option<SendInvoked>,
    /// The first `send` ok.
    acknowledged: Option<Sighting>,
    /// What the first `send` ok promised.
    acks: SendAcks,
    /// The first `send` fail: (line, error).
    failed: Option<(u64, ErrorId)>,
    /// The `fatal` report (an index in `Checker::fatal_reports`) its producer had made in the incarnation of
    /// that fail, before it.
    failed_after_fatal: Option<u32>,
    /// The line that first named the value's first place (`ValueReads::known_at`).
    known_line: u64,
}

/// What every read of a value touches, kept apart from `ValueState` so that a poll of an old record costs one
/// small cache line per value (32 bytes).
#[derive(Debug, Default, Clone, Copy)]
struct ValueReads {
    /// The first poll that delivered the value: (line, process).
    first_read: Option<(u64, ProcessId)>,
    /// The first place the value was known at (send ok or poll): (partition, offset).
    known_at: Option<(PartitionId, u64)>,
}

/// Up to `CONFLICTS_KEPT_MAX` items in conflict with a first one, and whether more were dropped.
#[derive(Debug)]
struct Conflicts<T> {
    items: Vec<T>,
    truncated: bool,
}

impl<T> Default for Conflicts<T> {
    fn default() -> Self {
        Conflicts {
            items: Vec::new(),
            truncated: false,
        }
    }
}

impl<T: PartialEq> Conflicts<T> {
    /// Adds `item` unless `same` says it is already there.
    fn add(&mut self, item: T, same: impl Fn(&T, &T) -> bool) {
        if self.items.iter().any(|kept| same(kept, &item)) {
            return;
        }
        if self.items.len() < CONFLICTS_KEPT_MAX {
            self.items.push(item);
        } else {
            self.truncated = true;
        }
    }
}

#[derive(Debug)]
struct TopicState {
    name: String,
    /// The partition count of the last `partitions` event.
    partition_count: Option<u32>,
    /// `partitions` events that raised the count: (line, time in ns, old count n, new count m).
    raises: Vec<(u64, u64, u32, u32)>,
}

#[derive(Debug)]
struct PartitionState {
    topic: TopicId,
    partition: u32,
    /// (line, offset) each time the running maximum of authoritative `log_start` offsets rose: both columns increase.
    log_start_steps: Vec<(u64, u64)>,
    /// The last authoritative log start: (offset, line).
    log_start: Option<(u64, u64)>,
    /// (line, offset) each time the running maximum of offsets read by polls rose: both columns increase.
    read_steps: Vec<(u64, u64)>,
    /// The highest offset named so far by a send ok with acks=all or a poll: (offset, line).
    highest_known: Option<(u64, u64)>,
    /// The texts of the values first known at this partition's offsets, in the order they became known.
    texts: String,
    /// When the partition had no leader: (from, until) in ns, `until` = `u64::MAX` while open; from `offline`
    /// to the partition's next `leader` event.
    offline: Vec<(u64, u64)>,
    /// The partition's leader of record: the broker of its last `leader` event and that line; `None` before
    /// any, and after an `offline` until the next `leader`.
    leader: Option<(u32, u64)>,
    /// The highest high watermark a fetch answer of the partition carried so far: (offset, line).
    exposed_high_watermark: Option<(u64, u64)>,
    /// Per broker, the highest log start known of its replica: from `log_start` events with that `broker`
    /// and from the `log_start_offset` of its fetch answers: (offset, line).
    replica_log_starts: BTreeMap<u32, (u64, u64)>,
    /// `leader` events of the partition so far.
    leader_events: u32,
    /// `offline` events of the partition so far.
    offline_events: u32,
    /// The highest `epoch` of the partition's `leader` and `offline` events.
    highest_leader_epoch: Option<i32>,
}

impl PartitionState {
    fn note_leader_epoch(&mut self, epoch: i32) {
        if self
            .highest_leader_epoch
            .is_none_or(|highest| epoch > highest)
        {
            self.highest_leader_epoch = Some(epoch);
        }
    }

    fn highest_read(&self) -> Option<u64> {
        self.read_steps.last().map(|&(_, offset)| offset)
    }

    /// The first poll that read an offset > `offset`: its line and the highest offset read by then.
    fn first_read_above(&self, offset: u64) -> Option<(u64, u64)> {
        let index = self.read_steps.partition_point(|&(_, read)| read <= offset);
        self.read_steps.get(index).copied()
    }

    /// The first authoritative `log_start` with an offset > `offset`: its line and offset.
    fn first_log_start_above(&self, offset: u64) -> Option<(u64, u64)> {
        let index = self
            .log_start_steps
            .partition_point(|&(_, log_start)| log_start <= offset);
        self.log_start_steps.get(index).copied()
    }

    /// Whether the leadership under which a write acknowledged with acks=1 was appended ended: a `leader` or
    /// `offline` event with a higher epoch than `leader_epoch`; without the epoch, any `leader` event after the
    /// partition's first one, or any `offline` event. Anywhere in the history: a deposed leader that does not
    /// know it yet still acknowledges acks=1 writes after its successor's election.
    fn leadership_ended(&self, leader_epoch: Option<u32>) -> bool {
        match leader_epoch {
            Some(epoch) => self
                .highest_leader_epoch
                .is_some_and(|highest| i64::from(highest) > i64::from(epoch)),
            None => self.leader_events > 1 || self.offline_events > 0,
        }
    }

    /// docs/history-format.md: a never-read write at `offset` is evicted when an authoritative `log_start` with an offset
    /// > `offset` came before any poll read an offset > `offset` in this partition.
    fn evicts(&self, offset: u64) -> Option<u64> {
        let (log_start_line, _) = self.first_log_start_above(offset)?;
        match self.first_read_above(offset) {
            Some((read_line, _)) if read_line < log_start_line => None,
            _ => Some(log_start_line),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// In an incarnation (begun by `start`, or implicitly by any event).
    Running,
    Crashed,
    Closed,
}

#[derive(Debug)]
struct ProcessState {
    name: String,
    /// Has the process had any event before the current one?
    seen: bool,
    lifecycle: Lifecycle,
    cursors: BTreeMap<PartitionId, Cursor>,
    /// The first `fatal` report of the current incarnation (an index in `Checker::fatal_reports`).
    fatal: Option<u32>,
}

/// A producer's `fatal` report: it told the application it can send nothing more.
#[derive(Debug, Clone, Copy)]
struct FatalReport {
    line: u64,
    process: ProcessId,
    partition: PartitionId,
    error: ErrorId,
}

/// A restart's view of what came before, for `duplicate-delivery`.
#[derive(Debug, Clone)]
struct RestartBaseline {
    start_line: u64,
    /// The last commit ok before the restart: (offset, line).
    committed: Option<(u64, u64)>,
    /// The lowest offset of a commit of unknown outcome (`info`) before the restart: it may have reached the
    /// coordinator after every later commit, so the restart may begin there.
    unknown_commit: Option<u64>,
    /// When the previous incarnation ended with `close`: what it delivered, and the close line.
    closed_incarnation: Option<(OffsetRanges, u64)>,
}

/// One (process, partition) as a consumer.
#[derive(Debug, Default)]
struct Cursor {
    /// The last offset delivered in this incarnation since the last assign/reset: (offset, line).
    last_delivered: Option<(u64, u64)>,
    /// Everything delivered in this incarnation.
    delivered: OffsetRanges,
    /// After a `close`, until the next `start`: what the closed incarnation delivered, and the close line.
    closed_delivered: Option<(OffsetRanges, u64)>,
    /// Set by a restart (a `start` after earlier events).
    baseline: Option<RestartBaseline>,
    /// The last commit ok: (offset, line).
    last_commit: Option<(u64, u64)>,
    /// The lowest offset of a commit of unknown outcome (`info`), in any incarnation.
    lowest_unknown_commit: Option<u64>,
    /// The highest commit ok since the last reset that lowered the position: (offset, line).
    highest_commit: Option<(u64, u64)>,
    spin: Option<SpinRun>,
    /// The lowest position an `assign` (or a `reset` down) gave this process: it never meant
    /// to read below it. None: the history never said (then it covers every offset).
    start: Option<u64>,
    /// Offsets `[from, to)` a `reset` forward jumped over: this process skipped them on purpose.
    skipped: Vec<(u64, u64)>,
    /// The highest offset this process delivered: (offset, line).
    max_read: Option<(u64, u64)>,
    /// The highest high watermark this process's fetch answers carried: (offset, line).
    answered_high_watermark: Option<(u64, u64)>,
    /// Some fetch answer of this process moved its position without carrying a high watermark: its
    /// deliveries cannot be compared with the high watermarks (`read-above-high-watermark`).
    answered_without_high_watermark: bool,
    /// The last fetch answer of this process for the partition, when it was an `offset_out_of_range` or
    /// `offset_evicted` error: what a `reset` after it follows (`spurious-out-of-range` judges the answer,
    /// not the reset).
    last_fetch_error: Option<(u64, u64)>,
}

impl Cursor {
    /// Whether this process's reading covers `offset`: at or above its start, and not in a
    /// range a reset jumped over.
    fn covers(&self, offset: u64) -> bool {
        self.start.is_none_or(|start| start <= offset)
            && !self
                .skipped
                .iter()
                .any(|&(from, to)| from <= offset && offset < to)
    }

    /// Whether the process read this partition or said where it starts reading it.
    fn reads(&self) -> bool {
        self.start.is_some() || self.max_read.is_some()
    }
}

/// Consecutive requests without progress after the heal while data was available.
#[derive(Debug)]
struct SpinRun {
    heal_line: u64,
    /// The known record that was available when the run began: (offset, line).
    available: (u64, u64),
    log_start: u64,
    request_lines: Vec<u64>,
    last_line: u64,
    length: u32,
    lowest_offset: u64,
    highest_offset: u64,
}

/// A delivery of `to` right after `from` (both in the same incarnation, no assign/reset between) with `to > from + 1`.
#[derive(Debug)]
struct SkipCandidate {
    process: ProcessId,
    partition: PartitionId,
    from: (u64, u64),
    to: (u64, u64),
}

/// One anomaly kind's exact count and its first `ANOMALIES_LISTED_PER_KIND_MAX` anomalies by proving lines.
#[derive(Default)]
struct KindReport {
    count: u64,
    /// A max-heap by (events, explanation): the root is the last of the kept ones.
    kept: BinaryHeap<Ranked>,
}

#[derive(PartialEq, Eq)]
struct Ranked(Anomaly);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.0.events, &self.0.explanation).cmp(&(&other.0.events, &other.0.explanation))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Collects anomalies: exact counts, a bounded list per kind.
struct Reports {
    kinds: Vec<KindReport>,
}

impl Reports {
    fn new() -> Reports {
        Reports {
            kinds: AnomalyKind::ALL
                .iter()
                .map(|_| KindReport::default())
                .collect(),
        }
    }

    /// Counts one anomaly and keeps it if it is among the first listed of its kind. `explanation` is built only
    /// when the anomaly is kept.
    fn add(
        &mut self,
        kind: AnomalyKind,
        events: impl IntoIterator<Item = u64>,
        explanation: impl FnOnce() -> String,
    ) {
        let mut events: Vec<u64> = events.into_iter().collect();
        events.sort_unstable();
        events.dedup();
        assert!(
            !events.is_empty() && events[0] >= 1,
            "an anomaly is proven by at least one line: {events:?}"
        );
        let report = &mut self.kinds[kind.index()];
        report.count += 1;
        if report.kept.len() >= ANOMALIES_LISTED_PER_KIND_MAX {
            let last = report.kept.peek().expect("the heap is full");
            if events >= last.0.events {
                return;
            }
            report.kept.pop();
        }
        report.kept.push(Ranked(Anomaly {
            kind,
            explanation: explanation(),
            events,
        }));
    }
}

/// The checker. Feed it every event of a history in order with [`Checker::observe`], then call
/// [`Checker::finish`]. [`crate::check_events`] and [`crate::check_reader`] do both.
pub struct Checker {
    stats: Stats,
    last_line: u64,
    last_time_ns: u64,

    process_ids: LookupMap<String, ProcessId>,
    processes: Vec<ProcessState>,
    topic_ids: LookupMap<String, TopicId>,
    topics: Vec<TopicState>,
    partition_ids: LookupMap<(TopicId, u32), PartitionId>,
    partitions: Vec<PartitionState>,
    /// The last (topic, partition) looked up: records of one poll mostly share it.
    last_partition: Option<(String, u32, PartitionId)>,
    value_table: ValueTable,
    values: Vec<ValueState>,
    value_reads: Vec<ValueReads>,
    /// Values known at more than one place: the other places.
    value_conflicts: BTreeMap<ValueId, Conflicts<Sighting>>,
    positions: PositionTable,
    /// Offsets known with more than one value: the other values and their lines.
    position_conflicts: BTreeMap<(PartitionId, u64), Conflicts<(ValueId, u64)>>,
    error_ids: LookupMap<String, ErrorId>,
    errors: Vec<String>,

    /// `Some(line of the heal)` while in a liveness phase: after a `heal` fault and before any other fault.
    liveness_heal_line: Option<u64>,
    /// The last `heal` fault of the history so far.
    last_heal_line: Option<u64>,
    skip_candidates: Vec<SkipCandidate>,
    /// `data_loss` reports: (line, process, partition, the log start the broker answered).
    data_loss_reports: Vec<(u64, ProcessId, PartitionId, u64)>,
    /// `fatal` reports, in line order.
    fatal_reports: Vec<FatalReport>,
    /// The line of the first `expire-pid` fault of each partition (its target is `TOPIC-P`).
    pid_expiries: BTreeMap<PartitionId, u64>,
    /// Consumer groups (check/group.rs).
    groups: group::Groups,
    reports: Reports,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            stats: Stats::default(),
            last_line: 0,
            last_time_ns: 0,
            process_ids: LookupMap::default(),
            processes: Vec::new(),
            topic_ids: LookupMap::default(),
            topics: Vec::new(),
            partition_ids: LookupMap::default(),
            partitions: Vec::new(),
            value_table: ValueTable::default(),
            values: Vec::new(),
            value_reads: Vec::new(),
            value_conflicts: BTreeMap::new(),
            position_conflicts: BTreeMap::new(),
            last_partition: None,
            positions: PositionTable::default(),
            error_ids: LookupMap::default(),
            errors: Vec::new(),
            liveness_heal_line: None,
            last_heal_line: None,
            data_loss_reports: Vec::new(),
            fatal_reports: Vec::new(),
            pid_expiries: BTreeMap::new(),
            skip_candidates: Vec::new(),
            groups: group::Groups::default(),
            reports: Reports::new(),
        }
    }

    /// Observes the event on 1-based `line`. Lines must increase and time must not decrease.
    ///
    /// # Panics
    /// When `line` does not increase or `event.time_ns` decreases: the caller broke the history's order (the
    /// reader reports both as bad input before they get here).
    pub fn observe(&mut self, line: u64, event: &Event<'_>) {
        assert!(
            line > self.last_line,
            "history lines must increase: line {line} after line {}",
            self.last_line
        );
        assert!(
            event.time_ns >= self.last_time_ns,
            "history time went backwards on line {line}: {} ns after {} ns",
            event.time_ns,
            self.last_time_ns
        );
        self.last_line = line;
        self.last_time_ns = event.time_ns;
        self.stats.events += 1;

        if let Op::Ignored { .. } = event.op {
            self.stats.ignored_events += 1;
            return;
        }
        if event.op.is_client_operation() {
            self.stats.operations += 1;
        }
        let process = self.process_id(&event.process);
        match &event.op {
            Op::Start => self.on_start(process, line),
            Op::Crash => self.on_end(process, line, Lifecycle::Crashed),
            Op::Close => self.on_end(process, line, Lifecycle::Closed),
            Op::Leader {
                topic,
                partition,
                broker,
                epoch,
                ..
            } => {
                let partition = self.partition_id(topic, *partition);
                let state = &mut self.partitions[partition as usize];
                state.leader = Some((*broker, line));
                state.leader_events += 1;
                state.note_leader_epoch(*epoch);
                if let Some(last) = state.offline.last_mut().filter(|(_, end)| *end == u64::MAX) {
                    last.1 = event.time_ns;
                }
            }
            Op::Offline {
                topic,
                partition,
                epoch,
            } => {
                let partition = self.partition_id(topic, *partition);
                let state = &mut self.partitions[partition as usize];
                state.leader = None;
                state.offline_events += 1;
                state.note_leader_epoch(*epoch);
                if state.offline.last().is_none_or(|(_, end)| *end != u64::MAX) {
                    state.offline.push((event.time_ns, u64::MAX));
                }
            }
            op => {
                if self.processes[process as usize].lifecycle != Lifecycle::Running {
                    self.begin_implicit_incarnation(process);
                }
                self.on_operation(process, line, op);
            }
        }
        self.processes[process as usize].seen = true;
    }

    fn on_operation(&mut self, process: ProcessId, line: u64, op: &Op<'_>) {
        match op {
            Op::SendInvoke {
                key, value, topic, ..
            } => {
                let value = self.value_id(value);
                let topic = self.topic_id(topic);
                let state = &mut self.values[value as usize];
                if state.invoked.is_none() {
                    state.invoked = Some(SendInvoked {
                        line,
                        time_ns: self.last_time_ns,
                        process,
                        keyless: key.is_none(),
                        topic,
                        liveness_heal_line: self.liveness_heal_line,
                    });
                }
            }
            Op::SendOk {
                value: text,
                topic,
                partition,
                offset,
                acks,
                ..
            } => {
                self.stats.sends_ok += 1;
                let partition = self.partition_id(topic, *partition);
                let value = self.value_id(text);
                let sighting = Sighting {
                    partition,
                    offset: *offset,
                    line,
                };
                let state = &mut self.values[value as usize];
                if state.acknowledged.is_none() {
                    state.acknowledged = Some(sighting);
                    state.acks = *acks;
                }
                // An acks=1 acknowledgement does not say the record is readable (below the high watermark):
                // it is no proof that data was there to fetch (`spinloop`).
                let fetchable = *acks == SendAcks::All;
                self.know(value, sighting, false, fetchable, text);
            }
            Op::SendFail { value, error } => {
                let error = self.error_id(error);
                let value = self.value_id(value);
                let fatal = self.processes[process as usize].fatal;
                let state = &mut self.values[value as usize];
                if state.failed.is_none() {
                    state.failed = Some((line, error));
                    state.failed_after_fatal = fatal;
                }
            }
            Op::SendInfo { .. } => {}
            Op::PollOk { records } => {
                for record in records.iter() {
                    let partition = self.partition_id(&record.topic, record.partition);
                    self.deliver(process, line, partition, record.offset, &record.value);
                }
            }
            Op::PollFail {
                topic,
                partition,
                offset,
                error,
                next_available,
            } => {
                let partition = self.partition_id(topic, *partition);
                if error_code::is_internal(error) {
                    let process_name = &self.processes[process as usize].name;
                    let label = self.partition_label(partition);
                    self.reports.add(AnomalyKind::InternalError, [line], || {
                        format!("{process_name} got {error} from a poll of {label} at offset {offset} (line {line})")
                    });
                }
                if error == error_code::OFFSET_EVICTED {
                    self.check_next_available(process, line, partition, *offset, *next_available);
                }
            }
            Op::Request(request) => {
                let Request {
                    api,
                    topic,
                    partition,
                    offset,
                    error,
                    progress,
                    ..
                } = request;
                let partition = self.partition_id(topic, *partition);
                if api == crate::event::api::FETCH {
                    self.on_fetch_answer(process, line, partition, request);
                }
                self.on_request(
                    process,
                    line,
                    partition,
                    api,
                    *offset,
                    error.as_deref(),
                    *progress,
                );
            }
            // A group member's commit: the group rules judge it (check/group.rs), not the process rules.
            Op::Commit {
                phase,
                topic,
                partition,
                offset,
                group: Some(group),
                generation,
                ..
            } => {
                let partition = self.partition_id(topic, *partition);
                self.on_group_commit(
                    process,
                    line,
                    self.last_time_ns,
                    partition,
                    *phase,
                    *offset,
                    group,
                    *generation,
                );
            }
            Op::Commit {
                phase: CommitPhase::Ok,
                topic,
                partition,
                offset,
                ..
            } => {
                let partition = self.partition_id(topic, *partition);
                self.on_commit_ok(process, line, partition, *offset);
            }
            Op::Commit {
                phase: CommitPhase::Info,
                topic,
                partition,
                offset,
                ..
            } => {
                let partition = self.partition_id(topic, *partition);
                let cursor = self.cursor(process, partition);
                cursor.lowest_unknown_commit = Some(
                    cursor
                        .lowest_unknown_commit
                        .map_or(*offset, |lowest| lowest.min(*offset)),
                );
            }
            Op::Commit { .. } => {}
            Op::Assign { partitions } => {
                for assigned in partitions.iter() {
                    let partition = self.partition_id(&assigned.topic, assigned.partition);
                    let cursor = self.cursor(process, partition);
                    cursor.last_delivered = None;
                    // A later start with no commit ok of this partition before it came from the
                    // reset policy (`auto.offset.reset = latest` after a crash before the first
                    // commit): what lies between what it read and where it starts was skipped on
                    // purpose. A start from a commit skips nothing a correct commit left unread.
                    if cursor.start.is_some() && cursor.last_commit.is_none() {
                        let read_to = cursor.max_read.map_or(0, |(offset, _)| offset + 1);
                        if assigned.offset > read_to {
                            cursor.skipped.push((read_to, assigned.offset));
                        }
                    }
                    cursor.start = Some(
                        cursor
                            .start
                            .map_or(assigned.offset, |start| start.min(assigned.offset)),
                    );
                    self.on_group_assign(process, line, partition);
                }
            }
            Op::Reset {
                topic,
                partition,
                from,
                to,
                reason,
            } => {
                let partition = self.partition_id(topic, *partition);
                if reason == crate::event::reset_reason::OUT_OF_RANGE {
                    self.check_out_of_range_reset(process, line, partition, *from, *to);
                }
                // A jump forward skips `[from, to)` on purpose when the application asked for it
                // (`seek`) or when `from` really was out of range (below the authoritative log
                // start): what it skips is then not expected of this process. A jump from an
                // offset still in the log is no excuse (a spurious out-of-range, KAFKA-2477).
                let genuine = reason == "seek"
                    || self.partitions[partition as usize]
                        .log_start
                        .is_some_and(|(log_start, _)| *from < log_start);
                let cursor = self.cursor(process, partition);
                cursor.last_delivered = None;
                if *to > *from {
                    if genuine {
                        cursor.skipped.push((*from, *to));
                    }
                } else if cursor.start.is_some_and(|start| *to < start) {
                    cursor.start = Some(*to);
                }
                // `commit-regressed` excuses a lower commit after "a reset to a lower position": a reset that
                // moved the position down (to < from), or to below an earlier commit. Either clears the earlier
                // commits it is compared with.
                let lowers_below_commit = cursor
                    .highest_commit
                    .is_some_and(|(committed, _)| *to < committed);
                if *to < *from || lowers_below_commit {
                    cursor.highest_commit = None;
                }
                self.on_group_reset(process, partition, *to);
            }
            Op::InitPid { .. } | Op::Leader { .. } | Op::Offline { .. } => {}
            Op::Join {
                group,
                generation,
                member,
                leader,
                ..
            } => self.on_join(process, line, group, *generation, member, *leader),
            Op::Assignment {
                group,
                generation,
                partitions,
                ..
            } => self.on_assignment(process, line, group, *generation, partitions),
            Op::Revoke {
                group, partitions, ..
            } => self.on_revoke(process, line, group, partitions),
            Op::Leave { group, .. } => self.on_leave(process, line, group),
            Op::OffsetsExpired {
                group,
                partitions,
                retention_ms,
            } => self.on_offsets_expired(line, self.last_time_ns, group, partitions, *retention_ms),
            Op::DataLoss {
                topic,
                partition,
                log_start,
            } => {
                let partition = self.partition_id(topic, *partition);
                self.data_loss_reports
                    .push((line, process, partition, *log_start));
            }
            Op::Fatal {
                topic,
                partition,
                error,
            } => {
                let partition = self.partition_id(topic, *partition);
                let error = self.error_id(error);
                let index =
                    u32::try_from(self.fatal_reports.len()).expect("fewer than 2^32 fatal reports");
                self.fatal_reports.push(FatalReport {
                    line,
                    process,
                    partition,
                    error,
                });
                let state = &mut self.processes[process as usize];
                state.fatal.get_or_insert(index);
            }
            Op::LogStart {
                topic,
                partition,
                offset,
                broker,
            } => {
                let partition = self.partition_id(topic, *partition);
                if let Some(broker) = broker {
                    self.note_replica_log_start(partition, *broker, *offset, line);
                } else {
                    let state = &mut self.partitions[partition as usize];
                    state.log_start = Some((*offset, line));
                    if state
                        .log_start_steps
                        .last()
                        .is_none_or(|&(_, highest)| *offset > highest)
                    {
                        state.log_start_steps.push((line, *offset));
                    }
                }
            }
            Op::Partitions { topic, count } => {
                let topic = self.topic_id(topic);
                let state = &mut self.topics[topic as usize];
                if let Some(previous) = state.partition_count {
                    if *count > previous {
                        state
                            .raises
                            .push((line, self.last_time_ns, previous, *count));
                    }
                }
                state.partition_count = Some(*count);
            }
            Op::Fault { fault, target } => {
                if fault == FaultKind::ExpirePid.as_str() {
                    let partition = target
                        .as_deref()
                        .and_then(|target| target.rsplit_once('-'))
                        .and_then(|(topic, partition)| Some((topic, partition.parse().ok()?)));
                    if let Some((topic, partition)) = partition {
                        let partition = self.partition_id(topic, partition);
                        self.pid_expiries.entry(partition).or_insert(line);
                    }
                }
                if fault == FaultKind::Heal.as_str() {
                    self.liveness_heal_line = Some(line);
                    self.last_heal_line = Some(line);
                } else {
                    // A fault after a heal ends that liveness phase: faults are not repaired any more.
                    self.liveness_heal_line = None;
                }
            }
            Op::Start | Op::Crash | Op::Close | Op::Ignored { .. } => {
                unreachable!("handled by observe")
            }
        }
    }

    /// `start`: a new incarnation. After earlier events of the process it is a restart, which fixes the
    /// baselines of `duplicate-delivery`.
    fn on_start(&mut self, process: ProcessId, line: u64) {
        let state = &mut self.processes[process as usize];
        let restart = state.seen;
        let closed = state.lifecycle == Lifecycle::Closed;
        for cursor in state.cursors.values_mut() {
            let closed_incarnation = cursor.closed_delivered.take().filter(|_| closed);
            cursor.baseline = restart.then_some(RestartBaseline {
                start_line: line,
                committed: cursor.last_commit,
                unknown_commit: cursor.lowest_unknown_commit,
                closed_incarnation,
            });
            cursor.last_delivered = None;
            cursor.delivered.clear();
        }
        state.lifecycle = Lifecycle::Running;
        state.fatal = None;
        if restart {
            self.end_group_incarnation(process, line, group::OwnershipEnd::Restart);
        }
    }

    /// `crash` or `close`: the incarnation ends. A close keeps what the incarnation delivered for the next one.
    fn on_end(&mut self, process: ProcessId, line: u64, how: Lifecycle) {
        let state = &mut self.processes[process as usize];
        for cursor in state.cursors.values_mut() {
            cursor.last_delivered = None;
            let delivered = std::mem::take(&mut cursor.delivered);
            cursor.closed_delivered = (how == Lifecycle::Closed).then_some((delivered, line));
        }
        state.lifecycle = how;
        state.fatal = None;
        let by = match how {
            Lifecycle::Closed => group::OwnershipEnd::Close,
            _ => group::OwnershipEnd::Crash,
        };
        self.end_group_incarnation(process, line, by);
    }

    /// An event of a crashed or closed process without a `start` first: an incarnation began unannounced, so
    /// the closed one is no longer the previous incarnation.
    fn begin_implicit_incarnation(&mut self, process: ProcessId) {
        let state = &mut self.processes[process as usize];
        for cursor in state.cursors.values_mut() {
            cursor.closed_delivered = None;
        }
        state.lifecycle = Lifecycle::Running;
        state.fatal = None;
    }

    fn process_id(&mut self, name: &str) -> ProcessId {
        if let Some(&id) = self.process_ids.get(name) {
            return id;
        }
        self.new_process(name)
    }

    fn new_process(&mut self, name: &str) -> ProcessId {
        let id = u32::try_from(self.processes.len()).expect("fewer than 2^32 processes");
        self.process_ids.insert(name.to_string(), id);
        self.processes.push(ProcessState {
            name: name.to_string(),
            seen: false,
            lifecycle: Lifecycle::Running,
            cursors: BTreeMap::new(),
            fatal: None,
        });
        id
    }

    fn topic_id(&mut self, name: &str) -> TopicId {
        if let Some(&id) = self.topic_ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.topics.len()).expect("fewer than 2^32 topics");
        self.topic_ids.insert(name.to_string(), id);
        self.topics.push(TopicState {
            name: name.to_string(),
            partition_count: None,
            raises: Vec::new(),
        });
        id
    }

    fn partition_id(&mut self, topic_name: &str, partition: u32) -> PartitionId {
        if let Some((last_topic, last_partition, id)) = &self.last_partition {
            if *last_partition == partition && last_topic == topic_name {
                return *id;
            }
        }
        let id = self.partition_id_uncached(topic_name, partition);
        let mut last_topic = self
            .last_partition
            .take()
            .map(|(name, _, _)| name)
            .unwrap_or_default();
        last_topic.clear();
        last_topic.push_str(topic_name);
        self.last_partition = Some((last_topic, partition, id));
        id
    }

    fn partition_id_uncached(&mut self, topic: &str, partition: u32) -> PartitionId {
        let topic = self.topic_id(topic);
        if let Some(&id) = self.partition_ids.get(&(topic, partition)) {
            return id;
        }
        let id = u32::try_from(self.partitions.len()).expect("fewer than 2^32 partitions");
        self.partition_ids.insert((topic, partition), id);
        self.partitions.push(PartitionState {
            topic,
            partition,
            log_start_steps: Vec::new(),
            log_start: None,
            read_steps: Vec::new(),
            highest_known: None,
            texts: String::new(),
            offline: Vec::new(),
            leader: None,
            exposed_high_watermark: None,
            replica_log_starts: BTreeMap::new(),
            leader_events: 0,
            offline_events: 0,
            highest_leader_epoch: None,
        });
        id
    }

    fn value_id(&mut self, text: &str) -> ValueId {
        let (id, new) = self.value_table.intern(text);
        if new {
            debug_assert_eq!(id as usize, self.values.len());
            self.values.push(ValueState::default());
            self.value_reads.push(ValueReads::default());
        }
        id
    }

    fn error_id(&mut self, error: &str) -> ErrorId {
        if let Some(&id) = self.error_ids.get(error) {
            return id;
        }
        let id = u32::try_from(self.errors.len()).expect("fewer than 2^32 error codes");
        self.error_ids.insert(error.to_string(), id);
        self.errors.push(error.to_string());
        id
    }

    fn cursor(&mut self, process: ProcessId, partition: PartitionId) -> &mut Cursor {
        self.processes[process as usize]
            .cursors
            .entry(partition)
            .or_default()
    }

    /// `topic/partition`, e.g. `orders/0`.
    fn partition_label(&self, partition: PartitionId) -> String {
        let state = &self.partitions[partition as usize];
        format!(
            "{}/{}",
            self.topics[state.topic as usize].name, state.partition
        )
    }
}

/// An acknowledged send with a recorded invoke, for `nonmonotonic-send`.
#[derive(Debug, Clone, Copy)]
struct InvokedSend {
    invoke_line: u64,
    offset: u64,
    ok_line: u64,
    value: ValueId,
}

/// A keyless acknowledged send with a recorded invoke, for `stale-partitions`.
#[derive(Debug, Clone, Copy)]
struct KeylessSend {
    invoke_line: u64,
    invoke_time_ns: u64,
    partition: u32,
    ok_line: u64,
}

/// Why a delivery after a restart is a `duplicate-delivery`.
#[derive(Debug, Clone, Copy)]
enum Redelivery {
    BelowCommit {
        committed: u64,
        commit_line: u64,
    },
    AfterClose {
        close_line: u64,
        first: u64,
        last: u64,
        first_line: u64,
    },
}
