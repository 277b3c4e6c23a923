//! The resolution at the end of the history: everything that needs whole-history knowledge (what
//! is known, what is evicted, the order of sends by invocation, the partition growths).

use super::*;

impl Checker {
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
        self.resolve_data_loss_reports();

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
    pub(super) fn merge_reads(&mut self) {
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

    /// Whether `value` was acknowledged with acks=1, never read, and the leadership that appended it ended:
    /// the acknowledgement did not promise it survives, so its absence is no `lost-write` or `unseen`, and its
    /// offset may hold another record (no `inconsistent-offsets`, no `nonmonotonic-send`).
    pub(super) fn lost_with_its_leader(&self, value: ValueId) -> bool {
        let state = &self.values[value as usize];
        let (SendAcks::Leader { leader_epoch }, Some(acknowledged)) =
            (state.acks, state.acknowledged)
        else {
            return false;
        };
        self.value_reads[value as usize].first_read.is_none()
            && self.partitions[acknowledged.partition as usize].leadership_ended(leader_epoch)
    }

    /// Per value: `duplicate`, `G1a`, `producer-stalled`, and the fate of acknowledged writes nobody read:
    /// evicted, `lost-write`, or `unseen`.
    pub(super) fn resolve_values(&mut self) {
        // A `fatal` report excuses the fails after it when the history shows the broker lost that producer's
        // state in that partition.
        let fatal_explained: Vec<bool> = self
            .fatal_reports
            .iter()
            .map(|report| {
                self.state_loss_evidence(report.line, report.process, report.partition)
                    .explains_a_fatal_error()
            })
            .collect();
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
                let fatal = state.failed_after_fatal.map(|index| {
                    (
                        self.fatal_reports[index as usize],
                        fatal_explained[index as usize],
                    )
                });
                let told = matches!(fatal, Some((_, true)));
                if let (Some(heal_line), false) = (invoked.liveness_heal_line, told) {
                    let error = &self.errors[error as usize];
                    let producer = &self.processes[invoked.process as usize].name;
                    let invoke_line = invoked.line;
                    let after_fatal = match fatal {
                        Some((report, _)) => format!(
                            ", after its fatal error {} on {} (line {}), which neither an expire-pid fault nor \
                             retention explains",
                            self.errors[report.error as usize],
                            self.partition_label(report.partition),
                            report.line
                        ),
                        None => String::new(),
                    };
                    let mut events = vec![heal_line, invoke_line, fail_line];
                    events.extend(fatal.map(|(report, _)| report.line));
                    self.reports.add(AnomalyKind::ProducerStalled, events, || {
                        format!(
                            "{producer}'s send of {text}, invoked after the heal (line {heal_line}) on line \
                             {invoke_line}, failed with {error} (line {fail_line}){after_fatal}"
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
            if self.lost_with_its_leader(value as ValueId) {
                self.stats.acks1_lost += 1;
                continue;
            }
            let label = self.partition_label(acknowledged.partition);
            let ok_line = acknowledged.line;
            // Only a reader whose reading covers the offset proves it lost (a consumer that
            // started past it, or reset past it, never meant to read it); with no reader that
            // said where it starts, every reader covers every offset.
            let (reader_past, expected) = self.readers_of(acknowledged.partition, offset);
            if let Some((reader, read_offset, read_line)) = reader_past {
                let reader = &self.processes[reader as usize].name;
                self.reports.add(AnomalyKind::LostWrite, [ok_line, read_line], || {
                    format!(
                        "value {text} was acknowledged at {label} offset {offset} (line {ok_line}) and never read, \
                         while {reader} read the higher offset {read_offset} of {label} (line {read_line}) \
                         without starting or resetting past offset {offset}, and no log start had passed offset \
                         {offset} before any poll read past it"
                    )
                });
            } else if !expected {
                // No reader meant to read it (each started or reset past it): not an anomaly.
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

    /// Who could have read `offset` of `partition`: a process whose reading covers it and that
    /// read past it (process, offset read, line), and whether any reader covers it at all (or no
    /// process read the partition: then the record was still expected, as before any assign).
    fn readers_of(
        &self,
        partition: PartitionId,
        offset: u64,
    ) -> (Option<(ProcessId, u64, u64)>, bool) {
        let mut past = None;
        let mut any_reader = false;
        let mut covered = false;
        for (process, state) in self.processes.iter().enumerate() {
            let Some(cursor) = state.cursors.get(&partition) else {
                continue;
            };
            if !cursor.reads() {
                continue;
            }
            any_reader = true;
            if !cursor.covers(offset) {
                continue;
            }
            covered = true;
            if let Some((read_offset, read_line)) =
                cursor.max_read.filter(|&(read, _)| read > offset)
            {
                if past.is_none_or(|(_, _, line)| read_line < line) {
                    past = Some((process as ProcessId, read_offset, read_line));
                }
            }
        }
        (past, covered || !any_reader)
    }

    /// Per offset: `inconsistent-offsets`. Then `poll-skip`: a skipped offset must be known and not evicted. An
    /// offset counts as evicted here when no poll read it and the log start passed it before any poll read
    /// beyond it (the rule of docs/history-format.md for never-read writes, applied to the offset).
    pub(super) fn resolve_positions_and_skips(&mut self) {
        for (&(partition, offset), conflicts) in &self.position_conflicts {
            let label = self.partition_label(partition);
            let first = self
                .positions
                .peek(partition, offset)
                .map(|slot| (slot.value, slot.line))
                .expect("a conflicting offset is known");
            // An acks=1 acknowledgement of a record lost with its leader does not hold the offset: the new
            // leader writes other records there.
            let values: Vec<(ValueId, u64)> = std::iter::once(first)
                .chain(conflicts.items.iter().copied())
                .filter(|&(value, _)| {
                    !(self.lost_with_its_leader(value)
                        && self.values[value as usize]
                            .acknowledged
                            .is_some_and(|ack| (ack.partition, ack.offset) == (partition, offset)))
                })
                .collect();
            if values.len() < 2 {
                continue;
            }
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
    pub(super) fn resolve_send_order(&mut self) {
        let mut sends: BTreeMap<(ProcessId, PartitionId), Vec<InvokedSend>> = BTreeMap::new();
        for (value, state) in self.values.iter().enumerate() {
            if self.lost_with_its_leader(value as ValueId) {
                // Its offset may since hold a later send's record.
                continue;
            }
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
    pub(super) fn resolve_stale_partitions(&mut self) {
        if self.topics.iter().all(|topic| topic.raises.is_empty()) {
            return;
        }
        let mut sends: BTreeMap<(ProcessId, TopicId), Vec<KeylessSend>> = BTreeMap::new();
        // Keyless sends that were not acknowledged, by invoke time: where they went is unknown
        // (a send to a new partition that cannot take writes fails), so a window with one of
        // them proves nothing.
        let mut unplaced: BTreeMap<(ProcessId, TopicId), Vec<u64>> = BTreeMap::new();
        for state in &self.values {
            let Some(invoked) = state.invoked.filter(|invoked| invoked.keyless) else {
                continue;
            };
            let Some(acknowledged) = state.acknowledged else {
                if !self.topics[invoked.topic as usize].raises.is_empty() {
                    unplaced
                        .entry((invoked.process, invoked.topic))
                        .or_default()
                        .push(invoked.time_ns);
                }
                continue;
            };
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
                // A correct producer routes keyless sends to partitions with a leader: a send
                // counts only while some new partition has had one for the whole grace before
                // it (an `offline` partition is skipped, and found again by a metadata refresh).
                let new_partitions: Vec<&PartitionState> = (old_count..new_count)
                    .filter_map(|p| self.partition_ids.get(&(topic, p)))
                    .map(|&id| &self.partitions[id as usize])
                    .collect();
                let writable = |time_ns: u64| {
                    let since_ns = time_ns.saturating_sub(STALE_PARTITIONS_GRACE_NS);
                    new_partitions.len() < (new_count - old_count) as usize
                        || new_partitions.iter().any(|partition| {
                            partition
                                .offline
                                .iter()
                                .all(|&(from, until)| until <= since_ns || from > time_ns)
                        })
                };
                let after: Vec<&KeylessSend> = sends[first..]
                    .iter()
                    .filter(|send| writable(send.invoke_time_ns))
                    .collect();
                let unplaced_in_window = unplaced
                    .get(&(process, topic))
                    .is_some_and(|times| times.iter().any(|&time_ns| time_ns >= counted_from_ns));
                if unplaced_in_window {
                    continue;
                }
                let sends_min = STALE_PARTITIONS_SENDS_PER_PARTITION * u64::from(new_count);
                if (after.len() as u64) < sends_min
                    || suffix_highest[first] >= old_count
                        && after.iter().any(|send| send.partition >= old_count)
                {
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

    /// `reported-data-loss`: a producer's `data_loss` report that neither an earlier `expire-pid` fault of its
    /// partition nor retention explains (an authoritative log start before the report above every offset
    /// acknowledged to that producer in that partition before it).
    pub(super) fn resolve_data_loss_reports(&mut self) {
        for &(line, process, partition, log_start) in &self.data_loss_reports {
            let evidence = self.state_loss_evidence(line, process, partition);
            if evidence.explains_a_data_loss_report() {
                continue;
            }
            let producer = &self.processes[process as usize].name;
            let label = self.partition_label(partition);
            let acked = evidence.last_acknowledged.unwrap_or(0);
            self.reports.add(AnomalyKind::ReportedDataLoss, [line], || {
                format!(
                    "{producer} reported data loss on {label} (line {line}, the broker answered log start \
                     {log_start}): no expire-pid fault of {label} came before it, and no log start had passed \
                     offset {acked}, the last acknowledged to it there"
                )
            });
        }
    }
}

/// What the history says, before a producer's report on `line`, of the broker losing that producer's state in one
/// partition (its sequence numbers, which the broker drops with an expired producer id or with the producer's
/// last batch when retention passes it).
#[derive(Debug, Clone, Copy)]
pub(super) struct StateLossEvidence {
    /// An `expire-pid` fault of the partition came before the report.
    pid_expired: bool,
    /// The highest offset acknowledged (`send` ok) to the producer in the partition before the report.
    last_acknowledged: Option<u64>,
    /// The highest authoritative log start of the partition before the report.
    log_start: Option<u64>,
}

impl StateLossEvidence {
    /// `reported-data-loss`: the report is explained by an expiry, by retention past every acknowledged offset,
    /// or by nothing having been acknowledged (nothing acknowledged can have been lost).
    fn explains_a_data_loss_report(self) -> bool {
        self.pid_expired
            || match (self.last_acknowledged, self.log_start) {
                (Some(acked), Some(start)) => start > acked,
                (None, _) => true,
                (Some(_), None) => false,
            }
    }

    /// `producer-stalled`: a producer's `fatal` error (it told the application it can send nothing more)
    /// excuses the fails after it when the broker may have lost its state there: an expiry, or retention that
    /// moved the log start past every offset acknowledged to it (with none acknowledged, any log start).
    fn explains_a_fatal_error(self) -> bool {
        self.pid_expired
            || self
                .log_start
                .is_some_and(|start| self.last_acknowledged.is_none_or(|acked| start > acked))
    }
}

impl Checker {
    /// The evidence, before `line`, that the broker lost `process`'s producer state in `partition`.
    pub(super) fn state_loss_evidence(
        &self,
        line: u64,
        process: ProcessId,
        partition: PartitionId,
    ) -> StateLossEvidence {
        let pid_expired = self
            .pid_expiries
            .get(&partition)
            .is_some_and(|&expiry_line| expiry_line < line);
        let last_acknowledged = self
            .values
            .iter()
            .filter_map(|value| value.invoked.zip(value.acknowledged))
            .filter(|(invoked, acknowledged)| {
                invoked.process == process
                    && acknowledged.partition == partition
                    && acknowledged.line < line
            })
            .map(|(_, acknowledged)| acknowledged.offset)
            .max();
        let log_start = self.partitions[partition as usize]
            .log_start_steps
            .iter()
            .take_while(|&&(step_line, _)| step_line < line)
            .map(|&(_, offset)| offset)
            .max();
        StateLossEvidence {
            pid_expired,
            last_acknowledged,
            log_start,
        }
    }
}
