//! The producer process: a madsim node running a [`Producer`] core and a workload that sends
//! `<process>-<n>` values.

use super::{
    crash_process, lock, next_interval, stop_before_restart, wait_for, Transport, CLIENT_TICK,
};
use crate::common::ClusterAddrs;
use crate::history::History;
use crate::producer::{Producer, ProducerConfig, ProducerStatus};
use sim::{NodeContext, Seed, World};
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

#[derive(Debug, Default)]
struct Shared {
    progress: ProducerProgress,
    /// The workload's idle gap has begun (it happens once, whatever the restarts).
    idled: bool,
}

#[derive(Clone)]
struct Shell {
    process: String,
    seed: Seed,
    cluster: ClusterAddrs,
    config: ProducerConfig,
    workload: ProducerWorkload,
    history: History,
    shared: Arc<Mutex<Shared>>,
}

/// A running producer process. Cheap to clone.
#[derive(Clone)]
pub struct ProducerNode {
    /// The node's (and the history process's) name.
    pub name: String,
    pub addr: SocketAddr,
    world: World,
    history: History,
    shared: Arc<Mutex<Shared>>,
}

impl ProducerNode {
    /// Starts node `config.process` on the world: it records `start`, obtains a producer id, and
    /// sends the workload. Must be called inside the simulation.
    pub fn start(
        world: &World,
        cluster: ClusterAddrs,
        config: ProducerConfig,
        workload: ProducerWorkload,
        history: History,
    ) -> ProducerNode {
        let name = config.process.clone();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let shell = Shell {
            process: name.clone(),
            seed: world.seed(),
            cluster,
            config,
            workload,
            history: history.clone(),
            shared: shared.clone(),
        };
        let addr = world.add_node(&name, move |context| producer_main(context, shell.clone()));
        ProducerNode {
            name,
            addr,
            world: world.clone(),
            history,
            shared,
        }
    }

    pub fn progress(&self) -> ProducerProgress {
        lock(&self.shared).progress.clone()
    }

    /// Asks for a clean close: no new sends, every pending send completes, `close` is recorded.
    pub fn close(&self) {
        lock(&self.shared).progress.close_requested = true;
    }

    /// Kills the process and records its `crash`.
    pub fn crash(&self) {
        crash_process(&self.world, &self.history, &self.name);
    }

    /// Starts a new incarnation. A running incarnation is crashed first (recorded), unless it
    /// closed cleanly: then it just stops, and its history ends with `close`.
    pub fn restart(&self) {
        let closed = self.progress().status.closed;
        stop_before_restart(&self.world, &self.history, &self.name, closed);
        lock(&self.shared).progress.close_requested = false;
        self.world.restart(&self.name);
    }

    /// Waits until the workload is done (or closed); answers whether it is.
    pub async fn wait_done(&self, timeout: Duration) -> bool {
        wait_for(timeout, || {
            let progress = self.progress();
            progress.done || progress.status.closed
        })
        .await
    }
}

async fn producer_main(context: NodeContext, shell: Shell) {
    let mut transport = Transport::bind().await;
    let rng = shell
        .seed
        .stream(&format!("client/{}/{}", shell.process, context.incarnation));
    let mut core = Producer::new(
        shell.config.clone(),
        shell.cluster.clone(),
        context.incarnation,
        rng,
    );
    {
        let mut shared = lock(&shell.shared);
        shared.progress.incarnations += 1;
        shared.progress.status = core.status();
    }
    let workload = &shell.workload;
    // Simulated time since the start of the run.
    let mut next_tick = sim::time::now();
    let mut next_send_ms = sim::time::now_ms();
    let mut interval = CLIENT_TICK;
    let mut timer = sim::time::Timer::at(sim::time::instant_at(next_tick));
    loop {
        let mut active = false;
        let mut ticked = false;
        tokio::select! {
            biased;
            received = transport.next_response() => {
                let Some((correlation_id, from, response)) = received else { return };
                core.on_response(sim::time::now_ms(), correlation_id, from, response);
                active = true;
            }
            _ = &mut timer => {
                ticked = true;
                context.wakeups.tick();
                let now_ms = sim::time::now_ms();
                core.on_tick(now_ms);
                let pending_before = core.pending_sends();
                run_application(&shell, workload, &mut core, now_ms, &mut next_send_ms);
                active |= core.pending_sends() != pending_before || core.pending_sends() > 0;
            }
        }
        let actions = core.poll_actions();
        active |= !actions.is_empty();
        transport
            .perform(actions, &shell.history, &shell.process)
            .await;
        if ticked || core.is_closed() {
            let mut shared = lock(&shell.shared);
            shared.progress.status = core.status();
            shared.progress.done =
                shared.progress.sends_invoked >= workload.sends_max && core.pending_sends() == 0;
        }
        // The next tick: sooner when busy, and in time for the application's next send.
        interval = next_interval(interval, active);
        let now = sim::time::now();
        let mut wake = now + interval;
        let sends_left = lock(&shell.shared).progress.sends_invoked < workload.sends_max;
        if sends_left {
            wake = wake.min(std::time::Duration::from_millis(next_send_ms).max(now));
        }
        next_tick = if ticked { wake } else { next_tick.min(wake) };
        timer.reset(sim::time::instant_at(next_tick));
        if core.is_closed() {
            // The process stays up, idle, like an application that finished.
            std::future::pending::<()>().await;
        }
    }
}

/// The application: sends the next values when due, and closes when asked or done.
fn run_application(
    shell: &Shell,
    workload: &ProducerWorkload,
    core: &mut Producer,
    now_ms: u64,
    next_send_ms: &mut u64,
) {
    let mut shared = lock(&shell.shared);
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
        && now_ms >= *next_send_ms
        && core.pending_sends() < workload.pending_max
        && sent_this_tick < SENDS_PER_TICK_MAX
    {
        let n = shared.progress.sends_invoked;
        if workload.idle_after_sends == Some(n) && workload.idle_ms > 0 && !shared.idled {
            shared.idled = true;
            *next_send_ms = now_ms + workload.idle_ms;
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
            format!("{}-{n}", shell.process),
        );
        if workload.send_interval_ms > 0 {
            *next_send_ms += workload.send_interval_ms;
        }
    }
}
