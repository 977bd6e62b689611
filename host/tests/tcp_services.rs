//! The built-in TCP services (`--serve echo:7 --serve discard:9 --serve chargen:19`) against
//! Linux clients (Python sockets in the test's namespace): data checked byte for byte (sha256),
//! `netstack ctl ss` listing the sockets. Needs root, iproute2 and python3.

mod common;

use common::{ok, setup};

/// A Python client run in the namespace; prints `key value` lines.
const CLIENT: &str = r#"
import hashlib, socket, sys, threading
size = int(sys.argv[1])
data = bytes((i * 7 + i // 251) % 256 for i in range(size))

s = socket.create_connection(("10.0.2.15", 7), timeout=20)
import subprocess
info = subprocess.run(["ss", "-tin", "dst", "10.0.2.15"], capture_output=True, text=True).stdout
print("ss-wscale", "wscale:7," in info)
# This kernel's ss does not print "ts" (not even between two Linux sockets); Linux's MSS of
# 1448 for a 1500-byte path is 1460 less the 12 bytes of timestamps every segment carries.
print("ss-ts", "mss:1448" in info)
got = bytearray()
def reader():
    while True:
        b = s.recv(65536)
        if not b:
            return
        got.extend(b)
t = threading.Thread(target=reader)
t.start()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
t.join(30)
print("echo", hashlib.sha256(data).hexdigest() == hashlib.sha256(got).hexdigest(), len(got))

d = socket.create_connection(("10.0.2.15", 9), timeout=20)
d.sendall(data)
d.shutdown(socket.SHUT_WR)
print("discard", d.recv(1) == b"")

c = socket.create_connection(("10.0.2.15", 19), timeout=20)
buf = bytearray()
while len(buf) < size:
    b = c.recv(65536)
    if not b:
        break
    buf.extend(b)
c.close()
expected = b"".join(bytes(32 + (n + i) % 95 for i in range(72)) + b"\r\n" for n in range(size // 74 + 1))
print("chargen", bytes(buf[:size]) == expected[:size])
"#;

#[test]
fn echo_discard_and_chargen_serve_linux_clients() {
    let sock = std::env::temp_dir().join(format!("netstack-tcp-{}.sock", std::process::id()));
    let (ns, _stack, _tap) = setup(
        "tcp",
        &[
            "--serve",
            "echo:7",
            "--serve",
            "discard:9",
            "--serve",
            "chargen:19",
            "--control",
            sock.to_str().unwrap(),
        ],
    );
    let out = ok(&[
        "ip", "netns", "exec", &ns.0, "python3", "-c", CLIENT, "2000000",
    ]);
    assert!(out.contains("echo True 2000000"), "{out}");
    assert!(out.contains("discard True"), "{out}");
    assert!(out.contains("chargen True"), "{out}");
    // Linux's view of the connection: our window scale of 7, and timestamps agreed.
    assert!(out.contains("ss-wscale True"), "{out}");
    assert!(out.contains("ss-ts True"), "{out}");
    let ss = ok(&[
        env!("CARGO_BIN_EXE_netstack"),
        "ctl",
        "ss",
        "--control",
        sock.to_str().unwrap(),
    ]);
    for port in [7, 9, 19] {
        assert!(ss.contains(&format!("0.0.0.0:{port} ")), "{ss}");
    }
}
