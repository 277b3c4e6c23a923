//! The wire API between clients, brokers and the controller: typed messages.
//!
//! Messages travel as Rust values over madsim's simulated network (nothing is serialized), but
//! record data travels as *encoded* batches (`Bytes`, see [`crate::batch`]) with their CRC, so a
//! broker validates what it is sent exactly as a real one would, and a consumer decodes what it
//! fetched.
//!
//! Every request carries a correlation id chosen by the sender; the answer echoes it. The network
//! may lose, delay and reorder messages, so senders time out and retry.
//!
//! Error codes are modelled on Kafka's; [`ErrorCode::name`] gives the snake_case name used in
//! histories (docs/history-format.md).

use bytes::Bytes;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// A broker's id: 1, 2, 3, ...
pub type BrokerId = u32;

/// Which of the two ends of a ListOffsets request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (the end of what consumers may read).
    Latest,
    /// The leader's log end offset, committed or not: what a replica asked before KIP-101 to
    /// find how far to truncate (Kafka 0.10's follower ListOffsets(LATEST)). Only the
    /// `no-follower-truncation` bug uses it.
    LogEnd,
}

/// A topic partition. The topic name is shared (`Arc<str>`): partitions are copied into every
/// request, answer, map key and observation, and a copy is a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// The same partition number of a topic name already shared.
    pub fn of(topic: &Arc<str>, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: Arc::clone(topic),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka-style error codes. `None` is not an error: answers use `Result`-like fields instead.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// The offset is above the log end (or, on a follower, outside what it holds).
    OffsetOutOfRange,
    /// The offset was deleted by retention; the log now starts at `next_available`.
    OffsetEvicted {
        next_available: u64,
    },
    /// A follower does not have the offset yet; retry.
    OffsetNotAvailable,
    /// This broker does not lead (or follow) the partition, or its view is behind.
    NotLeaderOrFollower,
    /// The request's leader epoch is older than the broker's.
    FencedLeaderEpoch,
    /// The request's leader epoch is newer than the broker's: its metadata is behind.
    UnknownLeaderEpoch,
    UnknownTopicOrPartition,
    /// The broker has no state for this producer id (it expired) and the sequence is not 0.
    UnknownProducerId,
    OutOfOrderSequence,
    InvalidProducerEpoch,
    /// A batch failed validation (CRC, length, fields).
    CorruptMessage,
    /// The batch or request exceeds a size limit.
    MessageTooLarge,
    /// The ISR is smaller than `min_insync_replicas`; acks=all cannot be honoured.
    NotEnoughReplicas,
    /// The broker could not complete the request in time (acks=all waited too long).
    RequestTimedOut,
    /// A disk error on the broker.
    KafkaStorageError,
    /// A request that is invalid in itself (e.g. a partition count that does not grow).
    InvalidRequest {
        reason: String,
    },
    /// The topic already exists.
    TopicAlreadyExists,
    /// The coordinator (controller) is loading its state; retry.
    CoordinatorLoadInProgress,
    /// A proposed ISR member may not join: it is fenced, or the broker epoch the leader saw it
    /// fetch with is not its current one (it restarted since, maybe with less data; KIP-903).
    IneligibleReplica,
    /// An ISR proposal named a partition epoch that is not the current one: the state changed
    /// since the leader last heard (maybe by this very proposal, sent before and answered to
    /// nobody). Kafka's `INVALID_UPDATE_VERSION`.
    InvalidUpdateVersion,
    /// An unexpected internal error: a correct broker never answers it to a valid request.
    UnknownServerError {
        detail: String,
    },
    /// A group request's generation is not the group's current one (it rebalanced since).
    IllegalGeneration,
    /// The member id is not (or no longer) a member of the group: rejoin with an empty id.
    UnknownMemberId,
    /// The group is rebalancing: rejoin (JoinGroup) to be part of the next generation.
    RebalanceInProgress,
    /// A first JoinGroup without a member id: the answer carries the id to join with (KIP-394).
    MemberIdRequired,
    /// A static member (group.instance.id) was replaced by a newer incarnation (KIP-345).
    FencedInstanceId,
    /// The group already has `group.max.size` members.
    GroupMaxSizeReached,
    /// The member's protocol type or assignors have nothing in common with the group's.
    InconsistentGroupProtocol,
    /// The session timeout is outside the coordinator's allowed range.
    InvalidSessionTimeout,
}

impl ErrorCode {
    /// The snake_case name used in histories.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorCode::OffsetOutOfRange => "offset_out_of_range",
            ErrorCode::OffsetEvicted { .. } => "offset_evicted",
            ErrorCode::OffsetNotAvailable => "offset_not_available",
            ErrorCode::NotLeaderOrFollower => "not_leader_or_follower",
            ErrorCode::FencedLeaderEpoch => "fenced_leader_epoch",
            ErrorCode::UnknownLeaderEpoch => "unknown_leader_epoch",
            ErrorCode::UnknownTopicOrPartition => "unknown_topic_or_partition",
            ErrorCode::UnknownProducerId => "unknown_producer_id",
            ErrorCode::OutOfOrderSequence => "out_of_order_sequence",
            ErrorCode::InvalidProducerEpoch => "invalid_producer_epoch",
            ErrorCode::CorruptMessage => "corrupt_message",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::NotEnoughReplicas => "not_enough_replicas",
            ErrorCode::RequestTimedOut => "request_timed_out",
            ErrorCode::KafkaStorageError => "kafka_storage_error",
            ErrorCode::InvalidRequest { .. } => "invalid_request",
            ErrorCode::TopicAlreadyExists => "topic_already_exists",
            ErrorCode::CoordinatorLoadInProgress => "coordinator_load_in_progress",
            ErrorCode::IneligibleReplica => "ineligible_replica",
            ErrorCode::InvalidUpdateVersion => "invalid_update_version",
            ErrorCode::UnknownServerError { .. } => "unknown_server_error",
            ErrorCode::IllegalGeneration => "illegal_generation",
            ErrorCode::UnknownMemberId => "unknown_member_id",
            ErrorCode::RebalanceInProgress => "rebalance_in_progress",
            ErrorCode::MemberIdRequired => "member_id_required",
            ErrorCode::FencedInstanceId => "fenced_instance_id",
            ErrorCode::GroupMaxSizeReached => "group_max_size_reached",
            ErrorCode::InconsistentGroupProtocol => "inconsistent_group_protocol",
            ErrorCode::InvalidSessionTimeout => "invalid_session_timeout",
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            ErrorCode::OffsetNotAvailable
                | ErrorCode::NotLeaderOrFollower
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::NotEnoughReplicas
                | ErrorCode::RequestTimedOut
                | ErrorCode::KafkaStorageError
                | ErrorCode::CoordinatorLoadInProgress
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::OffsetEvicted { next_available } => {
                write!(f, "offset_evicted (next available {next_available})")
            }
            ErrorCode::InvalidRequest { reason } => write!(f, "invalid_request: {reason}"),
            ErrorCode::UnknownServerError { detail } => {
                write!(f, "unknown_server_error: {detail}")
            }
            other => f.write_str(other.name()),
        }
    }
}

// ---- requests ---------------------------------------------------------------------------------

/// Which acknowledgement a produce asks for (Kafka's `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// Answered once the high watermark passes the batch: every in-sync replica holds it
    /// (`acks=all`, `-1`); refused with `NotEnoughReplicas` when the ISR is below
    /// `min.insync.replicas`.
    #[default]
    All,
    /// Answered once the leader appended the batch (`acks=1`): a leader failure before the
    /// followers copy it loses it.
    Leader,
    /// Never answered (`acks=0`), not even with an error.
    None,
}

/// Produce one encoded batch to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    pub partition: TopicPartition,
    /// One encoded batch (base offset 0, epoch 0: the leader stamps both).
    pub batch: Bytes,
    /// How long the leader may wait for the ISR before answering `RequestTimedOut`.
    pub timeout_ms: u64,
    /// The leader epoch the producer believes current, if it knows one (KIP-320 fencing).
    pub current_leader_epoch: Option<u32>,
    /// When the leader answers.
    pub acks: Acks,
}

/// Fetch from one partition: a consumer (replica_id None) or a follower (Some).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub partition: TopicPartition,
    pub offset: u64,
    pub max_bytes: u64,
    /// The follower fetching, or None for a consumer.
    pub replica_id: Option<BrokerId>,
    /// The leader epoch the sender believes current, if it knows one (KIP-320 fencing).
    pub current_leader_epoch: Option<u32>,
    /// A follower's log start offset, so the leader knows what it holds (KIP-392).
    pub replica_log_start_offset: Option<u64>,
    /// A follower's broker epoch (the incarnation it registered with), so the leader can tell
    /// the controller which incarnation caught up (KIP-903).
    pub replica_epoch: Option<u64>,
    /// A consumer that accepts a preferred read replica (KIP-392) names its rack.
    pub rack: Option<String>,
    /// When there is nothing to return yet, the broker may hold the request this long and
    /// answer as soon as data arrives (Kafka's `fetch.max.wait.ms`); 0 = answer at once.
    pub max_wait_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    pub partition: TopicPartition,
    pub spec: OffsetSpec,
    pub current_leader_epoch: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// Topics to describe; None = all.
    pub topics: Option<Vec<String>>,
}

/// Obtain a producer id, or bump the epoch of one (KIP-360: pass the current pid and epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    pub current: Option<(i64, i16)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// The consumer id or group.
    pub group: String,
    /// (partition, next offset to consume)
    pub offsets: Vec<(TopicPartition, u64)>,
    /// The committing group member; `None` is a simple commit without membership (Kafka's
    /// generation -1 and empty member id), accepted while the group has no members.
    pub member: Option<CommitMember>,
}

/// Who commits, for the coordinator's generation and member fencing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMember {
    pub generation: u32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One assignor (Kafka's "protocol") a member supports, with its subscription metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupProtocol {
    /// The assignor's name, e.g. "range" or "cooperative-sticky".
    pub name: String,
    /// Opaque to the coordinator (the consumer's subscription).
    pub metadata: Bytes,
}

/// Join a consumer group, or rejoin it for the next generation (classic protocol). Answered
/// when the group's rebalance completes, not at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    pub group: String,
    /// Empty on a first join: the coordinator assigns one (and answers `MemberIdRequired`
    /// for a dynamic member, KIP-394).
    pub member_id: String,
    /// A static member's stable identity (KIP-345), if any.
    pub group_instance_id: Option<String>,
    /// The client's id: the prefix of a dynamic member's id.
    pub client_id: String,
    pub session_timeout_ms: u64,
    /// How long the coordinator waits for every member to rejoin in a rebalance.
    pub rebalance_timeout_ms: u64,
    /// "consumer" for consumers.
    pub protocol_type: String,
    /// The assignors the member supports, most preferred first.
    pub protocols: Vec<GroupProtocol>,
}

/// A member of the new generation as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// A successful join: the generation the member is now part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedGroup {
    pub generation: u32,
    /// The chosen assignor.
    pub protocol_name: String,
    pub leader: String,
    /// Every member with its metadata, for the leader only; empty for followers.
    pub members: Vec<JoinedMember>,
    /// The leader must not compute a new assignment (a static leader rejoined without a
    /// rebalance, KIP-814): it syncs to get its own.
    pub skip_assignment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// The member's id: the assigned one, also with `MemberIdRequired`; empty on other errors
    /// of a first join.
    pub member_id: String,
    pub result: Result<JoinedGroup, ErrorCode>,
}

/// Ask for this member's assignment in `generation`; the leader sends everyone's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupRequest {
    pub group: String,
    pub generation: u32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The leader's assignment (member id, opaque assignment); empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// The member's assignment (empty when the leader gave it none).
    pub result: Result<Bytes, ErrorCode>,
}

/// A group member's liveness (Kafka's Heartbeat API; named apart from the brokers' controller
/// heartbeat, [`HeartbeatRequest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatGroupRequest {
    pub group: String,
    pub generation: u32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatGroupResponse {
    /// `RebalanceInProgress` tells the member to rejoin.
    pub result: Result<(), ErrorCode>,
}

/// A member leaves its group (one member per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    pub group: String,
    /// The member's id; may be empty for a static member named by `group_instance_id`.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    pub result: Result<(), ErrorCode>,
}

/// Describe groups (Kafka's DescribeGroups): their state, protocol and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroupsRequest {
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroupsResponse {
    /// One per asked group, in the asked order.
    pub result: Result<Vec<GroupDescription>, ErrorCode>,
}

/// A group as its coordinator holds it. A group the coordinator does not know is described as
/// Kafka does: state `Dead`, no protocol, no members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group: String,
    /// Kafka's state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`, `Dead`.
    pub state: String,
    /// `consumer` for consumer groups; empty for a group that only has committed offsets.
    pub protocol_type: String,
    /// The assignor of the current generation; empty unless `Stable`.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// The member's subscription for the group's protocol (empty while none is chosen).
    pub metadata: Bytes,
    /// The member's assignment of the current generation (empty until the leader's SyncGroup).
    pub assignment: Bytes,
}

/// List the groups a coordinator knows (Kafka's ListGroups), optionally only those in some
/// states (v4+, Kafka's state names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsRequest {
    pub states: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsResponse {
    /// (group id, protocol type, state), in group id order.
    pub result: Result<Vec<(String, String, String)>, ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    pub group: String,
    /// The partitions asked about; None for every partition the group has an offset of (Kafka's
    /// null `topics`, what admin tools send to describe a group).
    pub partitions: Option<Vec<TopicPartition>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicRequest {
    pub topic: String,
    pub partitions: u32,
    pub replication_factor: u32,
}

/// Grow a topic to `count` partitions (KIP-195 style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsRequest {
    pub topic: String,
    pub count: u32,
}

/// Where does the leader's log for `epoch` end? (KIP-101 / KIP-279)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderEpochRequest {
    pub partition: TopicPartition,
    /// The epoch asked about (the follower's latest).
    pub leader_epoch: u32,
    /// The sender's view of the current leader epoch, for fencing.
    pub current_leader_epoch: u32,
    pub replica_id: BrokerId,
}

/// A broker's liveness and registration message to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub broker: BrokerId,
    pub addr: SocketAddr,
    /// Increases each time the broker process starts.
    pub incarnation: u64,
    /// The metadata version the broker holds; newer metadata comes back.
    pub metadata_version: u64,
}

/// A leader asks the controller to change a partition's ISR (KIP-497 AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    pub broker: BrokerId,
    pub partition: TopicPartition,
    pub leader_epoch: u32,
    /// The partition epoch the proposal is based on (changes with every ISR change).
    pub partition_epoch: u32,
    pub new_isr: Vec<BrokerId>,
    /// The broker epoch each member of `new_isr` other than the leader last fetched with
    /// (KIP-903): the controller refuses a member that has registered again since.
    pub member_epochs: Vec<(BrokerId, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    Metadata(MetadataRequest),
    InitProducerId(InitProducerIdRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    CreateTopic(CreateTopicRequest),
    CreatePartitions(CreatePartitionsRequest),
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    Heartbeat(HeartbeatRequest),
    AlterPartition(AlterPartitionRequest),
    /// Boxed: the largest request, and rare (keeps [`Envelope`] as small as before).
    JoinGroup(Box<JoinGroupRequest>),
    SyncGroup(SyncGroupRequest),
    HeartbeatGroup(HeartbeatGroupRequest),
    LeaveGroup(LeaveGroupRequest),
    DescribeGroups(DescribeGroupsRequest),
    ListGroups(ListGroupsRequest),
}

impl Request {
    /// The API name used in histories' `request` events.
    pub fn api_name(&self) -> &'static str {
        match self {
            Request::Produce(_) => "produce",
            Request::Fetch(_) => "fetch",
            Request::ListOffsets(_) => "list_offsets",
            Request::Metadata(_) => "metadata",
            Request::InitProducerId(_) => "init_producer_id",
            Request::OffsetCommit(_) => "offset_commit",
            Request::OffsetFetch(_) => "offset_fetch",
            Request::CreateTopic(_) => "create_topic",
            Request::CreatePartitions(_) => "create_partitions",
            Request::OffsetForLeaderEpoch(_) => "offset_for_leader_epoch",
            Request::Heartbeat(_) => "heartbeat",
            Request::AlterPartition(_) => "alter_partition",
            Request::JoinGroup(_) => "join_group",
            Request::SyncGroup(_) => "sync_group",
            Request::HeartbeatGroup(_) => "heartbeat_group",
            Request::LeaveGroup(_) => "leave_group",
            Request::DescribeGroups(_) => "describe_groups",
            Request::ListGroups(_) => "list_groups",
        }
    }
}

// ---- responses --------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    /// The offset of the batch's first record (the original one for a retried duplicate).
    pub result: Result<u64, ErrorCode>,
    /// The partition's log start offset at the leader (franz-go #805 needs it).
    pub log_start_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Encoded batches, in offset order; the first may start before the requested offset.
    pub result: Result<Vec<Bytes>, ErrorCode>,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    /// The leader epoch of the answering replica.
    pub leader_epoch: u32,
    /// KIP-392: fetch from this broker instead (only in answers to consumers that named a rack).
    pub preferred_read_replica: Option<BrokerId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    pub result: Result<u64, ErrorCode>,
}

/// One partition as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: u32,
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    /// Changes with every leader or ISR change.
    pub partition_epoch: u32,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub partitions: Vec<PartitionMetadata>,
}

/// The cluster as the answering node knows it. `version` grows with every change, so a client
/// can tell stale from fresh.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterMetadata {
    pub version: u64,
    /// Live brokers and their addresses.
    pub brokers: Vec<(BrokerId, SocketAddr)>,
    pub topics: Vec<TopicMetadata>,
}

impl ClusterMetadata {
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.iter().find(|topic| topic.name == name)
    }

    pub fn partition(&self, partition: &TopicPartition) -> Option<&PartitionMetadata> {
        self.topic(&partition.topic)?
            .partitions
            .iter()
            .find(|p| p.partition == partition.partition)
    }

    pub fn broker_addr(&self, broker: BrokerId) -> Option<SocketAddr> {
        self.brokers
            .iter()
            .find(|(id, _)| *id == broker)
            .map(|(_, addr)| *addr)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    pub metadata: ClusterMetadata,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    pub result: Result<(i64, i16), ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    pub result: Result<(), ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// (partition, committed next offset or None when nothing was committed)
    pub result: Result<Vec<(TopicPartition, Option<u64>)>, ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicResponse {
    pub result: Result<(), ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsResponse {
    pub result: Result<(), ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderEpochResponse {
    /// (the largest epoch <= the one asked that the leader knows, the end offset of that epoch)
    pub result: Result<(u32, u64), ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Newer metadata than the broker announced, if any.
    pub metadata: Option<ClusterMetadata>,
    /// False when the controller fenced this broker incarnation (a newer one registered).
    pub accepted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionResponse {
    /// The partition as the controller now has it (on success or on a stale proposal).
    pub result: Result<PartitionMetadata, ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Produce(ProduceResponse),
    Fetch(FetchResponse),
    ListOffsets(ListOffsetsResponse),
    Metadata(MetadataResponse),
    InitProducerId(InitProducerIdResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    CreateTopic(CreateTopicResponse),
    CreatePartitions(CreatePartitionsResponse),
    OffsetForLeaderEpoch(OffsetForLeaderEpochResponse),
    Heartbeat(HeartbeatResponse),
    AlterPartition(AlterPartitionResponse),
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    HeartbeatGroup(HeartbeatGroupResponse),
    LeaveGroup(LeaveGroupResponse),
    DescribeGroups(DescribeGroupsResponse),
    ListGroups(ListGroupsResponse),
}

/// What travels on the network between streamsim nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    Request {
        correlation_id: u64,
        request: Request,
    },
    Response {
        correlation_id: u64,
        response: Response,
    },
}
