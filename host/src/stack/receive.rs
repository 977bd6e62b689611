//! The receive fast path (docs/zero-copy.md): link classifies each frame from its first bytes
//! and ipv4 each packet from its header, read where it lies in the frame; the host copies each
//! TCP/UDP payload once, from the frame into its transport's batch. What a layer cannot pass
//! on from headers (ARP, ICMP, fragments, forwarding, anything malformed) goes to its
//! `receive` whole, where it is handled and counted as always.

use super::{
    Ipv4Class, Layer, Pending, Sized, Stack, adds_up, empty_transport, merge_sized,
    merge_transport, spans_of,
};
use crate::bindings::ethernet_arp;
use crate::bindings::ethernet_arp::exports::netstack::stack::link::FrameHead;
use crate::bindings::ipv4::exports::netstack::stack::ipv4::PacketHead;
use crate::bindings::ipv4::exports::netstack::stack::types as ip_t;
use wasmtime::Result;

/// The most of a frame link's `classify` needs: an Ethernet header with an 802.1Q tag.
const LINK_HEAD: usize = 18;

/// The most of a packet ipv4's `classify` needs: the longest IPv4 header.
const IPV4_HEAD: usize = 60;

/// The first `max` bytes of each packet of `bytes` at `spans`, one after another, and a
/// record of each (made by `head` from the length of its head, the whole packet's, and its
/// index), for a layer's `classify`.
fn heads_at<T>(
    bytes: &[u8],
    spans: &[(usize, usize)],
    max: usize,
    head: impl Fn(u32, u32, usize) -> T,
) -> (Vec<u8>, Vec<T>) {
    let mut heads = Vec::with_capacity(spans.len() * max);
    let mut records = Vec::with_capacity(spans.len());
    for (i, &(start, len)) in spans.iter().enumerate() {
        let n = len.min(max);
        heads.extend_from_slice(&bytes[start..start + n]);
        records.push(head(n as u32, len as u32, i));
    }
    (heads, records)
}

impl Stack {
    /// The receive fast path (docs/zero-copy.md): link classifies each frame from its header
    /// alone and ipv4 each packet from its header, read where it lies in the frame; the TCP and
    /// UDP payloads are copied once, from the frames into their transport's batch (where link
    /// and ipv4 each lowered, rebuilt and lifted them). Only the rest (ARP, frames to drop) goes
    /// to link's `receive` whole.
    pub(super) fn classify_frames(
        &mut self,
        now: u64,
        frames: ip_t::Batch,
        sizes: Vec<u16>,
        work: &mut Pending,
    ) -> Result<()> {
        use ethernet_arp::exports::netstack::stack::link::FrameClass;
        use ethernet_arp::exports::netstack::stack::types::Span;
        if !adds_up(&frames) {
            // Link's `receive` counts a batch like this one (drop-bad-batch).
            self.counters.rx_slow_frames += frames.lengths.len() as u64;
            merge_sized(&mut work.link_rx, frames, sizes);
            return Ok(());
        }
        let spans = spans_of(&frames.lengths);
        let (heads, frame_heads) =
            heads_at(&frames.bytes, &spans, LINK_HEAD, |head, len, _| FrameHead {
                head_length: head,
                length: len,
            });
        self.counters.calls[0] += 1;
        let Layer { store, bindings } = &mut self.link;
        let classes =
            bindings
                .netstack_stack_link()
                .call_classify(&mut *store, now, &heads, &frame_heads)?;
        if classes.len() != frames.lengths.len() {
            // The layer refused the batch (and counted it): every frame goes the slow way.
            self.counters.rx_slow_frames += frames.lengths.len() as u64;
            merge_sized(&mut work.link_rx, frames, sizes);
            return Ok(());
        }
        // The IPv4 packets stay where they are in the frames: ipv4's fast path reads them there.
        let (mut ip_spans, mut ip_sizes, mut other) = (Vec::new(), Vec::new(), Sized::empty());
        for (i, (class, &(start, len))) in classes.iter().zip(&spans).enumerate() {
            let size = netstack_wire::batch::segment_size(&sizes, i);
            match *class {
                FrameClass::Ipv4(Span { offset, length })
                    if (offset as usize).saturating_add(length as usize) <= len =>
                {
                    ip_spans.push((start + offset as usize, length as usize));
                    if !sizes.is_empty() {
                        ip_sizes.push(size);
                    }
                }
                // Anything else, or a span outside its frame: the frame goes whole, to link.
                _ => other.push(&frames.bytes[start..start + len], size, &sizes),
            }
        }
        self.counters.rx_fast_frames += ip_spans.len() as u64;
        self.counters.rx_slow_frames += other.batch.lengths.len() as u64;
        merge_sized(&mut work.link_rx, other.batch, other.sizes);
        // TCP's segments stay in the frames, which are kept for them: their data is copied
        // once, where TCP places it; then the frames' buffer goes round. (A turn receives one
        // batch of frames.)
        debug_assert!(work.frames.is_empty() && work.tcp_rx_in_frames.is_empty());
        if !ip_spans.is_empty() {
            self.classify_packets(now, &frames.bytes, &ip_spans, &ip_sizes, true, work)?;
        }
        work.frames = frames.bytes;
        Ok(())
    }

    /// ipv4's receive fast path for a batch of packets (link's slow path passes some up).
    pub(super) fn classify_batch(
        &mut self,
        now: u64,
        packets: Sized,
        work: &mut Pending,
    ) -> Result<()> {
        if !adds_up(&packets.batch) {
            // A layer's output whose lengths do not add up: ipv4's `receive` counts it.
            return self.ipv4_receive(now, packets, work);
        }
        let spans = spans_of(&packets.batch.lengths);
        self.classify_packets(
            now,
            &packets.batch.bytes,
            &spans,
            &packets.sizes,
            false,
            work,
        )
    }

    /// ipv4's receive fast path, as [`Self::classify_frames`] is link's: ipv4 sees each
    /// packet's header; the TCP and UDP payloads for us go to their transports straight from
    /// the packets, the rest (ICMP, fragments, forwarding, bad headers) to ipv4's `receive`.
    /// The packets lie in `bytes` at `spans` (start, length), where link's classes put them, so
    /// a frame's payload is copied once on its way to TCP. `sizes` is empty or one per packet.
    /// With `in_frames`, TCP's segments are not copied at all: they are noted where they lie
    /// in `bytes`, which the caller keeps (`work.frames`).
    fn classify_packets(
        &mut self,
        now: u64,
        bytes: &[u8],
        spans: &[(usize, usize)],
        sizes: &[u16],
        in_frames: bool,
        work: &mut Pending,
    ) -> Result<()> {
        let size = |i| netstack_wire::batch::segment_size(sizes, i);
        let (heads, packet_heads) = heads_at(bytes, spans, IPV4_HEAD, |head, len, i| PacketHead {
            head_length: head,
            length: len,
            segment_size: size(i),
        });
        self.counters.calls[1] += 1;
        let Layer { store, bindings } = &mut self.ipv4;
        let classes = bindings.netstack_stack_ipv4().call_classify(
            &mut *store,
            now,
            0,
            &heads,
            &packet_heads,
        )?;
        let mut slow = Sized::empty();
        if classes.len() != spans.len() {
            // The layer refused the batch (and counted it): every packet goes the slow way.
            for (i, &(start, len)) in spans.iter().enumerate() {
                slow.push(&bytes[start..start + len], size(i), sizes);
            }
        } else {
            let (mut tcp, mut udp) = (empty_transport(), empty_transport());
            if !in_frames {
                // Room for every payload, so the batch does not grow by copying itself.
                tcp.payloads
                    .bytes
                    .reserve(spans.iter().map(|&(_, len)| len).sum());
            }
            let mut in_place = 0;
            for (i, (class, &(start, len))) in classes.into_iter().zip(spans).enumerate() {
                let packet = &bytes[start..start + len];
                let (to, delivery, is_tcp) = match class {
                    Ipv4Class::Tcp(d) => (&mut tcp, d, true),
                    Ipv4Class::Udp(d) => (&mut udp, d, false),
                    Ipv4Class::Other => {
                        slow.push(packet, size(i), sizes);
                        continue;
                    }
                };
                let (offset, length) =
                    (delivery.span.offset as usize, delivery.span.length as usize);
                match packet.get(offset..offset.saturating_add(length)) {
                    Some(_) if in_frames && is_tcp => {
                        let at = start + offset;
                        work.tcp_rx_in_frames.push((delivery.info, at, length));
                        in_place += 1;
                    }
                    Some(payload) => {
                        to.info.push(delivery.info);
                        to.payloads.bytes.extend_from_slice(payload);
                        to.payloads.lengths.push(payload.len() as u32);
                    }
                    // A span outside its packet: the packet goes whole, where ipv4 checks it.
                    None => slow.push(packet, size(i), sizes),
                }
            }
            self.counters.rx_fast_payloads += (tcp.info.len() + udp.info.len() + in_place) as u64;
            merge_transport(&mut work.tcp_rx, tcp);
            merge_transport(&mut work.udp_rx, udp);
        }
        if !slow.batch.lengths.is_empty() {
            self.ipv4_receive(now, slow, work)?;
        }
        Ok(())
    }

    /// ipv4's byte path: whole packets to `receive`.
    fn ipv4_receive(&mut self, now: u64, packets: Sized, work: &mut Pending) -> Result<()> {
        self.counters.calls[1] += 1;
        self.counters.rx_slow_packets += packets.batch.lengths.len() as u64;
        let Layer { store, bindings } = &mut self.ipv4;
        let out = bindings.netstack_stack_ipv4().call_receive(
            &mut *store,
            now,
            0,
            &packets.batch,
            &packets.sizes,
        )?;
        self.absorb_ip(out, work);
        Ok(())
    }
}
