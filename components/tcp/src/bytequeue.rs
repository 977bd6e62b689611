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
//! The exported state (hot swap) is the flat form `{ buf, head }` of the earlier one-`Vec`
//! queue, byte for byte: state written by either build reads in the other.

use std::collections::VecDeque;

/// A write this small is copied onto the last buffer rather than kept as a buffer of its own.
const SMALL_WRITE: usize = 2048;
/// ... as long as that buffer stays below this size.
const COALESCE_UP_TO: usize = 64 * 1024;

/// The queue of bytes not yet consumed, in buffers.
#[derive(Debug, Clone, Default)]
pub(crate) struct ByteQueue {
    bufs: VecDeque<Vec<u8>>,
    /// Bytes of the first buffer already consumed.
    head: usize,
    /// Bytes queued (not consumed).
    len: usize,
}

impl ByteQueue {
    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `data`.
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) {
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
        self.len -= n;
        let mut left = n;
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

    /// The `len` bytes from offset `off`: borrowed in place, or gathered into `scratch` when
    /// they straddle buffers.
    ///
    /// # Panics
    /// If the range runs past the queued bytes.
    pub(crate) fn range<'a>(
        &'a self,
        off: usize,
        len: usize,
        scratch: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        assert!(off + len <= self.len, "{off}+{len} of {} bytes", self.len);
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

    /// Every queued byte, in one buffer (for the exported state).
    fn to_vec(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        let mut scratch = Vec::new();
        all.extend_from_slice(self.range(0, self.len, &mut scratch));
        all
    }
}

/// The exported form: the one-`Vec` queue's fields (`head` is always 0 when written here).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename = "ByteQueue")]
struct Flat {
    buf: Vec<u8>,
    head: usize,
}

impl serde::Serialize for ByteQueue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Flat {
            buf: self.to_vec(),
            head: 0,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for ByteQueue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteQueue, D::Error> {
        let Flat { mut buf, head } = Flat::deserialize(d)?;
        if head > buf.len() {
            return Err(serde::de::Error::custom("send buffer head past its end"));
        }
        buf.drain(..head);
        let mut q = ByteQueue::default();
        q.append(buf);
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
        };
        assert_eq!(bytes, postcard::to_allocvec(&flat).unwrap());
        // An old build's queue, with a head inside its buffer, reads back as its bytes.
        let old = postcard::to_allocvec(&Flat {
            buf: b"xxhello".to_vec(),
            head: 2,
        })
        .unwrap();
        let q: ByteQueue = postcard::from_bytes(&old).unwrap();
        assert_eq!(contents(&q), b"hello");
        let bad = postcard::to_allocvec(&Flat {
            buf: b"x".to_vec(),
            head: 2,
        })
        .unwrap();
        assert!(postcard::from_bytes::<ByteQueue>(&bad).is_err());
    }
}
