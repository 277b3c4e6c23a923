//! The producer process on madsim: a node running a [`Producer`] core and a workload that sends
//! `<process>-<n>` values.

use super::{bind, crash_process, stop_before_restart, wait_for, Recorder};
use crate::common::ClusterAddrs;
use crate::history::History;
use crate::process::{lock, ProducerProcess, ProducerProgress, ProducerShared, ProducerWorkload};
use crate::producer::{Producer, ProducerConfig};
use sim::{NodeContext, Seed, World};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
struct Shell {
    process: String,
    seed: Seed,
    cluster: ClusterAddrs,
    config: ProducerConfig,
    workload: ProducerWorkload,
    history: History,
    shared: Arc<Mutex<ProducerShared>>,
}

/// A running producer process. Cheap to clone.
#[derive(Clone)]
pub struct ProducerNode {
    /// The node's (and the history process's) name.
    pub name: String,
    pub addr: SocketAddr,
    world: World,
    history: History,
    shared: Arc<Mutex<ProducerShared>>,
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
        let shared = Arc::new(Mutex::new(ProducerShared::default()));
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
    let socket = bind().await;
    let rng = shell
        .seed
        .stream(&format!("client/{}/{}", shell.process, context.incarnation));
    let core = Producer::new(
        shell.config.clone(),
        shell.cluster.clone(),
        context.incarnation,
        rng,
    );
    let process = ProducerProcess::new(
        &shell.process,
        core,
        shell.workload.clone(),
        shell.shared.clone(),
    );
    let recorder = Recorder {
        history: shell.history.clone(),
        process: shell.process.clone(),
    };
    sim::shell::run(&context, socket, process, recorder).await;
}
