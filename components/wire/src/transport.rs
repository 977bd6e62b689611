//! What crosses between ipv4 and a transport layer (`netstack:stack/types.transport-batch`):
//! payloads in one [`Batch`] with their IPv4 metadata alongside.

use alloc::vec::Vec;

use crate::Batch;
use crate::ipv4::{IpProtocol, Ipv4Address};

/// The IPv4 metadata of one transport payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatagramInfo {
    /// The protocol.
    pub protocol: IpProtocol,
    /// Source address.
    pub src_addr: Ipv4Address,
    /// Destination address.
    pub dst_addr: Ipv4Address,
    /// Time to live.
    pub ttl: u8,
    /// DSCP and ECN.
    pub tos: u8,
    /// The DF bit.
    pub dont_frag: bool,
    /// GSO/GRO segment size; 0 for an ordinary payload.
    pub segment_size: u16,
}

/// Transport payloads and their metadata, index for index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportBatch {
    /// One entry per payload.
    pub info: Vec<DatagramInfo>,
    /// The payloads.
    pub payloads: Batch,
}

impl TransportBatch {
    /// An empty batch.
    pub const fn new() -> TransportBatch {
        TransportBatch {
            info: Vec::new(),
            payloads: Batch::new(),
        }
    }

    /// Appends a copy of `payload`.
    pub fn push(&mut self, info: DatagramInfo, payload: &[u8]) {
        self.info.push(info);
        self.payloads.push(payload);
    }

    /// Appends a payload of `len` bytes written in place by `emit`.
    pub fn push_with(&mut self, info: DatagramInfo, len: usize, emit: impl FnOnce(&mut [u8])) {
        self.info.push(info);
        self.payloads.push_with(len, emit);
    }

    /// The number of payloads.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// The payloads with their metadata.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&DatagramInfo, &[u8])> {
        self.info.iter().zip(self.payloads.iter())
    }
}
