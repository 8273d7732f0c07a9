//! Steady-state traffic allocates nothing: a counting global allocator
//! watches the engine while a warmed-up connection carries messages.
//!
//! Its own test binary, so the allocator hook sees nothing but this. Only the
//! test's own thread is counted. To find an allocation, run with
//! `VOLLEY_ALLOC_TRACE=1` (and `-- --nocapture`): every counted allocation
//! prints its backtrace.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use volley_bench::link::Link;
use volley_proto::{EndpointConfig, TransferMode};

thread_local! {
    /// Whether allocations on this thread are being counted.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Allocations (and reallocations) counted on this thread.
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations of an armed thread.
struct CountingAllocator;

fn count_one() {
    // `try_with`: the hook also runs while thread-locals are being torn down.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        COUNT.with(|c| c.set(c.get() + 1));
        // Disarmed while tracing: reading the variable and printing allocate.
        ARMED.with(|a| a.set(false));
        if std::env::var_os("VOLLEY_ALLOC_TRACE").is_some() {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
        ARMED.with(|a| a.set(true));
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, so the
// caller's guarantees are exactly those `System` needs; counting touches
// only const-initialised thread-locals, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made by `work` on this thread.
fn allocations(work: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    work();
    ARMED.with(|a| a.set(false));
    COUNT.with(Cell::get)
}

/// Traffic of the measured kinds: mode, message length, messages per batch.
/// The large ones are fragmented, reliably or not; all stay within the
/// 64 KiB up to which the engine keeps buffers for reuse.
const WORKLOAD: [(TransferMode, usize, u64); 7] = [
    (TransferMode::Reliable, 64, 500),
    (TransferMode::Reliable, 1200, 500),
    (TransferMode::UnreliableOrdered, 64, 500),
    (TransferMode::Unreliable, 64, 500),
    (TransferMode::Reliable, 32 * 1024, 4),
    (TransferMode::UnreliableOrdered, 4000, 20),
    (TransferMode::Unreliable, 4000, 20),
];

/// `batches` batches of every kind in [`WORKLOAD`], then 12 s idle so every
/// periodic timer (keep-alive, bandwidth, throttle, loss) fires.
fn run(link: &mut Link, batches: u64) {
    for (mode, len, count) in WORKLOAD {
        for _ in 0..batches {
            link.transfer(mode, len, count).unwrap_or_else(|e| panic!("{mode} {len} B: {e}"));
        }
    }
    link.idle(Duration::from_secs(12)).unwrap_or_else(|e| panic!("idle: {e}"));
}

/// Warms `link` up, then counts the allocations of the same traffic again.
fn steady_state_allocations(mut link: Link) -> u64 {
    let (warm_up, measured) = (10, 20);
    run(&mut link, warm_up);
    let count = allocations(|| run(&mut link, measured));
    let messages: u64 = WORKLOAD.iter().map(|(_, _, n)| n * (warm_up + measured)).sum();
    assert_eq!(link.delivered(), messages);
    count
}

#[test]
fn the_counter_sees_allocations() {
    let count = allocations(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8))));
    assert_eq!(count, 1);
}

#[test]
fn steady_state_traffic_allocates_nothing() {
    let link = Link::connected().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(steady_state_allocations(link), 0);
}

#[test]
fn steady_state_traffic_allocates_nothing_when_lent() {
    let mut link = Link::connected().unwrap_or_else(|e| panic!("{e}"));
    link.set_lending(true);
    assert_eq!(steady_state_allocations(link), 0);
}

#[test]
fn steady_state_traffic_allocates_nothing_under_bandwidth_limits() {
    // Limits far above the traffic: the bandwidth throttle runs every second
    // without holding anything back.
    let mut config = EndpointConfig::default();
    config.incoming_bandwidth(1 << 30).outgoing_bandwidth(1 << 30);
    let link = Link::with_configs(config.clone(), config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(steady_state_allocations(link), 0);
}

#[test]
fn oversized_packets_allocate_a_bounded_amount() {
    // Buffers over 64 KiB are not kept for reuse, so a 1 MiB packet costs one
    // allocation at the sender and, at the receiver, the reassembly's
    // doubling growth (it never trusts the announced total): about
    // log2(1 MiB / fragment) = 10 in all.
    let mut link = Link::connected().unwrap_or_else(|e| panic!("{e}"));
    let send = |link: &mut Link| {
        link.transfer(TransferMode::Reliable, 1 << 20, 1).unwrap_or_else(|e| panic!("{e}"));
    };
    (0..4).for_each(|_| send(&mut link));
    let count = allocations(|| (0..10).for_each(|_| send(&mut link)));
    assert!(count <= 10 * 12, "{count} allocations for 10 packets of 1 MiB");
}
