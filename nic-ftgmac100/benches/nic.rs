//! Frames/s and Gbit/s through driver → model → wire → model → driver, batch = the NAPI budget.
//! Prints a table; not a timed test. Two TX paths: `copy` (`xmit_batch`: the driver copies each
//! frame into its DMA bounce buffer) and `mapped` (`xmit_owned`, the one the stack uses: the
//! batch is mapped and the MAC reads the frames where they lie; its batch is built anew each
//! time, as the stack builds its frames, so both paths copy each frame once).
//!
//!     cargo bench -p nic-ftgmac100 --bench nic
//!
//! The TAP rows need root (two TAP devices bridged in a namespace the bench makes and deletes).

use std::time::{Duration, Instant};

use netstack_wire::{Batch, EtherType, EthernetAddress, EthernetRepr, build};
use nic_ftgmac100::driver::NAPI_BUDGET;
use nic_ftgmac100::station::{Station, StationConfig};
use nic_ftgmac100::wire::{Switch, Wire};

const MAC_A: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);

struct Row {
    wire: &'static str,
    path: TxPath,
    len: usize,
    frames: u64,
    lost: u64,
    elapsed: Duration,
}

/// How the frames reach the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxPath {
    /// `Station::transmit`: the driver copies them into its DMA buffers.
    Copy,
    /// `Station::transmit_owned`: the driver maps the batch and holds it until sent.
    Mapped,
}

impl TxPath {
    fn name(self) -> &'static str {
        match self {
            TxPath::Copy => "copy",
            TxPath::Mapped => "mapped",
        }
    }
}

/// Sends `count` frames of `len` bytes from A to B in batches of the NAPI budget; returns how
/// many B received and when: once all are in, or all are sent and nothing moves any more (a
/// lost frame), or the time limit passes.
fn run<W: Wire>(
    a: &mut Station<W>,
    b: &mut Station<W>,
    path: TxPath,
    len: usize,
    count: u64,
    limit: Duration,
    now: impl Fn() -> u64,
) -> (u64, Duration) {
    let eth = EthernetRepr {
        src_addr: MAC_A,
        dst_addr: MAC_B,
        vlan: None,
        ethertype: EtherType::Unknown(0x88b5),
    };
    let frame = build::ethernet(&eth, &vec![0x5a; len - 14]);
    let mut batch = Batch::new();
    for _ in 0..NAPI_BUDGET {
        batch.push(&frame);
    }
    let mut offset = 0; // frames of `batch` already taken
    let mut pending = Batch::new();
    let (mut sent, mut got, mut idle) = (0u64, 0u64, 0);
    let start = Instant::now();
    let mut last_got_at = start;
    while got < count && start.elapsed() < limit && !(sent == count && idle > 1000) {
        if path == TxPath::Mapped && sent < count && a.driver().tx_held() < NAPI_BUDGET {
            // A batch's worth more, in a batch the driver gave back if it has one.
            let want = NAPI_BUDGET.min((count - sent) as usize);
            let mut fresh = a.take_sent_batch().unwrap_or_default();
            batch.iter().take(want).for_each(|f| fresh.push(f));
            a.transmit_owned(now(), fresh).unwrap();
            sent += want as u64;
        } else if path == TxPath::Copy && sent < count {
            let want = (NAPI_BUDGET - offset).min((count - sent) as usize);
            let offer = if offset == 0 && want == NAPI_BUDGET {
                &batch
            } else {
                pending.clear();
                batch
                    .iter()
                    .skip(offset)
                    .take(want)
                    .for_each(|f| pending.push(f));
                &pending
            };
            let taken = a.transmit(now(), offer).unwrap();
            sent += taken as u64;
            offset = (offset + taken) % NAPI_BUDGET;
        }
        a.step(now(), &mut |_| {}).unwrap();
        let before = got;
        // Only ours: on TAP, Linux's own frames (IPv6 neighbour discovery, MLD) come too.
        b.step(now(), &mut |rx| {
            got += rx
                .frames
                .iter()
                .filter(|f| f[12..14] == [0x88, 0xb5])
                .count() as u64
        })
        .unwrap();
        if got == before {
            idle += 1;
        } else {
            idle = 0;
            last_got_at = Instant::now();
        }
    }
    (got, last_got_at - start)
}

/// MTU and ring size for a frame size: jumbo frames take six 1536-byte RX buffers each, so their
/// rings are larger for the receiver to hold a whole batch, as a real NIC's would be.
fn setup(len: usize) -> (u32, u32) {
    if len > 1514 { (9000, 512) } else { (1500, 256) }
}

fn switch_row(path: TxPath, len: usize, count: u64) -> Row {
    let sw = Switch::new();
    let (mtu, ring_size) = setup(len);
    let config = |mac| StationConfig {
        mac,
        mtu,
        ring_size,
        ..StationConfig::default()
    };
    let mut a = Station::new(&config(MAC_A), sw.add_port(), 0).unwrap();
    let mut b = Station::new(&config(MAC_B), sw.add_port(), 0).unwrap();
    // Virtual time: no pacing; it only advances the timers.
    let clock = std::cell::Cell::new(0u64);
    let (frames, elapsed) = run(
        &mut a,
        &mut b,
        path,
        len,
        count,
        Duration::from_secs(30),
        || {
            clock.set(clock.get() + 1_000);
            clock.get()
        },
    );
    Row {
        wire: "switch",
        path,
        len,
        frames,
        lost: count - frames,
        elapsed,
    }
}

#[cfg(target_os = "linux")]
fn tap_row(path: TxPath, len: usize, count: u64) -> Result<Row, String> {
    use std::process::Command;

    use nic_ftgmac100::wire::Tap;

    let sh = |args: &[&str]| -> Result<(), String> {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let id = std::process::id();
    let ns = Netns(format!("nsbench{id}"));
    sh(&["ip", "netns", "add", &ns.0])?;
    sh(&["ip", "-n", &ns.0, "link", "add", "br0", "type", "bridge"])?;
    sh(&["ip", "-n", &ns.0, "link", "set", "br0", "up"])?;
    let (mtu, ring_size) = setup(len);
    let mut taps = Vec::new();
    for side in ["a", "b"] {
        let name = format!("tb{side}{}", id % 100_000);
        let tap = Tap::open(&name).map_err(|e| e.to_string())?;
        sh(&["ip", "link", "set", &name, "netns", &ns.0])?;
        sh(&[
            "ip",
            "-n",
            &ns.0,
            "link",
            "set",
            &name,
            "mtu",
            &mtu.to_string(),
            "master",
            "br0",
            "up",
        ])?;
        taps.push(tap);
    }
    let tap_b = taps.pop().expect("two taps");
    let tap_a = taps.pop().expect("two taps");
    let start = Instant::now();
    let now = move || start.elapsed().as_nanos() as u64;
    let config = |mac| StationConfig {
        mac,
        mtu,
        ring_size,
        ..StationConfig::default()
    };
    let mut a = Station::new(&config(MAC_A), tap_a, now()).map_err(|e| e.to_string())?;
    let mut b = Station::new(&config(MAC_B), tap_b, now()).map_err(|e| e.to_string())?;
    // The kernel may drop some (its TAP queue holds 500 frames): the lost column says how many.
    let limit = Duration::from_secs(20);
    let (frames, elapsed) = run(&mut a, &mut b, path, len, count, limit, now);
    Ok(Row {
        wire: "tap+bridge",
        path,
        len,
        frames,
        lost: count - frames,
        elapsed,
    })
}

fn main() {
    let mut rows = Vec::new();
    for (len, count) in [(64, 400_000), (1514, 200_000), (9000, 40_000)] {
        for path in [TxPath::Copy, TxPath::Mapped] {
            rows.push(switch_row(path, len, count));
        }
    }
    let mut notes = Vec::new();
    #[cfg(target_os = "linux")]
    for (len, count) in [(64, 100_000), (1514, 50_000), (9000, 10_000)] {
        for path in [TxPath::Copy, TxPath::Mapped] {
            match tap_row(path, len, count) {
                Ok(row) => rows.push(row),
                Err(e) => notes.push(format!("tap+bridge {len} B: not run ({})", e.trim())),
            }
        }
    }
    println!("driver → model → wire → model → driver, batch = NAPI budget ({NAPI_BUDGET})");
    println!(
        "| wire       | TX path | frame (B) |  frames |  lost | seconds | Mframes/s | Gbit/s |"
    );
    println!(
        "|------------|---------|----------:|--------:|------:|--------:|----------:|-------:|"
    );
    for r in &rows {
        let secs = r.elapsed.as_secs_f64();
        let fps = r.frames as f64 / secs;
        println!(
            "| {:<10} | {:<7} | {:>9} | {:>7} | {:>5} | {:>7.3} | {:>9.3} | {:>6.2} |",
            r.wire,
            r.path.name(),
            r.len,
            r.frames,
            r.lost,
            secs,
            fps / 1e6,
            fps * r.len as f64 * 8.0 / 1e9
        );
    }
    for n in notes {
        println!("{n}");
    }
}
