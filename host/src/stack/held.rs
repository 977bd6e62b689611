//! Bytes the host holds for TCP (docs/zero-copy.md): `tcp_send` copies a write into the
//! socket's stream here and tells TCP only how many bytes there are (`tcp.wrote`); TCP's
//! segments name spans of the stream (`held-payload`), which the host adds to their headers,
//! and TCP says when bytes are acknowledged (`released`), so the host drops them. The bytes
//! thus never cross into the component and back: the write's lowering, TCP's copy into its
//! output and the output's lifting are gone, for one copy into the stream here.
//!
//! Received bytes the same way: the host gives TCP each segment's header and data length
//! (`receive-held`, after verifying the checksum TCP can no longer see), TCP answers where the
//! data goes in the socket's receive stream (`placed`), and `tcp_recv` takes readable bytes
//! from there (`read` says how many). Gone: the segments' lowering, TCP's copy into its
//! receive buffer, and the read's lifting. A connection that stores received bytes itself (one
//! imported from a build without this) gets its segments whole (`wanted`), as before.
//!
//! In-order received bytes are not even copied into the stream: it borrows them from the
//! frames they arrived in (`Received`, `Lent`) until they are read.
//!
//! The streams live in the host, so a hot swap of TCP leaves them where they are; the state
//! carries only the counts (state version 4).

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;

use super::ring::RecvRing;
use super::{Layer, Pending, Stack, adds_up, empty_transport, ip_t, spans_of};
use crate::bindings::tcp::exports::netstack::stack::tcp::{HeldPayload, HeldSegment, Released};
use crate::offload;
use netstack_wire::{Ipv4Address, TcpPacket};
use wasmtime::Result;

/// One socket's stream: its bytes from offset `start` on.
#[derive(Debug, Default)]
struct Stream {
    start: u64,
    bytes: VecDeque<u8>,
}

/// One socket's received bytes. The first ones may still lie in the frames they arrived in,
/// lent to the streams (`loans`); the rest are in the ring. A reader that keeps up reads them
/// where GRO put them, and nothing is copied into the ring (as Linux's receive queue holds the
/// skbs themselves until `recvmsg` copies from them).
#[derive(Debug, Default)]
struct Received {
    /// Its read position is the stream's; the lent bytes lie before anything put in it.
    ring: RecvRing,
    /// The lent bytes from the read position on, in order (a few per NAPI pass at most).
    loans: VecDeque<Loan>,
}

impl Received {
    /// The offset after the lent bytes: where the ring's own bytes start.
    fn lent_end(&self) -> u64 {
        self.ring.start() + self.loans.iter().map(|l| l.len as u64).sum::<u64>()
    }
}

/// Bytes of a stream that lie in lent frames: `len` bytes from `at` in frames `frames`.
#[derive(Debug, Clone, Copy)]
struct Loan {
    frames: u64,
    at: usize,
    len: usize,
}

/// A buffer of received frames lent to the streams, and how many loans still name it.
#[derive(Debug)]
struct Lent {
    id: u64,
    bytes: Vec<u8>,
    loans: usize,
}

/// The most buffers of frames lent at once: beyond them, the oldest one's loans are copied
/// into their rings (a reader that fell behind pays the copy it would have had anyway), and
/// it goes back to the NIC. A turn's NAPI passes each lend one; readers read after the turn.
const MAX_LENT: usize = 8;

/// Every socket's streams: bytes to send, bytes received.
#[derive(Debug, Default)]
pub(crate) struct HeldStreams {
    streams: HashMap<u32, Stream>,
    received: HashMap<u32, Received>,
    /// Buffers of frames lent to the streams, oldest first; the id the next one will have,
    /// and the loans placed in it so far (before it is lent).
    lent: Vec<Lent>,
    next_lent: u64,
    placed_loans: usize,
    /// Buffers no longer lent, for the NIC's next frames.
    free: Vec<Vec<u8>>,
}

/// The lent frames `loan` names (a buffer stays lent while any loan names it).
fn lender<'a>(lent: &'a mut [Lent], loan: &Loan) -> &'a mut Lent {
    (lent.iter_mut().find(|l| l.id == loan.frames)).expect("a loan names frames still lent")
}

/// Copies `r`'s lent bytes into its ring, where they belong; returns how many.
fn settle(r: &mut Received, lent: &mut [Lent]) -> usize {
    let start = r.ring.start();
    let mut offset = start;
    for loan in r.loans.drain(..) {
        let l = lender(lent, &loan);
        r.ring.put(offset, &l.bytes[loan.at..loan.at + loan.len]);
        l.loans -= 1;
        offset += loan.len as u64;
    }
    (offset - start) as usize
}

impl HeldStreams {
    /// Appends the bytes TCP just counted for `socket`.
    pub(crate) fn push(&mut self, socket: u32, data: &[u8]) {
        // `extend` from a slice iterator of `&u8` copies in (at most two) blocks; a
        // `copied()` iterator went byte by byte (4% of a bulk transfer).
        self.streams.entry(socket).or_default().bytes.extend(data);
    }

    /// Drops what TCP no longer needs; a gone connection's stream goes whole.
    pub(crate) fn release(&mut self, r: &Released) {
        if r.gone {
            self.streams.remove(&r.socket);
            if let Some(gone) = self.received.remove(&r.socket) {
                for loan in &gone.loans {
                    lender(&mut self.lent, loan).loans -= 1;
                }
            }
            return;
        }
        if let Some(s) = self.streams.get_mut(&r.socket)
            && r.up_to > s.start
        {
            let n = (r.up_to - s.start).min(s.bytes.len() as u64);
            s.bytes.drain(..n as usize);
            s.start += n;
        }
    }

    /// The bytes a held span names, in at most two pieces; `None` if the stream does not have
    /// them all.
    pub(crate) fn span(&self, h: &HeldPayload) -> Option<[&[u8]; 2]> {
        self.get(h.socket, h.offset, h.length as usize)
    }

    /// The `len` bytes of `socket`'s stream from `offset`, in at most two pieces; `None` if
    /// the stream does not have them all.
    pub(crate) fn get(&self, socket: u32, offset: u64, len: usize) -> Option<[&[u8]; 2]> {
        let s = self.streams.get(&socket)?;
        let at = usize::try_from(offset.checked_sub(s.start)?).ok()?;
        if at.checked_add(len)? > s.bytes.len() {
            return None;
        }
        let (a, b) = s.bytes.as_slices();
        if at >= a.len() {
            let at = at - a.len();
            return Some([&b[at..at + len], &[]]);
        }
        let first = &a[at..a.len().min(at + len)];
        Some([first, &b[..len - first.len()]])
    }

    /// Puts received bytes where TCP placed them in `socket`'s receive stream. With `lent_at`
    /// (where `data` lies in the frames that will be lent next, [`HeldStreams::lend`]), bytes
    /// that continue the stream's in-order bytes, with nothing held beyond them, are not
    /// copied: the stream borrows them from the frames. Returns how many it copied.
    pub(crate) fn place(
        &mut self,
        socket: u32,
        offset: u64,
        data: &[u8],
        lent_at: Option<usize>,
    ) -> usize {
        let r = self.received.entry(socket).or_default();
        // Bytes the loans hold already (a duplicate reaching into them) are not put again.
        let end = r.lent_end();
        let skip = end.saturating_sub(offset).min(data.len() as u64) as usize;
        let (offset, data) = (offset + skip as u64, &data[skip..]);
        if data.is_empty() {
            return 0;
        }
        match lent_at {
            Some(at) if offset == end && !r.ring.holds_from(end) => {
                r.loans.push_back(Loan {
                    frames: self.next_lent,
                    at: at + skip,
                    len: data.len(),
                });
                self.placed_loans += 1;
                0
            }
            _ => {
                r.ring.put(offset, data);
                data.len()
            }
        }
    }

    /// Lends the streams the frames that the bytes placed since the last call lie in; gives
    /// them back if none were.
    pub(crate) fn lend(&mut self, frames: Vec<u8>) -> Option<Vec<u8>> {
        let loans = std::mem::take(&mut self.placed_loans);
        let id = self.next_lent;
        self.next_lent += 1;
        if loans == 0 {
            return Some(frames);
        }
        self.lent.push(Lent {
            id,
            bytes: frames,
            loans,
        });
        None
    }

    /// A buffer for the NIC's next frames, if one is free: frames whose lent bytes were all
    /// read. Beyond [`MAX_LENT`] lent buffers, the oldest one's borrowers have their lent
    /// bytes copied into their rings first. Returns how many bytes that copied, too.
    pub(crate) fn spare_frames(&mut self) -> (Option<Vec<u8>>, usize) {
        let mut copied = 0;
        self.free_repaid();
        while self.lent.len() > MAX_LENT {
            let oldest = self.lent[0].id;
            for r in self.received.values_mut() {
                if r.loans.iter().any(|l| l.frames == oldest) {
                    copied += settle(r, &mut self.lent);
                }
            }
            assert_eq!(
                self.lent[0].loans, 0,
                "every loan of the oldest frames settled"
            );
            self.free_repaid();
        }
        (self.free.pop(), copied)
    }

    /// Moves the lent buffers no loan names any more to `free` (at most one more than can be
    /// lent: a turn that read them all needs as many back).
    fn free_repaid(&mut self) {
        let free = &mut self.free;
        self.lent.retain_mut(|l| {
            if l.loans > 0 {
                return true;
            }
            if free.len() <= MAX_LENT {
                free.push(std::mem::take(&mut l.bytes));
            }
            false
        });
    }

    /// Gives the next `n` readable bytes of `socket`'s receive stream to `use_bytes`, where
    /// they lie: in the lent frames, then in the ring (in two pieces where they cross its
    /// seam).
    pub(crate) fn read(&mut self, socket: u32, n: usize, mut use_bytes: impl FnMut(&[u8])) {
        if n == 0 {
            return;
        }
        let r = self.received.entry(socket).or_default();
        let mut left = n;
        while left > 0
            && let Some(loan) = r.loans.front_mut()
        {
            let take = left.min(loan.len);
            let l = lender(&mut self.lent, loan);
            use_bytes(&l.bytes[loan.at..loan.at + take]);
            (loan.at, loan.len) = (loan.at + take, loan.len - take);
            if loan.len == 0 {
                l.loans -= 1;
                r.loans.pop_front();
            }
            left -= take;
        }
        r.ring.skip(n - left);
        r.ring.take_with(left, use_bytes);
    }

    /// Bytes held to send, over every socket.
    pub(crate) fn len(&self) -> usize {
        self.streams.values().map(|s| s.bytes.len()).sum()
    }
}

impl Stack {
    /// TCP's output with the bytes the host holds added where its segments name them, and
    /// their checksums completed (a super-segment's are completed when it is cut): for ipv4's
    /// byte path, which gets whole payloads. (The fast path adds them as it builds frames.)
    pub(super) fn fill_held(
        &mut self,
        batch: ip_t::TransportBatch,
        held: &[HeldPayload],
    ) -> ip_t::TransportBatch {
        if held.is_empty() {
            return batch;
        }
        let extra: usize = held.iter().map(|h| h.length as usize).sum();
        let mut out = super::empty_transport();
        out.info.reserve(batch.info.len());
        out.payloads.lengths.reserve(batch.info.len());
        out.payloads
            .bytes
            .reserve(batch.payloads.bytes.len() + extra);
        let mut held = held.iter().peekable();
        let spans = super::spans_of(&batch.payloads.lengths);
        for (i, (info, &(start, len))) in batch.info.iter().zip(&spans).enumerate() {
            let payload = &batch.payloads.bytes[start..start + len];
            let Some(h) = held.next_if(|h| h.payload as usize == i) else {
                out.info.push(*info);
                out.payloads.bytes.extend_from_slice(payload);
                out.payloads.lengths.push(len as u32);
                continue;
            };
            let Some(pieces) = self.held.span(h) else {
                self.held_missing(h);
                continue;
            };
            let len = append_segment(&mut out.payloads.bytes, payload, Some(pieces), info);
            out.payloads.lengths.push(len as u32);
            out.info.push(*info);
            self.counters.tx_held_bytes += u64::from(h.length);
        }
        out
    }
}

/// A received TCP segment: its metadata, its bytes, and where they start in the turn's frames
/// if they are still there (`None`: a copy, from ipv4's byte path).
type Segment<'a> = (&'a ip_t::DatagramInfo, &'a [u8], Option<usize>);

/// A payload's held bytes, in the two pieces a stream gives them in (`None`: it has none).
pub(super) type Pieces<'a> = Option<[&'a [u8]; 2]>;

/// Appends the TCP segment of `payload` and its held `pieces` to `bytes`; returns its length.
/// A segment with held bytes gets its checksum completed here, unless it is a super-segment
/// (`segment-size`), whose frames get theirs when it is cut.
pub(super) fn append_segment(
    bytes: &mut Vec<u8>,
    payload: &[u8],
    pieces: Pieces<'_>,
    info: &ip_t::DatagramInfo,
) -> usize {
    let at = bytes.len();
    bytes.extend_from_slice(payload);
    if let Some(pieces) = pieces {
        for piece in pieces {
            bytes.extend_from_slice(piece);
        }
        if info.segment_size == 0 {
            complete_checksum(&mut bytes[at..], info);
        }
    }
    bytes.len() - at
}

/// Fills in the TCP checksum of `segment`, sent as `info` says.
pub(super) fn complete_checksum(segment: &mut [u8], info: &ip_t::DatagramInfo) {
    let (src, dst) = (ip4(info.source), ip4(info.destination));
    TcpPacket::new_unchecked(segment).fill_checksum(src, dst);
}

/// The vectors of TCP's `receive-held` call, kept by the stack between calls (a fresh set
/// was four allocations for every batch TCP received).
#[derive(Default)]
pub(super) struct TcpRxScratch {
    /// The segments' headers, one after another.
    headers: Vec<u8>,
    /// Each segment's metadata and the lengths of its header and data.
    segments: Vec<HeldSegment>,
    /// Which segment each header is, and its length.
    which: Vec<(usize, usize)>,
    /// The segments TCP gets whole.
    whole: Vec<usize>,
}

impl TcpRxScratch {
    fn clear(&mut self) {
        self.headers.clear();
        self.segments.clear();
        self.which.clear();
        self.whole.clear();
    }
}

impl Stack {
    /// Gives TCP the received segments by header and length, puts their data where it says,
    /// and gives it whole what it wants whole (or what the host could not check: a malformed
    /// header, a bad checksum, which TCP then counts). The segments are those still in the
    /// received frames (`work.frames`, where classify left them: not copied) and then those
    /// of `work.tcp_rx` (from ipv4's byte path).
    pub(super) fn tcp_receive(&mut self, now: u64, work: &mut Pending) -> Result<()> {
        let frames = std::mem::take(&mut work.frames);
        let in_frames = std::mem::take(&mut work.tcp_rx_in_frames);
        let batch = work.tcp_rx.take();
        let mut segments: Vec<Segment<'_>> = (in_frames.iter())
            .filter_map(|(info, start, len)| {
                Some((info, frames.get(*start..start + len)?, Some(*start)))
            })
            .collect();
        if let Some(b) = &batch {
            if !adds_up(&b.payloads) || b.info.len() != b.payloads.lengths.len() {
                // TCP's `receive` counts a batch like this one.
                self.tcp_receive_whole(now, b.clone(), work)?;
            } else {
                let spans = spans_of(&b.payloads.lengths);
                segments.extend((b.info.iter().zip(spans)).map(|(i, (start, len))| {
                    let p: &[u8] = &b.payloads.bytes[start..start + len];
                    (i, p, None)
                }));
            }
        }
        let done = self.tcp_receive_segments(now, &segments, work);
        drop(segments);
        // The frames are lent to the streams TCP placed bytes of them in; else they go round.
        let unlent = if in_frames.is_empty() {
            Some(frames)
        } else {
            self.held.lend(frames)
        };
        if let Some(frames) = unlent {
            self.keep_rx_spare(frames);
        }
        done
    }

    fn tcp_receive_segments(
        &mut self,
        now: u64,
        segments: &[Segment<'_>],
        work: &mut Pending,
    ) -> Result<()> {
        // Headers (and data lengths) for `receive-held`; which segment each is; the rest. The
        // vectors are the stack's, kept between calls with their room.
        let mut scratch = std::mem::take(&mut self.tcp_rx_scratch);
        scratch.clear();
        let done = self.tcp_receive_by_header(now, segments, &mut scratch, work);
        self.tcp_rx_scratch = scratch;
        done
    }

    fn tcp_receive_by_header(
        &mut self,
        now: u64,
        segments: &[Segment<'_>],
        scratch: &mut TcpRxScratch,
        work: &mut Pending,
    ) -> Result<()> {
        let TcpRxScratch {
            headers,
            segments: held,
            which,
            whole,
        } = scratch;
        for (i, &(info, p, _)) in segments.iter().enumerate() {
            let header = offload::tcp_header_len(p).filter(|_| {
                // A segment size says the NIC checked the checksum (GRO); otherwise the host
                // does, since TCP will not see the data.
                info.segment_size != 0
                    || TcpPacket::new_unchecked(p)
                        .verify_checksum(ip4(info.source), ip4(info.destination))
            });
            match header {
                Some(len) => {
                    headers.extend_from_slice(&p[..len]);
                    held.push(HeldSegment {
                        info: (*info).into(),
                        header_length: len as u32,
                        data_length: (p.len() - len) as u32,
                    });
                    which.push((i, len));
                }
                None => whole.push(i),
            }
        }
        if !which.is_empty() {
            self.counters.calls[2] += 1;
            let Layer { store, bindings } = &mut self.tcp;
            let mut out =
                bindings
                    .netstack_stack_tcp()
                    .call_receive_held(&mut *store, now, headers, held)?;
            for p in &out.placed {
                let Some(&(i, header)) = which.get(p.segment as usize) else {
                    continue;
                };
                let data = &segments[i].1[header..];
                let (skip, len) = (p.skip as usize, p.length as usize);
                match data.get(skip..skip + len) {
                    Some(bytes) => {
                        let lent_at = segments[i].2.map(|at| at + header + skip);
                        let copied = self.held.place(p.socket, p.offset, bytes, lent_at);
                        self.counters.rx_held_bytes += len as u64;
                        self.counters.rx_lent_bytes += (len - copied) as u64;
                    }
                    None => tracing::error!(?p, "tcp placed bytes a segment does not have"),
                }
            }
            self.counters.rx_wanted_segments += out.wanted.len() as u64;
            whole.extend((out.wanted.drain(..)).filter_map(|w| Some(which.get(w as usize)?.0)));
            whole.sort_unstable();
            self.absorb_tcp(out, work);
        }
        if whole.is_empty() {
            return Ok(());
        }
        let mut rest = empty_transport();
        for &i in whole.iter() {
            let (info, p, _) = segments[i];
            rest.info.push(*info);
            rest.payloads.bytes.extend_from_slice(p);
            rest.payloads.lengths.push(p.len() as u32);
        }
        self.tcp_receive_whole(now, rest, work)
    }

    /// TCP's byte path: segments whole to `receive`.
    fn tcp_receive_whole(
        &mut self,
        now: u64,
        segments: ip_t::TransportBatch,
        work: &mut Pending,
    ) -> Result<()> {
        self.counters.calls[2] += 1;
        let Layer { store, bindings } = &mut self.tcp;
        let out = bindings
            .netstack_stack_tcp()
            .call_receive(&mut *store, now, &segments.into())?;
        self.absorb_tcp(out, work);
        Ok(())
    }

    /// A segment whose bytes are missing (a bug: TCP named what it was never given) is
    /// dropped, logged and counted; TCP retransmits it, and the operator sees
    /// `tx-held-missing` grow.
    pub(super) fn held_missing(&mut self, h: &HeldPayload) {
        self.counters.tx_held_missing += 1;
        tracing::error!(
            socket = h.socket,
            offset = h.offset,
            length = h.length,
            "tcp named bytes the host does not hold; segment dropped"
        );
    }
}

fn ip4(a: ip_t::Ipv4Address) -> Ipv4Address {
    netstack_wire::tuple::ipv4_from(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(socket: u32, up_to: u64, gone: bool) -> Released {
        Released {
            socket,
            up_to,
            gone,
        }
    }

    fn joined(p: [&[u8]; 2]) -> Vec<u8> {
        p.concat()
    }

    /// Reads `n` bytes of `socket`'s stream: their bytes, and whether each piece lay in lent
    /// frames.
    fn read_marking(h: &mut HeldStreams, socket: u32, n: usize) -> (Vec<u8>, Vec<bool>) {
        let lent: Vec<_> = h.lent.iter().map(|l| l.bytes.as_ptr_range()).collect();
        let (mut bytes, mut pieces) = (Vec::new(), Vec::new());
        h.read(socket, n, |piece| {
            bytes.extend_from_slice(piece);
            pieces.push(lent.iter().any(|r| r.contains(&piece.as_ptr())));
        });
        (bytes, pieces)
    }

    /// A turn's frames: a header (0xee) before each piece.
    fn frames_of(pieces: &[&[u8]]) -> Vec<u8> {
        pieces
            .iter()
            .flat_map(|p| [&[0xee; 20][..], p])
            .flatten()
            .copied()
            .collect()
    }

    #[test]
    fn in_order_bytes_are_read_from_the_frames_they_came_in() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7) as u8).collect();
        // The last segment repeats half the one before and brings 50 new bytes.
        let frames = frames_of(&[&data[..100], &data[100..200], &data[150..250]]);
        let mut h = HeldStreams::default();
        assert_eq!(h.place(1, 0, &frames[20..120], Some(20)), 0, "lent");
        assert_eq!(h.place(1, 100, &frames[140..240], Some(140)), 0, "lent");
        // Only the new part of the duplicate is taken (and lent).
        assert_eq!(h.place(1, 150, &frames[260..360], Some(260)), 0);
        // Out of order, beyond a hole: copied into the ring, and so is what fills the hole
        // (bytes are held beyond it).
        assert_eq!(h.place(1, 300, &data[300..400], Some(0)), 100);
        assert_eq!(h.place(1, 250, &data[250..300], Some(0)), 50);
        assert_eq!(h.lend(frames), None, "lent");
        assert_eq!(h.spare_frames(), (None, 0), "still lent");
        let (got, lent) = read_marking(&mut h, 1, 130);
        assert_eq!(got, &data[..130]);
        assert_eq!(lent, [true, true], "both pieces where they arrived");
        assert_eq!(h.spare_frames(), (None, 0), "not all read");
        let (got, lent) = read_marking(&mut h, 1, 270);
        assert_eq!(got, &data[130..]);
        assert_eq!(lent, [true, true, false], "the lent bytes, then the ring's");
        let (spare, copied) = h.spare_frames();
        assert_eq!((spare.map(|f| f.len()), copied), (Some(360), 0), "all read");
        // Frames nothing was lent from come straight back.
        assert_eq!(h.lend(vec![1, 2, 3]), Some(vec![1, 2, 3]));
        // Read up: the next in-order bytes are lent again.
        assert_eq!(h.place(1, 400, &[9; 10], Some(0)), 0);
    }

    #[test]
    fn a_reader_that_falls_behind_has_its_lent_bytes_copied_and_the_frames_go_back() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = HeldStreams::default();
        // Socket 1 reads nothing; socket 2 reads each turn; socket 3 closes with bytes lent.
        let mut copies = 0;
        for turn in 0..MAX_LENT {
            let piece = &data[turn * 1000..(turn + 1) * 1000];
            let frames = frames_of(&[piece, piece, piece]);
            let offset = (turn * 1000) as u64;
            for (socket, at) in [(1, 20), (2, 1040), (3, 2060)] {
                if socket != 3 || turn == 0 {
                    assert_eq!(h.place(socket, offset, &frames[at..at + 1000], Some(at)), 0);
                }
            }
            assert_eq!(h.lend(frames), None);
            if turn == 0 {
                h.release(&release(3, 0, true));
            }
            let (got, _) = read_marking(&mut h, 2, 1000);
            assert_eq!(got, piece);
            let (spare, copied) = h.spare_frames();
            assert_eq!(spare, None, "socket 1 still reads from every buffer");
            copies += copied;
        }
        assert_eq!(copies, 0, "{MAX_LENT} buffers may stay lent");
        // One more: the oldest buffer's borrower has its lent bytes copied, the frames go back.
        let frames = frames_of(&[&data[8000..9000]]);
        assert_eq!(h.place(1, 8000, &frames[20..1020], Some(20)), 0);
        assert_eq!(h.lend(frames), None);
        let (spare, copied) = h.spare_frames();
        assert_eq!(copied, 9000, "all of socket 1's lent bytes");
        assert!(spare.is_some());
        assert!(h.lent.is_empty(), "socket 1 was the last borrower of each");
        let (got, lent) = read_marking(&mut h, 1, 9000);
        assert_eq!(got, &data[..9000]);
        assert!(lent.iter().all(|l| !l), "from the ring");
        // Nothing left to copy; the free buffers are kept, a bounded number of them.
        assert_eq!(h.spare_frames().1, 0);
        assert!(h.free.len() <= MAX_LENT + 1);
    }

    #[test]
    fn frames_read_up_are_not_counted_as_lent_even_before_they_go_back() {
        let data = [7u8; 1000];
        let mut h = HeldStreams::default();
        // Socket 2's bytes stay unread in the oldest frames; socket 1 reads each turn.
        let frames = frames_of(&[&data]);
        assert_eq!(h.place(2, 0, &frames[20..], Some(20)), 0);
        assert_eq!(h.lend(frames), None);
        for turn in 0..2 * MAX_LENT {
            let frames = frames_of(&[&data]);
            assert_eq!(h.place(1, turn as u64 * 1000, &frames[20..], Some(20)), 0);
            assert_eq!(h.lend(frames), None);
            assert_eq!(read_marking(&mut h, 1, 1000).1, [true]);
        }
        let (spare, copied) = h.spare_frames();
        assert_eq!(
            (spare.is_some(), copied),
            (true, 0),
            "one buffer lent: no copy"
        );
        assert_eq!(read_marking(&mut h, 2, 1000).1, [true]);
    }

    #[test]
    fn spans_come_back_across_the_ring_seam_and_releases_drop_the_front() {
        let mut h = HeldStreams::default();
        let data: Vec<u8> = (0..=255).collect();
        h.push(3, &data[..100]);
        h.release(&release(3, 60, false));
        // Pushed after the front went: the deque wraps, a span may come in two pieces.
        h.push(3, &data[100..]);
        assert_eq!(h.len(), 196);
        for (off, len) in [(60, 1), (60, 196), (99, 2), (200, 56), (255, 1), (256, 0)] {
            let got = h.get(3, off, len).map(joined);
            assert_eq!(
                got.as_deref(),
                Some(&data[off as usize..][..len]),
                "{off}+{len}"
            );
        }
        assert_eq!(h.get(3, 59, 1), None, "released");
        assert_eq!(h.get(3, 250, 7), None, "not written yet");
        assert_eq!(h.get(4, 0, 0), None, "no such stream");
        // A release behind the start, or past the end, is harmless.
        h.release(&release(3, 10, false));
        h.release(&release(3, 1000, false));
        assert_eq!(h.len(), 0);
        h.push(3, b"x");
        assert_eq!(h.get(3, 256, 1).map(joined).as_deref(), Some(&b"x"[..]));
        h.release(&release(3, u64::MAX, true));
        assert_eq!(h.get(3, 256, 1), None, "gone with its connection");
        h.push(3, b"new");
        assert_eq!(h.get(3, 0, 3).map(joined).as_deref(), Some(&b"new"[..]));
    }
}
