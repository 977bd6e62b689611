//! Where the NAPI poll puts what it takes off the RX ring ([`RxSink`]): each frame is offered
//! while it is still in its DMA buffers ([`RxFrame`]), so the receiver decides where its bytes
//! go before the one copy out. [`RxBatch`] keeps every frame whole, as Linux's `netif_receive_skb`
//! would; a GRO engine (Linux calls `napi_gro_receive` from the driver the same way) can look
//! at the headers first and copy a frame that continues a flow straight after the payload of
//! the one before, so merging costs no second copy.

use crate::access::{Dma, DmaError};
use crate::desc::{DESC_SIZE, rxdes0};

use super::RxBatch;

/// Takes the frames a NAPI poll receives, one at a time, in ring order.
pub trait RxSink {
    /// Takes `frame`: copies what it keeps of it (an error is a failed DMA read, which the
    /// driver reports as its own).
    fn take_frame(&mut self, frame: &RxFrame<'_>) -> Result<(), DmaError>;
}

/// One received frame, still in the RX ring's buffers.
pub struct RxFrame<'a> {
    /// Its length (Ethernet header on, FCS off).
    pub len: usize,
    /// The hardware verified its IP and TCP/UDP checksums (RXDES1 PROT ≠ 0, no error).
    pub checksum_ok: bool,
    /// The 802.1Q TCI the MAC stripped (RM_VLAN), if any.
    pub vlan: Option<u16>,
    /// Its descriptors: `count` from slot `first` of the `slots`-long ring at `ring`.
    pub(super) ring: u32,
    pub(super) slots: u32,
    pub(super) first: u32,
    pub(super) count: u32,
    /// The first descriptor's buffer address and byte count, read already by the driver.
    pub(super) head: (u32, u32),
    pub(super) bus: &'a dyn Dma,
}

impl std::fmt::Debug for RxFrame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxFrame")
            .field("len", &self.len)
            .field("checksum_ok", &self.checksum_ok)
            .field("vlan", &self.vlan)
            .field("first", &self.first)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl RxFrame<'_> {
    /// Appends the frame's bytes from offset `from` on to `out`: a copy out of the DMA
    /// buffers (nothing if `from` is past the end).
    pub fn copy_from(&self, from: usize, out: &mut Vec<u8>) -> Result<(), DmaError> {
        self.each_piece(from, usize::MAX, &mut |addr, len| {
            self.bus.read_append(addr, len, out)
        })
    }

    /// Reads the frame's bytes from offset `from` into `buf`, as many as fit or are left;
    /// returns how many (to look at headers before deciding where the frame goes).
    pub fn read(&self, from: usize, buf: &mut [u8]) -> Result<usize, DmaError> {
        let mut at = 0;
        self.each_piece(from, buf.len(), &mut |addr, len| {
            self.bus.read(addr, &mut buf[at..at + len])?;
            at += len;
            Ok(())
        })?;
        Ok(at)
    }

    /// Calls `f` with the bus address and length of each piece of the frame's bytes
    /// `from..from + max` (clamped to the frame), buffer by buffer.
    fn each_piece(
        &self,
        from: usize,
        max: usize,
        f: &mut dyn FnMut(u32, usize) -> Result<(), DmaError>,
    ) -> Result<(), DmaError> {
        let (mut skip, mut left) = (from, max);
        for k in 0..self.count {
            if left == 0 {
                break;
            }
            // The first descriptor as the driver read it; the others from the ring.
            let desc = self.ring + ((self.first + k) & (self.slots - 1)) * DESC_SIZE;
            let len = if k == 0 {
                self.head.1
            } else {
                self.bus.read_u32(desc)? & rxdes0::VDBC_MASK
            } as usize;
            if skip >= len {
                skip -= len;
                continue;
            }
            let buf = if k == 0 {
                self.head.0
            } else {
                self.bus.read_u32(desc + 12)?
            };
            let take = (len - skip).min(left);
            f(buf + skip as u32, take)?;
            left -= take;
            skip = 0;
        }
        Ok(())
    }
}

impl RxSink for RxBatch {
    fn take_frame(&mut self, frame: &RxFrame<'_>) -> Result<(), DmaError> {
        self.frames
            .push_appended(|bytes| frame.copy_from(0, bytes))?;
        self.checksum_ok.push(frame.checksum_ok);
        self.vlan.push(frame.vlan);
        Ok(())
    }
}
