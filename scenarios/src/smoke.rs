//! `smoke`: the world end to end, without brokers. Three nodes answer pings; one of them writes a
//! journal to its simulated disk, is crashed and restarted; one is partitioned away and healed.
//! The checks: pings cross a healthy network and do not cross a partition, every node answers
//! after the heal, and the journal that survives the crash starts with everything synced.

use crate::report::Anomaly;
use sim::net::Socket;
use sim::{NodeContext, World};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const JOURNAL: &str = "journal";
/// How long a ping waits for its answer.
const PING_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
enum Msg {
    Ping(u64),
    Pong(u64),
}

/// What the journal writer of each incarnation reported as synced, for the crash check.
type SyncedLengths = Arc<Mutex<Vec<u64>>>;

async fn node_main(context: NodeContext, synced: SyncedLengths) {
    let socket = Arc::new(
        Socket::<Msg>::bind(context.addr)
            .await
            .expect("bind the service port"),
    );
    if context.name == "n1" {
        madsim::task::spawn(journal_writer(context.clone(), synced));
    }
    while let Ok((message, from)) = socket.recv().await {
        if let Msg::Ping(n) = message {
            socket.send(from, Msg::Pong(n)).await;
        }
    }
}

/// Appends one line every 20 ms and syncs every other one.
async fn journal_writer(context: NodeContext, synced: SyncedLengths) {
    let disk = context.disk;
    if !disk.exists(JOURNAL) {
        disk.create(JOURNAL).expect("create the journal");
    }
    for line in 0u64.. {
        let text = format!("incarnation {} line {line}\n", context.incarnation);
        disk.append(JOURNAL, text.as_bytes())
            .expect("append to the journal");
        if line % 2 == 1 {
            disk.sync(JOURNAL).expect("sync the journal");
            let len = disk.len(JOURNAL).expect("journal length");
            synced.lock().unwrap_or_else(|p| p.into_inner()).push(len);
        }
        madsim::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Pinger {
    world: World,
    socket: Socket<Msg>,
    next: u64,
}

impl Pinger {
    async fn ping(&mut self, node: &str, addr: SocketAddr) -> bool {
        self.next += 1;
        let n = self.next;
        self.socket.send(addr, Msg::Ping(n)).await;
        let answered = madsim::time::timeout(PING_TIMEOUT, async {
            loop {
                match self.socket.recv().await {
                    Ok((Msg::Pong(m), _)) if m == n => return,
                    Ok(_) => continue,
                    Err(_) => std::future::pending::<()>().await,
                }
            }
        })
        .await
        .is_ok();
        let line = format!(
            "{} ping {node} {n} {}",
            sim::time::now_ns(),
            if answered { "ok" } else { "lost" }
        );
        self.world.trace().feed(line.as_bytes());
        answered
    }
}

/// Runs the smoke scenario; returns the anomalies found and the number of events traced.
pub async fn run(world: World) -> Vec<Anomaly> {
    let synced: SyncedLengths = Arc::new(Mutex::new(Vec::new()));
    let mut addrs = Vec::new();
    for name in NODES {
        let synced = synced.clone();
        let addr = world.add_node(name, move |context| node_main(context, synced.clone()));
        addrs.push((name, addr));
    }
    // The pinger runs as the supervisor's own socket on a client node.
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let sender = Mutex::new(Some(sender));
    world.add_node("pinger", move |_context| {
        let sender = sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        async move {
            let socket = Socket::<Msg>::bind_any().await.expect("bind pinger");
            if let Some(sender) = sender {
                let _ = sender.send(socket);
            }
            std::future::pending::<()>().await
        }
    });
    let socket = receiver.await.expect("the pinger node starts");
    let mut pinger = Pinger {
        world: world.clone(),
        socket,
        next: 0,
    };
    let mut anomalies = Vec::new();
    let mut rng = world.stream("smoke");

    // Phase 1: a healthy network.
    madsim::time::sleep(Duration::from_millis(50)).await;
    for (name, addr) in &addrs {
        if !pinger.ping(name, *addr).await {
            anomalies.push(Anomaly::new(
                "smoke-unreachable",
                format!("{name} did not answer on a healthy network"),
            ));
        }
    }

    // Phase 2: crash n1 at a random moment and restart it; check its journal.
    let crash_after_ms = rand::Rng::gen_range(&mut rng, 100..400);
    madsim::time::sleep(Duration::from_millis(crash_after_ms)).await;
    let disk = world.disk("n1");
    let synced_before = synced
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .last()
        .copied()
        .unwrap_or(0);
    let content_before = disk.contents(JOURNAL).unwrap_or_default();
    world.kill("n1");
    let content_after = disk.contents(JOURNAL).unwrap_or_default();
    if (content_after.len() as u64) < synced_before || !content_before.starts_with(&content_after) {
        anomalies.push(Anomaly::new(
            "smoke-disk-lost-synced",
            format!(
                "n1's journal had {} bytes synced before the crash but kept {} bytes that are \
                 not a prefix of what was written",
                synced_before,
                content_after.len()
            ),
        ));
    }
    if pinger.ping("n1", addrs[0].1).await {
        anomalies.push(Anomaly::new(
            "smoke-dead-node-answered",
            "n1 answered a ping while killed".to_string(),
        ));
    }
    world.restart("n1");
    madsim::time::sleep(Duration::from_millis(100)).await;

    // Phase 3: partition n3 away; pings must not cross.
    world.partition(&[
        vec!["n3".to_string()],
        vec!["n1".to_string(), "n2".to_string(), "pinger".to_string()],
    ]);
    if pinger.ping("n3", addrs[2].1).await {
        anomalies.push(Anomaly::new(
            "smoke-partition-leaked",
            "n3 answered a ping across a partition".to_string(),
        ));
    }

    // Phase 4: heal; everyone answers (with a few retries: messages in flight may be lost).
    world.heal_network();
    for (name, addr) in &addrs {
        let mut answered = false;
        for _attempt in 0..5 {
            if pinger.ping(name, *addr).await {
                answered = true;
                break;
            }
        }
        if !answered {
            anomalies.push(Anomaly::new(
                "smoke-unreachable-after-heal",
                format!("{name} did not answer 5 pings after the heal"),
            ));
        }
    }
    let journal = disk.contents(JOURNAL).unwrap_or_default();
    let restarted_lines = String::from_utf8_lossy(&journal)
        .lines()
        .filter(|line| line.starts_with("incarnation 1 "))
        .count();
    if restarted_lines == 0 {
        anomalies.push(Anomaly::new(
            "smoke-restart-did-not-run",
            "n1's second incarnation wrote nothing to its journal".to_string(),
        ));
    }
    anomalies
}
