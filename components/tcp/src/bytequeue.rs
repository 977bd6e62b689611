//! The send buffer's byte queue: cheap at both ends, and it keeps the application's buffers.
//!
//! - A write arrives as the `Vec` the canonical ABI lowered it into; [`ByteQueue::append`]
//!   keeps that buffer as it is (no copy), only a small one is copied onto the last buffer so
//!   that a stream of tiny writes does not become a list of tiny buffers.
//! - ACKs consume from the front by dropping whole buffers and moving a head index: nothing is
//!   moved (one flat `Vec` would memmove everything still queued, up to the whole buffer).
//! - A segment reads a range ([`ByteQueue::range`]); one that straddles two buffers is
//!   gathered into the caller's scratch buffer, the rest are borrowed in place.
//!
//! - Bytes the host holds (docs/zero-copy.md): with [`ByteQueue::append_held`] the queue only
//!   counts them, after any bytes it has; a range over them is a [`Held`] span of the host's
//!   stream for the socket, which the host fills in when it frames the segment.
//!
//! The exported state (hot swap) is the flat form `{ buf, head }` of the earlier one-`Vec`
//! queue, and since state version 4 the held count and where it starts in the host's stream.

use std::collections::VecDeque;

/// A write this small is copied onto the last buffer rather than kept as a buffer of its own.
const SMALL_WRITE: usize = 2048;
/// ... as long as that buffer stays below this size.
const COALESCE_UP_TO: usize = 64 * 1024;

/// Bytes of the host's stream for a socket: `len` bytes from `offset` (the count of bytes
/// handed to the queue with [`ByteQueue::append_held`] before the first of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub offset: u64,
    pub len: usize,
}

/// The queue of bytes not yet consumed: in buffers, then (held) counted only.
#[derive(Debug, Clone, Default)]
pub(crate) struct ByteQueue {
    bufs: VecDeque<Vec<u8>>,
    /// Bytes of the first buffer already consumed.
    head: usize,
    /// Bytes queued (not consumed), held ones included.
    len: usize,
    /// The last `held` of them are the host's: counted here, not stored.
    held: usize,
    /// Where the first held byte still queued is in the host's stream: how many held bytes
    /// were consumed before it.
    held_at: u64,
}

impl ByteQueue {
    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes queued that the host holds.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// How far the host's stream is consumed: it may drop its bytes before this offset.
    pub(crate) fn held_consumed(&self) -> u64 {
        self.held_at
    }

    /// Bytes queued in the queue's own buffers (they come before the held ones).
    fn stored(&self) -> usize {
        self.len - self.held
    }

    /// Counts `n` more bytes that the host holds (its stream's next `n`).
    pub(crate) fn append_held(&mut self, n: usize) {
        self.len += n;
        self.held += n;
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `data`.
    ///
    /// # Panics
    /// If held bytes are queued: stored bytes come before them (the layer refuses the write).
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) {
        assert_eq!(self.held, 0, "bytes after held bytes");
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        match self.bufs.back_mut() {
            Some(last) if last.len() < COALESCE_UP_TO => last.extend_from_slice(data),
            _ => self.bufs.push_back(data.to_vec()),
        }
    }

    /// Appends `data`, keeping the buffer itself unless it is small.
    pub(crate) fn append(&mut self, data: Vec<u8>) {
        assert_eq!(self.held, 0, "bytes after held bytes");
        let coalesce = self
            .bufs
            .back()
            .is_some_and(|last| last.len() < COALESCE_UP_TO);
        if data.len() < SMALL_WRITE && coalesce {
            self.extend_from_slice(&data);
        } else if !data.is_empty() {
            self.len += data.len();
            self.bufs.push_back(data);
        }
    }

    /// Drops the first `n` bytes.
    ///
    /// # Panics
    /// If fewer than `n` bytes are queued.
    pub(crate) fn consume(&mut self, n: usize) {
        assert!(n <= self.len, "consume {n} of {} bytes", self.len);
        let from_held = n.saturating_sub(self.stored());
        self.held -= from_held;
        self.held_at += from_held as u64;
        self.len -= n;
        let mut left = n - from_held;
        while left > 0 {
            let first = self.bufs.front().expect("len counts the buffers' bytes");
            let rest = first.len() - self.head;
            if left < rest {
                self.head += left;
                return;
            }
            left -= rest;
            self.bufs.pop_front();
            self.head = 0;
        }
    }

    /// The `len` bytes from offset `off`: the stored ones (borrowed in place, or gathered into
    /// `scratch` when they straddle buffers), then the span of held ones, if any.
    ///
    /// # Panics
    /// If the range runs past the queued bytes.
    pub(crate) fn pieces<'a>(
        &'a self,
        off: usize,
        len: usize,
        scratch: &'a mut Vec<u8>,
    ) -> (&'a [u8], Option<Held>) {
        assert!(off + len <= self.len, "{off}+{len} of {} bytes", self.len);
        let stored = self.stored();
        let inline = len.min(stored.saturating_sub(off));
        let held = (inline < len).then(|| Held {
            offset: self.held_at + (off + inline - stored) as u64,
            len: len - inline,
        });
        let bytes = if inline == 0 {
            &[][..]
        } else {
            self.range(off, inline, scratch)
        };
        (bytes, held)
    }

    /// The `len` stored bytes from offset `off`: borrowed in place, or gathered into
    /// `scratch` when they straddle buffers.
    ///
    /// # Panics
    /// If the range runs past the stored bytes.
    fn range<'a>(&'a self, off: usize, len: usize, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let stored = self.stored();
        assert!(off + len <= stored, "{off}+{len} of {stored} bytes");
        let mut at = self.head + off;
        let mut bufs = self.bufs.iter();
        let mut buf = loop {
            match bufs.next() {
                Some(b) if at >= b.len() => at -= b.len(),
                Some(b) => break b,
                None => return &[],
            }
        };
        if at + len <= buf.len() {
            return &buf[at..at + len];
        }
        scratch.clear();
        let mut left = len;
        loop {
            let piece = &buf[at..buf.len().min(at + left)];
            scratch.extend_from_slice(piece);
            left -= piece.len();
            match bufs.next() {
                Some(next) if left > 0 => (buf, at) = (next, 0),
                _ => return scratch,
            }
        }
    }

    /// Every stored byte, in one buffer (for the exported state).
    fn to_vec(&self) -> Vec<u8> {
        let stored = self.stored();
        let mut all = Vec::with_capacity(stored);
        let mut scratch = Vec::new();
        all.extend_from_slice(self.range(0, stored, &mut scratch));
        all
    }
}

/// The exported form: the one-`Vec` queue's fields (`head` is always 0 when written here),
/// and since version 4 the held bytes' count and offset.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename = "ByteQueue")]
struct Flat {
    buf: Vec<u8>,
    head: usize,
    #[serde(deserialize_with = "crate::state::since_v4")]
    held: u64,
    #[serde(deserialize_with = "crate::state::since_v4")]
    held_at: u64,
}

impl serde::Serialize for ByteQueue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Flat {
            buf: self.to_vec(),
            head: 0,
            held: self.held as u64,
            held_at: self.held_at,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for ByteQueue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteQueue, D::Error> {
        let Flat {
            mut buf,
            head,
            held,
            held_at,
        } = Flat::deserialize(d)?;
        if head > buf.len() {
            return Err(serde::de::Error::custom("send buffer head past its end"));
        }
        let held = usize::try_from(held)
            .map_err(|_| serde::de::Error::custom("held bytes past the address space"))?;
        buf.drain(..head);
        let mut q = ByteQueue::default();
        q.append(buf);
        q.append_held(held);
        q.held_at = held_at;
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(q: &ByteQueue) -> Vec<u8> {
        q.to_vec()
    }

    #[test]
    fn consumes_from_the_front_and_keeps_order() {
        let mut q = ByteQueue::default();
        q.extend_from_slice(b"hello world");
        q.consume(6);
        assert_eq!(contents(&q), b"world");
        q.extend_from_slice(b"!");
        q.consume(2);
        assert_eq!(contents(&q), b"rld!");
        q.consume(4);
        assert!(q.is_empty());
    }

    #[test]
    fn large_writes_keep_their_buffer_and_ranges_straddle_them() {
        let mut q = ByteQueue::default();
        let a: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let b: Vec<u8> = (0..5000u32).map(|i| (i * 3) as u8).collect();
        let given = a.clone();
        let a_ptr = given.as_ptr();
        q.append(given);
        q.append(b.clone());
        q.append(b"tail".to_vec()); // small: copied onto `b`'s buffer
        assert_eq!(q.bufs.len(), 2);
        assert_eq!(q.bufs[0].as_ptr(), a_ptr, "kept, not copied");
        let all = [&a[..], &b[..], b"tail"].concat();
        assert_eq!((q.len(), contents(&q)), (all.len(), all.clone()));
        let mut scratch = Vec::new();
        // Inside one buffer: borrowed; across two: gathered.
        assert_eq!(q.range(10, 100, &mut scratch), &all[10..110]);
        assert!(scratch.is_empty());
        assert_eq!(q.range(4900, 1448, &mut scratch), &all[4900..6348]);
        q.consume(4999);
        assert_eq!(q.range(0, 3, &mut scratch), &all[4999..5002]);
        q.consume(1);
        assert_eq!(q.bufs.len(), 1, "a consumed buffer is dropped");
        assert_eq!(contents(&q), all[5000..]);
    }

    #[test]
    fn the_exported_form_is_the_flat_one() {
        let mut q = ByteQueue::default();
        q.append(vec![7; 3000]);
        q.append(vec![8; 3000]);
        q.consume(1000);
        let bytes = postcard::to_allocvec(&q).unwrap();
        let flat = Flat {
            buf: [vec![7; 2000], vec![8; 3000]].concat(),
            head: 0,
            held: 0,
            held_at: 0,
        };
        assert_eq!(bytes, postcard::to_allocvec(&flat).unwrap());
        // An old build's queue (version 3: no held fields), with a head inside its buffer,
        // reads back as its bytes.
        #[derive(serde::Serialize)]
        struct V3 {
            buf: Vec<u8>,
            head: usize,
        }
        let old = |buf: &[u8], head| {
            postcard::to_allocvec(&V3 {
                buf: buf.to_vec(),
                head,
            })
            .unwrap()
        };
        let read = |b: &[u8]| crate::state::reading(3, || postcard::from_bytes::<ByteQueue>(b));
        let q = read(&old(b"xxhello", 2)).unwrap();
        assert_eq!((contents(&q), q.held()), (b"hello".to_vec(), 0));
        assert!(read(&old(b"x", 2)).is_err());
    }

    #[test]
    fn held_bytes_are_counted_after_the_stored_ones_and_come_out_as_spans() {
        let mut q = ByteQueue::default();
        q.extend_from_slice(b"0123456789");
        q.append_held(100);
        assert_eq!((q.len(), q.held(), q.held_consumed()), (110, 100, 0));
        let mut scratch = Vec::new();
        // Stored only, straddling, held only.
        assert_eq!(q.pieces(2, 5, &mut scratch), (&b"23456"[..], None));
        let (bytes, held) = q.pieces(8, 12, &mut scratch);
        assert_eq!(bytes, b"89");
        assert_eq!(held, Some(Held { offset: 0, len: 10 }));
        let (bytes, held) = q.pieces(50, 60, &mut scratch);
        assert!(bytes.is_empty());
        assert_eq!(
            held,
            Some(Held {
                offset: 40,
                len: 60
            })
        );
        // Consuming eats the stored bytes first, then moves the held offset.
        q.consume(15);
        assert_eq!((q.len(), q.held(), q.held_consumed()), (95, 95, 5));
        assert_eq!(
            q.pieces(0, 3, &mut scratch).1,
            Some(Held { offset: 5, len: 3 })
        );
        q.append_held(5);
        q.consume(100);
        assert_eq!((q.len(), q.held(), q.held_consumed()), (0, 0, 105));
        // With nothing held any more, stored bytes may follow; the offset is kept.
        q.extend_from_slice(b"ab");
        q.append_held(1);
        assert_eq!(
            q.pieces(1, 2, &mut scratch),
            (
                &b"b"[..],
                Some(Held {
                    offset: 105,
                    len: 1
                })
            )
        );
        // The state carries the count and offset (version 4).
        let back: ByteQueue = postcard::from_bytes(&postcard::to_allocvec(&q).unwrap()).unwrap();
        assert_eq!((back.len(), back.held(), back.held_consumed()), (3, 1, 105));
        assert_eq!(contents(&back), b"ab");
    }

    #[test]
    #[should_panic(expected = "bytes after held bytes")]
    fn stored_bytes_never_follow_held_ones() {
        let mut q = ByteQueue::default();
        q.append_held(1);
        q.extend_from_slice(b"x");
    }
}
