//! The hashers of the layer's tables, chosen so the layer draws no randomness of its own.
//!
//! std's `HashMap::new` seeds SipHash from the platform: on wasm32-wasip2 that is an import of
//! `wasi:random/insecure-seed`, a number the layer would draw itself (DESIGN.md's sans-IO rule:
//! seeds are injected), and a table order that differs from run to run. Instead:
//!
//! - the connection table, keyed by 4-tuples that peers choose, hashes with SipHash-1-3 under a
//!   key derived from the injected RFC 6528 secret, as Linux keys its established-connection
//!   hash with a secret drawn at boot (`inet_ehashfn`): without the key a peer cannot aim its
//!   connections at one bucket;
//! - tables keyed by what only the layer chooses (socket handles, its own local ports and
//!   listening endpoints) hash with FxHash, one multiply per word.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher as _};

use rustc_hash::FxBuildHasher;
use siphasher::sip::{SipHasher13, SipHasher24};

/// A table keyed by what peers choose.
pub(crate) type KeyedMap<K, V> = HashMap<K, V, SecretKeyed>;

/// A table keyed by what the layer chooses.
pub(crate) type LocalMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// SipHash-1-3 under a key derived from the layer's secret.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SecretKeyed {
    key: (u64, u64),
}

impl SecretKeyed {
    /// The table key for `secret` (the RFC 6528 key), derived under its own label so that the
    /// table's hashes say nothing about initial sequence numbers.
    pub(crate) fn new(secret: (u64, u64)) -> SecretKeyed {
        let derive = |label: &[u8]| {
            let mut h = SipHasher24::new_with_keys(secret.0, secret.1);
            h.write(label);
            h.finish()
        };
        SecretKeyed {
            key: (
                derive(b"netstack-tcp connection table 0"),
                derive(b"netstack-tcp connection table 1"),
            ),
        }
    }

    /// An empty table hashed under this key.
    pub(crate) fn map<K, V>(self) -> KeyedMap<K, V> {
        HashMap::with_hasher(self)
    }
}

impl BuildHasher for SecretKeyed {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.key.0, self.key.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_the_secret_and_hashes_repeat() {
        let a = SecretKeyed::new((1, 2));
        let b = SecretKeyed::new((1, 3));
        let key = ((10u32, 80u16), (20u32, 40000u16));
        assert_eq!(a.hash_one(key), SecretKeyed::new((1, 2)).hash_one(key));
        assert_ne!(a.hash_one(key), b.hash_one(key));
        assert_ne!(
            a.key,
            (1, 2),
            "the table key is derived, not the secret itself"
        );
    }
}
