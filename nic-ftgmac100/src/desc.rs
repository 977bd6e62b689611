//! TX and RX descriptors (`shared/spec/ftgmac100.md` §3, §4): four little-endian words in DMA
//! memory, 16-byte aligned. The end-of-ring bit is the Aspeed one, bit 30, on both rings.

/// The size of a descriptor in bytes (DBLAC's default stride).
pub const DESC_SIZE: u32 = 16;

/// Aspeed's end-of-ring bit in TXDES0 and RXDES0 (Faraday parts use bit 15).
pub const EDO_ASPEED: u32 = 1 << 30;

/// TXDES0 bits.
pub mod txdes0 {
    /// Byte count of this segment [13:0].
    pub const BUF_SIZE_MASK: u32 = 0x3fff;
    /// CRC error status (unused).
    pub const CRC_ERR: u32 = 1 << 19;
    /// Last segment of the frame.
    pub const LTS: u32 = 1 << 28;
    /// First segment of the frame.
    pub const FTS: u32 = 1 << 29;
    /// End of ring (Aspeed).
    pub const EDOTR: u32 = super::EDO_ASPEED;
    /// The device owns the descriptor.
    pub const TXDMA_OWN: u32 = 1 << 31;
}

/// TXDES1 bits: per-frame control, meaningful on the FTS descriptor.
pub mod txdes1 {
    /// The TCI to insert [15:0].
    pub const VLANTAG_CI_MASK: u32 = 0xffff;
    /// Insert an 802.1Q tag.
    pub const INS_VLANTAG: u32 = 1 << 16;
    /// Compute the TCP checksum (IPv4).
    pub const TCP_CHKSUM: u32 = 1 << 17;
    /// Compute the UDP checksum (IPv4).
    pub const UDP_CHKSUM: u32 = 1 << 18;
    /// Compute the IPv4 header checksum.
    pub const IP_CHKSUM: u32 = 1 << 19;
    /// LLC/SNAP encapsulated.
    pub const LLC: u32 = 1 << 22;
    /// Raise XPKT_FIFO when the frame reaches the FIFO.
    pub const TX2FIC: u32 = 1 << 30;
    /// Interrupt when transmitted (Linux never sets it).
    pub const TXIC: u32 = 1 << 31;
}

/// RXDES0 bits.
pub mod rxdes0 {
    /// Valid bytes in this buffer [13:0].
    pub const VDBC_MASK: u32 = 0x3fff;
    /// Multicast destination.
    pub const MULTICAST: u32 = 1 << 16;
    /// Broadcast destination.
    pub const BROADCAST: u32 = 1 << 17;
    /// Receive error.
    pub const RX_ERR: u32 = 1 << 18;
    /// CRC error.
    pub const CRC_ERR: u32 = 1 << 19;
    /// Frame too long (truncated).
    pub const FTL: u32 = 1 << 20;
    /// Shorter than 64 bytes.
    pub const RUNT: u32 = 1 << 21;
    /// Odd number of nibbles.
    pub const RX_ODD_NB: u32 = 1 << 22;
    /// RX FIFO full.
    pub const FIFO_FULL: u32 = 1 << 23;
    /// Pause opcode.
    pub const PAUSE_OPCODE: u32 = 1 << 24;
    /// Pause frame.
    pub const PAUSE_FRAME: u32 = 1 << 25;
    /// Last segment of the frame.
    pub const LRS: u32 = 1 << 28;
    /// First segment of the frame.
    pub const FRS: u32 = 1 << 29;
    /// End of ring (Aspeed).
    pub const EDORR: u32 = super::EDO_ASPEED;
    /// Filled by the device; the driver clears it to return the descriptor.
    pub const RXPKT_RDY: u32 = 1 << 31;

    /// The errors Linux drops a frame for (FIFO_FULL is ignored): 0x7C_0000.
    pub const ERRORS: u32 = RX_ERR | CRC_ERR | FTL | RUNT | RX_ODD_NB;
}

/// RXDES1 bits: checksum and VLAN status.
pub mod rxdes1 {
    /// The VLAN TCI [15:0] (valid with VLANTAG_AVAIL).
    pub const VLAN_TCI_MASK: u32 = 0xffff;
    /// PROT [21:20]: 0 not IP, 1 IP, 2 TCP/IP, 3 UDP/IP.
    pub const PROT_SHIFT: u32 = 20;
    /// PROT field mask (after shifting).
    pub const PROT_MASK: u32 = 0x3;
    /// PROT: IPv4, not TCP or UDP.
    pub const PROT_IP: u32 = 1;
    /// PROT: TCP over IPv4.
    pub const PROT_TCPIP: u32 = 2;
    /// PROT: UDP over IPv4.
    pub const PROT_UDPIP: u32 = 3;
    /// LLC.
    pub const LLC: u32 = 1 << 22;
    /// Don't fragment / not fragmented.
    pub const DF: u32 = 1 << 23;
    /// A VLAN tag was received (and stripped with RM_VLAN).
    pub const VLANTAG_AVAIL: u32 = 1 << 24;
    /// The TCP checksum is wrong.
    pub const TCP_CHKSUM_ERR: u32 = 1 << 25;
    /// The UDP checksum is wrong.
    pub const UDP_CHKSUM_ERR: u32 = 1 << 26;
    /// The IPv4 header checksum is wrong.
    pub const IP_CHKSUM_ERR: u32 = 1 << 27;
    /// Any checksum error.
    pub const CHKSUM_ERRORS: u32 = TCP_CHKSUM_ERR | UDP_CHKSUM_ERR | IP_CHKSUM_ERR;
}

/// A descriptor's four words, as read from or written to DMA memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Desc {
    /// Word 0: control and status.
    pub w0: u32,
    /// Word 1: TX per-frame control, or RX checksum/VLAN status.
    pub w1: u32,
    /// Word 2: unused on the AST2500.
    pub w2: u32,
    /// Word 3: the buffer's bus address.
    pub w3: u32,
}

impl Desc {
    /// Decodes 16 little-endian bytes.
    pub fn from_bytes(b: &[u8; 16]) -> Desc {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Desc {
            w0: w(0),
            w1: w(4),
            w2: w(8),
            w3: w(12),
        }
    }

    /// Encodes as 16 little-endian bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.w0.to_le_bytes());
        b[4..8].copy_from_slice(&self.w1.to_le_bytes());
        b[8..12].copy_from_slice(&self.w2.to_le_bytes());
        b[12..16].copy_from_slice(&self.w3.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_little_endian() {
        let d = Desc {
            w0: 0x8000_0040 | txdes0::FTS | txdes0::LTS,
            w1: 0,
            w2: 0,
            w3: 0x8000_1000,
        };
        let b = d.to_bytes();
        assert_eq!(b[0..4], [0x40, 0x00, 0x00, 0xb0]);
        assert_eq!(Desc::from_bytes(&b), d);
        assert_eq!(rxdes0::ERRORS, 0x7c_0000);
    }
}
