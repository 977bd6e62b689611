//! The hot-swap state format (DESIGN.md §7), versioned so that a new build reads the previous
//! version.
//!
//! Every version starts with `b"NSTCP"` and the version as a little-endian u32.
//!
//! - Version 1: the counters as little-endian u64s in declaration order, prefixed by their count.
//!   It carried no socket: a layer imported from it starts empty.
//! - Version 2: a postcard-encoded [`Snapshot`]: the configuration, the port allocator, every
//!   socket (listeners with their accept queues; connections with their buffers, out-of-order
//!   queue, timers as absolute instants of the host clock, RTT estimator and congestion state),
//!   per-socket options, the 4-tuple and listener tables, the sockets whose output is due and
//!   the readiness last reported, and the counters by name (so a build that counts more, or
//!   less, still reads it). Connections carry their SACK scoreboard, RACK/TLP timers and
//!   congestion state (NewReno or CUBIC) as part of `Conn`.
//!
//! - Version 3: version 2 and `ConnConfig::recv_buffer_max` (receive-buffer auto-tuning's
//!   ceiling), wherever a `ConnConfig` is (layer defaults, per-socket options, connections).
//! - Version 4: version 3 and, in each send buffer, the count of bytes the host holds
//!   (`tcp.wrote`) and where they start in the host's stream for the socket. The host's bytes
//!   stay in the host across the swap.
//!
//! postcard is not self-describing: any change to a serialised type is a new version, and the
//! new build must still read what the running one exports (`testdata/` keeps states the
//! previous builds wrote, and a test imports them and carries on). A field added at version N
//! is read with `#[serde(deserialize_with = "since_vN")]`: from an older state it takes no
//! bytes and is `Default` (choose the field's meaning so that is right). A change that is not
//! an addition needs the old types frozen in a module of their own, with a conversion.
//!
//! Timers are absolute instants of the host's monotonic clock, which a hot swap does not reset:
//! a retransmission due in 150 ms before the swap is due in 150 ms after it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use crate::conn::ConnConfig;
use crate::tables::{LocalMap, SecretKeyed};
use crate::{
    Counters, Endpoint, LayerConfig, Readiness, Socket, SocketId, TcpLayer, isn, ports, syncookie,
};

/// The version this build writes.
pub const STATE_VERSION: u32 = 4;
const MAGIC: &[u8; 5] = b"NSTCP";

/// Why a state could not be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// Not a TCP state, cut short, or inconsistent.
    Invalid,
    /// A version this build does not read.
    UnsupportedVersion(u32),
}

std::thread_local! {
    /// The version being imported, for the fields added since version 2 (see [`since_v3`]).
    static READING: core::cell::Cell<u32> = const { core::cell::Cell::new(STATE_VERSION) };
}

/// Reads a field added in version 3: its default from an older state, which has no bytes for it.
pub(crate) fn since_v3<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    since(3, d)
}

/// Reads a field added in version 4 (see [`since_v3`]).
pub(crate) fn since_v4<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    since(4, d)
}

fn since<'de, D, T>(version: u32, d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    if READING.get() >= version {
        T::deserialize(d)
    } else {
        Ok(T::default())
    }
}

/// Runs `f` (a deserialisation) as reading a state of `version`.
pub(crate) fn reading<T>(version: u32, f: impl FnOnce() -> T) -> T {
    READING.set(version);
    let r = f();
    READING.set(STATE_VERSION);
    r
}

/// Versions 2 to 4's body. Borrowed when exported, owned when imported.
#[derive(Serialize, Deserialize)]
struct Snapshot<'a> {
    config: LayerConfig,
    ports: Cow<'a, ports::PortAllocator>,
    sockets: SocketTable<'a>,
    next_socket: SocketId,
    // The hash maps go as sorted lists, so that the same state always exports the same bytes.
    conns: Vec<((Endpoint, Endpoint), SocketId)>,
    listeners: Vec<(Endpoint, SocketId)>,
    options: Cow<'a, BTreeMap<SocketId, ConnConfig>>,
    dirty: Cow<'a, BTreeSet<SocketId>>,
    reported: Vec<(SocketId, Readiness)>,
    counters: Vec<(Cow<'a, str>, u64)>,
}

/// A snapshot's socket table: exported from the layer's hash map in handle order, so that the
/// same state always exports the same bytes (and in the ordered map's format of versions 2
/// to 4), and imported as the hash map. By reference, unlike the small tables' [`sorted`]:
/// a copy would clone every connection and its buffers at each hot swap.
enum SocketTable<'a> {
    Exported(&'a LocalMap<SocketId, Socket>),
    Imported(LocalMap<SocketId, Socket>),
}

impl Serialize for SocketTable<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let table = match self {
            SocketTable::Exported(table) => table,
            SocketTable::Imported(table) => table,
        };
        let mut ids: Vec<_> = table.keys().collect();
        ids.sort_unstable();
        serializer.collect_map(ids.into_iter().map(|id| (id, &table[id])))
    }
}

impl<'de> Deserialize<'de> for SocketTable<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        LocalMap::deserialize(deserializer).map(SocketTable::Imported)
    }
}

impl TcpLayer {
    /// Serialises the layer's whole state.
    pub fn export_state(&self) -> Vec<u8> {
        let snapshot = Snapshot {
            config: self.config,
            ports: Cow::Borrowed(&self.ports),
            sockets: SocketTable::Exported(&self.sockets),
            next_socket: self.next_socket,
            conns: sorted(&self.conns),
            listeners: sorted(&self.listeners),
            options: Cow::Borrowed(&self.options),
            dirty: Cow::Owned(self.dirty.iter().copied().collect()),
            reported: sorted(&self.reported),
            counters: (self.counters.list().iter())
                .map(|&(name, v)| (Cow::Borrowed(name), v))
                .collect(),
        };
        let mut b = Vec::from(&MAGIC[..]);
        b.extend_from_slice(&STATE_VERSION.to_le_bytes());
        postcard::to_extend(&snapshot, b).expect("a Vec grows as needed")
    }

    /// Restores a layer from [`Self::export_state`]'s bytes, of this version or the previous.
    pub fn import_state(bytes: &[u8]) -> Result<TcpLayer, StateError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(StateError::Invalid)?;
        let (version, rest) = take_u32(rest)?;
        match version {
            1 => import_v1(rest),
            2..=STATE_VERSION => reading(version, || import_snapshot(rest)),
            v => Err(StateError::UnsupportedVersion(v)),
        }
    }
}

fn import_snapshot(body: &[u8]) -> Result<TcpLayer, StateError> {
    let s: Snapshot<'_> = postcard::from_bytes(body).map_err(|_| StateError::Invalid)?;
    let mut counters = Counters::default();
    for (name, v) in &s.counters {
        // A counter this build does not have is dropped, one it has and the state lacks is 0.
        counters.set(name, *v);
    }
    let sockets = match s.sockets {
        SocketTable::Imported(table) => table,
        SocketTable::Exported(table) => table.clone(),
    };
    let local_ports = crate::LocalPorts::of(&sockets);
    let layer = TcpLayer {
        config: s.config,
        isn: isn::IsnGenerator::new(s.config.isn_secret),
        cookies: syncookie::CookieJar::new(s.config.isn_secret),
        ports: s.ports.into_owned(),
        sockets,
        next_socket: s.next_socket,
        conns: {
            let mut conns = SecretKeyed::new(s.config.isn_secret).map();
            conns.extend(s.conns);
            conns
        },
        listeners: s.listeners.into_iter().collect(),
        options: s.options.into_owned(),
        dirty: crate::Dirty(s.dirty.iter().copied().collect()),
        reported: s.reported.into_iter().collect(),
        counters,
        timers: Default::default(),
        local_ports,
    };
    layer.check_tables()?;
    let mut layer = layer;
    layer.schedule_all();
    Ok(layer)
}

fn import_v1(body: &[u8]) -> Result<TcpLayer, StateError> {
    const V1_COUNTERS: [&str; 9] = [
        "in-segs",
        "in-csum-errors",
        "in-errs",
        "out-segs",
        "out-rsts",
        "active-opens",
        "passive-opens",
        "listen-overflows",
        "timeouts",
    ];
    let (count, mut rest) = take_u32(body)?;
    let mut layer = TcpLayer::default();
    for i in 0..count as usize {
        let (v, r) = rest.split_first_chunk::<8>().ok_or(StateError::Invalid)?;
        rest = r;
        if let Some(name) = V1_COUNTERS.get(i) {
            layer.counters.set(name, u64::from_le_bytes(*v));
        }
    }
    if !rest.is_empty() {
        return Err(StateError::Invalid);
    }
    Ok(layer)
}

impl TcpLayer {
    /// Refuses a state whose tables name sockets that are not there, so that a corrupt import
    /// fails cleanly instead of panicking later.
    fn check_tables(&self) -> Result<(), StateError> {
        let is_conn = |id: &SocketId| matches!(self.sockets.get(id), Some(Socket::Conn { .. }));
        let is_listener = |id: &SocketId| matches!(self.sockets.get(id), Some(Socket::Listener(_)));
        let ok = self.conns.values().all(is_conn)
            && self.listeners.values().all(is_listener)
            && self.dirty.iter().all(|id| self.sockets.contains_key(id))
            && self.options.keys().all(|id| self.sockets.contains_key(id))
            && self.sockets.keys().all(|&id| id < self.next_socket)
            && self.sockets.values().all(|s| match s {
                Socket::Listener(l) => l.accept_queue.iter().all(is_conn),
                _ => true,
            });
        if ok { Ok(()) } else { Err(StateError::Invalid) }
    }
}

fn sorted<K: Ord + Copy, V: Copy, S: BuildHasher>(map: &HashMap<K, V, S>) -> Vec<(K, V)> {
    let mut v: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
    v.sort_unstable_by_key(|&(k, _)| k);
    v
}

fn take_u32(b: &[u8]) -> Result<(u32, &[u8]), StateError> {
    let (v, rest) = b.split_first_chunk::<4>().ok_or(StateError::Invalid)?;
    Ok((u32::from_le_bytes(*v), rest))
}
