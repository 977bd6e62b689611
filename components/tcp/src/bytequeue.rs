//! A byte queue that is cheap at both ends: bytes are appended at the back and consumed from the
//! front by moving a head index, and the buffer is compacted only once the consumed part is the
//! larger half. A send buffer drops acknowledged bytes on every ACK; with a `Vec` that is a
//! memmove of everything still queued (up to the whole buffer) each time.

use std::ops::Deref;

/// The queue; it reads as the slice of bytes not yet consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ByteQueue {
    buf: Vec<u8>,
    head: usize,
}

impl ByteQueue {
    /// Appends bytes.
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Drops the first `n` bytes.
    ///
    /// # Panics
    /// If fewer than `n` bytes are queued.
    pub(crate) fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consume {n} of {} bytes", self.len());
        self.head += n;
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head > self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }
}

impl Deref for ByteQueue {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.head..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_from_the_front_and_keeps_order() {
        let mut q = ByteQueue::default();
        q.extend_from_slice(b"hello world");
        q.consume(6);
        assert_eq!(&*q, b"world");
        q.extend_from_slice(b"!");
        q.consume(2);
        assert_eq!(&*q, b"rld!");
        q.consume(4);
        assert!(q.is_empty());
    }
}
