//! The UDP layer, sans-IO (RFC 768).
//!
//! Built so far: datagram validation (length field, checksum with the pseudo-header, zero meaning
//! none) and, since no socket exists yet, every valid datagram reported as reaching no port so
//! that ipv4 answers with ICMP port unreachable (RFC 1122 §4.1.3.1). Sockets come with the issue
//! that brings wasi:sockets/udp.
//!
//! No clock, RNG or I/O: `now` comes in, datagrams go out in an [`Output`].

use netstack_wire::{ChecksumMode, DatagramInfo, TransportBatch, UdpPacket, UdpRepr};

#[cfg(target_arch = "wasm32")]
mod component;

// The component's heap: free lists of small blocks by size class (netstack-alloc).
#[cfg(target_arch = "wasm32")]
use netstack_alloc as _;

/// A monotonic instant in nanoseconds, from the host.
pub type Instant = u64;

/// What one call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Datagrams for ipv4.
    pub to_ipv4: TransportBatch,
    /// Datagrams that reached no socket, for ipv4 to answer with port unreachable.
    pub port_unreachable: TransportBatch,
}

netstack_wire::counters! {
    /// The layer's counters, named after `/proc/net/snmp`'s Udp row.
    pub struct Counters {
        /// Datagrams delivered to a socket.
        in_datagrams => "in-datagrams",
        /// Datagrams to a port with no socket.
        no_ports => "no-ports",
        /// Dropped: bad length or port 0.
        in_errors => "in-errors",
        /// Dropped: bad checksum.
        in_csum_errors => "in-csum-errors",
        /// Datagrams sent.
        out_datagrams => "out-datagrams",
    }
}

/// The UDP layer of a host.
#[derive(Debug, Default)]
pub struct UdpLayer {
    counters: Counters,
}

impl UdpLayer {
    /// A layer with no socket.
    pub fn new() -> UdpLayer {
        UdpLayer::default()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Handles datagrams ipv4 delivered.
    pub fn receive<'a>(
        &mut self,
        _now: Instant,
        datagrams: impl IntoIterator<Item = (&'a DatagramInfo, &'a [u8])>,
        out: &mut Output,
    ) {
        for (info, bytes) in datagrams {
            let parsed = UdpPacket::new_checked(bytes).and_then(|p| {
                UdpRepr::parse(&p, info.src_addr, info.dst_addr, ChecksumMode::Verify)
            });
            match parsed {
                Ok(_) => {
                    // No socket can be bound yet, so no port has one.
                    self.counters.no_ports += 1;
                    out.port_unreachable.push(*info, bytes);
                }
                Err(netstack_wire::Error::Checksum) => self.counters.in_csum_errors += 1,
                Err(_) => self.counters.in_errors += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use netstack_wire::{IpProtocol, Ipv4Address};

    use super::*;

    const US: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
    const PEER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

    #[test]
    fn datagrams_to_no_socket_are_port_unreachable() {
        let info = DatagramInfo {
            protocol: IpProtocol::Udp,
            src_addr: PEER,
            dst_addr: US,
            ttl: 64,
            tos: 0,
            dont_frag: false,
            segment_size: 0,
        };
        let mut good = [0u8; 12];
        UdpRepr {
            src_port: 5000,
            dst_port: 53,
        }
        .emit(
            &mut UdpPacket::new_unchecked(&mut good[..]),
            PEER,
            US,
            4,
            Some(b"abcd"),
        );
        let mut bad = good;
        bad[9] ^= 0xff;
        let mut l = UdpLayer::new();
        let mut out = Output::default();
        l.receive(
            0,
            [(&info, &good[..]), (&info, &bad[..]), (&info, &good[..7])],
            &mut out,
        );
        assert_eq!(
            out.port_unreachable.iter().collect::<Vec<_>>(),
            [(&info, &good[..])]
        );
        let c = l.counters();
        assert_eq!((c.no_ports, c.in_csum_errors, c.in_errors), (1, 1, 1));
    }
}
