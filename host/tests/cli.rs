//! The `netstack` command line: the README's run command starts and reports the stack as the
//! components see it; bad input is refused with a clear message.

use std::process::{Command, Output};

fn netstack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netstack"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

#[test]
fn run_prints_the_configured_stack() {
    let out = netstack(&["run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("mac 52:54:00:12:34:56 mtu 1500"),
        "{stdout}"
    );
    assert!(
        stdout.contains("inet 10.0.2.15/24 brd 10.0.2.255"),
        "{stdout}"
    );
    // The routes come back from the ipv4 component: connected, then default.
    let routes: Vec<&str> = stdout.lines().filter(|l| l.ends_with("eth0")).collect();
    assert_eq!(routes.len(), 2, "{stdout}");
    assert_eq!(
        routes[0],
        "10.0.2.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0"
    );
    assert_eq!(
        routes[1],
        "0.0.0.0         10.0.2.2        0.0.0.0         UG    0      0        0 eth0"
    );
    for name in ["ethernet-arp", "ipv4", "tcp", "udp"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(name) && l.contains("loaded in")),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn no_subcommand_means_run() {
    let out = netstack(&[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("the stack is loaded and configured"));
}

#[test]
fn options_change_the_configuration() {
    let out = netstack(&[
        "run",
        "--ip",
        "192.168.7.2/30",
        "--gw",
        "none",
        "--mac",
        "02:00:00:00:00:01",
        "--mtu",
        "9000",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("mac 02:00:00:00:00:01 mtu 9000"),
        "{stdout}"
    );
    let routes: Vec<&str> = stdout.lines().filter(|l| l.ends_with("eth0")).collect();
    assert_eq!(routes.len(), 1, "no default route: {stdout}");
    assert!(
        routes[0].starts_with("192.168.7.0     0.0.0.0         255.255.255.252"),
        "{}",
        routes[0]
    );
}

#[test]
fn bad_input_is_refused_clearly() {
    for (args, message) in [
        (
            &["run", "--ip", "10.0.2.15"][..],
            "is not an IPv4 address with a prefix length",
        ),
        (
            &["run", "--gw", "10.0.3.1"][..],
            "gateway 10.0.3.1 is not on the network 10.0.2.0/24",
        ),
        (
            &["run", "--mac", "ff:ff:ff:ff:ff:ff"][..],
            "is a group address",
        ),
        (&["run", "--mac", "52:54:00"][..], "is not a MAC address"),
        (&["run", "--mtu", "67"][..], "67 is not in 68..=9000"),
        (&["bench", "tcp", "--runs", "0"][..], "0 is not in 1..=100"),
        (
            &["run", "--net", "vde:x"][..],
            "unknown network `vde:x` (known: tap:NAME)",
        ),
        (
            &["run", "--impair", "loss=200"][..],
            "a percentage is 0..=100",
        ),
        (
            &["ctl", "route", "--control", "/nonexistent/netstack.sock"][..],
            "is `netstack run` running?",
        ),
    ] {
        let out = netstack(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// `netstack bench tcp` runs with either congestion control, with and without segmentation
/// offloads, ends with its summary line, and the MSS follows the MTU: a jumbo MTU carries the
/// same bytes in about a sixth of the frames. `--runs` gives a row per run and the medians.
#[test]
fn bench_tcp_reports_and_the_mss_follows_the_mtu() {
    // (frames, GSO super-segments, frames GRO merged) of one run.
    let run = |mtu: &str, cc: &str, extra: &[&str]| -> [u64; 3] {
        let mut args = vec![
            "bench", "tcp", "--mtu", mtu, "--bytes", "2000000", "--cc", cc,
        ];
        args.extend_from_slice(extra);
        let out = netstack(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.lines().last().unwrap().starts_with("tcp bulk: "),
            "{stdout}"
        );
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {mtu:>4} | {cc:<7} |")))
            .unwrap_or_else(|| panic!("no {cc} row: {stdout}"));
        let column = |i: usize| row.split('|').nth(i).unwrap().trim().parse().unwrap();
        [column(7), column(8), column(9)]
    };
    let (small, jumbo) = (run("1500", "newreno", &[]), run("9000", "newreno", &[]));
    assert!(
        small[0] > 1300 && jumbo[0] < 300,
        "1500: {small:?}, 9000: {jumbo:?}"
    );
    // With offloads, most frames left as parts of super-segments and arrived merged.
    assert!(small[1] > 0 && small[1] * 4 < small[0], "{small:?}");
    assert!(small[2] > small[0] / 2, "{small:?}");
    let plain = run("1500", "cubic", &["--no-offload"]);
    assert!(plain[0] > 1300 && plain[1..] == [0, 0], "{plain:?}");

    // Several runs: a row each, with smoltcp's figure beside it, and medians at the end.
    let out = netstack(&["bench", "tcp", "--bytes", "1000000", "--runs", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| 1500 |"))
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in rows {
        let ratio: f64 = row.split('|').nth(12).unwrap().trim().parse().unwrap();
        assert!(ratio > 0.0, "{row}");
    }
    assert!(
        stdout.contains("netstack/smoltcp = ")
            && stdout
                .lines()
                .last()
                .unwrap()
                .ends_with("Gbit/s (medians of 3 runs)"),
        "{stdout}"
    );
}

/// `netstack bench rr` and `netstack bench accept` complete every transaction and connection
/// (the server accepted each one) and end with their summary lines.
#[test]
fn bench_rr_and_accept_report_their_rates() {
    let out = netstack(&["bench", "rr", "--rounds", "200"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("|          200 |"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("tcp rr: "),
        "{stdout}"
    );
    let out = netstack(&["bench", "accept", "--conns", "100"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("|         100 |      100 |"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("tcp accept: "),
        "{stdout}"
    );
}
