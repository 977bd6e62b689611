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

    fn queue_frame(
        &mut self,
        bus: &dyn Dma,
        now: u64,
        segments: &[&[u8]],
        offload: TxOffload,
    ) -> Result<(), XmitError> {
        if !self.running {
            return Err(XmitError::NotRunning);
        }
        if self.tx_stopped {
            return Err(XmitError::Busy);
        }
        let len: usize = segments.iter().map(|s| s.len()).sum();
        if len > self.max_frame() {
            self.stats.tx_dropped += 1;
            return Err(XmitError::Dropped("longer than the largest frame"));
        }
        let pad = ETH_ZLEN.saturating_sub(len);
        let descs: u32 = segments
            .iter()
            .map(|s| s.len().div_ceil(TX_BUF_SIZE as usize) as u32)
            .sum::<u32>()
            .max(1);
        if descs > TX_THRESHOLD {
            self.stats.tx_dropped += 1;
            return Err(XmitError::Dropped("more segments than a frame may have"));
        }
        if descs > self.tx_avail() {
            // The threshold below keeps this from happening; stop rather than overrun.
            self.stop_queue();
            return Err(XmitError::Busy);
        }

        // The chunks, one per descriptor: every segment cut at TX_BUF_SIZE (a zero-length frame
        // still takes one descriptor, all padding).
        let mut chunks: [&[u8]; TX_THRESHOLD as usize] = [&[]; TX_THRESHOLD as usize];
        let mut count = 0;
        for chunk in segments
            .iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| s.chunks(TX_BUF_SIZE as usize))
        {
            chunks[count] = chunk;
            count += 1;
        }
        let count = count.max(1);

        let n = self.config.tx_ring_size;
        let first = self.tx_pointer;
        let mut slot = first;
        let mut head_w0 = 0;
        let mut written = 0;
        for (i, chunk) in chunks[..count].iter().enumerate() {
            let last = i == count - 1;
            let buf = self.tx_buf_addr(slot);
            bus.write(buf, chunk).map_err(DriverError::from)?;
            let mut chunk_len = chunk.len();
            if last && pad > 0 {
                bus.write(buf + chunk_len as u32, &[0u8; ETH_ZLEN][..pad])
                    .map_err(DriverError::from)?;
                chunk_len += pad;
            }
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
