//! What the interop tests share: a network namespace of their own with `netstack run` on a TAP
//! device in it and Linux at 10.0.2.2 on the other side, all torn down however a test ends.

#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The namespace and everything in it, removed however the test ends.
pub struct Netns(pub String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The stack, stopped with SIGINT (so it flushes its capture) however the test ends.
pub struct Netstack(pub Child);

impl Netstack {
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Netstack {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `netstack ctl WHAT` against the running stack's control socket; its output.
pub fn ctl(control: &str, what: &str) -> String {
    ok(&[
        env!("CARGO_BIN_EXE_netstack"),
        "ctl",
        what,
        "--control",
        control,
    ])
}

/// The counter `name` in `netstack ctl stats` output (a line `    NAME    VALUE`).
pub fn stat(stats: &str, name: &str) -> u64 {
    let line = (stats.lines())
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in\n{stats}"));
    let value = line.split_whitespace().nth(1);
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// Makes a namespace, starts `netstack run` in it on a new TAP device with `extra` options, and
/// gives Linux 10.0.2.2/24 on its side once the device exists.
pub fn setup(tag: &str, extra: &[&str]) -> (Netns, Netstack, String) {
    let id = std::process::id();
    let ns = Netns(format!("ns{tag}{id}"));
    let tap = format!("t{tag}{}", id % 1_000_000);
    ok(&["ip", "netns", "add", &ns.0]);
    let mut stack = Netstack(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_netstack"),
                "run",
                "--net",
                &format!("tap:{tap}"),
            ])
            .args(["--ip", "10.0.2.15/24", "--gw", "10.0.2.2"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The stack creates the TAP device; then Linux takes its side of the link.
    let start = Instant::now();
    while !run(&["ip", "-n", &ns.0, "link", "show", &tap])
        .status
        .success()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the stack never created {tap}"
        );
        assert!(
            stack.0.try_wait().unwrap().is_none(),
            "netstack exited early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&["ip", "-n", &ns.0, "addr", "add", "10.0.2.2/24", "dev", &tap]);
    ok(&["ip", "-n", &ns.0, "link", "set", &tap, "up"]);
    (ns, stack, tap)
}

/// A namespace with a TAP device already made and Linux at 10.0.2.2/24 on it, for a stack
/// started later (`netstack run --net tap:NAME` opens the existing device).
pub fn linux_on_tap(tag: &str) -> (Netns, String) {
    let id = std::process::id();
    let ns = Netns(format!("ns{tag}{id}"));
    let tap = format!("t{tag}{}", id % 1_000_000);
    ok(&["ip", "netns", "add", &ns.0]);
    ok(&[
        "ip", "-n", &ns.0, "tuntap", "add", "dev", &tap, "mode", "tap",
    ]);
    ok(&["ip", "-n", &ns.0, "addr", "add", "10.0.2.2/24", "dev", &tap]);
    ok(&["ip", "-n", &ns.0, "link", "set", &tap, "up"]);
    (ns, tap)
}
