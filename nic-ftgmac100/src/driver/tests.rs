//! The driver against the device model, in one thread with a virtual clock: the model's TX
//! output is cabled back to its own RX (a loopback plug), and the test plays the NAPI loop.

use std::sync::Arc;

use netstack_wire::{
    EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Address, SeqNumber, TcpFlags,
    TcpPacket, TcpRepr, build, checksum,
};

use super::*;
use crate::dma::{SDRAM_BASE, SimDma};
use crate::model::{Fault, Ftgmac100Model, LinkPartner, ModelConfig};

type Model = Ftgmac100Model<Arc<SimDma>>;

struct Nic {
    model: Arc<Model>,
    drv: Ftgmac100<Arc<Model>, Arc<SimDma>>,
    now: u64,
}

const MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

fn nic_with(rx: u32, tx: u32, mtu: u32, partner: LinkPartner) -> Nic {
    let dma = Arc::new(SimDma::new(SDRAM_BASE, 8 << 20));
    let model = Arc::new(Ftgmac100Model::new(
        dma.clone(),
        ModelConfig {
            partner,
            ..ModelConfig::default()
        },
        Box::new(|_| {}),
    ));
    let config = DriverConfig {
        rx_ring_size: rx,
        tx_ring_size: tx,
        mtu,
        ..DriverConfig::new(SDRAM_BASE, 8 << 20)
    };
    let mut drv = Ftgmac100::probe(model.clone(), dma, config).unwrap();
    drv.open(0).unwrap();
    let mut nic = Nic { model, drv, now: 0 };
    nic.tick(0);
    nic
}

fn nic() -> Nic {
    nic_with(128, 128, 1500, LinkPartner::default())
}

impl Nic {
    /// Advances the virtual clock and runs the driver's timers.
    fn tick(&mut self, ns: u64) {
        self.now += ns;
        self.drv.timer(self.now).unwrap();
    }

    /// The loopback plug: what the MAC sent comes back in.
    fn cable(&self) {
        let mut sent = Batch::new();
        self.model.take_transmitted(&mut sent);
        self.model.receive(sent.iter());
    }

    /// Plays the NAPI loop until the driver goes back to interrupts; returns the frames.
    fn service(&mut self) -> RxBatch {
        let mut out = RxBatch::default();
        for _ in 0..10_000 {
            if self.model.irq_level() {
                self.drv.interrupt();
            }
            if !self.drv.napi_scheduled() {
                break;
            }
            self.drv.napi_poll(NAPI_BUDGET, &mut out).unwrap();
            self.model.poll(); // auto-poll retries the RX FIFO
        }
        out
    }

    fn reg(&self, r: Reg) -> u32 {
        self.model.read32(r)
    }
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    let eth = EthernetRepr {
        src_addr: MAC,
        dst_addr: MAC,
        vlan: None,
        ethertype: EtherType::Unknown(0x88b5),
    };
    let payload: Vec<u8> = (0..len - 14)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect();
    build::ethernet(&eth, &payload)
}

#[test]
fn open_programs_the_registers_linux_does() {
    let n = nic();
    // 1 Gb/s full duplex with pause, negotiated with the default gigabit partner (§2.4 example).
    assert_eq!(
        n.drv.link(),
        LinkState {
            speed: Some(Speed::Mbps1000),
            full_duplex: true,
            pause: true
        }
    );
    assert_eq!(n.reg(Reg::MACCR), 0x0002_1f1f);
    assert_eq!(n.reg(Reg::IER), int::ALL);
    assert_eq!(n.reg(Reg::RBSR), 0x600);
    assert_eq!(n.reg(Reg::DBLAC), 0x0002_2f72);
    assert_eq!(n.reg(Reg::ITC), 0x0000_1010);
    assert_eq!(n.reg(Reg::APTC), 1);
    assert_eq!(n.reg(Reg::FCR), 0x0010_0005);
    assert_eq!(n.reg(Reg::REVR) & crate::regs::REVR_NEW_MDIO_INTERFACE, 0);
    assert_eq!(n.drv.mac(), MAC, "read from MADR/LADR at probe");
    assert!(n.drv.carrier());
    assert_eq!(
        n.drv.stats().resets,
        1,
        "the link coming up reprogrammed the MAC"
    );
}

#[test]
fn every_frame_size_from_60_to_1514_round_trips() {
    let mut n = nic();
    for len in 60..=1514 {
        let f = frame(len, len as u8);
        n.drv
            .start_xmit(n.now, &[&f], TxOffload::default())
            .unwrap();
        n.cable();
        let got = n.service();
        assert_eq!(
            got.frames.iter().collect::<Vec<_>>(),
            [&f[..]],
            "length {len}"
        );
    }
    let s = n.drv.stats();
    assert_eq!((s.tx_packets, s.rx_packets), (1455, 1455));
}

#[test]
fn short_frames_are_padded_to_60() {
    let mut n = nic();
    let f = frame(42, 1);
    n.drv.start_xmit(0, &[&f], TxOffload::default()).unwrap();
    n.cable();
    let got = n.service();
    let back = got.frames.iter().next().unwrap();
    assert_eq!(back.len(), 60);
    assert_eq!(&back[..42], &f[..]);
    assert!(back[42..].iter().all(|&b| b == 0));
}

#[test]
fn jumbo_frames_scatter_and_reassemble() {
    let mut n = nic_with(128, 128, 9000, LinkPartner::default());
    assert_ne!(n.reg(Reg::MACCR) & maccr::JUMBO_LF, 0);
    for len in [1515, 3000, 9014] {
        let f = frame(len, 3);
        n.drv
            .start_xmit(n.now, &[&f[..100], &f[100..]], TxOffload::default())
            .unwrap();
        n.cable();
        let got = n.service();
        assert_eq!(
            got.frames.iter().collect::<Vec<_>>(),
            [&f[..]],
            "length {len}"
        );
    }
    // Too long even for jumbo: dropped and counted, nothing sent.
    let f = frame(9300, 0);
    assert_eq!(
        n.drv.start_xmit(n.now, &[&f], TxOffload::default()),
        Err(XmitError::Dropped("longer than the largest frame"))
    );
    assert_eq!(n.drv.stats().tx_dropped, 1);
}

/// A sink that looks at each frame's first bytes, then copies it from an offset on.
struct Peek {
    from: usize,
    heads: Vec<Vec<u8>>,
    tails: Vec<Vec<u8>>,
}

impl RxSink for Peek {
    fn take_frame(&mut self, frame: &RxFrame<'_>) -> Result<(), crate::access::DmaError> {
        let mut head = [0; 200];
        let n = frame.read(0, &mut head)?;
        self.heads.push(head[..n].to_vec());
        let mut tail = Vec::new();
        frame.copy_from(self.from, &mut tail)?;
        self.tails.push(tail);
        Ok(())
    }
}

impl Nic {
    /// Sends `f` round the loopback plug and polls it into a [`Peek`] copying from `from`.
    fn peek(&mut self, f: &[u8], from: usize) -> Peek {
        self.drv
            .start_xmit(self.now, &[f], TxOffload::default())
            .unwrap();
        self.cable();
        self.drv.interrupt();
        let mut peek = Peek {
            from,
            heads: Vec::new(),
            tails: Vec::new(),
        };
        self.drv.napi_poll(NAPI_BUDGET, &mut peek).unwrap();
        peek
    }
}

#[test]
fn a_sink_sees_a_frame_in_its_buffers_and_copies_it_from_any_offset() {
    let mut n = nic_with(128, 128, 9000, LinkPartner::default());
    // 1536-byte RX buffers: offsets before, on and after the first seam, and past the end.
    for from in [0, 54, 1535, 1536, 1600, 5000, 9014, 9100] {
        let f = frame(9014, from as u8);
        let peek = n.peek(&f, from);
        assert_eq!(peek.heads, [f[..200].to_vec()], "from {from}");
        assert_eq!(peek.tails, [f[from.min(f.len())..].to_vec()], "from {from}");
        assert_eq!(n.service().len(), 0, "the frame was taken, once");
    }
    // A head buffer longer than a short frame gets the frame only.
    let f = frame(100, 9);
    let peek = n.peek(&f, 60);
    assert_eq!(peek.heads, std::slice::from_ref(&f));
    assert_eq!(peek.tails, [f[60..].to_vec()]);
}

#[test]
fn multi_segment_frames_use_one_descriptor_each() {
    let mut n = nic();
    let f = frame(1000, 9);
    let segs: Vec<&[u8]> = f.chunks(100).collect();
    n.drv.start_xmit(0, &segs, TxOffload::default()).unwrap();
    assert_eq!(
        n.reg(Reg::NPTXR_PTR) - n.reg(Reg::NPTXR_BADR),
        10 * DESC_SIZE
    );
    n.cable();
    assert_eq!(n.service().frames.iter().collect::<Vec<_>>(), [&f[..]]);
    let too_many: Vec<&[u8]> = f.chunks(50).collect();
    assert!(matches!(
        n.drv.start_xmit(0, &too_many, TxOffload::default()),
        Err(XmitError::Dropped(_))
    ));
}

#[test]
fn rings_wrap_many_times() {
    let mut n = nic_with(32, 32, 1500, LinkPartner::default());
    for i in 0..32 * 20 {
        let f = frame(60 + i % 200, i as u8);
        n.drv
            .start_xmit(n.now, &[&f], TxOffload::default())
            .unwrap();
        n.cable();
        assert_eq!(
            n.service().frames.iter().collect::<Vec<_>>(),
            [&f[..]],
            "frame {i}"
        );
    }
}

#[test]
fn rx_burst_beyond_the_ring_recovers_through_auto_poll() {
    let mut n = nic_with(32, 32, 1500, LinkPartner::default());
    // 32 land in the ring, the other 118 (23.6 KB) wait in the 32 KiB RX FIFO.
    let frames: Vec<Vec<u8>> = (0..150).map(|i| frame(200, i as u8)).collect();
    n.model.receive(frames.iter().map(Vec::as_slice));
    assert!(n.model.rx_waiting());
    let got = n.service();
    let seeds: Vec<u8> = got.frames.iter().map(|f| f[14]).collect();
    assert_eq!(
        seeds,
        (0..150).map(|i| i as u8).collect::<Vec<_>>(),
        "all, in order"
    );
    assert!(
        got.frames.iter().zip(&frames).all(|(a, b)| a == &b[..]),
        "intact"
    );
    assert!(
        n.drv.stats().rx_over_errors > 0,
        "NO_RXBUF was seen and counted"
    );
    assert_eq!(n.model.counters().rx_lost, 0);
}

#[test]
fn rx_flood_beyond_the_fifo_is_lost_without_flow_control() {
    let no_pause = LinkPartner {
        pause: false,
        ..LinkPartner::default()
    };
    let mut n = nic_with(32, 32, 1500, no_pause);
    assert!(!n.drv.link().pause);
    // Beyond what the FIFO holds, frames are lost (RPKT_LOST), counted, and the rest still arrive.
    let flood: Vec<Vec<u8>> = (0..300).map(|i| frame(1000, i as u8)).collect();
    assert_eq!(n.model.receive(flood.iter().map(Vec::as_slice)), 300);
    let got = n.service();
    let lost = n.model.counters().rx_lost;
    assert!(lost > 0);
    assert_eq!(got.len() as u64 + lost, 300);
    assert!(n.drv.stats().rx_fifo_errors > 0);
    assert_eq!(n.model.counters().rx_paused, 0);
}

/// 802.3x: with pause negotiated (Linux sets FCR.FCTHR_EN), a full RX FIFO pauses the link
/// partner instead of losing frames: the MAC refuses the rest of the burst, which the partner
/// keeps and offers again once the driver has emptied the ring.
#[test]
fn rx_flood_beyond_the_fifo_pauses_the_partner_and_loses_nothing() {
    let mut n = nic_with(32, 32, 1500, LinkPartner::default());
    assert!(n.drv.link().pause);
    assert_ne!(n.reg(Reg::FCR) & crate::regs::fcr::FCTHR_EN, 0);
    let flood: Vec<Vec<u8>> = (0..300).map(|i| frame(1000, i as u8)).collect();
    let mut offered = 0;
    let mut got = Vec::new();
    for _ in 0..100 {
        if offered == flood.len() {
            break;
        }
        let taken = n.model.receive(flood[offered..].iter().map(Vec::as_slice));
        offered += taken;
        got.extend(n.service().frames.iter().map(<[u8]>::to_vec));
    }
    assert_eq!(offered, 300, "the partner offered everything in the end");
    let c = n.model.counters();
    assert!(c.rx_paused > 0, "the burst paused the partner");
    assert_eq!(c.rx_lost, 0);
    assert_eq!(n.drv.stats().rx_fifo_errors, 0);
    assert_eq!(got, flood, "all, in order, intact");
}

#[test]
fn napi_respects_its_budget_and_polls_again() {
    let mut n = nic();
    let frames: Vec<Vec<u8>> = (0..100).map(|i| frame(100, i as u8)).collect();
    n.model.receive(frames.iter().map(Vec::as_slice));
    assert!(n.drv.interrupt());
    let mut out = RxBatch::default();
    assert_eq!(n.drv.napi_poll(NAPI_BUDGET, &mut out).unwrap(), NAPI_BUDGET);
    assert_eq!(out.len(), 64);
    assert!(
        n.drv.napi_scheduled(),
        "budget spent: still scheduled, interrupts still masked"
    );
    assert_eq!(n.reg(Reg::IER), int::BAD);
    assert_eq!(n.drv.napi_poll(NAPI_BUDGET, &mut out).unwrap(), 36);
    assert!(!n.drv.napi_scheduled());
    assert_eq!(n.reg(Reg::IER), int::ALL);
    assert_eq!(out.len(), 100);
}

#[test]
fn full_tx_ring_stops_the_queue_and_reclaim_wakes_it() {
    let mut n = nic_with(32, 32, 1500, LinkPartner::default());
    n.model.inject(Fault::TxStall(true));
    let f = frame(100, 0);
    let mut queued = 0;
    while n.drv.start_xmit(n.now, &[&f], TxOffload::default()).is_ok() {
        queued += 1;
    }
    assert_eq!(
        queued,
        32 - TX_THRESHOLD,
        "stopped with a frame's worth of descriptors left"
    );
    assert!(n.drv.tx_queue_stopped());
    assert_eq!(
        n.drv.start_xmit(n.now, &[&f], TxOffload::default()),
        Err(XmitError::Busy)
    );
    n.model.inject(Fault::TxStall(false));
    n.cable();
    let got = n.service();
    assert_eq!(got.len(), queued as usize);
    assert!(!n.drv.tx_queue_stopped());
    let s = n.drv.stats();
    assert_eq!(
        (s.tx_queue_stops, s.tx_queue_wakes, s.tx_packets),
        (1, 1, queued as u64)
    );
}

#[test]
fn ahb_error_resets_and_traffic_resumes() {
    let mut n = nic();
    let tx_ring = n.reg(Reg::NPTXR_BADR);
    n.model.inject(Fault::AhbErrorAtDescriptor(tx_ring));
    let f = frame(100, 1);
    n.drv
        .start_xmit(n.now, &[&f], TxOffload::default())
        .unwrap();
    assert!(n.drv.interrupt());
    assert!(n.drv.reset_pending());
    assert_eq!(n.reg(Reg::IER), 0);
    n.tick(1);
    assert!(!n.drv.reset_pending());
    let s = n.drv.stats();
    assert_eq!((s.ahb_errors, s.resets, s.tx_dropped), (1, 2, 1));
    // Traffic resumes on the fresh rings.
    n.drv
        .start_xmit(n.now, &[&f], TxOffload::default())
        .unwrap();
    n.cable();
    assert_eq!(n.service().frames.iter().collect::<Vec<_>>(), [&f[..]]);
}

#[test]
fn tx_stall_fires_the_watchdog_after_five_seconds() {
    let mut n = nic_with(32, 32, 1500, LinkPartner::default());
    n.model.inject(Fault::TxStall(true));
    let f = frame(100, 1);
    while n.drv.start_xmit(n.now, &[&f], TxOffload::default()).is_ok() {}
    n.tick(TX_TIMEOUT_NS);
    assert_eq!(n.drv.stats().tx_timeouts, 0, "not before 5 s");
    n.tick(1_000_000);
    assert_eq!(n.drv.stats().tx_timeouts, 1);
    assert!(!n.drv.tx_queue_stopped(), "the reset emptied the ring");
    n.model.inject(Fault::TxStall(false));
    n.drv
        .start_xmit(n.now, &[&f], TxOffload::default())
        .unwrap();
    n.cable();
    assert_eq!(n.service().len(), 1);
}

#[test]
fn link_down_and_up_follow_the_phy() {
    let mut n = nic();
    n.model.set_link(false);
    n.tick(PHY_POLL_NS);
    assert!(!n.drv.carrier());
    n.model.set_partner(LinkPartner {
        max_speed: Speed::Mbps100,
        full_duplex: true,
        pause: false,
    });
    n.model.set_link(true);
    n.tick(PHY_POLL_NS);
    assert_eq!(
        n.drv.link(),
        LinkState {
            speed: Some(Speed::Mbps100),
            full_duplex: true,
            pause: false
        }
    );
    assert_eq!(n.reg(Reg::MACCR) & maccr::SPEED_MASK, maccr::FAST_MODE);
    assert_eq!(
        n.reg(Reg::FCR),
        0x0010_0000,
        "no pause against this partner"
    );
    n.model.set_partner(LinkPartner {
        max_speed: Speed::Mbps10,
        full_duplex: false,
        pause: false,
    });
    n.model.set_link(false);
    n.tick(PHY_POLL_NS);
    n.model.set_link(true);
    n.tick(PHY_POLL_NS);
    assert_eq!(n.drv.link().speed, Some(Speed::Mbps10));
    assert_eq!(n.reg(Reg::MACCR) & (maccr::SPEED_MASK | maccr::FULLDUP), 0);
    assert_eq!(n.drv.stats().link_changes, 5);
}

const SRC: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const DST: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    let mut seg = TcpRepr::new(
        40000,
        80,
        TcpFlags::ACK | TcpFlags::PSH,
        SeqNumber(7),
        SeqNumber(9),
        512,
    );
    seg.payload = payload;
    let eth = EthernetRepr {
        src_addr: MAC,
        dst_addr: MAC,
        vlan: None,
        ethertype: EtherType::Ipv4,
    };
    build::ethernet(
        &eth,
        &build::ipv4(SRC, DST, IpProtocol::Tcp, &build::tcp(&seg, SRC, DST)),
    )
}

#[test]
fn tx_checksum_offload_produces_checksums_that_verify() {
    let mut n = nic();
    let good = tcp_frame(b"checksummed by the MAC");
    // CHECKSUM_PARTIAL: IP checksum zero, TCP field the pseudo-header sum.
    let mut partial = good.clone();
    partial[24..26].fill(0);
    let mut tcp = TcpPacket::new_unchecked(&mut partial[34..]);
    tcp.fill_partial_checksum(SRC, DST);
    let offload = TxOffload {
        ip_checksum: true,
        tcp_checksum: true,
        ..TxOffload::default()
    };
    n.drv.start_xmit(0, &[&partial], offload).unwrap();
    let mut sent = Batch::new();
    n.model.take_transmitted(&mut sent);
    let wire = sent.iter().next().unwrap();
    assert_eq!(wire, &good[..]);
    assert!(
        checksum::verify(&wire[14..34]),
        "independent check of the IP header"
    );
    assert!(
        TcpPacket::new_checked(&wire[34..])
            .unwrap()
            .verify_checksum(SRC, DST)
    );
}

#[test]
fn rx_checksum_status_reaches_the_stack() {
    let mut n = nic();
    let good = tcp_frame(b"long enough not to be a runt");
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0xff;
    let not_ip = frame(64, 0);
    // A bare ACK padded to the minimum: the padding is not the segment's.
    let mut padded = tcp_frame(b"");
    padded.resize(60, 0x5a);
    let sent = [&good[..], &bad[..], &not_ip[..], &padded[..]];
    n.model.receive(sent);
    let got = n.service();
    assert_eq!(got.checksum_ok, [true, false, false, true]);
    // Summed as they were written, and written whole.
    assert!(got.frames.iter().eq(sent));
}

#[test]
fn vlan_tags_are_inserted_and_stripped() {
    let mut n = nic();
    let f = frame(100, 5);
    n.drv
        .start_xmit(
            0,
            &[&f],
            TxOffload {
                vlan: Some(42),
                ..TxOffload::default()
            },
        )
        .unwrap();
    n.cable();
    let got = n.service();
    assert_eq!(got.vlan, [Some(42)]);
    assert_eq!(got.frames.iter().next().unwrap(), &f[..]);
}

#[test]
fn bad_configuration_is_refused() {
    let dma = Arc::new(SimDma::new(SDRAM_BASE, 1 << 20));
    let model = Arc::new(Ftgmac100Model::new(
        dma.clone(),
        ModelConfig::default(),
        Box::new(|_| {}),
    ));
    let probe = |c: DriverConfig| {
        Ftgmac100::probe(model.clone(), dma.clone(), c)
            .map(|_| ())
            .unwrap_err()
    };
    let base = DriverConfig::new(SDRAM_BASE, 1 << 20);
    assert_eq!(
        probe(DriverConfig {
            rx_ring_size: 100,
            ..base.clone()
        }),
        DriverError::RingSize(100)
    );
    assert_eq!(
        probe(DriverConfig {
            tx_ring_size: 2048,
            ..base.clone()
        }),
        DriverError::RingSize(2048)
    );
    assert_eq!(
        probe(DriverConfig {
            mtu: 9001,
            ..base.clone()
        }),
        DriverError::Mtu(9001)
    );
    assert!(matches!(
        probe(DriverConfig {
            rx_ring_size: 1024,
            tx_ring_size: 1024,
            ..base.clone()
        }),
        DriverError::DmaTooSmall { .. }
    ));
    model.write32(Reg::MAC_MADR, 0);
    model.write32(Reg::MAC_LADR, 0);
    assert!(matches!(probe(base), DriverError::NoMacAddress(_)));
}

#[test]
fn rings_resize_through_the_reset_task() {
    let mut n = nic();
    n.drv.set_ring_sizes(256, 64).unwrap();
    assert_eq!(n.drv.ring_sizes(), (256, 64));
    assert_eq!(n.drv.set_ring_sizes(48, 64), Err(DriverError::RingSize(48)));
    assert_eq!(n.drv.stats().resets, 2);
    for i in 0..600 {
        let f = frame(100, i as u8);
        n.drv
            .start_xmit(n.now, &[&f], TxOffload::default())
            .unwrap();
        n.cable();
        assert_eq!(n.service().len(), 1, "frame {i}");
    }
    // The device walked the new rings: its pointers sit inside them.
    let rx_ring = n.reg(Reg::RXR_BADR);
    assert!(n.reg(Reg::RXR_PTR) - rx_ring < 256 * DESC_SIZE);
}
