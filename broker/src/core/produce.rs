//! The produce path: appending as leader, produces (acks=all) waiting for the high watermark
//! and their completion, failure or timeout, and the per-producer activity that forced producer
//! expiry (in `admin`) consults.
//!
//! `acks` as in Kafka: `all` is answered once the high watermark passes the batch (and refused
//! below `min.insync.replicas`); `1` is answered as soon as the leader appended it (the ISR size
//! is not checked); `0` is never answered, not even with an error.

use super::{error_code, BrokerCore, Observation, Output, Role, UnpublishedAppend};
use crate::api::*;
use crate::batch::StoredBatch;
use crate::log::AppendOutcome;
use crate::storage::Storage;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// How many produce requests may wait for the high watermark at once, per broker.
const PENDING_PRODUCES_MAX: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingProduce {
    pub(super) to: SocketAddr,
    pub(super) correlation_id: u64,
    pub(super) partition: TopicPartition,
    pub(super) leader_epoch: u32,
    pub(super) base_offset: u64,
    pub(super) last_offset: u64,
    pub(super) deadline_ms: u64,
}

impl<S: Storage + Clone> BrokerCore<S> {
    /// Appends the request's batch; the answer to send now, or None when there is none yet
    /// (acks=all: it waits for the high watermark) or none at all (acks=0).
    pub(super) fn produce(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: ProduceRequest,
    ) -> Option<ProduceResponse> {
        let acks = request.acks;
        let response = self.append_produce(now_ms, from, correlation_id, request);
        if acks == Acks::None {
            return None;
        }
        response
    }

    fn append_produce(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: ProduceRequest,
    ) -> Option<ProduceResponse> {
        let partition = request.partition.clone();
        let Some(replica) = self.replicas.get_mut(&partition) else {
            let known = self.metadata.partition(&partition).is_some();
            return Some(ProduceResponse {
                result: Err(if known {
                    ErrorCode::NotLeaderOrFollower
                } else {
                    ErrorCode::UnknownTopicOrPartition
                }),
                log_start_offset: 0,
            });
        };
        let log_start_offset = replica.log.log_start_offset();
        let reject = |error| {
            Some(ProduceResponse {
                result: Err(error),
                log_start_offset,
            })
        };
        let Role::Leader(leader) = &replica.role else {
            return reject(ErrorCode::NotLeaderOrFollower);
        };
        if let Err(error) = Self::check_epoch(replica, request.current_leader_epoch) {
            return reject(error);
        }
        if (request.batch.len() as u64) > crate::batch::BATCH_BYTES_MAX {
            return reject(ErrorCode::MessageTooLarge);
        }
        // The leader checks every record (and decompresses to do so), as Kafka's LogValidator
        // does; what it stores is the bytes it was sent.
        let batch = match StoredBatch::verify_records(request.batch.clone()) {
            Ok(batch) => batch,
            Err(_) => return reject(ErrorCode::CorruptMessage),
        };
        let acks_all = request.acks == Acks::All;
        if acks_all && (leader.isr.len() as u32) < self.config.min_insync_replicas {
            return reject(ErrorCode::NotEnoughReplicas);
        }
        if acks_all && self.pending_produces.len() >= PENDING_PRODUCES_MAX {
            return reject(ErrorCode::RequestTimedOut);
        }
        let epoch = replica.leader_epoch;
        let producer_id = batch.header.producer_id;
        let producer_epoch = batch.header.producer_epoch;
        let end_before = replica.log.log_end_offset();
        let outcome = match replica.log.append_as_leader(batch, epoch, now_ms as i64) {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::debug!(broker = self.config.broker_id, %partition, %error, "produce refused");
                return reject(error_code(&error));
            }
        };
        if matches!(outcome, AppendOutcome::Appended { .. }) {
            UnpublishedAppend::note(
                self.config.consumer_fetch_range_policy,
                &mut replica.unpublished_append,
                end_before,
                now_ms,
            );
        }
        if producer_id >= 0 {
            let appended = matches!(outcome, AppendOutcome::Appended { .. });
            note_producer_append(
                &mut self.producer_activity,
                &partition,
                producer_id,
                producer_epoch,
                appended,
                now_ms,
            );
        }
        let (base_offset, last_offset) = match outcome {
            AppendOutcome::Appended {
                base_offset,
                last_offset,
            } => {
                if replica.high_watermark <= last_offset {
                    self.outputs.push(Output::Observe(Observation::Appended {
                        partition: partition.clone(),
                        broker: self.config.broker_id,
                        last_offset,
                        high_watermark: replica.high_watermark,
                    }));
                }
                (base_offset, last_offset)
            }
            AppendOutcome::Duplicate {
                base_offset,
                last_offset,
            } => (base_offset, last_offset),
        };
        if replica.high_watermark > last_offset {
            return Some(ProduceResponse {
                result: Ok(base_offset),
                log_start_offset,
            });
        }
        if !acks_all {
            // Answered now (acks=1; acks=0 drops the answer); the high watermark follows on
            // its own (at once when the leader is the only in-sync replica).
            self.advance_high_watermark(now_ms, &partition);
            return Some(ProduceResponse {
                result: Ok(base_offset),
                log_start_offset,
            });
        }
        self.pending_produces.push(PendingProduce {
            to: from,
            correlation_id,
            partition: partition.clone(),
            leader_epoch: epoch,
            base_offset,
            last_offset,
            deadline_ms: now_ms + request.timeout_ms,
        });
        self.advance_high_watermark(now_ms, &partition);
        None
    }

    pub(super) fn complete_produces(&mut self, partition: &TopicPartition) {
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let high_watermark = replica.high_watermark;
        let epoch = replica.leader_epoch;
        let log_start = replica.log.log_start_offset();
        let (done, waiting): (Vec<PendingProduce>, Vec<PendingProduce>) =
            std::mem::take(&mut self.pending_produces)
                .into_iter()
                .partition(|p| {
                    &p.partition == partition
                        && p.leader_epoch == epoch
                        && p.last_offset < high_watermark
                });
        self.pending_produces = waiting;
        for produce in done {
            self.respond(
                produce.to,
                produce.correlation_id,
                Response::Produce(ProduceResponse {
                    result: Ok(produce.base_offset),
                    log_start_offset: log_start,
                }),
            );
        }
    }

    pub(super) fn fail_pending_produces(&mut self, partition: &TopicPartition, error: ErrorCode) {
        let (failed, waiting): (Vec<PendingProduce>, Vec<PendingProduce>) =
            std::mem::take(&mut self.pending_produces)
                .into_iter()
                .partition(|p| &p.partition == partition);
        self.pending_produces = waiting;
        for produce in failed {
            self.respond(
                produce.to,
                produce.correlation_id,
                Response::Produce(ProduceResponse {
                    result: Err(error.clone()),
                    log_start_offset: 0,
                }),
            );
        }
    }

    pub(super) fn expire_produces(&mut self, now_ms: u64) {
        let (expired, waiting): (Vec<PendingProduce>, Vec<PendingProduce>) =
            std::mem::take(&mut self.pending_produces)
                .into_iter()
                .partition(|p| now_ms >= p.deadline_ms);
        self.pending_produces = waiting;
        if !expired.is_empty() {
            tracing::debug!(
                broker = self.config.broker_id,
                count = expired.len(),
                "produce requests timed out waiting for the ISR"
            );
        }
        for produce in expired {
            self.respond(
                produce.to,
                produce.correlation_id,
                Response::Produce(ProduceResponse {
                    result: Err(ErrorCode::RequestTimedOut),
                    log_start_offset: 0,
                }),
            );
        }
    }
}

/// What a broker saw of one producer on one partition (for forced expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProducerActivity {
    pub(super) last_append_ms: u64,
    pub(super) epoch: i16,
    /// Batches appended in `epoch` (duplicates not counted).
    pub(super) batches_in_epoch: u64,
}

pub(super) fn note_producer_append(
    activity: &mut BTreeMap<(TopicPartition, i64), ProducerActivity>,
    partition: &TopicPartition,
    producer_id: i64,
    producer_epoch: i16,
    appended: bool,
    now_ms: u64,
) {
    let entry = activity
        .entry((partition.clone(), producer_id))
        .or_insert(ProducerActivity {
            last_append_ms: now_ms,
            epoch: producer_epoch,
            batches_in_epoch: 0,
        });
    entry.last_append_ms = now_ms;
    if producer_epoch != entry.epoch {
        entry.epoch = producer_epoch;
        entry.batches_in_epoch = 0;
    }
    if appended {
        entry.batches_in_epoch += 1;
    }
}
