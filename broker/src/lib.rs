//! The broker: sans-IO core (log, replica, producer state, offsets, controller) and its madsim node shell.
//!
//! The storage half of the core, synchronous `&mut self` state machines over a [`storage::Storage`]:
//! - [`storage`] — the trait every byte goes through, implemented by `sim::disk::Disk`;
//! - [`batch`] — record batches and their CRC32C-checked encoding (from the `protocol` crate);
//! - [`log`] — the partition log: segments, index, retention, truncation, recovery, reads;
//! - [`producer_state`] — idempotent-producer sequence checks per partition (KIP-98/KIP-360);
//! - [`producer_ids`] — the durable producer-id allocator and epoch manager (KIP-360);
//! - [`offsets`] — durable committed consumer offsets;
//! - [`journal`] — the small crash-safe journal the last three persist through;
//!
//! The cluster half, on top of it:
//! - [`api`] — the typed wire API (requests, responses, Kafka-style error codes; from `protocol`);
//! - [`core`] — the broker core: replicas as leader or follower, high watermark, ISR, truncation,
//!   fetch-from-follower (one file per role under `core/`);
//! - [`epoch_cache`] — the leader-epoch cache (KIP-101/KIP-279);
//! - [`controller`] — metadata, liveness, elections, partition growth, producer ids;
//! - [`coordinator`] — the group coordinator (consumer groups, committed offsets) the controller
//!   hands group requests and ticks to;
//! - [`node`] — the madsim node shells and `start_cluster` (the only madsim code in the crate);
//! - [`policy`] — the behaviour policies of the log, the replicas and the controller (the
//!   correct behaviour is each one's default; the bug catalog sets the others).
//!
//! Apart from [`node`], nothing here knows of madsim, tokio, threads, clocks or randomness: time arrives as
//! `now_ms` arguments, and faults arrive through the storage.

pub(crate) use protocol::codec;
pub use protocol::{api, batch};
pub mod controller;
pub mod coordinator;
pub mod core;
pub mod epoch_cache;
pub mod inspect;
pub mod journal;
pub mod log;
pub mod node;
pub mod offsets;
pub mod policy;
pub mod producer_ids;
pub mod producer_state;
pub mod storage;

pub use protocol::stable_hash;
