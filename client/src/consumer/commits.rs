//! The offset commit path: what to commit, OffsetCommit requests and their answers.

use super::*;

impl Consumer {
    /// The offset to commit for a partition now, if any.
    pub(super) fn commit_offset(&self, state: &PartitionState) -> Option<u64> {
        if matches!(
            state.phase,
            Phase::Committed | Phase::Resolving(Resolve::Start(_))
        ) {
            return None;
        }
        match self.config.commit_position_policy {
            CommitPositionPolicy::NextUndelivered => Some(state.delivered_next),
            // fluvio #4505: yielding record N commits N-1 in fluvio's "last consumed"
            // convention, i.e. N instead of N + 1 here.
            CommitPositionPolicy::LastDelivered => state.delivered_next.checked_sub(1),
            // What was fetched, delivered or not.
            CommitPositionPolicy::Fetched => Some(state.position),
            // Java / franz-go: automatic commits name what the polls before the latest one
            // delivered; the application's commits and the one on close, everything delivered.
            // A group member's commit on revoke names everything delivered, like the Java
            // client's synchronous commit in `onJoinPrepare`.
            CommitPositionPolicy::PreviousPoll => match (self.closing, self.config.commit_mode) {
                (Closing::Open, CommitMode::Auto { .. })
                    if self.member.as_ref().is_none_or(|m| m.revoking.is_none()) =>
                {
                    // Never below a commit on revoke that named everything delivered.
                    Some(
                        state
                            .delivered_before_poll
                            .max(state.committed.unwrap_or(0)),
                    )
                }
                _ => Some(state.delivered_next),
            },
        }
    }

    pub(super) fn commit_failed(&mut self, now_ms: u64) {
        let delay = backoff_ms(
            &mut self.rng,
            self.commit_attempts,
            self.config.retry_backoff_ms,
            self.config.retry_backoff_max_ms,
        );
        self.commit_attempts = self.commit_attempts.saturating_add(1);
        self.commit_retry_at_ms = now_ms + delay;
        if let Closing::Flushing { attempts } = &mut self.closing {
            *attempts += 1;
        } else if self.config.commit_mode == CommitMode::Manual
            || self.config.commit_mode == (CommitMode::Auto { offset_flush_ms: 0 })
        {
            // The commit the application asked for is retried.
            self.commit_requested = true;
        }
    }

    /// The `group` and `generation` of this consumer's commit events: set for group members.
    pub(super) fn commit_labels(&self) -> (Option<oracle::event::Text<'static>>, Option<u32>) {
        match &self.member {
            Some(member) => (Some(self.config.group.clone().into()), member.generation),
            None => (None, None),
        }
    }

    pub(super) fn on_offset_commit(
        &mut self,
        now_ms: u64,
        offsets: Vec<(TopicPartition, u64)>,
        generation: Option<u32>,
        result: Result<(), ErrorCode>,
    ) {
        self.commit_in_flight = false;
        let ok = result.is_ok();
        let group = self.commit_labels().0;
        for (partition, offset) in &offsets {
            self.record(Op::Commit {
                phase: if ok {
                    CommitPhase::Ok
                } else {
                    CommitPhase::Fail
                },
                topic: partition.topic.to_string().into(),
                partition: partition.partition,
                offset: *offset,
                group: group.clone(),
                generation,
                error: result.as_ref().err().map(|error| error.to_string().into()),
            });
            if ok {
                if let Some(state) = self.partitions.get_mut(partition) {
                    state.committed = Some(*offset);
                }
            }
        }
        match result {
            Ok(()) => self.commit_attempts = 0,
            Err(error) => {
                self.status.last_error = Some(format!("offset_commit: {error}"));
                // A fenced commit is not retried: the member rejoins or was expelled.
                if self.on_group_commit_error(now_ms, &error) {
                    self.commit_requested = false;
                    return;
                }
                self.commit_failed(now_ms);
            }
        }
    }

    pub(super) fn maybe_commit(&mut self, now_ms: u64) {
        if self.commit_in_flight || now_ms < self.commit_retry_at_ms {
            return;
        }
        let flush_due = match self.config.commit_mode {
            CommitMode::Auto { offset_flush_ms } if offset_flush_ms > 0 => {
                now_ms >= self.last_flush_ms + offset_flush_ms
            }
            _ => false,
        };
        if !(flush_due || self.commit_requested) {
            return;
        }
        if flush_due {
            self.last_flush_ms = now_ms;
        }
        let member = match &self.member {
            // A member commits under its generation; without one it owns nothing to commit.
            Some(member) => match member.commit_member() {
                Some(commit_member) => Some(commit_member),
                None => {
                    self.commit_requested = false;
                    return;
                }
            },
            None => None,
        };
        let mut offsets: Vec<(TopicPartition, u64)> = self
            .partitions
            .iter()
            .filter_map(|(partition, state)| {
                let offset = self.commit_offset(state)?;
                (state.committed != Some(offset)).then(|| (partition.clone(), offset))
            })
            .collect();
        // RevokedOffsetsPolicy::KeepStored (librdkafka #2782): what was stored of partitions
        // given up goes out with the next commit, whoever owns them now.
        if let Some(member) = self.member.as_mut() {
            offsets.extend(std::mem::take(&mut member.stale_stored));
        }
        self.commit_requested = false;
        if offsets.is_empty() {
            return;
        }
        let (group, generation) = self.commit_labels();
        for (partition, offset) in &offsets {
            self.record(Op::Commit {
                phase: CommitPhase::Invoke,
                topic: partition.topic.to_string().into(),
                partition: partition.partition,
                offset: *offset,
                group: group.clone(),
                generation,
                error: None,
            });
        }
        let to = self.cluster.controller;
        let correlation_id = self.requests.start(
            to,
            now_ms + self.config.request_timeout_ms,
            RequestKind::OffsetCommit {
                offsets: offsets.clone(),
                generation,
            },
        );
        self.commit_in_flight = true;
        self.actions.push(Action::Send {
            to,
            correlation_id,
            request: Request::OffsetCommit(OffsetCommitRequest {
                group: self.config.group.clone(),
                offsets,
                member,
            }),
        });
    }

    // ---- the main step -----------------------------------------------------------------------
}
