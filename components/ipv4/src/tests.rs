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
            c.reasm_drop_unsupported,
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
