//! UDP (RFC 768).
//!
//! ```text
//! | source port (2) | destination port (2) | length (2) | checksum (2) | data ... |
//! ```
//! The checksum covers the pseudo-header, the header and the data; zero means "not computed"
//! (RFC 768), and a computed zero is sent as 0xffff.

use crate::checksum;
use crate::field::{get_u16, set_u16};
use crate::ipv4::Ipv4Address;
use crate::{ChecksumMode, Error, Result};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
}

/// The header length.
pub const HEADER_LEN: usize = 8;
const PROTOCOL: u8 = 17;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps bytes without checking them.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps bytes, checking the length field against the buffer (the buffer may be longer).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = UdpPacket::new_unchecked(buffer);
        let len = p.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::from(p.length());
        if field_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if field_len > len {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    /// The source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field (header and data).
    pub fn length(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The data, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }

    /// Whether the checksum verifies; a zero checksum (not computed) always does.
    pub fn verify_checksum(&self, src: Ipv4Address, dst: Ipv4Address) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = usize::from(self.length());
        let b = &self.buffer.as_ref()[..len];
        let s = checksum::pseudo_header(src, dst, PROTOCOL, len as u32) + checksum::sum(b);
        checksum::fold(s) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// The data, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.length());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }

    /// Computes and writes the checksum over header and data.
    pub fn fill_checksum(&mut self, src: Ipv4Address, dst: Ipv4Address) {
        let len = usize::from(self.length());
        let b = &mut self.buffer.as_mut()[..len];
        set_u16(b, field::CHECKSUM, 0);
        let c = !checksum::fold(
            checksum::pseudo_header(src, dst, PROTOCOL, len as u32) + checksum::sum(b),
        );
        // RFC 768: "If the computed checksum is zero, it is transmitted as all ones".
        set_u16(b, field::CHECKSUM, if c == 0 { 0xffff } else { c });
    }
}

/// A UDP header; the data is the view's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parses a checked datagram, verifying its checksum unless `mode` trusts it. Port 0 as
    /// destination is malformed.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src: Ipv4Address,
        dst: Ipv4Address,
        mode: ChecksumMode,
    ) -> Result<UdpRepr> {
        if packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if mode == ChecksumMode::Verify && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// The header length: 8.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes header and `payload` (already in place when `payload` is `None`) and the checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than the header and payload, or the length exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: Ipv4Address,
        dst: Ipv4Address,
        payload_len: usize,
        payload: Option<&[u8]>,
    ) {
        let len = u16::try_from(HEADER_LEN + payload_len).expect("UDP length over 65535");
        {
            let b = packet.buffer.as_mut();
            set_u16(b, field::SRC_PORT, self.src_port);
            set_u16(b, field::DST_PORT, self.dst_port);
            set_u16(b, field::LENGTH, len);
            if let Some(p) = payload {
                b[HEADER_LEN..HEADER_LEN + payload_len].copy_from_slice(p);
            }
        }
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
    const DST: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);

    #[test]
    fn zero_checksum_means_none() {
        let b = [0, 53, 0, 53, 0, 9, 0, 0, 7];
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(p.payload(), &[7]);
    }

    #[test]
    fn length_checks() {
        let b = [0, 53, 0, 53, 0, 7, 0, 0];
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        let b = [0, 53, 0, 53, 0, 10, 0, 0, 1];
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn emit_then_verify() {
        let mut b = [0u8; 12];
        UdpRepr {
            src_port: 1234,
            dst_port: 7,
        }
        .emit(
            &mut UdpPacket::new_unchecked(&mut b[..]),
            SRC,
            DST,
            4,
            Some(b"ping"),
        );
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, ChecksumMode::Verify)
                .unwrap()
                .dst_port,
            7
        );
        assert_eq!(
            UdpRepr::parse(&p, DST, Ipv4Address::new(1, 1, 1, 1), ChecksumMode::Verify),
            Err(Error::Checksum)
        );
    }
}
