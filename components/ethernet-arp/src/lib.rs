//! The link layer, sans-IO: Ethernet II framing with an optional 802.1Q tag, and ARP (RFC 826).
//!
//! Built so far: the receive filter (our unicast address, broadcast, joined multicast groups), demultiplexing to IPv4 and
//! ARP with everything else dropped and counted, ARP replies for our addresses, learning senders'
//! addresses (RFC 826's merge rule), static neighbours, gratuitous ARP when an address is
//! configured, and framing of IPv4 packets towards resolved next hops. The neighbour state machine
//! with its timers and pending queues (INCOMPLETE → REACHABLE → STALE → DELAY → PROBE → FAILED)
//! comes with the Ethernet/ARP issue; until then a packet towards an unresolved next hop triggers
//! an ARP request and is dropped (`tx-drop-unresolved`).
//!
//! No clock, RNG or I/O: `now` comes in, frames go out in an [`Output`].

use std::collections::{BTreeMap, BTreeSet};

use netstack_wire::arp::ETHERNET_IPV4_LEN;
use netstack_wire::ethernet::{HEADER_LEN, VLAN_HEADER_LEN};
use netstack_wire::{
    ArpOperation, ArpPacket, ArpRepr, Batch, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, Ipv4Address, Ipv4Cidr, VlanTag,
};

#[cfg(target_arch = "wasm32")]
mod component;

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
    /// Frames for the NIC.
    pub to_wire: Batch,
    /// IPv4 packets whose next hop failed to resolve.
    pub unresolved: Batch,
    /// When to poll next.
    pub deadline: Option<Instant>,
}

/// How a neighbour entry came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourState {
    /// Learnt from ARP traffic.
    Reachable,
    /// Configured.
    Permanent,
}

impl NeighbourState {
    /// Linux's name for the state, as `ip neigh` prints it.
    pub fn name(self) -> &'static str {
        match self {
            NeighbourState::Reachable => "REACHABLE",
            NeighbourState::Permanent => "PERMANENT",
        }
    }
}

/// One neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// Its MAC address.
    pub mac: EthernetAddress,
    /// How we know it.
    pub state: NeighbourState,
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
        /// ARP requests sent.
        arp_requests_sent => "arp-requests-sent",
        /// IPv4 packets framed and sent.
        tx_ipv4 => "tx-ipv4",
        /// IPv4 packets dropped: next hop unresolved.
        tx_drop_unresolved => "tx-drop-unresolved",
        /// IPv4 packets dropped: larger than the MTU.
        tx_drop_too_big => "tx-drop-too-big",
    }
}

/// The link layer of one interface.
#[derive(Debug)]
pub struct EthernetArp {
    config: Config,
    neighbours: BTreeMap<Ipv4Address, Neighbour>,
    multicast: BTreeSet<EthernetAddress>,
    counters: Counters,
}

impl EthernetArp {
    /// A layer with `config`; call [`Self::announce`] to send its gratuitous ARPs.
    pub fn new(config: Config) -> Result<EthernetArp, ConfigError> {
        config.check()?;
        Ok(EthernetArp {
            config,
            neighbours: BTreeMap::new(),
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
        _now: Instant,
        frames: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Output,
    ) {
        for frame in frames {
            self.counters.rx_frames += 1;
            let Ok(frame) = EthernetFrame::new_checked(frame) else {
                self.counters.rx_drop_truncated += 1;
                continue;
            };
            let dst = frame.dst_addr();
            if dst != self.config.mac && !dst.is_broadcast() && !self.multicast.contains(&dst) {
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
                }
                EtherType::Arp => self.receive_arp(frame.payload(), out),
                _ => self.counters.rx_drop_unknown_ethertype += 1,
            }
        }
    }

    fn is_ours(&self, addr: Ipv4Address) -> bool {
        self.config.addresses.iter().any(|c| c.address() == addr)
    }

    /// RFC 826, "Packet Reception": update the sender's entry if we have one; if we are the
    /// target, add it; answer requests for our addresses.
    fn receive_arp(&mut self, payload: &[u8], out: &mut Output) {
        self.counters.rx_arp += 1;
        let Ok(repr) = ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) else {
            self.counters.rx_arp_drop_malformed += 1;
            return;
        };
        let sender = repr.source_protocol_addr;
        let for_us = self.is_ours(repr.target_protocol_addr);
        let learnable = repr.source_hardware_addr.is_unicast() && !sender.is_unspecified();
        if learnable {
            match self.neighbours.get_mut(&sender) {
                Some(n) if n.state != NeighbourState::Permanent => {
                    n.mac = repr.source_hardware_addr
                }
                Some(_) => {}
                None if for_us => {
                    self.neighbours.insert(
                        sender,
                        Neighbour {
                            mac: repr.source_hardware_addr,
                            state: NeighbourState::Reachable,
                        },
                    );
                }
                None => {}
            }
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

    /// Frames IPv4 packets towards their next hops. A packet to a next hop we have no address
    /// for causes an ARP request and is dropped (see the module docs).
    pub fn send<'a>(
        &mut self,
        _now: Instant,
        packets: impl IntoIterator<Item = (&'a [u8], Ipv4Address)>,
        out: &mut Output,
    ) {
        for (packet, next_hop) in packets {
            if packet.len() > self.config.mtu as usize {
                self.counters.tx_drop_too_big += 1;
                continue;
            }
            let dst = if next_hop.is_broadcast()
                || self
                    .config
                    .addresses
                    .iter()
                    .any(|c| c.broadcast() == next_hop)
            {
                EthernetAddress::BROADCAST
            } else if let Some(n) = self.neighbours.get(&next_hop) {
                n.mac
            } else {
                self.counters.tx_drop_unresolved += 1;
                if let Some(source) = self.source_for(next_hop) {
                    self.emit_arp(
                        out,
                        ArpOperation::Request,
                        EthernetAddress::BROADCAST,
                        EthernetAddress([0; 6]),
                        source,
                        next_hop,
                    );
                    self.counters.arp_requests_sent += 1;
                }
                continue;
            };
            let eth = self.ethernet_repr(dst, EtherType::Ipv4);
            let hlen = if eth.vlan.is_some() {
                VLAN_HEADER_LEN
            } else {
                HEADER_LEN
            };
            out.to_wire.push_with(hlen + packet.len(), |b| {
                let mut f = EthernetFrame::new_unchecked(b);
                eth.emit(&mut f);
                f.payload_mut().copy_from_slice(packet);
            });
            self.counters.tx_ipv4 += 1;
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

    /// Runs timers. None yet: learnt entries do not age until the neighbour state machine lands.
    pub fn poll(&mut self, _now: Instant, _out: &mut Output) {}

    /// The neighbour table, by address.
    pub fn neighbours(&self) -> impl Iterator<Item = (Ipv4Address, &Neighbour)> {
        self.neighbours.iter().map(|(a, n)| (*a, n))
    }

    /// Adds a permanent entry (replacing a learnt one).
    pub fn add_static_neighbour(
        &mut self,
        address: Ipv4Address,
        mac: EthernetAddress,
    ) -> Result<(), ConfigError> {
        if mac.is_multicast() {
            return Err(ConfigError::MulticastMac);
        }
        self.neighbours.insert(
            address,
            Neighbour {
                mac,
                state: NeighbourState::Permanent,
            },
        );
        Ok(())
    }

    /// Removes an entry; returns whether there was one.
    pub fn remove_neighbour(&mut self, address: Ipv4Address) -> bool {
        self.neighbours.remove(&address).is_some()
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
