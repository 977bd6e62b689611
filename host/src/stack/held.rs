//! Bytes the host holds for TCP (docs/zero-copy.md): `tcp_send` copies a write into the
//! socket's stream here and tells TCP only how many bytes there are (`tcp.wrote`); TCP's
//! segments name spans of the stream (`held-payload`), which the host adds to their headers,
//! and TCP says when bytes are acknowledged (`released`), so the host drops them. The bytes
//! thus never cross into the component and back: the write's lowering, TCP's copy into its
//! output and the output's lifting are gone, for one copy into the stream here.
//!
//! The streams live in the host, so a hot swap of TCP leaves them where they are; the state
//! carries only the counts (state version 4).

use std::collections::{HashMap, VecDeque};

use super::{Stack, ip_t};
use crate::bindings::tcp::exports::netstack::stack::tcp::{HeldPayload, Released};
use netstack_wire::{Ipv4Address, TcpPacket};

/// One socket's stream: its bytes from offset `start` on.
#[derive(Debug, Default)]
struct Stream {
    start: u64,
    bytes: VecDeque<u8>,
}

/// Every socket's stream.
#[derive(Debug, Default)]
pub(crate) struct HeldStreams {
    streams: HashMap<u32, Stream>,
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

    /// Bytes held, over every socket.
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

impl Stack {
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
