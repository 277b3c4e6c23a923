//! `streamsim serve`: a scenario's cluster on the wall clock, reachable by Kafka clients outside
//! the process over real TCP, while the scenario's faults are applied (docs/serve.md).
//!
//! The scenario runs exactly as `streamsim run` runs it — madsim, one seed, the same phases —
//! with three additions, all in this crate:
//! - [`pacer`]: simulated time is kept from running ahead of the wall clock ([`clock`] reads
//!   the real clocks past madsim's interception);
//! - [`bridge`]: real listeners on `127.0.0.1:PORT+i-1`, bound before the simulation starts, are
//!   carried byte for byte to broker `i`'s Kafka port inside the simulation;
//! - the run ends with the scenario (after a hold), or early when `stop` is set (Ctrl-C), and
//!   the history is handed back either way, its `time`s as Unix-epoch nanoseconds.

pub mod bridge;
pub mod clock;
pub mod pacer;

use bridge::{BridgeStats, Route, SharedStats};
use client::history::Event;
use client::History;
use oracle::Op;
use pacer::{Drift, Pacer};
use scenarios::bugs::BugSelection;
use scenarios::runtime::{execute_serving, Serving};
use scenarios::{RunError, RunRequest};
use sim::{RunLimits, Seed};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The name of the bridge's node in the simulation (no fault targets it; a partition that
/// splits the cluster puts it with the nodes not named, like the scenario's own clients).
pub const BRIDGE_NODE: &str = "bridge";
/// The node that appends a served run's history to its file as the run goes.
pub const HISTORY_NODE: &str = "history-writer";
/// Default of `--hold-ms`: how long the cluster stays up after the scenario's last phase.
pub const HOLD_DEFAULT_MS: u64 = 10_000;
/// How often (simulated) the run looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(10);
/// Limits of a served run: it ends with its scenario or on Ctrl-C, not on a timer.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// What to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub request: RunRequest,
    /// Broker 1 listens here, broker i on the port + i - 1 (same address).
    pub listen: SocketAddr,
    /// Whether the scenario's own clients run (`--no-clients`: they do not).
    pub clients: bool,
    /// How long the cluster stays up after the scenario's last phase.
    pub hold: Duration,
    /// Where the history goes. It is written as the run goes (every
    /// [`HISTORY_FLUSH_EVERY`]), so a serve killed outright leaves what it had recorded up to
    /// the last flush; when the run ends the rest is appended (or, if an append failed during the
    /// run, the file is written whole again).
    pub history: Option<std::path::PathBuf>,
}

/// How often a served run appends what its history recorded to the history file.
pub const HISTORY_FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The history file of a served run while it runs: the events appended so far.
struct HistoryFile {
    out: std::io::BufWriter<std::fs::File>,
    written: usize,
    /// An append failed: the file may lack events in the middle, so the end of the run writes it
    /// whole.
    failed: bool,
}

impl HistoryFile {
    /// Appends the events recorded since the last call, as the end of the run will have them
    /// (faults of absent clients left out, `time` moved to the wall clock), and flushes.
    fn append(
        &mut self,
        history: &History,
        absent_clients: &BTreeSet<String>,
        unix_ns_at_sim_zero: u64,
    ) -> std::io::Result<()> {
        let fresh: Vec<Event> = history.with_events(|events| {
            let fresh = events.get(self.written..).unwrap_or_default().to_vec();
            self.written = events.len();
            fresh
        });
        let fresh = served_events(fresh, absent_clients, unix_ns_at_sim_zero);
        client::history::write_jsonl(&fresh, &mut self.out)
    }
}

/// A run's recorded events as a served history has them: faults aimed at clients that did not
/// run are left out, and `time` is moved from simulated time to the wall clock.
fn served_events(
    mut events: Vec<Event>,
    absent_clients: &BTreeSet<String>,
    unix_ns_at_sim_zero: u64,
) -> Vec<Event> {
    events.retain(|event| match &event.op {
        Op::Fault {
            target: Some(target),
            ..
        } => !absent_clients.contains(target.as_ref()),
        _ => true,
    });
    for event in &mut events {
        event.time_ns = event.time_ns.saturating_add(unix_ns_at_sim_zero);
    }
    events
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("--listen {0}")]
    Listen(String),
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot write history {}: {error}", path.display())]
    History {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

/// How a served run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The scenario ran to its end (and the hold passed).
    Completed,
    /// Stopped early (Ctrl-C); `scenario_done` says whether the scenario had ended (the hold
    /// was cut short) or was cut off in the middle.
    Interrupted { scenario_done: bool },
    /// Setup did not complete (topics, leaders): nothing was served.
    SetupFailed(Vec<String>),
    /// The simulation itself failed (a panic inside it).
    Failed(String),
}

/// What a served run produced.
#[derive(Debug)]
pub struct ServeOutcome {
    pub ending: Ending,
    /// The run's history, `time` in nanoseconds since the Unix epoch.
    pub events: Vec<Event>,
    /// The wall clock at simulated time 0 (Unix-epoch nanoseconds).
    pub unix_ns_at_sim_zero: u64,
    pub drift: Drift,
    pub bridge: BridgeStats,
}

/// The addresses brokers 1..=`brokers` listen on: `listen`, then the next ports.
pub fn broker_addresses(listen: SocketAddr, brokers: u32) -> Result<Vec<SocketAddr>, ServeError> {
    if listen.port() == 0 {
        return Err(ServeError::Listen(format!(
            "{listen}: give a port (broker i listens on PORT+i-1, so the ports must be known)"
        )));
    }
    if listen.ip().is_unspecified() {
        return Err(ServeError::Listen(format!(
            "{listen}: give the address clients connect to (e.g. 127.0.0.1:{}): brokers \
             advertise it in Metadata",
            listen.port()
        )));
    }
    let last = u32::from(listen.port()) + brokers.saturating_sub(1);
    if last > u32::from(u16::MAX) {
        return Err(ServeError::Listen(format!(
            "{listen}: {brokers} brokers need ports {}..={last}, beyond 65535",
            listen.port()
        )));
    }
    Ok((0..brokers)
        .map(|i| SocketAddr::new(listen.ip(), listen.port() + i as u16))
        .collect())
}

/// Binds the real, non-blocking listeners (before the simulation starts: a busy port is an
/// error here, not inside the run).
pub fn bind(addresses: &[SocketAddr]) -> Result<Vec<TcpListener>, ServeError> {
    addresses
        .iter()
        .map(|&addr| {
            let listener =
                TcpListener::bind(addr).map_err(|error| ServeError::Bind { addr, error })?;
            listener
                .set_nonblocking(true)
                .map_err(|error| ServeError::Bind { addr, error })?;
            Ok(listener)
        })
        .collect()
}

/// Serves `config`'s scenario on `listeners` (from [`bind`], one per broker, in broker order)
/// until it ends or `stop` is set. `on_ready` is called (inside the simulation, once) when setup
/// is done: the cluster has its topics and leaders, and the bridge is accepting.
pub fn serve(
    config: ServeConfig,
    listeners: Vec<TcpListener>,
    stop: Arc<AtomicBool>,
    on_ready: impl FnOnce() + Send + 'static,
) -> Result<ServeOutcome, ServeError> {
    let scenario = config.request.scenario()?;
    scenario.validate().map_err(RunError::InvalidScenario)?;
    let bugs = BugSelection::from_names(&config.request.bugs).map_err(RunError::UnknownBug)?;
    let addresses = broker_addresses(config.listen, scenario.cluster.brokers)?;
    assert_eq!(listeners.len(), addresses.len(), "one listener per broker");
    let advertised: BTreeMap<u32, SocketAddr> = (1..).zip(addresses.iter().copied()).collect();
    // Without the scenario's clients, faults aimed at them are not in the history either: an
    // external client of the same name (a harness's `producer-0`) must not look crashed.
    let absent_clients: BTreeSet<String> = if config.clients {
        BTreeSet::new()
    } else {
        (0..scenario.producers.len())
            .map(scenarios::runtime::producer_name)
            .chain((0..scenario.consumers.len()).map(scenarios::runtime::consumer_name))
            .collect()
    };

    let history_file: Option<Arc<Mutex<HistoryFile>>> = match &config.history {
        Some(path) => Some(Arc::new(Mutex::new(HistoryFile {
            out: std::io::BufWriter::new(std::fs::File::create(path).map_err(|error| {
                ServeError::History {
                    path: path.clone(),
                    error,
                }
            })?),
            written: 0,
            failed: false,
        }))),
        None => None,
    };
    let history_slot: Arc<Mutex<Option<History>>> = Arc::default();
    let pacer_slot: Arc<Mutex<Option<Pacer>>> = Arc::default();
    let stats: SharedStats = Arc::default();
    let (history_out, pacer_out, stats_out) =
        (history_slot.clone(), pacer_slot.clone(), stats.clone());
    let (clients, hold) = (config.clients, config.hold);
    let (flusher_file, flusher_absent) = (history_file.clone(), absent_clients.clone());
    let seed = Seed::new(config.request.seed);
    let limits = RunLimits {
        sim_time: FAR,
        wall_clock: FAR,
    };
    let outcome = sim::run(seed, limits, move |world| async move {
        // The bridge's own flag, set when the run ends (however it ends): `stop` is the
        // caller's (Ctrl-C), never written here.
        let bridge_stop = Arc::new(AtomicBool::new(false));
        let end_bridge = bridge_stop.clone();
        let on_start = move |world: &sim::World,
                             cluster: &broker::node::Cluster,
                             history: &History| {
            *history_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(history.clone());
            let routes: Vec<Route> = listeners
                .into_iter()
                .zip(cluster.brokers.values())
                .map(|(listener, broker)| Route {
                    listener,
                    target: broker.kafka_addr(),
                })
                .collect();
            let pacer = Pacer::start();
            *pacer_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(pacer.clone());
            if let Some(file) = flusher_file {
                // Appends the history as it grows, on a node of its own (never faulted).
                let parts = Mutex::new(Some((file, history.clone(), pacer.clone())));
                world.add_node(HISTORY_NODE, move |_context| {
                    let parts = parts.lock().unwrap_or_else(|p| p.into_inner()).take();
                    let absent = flusher_absent.clone();
                    async move {
                        let Some((file, history, pacer)) = parts else {
                            return std::future::pending().await;
                        };
                        loop {
                            madsim::time::sleep(HISTORY_FLUSH_EVERY).await;
                            let written = {
                                let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
                                let written =
                                    file.append(&history, &absent, pacer.unix_ns_at_sim_zero());
                                // The end of the run then writes the file whole.
                                file.failed |= written.is_err();
                                written
                            };
                            if let Err(error) = written {
                                // Said once; the end of the run writes the file whole
                                // again (and fails clearly if it still cannot).
                                eprintln!("streamsim: cannot append to the history file: {error}");
                                return std::future::pending().await;
                            }
                        }
                    }
                });
            }
            // The node's init runs once (the bridge is never killed); it takes the routes.
            let parts = Mutex::new(Some((routes, pacer, bridge_stop, stats)));
            world.add_node(BRIDGE_NODE, move |_context| {
                let parts = parts.lock().unwrap_or_else(|p| p.into_inner()).take();
                async move {
                    match parts {
                        Some((routes, pacer, stop, stats)) => {
                            bridge::run(routes, pacer, stop, stats).await
                        }
                        None => std::future::pending().await,
                    }
                }
            });
        };
        let serving = Serving {
            advertised,
            clients,
            on_start: Box::new(on_start),
            on_ready: Box::new(on_ready),
        };
        let execution = execute_serving(world, scenario, bugs, true, Some(serving));
        let ending = tokio::select! {
            biased;
            _ = stopped(&stop) => Ending::Interrupted { scenario_done: false },
            execution = execution => {
                if !execution.setup_failures.is_empty() {
                    Ending::SetupFailed(execution.setup_failures)
                } else {
                    tokio::select! {
                        biased;
                        _ = stopped(&stop) => Ending::Interrupted { scenario_done: true },
                        _ = madsim::time::sleep(hold) => Ending::Completed,
                    }
                }
            }
        };
        // The bridge closes its connections.
        end_bridge.store(true, Ordering::Relaxed);
        madsim::time::sleep(STOP_POLL).await;
        ending
    });

    let pacer = pacer_out.lock().unwrap_or_else(|p| p.into_inner()).take();
    let unix_ns_at_sim_zero = pacer.as_ref().map_or(0, Pacer::unix_ns_at_sim_zero);
    let history = history_out.lock().unwrap_or_else(|p| p.into_inner()).take();
    // What the run recorded since the last append goes after it, as the appends went.
    let appended = match (&history_file, &history) {
        (Some(file), Some(history)) => {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            !file.failed
                && file
                    .append(history, &absent_clients, unix_ns_at_sim_zero)
                    .is_ok()
        }
        _ => false,
    };
    let events = served_events(
        history
            .map(|history| history.take_events())
            .unwrap_or_default(),
        &absent_clients,
        unix_ns_at_sim_zero,
    );
    if let Some(path) = config.history.as_ref().filter(|_| !appended) {
        // Whole, as an append failed (or the run never started its history).
        write_history(path, &events).map_err(|error| ServeError::History {
            path: path.clone(),
            error,
        })?;
    }
    let ending = match outcome.value {
        Some(ending) => ending,
        None => Ending::Failed(outcome.status.describe()),
    };
    let bridge = *stats_out.lock().unwrap_or_else(|p| p.into_inner());
    Ok(ServeOutcome {
        ending,
        events,
        unix_ns_at_sim_zero,
        drift: pacer.map(|pacer| pacer.drift()).unwrap_or_default(),
        bridge,
    })
}

/// Resolves once `stop` is set (looked at every [`STOP_POLL`] of simulated time).
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        madsim::time::sleep(STOP_POLL).await;
    }
}

/// Writes a served run's history (JSON Lines, docs/history-format.md).
pub fn write_history(path: &Path, events: &[Event]) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    client::history::write_jsonl(events, std::io::BufWriter::new(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn broker_i_listens_on_port_plus_i_minus_1() {
        let addresses = broker_addresses(addr("127.0.0.1:9092"), 3).unwrap();
        assert_eq!(
            addresses,
            vec![
                addr("127.0.0.1:9092"),
                addr("127.0.0.1:9093"),
                addr("127.0.0.1:9094")
            ]
        );
        assert_eq!(
            broker_addresses(addr("127.0.0.1:65535"), 1).unwrap(),
            vec![addr("127.0.0.1:65535")]
        );
    }

    #[test]
    fn unusable_listen_addresses_are_refused() {
        for (listen, brokers) in [
            ("127.0.0.1:0", 3),
            ("0.0.0.0:9092", 3),
            ("[::]:9092", 3),
            ("127.0.0.1:65534", 3),
        ] {
            assert!(
                matches!(
                    broker_addresses(addr(listen), brokers),
                    Err(ServeError::Listen(_))
                ),
                "{listen}"
            );
        }
    }

    #[test]
    fn a_busy_port_fails_to_bind_and_names_it() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = busy.local_addr().unwrap();
        match bind(&[taken]) {
            Err(ServeError::Bind { addr, .. }) => assert_eq!(addr, taken),
            other => panic!("expected a bind error, got {other:?}"),
        }
    }
}
