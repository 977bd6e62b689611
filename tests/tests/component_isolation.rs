//! Each built component alone in wasmtime, fed bytes through its exports, outputs checked: the
//! glue converts faithfully and bad batches are counted, never trapped on.

use netstack::bindings::{ethernet_arp, ipv4, tcp, udp};
use netstack::components::{ComponentState, engine, linker, load, store};
use netstack_wire::build;
use netstack_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use netstack_wire::tuple::{ipv4_to, mac_to};
use netstack_wire::{
    ArpOperation, ChecksumMode, EthernetAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
    SeqNumber, TcpFlags, TcpPacket, TcpRepr, UdpRepr,
};
use wasmtime::Store;

const OUR_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
const US: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const PEER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

fn instantiate<T>(
    path: &str,
    f: impl FnOnce(
        &mut Store<ComponentState>,
        &wasmtime::component::Component,
        &wasmtime::component::Linker<ComponentState>,
    ) -> wasmtime::Result<T>,
) -> (Store<ComponentState>, T) {
    let engine = engine().unwrap();
    let linker = linker(&engine).unwrap();
    let component = load(&engine, path).unwrap().component;
    let mut s = store(&engine);
    let bindings = f(&mut s, &component, &linker).unwrap();
    (s, bindings)
}

/// A component's counters as (name, value): each component's bindings have their own type.
macro_rules! counters {
    ($call:expr) => {
        $call
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect::<Vec<(String, u64)>>()
    };
}

fn counter(list: &[(String, u64)], name: &str) -> u64 {
    list.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no counter {name} in {list:?}"))
        .1
}

/// A broadcast ARP request from the peer for our address (a whole frame).
fn arp_request_from_peer() -> Vec<u8> {
    build::arp(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        PEER_MAC,
        PEER,
        EthernetAddress([0; 6]),
        US,
    )
}

/// The link component alone, configured with our address and MAC (MTU 1500); what it
/// announced.
fn link_up() -> (
    Store<ComponentState>,
    ethernet_arp::EthernetArpComponent,
    ethernet_arp::exports::netstack::stack::link::LinkOutput,
) {
    use ethernet_arp::exports::netstack::stack::{link::LinkConfig, types as t};
    let (mut s, c) = instantiate(netstack_artifacts::ETHERNET_ARP, |s, c, l| {
        ethernet_arp::EthernetArpComponent::instantiate(s, c, l)
    });
    let config = LinkConfig {
        mac: mac_to(OUR_MAC),
        mtu: 1500,
        addresses: vec![t::Ipv4Cidr {
            address: ipv4_to(US),
            prefix_len: 24,
        }],
        vlan: None,
    };
    let announce = c
        .netstack_stack_link()
        .call_configure(&mut s, 0, &config)
        .unwrap()
        .unwrap();
    (s, c, announce)
}

#[test]
fn ethernet_arp_answers_an_arp_request_with_exact_bytes() {
    use ethernet_arp::exports::netstack::stack::types as t;
    let (mut s, c, announce) = link_up();
    let link = c.netstack_stack_link();
    assert_eq!(announce.to_wire.lengths, [42], "one gratuitous ARP");

    let request = arp_request_from_peer();
    let out = link
        .call_receive(
            &mut s,
            1,
            &t::Batch {
                bytes: request.clone(),
                lengths: vec![42],
            },
            &[],
        )
        .unwrap();
    assert_eq!(
        out.to_wire.bytes,
        build::arp(ArpOperation::Reply, PEER_MAC, OUR_MAC, US, PEER_MAC, PEER)
    );
    let neighbours = link.call_neighbours(&mut s).unwrap();
    assert_eq!(
        (neighbours[0].address, neighbours[0].mac),
        (ipv4_to(PEER), Some(mac_to(PEER_MAC)))
    );

    // Lengths that do not add up: counted, nothing trapped.
    let out = link
        .call_receive(
            &mut s,
            2,
            &t::Batch {
                bytes: request,
                lengths: vec![40],
            },
            &[],
        )
        .unwrap();
    assert!(out.to_wire.bytes.is_empty());
    let counters = counters!(link.call_counters(&mut s));
    assert_eq!(counter(&counters, "drop-bad-batch"), 1);
    assert_eq!(counter(&counters, "arp-replies-sent"), 1);
}

#[test]
fn ethernet_arp_classifies_frames_from_their_heads() {
    use ethernet_arp::exports::netstack::stack::link::{FrameClass, FrameHead, Span};
    let (mut s, c, _) = link_up();
    let link = c.netstack_stack_link();
    let eth = |dst| netstack_wire::EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: dst,
        vlan: None,
        ethertype: netstack_wire::EtherType::Ipv4,
    };
    let packet = build::ipv4(PEER, US, IpProtocol::Tcp, &[0xab; 1000]);
    let ours = build::ethernet(&eth(OUR_MAC), &packet);
    let theirs = build::ethernet(&eth(PEER_MAC), &packet);
    let arp = arp_request_from_peer();
    // Only the first 18 bytes of each frame cross, with the whole lengths.
    let frames = [&ours, &theirs, &arp];
    let heads: Vec<u8> = frames.iter().flat_map(|f| f[..18].to_vec()).collect();
    let frame_heads: Vec<_> = (frames.iter())
        .map(|f| FrameHead {
            head_length: 18,
            length: f.len() as u32,
        })
        .collect();
    let classes = link.call_classify(&mut s, 1, &heads, &frame_heads).unwrap();
    assert!(
        matches!(
            classes[..],
            [
                FrameClass::Ipv4(Span { offset: 14, length }),
                FrameClass::Other,
                FrameClass::Other,
            ] if length as usize == packet.len()
        ),
        "{classes:?}"
    );
    // Heads that do not add up: nothing classified, the batch counted as bad.
    let classes = link
        .call_classify(&mut s, 2, &heads, &frame_heads[..2])
        .unwrap();
    assert!(classes.is_empty());
    let counters = counters!(link.call_counters(&mut s));
    assert_eq!(counter(&counters, "rx-ipv4"), 1);
    assert_eq!(counter(&counters, "drop-bad-batch"), 1);
}

#[test]
fn ethernet_arp_gives_headers_for_packets_to_usable_neighbours() {
    use ethernet_arp::exports::netstack::stack::link::RoutedPacket;
    let (mut s, c, _) = link_up();
    let link = c.netstack_stack_link();
    let peer = ipv4_to(PEER);
    let broadcast = ipv4_to(Ipv4Address::new(10, 0, 2, 255));
    let packet = |next_hop, length, segment_size| RoutedPacket {
        next_hop,
        length,
        segment_size,
    };
    // An unknown neighbour: left to `send`, nothing counted.
    let framing = link
        .call_frame_headers(&mut s, 1, &[packet(peer, 60, 0)])
        .unwrap();
    assert_eq!(
        (&framing.headers[..], &framing.header_lengths[..]),
        (&[][..], &[0][..])
    );
    // A request from the peer for our address teaches us its MAC (STALE).
    let request = arp_request_from_peer();
    let batch = ethernet_arp::exports::netstack::stack::types::Batch {
        lengths: vec![request.len() as u32],
        bytes: request,
    };
    link.call_receive(&mut s, 2, &batch, &[]).unwrap();
    let packets = [
        packet(peer, 60, 0),
        packet(broadcast, 60, 0),
        // Over the MTU without a segment size: `send` drops and counts it.
        packet(peer, 9000, 0),
        // A GSO super-segment, which the host cuts into frames of 1448 bytes of payload.
        packet(peer, 9000, 1448),
    ];
    let framing = link.call_frame_headers(&mut s, 3, &packets).unwrap();
    let eth = |dst: EthernetAddress| {
        let mut h = dst.0.to_vec();
        h.extend(OUR_MAC.0);
        h.extend([0x08, 0x00]);
        h
    };
    assert_eq!(framing.header_lengths, [14, 14, 0, 14]);
    assert_eq!(
        framing.headers,
        [
            eth(PEER_MAC),
            eth(EthernetAddress::BROADCAST),
            eth(PEER_MAC)
        ]
        .concat()
    );
    // Using the STALE entry moved it to DELAY, whose timer is now the layer's deadline.
    assert!(framing.deadline.is_some());
    let counters = counters!(link.call_counters(&mut s));
    assert_eq!(counter(&counters, "tx-ipv4"), 3);
}

/// The ipv4 component alone, with our address on interface 0.
fn ipv4_with_our_address() -> (Store<ComponentState>, ipv4::Ipv4Component) {
    use ipv4::exports::netstack::stack::types as t;
    let (mut s, c) = instantiate(netstack_artifacts::IPV4, |s, c, l| {
        ipv4::Ipv4Component::instantiate(s, c, l)
    });
    let cidr = t::Ipv4Cidr {
        address: ipv4_to(US),
        prefix_len: 24,
    };
    c.netstack_stack_ipv4()
        .call_add_address(&mut s, 0, cidr)
        .unwrap()
        .unwrap();
    (s, c)
}

#[test]
fn ipv4_classifies_packets_from_their_headers() {
    use ipv4::exports::netstack::stack::ipv4::{PacketClass, PacketHead};
    let (mut s, c) = ipv4_with_our_address();
    let ip = c.netstack_stack_ipv4();
    let tcp = build::ipv4(PEER, US, IpProtocol::Tcp, &[0xab; 1000]);
    let udp = build::ipv4(PEER, US, IpProtocol::Udp, &[0xcd; 300]);
    let echo = build::ipv4(
        PEER,
        US,
        IpProtocol::Icmp,
        &build::icmpv4(&Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: b"x",
        }),
    );
    let elsewhere = build::ipv4(
        PEER,
        Ipv4Address::new(10, 0, 2, 99),
        IpProtocol::Tcp,
        &[0; 40],
    );
    let mut bad_sum = tcp.clone();
    bad_sum[10] ^= 0xff;
    let packets = [&tcp, &udp, &echo, &elsewhere, &bad_sum];
    // Only the first 60 bytes (the longest header) cross, with the whole lengths.
    let head = |p: &Vec<u8>| p[..p.len().min(60)].to_vec();
    let heads: Vec<u8> = packets.iter().flat_map(|p| head(p)).collect();
    let packet_heads: Vec<_> = (packets.iter())
        .map(|p| PacketHead {
            head_length: head(p).len() as u32,
            length: p.len() as u32,
            segment_size: 0,
        })
        .collect();
    let classes = ip
        .call_classify(&mut s, 1, 0, &heads, &packet_heads)
        .unwrap();
    let span = |d: &ipv4::exports::netstack::stack::ipv4::Delivery| (d.span.offset, d.span.length);
    match &classes[..] {
        [
            PacketClass::Tcp(t),
            PacketClass::Udp(u),
            PacketClass::Other,
            PacketClass::Other,
            PacketClass::Other,
        ] => {
            assert_eq!((span(t), span(u)), ((20, 1000), (20, 300)));
            assert_eq!((t.info.protocol, t.info.source), (6, ipv4_to(PEER)));
            assert_eq!(u.info.protocol, 17);
        }
        other => panic!("{other:?}"),
    }
    let counters = counters!(ip.call_counters(&mut s));
    // Only what it passed on is counted; `receive` counts the rest when the host sends them.
    assert_eq!(counter(&counters, "in-receives"), 2);
    assert_eq!(counter(&counters, "in-hdr-errors"), 0);
    // Heads that do not add up: nothing classified, the batch counted as bad.
    let classes = ip
        .call_classify(&mut s, 2, 0, &heads, &packet_heads[..1])
        .unwrap();
    assert!(classes.is_empty());
    let counters = counters!(ip.call_counters(&mut s));
    assert_eq!(counter(&counters, "drop-bad-batch"), 1);
}

#[test]
fn ipv4_routes_payloads_from_their_metadata() {
    use ipv4::exports::netstack::stack::ipv4::OutgoingPayload;
    use ipv4::exports::netstack::stack::types as t;
    let (mut s, c) = ipv4_with_our_address();
    let ip = c.netstack_stack_ipv4();
    let info = |destination: Ipv4Address, segment_size| t::DatagramInfo {
        protocol: 6,
        source: ipv4_to(US),
        destination: ipv4_to(destination),
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        segment_size,
    };
    let infos = [
        info(PEER, 0),
        info(PEER, 1460), // a super-segment may exceed the MTU
        info(Ipv4Address::new(127, 0, 0, 1), 0), // loopback: `send` delivers it
        info(PEER, 0),    // too big with DF: `send` answers with ICMP
        info(Ipv4Address::new(192, 0, 2, 1), 0), // no route (no gateway here)
    ];
    let payloads: Vec<_> = infos
        .iter()
        .zip([1000, 14600, 10, 1481, 10])
        .map(|(&info, length)| OutgoingPayload { info, length })
        .collect();
    let routing = ip.call_route_headers(&mut s, 1, &payloads).unwrap();
    let routes = &routing.routes;
    assert!(
        matches!(routes[..], [Some(_), Some(_), None, None, None]),
        "{routes:?}"
    );
    // The headers lie one after another, in the order of the payloads.
    assert_eq!(routing.headers.len(), 2 * 20);
    let headers = routing.headers.chunks(20);
    for ((r, header), len) in routes.iter().flatten().zip(headers).zip([1000, 14600]) {
        assert_eq!((r.next_hop, r.header_length), (ipv4_to(PEER), 20));
        let p = Ipv4Packet::new_unchecked(header);
        assert!(p.verify_checksum());
        assert_eq!((p.header_len(), usize::from(p.total_len())), (20, 20 + len));
        assert_eq!(
            (p.src_addr(), p.dst_addr(), p.dont_frag()),
            (US, PEER, true)
        );
    }
    let counters = counters!(ip.call_counters(&mut s));
    assert_eq!(counter(&counters, "out-requests"), 2);
}

#[test]
fn ipv4_answers_echo_and_delivers_tcp_up() {
    use ipv4::exports::netstack::stack::types as t;
    let (mut s, c) = ipv4_with_our_address();
    let ip = c.netstack_stack_ipv4();

    let echo = Icmpv4Repr::EchoRequest {
        ident: 7,
        seq_no: 3,
        data: b"netstack",
    };
    let request = build::ipv4(PEER, US, IpProtocol::Icmp, &build::icmpv4(&echo));
    let segment = build::ipv4(PEER, US, IpProtocol::Tcp, &[0xab; 20]);
    let bytes = [request.clone(), segment.clone()].concat();
    let out = ip
        .call_receive(
            &mut s,
            1,
            0,
            &t::Batch {
                bytes,
                lengths: vec![request.len() as u32, segment.len() as u32],
            },
            &[],
        )
        .unwrap();

    assert_eq!(out.to_link.next_hops, [ipv4_to(PEER)]);
    let reply = Ipv4Packet::new_checked(&out.to_link.packets.bytes[..]).unwrap();
    let reply_ip = Ipv4Repr::parse(&reply, ChecksumMode::Verify).unwrap();
    assert_eq!((reply_ip.src_addr, reply_ip.dst_addr), (US, PEER));
    let reply_icmp = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(reply.payload()).unwrap(),
        ChecksumMode::Verify,
    )
    .unwrap();
    assert_eq!(
        reply_icmp,
        Icmpv4Repr::EchoReply {
            ident: 7,
            seq_no: 3,
            data: b"netstack"
        }
    );

    assert_eq!(out.to_tcp.payloads.bytes, [0xab; 20]);
    assert_eq!(out.to_tcp.info[0].protocol, 6);
    assert_eq!(out.to_tcp.info[0].source, ipv4_to(PEER));
}

/// `segment` from the peer to us, as ipv4 hands it to TCP.
fn tcp_from_peer(segment: &TcpRepr<'_>) -> tcp::exports::netstack::stack::types::TransportBatch {
    use tcp::exports::netstack::stack::types as t;
    let bytes = build::tcp(segment, PEER, US);
    t::TransportBatch {
        info: vec![t::DatagramInfo {
            protocol: 6,
            source: ipv4_to(PEER),
            destination: ipv4_to(US),
            ttl: 64,
            tos: 0,
            dont_fragment: true,
            segment_size: 0,
        }],
        payloads: t::Batch {
            lengths: vec![bytes.len() as u32],
            bytes,
        },
    }
}

#[test]
fn tcp_resets_a_syn_to_a_closed_port() {
    use tcp::exports::netstack::stack::types as t;
    let (mut s, c) = instantiate(netstack_artifacts::TCP, |s, c, l| {
        tcp::TcpComponent::instantiate(s, c, l)
    });
    let syn = TcpRepr::new(40000, 80, TcpFlags::SYN, SeqNumber(41), SeqNumber(0), 1024);
    let batch = tcp_from_peer(&syn);
    let out = c
        .netstack_stack_tcp()
        .call_receive(&mut s, 0, &batch)
        .unwrap();
    assert_eq!(out.to_ipv4.info[0].destination, ipv4_to(PEER));
    let rst = TcpRepr::parse(
        &TcpPacket::new_checked(&out.to_ipv4.payloads.bytes[..]).unwrap(),
        US,
        PEER,
        ChecksumMode::Verify,
    )
    .unwrap();
    assert_eq!(
        rst,
        TcpRepr::new(
            80,
            40000,
            TcpFlags::RST | TcpFlags::ACK,
            SeqNumber(0),
            SeqNumber(42),
            0
        )
    );

    // The state survives an export/import into a fresh instance.
    let state = c
        .netstack_stack_state()
        .call_export_state(&mut s)
        .unwrap()
        .unwrap();
    let (mut s2, c2) = instantiate(netstack_artifacts::TCP, |s, c, l| {
        tcp::TcpComponent::instantiate(s, c, l)
    });
    c2.netstack_stack_state()
        .call_import_state(&mut s2, &state)
        .unwrap()
        .unwrap();
    let counters = c2.netstack_stack_tcp().call_counters(&mut s2).unwrap();
    assert_eq!(
        counters
            .iter()
            .find(|c| c.name == "out-rsts")
            .unwrap()
            .value,
        1
    );
    assert_eq!(
        c2.netstack_stack_state()
            .call_import_state(&mut s2, b"garbage")
            .unwrap(),
        Err(t::ErrorCode::InvalidStateData)
    );
}

#[test]
fn udp_reports_datagrams_to_no_socket() {
    use udp::exports::netstack::stack::types as t;
    let (mut s, c) = instantiate(netstack_artifacts::UDP, |s, c, l| {
        udp::UdpComponent::instantiate(s, c, l)
    });
    let bytes = build::udp(
        &UdpRepr {
            src_port: 5353,
            dst_port: 9,
        },
        PEER,
        US,
        b"ping",
    );
    let info = t::DatagramInfo {
        protocol: 17,
        source: ipv4_to(PEER),
        destination: ipv4_to(US),
        ttl: 64,
        tos: 0,
        dont_fragment: false,
        segment_size: 0,
    };
    let batch = t::TransportBatch {
        info: vec![info],
        payloads: t::Batch {
            lengths: vec![12],
            bytes: bytes.clone(),
        },
    };
    let out = c
        .netstack_stack_udp()
        .call_receive(&mut s, 0, &batch)
        .unwrap();
    assert_eq!(out.port_unreachable.payloads.bytes, bytes);
    // Metadata that does not match the payloads: counted, nothing trapped.
    let bad = t::TransportBatch {
        info: vec![],
        payloads: t::Batch {
            lengths: vec![12],
            bytes,
        },
    };
    assert!(
        c.netstack_stack_udp()
            .call_receive(&mut s, 0, &bad)
            .unwrap()
            .port_unreachable
            .info
            .is_empty()
    );
    let counters = c.netstack_stack_udp().call_counters(&mut s).unwrap();
    assert_eq!(
        counters
            .iter()
            .find(|c| c.name == "drop-bad-batch")
            .unwrap()
            .value,
        1
    );
    assert_eq!(
        counters
            .iter()
            .find(|c| c.name == "no-ports")
            .unwrap()
            .value,
        1
    );
}

#[test]
fn ipv4_reassembles_fragments_in_any_order_and_counts_bad_packets() {
    use ipv4::exports::netstack::stack::types as t;
    let (mut s, c) = ipv4_with_our_address();
    let ip = c.netstack_stack_ipv4();

    // A 3000-byte UDP datagram cut into three fragments, delivered last first.
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let whole = Ipv4Repr {
        src_addr: PEER,
        dst_addr: US,
        protocol: IpProtocol::Udp,
        payload_len: data.len(),
        ttl: 64,
        tos: 0,
        ident: 4242,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let frag = |off: usize, len: usize, more: bool| {
        let r = Ipv4Repr {
            payload_len: len,
            more_frags: more,
            frag_offset: off as u16,
            ..whole
        };
        build::ipv4_with(&r, &data[off..off + len])
    };
    let frags = [
        frag(0, 1480, true),
        frag(1480, 1480, true),
        frag(2960, 40, false),
    ];
    let mut bad_sum = frags[0].clone();
    bad_sum[8] ^= 1;
    let order = [
        &frags[2],
        &bad_sum,
        &frags[0][..10].to_vec(),
        &frags[1],
        &frags[0],
    ];
    let bytes: Vec<u8> = order.iter().flat_map(|f| f.iter().copied()).collect();
    let lengths = order.iter().map(|f| f.len() as u32).collect();
    let out = ip
        .call_receive(&mut s, 1, 0, &t::Batch { bytes, lengths }, &[])
        .unwrap();
    assert_eq!(out.to_udp.payloads.lengths, [3000], "one datagram up");
    assert_eq!(out.to_udp.payloads.bytes, data);

    let counters = counters!(ip.call_counters(&mut s));
    assert_eq!(counter(&counters, "reasm-oks"), 1);
    assert_eq!(counter(&counters, "in-hdr-errors"), 1, "the bad checksum");
    assert_eq!(counter(&counters, "in-truncated-pkts"), 1, "the cut header");
}

/// GRO and GSO metadata through the built link and ipv4 components: a received frame's segment
/// size goes up with its packet to the TCP segment it carries; a super-segment TCP sends goes
/// down whole (not fragmented, though larger than the MTU) with its segment size, to the wire.
#[test]
fn segment_sizes_travel_with_packets_through_link_and_ipv4() {
    use ethernet_arp::exports::netstack::stack::types as lt;
    use ipv4::exports::netstack::stack::types as t;
    let (mut ls, lc, _) = link_up();
    let link = lc.netstack_stack_link();
    link.call_add_static_neighbour(&mut ls, ipv4_to(PEER), mac_to(PEER_MAC))
        .unwrap()
        .unwrap();
    let (mut is, ic) = ipv4_with_our_address();
    let ip = ic.netstack_stack_ipv4();

    // Up: a 3000-byte super-segment (two segments of 1448 and one of 104), checksum not valid.
    let mut seg = TcpRepr::new(40000, 80, TcpFlags::ACK, SeqNumber(1), SeqNumber(1), 100);
    let data = vec![7u8; 3000];
    seg.payload = &data;
    let mut tcp_bytes = build::tcp(&seg, PEER, US);
    tcp_bytes[16] ^= 0xff;
    let packet = build::ipv4(PEER, US, IpProtocol::Tcp, &tcp_bytes);
    let mut frame = vec![];
    frame.extend_from_slice(&OUR_MAC.0);
    frame.extend_from_slice(&PEER_MAC.0);
    frame.extend_from_slice(&[8, 0]);
    frame.extend_from_slice(&packet);
    let arp = arp_request_from_peer();
    let frames = lt::Batch {
        lengths: vec![arp.len() as u32, frame.len() as u32],
        bytes: [arp, frame].concat(),
    };
    let up = link.call_receive(&mut ls, 1, &frames, &[0, 1448]).unwrap();
    assert_eq!(up.to_ipv4_segment_sizes, [1448]);
    let packets = t::Batch {
        bytes: up.to_ipv4.bytes,
        lengths: up.to_ipv4.lengths,
    };
    let out = ip
        .call_receive(&mut is, 2, 0, &packets, &up.to_ipv4_segment_sizes)
        .unwrap();
    assert_eq!(out.to_tcp.info.len(), 1);
    assert_eq!(out.to_tcp.info[0].segment_size, 1448);
    assert_eq!(out.to_tcp.payloads.bytes, tcp_bytes);
    // Sizes that do not fit the batch: refused, counted, nothing trapped.
    let bad = ip.call_receive(&mut is, 3, 0, &packets, &[1, 2]).unwrap();
    assert!(bad.to_tcp.info.is_empty());

    // Down: the same super-segment from us, DF set, 3040 bytes over a 1500-byte MTU.
    let info = t::DatagramInfo {
        protocol: 6,
        source: ipv4_to(US),
        destination: ipv4_to(PEER),
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        segment_size: 1448,
    };
    let batch = t::TransportBatch {
        info: vec![info],
        payloads: t::Batch {
            lengths: vec![tcp_bytes.len() as u32],
            bytes: tcp_bytes.clone(),
        },
    };
    let down = ip.call_send(&mut is, 4, &batch).unwrap();
    assert_eq!(
        down.to_link.segment_sizes,
        [1448],
        "not fragmented: cut by the host"
    );
    assert_eq!(down.to_link.packets.lengths, [20 + tcp_bytes.len() as u32]);
    let outbound = lt::Outbound {
        packets: lt::Batch {
            bytes: down.to_link.packets.bytes,
            lengths: down.to_link.packets.lengths,
        },
        next_hops: down.to_link.next_hops,
        segment_sizes: down.to_link.segment_sizes,
    };
    let wire = link.call_send(&mut ls, 5, &outbound).unwrap();
    assert_eq!(wire.to_wire_segment_sizes, [1448]);
    assert_eq!(wire.to_wire.lengths, [14 + 20 + tcp_bytes.len() as u32]);
}

#[test]
fn tcp_names_bytes_the_host_holds_and_places_what_it_receives_there() {
    use tcp::exports::netstack::stack::tcp::{Endpoint, HeldSegment, TcpConfig};
    use tcp::exports::netstack::stack::types as t;
    let (mut s, c) = instantiate(netstack_artifacts::TCP, |s, c, l| {
        tcp::TcpComponent::instantiate(s, c, l)
    });
    let tcp = c.netstack_stack_tcp();
    let config = TcpConfig {
        isn_secret: (7, 7),
        port_seed: 7,
        ephemeral_ports: (40000, 40000),
        time_wait: 60_000_000_000,
        mss: 1460,
        gso_max_size: 0,
    };
    tcp.call_configure(&mut s, config).unwrap().unwrap();
    let socket = tcp.call_create(&mut s).unwrap().unwrap();
    let remote = Endpoint {
        address: ipv4_to(PEER),
        port: 80,
    };
    tcp.call_connect(&mut s, 0, socket, ipv4_to(US), remote)
        .unwrap()
        .unwrap();
    let out = tcp.call_poll(&mut s, 0).unwrap();
    let syn = TcpPacket::new_checked(&out.to_ipv4.payloads.bytes[..]).unwrap();
    let iss = syn.seq_number();
    // The peer's SYN-ACK, then ACKs of what it got.
    let from_peer = |flags, seq: u32, ack: SeqNumber| {
        let mut r = TcpRepr::new(80, 40000, flags, SeqNumber(seq), ack, 65535);
        if flags.contains(TcpFlags::SYN) {
            r.max_seg_size = Some(1460);
        }
        tcp_from_peer(&r)
    };
    let synack = from_peer(TcpFlags::SYN | TcpFlags::ACK, 9000, iss + 1);
    tcp.call_receive(&mut s, 1, &synack).unwrap();

    assert_eq!(tcp.call_wrote(&mut s, 2, socket, 3000).unwrap(), Ok(3000));
    assert_eq!(
        tcp.call_send(&mut s, 2, socket, b"own").unwrap(),
        Err(t::ErrorCode::InvalidState),
        "the layer's own bytes cannot follow held ones"
    );
    let out = tcp.call_poll(&mut s, 2).unwrap();
    // Two MSS-sized spans, each a payload of just its TCP header (Nagle holds the last 80
    // bytes while those are unacknowledged).
    let spans: Vec<_> = out
        .held
        .iter()
        .map(|h| (h.payload, h.socket, h.offset, h.length))
        .collect();
    assert_eq!(spans, [(0, socket, 0, 1460), (1, socket, 1460, 1460)]);
    assert_eq!(out.to_ipv4.payloads.lengths, [20, 20]);
    // The checksum field holds the pseudo-header sum for the whole segment: adding the data
    // and summing the lot gives the complete checksum.
    let header = &out.to_ipv4.payloads.bytes[..20];
    let data: Vec<u8> = (0..1460u32).map(|i| i as u8).collect();
    let mut whole = [header, &data].concat();
    let partial = TcpPacket::new_unchecked(&whole[..]).checksum();
    let mut p = TcpPacket::new_unchecked(&mut whole[..]);
    p.fill_partial_checksum(US, PEER);
    assert_eq!(partial, p.checksum());
    p.fill_checksum(US, PEER);
    assert!(p.verify_checksum(US, PEER));

    // The peer acknowledges 2000 bytes: the host may drop them.
    let ack = from_peer(TcpFlags::ACK, 9001, iss + 1 + 2000);
    let out = tcp.call_receive(&mut s, 3, &ack).unwrap();
    let released: Vec<_> = (out.released.iter())
        .map(|r| (r.socket, r.up_to, r.gone))
        .collect();
    assert_eq!(released, [(socket, 2000, false)]);
    // All of it: the last 80 bytes go, named as the stream's next span.
    let ack = from_peer(TcpFlags::ACK, 9001, iss + 1 + 2920);
    let out = tcp.call_receive(&mut s, 4, &ack).unwrap();
    assert_eq!(out.released[0].up_to, 2920);
    let spans: Vec<_> = (out.held.iter()).map(|h| (h.offset, h.length)).collect();
    assert_eq!(spans, [(2920, 80)]);

    // The peer sends 1000 bytes, then 500 beyond a hole of 300; the host gives headers and
    // lengths, TCP says where each goes in the receive stream.
    let data_from_peer = |seq: u32, len: usize| {
        let mut b = from_peer(TcpFlags::ACK, seq, iss + 1 + 3000);
        b.payloads.bytes.truncate(20);
        let segment = HeldSegment {
            info: b.info[0],
            header_length: 20,
            data_length: len as u32,
        };
        (b.payloads.bytes, vec![segment])
    };
    let (heads, segments) = data_from_peer(9001, 1000);
    let out = tcp.call_receive_held(&mut s, 5, &heads, &segments).unwrap();
    let placed: Vec<_> = (out.placed.iter())
        .map(|p| (p.segment, p.socket, p.skip, p.length, p.offset))
        .collect();
    assert_eq!(placed, [(0, socket, 0, 1000, 0)]);
    let (heads, segments) = data_from_peer(10_301, 500);
    let out = tcp.call_receive_held(&mut s, 6, &heads, &segments).unwrap();
    assert_eq!(
        out.placed[0].offset, 1300,
        "beyond the hole, where it belongs"
    );
    // `read` counts what the host reads from its stream: the in-order 1000 only.
    let read = tcp.call_read(&mut s, 7, socket, 4096).unwrap().unwrap();
    assert_eq!((read.stored, read.held), (Vec::new(), 1000));
    // Headers that do not add up are refused and counted.
    let (mut heads, segments) = data_from_peer(10_001, 300);
    heads.push(0);
    let out = tcp.call_receive_held(&mut s, 8, &heads, &segments).unwrap();
    assert!(out.placed.is_empty());
    let counters = counters!(tcp.call_counters(&mut s));
    assert_eq!(counter(&counters, "drop-bad-batch"), 1);
}
