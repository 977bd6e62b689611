//! The send fast path (docs/zero-copy.md): a transport's payloads reach the wire batch with one
//! copy. ipv4 routes each payload from its metadata and length (`route-headers`: the IPv4
//! header and next hop), link answers each routed packet's Ethernet header from its next hop
//! and length (`frame-headers`), and the host puts header, header and payload together in the
//! wire batch. Before, ipv4 and link each lowered the payload, framed it and lifted it back:
//! six copies.
//!
//! TCP's bytes that the host holds (`held-payload`, stack/held.rs) are copied from the
//! socket's stream straight into the frames, after the payload's TCP header.
//!
//! What a layer leaves takes its byte path, where it is handled and counted as always: ipv4's
//! `send` gets the payload (loopback, no route, fragments, an ICMP error), link's `send` the
//! IPv4 packet (ARP resolution, with the packet queued in the layer meanwhile; too big).
//! A frame of the fast path may therefore leave before one of an earlier payload that waits
//! for ARP or goes through ipv4 again; those are other destinations or failures, never two
//! segments of one flow that both went out.

use super::held::{Pieces, append_segment, complete_checksum};
use super::{
    HeldPayload, Layer, Pending, Stack, adds_up, empty_transport, merge_outbound, spans_of,
};
use crate::bindings::ethernet_arp::exports::netstack::stack::link::{Framing, RoutedPacket};
use crate::bindings::ipv4::exports::netstack::stack::ipv4::{OutgoingPayload, Routing};
use crate::bindings::ipv4::exports::netstack::stack::types as ip_t;
use crate::offload;
use netstack_wire::batch::{parts_of, push_segment_size};
use wasmtime::Result;

/// The most header bytes a frame carries before its transport payload: Ethernet with an
/// 802.1Q tag, IPv4 with options, and TCP with options.
const WIRE_HEADERS: usize = 18 + 60 + 60;

/// Payloads and packets a layer left to its byte path.
#[derive(Default)]
struct Leftovers {
    payloads: Option<ip_t::TransportBatch>,
    packets: Option<ip_t::Outbound>,
}

impl Stack {
    /// Sends transport payloads (some going on with `held` bytes) down the fast path; what it
    /// cannot take goes the byte path.
    pub(super) fn send_payloads(
        &mut self,
        now: u64,
        payloads: ip_t::TransportBatch,
        held: &[HeldPayload],
        work: &mut Pending,
    ) -> Result<()> {
        if !adds_up(&payloads.payloads) || payloads.info.len() != payloads.payloads.lengths.len() {
            // A transport's output that does not add up: ipv4's `send` counts it.
            let payloads = self.fill_held(payloads, held);
            return self.ipv4_send(now, payloads, work);
        }
        let ip_t::TransportBatch { info, payloads } = &payloads;
        // Each payload's whole length, held bytes included: what the headers must say (the
        // lengths as they are when nothing is held, as for UDP or a bare ACK).
        let mut heads: Vec<_> = info
            .iter()
            .zip(&payloads.lengths)
            .map(|(&info, &length)| OutgoingPayload { info, length })
            .collect();
        for h in held {
            if let Some(head) = heads.get_mut(h.payload as usize) {
                head.length += h.length;
            }
        }
        self.counters.calls[1] += 1;
        let Layer { store, bindings } = &mut self.ipv4;
        let routing =
            bindings
                .netstack_stack_ipv4()
                .call_route_headers(&mut *store, now, &heads)?;
        let routes = ipv4_routes(&routing, heads.len());

        let packets: Vec<_> = routes
            .iter()
            .zip(&heads)
            .filter_map(|(r, head)| {
                r.map(|(header, next_hop)| RoutedPacket {
                    next_hop,
                    length: header.len() as u32 + head.length,
                    segment_size: head.info.segment_size,
                })
            })
            .collect();
        let framing = if packets.is_empty() {
            None
        } else {
            self.counters.calls[0] += 1;
            let Layer { store, bindings } = &mut self.link;
            let framing =
                bindings
                    .netstack_stack_link()
                    .call_frame_headers(&mut *store, now, &packets)?;
            self.deadlines[0] = framing.deadline;
            Some(framing)
        };

        // Room for every frame the payloads make, cut ones included (a header per 1 KB is
        // more than enough), so the batch does not grow by copying itself.
        // The whole lengths count the held bytes, which the payloads do not carry.
        let bytes: usize = heads.iter().map(|h| h.length as usize).sum();
        let cut_headers = (bytes / 1024 + packets.len()) * WIRE_HEADERS;
        self.to_wire
            .reserve(bytes + cut_headers, cut_headers / WIRE_HEADERS);
        let mut framed = ethernet_headers(framing.as_ref());
        let mut left = Leftovers::default();
        let spans = spans_of(&payloads.lengths);
        let mut held = held.iter().peekable();
        // The streams are read while frames go into the wire batch, both `self`'s.
        let streams = std::mem::take(&mut self.held);
        for (n, ((r, i), &(start, len))) in routes.iter().zip(info).zip(&spans).enumerate() {
            let payload = &payloads.bytes[start..start + len];
            let pieces = match held.next_if(|h| h.payload as usize == n) {
                None => None,
                Some(h) => match streams.span(h) {
                    Some(pieces) => {
                        self.counters.tx_held_bytes += u64::from(h.length);
                        Some(pieces)
                    }
                    None => {
                        self.held_missing(h);
                        // Its frame's header from link, if any, is not used.
                        if r.is_some() {
                            framed.next();
                        }
                        continue;
                    }
                },
            };
            let Some((ip, next_hop)) = *r else {
                left.payload(i, payload, pieces);
                continue;
            };
            // A missing header (a refused batch) leaves the packet to link's `send`.
            match framed.next().flatten() {
                Some(eth) => {
                    self.push_wire(eth, ip, payload, pieces, i);
                    self.counters.tx_fast_frames += 1;
                }
                None => left.packet(ip, next_hop, payload, pieces, i),
            }
        }
        self.held = streams;
        self.counters.tx_fast_payloads += packets.len() as u64;
        if let Some(packets) = left.packets {
            self.counters.tx_slow_packets += packets.next_hops.len() as u64;
            merge_outbound(&mut work.link_tx, packets);
        }
        match left.payloads {
            Some(slow) => self.ipv4_send(now, slow, work),
            None => Ok(()),
        }
    }

    /// ipv4's byte path: whole payloads to `send`.
    pub(super) fn ipv4_send(
        &mut self,
        now: u64,
        payloads: ip_t::TransportBatch,
        work: &mut Pending,
    ) -> Result<()> {
        self.counters.calls[1] += 1;
        self.counters.tx_slow_payloads += payloads.info.len() as u64;
        let Layer { store, bindings } = &mut self.ipv4;
        let out = bindings
            .netstack_stack_ipv4()
            .call_send(&mut *store, now, &payloads)?;
        self.absorb_ip(out, work);
        Ok(())
    }

    /// Appends the frame of link's header `eth`, ipv4's `ip`, the transport's `payload` and
    /// the bytes the host holds after it to the wire batch: copied once, and a TCP
    /// super-segment cut (GSO) as it is copied.
    pub(super) fn push_wire(
        &mut self,
        eth: &[u8],
        ip: &[u8],
        payload: &[u8],
        pieces: Pieces<'_>,
        info: &ip_t::DatagramInfo,
    ) {
        let [held_a, held_b] = pieces.unwrap_or_default();
        let size = info.segment_size;
        let plain = eth.len() == offload::ETHERNET_LEN && ip.len() == offload::IPV4_PLAIN_LEN;
        if let Some(tcp_len) = offload::tcp_header_len(payload).filter(|_| {
            size != 0 && plain && info.protocol == u8::from(netstack_wire::IpProtocol::Tcp)
        }) {
            let mut headers = [0; offload::ETHERNET_LEN + offload::IPV4_PLAIN_LEN + 60];
            let parts = [eth, ip, &payload[..tcp_len]];
            let mut len = 0;
            for part in parts {
                headers[len..len + part.len()].copy_from_slice(part);
                len += part.len();
            }
            let cut = &mut self.to_wire;
            let data = [&payload[tcp_len..], held_a, held_b];
            let made = offload::gso_cut_parts(&headers[..len], &data, size, cut);
            // The cut frames need nothing more: no segment size (zero) for any of them.
            let index = self.to_wire.len() - 1;
            push_segment_size(&mut self.to_wire_sizes, index, 0);
            self.counters.gso_supers += 1;
            self.counters.gso_frames += made as u64;
            return;
        }
        let tcp_at = eth.len() + ip.len();
        self.to_wire
            .push_gathered([eth, ip, payload, held_a, held_b], |frame| {
                if pieces.is_some() && size == 0 {
                    complete_checksum(&mut frame[tcp_at..], info);
                }
            });
        let index = self.to_wire.len() - 1;
        push_segment_size(&mut self.to_wire_sizes, index, size);
    }
}

/// ipv4's answer to `route-headers`, a payload each: its IPv4 header and next hop, or `None`
/// for one left to `send`. A refused batch, or an answer whose headers do not add up (a
/// layer's bug), leaves every payload to `send`.
fn ipv4_routes(routing: &Routing, payloads: usize) -> Vec<Option<(&[u8], ip_t::Ipv4Address)>> {
    let lengths = (routing.routes.iter()).map(|r| r.as_ref().map_or(0, |r| r.header_length.into()));
    let mut routes: Vec<_> = match parts_of(&routing.headers, lengths) {
        Some(headers) => (routing.routes.iter().zip(headers))
            .map(|(r, header)| r.as_ref().map(|r| (header, r.next_hop)))
            .collect(),
        None => Vec::new(),
    };
    routes.resize(payloads, None);
    routes
}

/// Link's answer to `frame-headers`, a packet at a time: `Some(header)`, or `None` for one
/// left to `send`. A refused batch, or an answer whose headers do not add up (a layer's bug),
/// has none: every packet goes to `send`.
fn ethernet_headers(framing: Option<&Framing>) -> impl Iterator<Item = Option<&[u8]>> {
    framing
        .and_then(|f| parts_of(&f.headers, f.header_lengths.iter().map(|&n| u32::from(n))))
        .into_iter()
        .flatten()
        .map(|header| (!header.is_empty()).then_some(header))
}

impl Leftovers {
    /// A payload (and its held bytes) for ipv4's `send`.
    fn payload(&mut self, info: &ip_t::DatagramInfo, payload: &[u8], pieces: Pieces<'_>) {
        let b = self.payloads.get_or_insert_with(empty_transport);
        b.info.push(*info);
        let len = append_segment(&mut b.payloads.bytes, payload, pieces, info);
        b.payloads.lengths.push(len as u32);
    }

    /// An IPv4 packet (ipv4's `header`, the payload and its held bytes) for link's `send`.
    fn packet(
        &mut self,
        header: &[u8],
        next_hop: ip_t::Ipv4Address,
        payload: &[u8],
        pieces: Pieces<'_>,
        info: &ip_t::DatagramInfo,
    ) {
        let b = self.packets.get_or_insert_with(|| ip_t::Outbound {
            packets: ip_t::Batch {
                bytes: Vec::new(),
                lengths: Vec::new(),
            },
            next_hops: Vec::new(),
            segment_sizes: Vec::new(),
        });
        b.packets.bytes.extend_from_slice(header);
        let len = append_segment(&mut b.packets.bytes, payload, pieces, info);
        b.packets.lengths.push((header.len() + len) as u32);
        b.next_hops.push(next_hop);
        // One size per packet; the link layer reads an all-zero list as "none".
        b.segment_sizes.push(info.segment_size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::ipv4::exports::netstack::stack::ipv4::Routed;

    #[test]
    fn answers_whose_headers_do_not_add_up_leave_their_packets_to_the_byte_path() {
        let hop = (10, 0, 2, 2);
        let routed = |header_length| {
            Some(Routed {
                header_length,
                next_hop: hop,
            })
        };
        // Two routed payloads, one not, and 40 bytes of headers: all as answered.
        let routing = Routing {
            headers: (0..40).collect(),
            routes: vec![routed(20), None, routed(20)],
        };
        let routes = ipv4_routes(&routing, 3);
        assert_eq!(routes[0], Some((&routing.headers[..20], hop)));
        assert_eq!(routes[1], None);
        assert_eq!(routes[2], Some((&routing.headers[20..], hop)));
        // Fewer answers than payloads: the rest go to `send`.
        let routes = ipv4_routes(&routing, 4);
        assert!(routes[0].is_some() && routes[3].is_none());
        // Headers that do not add up: every payload goes to `send`.
        let short = Routing {
            headers: vec![0; 30],
            routes: vec![routed(20), routed(20)],
        };
        assert_eq!(ipv4_routes(&short, 3), [None, None, None]);

        let framing = Framing {
            headers: (0..46).collect(),
            header_lengths: vec![14, 0, 18, 14],
            deadline: None,
        };
        let eth: Vec<_> = ethernet_headers(Some(&framing)).collect();
        let h = &framing.headers;
        assert_eq!(
            eth,
            [Some(&h[..14]), None, Some(&h[14..32]), Some(&h[32..])]
        );
        let short = Framing {
            headers: vec![0; 32],
            ..framing
        };
        assert_eq!(ethernet_headers(Some(&short)).count(), 0, "not adding up");
        assert_eq!(ethernet_headers(None).count(), 0, "a refused batch");
    }
}
