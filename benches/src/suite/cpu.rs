//! CPU time of the calling thread.

use std::time::Duration;

/// CPU time the calling thread has used so far (user and system), from
/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`; zero if the clock is missing.
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    if read_thread_clock(&mut now) {
        let secs = u64::try_from(now.tv_sec).unwrap_or(0);
        let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
        Duration::new(secs, nanos)
    } else {
        Duration::ZERO
    }
}

#[allow(unsafe_code)]
fn read_thread_clock(now: &mut libc::timespec) -> bool {
    // SAFETY: `now` is a valid, exclusively borrowed timespec for the
    // kernel to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, now) == 0 }
}

#[cfg(test)]
mod tests {
    use super::thread_cpu_time;

    #[test]
    fn work_shows_in_the_thread_clock() {
        let before = thread_cpu_time();
        let mut x = 0_u64;
        for i in 0..5_000_000_u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_time() > before, "{x}");
    }
}
