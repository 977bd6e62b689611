//! A socket's receive stream in the host (docs/zero-copy.md): TCP says where each received
//! segment's bytes go (an offset in the stream), the host puts them there, and a read takes
//! the readable ones from the front. Out-of-order bytes are put beyond what is readable, where
//! they belong; TCP counts them readable once the hole before them is filled.

/// Bytes of a stream from offset `start` (the next to read) on, in a ring: byte `o` is at
/// `(o - base) % len` of the buffer, whose length is a power of two (or zero before the first
/// put).
///
/// Whenever a read empties the ring, `base` moves to the read position, so the next bytes go
/// to the buffer's front again: a reader that keeps up touches the same few cache-warm
/// kilobytes instead of walking the whole ring (as big as the window) and missing the cache
/// on every line it writes.
#[derive(Debug, Default)]
pub(crate) struct RecvRing {
    start: u64,
    /// The offset at the buffer's front (with the seam).
    base: u64,
    /// One past the farthest byte ever put: the ring is empty when `start` reaches it.
    end: u64,
    buf: Vec<u8>,
}

/// The smallest ring: what a few segments need.
const MIN_RING: usize = 64 * 1024;

impl RecvRing {
    /// Puts `data` at `offset`. Bytes before the read position are stale (already read) and
    /// skipped; the ring grows to reach the rest.
    pub(crate) fn put(&mut self, offset: u64, data: &[u8]) {
        let skip = self.start.saturating_sub(offset).min(data.len() as u64) as usize;
        let (offset, data) = (offset + skip as u64, &data[skip..]);
        if data.is_empty() {
            return;
        }
        let reach = (offset - self.start) as usize + data.len();
        if reach > self.buf.len() {
            self.grow(reach);
        }
        self.write(offset, data);
        self.end = self.end.max(offset + data.len() as u64);
    }

    /// Copies `data` to its place, in two pieces where it crosses the seam.
    fn write(&mut self, offset: u64, data: &[u8]) {
        let at = self.index(offset);
        let first = data.len().min(self.buf.len() - at);
        self.buf[at..at + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Appends the `n` bytes from the read position to `out`, and moves past them.
    ///
    /// # Panics
    /// If `n` is more than the ring holds (TCP counted bytes it never placed).
    #[cfg(test)]
    pub(crate) fn take(&mut self, n: usize, out: &mut Vec<u8>) {
        self.take_with(n, |piece| out.extend_from_slice(piece));
    }

    /// Gives the `n` bytes from the read position to `use_bytes` where they lie (in two
    /// pieces where they cross the seam), and moves past them.
    ///
    /// # Panics
    /// If `n` is more than the ring holds (TCP counted bytes it never placed).
    pub(crate) fn take_with(&mut self, n: usize, mut use_bytes: impl FnMut(&[u8])) {
        if n == 0 {
            return;
        }
        assert!(
            n <= self.buf.len(),
            "read {n} bytes of a {} byte ring",
            self.buf.len()
        );
        let at = self.index(self.start);
        let first = n.min(self.buf.len() - at);
        use_bytes(&self.buf[at..at + first]);
        if first < n {
            use_bytes(&self.buf[..n - first]);
        }
        self.skip(n);
    }

    /// Moves the read position `n` bytes on without looking at them: bytes the reader got
    /// from elsewhere (the frames they arrived in, lent to the stream: `held.rs`).
    pub(crate) fn skip(&mut self, n: usize) {
        self.start += n as u64;
        if self.start >= self.end {
            self.base = self.start;
        }
    }

    /// The read position: the offset of the next byte to read.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// Whether any byte at `offset` or beyond was put (and is not yet read).
    pub(crate) fn holds_from(&self, offset: u64) -> bool {
        self.end > offset.max(self.start)
    }

    fn index(&self, offset: u64) -> usize {
        ((offset - self.base) % self.buf.len() as u64) as usize
    }

    /// Makes the ring at least `reach` bytes long, keeping every byte from the read position
    /// at its offset.
    fn grow(&mut self, reach: usize) {
        let len = reach.next_power_of_two().max(MIN_RING);
        let old = std::mem::replace(&mut self.buf, vec![0; len]);
        if !old.is_empty() {
            // The old ring from the read position on, unrolled, then written at its offsets.
            let at = ((self.start - self.base) % old.len() as u64) as usize;
            let live = [&old[at..], &old[..at]].concat();
            self.base = self.start;
            self.write(self.start, &live);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_put_in_any_order_are_read_in_order_across_the_seam_and_growth() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut r = RecvRing::default();
        let mut got = Vec::new();
        // In order, with reads between, until the ring wraps.
        r.put(0, &data[..50_000]);
        r.take(40_000, &mut got);
        r.put(50_000, &data[50_000..90_000]);
        r.take(50_000, &mut got);
        // Out of order: a later piece first (it makes the ring grow), then the hole, then a
        // duplicate that reaches back before the read position.
        r.put(150_000, &data[150_000..300_000]);
        r.put(90_000, &data[90_000..150_000]);
        r.put(80_000, &data[80_000..100_000]);
        r.take(210_000, &mut got);
        assert_eq!(got, data);
        // Entirely stale bytes change nothing.
        r.put(10, &[0xff; 100]);
        r.put(300_000, b"next");
        let mut more = Vec::new();
        r.take(4, &mut more);
        assert_eq!(more, b"next");
    }

    #[test]
    fn a_reader_that_keeps_up_writes_at_the_front_but_bytes_beyond_a_hole_stay_put() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let mut r = RecvRing::default();
        let mut got = Vec::new();
        r.put(0, &data[..3000]);
        r.take(3000, &mut got);
        // Read empty: the next bytes go to the buffer's front, not on around the ring.
        assert_eq!(r.index(3000), 0);
        r.put(3000, &data[3000..4000]);
        // Bytes beyond a hole: reading up to the hole must not move them.
        r.put(5000, &data[5000..6000]);
        r.take(1000, &mut got);
        assert_eq!(r.index(4000), 1000, "not rebased while bytes lie beyond");
        r.put(4000, &data[4000..5000]);
        r.take(2000, &mut got);
        assert_eq!(r.index(6000), 0);
        assert_eq!(got, data[..6000]);
        // Growth keeps every byte too, from any base.
        r.put(6000, &data[6000..7000]);
        r.take(500, &mut got);
        r.put(7000, &data[7000..10_000]);
        r.put(100_000, &[1]);
        r.take(3500, &mut got);
        assert_eq!(got, data);
    }

    #[test]
    fn bytes_are_seen_where_they_lie_in_two_pieces_across_the_seam() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = RecvRing::default();
        r.put(0, &data[..60_000]);
        // Bytes beyond the read position keep the ring from starting again at its front.
        r.put(60_000, &data[60_000..61_000]);
        r.take(60_000, &mut Vec::new());
        r.put(61_000, &data[61_000..70_000]);
        let mut pieces = Vec::new();
        r.take_with(10_000, |p| pieces.push(p.to_vec()));
        assert_eq!(pieces.len(), 2, "one piece on each side of the seam");
        assert_eq!(pieces.concat(), data[60_000..]);
        r.take_with(0, |_| panic!("nothing to see"));
    }

    #[test]
    #[should_panic(expected = "read 5 bytes")]
    fn reading_what_was_never_put_is_a_bug() {
        RecvRing::default().take(5, &mut Vec::new());
    }
}
