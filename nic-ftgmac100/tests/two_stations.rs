//! Driver → model → switch → model → driver, both ways, on a virtual clock, with a pcap tap on
//! one port whose capture tshark must read without a malformed frame.

use std::process::Command;

use netstack_wire::icmpv4::Icmpv4Repr;
use netstack_wire::{
    ArpOperation, ArpRepr, Batch, EtherType, EthernetAddress, EthernetRepr, IpProtocol,
    Ipv4Address, SeqNumber, TcpFlags, TcpRepr, UdpRepr, build,
};
use nic_ftgmac100::model::{LinkPartner, ModelCounters};
use nic_ftgmac100::station::{Station, StationConfig};
use nic_ftgmac100::wire::{PcapTap, PcapWriter, Switch, SwitchPort, Wire};

const MAC_A: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
const IP_A: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const IP_B: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

fn pair<W: Wire>(
    mtu: u32,
    wire_a: impl FnOnce(SwitchPort) -> W,
) -> (Station<W>, Station<SwitchPort>) {
    let sw = Switch::new();
    let a = Station::new(
        &StationConfig {
            mac: MAC_A,
            mtu,
            ..StationConfig::default()
        },
        wire_a(sw.add_port()),
        0,
    )
    .unwrap();
    let b = Station::new(
        &StationConfig {
            mac: MAC_B,
            mtu,
            ..StationConfig::default()
        },
        sw.add_port(),
        0,
    )
    .unwrap();
    (a, b)
}

/// Runs both stations until nothing moves; returns what each received.
fn settle<W: Wire>(
    a: &mut Station<W>,
    b: &mut Station<SwitchPort>,
    now: &mut u64,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for _ in 0..1000 {
        let before = (got_a.len(), got_b.len());
        a.step(*now, &mut |rx| {
            got_a.extend(rx.frames.iter().map(<[u8]>::to_vec))
        })
        .unwrap();
        b.step(*now, &mut |rx| {
            got_b.extend(rx.frames.iter().map(<[u8]>::to_vec))
        })
        .unwrap();
        *now += 10_000;
        if (got_a.len(), got_b.len()) == before
            && !a.model().rx_waiting()
            && !b.model().rx_waiting()
        {
            break;
        }
    }
    (got_a, got_b)
}

/// The frames of `batch` after the first `skip`.
fn rest(batch: &Batch, skip: usize) -> Batch {
    let mut b = Batch::new();
    batch.iter().skip(skip).for_each(|f| b.push(f));
    b
}

fn eth(
    dst: EthernetAddress,
    src: EthernetAddress,
    ethertype: EtherType,
    payload: &[u8],
) -> Vec<u8> {
    build::ethernet(
        &EthernetRepr {
            src_addr: src,
            dst_addr: dst,
            vlan: None,
            ethertype,
        },
        payload,
    )
}

fn udp(len: usize, from_a: bool) -> Vec<u8> {
    let (sm, dm, si, di) = if from_a {
        (MAC_A, MAC_B, IP_A, IP_B)
    } else {
        (MAC_B, MAC_A, IP_B, IP_A)
    };
    let data: Vec<u8> = (0..len - 42).map(|i| i as u8).collect();
    let dgram = build::udp(
        &UdpRepr {
            src_port: 5000,
            dst_port: 9,
        },
        si,
        di,
        &data,
    );
    eth(
        dm,
        sm,
        EtherType::Ipv4,
        &build::ipv4(si, di, IpProtocol::Udp, &dgram),
    )
}

#[test]
fn frames_of_every_class_cross_the_switch_both_ways() {
    for (mtu, sizes) in [
        (1500, &[64usize, 600, 1514][..]),
        (9000, &[64, 1514, 9014][..]),
    ] {
        let (mut a, mut b) = pair(mtu, |p| p);
        let mut now = 0;
        for &len in sizes {
            let mut to_b = Batch::new();
            let mut to_a = Batch::new();
            for _ in 0..100 {
                to_b.push(&udp(len, true));
                to_a.push(&udp(len, false));
            }
            // Offer what is left each turn: the TX queue stops when the ring fills and wakes as
            // the other side drains it.
            let (mut sent_a, mut sent_b) = (0, 0);
            let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
            for _ in 0..10_000 {
                sent_a += a.transmit(now, &rest(&to_b, sent_a)).unwrap();
                sent_b += b.transmit(now, &rest(&to_a, sent_b)).unwrap();
                let (ga, gb) = settle(&mut a, &mut b, &mut now);
                got_a.extend(ga);
                got_b.extend(gb);
                if got_a.len() == 100 && got_b.len() == 100 {
                    break;
                }
            }
            assert_eq!(got_b.len(), 100, "mtu {mtu}, {len}-byte frames A→B");
            assert_eq!(got_a.len(), 100, "mtu {mtu}, {len}-byte frames B→A");
            assert!(got_b.iter().zip(to_b.iter()).all(|(g, s)| g == s));
            assert!(got_a.iter().zip(to_a.iter()).all(|(g, s)| g == s));
        }
        let s = a.driver().stats();
        assert_eq!(s.rx_packets, s.tx_packets, "mtu {mtu}");
        assert_eq!((s.rx_dropped, s.tx_dropped, s.rx_errors), (0, 0, 0));
    }
}

/// A handful of real protocol frames to dissect.
fn protocol_frames() -> Vec<Vec<u8>> {
    let arp = ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: MAC_A,
        source_protocol_addr: IP_A,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: IP_B,
    };
    let echo = build::icmpv4(&Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: &[0x61; 56],
    });
    let mut syn = TcpRepr::new(40000, 80, TcpFlags::SYN, SeqNumber(1), SeqNumber(0), 64240);
    syn.max_seg_size = Some(1460);
    syn.sack_permitted = true;
    syn.window_scale = Some(7);
    let syn = build::tcp(&syn, IP_A, IP_B);
    vec![
        build::arp_frame(EthernetAddress::BROADCAST, &arp),
        eth(
            MAC_B,
            MAC_A,
            EtherType::Ipv4,
            &build::ipv4(IP_A, IP_B, IpProtocol::Icmp, &echo),
        ),
        eth(
            MAC_B,
            MAC_A,
            EtherType::Ipv4,
            &build::ipv4(IP_A, IP_B, IpProtocol::Tcp, &syn),
        ),
        udp(200, true),
        udp(1514, true),
        udp(300, false),
    ]
}

#[test]
fn pcap_of_a_run_reads_clean_in_tshark() {
    let path = std::env::temp_dir().join(format!("netstack-nic-{}.pcap", std::process::id()));
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let (mut a, mut b) = pair(1500, |p| {
        PcapTap::new(p, PcapWriter::new(file).unwrap(), 1_700_000_000_000_000_000)
    });
    let frames = protocol_frames();
    let mut now = 0;
    let (a_frames, b_frames): (Vec<_>, Vec<_>) = frames.iter().partition(|f| f[6..12] == MAC_A.0);
    let batch = |fs: &[&Vec<u8>]| {
        let mut b = Batch::new();
        fs.iter().for_each(|f| b.push(f));
        b
    };
    a.transmit(now, &batch(&a_frames)).unwrap();
    b.transmit(now, &batch(&b_frames)).unwrap();
    settle(&mut a, &mut b, &mut now);
    let writer = a.cable_mut().wire_mut().writer_mut();
    writer.flush().unwrap();
    assert_eq!(writer.frames(), frames.len() as u64);

    let tshark = |args: &[&str]| {
        let out = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&path)
            .args(args)
            .output()
            .expect("tshark is needed for this test (bash .ci/run installs it)");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let all = tshark(&[]);
    assert_eq!(all.lines().count(), frames.len(), "{all}");
    for proto in ["ARP", "ICMP", "TCP", "UDP"] {
        assert!(all.contains(proto), "{proto} missing:\n{all}");
    }
    let bad = tshark(&[
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\"",
    ]);
    assert!(
        bad.trim().is_empty(),
        "malformed or bad-checksum frames:\n{bad}"
    );
    std::fs::remove_file(&path).unwrap();
}

/// Line-rate mode: a port paced at the negotiated speed carries 1514-byte frames at 1 Gb/s
/// (12.3 µs each), and at 100 Mb/s once the partner only does 100.
#[test]
fn line_rate_follows_the_negotiated_speed() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use nic_ftgmac100::model::{LinkPartner, Speed};
    use nic_ftgmac100::wire::Paced;

    for (partner_speed, frame_ns) in [(Speed::Mbps1000, 12_304u64), (Speed::Mbps100, 123_040)] {
        let sw = Switch::new();
        let rate = Arc::new(AtomicU64::new(1));
        let partner = LinkPartner {
            max_speed: partner_speed,
            ..LinkPartner::default()
        };
        let config = StationConfig {
            mac: MAC_A,
            partner,
            ..StationConfig::default()
        };
        let mut a = Station::new(&config, Paced::new(sw.add_port(), rate.clone()), 0).unwrap();
        a.cable_mut().track_line_rate(rate.clone());
        let mut b = Station::new(
            &StationConfig {
                mac: MAC_B,
                ..StationConfig::default()
            },
            sw.add_port(),
            0,
        )
        .unwrap();
        let mut frames = Batch::new();
        for _ in 0..10 {
            frames.push(&udp(1514, true));
        }
        a.step(0, &mut |_| {}).unwrap();
        assert_eq!(a.transmit(0, &frames).unwrap(), 10);
        // Step on a fine clock; note when each frame reaches B.
        let mut arrivals = Vec::new();
        let mut now = 0;
        while arrivals.len() < 10 && now < 10 * frame_ns + 1_000_000 {
            a.step(now, &mut |_| {}).unwrap();
            b.step(now, &mut |rx| {
                arrivals.extend(std::iter::repeat_n(now, rx.len()))
            })
            .unwrap();
            now += 1_000;
        }
        assert_eq!(arrivals.len(), 10, "{partner_speed:?}");
        let span = arrivals[9] - arrivals[0];
        // Nine frame times between the first and the last, to the step's resolution.
        assert!(
            span.abs_diff(9 * frame_ns) <= 2_000,
            "{partner_speed:?}: {span} ns for 9 frame times of {frame_ns}"
        );
    }
}

#[test]
fn a_batch_rings_the_doorbell_once_and_every_frame_goes() {
    let (mut a, mut b) = pair(1500, |p| p);
    let mut now = 0;
    settle(&mut a, &mut b, &mut now);
    let polls = |a: &Station<SwitchPort>| a.model().counters().tx_polls;

    // Ten frames, one walk of the ring; all ten reach B.
    let before = polls(&a);
    let mut frames = Batch::new();
    for _ in 0..10 {
        frames.push(&udp(600, true));
    }
    assert_eq!(a.transmit(now, &frames).unwrap(), 10);
    assert_eq!(polls(&a) - before, 1, "one doorbell for the batch");
    let (_, got) = settle(&mut a, &mut b, &mut now);
    assert_eq!(got.len(), 10);

    // A dropped last frame (too long) still leaves the doorbell rung for those before it.
    let before = polls(&a);
    let mut frames = Batch::new();
    frames.push(&udp(600, true));
    frames.push(&udp(600, true));
    frames.push(&vec![0; 4000]);
    assert_eq!(
        a.transmit(now, &frames).unwrap(),
        3,
        "the dropped one is taken"
    );
    assert_eq!(polls(&a) - before, 1);
    let (_, got) = settle(&mut a, &mut b, &mut now);
    assert_eq!(got.len(), 2);
    assert_eq!(a.driver().stats().tx_dropped, 1);

    // More frames than the ring holds: it rings when the queue stops, so the MAC sends what
    // was queued, and the rest goes once the ring drains.
    let mut frames = Batch::new();
    for _ in 0..300 {
        frames.push(&udp(100, true));
    }
    let (mut sent, mut got) = (0, 0);
    for _ in 0..100 {
        sent += a.transmit(now, &rest(&frames, sent)).unwrap();
        got += settle(&mut a, &mut b, &mut now).1.len();
        if got == 300 {
            break;
        }
    }
    assert_eq!((sent, got), (300, 300));
}

/// A UDP frame of `len` bytes from A to B whose data starts with the frame's number `n`.
fn numbered(len: usize, n: u16) -> Vec<u8> {
    let mut f = udp(len, true);
    f[42..44].copy_from_slice(&n.to_be_bytes());
    // The UDP checksum is not checked by these tests; the bytes are what matter.
    f
}

/// A with a TX ring of `a_ring` descriptors, B with an RX ring of `b_ring`.
fn pair_with_rings(a_ring: u32, b_ring: u32) -> (Station<SwitchPort>, Station<SwitchPort>) {
    pair_with(a_ring, b_ring, LinkPartner::default())
}

/// [`pair_with_rings`] whose ports are `partner` to the MACs.
fn pair_with(
    a_ring: u32,
    b_ring: u32,
    partner: LinkPartner,
) -> (Station<SwitchPort>, Station<SwitchPort>) {
    let sw = Switch::new();
    let station = |mac, ring_size| {
        let config = StationConfig {
            mac,
            ring_size,
            partner,
            ..StationConfig::default()
        };
        Station::new(&config, sw.add_port(), 0).unwrap()
    };
    (station(MAC_A, a_ring), station(MAC_B, b_ring))
}

/// A burst from A's wide TX ring into B's narrow RX ring, all sent at one virtual instant (no
/// line rate on the switch): what B received, in order, and B's MAC's counters.
fn burst_into_a_narrow_ring(partner: LinkPartner) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, ModelCounters) {
    let (mut a, mut b) = pair_with(1024, 32, partner);
    let mut now = 0;
    settle(&mut a, &mut b, &mut now);
    let mut frames = Batch::new();
    let want: Vec<Vec<u8>> = (0..800).map(|n| numbered(1514, n)).collect();
    want.iter().for_each(|f| frames.push(f));
    a.transmit_owned(now, frames).unwrap();
    let mut got = Vec::new();
    for _ in 0..100 {
        got.extend(settle(&mut a, &mut b, &mut now).1);
        if got.len() >= want.len() {
            break;
        }
    }
    (got, want, b.model().counters())
}

/// 802.3x: B's MAC, its FIFO full, pauses the switch port (pause was negotiated, so Linux set
/// FCR.FCTHR_EN), which keeps the frames and sends them on as B's ring empties: nothing lost.
#[test]
fn a_burst_beyond_the_receiver_ring_pauses_the_port_and_nothing_is_lost() {
    let (got, want, counters) = burst_into_a_narrow_ring(LinkPartner::default());
    assert!(counters.rx_paused > 0, "the burst paused the port");
    assert_eq!(counters.rx_lost, 0);
    assert_eq!(got, want, "all, in order, intact");
}

/// Without pause (the port does not do it), the same burst overflows B's FIFO and is lost in
/// part, counted.
#[test]
fn without_pause_a_burst_beyond_the_receiver_ring_is_lost_in_part() {
    let no_pause = LinkPartner {
        pause: false,
        ..LinkPartner::default()
    };
    let (got, want, counters) = burst_into_a_narrow_ring(no_pause);
    assert_eq!(counters.rx_paused, 0);
    assert!(counters.rx_lost > 0);
    assert_eq!(got.len() as u64 + counters.rx_lost, want.len() as u64);
}

#[test]
fn frames_given_to_the_driver_are_read_where_they_lie_and_all_go_in_order() {
    // A's ring is the narrow part (B's takes the whole burst): the frames wait in A's driver.
    let (mut a, mut b) = pair_with_rings(64, 1024);
    let mut now = 0;
    settle(&mut a, &mut b, &mut now);
    // More frames than the ring holds, of every size: a short one (copied, for its padding)
    // and one too long for the MAC (dropped) among them.
    let mut frames = Batch::new();
    let mut want = Vec::new();
    for n in 0..600u16 {
        let len = match n {
            7 => 50,
            300 => 4000,
            _ => 60 + usize::from(n) * 7 % 1454,
        };
        let f = if len < 60 {
            udp(len, true)
        } else {
            numbered(len, n)
        };
        frames.push(&f);
        if len <= 1514 {
            want.push(f);
        }
    }
    let bytes = frames.byte_len();
    a.transmit_owned(now, frames).unwrap();
    assert_eq!(
        a.memory().mapped(),
        1,
        "the batch is mapped while its frames go"
    );
    assert!(
        a.driver().tx_held() > 0,
        "the ring did not take them all at once"
    );
    let mut got = Vec::new();
    for _ in 0..100 {
        got.extend(settle(&mut a, &mut b, &mut now).1);
        if got.len() >= want.len() {
            break;
        }
    }
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        // The short frame arrives padded to the minimum.
        assert_eq!(&g[..w.len()], &w[..], "frame {i}");
    }
    let stats = a.driver().stats();
    assert_eq!(
        stats.tx_mapped, 598,
        "every frame but the short one, without a copy"
    );
    assert_eq!(stats.tx_dropped, 1, "the one too long");
    assert_eq!(a.memory().mapped(), 0, "unmapped once all were sent");
    assert_eq!(a.driver().tx_held(), 0);
    assert_eq!(
        a.model().counters().tx_handed_over,
        0,
        "no walk sent the whole batch: every frame was copied out"
    );
    let back = a.take_sent_batch().expect("the batch comes back");
    assert!(
        back.is_empty() && back.byte_capacity() >= bytes,
        "emptied, its room kept"
    );
}

/// A batch the ring takes at once is sent by one walk: the MAC hands the mapped buffer to the
/// wire instead of copying every frame out of it, and the frames arrive as they were built.
#[test]
fn a_batch_sent_whole_goes_to_the_wire_in_its_own_buffer() {
    sent_whole(1500, 100, |n| 60 + n * 13);
    // Jumbo frames take several descriptors each, their buffers one after another.
    sent_whole(9000, 30, |n| 1000 + n * 270);
}

/// [`a_batch_sent_whole_goes_to_the_wire_in_its_own_buffer`] at `mtu` with `count` frames
/// (as many as the ring takes at once), frame `n` being `len(n)` bytes long.
fn sent_whole(mtu: u32, count: u16, len: impl Fn(usize) -> usize) {
    let (mut a, mut b) = pair(mtu, |p| p);
    let mut now = 0;
    settle(&mut a, &mut b, &mut now);
    let (mut frames, mut want) = (Batch::new(), Vec::new());
    for n in 0..count {
        let f = numbered(len(usize::from(n)), n);
        frames.push(&f);
        want.push(f);
    }
    let bytes = frames.byte_len() as u64;
    let before = a.model().counters();
    a.transmit_owned(now, frames).unwrap();
    let (_, got) = settle(&mut a, &mut b, &mut now);
    assert_eq!(got, want, "all, in order, intact");
    let c = a.model().counters();
    assert_eq!(
        (
            c.tx_frames - before.tx_frames,
            c.tx_bytes - before.tx_bytes,
            c.tx_handed_over - before.tx_handed_over,
        ),
        (u64::from(count), bytes, u64::from(count)),
        "sent, counted, and handed over whole at MTU {mtu}"
    );
    assert_eq!(a.memory().mapped(), 0, "unmapped once all were sent");
    let back = a
        .take_sent_batch()
        .expect("a batch comes back to fill again");
    assert!(back.is_empty());
}

/// Two whole batches before the wire takes either: the first is handed over, the second is
/// copied after it (handing it over too would put it in the first one's place), and both
/// arrive in order.
#[test]
fn a_second_batch_before_the_wire_took_the_first_goes_after_it() {
    let (mut a, mut b) = pair(1500, |p| p);
    let mut now = 0;
    settle(&mut a, &mut b, &mut now);
    let mut want = Vec::new();
    let before = a.model().counters();
    for first in [0u16, 20] {
        let mut frames = Batch::new();
        for n in first..first + 20 {
            let f = numbered(100 + usize::from(n) * 7, n);
            frames.push(&f);
            want.push(f);
        }
        // Each rings the doorbell: the MAC walks the ring before anything reaches the wire.
        a.transmit_owned(now, frames).unwrap();
    }
    let (_, got) = settle(&mut a, &mut b, &mut now);
    assert_eq!(got, want, "both batches, in order, intact");
    let c = a.model().counters();
    assert_eq!(
        (
            c.tx_frames - before.tx_frames,
            c.tx_handed_over - before.tx_handed_over
        ),
        (40, 20),
        "the first handed over, the second copied"
    );
    assert_eq!(a.memory().mapped(), 0);
}

#[test]
fn a_stop_drops_what_the_driver_holds_and_unmaps_it() {
    let (mut a, mut b) = pair(1500, |p| p);
    let mut now = 0;
    settle(&mut a, &mut b, &mut now);
    let mut frames = Batch::new();
    for n in 0..400 {
        frames.push(&numbered(1000, n));
    }
    a.transmit_owned(now, frames).unwrap();
    let held = a.driver().tx_held() as u64;
    assert!(held > 0);
    let in_ring = 400 - held;
    let before = a.driver().stats().tx_dropped;
    a.napi_mut().driver_mut().stop();
    assert_eq!(a.memory().mapped(), 0, "nothing left mapped");
    assert_eq!(a.driver().tx_held(), 0);
    let dropped = a.driver().stats().tx_dropped - before;
    // What the MAC had not sent yet and what never reached the ring are counted lost.
    assert!(
        dropped >= held && dropped <= held + in_ring,
        "{dropped} of {held}+{in_ring}"
    );
}

#[test]
fn the_frames_of_several_polls_go_up_as_one_batch_of_at_most_polls_per_batch() {
    use nic_ftgmac100::driver::NAPI_BUDGET;
    use nic_ftgmac100::napi::POLLS_PER_BATCH;
    let (mut a, mut b) = pair_with_rings(1024, 1024);
    let mut now = 0;
    settle(&mut a, &mut b, &mut now);
    // More than POLLS_PER_BATCH polls' worth, all in B's ring before B's NAPI runs.
    let count = POLLS_PER_BATCH * NAPI_BUDGET * 2 + 10;
    let mut frames = Batch::new();
    for n in 0..count {
        frames.push(&numbered(200, n as u16));
    }
    a.transmit_owned(now, frames).unwrap();
    a.step(now, &mut |_| {}).unwrap();
    let polls_before = b.napi().counters().polls;
    let mut batches = Vec::new();
    b.step(now, &mut |rx| {
        batches.push(rx.frames.iter().map(<[u8]>::to_vec).collect::<Vec<_>>())
    })
    .unwrap();
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    let polls = b.napi().counters().polls - polls_before;
    assert_eq!(
        sizes,
        [
            POLLS_PER_BATCH * NAPI_BUDGET,
            POLLS_PER_BATCH * NAPI_BUDGET,
            10
        ],
        "full batches of POLLS_PER_BATCH polls, then the rest once the polls are done"
    );
    assert_eq!(polls as usize, 2 * POLLS_PER_BATCH + 1);
    for (n, frame) in batches.iter().flatten().enumerate() {
        assert_eq!(frame[..], numbered(200, n as u16)[..], "frame {n} in order");
    }
}
