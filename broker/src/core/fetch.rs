//! Serving fetches: followers fetching from this leader, consumers reading below the high
//! watermark, KIP-392 fetch-from-follower (the leader's preferred read replica and a follower
//! serving a consumer), reads planned now and executed after the disk delay, fetches held until
//! data arrives (long poll), and `ListOffsets`.

use super::leader::LeaderState;
use super::{error_code, BrokerCore, Observation, Role};
use crate::api::*;
use crate::log::{ReadPlan, ReadResult};
use crate::policy::ConsumerFetchRangePolicy;
use crate::storage::Storage;
use bytes::Bytes;
use std::net::SocketAddr;

/// A fetch held until data arrives or its wait ends (long poll).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParkedFetch {
    pub(super) to: SocketAddr,
    pub(super) correlation_id: u64,
    pub(super) request: FetchRequest,
    pub(super) deadline_ms: u64,
}

/// [`ConsumerFetchRangePolicy::EndBeforeLatestAppend`]: how long after an append the consumer
/// fetch check still reads the log end from before it. Long enough for the followers to fetch the
/// append and the high watermark to pass the old end, and a caught-up consumer to ask beyond it.
pub const UNPUBLISHED_APPEND_MS: u64 = 50;

/// [`ConsumerFetchRangePolicy::EndBeforeLatestAppend`]: an append whose end the consumer fetch
/// check does not see yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UnpublishedAppend {
    /// The log end before the append.
    pub(super) end_before: u64,
    /// The check sees the current end from this time on.
    pub(super) published_at_ms: u64,
}

impl UnpublishedAppend {
    /// Notes an append that moved the log end from `end_before` at `now_ms`.
    pub(super) fn note(
        policy: ConsumerFetchRangePolicy,
        slot: &mut Option<UnpublishedAppend>,
        end_before: u64,
        now_ms: u64,
    ) {
        match policy {
            ConsumerFetchRangePolicy::CurrentLogEnd => {}
            ConsumerFetchRangePolicy::EndBeforeLatestAppend => {
                *slot = Some(UnpublishedAppend {
                    end_before,
                    published_at_ms: now_ms + UNPUBLISHED_APPEND_MS,
                })
            }
        }
    }

    /// The log end a consumer fetch is checked against at `now_ms`.
    fn checked_end(slot: Option<UnpublishedAppend>, log_end: u64, now_ms: u64) -> u64 {
        match slot {
            Some(append) if now_ms < append.published_at_ms => append.end_before.min(log_end),
            _ => log_end,
        }
    }
}

/// Most fetches a broker holds at once; more are answered at once.
const PARKED_FETCHES_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingRead {
    pub(super) to: SocketAddr,
    pub(super) correlation_id: u64,
    pub(super) request: FetchRequest,
    pub(super) plan: ReadPlan,
    pub(super) execute_at_ms: u64,
}

impl<S: Storage + Clone> BrokerCore<S> {
    /// A fetch, held (parked) when it finds nothing yet and may wait: `None` when it is held or
    /// its read is delayed (either answers later).
    pub(super) fn fetch_or_park(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: FetchRequest,
        read_delay_ms: u64,
    ) -> Option<FetchResponse> {
        let max_wait_ms = request.max_wait_ms.min(self.config.fetch_max_wait_ms);
        let parked = request.clone();
        match self.fetch(now_ms, from, correlation_id, request, read_delay_ms) {
            Some(response)
                if max_wait_ms > 0
                    && matches!(&response.result, Ok(batches) if batches.is_empty())
                    && response.preferred_read_replica.is_none()
                    && self.parked_fetches.len() < PARKED_FETCHES_MAX =>
            {
                // Nothing yet: hold it until data arrives or the wait ends.
                self.parked_fetches.push(ParkedFetch {
                    to: from,
                    correlation_id,
                    request: parked,
                    deadline_ms: now_ms + max_wait_ms,
                });
                None
            }
            other => other,
        }
    }

    /// Answers the held fetches that have data now, whose replica changed role, or whose wait
    /// is over.
    pub(super) fn service_parked_fetches(&mut self, now_ms: u64) {
        // Most events leave every held fetch waiting: look before moving them.
        let Some(first_ready) = self
            .parked_fetches
            .iter()
            .position(|fetch| self.parked_fetch_ready(now_ms, fetch))
        else {
            return;
        };
        // Those before the first ready one were just looked at, before any answer: they wait on.
        let mut still = std::mem::take(&mut self.parked_fetches);
        let rest = still.split_off(first_ready);
        for (index, fetch) in rest.into_iter().enumerate() {
            if index == 0 || self.parked_fetch_ready(now_ms, &fetch) {
                let mut request = fetch.request;
                request.max_wait_ms = 0;
                // None: a delayed read answers later.
                if let Some(response) =
                    self.fetch(now_ms, fetch.to, fetch.correlation_id, request, 0)
                {
                    self.respond(fetch.to, fetch.correlation_id, Response::Fetch(response))
                }
            } else {
                still.push(fetch);
            }
        }
        // Answers above may have been parked again by nothing; keep the rest in order.
        still.append(&mut self.parked_fetches);
        self.parked_fetches = still;
    }

    /// Whether a held fetch is to be answered now: its wait is over, it has data, or its
    /// replica changed role or went away.
    fn parked_fetch_ready(&self, now_ms: u64, fetch: &ParkedFetch) -> bool {
        now_ms >= fetch.deadline_ms
            || match self.replicas.get(&fetch.request.partition) {
                None => true,
                Some(replica) => match (&replica.role, fetch.request.replica_id) {
                    (Role::Leader(_), Some(_)) => {
                        replica.log.log_end_offset() > fetch.request.offset
                    }
                    (Role::Follower(_), Some(_)) => true,
                    (_, None) => replica.high_watermark > fetch.request.offset,
                },
            }
    }

    fn fetch(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        correlation_id: u64,
        request: FetchRequest,
        read_delay_ms: u64,
    ) -> Option<FetchResponse> {
        let me = self.config.broker_id;
        let partition = request.partition.clone();
        let Some(replica) = self.replicas.get_mut(&partition) else {
            let known = self.metadata.partition(&partition).is_some();
            return Some(fetch_error(
                if known {
                    ErrorCode::NotLeaderOrFollower
                } else {
                    ErrorCode::UnknownTopicOrPartition
                },
                0,
                0,
                0,
            ));
        };
        let high_watermark = replica.high_watermark;
        let log_start = replica.log.log_start_offset();
        let log_end = replica.log.log_end_offset();
        let epoch = replica.leader_epoch;
        let error = |code| Some(fetch_error(code, high_watermark, log_start, epoch));
        if let Err(code) = Self::check_epoch(replica, request.current_leader_epoch) {
            return error(code);
        }
        if request.max_bytes == 0 || request.max_bytes > self.config.fetch_bytes_max {
            return error(ErrorCode::InvalidRequest {
                reason: format!(
                    "fetch size {} outside 1..={}",
                    request.max_bytes, self.config.fetch_bytes_max
                ),
            });
        }

        if let Some(follower) = request.replica_id {
            // A follower fetching from us, the leader.
            let Role::Leader(leader) = &mut replica.role else {
                return error(ErrorCode::NotLeaderOrFollower);
            };
            let Some(progress) = leader.followers.get_mut(&follower) else {
                return error(ErrorCode::NotLeaderOrFollower);
            };
            if request.offset < log_start || request.offset > log_end {
                return error(ErrorCode::OffsetOutOfRange);
            }
            if request.offset >= progress.leader_end_at_last_fetch {
                progress.last_caught_up_ms = progress.last_fetch_ms;
            }
            if request.offset >= log_end {
                progress.last_caught_up_ms = now_ms;
            }
            tracing::trace!(
                broker = me,
                %partition,
                follower,
                offset = request.offset,
                log_end,
                high_watermark,
                "follower fetch"
            );
            progress.last_fetch_ms = now_ms;
            progress.leader_end_at_last_fetch = log_end;
            progress.log_end = request.offset;
            if let Some(follower_start) = request.replica_log_start_offset {
                progress.log_start = follower_start;
            }
            if let Some(epoch) = request.replica_epoch {
                progress.broker_epoch = epoch;
            }
            let max_bytes = request.max_bytes.min(self.config.replica_fetch_bytes_max);
            let result = match replica.log.read(request.offset, max_bytes) {
                Ok(read) => Ok(stored_bytes(read, u64::MAX)),
                Err(read_error) => Err(error_code(&read_error)),
            };
            self.maybe_expand_isr(now_ms, &partition, follower);
            self.advance_high_watermark(now_ms, &partition);
            let replica = &self.replicas[&partition];
            return Some(FetchResponse {
                result,
                high_watermark: replica.high_watermark,
                log_start_offset: replica.log.log_start_offset(),
                leader_epoch: replica.leader_epoch,
                preferred_read_replica: None,
            });
        }

        // A consumer.
        match &replica.role {
            Role::Leader(leader) => {
                // Beyond the log end is out of range; between the high watermark and the log
                // end there is simply nothing committed to read yet (answered empty below).
                let checked_end =
                    UnpublishedAppend::checked_end(replica.unpublished_append, log_end, now_ms);
                if request.offset > checked_end {
                    return error(ErrorCode::OffsetOutOfRange);
                }
                if request.offset >= log_start {
                    if let Some(rack) = &request.rack {
                        let alive = &self.metadata.brokers;
                        if let Some(preferred) =
                            preferred_read_replica(leader, rack, request.offset, me, alive)
                        {
                            self.observe(Observation::PreferredReplicaChosen {
                                partition: partition.clone(),
                                leader: me,
                                replica: preferred,
                            });
                            return Some(FetchResponse {
                                result: Ok(Vec::new()),
                                high_watermark,
                                log_start_offset: log_start,
                                leader_epoch: epoch,
                                preferred_read_replica: Some(preferred),
                            });
                        }
                    }
                }
            }
            Role::Follower(follower) => {
                // KIP-392: serve a consumer from a follower.
                if request.offset < log_start {
                    return error(ErrorCode::OffsetOutOfRange);
                }
                if request.offset > high_watermark {
                    // Behind: we hold it uncommitted, or the leader has committed it and we
                    // have not caught up. Beyond both: out of range (the consumer must go
                    // back to the leader, KIP-392 case 4).
                    let known_end = log_end.max(follower.leader_high_watermark);
                    return error(if request.offset <= known_end {
                        ErrorCode::OffsetNotAvailable
                    } else {
                        ErrorCode::OffsetOutOfRange
                    });
                }
            }
        }
        if request.offset >= high_watermark {
            // Nothing new yet.
            return Some(FetchResponse {
                result: Ok(Vec::new()),
                high_watermark,
                log_start_offset: log_start,
                leader_epoch: epoch,
                preferred_read_replica: None,
            });
        }
        match replica.log.plan_read(request.offset, request.max_bytes) {
            Err(read_error) => {
                let code = error_code(&read_error);
                self.note_evicted(&partition, request.offset, &code);
                error(code)
            }
            Ok(plan) => {
                if read_delay_ms == 0 {
                    Some(self.execute_read(&partition, request.offset, plan))
                } else {
                    self.pending_reads.push_back(PendingRead {
                        to: from,
                        correlation_id,
                        request,
                        plan,
                        execute_at_ms: now_ms + read_delay_ms,
                    });
                    None
                }
            }
        }
    }

    fn note_evicted(&mut self, partition: &TopicPartition, offset: u64, code: &ErrorCode) {
        if let ErrorCode::OffsetEvicted { next_available } = code {
            self.observe(Observation::EvictedOffsetRequested {
                partition: partition.clone(),
                broker: self.config.broker_id,
                offset,
                next_available: *next_available,
            });
        }
    }

    /// Reads a planned fetch, limited to the high watermark *now*.
    fn execute_read(
        &mut self,
        partition: &TopicPartition,
        offset: u64,
        plan: ReadPlan,
    ) -> FetchResponse {
        let Some(replica) = self.replicas.get_mut(partition) else {
            return fetch_error(ErrorCode::NotLeaderOrFollower, 0, 0, 0);
        };
        let high_watermark = replica.high_watermark;
        let log_start = replica.log.log_start_offset();
        let epoch = replica.leader_epoch;
        let result = match replica.log.execute_read(&plan) {
            Ok(read) => Ok(stored_bytes(read, high_watermark)),
            Err(read_error) => Err(error_code(&read_error)),
        };
        if let Err(code) = &result {
            self.note_evicted(partition, offset, &code.clone());
        }
        FetchResponse {
            result,
            high_watermark,
            log_start_offset: log_start,
            leader_epoch: epoch,
            preferred_read_replica: None,
        }
    }

    pub(super) fn execute_due_reads(&mut self, now_ms: u64) {
        while self
            .pending_reads
            .front()
            .is_some_and(|read| read.execute_at_ms <= now_ms)
        {
            let read = self.pending_reads.pop_front().expect("checked");
            let response =
                self.execute_read(&read.request.partition, read.request.offset, read.plan);
            self.respond(read.to, read.correlation_id, Response::Fetch(response));
        }
    }

    pub(super) fn list_offsets(&mut self, request: ListOffsetsRequest) -> ListOffsetsResponse {
        let Some(replica) = self.replicas.get(&request.partition) else {
            let known = self.metadata.partition(&request.partition).is_some();
            return ListOffsetsResponse {
                result: Err(if known {
                    ErrorCode::NotLeaderOrFollower
                } else {
                    ErrorCode::UnknownTopicOrPartition
                }),
            };
        };
        if !replica.is_leader() {
            return ListOffsetsResponse {
                result: Err(ErrorCode::NotLeaderOrFollower),
            };
        }
        if let Err(error) = Self::check_epoch(replica, request.current_leader_epoch) {
            return ListOffsetsResponse { result: Err(error) };
        }
        ListOffsetsResponse {
            result: Ok(match request.spec {
                OffsetSpec::Earliest => replica.log.log_start_offset(),
                OffsetSpec::Latest => replica.high_watermark,
                OffsetSpec::LogEnd => replica.log.log_end_offset(),
            }),
        }
    }
}

/// KIP-392 with KAFKA-14372: an in-sync follower on the consumer's rack that holds the offset,
/// and that the cluster's metadata lists as alive (Kafka's `ReplicaManager` asks its metadata
/// cache for the node): a consumer cannot reach a broker its metadata does not list, and would
/// come back to the leader to be sent away again, without data (swarm seed 1998).
fn preferred_read_replica(
    leader: &LeaderState,
    rack: &str,
    offset: u64,
    me: BrokerId,
    alive: &[(BrokerId, std::net::SocketAddr)],
) -> Option<BrokerId> {
    leader
        .isr
        .iter()
        .filter(|&&b| b != me)
        .filter(|&&b| alive.iter().any(|&(id, _)| id == b))
        .filter(|b| format!("rack-{b}") == rack)
        .find(|b| {
            leader
                .followers
                .get(b)
                .is_some_and(|p| p.log_start <= offset && offset <= p.log_end)
        })
        .copied()
}

fn fetch_error(
    code: ErrorCode,
    high_watermark: u64,
    log_start_offset: u64,
    leader_epoch: u32,
) -> FetchResponse {
    FetchResponse {
        result: Err(code),
        high_watermark,
        log_start_offset,
        leader_epoch,
        preferred_read_replica: None,
    }
}

/// The stored bytes of a read's batches, as they are, keeping those that start below `end_offset`.
fn stored_bytes(read: ReadResult, end_offset: u64) -> Vec<Bytes> {
    read.batches
        .into_iter()
        .filter(|batch| batch.header.base_offset < end_offset)
        .map(|batch| batch.bytes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::leader::{FollowerProgress, LeaderState};
    use super::preferred_read_replica;
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    fn leader() -> LeaderState {
        let progress = FollowerProgress {
            log_end: 10,
            log_start: 0,
            last_caught_up_ms: 0,
            last_fetch_ms: 0,
            leader_end_at_last_fetch: 10,
            broker_epoch: 1,
        };
        LeaderState {
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            proposal: None,
            followers: BTreeMap::from([(2, progress.clone()), (3, progress)]),
        }
    }

    fn alive(brokers: &[u32]) -> Vec<(u32, SocketAddr)> {
        brokers
            .iter()
            .map(|&id| (id, SocketAddr::from(([10, 0, 0, id as u8], 9092))))
            .collect()
    }

    #[test]
    fn the_preferred_replica_is_an_in_sync_follower_on_the_rack_holding_the_offset() {
        assert_eq!(
            preferred_read_replica(&leader(), "rack-2", 5, 1, &alive(&[1, 2, 3])),
            Some(2)
        );
        assert_eq!(
            preferred_read_replica(&leader(), "rack-2", 11, 1, &alive(&[1, 2, 3])),
            None
        );
        assert_eq!(
            preferred_read_replica(&leader(), "rack-1", 5, 1, &alive(&[1, 2, 3])),
            None
        );
    }

    /// Kafka's `ReplicaManager` names only brokers its metadata lists as alive: a consumer could
    /// not reach another one, and would be sent back and forth without data (swarm seed 1998).
    #[test]
    fn a_broker_the_metadata_does_not_list_as_alive_is_never_preferred() {
        assert_eq!(
            preferred_read_replica(&leader(), "rack-2", 5, 1, &alive(&[1, 3])),
            None
        );
    }
}
