//! Our client against Linux listeners over TAP: `netstack run --connect` (netcat on the host
//! socket layer) sends a file to a Linux echo server and gets it back, sends it to a Linux sink,
//! and receives it from a Linux source: 100 MB each way, on a clean wire and through our
//! impairments, compared byte for byte. Linux's TCP_INFO shows that our SYN's timestamps, SACK
//! and window scale were agreed. Needs root, iproute2 and python3.
//! `NETSTACK_INTEROP_BYTES` changes the size.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::{Netns, linux_on_tap};

/// A Linux listener on 10.0.2.2:PORT serving one connection as ROLE (echo: sends back what it
/// receives; sink: writes what it receives to PATH; source: sends PATH), then closing. Prints
/// `ready` once listening, then what TCP_INFO says was negotiated, then `done BYTES`.
const SERVER: &str = r#"
import socket, sys
role, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.0.2.2", port))
srv.listen(1)
srv.settimeout(60)
print("ready", flush=True)
c, peer = srv.accept()
c.settimeout(120)
# tcpi_options bits TS=1, SACK=2, WSCALE=4; tcpi_snd_wscale in the low nibble of the next byte.
ti = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print("ti-ts", bool(ti[5] & 1), "ti-sack", bool(ti[5] & 2), "ti-wscale", bool(ti[5] & 4), ti[6] & 15, flush=True)
n = 0
if role == "source":
    with open(path, "rb") as f:
        while b := f.read(262144):
            n += len(b)
            c.sendall(b)
else:
    out = open(path, "wb") if role == "sink" else None
    while b := c.recv(262144):
        n += len(b)
        if out:
            out.write(b)
        else:
            c.sendall(b)
    if out:
        out.close()
c.shutdown(socket.SHUT_WR)
while c.recv(65536):
    pass
c.close()
print("done", n, flush=True)
"#;

/// A directory of the test's files, removed however the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("netstack-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `size` bytes of a seeded pseudo-random stream (xorshift), so that a misplaced block shows.
fn write_data(path: &Path, size: usize) {
    let mut f = std::io::BufWriter::new(File::create(path).unwrap());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut left = size;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = left.min(8);
        f.write_all(&x.to_le_bytes()[..n]).unwrap();
        left -= n;
    }
}

/// The Python listener, killed however the test ends.
struct Listener(Child, BufReader<std::process::ChildStdout>);

impl Listener {
    fn start(ns: &Netns, role: &str, port: u16, path: &Path) -> Listener {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "python3", "-c", SERVER, role])
            .arg(port.to_string())
            .arg(path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the Linux listener did not start");
        Listener(child, out)
    }

    /// The rest of what it printed, once it is done.
    fn finish(mut self) -> String {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.1, &mut rest).unwrap();
        assert!(
            self.0.wait().unwrap().success(),
            "the listener failed: {rest}"
        );
        rest
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `netstack run --connect 10.0.2.2:PORT` in the namespace, standard input from `input`,
/// standard output to `output`.
fn netcat(ns: &Netns, tap: &str, port: u16, input: &Path, output: &Path, extra: &[&str]) {
    let control = output.with_extension("sock");
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_netstack"),
            "run",
        ])
        .args(["--net", &format!("tap:{tap}")])
        .args(["--ip", "10.0.2.15/24", "--gw", "10.0.2.2", "--control"])
        .arg(&control)
        .args(["--connect", &format!("10.0.2.2:{port}")])
        .args(extra)
        .stdin(File::open(input).unwrap())
        .stdout(File::create(output).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "netstack run --connect failed");
}

fn same_files(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// Echo, sink and source, one connection each, `size` bytes each way; asserts every byte.
fn echo_sink_source(tag: &str, extra: &[&str]) {
    let size: usize = std::env::var("NETSTACK_INTEROP_BYTES")
        .map_or(100_000_000, |s| s.parse().expect("a byte count"));
    let (ns, tap) = linux_on_tap(tag);
    let dir = Scratch::new(tag);
    let (data, got, empty) = (dir.path("data"), dir.path("got"), dir.path("empty"));
    write_data(&data, size);
    File::create(&empty).unwrap();
    let mbit = |t: Instant| size as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e6;

    let echo = Listener::start(&ns, "echo", 5007, Path::new("-"));
    let t = Instant::now();
    netcat(&ns, &tap, 5007, &data, &got, extra);
    let echo_rate = mbit(t);
    let said = echo.finish();
    assert!(said.contains(&format!("done {size}")), "{said}");
    assert!(same_files(&data, &got), "echo: the bytes differ");
    // Our SYN offered them; Linux agreed.
    assert!(
        said.contains("ti-ts True ti-sack True ti-wscale True 7"),
        "{said}"
    );

    let sunk = dir.path("sunk");
    let sink = Listener::start(&ns, "sink", 5009, &sunk);
    let t = Instant::now();
    netcat(&ns, &tap, 5009, &data, &got, extra);
    let sink_rate = mbit(t);
    sink.finish();
    assert!(same_files(&data, &sunk), "sink: the bytes differ");

    let source = Listener::start(&ns, "source", 5019, &data);
    let t = Instant::now();
    netcat(&ns, &tap, 5019, &empty, &got, extra);
    let source_rate = mbit(t);
    source.finish();
    assert!(same_files(&data, &got), "source: the bytes differ");
    eprintln!(
        "{tag}: {size} bytes; Mbit/s (each way, netstack start-up included): echo {echo_rate:.0}, \
         to the sink {sink_rate:.0}, from the source {source_rate:.0}"
    );
}

#[test]
fn our_client_moves_every_byte_to_and_from_linux_listeners() {
    echo_sink_source("ncc", &[]);
}

/// The same through a wire that loses 2%, reorders 5% and duplicates 1% of the frames both ways.
#[test]
fn our_client_moves_every_byte_through_an_impaired_wire() {
    echo_sink_source("nci", &["--impair", "loss=2,reorder=5,dup=1,seed=9"]);
}
