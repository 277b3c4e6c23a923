//! Answers: the producer id and epoch bumps, produce answers, KIP-360 recovery, outcomes.

use super::batches::{note_partition_used, sequence_batch};
use super::*;

/// Does this answer to a Produce prove the batch was not appended? Only errors a broker gives
/// before it appends. `NotLeaderOrFollower` is not one of them: a leader deposed while a batch
/// waited for the ISR fails it with that error after appending it, and the new leader may hold it
/// (KAFKA-13574; Jepsen's Kafka client calls the outcome indeterminate). `RequestTimedOut` and
/// unknown errors are not either.
fn proves_not_written(error: &ErrorCode, acks: Acks) -> bool {
    // With acks=1 the leader answers as soon as it appended: `NotLeaderOrFollower` comes only
    // before an append.
    if acks == Acks::Leader && *error == ErrorCode::NotLeaderOrFollower {
        return true;
    }
    matches!(
        error,
        ErrorCode::OutOfOrderSequence
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::NotEnoughReplicas
            | ErrorCode::MessageTooLarge
            | ErrorCode::CorruptMessage
            | ErrorCode::InvalidRequest { .. }
            | ErrorCode::CoordinatorLoadInProgress
    )
}

/// A data-loss report on `partition`, whose broker answered `log_start`: counted in the status and
/// recorded as a `data_loss` history event.
fn report_data_loss(
    status: &mut ProducerStatus,
    actions: &mut Vec<Action>,
    partition: &TopicPartition,
    log_start: u64,
) {
    status.data_loss_reports += 1;
    actions.push(Action::Record(Op::DataLoss {
        topic: partition.topic.to_string().into(),
        partition: partition.partition,
        log_start,
    }));
}

/// The answers that say the broker's view of this producer's sequences differs from the
/// producer's.
fn is_sequence_desync(error: &ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::OutOfOrderSequence
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerEpoch
    )
}

/// Errors that say the producer's metadata is stale: the request was refused before any append,
/// and the batch goes to the leader the refreshed metadata names. librdkafka does not count such
/// a retry (`rd_kafka_handle_Produce_error`: on `RD_KAFKA_ERR_ACTION_REFRESH`, `incr_retry = 0`
/// unless the error is a transport or storage error: "there is no chance of duplicate delivery").
fn asks_for_metadata_refresh(error: &ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
    )
}

/// Errors after which retrying the same batch cannot help.
fn is_fatal_for_batch(error: &ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::MessageTooLarge
            | ErrorCode::CorruptMessage
            | ErrorCode::InvalidRequest { .. }
            | ErrorCode::TopicAlreadyExists
            | ErrorCode::OffsetOutOfRange
            | ErrorCode::OffsetEvicted { .. }
            | ErrorCode::UnknownServerError { .. }
    )
}

impl Producer {
    pub(super) fn producer_id_retry_later(&mut self, now_ms: u64) {
        let delay = backoff_ms(
            &mut self.rng,
            self.producer_id.attempts,
            self.config.retry_backoff_ms,
            self.config.retry_backoff_max_ms,
        );
        self.producer_id.attempts = self.producer_id.attempts.saturating_add(1);
        self.producer_id.retry_at_ms = now_ms + delay;
    }

    /// Asks for an epoch bump (KIP-360), which restarts sequences; nothing to do without
    /// idempotence.
    pub(super) fn request_bump(&mut self) {
        if self.config.idempotence && self.producer_id.wanted.is_none() {
            self.producer_id.wanted = Some(ProducerIdWant::Bump);
        }
    }

    pub(super) fn on_init_producer_id(
        &mut self,
        now_ms: u64,
        result: Result<(i64, i16), ErrorCode>,
    ) {
        self.producer_id.request_in_flight = false;
        match result {
            Ok((pid, epoch)) => {
                let previous = self.producer_id.current;
                if let (Some((old_pid, old_epoch)), Some(ProducerIdWant::Bump)) =
                    (previous, self.producer_id.wanted)
                {
                    assert!(
                        pid != old_pid || epoch > old_epoch,
                        "an epoch bump of producer {old_pid} went from {old_epoch} to {epoch}"
                    );
                }
                self.producer_id.current = Some((pid, epoch));
                self.producer_id.wanted = None;
                self.producer_id.attempts = 0;
                self.record(Op::InitPid {
                    pid,
                    epoch: i32::from(epoch),
                });
                if previous.is_some() {
                    self.status.producer_id_resets += 1;
                    self.restart_sequences();
                }
            }
            Err(error) => {
                if !error.is_retriable() {
                    // The bump was refused (e.g. InvalidProducerEpoch): start over with a fresh id.
                    tracing::warn!(%error, "InitProducerId refused; asking for a fresh producer id");
                    self.producer_id.wanted = Some(ProducerIdWant::Fresh);
                }
                self.producer_id_retry_later(now_ms);
            }
        }
    }

    /// After a new epoch or id: every partition starts over at sequence 0 (KAFKA-12152). Batches
    /// that may have been written complete as `info` (unless the partition asked to resend them
    /// all, `resend_on_bump`); the others go back, in order, to be sent again with new
    /// sequences.
    fn restart_sequences(&mut self) {
        let mut completions = Vec::new();
        for state in self.partitions.values_mut() {
            assert_eq!(
                state.in_flight(),
                0,
                "sequences restarted with a batch in flight"
            );
            let mut resend = Vec::new();
            let resend_all = std::mem::take(&mut state.resend_on_bump);
            while let Some(mut batch) = state.window.pop_front() {
                if batch.acked {
                    continue;
                }
                if batch.maybe_written && !resend_all {
                    completions.push(batch);
                } else {
                    batch.sequence = None;
                    resend.push(batch);
                }
            }
            for batch in resend.into_iter().rev() {
                state.open.push_front(batch);
            }
            state.next_sequence = 0;
            state.errors_in_row = 0;
        }
        for batch in completions {
            let error = batch.error_name();
            self.complete_batch(batch, &error);
        }
    }

    // ---- produce answers ---------------------------------------------------------------------

    pub(super) fn on_produce(
        &mut self,
        now_ms: u64,
        correlation_id: u64,
        partition: &TopicPartition,
        batch_id: u64,
        result: Result<u64, ErrorCode>,
        log_start_offset: u64,
    ) {
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        let Some(index) = state
            .window
            .iter()
            .position(|b| b.id == batch_id && b.in_flight == Some(correlation_id))
        else {
            return;
        };
        state.window[index].in_flight = None;
        match result {
            Ok(base_offset) => {
                let batch = &mut state.window[index];
                assert!(!batch.acked, "{partition}: a batch acknowledged twice");
                batch.acked = true;
                let records = std::mem::take(&mut batch.records);
                let sequenced = batch
                    .sequence
                    .clone()
                    .expect("a batch in the window has a sequence");
                let acks = match self.config.acks {
                    Acks::All => SendAcks::All,
                    _ => SendAcks::Leader {
                        leader_epoch: batch.leader_epoch,
                    },
                };
                let idempotence = self.config.idempotence;
                state.pop_acked();
                let count = records.len() as u64;
                let last_offset = base_offset + count - 1;
                state.last_acked_offset = Some(
                    state
                        .last_acked_offset
                        .map_or(last_offset, |o| o.max(last_offset)),
                );
                state.errors_in_row = 0;
                for (i, send) in records.into_iter().enumerate() {
                    self.status.acked += 1;
                    self.actions.push(Action::Record(Op::SendOk {
                        value: send.value.into(),
                        topic: partition.topic.to_string().into(),
                        partition: partition.partition,
                        offset: base_offset + i as u64,
                        pid: idempotence.then_some(sequenced.pid),
                        epoch: idempotence.then_some(i32::from(sequenced.epoch)),
                        sequence: idempotence
                            .then(|| increment_sequence(sequenced.base_sequence, i as i32)),
                        acks,
                    }));
                }
                note_partition_used(&mut self.status, partition);
            }
            Err(error) => {
                let batch = &mut state.window[index];
                batch.last_error = Some(error.name().to_string());
                if !proves_not_written(&error, self.config.acks) {
                    batch.maybe_written = true;
                }
                if !self.config.idempotence && batch.maybe_written {
                    // Sent again, it could be written twice.
                    if is_fatal_for_batch(&error) {
                        tracing::warn!(%partition, %error, "batch refused; its sends fail");
                    }
                    self.refresher.request_refresh();
                    self.give_up_maybe_written(partition, index);
                    return;
                }
                // librdkafka's retry count: a batch behind a desynchronized one is resent
                // "without incrementing retries" (`rd_kafka_handle_idempotent_Produce_error`,
                // OUT_OF_ORDER r > 0), and so is one refused for stale metadata.
                if !is_sequence_desync(&error) && !asks_for_metadata_refresh(&error) {
                    batch.retried = true;
                }
                match &error {
                    e if is_fatal_for_batch(e) => {
                        tracing::warn!(%partition, %error, "batch refused; its sends fail");
                        let batch = state
                            .window
                            .remove(index)
                            .expect("the index was just found");
                        state.pop_acked();
                        let name = batch.error_name();
                        self.complete_batch(batch, &name);
                        // Its sequences are gone: the next batch would be out of order.
                        self.request_bump();
                    }
                    ErrorCode::UnknownProducerId
                    | ErrorCode::OutOfOrderSequence
                    | ErrorCode::InvalidProducerEpoch
                        if index == 0
                            && state.window[0].sent_as_oldest
                            && self.config.idempotence =>
                    {
                        self.on_producer_state_lost(partition, error.clone(), log_start_offset);
                    }
                    e if asks_for_metadata_refresh(e) => {
                        self.refresher.request_refresh();
                        self.retry_later(now_ms, partition, index);
                    }
                    _ => {
                        // Retriable, or an out-of-order answer to an attempt sent behind an older
                        // unacknowledged batch: resent in sequence order once the older ones are
                        // acknowledged.
                        self.retry_later(now_ms, partition, index);
                    }
                }
            }
        }
    }

    /// Without idempotence: `window[index]` may have been written, so it is not sent again; its
    /// sends complete `info`.
    pub(super) fn give_up_maybe_written(&mut self, partition: &TopicPartition, index: usize) {
        let state = self
            .partitions
            .get_mut(partition)
            .expect("the partition exists");
        let batch = state
            .window
            .remove(index)
            .expect("the index is in the window");
        state.pop_acked();
        let name = batch.error_name();
        self.complete_batch(batch, &name);
    }

    /// A retriable failure of `window[index]`: back off, or give up after `retries_max`.
    pub(super) fn retry_later(&mut self, now_ms: u64, partition: &TopicPartition, index: usize) {
        let state = self
            .partitions
            .get_mut(partition)
            .expect("the partition exists");
        let delay = backoff_ms(
            &mut self.rng,
            state.errors_in_row,
            self.config.retry_backoff_ms,
            self.config.retry_backoff_max_ms,
        );
        state.errors_in_row = state.errors_in_row.saturating_add(1);
        state.retry_at_ms = state.retry_at_ms.max(now_ms + delay);
        if state.window[index].attempts >= self.config.retries_max {
            let batch = state
                .window
                .remove(index)
                .expect("the index is in the window");
            state.pop_acked();
            tracing::warn!(%partition, attempts = batch.attempts, "retries exhausted");
            let name = batch.error_name();
            self.complete_batch(batch, &name);
            self.request_bump();
        }
    }

    /// KIP-360 / franz-go #805 (PR #834): the oldest unacknowledged batch of `partition` was
    /// answered `UnknownProducerId`, `OutOfOrderSequence` or `InvalidProducerEpoch`.
    fn on_producer_state_lost(
        &mut self,
        partition: &TopicPartition,
        error: ErrorCode,
        log_start_offset: u64,
    ) {
        let policy = match error {
            ErrorCode::UnknownProducerId => self.config.producer_state_loss_policy,
            _ => ProducerStateLossPolicy::BumpEpoch,
        };
        match policy {
            ProducerStateLossPolicy::BumpEpoch => {}
            ProducerStateLossPolicy::Fatal => {
                // The producer gives up on every pending and later send (franz-go #805). It tells
                // the application nothing more than each send's failure (franz-go has no
                // client-wide fatal error: `failProducerID` fails the records), so no `fatal`.
                tracing::error!(%partition, "UnknownProducerId: fatal");
                self.go_fatal(error.name(), None);
                return;
            }
            ProducerStateLossPolicy::ResetWithoutBump => {
                self.reset_sequences_without_bump(partition);
                return;
            }
        }
        let state = self
            .partitions
            .get_mut(partition)
            .expect("the partition exists");
        let last_acked = state.last_acked_offset;
        let explained = last_acked.is_some_and(|acked| log_start_offset > acked);
        match self.config.sequence_desync_policy {
            SequenceDesyncPolicy::FailUnexplained => {}
            SequenceDesyncPolicy::BumpAndResend | SequenceDesyncPolicy::BumpResendAndReport => {
                // Java `TransactionManager.canRetry` / franz-go `handleReqRespBatch`: retried
                // under a bumped epoch, with every unacknowledged batch of the partition.
                let report = !explained
                    && self.config.sequence_desync_policy
                        == SequenceDesyncPolicy::BumpResendAndReport;
                if report {
                    // franz-go's `onDataLoss` hook.
                    report_data_loss(
                        &mut self.status,
                        &mut self.actions,
                        partition,
                        log_start_offset,
                    );
                }
                tracing::warn!(
                    %partition,
                    %error,
                    log_start_offset,
                    last_acked_offset = ?last_acked,
                    explained,
                    "sequence desynchronization: bumping the epoch and resending every \
                     unacknowledged batch of the partition"
                );
                state.resend_on_bump = true;
                self.request_bump();
                return;
            }
            SequenceDesyncPolicy::FatalUnlessFirstAttempt => {
                // librdkafka `rd_kafka_handle_idempotent_Produce_error`.
                let first_attempt =
                    matches!(error, ErrorCode::UnknownProducerId) && !state.window[0].retried;
                if !first_attempt {
                    tracing::error!(
                        %partition,
                        %error,
                        "sequence desynchronization on the head batch: fatal (librdkafka)"
                    );
                    // `rd_kafka_idemp_set_fatal_error` raises a fatal error: the application's
                    // `error_cb` gets `RD_KAFKA_RESP_ERR__FATAL`, `rd_kafka_fatal_error()` names
                    // the error, and every later `rd_kafka_produce()` fails with it; the
                    // application must destroy the instance (librdkafka INTRODUCTION.md, "Fatal
                    // producer errors"). Recorded as `fatal`: what the application was told.
                    self.go_fatal(error.name(), Some(partition));
                    return;
                }
                tracing::info!(%partition, %error, "first attempt: bumping the epoch and resending");
                state.resend_on_bump = true;
                self.request_bump();
                return;
            }
        }
        if explained {
            tracing::info!(
                %partition,
                %error,
                log_start_offset,
                last_acked_offset = ?last_acked,
                "producer state removed by retention: bumping the epoch, no loss (KIP-360)"
            );
            if state.window[0].maybe_written {
                // An earlier attempt may be in the log: writing it again under a new epoch
                // could duplicate it, so its outcome stays unknown.
                let batch = state.window.pop_front().expect("index 0 exists");
                state.pop_acked();
                let name = batch.error_name();
                self.complete_batch(batch, &name);
            }
        } else {
            report_data_loss(
                &mut self.status,
                &mut self.actions,
                partition,
                log_start_offset,
            );
            tracing::warn!(
                %partition,
                %error,
                log_start_offset,
                last_acked_offset = ?last_acked,
                "DATA LOSS: the broker lost this producer's state and retention does not explain \
                 it; failing the batch, resetting the producer id and going on"
            );
            let batch = state.window.pop_front().expect("index 0 exists");
            state.pop_acked();
            self.complete_batch(batch, error.name());
        }
        self.request_bump();
    }

    /// [`ProducerStateLossPolicy::ResetWithoutBump`] (unsafe per KIP-360): the partition's
    /// sequences restart at 0 under the same epoch, at once, including batches in flight or
    /// possibly written.
    fn reset_sequences_without_bump(&mut self, partition: &TopicPartition) {
        tracing::warn!(%partition, "UnknownProducerId: resetting sequences without a bump");
        let (pid, epoch) = self
            .producer_id
            .current
            .expect("a batch was sent, so there is a producer id");
        let state = self
            .partitions
            .get_mut(partition)
            .expect("the partition exists");
        let mut sequence = 0;
        state.window.retain(|batch| !batch.acked);
        for batch in state.window.iter_mut() {
            if let Some(correlation_id) = batch.in_flight.take() {
                self.requests.forget(correlation_id);
            }
            batch.sequence = Some(sequence_batch(
                pid,
                epoch,
                sequence,
                &batch.records,
                self.config.compression,
            ));
            sequence = increment_sequence(sequence, batch.records.len() as i32);
        }
        state.next_sequence = sequence;
    }

    /// Every pending send completes now; every later send fails with `error`. `declared`: the
    /// client tells the application it is unusable (a `fatal` history event naming the partition
    /// whose answer raised it, before the sends complete).
    fn go_fatal(&mut self, error: &str, declared: Option<&TopicPartition>) {
        self.fatal = Some(error.to_string());
        if let Some(partition) = declared {
            self.actions.push(Action::Record(Op::Fatal {
                topic: partition.topic.to_string().into(),
                partition: partition.partition,
                error: error.to_string().into(),
            }));
        }
        let mut batches = Vec::new();
        for state in self.partitions.values_mut() {
            for mut batch in state.window.drain(..).chain(state.open.drain(..)) {
                if batch.acked {
                    continue;
                }
                if let Some(correlation_id) = batch.in_flight.take() {
                    self.requests.forget(correlation_id);
                    batch.maybe_written = true;
                }
                batches.push(batch);
            }
        }
        for batch in batches {
            self.complete_batch(batch, error);
        }
        for send in std::mem::take(&mut self.unrouted) {
            self.complete_send(send.value, false, error);
        }
    }

    /// Completes every send of a batch that was not acknowledged: `info` when it may have been
    /// written, else `fail`.
    pub(super) fn complete_batch(&mut self, batch: Batch, error: &str) {
        let maybe_written = batch.maybe_written || batch.in_flight.is_some();
        for send in batch.records {
            self.complete_send(send.value, maybe_written, error);
        }
    }

    pub(super) fn complete_send(&mut self, value: String, maybe_written: bool, error: &str) {
        let error = error.to_string();
        if maybe_written {
            self.status.unknown += 1;
            self.record(Op::SendInfo {
                value: value.into(),
                error: error.into(),
            });
        } else {
            self.status.failed += 1;
            self.record(Op::SendFail {
                value: value.into(),
                error: error.into(),
            });
        }
    }

    // ---- the main step -----------------------------------------------------------------------

    pub(super) fn maybe_request_producer_id(&mut self, now_ms: u64) {
        let Some(want) = self.producer_id.wanted else {
            return;
        };
        if self.producer_id.request_in_flight || now_ms < self.producer_id.retry_at_ms {
            return;
        }
        // An epoch bump waits until no produce request is in flight, so every batch's outcome
        // is settled before sequences restart.
        if self.partitions.values().any(|s| s.in_flight() > 0) {
            return;
        }
        let current = match want {
            ProducerIdWant::Fresh => None,
            ProducerIdWant::Bump => self.producer_id.current,
        };
        let to = self.cluster.controller;
        let correlation_id = self.requests.start(
            to,
            now_ms + self.config.request_timeout_ms,
            RequestKind::InitProducerId,
        );
        self.producer_id.request_in_flight = true;
        self.actions.push(Action::Send {
            to,
            correlation_id,
            request: Request::InitProducerId(InitProducerIdRequest { current }),
        });
    }
}
