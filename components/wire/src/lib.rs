//! Packet views and representations, smoltcp's `wire` style (DESIGN.md §3.4).
//!
//! Each format has:
//! - a **view**, `Packet<T: AsRef<[u8]>>` (or `Frame`), over bytes: `new_checked` validates lengths
//!   so that every accessor afterwards is in bounds; `new_unchecked` is for bytes we built ourselves;
//! - a **repr**, a plain struct with `parse` (from a checked view, validating semantics such as
//!   checksums), `buffer_len` and `emit` (into a view over a buffer of at least `buffer_len` bytes).
//!
//! Unknown code points are kept as `Unknown(n)`, so a parsed packet can be emitted unchanged.
//! Malformed input is an [`Error`], never a panic.
//!
//! The crate is `no_std` + `alloc`; it builds for the host and for `wasm32-wasip2`, and serves
//! every component and the host. Its `unsafe` is the AVX2 checksum (with feature `std`, which
//! the host's crates turn on): calling it on a CPU that has AVX2 (run-time detection), and its
//! vector loads and store.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod arp;
pub mod batch;
pub mod build;
pub mod checksum;
pub mod counters;
pub mod ethernet;
mod field;
mod glue;
pub mod icmpv4;
pub mod ipv4;
pub mod seq;
pub mod tcp;
pub mod transport;
pub mod tuple;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use batch::Batch;
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr, VlanTag};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use ipv4::{IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr};
pub use seq::SeqNumber;
pub use tcp::{TcpFlags, TcpOption, TcpPacket, TcpRepr, TcpTimestamp};
pub use transport::{DatagramInfo, TransportBatch};
pub use udp::{UdpPacket, UdpRepr};

/// Why bytes could not be parsed. Small and `Copy`: a layer counts it and drops the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header or than a length field says.
    Truncated,
    /// A field holds a value the format does not allow (version, header length, option length).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// Well-formed, but of a kind this crate does not represent (an ARP for another protocol).
    Unsupported,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated",
            Error::Malformed => "malformed",
            Error::Checksum => "bad checksum",
            Error::Unsupported => "unsupported",
        })
    }
}

impl core::error::Error for Error {}

/// The result of parsing.
pub type Result<T> = core::result::Result<T, Error>;

/// Whether to verify checksums on parse: `Verify` for packets from the wire, `Trust` when a NIC
/// offload (FTGMAC100 RXDES1) or our own code already did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// Check and reject a bad checksum with [`Error::Checksum`].
    #[default]
    Verify,
    /// Do not check.
    Trust,
}
