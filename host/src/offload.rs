//! Segmentation offloads in the host, just above the driver (DESIGN.md §2: "poll(budget 64) →
//! GRO → deliver batch"). Every layer then handles a super-segment of up to 64 KiB once instead
//! of each of its 45 frames: fewer headers to parse and build, fewer entries in each batch.
//!
//! - GSO ([`gso_cut`]): the TCP component sends a super-segment with its segment size (WIT's
//!   `segment-size`); here it is cut into frames of that many payload bytes, each with its own
//!   IPv4 identification, length and checksum, sequence number and TCP checksum; FIN and PSH
//!   stay on the last frame, CWR on the first (as Linux's tcp_gso_segment).
//! - GRO ([`Gro`]): frames of one TCP flow that the NIC verified, arriving in order in one NAPI
//!   poll, with the same headers but for what each segment must differ in (IPv4 identification,
//!   length, checksum; TCP sequence number and checksum), merge into one super-frame. A PSH, a
//!   short segment, or any other frame ends the run (Linux's tcp_gro_receive flushes on the
//!   same). The merged frame's TCP checksum is not recomputed: a non-zero segment size tells
//!   the layers above that the host verified the checksums (WIT's `segment-size`), which is
//!   also how a single verified segment travels (its segment size is its length).

use netstack_wire::{Batch, Ipv4Packet, SeqNumber, TcpFlags, TcpPacket};

/// Ethernet II header length (GRO and GSO handle untagged frames only).
const ETH_LEN: usize = 14;
/// The IPv4 EtherType.
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
/// An IPv4 header without options: version 4, IHL 5.
const VER_IHL_PLAIN: u8 = 0x45;
/// IPv4 protocol number of TCP.
const PROTO_TCP: u8 = 6;
/// The largest IPv4 total length.
const IP_MAX: usize = 65535;
/// Where the TCP header starts (after an IPv4 header without options, the only kind handled).
const TCP_AT: usize = ETH_LEN + 20;

/// The IPv4 and TCP headers of an untagged Ethernet frame carrying a whole TCP segment over
/// IPv4 without options: (TCP header offset, payload offset, frame end).
fn tcp_span(frame: &[u8]) -> Option<(usize, usize, usize)> {
    if frame.len() < ETH_LEN + 40 || frame[12..14] != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(&frame[ETH_LEN..]).ok()?;
    if frame[ETH_LEN] != VER_IHL_PLAIN
        || frame[ETH_LEN + 9] != PROTO_TCP
        || ip.more_frags()
        || ip.frag_offset() != 0
    {
        return None;
    }
    let end = ETH_LEN + usize::from(ip.total_len());
    let tcp = TcpPacket::new_checked(&frame[TCP_AT..end]).ok()?;
    Some((TCP_AT, TCP_AT + tcp.header_len(), end))
}

/// Cuts one Ethernet frame holding a TCP super-segment into frames of `mss` payload bytes
/// each, pushed to `out` with complete checksums. A frame that is not one (or `mss` is 0)
/// goes as it is.
pub fn gso_cut(frame: &[u8], mss: u16, out: &mut Batch) {
    match tcp_span(frame) {
        Some((_, data_at, end)) if mss != 0 => {
            gso_cut_parts(&frame[..data_at], &[&frame[data_at..end]], mss, out);
        }
        _ => out.push(frame),
    }
}

/// [`gso_cut`] for a super-segment given apart: `headers` (Ethernet without a tag, IPv4
/// without options, TCP) and the TCP payload in `pieces` (the bytes TCP had, then those the
/// host holds), which are copied once, into the frames. Every frame gets its checksums, a
/// super-segment of one segment too (its TCP checksum field holds only the pseudo-header sum,
/// WIT's `segment-size`). Returns the number of frames made.
pub fn gso_cut_parts(headers: &[u8], pieces: &[&[u8]], mss: u16, out: &mut Batch) -> usize {
    let (mss, data_at, tcp_at) = (usize::from(mss), headers.len(), TCP_AT);
    let first = TcpPacket::new_unchecked(&headers[tcp_at..]);
    let (seq, flags) = (first.seq_number(), first.flags());
    let ip = Ipv4Packet::new_unchecked(&headers[ETH_LEN..]);
    let (ident, src, dst) = (ip.ident(), ip.src_addr(), ip.dst_addr());
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let frames = total.div_ceil(mss).max(1);
    for i in 0..frames {
        let (start, len) = (i * mss, mss.min(total - (i * mss).min(total)));
        let last = i + 1 == frames;
        let mut f = flags;
        if !last {
            f = TcpFlags(f.0 & !(TcpFlags::FIN.0 | TcpFlags::PSH.0));
        }
        if i > 0 {
            f = TcpFlags(f.0 & !TcpFlags::CWR.0);
        }
        let data = within(pieces, start, len);
        out.push_gathered(std::iter::once(headers).chain(data), |b| {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[ETH_LEN..]);
            ip.set_total_len((data_at - ETH_LEN + len) as u16);
            ip.set_ident(ident.wrapping_add(i as u16));
            ip.fill_checksum();
            let mut tcp = TcpPacket::new_unchecked(&mut b[tcp_at..]);
            tcp.set_seq_number(seq + i * mss);
            tcp.set_flags(f);
            tcp.fill_checksum(src, dst);
        });
    }
    frames
}

/// The parts of `pieces` (read as one run of bytes) that make up its `len` bytes from `start`.
fn within<'a>(pieces: &[&'a [u8]], start: usize, len: usize) -> impl Iterator<Item = &'a [u8]> {
    let mut at = 0;
    pieces.iter().filter_map(move |p| {
        let (p_start, p_end) = (at, at + p.len());
        at = p_end;
        let (from, to) = (start.max(p_start), (start + len).min(p_end));
        (from < to).then(|| &p[from - p_start..to - p_start])
    })
}

/// The length of the TCP header at the start of `segment`, if it is whole and well-formed.
pub fn tcp_header_len(segment: &[u8]) -> Option<usize> {
    let len = usize::from(*segment.get(12)? >> 4) * 4;
    (20..=segment.len()).contains(&len).then_some(len)
}

/// The IPv4 header length [`gso_cut_parts`] handles (no options).
pub const IPV4_PLAIN_LEN: usize = TCP_AT - ETH_LEN;

/// The Ethernet header length [`gso_cut_parts`] handles (no 802.1Q tag).
pub const ETHERNET_LEN: usize = ETH_LEN;

/// An open run of mergeable frames: consecutive frames of the batch being merged.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Index of its first frame in the input, and how many.
    first: usize,
    count: usize,
    /// Where its payload starts in each frame (all have the first one's headers).
    data_at: usize,
    /// The segment size: the first frame's payload length.
    mss: usize,
    /// Payload bytes so far, and the sequence number the next frame must have.
    bytes: usize,
    next_seq: SeqNumber,
    /// The last frame was shorter than `mss`, or had PSH: nothing more joins.
    closed: bool,
}

/// Receive offload over one NAPI poll's frames: [`Gro::push`] each frame with whether the NIC
/// verified its checksums, then [`Gro::finish`] gives the merged batch and each frame's segment
/// size.
#[derive(Debug, Default)]
pub struct Gro {
    out: Batch,
    sizes: Vec<u16>,
    run: Option<Run>,
    /// Frames merged into another (counted for `stats`).
    merged: u64,
}

impl Gro {
    /// A merger with nothing in it.
    pub fn new() -> Gro {
        Gro::default()
    }

    /// Merges `frames` (one poll's worth, in order); `verified[i]` says whether the NIC checked
    /// frame i's IPv4 and TCP checksums.
    pub fn merge<'a>(&mut self, frames: impl IntoIterator<Item = &'a [u8]>, verified: &[bool]) {
        let frames: Vec<&[u8]> = frames.into_iter().collect();
        // The merged frames take at most the room of the frames: one allocation, no growth.
        let bytes = frames.iter().map(|f| f.len()).sum();
        self.out.reserve(bytes, frames.len());
        for (i, frame) in frames.iter().enumerate() {
            let ok = verified.get(i).copied().unwrap_or(false);
            if let Some(run) = &mut self.run
                && !run.closed
                && ok
                && joins(frames[run.first], run, frame)
            {
                let len = frame.len() - run.data_at;
                run.count += 1;
                run.bytes += len;
                run.next_seq += len;
                let psh = TcpPacket::new_unchecked(&frame[TCP_AT..])
                    .flags()
                    .contains(TcpFlags::PSH);
                run.closed = len < run.mss || psh;
                continue;
            }
            self.close(&frames);
            self.open(&frames, i, ok);
        }
        self.close(&frames);
    }

    /// Starts a run at frame `i` if it can merge, or passes it on as it is.
    fn open(&mut self, frames: &[&[u8]], i: usize, verified: bool) {
        let frame = frames[i];
        let span = tcp_span(frame).filter(|&(_, data_at, end)| {
            verified && end == frame.len() && data_at < end && only_ack_psh(frame)
        });
        let Some((_, data_at, end)) = span else {
            self.out.push(frame);
            self.sizes.push(0);
            return;
        };
        let tcp = TcpPacket::new_unchecked(&frame[TCP_AT..]);
        let len = end - data_at;
        self.run = Some(Run {
            first: i,
            count: 1,
            data_at,
            mss: len,
            bytes: len,
            next_seq: tcp.seq_number() + len,
            closed: tcp.flags().contains(TcpFlags::PSH),
        });
    }

    /// Emits the open run as one frame: the first frame's headers, every payload, the IPv4
    /// length and checksum and the PSH bit brought up to date.
    fn close(&mut self, frames: &[&[u8]]) {
        let Some(run) = self.run.take() else { return };
        let first = frames[run.first];
        let members = &frames[run.first..run.first + run.count];
        let psh = members.iter().any(|f| {
            TcpPacket::new_unchecked(&f[TCP_AT..])
                .flags()
                .contains(TcpFlags::PSH)
        });
        let tcp_at = TCP_AT;
        let payloads = members.iter().map(|f| &f[run.data_at..]);
        let pieces = std::iter::once(&first[..run.data_at]).chain(payloads);
        self.out.push_gathered(pieces, |b| {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[ETH_LEN..]);
            ip.set_total_len((run.data_at - ETH_LEN + run.bytes) as u16);
            ip.fill_checksum();
            if psh {
                let mut tcp = TcpPacket::new_unchecked(&mut b[tcp_at..]);
                let f = tcp.flags();
                tcp.set_flags(f | TcpFlags::PSH);
            }
        });
        self.sizes.push(run.mss as u16);
        self.merged += run.count as u64 - 1;
    }

    /// The merged frames and their segment sizes (0: not a verified TCP segment); the merger
    /// is empty again.
    pub fn finish(&mut self) -> (Batch, Vec<u16>) {
        (
            std::mem::take(&mut self.out),
            std::mem::take(&mut self.sizes),
        )
    }

    /// Frames merged into others so far.
    pub fn merged(&self) -> u64 {
        self.merged
    }
}

/// Only ACK, or ACK and PSH, are set: anything else (SYN, FIN, RST, URG, ECN) is not merged.
fn only_ack_psh(frame: &[u8]) -> bool {
    let tcp = TcpPacket::new_unchecked(&frame[TCP_AT..]);
    let f = tcp.flags().0 & !TcpFlags::PSH.0;
    f == TcpFlags::ACK.0
}

/// Whether `frame` continues `run` (whose first frame is `first`): same Ethernet header, the
/// same IPv4 header but for identification, length and checksum, the same TCP header but for
/// sequence number, checksum and PSH, the next sequence number, at most a segment of payload,
/// and the merged packet within IPv4's length limit.
fn joins(first: &[u8], run: &Run, frame: &[u8]) -> bool {
    let Some((_, data_at, end)) = tcp_span(frame) else {
        return false;
    };
    if data_at != run.data_at || end != frame.len() || data_at == end {
        return false;
    }
    let len = end - data_at;
    let tcp_at = TCP_AT;
    let ip = ETH_LEN;
    let same = |r: core::ops::Range<usize>| first[r.clone()] == frame[r];
    len <= run.mss
        && run.data_at - ETH_LEN + run.bytes + len <= IP_MAX
        && same(0..ip)
        // Version/IHL and TOS; flags, fragment offset, TTL and protocol; the addresses.
        && same(ip..ip + 2)
        && same(ip + 6..ip + 10)
        && same(ip + 12..ip + 20)
        // Ports; acknowledgment number and data offset; window and urgent pointer; options.
        && same(tcp_at..tcp_at + 4)
        && same(tcp_at + 8..tcp_at + 13)
        && same(tcp_at + 14..tcp_at + 16)
        && same(tcp_at + 18..data_at)
        && only_ack_psh(frame)
        && TcpPacket::new_unchecked(&frame[tcp_at..]).seq_number() == run.next_seq
}

#[cfg(test)]
mod tests {
    use super::*;
    use netstack_wire::{
        IpProtocol, Ipv4Address, Ipv4Repr, TcpRepr, TcpTimestamp, build, checksum,
    };

    const A: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
    const B: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);

    /// An Ethernet frame with a TCP segment from A to B carrying `payload` at `seq`.
    fn frame(seq: u32, flags: TcpFlags, payload: &[u8], ident: u16) -> Vec<u8> {
        let mut tcp = TcpRepr::new(40000, 80, flags, SeqNumber(seq), SeqNumber(9), 500);
        tcp.timestamp = Some(TcpTimestamp { tsval: 7, tsecr: 3 });
        tcp.payload = payload;
        let segment = build::tcp(&tcp, A, B);
        let ip = build::ipv4_with(
            &Ipv4Repr {
                src_addr: A,
                dst_addr: B,
                protocol: IpProtocol::Tcp,
                payload_len: segment.len(),
                ttl: 64,
                tos: 0,
                ident,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
            },
            &segment,
        );
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
        f.extend_from_slice(&ip);
        f
    }

    /// Whether the IPv4 and TCP checksums of a frame verify.
    fn checksums_ok(frame: &[u8]) -> bool {
        let Some((tcp_at, _, end)) = tcp_span(frame) else {
            return false;
        };
        let ip = Ipv4Packet::new_unchecked(&frame[ETH_LEN..]);
        let tcp = TcpPacket::new_unchecked(&frame[tcp_at..end]);
        checksum::verify(&frame[ETH_LEN..tcp_at])
            && tcp.verify_checksum(ip.src_addr(), ip.dst_addr())
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    const ACK: TcpFlags = TcpFlags::ACK;
    const ACK_PSH: TcpFlags = TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0);

    #[test]
    fn gso_cuts_a_super_segment_into_the_frames_tcp_would_have_sent() {
        let payload = data(4000);
        let mut out = Batch::new();
        gso_cut(&frame(1000, ACK_PSH, &payload, 50), 1448, &mut out);
        let expected = [
            frame(1000, ACK, &payload[..1448], 50),
            frame(2448, ACK, &payload[1448..2896], 51),
            frame(3896, ACK_PSH, &payload[2896..], 52),
        ];
        let got: Vec<&[u8]> = out.iter().collect();
        assert_eq!(got.len(), 3);
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(*g, &e[..]);
            assert!(checksums_ok(g));
        }
        // A super-segment of one segment: as it is, its checksum completed (here it holds
        // only the pseudo-header sum, as TCP leaves it).
        let small = frame(1, ACK, &payload[..100], 1);
        let mut partial = small.clone();
        partial[TCP_AT + 16..TCP_AT + 18].copy_from_slice(&[0x12, 0x34]);
        let mut out = Batch::new();
        gso_cut(&partial, 1448, &mut out);
        assert_eq!(out.iter().collect::<Vec<_>>(), [&small[..]]);
        // Given apart (headers, payload), the same frames.
        let whole = frame(1000, ACK_PSH, &payload, 50);
        let data_at = whole.len() - payload.len();
        let mut apart = Batch::new();
        let made = gso_cut_parts(&whole[..data_at], &[&payload], 1448, &mut apart);
        assert_eq!(made, 3);
        assert_eq!(apart.iter().collect::<Vec<_>>(), got);
        // In pieces that the frames straddle (TCP's own bytes, then the host's in two), and
        // with empty pieces among them: the same frames.
        for cuts in [[0, 0], [1, 2], [1447, 1449], [100, 3999], [2896, 4000]] {
            let (a, rest) = payload.split_at(cuts[0]);
            let (b, c) = rest.split_at(cuts[1] - cuts[0]);
            let mut pieces = Batch::new();
            gso_cut_parts(&whole[..data_at], &[a, &[], b, c], 1448, &mut pieces);
            assert_eq!(pieces.iter().collect::<Vec<_>>(), got, "cut at {cuts:?}");
        }
        assert_eq!(tcp_header_len(&whole[TCP_AT..]), Some(data_at - TCP_AT));
        assert_eq!(tcp_header_len(&whole[TCP_AT..TCP_AT + 20]), None);
    }

    #[test]
    fn gro_merges_what_gso_cut_and_gso_cuts_it_back() {
        let payload = data(10_000);
        let mut cut = Batch::new();
        gso_cut(&frame(77, ACK_PSH, &payload, 9), 1448, &mut cut);
        let verified = vec![true; cut.len()];
        let mut gro = Gro::new();
        gro.merge(cut.iter(), &verified);
        let (merged, sizes) = gro.finish();
        assert_eq!(sizes, [1448]);
        assert_eq!(gro.merged(), 6);
        let m = merged.iter().next().unwrap();
        let ip = Ipv4Packet::new_checked(&m[ETH_LEN..]).unwrap();
        assert!(ip.verify_checksum());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(
            (tcp.seq_number(), tcp.payload()),
            (SeqNumber(77), &payload[..])
        );
        assert!(tcp.flags().contains(TcpFlags::PSH), "the last one's PSH");
        let mut again = Batch::new();
        gso_cut(m, 1448, &mut again);
        assert!(again.iter().eq(cut.iter()), "cut(merge(x)) == x");
    }

    #[test]
    fn gro_keeps_apart_what_must_stay_apart() {
        let p = data(1448);
        let verified = [true; 8];
        let merge = |frames: &[Vec<u8>], verified: &[bool]| {
            let mut gro = Gro::new();
            gro.merge(frames.iter().map(|f| &f[..]), verified);
            gro.finish().1
        };
        // A gap in the sequence, a FIN, a short segment then more, a PSH then more.
        let gap = [frame(0, ACK, &p, 1), frame(2000, ACK, &p, 2)];
        assert_eq!(merge(&gap, &verified), [1448, 1448]);
        let fin = [
            frame(0, ACK, &p, 1),
            frame(1448, ACK | TcpFlags::FIN, &p, 2),
        ];
        assert_eq!(merge(&fin, &verified), [1448, 0]);
        let short = [
            frame(0, ACK, &p, 1),
            frame(1448, ACK, &p[..100], 2),
            frame(1548, ACK, &p, 3),
        ];
        assert_eq!(
            merge(&short, &verified),
            [1448, 1448],
            "the short one ends a run"
        );
        let psh = [frame(0, ACK_PSH, &p, 1), frame(1448, ACK, &p, 2)];
        assert_eq!(merge(&psh, &verified), [1448, 1448]);
        // Not verified by the NIC: passed on as they are, segment size 0.
        let plain = [frame(0, ACK, &p, 1), frame(1448, ACK, &p, 2)];
        assert_eq!(merge(&plain, &[false, false]), [0, 0]);
        // Another window (or any header field but the ones that differ per segment).
        let mut other = frame(1448, ACK, &p, 2);
        other[ETH_LEN + 20 + 15] ^= 1;
        assert_eq!(
            merge(&[frame(0, ACK, &p, 1), other], &verified),
            [1448, 1448]
        );
        // A pure ACK is not merged and not marked.
        assert_eq!(merge(&[frame(0, ACK, &[], 1)], &verified), [0]);
    }

    #[test]
    fn gro_stops_at_ipv4s_length_limit() {
        let p = data(1448);
        let frames: Vec<Vec<u8>> = (0..50u32)
            .map(|i| frame(i * 1448, ACK, &p, i as u16))
            .collect();
        let mut gro = Gro::new();
        gro.merge(frames.iter().map(|f| &f[..]), &[true; 50]);
        let (merged, sizes) = gro.finish();
        assert_eq!(sizes, [1448, 1448]);
        let lens: Vec<usize> = merged.iter().map(|f| f.len() - ETH_LEN).collect();
        assert!(lens[0] <= IP_MAX && lens[0] + 1448 > IP_MAX, "{lens:?}");
    }
}
