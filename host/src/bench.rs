//! `netstack bench tcp`: two whole netstack hosts in one process (NIC models, drivers, every
//! component) on the in-memory switch, one sending a bulk stream to the other's discard service
//! on a virtual clock. Prints a table and, last, `tcp bulk: X Gbit/s` (wall-clock throughput).

use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use netstack_wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};
use nic_ftgmac100::wire::{Switch, SwitchPort, Wire};

use crate::bindings::tcp::exports::netstack::stack::tcp::SocketInfo;
use crate::node::Node;
use crate::services::{ServeSpec, Service};
use crate::stack::{Stack, StackConfig, TcpReadiness};

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

/// Virtual time without a byte acknowledged (or, once all are, without the close completing)
/// after which `bench tcp` gives up: the bench's switch loses nothing, so even one
/// retransmission timeout is a fault, and 30 s hold four retransmissions backed off from RFC
/// 6298's initial 1 s (at 1, 3, 7 and 15 s).
pub const STALL_NS: u64 = 30_000_000_000;

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
    /// Received data bytes the receiver's discard read where they arrived (lent to its
    /// stream, docs/zero-copy.md), and those it copied into the stream.
    pub rx_lent_bytes: u64,
    pub rx_copied_bytes: u64,
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
    let client_wire = sw.add_port();
    transfer(&sw, client_wire, bytes, mtu, cubic, offload)
}

/// [`tcp`] with the client on `client_wire` (a port of `sw`, or one impaired): fails, with
/// the sender's view of the connection, when it stalls for [`STALL_NS`] of virtual time.
fn transfer<W: Wire>(
    sw: &Switch,
    client_wire: W,
    bytes: u64,
    mtu: u32,
    cubic: bool,
    offload: bool,
) -> Result<TcpBench> {
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
    let mut client: Node<W> = Node::new(config(CLIENT, 0x02, mtu, offload), client_wire, &[], 0)?;
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
    // The most bytes acknowledged so far (the host drops them), and when that last grew.
    let (mut acked, mut progress_at) = (0u64, now);
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
            let info = socket_info(&mut client.stack, socket)?;
            if info.send_queue == 0
                && matches!(info.state.as_str(), "FIN-WAIT-2" | "TIME-WAIT" | "CLOSED")
            {
                break;
            }
        }
        let acked_now = sent - client.stack.tcp_held_bytes() as u64;
        if acked_now > acked {
            (acked, progress_at) = (acked_now, now);
        } else if now - progress_at > STALL_NS {
            let info = socket_info(&mut client.stack, socket)?;
            bail!(
                "stalled: no progress for {} s of virtual time; {acked} of {bytes} bytes \
                 acknowledged, the sender in {} with {} bytes queued, rto {} ms, \
                 cwnd {}",
                STALL_NS / 1_000_000_000,
                info.state,
                info.send_queue,
                info.rto / 1_000_000,
                info.cwnd
            );
        }
        // Virtual time: on to the next deadline, or a link's worth later.
        now = a.min(b).clamp(now + 1_000, now + 1_000_000);
    }
    let seconds = start.elapsed().as_secs_f64();
    let rx = server.stack.router_counters();
    Ok(TcpBench {
        bytes,
        seconds,
        frames: client.station.driver().stats().tx_packets,
        calls: client.stack.router_counters().calls,
        cc: if cubic { "cubic" } else { "newreno" },
        offload,
        gro_merged: server.gro_merged(),
        gso_supers: client.gso_cut().0,
        // Lent bytes a reader left for a turn were copied after all (settled).
        rx_lent_bytes: rx.rx_lent_bytes - rx.rx_settled_bytes,
        rx_copied_bytes: rx.rx_held_bytes - rx.rx_lent_bytes + rx.rx_settled_bytes,
    })
}

/// What `ss` shows of `socket`.
fn socket_info(stack: &mut Stack, socket: u32) -> Result<SocketInfo> {
    (stack.tcp_sockets()?.into_iter())
        .find(|i| i.socket == socket)
        .context("the socket")
}

/// One run of `netstack bench tcp`: netstack's transfer, then the same between two smoltcp
/// stacks right after it (so both see the machine at about the same speed).
#[derive(Debug, Clone)]
pub struct TcpRun {
    /// The MTU.
    pub mtu: u32,
    /// netstack's transfer.
    pub netstack: TcpBench,
    /// smoltcp's Gbit/s, or why it failed.
    pub smoltcp: Result<f64, String>,
}

impl TcpRun {
    /// netstack's Gbit/s over smoltcp's.
    pub fn ratio(&self) -> Option<f64> {
        self.smoltcp
            .as_ref()
            .ok()
            .map(|theirs| self.netstack.gbit_per_s() / theirs)
    }
}

/// Runs `netstack bench tcp` `runs` times, each followed by smoltcp's run of the same transfer.
pub fn tcp_runs(
    runs: u32,
    bytes: u64,
    mtu: u32,
    cubic: bool,
    offload: bool,
) -> Result<Vec<TcpRun>> {
    (0..runs)
        .map(|_| {
            let netstack = tcp(bytes, mtu, cubic, offload)?;
            let smoltcp = crate::bench_smoltcp::tcp(bytes, mtu)
                .map(|seconds| bytes as f64 * 8.0 / seconds / 1e9)
                .map_err(|e| format!("{e:#}"));
            Ok(TcpRun {
                mtu,
                netstack,
                smoltcp,
            })
        })
        .collect()
}

/// The median (the mean of the middle two of an even count); `None` for none.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Prints the table for `netstack bench tcp`: a row per run, then smoltcp's figure and the
/// ratio, and last `tcp bulk: X Gbit/s`; over several runs, each figure is the median (the
/// ratio's of the runs' own ratios: this machine's speed changes from one run to the next).
pub fn print_tcp(runs: &[TcpRun]) {
    println!(
        "two netstack hosts in one process, bulk TCP to discard (virtual clock, wall-clock rate); \
         each run then the same transfer between two smoltcp 0.14 stacks (native, no NIC model, \
         no components)"
    );
    println!(
        "| MTU  | cc      | GSO/GRO |     bytes | seconds | Gbit/s | frames  | GSO supers | GRO merged | calls link/ipv4/tcp | smoltcp Gbit/s | netstack/smoltcp |"
    );
    println!(
        "|-----:|---------|---------|----------:|--------:|-------:|--------:|-----------:|-----------:|---------------------|---------------:|-----------------:|"
    );
    for run in runs {
        let r = &run.netstack;
        let (theirs, ratio) = match (&run.smoltcp, run.ratio()) {
            (Ok(g), Some(q)) => (format!("{g:.2}"), format!("{q:.3}")),
            _ => ("failed".to_string(), "-".to_string()),
        };
        println!(
            "| {:>4} | {:<7} | {:<7} | {:>9} | {:>7.3} | {:>6.2} | {:>7} | {:>10} | {:>10} | {}/{}/{} | {theirs:>14} | {ratio:>16} |",
            run.mtu,
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
    for run in runs {
        if let Err(e) = &run.smoltcp {
            println!("smoltcp, same transfer: failed: {e}");
        }
    }
    let ours = median(runs.iter().map(|r| r.netstack.gbit_per_s()).collect());
    let theirs = median(runs.iter().filter_map(|r| r.smoltcp.clone().ok()).collect());
    let ratio = median(runs.iter().filter_map(TcpRun::ratio).collect());
    let Some(ours) = ours else { return };
    let of = if runs.len() > 1 {
        format!(" (medians of {} runs)", runs.len())
    } else {
        String::new()
    };
    if let (Some(theirs), Some(ratio)) = (theirs, ratio) {
        println!(
            "smoltcp 0.14, same transfer (native, no NIC model, no components): {theirs:.2} Gbit/s; netstack/smoltcp = {ratio:.3}{of}"
        );
    }
    println!("tcp bulk: {ours:.2} Gbit/s{of}");
}

#[cfg(test)]
mod tests {
    use nic_ftgmac100::wire::{Impaired, Switch};

    use super::{median, tcp, transfer};

    #[test]
    fn a_bulk_receiver_reads_the_bytes_where_they_arrived() {
        // The receive fast path (docs/zero-copy.md): TCP's segments stay in the frames they
        // came in, which are lent to the stream; a reader that keeps up copies nothing. Were
        // they copied on the way (a slow path taken by mistake), the bulk figure would drop by
        // a fifth with every byte still right, so it is checked here, with GRO and without.
        for offload in [true, false] {
            let r = tcp(3_000_000, 1500, false, offload).unwrap();
            let lent = r.rx_lent_bytes as f64 / r.bytes as f64;
            assert!(lent > 0.99, "GSO/GRO {offload}: {r:?}");
            assert!(
                r.rx_copied_bytes < r.bytes / 100,
                "GSO/GRO {offload}: {r:?}"
            );
        }
    }

    #[test]
    fn a_transfer_that_stops_moving_fails_with_the_senders_view() {
        // Every client frame lost: the SYN never gets through, nothing is acknowledged.
        let sw = Switch::new();
        let lossy = Impaired::new(sw.add_port(), "loss=100,seed=1".parse().unwrap());
        let err = transfer(&sw, lossy, 1_000_000, 1500, false, true).unwrap_err();
        let why = format!("{err:#}");
        assert!(why.starts_with("stalled: no progress for 30 s"), "{why}");
        assert!(why.contains("0 of 1000000 bytes acknowledged"), "{why}");
        assert!(why.contains("SYN-SENT"), "{why}");
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0]), Some(3.0));
        assert_eq!(median(vec![9.0, 1.0, 4.0]), Some(4.0));
        assert_eq!(median(vec![9.0, 1.0, 4.0, 2.0]), Some(3.0));
    }
}
