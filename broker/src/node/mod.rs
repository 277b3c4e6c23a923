//! The madsim node shells of the controller and the brokers, and `start_cluster`.
//!
//! A shell only moves messages and timers: it receives envelopes on its socket, feeds them and
//! ticks to its core with the simulated time, sends what the core asks, and reports the core's
//! observations to the scenario's observer. Everything that decides lives in the cores.

mod disk;

use crate::api::{BrokerId, Envelope};
use crate::controller::{ControllerConfig, ControllerCore, ControllerEvent};
use crate::core::{AdminCommand, BrokerConfig, BrokerCore, Observation, Output, ReplicaStatus};
use sim::net::{Inbox, Socket};
use sim::{NodeContext, World};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the controller's shell ticks its core (broker shells sleep until their core's next
/// deadline instead).
pub const CONTROLLER_TICK: Duration = Duration::from_millis(50);
/// How long a controller waits before retrying to open its state after a disk error.
const OPEN_RETRY: Duration = Duration::from_millis(100);

/// Something a cluster node reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    Broker(Observation),
    Controller(ControllerEvent),
}

/// Receives the cluster's events (for the history, coverage and reports).
pub type Observer = Arc<dyn Fn(ClusterEvent) + Send + Sync>;

/// The cluster's shape and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub brokers: u32,
    pub controller: ControllerConfig,
    /// Settings every broker gets (its id is set per broker).
    pub broker: BrokerConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            brokers: 3,
            controller: ControllerConfig::default(),
            broker: BrokerConfig::new(0),
        }
    }
}

/// What a scenario can see of a broker while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerStatus {
    pub incarnation: u64,
    pub metadata_version: u64,
    pub replicas: Vec<ReplicaStatus>,
}

/// A running broker's handles.
#[derive(Clone)]
pub struct BrokerHandle {
    pub id: BrokerId,
    pub name: String,
    pub addr: SocketAddr,
    /// Faults to inject; drained by the broker at its next step (dropped while it is down).
    pub admin: Arc<Mutex<VecDeque<AdminCommand>>>,
    pub status: Arc<Mutex<BrokerStatus>>,
}

impl BrokerHandle {
    pub fn inject(&self, command: AdminCommand) {
        self.admin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(command);
    }

    pub fn status(&self) -> BrokerStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A started cluster.
#[derive(Clone)]
pub struct Cluster {
    pub controller_name: String,
    pub controller_addr: SocketAddr,
    pub brokers: BTreeMap<BrokerId, BrokerHandle>,
}

impl Cluster {
    pub fn broker_addrs(&self) -> Vec<SocketAddr> {
        self.brokers.values().map(|b| b.addr).collect()
    }

    pub fn broker_name(id: BrokerId) -> String {
        format!("broker-{id}")
    }
}

/// Starts a controller (`controller`) and brokers `broker-1`..`broker-N` on the world.
pub fn start_cluster(world: &World, config: ClusterConfig, observer: Observer) -> Cluster {
    let controller_name = "controller".to_string();
    let controller_config = config.controller.clone();
    let controller_observer = observer.clone();
    let controller_addr = world.add_node(&controller_name, move |context| {
        controller_main(
            context,
            controller_config.clone(),
            controller_observer.clone(),
        )
    });
    let mut brokers = BTreeMap::new();
    for id in 1..=config.brokers {
        let name = Cluster::broker_name(id);
        let admin = Arc::new(Mutex::new(VecDeque::new()));
        let status = Arc::new(Mutex::new(BrokerStatus::default()));
        let mut broker_config = config.broker.clone();
        broker_config.broker_id = id;
        broker_config.rack = format!("rack-{id}");
        let shell = BrokerShell {
            config: broker_config,
            controller_addr,
            observer: observer.clone(),
            admin: admin.clone(),
            status: status.clone(),
        };
        let addr = world.add_node(&name, move |context| broker_main(context, shell.clone()));
        brokers.insert(
            id,
            BrokerHandle {
                id,
                name,
                addr,
                admin,
                status,
            },
        );
    }
    Cluster {
        controller_name,
        controller_addr,
        brokers,
    }
}

async fn send_after_latency(
    socket: &Arc<Socket<Envelope>>,
    disk: &sim::disk::Disk,
    to: SocketAddr,
    envelope: Envelope,
) {
    let latency = disk.draw_latency();
    if latency.is_zero() {
        socket.send(to, envelope).await;
    } else {
        let socket = socket.clone();
        madsim::task::spawn(async move {
            madsim::time::sleep(latency).await;
            socket.send(to, envelope).await;
        });
    }
}

async fn controller_main(context: NodeContext, config: ControllerConfig, observer: Observer) {
    let socket = Arc::new(
        Socket::<Envelope>::bind(context.addr)
            .await
            .expect("the controller binds its port"),
    );
    let mut core = loop {
        match ControllerCore::open(context.disk.clone(), config.clone(), sim::time::now_ms()) {
            Ok(core) => break core,
            Err(error) => {
                tracing::warn!(%error, "controller cannot open its state; retrying");
                madsim::time::sleep(OPEN_RETRY).await;
            }
        }
    };
    let mut inbox = Inbox::spawn(socket.clone());
    let mut next_tick = sim::time::instant() + CONTROLLER_TICK;
    let mut timer = sim::time::Timer::at(next_tick);
    loop {
        tokio::select! {
            biased;
            received = inbox.recv() => {
                let Some((envelope, from)) = received else { return };
                if let Envelope::Request { correlation_id, request } = envelope {
                    let response = core.on_request(sim::time::now_ms(), request);
                    let envelope = Envelope::Response { correlation_id, response };
                    send_after_latency(&socket, &context.disk, from, envelope).await;
                }
            }
            _ = &mut timer => {
                next_tick += CONTROLLER_TICK;
                timer.reset(next_tick);
                context.wakeups.tick();
                core.on_tick(sim::time::now_ms());
            }
        }
        for event in core.take_events() {
            observer(ClusterEvent::Controller(event));
        }
    }
}

#[derive(Clone)]
struct BrokerShell {
    config: BrokerConfig,
    controller_addr: SocketAddr,
    observer: Observer,
    admin: Arc<Mutex<VecDeque<AdminCommand>>>,
    status: Arc<Mutex<BrokerStatus>>,
}

async fn broker_main(context: NodeContext, shell: BrokerShell) {
    let socket = Arc::new(
        Socket::<Envelope>::bind(context.addr)
            .await
            .expect("a broker binds its port"),
    );
    // Faults aimed at the previous incarnation died with it.
    shell
        .admin
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    let incarnation = context.incarnation + 1;
    let mut core = BrokerCore::new(
        context.disk.clone(),
        shell.config.clone(),
        context.addr,
        incarnation,
    );
    let mut inbox = Inbox::spawn(socket.clone());
    let mut timer = sim::time::Timer::at(sim::time::instant());
    loop {
        tokio::select! {
            biased;
            received = inbox.recv() => {
                let Some((envelope, from)) = received else { return };
                let now_ms = sim::time::now_ms();
                match envelope {
                    Envelope::Request { correlation_id, request } => {
                        let read_delay_ms = context.disk.draw_latency().as_millis() as u64;
                        core.on_request(now_ms, from, correlation_id, request, read_delay_ms);
                    }
                    Envelope::Response { correlation_id, response } => {
                        core.on_response(now_ms, correlation_id, response);
                    }
                }
            }
            _ = &mut timer => {
                context.wakeups.tick();
                core.on_tick(sim::time::now_ms());
                let mut status = shell.status.lock().unwrap_or_else(|p| p.into_inner());
                *status = BrokerStatus {
                    incarnation,
                    metadata_version: core.metadata().version,
                    replicas: core.replica_status(),
                };
            }
        }
        let commands: Vec<AdminCommand> = shell
            .admin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for command in commands {
            core.on_admin(sim::time::now_ms(), command);
        }
        for output in core.take_outputs() {
            match output {
                Output::Respond {
                    to,
                    correlation_id,
                    response,
                } => {
                    socket
                        .send(
                            to,
                            Envelope::Response {
                                correlation_id,
                                response,
                            },
                        )
                        .await
                }
                Output::ToController {
                    correlation_id,
                    request,
                } => {
                    socket
                        .send(
                            shell.controller_addr,
                            Envelope::Request {
                                correlation_id,
                                request,
                            },
                        )
                        .await
                }
                Output::ToBroker {
                    addr,
                    correlation_id,
                    request,
                } => {
                    socket
                        .send(
                            addr,
                            Envelope::Request {
                                correlation_id,
                                request,
                            },
                        )
                        .await
                }
                Output::Observe(observation) => (shell.observer)(ClusterEvent::Broker(observation)),
            }
        }
        // Sleep until the core's next timer (inputs wake it earlier).
        let deadline_ms = core.next_deadline_ms(sim::time::now_ms());
        timer.reset(sim::time::instant_at(Duration::from_millis(deadline_ms)));
    }
}

/// Largest number of calls an [`RpcClient`] keeps waiting at once.
const RPC_PENDING_MAX: usize = 10_000;

/// A small request/response client over the simulated network, for admin tasks and tests:
/// `call` sends a request and waits (bounded) for the matching answer.
///
/// It must be created inside a node's task: its receive loop runs on that node and dies with it.
pub struct RpcClient {
    socket: Arc<Socket<Envelope>>,
    pending: Arc<Mutex<BTreeMap<u64, tokio::sync::oneshot::Sender<crate::api::Response>>>>,
    next_correlation_id: std::sync::atomic::AtomicU64,
}

impl RpcClient {
    pub async fn bind() -> std::io::Result<RpcClient> {
        let socket = Arc::new(Socket::<Envelope>::bind_any().await?);
        let pending: Arc<Mutex<BTreeMap<u64, tokio::sync::oneshot::Sender<crate::api::Response>>>> =
            Arc::new(Mutex::new(BTreeMap::new()));
        let receive_socket = socket.clone();
        let receive_pending = pending.clone();
        madsim::task::spawn(async move {
            while let Ok((envelope, _from)) = receive_socket.recv().await {
                if let Envelope::Response {
                    correlation_id,
                    response,
                } = envelope
                {
                    let waiter = receive_pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&correlation_id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(response);
                    }
                }
            }
        });
        Ok(RpcClient {
            socket,
            pending,
            next_correlation_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Sends `request` to `to` and waits up to `timeout` for the answer (None: lost or late).
    pub async fn call(
        &self,
        to: SocketAddr,
        request: crate::api::Request,
        timeout: Duration,
    ) -> Option<crate::api::Response> {
        let correlation_id = self
            .next_correlation_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            assert!(pending.len() < RPC_PENDING_MAX, "too many pending calls");
            pending.insert(correlation_id, sender);
        }
        self.socket
            .send(
                to,
                Envelope::Request {
                    correlation_id,
                    request,
                },
            )
            .await;
        let answer = madsim::time::timeout(timeout, receiver).await;
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&correlation_id);
        answer.ok().and_then(Result::ok)
    }

    /// Calls until an answer arrives, at most `attempts` times.
    pub async fn call_with_retries(
        &self,
        to: SocketAddr,
        request: crate::api::Request,
        timeout: Duration,
        attempts: u32,
    ) -> Option<crate::api::Response> {
        for _ in 0..attempts {
            if let Some(response) = self.call(to, request.clone(), timeout).await {
                return Some(response);
            }
        }
        None
    }
}
