//! One instance of every protocol layer, configured as one host on a network, and the router
//! that moves packets between them (DESIGN.md §3.2: components export, the host routes).
//!
//! Each component lives in a store of its own, so that a layer can be swapped or restarted
//! without touching the others (DESIGN.md §7). A batch of frames from the NIC goes up with one
//! call per layer; whatever a layer returns is queued for the layer it is for, merged with
//! anything else bound there, and handed on with one call again, until nothing is left but
//! frames for the wire. Each layer's next deadline is kept, and [`Stack::poll`] runs the layers
//! whose time has come.
//!
//! The data path takes fast lanes through link and ipv4 where their headers suffice
//! (docs/zero-copy.md): `stack/receive.rs` for frames going up, `stack/send.rs` for payloads
//! going down.

mod held;
mod receive;
mod ring;
mod send;

use std::fmt;
use std::time::Duration;

use netstack_wire::tuple::{ipv4_from, ipv4_to, mac_to};
use netstack_wire::{Batch, EthernetAddress, Ipv4Address, Ipv4Cidr};
use wasmtime::Store;
use wasmtime::error::Context as _;
use wasmtime::{Result, format_err};

use crate::bindings::{ethernet_arp, ipv4, tcp, udp};
use crate::components::{self, ComponentState};
use ipv4::exports::netstack::stack::ipv4::PacketClass as Ipv4Class;
use ipv4::exports::netstack::stack::types as ip_t;
pub use tcp::exports::netstack::stack::tcp::Readiness as TcpReadiness;
use tcp::exports::netstack::stack::tcp::{HeldPayload, Released};
use tcp::exports::netstack::stack::types as tcp_t;

/// How the host sits on its network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackConfig {
    /// Our address and prefix (`10.0.2.15/24`).
    pub address: Ipv4Cidr,
    /// The default gateway, if any.
    pub gateway: Option<Ipv4Address>,
    /// The NIC's MAC address.
    pub mac: EthernetAddress,
    /// The link MTU.
    pub mtu: u32,
    /// Segmentation offloads: TCP sends super-segments that the host cuts (GSO), and the NAPI
    /// loop merges what it receives (GRO) and passes the NIC's checksum verdict up.
    pub offload: bool,
}

impl Default for StackConfig {
    /// QEMU's user-mode network: we are 10.0.2.15/24 behind the gateway 10.0.2.2, with QEMU's
    /// default guest MAC 52:54:00:12:34:56.
    fn default() -> Self {
        StackConfig {
            address: Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24)
                .expect("24 is a valid prefix"),
            gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
            mac: EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            mtu: 1500,
            offload: true,
        }
    }
}

/// A component's instance and its store.
struct Layer<T> {
    store: Store<ComponentState>,
    bindings: T,
}

/// What loading one component cost.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The component's name.
    pub name: &'static str,
    /// The `.wasm` size.
    pub wasm_bytes: u64,
    /// Compile time.
    pub compile_time: Duration,
}

/// Work bound for each layer, in ipv4's copy of the WIT types (converted on the way in).
#[derive(Default)]
struct Pending {
    link_rx: Option<Sized>,
    link_tx: Option<ip_t::Outbound>,
    ip_rx: Option<Sized>,
    ip_tx: Option<ip_t::TransportBatch>,
    /// The payloads of `ip_tx` that go on with bytes the host holds (TCP's spans, by index).
    ip_tx_held: Vec<HeldPayload>,
    /// Held bytes TCP no longer needs: dropped once the pending spans are sent.
    held_released: Vec<Released>,
    ip_undeliverable: Option<ip_t::Batch>,
    ip_port_unreachable: Option<ip_t::TransportBatch>,
    tcp_rx: Option<ip_t::TransportBatch>,
    /// The frames received in this turn, kept for the TCP segments that are still in them:
    /// (metadata, start, length) in `frames`; TCP gets them before `tcp_rx`.
    frames: Vec<u8>,
    tcp_rx_in_frames: Vec<(ip_t::DatagramInfo, usize, usize)>,
    tcp_icmp: Vec<ip_t::IcmpError>,
    udp_rx: Option<ip_t::TransportBatch>,
    udp_icmp: Vec<ip_t::IcmpError>,
}

/// A transport batch with nothing in it.
fn empty_transport() -> ip_t::TransportBatch {
    ip_t::TransportBatch {
        info: Vec::new(),
        payloads: ip_t::Batch {
            bytes: Vec::new(),
            lengths: Vec::new(),
        },
    }
}

/// A batch with its GSO/GRO segment sizes (empty, or one per packet).
struct Sized {
    batch: ip_t::Batch,
    sizes: Vec<u16>,
}

impl Sized {
    fn empty() -> Sized {
        Sized {
            batch: ip_t::Batch {
                bytes: Vec::new(),
                lengths: Vec::new(),
            },
            sizes: Vec::new(),
        }
    }

    /// Appends a copy of `packet` with its segment `size`; `all` is the list it came with (the
    /// sizes stay empty when that was).
    fn push(&mut self, packet: &[u8], size: u16, all: &[u16]) {
        self.batch.bytes.extend_from_slice(packet);
        self.batch.lengths.push(packet.len() as u32);
        if !all.is_empty() {
            self.sizes.push(size);
        }
    }
}

/// Whether the lengths of `batch` add up to its bytes (a layer's output is checked before the
/// host slices it; the layer it goes to counts a bad one).
fn adds_up(batch: &ip_t::Batch) -> bool {
    batch.lengths.iter().map(|&n| n as usize).sum::<usize>() == batch.bytes.len()
}

/// Where each packet of a batch with these `lengths` lies: (start, length).
fn spans_of(lengths: &[u32]) -> Vec<(usize, usize)> {
    let mut at = 0;
    lengths
        .iter()
        .map(|&len| {
            let span = (at, len as usize);
            at += len as usize;
            span
        })
        .collect()
}

/// Appends `b` (with `sizes`) to `into`, keeping the sizes empty or one per packet.
fn merge_sized(into: &mut Option<Sized>, b: ip_t::Batch, sizes: Vec<u16>) {
    if b.lengths.is_empty() {
        return;
    }
    match into {
        Some(a) => {
            append_sizes(&mut a.sizes, a.batch.lengths.len(), sizes, b.lengths.len());
            a.batch.bytes.extend_from_slice(&b.bytes);
            a.batch.lengths.extend_from_slice(&b.lengths);
        }
        None => {
            let sizes = netstack_wire::batch::sizes_for(sizes, b.lengths.len());
            *into = Some(Sized { batch: b, sizes })
        }
    }
}

/// Appends the sizes of `theirs` packets to those of `ours` packets; both are all or nothing,
/// so the side that had none is padded with zeros.
fn append_sizes(sizes: &mut Vec<u16>, ours: usize, mut more: Vec<u16>, theirs: usize) {
    if !sizes.is_empty() || !more.is_empty() {
        sizes.resize(ours, 0);
        more.resize(theirs, 0);
        sizes.extend(more);
    }
}

fn merge_batch(into: &mut Option<ip_t::Batch>, b: ip_t::Batch) {
    if b.lengths.is_empty() {
        return;
    }
    match into {
        Some(a) => {
            a.bytes.extend_from_slice(&b.bytes);
            a.lengths.extend_from_slice(&b.lengths);
        }
        None => *into = Some(b),
    }
}

fn merge_transport(into: &mut Option<ip_t::TransportBatch>, b: ip_t::TransportBatch) {
    if b.info.is_empty() {
        return;
    }
    match into {
        Some(a) => {
            a.info.extend(b.info);
            a.payloads.bytes.extend_from_slice(&b.payloads.bytes);
            a.payloads.lengths.extend_from_slice(&b.payloads.lengths);
        }
        None => *into = Some(b),
    }
}

fn merge_outbound(into: &mut Option<ip_t::Outbound>, b: ip_t::Outbound) {
    if b.next_hops.is_empty() {
        return;
    }
    match into {
        Some(a) => {
            let (ours, theirs) = (a.next_hops.len(), b.next_hops.len());
            append_sizes(&mut a.segment_sizes, ours, b.segment_sizes, theirs);
            a.packets.bytes.extend_from_slice(&b.packets.bytes);
            a.packets.lengths.extend_from_slice(&b.packets.lengths);
            a.next_hops.extend(b.next_hops);
        }
        None => *into = Some(b),
    }
}

/// An IPv4 transport endpoint.
pub type Endpoint = (Ipv4Address, u16);

/// One neighbour, as `ip neigh` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourEntry {
    /// The neighbour's address.
    pub address: Ipv4Address,
    /// Its MAC address, once resolved.
    pub mac: Option<EthernetAddress>,
    /// Linux's name for its state.
    pub state: String,
    /// Packets waiting for it to resolve.
    pub queued: u32,
}

/// Counts of the router's own work, per layer: calls made (crossings) and packets carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterCounters {
    /// Frames the NIC handed up.
    pub frames_in: u64,
    /// Frames handed down to the NIC.
    pub frames_out: u64,
    /// Calls into each layer: link, ipv4, tcp, udp.
    pub calls: [u64; 4],
    /// Received frames whose IPv4 packet took link's fast path (`classify`).
    pub rx_fast_frames: u64,
    /// Received frames link's `receive` got whole (ARP, drops, a refused batch).
    pub rx_slow_frames: u64,
    /// Received packets whose TCP/UDP payload took ipv4's fast path (`classify`).
    pub rx_fast_payloads: u64,
    /// Received packets ipv4's `receive` got whole (ICMP, fragments, forwarding, bad headers).
    pub rx_slow_packets: u64,
    /// Transport payloads ipv4 routed on the send fast path (`route-headers`).
    pub tx_fast_payloads: u64,
    /// Transport payloads ipv4's `send` got whole (loopback, fragments, no route...).
    pub tx_slow_payloads: u64,
    /// Frames the host built from link's and ipv4's headers and a payload (`frame-headers`).
    pub tx_fast_frames: u64,
    /// Routed packets link's `send` got whole (to resolve with ARP, too big).
    pub tx_slow_packets: u64,
    /// TCP super-segments the send fast path cut (GSO), and the frames it cut them into.
    pub gso_supers: u64,
    pub gso_frames: u64,
    /// Bytes the host held for TCP that went out in its segments (`tcp.wrote`).
    pub tx_held_bytes: u64,
    /// TCP segments dropped because they named bytes the host did not hold (a bug).
    pub tx_held_missing: u64,
    /// Received TCP data bytes the host put in receive streams (`receive-held`).
    pub rx_held_bytes: u64,
    /// Of those, the bytes lent to their streams where they arrived (the frames kept for a
    /// turn): never copied if read in time.
    pub rx_lent_bytes: u64,
    /// Lent bytes a reader left unread for a turn, copied into their stream's ring then.
    pub rx_settled_bytes: u64,
    /// Received TCP segments TCP wanted whole after all (a connection that stores what it
    /// receives, or data for no connection).
    pub rx_wanted_segments: u64,
    /// Writes to a TCP socket that TCP refused with `would-block` (its send buffer was full):
    /// crossings a writer could have saved by stopping at a short write.
    pub tcp_writes_refused: u64,
    /// Reads of a TCP socket refused with `would-block` (nothing to read): crossings a reader
    /// could have saved by stopping at a short read.
    pub tcp_reads_refused: u64,
}

/// What a hot swap of the TCP component did (`netstack ctl swap`).
#[derive(Debug, Clone)]
pub struct SwapReport {
    /// The component swapped in.
    pub path: String,
    /// Its `.wasm` size.
    pub wasm_bytes: u64,
    /// Compiling it, before the pause (traffic flows meanwhile).
    pub compile_time: Duration,
    /// The pause: export, instantiate, import and the new instance's first poll. No packet
    /// moves during it; none is lost either, the NIC's ring holds what arrives.
    pub pause: Duration,
    /// The state handed over, in bytes.
    pub state_bytes: usize,
    /// State format versions written by the old build and by the new one.
    pub versions: (u32, u32),
    /// Sockets carried over.
    pub sockets: usize,
}

/// Every layer, instantiated and configured.
pub struct Stack {
    config: StackConfig,
    /// Kept to compile and instantiate a replacement component (hot swap).
    engine: wasmtime::Engine,
    linker: wasmtime::component::Linker<ComponentState>,
    link: Layer<ethernet_arp::EthernetArpComponent>,
    ipv4: Layer<ipv4::Ipv4Component>,
    tcp: Layer<tcp::TcpComponent>,
    udp: Layer<udp::UdpComponent>,
    loads: Vec<LoadReport>,
    /// Each layer's next deadline: link, ipv4, tcp, udp.
    deadlines: [Option<u64>; 4],
    counters: RouterCounters,
    /// Frames for the NIC, until the router takes them, with their GSO segment sizes.
    to_wire: Batch,
    to_wire_sizes: Vec<u16>,
    /// The received frames' buffer once they are done with, for [`Self::take_rx_spare`].
    rx_spare: Batch,
    /// TCP readiness changes, until the socket layer takes them.
    tcp_events: Vec<(u32, TcpReadiness)>,
    /// The bytes written to TCP sockets, until acknowledged (docs/zero-copy.md).
    held: held::HeldStreams,
    /// The vectors of TCP's `receive-held` call, kept with their room.
    tcp_rx_scratch: held::TcpRxScratch,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Turns a layer's `error-code` into an error naming the operation.
fn layer_error(what: &str, e: impl fmt::Debug) -> wasmtime::Error {
    format_err!("{what}: {e:?}")
}

impl Stack {
    /// Compiles and instantiates every component and configures them for `config`. `now` is
    /// the host's monotonic clock in nanoseconds.
    pub fn new(config: StackConfig, now: u64) -> Result<Stack> {
        let engine = components::engine()?;
        let linker = components::linker(&engine)?;
        let mut loads = Vec::new();
        let mut load = |name: &'static str, path: &str| -> Result<_> {
            let loaded = components::load(&engine, path)?;
            loads.push(LoadReport {
                name,
                wasm_bytes: loaded.wasm_bytes,
                compile_time: loaded.compile_time,
            });
            Ok((loaded.component, components::store(&engine)))
        };

        let (c, mut store) = load("ethernet-arp", netstack_artifacts::ETHERNET_ARP)?;
        let bindings = ethernet_arp::EthernetArpComponent::instantiate(&mut store, &c, &linker)
            .context("instantiate ethernet-arp")?;
        let link = Layer { store, bindings };

        let (c, mut store) = load("ipv4", netstack_artifacts::IPV4)?;
        let bindings = ipv4::Ipv4Component::instantiate(&mut store, &c, &linker)
            .context("instantiate ipv4")?;
        let ipv4 = Layer { store, bindings };

        let (c, mut store) = load("tcp", netstack_artifacts::TCP)?;
        let bindings =
            tcp::TcpComponent::instantiate(&mut store, &c, &linker).context("instantiate tcp")?;
        let tcp = Layer { store, bindings };

        let (c, mut store) = load("udp", netstack_artifacts::UDP)?;
        let bindings =
            udp::UdpComponent::instantiate(&mut store, &c, &linker).context("instantiate udp")?;
        let udp = Layer { store, bindings };

        let mut stack = Stack {
            config,
            engine,
            linker,
            link,
            ipv4,
            tcp,
            udp,
            loads,
            deadlines: [None; 4],
            counters: RouterCounters::default(),
            to_wire: Batch::new(),
            rx_spare: Batch::new(),
            to_wire_sizes: Vec::new(),
            tcp_events: Vec::new(),
            held: held::HeldStreams::default(),
            tcp_rx_scratch: held::TcpRxScratch::default(),
        };
        stack.configure(now)?;
        Ok(stack)
    }

    fn configure(&mut self, now: u64) -> Result<()> {
        let cfg = self.config.clone();
        let cidr = ipv4::exports::netstack::stack::types::Ipv4Cidr {
            address: ipv4_to(cfg.address.address()),
            prefix_len: cfg.address.prefix_len(),
        };
        let link_cfg = ethernet_arp::exports::netstack::stack::link::LinkConfig {
            mac: mac_to(cfg.mac),
            mtu: cfg.mtu,
            addresses: vec![ethernet_arp::exports::netstack::stack::types::Ipv4Cidr {
                address: cidr.address,
                prefix_len: cidr.prefix_len,
            }],
            vlan: None,
        };
        let Layer { store, bindings } = &mut self.link;
        // The gratuitous ARP this returns goes out with the first turn.
        let announce = bindings
            .netstack_stack_link()
            .call_configure(&mut *store, now, &link_cfg)?
            .map_err(|e| layer_error("configure ethernet-arp", e))?;
        self.absorb_link(announce, &mut Pending::default());

        let Layer { store, bindings } = &mut self.ipv4;
        let ip = bindings.netstack_stack_ipv4();
        ip.call_add_address(&mut *store, 0, cidr)
            .context("add address")?
            .map_err(|e| layer_error("add address", e))?;
        ip.call_set_mtu(&mut *store, 0, cfg.mtu)?
            .map_err(|e| layer_error("set the MTU", e))?;
        if let Some(gw) = cfg.gateway {
            let default = ipv4::exports::netstack::stack::ipv4::Route {
                destination: ipv4::exports::netstack::stack::types::Ipv4Cidr {
                    address: (0, 0, 0, 0),
                    prefix_len: 0,
                },
                gateway: Some(ipv4_to(gw)),
                ifindex: 0,
                metric: 0,
            };
            ip.call_add_route(&mut *store, default)?
                .map_err(|e| layer_error("add default route", e))?;
        }

        let Layer { store, bindings } = &mut self.tcp;
        let tcp_cfg = tcp::exports::netstack::stack::tcp::TcpConfig {
            // Fixed for now; the TCP issue draws them from the host's RNG at start.
            isn_secret: (0, 0),
            port_seed: 0,
            // Linux's net.ipv4.ip_local_port_range and 2·MSL of 60 s.
            ephemeral_ports: (32768, 60999),
            time_wait: 60_000_000_000,
            mss: (cfg.mtu.min(65_535) - 40) as u16,
            // The host cuts super-segments (GSO) unless offloads are off; TCP keeps them within
            // IPv4's 64 KiB.
            gso_max_size: if cfg.offload { 65_535 } else { 0 },
        };
        bindings
            .netstack_stack_tcp()
            .call_configure(&mut *store, tcp_cfg)?
            .map_err(|e| layer_error("configure tcp", e))?;
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// What loading each component cost.
    pub fn loads(&self) -> &[LoadReport] {
        &self.loads
    }

    /// The routing table, as the ipv4 component reports it: (destination, gateway, metric).
    pub fn routes(&mut self) -> Result<Vec<(Ipv4Cidr, Option<Ipv4Address>, u32)>> {
        let Layer { store, bindings } = &mut self.ipv4;
        let routes = bindings.netstack_stack_ipv4().call_routes(&mut *store)?;
        routes
            .into_iter()
            .map(|r| {
                let dest =
                    Ipv4Cidr::new(ipv4_from(r.destination.address), r.destination.prefix_len)
                        .ok_or_else(|| {
                            format_err!(
                                "ipv4 reported a route with prefix length {}",
                                r.destination.prefix_len
                            )
                        })?;
                Ok((dest, r.gateway.map(ipv4_from), r.metric))
            })
            .collect()
    }

    /// Every layer's counters, as (layer, name, value).
    pub fn counters(&mut self) -> Result<Vec<(&'static str, String, u64)>> {
        let mut all = Vec::new();
        let Layer { store, bindings } = &mut self.link;
        all.extend(
            bindings
                .netstack_stack_link()
                .call_counters(&mut *store)?
                .into_iter()
                .map(|c| ("link", c.name, c.value)),
        );
        let Layer { store, bindings } = &mut self.ipv4;
        all.extend(
            bindings
                .netstack_stack_ipv4()
                .call_counters(&mut *store)?
                .into_iter()
                .map(|c| ("ipv4", c.name, c.value)),
        );
        let Layer { store, bindings } = &mut self.tcp;
        all.extend(
            bindings
                .netstack_stack_tcp()
                .call_counters(&mut *store)?
                .into_iter()
                .map(|c| ("tcp", c.name, c.value)),
        );
        let Layer { store, bindings } = &mut self.udp;
        all.extend(
            bindings
                .netstack_stack_udp()
                .call_counters(&mut *store)?
                .into_iter()
                .map(|c| ("udp", c.name, c.value)),
        );
        Ok(all)
    }

    /// Frames the NIC received: up through the layers, and whatever they answer back down.
    /// `segment_sizes` is empty, or one per frame: a non-zero size marks a TCP segment (or GRO
    /// super-segment of segments that long) whose checksums were verified.
    pub fn receive_frames(
        &mut self,
        now: u64,
        bytes: Vec<u8>,
        lengths: Vec<u32>,
        segment_sizes: Vec<u16>,
    ) -> Result<()> {
        self.counters.frames_in += lengths.len() as u64;
        let mut work = Pending::default();
        self.classify_frames(
            now,
            ip_t::Batch { bytes, lengths },
            segment_sizes,
            &mut work,
        )?;
        self.drain(now, &mut work)?;
        // Frames no TCP segment was left in (TCP's receive recycles the others).
        self.keep_rx_spare(std::mem::take(&mut work.frames));
        Ok(())
    }

    /// Keeps the buffer of received frames that are done with, emptied, for the NIC's next
    /// ones ([`Self::take_rx_spare`]).
    fn keep_rx_spare(&mut self, mut frames: Vec<u8>) {
        frames.clear();
        let spare = Batch::from_parts(frames, Vec::new()).expect("no bytes, no lengths");
        self.rx_spare.reuse(spare);
    }

    /// Runs the layers whose deadline has come.
    pub fn poll(&mut self, now: u64) -> Result<()> {
        let mut work = Pending::default();
        if self.deadlines[0].is_some_and(|d| d <= now) {
            self.counters.calls[0] += 1;
            let Layer { store, bindings } = &mut self.link;
            let out = bindings.netstack_stack_link().call_poll(&mut *store, now)?;
            self.absorb_link(out, &mut work);
        }
        if self.deadlines[1].is_some_and(|d| d <= now) {
            self.counters.calls[1] += 1;
            let Layer { store, bindings } = &mut self.ipv4;
            let out = bindings.netstack_stack_ipv4().call_poll(&mut *store, now)?;
            self.absorb_ip(out, &mut work);
        }
        if self.deadlines[2].is_some_and(|d| d <= now) {
            self.counters.calls[2] += 1;
            let Layer { store, bindings } = &mut self.tcp;
            let out = bindings.netstack_stack_tcp().call_poll(&mut *store, now)?;
            self.absorb_tcp(out, &mut work);
        }
        self.drain(now, &mut work)
    }

    /// The earliest deadline of any layer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Takes the frames waiting for the NIC, with their GSO segment sizes: empty, or one per
    /// frame, non-zero for a TCP super-segment still to cut into frames of that many payload
    /// bytes (link's byte path passes them on whole; the fast path cuts them itself).
    pub fn take_wire(&mut self) -> (Batch, Vec<u16>) {
        self.counters.frames_out += self.to_wire.len() as u64;
        let sizes = std::mem::take(&mut self.to_wire_sizes);
        let wire = std::mem::take(&mut self.to_wire);
        let sizes = netstack_wire::batch::sizes_for(sizes, wire.len());
        (wire, sizes)
    }

    /// Gives back a batch the NIC is done with, emptied, for the next turn's frames: its
    /// buffer is already as big as a turn's frames need, so they go in without the batch
    /// growing (each growth a copy of all it holds) or a new allocation per turn.
    pub fn recycle_wire(&mut self, spare: Batch) {
        self.to_wire.reuse(spare);
    }

    /// The buffer of the last frames [`Self::receive_frames`] took, emptied, for the NIC's
    /// next ones (GRO's merged batch, say): as big as a turn's frames need already. Frames
    /// whose data is lent to receive streams come back once it is read (held.rs).
    pub fn take_rx_spare(&mut self) -> Batch {
        if self.rx_spare.byte_capacity() == 0 {
            // Frames lent to the receive streams whose bytes were all read (held.rs).
            let (frames, copied) = self.held.spare_frames();
            self.counters.rx_settled_bytes += copied as u64;
            if let Some(frames) = frames {
                self.keep_rx_spare(frames);
            }
        }
        std::mem::take(&mut self.rx_spare)
    }

    /// The router's own counters.
    pub fn router_counters(&self) -> &RouterCounters {
        &self.counters
    }

    fn absorb_link(
        &mut self,
        out: ethernet_arp::exports::netstack::stack::link::LinkOutput,
        work: &mut Pending,
    ) {
        self.deadlines[0] = out.deadline;
        match Batch::from_parts(out.to_wire.bytes, out.to_wire.lengths) {
            Ok(wire) => {
                let ours = self.to_wire.len();
                let sizes = out.to_wire_segment_sizes;
                append_sizes(&mut self.to_wire_sizes, ours, sizes, wire.len());
                if ours == 0 {
                    // The usual case: this call's frames are the turn's first, and move.
                    self.to_wire = wire;
                } else {
                    self.to_wire.append(&wire);
                }
            }
            Err(_) => tracing::error!("link: frames for the wire whose lengths do not add up"),
        }
        merge_sized(
            &mut work.ip_rx,
            out.to_ipv4.into(),
            out.to_ipv4_segment_sizes,
        );
        merge_batch(&mut work.ip_undeliverable, out.unresolved.into());
    }

    fn absorb_tcp(
        &mut self,
        out: tcp::exports::netstack::stack::tcp::TcpOutput,
        work: &mut Pending,
    ) {
        self.deadlines[2] = out.deadline;
        // The spans go with their payloads, renumbered after what is already pending; the
        // bytes are added when the frames are built (`send_payloads`), and only then are the
        // released ones dropped.
        let before = work.ip_tx.as_ref().map_or(0, |b| b.info.len() as u32);
        (work.ip_tx_held).extend(out.held.into_iter().map(|h| HeldPayload {
            payload: h.payload + before,
            ..h
        }));
        work.held_released.extend(out.released);
        merge_transport(&mut work.ip_tx, out.to_ipv4.into());
        self.tcp_events
            .extend(out.events.into_iter().map(|e| (e.socket, e.readiness)));
    }

    fn absorb_ip(
        &mut self,
        out: ipv4::exports::netstack::stack::ipv4::Ipv4Output,
        work: &mut Pending,
    ) {
        self.deadlines[1] = out.deadline;
        merge_outbound(&mut work.link_tx, out.to_link);
        merge_transport(&mut work.tcp_rx, out.to_tcp);
        merge_transport(&mut work.udp_rx, out.to_udp);
        for e in out.icmp_errors {
            match e.original.protocol {
                6 => work.tcp_icmp.push(e),
                17 => work.udp_icmp.push(e),
                _ => {}
            }
        }
    }

    /// Hands every piece of pending work to its layer, one call per layer per round, until
    /// nothing is left.
    fn drain(&mut self, now: u64, work: &mut Pending) -> Result<()> {
        // Each round strictly moves packets a layer along; a bound catches a layer that answers
        // everything with more of the same (a bug, reported rather than spun on).
        for _ in 0..64 {
            let mut busy = false;
            if let Some(Sized { batch, sizes }) = work.link_rx.take() {
                busy = true;
                self.counters.calls[0] += 1;
                let Layer { store, bindings } = &mut self.link;
                let out = bindings.netstack_stack_link().call_receive(
                    &mut *store,
                    now,
                    &batch.into(),
                    &sizes,
                )?;
                self.absorb_link(out, work);
            }
            if let Some(packets) = work.ip_rx.take() {
                busy = true;
                self.classify_batch(now, packets, work)?;
            }
            if work.tcp_rx.is_some() || !work.tcp_rx_in_frames.is_empty() {
                busy = true;
                self.tcp_receive(now, work)?;
            }
            if !work.tcp_icmp.is_empty() {
                busy = true;
                self.counters.calls[2] += 1;
                let errors: Vec<_> = work.tcp_icmp.drain(..).map(Into::into).collect();
                let Layer { store, bindings } = &mut self.tcp;
                let out =
                    bindings
                        .netstack_stack_tcp()
                        .call_icmp_errors(&mut *store, now, &errors)?;
                self.absorb_tcp(out, work);
            }
            if let Some(datagrams) = work.udp_rx.take() {
                busy = true;
                self.counters.calls[3] += 1;
                let Layer { store, bindings } = &mut self.udp;
                let out = bindings.netstack_stack_udp().call_receive(
                    &mut *store,
                    now,
                    &datagrams.into(),
                )?;
                merge_transport(&mut work.ip_tx, out.to_ipv4.into());
                merge_transport(&mut work.ip_port_unreachable, out.port_unreachable.into());
            }
            if !work.udp_icmp.is_empty() {
                busy = true;
                self.counters.calls[3] += 1;
                let errors: Vec<_> = work.udp_icmp.drain(..).map(Into::into).collect();
                let Layer { store, bindings } = &mut self.udp;
                let out =
                    bindings
                        .netstack_stack_udp()
                        .call_icmp_errors(&mut *store, now, &errors)?;
                merge_transport(&mut work.ip_tx, out.to_ipv4.into());
            }
            if let Some(payloads) = work.ip_tx.take() {
                busy = true;
                let held = std::mem::take(&mut work.ip_tx_held);
                self.send_payloads(now, payloads, &held, work)?;
            }
            for r in work.held_released.drain(..) {
                self.held.release(&r);
            }
            if let Some(datagrams) = work.ip_port_unreachable.take() {
                busy = true;
                self.counters.calls[1] += 1;
                let Layer { store, bindings } = &mut self.ipv4;
                let out = bindings.netstack_stack_ipv4().call_port_unreachable(
                    &mut *store,
                    now,
                    &datagrams,
                )?;
                self.absorb_ip(out, work);
            }
            if let Some(packets) = work.ip_undeliverable.take() {
                busy = true;
                self.counters.calls[1] += 1;
                let Layer { store, bindings } = &mut self.ipv4;
                let out = bindings.netstack_stack_ipv4().call_undeliverable(
                    &mut *store,
                    now,
                    &packets,
                )?;
                self.absorb_ip(out, work);
            }
            if let Some(outbound) = work.link_tx.take() {
                busy = true;
                self.counters.calls[0] += 1;
                let Layer { store, bindings } = &mut self.link;
                let out =
                    bindings
                        .netstack_stack_link()
                        .call_send(&mut *store, now, &outbound.into())?;
                self.absorb_link(out, work);
            }
            if !busy {
                return Ok(());
            }
        }
        Err(format_err!(
            "the layers kept answering each other for 64 rounds; dropped the rest"
        ))
    }

    /// Opens a TCP listener on every address at `port`.
    pub fn tcp_listen(&mut self, port: u16, backlog: u32) -> Result<Result<u32, tcp_t::ErrorCode>> {
        let Layer { store, bindings } = &mut self.tcp;
        let tcp = bindings.netstack_stack_tcp();
        let socket = match tcp.call_create(&mut *store)? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let any = tcp_t::Endpoint {
            address: (0, 0, 0, 0),
            port,
        };
        if let Err(e) = tcp.call_bind(&mut *store, socket, any)? {
            return Ok(Err(e));
        }
        Ok(tcp
            .call_listen(&mut *store, socket, backlog)?
            .map(|()| socket))
    }

    /// Opens a TCP connection to `remote` from our address and an ephemeral port.
    pub fn tcp_connect(
        &mut self,
        now: u64,
        remote: Endpoint,
    ) -> Result<Result<u32, tcp_t::ErrorCode>> {
        let source = ipv4_to(self.config.address.address());
        let Layer { store, bindings } = &mut self.tcp;
        let tcp = bindings.netstack_stack_tcp();
        let socket = match tcp.call_create(&mut *store)? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let remote = tcp_t::Endpoint {
            address: ipv4_to(remote.0),
            port: remote.1,
        };
        Ok(tcp
            .call_connect(&mut *store, now, socket, source, remote)?
            .map(|()| socket))
    }

    /// Takes a connection from a listener's accept queue, if one waits.
    pub fn tcp_accept(
        &mut self,
        listener: u32,
    ) -> Result<Result<(u32, Endpoint), tcp_t::ErrorCode>> {
        let Layer { store, bindings } = &mut self.tcp;
        let r = bindings
            .netstack_stack_tcp()
            .call_accept(&mut *store, listener)?;
        Ok(r.map(|(s, e)| (s, (ipv4_from(e.address), e.port))))
    }

    /// Queues bytes on a connection; returns how many were taken. The host keeps them (TCP
    /// counts them, `tcp.wrote`) until they are acknowledged.
    pub fn tcp_send(
        &mut self,
        now: u64,
        socket: u32,
        data: &[u8],
    ) -> Result<Result<u32, tcp_t::ErrorCode>> {
        let Layer { store, bindings } = &mut self.tcp;
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let taken = bindings
            .netstack_stack_tcp()
            .call_wrote(&mut *store, now, socket, len)?;
        match taken {
            Ok(n) => self.held.push(socket, &data[..n as usize]),
            Err(tcp_t::ErrorCode::WouldBlock) => self.counters.tcp_writes_refused += 1,
            Err(_) => {}
        }
        Ok(taken)
    }

    /// Bytes written to TCP sockets and not yet acknowledged, which the host holds.
    pub fn tcp_held_bytes(&self) -> usize {
        self.held.len()
    }

    /// Takes up to `max` received bytes; empty at the end of the stream. TCP says how many;
    /// the host holds them (`tcp.read`), unless it stored some itself.
    pub fn tcp_recv(
        &mut self,
        now: u64,
        socket: u32,
        max: u32,
    ) -> Result<Result<Vec<u8>, tcp_t::ErrorCode>> {
        let mut data = Vec::new();
        let read =
            self.tcp_recv_in_place(now, socket, max, |piece| data.extend_from_slice(piece))?;
        Ok(read.map(|_| data))
    }

    /// [`tcp_recv`](Self::tcp_recv) without the copy: `use_bytes` sees up to `max` received
    /// bytes where they lie (in up to three pieces: any bytes TCP stored itself, then the
    /// receive stream's on either side of its seam), and they are consumed. Returns how many;
    /// 0 at the end of the stream. A service that drops what it reads (discard) copies
    /// nothing, like Linux's `MSG_TRUNC` on a TCP socket; one that keeps it (echo) copies it
    /// once, into its own buffer. Fewer than `max` means the socket is drained: TCP reports
    /// it readable again when there is more (or the end of the stream), so the reader may
    /// stop there instead of reading until `would-block`.
    pub fn tcp_recv_in_place(
        &mut self,
        now: u64,
        socket: u32,
        max: u32,
        mut use_bytes: impl FnMut(&[u8]),
    ) -> Result<Result<usize, tcp_t::ErrorCode>> {
        let Layer { store, bindings } = &mut self.tcp;
        let read = bindings
            .netstack_stack_tcp()
            .call_read(&mut *store, now, socket, max)?;
        if matches!(read, Err(tcp_t::ErrorCode::WouldBlock)) {
            self.counters.tcp_reads_refused += 1;
        }
        Ok(read.map(|r| {
            if !r.stored.is_empty() {
                use_bytes(&r.stored);
            }
            self.held.read(socket, r.held as usize, &mut use_bytes);
            r.stored.len() + r.held as usize
        }))
    }

    /// Sets a socket option (no-delay, keepalive, buffers, hop limit, congestion control).
    pub fn tcp_set_option(
        &mut self,
        socket: u32,
        option: tcp::exports::netstack::stack::tcp::SocketOption,
    ) -> Result<Result<(), tcp_t::ErrorCode>> {
        let Layer { store, bindings } = &mut self.tcp;
        bindings
            .netstack_stack_tcp()
            .call_set_option(&mut *store, socket, option)
    }

    /// Half-closes a connection (FIN after its data).
    pub fn tcp_shutdown(&mut self, now: u64, socket: u32) -> Result<Result<(), tcp_t::ErrorCode>> {
        let Layer { store, bindings } = &mut self.tcp;
        bindings
            .netstack_stack_tcp()
            .call_shutdown(&mut *store, now, socket)
    }

    /// Releases a socket handle.
    pub fn tcp_close(&mut self, now: u64, socket: u32) -> Result<Result<(), tcp_t::ErrorCode>> {
        let Layer { store, bindings } = &mut self.tcp;
        bindings
            .netstack_stack_tcp()
            .call_close(&mut *store, now, socket)
    }

    /// Collects what socket operations caused (segments, readiness) and routes it: one call
    /// after any number of operations.
    pub fn tcp_flush(&mut self, now: u64) -> Result<()> {
        let mut work = Pending::default();
        self.counters.calls[2] += 1;
        let Layer { store, bindings } = &mut self.tcp;
        let out = bindings.netstack_stack_tcp().call_poll(&mut *store, now)?;
        self.absorb_tcp(out, &mut work);
        self.drain(now, &mut work)
    }

    /// TCP readiness changes since the last call.
    pub fn take_tcp_events(&mut self) -> Vec<(u32, TcpReadiness)> {
        std::mem::take(&mut self.tcp_events)
    }

    /// Every TCP socket, as `ss` lists them.
    pub fn tcp_sockets(&mut self) -> Result<Vec<tcp::exports::netstack::stack::tcp::SocketInfo>> {
        let Layer { store, bindings } = &mut self.tcp;
        bindings.netstack_stack_tcp().call_sockets(&mut *store)
    }

    /// The neighbour table, as the link layer reports it.
    pub fn neighbours(&mut self) -> Result<Vec<NeighbourEntry>> {
        let Layer { store, bindings } = &mut self.link;
        let list = bindings
            .netstack_stack_link()
            .call_neighbours(&mut *store)?;
        Ok(list
            .into_iter()
            .map(|n| NeighbourEntry {
                address: ipv4_from(n.address),
                mac: n.mac.map(netstack_wire::tuple::mac_from),
                state: n.state,
                queued: n.queued,
            })
            .collect())
    }

    /// Replaces the running TCP component with the build at `path`, connections and all
    /// (DESIGN.md §7): compile the new build while traffic flows; then, with input paused
    /// (this call holds the stack), export the old instance's state, instantiate the new build
    /// in a store of its own and import the state there, and poll it once so its timers and any
    /// output due are picked up. If anything fails before the new instance has the state, the
    /// old one stays and the error is returned: a failed swap changes nothing.
    pub fn swap_tcp(&mut self, now: u64, path: &str) -> Result<SwapReport> {
        let loaded = components::load(&self.engine, path)?;
        let pause = std::time::Instant::now();

        let Layer { store, bindings } = &mut self.tcp;
        let old_version = bindings
            .netstack_stack_state()
            .call_state_version(&mut *store)?;
        let state = bindings
            .netstack_stack_state()
            .call_export_state(&mut *store)?
            .map_err(|e| layer_error("export the TCP state", e))?;

        let mut store = components::store(&self.engine);
        let bindings = tcp::TcpComponent::instantiate(&mut store, &loaded.component, &self.linker)
            .context("instantiate the new tcp")?;
        let new_version = bindings
            .netstack_stack_state()
            .call_state_version(&mut store)?;
        bindings
            .netstack_stack_state()
            .call_import_state(&mut store, &state)?
            .map_err(|e| {
                layer_error(
                    &format!(
                        "the new build (state v{new_version}) refused the state (v{old_version})"
                    ),
                    e,
                )
            })?;
        let sockets = bindings
            .netstack_stack_tcp()
            .call_sockets(&mut store)?
            .len();
        self.tcp = Layer { store, bindings };
        self.tcp_flush(now)?;
        let pause = pause.elapsed();

        if let Some(l) = self.loads.iter_mut().find(|l| l.name == "tcp") {
            l.wasm_bytes = loaded.wasm_bytes;
            l.compile_time = loaded.compile_time;
        }
        tracing::info!(
            path,
            state_bytes = state.len(),
            sockets,
            pause_us = pause.as_micros() as u64,
            "tcp component swapped"
        );
        Ok(SwapReport {
            path: path.to_string(),
            wasm_bytes: loaded.wasm_bytes,
            compile_time: loaded.compile_time,
            pause,
            state_bytes: state.len(),
            versions: (old_version, new_version),
            sockets,
        })
    }

    /// The TCP component's hot-swap state format version.
    pub fn tcp_state_version(&mut self) -> Result<u32> {
        let Layer { store, bindings } = &mut self.tcp;
        bindings
            .netstack_stack_state()
            .call_state_version(&mut *store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(stack: &mut Stack, layer: &str, name: &str) -> u64 {
        let all = stack.counters().unwrap();
        all.into_iter()
            .find(|(l, n, _)| *l == layer && n == name)
            .map(|(.., v)| v)
            .unwrap()
    }

    const PEER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    /// An Ethernet frame from the peer to us.
    fn from_peer(ethertype: netstack_wire::EtherType, payload: &[u8]) -> Vec<u8> {
        netstack_wire::build::ethernet(
            &netstack_wire::EthernetRepr {
                src_addr: PEER_MAC,
                dst_addr: StackConfig::default().mac,
                vlan: None,
                ethertype,
            },
            payload,
        )
    }

    /// A frame with a SYN from the peer to a closed port of ours.
    fn syn_frame() -> Vec<u8> {
        let ours = StackConfig::default().address.address();
        let segment = netstack_wire::build::tcp(
            &netstack_wire::TcpRepr::new(
                40000,
                9,
                netstack_wire::TcpFlags::SYN,
                netstack_wire::SeqNumber(1),
                netstack_wire::SeqNumber(0),
                1000,
            ),
            PEER,
            ours,
        );
        let packet =
            netstack_wire::build::ipv4(PEER, ours, netstack_wire::IpProtocol::Tcp, &segment);
        from_peer(netstack_wire::EtherType::Ipv4, &packet)
    }

    #[test]
    fn the_host_checks_the_tcp_checksum_that_tcp_no_longer_sees() {
        let mut stack = Stack::new(StackConfig::default(), 0).unwrap();
        let mut frame = syn_frame();
        // The TCP checksum field, after Ethernet (14) and IPv4 (20) headers.
        frame[14 + 20 + 16] ^= 0x40;
        let len = frame.len() as u32;
        stack
            .receive_frames(1, frame, vec![len], Vec::new())
            .unwrap();
        // TCP got it whole and counted it; a SYN taken on trust would have drawn a RST.
        assert_eq!(counter(&mut stack, "tcp", "in-csum-errors"), 1);
        assert_eq!(counter(&mut stack, "tcp", "out-rsts"), 0);
        // A good one goes by header: answered.
        let good = syn_frame();
        let len = good.len() as u32;
        stack
            .receive_frames(2, good, vec![len], Vec::new())
            .unwrap();
        assert_eq!(counter(&mut stack, "tcp", "out-rsts"), 1);
    }

    #[test]
    fn frames_take_the_fast_path_and_a_bad_batch_is_counted_not_sliced() {
        let mut stack = Stack::new(StackConfig::default(), 0).unwrap();
        let frame = syn_frame();
        let len = frame.len() as u32;
        stack
            .receive_frames(1, frame.clone(), vec![len], Vec::new())
            .unwrap();
        // Through classify (link and ipv4 counted it) to TCP, which answers the SYN to a
        // closed port with a RST.
        assert_eq!(counter(&mut stack, "link", "rx-ipv4"), 1);
        assert_eq!(counter(&mut stack, "ipv4", "in-delivers"), 1);
        assert_eq!(counter(&mut stack, "tcp", "out-rsts"), 1);
        let r = stack.router_counters();
        assert_eq!(
            (
                r.rx_fast_frames,
                r.rx_fast_payloads,
                r.rx_slow_frames,
                r.rx_slow_packets
            ),
            (1, 1, 0, 0)
        );
        // Lengths that do not add up: link's slow path counts the batch; nothing panics.
        stack
            .receive_frames(2, frame, vec![len + 1], Vec::new())
            .unwrap();
        assert_eq!(counter(&mut stack, "link", "drop-bad-batch"), 1);
        assert_eq!(counter(&mut stack, "link", "rx-ipv4"), 1);
        assert_eq!(stack.router_counters().rx_slow_frames, 1);
    }

    #[test]
    fn each_receive_gives_tcp_only_its_own_segments() {
        // The vectors of TCP's `receive-held` call are kept between calls: what one call put
        // in them must not reach TCP again with the next.
        let mut stack = Stack::new(StackConfig::default(), 0).unwrap();
        let syn = syn_frame();
        let len = syn.len() as u32;
        for now in 1..=3 {
            stack
                .receive_frames(now, syn.clone(), vec![len], Vec::new())
                .unwrap();
            assert_eq!(counter(&mut stack, "tcp", "in-segs"), now);
            assert_eq!(counter(&mut stack, "tcp", "out-rsts"), now);
        }
    }

    #[test]
    fn payloads_take_the_send_fast_path_once_their_neighbour_is_known() {
        let mut stack = Stack::new(StackConfig::default(), 0).unwrap();
        let config = StackConfig::default();
        stack.take_wire();
        let syn = syn_frame();
        let len = syn.len() as u32;
        // The RST to the first SYN: routed on the fast path, but the peer is unknown, so the
        // packet goes to link's `send`, which queues it and asks for the peer's address.
        stack
            .receive_frames(1, syn.clone(), vec![len], Vec::new())
            .unwrap();
        let r = stack.router_counters().clone();
        assert_eq!(
            (r.tx_fast_payloads, r.tx_fast_frames, r.tx_slow_packets),
            (1, 0, 1)
        );
        let (wire, _) = stack.take_wire();
        let (bytes, lengths) = wire.into_parts();
        assert_eq!(lengths, [42], "an ARP request");
        assert_eq!(bytes[12..14], [0x08, 0x06]);
        // The reply flushes the RST.
        let reply = netstack_wire::build::arp(
            netstack_wire::ArpOperation::Reply, // a whole frame
            config.mac,
            PEER_MAC,
            PEER,
            config.mac,
            config.address.address(),
        );
        let n = reply.len() as u32;
        stack.receive_frames(2, reply, vec![n], Vec::new()).unwrap();
        let (flushed, lengths) = stack.take_wire().0.into_parts();
        assert_eq!(lengths, [54]);

        // The RST to the second SYN is framed by the host from link's and ipv4's headers:
        // byte for byte what the layers built for the first.
        stack.receive_frames(3, syn, vec![len], Vec::new()).unwrap();
        let r = stack.router_counters().clone();
        assert_eq!(
            (r.tx_fast_payloads, r.tx_fast_frames, r.tx_slow_packets),
            (2, 1, 1)
        );
        assert_eq!(r.tx_slow_payloads, 0);
        let (wire, sizes) = stack.take_wire();
        let (bytes, lengths) = wire.into_parts();
        assert_eq!((lengths, sizes), (vec![54], vec![]));
        let ident = 18..20; // the IPv4 identification differs, and so the header checksum
        let checksum = 24..26;
        let masked = |f: &[u8]| {
            let mut f = f.to_vec();
            f[ident.clone()].fill(0);
            f[checksum.clone()].fill(0);
            f
        };
        assert_eq!(masked(&bytes), masked(&flushed));
        let ip = netstack_wire::Ipv4Packet::new_checked(&bytes[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(counter(&mut stack, "link", "tx-ipv4"), 2);
        assert_eq!(counter(&mut stack, "ipv4", "out-requests"), 2);
    }

    #[test]
    fn the_send_fast_path_cuts_super_segments_and_keeps_sizes_one_per_frame() {
        let mut stack = Stack::new(StackConfig::default(), 0).unwrap();
        stack.take_wire();
        let (ours, mss) = (StackConfig::default().address.address(), 1000);
        let mut info = ip_t::DatagramInfo {
            protocol: 6,
            source: ipv4_to(ours),
            destination: ipv4_to(PEER),
            ttl: 64,
            tos: 0,
            dont_fragment: true,
            segment_size: mss,
        };
        let data: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let mut tcp = netstack_wire::TcpRepr::new(
            9,
            40000,
            netstack_wire::TcpFlags::ACK,
            netstack_wire::SeqNumber(100),
            netstack_wire::SeqNumber(1),
            1000,
        );
        tcp.payload = &data;
        let segment = netstack_wire::build::tcp(&tcp, ours, PEER);
        let packet =
            netstack_wire::build::ipv4(ours, PEER, netstack_wire::IpProtocol::Tcp, &segment);
        let eth = [2, 0, 0, 0, 0, 2, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 8, 0];
        // A super-segment is cut as it is framed: three frames, checksums complete, and no
        // segment size left for the NIC's side to act on.
        stack.push_wire(&eth, &packet[..20], &segment, None, &info);
        let (wire, sizes) = stack.take_wire();
        assert_eq!(sizes, Vec::<u16>::new());
        let frames: Vec<&[u8]> = wire.iter().collect();
        assert_eq!(frames.len(), 3);
        let mut seqs = Vec::new();
        for f in &frames {
            let ip = netstack_wire::Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            let t = netstack_wire::TcpPacket::new_checked(ip.payload()).unwrap();
            assert!(t.verify_checksum(ours, PEER));
            seqs.push((t.seq_number().0, t.payload().len()));
        }
        assert_eq!(seqs, [(100, 1000), (1100, 1000), (2100, 500)]);
        // What cannot be cut here (a tagged frame) keeps its size, one per frame, for the
        // NIC's side; the cut frames before it get zeros.
        stack.push_wire(&eth, &packet[..20], &segment, None, &info);
        let tagged = [&eth[..12], &[0x81, 0, 0, 5], &eth[12..]].concat();
        stack.push_wire(&tagged, &packet[..20], &segment, None, &info);
        info.segment_size = 0;
        stack.push_wire(&eth, &packet[..20], &segment[..40], None, &info);
        let (wire, sizes) = stack.take_wire();
        assert_eq!((wire.len(), sizes), (5, vec![0, 0, 0, mss, 0]));
        assert_eq!(stack.router_counters().gso_supers, 2);
    }

    #[test]
    fn the_received_frames_buffer_comes_back_emptied_for_the_next_frames() {
        let mut stack = Stack::new(StackConfig::default(), 0).unwrap();
        // A TCP segment without data (nothing lent to a stream: held.rs) and an ARP frame
        // (no segment in them).
        let arp = from_peer(netstack_wire::EtherType::Arp, &[0; 28]);
        for (now, frame) in [(1, syn_frame()), (2, arp)] {
            let mut bytes = Vec::with_capacity(1 << 16);
            bytes.extend_from_slice(&frame);
            let len = frame.len() as u32;
            stack
                .receive_frames(now, bytes, vec![len], Vec::new())
                .unwrap();
            let spare = stack.take_rx_spare();
            assert!(spare.is_empty(), "emptied");
            assert!(spare.byte_capacity() >= 1 << 16, "the frames' buffer, kept");
            assert_eq!(stack.take_rx_spare().byte_capacity(), 0, "given once");
        }
    }

    #[test]
    fn a_wire_batch_given_back_holds_the_next_turns_frames() {
        let mut stack = Stack::new(StackConfig::default(), 0).unwrap();
        stack.take_wire(); // what the stack sent as it came up
        let mut spare = Batch::new();
        spare.reserve(1 << 20, 64);
        spare.push(b"sent last turn");
        stack.recycle_wire(spare);
        let (wire, _) = stack.take_wire();
        assert!(wire.is_empty(), "emptied");
        assert!(wire.byte_capacity() >= 1 << 20, "its buffer kept");
        // A smaller one, or one while frames wait, changes nothing.
        stack.recycle_wire(Batch::new());
        assert_eq!(stack.take_wire().0.byte_capacity(), 0);
        stack.to_wire.push(b"waiting");
        let mut big = Batch::new();
        big.reserve(1 << 20, 1);
        stack.recycle_wire(big);
        assert_eq!(stack.take_wire().0.iter().next(), Some(&b"waiting"[..]));
    }
}
