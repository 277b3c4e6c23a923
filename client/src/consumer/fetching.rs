//! The fetch path: Fetch and ListOffsets, out-of-range and evicted offsets, read replicas.

use super::*;

impl Consumer {
    pub(super) fn record_request(
        &mut self,
        api: &str,
        partition: &TopicPartition,
        offset: u64,
        broker: BrokerId,
        error: Option<&str>,
        progress: bool,
    ) {
        self.record_answer(api, partition, offset, broker, error, progress, None);
    }

    /// A request and what its answer said; `watermarks` = (high watermark, log start offset) when
    /// the answer carried them: a fetch answered without an error (Kafka sends -1 for both with
    /// an error, so a real client knows them only then).
    #[allow(clippy::too_many_arguments)]
    fn record_answer(
        &mut self,
        api: &str,
        partition: &TopicPartition,
        offset: u64,
        broker: BrokerId,
        error: Option<&str>,
        progress: bool,
        watermarks: Option<(u64, u64)>,
    ) {
        self.record(Op::Request(oracle::Request {
            api: api.to_string().into(),
            topic: partition.topic.to_string().into(),
            partition: partition.partition,
            offset,
            broker,
            error: error.map(|error| error.to_string().into()),
            progress,
            high_watermark: watermarks.map(|(high_watermark, _)| high_watermark),
            log_start_offset: watermarks.map(|(_, log_start)| log_start),
        }));
    }

    pub(super) fn retry_later(&mut self, now_ms: u64, partition: &TopicPartition, error: &str) {
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        let delay = backoff_ms(
            &mut self.rng,
            state.errors_in_row,
            self.config.retry_backoff_ms,
            self.config.retry_backoff_max_ms,
        );
        state.errors_in_row = state.errors_in_row.saturating_add(1);
        state.retry_at_ms = now_ms + delay;
        self.status.last_error = Some(format!("{partition}: {error}"));
    }

    /// An error from the preferred replica: after `follower_errors_max` in a row, the leader.
    pub(super) fn replica_error(&mut self, partition: &TopicPartition) {
        let follower_errors_max = self.config.follower_errors_max;
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        state.follower_errors += 1;
        if state.follower_errors >= follower_errors_max {
            state.source = Source::Leader;
            state.follower_errors = 0;
        }
    }

    // ---- assignment --------------------------------------------------------------------------

    pub(super) fn on_fetch(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        offset: u64,
        broker: BrokerId,
        from_replica: bool,
        answer: FetchResponse,
    ) {
        let commit_position = self.config.commit_position_policy;
        let follower_out_of_range = self.config.follower_out_of_range_policy;
        let policy = self.config.reset_policy;
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        state.request_in_flight = false;
        if state.phase != Phase::Fetching || state.position != offset {
            // The position moved while the fetch was out: its answer no longer applies.
            return;
        }
        let watermarks = Some((answer.high_watermark, answer.log_start_offset));
        match answer.result {
            Ok(batches) => {
                state.high_watermark = Some(answer.high_watermark);
                let mut corrupt = None;
                let before = state.position;
                for bytes in &batches {
                    match RecordBatch::decode_bytes(bytes) {
                        Ok(batch) => {
                            for (record_offset, record) in batch.records_with_offsets() {
                                if record_offset < state.position {
                                    continue;
                                }
                                if record_offset > state.position {
                                    tracing::warn!(
                                        %partition,
                                        expected = state.position,
                                        got = record_offset,
                                        "fetched records skip offsets"
                                    );
                                }
                                let value = String::from_utf8_lossy(&record.value).into_owned();
                                state.buffer.push_back(Buffered::Record {
                                    offset: record_offset,
                                    value,
                                });
                                state.position = record_offset + 1;
                            }
                        }
                        Err(error) => {
                            corrupt = Some(error);
                            break;
                        }
                    }
                }
                let progress = state.position > before;
                // KIP-392: the leader may name a preferred read replica for a consumer with a rack.
                if self.config.rack.is_some() && !from_replica {
                    let leader = self.metadata.partition(partition).and_then(|p| p.leader);
                    if let Some(replica) = answer.preferred_read_replica {
                        if Some(replica) != leader {
                            state.source = Source::Replica {
                                broker: replica,
                                since_ms: now_ms,
                            };
                        }
                    }
                }
                if commit_position == CommitPositionPolicy::Fetched && progress {
                    // The commit position follows the fetch, not the application; flush-0 mode
                    // commits right away.
                    if self.config.commit_mode == (CommitMode::Auto { offset_flush_ms: 0 }) {
                        self.commit_requested = true;
                    }
                }
                let state = self.partitions.get_mut(partition).expect("exists");
                if let Some(error) = corrupt {
                    tracing::warn!(%partition, %error, broker, "corrupt batch fetched; not delivered");
                    // The broker answered without an error: its watermarks are known.
                    self.record_answer(
                        "fetch",
                        partition,
                        offset,
                        broker,
                        Some(ErrorCode::CorruptMessage.name()),
                        progress,
                        watermarks,
                    );
                    if from_replica {
                        let state = self.partitions.get_mut(partition).expect("exists");
                        state.source = Source::Leader;
                    }
                    self.retry_later(now_ms, partition, ErrorCode::CorruptMessage.name());
                    return;
                }
                state.errors_in_row = 0;
                if from_replica {
                    state.follower_errors = 0;
                }
                if !progress {
                    state.retry_at_ms = now_ms + self.config.fetch_idle_backoff_ms;
                }
                self.record_answer(
                    "fetch", partition, offset, broker, None, progress, watermarks,
                );
            }
            Err(error) => {
                let name = error.name();
                match error {
                    ErrorCode::OffsetEvicted { .. } if from_replica => {
                        // Only the leader's log start is authoritative: a follower's may be ahead
                        // of it (KIP-392 case 3). Back to the leader, no jump.
                        self.record_request("fetch", partition, offset, broker, Some(name), false);
                        let state = self.partitions.get_mut(partition).expect("exists");
                        state.source = Source::Leader;
                        state.follower_errors = 0;
                    }
                    ErrorCode::OffsetEvicted { next_available } => {
                        self.on_evicted(now_ms, partition, offset, broker, next_available);
                    }
                    ErrorCode::OffsetOutOfRange if from_replica => {
                        self.record_request("fetch", partition, offset, broker, Some(name), false);
                        match follower_out_of_range {
                            FollowerOutOfRangePolicy::BackToLeader => {
                                // franz-go PR #886: KIP-392 case 3, back to the leader at once.
                                let state = self.partitions.get_mut(partition).expect("exists");
                                state.source = Source::Leader;
                                state.follower_errors = 0;
                            }
                            FollowerOutOfRangePolicy::ResetAtFollower => {
                                // franz-go #885: treated as out of range at the leader, but the
                                // ListOffsets goes to the same follower (see `maybe_request`).
                                let state = self.partitions.get_mut(partition).expect("exists");
                                state.phase = Phase::Resolving(match policy {
                                    ResetPolicy::Latest => Resolve::Reset(OffsetSpec::Latest),
                                    _ => Resolve::Reset(OffsetSpec::Earliest),
                                });
                            }
                        }
                    }
                    ErrorCode::OffsetOutOfRange => {
                        self.record_request("fetch", partition, offset, broker, Some(name), false);
                        self.on_leader_out_of_range(now_ms, partition, offset);
                    }
                    ErrorCode::OffsetNotAvailable => {
                        self.record_request("fetch", partition, offset, broker, Some(name), false);
                        if from_replica {
                            self.replica_error(partition);
                        }
                        self.retry_later(now_ms, partition, name);
                    }
                    ErrorCode::NotLeaderOrFollower
                    | ErrorCode::FencedLeaderEpoch
                    | ErrorCode::UnknownLeaderEpoch
                    | ErrorCode::UnknownTopicOrPartition => {
                        self.record_request("fetch", partition, offset, broker, Some(name), false);
                        self.refresher.request_refresh();
                        if from_replica {
                            let state = self.partitions.get_mut(partition).expect("exists");
                            state.source = Source::Leader;
                        }
                        self.retry_later(now_ms, partition, name);
                    }
                    _ => {
                        self.record_request("fetch", partition, offset, broker, Some(name), false);
                        if from_replica {
                            self.replica_error(partition);
                        }
                        self.retry_later(now_ms, partition, name);
                    }
                }
            }
        }
    }

    /// The leader answered `OffsetOutOfRange` at the position `offset`.
    fn on_leader_out_of_range(&mut self, now_ms: u64, partition: &TopicPartition, offset: u64) {
        let policy = self.config.reset_policy;
        let name = ErrorCode::OffsetOutOfRange.name();
        let state = self.partitions.get_mut(partition).expect("exists");
        let reset_spec = match policy {
            ResetPolicy::Latest => OffsetSpec::Latest,
            _ => OffsetSpec::Earliest,
        };
        match self.config.leader_out_of_range_policy {
            LeaderOutOfRangePolicy::ConfirmHighWatermark => {
                state.phase = Phase::Resolving(Resolve::CheckHighWatermark);
                self.retry_later(now_ms, partition, name);
            }
            LeaderOutOfRangePolicy::ResetAtOnce | LeaderOutOfRangePolicy::ResetToNearest
                if policy == ResetPolicy::None =>
            {
                // Java: "raising error to the application since no reset policy is
                // configured" (`FetchCollector.handleInitializeErrors`).
                self.surface(
                    partition,
                    offset,
                    name,
                    None,
                    ConsumeError::OutOfRange {
                        partition: partition.clone(),
                        offset,
                    }
                    .to_string(),
                );
            }
            LeaderOutOfRangePolicy::ResetAtOnce => {
                // Java `SubscriptionState.requestOffsetResetIfPartitionAssigned`, librdkafka
                // `rd_kafka_offset_reset`: `ListOffsets` per `auto.offset.reset`, at once.
                tracing::warn!(%partition, offset, "out of range at the leader: resetting at once");
                state.phase = Phase::Resolving(Resolve::Reset(reset_spec));
            }
            LeaderOutOfRangePolicy::ResetToNearest => {
                // franz-go: once something was consumed, the offset after the last consumed
                // record's timestamp: beyond the log end, the end.
                let spec = if state.delivered_any {
                    OffsetSpec::Latest
                } else {
                    reset_spec
                };
                tracing::warn!(%partition, offset, ?spec, "out of range at the leader: resetting to the nearest offset");
                state.phase = Phase::Resolving(Resolve::Reset(spec));
            }
        }
    }

    /// `OffsetEvicted { next_available }` (fluvio #3891, PR #4511).
    fn on_evicted(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        offset: u64,
        broker: BrokerId,
        next_available: u64,
    ) {
        let name = ErrorCode::OffsetEvicted { next_available }.name();
        match self.config.offset_evicted_policy {
            OffsetEvictedPolicy::SkipToNextAvailable => {}
            OffsetEvictedPolicy::RetrySameOffset => {
                // fluvio #4514: the same evicted offset is requested again, forever.
                self.record_request("fetch", partition, offset, broker, Some(name), false);
                self.retry_later(now_ms, partition, name);
                return;
            }
        }
        if self.config.reset_policy == ResetPolicy::None {
            self.record_request("fetch", partition, offset, broker, Some(name), false);
            self.surface(
                partition,
                offset,
                name,
                Some(next_available),
                ConsumeError::Evicted {
                    partition: partition.clone(),
                    offset,
                    next_available,
                }
                .to_string(),
            );
            return;
        }
        if self.config.reset_policy == ResetPolicy::Latest
            && self.config.leader_out_of_range_policy == LeaderOutOfRangePolicy::ResetAtOnce
        {
            // Kafka answers this out-of-range (below the log start); Java and librdkafka
            // reset per `auto.offset.reset`, here to the latest offset.
            self.record_request("fetch", partition, offset, broker, Some(name), false);
            let state = self.partitions.get_mut(partition).expect("exists");
            state.phase = Phase::Resolving(Resolve::Reset(OffsetSpec::Latest));
            return;
        }
        if next_available <= offset {
            // Not a jump forward: nothing to skip; retry (the oracle judges the broker's answer).
            self.record_request("fetch", partition, offset, broker, Some(name), false);
            self.retry_later(now_ms, partition, name);
            return;
        }
        tracing::warn!(
            %partition,
            offset,
            next_available,
            "offset evicted by retention; jumping to the next available"
        );
        self.record_request("fetch", partition, offset, broker, Some(name), true);
        let state = self.partitions.get_mut(partition).expect("exists");
        state.reset_to(next_available, ResetReason::OffsetEvicted);
        state.errors_in_row = 0;
    }

    /// Surfaces an error to the application (`poll` fail) and stops the partition.
    fn surface(
        &mut self,
        partition: &TopicPartition,
        offset: u64,
        error: &str,
        next_available: Option<u64>,
        description: String,
    ) {
        tracing::warn!(%partition, "{description}");
        self.record(Op::PollFail {
            topic: partition.topic.to_string().into(),
            partition: partition.partition,
            offset,
            error: error.to_string().into(),
            next_available,
        });
        self.status.last_error = Some(description);
        if let Some(state) = self.partitions.get_mut(partition) {
            state.phase = Phase::Stopped;
        }
    }

    pub(super) fn on_list_offsets(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        offset: u64,
        broker: BrokerId,
        resolve: Resolve,
        result: Result<u64, ErrorCode>,
    ) {
        let policy = self.config.reset_policy;
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        state.request_in_flight = false;
        if state.phase != Phase::Resolving(resolve) || state.position != offset {
            return;
        }
        let found = match result {
            Ok(found) => found,
            Err(error) => {
                let name = error.name();
                self.record_request("list_offsets", partition, offset, broker, Some(name), false);
                if matches!(
                    error,
                    ErrorCode::NotLeaderOrFollower
                        | ErrorCode::FencedLeaderEpoch
                        | ErrorCode::UnknownLeaderEpoch
                        | ErrorCode::UnknownTopicOrPartition
                ) {
                    self.refresher.request_refresh();
                }
                self.retry_later(now_ms, partition, name);
                return;
            }
        };
        state.errors_in_row = 0;
        match resolve {
            Resolve::Start(_) => {
                state.jump(found);
                state.phase = Phase::Fetching;
                self.record_request(
                    "list_offsets",
                    partition,
                    offset,
                    broker,
                    None,
                    found != offset,
                );
                self.newly_assigned.insert(partition.clone());
            }
            Resolve::CheckHighWatermark => {
                state.high_watermark = Some(found);
                if offset <= found {
                    // The high watermark was only behind (a new leader catching up): fetch again.
                    state.phase = Phase::Fetching;
                } else if policy == ResetPolicy::Earliest {
                    state.phase = Phase::Resolving(Resolve::Reset(OffsetSpec::Earliest));
                }
                self.record_request("list_offsets", partition, offset, broker, None, false);
                if offset <= found {
                    return;
                }
                match policy {
                    ResetPolicy::None => {
                        self.surface(
                            partition,
                            offset,
                            ErrorCode::OffsetOutOfRange.name(),
                            None,
                            ConsumeError::OutOfRange {
                                partition: partition.clone(),
                                offset,
                            }
                            .to_string(),
                        );
                    }
                    ResetPolicy::Latest => self.reset_out_of_range(partition, offset, found),
                    ResetPolicy::Earliest => {}
                }
            }
            Resolve::Reset(_) => {
                self.record_request(
                    "list_offsets",
                    partition,
                    offset,
                    broker,
                    None,
                    found != offset,
                );
                self.reset_out_of_range(partition, offset, found);
            }
        }
    }

    fn reset_out_of_range(&mut self, partition: &TopicPartition, from: u64, to: u64) {
        let state = self.partitions.get_mut(partition).expect("exists");
        assert_eq!(state.position, from, "{partition}: a reset from elsewhere");
        state.reset_to(to, ResetReason::OutOfRange);
        state.phase = Phase::Fetching;
        tracing::warn!(%partition, from, to, "offset out of range: reset");
    }

    // ---- commits -----------------------------------------------------------------------------

    /// Sends the partition's next Fetch or ListOffsets, if it may.
    pub(super) fn maybe_request(&mut self, now_ms: u64, partition: &TopicPartition) {
        let Some(state) = self.partitions.get(partition) else {
            return;
        };
        if state.request_in_flight || now_ms < state.retry_at_ms {
            return;
        }
        let Some((leader, leader_addr, leader_epoch)) = self.metadata.leader(partition) else {
            if matches!(state.phase, Phase::Fetching | Phase::Resolving(_)) {
                self.refresher.request_refresh();
            }
            return;
        };
        let recheck_ms = self.config.preferred_replica_recheck_ms;
        let reset_at_follower =
            self.config.follower_out_of_range_policy == FollowerOutOfRangePolicy::ResetAtFollower;
        match state.phase.clone() {
            Phase::Committed | Phase::Stopped => {}
            Phase::Fetching => {
                if state.buffered_records() >= self.config.fetch_buffer_records_max {
                    return;
                }
                let mut source = state.source;
                let version = self.metadata.get().map_or(0, |metadata| metadata.version);
                let mut stale_metadata = false;
                match source {
                    Source::Replica { broker, since_ms } => {
                        let expired = now_ms >= since_ms + recheck_ms;
                        let unknown = self.metadata.broker_addr(broker).is_none();
                        if unknown {
                            // Java's Fetcher.selectReadReplica: a preferred replica missing from
                            // the metadata means the metadata is stale; refresh it.
                            stale_metadata = true;
                            source = Source::LeaderWithoutRack {
                                metadata_version: version,
                            };
                        } else if expired || broker == leader {
                            source = Source::Leader;
                        }
                    }
                    Source::LeaderWithoutRack { metadata_version }
                        if version > metadata_version =>
                    {
                        source = Source::Leader;
                    }
                    Source::Leader | Source::LeaderWithoutRack { .. } => {}
                }
                let rack = match source {
                    Source::LeaderWithoutRack { .. } => None,
                    _ => self.config.rack.clone(),
                };
                let (broker, addr, from_replica) = match source {
                    Source::Leader | Source::LeaderWithoutRack { .. } => {
                        (leader, leader_addr, false)
                    }
                    Source::Replica { broker, .. } => (
                        broker,
                        self.metadata.broker_addr(broker).expect("checked above"),
                        true,
                    ),
                };
                if stale_metadata {
                    self.refresher.request_refresh();
                }
                let offset = state.position;
                let state = self.partitions.get_mut(partition).expect("exists");
                state.source = source;
                state.last_source = Some(broker);
                state.request_in_flight = true;
                let correlation_id = self.requests.start(
                    addr,
                    now_ms + self.config.request_timeout_ms,
                    RequestKind::Fetch {
                        partition: partition.clone(),
                        offset,
                        broker,
                        from_replica,
                    },
                );
                self.actions.push(Action::Send {
                    to: addr,
                    correlation_id,
                    request: Request::Fetch(FetchRequest {
                        partition: partition.clone(),
                        offset,
                        max_bytes: self.config.fetch_max_bytes,
                        replica_id: None,
                        current_leader_epoch: Some(leader_epoch),
                        replica_log_start_offset: None,
                        replica_epoch: None,
                        rack,
                        max_wait_ms: self.config.fetch_max_wait_ms,
                    }),
                });
            }
            Phase::Resolving(resolve) => {
                let spec = match resolve {
                    Resolve::Start(spec) | Resolve::Reset(spec) => spec,
                    Resolve::CheckHighWatermark => OffsetSpec::Latest,
                };
                // Under `FollowerOutOfRangePolicy::ResetAtFollower`, the reset's ListOffsets
                // goes to the follower that answered out-of-range (franz-go #885), and keeps
                // going there.
                let (broker, addr) = match state.source {
                    Source::Replica { broker, .. } if reset_at_follower => {
                        match self.metadata.broker_addr(broker) {
                            Some(addr) => (broker, addr),
                            None => (leader, leader_addr),
                        }
                    }
                    _ => (leader, leader_addr),
                };
                let offset = state.position;
                let state = self.partitions.get_mut(partition).expect("exists");
                state.request_in_flight = true;
                let correlation_id = self.requests.start(
                    addr,
                    now_ms + self.config.request_timeout_ms,
                    RequestKind::ListOffsets {
                        partition: partition.clone(),
                        offset,
                        broker,
                        resolve,
                    },
                );
                self.actions.push(Action::Send {
                    to: addr,
                    correlation_id,
                    request: Request::ListOffsets(ListOffsetsRequest {
                        partition: partition.clone(),
                        spec,
                        current_leader_epoch: Some(leader_epoch),
                    }),
                });
            }
        }
    }
}
