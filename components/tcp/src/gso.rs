//! Segmentation offload at the layer's output (GSO): the data segments a connection emits in
//! one poll leave as one super-segment of up to the host's `gso-max-size` payload bytes, with
//! their segment size (WIT's `segment-size`). A connection sends its new data as
//! super-segments already (`Conn::poll_output`, decided once per super-segment, as Linux's
//! TSO); what it sends an MSS at a time (retransmissions, a short tail) joins here, and so
//! does a super-segment that continues an open one. The host cuts it back into
//! exactly those segments just above the driver, so the layers below handle one packet where
//! there were 45. A segment joins when it continues the super-segment's sequence with the same
//! acknowledgment, window and options, and the one before it was full-sized; a PSH or FIN joins
//! and ends it (the host puts them on the last piece). The checksum field then holds only the
//! pseudo-header sum, which the host completes per piece (Linux's CHECKSUM_PARTIAL).
//!
//! Segments of bytes the host holds join the same way: the super-segment's held span grows
//! (the host's bytes for the socket follow contiguously); the layer's own bytes may come
//! first, never after held ones.

use netstack_wire::{
    Ipv4Address, SeqNumber, TcpFlags, TcpPacket, TcpRepr, TcpTimestamp, ipv4::HEADER_LEN,
};

use crate::{Held, HeldPayload, Output, SocketId};

/// The largest IPv4 datagram.
const IP_MAX: usize = 65535;

/// The super-segment being built: the last entry of the output batch.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Its segment size: its first segment's payload length.
    mss: usize,
    /// Its TCP header length and payload bytes so far, held ones included.
    header_len: usize,
    bytes: usize,
    /// Of those, held by the host (the last entry of the output's held spans), and the
    /// stream offset the next held byte must be at.
    held: usize,
    held_end: u64,
    /// What every joining segment must repeat.
    ack: SeqNumber,
    window: u16,
    timestamp: Option<TcpTimestamp>,
    /// The sequence number the next segment must start at.
    next_seq: SeqNumber,
}

/// Merges one connection's segments as they are emitted.
#[derive(Debug)]
pub(crate) struct Gso {
    /// The most payload bytes of a super-segment; 0: off.
    max: usize,
    /// The connection's socket (held spans name it).
    socket: SocketId,
    open: Option<Open>,
}

/// Only ACK, and maybe PSH or FIN, with `data` bytes: a segment that may be part of a
/// super-segment.
fn plain_data(seg: &TcpRepr<'_>, data: usize) -> bool {
    let rest = seg.flags.0 & !(TcpFlags::PSH.0 | TcpFlags::FIN.0);
    rest == TcpFlags::ACK.0
        && data > 0
        && seg.sack_ranges.iter().all(Option::is_none)
        && seg.max_seg_size.is_none()
        && seg.window_scale.is_none()
        && !seg.sack_permitted
}

impl Gso {
    pub(crate) fn new(max: u32, socket: SocketId) -> Gso {
        Gso {
            max: max as usize,
            socket,
            open: None,
        }
    }

    /// Writes `seg` (from `src` to `dst`), followed by `held` bytes of the host's, into
    /// `out`, as a new entry or onto the open super-segment. `size` is 0 for one segment, or
    /// the segment size of a super-segment the connection made itself (`poll_output`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit(
        &mut self,
        out: &mut Output,
        src: Ipv4Address,
        dst: Ipv4Address,
        ttl: u8,
        seg: &TcpRepr<'_>,
        held: Option<Held>,
        size: usize,
    ) {
        let data = seg.payload.len() + held.map_or(0, |h| h.len);
        if let Some(open) = self.open.as_mut()
            && joins(open, seg, data, size, held, self.max)
        {
            let payloads = &mut out.to_ipv4.payloads;
            if open.bytes == open.mss && !seg.payload.is_empty() {
                // The first segment to join: a bulk flow, whose super-segment will likely fill
                // up. Its room is made once, not by doublings that each copy the batch.
                payloads.reserve(self.max - open.bytes, 0);
            }
            payloads.extend_last(seg.payload);
            if let Some(h) = held {
                match out.held.last_mut() {
                    Some(last) if open.held > 0 => last.span.len += h.len,
                    _ => out.held.push(HeldPayload {
                        index: out.to_ipv4.info.len() - 1,
                        socket: self.socket,
                        span: h,
                    }),
                }
                open.held += h.len;
                open.held_end = h.offset + h.len as u64;
            }
            let info = out.to_ipv4.info.last_mut().expect("the open super-segment");
            info.segment_size = open.mss as u16;
            let mut header = TcpPacket::new_unchecked(payloads.last_mut().expect("it"));
            let flags = header.flags();
            header.set_flags(flags | TcpFlags(seg.flags.0 & (TcpFlags::PSH.0 | TcpFlags::FIN.0)));
            open.bytes += data;
            open.next_seq += data;
            // The pseudo-header sum is for the whole super-segment, held bytes included.
            let tcp_len = open.header_len + open.bytes;
            header.fill_partial_checksum_for(src, dst, tcp_len as u32);
            if !data.is_multiple_of(open.mss)
                || seg.flags.contains(TcpFlags::PSH)
                || seg.flags.contains(TcpFlags::FIN)
            {
                self.open = None;
            }
            return;
        }
        self.open = None;
        crate::emit(out, src, dst, ttl, seg, held.map(|h| (self.socket, h)));
        if size > 0 {
            // A super-segment as it comes: its segment size, and in its checksum field only
            // the pseudo-header sum (`crate::emit` left that when bytes are held).
            let info = out.to_ipv4.info.last_mut().expect("just emitted");
            info.segment_size = size as u16;
            if held.is_none() {
                let header = out.to_ipv4.payloads.last_mut().expect("just emitted");
                let len = header.len() as u32;
                TcpPacket::new_unchecked(header).fill_partial_checksum_for(src, dst, len);
            }
        }
        let mss = if size > 0 { size } else { data };
        let full = !seg.flags.contains(TcpFlags::PSH) && !seg.flags.contains(TcpFlags::FIN);
        if self.max > 0 && full && plain_data(seg, data) && data.is_multiple_of(mss) {
            self.open = Some(Open {
                mss,
                header_len: seg.header_len(),
                bytes: data,
                held: held.map_or(0, |h| h.len),
                held_end: held.map_or(0, |h| h.offset + h.len as u64),
                ack: seg.ack_number,
                window: seg.window_len,
                timestamp: seg.timestamp,
                next_seq: seg.seq_number + data,
            });
        }
    }
}

/// Whether `seg` with `data` bytes (`held` of them the host's; segments of `size` when it is
/// a super-segment already) continues `open` within `max` payload bytes and IPv4's length
/// limit.
fn joins(
    open: &Open,
    seg: &TcpRepr<'_>,
    data: usize,
    size: usize,
    held: Option<Held>,
    max: usize,
) -> bool {
    let total = open.bytes + data;
    // The layer's own bytes never follow held ones; held ones continue the held span.
    let order = match held {
        _ if open.held > 0 && !seg.payload.is_empty() => false,
        Some(h) if open.held > 0 => h.offset == open.held_end,
        _ => true,
    };
    order
        && plain_data(seg, data)
        && seg.seq_number == open.next_seq
        && seg.ack_number == open.ack
        && seg.window_len == open.window
        && seg.timestamp == open.timestamp
        && seg.header_len() == open.header_len
        && if size > 0 {
            size == open.mss
        } else {
            data <= open.mss
        }
        && total <= max
        && HEADER_LEN + open.header_len + total <= IP_MAX
}
