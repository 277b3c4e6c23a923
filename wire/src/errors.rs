//! streamsim's [`ErrorCode`] as Kafka's numeric error codes (`org.apache.kafka.common.protocol.Errors`).

use protocol::api::ErrorCode;

/// Kafka error codes the gateway answers (values as in Kafka's `Errors.java`).
pub mod code {
    pub const NONE: i16 = 0;
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_ENOUGH_REPLICAS: i16 = 19;
    pub const INVALID_REQUIRED_ACKS: i16 = 21;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    pub const INVALID_CONFIG: i16 = 40;
    pub const INVALID_REQUEST: i16 = 42;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const KAFKA_STORAGE_ERROR: i16 = 56;
    pub const UNKNOWN_PRODUCER_ID: i16 = 59;
    pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
    pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
    pub const OFFSET_NOT_AVAILABLE: i16 = 78;
    pub const INVALID_RECORD: i16 = 87;
    pub const INELIGIBLE_REPLICA: i16 = 107;
    pub const INVALID_UPDATE_VERSION: i16 = 95;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
    pub const FENCED_INSTANCE_ID: i16 = 82;
}

/// Kafka's code for `error`, with a message where streamsim has one.
pub fn kafka_error(error: &ErrorCode) -> (i16, Option<String>) {
    let code = match error {
        // Kafka answers a read below the log start with OFFSET_OUT_OF_RANGE (the consumer
        // then resets); the log start travels in the partition's log_start_offset.
        ErrorCode::OffsetOutOfRange | ErrorCode::OffsetEvicted { .. } => code::OFFSET_OUT_OF_RANGE,
        ErrorCode::OffsetNotAvailable => code::OFFSET_NOT_AVAILABLE,
        ErrorCode::NotLeaderOrFollower => code::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::FencedLeaderEpoch => code::FENCED_LEADER_EPOCH,
        ErrorCode::UnknownLeaderEpoch => code::UNKNOWN_LEADER_EPOCH,
        ErrorCode::UnknownTopicOrPartition => code::UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode::UnknownProducerId => code::UNKNOWN_PRODUCER_ID,
        ErrorCode::OutOfOrderSequence => code::OUT_OF_ORDER_SEQUENCE_NUMBER,
        ErrorCode::InvalidProducerEpoch => code::INVALID_PRODUCER_EPOCH,
        ErrorCode::CorruptMessage => code::CORRUPT_MESSAGE,
        ErrorCode::MessageTooLarge => code::MESSAGE_TOO_LARGE,
        ErrorCode::NotEnoughReplicas => code::NOT_ENOUGH_REPLICAS,
        ErrorCode::RequestTimedOut => code::REQUEST_TIMED_OUT,
        ErrorCode::KafkaStorageError => code::KAFKA_STORAGE_ERROR,
        ErrorCode::InvalidRequest { .. } => code::INVALID_REQUEST,
        ErrorCode::TopicAlreadyExists => code::TOPIC_ALREADY_EXISTS,
        ErrorCode::CoordinatorLoadInProgress => code::COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode::IneligibleReplica => code::INELIGIBLE_REPLICA,
        ErrorCode::InvalidUpdateVersion => code::INVALID_UPDATE_VERSION,
        ErrorCode::UnknownServerError { .. } => code::UNKNOWN_SERVER_ERROR,
        ErrorCode::IllegalGeneration => code::ILLEGAL_GENERATION,
        ErrorCode::UnknownMemberId => code::UNKNOWN_MEMBER_ID,
        ErrorCode::RebalanceInProgress => code::REBALANCE_IN_PROGRESS,
        ErrorCode::MemberIdRequired => code::MEMBER_ID_REQUIRED,
        ErrorCode::FencedInstanceId => code::FENCED_INSTANCE_ID,
        ErrorCode::GroupMaxSizeReached => code::GROUP_MAX_SIZE_REACHED,
        ErrorCode::InconsistentGroupProtocol => code::INCONSISTENT_GROUP_PROTOCOL,
        ErrorCode::InvalidSessionTimeout => code::INVALID_SESSION_TIMEOUT,
    };
    let message = match error {
        ErrorCode::InvalidRequest { reason } => Some(reason.clone()),
        ErrorCode::UnknownServerError { detail } => Some(detail.clone()),
        ErrorCode::OffsetEvicted { next_available } => Some(format!(
            "offset deleted by retention; the log starts at {next_available}"
        )),
        _ => None,
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::error::ResponseError;

    /// Every mapped code is the one kafka-protocol (generated from Kafka's Errors.java) knows
    /// by that name.
    #[test]
    fn codes_match_kafka() {
        let cases: Vec<(ErrorCode, ResponseError)> = vec![
            (ErrorCode::OffsetOutOfRange, ResponseError::OffsetOutOfRange),
            (
                ErrorCode::OffsetEvicted { next_available: 5 },
                ResponseError::OffsetOutOfRange,
            ),
            (
                ErrorCode::OffsetNotAvailable,
                ResponseError::OffsetNotAvailable,
            ),
            (
                ErrorCode::NotLeaderOrFollower,
                ResponseError::NotLeaderOrFollower,
            ),
            (
                ErrorCode::FencedLeaderEpoch,
                ResponseError::FencedLeaderEpoch,
            ),
            (
                ErrorCode::UnknownLeaderEpoch,
                ResponseError::UnknownLeaderEpoch,
            ),
            (
                ErrorCode::UnknownTopicOrPartition,
                ResponseError::UnknownTopicOrPartition,
            ),
            (
                ErrorCode::UnknownProducerId,
                ResponseError::UnknownProducerId,
            ),
            (
                ErrorCode::OutOfOrderSequence,
                ResponseError::OutOfOrderSequenceNumber,
            ),
            (
                ErrorCode::InvalidProducerEpoch,
                ResponseError::InvalidProducerEpoch,
            ),
            (ErrorCode::CorruptMessage, ResponseError::CorruptMessage),
            (ErrorCode::MessageTooLarge, ResponseError::MessageTooLarge),
            (
                ErrorCode::NotEnoughReplicas,
                ResponseError::NotEnoughReplicas,
            ),
            (ErrorCode::RequestTimedOut, ResponseError::RequestTimedOut),
            (
                ErrorCode::KafkaStorageError,
                ResponseError::KafkaStorageError,
            ),
            (
                ErrorCode::InvalidRequest { reason: "r".into() },
                ResponseError::InvalidRequest,
            ),
            (
                ErrorCode::TopicAlreadyExists,
                ResponseError::TopicAlreadyExists,
            ),
            (
                ErrorCode::CoordinatorLoadInProgress,
                ResponseError::CoordinatorLoadInProgress,
            ),
            (
                ErrorCode::IneligibleReplica,
                ResponseError::IneligibleReplica,
            ),
            (
                ErrorCode::InvalidUpdateVersion,
                ResponseError::InvalidUpdateVersion,
            ),
            (
                ErrorCode::UnknownServerError { detail: "d".into() },
                ResponseError::UnknownServerError,
            ),
            (
                ErrorCode::IllegalGeneration,
                ResponseError::IllegalGeneration,
            ),
            (ErrorCode::UnknownMemberId, ResponseError::UnknownMemberId),
            (
                ErrorCode::RebalanceInProgress,
                ResponseError::RebalanceInProgress,
            ),
            (ErrorCode::MemberIdRequired, ResponseError::MemberIdRequired),
            (ErrorCode::FencedInstanceId, ResponseError::FencedInstanceId),
            (
                ErrorCode::GroupMaxSizeReached,
                ResponseError::GroupMaxSizeReached,
            ),
            (
                ErrorCode::InconsistentGroupProtocol,
                ResponseError::InconsistentGroupProtocol,
            ),
            (
                ErrorCode::InvalidSessionTimeout,
                ResponseError::InvalidSessionTimeout,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(kafka_error(&error).0, expected.code(), "{error:?}");
        }
        let named = [
            (
                code::LEADER_NOT_AVAILABLE,
                ResponseError::LeaderNotAvailable,
            ),
            (
                code::COORDINATOR_NOT_AVAILABLE,
                ResponseError::CoordinatorNotAvailable,
            ),
            (
                code::INVALID_REQUIRED_ACKS,
                ResponseError::InvalidRequiredAcks,
            ),
            (code::INVALID_GROUP_ID, ResponseError::InvalidGroupId),
            (code::UNSUPPORTED_VERSION, ResponseError::UnsupportedVersion),
            (code::INVALID_PARTITIONS, ResponseError::InvalidPartitions),
            (
                code::INVALID_REPLICATION_FACTOR,
                ResponseError::InvalidReplicationFactor,
            ),
            (
                code::INVALID_REPLICA_ASSIGNMENT,
                ResponseError::InvalidReplicaAssignment,
            ),
            (code::INVALID_CONFIG, ResponseError::InvalidConfig),
            (
                code::FETCH_SESSION_ID_NOT_FOUND,
                ResponseError::FetchSessionIdNotFound,
            ),
            (code::INVALID_RECORD, ResponseError::InvalidRecord),
        ];
        for (code, expected) in named {
            assert_eq!(code, expected.code(), "{expected:?}");
        }
    }
}
