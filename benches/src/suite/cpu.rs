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

/// The calling thread's CPU-time clock, which another thread can read with
/// [`cpu_time_of`] (`pthread_getcpuclockid`); `None` if there is none.
pub fn thread_cpu_clock() -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    own_cpu_clock(&mut clock).then_some(clock)
}

/// CPU time used so far by the thread whose clock [`thread_cpu_clock`] gave
/// (zero if the clock cannot be read, the thread having ended say).
pub fn cpu_time_of(clock: libc::clockid_t) -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    if read_clock(clock, &mut now) {
        let secs = u64::try_from(now.tv_sec).unwrap_or(0);
        let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
        Duration::new(secs, nanos)
    } else {
        Duration::ZERO
    }
}

#[allow(unsafe_code)]
fn own_cpu_clock(clock: &mut libc::clockid_t) -> bool {
    // SAFETY: `pthread_self` is always valid for the calling thread, and
    // `clock` is a valid, exclusively borrowed clockid_t to fill.
    unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), clock) == 0 }
}

#[allow(unsafe_code)]
fn read_clock(clock: libc::clockid_t, now: &mut libc::timespec) -> bool {
    // SAFETY: `now` is a valid, exclusively borrowed timespec; an invalid
    // clock id only makes the call fail.
    unsafe { libc::clock_gettime(clock, now) == 0 }
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
    fn another_thread_reads_a_threads_clock() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            tx.send(super::thread_cpu_clock()).unwrap();
            let mut x = 0_u64;
            for i in 0..5_000_000_u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            done_rx.recv().unwrap();
            x
        });
        let clock = rx.recv().unwrap().expect("a CPU clock");
        while super::cpu_time_of(clock).is_zero() {
            std::thread::yield_now();
        }
        done_tx.send(()).unwrap();
        worker.join().unwrap();
    }

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
