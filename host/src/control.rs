//! The control plane: `netstack ctl` talks to a running stack over a Unix socket. One request
//! per connection, a line naming the report (`route`, `neigh`, `stats`); the answer is text,
//! laid out like the Linux tool an operator would reach for.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use netstack_wire::{Ipv4Address, Ipv4Cidr};

use crate::stack::{NeighbourEntry, SwapReport};

/// The requests `ctl` can make.
pub const COMMANDS: &[&str] = &["route", "neigh", "ss", "stats", "swap"];

/// Where the control socket is unless `--control` says otherwise: `$XDG_RUNTIME_DIR/netstack.sock`,
/// or `/tmp/netstack-UID.sock`.
pub fn default_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("netstack.sock");
    }
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    PathBuf::from(format!("/tmp/netstack-{uid}.sock"))
}

/// What a hot swap did: what came in, how long traffic paused, what was carried over.
pub fn format_swap(r: &SwapReport) -> String {
    format!(
        "tcp swapped to {} ({} bytes, compiled in {:.1} ms before the pause)\n\
         paused {:.3} ms: {} sockets carried over in {} bytes of state (format v{} -> v{})\n",
        r.path,
        r.wasm_bytes,
        r.compile_time.as_secs_f64() * 1e3,
        r.pause.as_secs_f64() * 1e3,
        r.sockets,
        r.state_bytes,
        r.versions.0,
        r.versions.1,
    )
}

/// The routing table in `route -n`'s layout.
pub fn format_routes(routes: &[(Ipv4Cidr, Option<Ipv4Address>, u32)], iface: &str) -> String {
    let mut s = String::from("Kernel IP routing table\n");
    s += "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n";
    for (dest, gw, metric) in routes {
        let flags = if gw.is_some() { "UG" } else { "U" };
        let _ = writeln!(
            s,
            "{:<15} {:<15} {:<15} {:<5} {:<6} {:<6} {:>3} {}",
            dest.address().to_string(),
            gw.unwrap_or(Ipv4Address::UNSPECIFIED).to_string(),
            dest.netmask().to_string(),
            flags,
            metric,
            0,
            0,
            iface
        );
    }
    s
}

/// TCP's `timer:(KIND,@DEADLINE,COUNT)` (a deadline on the host's clock) as `ss -o` shows it,
/// with the time left: `timer:(on,196ms,0)`, `timer:(persist,1.2sec,3)`, `timer:(keepalive,119min,0)`.
/// Any other option is returned as it is.
fn timer_left(option: &str, now: u64) -> String {
    let parsed = option
        .strip_prefix("timer:(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|inner| {
            let mut parts = inner.split(',');
            let kind = parts.next()?;
            let at: u64 = parts.next()?.strip_prefix('@')?.parse().ok()?;
            let count = parts.next()?;
            Some((kind, at, count))
        });
    let Some((kind, at, count)) = parsed else {
        return option.to_string();
    };
    let left_ms = at.saturating_sub(now) / 1_000_000;
    let left = match left_ms {
        0..1_000 => format!("{left_ms}ms"),
        1_000..60_000 => format!("{:.1}sec", left_ms as f64 / 1e3),
        _ => format!("{}min", left_ms / 60_000),
    };
    format!("timer:({kind},{left},{count})")
}

/// The neighbour table in `ip neigh`'s layout.
pub fn format_neighbours(neighbours: &[NeighbourEntry], iface: &str) -> String {
    let mut s = String::new();
    for n in neighbours {
        let (ip, state) = (n.address, &n.state);
        match n.mac {
            Some(mac) => {
                let _ = writeln!(s, "{ip} dev {iface} lladdr {mac} {state}");
            }
            None => {
                let _ = writeln!(s, "{ip} dev {iface}  {state}");
            }
        }
    }
    s
}

/// TCP sockets in the layout of `ss -tino`: state, queues, endpoints, then rtt/rto/mss and the
/// pending timer with the time left until `now`.
pub fn format_sockets(
    sockets: &[crate::bindings::tcp::exports::netstack::stack::tcp::SocketInfo],
    now: u64,
) -> String {
    let ep = |e: &Option<crate::bindings::tcp::exports::netstack::stack::types::Endpoint>| match e {
        Some(e) => format!("{}:{}", netstack_wire::tuple::ipv4_from(e.address), e.port),
        None => "*:*".to_string(),
    };
    let mut s = format!(
        "{:<13} {:>6} {:>6} {:<21} {:<21}\n",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    for i in sockets {
        let _ = writeln!(
            s,
            "{:<13} {:>6} {:>6} {:<21} {:<21}",
            i.state,
            i.recv_queue,
            i.send_queue,
            ep(&i.local),
            ep(&i.remote)
        );
        if i.remote.is_some() {
            let ms = |ns: u64| ns as f64 / 1e6;
            let _ = write!(
                s,
                "\t {} rtt:{:.3} rto:{:.0} mss:{} cwnd:{} ssthresh:{}",
                i.options
                    .iter()
                    .map(|o| timer_left(o, now))
                    .collect::<Vec<_>>()
                    .join(" "),
                ms(i.srtt),
                ms(i.rto),
                i.mss,
                i.cwnd,
                i.ssthresh
            );
            if let Some(e) = &i.last_error {
                let _ = write!(s, " error:{e:?}");
            }
            s.push('\n');
        }
    }
    s
}

/// Counters grouped by who keeps them, one `name value` per line under a heading.
pub fn format_counters<'a>(
    groups: impl IntoIterator<Item = (&'a str, Vec<(String, u64)>)>,
) -> String {
    let mut s = String::new();
    for (group, counters) in groups {
        let _ = writeln!(s, "{group}:");
        for (name, value) in counters {
            let _ = writeln!(s, "    {name:<28} {value}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_layout_matches_route_n() {
        let routes = [
            ("10.0.2.0/24".parse().unwrap(), None, 0),
            (
                "0.0.0.0/0".parse().unwrap(),
                Some(Ipv4Address::new(10, 0, 2, 2)),
                0,
            ),
        ];
        let s = format_routes(&routes, "eth0");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[2],
            "10.0.2.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0"
        );
        assert_eq!(
            lines[3],
            "0.0.0.0         10.0.2.2        0.0.0.0         UG    0      0        0 eth0"
        );
    }

    #[test]
    fn timers_show_the_time_left_as_ss_does() {
        let ms = 1_000_000u64;
        assert_eq!(
            timer_left("timer:(on,@1196000000,0)", 1_000 * ms),
            "timer:(on,196ms,0)"
        );
        assert_eq!(
            timer_left("timer:(persist,@3200000000,3)", 2_000 * ms),
            "timer:(persist,1.2sec,3)"
        );
        assert_eq!(
            timer_left("timer:(keepalive,@7200000000000,0)", 60 * 1_000 * ms),
            "timer:(keepalive,119min,0)"
        );
        // Overdue (the turn that fires it has not run yet), and anything else untouched.
        assert_eq!(timer_left("timer:(on,@5,1)", 10), "timer:(on,0ms,1)");
        assert_eq!(timer_left("wscale:7,7", 0), "wscale:7,7");
    }

    #[test]
    fn neigh_layout_matches_ip_neigh() {
        let entry = |a: [u8; 4], mac: Option<[u8; 6]>, state: &str| NeighbourEntry {
            address: Ipv4Address::from(a),
            mac: mac.map(netstack_wire::EthernetAddress),
            state: state.to_string(),
            queued: 0,
        };
        let n = [
            entry([10, 0, 2, 2], Some([2, 0, 0, 0, 0, 2]), "REACHABLE"),
            entry([10, 0, 2, 3], None, "INCOMPLETE"),
        ];
        assert_eq!(
            format_neighbours(&n, "eth0"),
            "10.0.2.2 dev eth0 lladdr 02:00:00:00:00:02 REACHABLE\n10.0.2.3 dev eth0  INCOMPLETE\n"
        );
    }
}
