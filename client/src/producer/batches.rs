//! Batching: appending sends, expiry, sending ready batches within the in-flight window.

use super::*;

/// Encodes a batch of `records` with its producer id, epoch and base sequence, compressed so.
pub(super) fn sequence_batch(
    pid: i64,
    epoch: i16,
    base_sequence: i32,
    records: &[PendingSend],
    compression: Compression,
) -> Sequenced {
    let batch = RecordBatch::idempotent(
        pid,
        epoch,
        base_sequence,
        records
            .iter()
            .map(|send| {
                Record::new(
                    send.key
                        .as_ref()
                        .map(|k| Bytes::from(k.clone().into_bytes())),
                    Bytes::from(send.value.clone().into_bytes()),
                    send.invoked_ms as i64,
                )
            })
            .collect(),
    )
    .with_compression(compression);
    Sequenced {
        pid,
        epoch,
        base_sequence,
        encoded: batch.encode(),
    }
}

/// The `error` of an acks=0 send's `info`: sent, never answered.
pub(super) const ACKS_0_OUTCOME: &str = "acks_0";

/// Notes in the status that the producer sent to `partition`.
pub(super) fn note_partition_used(status: &mut ProducerStatus, partition: &TopicPartition) {
    let used = status
        .partitions_used
        .entry(partition.topic.to_string())
        .or_default();
    if !used.contains(&partition.partition) {
        used.push(partition.partition);
        used.sort_unstable();
    }
}

impl Producer {
    pub(super) fn append(&mut self, now_ms: u64, partition: TopicPartition, send: PendingSend) {
        let batch_bytes_max = self.config.batch_bytes_max;
        let state = self.partitions.entry(partition).or_default();
        let fits = state.open.back().is_some_and(|batch| {
            batch.bytes + send.record_bytes <= batch_bytes_max
                && (batch.records.len() as u32) < RECORDS_PER_BATCH_MAX
        });
        if !fits {
            let id = self.next_batch_id;
            self.next_batch_id += 1;
            state.open.push_back(Batch {
                id,
                records: Vec::new(),
                bytes: BATCH_HEADER_BYTES,
                created_ms: now_ms,
                sequence: None,
                in_flight: None,
                attempts: 0,
                maybe_written: false,
                retried: false,
                sent_as_oldest: false,
                leader_epoch: None,
                acked: false,
                last_error: None,
            });
        }
        let batch = state.open.back_mut().expect("a batch was just ensured");
        batch.bytes += send.record_bytes;
        batch.records.push(send);
    }

    /// Completes sends whose delivery timeout passed (batches not in flight).
    pub(super) fn expire(&mut self, now_ms: u64) {
        let timeout_ms = self.config.delivery_timeout_ms;
        let expired = |invoked_ms: u64| now_ms >= invoked_ms + timeout_ms;
        let mut completions = Vec::new();
        let mut unsent = Vec::new();
        let mut gap = false;
        let idempotence = self.config.idempotence;
        let compression = self.config.compression;
        for (partition, state) in self.partitions.iter_mut() {
            let mut index = 0;
            while index < state.window.len() {
                let batch = &mut state.window[index];
                if batch.acked || batch.in_flight.is_some() || !expired(batch.oldest_invoke_ms()) {
                    index += 1;
                    continue;
                }
                tracing::warn!(%partition, "delivery timeout of a sent batch");
                gap = true;
                if batch.maybe_written || batch.records.iter().all(|send| expired(send.invoked_ms))
                {
                    completions.push(state.window.remove(index).expect("index in range"));
                    continue;
                }
                // Every answer proved the batch unwritten, and sends that joined it later (after
                // a long outage: invoked after the heal) have time left: only the expired sends
                // complete. The rest stay in place: an idempotent producer bumps its epoch (the
                // gap below), which sequences them anew before anything is sent; without
                // idempotence the batch is encoded again (swarm seed 7846).
                let gone = batch.take_expired(expired);
                let name = batch.error_name();
                unsent.extend(gone.into_iter().map(|send| (send, false, name.clone())));
                batch.sequence = (!idempotence).then(|| {
                    sequence_batch(
                        NO_PRODUCER_ID,
                        NO_PRODUCER_EPOCH,
                        NO_SEQUENCE,
                        &batch.records,
                        compression,
                    )
                });
                index += 1;
            }
            state.pop_acked();
            // A batch never sent has no sequence yet: only the sends whose own delivery timeout
            // passed complete; sends that joined it later keep their own time (after a long
            // outage, a send invoked after the heal must not fail with the batch it joined).
            let mut index = 0;
            while index < state.open.len() {
                let batch = &mut state.open[index];
                if !expired(batch.oldest_invoke_ms()) {
                    index += 1;
                    continue;
                }
                let gone = batch.take_expired(expired);
                let maybe_written = batch.maybe_written;
                let name = batch.error_name();
                unsent.extend(
                    gone.into_iter()
                        .map(|send| (send, maybe_written, name.clone())),
                );
                if batch.records.is_empty() {
                    state.open.remove(index);
                } else {
                    index += 1;
                }
            }
        }
        for batch in completions {
            let name = batch.error_name();
            self.complete_batch(batch, &name);
        }
        for (send, maybe_written, name) in unsent {
            self.complete_send(send.value, maybe_written, &name);
        }
        while self
            .unrouted
            .front()
            .is_some_and(|send| expired(send.invoked_ms))
        {
            let send = self.unrouted.pop_front().expect("front exists");
            self.complete_send(send.value, false, &SendError::TimedOut.name());
        }
        if gap {
            // A sequenced batch left without an answer: later sequences would be out of order.
            self.request_bump();
        }
    }

    /// Sends what `partition` may send now.
    pub(super) fn send_ready(&mut self, now_ms: u64, partition: &TopicPartition) {
        let Some((_, addr, leader_epoch)) = self.metadata.leader(partition) else {
            if self
                .partitions
                .get(partition)
                .is_some_and(|s| s.pending_sends() > 0)
            {
                self.refresher.request_refresh();
            }
            return;
        };
        let idempotence = self.config.idempotence;
        let (pid, epoch) = match self.producer_id.current {
            Some(id) => id,
            None if !idempotence => (NO_PRODUCER_ID, NO_PRODUCER_EPOCH),
            None => panic!("sending needs a producer id"),
        };
        let linger_ms = self.config.linger_ms;
        let batch_bytes_max = self.config.batch_bytes_max;
        let flush = self.flush_requested;
        let in_flight_max = self.config.in_flight_per_partition_max;
        let acks = self.config.acks;
        let state = self
            .partitions
            .get_mut(partition)
            .expect("the partition exists");
        if now_ms < state.retry_at_ms {
            return;
        }
        let is_ready = |open: &VecDeque<Batch>| match open.front() {
            None => false,
            Some(batch) => {
                open.len() > 1
                    || batch.bytes >= batch_bytes_max
                    || batch.records.len() as u32 >= RECORDS_PER_BATCH_MAX
                    || now_ms >= batch.created_ms + linger_ms
                    || flush
            }
        };
        if acks == Acks::None {
            // Never answered: every ready batch goes now, and its sends are done once it is sent.
            let mut ready = Vec::new();
            while is_ready(&state.open) {
                let batch = state.open.pop_front().expect("front exists");
                let encoded = sequence_batch(
                    NO_PRODUCER_ID,
                    NO_PRODUCER_EPOCH,
                    NO_SEQUENCE,
                    &batch.records,
                    self.config.compression,
                )
                .encoded;
                ready.push((batch, encoded));
            }
            for (batch, encoded) in ready {
                let correlation_id = self.requests.unanswered();
                self.actions.push(produce_send(
                    addr,
                    correlation_id,
                    partition,
                    encoded,
                    self.config.produce_timeout_ms,
                    leader_epoch,
                    acks,
                ));
                note_partition_used(&mut self.status, partition);
                for send in batch.records {
                    self.complete_send(send.value, true, ACKS_0_OUTCOME);
                }
            }
            return;
        }
        let mut to_send = Vec::new();
        if let Some(waiting) = state
            .window
            .iter()
            .position(|b| b.in_flight.is_none() && !b.acked)
        {
            // A retry: only the oldest unacknowledged batch goes, so the leader sees sequences
            // in order; the others wait for it.
            if waiting == 0 {
                to_send.push(0);
            }
        } else {
            while state.window.len() < in_flight_max {
                if !is_ready(&state.open) {
                    break;
                }
                let mut batch = state.open.pop_front().expect("front exists");
                if idempotence {
                    batch.sequence = Some(sequence_batch(
                        pid,
                        epoch,
                        state.next_sequence,
                        &batch.records,
                        self.config.compression,
                    ));
                    state.next_sequence =
                        increment_sequence(state.next_sequence, batch.records.len() as i32);
                } else {
                    batch.sequence = Some(sequence_batch(
                        pid,
                        epoch,
                        NO_SEQUENCE,
                        &batch.records,
                        self.config.compression,
                    ));
                }
                state.window.push_back(batch);
                to_send.push(state.window.len() - 1);
            }
        }
        assert!(
            state.window.len() <= in_flight_max,
            "more than {in_flight_max} batches sequenced for {partition}"
        );
        for index in to_send {
            let batch = &mut state.window[index];
            let encoded = batch
                .sequence
                .as_ref()
                .expect("a batch in the window has a sequence")
                .encoded
                .clone();
            let correlation_id = self.requests.start(
                addr,
                now_ms + self.config.request_timeout_ms,
                RequestKind::Produce {
                    partition: partition.clone(),
                    batch_id: batch.id,
                },
            );
            batch.in_flight = Some(correlation_id);
            batch.attempts += 1;
            batch.sent_as_oldest = index == 0;
            batch.leader_epoch = Some(leader_epoch);
            self.actions.push(produce_send(
                addr,
                correlation_id,
                partition,
                encoded,
                self.config.produce_timeout_ms,
                leader_epoch,
                acks,
            ));
        }
        assert!(
            state.in_flight() <= in_flight_max,
            "more than {in_flight_max} batches in flight for {partition}"
        );
    }
}

/// The Produce request of one encoded batch, to the leader of `leader_epoch` at `to`.
fn produce_send(
    to: SocketAddr,
    correlation_id: u64,
    partition: &TopicPartition,
    batch: Bytes,
    timeout_ms: u64,
    leader_epoch: u32,
    acks: Acks,
) -> Action {
    Action::Send {
        to,
        correlation_id,
        request: Request::Produce(ProduceRequest {
            partition: partition.clone(),
            batch,
            timeout_ms,
            current_leader_epoch: Some(leader_epoch),
            acks,
        }),
    }
}
