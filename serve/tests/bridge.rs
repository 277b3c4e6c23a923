//! The bridge against a madsim echo server: a real client thread talks over real TCP to the
//! bridge, which carries the bytes to a simulated node and back, paced to the wall clock.
//! (Until the Kafka front end is merged no broker listens on its Kafka port; after that,
//! `tests/serve.rs` of the binary checks ApiVersions end to end.)

use serve::bridge::{self, BridgeStats, Route, SharedStats};
use serve::pacer::Pacer;
use sim::{RunLimits, RunStatus, Seed, World};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ECHO_PORT: u16 = 7000;

/// What the simulation saw.
#[derive(Debug, Default)]
struct Seen {
    /// Connections the echo server accepted, and saw end.
    accepted: AtomicU64,
    ended: AtomicU64,
    /// Set by a client: the simulation then crashes the echo node.
    crash_echo: AtomicBool,
}

/// An echo server on node `echo`; with `close_after_first`, it closes each connection after
/// echoing its first read.
fn add_echo(world: &World, seen: Arc<Seen>, close_after_first: bool) -> SocketAddr {
    let addr = world.add_node("echo", move |context| {
        let seen = seen.clone();
        async move {
            let listener = madsim::net::TcpListener::bind((context.addr.ip(), ECHO_PORT))
                .await
                .expect("bind");
            loop {
                let (mut stream, _) = listener.accept().await.expect("accept");
                seen.accepted.fetch_add(1, Ordering::Relaxed);
                let seen = seen.clone();
                madsim::task::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    loop {
                        match bridge::read(&mut stream, &mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(count) => {
                                if bridge::write_all(&mut stream, &buffer[..count])
                                    .await
                                    .is_err()
                                    || close_after_first
                                {
                                    break;
                                }
                            }
                        }
                    }
                    seen.ended.fetch_add(1, Ordering::Relaxed);
                });
            }
        }
    });
    SocketAddr::new(addr.ip(), ECHO_PORT)
}

/// Runs a simulation with an echo server (unless `target` is given: then that address) and
/// the bridge on a real listener; `client` runs on a real thread against the listener's port.
/// The simulation ends when `client` has returned and `until` holds (or after 30 s).
fn bridged<T: Send + 'static>(
    close_after_first: bool,
    target: Option<SocketAddr>,
    client: impl FnOnce(u16, Arc<Seen>) -> T + Send + 'static,
    until: impl Fn(&Seen) -> bool + Send + 'static,
) -> (T, Arc<Seen>, BridgeStats, RunStatus, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let client_done = Arc::new(AtomicBool::new(false));
    let done = client_done.clone();
    let seen = Arc::new(Seen::default());
    let client_seen = seen.clone();
    let client = std::thread::spawn(move || {
        let result = client(port, client_seen);
        done.store(true, Ordering::Relaxed);
        result
    });
    let stats: SharedStats = Arc::default();
    let (run_seen, run_stats) = (seen.clone(), stats.clone());
    let limits = RunLimits {
        sim_time: Duration::from_secs(120),
        wall_clock: Duration::from_secs(60),
    };
    let outcome = sim::run(Seed::new(1), limits, move |world| async move {
        let echo = add_echo(&world, run_seen.clone(), close_after_first);
        let route = Route {
            listener,
            target: target.unwrap_or(echo),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let parts = Mutex::new(Some((route, Pacer::start(), stop.clone(), run_stats)));
        world.add_node("bridge", move |_context| {
            let (route, pacer, stop, stats) = parts.lock().unwrap().take().expect("started once");
            bridge::run(vec![route], pacer, stop, stats)
        });
        for _ in 0..30_000 {
            if client_done.load(Ordering::Relaxed) && until(&run_seen) {
                break;
            }
            if run_seen.crash_echo.load(Ordering::Relaxed)
                && world.node_state("echo") == sim::NodeState::Running
            {
                world.kill("echo");
            }
            madsim::time::sleep(Duration::from_millis(1)).await;
        }
        stop.store(true, Ordering::Relaxed);
        madsim::time::sleep(Duration::from_millis(10)).await;
    });
    let result = client.join().expect("the client thread");
    let stats = *stats.lock().unwrap();
    (result, seen, stats, outcome.status, outcome.sim_time)
}

fn read_exactly(stream: &mut TcpStream, count: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; count];
    stream.read_exact(&mut bytes).expect("read the echo");
    bytes
}

#[test]
fn bytes_cross_the_bridge_both_ways_and_a_hang_up_reaches_the_simulation() {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = big.clone();
    let (echoed, seen, stats, status, _) = bridged(
        false,
        None,
        move |port, _| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.write_all(b"hello").unwrap();
            let hello = read_exactly(&mut stream, 5);
            // Megabytes: more than one read per step, and more than the socket buffers hold.
            let mut writer = stream.try_clone().unwrap();
            let writing = std::thread::spawn(move || writer.write_all(&sent).unwrap());
            let back = read_exactly(&mut stream, big.len());
            writing.join().unwrap();
            (hello, back == big)
        },
        |seen| seen.ended.load(Ordering::Relaxed) >= 1,
    );
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(echoed.0, b"hello");
    assert!(echoed.1, "the megabytes came back intact");
    assert_eq!(seen.accepted.load(Ordering::Relaxed), 1);
    assert_eq!(
        seen.ended.load(Ordering::Relaxed),
        1,
        "the real client's hang-up closed the simulated connection"
    );
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.connected, 1);
    assert_eq!(stats.refused, 0);
    assert_eq!(stats.bytes_in, 3_000_005);
    assert_eq!(stats.bytes_out, 3_000_005);
}

#[test]
fn a_close_inside_the_simulation_closes_the_real_connection() {
    let (read, seen, stats, status, _) = bridged(
        true,
        None,
        |port, _| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.write_all(b"once").unwrap();
            let mut all = Vec::new();
            stream.read_to_end(&mut all).expect("read to the end");
            all
        },
        |_| true,
    );
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(read, b"once", "the echo, then the end of the stream");
    assert_eq!(seen.ended.load(Ordering::Relaxed), 1);
    assert_eq!(stats.connected, 1);
}

#[test]
fn a_refused_simulated_connection_closes_the_real_one() {
    // Nothing listens on this port of the echo node.
    let nowhere = SocketAddr::from(([10, 0, 0, 1], ECHO_PORT + 1));
    let (read, seen, stats, status, _) = bridged(
        false,
        Some(nowhere),
        |port, _| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut all = Vec::new();
            stream.read_to_end(&mut all).map(|_| all.len())
        },
        |_| true,
    );
    assert_eq!(status, RunStatus::Completed);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "closed without data: {read:?}"
    );
    assert_eq!(seen.accepted.load(Ordering::Relaxed), 0);
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.refused, 1);
}

#[test]
fn simulated_time_follows_the_wall_clock() {
    // The client sleeps 1.5 s of real time; the simulation, paced, spends as much simulated time.
    let start = std::time::Instant::now();
    let listener_wait = Duration::from_millis(1500);
    let (_, _, _, status, simulated) = bridged(
        false,
        None,
        move |_port, _| std::thread::sleep(listener_wait),
        |_| true,
    );
    assert_eq!(status, RunStatus::Completed);
    let real = start.elapsed();
    assert!(real >= listener_wait, "{real:?}");
    // Simulated time kept to the wall clock: not ahead of it (but for the 10 ms the run spends
    // after the bridge, and so the pacer, stopped), and not far behind.
    assert!(simulated >= listener_wait, "{simulated:?}");
    assert!(
        simulated <= real + Duration::from_millis(15),
        "{simulated:?} > {real:?}"
    );
    assert!(
        real.saturating_sub(simulated) < Duration::from_secs(1),
        "{simulated:?} vs {real:?}"
    );
}

#[test]
fn a_crash_inside_the_simulation_drops_the_real_connection_and_refuses_new_ones() {
    let ((echoed, after_crash, reconnected), seen, stats, status, _) = bridged(
        false,
        None,
        |port, seen| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.write_all(b"ping").unwrap();
            let echoed = read_exactly(&mut stream, 4);
            seen.crash_echo.store(true, Ordering::Relaxed);
            let mut rest = Vec::new();
            let after_crash = stream.read_to_end(&mut rest).map(|_| rest.len());
            // The node is down: a new connection is accepted outside and closed at once.
            let mut again = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            again
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut nothing = Vec::new();
            let reconnected = again.read_to_end(&mut nothing).map(|_| nothing.len());
            (echoed, after_crash, reconnected)
        },
        |_| true,
    );
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(echoed, b"ping");
    assert!(
        matches!(after_crash, Ok(0)) || after_crash.is_err(),
        "the crash closed the real connection: {after_crash:?}"
    );
    assert!(
        matches!(reconnected, Ok(0)) || reconnected.is_err(),
        "{reconnected:?}"
    );
    assert_eq!(seen.accepted.load(Ordering::Relaxed), 1);
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.connected, 1);
    assert_eq!(stats.refused, 1);
}

#[test]
fn many_connections_at_once_each_get_their_own_bytes() {
    const CLIENTS: usize = 24;
    let (all_ok, seen, stats, status, _) = bridged(
        false,
        None,
        |port, _| {
            let clients: Vec<_> = (0..CLIENTS)
                .map(|n| {
                    std::thread::spawn(move || {
                        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                        stream
                            .set_read_timeout(Some(Duration::from_secs(20)))
                            .unwrap();
                        let mut ok = true;
                        for round in 0..20 {
                            let message = format!("client {n} round {round};").into_bytes();
                            stream.write_all(&message).unwrap();
                            ok &= read_exactly(&mut stream, message.len()) == message;
                        }
                        ok
                    })
                })
                .collect();
            clients.into_iter().all(|client| client.join().unwrap())
        },
        |seen| seen.ended.load(Ordering::Relaxed) >= CLIENTS as u64,
    );
    assert_eq!(status, RunStatus::Completed);
    assert!(all_ok, "every client got exactly its own echoes back");
    assert_eq!(seen.accepted.load(Ordering::Relaxed), CLIENTS as u64);
    assert_eq!(seen.ended.load(Ordering::Relaxed), CLIENTS as u64);
    assert_eq!(stats.connected, CLIENTS as u64);
    assert_eq!(stats.bytes_in, stats.bytes_out);
}
