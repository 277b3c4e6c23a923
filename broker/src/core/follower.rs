//! The follower role: fetching from the leader, the epoch check before fetching
//! (`OffsetForLeaderEpoch`, KIP-101/KIP-279) and the truncation of a divergent tail, resets to the
//! leader's log start, and following the leader's high watermark and log start. Under
//! [`TruncationPolicy::LeaderLogEnd`] the follower skips the epoch check after a leader change
//! and, after out-of-range, truncates to the leader's log end (its query is at the end of this
//! file).

use super::produce::note_producer_append;
use super::{BrokerCore, Observation, OutgoingKind, Role, TruncationQuery};
use crate::api::*;
use crate::batch::StoredBatch;
use crate::log::SyncPolicy;
use crate::policy::TruncationPolicy;
use crate::storage::Storage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FollowerPhase {
    /// Must ask the leader where our latest epoch ends before fetching.
    NeedsEpochCheck,
    Fetching,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FollowerState {
    pub(super) leader: Option<BrokerId>,
    pub(super) phase: FollowerPhase,
    /// The outstanding request to the leader, if any.
    pub(super) in_flight: Option<u64>,
    pub(super) next_fetch_ms: u64,
    /// The leader's high watermark as of its last answer.
    pub(super) leader_high_watermark: u64,
}

impl<S: Storage + Clone> BrokerCore<S> {
    pub(super) fn send_follower_request(&mut self, now_ms: u64, partition: &TopicPartition) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Follower(follower) = &replica.role else {
            return;
        };
        let Some(leader) = follower.leader else {
            return;
        };
        let Some(addr) = self.metadata.broker_addr(leader) else {
            return;
        };
        let epoch = replica.leader_epoch;
        let (kind, request) = match follower.phase {
            FollowerPhase::NeedsEpochCheck => {
                let latest = replica.epochs.latest_epoch();
                match latest {
                    None => {
                        // An empty history: nothing can diverge.
                        if let Some(Role::Follower(f)) =
                            self.replicas.get_mut(partition).map(|r| &mut r.role)
                        {
                            f.phase = FollowerPhase::Fetching;
                        }
                        return self.send_follower_request(now_ms, partition);
                    }
                    Some(latest) => (
                        OutgoingKind::Truncation(
                            partition.clone(),
                            epoch,
                            TruncationQuery::EpochEnd,
                        ),
                        Request::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest {
                            partition: partition.clone(),
                            leader_epoch: latest,
                            current_leader_epoch: epoch,
                            replica_id: me,
                        }),
                    ),
                }
            }
            FollowerPhase::Fetching => (
                OutgoingKind::ReplicaFetch(partition.clone(), epoch),
                Request::Fetch(FetchRequest {
                    partition: partition.clone(),
                    offset: replica.log.log_end_offset(),
                    max_bytes: self.config.replica_fetch_bytes_max,
                    replica_id: Some(me),
                    current_leader_epoch: Some(epoch),
                    replica_log_start_offset: Some(replica.log.log_start_offset()),
                    replica_epoch: Some(self.incarnation),
                    rack: None,
                    max_wait_ms: self.config.replica_fetch_max_wait_ms,
                }),
            ),
        };
        let correlation_id = self.send_to_broker(now_ms, addr, kind, request);
        if let Some(Role::Follower(f)) = self.replicas.get_mut(partition).map(|r| &mut r.role) {
            f.in_flight = Some(correlation_id);
        }
    }

    pub(super) fn on_epoch_check_response(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        epoch: u32,
        response: OffsetForLeaderEpochResponse,
    ) {
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        if replica.leader_epoch != epoch {
            return;
        }
        let Role::Follower(follower) = &mut replica.role else {
            return;
        };
        follower.in_flight = None;
        match response.result {
            Ok((leader_epoch, end_offset)) => {
                let log_end = replica.log.log_end_offset();
                // Where to cut, and whether that settles the divergence.
                let (truncate_at, settled) = match self.config.truncation_policy {
                    // KIP-279 (Kafka's `getOffsetTruncationState`): the leader names the epoch
                    // it answered for, which may be older than ours.
                    TruncationPolicy::LeaderEpoch | TruncationPolicy::LeaderLogEnd => {
                        match replica.epochs.end_offset_for(leader_epoch, log_end) {
                            // We have that epoch too: our records of it end where they end.
                            Some((found, own_end)) if found == leader_epoch => {
                                (end_offset.min(own_end).min(log_end), true)
                            }
                            // We never had that epoch: what we hold from the end of our largest
                            // epoch below it on was written in epochs the leader does not know.
                            // Cut there and ask again with our new latest epoch (swarm seed 176:
                            // a follower that missed epoch 1, led epoch 2 and was asked about
                            // epoch 1 kept its epoch-2 records).
                            Some((_, own_end)) => (own_end.min(log_end), false),
                            // No epoch of ours at or below it: every record we hold was
                            // written in a later epoch than the one the leader's records end
                            // with, so ours diverge from where our first known epoch starts
                            // (Kafka's `endOffsetFor` answers that start for an epoch older than
                            // any it knows). Swarm seed 6538: a leader of epoch 1 whose
                            // retention had dropped epoch 0 from its cache kept its epoch-1
                            // record when it came back as a follower of epoch 2.
                            None => {
                                let first_start =
                                    replica.epochs.entries().first().map_or(log_end, |e| e.1);
                                (end_offset.min(first_start).min(log_end), true)
                            }
                        }
                    }
                    // KAFKA-6361: the answer's epoch is ignored.
                    TruncationPolicy::EpochEndOffsetOnly => (end_offset.min(log_end), true),
                };
                tracing::debug!(
                    broker = self.config.broker_id,
                    %partition,
                    answer_epoch = leader_epoch,
                    end_offset,
                    log_end,
                    epochs = ?replica.epochs.entries(),
                    truncate_at,
                    settled,
                    "epoch check answered"
                );
                follower.phase = if settled {
                    FollowerPhase::Fetching
                } else {
                    FollowerPhase::NeedsEpochCheck
                };
                follower.next_fetch_ms = now_ms;
                if truncate_at < replica.log.log_start_offset() {
                    self.restart_log_at(partition, end_offset);
                } else {
                    self.truncate_replica(partition, truncate_at);
                }
            }
            Err(error) => {
                tracing::debug!(broker = self.config.broker_id, %partition, %error, "epoch check refused");
                follower.next_fetch_ms = now_ms + self.config.replica_fetch_wait_ms;
            }
        }
    }

    fn truncate_replica(&mut self, partition: &TopicPartition, offset: u64) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        let from = replica.log.log_end_offset();
        if offset >= from {
            // No record to cut, but epochs that start at the log end hold none either (we led
            // them without appending): they go, as Kafka's `truncateTo` cuts its epoch cache
            // from the log end. Kept, an unsettled check would ask about the same latest epoch
            // forever without fetching (swarm seed 7644: a leader cut off from the controller,
            // replaced, and back with an empty log), and records fetched next would be filed
            // under the empty epoch.
            replica.epochs.truncate_from(from);
            return;
        }
        if let Err(error) = replica.log.truncate_to(offset) {
            tracing::warn!(broker = me, %partition, %error, "truncation failed");
            return;
        }
        let to = replica.log.log_end_offset();
        replica.epochs.truncate_from(to);
        replica.high_watermark = replica.high_watermark.min(to);
        replica.check_invariants(me);
        self.observe(Observation::FollowerTruncated {
            partition: partition.clone(),
            broker: me,
            from,
            to,
        });
    }

    fn restart_log_at(&mut self, partition: &TopicPartition, offset: u64) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        let from = replica.log.log_end_offset();
        if let Err(error) = replica.log.truncate_fully_and_start_at(offset) {
            tracing::warn!(broker = me, %partition, %error, "log reset failed");
            return;
        }
        replica.epochs.clear();
        replica.high_watermark = offset;
        replica.check_invariants(me);
        self.observe(Observation::FollowerTruncated {
            partition: partition.clone(),
            broker: me,
            from,
            to: offset,
        });
        self.observe(Observation::LogStartAdvanced {
            partition: partition.clone(),
            broker: me,
            offset,
            leader: false,
        });
    }

    pub(super) fn on_replica_fetch_response(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        epoch: u32,
        response: FetchResponse,
    ) {
        let me = self.config.broker_id;
        let wait_ms = self.config.replica_fetch_wait_ms;
        let sync_each_append = self.config.log.sync == SyncPolicy::EveryAppend;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        if replica.leader_epoch != epoch {
            return;
        }
        let Role::Follower(follower) = &mut replica.role else {
            return;
        };
        follower.in_flight = None;
        follower.leader_high_watermark = response.high_watermark;
        match response.result {
            Ok(batches) => {
                // A follower checks each batch's header and CRC, as Kafka's does; it stores the
                // bytes as the leader sent them.
                let decoded: Result<Vec<StoredBatch>, _> =
                    batches.into_iter().map(StoredBatch::verify).collect();
                let Ok(batches) = decoded else {
                    tracing::warn!(broker = me, %partition, "corrupt batch from the leader");
                    follower.next_fetch_ms = now_ms + wait_ms;
                    return;
                };
                // The leader answers from the batch holding our offset; skip what we have.
                let log_end = replica.log.log_end_offset();
                let batches: Vec<StoredBatch> = batches
                    .into_iter()
                    .filter(|batch| batch.header.base_offset >= log_end)
                    .collect();
                let got_data = !batches.is_empty();
                if got_data {
                    if let Err(error) = replica.log.append_replicated(&batches, now_ms as i64) {
                        tracing::warn!(broker = me, %partition, %error, "replicated append failed");
                        follower.next_fetch_ms = now_ms + wait_ms;
                        return;
                    }
                    if sync_each_append {
                        if let Err(error) = replica.log.sync() {
                            tracing::warn!(broker = me, %partition, %error, "sync failed");
                        }
                    }
                    for batch in &batches {
                        let header = &batch.header;
                        replica
                            .epochs
                            .assign(header.partition_leader_epoch, header.base_offset);
                        if header.producer_id >= 0 {
                            note_producer_append(
                                &mut self.producer_activity,
                                partition,
                                header.producer_id,
                                header.producer_epoch,
                                true,
                                now_ms,
                            );
                        }
                    }
                }
                // An empty answer already waited at the leader (long poll): ask again at once.
                follower.next_fetch_ms = now_ms;
                let log_end = replica.log.log_end_offset();
                replica.high_watermark = replica
                    .high_watermark
                    .max(response.high_watermark.min(log_end));
                // Follow the leader's log start (Kafka's maybeIncrementLogStartOffset).
                if response.log_start_offset > replica.log.log_start_offset() {
                    let target = response.log_start_offset.min(replica.high_watermark);
                    if target > replica.log.log_start_offset() {
                        match replica.log.advance_log_start(target) {
                            Ok(outcome) => {
                                let expired = outcome.producers_expired;
                                let offset = replica.log.log_start_offset();
                                replica.epochs.truncate_before(offset);
                                let partition = partition.clone();
                                self.observe(Observation::LogStartAdvanced {
                                    partition: partition.clone(),
                                    broker: me,
                                    offset,
                                    leader: false,
                                });
                                for producer_id in expired {
                                    self.observe(Observation::ProducerExpired {
                                        partition: partition.clone(),
                                        broker: me,
                                        producer_id,
                                    });
                                }
                            }
                            Err(error) => {
                                tracing::warn!(broker = me, %partition, %error, "log start advance failed");
                            }
                        }
                    }
                }
                if let Some(replica) = self.replicas.get(partition) {
                    replica.check_invariants(me);
                }
            }
            Err(ErrorCode::OffsetOutOfRange) => {
                let log_end = replica.log.log_end_offset();
                if log_end < response.log_start_offset {
                    // We fell behind the leader's retention: start over at its log start.
                    follower.next_fetch_ms = now_ms;
                    self.restart_log_at(partition, response.log_start_offset);
                } else {
                    // We are ahead of the leader: find the divergence again.
                    follower.phase = FollowerPhase::NeedsEpochCheck;
                    follower.next_fetch_ms = now_ms;
                    match self.config.truncation_policy {
                        TruncationPolicy::LeaderEpoch | TruncationPolicy::EpochEndOffsetOnly => {}
                        // Pre-KIP-101: no epoch check; ask the leader for its log end and cut
                        // only what lies beyond it, keeping any divergent records below.
                        TruncationPolicy::LeaderLogEnd => {
                            self.send_log_end_query(now_ms, partition)
                        }
                    }
                }
            }
            Err(error) => {
                tracing::debug!(broker = me, %partition, %error, "replica fetch refused");
                follower.next_fetch_ms = now_ms + wait_ms;
            }
        }
    }
}

// ---- TruncationPolicy::LeaderLogEnd -------------------------------------------------------------

impl<S: Storage + Clone> BrokerCore<S> {
    /// Asks the leader for its log end, to cut what lies beyond it.
    fn send_log_end_query(&mut self, now_ms: u64, partition: &TopicPartition) {
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Follower(follower) = &replica.role else {
            return;
        };
        let Some(addr) = follower
            .leader
            .and_then(|leader| self.metadata.broker_addr(leader))
        else {
            return;
        };
        let epoch = replica.leader_epoch;
        let request = Request::ListOffsets(ListOffsetsRequest {
            partition: partition.clone(),
            spec: OffsetSpec::LogEnd,
            current_leader_epoch: Some(epoch),
        });
        let correlation_id = self.send_to_broker(
            now_ms,
            addr,
            OutgoingKind::Truncation(partition.clone(), epoch, TruncationQuery::LeaderLogEnd),
            request,
        );
        if let Some(Role::Follower(f)) = self.replicas.get_mut(partition).map(|r| &mut r.role) {
            f.phase = FollowerPhase::Fetching;
            f.in_flight = Some(correlation_id);
        }
    }

    pub(super) fn on_log_end_response(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        epoch: u32,
        response: ListOffsetsResponse,
    ) {
        let wait_ms = self.config.replica_fetch_wait_ms;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        if replica.leader_epoch != epoch {
            return;
        }
        let Role::Follower(follower) = &mut replica.role else {
            return;
        };
        follower.in_flight = None;
        match response.result {
            Ok(leader_end) => {
                follower.next_fetch_ms = now_ms;
                self.truncate_replica(partition, leader_end);
            }
            Err(_) => follower.next_fetch_ms = now_ms + wait_ms,
        }
    }
}
