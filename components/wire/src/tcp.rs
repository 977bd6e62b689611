//! TCP segments (RFC 9293 §3.1) and options: MSS (RFC 9293 §3.2), window scale and timestamps
//! (RFC 7323), SACK-permitted and SACK blocks (RFC 2018), NOP and EOL; unknown options are kept.
//!
//! ```text
//! | src port | dst port | seq | ack | offset/flags | window | checksum | urgent | options | data |
//! ```
//!
//! [`TcpRepr::emit`] writes options in one fixed, 32-bit aligned layout (the one Linux uses:
//! MSS, SACK-permitted+timestamps or NOP NOP+timestamps, NOP NOP SACK-permitted, NOP window scale,
//! NOP NOP SACK, then unknown options and EOL padding), so segments from Linux re-emit byte-exact.

use crate::checksum;
use crate::field::{get_u16, get_u32, set_u16, set_u32};
use crate::ipv4::Ipv4Address;
use crate::seq::SeqNumber;
use crate::{ChecksumMode, Error, Result};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ_NUM: usize = 4;
    pub(super) const ACK_NUM: usize = 8;
    pub(super) const FLAGS: usize = 12;
    pub(super) const WIN_SIZE: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
}

/// The length of a header without options.
pub const HEADER_LEN: usize = 20;
/// The most option bytes a header holds (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;
/// The most unknown options a [`TcpRepr`] keeps; further ones are dropped on parse.
pub const MAX_UNKNOWN_OPTIONS: usize = 4;
/// The most SACK blocks an option holds (4 without timestamps, 3 with).
pub const MAX_SACK_BLOCKS: usize = 4;
const PROTOCOL: u8 = 6;

mod kind {
    pub(super) const EOL: u8 = 0;
    pub(super) const NOP: u8 = 1;
    pub(super) const MSS: u8 = 2;
    pub(super) const WS: u8 = 3;
    pub(super) const SACK_PERM: u8 = 4;
    pub(super) const SACK: u8 = 5;
    pub(super) const TS: u8 = 8;
}

/// The control bits, plus the four reserved bits above them (kept so segments round-trip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion window reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x080);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::fmt::Display for TcpFlags {
    /// tcpdump's letters: `S`, `.`, `P`, `F`, `R`, `U`, `E`, `W`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (flag, c) in [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
            (Self::ACK, '.'),
        ] {
            if self.contains(flag) {
                core::fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// The timestamps option (RFC 7323 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpTimestamp {
    /// TSval: the sender's clock.
    pub tsval: u32,
    /// TSecr: the TSval echoed back.
    pub tsecr: u32,
}

/// One option, as found in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: end of the list.
    EndOfList,
    /// Kind 1: padding.
    NoOperation,
    /// Kind 2.
    MaxSegmentSize(u16),
    /// Kind 3: the shift count.
    WindowScale(u8),
    /// Kind 4.
    SackPermitted,
    /// Kind 5: up to four blocks `[left, right)`.
    SackRange([Option<(SeqNumber, SeqNumber)>; MAX_SACK_BLOCKS]),
    /// Kind 8.
    Timestamp(TcpTimestamp),
    /// Any other kind, with its data.
    Unknown {
        /// Kind.
        kind: u8,
        /// Data after kind and length.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the first option in `buf`; returns it and the rest.
    pub fn parse(buf: &'a [u8]) -> Result<(TcpOption<'a>, &'a [u8])> {
        let (&k, rest) = buf.split_first().ok_or(Error::Truncated)?;
        match k {
            kind::EOL => return Ok((TcpOption::EndOfList, &[])),
            kind::NOP => return Ok((TcpOption::NoOperation, rest)),
            _ => {}
        }
        let len = usize::from(*rest.first().ok_or(Error::Malformed)?);
        if len < 2 || len > buf.len() {
            return Err(Error::Malformed);
        }
        let data = &buf[2..len];
        let option = match (k, len) {
            (kind::MSS, 4) => TcpOption::MaxSegmentSize(get_u16(data, 0)),
            // RFC 7323 §2.3: "If a Window Scale option is received with a shift.cnt value larger
            // than 14, the TCP SHOULD log the error but MUST use 14 instead".
            (kind::WS, 3) => TcpOption::WindowScale(data[0].min(14)),
            (kind::SACK_PERM, 2) => TcpOption::SackPermitted,
            (kind::TS, 10) => TcpOption::Timestamp(TcpTimestamp {
                tsval: get_u32(data, 0),
                tsecr: get_u32(data, 4),
            }),
            (kind::SACK, _)
                if len >= 10 && (len - 2) % 8 == 0 && len <= 2 + 8 * MAX_SACK_BLOCKS =>
            {
                let mut blocks = [None; MAX_SACK_BLOCKS];
                for (i, b) in data.chunks_exact(8).enumerate() {
                    blocks[i] = Some((SeqNumber(get_u32(b, 0)), SeqNumber(get_u32(b, 4))));
                }
                TcpOption::SackRange(blocks)
            }
            (kind::MSS | kind::WS | kind::SACK_PERM | kind::TS | kind::SACK, _) => {
                return Err(Error::Malformed);
            }
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((option, &buf[len..]))
    }

    /// The encoded length.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(b) => 2 + 8 * b.iter().flatten().count(),
            TcpOption::Timestamp(_) => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option to the start of `buf` and returns the rest.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Self::buffer_len`].
    pub fn emit<'b>(&self, buf: &'b mut [u8]) -> &'b mut [u8] {
        let len = self.buffer_len();
        let (b, rest) = buf.split_at_mut(len);
        match *self {
            TcpOption::EndOfList => b[0] = kind::EOL,
            TcpOption::NoOperation => b[0] = kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                b[0] = kind::MSS;
                set_u16(b, 2, mss);
            }
            TcpOption::WindowScale(shift) => {
                b[0] = kind::WS;
                b[2] = shift;
            }
            TcpOption::SackPermitted => b[0] = kind::SACK_PERM,
            TcpOption::SackRange(blocks) => {
                b[0] = kind::SACK;
                for (i, (l, r)) in blocks.iter().flatten().enumerate() {
                    set_u32(b, 2 + 8 * i, l.0);
                    set_u32(b, 6 + 8 * i, r.0);
                }
            }
            TcpOption::Timestamp(ts) => {
                b[0] = kind::TS;
                set_u32(b, 2, ts.tsval);
                set_u32(b, 6, ts.tsecr);
            }
            TcpOption::Unknown { kind, data } => {
                b[0] = kind;
                b[2..].copy_from_slice(data);
            }
        }
        if len > 1 {
            b[1] = len as u8;
        }
        rest
    }
}

/// An iterator over a header's options, stopping at EOL; yields an error once on bad framing.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((TcpOption::EndOfList, _)) => {
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            Ok((o, rest)) => {
                self.rest = rest;
                Some(Ok(o))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// A view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps bytes without checking them.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps bytes, checking the header and its data offset. The whole buffer is the segment
    /// (the IPv4 layer cuts it to the datagram's length).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = TcpPacket::new_unchecked(buffer);
        let len = p.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hlen = p.header_len();
        if hlen < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if hlen > len {
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

    /// The sequence number.
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(get_u32(self.buffer.as_ref(), field::SEQ_NUM))
    }

    /// The acknowledgment number field (meaningful only with ACK).
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(get_u32(self.buffer.as_ref(), field::ACK_NUM))
    }

    /// The header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS] >> 4) * 4
    }

    /// The control bits and the reserved bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(get_u16(self.buffer.as_ref(), field::FLAGS) & 0x0fff)
    }

    /// The window field (unscaled).
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The option bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The options, one by one.
    pub fn option_iter(&self) -> TcpOptions<'_> {
        TcpOptions {
            rest: self.options(),
        }
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// The sequence space the segment occupies: data, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        let f = self.flags();
        self.payload().len()
            + usize::from(f.contains(TcpFlags::SYN))
            + usize::from(f.contains(TcpFlags::FIN))
    }

    /// Whether the checksum over pseudo-header, header and data verifies.
    pub fn verify_checksum(&self, src: Ipv4Address, dst: Ipv4Address) -> bool {
        let b = self.buffer.as_ref();
        let s = checksum::pseudo_header(src, dst, PROTOCOL, b.len() as u32) + checksum::sum(b);
        checksum::fold(s) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Computes and writes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self, src: Ipv4Address, dst: Ipv4Address) {
        let b = self.buffer.as_mut();
        set_u16(b, field::CHECKSUM, 0);
        let c = !checksum::fold(
            checksum::pseudo_header(src, dst, PROTOCOL, b.len() as u32) + checksum::sum(b),
        );
        set_u16(b, field::CHECKSUM, c);
    }

    /// Sets the sequence number; the checksum is not updated.
    pub fn set_seq_number(&mut self, seq: SeqNumber) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM, seq.0);
    }

    /// Sets the control and reserved bits (the data offset stays); the checksum is not updated.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let b = self.buffer.as_mut();
        let offset = get_u16(b, field::FLAGS) & 0xf000;
        set_u16(b, field::FLAGS, offset | (flags.0 & 0x0fff));
    }

    /// Writes only the pseudo-header sum (not complemented) for a NIC or GSO to complete, as
    /// Linux's CHECKSUM_PARTIAL does: the finisher sums from the TCP header on and complements.
    pub fn fill_partial_checksum(&mut self, src: Ipv4Address, dst: Ipv4Address) {
        let len = self.buffer.as_ref().len() as u32;
        self.fill_partial_checksum_for(src, dst, len);
    }

    /// [`Self::fill_partial_checksum`] for a segment of `tcp_len` bytes of which this buffer
    /// holds the first (the rest are added later, by whoever completes the checksum).
    pub fn fill_partial_checksum_for(&mut self, src: Ipv4Address, dst: Ipv4Address, tcp_len: u32) {
        let c = checksum::fold(checksum::pseudo_header(src, dst, PROTOCOL, tcp_len));
        set_u16(self.buffer.as_mut(), field::CHECKSUM, c);
    }

    /// The data, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

/// A TCP segment's header and options, and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Control bits (ACK among them) and reserved bits.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq_number: SeqNumber,
    /// The acknowledgment field as on the wire; meaningful only when `flags` has ACK (see [`Self::ack`]).
    pub ack_number: SeqNumber,
    /// The window field, unscaled.
    pub window_len: u16,
    /// The urgent pointer.
    pub urgent_at: u16,
    /// MSS option.
    pub max_seg_size: Option<u16>,
    /// Window scale option (shift count, at most 14).
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks (all `None`: no SACK option).
    pub sack_ranges: [Option<(SeqNumber, SeqNumber)>; MAX_SACK_BLOCKS],
    /// Timestamps option.
    pub timestamp: Option<TcpTimestamp>,
    /// Unknown options, kept in order (the first [`MAX_UNKNOWN_OPTIONS`]).
    pub unknown_options: [Option<(u8, &'a [u8])>; MAX_UNKNOWN_OPTIONS],
    /// The data.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// A bare segment with no options and no data.
    pub const fn new(
        src_port: u16,
        dst_port: u16,
        flags: TcpFlags,
        seq: SeqNumber,
        ack: SeqNumber,
        window: u16,
    ) -> Self {
        TcpRepr {
            src_port,
            dst_port,
            flags,
            seq_number: seq,
            ack_number: ack,
            window_len: window,
            urgent_at: 0,
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_ranges: [None; MAX_SACK_BLOCKS],
            timestamp: None,
            unknown_options: [None; MAX_UNKNOWN_OPTIONS],
            payload: &[],
        }
    }

    /// Parses a checked segment, verifying its checksum unless `mode` trusts it. Port 0 on either
    /// side and malformed options are errors.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: Ipv4Address,
        dst: Ipv4Address,
        mode: ChecksumMode,
    ) -> Result<TcpRepr<'a>> {
        let b: &'a [u8] = T::as_ref(packet.buffer);
        let packet = TcpPacket::new_checked(b)?;
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if mode == ChecksumMode::Verify && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let mut repr = TcpRepr::new(
            packet.src_port(),
            packet.dst_port(),
            packet.flags(),
            packet.seq_number(),
            packet.ack_number(),
            packet.window_len(),
        );
        repr.urgent_at = packet.urgent_at();
        repr.payload = &b[packet.header_len()..];
        let mut unknown = 0;
        let mut opts = &b[HEADER_LEN..packet.header_len()];
        while !opts.is_empty() {
            let (option, rest) = TcpOption::parse(opts)?;
            match option {
                TcpOption::EndOfList => break,
                TcpOption::NoOperation => {}
                TcpOption::MaxSegmentSize(v) => repr.max_seg_size = Some(v),
                TcpOption::WindowScale(v) => repr.window_scale = Some(v),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(r) => repr.sack_ranges = r,
                TcpOption::Timestamp(ts) => repr.timestamp = Some(ts),
                TcpOption::Unknown { kind, data } => {
                    if let Some(slot) = repr.unknown_options.get_mut(unknown) {
                        *slot = Some((kind, data));
                        unknown += 1;
                    }
                }
            }
            opts = rest;
        }
        Ok(repr)
    }

    /// The acknowledgment number, if ACK is set.
    pub fn ack(&self) -> Option<SeqNumber> {
        self.flags
            .contains(TcpFlags::ACK)
            .then_some(self.ack_number)
    }

    /// The option bytes [`Self::emit`] writes, padding included.
    pub fn options_len(&self) -> usize {
        let mut len = 0;
        if self.max_seg_size.is_some() {
            len += 4;
        }
        if self.timestamp.is_some() {
            len += 12; // SACK-permitted or NOP NOP, then the 10-byte option
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        let blocks = self.sack_ranges.iter().flatten().count();
        if blocks > 0 {
            len += 4 + 8 * blocks;
        }
        len += self
            .unknown_options
            .iter()
            .flatten()
            .map(|(_, d)| 2 + d.len())
            .sum::<usize>();
        (len + 3) & !3
    }

    /// The header length, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Header and data.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The sequence space the segment occupies.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes header, options and data into `packet` (exactly [`Self::buffer_len`] bytes) and the
    /// full checksum.
    ///
    /// # Panics
    /// If the options exceed 40 bytes or the buffer's length is not [`Self::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Address,
        dst: Ipv4Address,
    ) {
        self.emit_header(packet.buffer.as_mut());
        let hlen = self.header_len();
        packet.buffer.as_mut()[hlen..].copy_from_slice(self.payload);
        packet.fill_checksum(src, dst);
    }

    /// Writes the header and options (not the data, not the checksum) into the first
    /// [`Self::header_len`] bytes of `buf`.
    ///
    /// # Panics
    /// If the options exceed 40 bytes or `buf` is shorter than the header.
    pub fn emit_header(&self, buf: &mut [u8]) {
        let opts_len = self.options_len();
        assert!(
            opts_len <= MAX_OPTIONS_LEN,
            "TCP options of {opts_len} bytes exceed 40"
        );
        let hlen = HEADER_LEN + opts_len;
        set_u16(buf, field::SRC_PORT, self.src_port);
        set_u16(buf, field::DST_PORT, self.dst_port);
        set_u32(buf, field::SEQ_NUM, self.seq_number.0);
        set_u32(buf, field::ACK_NUM, self.ack_number.0);
        set_u16(
            buf,
            field::FLAGS,
            ((hlen as u16 / 4) << 12) | (self.flags.0 & 0x0fff),
        );
        set_u16(buf, field::WIN_SIZE, self.window_len);
        set_u16(buf, field::CHECKSUM, 0);
        set_u16(buf, field::URGENT, self.urgent_at);

        let nop = |b: &mut [u8], n: usize| -> usize {
            b[..n].fill(kind::NOP);
            n
        };
        let o = &mut buf[HEADER_LEN..hlen];
        let mut at = 0;
        if let Some(mss) = self.max_seg_size {
            TcpOption::MaxSegmentSize(mss).emit(&mut o[at..]);
            at += 4;
        }
        if let Some(ts) = self.timestamp {
            if self.sack_permitted {
                TcpOption::SackPermitted.emit(&mut o[at..]);
                at += 2;
            } else {
                at += nop(&mut o[at..], 2);
            }
            TcpOption::Timestamp(ts).emit(&mut o[at..]);
            at += 10;
        } else if self.sack_permitted {
            at += nop(&mut o[at..], 2);
            TcpOption::SackPermitted.emit(&mut o[at..]);
            at += 2;
        }
        if let Some(shift) = self.window_scale {
            at += nop(&mut o[at..], 1);
            TcpOption::WindowScale(shift).emit(&mut o[at..]);
            at += 3;
        }
        if self.sack_ranges.iter().any(Option::is_some) {
            at += nop(&mut o[at..], 2);
            let option = TcpOption::SackRange(self.sack_ranges);
            option.emit(&mut o[at..]);
            at += option.buffer_len();
        }
        for &(kind, data) in self.unknown_options.iter().flatten() {
            let option = TcpOption::Unknown { kind, data };
            option.emit(&mut o[at..]);
            at += option.buffer_len();
        }
        o[at..].fill(kind::EOL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
    const DST: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);

    fn segment(options: &[u8]) -> std::vec::Vec<u8> {
        let mut b = std::vec![0u8; HEADER_LEN + options.len()];
        b[0..2].copy_from_slice(&40000u16.to_be_bytes());
        b[2..4].copy_from_slice(&7u16.to_be_bytes());
        b[12] = ((HEADER_LEN + options.len()) as u8 / 4) << 4;
        b[13] = 0x02;
        b[HEADER_LEN..].copy_from_slice(options);
        TcpPacket::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        b
    }

    #[test]
    fn malformed_options_are_errors() {
        for opts in [
            &[2, 3, 0, 0][..],         // MSS of length 3
            &[3, 3, 7, 1, 8, 9, 0, 0], // timestamp of length 9
            &[5, 6, 0, 0, 0, 0, 0, 0], // SACK of length 6
            &[9, 0, 0, 0],             // length 0
            &[1, 1, 1, 9],             // length byte missing
            &[9, 8, 0, 0],             // runs past the header
        ] {
            let b = segment(opts);
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(
                TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify),
                Err(Error::Malformed),
                "{opts:?}"
            );
        }
    }

    #[test]
    fn window_scale_is_clamped_to_14() {
        let b = segment(&[1, 3, 3, 15]);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify)
                .unwrap()
                .window_scale,
            Some(14)
        );
    }

    #[test]
    fn unknown_options_are_kept_and_eol_ends_the_list() {
        let b = segment(&[253, 4, 0xbe, 0xef, 0, 2, 4, 5]);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let r = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(r.unknown_options[0], Some((253, &[0xbe, 0xef][..])));
        assert_eq!(r.max_seg_size, None, "options after EOL are padding");
        // Re-emitted without the padding after EOL, the options still read the same.
        let mut out = std::vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), SRC, DST);
        assert_eq!(&out[HEADER_LEN..], &[253, 4, 0xbe, 0xef]);
        let p = TcpPacket::new_checked(&out[..]).unwrap();
        let again = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn header_checks() {
        let mut b = segment(&[]);
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).unwrap_err(),
            Error::Truncated
        );
        b[12] = 4 << 4;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[12] = 6 << 4;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        let mut b = segment(&[]);
        b[3] = 0; // destination port 0
        TcpPacket::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, ChecksumMode::Verify),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn partial_checksum_completes_to_full() {
        let mut r = TcpRepr::new(
            1,
            2,
            TcpFlags::ACK | TcpFlags::PSH,
            SeqNumber(10),
            SeqNumber(20),
            100,
        );
        r.payload = b"hello";
        let mut full = std::vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut full[..]), SRC, DST);
        let mut partial = full.clone();
        let mut p = TcpPacket::new_unchecked(&mut partial[..]);
        p.fill_partial_checksum(SRC, DST);
        // The finisher: sum everything from the TCP header on (partial sum in the field), complement.
        let c = crate::checksum::checksum(&partial);
        partial[16..18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(partial, full);
    }
}
