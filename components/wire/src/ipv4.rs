//! IPv4 (RFC 791).
//!
//! ```text
//! | ver/IHL | TOS | total length | ident | flags/frag offset | TTL | protocol | checksum |
//! | source | destination | options (IHL*4 - 20) | payload ... |
//! ```
//! Options are length-checked and skipped (RFC 1122 §3.2.1.8 lets a host ignore the ones it does not
//! implement); a malformed option list drops the packet.

use core::fmt;

pub use core::net::Ipv4Addr as Ipv4Address;

use crate::checksum;
use crate::field::{Field, get_u16, set_u16};
use crate::{ChecksumMode, Error, Result};

/// The address from the first four bytes of `data`.
///
/// # Panics
/// If `data` is shorter than four bytes.
pub fn address_from_bytes(data: &[u8]) -> Ipv4Address {
    Ipv4Address::new(data[0], data[1], data[2], data[3])
}

/// An address with a prefix length: a network (`10.0.2.0/24`) or an interface address
/// (`10.0.2.15/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    address: Ipv4Address,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// A CIDR, or `None` if `prefix_len > 32`.
    pub const fn new(address: Ipv4Address, prefix_len: u8) -> Option<Ipv4Cidr> {
        if prefix_len > 32 {
            None
        } else {
            Some(Ipv4Cidr {
                address,
                prefix_len,
            })
        }
    }

    /// The address.
    pub const fn address(&self) -> Ipv4Address {
        self.address
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask (`255.255.255.0` for /24).
    pub const fn netmask(&self) -> Ipv4Address {
        Ipv4Address::from_bits(self.mask_bits())
    }

    const fn mask_bits(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix_len)
        }
    }

    /// The network: the address with its host bits cleared.
    pub const fn network(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            address: Ipv4Address::from_bits(self.address.to_bits() & self.mask_bits()),
            prefix_len: self.prefix_len,
        }
    }

    /// The directed broadcast address (`10.0.2.255` for /24).
    pub const fn broadcast(&self) -> Ipv4Address {
        Ipv4Address::from_bits(self.address.to_bits() | !self.mask_bits())
    }

    /// Whether `addr` is inside this network.
    pub const fn contains(&self, addr: Ipv4Address) -> bool {
        (addr.to_bits() ^ self.address.to_bits()) & self.mask_bits() == 0
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl core::str::FromStr for Ipv4Cidr {
    type Err = Error;
    /// Parses `a.b.c.d/n`.
    fn from_str(s: &str) -> Result<Ipv4Cidr> {
        let (a, n) = s.split_once('/').ok_or(Error::Malformed)?;
        let address: Ipv4Address = a.parse().map_err(|_| Error::Malformed)?;
        let len: u8 = n.parse().map_err(|_| Error::Malformed)?;
        Ipv4Cidr::new(address, len).ok_or(Error::Malformed)
    }
}

/// The IP protocol number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1.
    Icmp,
    /// 6.
    Tcp,
    /// 17.
    Udp,
    /// Anything else, kept.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            n => IpProtocol::Unknown(n),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(v: IpProtocol) -> u8 {
        match v {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(n) => n,
        }
    }
}

mod field {
    use super::Field;
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const LENGTH: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLG_OFF: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC_ADDR: Field = 12..16;
    pub(super) const DST_ADDR: Field = 16..20;
}

/// The length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Option type 0, End of Option List (RFC 791).
const OPT_EOL: u8 = 0;
/// Option type 1, No Operation.
const OPT_NOP: u8 = 1;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps bytes without checking them.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps bytes, checking version, header length, total length and the option list's framing.
    /// The buffer may be longer than the total length (Ethernet padding); [`Self::payload`] stops
    /// at the total length.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Ipv4Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`Self::new_checked`].
    pub fn check_len(&self) -> Result<()> {
        self.check_header(self.buffer.as_ref().len())
    }

    /// The checks of [`Self::check_len`] for a buffer that holds at least the header of a
    /// packet `packet_len` bytes long (a receive fast path that sees headers only).
    pub fn check_header(&self, packet_len: usize) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Malformed);
        }
        let hlen = self.header_len();
        if hlen < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < hlen {
            return Err(Error::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < hlen {
            return Err(Error::Malformed);
        }
        if packet_len < total {
            return Err(Error::Truncated);
        }
        check_options(self.options())
    }

    /// The underlying bytes.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The type-of-service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// The total length, header included.
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The identification.
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The DF bit.
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & 0x4000 != 0
    }

    /// The MF bit.
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & 0x2000 != 0
    }

    /// The reserved (evil) bit.
    pub fn reserved_flag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & 0x8000 != 0
    }

    /// The fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & 0x1fff) << 3
    }

    /// The time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol.
    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv4Address {
        address_from_bytes(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv4Address {
        address_from_bytes(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(&self.buffer.as_ref()[..self.header_len()])
    }

    /// The option bytes (possibly empty).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload, up to the total length (Ethernet padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the TTL, updating the checksum incrementally (RFC 1624), as a forwarder does.
    pub fn set_ttl_update_checksum(&mut self, ttl: u8) {
        let b = self.buffer.as_mut();
        let old = get_u16(b, field::TTL);
        b[field::TTL] = ttl;
        let new = get_u16(b, field::TTL);
        let c = checksum::update(get_u16(b, field::CHECKSUM), old, new);
        set_u16(b, field::CHECKSUM, c);
    }

    /// Sets the total length (header and payload), as a segmenter or a merger (GSO/GRO) does;
    /// the checksum is not updated.
    pub fn set_total_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the identification field; the checksum is not updated.
    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    /// Recomputes the header checksum.
    pub fn fill_checksum(&mut self) {
        let hlen = self.header_len();
        let b = self.buffer.as_mut();
        set_u16(b, field::CHECKSUM, 0);
        let c = checksum::checksum(&b[..hlen]);
        set_u16(b, field::CHECKSUM, c);
    }

    /// The payload, mutable, up to the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

/// Walks an option list: each option is a single EOL/NOP byte, or type, length (≥ 2, within the
/// list), data. Bytes after EOL are padding.
fn check_options(mut opts: &[u8]) -> Result<()> {
    while let Some(&kind) = opts.first() {
        match kind {
            OPT_EOL => return Ok(()),
            OPT_NOP => opts = &opts[1..],
            _ => {
                let len = usize::from(*opts.get(1).ok_or(Error::Malformed)?);
                if len < 2 || len > opts.len() {
                    return Err(Error::Malformed);
                }
                opts = &opts[len..];
            }
        }
    }
    Ok(())
}

/// An IPv4 header without options (we skip options on receive and never send them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Address,
    /// Destination address.
    pub dst_addr: Ipv4Address,
    /// The payload's protocol.
    pub protocol: IpProtocol,
    /// The payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP and ECN.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Parses a checked packet. The reserved flag must be zero (RFC 791); the checksum is
    /// verified unless `mode` trusts it.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>, mode: ChecksumMode) -> Result<Ipv4Repr> {
        Self::parse_header(packet, packet.buffer.as_ref().len(), mode)
    }

    /// [`Self::parse`] from a buffer that holds at least the header of a packet `packet_len`
    /// bytes long (the checksum covers the header only, so nothing is lost).
    pub fn parse_header<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        packet_len: usize,
        mode: ChecksumMode,
    ) -> Result<Ipv4Repr> {
        packet.check_header(packet_len)?;
        if packet.reserved_flag() {
            return Err(Error::Malformed);
        }
        if mode == ChecksumMode::Verify && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// The header length: 20.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (no options) with its checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than 20 bytes, or the total length exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        let total =
            u16::try_from(HEADER_LEN + self.payload_len).expect("IPv4 total length over 65535");
        let b = packet.buffer.as_mut();
        b[field::VER_IHL] = 0x45;
        b[field::TOS] = self.tos;
        set_u16(b, field::LENGTH, total);
        set_u16(b, field::IDENT, self.ident);
        let flags = (u16::from(self.dont_frag) << 14) | (u16::from(self.more_frags) << 13);
        set_u16(b, field::FLG_OFF, flags | (self.frag_offset >> 3));
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol.into();
        b[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        b[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        set_u16(b, field::CHECKSUM, 0);
        let c = checksum::checksum(&b[..HEADER_LEN]);
        set_u16(b, field::CHECKSUM, c);
    }

    /// Whether this is a fragment (not a whole datagram).
    pub const fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(options: &[u8]) -> std::vec::Vec<u8> {
        let hlen = HEADER_LEN + options.len();
        let mut b = std::vec![0u8; hlen + 4];
        b[0] = 0x40 | (hlen / 4) as u8;
        set_u16(&mut b, field::LENGTH, (hlen + 4) as u16);
        b[8] = 64;
        b[9] = 17;
        b[12..16].copy_from_slice(&[10, 0, 2, 2]);
        b[16..20].copy_from_slice(&[10, 0, 2, 15]);
        b[HEADER_LEN..hlen].copy_from_slice(options);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        b
    }

    #[test]
    fn a_header_alone_parses_as_its_whole_packet_does() {
        // 28 bytes of header (with options) of a 32-byte packet.
        let b = header(&[148, 4, 0, 0, 1, 0, 0, 0]);
        let whole = Ipv4Repr::parse(
            &Ipv4Packet::new_checked(&b[..]).unwrap(),
            ChecksumMode::Verify,
        );
        let head = Ipv4Packet::new_unchecked(&b[..28]);
        assert_eq!(
            Ipv4Repr::parse_header(&head, b.len(), ChecksumMode::Verify),
            whole
        );
        // The packet said to be shorter than its total length; a head shorter than its header.
        assert_eq!(
            Ipv4Repr::parse_header(&head, b.len() - 1, ChecksumMode::Verify),
            Err(Error::Truncated)
        );
        let short = Ipv4Packet::new_unchecked(&b[..24]);
        assert_eq!(
            Ipv4Repr::parse_header(&short, b.len(), ChecksumMode::Verify),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn options_are_checked_and_skipped() {
        // Router alert (type 148, length 4) then a NOP and EOL padding.
        let b = header(&[148, 4, 0, 0, 1, 0, 0, 0]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 28);
        let r = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(r.payload_len, 4);
        assert_eq!(p.payload().len(), 4);
        // An option whose length runs past the header.
        let b = header(&[148, 9, 0, 0]);
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        // An option with length 1.
        let b = header(&[7, 1, 0, 0]);
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        // An option missing its length byte at the end of the list.
        let b = header(&[1, 1, 1, 7]);
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
    }

    #[test]
    fn lengths_are_checked() {
        let mut b = header(&[]);
        assert_eq!(
            Ipv4Packet::new_checked(&b[..23]).unwrap_err(),
            Error::Truncated
        );
        b[0] = 0x44; // IHL 4 < 5
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[0] = 0x65; // version 6
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[0] = 0x45;
        set_u16(&mut b, field::LENGTH, 19); // total < header
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        set_u16(&mut b, field::LENGTH, 24);
        // Trailing Ethernet padding is allowed and excluded from the payload.
        let mut padded = b.clone();
        padded.extend_from_slice(&[0; 22]);
        let p = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn bad_checksum_and_evil_bit() {
        let mut b = header(&[]);
        b[8] = 63;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Verify),
            Err(Error::Checksum)
        );
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Trust).is_ok());
        let mut b = header(&[]);
        b[6] |= 0x80;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Verify),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn ttl_update_is_incremental() {
        let mut b = header(&[]);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_ttl_update_checksum(63);
        assert!(p.verify_checksum());
        assert_eq!(p.ttl(), 63);
    }

    #[test]
    fn cidr() {
        let c: Ipv4Cidr = "10.0.2.15/24".parse().unwrap();
        assert_eq!(c.netmask(), Ipv4Address::new(255, 255, 255, 0));
        assert_eq!(c.network().address(), Ipv4Address::new(10, 0, 2, 0));
        assert_eq!(c.broadcast(), Ipv4Address::new(10, 0, 2, 255));
        assert!(c.contains(Ipv4Address::new(10, 0, 2, 2)));
        assert!(!c.contains(Ipv4Address::new(10, 0, 3, 2)));
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Address::new(1, 2, 3, 4)));
        assert!("10.0.2.15/33".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.2.15".parse::<Ipv4Cidr>().is_err());
    }
}
