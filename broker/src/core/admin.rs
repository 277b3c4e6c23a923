//! Administration: metadata updates from the controller (opening and reopening replicas,
//! becoming leader or follower of a new epoch), retention, and the faults a scenario injects
//! ([`AdminCommand`]: forced retention, forced producer expiry).

use super::follower::{FollowerPhase, FollowerState};
use super::leader::{FollowerProgress, LeaderState};
use super::{AdminCommand, BrokerCore, Observation, Replica, Role};
use crate::api::*;
use crate::epoch_cache::EpochCache;
use crate::log::Log;
use crate::policy::TruncationPolicy;
use crate::storage::Storage;

/// Forced expiry spares a producer while the first batch of its epoch may still be unanswered:
/// a producer has at most this many batches in flight, so once more than this many of the
/// epoch are in the log, the first one was answered (or given up, which bumps the epoch).
/// Forgetting the producer before that would let a retry of that first batch (sequence 0) be
/// taken for a new producer's first batch and written twice — KIP-360's unavoidable case, not a
/// client bug.
const PRODUCER_BATCHES_CACHED: usize = crate::producer_state::PRODUCER_BATCHES_CACHED;

impl<S: Storage + Clone> BrokerCore<S> {
    pub(super) fn apply_metadata(&mut self, now_ms: u64, metadata: ClusterMetadata) {
        if metadata.version <= self.metadata.version {
            return;
        }
        self.metadata = metadata;
        let me = self.config.broker_id;
        let assigned: Vec<(TopicPartition, PartitionMetadata)> = self
            .metadata
            .topics
            .iter()
            .flat_map(|topic| {
                topic
                    .partitions
                    .iter()
                    .filter(|p| p.replicas.contains(&me))
                    .map(|p| (TopicPartition::new(&topic.name, p.partition), p.clone()))
            })
            .collect();
        for (partition, state) in assigned {
            self.apply_partition_state(now_ms, &partition, &state);
        }
    }

    /// Opens a replica's log again (after it went offline) and resumes its role.
    pub(super) fn reopen_replica(&mut self, now_ms: u64, partition: &TopicPartition) {
        let state = self.metadata.partition(partition).cloned();
        match state {
            Some(state) => self.apply_partition_state(now_ms, partition, &state),
            None => {
                self.open_replica(partition);
            }
        }
    }

    fn open_replica(&mut self, partition: &TopicPartition) -> bool {
        if self.replicas.contains_key(partition) {
            return true;
        }
        let directory = format!("log/{}-{}/", partition.topic, partition.partition);
        match Log::open(self.storage.clone(), &directory, self.config.log.clone()) {
            Ok((log, _recovery)) => {
                let epochs = rebuild_epoch_cache(&log);
                let high_watermark = log.log_start_offset();
                self.replicas.insert(
                    partition.clone(),
                    Replica {
                        partition: partition.clone(),
                        log,
                        epochs,
                        high_watermark,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        unpublished_append: None,
                        role: Role::Follower(FollowerState {
                            leader: None,
                            phase: FollowerPhase::NeedsEpochCheck,
                            in_flight: None,
                            next_fetch_ms: 0,
                            leader_high_watermark: 0,
                        }),
                    },
                );
                true
            }
            Err(error) => {
                // The disk failed while recovering; the next metadata update retries.
                tracing::warn!(broker = self.config.broker_id, %partition, %error, "cannot open log");
                false
            }
        }
    }

    fn apply_partition_state(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        state: &PartitionMetadata,
    ) {
        if !self.open_replica(partition) {
            return;
        }
        let me = self.config.broker_id;
        let first_phase = match self.config.truncation_policy {
            TruncationPolicy::LeaderEpoch | TruncationPolicy::EpochEndOffsetOnly => {
                FollowerPhase::NeedsEpochCheck
            }
            // Kafka 0.10: a follower of a new leader fetches at once.
            TruncationPolicy::LeaderLogEnd => FollowerPhase::Fetching,
        };
        let replica = self.replicas.get_mut(partition).expect("opened above");
        if state.leader_epoch < replica.leader_epoch {
            return; // stale
        }
        let new_epoch = state.leader_epoch > replica.leader_epoch;
        let mut lost_leadership = false;
        let mut became_leader = false;
        if state.leader == Some(me) {
            match &mut replica.role {
                Role::Leader(leader) if !new_epoch => {
                    // Same term: the controller may have changed the ISR (fencing a broker).
                    if state.partition_epoch > replica.partition_epoch {
                        leader.isr = state.isr.clone();
                        leader.replicas = state.replicas.clone();
                        leader.proposal = None;
                    }
                }
                _ => {
                    // Become leader of a new epoch.
                    let log_end = replica.log.log_end_offset();
                    replica.epochs.assign(state.leader_epoch, log_end);
                    let followers = state
                        .replicas
                        .iter()
                        .filter(|&&b| b != me)
                        .map(|&b| {
                            (
                                b,
                                FollowerProgress {
                                    log_end: 0,
                                    log_start: 0,
                                    last_caught_up_ms: now_ms,
                                    last_fetch_ms: now_ms,
                                    leader_end_at_last_fetch: log_end,
                                    broker_epoch: 0,
                                },
                            )
                        })
                        .collect();
                    became_leader = true;
                    replica.role = Role::Leader(LeaderState {
                        replicas: state.replicas.clone(),
                        isr: state.isr.clone(),
                        proposal: None,
                        followers,
                    });
                    tracing::debug!(broker = me, %partition, epoch = state.leader_epoch, "became leader");
                }
            }
        } else {
            let was_leader = replica.is_leader();
            let same_leader =
                matches!(&replica.role, Role::Follower(f) if f.leader == state.leader);
            if was_leader || new_epoch || !same_leader {
                lost_leadership = was_leader;
                replica.role = Role::Follower(FollowerState {
                    leader: state.leader,
                    phase: first_phase,
                    in_flight: None,
                    next_fetch_ms: now_ms,
                    leader_high_watermark: replica.high_watermark,
                });
            }
        }
        replica.leader_epoch = state.leader_epoch;
        replica.partition_epoch = replica.partition_epoch.max(state.partition_epoch);
        if became_leader {
            // The partition's log start is now this replica's: announce it as authoritative,
            // even when it moved (a follower's own retention may have run ahead of the old
            // leader's).
            let offset = replica.log.log_start_offset();
            self.observe(Observation::BecameLeader {
                partition: partition.clone(),
                broker: me,
                leader_epoch: state.leader_epoch,
            });
            self.observe(Observation::LogStartAdvanced {
                partition: partition.clone(),
                broker: me,
                offset,
                leader: true,
            });
        }
        if lost_leadership {
            self.fail_pending_produces(partition, ErrorCode::NotLeaderOrFollower);
        }
        self.advance_high_watermark(now_ms, partition);
    }

    pub(super) fn run_retention(&mut self, now_ms: u64) {
        let broker_id = self.config.broker_id;
        let mut observations = Vec::new();
        for replica in self.replicas.values_mut() {
            let before = replica.log.log_start_offset();
            match replica
                .log
                .apply_retention(now_ms as i64, replica.high_watermark)
            {
                Ok(outcome) => {
                    let after = replica.log.log_start_offset();
                    if after > before {
                        replica.epochs.truncate_before(after);
                        observations.push(Observation::LogStartAdvanced {
                            partition: replica.partition.clone(),
                            broker: broker_id,
                            offset: after,
                            leader: replica.is_leader(),
                        });
                    }
                    for producer_id in outcome.producers_expired {
                        observations.push(Observation::ProducerExpired {
                            partition: replica.partition.clone(),
                            broker: broker_id,
                            producer_id,
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(broker = broker_id, partition = %replica.partition, %error, "retention failed");
                }
            }
            replica.check_invariants(broker_id);
        }
        for observation in observations {
            self.observe(observation);
        }
    }

    pub fn on_admin(&mut self, now_ms: u64, command: AdminCommand) {
        let me = self.config.broker_id;
        match command {
            AdminCommand::ForceRetention {
                partition,
                offset,
                min_age_ms,
            } => {
                let Some(replica) = self.replicas.get_mut(&partition) else {
                    return;
                };
                let cutoff_ms = now_ms.saturating_sub(min_age_ms) as i64;
                let old_enough = replica
                    .log
                    .segments()
                    .iter()
                    .find(|segment| segment.max_timestamp_ms.is_some_and(|ts| ts > cutoff_ms))
                    .map_or(replica.log.log_end_offset(), |segment| segment.base_offset);
                let target = offset.min(replica.high_watermark).min(old_enough);
                if target <= replica.log.log_start_offset() {
                    return;
                }
                match replica.log.advance_log_start(target) {
                    Ok(outcome) => {
                        let expired = outcome.producers_expired;
                        let offset = replica.log.log_start_offset();
                        replica.epochs.truncate_before(offset);
                        let leader = replica.is_leader();
                        replica.check_invariants(me);
                        self.observe(Observation::LogStartAdvanced {
                            partition: partition.clone(),
                            broker: me,
                            offset,
                            leader,
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
                        tracing::warn!(broker = me, %partition, %error, "forced retention failed")
                    }
                }
            }
            AdminCommand::ExpireProducers { partition, idle_ms } => {
                let Some(replica) = self.replicas.get_mut(&partition) else {
                    return;
                };
                let activity = &self.producer_activity;
                let started_ms = self.started_ms.unwrap_or(now_ms);
                let producer_ids: Vec<i64> = replica
                    .log
                    .producer_state()
                    .producers()
                    .map(|(id, _)| id)
                    .filter(|id| match activity.get(&(partition.clone(), *id)) {
                        // Not seen appending since this incarnation started: idle since then
                        // at most (a restarted broker must not take an active producer for an
                        // idle one: swarm seed 149 forgot one whose batch was in doubt).
                        None => now_ms >= started_ms + idle_ms,
                        Some(activity) => {
                            now_ms >= activity.last_append_ms + idle_ms
                                && activity.batches_in_epoch > PRODUCER_BATCHES_CACHED as u64
                        }
                    })
                    .collect();
                let expired: Vec<i64> = producer_ids
                    .into_iter()
                    .filter(|&id| replica.log.expire_producer(id))
                    .collect();
                for producer_id in expired {
                    self.observe(Observation::ProducerExpired {
                        partition: partition.clone(),
                        broker: me,
                        producer_id,
                    });
                }
            }
        }
    }
}

fn rebuild_epoch_cache<S: Storage + Clone>(log: &Log<S>) -> EpochCache {
    let mut cache = EpochCache::new();
    for start in log.leader_epoch_starts() {
        cache.assign(start.leader_epoch, start.start_offset);
    }
    cache
}
