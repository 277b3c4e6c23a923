//! The consumer process on madsim: a node running a [`Consumer`] core under an application that
//! polls and processes records (optionally slowly, to make it lag).

use super::{bind, crash_process, stop_before_restart, wait_for, Recorder};
use crate::common::ClusterAddrs;
use crate::consumer::{Consumer, ConsumerConfig};
use crate::history::History;
use crate::process::{lock, ConsumerProcess, ConsumerProgress, ConsumerShared, ConsumerWorkload};
use sim::{NodeContext, Seed, World};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
struct Shell {
    process: String,
    seed: Seed,
    cluster: ClusterAddrs,
    config: ConsumerConfig,
    workload: ConsumerWorkload,
    history: History,
    shared: Arc<Mutex<ConsumerShared>>,
}

/// A running consumer process. Cheap to clone.
#[derive(Clone)]
pub struct ConsumerNode {
    /// The node's (and the history process's) name.
    pub name: String,
    pub addr: SocketAddr,
    world: World,
    history: History,
    shared: Arc<Mutex<ConsumerShared>>,
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
        let shared = Arc::new(Mutex::new(ConsumerShared::default()));
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
        self.with_progress(ConsumerProgress::clone)
    }

    /// `read` of the consumer's progress, without copying it (a scenario polls it often).
    pub fn with_progress<R>(&self, read: impl FnOnce(&ConsumerProgress) -> R) -> R {
        read(&lock(&self.shared).progress)
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
    let socket = bind().await;
    let rng = shell
        .seed
        .stream(&format!("client/{}/{}", shell.process, context.incarnation));
    let core = Consumer::new(
        shell.config.clone(),
        shell.cluster.clone(),
        context.incarnation,
        rng,
    );
    let process = ConsumerProcess::new(core, shell.workload.clone(), shell.shared.clone());
    let recorder = Recorder {
        history: shell.history.clone(),
        process: shell.process.clone(),
    };
    sim::shell::run(&context, socket, process, recorder).await;
}
