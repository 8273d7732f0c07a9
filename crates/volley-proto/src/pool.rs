//! A free list of byte buffers, so that steady-state traffic allocates nothing.

/// Reusable `Vec<u8>`s. Buffers come back cleared; at most `max_kept` are kept.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
    max_kept: usize,
    max_capacity: usize,
}

impl BufferPool {
    /// A pool keeping up to `max_kept` buffers of up to `max_capacity` bytes each.
    pub(crate) fn new(max_kept: usize, max_capacity: usize) -> Self {
        Self { free: Vec::new(), max_kept, max_capacity }
    }

    /// An empty buffer, reused when one is free.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_default()
    }

    /// A buffer holding a copy of `data`.
    pub(crate) fn copy_of(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = self.take();
        buf.extend_from_slice(data);
        buf
    }

    /// Returns a buffer for reuse (large or surplus ones are freed).
    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < self.max_kept && buf.capacity() <= self.max_capacity {
            buf.clear();
            self.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_up_to_the_limits() {
        let mut pool = BufferPool::new(1, 64);
        let a = pool.copy_of(b"hello");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "same allocation");
        pool.give(vec![0; 1000]);
        assert!(pool.take().capacity() < 1000, "oversized buffers are not kept");
    }
}
