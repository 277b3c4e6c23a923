//! The checkers: one pass over the events, keeping compact state per value, per (partition, offset), per
//! partition and per (process, partition), then a final resolution of everything that needs whole-history
//! knowledge (what is *known*, what is *evicted*, the order of sends by invocation).
//!
//! Cost: each event costs O(log n) (hash lookups, a few small ordered maps per consumer); the resolution sorts
//! per-partition lists once and answers each pending question with a binary search. Memory: O(distinct values +
//! distinct (partition, offset) + processes x partitions + pending poll skips); no event is kept.
//!
//! The definitions are docs/history-format.md's table; where the table leaves a choice, the comment on the check says which
//! reading is implemented (the crate documentation lists them all).

use std::collections::{BTreeMap, BinaryHeap};

use crate::event::{error_code, CommitPhase, Event, FaultKind, Op, Request};
use crate::intern::{LookupMap, OffsetRanges, ValueTable};
use crate::result::{Anomaly, AnomalyKind, CheckResult, Stats, ANOMALIES_LISTED_PER_KIND_MAX};

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
    /// The first `send` fail: (line, error).
    failed: Option<(u64, ErrorId)>,
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
    /// The highest offset named so far by a send ok or a poll: (offset, line).
    highest_known: Option<(u64, u64)>,
    /// The texts of the values first known at this partition's offsets, in the order they became known.
    texts: String,
}

impl PartitionState {
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
}

/// A restart's view of what came before, for `duplicate-delivery`.
#[derive(Debug, Clone)]
struct RestartBaseline {
    start_line: u64,
    /// The last commit ok before the restart: (offset, line).
    committed: Option<(u64, u64)>,
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
    /// The highest commit ok since the last reset that lowered the position: (offset, line).
    highest_commit: Option<(u64, u64)>,
    spin: Option<SpinRun>,
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
            skip_candidates: Vec::new(),
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
            Op::SendInvoke { key, value, .. } => {
                let value = self.value_id(value);
                let state = &mut self.values[value as usize];
                if state.invoked.is_none() {
                    state.invoked = Some(SendInvoked {
                        line,
                        time_ns: self.last_time_ns,
                        process,
                        keyless: key.is_none(),
                        liveness_heal_line: self.liveness_heal_line,
                    });
                }
            }
            Op::SendOk {
                value: text,
                topic,
                partition,
                offset,
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
                }
                self.know(value, sighting, false, text);
            }
            Op::SendFail { value, error } => {
                let error = self.error_id(error);
                let value = self.value_id(value);
                let state = &mut self.values[value as usize];
                if state.failed.is_none() {
                    state.failed = Some((line, error));
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
            Op::Request(Request {
                api,
                topic,
                partition,
                offset,
                error,
                progress,
                ..
            }) => {
                let partition = self.partition_id(topic, *partition);
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
            Op::Commit {
                phase: CommitPhase::Ok,
                topic,
                partition,
                offset,
            } => {
                let partition = self.partition_id(topic, *partition);
                self.on_commit_ok(process, line, partition, *offset);
            }
            Op::Commit { .. } => {}
            Op::Assign { partitions } => {
                for assigned in partitions.iter() {
                    let partition = self.partition_id(&assigned.topic, assigned.partition);
                    self.cursor(process, partition).last_delivered = None;
                }
            }
            Op::Reset {
                topic,
                partition,
                from,
                to,
                ..
            } => {
                let partition = self.partition_id(topic, *partition);
                let cursor = self.cursor(process, partition);
                cursor.last_delivered = None;
                // `commit-regressed` excuses a lower commit after "a reset to a lower position": a reset that
                // moved the position down (to < from), or to below an earlier commit. Either clears the earlier
                // commits it is compared with.
                let lowers_below_commit = cursor
                    .highest_commit
                    .is_some_and(|(committed, _)| *to < committed);
                if *to < *from || lowers_below_commit {
                    cursor.highest_commit = None;
                }
            }
            Op::InitPid { .. } | Op::Leader { .. } => {}
            Op::LogStart {
                topic,
                partition,
                offset,
                broker,
            } => {
                let partition = self.partition_id(topic, *partition);
                if broker.is_none() {
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
            Op::Fault { fault, .. } => {
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
                closed_incarnation,
            });
            cursor.last_delivered = None;
            cursor.delivered.clear();
        }
        state.lifecycle = Lifecycle::Running;
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
    }

    /// An event of a crashed or closed process without a `start` first: an incarnation began unannounced, so
    /// the closed one is no longer the previous incarnation.
    fn begin_implicit_incarnation(&mut self, process: ProcessId) {
        let state = &mut self.processes[process as usize];
        for cursor in state.cursors.values_mut() {
            cursor.closed_delivered = None;
        }
        state.lifecycle = Lifecycle::Running;
    }

    /// One record delivered by a poll of `process` on `line`.
    ///
    /// The usual case is a record whose offset is already known with this very value (its send ok, or an
    /// earlier read): the offset's slot says which value, the partition's text log confirms the text, and the
    /// read is noted in the slot. Consumers read offsets in order, so this touches memory in order too; only
    /// other reads (an unknown offset, another value there) go through the value table.
    fn deliver(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        offset: u64,
        text: &str,
    ) {
        let texts = &self.partitions[partition as usize].texts;
        let known = match self.positions.get_mut(partition, offset) {
            Some(slot) if slot.text(texts) == text => {
                slot.read = true;
                if slot.first_read_line == 0 {
                    slot.first_read_line = line;
                    slot.first_read_process = process;
                }
                Some(slot.value)
            }
            _ => None,
        };
        if known.is_none() {
            let value = self.value_id(text);
            let reads = &mut self.value_reads[value as usize];
            if reads.first_read.is_none() {
                reads.first_read = Some((line, process));
            }
            self.know(
                value,
                Sighting {
                    partition,
                    offset,
                    line,
                },
                true,
                text,
            );
        }
        let partition_state = &mut self.partitions[partition as usize];
        if partition_state
            .highest_known
            .is_none_or(|(highest, _)| offset > highest)
        {
            partition_state.highest_known = Some((offset, line));
        }
        let partition_state = &mut self.partitions[partition as usize];
        match partition_state.read_steps.last_mut() {
            Some((_, highest)) if offset <= *highest => {}
            // Several records of one poll: one step per event.
            Some((step_line, highest)) if *step_line == line => *highest = offset,
            _ => partition_state.read_steps.push((line, offset)),
        }

        let cursor = self.cursor(process, partition);
        let mut duplicate_delivery = None;
        if let Some(baseline) = &cursor.baseline {
            if let Some((committed, commit_line)) = baseline
                .committed
                .filter(|&(committed, _)| offset < committed)
            {
                duplicate_delivery = Some((
                    baseline.start_line,
                    Redelivery::BelowCommit {
                        committed,
                        commit_line,
                    },
                ));
            } else if let Some((ranges, close_line)) = &baseline.closed_incarnation {
                if let Some((first, last, first_line)) = ranges.find(offset) {
                    duplicate_delivery = Some((
                        baseline.start_line,
                        Redelivery::AfterClose {
                            close_line: *close_line,
                            first,
                            last,
                            first_line,
                        },
                    ));
                }
            }
        }
        let previous = cursor.last_delivered.replace((offset, line));
        cursor.delivered.insert(offset, line);

        if let Some((start_line, redelivery)) = duplicate_delivery {
            self.report_duplicate_delivery(
                process, partition, offset, line, start_line, redelivery,
            );
        }
        if let Some((previous_offset, previous_line)) = previous {
            if offset <= previous_offset {
                let process_name = &self.processes[process as usize].name;
                let label = self.partition_label(partition);
                self.reports.add(AnomalyKind::NonmonotonicPoll, [previous_line, line], || {
                    format!(
                        "{process_name} delivered {label} offset {offset} (line {line}) after offset \
                         {previous_offset} (line {previous_line}) in the same incarnation, with no assign or reset \
                         of {label} in between"
                    )
                });
            } else if offset > previous_offset + 1 {
                self.skip_candidates.push(SkipCandidate {
                    process,
                    partition,
                    from: (previous_offset, previous_line),
                    to: (offset, line),
                });
            }
        }
    }

    fn report_duplicate_delivery(
        &mut self,
        process: ProcessId,
        partition: PartitionId,
        offset: u64,
        line: u64,
        start_line: u64,
        redelivery: Redelivery,
    ) {
        let process_name = &self.processes[process as usize].name;
        let label = self.partition_label(partition);
        match redelivery {
            Redelivery::BelowCommit {
                committed,
                commit_line,
            } => {
                self.reports.add(AnomalyKind::DuplicateDelivery, [commit_line, start_line, line], || {
                    format!(
                        "{process_name} restarted (line {start_line}) and delivered {label} offset {offset} (line \
                         {line}), below offset {committed} that it had committed before the restart (line \
                         {commit_line})"
                    )
                });
            }
            Redelivery::AfterClose {
                close_line,
                first,
                last,
                first_line,
            } => {
                self.reports.add(AnomalyKind::DuplicateDelivery, [first_line, close_line, start_line, line], || {
                    format!(
                        "{process_name} closed cleanly (line {close_line}), restarted (line {start_line}) and \
                         delivered {label} offset {offset} again (line {line}): its previous incarnation had \
                         delivered offsets {first}..={last} from line {first_line} on"
                    )
                });
            }
        }
    }

    fn on_commit_ok(&mut self, process: ProcessId, line: u64, partition: PartitionId, offset: u64) {
        let cursor = self.cursor(process, partition);
        cursor.last_commit = Some((offset, line));
        let regressed_from = cursor
            .highest_commit
            .filter(|&(highest, _)| offset < highest);
        if cursor
            .highest_commit
            .is_none_or(|(highest, _)| offset > highest)
        {
            cursor.highest_commit = Some((offset, line));
        }
        if let Some((highest, highest_line)) = regressed_from {
            let process_name = &self.processes[process as usize].name;
            let label = self.partition_label(partition);
            self.reports.add(AnomalyKind::CommitRegressed, [highest_line, line], || {
                format!(
                    "{process_name} committed {label} offset {offset} (line {line}), lower than its earlier commit \
                     of offset {highest} (line {highest_line}), with no reset to a lower position in between"
                )
            });
        }
    }

    /// `wrong-next-available`: an `offset_evicted` poll error whose `next_available` differs from the last
    /// authoritative log start before it. Without `next_available`, or before any authoritative `log_start` of the
    /// partition, there is nothing to compare and nothing is asserted.
    fn check_next_available(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        offset: u64,
        next_available: Option<u64>,
    ) {
        let Some(next_available) = next_available else {
            return;
        };
        let Some((log_start, log_start_line)) = self.partitions[partition as usize].log_start
        else {
            return;
        };
        if next_available == log_start {
            return;
        }
        let process_name = &self.processes[process as usize].name;
        let label = self.partition_label(partition);
        self.reports.add(AnomalyKind::WrongNextAvailable, [log_start_line, line], || {
            format!(
                "{process_name} got offset_evicted for {label} offset {offset} with next_available {next_available} \
                 (line {line}), but the authoritative log start was {log_start} (line {log_start_line})"
            )
        });
    }

    /// `internal-error` and `spinloop`.
    ///
    /// A spinloop run is a sequence of consecutive requests of one process for one partition, each one: after
    /// the heal (in the liveness phase), without progress, and made while a known record at or above both the
    /// requested offset and the authoritative log start existed. "Existed" is decided by the history up to that
    /// request: a record counts once a send ok or a poll has named it, and "not evicted" means the log start had
    /// not passed it. (Knowledge from later lines cannot prove data was there to fetch: a caught-up consumer
    /// polling an empty partition is not spinning.) Any other request of that process for that partition ends the
    /// run; a run of `SPINLOOP_REQUESTS_MIN` or more is one anomaly.
    #[allow(clippy::too_many_arguments)]
    fn on_request(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        api: &str,
        offset: u64,
        error: Option<&str>,
        progress: bool,
    ) {
        if let Some(error) = error {
            if error_code::is_internal(error) {
                let process_name = &self.processes[process as usize].name;
                let label = self.partition_label(partition);
                self.reports.add(AnomalyKind::InternalError, [line], || {
                    format!("{process_name} got {error} from a {api} request for {label} at offset {offset} (line {line})")
                });
            }
        }
        let partition_state = &self.partitions[partition as usize];
        let log_start = partition_state.log_start.map_or(0, |(offset, _)| offset);
        let available = partition_state
            .highest_known
            .filter(|&(highest, _)| highest >= offset.max(log_start));
        let spinning = match (self.liveness_heal_line, available) {
            (Some(heal_line), Some(available)) if !progress => Some((heal_line, available)),
            _ => None,
        };
        let cursor = self.cursor(process, partition);
        match (spinning, &mut cursor.spin) {
            (Some(_), Some(run)) => {
                run.length += 1;
                run.last_line = line;
                run.lowest_offset = run.lowest_offset.min(offset);
                run.highest_offset = run.highest_offset.max(offset);
                if run.request_lines.len() < SPINLOOP_REQUEST_LINES_LISTED_MAX {
                    run.request_lines.push(line);
                }
            }
            (Some((heal_line, available)), None) => {
                cursor.spin = Some(SpinRun {
                    heal_line,
                    available,
                    log_start,
                    request_lines: vec![line],
                    last_line: line,
                    length: 1,
                    lowest_offset: offset,
                    highest_offset: offset,
                });
            }
            (None, _) => {
                if let Some(run) = cursor.spin.take() {
                    self.finish_spin_run(process, partition, run);
                }
            }
        }
    }

    fn finish_spin_run(&mut self, process: ProcessId, partition: PartitionId, run: SpinRun) {
        if run.length < SPINLOOP_REQUESTS_MIN {
            return;
        }
        let process_name = &self.processes[process as usize].name;
        let label = self.partition_label(partition);
        let (available_offset, available_line) = run.available;
        let mut lines = vec![run.heal_line, available_line, run.last_line];
        lines.extend_from_slice(&run.request_lines);
        self.reports.add(AnomalyKind::Spinloop, lines, || {
            let offsets = if run.lowest_offset == run.highest_offset {
                format!("offset {}", run.lowest_offset)
            } else {
                format!("offsets {}..={}", run.lowest_offset, run.highest_offset)
            };
            format!(
                "{process_name} made {} consecutive requests for {label} without progress (lines {}..={}), after \
                 the heal (line {}), asking for {offsets} while {label} offset {available_offset} was known (line \
                 {available_line}) at or above the log start {}",
                run.length,
                run.request_lines[0],
                run.last_line,
                run.heal_line,
                run.log_start
            )
        });
    }

    /// Records that `value` (whose text is `text`) is known at `sighting` (from a send ok, or from a poll when
    /// `read`).
    fn know(&mut self, value: ValueId, sighting: Sighting, read: bool, text: &str) {
        let place = (sighting.partition, sighting.offset);
        let reads = &mut self.value_reads[value as usize];
        match reads.known_at {
            None => {
                reads.known_at = Some(place);
                self.values[value as usize].known_line = sighting.line;
            }
            Some(first) if first == place => {}
            Some(_) => self
                .value_conflicts
                .entry(value)
                .or_default()
                .add(sighting, |kept, new| {
                    (kept.partition, kept.offset) == (new.partition, new.offset)
                }),
        }

        let partition_state = &mut self.partitions[sighting.partition as usize];
        if partition_state
            .highest_known
            .is_none_or(|(highest, _)| sighting.offset > highest)
        {
            partition_state.highest_known = Some((sighting.offset, sighting.line));
        }

        let slot = self.positions.slot(sighting.partition, sighting.offset);
        if slot.is_empty() {
            let texts = &mut partition_state.texts;
            *slot = PositionSlot {
                line: sighting.line,
                first_read_line: 0,
                text_at: texts.len() as u64,
                value,
                first_read_process: 0,
                text_length: u32::try_from(text.len()).expect("a value shorter than 4 GiB"),
                read,
            };
            texts.push_str(text);
            return;
        }
        slot.read |= read;
        if slot.value != value {
            self.position_conflicts
                .entry(place)
                .or_default()
                .add((value, sighting.line), |kept, new| kept.0 == new.0);
        }
    }

    /// Resolves everything that needs the whole history and returns the verdict.
    pub fn finish(mut self) -> CheckResult {
        // Spinloop runs still open at the end of the history.
        for process in 0..self.processes.len() {
            let open: Vec<(PartitionId, SpinRun)> = self.processes[process]
                .cursors
                .iter_mut()
                .filter_map(|(&partition, cursor)| cursor.spin.take().map(|run| (partition, run)))
                .collect();
            for (partition, run) in open {
                self.finish_spin_run(process as ProcessId, partition, run);
            }
        }
        self.merge_reads();
        self.resolve_values();
        self.resolve_positions_and_skips();
        self.resolve_send_order();
        self.resolve_stale_partitions();

        let mut anomalies = Vec::new();
        let mut counts = BTreeMap::new();
        for (kind, report) in AnomalyKind::ALL.into_iter().zip(self.reports.kinds) {
            if report.count == 0 {
                continue;
            }
            counts.insert(kind.as_str().to_string(), report.count);
            anomalies.extend(
                report
                    .kept
                    .into_sorted_vec()
                    .into_iter()
                    .map(|ranked| ranked.0),
            );
        }
        CheckResult {
            valid: counts.is_empty(),
            anomalies,
            counts,
            stats: self.stats,
        }
    }

    /// Folds the first reads noted in the offset slots into the values' first reads, then counts the values read.
    fn merge_reads(&mut self) {
        for (_, _, slot) in self.positions.known() {
            if slot.first_read_line == 0 {
                continue;
            }
            let reads = &mut self.value_reads[slot.value as usize];
            if reads
                .first_read
                .is_none_or(|(line, _)| slot.first_read_line < line)
            {
                reads.first_read = Some((slot.first_read_line, slot.first_read_process));
            }
        }
        self.stats.records_read = self
            .value_reads
            .iter()
            .filter(|reads| reads.first_read.is_some())
            .count() as u64;
    }

    /// Per value: `duplicate`, `G1a`, `producer-stalled`, and the fate of acknowledged writes nobody read:
    /// evicted, `lost-write`, or `unseen`.
    fn resolve_values(&mut self) {
        for value in 0..self.values.len() {
            let state = &self.values[value];
            let text = self.value_table.text(value as ValueId);

            let reads = self.value_reads[value];
            if let (Some((partition, offset)), Some(conflicts)) = (
                reads.known_at,
                self.value_conflicts.get(&(value as ValueId)),
            ) {
                let first = Sighting {
                    partition,
                    offset,
                    line: state.known_line,
                };
                let places: Vec<Sighting> = std::iter::once(first)
                    .chain(conflicts.items.iter().copied())
                    .collect();
                let more = if conflicts.truncated { " and more" } else { "" };
                let described: Vec<String> = places
                    .iter()
                    .map(|place| {
                        format!(
                            "{} offset {} (line {})",
                            self.partition_label(place.partition),
                            place.offset,
                            place.line
                        )
                    })
                    .collect();
                self.reports.add(
                    AnomalyKind::Duplicate,
                    places.iter().map(|place| place.line),
                    || {
                        format!(
                            "value {text} is known at {} offsets: {}{more}",
                            places.len(),
                            described.join(", ")
                        )
                    },
                );
            }

            if let (Some((fail_line, error)), Some((read_line, reader))) =
                (state.failed, reads.first_read)
            {
                let error = &self.errors[error as usize];
                let reader = &self.processes[reader as usize].name;
                self.reports.add(AnomalyKind::G1a, [fail_line, read_line], || {
                    format!(
                        "{reader} read value {text} (line {read_line}), whose send definitely failed with {error} \
                         (line {fail_line})"
                    )
                });
            }

            if let (Some(invoked), Some((fail_line, error))) = (state.invoked, state.failed) {
                if let Some(heal_line) = invoked.liveness_heal_line {
                    let error = &self.errors[error as usize];
                    let producer = &self.processes[invoked.process as usize].name;
                    let invoke_line = invoked.line;
                    self.reports.add(AnomalyKind::ProducerStalled, [heal_line, invoke_line, fail_line], || {
                        format!(
                            "{producer}'s send of {text}, invoked after the heal (line {heal_line}) on line \
                             {invoke_line}, failed with {error} (line {fail_line})"
                        )
                    });
                }
            }

            let Some(acknowledged) = state.acknowledged else {
                continue;
            };
            if reads.first_read.is_some() {
                continue;
            }
            let partition = &self.partitions[acknowledged.partition as usize];
            let offset = acknowledged.offset;
            if partition.evicts(offset).is_some() {
                self.stats.evicted += 1;
                continue;
            }
            let label = self.partition_label(acknowledged.partition);
            let ok_line = acknowledged.line;
            if let Some((read_line, read_offset)) = partition.first_read_above(offset) {
                self.reports.add(AnomalyKind::LostWrite, [ok_line, read_line], || {
                    format!(
                        "value {text} was acknowledged at {label} offset {offset} (line {ok_line}) and never read, \
                         while a poll read the higher offset {read_offset} of {label} (line {read_line}) and no \
                         log start had passed offset {offset} before that"
                    )
                });
            } else if let Some(heal_line) = self.last_heal_line {
                let highest_read = match partition.highest_read() {
                    Some(highest) => format!("the highest offset read of {label} is {highest}"),
                    None => format!("no poll read {label}"),
                };
                self.reports.add(AnomalyKind::Unseen, [ok_line, heal_line], || {
                    format!(
                        "value {text} was acknowledged at {label} offset {offset} (line {ok_line}) and never read \
                         nor evicted, although the history has a heal (line {heal_line}); {highest_read}"
                    )
                });
            }
        }
    }

    /// Per offset: `inconsistent-offsets`. Then `poll-skip`: a skipped offset must be known and not evicted. An
    /// offset counts as evicted here when no poll read it and the log start passed it before any poll read
    /// beyond it (the rule of docs/history-format.md for never-read writes, applied to the offset).
    fn resolve_positions_and_skips(&mut self) {
        for (&(partition, offset), conflicts) in &self.position_conflicts {
            let label = self.partition_label(partition);
            let first = self
                .positions
                .peek(partition, offset)
                .map(|slot| (slot.value, slot.line))
                .expect("a conflicting offset is known");
            let values: Vec<(ValueId, u64)> = std::iter::once(first)
                .chain(conflicts.items.iter().copied())
                .collect();
            let more = if conflicts.truncated { " and more" } else { "" };
            let described: Vec<String> = values
                .iter()
                .map(|&(value, line)| format!("{} (line {line})", self.value_table.text(value)))
                .collect();
            self.reports.add(
                AnomalyKind::InconsistentOffsets,
                values.iter().map(|&(_, line)| line),
                || {
                    format!(
                        "{label} offset {offset} is known with {} values: {}{more}",
                        values.len(),
                        described.join(", ")
                    )
                },
            );
        }
        let mut available: Vec<Vec<(u64, u64)>> = vec![Vec::new(); self.partitions.len()];
        for (partition, offset, slot) in self.positions.known() {
            if slot.read || self.partitions[partition as usize].evicts(offset).is_none() {
                available[partition as usize].push((offset, slot.line));
            }
        }
        for offsets in &mut available {
            offsets.sort_unstable();
        }
        for candidate in std::mem::take(&mut self.skip_candidates) {
            let offsets = &available[candidate.partition as usize];
            let (from, from_line) = candidate.from;
            let (to, to_line) = candidate.to;
            debug_assert!(to > from + 1);
            let index = offsets.partition_point(|&(offset, _)| offset <= from);
            let Some(&(skipped, skipped_line)) =
                offsets.get(index).filter(|&&(offset, _)| offset < to)
            else {
                continue;
            };
            let process_name = &self.processes[candidate.process as usize].name;
            let label = self.partition_label(candidate.partition);
            self.reports.add(AnomalyKind::PollSkip, [from_line, to_line, skipped_line], || {
                format!(
                    "{process_name} delivered {label} offset {to} (line {to_line}) right after offset {from} (line \
                     {from_line}), skipping offset {skipped}, which is known (line {skipped_line}) and not evicted"
                )
            });
        }
    }

    /// `nonmonotonic-send`: per producer process and partition, acknowledged sends in invocation order must have
    /// increasing offsets. Sends without a recorded invoke have no invocation order and are left out.
    fn resolve_send_order(&mut self) {
        let mut sends: BTreeMap<(ProcessId, PartitionId), Vec<InvokedSend>> = BTreeMap::new();
        for (value, state) in self.values.iter().enumerate() {
            if let (Some(invoked), Some(acknowledged)) = (state.invoked, state.acknowledged) {
                sends
                    .entry((invoked.process, acknowledged.partition))
                    .or_default()
                    .push(InvokedSend {
                        invoke_line: invoked.line,
                        offset: acknowledged.offset,
                        ok_line: acknowledged.line,
                        value: value as ValueId,
                    });
            }
        }
        for ((process, partition), mut sends) in sends {
            sends.sort_unstable_by_key(|send| send.invoke_line);
            // The send with the highest offset among those invoked so far.
            let mut highest: Option<InvokedSend> = None;
            for send in sends {
                match highest {
                    Some(earlier) if send.offset < earlier.offset => {
                        let process_name = &self.processes[process as usize].name;
                        let label = self.partition_label(partition);
                        let earlier_text = self.value_table.text(earlier.value);
                        let text = self.value_table.text(send.value);
                        let lines = [
                            earlier.invoke_line,
                            send.invoke_line,
                            earlier.ok_line,
                            send.ok_line,
                        ];
                        self.reports.add(AnomalyKind::NonmonotonicSend, lines, || {
                            format!(
                                "{process_name} invoked the send of {earlier_text} (line {}) before the send of \
                                 {text} (line {}), but {text} was acknowledged at {label} offset {} (line {}), below \
                                 {earlier_text}'s offset {} (line {})",
                                earlier.invoke_line,
                                send.invoke_line,
                                send.offset,
                                send.ok_line,
                                earlier.offset,
                                earlier.ok_line
                            )
                        });
                    }
                    Some(earlier) if send.offset <= earlier.offset => {}
                    _ => highest = Some(send),
                }
            }
        }
    }

    /// `stale-partitions`: after a `partitions` event raised a topic from n to m partitions, one producer's
    /// keyless sends invoked after it (and acknowledged) number at least 10*m and all landed on partitions < n.
    /// A topic's first `partitions` event sets its count (it raises nothing); sends without an invoke are left out.
    fn resolve_stale_partitions(&mut self) {
        if self.topics.iter().all(|topic| topic.raises.is_empty()) {
            return;
        }
        let mut sends: BTreeMap<(ProcessId, TopicId), Vec<KeylessSend>> = BTreeMap::new();
        for state in &self.values {
            let (Some(invoked), Some(acknowledged)) = (state.invoked, state.acknowledged) else {
                continue;
            };
            if !invoked.keyless {
                continue;
            }
            let partition = &self.partitions[acknowledged.partition as usize];
            if self.topics[partition.topic as usize].raises.is_empty() {
                continue;
            }
            sends
                .entry((invoked.process, partition.topic))
                .or_default()
                .push(KeylessSend {
                    invoke_line: invoked.line,
                    invoke_time_ns: invoked.time_ns,
                    partition: partition.partition,
                    ok_line: acknowledged.line,
                });
        }
        for ((process, topic), mut sends) in sends {
            sends.sort_unstable_by_key(|send| send.invoke_line);
            // suffix_highest[i] = the highest partition among sends[i..]
            let mut suffix_highest = vec![0u32; sends.len() + 1];
            for index in (0..sends.len()).rev() {
                suffix_highest[index] = suffix_highest[index + 1].max(sends[index].partition);
            }
            let topic_state = &self.topics[topic as usize];
            for &(raise_line, raise_time_ns, old_count, new_count) in &topic_state.raises {
                // Time never decreases from line to line, so this predicate holds for a prefix.
                let counted_from_ns = raise_time_ns.saturating_add(STALE_PARTITIONS_GRACE_NS);
                let first = sends.partition_point(|send| {
                    send.invoke_line <= raise_line || send.invoke_time_ns < counted_from_ns
                });
                let after = &sends[first..];
                let sends_min = STALE_PARTITIONS_SENDS_PER_PARTITION * u64::from(new_count);
                if (after.len() as u64) < sends_min || suffix_highest[first] >= old_count {
                    continue;
                }
                let process_name = &self.processes[process as usize].name;
                let topic_name = &topic_state.name;
                let mut ok_lines: Vec<u64> = after.iter().map(|send| send.ok_line).collect();
                ok_lines.sort_unstable();
                let count = ok_lines.len();
                let (first_line, last_line) = (ok_lines[0], ok_lines[count - 1]);
                let lines = std::iter::once(raise_line)
                    .chain(ok_lines.iter().copied().take(STALE_SEND_LINES_LISTED_MAX));
                self.reports.add(AnomalyKind::StalePartitions, lines, || {
                    format!(
                        "after {topic_name} grew from {old_count} to {new_count} partitions (line {raise_line}), \
                         {process_name} invoked {count} keyless sends at least {grace_s} s after it (time for a \
                         metadata refresh), all acknowledged (lines {first_line}..={last_line}), at least \
                         {STALE_PARTITIONS_SENDS_PER_PARTITION} x {new_count} = {sends_min}, and every one landed on a \
                         partition below {old_count}",
                        grace_s = STALE_PARTITIONS_GRACE_NS / 1_000_000_000
                    )
                });
            }
        }
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

/// What is known at one (partition, offset): the first value named there, its text (in the partition's text
/// log) and the line that named it; whether a poll delivered the offset; the first read of that value there.
#[derive(Debug, Clone, Copy)]
struct PositionSlot {
    line: u64,
    /// The first poll that delivered `value` here (0: none); reads of other values here go to `ValueReads`.
    first_read_line: u64,
    /// Where the text of `value` starts in `PartitionState::texts`.
    text_at: u64,
    value: ValueId,
    first_read_process: ProcessId,
    text_length: u32,
    /// Did a poll deliver this offset (with any value)?
    read: bool,
}

const NO_VALUE: ValueId = ValueId::MAX;

impl PositionSlot {
    const EMPTY: PositionSlot = PositionSlot {
        line: 0,
        first_read_line: 0,
        text_at: 0,
        value: NO_VALUE,
        first_read_process: 0,
        text_length: 0,
        read: false,
    };

    fn is_empty(&self) -> bool {
        self.value == NO_VALUE
    }

    fn text<'t>(&self, texts: &'t str) -> &'t str {
        let start = self.text_at as usize;
        &texts[start..start + self.text_length as usize]
    }
}

/// Every known (partition, offset), in chunks of `POSITION_CHUNK_OFFSETS` consecutive offsets of one partition.
/// A partition's offsets are dense and consumers read them in order, so neighbours share a chunk (and cache
/// lines) instead of scattering over a hash table. A sparse offset costs a whole chunk (256 bytes): still
/// O(distinct offsets).
#[derive(Default)]
struct PositionTable {
    chunk_ids: LookupMap<(PartitionId, u64), u32>,
    chunks: Vec<[PositionSlot; POSITION_CHUNK_OFFSETS]>,
    /// chunk id -> (partition, chunk number)
    chunk_keys: Vec<(PartitionId, u64)>,
    /// The chunk used last: ((partition, chunk number), chunk id).
    last_chunk: Option<((PartitionId, u64), u32)>,
}

const POSITION_CHUNK_OFFSETS: usize = 16;

impl PositionTable {
    fn split(partition: PartitionId, offset: u64) -> ((PartitionId, u64), usize) {
        let chunk_offsets = POSITION_CHUNK_OFFSETS as u64;
        (
            (partition, offset / chunk_offsets),
            (offset % chunk_offsets) as usize,
        )
    }

    /// The slot of (partition, offset) when something is known there.
    fn get_mut(&mut self, partition: PartitionId, offset: u64) -> Option<&mut PositionSlot> {
        let (key, index) = Self::split(partition, offset);
        let chunk = match self.last_chunk {
            Some((last_key, chunk)) if last_key == key => chunk,
            _ => {
                let chunk = *self.chunk_ids.get(&key)?;
                self.last_chunk = Some((key, chunk));
                chunk
            }
        };
        let slot = &mut self.chunks[chunk as usize][index];
        (!slot.is_empty()).then_some(slot)
    }

    /// What is known at (partition, offset), without touching the lookup cache.
    fn peek(&self, partition: PartitionId, offset: u64) -> Option<PositionSlot> {
        let (key, index) = Self::split(partition, offset);
        let chunk = *self.chunk_ids.get(&key)?;
        let slot = self.chunks[chunk as usize][index];
        (!slot.is_empty()).then_some(slot)
    }

    /// The slot of (partition, offset), empty when nothing is known there yet.
    fn slot(&mut self, partition: PartitionId, offset: u64) -> &mut PositionSlot {
        let (key, index) = Self::split(partition, offset);
        let chunk = match self.last_chunk {
            Some((last_key, chunk)) if last_key == key => chunk,
            _ => {
                let next_chunk = u32::try_from(self.chunks.len()).expect("fewer than 2^32 chunks");
                let chunk = *self.chunk_ids.entry(key).or_insert(next_chunk);
                if chunk == next_chunk {
                    self.chunks
                        .push([PositionSlot::EMPTY; POSITION_CHUNK_OFFSETS]);
                    self.chunk_keys.push(key);
                }
                self.last_chunk = Some((key, chunk));
                chunk
            }
        };
        &mut self.chunks[chunk as usize][index]
    }

    /// Every known (partition, offset) and its slot, chunk by chunk (in order of first use), offsets ascending
    /// within a chunk.
    fn known(&self) -> impl Iterator<Item = (PartitionId, u64, PositionSlot)> + '_ {
        self.chunks
            .iter()
            .zip(&self.chunk_keys)
            .flat_map(|(chunk, &(partition, chunk_number))| {
                chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, slot)| !slot.is_empty())
                    .map(move |(index, slot)| {
                        (
                            partition,
                            chunk_number * POSITION_CHUNK_OFFSETS as u64 + index as u64,
                            *slot,
                        )
                    })
            })
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
