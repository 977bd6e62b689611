//! ICMPv4 (RFC 792), with the fragmentation-needed MTU of RFC 1191.
//!
//! ```text
//! | type (1) | code (1) | checksum (2) | rest of header (4) | data ... |
//! ```
//! The checksum covers the whole message.

use crate::checksum;
use crate::field::{get_u16, get_u32, set_u16, set_u32};
use crate::{ChecksumMode, Error, Result};

mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const REST: usize = 4;
    pub(super) const ECHO_IDENT: usize = 4;
    pub(super) const ECHO_SEQNO: usize = 6;
    pub(super) const UNREACH_MTU: usize = 6;
    pub(super) const PARAM_POINTER: usize = 4;
}

/// The header length.
pub const HEADER_LEN: usize = 8;

/// Message type 0.
pub const ECHO_REPLY: u8 = 0;
/// Message type 3.
pub const DST_UNREACHABLE: u8 = 3;
/// Message type 8.
pub const ECHO_REQUEST: u8 = 8;
/// Message type 11.
pub const TIME_EXCEEDED: u8 = 11;
/// Message type 12.
pub const PARAM_PROBLEM: u8 = 12;

/// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1).
pub mod unreachable {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 1191 carries the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
}

/// Time exceeded codes.
pub mod time_exceeded {
    /// TTL exceeded in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps bytes without checking them.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps bytes, checking the 8-byte header is there.
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Icmpv4Packet { buffer })
    }

    /// The message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The four bytes after the checksum.
    pub fn rest_of_header(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::REST)
    }

    /// The data after the header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

/// An ICMPv4 message. Error messages keep the quoted datagram (IP header and at least 8 bytes of
/// its payload, RFC 792) as raw bytes in `data`; the receiver parses it with [`crate::Ipv4Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Type 8.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back.
        data: &'a [u8],
    },
    /// Type 0.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Type 3.
    DstUnreachable {
        /// See [`unreachable`].
        code: u8,
        /// For code 4, the next-hop MTU (RFC 1191); otherwise 0.
        next_hop_mtu: u16,
        /// The quoted datagram.
        data: &'a [u8],
    },
    /// Type 11.
    TimeExceeded {
        /// See [`time_exceeded`].
        code: u8,
        /// The quoted datagram.
        data: &'a [u8],
    },
    /// Type 12.
    ParamProblem {
        /// Code.
        code: u8,
        /// The offending octet's offset.
        pointer: u8,
        /// The quoted datagram.
        data: &'a [u8],
    },
    /// Any other message, kept whole.
    Other {
        /// Type.
        msg_type: u8,
        /// Code.
        code: u8,
        /// The four bytes after the checksum.
        rest_of_header: u32,
        /// The data.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a checked message, verifying its checksum unless `mode` trusts it.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        mode: ChecksumMode,
    ) -> Result<Icmpv4Repr<'a>> {
        let b: &'a [u8] = T::as_ref(packet.buffer);
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if mode == ChecksumMode::Verify && !checksum::verify(b) {
            return Err(Error::Checksum);
        }
        let data = &b[HEADER_LEN..];
        let code = packet.code();
        Ok(match packet.msg_type() {
            ECHO_REQUEST if code == 0 => Icmpv4Repr::EchoRequest {
                ident: get_u16(b, field::ECHO_IDENT),
                seq_no: get_u16(b, field::ECHO_SEQNO),
                data,
            },
            ECHO_REPLY if code == 0 => Icmpv4Repr::EchoReply {
                ident: get_u16(b, field::ECHO_IDENT),
                seq_no: get_u16(b, field::ECHO_SEQNO),
                data,
            },
            DST_UNREACHABLE if get_u16(b, field::ECHO_IDENT) == 0 => Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: get_u16(b, field::UNREACH_MTU),
                data,
            },
            TIME_EXCEEDED if packet.rest_of_header() == 0 => {
                Icmpv4Repr::TimeExceeded { code, data }
            }
            PARAM_PROBLEM if packet.rest_of_header() & 0x00ff_ffff == 0 => {
                Icmpv4Repr::ParamProblem {
                    code,
                    pointer: b[field::PARAM_POINTER],
                    data,
                }
            }
            msg_type => Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header: packet.rest_of_header(),
                data,
            },
        })
    }

    /// The message's data.
    pub const fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. }
            | Icmpv4Repr::EchoReply { data, .. }
            | Icmpv4Repr::DstUnreachable { data, .. }
            | Icmpv4Repr::TimeExceeded { data, .. }
            | Icmpv4Repr::ParamProblem { data, .. }
            | Icmpv4Repr::Other { data, .. } => data,
        }
    }

    /// The message length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the message with its checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Self::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv4Packet<T>) {
        let len = self.buffer_len();
        let b = &mut packet.buffer.as_mut()[..len];
        let (msg_type, code, rest) = match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => (
                ECHO_REQUEST,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
            ),
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                (ECHO_REPLY, 0, (u32::from(ident) << 16) | u32::from(seq_no))
            }
            Icmpv4Repr::DstUnreachable {
                code, next_hop_mtu, ..
            } => (DST_UNREACHABLE, code, u32::from(next_hop_mtu)),
            Icmpv4Repr::TimeExceeded { code, .. } => (TIME_EXCEEDED, code, 0),
            Icmpv4Repr::ParamProblem { code, pointer, .. } => {
                (PARAM_PROBLEM, code, u32::from(pointer) << 24)
            }
            Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header,
                ..
            } => (msg_type, code, rest_of_header),
        };
        b[field::TYPE] = msg_type;
        b[field::CODE] = code;
        set_u32(b, field::REST, rest);
        b[HEADER_LEN..].copy_from_slice(self.data());
        set_u16(b, field::CHECKSUM, 0);
        let c = checksum::checksum(b);
        set_u16(b, field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_round_trip() {
        // Timestamp request (type 13): kept as Other.
        let mut b = [13u8, 0, 0, 0, 0x12, 0x34, 0, 1, 9, 9, 9, 9];
        let c = checksum::checksum(&b);
        set_u16(&mut b, field::CHECKSUM, c);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        let r = Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert!(matches!(
            r,
            Icmpv4Repr::Other {
                msg_type: 13,
                rest_of_header: 0x1234_0001,
                ..
            }
        ));
        let mut out = [0u8; 12];
        r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }

    #[test]
    fn bad_checksum_is_rejected() {
        let b = [8u8, 0, 0, 0, 0, 1, 0, 1];
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, ChecksumMode::Verify),
            Err(Error::Checksum)
        );
        assert_eq!(
            Icmpv4Packet::new_checked(&b[..7]).unwrap_err(),
            Error::Truncated
        );
    }
}
