//! The world of one run: named nodes on madsim, their disks, network faults, and the trace.
//!
//! A scenario gets a [`World`] from the runner and drives everything through it. Every fault the
//! world injects (kill, restart, pause, partition, clog, loss, latency) is fed into the trace, so
//! the trace hash covers the fault schedule as well as the history.

use crate::disk::Disk;
use crate::time;
use crate::trace::Trace;
use crate::Seed;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The port every node's service listens on.
pub const SERVICE_PORT: u16 = 9092;

/// Lifecycle state of a node, as the world last set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Running,
    Paused,
    Killed,
}

/// What a node's init function gets each time the node (re)starts.
#[derive(Debug, Clone)]
pub struct NodeContext {
    pub name: String,
    pub addr: SocketAddr,
    /// The node's disk: the same disk in every incarnation.
    pub disk: Disk,
    /// 0 for the first start, then 1, 2, ... for each restart.
    pub incarnation: u64,
    /// Counts the node's timer wakeups (for the benchmark's baseline; never read by the logic).
    pub wakeups: WakeupCounter,
}

/// Counts timer wakeups of every node of a run: `streamsim bench` gives its bare-madsim baseline
/// as many wakeups as the scenario's shells really had, so the logic-overhead ratio compares
/// like with like. Counting has no effect on the run.
#[derive(Debug, Clone, Default)]
pub struct WakeupCounter(Arc<std::sync::atomic::AtomicU64>);

impl WakeupCounter {
    /// One timer wakeup of a node's shell.
    pub fn tick(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct NodeEntry {
    id: NodeId,
    addr: SocketAddr,
    handle: NodeHandle,
    state: NodeState,
    incarnation: Arc<Mutex<u64>>,
}

struct WorldState {
    nodes: BTreeMap<String, NodeEntry>,
    disks: BTreeMap<String, Disk>,
    /// Directed links (from, to) clogged by partitions or clogs, with how many faults clog
    /// each (a link opens again when the last of them is repaired).
    clogged_links: BTreeMap<(String, String), u32>,
    default_latency: Range<Duration>,
}

/// The world of one run. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct World {
    seed: Seed,
    trace: Trace,
    state: Arc<Mutex<WorldState>>,
    wakeups: WakeupCounter,
}

impl World {
    pub(crate) fn new(seed: Seed, trace: Trace) -> World {
        World {
            seed,
            trace,
            state: Arc::new(Mutex::new(WorldState {
                nodes: BTreeMap::new(),
                disks: BTreeMap::new(),
                clogged_links: BTreeMap::new(),
                default_latency: Duration::from_millis(1)..Duration::from_millis(10),
            })),
            wakeups: WakeupCounter::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, WorldState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// A named random stream of this run's seed.
    pub fn stream(&self, name: &str) -> ChaCha8Rng {
        self.seed.stream(name)
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Feeds a fault into the trace: `fault <time ns> <kind> <target>`.
    pub fn record_fault(&self, kind: &str, target: &str) {
        let line = format!("fault {} {kind} {target}", time::now_ns());
        tracing::info!(target: "streamsim::fault", kind, target, "fault");
        self.trace.feed(line.as_bytes());
    }

    // ---- nodes --------------------------------------------------------------------------------

    /// The disk of node `name`, created on first use. It outlives every incarnation of the node.
    pub fn disk(&self, name: &str) -> Disk {
        let mut state = self.lock();
        state
            .disks
            .entry(name.to_string())
            .or_insert_with(|| Disk::new(self.seed.stream(&format!("disk/{name}"))))
            .clone()
    }

    /// Starts a named node whose main task is `init(context)`; `init` runs again on each restart.
    /// Nodes get addresses 10.0.0.1, 10.0.0.2, ... in the order they are added.
    pub fn add_node<F, Fut>(&self, name: &str, init: F) -> SocketAddr
    where
        F: Fn(NodeContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let disk = self.disk(name);
        let mut state = self.lock();
        assert!(!state.nodes.contains_key(name), "node {name} added twice");
        let index = state.nodes.len() as u32 + 1;
        assert!(index < 65_000, "too many nodes");
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, (index >> 8) as u8, index as u8));
        let addr = SocketAddr::new(ip, SERVICE_PORT);
        let incarnation = Arc::new(Mutex::new(0u64));
        let init_name = name.to_string();
        let init_incarnation = incarnation.clone();
        let wakeups = self.wakeups.clone();
        let handle = Handle::current()
            .create_node()
            .name(name)
            .ip(ip)
            .init(move || {
                let context = NodeContext {
                    name: init_name.clone(),
                    addr,
                    disk: disk.clone(),
                    incarnation: *init_incarnation.lock().unwrap_or_else(|p| p.into_inner()),
                    wakeups: wakeups.clone(),
                };
                init(context)
            })
            .build();
        state.nodes.insert(
            name.to_string(),
            NodeEntry {
                id: handle.id(),
                addr,
                handle,
                state: NodeState::Running,
                incarnation,
            },
        );
        addr
    }

    /// Spawns an extra task on a running node (it dies with the node).
    pub fn spawn_on<Fut>(&self, name: &str, future: Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let state = self.lock();
        let entry = state
            .nodes
            .get(name)
            .unwrap_or_else(|| panic!("no node {name}"));
        entry.handle.spawn(future);
    }

    pub fn node_names(&self) -> Vec<String> {
        self.lock().nodes.keys().cloned().collect()
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        self.lock()
            .nodes
            .get(name)
            .unwrap_or_else(|| panic!("no node {name}"))
            .addr
    }

    /// The node whose service listens on `addr`, if any.
    pub fn name_of(&self, addr: SocketAddr) -> Option<String> {
        self.lock()
            .nodes
            .iter()
            .find(|(_, entry)| entry.addr.ip() == addr.ip())
            .map(|(name, _)| name.clone())
    }

    pub fn node_state(&self, name: &str) -> NodeState {
        self.lock()
            .nodes
            .get(name)
            .unwrap_or_else(|| panic!("no node {name}"))
            .state
    }

    fn node_id(&self, name: &str) -> NodeId {
        self.lock()
            .nodes
            .get(name)
            .unwrap_or_else(|| panic!("no node {name}"))
            .id
    }

    fn set_node_state(&self, name: &str, node_state: NodeState) {
        if let Some(entry) = self.lock().nodes.get_mut(name) {
            entry.state = node_state;
        }
    }

    /// Crashes a node: its tasks stop at once, its sockets close, its disk loses every unsynced
    /// byte (a torn prefix may survive). Killing a dead node does nothing.
    pub fn kill(&self, name: &str) {
        if self.node_state(name) == NodeState::Killed {
            return;
        }
        self.record_fault("crash", name);
        Handle::current().kill(self.node_id(name));
        self.disk(name).crash();
        self.set_node_state(name, NodeState::Killed);
    }

    /// Kills a node whose disk leaves `tail` where its unsynced bytes were (see
    /// [`crate::disk::Disk::crash_leaving`]); with `wipe`, its disk is then emptied as well.
    pub fn kill_leaving(&self, name: &str, tail: crate::disk::CrashTail, wipe: bool) {
        if self.node_state(name) == NodeState::Killed {
            return;
        }
        self.record_fault("crash", name);
        Handle::current().kill(self.node_id(name));
        self.disk(name).crash_leaving(tail);
        if wipe {
            self.record_fault("wipe", name);
            self.disk(name).wipe();
        }
        self.set_node_state(name, NodeState::Killed);
    }

    /// Starts a killed node again (a new incarnation: its init runs with the same disk). A running
    /// node is crashed first, as a power cycle would.
    pub fn restart(&self, name: &str) {
        if self.node_state(name) != NodeState::Killed {
            self.kill(name);
        }
        self.record_fault("restart", name);
        {
            let state = self.lock();
            let entry = &state.nodes[name];
            *entry.incarnation.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        }
        Handle::current().restart(self.node_id(name));
        self.set_node_state(name, NodeState::Running);
    }

    /// Freezes a node's tasks (a long GC pause, a stopped VM); its disk and sockets stay.
    pub fn pause(&self, name: &str) {
        if self.node_state(name) != NodeState::Running {
            return;
        }
        self.record_fault("pause", name);
        Handle::current().pause(self.node_id(name));
        self.set_node_state(name, NodeState::Paused);
    }

    pub fn resume(&self, name: &str) {
        if self.node_state(name) != NodeState::Paused {
            return;
        }
        self.record_fault("resume", name);
        Handle::current().resume(self.node_id(name));
        self.set_node_state(name, NodeState::Running);
    }

    /// Stops every node (without recording faults): their tasks are dropped, their sockets
    /// closed. The runner calls it when a run ends, so that nothing of the run outlives it —
    /// madsim keeps a node's pending tasks alive otherwise (reference cycles through its
    /// timers), and a campaign's memory would grow with every seed.
    pub(crate) fn shutdown(&self) {
        let ids: Vec<NodeId> = {
            let mut state = self.lock();
            let ids = state.nodes.values().map(|entry| entry.id).collect();
            for entry in state.nodes.values_mut() {
                entry.state = NodeState::Killed;
            }
            ids
        };
        let handle = Handle::current();
        for id in ids {
            handle.kill(id);
        }
    }

    // ---- network ------------------------------------------------------------------------------

    /// Clogs the directed link from `from` to `to`: messages on it are dropped.
    pub fn clog_link(&self, from: &str, to: &str) {
        self.record_fault("clog", &format!("{from}->{to}"));
        self.clog_quietly(from, to);
    }

    fn clog_quietly(&self, from: &str, to: &str) {
        let (from_id, to_id) = (self.node_id(from), self.node_id(to));
        NetSim::current().clog_link(from_id, to_id);
        *self
            .lock()
            .clogged_links
            .entry((from.to_string(), to.to_string()))
            .or_insert(0) += 1;
    }

    fn unclog_quietly(&self, from: &str, to: &str) {
        let key = (from.to_string(), to.to_string());
        let open = {
            let mut state = self.lock();
            match state.clogged_links.get_mut(&key) {
                None => false,
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    state.clogged_links.remove(&key);
                    true
                }
            }
        };
        if open {
            NetSim::current().unclog_link(self.node_id(from), self.node_id(to));
        }
    }

    /// Repairs one clog of the link (it opens when no other fault clogs it).
    pub fn unclog_link(&self, from: &str, to: &str) {
        self.record_fault("unclog", &format!("{from}->{to}"));
        self.unclog_quietly(from, to);
    }

    /// Repairs a partition made by [`World::partition`] with the same groups.
    pub fn unpartition(&self, groups: &[Vec<String>]) {
        let description = groups
            .iter()
            .map(|group| group.join(","))
            .collect::<Vec<_>>()
            .join("|");
        self.record_fault("unpartition", &description);
        for (from, to) in partition_links(groups) {
            self.unclog_quietly(&from, &to);
        }
    }

    /// Splits the named nodes into groups that cannot reach each other (both directions).
    /// Nodes in no group keep talking to everyone.
    pub fn partition(&self, groups: &[Vec<String>]) {
        let description = groups
            .iter()
            .map(|group| group.join(","))
            .collect::<Vec<_>>()
            .join("|");
        self.record_fault("partition", &description);
        for (from, to) in partition_links(groups) {
            self.clog_quietly(&from, &to);
        }
    }

    /// The groups that [`World::isolate`] makes for `name`.
    pub fn isolation_groups(&self, name: &str) -> Vec<Vec<String>> {
        let others: Vec<String> = self
            .node_names()
            .into_iter()
            .filter(|other| other != name)
            .collect();
        vec![vec![name.to_string()], others]
    }

    /// Cuts one node off from every other node, both ways.
    pub fn isolate(&self, name: &str) {
        let groups = self.isolation_groups(name);
        self.partition(&groups);
    }

    /// Probability in [0, 1] that a message is lost.
    pub fn set_packet_loss(&self, rate: f64) {
        assert!(
            (0.0..=1.0).contains(&rate),
            "loss rate {rate} outside [0, 1]"
        );
        self.record_fault("loss", &format!("{rate}"));
        NetSim::current().update_config(|config| config.packet_loss_rate = rate);
    }

    /// Latency range of every message.
    pub fn set_latency(&self, latency: Range<Duration>) {
        assert!(!latency.is_empty(), "empty latency range");
        self.record_fault(
            "latency",
            &format!(
                "{}..{}us",
                latency.start.as_micros(),
                latency.end.as_micros()
            ),
        );
        NetSim::current().update_config(|config| config.send_latency = latency);
    }

    /// Repairs the network: every clogged link open, no loss, default latency.
    pub fn heal_network(&self) {
        self.record_fault("heal-network", "");
        let (links, latency) = {
            let mut state = self.lock();
            (
                std::mem::take(&mut state.clogged_links),
                state.default_latency.clone(),
            )
        };
        let net = NetSim::current();
        for (from, to) in links.into_keys() {
            net.unclog_link(self.node_id(&from), self.node_id(&to));
        }
        net.update_config(|config| {
            config.packet_loss_rate = 0.0;
            config.send_latency = latency;
        });
    }

    /// Whether any link is clogged now.
    pub fn network_is_faulty(&self) -> bool {
        !self.lock().clogged_links.is_empty()
    }

    /// Timer wakeups of all nodes' shells so far (as counted by their `NodeContext::wakeups`).
    pub fn timer_wakeups(&self) -> u64 {
        self.wakeups.get()
    }

    /// Messages the simulated network has carried so far.
    pub fn network_messages(&self) -> u64 {
        NetSim::current().stat().msg_count
    }
}

/// Every directed link between nodes of different groups.
fn partition_links(groups: &[Vec<String>]) -> Vec<(String, String)> {
    let mut links = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        for (j, other) in groups.iter().enumerate() {
            if i == j {
                continue;
            }
            for from in group {
                for to in other {
                    links.push((from.clone(), to.clone()));
                }
            }
        }
    }
    links
}
