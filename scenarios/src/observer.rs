//! Recording the cluster's side of the history: the harness watches the brokers and the
//! controller (through [`broker::node::start_cluster`]'s observer) and writes what clients could
//! observe about them. It lives here, not in the client, because it is the harness that sees
//! both sides.

use broker::controller::ControllerEvent;
use broker::core::Observation;
use broker::node::{ClusterEvent, Observer};
use client::history::{History, Op};
use std::sync::Arc;

/// An observer for [`broker::node::start_cluster`] that records the cluster's observable
/// changes in `history` as process `cluster`: `leader` (a partition got a leader), `partitions`
/// (a topic's count changed), `log_start` (a replica's log start advanced: authoritative, without
/// `broker`, when the leader reports it), `offsets_expired` (the group coordinator deleted a
/// group's committed offsets; with the coordinator's `offsets_retention_ms`).
pub fn cluster_observer(history: History, offsets_retention_ms: u64) -> Observer {
    Arc::new(move |event: ClusterEvent| {
        let op = match event {
            ClusterEvent::Controller(ControllerEvent::LeaderElected {
                partition,
                leader: Some(leader),
                leader_epoch,
                ..
            }) => Op::Leader {
                topic: partition.topic.to_string().into(),
                partition: partition.partition,
                broker: leader,
                epoch: i32::try_from(leader_epoch).unwrap_or(i32::MAX),
            },
            ClusterEvent::Controller(ControllerEvent::LeaderElected {
                partition,
                leader: None,
                leader_epoch,
                ..
            }) => Op::Offline {
                topic: partition.topic.to_string().into(),
                partition: partition.partition,
                epoch: i32::try_from(leader_epoch).unwrap_or(i32::MAX),
            },
            ClusterEvent::Controller(ControllerEvent::PartitionsChanged { topic, count }) => {
                Op::Partitions {
                    topic: topic.into(),
                    count,
                }
            }
            ClusterEvent::Controller(ControllerEvent::OffsetsExpired {
                group, partitions, ..
            }) => Op::OffsetsExpired {
                group: group.into(),
                partitions: partitions
                    .into_iter()
                    .map(|partition| client::history::GroupPartition {
                        topic: partition.topic.to_string().into(),
                        partition: partition.partition,
                    })
                    .collect::<Vec<_>>()
                    .into(),
                retention_ms: Some(offsets_retention_ms),
            },
            ClusterEvent::Broker(Observation::LogStartAdvanced {
                partition,
                broker,
                offset,
                leader,
            }) => Op::LogStart {
                topic: partition.topic.to_string().into(),
                partition: partition.partition,
                offset,
                broker: (!leader).then_some(broker),
            },
            _ => return,
        };
        history.record(client::history::CLUSTER_PROCESS, op);
    })
}
