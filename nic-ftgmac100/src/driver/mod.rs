//! The FTGMAC100 driver, written after Linux 5.15's `ftgmac100.c` (`shared/spec/ftgmac100.md` §6)
//! in our own code: probe and open (reset twice, rings, RX buffers, `init_hw`, `start_hw`),
//! `start_xmit` with scatter-gather and OWN published last, the interrupt handler that acks ISR
//! and narrows IER, NAPI poll with the re-check before unmasking, the reset task, the 5 s TX
//! watchdog, PHY polling and `adjust_link`.
//!
//! It reaches the hardware only through [`Mmio`] and [`Dma`]. Its methods take `&mut self`: the
//! caller (the NAPI loop) serialises the interrupt handler, NAPI and timers as Linux's NAPI
//! scheduling does, while the device runs beside it on its own.
//!
//! Departures from Linux, each for a reason:
//! - multi-buffer RX frames (FRS..LRS over several descriptors) are reassembled, not dropped, so
//!   jumbo frames work with 1536-byte buffers; JUMBO_LF is set when the MTU exceeds 1500;
//! - `start_xmit` and `xmit_batch` copy into per-descriptor bounce buffers in DMA memory (there
//!   are no skbs to map); each segment the caller passes gets its own descriptor(s), as Linux's
//!   fragments do. `xmit_owned` is Linux's way: it maps a whole batch of frames for the device
//!   ([`Dma::map`], `dma_map_single`) and holds it until its last frame is reclaimed, posting
//!   what the ring cannot take yet as NAPI frees descriptors (Linux would stop the queue and
//!   let the qdisc hold them); frames below the minimum are still copied, for their padding;
//! - `tx_packets` counts frames, not descriptors (Linux's per-descriptor count is a known quirk).

mod napi;
mod phy;
mod sink;
mod stats;
mod txqueue;
mod xmit;

use netstack_wire::{Batch, EthernetAddress};
pub use sink::{RxFrame, RxSink};
pub use stats::DriverStats;
pub use xmit::{TxOffload, XmitError};

use crate::access::{Dma, DmaError, Mmio};
use crate::desc::{DESC_SIZE, Desc, rxdes0, txdes0};
use crate::model::Speed;
use crate::regs::{Reg, int, linux, maccr};

/// Linux's RX buffer size and largest TX frame without jumbo frames (`RX_BUF_SIZE`, `MAX_PKT_SIZE`).
pub const RX_BUF_SIZE: u32 = 1536;
/// The largest frame (FCS excluded) with jumbo frames on.
pub const MAX_JUMBO_FRAME: u32 = 9212;
/// Each TX descriptor's bounce buffer.
pub const TX_BUF_SIZE: u32 = 2048;
/// The most descriptors one frame may take (Linux's TX_THRESHOLD, MAX_SKB_FRAGS + 1).
pub const TX_THRESHOLD: u32 = 18;
/// The NAPI weight.
pub const NAPI_BUDGET: usize = 64;
/// The TX watchdog.
pub const TX_TIMEOUT_NS: u64 = 5_000_000_000;
/// How often the PHY is polled for link (phylib's PHY_POLL).
pub const PHY_POLL_NS: u64 = 1_000_000_000;

/// How the driver is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverConfig {
    /// RX ring entries: a power of two in 32..=1024 (Linux's default 128).
    pub rx_ring_size: u32,
    /// TX ring entries: a power of two in 32..=1024.
    pub tx_ring_size: u32,
    /// The MTU; above 1500 turns jumbo frames on.
    pub mtu: u32,
    /// The MAC address; `None` reads what the firmware left in MADR/LADR.
    pub mac: Option<EthernetAddress>,
    /// Bus address of the DMA memory the driver may use for rings and buffers.
    pub dma_base: u32,
    /// Its size in bytes (see [`DriverConfig::dma_bytes_needed`]).
    pub dma_size: u32,
}

impl DriverConfig {
    /// Linux's defaults (128/128 rings, MTU 1500) in the region `dma_base..+dma_size`.
    pub fn new(dma_base: u32, dma_size: u32) -> DriverConfig {
        DriverConfig {
            rx_ring_size: 128,
            tx_ring_size: 128,
            mtu: 1500,
            mac: None,
            dma_base,
            dma_size,
        }
    }

    /// The DMA memory these ring sizes need.
    pub fn dma_bytes_needed(&self) -> u32 {
        Layout::new(self.dma_base, self.rx_ring_size, self.tx_ring_size).end - self.dma_base
    }
}

/// Why the driver could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// A ring size is not a power of two in 32..=1024.
    #[error("ring size {0} is not a power of two in 32..=1024")]
    RingSize(u32),
    /// The MTU is out of range.
    #[error("MTU {0} is not in 68..=9000")]
    Mtu(u32),
    /// The DMA region cannot hold the rings and buffers.
    #[error("DMA region of {have} bytes is too small: the rings and buffers need {need}")]
    DmaTooSmall {
        /// Bytes needed.
        need: u32,
        /// Bytes given.
        have: u32,
    },
    /// MADR/LADR hold no valid unicast address and none was configured.
    #[error("no valid MAC address in MADR/LADR ({0}) and none configured")]
    NoMacAddress(EthernetAddress),
    /// SW_RST did not clear within 200 polls.
    #[error("MAC reset timed out: SW_RST still set after 200 µs")]
    ResetTimeout,
    /// No PHY answered on the MDIO bus.
    #[error("no PHY found on the MDIO bus")]
    NoPhy,
    /// An MDIO access did not complete.
    #[error("MDIO access timed out")]
    MdioTimeout,
    /// A DMA access hit no memory.
    #[error(transparent)]
    Dma(#[from] DmaError),
}

/// Where rings and buffers sit in the DMA region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    tx_ring: u32,
    rx_ring: u32,
    rx_scratch: u32,
    rx_bufs: u32,
    tx_bufs: u32,
    end: u32,
}

impl Layout {
    fn new(base: u32, rx_n: u32, tx_n: u32) -> Layout {
        let base = base.next_multiple_of(16);
        let tx_ring = base;
        let rx_ring = tx_ring + tx_n * DESC_SIZE;
        let rx_scratch = rx_ring + rx_n * DESC_SIZE;
        let rx_bufs = rx_scratch + RX_BUF_SIZE;
        let tx_bufs = rx_bufs + rx_n * RX_BUF_SIZE;
        let end = tx_bufs + tx_n * TX_BUF_SIZE;
        Layout {
            tx_ring,
            rx_ring,
            rx_scratch,
            rx_bufs,
            tx_bufs,
            end,
        }
    }
}

/// The link as `adjust_link` last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    /// Speed, or `None` without link.
    pub speed: Option<Speed>,
    /// Full duplex.
    pub full_duplex: bool,
    /// Pause frames honoured and sent.
    pub pause: bool,
}

impl LinkState {
    const DOWN: LinkState = LinkState {
        speed: None,
        full_duplex: false,
        pause: false,
    };
}

/// Frames a NAPI poll received, in one buffer, with what the hardware said of each.
#[derive(Debug, Clone, Default)]
pub struct RxBatch {
    /// The frames (Ethernet header on, FCS off).
    pub frames: Batch,
    /// Per frame: the hardware verified the IP and TCP/UDP checksums (RXDES1 PROT ≠ 0, no error).
    pub checksum_ok: Vec<bool>,
    /// Per frame: the 802.1Q TCI the MAC stripped (RM_VLAN), if any.
    pub vlan: Vec<Option<u16>>,
}

impl RxBatch {
    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.frames.clear();
        self.checksum_ok.clear();
        self.vlan.clear();
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// What a TX slot holds until reclaimed: on the frame's LTS slot, the frame's length, and
/// whether the frame is one of a batch the driver holds ([`txqueue`]).
#[derive(Debug, Clone, Copy, Default)]
struct TxSlot {
    frame_len: Option<u32>,
    queued: bool,
}

/// The driver of one FTGMAC100.
#[derive(Debug)]
pub struct Ftgmac100<M: Mmio, D: Dma> {
    mmio: M,
    dma: D,
    config: DriverConfig,
    layout: Layout,
    mac: EthernetAddress,
    running: bool,
    /// Software ring indices (§6.2): the next RX slot to look at, the next TX slot to fill, the
    /// next TX slot to reclaim.
    rx_pointer: u32,
    tx_pointer: u32,
    tx_clean_pointer: u32,
    tx_slots: Vec<TxSlot>,
    /// Batches given to [`Self::xmit_owned`], held (mapped) until their frames are sent.
    tx_queue: txqueue::TxQueue,
    /// The latest time the driver was given (`now` of a transmit or a timer), for what NAPI
    /// queues from the held batches.
    clock: u64,
    napi_scheduled: bool,
    need_mac_restart: bool,
    reset_pending: bool,
    tx_stopped: bool,
    /// When the last frame was queued (the watchdog's `trans_start`).
    trans_start: u64,
    phy_addr: u8,
    next_phy_poll: u64,
    link: LinkState,
    /// What is advertised to the PHY and asked of pause (Linux's defaults: all true).
    pause_wanted: bool,
    promiscuous: bool,
    maht: [u32; 2],
    stats: DriverStats,
}

impl<M: Mmio, D: Dma> Ftgmac100<M, D> {
    /// Probe (§6.1): check the configuration, read the MAC address, switch the MDIO bus to the
    /// old interface and find the PHY.
    pub fn probe(mmio: M, dma: D, config: DriverConfig) -> Result<Self, DriverError> {
        for n in [config.rx_ring_size, config.tx_ring_size] {
            if !n.is_power_of_two() || !(32..=1024).contains(&n) {
                return Err(DriverError::RingSize(n));
            }
        }
        if !(68..=9000).contains(&config.mtu) {
            return Err(DriverError::Mtu(config.mtu));
        }
        let layout = Layout::new(config.dma_base, config.rx_ring_size, config.tx_ring_size);
        let need = layout.end - config.dma_base;
        if need > config.dma_size {
            return Err(DriverError::DmaTooSmall {
                need,
                have: config.dma_size,
            });
        }
        let mac = match config.mac {
            Some(mac) => mac,
            None => {
                let hi = mmio.read32(Reg::MAC_MADR);
                let lo = mmio.read32(Reg::MAC_LADR).to_be_bytes();
                let mac = EthernetAddress([(hi >> 8) as u8, hi as u8, lo[0], lo[1], lo[2], lo[3]]);
                if mac.is_multicast() || mac.0 == [0; 6] {
                    return Err(DriverError::NoMacAddress(mac));
                }
                mac
            }
        };
        let tx_slots = vec![TxSlot::default(); config.tx_ring_size as usize];
        let mut dev = Ftgmac100 {
            mmio,
            dma,
            config,
            layout,
            mac,
            running: false,
            rx_pointer: 0,
            tx_pointer: 0,
            tx_clean_pointer: 0,
            tx_slots,
            tx_queue: txqueue::TxQueue::default(),
            clock: 0,
            napi_scheduled: false,
            need_mac_restart: false,
            reset_pending: false,
            tx_stopped: false,
            trans_start: 0,
            phy_addr: 0,
            next_phy_poll: 0,
            link: LinkState::DOWN,
            pause_wanted: true,
            promiscuous: false,
            maht: [0; 2],
            stats: DriverStats::default(),
        };
        dev.setup_mdio()?;
        Ok(dev)
    }

    /// Open (§6.2): reset the MAC twice, lay out the rings, arm the RX buffers, program the
    /// registers, start the MAC and the PHY. `now` is the host's monotonic clock.
    pub fn open(&mut self, now: u64) -> Result<(), DriverError> {
        self.link = LinkState::DOWN;
        self.reset_and_config_mac()?;
        self.init_all()?;
        self.phy_start()?;
        self.running = true;
        self.trans_start = now;
        self.next_phy_poll = now;
        Ok(())
    }

    /// Stop: mask interrupts, stop the MAC; queued TX frames are dropped.
    pub fn stop(&mut self) {
        self.mmio.write32(Reg::IER, 0);
        self.mmio.write32(Reg::MACCR, 0);
        self.running = false;
        self.napi_scheduled = false;
        self.drop_pending_tx();
    }

    /// Whether the interface is up.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The MAC address in use.
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// The MTU.
    pub fn mtu(&self) -> u32 {
        self.config.mtu
    }

    /// The link as last negotiated; `speed: None` means no carrier.
    pub fn link(&self) -> LinkState {
        self.link
    }

    /// Whether the carrier is up.
    pub fn carrier(&self) -> bool {
        self.link.speed.is_some()
    }

    /// The counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Whether the TX queue is stopped (full); the caller holds frames until it wakes.
    pub fn tx_queue_stopped(&self) -> bool {
        self.tx_stopped
    }

    /// Whether a NAPI poll is scheduled (set by the interrupt handler, cleared when a poll
    /// completes and unmasks).
    pub fn napi_scheduled(&self) -> bool {
        self.napi_scheduled
    }

    /// The register and DMA backends, for tests and fault injection.
    pub fn backends(&self) -> (&M, &D) {
        (&self.mmio, &self.dma)
    }

    fn speed_bits(&self) -> u32 {
        match self.link.speed {
            Some(Speed::Mbps1000) => maccr::GIGA_MODE,
            Some(Speed::Mbps100) => maccr::FAST_MODE,
            Some(Speed::Mbps10) | None => 0,
        }
    }

    /// §6.2 step 2: zero the software pointers and reset the MAC twice.
    fn reset_and_config_mac(&mut self) -> Result<(), DriverError> {
        let speed = self.speed_bits();
        self.rx_pointer = 0;
        self.tx_pointer = 0;
        self.tx_clean_pointer = 0;
        for _ in 0..2 {
            self.mmio.write32(Reg::MACCR, speed);
            self.mmio.write32(Reg::MACCR, speed | maccr::SW_RST);
            let mut cleared = false;
            for _ in 0..200 {
                if self.mmio.read32(Reg::MACCR) & maccr::SW_RST == 0 {
                    cleared = true;
                    break;
                }
                self.mmio.delay_us(1);
            }
            if !cleared {
                return Err(DriverError::ResetTimeout);
            }
            self.mmio.delay_us(10);
        }
        Ok(())
    }

    fn rx_desc_addr(&self, i: u32) -> u32 {
        self.layout.rx_ring + i * DESC_SIZE
    }

    fn tx_desc_addr(&self, i: u32) -> u32 {
        self.layout.tx_ring + i * DESC_SIZE
    }

    fn rx_buf_addr(&self, i: u32) -> u32 {
        self.layout.rx_bufs + i * RX_BUF_SIZE
    }

    fn tx_buf_addr(&self, i: u32) -> u32 {
        self.layout.tx_bufs + i * TX_BUF_SIZE
    }

    /// §6.2 steps 4–8: rings, RX buffers, `init_hw`, pause, `start_hw`, interrupts.
    fn init_all(&mut self) -> Result<(), DriverError> {
        let (rx_n, tx_n) = (self.config.rx_ring_size, self.config.tx_ring_size);
        for i in 0..rx_n {
            let eor = if i == rx_n - 1 { rxdes0::EDORR } else { 0 };
            let d = Desc {
                w0: eor,
                w1: 0,
                w2: 0,
                w3: self.layout.rx_scratch,
            };
            self.dma.write(self.rx_desc_addr(i), &d.to_bytes())?;
        }
        for i in 0..tx_n {
            let eor = if i == tx_n - 1 { txdes0::EDOTR } else { 0 };
            self.dma.write(
                self.tx_desc_addr(i),
                &Desc {
                    w0: eor,
                    ..Desc::default()
                }
                .to_bytes(),
            )?;
        }
        self.tx_slots.fill(TxSlot::default());
        // alloc_rx_buffers: the buffer address first, then (after the barrier a real bus needs)
        // the status word that hands the descriptor to the device.
        for i in 0..rx_n {
            let addr = self.rx_desc_addr(i);
            self.dma.write_u32(addr + 12, self.rx_buf_addr(i))?;
            self.dma
                .write_u32(addr, if i == rx_n - 1 { rxdes0::EDORR } else { 0 })?;
        }
        self.init_hw();
        self.config_pause();
        self.start_hw();
        self.napi_scheduled = false;
        self.need_mac_restart = false;
        self.tx_stopped = false;
        self.mmio.write32(Reg::IER, int::ALL);
        Ok(())
    }

    /// §6.2 step 6.
    fn init_hw(&mut self) {
        let stale = self.mmio.read32(Reg::ISR);
        self.mmio.write32(Reg::ISR, stale);
        self.mmio.write32(Reg::RXR_BADR, self.layout.rx_ring);
        self.mmio.write32(Reg::NPTXR_BADR, self.layout.tx_ring);
        self.mmio.write32(Reg::RBSR, RX_BUF_SIZE);
        self.mmio.write32(Reg::APTC, linux::APTC);
        let m = self.mac.0;
        self.mmio
            .write32(Reg::MAC_MADR, u32::from(m[0]) << 8 | u32::from(m[1]));
        self.mmio
            .write32(Reg::MAC_LADR, u32::from_be_bytes([m[2], m[3], m[4], m[5]]));
        self.mmio.write32(Reg::MAHT0, self.maht[0]);
        self.mmio.write32(Reg::MAHT1, self.maht[1]);
        self.mmio.write32(Reg::DBLAC, linux::DBLAC);
        self.mmio.write32(Reg::ITC, linux::ITC);
        // TPAFCR's FIFO sizes come from what FEAR says the FIFOs are.
        let fear = self.mmio.read32(Reg::FEAR);
        let tpafcr = self.mmio.read32(Reg::TPAFCR) & !(0x3f << 24)
            | (fear >> 3 & 0x7) << 27
            | (fear & 0x7) << 24;
        self.mmio.write32(Reg::TPAFCR, tpafcr);
    }

    /// `config_pause`: FCR's pause time and enables.
    fn config_pause(&mut self) {
        let pause = self.link.pause && self.pause_wanted;
        let fcr = 0x0010_0000
            | if pause {
                crate::regs::fcr::FC_EN | crate::regs::fcr::FCTHR_EN
            } else {
                0
            };
        self.mmio.write32(Reg::FCR, fcr);
    }

    /// `start_hw`: MACCR from the kept speed bits and the interface's settings (§2.4).
    fn start_hw(&mut self) {
        let speed = self.mmio.read32(Reg::MACCR) & maccr::SPEED_MASK;
        let mut v = speed | linux::MACCR_BASE | maccr::RM_VLAN;
        if self.link.full_duplex {
            v |= maccr::FULLDUP;
        }
        if self.promiscuous {
            v |= maccr::RX_ALL;
        }
        if self.maht != [0, 0] {
            v |= maccr::HT_MULTI_EN;
        }
        if self.config.mtu > 1500 {
            v |= maccr::JUMBO_LF;
        }
        self.mmio.write32(Reg::MACCR, v);
    }

    /// Sets the multicast filter to `groups` (Linux's `set_rx_mode`).
    pub fn set_multicast(&mut self, groups: &[EthernetAddress]) {
        let mut maht = [0u32; 2];
        for g in groups {
            let idx = crate::model::multicast_hash_index(*g);
            maht[(idx / 32) as usize] |= 1 << (idx % 32);
        }
        self.maht = maht;
        if self.running {
            self.mmio.write32(Reg::MAHT0, maht[0]);
            self.mmio.write32(Reg::MAHT1, maht[1]);
            self.start_hw();
        }
    }

    /// Turns promiscuous mode on or off.
    pub fn set_promiscuous(&mut self, on: bool) {
        self.promiscuous = on;
        if self.running {
            self.start_hw();
        }
    }

    /// Resizes the rings (`ethtool -G`, Linux's `set_ringparam`): checked, then applied through
    /// the reset task, which drops what was in flight and lays the rings out anew.
    pub fn set_ring_sizes(&mut self, rx: u32, tx: u32) -> Result<(), DriverError> {
        for n in [rx, tx] {
            if !n.is_power_of_two() || !(32..=1024).contains(&n) {
                return Err(DriverError::RingSize(n));
            }
        }
        let layout = Layout::new(self.config.dma_base, rx, tx);
        let need = layout.end - self.config.dma_base;
        if need > self.config.dma_size {
            return Err(DriverError::DmaTooSmall {
                need,
                have: self.config.dma_size,
            });
        }
        self.mmio.write32(Reg::IER, 0);
        self.mmio.write32(Reg::MACCR, 0);
        self.drop_pending_tx();
        self.config.rx_ring_size = rx;
        self.config.tx_ring_size = tx;
        self.layout = layout;
        self.tx_slots = vec![TxSlot::default(); tx as usize];
        self.reset_pending = true;
        self.reset_task()
    }

    /// The ring sizes (RX, TX).
    pub fn ring_sizes(&self) -> (u32, u32) {
        (self.config.rx_ring_size, self.config.tx_ring_size)
    }

    /// The reset task (§6.6): stop the MAC, reset it, drop what was in flight, bring it all up
    /// again. Triggered by AHB_ERR, the TX watchdog and link changes.
    fn reset_task(&mut self) -> Result<(), DriverError> {
        self.reset_pending = false;
        if !self.running {
            return Ok(());
        }
        self.stats.resets += 1;
        self.mmio.write32(Reg::MACCR, 0);
        self.drop_pending_tx();
        self.reset_and_config_mac()?;
        self.init_all()
    }

    /// Frames still in the TX ring, or held to go, at a reset or stop are lost.
    fn drop_pending_tx(&mut self) {
        let dropped = self
            .tx_slots
            .iter()
            .filter(|s| s.frame_len.is_some())
            .count() as u64;
        self.stats.tx_dropped += dropped + self.tx_queue.drop_all(&self.dma) as u64;
        self.tx_slots.fill(TxSlot::default());
        self.tx_pointer = 0;
        self.tx_clean_pointer = 0;
    }

    /// Runs the timers due at `now` — the PHY poll (and `adjust_link`), the TX watchdog, a
    /// pending reset — and returns when to call again.
    pub fn timer(&mut self, now: u64) -> Result<u64, DriverError> {
        self.clock = self.clock.max(now);
        if !self.running {
            return Ok(now + PHY_POLL_NS);
        }
        if now >= self.next_phy_poll {
            self.next_phy_poll = now + PHY_POLL_NS;
            self.phy_poll()?;
        }
        // The watchdog: a stopped queue with nothing sent for 5 s means TX is stuck.
        if self.tx_stopped && now.saturating_sub(self.trans_start) > TX_TIMEOUT_NS {
            self.stats.tx_timeouts += 1;
            self.mmio.write32(Reg::IER, 0);
            self.reset_pending = true;
        }
        if self.reset_pending {
            self.reset_task()?;
            self.trans_start = now;
        }
        let mut next = self.next_phy_poll;
        if self.tx_stopped {
            next = next.min(self.trans_start + TX_TIMEOUT_NS + 1);
        }
        Ok(next)
    }

    /// Whether the reset task waits to run (the caller runs [`Self::timer`] soon when it does).
    pub fn reset_pending(&self) -> bool {
        self.reset_pending
    }
}

#[cfg(test)]
mod tests;
