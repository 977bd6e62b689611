//! The model on a Linux TAP device in a network namespace this test makes: Linux's frames reach
//! the driver (its ARP requests when `ping` runs in the namespace), and frames the driver sends
//! reach Linux (our ARP reply lands in its neighbour table, then its pings come to our MAC).
//! Needs root (CI runs as root), iproute2 and ping.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use netstack_wire::{
    ArpOperation, ArpPacket, ArpRepr, Batch, EtherType, EthernetAddress, EthernetFrame, IpProtocol,
    Ipv4Address, Ipv4Packet, build,
};
use nic_ftgmac100::station::{Station, StationConfig};
use nic_ftgmac100::wire::Tap;

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x77, 0x00, 0x02]);
const LINUX_IP: Ipv4Address = Ipv4Address::new(10, 77, 0, 1);
const OUR_IP: Ipv4Address = Ipv4Address::new(10, 77, 0, 2);

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespace, deleted (with the TAP device in it) however the test ends.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process, killed however the test ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn linux_and_the_model_talk_over_tap() {
    let id = std::process::id();
    let ns = Netns(format!("nstap{id}"));
    let ifname = format!("tapn{}", id % 1_000_000);
    sh(&["ip", "netns", "add", &ns.0]);
    // Made here, then moved into the namespace: the fd stays bound to it.
    let tap = Tap::open(&ifname).expect("open a TAP device (needs root)");
    sh(&["ip", "link", "set", &ifname, "netns", &ns.0]);
    sh(&[
        "ip",
        "-n",
        &ns.0,
        "addr",
        "add",
        &format!("{LINUX_IP}/24"),
        "dev",
        &ifname,
    ]);
    sh(&["ip", "-n", &ns.0, "link", "set", &ifname, "up"]);

    let start = Instant::now();
    let now = || start.elapsed().as_nanos() as u64;
    let config = StationConfig {
        mac: OUR_MAC,
        ..StationConfig::default()
    };
    let mut station = Station::new(&config, tap, now()).unwrap();
    let _ping = Kill(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                "ping",
                "-c",
                "20",
                "-i",
                "0.2",
                "-W",
                "1",
                &OUR_IP.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );

    let (mut arp_requests, mut echo_requests) = (0, 0);
    while start.elapsed() < Duration::from_secs(10) && echo_requests < 2 {
        let mut replies = Batch::new();
        station
            .step(now(), &mut |rx| {
                for f in rx.frames.iter() {
                    let eth = EthernetFrame::new_checked(f).unwrap();
                    match eth.ethertype() {
                        EtherType::Arp => {
                            let arp =
                                ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap())
                                    .unwrap();
                            if arp.operation == ArpOperation::Request
                                && arp.target_protocol_addr == OUR_IP
                            {
                                arp_requests += 1;
                                let reply = ArpRepr {
                                    operation: ArpOperation::Reply,
                                    source_hardware_addr: OUR_MAC,
                                    source_protocol_addr: OUR_IP,
                                    target_hardware_addr: arp.source_hardware_addr,
                                    target_protocol_addr: arp.source_protocol_addr,
                                };
                                replies.push(&build::arp_frame(arp.source_hardware_addr, &reply));
                            }
                        }
                        EtherType::Ipv4 if eth.dst_addr() == OUR_MAC => {
                            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                            if ip.protocol() == IpProtocol::Icmp
                                && ip.dst_addr() == OUR_IP
                                && ip.payload()[0] == 8
                            {
                                echo_requests += 1;
                            }
                        }
                        _ => {}
                    }
                }
            })
            .unwrap();
        if !replies.is_empty() {
            station.transmit(now(), &replies).unwrap();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        arp_requests >= 1,
        "Linux's ARP request never reached the driver"
    );
    assert!(
        echo_requests >= 2,
        "Linux never sent its pings to our MAC: our ARP reply did not reach it"
    );
    let neigh = sh(&["ip", "-n", &ns.0, "neigh", "show", &OUR_IP.to_string()]);
    assert!(
        neigh.contains(&OUR_MAC.to_string()),
        "Linux's neighbour table: {neigh}"
    );
    let s = station.driver().stats();
    assert!(s.rx_packets >= 3 && s.tx_packets >= 1, "{s:?}");
}
