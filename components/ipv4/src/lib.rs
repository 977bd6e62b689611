//! The network layer, sans-IO: IPv4 (RFC 791) and ICMP (RFC 792).
//!
//! - Input: header validation (version, IHL, total length against the frame, checksum, options
//!   framing), reassembly ([`reassembly`]), local delivery by protocol, forwarding when enabled
//!   (TTL decremented, RFC 1812 §5.3.1), ICMP echo reply, ICMP errors about our own datagrams
//!   passed up to their transport (RFC 1122 §3.2.2).
//! - Output: the route by longest prefix match ([`fib`]), loopback for our own addresses and
//!   127.0.0.0/8 inside the layer, fragmentation to the interface MTU, or with DF an ICMP
//!   "fragmentation needed" (RFC 1191).
//! - ICMP errors we send: protocol and port unreachable, host unreachable (the link could not
//!   resolve the next hop), time exceeded (TTL, reassembly), fragmentation needed, never about
//!   an ICMP error, a broadcast, or a non-first fragment (RFC 1122 §3.2.2).
//!
//! No clock, RNG or I/O: `now` comes in, packets go out in an [`Output`].

use netstack_wire::batch::push_segment_size;
use std::collections::BTreeMap;

use netstack_wire::icmpv4::{self, Icmpv4Packet, Icmpv4Repr};
use netstack_wire::ipv4::HEADER_LEN;
use netstack_wire::{
    Batch, ChecksumMode, DatagramInfo, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
    TransportBatch,
};

mod fib;
pub mod reassembly;
pub use fib::{Fib, Route, RouteError};
use reassembly::{DropReason, Outcome, Reassembler};

#[cfg(target_arch = "wasm32")]
mod component;

// The component's heap: free lists of small blocks by size class (netstack-alloc).
#[cfg(target_arch = "wasm32")]
use netstack_alloc as _;

/// A monotonic instant in nanoseconds, from the host.
pub type Instant = u64;

/// The TTL of datagrams we originate (Linux's `net.ipv4.ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;
/// An interface's MTU until told otherwise.
pub const DEFAULT_MTU: u32 = 1500;

/// An ICMP error about a datagram we sent, for the transport that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpError {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// For fragmentation needed: the next-hop MTU.
    pub next_hop_mtu: u16,
    /// The offending datagram's metadata.
    pub original: DatagramInfo,
    /// The first bytes of its transport header.
    pub transport_header: Vec<u8>,
}

/// What one call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Packets for the link layer.
    pub to_link: Batch,
    /// Their next hops, index for index.
    pub next_hops: Vec<Ipv4Address>,
    /// Their GSO segment sizes: empty, or one per packet (see [`netstack_wire::batch`]).
    pub segment_sizes: Vec<u16>,
    /// TCP segments delivered locally.
    pub to_tcp: TransportBatch,
    /// UDP datagrams delivered locally.
    pub to_udp: TransportBatch,
    /// ICMP errors about our own datagrams.
    pub icmp_errors: Vec<IcmpError>,
    /// When to poll next.
    pub deadline: Option<Instant>,
}

netstack_wire::counters! {
    /// The layer's counters, named after `/proc/net/snmp`'s Ip and Icmp rows where one exists.
    pub struct Counters {
        /// Datagrams received (loopback included).
        in_receives => "in-receives",
        /// Dropped: bad version, header length, checksum or options.
        in_hdr_errors => "in-hdr-errors",
        /// Dropped: shorter than their headers say.
        in_truncated_pkts => "in-truncated-pkts",
        /// Dropped: not for us and not forwarded.
        in_addr_errors => "in-addr-errors",
        /// Dropped: a protocol we do not carry (answered with ICMP protocol unreachable).
        in_unknown_protos => "in-unknown-protos",
        /// Delivered to a transport or ICMP.
        in_delivers => "in-delivers",
        /// Datagrams forwarded.
        forw_datagrams => "forw-datagrams",
        /// Fragments received.
        reasm_reqds => "reasm-reqds",
        /// Datagrams reassembled.
        reasm_oks => "reasm-oks",
        /// Fragments or datagrams dropped in reassembly (timeout, overlap, memory, malformed).
        reasm_fails => "reasm-fails",
        /// Of those, datagrams dropped for overlapping fragments.
        reasm_overlaps => "reasm-overlaps",
        /// Of those, datagrams that timed out.
        reasm_timeouts => "reasm-timeouts",
        /// Datagrams sent (ICMP and forwarded included, loopback not).
        out_requests => "out-requests",
        /// Datagrams looped back to ourselves.
        out_loopback => "out-loopback",
        /// Dropped on output: no route.
        out_no_routes => "out-no-routes",
        /// Dropped on output: larger than 65535 bytes, or too big with DF.
        out_discards => "out-discards",
        /// Datagrams fragmented.
        frag_oks => "frag-oks",
        /// Fragments made.
        frag_creates => "frag-creates",
        /// Datagrams that needed fragmenting but had DF.
        frag_fails => "frag-fails",
        /// ICMP messages received.
        icmp_in_msgs => "icmp-in-msgs",
        /// ICMP messages dropped: truncated or bad checksum.
        icmp_in_errors => "icmp-in-errors",
        /// ICMP echo requests received.
        icmp_in_echos => "icmp-in-echos",
        /// ICMP errors about our datagrams passed to a transport.
        icmp_in_errors_up => "icmp-in-errors-up",
        /// ICMP echo replies sent.
        icmp_out_echo_reps => "icmp-out-echo-reps",
        /// ICMP destination unreachables sent.
        icmp_out_dest_unreachs => "icmp-out-dest-unreachs",
        /// ICMP time exceededs sent.
        icmp_out_time_excds => "icmp-out-time-excds",
    }
}

/// The IPv4 layer of a host (or router, with forwarding on).
#[derive(Debug, Default)]
pub struct Ipv4Layer {
    addresses: Vec<(u32, Ipv4Cidr)>,
    mtus: BTreeMap<u32, u32>,
    fib: Fib,
    forwarding: bool,
    next_ident: u16,
    reassembler: Reassembler,
    counters: Counters,
}

impl Ipv4Layer {
    /// A layer with no address and no route.
    pub fn new() -> Ipv4Layer {
        Ipv4Layer::default()
    }

    /// Adds an address on interface `ifindex`, with its connected route.
    pub fn add_address(&mut self, ifindex: u32, cidr: Ipv4Cidr) -> Result<(), RouteError> {
        if self
            .addresses
            .iter()
            .any(|(_, c)| c.address() == cidr.address())
            || cidr.address().is_loopback()
            || cidr.address().is_multicast()
            || cidr.address().is_unspecified()
        {
            return Err(
                if self
                    .addresses
                    .iter()
                    .any(|(_, c)| c.address() == cidr.address())
                {
                    RouteError::Exists
                } else {
                    RouteError::Invalid
                },
            );
        }
        if !self
            .addresses
            .iter()
            .any(|(i, c)| *i == ifindex && c.network() == cidr.network())
        {
            self.fib.add(Route {
                destination: cidr.network(),
                gateway: None,
                ifindex,
                metric: 0,
            })?;
        }
        self.addresses.push((ifindex, cidr));
        Ok(())
    }

    /// Removes an address and its connected route.
    pub fn remove_address(&mut self, ifindex: u32, cidr: Ipv4Cidr) -> Result<(), RouteError> {
        let at = self
            .addresses
            .iter()
            .position(|&a| a == (ifindex, cidr))
            .ok_or(RouteError::NotFound)?;
        self.addresses.remove(at);
        // Another address may share the network; the route goes with the last one.
        if !self
            .addresses
            .iter()
            .any(|(i, c)| *i == ifindex && c.network() == cidr.network())
        {
            let _ = self.fib.remove(cidr.network(), 0);
        }
        Ok(())
    }

    /// Sets an interface's MTU (68..=65535, RFC 791's minimum).
    pub fn set_mtu(&mut self, ifindex: u32, mtu: u32) -> Result<(), RouteError> {
        if !(68..=65_535).contains(&mtu) {
            return Err(RouteError::Invalid);
        }
        self.mtus.insert(ifindex, mtu);
        Ok(())
    }

    fn mtu(&self, ifindex: u32) -> usize {
        self.mtus.get(&ifindex).copied().unwrap_or(DEFAULT_MTU) as usize
    }

    /// Turns forwarding between interfaces on or off (`net.ipv4.ip_forward`).
    pub fn set_forwarding(&mut self, on: bool) {
        self.forwarding = on;
    }

    /// The forwarding table.
    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    /// The forwarding table, to add and remove routes.
    pub fn fib_mut(&mut self) -> &mut Fib {
        &mut self.fib
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Datagrams being reassembled.
    pub fn reassembly(&self) -> &Reassembler {
        &self.reassembler
    }

    fn is_ours(&self, addr: Ipv4Address) -> bool {
        addr.is_loopback() || self.addresses.iter().any(|(_, c)| c.address() == addr)
    }

    fn is_local(&self, addr: Ipv4Address) -> bool {
        self.is_ours(addr)
            || addr.is_broadcast()
            || self.addresses.iter().any(|(_, c)| c.broadcast() == addr)
    }

    /// Handles packets the link layer received on `ifindex`.
    pub fn receive<'a>(
        &mut self,
        now: Instant,
        _ifindex: u32,
        packets: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Output,
    ) {
        self.receive_offloaded(now, _ifindex, packets.into_iter().map(|p| (p, 0)), out);
    }

    /// [`Self::receive`] for packets with their GRO segment sizes (0: none), which go up with
    /// the TCP segments they carry.
    pub fn receive_offloaded<'a>(
        &mut self,
        now: Instant,
        _ifindex: u32,
        packets: impl IntoIterator<Item = (&'a [u8], u16)>,
        out: &mut Output,
    ) {
        for (bytes, segment_size) in packets {
            self.receive_one(now, bytes, segment_size, out);
        }
        self.finish(out);
    }

    /// The receive fast path: for each packet, given its first bytes (`head`, its whole header
    /// at least), its whole length and its GRO segment size, the TCP or UDP payload it carries
    /// for us: its metadata and where it lies (offset, length). `None` leaves the packet to
    /// [`Self::receive_offloaded`] (ICMP, fragments, forwarding, bad headers: all of them
    /// counted there). A packet passed on is counted here as `receive_offloaded` counts it.
    pub fn classify<'a>(
        &mut self,
        packets: impl IntoIterator<Item = (&'a [u8], usize, u16)>,
    ) -> Vec<Option<(DatagramInfo, usize, usize)>> {
        packets
            .into_iter()
            .map(|(head, len, segment_size)| {
                let packet = Ipv4Packet::new_unchecked(head);
                let repr = Ipv4Repr::parse_header(&packet, len, ChecksumMode::Verify).ok()?;
                let plain = matches!(repr.protocol, IpProtocol::Tcp | IpProtocol::Udp)
                    && self.is_local(repr.dst_addr)
                    && !repr.is_fragment();
                if !plain {
                    return None;
                }
                self.counters.in_receives += 1;
                self.counters.in_delivers += 1;
                let info = delivery_info(&repr, segment_size);
                Some((info, packet.header_len(), repr.payload_len))
            })
            .collect()
    }

    fn receive_one(&mut self, now: Instant, bytes: &[u8], segment_size: u16, out: &mut Output) {
        self.counters.in_receives += 1;
        let packet = match Ipv4Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(netstack_wire::Error::Truncated) => {
                self.counters.in_truncated_pkts += 1;
                return;
            }
            Err(_) => {
                self.counters.in_hdr_errors += 1;
                return;
            }
        };
        let Ok(repr) = Ipv4Repr::parse(&packet, ChecksumMode::Verify) else {
            self.counters.in_hdr_errors += 1;
            return;
        };
        // Ethernet padding is not part of the datagram.
        let bytes = &bytes[..usize::from(packet.total_len())];
        if !self.is_local(repr.dst_addr) {
            if self.forwarding && !repr.dst_addr.is_multicast() {
                self.forward(&repr, bytes, segment_size, out);
            } else {
                self.counters.in_addr_errors += 1;
            }
            return;
        }
        if repr.is_fragment() {
            self.counters.reasm_reqds += 1;
            match self.reassembler.insert(now, &repr, bytes) {
                Outcome::Pending => {}
                Outcome::Complete(whole, payload) => {
                    self.counters.reasm_oks += 1;
                    let header = netstack_wire::build::ipv4_with(&whole, &payload);
                    self.deliver(
                        &whole,
                        &payload,
                        &header[..HEADER_LEN + 8.min(payload.len())],
                        0,
                        out,
                    );
                }
                Outcome::Dropped(reason) => {
                    self.counters.reasm_fails += 1;
                    if reason == DropReason::Overlap {
                        self.counters.reasm_overlaps += 1;
                    }
                }
            }
            return;
        }
        let quote = &bytes[..bytes.len().min(packet.header_len() + 8)];
        self.deliver(&repr, packet.payload(), quote, segment_size, out);
    }

    /// Hands a whole datagram to its protocol. `quote` is its header and first 8 payload bytes,
    /// for an ICMP error about it; `segment_size`, its GRO segment size, goes with a TCP segment.
    fn deliver(
        &mut self,
        repr: &Ipv4Repr,
        payload: &[u8],
        quote: &[u8],
        segment_size: u16,
        out: &mut Output,
    ) {
        let info = delivery_info(repr, segment_size);
        match repr.protocol {
            IpProtocol::Tcp => {
                self.counters.in_delivers += 1;
                out.to_tcp.push(info, payload);
            }
            IpProtocol::Udp => {
                self.counters.in_delivers += 1;
                out.to_udp.push(info, payload);
            }
            IpProtocol::Icmp => {
                self.counters.in_delivers += 1;
                self.receive_icmp(repr, payload, out);
            }
            IpProtocol::Unknown(_) => {
                self.counters.in_unknown_protos += 1;
                // RFC 1122 §3.2.2.1: a host SHOULD generate protocol unreachable.
                self.send_error(
                    Icmpv4Repr::DstUnreachable {
                        code: icmpv4::unreachable::PROTOCOL,
                        next_hop_mtu: 0,
                        data: quote,
                    },
                    repr,
                    out,
                );
            }
        }
    }

    fn receive_icmp(&mut self, ip: &Ipv4Repr, payload: &[u8], out: &mut Output) {
        self.counters.icmp_in_msgs += 1;
        let Ok(repr) = Icmpv4Packet::new_checked(payload)
            .and_then(|p| Icmpv4Repr::parse(&p, ChecksumMode::Verify))
        else {
            self.counters.icmp_in_errors += 1;
            return;
        };
        let (icmp_type, code, mtu, data) = match repr {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                self.counters.icmp_in_echos += 1;
                // RFC 1122 §3.2.2.6: the reply's source is the request's specific destination; a
                // request to a broadcast address is answered from our address on that network.
                let src = if self.is_ours(ip.dst_addr) {
                    ip.dst_addr
                } else {
                    match self.source_for(ip.src_addr) {
                        Some(a) => a,
                        None => return,
                    }
                };
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self.send_icmp(src, ip.src_addr, &reply, out) {
                    self.counters.icmp_out_echo_reps += 1;
                }
                return;
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                data,
            } => (icmpv4::DST_UNREACHABLE, code, next_hop_mtu, data),
            Icmpv4Repr::TimeExceeded { code, data } => (icmpv4::TIME_EXCEEDED, code, 0, data),
            Icmpv4Repr::ParamProblem { code, data, .. } => (icmpv4::PARAM_PROBLEM, code, 0, data),
            _ => return,
        };
        // An error about a datagram of ours: pass it to the transport that sent it.
        let Ok(quoted) = Ipv4Packet::new_checked(data).or_else(|_| {
            // The quote holds the header and 8 bytes; its total length may claim more.
            let hlen = usize::from(data.first().copied().unwrap_or(0) & 0x0f) * 4;
            if data.len() >= hlen && hlen >= HEADER_LEN {
                Ok(Ipv4Packet::new_unchecked(data))
            } else {
                Err(())
            }
        }) else {
            self.counters.icmp_in_errors += 1;
            return;
        };
        if !self.is_ours(quoted.src_addr()) {
            return;
        }
        let original = DatagramInfo {
            protocol: quoted.protocol(),
            src_addr: quoted.src_addr(),
            dst_addr: quoted.dst_addr(),
            ttl: quoted.ttl(),
            tos: quoted.tos(),
            dont_frag: quoted.dont_frag(),
            segment_size: 0,
        };
        let header = &data[quoted.header_len().min(data.len())..];
        self.counters.icmp_in_errors_up += 1;
        out.icmp_errors.push(IcmpError {
            icmp_type,
            code,
            next_hop_mtu: mtu,
            original,
            transport_header: header[..header.len().min(8)].to_vec(),
        });
    }

    /// Whether an ICMP error may be sent about a datagram (RFC 1122 §3.2.2): not about an ICMP
    /// error, a datagram to a broadcast or multicast address, a non-first fragment, or one from a
    /// source that is not a unicast host.
    fn may_send_error_about(&self, repr: &Ipv4Repr, quote_payload: &[u8]) -> bool {
        let about_error = repr.protocol == IpProtocol::Icmp
            && quote_payload.first().is_some_and(|&t| {
                !matches!(t, icmpv4::ECHO_REQUEST | icmpv4::ECHO_REPLY | 13..=18)
            });
        !(about_error
            || repr.frag_offset != 0
            || repr.dst_addr.is_broadcast()
            || repr.dst_addr.is_multicast()
            || self
                .addresses
                .iter()
                .any(|(_, c)| c.broadcast() == repr.dst_addr)
            || repr.src_addr.is_broadcast()
            || repr.src_addr.is_multicast()
            || repr.src_addr.is_unspecified())
    }

    /// Sends an ICMP error about the datagram `about` to its source.
    fn send_error(&mut self, msg: Icmpv4Repr<'_>, about: &Ipv4Repr, out: &mut Output) {
        let quote_payload = msg.data().get(HEADER_LEN..).unwrap_or(&[]);
        if !self.may_send_error_about(about, quote_payload) {
            return;
        }
        // From the address the datagram came to if it is ours, else from our address towards
        // its source (a router's error).
        let src = if self.is_ours(about.dst_addr) && !about.dst_addr.is_loopback() {
            about.dst_addr
        } else {
            match self.source_for(about.src_addr) {
                Some(a) => a,
                None => return,
            }
        };
        if self.send_icmp(src, about.src_addr, &msg, out) {
            match msg {
                Icmpv4Repr::TimeExceeded { .. } => self.counters.icmp_out_time_excds += 1,
                _ => self.counters.icmp_out_dest_unreachs += 1,
            }
        }
    }

    fn send_icmp(
        &mut self,
        src: Ipv4Address,
        dst: Ipv4Address,
        msg: &Icmpv4Repr<'_>,
        out: &mut Output,
    ) -> bool {
        let info = DatagramInfo {
            protocol: IpProtocol::Icmp,
            src_addr: src,
            dst_addr: dst,
            ttl: DEFAULT_TTL,
            // Linux sends ICMP errors with precedence 6 (internetwork control), replies with 0.
            tos: if matches!(msg, Icmpv4Repr::EchoReply { .. }) {
                0
            } else {
                0xc0
            },
            dont_frag: false,
            segment_size: 0,
        };
        let mut message = vec![0u8; msg.buffer_len()];
        msg.emit(&mut Icmpv4Packet::new_unchecked(&mut message[..]));
        self.output(&info, &message, out)
    }

    /// Our address on the route towards `dst`.
    fn source_for(&self, dst: Ipv4Address) -> Option<Ipv4Address> {
        if dst.is_loopback() {
            return Some(dst);
        }
        if self.is_ours(dst) {
            return Some(dst);
        }
        let route = self.fib.lookup(dst)?;
        let via = route.gateway.unwrap_or(dst);
        self.addresses
            .iter()
            .find(|(i, c)| *i == route.ifindex && c.contains(via))
            .or_else(|| self.addresses.iter().find(|(i, _)| *i == route.ifindex))
            .map(|(_, c)| c.address())
    }

    /// Routes and sends transport payloads (header included) from the transports.
    pub fn send<'a>(
        &mut self,
        _now: Instant,
        payloads: impl IntoIterator<Item = (&'a DatagramInfo, &'a [u8])>,
        out: &mut Output,
    ) {
        for (info, payload) in payloads {
            self.output(info, payload, out);
        }
        self.finish(out);
    }

    /// ICMP port unreachable for UDP datagrams that reached no socket (RFC 1122 §4.1.3.1). The
    /// quoted header is rebuilt from the datagram's metadata.
    pub fn port_unreachable<'a>(
        &mut self,
        _now: Instant,
        datagrams: impl IntoIterator<Item = (&'a DatagramInfo, &'a [u8])>,
        out: &mut Output,
    ) {
        for (info, payload) in datagrams {
            let about = Ipv4Repr {
                src_addr: info.src_addr,
                dst_addr: info.dst_addr,
                protocol: info.protocol,
                payload_len: payload.len(),
                ttl: info.ttl,
                tos: info.tos,
                ident: 0,
                dont_frag: info.dont_frag,
                more_frags: false,
                frag_offset: 0,
            };
            let quote = netstack_wire::build::ipv4_with(
                &Ipv4Repr {
                    payload_len: payload.len().min(8),
                    ..about
                },
                &payload[..payload.len().min(8)],
            );
            let msg = Icmpv4Repr::DstUnreachable {
                code: icmpv4::unreachable::PORT,
                next_hop_mtu: 0,
                data: &quote,
            };
            self.send_error(msg, &about, out);
        }
        self.finish(out);
    }

    /// Packets the link layer could not deliver (their next hop failed to resolve): ICMP host
    /// unreachable to their source, which loops back to our transport if the source is us.
    pub fn undeliverable<'a>(
        &mut self,
        _now: Instant,
        packets: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Output,
    ) {
        for bytes in packets {
            let Ok(p) = Ipv4Packet::new_checked(bytes) else {
                continue;
            };
            let Ok(repr) = Ipv4Repr::parse(&p, ChecksumMode::Trust) else {
                continue;
            };
            let quote = &bytes[..bytes.len().min(p.header_len() + 8)];
            let msg = Icmpv4Repr::DstUnreachable {
                code: icmpv4::unreachable::HOST,
                next_hop_mtu: 0,
                data: quote,
            };
            self.send_error(msg, &repr, out);
        }
        self.finish(out);
    }

    /// Forwards a datagram not for us (RFC 1812 §5.2): TTL check and decrement, route, fragment.
    /// A GRO super-segment goes on as one, for the host to cut again.
    fn forward(&mut self, repr: &Ipv4Repr, bytes: &[u8], segment_size: u16, out: &mut Output) {
        let quote = &bytes[..bytes
            .len()
            .min(Ipv4Packet::new_unchecked(bytes).header_len() + 8)];
        if repr.ttl <= 1 {
            let msg = Icmpv4Repr::TimeExceeded {
                code: icmpv4::time_exceeded::TTL,
                data: quote,
            };
            self.send_error(msg, repr, out);
            return;
        }
        let Some(route) = self.fib.lookup(repr.dst_addr).copied() else {
            self.counters.out_no_routes += 1;
            let msg = Icmpv4Repr::DstUnreachable {
                code: icmpv4::unreachable::NET,
                next_hop_mtu: 0,
                data: quote,
            };
            self.send_error(msg, repr, out);
            return;
        };
        let mut packet = bytes.to_vec();
        Ipv4Packet::new_unchecked(&mut packet[..]).set_ttl_update_checksum(repr.ttl - 1);
        self.counters.forw_datagrams += 1;
        let next_hop = route.gateway.unwrap_or(repr.dst_addr);
        let mtu = self.mtu(route.ifindex);
        if packet.len() <= mtu || segment_size != 0 {
            out.to_link.push(&packet);
            let index = out.to_link.len() - 1;
            push_segment_size(&mut out.segment_sizes, index, segment_size);
            out.next_hops.push(next_hop);
            self.counters.out_requests += 1;
        } else if repr.dont_frag {
            self.counters.frag_fails += 1;
            let msg = Icmpv4Repr::DstUnreachable {
                code: icmpv4::unreachable::FRAG_NEEDED,
                next_hop_mtu: mtu as u16,
                data: quote,
            };
            self.send_error(msg, repr, out);
        } else {
            let hlen = Ipv4Packet::new_unchecked(&packet[..]).header_len();
            let fwd = Ipv4Repr {
                ttl: repr.ttl - 1,
                ..*repr
            };
            self.fragment(&fwd, &packet[hlen..], mtu, next_hop, out);
        }
    }

    /// The send fast path: for each of our datagrams (its metadata and payload length), the
    /// IPv4 header to put in front of its payload and its next hop, when it goes to a link as
    /// it is; counted as [`Self::send`] counts it. `None` leaves the payload to `send` (loopback,
    /// no route, too long, or too big for the MTU: fragments or an ICMP error; counted there).
    pub fn route_headers<'a>(
        &mut self,
        datagrams: impl IntoIterator<Item = (&'a DatagramInfo, usize)>,
    ) -> Vec<Option<([u8; HEADER_LEN], Ipv4Address)>> {
        datagrams
            .into_iter()
            .map(|(info, payload_len)| {
                let next_hop = self.plain_next_hop(info, payload_len)?;
                let mut header = [0; HEADER_LEN];
                self.out_repr(info, payload_len)
                    .emit(&mut Ipv4Packet::new_unchecked(&mut header[..]));
                self.counters.out_requests += 1;
                Some((header, next_hop))
            })
            .collect()
    }

    /// The next hop of one of our datagrams that goes to a link as it is (not loopback, routed,
    /// and within the MTU or a GSO super-segment, which the host cuts to fit); `None` otherwise.
    fn plain_next_hop(&self, info: &DatagramInfo, payload_len: usize) -> Option<Ipv4Address> {
        if HEADER_LEN + payload_len > usize::from(u16::MAX) || self.is_ours(info.dst_addr) {
            return None;
        }
        let route = self.fib.lookup(info.dst_addr)?;
        let fits = HEADER_LEN + payload_len <= self.mtu(route.ifindex) || info.segment_size != 0;
        fits.then(|| route.gateway.unwrap_or(info.dst_addr))
    }

    /// The header of one of our datagrams, with the next identification (RFC 6864: unique per
    /// source, destination and protocol while it may be fragmented; one counter serves all).
    fn out_repr(&mut self, info: &DatagramInfo, payload_len: usize) -> Ipv4Repr {
        let ident = self.next_ident;
        self.next_ident = self.next_ident.wrapping_add(1);
        Ipv4Repr {
            src_addr: info.src_addr,
            dst_addr: info.dst_addr,
            protocol: info.protocol,
            payload_len,
            ttl: info.ttl,
            tos: info.tos,
            ident,
            dont_frag: info.dont_frag,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Builds and sends one datagram from us. False if it was dropped.
    fn output(&mut self, info: &DatagramInfo, payload: &[u8], out: &mut Output) -> bool {
        let payload_len = payload.len();
        // The common case, as the fast path takes it; a GSO super-segment goes whole (the host
        // cuts it into segments that fit).
        if let Some(next_hop) = self.plain_next_hop(info, payload_len) {
            let repr = self.out_repr(info, payload_len);
            out.to_link.push_framed(HEADER_LEN, payload, |b| {
                repr.emit(&mut Ipv4Packet::new_unchecked(b));
            });
            out.next_hops.push(next_hop);
            let index = out.to_link.len() - 1;
            push_segment_size(&mut out.segment_sizes, index, info.segment_size);
            self.counters.out_requests += 1;
            return true;
        }
        if HEADER_LEN + payload_len > usize::from(u16::MAX) {
            self.counters.out_discards += 1;
            return false;
        }
        let repr = self.out_repr(info, payload_len);
        // Loopback: our own addresses and 127.0.0.0/8 never reach a link.
        if self.is_ours(info.dst_addr) {
            let mut packet = vec![0u8; HEADER_LEN + payload_len];
            let mut p = Ipv4Packet::new_unchecked(&mut packet[..]);
            repr.emit(&mut p);
            p.payload_mut().copy_from_slice(payload);
            self.counters.out_loopback += 1;
            self.receive_one(0, &packet, info.segment_size, out);
            return true;
        }
        let Some(route) = self.fib.lookup(info.dst_addr).copied() else {
            self.counters.out_no_routes += 1;
            return false;
        };
        // Routed but too big for the interface's MTU.
        let next_hop = route.gateway.unwrap_or(info.dst_addr);
        let mtu = self.mtu(route.ifindex);
        if info.dont_frag {
            // Too big with DF (RFC 1191): the sender hears of it as an ICMP error, as if from
            // the first hop, and can lower its segment size.
            self.counters.frag_fails += 1;
            self.counters.out_discards += 1;
            out.icmp_errors.push(IcmpError {
                icmp_type: icmpv4::DST_UNREACHABLE,
                code: icmpv4::unreachable::FRAG_NEEDED,
                next_hop_mtu: mtu as u16,
                original: *info,
                transport_header: payload[..payload.len().min(8)].to_vec(),
            });
            return false;
        }
        self.fragment(&repr, payload, mtu, next_hop, out);
        true
    }

    /// Cuts a datagram into fragments of at most `mtu` bytes (RFC 791 §3.2: every fragment's
    /// payload but the last a multiple of 8).
    fn fragment(
        &mut self,
        repr: &Ipv4Repr,
        payload: &[u8],
        mtu: usize,
        next_hop: Ipv4Address,
        out: &mut Output,
    ) {
        let chunk = (mtu - HEADER_LEN) & !7;
        let base = usize::from(repr.frag_offset);
        let mut at = 0;
        while at < payload.len() {
            let len = chunk.min(payload.len() - at);
            let last = at + len == payload.len();
            let frag = Ipv4Repr {
                payload_len: len,
                more_frags: !last || repr.more_frags,
                frag_offset: (base + at) as u16,
                ..*repr
            };
            out.to_link.push_with(HEADER_LEN + len, |b| {
                let mut p = Ipv4Packet::new_unchecked(b);
                frag.emit(&mut p);
                p.payload_mut().copy_from_slice(&payload[at..at + len]);
            });
            out.next_hops.push(next_hop);
            self.counters.frag_creates += 1;
            self.counters.out_requests += 1;
            at += len;
        }
        self.counters.frag_oks += 1;
    }

    /// Runs the timers due at `now`: reassembly timeouts, with ICMP time exceeded when the
    /// first fragment had come (RFC 792).
    pub fn poll(&mut self, now: Instant, out: &mut Output) {
        for expired in self.reassembler.expire(now) {
            self.counters.reasm_fails += 1;
            self.counters.reasm_timeouts += 1;
            if let Some((first, quote)) = expired.first {
                let msg = Icmpv4Repr::TimeExceeded {
                    code: icmpv4::time_exceeded::REASSEMBLY,
                    data: &quote,
                };
                self.send_error(msg, &first, out);
            }
        }
        self.finish(out);
    }

    fn finish(&self, out: &mut Output) {
        out.deadline = self.reassembler.next_deadline();
    }
}

/// What a transport is told of a datagram delivered to it; `segment_size` (GRO) goes with TCP
/// only.
fn delivery_info(repr: &Ipv4Repr, segment_size: u16) -> DatagramInfo {
    DatagramInfo {
        protocol: repr.protocol,
        src_addr: repr.src_addr,
        dst_addr: repr.dst_addr,
        ttl: repr.ttl,
        tos: repr.tos,
        dont_frag: repr.dont_frag,
        segment_size: if repr.protocol == IpProtocol::Tcp {
            segment_size
        } else {
            0
        },
    }
}

#[cfg(test)]
mod tests;
