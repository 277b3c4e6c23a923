//! Keeps simulated time from running ahead of the wall clock.
//!
//! madsim jumps simulated time straight to the next timer. The pacer runs inside the
//! simulation and, after every simulated step ([`STEP`]), blocks the simulation's thread
//! (`std::thread::sleep`: madsim does nothing meanwhile, and simulated time stands) until the
//! real clock has caught up with the simulated time since the pacer started. Everything else in
//! the simulation takes no simulated time, so simulated time then follows real time: it is
//! never ahead by more than one step, and behind only while the simulation cannot keep up
//! (a burst of work longer than the step), after which it runs unpaced until it has caught up.

use crate::clock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Simulated time between two pacing points.
pub const STEP: Duration = Duration::from_millis(1);

/// How far simulated time lagged the wall clock during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drift {
    /// Real time since the pacer started, at its last step.
    pub real: Duration,
    /// Simulated time since the pacer started, at its last step.
    pub simulated: Duration,
    /// The most simulated time was behind real time at any step (measured before blocking).
    pub max_lag: Duration,
    /// Steps taken, and steps at which the simulation was behind by more than one step.
    pub steps: u64,
    pub steps_behind: u64,
}

impl Drift {
    /// Simulated time behind real time at the last step (zero if ahead).
    pub fn lag(&self) -> Duration {
        self.real.saturating_sub(self.simulated)
    }
}

/// The pacer: create it inside the simulation, call [`Pacer::step`] after every simulated
/// [`STEP`]. [`Pacer::drift`] can be read from anywhere (also after the run).
#[derive(Debug, Clone)]
pub struct Pacer {
    real_start: Duration,
    sim_start: Duration,
    /// The wall clock (Unix-epoch nanoseconds) at simulated time 0 of the run.
    unix_ns_at_sim_zero: u64,
    drift: Arc<Mutex<Drift>>,
}

impl Pacer {
    /// Starts pacing now: the real clock and simulated time are taken as aligned at this moment.
    pub fn start() -> Pacer {
        let sim_start = sim::time::now();
        let real_start = clock::monotonic();
        let unix_now = clock::unix_ns();
        Pacer {
            real_start,
            sim_start,
            unix_ns_at_sim_zero: unix_now.saturating_sub(sim_start.as_nanos() as u64),
            drift: Arc::new(Mutex::new(Drift::default())),
        }
    }

    /// The wall clock at simulated time 0, in nanoseconds since the Unix epoch: a history
    /// `time` (simulated nanoseconds) plus this is the wall-clock time of the event.
    pub fn unix_ns_at_sim_zero(&self) -> u64 {
        self.unix_ns_at_sim_zero
    }

    /// Blocks until the real clock has caught up with simulated time.
    pub fn step(&self) {
        let simulated = sim::time::now().saturating_sub(self.sim_start);
        let mut real = clock::monotonic().saturating_sub(self.real_start);
        {
            let mut drift = self.drift.lock().unwrap_or_else(|p| p.into_inner());
            let lag = real.saturating_sub(simulated);
            drift.max_lag = drift.max_lag.max(lag);
            drift.steps += 1;
            if lag > STEP {
                drift.steps_behind += 1;
            }
        }
        while real < simulated {
            std::thread::sleep(simulated - real);
            real = clock::monotonic().saturating_sub(self.real_start);
        }
        let mut drift = self.drift.lock().unwrap_or_else(|p| p.into_inner());
        drift.real = real;
        drift.simulated = simulated;
    }

    pub fn drift(&self) -> Drift {
        *self.drift.lock().unwrap_or_else(|p| p.into_inner())
    }
}
