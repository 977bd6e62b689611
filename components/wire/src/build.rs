//! Whole packets into fresh buffers, for tests and for code that builds one packet at a time
//! (the hot paths emit in place into a [`crate::Batch`] instead).

use alloc::vec;
use alloc::vec::Vec;

use crate::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use crate::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame, EthernetRepr,
    IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

/// An Ethernet frame: `repr`'s header, then `payload`.
pub fn ethernet(repr: &EthernetRepr, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; repr.buffer_len() + payload.len()];
    let mut f = EthernetFrame::new_unchecked(&mut b[..]);
    repr.emit(&mut f);
    f.payload_mut().copy_from_slice(payload);
    b
}

/// An untagged Ethernet frame carrying an ARP packet, from its sender's hardware address to `dst`.
pub fn arp_frame(dst: EthernetAddress, arp: &ArpRepr) -> Vec<u8> {
    let mut packet = [0u8; crate::arp::ETHERNET_IPV4_LEN];
    arp.emit(&mut ArpPacket::new_unchecked(&mut packet[..]));
    let eth = EthernetRepr {
        src_addr: arp.source_hardware_addr,
        dst_addr: dst,
        vlan: None,
        ethertype: EtherType::Arp,
    };
    ethernet(&eth, &packet)
}

/// [`arp_frame`] from the ARP fields in wire order: operation, sender and target addresses.
pub fn arp(
    operation: ArpOperation,
    dst: EthernetAddress,
    sha: EthernetAddress,
    spa: Ipv4Address,
    tha: EthernetAddress,
    tpa: Ipv4Address,
) -> Vec<u8> {
    let repr = ArpRepr {
        operation,
        source_hardware_addr: sha,
        source_protocol_addr: spa,
        target_hardware_addr: tha,
        target_protocol_addr: tpa,
    };
    arp_frame(dst, &repr)
}

/// An IPv4 packet with TTL 64, no options, ident 0 and no flags, around `payload`.
pub fn ipv4(src: Ipv4Address, dst: Ipv4Address, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    ipv4_with(&repr, payload)
}

/// An IPv4 packet with `repr`'s header (its `payload_len` must be `payload.len()`).
///
/// # Panics
/// If `repr.payload_len` is not `payload.len()`.
pub fn ipv4_with(repr: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    assert_eq!(repr.payload_len, payload.len(), "IPv4 payload length");
    let mut b = vec![0u8; repr.buffer_len() + payload.len()];
    let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
    repr.emit(&mut p);
    p.payload_mut().copy_from_slice(payload);
    b
}

/// An ICMPv4 message with its checksum.
pub fn icmpv4(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut b[..]));
    b
}

/// A TCP segment with its checksum for `src` → `dst`.
pub fn tcp(repr: &TcpRepr<'_>, src: Ipv4Address, dst: Ipv4Address) -> Vec<u8> {
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), src, dst);
    b
}

/// A UDP datagram with its checksum for `src` → `dst`.
pub fn udp(repr: &UdpRepr, src: Ipv4Address, dst: Ipv4Address, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; crate::udp::HEADER_LEN + payload.len()];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut b[..]),
        src,
        dst,
        payload.len(),
        Some(payload),
    );
    b
}
