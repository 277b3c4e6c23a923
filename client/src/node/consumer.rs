//! The consumer process: a madsim node running a [`Consumer`] core under an application that
//! polls and processes records (optionally slowly, to make it lag).

use super::{
    crash_process, lock, next_interval, stop_before_restart, wait_for, Transport, CLIENT_TICK,
};
use crate::common::ClusterAddrs;
use crate::consumer::{Consumer, ConsumerConfig, ConsumerStatus};
use crate::history::History;
use sim::{NodeContext, Seed, World};
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

#[derive(Debug, Default)]
struct Shared {
    progress: ConsumerProgress,
    /// Records delivered by earlier incarnations.
    delivered_before: u64,
}

#[derive(Clone)]
struct Shell {
    process: String,
    seed: Seed,
    cluster: ClusterAddrs,
    config: ConsumerConfig,
    workload: ConsumerWorkload,
    history: History,
    shared: Arc<Mutex<Shared>>,
}

/// A running consumer process. Cheap to clone.
#[derive(Clone)]
pub struct ConsumerNode {
    /// The node's (and the history process's) name.
    pub name: String,
    pub addr: SocketAddr,
    world: World,
    history: History,
    shared: Arc<Mutex<Shared>>,
}

impl ConsumerNode {
    /// Starts node `config.process` on the world: it records `start`, finds its committed
    /// offsets, records `assign`, and consumes until closed. Must run inside the simulation.
    pub fn start(
        world: &World,
        cluster: ClusterAddrs,
        config: ConsumerConfig,
        workload: ConsumerWorkload,
        history: History,
    ) -> ConsumerNode {
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
        let addr = world.add_node(&name, move |context| consumer_main(context, shell.clone()));
        ConsumerNode {
            name,
            addr,
            world: world.clone(),
            history,
            shared,
        }
    }

    pub fn progress(&self) -> ConsumerProgress {
        lock(&self.shared).progress.clone()
    }

    /// Asks for a clean close: the last commit is flushed and awaited, then `close` recorded.
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

    /// Waits until every assigned partition is read up to its high watermark.
    pub async fn wait_caught_up(&self, timeout: Duration) -> bool {
        wait_for(timeout, || self.progress().status.caught_up).await
    }

    /// Asks for a clean close and waits for it.
    pub async fn close_and_wait(&self, timeout: Duration) -> bool {
        self.close();
        wait_for(timeout, || self.progress().status.closed).await
    }
}

async fn consumer_main(context: NodeContext, shell: Shell) {
    let mut transport = Transport::bind().await;
    let rng = shell
        .seed
        .stream(&format!("client/{}/{}", shell.process, context.incarnation));
    let mut core = Consumer::new(
        shell.config.clone(),
        shell.cluster.clone(),
        context.incarnation,
        rng,
    );
    {
        let mut shared = lock(&shell.shared);
        shared.progress.incarnations += 1;
        shared.delivered_before = shared.progress.records_delivered;
        shared.progress.status = core.status();
    }
    // Simulated time since the start of the run.
    let mut next_tick = sim::time::now();
    // The application is processing until then.
    let mut busy_until_ms = 0;
    // Records delivered since the last manual commit.
    let mut uncommitted_records = 0u64;
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
                let close_requested = lock(&shell.shared).progress.close_requested;
                if close_requested {
                    core.close(now_ms);
                } else if now_ms >= busy_until_ms {
                    // The previous poll's records are processed now: a manual commit covers
                    // them (commits happen only after the application has the records).
                    if let Some(every) = shell.workload.commit_every_records {
                        if uncommitted_records >= every.max(1) {
                            core.commit(now_ms);
                            uncommitted_records = 0;
                        }
                    }
                    let records = core.poll(now_ms, shell.workload.poll_records_max);
                    uncommitted_records += records.len() as u64;
                    active |= !records.is_empty();
                    busy_until_ms = now_ms + shell.workload.processing_delay_ms * records.len() as u64;
                }
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
            shared.progress.records_delivered =
                shared.delivered_before + shared.progress.status.records_delivered;
        }
        // The next tick: sooner when busy, never later than the application's next poll.
        interval = next_interval(interval, active);
        let now = sim::time::now();
        let mut wake = now + interval;
        let busy_until = std::time::Duration::from_millis(busy_until_ms);
        if busy_until > now {
            wake = wake.min(busy_until);
        }
        next_tick = if ticked { wake } else { next_tick.min(wake) };
        timer.reset(sim::time::instant_at(next_tick));
        if core.is_closed() {
            std::future::pending::<()>().await;
        }
    }
}
