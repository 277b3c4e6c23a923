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

/// The simulated clock's current instant (madsim's clock: never the wall clock).
pub fn instant() -> madsim::time::Instant {
    madsim::time::TimeHandle::current().now_instant()
}

/// The simulated instant `since_start` after the start of the run.
pub fn instant_at(since_start: Duration) -> madsim::time::Instant {
    let handle = madsim::time::TimeHandle::current();
    handle.now_instant() - handle.elapsed() + since_start
}

/// A shell's wake-up timer, reused across the iterations of its `select!` loop.
///
/// madsim's `Sleep` registers a new timer each time it is polled while pending and never
/// cancels one, so a loop that polls a sleep on every message leaves one stale timer per
/// message, each of which wakes the task again later. A `Timer` registers once per deadline:
/// polling it again for the same deadline costs nothing. It must be polled from one task only
/// (the waker registered first is the one woken).
pub struct Timer {
    sleep: std::pin::Pin<Box<madsim::time::Sleep>>,
    registered: bool,
}

impl Timer {
    /// A timer that fires at `deadline`.
    pub fn at(deadline: madsim::time::Instant) -> Timer {
        Timer {
            sleep: Box::pin(madsim::time::sleep_until(deadline)),
            registered: false,
        }
    }

    pub fn deadline(&self) -> madsim::time::Instant {
        self.sleep.deadline()
    }

    /// Moves the deadline (a no-op when it is unchanged). A deadline that is not in the future
    /// becomes 1 ms from now, as madsim's and tokio's `sleep_until` make it: a loop that keeps
    /// asking for "now" must still let simulated time move.
    pub fn reset(&mut self, deadline: madsim::time::Instant) {
        self.reset_at(deadline, instant());
    }

    /// [`Timer::reset`] with the current instant given.
    pub fn reset_at(&mut self, deadline: madsim::time::Instant, now: madsim::time::Instant) {
        let deadline = if deadline <= now {
            now + Duration::from_millis(1)
        } else {
            deadline
        };
        if deadline != self.sleep.deadline() {
            self.sleep.as_mut().reset(deadline);
            self.registered = false;
        }
    }
}

impl std::future::Future for Timer {
    type Output = ();

    /// Ready once the deadline has passed (and again on every poll until it is reset).
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.sleep.is_elapsed() {
            return std::task::Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            return self.sleep.as_mut().poll(cx);
        }
        std::task::Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run, RunLimits, Seed, World};

    #[test]
    fn a_timer_fires_at_its_deadline_and_moves_with_reset() {
        let outcome = run(Seed::new(1), RunLimits::default(), |_world: World| async {
            let mut timer = Timer::at(instant_at(Duration::from_millis(30)));
            timer.reset(instant_at(Duration::from_millis(50)));
            (&mut timer).await;
            let first = now_ms();
            timer.reset(instant_at(Duration::from_millis(20)));
            (&mut timer).await;
            (first, now_ms())
        });
        // A deadline already past becomes 1 ms from now.
        assert_eq!(outcome.value, Some((50, 51)));
    }

    #[test]
    fn a_loop_that_resets_to_now_still_lets_time_move() {
        let outcome = run(Seed::new(1), RunLimits::default(), |_world: World| async {
            let mut timer = Timer::at(instant_at(Duration::ZERO));
            let mut fired = 0;
            while now_ms() < 100 {
                (&mut timer).await;
                fired += 1;
                timer.reset(instant());
            }
            fired
        });
        assert_eq!(outcome.value, Some(100));
    }
}
