//! Hot swap against a Linux peer (DESIGN.md §7): a Linux client streams data through the
//! built-in echo service over TAP while `netstack ctl swap` replaces the TCP component again and
//! again; every byte must come back, in order (sha256), and the connection must never notice.
//! A swap to something that is not a TCP component fails cleanly and changes nothing. Needs
//! root, iproute2 and python3.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{run, setup};

/// Streams `size` bytes to echo in paced chunks (so the transfer spans the swaps), reading the
/// echo at the same time; prints `echo True N` when it all came back.
const CLIENT: &str = r#"
import hashlib, socket, sys, threading, time
size = int(sys.argv[1])
data = bytes((i * 7 + i // 251) % 256 for i in range(size))
s = socket.create_connection(("10.0.2.15", 7), timeout=30)
print("connected", flush=True)
got = bytearray()
def reader():
    while True:
        b = s.recv(65536)
        if not b:
            return
        got.extend(b)
t = threading.Thread(target=reader)
t.start()
chunk = 64 * 1024
for off in range(0, size, chunk):
    s.sendall(data[off:off + chunk])
    time.sleep(0.02)
s.shutdown(socket.SHUT_WR)
t.join(30)
print("echo", hashlib.sha256(data).hexdigest() == hashlib.sha256(got).hexdigest(), len(got))
"#;

fn ctl(sock: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec![env!("CARGO_BIN_EXE_netstack"), "ctl"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--control", sock]);
    run(&all)
}

#[test]
fn a_linux_transfer_survives_repeated_swaps_of_tcp() {
    let sock = std::env::temp_dir().join(format!("netstack-swap-{}.sock", std::process::id()));
    let sock = sock.to_str().unwrap();
    let (ns, _stack, _tap) = setup("swp", &["--serve", "echo:7", "--control", sock]);
    let size = "6000000";
    let client = Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3", "-c", CLIENT, size])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for the connection, then swap while the data flows (the client needs ~2 s).
    let start = Instant::now();
    while !String::from_utf8_lossy(&ctl(sock, &["ss"]).stdout).contains("ESTABLISHED") {
        assert!(start.elapsed() < Duration::from_secs(20), "no connection");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut swaps = 0;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(200));
        let out = ctl(sock, &["swap"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("tcp swapped to"), "{text}");
        eprint!("{text}");
        swaps += 1;
    }

    // Not a TCP component: refused, and the running one carries on.
    let bad = ctl(sock, &["swap", netstack_artifacts::UDP]);
    assert!(!bad.status.success());
    let why = String::from_utf8_lossy(&bad.stderr);
    assert!(why.contains("the running TCP component stays"), "{why}");
    let missing = ctl(sock, &["swap", "/nonexistent/tcp.wasm"]);
    assert!(!missing.status.success());

    let out = client.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("echo True {size}")),
        "after {swaps} swaps: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
