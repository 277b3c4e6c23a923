//! The history model (docs/history-format.md) and the checkers; depends on nothing of the simulation.
//!
//! A history is what the clients and the cluster observably did during one run, one JSON object per line
//! (docs/history-format.md is the contract; `docs/history-format.md` is the user guide). This crate
//! - models one line as an [`Event`] ([`event`]): the simulated clients build events and serialize them;
//! - reads histories ([`reader`]): [`parse_line`], [`HistoryReader`], naming the line of any bad input;
//! - checks them ([`Checker`], [`check_events`], [`check_reader`], and [`cli::check_path`] for `streamsim check`),
//!   reporting every anomaly of docs/history-format.md's table with the lines that prove it ([`CheckResult`]);
//! - generates histories of a correct system for tests and benchmarks ([`gen`]).
//!
//! The checkers read the history and nothing else, so they check histories recorded outside streamsim too.
//!
//! # How the table's definitions are read
//!
//! - Order is line order (time is non-decreasing, so lines order events with equal times).
//! - An *incarnation* of a process begins with `start` (or, without one, with the process's first event) and
//!   ends with `crash` or `close`. A *restart* is a `start` after earlier events of that process. An event of a
//!   crashed or closed process before any `start` begins an unannounced incarnation.
//! - A *read* of a value is its delivery by any `poll` ok; a *never-read* acknowledged write is a value with a
//!   `send` ok that no poll ever delivered. Its place is its first `send` ok.
//! - *evicted*: exactly docs/history-format.md: the first authoritative `log_start` (no `broker`) of the partition with an
//!   offset > o has an earlier line than the first poll that read an offset > o there (or no poll ever did).
//!   `log_start == o` does not evict o; `log_start == o + 1` does.
//! - *known* uses the whole history (a send ok or poll anywhere in the file), except for `spinloop`, whose
//!   "while ... exists" needs the data to have been there when the requests were made: see below.
//! - *after the heal*: in a liveness phase, which a `heal` fault begins and any other fault ends. `unseen` only
//!   needs a `heal` somewhere in the history.
//! - *acks=1*: a never-read write whose first `send` ok has `"acks": "1"` is *lost with its leader* (counted in
//!   `stats.acks1_lost`, no anomaly) when a `leader` or `offline` event of its partition anywhere in the history
//!   has an epoch above the ok's `leader_epoch` (without one: a `leader` event after the partition's first, or
//!   an `offline` event). Such a write is no `lost-write` or `unseen`, does not count among the values at its
//!   offset for `inconsistent-offsets`, and is left out of `nonmonotonic-send`.
//! - `poll-skip`: an offset in the gap counts as evicted when no poll read it and the eviction rule above holds
//!   for it; any other known offset in the gap makes the skip an anomaly. An `assign` or `reset` of the partition
//!   by that process clears the last delivered offset, as do `start`, `crash` and `close`.
//! - `duplicate-delivery`: the baseline of a restart is the process's last `commit` ok of the partition before
//!   the `start` (from any earlier incarnation), and, when the incarnation before ended with `close`, the offsets
//!   it delivered. The baseline holds until the next restart. One anomaly per delivery.
//! - `commit-regressed`: the comparison is with the highest commit ok of that process and partition since the
//!   last `reset` that lowered the position, i.e. with `to < from` or `to` below that highest commit.
//! - `nonmonotonic-send`: invocation order is the order of `send` invoke lines; sends without an invoke are left
//!   out; a send is compared with the highest offset among the sends of that process and partition invoked
//!   before it.
//! - `wrong-next-available`: compares a `poll` fail's `next_available` with the last authoritative `log_start`
//!   of the partition before that line; without `next_available`, or before the partition's first
//!   authoritative `log_start`, nothing is compared.
//! - `spinloop`: a run is made of consecutive `request`s of one process for one partition that are each after
//!   the heal, without progress, and made while the partition's highest offset named so far (by a send ok with
//!   acks=all or a poll on an earlier line) is at or above both the requested offset and the last authoritative log start.
//!   Any other request of that process for that partition ends the run. A run of 20 or more is one anomaly.
//! - `stale-partitions`: a topic's first `partitions` event sets its count; a later one with a higher count
//!   raises it from n to m. The sends counted are one producer's keyless (`key` null) sends to that topic,
//!   invoked after the raise and at least [`check::STALE_PARTITIONS_GRACE_NS`] after it (time for a metadata
//!   refresh), and acknowledged, while some new partition had had a leader (no `offline`) for that grace;
//!   there must be >= 10*m of them, and all on partitions < n; an unacknowledged keyless send after the grace
//!   makes the raise prove nothing.
//! - `producer-stalled`: a send invoked in a liveness phase whose outcome is `fail`, unless a `fatal` of its
//!   producer came before the fail in the same incarnation (its first) and the history shows, before the `fatal`,
//!   that the broker lost that producer's state in the `fatal`'s partition: an `expire-pid` fault of it, or an
//!   authoritative log start above every offset acknowledged to that producer there (any, with none acknowledged).
//!   The application was told the producer is unusable (librdkafka's fatal error): a reported failure.
//! - `reported-data-loss`: a producer's `data_loss` report with no earlier `expire-pid` fault of its partition,
//!   and no earlier authoritative log start above every offset acknowledged to that producer there.
//! - `spurious-out-of-range`: the highest `high_watermark` a fetch answer of the partition carried on an earlier
//!   line (any process, any broker) is *exposed*: a leader holds every offset from the log start up to it
//!   (inclusive: it is the next offset to be written). Judged: `offset_out_of_range` fetch answers of the
//!   broker of the partition's last `leader` event (no `offline` since) for an offset at or below the exposed
//!   high watermark and at or above the highest authoritative log start and that broker's own log starts
//!   (`log_start` events with its `broker`, the `log_start_offset` of its fetch answers); and `reset`s for
//!   `out_of_range` from such an offset (authoritative log start only) unless the process's last fetch answer
//!   of the partition was an `offset_out_of_range` or `offset_evicted` error at that offset.
//! - `read-above-high-watermark`: a delivered offset at or above the highest `high_watermark` the same
//!   process's fetch answers of the partition carried before it; not judged for a process whose fetch answer
//!   moved its position without a `high_watermark`.
//! - Consumer groups (check/group.rs has the details; docs/history-format.md the contract): a process *owns* a
//!   partition in a group from an `assignment` naming it to its `revoke` of it, its `leave`, or the end of its
//!   incarnation; a *membership* runs from a `join` ok to a `leave` or a `join` as another member id, across
//!   crashes. A commit's outcome is matched with the earliest waiting invoke of the same process, partition,
//!   group, generation and offset; the group rules judge what held at the invoke line, and nothing of a commit
//!   without a recorded invoke. A group *starts over* (its coordinator forgot it) at a `join` ok of a new member
//!   id below the highest generation seen, or of a second leader of one generation; generations are compared
//!   within one start. The group's commits of a partition are withdrawn by an `offsets_expired` of it or a
//!   `reset` of it by a process of the group to below the highest; a commit with a `group` is judged by the
//!   group's `commit-regressed`, not the process's; a member's `assign` of a partition it owns replaces the
//!   restart baseline of `duplicate-delivery` with the group's highest commit ok, and a commit `info` or a lower
//!   commit ok answered after the highest excuses deliveries at or above it. `offsets-expired-early` counts a
//!   member only when its last assignment named a topic of the expired partitions (KIP-496).
//! - One anomaly per instance: per value (`lost-write`, `unseen`, `duplicate`, `G1a`, `producer-stalled`), per
//!   offset (`inconsistent-offsets`), per delivery (`nonmonotonic-poll`, `poll-skip`, `duplicate-delivery`), per
//!   later send (`nonmonotonic-send`), per event (`commit-regressed`, `internal-error`, `wrong-next-available`,
//!   `reported-data-loss`, `spurious-out-of-range`, `read-above-high-watermark`, `unowned-commit`,
//!   `fenced-commit-accepted`), per (assignment, partition) (`double-assignment`), per `offsets_expired`
//!   (`offsets-expired-early`),
//!   per run (`spinloop`), per (raise, producer) (`stale-partitions`). `counts` is exact; `anomalies` lists the
//!   first [`ANOMALIES_LISTED_PER_KIND_MAX`] of each kind, ordered by their proving lines.
//!
//! # What the oracle does NOT assert
//!
//! - No transactional or cross-partition isolation (no Elle cycles, no G0/G1c, no precommitted reads) and no
//!   per-key order, including across partition growth.
//! - Nothing about `send` info: an indeterminate send may or may not appear.
//! - Not that a consumer starts where `assign`/`reset` put it, nor that a reset's `from`/`to`/`reason` are
//!   justified beyond `spurious-out-of-range`, nor that `commit` invoke/fail/info were handled correctly; only
//!   commit ok counts.
//! - Nothing about producer ids, epochs and sequences (`init_pid`, `pid`/`epoch`/`sequence` of send ok);
//!   `leader` events and non-authoritative (`broker`) log starts serve only to tell which broker leads and what
//!   its replica may lack (`spurious-out-of-range`), and to excuse acks=1 writes lost with their leader.
//! - No latency or throughput bound, no bound on lag beyond `unseen` (every acknowledged, not evicted write read
//!   by the end of a history with a heal).
//! - Not who may write cluster or nemesis events: `log_start`, `partitions`, `leader` and `fault` count whatever
//!   their `process`.
//! - Not that request errors other than the internal ones and the leader's out-of-range are legitimate, nor
//!   `request` events' content beyond `progress` and the fetch answers' `high_watermark` and
//!   `log_start_offset`.
//! - Nothing about values that were never sent: a read of such a value is merely known.
//! - Not that a `fatal` was the producer's only way out, beyond the broker having lost its state.
//! - Consumer groups: line order is taken as causal order (merged histories need synchronized clocks). Not that
//!   a member reads only what it owns, that every partition is assigned, that rebalances finish, that an
//!   assignor is sticky or balanced, that a refused commit was refused rightly, nor that an expiry was due;
//!   nothing about heartbeats and timeouts beyond what the events show.

mod blocks;
mod canonical;
pub mod check;
pub mod cli;
pub mod event;
pub mod gen;
mod intern;
mod json;
mod line;
pub mod reader;
pub mod result;

pub use check::Checker;
pub use event::{
    CommitPhase, Event, EventType, FaultKind, Op, Record, Request, ResetReason, SendAcks, Text,
    TopicPartition, TopicPartitionOffset,
};
pub use reader::{parse_line, HistoryError, HistoryReader};
pub use result::{Anomaly, AnomalyKind, CheckResult, Stats, ANOMALIES_LISTED_PER_KIND_MAX};

/// Checks a history held in memory; the line number of `events[i]` is `i + 1`.
///
/// # Panics
/// When time decreases from one event to the next (see [`Checker::observe`]).
pub fn check_events(events: &[Event<'_>]) -> CheckResult {
    let mut checker = Checker::new();
    for (index, event) in events.iter().enumerate() {
        checker.observe(index as u64 + 1, event);
    }
    checker.finish()
}

/// Reads and checks a JSON Lines history, streaming: only the checker's compact state and one block of
/// parsed lines are kept. Lines are parsed on all cores ([`check_reader_on`]).
pub fn check_reader(reader: impl std::io::BufRead) -> Result<CheckResult, HistoryError> {
    check_reader_on(reader, parse_threads())
}

/// The threads [`check_reader`] parses on: one per core.
pub fn parse_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// [`check_reader`] with `threads` threads parsing lines (1: all on the calling thread). The verdict and
/// the first error are the same whatever `threads`: blocks of whole lines are parsed in parts at once,
/// then checked in line order on the calling thread.
pub fn check_reader_on(
    reader: impl std::io::BufRead,
    threads: usize,
) -> Result<CheckResult, HistoryError> {
    blocks::check_reader(reader, threads)
}
