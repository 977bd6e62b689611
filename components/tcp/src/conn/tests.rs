//! Packet-trace tests of one connection: each drives a [`Conn`] with segments at virtual times
//! and checks what it sends back, or runs two connections over a lossy pipe.

use netstack_wire::{ChecksumMode, TcpPacket, build};

use super::*;

const A: (Ipv4Address, u16) = (Ipv4Address::new(10, 0, 2, 15), 40000);
const B: (Ipv4Address, u16) = (Ipv4Address::new(10, 0, 2, 2), 80);
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// The bytes a host holds in these tests (`Conn::wrote`): byte `o` of the stream.
fn held_byte(o: u64) -> u8 {
    (o.wrapping_mul(31) + 7) as u8
}

/// What `conn` sends now, as bytes (emitted, then parsed back by the caller); held spans are
/// filled in as the host would, from [`held_byte`].
fn output(conn: &mut Conn, now: Instant) -> Vec<Vec<u8>> {
    let (src, dst) = (conn.local.0, conn.remote.0);
    let mut out = Vec::new();
    conn.poll_output(now, 0, &mut |seg, held, _| {
        let mut seg = *seg;
        let data;
        if let Some(h) = held {
            let span = h.offset..h.offset + h.len as u64;
            data = [seg.payload, &span.map(held_byte).collect::<Vec<_>>()].concat();
            seg.payload = &data;
        }
        out.push(build::tcp(&seg, src, dst));
    });
    out
}

fn parse(bytes: &[u8], src: Ipv4Address, dst: Ipv4Address) -> TcpRepr<'_> {
    TcpRepr::parse(
        &TcpPacket::new_checked(bytes).unwrap(),
        src,
        dst,
        ChecksumMode::Verify,
    )
    .unwrap()
}

/// A segment from the peer B to A.
fn from_b(flags: TcpFlags, seq: u32, ack: u32, payload: &'static [u8]) -> TcpRepr<'static> {
    let mut r = TcpRepr::new(B.1, A.1, flags, SeqNumber(seq), SeqNumber(ack), 8192);
    r.payload = payload;
    r
}

fn one(conn: &mut Conn, now: Instant) -> (TcpFlags, u32, u32, usize) {
    let out = output(conn, now);
    assert_eq!(out.len(), 1, "one segment expected, got {}", out.len());
    let r = parse(&out[0], A.0, B.0);
    (r.flags, r.seq_number.0, r.ack_number.0, r.payload.len())
}

#[test]
fn active_open_sends_syn_with_mss_and_completes() {
    let mut c = Conn::connect(A, B, SeqNumber(100), ConnConfig::default());
    let out = output(&mut c, 0);
    let syn = parse(&out[0], A.0, B.0);
    assert_eq!(
        (syn.flags, syn.seq_number, syn.max_seg_size),
        (TcpFlags::SYN, SeqNumber(100), Some(1460))
    );
    assert_eq!(c.state(), State::SynSent);
    let mut synack = from_b(TcpFlags::SYN | TcpFlags::ACK, 5000, 101, b"");
    synack.max_seg_size = Some(1400);
    c.on_segment(10 * MS, &synack);
    assert_eq!(c.state(), State::Established);
    assert_eq!(one(&mut c, 10 * MS), (TcpFlags::ACK, 101, 5001, 0));
    assert_eq!(c.send_mss(), 1400);
}

#[test]
fn passive_open_answers_syn_ack_then_establishes() {
    let syn = from_b(TcpFlags::SYN, 7000, 0, b"");
    let mut c = Conn::accept(A, B, &syn, SeqNumber(300), ConnConfig::default());
    assert_eq!(
        one(&mut c, 0),
        (TcpFlags::SYN | TcpFlags::ACK, 300, 7001, 0)
    );
    c.on_segment(1, &from_b(TcpFlags::ACK, 7001, 301, b""));
    assert_eq!(c.state(), State::Established);
}

#[test]
fn syn_received_resets_an_unacceptable_ack() {
    let syn = from_b(TcpFlags::SYN, 7000, 0, b"");
    let mut c = Conn::accept(A, B, &syn, SeqNumber(300), ConnConfig::default());
    output(&mut c, 0);
    c.on_segment(1, &from_b(TcpFlags::ACK, 7001, 999, b""));
    assert_eq!(
        one(&mut c, 1),
        (TcpFlags::RST, 999, 0, 0),
        "<SEQ=SEG.ACK><CTL=RST>"
    );
    assert_eq!(c.state(), State::SynReceived);
}

#[test]
fn rst_to_our_syn_means_refused() {
    let mut c = Conn::connect(A, B, SeqNumber(100), ConnConfig::default());
    output(&mut c, 0);
    // An RST whose ACK does not cover our SYN is not for us (RFC 9293 §3.10.7.3).
    c.on_segment(1, &from_b(TcpFlags::RST | TcpFlags::ACK, 0, 100, b""));
    assert_eq!(c.state(), State::SynSent);
    c.on_segment(1, &from_b(TcpFlags::RST | TcpFlags::ACK, 0, 101, b""));
    assert_eq!(
        (c.state(), c.error()),
        (State::Closed, Some(ConnError::Refused))
    );
}

#[test]
fn syn_retransmits_with_backoff_then_times_out() {
    let config = ConnConfig::default();
    let mut c = Conn::connect(A, B, SeqNumber(100), config);
    output(&mut c, 0);
    let mut times = Vec::new();
    let mut now = 0;
    while c.state() != State::Closed {
        now = c.poll_at().unwrap();
        c.on_timer(now);
        if !output(&mut c, now).is_empty() {
            times.push(now / S);
        }
    }
    // RFC 6298: 1 s, then doubling: 1, 3, 7, 15, 31, 63 s; the 7th expiry gives up at 127 s.
    assert_eq!(times, [1, 3, 7, 15, 31, 63]);
    assert_eq!((now / S, c.error()), (127, Some(ConnError::TimedOut)));
}

/// Two connections joined by a pipe that drops the segments `drop` picks; runs until both are
/// quiet, returning the virtual time.
fn run_pipe(
    a: &mut Conn,
    b: &mut Conn,
    mut now: Instant,
    mut drop: impl FnMut(usize) -> bool,
    until: impl Fn(&Conn, &Conn) -> bool,
) -> Instant {
    let mut n = 0;
    for _ in 0..100_000 {
        let mut moved = false;
        for (from, to) in [(0, 1), (1, 0)] {
            let (src, dst) = if from == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            let (s_ip, d_ip) = (src.local.0, src.remote.0);
            let segs = output(src, now);
            for bytes in segs {
                moved = true;
                n += 1;
                if drop(n) {
                    continue;
                }
                dst.on_segment(now, &parse(&bytes, s_ip, d_ip));
            }
            let _ = to;
        }
        if until(a, b) {
            return now;
        }
        if !moved {
            // Nothing in the pipe: jump to the next timer, after a 1 ms link delay.
            let next = [a.poll_at(), b.poll_at()].into_iter().flatten().min();
            now = next.unwrap_or(now + MS).max(now + MS);
            a.on_timer(now);
            b.on_timer(now);
        }
    }
    panic!("the pipe never settled");
}

fn pair() -> (Conn, Conn) {
    pair_with(ConnConfig {
        recv_buffer: 16 * 1024,
        ..ConnConfig::default()
    })
}

/// Two established connections with `config` on both sides.
fn pair_with(config: ConnConfig) -> (Conn, Conn) {
    let mut a = Conn::connect(A, B, SeqNumber(u32::MAX - 1000), config);
    let out = output(&mut a, 0);
    let mut b = Conn::accept(B, A, &parse(&out[0], A.0, B.0), SeqNumber(77), config);
    run_pipe(
        &mut a,
        &mut b,
        0,
        |_| false,
        |a, b| a.state() == State::Established && b.state() == State::Established,
    );
    (a, b)
}

#[test]
fn bulk_data_arrives_in_order_across_the_sequence_wrap_despite_loss() {
    let (mut a, mut b) = pair();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut now = 0;
    while got.len() < data.len() {
        sent += a.send(&data[sent..]).unwrap();
        // Every 13th segment is lost: the RTO brings it back.
        now = run_pipe(
            &mut a,
            &mut b,
            now,
            |n| n % 13 == 0,
            |_, b| b.recv_queue() > 0,
        );
        got.extend(b.recv(usize::MAX));
    }
    assert_eq!(got, data);
    assert!(a.rto().srtt().is_some(), "RTT was measured");
}

#[test]
fn writes_given_whole_arrive_byte_exact_across_buffers_and_losses() {
    let (mut a, mut b) = pair_with(ConnConfig {
        send_buffer: 20_000,
        recv_buffer: 16 * 1024,
        ..ConnConfig::default()
    });
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 17 % 253) as u8).collect();
    // Writes of every size: tiny ones are copied onto the last buffer, big ones are kept, and
    // segments (retransmissions too) straddle them.
    let sizes = [1, 700, 5000, 3, 30_000, 1448, 2047, 9999];
    let (mut sent, mut got, mut now, mut k) = (0, Vec::new(), 0, 0);
    while got.len() < data.len() {
        let want = sizes[k % sizes.len()].min(data.len() - sent);
        k += 1;
        let room = 20_000 - a.send_queue();
        let taken = a.send_vec(data[sent..sent + want].to_vec()).unwrap();
        assert_eq!(
            taken,
            want.min(room),
            "what fits is taken, the rest refused"
        );
        sent += taken;
        now = run_pipe(
            &mut a,
            &mut b,
            now,
            |n| n % 11 == 0,
            |_, b| b.recv_queue() > 0,
        );
        got.extend(b.recv(usize::MAX));
    }
    assert_eq!(got, data);
}

#[test]
fn bytes_the_host_holds_go_out_as_spans_byte_exact_across_losses() {
    let (mut a, mut b) = pair_with(ConnConfig {
        send_buffer: 20_000,
        recv_buffer: 16 * 1024,
        ..ConnConfig::default()
    });
    // Some bytes of its own first (as after a hot swap from a build without held bytes), then
    // only held ones: segments straddle the two, and losses make retransmissions of both.
    let own: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(a.send_vec(own.clone()).unwrap(), 3000);
    let total = 150_000u64;
    let want: Vec<u8> = own
        .iter()
        .copied()
        .chain((0..total).map(held_byte))
        .collect();
    let (mut held, mut got, mut now) = (0u64, Vec::new(), 0);
    while got.len() < want.len() {
        let room = 20_000 - a.send_queue();
        let asked = 7000.min((total - held) as usize);
        let taken = a.wrote(asked).unwrap();
        assert_eq!(
            taken,
            asked.min(room),
            "what fits is counted, the rest refused"
        );
        held += taken as u64;
        now = run_pipe(
            &mut a,
            &mut b,
            now,
            |n| n % 13 == 0,
            |_, b| b.recv_queue() > 0,
        );
        got.extend(b.recv(usize::MAX));
        // The acknowledged part of the host's stream is reported, and only moves forward.
        if let Some(at) = a.take_held_consumed() {
            assert!(at <= held);
        }
    }
    assert_eq!(got, want);
    run_pipe(&mut a, &mut b, now, |_| false, |a, _| a.send_queue() == 0);
    assert_eq!(a.take_held_consumed(), Some(total));
    assert_eq!(a.take_held_consumed(), None, "reported once");
    assert!(a.holds_host_bytes());
}

#[test]
fn bytes_the_host_holds_are_received_by_placement_byte_exact_across_losses_and_reordering() {
    let (mut a, mut b) = pair_with(ConnConfig {
        recv_buffer: 16 * 1024,
        ..ConnConfig::default()
    });
    assert!(b.takes_held_data());
    b.hold_received();
    static ZEROS: [u8; 65536] = [0; 65536];
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    // The host's receive stream for b, by offset.
    let mut stream: Vec<u8> = Vec::new();
    let (mut sent, mut got, mut now, mut n) = (0, Vec::new(), 0, 0);
    for _ in 0..100_000 {
        if sent < data.len() {
            sent += a.send(&data[sent..data.len().min(sent + 5000)]).unwrap();
        }
        // a → b: every 7th segment lost, every other pair swapped.
        let mut segs = output(&mut a, now);
        for pair in segs.chunks_mut(2).step_by(2) {
            pair.reverse();
        }
        let moved = !segs.is_empty();
        for bytes in segs {
            n += 1;
            if n % 7 == 0 {
                continue;
            }
            let mut seg = parse(&bytes, A.0, B.0);
            let payload = seg.payload;
            seg.payload = &ZEROS[..payload.len()];
            b.on_segment(now, &seg);
            for p in b.take_placements() {
                let end = p.offset as usize + p.len;
                if stream.len() < end {
                    stream.resize(end, 0);
                }
                stream[p.offset as usize..end].copy_from_slice(&payload[p.skip..p.skip + p.len]);
            }
        }
        for bytes in output(&mut b, now) {
            a.on_segment(now, &parse(&bytes, B.0, A.0));
        }
        let (stored, held) = b.read(3000);
        assert!(stored.is_empty(), "nothing stored in the connection");
        got.extend_from_slice(&stream[got.len()..got.len() + held]);
        if got.len() == data.len() {
            break;
        }
        if !moved {
            let next = [a.poll_at(), b.poll_at()].into_iter().flatten().min();
            now = next.unwrap_or(now + MS).max(now + MS);
            a.on_timer(now);
            b.on_timer(now);
        }
    }
    assert!(
        got == data,
        "{} of {} bytes, or they differ",
        got.len(),
        data.len()
    );
    assert!(b.holds_host_bytes());
}

#[test]
fn a_connection_with_stored_bytes_does_not_take_held_data() {
    let (mut a, mut b) = pair();
    a.send(b"stored here").unwrap();
    run_pipe(&mut a, &mut b, 0, |_| false, |_, b| b.recv_queue() > 0);
    assert!(
        !b.takes_held_data(),
        "its bytes would come before the host's"
    );
    assert_eq!(b.read(100), (b"stored here".to_vec(), 0));
    assert!(b.takes_held_data(), "read out: now it may");
}

#[test]
fn out_of_order_segments_wait_for_the_hole() {
    let syn = from_b(TcpFlags::SYN, 1000, 0, b"");
    let mut c = Conn::accept(A, B, &syn, SeqNumber(1), ConnConfig::default());
    output(&mut c, 0);
    c.on_segment(0, &from_b(TcpFlags::ACK, 1001, 2, b""));
    c.on_segment(1, &from_b(TcpFlags::ACK, 1006, 2, b"world"));
    assert_eq!(c.recv_queue(), 0);
    assert_eq!(
        one(&mut c, 1),
        (TcpFlags::ACK, 2, 1001, 0),
        "a duplicate ACK for the hole"
    );
    c.on_segment(2, &from_b(TcpFlags::ACK, 1001, 2, b"hello"));
    assert_eq!(c.recv(100), b"helloworld");
    assert_eq!(one(&mut c, 2), (TcpFlags::ACK, 2, 1011, 0));
}

#[test]
fn out_of_window_segments_draw_an_ack_and_are_dropped() {
    let syn = from_b(TcpFlags::SYN, 1000, 0, b"");
    let mut c = Conn::accept(A, B, &syn, SeqNumber(1), ConnConfig::default());
    output(&mut c, 0);
    c.on_segment(0, &from_b(TcpFlags::ACK, 1001, 2, b""));
    c.on_segment(1, &from_b(TcpFlags::ACK, 900_000, 2, b"far away"));
    assert_eq!(c.recv_queue(), 0);
    assert_eq!(one(&mut c, 1), (TcpFlags::ACK, 2, 1001, 0));
}

#[test]
fn rst_exactly_at_rcv_nxt_resets_and_elsewhere_draws_a_challenge_ack() {
    let (mut a, _b) = pair();
    let rcv_nxt = a.rcv_nxt.0;
    let rst = |seq| TcpRepr::new(B.1, A.1, TcpFlags::RST, SeqNumber(seq), SeqNumber(0), 0);
    a.on_segment(0, &rst(rcv_nxt + 100));
    assert_eq!(a.state(), State::Established);
    let (flags, _, ack, _) = one(&mut a, 0);
    assert_eq!(
        (flags, ack),
        (TcpFlags::ACK, rcv_nxt),
        "RFC 5961 challenge ACK"
    );
    a.on_segment(0, &rst(rcv_nxt));
    assert_eq!(
        (a.state(), a.error()),
        (State::Closed, Some(ConnError::Reset))
    );
}

#[test]
fn syn_in_a_synchronized_state_draws_a_challenge_ack() {
    let (mut a, _b) = pair();
    let rcv_nxt = a.rcv_nxt.0;
    a.on_segment(
        0,
        &TcpRepr::new(
            B.1,
            A.1,
            TcpFlags::SYN,
            SeqNumber(rcv_nxt),
            SeqNumber(0),
            100,
        ),
    );
    assert_eq!(a.state(), State::Established);
    assert_eq!(one(&mut a, 0).0, TcpFlags::ACK);
}

/// Delivers everything `from` sends now to `to`.
fn deliver(from: &mut Conn, to: &mut Conn, now: Instant) -> usize {
    let (src, dst) = (from.local.0, from.remote.0);
    let segs = output(from, now);
    for bytes in &segs {
        to.on_segment(now, &parse(bytes, src, dst));
    }
    segs.len()
}

#[test]
fn active_and_passive_close_walk_every_state() {
    let (mut a, mut b) = pair();
    a.send(b"last words").unwrap();
    a.close();
    assert_eq!(deliver(&mut a, &mut b, 0), 1, "data and FIN in one segment");
    assert_eq!((a.state(), b.state()), (State::FinWait1, State::CloseWait));
    assert_eq!(b.recv(100), b"last words");
    assert!(
        b.readable() && b.recv(100).is_empty(),
        "then the end of the stream"
    );
    deliver(&mut b, &mut a, 0);
    assert_eq!(a.state(), State::FinWait2);
    b.close();
    deliver(&mut b, &mut a, 0);
    assert_eq!((a.state(), b.state()), (State::TimeWait, State::LastAck));
    deliver(&mut a, &mut b, 0);
    assert_eq!((b.state(), b.error()), (State::Closed, None));
    let until = a.poll_at().unwrap();
    assert_eq!(until, 60 * S, "2·MSL of TIME-WAIT");
    assert_eq!(a.timer(), Some(("timewait", until, 0)));
    a.on_timer(until - 1);
    assert_eq!(a.state(), State::TimeWait);
    a.on_timer(until);
    assert_eq!((a.state(), a.error()), (State::Closed, None));
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let (mut a, mut b) = pair();
    a.close();
    b.close();
    // Both FINs cross in flight.
    let fa = output(&mut a, 0);
    let fb = output(&mut b, 0);
    assert_eq!((a.state(), b.state()), (State::FinWait1, State::FinWait1));
    a.on_segment(0, &parse(&fb[0], B.0, A.0));
    b.on_segment(0, &parse(&fa[0], A.0, B.0));
    assert_eq!((a.state(), b.state()), (State::Closing, State::Closing));
    run_pipe(
        &mut a,
        &mut b,
        0,
        |_| false,
        |a, b| a.state() == State::TimeWait && b.state() == State::TimeWait,
    );
}

#[test]
fn simultaneous_open_meets_in_syn_received() {
    let mut a = Conn::connect(A, B, SeqNumber(10), ConnConfig::default());
    let mut b = Conn::connect(B, A, SeqNumber(20), ConnConfig::default());
    let sa = output(&mut a, 0);
    let sb = output(&mut b, 0);
    a.on_segment(0, &parse(&sb[0], B.0, A.0));
    b.on_segment(0, &parse(&sa[0], A.0, B.0));
    assert_eq!(
        (a.state(), b.state()),
        (State::SynReceived, State::SynReceived)
    );
    // A's SYN-ACK reaches B before B sends its own: B's SND.NXT was rewound to resend the SYN,
    // yet the ACK of the SYN it already sent is good.
    let sa = output(&mut a, 0);
    b.on_segment(0, &parse(&sa[0], A.0, B.0));
    assert_eq!(b.state(), State::Established);
    run_pipe(
        &mut a,
        &mut b,
        0,
        |_| false,
        |a, b| a.state() == State::Established && b.state() == State::Established,
    );
}

#[test]
fn abort_sends_rst() {
    let (mut a, _b) = pair();
    a.abort();
    assert_eq!(one(&mut a, 0).0, TcpFlags::RST);
    assert_eq!(
        (a.state(), a.error()),
        (State::Closed, Some(ConnError::Aborted))
    );
}

#[test]
fn close_in_syn_sent_deletes_unless_data_waits() {
    let mut c = Conn::connect(A, B, SeqNumber(100), ConnConfig::default());
    c.close();
    assert_eq!(c.state(), State::Closed);
    let mut c = Conn::connect(A, B, SeqNumber(100), ConnConfig::default());
    output(&mut c, 0);
    c.send(b"queued before the handshake").unwrap();
    c.close();
    assert_eq!(c.state(), State::SynSent);
    c.on_segment(1, &from_b(TcpFlags::SYN | TcpFlags::ACK, 5000, 101, b""));
    let out = output(&mut c, 1);
    let seg = parse(&out[0], A.0, B.0);
    assert_eq!(
        (seg.payload, seg.flags.contains(TcpFlags::FIN)),
        (&b"queued before the handshake"[..], true)
    );
    assert_eq!(c.state(), State::FinWait1);
}

#[test]
fn three_duplicate_acks_retransmit_at_once() {
    let (mut a, mut b) = pair();
    let per = a.payload_per_segment();
    let data = vec![7u8; 5 * per];
    a.send(&data).unwrap();
    let segs = output(&mut a, 0);
    assert_eq!(segs.len(), 5, "five segments fit the initial window");
    let una = parse(&segs[0], A.0, B.0).seq_number;
    // The first is lost; each of the others draws a duplicate ACK from B.
    for s in &segs[1..4] {
        b.on_segment(1, &parse(s, A.0, B.0));
        let acks = output(&mut b, 1);
        a.on_segment(2, &parse(&acks[0], B.0, A.0));
    }
    assert!(a.congestion().in_recovery());
    let again = output(&mut a, 2);
    let first = parse(&again[0], A.0, B.0);
    assert_eq!(
        (first.seq_number, first.payload.len()),
        (una, per),
        "fast retransmit, long before the RTO"
    );
    assert_eq!(a.timer().map(|(kind, ..)| kind), Some("on"));
    b.on_segment(3, &first);
    b.on_segment(3, &parse(&segs[4], A.0, B.0));
    assert_eq!(b.recv(usize::MAX), data);
}

#[test]
fn pure_acks_after_a_retransmission_carry_the_highest_sequence_sent() {
    let (mut a, mut b) = pair();
    // Three full segments (a short third one would wait for an ACK: Nagle).
    a.send(&vec![1u8; 3 * a.payload_per_segment()]).unwrap();
    let segs = output(&mut a, 0);
    assert_eq!(segs.len(), 3);
    for s in &segs {
        b.on_segment(1, &parse(s, A.0, B.0));
    }
    // B's ACK is lost; A's RTO rewinds and resends the first segment.
    output(&mut b, 1);
    let t = a.poll_at().unwrap();
    a.on_timer(t);
    let resent = output(&mut a, t);
    assert_eq!(resent.len(), 1, "one segment in a one-MSS window");
    // Meanwhile B has data of its own and A owes it an ACK: that ACK must be acceptable to B.
    b.send(b"reply").unwrap();
    let data = output(&mut b, t);
    a.on_segment(t, &parse(&data[0], B.0, A.0));
    let acks = output(&mut a, t);
    let ack = parse(acks.last().unwrap(), A.0, B.0);
    assert_eq!(ack.seq_number, a.snd_max, "not the rewound SND.NXT");
    b.on_segment(t, &ack);
    assert_eq!(b.send_queue(), 0, "B took the ACK of its reply");
}

#[test]
fn window_scaling_and_timestamps_need_both_syns() {
    // Our SYN offers both.
    let mut c = Conn::connect(A, B, SeqNumber(100), ConnConfig::default());
    let syn = parse(&output(&mut c, 5 * MS)[0], A.0, B.0).to_owned_header();
    assert_eq!(syn.0, Some(7));
    assert!(syn.1.is_some());
    // A peer that answers without them: neither is used, the window is not scaled.
    let mut plain = from_b(TcpFlags::SYN | TcpFlags::ACK, 5000, 101, b"");
    plain.window_len = 1000;
    c.on_segment(6 * MS, &plain);
    assert_eq!(c.options(), (None, false));
    let ack = parse(&output(&mut c, 6 * MS)[0], A.0, B.0).to_owned_header();
    assert_eq!((ack.0, ack.1.is_none()), (None, true));

    // A peer that offers both: our windows are scaled by 7, its by its shift; timestamps echo.
    let mut syn = from_b(TcpFlags::SYN, 7000, 0, b"");
    syn.window_scale = Some(2);
    syn.max_seg_size = Some(1460);
    syn.timestamp = Some(TcpTimestamp {
        tsval: 4242,
        tsecr: 0,
    });
    let mut c = Conn::accept(A, B, &syn, SeqNumber(300), ConnConfig::default());
    let synack_bytes = output(&mut c, 0);
    let synack = parse(&synack_bytes[0], A.0, B.0);
    assert_eq!(synack.window_scale, Some(7));
    assert_eq!(synack.timestamp.unwrap().tsecr, 4242);
    assert_eq!(synack.window_len, 65535, "a SYN's window is never scaled");
    let mut ack = from_b(TcpFlags::ACK, 7001, 301, b"");
    ack.window_len = 1000; // 4000 bytes after its shift of 2
    ack.timestamp = Some(TcpTimestamp {
        tsval: 4243,
        tsecr: 0,
    });
    c.on_segment(1, &ack);
    assert_eq!(c.options(), (Some((2, 7)), true));
    assert_eq!(c.snd_wnd, 4000);
    c.send(&[0u8; 3000]).unwrap();
    let data_bytes = output(&mut c, 2 * MS);
    let data = parse(&data_bytes[0], A.0, B.0);
    assert_eq!(
        data.window_len as u32,
        (128 * 1024) >> 7,
        "128 KiB of buffer, scaled by 7"
    );
    assert_eq!(data.timestamp.unwrap().tsecr, 4243);
    // The timestamps come out of the MSS: 1460 - 12 bytes of data, so the packet fits the MTU.
    assert_eq!(data.payload.len(), 1448);
}

#[test]
fn paws_drops_segments_with_old_timestamps() {
    let mut syn = from_b(TcpFlags::SYN, 7000, 0, b"");
    syn.timestamp = Some(TcpTimestamp {
        tsval: 1000,
        tsecr: 0,
    });
    let mut c = Conn::accept(A, B, &syn, SeqNumber(300), ConnConfig::default());
    output(&mut c, 0);
    let mut ack = from_b(TcpFlags::ACK, 7001, 301, b"");
    ack.timestamp = Some(TcpTimestamp {
        tsval: 1001,
        tsecr: 0,
    });
    c.on_segment(1, &ack);
    let mut old = from_b(TcpFlags::ACK | TcpFlags::PSH, 7001, 301, b"old data");
    old.timestamp = Some(TcpTimestamp {
        tsval: 900,
        tsecr: 0,
    });
    c.on_segment(2, &old);
    assert_eq!(c.recv_queue(), 0, "PAWS: dropped");
    let mut fresh = from_b(TcpFlags::ACK | TcpFlags::PSH, 7001, 301, b"new data");
    fresh.timestamp = Some(TcpTimestamp {
        tsval: 1002,
        tsecr: 0,
    });
    c.on_segment(3, &fresh);
    assert_eq!(c.recv(100), b"new data");
}

trait Header {
    fn to_owned_header(&self) -> (Option<u8>, Option<TcpTimestamp>);
}

impl Header for TcpRepr<'_> {
    fn to_owned_header(&self) -> (Option<u8>, Option<TcpTimestamp>) {
        (self.window_scale, self.timestamp)
    }
}

/// B with its quick ACKs used up, so ACKs are delayed.
fn pair_past_quickacks() -> (Conn, Conn) {
    let (mut a, mut b) = pair();
    b.quickacks = 0;
    a.quickacks = 0;
    (a, b)
}

/// Two connections past quick-ACK mode, and the first `n` full segments A sent B (at time 0,
/// not delivered), with their payload size.
fn segments_sent(n: usize) -> (Conn, Conn, Vec<Vec<u8>>, usize) {
    let (mut a, b) = pair_past_quickacks();
    let per = a.payload_per_segment();
    a.send(&vec![5u8; n * per]).unwrap();
    let segs = output(&mut a, 0);
    assert_eq!(segs.len(), n, "the window took them all");
    (a, b, segs, per)
}

/// A sends one segment of `len` bytes (Nagle off) that B takes at `now`; returns B's answer.
fn send_one(a: &mut Conn, b: &mut Conn, len: usize, now: Instant) -> Vec<Vec<u8>> {
    a.send(&vec![9u8; len]).unwrap();
    for s in output(a, now) {
        b.on_segment(now, &parse(&s, A.0, B.0));
    }
    output(b, now)
}

#[test]
fn in_order_data_is_acked_every_second_full_segment_or_after_40_ms() {
    let (mut a, mut b) = pair_past_quickacks();
    a.config.nagle = false;
    let per = a.payload_per_segment();
    assert!(
        send_one(&mut a, &mut b, per, 0).is_empty(),
        "the first waits"
    );
    let acks = send_one(&mut a, &mut b, per, MS);
    assert_eq!(
        acks.len(),
        1,
        "the second full segment is acknowledged at once"
    );
    assert_eq!(parse(&acks[0], B.0, A.0).ack_number, a.snd_nxt);

    // A lone small segment: acknowledged when the delayed-ACK timer fires, 40 ms later.
    assert!(send_one(&mut a, &mut b, 10, 2 * MS).is_empty());
    assert_eq!(b.poll_at(), Some(42 * MS));
    b.on_timer(42 * MS);
    let (flags, _, ack, _) = one(&mut b, 42 * MS);
    assert_eq!((flags, ack), (TcpFlags::ACK, b.rcv_nxt.0));
    assert_eq!(b.poll_at(), None, "nothing owed any more");
}

#[test]
fn data_going_back_carries_the_delayed_ack() {
    let (mut a, mut b) = pair_past_quickacks();
    assert!(send_one(&mut a, &mut b, 10, 0).is_empty());
    b.send(b"answer").unwrap();
    let out = output(&mut b, MS);
    assert_eq!(out.len(), 1, "one segment: the answer, with the ACK");
    let seg = parse(&out[0], B.0, A.0);
    assert_eq!((seg.payload, seg.ack_number), (&b"answer"[..], b.rcv_nxt));
    assert_eq!(b.delack_at, None);
}

#[test]
fn out_of_order_and_hole_filling_segments_are_acked_at_once() {
    let (a, mut b, segs, per) = segments_sent(3);
    // The first is lost: the second is out of order, B answers at once (a duplicate ACK).
    b.on_segment(1, &parse(&segs[1], A.0, B.0));
    let dup = output(&mut b, 1);
    assert_eq!(dup.len(), 1);
    assert_eq!(parse(&dup[0], B.0, A.0).ack_number, a.snd_una);
    // The retransmission fills the hole: acknowledged at once, all of it.
    b.on_segment(2, &parse(&segs[0], A.0, B.0));
    let ack = output(&mut b, 2);
    assert_eq!(ack.len(), 1);
    assert_eq!(
        parse(&ack[0], B.0, A.0).ack_number,
        a.snd_una + 2 * per,
        "both segments"
    );
}

#[test]
fn sack_blocks_are_the_held_ranges_and_are_rebuilt_after_a_state_round_trip() {
    let (mut a, mut b) = pair_with(ConnConfig {
        recv_buffer: 1 << 20,
        ..ConnConfig::default()
    });
    assert!(a.sack_ok && b.sack_ok);
    // A window open wide enough for 60 segments at once.
    assert_eq!(stream(&mut a, &mut b, 4 << 20, usize::MAX), 4 << 20);
    a.send(&vec![5u8; 60 * a.payload_per_segment()]).unwrap();
    let segs = output(&mut a, 20 * S);
    assert!(segs.len() >= 60, "{} segments", segs.len());
    // Segments 0 and 20 lost: 58 held above them make two blocks, the latest's first.
    for (i, seg) in segs.iter().enumerate().take(40) {
        if i != 0 && i != 20 {
            b.on_segment(20 * S, &parse(seg, A.0, B.0));
        }
    }
    let first = parse(&segs[0], A.0, B.0);
    let (start, per) = (first.seq_number, first.payload.len());
    let block = |from: usize, to: usize| Some((start + from * per, start + to * per));
    let acks = output(&mut b, 20 * S);
    let sacks = parse(acks.last().unwrap(), B.0, A.0).sack_ranges;
    assert_eq!(sacks[..2], [block(21, 40), block(1, 20)]);

    // Exported and imported (as a hot swap does), the receiver reports the same blocks.
    let mut swapped: Conn = postcard::from_bytes(&postcard::to_allocvec(&b).unwrap()).unwrap();
    assert!(swapped.held_ranges.is_none(), "derived, not exported");
    for c in [&mut b, &mut swapped] {
        c.on_segment(20 * S, &parse(&segs[45], A.0, B.0));
        let acks = output(c, 20 * S);
        let sacks = parse(acks.last().unwrap(), B.0, A.0).sack_ranges;
        assert_eq!(sacks[..3], [block(45, 46), block(1, 20), block(21, 40)]);
    }
    // The hole at 0 filled: RCV.NXT moves to 20 and the first block leaves the ranges.
    b.on_segment(20 * S, &parse(&segs[0], A.0, B.0));
    let acks = output(&mut b, 20 * S);
    let ack = parse(acks.last().unwrap(), B.0, A.0);
    assert_eq!(ack.ack_number, start + 20 * per);
    let held: Vec<_> = b.held_ranges.as_ref().unwrap().iter().collect();
    assert_eq!(
        held,
        [
            (start + 21 * per, start + 40 * per),
            (start + 45 * per, start + 46 * per)
        ]
    );
}

#[test]
fn held_ranges_forget_a_tail_the_window_cut_off_when_the_hole_filled() {
    let (_, mut b, segs, per) = segments_sent(3);
    b.on_segment(1, &parse(&segs[1], A.0, B.0));
    b.on_segment(1, &parse(&segs[2], A.0, B.0));
    let start = parse(&segs[0], A.0, B.0).seq_number;
    let held: Vec<_> = b.held_ranges().iter().collect();
    assert_eq!(held, [(start + per, start + 3 * per)]);
    // The window no longer reaches the last segment (a state no API makes today: the window
    // is never retracted; set by hand to stand for any rule that would cut it).
    b.config.recv_buffer = b.recv_queue() + 2 * per;
    b.on_segment(2, &parse(&segs[0], A.0, B.0));
    assert_eq!(
        b.rcv_nxt,
        start + 2 * per,
        "the third segment's bytes are gone"
    );
    assert!(b.out_of_order.is_empty() && b.out_of_order_held.is_empty());
    assert_eq!(
        b.held_ranges().iter().count(),
        0,
        "no SACK for bytes not held"
    );
}

#[test]
fn nagle_holds_a_small_segment_until_the_ack_and_no_delay_does_not() {
    let (mut a, b) = pair_past_quickacks();
    a.send(b"first").unwrap();
    assert_eq!(output(&mut a, 0).len(), 1, "nothing in flight: it goes");
    a.send(b"second").unwrap();
    assert!(
        output(&mut a, 0).is_empty(),
        "held while `first` is unacknowledged"
    );
    // B's ACK (delayed 40 ms) releases it.
    let ack = from_b(TcpFlags::ACK, b.snd_nxt.0, (a.snd_una + 5).0, b"");
    a.on_segment(40 * MS, &ack);
    let out = output(&mut a, 40 * MS);
    assert_eq!(parse(&out[0], A.0, B.0).payload, b"second");

    // With no-delay, small writes go at once even with data in flight.
    a.config.nagle = false;
    a.send(b"third").unwrap();
    assert_eq!(output(&mut a, 41 * MS).len(), 1);
}

#[test]
fn keepalive_probes_an_idle_connection_and_gives_up_after_the_count() {
    let (mut a, _b) = pair();
    a.config.keepalive = true;
    a.config.keepalive_idle_ns = 10 * S;
    a.config.keepalive_interval_ns = S;
    a.config.keepalive_count = 3;
    let heard = a.last_heard;
    assert_eq!(a.poll_at(), Some(heard + 10 * S));
    assert_eq!(a.timer(), Some(("keepalive", heard + 10 * S, 0)));
    a.on_timer(heard + 10 * S);
    let (flags, seq, _, len) = one(&mut a, heard + 10 * S);
    assert_eq!(
        (flags, SeqNumber(seq), len),
        (TcpFlags::ACK, SeqNumber(a.snd_una.0 - 1), 0),
        "SEG.SEQ = SND.NXT-1, no data"
    );
    // The peer answers: idle again, the next probe is a whole idle time away.
    let answer = from_b(TcpFlags::ACK, a.rcv_nxt.0, a.snd_una.0, b"");
    a.on_segment(heard + 11 * S, &answer);
    assert_eq!(a.poll_at(), Some(heard + 21 * S));
    // Now nobody answers: three probes a second apart, then the connection is dropped.
    let mut probes = 0;
    while a.state() != State::Closed {
        let t = a.poll_at().unwrap();
        a.on_timer(t);
        probes += output(&mut a, t).len();
    }
    assert_eq!(probes, 3);
    assert_eq!(a.error(), Some(ConnError::TimedOut));
}

#[test]
fn sack_recovers_several_holes_in_one_round_trip() {
    let (mut a, mut b) = pair_past_quickacks();
    assert!(a.sack() && b.sack(), "both SYNs offered SACK");
    let per = a.payload_per_segment();
    let data: Vec<u8> = (0..10 * per).map(|i| (i % 253) as u8).collect();
    a.send(&data).unwrap();
    let segs = output(&mut a, 0);
    assert_eq!(segs.len(), 10);
    let start = parse(&segs[0], A.0, B.0).seq_number;
    // Segments 1, 3 and 5 are lost; B answers each later one at once, with SACK blocks.
    let mut acks = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        if ![1, 3, 5].contains(&i) {
            b.on_segment(MS, &parse(s, A.0, B.0));
            acks.extend(output(&mut b, MS));
        }
    }
    let last = parse(acks.last().unwrap(), B.0, A.0);
    assert_eq!(last.ack_number, start + per, "cumulative: segment 0 only");
    assert_eq!(
        last.sack_ranges[..3],
        [
            Some((start + 6 * per, start + 10 * per)),
            Some((start + 2 * per, start + 3 * per)),
            Some((start + 4 * per, start + 5 * per)),
        ],
        "the latest block first (RFC 2018 §4), three with timestamps"
    );
    // One round trip later A has the ACKs and resends all three holes, long before any RTO.
    let mut resent = Vec::new();
    for ack in &acks {
        a.on_segment(2 * MS, &parse(ack, B.0, A.0));
        resent.extend(output(&mut a, 2 * MS));
    }
    let offsets: Vec<usize> = resent
        .iter()
        .map(|s| parse(s, A.0, B.0))
        .filter(|s| !s.payload.is_empty())
        .map(|s| (s.seq_number - start) / per)
        .collect();
    assert_eq!(offsets, [1, 3, 5], "each hole once, in order");
    for s in &resent {
        b.on_segment(3 * MS, &parse(s, A.0, B.0));
    }
    assert_eq!(b.recv(usize::MAX), data);
    let ack = output(&mut b, 3 * MS);
    a.on_segment(4 * MS, &parse(&ack[0], B.0, A.0));
    assert_eq!(a.snd_una, start + 10 * per);
    assert!(!a.congestion().in_recovery(), "the full ACK ends recovery");
    let stats = a.stats();
    assert_eq!(
        (stats.recoveries, stats.retrans_segs, stats.rtos),
        (1, 3, 0),
        "one recovery, three segments resent, no timeout"
    );
    assert_eq!(a.take_fresh_stats(), stats, "all of it new to the layer");
    assert_eq!(a.take_fresh_stats(), ConnStats::default(), "and taken once");
}

#[test]
fn sack_is_off_unless_both_syns_offer_it() {
    let no_sack = ConnConfig {
        sack: false,
        ..ConnConfig::default()
    };
    let mut a = Conn::connect(A, B, SeqNumber(1), ConnConfig::default());
    let syn = output(&mut a, 0);
    assert!(parse(&syn[0], A.0, B.0).sack_permitted, "we offer it");
    let mut b = Conn::accept(B, A, &parse(&syn[0], A.0, B.0), SeqNumber(9), no_sack);
    let synack = output(&mut b, 0);
    assert!(!parse(&synack[0], B.0, A.0).sack_permitted);
    a.on_segment(1, &parse(&synack[0], B.0, A.0));
    assert!(!a.sack() && !b.sack());
}

#[test]
fn a_lost_tail_is_probed_and_recovered_long_before_the_rto() {
    let (mut a, mut b) = pair_past_quickacks();
    a.rto.sample(5 * MS); // an RTT measured earlier: 5 ms
    let per = a.payload_per_segment();
    let data: Vec<u8> = (0..4 * per).map(|i| (i % 251) as u8).collect();
    a.send(&data).unwrap();
    let tail = output(&mut a, 0);
    assert_eq!(tail.len(), 4, "all four are lost");
    let rto = a.retransmit_at.unwrap();
    // The probe timer (2·SRTT, at least 10 ms) comes first; the probe is the last segment.
    let pto = a.poll_at().unwrap();
    assert!(pto < rto, "PTO {pto} before RTO {rto}");
    a.on_timer(pto);
    let probe = output(&mut a, pto);
    assert_eq!(probe.len(), 1);
    let p = parse(&probe[0], A.0, B.0);
    assert_eq!(p.seq_number, a.snd_una + 3 * per, "the last segment again");
    // B SACKs it; A waits out the reordering window, then resends the three holes.
    b.on_segment(pto, &p);
    let sack = output(&mut b, pto);
    a.on_segment(pto + MS, &parse(&sack[0], B.0, A.0));
    assert!(
        output(&mut a, pto + MS).is_empty(),
        "reordering gets its window"
    );
    let reo = a.poll_at().unwrap();
    assert!(reo < rto);
    a.on_timer(reo);
    let mut now = reo;
    let mut resent = output(&mut a, now);
    while b.recv_queue() + resent.len() * per < data.len() && now < rto {
        for s in &resent {
            b.on_segment(now, &parse(s, A.0, B.0));
        }
        for ack in output(&mut b, now) {
            a.on_segment(now, &parse(&ack, B.0, A.0));
        }
        now += MS;
        resent = output(&mut a, now);
    }
    for s in &resent {
        b.on_segment(now, &parse(s, A.0, B.0));
    }
    assert!(now < rto, "recovered at {now}, the RTO was {rto}");
    assert_eq!(b.recv(usize::MAX), data);
}

#[test]
fn limited_transmit_sends_new_data_on_the_first_two_duplicates() {
    // RFC 3042, without SACK: the first and second duplicate ACK each let one new segment out
    // beyond cwnd; the third retransmits.
    let (mut a, mut b) = pair_with(ConnConfig {
        sack: false,
        ..ConnConfig::default()
    });
    // One exchange first, so that A holds B's scaled window (the SYN-ACK's is unscaled and an
    // ACK that changes the window is no duplicate).
    for s in send_one(&mut a, &mut b, 10, 0) {
        a.on_segment(0, &parse(&s, B.0, A.0));
    }
    b.quickacks = 0;
    let per = a.payload_per_segment();
    a.send(&vec![3u8; 20 * per]).unwrap();
    let flight = output(&mut a, 0);
    assert_eq!(flight.len(), 10, "the initial window");
    let mut sent_on_dupack = Vec::new();
    for s in &flight[1..4] {
        b.on_segment(MS, &parse(s, A.0, B.0));
        let dup = output(&mut b, MS);
        a.on_segment(2 * MS, &parse(&dup[0], B.0, A.0));
        let out = output(&mut a, 2 * MS);
        sent_on_dupack.push(
            out.iter()
                .map(|s| (parse(s, A.0, B.0).seq_number - a.snd_una) / per)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        sent_on_dupack,
        [vec![10], vec![11], vec![0]],
        "new segments 10 and 11, then the fast retransmit of 0"
    );
}

#[test]
fn a_segment_the_window_would_cut_short_waits_for_the_ack() {
    // Sender SWS avoidance: with a window of 1.5 segments, one full segment goes and the half
    // segment left waits until the ACK opens room for a full one.
    let (mut a, _b) = pair_past_quickacks();
    let per = a.payload_per_segment();
    a.snd_wnd = (per + per / 2) as u32;
    a.send(&vec![1u8; 3 * per]).unwrap();
    let out = output(&mut a, 0);
    assert_eq!(out.len(), 1);
    assert_eq!(parse(&out[0], A.0, B.0).payload.len(), per);
}

#[test]
fn a_recovery_for_a_segment_that_was_only_late_is_undone_by_the_d_sack() {
    let (mut a, mut b, segs, per) = segments_sent(6);
    let before = a.congestion().cwnd();
    // Segment 0 is late, not lost: the SACKs for 1..5 start a recovery and its retransmission.
    for s in &segs[1..] {
        b.on_segment(MS, &parse(s, A.0, B.0));
        for ack in output(&mut b, MS) {
            a.on_segment(MS, &parse(&ack, B.0, A.0));
        }
    }
    assert!(a.congestion().in_recovery());
    assert!(a.congestion().cwnd() < before, "the window was cut");
    let resent = output(&mut a, MS);
    let start = parse(&segs[0], A.0, B.0).seq_number;
    assert_eq!(parse(&resent[0], A.0, B.0).seq_number, start);
    // The original arrives; B acknowledges everything...
    b.on_segment(2 * MS, &parse(&segs[0], A.0, B.0));
    for ack in output(&mut b, 2 * MS) {
        a.on_segment(2 * MS, &parse(&ack, B.0, A.0));
    }
    // ...then reports the retransmission as a duplicate (RFC 2883: a block below the ACK).
    let mut dsack = from_b(TcpFlags::ACK, b.snd_nxt.0, (start + 6 * per).0, b"");
    dsack.sack_ranges[0] = Some((start, start + per));
    a.on_segment(3 * MS, &dsack);
    assert_eq!(a.congestion().cwnd(), before, "the cut is undone");
    assert_eq!(
        a.scoreboard.dup_thresh(),
        6,
        "and the path is known to reorder"
    );
}

#[test]
fn the_resend_after_a_timeout_skips_what_the_receiver_sacked() {
    let (mut a, mut b, segs, per) = segments_sent(6);
    let start = parse(&segs[0], A.0, B.0).seq_number;
    // Segments 0 and 1 are lost; B holds 2..5 and says so.
    for s in &segs[2..] {
        b.on_segment(MS, &parse(s, A.0, B.0));
        for ack in output(&mut b, MS) {
            a.on_segment(MS, &parse(&ack, B.0, A.0));
        }
    }
    // Every retransmission is lost too, until the RTO fires.
    let mut now = MS;
    output(&mut a, now);
    let rto_resend = loop {
        now = a.poll_at().unwrap();
        a.on_timer(now);
        let out = output(&mut a, now);
        if a.retries > 0 {
            break out;
        }
    };
    assert_eq!(parse(&rto_resend[0], A.0, B.0).seq_number, start);
    // Segment 0 gets through; the go-back-N resend is segment 1 alone, not 2..5 again.
    b.on_segment(now, &parse(&rto_resend[0], A.0, B.0));
    let ack = output(&mut b, now);
    a.on_segment(now + MS, &parse(&ack[0], B.0, A.0));
    let next: Vec<SeqNumber> = output(&mut a, now + MS)
        .iter()
        .map(|s| parse(s, A.0, B.0))
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.seq_number)
        .collect();
    assert_eq!(next, [start + per]);
}

/// Streams `total` bytes from `a` to `b` over a 1 ms round trip (a step every 250 µs, each
/// way half a millisecond), `b`'s application reading `read_per_step` bytes a step. Returns
/// the bytes read.
fn stream(a: &mut Conn, b: &mut Conn, total: usize, read_per_step: usize) -> usize {
    let chunk = vec![0x5a; 64 * 1024];
    let (mut queued, mut read, mut now) = (0, 0, 0);
    // Segments on the wire: (arrival time, from a?, bytes).
    let mut wire: std::collections::VecDeque<(Instant, bool, Vec<u8>)> = Default::default();
    for _ in 0..40_000 {
        if read >= total {
            break;
        }
        if queued < total {
            queued += a.send(&chunk[..chunk.len().min(total - queued)]).unwrap();
        }
        read += b.recv(read_per_step).len();
        for (conn, from_a) in [(&mut *a, true), (&mut *b, false)] {
            conn.on_timer(now);
            for seg in output(conn, now) {
                wire.push_back((now + MS / 2, from_a, seg));
            }
        }
        now += MS / 4;
        while wire.front().is_some_and(|(at, ..)| *at <= now) {
            let (_, from_a, seg) = wire.pop_front().unwrap();
            if from_a {
                b.on_segment(now, &parse(&seg, A.0, B.0));
            } else {
                a.on_segment(now, &parse(&seg, B.0, A.0));
            }
        }
    }
    read
}

#[test]
fn the_receive_buffer_grows_with_what_the_application_reads_per_round_trip() {
    let (mut a, mut b) = pair_with(ConnConfig::default());
    let start = b.config().recv_buffer;
    assert_eq!(start, 128 * 1024);
    assert_eq!(stream(&mut a, &mut b, 8 << 20, usize::MAX), 8 << 20);
    let grown = b.config().recv_buffer;
    assert!(grown >= 1 << 20, "grew from 128 KiB to {grown}");
    assert!(grown <= b.config().recv_buffer_max);

    // Up to the ceiling, never past it.
    let (mut a, mut b) = pair_with(ConnConfig {
        recv_buffer_max: 300 * 1024,
        ..ConnConfig::default()
    });
    stream(&mut a, &mut b, 8 << 20, usize::MAX);
    assert_eq!(b.config().recv_buffer, 300 * 1024);
}

#[test]
fn a_slow_reader_or_a_set_buffer_is_not_tuned() {
    // 4 KiB a step is 16 KiB per round trip: 2·16 KiB + 16 segments is below 128 KiB.
    let (mut a, mut b) = pair_with(ConnConfig::default());
    stream(&mut a, &mut b, 2 << 20, 4096);
    assert_eq!(b.config().recv_buffer, 128 * 1024);

    // SO_RCVBUF: the application's size stays.
    let mut config = ConnConfig::default();
    crate::options::SocketOption::ReceiveBufferSize(64 * 1024)
        .apply(&mut config)
        .unwrap();
    let (mut a, mut b) = pair_with(config);
    stream(&mut a, &mut b, 4 << 20, usize::MAX);
    assert_eq!(b.config().recv_buffer, 64 * 1024);
}

#[test]
fn a_read_that_opens_the_window_wide_is_announced_at_once() {
    // 16 KiB of receive buffer; 12 KiB arrive and wait: the peer knows of 4 KiB of room.
    let (mut a, mut b) = pair();
    a.send(&[1u8; 12 * 1024]).unwrap();
    run_pipe(
        &mut a,
        &mut b,
        MS,
        |_| false,
        |_, b| b.recv_queue() == 12 * 1024,
    );
    let _ = output(&mut b, 2 * MS);
    assert_eq!(b.last_wnd_sent, 4 * 1024);
    // A small read leaves the window narrow: no update (it would be a window of 5 KiB).
    assert_eq!(b.recv(1024).len(), 1024);
    assert!(output(&mut b, 3 * MS).is_empty());
    // Reading the rest quadruples it: the peer hears of it now, not at its probe timer.
    assert_eq!(b.recv(usize::MAX).len(), 11 * 1024);
    let update = output(&mut b, 4 * MS);
    assert_eq!(update.len(), 1, "a window update");
    let seg = parse(&update[0], B.0, A.0);
    assert_eq!(seg.flags, TcpFlags::ACK);
    assert_eq!(u32::from(seg.window_len) << 7, 16 * 1024, "scaled by 7");
}

#[test]
fn a_reset_after_both_fins_reports_no_error_and_time_wait_ignores_it() {
    let (mut a, mut b) = pair();
    a.close();
    deliver(&mut a, &mut b, 0);
    deliver(&mut b, &mut a, 0);
    b.close();
    deliver(&mut b, &mut a, 0);
    assert_eq!((a.state(), b.state()), (State::TimeWait, State::LastAck));
    // RFC 1337: TIME-WAIT outlives a RST (here one at exactly RCV.NXT).
    let rst = TcpRepr::new(B.1, A.1, TcpFlags::RST, a.rcv_nxt, SeqNumber(0), 0);
    a.on_segment(0, &rst);
    assert_eq!((a.state(), a.error()), (State::TimeWait, None));
    // LAST-ACK: closed, and nothing to report (both streams ended).
    let rst = TcpRepr::new(A.1, B.1, TcpFlags::RST, b.rcv_nxt, SeqNumber(0), 0);
    b.on_segment(0, &rst);
    assert_eq!((b.state(), b.error()), (State::Closed, None));
}

#[test]
fn no_window_update_goes_after_the_peers_fin() {
    // The peer sent its last bytes and FIN, and may be gone once we acknowledge them: a
    // window update then would only draw its RST.
    let (mut a, mut b) = pair();
    a.send(&[1u8; 12 * 1024]).unwrap();
    a.close();
    run_pipe(
        &mut a,
        &mut b,
        MS,
        |_| false,
        |a, _| a.state() == State::FinWait2,
    );
    assert!(output(&mut b, 2 * MS).is_empty());
    assert_eq!(b.recv(usize::MAX).len(), 12 * 1024);
    assert!(output(&mut b, 3 * MS).is_empty());
}

#[test]
fn fragmentation_needed_shrinks_the_segments_and_resends_at_once() {
    let (mut a, mut b) = pair_with(ConnConfig::default());
    let _ = &mut b;
    a.send(&[9u8; 20_000]).unwrap();
    let flight = output(&mut a, MS);
    let first = parse(&flight[0], A.0, B.0);
    assert_eq!(first.payload.len(), 1448, "1460 less the timestamps");
    let cwnd = a.cc.cwnd();
    // Not in flight (already acknowledged, or never sent): ignored.
    assert!(!a.on_packet_too_big(a.snd_una - 1, 1280));
    assert!(!a.on_packet_too_big(a.snd_max, 1280));
    // A router says 1280: the flight goes again from SND.UNA, in 1228-byte pieces, now.
    assert!(a.on_packet_too_big(first.seq_number, 1280));
    assert_eq!(a.send_mss(), 1240);
    let again = output(&mut a, 2 * MS);
    let seg = parse(&again[0], A.0, B.0);
    assert_eq!((seg.seq_number, seg.payload.len()), (a.snd_una, 1228));
    assert!(
        again
            .iter()
            .all(|s| parse(s, A.0, B.0).payload.len() <= 1228)
    );
    assert_eq!(a.cc.cwnd(), cwnd, "no congestion response");
    // Larger than what we send, or a forged tiny MTU: never above, never below 552.
    assert!(!a.on_packet_too_big(a.snd_una, 1400));
    assert!(a.on_packet_too_big(a.snd_una, 100));
    assert_eq!(a.send_mss(), 512);
}

#[test]
fn a_duplicate_is_reported_in_a_d_sack_block() {
    let (_, mut b, segs, per) = segments_sent(4);
    let start = parse(&segs[0], A.0, B.0).seq_number;
    // Segment 0 arrives twice (a needless retransmission): the second draws a D-SACK.
    b.on_segment(MS, &parse(&segs[0], A.0, B.0));
    let _ = output(&mut b, MS);
    b.on_segment(MS, &parse(&segs[0], A.0, B.0));
    let ack = output(&mut b, MS);
    let ack = parse(&ack[0], B.0, A.0);
    assert_eq!(ack.ack_number, start + per);
    assert_eq!(ack.sack_ranges[..2], [Some((start, start + per)), None]);
    // Segment 2 arrives twice out of order: the D-SACK, then the block holding it.
    b.on_segment(MS, &parse(&segs[2], A.0, B.0));
    let _ = output(&mut b, MS);
    b.on_segment(MS, &parse(&segs[2], A.0, B.0));
    let ack = output(&mut b, MS);
    let ack = parse(&ack[0], B.0, A.0);
    let block = (start + 2 * per, start + 3 * per);
    assert_eq!(ack.sack_ranges[..3], [Some(block), Some(block), None]);
    // Reported once: the next ACK has only the ordinary block.
    b.on_segment(MS, &parse(&segs[3], A.0, B.0));
    let ack = output(&mut b, MS);
    let ack = parse(&ack[0], B.0, A.0);
    assert_eq!(
        ack.sack_ranges[..2],
        [Some((start + 2 * per, start + 4 * per)), None]
    );
}

#[test]
fn a_zero_window_is_probed_until_a_lost_window_update_gets_through() {
    // B's 16 KiB fill and its application reads nothing: A stops at B's zero window.
    let (mut a, mut b) = pair();
    let data: Vec<u8> = (0..48 * 1024).map(|i| (i % 251) as u8).collect();
    let mut queued = a.send(&data).unwrap();
    let mut now = run_pipe(&mut a, &mut b, MS, |_| false, |a, _| a.snd_wnd == 0);
    while deliver(&mut a, &mut b, now) + deliver(&mut b, &mut a, now) > 0 {}
    assert_eq!(a.snd_wnd, 0);
    // The persist timer sends one byte at SND.UNA, with backoff; B takes it if the rounding
    // of its scaled window hid a little room, else refuses it, and tells its window again.
    // A keeps probing: no RTO gives up on a receiver that answers.
    // (At most 127 bytes hide so with a window scale of 7; 200 probes fill them.)
    let mut probes = Vec::new();
    for _ in 0..200 {
        let una = a.snd_una;
        now = a.poll_at().expect("the persist timer runs");
        a.on_timer(now);
        let out = output(&mut a, now);
        assert_eq!(out.len(), 1);
        let probe = parse(&out[0], A.0, B.0);
        assert_eq!((probe.seq_number, probe.payload.len()), (una, 1));
        probes.push(now);
        b.on_segment(now, &probe);
        let mut answer = output(&mut b, now);
        if answer.is_empty() {
            // B took the byte; its ACK is a delayed one.
            now = b.delack_at.unwrap();
            b.on_timer(now);
            answer = output(&mut b, now);
        }
        let answer = parse(&answer[0], B.0, A.0);
        assert!(answer.ack_number == una || answer.ack_number == una + 1);
        assert_eq!(answer.window_len, 0);
        a.on_segment(now, &answer);
        assert!(output(&mut a, now).is_empty());
        assert_eq!(a.timer().map(|(kind, ..)| kind), Some("persist"));
        // A's own ACK after its probe stays inside B's closed window (at B's RCV.NXT).
        assert_eq!(a.acceptable_seq(), answer.ack_number);
    }
    assert!(probes[2] - probes[1] > probes[1] - probes[0], "backed off");
    assert_eq!(b.recv_queue(), 16 * 1024, "B is full, and still answers");
    assert_eq!(a.state(), State::Established);
    // B's application reads everything; the window update is lost. The next probe draws it,
    // and the rest of the data follows.
    let mut got = b.recv(usize::MAX);
    let lost = output(&mut b, now);
    assert!(parse(&lost[0], B.0, A.0).window_len > 0);
    let reopened = a.poll_at().unwrap();
    for _ in 0..10_000 {
        if got.len() == data.len() {
            break;
        }
        now = [a.poll_at(), b.poll_at()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + MS)
            .max(now + MS);
        a.on_timer(now);
        b.on_timer(now);
        while deliver(&mut a, &mut b, now) + deliver(&mut b, &mut a, now) > 0 {}
        got.extend(b.recv(usize::MAX));
        queued += a.send(&data[queued..]).unwrap();
    }
    assert!(now >= reopened, "only the probe told A of the room");
    assert_eq!(got, data);
}

#[test]
fn an_old_segment_with_a_new_ack_brings_the_window_of_that_ack() {
    let (mut a, mut b) = pair_past_quickacks();
    let per = a.payload_per_segment();
    // B sends two segments; the first is lost, A holds the second.
    b.send(&vec![8u8; 2 * per]).unwrap();
    let bsegs = output(&mut b, MS);
    assert_eq!(bsegs.len(), 2);
    a.on_segment(MS, &parse(&bsegs[1], B.0, A.0));
    // A sends two segments; B takes the first and ACKs it in a segment newer than both of
    // its own (SND.WL1 moves past the lost one).
    a.send(&vec![3u8; 2 * per]).unwrap();
    let asegs: Vec<_> = output(&mut a, 2 * MS)
        .into_iter()
        .filter(|s| !parse(s, A.0, B.0).payload.is_empty())
        .collect();
    assert_eq!(asegs.len(), 2);
    let start = parse(&asegs[0], A.0, B.0).seq_number;
    b.on_segment(2 * MS, &parse(&asegs[0], A.0, B.0));
    let t = b.poll_at().unwrap();
    b.on_timer(t);
    let acks = output(&mut b, t);
    a.on_segment(t, &parse(&acks[0], B.0, A.0));
    assert_eq!(a.snd_una, start + per);
    assert!(a.snd_wnd > 0);
    // B resends the lost segment: its ACK is new (both of A's) and its window, written as it
    // was sent, is closed. That window is B's now; the older, open one must not slide along.
    let mut resent = parse(&bsegs[0], B.0, A.0);
    resent.ack_number = start + 2 * per;
    resent.window_len = 0;
    a.on_segment(t + MS, &resent);
    assert_eq!((a.snd_una, a.snd_wnd), (start + 2 * per, 0));
    a.send(&vec![4u8; per]).unwrap();
    for s in output(&mut a, t + MS) {
        let s = parse(&s, A.0, B.0);
        assert!(s.payload.is_empty(), "data beyond B's closed window");
        assert_eq!(s.seq_number, start + 2 * per);
    }
}

#[test]
fn in_a_window_closed_under_data_in_flight_the_timeout_probes_and_acks_stay_inside() {
    let (mut a, mut b) = pair_past_quickacks();
    let per = a.payload_per_segment();
    a.send(&vec![3u8; 2 * per]).unwrap();
    let segs = output(&mut a, MS);
    assert_eq!(segs.len(), 2);
    let start = parse(&segs[0], A.0, B.0).seq_number;
    // B takes the first segment only and, its application asleep, closes its window on the
    // second (a receiver may shrink its window; RFC 9293 §3.8.6.2.2 only discourages it).
    b.on_segment(MS, &parse(&segs[0], A.0, B.0));
    let t = b.poll_at().unwrap();
    b.on_timer(t);
    let acks = output(&mut b, t);
    let mut ack = parse(&acks[0], B.0, A.0);
    assert_eq!(ack.ack_number, start + per);
    ack.window_len = 0;
    a.on_segment(41 * MS, &ack);
    assert_eq!((a.snd_una, a.snd_wnd), (start + per, 0));
    // B has something to say; A's ACK of it starts at SND.UNA, not past the closed window.
    b.send(b"reply").unwrap();
    let reply = output(&mut b, 42 * MS);
    let mut reply = parse(&reply[0], B.0, A.0);
    reply.window_len = 0;
    a.on_segment(42 * MS, &reply);
    let t = a.delack_at.unwrap();
    a.on_timer(t);
    let out = output(&mut a, t);
    let our_ack = parse(&out[0], A.0, B.0);
    assert_eq!(our_ack.seq_number, start + per);
    // The retransmission timeout in the closed window sends the one-byte probe at SND.UNA.
    let t = a.retransmit_at.unwrap();
    a.on_timer(t);
    let out = output(&mut a, t);
    assert_eq!(out.len(), 1, "a probe");
    let probe = parse(&out[0], A.0, B.0);
    assert_eq!((probe.seq_number, probe.payload.len()), (start + per, 1));
}

/// A (at 10.0.2.15) brought to `state` with B, a synchronized state reached by closes.
fn a_in(state: State) -> Conn {
    let (mut a, mut b) = pair();
    match state {
        State::Established => {}
        State::FinWait1 => {
            a.close();
            output(&mut a, 0);
        }
        State::FinWait2 => {
            a.close();
            deliver(&mut a, &mut b, 0);
            deliver(&mut b, &mut a, 0);
        }
        State::CloseWait => {
            b.close();
            deliver(&mut b, &mut a, 0);
        }
        State::Closing => {
            a.close();
            b.close();
            output(&mut a, 0);
            deliver(&mut b, &mut a, 0);
        }
        State::LastAck => {
            b.close();
            deliver(&mut b, &mut a, 0);
            a.close();
            output(&mut a, 0);
        }
        State::TimeWait => {
            a.close();
            deliver(&mut a, &mut b, 0);
            b.close();
            deliver(&mut b, &mut a, 0);
        }
        s => unreachable!("{s:?} is not reached by closing"),
    }
    assert_eq!(a.state(), state);
    a
}

#[test]
fn a_reset_in_every_state() {
    let rst = |seq: SeqNumber| TcpRepr::new(B.1, A.1, TcpFlags::RST, seq, SeqNumber(0), 0);
    // SYN-SENT: only a RST acknowledging our SYN counts (rst_to_our_syn_means_refused).
    // SYN-RECEIVED: the peer refused our SYN-ACK (RFC 9293 §3.10.7.4).
    let syn = from_b(TcpFlags::SYN, 7000, 0, b"");
    let mut c = Conn::accept(A, B, &syn, SeqNumber(300), ConnConfig::default());
    output(&mut c, 0);
    c.on_segment(1, &rst(SeqNumber(7001 + 100)));
    assert_eq!(
        c.state(),
        State::SynReceived,
        "in the window, not at RCV.NXT"
    );
    c.on_segment(1, &rst(SeqNumber(7001)));
    assert_eq!(
        (c.state(), c.error()),
        (State::Closed, Some(ConnError::Refused))
    );
    // The synchronized states: a RST in the window but not at RCV.NXT draws a challenge ACK
    // (RFC 5961 §3.2) and changes nothing; one exactly at RCV.NXT ends the connection, with a
    // reset error while our side still expected data, with none once both streams ended, and
    // not at all in TIME-WAIT (RFC 1337).
    let reset = Some(ConnError::Reset);
    for (state, after) in [
        (State::Established, (State::Closed, reset)),
        (State::FinWait1, (State::Closed, reset)),
        (State::FinWait2, (State::Closed, reset)),
        (State::CloseWait, (State::Closed, reset)),
        (State::Closing, (State::Closed, None)),
        (State::LastAck, (State::Closed, None)),
        (State::TimeWait, (State::TimeWait, None)),
    ] {
        let mut a = a_in(state);
        let rcv_nxt = a.rcv_nxt;
        a.on_segment(MS, &rst(rcv_nxt + 100));
        assert_eq!(a.state(), state);
        if state != State::TimeWait {
            let (flags, _, ack, _) = one(&mut a, MS);
            assert_eq!((flags, ack), (TcpFlags::ACK, rcv_nxt.0), "{state:?}");
        }
        a.on_segment(MS, &rst(rcv_nxt));
        assert_eq!((a.state(), a.error()), after, "{state:?}");
        if after.0 == State::Closed {
            assert!(
                output(&mut a, MS).is_empty(),
                "{state:?}: no answer to a RST"
            );
        }
    }
}

#[test]
fn one_poll_sends_at_most_a_burst_and_the_acks_release_the_next() {
    let (mut a, mut b) = pair_with(ConnConfig {
        send_buffer: 16 << 20,
        recv_buffer: 8 << 20,
        recv_buffer_max: 8 << 20,
        ..ConnConfig::default()
    });
    // Grow the congestion window past a burst: a clean stream never leaves slow start, and
    // the window grows while more than half of it is in flight (RFC 7661), here up to
    // twice the burst a poll sends.
    assert_eq!(stream(&mut a, &mut b, 24 << 20, usize::MAX), 24 << 20);
    let now = 20 * S;
    for _ in 0..4 {
        deliver(&mut a, &mut b, now);
        deliver(&mut b, &mut a, now);
    }
    // Room for a burst and a quarter: what holds the rest back below is the burst, not it.
    let room = (a.cc.cwnd() as usize).min(a.snd_wnd as usize);
    assert!(
        room > BURST_MAX + BURST_MAX / 4,
        "windows grew to {room}: cwnd {} wnd {}",
        a.cc.cwnd(),
        a.snd_wnd
    );
    a.send(&vec![7u8; 4 * BURST_MAX]).unwrap();
    let payload =
        |segs: &[Vec<u8>]| -> usize { segs.iter().map(|s| parse(s, A.0, B.0).payload.len()).sum() };
    let first = output(&mut a, now);
    let sent = payload(&first);
    assert!(sent <= BURST_MAX && sent > BURST_MAX - 2 * a.payload_per_segment());
    assert!(output(&mut a, now).is_empty(), "the rest waits for ACKs");
    for s in &first {
        b.on_segment(now + MS, &parse(s, A.0, B.0));
    }
    b.recv(usize::MAX);
    deliver(&mut b, &mut a, now + MS);
    assert!(payload(&output(&mut a, now + MS)) > BURST_MAX / 2);
}

/// What `conn` sends now with super-segments of up to `gso_max` bytes, each cut back into the
/// segments it stands for (as the host's GSO does: PSH and FIN on the last piece only), with
/// how many super-segments there were.
fn output_cut(conn: &mut Conn, now: Instant, gso_max: usize) -> (Vec<Vec<u8>>, usize) {
    let (src, dst) = (conn.local.0, conn.remote.0);
    let (mut out, mut supers) = (Vec::new(), 0);
    conn.poll_output(now, gso_max, &mut |seg, held, size| {
        let data: Vec<u8> = (seg.payload.iter().copied())
            .chain(
                held.into_iter()
                    .flat_map(|h| (h.offset..h.offset + h.len as u64).map(held_byte)),
            )
            .collect();
        if size == 0 {
            out.push(build::tcp(
                &TcpRepr {
                    payload: &data,
                    ..*seg
                },
                src,
                dst,
            ));
            return;
        }
        supers += 1;
        assert!(
            data.len() > size,
            "a super-segment stands for several segments"
        );
        let pieces = data.chunks(size).count();
        for (i, piece) in data.chunks(size).enumerate() {
            let mut flags = seg.flags;
            if i + 1 < pieces {
                flags = TcpFlags(flags.0 & !(TcpFlags::PSH.0 | TcpFlags::FIN.0));
            }
            let piece = TcpRepr {
                flags,
                seq_number: seg.seq_number + i * size,
                payload: piece,
                ..*seg
            };
            out.push(build::tcp(&piece, src, dst));
        }
    });
    (out, supers)
}

#[test]
fn super_segments_carry_exactly_the_segments_they_stand_for() {
    let (mut a, mut b) = pair_with(ConnConfig {
        recv_buffer: 1 << 20,
        ..ConnConfig::default()
    });
    // Bytes of its own, then held ones, then a FIN: super-segments straddle the two kinds,
    // the flight ends in a short segment, and the last flight carries the FIN.
    assert_eq!(a.send_vec(vec![0x41; 3000]).unwrap(), 3000);
    assert_eq!(a.wrote(200_000).unwrap(), 200_000);
    let mut gso = a.clone();
    let mut now = 10 * MS;
    let (mut rounds, mut supers_seen) = (0, 0);
    loop {
        let plain = output(&mut a, now);
        let (cut, supers) = output_cut(&mut gso, now, 65535);
        assert_eq!(
            cut, plain,
            "round {rounds}: the same segments, byte for byte"
        );
        assert_eq!((gso.poll_at(), gso.state()), (a.poll_at(), a.state()));
        supers_seen += supers;
        if plain.is_empty() {
            break;
        }
        // The peer takes the flight in two halves a millisecond apart and acknowledges each:
        // the first ACK is partial (the RTT is timed on the first segment either way); the
        // ACKs open the window for the next flight, on both.
        let mut acks = Vec::new();
        for half in plain.chunks(plain.len().div_ceil(2)) {
            for seg in half {
                b.on_segment(now, &parse(seg, A.0, B.0));
            }
            b.recv(usize::MAX);
            now += MS;
            b.on_timer(now);
            acks.extend(output(&mut b, now).into_iter().map(|ack| (now, ack)));
        }
        assert!(acks.len() >= 2 || plain.len() < 2, "partial ACKs");
        for (at, ack) in &acks {
            a.on_segment(*at, &parse(ack, B.0, A.0));
            gso.on_segment(*at, &parse(ack, B.0, A.0));
        }
        assert_eq!(gso.rto().srtt(), a.rto().srtt(), "the same RTT samples");
        if rounds == 3 {
            a.close();
            gso.close();
        }
        rounds += 1;
        assert!(rounds < 100, "the transfer never ended");
    }
    assert!(
        supers_seen >= 5,
        "bulk data went as super-segments ({supers_seen})"
    );
    assert_eq!((a.state(), gso.state()), (State::FinWait2, State::FinWait2));
}

#[test]
fn an_out_of_order_entry_at_or_below_a_sequence_number_is_found_across_the_wrap() {
    let keys = [5, 1000, u32::MAX - 10, (1 << 31) + 7];
    let queue: BTreeMap<u32, ()> = keys.into_iter().map(|k| (k, ())).collect();
    for seq in [
        0,
        4,
        5,
        999,
        1000,
        1 << 31,
        (1 << 31) + 6,
        u32::MAX - 11,
        u32::MAX,
    ] {
        let seq = SeqNumber(seq);
        let behind = keys.iter().any(|&k| SeqNumber(k) <= seq);
        match first_at_or_below(&queue, seq) {
            Some(k) => assert!(keys.contains(&k) && SeqNumber(k) <= seq, "{seq:?}: {k}"),
            None => assert!(!behind, "{seq:?}: one is at or below"),
        }
    }
    let ahead: BTreeMap<u32, ()> = [(100, ()), (1 << 30, ())].into_iter().collect();
    assert_eq!(first_at_or_below(&ahead, SeqNumber(99)), None);
    assert_eq!(first_at_or_below(&ahead, SeqNumber(100)), Some(100));
}
