//! Heap memory in use, as the C allocator counts it.

/// Bytes the process has allocated and not freed (`mallinfo2()`, glibc:
/// `uordblks` for the heap plus `hblkhd` for the large blocks it maps
/// apart): every live allocation of every thread, whatever the fragmentation.
pub fn heap_in_use() -> usize {
    allocated_bytes()
}

#[allow(unsafe_code)]
fn allocated_bytes() -> usize {
    // SAFETY: `mallinfo2` takes no arguments and only reads the allocator's
    // statistics into the returned struct.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

#[cfg(test)]
mod tests {
    use super::heap_in_use;

    #[test]
    fn an_allocation_shows_in_the_count() {
        let before = heap_in_use();
        let block = std::hint::black_box(vec![1_u8; 1 << 20]);
        assert!(heap_in_use() >= before + (1 << 20));
        drop(block);
    }
}
