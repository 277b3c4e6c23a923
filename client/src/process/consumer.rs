//! The consumer process: a [`Consumer`] core under an application that polls and processes
//! records (optionally slowly, to make it lag) and commits by hand when asked to.

use super::{lock, next_interval, next_tick, on_answer, outputs_of, StepKind, CLIENT_TICK};
use crate::consumer::{Consumer, ConsumerStatus};
use crate::history::Op;
use protocol::api::Envelope;
use protocol::node::{millis, Node, Output, Step};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the consumer application does with records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerWorkload {
    /// Simulated processing time per record: the application polls again only when done.
    pub processing_delay_ms: u64,
    /// Records per poll at most.
    pub poll_records_max: usize,
    /// With manual commits: commit after every this-many records delivered (None: only on
    /// close).
    pub commit_every_records: Option<u64>,
}

impl Default for ConsumerWorkload {
    fn default() -> Self {
        ConsumerWorkload {
            processing_delay_ms: 0,
            poll_records_max: 500,
            commit_every_records: None,
        }
    }
}

/// What a scenario sees of a consumer process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerProgress {
    /// The current incarnation's core: positions, high watermarks, commits, caught up, errors.
    pub status: ConsumerStatus,
    /// Records delivered over all incarnations.
    pub records_delivered: u64,
    /// Incarnations started so far (1 after the first start).
    pub incarnations: u64,
    pub close_requested: bool,
}

/// What a consumer process shares with the scenario, across its incarnations.
#[derive(Debug, Default)]
pub struct ConsumerShared {
    pub progress: ConsumerProgress,
    /// Records delivered by earlier incarnations.
    delivered_before: u64,
}

/// One incarnation of a consumer process.
pub struct ConsumerProcess {
    core: Consumer,
    workload: ConsumerWorkload,
    shared: Arc<Mutex<ConsumerShared>>,
    /// The application is processing the last poll's records until then (ms since the start).
    busy_until_ms: u64,
    /// Records delivered since the last manual commit.
    uncommitted_records: u64,
    interval: Duration,
    /// The tick the timer is armed for.
    armed: Duration,
    step: StepKind,
    /// The step did something (an answer, records, an action): tick soon again.
    active: bool,
}

impl ConsumerProcess {
    /// A new incarnation around `core`; counts the incarnation in `shared`.
    pub fn new(
        core: Consumer,
        workload: ConsumerWorkload,
        shared: Arc<Mutex<ConsumerShared>>,
    ) -> ConsumerProcess {
        {
            let mut shared = lock(&shared);
            shared.progress.incarnations += 1;
            shared.delivered_before = shared.progress.records_delivered;
            shared.progress.status = core.status();
        }
        ConsumerProcess {
            core,
            workload,
            shared,
            busy_until_ms: 0,
            uncommitted_records: 0,
            interval: CLIENT_TICK,
            armed: Duration::ZERO,
            step: StepKind::Ignored,
            active: false,
        }
    }
}

impl Node for ConsumerProcess {
    type Observation = Op;
    type Command = ();

    fn on_message(&mut self, now: Duration, from: SocketAddr, envelope: Envelope) {
        let core = &mut self.core;
        self.step = on_answer(envelope, |correlation_id, response| {
            core.on_response(millis(now), correlation_id, from, response)
        });
        self.active = self.step == StepKind::Answered;
    }

    /// The core's timers, then the application: close when asked; otherwise, once the last
    /// poll's records are processed, commit them if it is time (commits happen only after the
    /// application has the records) and poll again.
    fn on_tick(&mut self, now: Duration) {
        self.step = StepKind::Ticked;
        self.active = false;
        let now_ms = millis(now);
        self.core.on_tick(now_ms);
        let close_requested = lock(&self.shared).progress.close_requested;
        if close_requested {
            self.core.close(now_ms);
        } else if now_ms >= self.busy_until_ms {
            if let Some(every) = self.workload.commit_every_records {
                if self.uncommitted_records >= every.max(1) {
                    self.core.commit(now_ms);
                    self.uncommitted_records = 0;
                }
            }
            let records = self.core.poll(now_ms, self.workload.poll_records_max);
            self.uncommitted_records += records.len() as u64;
            self.active = !records.is_empty();
            self.busy_until_ms = now_ms + self.workload.processing_delay_ms * records.len() as u64;
        }
    }

    fn take_outputs(&mut self, outputs: &mut Vec<Output<Op>>) {
        self.active |= outputs_of(self.core.poll_actions(), outputs);
    }

    /// Sooner when busy, never later than the application's next poll.
    fn next_tick(&mut self, now: Duration, step: Step) -> Option<Duration> {
        if step == Step::Start {
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
            shared.progress.records_delivered =
                shared.delivered_before + shared.progress.status.records_delivered;
        }
        self.interval = next_interval(self.interval, self.active);
        let mut wake = now + self.interval;
        let busy_until = Duration::from_millis(self.busy_until_ms);
        if busy_until > now {
            wake = wake.min(busy_until);
        }
        let next = next_tick(self.armed, wake, self.step)?;
        self.armed = next;
        Some(next)
    }

    fn finished(&self) -> bool {
        self.core.is_closed()
    }
}
