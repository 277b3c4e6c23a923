//! The madsim node shells of the clients: one madsim node per client process.
//!
//! A shell only moves messages and timers and runs the application (the workload): it owns a
//! [`sim::net::Socket`] of [`protocol::api::Envelope`]s, hands answers and ticks to its core with
//! the simulated time, sends the requests the core asks for, and records the core's history
//! events in the shared [`History`] (stamped with the simulated time). Everything that decides
//! lives in the cores.
//!
//! A scenario starts a client with [`ProducerNode::start`] / [`ConsumerNode::start`], watches it
//! through the returned handle's `status()`, stops it cleanly with `close()`, and crashes and
//! restarts it with `crash()` / `restart()` (the handle records the `crash`, which a killed node
//! cannot). Each incarnation records `start`; a restart resumes from the committed offsets
//! (consumer) or with a fresh producer id (producer).

mod consumer;
mod producer;

pub use consumer::{ConsumerNode, ConsumerProgress, ConsumerWorkload};
pub use producer::{ProducerNode, ProducerProgress, ProducerWorkload};

use crate::common::Action;
use crate::history::History;
use protocol::api::{Envelope, Response};
use sim::net::Socket;
use sim::World;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a busy client shell ticks its core (and its application).
pub const CLIENT_TICK: Duration = Duration::from_millis(5);
/// The longest an idle client shell sleeps between ticks: the interval doubles after each tick
/// that did nothing, and drops back to [`CLIENT_TICK`] at the first sign of work. Inputs wake the
/// shell at once whatever the interval; only the cores' own timers (linger, backoff, commit
/// intervals, request timeouts) may fire up to this much late.
pub const CLIENT_TICK_MAX: Duration = Duration::from_millis(40);

/// The tick interval after a step: back to the shortest on activity, doubling when idle.
pub(crate) fn next_interval(interval: Duration, active: bool) -> Duration {
    if active {
        CLIENT_TICK
    } else {
        (interval * 2).min(CLIENT_TICK_MAX)
    }
}
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

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A client's socket, and a task that moves every datagram it receives into a channel (a
/// socket's `recv` is not cancel-safe; the channel's is, so the shell can `select!` on it).
pub(crate) struct Transport {
    socket: Arc<Socket<Envelope>>,
    received: mpsc::UnboundedReceiver<(Envelope, SocketAddr)>,
}

impl Transport {
    pub async fn bind() -> Transport {
        let socket = Arc::new(
            Socket::<Envelope>::bind_any()
                .await
                .expect("a client binds an ephemeral port"),
        );
        let (sender, received) = mpsc::unbounded_channel();
        let receiving = socket.clone();
        madsim::task::spawn(async move {
            loop {
                match receiving.recv().await {
                    Ok(message) => {
                        if sender.send(message).is_err() {
                            return;
                        }
                    }
                    Err(error) if error.kind() == io::ErrorKind::InvalidData => continue,
                    Err(_) => return,
                }
            }
        });
        Transport { socket, received }
    }

    /// The next answer: (correlation id, sender, response). Requests sent to a client are
    /// ignored.
    pub async fn next_response(&mut self) -> Option<(u64, SocketAddr, Response)> {
        loop {
            let (envelope, from) = self.received.recv().await?;
            if let Envelope::Response {
                correlation_id,
                response,
            } = envelope
            {
                return Some((correlation_id, from, response));
            }
        }
    }

    /// Sends the requests and records the history events a core asked for, in order.
    pub async fn perform(&self, actions: Vec<Action>, history: &History, process: &str) {
        for action in actions {
            match action {
                Action::Send {
                    to,
                    correlation_id,
                    request,
                } => {
                    self.socket
                        .send(
                            to,
                            Envelope::Request {
                                correlation_id,
                                request,
                            },
                        )
                        .await
                }
                Action::Record(op) => history.record(process, op),
            }
        }
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
