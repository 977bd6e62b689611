//! The TCP layer, sans-IO (RFC 9293).
//!
//! Built so far: segment validation (header, options, checksum with the pseudo-header) and the
//! CLOSED state's answer to every segment, since no socket exists yet: RFC 9293 §3.10.7.1,
//! "An incoming segment not containing a RST causes a RST to be sent in response". The
//! connection machine, sockets, reliability and the rest come with the TCP issue; until then
//! socket operations report `not-supported` through the glue.
//!
//! No clock, RNG or I/O: `now` comes in, segments go out in an [`Output`].

use netstack_wire::tcp::HEADER_LEN;
use netstack_wire::{
    ChecksumMode, DatagramInfo, IpProtocol, SeqNumber, TcpFlags, TcpPacket, TcpRepr, TransportBatch,
};

pub mod conn;
pub mod isn;
pub mod ports;
pub mod rto;
mod state;
pub use state::{STATE_VERSION, StateError};

#[cfg(target_arch = "wasm32")]
mod component;

/// A monotonic instant in nanoseconds, from the host.
pub type Instant = u64;

/// The TTL of segments we originate.
pub const DEFAULT_TTL: u8 = 64;

/// What one call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Segments for ipv4.
    pub to_ipv4: TransportBatch,
    /// When to poll next.
    pub deadline: Option<Instant>,
}

netstack_wire::counters! {
    /// The layer's counters, named after `/proc/net/snmp`'s Tcp row where one exists.
    pub struct Counters {
        /// Segments received.
        in_segs => "in-segs",
        /// Dropped: bad checksum.
        in_csum_errors => "in-csum-errors",
        /// Dropped: truncated header, bad data offset, malformed options or port 0.
        in_errs => "in-errs",
        /// Segments sent.
        out_segs => "out-segs",
        /// Resets sent.
        out_rsts => "out-rsts",
    }
}

/// The TCP layer of a host.
#[derive(Debug, Default)]
pub struct TcpLayer {
    counters: Counters,
}

impl TcpLayer {
    /// A layer with no socket.
    pub fn new() -> TcpLayer {
        TcpLayer::default()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Handles segments ipv4 delivered.
    pub fn receive<'a>(
        &mut self,
        _now: Instant,
        segments: impl IntoIterator<Item = (&'a DatagramInfo, &'a [u8])>,
        out: &mut Output,
    ) {
        for (info, bytes) in segments {
            self.counters.in_segs += 1;
            let repr = match TcpPacket::new_checked(bytes).and_then(|p| {
                TcpRepr::parse(&p, info.src_addr, info.dst_addr, ChecksumMode::Verify)
            }) {
                Ok(r) => r,
                Err(netstack_wire::Error::Checksum) => {
                    self.counters.in_csum_errors += 1;
                    continue;
                }
                Err(_) => {
                    self.counters.in_errs += 1;
                    continue;
                }
            };
            // No connection exists: the CLOSED state's rules (RFC 9293 §3.10.7.1).
            self.reset_closed(info, &repr, out);
        }
    }

    /// RFC 9293 §3.10.7.1: "An incoming segment containing a RST is discarded. An incoming
    /// segment not containing a RST causes a RST to be sent in response. ... If the ACK bit is
    /// off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the ACK
    /// bit is on, <SEQ=SEG.ACK><CTL=RST>".
    fn reset_closed(&mut self, info: &DatagramInfo, seg: &TcpRepr<'_>, out: &mut Output) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        let reply = match seg.ack() {
            Some(ack) => TcpRepr::new(
                seg.dst_port,
                seg.src_port,
                TcpFlags::RST,
                ack,
                SeqNumber(0),
                0,
            ),
            None => TcpRepr::new(
                seg.dst_port,
                seg.src_port,
                TcpFlags::RST | TcpFlags::ACK,
                SeqNumber(0),
                seg.seq_number + seg.segment_len(),
                0,
            ),
        };
        let reply_info = DatagramInfo {
            protocol: IpProtocol::Tcp,
            src_addr: info.dst_addr,
            dst_addr: info.src_addr,
            ttl: DEFAULT_TTL,
            tos: 0,
            dont_frag: true,
            segment_size: 0,
        };
        out.to_ipv4.push_with(reply_info, HEADER_LEN, |b| {
            reply.emit(
                &mut TcpPacket::new_unchecked(b),
                reply_info.src_addr,
                reply_info.dst_addr,
            );
        });
        self.counters.out_segs += 1;
        self.counters.out_rsts += 1;
    }

    /// Runs timers. None yet.
    pub fn poll(&mut self, _now: Instant, _out: &mut Output) {}
}

#[cfg(test)]
mod tests;
