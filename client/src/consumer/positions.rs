//! Partition state: positions and buffers, assignment, starting positions from OffsetFetch.

use super::*;

#[derive(Debug)]
pub(super) struct PartitionState {
    pub(super) phase: Phase,
    /// Next offset to fetch.
    pub(super) position: u64,
    /// Next offset to deliver.
    pub(super) delivered_next: u64,
    /// `delivered_next` when the latest poll began: what the polls before it delivered.
    pub(super) delivered_before_poll: u64,
    /// A record of this partition was delivered in this incarnation (franz-go's
    /// `lastConsumedTime` is set).
    pub(super) delivered_any: bool,
    /// Fetched records and position jumps, in the order the application will see them.
    pub(super) buffer: VecDeque<Buffered>,
    pub(super) source: Source,
    pub(super) last_source: Option<BrokerId>,
    pub(super) request_in_flight: bool,
    pub(super) retry_at_ms: u64,
    pub(super) errors_in_row: u32,
    pub(super) follower_errors: u32,
    pub(super) high_watermark: Option<u64>,
    /// The last commit the coordinator acknowledged (or the committed offset found at start).
    pub(super) committed: Option<u64>,
}

impl PartitionState {
    pub(super) fn new() -> PartitionState {
        PartitionState {
            phase: Phase::Committed,
            position: 0,
            delivered_next: 0,
            delivered_before_poll: 0,
            delivered_any: false,
            buffer: VecDeque::new(),
            source: Source::Leader,
            last_source: None,
            request_in_flight: false,
            retry_at_ms: 0,
            errors_in_row: 0,
            follower_errors: 0,
            high_watermark: None,
            committed: None,
        }
    }

    /// Moves both positions to `offset` (a start position: nothing is buffered).
    pub(super) fn jump(&mut self, offset: u64) {
        assert!(
            self.buffer.is_empty(),
            "a start position with records buffered"
        );
        self.position = offset;
        self.delivered_next = offset;
        self.delivered_before_poll = offset;
    }

    /// The fetch position jumps to `to`; the application sees the jump after the records
    /// already fetched.
    pub(super) fn reset_to(&mut self, to: u64, reason: ResetReason) {
        self.buffer.push_back(Buffered::Reset {
            from: self.position,
            to,
            reason,
        });
        self.position = to;
    }

    pub(super) fn buffered_records(&self) -> usize {
        self.buffer
            .iter()
            .filter(|b| matches!(b, Buffered::Record { .. }))
            .count()
    }
}

impl Consumer {
    /// Group mode: adds the partitions of the subscribed topics this member owns.
    pub(super) fn discover_partitions(&mut self) {
        let Subscription::Group {
            topics,
            member_index,
            members,
        } = self.config.subscription.clone()
        else {
            return;
        };
        for topic in topics {
            let Some(metadata) = self.metadata.topic(&topic) else {
                continue;
            };
            let owned: Vec<u32> = metadata
                .partitions
                .iter()
                .map(|p| p.partition)
                .filter(|p| p % members == member_index)
                .collect();
            for partition in owned {
                self.partitions
                    .entry(TopicPartition::new(&topic, partition))
                    .or_insert_with(PartitionState::new);
            }
        }
    }

    pub(super) fn offset_fetch_later(&mut self, now_ms: u64) {
        let delay = backoff_ms(
            &mut self.rng,
            self.offset_fetch_attempts,
            self.config.retry_backoff_ms,
            self.config.retry_backoff_max_ms,
        );
        self.offset_fetch_attempts = self.offset_fetch_attempts.saturating_add(1);
        self.offset_fetch_retry_at_ms = now_ms + delay;
    }

    pub(super) fn on_offset_fetch(
        &mut self,
        now_ms: u64,
        asked: Vec<TopicPartition>,
        result: Result<Vec<(TopicPartition, Option<u64>)>, ErrorCode>,
    ) {
        self.offset_fetch_in_flight = false;
        let answers = match result {
            Ok(answers) => answers,
            Err(error) => {
                tracing::info!(%error, "OffsetFetch failed; retrying");
                self.status.last_error = Some(format!("offset_fetch: {error}"));
                self.offset_fetch_later(now_ms);
                return;
            }
        };
        self.offset_fetch_attempts = 0;
        let answers: BTreeMap<TopicPartition, Option<u64>> = answers.into_iter().collect();
        let policy = self.config.reset_policy;
        for partition in asked {
            let Some(state) = self.partitions.get_mut(&partition) else {
                continue;
            };
            if state.phase != Phase::Committed {
                continue;
            }
            let Some(committed) = answers.get(&partition) else {
                // Not answered for: asked again at the next step.
                continue;
            };
            match (committed, policy) {
                (Some(offset), _) => {
                    state.jump(*offset);
                    state.committed = Some(*offset);
                    state.phase = Phase::Fetching;
                    self.newly_assigned.insert(partition);
                }
                (None, _) if self.config.start_offset.is_some() => {
                    state.jump(self.config.start_offset.expect("checked"));
                    state.phase = Phase::Fetching;
                    self.newly_assigned.insert(partition);
                }
                (None, ResetPolicy::Earliest) => {
                    state.phase = Phase::Resolving(Resolve::Start(OffsetSpec::Earliest));
                }
                (None, ResetPolicy::Latest) => {
                    state.phase = Phase::Resolving(Resolve::Start(OffsetSpec::Latest));
                }
                (None, ResetPolicy::None) => {
                    state.jump(0);
                    state.phase = Phase::Fetching;
                    self.newly_assigned.insert(partition);
                }
            }
        }
    }

    // ---- fetch answers -----------------------------------------------------------------------

    pub(super) fn maybe_offset_fetch(&mut self, now_ms: u64) {
        if self.offset_fetch_in_flight || now_ms < self.offset_fetch_retry_at_ms {
            return;
        }
        let asked: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, state)| state.phase == Phase::Committed)
            .map(|(partition, _)| partition.clone())
            .collect();
        if asked.is_empty() {
            return;
        }
        let to = self.cluster.controller;
        let correlation_id = self.requests.start(
            to,
            now_ms + self.config.request_timeout_ms,
            RequestKind::OffsetFetch(asked.clone()),
        );
        self.offset_fetch_in_flight = true;
        self.actions.push(Action::Send {
            to,
            correlation_id,
            request: Request::OffsetFetch(OffsetFetchRequest {
                group: self.config.group.clone(),
                partitions: Some(asked),
            }),
        });
    }
}
