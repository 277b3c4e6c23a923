//! The producer process: a [`Producer`] core and an application that sends `<process>-<n>`
//! values.

use super::{lock, next_interval, next_tick, on_answer, outputs_of, StepKind, CLIENT_TICK};
use crate::history::Op;
use crate::producer::{Producer, ProducerStatus};
use protocol::api::Envelope;
use protocol::node::{millis, Node, Output, Step};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the producer application sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerWorkload {
    pub topic: String,
    /// Sends over all incarnations; values are `<process>-<n>`, n = 0, 1, ... (never reused).
    pub sends_max: u64,
    /// Simulated time between two sends; 0 = as many per tick as `pending_max` allows.
    pub send_interval_ms: u64,
    /// `None`: keyless sends. `Some(n)`: send `n` is keyed `key-{n % keys}`.
    pub keys: Option<u32>,
    /// At most this many sends pending at once (the application's backpressure).
    pub pending_max: usize,
    /// Close the producer (clean shutdown, `close` recorded) once every send has completed.
    pub close_when_done: bool,
    /// The application goes quiet once: after this many sends (over all incarnations) it sends
    /// nothing for `idle_ms` — an idle producer, whose state the brokers may forget
    /// (franz-go #805).
    pub idle_after_sends: Option<u64>,
    pub idle_ms: u64,
}

impl ProducerWorkload {
    pub fn new(topic: &str, sends_max: u64) -> ProducerWorkload {
        ProducerWorkload {
            topic: topic.to_string(),
            sends_max,
            send_interval_ms: 1,
            keys: None,
            pending_max: 1_000,
            close_when_done: false,
            idle_after_sends: None,
            idle_ms: 0,
        }
    }
}

/// Sends the application invokes in one tick at most (interval 0).
const SENDS_PER_TICK_MAX: usize = 1_000;

/// What a scenario sees of a producer process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerProgress {
    /// The current incarnation's core.
    pub status: ProducerStatus,
    /// Sends invoked over all incarnations (the next value's n).
    pub sends_invoked: u64,
    /// Incarnations started so far (1 after the first start).
    pub incarnations: u64,
    /// Every send of the workload was invoked, and every one of this incarnation completed.
    pub done: bool,
    /// A close was asked for.
    pub close_requested: bool,
}

/// What a producer process shares with the scenario, across its incarnations.
#[derive(Debug, Default)]
pub struct ProducerShared {
    pub progress: ProducerProgress,
    /// The workload's idle gap has begun (it happens once, whatever the restarts).
    idled: bool,
}

/// One incarnation of a producer process.
pub struct ProducerProcess {
    process: String,
    core: Producer,
    workload: ProducerWorkload,
    shared: Arc<Mutex<ProducerShared>>,
    /// When the application sends next (ms since the start of the run).
    next_send_ms: u64,
    interval: Duration,
    /// The tick the timer is armed for.
    armed: Duration,
    step: StepKind,
    /// The step did something (an answer, a send, an action): tick soon again.
    active: bool,
}

impl ProducerProcess {
    /// A new incarnation of `process` around `core`; counts the incarnation in `shared`.
    pub fn new(
        process: &str,
        core: Producer,
        workload: ProducerWorkload,
        shared: Arc<Mutex<ProducerShared>>,
    ) -> ProducerProcess {
        {
            let mut shared = lock(&shared);
            shared.progress.incarnations += 1;
            shared.progress.status = core.status();
        }
        ProducerProcess {
            process: process.to_string(),
            core,
            workload,
            shared,
            next_send_ms: 0,
            interval: CLIENT_TICK,
            armed: Duration::ZERO,
            step: StepKind::Ignored,
            active: false,
        }
    }

    /// The application: sends the next values when due, and closes when asked or done.
    fn run_application(&mut self, now_ms: u64) {
        let workload = &self.workload;
        let core = &mut self.core;
        let mut shared = lock(&self.shared);
        let all_invoked = shared.progress.sends_invoked >= workload.sends_max;
        if shared.progress.close_requested
            || (workload.close_when_done && all_invoked && core.pending_sends() == 0)
        {
            drop(shared);
            core.close(now_ms);
            return;
        }
        let mut sent_this_tick = 0;
        while shared.progress.sends_invoked < workload.sends_max
            && now_ms >= self.next_send_ms
            && core.pending_sends() < workload.pending_max
            && sent_this_tick < SENDS_PER_TICK_MAX
        {
            let n = shared.progress.sends_invoked;
            if workload.idle_after_sends == Some(n) && workload.idle_ms > 0 && !shared.idled {
                shared.idled = true;
                self.next_send_ms = now_ms + workload.idle_ms;
                break;
            }
            shared.progress.sends_invoked += 1;
            sent_this_tick += 1;
            let key = workload
                .keys
                .map(|keys| format!("key-{}", n % keys.max(1) as u64));
            core.send(
                now_ms,
                &workload.topic,
                key,
                format!("{}-{n}", self.process),
            );
            if workload.send_interval_ms > 0 {
                self.next_send_ms += workload.send_interval_ms;
            }
        }
    }
}

impl Node for ProducerProcess {
    type Observation = Op;
    type Command = ();

    fn on_message(&mut self, now: Duration, from: SocketAddr, envelope: Envelope) {
        let core = &mut self.core;
        self.step = on_answer(envelope, |correlation_id, response| {
            core.on_response(millis(now), correlation_id, from, response)
        });
        self.active = self.step == StepKind::Answered;
    }

    fn on_tick(&mut self, now: Duration) {
        self.step = StepKind::Ticked;
        let now_ms = millis(now);
        self.core.on_tick(now_ms);
        let pending_before = self.core.pending_sends();
        self.run_application(now_ms);
        let pending = self.core.pending_sends();
        self.active = pending != pending_before || pending > 0;
    }

    fn take_outputs(&mut self, outputs: &mut Vec<Output<Op>>) {
        self.active |= outputs_of(self.core.poll_actions(), outputs);
    }

    /// Sooner when busy, and in time for the application's next send.
    fn next_tick(&mut self, now: Duration, step: Step) -> Option<Duration> {
        if step == Step::Start {
            self.next_send_ms = millis(now);
            self.armed = now;
            return Some(now);
        }
        if self.step == StepKind::Ignored {
            return None;
        }
        if self.step == StepKind::Ticked || self.core.is_closed() {
            let mut guard = lock(&self.shared);
            let shared = &mut *guard;
            self.core.write_status(&mut shared.progress.status);
            shared.progress.done = shared.progress.sends_invoked >= self.workload.sends_max
                && self.core.pending_sends() == 0;
        }
        self.interval = next_interval(self.interval, self.active);
        let mut wake = now + self.interval;
        let sends_left = lock(&self.shared).progress.sends_invoked < self.workload.sends_max;
        if sends_left {
            wake = wake.min(Duration::from_millis(self.next_send_ms).max(now));
        }
        let next = next_tick(self.armed, wake, self.step)?;
        self.armed = next;
        Some(next)
    }

    fn finished(&self) -> bool {
        self.core.is_closed()
    }
}
