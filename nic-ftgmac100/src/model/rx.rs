//! The RX path (`shared/spec/ftgmac100.md` §5.4): filter, size checks, the RX FIFO, and the
//! scatter of a frame over as many RBSR-sized buffers as it needs.
//!
//! Departures from QEMU, as the spec asks of a faithful model:
//! - multi-buffer frames work: every descriptor a frame needs is checked free *before* any is
//!   written, so the ring never holds a frame's FRS without its LRS (§7.3);
//! - a frame that finds no free descriptor raises NO_RXBUF and waits in the RX FIFO, retried by
//!   auto-poll and by register writes (§7.7); when the FIFO is full, arrivals are lost (RPKT_LOST),
//!   unless flow control is on (below);
//! - IEEE 802.3x flow control: with FCR.FCTHR_EN set and a link partner that honours pause
//!   frames (it advertised pause), a full RX FIFO makes the MAC pause its partner instead of
//!   losing what arrives: the frame is refused and stays with the partner (the cable holds it
//!   and offers it again), as a real partner holds its frames for the pause time. The pause
//!   frame itself is not put on the wire, nor is its time counted: the partner resumes as soon
//!   as the MAC takes frames again (the MAC would send a zero-time pause then);
//! - RXDES1 carries PROT and checksum errors verified by the model (§7.10);
//! - no FCS is appended, and VDBC counts exactly the bytes written (after stripping a tag).

use netstack_wire::EthernetAddress;

use crate::access::Dma;
use crate::desc::{Desc, rxdes0, rxdes1};
use crate::regs::{fcr, int, maccr};

use super::State;
use super::filter::accepts;
use super::offload::rx_checksum_status;

/// The largest frame without JUMBO_LF, FCS included.
const MAX_FRAME: usize = 1518;
/// The largest frame with JUMBO_LF, FCS included.
const MAX_JUMBO_FRAME: usize = 9216;
/// An Ethernet FCS: counted against the size limits though the wire here carries none.
const FCS_LEN: usize = 4;
/// Frames shorter than this (without FCS) are runts.
const MIN_FRAME: usize = 60;

/// A frame as it will land in memory: one or two pieces (the tag cut out with RM_VLAN).
struct Scatter<'a> {
    head: &'a [u8],
    tail: &'a [u8],
}

impl Scatter<'_> {
    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// Writes bytes `at..at + len` of the frame to `addr`.
    fn write_to<D: Dma + ?Sized>(&self, dma: &D, addr: u32, at: usize, len: usize) -> bool {
        let end = at + len;
        let h = self.head.len();
        let mut ok = true;
        if at < h {
            ok &= dma.write(addr, &self.head[at..end.min(h)]).is_ok();
        }
        if end > h {
            let from = at.max(h);
            ok &= dma
                .write(addr + (from - at) as u32, &self.tail[from - h..end - h])
                .is_ok();
        }
        ok
    }
}

impl State {
    fn next_rx(&self, addr: u32, desc: &Desc) -> u32 {
        if desc.w0 & rxdes0::EDORR != 0 {
            self.regs.rxr_badr
        } else {
            addr.wrapping_add(self.rx_stride())
        }
    }

    /// Whether the MAC pauses its link partner when its RX FIFO is full (802.3x): it sends
    /// pause frames past the RX threshold (FCR.FCTHR_EN, which Linux sets when pause was
    /// negotiated) and the partner honours them.
    fn pauses_partner(&self) -> bool {
        self.regs.fcr & fcr::FCTHR_EN != 0 && self.phy.partner_pauses()
    }

    /// A frame from the wire. False when the MAC refused it under flow control (the partner
    /// keeps it); true when it was taken: written, waiting in the FIFO, filtered or lost.
    pub(super) fn receive<D: Dma + ?Sized>(&mut self, dma: &D, frame: &[u8]) -> bool {
        if !self.rx_enabled() || frame.len() < 14 {
            self.counters.rx_disabled += 1;
            return true;
        }
        let r = &self.regs;
        if !accepts(r.maccr, r.mac, r.maht, EthernetAddress::from_bytes(frame)) {
            self.counters.rx_filtered += 1;
            return true;
        }
        if self.rx_fifo.is_empty() && self.deliver(dma, frame) {
            self.regs.isr |= int::RPKT_FIFO;
            return true;
        }
        if self.rx_fifo_bytes + frame.len() > self.rx_fifo_capacity {
            if self.pauses_partner() {
                self.counters.rx_paused += 1;
                return false;
            }
            self.regs.isr |= int::RPKT_FIFO | int::RPKT_LOST;
            self.counters.rx_lost += 1;
            return true;
        }
        self.regs.isr |= int::RPKT_FIFO;
        self.rx_fifo_bytes += frame.len();
        self.rx_fifo.push_back(frame.to_vec());
        true
    }

    /// Moves waiting frames into the ring while descriptors are free.
    pub(super) fn drain_rx_fifo<D: Dma + ?Sized>(&mut self, dma: &D) {
        while let Some(frame) = self.rx_fifo.pop_front() {
            if !self.rx_enabled() || !self.deliver(dma, &frame) {
                self.rx_fifo.push_front(frame);
                return;
            }
            self.rx_fifo_bytes -= frame.len();
        }
    }

    /// Writes one frame into the ring. False, with NO_RXBUF, when the descriptors it needs are
    /// not all free; true when the frame was written or had to be dropped.
    fn deliver<D: Dma + ?Sized>(&mut self, dma: &D, frame: &[u8]) -> bool {
        let m = self.regs.maccr;
        let tagged = frame.len() >= 18 && frame[12..14] == [0x81, 0x00];
        let max = if m & maccr::JUMBO_LF != 0 {
            MAX_JUMBO_FRAME
        } else {
            MAX_FRAME
        } + if tagged { 4 } else { 0 };
        let mut flags = 0;
        let mut frame = frame;
        if frame.len() + FCS_LEN > max {
            frame = &frame[..max - FCS_LEN];
            flags |= rxdes0::FTL;
        }
        if frame.len() < MIN_FRAME {
            if m & maccr::RX_RUNT == 0 {
                self.counters.rx_filtered += 1;
                return true;
            }
            flags |= rxdes0::RUNT;
        }
        let dst = EthernetAddress::from_bytes(frame);
        if dst.is_broadcast() {
            flags |= rxdes0::BROADCAST;
        } else if dst.is_multicast() {
            flags |= rxdes0::MULTICAST;
        }
        let mut rxdes1 = rx_checksum_status(frame);
        let scatter = if tagged {
            rxdes1 |= u32::from(u16::from_be_bytes([frame[14], frame[15]])) | rxdes1::VLANTAG_AVAIL;
            if m & maccr::RM_VLAN != 0 {
                Scatter {
                    head: &frame[..12],
                    tail: &frame[16..],
                }
            } else {
                Scatter {
                    head: frame,
                    tail: &[],
                }
            }
        } else {
            Scatter {
                head: frame,
                tail: &[],
            }
        };

        let rbsr = self.regs.rbsr as usize;
        if rbsr == 0 {
            self.regs.isr |= int::NO_RXBUF;
            self.counters.rx_no_buffer += 1;
            return false;
        }
        let needed = scatter.len().div_ceil(rbsr);
        let mut descs = std::mem::take(&mut self.rx_descs);
        descs.clear();
        let written = self.write_frame(dma, &scatter, needed, flags, rxdes1, &mut descs);
        self.rx_descs = descs;
        written
    }

    /// [`Self::deliver`]'s writes: the frame through the `needed` descriptors from `rx_cur`
    /// (`descs`: an empty scratch list). False when they are not all free.
    fn write_frame<D: Dma + ?Sized>(
        &mut self,
        dma: &D,
        scatter: &Scatter<'_>,
        needed: usize,
        flags: u32,
        rxdes1: u32,
        descs: &mut Vec<(u32, Desc)>,
    ) -> bool {
        let rbsr = self.regs.rbsr as usize;
        // Check every descriptor the frame needs before writing any.
        let mut addr = self.rx_cur;
        for _ in 0..needed {
            let mut b = [0u8; 16];
            if self.take_ahb_fault(addr) || dma.read(addr, &mut b).is_err() {
                self.regs.isr |= int::AHB_ERR;
                self.counters.ahb_errors += 1;
                return true;
            }
            let desc = Desc::from_bytes(&b);
            if desc.w0 & rxdes0::RXPKT_RDY != 0 {
                self.regs.isr |= int::NO_RXBUF;
                self.counters.rx_no_buffer += 1;
                return false;
            }
            descs.push((addr, desc));
            addr = self.next_rx(addr, &desc);
        }

        let mut at = 0;
        let last = descs.len() - 1;
        for (i, (a, desc)) in descs.iter().enumerate() {
            let chunk = rbsr.min(scatter.len() - at);
            if !scatter.write_to(dma, desc.w3, at, chunk) {
                self.regs.isr |= int::AHB_ERR;
                self.counters.ahb_errors += 1;
                return true;
            }
            at += chunk;
            // The device ORs its status in (§4) and owns only what it sets.
            let mut w0 = desc.w0 | chunk as u32 | rxdes0::RXPKT_RDY;
            if i == 0 {
                w0 |= rxdes0::FRS;
            }
            if i == last {
                w0 |= flags | rxdes0::LRS;
            }
            let back = Desc {
                w0,
                w1: if i == 0 { rxdes1 } else { 0 },
                ..*desc
            };
            if dma.write(*a, &back.to_bytes()).is_err() {
                self.regs.isr |= int::AHB_ERR;
                self.counters.ahb_errors += 1;
                return true;
            }
        }
        self.rx_cur = addr;
        self.regs.isr |= int::RPKT_BUF;
        self.counters.rx_frames += 1;
        self.counters.rx_bytes += scatter.len() as u64;
        true
    }
}
