//! Packet batches in the WIT layout: one flat buffer plus the length of each packet
//! (`netstack:stack/types.batch`). A crossing copies one buffer and one list, whatever the count.

use alloc::vec::Vec;

/// A batch of packets, back to back in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    bytes: Vec<u8>,
    lengths: Vec<u32>,
}

/// The lengths do not add up to the buffer's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLengths;

impl Batch {
    /// An empty batch.
    pub const fn new() -> Batch {
        Batch {
            bytes: Vec::new(),
            lengths: Vec::new(),
        }
    }

    /// A batch from its parts, checking that the lengths cover the buffer exactly.
    pub fn from_parts(bytes: Vec<u8>, lengths: Vec<u32>) -> Result<Batch, BadLengths> {
        let total = lengths
            .iter()
            .try_fold(0usize, |acc, &l| acc.checked_add(l as usize));
        if total != Some(bytes.len()) {
            return Err(BadLengths);
        }
        Ok(Batch { bytes, lengths })
    }

    /// The parts, for a crossing.
    pub fn into_parts(self) -> (Vec<u8>, Vec<u32>) {
        (self.bytes, self.lengths)
    }

    /// The number of packets.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether there is no packet.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The total bytes.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// How many bytes the batch holds without growing.
    pub fn byte_capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Appends a copy of `packet`.
    pub fn push(&mut self, packet: &[u8]) {
        self.bytes.extend_from_slice(packet);
        self.lengths.push(packet.len() as u32);
    }

    /// Appends a packet of `len` bytes written in place by `emit` (no intermediate buffer).
    pub fn push_with(&mut self, len: usize, emit: impl FnOnce(&mut [u8])) {
        let start = self.bytes.len();
        self.bytes.resize(start + len, 0);
        emit(&mut self.bytes[start..]);
        self.lengths.push(len as u32);
    }

    /// Appends a packet of a `header_len`-byte header and a copy of `payload`; `emit_header`
    /// then writes the header in place (it is given the whole packet, and must write only the
    /// header). The payload is copied once, never zero-filled first as `push_with` would.
    pub fn push_framed(
        &mut self,
        header_len: usize,
        payload: &[u8],
        emit_header: impl FnOnce(&mut [u8]),
    ) {
        let start = self.bytes.len();
        self.bytes.resize(start + header_len, 0);
        self.bytes.extend_from_slice(payload);
        emit_header(&mut self.bytes[start..]);
        self.lengths.push((header_len + payload.len()) as u32);
    }

    /// Appends a packet made of `pieces` back to back, which `edit` may then change in place
    /// (headers rewritten, checksums filled): one copy of each piece, no zero-fill first.
    pub fn push_gathered<'a>(
        &mut self,
        pieces: impl IntoIterator<Item = &'a [u8]>,
        edit: impl FnOnce(&mut [u8]),
    ) {
        let start = self.bytes.len();
        for piece in pieces {
            self.bytes.extend_from_slice(piece);
        }
        edit(&mut self.bytes[start..]);
        self.lengths.push((self.bytes.len() - start) as u32);
    }

    /// Appends a packet that `append` writes at the end of `bytes` (a DMA read straight into
    /// the batch, say); its length is what `append` added. If `append` fails, the batch is
    /// left as it was.
    pub fn push_appended<E>(
        &mut self,
        append: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        match append(&mut self.bytes) {
            Ok(()) => {
                self.lengths.push((self.bytes.len() - start) as u32);
                Ok(())
            }
            Err(e) => {
                self.bytes.truncate(start);
                Err(e)
            }
        }
    }

    /// Appends `data` to the last packet (a segmentation offload growing a super-segment).
    ///
    /// # Panics
    /// If the batch is empty.
    pub fn extend_last(&mut self, data: &[u8]) {
        let last = self.lengths.last_mut().expect("a packet to extend");
        *last += data.len() as u32;
        self.bytes.extend_from_slice(data);
    }

    /// Appends to the last packet what `append` writes at the end of the bytes (a DMA read
    /// straight onto a merged packet, say). If `append` fails, the batch is left as it was.
    ///
    /// # Panics
    /// If the batch is empty.
    pub fn extend_last_with<E>(
        &mut self,
        append: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        assert!(!self.lengths.is_empty(), "a packet to extend");
        let start = self.bytes.len();
        match append(&mut self.bytes) {
            Ok(()) => {
                let last = self.lengths.last_mut().expect("checked above");
                *last += (self.bytes.len() - start) as u32;
                Ok(())
            }
            Err(e) => {
                self.bytes.truncate(start);
                Err(e)
            }
        }
    }

    /// All the packets' bytes, back to back.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The last packet, to rewrite in place.
    pub fn last_mut(&mut self) -> Option<&mut [u8]> {
        let len = *self.lengths.last()? as usize;
        let start = self.bytes.len() - len;
        Some(&mut self.bytes[start..])
    }

    /// Makes room for `bytes` more bytes in `packets` more packets, so that a batch filled in
    /// a loop grows once rather than by doublings, each a copy of all it holds.
    pub fn reserve(&mut self, bytes: usize, packets: usize) {
        self.bytes.reserve(bytes);
        self.lengths.reserve(packets);
    }

    /// Removes the last packet, if any.
    pub fn pop(&mut self) {
        if let Some(len) = self.lengths.pop() {
            self.bytes.truncate(self.bytes.len() - len as usize);
        }
    }

    /// Appends every packet of `other`.
    pub fn append(&mut self, other: &Batch) {
        self.bytes.extend_from_slice(&other.bytes);
        self.lengths.extend_from_slice(&other.lengths);
    }

    /// The packets, in order.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            bytes: &self.bytes,
            lengths: self.lengths.iter(),
        }
    }

    /// Drops the first `n` packets (all of them if there are fewer), keeping the rest in order.
    pub fn remove_front(&mut self, n: usize) {
        let n = n.min(self.lengths.len());
        let bytes: usize = self.lengths[..n].iter().map(|&l| l as usize).sum();
        self.bytes.drain(..bytes);
        self.lengths.drain(..n);
    }

    /// Empties the batch, keeping its allocations for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.lengths.clear();
    }

    /// Takes the room of `spare` (a batch someone is done with), emptied, if this batch is
    /// empty and `spare` holds more: a batch filled anew each turn then starts as big as a
    /// turn needs, and neither grows by doublings (each a copy of all it holds) nor is
    /// allocated afresh.
    pub fn reuse(&mut self, mut spare: Batch) {
        if self.is_empty() && spare.byte_capacity() > self.byte_capacity() {
            spare.clear();
            *self = spare;
        }
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = &'a [u8];
    type IntoIter = BatchIter<'a>;
    fn into_iter(self) -> BatchIter<'a> {
        self.iter()
    }
}

/// Iterates a batch's packets.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    bytes: &'a [u8],
    lengths: core::slice::Iter<'a, u32>,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.lengths.next()? as usize;
        let (packet, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(packet)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.lengths.size_hint()
    }
}

impl ExactSizeIterator for BatchIter<'_> {}

/// Iterates packets of a WIT batch's parts without taking them: for lengths checked against
/// the buffer with [`check_parts`].
pub fn iter_parts<'a>(bytes: &'a [u8], lengths: &'a [u32]) -> BatchIter<'a> {
    BatchIter {
        bytes,
        lengths: lengths.iter(),
    }
}

/// The parts of `bytes` of `lengths`, one after another, if they cover it exactly (a layer's
/// heads or headers, with each part's length in a record of its own).
pub fn parts_of<L>(bytes: &[u8], lengths: L) -> Option<impl Iterator<Item = &[u8]>>
where
    L: Iterator<Item = u32> + Clone,
{
    let total = (lengths.clone()).try_fold(0usize, |acc, l| acc.checked_add(l as usize));
    if total != Some(bytes.len()) {
        return None;
    }
    let mut at = 0;
    Some(lengths.map(move |l| {
        let part = &bytes[at..at + l as usize];
        at += l as usize;
        part
    }))
}

/// Checks that `lengths` covers `bytes` exactly.
pub fn check_parts(bytes: &[u8], lengths: &[u32]) -> Result<(), BadLengths> {
    let total = lengths
        .iter()
        .try_fold(0usize, |acc, &l| acc.checked_add(l as usize));
    if total == Some(bytes.len()) {
        Ok(())
    } else {
        Err(BadLengths)
    }
}

/// Records the GSO/GRO segment size of packet `index` (just pushed) in `sizes`, which stays
/// empty while every size is 0: WIT's "empty, or one entry per packet".
pub fn push_segment_size(sizes: &mut Vec<u16>, index: usize, size: u16) {
    if size == 0 && sizes.is_empty() {
        return;
    }
    sizes.resize(index, 0);
    sizes.push(size);
}

/// The segment size of packet `i` by such a list (empty: every size is 0).
pub fn segment_size(sizes: &[u16], i: usize) -> u16 {
    sizes.get(i).copied().unwrap_or(0)
}

/// Whether a segment-size list fits a batch of `packets` (empty, or one entry per packet).
pub fn sizes_fit(sizes: &[u16], packets: usize) -> bool {
    sizes.is_empty() || sizes.len() == packets
}

/// A segment-size list as WIT carries it for a batch of `packets`: empty, or padded with zeros
/// to one entry per packet (packets pushed after the last non-zero size record none).
pub fn sizes_for(mut sizes: Vec<u16>, packets: usize) -> Vec<u16> {
    if !sizes.is_empty() {
        sizes.resize(packets, 0);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_splits_bytes_that_their_lengths_cover_exactly() {
        let parts: Vec<_> = parts_of(b"abcdef", [2u32, 0, 4].into_iter())
            .unwrap()
            .collect();
        assert_eq!(parts, [&b"ab"[..], b"", b"cdef"]);
        assert!(parts_of(b"abcdef", [2u32, 3].into_iter()).is_none());
        assert!(parts_of(b"abc", [2u32, 3].into_iter()).is_none());
        assert!(parts_of(b"", [u32::MAX, u32::MAX, 2].into_iter()).is_none());
        assert_eq!(parts_of(b"", std::iter::empty()).unwrap().count(), 0);
    }

    #[test]
    fn an_empty_batch_reuses_a_larger_spare_emptied_and_a_full_one_keeps_its_packets() {
        let mut spare = Batch::new();
        spare.reserve(4096, 8);
        spare.push(b"done with");
        let mut b = Batch::new();
        b.reuse(spare);
        assert!(
            b.is_empty() && b.byte_len() == 0,
            "the spare's packets are gone"
        );
        assert!(b.byte_capacity() >= 4096, "its room is kept");
        b.reuse(Batch::new());
        assert!(b.byte_capacity() >= 4096, "a smaller spare changes nothing");
        b.push(b"kept");
        let mut bigger = Batch::new();
        bigger.reserve(1 << 16, 8);
        b.reuse(bigger);
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [b"kept"],
            "a batch in use stays"
        );
    }

    #[test]
    fn round_trip() {
        let mut b = Batch::new();
        b.push(b"abc");
        b.push_with(2, |p| p.copy_from_slice(b"de"));
        b.push(b"");
        b.push_framed(2, b"payload", |p| {
            assert_eq!(&p[2..], b"payload", "the payload is in place first");
            p[..2].copy_from_slice(b"hd");
        });
        b.push_gathered([&b"hd"[..], b"pay", b"load"], |p| p[0] = b'H');
        let failed = b.push_appended(|v| {
            v.push(1);
            Err("bus error")
        });
        assert_eq!(failed, Err("bus error"));
        b.push_appended(|v| {
            v.extend_from_slice(b"dma");
            Ok::<_, ()>(())
        })
        .unwrap();
        let got: Vec<&[u8]> = b.iter().collect();
        assert_eq!(
            got,
            [&b"abc"[..], b"de", b"", b"hdpayload", b"Hdpayload", b"dma"],
            "a failed append leaves nothing behind"
        );
        let mut popped = b.clone();
        popped.pop();
        assert_eq!(popped.len(), 5);
        assert_eq!(popped.iter().last(), Some(&b"Hdpayload"[..]));
        let (bytes, lengths) = b.clone().into_parts();
        assert_eq!(Batch::from_parts(bytes, lengths), Ok(b));
        assert_eq!(
            Batch::from_parts(std::vec![1, 2], std::vec![1]),
            Err(BadLengths)
        );
        assert_eq!(check_parts(&[1, 2], &[u32::MAX, u32::MAX]), Err(BadLengths));
    }

    #[test]
    fn remove_front_keeps_the_rest_in_order() {
        let mut b = Batch::new();
        for p in [&b"ab"[..], b"c", b"def"] {
            b.push(p);
        }
        b.remove_front(1);
        assert_eq!(b.iter().collect::<Vec<_>>(), [&b"c"[..], b"def"]);
        b.remove_front(5);
        assert!(b.is_empty());
        assert_eq!(b.byte_len(), 0);
    }
}
