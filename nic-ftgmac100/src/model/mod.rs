//! The FTGMAC100 as hardware: a register-accurate device model (`shared/spec/ftgmac100.md` §5),
//! corrected where QEMU's model is not faithful (multi-buffer RX works, RX checksums are verified,
//! a half-published TX chain is never consumed, a full RX ring raises NO_RXBUF and auto-polls).
//!
//! The model is shared: the driver reaches it through [`Mmio`] from any thread, the wire side hands
//! it received frames ([`Ftgmac100Model::receive`]) and takes the transmitted ones
//! ([`Ftgmac100Model::take_transmitted`]), and a timer drives RX auto-poll
//! ([`Ftgmac100Model::poll`]). One lock serialises the device's state; DMA memory has its own, as
//! the bus does. The level-triggered IRQ line is reported through a callback, called outside the
//! lock whenever the line changes.

mod filter;
mod offload;
pub mod phy;
mod rx;
mod tx;

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

pub use filter::{ether_crc_le, multicast_hash_index};
use netstack_wire::{Batch, EthernetAddress};
pub use offload::{insert_tx_checksums, rx_checksum_status};
pub use phy::{LinkPartner, Phy, Speed};

use crate::access::{Dma, Mmio};
use crate::regs::{Reg, maccr, phycr, reset};

/// How the model is built.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The MAC address the firmware left in MADR/LADR (Linux reads it at probe).
    pub mac: EthernetAddress,
    /// The far end of the cable.
    pub partner: LinkPartner,
    /// The RX FIFO, in bytes: frames that find no free descriptor wait here (NO_RXBUF) until
    /// auto-poll or a register write retries them; past it they are lost (RPKT_LOST).
    pub rx_fifo_bytes: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            mac: EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            partner: LinkPartner::default(),
            rx_fifo_bytes: 32 * 1024,
        }
    }
}

/// Faults a test can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next DMA access to the descriptor at this bus address fails with an AHB error.
    AhbErrorAtDescriptor(u32),
    /// TX stops: poll demands are ignored until cleared (the driver's watchdog must reset it).
    TxStall(bool),
}

netstack_wire::counters! {
    /// What the device did, for tests and `ethtool -S`-like reports (`netstack ctl stats`,
    /// group `mac (device model)`).
    pub struct ModelCounters {
        /// Frames sent to the wire.
        tx_frames => "tx-frames",
        /// Bytes sent to the wire.
        tx_bytes => "tx-bytes",
        /// Frames dropped on TX: longer than the TX FIFO (XPKT_LOST) or no link.
        tx_dropped => "tx-dropped",
        /// Frames written to the RX ring.
        rx_frames => "rx-frames",
        /// Bytes written to the RX ring.
        rx_bytes => "rx-bytes",
        /// Frames the address filter rejected.
        rx_filtered => "rx-filtered",
        /// Frames dropped because RX was disabled or the link was down.
        rx_disabled => "rx-disabled",
        /// Times a frame found no free descriptor (NO_RXBUF).
        rx_no_buffer => "rx-no-buffer",
        /// Frames lost because the RX FIFO was full (RPKT_LOST).
        rx_lost => "rx-lost",
        /// Frames refused because the RX FIFO was full, with flow control on: the link partner
        /// was paused and kept them (802.3x; none lost).
        rx_paused => "rx-paused",
        /// AHB errors raised.
        ahb_errors => "ahb-errors",
        /// TX poll demands (NPTXPD writes) that started a walk of the TX ring.
        tx_polls => "tx-polls",
        /// Frames of `tx-frames` that went to the wire in the buffer the driver mapped,
        /// handed over whole instead of copied out (the simulation's DMA by reference, for a
        /// walk that sends every frame of a mapped batch; a real MAC reads them either way).
        tx_handed_over => "tx-handed-over",
    }
}

/// The registers a model keeps.
#[derive(Debug, Clone)]
struct Registers {
    isr: u32,
    ier: u32,
    mac: EthernetAddress,
    maht: [u32; 2],
    nptxr_badr: u32,
    rxr_badr: u32,
    hptxr_badr: u32,
    itc: u32,
    aptc: u32,
    dblac: u32,
    revr: u32,
    fear: u32,
    tpafcr: u32,
    rbsr: u32,
    maccr: u32,
    phycr: u32,
    phydata: u32,
    fcr: u32,
    bpr: u32,
    tm: u32,
}

impl Registers {
    /// Power-on values (§2 "Q reset"); the MAC address is not cleared.
    fn reset(mac: EthernetAddress) -> Registers {
        Registers {
            isr: 0,
            ier: 0,
            mac,
            maht: [0; 2],
            nptxr_badr: 0,
            rxr_badr: 0,
            hptxr_badr: 0,
            itc: 0,
            aptc: reset::APTC,
            dblac: reset::DBLAC,
            revr: 0,
            // [F]: RX and TX FIFO size codes 3 (the AST2500's value is unverified, §8).
            fear: 0x1b,
            tpafcr: reset::TPAFCR,
            rbsr: reset::RBSR,
            maccr: 0,
            phycr: 0,
            phydata: 0,
            fcr: reset::FCR,
            bpr: 0,
            tm: 0,
        }
    }
}

/// The device's state behind its lock.
struct State {
    regs: Registers,
    /// The device's own ring pointers (§7.3: independent of the driver's).
    tx_cur: u32,
    rx_cur: u32,
    phy: Phy,
    /// Frames waiting in the RX FIFO, oldest first.
    rx_fifo: VecDeque<Vec<u8>>,
    rx_fifo_bytes: usize,
    rx_fifo_capacity: usize,
    /// Frames the TX walk sent, until the wire takes them.
    transmitted: Batch,
    /// Frames of the current TX walk not gathered yet (they may be a whole mapped batch).
    tx_run: tx::TxRun,
    /// The descriptors a received frame is written through, kept between frames so that
    /// receiving one allocates nothing.
    rx_descs: Vec<(u32, crate::desc::Desc)>,
    irq_level: bool,
    ahb_error_at: Option<u32>,
    tx_stall: bool,
    counters: ModelCounters,
}

impl State {
    fn tx_stride(&self) -> u32 {
        ((self.regs.dblac >> 16) & 0xf) * 8
    }

    fn rx_stride(&self) -> u32 {
        ((self.regs.dblac >> 12) & 0xf) * 8
    }

    fn rx_enabled(&self) -> bool {
        let m = self.regs.maccr;
        m & maccr::RXDMA_EN != 0 && m & maccr::RXMAC_EN != 0 && self.phy.link_up()
    }

    fn tx_enabled(&self) -> bool {
        let m = self.regs.maccr;
        m & maccr::TXDMA_EN != 0 && m & maccr::TXMAC_EN != 0
    }

    /// Hardware reset (power-on or SW_RST): registers but the MAC address, both ring pointers,
    /// the FIFOs and the PHY's registers.
    fn reset(&mut self) {
        self.regs = Registers::reset(self.regs.mac);
        self.tx_cur = 0;
        self.rx_cur = 0;
        self.rx_fifo.clear();
        self.rx_fifo_bytes = 0;
        self.phy.reset();
    }

    /// A one-shot injected AHB error for the descriptor at `addr`.
    fn take_ahb_fault(&mut self, addr: u32) -> bool {
        if self.ahb_error_at == Some(addr) {
            self.ahb_error_at = None;
            return true;
        }
        false
    }

    fn read(&mut self, reg: Reg) -> u32 {
        let r = &self.regs;
        let mac = r.mac.0;
        match reg {
            Reg::ISR => r.isr,
            Reg::IER => r.ier,
            Reg::MAC_MADR => u32::from(mac[0]) << 8 | u32::from(mac[1]),
            Reg::MAC_LADR => u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]),
            Reg::MAHT0 => r.maht[0],
            Reg::MAHT1 => r.maht[1],
            Reg::NPTXR_BADR => r.nptxr_badr,
            Reg::RXR_BADR => r.rxr_badr,
            Reg::HPTXR_BADR => r.hptxr_badr,
            Reg::ITC => r.itc,
            Reg::APTC => r.aptc,
            Reg::DBLAC => r.dblac,
            // Both FIFOs empty, DMA idle ([F]).
            Reg::DMAFIFOS => 0x0c00_0000,
            Reg::REVR => r.revr,
            Reg::FEAR => r.fear,
            Reg::TPAFCR => r.tpafcr,
            Reg::RBSR => r.rbsr,
            Reg::MACCR => r.maccr,
            Reg::PHYCR => r.phycr,
            Reg::PHYDATA => r.phydata,
            Reg::FCR => r.fcr,
            Reg::BPR => r.bpr,
            Reg::TM => r.tm,
            Reg::NPTXR_PTR => self.tx_cur,
            Reg::RXR_PTR => self.rx_cur,
            // Write-only poll demands, MACSR, the high-priority pointer, the statistics
            // counters and reserved space read as zero.
            _ => 0,
        }
    }

    fn write<D: Dma + ?Sized>(&mut self, dma: &D, reg: Reg, value: u32) {
        match reg {
            Reg::ISR => self.regs.isr &= !value,
            Reg::IER => self.regs.ier = value,
            Reg::MAC_MADR => {
                self.regs.mac.0[0] = (value >> 8) as u8;
                self.regs.mac.0[1] = value as u8;
            }
            Reg::MAC_LADR => self.regs.mac.0[2..].copy_from_slice(&value.to_be_bytes()),
            Reg::MAHT0 => self.regs.maht[0] = value,
            Reg::MAHT1 => self.regs.maht[1] = value,
            Reg::NPTXPD if self.tx_enabled() && !self.tx_stall => {
                self.counters.tx_polls += 1;
                self.tx_walk(dma);
            }
            Reg::RXPD => {}
            // A misaligned ring base is ignored, as QEMU does (§5.2).
            Reg::NPTXR_BADR if value.is_multiple_of(16) => {
                self.regs.nptxr_badr = value;
                self.tx_cur = value;
            }
            Reg::RXR_BADR if value.is_multiple_of(16) => {
                self.regs.rxr_badr = value;
                self.rx_cur = value;
            }
            Reg::HPTXR_BADR => self.regs.hptxr_badr = value,
            Reg::ITC => self.regs.itc = value,
            Reg::APTC => self.regs.aptc = value,
            Reg::DBLAC => {
                // QEMU ignores a whole write whose TX or RX stride is below 16 bytes.
                let stride = |shift: u32| ((value >> shift) & 0xf) * 8;
                if stride(16) >= 16 && stride(12) >= 16 {
                    self.regs.dblac = value;
                }
            }
            Reg::REVR => self.regs.revr = value,
            Reg::FEAR => self.regs.fear = value,
            Reg::TPAFCR => self.regs.tpafcr = value,
            Reg::RBSR => self.regs.rbsr = value & 0x3fff,
            Reg::MACCR => {
                if value & maccr::SW_RST != 0 {
                    // §5.1: everything resets but the MAC address and MACCR's speed bits; SW_RST
                    // reads back 0 at once.
                    self.reset();
                    self.regs.maccr = value & maccr::SPEED_MASK;
                } else {
                    self.regs.maccr = value;
                }
            }
            Reg::PHYCR => self.mdio(value),
            Reg::PHYDATA => self.regs.phydata = value & 0xffff,
            Reg::FCR => self.regs.fcr = value,
            Reg::BPR => self.regs.bpr = value,
            Reg::TM => self.regs.tm = value,
            _ => {}
        }
        // §5.2: a register write retries frames waiting for a descriptor.
        self.drain_rx_fifo(dma);
    }

    /// An MDIO operation on the old interface (§2.3), completed at once.
    fn mdio(&mut self, value: u32) {
        let reg = ((value >> phycr::REGAD_SHIFT) & 0x1f) as u8;
        if value & phycr::MIIRD != 0 {
            let data = self.phy.read(reg);
            self.regs.phydata = (self.regs.phydata & 0xffff) | u32::from(data) << 16;
        } else if value & phycr::MIIWR != 0 {
            self.phy.write(reg, self.regs.phydata as u16);
        }
        self.regs.phycr = value & !(phycr::MIIRD | phycr::MIIWR);
    }

    /// Recomputes the line; returns the new level if it changed.
    fn update_irq(&mut self) -> Option<bool> {
        let level = self.regs.isr & self.regs.ier != 0;
        (level != self.irq_level).then(|| {
            self.irq_level = level;
            level
        })
    }
}

/// Called with the IRQ line's new level whenever it changes. It runs outside the model's lock
/// but on whichever thread touched the device, so it should only signal (set a flag, wake a task).
pub type IrqCallback = Box<dyn Fn(bool) + Send + Sync>;

/// The device.
pub struct Ftgmac100Model<D: Dma> {
    state: Mutex<State>,
    dma: D,
    irq: IrqCallback,
}

impl<D: Dma> std::fmt::Debug for Ftgmac100Model<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ftgmac100Model").finish_non_exhaustive()
    }
}

impl<D: Dma> Ftgmac100Model<D> {
    /// A device after power-on reset, doing DMA into `dma` and raising its IRQ through `irq`.
    pub fn new(dma: D, config: ModelConfig, irq: IrqCallback) -> Self {
        let state = State {
            regs: Registers::reset(config.mac),
            tx_cur: 0,
            rx_cur: 0,
            phy: Phy::new(config.partner),
            rx_fifo: VecDeque::new(),
            rx_fifo_bytes: 0,
            rx_fifo_capacity: config.rx_fifo_bytes,
            transmitted: Batch::new(),
            tx_run: tx::TxRun::default(),
            rx_descs: Vec::new(),
            irq_level: false,
            ahb_error_at: None,
            tx_stall: false,
            counters: ModelCounters::default(),
        };
        Ftgmac100Model {
            state: Mutex::new(state),
            dma,
            irq,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements, so a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, then reports an IRQ line change outside the lock.
    /// Runs `f` on the device's state, with the DMA memory held for the burst (a walk of the
    /// rings is one bus burst, not a lock per descriptor access).
    fn with<R>(&self, f: impl FnOnce(&mut State, &dyn Dma) -> R) -> R {
        let (r, change) = {
            let mut s = self.lock();
            let (mut f, mut r) = (Some(f), None);
            self.dma.burst(&mut |dma| {
                if let Some(f) = f.take() {
                    r = Some(f(&mut s, dma));
                }
            });
            let r = r.expect("a burst runs its function");
            (r, s.update_irq())
        };
        if let Some(level) = change {
            (self.irq)(level);
        }
        r
    }

    /// Frames arriving from the wire (without FCS), in order. Each goes through the filter and
    /// the RX FIFO into the ring. Returns how many were taken: all of them, unless flow control
    /// paused the link partner, which then keeps the rest (the first refused and every one
    /// after it) to offer again.
    pub fn receive<'a>(&self, frames: impl IntoIterator<Item = &'a [u8]>) -> usize {
        self.with(|s, dma| {
            let mut taken = 0;
            for frame in frames {
                if !s.receive(dma, frame) {
                    break;
                }
                taken += 1;
            }
            taken
        })
    }

    /// Moves the frames the TX walk sent into `out` (appended).
    pub fn take_transmitted(&self, out: &mut Batch) {
        self.with(|s, _| {
            if out.is_empty() {
                // The usual case: the frames change hands without a copy.
                std::mem::swap(out, &mut s.transmitted);
            } else {
                out.append(&s.transmitted);
            }
            s.transmitted.clear();
        })
    }

    /// RX auto-poll (APTC.RXPOLL_CNT ≠ 0): retries frames waiting for descriptors. The runner
    /// calls it every [`Self::AUTO_POLL_INTERVAL_NS`] while [`Self::rx_waiting`] says so.
    pub fn poll(&self) {
        self.with(|s, dma| {
            if s.regs.aptc & 0xf != 0 {
                s.drain_rx_fifo(dma);
            }
        })
    }

    /// How often RX auto-poll retries (§7.7: about 1 ms is fine).
    pub const AUTO_POLL_INTERVAL_NS: u64 = 1_000_000;

    /// Whether frames wait in the RX FIFO for a descriptor.
    pub fn rx_waiting(&self) -> bool {
        !self.lock().rx_fifo.is_empty()
    }

    /// The IRQ line's level.
    pub fn irq_level(&self) -> bool {
        self.lock().irq_level
    }

    /// Plugs or unplugs the cable.
    pub fn set_link(&self, up: bool) {
        self.with(|s, _| s.phy.set_link(up))
    }

    /// Changes what the far end can do.
    pub fn set_partner(&self, partner: LinkPartner) {
        self.with(|s, _| s.phy.set_partner(partner))
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        self.with(|s, dma| match fault {
            Fault::AhbErrorAtDescriptor(addr) => s.ahb_error_at = Some(addr),
            Fault::TxStall(on) => {
                s.tx_stall = on;
                // A DMA engine that recovers resumes where it stopped.
                if !on && s.tx_enabled() {
                    s.tx_walk(dma);
                }
            }
        })
    }

    /// The device's counters.
    pub fn counters(&self) -> ModelCounters {
        self.lock().counters.clone()
    }

    /// The link speed MACCR selects, for pacing the wire (10 Mb/s when neither bit is set).
    pub fn mac_speed(&self) -> Speed {
        let m = self.lock().regs.maccr;
        if m & maccr::GIGA_MODE != 0 {
            Speed::Mbps1000
        } else if m & maccr::FAST_MODE != 0 {
            Speed::Mbps100
        } else {
            Speed::Mbps10
        }
    }
}

impl<D: Dma> Mmio for Ftgmac100Model<D> {
    fn read32(&self, reg: Reg) -> u32 {
        self.with(|s, _| s.read(reg))
    }

    fn write32(&self, reg: Reg, value: u32) {
        self.with(|s, dma| s.write(dma, reg, value))
    }
}

#[cfg(test)]
mod tests;
