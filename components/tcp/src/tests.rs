//! Packet-trace tests of the TCP core.

use netstack_wire::{Ipv4Address, build};

use super::*;

const US: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const PEER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

fn info(src: Ipv4Address, dst: Ipv4Address) -> DatagramInfo {
    DatagramInfo {
        protocol: IpProtocol::Tcp,
        src_addr: src,
        dst_addr: dst,
        ttl: 64,
        tos: 0,
        dont_frag: true,
        segment_size: 0,
    }
}

fn segment(repr: &TcpRepr<'_>) -> Vec<u8> {
    build::tcp(repr, PEER, US)
}

fn replies(layer: &mut TcpLayer, seg: &[u8]) -> Vec<(DatagramInfo, Vec<u8>)> {
    let mut out = Output::default();
    layer.receive(0, [(&info(PEER, US), seg)], &mut out);
    out.to_ipv4.iter().map(|(i, p)| (*i, p.to_vec())).collect()
}

#[test]
fn syn_to_closed_port_gets_rst_ack() {
    let mut l = TcpLayer::new();
    let mut syn = TcpRepr::new(
        40000,
        80,
        TcpFlags::SYN,
        SeqNumber(1000),
        SeqNumber(0),
        64240,
    );
    syn.max_seg_size = Some(1460);
    let r = replies(&mut l, &segment(&syn));
    assert_eq!(r.len(), 1);
    let (i, bytes) = &r[0];
    assert_eq!((i.src_addr, i.dst_addr), (US, PEER));
    let p = TcpPacket::new_checked(&bytes[..]).unwrap();
    let rst = TcpRepr::parse(&p, US, PEER, ChecksumMode::Verify).unwrap();
    assert_eq!(
        rst,
        TcpRepr::new(
            80,
            40000,
            TcpFlags::RST | TcpFlags::ACK,
            SeqNumber(0),
            SeqNumber(1001),
            0
        )
    );
}

#[test]
fn ack_to_closed_port_gets_rst_at_its_ack() {
    let mut l = TcpLayer::new();
    let mut data = TcpRepr::new(
        40000,
        80,
        TcpFlags::ACK | TcpFlags::PSH,
        SeqNumber(5),
        SeqNumber(777),
        100,
    );
    data.payload = b"hello";
    let r = replies(&mut l, &segment(&data));
    let p = TcpPacket::new_checked(&r[0].1[..]).unwrap();
    let rst = TcpRepr::parse(&p, US, PEER, ChecksumMode::Verify).unwrap();
    assert_eq!(
        rst,
        TcpRepr::new(80, 40000, TcpFlags::RST, SeqNumber(777), SeqNumber(0), 0)
    );
}

#[test]
fn rst_and_bad_segments_are_dropped_and_counted() {
    let mut l = TcpLayer::new();
    let rst = segment(&TcpRepr::new(
        40000,
        80,
        TcpFlags::RST,
        SeqNumber(5),
        SeqNumber(0),
        0,
    ));
    assert!(replies(&mut l, &rst).is_empty());
    let mut bad = segment(&TcpRepr::new(
        40000,
        80,
        TcpFlags::SYN,
        SeqNumber(5),
        SeqNumber(0),
        0,
    ));
    bad[4] ^= 1;
    assert!(replies(&mut l, &bad).is_empty());
    assert!(replies(&mut l, &bad[..10]).is_empty());
    let c = l.counters();
    assert_eq!(
        (c.in_segs, c.in_csum_errors, c.in_errs, c.out_rsts),
        (3, 1, 1, 0)
    );
}

#[test]
fn state_round_trips_and_rejects_other_versions() {
    let mut l = TcpLayer::new();
    let syn = segment(&TcpRepr::new(
        40000,
        80,
        TcpFlags::SYN,
        SeqNumber(5),
        SeqNumber(0),
        0,
    ));
    replies(&mut l, &syn);
    let state = l.export_state();
    let back = TcpLayer::import_state(&state).unwrap();
    assert_eq!(back.counters(), l.counters());
    let mut future = state.clone();
    future[5] = 9;
    assert_eq!(
        TcpLayer::import_state(&future).unwrap_err(),
        StateError::UnsupportedVersion(9)
    );
    assert_eq!(
        TcpLayer::import_state(&state[..state.len() - 1]).unwrap_err(),
        StateError::Invalid
    );
    assert_eq!(
        TcpLayer::import_state(b"NSUDP").unwrap_err(),
        StateError::Invalid
    );
}
