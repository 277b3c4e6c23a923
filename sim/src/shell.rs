//! The one madsim shell: drives any [`Node`] on the simulated network and clock.
//!
//! The shell owns what the nodes must not: the socket and its cancel-safe [`Inbox`], the timer,
//! the simulated time, and the wake-up counting the benchmark's baseline reads. It keeps the
//! step contract of [`protocol::node`]: one input (a message first when both are ready, by a
//! `biased` select), the host's commands, the outputs in order, then the next tick. A real-time
//! shell (tokio and TCP) keeps the same contract with the real clock.
//!
//! What differs between nodes is in the [`Host`]: where observations go (the history, the
//! cluster observer), what the node publishes after a tick (a status a scenario watches), and
//! which commands it receives (injected faults).

use crate::net::{Inbox, Socket};
use crate::time;
use crate::NodeContext;
use protocol::api::Envelope;
use protocol::node::{Node, Output, Step};
use std::sync::Arc;

/// The shell's side of a node: what it reports to, publishes, and receives.
pub trait Host<N: Node> {
    /// An observation of the node, in the order the node made it.
    fn observe(&mut self, observation: N::Observation);

    /// Right after each tick, before commands and outputs (publish a status).
    fn after_tick(&mut self, node: &N) {
        let _ = node;
    }

    /// The commands that arrived since the last step (called after each step's input).
    fn commands(&mut self) -> Vec<N::Command> {
        Vec::new()
    }
}

/// Runs `node` on `socket` until the node's network goes down (a kill ends the task).
///
/// Called inside the node's madsim task; `socket` is already bound.
pub async fn run<N: Node, H: Host<N>>(
    context: &NodeContext,
    socket: Arc<Socket<Envelope>>,
    mut node: N,
    mut host: H,
) {
    let mut inbox = Inbox::spawn(socket.clone());
    // One clock handle for the whole run of the node: `TimeHandle::current()` clones two Arcs
    // from a thread-local each call.
    let clock = madsim::time::TimeHandle::current();
    let base = clock.now_instant() - clock.elapsed();
    let now = || clock.elapsed();
    let first = node.next_tick(now(), Step::Start);
    let mut timer = time::Timer::at(first.map_or_else(|| clock.now_instant(), |at| base + at));
    let mut outputs = Vec::new();
    loop {
        let step = tokio::select! {
            biased;
            received = inbox.recv() => {
                let Some((envelope, from)) = received else { return };
                node.on_message(now(), from, envelope);
                Step::Message
            }
            _ = &mut timer => {
                context.wakeups.tick();
                node.on_tick(now());
                host.after_tick(&node);
                Step::Tick
            }
        };
        for command in host.commands() {
            node.on_command(now(), command);
        }
        node.take_outputs(&mut outputs);
        for output in outputs.drain(..) {
            match output {
                Output::Send {
                    to,
                    envelope,
                    delay,
                } => {
                    if delay.is_zero() {
                        socket.send(to, envelope).await;
                    } else {
                        let socket = socket.clone();
                        madsim::task::spawn(async move {
                            madsim::time::sleep(delay).await;
                            socket.send(to, envelope).await;
                        });
                    }
                }
                Output::Observe(observation) => host.observe(observation),
            }
        }
        let at = now();
        if let Some(next) = node.next_tick(at, step) {
            timer.reset_at(base + next, base + at);
        }
        if node.finished() {
            // The process stays up, idle, like an application that finished.
            std::future::pending::<()>().await;
        }
    }
}
