//! `netstack`: the command line.

use std::time::Instant;

use anyhow::Result;
use clap::{Parser, Subcommand};
use netstack::stack::{Stack, StackConfig};
use netstack_wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

/// A TCP/IP stack whose protocol layers are WebAssembly components.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load and configure the stack (the default command).
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Our address and prefix length.
    #[arg(long, default_value = "10.0.2.15/24", value_parser = parse_cidr)]
    ip: Ipv4Cidr,
    /// The default gateway ("none" for no default route).
    #[arg(long, default_value = "10.0.2.2", value_parser = parse_gateway)]
    gw: Gateway,
    /// The NIC's MAC address.
    #[arg(long, default_value = "52:54:00:12:34:56", value_parser = parse_mac)]
    mac: EthernetAddress,
    /// The link MTU (68..=9000).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(68..=9000))]
    mtu: u32,
}

impl Default for RunArgs {
    fn default() -> Self {
        let d = StackConfig::default();
        RunArgs {
            ip: d.address,
            gw: Gateway(d.gateway),
            mac: d.mac,
            mtu: d.mtu,
        }
    }
}

fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    s.parse().map_err(|_| {
        format!("`{s}` is not an IPv4 address with a prefix length, like 10.0.2.15/24")
    })
}

/// `--gw`: an address, or `none` (clap would read a bare `Option` as "may be absent").
#[derive(Debug, Clone, Copy)]
struct Gateway(Option<Ipv4Address>);

fn parse_gateway(s: &str) -> Result<Gateway, String> {
    if s == "none" {
        return Ok(Gateway(None));
    }
    s.parse()
        .map(|a| Gateway(Some(a)))
        .map_err(|_| format!("`{s}` is not an IPv4 address (or `none`)"))
}

fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    let mac: EthernetAddress = s
        .parse()
        .map_err(|_| format!("`{s}` is not a MAC address, like 52:54:00:12:34:56"))?;
    if mac.is_multicast() {
        return Err(format!(
            "`{s}` is a group address; a NIC's address must be unicast"
        ));
    }
    Ok(mac)
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Run(args) => run(args),
    }
}

fn run(args: RunArgs) -> Result<()> {
    if let Gateway(Some(gw)) = args.gw {
        anyhow::ensure!(
            args.ip.contains(gw),
            "gateway {gw} is not on the network {}",
            args.ip.network()
        );
    }
    let config = StackConfig {
        address: args.ip,
        gateway: args.gw.0,
        mac: args.mac,
        mtu: args.mtu,
    };
    let clock = Instant::now();
    let mut stack = Stack::new(config, 0)?;
    let c = stack.config().clone();
    println!(
        "netstack {}: the stack is loaded and configured.",
        env!("CARGO_PKG_VERSION")
    );
    println!();
    println!("interface 0 (FTGMAC100 model): mac {} mtu {}", c.mac, c.mtu);
    println!("  inet {} brd {}", c.address, c.address.broadcast());
    println!();
    println!("Kernel IP routing table (from the ipv4 component)");
    println!(
        "{:<16} {:<16} {:<16} {:<6} {:<6} Iface",
        "Destination", "Gateway", "Genmask", "Flags", "Metric"
    );
    for (dest, gw, metric) in stack.routes()? {
        let flags = if gw.is_some() { "UG" } else { "U" };
        println!(
            "{:<16} {:<16} {:<16} {:<6} {:<6} eth0",
            dest.address().to_string(),
            gw.unwrap_or(Ipv4Address::UNSPECIFIED).to_string(),
            dest.netmask().to_string(),
            flags,
            metric
        );
    }
    println!();
    println!("components (wasm32-wasip2, compiled by wasmtime):");
    for l in stack.loads() {
        println!(
            "  {:<13} {:>8} KiB  compiled in {:>6.1} ms",
            l.name,
            l.wasm_bytes / 1024,
            l.compile_time.as_secs_f64() * 1e3
        );
    }
    println!("  tcp state format version {}", stack.tcp_state_version()?);
    println!();
    println!("started in {:.1} ms.", clock.elapsed().as_secs_f64() * 1e3);
    println!(
        "The data path (FTGMAC100 driver and device model, NAPI loop, stack router) lands with the next issues; \
         until then `netstack run` loads, configures and describes the stack, then exits."
    );
    Ok(())
}
