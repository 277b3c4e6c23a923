//! The real clocks, read past madsim.
//!
//! Inside a simulation madsim replaces the C library's `clock_gettime` and `gettimeofday` (its
//! own `#[no_mangle]` definitions shadow libc's), so `std::time::Instant::now()` and
//! `SystemTime::now()` there return *simulated* time. These functions ask the kernel directly
//! with the `clock_gettime` system call (`libc::syscall(SYS_clock_gettime, ...)`), which no
//! symbol override can intercept: they return the real clocks inside a simulation and outside
//! one alike (the unit tests below check both). Linux only (the vDSO is bypassed: a system call
//! costs well under a microsecond, and the pacer makes one or two per simulated millisecond).

use std::time::Duration;

fn clock_gettime(clock: libc::clockid_t) -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel writes one `timespec` through the pointer, which is valid and
    // exclusive for the duration of the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            clock,
            &mut time as *mut libc::timespec,
        )
    };
    assert_eq!(result, 0, "clock_gettime({clock}) failed");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// The real monotonic clock (`CLOCK_MONOTONIC`), never simulated time.
pub fn monotonic() -> Duration {
    clock_gettime(libc::CLOCK_MONOTONIC)
}

/// The real wall clock (`CLOCK_REALTIME`): nanoseconds since the Unix epoch.
pub fn unix_ns() -> u64 {
    clock_gettime(libc::CLOCK_REALTIME).as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_simulation_the_raw_clocks_agree_with_std() {
        let std_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let raw_unix = unix_ns();
        assert!(raw_unix.abs_diff(std_unix) < 1_000_000_000);
        let before = monotonic();
        std::thread::sleep(Duration::from_millis(20));
        let after = monotonic();
        assert!(after - before >= Duration::from_millis(20));
    }

    #[test]
    fn inside_a_simulation_the_raw_clocks_are_real_and_std_is_simulated() {
        let runtime = madsim::runtime::Runtime::new();
        let (simulated, real, real_unix_step) = runtime.block_on(async {
            let std_before = std::time::Instant::now();
            let real_before = monotonic();
            let unix_before = unix_ns();
            // A simulated hour passes at once; a real 30 ms pass while simulated time stands.
            madsim::time::sleep(Duration::from_secs(3600)).await;
            std::thread::sleep(Duration::from_millis(30));
            (
                std::time::Instant::now() - std_before,
                monotonic() - real_before,
                unix_ns() - unix_before,
            )
        });
        assert!(simulated >= Duration::from_secs(3600), "{simulated:?}");
        assert!(simulated < Duration::from_secs(3601), "{simulated:?}");
        assert!(real >= Duration::from_millis(30), "{real:?}");
        assert!(real < Duration::from_secs(30), "{real:?}");
        assert!(real_unix_step >= 30_000_000, "{real_unix_step}");
        assert!(real_unix_step < 30_000_000_000, "{real_unix_step}");
    }
}
