//! Byte-exact parse and emit of real frames captured from Linux (`fixtures/linux.pcap`; see
//! `fixtures/README.md` for how they were made).

use netstack_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use netstack_wire::{
    ArpOperation, ArpPacket, ArpRepr, ChecksumMode, EtherType, EthernetFrame, EthernetRepr,
    IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpFlags, TcpPacket, TcpRepr, UdpPacket,
    UdpRepr, VlanTag,
};

const PCAP: &[u8] = include_bytes!("fixtures/linux.pcap");

/// The frames of a classic (microsecond, little-endian) pcap file.
fn frames(pcap: &[u8]) -> Vec<&[u8]> {
    assert_eq!(
        pcap[..4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        1,
        "LINKTYPE_ETHERNET"
    );
    let mut out = Vec::new();
    let mut rest = &pcap[24..];
    while !rest.is_empty() {
        let incl = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(rest[12..16].try_into().unwrap()) as usize;
        assert_eq!(incl, orig, "the capture was not truncated");
        out.push(&rest[16..16 + incl]);
        rest = &rest[16 + incl..];
    }
    out
}

/// Re-emits a frame from its reprs, layer by layer, and returns what each layer's parse saw.
#[derive(Default, Debug)]
struct Seen {
    arp: usize,
    ipv4: usize,
    fragments: usize,
    icmp: usize,
    udp: usize,
    tcp: usize,
    ipv6: usize,
}

fn round_trip_ethernet(frame: &[u8]) -> (EthernetRepr, Vec<u8>) {
    let f = EthernetFrame::new_checked(frame).unwrap();
    let repr = EthernetRepr::parse(&f).unwrap();
    let mut out = vec![0u8; frame.len()];
    let mut o = EthernetFrame::new_unchecked(&mut out[..]);
    repr.emit(&mut o);
    o.payload_mut().copy_from_slice(f.payload());
    assert_eq!(out, frame, "Ethernet header re-emits byte-exact");
    (repr, f.payload().to_vec())
}

fn check_ipv4(packet: &[u8], seen: &mut Seen, fragments: &mut Vec<(Ipv4Repr, Vec<u8>)>) {
    let p = Ipv4Packet::new_checked(packet).unwrap();
    let ip = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
    let mut header = [0u8; 20];
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut header[..]));
    assert_eq!(header, packet[..20], "IPv4 header re-emits byte-exact");
    seen.ipv4 += 1;
    if ip.is_fragment() {
        seen.fragments += 1;
        fragments.push((ip, p.payload().to_vec()));
        return;
    }
    check_transport(&ip, p.payload(), seen);
}

fn check_transport(ip: &Ipv4Repr, payload: &[u8], seen: &mut Seen) {
    match ip.protocol {
        IpProtocol::Icmp => {
            let p = Icmpv4Packet::new_checked(payload).unwrap();
            let icmp = Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
            let mut out = vec![0u8; icmp.buffer_len()];
            icmp.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
            assert_eq!(out, payload, "ICMP re-emits byte-exact");
            seen.icmp += 1;
        }
        IpProtocol::Udp => {
            let p = UdpPacket::new_checked(payload).unwrap();
            let udp = UdpRepr::parse(&p, ip.src_addr, ip.dst_addr, ChecksumMode::Verify).unwrap();
            let mut out = vec![0u8; payload.len()];
            udp.emit(
                &mut UdpPacket::new_unchecked(&mut out[..]),
                ip.src_addr,
                ip.dst_addr,
                p.payload().len(),
                Some(p.payload()),
            );
            assert_eq!(out, payload, "UDP re-emits byte-exact");
            seen.udp += 1;
        }
        IpProtocol::Tcp => {
            let p = TcpPacket::new_checked(payload).unwrap();
            let tcp = TcpRepr::parse(&p, ip.src_addr, ip.dst_addr, ChecksumMode::Verify).unwrap();
            let mut out = vec![0u8; tcp.buffer_len()];
            tcp.emit(
                &mut TcpPacket::new_unchecked(&mut out[..]),
                ip.src_addr,
                ip.dst_addr,
            );
            assert_eq!(out, payload, "TCP re-emits byte-exact: {tcp:?}");
            seen.tcp += 1;
        }
        other => panic!("unexpected protocol {other:?}"),
    }
}

#[test]
fn every_captured_frame_round_trips_byte_exact() {
    let mut seen = Seen::default();
    let mut fragments = Vec::new();
    for frame in frames(PCAP) {
        let (eth, payload) = round_trip_ethernet(frame);
        match eth.ethertype {
            EtherType::Arp => {
                let p = ArpPacket::new_checked(&payload[..]).unwrap();
                let arp = ArpRepr::parse(&p).unwrap();
                let mut out = vec![0u8; arp.buffer_len()];
                arp.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
                assert_eq!(out, payload, "ARP re-emits byte-exact");
                seen.arp += 1;
            }
            EtherType::Ipv4 => check_ipv4(&payload, &mut seen, &mut fragments),
            EtherType::Ipv6 => seen.ipv6 += 1,
            other => panic!("unexpected EtherType {other:?}"),
        }
    }
    // Reassemble each fragmented echo by hand (the ipv4 component's job later) and round-trip it.
    fragments.sort_by_key(|(ip, _)| (ip.ident, ip.frag_offset));
    for pair in fragments.chunks(2) {
        let [(first, a), (last, b)] = pair else {
            panic!("fragments come in pairs here")
        };
        assert_eq!(
            (first.ident, first.frag_offset, first.more_frags),
            (last.ident, 0, true)
        );
        assert_eq!(
            (usize::from(last.frag_offset), last.more_frags),
            (a.len(), false)
        );
        let whole = [a.as_slice(), b.as_slice()].concat();
        let ip = Ipv4Repr {
            payload_len: whole.len(),
            more_frags: false,
            ..*first
        };
        check_transport(&ip, &whole, &mut seen);
    }
    assert_eq!(
        (
            seen.arp,
            seen.ipv4,
            seen.fragments,
            seen.icmp,
            seen.udp,
            seen.tcp
        ),
        (2, 26, 4, 5, 1, 18),
        "the fixture holds the frames the README lists: {seen:?}"
    );
    assert!(seen.ipv6 > 0);
}

fn ipv4_frames() -> impl Iterator<Item = (Ipv4Repr, Vec<u8>)> {
    frames(PCAP).into_iter().filter_map(|f| {
        let f = EthernetFrame::new_checked(f).unwrap();
        (f.ethertype() == EtherType::Ipv4).then(|| {
            let p = Ipv4Packet::new_checked(f.payload()).unwrap();
            (
                Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap(),
                p.payload().to_vec(),
            )
        })
    })
}

#[test]
fn linux_options_read_as_linux_wrote_them() {
    let tcp: Vec<(Ipv4Repr, Vec<u8>)> = ipv4_frames()
        .filter(|(ip, _)| ip.protocol == IpProtocol::Tcp)
        .collect();
    let parse = |(ip, b): &(Ipv4Repr, Vec<u8>)| {
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let r = TcpRepr::parse(&p, ip.src_addr, ip.dst_addr, ChecksumMode::Verify).unwrap();
        (
            r.flags,
            r.max_seg_size,
            r.sack_permitted,
            r.window_scale,
            r.timestamp.is_some(),
            r.sack_ranges,
            r.ack_number,
        )
    };
    // Linux's SYN: mss 1460, sackOK, TS, nop, wscale 10.
    let (flags, mss, sack_ok, ws, ts, _, _) = parse(&tcp[0]);
    assert_eq!(
        (flags, mss, sack_ok, ws, ts),
        (TcpFlags::SYN, Some(1460), true, Some(10), true)
    );
    // Linux's SACK for the hole the probe left: one block covering the probe's second segment.
    let sacks: Vec<_> = tcp.iter().map(parse).filter(|s| s.5[0].is_some()).collect();
    assert_eq!(sacks.len(), 1);
    let (_, _, _, _, ts, blocks, ack) = sacks[0];
    assert!(ts);
    let (left, right) = blocks[0].unwrap();
    assert_eq!((left - ack, right - left), (100, 100));
    assert_eq!(blocks[1], None);
}

#[test]
fn port_unreachable_quotes_the_udp_datagram() {
    let (ip, icmp) = ipv4_frames()
        .find(|(ip, b)| ip.protocol == IpProtocol::Icmp && b[0] == 3)
        .unwrap();
    assert_eq!(
        ip.tos, 0xc0,
        "Linux sends ICMP errors with precedence 6 (internetwork control)"
    );
    let p = Icmpv4Packet::new_checked(&icmp[..]).unwrap();
    let Icmpv4Repr::DstUnreachable { code, data, .. } =
        Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap()
    else {
        panic!("not a destination unreachable")
    };
    assert_eq!(code, netstack_wire::icmpv4::unreachable::PORT);
    let quoted = Ipv4Packet::new_checked(data).unwrap();
    assert_eq!(quoted.protocol(), IpProtocol::Udp);
    assert_eq!(
        UdpPacket::new_checked(quoted.payload()).unwrap().dst_port(),
        9999
    );
    assert_eq!(quoted.dst_addr(), Ipv4Address::new(10, 9, 0, 2));
}

/// No 802.1Q frame could be captured here (no 8021q module): tag Linux's ARP request as a switch
/// port would, and round-trip it.
#[test]
fn tagged_linux_frame_round_trips() {
    let request = frames(PCAP)
        .into_iter()
        .find(|f| EthernetFrame::new_checked(*f).unwrap().ethertype() == EtherType::Arp)
        .unwrap();
    let tagged = [&request[..12], &[0x81, 0x00, 0x60, 0x64], &request[12..]].concat();
    let f = EthernetFrame::new_checked(&tagged[..]).unwrap();
    let (repr, payload) = round_trip_ethernet(&tagged);
    assert_eq!(
        repr.vlan,
        Some(VlanTag {
            pcp: 3,
            dei: false,
            vid: 100
        })
    );
    assert_eq!(f.header_len(), 18);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&payload[..]).unwrap()).unwrap();
    assert_eq!(arp.operation, ArpOperation::Request);
    assert_eq!(arp.target_protocol_addr, Ipv4Address::new(10, 9, 0, 2));
}
