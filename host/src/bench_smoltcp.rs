//! The same workloads as `bench tcp` and `bench rr`, between two smoltcp stacks in this
//! process, so that every run prints both figures side by side (the yardstick:
//! smoltcp's own in-process numbers). Two Ethernet interfaces joined by an in-memory pipe, a
//! virtual clock moved as ours is (to the next deadline, 1 µs to 1 ms on), wall-clock rates.
//! smoltcp runs natively with no component crossings, no NIC model and no switch: the ratio
//! measures what our architecture costs as much as our TCP.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant as WallClock;

use anyhow::{Result, anyhow, bail};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

/// Frames in flight one way.
type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of the pipe: sends into one queue, receives from the other.
struct PipeEnd {
    tx: Queue,
    rx: Queue,
    mtu: usize,
}

struct RxToken(Vec<u8>);
struct TxToken<'a>(&'a Queue);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        self.0.borrow_mut().push_back(frame);
        r
    }
}

impl Device for PipeEnd {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.borrow_mut().pop_front()?;
        Some((RxToken(frame), TxToken(&self.tx)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // For Ethernet, smoltcp's MTU counts the 14-byte header.
        caps.max_transmission_unit = self.mtu + 14;
        caps
    }
}

/// A host: interface, device, sockets.
struct Host {
    iface: Interface,
    device: PipeEnd,
    sockets: SocketSet<'static>,
}

impl Host {
    fn new(device: PipeEnd, mac: u8, ip: [u8; 4]) -> Host {
        let mut device = device;
        let mac = HardwareAddress::Ethernet(EthernetAddress([0x02, 0, 0, 0, 0, mac]));
        let mut iface = Interface::new(Config::new(mac), &mut device, Instant::ZERO);
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), 24))
                .expect("one address fits");
        });
        Host {
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    /// A TCP socket with 1 MiB buffers each way (ours: 1 MiB to send, up to 6 MiB to receive).
    fn socket(&mut self) -> SocketHandle {
        let buf = || tcp::SocketBuffer::new(vec![0u8; 1 << 20]);
        self.sockets.add(tcp::Socket::new(buf(), buf()))
    }

    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket<'_>>(h)
    }

    fn poll(&mut self, now: Instant) -> Option<Instant> {
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        self.iface.poll_at(now, &self.sockets)
    }
}

const SERVER: [u8; 4] = [10, 0, 2, 15];
const CLIENT: [u8; 4] = [10, 0, 2, 2];

/// Two hosts, a listener on the server's port 7, and a client connected to it.
struct Pair {
    server: Host,
    client: Host,
    listener: SocketHandle,
    conn: SocketHandle,
    now: Instant,
}

impl Pair {
    fn connected(mtu: usize) -> Result<Pair> {
        let (a, b): (Queue, Queue) = Default::default();
        let server = Host::new(
            PipeEnd {
                tx: a.clone(),
                rx: b.clone(),
                mtu,
            },
            0x0f,
            SERVER,
        );
        let client = Host::new(PipeEnd { tx: b, rx: a, mtu }, 0x02, CLIENT);
        let mut p = Pair {
            server,
            client,
            listener: SocketHandle::default(),
            conn: SocketHandle::default(),
            now: Instant::ZERO,
        };
        p.listener = p.server.socket();
        p.server
            .tcp(p.listener)
            .listen(7)
            .map_err(|e| anyhow!("listen: {e:?}"))?;
        p.conn = p.client.socket();
        let remote = (IpAddress::v4(SERVER[0], SERVER[1], SERVER[2], SERVER[3]), 7);
        let cx = p.client.iface.context();
        p.client
            .sockets
            .get_mut::<tcp::Socket<'_>>(p.conn)
            .connect(cx, remote, 49152)
            .map_err(|e| anyhow!("connect: {e:?}"))?;
        for _ in 0..10_000 {
            p.turn();
            if p.client.tcp(p.conn).may_send() && p.server.tcp(p.listener).may_recv() {
                return Ok(p);
            }
        }
        bail!("smoltcp: the connection never came up")
    }

    /// One turn of both hosts, then the virtual clock on to the next deadline (1 µs to 1 ms).
    fn turn(&mut self) {
        let a = self.server.poll(self.now);
        let b = self.client.poll(self.now);
        let next = [a, b].into_iter().flatten().min();
        let (lo, hi) = (self.now.total_micros() + 1, self.now.total_micros() + 1000);
        let at = next.map_or(hi, |t| t.total_micros().clamp(lo, hi));
        self.now = Instant::from_micros(at);
    }
}

/// Bulk: `bytes` from the client to the server, which reads and drops them. Returns the wall
/// seconds.
pub fn tcp(bytes: u64, mtu: u32) -> Result<f64> {
    let mut p = Pair::connected(mtu as usize)?;
    let chunk = vec![0x5au8; 256 * 1024];
    let (mut sent, mut got) = (0u64, 0u64);
    let start = WallClock::now();
    let mut idle = 0;
    while got < bytes {
        let c = p.client.tcp(p.conn);
        while sent < bytes && c.can_send() {
            let n = chunk.len().min((bytes - sent) as usize);
            let taken = c
                .send_slice(&chunk[..n])
                .map_err(|e| anyhow!("send: {e:?}"))?;
            if taken == 0 {
                break;
            }
            sent += taken as u64;
        }
        p.turn();
        let s = p.server.tcp(p.listener);
        let before = got;
        while s.can_recv() {
            got += s
                .recv(|b| (b.len(), b.len()))
                .map_err(|e| anyhow!("recv: {e:?}"))? as u64;
        }
        idle = if got > before { 0 } else { idle + 1 };
        if idle > 1_000_000 {
            bail!("smoltcp bulk: stalled at {got} bytes");
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Request/response: `rounds` times 64 bytes there and back. Returns the wall seconds.
pub fn rr(rounds: u64) -> Result<f64> {
    let mut p = Pair::connected(1500)?;
    let request = [0x72u8; crate::bench_rr::RR_BYTES];
    let mut buf = [0u8; 4096];
    let start = WallClock::now();
    for round in 0..rounds {
        p.client
            .tcp(p.conn)
            .send_slice(&request)
            .map_err(|e| anyhow!("send: {e:?}"))?;
        // The server echoes the request once it has all of it; the client waits for the echo.
        let (mut echoed, mut got) = (0, 0);
        let mut turns = 0;
        while got < request.len() {
            turns += 1;
            if turns > 100_000 {
                bail!("smoltcp rr: round {round} stalled");
            }
            p.turn();
            let s = p.server.tcp(p.listener);
            while s.can_recv() {
                let n = s.recv_slice(&mut buf).map_err(|e| anyhow!("recv: {e:?}"))?;
                s.send_slice(&buf[..n])
                    .map_err(|e| anyhow!("send: {e:?}"))?;
                echoed += n;
            }
            let c = p.client.tcp(p.conn);
            while c.can_recv() {
                got += c.recv_slice(&mut buf).map_err(|e| anyhow!("recv: {e:?}"))?;
            }
        }
        debug_assert_eq!(echoed, request.len());
    }
    Ok(start.elapsed().as_secs_f64())
}
