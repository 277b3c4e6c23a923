//! The runner: one madsim runtime per seed, on a fresh thread, with limits on simulated and wall
//! time. A panic inside the run is caught and becomes an outcome; it never ends the process.
//!
//! This file is exempt from the tidy rules on wall clocks and OS threads: the watchdog measures
//! wall time and the run gets its own OS thread, both *outside* the simulation.

use crate::trace::{Trace, TraceHash};
use crate::world::World;
use crate::Seed;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Once};
use std::time::{Duration, Instant};

/// Name prefix of the threads that run seeds; the panic hook recognises them by it.
const RUN_THREAD_PREFIX: &str = "streamsim-seed-";
/// Stack of a run thread: madsim polls every task of the run on it.
const RUN_THREAD_STACK_BYTES: usize = 64 << 20;
/// How often (simulated) the in-run watchdog task looks at the cancel flag.
const WATCHDOG_POLL_SIM: Duration = Duration::from_millis(100);
/// After the wall-clock limit, how long the runner waits for the run to notice and stop.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);
/// The message the in-run watchdog panics with.
const WATCHDOG_MESSAGE: &str = "streamsim watchdog: wall-clock limit exceeded";

/// Limits on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// The run fails if simulated time passes this.
    pub sim_time: Duration,
    /// The run fails if it takes longer than this on the wall clock (a hang, a livelock).
    pub wall_clock: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            sim_time: Duration::from_secs(3600),
            wall_clock: Duration::from_secs(300),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// The scenario future completed.
    Completed,
    /// Something panicked inside the simulation (an assertion, a deadlock madsim detected).
    Panicked { message: String },
    /// Simulated time passed the limit.
    SimTimeExceeded { limit: Duration },
    /// The run took longer than the wall-clock limit.
    WallClockExceeded { limit: Duration },
}

impl RunStatus {
    pub fn is_completed(&self) -> bool {
        matches!(self, RunStatus::Completed)
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match self {
            RunStatus::Completed => "completed".to_string(),
            RunStatus::Panicked { message } => format!("panicked: {message}"),
            RunStatus::SimTimeExceeded { limit } => {
                format!("simulated time limit of {} s exceeded", limit.as_secs())
            }
            RunStatus::WallClockExceeded { limit } => {
                format!("wall-clock limit of {} s exceeded (hang)", limit.as_secs())
            }
        }
    }
}

/// What one run produced.
#[derive(Debug)]
pub struct RunOutcome<T> {
    pub seed: Seed,
    pub status: RunStatus,
    /// The scenario's result, when it completed.
    pub value: Option<T>,
    /// The trace hash at the end (or at the panic).
    pub trace_hash: TraceHash,
    /// Number of items fed into the trace.
    pub trace_items: u64,
    /// Simulated time when the run ended.
    pub sim_time: Duration,
    /// Wall time the run took.
    pub wall_time: Duration,
}

#[derive(Debug, Clone)]
struct PanicRecord {
    message: String,
    sim_time: Option<Duration>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records panics of run threads instead of printing them:
/// the outcome carries the message, with its source location.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let is_run_thread = std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with(RUN_THREAD_PREFIX));
            if !is_run_thread {
                previous(info);
                return;
            }
            let payload = if let Some(text) = info.payload().downcast_ref::<&str>() {
                text.to_string()
            } else if let Some(text) = info.payload().downcast_ref::<String>() {
                text.clone()
            } else {
                "panic with a non-string payload".to_string()
            };
            let message = match info.location() {
                Some(location) => format!("{payload} (at {}:{})", location.file(), location.line()),
                None => payload,
            };
            let sim_time = madsim::time::TimeHandle::try_current().map(|time| time.elapsed());
            LAST_PANIC.with(|last| {
                // Keep the first panic: later ones are usually consequences.
                let mut last = last.borrow_mut();
                if last.is_none() {
                    *last = Some(PanicRecord { message, sim_time });
                }
            });
        }));
    });
}

/// Runs `scenario` for one seed on a fresh thread with its own madsim runtime.
///
/// The scenario gets the [`World`] (nodes, disks, network faults, trace) and runs as madsim's
/// supervisor task. Whatever happens inside — a panic, a deadlock, a hang — comes back as a
/// [`RunOutcome`]; this function itself only panics if the OS cannot start a thread.
pub fn run<T, F, Fut>(seed: Seed, limits: RunLimits, scenario: F) -> RunOutcome<T>
where
    T: Send + 'static,
    F: FnOnce(World) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    install_panic_hook();
    let trace = Trace::new();
    let cancel = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::channel();
    let wall_start = Instant::now();

    let thread_trace = trace.clone();
    let thread_cancel = cancel.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("{RUN_THREAD_PREFIX}{seed}"))
        .stack_size(RUN_THREAD_STACK_BYTES)
        .spawn(move || {
            LAST_PANIC.with(|last| last.borrow_mut().take());
            let mut runtime =
                madsim::runtime::Runtime::with_seed_and_config(seed.value(), Default::default());
            runtime.set_time_limit(limits.sim_time);
            let world = World::new(seed, thread_trace);
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                runtime.block_on(async move {
                    let finished = Arc::new(AtomicBool::new(false));
                    let watchdog_finished = finished.clone();
                    madsim::task::spawn(async move {
                        while !watchdog_finished.load(Ordering::Relaxed) {
                            madsim::time::sleep(WATCHDOG_POLL_SIM).await;
                            if thread_cancel.load(Ordering::Relaxed) {
                                panic!("{WATCHDOG_MESSAGE}");
                            }
                        }
                    });
                    let value = scenario(world.clone()).await;
                    let sim_time = madsim::time::TimeHandle::current().elapsed();
                    // Free the run: stop every node and give the executor a moment to drop
                    // their tasks (the watchdog ends too).
                    finished.store(true, Ordering::Relaxed);
                    world.shutdown();
                    madsim::time::sleep(WATCHDOG_POLL_SIM * 2).await;
                    (value, sim_time)
                })
            }));
            let message = match result {
                Ok((value, sim_time)) => Ok((value, sim_time)),
                Err(payload) => {
                    let record = LAST_PANIC.with(|last| last.borrow_mut().take());
                    let record = record.unwrap_or_else(|| PanicRecord {
                        message: panic_payload_text(&*payload),
                        sim_time: None,
                    });
                    Err(record)
                }
            };
            // The receiver may have given up (watchdog); nothing to do then.
            let _ = sender.send(message);
            // Dropping the runtime drops every task of the run on this thread.
            drop(runtime);
        });
    let join_handle = spawned.expect("the OS refused to start a run thread");

    let received = match receiver.recv_timeout(limits.wall_clock) {
        Ok(received) => Some(received),
        Err(_) => {
            cancel.store(true, Ordering::Relaxed);
            receiver.recv_timeout(WATCHDOG_GRACE).ok()
        }
    };
    let wall_time = wall_start.elapsed();
    let hung = cancel.load(Ordering::Relaxed);

    let (status, value, sim_time) = match received {
        Some(Ok((value, sim_time))) => (RunStatus::Completed, Some(value), sim_time),
        Some(Err(record)) => {
            let status = if hung || record.message.contains(WATCHDOG_MESSAGE) {
                RunStatus::WallClockExceeded {
                    limit: limits.wall_clock,
                }
            } else if record.message.contains("time limit exceeded") {
                RunStatus::SimTimeExceeded {
                    limit: limits.sim_time,
                }
            } else {
                RunStatus::Panicked {
                    message: record.message,
                }
            };
            (status, None, record.sim_time.unwrap_or_default())
        }
        None => (
            RunStatus::WallClockExceeded {
                limit: limits.wall_clock,
            },
            None,
            Duration::ZERO,
        ),
    };
    if received_thread_finished(&status, hung) {
        let _ = join_handle.join();
    }
    // Otherwise the thread is stuck outside simulated time (an infinite loop in synchronous
    // code): it cannot be stopped from outside, so it is left behind, detached.

    RunOutcome {
        seed,
        status,
        value,
        trace_hash: trace.hash(),
        trace_items: trace.items(),
        sim_time,
        wall_time,
    }
}

fn received_thread_finished(status: &RunStatus, hung: bool) -> bool {
    !(hung && matches!(status, RunStatus::WallClockExceeded { .. }))
}

fn panic_payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RunLimits {
        RunLimits {
            sim_time: Duration::from_secs(60),
            wall_clock: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_completed_run_returns_its_value_and_sim_time() {
        let outcome = run(Seed::new(3), limits(), |_world| async {
            madsim::time::sleep(Duration::from_secs(2)).await;
            41 + 1
        });
        assert_eq!(outcome.status, RunStatus::Completed);
        assert_eq!(outcome.value, Some(42));
        assert!(outcome.sim_time >= Duration::from_secs(2));
    }

    #[test]
    fn a_panic_inside_the_simulation_becomes_a_failed_outcome_with_seed_and_message() {
        let outcome = run(Seed::new(99), limits(), |world| async move {
            let node = world.add_node("victim", |_context| async {
                madsim::time::sleep(Duration::from_secs(1)).await;
                panic!("invariant broken: high watermark above log end");
            });
            let _ = node;
            madsim::time::sleep(Duration::from_secs(10)).await;
        });
        assert_eq!(outcome.seed, Seed::new(99));
        match &outcome.status {
            RunStatus::Panicked { message } => {
                assert!(
                    message.contains("invariant broken: high watermark above log end"),
                    "{message}"
                );
                assert!(message.contains("runner.rs"), "{message}");
            }
            other => panic!("expected a panic outcome, got {other:?}"),
        }
        assert!(outcome.value.is_none());
        assert!(outcome.sim_time >= Duration::from_secs(1));
    }

    #[test]
    fn simulated_time_limit_is_an_outcome() {
        let outcome = run(
            Seed::new(1),
            RunLimits {
                sim_time: Duration::from_secs(5),
                wall_clock: Duration::from_secs(60),
            },
            |_world| async {
                madsim::time::sleep(Duration::from_secs(10)).await;
            },
        );
        assert_eq!(
            outcome.status,
            RunStatus::SimTimeExceeded {
                limit: Duration::from_secs(5)
            }
        );
    }

    #[test]
    fn a_deadlock_ends_at_the_simulated_time_limit() {
        // The in-run watchdog keeps a timer pending, so madsim's own "all tasks blocked" check
        // never fires; a deadlocked run ends at the simulated-time limit instead.
        let outcome = run(
            Seed::new(1),
            RunLimits {
                sim_time: Duration::from_secs(30),
                wall_clock: Duration::from_secs(60),
            },
            |_world| async {
                std::future::pending::<()>().await;
            },
        );
        assert_eq!(
            outcome.status,
            RunStatus::SimTimeExceeded {
                limit: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn a_hang_in_simulated_time_is_stopped_by_the_watchdog() {
        let outcome = run(
            Seed::new(5),
            RunLimits {
                sim_time: Duration::from_secs(u64::MAX / 4),
                wall_clock: Duration::from_millis(300),
            },
            |_world| async {
                // Spins forever in simulated time: a livelock.
                loop {
                    madsim::time::sleep(Duration::from_millis(1)).await;
                }
            },
        );
        assert!(matches!(
            outcome.status,
            RunStatus::WallClockExceeded { .. }
        ));
    }

    #[test]
    fn a_run_frees_its_nodes_when_it_ends() {
        // madsim keeps a node's pending tasks alive through its timers; the runner must stop
        // every node at the end, or each seed of a campaign would leak its whole state.
        let payload = Arc::new(());
        let held = payload.clone();
        let outcome = run(Seed::new(4), limits(), move |world| async move {
            for n in 0..3 {
                let held = held.clone();
                world.add_node(&format!("n{n}"), move |_context| {
                    let held = held.clone();
                    async move {
                        loop {
                            madsim::time::sleep(Duration::from_millis(10)).await;
                            std::hint::black_box(&held);
                        }
                    }
                });
            }
            madsim::time::sleep(Duration::from_secs(1)).await;
        });
        assert_eq!(outcome.status, RunStatus::Completed);
        // The node closures (in madsim's node table) are gone with the runtime; the tasks'
        // futures were dropped by the shutdown. Only our own reference remains.
        assert_eq!(Arc::strong_count(&payload), 1);
    }

    #[test]
    fn the_same_seed_gives_the_same_trace_on_any_thread() {
        let scenario = |world: World| async move {
            for round in 0..20u32 {
                let jitter: u64 = rand::Rng::gen_range(&mut world.stream("test"), 0..1000);
                madsim::time::sleep(Duration::from_micros(jitter)).await;
                world
                    .trace()
                    .feed(format!("round {round} {jitter}").as_bytes());
            }
        };
        let a = run(Seed::new(11), limits(), scenario);
        let b = run(Seed::new(11), limits(), scenario);
        let c = run(Seed::new(12), limits(), scenario);
        assert_eq!(a.trace_hash, b.trace_hash);
        assert_ne!(a.trace_hash, c.trace_hash);
    }
}
