//! Duplicate suppression for unsequenced packets: a 1024-group bitmap per peer.

use crate::constants::{FREE_UNSEQUENCED_WINDOWS, UNSEQUENCED_WINDOW_SIZE};

const WORDS: usize = UNSEQUENCED_WINDOW_SIZE as usize / 32;

/// The receiver's record of recent unsequenced groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnsequencedWindow {
    base: u16,
    seen: [u32; WORDS],
}

impl UnsequencedWindow {
    /// Records `group`; returns `false` if it must be discarded (a duplicate,
    /// or too far behind), exactly as ENet decides.
    pub(crate) fn accept(&mut self, group: u16) -> bool {
        let size = u32::from(UNSEQUENCED_WINDOW_SIZE);
        let index = u32::from(group) % size;
        let mut g = u32::from(group);
        if g < u32::from(self.base) {
            g += 0x10000;
        }
        if g >= u32::from(self.base) + u32::from(FREE_UNSEQUENCED_WINDOWS) * size {
            return false;
        }
        let g = (g & 0xFFFF) as u16;
        let word = (index / 32) as usize;
        let bit = 1u32 << (index % 32);
        if g - index as u16 != self.base {
            self.base = g - index as u16;
            self.seen = [0; WORDS];
        } else if self.seen[word] & bit != 0 {
            return false;
        }
        self.seen[word] |= bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_rejected() {
        let mut w = UnsequencedWindow::default();
        assert!(w.accept(1));
        assert!(!w.accept(1));
        assert!(w.accept(3));
        assert!(w.accept(2));
        assert!(!w.accept(3));
    }

    #[test]
    fn moving_to_a_new_block_forgets_the_old_one() {
        let mut w = UnsequencedWindow::default();
        assert!(w.accept(5));
        assert!(w.accept(1030));
        assert!(!w.accept(1030));
        assert!(!w.accept(6), "groups behind the current block are dropped");
        assert!(w.accept(2048 + 6), "a new block starts with a clear bitmap");
        assert!(!w.accept(2048 + 6));
    }

    #[test]
    fn groups_far_ahead_are_rejected_and_wrap_is_handled() {
        let mut w = UnsequencedWindow::default();
        assert!(!w.accept(32 * 1024));
        assert!(w.accept(32 * 1024 - 1));
        let mut w = UnsequencedWindow { base: 0xFC00, seen: [0; WORDS] };
        assert!(w.accept(0xFFFF));
        assert!(w.accept(3), "wraps into the next block");
        assert!(!w.accept(3));
    }
}
