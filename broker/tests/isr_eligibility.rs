//! KIP-903 at the controller: an ISR proposal names the broker epoch (incarnation) each joining
//! member fetched with; a member that registered again since - maybe with an empty disk - may
//! not join. With `IsrEligibilityPolicy::IdsOnly` (KAFKA-14139) it may.

use broker::api::{
    AlterPartitionRequest, CreateTopicRequest, ErrorCode, HeartbeatRequest, Request, Response,
    TopicPartition,
};
use broker::controller::{ControllerConfig, ControllerCore};
use broker::policy::IsrEligibilityPolicy;
use sim::disk::Disk;
use sim::Seed;
use std::net::SocketAddr;

fn heartbeat(broker: u32, incarnation: u64) -> Request {
    let addr: SocketAddr = format!("10.0.0.{broker}:9092").parse().unwrap();
    Request::Heartbeat(HeartbeatRequest {
        broker,
        addr,
        incarnation,
        metadata_version: 0,
    })
}

/// Brokers 1..=3 (incarnation 1) and topic `t` (one partition, replicas in some order); then the
/// leader drops one follower from the ISR. Returns the controller, the leader, the dropped
/// follower and the partition epoch after the shrink.
fn with_a_follower_out_of_the_isr(
    policy: IsrEligibilityPolicy,
) -> (ControllerCore<Disk>, u32, u32, u32) {
    let disk = Disk::new(Seed::new(3).stream("controller-disk"));
    let config = ControllerConfig {
        isr_eligibility_policy: policy,
        ..ControllerConfig::default()
    };
    let mut controller = ControllerCore::open(disk, config, 0).expect("opens");
    for broker in 1..=3 {
        controller.on_request(10, heartbeat(broker, 1));
    }
    controller.on_request(
        20,
        Request::CreateTopic(CreateTopicRequest {
            topic: "t".into(),
            partitions: 1,
            replication_factor: 3,
        }),
    );
    let state = controller
        .cluster_metadata()
        .partition(&TopicPartition::new("t", 0))
        .expect("created")
        .clone();
    let leader = state.leader.expect("a leader");
    let dropped = state.replicas[1];
    let kept = state.replicas[2];
    let shrink = alter(
        &mut controller,
        leader,
        0,
        vec![leader, kept],
        vec![(kept, 1)],
    );
    let epoch = shrink.expect("the shrink is accepted").partition_epoch;
    (controller, leader, dropped, epoch)
}

fn alter(
    controller: &mut ControllerCore<Disk>,
    leader: u32,
    partition_epoch: u32,
    new_isr: Vec<u32>,
    member_epochs: Vec<(u32, u64)>,
) -> Result<broker::api::PartitionMetadata, ErrorCode> {
    let response = controller.on_request(
        30,
        Request::AlterPartition(AlterPartitionRequest {
            broker: leader,
            partition: TopicPartition::new("t", 0),
            leader_epoch: 0,
            partition_epoch,
            new_isr,
            member_epochs,
        }),
    );
    match response {
        Response::AlterPartition(response) => response.result,
        other => panic!("unexpected answer {other:?}"),
    }
}

fn everyone(leader: u32, dropped: u32, kept: &[u32]) -> Vec<u32> {
    let mut isr = vec![leader, dropped];
    isr.extend_from_slice(kept);
    isr.sort_unstable();
    isr
}

#[test]
fn a_member_of_the_incarnation_the_leader_saw_joins() {
    let (mut controller, leader, dropped, epoch) =
        with_a_follower_out_of_the_isr(IsrEligibilityPolicy::BrokerEpochs);
    let kept: Vec<u32> = (1..=3).filter(|b| *b != leader && *b != dropped).collect();
    let result = alter(
        &mut controller,
        leader,
        epoch,
        everyone(leader, dropped, &kept),
        vec![(dropped, 1), (kept[0], 1)],
    );
    assert_eq!(result.expect("accepted").isr.len(), 3);
}

#[test]
fn a_member_that_registered_again_since_is_ineligible() {
    let (mut controller, leader, dropped, epoch) =
        with_a_follower_out_of_the_isr(IsrEligibilityPolicy::BrokerEpochs);
    // The dropped follower restarts (say with a wiped disk) and registers as incarnation 2; the
    // leader's proposal was built from its incarnation-1 fetches.
    controller.on_request(25, heartbeat(dropped, 2));
    controller.on_request(26, heartbeat(dropped, 2));
    let kept: Vec<u32> = (1..=3).filter(|b| *b != leader && *b != dropped).collect();
    let result = alter(
        &mut controller,
        leader,
        epoch,
        everyone(leader, dropped, &kept),
        vec![(dropped, 1), (kept[0], 1)],
    );
    assert_eq!(result.unwrap_err(), ErrorCode::IneligibleReplica);
    // A proposal that names no epoch for a joining member is refused too.
    let result = alter(
        &mut controller,
        leader,
        epoch,
        everyone(leader, dropped, &kept),
        vec![(kept[0], 1)],
    );
    assert_eq!(result.unwrap_err(), ErrorCode::IneligibleReplica);
    // Its current incarnation may join.
    let result = alter(
        &mut controller,
        leader,
        epoch,
        everyone(leader, dropped, &kept),
        vec![(dropped, 2), (kept[0], 1)],
    );
    assert_eq!(result.expect("accepted").isr.len(), 3);
}

#[test]
fn without_broker_epochs_the_stale_incarnation_joins() {
    let (mut controller, leader, dropped, epoch) =
        with_a_follower_out_of_the_isr(IsrEligibilityPolicy::IdsOnly);
    controller.on_request(25, heartbeat(dropped, 2));
    controller.on_request(26, heartbeat(dropped, 2));
    let kept: Vec<u32> = (1..=3).filter(|b| *b != leader && *b != dropped).collect();
    let result = alter(
        &mut controller,
        leader,
        epoch,
        everyone(leader, dropped, &kept),
        vec![(dropped, 1), (kept[0], 1)],
    );
    assert_eq!(result.expect("KAFKA-14139: accepted").isr.len(), 3);
}
