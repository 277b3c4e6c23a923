//! The clients against the real cluster (`broker::node`: a controller and 3 brokers) in the
//! simulation: a producer and a consumer exchange 10,000 records while partition leaders crash
//! and come back; after the heal, every acknowledged value is read, and the history file the
//! recorder writes parses as docs/history-format.md and passes the oracle. (It lives with the
//! harness because it needs both the client and the broker, and the harness's cluster observer.)

use broker::api::{CreateTopicRequest, CreateTopicResponse, ErrorCode, Request, Response};
use broker::node::{start_cluster, ClusterConfig, RpcClient};
use client::node::{wait_for, ConsumerNode, ConsumerWorkload, ProducerNode, ProducerWorkload};
use client::policy::CommitPositionPolicy;
use client::{
    ClusterAddrs, CommitMode, ConsumerConfig, History, ProducerConfig, ResetPolicy, Subscription,
};
use scenarios::observer::cluster_observer;
use sim::{RunLimits, Seed, World};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 3;
const RECORDS: u64 = 10_000;

/// Creates the topic from an admin node; returns once the controller accepted it.
async fn create_topic(world: &World, controller: SocketAddr) {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let sender = Arc::new(Mutex::new(Some(sender)));
    world.add_node("admin", move |_context| {
        let sender = sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        async move {
            let rpc = RpcClient::bind().await.expect("bind");
            loop {
                let request = Request::CreateTopic(CreateTopicRequest {
                    topic: TOPIC.to_string(),
                    partitions: PARTITIONS,
                    replication_factor: 3,
                });
                match rpc
                    .call(controller, request, Duration::from_millis(500))
                    .await
                {
                    Some(Response::CreateTopic(CreateTopicResponse { result: Ok(()) }))
                    | Some(Response::CreateTopic(CreateTopicResponse {
                        result: Err(ErrorCode::TopicAlreadyExists),
                    })) => break,
                    _ => madsim::time::sleep(Duration::from_millis(100)).await,
                }
            }
            if let Some(sender) = sender {
                let _ = sender.send(());
            }
        }
    });
    receiver.await.expect("the admin node creates the topic");
}

/// (acknowledged values, values read by a poll)
fn acked_and_read(history: &History) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut acked = BTreeSet::new();
    let mut read = BTreeSet::new();
    for event in history.events() {
        match event.op {
            client::Op::SendOk { value, .. } => {
                acked.insert(value.into_owned());
            }
            client::Op::PollOk { records } => {
                read.extend(records.iter().map(|r| r.value.to_string()))
            }
            _ => {}
        }
    }
    (acked, read)
}

struct Outcome {
    trace_hash: sim::TraceHash,
    history_path: std::path::PathBuf,
    acked: usize,
    unread: Vec<String>,
}

fn run(seed: u64) -> Outcome {
    let history_path = std::env::temp_dir().join(format!(
        "streamsim-client-cluster-{}-{seed}.jsonl",
        std::process::id()
    ));
    let path = history_path.clone();
    let limits = RunLimits {
        sim_time: Duration::from_secs(600),
        wall_clock: Duration::from_secs(600),
    };
    let outcome = sim::run(Seed::new(seed), limits, move |world: World| async move {
        let history = History::new(world.trace().clone());
        let cluster = start_cluster(
            &world,
            ClusterConfig::default(),
            cluster_observer(
                history.clone(),
                broker::coordinator::OFFSETS_RETENTION_MS_DEFAULT,
            ),
        );
        create_topic(&world, cluster.controller_addr).await;
        let addrs = ClusterAddrs {
            bootstrap: cluster.broker_addrs(),
            controller: cluster.controller_addr,
        };

        let mut workload = ProducerWorkload::new(TOPIC, RECORDS);
        workload.send_interval_ms = 1;
        workload.pending_max = 500;
        let producer = ProducerNode::start(
            &world,
            addrs.clone(),
            ProducerConfig::new("producer-0"),
            workload,
            history.clone(),
        );
        let mut consumer_config = ConsumerConfig::new(
            "consumer-0",
            Subscription::Group {
                topics: vec![TOPIC.to_string()],
                member_index: 0,
                members: 1,
            },
        );
        consumer_config.reset_policy = ResetPolicy::Earliest;
        consumer_config.commit_mode = CommitMode::Auto {
            offset_flush_ms: 100,
        };
        let consumer = ConsumerNode::start(
            &world,
            addrs,
            consumer_config,
            ConsumerWorkload::default(),
            history.clone(),
        );

        // Faults: a lossy network; every broker crashes in turn (leaders among them) and comes
        // back; the consumer crashes once and resumes from its committed offsets.
        history.record_fault(client::history::FaultKind::Loss, Some("0.02"));
        world.set_packet_loss(0.02);
        for id in 1..=3u32 {
            madsim::time::sleep(Duration::from_secs(2)).await;
            let name = broker::node::Cluster::broker_name(id);
            history.record_fault(client::history::FaultKind::Crash, Some(&name));
            world.kill(&name);
            if id == 2 {
                consumer.crash();
            }
            madsim::time::sleep(Duration::from_secs(2)).await;
            history.record_fault(client::history::FaultKind::Restart, Some(&name));
            world.restart(&name);
            if id == 2 {
                consumer.restart();
            }
        }
        world.heal_network();
        history.record_heal();

        assert!(
            producer.wait_done(Duration::from_secs(300)).await,
            "the producer finished: {:?}",
            producer.progress()
        );
        let all_read = wait_for(Duration::from_secs(300), || {
            let (acked, read) = acked_and_read(&history);
            acked.is_subset(&read)
        })
        .await;
        assert!(
            consumer.close_and_wait(Duration::from_secs(30)).await,
            "the consumer closed"
        );
        producer.close();
        wait_for(Duration::from_secs(30), || {
            producer.progress().status.closed
        })
        .await;
        let (acked, read) = acked_and_read(&history);
        let unread: Vec<String> = acked.difference(&read).take(20).cloned().collect();
        assert!(all_read || !unread.is_empty());
        history.write_jsonl(&path).expect("write the history");
        (acked.len(), unread)
    });
    assert!(
        outcome.status.is_completed(),
        "seed {seed}: {}",
        outcome.status.describe()
    );
    let (acked, unread) = outcome.value.expect("completed");
    Outcome {
        trace_hash: outcome.trace_hash,
        history_path,
        acked,
        unread,
    }
}

#[test]
fn ten_thousand_records_through_leader_crashes() {
    for seed in [42, 43] {
        let outcome = run(seed);
        assert!(
            outcome.unread.is_empty(),
            "seed {seed}: acknowledged, never read: {:?}",
            outcome.unread
        );
        assert_eq!(
            outcome.acked as u64, RECORDS,
            "seed {seed}: every send acknowledged"
        );
        // The file parses as docs/history-format.md (the oracle's reader names any bad line) and passes the
        // oracle's checks.
        let file = std::fs::File::open(&outcome.history_path).expect("the history file");
        let result = oracle::check_reader(std::io::BufReader::new(file))
            .expect("the file is docs/history-format.md");
        let text = std::fs::read_to_string(&outcome.history_path).expect("the history file");
        let _ = std::fs::remove_file(&outcome.history_path);
        assert_eq!(result.stats.ignored_events, 0);
        assert_eq!(result.stats.sends_ok, RECORDS);
        assert_eq!(result.stats.records_read, RECORDS);
        assert!(
            result.valid,
            "seed {seed}: anomalies: {:#?}",
            result.anomalies
        );
        // The faults happened: leaders moved, the consumer restarted.
        let new_leaders = text
            .lines()
            .filter(|line| line.contains(r#""f":"leader""#) && !line.contains(r#""epoch":0"#))
            .count();
        assert!(
            new_leaders >= 3,
            "seed {seed}: {new_leaders} leader changes"
        );
        let consumer_starts = text
            .lines()
            .filter(|line| {
                line.contains(r#""process":"consumer-0""#) && line.contains(r#""f":"start""#)
            })
            .count();
        assert_eq!(consumer_starts, 2);
    }
}

/// Same seed, same history and trace hash, through the real cluster and its faults.
#[test]
fn a_seed_replays_bit_for_bit() {
    let read = |outcome: &Outcome| {
        let text = std::fs::read_to_string(&outcome.history_path).expect("the history file");
        let _ = std::fs::remove_file(&outcome.history_path);
        (outcome.trace_hash, text)
    };
    let a = read(&run(5));
    let b = read(&run(5));
    assert_eq!(a.0, b.0, "trace hashes");
    assert!(a.1 == b.1, "the histories differ");
}

/// A consumer reads everything, closes cleanly, and starts again: the correct client resumes
/// after the last record; with `last-record-never-committed` (fluvio #4505) it delivers the last
/// record again, which the oracle reports as `duplicate-delivery`.
fn close_and_restart(commit_position: CommitPositionPolicy) -> oracle::CheckResult {
    let outcome = sim::run(
        Seed::new(7),
        RunLimits::default(),
        move |world: World| async move {
            let history = History::new(world.trace().clone());
            let cluster = start_cluster(
                &world,
                ClusterConfig::default(),
                cluster_observer(
                    history.clone(),
                    broker::coordinator::OFFSETS_RETENTION_MS_DEFAULT,
                ),
            );
            create_topic(&world, cluster.controller_addr).await;
            let addrs = ClusterAddrs {
                bootstrap: cluster.broker_addrs(),
                controller: cluster.controller_addr,
            };
            let mut workload = ProducerWorkload::new(TOPIC, 300);
            workload.close_when_done = true;
            let producer = ProducerNode::start(
                &world,
                addrs.clone(),
                ProducerConfig::new("producer-0"),
                workload,
                history.clone(),
            );
            assert!(producer.wait_done(Duration::from_secs(60)).await);
            let mut config = ConsumerConfig::new(
                "consumer-0",
                Subscription::Assign(
                    (0..PARTITIONS)
                        .map(|p| broker::api::TopicPartition::new(TOPIC, p))
                        .collect(),
                ),
            );
            config.commit_mode = CommitMode::Auto { offset_flush_ms: 0 };
            config.commit_position_policy = commit_position;
            let consumer = ConsumerNode::start(
                &world,
                addrs,
                config,
                ConsumerWorkload::default(),
                history.clone(),
            );
            assert!(consumer.wait_caught_up(Duration::from_secs(60)).await);
            assert!(consumer.close_and_wait(Duration::from_secs(30)).await);
            consumer.restart();
            madsim::time::sleep(Duration::from_secs(2)).await;
            assert!(consumer.wait_caught_up(Duration::from_secs(60)).await);
            assert!(consumer.close_and_wait(Duration::from_secs(30)).await);
            history.events()
        },
    );
    assert!(
        outcome.status.is_completed(),
        "{}",
        outcome.status.describe()
    );
    oracle::check_events(&outcome.value.expect("completed"))
}

#[test]
fn a_clean_close_then_restart_redelivers_nothing() {
    let result = close_and_restart(CommitPositionPolicy::NextUndelivered);
    assert!(result.valid, "anomalies: {:#?}", result.anomalies);
}

/// fluvio #4505 (bug `last-record-never-committed`), end to end through the real cluster.
#[test]
fn bug_last_record_never_committed_is_caught_as_duplicate_delivery() {
    let result = close_and_restart(CommitPositionPolicy::LastDelivered);
    assert!(!result.valid);
    assert_eq!(
        result.counts.get("duplicate-delivery"),
        Some(&(PARTITIONS as u64)),
        "one redelivered last record per partition: {:?}",
        result.counts
    );
}
