//! ENet's adaptive range coder, reproduced bit for bit.
//!
//! The model predicts each byte from the two bytes before it (order-2 PPM).
//! Every context is a binary search tree of the bytes seen after it, with a
//! count per byte and an escape count. A byte is coded in the longest context
//! that knows it; each context that does not know it codes an escape first
//! and learns it. The order-0 root context gives every byte value an implicit
//! count of one, so it can code anything. The end of the stream is never
//! coded: the decoder stops at the first escape from the root, which is what
//! the zero bits after the flushed final state decode to.
//!
//! All model state lives in a fixed pool of symbols that is rebuilt for every
//! datagram; when the pool runs low mid-datagram, the model restarts from an
//! empty root. Both directions must take every step in the same order, so the
//! arithmetic (including 16-bit wrap-arounds) follows ENet exactly.

use std::{fmt, slice};

use super::{Compressor, DecompressError};

/// Symbols in the pool; enough for one datagram at usual MTUs.
const POOL_SIZE: usize = 4096;
const _: () = assert!(POOL_SIZE.is_power_of_two(), "indices are masked with POOL_SIZE - 1");
/// Longest context, in bytes.
const MAX_ORDER: usize = 2;
/// A byte creates at most one symbol in each context (orders 0 to
/// [`MAX_ORDER`]), so the pool restarts once fewer slots than that remain.
const POOL_LIMIT: u16 = (POOL_SIZE - MAX_ORDER) as u16;

/// The range is renormalised once its top byte is settled...
const RANGE_TOP: u32 = 1 << 24;
/// ...or when it gets narrower than this.
const RANGE_BOTTOM: u32 = 1 << 16;
/// A context is rescaled when its total would leave too little precision.
const TOTAL_LIMIT: u16 = (RANGE_BOTTOM - 0x100) as u16;

/// The root (order-0) context is always the first symbol of the pool.
const ROOT: u16 = 0;
/// Escape count of a fresh root.
const ROOT_ESCAPES: u16 = 1;
/// Added to the escape count of a context each time it escapes.
const SUBCONTEXT_ESCAPE_DELTA: u16 = 5;

/// How a context adapts: the root differs from the higher orders.
#[derive(Clone, Copy)]
struct ContextKind {
    /// Count added to a symbol (and to the total) each time it is coded.
    update: u8,
    /// Implicit count of every byte value, coded or not.
    minimum: u16,
    /// Rescale after coding a symbol whose count exceeded this.
    count_limit: u16,
}

const ROOT_KIND: ContextKind = ContextKind { update: 3, minimum: 1, count_limit: 0xFF - 2 * 3 + 1 };

const SUBCONTEXT_KIND: ContextKind =
    ContextKind { update: 2, minimum: 0, count_limit: 0xFF - 2 * 2 };

/// A node of a context's tree, which is also the context that follows it.
///
/// Links are pool indices; index 0 is the root context, never a tree node,
/// so 0 doubles as "none".
#[derive(Clone, Copy, Default)]
struct Symbol {
    /// The byte this node stands for.
    value: u8,
    /// How often the byte was coded in its context (scaled).
    count: u8,
    /// `count` plus the counts of the left subtree.
    under: u16,
    /// Subtree of smaller byte values.
    left: u16,
    /// Subtree of larger byte values.
    right: u16,
    /// Root of the tree of bytes seen after this symbol, as a context.
    tree: u16,
    /// Escape count of this symbol as a context.
    escapes: u16,
    /// Sum of escapes, symbol counts and implicit counts of this context.
    total: u16,
    /// The same byte in the next shorter context.
    parent: u16,
}

/// A symbol located (or created) in a context, with its coding interval
/// `[under, under + count)`; a zero count in a subcontext means "escape".
struct Coded {
    symbol: u16,
    value: u8,
    under: u32,
    count: u32,
}

/// Where a new symbol hangs in a context's tree.
#[derive(Clone, Copy)]
enum Slot {
    /// As the first symbol of this context.
    Tree(u16),
    /// As the left child of this node.
    Left(u16),
    /// As the right child of this node.
    Right(u16),
}

type Pool = [Symbol; POOL_SIZE];

/// The symbol at `index`. Indices always stay below the pool size; masking
/// keeps the lookup free of bounds checks.
fn pool_get(symbols: &mut Pool, index: u16) -> &mut Symbol {
    &mut symbols[usize::from(index) & (POOL_SIZE - 1)]
}

/// The adaptive model: the symbol pool and its allocator.
struct Model {
    symbols: Box<Pool>,
    next_free: u16,
    /// Scratch for [`Model::rescale_tree`]: (node awaiting its left subtree's
    /// sum, sum of its spine so far). Never exceeds the pool size.
    rescale_stack: Vec<(u16, u16)>,
}

impl Model {
    fn new() -> Self {
        Self {
            symbols: Box::new([Symbol::default(); POOL_SIZE]),
            next_free: 0,
            rescale_stack: Vec::with_capacity(POOL_SIZE),
        }
    }

    /// Empties the pool and creates a fresh root context.
    fn reset(&mut self) {
        self.next_free = 0;
        let root = self.new_symbol(0, 0);
        debug_assert_eq!(root, ROOT);
        let root = self.get_mut(ROOT);
        root.escapes = ROOT_ESCAPES;
        root.total = ROOT_ESCAPES + 256 * ROOT_KIND.minimum;
    }

    fn is_nearly_full(&self) -> bool {
        self.next_free >= POOL_LIMIT
    }

    fn new_symbol(&mut self, value: u8, count: u8) -> u16 {
        let index = self.next_free;
        self.next_free += 1;
        *self.get_mut(index) =
            Symbol { value, count, under: u16::from(count), ..Symbol::default() };
        index
    }

    fn get(&self, index: u16) -> &Symbol {
        &self.symbols[usize::from(index) & (POOL_SIZE - 1)]
    }

    fn get_mut(&mut self, index: u16) -> &mut Symbol {
        pool_get(&mut self.symbols, index)
    }

    /// Creates a symbol and hangs it at `slot`.
    fn insert(&mut self, slot: Slot, value: u8, count: u8) -> u16 {
        let symbol = self.new_symbol(value, count);
        match slot {
            Slot::Tree(context) => self.get_mut(context).tree = symbol,
            Slot::Left(parent) => self.get_mut(parent).left = symbol,
            Slot::Right(parent) => self.get_mut(parent).right = symbol,
        }
        symbol
    }

    /// Finds `value` in `context`, or inserts it, and counts one occurrence.
    ///
    /// A freshly inserted symbol is returned with the implicit count only
    /// (zero in a subcontext, which means "escape").
    #[inline(always)]
    fn find_or_insert(&mut self, context: u16, value: u8, kind: ContextKind) -> Coded {
        let mut under = u16::from(value) * kind.minimum;
        // Walking a local borrow of the pool lets the optimiser keep its
        // address in a register.
        let symbols = &mut *self.symbols;
        let mut node = pool_get(symbols, context).tree;
        let slot = if node == 0 {
            Slot::Tree(context)
        } else {
            loop {
                let current = pool_get(symbols, node);
                if value < current.value {
                    current.under = current.under.wrapping_add(u16::from(kind.update));
                    if current.left == 0 {
                        break Slot::Left(node);
                    }
                    node = current.left;
                } else if value > current.value {
                    under = under.wrapping_add(current.under);
                    if current.right == 0 {
                        break Slot::Right(node);
                    }
                    node = current.right;
                } else {
                    let found = Coded {
                        symbol: node,
                        value,
                        under: u32::from(
                            under
                                .wrapping_add(current.under.wrapping_sub(u16::from(current.count))),
                        ),
                        count: u32::from(kind.minimum + u16::from(current.count)),
                    };
                    current.under = current.under.wrapping_add(u16::from(kind.update));
                    current.count = current.count.wrapping_add(kind.update);
                    return found;
                }
            }
        };
        let symbol = self.insert(slot, value, kind.update);
        Coded { symbol, value, under: u32::from(under), count: u32::from(kind.minimum) }
    }

    /// Finds the symbol of a subcontext whose interval holds `code` (escapes
    /// already subtracted) and counts one occurrence. `None` when the code
    /// falls outside every known symbol, which a genuine stream never does.
    fn find_in_subcontext(&mut self, context: u16, code: u16) -> Option<Coded> {
        let update = SUBCONTEXT_KIND.update;
        let symbols = &mut *self.symbols;
        let mut under: u16 = 0;
        let mut node = pool_get(symbols, context).tree;
        while node != 0 {
            let current = pool_get(symbols, node);
            let after = under.wrapping_add(current.under);
            let before = u16::from(current.count);
            if code >= after {
                under = after;
                node = current.right;
            } else if i32::from(code) < i32::from(after) - i32::from(before) {
                current.under = current.under.wrapping_add(u16::from(update));
                node = current.left;
            } else {
                let found = Coded {
                    symbol: node,
                    value: current.value,
                    under: u32::from(after.wrapping_sub(before)),
                    count: u32::from(before),
                };
                current.under = current.under.wrapping_add(u16::from(update));
                current.count = current.count.wrapping_add(update);
                return Some(found);
            }
        }
        None
    }

    /// Finds the root symbol whose interval holds `code` (escapes already
    /// subtracted), creating it when `code` lands on a byte never seen, and
    /// counts one occurrence.
    ///
    /// Every byte value owns one implicit unit of the root's range, so a
    /// never-seen byte is identified by where the code falls between the
    /// known ones. Garbage codes can point past 255; the byte value then
    /// wraps, exactly as ENet's 8-bit arithmetic does.
    fn find_in_root(&mut self, code: u16) -> Coded {
        let update = ROOT_KIND.update;
        let minimum = ROOT_KIND.minimum;
        let symbols = &mut *self.symbols;
        let mut under: u16 = 0;
        let mut node = pool_get(symbols, ROOT).tree;
        // Truncations to a byte mirror ENet's 8-bit value.
        let (slot, value) = if node == 0 {
            (Slot::Tree(ROOT), code as u8)
        } else {
            loop {
                let current = pool_get(symbols, node);
                let after =
                    under.wrapping_add(current.under).wrapping_add(u16::from(current.value) + 1);
                let before = u16::from(current.count) + minimum;
                let below = i32::from(after) - i32::from(before);
                if code >= after {
                    under = under.wrapping_add(current.under);
                    if current.right == 0 {
                        let skipped = u32::from(code - after);
                        break (Slot::Right(node), (u32::from(current.value) + 1 + skipped) as u8);
                    }
                    node = current.right;
                } else if i32::from(code) < below {
                    current.under = current.under.wrapping_add(u16::from(update));
                    if current.left == 0 {
                        let skipped = below - i32::from(code) - 1;
                        break (Slot::Left(node), (i32::from(current.value) - 1 - skipped) as u8);
                    }
                    node = current.left;
                } else {
                    let found = Coded {
                        symbol: node,
                        value: current.value,
                        under: u32::from(below as u16),
                        count: u32::from(before),
                    };
                    current.under = current.under.wrapping_add(u16::from(update));
                    current.count = current.count.wrapping_add(update);
                    return found;
                }
            }
        };
        let symbol = self.insert(slot, value, update);
        Coded { symbol, value, under: u32::from(code), count: u32::from(minimum) }
    }

    /// Records that `context` escaped: it gets likelier to escape again.
    fn count_escape(&mut self, context: u16) {
        let context = self.get_mut(context);
        context.escapes = context.escapes.wrapping_add(SUBCONTEXT_ESCAPE_DELTA);
        context.total = context.total.wrapping_add(SUBCONTEXT_ESCAPE_DELTA);
    }

    /// Adds the coded symbol's update to the context total, halving all
    /// counts when a count or the total grows too large.
    fn count_symbol(&mut self, context: u16, coded_count: u32, kind: ContextKind) {
        let ctx = self.get_mut(context);
        ctx.total = ctx.total.wrapping_add(u16::from(kind.update));
        if coded_count > u32::from(kind.count_limit) || ctx.total > TOTAL_LIMIT {
            self.rescale(context, kind);
        }
    }

    #[cold]
    #[inline(never)]
    fn rescale(&mut self, context: u16, kind: ContextKind) {
        let tree = self.get(context).tree;
        let symbols_total = if tree == 0 { 0 } else { self.rescale_tree(tree) };
        let ctx = self.get_mut(context);
        ctx.escapes -= ctx.escapes >> 1;
        ctx.total = symbols_total.wrapping_add(ctx.escapes).wrapping_add(256 * kind.minimum);
    }

    /// Halves (rounding up) every count of the tree at `root`, fixes the
    /// `under` sums and returns the new sum of the counts.
    ///
    /// Walks each right spine in a loop and defers a node while its left
    /// subtree is summed, on an explicit stack: trees built from garbage
    /// input can be thousands of nodes deep.
    fn rescale_tree(&mut self, root: u16) -> u16 {
        self.rescale_stack.clear();
        let mut node = root;
        let mut spine_sum: u16 = 0;
        'descend: loop {
            let current = self.get_mut(node);
            current.count -= current.count >> 1;
            current.under = u16::from(current.count);
            if current.left != 0 {
                let left = current.left;
                self.rescale_stack.push((node, spine_sum));
                node = left;
                spine_sum = 0;
                continue;
            }
            // `node` is complete: add it to its spine, move along the spine,
            // and finish the deferred nodes whose left subtree just ended.
            loop {
                let current = self.get(node);
                spine_sum = spine_sum.wrapping_add(current.under);
                if current.right != 0 {
                    node = current.right;
                    continue 'descend;
                }
                let Some((deferred, outer_sum)) = self.rescale_stack.pop() else {
                    return spine_sum;
                };
                let deferred_node = self.get_mut(deferred);
                deferred_node.under = deferred_node.under.wrapping_add(spine_sum);
                node = deferred;
                spine_sum = outer_sum;
            }
        }
    }

    /// Appends `symbol` to the chain of contexts being linked for one byte:
    /// the first symbol becomes the next byte's context, each later one the
    /// parent of the one before.
    fn link(&mut self, last: &mut Option<u16>, predicted: &mut u16, symbol: u16) {
        match *last {
            None => *predicted = symbol,
            Some(previous) => self.get_mut(previous).parent = symbol,
        }
        *last = Some(symbol);
    }

    /// The context for the byte after next: keep at most [`MAX_ORDER`] bytes
    /// of history by dropping to the symbol's parent once the order is full.
    fn advance(&mut self, predicted: &mut u16, order: &mut usize) {
        if *order >= MAX_ORDER {
            *predicted = self.get(*predicted).parent;
        } else {
            *order += 1;
        }
        if self.is_nearly_full() {
            self.reset();
            *predicted = ROOT;
            *order = 0;
        }
    }
}

/// The encoding half of the range coder, writing into a bounded buffer.
struct RangeEncoder<'a> {
    low: u32,
    range: u32,
    capacity: usize,
    unwritten: slice::IterMut<'a, u8>,
}

impl<'a> RangeEncoder<'a> {
    fn new(output: &'a mut [u8]) -> Self {
        Self { low: 0, range: u32::MAX, capacity: output.len(), unwritten: output.iter_mut() }
    }

    /// Appends a byte; `None` when the output is full.
    fn emit(&mut self, byte: u8) -> Option<()> {
        *self.unwritten.next()? = byte;
        Some(())
    }

    /// Narrows the range to `[under, under + count)` out of `total`.
    fn encode(&mut self, under: u32, count: u32, total: u16) -> Option<()> {
        self.range /= u32::from(total);
        self.low = self.low.wrapping_add(under.wrapping_mul(self.range));
        self.range = self.range.wrapping_mul(count);
        loop {
            if self.low ^ self.low.wrapping_add(self.range) >= RANGE_TOP {
                if self.range >= RANGE_BOTTOM {
                    return Some(());
                }
                // Carry-less: give up the part of the range that would carry
                // into bytes already written.
                self.range = self.low.wrapping_neg() & (RANGE_BOTTOM - 1);
            }
            self.emit((self.low >> 24) as u8)?;
            self.range <<= 8;
            self.low <<= 8;
        }
    }

    /// Writes the significant bytes of the final state; the decoder reads
    /// zeros past the end, so trailing zero bytes are left out.
    fn finish(mut self) -> Option<usize> {
        while self.low != 0 {
            self.emit((self.low >> 24) as u8)?;
            self.low <<= 8;
        }
        Some(self.capacity - self.unwritten.len())
    }
}

/// The decoding half of the range coder; reads zeros past the input's end.
struct RangeDecoder<'a> {
    low: u32,
    range: u32,
    code: u32,
    unread: slice::Iter<'a, u8>,
}

impl<'a> RangeDecoder<'a> {
    fn new(input: &'a [u8]) -> Self {
        let mut decoder = Self { low: 0, range: u32::MAX, code: 0, unread: input.iter() };
        for _ in 0..4 {
            decoder.code = (decoder.code << 8) | decoder.next_byte();
        }
        decoder
    }

    fn next_byte(&mut self) -> u32 {
        self.unread.next().map_or(0, |&byte| u32::from(byte))
    }

    /// Scales the range to `total` and returns where the code falls in it,
    /// counted past the context's `escapes`; `None` when it falls among them
    /// (an escape). Must be followed by [`decode`](Self::decode).
    fn read(&mut self, total: u16, escapes: u16) -> Option<u16> {
        self.range /= u32::from(total);
        let offset = self.code.wrapping_sub(self.low);
        // Escapes are frequent in short datagrams; a multiplication spots
        // them without a second division. `escapes < total`, so it fits.
        if offset < u32::from(escapes) * self.range {
            return None;
        }
        // Garbage can put the code past `total`; ENet keeps the low 16 bits,
        // which may land among the escapes after all.
        let code = (offset / self.range) as u16;
        code.checked_sub(escapes)
    }

    /// Consumes the interval `[under, under + count)` chosen after
    /// [`read`](Self::read).
    ///
    /// The loop ends within eight rounds on any input: each round shifts
    /// `low` left by a byte, and once `low` is zero the range (never zero)
    /// only widens until it reaches [`RANGE_TOP`].
    fn decode(&mut self, under: u32, count: u32) {
        self.low = self.low.wrapping_add(under.wrapping_mul(self.range));
        self.range = self.range.wrapping_mul(count);
        loop {
            if self.low ^ self.low.wrapping_add(self.range) >= RANGE_TOP {
                if self.range >= RANGE_BOTTOM {
                    return;
                }
                self.range = self.low.wrapping_neg() & (RANGE_BOTTOM - 1);
            }
            self.code = (self.code << 8) | self.next_byte();
            self.range <<= 8;
            self.low <<= 8;
        }
    }
}

/// ENet's built-in compressor (`enet_host_compress_with_range_coder`): an
/// adaptive order-2 context model driving a range coder.
///
/// Output is byte-for-byte what ENet 1.3 produces for the same body, and
/// either side decodes the other's. Each call starts from an empty model, so
/// datagrams can be lost or reordered freely. The coder owns its working
/// memory (about 80 KiB), allocated once in [`new`](Self::new) and reused by
/// every call.
///
/// # Example
///
/// ```
/// use volley_proto::compress::{Compressor, RangeCoder};
///
/// let mut coder = RangeCoder::new();
/// let body = b"position 10.5 20.25; position 10.5 20.5; position 10.75 20.5";
/// let mut packed = vec![0; body.len()];
/// // Only worth sending when strictly smaller than the original.
/// if let Some(len) = coder.compress(body, &mut packed) {
///     let mut unpacked = vec![0; 4096];
///     let unpacked_len = coder.decompress(&packed[..len], &mut unpacked)?;
///     assert_eq!(&unpacked[..unpacked_len], &body[..]);
/// }
/// # Ok::<(), volley_proto::compress::DecompressError>(())
/// ```
pub struct RangeCoder {
    model: Model,
}

impl RangeCoder {
    /// Creates a coder, allocating its symbol pool.
    pub fn new() -> Self {
        Self { model: Model::new() }
    }
}

impl Default for RangeCoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RangeCoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeCoder").finish_non_exhaustive()
    }
}

impl Compressor for RangeCoder {
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Option<usize> {
        if input.is_empty() {
            return None;
        }
        let model = &mut self.model;
        model.reset();
        let mut encoder = RangeEncoder::new(output);
        let mut predicted = ROOT;
        let mut order = 0;

        for &value in input {
            let mut last = None;
            let mut context = predicted;
            let mut known = false;
            while context != ROOT {
                let coded = model.find_or_insert(context, value, SUBCONTEXT_KIND);
                model.link(&mut last, &mut predicted, coded.symbol);
                let &Symbol { escapes, total, .. } = model.get(context);
                if coded.count > 0 {
                    encoder.encode(u32::from(escapes) + coded.under, coded.count, total)?;
                } else {
                    // A context that never escaped before codes its first
                    // escape for free: the decoder knows it has no symbols.
                    if escapes > 0 && escapes < total {
                        encoder.encode(0, u32::from(escapes), total)?;
                    }
                    model.count_escape(context);
                }
                model.count_symbol(context, coded.count, SUBCONTEXT_KIND);
                if coded.count > 0 {
                    known = true;
                    break;
                }
                context = model.get(context).parent;
            }

            if !known {
                let coded = model.find_or_insert(ROOT, value, ROOT_KIND);
                model.link(&mut last, &mut predicted, coded.symbol);
                let &Symbol { escapes, total, .. } = model.get(ROOT);
                encoder.encode(u32::from(escapes) + coded.under, coded.count, total)?;
                model.count_symbol(ROOT, coded.count, ROOT_KIND);
            }

            model.advance(&mut predicted, &mut order);
        }

        encoder.finish()
    }

    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize, DecompressError> {
        if input.is_empty() {
            return Err(DecompressError::EmptyInput);
        }
        let model = &mut self.model;
        model.reset();
        let mut decoder = RangeDecoder::new(input);
        let mut predicted = ROOT;
        let mut order = 0;
        let mut written = 0;

        loop {
            // Escape down from the longest context until one knows the byte.
            let mut context = predicted;
            let mut found = None;
            while context != ROOT {
                let &Symbol { escapes, total, parent, .. } = model.get(context);
                if escapes == 0 || escapes >= total {
                    context = parent;
                    continue;
                }
                let Some(code) = decoder.read(total, escapes) else {
                    decoder.decode(0, u32::from(escapes));
                    context = parent;
                    continue;
                };
                let coded =
                    model.find_in_subcontext(context, code).ok_or(DecompressError::Malformed)?;
                decoder.decode(u32::from(escapes) + coded.under, coded.count);
                model.count_symbol(context, coded.count, SUBCONTEXT_KIND);
                found = Some((coded.symbol, coded.value));
                break;
            }

            let (bottom, value) = match found {
                Some(found) => found,
                None => {
                    let &Symbol { escapes, total, .. } = model.get(ROOT);
                    let Some(code) = decoder.read(total, escapes) else {
                        // An escape from the root ends the stream.
                        break;
                    };
                    let coded = model.find_in_root(code);
                    decoder.decode(u32::from(escapes) + coded.under, coded.count);
                    model.count_symbol(ROOT, coded.count, ROOT_KIND);
                    (coded.symbol, coded.value)
                }
            };

            // Teach the byte to every context that escaped, as the encoder did.
            let mut last = None;
            let mut escaped = predicted;
            while escaped != context {
                let coded = model.find_or_insert(escaped, value, SUBCONTEXT_KIND);
                model.link(&mut last, &mut predicted, coded.symbol);
                if coded.count == 0 {
                    model.count_escape(escaped);
                }
                model.count_symbol(escaped, coded.count, SUBCONTEXT_KIND);
                escaped = model.get(escaped).parent;
            }
            model.link(&mut last, &mut predicted, bottom);

            *output.get_mut(written).ok_or(DecompressError::OutputOverflow)? = value;
            written += 1;

            model.advance(&mut predicted, &mut order);
        }

        if written == 0 {
            return Err(DecompressError::EmptyOutput);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn a_single_zero_byte_codes_as_computed_by_hand() {
        // Fresh root: escapes 1, total 257, byte 0 sits right after the
        // escape. range = 0xFFFF_FFFF / 257 = 0x00FF_00FF and low = 1 * range;
        // no byte is settled yet, so the flush writes low's four bytes.
        let mut coder = RangeCoder::new();
        let mut out = [0; 8];
        assert_eq!(coder.compress(&[0], &mut out), Some(4));
        assert_eq!(out[..4], [0x00, 0xff, 0x00, 0xff]);
        assert_eq!(coder.compress(&[0], &mut out[..3]), None);
    }

    #[test]
    fn a_stream_starting_with_a_root_escape_is_empty() {
        let mut coder = RangeCoder::new();
        let mut out = [0; 8];
        assert_eq!(coder.decompress(&[0], &mut out), Err(DecompressError::EmptyOutput));
    }

    /// The rescale as a plain recursion over left subtrees.
    fn rescale_recursively(symbols: &mut [Symbol], mut node: u16) -> u16 {
        let mut total: u16 = 0;
        loop {
            let current = &mut symbols[usize::from(node)];
            current.count -= current.count >> 1;
            current.under = u16::from(current.count);
            let (left, right) = (current.left, current.right);
            if left != 0 {
                let left_sum = rescale_recursively(symbols, left);
                symbols[usize::from(node)].under += left_sum;
            }
            total += symbols[usize::from(node)].under;
            if right == 0 {
                return total;
            }
            node = right;
        }
    }

    fn assert_rescale_matches_recursion(model: &mut Model, context: u16) {
        let mut expected = model.symbols.clone();
        let tree = model.get(context).tree;
        let expected_total = rescale_recursively(&mut expected[..], tree);
        assert_eq!(model.rescale_tree(tree), expected_total);
        for (index, (got, want)) in model.symbols.iter().zip(expected.iter()).enumerate() {
            assert_eq!((got.count, got.under), (want.count, want.under), "symbol {index}");
        }
    }

    #[test]
    fn rescaling_random_trees_matches_the_recursive_definition() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut model = Model::new();
        for _ in 0..200 {
            model.reset();
            let context = model.new_symbol(0, 0);
            for _ in 0..rng.random_range(1..600) {
                model.find_or_insert(context, rng.random(), SUBCONTEXT_KIND);
            }
            assert_rescale_matches_recursion(&mut model, context);
        }
    }

    #[test]
    fn rescaling_a_tree_as_deep_as_the_pool_needs_no_recursion() {
        // Garbage input can chain nodes far deeper than 256 byte values.
        let mut model = Model::new();
        model.reset();
        let context = model.new_symbol(0, 0);
        let mut parent = model.new_symbol(200, 9);
        model.get_mut(context).tree = parent;
        while !model.is_nearly_full() {
            let child = model.new_symbol(100, 5);
            if child.is_multiple_of(3) {
                model.get_mut(parent).right = child;
            } else {
                model.get_mut(parent).left = child;
            }
            parent = child;
        }
        assert_rescale_matches_recursion(&mut model, context);
    }
}
