//! Property tests: no parser panics on any bytes, and `parse(emit(repr)) == repr` for every repr.

use netstack_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use netstack_wire::tcp::{MAX_SACK_BLOCKS, MAX_UNKNOWN_OPTIONS};
use netstack_wire::{
    ArpOperation, ArpPacket, ArpRepr, ChecksumMode, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, SeqNumber, TcpFlags, TcpPacket,
    TcpRepr, TcpTimestamp, UdpPacket, UdpRepr, VlanTag,
};
use proptest::prelude::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..200)
}

fn mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

fn addr() -> impl Strategy<Value = Ipv4Address> {
    any::<u32>().prop_map(Ipv4Address::from_bits)
}

/// Feeds `b` to every parser and every accessor a checked view allows.
fn parse_everything(b: &[u8]) {
    let (src, dst) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
    if let Ok(f) = EthernetFrame::new_checked(b) {
        let _ = EthernetRepr::parse(&f);
        let _ = (f.payload(), f.vlan(), f.ethertype());
    }
    if let Ok(p) = ArpPacket::new_checked(b) {
        let _ = ArpRepr::parse(&p);
    }
    if let Ok(p) = Ipv4Packet::new_checked(b) {
        let _ = Ipv4Repr::parse(&p, ChecksumMode::Verify);
        let _ = Ipv4Repr::parse(&p, ChecksumMode::Trust);
        let _ = (p.payload(), p.options(), p.verify_checksum());
    }
    if let Ok(p) = Icmpv4Packet::new_checked(b) {
        let _ = Icmpv4Repr::parse(&p, ChecksumMode::Trust);
    }
    if let Ok(p) = UdpPacket::new_checked(b) {
        let _ = UdpRepr::parse(&p, src, dst, ChecksumMode::Trust);
        let _ = (p.payload(), p.verify_checksum(src, dst));
    }
    if let Ok(p) = TcpPacket::new_checked(b) {
        let _ = TcpRepr::parse(&p, src, dst, ChecksumMode::Trust);
        let _ = (p.payload(), p.segment_len(), p.verify_checksum(src, dst));
        for o in p.option_iter() {
            let _ = o;
        }
    }
}

proptest! {
    // Failures print their minimal input; there is no lib.rs beside an integration test for
    // proptest's regression files.
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(b in bytes()) {
        parse_everything(&b);
    }

    /// Valid-looking headers with random contents reach deeper than pure noise does.
    #[test]
    fn random_headers_never_panic(mut b in bytes(), ihl in 0u8..16, off in 0u8..16) {
        if let Some(x) = b.first_mut() { *x = 0x40 | ihl; }
        parse_everything(&b);
        if b.len() > 12 { b[12] = off << 4; }
        parse_everything(&b);
    }

    #[test]
    fn ethernet_round_trips(src in mac(), dst in mac(), tag in proptest::option::of((0u8..8, any::<bool>(), 0u16..4096)), t in any::<u16>(), payload in bytes()) {
        let ethertype = EtherType::from(t);
        prop_assume!(ethertype != EtherType::Vlan || tag.is_some());
        let repr = EthernetRepr { src_addr: src, dst_addr: dst, vlan: tag.map(|(pcp, dei, vid)| VlanTag { pcp, dei, vid }), ethertype };
        let mut b = vec![0u8; repr.buffer_len() + payload.len()];
        let mut f = EthernetFrame::new_unchecked(&mut b[..]);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(&payload);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&f).unwrap(), repr);
        prop_assert_eq!(f.payload(), &payload[..]);
    }

    #[test]
    fn arp_round_trips(op in any::<u16>(), sha in mac(), spa in addr(), tha in mac(), tpa in addr()) {
        let repr = ArpRepr { operation: ArpOperation::from(op), source_hardware_addr: sha, source_protocol_addr: spa, target_hardware_addr: tha, target_protocol_addr: tpa };
        let mut b = [0u8; 28];
        repr.emit(&mut ArpPacket::new_unchecked(&mut b[..]));
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn ipv4_round_trips(src in addr(), dst in addr(), proto in any::<u8>(), ttl in any::<u8>(), tos in any::<u8>(), ident in any::<u16>(),
                        df in any::<bool>(), mf in any::<bool>(), off in 0u16..8192, payload in bytes()) {
        let repr = Ipv4Repr { src_addr: src, dst_addr: dst, protocol: IpProtocol::from(proto), payload_len: payload.len(), ttl, tos, ident, dont_frag: df, more_frags: mf, frag_offset: off * 8 };
        let mut b = vec![0u8; 20 + payload.len()];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        repr.emit(&mut p);
        p.payload_mut().copy_from_slice(&payload);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), repr);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn icmp_round_trips(kind in 0u8..6, a in any::<u16>(), b in any::<u16>(), code in any::<u8>(), t in any::<u8>(), rest in any::<u32>(), data in bytes()) {
        let repr = match kind {
            0 => Icmpv4Repr::EchoRequest { ident: a, seq_no: b, data: &data },
            1 => Icmpv4Repr::EchoReply { ident: a, seq_no: b, data: &data },
            2 => Icmpv4Repr::DstUnreachable { code, next_hop_mtu: b, data: &data },
            3 => Icmpv4Repr::TimeExceeded { code, data: &data },
            4 => Icmpv4Repr::ParamProblem { code, pointer: t, data: &data },
            // Other types whose layout we know would parse as those; keep the rest.
            _ => {
                prop_assume!(![0, 3, 8, 11, 12].contains(&t));
                Icmpv4Repr::Other { msg_type: t, code, rest_of_header: rest, data: &data }
            }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), repr);
    }

    #[test]
    fn udp_round_trips(sp in any::<u16>(), dp in 1u16.., src in addr(), dst in addr(), payload in bytes()) {
        let repr = UdpRepr { src_port: sp, dst_port: dp };
        let mut b = vec![0u8; 8 + payload.len()];
        repr.emit(&mut UdpPacket::new_unchecked(&mut b[..]), src, dst, payload.len(), Some(&payload));
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        prop_assert_eq!(UdpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap(), repr);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn tcp_round_trips(sp in 1u16.., dp in 1u16.., flags in 0u16..0x1000, seq in any::<u32>(), ack in any::<u32>(), win in any::<u16>(), urg in any::<u16>(),
                       mss in proptest::option::of(any::<u16>()), ws in proptest::option::of(0u8..15), sack_ok in any::<bool>(),
                       ts in proptest::option::of((any::<u32>(), any::<u32>())),
                       blocks in proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=MAX_SACK_BLOCKS),
                       unknown in proptest::collection::vec((9u8..=255, proptest::collection::vec(any::<u8>(), 0..6)), 0..=MAX_UNKNOWN_OPTIONS),
                       src in addr(), dst in addr(), payload in bytes()) {
        let mut repr = TcpRepr::new(sp, dp, TcpFlags(flags), SeqNumber(seq), SeqNumber(ack), win);
        repr.urgent_at = urg;
        repr.max_seg_size = mss;
        repr.window_scale = ws;
        repr.sack_permitted = sack_ok;
        repr.timestamp = ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr });
        for (slot, (l, r)) in repr.sack_ranges.iter_mut().zip(&blocks) {
            *slot = Some((SeqNumber(*l), SeqNumber(*r)));
        }
        for (slot, (k, d)) in repr.unknown_options.iter_mut().zip(&unknown) {
            *slot = Some((*k, &d[..]));
        }
        // Only reprs whose options fit in 40 bytes can be emitted: drop unknown options, then
        // SACK blocks, until they do (as a sender must).
        for i in (0..MAX_UNKNOWN_OPTIONS).rev() {
            if repr.options_len() > 40 { repr.unknown_options[i] = None; }
        }
        for i in (0..MAX_SACK_BLOCKS).rev() {
            if repr.options_len() > 40 { repr.sack_ranges[i] = None; }
        }
        prop_assert!(repr.options_len() <= 40);
        repr.payload = &payload;
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), src, dst);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        prop_assert_eq!(TcpRepr::parse(&p, src, dst, ChecksumMode::Verify).unwrap(), repr);
    }
}
