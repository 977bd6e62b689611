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

fn arp_frame(
    op: ArpOperation,
    dst: EthernetAddress,
    sha: EthernetAddress,
    spa: Ipv4Address,
    tha: EthernetAddress,
    tpa: Ipv4Address,
) -> Vec<u8> {
    let arp = ArpRepr {
        operation: op,
        source_hardware_addr: sha,
        source_protocol_addr: spa,
        target_hardware_addr: tha,
        target_protocol_addr: tpa,
    };
    build::arp_frame(dst, &arp)
}

#[test]
fn answers_arp_request_for_our_address_and_learns_the_sender() {
    let mut l = layer();
    let mut out = Output::default();
    let req = arp_frame(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        PEER_MAC,
        PEER,
        EthernetAddress([0; 6]),
        OURS,
    );
    l.receive(0, [&req[..]], &mut out);
    let expected = arp_frame(ArpOperation::Reply, PEER_MAC, OUR_MAC, OURS, PEER_MAC, PEER);
    assert_eq!(out.to_wire.iter().collect::<Vec<_>>(), [&expected[..]]);
    assert_eq!(
        l.neighbours().next(),
        Some((
            PEER,
            &Neighbour {
                mac: PEER_MAC,
                state: NeighbourState::Reachable
            }
        ))
    );
    assert_eq!(l.counters().arp_replies_sent, 1);
}

#[test]
fn ignores_arp_for_other_addresses() {
    let mut l = layer();
    let mut out = Output::default();
    let req = arp_frame(
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
        l.neighbours().count(),
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
    l.receive(
        0,
        [&ip[..], &other[..], &ipv6[..], &tagged[..], &ip[..5]],
        &mut out,
    );
    assert_eq!(out.to_ipv4.iter().collect::<Vec<_>>(), [&ip[14..]]);
    let c = l.counters();
    assert_eq!(
        (
            c.rx_frames,
            c.rx_ipv4,
            c.rx_drop_other_host,
            c.rx_drop_unknown_ethertype,
            c.rx_drop_vlan,
            c.rx_drop_truncated
        ),
        (5, 1, 1, 1, 1, 1)
    );
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
    let expected = arp_frame(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        OUR_MAC,
        OURS,
        EthernetAddress([0; 6]),
        Ipv4Address::new(10, 0, 2, 3),
    );
    assert_eq!(frames[1], &expected[..]);
    assert_eq!(l.counters().tx_drop_unresolved, 1);
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
    let garp = arp_frame(
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
