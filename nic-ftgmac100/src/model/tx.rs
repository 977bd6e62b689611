//! The TX walk (`shared/spec/ftgmac100.md` §5.3), run on each NPTXPD write.
//!
//! One departure from QEMU, as §5.3's caveat and §7.1 ask: a frame's FTS..LTS chain is checked to
//! be wholly owned by the device before any of it is consumed, so a chain the driver is still
//! publishing is left alone (NO_NPTXBUF) and picked up whole by the next poll demand.

use crate::access::Dma;
use crate::desc::{Desc, txdes0, txdes1};
use crate::regs::int;

use super::State;
use super::offload::insert_tx_checksums;

/// QEMU's TX frame buffer: a longer frame is lost (XPKT_LOST).
pub(super) const TX_FIFO_BYTES: usize = 9220;
/// The most descriptors one frame may span (Linux's largest ring).
const MAX_CHAIN: usize = 1024;

impl State {
    fn next_tx(&self, addr: u32, desc: &Desc) -> u32 {
        if desc.w0 & txdes0::EDOTR != 0 {
            self.regs.nptxr_badr
        } else {
            addr.wrapping_add(self.tx_stride())
        }
    }

    fn read_desc<D: Dma + ?Sized>(&mut self, dma: &D, addr: u32) -> Option<Desc> {
        let mut b = [0u8; 16];
        if self.take_ahb_fault(addr) || dma.read(addr, &mut b).is_err() {
            self.regs.isr |= int::AHB_ERR;
            self.counters.ahb_errors += 1;
            return None;
        }
        Some(Desc::from_bytes(&b))
    }

    /// Sends every frame whose whole descriptor chain the device owns, in ring order.
    pub(super) fn tx_walk<D: Dma + ?Sized>(&mut self, dma: &D) {
        let mut chain: Vec<(u32, Desc)> = Vec::new();
        loop {
            // Find the frame's chain without consuming anything.
            chain.clear();
            let mut addr = self.tx_cur;
            loop {
                let Some(desc) = self.read_desc(dma, addr) else {
                    return;
                };
                if desc.w0 & txdes0::TXDMA_OWN == 0 {
                    self.regs.isr |= int::NO_NPTXBUF;
                    return;
                }
                chain.push((addr, desc));
                addr = self.next_tx(addr, &desc);
                if desc.w0 & txdes0::LTS != 0 {
                    break;
                }
                if chain.len() == MAX_CHAIN {
                    // No LTS in a whole ring's worth: a driver bug. Drop what was found.
                    break;
                }
            }
            let complete = chain.last().is_some_and(|(_, d)| d.w0 & txdes0::LTS != 0);

            // Gather, straight into the batch of transmitted frames (the wire takes them from
            // there). TXDES1 is latched from the first descriptor (§3).
            let flags = chain[0].1.w1;
            let mut too_long = !complete;
            let gathered = self.transmitted.push_appended(|bytes| {
                let start = bytes.len();
                for (_, desc) in &chain {
                    let len = (desc.w0 & txdes0::BUF_SIZE_MASK) as usize;
                    if bytes.len() - start + len > TX_FIFO_BYTES {
                        too_long = true;
                        continue;
                    }
                    dma.read_append(desc.w3, len, bytes)?;
                }
                Ok::<(), crate::access::DmaError>(())
            });
            if gathered.is_err() {
                // §5.3 step 4: the descriptor keeps OWN and tx_cur stays on the frame.
                self.regs.isr |= int::AHB_ERR;
                self.counters.ahb_errors += 1;
                return;
            }

            if too_long {
                self.transmitted.pop();
                self.regs.isr |= int::XPKT_LOST;
                self.counters.tx_dropped += 1;
            } else {
                let frame = self.transmitted.last_mut().expect("just gathered");
                if flags & txdes1::INS_VLANTAG != 0
                    && frame.len() >= 14
                    && frame[12..14] != [0x81, 0x00]
                {
                    let tci = (flags & txdes1::VLANTAG_CI_MASK) as u16;
                    let tag = [0x81, 0x00, (tci >> 8) as u8, tci as u8];
                    let mut tagged = frame.to_vec();
                    tagged.splice(12..12, tag);
                    self.transmitted.pop();
                    self.transmitted.push(&tagged);
                }
                let frame = self.transmitted.last_mut().expect("just gathered");
                insert_tx_checksums(frame, flags);
                let len = frame.len() as u64;
                if self.phy.link_up() {
                    self.counters.tx_frames += 1;
                    self.counters.tx_bytes += len;
                } else {
                    self.transmitted.pop();
                    self.counters.tx_dropped += 1;
                }
                // Raised for every frame, TXIC or not (§7.9): Linux reclaims on it.
                self.regs.isr |= int::XPKT_ETH;
            }
            if flags & txdes1::TX2FIC != 0 {
                self.regs.isr |= int::XPKT_FIFO;
            }

            // Hand the descriptors back: OWN cleared, everything else (EDOTR too) kept.
            for (a, desc) in &chain {
                let back = Desc {
                    w0: desc.w0 & !txdes0::TXDMA_OWN,
                    ..*desc
                };
                if dma.write(*a, &back.to_bytes()).is_err() {
                    self.regs.isr |= int::AHB_ERR;
                    self.counters.ahb_errors += 1;
                    return;
                }
            }
            self.tx_cur = addr;
        }
    }
}
