//! The batches of frames the driver holds between [`Ftgmac100::xmit_owned`] and the device
//! having sent them: Linux's driver keeps each skb, mapped with `dma_map_single`, until its
//! descriptors come back (§6.3, §6.5); this keeps a whole batch mapped, its frames posted as
//! the ring has room, until the last one is reclaimed. Batches go out in order, and so come
//! back.
//!
//! [`Ftgmac100::xmit_owned`]: super::Ftgmac100::xmit_owned

use std::collections::VecDeque;

use netstack_wire::Batch;

use crate::access::Dma;

use super::TxOffload;

/// Frames held and not yet in the ring, at most: past this a batch's tail is dropped (the
/// ring has stayed full for a long time), as a full qdisc drops.
pub(super) const HELD_FRAMES_MAX: usize = 4096;

/// One batch.
#[derive(Debug)]
pub(super) struct TxBatch {
    /// The bus address the batch's bytes are mapped at; `None`: this memory cannot map them,
    /// they are `bytes` and the driver copies each frame into its own buffers.
    pub(super) mapped: Option<u32>,
    pub(super) bytes: Vec<u8>,
    pub(super) lengths: Vec<u32>,
    pub(super) offload: TxOffload,
    /// The next frame to post, and where its bytes start.
    pub(super) next: usize,
    pub(super) offset: usize,
    /// Frames posted and not reclaimed yet.
    pub(super) in_flight: usize,
}

impl TxBatch {
    /// Every frame posted, every one reclaimed.
    fn done(&self) -> bool {
        self.next == self.lengths.len() && self.in_flight == 0
    }
}

/// The held batches, oldest first, and emptied ones to give back.
#[derive(Debug, Default)]
pub(super) struct TxQueue {
    pub(super) batches: VecDeque<TxBatch>,
    /// Finished batches, emptied, for the stack to fill again (a couple are enough).
    sent: Vec<Batch>,
}

impl TxQueue {
    /// Frames held and not yet posted.
    pub(super) fn waiting(&self) -> usize {
        self.batches.iter().map(|b| b.lengths.len() - b.next).sum()
    }

    /// Takes `frames`, mapped through `dma` if it can. Returns how many of them were dropped
    /// for lack of room.
    pub(super) fn push(&mut self, dma: &dyn Dma, frames: Batch, offload: TxOffload) -> usize {
        let room = HELD_FRAMES_MAX.saturating_sub(self.waiting());
        let (mut bytes, mut lengths) = frames.into_parts();
        let dropped = lengths.len().saturating_sub(room);
        if dropped > 0 {
            lengths.truncate(room);
            bytes.truncate(lengths.iter().map(|&l| l as usize).sum());
        }
        if lengths.is_empty() {
            self.give_back(bytes, lengths);
            return dropped;
        }
        let (mapped, bytes) = match dma.map(bytes) {
            Ok(addr) => (Some(addr), Vec::new()),
            Err(bytes) => (None, bytes),
        };
        self.batches.push_back(TxBatch {
            mapped,
            bytes,
            lengths,
            offload,
            next: 0,
            offset: 0,
            in_flight: 0,
        });
        dropped
    }

    /// A frame of the oldest batch with frames in flight was reclaimed; batches all sent are
    /// unmapped and kept for [`Self::take_sent`].
    pub(super) fn reclaimed(&mut self, dma: &dyn Dma) {
        if let Some(b) = self.batches.iter_mut().find(|b| b.in_flight > 0) {
            b.in_flight -= 1;
        }
        self.retire(dma);
    }

    /// Unmaps and empties the finished batches at the front.
    pub(super) fn retire(&mut self, dma: &dyn Dma) {
        while self.batches.front().is_some_and(TxBatch::done) {
            let b = self.batches.pop_front().expect("front");
            let bytes = match b.mapped {
                Some(addr) => dma.unmap(addr).unwrap_or_default(),
                None => b.bytes,
            };
            self.give_back(bytes, b.lengths);
        }
    }

    fn give_back(&mut self, mut bytes: Vec<u8>, mut lengths: Vec<u32>) {
        if self.sent.len() < 2 {
            bytes.clear();
            lengths.clear();
            self.sent
                .push(Batch::from_parts(bytes, lengths).expect("empty is consistent"));
        }
    }

    /// An emptied batch whose frames were sent, to fill again (its allocation kept).
    pub(super) fn take_sent(&mut self) -> Option<Batch> {
        self.sent.pop()
    }

    /// Drops everything held (a reset or stop); returns how many frames were not posted.
    pub(super) fn drop_all(&mut self, dma: &dyn Dma) -> usize {
        let unposted = self.waiting();
        for b in &mut self.batches {
            b.next = b.lengths.len();
            b.in_flight = 0;
        }
        self.retire(dma);
        unposted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::DmaError;
    use crate::dma::{SDRAM_BASE, SimDma};

    /// Memory that cannot map host buffers (like the `uio` backend).
    struct NoMapping;

    impl Dma for NoMapping {
        fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
            Err(DmaError {
                addr,
                len: buf.len(),
            })
        }
        fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError> {
            Err(DmaError {
                addr,
                len: data.len(),
            })
        }
        fn burst(&self, f: &mut dyn FnMut(&dyn Dma)) {
            f(self)
        }
    }

    fn frames(n: usize, len: usize) -> Batch {
        let mut b = Batch::new();
        for i in 0..n {
            b.push(&vec![i as u8; len]);
        }
        b
    }

    #[test]
    fn without_mapping_the_bytes_stay_with_the_batch() {
        let mut q = TxQueue::default();
        assert_eq!(q.push(&NoMapping, frames(3, 100), TxOffload::default()), 0);
        let b = &q.batches[0];
        assert_eq!((b.mapped, b.bytes.len(), q.waiting()), (None, 300, 3));
    }

    #[test]
    fn a_full_queue_drops_the_newest_and_finished_batches_come_back_emptied() {
        let dma = SimDma::new(SDRAM_BASE, 64);
        let mut q = TxQueue::default();
        assert_eq!(
            q.push(&dma, frames(HELD_FRAMES_MAX - 2, 60), TxOffload::default()),
            0
        );
        assert_eq!(
            q.push(&dma, frames(5, 70), TxOffload::default()),
            3,
            "room for two"
        );
        assert_eq!(q.waiting(), HELD_FRAMES_MAX);
        assert_eq!((q.batches[1].lengths.len(), dma.mapped()), (2, 2));
        assert_eq!(
            dma.read_u32(q.batches[1].mapped.unwrap() + 137).ok(),
            None,
            "cut to 2 frames"
        );
        // Both posted and reclaimed: unmapped, given back in the order they finish.
        for b in &mut q.batches {
            b.in_flight = b.lengths.len();
            b.next = b.lengths.len();
        }
        for _ in 0..HELD_FRAMES_MAX {
            q.reclaimed(&dma);
        }
        assert!(q.batches.is_empty());
        assert_eq!(dma.mapped(), 0);
        let back = q.take_sent().unwrap();
        assert!(back.is_empty() && back.byte_capacity() >= 140);
    }
}
