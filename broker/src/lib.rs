//! The broker: sans-IO core (log, replica, producer state, offsets, controller) and its madsim node shell.
//!
//! The storage half of the core, synchronous `&mut self` state machines over a [`storage::Storage`]:
//! - [`storage`] — the trait every byte goes through, implemented by `sim::disk::Disk`;
//! - [`batch`] — record batches and their CRC32C-checked encoding;
//! - [`log`] — the partition log: segments, index, retention, truncation, recovery, reads;
//! - [`producer_state`] — idempotent-producer sequence checks per partition (KIP-98/KIP-360);
//! - [`producer_ids`] — the durable producer-id allocator and epoch manager (KIP-360);
//! - [`offsets`] — durable committed consumer offsets;
//! - [`journal`] — the small crash-safe journal the last three persist through;
//! - [`bugs`] — switches for historical bugs, all off by default.
//!
//! Nothing here knows of madsim, tokio, threads, clocks or randomness: time arrives as
//! `now_ms` arguments, and faults arrive through the storage.

pub mod batch;
pub mod bugs;
pub(crate) mod codec;
pub mod journal;
pub mod log;
pub mod offsets;
pub mod producer_ids;
pub mod producer_state;
pub mod storage;
