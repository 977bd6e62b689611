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
# What Linux negotiated, from TCP_INFO (this kernel's ss 6.1 prints neither "ts" nor "sack",
# not even between two Linux sockets): tcpi_options bits TS=1, SACK=2, WSCALE=4, and
# tcpi_snd_wscale in the low nibble of the next byte (our window scale, 7).
ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print("ti-ts", bool(ti[5] & 1))
print("ti-sack", bool(ti[5] & 2))
print("ti-wscale", bool(ti[5] & 4), ti[6] & 15)
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
    // Linux's view of the connection: timestamps, SACK and our window scale of 7 agreed.
    assert!(out.contains("ti-ts True"), "{out}");
    assert!(out.contains("ti-sack True"), "{out}");
    assert!(out.contains("ti-wscale True 7"), "{out}");
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
