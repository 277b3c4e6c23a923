//! The controller and the brokers on madsim, and `start_cluster`.
//!
//! Each node runs its core (a [`protocol::node::Node`]) in the one shell, [`sim::shell::run`],
//! which moves messages and timers; this module only says, per node, where its observations go
//! (the scenario's observer), what it publishes (a broker's status) and which commands it takes
//! (the faults a scenario injects). Everything that decides lives in the cores.

mod disk;
mod kafka;

use crate::api::{BrokerId, Envelope};
pub use crate::controller::CONTROLLER_TICK;
use crate::controller::{ControllerConfig, ControllerCore, ControllerEvent};
use crate::core::{AdminCommand, BrokerConfig, BrokerCore, Observation, ReplicaStatus};
use sim::disk::Disk;
use sim::net::Socket;
use sim::shell::{self, Host};
use sim::{NodeContext, World};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// The port every broker serves Kafka's wire protocol on (madsim TCP, on the broker's address).
pub const KAFKA_PORT: u16 = 9092;

/// How brokers present their Kafka listeners to clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaListeners {
    /// The address a broker advertises in Kafka Metadata answers; a broker not named here
    /// advertises its own address with [`KAFKA_PORT`]. `streamsim serve` names the real
    /// `127.0.0.1` addresses clients outside the simulation connect to.
    pub advertised: BTreeMap<BrokerId, SocketAddr>,
    /// Whether brokers serve Kafka (`kafka.rs`) even without advertised addresses. Binding the
    /// listener and its tasks draw on madsim's random number generator, which would change
    /// every existing run's trace: brokers serve Kafka only when this is set or `advertised`
    /// names addresses (as `streamsim serve` does), see [`KafkaListeners::serves`].
    pub enabled: bool,
}

impl KafkaListeners {
    /// Whether brokers run the Kafka listener: `enabled`, or advertised addresses given.
    pub fn serves(&self) -> bool {
        self.enabled || !self.advertised.is_empty()
    }
}

/// The cluster's shape and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub brokers: u32,
    pub controller: ControllerConfig,
    /// Settings every broker gets (its id is set per broker).
    pub broker: BrokerConfig,
    /// The brokers' Kafka listeners.
    pub kafka: KafkaListeners,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            brokers: 3,
            controller: ControllerConfig::default(),
            broker: BrokerConfig::new(0),
            kafka: KafkaListeners::default(),
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
    /// Where the broker serves Kafka's wire protocol inside the simulation.
    pub fn kafka_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr.ip(), KAFKA_PORT)
    }

    pub fn inject(&self, command: AdminCommand) {
        self.admin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(command);
    }

    pub fn status(&self) -> BrokerStatus {
        self.with_status(BrokerStatus::clone)
    }

    /// `read` of the broker's status, without copying it (a scenario polls statuses often).
    pub fn with_status<R>(&self, read: impl FnOnce(&BrokerStatus) -> R) -> R {
        read(&self.status.lock().unwrap_or_else(|p| p.into_inner()))
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
            kafka: config.kafka.clone(),
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

async fn controller_main(context: NodeContext, config: ControllerConfig, observer: Observer) {
    let socket = Arc::new(
        Socket::<Envelope>::bind(context.addr)
            .await
            .expect("the controller binds its port"),
    );
    let core = loop {
        match ControllerCore::open(context.disk.clone(), config.clone(), sim::time::now_ms()) {
            Ok(core) => break core,
            Err(error) => {
                tracing::warn!(%error, "controller cannot open its state; retrying");
                madsim::time::sleep(OPEN_RETRY).await;
            }
        }
    };
    shell::run(&context, socket, core, ControllerHost { observer }).await;
}

/// Where the controller's events go.
struct ControllerHost {
    observer: Observer,
}

impl Host<ControllerCore<Disk>> for ControllerHost {
    fn observe(&mut self, event: ControllerEvent) {
        (self.observer)(ClusterEvent::Controller(event));
    }
}

#[derive(Clone)]
struct BrokerShell {
    config: BrokerConfig,
    controller_addr: SocketAddr,
    kafka: KafkaListeners,
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
    if shell.kafka.serves() {
        let mut gateway = wire::GatewayConfig::new(
            shell.config.broker_id,
            context.addr,
            shell.controller_addr,
            KAFKA_PORT,
        );
        gateway.advertised = shell.kafka.advertised.clone();
        madsim::task::spawn(kafka::serve(gateway));
    }
    let core = BrokerCore::new(
        context.disk.clone(),
        shell.config.clone(),
        context.addr,
        shell.controller_addr,
        incarnation,
    );
    let host = BrokerHost { shell, incarnation };
    shell::run(&context, socket, core, host).await;
}

/// A broker's observations go to the cluster's observer; its status is published after each
/// tick; the faults a scenario injects arrive as commands.
struct BrokerHost {
    shell: BrokerShell,
    incarnation: u64,
}

impl Host<BrokerCore<Disk>> for BrokerHost {
    fn observe(&mut self, observation: Observation) {
        (self.shell.observer)(ClusterEvent::Broker(observation));
    }

    fn after_tick(&mut self, core: &BrokerCore<Disk>) {
        let mut status = self.shell.status.lock().unwrap_or_else(|p| p.into_inner());
        status.incarnation = self.incarnation;
        status.metadata_version = core.metadata().version;
        core.write_replica_status(&mut status.replicas);
    }

    fn commands(&mut self) -> Vec<AdminCommand> {
        let mut admin = self.shell.admin.lock().unwrap_or_else(|p| p.into_inner());
        // Asked after every step; mostly nothing waits.
        if admin.is_empty() {
            return Vec::new();
        }
        admin.drain(..).collect()
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
