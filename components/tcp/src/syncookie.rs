//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the SYN-ACK carries the
//! handshake's state in its sequence number instead of a connection being kept for it, so a
//! SYN flood cannot exhaust the listener; the ACK that completes the handshake brings the state
//! back, and the connection is made then.
//!
//! The cookie (our ISS) packs, from the high bits down:
//! - 5 bits: a counter that ticks every 64 s ([`TICK_NS`]), so a cookie expires;
//! - 3 bits: the peer's MSS, as an index into [`MSS_TABLE`] (rounded down);
//! - 24 bits: a keyed hash (SipHash-2-4, keyed like RFC 6528's ISNs) of the 4-tuple, the
//!   peer's ISN, the counter and the MSS index, so a cookie cannot be forged off-path (a
//!   guess is right with probability 2^-24).
//!
//! The options that do not fit travel in our TSval (RFC 7323), which the peer echoes in TSecr:
//! its window scale and whether it offered SACK, in the low 6 bits. Without timestamps a
//! cookie connection has neither (our SYN-ACK then offers neither), as on Linux.

use core::hash::Hasher;

use netstack_wire::SeqNumber;
use siphasher::sip::SipHasher24;

use crate::{Endpoint, Instant};

/// The cookie counter's period.
pub const TICK_NS: u64 = 64_000_000_000;

/// Cookies older than this many ticks are refused (between 64 and 128 s).
const MAX_AGE_TICKS: u32 = 1;

/// The MSS values a cookie can say (RFC 4987: "a small set of MSS values"): the common ones,
/// for IPv4 over Ethernet, PPPoE, tunnels, and jumbo frames.
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1360, 1400, 1440, 1460, 4312, 8960];

/// The peer's SYN options a cookie brings back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOptions {
    /// The peer's MSS, rounded down to [`MSS_TABLE`].
    pub mss: u16,
    /// The peer's window scale, if it offered one (and timestamps carried it).
    pub window_scale: Option<u8>,
    /// The peer offered SACK (and timestamps carried it).
    pub sack: bool,
}

/// Makes and checks cookies; keyed by the host's secret.
#[derive(Debug, Clone)]
pub struct CookieJar {
    key: (u64, u64),
    /// When the last cookie was made. Cookies are checked only while one made since could
    /// still be valid (Linux's `tcp_synq_no_recent_overflow`): without a recent overflow a
    /// stray ACK is just a stray ACK, neither a failed cookie nor one more guess for someone
    /// forging cookies (each ACK is a 2^-24 chance). Not exported with the state: after a hot
    /// swap during a flood, a handshake answered by the old instance is refused once and the
    /// peer connects again.
    last_made: Option<Instant>,
}

impl CookieJar {
    /// A jar keyed with `secret`.
    pub fn new(secret: (u64, u64)) -> CookieJar {
        CookieJar {
            key: secret,
            last_made: None,
        }
    }

    /// Whether a cookie made recently enough to be valid still may come back.
    pub fn recently_made(&self, now: Instant) -> bool {
        self.last_made
            .is_some_and(|t| now.saturating_sub(t) <= u64::from(MAX_AGE_TICKS + 1) * TICK_NS)
    }

    /// The ISS for a SYN from `remote` with ISN `peer_isn` announcing `peer_mss`, and the MSS
    /// it stands for.
    pub fn make(
        &mut self,
        now: Instant,
        local: Endpoint,
        remote: Endpoint,
        peer_isn: SeqNumber,
        peer_mss: u16,
    ) -> (SeqNumber, u16) {
        self.last_made = Some(now);
        let index = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
        let tick = (now / TICK_NS) as u32 & 0x1f;
        let cookie = tick << 27
            | (index as u32) << 24
            | self.hash(local, remote, peer_isn, tick, index as u32);
        (SeqNumber(cookie), MSS_TABLE[index])
    }

    /// The peer's MSS if `cookie` (SEG.ACK - 1 of the completing ACK) is one we made for this
    /// 4-tuple and peer ISN (SEG.SEQ - 1) and has not expired.
    pub fn check(
        &self,
        now: Instant,
        local: Endpoint,
        remote: Endpoint,
        peer_isn: SeqNumber,
        cookie: SeqNumber,
    ) -> Option<u16> {
        let tick = cookie.0 >> 27;
        let index = (cookie.0 >> 24) & 0x7;
        let age = ((now / TICK_NS) as u32).wrapping_sub(tick) & 0x1f;
        (age <= MAX_AGE_TICKS
            && cookie.0 & 0xff_ffff == self.hash(local, remote, peer_isn, tick, index))
        .then(|| MSS_TABLE[index as usize])
    }

    fn hash(
        &self,
        local: Endpoint,
        remote: Endpoint,
        peer_isn: SeqNumber,
        tick: u32,
        index: u32,
    ) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.key.0, self.key.1);
        // Another input than the ISN generator's, so cookies and ISNs never share a hash.
        h.write(b"syncookie");
        h.write(&local.0.octets());
        h.write(&local.1.to_be_bytes());
        h.write(&remote.0.octets());
        h.write(&remote.1.to_be_bytes());
        h.write(&peer_isn.0.to_be_bytes());
        h.write(&[tick as u8, index as u8]);
        h.finish() as u32 & 0xff_ffff
    }
}

/// No window scale, in the TSval's low bits.
const NO_WSCALE: u32 = 0xf;
const SACK_BIT: u32 = 0x10;
const OPTION_BITS: u32 = 0x3f;

/// Our SYN-ACK's TSval with the peer's window scale and SACK in its low 6 bits. Never later
/// than `tsval`, so the connection's own TSvals do not go back (the peer's PAWS would drop them).
pub fn encode_options(tsval: u32, window_scale: Option<u8>, sack: bool) -> u32 {
    let bits =
        window_scale.map_or(NO_WSCALE, |s| u32::from(s.min(14))) | if sack { SACK_BIT } else { 0 };
    let encoded = (tsval & !OPTION_BITS) | bits;
    if encoded > tsval {
        encoded.wrapping_sub(OPTION_BITS + 1)
    } else {
        encoded
    }
}

/// The options [`encode_options`] put in the TSval the peer echoes.
pub fn decode_options(tsecr: u32) -> (Option<u8>, bool) {
    let ws = tsecr & NO_WSCALE;
    ((ws != NO_WSCALE).then_some(ws as u8), tsecr & SACK_BIT != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netstack_wire::Ipv4Address;

    const US: Endpoint = (Ipv4Address::new(10, 0, 2, 15), 80);
    const PEER: Endpoint = (Ipv4Address::new(10, 0, 2, 2), 40000);

    #[test]
    fn a_cookie_checks_for_its_tuple_and_isn_until_it_expires() {
        let mut jar = CookieJar::new((7, 9));
        let now = 5 * TICK_NS + 3;
        let (cookie, mss) = jar.make(now, US, PEER, SeqNumber(1000), 1460);
        assert_eq!(mss, 1460);
        assert_eq!(
            jar.check(now, US, PEER, SeqNumber(1000), cookie),
            Some(1460)
        );
        assert_eq!(
            jar.check(now + TICK_NS, US, PEER, SeqNumber(1000), cookie),
            Some(1460),
            "one tick later"
        );
        assert_eq!(
            jar.check(now + 2 * TICK_NS, US, PEER, SeqNumber(1000), cookie),
            None,
            "expired"
        );
        assert_eq!(jar.check(now, US, PEER, SeqNumber(1001), cookie), None);
        assert_eq!(
            jar.check(now, US, (PEER.0, 40001), SeqNumber(1000), cookie),
            None
        );
        assert_eq!(
            CookieJar::new((7, 10)).check(now, US, PEER, SeqNumber(1000), cookie),
            None,
            "another key"
        );
        // The MSS index is under the hash: changing it breaks the cookie.
        let other_mss = SeqNumber(cookie.0 ^ (1 << 24));
        assert_eq!(jar.check(now, US, PEER, SeqNumber(1000), other_mss), None);
    }

    #[test]
    fn the_counter_wraps_and_the_mss_rounds_down() {
        let mut jar = CookieJar::new((1, 2));
        let now = 31 * TICK_NS;
        let (cookie, mss) = jar.make(now, US, PEER, SeqNumber(5), 1452);
        assert_eq!(mss, 1440);
        assert_eq!(
            jar.check(32 * TICK_NS, US, PEER, SeqNumber(5), cookie),
            Some(1440),
            "tick 31 is one tick before tick 32 (0 mod 32)"
        );
        assert_eq!(jar.make(now, US, PEER, SeqNumber(5), 100).1, 536);
        assert_eq!(jar.make(now, US, PEER, SeqNumber(5), 9000).1, 8960);
    }

    #[test]
    fn options_ride_in_the_tsval_without_moving_it_forward() {
        for tsval in [0u32, 63, 64, 1_000_000, u32::MAX] {
            for (ws, sack) in [
                (Some(7), true),
                (None, false),
                (Some(0), false),
                (Some(14), true),
            ] {
                let t = encode_options(tsval, ws, sack);
                assert_eq!(decode_options(t), (ws, sack));
                assert!(
                    tsval.wrapping_sub(t) < 64,
                    "{t} is at most 63 before {tsval}"
                );
            }
        }
    }
}
