//! Checksum offload, computed for real: insertion on transmit (TXDES1 IP/TCP/UDP_CHKSUM, §3) and
//! verification on receive, reported in RXDES1's PROT and error bits (§4) only after the device
//! has checked them (§7.10: Linux trusts PROT≠0 without error bits).

use netstack_wire::checksum;
use netstack_wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet};

use crate::desc::{rxdes1, txdes1};

/// The IPv4 packet inside an Ethernet frame (after an 802.1Q tag), as an offset and length.
fn ipv4_span(frame: &[u8]) -> Option<(usize, usize)> {
    let f = EthernetFrame::new_checked(frame).ok()?;
    if f.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let at = f.header_len();
    let p = Ipv4Packet::new_checked(&frame[at..]).ok()?;
    Some((at, usize::from(p.total_len())))
}

/// The checksum field's offset within a TCP or UDP header.
fn l4_checksum_offset(protocol: IpProtocol) -> Option<usize> {
    match protocol {
        IpProtocol::Tcp => Some(16),
        IpProtocol::Udp => Some(6),
        _ => None,
    }
}

/// Computes the checksums TXDES1 asks for into `frame`. A frame that is not IPv4, or whose
/// protocol does not match the bit, is sent as it is, as the hardware would.
pub fn insert_tx_checksums(frame: &mut [u8], flags: u32) {
    if flags & (txdes1::IP_CHKSUM | txdes1::TCP_CHKSUM | txdes1::UDP_CHKSUM) == 0 {
        return;
    }
    let Some((at, total)) = ipv4_span(frame) else {
        return;
    };
    let ip = &mut frame[at..at + total];
    let mut p = Ipv4Packet::new_unchecked(&mut *ip);
    if flags & txdes1::IP_CHKSUM != 0 {
        p.fill_checksum();
    }
    let protocol = p.protocol();
    let wanted = match protocol {
        IpProtocol::Tcp => flags & txdes1::TCP_CHKSUM != 0,
        IpProtocol::Udp => flags & txdes1::UDP_CHKSUM != 0,
        _ => false,
    };
    // A fragment's transport header is not all there: no L4 checksum.
    if !wanted || p.more_frags() || p.frag_offset() != 0 {
        return;
    }
    let (src, dst, hlen) = (p.src_addr(), p.dst_addr(), p.header_len());
    let Some(off) = l4_checksum_offset(protocol) else {
        return;
    };
    let l4 = &mut ip[hlen..];
    if l4.len() < off + 2 {
        return;
    }
    // §7.11: the field holds the pseudo-header seed; the device zeroes it and sums from scratch.
    l4[off..off + 2].fill(0);
    let sum =
        checksum::pseudo_header(src, dst, protocol.into(), l4.len() as u32) + checksum::sum(l4);
    let mut c = !checksum::fold(sum);
    if protocol == IpProtocol::Udp && c == 0 {
        c = 0xffff; // RFC 768: a computed zero is sent as all ones.
    }
    l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

/// RXDES1's PROT, DF and checksum error bits for a received frame, verified here.
pub fn rx_checksum_status(frame: &[u8]) -> u32 {
    let Some((at, total)) = ipv4_span(frame) else {
        return 0;
    };
    let ip = &frame[at..at + total];
    let p = Ipv4Packet::new_unchecked(ip);
    let mut status = rxdes1::PROT_IP << rxdes1::PROT_SHIFT;
    if !p.verify_checksum() {
        status |= rxdes1::IP_CHKSUM_ERR;
    }
    let fragment = p.more_frags() || p.frag_offset() != 0;
    if !fragment {
        status |= rxdes1::DF;
    } else {
        return status;
    }
    let protocol = p.protocol();
    let (prot, err) = match protocol {
        IpProtocol::Tcp => (rxdes1::PROT_TCPIP, rxdes1::TCP_CHKSUM_ERR),
        IpProtocol::Udp => (rxdes1::PROT_UDPIP, rxdes1::UDP_CHKSUM_ERR),
        _ => return status,
    };
    status = (status & !(rxdes1::PROT_MASK << rxdes1::PROT_SHIFT)) | (prot << rxdes1::PROT_SHIFT);
    let l4 = p.payload();
    let ok = match protocol {
        // A zero UDP checksum means "none" (RFC 768).
        IpProtocol::Udp if l4.len() >= 8 && l4[6..8] == [0, 0] => true,
        _ => {
            l4.len() >= 8
                && checksum::fold(
                    checksum::pseudo_header(
                        p.src_addr(),
                        p.dst_addr(),
                        protocol.into(),
                        l4.len() as u32,
                    ) + checksum::sum(l4),
                ) == 0xffff
        }
    };
    if !ok {
        status |= err;
    }
    status
}

#[cfg(test)]
mod tests {
    use netstack_wire::{
        EthernetAddress, EthernetRepr, Ipv4Address, SeqNumber, TcpFlags, TcpPacket, TcpRepr,
        UdpRepr, build,
    };

    use super::*;

    const SRC: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
    const DST: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);

    fn frame(ip: &[u8]) -> Vec<u8> {
        let eth = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            vlan: None,
            ethertype: EtherType::Ipv4,
        };
        build::ethernet(&eth, ip)
    }

    fn tcp_frame() -> Vec<u8> {
        let mut seg = TcpRepr::new(
            1000,
            80,
            TcpFlags::ACK | TcpFlags::PSH,
            SeqNumber(1),
            SeqNumber(2),
            512,
        );
        seg.payload = b"offloaded payload";
        frame(&build::ipv4(
            SRC,
            DST,
            IpProtocol::Tcp,
            &build::tcp(&seg, SRC, DST),
        ))
    }

    #[test]
    fn tx_offload_matches_an_independent_checksum() {
        let good = tcp_frame();
        // What a stack using offload hands the NIC: IP checksum zero, TCP field = pseudo-header seed.
        let mut partial = good.clone();
        partial[24..26].fill(0);
        let seg_len = (partial.len() - 34) as u32;
        let seed = checksum::fold(checksum::pseudo_header(SRC, DST, 6, seg_len));
        partial[34 + 16..34 + 18].copy_from_slice(&seed.to_be_bytes());
        insert_tx_checksums(&mut partial, txdes1::IP_CHKSUM | txdes1::TCP_CHKSUM);
        assert_eq!(partial, good);
        // The independent check: the wire crate's verifier agrees.
        let ip = Ipv4Packet::new_checked(&partial[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(
            TcpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum(SRC, DST)
        );
    }

    #[test]
    fn rx_status_reports_verified_checksums() {
        let good = tcp_frame();
        let prot = |s: u32| (s >> rxdes1::PROT_SHIFT) & rxdes1::PROT_MASK;
        let s = rx_checksum_status(&good);
        assert_eq!(
            (prot(s), s & rxdes1::CHKSUM_ERRORS, s & rxdes1::DF),
            (rxdes1::PROT_TCPIP, 0, rxdes1::DF)
        );

        let mut bad_tcp = good.clone();
        *bad_tcp.last_mut().unwrap() ^= 1;
        assert_eq!(
            rx_checksum_status(&bad_tcp) & rxdes1::CHKSUM_ERRORS,
            rxdes1::TCP_CHKSUM_ERR
        );

        let mut bad_ip = good.clone();
        bad_ip[14 + 8] ^= 1; // TTL
        assert_eq!(
            rx_checksum_status(&bad_ip) & rxdes1::IP_CHKSUM_ERR,
            rxdes1::IP_CHKSUM_ERR
        );

        let udp = frame(&build::ipv4(
            SRC,
            DST,
            IpProtocol::Udp,
            &build::udp(
                &UdpRepr {
                    src_port: 1,
                    dst_port: 2,
                },
                SRC,
                DST,
                b"x",
            ),
        ));
        assert_eq!(prot(rx_checksum_status(&udp)), rxdes1::PROT_UDPIP);
        let arp_like = [0u8; 60];
        assert_eq!(
            rx_checksum_status(&arp_like),
            0,
            "not IP: PROT 0, nothing claimed"
        );
    }
}
