//! The clients on madsim: one madsim node per client process.
//!
//! Each incarnation runs a [`crate::process`] (the core and its application, a
//! [`protocol::node::Node`]) in the one shell, [`sim::shell::run`], on a socket bound to an
//! ephemeral port; its history events are recorded in the shared [`History`], stamped with the
//! simulated time. Everything that decides lives in the cores and the processes.
//!
//! A scenario starts a client with [`ProducerNode::start`] / [`ConsumerNode::start`], watches it
//! through the returned handle's `status()`, stops it cleanly with `close()`, and crashes and
//! restarts it with `crash()` / `restart()` (the handle records the `crash`, which a killed node
//! cannot). Each incarnation records `start`; a restart resumes from the committed offsets
//! (consumer) or with a fresh producer id (producer).

mod consumer;
mod producer;

pub use crate::process::{
    ConsumerProgress, ConsumerWorkload, ProducerProgress, ProducerWorkload, CLIENT_TICK,
    CLIENT_TICK_MAX,
};
pub use consumer::ConsumerNode;
pub use producer::ProducerNode;

use crate::history::{History, Op};
use protocol::node::Node;
use sim::net::Socket;
use sim::shell::Host;
use sim::World;
use std::sync::Arc;
use std::time::Duration;

/// How often `wait_*` helpers look at a status.
const WAIT_POLL: Duration = Duration::from_millis(10);

/// Kills client process `name` and records its `crash` (a killed node cannot record it).
pub(crate) fn crash_process(world: &World, history: &History, name: &str) {
    world.kill(name);
    history.record_crash(name);
}

/// Stops the running incarnation of client process `name` before a restart: crashed (and
/// recorded) unless it `closed` cleanly, when it just stops and its history ends with `close`.
pub(crate) fn stop_before_restart(world: &World, history: &History, name: &str, closed: bool) {
    if world.node_state(name) != sim::NodeState::Killed {
        if closed {
            world.kill(name);
        } else {
            crash_process(world, history, name);
        }
    }
}

/// A client's socket on an ephemeral port of its node.
pub(crate) async fn bind() -> Arc<Socket<protocol::api::Envelope>> {
    Arc::new(
        Socket::bind_any()
            .await
            .expect("a client binds an ephemeral port"),
    )
}

/// A client process's host: its history events go to the run's history, stamped with the
/// simulated time.
pub(crate) struct Recorder {
    pub history: History,
    pub process: String,
}

impl<N: Node<Observation = Op>> Host<N> for Recorder {
    fn observe(&mut self, op: Op) {
        self.history.record(&self.process, op);
    }
}

/// Waits (in simulated time) until `done()` or `timeout` passes; answers whether `done()`.
/// For scenarios: `done` usually reads a node handle's progress.
pub async fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = sim::time::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if sim::time::now() >= deadline {
            return false;
        }
        madsim::time::sleep(WAIT_POLL).await;
    }
}
