//! Client processes as [`Node`](protocol::node::Node)s: a core (producer or consumer) together
//! with the application that drives it (the workload: what to send, how fast to poll, when to
//! commit), sans-IO like the cores. The shells in [`crate::node`] run them on madsim; a
//! real-time shell can run them unchanged.
//!
//! A process reports what it sees to the scenario through a shared [`ProducerProgress`] /
//! [`ConsumerProgress`] (updated after each tick), and takes the scenario's one request, a clean
//! close, from it too. Its observations are the history events of its core.
//!
//! The tick cadence adapts: [`CLIENT_TICK`] while busy, doubling up to [`CLIENT_TICK_MAX`] while
//! idle; messages wake a process at once whatever the interval.

mod consumer;
mod producer;

pub use consumer::{ConsumerProcess, ConsumerProgress, ConsumerShared, ConsumerWorkload};
pub use producer::{ProducerProcess, ProducerProgress, ProducerShared, ProducerWorkload};

use crate::common::Action;
use crate::history::Op;
use protocol::api::Envelope;
use protocol::node::Output;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How often a busy client process ticks its core (and its application).
pub const CLIENT_TICK: Duration = Duration::from_millis(5);
/// The longest an idle client process sleeps between ticks: the interval doubles after each tick
/// that did nothing, and drops back to [`CLIENT_TICK`] at the first sign of work. Messages wake
/// the process at once whatever the interval; only the cores' own timers (linger, backoff,
/// commit intervals, request timeouts) may fire up to this much late.
pub const CLIENT_TICK_MAX: Duration = Duration::from_millis(40);

/// The tick interval after a step: back to the shortest on activity, doubling when idle.
pub(crate) fn next_interval(interval: Duration, active: bool) -> Duration {
    if active {
        CLIENT_TICK
    } else {
        (interval * 2).min(CLIENT_TICK_MAX)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A core's actions as a node's outputs, in order; answers whether there were any.
fn outputs_of(actions: Vec<Action>, outputs: &mut Vec<Output<Op>>) -> bool {
    let any = !actions.is_empty();
    outputs.extend(actions.into_iter().map(|action| match action {
        Action::Send {
            to,
            correlation_id,
            request,
        } => Output::send(
            to,
            Envelope::Request {
                correlation_id,
                request,
            },
        ),
        Action::Record(op) => Output::Observe(op),
    }));
    any
}

/// A message to a client process: an answer goes to `answer` (correlation id, response);
/// anything else is ignored (clients serve no requests).
fn on_answer(envelope: Envelope, answer: impl FnOnce(u64, protocol::api::Response)) -> StepKind {
    match envelope {
        Envelope::Response {
            correlation_id,
            response,
        } => {
            answer(correlation_id, response);
            StepKind::Answered
        }
        Envelope::Request { .. } => StepKind::Ignored,
    }
}

/// Where a process's step leaves its timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    /// A tick ran the core and the application.
    Ticked,
    /// An answer reached the core.
    Answered,
    /// A message that is not an answer (clients serve no requests): nothing happened.
    Ignored,
}

/// The next tick of a client process after a step: `wake` when it ticked, otherwise the earlier
/// of the armed tick and `wake`; unchanged after an ignored message.
fn next_tick(armed: Duration, wake: Duration, step: StepKind) -> Option<Duration> {
    match step {
        StepKind::Ticked => Some(wake),
        StepKind::Answered => Some(armed.min(wake)),
        StepKind::Ignored => None,
    }
}
