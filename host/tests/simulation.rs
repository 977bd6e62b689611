//! Deterministic simulation: two whole netstack hosts (NIC model, driver, every component) on
//! the in-memory switch, on a virtual clock, with seeded loss, reordering, duplication and
//! corruption on both ports. A client on one host sends a random amount of data (seeded) to the
//! other's echo service and must get every byte back, in order; a failing seed is printed so it
//! can be replayed with `NETSTACK_SEED=N` (`NETSTACK_SEED=A..B` runs a range). Odd seeds send with CUBIC, even ones with NewReno.
//!
//! The same transfers run again with the TCP component hot-swapped mid-transfer, on the server
//! a third of the way through and on the client two thirds of the way (DESIGN.md §7): nothing
//! may be lost or reordered across the swaps either.

use netstack::bindings::tcp::exports::netstack::stack::tcp::{CongestionControl, SocketOption};
use netstack::node::Node;
use netstack::services::{ServeSpec, Service};
use netstack::stack::{StackConfig, TcpReadiness};
use netstack_wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};
use nic_ftgmac100::wire::{Impaired, PcapTap, PcapWriter, SplitMix64, Switch, SwitchPort, Wire};

const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const CLIENT: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const S: u64 = 1_000_000_000;

fn config(ip: Ipv4Address, mac: u8, offload: bool) -> StackConfig {
    StackConfig {
        address: Ipv4Cidr::new(ip, 24).unwrap(),
        gateway: None,
        mac: EthernetAddress([0x02, 0, 0, 0, 0, mac]),
        mtu: 1500,
        offload,
    }
}

/// The client's port, recorded to a pcap when `NETSTACK_PCAP=FILE` (to look at a failing seed).
fn client_wire(w: Impaired<SwitchPort>) -> Box<dyn Wire> {
    match std::env::var("NETSTACK_PCAP") {
        Ok(path) => {
            let file =
                std::io::BufWriter::new(std::fs::File::create(path).expect("create the pcap"));
            Box::new(PcapTap::new(
                w,
                PcapWriter::new(file).expect("write the pcap"),
                0,
            ))
        }
        Err(_) => Box::new(w),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs one seed, hot-swapping TCP on both hosts mid-transfer when `hot_swap`; `Err` says
/// what went wrong.
fn run(seed: u64, hot_swap: bool) -> Result<(), String> {
    let mut rng = SplitMix64::new(seed);
    // NETSTACK_IMPAIR replaces the impairments, to take one apart when a seed fails.
    let spec = std::env::var("NETSTACK_IMPAIR")
        .unwrap_or_else(|_| "loss=5,reorder=5,dup=1,corrupt=0.1".into());
    let impair = |s: u64| format!("{spec},seed={s}").parse().unwrap();
    let sw = Switch::new();
    // Seeds 0 and 1 mod 4 run with GSO/GRO, 2 and 3 without: both paths, both congestion
    // controls, face every impairment.
    let offload = seed % 4 < 2;
    let echo = [ServeSpec {
        service: Service::Echo,
        port: 7,
    }];
    let mut server: Node<Box<dyn Wire>> = Node::new(
        config(SERVER, 0x0f, offload),
        Box::new(Impaired::new(sw.add_port(), impair(seed))) as Box<dyn Wire>,
        &echo,
        0,
    )
    .map_err(err)?;
    let mut client: Node<Box<dyn Wire>> = Node::new(
        config(CLIENT, 0x02, offload),
        client_wire(Impaired::new(sw.add_port(), impair(seed ^ 0xabcd))),
        &[],
        0,
    )
    .map_err(err)?;

    let size = 1 + rng.below(96 * 1024) as usize;
    let data: Vec<u8> = (0..size).map(|_| rng.next_u64() as u8).collect();
    let mut now = 0;
    let socket = client
        .stack
        .tcp_connect(now, (SERVER, 7))
        .map_err(err)?
        .map_err(|e| format!("connect: {e:?}"))?;
    // Odd seeds send with CUBIC, even ones with NewReno: both face every impairment.
    if seed % 2 == 1 {
        client
            .stack
            .tcp_set_option(
                socket,
                SocketOption::CongestionControl(CongestionControl::Cubic),
            )
            .map_err(err)?
            .map_err(|e| format!("set cubic: {e:?}"))?;
    }
    client.stack.tcp_flush(now).map_err(err)?;
    let (mut sent, mut got, mut shut) = (0usize, Vec::with_capacity(size), false);
    let mut swaps_due = if hot_swap { 2 } else { 0 };
    while got.len() < size {
        if swaps_due == 2 && got.len() >= size / 3 {
            swap(&mut server, now)?;
            swaps_due = 1;
        }
        if swaps_due == 1 && got.len() >= size * 2 / 3 {
            swap(&mut client, now)?;
            swaps_due = 0;
        }
        if now > 900 * S {
            let ss = |n: &mut Node<Box<dyn Wire>>| -> Vec<String> {
                n.stack
                    .tcp_sockets()
                    .map(|v| {
                        v.iter()
                            .map(|i| {
                                format!(
                                    "{} rq {} sq {} cwnd {} ssthresh {} rto {}",
                                    i.state, i.recv_queue, i.send_queue, i.cwnd, i.ssthresh, i.rto
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            return Err(format!(
                "{size} bytes: only {} echoed after 900 s of virtual time; client {:?}; server {:?}",
                got.len(),
                ss(&mut client),
                ss(&mut server)
            ));
        }
        let next_server = server.step(now).map_err(err)?;
        let next_client = client.step(now).map_err(err)?;
        let mut acted = false;
        for (s, r) in client.take_app_events() {
            if s != socket {
                continue;
            }
            if r.contains(TcpReadiness::CLOSED) && got.len() < size {
                let why = client
                    .stack
                    .tcp_sockets()
                    .map_err(err)?
                    .into_iter()
                    .find(|i| i.socket == socket)
                    .and_then(|i| i.last_error);
                return Err(format!(
                    "{size} bytes: the connection closed ({why:?}) after {} echoed, {sent} sent, at {} ms",
                    got.len(),
                    now / 1_000_000
                ));
            }
            if r.contains(TcpReadiness::READABLE) {
                while let Ok(Ok(chunk)) = client.stack.tcp_recv(now, socket, 65536) {
                    if chunk.is_empty() {
                        break;
                    }
                    got.extend_from_slice(&chunk);
                    acted = true;
                }
            }
        }
        // Keep the send buffer full.
        while sent < size {
            match client
                .stack
                .tcp_send(now, socket, &data[sent..])
                .map_err(err)?
            {
                Ok(n) if n > 0 => {
                    sent += n as usize;
                    acted = true;
                }
                _ => break,
            }
        }
        if sent == size && !shut {
            client
                .stack
                .tcp_shutdown(now, socket)
                .map_err(err)?
                .map_err(|e| format!("shutdown: {e:?}"))?;
            shut = true;
            acted = true;
        }
        if acted {
            client.stack.tcp_flush(now).map_err(err)?;
            continue;
        }
        now = next_server.min(next_client).max(now + 100_000);
    }
    if got != data {
        let at = got.iter().zip(&data).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!(
            "{size} bytes echoed, first difference at byte {at}"
        ));
    }
    // The stack's frames went out mapped: the MAC read them where the stack built them (all
    // but the few shorter than a minimum frame, copied for their padding: ARP requests).
    let nic = client.station.driver().stats();
    if nic.tx_mapped * 2 < nic.tx_packets || nic.tx_mapped == 0 {
        return Err(format!(
            "{} of {} frames sent mapped",
            nic.tx_mapped, nic.tx_packets
        ));
    }
    Ok(())
}

/// Swaps a host's TCP component for a fresh instance of the same build: the state it carries
/// is all the new instance knows.
fn swap(node: &mut Node<Box<dyn Wire>>, now: u64) -> Result<(), String> {
    let report = node
        .stack
        .swap_tcp(now, netstack_artifacts::TCP)
        .map_err(|e| format!("swap: {e:#}"))?;
    if report.sockets == 0 {
        return Err("the swap carried no socket over".into());
    }
    Ok(())
}

#[test]
fn echo_transfers_survive_seeded_impairments() {
    run_seeds(200, false);
}

#[test]
fn echo_transfers_survive_hot_swaps_of_tcp_on_both_hosts() {
    run_seeds(20, true);
}

fn run_seeds(count: u64, hot_swap: bool) {
    // NETSTACK_SEED=N replays one seed; NETSTACK_SEED=A..B soaks a range (B excluded).
    let seeds: Vec<u64> = match std::env::var("NETSTACK_SEED") {
        Ok(s) => match s.split_once("..") {
            Some((a, b)) => {
                let bound = |n: &str| n.parse::<u64>().expect("NETSTACK_SEED=A..B, numbers");
                (bound(a)..bound(b)).collect()
            }
            None => vec![s.parse().expect("NETSTACK_SEED is a number or A..B")],
        },
        Err(_) => (1..=count).collect(),
    };
    let start = std::time::Instant::now();
    let failures: Vec<String> = seeds
        .iter()
        .filter_map(|&seed| {
            run(seed, hot_swap)
                .err()
                .map(|e| format!("seed {seed}: {e}"))
        })
        .collect();
    eprintln!("{} seeds in {:?}", seeds.len(), start.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed (replay one with NETSTACK_SEED=N):\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}
