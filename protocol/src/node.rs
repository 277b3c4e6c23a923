//! The one sans-IO node interface: what every process of a run (the controller, a broker, a
//! producer, a consumer) looks like to the shell that drives it.
//!
//! A node is a state machine. A shell feeds it one input at a time with the time of the input -
//! a message from the network, a tick of its timer, a command from whoever hosts it (an injected
//! fault) - and then takes its outputs (messages to send, observations to report) and asks it
//! when to tick next. The node never reads a clock, never sleeps, never touches a socket: the
//! simulation's shell (`sim::shell`, on madsim's simulated network and clock) and a real-time
//! shell (tokio, real TCP) run the same nodes unchanged.
//!
//! Time is the [`Duration`] since the start of the run (the shell's epoch); cores that count in
//! milliseconds use [`millis`].
//!
//! The contract a shell keeps, in this order for every step:
//! 1. exactly one of [`Node::on_message`] or [`Node::on_tick`];
//! 2. [`Node::on_command`] for each command that arrived meanwhile, in arrival order;
//! 3. [`Node::take_outputs`], whose outputs it performs in order;
//! 4. [`Node::next_tick`] with the kind of the step, and it re-arms its timer for the answer,
//!    or leaves it as it is for `None` (a message arriving first starts the next step earlier);
//! 5. once [`Node::finished`], it stops stepping the node (it stays up, idle).
//!
//! The very first call is [`Node::next_tick`] with [`Step::Start`].

use crate::api::Envelope;
use std::net::SocketAddr;
use std::time::Duration;

/// What the step that just ended was, for [`Node::next_tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Before the first input.
    Start,
    /// A message was handled.
    Message,
    /// The timer fired.
    Tick,
}

/// What a node asks its shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<O> {
    /// Send `envelope` to `to`, `delay` from now (zero: at once). A delay is time the node spends
    /// before its answer leaves (a disk write it waits for); the node goes on meanwhile.
    Send {
        to: SocketAddr,
        envelope: Envelope,
        delay: Duration,
    },
    /// Report something to the host (a history event, a cluster observation).
    Observe(O),
}

impl<O> Output<O> {
    /// A message to send at once.
    pub fn send(to: SocketAddr, envelope: Envelope) -> Output<O> {
        Output::Send {
            to,
            envelope,
            delay: Duration::ZERO,
        }
    }
}

/// A process of the run as a state machine; see the module docs for the shell's contract.
pub trait Node {
    /// What the node reports to its host.
    type Observation;
    /// What a host may inject between steps (faults, for a broker).
    type Command;

    /// A message arrived from `from`.
    fn on_message(&mut self, now: Duration, from: SocketAddr, envelope: Envelope);

    /// The timer fired.
    fn on_tick(&mut self, now: Duration);

    /// A command from the host, after the step's input.
    fn on_command(&mut self, now: Duration, command: Self::Command) {
        let _ = (now, command);
    }

    /// Moves the outputs of the step into `outputs`, in the order they must be performed.
    fn take_outputs(&mut self, outputs: &mut Vec<Output<Self::Observation>>);

    /// When the timer should fire next (time since the start of the run), asked once the step's
    /// outputs are performed; `None` leaves the timer as it is. After a step, a time not after
    /// `now` fires 1 ms from now, so that time moves; at [`Step::Start`] the answer is taken as
    /// it is (`None`: fire at once).
    fn next_tick(&mut self, now: Duration, step: Step) -> Option<Duration>;

    /// The node is done (a client that closed): the shell stops stepping it.
    fn finished(&self) -> bool {
        false
    }
}

/// Whole milliseconds of `time`, the unit the cores count in.
pub fn millis(time: Duration) -> u64 {
    time.as_millis() as u64
}
