//! The world end to end: nodes exchanging datagrams, kill/restart with the disk surviving,
//! partitions, one-way clogs, pause/resume.

use sim::net::Socket;
use sim::{run, NodeContext, RunLimits, RunStatus, Seed, World};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Msg {
    Ping(u32),
    Pong(u32),
}

fn limits() -> RunLimits {
    RunLimits {
        sim_time: Duration::from_secs(600),
        wall_clock: Duration::from_secs(60),
    }
}

/// A node that answers every Ping with a Pong.
async fn echo(context: NodeContext) {
    let socket = Socket::<Msg>::bind(context.addr).await.unwrap();
    while let Ok((message, from)) = socket.recv().await {
        if let Msg::Ping(n) = message {
            socket.send(from, Msg::Pong(n)).await;
        }
    }
}

/// Pings `to` once and waits up to 1 s for the answer.
async fn ping(socket: &Socket<Msg>, to: SocketAddr, n: u32) -> bool {
    socket.send(to, Msg::Ping(n)).await;
    let answer = madsim::time::timeout(Duration::from_secs(1), async {
        loop {
            if let Ok((Msg::Pong(m), _)) = socket.recv().await {
                if m == n {
                    return;
                }
            }
        }
    })
    .await;
    answer.is_ok()
}

/// Runs `body` with a client node; returns its result.
fn with_client<T: Send + 'static>(
    seed: u64,
    body: impl FnOnce(World, Arc<Socket<Msg>>) -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>>
        + Send
        + 'static,
) -> T {
    let outcome = run(Seed::new(seed), limits(), move |world| async move {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let sender = Mutex::new(Some(sender));
        world.add_node("client", move |_context| {
            let sender = sender.lock().unwrap().take();
            async move {
                let socket = Arc::new(Socket::<Msg>::bind_any().await.unwrap());
                if let Some(sender) = sender {
                    let _ = sender.send(socket);
                }
                std::future::pending::<()>().await;
            }
        });
        let socket = receiver.await.unwrap();
        body(world, socket).await
    });
    assert_eq!(outcome.status, RunStatus::Completed);
    outcome.value.unwrap()
}

#[test]
fn nodes_exchange_messages() {
    let delivered = with_client(1, |world, socket| {
        Box::pin(async move {
            let a = world.add_node("a", echo);
            madsim::time::sleep(Duration::from_millis(10)).await;
            let mut delivered = 0;
            for n in 0..10 {
                if ping(&socket, a, n).await {
                    delivered += 1;
                }
            }
            delivered
        })
    });
    assert_eq!(delivered, 10);
}

#[test]
fn a_partition_blocks_both_ways_and_heal_restores() {
    let (during, after) = with_client(2, |world, socket| {
        Box::pin(async move {
            let a = world.add_node("a", echo);
            madsim::time::sleep(Duration::from_millis(10)).await;
            world.partition(&[vec!["client".into()], vec!["a".into()]]);
            let during = ping(&socket, a, 1).await;
            world.heal_network();
            let after = ping(&socket, a, 2).await;
            (during, after)
        })
    });
    assert!(!during);
    assert!(after);
}

#[test]
fn a_one_way_clog_drops_only_one_direction() {
    let (forward_blocked, backward_blocked) = with_client(3, |world, socket| {
        Box::pin(async move {
            let a = world.add_node("a", echo);
            madsim::time::sleep(Duration::from_millis(10)).await;
            // Pongs from a to the client are dropped: the ping arrives, the answer does not.
            world.clog_link("a", "client");
            let forward = ping(&socket, a, 1).await;
            world.unclog_link("a", "client");
            world.clog_link("client", "a");
            let backward = ping(&socket, a, 2).await;
            (!forward, !backward)
        })
    });
    assert!(forward_blocked && backward_blocked);
}

#[test]
fn a_killed_node_is_silent_and_a_restart_keeps_its_synced_disk() {
    let (silent, back, contents) = with_client(4, |world, socket| {
        Box::pin(async move {
            let a = world.add_node("a", |context: NodeContext| async move {
                let disk = context.disk.clone();
                let name = format!("boot-{}", context.incarnation);
                disk.create(&name).unwrap();
                disk.append(&name, b"synced").unwrap();
                disk.sync(&name).unwrap();
                disk.append(&name, b"+unsynced").unwrap();
                echo(context).await
            });
            madsim::time::sleep(Duration::from_millis(10)).await;
            world
                .disk("a")
                .update_faults(|faults| faults.torn_writes = false);
            world.kill("a");
            let silent = !ping(&socket, a, 1).await;
            world.restart("a");
            madsim::time::sleep(Duration::from_millis(10)).await;
            let back = ping(&socket, a, 2).await;
            let disk = world.disk("a");
            (
                silent,
                back,
                (disk.contents("boot-0"), disk.contents("boot-1")),
            )
        })
    });
    assert!(silent);
    assert!(back);
    assert_eq!(contents.0.unwrap(), b"synced");
    assert_eq!(contents.1.unwrap(), b"synced+unsynced");
}

#[test]
fn a_paused_node_answers_after_resume() {
    let (paused, resumed) = with_client(5, |world, socket| {
        Box::pin(async move {
            let a = world.add_node("a", echo);
            madsim::time::sleep(Duration::from_millis(10)).await;
            world.pause("a");
            let paused = ping(&socket, a, 1).await;
            world.resume("a");
            // The ping sent while paused may be answered first; a fresh one must get through.
            let resumed = ping(&socket, a, 2).await;
            (paused, resumed)
        })
    });
    assert!(!paused);
    assert!(resumed);
}

#[test]
fn full_packet_loss_drops_everything() {
    let delivered = with_client(6, |world, socket| {
        Box::pin(async move {
            let a = world.add_node("a", echo);
            madsim::time::sleep(Duration::from_millis(10)).await;
            world.set_packet_loss(1.0);
            let lost = ping(&socket, a, 1).await;
            world.heal_network();
            let back = ping(&socket, a, 2).await;
            (lost, back)
        })
    });
    assert_eq!(delivered, (false, true));
}

#[test]
fn faults_feed_the_trace() {
    let scenario = |kill: bool| {
        move |world: World| async move {
            world.add_node("a", echo);
            madsim::time::sleep(Duration::from_millis(10)).await;
            if kill {
                world.kill("a");
            }
        }
    };
    let quiet = run(Seed::new(7), limits(), scenario(false));
    let killed = run(Seed::new(7), limits(), scenario(true));
    assert_ne!(quiet.trace_hash, killed.trace_hash);
    assert_eq!(killed.trace_items, quiet.trace_items + 1);
}

#[test]
fn overlapping_partitions_repair_independently() {
    let (during_both, after_one, after_both) = with_client(8, |world, socket| {
        Box::pin(async move {
            let a = world.add_node("a", echo);
            madsim::time::sleep(Duration::from_millis(10)).await;
            let first = vec![vec!["client".to_string()], vec!["a".to_string()]];
            let second = world.isolation_groups("a");
            world.partition(&first);
            world.partition(&second);
            let during_both = ping(&socket, a, 1).await;
            world.unpartition(&first);
            let after_one = ping(&socket, a, 2).await;
            world.unpartition(&second);
            let after_both = ping(&socket, a, 3).await;
            (during_both, after_one, after_both)
        })
    });
    assert!(!during_both);
    assert!(!after_one, "the second partition still holds");
    assert!(after_both);
}
