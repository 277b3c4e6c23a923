//! The controller remembers broker incarnations across its own restarts: a broker that restarts
//! while the controller is down (and may have lost data) is fenced, out of every ISR, when both
//! are back. Swarm seed 4563 lost acknowledged records when it was not.

use broker::api::{CreateTopicRequest, HeartbeatRequest, Request};
use broker::controller::{ControllerConfig, ControllerCore, ControllerEvent};
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

fn fenced(events: &[ControllerEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|event| match event {
            ControllerEvent::BrokerFenced { broker } => Some(*broker),
            _ => None,
        })
        .collect()
}

#[test]
fn a_broker_restarted_while_the_controller_was_down_is_fenced_when_both_are_back() {
    let disk = Disk::new(Seed::new(7).stream("controller-disk"));
    let mut controller =
        ControllerCore::open(disk.clone(), ControllerConfig::default(), 0).expect("opens");
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
    let _ = controller.take_events();
    drop(controller);

    // The controller restarts; broker 2 restarted meanwhile, broker 3 did not.
    let mut controller =
        ControllerCore::open(disk, ControllerConfig::default(), 100).expect("recovers");
    controller.on_request(110, heartbeat(3, 1));
    controller.on_request(110, heartbeat(2, 2));
    assert_eq!(
        fenced(&controller.take_events()),
        vec![2],
        "only the new incarnation is fenced"
    );
    // The same incarnation again is not a restart.
    controller.on_request(120, heartbeat(2, 2));
    assert!(fenced(&controller.take_events()).is_empty());
}
