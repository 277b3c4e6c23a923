//! Simulated time, as the shells see it. Cores never call these: they get `now_ms` as an argument.

use std::time::Duration;

/// Simulated time since the start of the run.
pub fn now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

/// Simulated nanoseconds since the start of the run (the history's `time`).
pub fn now_ns() -> u64 {
    now().as_nanos() as u64
}

/// Simulated milliseconds since the start of the run.
pub fn now_ms() -> u64 {
    now().as_millis() as u64
}

pub async fn sleep(duration: Duration) {
    madsim::time::sleep(duration).await
}

pub async fn sleep_ms(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await
}
