//! FTGMAC100 registers as the AST2500 has them (`shared/spec/ftgmac100.md` §2): offsets from the
//! MAC base and their bit fields. Every register is 32 bits, little-endian, accessed 4 bytes at a
//! time.

/// A register offset from the MAC base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u32);

impl Reg {
    /// Interrupt status; write 1 to clear. Bits latch whether or not IER enables them.
    pub const ISR: Reg = Reg(0x00);
    /// Interrupt enable; the IRQ line is `(ISR & IER) != 0`.
    pub const IER: Reg = Reg(0x04);
    /// MAC address bytes 0 ([15:8]) and 1 ([7:0]).
    pub const MAC_MADR: Reg = Reg(0x08);
    /// MAC address bytes 2 ([31:24]) to 5 ([7:0]).
    pub const MAC_LADR: Reg = Reg(0x0c);
    /// Multicast hash table, bits 0–31.
    pub const MAHT0: Reg = Reg(0x10);
    /// Multicast hash table, bits 32–63.
    pub const MAHT1: Reg = Reg(0x14);
    /// Normal-priority TX poll demand: any write starts the TX walk.
    pub const NPTXPD: Reg = Reg(0x18);
    /// RX poll demand: any write re-checks the RX ring.
    pub const RXPD: Reg = Reg(0x1c);
    /// Normal TX ring base (16-byte aligned); writing it resets the device's TX pointer.
    pub const NPTXR_BADR: Reg = Reg(0x20);
    /// RX ring base (16-byte aligned); writing it resets the device's RX pointer.
    pub const RXR_BADR: Reg = Reg(0x24);
    /// High-priority TX poll demand (not used by Linux).
    pub const HPTXPD: Reg = Reg(0x28);
    /// High-priority TX ring base (not used by Linux).
    pub const HPTXR_BADR: Reg = Reg(0x2c);
    /// Interrupt timer control.
    pub const ITC: Reg = Reg(0x30);
    /// Automatic polling timer control: RXPOLL_CNT[3:0], RXPOLL_TIME_SEL[4], TXPOLL_CNT[11:8].
    pub const APTC: Reg = Reg(0x34);
    /// DMA burst length and arbitration; RXDES_SIZE[15:12] and TXDES_SIZE[19:16] give the
    /// descriptor stride in units of 8 bytes.
    pub const DBLAC: Reg = Reg(0x38);
    /// DMA and FIFO state.
    pub const DMAFIFOS: Reg = Reg(0x3c);
    /// Revision; bit 31 selects the new MDIO interface.
    pub const REVR: Reg = Reg(0x40);
    /// Features: RX FIFO size code [2:0], TX FIFO size code [5:3].
    pub const FEAR: Reg = Reg(0x44);
    /// TX priority arbitration and FIFO control.
    pub const TPAFCR: Reg = Reg(0x48);
    /// RX buffer size [13:0] in bytes.
    pub const RBSR: Reg = Reg(0x4c);
    /// MAC control.
    pub const MACCR: Reg = Reg(0x50);
    /// MAC status.
    pub const MACSR: Reg = Reg(0x54);
    /// Test mode.
    pub const TM: Reg = Reg(0x58);
    /// MDIO control (old interface on the AST2500).
    pub const PHYCR: Reg = Reg(0x60);
    /// MDIO data: write data [15:0], read data [31:16].
    pub const PHYDATA: Reg = Reg(0x64);
    /// Flow control.
    pub const FCR: Reg = Reg(0x68);
    /// Back pressure.
    pub const BPR: Reg = Reg(0x6c);
    /// The device's normal TX ring pointer.
    pub const NPTXR_PTR: Reg = Reg(0x90);
    /// The device's high-priority TX ring pointer.
    pub const HPTXR_PTR: Reg = Reg(0x94);
    /// The device's RX ring pointer.
    pub const RXR_PTR: Reg = Reg(0x98);

    /// The register's name, for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Reg::ISR => "ISR",
            Reg::IER => "IER",
            Reg::MAC_MADR => "MAC_MADR",
            Reg::MAC_LADR => "MAC_LADR",
            Reg::MAHT0 => "MAHT0",
            Reg::MAHT1 => "MAHT1",
            Reg::NPTXPD => "NPTXPD",
            Reg::RXPD => "RXPD",
            Reg::NPTXR_BADR => "NPTXR_BADR",
            Reg::RXR_BADR => "RXR_BADR",
            Reg::HPTXPD => "HPTXPD",
            Reg::HPTXR_BADR => "HPTXR_BADR",
            Reg::ITC => "ITC",
            Reg::APTC => "APTC",
            Reg::DBLAC => "DBLAC",
            Reg::DMAFIFOS => "DMAFIFOS",
            Reg::REVR => "REVR",
            Reg::FEAR => "FEAR",
            Reg::TPAFCR => "TPAFCR",
            Reg::RBSR => "RBSR",
            Reg::MACCR => "MACCR",
            Reg::MACSR => "MACSR",
            Reg::TM => "TM",
            Reg::PHYCR => "PHYCR",
            Reg::PHYDATA => "PHYDATA",
            Reg::FCR => "FCR",
            Reg::BPR => "BPR",
            Reg::NPTXR_PTR => "NPTXR_PTR",
            Reg::HPTXR_PTR => "HPTXR_PTR",
            Reg::RXR_PTR => "RXR_PTR",
            _ => "reserved",
        }
    }
}

/// ISR and IER bits (§2.1).
pub mod int {
    /// A received frame is in memory (its LRS descriptor was written back).
    pub const RPKT_BUF: u32 = 1 << 0;
    /// A frame entered the RX FIFO.
    pub const RPKT_FIFO: u32 = 1 << 1;
    /// The RX descriptor needed was not free.
    pub const NO_RXBUF: u32 = 1 << 2;
    /// A received frame was lost (RX FIFO full).
    pub const RPKT_LOST: u32 = 1 << 3;
    /// A frame was transmitted.
    pub const XPKT_ETH: u32 = 1 << 4;
    /// A frame moved into the TX FIFO.
    pub const XPKT_FIFO: u32 = 1 << 5;
    /// The TX walk found a descriptor the device does not own.
    pub const NO_NPTXBUF: u32 = 1 << 6;
    /// A TX frame was lost (collision, underrun, too long).
    pub const XPKT_LOST: u32 = 1 << 7;
    /// A bus error during DMA.
    pub const AHB_ERR: u32 = 1 << 8;
    /// PHY status changed.
    pub const PHYSTS_CHG: u32 = 1 << 9;
    /// The high-priority TX ring is empty.
    pub const NO_HPTXBUF: u32 = 1 << 10;

    /// Linux's "bad" group: kept enabled while NAPI runs.
    pub const BAD: u32 = NO_RXBUF | RPKT_LOST | XPKT_LOST | AHB_ERR;
    /// Linux's RX/TX completion group, acknowledged before NAPI re-checks the rings.
    pub const RXTX: u32 = RPKT_BUF | XPKT_ETH;
    /// Everything Linux enables: 0x19D.
    pub const ALL: u32 = BAD | RXTX;
}

/// MACCR bits (§2.2).
pub mod maccr {
    /// TX DMA enable.
    pub const TXDMA_EN: u32 = 1 << 0;
    /// RX DMA enable.
    pub const RXDMA_EN: u32 = 1 << 1;
    /// TX MAC enable.
    pub const TXMAC_EN: u32 = 1 << 2;
    /// RX MAC enable.
    pub const RXMAC_EN: u32 = 1 << 3;
    /// Strip the 802.1Q tag on receive; the TCI goes to RXDES1.
    pub const RM_VLAN: u32 = 1 << 4;
    /// High-priority TX ring enable.
    pub const HPTXR_EN: u32 = 1 << 5;
    /// Loopback.
    pub const LOOP_EN: u32 = 1 << 6;
    /// Receive while transmitting in half duplex.
    pub const ENRX_IN_HALFTX: u32 = 1 << 7;
    /// Full duplex.
    pub const FULLDUP: u32 = 1 << 8;
    /// 1000 Mb/s; kept across SW_RST.
    pub const GIGA_MODE: u32 = 1 << 9;
    /// Append the FCS on transmit.
    pub const CRC_APD: u32 = 1 << 10;
    /// Polarity of the PHY link signal.
    pub const PHY_LINK_LEVEL: u32 = 1 << 11;
    /// Accept runt frames.
    pub const RX_RUNT: u32 = 1 << 12;
    /// Jumbo frames: receive up to 9216 bytes.
    pub const JUMBO_LF: u32 = 1 << 13;
    /// Promiscuous.
    pub const RX_ALL: u32 = 1 << 14;
    /// Multicast filtering through the MAHT hash table.
    pub const HT_MULTI_EN: u32 = 1 << 15;
    /// Accept all multicast.
    pub const RX_MULTIPKT: u32 = 1 << 16;
    /// Accept broadcast.
    pub const RX_BROADPKT: u32 = 1 << 17;
    /// Discard frames with a CRC error.
    pub const DISCARD_CRCERR: u32 = 1 << 18;
    /// 100 Mb/s; kept across SW_RST.
    pub const FAST_MODE: u32 = 1 << 19;
    /// Soft reset; self-clearing.
    pub const SW_RST: u32 = 1 << 31;

    /// The speed bits that survive SW_RST.
    pub const SPEED_MASK: u32 = GIGA_MODE | FAST_MODE;
}

/// PHYCR fields, old MDIO interface (§2.3).
pub mod phycr {
    /// MDC clock divider [5:0].
    pub const MDC_CYCTHR_MASK: u32 = 0x3f;
    /// PHY address [20:16].
    pub const PHYAD_SHIFT: u32 = 16;
    /// Register address [25:21].
    pub const REGAD_SHIFT: u32 = 21;
    /// Start a read; clears itself when done.
    pub const MIIRD: u32 = 1 << 26;
    /// Start a write; clears itself when done.
    pub const MIIWR: u32 = 1 << 27;
}

/// REVR bit 31: the new MDIO interface (Linux clears it on the AST2400/2500).
pub const REVR_NEW_MDIO_INTERFACE: u32 = 1 << 31;

/// FCR fields.
pub mod fcr {
    /// Flow control enable: honour received pause frames.
    pub const FC_EN: u32 = 1 << 0;
    /// Send pause frames past the RX threshold.
    pub const FCTHR_EN: u32 = 1 << 2;
    /// Pause time [31:16].
    pub const PAUSE_TIME_SHIFT: u32 = 16;
}

/// Reset values of the registers a model keeps (§2, "Q reset").
pub mod reset {
    /// APTC.
    pub const APTC: u32 = 1;
    /// DBLAC: 16-byte descriptors.
    pub const DBLAC: u32 = 0x0002_2f00;
    /// TPAFCR.
    pub const TPAFCR: u32 = 0xf1;
    /// RBSR: 1600 bytes.
    pub const RBSR: u32 = 0x640;
    /// FCR.
    pub const FCR: u32 = 0x400;
}

/// The values the Linux driver programs (§2.4).
pub mod linux {
    /// RX buffer size: 1536.
    pub const RBSR: u32 = 0x600;
    /// RX auto-poll on (RXPOLL_CNT = 1), TX auto-poll off.
    pub const APTC: u32 = 0x1;
    /// 16-byte descriptors, bursts 3/3, RX_THR_EN, HTHR 6, LTHR 2.
    pub const DBLAC: u32 = 0x0002_2f72;
    /// One interrupt per packet.
    pub const ITC: u32 = 0x0000_1010;
    /// MACCR bits `start_hw` always sets: TX/RX DMA and MAC, CRC_APD, PHY_LINK_LEVEL, RX_RUNT, RX_BROADPKT.
    pub const MACCR_BASE: u32 = 0x0002_1c0f;
}
