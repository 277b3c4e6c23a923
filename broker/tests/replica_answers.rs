//! One broker core driven by hand, its controller's metadata and its peers' answers written by
//! the test: a follower's epoch check (KIP-101/KIP-279) and a leader's ISR proposal (KIP-497).
//! Each case is a swarm seed that once failed on the correct build.

mod common;

use broker::api::{
    Acks, AlterPartitionResponse, ClusterMetadata, ErrorCode, FetchRequest, HeartbeatResponse,
    OffsetForLeaderEpochResponse, PartitionMetadata, ProduceRequest, Request, Response,
    TopicMetadata, TopicPartition,
};
use broker::core::{BrokerConfig, BrokerCore, Observation, Output};
use sim::disk::Disk;
use std::net::SocketAddr;

const ME: u32 = 2;
const OTHER: u32 = 1;

fn addr(broker: u32) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, broker as u8], 9092))
}

fn partition() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// A broker core of broker 2, with topic `t` (one partition on brokers 2 and 1).
struct Broker {
    core: BrokerCore<Disk>,
    now_ms: u64,
    version: u64,
}

impl Broker {
    fn new() -> Broker {
        let core = BrokerCore::new(common::disk(7), BrokerConfig::new(ME), addr(ME), addr(9), 1);
        Broker {
            core,
            now_ms: 0,
            version: 0,
        }
    }

    /// Ticks 10 ms on and returns what the core sent.
    fn tick(&mut self) -> Vec<Output> {
        self.now_ms += 10;
        self.core.on_tick(self.now_ms);
        self.core.take_outputs()
    }

    /// Hands the core metadata naming `leader` in `leader_epoch` (ISR: the leader alone), as the
    /// controller's answer to its next heartbeat.
    fn metadata(&mut self, leader: u32, leader_epoch: u32) {
        self.version += 1;
        let heartbeat = loop {
            let sent = self.tick();
            if let Some(id) = sent.iter().find_map(|output| match output {
                Output::ToController {
                    correlation_id,
                    request: Request::Heartbeat(_),
                } => Some(*correlation_id),
                _ => None,
            }) {
                break id;
            }
        };
        let metadata = ClusterMetadata {
            version: self.version,
            brokers: vec![(OTHER, addr(OTHER)), (ME, addr(ME))],
            topics: vec![TopicMetadata {
                name: "t".into(),
                partitions: vec![PartitionMetadata {
                    partition: 0,
                    leader: Some(leader),
                    leader_epoch,
                    partition_epoch: leader_epoch,
                    replicas: vec![ME, OTHER],
                    isr: vec![leader],
                }],
            }],
        };
        self.core.on_response(
            self.now_ms,
            heartbeat,
            Response::Heartbeat(HeartbeatResponse {
                metadata: Some(metadata),
                accepted: true,
            }),
        );
    }

    /// Appends one record as the leader (acks=1) and returns what the core sent.
    fn produce(&mut self, leader_epoch: u32) -> Vec<Output> {
        self.core.on_request(
            self.now_ms,
            addr(50),
            1,
            Request::Produce(ProduceRequest {
                partition: partition(),
                batch: common::batch(&["v"], self.now_ms as i64).encode(),
                timeout_ms: 1_000,
                current_leader_epoch: Some(leader_epoch),
                acks: Acks::Leader,
            }),
            0,
        );
        self.core.take_outputs()
    }

    /// Ticks until the core sends its leader a request about `t`, and returns it.
    fn next_request_to_leader(&mut self) -> (u64, Request) {
        for _ in 0..100 {
            for output in self.tick() {
                if let Output::ToBroker {
                    addr: to,
                    correlation_id,
                    request,
                } = output
                {
                    assert_eq!(to, addr(OTHER));
                    return (correlation_id, request);
                }
            }
        }
        panic!("no request to the leader in 1 s");
    }
}

/// Swarm seed 7644: broker 2 led `t-0` in epoch 3 without appending, was replaced, and came
/// back as a follower of epoch 4 whose leader knew nothing of epoch 3 (it answered for epoch 1,
/// which neither of them had written in). The cut the answer asked for removed no record, and
/// the follower kept asking about epoch 3 forever. It must forget the empty epochs and fetch.
#[test]
fn a_follower_forgets_the_empty_epochs_its_cut_removed_and_fetches() {
    let mut broker = Broker::new();
    broker.metadata(ME, 0);
    broker.metadata(ME, 3);
    broker.metadata(OTHER, 4);
    let (id, request) = broker.next_request_to_leader();
    let Request::OffsetForLeaderEpoch(check) = request else {
        panic!("expected an epoch check first, got {request:?}");
    };
    assert_eq!((check.leader_epoch, check.current_leader_epoch), (3, 4));
    // The leader's largest epoch at or below 3 is 1, which ends at 0 in its log.
    broker.core.on_response(
        broker.now_ms,
        id,
        Response::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse { result: Ok((1, 0)) }),
    );
    let (_, request) = broker.next_request_to_leader();
    let Request::Fetch(fetch) = request else {
        panic!("the follower asked again instead of fetching: {request:?}");
    };
    assert_eq!(fetch.offset, 0);
}

/// Swarm seed 6538: broker 2 led `t-0` in epoch 1 and appended a record its successor never
/// had; its cache knew no epoch below 1 (retention had dropped epoch 0 with the log start).
/// Back as a follower of epoch 2 it was told "epoch 0 ends at 5". Its record at offset 0 was
/// written in epoch 1, which the leader does not know: it must go.
#[test]
fn a_follower_with_no_epoch_at_or_below_the_answer_cuts_where_its_first_epoch_starts() {
    let mut broker = Broker::new();
    broker.metadata(ME, 1);
    let _ = broker.produce(1);
    broker.metadata(OTHER, 2);
    let (id, request) = broker.next_request_to_leader();
    let Request::OffsetForLeaderEpoch(check) = request else {
        panic!("expected an epoch check first, got {request:?}");
    };
    assert_eq!(check.leader_epoch, 1);
    broker.core.on_response(
        broker.now_ms,
        id,
        Response::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse { result: Ok((0, 5)) }),
    );
    let truncated: Vec<(u64, u64)> = broker
        .core
        .take_outputs()
        .into_iter()
        .filter_map(|output| match output {
            Output::Observe(Observation::FollowerTruncated { from, to, .. }) => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(truncated, vec![(1, 0)]);
    let (_, request) = broker.next_request_to_leader();
    let Request::Fetch(fetch) = request else {
        panic!("expected a fetch, got {request:?}");
    };
    assert_eq!(fetch.offset, 0);
}

/// Swarm seed 9784: broker 2 led `t-0` and proposed adding broker 1 back to the ISR. The
/// controller applied it but the answer was lost; the proposal sent again was answered
/// `FencedLeaderEpoch`. Had the leader fallen back to its last ISR ([2]), it would have counted
/// its next append as committed without broker 1, which the controller had made a member (and
/// next made leader). It keeps the proposal pending instead, awaiting metadata.
#[test]
fn a_leader_keeps_an_isr_proposal_the_controller_may_have_applied() {
    let mut broker = Broker::new();
    broker.metadata(ME, 0);
    // Broker 1 fetches at the log end: caught up, so the leader proposes it.
    broker.core.on_request(
        broker.now_ms,
        addr(OTHER),
        1,
        Request::Fetch(FetchRequest {
            partition: partition(),
            offset: 0,
            max_bytes: 1 << 20,
            replica_id: Some(OTHER),
            current_leader_epoch: Some(0),
            replica_log_start_offset: Some(0),
            replica_epoch: Some(1),
            rack: None,
            max_wait_ms: 0,
        }),
        0,
    );
    let proposal = broker
        .core
        .take_outputs()
        .into_iter()
        .chain(broker.tick())
        .find_map(|output| match output {
            Output::ToController {
                correlation_id,
                request: Request::AlterPartition(request),
            } => Some((correlation_id, request)),
            _ => None,
        });
    let (id, request) = proposal.expect("the leader proposes the caught-up follower");
    assert_eq!(request.new_isr, vec![OTHER, ME]);
    broker.core.on_response(
        broker.now_ms,
        id,
        Response::AlterPartition(AlterPartitionResponse {
            result: Err(ErrorCode::FencedLeaderEpoch),
        }),
    );
    let mut outputs = broker.produce(0);
    outputs.extend(broker.tick());
    let exposed: Vec<u64> = outputs
        .into_iter()
        .filter_map(|output| match output {
            Output::Observe(Observation::HighWatermark { offset, .. }) => Some(offset),
            _ => None,
        })
        .collect();
    assert_eq!(
        exposed,
        Vec::<u64>::new(),
        "the append is not committed until broker 1 has it"
    );
}
