//! The interrupt handler, NAPI poll and RX (§6.4, §6.5).

use crate::access::{Dma, Mmio};
use crate::desc::{Desc, rxdes0, rxdes1};
use crate::regs::{Reg, int};

use super::{DriverError, Ftgmac100, RxFrame, RxSink};

/// What the RX ring held at the software pointer.
enum Rx {
    /// Nothing (yet).
    Empty,
    /// A frame was handed up.
    Delivered,
    /// A frame was dropped and its descriptors re-armed.
    Dropped,
}

impl<M: Mmio, D: Dma + Clone> Ftgmac100<M, D> {
    /// The interrupt handler (§6.4): read and acknowledge ISR, count the bad events, narrow IER
    /// to them and schedule NAPI. Returns whether the interrupt was ours.
    pub fn interrupt(&mut self) -> bool {
        let status = self.mmio.read32(Reg::ISR);
        if status == 0 {
            return false;
        }
        self.mmio.write32(Reg::ISR, status);
        self.stats.interrupts += 1;
        let mut keep = int::BAD;
        if status & int::BAD != 0 {
            if status & int::NO_RXBUF != 0 {
                self.stats.rx_over_errors += 1;
            }
            if status & int::RPKT_LOST != 0 {
                self.stats.rx_fifo_errors += 1;
            }
            if status & int::XPKT_LOST != 0 {
                self.stats.tx_fifo_errors += 1;
            }
            if status & int::AHB_ERR != 0 {
                self.stats.ahb_errors += 1;
                self.mmio.write32(Reg::IER, 0);
                self.reset_pending = true;
                return true;
            }
            // Restart the MAC from NAPI; until then these stay masked so they do not storm.
            self.need_mac_restart = true;
            keep &= !status;
        }
        self.mmio.write32(Reg::IER, keep);
        self.napi_scheduled = true;
        true
    }

    /// One NAPI poll (§6.5): reclaim TX, receive up to `budget` frames into `out`, and when done,
    /// acknowledge RXTX, re-check the rings and only then unmask. Returns the work done; a return
    /// of `budget` means "poll again".
    pub fn napi_poll(&mut self, budget: usize, out: &mut dyn RxSink) -> Result<usize, DriverError> {
        self.stats.napi_polls += 1;
        // The rings' walk is one bus burst (the simulated memory's lock taken once, not about
        // eight times a frame); no MMIO inside it, the device takes the memory for its own.
        let dma = self.dma.clone();
        let (mut walked, mut posted) = (Ok(0), Ok(false));
        dma.burst(&mut |bus| {
            walked = self.walk_rings(bus, budget, out);
            // What the reclaim made room for: held frames go into the ring.
            if walked.is_ok() && self.tx_held() > 0 {
                posted = self.post_held(bus);
            }
        });
        let mut work = walked?;
        if posted? {
            self.mmio.write32(Reg::NPTXPD, 1);
        }
        if self.need_mac_restart {
            self.start_hw();
            self.need_mac_restart = false;
            self.mmio.write32(Reg::IER, int::BAD);
        }
        if self.tx_cleanable(&dma) {
            work = budget;
        }
        if work < budget {
            // Acknowledge, then look again: a frame that landed after the last look but before
            // the ack would otherwise wait for an interrupt that was just cleared (§7.5).
            self.mmio.write32(Reg::ISR, int::RXTX);
            let _ = self.mmio.read32(Reg::ISR);
            if self.rx_ready(&dma)? || self.tx_cleanable(&dma) {
                return Ok(budget);
            }
            self.napi_scheduled = false;
            self.mmio.write32(Reg::IER, int::ALL);
        }
        Ok(work)
    }

    /// Reclaims sent descriptors, then receives up to `budget` frames into `out`.
    fn walk_rings(
        &mut self,
        bus: &dyn Dma,
        budget: usize,
        out: &mut dyn RxSink,
    ) -> Result<usize, DriverError> {
        if self.tx_pointer != self.tx_clean_pointer {
            self.tx_complete(bus)?;
        }
        let mut work = 0;
        while work < budget {
            match self.rx_packet(bus, out)? {
                Rx::Delivered => work += 1,
                Rx::Dropped => {}
                Rx::Empty => break,
            }
        }
        Ok(work)
    }

    fn rx_status(&self, bus: &dyn Dma, slot: u32) -> Result<u32, DriverError> {
        Ok(bus.read_u32(self.rx_desc_addr(slot))?)
    }

    fn rx_ready(&self, bus: &dyn Dma) -> Result<bool, DriverError> {
        Ok(self.rx_status(bus, self.rx_pointer)? & rxdes0::RXPKT_RDY != 0)
    }

    /// Hands `count` descriptors from the software pointer back to the device: RXDES0 cleared
    /// but for EDORR (§7.4), the buffer address kept. `first_w0` is the first one's status
    /// word, which the caller has read (the device writes nothing more to a descriptor once it
    /// set RXPKT_RDY, so it is still what is there).
    fn rx_rearm(&mut self, bus: &dyn Dma, count: u32, first_w0: u32) -> Result<(), DriverError> {
        let n = self.config.rx_ring_size;
        for k in 0..count {
            let addr = self.rx_desc_addr(self.rx_pointer);
            let w0 = if k == 0 {
                first_w0
            } else {
                bus.read_u32(addr)?
            };
            bus.write_u32(addr, w0 & rxdes0::EDORR)?;
            self.rx_pointer = (self.rx_pointer + 1) & (n - 1);
        }
        Ok(())
    }

    /// `rx_packet`, with multi-buffer frames reassembled. The first descriptor is read once,
    /// whole (the common frame has only it); the others' status words one by one.
    fn rx_packet(&mut self, bus: &dyn Dma, out: &mut dyn RxSink) -> Result<Rx, DriverError> {
        let n = self.config.rx_ring_size;
        let mut bytes = [0u8; 16];
        bus.read(self.rx_desc_addr(self.rx_pointer), &mut bytes)?;
        let first = Desc::from_bytes(&bytes);
        let first_w0 = first.w0;
        if first_w0 & rxdes0::RXPKT_RDY == 0 {
            return Ok(Rx::Empty);
        }
        if first_w0 & rxdes0::FRS == 0 {
            // A middle of a frame at our pointer: the rings disagree (§7.3). Drop and move on.
            self.stats.rx_dropped += 1;
            self.rx_rearm(bus, 1, first_w0)?;
            return Ok(Rx::Dropped);
        }
        // Find the frame's last descriptor; all of it must be ready before any is taken.
        let mut count = 1;
        let mut last_w0 = first_w0;
        let mut size = first_w0 & rxdes0::VDBC_MASK;
        while last_w0 & rxdes0::LRS == 0 {
            if count == n {
                self.stats.rx_dropped += 1;
                self.rx_rearm(bus, 1, first_w0)?;
                return Ok(Rx::Dropped);
            }
            let w0 = self.rx_status(bus, (self.rx_pointer + count) & (n - 1))?;
            if w0 & rxdes0::RXPKT_RDY == 0 {
                return Ok(Rx::Empty);
            }
            if w0 & rxdes0::FRS != 0 {
                // A new frame began before this one ended: drop the broken head.
                self.stats.rx_dropped += 1;
                self.rx_rearm(bus, count, first_w0)?;
                return Ok(Rx::Dropped);
            }
            last_w0 = w0;
            size += w0 & rxdes0::VDBC_MASK;
            count += 1;
        }
        let csum_vlan = first.w1;

        let mut errors = last_w0 & rxdes0::ERRORS;
        // A tagged frame that was 64 bytes on the wire is a runt once its tag is stripped.
        if errors == rxdes0::RUNT && csum_vlan & rxdes1::VLANTAG_AVAIL != 0 && size >= 60 {
            errors = 0;
        }
        if errors != 0 {
            if errors & rxdes0::RX_ERR != 0 {
                self.stats.rx_errors += 1;
            }
            if errors & rxdes0::CRC_ERR != 0 {
                self.stats.rx_crc_errors += 1;
            }
            if errors & (rxdes0::FTL | rxdes0::RUNT | rxdes0::RX_ODD_NB) != 0 {
                self.stats.rx_length_errors += 1;
            }
            self.stats.rx_dropped += 1;
            self.rx_rearm(bus, count, first_w0)?;
            return Ok(Rx::Dropped);
        }
        if last_w0 & rxdes0::MULTICAST != 0 {
            self.stats.multicast += 1;
        }

        // Offer the frame where it lies: the sink copies it out (the one copy on the way up).
        let prot = (csum_vlan >> rxdes1::PROT_SHIFT) & rxdes1::PROT_MASK;
        let frame = RxFrame {
            len: size as usize,
            checksum_ok: prot != 0 && csum_vlan & rxdes1::CHKSUM_ERRORS == 0,
            vlan: (csum_vlan & rxdes1::VLANTAG_AVAIL != 0)
                .then_some((csum_vlan & rxdes1::VLAN_TCI_MASK) as u16),
            ring: self.layout.rx_ring,
            slots: n,
            first: self.rx_pointer,
            count,
            head: (first.w3, first_w0 & rxdes0::VDBC_MASK),
            bus,
        };
        out.take_frame(&frame)?;
        self.rx_rearm(bus, count, first_w0)?;
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += u64::from(size);
        Ok(Rx::Delivered)
    }
}
