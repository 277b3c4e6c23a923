//! What each event tells the checker as it streams past: deliveries (with `duplicate-delivery`,
//! `nonmonotonic-poll` and `poll-skip` candidates), commits, `next_available`, requests and spin
//! runs, and what becomes known at each value and offset.

use super::*;

impl Checker {
    /// One record delivered by a poll of `process` on `line`.
    ///
    /// The usual case is a record whose offset is already known with this very value (its send ok, or an
    /// earlier read): the offset's slot says which value, the partition's text log confirms the text, and the
    /// read is noted in the slot. Consumers read offsets in order, so this touches memory in order too; only
    /// other reads (an unknown offset, another value there) go through the value table.
    pub(super) fn deliver(
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
        // A commit of unknown outcome may have reached the coordinator after every later one: a
        // restart may begin at it, and deliver again from there (the model test's late commit).
        let late_commit_excuses = cursor
            .baseline
            .as_ref()
            .and_then(|baseline| baseline.unknown_commit)
            .is_some_and(|unknown| offset >= unknown);
        if let Some(baseline) = cursor.baseline.as_ref().filter(|_| !late_commit_excuses) {
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
        if cursor.max_read.is_none_or(|(highest, _)| offset > highest) {
            cursor.max_read = Some((offset, line));
        }
        cursor.delivered.insert(offset, line);
        let above_high_watermark = cursor
            .answered_high_watermark
            .filter(|&(high_watermark, _)| {
                offset >= high_watermark && !cursor.answered_without_high_watermark
            });

        if let Some(high_watermark) = above_high_watermark {
            self.report_read_above_high_watermark(process, line, partition, offset, high_watermark);
        }

        if self.groups.has_baselines() {
            self.on_group_delivery(process, line, partition, offset);
        }
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

    pub(super) fn report_duplicate_delivery(
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

    pub(super) fn on_commit_ok(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        offset: u64,
    ) {
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
    pub(super) fn check_next_available(
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
    pub(super) fn on_request(
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

    pub(super) fn finish_spin_run(
        &mut self,
        process: ProcessId,
        partition: PartitionId,
        run: SpinRun,
    ) {
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
    /// `read`). `fetchable`: the sighting proves a consumer could fetch the offset (a poll, an acks=all
    /// acknowledgement), for `spinloop`.
    pub(super) fn know(
        &mut self,
        value: ValueId,
        sighting: Sighting,
        read: bool,
        fetchable: bool,
        text: &str,
    ) {
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
        if fetchable
            && partition_state
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
}
