//! The sans-IO gateway: Kafka request frames in, internal requests out, internal answers in,
//! Kafka response frames out.
//!
//! One [`Gateway`] serves every Kafka connection of one broker. Its host feeds it the bytes each
//! connection reads ([`Gateway::on_bytes`]), the internal answers its socket receives
//! ([`Gateway::on_message`]) and timer ticks ([`Gateway::on_tick`]), and performs what
//! [`Gateway::take_outputs`] returns: response frames to write, connections to close, internal
//! requests to send. It never reads a clock or touches a socket.
//!
//! A Kafka request fans out into one internal request per partition (per request for the
//! group APIs, which streamsim's controller answers as a whole); once every part is answered or
//! timed out the Kafka response is assembled from them in the request's order.
//!
//! Like Kafka's broker, which mutes a connection while one of its requests is being handled,
//! the gateway handles at most [`GatewayConfig::max_in_flight_per_connection`] requests of a
//! connection at a time (1 by default, as Kafka); later frames wait in the connection's buffer.
//! Responses leave in request order whatever the setting.

use crate::errors::{code, kafka_error};
use crate::frame::{encode_frame, FrameDecoder, FrameError};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{self as km, ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use protocol::api::{
    Acks, BrokerId, ClusterMetadata, Envelope, ErrorCode, OffsetSpec, Request, Response,
    TopicPartition,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// A Kafka connection, numbered by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// What the gateway asks its host to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayOutput {
    /// Write one whole response frame (size prefix included) to the connection.
    Write { conn: ConnId, bytes: Bytes },
    /// Close the connection (bad input); the gateway has forgotten it.
    Close { conn: ConnId, reason: String },
    /// Send an internal request.
    Send { to: SocketAddr, envelope: Envelope },
}

/// The gateway's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The broker the gateway fronts.
    pub broker_id: BrokerId,
    /// The local broker core's internal address.
    pub broker_addr: SocketAddr,
    /// The controller's internal address (group, producer id and admin requests).
    pub controller_addr: SocketAddr,
    /// The Kafka address each broker advertises; a broker not named advertises its internal
    /// address's IP with [`GatewayConfig::kafka_port`].
    pub advertised: BTreeMap<BrokerId, SocketAddr>,
    /// The Kafka port of brokers without an advertised address.
    pub kafka_port: u16,
    /// How long an internal request may go unanswered (on top of the wait the Kafka request
    /// itself asks for: a produce's timeout, a fetch's max wait).
    pub request_timeout: Duration,
    /// The largest request frame (Kafka's `socket.request.max.bytes`).
    pub max_frame_bytes: usize,
    /// Requests of one connection handled at once (Kafka: 1, the channel is muted meanwhile).
    pub max_in_flight_per_connection: usize,
}

impl GatewayConfig {
    pub fn new(
        broker_id: BrokerId,
        broker_addr: SocketAddr,
        controller_addr: SocketAddr,
        kafka_port: u16,
    ) -> GatewayConfig {
        GatewayConfig {
            broker_id,
            broker_addr,
            controller_addr,
            advertised: BTreeMap::new(),
            kafka_port,
            request_timeout: Duration::from_secs(5),
            max_frame_bytes: crate::frame::MAX_FRAME_BYTES,
            max_in_flight_per_connection: 1,
        }
    }

    /// The Kafka address broker `id` (internal address `internal`) advertises.
    pub fn advertised_addr(&self, id: BrokerId, internal: SocketAddr) -> SocketAddr {
        self.advertised
            .get(&id)
            .copied()
            .unwrap_or_else(|| SocketAddr::new(internal.ip(), self.kafka_port))
    }
}

/// The APIs served and their versions: exactly what ApiVersions advertises.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::CreatePartitions, 0, 3),
];

/// The version range served for `key`, if it is served.
pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, min, max)| (*min, *max))
}

/// The outcome of one part of a Kafka request.
#[derive(Debug, Clone)]
enum Outcome {
    /// The internal answer.
    Answer(Response),
    /// A Kafka error code decided without (or instead of) an answer, with a message.
    Error(i16, Option<String>),
}

/// Where an internal request goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    Broker,
    Controller,
}

/// One part of a plan: an internal request, or an outcome known at once.
enum Part {
    Send {
        target: Target,
        request: Request,
        /// How long the request itself may wait (produce timeout, fetch max wait).
        wait: Duration,
        /// The Kafka error answered if no answer comes in time.
        on_timeout: i16,
    },
    Ready(Outcome),
}

struct Job {
    conn: ConnId,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    request: RequestKind,
    outcomes: Vec<Option<Outcome>>,
    waiting: usize,
    /// Some once complete: the response frame, or None (acks=0 produce: no response).
    done: Option<Option<Bytes>>,
}

struct Outstanding {
    job: u64,
    part: usize,
    from: SocketAddr,
    deadline: Duration,
    on_timeout: i16,
}

struct Conn {
    decoder: FrameDecoder,
    /// Jobs in request order.
    jobs: VecDeque<u64>,
}

/// The Kafka gateway of one broker. See the module docs.
pub struct Gateway {
    config: GatewayConfig,
    conns: BTreeMap<ConnId, Conn>,
    jobs: BTreeMap<u64, Job>,
    next_job: u64,
    outstanding: BTreeMap<u64, Outstanding>,
    next_correlation_id: u64,
    outputs: Vec<GatewayOutput>,
}

/// Why a request frame closes its connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("request frame of {0} bytes is shorter than a request header")]
    Short(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("API {0:?} is not served")]
    NotServed(ApiKey),
    #[error("API {key:?} version {version} is not supported (served: {min}..={max})")]
    UnsupportedVersion {
        key: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("undecodable {key:?} v{version} request: {detail}")]
    Undecodable {
        key: ApiKey,
        version: i16,
        detail: String,
    },
    #[error("response to {key:?} v{version} cannot be encoded: {detail}")]
    Unencodable {
        key: ApiKey,
        version: i16,
        detail: String,
    },
    #[error("more than {0} bytes buffered on a connection")]
    Overfull(usize),
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Gateway {
        Gateway {
            config,
            conns: BTreeMap::new(),
            jobs: BTreeMap::new(),
            next_job: 1,
            outstanding: BTreeMap::new(),
            next_correlation_id: 1,
            outputs: Vec::new(),
        }
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Connections with state (open, seen at least once).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Internal requests waiting for an answer.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Bytes read from `conn`, in order. The host numbers connections and must not feed a
    /// connection again after [`GatewayOutput::Close`] (its number would start a new one).
    pub fn on_bytes(&mut self, now: Duration, conn: ConnId, bytes: &[u8]) {
        let max = self.config.max_frame_bytes;
        let state = self.conns.entry(conn).or_insert_with(|| Conn {
            decoder: FrameDecoder::new(max),
            jobs: VecDeque::new(),
        });
        state.decoder.push(bytes);
        // A client may pipeline; but not more than two largest frames' worth while we wait.
        let limit = max.saturating_mul(2).saturating_add(8);
        if state.decoder.buffered() > limit {
            self.close(conn, BadRequest::Overfull(limit));
            return;
        }
        self.pump(now, conn);
    }

    /// The connection closed (by the peer or the host): forget it and its requests.
    pub fn on_closed(&mut self, conn: ConnId) {
        self.forget(conn);
    }

    /// An internal message arrived (answers to the gateway's requests; anything else is
    /// ignored).
    pub fn on_message(&mut self, now: Duration, from: SocketAddr, envelope: Envelope) {
        let Envelope::Response {
            correlation_id,
            response,
        } = envelope
        else {
            tracing::debug!(%from, "kafka gateway ignores an internal request");
            return;
        };
        let Some(outstanding) = self.outstanding.get(&correlation_id) else {
            return; // late (timed out) or for a closed connection
        };
        if outstanding.from != from {
            tracing::debug!(%from, expected = %outstanding.from, "answer from an unexpected address ignored");
            return;
        }
        let Some(outstanding) = self.outstanding.remove(&correlation_id) else {
            return;
        };
        self.complete_part(
            now,
            outstanding.job,
            outstanding.part,
            Outcome::Answer(response),
        );
    }

    /// The timer fired: internal requests past their deadline are answered with their
    /// timeout error.
    pub fn on_tick(&mut self, now: Duration) {
        let expired: Vec<u64> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(o) = self.outstanding.remove(&id) {
                self.complete_part(
                    now,
                    o.job,
                    o.part,
                    Outcome::Error(
                        o.on_timeout,
                        Some("no answer from the broker core or controller in time".into()),
                    ),
                );
            }
        }
    }

    /// When the timer should fire next (the earliest internal deadline), if ever.
    pub fn next_tick(&self) -> Option<Duration> {
        self.outstanding.values().map(|o| o.deadline).min()
    }

    /// Moves the outputs, in the order they must be performed, into `outputs`.
    pub fn take_outputs(&mut self, outputs: &mut Vec<GatewayOutput>) {
        outputs.append(&mut self.outputs);
    }

    // ---- connections -------------------------------------------------------------------------

    fn close(&mut self, conn: ConnId, reason: BadRequest) {
        tracing::info!(%conn, %reason, "closing kafka connection");
        self.forget(conn);
        self.outputs.push(GatewayOutput::Close {
            conn,
            reason: reason.to_string(),
        });
    }

    fn forget(&mut self, conn: ConnId) {
        let Some(state) = self.conns.remove(&conn) else {
            return;
        };
        let jobs: BTreeSet<u64> = state.jobs.into_iter().collect();
        for job in &jobs {
            self.jobs.remove(job);
        }
        self.outstanding.retain(|_, o| !jobs.contains(&o.job));
    }

    /// Handles buffered frames while the connection has room, then writes finished responses.
    fn pump(&mut self, now: Duration, conn: ConnId) {
        loop {
            self.flush(conn);
            let Some(state) = self.conns.get_mut(&conn) else {
                return;
            };
            if state.jobs.len() >= self.config.max_in_flight_per_connection.max(1) {
                return;
            }
            match state.decoder.next_frame() {
                Ok(None) => return,
                Ok(Some(frame)) => {
                    if let Err(error) = self.on_frame(now, conn, frame) {
                        self.close(conn, error);
                        return;
                    }
                }
                Err(error) => {
                    self.close(conn, error.into());
                    return;
                }
            }
        }
    }

    /// Writes the finished responses at the front of the connection's queue.
    fn flush(&mut self, conn: ConnId) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        while let Some(&front) = state.jobs.front() {
            let Some(done) = self.jobs.get(&front).and_then(|job| job.done.clone()) else {
                break;
            };
            state.jobs.pop_front();
            self.jobs.remove(&front);
            if let Some(bytes) = done {
                self.outputs.push(GatewayOutput::Write { conn, bytes });
            }
        }
    }

    // ---- requests ----------------------------------------------------------------------------

    fn on_frame(&mut self, now: Duration, conn: ConnId, frame: Bytes) -> Result<(), BadRequest> {
        if frame.len() < 8 {
            return Err(BadRequest::Short(frame.len()));
        }
        let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let api_key = ApiKey::try_from(raw_key).map_err(|_| BadRequest::UnknownApiKey(raw_key))?;
        let (min, max) = supported_versions(api_key).ok_or(BadRequest::NotServed(api_key))?;
        if version < min || version > max {
            if api_key == ApiKey::ApiVersions {
                // Kafka (RequestContext.isUnsupportedApiVersionsRequest): a v0 response with
                // UNSUPPORTED_VERSION and the supported ranges, so the client can pick one.
                let response = api_versions_response(code::UNSUPPORTED_VERSION);
                let bytes = encode_response(api_key, 0, correlation_id, &response)?;
                self.push_done(conn, api_key, 0, correlation_id, Some(bytes));
                return Ok(());
            }
            // Kafka's SocketServer throws UnsupportedVersionException: the connection closes.
            return Err(BadRequest::UnsupportedVersion {
                key: api_key,
                version,
                min,
                max,
            });
        }
        let undecodable = |detail: String| BadRequest::Undecodable {
            key: api_key,
            version,
            detail,
        };
        let mut body = frame;
        let header_version = api_key.request_header_version(version);
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let header = RequestHeader::decode(&mut body, header_version)?;
            let request = RequestKind::decode(api_key, &mut body, version)?;
            anyhow::Ok((header, request))
        }));
        let (header, request) = match decoded {
            Ok(Ok(decoded)) => decoded,
            Ok(Err(error)) => return Err(undecodable(error.to_string())),
            Err(_) => return Err(undecodable("the decoder panicked".into())),
        };
        debug_assert_eq!(header.correlation_id, correlation_id);
        let parts = self.plan(version, &request);
        let no_response = matches!(&request, RequestKind::Produce(p) if p.acks == 0);
        let job_id = self.next_job;
        self.next_job += 1;
        let mut job = Job {
            conn,
            api_key,
            version,
            correlation_id,
            request,
            outcomes: Vec::with_capacity(parts.len()),
            waiting: 0,
            done: None,
        };
        for (index, part) in parts.into_iter().enumerate() {
            match part {
                Part::Ready(outcome) => job.outcomes.push(Some(outcome)),
                Part::Send {
                    target,
                    request,
                    wait,
                    on_timeout,
                } => {
                    let to = match target {
                        Target::Broker => self.config.broker_addr,
                        Target::Controller => self.config.controller_addr,
                    };
                    let correlation_id = self.next_correlation_id;
                    self.next_correlation_id += 1;
                    self.outputs.push(GatewayOutput::Send {
                        to,
                        envelope: Envelope::Request {
                            correlation_id,
                            request,
                        },
                    });
                    job.outcomes.push(None);
                    if no_response {
                        // acks=0: the core never answers; nothing to wait for.
                        continue;
                    }
                    job.waiting += 1;
                    self.outstanding.insert(
                        correlation_id,
                        Outstanding {
                            job: job_id,
                            part: index,
                            from: to,
                            deadline: now + wait + self.config.request_timeout,
                            on_timeout,
                        },
                    );
                }
            }
        }
        if no_response {
            job.done = Some(None);
        }
        self.jobs.insert(job_id, job);
        if let Some(state) = self.conns.get_mut(&conn) {
            state.jobs.push_back(job_id);
        }
        self.maybe_finish(job_id)
    }

    fn push_done(
        &mut self,
        conn: ConnId,
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
        bytes: Option<Bytes>,
    ) {
        let job_id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(
            job_id,
            Job {
                conn,
                api_key,
                version,
                correlation_id,
                request: RequestKind::ApiVersions(Default::default()),
                outcomes: Vec::new(),
                waiting: 0,
                done: Some(bytes),
            },
        );
        if let Some(state) = self.conns.get_mut(&conn) {
            state.jobs.push_back(job_id);
        }
    }

    fn complete_part(&mut self, now: Duration, job_id: u64, part: usize, outcome: Outcome) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if let Some(slot) = job.outcomes.get_mut(part) {
            if slot.is_none() {
                *slot = Some(outcome);
                job.waiting = job.waiting.saturating_sub(1);
            }
        }
        let conn = job.conn;
        if let Err(error) = self.maybe_finish(job_id) {
            self.close(conn, error);
            return;
        }
        self.pump(now, conn);
    }

    /// Assembles and encodes the response once every part is in.
    fn maybe_finish(&mut self, job_id: u64) -> Result<(), BadRequest> {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return Ok(());
        };
        if job.done.is_some() || job.waiting > 0 {
            return Ok(());
        }
        let outcomes: Vec<Outcome> = job
            .outcomes
            .iter()
            .map(|o| {
                o.clone().unwrap_or(Outcome::Error(
                    code::UNKNOWN_SERVER_ERROR,
                    Some("internal request not answered".into()),
                ))
            })
            .collect();
        let response = build_response(&self.config, job.version, &job.request, outcomes);
        let bytes = encode_response(job.api_key, job.version, job.correlation_id, &response)?;
        job.done = Some(Some(bytes));
        Ok(())
    }

    // ---- translation: Kafka request -> internal parts -----------------------------------------

    fn plan(&self, version: i16, request: &RequestKind) -> Vec<Part> {
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
                vec![Part::Send {
                    target: Target::Controller,
                    request: Request::OffsetCommit(protocol::api::OffsetCommitRequest {
                        group: r.group_id.0.to_string(),
                        offsets,
                    }),
                    wait: Duration::ZERO,
                    on_timeout: code::COORDINATOR_NOT_AVAILABLE,
                }]
            }
            RequestKind::OffsetFetch(r) => {
                if r.group_id.0.is_empty() {
                    return vec![Part::Ready(Outcome::Error(code::INVALID_GROUP_ID, None))];
                }
                let Some(topics) = &r.topics else {
                    return vec![Part::Ready(Outcome::Error(
                        code::INVALID_REQUEST,
                        Some(
                            "fetching all of a group's offsets (null topics) is not supported"
                                .into(),
                        ),
                    ))];
                };
                let partitions: Vec<TopicPartition> = topics
                    .iter()
                    .flat_map(|t| {
                        t.partition_indexes
                            .iter()
                            .filter(|p| **p >= 0)
                            .map(move |p| TopicPartition::new(t.name.0.as_str(), *p as u32))
                    })
                    .collect();
                if partitions.is_empty() {
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
            // Not served: on_frame closes the connection before planning.
            _ => Vec::new(),
        }
    }
}

fn commit_valid(partition: i32, offset: i64) -> bool {
    partition >= 0 && offset >= 0
}

/// How many record batches `records` holds by their length fields, or None when the length
/// fields do not cut it exactly (the core then judges the bytes, e.g. CORRUPT_MESSAGE).
fn batch_count(records: &Bytes) -> Option<usize> {
    let mut rest = records.as_ref();
    let mut count = 0;
    while !rest.is_empty() {
        if rest.len() < 12 {
            return None;
        }
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if length < 0 || rest.len() < 12 + length as usize {
            return None;
        }
        rest = &rest[12 + length as usize..];
        count += 1;
    }
    Some(count)
}

// ---- translation: internal answers -> Kafka response ----------------------------------------------

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn topic_name(s: &str) -> km::TopicName {
    km::TopicName(str_bytes(s))
}

/// The error code and message of an outcome whose answer is `Result<_, ErrorCode>`.
fn outcome_error(outcome: &Outcome, error: Option<&ErrorCode>) -> (i16, Option<String>) {
    match (outcome, error) {
        (Outcome::Error(code, message), _) => (*code, message.clone()),
        (Outcome::Answer(_), Some(error)) => kafka_error(error),
        (Outcome::Answer(_), None) => (code::NONE, None),
    }
}

fn mismatch(detail: &str) -> (i16, Option<String>) {
    (
        code::UNKNOWN_SERVER_ERROR,
        Some(format!("internal answer of the wrong kind: {detail}")),
    )
}

fn api_versions_response(error_code: i16) -> km::ResponseKind {
    let mut response = km::ApiVersionsResponse::default();
    response.error_code = error_code;
    response.api_keys = SUPPORTED_APIS
        .iter()
        .map(|(key, min, max)| {
            let mut v = km::api_versions_response::ApiVersion::default();
            v.api_key = *key as i16;
            v.min_version = *min;
            v.max_version = *max;
            v
        })
        .collect();
    km::ResponseKind::ApiVersions(response)
}

fn build_response(
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
            km::ResponseKind::OffsetFetch(response)
        }
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

/// One response frame: size, header (the API's header version), body.
fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &km::ResponseKind,
) -> Result<Bytes, BadRequest> {
    let unencodable = |detail: String| BadRequest::Unencodable {
        key: api_key,
        version,
        detail,
    };
    let mut body = BytesMut::new();
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    // ApiVersions answers always use header v0 (KIP-511), which response_header_version gives.
    header
        .encode(&mut body, api_key.response_header_version(version))
        .map_err(|e| unencodable(e.to_string()))?;
    response
        .encode(&mut body, version)
        .map_err(|e| unencodable(e.to_string()))?;
    Ok(encode_frame(&body))
}

/// Decodes a response frame body (without its size) as a client would: for tests and tools.
pub fn decode_response(
    api_key: ApiKey,
    version: i16,
    mut body: Bytes,
) -> anyhow::Result<(i32, km::ResponseKind)> {
    let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))?;
    let response = km::ResponseKind::decode(api_key, &mut body, version)?;
    if body.has_remaining() {
        anyhow::bail!("{} bytes left after the response", body.remaining());
    }
    Ok((header.correlation_id, response))
}

/// Encodes a request frame (size, header, body) as a client would: for tests and tools.
pub fn encode_request(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    request: &RequestKind,
) -> anyhow::Result<Bytes> {
    let mut body = BytesMut::new();
    let mut header = RequestHeader::default();
    header.request_api_key = api_key as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str("streamsim-test"));
    header.encode(&mut body, api_key.request_header_version(version))?;
    request.encode(&mut body, version)?;
    Ok(encode_frame(&body))
}
