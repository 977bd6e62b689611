//! `netstack bench tcp`: two whole netstack hosts in one process (NIC models, drivers, every
//! component) on the in-memory switch, one sending a bulk stream to the other's discard service
//! on a virtual clock. Prints a table and, last, `tcp bulk: X Gbit/s` (wall-clock throughput).

use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use netstack_wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};
use nic_ftgmac100::wire::{Switch, SwitchPort};

use crate::node::Node;
use crate::services::{ServeSpec, Service};
use crate::stack::{StackConfig, TcpReadiness};

pub(crate) const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
pub(crate) const CLIENT: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// One of the two benchmark hosts: `ip`/24, MAC 02:00:00:00:00:`mac`, no gateway.
pub(crate) fn config(ip: Ipv4Address, mac: u8, mtu: u32, offload: bool) -> StackConfig {
    StackConfig {
        address: Ipv4Cidr::new(ip, 24).expect("24 is a valid prefix"),
        gateway: None,
        mac: EthernetAddress([0x02, 0, 0, 0, 0, mac]),
        mtu,
        offload,
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct TcpBench {
    /// Bytes delivered.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Frames the sender's NIC sent.
    pub frames: u64,
    /// Calls into the sender's layers (link, ipv4, tcp, udp).
    pub calls: [u64; 4],
    /// The sender's congestion control.
    pub cc: &'static str,
    /// GSO and GRO on.
    pub offload: bool,
    /// Received frames that GRO merged into others, at the receiver.
    pub gro_merged: u64,
    /// Super-segments the sender's TCP sent (GSO), cut into frames by its host.
    pub gso_supers: u64,
}

impl TcpBench {
    /// Gbit/s of payload.
    pub fn gbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds / 1e9
    }
}

/// Sends `bytes` from one host to the other's discard service, with CUBIC or NewReno, with
/// or without GSO/GRO.
pub fn tcp(bytes: u64, mtu: u32, cubic: bool, offload: bool) -> Result<TcpBench> {
    let sw = Switch::new();
    let discard = [ServeSpec {
        service: Service::Discard,
        port: 9,
    }];
    let mut server: Node<SwitchPort> = Node::new(
        config(SERVER, 0x0f, mtu, offload),
        sw.add_port(),
        &discard,
        0,
    )?;
    let mut client: Node<SwitchPort> =
        Node::new(config(CLIENT, 0x02, mtu, offload), sw.add_port(), &[], 0)?;
    let mut now = 0u64;
    let socket = client
        .stack
        .tcp_connect(now, (SERVER, 9))?
        .map_err(|e| anyhow::anyhow!("connect: {e:?}"))?;
    use crate::bindings::tcp::exports::netstack::stack::tcp::{CongestionControl, SocketOption};
    let cc = if cubic {
        CongestionControl::Cubic
    } else {
        CongestionControl::NewReno
    };
    client
        .stack
        .tcp_set_option(socket, SocketOption::CongestionControl(cc))?
        .map_err(|e| anyhow::anyhow!("congestion control: {e:?}"))?;
    client.stack.tcp_flush(now)?;
    let chunk = vec![0x5au8; 256 * 1024];
    let mut sent = 0u64;
    let mut shut = false;
    let start = Instant::now();
    let mut turns = 0u64;
    loop {
        turns += 1;
        let a = server.step(now)?;
        let b = client.step(now)?;
        let mut acted = false;
        for (s, r) in client.take_app_events() {
            if s == socket && r.contains(TcpReadiness::CLOSED) && !shut {
                bail!("the connection closed after {sent} bytes");
            }
        }
        while sent < bytes {
            let n = chunk.len().min((bytes - sent) as usize);
            match client.stack.tcp_send(now, socket, &chunk[..n])? {
                Ok(taken) if taken > 0 => {
                    sent += u64::from(taken);
                    acted = true;
                    // A short write filled the send buffer: the next would be refused.
                    if (taken as usize) < n {
                        break;
                    }
                }
                _ => break,
            }
        }
        if sent == bytes && !shut {
            client
                .stack
                .tcp_shutdown(now, socket)?
                .map_err(|e| anyhow::anyhow!("shutdown: {e:?}"))?;
            shut = true;
            acted = true;
        }
        if acted {
            client.stack.tcp_flush(now)?;
        }
        // Done when the sender's queue is empty and its FIN is acknowledged.
        if shut && turns.is_multiple_of(64) {
            let info = client
                .stack
                .tcp_sockets()?
                .into_iter()
                .find(|i| i.socket == socket)
                .context("the socket")?;
            if info.send_queue == 0
                && matches!(info.state.as_str(), "FIN-WAIT-2" | "TIME-WAIT" | "CLOSED")
            {
                break;
            }
        }
        // Virtual time: on to the next deadline, or a link's worth later.
        now = a.min(b).clamp(now + 1_000, now + 1_000_000);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(TcpBench {
        bytes,
        seconds,
        frames: client.station.driver().stats().tx_packets,
        calls: client.stack.router_counters().calls,
        cc: if cubic { "cubic" } else { "newreno" },
        offload,
        gro_merged: server.gro_merged(),
        gso_supers: client.gso_cut().0,
    })
}

/// Prints the table for `netstack bench tcp`.
pub fn print_tcp(results: &[(u32, TcpBench)]) {
    println!(
        "two netstack hosts in one process, bulk TCP to discard (virtual clock, wall-clock rate)"
    );
    println!(
        "| MTU  | cc      | GSO/GRO |     bytes | seconds | Gbit/s | frames  | GSO supers | GRO merged | calls link/ipv4/tcp |"
    );
    println!(
        "|-----:|---------|---------|----------:|--------:|-------:|--------:|-----------:|-----------:|---------------------|"
    );
    for (mtu, r) in results {
        println!(
            "| {:>4} | {:<7} | {:<7} | {:>9} | {:>7.3} | {:>6.2} | {:>7} | {:>10} | {:>10} | {}/{}/{} |",
            mtu,
            r.cc,
            if r.offload { "on" } else { "off" },
            r.bytes,
            r.seconds,
            r.gbit_per_s(),
            r.frames,
            r.gso_supers,
            r.gro_merged,
            r.calls[0],
            r.calls[1],
            r.calls[2]
        );
    }
    if let Some((mtu, last)) = results.last() {
        // The same transfer between two smoltcp stacks, side by side.
        match crate::bench_smoltcp::tcp(last.bytes, *mtu) {
            Ok(seconds) => {
                let theirs = last.bytes as f64 * 8.0 / seconds / 1e9;
                println!(
                    "smoltcp 0.14, same transfer (native, no NIC model, no components): {theirs:.2} Gbit/s; netstack/smoltcp = {:.3}",
                    last.gbit_per_s() / theirs
                );
            }
            Err(e) => println!("smoltcp, same transfer: failed: {e:#}"),
        }
        println!("tcp bulk: {:.2} Gbit/s", last.gbit_per_s());
    }
}
