//! One connection's state machine (RFC 9293 §3.3.2, processing per §3.10.7), sans-IO.
//!
//! What it does: the three-way handshake both ways (simultaneous open included), in-order
//! delivery with out-of-order segments held (bounded by the receive window), delayed ACKs (every
//! second full segment or 40 ms, at once for anything out of order; quick ACKs at the start),
//! Nagle's algorithm, retransmission on the RTO of RFC 6298 with Karn's rule and backoff,
//! NewReno fast retransmit and recovery, window scaling and timestamps with PAWS (RFC 7323),
//! zero-window probes, keepalive, the FIN handshakes of every closing state (simultaneous close
//! included), TIME-WAIT for 2·MSL, RST sent and accepted with RFC 5961's checks (challenge
//! ACKs), the MSS option, SACK (RFC 2018) with RFC 6675's loss recovery, RFC 3042's limited
//! transmit, RFC 8985's tail loss probe and reordering window (RACK's rule kept in sequence
//! order rather than per-segment send times), D-SACK undo, and NewReno or CUBIC per socket.
//!
//! Every entry point takes `now`; segments to send come out of [`Conn::poll_output`], the next
//! timer out of [`Conn::poll_at`].

use std::collections::BTreeMap;

use netstack_wire::{Ipv4Address, SeqNumber, TcpFlags, TcpRepr, TcpTimestamp};

use crate::Instant;
use crate::bytequeue::{ByteQueue, Held};
use crate::cc::{AckOutcome, NewReno};
use crate::rto::RtoEstimator;
use crate::sack::{HeldRanges, Scoreboard, receiver_blocks};

/// RFC 9293's states (LISTEN lives in the listener, CLOSED is the absence of a connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// Our SYN is out; waiting for the peer's.
    SynSent,
    /// The peer's SYN came, ours is out; waiting for its ACK.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN is out.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for our FIN's ACK.
    Closing,
    /// The peer closed, then we did; waiting for our FIN's ACK.
    LastAck,
    /// Both closed; lingering 2·MSL for stray segments.
    TimeWait,
    /// Gone (reset, timed out, or fully closed).
    Closed,
}

impl State {
    /// The RFC's name, as `ss` prints it.
    pub fn name(self) -> &'static str {
        match self {
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
            State::Closed => "CLOSED",
        }
    }

    /// Whether the handshake completed (RFC 9293's "synchronized" states).
    pub fn synchronized(self) -> bool {
        !matches!(self, State::SynSent | State::SynReceived | State::Closed)
    }
}

/// Why a connection ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConnError {
    /// The peer answered our SYN with RST.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions went unanswered.
    TimedOut,
    /// Aborted locally.
    Aborted,
}

/// Where received bytes the host holds go: `len` bytes of the segment's data from `skip` to
/// offset `offset` of the connection's receive stream in the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub skip: usize,
    pub len: usize,
    pub offset: u64,
}

/// Per-connection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnConfig {
    /// The MSS we announce: the route MTU minus 40.
    pub mss: u16,
    /// Receive buffer bytes: the most the window we offer can be (65535 unless window scaling
    /// was agreed). Auto-tuning grows it, up to `recv_buffer_max`.
    pub recv_buffer: usize,
    /// The ceiling of receive-buffer auto-tuning (Linux's `tcp_rmem[2]`); at or below
    /// `recv_buffer`, the buffer stays as set (SO_RCVBUF turns auto-tuning off, as on Linux).
    /// New in state version 3: older states read 0, so their connections keep their buffer.
    #[serde(deserialize_with = "crate::state::since_v3")]
    pub recv_buffer_max: usize,
    /// Send buffer bytes.
    pub send_buffer: usize,
    /// TIME-WAIT: 2·MSL.
    pub time_wait_ns: u64,
    /// Retransmissions of data before giving up (Linux's `tcp_retries2`, 15).
    pub max_retries: u32,
    /// Retransmissions of a SYN before giving up (Linux's `tcp_syn_retries`, 6).
    pub max_syn_retries: u32,
    /// The window scale we offer (RFC 7323 §2; Linux's default is 7).
    pub window_scale: u8,
    /// Offer timestamps (RFC 7323 §3), for PAWS.
    pub timestamps: bool,
    /// Offer selective acknowledgments (RFC 2018).
    pub sack: bool,
    /// CUBIC (RFC 9438) rather than NewReno.
    pub cubic: bool,
    /// Nagle's algorithm (RFC 896, RFC 1122 §4.2.3.4): a segment shorter than the MSS waits
    /// while data is unacknowledged. On by default; TCP_NODELAY turns it off.
    pub nagle: bool,
    /// How long an ACK for in-order data may wait for a second segment or for data going back
    /// (RFC 1122 §4.2.3.2: under 0.5 s; Linux's floor, 40 ms).
    pub delayed_ack_ns: u64,
    /// Keepalive (RFC 1122 §4.2.3.6, SO_KEEPALIVE): off by default.
    pub keepalive: bool,
    /// Idle time before the first keepalive probe (Linux: 7200 s).
    pub keepalive_idle_ns: u64,
    /// Between unanswered probes (Linux: 75 s).
    pub keepalive_interval_ns: u64,
    /// Unanswered probes before the connection is dropped (Linux: 9).
    pub keepalive_count: u32,
    /// The TTL of our segments.
    pub ttl: u8,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            mss: 1460,
            // Linux's tcp_rmem: 128 KiB to start, auto-tuned up to 6 MiB.
            recv_buffer: 128 * 1024,
            recv_buffer_max: 6 * 1024 * 1024,
            send_buffer: 1024 * 1024,
            time_wait_ns: 60_000_000_000,
            max_retries: 15,
            max_syn_retries: 6,
            window_scale: 7,
            timestamps: true,
            sack: true,
            cubic: false,
            nagle: true,
            delayed_ack_ns: 40_000_000,
            keepalive: false,
            keepalive_idle_ns: 7200 * 1_000_000_000,
            keepalive_interval_ns: 75 * 1_000_000_000,
            keepalive_count: 9,
            ttl: crate::DEFAULT_TTL,
        }
    }
}

/// RFC 9293 §3.7.1: "the default ... MSS ... 536" when the peer announces none.
pub(crate) const DEFAULT_PEER_MSS: u16 = 536;

/// The smallest path MTU an ICMP error may set (Linux's `min_pmtu`, 552).
const MIN_PATH_MTU: u16 = 552;

/// The most data a connection sends without hearing from its peer (Linux's
/// `tcp_limit_output_bytes`, 1 MiB, bounds a socket's bytes queued below TCP the same way): a
/// window that opens wide (a zero window reopening, a large ACK, a fresh connection with a
/// grown window) goes out clocked by the ACKs of its first megabyte, instead of as one batch
/// that overruns the NIC's ring and the host's TX backlog. Fast retransmissions and probes are
/// not held by it; the next segment from the peer releases the next burst.
const BURST_MAX: usize = 1024 * 1024;

/// The floor of RACK's reordering window.
const REO_WND_MIN_NS: u64 = 1_000_000;

/// The floor of the tail loss probe timeout (RFC 8985 §7.2 suggests 10 ms for a host whose
/// timer granularity allows it).
const TLP_MIN_NS: u64 = 10_000_000;

/// Segments acknowledged one by one at the start of a connection (Linux's quick-ack mode), so
/// that delayed ACKs do not slow the peer's slow start.
const QUICKACKS: u8 = 16;

/// A connection.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Conn {
    state: State,
    local: (Ipv4Address, u16),
    remote: (Ipv4Address, u16),
    config: ConnConfig,
    error: Option<ConnError>,

    // Send sequence space (RFC 9293 §3.3.1).
    iss: SeqNumber,
    snd_una: SeqNumber,
    snd_nxt: SeqNumber,
    /// The highest SND.NXT reached: after a retransmission rewinds SND.NXT, ACKs up to here
    /// are still for data we sent.
    snd_max: SeqNumber,
    snd_wnd: u32,
    snd_wl1: SeqNumber,
    snd_wl2: SeqNumber,
    peer_mss: u16,
    /// Bytes from SND.UNA (after the SYN) on: sent and unacknowledged, then not yet sent.
    send_buf: ByteQueue,
    /// The send buffer's held offset last reported ([`Self::take_held_consumed`]). Not in the
    /// state: after an import it is reported once more, which the host takes as a no-op.
    #[serde(skip)]
    held_reported: u64,
    /// The application closed: a FIN follows the data.
    fin_queued: bool,

    // Receive sequence space.
    irs: SeqNumber,
    rcv_nxt: SeqNumber,
    /// In-order bytes the application has not read.
    recv_buf: Vec<u8>,
    /// Segments beyond RCV.NXT, by sequence number.
    out_of_order: BTreeMap<u32, Vec<u8>>,
    /// The host holds what this connection receives (docs/zero-copy.md): it is given each
    /// segment's length, not its bytes, and says where the host puts them ([`Placement`]).
    /// Set by the first such segment, when nothing is stored above; never unset.
    /// New in state version 4, as are the three fields after it.
    #[serde(deserialize_with = "crate::state::since_v4")]
    rx_held: bool,
    /// In-order bytes the host holds that the application has not read (they follow
    /// `recv_buf`'s).
    #[serde(deserialize_with = "crate::state::since_v4")]
    recv_held: usize,
    /// The offset in the host's receive stream of the byte at RCV.NXT.
    #[serde(deserialize_with = "crate::state::since_v4")]
    rcv_stream: u64,
    /// Segments beyond RCV.NXT whose bytes the host holds, by sequence number: their length.
    #[serde(deserialize_with = "crate::state::since_v4")]
    out_of_order_held: BTreeMap<u32, usize>,
    /// Where the segment being handled puts its bytes (the layer takes them after each).
    #[serde(skip)]
    placements: Vec<Placement>,
    /// The peer's FIN came and was consumed (end of stream).
    fin_received: bool,

    // Timers and what to send.
    rto: RtoEstimator,
    retransmit_at: Option<Instant>,
    retries: u32,
    /// The segment being timed for an RTT sample: (sequence number it ends at, sent at).
    rtt_probe: Option<(SeqNumber, Instant)>,
    time_wait_until: Option<Instant>,
    ack_now: bool,
    /// Resend from SND.UNA (after an RTO).
    rewind: bool,
    /// A RST to send before going away.
    send_rst: bool,
    /// A RST answering an unacceptable ACK in SYN-RECEIVED, at that ACK's number.
    send_rst_for: Option<SeqNumber>,
    /// Where our FIN went, once sent.
    fin_seq: Option<SeqNumber>,
    /// Congestion control.
    cc: NewReno,
    /// Resend the segment at SND.UNA now (fast retransmit, partial ACK), SND.NXT unmoved.
    retransmit_one: bool,
    /// Send a one-byte zero-window probe.
    probe_due: bool,
    /// RFC 7323 window scaling: the shift of the peer's window fields, and of ours.
    snd_wscale: u8,
    rcv_wscale: u8,
    /// RFC 7323 timestamps, once both SYNs carried them: TS.Recent, and RCV.NXT in our last ACK.
    ts_recent: Option<u32>,
    last_ack_sent: SeqNumber,
    /// The window our last ACK offered: with `last_ack_sent`, the right edge the peer knows.
    /// New in state version 3 (older states read 0: the first read then announces the window).
    #[serde(deserialize_with = "crate::state::since_v3")]
    last_wnd_sent: u32,
    /// Milliseconds of the host clock at the last entry point, for TSval.
    clock_ms: u32,
    /// Delayed ACK (RFC 5681 §4.2: "an ACK SHOULD be generated for at least every second
    /// full-sized segment"): in-order bytes not yet acknowledged, when their ACK is due at the
    /// latest, segments still acknowledged at once, and the largest segment the peer sent.
    delack_bytes: usize,
    delack_at: Option<Instant>,
    quickacks: u8,
    rcv_mss: usize,
    /// Keepalive: when the peer was last heard, probes sent since, a probe to send.
    last_heard: Instant,
    keepalive_probes: u32,
    keepalive_due: bool,
    /// SACK (RFC 2018), once both SYNs carried SACK-permitted: the sender's scoreboard, and
    /// where the receiver's latest out-of-order segment starts (its block is reported first).
    sack_ok: bool,
    scoreboard: Scoreboard,
    latest_out_of_order: Option<SeqNumber>,
    /// The out-of-order queues' sequence ranges, merged (the SACK blocks come from here).
    /// Derived, so not in the state: rebuilt from the queues on first use after an import.
    #[serde(skip)]
    held_ranges: Option<HeldRanges>,
    /// Tail loss probe (RFC 8985 §7): when to probe, and whether a probe is due or out (one
    /// per episode, until an ACK moves SND.UNA).
    tlp_at: Option<Instant>,
    tlp_due: bool,
    tlp_out: bool,
    /// RACK's reordering timer (RFC 8985 §6.2): when the holes below `reo_mark` (the highest
    /// SACKed byte when it started) count as lost if still open.
    reo_at: Option<Instant>,
    reo_mark: SeqNumber,
    /// The path MTU an ICMP "fragmentation needed" reported (RFC 1191), when below what the
    /// handshake's MSS allows. New in state version 3 (older states read none).
    #[serde(deserialize_with = "crate::state::since_v3")]
    path_mtu: Option<u16>,
    /// A duplicate segment to report in the next pure ACK's first SACK block (RFC 2883's
    /// D-SACK), so the sender can tell a needless retransmission and undo its reduction. Not
    /// exported: a report lost to a hot swap costs the peer an undo, nothing else.
    #[serde(skip)]
    dsack: Option<(SeqNumber, SeqNumber)>,
    /// Since the connection began, and since the layer last took them.
    #[serde(skip)]
    stats: ConnStats,
    #[serde(skip)]
    fresh: ConnStats,
    /// Receive-buffer auto-tuning's measurement. Not exported: after a hot swap it starts over,
    /// which costs one round trip of growth at most.
    #[serde(skip)]
    autotune: Autotune,
    /// Data sent since the peer was last heard from, against [`BURST_MAX`]. Not exported: a
    /// swap grants one more burst at most.
    #[serde(skip)]
    burst_sent: usize,
}

/// What a connection's sender went through (Linux's tcpi_retrans and TcpExt counters), for
/// `ss` and the layer's counters. Not exported with the state: a hot swap starts them over
/// (the layer's own counters carry on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments sent again (fast retransmit, SACK recovery, RTO, tail loss probe).
    pub retrans_segs: u64,
    /// Fast recoveries entered (duplicate ACKs, SACK, or RACK's reordering timer).
    pub recoveries: u64,
    /// Retransmission timeouts with data in flight.
    pub rtos: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tlps: u64,
    /// Reductions undone because D-SACKs showed every retransmission needless.
    pub undos: u64,
}

impl ConnStats {
    fn add(&mut self, o: &ConnStats) {
        self.retrans_segs += o.retrans_segs;
        self.recoveries += o.recoveries;
        self.rtos += o.rtos;
        self.tlps += o.tlps;
        self.undos += o.undos;
    }
}

/// Receive-buffer auto-tuning (Linux's dynamic right-sizing): once per round trip, the buffer
/// grows to twice what the application read in the last one, plus 16 segments, so that a sender
/// still doubling its window in slow start is never held back by ours, while a connection whose
/// application reads slowly keeps a small buffer. The receiver's round trip comes from the
/// timestamps the peer echoes (RFC 7323 §4.1's RTTM, our TSval back in TSecr), or else from our
/// own RTT estimate.
#[derive(Debug, Clone, Default)]
struct Autotune {
    /// When the current round started, and what the application read since.
    since: Instant,
    read: usize,
    /// The most read in one round so far.
    best: usize,
    /// The smoothed receiver RTT, from timestamps.
    rtt_ns: Option<u64>,
}

impl Conn {
    fn new(
        local: (Ipv4Address, u16),
        remote: (Ipv4Address, u16),
        iss: SeqNumber,
        config: ConnConfig,
        state: State,
    ) -> Conn {
        Conn {
            state,
            local,
            remote,
            config,
            error: None,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: SeqNumber(0),
            peer_mss: DEFAULT_PEER_MSS,
            send_buf: ByteQueue::default(),
            held_reported: 0,
            fin_queued: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            recv_buf: Vec::new(),
            out_of_order: BTreeMap::new(),
            rx_held: false,
            recv_held: 0,
            rcv_stream: 0,
            out_of_order_held: BTreeMap::new(),
            placements: Vec::new(),
            fin_received: false,
            rto: RtoEstimator::default(),
            retransmit_at: None,
            retries: 0,
            rtt_probe: None,
            time_wait_until: None,
            ack_now: false,
            rewind: false,
            send_rst: false,
            send_rst_for: None,
            fin_seq: None,
            cc: {
                let mut cc = NewReno::new(config.mss, iss);
                cc.set_cubic(config.cubic);
                cc
            },
            retransmit_one: false,
            probe_due: false,
            snd_wscale: 0,
            rcv_wscale: 0,
            ts_recent: None,
            last_ack_sent: SeqNumber(0),
            last_wnd_sent: 0,
            clock_ms: 0,
            delack_bytes: 0,
            delack_at: None,
            quickacks: QUICKACKS,
            rcv_mss: 0,
            last_heard: 0,
            keepalive_probes: 0,
            keepalive_due: false,
            sack_ok: false,
            scoreboard: Scoreboard::default(),
            latest_out_of_order: None,
            held_ranges: None,
            tlp_at: None,
            tlp_due: false,
            tlp_out: false,
            reo_at: None,
            reo_mark: SeqNumber(0),
            path_mtu: None,
            dsack: None,
            stats: ConnStats::default(),
            fresh: ConnStats::default(),
            autotune: Autotune::default(),
            burst_sent: 0,
        }
    }

    /// An active open: SYN-SENT, the SYN goes out with the next [`Self::poll_output`].
    pub fn connect(
        local: (Ipv4Address, u16),
        remote: (Ipv4Address, u16),
        iss: SeqNumber,
        config: ConnConfig,
    ) -> Conn {
        Conn::new(local, remote, iss, config, State::SynSent)
    }

    /// A passive open from LISTEN on `syn` (RFC 9293 §3.10.7.2): SYN-RECEIVED, the SYN-ACK goes
    /// out with the next [`Self::poll_output`].
    pub fn accept(
        local: (Ipv4Address, u16),
        remote: (Ipv4Address, u16),
        syn: &TcpRepr<'_>,
        iss: SeqNumber,
        config: ConnConfig,
    ) -> Conn {
        let mut c = Conn::new(local, remote, iss, config, State::SynReceived);
        c.irs = syn.seq_number;
        c.rcv_nxt = syn.seq_number + 1;
        c.snd_wnd = u32::from(syn.window_len);
        c.snd_wl1 = syn.seq_number;
        c.peer_mss = syn.max_seg_size.unwrap_or(DEFAULT_PEER_MSS).max(64);
        c.negotiate(syn);
        c.cc.set_mss(c.payload_per_segment() as u16);
        c
    }

    /// A passive open completed by `ack`, whose SYN was answered with a SYN cookie
    /// ([`crate::syncookie`]) instead of a connection: the SYN is rebuilt from what the cookie
    /// kept (the peer's ISN, MSS, window scale, SACK, and its TSval from the ACK), the SYN-ACK
    /// counts as sent, and `ack` is taken as in SYN-RECEIVED: the connection is ESTABLISHED,
    /// with any data the ACK carried.
    pub fn from_cookie(
        now: Instant,
        local: (Ipv4Address, u16),
        remote: (Ipv4Address, u16),
        ack: &TcpRepr<'_>,
        iss: SeqNumber,
        peer: crate::syncookie::CookieOptions,
        config: ConnConfig,
    ) -> Conn {
        let mut syn = TcpRepr::new(
            remote.1,
            local.1,
            TcpFlags::SYN,
            ack.seq_number - 1,
            SeqNumber(0),
            0,
        );
        syn.max_seg_size = Some(peer.mss);
        syn.window_scale = peer.window_scale;
        syn.sack_permitted = peer.sack;
        syn.timestamp = ack.timestamp.map(|ts| TcpTimestamp {
            tsval: ts.tsval,
            tsecr: 0,
        });
        let mut c = Conn::accept(local, remote, &syn, iss, config);
        c.snd_nxt = iss + 1;
        c.snd_max = iss + 1;
        c.last_ack_sent = c.rcv_nxt;
        c.on_segment(now, ack);
        c
    }

    /// RFC 7323 §2.2, §3.2: window scaling and timestamps are on only if both SYNs carry them.
    fn negotiate(&mut self, syn: &TcpRepr<'_>) {
        if let Some(shift) = syn.window_scale {
            self.snd_wscale = shift.min(14);
            self.rcv_wscale = self.config.window_scale.min(14);
        } else {
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
        self.ts_recent = if self.config.timestamps {
            syn.timestamp.map(|ts| ts.tsval)
        } else {
            None
        };
        self.sack_ok = self.config.sack && syn.sack_permitted;
    }

    /// Whether SACK was agreed (for `ss`).
    pub fn sack(&self) -> bool {
        self.sack_ok
    }

    /// Whether window scaling and timestamps were agreed (for `ss`).
    pub fn options(&self) -> (Option<(u8, u8)>, bool) {
        let ws = (self.state.synchronized() && (self.snd_wscale, self.rcv_wscale) != (0, 0))
            .then_some((self.snd_wscale, self.rcv_wscale));
        (ws, self.ts_recent.is_some())
    }

    /// What the sender went through since the connection began.
    pub fn stats(&self) -> ConnStats {
        let mut all = self.stats;
        all.add(&self.fresh);
        all
    }

    /// What happened since the last call (for the layer's counters).
    pub fn take_fresh_stats(&mut self) -> ConnStats {
        let fresh = std::mem::take(&mut self.fresh);
        self.stats.add(&fresh);
        fresh
    }

    /// The settings.
    pub fn config(&self) -> &ConnConfig {
        &self.config
    }

    /// Changes the settings of a live connection (socket options). The MSS and window scale
    /// were agreed in the handshake and stay; a buffer may not shrink below what it holds, and
    /// the receive buffer not at all once the window is announced (RFC 9293 §3.8.6: the
    /// window must not be retracted). Returns whether the change was taken.
    pub fn try_reconfigure(&mut self, config: ConnConfig) -> bool {
        let shrinks_window =
            config.recv_buffer < self.config.recv_buffer && self.state != State::SynSent;
        if shrinks_window || config.send_buffer < self.send_buf.len() {
            return false;
        }
        self.config = ConnConfig {
            mss: self.config.mss,
            window_scale: self.config.window_scale,
            timestamps: self.config.timestamps,
            ..config
        };
        self.cc.set_cubic(config.cubic);
        true
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The endpoints (local, remote).
    pub fn endpoints(&self) -> ((Ipv4Address, u16), (Ipv4Address, u16)) {
        (self.local, self.remote)
    }

    /// What ended the connection, if it ended badly.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    /// The RTT estimator.
    pub fn rto(&self) -> &RtoEstimator {
        &self.rto
    }

    /// Congestion control.
    pub fn congestion(&self) -> &NewReno {
        &self.cc
    }

    /// Data per segment: the MSS less the options every segment carries (RFC 9293 §3.7.1: the
    /// MSS counts data only, but IP and TCP options come out of the same packet; timestamps take
    /// 12 bytes).
    fn payload_per_segment(&self) -> usize {
        usize::from(self.send_mss()) - if self.ts_recent.is_some() { 12 } else { 0 }
    }

    /// The MSS we send with: the peer's, ours, and the path MTU's (RFC 1191), the least.
    pub fn send_mss(&self) -> u16 {
        let mss = self.peer_mss.min(self.config.mss);
        self.path_mtu
            .map_or(mss, |mtu| mss.min(mtu.saturating_sub(40)))
    }

    /// An ICMP "fragmentation needed" (RFC 1191 §6) about the segment at `seq`: a router on the
    /// path takes at most `mtu` bytes. If `seq` is in flight (RFC 5927 §4.1: anything else may
    /// be forged or stale) and the MTU is below our segments', they shrink to fit and what is
    /// in flight goes again at once, at the new size, without a congestion response (the
    /// segments were dropped for their size, not for congestion; RFC 1191 §6.5). The MTU is
    /// taken as 552 at the least (Linux's min_pmtu), so a forged tiny MTU cannot shred the
    /// stream. Returns whether it was taken.
    pub fn on_packet_too_big(&mut self, seq: SeqNumber, mtu: u16) -> bool {
        let in_flight = self.snd_una <= seq && seq < self.snd_max;
        if !(self.state.synchronized() && in_flight) {
            return false;
        }
        let mtu = mtu.max(MIN_PATH_MTU);
        if mtu.saturating_sub(40) >= self.send_mss() {
            return false;
        }
        self.path_mtu = Some(mtu);
        self.cc.set_mss(self.payload_per_segment() as u16);
        self.rewind = true;
        self.rtt_probe = None;
        true
    }

    /// Bytes sent and not acknowledged, and bytes queued behind them.
    pub fn send_queue(&self) -> usize {
        self.send_buf.len()
    }

    /// Bytes received and not read.
    pub fn recv_queue(&self) -> usize {
        self.recv_buf.len() + self.recv_held
    }

    /// Whether `recv` has something: data, or the end of the stream.
    pub fn readable(&self) -> bool {
        self.recv_queue() > 0 || self.fin_received || self.state == State::Closed
    }

    /// Whether the host may hold what this connection receives from now on: it does already,
    /// or nothing received is stored here (bytes stored here could not come after the host's).
    pub fn takes_held_data(&self) -> bool {
        self.rx_held || (self.recv_buf.is_empty() && self.out_of_order.is_empty())
    }

    /// Whether the host holds what this connection receives.
    pub fn holds_received(&self) -> bool {
        self.rx_held
    }

    /// From now on, the host holds what this connection receives (see [`Self::takes_held_data`]).
    pub fn hold_received(&mut self) {
        debug_assert!(self.takes_held_data());
        self.rx_held = true;
    }

    /// Where the bytes of the segments handled since the last call go.
    pub fn take_placements(&mut self) -> std::vec::Drain<'_, Placement> {
        self.placements.drain(..)
    }

    /// Whether `send` would take bytes.
    pub fn writable(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait)
            && !self.fin_queued
            && self.send_buf.len() < self.config.send_buffer
    }

    /// The window we can offer: free buffer, up to what the window field can say.
    fn rcv_wnd(&self) -> u32 {
        let max = 65535usize << self.rcv_wscale;
        (self.config.recv_buffer.saturating_sub(self.recv_queue())).min(max) as u32
    }

    /// The window a segment announces: scaled, except in a SYN (RFC 7323 §2.2).
    fn seg_window(&self, seg: &TcpRepr<'_>) -> u32 {
        if seg.flags.contains(TcpFlags::SYN) {
            u32::from(seg.window_len)
        } else {
            u32::from(seg.window_len) << self.snd_wscale
        }
    }

    /// Queues bytes to send; returns how many fit in the send buffer.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, ConnError> {
        let n = self.send_room(data.len())?;
        self.send_buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    /// [`Self::send`] for a buffer the caller gives up (a write as the canonical ABI lowered
    /// it): the send buffer keeps it instead of copying it.
    pub fn send_vec(&mut self, mut data: Vec<u8>) -> Result<usize, ConnError> {
        let n = self.send_room(data.len())?;
        data.truncate(n);
        self.send_buf.append(data);
        Ok(n)
    }

    /// [`Self::send`] for bytes the host keeps (docs/zero-copy.md): the send buffer counts
    /// them, and a segment carrying them names them as a [`Held`] span of the host's stream.
    pub fn wrote(&mut self, len: usize) -> Result<usize, ConnError> {
        let n = self.send_room(len)?;
        self.send_buf.append_held(n);
        Ok(n)
    }

    /// Bytes queued to send that the host holds: while there are any, bytes given to
    /// [`Self::send`] could not come after them.
    pub fn send_held(&self) -> usize {
        self.send_buf.held()
    }

    /// Whether the host ever held bytes for this connection (it keeps streams for it).
    pub fn holds_host_bytes(&self) -> bool {
        self.send_buf.held() > 0 || self.send_buf.held_consumed() > 0 || self.rx_held
    }

    /// How far the host's stream for this connection is acknowledged (it may drop the bytes
    /// before), if that moved since the last call.
    pub fn take_held_consumed(&mut self) -> Option<u64> {
        let at = self.send_buf.held_consumed();
        (at != std::mem::replace(&mut self.held_reported, at)).then_some(at)
    }

    /// How many of `wanted` bytes the send buffer takes now, or why it takes none.
    fn send_room(&self, wanted: usize) -> Result<usize, ConnError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) || self.fin_queued
        {
            return Err(ConnError::Aborted);
        }
        Ok(wanted.min(self.config.send_buffer - self.send_buf.len()))
    }

    /// Takes up to `max` received bytes. An empty result with [`Self::readable`] true is the end
    /// of the stream.
    pub fn recv(&mut self, max: usize) -> Vec<u8> {
        self.read(max).0
    }

    /// [`Self::recv`] where the host may hold bytes: up to `max` bytes, the stored ones (here)
    /// and then how many of the host's are read (it takes them from its receive stream).
    pub fn read(&mut self, max: usize) -> (Vec<u8>, usize) {
        let n = max.min(self.recv_buf.len());
        // Everything queued leaves as the buffer itself (no copy); a part as one copy. (A
        // `drain(..n).collect()` went byte by byte: 12% of a bulk transfer's time in wasm.)
        let data = if n == self.recv_buf.len() {
            let capacity = self.recv_buf.capacity();
            std::mem::replace(&mut self.recv_buf, Vec::with_capacity(capacity))
        } else {
            let data = self.recv_buf[..n].to_vec();
            self.recv_buf.drain(..n);
            data
        };
        let held = (max - n).min(self.recv_held);
        self.recv_held -= held;
        let n = n + held;
        self.autotune.read += n;
        // A read that opens the window wide is announced at once (RFC 9293 §3.8.6.2.2's window
        // update, with Linux's measure of "wide": the window at least doubles, from at most
        // half its largest). Otherwise a peer that filled it would wait for its zero-window
        // probe timer (200 ms or more) before hearing of the room.
        let known = (self.last_ack_sent + self.last_wnd_sent as usize)
            .0
            .wrapping_sub(self.rcv_nxt.0);
        let known = if (known as i32) < 0 { 0 } else { known };
        let largest = (65535u32 << self.rcv_wscale).min(self.config.recv_buffer as u32);
        // Not once the peer's FIN came: it sends no more, and a window update could reach it
        // after it closed, drawing a RST.
        if n > 0
            && !self.fin_received
            && known.saturating_mul(2) <= largest
            && self.rcv_wnd() >= 2 * known.max(1)
        {
            self.ack_now = true;
        }
        (data, held)
    }

    /// The application is done sending (shutdown or close): a FIN follows the queued data.
    pub fn close(&mut self) {
        match self.state {
            // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB; with data queued we keep it,
            // as SYN-RECEIVED does, and the FIN follows the data once established.
            State::SynSent if self.send_buf.is_empty() => self.state = State::Closed,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {
                self.fin_queued = true
            }
            _ => {}
        }
    }

    /// Aborts: a RST goes out (from a synchronized state) and the connection is gone.
    pub fn abort(&mut self) {
        if self.state.synchronized() || self.state == State::SynReceived {
            self.send_rst = true;
        }
        self.error = Some(ConnError::Aborted);
        self.state = State::Closed;
    }

    fn enter_closed(&mut self, error: Option<ConnError>) {
        self.state = State::Closed;
        if self.error.is_none() {
            self.error = error;
        }
        self.retransmit_at = None;
        self.time_wait_until = None;
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.retransmit_at = None;
        self.time_wait_until = Some(now + self.config.time_wait_ns);
    }

    /// Is `seg` acceptable (RFC 9293 §3.10.7.4, the four cases of the table)?
    fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        let len = seg.segment_len() as u32;
        let wnd = self.rcv_wnd();
        let seq = seg.seq_number;
        match (len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => seq.in_window(self.rcv_nxt, wnd),
            (_, 0) => false,
            (_, _) => {
                seq.in_window(self.rcv_nxt, wnd)
                    || (seq + (len as usize - 1)).in_window(self.rcv_nxt, wnd)
            }
        }
    }

    /// A segment for this connection.
    pub fn on_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        // Anything from the peer shows it alive (RFC 1122 §4.2.3.6: keepalive probes are for
        // an idle connection).
        self.last_heard = now;
        self.burst_sent = 0;
        self.keepalive_probes = 0;
        match self.state {
            State::Closed => {}
            State::SynSent => self.on_segment_syn_sent(now, seg),
            _ => self.on_segment_synchronized(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn on_segment_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let f = seg.flags;
        let ack = seg.ack();
        if let Some(ack) = ack
            && (ack <= self.iss || ack > self.snd_max)
        {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set)".
            if !f.contains(TcpFlags::RST) {
                self.send_rst = true;
            }
            return;
        }
        if f.contains(TcpFlags::RST) {
            // "If the ACK was acceptable, then signal to the user 'error: connection reset'".
            if ack.is_some() {
                self.enter_closed(Some(ConnError::Refused));
            }
            return;
        }
        if !f.contains(TcpFlags::SYN) {
            return;
        }
        self.irs = seg.seq_number;
        self.rcv_nxt = seg.seq_number + 1;
        self.peer_mss = seg.max_seg_size.unwrap_or(DEFAULT_PEER_MSS).max(64);
        self.negotiate(seg);
        self.cc.set_mss(self.payload_per_segment() as u16);
        self.snd_wnd = self.seg_window(seg);
        self.snd_wl1 = seg.seq_number;
        self.snd_wl2 = ack.unwrap_or(self.iss);
        self.ack_now = true;
        match ack {
            Some(ack) => {
                self.ack_advance(now, ack);
                self.state = State::Established;
            }
            // Simultaneous open: SYN-RECEIVED, and our SYN goes again with the ACK.
            None => {
                self.state = State::SynReceived;
                self.snd_nxt = self.iss;
            }
        }
    }

    /// RFC 9293 §3.10.7.4, for every state from SYN-RECEIVED on.
    fn on_segment_synchronized(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK repeats the SYN we already
        // took. Its SYN occupies IRS, left of RCV.NXT, so the acceptability test would refuse
        // the ACK it carries; take the ACK as if the SYN were not there (Linux's check admits
        // a segment whose end reaches RCV.NXT, to the same effect).
        let stripped;
        let seg = if self.state == State::SynReceived
            && seg.flags.contains(TcpFlags::SYN | TcpFlags::ACK)
            && seg.seq_number == self.irs
        {
            stripped = TcpRepr {
                flags: TcpFlags(seg.flags.0 & !TcpFlags::SYN.0),
                seq_number: self.irs + 1,
                ..*seg
            };
            &stripped
        } else {
            seg
        };
        let f = seg.flags;
        // RFC 7323 §5.3 PAWS: a segment whose TSval is older than TS.Recent is an old duplicate
        // (sequence numbers may have wrapped since); acknowledge and drop it.
        if let (Some(recent), Some(ts)) = (self.ts_recent, seg.timestamp)
            && !f.contains(TcpFlags::RST)
            && (ts.tsval.wrapping_sub(recent) as i32) < 0
        {
            self.ack_now = true;
            return;
        }
        // First, check the sequence number.
        if !self.acceptable(seg) {
            if !f.contains(TcpFlags::RST) {
                self.ack_now = true;
                // Data we already had, all of it (RFC 2883 §4.1.1): reported as a D-SACK.
                let end = seg.seq_number + seg.payload.len();
                if !seg.payload.is_empty() && end <= self.rcv_nxt && self.rcv_nxt - end < 1 << 30 {
                    self.report_duplicate(seg.seq_number, end);
                }
            }
            return;
        }
        // RFC 7323 §4.3: TS.Recent follows the segment that covers our last ACK's position.
        if let (Some(_), Some(ts)) = (self.ts_recent, seg.timestamp)
            && seg.seq_number <= self.last_ack_sent
        {
            self.ts_recent = Some(ts.tsval);
        }
        // Second, the RST bit (RFC 5961 §3.2): exactly RCV.NXT resets, elsewhere in the window
        // draws a challenge ACK.
        // RFC 9293 §3.10.7.4: in CLOSING, LAST-ACK and TIME-WAIT a reset just closes (both
        // streams ended; there is nothing to report), and TIME-WAIT ignores it altogether
        // (RFC 1337's cure for TIME-WAIT assassination: the state must outlive old duplicates).
        if f.contains(TcpFlags::RST) {
            if self.state == State::TimeWait {
                return;
            }
            if seg.seq_number == self.rcv_nxt {
                let error = match self.state {
                    State::SynReceived => Some(ConnError::Refused),
                    State::Closing | State::LastAck => None,
                    _ => Some(ConnError::Reset),
                };
                self.enter_closed(error);
            } else {
                self.ack_now = true;
            }
            return;
        }
        // Fourth, a SYN in a synchronized state (RFC 5961 §4.2): challenge ACK.
        if f.contains(TcpFlags::SYN) {
            self.ack_now = true;
            return;
        }
        // Fifth, the ACK field.
        let Some(ack) = seg.ack() else { return };
        if self.state == State::SynReceived {
            if self.snd_una < ack && ack <= self.snd_max {
                self.state = State::Established;
                self.snd_wnd = self.seg_window(seg);
                self.snd_wl1 = seg.seq_number;
                self.snd_wl2 = ack;
            } else {
                self.send_rst_for = Some(ack);
                return;
            }
        }
        if ack > self.snd_max {
            // Acknowledges what we never sent: answer with an ACK and drop (RFC 5961 §5.2).
            self.ack_now = true;
            return;
        }
        // RFC 2883: a first block below the cumulative ACK, or inside the second block, reports
        // a segment that arrived twice. If it was one we resent, the resend was needless.
        let dsack = self.sack_ok
            && seg.sack_ranges[0].is_some_and(|(start, end)| {
                end <= ack || seg.sack_ranges[1].is_some_and(|(s2, e2)| s2 <= start && end <= e2)
            });
        if dsack && self.cc.on_dsack(ack) {
            self.scoreboard.reordering_seen();
            self.reo_at = None;
            self.fresh.undos += 1;
        }
        let sacked_new = self.sack_ok && {
            let una = if self.snd_una < ack {
                ack
            } else {
                self.snd_una
            };
            self.scoreboard.update(una, self.snd_max, &seg.sack_ranges)
        };
        if sacked_new && self.cc.in_sack_recovery() {
            let mss = self.payload_per_segment();
            self.scoreboard.detect_lost_retransmissions(mss);
        }
        if sacked_new && self.reo_at.is_none() {
            // Data sent after a hole was delivered: give reordering a quarter of an RTT (RFC
            // 8985 §6.2's reo_wnd, min_RTT/4; SRTT/4 here), then call the hole lost.
            // The window grows with the reordering seen (RFC 8985 §6.2 step 4), up to SRTT.
            let srtt = self.rto.srtt().unwrap_or(0);
            let mult = (self.scoreboard.dup_thresh() / crate::sack::DUP_THRESH) as u64;
            let reo_wnd = (srtt / 4 * mult).min(srtt).max(REO_WND_MIN_NS);
            self.reo_at = Some(now + reo_wnd);
            self.reo_mark = self.scoreboard.highest_sacked().unwrap_or(self.snd_una);
        }
        let acks_new = self.snd_una < ack;
        if acks_new {
            self.ack_advance(now, ack);
        } else if self.sack_ok
            && sacked_new
            && ack == self.snd_una
            && seg.payload.is_empty()
            && !f.contains(TcpFlags::FIN)
        {
            // RFC 6675 §2's duplicate ACK: no data, the same cumulative ACK, new SACK blocks.
            let flight = (self.snd_max - self.snd_una) as u32;
            let mss = self.payload_per_segment();
            let lost = self.scoreboard.is_lost(self.snd_una, mss);
            let thresh = self.scoreboard.dup_thresh() as u32;
            if self
                .cc
                .on_sack_dupack(lost, thresh, flight, self.snd_una, self.snd_max)
            {
                self.scoreboard.forget_retransmissions();
                self.retransmit_one = true;
                self.fresh.recoveries += 1;
            }
        } else if ack == self.snd_una && self.seg_window(seg) == 0 {
            // The receiver answers our probes: it is alive, keep probing (RFC 9293 §3.8.6.1:
            // "the receiving TCP must still ... ACK").
            self.retries = 0;
        } else if !self.sack_ok
            && ack == self.snd_una
            && seg.payload.is_empty()
            && !f.contains(TcpFlags::FIN)
            && self.seg_window(seg) == self.snd_wnd
            && self.snd_una != self.snd_max
        {
            // RFC 5681 §2's duplicate ACK: no data, no window change, something outstanding.
            let flight = (self.snd_max - self.snd_una) as u32;
            if self.cc.on_dupack(flight, self.snd_una, self.snd_max) {
                self.retransmit_one = true;
                self.fresh.recoveries += 1;
            }
        }
        // Window update, if this segment is newer than the last one that set it (RFC 9293
        // §3.10.7.4's SND.WL1/WL2 test) or acknowledges new data (as Linux's
        // tcp_may_update_window). A window is written when its segment is sent, so a resent old
        // segment carries the receiver's window as of its new ACK; keeping the older window
        // while SND.UNA moves would slide its right edge past what the receiver offers, and we
        // would send there (seen with Linux: its resend's ACK moved SND.UNA up to a window it had
        // just closed, our next segment landed beyond it, and every later ACK of ours started
        // beyond its RCV.NXT, which Linux drops unread).
        if acks_new
            || self.snd_wl1 < seg.seq_number
            || (self.snd_wl1 == seg.seq_number && self.snd_wl2 <= ack)
        {
            self.snd_wnd = self.seg_window(seg);
            self.snd_wl1 = seg.seq_number;
            self.snd_wl2 = ack;
        }
        let fin_acked = self.fin_seq.is_some_and(|fin| self.snd_una == fin + 1);
        match self.state {
            State::FinWait1 if fin_acked => self.state = State::FinWait2,
            State::Closing if fin_acked => self.enter_time_wait(now),
            State::LastAck if fin_acked => {
                self.enter_closed(None);
                return;
            }
            State::TimeWait => {
                // A retransmitted FIN: acknowledge it and restart the 2·MSL timer.
                if f.contains(TcpFlags::FIN) {
                    self.ack_now = true;
                    self.time_wait_until = Some(now + self.config.time_wait_ns);
                }
                return;
            }
            _ => {}
        }
        // Seventh, the segment text.
        if !seg.payload.is_empty()
            && matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            self.autotune(now, seg.timestamp);
            self.receive_data(now, seg.seq_number, seg.payload);
        }
        // Eighth, the FIN bit, once everything before it arrived.
        if f.contains(TcpFlags::FIN)
            && seg.seq_number + seg.payload.len() == self.rcv_nxt
            && !self.fin_received
        {
            self.fin_received = true;
            self.rcv_nxt += 1;
            self.ack_now = true;
            match self.state {
                State::SynReceived | State::Established => self.state = State::CloseWait,
                State::FinWait1 => {
                    if fin_acked {
                        self.enter_time_wait(now);
                    } else {
                        self.state = State::Closing;
                    }
                }
                State::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
    }

    /// An acceptable ACK (SND.UNA < ack ≤ SND.NXT): drop what it covers, take an RTT sample
    /// (Karn: only from a segment sent once), re-arm or stop the timer.
    fn ack_advance(&mut self, now: Instant, ack: SeqNumber) {
        let flight = self.snd_max - self.snd_una;
        let mut acked = ack - self.snd_una;
        if self.snd_una == self.iss {
            acked -= 1; // our SYN
        }
        let data = acked.min(self.send_buf.len());
        self.send_buf.consume(data);
        self.snd_una = ack;
        self.scoreboard.advance(ack);
        self.tlp_at = None;
        self.tlp_out = false;
        if self.reo_at.is_some() && self.reo_mark <= ack {
            self.reo_at = None;
        }
        if self.snd_nxt < ack {
            // What a retransmission would resend is acknowledged already.
            self.snd_nxt = ack;
        }
        if let Some((end, sent)) = self.rtt_probe
            && ack >= end
        {
            self.rto.sample(now.saturating_sub(sent));
            self.rtt_probe = None;
        }
        self.retries = 0;
        self.retransmit_at = (self.snd_una != self.snd_max).then(|| now + self.rto.rto());
        let srtt = self.rto.srtt().unwrap_or(0);
        if self.state.synchronized()
            && self.cc.on_ack(acked as u32, ack, now, srtt, flight as u32) == AckOutcome::PartialAck
        {
            self.retransmit_one = true;
        }
    }

    /// A duplicate arrived: the next pure ACK says so, if SACK was agreed.
    fn report_duplicate(&mut self, start: SeqNumber, end: SeqNumber) {
        if self.sack_ok && start < end {
            self.dsack = Some((start, end));
            self.ack_now = true;
        }
    }

    /// Receive-buffer auto-tuning, on each data segment (see [`Autotune`]).
    fn autotune(&mut self, now: Instant, ts: Option<TcpTimestamp>) {
        if let (Some(_), Some(ts)) = (self.ts_recent, ts)
            && ts.tsecr != 0
        {
            // Our TSval is the host clock in milliseconds plus the ISS.
            let sent_ms = ts.tsecr.wrapping_sub(self.iss.0);
            let rtt_ms = ((now / 1_000_000) as u32).wrapping_sub(sent_ms);
            // A TSecr "from the future" is not ours (or predates a wrap): no sample.
            if rtt_ms < 1 << 31 {
                let sample = u64::from(rtt_ms.max(1)) * 1_000_000;
                let a = &mut self.autotune;
                a.rtt_ns = Some(a.rtt_ns.map_or(sample, |r| r - r / 8 + sample / 8));
            }
        }
        let ceiling = self.config.recv_buffer_max;
        if ceiling <= self.config.recv_buffer {
            return;
        }
        let Some(rtt) = self.autotune.rtt_ns.or(self.rto.srtt()) else {
            return;
        };
        let a = &mut self.autotune;
        if now < a.since + rtt {
            return;
        }
        let read = std::mem::take(&mut a.read);
        a.since = now;
        if read <= a.best {
            return;
        }
        a.best = read;
        let want = 2 * read + 16 * usize::from(self.config.mss);
        self.config.recv_buffer = self.config.recv_buffer.max(want.min(ceiling));
    }

    /// In-order data goes to the buffer, then whatever held segments now continue it; data
    /// beyond RCV.NXT is held, within the window. Decides when the ACK goes: at once for a
    /// duplicate, an out-of-order segment or one that fills a hole (RFC 5681 §4.2: so the sender's
    /// fast retransmit and recovery hear of it); for in-order data, with every second full-sized
    /// segment or after the delayed-ACK time, whichever comes first.
    fn receive_data(&mut self, now: Instant, seq: SeqNumber, payload: &[u8]) {
        self.rcv_mss = self
            .rcv_mss
            .max(payload.len().min(usize::from(self.config.mss)));
        // Trim what we already have (and report it: RFC 2883 §4.1.1).
        let (seq, skip) = if seq < self.rcv_nxt {
            let skip = self.rcv_nxt - seq;
            self.report_duplicate(seq, seq + skip.min(payload.len()));
            if skip >= payload.len() {
                self.ack_now = true;
                return;
            }
            (self.rcv_nxt, skip)
        } else {
            (seq, 0)
        };
        let wnd = self.rcv_wnd() as usize;
        let offset = seq - self.rcv_nxt;
        if offset >= wnd {
            self.ack_now = true;
            return;
        }
        let len = (payload.len() - skip).min(wnd - offset);
        let payload = &payload[skip..skip + len];
        if offset > 0 {
            // Held already (RFC 2883 §4.1.2): reported as a D-SACK, before its SACK block.
            let known = match self.rx_held {
                false => self.out_of_order.get(&seq.0).map(Vec::len),
                true => self.out_of_order_held.get(&seq.0).copied(),
            };
            if known.is_some_and(|l| l >= len) {
                self.report_duplicate(seq, seq + len);
            }
            let held = if self.rx_held {
                // The host puts the bytes where they will be once the hole is filled.
                self.placements.push(Placement {
                    skip,
                    len,
                    offset: self.rcv_stream + offset as u64,
                });
                let known = self.out_of_order_held.entry(seq.0).or_default();
                *known = (*known).max(len);
                *known
            } else {
                (self.out_of_order.entry(seq.0))
                    .or_insert_with(|| payload.to_vec())
                    .len()
            };
            self.held_ranges().insert(seq, seq + held);
            self.latest_out_of_order = Some(seq);
            self.ack_now = true;
            return;
        }
        if !self.out_of_order.is_empty() || !self.out_of_order_held.is_empty() || self.quickacks > 0
        {
            self.quickacks = self.quickacks.saturating_sub(1);
            self.ack_now = true;
        }
        self.delack_bytes += len;
        if self.delack_bytes >= 2 * self.rcv_mss {
            self.ack_now = true;
        } else if self.delack_at.is_none() {
            self.delack_at = Some(now + self.config.delayed_ack_ns);
        }
        self.take_in_order(skip, payload);
        // Pull in held segments that now follow (or overlap) RCV.NXT. One the window cuts
        // short loses its tail (`cut`).
        let mut cut = false;
        while let Some(start) = first_at_or_below(&self.out_of_order, self.rcv_nxt) {
            let data = self.out_of_order.remove(&start).expect("found");
            let end = SeqNumber(start) + data.len();
            if end > self.rcv_nxt {
                let skip = self.rcv_nxt - SeqNumber(start);
                let room = self.rcv_wnd() as usize;
                let take = (data.len() - skip).min(room);
                cut |= take < data.len() - skip;
                self.recv_buf.extend_from_slice(&data[skip..skip + take]);
                self.rcv_nxt += take;
            }
        }
        while let Some(start) = first_at_or_below(&self.out_of_order_held, self.rcv_nxt) {
            let len = self.out_of_order_held.remove(&start).expect("found");
            let end = SeqNumber(start) + len;
            if end > self.rcv_nxt {
                // Its bytes are in the host's stream already, where they belong.
                let take = (end - self.rcv_nxt).min(self.rcv_wnd() as usize);
                cut |= take < end - self.rcv_nxt;
                self.recv_held += take;
                self.rcv_stream += take as u64;
                self.rcv_nxt += take;
            }
        }
        if cut {
            // The ranges would claim the lost tail (a SACK for bytes not held): built afresh
            // from the queues when next needed.
            self.held_ranges = None;
        } else if let Some(ranges) = &mut self.held_ranges {
            ranges.advance(self.rcv_nxt);
        }
    }

    /// The out-of-order queues' ranges, merged; after an import, built from the queues.
    fn held_ranges(&mut self) -> &mut HeldRanges {
        let (stored, held) = (&self.out_of_order, &self.out_of_order_held);
        self.held_ranges.get_or_insert_with(|| {
            let mut ranges = HeldRanges::default();
            let segments = (stored.iter().map(|(&s, d)| (s, d.len())))
                .chain(held.iter().map(|(&s, &l)| (s, l)));
            for (s, len) in segments {
                ranges.insert(SeqNumber(s), SeqNumber(s) + len);
            }
            ranges
        })
    }

    /// In-order data at RCV.NXT (`skip` bytes into its segment): stored, or placed in the
    /// host's stream.
    fn take_in_order(&mut self, skip: usize, payload: &[u8]) {
        let len = payload.len();
        if self.rx_held {
            self.placements.push(Placement {
                skip,
                len,
                offset: self.rcv_stream,
            });
            self.recv_held += len;
            self.rcv_stream += len as u64;
        } else {
            self.recv_buf.extend_from_slice(payload);
        }
        self.rcv_nxt += len;
    }

    /// Runs the timers due at `now`.
    pub fn on_timer(&mut self, now: Instant) {
        if self.time_wait_until.is_some_and(|t| t <= now) {
            self.enter_closed(None);
            return;
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if self.reo_at.is_some_and(|t| t <= now) {
            self.reo_at = None;
            self.scoreboard.mark_lost_below(self.reo_mark);
            let flight = (self.snd_max - self.snd_una) as u32;
            if self.state.synchronized()
                && self
                    .cc
                    .on_sack_dupack(true, 0, flight, self.snd_una, self.snd_max)
            {
                self.scoreboard.forget_retransmissions();
                self.retransmit_one = true;
                self.fresh.recoveries += 1;
            }
        }
        if self.tlp_at.is_some_and(|t| t <= now) {
            self.tlp_at = None;
            self.tlp_due = true;
            self.tlp_out = true;
            self.fresh.tlps += 1;
        }
        if self.keepalive_at().is_some_and(|t| t <= now) {
            if self.keepalive_probes >= self.config.keepalive_count {
                self.enter_closed(Some(ConnError::TimedOut));
                return;
            }
            self.keepalive_probes += 1;
            self.keepalive_due = true;
        }
        if self.retransmit_at.is_some_and(|t| t <= now) {
            let limit = if self.state.synchronized() {
                self.config.max_retries
            } else {
                self.config.max_syn_retries
            };
            if self.retries >= limit {
                self.send_rst = self.state.synchronized();
                self.enter_closed(Some(ConnError::TimedOut));
                return;
            }
            self.retries += 1;
            self.rto.back_off();
            self.tlp_at = None;
            if self.snd_wnd == 0 && self.state.synchronized() {
                // The persist timer (RFC 9293 §3.8.6.1) of a zero window: a one-byte probe at
                // SND.UNA, where the receiver's RCV.NXT is, makes it tell its window again, so
                // a lost window update cannot stall the connection. That holds with an earlier
                // probe's byte outstanding, or data sent before the receiver closed (shrank) its
                // window: what waits beyond a closed window is not lost to congestion.
                self.probe_due = true;
                self.rewind = true;
            } else {
                self.fresh.rtos += 1;
                self.cc
                    .on_rto((self.snd_max - self.snd_una) as u32, self.snd_max);
                // RFC 6675 §5.1: the SACK information stays, so the resend skips what the
                // receiver holds; a third timeout in a row forgets it, in case the receiver
                // reneged (RFC 2018 §8) and would otherwise never get those bytes. (Clearing it
                // at the second made go-back-N resend megabytes Linux already had under 2% loss.)
                if self.retries > 2 {
                    self.scoreboard.clear();
                } else {
                    self.scoreboard.forget_retransmissions();
                }
                // RFC 6298 §5.4: retransmit the earliest unacknowledged segment.
                self.rewind = true;
            }
            self.rtt_probe = None;
            self.retransmit_at = Some(now + self.rto.rto());
        }
    }

    /// When a timer wants [`Self::on_timer`].
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.retransmit_at,
            self.time_wait_until,
            self.delack_at,
            self.tlp_at,
            self.reo_at,
            self.keepalive_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The timer an operator would ask about, as `ss -o` names them: `on` (retransmission,
    /// with the timeouts in a row), `persist` (zero-window probing, with its backoff),
    /// `keepalive` (with the probes unanswered), `timewait`; then when it fires.
    pub fn timer(&self) -> Option<(&'static str, Instant, u32)> {
        if let Some(until) = self.time_wait_until {
            return Some(("timewait", until, 0));
        }
        if let Some(at) = self.retransmit_at {
            let kind = if self.snd_wnd == 0 && self.state.synchronized() {
                "persist"
            } else {
                "on"
            };
            return Some((kind, at, self.retries));
        }
        self.keepalive_at()
            .map(|at| ("keepalive", at, self.keepalive_probes))
    }

    /// The next keepalive probe (or, after the last, the verdict): only on an idle connection,
    /// nothing in flight or queued (RFC 1122 §4.2.3.6), the first after the idle time, the next
    /// ones an interval apart.
    fn keepalive_at(&self) -> Option<Instant> {
        let idle = self.config.keepalive
            && matches!(self.state, State::Established | State::CloseWait)
            && self.snd_una == self.snd_max
            && self.send_buf.is_empty();
        idle.then(|| {
            self.last_heard
                + self.config.keepalive_idle_ns
                + u64::from(self.keepalive_probes) * self.config.keepalive_interval_ns
        })
    }

    fn segment(&mut self, flags: TcpFlags, seq: SeqNumber) -> TcpRepr<'static> {
        let syn = flags.contains(TcpFlags::SYN);
        let window = if syn {
            self.rcv_wnd().min(65535)
        } else {
            (self.rcv_wnd() >> self.rcv_wscale).min(65535)
        };
        let mut r = TcpRepr::new(
            self.local.1,
            self.remote.1,
            flags,
            seq,
            self.rcv_nxt,
            window as u16,
        );
        if syn {
            r.max_seg_size = Some(self.config.mss);
            r.sack_permitted = if self.state == State::SynSent {
                self.config.sack
            } else {
                self.sack_ok
            };
            // Our SYN offers; our SYN-ACK answers only what the peer's SYN offered.
            if self.state == State::SynSent || self.rcv_wscale != 0 || self.snd_wscale != 0 {
                r.window_scale = Some(if self.state == State::SynSent {
                    self.config.window_scale.min(14)
                } else {
                    self.rcv_wscale
                });
            }
        }
        let offer_ts = self.config.timestamps && (syn && self.state == State::SynSent);
        if offer_ts || self.ts_recent.is_some() {
            // TSval: milliseconds, offset by the ISS so the host's uptime does not show
            // (RFC 7323 §7.1).
            let tsval = self.clock_ms.wrapping_add(self.iss.0);
            r.timestamp = Some(TcpTimestamp {
                tsval,
                tsecr: self.ts_recent.unwrap_or(0),
            });
        }
        if flags.contains(TcpFlags::ACK) {
            self.last_ack_sent = self.rcv_nxt;
            self.last_wnd_sent = if syn {
                window
            } else {
                window << self.rcv_wscale
            };
            self.delack_bytes = 0;
            self.delack_at = None;
        }
        r
    }

    /// Emits the segments due now: a RST, the SYN or SYN-ACK, data within the peer's window,
    /// the FIN, and an ACK if one is owed and nothing else carried it.
    ///
    /// `emit(segment, held, segment_size)`: `segment_size` is 0 for one segment, or the MSS
    /// of a super-segment (GSO) whose data stands for several full segments, the last
    /// perhaps shorter. New data goes out so, up to `gso_max` bytes at a time (0: one
    /// segment at a time), as Linux's `tcp_write_xmit` sizes a TSO segment: the same bytes,
    /// flags and timers as the segments it stands for, decided once instead of once per MSS.
    pub fn poll_output(
        &mut self,
        now: Instant,
        gso_max: usize,
        emit: &mut impl FnMut(&TcpRepr<'_>, Option<Held>, usize),
    ) {
        self.clock_ms = (now / 1_000_000) as u32;
        if self.send_rst {
            self.send_rst = false;
            emit(
                &TcpRepr::new(
                    self.local.1,
                    self.remote.1,
                    TcpFlags::RST,
                    self.acceptable_seq(),
                    SeqNumber(0),
                    0,
                ),
                None,
                0,
            );
            return;
        }
        if let Some(ack) = self.send_rst_for.take() {
            // RFC 9293 §3.10.7.4: an unacceptable ACK in SYN-RECEIVED: <SEQ=SEG.ACK><CTL=RST>.
            emit(
                &TcpRepr::new(
                    self.local.1,
                    self.remote.1,
                    TcpFlags::RST,
                    ack,
                    SeqNumber(0),
                    0,
                ),
                None,
                0,
            );
            return;
        }
        if self.state == State::Closed {
            return;
        }
        if self.rewind {
            self.rewind = false;
            self.snd_nxt = self.snd_una;
        }
        let mut sent_any = false;
        // The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), until acknowledged.
        if matches!(self.state, State::SynSent | State::SynReceived) && self.snd_nxt == self.iss {
            let flags = if self.state == State::SynSent {
                TcpFlags::SYN
            } else {
                TcpFlags::SYN | TcpFlags::ACK
            };
            let mut syn = self.segment(flags, self.iss);
            if self.state == State::SynSent {
                syn.ack_number = SeqNumber(0);
            }
            emit(&syn, None, 0);
            self.snd_nxt = self.iss + 1;
            self.snd_max = self.snd_max.max(self.snd_nxt);
            self.arm(now);
            self.ack_now = false;
            return;
        }
        if !self.state.synchronized() {
            return;
        }
        let mss = self.payload_per_segment();
        if std::mem::take(&mut self.retransmit_one) && self.snd_una != self.snd_nxt {
            // Fast retransmit (RFC 5681 §3.2) or a partial ACK's next hole (RFC 6582): one
            // segment from SND.UNA; SND.NXT stays where it is.
            let len = self
                .send_buf
                .len()
                .min(mss)
                .min((self.snd_nxt - self.snd_una).max(1));
            let fin = self.fin_seq == Some(self.snd_una + len);
            self.resend(emit, self.snd_una, len, fin);
            sent_any = true;
        }
        sent_any |= self.sack_retransmit(emit, mss);
        // Data: from SND.NXT, within the peer's window, an MSS at a time; the FIN rides on the
        // segment that carries the last byte (or alone, with nothing left).
        let fin_pos = self.snd_una + self.send_buf.len();
        loop {
            let burst = BURST_MAX.saturating_sub(self.burst_sent);
            // Going back after an RTO: what the receiver SACKed is not sent again.
            if self.snd_nxt < self.snd_max
                && let Some(end) = self.scoreboard.sacked_end(self.snd_nxt)
            {
                self.snd_nxt = end.min(self.snd_max);
                continue;
            }
            let offset = self.snd_nxt - self.snd_una;
            // With SACK, what is in the network is RFC 6675's pipe, in recovery or not (as
            // Linux's packets-in-flight): SACKed bytes have left it, so new data can go out and
            // draw the SACKs that reveal a hole, instead of the flight waiting for the RTO.
            // Not while going back after an RTO: everything from SND.NXT on counts as lost then.
            let in_flight = if self.sack_ok && self.snd_nxt >= self.snd_max {
                self.scoreboard.pipe(self.snd_una, self.snd_max, mss)
            } else {
                offset - self.scoreboard.sacked_below(self.snd_nxt)
            };
            // The receiver's window is sequence space from SND.UNA; the congestion window is
            // what may be in the network (plus RFC 3042's limited transmit on early duplicates).
            let rwnd_room = (self.snd_wnd as usize).saturating_sub(offset);
            // A tail loss probe may send one new segment beyond cwnd (RFC 8985 §7.3).
            let probe = if self.tlp_due { mss as u32 } else { 0 };
            let cwnd = (self.cc.cwnd() + self.cc.limited_transmit() + probe) as usize;
            let window = rwnd_room.min(cwnd.saturating_sub(in_flight));
            let mut available = self.send_buf.len().saturating_sub(offset);
            if self.snd_nxt < self.snd_max
                && let Some(sacked) = self.scoreboard.next_sacked(self.snd_nxt)
            {
                available = available.min(sacked - self.snd_nxt);
            }
            // A super-segment takes new data only (a retransmission goes an MSS at a time, as
            // the scoreboard counts it) and never a tail loss probe's allowance (one segment).
            let super_max = if self.snd_nxt >= self.snd_max && probe == 0 {
                gso_max / mss.max(1) * mss
            } else {
                0
            };
            let mut len = available.min(mss.max(super_max)).min(window).min(burst);
            if len > mss {
                // Whole segments only: a short tail goes on its own, past SWS and Nagle below.
                len -= len % mss;
            }
            // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a segment the window cuts short waits
            // while an ACK is still to come that opens the window for a full one (unless the
            // receiver's whole window is below a segment).
            if len > 0
                && len < mss
                && len < available
                && self.snd_una != self.snd_max
                && self.snd_wnd as usize >= mss
            {
                break;
            }
            if len == 0 && available > 0 && self.snd_wnd == 0 && std::mem::take(&mut self.probe_due)
            {
                len = 1;
            }
            // Nagle (RFC 1122 §4.2.3.4): new data shorter than a segment waits while anything is
            // unacknowledged; its ACK, or enough data for a full segment, releases it. Not a
            // retransmission, and not once the application closed (nothing more will come).
            if self.config.nagle
                && len > 0
                && len < mss
                && len == available
                && self.snd_nxt >= self.snd_max
                && self.snd_una != self.snd_max
                && !self.fin_queued
            {
                break;
            }
            // Not once the FIN is acknowledged (SND.UNA past it).
            let fin_unacked = self.fin_seq.is_none_or(|fin| self.snd_una <= fin);
            let fin_now = self.fin_queued && fin_unacked && self.snd_nxt + len == fin_pos;
            if len == 0 && !fin_now {
                break;
            }
            let mut flags = TcpFlags::ACK;
            if len > 0 && len == available {
                flags = flags | TcpFlags::PSH;
            }
            if fin_now {
                flags = flags | TcpFlags::FIN;
            }
            let mut seg = self.segment(flags, self.snd_nxt);
            let mut scratch = Vec::new();
            let held;
            (seg.payload, held) = self.send_buf.pieces(offset, len, &mut scratch);
            emit(&seg, held, if len > mss { mss } else { 0 });
            self.burst_sent += len;
            if self.snd_nxt < self.snd_max {
                // Going back after an RTO: a retransmission.
                self.fresh.retrans_segs += 1;
            }
            sent_any = true;
            self.tlp_due = false;
            let end = self.snd_nxt + (len + usize::from(fin_now));
            if self.rtt_probe.is_none() && self.retries == 0 {
                // Timed as the first of the segments it stands for, as if sent one by one.
                let first_end = if len > mss { self.snd_nxt + mss } else { end };
                self.rtt_probe = Some((first_end, now));
            }
            self.snd_nxt = end;
            self.snd_max = self.snd_max.max(end);
            self.arm(now);
            if fin_now {
                self.fin_seq = Some(fin_pos);
                self.state = match self.state {
                    State::Established => State::FinWait1,
                    State::CloseWait => State::LastAck,
                    s => s,
                };
                break;
            }
        }
        if self.snd_wnd == 0
            && self.snd_una == self.snd_nxt
            && self.send_buf.len() > self.snd_nxt - self.snd_una
        {
            // A zero window with data waiting: the persist timer runs on the RTO.
            self.arm(now);
        }
        if std::mem::take(&mut self.keepalive_due) && !sent_any {
            // RFC 1122 §4.2.3.6: a probe is a segment with SEG.SEQ = SND.NXT-1 and no data; the
            // peer finds it old and answers with an ACK.
            emit(
                &self.segment(TcpFlags::ACK, SeqNumber(self.snd_una.0.wrapping_sub(1))),
                None,
                0,
            );
            self.ack_now = false;
        }
        if std::mem::take(&mut self.tlp_due) {
            // No new data could go: the probe resends the last segment (RFC 8985 §7.3).
            sent_any |= self.resend_last_segment(emit, mss);
        }
        self.arm_tail_loss_probe(now);
        let sack_due = self.sack_ok
            && (!self.out_of_order.is_empty()
                || !self.out_of_order_held.is_empty()
                || self.dsack.is_some());
        if self.ack_now && (!sent_any || sack_due) {
            // A pure ACK carries a sequence number the peer accepts (RFC 9293 §3.10.7.4 drops
            // an unacceptable segment, ACK field and all): see `acceptable_seq`.
            let mut ack = self.segment(TcpFlags::ACK, self.acceptable_seq());
            if sack_due {
                // SACK blocks ride on pure ACKs only, so a data segment never outgrows the MSS.
                // With timestamps, three blocks fit in the 40 bytes of options (RFC 2018 §3);
                // a D-SACK takes the first (RFC 2883 §4).
                let max = if self.ts_recent.is_some() { 3 } else { 4 };
                let dsack = self.dsack.take();
                let (rcv_nxt, latest) = (self.rcv_nxt, self.latest_out_of_order);
                let held = self.held_ranges();
                held.advance(rcv_nxt);
                let blocks =
                    receiver_blocks(rcv_nxt, held, latest, max - usize::from(dsack.is_some()));
                let all = dsack.into_iter().chain(blocks.into_iter().flatten());
                for (slot, block) in ack.sack_ranges.iter_mut().zip(all) {
                    *slot = Some(block);
                }
            }
            emit(&ack, None, 0);
        }
        self.ack_now = false;
    }

    /// RFC 6675 §5 step (C): in a SACK recovery, while the window has room over what is in
    /// the network (`cwnd - pipe >= SMSS`), resend the lost holes the scoreboard names
    /// (NextSeg rule 1). New data (rule 2) follows in the ordinary send loop, limited by pipe.
    fn sack_retransmit(
        &mut self,
        emit: &mut impl FnMut(&TcpRepr<'_>, Option<Held>, usize),
        mss: usize,
    ) -> bool {
        if !(self.sack_ok && self.cc.in_sack_recovery()) {
            return false;
        }
        let mut sent = false;
        loop {
            let pipe = self.scoreboard.pipe(self.snd_una, self.snd_max, mss);
            if (self.cc.cwnd() as usize).saturating_sub(pipe) < mss {
                break;
            }
            let Some((seq, len)) = self.scoreboard.next_lost(self.snd_una, self.snd_max, mss)
            else {
                break;
            };
            let off = seq - self.snd_una;
            let data = len.min(self.send_buf.len().saturating_sub(off));
            let fin = self.fin_seq == Some(seq + data) && len > data;
            self.resend(emit, seq, data, fin);
            sent = true;
            if data == 0 && !fin {
                break;
            }
        }
        sent
    }

    /// RFC 8985 §7.2: schedule a probe when SACK is on, data is in flight, nothing is SACKed
    /// and no recovery runs: PTO = 2·SRTT (plus the peer's delayed-ACK time when one segment
    /// is out), before the RTO. An ACK that moves SND.UNA cancels it, so it is re-armed from
    /// the latest ACK.
    fn arm_tail_loss_probe(&mut self, now: Instant) {
        let eligible = self.sack_ok
            && self.state.synchronized()
            && self.snd_una != self.snd_max
            && self.snd_nxt >= self.snd_max
            && self.scoreboard.is_empty()
            && !self.cc.in_recovery()
            && !self.tlp_out
            && self.retries == 0;
        if !eligible {
            self.tlp_at = None;
            return;
        }
        if self.tlp_at.is_some() {
            return;
        }
        let Some(srtt) = self.rto.srtt() else { return };
        let mut pto = (2 * srtt).max(TLP_MIN_NS);
        if self.snd_max - self.snd_una <= self.payload_per_segment() {
            pto += self.config.delayed_ack_ns;
        }
        let pto_at = now + pto;
        if self.retransmit_at.is_none_or(|rto| pto_at < rto) {
            self.tlp_at = Some(pto_at);
        }
    }

    /// The probe's fallback: the last segment sent goes again, so its ACK (with SACK blocks)
    /// tells what of the tail was lost.
    fn resend_last_segment(
        &mut self,
        emit: &mut impl FnMut(&TcpRepr<'_>, Option<Held>, usize),
        mss: usize,
    ) -> bool {
        let data_end = self.snd_una + self.send_buf.len();
        let fin = self.fin_seq.is_some_and(|f| f + 1 == self.snd_max);
        let end = if fin {
            data_end
        } else {
            self.snd_max.min(data_end)
        };
        let len = (end - self.snd_una).min(mss);
        if len == 0 && !fin {
            return false;
        }
        self.resend(emit, end - len, len, fin);
        true
    }

    /// Sends `[seq, seq + len)` of the send buffer again, the FIN after it when `fin`, and
    /// records it on the scoreboard. Karn: a segment sent twice gives no RTT sample.
    fn resend(
        &mut self,
        emit: &mut impl FnMut(&TcpRepr<'_>, Option<Held>, usize),
        seq: SeqNumber,
        len: usize,
        fin: bool,
    ) {
        let off = seq - self.snd_una;
        let flags = if fin {
            TcpFlags::ACK | TcpFlags::FIN
        } else {
            TcpFlags::ACK
        };
        let mut seg = self.segment(flags, seq);
        let mut scratch = Vec::new();
        let held;
        (seg.payload, held) = self.send_buf.pieces(off, len, &mut scratch);
        emit(&seg, held, 0);
        self.fresh.retrans_segs += 1;
        self.rtt_probe = None;
        let end = seq + (len + usize::from(fin));
        self.scoreboard.retransmitted(seq, end, self.snd_max);
        self.cc.on_retransmit();
    }

    /// Starts the retransmission timer if it is not running (something is now in flight).
    /// The sequence number of a segment without data (an ACK, a RST): the highest sent, not a
    /// SND.NXT rewound for a retransmission (the peer may have all of that already, and a
    /// zero-length segment left of its RCV.NXT is dropped), but never beyond the right edge
    /// of the window it offers (a segment there is dropped too, however closed the window is;
    /// Linux's tcp_acceptable_seq makes the same choice).
    fn acceptable_seq(&self) -> SeqNumber {
        let right_edge = self.snd_una + self.snd_wnd as usize;
        if self.snd_max <= right_edge {
            self.snd_max
        } else {
            right_edge
        }
    }

    fn arm(&mut self, now: Instant) {
        if self.retransmit_at.is_none() {
            self.retransmit_at = Some(now + self.rto.rto());
        }
    }
}

/// A key of an out-of-order queue (raw sequence numbers) at or below `seq` in sequence space, if
/// any: a bisection of the keys in the half of the space behind `seq` (in two pieces when that
/// half wraps), where a scan in key order went past every key beyond the wrap each time.
fn first_at_or_below<V>(queue: &BTreeMap<u32, V>, seq: SeqNumber) -> Option<u32> {
    const HALF: u32 = 1 << 31;
    let below = match seq.0.checked_sub(HALF) {
        Some(from) => queue.range(from..=seq.0).next(),
        None => (queue.range(..=seq.0).next()).or_else(|| queue.range(seq.0 + HALF..).next()),
    };
    below.map(|(&k, _)| k)
}

#[cfg(test)]
mod tests;
