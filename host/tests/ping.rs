//! `netstack run` on a TAP device in a network namespace this test makes, against the Linux
//! kernel there: ping (plain, fragmented both ways, flood), the neighbour tables on both sides,
//! `netstack ctl`, and the capture read by tshark. Needs root, iproute2, ping and tshark (CI has
//! them; `bash .ci/run` installs the packages).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{ok, run, setup};

/// `ping`'s summary: (transmitted, received, "min/avg/max").
fn ping(ns: &str, args: &[&str]) -> (u32, u32, String) {
    let mut cmd = vec!["ip", "netns", "exec", ns, "ping", "-q", "-W", "2"];
    cmd.extend_from_slice(args);
    cmd.push("10.0.2.15");
    let text = ok(&cmd);
    let stats = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .expect("a summary line");
    let nums: Vec<u32> = stats
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    let rtt = text
        .lines()
        .find(|l| l.starts_with("rtt"))
        .map(|l| {
            l.split(" = ")
                .nth(1)
                .unwrap_or("")
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    (nums[0], nums[1], rtt)
}

#[test]
fn linux_pings_the_stack_over_tap() {
    let id = std::process::id();
    let dir = std::env::temp_dir();
    let pcap: PathBuf = dir.join(format!("netstack-ping-{id}.pcap"));
    let sock: PathBuf = dir.join(format!("netstack-ping-{id}.sock"));
    let (ns, mut stack, tap) = setup(
        "ping",
        &[
            "--pcap",
            pcap.to_str().unwrap(),
            "--control",
            sock.to_str().unwrap(),
        ],
    );

    let (sent, got, rtt) = ping(&ns.0, &["-c", "50", "-i", "0.01"]);
    assert_eq!((sent, got), (50, 50), "ping -c 50: no loss");
    eprintln!("ping -c 50: rtt min/avg/max {rtt} ms");
    let (sent, got, _) = ping(&ns.0, &["-c", "10", "-i", "0.05", "-s", "4000"]);
    assert_eq!((sent, got), (10, 10), "ping -s 4000: fragmented both ways");
    let t = Instant::now();
    let (sent, got, rtt) = ping(&ns.0, &["-f", "-c", "5000"]);
    assert_eq!((sent, got), (5000, 5000), "ping -f -c 5000: no loss");
    eprintln!(
        "ping -f -c 5000: {:?}, {:.0} echoes/s, rtt {rtt} ms",
        t.elapsed(),
        5000.0 / t.elapsed().as_secs_f64()
    );

    let linux_neigh = ok(&["ip", "-n", &ns.0, "neigh", "show", "10.0.2.15"]);
    assert!(
        linux_neigh.contains("52:54:00:12:34:56"),
        "Linux's ip neigh: {linux_neigh}"
    );
    let tap_mac = ok(&["ip", "-n", &ns.0, "-br", "link", "show", &tap]);
    let tap_mac = tap_mac.split_whitespace().nth(2).unwrap().to_string();
    let ctl = |what: &str| common::ctl(sock.to_str().unwrap(), what);
    let neigh = ctl("neigh");
    assert!(
        neigh.contains(&format!("10.0.2.2 dev eth0 lladdr {tap_mac}")),
        "netstack ctl neigh: {neigh}\n(tap {tap_mac})"
    );
    let routes = ctl("route");
    assert!(
        routes.contains("10.0.2.0        0.0.0.0         255.255.255.0   U"),
        "{routes}"
    );
    assert!(
        routes.contains("0.0.0.0         10.0.2.2        0.0.0.0         UG"),
        "{routes}"
    );
    let stats = ctl("stats");
    assert!(stats.contains("icmp-out-echo-reps"), "{stats}");

    stack.stop();
    let bad = ok(&[
        "tshark",
        "-n",
        "-r",
        pcap.to_str().unwrap(),
        "-o",
        "ip.check_checksum:TRUE",
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\"",
    ]);
    assert!(
        bad.trim().is_empty(),
        "malformed or bad-checksum frames in the capture:\n{bad}"
    );
    let frames = ok(&["tshark", "-n", "-r", pcap.to_str().unwrap()])
        .lines()
        .count();
    assert!(
        frames > 10_000,
        "the capture holds the run: {frames} frames"
    );
    let _ = std::fs::remove_file(&pcap);
}

/// `--impair` applies to the wire both ways: with 20% loss each way an echo survives with
/// probability 0.64, and the impairment's counters (`netstack ctl stats`, group `wire`) say
/// it saw the requests and the replies and dropped a fifth of them.
#[test]
fn impaired_wire_loses_what_the_spec_says() {
    let sock = std::env::temp_dir().join(format!("netstack-impair-{}.sock", std::process::id()));
    let (ns, _stack, _tap) = setup(
        "imp",
        &[
            "--impair",
            "loss=20,seed=7",
            "--control",
            sock.to_str().unwrap(),
        ],
    );
    let out = run(&[
        "ip",
        "netns",
        "exec",
        &ns.0,
        "ping",
        "-q",
        "-c",
        "200",
        "-i",
        "0.005",
        "-W",
        "1",
        "10.0.2.15",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let stats = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .expect("a summary line");
    let got: u32 = stats
        .split(", ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // 200 × 0.64 = 128; ARP may cost a few more at the start, and a loaded machine some
    // more (the TAP device's queue): the counters below check the impairment itself.
    assert!(
        (60..=160).contains(&got),
        "{got} of 200 echoes came back: {stats}"
    );
    let counters = common::ctl(sock.to_str().unwrap(), "stats");
    let counter = |name| common::stat(&counters, name);
    let (frames, lost) = (counter("impair-frames"), counter("impair-lost"));
    eprintln!("impaired: {got} of 200 echoes back; the wire lost {lost} of {frames} frames");
    // Both ways: the 200 requests and ~160 replies (one way alone would be ≤ 200 frames).
    assert!(
        frames >= 300,
        "the impairment saw {frames} frames\n{counters}"
    );
    let share = lost as f64 / frames as f64;
    assert!(
        (0.14..=0.26).contains(&share),
        "{lost} of {frames} frames lost\n{counters}"
    );
}
