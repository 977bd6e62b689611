//! `start_xmit` and `tx_complete` (§6.3, §6.5).

use crate::access::{Dma, Mmio};
use crate::desc::{Desc, txdes0, txdes1};
use crate::regs::Reg;
use netstack_wire::Batch;

use super::{
    DriverError, Ftgmac100, MAX_JUMBO_FRAME, RX_BUF_SIZE, TX_BUF_SIZE, TX_THRESHOLD, TxSlot,
};

/// Ethernet's minimum frame without FCS: shorter frames are padded with zeros.
const ETH_ZLEN: usize = 60;

/// What the MAC does to a frame on its way out (TXDES1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// Compute the IPv4 header checksum.
    pub ip_checksum: bool,
    /// Compute the TCP checksum (the field holds the pseudo-header sum, CHECKSUM_PARTIAL).
    pub tcp_checksum: bool,
    /// Compute the UDP checksum (likewise).
    pub udp_checksum: bool,
    /// Insert an 802.1Q tag with this TCI.
    pub vlan: Option<u16>,
}

impl TxOffload {
    fn txdes1(self) -> u32 {
        let mut v = 0;
        if self.ip_checksum {
            v |= txdes1::IP_CHKSUM;
        }
        if self.tcp_checksum {
            v |= txdes1::TCP_CHKSUM;
        }
        if self.udp_checksum {
            v |= txdes1::UDP_CHKSUM;
        }
        if let Some(tci) = self.vlan {
            v |= txdes1::INS_VLANTAG | u32::from(tci);
        }
        v
    }
}

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmitError {
    /// The queue is stopped (ring full): keep the frame and retry when it wakes. Nothing was lost.
    #[error("TX queue stopped")]
    Busy,
    /// The frame was dropped and counted in `tx_dropped`.
    #[error("frame dropped: {0}")]
    Dropped(&'static str),
    /// The interface is down.
    #[error("interface not running")]
    NotRunning,
    /// DMA failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

impl<M: Mmio, D: Dma + Clone> Ftgmac100<M, D> {
    fn tx_avail(&self) -> u32 {
        let n = self.config.tx_ring_size;
        self.tx_clean_pointer
            .wrapping_sub(self.tx_pointer)
            .wrapping_sub(1)
            & (n - 1)
    }

    fn max_frame(&self) -> usize {
        (if self.config.mtu > 1500 {
            MAX_JUMBO_FRAME
        } else {
            RX_BUF_SIZE
        }) as usize
    }

    /// Queues one frame given as segments (Ethernet header included, FCS excluded), each taking
    /// its own descriptors, and kicks the device. `now` stamps the watchdog.
    pub fn start_xmit(
        &mut self,
        now: u64,
        segments: &[&[u8]],
        offload: TxOffload,
    ) -> Result<(), XmitError> {
        let dma = self.dma.clone();
        let mut queued = Ok(());
        dma.burst(&mut |bus| queued = self.queue_frame(bus, now, segments, offload));
        queued?;
        self.mmio.write32(Reg::NPTXPD, 1);
        Ok(())
    }

    /// Queues `frames` in order, each in one segment, until the queue stops, with the
    /// descriptor and buffer writes in one bus burst (the simulated memory's lock taken once,
    /// not four times a frame), then rings the doorbell (NPTXPD) once, so the MAC walks the
    /// ring once per batch instead of once per frame. Linux's ftgmac100 kicks per frame (§6.3
    /// step 9); drivers that batch read `netdev_xmit_more()` the same way. Returns how many
    /// were taken; frames dropped (too long) count as taken: they are gone, and counted in
    /// `tx_dropped`.
    pub fn xmit_batch(
        &mut self,
        now: u64,
        frames: &Batch,
        offload: TxOffload,
    ) -> Result<usize, DriverError> {
        let dma = self.dma.clone();
        let (mut taken, mut queued) = (Ok(0), false);
        // No MMIO inside the burst: the device takes the memory for its own walks.
        dma.burst(&mut |bus| {
            let mut n = 0;
            for frame in frames {
                match self.queue_frame(bus, now, &[frame], offload) {
                    Ok(()) => {
                        n += 1;
                        queued = true;
                    }
                    Err(XmitError::Dropped(_)) => n += 1,
                    Err(XmitError::Busy | XmitError::NotRunning) => break,
                    Err(XmitError::Driver(e)) => {
                        taken = Err(e);
                        return;
                    }
                }
            }
            taken = Ok(n);
        });
        // Even after a DMA error: what was queued before it goes.
        if queued {
            self.mmio.write32(Reg::NPTXPD, 1);
        }
        taken
    }

    /// Whether a frame of `len` bytes taking `descs` descriptors may be queued now.
    fn admit(&mut self, len: usize, descs: u32) -> Result<(), XmitError> {
        if !self.running {
            return Err(XmitError::NotRunning);
        }
        if self.tx_stopped {
            return Err(XmitError::Busy);
        }
        if len > self.max_frame() {
            self.stats.tx_dropped += 1;
            return Err(XmitError::Dropped("longer than the largest frame"));
        }
        if descs > TX_THRESHOLD {
            self.stats.tx_dropped += 1;
            return Err(XmitError::Dropped("more segments than a frame may have"));
        }
        if descs > self.tx_avail() {
            // The threshold below keeps this from happening; stop rather than overrun.
            self.stop_queue();
            return Err(XmitError::Busy);
        }
        Ok(())
    }

    fn queue_frame(
        &mut self,
        bus: &dyn Dma,
        now: u64,
        segments: &[&[u8]],
        offload: TxOffload,
    ) -> Result<(), XmitError> {
        let len: usize = segments.iter().map(|s| s.len()).sum();
        let descs: u32 = segments
            .iter()
            .map(|s| s.len().div_ceil(TX_BUF_SIZE as usize) as u32)
            .sum::<u32>()
            .max(1);
        self.admit(len, descs)?;
        let pad = ETH_ZLEN.saturating_sub(len);

        // The chunks, one per descriptor: every segment cut at TX_BUF_SIZE (a zero-length frame
        // still takes one descriptor, all padding), copied into the slots' own buffers.
        let mut chunks = [(0u32, 0usize); TX_THRESHOLD as usize];
        let mut count = 0;
        let n = self.config.tx_ring_size;
        for chunk in segments
            .iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| s.chunks(TX_BUF_SIZE as usize))
        {
            let buf = self.tx_buf_addr((self.tx_pointer + count as u32) & (n - 1));
            bus.write(buf, chunk).map_err(DriverError::from)?;
            chunks[count] = (buf, chunk.len());
            count += 1;
        }
        if count == 0 {
            chunks[0] = (self.tx_buf_addr(self.tx_pointer), 0);
            count = 1;
        }
        if pad > 0 {
            let (buf, len) = &mut chunks[count - 1];
            bus.write(*buf + *len as u32, &[0u8; ETH_ZLEN][..pad])
                .map_err(DriverError::from)?;
            *len += pad;
        }
        self.publish(bus, now, &chunks[..count], offload)
    }

    /// Queues a frame of `len` bytes the device reads where it lies, at bus address `addr`
    /// (mapped): descriptors only, no copy. `len` is at least a minimum frame (no padding).
    fn queue_mapped(
        &mut self,
        bus: &dyn Dma,
        now: u64,
        addr: u32,
        len: usize,
        offload: TxOffload,
    ) -> Result<(), XmitError> {
        debug_assert!(len >= ETH_ZLEN);
        let descs = len.div_ceil(TX_BUF_SIZE as usize) as u32;
        self.admit(len, descs)?;
        let mut chunks = [(0u32, 0usize); TX_THRESHOLD as usize];
        let mut at = 0;
        for chunk in chunks.iter_mut().take(descs as usize) {
            let piece = (len - at).min(TX_BUF_SIZE as usize);
            *chunk = (addr + at as u32, piece);
            at += piece;
        }
        self.publish(bus, now, &chunks[..descs as usize], offload)?;
        self.stats.tx_mapped += 1;
        Ok(())
    }

    /// Writes the descriptors of one frame, `(buffer address, length)` per descriptor, and
    /// hands the frame to the device.
    fn publish(
        &mut self,
        bus: &dyn Dma,
        now: u64,
        chunks: &[(u32, usize)],
        offload: TxOffload,
    ) -> Result<(), XmitError> {
        let n = self.config.tx_ring_size;
        let first = self.tx_pointer;
        let mut slot = first;
        let mut head_w0 = 0;
        let mut written = 0;
        for (i, &(buf, chunk_len)) in chunks.iter().enumerate() {
            let last = i == chunks.len() - 1;
            written += chunk_len;
            let eor = if slot == n - 1 { txdes0::EDOTR } else { 0 };
            let mut w0 = eor | txdes0::TXDMA_OWN | chunk_len as u32;
            if last {
                w0 |= txdes0::LTS;
            }
            let addr = self.tx_desc_addr(slot);
            if i == 0 {
                // The head's status word is written last, after everything else (§7.1).
                head_w0 = w0 | txdes0::FTS;
                bus.write_u32(addr + 4, offload.txdes1())
                    .map_err(DriverError::from)?;
                bus.write_u32(addr + 12, buf).map_err(DriverError::from)?;
            } else {
                let d = Desc {
                    w0,
                    w1: 0,
                    w2: 0,
                    w3: buf,
                };
                bus.write(addr, &d.to_bytes()).map_err(DriverError::from)?;
            }
            self.tx_slots[slot as usize] = TxSlot {
                frame_len: last.then_some(written as u32),
                queued: false,
            };
            slot = (slot + 1) & (n - 1);
        }
        // dma_wmb, then publish the frame by handing over its first descriptor.
        bus.write_u32(self.tx_desc_addr(first), head_w0)
            .map_err(DriverError::from)?;
        self.tx_pointer = slot;
        self.trans_start = now;
        if self.tx_avail() < TX_THRESHOLD {
            self.stop_queue();
        }
        Ok(())
    }

    /// Takes `frames` to send and keeps them until the device has (Linux's `ndo_start_xmit`
    /// owning the skb until its descriptors come back): the batch is mapped for the device
    /// where the memory can ([`Dma::map`]), so the MAC reads each frame where the stack built
    /// it, and its frames go into the ring as far as it has room, the rest as NAPI reclaims
    /// descriptors; the doorbell rings once. A frame shorter than the minimum is copied (for
    /// its padding), and so is every frame where nothing can be mapped. Frames beyond
    /// [`txqueue::HELD_FRAMES_MAX`] waiting are dropped (`tx_backlog_dropped`); a sent batch
    /// comes back emptied from [`Self::take_sent_batch`].
    pub fn xmit_owned(
        &mut self,
        now: u64,
        frames: Batch,
        offload: TxOffload,
    ) -> Result<(), DriverError> {
        self.clock = self.clock.max(now);
        let dma = self.dma.clone();
        let (mut frames, mut posted) = (Some(frames), Ok(false));
        // No MMIO inside the burst: the device takes the memory for its own walks.
        dma.burst(&mut |bus| {
            if let Some(frames) = frames.take() {
                self.stats.tx_backlog_dropped += self.tx_queue.push(bus, frames, offload) as u64;
            }
            posted = self.post_held(bus);
        });
        // Even after a DMA error: what was queued before it goes.
        if posted? {
            self.mmio.write32(Reg::NPTXPD, 1);
        }
        Ok(())
    }

    /// Posts held frames, oldest first, while the ring has room. Returns whether any went in
    /// (the doorbell is the caller's, outside the burst).
    pub(super) fn post_held(&mut self, bus: &dyn Dma) -> Result<bool, DriverError> {
        let now = self.clock;
        let mut posted = false;
        'batches: for at in 0..self.tx_queue.batches.len() {
            loop {
                let b = &mut self.tx_queue.batches[at];
                let Some(&len) = b.lengths.get(b.next) else {
                    continue 'batches;
                };
                let (len, offset, offload) = (len as usize, b.offset, b.offload);
                let queued = match b.mapped {
                    Some(base) if len >= ETH_ZLEN => {
                        self.queue_mapped(bus, now, base + offset as u32, len, offload)
                    }
                    Some(base) => {
                        // Too short to send as it lies: copied, with the padding after it.
                        let mut short = [0u8; ETH_ZLEN];
                        bus.read(base + offset as u32, &mut short[..len])?;
                        self.queue_frame(bus, now, &[&short[..len]], offload)
                    }
                    None => {
                        let bytes = std::mem::take(&mut b.bytes);
                        let q =
                            self.queue_frame(bus, now, &[&bytes[offset..offset + len]], offload);
                        self.tx_queue.batches[at].bytes = bytes;
                        q
                    }
                };
                match queued {
                    Ok(()) => {
                        let last = self.tx_pointer.wrapping_sub(1) & (self.config.tx_ring_size - 1);
                        self.tx_slots[last as usize].queued = true;
                        self.tx_queue.batches[at].in_flight += 1;
                        posted = true;
                    }
                    // Dropped (too long): gone, and counted.
                    Err(XmitError::Dropped(_)) => {}
                    Err(XmitError::Busy | XmitError::NotRunning) => break 'batches,
                    Err(XmitError::Driver(e)) => return Err(e),
                }
                let b = &mut self.tx_queue.batches[at];
                b.next += 1;
                b.offset += len;
            }
        }
        // A batch whose frames were all dropped is done already.
        self.tx_queue.retire(bus);
        Ok(posted)
    }

    /// An emptied batch whose frames the device sent, to fill again ([`Self::xmit_owned`]).
    pub fn take_sent_batch(&mut self) -> Option<Batch> {
        self.tx_queue.take_sent()
    }

    /// Frames held by [`Self::xmit_owned`] that are not in the ring yet.
    pub fn tx_held(&self) -> usize {
        self.tx_queue.waiting()
    }

    fn stop_queue(&mut self) {
        if !self.tx_stopped {
            self.tx_stopped = true;
            self.stats.tx_queue_stops += 1;
        }
    }

    /// Whether the descriptor at the clean pointer has been sent and can be reclaimed.
    pub(super) fn tx_cleanable(&self, bus: &dyn Dma) -> bool {
        self.tx_pointer != self.tx_clean_pointer
            && bus
                .read_u32(self.tx_desc_addr(self.tx_clean_pointer))
                .is_ok_and(|w0| w0 & txdes0::TXDMA_OWN == 0)
    }

    /// Reclaims sent descriptors and wakes the queue when there is room again.
    pub(super) fn tx_complete(&mut self, bus: &dyn Dma) -> Result<(), DriverError> {
        let n = self.config.tx_ring_size;
        while self.tx_clean_pointer != self.tx_pointer {
            let addr = self.tx_desc_addr(self.tx_clean_pointer);
            let w0 = bus.read_u32(addr)?;
            if w0 & txdes0::TXDMA_OWN != 0 {
                break;
            }
            let slot = &mut self.tx_slots[self.tx_clean_pointer as usize];
            if let Some(len) = slot.frame_len.take() {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += u64::from(len);
                if std::mem::take(&mut slot.queued) {
                    self.tx_queue.reclaimed(bus);
                }
            }
            bus.write_u32(addr, w0 & txdes0::EDOTR)?;
            self.tx_clean_pointer = (self.tx_clean_pointer + 1) & (n - 1);
        }
        if self.tx_stopped && self.tx_avail() >= TX_THRESHOLD {
            self.tx_stopped = false;
            self.stats.tx_queue_wakes += 1;
        }
        Ok(())
    }
}
