//! The link layer, sans-IO: Ethernet II framing with an optional 802.1Q tag, and ARP (RFC 826).
//!
//! The receive filter passes our unicast address, broadcast and the multicast groups joined;
//! IPv4 goes up, ARP is handled here, everything else is dropped and counted. ARP answers
//! requests for our addresses, announces each address when configured (gratuitous ARP), and
//! resolves next hops through the [`neighbour`] table with Linux's states and timers; packets
//! wait in a bounded queue while their next hop resolves, and come back as `unresolved` when it
//! fails (ipv4 then answers with ICMP host unreachable).
//!
//! No clock, RNG or I/O: `now` comes in, frames go out in an [`Output`].

use netstack_wire::batch::push_segment_size;
use std::collections::BTreeSet;

use netstack_wire::arp::ETHERNET_IPV4_LEN;
use netstack_wire::{
    ArpOperation, ArpPacket, ArpRepr, Batch, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, Ipv4Address, Ipv4Cidr, VlanTag,
};

#[cfg(target_arch = "wasm32")]
mod component;

// The component's heap: free lists of small blocks by size class (netstack-alloc).
#[cfg(target_arch = "wasm32")]
use netstack_alloc as _;
pub mod neighbour;

pub use neighbour::{Action, NeighbourConfig, NeighbourState, NeighbourTable, Resolution};

/// A monotonic instant in nanoseconds, from the host.
pub type Instant = u64;

/// The interface configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our MAC address.
    pub mac: EthernetAddress,
    /// The largest IPv4 packet the link carries.
    pub mtu: u32,
    /// Addresses we answer ARP for.
    pub addresses: Vec<Ipv4Cidr>,
    /// The VLAN we are on, if tagged.
    pub vlan: Option<u16>,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The MAC is a group address; an interface's address must be unicast.
    MulticastMac,
    /// The MTU is below IPv4's 68-byte minimum (RFC 791) or above a 9000-byte jumbo frame.
    Mtu,
    /// The VLAN ID is 0 or 4095 (reserved by 802.1Q) or above.
    Vlan,
    /// A multicast group to join or leave is not a group address, or was not joined.
    Group,
}

impl Config {
    fn check(&self) -> Result<(), ConfigError> {
        if self.mac.is_multicast() {
            return Err(ConfigError::MulticastMac);
        }
        if !(68..=9000).contains(&self.mtu) {
            return Err(ConfigError::Mtu);
        }
        if matches!(self.vlan, Some(v) if v == 0 || v >= 4095) {
            return Err(ConfigError::Vlan);
        }
        Ok(())
    }
}

/// What one call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// IPv4 packets for the network layer.
    pub to_ipv4: Batch,
    /// Their GRO segment sizes: empty, or one per packet (see [`netstack_wire::batch`]).
    pub to_ipv4_segment_sizes: Vec<u16>,
    /// Frames for the NIC.
    pub to_wire: Batch,
    /// Their GSO segment sizes: empty, or one per frame.
    pub to_wire_segment_sizes: Vec<u16>,
    /// IPv4 packets whose next hop failed to resolve.
    pub unresolved: Batch,
    /// When to poll next.
    pub deadline: Option<Instant>,
}

netstack_wire::counters! {
    /// The layer's counters.
    pub struct Counters {
        /// Frames received.
        rx_frames => "rx-frames",
        /// Frames dropped: shorter than a header.
        rx_drop_truncated => "rx-drop-truncated",
        /// Frames dropped: not for our address, broadcast, or a group we joined.
        rx_drop_other_host => "rx-drop-other-host",
        /// Frames dropped: tagged for another VLAN, or untagged on a tagged interface.
        rx_drop_vlan => "rx-drop-vlan",
        /// Frames dropped: an EtherType we do not speak.
        rx_drop_unknown_ethertype => "rx-drop-unknown-ethertype",
        /// IPv4 packets passed up.
        rx_ipv4 => "rx-ipv4",
        /// ARP packets received.
        rx_arp => "rx-arp",
        /// ARP packets dropped: truncated, or not Ethernet/IPv4.
        rx_arp_drop_malformed => "rx-arp-drop-malformed",
        /// ARP requests answered.
        arp_replies_sent => "arp-replies-sent",
        /// ARP requests sent (resolution, probes and announcements).
        arp_requests_sent => "arp-requests-sent",
        /// IPv4 packets queued while their next hop resolved.
        tx_queued_unresolved => "tx-queued-unresolved",
        /// Queued packets dropped because the queue was full (Linux's `unresolved_discards`).
        unresolved_discards => "unresolved-discards",
        /// Queued packets handed back because resolution failed.
        tx_unresolved => "tx-unresolved",
        /// IPv4 packets framed and sent.
        tx_ipv4 => "tx-ipv4",
        /// IPv4 packets dropped: larger than the MTU.
        tx_drop_too_big => "tx-drop-too-big",
    }
}

/// The Ethernet address an IPv4 multicast group maps to: 01:00:5e and the group's low 23 bits
/// (RFC 1112 §6.4).
pub fn multicast_mac(group: Ipv4Address) -> EthernetAddress {
    let o = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

/// The link layer of one interface.
#[derive(Debug)]
pub struct EthernetArp {
    config: Config,
    neighbours: NeighbourTable,
    actions: Vec<Action>,
    /// Output of calls that return none (static neighbour changes), sent with the next call's.
    deferred: Output,
    multicast: BTreeSet<EthernetAddress>,
    counters: Counters,
}

impl EthernetArp {
    /// A layer with `config`; call [`Self::announce`] to send its gratuitous ARPs.
    pub fn new(config: Config) -> Result<EthernetArp, ConfigError> {
        config.check()?;
        Ok(EthernetArp {
            config,
            neighbours: NeighbourTable::new(NeighbourConfig::default()),
            actions: Vec::new(),
            deferred: Output::default(),
            multicast: BTreeSet::new(),
            counters: Counters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the configuration and announces every address with a gratuitous ARP request
    /// (sender and target address both ours, RFC 5227 §3's announcement).
    pub fn configure(
        &mut self,
        _now: Instant,
        config: Config,
        out: &mut Output,
    ) -> Result<(), ConfigError> {
        config.check()?;
        self.config = config;
        self.announce(out);
        Ok(())
    }

    /// Sends a gratuitous ARP for every configured address.
    pub fn announce(&mut self, out: &mut Output) {
        for i in 0..self.config.addresses.len() {
            let ours = self.config.addresses[i].address();
            self.emit_arp(
                out,
                ArpOperation::Request,
                EthernetAddress::BROADCAST,
                EthernetAddress([0; 6]),
                ours,
                ours,
            );
        }
    }

    /// Handles received frames (Ethernet header included, FCS stripped).
    pub fn receive<'a>(
        &mut self,
        now: Instant,
        frames: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Output,
    ) {
        self.receive_offloaded(now, frames.into_iter().map(|f| (f, 0)), out);
    }

    /// Handles received frames with their GRO segment sizes (0: none), which go up with the
    /// IPv4 packets.
    pub fn receive_offloaded<'a>(
        &mut self,
        now: Instant,
        frames: impl IntoIterator<Item = (&'a [u8], u16)>,
        out: &mut Output,
    ) {
        self.take_deferred(out);
        for (frame, segment_size) in frames {
            self.counters.rx_frames += 1;
            let Ok(frame) = EthernetFrame::new_checked(frame) else {
                self.counters.rx_drop_truncated += 1;
                continue;
            };
            let dst = frame.dst_addr();
            if !self.receives(dst) {
                self.counters.rx_drop_other_host += 1;
                continue;
            }
            if frame.vlan().map(|t| t.vid) != self.config.vlan {
                self.counters.rx_drop_vlan += 1;
                continue;
            }
            match frame.ethertype() {
                EtherType::Ipv4 => {
                    self.counters.rx_ipv4 += 1;
                    out.to_ipv4.push(frame.payload());
                    let index = out.to_ipv4.len() - 1;
                    push_segment_size(&mut out.to_ipv4_segment_sizes, index, segment_size);
                }
                EtherType::Arp => self.receive_arp(now, frame.payload(), out),
                _ => self.counters.rx_drop_unknown_ethertype += 1,
            }
        }
        out.deadline = self.neighbours.next_deadline();
    }

    /// The receive fast path: for each frame, given its first bytes (`head`) and its whole
    /// length, where its IPv4 packet lies, or `None` when the frame must go through
    /// [`Self::receive_offloaded`] whole (ARP, frames for others, anything short or unusual).
    /// What it passes is counted here exactly as `receive_offloaded` would count it; what it
    /// does not pass is left for that call to count.
    pub fn classify<'a>(
        &mut self,
        frames: impl IntoIterator<Item = (&'a [u8], usize)>,
    ) -> Vec<Option<(usize, usize)>> {
        frames
            .into_iter()
            .map(|(head, len)| {
                let frame = EthernetFrame::new_checked(head).ok()?;
                let hlen = frame.header_len();
                let dst = frame.dst_addr();
                let ipv4 = frame.ethertype() == EtherType::Ipv4
                    && frame.vlan().map(|t| t.vid) == self.config.vlan;
                if !self.receives(dst) || !ipv4 || len < hlen {
                    return None;
                }
                self.counters.rx_frames += 1;
                self.counters.rx_ipv4 += 1;
                Some((hlen, len - hlen))
            })
            .collect()
    }

    /// The receive filter: our unicast address, broadcast, or a group we joined.
    fn receives(&self, dst: EthernetAddress) -> bool {
        dst == self.config.mac || dst.is_broadcast() || self.multicast.contains(&dst)
    }

    fn is_ours(&self, addr: Ipv4Address) -> bool {
        self.config.addresses.iter().any(|c| c.address() == addr)
    }

    /// RFC 826, "Packet Reception": update the sender's entry if we have one; if we are the
    /// target, add it; answer requests for our addresses.
    fn receive_arp(&mut self, now: Instant, payload: &[u8], out: &mut Output) {
        self.counters.rx_arp += 1;
        let Ok(repr) = ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) else {
            self.counters.rx_arp_drop_malformed += 1;
            return;
        };
        let sender = repr.source_protocol_addr;
        let for_us = self.is_ours(repr.target_protocol_addr);
        // Never learn a group address or 0.0.0.0 (RFC 5227's probes carry it).
        if repr.source_hardware_addr.is_unicast()
            && !sender.is_unspecified()
            && !self.is_ours(sender)
        {
            let reply_to_us = for_us && repr.operation == ArpOperation::Reply;
            let request_for_us = for_us && repr.operation == ArpOperation::Request;
            let mut actions = std::mem::take(&mut self.actions);
            self.neighbours.learn(
                now,
                sender,
                repr.source_hardware_addr,
                reply_to_us,
                request_for_us,
                &mut actions,
            );
            self.run_actions(&mut actions, out);
            self.actions = actions;
        }
        if for_us && repr.operation == ArpOperation::Request {
            self.emit_arp(
                out,
                ArpOperation::Reply,
                repr.source_hardware_addr,
                repr.source_hardware_addr,
                repr.target_protocol_addr,
                sender,
            );
            self.counters.arp_replies_sent += 1;
        }
    }

    fn emit_arp(
        &mut self,
        out: &mut Output,
        operation: ArpOperation,
        dst: EthernetAddress,
        target_mac: EthernetAddress,
        source_ip: Ipv4Address,
        target_ip: Ipv4Address,
    ) {
        let eth = self.ethernet_repr(dst, EtherType::Arp);
        let arp = ArpRepr {
            operation,
            source_hardware_addr: self.config.mac,
            source_protocol_addr: source_ip,
            target_hardware_addr: target_mac,
            target_protocol_addr: target_ip,
        };
        out.to_wire
            .push_with(eth.buffer_len() + ETHERNET_IPV4_LEN, |b| {
                let mut f = EthernetFrame::new_unchecked(b);
                eth.emit(&mut f);
                arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
            });
    }

    fn ethernet_repr(&self, dst: EthernetAddress, ethertype: EtherType) -> EthernetRepr {
        EthernetRepr {
            src_addr: self.config.mac,
            dst_addr: dst,
            vlan: self.config.vlan.map(|vid| VlanTag {
                pcp: 0,
                dei: false,
                vid,
            }),
            ethertype,
        }
    }

    /// Frames IPv4 packets towards their next hops, resolving each with ARP first when needed
    /// (the packet then waits in the neighbour's queue).
    pub fn send<'a>(
        &mut self,
        now: Instant,
        packets: impl IntoIterator<Item = (&'a [u8], Ipv4Address)>,
        out: &mut Output,
    ) {
        self.send_offloaded(now, packets.into_iter().map(|(p, h)| (p, h, 0)), out);
    }

    /// [`Self::send`] for packets with their GSO segment sizes (0: an ordinary packet). A
    /// super-segment may exceed the MTU: the host cuts it into frames that fit.
    pub fn send_offloaded<'a>(
        &mut self,
        now: Instant,
        packets: impl IntoIterator<Item = (&'a [u8], Ipv4Address, u16)>,
        out: &mut Output,
    ) {
        self.take_deferred(out);
        let mut actions = std::mem::take(&mut self.actions);
        for (packet, next_hop, segment_size) in packets {
            if segment_size == 0 && packet.len() > self.config.mtu as usize {
                self.counters.tx_drop_too_big += 1;
                continue;
            }
            let dst = if let Some(dst) = self.destination(now, next_hop) {
                dst
            } else {
                match (self.neighbours).resolve(now, next_hop, packet, segment_size, &mut actions) {
                    Resolution::Ready(mac) => mac,
                    Resolution::Queued => {
                        self.counters.tx_queued_unresolved += 1;
                        continue;
                    }
                    Resolution::QueuedDroppingOldest => {
                        self.counters.tx_queued_unresolved += 1;
                        self.counters.unresolved_discards += 1;
                        continue;
                    }
                }
            };
            self.frame_ipv4(dst, packet, segment_size, out);
        }
        self.run_actions(&mut actions, out);
        self.actions = actions;
        out.deadline = self.neighbours.next_deadline();
    }

    /// The send fast path: for each IPv4 packet (next hop, length, GSO segment size), the
    /// Ethernet header to put in front of it when it can leave now (a broadcast, a multicast,
    /// or a neighbour with a usable address), counted as [`Self::send_offloaded`] counts it.
    /// `None` leaves the packet to `send_offloaded` (to resolve with ARP and queue meanwhile,
    /// or too big: counted there). [`Self::deadline`] tells when to `poll` afterwards (a STALE
    /// neighbour used here moves to DELAY and wants its timer).
    pub fn frame_headers(
        &mut self,
        now: Instant,
        packets: impl IntoIterator<Item = (Ipv4Address, usize, u16)>,
    ) -> Vec<Option<EthernetRepr>> {
        packets
            .into_iter()
            .map(|(next_hop, len, segment_size)| {
                if segment_size == 0 && len > self.config.mtu as usize {
                    return None;
                }
                let dst = self.destination(now, next_hop)?;
                self.counters.tx_ipv4 += 1;
                Some(self.ethernet_repr(dst, EtherType::Ipv4))
            })
            .collect()
    }

    /// When the neighbour table's next timer is due, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.neighbours.next_deadline()
    }

    /// The MAC address to frame a packet for `next_hop` with, when it needs no resolving:
    /// broadcast (limited, or one of our subnets'), an IPv4 group's (RFC 1112 §6.4), or a
    /// neighbour's usable address.
    fn destination(&mut self, now: Instant, next_hop: Ipv4Address) -> Option<EthernetAddress> {
        let is_broadcast = next_hop.is_broadcast()
            || self
                .config
                .addresses
                .iter()
                .any(|c| c.broadcast() == next_hop);
        if is_broadcast {
            Some(EthernetAddress::BROADCAST)
        } else if next_hop.is_multicast() {
            Some(multicast_mac(next_hop))
        } else {
            self.neighbours.usable(now, next_hop)
        }
    }

    fn frame_ipv4(&mut self, dst: EthernetAddress, packet: &[u8], gso: u16, out: &mut Output) {
        let eth = self.ethernet_repr(dst, EtherType::Ipv4);
        out.to_wire.push_framed(eth.buffer_len(), packet, |b| {
            eth.emit(&mut EthernetFrame::new_unchecked(b));
        });
        push_segment_size(&mut out.to_wire_segment_sizes, out.to_wire.len() - 1, gso);
        self.counters.tx_ipv4 += 1;
    }

    /// Carries out what the neighbour table asked for.
    fn run_actions(&mut self, actions: &mut Vec<Action>, out: &mut Output) {
        for action in actions.drain(..) {
            match action {
                Action::Request { target, unicast } => {
                    // RFC 826's request carries our address on the target's network.
                    let Some(source) = self.source_for(target) else {
                        continue;
                    };
                    let dst = unicast.unwrap_or(EthernetAddress::BROADCAST);
                    self.emit_arp(
                        out,
                        ArpOperation::Request,
                        dst,
                        EthernetAddress([0; 6]),
                        source,
                        target,
                    );
                    self.counters.arp_requests_sent += 1;
                }
                Action::Flush { mac, packets } => {
                    for (p, gso) in &packets {
                        self.frame_ipv4(mac, p, *gso, out);
                    }
                }
                Action::Unresolved(packets) => {
                    self.counters.tx_unresolved += packets.len() as u64;
                    for (p, _) in &packets {
                        out.unresolved.push(p);
                    }
                }
            }
        }
    }

    /// Our address on the next hop's network (the sender address of an ARP request for it).
    fn source_for(&self, next_hop: Ipv4Address) -> Option<Ipv4Address> {
        self.config
            .addresses
            .iter()
            .find(|c| c.contains(next_hop))
            .map(|c| c.address())
    }

    /// Runs the neighbour timers due at `now` (retransmissions, probes, expiry).
    pub fn poll(&mut self, now: Instant, out: &mut Output) {
        self.take_deferred(out);
        let mut actions = std::mem::take(&mut self.actions);
        self.neighbours.poll(now, &mut actions);
        self.run_actions(&mut actions, out);
        self.actions = actions;
        out.deadline = self.neighbours.next_deadline();
    }

    /// The neighbour table.
    pub fn neighbours(&self) -> &NeighbourTable {
        &self.neighbours
    }

    /// Adds a permanent entry (replacing a learnt one). Packets that were waiting for it go
    /// out with the next call's output.
    pub fn add_static_neighbour(
        &mut self,
        address: Ipv4Address,
        mac: EthernetAddress,
    ) -> Result<(), ConfigError> {
        if mac.is_multicast() {
            return Err(ConfigError::MulticastMac);
        }
        let mut actions = std::mem::take(&mut self.actions);
        self.neighbours.add_static(address, mac, &mut actions);
        let mut deferred = std::mem::take(&mut self.deferred);
        self.run_actions(&mut actions, &mut deferred);
        self.deferred = deferred;
        self.actions = actions;
        Ok(())
    }

    /// Removes an entry; returns whether there was one. Packets that were waiting for it come
    /// back unresolved with the next call's output.
    pub fn remove_neighbour(&mut self, address: Ipv4Address) -> bool {
        let mut actions = std::mem::take(&mut self.actions);
        let found = self.neighbours.remove(address, &mut actions);
        let mut deferred = std::mem::take(&mut self.deferred);
        self.run_actions(&mut actions, &mut deferred);
        self.deferred = deferred;
        self.actions = actions;
        found
    }

    /// Moves what calls without an output produced into `out`.
    fn take_deferred(&mut self, out: &mut Output) {
        if !self.deferred.to_wire.is_empty() || !self.deferred.unresolved.is_empty() {
            out.to_wire.append(&self.deferred.to_wire);
            out.unresolved.append(&self.deferred.unresolved);
            self.deferred.to_wire.clear();
            self.deferred.unresolved.clear();
        }
    }

    /// Accepts frames to `group` from now on.
    pub fn join_multicast(&mut self, group: EthernetAddress) -> Result<(), ConfigError> {
        if !group.is_multicast() || group.is_broadcast() {
            return Err(ConfigError::Group);
        }
        self.multicast.insert(group);
        Ok(())
    }

    /// Stops accepting frames to `group`.
    pub fn leave_multicast(&mut self, group: EthernetAddress) -> Result<(), ConfigError> {
        self.multicast
            .remove(&group)
            .then_some(())
            .ok_or(ConfigError::Group)
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

#[cfg(test)]
mod tests;
