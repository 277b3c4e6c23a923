//! Translation of a Kafka request into the internal requests (parts) it fans out to.

use super::*;

impl Gateway {
    // ---- translation: Kafka request -> internal parts -----------------------------------------

    pub(super) fn plan(&self, version: i16, client_id: &str, request: &RequestKind) -> Vec<Part> {
        let timeout_ms = |ms: i32| Duration::from_millis(ms.max(0) as u64);
        match request {
            RequestKind::ApiVersions(_) | RequestKind::FindCoordinator(_) => Vec::new(),
            RequestKind::Metadata(r) => {
                // v0: an empty list means all topics; v1+: null means all.
                let topics = match &r.topics {
                    None => None,
                    Some(list) if list.is_empty() && version == 0 => None,
                    Some(list) => Some(
                        list.iter()
                            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                            .collect(),
                    ),
                };
                vec![Part::Send {
                    target: Target::Broker,
                    request: Request::Metadata(protocol::api::MetadataRequest { topics }),
                    wait: Duration::ZERO,
                    on_timeout: code::LEADER_NOT_AVAILABLE,
                }]
            }
            RequestKind::Produce(r) => {
                let acks = match r.acks {
                    -1 => Some(Acks::All),
                    1 => Some(Acks::Leader),
                    0 => Some(Acks::None),
                    _ => None,
                };
                let mut parts = Vec::new();
                for topic in &r.topic_data {
                    for p in &topic.partition_data {
                        let part = if r.transactional_id.is_some() {
                            Part::Ready(Outcome::Error(
                                code::INVALID_REQUEST,
                                Some("transactions are not supported".into()),
                            ))
                        } else if acks.is_none() {
                            Part::Ready(Outcome::Error(code::INVALID_REQUIRED_ACKS, None))
                        } else if p.index < 0 {
                            Part::Ready(Outcome::Error(code::UNKNOWN_TOPIC_OR_PARTITION, None))
                        } else {
                            let records = p.records.clone().unwrap_or_default();
                            match batch_count(&records) {
                                Some(n) if n > 1 => Part::Ready(Outcome::Error(
                                    code::INVALID_RECORD,
                                    Some(format!(
                                        "a produce request must hold exactly one record batch per partition, not {n}"
                                    )),
                                )),
                                _ => Part::Send {
                                    target: Target::Broker,
                                    request: Request::Produce(protocol::api::ProduceRequest {
                                        partition: TopicPartition::new(
                                            topic.name.0.as_str(),
                                            p.index as u32,
                                        ),
                                        batch: records,
                                        timeout_ms: r.timeout_ms.max(0) as u64,
                                        current_leader_epoch: None,
                                        acks: acks.unwrap_or_default(),
                                    }),
                                    wait: timeout_ms(r.timeout_ms),
                                    on_timeout: code::REQUEST_TIMED_OUT,
                                },
                            }
                        };
                        parts.push(part);
                    }
                }
                parts
            }
            RequestKind::Fetch(r) => {
                let mut parts = Vec::new();
                if version >= 7 && r.session_id != 0 {
                    return parts; // FETCH_SESSION_ID_NOT_FOUND, no partitions
                }
                // min_bytes <= 0: answer at once.
                let max_wait = if r.min_bytes <= 0 {
                    0
                } else {
                    r.max_wait_ms.max(0) as u64
                };
                let rack = (version >= 11 && !r.rack_id.is_empty()).then(|| r.rack_id.to_string());
                for topic in &r.topics {
                    for p in &topic.partitions {
                        let part = if p.partition < 0 {
                            Part::Ready(Outcome::Error(code::UNKNOWN_TOPIC_OR_PARTITION, None))
                        } else if p.fetch_offset < 0 {
                            Part::Ready(Outcome::Error(code::OFFSET_OUT_OF_RANGE, None))
                        } else {
                            Part::Send {
                                target: Target::Broker,
                                request: Request::Fetch(protocol::api::FetchRequest {
                                    partition: TopicPartition::new(
                                        topic.topic.0.as_str(),
                                        p.partition as u32,
                                    ),
                                    offset: p.fetch_offset as u64,
                                    max_bytes: p.partition_max_bytes.max(0) as u64,
                                    replica_id: None,
                                    current_leader_epoch: (p.current_leader_epoch >= 0)
                                        .then_some(p.current_leader_epoch as u32),
                                    replica_log_start_offset: None,
                                    replica_epoch: None,
                                    rack: rack.clone(),
                                    max_wait_ms: max_wait,
                                }),
                                wait: Duration::from_millis(max_wait),
                                on_timeout: code::REQUEST_TIMED_OUT,
                            }
                        };
                        parts.push(part);
                    }
                }
                parts
            }
            RequestKind::ListOffsets(r) => {
                let mut parts = Vec::new();
                for topic in &r.topics {
                    for p in &topic.partitions {
                        let spec = match p.timestamp {
                            -2 => Some(OffsetSpec::Earliest),
                            -1 => Some(OffsetSpec::Latest),
                            _ => None,
                        };
                        let part = match spec {
                            _ if p.partition_index < 0 => {
                                Part::Ready(Outcome::Error(code::UNKNOWN_TOPIC_OR_PARTITION, None))
                            }
                            None => Part::Ready(Outcome::Error(
                                code::INVALID_REQUEST,
                                Some(format!(
                                    "timestamp {} not supported: only -2 (earliest) and -1 (latest)",
                                    p.timestamp
                                )),
                            )),
                            Some(spec) => Part::Send {
                                target: Target::Broker,
                                request: Request::ListOffsets(protocol::api::ListOffsetsRequest {
                                    partition: TopicPartition::new(
                                        topic.name.0.as_str(),
                                        p.partition_index as u32,
                                    ),
                                    spec,
                                    current_leader_epoch: (p.current_leader_epoch >= 0)
                                        .then_some(p.current_leader_epoch as u32),
                                }),
                                wait: Duration::ZERO,
                                on_timeout: code::REQUEST_TIMED_OUT,
                            },
                        };
                        parts.push(part);
                    }
                }
                parts
            }
            RequestKind::OffsetForLeaderEpoch(r) => {
                let mut parts = Vec::new();
                for topic in &r.topics {
                    for p in &topic.partitions {
                        let part = if p.partition < 0 {
                            Part::Ready(Outcome::Error(code::UNKNOWN_TOPIC_OR_PARTITION, None))
                        } else if p.leader_epoch < 0 || p.current_leader_epoch < 0 {
                            // The core always checks the current epoch (it cannot skip the
                            // check), and consumers (KIP-320) always send one.
                            Part::Ready(Outcome::Error(
                                code::INVALID_REQUEST,
                                Some("leader_epoch and current_leader_epoch must be >= 0".into()),
                            ))
                        } else {
                            Part::Send {
                                target: Target::Broker,
                                request: Request::OffsetForLeaderEpoch(
                                    protocol::api::OffsetForLeaderEpochRequest {
                                        partition: TopicPartition::new(
                                            topic.topic.0.as_str(),
                                            p.partition as u32,
                                        ),
                                        leader_epoch: p.leader_epoch as u32,
                                        current_leader_epoch: p.current_leader_epoch as u32,
                                        // Not a broker (ids start at 1); the core does not
                                        // read it.
                                        replica_id: 0,
                                    },
                                ),
                                wait: Duration::ZERO,
                                on_timeout: code::REQUEST_TIMED_OUT,
                            }
                        };
                        parts.push(part);
                    }
                }
                parts
            }
            RequestKind::InitProducerId(r) => {
                if r.transactional_id.is_some() {
                    return vec![Part::Ready(Outcome::Error(
                        code::INVALID_REQUEST,
                        Some("transactions are not supported".into()),
                    ))];
                }
                let current = (r.producer_id.0 >= 0).then_some((r.producer_id.0, r.producer_epoch));
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::InitProducerId(protocol::api::InitProducerIdRequest {
                        current,
                    }),
                    wait: Duration::ZERO,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::OffsetCommit(r) => {
                if r.group_id.0.is_empty() {
                    return vec![Part::Ready(Outcome::Error(code::INVALID_GROUP_ID, None))];
                }
                let offsets: Vec<(TopicPartition, u64)> = r
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .filter(|p| commit_valid(p.partition_index, p.committed_offset))
                            .map(move |p| {
                                (
                                    TopicPartition::new(
                                        t.name.0.as_str(),
                                        p.partition_index as u32,
                                    ),
                                    p.committed_offset as u64,
                                )
                            })
                    })
                    .collect();
                if offsets.is_empty() {
                    return Vec::new();
                }
                // Kafka's simple commit (generation -1, no member id) commits without
                // membership; anything else is a member's commit, fenced by the coordinator.
                let member_id = r.member_id.to_string();
                let member =
                    (r.generation_id_or_member_epoch >= 0 || !member_id.is_empty()).then(|| {
                        protocol::api::CommitMember {
                            generation: generation(r.generation_id_or_member_epoch),
                            member_id,
                            group_instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
                        }
                    });
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::OffsetCommit(protocol::api::OffsetCommitRequest {
                        group: r.group_id.0.to_string(),
                        offsets,
                        member,
                    }),
                    wait: Duration::ZERO,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::OffsetFetch(r) => {
                if r.group_id.0.is_empty() {
                    return vec![Part::Ready(Outcome::Error(code::INVALID_GROUP_ID, None))];
                }
                // Null topics: every offset the group has (admin tools describing a group).
                let partitions: Option<Vec<TopicPartition>> = r.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .flat_map(|t| {
                            t.partition_indexes
                                .iter()
                                .filter(|p| **p >= 0)
                                .map(move |p| TopicPartition::new(t.name.0.as_str(), *p as u32))
                        })
                        .collect()
                });
                if partitions.as_ref().is_some_and(Vec::is_empty) {
                    return Vec::new();
                }
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::OffsetFetch(protocol::api::OffsetFetchRequest {
                        group: r.group_id.0.to_string(),
                        partitions,
                    }),
                    wait: Duration::ZERO,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::CreateTopics(r) => {
                let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
                for t in &r.topics {
                    *seen.entry(t.name.0.as_str()).or_default() += 1;
                }
                r.topics
                    .iter()
                    .map(|t| {
                        let error = |code: i16, message: &str| {
                            Part::Ready(Outcome::Error(code, Some(message.to_string())))
                        };
                        if seen[t.name.0.as_str()] > 1 {
                            return error(code::INVALID_REQUEST, "topic named more than once");
                        }
                        if r.validate_only {
                            return error(code::INVALID_REQUEST, "validate_only is not supported");
                        }
                        if !t.assignments.is_empty() {
                            return error(
                                code::INVALID_REPLICA_ASSIGNMENT,
                                "manual replica assignments are not supported",
                            );
                        }
                        if !t.configs.is_empty() {
                            return error(code::INVALID_CONFIG, "topic configs are not supported");
                        }
                        // -1: the broker default (Kafka's num.partitions and
                        // default.replication.factor defaults: 1).
                        let partitions = if t.num_partitions == -1 {
                            1
                        } else {
                            t.num_partitions
                        };
                        let replication = if t.replication_factor == -1 {
                            1
                        } else {
                            t.replication_factor as i32
                        };
                        if partitions < 1 {
                            return error(
                                code::INVALID_PARTITIONS,
                                "number of partitions must be at least 1",
                            );
                        }
                        if replication < 1 {
                            return error(
                                code::INVALID_REPLICATION_FACTOR,
                                "replication factor must be at least 1",
                            );
                        }
                        Part::Send {
                            target: Target::Controller,
                            request: Request::CreateTopic(protocol::api::CreateTopicRequest {
                                topic: t.name.0.to_string(),
                                partitions: partitions as u32,
                                replication_factor: replication as u32,
                            }),
                            wait: Duration::ZERO,
                            on_timeout: code::REQUEST_TIMED_OUT,
                        }
                    })
                    .collect()
            }
            RequestKind::CreatePartitions(r) => r
                .topics
                .iter()
                .map(|t| {
                    let error = |code: i16, message: &str| {
                        Part::Ready(Outcome::Error(code, Some(message.to_string())))
                    };
                    if r.validate_only {
                        return error(code::INVALID_REQUEST, "validate_only is not supported");
                    }
                    if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
                        return error(
                            code::INVALID_REPLICA_ASSIGNMENT,
                            "manual replica assignments are not supported",
                        );
                    }
                    if t.count < 1 {
                        return error(
                            code::INVALID_PARTITIONS,
                            "partition count must be at least 1",
                        );
                    }
                    Part::Send {
                        target: Target::Controller,
                        request: Request::CreatePartitions(
                            protocol::api::CreatePartitionsRequest {
                                topic: t.name.0.to_string(),
                                count: t.count as u32,
                            },
                        ),
                        wait: Duration::ZERO,
                        on_timeout: code::REQUEST_TIMED_OUT,
                    }
                })
                .collect(),
            RequestKind::JoinGroup(r) => {
                if r.group_id.0.is_empty() {
                    return vec![Part::Ready(Outcome::Error(code::INVALID_GROUP_ID, None))];
                }
                let rebalance = timeout_ms(r.rebalance_timeout_ms);
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::JoinGroup(Box::new(protocol::api::JoinGroupRequest {
                        group: r.group_id.0.to_string(),
                        member_id: r.member_id.to_string(),
                        group_instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
                        client_id: client_id.to_string(),
                        session_timeout_ms: r.session_timeout_ms.max(0) as u64,
                        rebalance_timeout_ms: rebalance.as_millis() as u64,
                        protocol_type: r.protocol_type.to_string(),
                        protocols: r
                            .protocols
                            .iter()
                            .map(|p| protocol::api::GroupProtocol {
                                name: p.name.to_string(),
                                metadata: p.metadata.clone(),
                            })
                            .collect(),
                    })),
                    // The coordinator holds the answer until the join phase completes, at
                    // the latest after the rebalance timeout.
                    wait: rebalance,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::SyncGroup(r) => {
                if r.group_id.0.is_empty() {
                    return vec![Part::Ready(Outcome::Error(code::INVALID_GROUP_ID, None))];
                }
                // Held until the leader syncs, at the latest the rebalance timeout after the
                // join phase (the pending-sync timeout).
                let wait = self
                    .rebalance_timeouts
                    .get(r.group_id.0.as_str())
                    .copied()
                    .unwrap_or(DEFAULT_REBALANCE_TIMEOUT);
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::SyncGroup(protocol::api::SyncGroupRequest {
                        group: r.group_id.0.to_string(),
                        generation: generation(r.generation_id),
                        member_id: r.member_id.to_string(),
                        group_instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
                        assignments: r
                            .assignments
                            .iter()
                            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                            .collect(),
                    }),
                    wait,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::Heartbeat(r) => {
                if r.group_id.0.is_empty() {
                    return vec![Part::Ready(Outcome::Error(code::INVALID_GROUP_ID, None))];
                }
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::HeartbeatGroup(protocol::api::HeartbeatGroupRequest {
                        group: r.group_id.0.to_string(),
                        generation: generation(r.generation_id),
                        member_id: r.member_id.to_string(),
                        group_instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
                    }),
                    wait: Duration::ZERO,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::LeaveGroup(r) => {
                if r.group_id.0.is_empty() {
                    return vec![Part::Ready(Outcome::Error(code::INVALID_GROUP_ID, None))];
                }
                // v0-v2: one member; v3+: a batch, one internal request per member.
                let members: Vec<(String, Option<String>)> = if version >= 3 {
                    r.members
                        .iter()
                        .map(|m| {
                            (
                                m.member_id.to_string(),
                                m.group_instance_id.as_ref().map(|i| i.to_string()),
                            )
                        })
                        .collect()
                } else {
                    vec![(r.member_id.to_string(), None)]
                };
                members
                    .into_iter()
                    .map(|(member_id, group_instance_id)| Part::Send {
                        target: Target::Controller,
                        request: Request::LeaveGroup(protocol::api::LeaveGroupRequest {
                            group: r.group_id.0.to_string(),
                            member_id,
                            group_instance_id,
                        }),
                        wait: Duration::ZERO,
                        on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                    })
                    .collect()
            }
            RequestKind::DescribeGroups(r) => {
                if r.groups.is_empty() {
                    return Vec::new();
                }
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::DescribeGroups(protocol::api::DescribeGroupsRequest {
                        groups: r.groups.iter().map(|g| g.0.to_string()).collect(),
                    }),
                    wait: Duration::ZERO,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::ListGroups(r) => {
                // The live brokers first: each lists the groups it is the home of (see
                // `respond`), so clients that ask every broker and join the answers, as admin
                // clients do, see each group once.
                vec![
                    Part::Send {
                        target: Target::Broker,
                        request: Request::Metadata(protocol::api::MetadataRequest {
                            topics: Some(Vec::new()),
                        }),
                        wait: Duration::ZERO,
                        on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                    },
                    Part::Send {
                        target: Target::Controller,
                        request: Request::ListGroups(protocol::api::ListGroupsRequest {
                            states: if version >= 4 {
                                r.states_filter.iter().map(|s| s.to_string()).collect()
                            } else {
                                Vec::new()
                            },
                        }),
                        wait: Duration::ZERO,
                        on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                    },
                ]
            }
            // Not served: on_frame closes the connection before planning.
            _ => Vec::new(),
        }
    }
}
