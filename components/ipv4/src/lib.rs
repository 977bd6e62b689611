//! The network layer, sans-IO: IPv4 (RFC 791) and ICMP (RFC 792).
//!
//! Built so far: header validation (version, IHL, total length against the frame, checksum,
//! options framing), local delivery by protocol, ICMP echo reply, protocol unreachable, a
//! forwarding table with longest-prefix match (connected routes come with addresses), and output
//! of transport payloads through it. Fragmentation, reassembly, loopback, time-exceeded and
//! forwarding come with the IPv4 issue; until then fragments are dropped and counted
//! (`reasm-drop-unsupported`).
//!
//! No clock, RNG or I/O: `now` comes in, packets go out in an [`Output`].

use netstack_wire::icmpv4::{self, Icmpv4Packet, Icmpv4Repr};
use netstack_wire::ipv4::HEADER_LEN;
use netstack_wire::{
    Batch, ChecksumMode, DatagramInfo, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
    TransportBatch,
};

mod fib;
pub use fib::{Fib, Route, RouteError};

#[cfg(target_arch = "wasm32")]
mod component;

/// A monotonic instant in nanoseconds, from the host.
pub type Instant = u64;

/// The TTL of datagrams we originate (Linux's `net.ipv4.ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;

/// What one call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Packets for the link layer.
    pub to_link: Batch,
    /// Their next hops, index for index.
    pub next_hops: Vec<Ipv4Address>,
    /// TCP segments delivered locally.
    pub to_tcp: TransportBatch,
    /// UDP datagrams delivered locally.
    pub to_udp: TransportBatch,
    /// When to poll next.
    pub deadline: Option<Instant>,
}

netstack_wire::counters! {
    /// The layer's counters, named after `/proc/net/snmp`'s Ip and Icmp rows where one exists.
    pub struct Counters {
        /// Datagrams received.
        in_receives => "in-receives",
        /// Dropped: bad version, header length, checksum or options.
        in_hdr_errors => "in-hdr-errors",
        /// Dropped: shorter than their headers say.
        in_truncated_pkts => "in-truncated-pkts",
        /// Dropped: not for one of our addresses (we do not forward yet).
        in_addr_errors => "in-addr-errors",
        /// Dropped: a protocol we do not carry (answered with ICMP protocol unreachable).
        in_unknown_protos => "in-unknown-protos",
        /// Delivered to a transport or ICMP.
        in_delivers => "in-delivers",
        /// Fragments dropped: reassembly is not built yet.
        reasm_drop_unsupported => "reasm-drop-unsupported",
        /// Datagrams sent (ICMP included).
        out_requests => "out-requests",
        /// Dropped on output: no route.
        out_no_routes => "out-no-routes",
        /// Dropped on output: larger than 65535 bytes.
        out_discards => "out-discards",
        /// ICMP messages received.
        icmp_in_msgs => "icmp-in-msgs",
        /// ICMP messages dropped: truncated or bad checksum.
        icmp_in_errors => "icmp-in-errors",
        /// ICMP echo requests received.
        icmp_in_echos => "icmp-in-echos",
        /// ICMP echo replies sent.
        icmp_out_echo_reps => "icmp-out-echo-reps",
        /// ICMP destination unreachables sent.
        icmp_out_dest_unreachs => "icmp-out-dest-unreachs",
    }
}

/// The IPv4 layer of a host.
#[derive(Debug, Default)]
pub struct Ipv4Layer {
    addresses: Vec<(u32, Ipv4Cidr)>,
    fib: Fib,
    next_ident: u16,
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
        {
            return Err(RouteError::Exists);
        }
        self.fib.add(Route {
            destination: cidr.network(),
            gateway: None,
            ifindex,
            metric: 0,
        })?;
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

    fn is_local(&self, addr: Ipv4Address) -> bool {
        addr.is_broadcast()
            || self
                .addresses
                .iter()
                .any(|(_, c)| c.address() == addr || c.broadcast() == addr)
    }

    /// Handles packets the link layer received on `ifindex`.
    pub fn receive<'a>(
        &mut self,
        _now: Instant,
        _ifindex: u32,
        packets: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Output,
    ) {
        for bytes in packets {
            self.counters.in_receives += 1;
            let packet = match Ipv4Packet::new_checked(bytes) {
                Ok(p) => p,
                Err(netstack_wire::Error::Truncated) => {
                    self.counters.in_truncated_pkts += 1;
                    continue;
                }
                Err(_) => {
                    self.counters.in_hdr_errors += 1;
                    continue;
                }
            };
            let Ok(repr) = Ipv4Repr::parse(&packet, ChecksumMode::Verify) else {
                self.counters.in_hdr_errors += 1;
                continue;
            };
            if !self.is_local(repr.dst_addr) {
                self.counters.in_addr_errors += 1;
                continue;
            }
            if repr.is_fragment() {
                self.counters.reasm_drop_unsupported += 1;
                continue;
            }
            let info = DatagramInfo {
                protocol: repr.protocol,
                src_addr: repr.src_addr,
                dst_addr: repr.dst_addr,
                ttl: repr.ttl,
                tos: repr.tos,
                dont_frag: repr.dont_frag,
                segment_size: 0,
            };
            match repr.protocol {
                IpProtocol::Tcp => {
                    self.counters.in_delivers += 1;
                    out.to_tcp.push(info, packet.payload());
                }
                IpProtocol::Udp => {
                    self.counters.in_delivers += 1;
                    out.to_udp.push(info, packet.payload());
                }
                IpProtocol::Icmp => {
                    self.counters.in_delivers += 1;
                    self.receive_icmp(&repr, packet.payload(), out);
                }
                IpProtocol::Unknown(_) => {
                    self.counters.in_unknown_protos += 1;
                    // RFC 1122 §3.2.2.1: a host SHOULD generate protocol unreachable.
                    self.send_unreachable(icmpv4::unreachable::PROTOCOL, &repr, bytes, out);
                }
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
        if let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = repr
        {
            self.counters.icmp_in_echos += 1;
            // RFC 1122 §3.2.2.6: the reply's source is the request's specific destination; a
            // request to a broadcast address is answered from our address on that network.
            let src = if self
                .addresses
                .iter()
                .any(|(_, c)| c.address() == ip.dst_addr)
            {
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
        }
    }

    /// Answers `offending` (whole, as received) with a destination unreachable quoting its header
    /// and the first 8 bytes of its payload (RFC 792).
    fn send_unreachable(&mut self, code: u8, ip: &Ipv4Repr, offending: &[u8], out: &mut Output) {
        let quoted_len = offending
            .len()
            .min(Ipv4Packet::new_unchecked(offending).header_len() + 8);
        let msg = Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu: 0,
            data: &offending[..quoted_len],
        };
        if self.send_icmp(ip.dst_addr, ip.src_addr, &msg, out) {
            self.counters.icmp_out_dest_unreachs += 1;
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
            tos: 0,
            dont_frag: false,
            segment_size: 0,
        };
        self.emit(
            &info,
            msg.buffer_len(),
            |b| msg.emit(&mut Icmpv4Packet::new_unchecked(b)),
            out,
        )
    }

    /// Our address on the route towards `dst`.
    fn source_for(&self, dst: Ipv4Address) -> Option<Ipv4Address> {
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
            self.emit(info, payload.len(), |b| b.copy_from_slice(payload), out);
        }
    }

    /// Builds one datagram in place in `out.to_link`; false if it was dropped.
    fn emit(
        &mut self,
        info: &DatagramInfo,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
        out: &mut Output,
    ) -> bool {
        let Some(route) = self.fib.lookup(info.dst_addr) else {
            self.counters.out_no_routes += 1;
            return false;
        };
        if HEADER_LEN + payload_len > usize::from(u16::MAX) {
            self.counters.out_discards += 1;
            return false;
        }
        let next_hop = route.gateway.unwrap_or(info.dst_addr);
        let repr = Ipv4Repr {
            src_addr: info.src_addr,
            dst_addr: info.dst_addr,
            protocol: info.protocol,
            payload_len,
            ttl: info.ttl,
            tos: info.tos,
            ident: self.next_ident,
            dont_frag: info.dont_frag,
            more_frags: false,
            frag_offset: 0,
        };
        self.next_ident = self.next_ident.wrapping_add(1);
        out.to_link.push_with(HEADER_LEN + payload_len, |b| {
            let mut p = Ipv4Packet::new_unchecked(b);
            repr.emit(&mut p);
            fill(p.payload_mut());
        });
        out.next_hops.push(next_hop);
        self.counters.out_requests += 1;
        true
    }

    /// Runs timers. None yet: reassembly comes with the IPv4 issue.
    pub fn poll(&mut self, _now: Instant, _out: &mut Output) {}
}

#[cfg(test)]
mod tests;
