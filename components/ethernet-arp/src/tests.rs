//! Packet-trace tests of the link layer's core.

use netstack_wire::build;

use super::*;

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0f]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
const OURS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const PEER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

fn layer() -> EthernetArp {
    EthernetArp::new(Config {
        mac: OUR_MAC,
        mtu: 1500,
        addresses: vec![Ipv4Cidr::new(OURS, 24).unwrap()],
        vlan: None,
    })
    .unwrap()
}

#[test]
fn answers_arp_request_for_our_address_and_learns_the_sender() {
    let mut l = layer();
    let mut out = Output::default();
    let req = build::arp(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        PEER_MAC,
        PEER,
        EthernetAddress([0; 6]),
        OURS,
    );
    l.receive(0, [&req[..]], &mut out);
    let expected = build::arp(ArpOperation::Reply, PEER_MAC, OUR_MAC, OURS, PEER_MAC, PEER);
    assert_eq!(out.to_wire.iter().collect::<Vec<_>>(), [&expected[..]]);
    let (ip, n) = l.neighbours().iter().next().unwrap();
    assert_eq!(
        (ip, n.mac, n.state),
        (PEER, Some(PEER_MAC), NeighbourState::Stale),
        "learnt from a request: STALE until used"
    );
    assert_eq!(l.counters().arp_replies_sent, 1);
}

#[test]
fn ignores_arp_for_other_addresses() {
    let mut l = layer();
    let mut out = Output::default();
    let req = build::arp(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        PEER_MAC,
        PEER,
        EthernetAddress([0; 6]),
        Ipv4Address::new(10, 0, 2, 99),
    );
    l.receive(0, [&req[..]], &mut out);
    assert!(out.to_wire.is_empty());
    assert_eq!(
        l.neighbours().iter().count(),
        0,
        "RFC 826: only add the sender when we are the target"
    );
}

#[test]
fn filters_and_demuxes() {
    let mut l = layer();
    let mut out = Output::default();
    let mut ip = vec![0u8; 14 + 20];
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        vlan: None,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut ip[..]));
    ip[14] = 0x45;
    let mut other = ip.clone();
    other[5] = 0x99; // another host's unicast
    let mut ipv6 = ip.clone();
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut tagged = [0u8; 18 + 20];
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        vlan: Some(VlanTag {
            pcp: 0,
            dei: false,
            vid: 7,
        }),
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut tagged[..]));
    let frames = [&ip[..], &other[..], &ipv6[..], &tagged[..], &ip[..5]];
    l.receive(0, frames, &mut out);
    assert_eq!(out.to_ipv4.iter().collect::<Vec<_>>(), [&ip[14..]]);
    let counts = |c: &Counters| {
        (
            c.rx_frames,
            c.rx_ipv4,
            c.rx_drop_other_host,
            c.rx_drop_unknown_ethertype,
            c.rx_drop_vlan,
            c.rx_drop_truncated,
        )
    };
    assert_eq!(counts(l.counters()), (5, 1, 1, 1, 1, 1));

    // The fast path, from 18-byte heads: the IPv4 packet's span, everything else for
    // `receive`; together they count exactly what `receive` alone counted.
    let mut fast = layer();
    let classes = fast.classify(frames.iter().map(|f| (&f[..f.len().min(18)], f.len())));
    assert_eq!(classes, [Some((14, ip.len() - 14)), None, None, None, None]);
    let rest: Vec<&[u8]> = frames
        .iter()
        .zip(&classes)
        .filter(|(_, c)| c.is_none())
        .map(|(f, _)| *f)
        .collect();
    fast.receive(0, rest, &mut Output::default());
    assert_eq!(counts(fast.counters()), counts(l.counters()));
}

#[test]
fn sends_to_known_neighbours_and_asks_for_unknown_ones() {
    let mut l = layer();
    l.add_static_neighbour(PEER, PEER_MAC).unwrap();
    let mut out = Output::default();
    let packet = [0x45u8; 20];
    l.send(
        0,
        [
            (&packet[..], PEER),
            (&packet[..], Ipv4Address::new(10, 0, 2, 3)),
        ],
        &mut out,
    );
    let frames: Vec<_> = out.to_wire.iter().collect();
    assert_eq!(frames.len(), 2);
    let f = EthernetFrame::new_checked(frames[0]).unwrap();
    assert_eq!(
        (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload()),
        (PEER_MAC, OUR_MAC, EtherType::Ipv4, &packet[..])
    );
    let expected = build::arp(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        OUR_MAC,
        OURS,
        EthernetAddress([0; 6]),
        Ipv4Address::new(10, 0, 2, 3),
    );
    assert_eq!(frames[1], &expected[..]);
    assert_eq!(l.counters().tx_queued_unresolved, 1);
}

#[test]
fn configure_announces_and_rejects_bad_config() {
    let mut l = layer();
    let mut out = Output::default();
    let mut c = l.config().clone();
    c.mtu = 67;
    assert_eq!(l.configure(0, c.clone(), &mut out), Err(ConfigError::Mtu));
    c.mtu = 1500;
    c.mac = EthernetAddress::BROADCAST;
    assert_eq!(
        l.configure(0, c.clone(), &mut out),
        Err(ConfigError::MulticastMac)
    );
    c.mac = OUR_MAC;
    l.configure(0, c, &mut out).unwrap();
    let garp = build::arp(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        OUR_MAC,
        OURS,
        EthernetAddress([0; 6]),
        OURS,
    );
    assert_eq!(out.to_wire.iter().collect::<Vec<_>>(), [&garp[..]]);
}

#[test]
fn joined_multicast_groups_pass_the_filter() {
    let mut l = layer();
    // 224.0.0.251 (mDNS) maps to 01:00:5e:00:00:fb (RFC 1112 §6.4).
    let group = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
    let mut frame = [0u8; 14 + 20];
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: group,
        vlan: None,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    let mut out = Output::default();
    l.receive(0, [&frame[..]], &mut out);
    assert!(out.to_ipv4.is_empty());
    l.join_multicast(group).unwrap();
    l.receive(0, [&frame[..]], &mut out);
    assert_eq!(out.to_ipv4.len(), 1);
    l.leave_multicast(group).unwrap();
    l.receive(0, [&frame[..]], &mut out);
    assert_eq!((out.to_ipv4.len(), l.counters().rx_drop_other_host), (1, 2));
    assert_eq!(l.leave_multicast(group), Err(ConfigError::Group));
    assert_eq!(l.join_multicast(PEER_MAC), Err(ConfigError::Group));
    assert_eq!(
        l.join_multicast(EthernetAddress::BROADCAST),
        Err(ConfigError::Group)
    );
}

const S: u64 = 1_000_000_000;

fn request_for(target: Ipv4Address, dst: EthernetAddress) -> Vec<u8> {
    build::arp(
        ArpOperation::Request,
        dst,
        OUR_MAC,
        OURS,
        EthernetAddress([0; 6]),
        target,
    )
}

fn reply_from(ip: Ipv4Address, mac: EthernetAddress) -> Vec<u8> {
    build::arp(ArpOperation::Reply, OUR_MAC, mac, ip, OUR_MAC, OURS)
}

fn state(l: &EthernetArp, ip: Ipv4Address) -> Option<NeighbourState> {
    l.neighbours().get(ip).map(|e| e.state)
}

fn wire(out: &Output) -> Vec<Vec<u8>> {
    out.to_wire.iter().map(<[u8]>::to_vec).collect()
}

#[test]
fn resolution_queues_then_flushes_on_reply() {
    let mut l = layer();
    let packets = [[0x45u8; 20], [0x46u8; 20]];
    let mut out = Output::default();
    l.send(0, packets.iter().map(|p| (&p[..], PEER)), &mut out);
    assert_eq!(
        wire(&out),
        [request_for(PEER, EthernetAddress::BROADCAST)],
        "one request, both packets queued"
    );
    assert_eq!(state(&l, PEER), Some(NeighbourState::Incomplete));
    assert_eq!(l.neighbours().get(PEER).unwrap().queued(), 2);
    assert_eq!(out.deadline, Some(S));

    let mut out = Output::default();
    l.receive(S / 2, [&reply_from(PEER, PEER_MAC)[..]], &mut out);
    let frames = wire(&out);
    assert_eq!(frames.len(), 2, "the queue is flushed in order");
    for (f, p) in frames.iter().zip(&packets) {
        let f = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!((f.dst_addr(), f.payload()), (PEER_MAC, &p[..]));
    }
    assert_eq!(state(&l, PEER), Some(NeighbourState::Reachable));
}

#[test]
fn unanswered_resolution_fails_after_three_probes() {
    let mut l = layer();
    let mut out = Output::default();
    l.send(0, [(&[0x45u8; 20][..], PEER)], &mut out);
    let mut requests = out.to_wire.len();
    for t in [S, 2 * S] {
        let mut out = Output::default();
        l.poll(t, &mut out);
        assert_eq!(
            wire(&out),
            [request_for(PEER, EthernetAddress::BROADCAST)],
            "retransmit at {t}"
        );
        requests += 1;
    }
    assert_eq!(requests, 3);
    let mut out = Output::default();
    l.poll(3 * S, &mut out);
    assert!(out.to_wire.is_empty());
    assert_eq!(
        out.unresolved.iter().collect::<Vec<_>>(),
        [&[0x45u8; 20][..]],
        "handed back for ICMP host unreachable"
    );
    assert_eq!(state(&l, PEER), Some(NeighbourState::Failed));
    assert_eq!(l.counters().tx_unresolved, 1);
    // The FAILED entry lingers, then goes.
    l.poll(10 * S, &mut Output::default());
    assert_eq!(state(&l, PEER), None);
}

#[test]
fn reachable_goes_stale_then_delay_probe_and_back() {
    let mut l = layer();
    let mut out = Output::default();
    l.send(0, [(&[0x45u8; 20][..], PEER)], &mut out);
    l.receive(1, [&reply_from(PEER, PEER_MAC)[..]], &mut Output::default());
    l.poll(1 + 30 * S, &mut Output::default());
    assert_eq!(state(&l, PEER), Some(NeighbourState::Stale));
    // Used while stale: sent at once to the cached address, and re-checked after 5 s.
    let mut out = Output::default();
    l.send(31 * S, [(&[0x45u8; 20][..], PEER)], &mut out);
    assert_eq!(
        EthernetFrame::new_checked(out.to_wire.iter().next().unwrap())
            .unwrap()
            .dst_addr(),
        PEER_MAC
    );
    assert_eq!(state(&l, PEER), Some(NeighbourState::Delay));
    let mut out = Output::default();
    l.poll(36 * S, &mut out);
    assert_eq!(state(&l, PEER), Some(NeighbourState::Probe));
    assert_eq!(
        wire(&out),
        [request_for(PEER, PEER_MAC)],
        "PROBE asks by unicast"
    );
    l.receive(
        36 * S + 1,
        [&reply_from(PEER, PEER_MAC)[..]],
        &mut Output::default(),
    );
    assert_eq!(state(&l, PEER), Some(NeighbourState::Reachable));
}

#[test]
fn unanswered_probes_fail_the_neighbour() {
    let mut l = layer();
    l.send(0, [(&[0x45u8; 20][..], PEER)], &mut Output::default());
    l.receive(1, [&reply_from(PEER, PEER_MAC)[..]], &mut Output::default());
    l.poll(1 + 30 * S, &mut Output::default());
    l.send(31 * S, [(&[0x45u8; 20][..], PEER)], &mut Output::default());
    let mut probes = 0;
    for t in 36..=40 {
        let mut out = Output::default();
        l.poll(t * S, &mut out);
        probes += out.to_wire.len();
    }
    assert_eq!(probes, 3);
    assert_eq!(state(&l, PEER), Some(NeighbourState::Failed));
}

#[test]
fn the_pending_queue_is_bounded() {
    let mut l = layer();
    let big = vec![0x45u8; 1500];
    let mut out = Output::default();
    l.send(0, std::iter::repeat_n((&big[..], PEER), 200), &mut out);
    let queued = l.neighbours().get(PEER).unwrap().queued();
    assert!(queued * 1500 <= 212_992 && queued > 100, "{queued}");
    assert_eq!(l.counters().unresolved_discards as usize, 200 - queued);
}

#[test]
fn static_entries_flush_waiting_packets_and_never_expire() {
    let mut l = layer();
    l.send(0, [(&[0x45u8; 20][..], PEER)], &mut Output::default());
    l.add_static_neighbour(PEER, PEER_MAC).unwrap();
    let mut out = Output::default();
    l.poll(1000 * S, &mut out);
    assert_eq!(
        out.to_wire.len(),
        1,
        "the queued packet went with the next call"
    );
    assert_eq!(state(&l, PEER), Some(NeighbourState::Permanent));
    // A reply with another address does not override a static entry.
    l.receive(
        1001 * S,
        [&reply_from(PEER, EthernetAddress([2, 0, 0, 0, 0, 0x99]))[..]],
        &mut Output::default(),
    );
    assert_eq!(l.neighbours().get(PEER).unwrap().mac, Some(PEER_MAC));
}

#[test]
fn multicast_groups_map_to_their_mac() {
    assert_eq!(
        multicast_mac(Ipv4Address::new(224, 0, 0, 251)).0,
        [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]
    );
    assert_eq!(
        multicast_mac(Ipv4Address::new(239, 255, 1, 2)).0,
        [0x01, 0x00, 0x5e, 0x7f, 0x01, 0x02]
    );
}

#[test]
fn the_send_fast_path_frames_for_usable_neighbours_and_leaves_the_rest_to_send() {
    let mut l = layer();
    let far = Ipv4Address::new(10, 0, 2, 9);
    let broadcast = Ipv4Address::new(10, 0, 2, 255);
    // Nothing known yet: left to `send`, which resolves; nothing counted, nothing created.
    assert_eq!(l.frame_headers(0, [(PEER, 40, 0)]), [None]);
    assert_eq!((state(&l, PEER), l.counters().tx_ipv4), (None, 0));
    l.send(0, [(&[0x45u8; 20][..], PEER)], &mut Output::default());
    l.receive(1, [&reply_from(PEER, PEER_MAC)[..]], &mut Output::default());
    let sent_before = l.counters().tx_ipv4;

    let headers = l.frame_headers(
        2,
        [
            (PEER, 1500, 0),      // resolved
            (PEER, 64_000, 1460), // a super-segment may exceed the MTU
            (PEER, 1501, 0),      // an ordinary packet may not: `send` drops and counts it
            (far, 40, 0),         // unknown: `send` resolves it
            (broadcast, 40, 0),   // our subnet's broadcast needs no resolving
        ],
    );
    let dsts: Vec<_> = headers.iter().map(|h| h.map(|e| e.dst_addr)).collect();
    assert_eq!(
        dsts,
        [
            Some(PEER_MAC),
            Some(PEER_MAC),
            None,
            None,
            Some(EthernetAddress::BROADCAST)
        ]
    );
    assert_eq!(l.counters().tx_ipv4, sent_before + 3);
    // The header is the one `send` puts on.
    let mut out = Output::default();
    l.send(2, [(&[0x45u8; 20][..], PEER)], &mut out);
    let mut header = [0; 14];
    headers[0]
        .unwrap()
        .emit(&mut EthernetFrame::new_unchecked(&mut header[..]));
    assert_eq!(&wire(&out)[0][..14], &header[..]);

    // A STALE neighbour used by the fast path moves to DELAY and arms its timer.
    l.poll(1 + 30 * S, &mut Output::default());
    assert_eq!(state(&l, PEER), Some(NeighbourState::Stale));
    assert!(l.frame_headers(31 * S, [(PEER, 40, 0)])[0].is_some());
    assert_eq!(state(&l, PEER), Some(NeighbourState::Delay));
    assert_eq!(l.deadline(), Some(36 * S));
}
