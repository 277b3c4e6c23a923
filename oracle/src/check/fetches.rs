//! What fetch answers say about the partition (docs/history-format.md, `high_watermark` and
//! `log_start_offset` of `request` events): `spurious-out-of-range` and `read-above-high-watermark`.
//!
//! A high watermark h that a fetch answer carried *exposed* h: every offset below it was committed, that is, on
//! every in-sync replica, and stays readable on any leader the cluster may elect from them, until the log start
//! passes it. The leader's log end is at or above h, so a fetch at any offset from the log start up to h
//! inclusive (h itself is the next offset to be written: an empty answer) is in range.

use super::*;
use crate::event::{error_code, reset_reason};

impl Checker {
    /// A `request` event of api `fetch`: what its answer carried, and `spurious-out-of-range` for an
    /// `offset_out_of_range` answer of the partition's leader of record.
    pub(super) fn on_fetch_answer(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        request: &Request<'_>,
    ) {
        let offset = request.offset;
        let broker = request.broker;
        // Judged against what earlier lines exposed, before this answer's own watermarks count.
        if request.error.as_deref() == Some(error_code::OFFSET_OUT_OF_RANGE) {
            self.check_out_of_range_answer(process, line, partition, offset, broker);
        }
        if let Some(log_start) = request.log_start_offset {
            self.note_replica_log_start(partition, broker, log_start, line);
        }
        let state = &mut self.partitions[partition as usize];
        if let Some(high_watermark) = request.high_watermark {
            if state
                .exposed_high_watermark
                .is_none_or(|(exposed, _)| high_watermark > exposed)
            {
                state.exposed_high_watermark = Some((high_watermark, line));
            }
        }
        let cursor = self.cursor(process, partition);
        match request.high_watermark {
            Some(high_watermark)
                if cursor
                    .answered_high_watermark
                    .is_none_or(|(highest, _)| high_watermark > highest) =>
            {
                cursor.answered_high_watermark = Some((high_watermark, line));
            }
            Some(_) => {}
            None if request.progress => cursor.answered_without_high_watermark = true,
            None => {}
        }
        cursor.last_fetch_error = match request.error.as_deref() {
            Some(error_code::OFFSET_OUT_OF_RANGE | error_code::OFFSET_EVICTED) => {
                Some((offset, line))
            }
            _ => None,
        };
    }

    /// A replica's log start as a `log_start` event with `broker` or its own fetch answer told it.
    pub(super) fn note_replica_log_start(
        &mut self,
        partition: PartitionId,
        broker: u32,
        offset: u64,
        line: u64,
    ) {
        let known = self.partitions[partition as usize]
            .replica_log_starts
            .entry(broker)
            .or_insert((offset, line));
        if offset > known.0 {
            *known = (offset, line);
        }
    }

    /// The highest log start known for `broker`'s replica or the partition (authoritative `log_start`
    /// events): an offset below it may be gone from that replica.
    fn log_start_bound(&self, partition: PartitionId, broker: Option<u32>) -> Option<(u64, u64)> {
        let state = &self.partitions[partition as usize];
        let authoritative = state
            .log_start_steps
            .last()
            .map(|&(line, offset)| (offset, line));
        let replica = broker.and_then(|broker| state.replica_log_starts.get(&broker).copied());
        match (authoritative, replica) {
            (Some(a), Some(r)) => Some(if r.0 > a.0 { r } else { a }),
            (a, r) => a.or(r),
        }
    }

    /// `spurious-out-of-range`: the partition's leader of record (its last `leader` event, no `offline`
    /// since) answered `offset_out_of_range` for an offset at or below a high watermark an earlier fetch
    /// answer exposed, and at or above every log start known for the partition (authoritative) and for that
    /// broker's replica. Answers of other brokers are not judged: a KIP-392 follower's log start may be ahead
    /// of the leader's, a restarted follower may lack the offset, a deposed leader or one the consumer's stale
    /// metadata names may be behind (KAFKA-6262); all of them answer out-of-range correctly.
    fn check_out_of_range_answer(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        offset: u64,
        broker: u32,
    ) {
        let state = &self.partitions[partition as usize];
        let Some((leader, leader_line)) = state.leader.filter(|&(leader, _)| leader == broker)
        else {
            return;
        };
        let Some((exposed, exposed_line)) = state
            .exposed_high_watermark
            .filter(|&(exposed, _)| offset <= exposed)
        else {
            return;
        };
        let log_start = self.log_start_bound(partition, Some(broker));
        if log_start.is_some_and(|(log_start, _)| offset < log_start) {
            return;
        }
        let process_name = &self.processes[process as usize].name;
        let label = self.partition_label(partition);
        let log_start_text = match log_start {
            Some((log_start, log_start_line)) => {
                format!("the log start known then was {log_start} (line {log_start_line})")
            }
            None => "no log start had moved".to_string(),
        };
        self.reports.add(
            AnomalyKind::SpuriousOutOfRange,
            [leader_line, exposed_line, line],
            || {
                format!(
                    "{process_name}'s fetch of {label} at offset {offset} was answered offset_out_of_range by \
                     broker {leader}, the partition's leader since line {leader_line} (line {line}), though a \
                     fetch answer of {label} had exposed high watermark {exposed} (line {exposed_line}) and \
                     {log_start_text}: a leader holds every offset from the log start up to the high watermark it \
                     exposed, so offset {offset} was in range"
                )
            },
        );
    }

    /// `spurious-out-of-range` of a `reset` with reason `out_of_range` that no out-of-range answer at its
    /// `from` explains (a history without the consumer's requests, or a client that reset on its own): `from`
    /// at or below a high watermark an earlier fetch answer exposed, and at or above the partition's
    /// authoritative log start. A reset that follows an `offset_out_of_range` or `offset_evicted` fetch answer
    /// at `from` is not judged: the answer is (above), and a reset after a follower's or a deposed leader's
    /// answer is the client's reaction to an answer that was correct where it came from.
    pub(super) fn check_out_of_range_reset(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        from: u64,
        to: u64,
    ) {
        let answered = self.processes[process as usize]
            .cursors
            .get(&partition)
            .and_then(|cursor| cursor.last_fetch_error)
            .is_some_and(|(offset, _)| offset == from);
        if answered {
            return;
        }
        let Some((exposed, exposed_line)) = self.partitions[partition as usize]
            .exposed_high_watermark
            .filter(|&(exposed, _)| from <= exposed)
        else {
            return;
        };
        let log_start = self.log_start_bound(partition, None);
        if log_start.is_some_and(|(log_start, _)| from < log_start) {
            return;
        }
        let process_name = &self.processes[process as usize].name;
        let label = self.partition_label(partition);
        let reason = reset_reason::OUT_OF_RANGE;
        self.reports.add(
            AnomalyKind::SpuriousOutOfRange,
            [exposed_line, line],
            || {
                format!(
                    "{process_name} reset {label} from {from} to {to} for {reason} (line {line}), with no \
                     out-of-range answer at {from} before it, though a fetch answer of {label} had exposed high \
                     watermark {exposed} (line {exposed_line}) and no authoritative log start had passed {from}"
                )
            },
        );
    }

    /// `read-above-high-watermark`: a delivered offset at or above every high watermark this process's fetch
    /// answers of the partition carried before it, so at or above the one the answer that brought it carried
    /// (`deliver` decides; it judges only when every fetch answer of the process that moved its position
    /// carried a high watermark).
    pub(super) fn report_read_above_high_watermark(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        offset: u64,
        (high_watermark, high_watermark_line): (u64, u64),
    ) {
        let process_name = &self.processes[process as usize].name;
        let label = self.partition_label(partition);
        self.reports.add(
            AnomalyKind::ReadAboveHighWatermark,
            [high_watermark_line, line],
            || {
                format!(
                    "{process_name} delivered {label} offset {offset} (line {line}), at or above high watermark \
                     {high_watermark}, the highest its fetch answers of {label} had carried (line \
                     {high_watermark_line}): a consumer must see committed records only"
                )
            },
        );
    }
}
