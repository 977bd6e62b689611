//! The TX walk (`shared/spec/ftgmac100.md` §5.3), run on each NPTXPD write.
//!
//! One departure from QEMU, as §5.3's caveat and §7.1 ask: a frame's FTS..LTS chain is checked to
//! be wholly owned by the device before any of it is consumed, so a chain the driver is still
//! publishing is left alone (NO_NPTXBUF) and picked up whole by the next poll demand.

use crate::access::Dma;
use crate::desc::{Desc, txdes0, txdes1};
use crate::regs::int;
use netstack_wire::Batch;

use super::State;
use super::offload::insert_tx_checksums;

/// QEMU's TX frame buffer: a longer frame is lost (XPKT_LOST).
pub(super) const TX_FIFO_BYTES: usize = 9220;
/// The most descriptors one frame may span (Linux's largest ring).
const MAX_CHAIN: usize = 1024;
/// TXDES1 bits that change a frame on its way out: such a frame is gathered, to be changed.
const REWRITES: u32 =
    txdes1::INS_VLANTAG | txdes1::IP_CHKSUM | txdes1::TCP_CHKSUM | txdes1::UDP_CHKSUM;

/// Frames of one TX walk that lie one after another in a buffer the driver mapped (each in
/// descriptors whose buffers follow each other), not yet gathered: where they start, the
/// mapping's bus address and length, and each frame's length. When the walk has sent the whole mapping (a batch the stack
/// built, as it is), the buffer itself goes to the wire ([`Dma::exchange_mapped`]) instead of
/// every byte being copied out of it; otherwise they are gathered at the walk's end. Nothing
/// can change the bytes in between: the walk holds the memory (one burst) until it is done.
#[derive(Debug, Default)]
pub(super) struct TxRun {
    start: u32,
    mapping: (u32, usize),
    bytes: usize,
    lengths: Vec<u32>,
}

impl TxRun {
    /// Takes the frame at `addr..addr + len` if it continues the run, or starts a new one with
    /// it when the run is empty and it lies in a mapping.
    fn take(&mut self, dma: &(impl Dma + ?Sized), addr: u32, len: usize) -> bool {
        if self.lengths.is_empty() {
            let Some(mapping) = dma.mapping(addr, len) else {
                return false;
            };
            (self.start, self.mapping, self.bytes) = (addr, mapping, 0);
        } else {
            let at = self.start as usize + self.bytes;
            let end = self.mapping.0 as usize + self.mapping.1;
            if addr as usize != at || at + len > end {
                return false;
            }
        }
        self.bytes += len;
        self.lengths.push(len as u32);
        true
    }

    /// Whether the run is the whole mapping, from its first byte to its last.
    fn is_whole_mapping(&self) -> bool {
        (self.start, self.bytes) == self.mapping
    }
}

/// Where a frame's bytes start and how many there are, when its descriptors' buffers lie one
/// after another (a frame longer than a descriptor's buffer, posted where it lies, is cut so).
fn contiguous(chain: &[(u32, Desc)]) -> Option<(u32, usize)> {
    let start = chain[0].1.w3;
    let mut len = 0usize;
    for (_, desc) in chain {
        if desc.w3 != start.wrapping_add(len as u32) {
            return None;
        }
        len += (desc.w0 & txdes0::BUF_SIZE_MASK) as usize;
    }
    Some((start, len))
}

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
        self.walk_frames(dma);
        self.gather_run(dma);
    }

    /// The frames of [`TxRun`] into `transmitted`: handed over whole when they are a whole
    /// mapping and nothing was sent before them, else copied out one by one.
    fn gather_run<D: Dma + ?Sized>(&mut self, dma: &D) {
        let run = &mut self.tx_run;
        if run.lengths.is_empty() {
            return;
        }
        let frames = run.lengths.len() as u64;
        if run.is_whole_mapping() && self.transmitted.is_empty() {
            let (spare, spare_lengths) = std::mem::take(&mut self.transmitted).into_parts();
            match dma.exchange_mapped(run.start, spare) {
                Ok(bytes) => {
                    let lengths = std::mem::replace(&mut run.lengths, spare_lengths);
                    self.transmitted =
                        Batch::from_parts(bytes, lengths).expect("the run's lengths are its bytes");
                    self.counters.tx_frames += frames;
                    self.counters.tx_bytes += run.bytes as u64;
                    self.counters.tx_handed_over += frames;
                    run.bytes = 0;
                    return;
                }
                Err(spare) => {
                    self.transmitted =
                        Batch::from_parts(spare, spare_lengths).expect("both emptied");
                }
            }
        }
        let mut addr = run.start;
        for &len in &run.lengths {
            let len = len as usize;
            let gathered = self
                .transmitted
                .push_appended(|bytes| dma.read_append(addr, len, bytes));
            if gathered.is_ok() {
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += len as u64;
            } else {
                // The walk found these bytes mapped under the same burst: not expected.
                self.regs.isr |= int::AHB_ERR;
                self.counters.ahb_errors += 1;
                self.counters.tx_dropped += 1;
            }
            addr = addr.wrapping_add(len as u32);
        }
        run.lengths.clear();
        run.bytes = 0;
    }

    /// [`Self::tx_walk`]'s frames: each gathered into `transmitted`, or added to the run.
    fn walk_frames<D: Dma + ?Sized>(&mut self, dma: &D) {
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

            let flags = chain[0].1.w1;
            // A frame sent as it lies (no tag or checksum to insert, the link up) may join the
            // run of frames not yet gathered.
            let unchanged = complete && flags & REWRITES == 0 && self.phy.link_up();
            if unchanged
                && let Some((start, len)) = contiguous(&chain)
                && len <= TX_FIFO_BYTES
                && self.tx_run.take(dma, start, len)
            {
                // Sent: counted when gathered or handed over, at the walk's end.
                self.regs.isr |= int::XPKT_ETH;
                if !self.frame_done(dma, &chain, flags, addr) {
                    return;
                }
                continue;
            }
            // Frames are sent in ring order: the run's go before this one.
            self.gather_run(dma);

            // Gather, straight into the batch of transmitted frames (the wire takes them from
            // there). TXDES1 is latched from the first descriptor (§3).
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
            if !self.frame_done(dma, &chain, flags, addr) {
                return;
            }
        }
    }

    /// The end of a frame, sent or dropped: TX2FIC's interrupt, the descriptors handed back
    /// (OWN cleared, everything else, EDOTR too, kept) and the ring pointer on to `next`.
    /// False after an AHB error.
    fn frame_done<D: Dma + ?Sized>(
        &mut self,
        dma: &D,
        chain: &[(u32, Desc)],
        flags: u32,
        next: u32,
    ) -> bool {
        if flags & txdes1::TX2FIC != 0 {
            self.regs.isr |= int::XPKT_FIFO;
        }
        for (a, desc) in chain {
            let back = Desc {
                w0: desc.w0 & !txdes0::TXDMA_OWN,
                ..*desc
            };
            if dma.write(*a, &back.to_bytes()).is_err() {
                self.regs.isr |= int::AHB_ERR;
                self.counters.ahb_errors += 1;
                return false;
            }
        }
        self.tx_cur = next;
        true
    }
}
