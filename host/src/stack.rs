//! One instance of every protocol layer, configured as one host on a network.
//!
//! Each component lives in a store of its own, so that a layer can be swapped or restarted
//! without touching the others (DESIGN.md §7). The stack router that moves packets between them
//! arrives with the Ethernet/ARP + IPv4 issue; for now the stack is instantiated, configured and
//! can describe itself.

use std::fmt;
use std::time::Duration;

use netstack_wire::tuple::{ipv4_from, ipv4_to, mac_to};
use netstack_wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};
use wasmtime::Store;
use wasmtime::error::Context as _;
use wasmtime::{Result, format_err};

use crate::bindings::{ethernet_arp, ipv4, tcp, udp};
use crate::components::{self, ComponentState};

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

/// Every layer, instantiated and configured.
pub struct Stack {
    config: StackConfig,
    link: Layer<ethernet_arp::EthernetArpComponent>,
    ipv4: Layer<ipv4::Ipv4Component>,
    tcp: Layer<tcp::TcpComponent>,
    udp: Layer<udp::UdpComponent>,
    loads: Vec<LoadReport>,
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
            link,
            ipv4,
            tcp,
            udp,
            loads,
        };
        stack.configure(now)?;
        Ok(stack)
    }

    fn configure(&mut self, now: u64) -> Result<()> {
        let cfg = &self.config;
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
        // The gratuitous ARP this returns goes nowhere yet: there is no NIC until the router lands.
        bindings
            .netstack_stack_link()
            .call_configure(&mut *store, now, &link_cfg)?
            .map_err(|e| layer_error("configure ethernet-arp", e))?;

        let Layer { store, bindings } = &mut self.ipv4;
        let ip = bindings.netstack_stack_ipv4();
        ip.call_add_address(&mut *store, 0, cidr)
            .context("add address")?
            .map_err(|e| layer_error("add address", e))?;
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

    /// The TCP component's hot-swap state format version.
    pub fn tcp_state_version(&mut self) -> Result<u32> {
        let Layer { store, bindings } = &mut self.tcp;
        bindings
            .netstack_stack_state()
            .call_state_version(&mut *store)
    }
}
