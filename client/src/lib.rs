//! Producer and consumer: sans-IO cores and madsim node shells; they record the history.
//!
//! - [`producer::Producer`] and [`consumer::Consumer`] are synchronous `&mut self` state machines
//!   driven by `on_tick(now_ms)`, `on_response(..)`, application calls, and drained with
//!   `poll_actions()` ([`Action`]: a request to send, or a history event to record). They import
//!   neither madsim nor tokio, so they are unit-tested by hand-made responses.
//! - [`process`] pairs a core with its application (the workload) as a
//!   [`protocol::node::Node`], sans-IO too; [`node`] runs each process as a madsim node in the
//!   one shell ([`sim::shell::run`]) and records its history with the simulated time.
//! - [`history::History`] records what the clients (and the scenario, for the cluster and the
//!   nemesis) did, as docs/history-format.md's JSON Lines, feeding each line to the run's trace.
//! - [`policy`] names the decisions real clients made differently (the correct one is each
//!   policy's default; the bug catalog and client personalities set the others);
//!   [`personality`] holds each real client's values, with the sources they come from.

pub mod assignor;
pub mod common;
pub mod consumer;
pub mod history;
pub mod node;
pub mod personality;
pub mod policy;
pub mod process;
pub mod producer;

#[cfg(test)]
mod testkit;

pub use assignor::Assignor;
pub use common::{Action, ClusterAddrs};
pub use consumer::{
    CommitMode, Consumer, ConsumerConfig, GroupSettings, ResetPolicy, Subscription,
};
pub use history::{History, Op};
pub use personality::Personality;
pub use producer::{Producer, ProducerConfig};
