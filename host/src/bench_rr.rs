//! `netstack bench rr` and `netstack bench accept`: the latency-bound side of TCP, between two
//! whole netstack hosts in one process (as `bench tcp`), on a virtual clock, timed on the wall.
//!
//! - rr: one connection to the echo service; the client sends 64 bytes and waits for them to
//!   come back before sending again (netperf's TCP_RR), so every transaction crosses every
//!   layer four times and nothing is batched.
//! - accept: connections to the discard service, a few in flight at once; each is closed once
//!   established (the service accepts it, sees the end of the stream and closes too), so the
//!   figure is handshakes plus teardowns per second.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use nic_ftgmac100::wire::{Switch, SwitchPort};

use crate::bench::{CLIENT, SERVER, config};
use crate::node::Node;
use crate::services::{ServeSpec, Service};
use crate::stack::TcpReadiness;

/// The request and response size.
pub const RR_BYTES: usize = 64;

/// Connections in flight at once in `bench accept`.
pub const ACCEPT_PARALLEL: usize = 16;

/// Two hosts on a switch, the server running `service` on port 7, on a virtual clock.
struct Pair {
    server: Node<SwitchPort>,
    client: Node<SwitchPort>,
    now: u64,
}

impl Pair {
    fn new(service: Service) -> Result<Pair> {
        let sw = Switch::new();
        let serve = [ServeSpec { service, port: 7 }];
        Ok(Pair {
            server: Node::new(config(SERVER, 0x0f, 1500, true), sw.add_port(), &serve, 0)?,
            client: Node::new(config(CLIENT, 0x02, 1500, true), sw.add_port(), &[], 0)?,
            now: 0,
        })
    }

    /// One turn of both hosts; the virtual clock moves to the next deadline (1 µs at least, so
    /// the switch's frames arrive, and 1 ms at most). Returns the client's readiness events.
    fn turn(&mut self) -> Result<Vec<(u32, TcpReadiness)>> {
        let a = self.server.step(self.now)?;
        let b = self.client.step(self.now)?;
        self.now = a.min(b).clamp(self.now + 1_000, self.now + 1_000_000);
        Ok(self.client.take_app_events())
    }
}

/// What `bench rr` measured.
#[derive(Debug, Clone)]
pub struct RrBench {
    /// Transactions completed.
    pub transactions: u64,
    /// Wall time.
    pub seconds: f64,
    /// Turns of both hosts per transaction (each turn: NIC, every layer, services).
    pub turns_each: f64,
}

/// `rounds` 64-byte request/response transactions over one connection.
pub fn rr(rounds: u64) -> Result<RrBench> {
    let mut p = Pair::new(Service::Echo)?;
    let socket = p
        .client
        .stack
        .tcp_connect(p.now, (SERVER, 7))?
        .map_err(|e| anyhow!("connect: {e:?}"))?;
    p.client.stack.tcp_flush(p.now)?;
    let mut turns = 0;
    while !p
        .turn()?
        .iter()
        .any(|&(s, r)| s == socket && r.contains(TcpReadiness::CONNECTED))
    {
        turns += 1;
        if turns > 10_000 {
            bail!("the connection never came up");
        }
    }
    let request = [0x72u8; RR_BYTES];
    let start = Instant::now();
    let mut all_turns = 0u64;
    for round in 0..rounds {
        let sent = p.client.stack.tcp_send(p.now, socket, &request)?;
        if sent != Ok(RR_BYTES as u32) {
            bail!("round {round}: the request was not taken ({sent:?})");
        }
        p.client.stack.tcp_flush(p.now)?;
        let mut got = 0;
        let mut turns = 0;
        while got < RR_BYTES {
            turns += 1;
            if turns > 100_000 {
                bail!("round {round}: no response");
            }
            all_turns += 1;
            let events = p.turn()?;
            if events.iter().any(|&(s, _)| s == socket) {
                // Like netperf's TCP_RR, read until the response is in (not until a read
                // finds nothing: that would be one more crossing per transaction).
                while got < RR_BYTES {
                    let Ok(data) = p.client.stack.tcp_recv(p.now, socket, 4096)? else {
                        break;
                    };
                    if data.is_empty() {
                        bail!("round {round}: the server closed");
                    }
                    got += data.len();
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(RrBench {
        transactions: rounds,
        seconds,
        turns_each: all_turns as f64 / rounds as f64,
    })
}

/// What `bench accept` measured.
#[derive(Debug, Clone)]
pub struct AcceptBench {
    /// Connections established and closed.
    pub connections: u64,
    /// Wall time.
    pub seconds: f64,
    /// Connections the server's listener handed out (its TCP `passive-opens`).
    pub accepted: u64,
}

/// `count` connections to the discard service, [`ACCEPT_PARALLEL`] at a time, each closed
/// once established.
pub fn accept(count: u64) -> Result<AcceptBench> {
    let mut p = Pair::new(Service::Discard)?;
    let mut open: HashSet<u32> = HashSet::new();
    let (mut started, mut done) = (0u64, 0u64);
    let start = Instant::now();
    let mut idle = 0;
    while done < count {
        while open.len() < ACCEPT_PARALLEL && started < count {
            let s = p
                .client
                .stack
                .tcp_connect(p.now, (SERVER, 7))?
                .map_err(|e| anyhow!("connect {started}: {e:?}"))?;
            open.insert(s);
            started += 1;
        }
        p.client.stack.tcp_flush(p.now)?;
        let mut progressed = false;
        for (s, r) in p.turn()? {
            if !open.contains(&s) {
                continue;
            }
            if r.contains(TcpReadiness::CLOSED) && !r.contains(TcpReadiness::CONNECTED) {
                bail!("connection {s} failed");
            }
            if r.contains(TcpReadiness::CONNECTED) {
                // Closed at once: our FIN goes; the handle is released, the connection ends
                // its closing handshake (and TIME-WAIT) on its own.
                let _ = p.client.stack.tcp_close(p.now, s)?;
                open.remove(&s);
                done += 1;
                progressed = true;
            }
        }
        idle = if progressed { 0 } else { idle + 1 };
        if idle > 100_000 {
            bail!("stuck after {done} connections");
        }
    }
    // Let the last closes finish, so the server's count is complete.
    for _ in 0..200 {
        p.client.stack.tcp_flush(p.now)?;
        p.turn()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let accepted = p
        .server
        .stack
        .counters()?
        .iter()
        .find(|c| c.0 == "tcp" && c.1 == "passive-opens")
        .map(|c| c.2)
        .context("the server's passive-opens counter")?;
    Ok(AcceptBench {
        connections: done,
        seconds,
        accepted,
    })
}

/// Prints `bench rr`'s table.
pub fn print_rr(r: &RrBench) {
    println!(
        "two netstack hosts in one process, {RR_BYTES}-byte request/response over one TCP connection"
    );
    println!("| transactions | seconds | transactions/s | µs each | host turns each |");
    println!("|-------------:|--------:|---------------:|--------:|----------------:|");
    let rate = r.transactions as f64 / r.seconds;
    println!(
        "| {:>12} | {:>7.3} | {:>14.0} | {:>7.1} | {:>15.1} |",
        r.transactions,
        r.seconds,
        rate,
        1e6 / rate,
        r.turns_each
    );
    match crate::bench_smoltcp::rr(r.transactions) {
        Ok(seconds) => {
            let theirs = r.transactions as f64 / seconds;
            println!(
                "smoltcp 0.14, same transactions (native, no NIC model, no components): {theirs:.0} transactions/s; netstack/smoltcp = {:.3}",
                rate / theirs
            );
        }
        Err(e) => println!("smoltcp, same transactions: failed: {e:#}"),
    }
    println!("tcp rr: {rate:.0} transactions/s");
}

/// Prints `bench accept`'s table.
pub fn print_accept(r: &AcceptBench) {
    println!(
        "two netstack hosts in one process, connect + close to a listener, {ACCEPT_PARALLEL} in flight"
    );
    println!("| connections | accepted | seconds | connections/s |");
    println!("|------------:|---------:|--------:|--------------:|");
    let rate = r.connections as f64 / r.seconds;
    println!(
        "| {:>11} | {:>8} | {:>7.3} | {:>13.0} |",
        r.connections, r.accepted, r.seconds, rate
    );
    println!("tcp accept: {rate:.0} connections/s");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two hosts, the client's socket connecting to `service` (the handshake goes with the
    /// first turns).
    fn connecting(service: Service) -> (Pair, u32) {
        let mut p = Pair::new(service).unwrap();
        let socket = p.client.stack.tcp_connect(p.now, (SERVER, 7)).unwrap();
        p.client.stack.tcp_flush(p.now).unwrap();
        (p, socket.unwrap())
    }

    /// Reads all the client has received into `out`; true at the end of the stream.
    fn read_all(p: &mut Pair, socket: u32, out: &mut Vec<u8>) -> bool {
        while let Ok(data) = p.client.stack.tcp_recv(p.now, socket, 1 << 20).unwrap() {
            if data.is_empty() {
                return true;
            }
            out.extend(data);
        }
        false
    }

    #[test]
    fn a_service_writes_when_writable_and_stops_at_the_short_write() {
        // Chargen writes until TCP takes less than it offered, and only when the socket is
        // writable: a write after a short one, or on an event that is not writable (the one
        // saying the buffer just filled), would be refused, a crossing for nothing.
        let (mut p, socket) = connecting(Service::Chargen);
        let mut got = Vec::new();
        for _ in 0..200 {
            p.turn().unwrap();
            read_all(&mut p, socket, &mut got);
        }
        let server = p.server.stack.router_counters();
        assert!(got.len() > 1 << 20, "chargen sent {} bytes", got.len());
        // The one read at accept (for data that came with the handshake) finds nothing.
        assert_eq!(server.tcp_reads_refused, 1);
        assert!(server.tx_held_bytes > 1 << 20);
        assert_eq!(server.tcp_writes_refused, 0);
    }

    #[test]
    fn echo_reads_until_a_short_read_and_still_sees_the_end_of_the_stream() {
        let (mut p, socket) = connecting(Service::Echo);
        let mut back = Vec::new();
        for round in 0..10u8 {
            let sent = p.client.stack.tcp_send(p.now, socket, &[round; RR_BYTES]);
            assert_eq!(sent.unwrap(), Ok(RR_BYTES as u32));
            p.client.stack.tcp_flush(p.now).unwrap();
            for _ in 0..20 {
                p.turn().unwrap();
                read_all(&mut p, socket, &mut back);
            }
        }
        let sent: Vec<u8> = (0..10u8).flat_map(|r| [r; RR_BYTES]).collect();
        assert_eq!(back, sent, "every request echoed");
        // No read found nothing (but the one at accept, if the data was not there yet): each
        // stopped at the short read.
        assert!(p.server.stack.router_counters().tcp_reads_refused <= 1);
        // The client's FIN still reaches echo, which closes its side too.
        p.client.stack.tcp_shutdown(p.now, socket).unwrap().unwrap();
        p.client.stack.tcp_flush(p.now).unwrap();
        let mut closed = false;
        for _ in 0..50 {
            p.turn().unwrap();
            closed |= read_all(&mut p, socket, &mut back);
        }
        assert!(
            closed,
            "echo shut its side down after the end of the stream"
        );
    }
}
