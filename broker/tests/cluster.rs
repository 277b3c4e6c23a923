//! The replicated cluster in simulation: a controller and brokers on madsim, driven by a test
//! client, under seeded crashes, restarts and network partitions.
//!
//! The checks read the brokers' disks after the run (`broker::inspect`), so they do not trust
//! the brokers' own reports: every acknowledged record must be in the final log at its offset,
//! and every replica must hold the same records up to the high watermark.

use broker::api::*;
use broker::batch::{Record, RecordBatch};
use broker::controller::ControllerConfig;
use broker::core::{AdminCommand, BrokerConfig};
use broker::inspect::replica_records;
use broker::log::SyncPolicy;
use broker::node::{start_cluster, Cluster, ClusterConfig, ClusterEvent, RpcClient};
use broker::policy::{
    ConsumerFetchRangePolicy, HighWatermarkPolicy, SegmentViewPolicy, TruncationPolicy,
};
use rand::Rng;
use sim::{run, RunLimits, RunStatus, Seed, World};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOPIC: &str = "t";
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

fn limits() -> RunLimits {
    RunLimits {
        sim_time: Duration::from_secs(600),
        wall_clock: Duration::from_secs(120),
    }
}

/// The policies a test sets away from the correct broker's defaults.
type Policies = fn(&mut ClusterConfig);

fn correct(_: &mut ClusterConfig) {}

/// `hw-before-isr`.
fn high_watermark_at_leader_log_end(config: &mut ClusterConfig) {
    config.broker.high_watermark_policy = HighWatermarkPolicy::LeaderLogEnd;
}

/// `no-follower-truncation`.
fn truncation_to_leader_log_end(config: &mut ClusterConfig) {
    config.broker.truncation_policy = TruncationPolicy::LeaderLogEnd;
}

/// `stale-segment-read`.
fn cached_segment_view(config: &mut ClusterConfig) {
    config.broker.log.segment_view_policy = SegmentViewPolicy::CachedIgnoringRetention;
}

/// `stale-log-end-range-check`.
fn range_check_before_latest_append(config: &mut ClusterConfig) {
    config.broker.consumer_fetch_range_policy = ConsumerFetchRangePolicy::EndBeforeLatestAppend;
}

fn cluster_config(brokers: u32, policies: Policies) -> ClusterConfig {
    let mut broker = BrokerConfig::new(0);
    broker.log.sync = SyncPolicy::EveryAppend;
    broker.log.segment_bytes_max = 4096;
    broker.min_insync_replicas = 2.min(brokers);
    let mut config = ClusterConfig {
        brokers,
        controller: ControllerConfig {
            session_timeout_ms: 1_000,
            ..ControllerConfig::default()
        },
        broker,
        kafka: Default::default(),
    };
    policies(&mut config);
    config
}

type Events = Arc<Mutex<Vec<ClusterEvent>>>;

/// A cluster plus a test client on node "tester".
struct Harness {
    cluster: Cluster,
    rpc: Arc<RpcClient>,
    events: Events,
}

async fn setup(
    world: World,
    config: ClusterConfig,
    partitions: u32,
    replication_factor: u32,
) -> Harness {
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let cluster = start_cluster(
        &world,
        config,
        Arc::new(move |event| sink.lock().unwrap().push(event)),
    );
    world.add_node("tester", |_context| std::future::pending::<()>());
    let (sender, receiver) = tokio::sync::oneshot::channel();
    world.spawn_on("tester", async move {
        let rpc = RpcClient::bind().await.unwrap();
        let _ = sender.send(Arc::new(rpc));
    });
    let rpc = receiver.await.unwrap();
    let harness = Harness {
        cluster,
        rpc,
        events,
    };
    // Brokers register with the controller, then the topic is created.
    madsim::time::sleep(Duration::from_millis(500)).await;
    let response = harness
        .rpc
        .call_with_retries(
            harness.cluster.controller_addr,
            Request::CreateTopic(CreateTopicRequest {
                topic: TOPIC.to_string(),
                partitions,
                replication_factor,
            }),
            CALL_TIMEOUT,
            10,
        )
        .await;
    assert!(
        matches!(
            response,
            Some(Response::CreateTopic(CreateTopicResponse {
                result: Ok(())
            }))
        ),
        "{response:?}"
    );
    madsim::time::sleep(Duration::from_millis(500)).await;
    harness
}

impl Harness {
    async fn metadata(&self) -> Option<ClusterMetadata> {
        match self
            .rpc
            .call(
                self.cluster.controller_addr,
                Request::Metadata(MetadataRequest { topics: None }),
                CALL_TIMEOUT,
            )
            .await
        {
            Some(Response::Metadata(response)) => Some(response.metadata),
            _ => None,
        }
    }

    async fn leader(&self, partition: u32) -> Option<(BrokerId, u32)> {
        let metadata = self.metadata().await?;
        let state = metadata.partition(&TopicPartition::new(TOPIC, partition))?;
        Some((state.leader?, state.leader_epoch))
    }

    /// Produces one record to `broker`; Some(offset) when acknowledged.
    async fn produce_to(
        &self,
        broker: BrokerId,
        partition: u32,
        value: &str,
    ) -> Option<Result<u64, ErrorCode>> {
        self.produce_with_acks(broker, partition, value, Acks::All)
            .await
    }

    /// Produces one record to `broker` asking for `acks`; the answer, if one comes.
    async fn produce_with_acks(
        &self,
        broker: BrokerId,
        partition: u32,
        value: &str,
        acks: Acks,
    ) -> Option<Result<u64, ErrorCode>> {
        let batch =
            RecordBatch::new(vec![Record::new(None, value.as_bytes().to_vec(), 0)]).encode();
        let response = self
            .rpc
            .call(
                self.cluster.brokers[&broker].addr,
                Request::Produce(ProduceRequest {
                    partition: TopicPartition::new(TOPIC, partition),
                    batch,
                    timeout_ms: 1_000,
                    current_leader_epoch: None,
                    acks,
                }),
                Duration::from_millis(1_500),
            )
            .await;
        match response {
            Some(Response::Produce(response)) => Some(response.result),
            _ => None,
        }
    }

    /// Produces one record, retrying through leader changes, until acknowledged or out of
    /// attempts. Returns the acknowledged offset.
    async fn produce(&self, partition: u32, value: &str, attempts: u32) -> Option<u64> {
        for _ in 0..attempts {
            if let Some((leader, _)) = self.leader(partition).await {
                if let Some(Ok(offset)) = self.produce_to(leader, partition, value).await {
                    return Some(offset);
                }
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Like `produce`, but every attempt writes a different value (`VALUE/aN`), as a
    /// non-idempotent client retrying with a fresh record would: an attempt that reached a
    /// deposed leader leaves a record no other replica has. Returns the acknowledged value.
    async fn produce_fresh(
        &self,
        partition: u32,
        value: &str,
        attempts: u32,
    ) -> Option<(String, u64)> {
        for attempt in 0..attempts {
            let fresh = format!("{value}/a{attempt}");
            if let Some((leader, _)) = self.leader(partition).await {
                if let Some(Ok(offset)) = self.produce_to(leader, partition, &fresh).await {
                    return Some((fresh, offset));
                }
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    async fn fetch(&self, broker: BrokerId, partition: u32, offset: u64) -> Option<FetchResponse> {
        match self
            .rpc
            .call(
                self.cluster.brokers[&broker].addr,
                Request::Fetch(FetchRequest {
                    partition: TopicPartition::new(TOPIC, partition),
                    offset,
                    max_bytes: 1 << 20,
                    replica_id: None,
                    current_leader_epoch: None,
                    replica_log_start_offset: None,
                    replica_epoch: None,
                    rack: None,
                    max_wait_ms: 0,
                }),
                CALL_TIMEOUT,
            )
            .await
        {
            Some(Response::Fetch(response)) => Some(response),
            _ => None,
        }
    }

    fn high_watermark(&self, broker: BrokerId, partition: u32) -> Option<u64> {
        self.cluster.brokers[&broker]
            .status()
            .replicas
            .iter()
            .find(|r| r.partition == TopicPartition::new(TOPIC, partition) && r.leader)
            .map(|r| r.high_watermark)
    }

    fn names(&self) -> Vec<String> {
        self.cluster
            .brokers
            .values()
            .map(|b| b.name.clone())
            .collect()
    }
}

/// What the post-run check found.
#[derive(Debug, Default)]
struct Verdict {
    /// Acknowledged (value, offset) missing from the final log at that offset.
    lost: Vec<(String, u64)>,
    /// Offsets below the high watermark where two replicas hold different values.
    divergent: Vec<(u64, BrokerId, BrokerId)>,
    high_watermark: u64,
    /// Acknowledged writes during the chaos.
    acked: usize,
    /// The healed cluster did not accept a write (or had no leader).
    stuck: bool,
}

/// Reads every broker's disk and checks acknowledged records and replica agreement.
fn verify(
    world: &World,
    cluster: &Cluster,
    acked: &[(String, u64)],
    high_watermark: u64,
) -> Verdict {
    let partition = TopicPartition::new(TOPIC, 0);
    let mut logs: BTreeMap<BrokerId, BTreeMap<u64, Vec<u8>>> = BTreeMap::new();
    for (&id, handle) in &cluster.brokers {
        let records =
            replica_records(world.disk(&handle.name).snapshot(), &partition).expect("readable log");
        logs.insert(
            id,
            records
                .into_iter()
                .map(|r| (r.offset, r.value.to_vec()))
                .collect(),
        );
    }
    let mut verdict = Verdict {
        high_watermark,
        ..Verdict::default()
    };
    // Every acknowledged record is at its offset in the log of every replica that holds that
    // offset range, and in at least one.
    for (value, offset) in acked {
        let holders: Vec<&BTreeMap<u64, Vec<u8>>> = logs
            .values()
            .filter(|log| log.contains_key(offset))
            .collect();
        if holders.is_empty() || holders.iter().any(|log| log[offset] != value.as_bytes()) {
            verdict.lost.push((value.clone(), *offset));
        }
    }
    let ids: Vec<BrokerId> = logs.keys().copied().collect();
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            for (offset, value) in logs[a].range(..high_watermark) {
                if let Some(other) = logs[b].get(offset) {
                    if other != value {
                        verdict.divergent.push((*offset, *a, *b));
                    }
                }
            }
        }
    }
    verdict
}

/// Seeded chaos: crashes, restarts and partitions among brokers and the controller while a
/// client produces; then a heal, a quiet period, and the check.
async fn chaos(world: World, policies: Policies) -> Verdict {
    let harness = setup(world.clone(), cluster_config(3, policies), 1, 3).await;
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let harness = Arc::new(harness);

    let nemesis = {
        let world = world.clone();
        let done = done.clone();
        let names = harness.names();
        let harness = harness.clone();
        async move {
            let mut rng = world.stream("nemesis");
            let mut nodes = names.clone();
            nodes.push("controller".to_string());
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                madsim::time::sleep(Duration::from_millis(rng.gen_range(500..2_500))).await;
                match rng.gen_range(0..4) {
                    0 => {
                        let victim = &names[rng.gen_range(0..names.len())];
                        world.kill(victim);
                        madsim::time::sleep(Duration::from_millis(rng.gen_range(100..3_000))).await;
                        world.restart(victim);
                    }
                    1 => {
                        let victim = &nodes[rng.gen_range(0..nodes.len())];
                        let others: Vec<String> =
                            nodes.iter().filter(|n| *n != victim).cloned().collect();
                        world.partition(&[vec![victim.clone()], others]);
                        madsim::time::sleep(Duration::from_millis(rng.gen_range(500..4_000))).await;
                        world.heal_network();
                    }
                    2 => {
                        // Kill the current leader right after it acknowledged something.
                        if let Some((leader, _)) = harness.leader(0).await {
                            let name = Cluster::broker_name(leader);
                            world.kill(&name);
                            madsim::time::sleep(Duration::from_millis(rng.gen_range(100..2_000)))
                                .await;
                            world.restart(&name);
                        }
                    }
                    _ => {
                        world.kill("controller");
                        madsim::time::sleep(Duration::from_millis(rng.gen_range(100..1_500))).await;
                        world.restart("controller");
                    }
                }
            }
        }
    };
    let producer = {
        let harness = harness.clone();
        let acked = acked.clone();
        let done = done.clone();
        async move {
            for i in 0..200 {
                if let Some((value, offset)) = harness.produce_fresh(0, &format!("v-{i}"), 5).await
                {
                    acked.lock().unwrap().push((value, offset));
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    futures_join(producer, nemesis).await;

    // Heal: every node up, the network whole; let replication settle.
    for name in harness
        .names()
        .into_iter()
        .chain(["controller".to_string()])
    {
        if world.node_state(&name) == sim::NodeState::Killed {
            world.restart(&name);
        }
    }
    world.heal_network();
    madsim::time::sleep(Duration::from_secs(10)).await;
    // One more acknowledged write proves the cluster works again.
    let final_offset = harness.produce(0, "final", 30).await;
    if let Some(offset) = final_offset {
        acked.lock().unwrap().push(("final".to_string(), offset));
    }
    madsim::time::sleep(Duration::from_secs(3)).await;
    let leader = harness.leader(0).await;
    let high_watermark = leader.and_then(|(leader, _)| harness.high_watermark(leader, 0));
    for name in harness.names() {
        world.kill(&name);
    }
    let acked = acked.lock().unwrap().clone();
    let mut verdict = verify(
        &world,
        &harness.cluster,
        &acked,
        high_watermark.unwrap_or(0),
    );
    verdict.acked = acked.len();
    verdict.stuck = final_offset.is_none() || high_watermark.is_none();
    verdict
}

/// Runs two futures to completion on the current task.
async fn futures_join(
    a: impl std::future::Future<Output = ()>,
    b: impl std::future::Future<Output = ()>,
) {
    let a = std::pin::pin!(a);
    let b = std::pin::pin!(b);
    let (mut a, mut b) = (Some(a), Some(b));
    std::future::poll_fn(|cx| {
        if let Some(f) = a.as_mut() {
            if f.as_mut().poll(cx).is_ready() {
                a = None;
            }
        }
        if let Some(f) = b.as_mut() {
            if f.as_mut().poll(cx).is_ready() {
                b = None;
            }
        }
        if a.is_none() && b.is_none() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

fn run_chaos(seed: u64, policies: Policies) -> Verdict {
    let outcome = run(Seed::new(seed), limits(), move |world| {
        chaos(world, policies)
    });
    assert_eq!(outcome.status, RunStatus::Completed, "seed {seed}");
    outcome.value.unwrap()
}

#[test]
fn acknowledged_records_survive_crashes_and_partitions_and_replicas_agree() {
    for seed in 1..=4 {
        let verdict = run_chaos(seed, correct);
        assert!(
            verdict.lost.is_empty(),
            "seed {seed}: lost {:?}",
            verdict.lost
        );
        assert!(
            verdict.divergent.is_empty(),
            "seed {seed}: divergent {:?}",
            verdict.divergent
        );
        assert!(
            !verdict.stuck,
            "seed {seed}: the healed cluster took no write"
        );
        assert!(
            verdict.acked > 100,
            "seed {seed}: only {} writes acknowledged",
            verdict.acked
        );
        assert!(
            verdict.high_watermark as usize >= verdict.acked,
            "seed {seed}: {verdict:?}"
        );
    }
}

/// Seeds tried before a bug must have shown itself (the note of the cluster issue states the
/// observed number).
const SEEDS_TO_DETECT_MAX: u64 = 12;

#[test]
fn hw_before_isr_loses_acknowledged_records_within_a_few_seeds() {
    let detected = (1..=SEEDS_TO_DETECT_MAX).find(|&seed| {
        let verdict = run_chaos(seed, high_watermark_at_leader_log_end);
        println!(
            "seed {seed}: acked {} lost {} divergent {} stuck {}",
            verdict.acked,
            verdict.lost.len(),
            verdict.divergent.len(),
            verdict.stuck
        );
        !verdict.lost.is_empty() || !verdict.divergent.is_empty() || verdict.stuck
    });
    assert!(
        detected.is_some(),
        "hw-before-isr never lost a record in {SEEDS_TO_DETECT_MAX} seeds"
    );
    println!("hw-before-isr detected at seed {}", detected.unwrap());
}

#[test]
fn no_follower_truncation_leaves_divergent_replicas_within_a_few_seeds() {
    let detected = (1..=SEEDS_TO_DETECT_MAX).find(|&seed| {
        let verdict = run_chaos(seed, truncation_to_leader_log_end);
        println!(
            "seed {seed}: acked {} lost {} divergent {} stuck {}",
            verdict.acked,
            verdict.lost.len(),
            verdict.divergent.len(),
            verdict.stuck
        );
        !verdict.lost.is_empty() || !verdict.divergent.is_empty() || verdict.stuck
    });
    assert!(
        detected.is_some(),
        "no-follower-truncation never diverged in {SEEDS_TO_DETECT_MAX} seeds"
    );
    println!(
        "no-follower-truncation detected at seed {}",
        detected.unwrap()
    );
}

/// A leader cut off from the cluster keeps appending what it cannot commit; a new leader takes
/// over and writes other records at those offsets. When the old leader comes back as a follower
/// it must truncate its divergent tail (KIP-101/KIP-279).
async fn divergence(world: World, policies: Policies) -> (Verdict, bool) {
    let harness = setup(world.clone(), cluster_config(3, policies), 1, 3).await;
    for i in 0..10 {
        assert!(harness
            .produce(0, &format!("before-{i}"), 10)
            .await
            .is_some());
    }
    let (old_leader, _) = harness.leader(0).await.unwrap();
    let old_name = Cluster::broker_name(old_leader);
    // Cut the leader off from the other brokers and the controller, not from the client.
    let mut others: Vec<String> = harness
        .names()
        .into_iter()
        .filter(|n| *n != old_name)
        .collect();
    others.push("controller".to_string());
    world.partition(&[vec![old_name.clone()], others]);
    for i in 0..5 {
        // Appended by the isolated leader, never committed.
        let answer = harness
            .produce_to(old_leader, 0, &format!("orphan-{i}"))
            .await;
        assert!(
            !matches!(answer, Some(Ok(_))),
            "an isolated leader acknowledged {answer:?}"
        );
    }
    // The controller fences it and elects another leader.
    madsim::time::sleep(Duration::from_secs(3)).await;
    let (new_leader, _) = harness.leader(0).await.unwrap();
    assert_ne!(new_leader, old_leader);
    let mut acked = Vec::new();
    for i in 0..10 {
        let value = format!("after-{i}");
        let offset = harness
            .produce(0, &value, 10)
            .await
            .expect("the new leader accepts writes");
        acked.push((value, offset));
    }
    world.heal_network();
    madsim::time::sleep(Duration::from_secs(5)).await;
    let truncated = harness.events.lock().unwrap().iter().any(|event| {
        matches!(event, ClusterEvent::Broker(broker::core::Observation::FollowerTruncated { broker, .. }) if *broker == old_leader)
    });
    let high_watermark = harness.high_watermark(new_leader, 0).unwrap();
    for name in harness.names() {
        world.kill(&name);
    }
    (
        verify(&world, &harness.cluster, &acked, high_watermark),
        truncated,
    )
}

#[test]
fn a_divergent_follower_is_truncated() {
    let outcome = run(Seed::new(21), limits(), |world| divergence(world, correct));
    assert_eq!(outcome.status, RunStatus::Completed);
    let (verdict, truncated) = outcome.value.unwrap();
    assert!(truncated, "the old leader never truncated");
    assert!(verdict.lost.is_empty(), "{:?}", verdict.lost);
    assert!(verdict.divergent.is_empty(), "{:?}", verdict.divergent);
}

#[test]
fn without_truncation_the_divergent_follower_keeps_its_orphans() {
    let outcome = run(Seed::new(21), limits(), |world| {
        divergence(world, truncation_to_leader_log_end)
    });
    assert_eq!(outcome.status, RunStatus::Completed);
    let (verdict, truncated) = outcome.value.unwrap();
    assert!(!truncated);
    assert!(
        !verdict.divergent.is_empty(),
        "replicas agree although nothing truncated"
    );
}

#[test]
fn partitions_grow_while_the_cluster_serves() {
    let outcome = run(Seed::new(5), limits(), |world| async move {
        let harness = setup(world, cluster_config(3, correct), 1, 3).await;
        assert!(harness.produce(0, "a", 10).await.is_some());
        let grow = |count| {
            Request::CreatePartitions(CreatePartitionsRequest {
                topic: TOPIC.to_string(),
                count,
            })
        };
        let answer = harness
            .rpc
            .call_with_retries(harness.cluster.controller_addr, grow(4), CALL_TIMEOUT, 10)
            .await;
        assert_eq!(
            answer,
            Some(Response::CreatePartitions(CreatePartitionsResponse {
                result: Ok(())
            }))
        );
        // A count that does not grow is refused with a typed error.
        let answer = harness
            .rpc
            .call_with_retries(harness.cluster.controller_addr, grow(3), CALL_TIMEOUT, 10)
            .await;
        assert!(matches!(
            answer,
            Some(Response::CreatePartitions(CreatePartitionsResponse {
                result: Err(ErrorCode::InvalidRequest { .. })
            }))
        ));
        madsim::time::sleep(Duration::from_secs(1)).await;
        let metadata = harness.metadata().await.unwrap();
        let topic = metadata.topic(TOPIC).unwrap();
        assert_eq!(topic.partitions.len(), 4);
        assert!(topic.partitions.iter().all(|p| p.leader.is_some()));
        // Every broker learned it and the new partitions take writes.
        for partition in 1..4 {
            assert!(harness.produce(partition, "b", 10).await.is_some());
        }
        for handle in harness.cluster.brokers.values() {
            assert!(handle.status().metadata_version >= metadata.version);
        }
    });
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
}

#[test]
fn requests_to_a_non_leader_and_with_a_stale_epoch_are_refused() {
    let outcome = run(Seed::new(6), limits(), |world| async move {
        let harness = setup(world, cluster_config(3, correct), 1, 3).await;
        let (leader, epoch) = harness.leader(0).await.unwrap();
        let follower = *harness
            .cluster
            .brokers
            .keys()
            .find(|&&b| b != leader)
            .unwrap();
        assert_eq!(
            harness.produce_to(follower, 0, "x").await,
            Some(Err(ErrorCode::NotLeaderOrFollower))
        );
        let batch = RecordBatch::new(vec![Record::new(None, b"y".to_vec(), 0)]).encode();
        let stale = harness
            .rpc
            .call(
                harness.cluster.brokers[&leader].addr,
                Request::Produce(ProduceRequest {
                    partition: TopicPartition::new(TOPIC, 0),
                    batch: batch.clone(),
                    timeout_ms: 1_000,
                    current_leader_epoch: Some(epoch.wrapping_sub(1)),
                    acks: Acks::All,
                }),
                CALL_TIMEOUT,
            )
            .await;
        if epoch > 0 {
            assert!(matches!(
                stale,
                Some(Response::Produce(ProduceResponse {
                    result: Err(ErrorCode::FencedLeaderEpoch),
                    ..
                }))
            ));
        }
        // A corrupt batch is refused and nothing is written.
        let mut corrupt = batch.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let answer = harness
            .rpc
            .call(
                harness.cluster.brokers[&leader].addr,
                Request::Produce(ProduceRequest {
                    partition: TopicPartition::new(TOPIC, 0),
                    batch: corrupt.into(),
                    timeout_ms: 1_000,
                    current_leader_epoch: None,
                    acks: Acks::All,
                }),
                CALL_TIMEOUT,
            )
            .await;
        assert!(matches!(
            answer,
            Some(Response::Produce(ProduceResponse {
                result: Err(ErrorCode::CorruptMessage),
                ..
            }))
        ));
        // An unknown partition is a typed error.
        let fetch = harness.fetch(leader, 7, 0).await.unwrap();
        assert_eq!(fetch.result, Err(ErrorCode::UnknownTopicOrPartition));
        // The broker keeps serving.
        assert!(harness.produce(0, "z", 10).await.is_some());
    });
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
}

/// Retention under a lagging consumer (fluvio #3891): a read below the log start answers
/// `OffsetEvicted` with the current log start, never an IO error — and with the historical bug
/// switched back on, the stale segment view answers an internal error.
async fn evicted_read(world: World, policies: Policies) -> FetchResponse {
    let mut config = cluster_config(1, policies);
    config.broker.log.segment_bytes_max = 256;
    config.broker.min_insync_replicas = 1;
    let harness = setup(world, config, 1, 1).await;
    // Read once, so the (buggy) cached view knows the first segment.
    for i in 0..20 {
        assert!(harness
            .produce(0, &format!("record-{i:03}"), 10)
            .await
            .is_some());
    }
    let first = harness.fetch(1, 0, 0).await.unwrap();
    assert!(first.result.is_ok());
    // Retention deletes the oldest segments.
    harness.cluster.brokers[&1].inject(AdminCommand::ForceRetention {
        partition: TopicPartition::new(TOPIC, 0),
        offset: 12,
        min_age_ms: 0,
    });
    madsim::time::sleep(Duration::from_millis(100)).await;
    harness.fetch(1, 0, 0).await.unwrap()
}

#[test]
fn reading_an_evicted_offset_answers_offset_evicted_with_the_log_start() {
    let outcome = run(Seed::new(8), limits(), |world| evicted_read(world, correct));
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
    let response = outcome.value.unwrap();
    let log_start = response.log_start_offset;
    assert!(log_start > 0 && log_start <= 12, "{response:?}");
    assert_eq!(
        response.result,
        Err(ErrorCode::OffsetEvicted {
            next_available: log_start
        })
    );
}

#[test]
fn with_stale_segment_read_an_evicted_offset_is_an_internal_error() {
    let outcome = run(Seed::new(8), limits(), |world| {
        evicted_read(world, cached_segment_view)
    });
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
    let response = outcome.value.unwrap();
    assert!(
        matches!(response.result, Err(ErrorCode::UnknownServerError { .. })),
        "{response:?}"
    );
}

/// KAFKA-2477: a consumer fetch at the high watermark right after an acknowledged append (one
/// replica: the append is committed at once) is in range: an empty answer. With the range check
/// against the end before the append, it is answered out of range while the window lasts, with
/// the high watermark that says it was in range; after the window it is in range again.
async fn fetch_at_the_high_watermark_after_an_append(
    world: World,
    policies: Policies,
) -> (FetchResponse, FetchResponse) {
    let mut config = cluster_config(1, policies);
    config.broker.min_insync_replicas = 1;
    let harness = setup(world, config, 1, 1).await;
    let offset = harness.produce(0, "a", 10).await.unwrap();
    let at_once = harness.fetch(1, 0, offset + 1).await.unwrap();
    madsim::time::sleep(Duration::from_millis(
        broker::core::UNPUBLISHED_APPEND_MS + 10,
    ))
    .await;
    let later = harness.fetch(1, 0, offset + 1).await.unwrap();
    (at_once, later)
}

#[test]
fn a_fetch_at_the_high_watermark_right_after_an_append_is_in_range() {
    let outcome = run(Seed::new(9), limits(), |world| {
        fetch_at_the_high_watermark_after_an_append(world, correct)
    });
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
    let (at_once, later) = outcome.value.unwrap();
    assert_eq!(at_once.result, Ok(Vec::new()), "{at_once:?}");
    assert_eq!(at_once.high_watermark, 1);
    assert_eq!(later.result, Ok(Vec::new()), "{later:?}");
}

#[test]
fn with_the_range_check_before_the_latest_append_it_is_out_of_range_for_a_while() {
    let outcome = run(Seed::new(9), limits(), |world| {
        fetch_at_the_high_watermark_after_an_append(world, range_check_before_latest_append)
    });
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
    let (at_once, later) = outcome.value.unwrap();
    assert_eq!(
        at_once.result,
        Err(ErrorCode::OffsetOutOfRange),
        "{at_once:?}"
    );
    assert_eq!(at_once.high_watermark, 1, "committed, yet out of range");
    assert_eq!(later.result, Ok(Vec::new()), "{later:?}");
}

/// Bytes appended to `node`'s segment files and not synced yet.
fn unsynced_log_bytes(world: &World, node: &str) -> u64 {
    world
        .disk(node)
        .files()
        .iter()
        .filter(|(name, _)| name.ends_with(".log"))
        .map(|(_, info)| info.len - info.durable_len)
        .sum()
}

/// Produces five records under `sync`, and returns the leader's unsynced log bytes right after
/// the fifth was acknowledged and 2.5 s later.
fn unsynced_after_produce(sync: SyncPolicy) -> (u64, u64) {
    let outcome = run(Seed::new(8), limits(), move |world| async move {
        let mut config = cluster_config(3, correct);
        config.broker.log.sync = sync;
        let harness = setup(world.clone(), config, 1, 3).await;
        for i in 0..5 {
            assert!(harness.produce(0, &format!("v-{i}"), 10).await.is_some());
        }
        let (leader, _) = harness.leader(0).await.unwrap();
        let name = Cluster::broker_name(leader);
        let right_after = unsynced_log_bytes(&world, &name);
        madsim::time::sleep(Duration::from_millis(2_500)).await;
        (right_after, unsynced_log_bytes(&world, &name))
    });
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
    outcome.value.unwrap()
}

#[test]
fn the_sync_policy_decides_when_appends_reach_the_disk() {
    // Every append synced before it counts.
    assert_eq!(unsynced_after_produce(SyncPolicy::EveryAppend), (0, 0));
    // Synced by the broker's tick every interval: not yet, then within the interval.
    let (right_after, later) = unsynced_after_produce(SyncPolicy::Interval { ms: 2_000 });
    assert!(right_after > 0 && later == 0, "{right_after} then {later}");
    // Never synced: a crash would lose all of it.
    let (right_after, later) = unsynced_after_produce(SyncPolicy::Never);
    assert!(
        right_after > 0 && later >= right_after,
        "{right_after} then {later}"
    );
}

#[test]
fn acks_1_is_answered_by_the_leader_alone_and_acks_0_is_never_answered() {
    let outcome = run(Seed::new(9), limits(), |world| async move {
        let harness = setup(world.clone(), cluster_config(3, correct), 1, 3).await;
        assert!(harness.produce(0, "a", 10).await.is_some());
        let (leader, _) = harness.leader(0).await.unwrap();
        // Both followers down: the ISR shrinks to the leader, below min_insync_replicas (2).
        for id in harness
            .cluster
            .brokers
            .keys()
            .copied()
            .filter(|id| *id != leader)
        {
            world.kill(&Cluster::broker_name(id));
        }
        madsim::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(
            harness.produce_to(leader, 0, "all").await,
            Some(Err(ErrorCode::NotEnoughReplicas)),
            "acks=all needs min_insync_replicas"
        );
        let one = harness
            .produce_with_acks(leader, 0, "one", Acks::Leader)
            .await;
        assert_eq!(one, Some(Ok(1)), "acks=1: the leader's append is enough");
        let zero = harness
            .produce_with_acks(leader, 0, "zero", Acks::None)
            .await;
        assert_eq!(zero, None, "acks=0 gets no answer");
        // Both are in the leader's log (its high watermark is its log end: it is the ISR).
        madsim::time::sleep(Duration::from_millis(100)).await;
        let fetched = harness.fetch(leader, 0, 1).await.unwrap();
        let values: Vec<Vec<u8>> = fetched
            .result
            .unwrap()
            .iter()
            .flat_map(|bytes| RecordBatch::decode(bytes).unwrap().records)
            .map(|record| record.value.to_vec())
            .collect();
        assert_eq!(values, vec![b"one".to_vec(), b"zero".to_vec()]);
    });
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.status);
}
