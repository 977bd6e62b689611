//! The model alone, driven through its registers and DMA memory as a driver would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use netstack_wire::{EtherType, EthernetAddress, EthernetRepr, build};

use super::*;
use crate::desc::{DESC_SIZE, Desc, rxdes0, rxdes1, txdes0, txdes1};
use crate::dma::{SDRAM_BASE, SimDma};
use crate::regs::int;

const TX_RING: u32 = SDRAM_BASE;
const RX_RING: u32 = SDRAM_BASE + 0x1000;
const BUFS: u32 = SDRAM_BASE + 0x2000;
const MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const RUNNING: u32 =
    maccr::TXDMA_EN | maccr::RXDMA_EN | maccr::TXMAC_EN | maccr::RXMAC_EN | maccr::RX_BROADPKT;

struct Rig {
    dma: Arc<SimDma>,
    dev: Ftgmac100Model<Arc<SimDma>>,
    irq_edges: Arc<AtomicUsize>,
}

fn rig() -> Rig {
    let dma = Arc::new(SimDma::new(SDRAM_BASE, 1 << 20));
    let edges = Arc::new(AtomicUsize::new(0));
    let e = edges.clone();
    let dev = Ftgmac100Model::new(
        dma.clone(),
        ModelConfig::default(),
        Box::new(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        }),
    );
    Rig {
        dma,
        dev,
        irq_edges: edges,
    }
}

impl Rig {
    fn desc(&self, addr: u32) -> Desc {
        let mut b = [0u8; 16];
        self.dma.read(addr, &mut b).unwrap();
        Desc::from_bytes(&b)
    }

    fn set_desc(&self, addr: u32, d: Desc) {
        self.dma.write(addr, &d.to_bytes()).unwrap();
    }

    /// Rings of `n` descriptors, RX buffers of `rbsr` bytes, MAC running.
    fn start(&self, n: u32, rbsr: u32) {
        for i in 0..n {
            let eor = if i == n - 1 {
                crate::desc::EDO_ASPEED
            } else {
                0
            };
            self.set_desc(
                TX_RING + i * DESC_SIZE,
                Desc {
                    w0: eor,
                    ..Desc::default()
                },
            );
            self.set_desc(
                RX_RING + i * DESC_SIZE,
                Desc {
                    w0: eor,
                    w3: BUFS + 0x10000 + i * 0x4000,
                    ..Desc::default()
                },
            );
        }
        self.dev.write32(Reg::NPTXR_BADR, TX_RING);
        self.dev.write32(Reg::RXR_BADR, RX_RING);
        self.dev.write32(Reg::RBSR, rbsr);
        self.dev.write32(Reg::MACCR, RUNNING);
    }

    fn transmitted(&self) -> Vec<Vec<u8>> {
        let mut b = Batch::new();
        self.dev.take_transmitted(&mut b);
        b.iter().map(<[u8]>::to_vec).collect()
    }
}

fn frame(len: usize, dst: EthernetAddress) -> Vec<u8> {
    let eth = EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 9]),
        dst_addr: dst,
        vlan: None,
        ethertype: EtherType::Unknown(0x88b5),
    };
    let payload: Vec<u8> = (0..len - 14).map(|i| i as u8).collect();
    build::ethernet(&eth, &payload)
}

#[test]
fn reset_values_and_mac_address() {
    let r = rig();
    assert_eq!(r.dev.read32(Reg::MAC_MADR), 0x5254);
    assert_eq!(r.dev.read32(Reg::MAC_LADR), 0x0012_3456);
    assert_eq!(r.dev.read32(Reg::DBLAC), 0x0002_2f00);
    assert_eq!(r.dev.read32(Reg::RBSR), 0x640);
    assert_eq!(r.dev.read32(Reg::FCR), 0x400);
    r.dev.write32(Reg::MAC_MADR, 0x0200);
    r.dev.write32(Reg::MAC_LADR, 0x0000_0001);
    assert_eq!(
        (r.dev.read32(Reg::MAC_MADR), r.dev.read32(Reg::MAC_LADR)),
        (0x0200, 1)
    );
}

#[test]
fn sw_rst_self_clears_and_keeps_the_speed_bits() {
    let r = rig();
    r.start(4, 1536);
    r.dev.write32(Reg::IER, int::ALL);
    r.dev
        .write32(Reg::MACCR, RUNNING | maccr::GIGA_MODE | maccr::FULLDUP);
    r.dev
        .write32(Reg::MACCR, RUNNING | maccr::GIGA_MODE | maccr::SW_RST);
    assert_eq!(r.dev.read32(Reg::MACCR), maccr::GIGA_MODE);
    assert_eq!(
        (
            r.dev.read32(Reg::IER),
            r.dev.read32(Reg::RXR_BADR),
            r.dev.read32(Reg::RXR_PTR)
        ),
        (0, 0, 0)
    );
    assert_eq!(
        r.dev.read32(Reg::MAC_MADR),
        0x5254,
        "the MAC address survives reset"
    );
}

#[test]
fn isr_latches_w1c_and_the_line_follows_ier() {
    let r = rig();
    r.start(4, 1536);
    r.dev.write32(Reg::NPTXPD, 1); // empty ring: NO_NPTXBUF latches though masked
    assert_eq!(r.dev.read32(Reg::ISR), int::NO_NPTXBUF);
    assert!(!r.dev.irq_level());
    r.dev.write32(Reg::IER, int::NO_NPTXBUF);
    assert!(
        r.dev.irq_level(),
        "the line rises as soon as IER unmasks a latched bit"
    );
    r.dev.write32(Reg::ISR, int::NO_NPTXBUF);
    assert!(!r.dev.irq_level());
    assert_eq!(r.irq_edges.load(Ordering::SeqCst), 2);
}

#[test]
fn tx_walk_gathers_a_chain_and_skips_a_half_published_one() {
    let r = rig();
    r.start(8, 1536);
    let f = frame(300, EthernetAddress::BROADCAST);
    // Frame 1 in three segments; frame 2's head published but its tail not yet.
    let segs = [&f[..14], &f[14..100], &f[100..]];
    for (i, s) in segs.iter().enumerate() {
        let buf = BUFS + i as u32 * 0x800;
        r.dma.write(buf, s).unwrap();
        let mut w0 = txdes0::TXDMA_OWN | s.len() as u32;
        if i == 0 {
            w0 |= txdes0::FTS;
        }
        if i == 2 {
            w0 |= txdes0::LTS;
        }
        r.set_desc(
            TX_RING + i as u32 * DESC_SIZE,
            Desc {
                w0,
                w3: buf,
                ..Desc::default()
            },
        );
    }
    r.dma.write(BUFS + 0x3000, &f[..60]).unwrap();
    r.set_desc(
        TX_RING + 3 * DESC_SIZE,
        Desc {
            w0: txdes0::TXDMA_OWN | txdes0::FTS | 60,
            w3: BUFS + 0x3000,
            ..Desc::default()
        },
    );
    r.dev.write32(Reg::NPTXPD, 1);
    assert_eq!(r.transmitted(), std::slice::from_ref(&f));
    assert_eq!(r.desc(TX_RING).w0 & txdes0::TXDMA_OWN, 0);
    assert_ne!(
        r.desc(TX_RING + 3 * DESC_SIZE).w0 & txdes0::TXDMA_OWN,
        0,
        "half-published chain untouched"
    );
    assert_eq!(r.dev.read32(Reg::NPTXR_PTR), TX_RING + 3 * DESC_SIZE);
    assert_ne!(r.dev.read32(Reg::ISR) & int::XPKT_ETH, 0);

    // The tail arrives: the whole second frame goes.
    r.dma.write(BUFS + 0x3800, &f[60..]).unwrap();
    r.set_desc(
        TX_RING + 4 * DESC_SIZE,
        Desc {
            w0: txdes0::TXDMA_OWN | txdes0::LTS | 240,
            w3: BUFS + 0x3800,
            ..Desc::default()
        },
    );
    r.dev.write32(Reg::NPTXPD, 1);
    assert_eq!(r.transmitted(), [f]);
}

#[test]
fn tx_inserts_a_vlan_tag() {
    let r = rig();
    r.start(4, 1536);
    let f = frame(64, EthernetAddress::BROADCAST);
    r.dma.write(BUFS, &f).unwrap();
    let w1 = txdes1::INS_VLANTAG | 0x2064;
    r.set_desc(
        TX_RING,
        Desc {
            w0: txdes0::TXDMA_OWN | txdes0::FTS | txdes0::LTS | 64,
            w1,
            w3: BUFS,
            ..Desc::default()
        },
    );
    r.dev.write32(Reg::NPTXPD, 1);
    let sent = r.transmitted();
    assert_eq!(sent[0].len(), 68);
    assert_eq!(sent[0][12..16], [0x81, 0x00, 0x20, 0x64]);
    assert_eq!(sent[0][16..], f[12..]);
}

#[test]
fn tx_drops_a_frame_longer_than_its_fifo_and_sends_the_next_whole() {
    let r = rig();
    r.start(8, 1536);
    // Two 5000-byte pieces: over the 9220-byte TX FIFO.
    for i in 0..2u32 {
        let buf = BUFS + i * 0x2000;
        r.dma.write(buf, &[0xee; 5000]).unwrap();
        let edge = if i == 0 { txdes0::FTS } else { txdes0::LTS };
        r.set_desc(
            TX_RING + i * DESC_SIZE,
            Desc {
                w0: txdes0::TXDMA_OWN | edge | 5000,
                w3: buf,
                ..Desc::default()
            },
        );
    }
    let f = frame(60, EthernetAddress::BROADCAST);
    r.dma.write(BUFS + 0x4000, &f).unwrap();
    r.set_desc(
        TX_RING + 2 * DESC_SIZE,
        Desc {
            w0: txdes0::TXDMA_OWN | txdes0::FTS | txdes0::LTS | 60,
            w3: BUFS + 0x4000,
            ..Desc::default()
        },
    );
    r.dev.write32(Reg::NPTXPD, 1);
    // Nothing of the long frame is left in front of the next one.
    assert_eq!(r.transmitted(), [f]);
    assert_ne!(r.dev.read32(Reg::ISR) & int::XPKT_LOST, 0);
    assert_eq!(r.dev.counters().tx_dropped, 1);
    assert_eq!(r.desc(TX_RING + DESC_SIZE).w0 & txdes0::TXDMA_OWN, 0);
}

#[test]
fn ahb_error_on_a_tx_descriptor_leaves_it_owned() {
    let r = rig();
    r.start(4, 1536);
    r.dma
        .write(BUFS, &frame(60, EthernetAddress::BROADCAST))
        .unwrap();
    r.set_desc(
        TX_RING,
        Desc {
            w0: txdes0::TXDMA_OWN | txdes0::FTS | txdes0::LTS | 60,
            w3: BUFS,
            ..Desc::default()
        },
    );
    r.dev.inject(Fault::AhbErrorAtDescriptor(TX_RING));
    r.dev.write32(Reg::NPTXPD, 1);
    assert_ne!(r.dev.read32(Reg::ISR) & int::AHB_ERR, 0);
    assert!(r.transmitted().is_empty());
    assert_ne!(r.desc(TX_RING).w0 & txdes0::TXDMA_OWN, 0);
    // The fault was one-shot: the next poll demand sends it.
    r.dev.write32(Reg::NPTXPD, 1);
    assert_eq!(r.transmitted().len(), 1);
}

#[test]
fn rx_scatters_a_jumbo_frame_over_buffers() {
    let r = rig();
    r.start(8, 1536);
    r.dev.write32(Reg::MACCR, RUNNING | maccr::JUMBO_LF);
    let f = frame(9000, MAC);
    r.dev.receive([&f[..]]);
    let mut got = Vec::new();
    for i in 0..6 {
        let d = r.desc(RX_RING + i * DESC_SIZE);
        assert_ne!(d.w0 & rxdes0::RXPKT_RDY, 0);
        assert_eq!(d.w0 & rxdes0::FRS != 0, i == 0);
        assert_eq!(d.w0 & rxdes0::LRS != 0, i == 5);
        let len = (d.w0 & rxdes0::VDBC_MASK) as usize;
        let mut b = vec![0u8; len];
        r.dma.read(d.w3, &mut b).unwrap();
        got.extend_from_slice(&b);
    }
    assert_eq!(got, f);
    assert_eq!(r.desc(RX_RING + 6 * DESC_SIZE).w0 & rxdes0::RXPKT_RDY, 0);
    assert_ne!(r.dev.read32(Reg::ISR) & int::RPKT_BUF, 0);
}

#[test]
fn rx_without_jumbo_truncates_and_flags_ftl() {
    let r = rig();
    r.start(8, 1536);
    r.dev.receive([&frame(2000, MAC)[..]]);
    let d = r.desc(RX_RING);
    assert_ne!(d.w0 & rxdes0::FTL, 0);
    assert_eq!(d.w0 & rxdes0::VDBC_MASK, 1514);
}

#[test]
fn full_ring_raises_no_rxbuf_then_auto_poll_delivers() {
    let r = rig();
    r.start(2, 1536);
    let frames: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let mut f = frame(100, MAC);
            f[20] = i;
            f
        })
        .collect();
    r.dev.receive(frames.iter().map(Vec::as_slice));
    assert_ne!(r.dev.read32(Reg::ISR) & int::NO_RXBUF, 0);
    assert!(r.dev.rx_waiting());
    // The driver takes the two frames and re-arms the descriptors (EDORR kept).
    let mut got = Vec::new();
    let take = |got: &mut Vec<u8>, i: u32| {
        let d = r.desc(RX_RING + i * DESC_SIZE);
        let mut b = vec![0u8; (d.w0 & rxdes0::VDBC_MASK) as usize];
        r.dma.read(d.w3, &mut b).unwrap();
        got.push(b[20]);
        r.set_desc(
            RX_RING + i * DESC_SIZE,
            Desc {
                w0: d.w0 & rxdes0::EDORR,
                ..d
            },
        );
    };
    take(&mut got, 0);
    take(&mut got, 1);
    r.dev.poll();
    take(&mut got, 0);
    take(&mut got, 1);
    assert_eq!(got, [0, 1, 2, 3], "in order, none lost");
    assert!(!r.dev.rx_waiting());
    assert_eq!(r.dev.counters().rx_lost, 0);
}

#[test]
fn rx_fifo_overflow_loses_frames() {
    let r = rig();
    r.start(2, 1536);
    let f = frame(1514, MAC);
    r.dev.receive(std::iter::repeat_n(&f[..], 40));
    let c = r.dev.counters();
    assert_eq!(c.rx_frames, 2);
    assert!(c.rx_lost > 0);
    assert_ne!(r.dev.read32(Reg::ISR) & int::RPKT_LOST, 0);
}

#[test]
fn rx_filter_and_vlan_strip() {
    let r = rig();
    r.start(4, 1536);
    r.dev
        .receive([&frame(100, EthernetAddress([2, 0, 0, 0, 0, 0x77]))[..]]);
    assert_eq!(r.dev.counters().rx_filtered, 1);
    r.dev.write32(Reg::MACCR, RUNNING | maccr::RM_VLAN);
    let f = frame(100, MAC);
    let tagged = [&f[..12], &[0x81, 0x00, 0x00, 0x07], &f[12..]].concat();
    r.dev.receive([&tagged[..]]);
    let d = r.desc(RX_RING);
    assert_eq!(
        d.w1 & (rxdes1::VLANTAG_AVAIL | rxdes1::VLAN_TCI_MASK),
        rxdes1::VLANTAG_AVAIL | 7
    );
    assert_eq!(d.w0 & rxdes0::VDBC_MASK, 100);
    let mut b = vec![0u8; 100];
    r.dma.read(d.w3, &mut b).unwrap();
    assert_eq!(b, f);
}

#[test]
fn mdio_reads_the_phy_through_phycr() {
    let r = rig();
    r.dev.write32(
        Reg::PHYCR,
        crate::regs::phycr::MIIRD | (2 << crate::regs::phycr::REGAD_SHIFT),
    );
    assert_eq!(
        r.dev.read32(Reg::PHYCR) & crate::regs::phycr::MIIRD,
        0,
        "completes at once"
    );
    assert_eq!(r.dev.read32(Reg::PHYDATA) >> 16, 0x001c);
    r.dev.write32(Reg::PHYDATA, 0x0061);
    r.dev.write32(
        Reg::PHYCR,
        crate::regs::phycr::MIIWR | (4 << crate::regs::phycr::REGAD_SHIFT),
    );
    r.dev.write32(
        Reg::PHYCR,
        crate::regs::phycr::MIIRD | (4 << crate::regs::phycr::REGAD_SHIFT),
    );
    assert_eq!(r.dev.read32(Reg::PHYDATA) >> 16, 0x00e1);
}
