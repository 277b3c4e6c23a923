//! Assembly of a Kafka response from the outcomes of a request's parts.

use super::*;

pub(super) fn build_response(
    config: &GatewayConfig,
    version: i16,
    request: &RequestKind,
    outcomes: Vec<Outcome>,
) -> km::ResponseKind {
    let mut outcomes = outcomes.into_iter();
    let mut next = move || {
        outcomes.next().unwrap_or(Outcome::Error(
            code::UNKNOWN_SERVER_ERROR,
            Some("missing part".into()),
        ))
    };
    match request {
        RequestKind::ApiVersions(_) => api_versions_response(code::NONE),
        RequestKind::Metadata(r) => metadata_response(config, version, r, next()),
        RequestKind::FindCoordinator(r) => find_coordinator_response(config, version, r),
        RequestKind::Produce(r) => {
            let mut response = km::ProduceResponse::default();
            for topic in &r.topic_data {
                let mut t = km::produce_response::TopicProduceResponse::default();
                t.name = topic.name.clone();
                for p in &topic.partition_data {
                    let outcome = next();
                    let mut pr = km::produce_response::PartitionProduceResponse::default();
                    pr.index = p.index;
                    pr.base_offset = -1;
                    pr.log_append_time_ms = -1;
                    pr.log_start_offset = -1;
                    let (error, message) = match &outcome {
                        Outcome::Answer(Response::Produce(answer)) => {
                            pr.log_start_offset = answer.log_start_offset as i64;
                            if let Ok(offset) = answer.result {
                                pr.base_offset = offset as i64;
                            }
                            outcome_error(&outcome, answer.result.as_ref().err())
                        }
                        Outcome::Answer(_) => mismatch("produce"),
                        Outcome::Error(..) => outcome_error(&outcome, None),
                    };
                    pr.error_code = error;
                    if version >= 8 {
                        pr.error_message = message.map(|m| str_bytes(&m));
                    }
                    t.partition_responses.push(pr);
                }
                response.responses.push(t);
            }
            km::ResponseKind::Produce(response)
        }
        RequestKind::Fetch(r) => {
            let mut response = km::FetchResponse::default();
            if version >= 7 && r.session_id != 0 {
                response.error_code = code::FETCH_SESSION_ID_NOT_FOUND;
                return km::ResponseKind::Fetch(response);
            }
            for topic in &r.topics {
                let mut t = km::fetch_response::FetchableTopicResponse::default();
                t.topic = topic.topic.clone();
                for p in &topic.partitions {
                    let outcome = next();
                    let mut pd = km::fetch_response::PartitionData::default();
                    pd.partition_index = p.partition;
                    pd.high_watermark = -1;
                    pd.last_stable_offset = -1;
                    pd.log_start_offset = -1;
                    pd.preferred_read_replica = km::BrokerId(-1);
                    pd.records = Some(Bytes::new());
                    let (error, _) = match &outcome {
                        Outcome::Answer(Response::Fetch(answer)) => {
                            pd.high_watermark = answer.high_watermark as i64;
                            pd.last_stable_offset = answer.high_watermark as i64;
                            pd.log_start_offset = match &answer.result {
                                Err(ErrorCode::OffsetEvicted { next_available }) => {
                                    *next_available as i64
                                }
                                _ => answer.log_start_offset as i64,
                            };
                            if version >= 11 {
                                if let Some(replica) = answer.preferred_read_replica {
                                    pd.preferred_read_replica = km::BrokerId(replica as i32);
                                }
                            }
                            if let Ok(batches) = &answer.result {
                                let mut records = BytesMut::new();
                                for batch in batches {
                                    records.put_slice(batch);
                                }
                                pd.records = Some(records.freeze());
                            }
                            outcome_error(&outcome, answer.result.as_ref().err())
                        }
                        Outcome::Answer(_) => mismatch("fetch"),
                        Outcome::Error(..) => outcome_error(&outcome, None),
                    };
                    pd.error_code = error;
                    t.partitions.push(pd);
                }
                response.responses.push(t);
            }
            km::ResponseKind::Fetch(response)
        }
        RequestKind::ListOffsets(r) => {
            let mut response = km::ListOffsetsResponse::default();
            for topic in &r.topics {
                let mut t = km::list_offsets_response::ListOffsetsTopicResponse::default();
                t.name = topic.name.clone();
                for p in &topic.partitions {
                    let outcome = next();
                    let mut pr = km::list_offsets_response::ListOffsetsPartitionResponse::default();
                    pr.partition_index = p.partition_index;
                    pr.timestamp = -1;
                    pr.offset = -1;
                    pr.leader_epoch = -1;
                    let (error, _) = match &outcome {
                        Outcome::Answer(Response::ListOffsets(answer)) => {
                            if let Ok(offset) = answer.result {
                                pr.offset = offset as i64;
                            }
                            outcome_error(&outcome, answer.result.as_ref().err())
                        }
                        Outcome::Answer(_) => mismatch("list offsets"),
                        Outcome::Error(..) => outcome_error(&outcome, None),
                    };
                    pr.error_code = error;
                    t.partitions.push(pr);
                }
                response.topics.push(t);
            }
            km::ResponseKind::ListOffsets(response)
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            let mut response = km::OffsetForLeaderEpochResponse::default();
            for topic in &r.topics {
                let mut t =
                    km::offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default();
                t.topic = topic.topic.clone();
                for p in &topic.partitions {
                    let outcome = next();
                    let mut e = km::offset_for_leader_epoch_response::EpochEndOffset::default();
                    e.partition = p.partition;
                    e.leader_epoch = -1;
                    e.end_offset = -1;
                    let (error, _) = match &outcome {
                        Outcome::Answer(Response::OffsetForLeaderEpoch(answer)) => {
                            if let Ok((epoch, end)) = answer.result {
                                e.leader_epoch = epoch as i32;
                                e.end_offset = end as i64;
                            }
                            outcome_error(&outcome, answer.result.as_ref().err())
                        }
                        Outcome::Answer(_) => mismatch("offset for leader epoch"),
                        Outcome::Error(..) => outcome_error(&outcome, None),
                    };
                    e.error_code = error;
                    t.partitions.push(e);
                }
                response.topics.push(t);
            }
            km::ResponseKind::OffsetForLeaderEpoch(response)
        }
        RequestKind::InitProducerId(_) => {
            let outcome = next();
            let mut response = km::InitProducerIdResponse::default();
            response.producer_id = km::ProducerId(-1);
            response.producer_epoch = -1;
            let (error, _) = match &outcome {
                Outcome::Answer(Response::InitProducerId(answer)) => {
                    if let Ok((id, epoch)) = answer.result {
                        response.producer_id = km::ProducerId(id);
                        response.producer_epoch = epoch;
                    }
                    outcome_error(&outcome, answer.result.as_ref().err())
                }
                Outcome::Answer(_) => mismatch("init producer id"),
                Outcome::Error(..) => outcome_error(&outcome, None),
            };
            response.error_code = error;
            km::ResponseKind::InitProducerId(response)
        }
        RequestKind::OffsetCommit(r) => {
            let any_valid = r.topics.iter().any(|t| {
                t.partitions
                    .iter()
                    .any(|p| commit_valid(p.partition_index, p.committed_offset))
            });
            let (error, _) = if r.group_id.0.is_empty() || any_valid {
                let outcome = next();
                match &outcome {
                    Outcome::Answer(Response::OffsetCommit(answer)) => {
                        outcome_error(&outcome, answer.result.as_ref().err())
                    }
                    Outcome::Answer(_) => mismatch("offset commit"),
                    Outcome::Error(..) => outcome_error(&outcome, None),
                }
            } else {
                (code::NONE, None)
            };
            let mut response = km::OffsetCommitResponse::default();
            for topic in &r.topics {
                let mut t = km::offset_commit_response::OffsetCommitResponseTopic::default();
                t.name = topic.name.clone();
                for p in &topic.partitions {
                    let mut pr =
                        km::offset_commit_response::OffsetCommitResponsePartition::default();
                    pr.partition_index = p.partition_index;
                    pr.error_code = if r.group_id.0.is_empty() {
                        error
                    } else if p.partition_index < 0 {
                        code::UNKNOWN_TOPIC_OR_PARTITION
                    } else if p.committed_offset < 0 {
                        code::INVALID_REQUEST
                    } else {
                        error
                    };
                    t.partitions.push(pr);
                }
                response.topics.push(t);
            }
            km::ResponseKind::OffsetCommit(response)
        }
        RequestKind::OffsetFetch(r) => {
            let any = r.topics.as_ref().is_some_and(|ts| {
                ts.iter()
                    .any(|t| t.partition_indexes.iter().any(|p| *p >= 0))
            });
            let mut committed: BTreeMap<TopicPartition, Option<u64>> = BTreeMap::new();
            let (error, _) = if r.group_id.0.is_empty() || r.topics.is_none() || any {
                let outcome = next();
                match &outcome {
                    Outcome::Answer(Response::OffsetFetch(answer)) => {
                        if let Ok(list) = &answer.result {
                            committed.extend(list.iter().cloned());
                        }
                        outcome_error(&outcome, answer.result.as_ref().err())
                    }
                    Outcome::Answer(_) => mismatch("offset fetch"),
                    Outcome::Error(..) => outcome_error(&outcome, None),
                }
            } else {
                (code::NONE, None)
            };
            let mut response = km::OffsetFetchResponse::default();
            if version >= 2 {
                response.error_code = error;
            }
            for topic in r.topics.iter().flatten() {
                let mut t = km::offset_fetch_response::OffsetFetchResponseTopic::default();
                t.name = topic.name.clone();
                for p in &topic.partition_indexes {
                    let mut pr = km::offset_fetch_response::OffsetFetchResponsePartition::default();
                    pr.partition_index = *p;
                    pr.committed_leader_epoch = -1;
                    pr.metadata = Some(StrBytes::from_static_str(""));
                    pr.committed_offset = -1;
                    if *p < 0 {
                        pr.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
                    } else {
                        pr.error_code = error;
                        let tp = TopicPartition::new(topic.name.0.as_str(), *p as u32);
                        if let Some(Some(offset)) = committed.get(&tp) {
                            pr.committed_offset = *offset as i64;
                        }
                    }
                    t.partitions.push(pr);
                }
                response.topics.push(t);
            }
            if r.topics.is_none() {
                // Every offset the group has, topic by topic.
                for (partition, offset) in &committed {
                    let Some(offset) = offset else { continue };
                    if response.topics.last().map(|t| t.name.0.as_str()) != Some(&*partition.topic)
                    {
                        let mut t = km::offset_fetch_response::OffsetFetchResponseTopic::default();
                        t.name = km::TopicName(StrBytes::from_string(partition.topic.to_string()));
                        response.topics.push(t);
                    }
                    let mut pr = km::offset_fetch_response::OffsetFetchResponsePartition::default();
                    pr.partition_index = partition.partition as i32;
                    pr.committed_leader_epoch = -1;
                    pr.metadata = Some(StrBytes::from_static_str(""));
                    pr.committed_offset = *offset as i64;
                    pr.error_code = code::NONE;
                    response
                        .topics
                        .last_mut()
                        .expect("a topic was pushed above")
                        .partitions
                        .push(pr);
                }
            }
            km::ResponseKind::OffsetFetch(response)
        }
        RequestKind::JoinGroup(r) => {
            let outcome = next();
            let mut response = km::JoinGroupResponse::default();
            response.generation_id = -1;
            response.member_id = r.member_id.clone();
            // v7+: nullable, null on errors (as Kafka); before v7: empty.
            response.protocol_name = (version < 7).then(|| StrBytes::from_static_str(""));
            response.protocol_type = None;
            let (error, _) = match &outcome {
                Outcome::Answer(Response::JoinGroup(answer)) => {
                    response.member_id = str_bytes(&answer.member_id);
                    if let Ok(joined) = &answer.result {
                        response.generation_id = joined.generation.min(i32::MAX as u32) as i32;
                        response.protocol_name = Some(str_bytes(&joined.protocol_name));
                        // The coordinator refuses a join whose protocol type is not the
                        // group's, so the request's is the group's.
                        response.protocol_type = Some(r.protocol_type.clone());
                        response.leader = str_bytes(&joined.leader);
                        response.skip_assignment = version >= 9 && joined.skip_assignment;
                        response.members = joined
                            .members
                            .iter()
                            .map(|m| {
                                let mut member =
                                    km::join_group_response::JoinGroupResponseMember::default();
                                member.member_id = str_bytes(&m.member_id);
                                if version >= 5 {
                                    member.group_instance_id =
                                        m.group_instance_id.as_deref().map(str_bytes);
                                }
                                member.metadata = m.metadata.clone();
                                member
                            })
                            .collect();
                    }
                    outcome_error(&outcome, answer.result.as_ref().err())
                }
                Outcome::Answer(_) => mismatch("join group"),
                Outcome::Error(..) => outcome_error(&outcome, None),
            };
            response.error_code = error;
            km::ResponseKind::JoinGroup(response)
        }
        RequestKind::SyncGroup(_) => {
            let outcome = next();
            let mut response = km::SyncGroupResponse::default();
            let (error, _) = match &outcome {
                Outcome::Answer(Response::SyncGroup(answer)) => {
                    if let Ok(assignment) = &answer.result {
                        response.assignment = assignment.clone();
                    }
                    outcome_error(&outcome, answer.result.as_ref().err())
                }
                Outcome::Answer(_) => mismatch("sync group"),
                Outcome::Error(..) => outcome_error(&outcome, None),
            };
            response.error_code = error;
            km::ResponseKind::SyncGroup(response)
        }
        RequestKind::Heartbeat(_) => {
            let outcome = next();
            let (error, _) = match &outcome {
                Outcome::Answer(Response::HeartbeatGroup(answer)) => {
                    outcome_error(&outcome, answer.result.as_ref().err())
                }
                Outcome::Answer(_) => mismatch("heartbeat"),
                Outcome::Error(..) => outcome_error(&outcome, None),
            };
            let mut response = km::HeartbeatResponse::default();
            response.error_code = error;
            km::ResponseKind::Heartbeat(response)
        }
        RequestKind::LeaveGroup(r) => {
            let mut response = km::LeaveGroupResponse::default();
            let leave_error = |outcome: &Outcome| match outcome {
                Outcome::Answer(Response::LeaveGroup(answer)) => {
                    outcome_error(outcome, answer.result.as_ref().err()).0
                }
                Outcome::Answer(_) => mismatch("leave group").0,
                Outcome::Error(..) => outcome_error(outcome, None).0,
            };
            if r.group_id.0.is_empty() {
                response.error_code = leave_error(&next());
                return km::ResponseKind::LeaveGroup(response);
            }
            if version < 3 {
                response.error_code = leave_error(&next());
                return km::ResponseKind::LeaveGroup(response);
            }
            // v3+: an error per member; the coordinator's own unavailability (every member's
            // answer) is the request's error, as Kafka's.
            for m in &r.members {
                let mut member = km::leave_group_response::MemberResponse::default();
                member.member_id = m.member_id.clone();
                member.group_instance_id = m.group_instance_id.clone();
                member.error_code = leave_error(&next());
                response.members.push(member);
            }
            let group_level = |code: i16| {
                code == code::COORDINATOR_NOT_AVAILABLE
                    || code == code::COORDINATOR_LOAD_IN_PROGRESS
            };
            if let Some(first) = response.members.first() {
                if response.members.iter().all(|m| group_level(m.error_code)) {
                    response.error_code = first.error_code;
                }
            }
            km::ResponseKind::LeaveGroup(response)
        }
        RequestKind::DescribeGroups(r) => describe_groups_response(version, r, &mut next),
        RequestKind::ListGroups(_) => list_groups_response(config, version, &mut next),
        RequestKind::CreateTopics(r) => {
            let mut response = km::CreateTopicsResponse::default();
            for topic in &r.topics {
                let outcome = next();
                let mut t = km::create_topics_response::CreatableTopicResult::default();
                t.name = topic.name.clone();
                let (error, message) = match &outcome {
                    Outcome::Answer(Response::CreateTopic(answer)) => {
                        outcome_error(&outcome, answer.result.as_ref().err())
                    }
                    Outcome::Answer(_) => mismatch("create topic"),
                    Outcome::Error(..) => outcome_error(&outcome, None),
                };
                t.error_code = error;
                t.error_message = message.map(|m| str_bytes(&m));
                if version >= 5 {
                    if error == code::NONE {
                        t.num_partitions = if topic.num_partitions == -1 {
                            1
                        } else {
                            topic.num_partitions
                        };
                        t.replication_factor = if topic.replication_factor == -1 {
                            1
                        } else {
                            topic.replication_factor
                        };
                        t.configs = Some(Vec::new());
                    } else {
                        t.num_partitions = -1;
                        t.replication_factor = -1;
                        t.configs = None;
                    }
                }
                response.topics.push(t);
            }
            km::ResponseKind::CreateTopics(response)
        }
        RequestKind::CreatePartitions(r) => {
            let mut response = km::CreatePartitionsResponse::default();
            for topic in &r.topics {
                let outcome = next();
                let mut t = km::create_partitions_response::CreatePartitionsTopicResult::default();
                t.name = topic.name.clone();
                let (error, message) = match &outcome {
                    Outcome::Answer(Response::CreatePartitions(answer)) => match &answer.result {
                        // Kafka answers a count that does not grow with INVALID_PARTITIONS.
                        Err(ErrorCode::InvalidRequest { reason }) => {
                            (code::INVALID_PARTITIONS, Some(reason.clone()))
                        }
                        result => outcome_error(&outcome, result.as_ref().err()),
                    },
                    Outcome::Answer(_) => mismatch("create partitions"),
                    Outcome::Error(..) => outcome_error(&outcome, None),
                };
                t.error_code = error;
                t.error_message = message.map(|m| str_bytes(&m));
                response.results.push(t);
            }
            km::ResponseKind::CreatePartitions(response)
        }
        // Not served: on_frame closes the connection before planning.
        _ => api_versions_response(code::UNKNOWN_SERVER_ERROR),
    }
}

fn metadata_response(
    config: &GatewayConfig,
    version: i16,
    request: &km::MetadataRequest,
    outcome: Outcome,
) -> km::ResponseKind {
    let (metadata, topic_error): (ClusterMetadata, Option<i16>) = match outcome {
        Outcome::Answer(Response::Metadata(answer)) => (answer.metadata, None),
        Outcome::Answer(_) => (ClusterMetadata::default(), Some(code::UNKNOWN_SERVER_ERROR)),
        Outcome::Error(code, _) => (ClusterMetadata::default(), Some(code)),
    };
    let mut response = km::MetadataResponse::default();
    let mut brokers = metadata.brokers.clone();
    if !brokers.iter().any(|(id, _)| *id == config.broker_id) {
        // This broker answers, so it is up (its metadata may not list it yet).
        brokers.push((config.broker_id, config.broker_addr));
        brokers.sort();
    }
    let live: BTreeSet<BrokerId> = brokers.iter().map(|(id, _)| *id).collect();
    for (id, internal) in &brokers {
        let addr = config.advertised_addr(*id, *internal);
        let mut broker = km::metadata_response::MetadataResponseBroker::default();
        broker.node_id = km::BrokerId(*id as i32);
        broker.host = str_bytes(&addr.ip().to_string());
        broker.port = addr.port() as i32;
        if version >= 1 {
            broker.rack = Some(str_bytes(&format!("rack-{id}")));
        }
        response.brokers.push(broker);
    }
    if version >= 2 {
        response.cluster_id = Some(StrBytes::from_static_str("streamsim"));
    }
    // The controller is inside the simulation; this broker takes admin requests and forwards
    // them, so clients are told it is the controller.
    response.controller_id = km::BrokerId(config.broker_id as i32);
    let describe = |topic: &protocol::api::TopicMetadata| {
        let mut t = km::metadata_response::MetadataResponseTopic::default();
        t.name = Some(topic_name(&topic.name));
        for p in &topic.partitions {
            let mut mp = km::metadata_response::MetadataResponsePartition::default();
            mp.partition_index = p.partition as i32;
            mp.leader_id = km::BrokerId(p.leader.map_or(-1, |l| l as i32));
            mp.error_code = if p.leader.is_some() {
                code::NONE
            } else {
                code::LEADER_NOT_AVAILABLE
            };
            if version >= 7 {
                mp.leader_epoch = p.leader_epoch as i32;
            }
            mp.replica_nodes = p.replicas.iter().map(|r| km::BrokerId(*r as i32)).collect();
            mp.isr_nodes = p.isr.iter().map(|r| km::BrokerId(*r as i32)).collect();
            if version >= 5 {
                mp.offline_replicas = p
                    .replicas
                    .iter()
                    .filter(|r| !live.contains(r))
                    .map(|r| km::BrokerId(*r as i32))
                    .collect();
            }
            t.partitions.push(mp);
        }
        t
    };
    let all = match &request.topics {
        None => true,
        Some(list) => list.is_empty() && version == 0,
    };
    if all {
        if topic_error.is_none() {
            response.topics = metadata.topics.iter().map(describe).collect();
        }
    } else {
        for requested in request.topics.iter().flatten() {
            let Some(name) = &requested.name else {
                // A topic id lookup (v10+): streamsim has no topic ids.
                let mut t = km::metadata_response::MetadataResponseTopic::default();
                t.topic_id = requested.topic_id;
                t.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
                response.topics.push(t);
                continue;
            };
            match (topic_error, metadata.topic(name.0.as_str())) {
                (None, Some(topic)) => response.topics.push(describe(topic)),
                (error, _) => {
                    let mut t = km::metadata_response::MetadataResponseTopic::default();
                    t.name = Some(name.clone());
                    t.error_code = error.unwrap_or(code::UNKNOWN_TOPIC_OR_PARTITION);
                    response.topics.push(t);
                }
            }
        }
    }
    km::ResponseKind::Metadata(response)
}

fn find_coordinator_response(
    config: &GatewayConfig,
    version: i16,
    request: &km::FindCoordinatorRequest,
) -> km::ResponseKind {
    let me = config.advertised_addr(config.broker_id, config.broker_addr);
    // Every group's coordinator is this broker (it forwards to the controller); transactions
    // (key type 1) are not supported.
    let answer = |key_type: i8| -> (i16, Option<String>) {
        match key_type {
            0 => (code::NONE, None),
            1 => (
                code::INVALID_REQUEST,
                Some("transactions are not supported".into()),
            ),
            other => (
                code::INVALID_REQUEST,
                Some(format!("unknown coordinator key type {other}")),
            ),
        }
    };
    let mut response = km::FindCoordinatorResponse::default();
    if version >= 4 {
        for key in &request.coordinator_keys {
            let (error, message) = answer(request.key_type);
            let mut c = km::find_coordinator_response::Coordinator::default();
            c.key = key.clone();
            c.error_code = error;
            c.error_message = message.map(|m| str_bytes(&m));
            if error == code::NONE {
                c.node_id = km::BrokerId(config.broker_id as i32);
                c.host = str_bytes(&me.ip().to_string());
                c.port = me.port() as i32;
            } else {
                c.node_id = km::BrokerId(-1);
                c.port = -1;
            }
            response.coordinators.push(c);
        }
    } else {
        let key_type = if version >= 1 { request.key_type } else { 0 };
        let (error, message) = answer(key_type);
        response.error_code = error;
        if version >= 1 {
            response.error_message = message.map(|m| str_bytes(&m));
        }
        if error == code::NONE {
            response.node_id = km::BrokerId(config.broker_id as i32);
            response.host = str_bytes(&me.ip().to_string());
            response.port = me.port() as i32;
        } else {
            response.node_id = km::BrokerId(-1);
            response.port = -1;
        }
    }
    km::ResponseKind::FindCoordinator(response)
}

/// DescribeGroups: every asked group as the coordinator describes it, in the asked order.
fn describe_groups_response(
    version: i16,
    request: &km::DescribeGroupsRequest,
    next: &mut impl FnMut() -> Outcome,
) -> km::ResponseKind {
    let mut response = km::DescribeGroupsResponse::default();
    if request.groups.is_empty() {
        return km::ResponseKind::DescribeGroups(response);
    }
    let outcome = next();
    let (error, described) = match &outcome {
        Outcome::Answer(Response::DescribeGroups(answer)) => (
            outcome_error(&outcome, answer.result.as_ref().err()).0,
            answer.result.as_ref().ok(),
        ),
        Outcome::Answer(_) => (mismatch("describe groups").0, None),
        Outcome::Error(..) => (outcome_error(&outcome, None).0, None),
    };
    // Without an authorizer every operation on a group is allowed: READ (3), DELETE (6) and
    // DESCRIBE (8), as Kafka's bit set; i32::MIN when the client did not ask.
    let operations = if version >= 3 && request.include_authorized_operations {
        (1 << 3) | (1 << 6) | (1 << 8)
    } else {
        i32::MIN
    };
    for (index, id) in request.groups.iter().enumerate() {
        let mut group = km::describe_groups_response::DescribedGroup::default();
        group.group_id = id.clone();
        group.authorized_operations = operations;
        match described.and_then(|groups| groups.get(index)) {
            Some(found) if error == code::NONE => {
                group.group_state = str_bytes(&found.state);
                group.protocol_type = str_bytes(&found.protocol_type);
                group.protocol_data = str_bytes(&found.protocol);
                for member in &found.members {
                    let mut m = km::describe_groups_response::DescribedGroupMember::default();
                    m.member_id = str_bytes(&member.member_id);
                    if version >= 4 {
                        m.group_instance_id = member.group_instance_id.as_deref().map(str_bytes);
                    }
                    m.client_id = str_bytes(&member.client_id);
                    m.client_host = str_bytes("");
                    m.member_metadata = member.metadata.clone();
                    m.member_assignment = member.assignment.clone();
                    group.members.push(m);
                }
            }
            _ => {
                group.error_code = if error == code::NONE {
                    code::UNKNOWN_SERVER_ERROR
                } else {
                    error
                };
                group.group_state = str_bytes("");
            }
        }
        response.groups.push(group);
    }
    km::ResponseKind::DescribeGroups(response)
}

/// ListGroups: the groups whose home this broker is. Every broker forwards group requests to
/// the one coordinator, so each would list every group, and clients that ask every broker and
/// join the answers (admin clients) would see each group once per broker: a group's home is
/// the live broker its id hashes to, as Kafka's coordinator is the leader of the
/// `__consumer_offsets` partition the id hashes to.
fn list_groups_response(
    config: &GatewayConfig,
    version: i16,
    next: &mut impl FnMut() -> Outcome,
) -> km::ResponseKind {
    let mut response = km::ListGroupsResponse::default();
    let brokers: Vec<BrokerId> = match next() {
        Outcome::Answer(Response::Metadata(answer)) => {
            let mut ids: Vec<BrokerId> =
                answer.metadata.brokers.iter().map(|(id, _)| *id).collect();
            ids.sort_unstable();
            ids
        }
        _ => Vec::new(),
    };
    let outcome = next();
    let listed = match &outcome {
        Outcome::Answer(Response::ListGroups(answer)) => {
            response.error_code = outcome_error(&outcome, answer.result.as_ref().err()).0;
            answer.result.as_ref().ok()
        }
        Outcome::Answer(_) => {
            response.error_code = mismatch("list groups").0;
            None
        }
        Outcome::Error(..) => {
            response.error_code = outcome_error(&outcome, None).0;
            None
        }
    };
    let home = |group: &str| -> Option<BrokerId> {
        let index = protocol::stable_hash(group.as_bytes()) % brokers.len().max(1) as u64;
        brokers.get(index as usize).copied()
    };
    for (id, protocol_type, state) in listed.into_iter().flatten() {
        // Without the broker list (its answer lost), every group is listed here.
        if !brokers.is_empty() && home(id) != Some(config.broker_id) {
            continue;
        }
        let mut group = km::list_groups_response::ListedGroup::default();
        group.group_id = km::GroupId(str_bytes(id));
        group.protocol_type = str_bytes(protocol_type);
        if version >= 4 {
            group.group_state = str_bytes(state);
        }
        response.groups.push(group);
    }
    km::ResponseKind::ListGroups(response)
}
