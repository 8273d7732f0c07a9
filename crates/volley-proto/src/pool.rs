//! A free list of byte buffers, so that steady-state traffic allocates nothing.
//!
//! Buffers are kept in three classes by capacity: tiny ones (up to
//! [`TINY_CAPACITY`], a typical game message), small ones (up to
//! [`SMALL_CAPACITY`], what one datagram's payload needs) and large ones.
//! Data only ever gets a buffer of its own class, so a few bytes never pin
//! a 64 KiB allocation (what a peer is charged for holding stays close to
//! what it really holds), and the large class is bounded in bytes, so the
//! memory kept for reuse after a burst is bounded too.

/// Largest capacity of the tiny class.
pub(crate) const TINY_CAPACITY: usize = 256;
/// Largest capacity of the small class: a datagram's payload at the largest MTU.
pub(crate) const SMALL_CAPACITY: usize = 4096;

/// Reusable `Vec<u8>`s. Buffers come back cleared.
#[derive(Debug)]
pub(crate) struct BufferPool {
    tiny: Vec<Vec<u8>>,
    small: Vec<Vec<u8>>,
    large: Vec<Vec<u8>>,
    max_small: usize,
    max_large_bytes: usize,
    large_bytes: usize,
    max_capacity: usize,
}

impl BufferPool {
    /// A pool keeping up to `max_small` tiny and as many small buffers,
    /// and large ones of up to `max_capacity` bytes each, `max_large_bytes`
    /// of them in all.
    pub(crate) fn new(max_small: usize, max_large_bytes: usize, max_capacity: usize) -> Self {
        Self {
            tiny: Vec::new(),
            small: Vec::new(),
            large: Vec::new(),
            max_small,
            max_large_bytes,
            large_bytes: 0,
            max_capacity,
        }
    }

    /// An empty buffer for about `len` bytes, reused when one of its class is free.
    #[inline]
    pub(crate) fn take_for(&mut self, len: usize) -> Vec<u8> {
        let list = if len <= TINY_CAPACITY {
            &mut self.tiny
        } else if len <= SMALL_CAPACITY {
            &mut self.small
        } else {
            return self.take_large();
        };
        list.pop().unwrap_or_default()
    }

    fn take_large(&mut self) -> Vec<u8> {
        let buf = self.large.pop().unwrap_or_default();
        self.large_bytes -= buf.capacity();
        buf
    }

    /// A buffer holding a copy of `data`.
    #[inline]
    pub(crate) fn copy_of(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = self.take_for(data.len());
        buf.extend_from_slice(data);
        buf
    }

    /// Returns a buffer for reuse (large or surplus ones are freed).
    #[inline]
    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        let capacity = buf.capacity();
        let list = if capacity <= TINY_CAPACITY {
            &mut self.tiny
        } else if capacity <= SMALL_CAPACITY {
            &mut self.small
        } else {
            return self.give_large(buf);
        };
        if capacity != 0 && list.len() < self.max_small {
            buf.clear();
            list.push(buf);
        }
    }

    fn give_large(&mut self, mut buf: Vec<u8>) {
        let capacity = buf.capacity();
        if capacity <= self.max_capacity && self.large_bytes + capacity <= self.max_large_bytes {
            buf.clear();
            self.large_bytes += capacity;
            self.large.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_up_to_the_limits() {
        let mut pool = BufferPool::new(1, 64 * 1024, 64 * 1024);
        let a = pool.copy_of(b"hello");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take_for(5);
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "same allocation");
        pool.give(vec![0; 100 * 1024]);
        assert!(pool.take_for(10_000).capacity() < 100 * 1024, "oversized buffers are not kept");
    }

    #[test]
    fn small_data_never_gets_a_large_buffer() {
        let mut pool = BufferPool::new(8, 1 << 20, 64 * 1024);
        pool.give(Vec::with_capacity(64 * 1024));
        pool.give(Vec::with_capacity(SMALL_CAPACITY));
        assert!(pool.copy_of(b"x").capacity() <= TINY_CAPACITY);
        assert_eq!(pool.copy_of(&[0; 1000]).capacity(), SMALL_CAPACITY);
        assert_eq!(pool.take_for(10_000).capacity(), 64 * 1024, "large data reuses it");
    }

    #[test]
    fn the_large_class_is_bounded_in_bytes() {
        let mut pool = BufferPool::new(8, 100_000, 64 * 1024);
        for _ in 0..10 {
            pool.give(Vec::with_capacity(40_000));
        }
        assert_eq!(pool.large.len(), 2, "80 000 bytes kept, not 400 000");
        let _ = pool.take_for(10_000);
        assert_eq!(pool.large_bytes, 40_000);
    }
}
