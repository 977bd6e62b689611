//! Reassembly of IPv4 fragments (RFC 791 §3.2, RFC 815's holes in spirit), with a timeout
//! (30 s, Linux's `ipfrag_time`) and a memory bound (4 MiB). Overlapping fragments drop the
//! whole datagram, in the spirit of RFC 5722 (overlaps are an attack, never a real network's
//! doing); exact duplicates are ignored.

use std::collections::BTreeMap;

use netstack_wire::{Ipv4Address, Ipv4Packet, Ipv4Repr};

use crate::Instant;

/// How long fragments wait for the rest of their datagram.
pub const TIMEOUT_NS: u64 = 30_000_000_000;
/// The most fragment payload held at once, all datagrams together.
pub const MEMORY_LIMIT: usize = 4 << 20;
/// The largest datagram payload (65535 minus a minimal header).
const MAX_PAYLOAD: usize = 65_535 - 20;

/// Identifies one datagram's fragments (RFC 791: source, destination, protocol, identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    src: Ipv4Address,
    dst: Ipv4Address,
    protocol: u8,
    ident: u16,
}

#[derive(Debug)]
struct Datagram {
    deadline: Instant,
    /// The first fragment's header fields, once it came.
    first: Option<Ipv4Repr>,
    /// Its first bytes (header + 8 of payload), for an ICMP time exceeded.
    first_quote: Vec<u8>,
    parts: BTreeMap<usize, Vec<u8>>,
    total: Option<usize>,
    bytes: usize,
}

/// What a fragment came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Held; more to come.
    Pending,
    /// The datagram is whole: its header and payload.
    Complete(Ipv4Repr, Vec<u8>),
    /// Dropped (with the reason, for the counters).
    Dropped(DropReason),
}

/// Why a fragment or datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// It overlaps another fragment of the datagram with different bytes: all of it goes.
    Overlap,
    /// It runs past 65535 bytes, or is not a multiple of 8 though more follow.
    Malformed,
    /// No room under the memory bound even after evicting older datagrams.
    Memory,
}

/// A datagram that timed out, for ICMP time exceeded (sent only if fragment zero came, RFC 792).
#[derive(Debug, PartialEq, Eq)]
pub struct Expired {
    /// The first fragment's header.
    pub first: Option<(Ipv4Repr, Vec<u8>)>,
}

/// Datagrams being reassembled.
#[derive(Debug, Default)]
pub struct Reassembler {
    datagrams: BTreeMap<Key, Datagram>,
    bytes: usize,
}

impl Reassembler {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether none is in progress.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Takes one fragment (`packet` whole, header included).
    pub fn insert(&mut self, now: Instant, repr: &Ipv4Repr, packet: &[u8]) -> Outcome {
        let view = Ipv4Packet::new_unchecked(packet);
        let payload = &packet[view.header_len()..usize::from(view.total_len())];
        let offset = usize::from(repr.frag_offset);
        let end = offset + payload.len();
        if end > MAX_PAYLOAD
            || (repr.more_frags && !payload.len().is_multiple_of(8))
            || payload.is_empty()
        {
            return Outcome::Dropped(DropReason::Malformed);
        }
        let key = Key {
            src: repr.src_addr,
            dst: repr.dst_addr,
            protocol: repr.protocol.into(),
            ident: repr.ident,
        };
        while self.bytes + payload.len() > MEMORY_LIMIT {
            // Evict the datagram closest to timing out (the oldest).
            let Some(oldest) = self
                .datagrams
                .iter()
                .min_by_key(|(_, d)| d.deadline)
                .map(|(k, _)| *k)
            else {
                return Outcome::Dropped(DropReason::Memory);
            };
            if oldest == key && self.datagrams.len() == 1 {
                return Outcome::Dropped(DropReason::Memory);
            }
            self.remove(oldest);
        }
        let d = self.datagrams.entry(key).or_insert_with(|| Datagram {
            deadline: now + TIMEOUT_NS,
            first: None,
            first_quote: Vec::new(),
            parts: BTreeMap::new(),
            total: None,
            bytes: 0,
        });
        if let Some(outcome) = Self::check_fit(d, offset, end, repr.more_frags, payload) {
            if outcome != Outcome::Pending {
                self.remove(key);
            }
            return outcome;
        }
        if !repr.more_frags {
            d.total = Some(end);
        }
        if offset == 0 {
            d.first = Some(*repr);
            let quote = packet
                .len()
                .min(Ipv4Packet::new_unchecked(packet).header_len() + 8);
            d.first_quote = packet[..quote].to_vec();
        }
        d.bytes += payload.len();
        self.bytes += payload.len();
        d.parts.insert(offset, payload.to_vec());

        // Whole? Parts are disjoint and sorted: whole when they tile 0..total.
        let (Some(total), Some(first)) = (d.total, d.first) else {
            return Outcome::Pending;
        };
        let mut at = 0;
        for (o, p) in &d.parts {
            if *o != at {
                return Outcome::Pending;
            }
            at += p.len();
        }
        if at != total {
            return Outcome::Pending;
        }
        let d = self.remove(key).expect("just completed");
        let mut data = Vec::with_capacity(total);
        for p in d.parts.into_values() {
            data.extend_from_slice(&p);
        }
        let whole = Ipv4Repr {
            payload_len: total,
            more_frags: false,
            frag_offset: 0,
            ..first
        };
        Outcome::Complete(whole, data)
    }

    /// Whether a fragment at `offset..end` fits the datagram: `None` if it does, `Pending` for an
    /// exact duplicate, `Dropped(Overlap)` for anything that overlaps or contradicts the end.
    fn check_fit(
        d: &Datagram,
        offset: usize,
        end: usize,
        more: bool,
        payload: &[u8],
    ) -> Option<Outcome> {
        let overlap = Some(Outcome::Dropped(DropReason::Overlap));
        if let Some((o, p)) = d.parts.range(..=offset).next_back() {
            if *o == offset && p[..] == *payload {
                return Some(Outcome::Pending);
            }
            if o + p.len() > offset {
                return overlap;
            }
        }
        if d.parts
            .range(offset + 1..)
            .next()
            .is_some_and(|(o, _)| *o < end)
        {
            return overlap;
        }
        let last_end = d.parts.last_key_value().map_or(0, |(o, p)| o + p.len());
        if more {
            // A middle fragment must end before a known end.
            if d.total.is_some_and(|t| end > t) {
                return overlap;
            }
        } else if d.total.is_some_and(|t| t != end) || last_end > end {
            // Two different ends, or data past this end.
            return overlap;
        }
        None
    }

    fn remove(&mut self, key: Key) -> Option<Datagram> {
        let d = self.datagrams.remove(&key)?;
        self.bytes -= d.bytes;
        Some(d)
    }

    /// Drops the datagrams whose time is up.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let due: Vec<Key> = self
            .datagrams
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        due.into_iter()
            .filter_map(|k| self.remove(k))
            .map(|d| Expired {
                first: d.first.map(|f| (f, d.first_quote)),
            })
            .collect()
    }

    /// When the next datagram times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.datagrams.values().map(|d| d.deadline).min()
    }
}
