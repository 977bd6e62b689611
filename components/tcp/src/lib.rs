//! The TCP layer, sans-IO (RFC 9293): sockets over [`conn`]ections.
//!
//! Segments are validated (header, options, checksum with the pseudo-header), then go to the
//! connection of their 4-tuple, or to a listener (a SYN opens a connection that joins the
//! listener's accept queue once established, within its backlog), or, for no one, draw the
//! CLOSED state's RST (RFC 9293 §3.10.7.1). Sockets are small integer handles; operations change
//! state only, and what they cause (segments, readiness changes) comes out of the next
//! [`TcpLayer::poll`], so the host batches any number of operations into one crossing.
//! Initial sequence numbers follow RFC 6528 ([`isn`]), ephemeral ports RFC 6056 ([`ports`]).
//!
//! No clock, RNG or I/O: `now` comes in, segments go out in an [`Output`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use netstack_wire::tcp::HEADER_LEN;
use netstack_wire::{
    ChecksumMode, DatagramInfo, IpProtocol, Ipv4Address, SeqNumber, TcpFlags, TcpPacket, TcpRepr,
    TransportBatch,
};

use conn::{Conn, ConnConfig, ConnError, State};
use tables::{KeyedMap, LocalMap, SecretKeyed};

mod bytequeue;
pub mod cc;
pub mod conn;
pub mod cubic;
mod gso;
pub mod isn;
pub mod options;
pub mod ports;
pub mod rto;
pub mod sack;
mod state;
pub mod syncookie;
mod tables;
pub use state::{STATE_VERSION, StateError};

#[cfg(target_arch = "wasm32")]
mod component;

// The component's heap: free lists of small blocks by size class (netstack-alloc).
#[cfg(target_arch = "wasm32")]
use netstack_alloc as _;

/// A monotonic instant in nanoseconds, from the host.
pub type Instant = u64;

/// The TTL of segments we originate.
pub const DEFAULT_TTL: u8 = 64;

/// What changed on a socket (edge events, so the host wakes whoever waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Readiness {
    /// Data, or the end of the stream, can be read.
    pub readable: bool,
    /// Send buffer space is available.
    pub writable: bool,
    /// A connection waits in the accept queue.
    pub acceptable: bool,
    /// The connection is established.
    pub connected: bool,
    /// The connection is over (closed, reset, refused, timed out).
    pub closed: bool,
}

/// What one call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Segments for ipv4.
    pub to_ipv4: TransportBatch,
    /// The segments of `to_ipv4` whose data continues in the host's bytes (`tcp.wrote`).
    pub held: Vec<HeldPayload>,
    /// How far the host's bytes for each socket are acknowledged.
    pub released: Vec<Released>,
    /// Where the data of segments given by length goes (`receive_held`).
    pub placed: Vec<Placed>,
    /// Segments given by length that need their bytes (`receive_held`): by index, in order.
    pub wanted: Vec<usize>,
    /// Sockets whose readiness changed, with their readiness now.
    pub events: Vec<(SocketId, Readiness)>,
    /// When to poll next.
    pub deadline: Option<Instant>,
}

/// A socket handle.
pub type SocketId = u32;

pub use bytequeue::Held;

/// A segment whose data ends with bytes the host holds (docs/zero-copy.md): the payload at
/// `index` of the output is the TCP header and any data the layer had, and `span` of the
/// socket's stream follows. Its checksum field holds only the pseudo-header sum for the whole
/// segment; the host completes it when it adds the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldPayload {
    pub index: usize,
    pub socket: SocketId,
    pub span: Held,
}

/// Where the host puts data it holds for a connection (`receive_held`): `len` bytes of the
/// data of segment `segment`, from `skip`, at `offset` of `socket`'s receive stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub segment: usize,
    pub socket: SocketId,
    pub skip: usize,
    pub len: usize,
    pub offset: u64,
}

/// The host may drop its bytes of `socket`'s stream before `up_to`; all of them when `gone`
/// (the connection is no more, and the handle may be reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    pub socket: SocketId,
    pub up_to: u64,
    pub gone: bool,
}

/// An endpoint.
pub type Endpoint = (Ipv4Address, u16);

/// Why a socket operation failed (mapped to WIT's `error-code` in the glue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketError {
    /// No such socket.
    BadHandle,
    /// Not allowed in the socket's state (listen before bind, send before connect...).
    InvalidState,
    /// An argument is out of range.
    InvalidArgument,
    /// The local endpoint is taken.
    AddressInUse,
    /// Try again after a readiness event.
    WouldBlock,
    /// No ephemeral port is free, or a buffer limit was reached.
    OutOfMemory,
    /// The connection ended: refused, reset, timed out or aborted.
    Connection(ConnError),
}

/// Layer-wide settings, given at configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerConfig {
    /// The RFC 6528 key.
    pub isn_secret: (u64, u64),
    /// The RFC 6056 seed.
    pub port_seed: u64,
    /// The ephemeral port range, inclusive.
    pub ephemeral_ports: (u16, u16),
    /// Per-connection defaults.
    pub conn: ConnConfig,
    /// The most payload bytes of a GSO super-segment the host cuts ([`gso`]); 0: no GSO.
    /// New in state version 3 (older states read 0).
    #[serde(deserialize_with = "crate::state::since_v3")]
    pub gso_max: u32,
}

impl Default for LayerConfig {
    fn default() -> Self {
        LayerConfig {
            isn_secret: (0, 0),
            port_seed: 0,
            ephemeral_ports: (32768, 60999),
            conn: ConnConfig::default(),
            gso_max: 0,
        }
    }
}

/// A listener: its backlog, and the connections done with their handshake, waiting for accept.
///
/// As on Linux, `backlog` bounds two queues: the handshakes in progress (the SYN queue, whose
/// overflow turns to SYN cookies) and the connections waiting for accept (whose overflow drops
/// the SYN, or the cookie's ACK, for the peer to retry). A handshake that completes while the
/// accept queue is full still joins it, so the queue holds at most twice the backlog.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Listener {
    local: Endpoint,
    backlog: usize,
    accept_queue: VecDeque<SocketId>,
    /// Handshakes in progress for it (the SYN queue).
    embryonic: usize,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Socket {
    /// Created, not bound.
    Unbound,
    /// Bound to a local endpoint.
    Bound(Endpoint),
    /// Listening.
    Listener(Listener),
    /// A connection. `parent` is the listener it came from until it is accepted; `orphan` once
    /// the application closed its handle and it only finishes its closing handshake.
    Conn {
        conn: Box<Conn>,
        parent: Option<SocketId>,
        orphan: bool,
    },
}

netstack_wire::counters! {
    /// The layer's counters, named after `/proc/net/snmp`'s Tcp row where one exists.
    pub struct Counters {
        /// Segments received.
        in_segs => "in-segs",
        /// Dropped: bad checksum.
        in_csum_errors => "in-csum-errors",
        /// Dropped: truncated header, bad data offset, malformed options or port 0.
        in_errs => "in-errs",
        /// Segments sent.
        out_segs => "out-segs",
        /// Resets sent.
        out_rsts => "out-rsts",
        /// Active opens (connect).
        active_opens => "active-opens",
        /// Passive opens (handshakes completed for a listener).
        passive_opens => "passive-opens",
        /// SYNs, or cookie ACKs, dropped because the listener's accept queue was full (Linux's
        /// `ListenOverflows`).
        listen_overflows => "listen-overflows",
        /// SYN-ACKs sent with a SYN cookie: the SYN queue was full (Linux's `SyncookiesSent`).
        syncookies_sent => "syncookies-sent",
        /// Connections made from a valid cookie (Linux's `SyncookiesRecv`).
        syncookies_recv => "syncookies-recv",
        /// ACKs to a listener that carried no valid cookie: answered with a RST (Linux's
        /// `SyncookiesFailed`).
        syncookies_failed => "syncookies-failed",
        /// Connections given up after unanswered retransmissions.
        timeouts => "timeouts",
        /// Segments sent again (Linux's `RetransSegs`).
        retrans_segs => "retrans-segs",
        /// Fast recoveries entered (Linux's `TCPSackRecovery` and `TCPRenoRecovery`).
        recoveries => "recoveries",
        /// Retransmission timeouts with data in flight (Linux's `TCPTimeouts`).
        rto_timeouts => "rto-timeouts",
        /// Tail loss probes (Linux's `TCPLossProbes`).
        loss_probes => "loss-probes",
        /// Reductions undone by D-SACKs (Linux's `TCPDSACKUndo`).
        dsack_undos => "dsack-undos",
        /// ICMP "fragmentation needed" that lowered a connection's segment size (RFC 1191).
        icmp_path_mtu => "icmp-path-mtu",
        /// ICMP errors about TCP taken no action on: soft errors (RFC 5927 §4: the timers
        /// cover them), or about no connection, or quoting a sequence number not in flight.
        icmp_ignored => "icmp-ignored",
    }
}

/// A socket, as `ss` shows it.
#[derive(Debug)]
pub struct SocketInfo<'a> {
    /// RFC 9293 state name (`LISTEN` for a listener, `CLOSED` before connecting).
    pub state: &'static str,
    /// The local endpoint, once bound.
    pub local: Option<Endpoint>,
    /// The remote endpoint, once connected.
    pub remote: Option<Endpoint>,
    /// Bytes received, not read (a listener: connections waiting in its accept queue).
    pub recv_queue: usize,
    /// Bytes not acknowledged or not sent (a listener: its backlog).
    pub send_queue: usize,
    /// The connection, for its RTT, MSS and error.
    pub conn: Option<&'a Conn>,
}

/// The local port a socket holds, if any.
fn local_port(s: &Socket) -> Option<u16> {
    match s {
        Socket::Bound((_, p)) => Some(*p),
        Socket::Listener(l) => Some(l.local.1),
        Socket::Conn { conn, .. } => Some(conn.endpoints().0.1),
        Socket::Unbound => None,
    }
}

/// How many sockets hold each local port (derived from the sockets, so not exported): port
/// allocation asks it for each candidate, and with thousands of connections a scan of every
/// socket per candidate made each connect cost O(sockets).
#[derive(Debug, Default)]
struct LocalPorts(LocalMap<u16, u32>);

impl LocalPorts {
    fn of(sockets: &LocalMap<SocketId, Socket>) -> LocalPorts {
        let mut ports = LocalPorts::default();
        for p in sockets.values().filter_map(local_port) {
            ports.take(p);
        }
        ports
    }

    fn in_use(&self, port: u16) -> bool {
        self.0.contains_key(&port)
    }

    fn take(&mut self, port: u16) {
        *self.0.entry(port).or_default() += 1;
    }

    fn release(&mut self, port: u16) {
        if let Some(n) = self.0.get_mut(&port) {
            *n -= 1;
            if *n == 0 {
                self.0.remove(&port);
            }
        }
    }
}

/// Writes one segment into the output batch, checksummed for `src` → `dst`; with a held span
/// of the socket's stream after its data, only the pseudo-header sum is filled in.
fn emit(
    out: &mut Output,
    src: Ipv4Address,
    dst: Ipv4Address,
    ttl: u8,
    seg: &TcpRepr<'_>,
    held: Option<(SocketId, Held)>,
) {
    let info = DatagramInfo {
        protocol: IpProtocol::Tcp,
        src_addr: src,
        dst_addr: dst,
        ttl,
        tos: 0,
        dont_frag: true,
        segment_size: 0,
    };
    let len = seg.buffer_len();
    out.to_ipv4.push_with(info, len, |b| {
        let mut packet = TcpPacket::new_unchecked(b);
        seg.emit(&mut packet, src, dst);
        if let Some((_, span)) = held {
            packet.fill_partial_checksum_for(src, dst, (len + span.len) as u32);
        }
    });
    if let Some((socket, span)) = held {
        let index = out.to_ipv4.len() - 1;
        out.held.push(HeldPayload {
            index,
            socket,
            span,
        });
    }
}

/// The TCP layer of a host.
#[derive(Debug)]
pub struct TcpLayer {
    config: LayerConfig,
    isn: isn::IsnGenerator,
    cookies: syncookie::CookieJar,
    ports: ports::PortAllocator,
    /// Every socket by handle: looked up several times a segment, so hashed (the state
    /// exports it in handle order).
    sockets: LocalMap<SocketId, Socket>,
    next_socket: SocketId,
    /// Connections by (local, remote).
    conns: KeyedMap<(Endpoint, Endpoint), SocketId>,
    /// Listeners by local endpoint (address 0.0.0.0 for any).
    listeners: LocalMap<Endpoint, SocketId>,
    /// Options set on sockets that are not connections yet (a connection keeps its own, in its
    /// config; an accepted one starts with its listener's, as on Linux).
    options: BTreeMap<SocketId, ConnConfig>,
    /// Sockets touched since the last poll: their output and readiness are due.
    dirty: Dirty,
    reported: LocalMap<SocketId, Readiness>,
    counters: Counters,
    /// Every connection's next deadline, earliest first (derived from the connections, so not
    /// exported), so that a poll finds what is due, and the layer its next deadline, without
    /// visiting every socket: with thousands in TIME-WAIT, every call would.
    timers: Timers,
    local_ports: LocalPorts,
}

/// Sockets touched since the last poll, whose output and readiness are due: a vector that
/// keeps its room, put in order and rid of repeats when a poll takes it (a `BTreeSet`
/// allocated a node for the first socket touched after every poll, and freed it in the poll).
#[derive(Debug, Default)]
struct Dirty(Vec<SocketId>);

impl Dirty {
    fn insert(&mut self, id: SocketId) {
        if self.0.last() != Some(&id) {
            self.0.push(id);
        }
    }

    fn remove(&mut self, id: SocketId) {
        self.0.retain(|&d| d != id);
    }

    /// The sockets, in order, each once; [`Self::give_back`] returns the vector's room.
    fn take(&mut self) -> Vec<SocketId> {
        let mut ids = std::mem::take(&mut self.0);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Keeps `ids`' room for the next poll, unless sockets were touched meanwhile.
    fn give_back(&mut self, mut ids: Vec<SocketId>) {
        if self.0.is_empty() {
            ids.clear();
            self.0 = ids;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &SocketId> {
        self.0.iter()
    }
}

/// Connections by their next deadline: a min-heap with lazy deletion. `at` holds each
/// socket's deadline; the heap may also hold stale entries (a deadline since moved or cleared),
/// dropped when they surface and swept out when they outnumber the live ones. A deadline
/// changes at nearly every segment (the retransmission timer, the delayed ACK): a `BTreeSet`
/// removed and inserted for each, and with one connection freed and allocated a tree node
/// every time; the heap pushes onto a buffer it keeps.
#[derive(Debug, Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(Instant, SocketId)>>,
    at: LocalMap<SocketId, Instant>,
}

impl Timers {
    /// Sets (or clears) a socket's deadline.
    fn set(&mut self, id: SocketId, deadline: Option<Instant>) {
        match deadline {
            Some(t) => {
                if self.at.insert(id, t) == Some(t) {
                    return;
                }
                self.heap.push(Reverse((t, id)));
            }
            None => {
                if self.at.remove(&id).is_none() {
                    return;
                }
            }
        }
        if self.heap.len() > 2 * self.at.len() + 64 {
            let at = &self.at;
            self.heap
                .retain(|&Reverse((t, id))| at.get(&id) == Some(&t));
        }
    }

    /// Takes the sockets whose deadline is `now` or earlier, earliest first: their deadlines
    /// are cleared (the caller sets each socket's next one).
    fn take_due(&mut self, now: Instant) -> Vec<SocketId> {
        let mut due = Vec::new();
        while let Some(&Reverse((t, id))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            // A stale entry, or a second one for the same deadline, finds `at` moved or empty.
            if self.at.get(&id) == Some(&t) {
                self.at.remove(&id);
                due.push(id);
            }
        }
        due
    }

    /// The earliest deadline (dropping stale entries off the top).
    fn next(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, id))) = self.heap.peek() {
            if self.at.get(&id) == Some(&t) {
                return Some(t);
            }
            self.heap.pop();
        }
        None
    }
}

impl Default for TcpLayer {
    fn default() -> Self {
        TcpLayer::new(LayerConfig::default())
    }
}

impl TcpLayer {
    /// A layer with no socket.
    pub fn new(config: LayerConfig) -> TcpLayer {
        let (first, last) = config.ephemeral_ports;
        TcpLayer {
            config,
            isn: isn::IsnGenerator::new(config.isn_secret),
            cookies: syncookie::CookieJar::new(config.isn_secret),
            ports: ports::PortAllocator::new(
                first.max(1),
                last.max(first.max(1)),
                config.port_seed,
            ),
            sockets: LocalMap::default(),
            next_socket: 1,
            conns: SecretKeyed::new(config.isn_secret).map(),
            listeners: LocalMap::default(),
            options: BTreeMap::new(),
            dirty: Dirty::default(),
            reported: LocalMap::default(),
            counters: Counters::default(),
            timers: Timers::default(),
            local_ports: LocalPorts::default(),
        }
    }

    /// Rebuilds the timer queue from the connections (after an import).
    fn schedule_all(&mut self) {
        let deadlines: Vec<(SocketId, Option<Instant>)> = (self.sockets.iter())
            .map(|(id, s)| match s {
                Socket::Conn { conn, .. } => (*id, conn.poll_at()),
                _ => (*id, None),
            })
            .collect();
        for (id, t) in deadlines {
            self.timers.set(id, t);
        }
    }

    /// Replaces the configuration; refused once sockets exist.
    pub fn configure(&mut self, config: LayerConfig) -> Result<(), SocketError> {
        let (first, last) = config.ephemeral_ports;
        if first == 0 || first > last {
            return Err(SocketError::InvalidArgument);
        }
        if !self.sockets.is_empty() {
            return Err(SocketError::InvalidState);
        }
        let counters = std::mem::take(&mut self.counters);
        *self = TcpLayer::new(config);
        self.counters = counters;
        Ok(())
    }

    /// Creates an unbound socket.
    pub fn create(&mut self) -> Result<SocketId, SocketError> {
        let id = self.next_socket;
        self.next_socket = self
            .next_socket
            .checked_add(1)
            .ok_or(SocketError::OutOfMemory)?;
        self.sockets.insert(id, Socket::Unbound);
        Ok(id)
    }

    /// Binds a socket; port 0 picks an ephemeral port. Returns the endpoint bound.
    pub fn bind(&mut self, id: SocketId, local: Endpoint) -> Result<Endpoint, SocketError> {
        match self.sockets.get(&id) {
            Some(Socket::Unbound) => {}
            Some(_) => return Err(SocketError::InvalidState),
            None => return Err(SocketError::BadHandle),
        }
        let used = &self.local_ports;
        let local = if local.1 == 0 {
            let port = self
                .ports
                .allocate(local.0, (Ipv4Address::UNSPECIFIED, 0), |p| used.in_use(p))
                .ok_or(SocketError::OutOfMemory)?;
            (local.0, port)
        } else {
            if used.in_use(local.1) {
                return Err(SocketError::AddressInUse);
            }
            local
        };
        self.sockets.insert(id, Socket::Bound(local));
        self.local_ports.take(local.1);
        Ok(local)
    }

    /// Starts listening with an accept queue of `backlog` (at least 1, at most 4096).
    pub fn listen(&mut self, id: SocketId, backlog: u32) -> Result<(), SocketError> {
        let local = match self.sockets.get(&id) {
            Some(Socket::Bound(local)) => *local,
            Some(_) => return Err(SocketError::InvalidState),
            None => return Err(SocketError::BadHandle),
        };
        let listener = Listener {
            local,
            backlog: backlog.clamp(1, 4096) as usize,
            accept_queue: VecDeque::new(),
            embryonic: 0,
        };
        self.sockets.insert(id, Socket::Listener(listener));
        self.listeners.insert(local, id);
        Ok(())
    }

    /// Starts an active open to `remote` from `source` (our address on the route, which the host
    /// knows). An unbound socket gets an ephemeral port.
    pub fn connect(
        &mut self,
        now: Instant,
        id: SocketId,
        source: Ipv4Address,
        remote: Endpoint,
    ) -> Result<(), SocketError> {
        if remote.1 == 0
            || remote.0.is_unspecified()
            || remote.0.is_broadcast()
            || remote.0.is_multicast()
        {
            return Err(SocketError::InvalidArgument);
        }
        let (local, fresh) = match self.sockets.get(&id) {
            Some(Socket::Unbound) => {
                let used = &self.local_ports;
                let port = self
                    .ports
                    .allocate(source, remote, |p| used.in_use(p))
                    .ok_or(SocketError::OutOfMemory)?;
                ((source, port), true)
            }
            Some(Socket::Bound((addr, port))) => (
                (if addr.is_unspecified() { source } else { *addr }, *port),
                false,
            ),
            Some(_) => return Err(SocketError::InvalidState),
            None => return Err(SocketError::BadHandle),
        };
        if self.conns.contains_key(&(local, remote)) {
            return Err(SocketError::AddressInUse);
        }
        let iss = self.isn.isn(now, local, remote);
        let config = self.options.remove(&id).unwrap_or(self.config.conn);
        let conn = Conn::connect(local, remote, iss, config);
        self.sockets.insert(
            id,
            Socket::Conn {
                conn: Box::new(conn),
                parent: None,
                orphan: false,
            },
        );
        if fresh {
            self.local_ports.take(local.1);
        }
        self.conns.insert((local, remote), id);
        self.counters.active_opens += 1;
        self.dirty.insert(id);
        Ok(())
    }

    /// Takes an established connection from a listener's accept queue.
    pub fn accept(&mut self, id: SocketId) -> Result<(SocketId, Endpoint), SocketError> {
        let Some(Socket::Listener(l)) = self.sockets.get_mut(&id) else {
            return Err(if self.sockets.contains_key(&id) {
                SocketError::InvalidState
            } else {
                SocketError::BadHandle
            });
        };
        let Some(child) = l.accept_queue.pop_front() else {
            self.rearm(id, |r| r.acceptable = false);
            return Err(SocketError::WouldBlock);
        };
        self.dirty.insert(id);
        match self.sockets.get_mut(&child) {
            Some(Socket::Conn { conn, parent, .. }) => {
                *parent = None;
                Ok((child, conn.endpoints().1))
            }
            _ => Err(SocketError::WouldBlock),
        }
    }

    /// An operation would block: the readiness it waits for counts as not reported, so that
    /// the next time the socket is ready an event says so, even if the last report (before
    /// the application drained the socket) already said ready. Without this, data arriving
    /// between the drain and the next report would wake no one (epoll's edge-triggered mode
    /// re-arms on EAGAIN the same way).
    fn rearm(&mut self, id: SocketId, clear: impl FnOnce(&mut Readiness)) {
        if let Some(r) = self.reported.get_mut(&id) {
            clear(r);
        }
        self.dirty.insert(id);
    }

    fn conn_mut(&mut self, id: SocketId) -> Result<&mut Conn, SocketError> {
        match self.sockets.get_mut(&id) {
            Some(Socket::Conn {
                conn,
                orphan: false,
                ..
            }) => Ok(conn),
            Some(_) => Err(SocketError::InvalidState),
            None => Err(SocketError::BadHandle),
        }
    }

    /// Queues bytes to send; returns how many were taken.
    ///
    /// A connection with bytes the host holds still queued refuses (`InvalidState`): its own
    /// bytes would have to come after them.
    pub fn send(&mut self, id: SocketId, data: &[u8]) -> Result<usize, SocketError> {
        self.no_held_bytes(id)?;
        self.send_by(id, data.len(), |conn| conn.send(data))
    }

    /// [`Self::send`] for a buffer the caller gives up: the connection keeps it, uncopied.
    pub fn send_vec(&mut self, id: SocketId, data: Vec<u8>) -> Result<usize, SocketError> {
        self.no_held_bytes(id)?;
        self.send_by(id, data.len(), |conn| conn.send_vec(data))
    }

    /// Bytes given to `send` after held ones (`wrote`) could not be stored after them: refused
    /// while any are queued. (`wrote` after `send` is fine.)
    fn no_held_bytes(&mut self, id: SocketId) -> Result<(), SocketError> {
        match self.conn_mut(id)?.send_held() {
            0 => Ok(()),
            _ => Err(SocketError::InvalidState),
        }
    }

    /// Counts `len` more bytes that the host holds for the connection (docs/zero-copy.md);
    /// returns how many it takes, like [`Self::send`]: the host keeps exactly those.
    pub fn wrote(&mut self, id: SocketId, len: usize) -> Result<usize, SocketError> {
        self.send_by(id, len, |conn| conn.wrote(len))
    }

    /// Queues `wanted` bytes with `send` on the connection; returns how many were taken.
    fn send_by(
        &mut self,
        id: SocketId,
        wanted: usize,
        send: impl FnOnce(&mut Conn) -> Result<usize, ConnError>,
    ) -> Result<usize, SocketError> {
        let conn = self.conn_mut(id)?;
        let n = send(conn).map_err(SocketError::Connection)?;
        if n == 0 && wanted > 0 {
            self.rearm(id, |r| r.writable = false);
            return Err(SocketError::WouldBlock);
        }
        self.dirty.insert(id);
        Ok(n)
    }

    /// Takes up to `max` received bytes; empty at the end of the stream.
    pub fn recv(&mut self, id: SocketId, max: usize) -> Result<Vec<u8>, SocketError> {
        self.read(id, max).map(|(data, _)| data)
    }

    /// [`Self::recv`] where the host may hold bytes: the stored bytes, then how many of the
    /// host's it reads from its receive stream. Nothing of either is the end of the stream.
    pub fn read(&mut self, id: SocketId, max: usize) -> Result<(Vec<u8>, usize), SocketError> {
        let conn = self.conn_mut(id)?;
        if conn.recv_queue() == 0 && !conn.readable() {
            self.rearm(id, |r| r.readable = false);
            return Err(SocketError::WouldBlock);
        }
        if conn.recv_queue() == 0
            && let Some(e) = conn.error()
        {
            return Err(SocketError::Connection(e));
        }
        let read = conn.read(max);
        let took = !read.0.is_empty() || read.1 > 0;
        if took && conn.recv_queue() == 0 {
            // Drained: READABLE is re-armed, so what is left to read (the end of the stream,
            // if the FIN came with the data) or what comes next is reported again, and a
            // reader that got less than it asked for can stop without a read that finds
            // nothing (one crossing fewer per wake-up). A read of the end of the stream
            // itself re-arms nothing: the reader has seen it, and would be woken for it
            // again after every such read.
            self.rearm(id, |r| r.readable = false);
        } else {
            self.dirty.insert(id);
        }
        Ok(read)
    }

    /// Half-closes: a FIN after the queued data.
    pub fn shutdown(&mut self, id: SocketId) -> Result<(), SocketError> {
        self.conn_mut(id)?.close();
        self.dirty.insert(id);
        Ok(())
    }

    /// Closes the handle. A connection finishes its closing handshake on its own.
    pub fn close(&mut self, id: SocketId) -> Result<(), SocketError> {
        match self.sockets.get_mut(&id) {
            None => Err(SocketError::BadHandle),
            Some(Socket::Conn { conn, orphan, .. }) => {
                conn.close();
                *orphan = true;
                self.dirty.insert(id);
                self.reported.remove(&id);
                Ok(())
            }
            Some(Socket::Listener(_)) => {
                self.remove_listener(id);
                self.forget(id);
                Ok(())
            }
            Some(_) => {
                if let Some(port) = self.sockets.remove(&id).as_ref().and_then(local_port) {
                    self.local_ports.release(port);
                }
                self.forget(id);
                Ok(())
            }
        }
    }

    /// Drops what the layer kept about a socket that is gone (an exported state must not name
    /// it: the import would refuse the state, and the hot swap fail).
    fn forget(&mut self, id: SocketId) {
        self.options.remove(&id);
        self.dirty.remove(id);
        self.reported.remove(&id);
    }

    /// Aborts: RST, and the handle is gone.
    pub fn abort(&mut self, id: SocketId) -> Result<(), SocketError> {
        match self.sockets.get_mut(&id) {
            Some(Socket::Conn { conn, orphan, .. }) => {
                conn.abort();
                *orphan = true;
                self.dirty.insert(id);
                self.reported.remove(&id);
                Ok(())
            }
            Some(_) => self.close(id),
            None => Err(SocketError::BadHandle),
        }
    }

    /// Sets a socket option. A connection takes it at once (turning Nagle off sends what it
    /// held); another socket keeps it for the connection it will make or accept.
    pub fn set_option(
        &mut self,
        id: SocketId,
        option: options::SocketOption,
    ) -> Result<(), SocketError> {
        match self.sockets.get_mut(&id) {
            None => Err(SocketError::BadHandle),
            Some(Socket::Conn { conn, .. }) => {
                let mut config = *conn.config();
                option.apply(&mut config)?;
                if !conn.try_reconfigure(config) {
                    return Err(SocketError::InvalidState);
                }
                self.dirty.insert(id);
                Ok(())
            }
            Some(_) => {
                let config = self.options.entry(id).or_insert(self.config.conn);
                let mut changed = *config;
                option.apply(&mut changed)?;
                *config = changed;
                Ok(())
            }
        }
    }

    /// A listener goes, and with it the connections it had not handed out (reset).
    fn remove_listener(&mut self, id: SocketId) {
        if let Some(Socket::Listener(l)) = self.sockets.remove(&id) {
            self.listeners.remove(&l.local);
            self.local_ports.release(l.local.1);
            let children: Vec<SocketId> = self
                .sockets
                .iter()
                .filter(|(_, s)| matches!(s, Socket::Conn { parent: Some(p), .. } if *p == id))
                .map(|(c, _)| *c)
                .collect();
            for c in children {
                if let Some(Socket::Conn {
                    conn,
                    orphan,
                    parent,
                }) = self.sockets.get_mut(&c)
                {
                    conn.abort();
                    *orphan = true;
                    *parent = None;
                    self.dirty.insert(c);
                }
            }
        }
    }

    /// A socket's state and queues, for `ss`: (state, local, remote, recv-queue, send-queue).
    pub fn socket_info(&self, id: SocketId) -> Option<SocketInfo<'_>> {
        Some(match self.sockets.get(&id)? {
            Socket::Unbound => SocketInfo {
                state: "CLOSED",
                local: None,
                remote: None,
                recv_queue: 0,
                send_queue: 0,
                conn: None,
            },
            Socket::Bound(l) => SocketInfo {
                state: "CLOSED",
                local: Some(*l),
                remote: None,
                recv_queue: 0,
                send_queue: 0,
                conn: None,
            },
            Socket::Listener(l) => SocketInfo {
                state: "LISTEN",
                local: Some(l.local),
                remote: None,
                recv_queue: l.accept_queue.len(),
                send_queue: l.backlog,
                conn: None,
            },
            Socket::Conn { conn, .. } => SocketInfo {
                state: conn.state().name(),
                local: Some(conn.endpoints().0),
                remote: Some(conn.endpoints().1),
                recv_queue: conn.recv_queue(),
                send_queue: conn.send_queue(),
                conn: Some(conn),
            },
        })
    }

    /// Every socket handle, including orphaned connections still closing, in order.
    pub fn socket_ids(&self) -> impl Iterator<Item = SocketId> + use<> {
        let mut ids: Vec<_> = self.sockets.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
    }

    /// What a socket is ready for now.
    fn readiness(socket: &Socket) -> Readiness {
        match socket {
            Socket::Listener(l) => Readiness {
                acceptable: !l.accept_queue.is_empty(),
                ..Readiness::default()
            },
            Socket::Conn { conn, .. } => Readiness {
                readable: conn.readable(),
                writable: conn.writable(),
                acceptable: false,
                connected: conn.state().synchronized(),
                closed: conn.state() == State::Closed,
            },
            _ => Readiness::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Segments, readiness changes and the next deadline: what operations and timers produced
    /// since the last call.
    pub fn poll(&mut self, now: Instant, out: &mut Output) {
        for id in self.timers.take_due(now) {
            if let Some(Socket::Conn { conn, .. }) = self.sockets.get_mut(&id) {
                let before = conn.state();
                conn.on_timer(now);
                if conn.state() == State::Closed
                    && before != State::Closed
                    && conn.error() == Some(ConnError::TimedOut)
                {
                    self.counters.timeouts += 1;
                }
            }
            self.dirty.insert(id);
        }
        self.flush(now, out);
    }

    /// Emits the output and readiness of every dirty socket; collects closed connections.
    fn flush(&mut self, now: Instant, out: &mut Output) {
        let dirty = self.dirty.take();
        for &id in &dirty {
            let Some(Socket::Conn {
                conn,
                parent,
                orphan,
            }) = self.sockets.get_mut(&id)
            else {
                self.timers.set(id, None);
                self.report(id, out);
                continue;
            };
            let ((local, remote), parent, orphan) = (conn.endpoints(), *parent, *orphan);
            let ttl = conn.config().ttl;
            let mut segs = 0u64;
            let mut rsts = 0u64;
            let gso_max = self.config.gso_max as usize;
            let mut gso = gso::Gso::new(self.config.gso_max, id);
            conn.poll_output(now, gso_max, &mut |seg, held, size| {
                segs += match size {
                    0 => 1,
                    mss => (seg.payload.len() + held.map_or(0, |h| h.len)).div_ceil(mss) as u64,
                };
                if seg.flags.contains(TcpFlags::RST) {
                    rsts += 1;
                }
                gso.emit(out, local.0, remote.0, ttl, seg, held, size);
            });
            if let Some(up_to) = conn.take_held_consumed() {
                out.released.push(Released {
                    socket: id,
                    up_to,
                    gone: false,
                });
            }
            self.counters.out_segs += segs;
            self.counters.out_rsts += rsts;
            let fresh = conn.take_fresh_stats();
            self.counters.retrans_segs += fresh.retrans_segs;
            self.counters.recoveries += fresh.recoveries;
            self.counters.rto_timeouts += fresh.rtos;
            self.counters.loss_probes += fresh.tlps;
            self.counters.dsack_undos += fresh.undos;
            let (state, deadline) = (conn.state(), conn.poll_at());
            let holds = conn.holds_host_bytes();
            if state == State::Closed {
                if let Some(p) = parent
                    && let Some(Socket::Listener(l)) = self.sockets.get_mut(&p)
                {
                    let queued = l.accept_queue.len();
                    l.accept_queue.retain(|c| *c != id);
                    if l.accept_queue.len() == queued {
                        l.embryonic = l.embryonic.saturating_sub(1);
                    }
                    self.report(p, out);
                }
                self.conns.remove(&(local, remote));
                if orphan || parent.is_some() {
                    if holds {
                        out.released.push(Released {
                            socket: id,
                            up_to: u64::MAX,
                            gone: true,
                        });
                    }
                    self.sockets.remove(&id);
                    self.local_ports.release(local.1);
                    self.reported.remove(&id);
                    self.timers.set(id, None);
                    continue;
                }
            }
            self.timers.set(id, deadline);
            if !orphan && parent.is_none() {
                self.report(id, out);
            }
        }
        self.dirty.give_back(dirty);
        out.deadline = self.timers.next();
    }

    /// Reports a socket's readiness if it changed since the last report.
    fn report(&mut self, id: SocketId, out: &mut Output) {
        // One lookup in each table: this runs for every socket a call touched.
        let Some(socket) = self.sockets.get(&id) else {
            return;
        };
        let now = Self::readiness(socket);
        if self.reported.insert(id, now) != Some(now) {
            out.events.push((id, now));
        }
    }

    /// ICMP errors about segments we sent (ipv4 matched them to TCP): `original_src` and
    /// `original_dst` are the offending datagram's addresses and `header` the start of the
    /// TCP header it carried (ports and sequence number, RFC 792's 8 bytes). Destination
    /// unreachable, fragmentation needed (type 3 code 4) lowers the connection's segment size
    /// ([`Conn::on_packet_too_big`]); every other error is soft (RFC 5927 §4, RFC 1122
    /// §4.2.3.9: a connection is not aborted for one).
    #[allow(clippy::too_many_arguments)]
    pub fn icmp_error(
        &mut self,
        now: Instant,
        icmp_type: u8,
        code: u8,
        next_hop_mtu: u16,
        original_src: Ipv4Address,
        original_dst: Ipv4Address,
        header: &[u8],
        out: &mut Output,
    ) {
        const DST_UNREACHABLE: u8 = 3;
        const FRAG_NEEDED: u8 = 4;
        let taken = match header {
            [sp0, sp1, dp0, dp1, s0, s1, s2, s3, ..]
                if icmp_type == DST_UNREACHABLE && code == FRAG_NEEDED =>
            {
                let local = (original_src, u16::from_be_bytes([*sp0, *sp1]));
                let remote = (original_dst, u16::from_be_bytes([*dp0, *dp1]));
                let seq = SeqNumber(u32::from_be_bytes([*s0, *s1, *s2, *s3]));
                match self.conns.get(&(local, remote)).copied() {
                    Some(id) => match self.sockets.get_mut(&id) {
                        Some(Socket::Conn { conn, .. }) => {
                            let taken = conn.on_packet_too_big(seq, next_hop_mtu);
                            self.dirty.insert(id);
                            taken
                        }
                        _ => false,
                    },
                    None => false,
                }
            }
            _ => false,
        };
        if taken {
            self.counters.icmp_path_mtu += 1;
        } else {
            self.counters.icmp_ignored += 1;
        }
        self.flush(now, out);
    }

    /// Handles segments ipv4 delivered.
    pub fn receive<'a>(
        &mut self,
        now: Instant,
        segments: impl IntoIterator<Item = (&'a DatagramInfo, &'a [u8])>,
        out: &mut Output,
    ) {
        for (info, bytes) in segments {
            self.counters.in_segs += 1;
            let repr = match TcpPacket::new_checked(bytes).and_then(|p| {
                // A segment size says the host checked the checksums (the NIC did, before GRO
                // merged the segments, whose sum this field no longer is).
                let mode = if info.segment_size != 0 {
                    ChecksumMode::Trust
                } else {
                    ChecksumMode::Verify
                };
                TcpRepr::parse(&p, info.src_addr, info.dst_addr, mode)
            }) {
                Ok(r) => r,
                Err(netstack_wire::Error::Checksum) => {
                    self.counters.in_csum_errors += 1;
                    continue;
                }
                Err(_) => {
                    self.counters.in_errs += 1;
                    continue;
                }
            };
            let local = (info.dst_addr, repr.dst_port);
            let remote = (info.src_addr, repr.src_port);
            match self.conns.get(&(local, remote)) {
                Some(&id) if self.stores_received(id) || repr.payload.is_empty() => {
                    self.conn_segment(now, id, &repr)
                }
                Some(_) => {
                    // Data for a connection whose received bytes the host holds cannot be
                    // stored after them: dropped unacknowledged (the host gives such data by
                    // length, `receive_held`; this is a host's bug, counted).
                    self.counters.in_errs += 1;
                }
                None => self.segment_without_conn(now, info, &repr, out),
            }
        }
        self.flush(now, out);
    }

    /// Whether connection `id` stores the bytes it receives (the host holds none of them).
    fn stores_received(&self, id: SocketId) -> bool {
        match self.sockets.get(&id) {
            Some(Socket::Conn { conn, .. }) => !conn.holds_received(),
            _ => true,
        }
    }

    /// A segment for no connection: to a listener, or the CLOSED state's rules.
    fn segment_without_conn(
        &mut self,
        now: Instant,
        info: &DatagramInfo,
        repr: &TcpRepr<'_>,
        out: &mut Output,
    ) {
        let local = (info.dst_addr, repr.dst_port);
        let remote = (info.src_addr, repr.src_port);
        let listener = self
            .listeners
            .get(&local)
            .or_else(|| self.listeners.get(&(Ipv4Address::UNSPECIFIED, local.1)))
            .copied();
        match listener {
            Some(id) => self.listen_segment(now, id, local, remote, info, repr, out),
            // No connection exists: the CLOSED state's rules (RFC 9293 §3.10.7.1).
            None => self.reset_closed(info, repr, out),
        }
    }

    /// [`Self::receive`] for segments whose data the host holds (docs/zero-copy.md): each is its
    /// TCP header, whose checksum the host verified, and the length of its data. The output
    /// says where the host puts the data (`placed`), or which segments need their bytes after
    /// all (`wanted`, to give to `receive` in order): those with data for a connection that
    /// stores received bytes itself, or for no connection (a handshake's last ACK with data).
    pub fn receive_held<'a>(
        &mut self,
        now: Instant,
        segments: impl IntoIterator<Item = (&'a DatagramInfo, &'a [u8], usize)>,
        out: &mut Output,
    ) {
        // The data's stand-in: the core sees a payload of the right length, whose bytes it
        // never reads for a connection the host holds data for.
        static DATA: [u8; 65536] = [0; 65536];
        for (index, (info, header, len)) in segments.into_iter().enumerate() {
            let parsed = TcpPacket::new_checked(header).and_then(|p| {
                TcpRepr::parse(&p, info.src_addr, info.dst_addr, ChecksumMode::Trust)
            });
            let mut repr = match parsed {
                Ok(r) if r.payload.is_empty() && len <= DATA.len() => r,
                _ => {
                    // Not a bare header: the byte path judges (and counts) it.
                    out.wanted.push(index);
                    continue;
                }
            };
            repr.payload = &DATA[..len];
            let local = (info.dst_addr, repr.dst_port);
            let remote = (info.src_addr, repr.src_port);
            let conn = self.conns.get(&(local, remote)).copied();
            let held = conn.and_then(|id| match self.sockets.get_mut(&id) {
                Some(Socket::Conn { conn, .. }) if conn.takes_held_data() => Some((id, conn)),
                _ => None,
            });
            match held {
                Some((id, conn)) => {
                    if len > 0 {
                        conn.hold_received();
                    }
                    self.counters.in_segs += 1;
                    self.conn_segment(now, id, &repr);
                    if let Some(Socket::Conn { conn, .. }) = self.sockets.get_mut(&id) {
                        out.placed.extend(conn.take_placements().map(|p| Placed {
                            segment: index,
                            socket: id,
                            skip: p.skip,
                            len: p.len,
                            offset: p.offset,
                        }));
                    }
                }
                None if len > 0 => out.wanted.push(index),
                None => {
                    // No data: handled as `receive` would.
                    self.counters.in_segs += 1;
                    self.segment_without_conn(now, info, &repr, out);
                }
            }
        }
        self.flush(now, out);
    }

    /// A segment for connection `id`. One that would complete a handshake while the listener's
    /// accept queue is full is dropped (Linux's `ListenOverflows`): the connection stays in
    /// SYN-RECEIVED, its SYN-ACK goes again, and the peer's answer gets another chance.
    fn conn_segment(&mut self, now: Instant, id: SocketId, seg: &TcpRepr<'_>) {
        let Some(Socket::Conn { conn, parent, .. }) = self.sockets.get(&id) else {
            return;
        };
        let handshake = conn.state() == State::SynReceived;
        if let Some(p) = *parent
            && handshake
            && seg.flags.contains(TcpFlags::ACK)
            && !seg.flags.contains(TcpFlags::RST)
            && self.accept_queue_full(p)
        {
            self.counters.listen_overflows += 1;
            return;
        }
        if let Some(Socket::Conn { conn, .. }) = self.sockets.get_mut(&id) {
            conn.on_segment(now, seg);
        }
        self.dirty.insert(id);
        if handshake {
            self.promote(id);
        }
    }

    fn accept_queue_full(&self, listener: SocketId) -> bool {
        matches!(self.sockets.get(&listener), Some(Socket::Listener(l)) if l.accept_queue.len() >= l.backlog)
    }

    /// A connection whose handshake completed leaves its listener's SYN queue for the accept
    /// queue.
    fn promote(&mut self, id: SocketId) {
        let Some(Socket::Conn {
            conn,
            parent: Some(p),
            ..
        }) = self.sockets.get(&id)
        else {
            return;
        };
        let p = *p;
        if conn.state().synchronized()
            && let Some(Socket::Listener(l)) = self.sockets.get_mut(&p)
        {
            l.embryonic = l.embryonic.saturating_sub(1);
            l.accept_queue.push_back(id);
            self.counters.passive_opens += 1;
            self.dirty.insert(p);
        }
    }

    /// RFC 9293 §3.10.7.2, the LISTEN state.
    #[allow(clippy::too_many_arguments)]
    fn listen_segment(
        &mut self,
        now: Instant,
        id: SocketId,
        local: Endpoint,
        remote: Endpoint,
        info: &DatagramInfo,
        seg: &TcpRepr<'_>,
        out: &mut Output,
    ) {
        // "First, check for a RST ... should be ignored."
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        // "Second, check for an ACK ... form a reset segment <SEQ=SEG.ACK><CTL=RST>", unless
        // it completes a handshake we answered with a SYN cookie.
        if seg.flags.contains(TcpFlags::ACK) {
            if !seg.flags.contains(TcpFlags::SYN) && self.cookie_ack(now, id, local, remote, seg) {
                return;
            }
            self.reset_closed(info, seg, out);
            return;
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            return;
        }
        let Some(Socket::Listener(l)) = self.sockets.get_mut(&id) else {
            return;
        };
        if l.accept_queue.len() >= l.backlog {
            // The application is not accepting: drop the SYN, as Linux does; the peer retries.
            self.counters.listen_overflows += 1;
            return;
        }
        let config = self.options.get(&id).copied().unwrap_or(self.config.conn);
        if l.embryonic >= l.backlog {
            self.send_cookie(now, local, remote, seg, config, out);
            return;
        }
        l.embryonic += 1;
        let iss = self.isn.isn(now, local, remote);
        let conn = Conn::accept(local, remote, seg, iss, config);
        self.adopt(id, conn);
    }

    /// A connection joins listener `parent`'s SYN queue.
    fn adopt(&mut self, parent: SocketId, conn: Conn) -> Option<SocketId> {
        let child = self.create().ok()?;
        let (local, remote) = conn.endpoints();
        self.sockets.insert(
            child,
            Socket::Conn {
                conn: Box::new(conn),
                parent: Some(parent),
                orphan: false,
            },
        );
        self.conns.insert((local, remote), child);
        self.local_ports.take(local.1);
        self.dirty.insert(child);
        Some(child)
    }

    /// The SYN queue is full: answer `syn` with a SYN-ACK whose ISS is a cookie, and keep
    /// nothing (RFC 4987 §3.6). The SYN-ACK is the one a connection would send, made by a
    /// connection that is dropped at once, with the peer's options in its TSval.
    fn send_cookie(
        &mut self,
        now: Instant,
        local: Endpoint,
        remote: Endpoint,
        syn: &TcpRepr<'_>,
        config: ConnConfig,
        out: &mut Output,
    ) {
        let peer_mss = syn.max_seg_size.unwrap_or(conn::DEFAULT_PEER_MSS);
        let (iss, _) = self
            .cookies
            .make(now, local, remote, syn.seq_number, peer_mss);
        // Without timestamps the options have nowhere to go: offer none.
        let with_ts = config.timestamps && syn.timestamp.is_some();
        let syn = TcpRepr {
            window_scale: syn.window_scale.filter(|_| with_ts),
            sack_permitted: syn.sack_permitted && with_ts,
            ..*syn
        };
        let mut conn = Conn::accept(local, remote, &syn, iss, config);
        let ttl = config.ttl;
        conn.poll_output(now, 0, &mut |seg, _, _| {
            let mut seg = *seg;
            if let Some(ts) = &mut seg.timestamp {
                ts.tsval =
                    syncookie::encode_options(ts.tsval, syn.window_scale, syn.sack_permitted);
            }
            emit(out, local.0, remote.0, ttl, &seg, None);
        });
        self.counters.syncookies_sent += 1;
        self.counters.out_segs += 1;
    }

    /// An ACK to listener `id` that may complete a handshake answered with a cookie. Returns
    /// whether it was taken (a connection made, or dropped for a full accept queue); a segment
    /// that carries no valid cookie draws the RST of the LISTEN state.
    fn cookie_ack(
        &mut self,
        now: Instant,
        id: SocketId,
        local: Endpoint,
        remote: Endpoint,
        ack: &TcpRepr<'_>,
    ) -> bool {
        if !self.cookies.recently_made(now) {
            return false;
        }
        let iss = ack.ack_number - 1;
        let Some(mss) = self
            .cookies
            .check(now, local, remote, ack.seq_number - 1, iss)
        else {
            self.counters.syncookies_failed += 1;
            return false;
        };
        let Some(Socket::Listener(l)) = self.sockets.get_mut(&id) else {
            return false;
        };
        if l.accept_queue.len() >= l.backlog {
            // As for a SYN: dropped, and the peer's next segment (its data, or a
            // retransmission) carries the cookie again.
            self.counters.listen_overflows += 1;
            return true;
        }
        l.embryonic += 1;
        let config = self.options.get(&id).copied().unwrap_or(self.config.conn);
        let (window_scale, sack) = match ack.timestamp {
            Some(ts) if config.timestamps => syncookie::decode_options(ts.tsecr),
            _ => (None, false),
        };
        let peer = syncookie::CookieOptions {
            mss,
            window_scale,
            sack: sack && config.sack,
        };
        let conn = Conn::from_cookie(now, local, remote, ack, iss, peer, config);
        self.counters.syncookies_recv += 1;
        if let Some(child) = self.adopt(id, conn) {
            self.promote(child);
        }
        true
    }

    /// RFC 9293 §3.10.7.1: "An incoming segment containing a RST is discarded. An incoming
    /// segment not containing a RST causes a RST to be sent in response. ... If the ACK bit is
    /// off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the ACK
    /// bit is on, <SEQ=SEG.ACK><CTL=RST>".
    fn reset_closed(&mut self, info: &DatagramInfo, seg: &TcpRepr<'_>, out: &mut Output) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        let reply = match seg.ack() {
            Some(ack) => TcpRepr::new(
                seg.dst_port,
                seg.src_port,
                TcpFlags::RST,
                ack,
                SeqNumber(0),
                0,
            ),
            None => TcpRepr::new(
                seg.dst_port,
                seg.src_port,
                TcpFlags::RST | TcpFlags::ACK,
                SeqNumber(0),
                seg.seq_number + seg.segment_len(),
                0,
            ),
        };
        let reply_info = DatagramInfo {
            protocol: IpProtocol::Tcp,
            src_addr: info.dst_addr,
            dst_addr: info.src_addr,
            ttl: DEFAULT_TTL,
            tos: 0,
            dont_frag: true,
            segment_size: 0,
        };
        out.to_ipv4.push_with(reply_info, HEADER_LEN, |b| {
            reply.emit(
                &mut TcpPacket::new_unchecked(b),
                reply_info.src_addr,
                reply_info.dst_addr,
            );
        });
        self.counters.out_segs += 1;
        self.counters.out_rsts += 1;
    }
}

#[cfg(test)]
mod tests;
