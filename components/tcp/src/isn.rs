//! Initial sequence numbers (RFC 6528 §3): `ISN = M + F(localip, localport, remoteip, remoteport,
//! secretkey)`, where M is a timer that ticks every 4 µs and F a keyed hash (SipHash-2-4 here,
//! which RFC 6528 allows: "a PRF ... such as SipHash"). Off-path attackers cannot guess the ISN
//! of a connection, and successive connections of one 4-tuple still move forward with M.

use core::hash::Hasher;

use netstack_wire::{Ipv4Address, SeqNumber};
use siphasher::sip::SipHasher24;

use crate::Instant;

/// The ISN generator; the secret comes from the host at configuration, never from here.
#[derive(Debug, Clone)]
pub struct IsnGenerator {
    key: (u64, u64),
}

impl IsnGenerator {
    /// A generator keyed with `secret`.
    pub fn new(secret: (u64, u64)) -> IsnGenerator {
        IsnGenerator { key: secret }
    }

    /// The ISN for a connection at `now`.
    pub fn isn(
        &self,
        now: Instant,
        local: (Ipv4Address, u16),
        remote: (Ipv4Address, u16),
    ) -> SeqNumber {
        // M: RFC 793's 4 µs clock.
        let m = (now / 4_000) as u32;
        SeqNumber(m.wrapping_add(self.hash(local, remote) as u32))
    }

    /// F: the keyed hash of the 4-tuple.
    pub(crate) fn hash(&self, local: (Ipv4Address, u16), remote: (Ipv4Address, u16)) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.key.0, self.key.1);
        h.write(&local.0.octets());
        h.write(&local.1.to_be_bytes());
        h.write(&remote.0.octets());
        h.write(&remote.1.to_be_bytes());
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: (Ipv4Address, u16) = (Ipv4Address::new(10, 0, 2, 15), 40000);
    const B: (Ipv4Address, u16) = (Ipv4Address::new(10, 0, 2, 2), 80);

    #[test]
    fn isn_depends_on_key_tuple_and_time() {
        let g = IsnGenerator::new((1, 2));
        let isn = g.isn(0, A, B);
        assert_eq!(g.isn(0, A, B), isn, "deterministic");
        assert_ne!(
            IsnGenerator::new((1, 3)).isn(0, A, B),
            isn,
            "the key matters"
        );
        assert_ne!(g.isn(0, (A.0, 40001), B), isn, "the tuple matters");
        // M ticks every 4 µs: one second later the ISN is 250000 ahead.
        assert_eq!(g.isn(1_000_000_000, A, B) - isn, 250_000);
    }

    #[test]
    fn siphash_matches_the_reference_vector() {
        // SipHash-2-4 reference: key 00..0f, empty message → 0x726fdb47dd0e0e31.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(
            SipHasher24::new_with_keys(k0, k1).finish(),
            0x726f_db47_dd0e_0e31
        );
    }
}
