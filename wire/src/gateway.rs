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
//! group APIs, which streamsim's controller answers as a whole; per member for a batched
//! LeaveGroup); once every part is answered or timed out the Kafka response is assembled from
//! them in the request's order. A part may wait as long as its Kafka request asks (a produce's
//! timeout, a fetch's max wait, a JoinGroup's rebalance timeout) plus
//! [`GatewayConfig::request_timeout`].
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

mod plan;
mod respond;
use respond::build_response;

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
    /// itself asks for: a produce's timeout, a fetch's max wait, a JoinGroup's rebalance
    /// timeout, a SyncGroup's group's rebalance timeout).
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
    // The classic group protocol, forwarded to the controller's group coordinator. JoinGroup
    // from v4: the coordinator always answers a dynamic member's first join with
    // MEMBER_ID_REQUIRED (KIP-394), which v0-v3 clients do not expect. SyncGroup up to v4: v5
    // makes the coordinator check the request's protocol type and name, which it cannot.
    (ApiKey::JoinGroup, 4, 9),
    (ApiKey::SyncGroup, 0, 4),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    // Group administration (describe, list), answered by the controller's group coordinator.
    // DescribeGroups up to v5 (v6 answers an unknown group with an error, not as Dead);
    // ListGroups up to v4 (v5 filters by group type).
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
];

/// How long a SyncGroup may be held when no JoinGroup of its group has told the gateway the
/// group's rebalance timeout (the consumers' default `max.poll.interval.ms`).
pub const DEFAULT_REBALANCE_TIMEOUT: Duration = Duration::from_secs(300);

/// The most groups whose rebalance timeout the gateway remembers.
const MAX_REMEMBERED_GROUPS: usize = 4096;

/// A Kafka generation id as the coordinator's: a negative one (none) is sent as `u32::MAX`, a
/// generation no group reaches, so the coordinator's own checks decide (unknown member first,
/// then ILLEGAL_GENERATION), as Kafka's do.
fn generation(id: i32) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

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
    /// The rebalance timeout of each group's latest JoinGroup: how long its SyncGroups may be
    /// held.
    rebalance_timeouts: BTreeMap<String, Duration>,
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
            rebalance_timeouts: BTreeMap::new(),
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
        if let RequestKind::JoinGroup(r) = &request {
            if self.rebalance_timeouts.len() >= MAX_REMEMBERED_GROUPS
                && !self.rebalance_timeouts.contains_key(r.group_id.0.as_str())
            {
                self.rebalance_timeouts.pop_first();
            }
            self.rebalance_timeouts.insert(
                r.group_id.0.to_string(),
                Duration::from_millis(r.rebalance_timeout_ms.max(0) as u64),
            );
        }
        let client_id = header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default();
        let parts = self.plan(version, &client_id, &request);
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
