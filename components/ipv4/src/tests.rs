//! Packet-trace tests of the IPv4 core.

use netstack_wire::build;

use super::*;

const OURS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const PEER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const FAR: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);

fn layer() -> Ipv4Layer {
    let mut l = Ipv4Layer::new();
    l.add_address(0, Ipv4Cidr::new(OURS, 24).unwrap()).unwrap();
    l.fib_mut()
        .add(Route {
            destination: Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, 0).unwrap(),
            gateway: Some(PEER),
            ifindex: 0,
            metric: 100,
        })
        .unwrap();
    l
}

fn datagram(src: Ipv4Address, dst: Ipv4Address, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    build::ipv4(src, dst, protocol, payload)
}

fn icmp(msg: Icmpv4Repr<'_>) -> Vec<u8> {
    build::icmpv4(&msg)
}

#[test]
fn answers_echo_request_through_the_connected_route() {
    let mut l = layer();
    let mut out = Output::default();
    let req = datagram(
        PEER,
        OURS,
        IpProtocol::Icmp,
        &icmp(Icmpv4Repr::EchoRequest {
            ident: 9,
            seq_no: 1,
            data: b"abc",
        }),
    );
    l.receive(0, 0, [&req[..]], &mut out);
    let packets: Vec<_> = out.to_link.iter().collect();
    assert_eq!(packets.len(), 1);
    assert_eq!(out.next_hops, [PEER]);
    let p = Ipv4Packet::new_checked(packets[0]).unwrap();
    let ip = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ip.protocol, ip.ttl),
        (OURS, PEER, IpProtocol::Icmp, DEFAULT_TTL)
    );
    assert_eq!(
        p.payload(),
        icmp(Icmpv4Repr::EchoReply {
            ident: 9,
            seq_no: 1,
            data: b"abc"
        })
    );
    assert_eq!(l.counters().icmp_out_echo_reps, 1);
}

#[test]
fn far_destinations_go_through_the_gateway() {
    let mut l = layer();
    let mut out = Output::default();
    let info = DatagramInfo {
        protocol: IpProtocol::Udp,
        src_addr: OURS,
        dst_addr: FAR,
        ttl: 64,
        tos: 0,
        dont_frag: false,
        segment_size: 0,
    };
    l.send(0, [(&info, &[1u8, 2, 3][..])], &mut out);
    assert_eq!(out.next_hops, [PEER]);
    l.fib_mut()
        .remove(Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, 0).unwrap(), 100)
        .unwrap();
    l.send(0, [(&info, &[1u8, 2, 3][..])], &mut out);
    assert_eq!(l.counters().out_no_routes, 1);
}

#[test]
fn delivers_by_protocol_and_drops_bad_packets() {
    let mut l = layer();
    let mut out = Output::default();
    let tcp = datagram(PEER, OURS, IpProtocol::Tcp, &[0xaa; 20]);
    let udp = datagram(PEER, OURS, IpProtocol::Udp, &[0xbb; 8]);
    let mut bad_sum = tcp.clone();
    bad_sum[8] = 1;
    let not_ours = datagram(PEER, FAR, IpProtocol::Tcp, &[0; 20]);
    let mut fragment = datagram(PEER, OURS, IpProtocol::Udp, &[0; 8]);
    fragment[6] |= 0x20;
    Ipv4Packet::new_unchecked(&mut fragment[..]).fill_checksum();
    l.receive(
        0,
        0,
        [
            &tcp[..],
            &udp[..],
            &bad_sum[..],
            &not_ours[..],
            &fragment[..],
            &tcp[..10],
            &tcp[..25],
        ],
        &mut out,
    );
    assert_eq!(
        out.to_tcp.payloads.iter().collect::<Vec<_>>(),
        [&[0xaa; 20][..]]
    );
    assert_eq!(out.to_tcp.info[0].src_addr, PEER);
    assert_eq!(
        out.to_udp.payloads.iter().collect::<Vec<_>>(),
        [&[0xbb; 8][..]]
    );
    let c = l.counters();
    assert_eq!(
        (
            c.in_receives,
            c.in_delivers,
            c.in_hdr_errors,
            c.in_addr_errors,
            c.reasm_reqds,
            c.in_truncated_pkts
        ),
        (7, 2, 1, 1, 1, 2)
    );
}

#[test]
fn unknown_protocol_gets_protocol_unreachable() {
    let mut l = layer();
    let mut out = Output::default();
    let gre = datagram(PEER, OURS, IpProtocol::Unknown(47), &[0x11; 16]);
    l.receive(0, 0, [&gre[..]], &mut out);
    let reply = out.to_link.iter().next().unwrap();
    let p = Ipv4Packet::new_checked(reply).unwrap();
    let expected = icmp(Icmpv4Repr::DstUnreachable {
        code: icmpv4::unreachable::PROTOCOL,
        next_hop_mtu: 0,
        data: &gre[..28],
    });
    assert_eq!(p.payload(), expected);
}

#[test]
fn longest_prefix_then_metric_wins() {
    let mut fib = Fib::default();
    let net = |s: &str| s.parse::<Ipv4Cidr>().unwrap();
    let gw = |d: u8| Some(Ipv4Address::new(10, 0, 0, d));
    fib.add(Route {
        destination: net("0.0.0.0/0"),
        gateway: gw(1),
        ifindex: 0,
        metric: 0,
    })
    .unwrap();
    fib.add(Route {
        destination: net("192.0.2.0/24"),
        gateway: gw(3),
        ifindex: 0,
        metric: 10,
    })
    .unwrap();
    fib.add(Route {
        destination: net("192.0.2.0/24"),
        gateway: gw(2),
        ifindex: 0,
        metric: 5,
    })
    .unwrap();
    fib.add(Route {
        destination: net("192.0.2.128/25"),
        gateway: gw(4),
        ifindex: 0,
        metric: 50,
    })
    .unwrap();
    assert_eq!(
        fib.lookup(Ipv4Address::new(192, 0, 2, 200))
            .unwrap()
            .gateway,
        gw(4)
    );
    assert_eq!(
        fib.lookup(Ipv4Address::new(192, 0, 2, 1)).unwrap().gateway,
        gw(2)
    );
    assert_eq!(
        fib.lookup(Ipv4Address::new(8, 8, 8, 8)).unwrap().gateway,
        gw(1)
    );
    assert_eq!(
        fib.add(Route {
            destination: net("192.0.2.0/24"),
            gateway: gw(9),
            ifindex: 0,
            metric: 5
        }),
        Err(RouteError::Exists)
    );
    assert_eq!(
        fib.add(Route {
            destination: net("192.0.2.1/24"),
            gateway: gw(9),
            ifindex: 0,
            metric: 1
        }),
        Err(RouteError::Invalid)
    );
    assert_eq!(fib.remove(net("10.0.0.0/8"), 0), Err(RouteError::NotFound));
}

const S: u64 = 1_000_000_000;

fn info(src: Ipv4Address, dst: Ipv4Address, protocol: IpProtocol, dont_frag: bool) -> DatagramInfo {
    DatagramInfo {
        protocol,
        src_addr: src,
        dst_addr: dst,
        ttl: 64,
        tos: 0,
        dont_frag,
        segment_size: 0,
    }
}

/// A UDP-like payload of `len` bytes, numbered so reassembly mistakes show.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Fragments of a `len`-byte datagram from PEER to us, cut at `mtu`.
fn fragments(len: usize, mtu: u32, ident: u16) -> Vec<Vec<u8>> {
    let mut sender = Ipv4Layer::new();
    sender
        .add_address(0, Ipv4Cidr::new(PEER, 24).unwrap())
        .unwrap();
    sender.set_mtu(0, mtu).unwrap();
    sender.next_ident = ident;
    let mut out = Output::default();
    sender.send(
        0,
        [(&info(PEER, OURS, IpProtocol::Udp, false), &payload(len)[..])],
        &mut out,
    );
    out.to_link.iter().map(<[u8]>::to_vec).collect()
}

#[test]
fn fragments_in_any_order_reassemble_into_one_datagram() {
    let frags = fragments(4000, 1500, 77);
    assert_eq!(frags.len(), 3);
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let mut l = layer();
        let mut out = Output::default();
        l.receive(0, 0, order.iter().map(|&i| &frags[i][..]), &mut out);
        assert_eq!(out.to_udp.len(), 1, "{order:?}");
        assert_eq!(
            out.to_udp.payloads.iter().next().unwrap(),
            &payload(4000)[..],
            "{order:?}"
        );
        assert_eq!((l.counters().reasm_reqds, l.counters().reasm_oks), (3, 1));
        assert!(l.reassembly().is_empty());
    }
}

#[test]
fn duplicates_are_ignored_and_overlaps_drop_the_datagram() {
    let frags = fragments(4000, 1500, 5);
    let mut l = layer();
    let mut out = Output::default();
    l.receive(
        0,
        0,
        [&frags[0][..], &frags[0][..], &frags[1][..], &frags[2][..]],
        &mut out,
    );
    assert_eq!(out.to_udp.len(), 1, "an exact duplicate changes nothing");

    // A fragment overlapping the first with other bytes: the whole datagram goes.
    let mut evil = frags[1].clone();
    let off = Ipv4Packet::new_unchecked(&evil[..]).frag_offset() - 8;
    evil[6..8].copy_from_slice(&(0x2000 | (off >> 3)).to_be_bytes());
    Ipv4Packet::new_unchecked(&mut evil[..]).fill_checksum();
    let mut out = Output::default();
    l.receive(
        0,
        0,
        [&frags[0][..], &evil[..], &frags[1][..], &frags[2][..]],
        &mut out,
    );
    assert!(out.to_udp.is_empty(), "overlap: nothing delivered");
    assert_eq!(l.counters().reasm_overlaps, 1);
}

#[test]
fn reassembly_times_out_with_time_exceeded_only_if_the_first_fragment_came() {
    let frags = fragments(4000, 1500, 9);
    let mut l = layer();
    let mut out = Output::default();
    l.receive(0, 0, [&frags[0][..], &frags[2][..]], &mut out);
    assert_eq!(out.deadline, Some(30 * S));
    let mut out = Output::default();
    l.poll(30 * S, &mut out);
    assert_eq!(l.counters().reasm_timeouts, 1);
    let reply = Ipv4Packet::new_checked(out.to_link.iter().next().expect("time exceeded")).unwrap();
    assert_eq!(reply.dst_addr(), PEER);
    assert_eq!(
        &reply.payload()[..2],
        &[icmpv4::TIME_EXCEEDED, icmpv4::time_exceeded::REASSEMBLY]
    );

    // Without fragment zero, the datagram is dropped silently.
    let mut out = Output::default();
    l.receive(0, 0, [&frags[1][..]], &mut out);
    l.poll(60 * S, &mut out);
    assert!(out.to_link.is_empty());
}

#[test]
fn reassembly_memory_is_bounded() {
    let mut l = layer();
    let mut out = Output::default();
    // 3000 datagrams' first fragments: 4.3 MB offered, held under 4 MiB by evicting the oldest.
    for ident in 0..3000u16 {
        let f = fragments(2000, 1500, ident);
        l.receive(0, 0, [&f[0][..]], &mut out);
    }
    assert!(l.reassembly().bytes() <= reassembly::MEMORY_LIMIT);
    assert!(l.reassembly().len() < 3000);
}

#[test]
fn output_fragments_to_the_mtu_or_refuses_with_df() {
    let mut l = layer();
    let mut out = Output::default();
    l.send(
        0,
        [(
            &info(OURS, PEER, IpProtocol::Udp, false),
            &payload(4000)[..],
        )],
        &mut out,
    );
    let frags: Vec<Ipv4Repr> = out
        .to_link
        .iter()
        .map(|f| {
            Ipv4Repr::parse(&Ipv4Packet::new_checked(f).unwrap(), ChecksumMode::Verify).unwrap()
        })
        .collect();
    assert_eq!(
        frags
            .iter()
            .map(|r| (r.frag_offset, r.payload_len, r.more_frags))
            .collect::<Vec<_>>(),
        [(0, 1480, true), (1480, 1480, true), (2960, 1040, false)]
    );
    assert!(out.to_link.iter().all(|f| f.len() <= 1500));
    assert_eq!(l.counters().frag_creates, 3);

    let mut out = Output::default();
    l.send(
        0,
        [(&info(OURS, PEER, IpProtocol::Tcp, true), &payload(4000)[..])],
        &mut out,
    );
    assert!(out.to_link.is_empty());
    let e = &out.icmp_errors[0];
    assert_eq!(
        (e.icmp_type, e.code, e.next_hop_mtu, e.original.protocol),
        (3, 4, 1500, IpProtocol::Tcp)
    );
}

#[test]
fn loopback_never_reaches_the_link() {
    let mut l = layer();
    let mut out = Output::default();
    let lo = Ipv4Address::new(127, 0, 0, 1);
    l.send(
        0,
        [
            (&info(lo, lo, IpProtocol::Udp, false), &b"to myself"[..]),
            (&info(OURS, OURS, IpProtocol::Tcp, false), &[0xab; 20][..]),
        ],
        &mut out,
    );
    assert!(out.to_link.is_empty());
    assert_eq!(out.to_udp.payloads.iter().next().unwrap(), b"to myself");
    assert_eq!(out.to_tcp.info[0].src_addr, OURS);
    assert_eq!(l.counters().out_loopback, 2);
    // A ping to ourselves is answered to ourselves.
    let mut out = Output::default();
    let echo = icmp(Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: b"hi",
    });
    l.send(
        0,
        [(&info(lo, lo, IpProtocol::Icmp, false), &echo[..])],
        &mut out,
    );
    assert_eq!(l.counters().icmp_out_echo_reps, 1);
    assert!(out.to_link.is_empty());
}

#[test]
fn port_and_host_unreachable() {
    let mut l = layer();
    let mut out = Output::default();
    let udp = [0x13u8, 0x88, 0, 9, 0, 12, 0, 0, 1, 2, 3, 4];
    l.port_unreachable(
        0,
        [(&info(PEER, OURS, IpProtocol::Udp, false), &udp[..])],
        &mut out,
    );
    let p = Ipv4Packet::new_checked(out.to_link.iter().next().unwrap()).unwrap();
    let Icmpv4Repr::DstUnreachable { code, data, .. } = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(p.payload()).unwrap(),
        ChecksumMode::Verify,
    )
    .unwrap() else {
        panic!("not unreachable")
    };
    assert_eq!(code, icmpv4::unreachable::PORT);
    assert_eq!(
        &data[20..28],
        &udp[..8],
        "the quote carries the first 8 bytes of the UDP datagram"
    );

    // Our own packet whose next hop failed: host unreachable loops back to us, for the transport.
    let mut out = Output::default();
    let ours = build::ipv4(OURS, FAR, IpProtocol::Tcp, &[0xab; 20]);
    l.undeliverable(0, [&ours[..]], &mut out);
    assert!(out.to_link.is_empty());
    let e = &out.icmp_errors[0];
    assert_eq!(
        (
            e.icmp_type,
            e.code,
            e.original.dst_addr,
            &e.transport_header[..]
        ),
        (3, 1, FAR, &[0xab; 8][..])
    );
}

#[test]
fn forwarding_decrements_ttl_and_expires_it() {
    let mut l = layer();
    l.add_address(
        1,
        Ipv4Cidr::new(Ipv4Address::new(192, 168, 9, 1), 24).unwrap(),
    )
    .unwrap();
    let to_far_lan = Ipv4Address::new(192, 168, 9, 20);
    let mut out = Output::default();
    l.receive(
        0,
        0,
        [&datagram(PEER, to_far_lan, IpProtocol::Udp, &[1; 8])[..]],
        &mut out,
    );
    assert!(out.to_link.is_empty(), "forwarding is off by default");
    l.set_forwarding(true);
    let mut out = Output::default();
    l.receive(
        0,
        0,
        [&datagram(PEER, to_far_lan, IpProtocol::Udp, &[1; 8])[..]],
        &mut out,
    );
    let fwd = Ipv4Packet::new_checked(out.to_link.iter().next().unwrap()).unwrap();
    assert_eq!(
        (fwd.ttl(), fwd.verify_checksum(), out.next_hops[0]),
        (63, true, to_far_lan)
    );
    let mut dying = datagram(PEER, to_far_lan, IpProtocol::Udp, &[1; 8]);
    Ipv4Packet::new_unchecked(&mut dying[..]).set_ttl_update_checksum(1);
    let mut out = Output::default();
    l.receive(0, 0, [&dying[..]], &mut out);
    let err = Ipv4Packet::new_checked(out.to_link.iter().next().unwrap()).unwrap();
    assert_eq!(
        (err.dst_addr(), err.payload()[0]),
        (PEER, icmpv4::TIME_EXCEEDED)
    );
}

#[test]
fn icmp_errors_about_our_datagrams_go_up_and_none_are_sent_about_errors() {
    let mut l = layer();
    let sent = build::ipv4(OURS, FAR, IpProtocol::Udp, &[0x12, 0x34, 0, 53, 0, 8, 0, 0]);
    let err = icmp(Icmpv4Repr::DstUnreachable {
        code: 3,
        next_hop_mtu: 0,
        data: &sent,
    });
    let mut out = Output::default();
    l.receive(
        0,
        0,
        [&datagram(FAR, OURS, IpProtocol::Icmp, &err)[..]],
        &mut out,
    );
    assert_eq!(out.icmp_errors.len(), 1);
    assert_eq!(out.icmp_errors[0].original.protocol, IpProtocol::Udp);
    // An ICMP error with an unknown protocol inside is not answered with another error.
    let mut out = Output::default();
    let gre = build::ipv4(PEER, OURS, IpProtocol::Unknown(47), &[0; 8]);
    let bounce = datagram(PEER, Ipv4Address::BROADCAST, IpProtocol::Unknown(47), &gre);
    l.receive(0, 0, [&bounce[..]], &mut out);
    assert!(out.to_link.is_empty(), "no ICMP about a broadcast");
}

#[test]
fn the_send_fast_path_gives_the_header_send_would_build_and_leaves_the_rest() {
    let lo = Ipv4Address::new(127, 0, 0, 1);
    let mut gso = info(OURS, FAR, IpProtocol::Tcp, true);
    gso.segment_size = 1460;
    let datagrams = [
        (info(OURS, PEER, IpProtocol::Tcp, true), 1480), // fits the MTU: on-link, to PEER
        (gso, 20 + 8 * 1460),                            // a super-segment, via the gateway
        (info(lo, lo, IpProtocol::Udp, false), 10),      // loopback
        (info(OURS, PEER, IpProtocol::Udp, false), 1481), // to fragment
        (info(OURS, PEER, IpProtocol::Tcp, true), 1481), // too big with DF
    ];
    let mut fast = layer();
    let routed = fast.route_headers(datagrams.iter().map(|(i, len)| (i, *len)));
    assert_eq!(
        routed
            .iter()
            .map(|r| r.map(|(_, hop)| hop))
            .collect::<Vec<_>>(),
        [Some(PEER), Some(PEER), None, None, None]
    );
    assert_eq!(fast.counters().out_requests, 2);

    // `send` builds the same two packets, header for header (identification included), and
    // counts them the same.
    let mut slow = layer();
    let mut out = Output::default();
    let payloads: Vec<_> = datagrams.iter().map(|(_, len)| payload(*len)).collect();
    slow.send(
        0,
        datagrams
            .iter()
            .map(|(i, _)| i)
            .zip(&payloads[..2])
            .map(|(i, p)| (i, &p[..])),
        &mut out,
    );
    let built: Vec<_> = out
        .to_link
        .iter()
        .map(|p| p[..HEADER_LEN].to_vec())
        .collect();
    let fast_headers: Vec<_> = routed.iter().flatten().map(|(h, _)| h.to_vec()).collect();
    assert_eq!(fast_headers, built);
    assert_eq!(slow.counters().out_requests, 2);
    for (header, (_, len)) in fast_headers.iter().zip(&datagrams) {
        let p = Ipv4Packet::new_unchecked(&header[..]);
        assert!(p.verify_checksum());
        assert_eq!(usize::from(p.total_len()), HEADER_LEN + len);
    }
}
