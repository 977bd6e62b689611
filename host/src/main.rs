//! `netstack`: the command line.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use netstack::router::{self, Net, RunConfig};
use netstack::services::ServeSpec;
use netstack::stack::{Stack, StackConfig};
use netstack_wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};
use nic_ftgmac100::wire::ImpairSpec;

/// The process's heap: mimalloc's per-size free pages instead of glibc's malloc. Every crossing
/// of a component boundary allocates (wasmtime lifts each list the component returns into a
/// vector, the router builds its batches), ~110 blocks a `bench rr` transaction.
#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A TCP/IP stack whose protocol layers are WebAssembly components.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the stack (the default command). Without --net it loads, configures and describes
    /// the stack, then exits.
    Run(RunArgs),
    /// Ask a running stack for a report, over its control socket.
    Ctl(CtlArgs),
    /// Benchmarks (they print tables).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Bulk TCP between two netstack hosts in this process.
    Tcp {
        /// The link MTU.
        #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(576..=9000))]
        mtu: u32,
        /// Bytes to send.
        #[arg(long, default_value_t = 64 << 20)]
        bytes: u64,
        /// The sender's congestion control.
        #[arg(long, value_enum, default_value_t = Cc::Newreno)]
        cc: Cc,
        /// Without segmentation offloads (GSO and GRO), to measure what they bring.
        #[arg(long)]
        no_offload: bool,
        /// Runs, each followed by smoltcp's; the summary gives the medians (this machine's
        /// speed may change from one run to the next).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        runs: u32,
    },
    /// 64-byte request/response transactions over one TCP connection (netperf's TCP_RR).
    Rr {
        /// Transactions to run.
        #[arg(long, default_value_t = 20_000)]
        rounds: u64,
    },
    /// Connections accepted (established and closed) per second.
    Accept {
        /// Connections to make.
        #[arg(long, default_value_t = 2_000)]
        conns: u64,
    },
}

/// Congestion control algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Cc {
    /// RFC 9438.
    Cubic,
    /// RFC 5681 + RFC 6582.
    Newreno,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The network: `tap:NAME` opens (or creates) that TAP device in this network namespace.
    #[arg(long, value_parser = |s: &str| s.parse::<Net>())]
    net: Option<Net>,
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
    /// Turn off segmentation offloads: TCP sends MTU-sized segments (no GSO), and received
    /// frames go up one by one with their checksums checked by TCP (no GRO).
    #[arg(long)]
    no_offload: bool,
    /// Record the NIC's traffic to this file (nanosecond pcap).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Impair the wire both ways: loss=PCT,reorder=PCT,dup=PCT,corrupt=PCT,delay=MS,rate=MBIT,seed=N.
    #[arg(long, value_parser = |s: &str| s.parse::<ImpairSpec>().map_err(|e| e.to_string()))]
    impair: Option<ImpairSpec>,
    /// The control socket (default: $XDG_RUNTIME_DIR/netstack.sock or /tmp/netstack-UID.sock).
    #[arg(long)]
    control: Option<PathBuf>,
    /// A built-in TCP service, NAME:PORT with NAME echo, discard or chargen (repeatable).
    #[arg(long, value_parser = |s: &str| s.parse::<ServeSpec>())]
    serve: Vec<ServeSpec>,
    /// Netcat: connect to ADDR:PORT through the stack, send standard input (then a FIN), write
    /// what comes back to standard output, and stop once both ways are done.
    #[arg(long, value_name = "ADDR:PORT")]
    connect: Option<std::net::SocketAddrV4>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CtlCommand {
    /// The routing table, like `route -n`.
    Route,
    /// The neighbour table, like `ip neigh`.
    Neigh,
    /// TCP sockets, like `ss -tin`.
    Ss,
    /// Counters per layer, the NIC and the router.
    Stats,
    /// Hot-swaps the TCP component, open connections and all: the build given as COMPONENT,
    /// or the one this binary was built with.
    Swap,
}

#[derive(Debug, clap::Args)]
struct CtlArgs {
    /// What to show or do.
    what: CtlCommand,
    /// For `swap`: the TCP component (`.wasm`) to swap in.
    component: Option<PathBuf>,
    /// The control socket of the stack to ask.
    #[arg(long)]
    control: Option<PathBuf>,
}

impl Default for RunArgs {
    fn default() -> Self {
        let d = StackConfig::default();
        RunArgs {
            net: None,
            ip: d.address,
            gw: Gateway(d.gateway),
            mac: d.mac,
            mtu: d.mtu,
            no_offload: !d.offload,
            pcap: None,
            impair: None,
            control: None,
            serve: Vec::new(),
            connect: None,
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
        Command::Ctl(args) => ctl(args),
        Command::Bench(BenchCommand::Tcp {
            mtu,
            bytes,
            cc,
            no_offload,
            runs,
        }) => {
            let r = netstack::bench::tcp_runs(runs, bytes, mtu, cc == Cc::Cubic, !no_offload)?;
            netstack::bench::print_tcp(&r);
            Ok(())
        }
        Command::Bench(BenchCommand::Rr { rounds }) => {
            netstack::bench_rr::print_rr(&netstack::bench_rr::rr(rounds)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Accept { conns }) => {
            netstack::bench_rr::print_accept(&netstack::bench_rr::accept(conns)?);
            Ok(())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn ctl(args: CtlArgs) -> Result<()> {
    let path = args.control.unwrap_or_else(netstack::control::default_path);
    let what = match args.what {
        CtlCommand::Route => "route",
        CtlCommand::Neigh => "neigh",
        CtlCommand::Ss => "ss",
        CtlCommand::Stats => "stats",
        CtlCommand::Swap => "swap",
    };
    let request = match (&args.what, &args.component) {
        // The running stack may have another working directory: send an absolute path.
        (CtlCommand::Swap, Some(c)) => {
            let c = std::fs::canonicalize(c)
                .with_context(|| format!("the component {}", c.display()))?;
            format!("swap {}", c.display())
        }
        (_, Some(c)) => bail!("only `swap` takes a component, not {}", c.display()),
        (_, None) => what.to_string(),
    };
    let answer = runtime()?.block_on(router::request(&path, &request))?;
    if answer.starts_with("swap failed") {
        bail!("{}", answer.trim_end());
    }
    print!("{answer}");
    Ok(())
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
        offload: !args.no_offload,
    };
    let Some(net) = args.net else {
        return describe(config);
    };
    let run = RunConfig {
        stack: config,
        net,
        pcap: args.pcap,
        impair: args.impair,
        control: args.control.unwrap_or_else(netstack::control::default_path),
        serve: args.serve,
        connect: args.connect,
    };
    runtime()?.block_on(router::run(run, async {
        let _ = tokio::signal::ctrl_c().await;
    }))
}

/// Without a network: load and configure the stack, print what the components report, exit.
fn describe(config: StackConfig) -> Result<()> {
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
    print!(
        "{}",
        netstack::control::format_routes(&stack.routes()?, "eth0")
    );
    println!();
    println!("components (wasm32-wasip2, compiled by wasmtime):");
    for l in stack.loads() {
        println!(
            "  {:<13} {:>8} KiB  loaded in {:>6.1} ms",
            l.name,
            l.wasm_bytes / 1024,
            l.compile_time.as_secs_f64() * 1e3
        );
    }
    println!("  tcp state format version {}", stack.tcp_state_version()?);
    println!();
    println!("started in {:.1} ms.", clock.elapsed().as_secs_f64() * 1e3);
    println!(
        "No network was given: run with --net tap:NAME to put the stack on a TAP device (the \
         user-mode default network lands with a later issue)."
    );
    Ok(())
}
