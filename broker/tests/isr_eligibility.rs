//! KIP-903 at the controller: an ISR proposal names the broker epoch (incarnation) each joining
//! member fetched with; a member that registered again since - maybe with an empty disk - may
//! not join. With `IsrEligibilityPolicy::IdsOnly` (KAFKA-14139) it may.

mod common;

use broker::api::{AlterPartitionRequest, ErrorCode, Request, Response, TopicPartition};
use broker::controller::{ControllerConfig, ControllerCore};
use broker::policy::IsrEligibilityPolicy;
use common::heartbeat;
use sim::disk::Disk;

/// Topic `t` with its leader, the follower it dropped from the ISR and the one it kept, and
/// the partition epoch after the drop.
struct Dropped {
    controller: ControllerCore<Disk>,
    leader: u32,
    dropped: u32,
    kept: u32,
    partition_epoch: u32,
}

impl Dropped {
    fn new(policy: IsrEligibilityPolicy) -> Dropped {
        let config = ControllerConfig {
            isr_eligibility_policy: policy,
            ..ControllerConfig::default()
        };
        let (_, controller) = common::controller_with_a_topic(3, config);
        let state = controller
            .cluster_metadata()
            .partition(&TopicPartition::new("t", 0))
            .expect("created")
            .clone();
        let leader = state.leader.expect("a leader");
        let mut dropped = Dropped {
            controller,
            leader,
            dropped: state.replicas[1],
            kept: state.replicas[2],
            partition_epoch: 0,
        };
        let kept = dropped.kept;
        let shrunk = dropped.propose(vec![leader, kept], vec![(kept, 1)]);
        dropped.partition_epoch = shrunk.expect("the shrink is accepted").partition_epoch;
        dropped
    }

    fn propose(
        &mut self,
        new_isr: Vec<u32>,
        member_epochs: Vec<(u32, u64)>,
    ) -> Result<broker::api::PartitionMetadata, ErrorCode> {
        let response = self.controller.on_request(
            30,
            Request::AlterPartition(AlterPartitionRequest {
                broker: self.leader,
                partition: TopicPartition::new("t", 0),
                leader_epoch: 0,
                partition_epoch: self.partition_epoch,
                new_isr,
                member_epochs,
            }),
        );
        match response {
            Response::AlterPartition(response) => response.result,
            other => panic!("unexpected answer {other:?}"),
        }
    }

    /// The leader asks to add the dropped follower back, naming its epoch as `dropped_epoch`
    /// (None: naming none).
    fn readd(&mut self, dropped_epoch: Option<u64>) -> Result<usize, ErrorCode> {
        let mut isr = vec![self.leader, self.dropped, self.kept];
        isr.sort_unstable();
        let mut epochs = vec![(self.kept, 1)];
        epochs.extend(dropped_epoch.map(|epoch| (self.dropped, epoch)));
        self.propose(isr, epochs).map(|state| state.isr.len())
    }

    /// The dropped follower restarts (say with a wiped disk) and registers as incarnation 2.
    fn restart_dropped(&mut self) {
        self.controller.on_request(25, heartbeat(self.dropped, 2));
        self.controller.on_request(26, heartbeat(self.dropped, 2));
    }
}

#[test]
fn a_member_of_the_incarnation_the_leader_saw_joins() {
    let mut partition = Dropped::new(IsrEligibilityPolicy::BrokerEpochs);
    assert_eq!(partition.readd(Some(1)), Ok(3));
}

#[test]
fn a_member_that_registered_again_since_is_ineligible() {
    let mut partition = Dropped::new(IsrEligibilityPolicy::BrokerEpochs);
    partition.restart_dropped();
    // The leader's proposal was built from its incarnation-1 fetches.
    assert_eq!(partition.readd(Some(1)), Err(ErrorCode::IneligibleReplica));
    // A proposal that names no epoch for a joining member is refused too.
    assert_eq!(partition.readd(None), Err(ErrorCode::IneligibleReplica));
    // Its current incarnation may join.
    assert_eq!(partition.readd(Some(2)), Ok(3));
}

#[test]
fn without_broker_epochs_the_stale_incarnation_joins() {
    let mut partition = Dropped::new(IsrEligibilityPolicy::IdsOnly);
    partition.restart_dropped();
    assert_eq!(partition.readd(Some(1)), Ok(3), "KAFKA-14139: accepted");
}
