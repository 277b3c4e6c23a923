//! Kafka's wire protocol in front of streamsim's broker: a sans-IO gateway.
//!
//! Real Kafka clients (kafka-python, librdkafka, kcat) speak Kafka's binary protocol over TCP;
//! streamsim's brokers speak typed messages ([`protocol::api`]). The [`Gateway`] turns Kafka
//! request frames into internal requests to the local broker core or the controller and
//! assembles Kafka responses from their answers. It owns no socket, clock or task: the madsim
//! host (`broker/src/node/kafka.rs`) feeds it bytes, answers and ticks and performs its
//! outputs. docs/kafka-wire.md describes the APIs served and the mapping.

pub mod errors;
pub mod frame;
pub mod gateway;

pub use frame::{FrameDecoder, FrameError, MAX_FRAME_BYTES};
pub use gateway::{
    decode_response, encode_request, supported_versions, BadRequest, ConnId, Gateway,
    GatewayConfig, GatewayOutput, DEFAULT_REBALANCE_TIMEOUT, SUPPORTED_APIS,
};
/// The kafka-protocol crate the gateway speaks, for hosts and tests.
pub use kafka_protocol;
