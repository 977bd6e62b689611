//! A socket's bytes to send, in the host (docs/zero-copy.md): the application's writes land here,
//! TCP counts them and names spans of them in its segments, and the host puts each span on the
//! wire. The bytes lie in chunks the NIC can read where they lie: a frame's payload goes out as
//! the tail of its descriptor chain (scatter-gather, `nic_ftgmac100::driver::TxTails`), so a
//! chunk lives until both TCP (its ACK released the bytes) and the driver (the frame went out)
//! let go of it, as an skb's page fragments hold their pages.

use std::collections::VecDeque;
use std::sync::Arc;

use nic_ftgmac100::access::SharedBytes;

/// A chunk's room: a few dozen full segments, and a GSO super-segment in two chunks at most.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Emptied chunks kept for the next writes, over all streams (2 MiB).
pub(crate) const SPARE_CHUNKS: usize = 32;

/// One stream's bytes from offset `start` on.
#[derive(Debug, Default)]
pub(crate) struct SendStream {
    start: u64,
    /// Bytes held from `start`.
    len: usize,
    /// Bytes at the front chunk's start that were released already.
    skip: usize,
    chunks: VecDeque<SharedBytes>,
}

/// `len` bytes of a stream from `at` bytes into its chunks (the released ones counted).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span<'a> {
    chunks: &'a VecDeque<SharedBytes>,
    at: usize,
    len: usize,
}

impl SendStream {
    /// Appends `data`: into the last chunk while it has room and nobody else holds it (a frame
    /// on the NIC's ring reading its first bytes does), then into chunks from `spare`.
    pub(crate) fn push(&mut self, mut data: &[u8], spare: &mut Vec<Vec<u8>>) {
        self.len += data.len();
        while !data.is_empty() {
            if let Some(last) = self.chunks.back_mut().and_then(Arc::get_mut)
                && last.len() < last.capacity()
            {
                let n = (last.capacity() - last.len()).min(data.len());
                last.extend_from_slice(&data[..n]);
                data = &data[n..];
                continue;
            }
            let chunk = spare.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK));
            self.chunks.push_back(Arc::new(chunk));
        }
    }

    /// Drops the bytes before offset `up_to`; chunks no frame still holds go to `spare`.
    pub(crate) fn release(&mut self, up_to: u64, spare: &mut Vec<Vec<u8>>) {
        if up_to <= self.start {
            return;
        }
        let n = ((up_to - self.start) as usize).min(self.len);
        self.start += n as u64;
        self.len -= n;
        let mut gone = self.skip + n;
        while let Some(front) = self.chunks.front()
            && gone >= front.len()
            && !front.is_empty()
        {
            gone -= front.len();
            let chunk = self.chunks.pop_front().expect("the front");
            // A frame still on the ring keeps its chunk until the driver unmaps it.
            if let Ok(mut bytes) = Arc::try_unwrap(chunk)
                && spare.len() < SPARE_CHUNKS
            {
                bytes.clear();
                spare.push(bytes);
            }
        }
        self.skip = gone;
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The `len` bytes from `offset`; `None` unless the stream holds them all.
    pub(crate) fn span(&self, offset: u64, len: usize) -> Option<Span<'_>> {
        let at = usize::try_from(offset.checked_sub(self.start)?).ok()?;
        if at.checked_add(len)? > self.len {
            return None;
        }
        Some(Span {
            chunks: &self.chunks,
            at: self.skip + at,
            len,
        })
    }
}

impl<'a> Span<'a> {
    /// How many bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Its `len` bytes from `start`.
    pub(crate) fn sub(&self, start: usize, len: usize) -> Span<'a> {
        assert!(
            start + len <= self.len,
            "{start}+{len} of a {}-byte span",
            self.len
        );
        Span {
            at: self.at + start,
            len,
            ..*self
        }
    }

    /// Its bytes as they lie: `(chunk, offset in it, length)`, in order.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = (&'a SharedBytes, usize, usize)> {
        let (mut skip, mut left) = (self.at, self.len);
        self.chunks
            .iter()
            .map_while(move |chunk| {
                if left == 0 {
                    return None;
                }
                if skip >= chunk.len() {
                    skip -= chunk.len();
                    return Some(None);
                }
                let n = (chunk.len() - skip).min(left);
                let piece = (chunk, skip, n);
                (skip, left) = (0, left - n);
                Some(Some(piece))
            })
            .flatten()
    }

    /// Its bytes as slices, in order.
    pub(crate) fn slices(&self) -> impl Iterator<Item = &'a [u8]> {
        self.pieces().map(|(chunk, at, len)| &chunk[at..at + len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(span: Span<'_>) -> Vec<u8> {
        span.slices().flatten().copied().collect()
    }

    #[test]
    fn spans_cross_chunks_and_releases_give_whole_chunks_back() {
        let data: Vec<u8> = (0..3 * CHUNK + 100).map(|i| (i % 251) as u8).collect();
        let (mut s, mut spare) = (SendStream::default(), Vec::new());
        s.push(&data[..1000], &mut spare);
        s.push(&data[1000..], &mut spare);
        assert_eq!(s.chunks.len(), 4, "filled to their room, in order");
        let span = s.span(CHUNK as u64 - 10, 30).unwrap();
        assert_eq!(span.pieces().count(), 2, "across a chunk's end");
        assert_eq!(joined(span), &data[CHUNK - 10..CHUNK + 20]);
        assert_eq!(joined(span.sub(5, 10)), &data[CHUNK - 5..CHUNK + 5]);
        assert_eq!(joined(s.span(0, data.len()).unwrap()), data);
        assert!(s.span(0, data.len() + 1).is_none(), "not written yet");

        s.release(CHUNK as u64 + 5, &mut spare);
        assert_eq!(
            (s.len(), s.chunks.len(), spare.len()),
            (data.len() - CHUNK - 5, 3, 1)
        );
        assert!(s.span(CHUNK as u64 + 4, 1).is_none(), "released");
        assert_eq!(
            joined(s.span(CHUNK as u64 + 5, 3).unwrap()),
            &data[CHUNK + 5..][..3]
        );
        // A release behind the start, or past the end, is harmless.
        s.release(3, &mut spare);
        s.release(u64::MAX, &mut spare);
        assert_eq!((s.len(), s.chunks.len(), spare.len()), (0, 0, 4));
        // The next write reuses a chunk and its bytes follow on.
        s.push(b"next", &mut spare);
        assert_eq!(spare.len(), 3);
        let end = data.len() as u64;
        assert_eq!(joined(s.span(end, 4).unwrap()), b"next");
    }

    #[test]
    fn a_chunk_the_nic_holds_is_not_written_to_and_is_not_reused_until_it_lets_go() {
        let (mut s, mut spare) = (SendStream::default(), Vec::new());
        s.push(b"abc", &mut spare);
        let held = s.span(0, 3).unwrap().pieces().next().unwrap().0.clone();
        s.push(b"def", &mut spare);
        assert_eq!(s.chunks.len(), 2, "the held chunk took no more");
        assert_eq!(joined(s.span(0, 6).unwrap()), b"abcdef");
        s.release(6, &mut spare);
        assert_eq!(spare.len(), 1, "only the chunk nobody else holds");
        assert_eq!(&held[..], b"abc", "the NIC still reads what it holds");
    }
}
