//! The neighbour table: ARP resolution with Linux's neighbour states (NUD) and timers.
//!
//! ```text
//!              send, no entry                 reply
//!   (none) ─────────────────────▶ INCOMPLETE ───────▶ REACHABLE ◀────────────┐
//!                                   │ 3 probes,         │ 30 s               │ reply
//!                                   │ 1 s apart         ▼                    │
//!                                   ▼                 STALE ──send──▶ DELAY ─5 s─▶ PROBE
//!                                 FAILED ◀─────── 3 unanswered unicast probes ────┘
//! ```
//! Packets towards an INCOMPLETE neighbour wait in a bounded queue: flushed when the address
//! resolves, handed back as undeliverable when it fails (so ipv4 can answer with ICMP host
//! unreachable). STALE entries unused for 60 s and FAILED ones are collected.
//!
//! Sans-IO: every entry point takes `now` and returns [`Action`]s; the caller builds the frames.

use std::collections::{BTreeMap, VecDeque};

use netstack_wire::{EthernetAddress, Ipv4Address};

use crate::Instant;

/// A neighbour's state, as Linux names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourState {
    /// Resolution in progress: broadcast requests sent, packets queued.
    Incomplete,
    /// Confirmed recently.
    Reachable,
    /// Known, not confirmed lately; used as is, and re-checked on use.
    Stale,
    /// Used while stale; waiting a moment for a confirmation before probing.
    Delay,
    /// Sending unicast requests to re-confirm.
    Probe,
    /// Resolution failed.
    Failed,
    /// Configured; never expires.
    Permanent,
}

impl NeighbourState {
    /// The name `ip neigh` prints.
    pub fn name(self) -> &'static str {
        match self {
            NeighbourState::Incomplete => "INCOMPLETE",
            NeighbourState::Reachable => "REACHABLE",
            NeighbourState::Stale => "STALE",
            NeighbourState::Delay => "DELAY",
            NeighbourState::Probe => "PROBE",
            NeighbourState::Failed => "FAILED",
            NeighbourState::Permanent => "PERMANENT",
        }
    }
}

/// The timers and limits (Linux's `net.ipv4.neigh.*` defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// Between probes (`retrans_time_ms`, 1 s).
    pub retrans_ns: u64,
    /// Broadcast probes before INCOMPLETE fails (`mcast_probes`, 3).
    pub mcast_probes: u32,
    /// Unicast probes before PROBE fails (`ucast_probes`, 3).
    pub ucast_probes: u32,
    /// How long a confirmation lasts (`base_reachable_time`, 30 s; Linux randomises it ±50%).
    pub reachable_ns: u64,
    /// DELAY before PROBE (`delay_first_probe_time`, 5 s).
    pub delay_ns: u64,
    /// An unused STALE entry is collected after this (`gc_stale_time`, 60 s).
    pub gc_stale_ns: u64,
    /// A FAILED entry lingers this long (so a burst to a dead host does not re-probe at once).
    pub failed_linger_ns: u64,
    /// Bytes queued per unresolved neighbour (`unres_qlen_bytes`, 212992).
    pub queue_bytes: usize,
    /// Entries at most (`gc_thresh3`, 1024).
    pub max_entries: usize,
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        const S: u64 = 1_000_000_000;
        NeighbourConfig {
            retrans_ns: S,
            mcast_probes: 3,
            ucast_probes: 3,
            reachable_ns: 30 * S,
            delay_ns: 5 * S,
            gc_stale_ns: 60 * S,
            failed_linger_ns: 3 * S,
            queue_bytes: 212_992,
            max_entries: 1024,
        }
    }
}

/// A packet waiting for its next hop's address, with its GSO segment size (0: an ordinary
/// packet), so that a super-segment is still cut when it finally goes.
pub type QueuedPacket = (Vec<u8>, u16);

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The hardware address, once known.
    pub mac: Option<EthernetAddress>,
    /// The state.
    pub state: NeighbourState,
    probes: u32,
    deadline: Option<Instant>,
    queue: VecDeque<QueuedPacket>,
    queued_bytes: usize,
}

impl Entry {
    fn new(state: NeighbourState, mac: Option<EthernetAddress>) -> Entry {
        Entry {
            mac,
            state,
            probes: 0,
            deadline: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
        }
    }

    /// Packets waiting for the address.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an ARP request for `target`: broadcast, or unicast to a MAC being re-confirmed.
    Request {
        /// The address asked for.
        target: Ipv4Address,
        /// Unicast to this MAC (PROBE), or broadcast.
        unicast: Option<EthernetAddress>,
    },
    /// These packets can go now, to `mac`.
    Flush {
        /// Where to.
        mac: EthernetAddress,
        /// The IPv4 packets, oldest first.
        packets: Vec<QueuedPacket>,
    },
    /// These packets cannot be delivered: their next hop failed to resolve.
    Unresolved(Vec<QueuedPacket>),
}

/// What sending a packet to a neighbour came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Send it to this MAC now.
    Ready(EthernetAddress),
    /// Queued until the address resolves.
    Queued,
    /// Queued, and the queue was full: the oldest packet was dropped.
    QueuedDroppingOldest,
}

/// The table.
#[derive(Debug, Default)]
pub struct NeighbourTable {
    config: NeighbourConfig,
    entries: BTreeMap<Ipv4Address, Entry>,
}

impl NeighbourTable {
    /// An empty table.
    pub fn new(config: NeighbourConfig) -> NeighbourTable {
        NeighbourTable {
            config,
            entries: BTreeMap::new(),
        }
    }

    /// Every entry, by address.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Address, &Entry)> {
        self.entries.iter().map(|(a, e)| (*a, e))
    }

    /// One entry.
    pub fn get(&self, ip: Ipv4Address) -> Option<&Entry> {
        self.entries.get(&ip)
    }

    /// Adds a permanent entry.
    pub fn add_static(&mut self, ip: Ipv4Address, mac: EthernetAddress, actions: &mut Vec<Action>) {
        let mut entry = Entry::new(NeighbourState::Permanent, Some(mac));
        if let Some(old) = self.entries.remove(&ip) {
            entry.queue = old.queue;
        }
        if !entry.queue.is_empty() {
            actions.push(Action::Flush {
                mac,
                packets: entry.queue.drain(..).collect(),
            });
            entry.queued_bytes = 0;
        }
        self.entries.insert(ip, entry);
    }

    /// Removes an entry; its queued packets become undeliverable.
    pub fn remove(&mut self, ip: Ipv4Address, actions: &mut Vec<Action>) -> bool {
        match self.entries.remove(&ip) {
            Some(e) => {
                if !e.queue.is_empty() {
                    actions.push(Action::Unresolved(e.queue.into()));
                }
                true
            }
            None => false,
        }
    }

    /// The MAC to send to `ip` at now, if its entry has one that may be used: REACHABLE,
    /// PERMANENT, DELAY, PROBE, or STALE, which moves to DELAY (RFC 1122 §2.3.2.1 / Linux: use
    /// the cached address, and confirm it shortly). No entry is created.
    pub fn usable(&mut self, now: Instant, ip: Ipv4Address) -> Option<EthernetAddress> {
        let delay = self.config.delay_ns;
        let entry = self.entries.get_mut(&ip)?;
        match entry.state {
            NeighbourState::Reachable
            | NeighbourState::Permanent
            | NeighbourState::Delay
            | NeighbourState::Probe => entry.mac,
            NeighbourState::Stale => {
                entry.state = NeighbourState::Delay;
                entry.deadline = Some(now + delay);
                entry.mac
            }
            NeighbourState::Incomplete | NeighbourState::Failed => None,
        }
    }

    /// Where to send a packet for `ip`: a MAC now, or the packet is queued (and resolution
    /// started if it was not running).
    pub fn resolve(
        &mut self,
        now: Instant,
        ip: Ipv4Address,
        packet: &[u8],
        segment_size: u16,
        actions: &mut Vec<Action>,
    ) -> Resolution {
        if let Some(mac) = self.usable(now, ip) {
            return Resolution::Ready(mac);
        }
        let config = self.config;
        if !self.entries.contains_key(&ip) && self.entries.len() >= config.max_entries {
            self.collect_one();
        }
        let entry = self
            .entries
            .entry(ip)
            .or_insert_with(|| Entry::new(NeighbourState::Failed, None));
        // `usable` took every state with a MAC: this one is INCOMPLETE (resolving) or FAILED
        // (start again).
        if entry.state == NeighbourState::Failed {
            entry.state = NeighbourState::Incomplete;
            entry.mac = None;
            entry.probes = 1;
            entry.deadline = Some(now + config.retrans_ns);
            actions.push(Action::Request {
                target: ip,
                unicast: None,
            });
        }
        let mut dropped = false;
        entry.queued_bytes += packet.len();
        entry.queue.push_back((packet.to_vec(), segment_size));
        while entry.queued_bytes > config.queue_bytes && entry.queue.len() > 1 {
            let (old, _) = entry.queue.pop_front().expect("more than one queued");
            entry.queued_bytes -= old.len();
            dropped = true;
        }
        if dropped {
            Resolution::QueuedDroppingOldest
        } else {
            Resolution::Queued
        }
    }

    /// What an ARP packet from `ip` at `mac` says of it (RFC 826's merge, Linux's `arp_process`):
    /// a reply addressed to us confirms it (REACHABLE); a request for one of our addresses creates
    /// or refreshes it (STALE, to be confirmed on use); anything else only updates an entry we
    /// already have whose address changed.
    pub fn learn(
        &mut self,
        now: Instant,
        ip: Ipv4Address,
        mac: EthernetAddress,
        reply_to_us: bool,
        request_for_us: bool,
        actions: &mut Vec<Action>,
    ) {
        let config = self.config;
        let exists = self.entries.contains_key(&ip);
        if !exists && !request_for_us && !reply_to_us {
            return;
        }
        if !exists && self.entries.len() >= config.max_entries {
            self.collect_one();
        }
        let entry = self
            .entries
            .entry(ip)
            .or_insert_with(|| Entry::new(NeighbourState::Failed, None));
        if entry.state == NeighbourState::Permanent {
            return;
        }
        let changed = entry.mac != Some(mac);
        if reply_to_us {
            entry.state = NeighbourState::Reachable;
            entry.deadline = Some(now + config.reachable_ns);
        } else if changed
            || matches!(
                entry.state,
                NeighbourState::Incomplete | NeighbourState::Failed
            )
        {
            entry.state = NeighbourState::Stale;
            entry.deadline = Some(now + config.gc_stale_ns);
        } else {
            return;
        }
        entry.mac = Some(mac);
        entry.probes = 0;
        if !entry.queue.is_empty() {
            entry.queued_bytes = 0;
            actions.push(Action::Flush {
                mac,
                packets: entry.queue.drain(..).collect(),
            });
        }
    }

    /// Runs the timers due at `now`.
    pub fn poll(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let config = self.config;
        let mut dead = Vec::new();
        for (&ip, entry) in self.entries.iter_mut() {
            if entry.deadline.is_none_or(|d| d > now) {
                continue;
            }
            match entry.state {
                NeighbourState::Incomplete | NeighbourState::Probe => {
                    // INCOMPLETE asks by broadcast, PROBE by unicast to the cached address.
                    let (limit, unicast) = if entry.state == NeighbourState::Incomplete {
                        (config.mcast_probes, None)
                    } else {
                        (config.ucast_probes, entry.mac)
                    };
                    if entry.probes < limit {
                        entry.probes += 1;
                        entry.deadline = Some(now + config.retrans_ns);
                        actions.push(Action::Request {
                            target: ip,
                            unicast,
                        });
                    } else {
                        entry.state = NeighbourState::Failed;
                        entry.mac = None;
                        entry.deadline = Some(now + config.failed_linger_ns);
                        entry.queued_bytes = 0;
                        if !entry.queue.is_empty() {
                            actions.push(Action::Unresolved(entry.queue.drain(..).collect()));
                        }
                    }
                }
                NeighbourState::Reachable => {
                    entry.state = NeighbourState::Stale;
                    entry.deadline = Some(now + config.gc_stale_ns);
                }
                NeighbourState::Delay => {
                    entry.state = NeighbourState::Probe;
                    entry.probes = 1;
                    entry.deadline = Some(now + config.retrans_ns);
                    actions.push(Action::Request {
                        target: ip,
                        unicast: entry.mac,
                    });
                }
                NeighbourState::Stale | NeighbourState::Failed => dead.push(ip),
                NeighbourState::Permanent => entry.deadline = None,
            }
        }
        for ip in dead {
            self.entries.remove(&ip);
        }
    }

    /// The earliest timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.deadline).min()
    }

    /// Makes room: drops a FAILED or STALE entry (the oldest-expiring), never a busy one.
    fn collect_one(&mut self) {
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| {
                matches!(e.state, NeighbourState::Failed | NeighbourState::Stale)
                    && e.queue.is_empty()
            })
            .min_by_key(|(_, e)| e.deadline)
            .map(|(ip, _)| *ip);
        if let Some(ip) = victim {
            self.entries.remove(&ip);
        }
    }
}
