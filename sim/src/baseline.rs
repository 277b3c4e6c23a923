//! The benchmark's baseline: bare madsim nodes that tick and exchange messages like a scenario's
//! nodes do, with no broker or client logic. `streamsim bench` runs it with the node count,
//! tick intervals, message count and simulated time a scenario measured, so the ratio of the two
//! seeds/s is the cost of streamsim's own logic over the simulator's floor.

use crate::net::{Inbox, Socket};
use crate::{run, RunLimits, RunOutcome, Seed, World};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// What one baseline run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineSpec {
    /// Tick interval of each node (one entry per node).
    pub node_ticks: Vec<Duration>,
    /// Messages to send in all, spread evenly over the nodes' ticks.
    pub messages: u64,
    /// How long the run lasts, in simulated time.
    pub sim_time: Duration,
}

impl BaselineSpec {
    /// `nodes` nodes ticking at one interval, `timer_wakeups` ticks in all over `sim_time` (what a
    /// scenario run's report counts), and `messages` messages.
    pub fn even(
        nodes: usize,
        timer_wakeups: u64,
        messages: u64,
        sim_time: Duration,
    ) -> BaselineSpec {
        let tick = sim_time.mul_f64(nodes as f64 / timer_wakeups.max(1) as f64);
        BaselineSpec {
            node_ticks: vec![tick.max(Duration::from_micros(100)); nodes],
            messages,
            sim_time,
        }
    }
}

#[derive(Debug, Clone)]
struct Ping;

/// Runs one baseline seed; the outcome's value is the number of messages received.
pub fn run_baseline(seed: Seed, spec: &BaselineSpec) -> RunOutcome<u64> {
    let spec = spec.clone();
    let limits = RunLimits {
        sim_time: spec.sim_time + Duration::from_secs(60),
        wall_clock: Duration::from_secs(300),
    };
    run(seed, limits, move |world: World| async move {
        let nodes = spec.node_ticks.len().max(1);
        let total_ticks: f64 = spec
            .node_ticks
            .iter()
            .map(|tick| spec.sim_time.as_secs_f64() / tick.as_secs_f64().max(1e-6))
            .sum();
        let per_tick = spec.messages as f64 / total_ticks.max(1.0);
        let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let addrs: Vec<String> = (0..nodes).map(|index| format!("node-{index}")).collect();
        // Addresses are known only once nodes exist: add them, then tell them the peers.
        let peers: Arc<std::sync::Mutex<Vec<std::net::SocketAddr>>> =
            Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut added = Vec::new();
        for (index, name) in addrs.iter().enumerate() {
            let tick = spec
                .node_ticks
                .get(index)
                .copied()
                .unwrap_or(Duration::from_millis(10));
            let peers = peers.clone();
            let received = received.clone();
            let seed = world.seed();
            let addr = world.add_node(name, move |context| {
                let peers = peers.clone();
                let received = received.clone();
                async move {
                    let socket = Arc::new(Socket::<Ping>::bind(context.addr).await.expect("bind"));
                    let mut inbox = Inbox::spawn(socket.clone());
                    let mut rng = seed.stream(&format!("baseline/{}", context.name));
                    let mut owed = 0.0f64;
                    let mut next_tick = crate::time::instant() + tick;
                    loop {
                        tokio::select! {
                            biased;
                            message = inbox.recv() => {
                                if message.is_none() { return; }
                                received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            _ = madsim::time::sleep_until(next_tick) => {
                                next_tick += tick;
                                owed += per_tick;
                                let targets: Vec<std::net::SocketAddr> =
                                    peers.lock().unwrap_or_else(|p| p.into_inner()).clone();
                                while owed >= 1.0 && !targets.is_empty() {
                                    owed -= 1.0;
                                    let to = targets[rng.gen_range(0..targets.len())];
                                    socket.send(to, Ping).await;
                                }
                            }
                        }
                    }
                }
            });
            added.push(addr);
        }
        *peers.lock().unwrap_or_else(|p| p.into_inner()) = added;
        madsim::time::sleep(spec.sim_time).await;
        received.load(std::sync::atomic::Ordering::Relaxed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_sends_about_the_messages_asked_for() {
        let spec = BaselineSpec {
            node_ticks: vec![Duration::from_millis(10); 4],
            messages: 2_000,
            sim_time: Duration::from_secs(5),
        };
        let outcome = run_baseline(Seed::new(1), &spec);
        assert!(outcome.status.is_completed(), "{:?}", outcome.status);
        let received = outcome.value.unwrap();
        assert!((1_800..=2_050).contains(&received), "received {received}");
    }
}
