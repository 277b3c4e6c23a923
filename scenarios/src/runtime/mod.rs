//! Runs a [`Scenario`] in the simulated world: the cluster, the clients, the fault schedule, the
//! heal, and the liveness phase. Everything observable goes into the history.
//!
//! Phases:
//! 1. setup — the controller and brokers start, topics are created, leaders are known;
//! 2. fault phase — clients start at their times, faults fire and (with `for_ms`) get repaired;
//! 3. heal — every fault is repaired, every crashed process restarted, the network made whole,
//!    and a `heal` fault is recorded;
//! 4. liveness phase — producers finish their sends, consumers drain up to the high watermark
//!    (bounded by `liveness_phase_ms`), then consumers and producers close cleanly;
//! 5. the state checker's end (`crate::state`): replicas get a bounded time to converge, then the
//!    cluster's final state is judged. It also samples the cluster before each fault and at the
//!    heal.
//!
//! This file holds the phases; `faults.rs` how each kind of fault is fired and repaired.

mod controller_view;
mod faults;
mod triggers;

use crate::bugs::BugSelection;
use crate::coverage::{self, Coverage};
use crate::observer::cluster_observer;
use crate::spec::*;
use crate::state::{StateAnomaly, StateChecker};
use broker::api::{CreateTopicRequest, ErrorCode, Request, Response, TopicPartition};
use broker::core::BrokerConfig;
use broker::log::LogConfig;
use broker::node::{start_cluster, Cluster, ClusterConfig, ClusterEvent, RpcClient};
use client::node::{ConsumerNode, ConsumerWorkload, ProducerNode, ProducerWorkload};
use client::{ClusterAddrs, ConsumerConfig, History, ProducerConfig, Subscription};
use controller_view::ControllerView;
use faults::{Active, PendingCut};
use oracle::FaultKind;
use sim::{NodeState, World};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Name of the node that performs admin requests (topic creation, partition growth).
const ADMIN_NODE: &str = "admin";
const ADMIN_CALL_TIMEOUT: Duration = Duration::from_millis(500);
const ADMIN_ATTEMPTS_MAX: u32 = 60;
/// How long setup waits for every partition to have a serving leader.
const SETUP_LEADERS_TIMEOUT: Duration = Duration::from_secs(20);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A run's coverage marks, and the cluster observer's state for them (leaders' log starts).
type CoverageState = (Coverage, BTreeMap<(Arc<str>, u32), u64>);

/// What a run produced besides its history.
pub struct Execution {
    pub history: History,
    pub coverage: Coverage,
    /// Problems of the harness itself (setup that could not complete); a correct build has none.
    pub setup_failures: Vec<String>,
    /// The faults as they fired: (simulated ms since the scenario start, description).
    pub fault_log: Vec<(u64, String)>,
    /// High watermarks over time, for reports: at most one sample per partition every
    /// [`HIGH_WATERMARK_SAMPLE_MS`], plus the last value.
    pub high_watermarks: Vec<HighWatermarkSample>,
    /// Messages the simulated network carried.
    pub network_messages: u64,
    /// Timer wakeups of all node shells.
    pub timer_wakeups: u64,
    /// What the state checker found (empty when setup failed: it did not run).
    pub state_anomalies: Vec<StateAnomaly>,
}

/// The high watermark of a partition at a time (as its leader reported it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HighWatermarkSample {
    pub time_ns: u64,
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
}

/// Minimum simulated time between two high-watermark samples of one partition.
pub const HIGH_WATERMARK_SAMPLE_MS: u64 = 100;

/// Collects high-watermark samples, thinned to one per partition per sample period.
#[derive(Debug, Default)]
struct HighWatermarkRecorder {
    samples: Vec<HighWatermarkSample>,
    /// Per partition: (time of the last kept sample, the latest value seen since).
    last: BTreeMap<(Arc<str>, u32), (u64, u64)>,
}

impl HighWatermarkRecorder {
    fn observe(&mut self, time_ns: u64, partition: &TopicPartition, offset: u64) {
        let key = (partition.topic.clone(), partition.partition);
        let period_ns = HIGH_WATERMARK_SAMPLE_MS * 1_000_000;
        let keep = match self.last.get(&key) {
            None => true,
            Some(&(kept_ns, _)) => time_ns >= kept_ns + period_ns,
        };
        if keep {
            self.samples.push(HighWatermarkSample {
                time_ns,
                topic: partition.topic.to_string(),
                partition: partition.partition,
                offset,
            });
            self.last.insert(key, (time_ns, offset));
        } else if let Some(entry) = self.last.get_mut(&key) {
            entry.1 = offset;
        }
    }

    fn finish(mut self, time_ns: u64) -> Vec<HighWatermarkSample> {
        for ((topic, partition), (_, offset)) in std::mem::take(&mut self.last) {
            self.samples.push(HighWatermarkSample {
                time_ns,
                topic: topic.to_string(),
                partition,
                offset,
            });
        }
        self.samples
    }
}

#[derive(Debug, Clone)]
enum Step {
    StartProducer(usize),
    StartConsumer(usize),
    Apply(usize),
    Repair(usize),
}

struct Runner {
    world: World,
    scenario: Scenario,
    bugs: BugSelection,
    history: History,
    cluster: Cluster,
    admin: Arc<RpcClient>,
    producers: BTreeMap<usize, ProducerNode>,
    consumers: BTreeMap<usize, ConsumerNode>,
    active: BTreeMap<usize, Active>,
    fault_log: Vec<(u64, String)>,
    start: madsim::time::Instant,
    /// The triggers armed faults still wait for (the cluster's observer forwards only these).
    wanted: Arc<Mutex<BTreeSet<Trigger>>>,
    /// The moments that fired triggered faults, by fault index (what `trigger` targets name).
    moments: BTreeMap<usize, ClusterMoment>,
    /// The moment of the fault being fired, while it fires.
    firing: Option<ClusterMoment>,
    /// The highest high watermark any leader announced, per partition: every acknowledged
    /// record lies below it.
    committed: Arc<Mutex<BTreeMap<TopicPartition, u64>>>,
    /// Whom the controller fenced and each partition's ISR, from its events.
    controller_view: Arc<Mutex<ControllerView>>,
    /// The cuts truncate-follower faults owe a broker that is down, made when it restarts if
    /// the controller has taken it out of the ISR by then.
    pending_cuts: BTreeMap<String, Vec<PendingCut>>,
    /// The run's coverage marks (and the cluster observer's state for them).
    marks: Arc<Mutex<CoverageState>>,
    /// When each server node went down, while it is down.
    down_since: BTreeMap<String, madsim::time::Instant>,
    /// The state checker, shared with the cluster's observer.
    state: Arc<Mutex<StateChecker>>,
    /// Whether the scenario's clients start (`streamsim serve --no-clients`: they do not).
    clients: bool,
}

fn non_zero(value: u64) -> Option<u64> {
    (value > 0).then_some(value)
}

fn cluster_config(scenario: &Scenario, bugs: &BugSelection) -> ClusterConfig {
    let spec = &scenario.cluster;
    let mut broker = BrokerConfig::new(0);
    broker.log = LogConfig {
        segment_bytes_max: spec.segment_bytes_max,
        segment_ms: non_zero(spec.segment_ms),
        retention_ms: non_zero(spec.retention_ms),
        retention_bytes: non_zero(spec.retention_bytes),
        index_interval_bytes: 4096,
        sync: match spec.sync {
            SyncPolicy::EveryAppend => broker::log::SyncPolicy::EveryAppend,
            SyncPolicy::IntervalMs(ms) => broker::log::SyncPolicy::Interval { ms },
            SyncPolicy::Never => broker::log::SyncPolicy::Never,
        },
        ..LogConfig::default()
    };
    broker.min_insync_replicas = spec.min_insync_replicas;
    broker.replica_lag_ms_max = spec.replica_lag_ms_max;
    broker.replica_fetch_bytes_max = spec.replica_fetch_bytes_max;
    broker.replica_fetch_max_wait_ms = spec.replica_fetch_max_wait_ms;
    broker.request_timeout_ms = BROKER_REQUEST_TIMEOUT_MS;
    broker.retention_check_interval_ms = spec.retention_check_interval_ms;
    let mut config = ClusterConfig {
        brokers: spec.brokers,
        controller: broker::controller::ControllerConfig {
            session_timeout_ms: spec.session_timeout_ms,
            groups: broker::coordinator::GroupConfig {
                offsets_retention_ms: spec.offsets_retention_ms,
                offsets_retention_check_interval_ms: spec.offsets_retention_check_interval_ms,
                ..Default::default()
            },
            ..Default::default()
        },
        broker,
        kafka: Default::default(),
    };
    bugs.apply_to_cluster(&mut config);
    config
}

/// [`Serving::on_start`]: gets the world, the started cluster and the run's history.
pub type OnStart = Box<dyn FnOnce(&World, &Cluster, &History) + Send>;

/// What `streamsim serve` changes in a run (the `serve` crate fills it in; every other command
/// runs without it, and a run without it is exactly the run it always was).
pub struct Serving {
    /// The addresses brokers advertise in Kafka Metadata (`ClusterConfig.kafka.advertised`).
    pub advertised: BTreeMap<u32, std::net::SocketAddr>,
    /// Whether the scenario's own producers and consumers start (false: only external clients).
    pub clients: bool,
    /// Called once, right after the cluster's nodes are added (simulated time 0), with the
    /// run's history: `serve` adds its bridge node and pacer here.
    pub on_start: OnStart,
    /// Called once when setup is done (topics created, every partition has a leader).
    pub on_ready: Box<dyn FnOnce() + Send>,
}

/// Runs `scenario` with `bugs` switched on; returns the history and what was reached.
/// `state_checker`: false leaves the state checker out (it reads no replica and finds nothing;
/// `streamsim bench` measures its cost this way). A run without it has another trace.
pub async fn execute(
    world: World,
    scenario: Scenario,
    bugs: BugSelection,
    state_checker: bool,
) -> Execution {
    execute_serving(world, scenario, bugs, state_checker, None).await
}

/// [`execute`], with `streamsim serve`'s changes when `serving` is given.
pub async fn execute_serving(
    world: World,
    scenario: Scenario,
    bugs: BugSelection,
    state_checker: bool,
    serving: Option<Serving>,
) -> Execution {
    let (clients, on_start, on_ready) = match serving {
        Some(serving) => (
            serving.clients,
            Some((serving.on_start, serving.advertised)),
            Some(serving.on_ready),
        ),
        None => (true, None, None),
    };
    let history = History::new(world.trace().clone());
    let coverage = Arc::new(Mutex::new((coverage::empty(), BTreeMap::new())));
    let high_watermarks = Arc::new(Mutex::new(HighWatermarkRecorder::default()));
    let state = Arc::new(Mutex::new(StateChecker::new(world.clone())));

    let record = cluster_observer(history.clone(), scenario.cluster.offsets_retention_ms);
    let count = coverage.clone();
    let sample = high_watermarks.clone();
    let committed = Arc::new(Mutex::new(BTreeMap::<TopicPartition, u64>::new()));
    let raise = committed.clone();
    let controller_view = Arc::new(Mutex::new(ControllerView::default()));
    let view = controller_view.clone();
    let awaited: BTreeSet<Trigger> = scenario.faults.iter().filter_map(|f| f.when).collect();
    let wanted = Arc::new(Mutex::new(awaited.clone()));
    let (moment_sender, moment_receiver) = tokio::sync::mpsc::unbounded_channel();
    let moments = (!awaited.is_empty())
        .then(|| Mutex::new(triggers::Moments::new(wanted.clone(), moment_sender)));
    let check = state.clone();
    let mut config = cluster_config(&scenario, &bugs);
    if let Some((_, advertised)) = &on_start {
        config.kafka.advertised = advertised.clone();
    }
    let cluster = start_cluster(
        &world,
        config,
        Arc::new(move |event: ClusterEvent| {
            {
                let mut guard = count.lock().unwrap_or_else(|p| p.into_inner());
                let (coverage, leader_starts) = &mut *guard;
                coverage::observe(coverage, leader_starts, &event);
            }
            if let Some(moments) = &moments {
                moments
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe(&event);
            }
            check
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(&event);
            if let ClusterEvent::Controller(event) = &event {
                view.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe(event);
            }
            if let ClusterEvent::Broker(broker::core::Observation::HighWatermark {
                partition,
                offset,
                ..
            }) = &event
            {
                sample.lock().unwrap_or_else(|p| p.into_inner()).observe(
                    sim::time::now_ns(),
                    partition,
                    *offset,
                );
                let mut committed = raise.lock().unwrap_or_else(|p| p.into_inner());
                let highest = committed.entry(partition.clone()).or_insert(0);
                *highest = (*highest).max(*offset);
            }
            record(event);
        }),
    );

    if let Some((on_start, _)) = on_start {
        on_start(&world, &cluster, &history);
    }

    world.add_node(ADMIN_NODE, |_context| std::future::pending::<()>());
    let (sender, receiver) = tokio::sync::oneshot::channel();
    world.spawn_on(ADMIN_NODE, async move {
        let rpc = RpcClient::bind()
            .await
            .expect("the admin node binds a port");
        let _ = sender.send(Arc::new(rpc));
    });
    let admin = receiver.await.expect("the admin node starts");
    if state_checker {
        state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .watch(&cluster);
    }

    let mut runner = Runner {
        world: world.clone(),
        scenario,
        bugs,
        history: history.clone(),
        cluster,
        admin,
        producers: BTreeMap::new(),
        consumers: BTreeMap::new(),
        active: BTreeMap::new(),
        fault_log: Vec::new(),
        start: madsim::time::Instant::now(),
        wanted,
        moments: BTreeMap::new(),
        firing: None,
        committed,
        controller_view,
        pending_cuts: BTreeMap::new(),
        marks: coverage.clone(),
        down_since: BTreeMap::new(),
        state: state.clone(),
        clients,
    };
    let setup_failures = runner.setup().await;
    if setup_failures.is_empty() {
        if let Some(on_ready) = on_ready {
            on_ready();
        }
        runner.fault_phase(moment_receiver).await;
        runner.heal().await;
        runner.liveness_phase().await;
        crate::state::converge(&state).await;
    }
    let mut coverage = coverage.lock().unwrap_or_else(|p| p.into_inner()).0.clone();
    history.with_events(|events| coverage::from_history(&mut coverage, events));
    let high_watermarks =
        std::mem::take(&mut *high_watermarks.lock().unwrap_or_else(|p| p.into_inner()))
            .finish(sim::time::now_ns());
    let state_anomalies = if setup_failures.is_empty() {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        history.with_events(|events| state.finish(&runner.scenario, events))
    } else {
        Vec::new()
    };
    Execution {
        history,
        coverage,
        setup_failures,
        fault_log: runner.fault_log,
        high_watermarks,
        network_messages: world.network_messages(),
        timer_wakeups: world.timer_wakeups(),
        state_anomalies,
    }
}

impl Runner {
    async fn admin_call(&self, request: Request) -> Option<Response> {
        self.admin
            .call_with_retries(
                self.cluster.controller_addr,
                request,
                ADMIN_CALL_TIMEOUT,
                ADMIN_ATTEMPTS_MAX,
            )
            .await
    }

    /// Creates the topics and waits until every partition has a serving leader.
    async fn setup(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        // Brokers register with the controller first.
        madsim::time::sleep(Duration::from_millis(300)).await;
        for topic in self.scenario.topics.clone() {
            let mut created = false;
            for _attempt in 0..ADMIN_ATTEMPTS_MAX {
                let answer = self
                    .admin_call(Request::CreateTopic(CreateTopicRequest {
                        topic: topic.name.clone(),
                        partitions: topic.partitions,
                        replication_factor: self.scenario.cluster.replication_factor,
                    }))
                    .await;
                match answer {
                    Some(Response::CreateTopic(response))
                        if matches!(
                            response.result,
                            Ok(()) | Err(ErrorCode::TopicAlreadyExists)
                        ) =>
                    {
                        created = true;
                        break;
                    }
                    // Not enough brokers registered yet, or the answer was lost.
                    _ => madsim::time::sleep(Duration::from_millis(200)).await,
                }
            }
            if !created {
                failures.push(format!("topic {} could not be created", topic.name));
            }
        }
        let partitions: Vec<TopicPartition> = self
            .scenario
            .topics
            .iter()
            .flat_map(|topic| (0..topic.partitions).map(|p| TopicPartition::new(&topic.name, p)))
            .collect();
        let ready = client::node::wait_for(SETUP_LEADERS_TIMEOUT, || {
            partitions
                .iter()
                .all(|partition| self.leader_of(partition).is_some())
        })
        .await;
        if !ready {
            failures.push("not every partition got a serving leader during setup".to_string());
        }
        self.start = madsim::time::Instant::now();
        failures
    }

    fn sample_state(&self, moment: &str) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sample(moment);
    }

    fn elapsed_ms(&self) -> u64 {
        (madsim::time::Instant::now() - self.start).as_millis() as u64
    }

    /// The running broker that leads `partition` (by its own status), newest epoch first; the
    /// rule of [`Runner::cluster_view`], for one partition.
    fn leader_of(&self, partition: &TopicPartition) -> Option<u32> {
        self.cluster
            .brokers
            .values()
            .filter_map(|handle| {
                handle.with_status(|status| {
                    status
                        .replicas
                        .iter()
                        .find(|replica| &replica.partition == partition && replica.leader)
                        .map(|replica| (replica.leader_epoch, handle.id))
                })
            })
            // Asked second: the world's node table is the dearer lookup.
            .filter(|&(_, id)| {
                self.world.node_state(&self.cluster.brokers[&id].name) == NodeState::Running
            })
            .max()
            .map(|(_, id)| id)
    }

    /// What the brokers' statuses say now, read once: each partition's leader (among the running
    /// brokers that lead it by their own status, the one of the newest leader epoch, then the
    /// highest id) with its high watermark there, and, if `held` is asked for, every partition some
    /// broker holds a replica of.
    fn cluster_view(&self, held: bool) -> ClusterView {
        let mut view = ClusterView::default();
        for handle in self.cluster.brokers.values() {
            let running = self.world.node_state(&handle.name) == NodeState::Running;
            handle.with_status(|status| {
                for replica in &status.replicas {
                    if held {
                        view.held.insert(replica.partition.clone());
                    }
                    if !(running && replica.leader) {
                        continue;
                    }
                    let leader = (replica.leader_epoch, handle.id, replica.high_watermark);
                    view.leaders
                        .entry(replica.partition.clone())
                        .and_modify(|known| {
                            if (leader.0, leader.1) > (known.0, known.1) {
                                *known = leader;
                            }
                        })
                        .or_insert(leader);
                }
            });
        }
        view
    }

    /// Every consumer has delivered every partition it owns up to its leader's high watermark
    /// (a stopped partition, with reset policy `none`, counts as drained: it will not move), and
    /// the members of each consumer group own every partition of their topic between them (a
    /// member that died in the middle of a rebalance holds its share until its session expires).
    fn consumers_drained(&self) -> bool {
        let mut group_owned: BTreeMap<(&str, &str), BTreeSet<TopicPartition>> = BTreeMap::new();
        for (index, consumer) in &self.consumers {
            let spec = &self.scenario.consumers[*index];
            if spec.assignment != Assignment::Modulo {
                let owned = group_owned.entry((&spec.group, &spec.topic)).or_default();
                consumer.with_progress(|progress| {
                    owned.extend(progress.status.partitions.keys().cloned())
                });
            }
        }
        let view = self.cluster_view(!group_owned.is_empty());
        let groups_cover = group_owned.iter().all(|((_, topic), owned)| {
            view.held
                .iter()
                .filter(|partition| &*partition.topic == *topic)
                .all(|partition| owned.contains(partition))
        });
        groups_cover
            && self.consumers.values().all(|consumer| {
                consumer.with_progress(|progress| {
                    let status = &progress.status;
                    status.caught_up
                        && status.partitions.iter().all(|(partition, progress)| {
                            progress.stopped
                                || view.leaders.get(partition).is_some_and(
                                    |&(_, _, high_watermark)| progress.position >= high_watermark,
                                )
                        })
                })
            })
    }

    /// A running broker that follows `partition`.
    fn follower_of(&self, partition: &TopicPartition) -> Option<u32> {
        let leader = self.leader_of(partition);
        self.cluster
            .brokers
            .values()
            .filter(|handle| self.world.node_state(&handle.name) == NodeState::Running)
            .filter(|handle| Some(handle.id) != leader)
            .find(|handle| {
                handle
                    .status()
                    .replicas
                    .iter()
                    .any(|replica| &replica.partition == partition)
            })
            .map(|handle| handle.id)
    }

    /// The follower the controller would elect if the leader of `partition` failed now: the
    /// first running in-sync follower in replica order (the controller's election rule).
    fn successor_of(&self, partition: &TopicPartition) -> Option<u32> {
        let leader = self.leader_of(partition)?;
        let status = self.cluster.brokers[&leader].status();
        let replica = status
            .replicas
            .iter()
            .find(|replica| &replica.partition == partition && replica.leader)?;
        replica
            .replicas
            .iter()
            .copied()
            .filter(|&id| id != leader && replica.isr.contains(&id))
            .find(|&id| self.world.node_state(&Cluster::broker_name(id)) == NodeState::Running)
    }

    fn cluster_addrs(&self) -> ClusterAddrs {
        ClusterAddrs {
            bootstrap: self.cluster.broker_addrs(),
            controller: self.cluster.controller_addr,
        }
    }

    fn start_producer(&mut self, index: usize) {
        if !self.clients {
            return;
        }
        let spec = &self.scenario.producers[index];
        let mut config = ProducerConfig::new(&producer_name(index));
        config.linger_ms = spec.linger_ms;
        config.batch_bytes_max = spec.batch_bytes_max;
        config.delivery_timeout_ms = spec.delivery_timeout_ms;
        config.request_timeout_ms = spec.request_timeout_ms;
        // The leader's wait for the ISR: half the request timeout (500 ms by default).
        config.produce_timeout_ms = spec.request_timeout_ms / 2;
        config.retries_max = spec.retries.saturating_add(1);
        config.acks = match spec.acks {
            Acks::All => client::producer::Acks::All,
            Acks::Leader => client::producer::Acks::Leader,
            Acks::None => client::producer::Acks::None,
        };
        config.idempotence = spec.idempotence;
        config.compression = spec.compression;
        config.in_flight_per_partition_max = spec.max_in_flight as usize;
        config.metadata_max_age_ms = spec.metadata_max_age_ms;
        // The personality sets a real client's policies; a bug overrides them.
        spec.personality.apply_to_producer(&mut config);
        self.bugs.apply_to_producer(&mut config);
        let mut workload = ProducerWorkload::new(&spec.topic, spec.records);
        workload.send_interval_ms = (1_000 / spec.rate_per_sec).max(1);
        workload.idle_after_sends = spec.idle_after_records;
        workload.idle_ms = spec.idle_ms;
        workload.keys = match spec.keys {
            KeyMode::Keyless => None,
            KeyMode::Keyed(keys) => Some(keys),
        };
        let node = ProducerNode::start(
            &self.world,
            self.cluster_addrs(),
            config,
            workload,
            self.history.clone(),
        );
        self.producers.insert(index, node);
    }

    fn start_consumer(&mut self, index: usize) {
        if !self.clients {
            return;
        }
        let spec = &self.scenario.consumers[index];
        let assignor = match spec.assignment {
            Assignment::Modulo => None,
            Assignment::Range => Some(client::Assignor::Range),
            Assignment::CooperativeSticky => Some(client::Assignor::CooperativeSticky),
        };
        let subscription = match assignor {
            None => Subscription::Group {
                topics: vec![spec.topic.clone()],
                member_index: spec.member,
                members: spec.members,
            },
            Some(assignor) => {
                let mut settings = client::GroupSettings::new(assignor);
                settings.session_timeout_ms = spec.session_timeout_ms;
                settings.heartbeat_interval_ms = spec.heartbeat_interval_ms;
                settings.rebalance_timeout_ms = spec.rebalance_timeout_ms;
                settings.group_instance_id = spec.instance_id.clone();
                Subscription::Join {
                    topics: vec![spec.topic.clone()],
                    settings,
                }
            }
        };
        let mut config = ConsumerConfig::new(&consumer_name(index), subscription);
        config.group = spec.group.clone();
        config.reset_policy = match spec.reset {
            ResetPolicy::Earliest => client::ResetPolicy::Earliest,
            ResetPolicy::Latest => client::ResetPolicy::Latest,
            ResetPolicy::None => client::ResetPolicy::None,
        };
        config.commit_mode = match spec.commit {
            CommitMode::Auto => client::CommitMode::Auto {
                offset_flush_ms: spec.offset_flush_ms,
            },
            CommitMode::Manual => client::CommitMode::Manual,
        };
        config.rack = spec.rack.clone();
        spec.personality.apply_to_consumer(&mut config);
        self.bugs.apply_to_consumer(&mut config);
        config.start_offset = spec.start_offset;
        config.fetch_buffer_records_max = spec.fetch_buffer_records;
        config.fetch_max_bytes = spec.fetch_max_bytes;
        config.fetch_max_wait_ms = spec.fetch_max_wait_ms;
        config.request_timeout_ms = CONSUMER_REQUEST_TIMEOUT_MS;
        let workload = ConsumerWorkload {
            processing_delay_ms: spec.processing_delay_ms,
            poll_records_max: spec.fetch_buffer_records.min(500),
            commit_every_records: match spec.commit {
                CommitMode::Manual => Some(spec.commit_every_records),
                CommitMode::Auto => None,
            },
        };
        let node = ConsumerNode::start(
            &self.world,
            self.cluster_addrs(),
            config,
            workload,
            self.history.clone(),
        );
        self.consumers.insert(index, node);
    }

    fn log_fault(&mut self, description: String) {
        let at = self.elapsed_ms();
        tracing::info!(target: "streamsim::nemesis", at_ms = at, "{description}");
        self.fault_log.push((at, description));
    }

    /// Starts the clients and fires the faults at their times (or, for faults that wait for
    /// an event, on it: see `triggers.rs`).
    async fn fault_phase(
        &mut self,
        moments: tokio::sync::mpsc::UnboundedReceiver<triggers::Timed>,
    ) {
        let mut steps: Vec<(u64, usize, Step)> = Vec::new();
        for (index, producer) in self.scenario.producers.iter().enumerate() {
            steps.push((producer.start_ms, steps.len(), Step::StartProducer(index)));
        }
        for (index, consumer) in self.scenario.consumers.iter().enumerate() {
            steps.push((consumer.start_ms, steps.len(), Step::StartConsumer(index)));
        }
        for (index, fault) in self.scenario.faults.iter().enumerate() {
            if fault.when.is_some() {
                continue; // armed at at_ms, fired by its event
            }
            steps.push((fault.at_ms, steps.len(), Step::Apply(index)));
            if let Some(for_ms) = fault.for_ms {
                let repair_at = fault.at_ms.saturating_add(for_ms);
                if repair_at < self.scenario.fault_phase_ms {
                    steps.push((repair_at, steps.len(), Step::Repair(index)));
                }
            }
        }
        if !self.awaited_triggers().is_empty() {
            return self.fault_phase_with_triggers(steps, moments).await;
        }
        steps.sort_by_key(|(at, order, _)| (*at, *order));
        for (at_ms, _, step) in steps {
            madsim::time::sleep_until(self.start + Duration::from_millis(at_ms)).await;
            self.run_step(step).await;
        }
        // Clients that start after the fault phase start at its end.
        madsim::time::sleep_until(self.start + Duration::from_millis(self.scenario.fault_phase_ms))
            .await;
    }

    /// Counts a coverage mark of this run.
    fn mark(&self, mark: &str) {
        let mut guard = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        coverage::bump(&mut guard.0, mark);
    }

    /// A server goes down now (crash, wipe, truncation): marks what its state makes dangerous.
    fn note_down(&mut self, name: &str) {
        let led_uncommitted = self
            .cluster
            .brokers
            .values()
            .find(|handle| handle.name == name)
            .is_some_and(|handle| {
                handle.status().replicas.iter().any(|replica| {
                    replica.leader && replica.log_end_offset > replica.high_watermark
                })
            });
        if led_uncommitted {
            self.mark(coverage::LEADER_CRASHED_WITH_UNCOMMITTED);
        }
        self.down_since
            .insert(name.to_string(), madsim::time::Instant::now());
    }

    /// A server comes back now: marks an outage longer than retention.
    fn note_back(&mut self, name: &str) {
        if let Some(since) = self.down_since.remove(name) {
            let retention_ms = self.scenario.cluster.retention_ms;
            let down_ms = since.elapsed().as_millis() as u64;
            if retention_ms > 0 && down_ms > retention_ms {
                self.mark(coverage::DOWN_LONGER_THAN_RETENTION);
            }
        }
    }

    async fn run_step(&mut self, step: Step) {
        match step {
            Step::StartProducer(index) => self.start_producer(index),
            Step::StartConsumer(index) => self.start_consumer(index),
            Step::Apply(index) => {
                if crate::state::collect::disturbs_cluster(&self.scenario.faults[index].fault) {
                    self.sample_state(&format!("before fault {index}"));
                }
                self.apply(index).await
            }
            Step::Repair(index) => self.repair(index),
        }
    }

    /// Repairs everything, restarts every crashed process, records `heal`.
    async fn heal(&mut self) {
        self.sample_state("at the heal");
        let indices: Vec<usize> = self.active.keys().copied().collect();
        for index in indices {
            self.repair(index);
        }
        // Anything still down (a fault without repair info, a node killed by a shell).
        for name in self.world.node_names() {
            match self.world.node_state(&name) {
                NodeState::Killed => {
                    self.history.record_fault(FaultKind::Restart, Some(&name));
                    self.note_back(&name);
                    self.make_pending_cuts(&name);
                    self.world.restart(&name);
                }
                NodeState::Paused => {
                    self.history.record_fault(FaultKind::Resume, Some(&name));
                    self.world.resume(&name);
                }
                NodeState::Running => {}
            }
        }
        self.world.heal_network();
        for name in self.world.node_names() {
            self.world.disk(&name).heal();
        }
        for (index, _) in self.scenario.producers.clone().iter().enumerate() {
            if !self.producers.contains_key(&index) {
                self.start_producer(index);
            }
        }
        for (index, _) in self.scenario.consumers.clone().iter().enumerate() {
            if !self.consumers.contains_key(&index) {
                self.start_consumer(index);
            }
        }
        self.history.record_heal();
        self.log_fault("heal".to_string());
    }

    /// Producers finish, consumers drain, everyone closes.
    async fn liveness_phase(&mut self) {
        let deadline =
            madsim::time::Instant::now() + Duration::from_millis(self.scenario.liveness_phase_ms);
        let remaining = || deadline.saturating_duration_since(madsim::time::Instant::now());
        for producer in self.producers.values() {
            producer.wait_done(remaining()).await;
        }
        // Consumers have drained when every partition of theirs is delivered up to the
        // leader's high watermark — the brokers' truth, not the consumer's (possibly stale)
        // view. Asked twice, apart, so a high watermark that was still moving is seen.
        for _round in 0..2 {
            client::node::wait_for(remaining(), || self.consumers_drained()).await;
            madsim::time::sleep(Duration::from_millis(500).min(remaining())).await;
        }
        for consumer in self.consumers.values() {
            consumer.close_and_wait(CLOSE_TIMEOUT).await;
        }
        for producer in self.producers.values() {
            producer.close();
        }
        for producer in self.producers.values() {
            client::node::wait_for(CLOSE_TIMEOUT, || producer.progress().status.closed).await;
        }
    }
}

/// The brokers' statuses as [`Runner::cluster_view`] reads them.
#[derive(Default)]
struct ClusterView {
    held: BTreeSet<TopicPartition>,
    /// Leader epoch, leader, its high watermark.
    leaders: BTreeMap<TopicPartition, (u32, u32, u64)>,
}

pub fn producer_name(index: usize) -> String {
    format!("producer-{index}")
}

pub fn consumer_name(index: usize) -> String {
    format!("consumer-{index}")
}
