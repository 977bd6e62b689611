//! Ephemeral port selection (RFC 6056 §3.3.4, Algorithm 4, "Double-Hash Port Selection", the
//! one Linux follows): the search for a free port starts at `offset = F(local, remote, key1)`
//! plus a per-bucket counter `table[G(local, remote, key2)]`, so ports are unpredictable to an
//! off-path attacker, yet a host reconnecting to the same peer moves on instead of reusing the
//! port it just left.

use core::hash::Hasher;

use netstack_wire::Ipv4Address;
use siphasher::sip::SipHasher24;

/// Buckets of the counter table (RFC 6056 suggests a "large enough" table; Linux uses 2^16).
const TABLE_LENGTH: usize = 1024;

/// The allocator.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PortAllocator {
    first: u16,
    last: u16,
    key1: (u64, u64),
    key2: (u64, u64),
    table: Vec<u16>,
}

impl PortAllocator {
    /// Ports `first..=last`, keyed from `seed`.
    ///
    /// # Panics
    /// If the range is empty or starts at 0.
    pub fn new(first: u16, last: u16, seed: u64) -> PortAllocator {
        assert!(
            first > 0 && first <= last,
            "ephemeral range {first}..={last}"
        );
        let mix =
            |n: u64| seed.rotate_left(17 * n as u32) ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n + 1);
        PortAllocator {
            first,
            last,
            key1: (mix(1), mix(2)),
            key2: (mix(3), mix(4)),
            table: vec![0; TABLE_LENGTH],
        }
    }

    fn hash(key: (u64, u64), local: Ipv4Address, remote: (Ipv4Address, u16)) -> u64 {
        let mut h = SipHasher24::new_with_keys(key.0, key.1);
        h.write(&local.octets());
        h.write(&remote.0.octets());
        h.write(&remote.1.to_be_bytes());
        h.finish()
    }

    /// A port for a connection from `local` to `remote` that `in_use` says is free, or `None`
    /// when every port in the range is taken.
    pub fn allocate(
        &mut self,
        local: Ipv4Address,
        remote: (Ipv4Address, u16),
        in_use: impl Fn(u16) -> bool,
    ) -> Option<u16> {
        let count = u32::from(self.last - self.first) + 1;
        let offset = Self::hash(self.key1, local, remote) as u32;
        let index = (Self::hash(self.key2, local, remote) % TABLE_LENGTH as u64) as usize;
        for _ in 0..count {
            let port =
                self.first + ((offset.wrapping_add(u32::from(self.table[index]))) % count) as u16;
            self.table[index] = self.table[index].wrapping_add(1);
            if !in_use(port) {
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const LOCAL: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
    const PEER: (Ipv4Address, u16) = (Ipv4Address::new(10, 0, 2, 2), 80);

    #[test]
    fn ports_stay_in_range_move_on_and_depend_on_the_seed() {
        let mut a = PortAllocator::new(32768, 60999, 1);
        let p1 = a.allocate(LOCAL, PEER, |_| false).unwrap();
        let p2 = a.allocate(LOCAL, PEER, |_| false).unwrap();
        assert!((32768..=60999).contains(&p1));
        assert_eq!(
            p2,
            if p1 == 60999 { 32768 } else { p1 + 1 },
            "the next connection to the same peer moves on"
        );
        let mut b = PortAllocator::new(32768, 60999, 2);
        assert_ne!(
            b.allocate(LOCAL, PEER, |_| false).unwrap(),
            p1,
            "another seed, another start"
        );
    }

    #[test]
    fn skips_ports_in_use_and_reports_exhaustion() {
        let mut a = PortAllocator::new(5000, 5003, 9);
        let mut taken = BTreeSet::new();
        for _ in 0..4 {
            let p = a.allocate(LOCAL, PEER, |p| taken.contains(&p)).unwrap();
            assert!(taken.insert(p));
        }
        assert_eq!(taken.len(), 4);
        assert_eq!(a.allocate(LOCAL, PEER, |p| taken.contains(&p)), None);
    }
}
