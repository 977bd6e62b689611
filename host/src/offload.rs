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
//!   also how a single verified segment travels (its segment size is its length). GRO takes
//!   each frame as the driver takes it off the RX ring ([`RxSink`]), so a frame that joins a
//!   run has only its payload copied out, once, straight after the run's.

use netstack_wire::{Batch, Ipv4Packet, SeqNumber, TcpFlags, TcpPacket};
use nic_ftgmac100::access::DmaError;
use nic_ftgmac100::driver::{NAPI_BUDGET, RxFrame, RxSink};
use nic_ftgmac100::napi::POLLS_PER_BATCH;

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
    tcp_span_in(frame, frame.len())
}

/// [`tcp_span`] of a frame `len` bytes long from its first bytes, `head`, which must hold the
/// headers (a frame still in its DMA buffers is looked at this way before it is copied).
fn tcp_span_in(head: &[u8], len: usize) -> Option<(usize, usize, usize)> {
    if head.len() < TCP_AT + 20 || len < head.len() || head[12..14] != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(&head[ETH_LEN..]);
    if head[ETH_LEN] != VER_IHL_PLAIN
        || head[ETH_LEN + 9] != PROTO_TCP
        || ip.more_frags()
        || ip.frag_offset() != 0
    {
        return None;
    }
    let end = ETH_LEN + usize::from(ip.total_len());
    let tcp_len = usize::from(head[TCP_AT + 12] >> 4) * 4;
    if tcp_len < 20 || end > len || TCP_AT + tcp_len > end || TCP_AT + tcp_len > head.len() {
        return None;
    }
    Some((TCP_AT, TCP_AT + tcp_len, end))
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
    /// Where its packet starts in the output's bytes (the first frame, whole).
    start: usize,
    /// Frames in it.
    count: usize,
    /// Where its payload starts in each frame (all have the first one's headers).
    data_at: usize,
    /// The segment size: the first frame's payload length.
    mss: usize,
    /// Payload bytes so far, and the sequence number the next frame must have.
    bytes: usize,
    next_seq: SeqNumber,
    /// A frame after the first had PSH (the merged header gets it).
    psh: bool,
    /// The last frame was shorter than `mss`, or had PSH: nothing more joins.
    closed: bool,
}

/// The most of a frame GRO looks at before deciding where it goes: Ethernet, IPv4 without
/// options and TCP with the longest options take 94 bytes.
const GRO_HEAD: usize = 128;

/// Receive offload over the frames of a NAPI pass, offered one at a time in ring order (as the
/// driver takes them off the ring: [`RxSink`]): a frame that continues the open run has only
/// its payload copied, straight after the run's; any other starts a packet of its own.
/// [`Gro::finish`] gives the merged batch and each packet's segment size.
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

    /// Merges `frames` (in ring order, already copied out of the NIC);
    /// `verified[i]` says whether the NIC checked frame i's IPv4 and TCP checksums. The node
    /// offers frames from the driver instead ([`RxSink`]); the tests build runs from frames.
    #[cfg(test)]
    pub fn merge<'a>(&mut self, frames: impl IntoIterator<Item = &'a [u8]>, verified: &[bool]) {
        for (i, frame) in frames.into_iter().enumerate() {
            let ok = verified.get(i).copied().unwrap_or(false);
            let copy = |from: usize, out: &mut Vec<u8>| {
                out.extend_from_slice(&frame[from.min(frame.len())..]);
                Ok::<(), std::convert::Infallible>(())
            };
            let Ok(()) = self.offer(frame, frame.len(), ok, copy);
        }
    }

    /// Takes one frame of `len` bytes whose first bytes are `head` (all of its headers, if
    /// it has them) and whose bytes `copy(from, out)` appends from offset `from` on; `verified`
    /// says whether the NIC checked its checksums. Only what it keeps is copied, once.
    fn offer<E>(
        &mut self,
        head: &[u8],
        len: usize,
        verified: bool,
        copy: impl FnOnce(usize, &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.out.is_empty() {
            // Room for a batch's worth of frames like this one (a recycled batch has it
            // already): the batch grows once, not by doublings (each a copy of all it holds).
            let frames = POLLS_PER_BATCH * NAPI_BUDGET;
            self.out.reserve(frames * len.max(1514), frames);
        }
        if let Some(run) = self.run.as_mut().filter(|r| !r.closed && verified)
            && joins(&self.out.as_bytes()[run.start..], run, head, len)
        {
            let data = len - run.data_at;
            self.out
                .extend_last_with(|bytes| copy(run.data_at, bytes))?;
            let psh = TcpPacket::new_unchecked(&head[TCP_AT..])
                .flags()
                .contains(TcpFlags::PSH);
            run.count += 1;
            run.bytes += data;
            run.next_seq += data;
            run.psh |= psh;
            run.closed = data < run.mss || psh;
            return Ok(());
        }
        self.close();
        let start = self.out.byte_len();
        self.out.push_appended(|bytes| copy(0, bytes))?;
        let whole = self.out.byte_len() - start == len;
        let span = tcp_span_in(head, len).filter(|&(_, data_at, end)| {
            verified && whole && end == len && data_at < end && only_ack_psh(head)
        });
        let Some((_, data_at, end)) = span else {
            self.sizes.push(0);
            return Ok(());
        };
        let tcp = TcpPacket::new_unchecked(&head[TCP_AT..]);
        let mss = end - data_at;
        self.run = Some(Run {
            start,
            count: 1,
            data_at,
            mss,
            bytes: mss,
            next_seq: tcp.seq_number() + mss,
            psh: false,
            closed: tcp.flags().contains(TcpFlags::PSH),
        });
        Ok(())
    }

    /// Ends the open run: its packet (the last in the batch) gets the IPv4 length and
    /// checksum of all its payload, and PSH if any of its frames had it.
    fn close(&mut self) {
        let Some(run) = self.run.take() else { return };
        if run.count > 1 {
            let packet = self.out.last_mut().expect("the run's packet");
            let mut ip = Ipv4Packet::new_unchecked(&mut packet[ETH_LEN..]);
            ip.set_total_len((run.data_at - ETH_LEN + run.bytes) as u16);
            ip.fill_checksum();
            if run.psh {
                let mut tcp = TcpPacket::new_unchecked(&mut packet[TCP_AT..]);
                let f = tcp.flags();
                tcp.set_flags(f | TcpFlags::PSH);
            }
        }
        self.sizes.push(run.mss as u16);
        self.merged += run.count as u64 - 1;
    }

    /// The merged frames and their segment sizes (0: not a verified TCP segment); the merger
    /// is empty again.
    pub fn finish(&mut self) -> (Batch, Vec<u16>) {
        self.close();
        (
            std::mem::take(&mut self.out),
            std::mem::take(&mut self.sizes),
        )
    }

    /// Gives back a merged batch the stack is done with, for the next frames (see
    /// [`Batch::reuse`]).
    pub fn recycle(&mut self, spare: Batch) {
        self.out.reuse(spare);
    }

    /// Frames merged into others so far.
    pub fn merged(&self) -> u64 {
        self.merged
    }
}

/// The driver offers each frame from its DMA buffers: GRO reads the headers, then copies the
/// frame whole, or only its payload after the run it continues (Linux's driver calls
/// `napi_gro_receive` per frame the same way).
impl RxSink for Gro {
    fn take_frame(&mut self, frame: &RxFrame<'_>) -> Result<(), DmaError> {
        let mut head = [0; GRO_HEAD];
        let n = frame.read(0, &mut head)?;
        self.offer(&head[..n], frame.len, frame.checksum_ok, |from, out| {
            // The head is read already: only the rest comes out of the DMA buffers.
            if from < n {
                out.extend_from_slice(&head[from..n]);
            }
            frame.copy_from(from.max(n), out)
        })
    }
}

/// Only ACK, or ACK and PSH, are set: anything else (SYN, FIN, RST, URG, ECN) is not merged.
fn only_ack_psh(frame: &[u8]) -> bool {
    let tcp = TcpPacket::new_unchecked(&frame[TCP_AT..]);
    let f = tcp.flags().0 & !TcpFlags::PSH.0;
    f == TcpFlags::ACK.0
}

/// Whether the frame of `len` bytes whose first bytes are `head` continues `run` (whose
/// packet, its first frame's headers first, is `first`): same Ethernet header, the same IPv4
/// header but for identification, length and checksum, the same TCP header but for sequence
/// number, checksum and PSH, the next sequence number, at most a segment of payload, and the
/// merged packet within IPv4's length limit.
fn joins(first: &[u8], run: &Run, head: &[u8], len: usize) -> bool {
    let Some((_, data_at, end)) = tcp_span_in(head, len) else {
        return false;
    };
    if data_at != run.data_at || end != len || data_at == end {
        return false;
    }
    let data = end - data_at;
    data <= run.mss
        && run.data_at - ETH_LEN + run.bytes + data <= IP_MAX
        && same_headers(&first[..data_at], &head[..data_at])
        && only_ack_psh(head)
        && TcpPacket::new_unchecked(&head[TCP_AT..]).seq_number() == run.next_seq
}

/// Which header bytes the frames of a run must share (0xff) and which each has its own (0):
/// the IPv4 total length, identification and checksum; the TCP sequence number, flags (PSH
/// may differ; the rest is checked apart) and checksum. Everything else (Ethernet; version,
/// IHL and TOS; flags, fragment offset, TTL and protocol; the addresses; ports,
/// acknowledgment number, data offset, window, urgent pointer and options) must be equal.
const SAME: [u8; GRO_HEAD] = {
    let mut mask = [0xff; GRO_HEAD];
    let own = [
        (ETH_LEN + 2, ETH_LEN + 6),   // total length, identification
        (ETH_LEN + 10, ETH_LEN + 12), // header checksum
        (TCP_AT + 4, TCP_AT + 8),     // sequence number
        (TCP_AT + 13, TCP_AT + 14),   // flags
        (TCP_AT + 16, TCP_AT + 18),   // checksum
    ];
    let mut i = 0;
    while i < own.len() {
        let mut b = own[i].0;
        while b < own[i].1 {
            mask[b] = 0;
            b += 1;
        }
        i += 1;
    }
    mask
};

/// Whether two frames' headers (as long as each other, at most [`GRO_HEAD`]) agree wherever
/// [`SAME`] says they must: eight bytes at a time, not a comparison per field.
fn same_headers(a: &[u8], b: &[u8]) -> bool {
    let mask = &SAME[..a.len()];
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("8 bytes"));
    let words = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .zip(mask.chunks_exact(8));
    let mut diff = words.fold(0, |d, ((x, y), m)| d | ((word(x) ^ word(y)) & word(m)));
    for i in a.len() / 8 * 8..a.len() {
        diff |= u64::from((a[i] ^ b[i]) & mask[i]);
    }
    diff == 0
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
    fn gro_copies_a_frame_that_continues_the_run_from_its_payload_only() {
        let payload = data(5_000);
        let mut cut = Batch::new();
        gso_cut(&frame(77, TcpFlags::ACK, &payload, 9), 1448, &mut cut);
        let other = frame(1, TcpFlags::SYN, &[], 3);
        let mut gro = Gro::new();
        let mut copied = Vec::new();
        for f in cut.iter().chain([&other[..]]) {
            // Offered as the driver does: the first bytes, then a copy from an offset.
            let head = &f[..f.len().min(GRO_HEAD)];
            let copy = |from: usize, out: &mut Vec<u8>| {
                copied.push(from);
                out.extend_from_slice(&f[from..]);
                Ok::<(), ()>(())
            };
            gro.offer(head, f.len(), true, copy).unwrap();
        }
        let data_at = TCP_AT + 32; // TCP with the timestamp option.
        assert_eq!(
            copied,
            [0, data_at, data_at, data_at, 0],
            "headers copied once"
        );
        let (merged, sizes) = gro.finish();
        assert_eq!(sizes, [1448, 0]);
        let m = merged.iter().next().unwrap();
        let ip = Ipv4Packet::new_checked(&m[ETH_LEN..]).unwrap();
        assert!(ip.verify_checksum());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(tcp.payload(), &payload[..]);
        assert!(!tcp.flags().contains(TcpFlags::PSH), "none had PSH");
        // A failed copy (a DMA error) leaves the batch as it was before it.
        let mut gro = Gro::new();
        let first = cut.iter().next().unwrap();
        gro.merge([first], &[true]);
        let second = cut.iter().nth(1).unwrap();
        let failed = gro.offer(second, second.len(), true, |_, out: &mut Vec<u8>| {
            out.push(1);
            Err(())
        });
        assert_eq!(failed, Err(()));
        // A copy that comes up short (never from the driver) opens no run to merge into.
        let third = cut.iter().nth(2).unwrap();
        let short = gro.offer(third, third.len(), true, |_, out: &mut Vec<u8>| {
            out.extend_from_slice(&third[..10]);
            Ok::<(), ()>(())
        });
        assert_eq!(short, Ok(()));
        gro.merge(cut.iter().skip(3), &[true]);
        let (merged, sizes) = gro.finish();
        assert_eq!(merged.iter().next(), Some(first));
        assert_eq!(merged.iter().nth(1), Some(&third[..10]));
        assert_eq!(
            sizes,
            [1448, 0, 656],
            "the last frame, 656 bytes, on its own"
        );
    }

    #[test]
    fn gro_compares_every_header_byte_a_run_must_share_and_no_other() {
        // The fields of RFC 791 and RFC 9293 that must be equal, as ranges of the frame.
        let (ip, tcp) = (ETH_LEN, TCP_AT);
        let shared = [
            0..ip,              // Ethernet
            ip..ip + 2,         // version, IHL, TOS
            ip + 6..ip + 10,    // flags, fragment offset, TTL, protocol
            ip + 12..ip + 20,   // addresses
            tcp..tcp + 4,       // ports
            tcp + 8..tcp + 13,  // acknowledgment number, data offset
            tcp + 14..tcp + 16, // window
            tcp + 18..GRO_HEAD, // urgent pointer, options
        ];
        let payload = data(3000);
        let mut cut = Batch::new();
        gso_cut(&frame(77, TcpFlags::ACK, &payload, 9), 1448, &mut cut);
        let (a, b) = (cut.iter().next().unwrap(), cut.iter().nth(1).unwrap());
        let data_at = TCP_AT + 32;
        assert!(same_headers(&a[..data_at], &b[..data_at]));
        for i in 0..data_at {
            let mut changed = b.to_vec();
            changed[i] ^= 0x10;
            let must = shared.iter().any(|r| r.contains(&i));
            assert_eq!(
                same_headers(&a[..data_at], &changed[..data_at]),
                !must,
                "byte {i}"
            );
        }
    }

    #[test]
    fn gro_from_the_driver_makes_what_gro_of_copied_frames_makes() {
        use nic_ftgmac100::station::{Station, StationConfig};
        use nic_ftgmac100::wire::Switch;
        let sw = Switch::new();
        let station = |mac| {
            let config = StationConfig {
                mac: netstack_wire::EthernetAddress([2, 0, 0, 0, 0, mac]),
                ..StationConfig::default()
            };
            Station::new(&config, sw.add_port(), 0).unwrap()
        };
        let (mut a, mut b) = (station(1), station(2));
        // A run, a frame that joins nothing, a run that ends in PSH.
        let mut frames = Batch::new();
        gso_cut(&frame(77, TcpFlags::ACK, &data(5000), 9), 1448, &mut frames);
        frames.push(&frame(1, TcpFlags::SYN, &[], 3));
        gso_cut(&frame(9000, ACK_PSH, &data(3000), 20), 1448, &mut frames);
        let mut copied = Gro::new();
        copied.merge(frames.iter(), &vec![true; frames.len()]);
        let expected = copied.finish();

        let mut gro = Gro::new();
        let (mut got, mut sizes) = (Batch::new(), Vec::new());
        let mut sent = 0;
        for now in (0..200).map(|i| i * 10_000) {
            a.step(now, &mut |_| {}).unwrap();
            if now > 0 && sent == 0 {
                sent = a.transmit(now, &frames).unwrap();
            }
            b.step_into(now, &mut gro, &mut |g| {
                let (f, s) = g.finish();
                got.append(&f);
                sizes.extend(s);
            })
            .unwrap();
        }
        assert_eq!(sent, frames.len());
        assert_eq!(sizes, expected.1);
        assert!(got.iter().eq(expected.0.iter()), "the same merged frames");
        assert_eq!(gro.merged(), copied.merged());
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
