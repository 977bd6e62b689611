//! Packet-trace tests of the TCP core.

use std::collections::HashMap;

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
    let mut l = TcpLayer::default();
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
    let mut l = TcpLayer::default();
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
    let mut l = TcpLayer::default();
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
    let mut l = TcpLayer::default();
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

#[test]
fn sockets_list_and_export_in_handle_order_whatever_the_table_holds() {
    // The socket table is hashed: its order is not the handles'. Listings and the state
    // follow the handles, so the same sockets always export the same bytes.
    let mut l = TcpLayer::default();
    let ids: Vec<_> = (0..300).map(|_| l.create().unwrap()).collect();
    for &id in ids.iter().step_by(3) {
        l.close(id).unwrap();
    }
    let left: Vec<_> = ids
        .iter()
        .copied()
        .filter(|id| (id - ids[0]) % 3 != 0)
        .collect();
    assert_eq!(l.socket_ids().collect::<Vec<_>>(), left);
    let back = swapped(&l);
    assert_eq!(back.socket_ids().collect::<Vec<_>>(), left);
}

#[test]
fn state_version_1_still_imports() {
    // Version 1: magic, version, counter count, then the counters in declaration order.
    let mut v1 = b"NSTCP".to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&2u32.to_le_bytes());
    v1.extend_from_slice(&7u64.to_le_bytes());
    v1.extend_from_slice(&3u64.to_le_bytes());
    let l = TcpLayer::import_state(&v1).unwrap();
    assert_eq!((l.counters().in_segs, l.counters().in_csum_errors), (7, 3));
    assert_eq!(l.socket_ids().count(), 0);
}

/// Exports and imports a layer, checking that nothing was left behind: the imported layer
/// exports the very same bytes.
fn swapped(layer: &TcpLayer) -> TcpLayer {
    let state = layer.export_state();
    let back = TcpLayer::import_state(&state).unwrap();
    assert_eq!(
        back.export_state(),
        state,
        "the import lost or changed something"
    );
    back
}

#[test]
fn a_transfer_survives_export_and_import_at_both_ends_mid_flight() {
    let mut h = Hosts::new();
    let server = h.b.create().unwrap();
    h.b.bind(server, (US, 80)).unwrap();
    h.b.listen(server, 4).unwrap();
    let client = h.a.create().unwrap();
    h.a.connect(0, client, PEER, (US, 80)).unwrap();
    // A second connection stays in the accept queue across the swap.
    let waiting = h.a.create().unwrap();
    h.a.connect(0, waiting, PEER, (US, 80)).unwrap();
    h.settle();
    let (conn, _) = h.b.accept(server).unwrap();

    let data: Vec<u8> = pattern(300_000);
    assert_eq!(h.a.send(client, &data).unwrap(), data.len());
    // The first flight is lost on the wire: the hole, the retransmission timer and the
    // congestion state all travel in the exported state.
    let mut lost = Output::default();
    h.a.poll(h.now, &mut lost);
    assert!(!lost.to_ipv4.is_empty());
    let deadline = lost.deadline.expect("the retransmission timer runs");

    h.a = swapped(&h.a);
    h.b = swapped(&h.b);

    let got = h.read_exactly(conn, data.len(), deadline);
    assert!(got == data, "the bytes differ");
    assert!(
        h.b.accept(server).is_ok(),
        "the queued connection survived too"
    );
    assert_eq!(h.a.socket_info(client).unwrap().state, "ESTABLISHED");
}

/// Two layers, a host each, joined by a pipe that swaps source and destination.
struct Hosts {
    a: TcpLayer,
    b: TcpLayer,
    now: Instant,
    events: Vec<(char, SocketId, Readiness)>,
}

impl Hosts {
    fn new() -> Hosts {
        let cfg = |seed| LayerConfig {
            isn_secret: (seed, seed),
            port_seed: seed,
            ..LayerConfig::default()
        };
        Hosts {
            a: TcpLayer::new(cfg(1)),
            b: TcpLayer::new(cfg(2)),
            now: 0,
            events: Vec::new(),
        }
    }

    /// [`Self::new`], with a's layer sending GSO super-segments (of up to 64 KiB).
    fn with_gso_on_a() -> Hosts {
        let mut h = Hosts::new();
        h.a = TcpLayer::new(LayerConfig {
            isn_secret: (1, 1),
            port_seed: 1,
            gso_max: 65535,
            ..LayerConfig::default()
        });
        h
    }

    /// Runs both layers until nothing is in flight.
    fn settle(&mut self) {
        let mut out_a = Output::default();
        let mut out_b = Output::default();
        self.a.poll(self.now, &mut out_a);
        self.b.poll(self.now, &mut out_b);
        for _ in 0..1000 {
            self.events
                .extend(out_a.events.drain(..).map(|(s, r)| ('a', s, r)));
            self.events
                .extend(out_b.events.drain(..).map(|(s, r)| ('b', s, r)));
            if out_a.to_ipv4.is_empty() && out_b.to_ipv4.is_empty() {
                return;
            }
            let (to_b, to_a) = (
                std::mem::take(&mut out_a.to_ipv4),
                std::mem::take(&mut out_b.to_ipv4),
            );
            self.now += 1_000_000;
            self.b.receive(self.now, to_b.iter(), &mut out_b);
            self.a.receive(self.now, to_a.iter(), &mut out_a);
        }
        panic!("never settled");
    }

    /// A listener on b's port 80 (backlog 4), a connection to it from a, accepted: (listener,
    /// a's socket, b's socket).
    fn connected(&mut self) -> (SocketId, SocketId, SocketId) {
        let server = self.b.create().unwrap();
        self.b.bind(server, (US, 80)).unwrap();
        self.b.listen(server, 4).unwrap();
        let client = self.a.create().unwrap();
        self.a.connect(self.now, client, PEER, (US, 80)).unwrap();
        self.settle();
        let (conn, _) = self.b.accept(server).unwrap();
        (server, client, conn)
    }

    /// Reads `len` bytes from b's `conn`, the clock moving on 1 ms a step (from `wake` on, at
    /// the least) so that the timers repair what the wire lost.
    fn read_exactly(&mut self, conn: SocketId, len: usize, wake: Instant) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < len {
            assert!(self.now < 60_000_000_000, "stalled at {} bytes", got.len());
            self.now = self.now.max(wake) + 1_000_000;
            self.settle();
            while let Ok(chunk) = self.b.recv(conn, 1 << 20) {
                got.extend_from_slice(&chunk);
            }
        }
        got
    }
}

/// `len` bytes of a pattern that shows a misplaced block.
fn pattern(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn listen_accept_connect_transfer_and_close() {
    let mut h = Hosts::new();
    let server = h.b.create().unwrap();
    h.b.bind(server, (US, 80)).unwrap();
    h.b.listen(server, 8).unwrap();
    let client = h.a.create().unwrap();
    h.a.connect(0, client, PEER, (US, 80)).unwrap();
    h.settle();
    let (conn, from) = h.b.accept(server).unwrap();
    assert_eq!(from.0, PEER);
    assert!((32768..=60999).contains(&from.1), "an ephemeral port");
    assert!(
        h.events
            .iter()
            .any(|&(w, s, r)| w == 'a' && s == client && r.connected && r.writable)
    );
    assert!(
        h.events
            .iter()
            .any(|&(w, s, r)| w == 'b' && s == server && r.acceptable)
    );
    assert_eq!(h.b.accept(server), Err(SocketError::WouldBlock));

    h.a.send(client, b"hello over tcp").unwrap();
    h.settle();
    assert_eq!(h.b.recv(conn, 100).unwrap(), b"hello over tcp");
    assert_eq!(h.b.recv(conn, 100), Err(SocketError::WouldBlock));

    h.a.close(client).unwrap();
    h.settle();
    assert_eq!(h.b.recv(conn, 100).unwrap(), b"", "end of stream");
    h.b.close(conn).unwrap();
    h.settle();
    // The server's side is gone; the client's lingers in TIME-WAIT as an orphan, then goes.
    assert_eq!(h.b.socket_ids().collect::<Vec<_>>(), [server]);
    assert_eq!(h.a.socket_info(client).unwrap().state, "TIME-WAIT");
    h.now += 61_000_000_000;
    h.settle();
    assert!(h.a.socket_info(client).is_none());
    let c = h.a.counters();
    assert_eq!((c.active_opens, h.b.counters().passive_opens), (1, 1));
}

#[test]
fn ports_and_states_are_checked() {
    let mut h = Hosts::new();
    let s1 = h.b.create().unwrap();
    h.b.bind(s1, (US, 80)).unwrap();
    let s2 = h.b.create().unwrap();
    assert_eq!(h.b.bind(s2, (US, 80)), Err(SocketError::AddressInUse));
    assert_eq!(
        h.b.listen(s2, 1),
        Err(SocketError::InvalidState),
        "listen before bind"
    );
    assert_eq!(
        h.b.send(s1, b"x"),
        Err(SocketError::InvalidState),
        "send before connect"
    );
    assert_eq!(h.b.recv(999, 1), Err(SocketError::BadHandle));
    let s3 = h.a.create().unwrap();
    assert_eq!(
        h.a.connect(0, s3, PEER, (US, 0)),
        Err(SocketError::InvalidArgument)
    );
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let mut h = Hosts::new();
    let client = h.a.create().unwrap();
    h.a.connect(0, client, PEER, (US, 81)).unwrap();
    h.settle();
    assert_eq!(
        h.a.recv(client, 10),
        Err(SocketError::Connection(ConnError::Refused))
    );
    assert!(
        h.events
            .iter()
            .any(|&(w, s, r)| w == 'a' && s == client && r.closed)
    );
}

#[test]
fn a_full_accept_queue_drops_the_handshake_until_accept_makes_room() {
    let mut h = Hosts::new();
    let server = h.b.create().unwrap();
    h.b.bind(server, (US, 80)).unwrap();
    h.b.listen(server, 1).unwrap();
    let c1 = h.a.create().unwrap();
    let c2 = h.a.create().unwrap();
    h.a.connect(0, c1, PEER, (US, 80)).unwrap();
    h.a.connect(0, c2, PEER, (US, 80)).unwrap();
    h.settle();
    // c1 filled the SYN queue, so c2 was answered with a cookie; c1 then filled the accept
    // queue, so c2's ACK was dropped. c2 believes it is connected, as with Linux.
    let c = h.b.counters();
    assert_eq!((c.syncookies_sent, c.listen_overflows), (1, 1));
    assert_eq!(h.a.socket_info(c2).unwrap().state, "ESTABLISHED");
    assert!(h.b.accept(server).is_ok());
    assert_eq!(h.b.accept(server), Err(SocketError::WouldBlock));
    // c2's data carries the cookie again, and now there is room.
    h.a.send(c2, b"late").unwrap();
    h.settle();
    let (conn, _) = h.b.accept(server).unwrap();
    assert_eq!(h.b.recv(conn, 10).unwrap(), b"late");
    assert_eq!(h.b.counters().syncookies_recv, 1);
}

#[test]
fn options_set_on_a_listener_pass_to_its_connections() {
    use crate::options::SocketOption;
    let mut h = Hosts::new();
    let server = h.b.create().unwrap();
    h.b.set_option(server, SocketOption::HopLimit(7)).unwrap();
    h.b.set_option(server, SocketOption::NoDelay(true)).unwrap();
    h.b.bind(server, (US, 80)).unwrap();
    h.b.listen(server, 4).unwrap();
    let client = h.a.create().unwrap();
    h.a.connect(0, client, PEER, (US, 80)).unwrap();
    h.settle();
    let (conn, _) = h.b.accept(server).unwrap();
    h.b.send(conn, b"x").unwrap();
    let mut out = Output::default();
    h.b.poll(h.now, &mut out);
    let (info, _) = out.to_ipv4.iter().next().expect("the segment");
    assert_eq!(info.ttl, 7, "the listener's hop limit");
    let c = h.b.socket_info(conn).unwrap().conn.unwrap();
    assert!(!c.config().nagle);

    // A live connection's receive buffer may grow, not shrink (the window is out).
    let grow = SocketOption::ReceiveBufferSize(4 << 20);
    let shrink = SocketOption::ReceiveBufferSize(4096);
    assert_eq!(h.b.set_option(conn, grow), Ok(()));
    assert_eq!(h.b.set_option(conn, shrink), Err(SocketError::InvalidState));
    assert_eq!(
        h.b.set_option(999, SocketOption::NoDelay(true)),
        Err(SocketError::BadHandle)
    );
    assert_eq!(
        h.b.set_option(conn, SocketOption::HopLimit(0)),
        Err(SocketError::InvalidArgument)
    );
}

/// A SYN from port `port`: MSS 1460, window scale 7, SACK, and a timestamp if `ts`.
fn syn_from(port: u16, isn: u32, ts: bool) -> Vec<u8> {
    let mut syn = TcpRepr::new(port, 80, TcpFlags::SYN, SeqNumber(isn), SeqNumber(0), 64240);
    syn.max_seg_size = Some(1460);
    syn.window_scale = Some(7);
    syn.sack_permitted = true;
    syn.timestamp = ts.then_some(netstack_wire::TcpTimestamp {
        tsval: 500,
        tsecr: 0,
    });
    segment(&syn)
}

/// The one segment a step answered with: (flags, seq, window scale, SACK-permitted, TSval).
fn the_reply(
    r: &[(DatagramInfo, Vec<u8>)],
) -> (TcpFlags, SeqNumber, Option<u8>, bool, Option<u32>) {
    assert_eq!(r.len(), 1, "one reply");
    let p = TcpPacket::new_checked(&r[0].1[..]).unwrap();
    let s = TcpRepr::parse(&p, US, PEER, ChecksumMode::Verify).unwrap();
    let ts = s.timestamp.map(|t| t.tsval);
    (s.flags, s.seq_number, s.window_scale, s.sack_permitted, ts)
}

/// The peer's ACK completing the handshake of `port`, with `data`.
fn handshake_ack(
    port: u16,
    isn: u32,
    cookie: SeqNumber,
    tsecr: Option<u32>,
    data: &[u8],
) -> Vec<u8> {
    let mut ack = TcpRepr::new(
        port,
        80,
        TcpFlags::ACK | TcpFlags::PSH,
        SeqNumber(isn + 1),
        cookie + 1,
        502,
    );
    ack.timestamp = tsecr.map(|tsecr| netstack_wire::TcpTimestamp { tsval: 501, tsecr });
    ack.payload = data;
    segment(&ack)
}

#[test]
fn a_syn_flood_is_answered_with_cookies_and_a_cookie_makes_a_connection() {
    let mut l = TcpLayer::new(LayerConfig {
        isn_secret: (3, 4),
        ..LayerConfig::default()
    });
    let server = l.create().unwrap();
    l.bind(server, (US, 80)).unwrap();
    l.listen(server, 4).unwrap();
    // Four SYNs fill the SYN queue: a connection each.
    for port in 1000..1004 {
        let (flags, ..) = the_reply(&replies(&mut l, &syn_from(port, 7, true)));
        assert_eq!(flags, TcpFlags::SYN | TcpFlags::ACK);
    }
    assert_eq!(l.socket_ids().count(), 5);
    // A flood: every SYN is answered, nothing is kept.
    let mut answers = HashMap::new();
    for port in 2000..2100 {
        let (flags, iss, ws, sack, ts) = the_reply(&replies(&mut l, &syn_from(port, 7, true)));
        assert_eq!(flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!((ws, sack), (Some(7), true), "options offered back");
        answers.insert(port, (iss, ts.unwrap()));
    }
    assert_eq!(l.socket_ids().count(), 5, "no state for the flood");
    assert_eq!(l.counters().syncookies_sent, 100);

    // One flooder was real: its ACK (with data) brings the state back.
    let (cookie, tsval) = answers[&2050];
    let ack = the_reply(&replies(
        &mut l,
        &handshake_ack(2050, 7, cookie, Some(tsval), b"GET"),
    ));
    assert_eq!(
        (ack.0, ack.1),
        (TcpFlags::ACK, cookie + 1),
        "the data acknowledged at once"
    );
    let (conn, from) = l.accept(server).unwrap();
    assert_eq!(from, (PEER, 2050));
    assert_eq!(l.recv(conn, 10).unwrap(), b"GET");
    let c = l.socket_info(conn).unwrap().conn.unwrap();
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        c.options(),
        (Some((7, 7)), true),
        "window scale and timestamps"
    );
    assert!(c.sack());
    assert_eq!(c.send_mss(), 1460);
    assert_eq!(l.counters().syncookies_recv, 1);
    // It answers like any connection: its ACK carries on from the cookie.
    let mut out = Output::default();
    l.send(conn, b"200 OK").unwrap();
    l.poll(0, &mut out);
    let (_, bytes) = out.to_ipv4.iter().next().unwrap();
    let p = TcpPacket::new_checked(bytes).unwrap();
    let reply = TcpRepr::parse(&p, US, PEER, ChecksumMode::Verify).unwrap();
    assert_eq!(
        (reply.seq_number, reply.ack_number),
        (cookie + 1, SeqNumber(7 + 1 + 3))
    );
    assert_eq!(reply.payload, b"200 OK");
    assert!(
        reply.timestamp.unwrap().tsval.wrapping_sub(tsval) < 1 << 31,
        "TSval never goes back"
    );

    // A forged cookie, another ISN, or an expired cookie: the LISTEN state's RST.
    let (cookie, tsval) = answers[&2051];
    let forged = handshake_ack(2051, 7, cookie + 1, Some(tsval), b"");
    assert_eq!(the_reply(&replies(&mut l, &forged)).0, TcpFlags::RST);
    let wrong_isn = handshake_ack(2051, 8, cookie, Some(tsval), b"");
    assert_eq!(the_reply(&replies(&mut l, &wrong_isn)).0, TcpFlags::RST);
    let late = handshake_ack(2051, 7, cookie, Some(tsval), b"");
    let mut out = Output::default();
    l.receive(
        2 * syncookie::TICK_NS,
        [(&info(PEER, US), &late[..])],
        &mut out,
    );
    assert_eq!(out.to_ipv4.len(), 1, "a RST");
    assert_eq!(l.counters().syncookies_failed, 3);
    assert_eq!(l.accept(server), Err(SocketError::WouldBlock));

    // A listener that has not overflowed takes no cookie, not even a valid one (one made by
    // a layer with the same secret): a stray ACK draws the RST and is no failed cookie.
    let mut calm = TcpLayer::new(LayerConfig {
        isn_secret: (3, 4),
        ..LayerConfig::default()
    });
    let listener = calm.create().unwrap();
    calm.bind(listener, (US, 80)).unwrap();
    calm.listen(listener, 4).unwrap();
    let (cookie, tsval) = answers[&2052];
    let valid = handshake_ack(2052, 7, cookie, Some(tsval), b"");
    assert_eq!(the_reply(&replies(&mut calm, &valid)).0, TcpFlags::RST);
    assert_eq!(calm.accept(listener), Err(SocketError::WouldBlock));
    assert_eq!(
        (
            calm.counters().syncookies_recv,
            calm.counters().syncookies_failed
        ),
        (0, 0)
    );
    // The flooded one takes it.
    replies(&mut l, &valid);
    assert!(l.accept(server).is_ok());
}

#[test]
fn without_timestamps_a_cookie_offers_no_window_scale_or_sack() {
    let mut l = TcpLayer::default();
    let server = l.create().unwrap();
    l.bind(server, (US, 80)).unwrap();
    l.listen(server, 1).unwrap();
    replies(&mut l, &syn_from(1000, 7, true));
    let (_, cookie, ws, sack, ts) = the_reply(&replies(&mut l, &syn_from(1001, 9, false)));
    assert_eq!((ws, sack, ts), (None, false, None));
    replies(&mut l, &handshake_ack(1001, 9, cookie, None, b""));
    let (conn, _) = l.accept(server).unwrap();
    let c = l.socket_info(conn).unwrap().conn.unwrap();
    assert_eq!((c.options(), c.sack()), ((None, false), false));
}

/// The states a build that wrote version 2 exported (commit 93a4236), both ends of a transfer
/// whose first flight (30 000 bytes) was lost on the wire, with a second connection waiting
/// in the accept queue. A build must go on from what the one before it exported.
#[test]
fn state_version_2_still_imports_and_the_transfer_completes() {
    carried_on(
        include_bytes!("testdata/state-v2-client.bin"),
        include_bytes!("testdata/state-v2-server.bin"),
        (3_000_000, 1_003_000_000),
    );
}

/// Two layers imported from `client` and `server` (a flight of 30 000 bytes lost at
/// `times.0`, a second connection in the accept queue), run until the retransmission (due at
/// `times.1`) has delivered the flight byte-exact.
fn carried_on(client: &[u8], server: &[u8], times: (Instant, Instant)) -> Hosts {
    let mut h = Hosts::new();
    h.a = TcpLayer::import_state(client).unwrap();
    h.b = TcpLayer::import_state(server).unwrap();
    let (client, server, conn) = (1, 1, 2);
    let data: Vec<u8> = pattern(30_000);
    assert_eq!(h.a.socket_info(client).unwrap().send_queue, data.len());
    h.now = times.0;
    let got = h.read_exactly(conn, data.len(), times.1);
    assert!(got == data, "the bytes differ");
    assert!(h.b.accept(server).is_ok(), "the queued connection");
    h
}

/// The same from the last build that wrote version 3 (commit da8fca2): its 30 000 bytes are
/// stored in the client's send buffer (this build's host would hold them).
#[test]
fn state_version_3_still_imports_and_the_transfer_completes() {
    let mut h = carried_on(
        include_bytes!("testdata/state-v3-client.bin"),
        include_bytes!("testdata/state-v3-server.bin"),
        (6_000_000, 1_006_000_000),
    );
    // Bytes its own, then the host's: `send` is refused after `wrote`, not before.
    let client = 1;
    h.a.send(client, b"own").unwrap();
    h.a.wrote(client, 5).unwrap();
    assert_eq!(h.a.send(client, b"x"), Err(SocketError::InvalidState));
}

#[test]
fn data_after_a_would_block_is_reported_even_if_readable_was_the_last_report() {
    let mut h = Hosts::new();
    let (server, client, conn) = h.connected();
    h.a.send(client, b"one").unwrap();
    h.settle();
    let readable = |h: &Hosts| {
        h.events
            .iter()
            .filter(|&&(w, s, r)| w == 'b' && s == conn && r.readable)
            .count()
    };
    assert_eq!(readable(&h), 1);
    // The application drains the socket and asks again, before any report says "not
    // readable"; then more data comes, in the same turn as the report.
    assert_eq!(h.b.recv(conn, 10).unwrap(), b"one");
    assert_eq!(h.b.recv(conn, 10), Err(SocketError::WouldBlock));
    h.a.send(client, b"two").unwrap();
    let mut from_a = Output::default();
    h.a.poll(h.now, &mut from_a);
    let mut out = Output::default();
    h.b.receive(h.now, from_a.to_ipv4.iter(), &mut out);
    h.events
        .extend(out.events.iter().map(|&(s, r)| ('b', s, r)));
    assert_eq!(readable(&h), 2, "the waiter is woken");
    assert_eq!(h.b.recv(conn, 10).unwrap(), b"two");
    // The same for accept.
    assert_eq!(h.b.accept(server), Err(SocketError::WouldBlock));
}

#[test]
fn a_read_that_drains_the_socket_rearms_readable_so_the_fin_behind_the_data_is_reported() {
    let mut h = Hosts::new();
    let (_, client, conn) = h.connected();
    // The data and the FIN arrive together: readable was reported once.
    h.a.send(client, b"last words").unwrap();
    h.a.close(client).unwrap();
    h.settle();
    let readable = |h: &Hosts| {
        (h.events.iter())
            .filter(|&&(w, s, r)| w == 'b' && s == conn && r.readable)
            .count()
    };
    assert_eq!(readable(&h), 1);
    // A reader that got less than it asked for stops there...
    assert_eq!(h.b.recv(conn, 100).unwrap(), b"last words");
    h.settle();
    // ...and is told again: the end of the stream is there to read.
    assert_eq!(readable(&h), 2);
    assert_eq!(h.b.recv(conn, 100).unwrap(), b"", "the end of the stream");
    // Reading the end of the stream wakes no one again.
    h.settle();
    assert_eq!(readable(&h), 2);
}

#[test]
fn with_gso_a_flight_leaves_as_super_segments_that_the_peer_takes_whole() {
    let mut h = Hosts::with_gso_on_a();
    let (_, client, conn) = h.connected();
    let data: Vec<u8> = pattern(100_000);
    h.a.send(client, &data).unwrap();
    // The initial window (10 segments) goes as one super-segment of 1448-byte segments.
    let mut flight = Output::default();
    h.a.poll(h.now, &mut flight);
    let (info, bytes) = flight.to_ipv4.iter().next().unwrap();
    assert_eq!(flight.to_ipv4.len(), 1);
    assert_eq!(
        info.segment_size, 1448,
        "segments of the MSS less timestamps"
    );
    let seg = TcpPacket::new_checked(bytes).unwrap();
    assert_eq!(seg.payload().len(), 10 * 1448);
    assert!(
        !seg.verify_checksum(US, PEER),
        "only the pseudo-header sum (the host completes it)"
    );
    // The peer takes it whole (its segment size says the host checked it), and the rest.
    let mut out = Output::default();
    h.b.receive(h.now, flight.to_ipv4.iter(), &mut out);
    assert_eq!(h.b.recv(conn, usize::MAX).unwrap().len(), 10 * 1448);
    let rest = h.read_exactly(conn, data.len() - 10 * 1448, 0);
    assert!(rest == data[10 * 1448..], "the bytes differ");
    // Without a segment size, the same bytes fail the checksum and are dropped.
    let mut plain = flight.to_ipv4.clone();
    plain.info[0].segment_size = 0;
    let before = h.b.counters().in_csum_errors;
    h.b.receive(h.now, plain.iter(), &mut Output::default());
    assert_eq!(h.b.counters().in_csum_errors, before + 1);
}

#[test]
fn icmp_fragmentation_needed_reaches_its_connection_and_the_rest_is_counted() {
    let mut h = Hosts::new();
    let (_, client, _) = h.connected();
    h.a.send(client, &pattern(10_000)).unwrap();
    let mut flight = Output::default();
    h.a.poll(h.now, &mut flight);
    let (_, first) = flight.to_ipv4.iter().next().unwrap();
    let quoted = &first[..8];
    let mut out = Output::default();
    // Fragmentation needed, quoting our segment: taken, and the resend comes out.
    h.a.icmp_error(h.now, 3, 4, 1280, PEER, US, quoted, &mut out);
    assert!(!out.to_ipv4.is_empty(), "the flight goes again at once");
    let c = h.a.socket_info(client).unwrap().conn.unwrap();
    assert_eq!(c.send_mss(), 1240);
    // Port unreachable (soft), a tuple we do not have, a quote cut short: counted, no harm.
    h.a.icmp_error(h.now, 3, 3, 0, PEER, US, quoted, &mut out);
    h.a.icmp_error(h.now, 3, 4, 1280, PEER, PEER, quoted, &mut out);
    h.a.icmp_error(h.now, 3, 4, 1280, PEER, US, &quoted[..4], &mut out);
    let counters = h.a.counters();
    assert_eq!((counters.icmp_path_mtu, counters.icmp_ignored), (1, 3));
    assert_eq!(h.a.socket_info(client).unwrap().state, "ESTABLISHED");
}

#[test]
fn a_local_port_is_free_again_once_its_last_socket_goes() {
    let mut h = Hosts::new();
    let bind80 = |l: &mut TcpLayer| {
        let s = l.create().unwrap();
        (s, l.bind(s, (US, 80)))
    };
    let (s, r) = bind80(&mut h.b);
    r.unwrap();
    assert_eq!(bind80(&mut h.b).1, Err(SocketError::AddressInUse));
    h.b.close(s).unwrap();
    let (listener, r) = bind80(&mut h.b);
    r.unwrap();
    h.b.listen(listener, 4).unwrap();
    let client = h.a.create().unwrap();
    h.a.connect(0, client, PEER, (US, 80)).unwrap();
    h.settle();
    let (conn, _) = h.b.accept(listener).unwrap();
    // The listener goes; its accepted connection still holds port 80, across a hot swap too
    // (which a listener closed right after an accept, still marked for output, once broke).
    h.b.close(listener).unwrap();
    h.b = swapped(&h.b);
    assert_eq!(bind80(&mut h.b).1, Err(SocketError::AddressInUse));
    // Both sides close; B's end is gone once its FIN is acknowledged, and so is its hold.
    h.a.close(client).unwrap();
    h.settle();
    h.b.close(conn).unwrap();
    h.settle();
    assert!(h.b.socket_info(conn).is_none());
    assert!(bind80(&mut h.b).1.is_ok());
}

/// Byte `o` of the stream a test's host holds for a socket.
fn host_byte(o: u64) -> u8 {
    (o.wrapping_mul(13) + o / 509) as u8
}

/// `out`'s segments with the host's bytes added where held spans name them, as the host does.
fn filled(out: &Output) -> Vec<(DatagramInfo, Vec<u8>)> {
    let mut held = out.held.iter().peekable();
    (out.to_ipv4.iter().enumerate())
        .map(|(i, (info, payload))| {
            let mut bytes = payload.to_vec();
            if let Some(h) = held.next_if(|h| h.index == i) {
                let span = h.span.offset..h.span.offset + h.span.len as u64;
                bytes.extend(span.map(host_byte));
                let mut p = TcpPacket::new_unchecked(&mut bytes[..]);
                p.fill_checksum(info.src_addr, info.dst_addr);
            }
            (*info, bytes)
        })
        .collect()
}

#[test]
fn bytes_the_host_holds_leave_as_spans_of_super_segments_and_are_released() {
    let mut h = Hosts::with_gso_on_a();
    let (_, client, conn) = h.connected();
    let total = 300_000u64;
    assert_eq!(h.a.wrote(client, total as usize).unwrap(), total as usize);
    assert_eq!(
        h.a.send(client, b"x"),
        Err(SocketError::InvalidState),
        "no bytes of the layer's own after held ones"
    );
    let (mut got, mut released, mut spans, mut supers) = (Vec::new(), 0u64, 0, 0);
    // a's output: what it sent on receiving ACKs, then on its poll.
    let mut out = Output::default();
    for _ in 0..10_000 {
        h.a.poll(h.now, &mut out);
        for held in &out.held {
            // A span names its socket and whole MSS-sized pieces of a super-segment.
            assert_eq!(held.socket, client);
            assert!(held.span.offset >= released && held.span.offset < total);
            spans += 1;
            supers += usize::from(out.to_ipv4.info[held.index].segment_size > 0);
            // The checksum field holds the pseudo-header sum for the whole segment: its
            // header, and the host's bytes after it.
            let header = out.to_ipv4.payloads.iter().nth(held.index).unwrap();
            let mut expected = header.to_vec();
            let whole = (header.len() + held.span.len) as u32;
            TcpPacket::new_unchecked(&mut expected[..]).fill_partial_checksum_for(US, PEER, whole);
            assert_eq!(header, &expected[..], "partial checksum of {whole} bytes");
        }
        for r in &out.released {
            assert!(!r.gone && r.socket == client && r.up_to >= released);
            released = r.up_to;
        }
        let segments = filled(&std::mem::take(&mut out));
        h.now += 1_000_000;
        let mut to_a = Output::default();
        h.b.receive(h.now, segments.iter().map(|(i, b)| (i, &b[..])), &mut to_a);
        while let Ok(chunk) = h.b.recv(conn, 1 << 20) {
            got.extend_from_slice(&chunk);
        }
        h.b.poll(h.now, &mut to_a);
        h.a.receive(h.now, to_a.to_ipv4.iter(), &mut out);
        if released == total {
            break;
        }
    }
    assert_eq!(got.len() as u64, total);
    let wrong = (got.iter().enumerate()).position(|(o, &b)| b != host_byte(o as u64));
    assert_eq!(wrong, None, "the first byte that differs");
    assert_eq!(released, total, "every byte acknowledged and released");
    assert!(
        spans < 100 && supers * 2 > spans,
        "{spans} spans, {supers} of super-segments (GSO on): not one per segment"
    );

    // Closed, the connection goes, and its stream with it.
    h.a.close(client).unwrap();
    h.b.close(conn).unwrap();
    let mut gone = false;
    for _ in 0..100 {
        h.now += 1_000_000_000;
        h.a.poll(h.now, &mut out);
        gone |= out.released.iter().any(|r| r.socket == client && r.gone);
        let mut to_a = Output::default();
        h.b.receive(h.now, out.to_ipv4.iter(), &mut to_a);
        h.b.poll(h.now, &mut to_a);
        out = Output::default();
        h.a.receive(h.now, to_a.to_ipv4.iter(), &mut out);
    }
    assert!(gone, "the gone connection's stream is released whole");
}

impl Hosts {
    /// What a sends now, given to b as the host does (`receive_held`: headers and lengths):
    /// the segments whole, and b's output.
    fn send_a_to_b_by_header(&mut self) -> (Vec<(DatagramInfo, Vec<u8>)>, Output) {
        let mut out = Output::default();
        self.a.poll(self.now, &mut out);
        let segments = filled(&out);
        let given = heads(&segments);
        let mut to_a = Output::default();
        let given = given.iter().map(|(i, hd, n)| (i, &hd[..], *n));
        self.b.receive_held(self.now, given, &mut to_a);
        (segments, to_a)
    }
}

/// `segments` split as the host gives them to `receive_held`: headers, and data lengths.
fn heads(segments: &[(DatagramInfo, Vec<u8>)]) -> Vec<(DatagramInfo, Vec<u8>, usize)> {
    (segments.iter())
        .map(|(i, s)| {
            let h = TcpPacket::new_checked(&s[..]).unwrap().header_len();
            (*i, s[..h].to_vec(), s.len() - h)
        })
        .collect()
}

#[test]
fn received_bytes_the_host_holds_are_placed_and_read_by_count() {
    let mut h = Hosts::new();
    let (_, client, conn) = h.connected();
    h.a.send(client, b"hello, world").unwrap();
    let (_, to_a) = h.send_a_to_b_by_header();
    assert_eq!(to_a.wanted, Vec::<usize>::new());
    assert_eq!(
        to_a.placed,
        [Placed {
            segment: 0,
            socket: conn,
            skip: 0,
            len: 12,
            offset: 0
        }]
    );
    assert_eq!(
        h.b.read(conn, 5),
        Ok((Vec::new(), 5)),
        "counted, not stored"
    );
    assert_eq!(h.b.socket_info(conn).unwrap().recv_queue, 7);
    // Data given whole to a connection whose received bytes the host holds is refused and
    // counted: it could not come after the host's.
    h.a.set_option(client, options::SocketOption::NoDelay(true))
        .unwrap();
    h.a.send(client, b"more").unwrap();
    let mut out = Output::default();
    h.a.poll(h.now, &mut out);
    let errs = h.b.counters().in_errs;
    h.b.receive(h.now, out.to_ipv4.iter(), &mut Output::default());
    assert_eq!(h.b.counters().in_errs, errs + 1);
    assert_eq!(h.b.socket_info(conn).unwrap().recv_queue, 7);
}

#[test]
fn a_connection_that_stores_what_it_received_wants_segments_whole() {
    let mut h = Hosts::new();
    let (_, client, conn) = h.connected();
    // Stored (given whole), and not read yet.
    h.a.send(client, b"first").unwrap();
    h.settle();
    h.a.send(client, b"second").unwrap();
    let (segments, mut to_a) = h.send_a_to_b_by_header();
    assert_eq!((&to_a.wanted[..], &to_a.placed[..]), (&[0][..], &[][..]));
    // Given whole, as the host then does, it arrives after what was stored.
    h.b.receive(h.now, segments.iter().map(|(i, s)| (i, &s[..])), &mut to_a);
    assert_eq!(h.b.recv(conn, 100), Ok(b"firstsecond".to_vec()));
}

#[test]
fn timers_keep_one_deadline_a_socket_and_stale_entries_stay_bounded() {
    let mut t = Timers::default();
    t.set(1, Some(300));
    t.set(2, Some(100));
    t.set(3, Some(200));
    // Moved later, moved back, cleared: only the last setting counts.
    t.set(2, Some(500));
    t.set(3, Some(50));
    t.set(3, Some(200));
    t.set(1, None);
    assert_eq!(t.next(), Some(200));
    assert_eq!(t.take_due(199), Vec::<SocketId>::new());
    assert_eq!(t.take_due(500), vec![3, 2], "earliest first, once each");
    assert_eq!(t.next(), None);
    // Taken deadlines are cleared: setting the same one again schedules it again.
    t.set(3, Some(200));
    assert_eq!(t.take_due(1000), vec![3]);
    // A deadline that moves at every segment leaves stale entries, swept before they pile up.
    for i in 0..10_000 {
        t.set(7, Some(2000 + i % 3));
        t.set(8, Some(4000 - i % 5));
    }
    assert!(t.heap.len() <= 2 * 2 + 64 + 1, "{} entries", t.heap.len());
    // The last settings: 7 at 2000 + 9999 % 3 = 2000, 8 at 4000 - 9999 % 5 = 3996.
    assert_eq!(t.next(), Some(2000));
    assert_eq!(t.take_due(10_000), vec![7, 8]);
}

#[test]
fn dirty_sockets_come_out_in_order_once_and_keep_their_room() {
    let mut d = Dirty::default();
    for id in [5, 3, 5, 5, 9, 3] {
        d.insert(id);
    }
    d.remove(9);
    let ids = d.take();
    assert_eq!(ids, [3, 5]);
    // Touched while the poll ran: kept for the next one, the taken room dropped.
    d.insert(7);
    d.give_back(ids);
    assert_eq!(d.take(), [7]);
    // Not touched: the room comes back.
    let mut ids = Vec::with_capacity(64);
    ids.push(1);
    d.give_back(ids);
    assert!(d.0.is_empty() && d.0.capacity() >= 64);
}
