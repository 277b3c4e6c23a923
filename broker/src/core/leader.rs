//! The leader role: the high watermark over the maximal ISR, ISR shrink and expand (proposed to
//! the controller with `AlterPartition`), and the leader's side of the epoch check (answering a
//! follower's `OffsetForLeaderEpoch`). Serving followers' fetches is in `fetch`.

use super::{BrokerCore, Observation, OutgoingKind, Role};
use crate::api::*;
use crate::policy::HighWatermarkPolicy;
use crate::storage::Storage;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FollowerProgress {
    pub(super) log_end: u64,
    pub(super) log_start: u64,
    pub(super) last_caught_up_ms: u64,
    pub(super) last_fetch_ms: u64,
    pub(super) leader_end_at_last_fetch: u64,
    /// The broker epoch (incarnation) of the follower's latest fetch (KIP-903); 0 before one.
    pub(super) broker_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LeaderState {
    pub(super) replicas: Vec<BrokerId>,
    /// The ISR as the controller last confirmed it.
    pub(super) isr: Vec<BrokerId>,
    /// An ISR change sent to the controller and not yet answered: (proposal, correlation id).
    /// Like Kafka's pending ISR state it stays until the controller answers: a request lost
    /// on the way is sent again as it was.
    pub(super) proposal: Option<(AlterPartitionRequest, u64)>,
    pub(super) followers: BTreeMap<BrokerId, FollowerProgress>,
}

impl LeaderState {
    /// Committed ISR plus members the leader asked to add: the set the high watermark waits for.
    fn maximal_isr(&self) -> impl Iterator<Item = &BrokerId> {
        let proposed = self.proposal.iter().flat_map(|(proposal, _)| {
            proposal
                .new_isr
                .iter()
                .filter(|member| !self.isr.contains(member))
        });
        self.isr.iter().chain(proposed)
    }
}

impl<S: Storage + Clone> BrokerCore<S> {
    pub(super) fn advance_high_watermark(&mut self, now_ms: u64, partition: &TopicPartition) {
        let me = self.config.broker_id;
        let policy = self.config.high_watermark_policy;
        let Some(replica) = self.replicas.get_mut(partition) else {
            return;
        };
        let Role::Leader(leader) = &replica.role else {
            return;
        };
        let log_end = replica.log.log_end_offset();
        let candidate = match policy {
            HighWatermarkPolicy::MaximalIsr => leader
                .maximal_isr()
                .filter(|&&b| b != me)
                .map(|b| leader.followers.get(b).map_or(0, |p| p.log_end))
                .fold(log_end, u64::min),
            // The leader counts an append as committed at once.
            HighWatermarkPolicy::LeaderLogEnd => log_end,
        };
        if candidate > replica.high_watermark {
            replica.high_watermark = candidate;
            replica.check_invariants(me);
            let offset = candidate;
            self.observe(Observation::HighWatermark {
                partition: partition.clone(),
                broker: me,
                offset,
            });
            self.complete_produces(partition);
        }
        let _ = now_ms;
    }

    fn propose_isr(&mut self, now_ms: u64, partition: &TopicPartition, new_isr: Vec<BrokerId>) {
        let me = self.config.broker_id;
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Leader(leader) = &replica.role else {
            return;
        };
        let member_epochs = new_isr
            .iter()
            .filter(|&&member| member != me)
            .map(|member| {
                let epoch = leader.followers.get(member).map_or(0, |p| p.broker_epoch);
                (*member, epoch)
            })
            .collect();
        let request = AlterPartitionRequest {
            broker: me,
            partition: partition.clone(),
            leader_epoch: replica.leader_epoch,
            partition_epoch: replica.partition_epoch,
            new_isr,
            member_epochs,
        };
        tracing::debug!(broker = me, %partition, new_isr = ?request.new_isr, "proposing an ISR change");
        self.send_proposal(now_ms, request);
    }

    /// Sends an ISR proposal (again, when the last one was lost) and keeps it pending.
    pub(super) fn send_proposal(&mut self, now_ms: u64, request: AlterPartitionRequest) {
        let partition = request.partition.clone();
        let correlation_id = self.send_to_controller(
            now_ms,
            OutgoingKind::AlterPartition(partition.clone()),
            Request::AlterPartition(request.clone()),
        );
        if let Some(Role::Leader(leader)) = self.replicas.get_mut(&partition).map(|r| &mut r.role) {
            leader.proposal = Some((request, correlation_id));
        }
    }

    pub(super) fn maybe_shrink_isr(&mut self, now_ms: u64, partition: &TopicPartition) {
        let me = self.config.broker_id;
        let lag_max = self.config.replica_lag_ms_max;
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Leader(leader) = &replica.role else {
            return;
        };
        if leader.proposal.is_some() {
            return;
        }
        let lagging: Vec<BrokerId> = leader
            .isr
            .iter()
            .filter(|&&b| b != me)
            .filter(|b| {
                leader
                    .followers
                    .get(b)
                    .is_none_or(|p| now_ms > p.last_caught_up_ms + lag_max)
            })
            .copied()
            .collect();
        if lagging.is_empty() {
            return;
        }
        let new_isr: Vec<BrokerId> = leader
            .isr
            .iter()
            .filter(|b| !lagging.contains(b))
            .copied()
            .collect();
        self.propose_isr(now_ms, partition, new_isr);
    }

    pub(super) fn maybe_expand_isr(
        &mut self,
        now_ms: u64,
        partition: &TopicPartition,
        follower: BrokerId,
    ) {
        let Some(replica) = self.replicas.get(partition) else {
            return;
        };
        let Role::Leader(leader) = &replica.role else {
            return;
        };
        if leader.proposal.is_some() || leader.isr.contains(&follower) {
            return;
        }
        let Some(progress) = leader.followers.get(&follower) else {
            return;
        };
        // Caught up to the high watermark and into this leader's epoch.
        let epoch_start = replica
            .epochs
            .entries()
            .last()
            .map_or(0, |&(_, start)| start);
        if progress.log_end >= replica.high_watermark && progress.log_end >= epoch_start {
            let mut new_isr = leader.isr.clone();
            new_isr.push(follower);
            new_isr.sort_unstable();
            self.propose_isr(now_ms, partition, new_isr);
        }
    }

    pub(super) fn offset_for_leader_epoch(
        &mut self,
        request: OffsetForLeaderEpochRequest,
    ) -> OffsetForLeaderEpochResponse {
        let Some(replica) = self.replicas.get(&request.partition) else {
            return OffsetForLeaderEpochResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            };
        };
        if !replica.is_leader() {
            return OffsetForLeaderEpochResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            };
        }
        if let Err(error) = Self::check_epoch(replica, Some(request.current_leader_epoch)) {
            return OffsetForLeaderEpochResponse { result: Err(error) };
        }
        let log_end = replica.log.log_end_offset();
        let result = match replica.epochs.end_offset_for(request.leader_epoch, log_end) {
            Some(found) => found,
            // Everything we know is newer than the asker's history: it diverged from us below
            // our log start; it must start over there.
            None => (request.leader_epoch, replica.log.log_start_offset()),
        };
        OffsetForLeaderEpochResponse { result: Ok(result) }
    }
}
