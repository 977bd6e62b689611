//! WIT glue: `netstack:stack/tcp` and `netstack:stack/state` on top of [`TcpLayer`]. Conversions
//! only; no protocol logic.
//!
//! Socket options other than the buffer sizes answer `not-supported` until the TCP issue builds
//! what they control (Nagle, keepalive, congestion control).

// The canonical-ABI code that wit-bindgen generates (exported symbols, pointer casts) is unsafe;
// this file writes none of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;

use netstack_wire::batch::parts_of;
use netstack_wire::tuple::{ipv4_from, ipv4_to};

use crate::conn::ConnError;
use crate::{LayerConfig, Output, STATE_VERSION, SocketError, StateError, TcpLayer};

wit_bindgen::generate!({
    world: "tcp-component",
    path: "../../wit",
    generate_all,
});

use exports::netstack::stack::state::Guest as StateGuest;
use exports::netstack::stack::tcp::{self as wit, Guest, Socket};
use exports::netstack::stack::types::{self as t, ErrorCode};

struct Component;
export!(Component);

thread_local! {
    static LAYER: RefCell<TcpLayer> = RefCell::new(TcpLayer::default());
    /// The output every call fills, kept between calls with its vectors' room: what goes out
    /// over WIT is copied into vectors of its own (which the caller's post-return frees), so
    /// these would otherwise be allocated and freed on every call.
    static OUTPUT: RefCell<Output> = RefCell::new(Output::default());
    /// Batches whose lengths did not add up, or whose metadata did not match their payloads.
    static BAD_BATCHES: RefCell<u64> = const { RefCell::new(0) };
}

netstack_wire::wit_conversions!();

/// Moves `out` into its WIT form, leaving it empty with its vectors' room kept (the segments
/// move whole). Every field is named, so one added to `Output` must be handled here.
fn output_to(out: &mut Output) -> wit::TcpOutput {
    let Output {
        to_ipv4,
        held,
        released,
        placed,
        wanted,
        events,
        deadline,
    } = out;
    wit::TcpOutput {
        to_ipv4: transport_to(std::mem::take(to_ipv4)),
        held: (held.drain(..))
            .map(|h| wit::HeldPayload {
                payload: h.index as u32,
                socket: h.socket,
                offset: h.span.offset,
                length: h.span.len as u32,
            })
            .collect(),
        released: (released.drain(..))
            .map(|r| wit::Released {
                socket: r.socket,
                up_to: r.up_to,
                gone: r.gone,
            })
            .collect(),
        placed: (placed.drain(..))
            .map(|p| wit::Placement {
                segment: p.segment as u32,
                socket: p.socket,
                skip: p.skip as u32,
                length: p.len as u32,
                offset: p.offset,
            })
            .collect(),
        wanted: wanted.drain(..).map(|i| i as u32).collect(),
        events: events.drain(..).map(event_to).collect(),
        deadline: deadline.take(),
    }
}

fn event_to((socket, r): (crate::SocketId, crate::Readiness)) -> wit::Event {
    let mut readiness = wit::Readiness::empty();
    for (on, flag) in [
        (r.readable, wit::Readiness::READABLE),
        (r.writable, wit::Readiness::WRITABLE),
        (r.acceptable, wit::Readiness::ACCEPTABLE),
        (r.connected, wit::Readiness::CONNECTED),
        (r.closed, wit::Readiness::CLOSED),
    ] {
        if on {
            readiness = readiness | flag;
        }
    }
    wit::Event { socket, readiness }
}

fn run(f: impl FnOnce(&mut TcpLayer, &mut Output)) -> wit::TcpOutput {
    OUTPUT.with_borrow_mut(|out| {
        LAYER.with_borrow_mut(|l| f(l, out));
        output_to(out)
    })
}

fn conn_error_to(e: ConnError) -> ErrorCode {
    match e {
        ConnError::Refused => ErrorCode::ConnectionRefused,
        ConnError::Reset => ErrorCode::ConnectionReset,
        ConnError::TimedOut => ErrorCode::Timeout,
        ConnError::Aborted => ErrorCode::ConnectionAborted,
    }
}

fn error_to(e: SocketError) -> ErrorCode {
    match e {
        SocketError::BadHandle | SocketError::InvalidArgument => ErrorCode::InvalidArgument,
        SocketError::InvalidState => ErrorCode::InvalidState,
        SocketError::AddressInUse => ErrorCode::AddressInUse,
        SocketError::WouldBlock => ErrorCode::WouldBlock,
        SocketError::OutOfMemory => ErrorCode::OutOfMemory,
        SocketError::Connection(e) => conn_error_to(e),
    }
}

fn with<R>(f: impl FnOnce(&mut TcpLayer) -> Result<R, SocketError>) -> Result<R, ErrorCode> {
    LAYER.with_borrow_mut(f).map_err(error_to)
}

fn endpoint_to((address, port): crate::Endpoint) -> t::Endpoint {
    t::Endpoint {
        address: ipv4_to(address),
        port,
    }
}

fn endpoint_from(e: t::Endpoint) -> crate::Endpoint {
    (ipv4_from(e.address), e.port)
}

impl Guest for Component {
    fn configure(config: wit::TcpConfig) -> Result<(), ErrorCode> {
        let layer_config = LayerConfig {
            isn_secret: config.isn_secret,
            port_seed: config.port_seed,
            ephemeral_ports: config.ephemeral_ports,
            conn: crate::conn::ConnConfig {
                time_wait_ns: config.time_wait,
                // An MSS below RFC 9293's 536 (or an MTU of 576) would only fragment.
                mss: config.mss.max(536),
                ..Default::default()
            },
            gso_max: config.gso_max_size,
        };
        with(|l| l.configure(layer_config))
    }

    fn receive(now: t::Instant, segments: t::TransportBatch) -> wit::TcpOutput {
        let Some(batch) = transport_from(segments) else {
            BAD_BATCHES.with_borrow_mut(|n| *n += 1);
            return output_to(&mut Output::default());
        };
        run(|l, out| l.receive(now, batch.iter(), out))
    }

    fn receive_held(
        now: t::Instant,
        headers: Vec<u8>,
        segments: Vec<wit::HeldSegment>,
    ) -> wit::TcpOutput {
        let Some(parts) = parts_of(&headers, segments.iter().map(|s| s.header_length)) else {
            BAD_BATCHES.with_borrow_mut(|n| *n += 1);
            return output_to(&mut Output::default());
        };
        let infos: Vec<_> = segments.iter().map(|s| info_from(&s.info)).collect();
        let segments = infos
            .iter()
            .zip(parts)
            .zip(&segments)
            .map(|((i, h), s)| (i, h, s.data_length as usize));
        run(|l, out| l.receive_held(now, segments, out))
    }

    fn icmp_errors(now: t::Instant, errors: Vec<t::IcmpError>) -> wit::TcpOutput {
        run(|l, out| {
            for e in &errors {
                l.icmp_error(
                    now,
                    e.icmp_type,
                    e.code,
                    e.next_hop_mtu,
                    ipv4_from(e.original.source),
                    ipv4_from(e.original.destination),
                    &e.transport_header,
                    out,
                );
            }
            l.poll(now, out);
        })
    }

    fn poll(now: t::Instant) -> wit::TcpOutput {
        run(|l, out| l.poll(now, out))
    }

    fn create() -> Result<Socket, ErrorCode> {
        with(|l| l.create())
    }

    fn bind(socket: Socket, local: t::Endpoint) -> Result<t::Endpoint, ErrorCode> {
        with(|l| l.bind(socket, endpoint_from(local))).map(endpoint_to)
    }

    fn listen(socket: Socket, backlog: u32) -> Result<(), ErrorCode> {
        with(|l| l.listen(socket, backlog))
    }

    fn connect(
        now: t::Instant,
        socket: Socket,
        source: t::Ipv4Address,
        remote: t::Endpoint,
    ) -> Result<(), ErrorCode> {
        with(|l| l.connect(now, socket, ipv4_from(source), endpoint_from(remote)))
    }

    fn accept(socket: Socket) -> Result<(Socket, t::Endpoint), ErrorCode> {
        with(|l| l.accept(socket)).map(|(s, e)| (s, endpoint_to(e)))
    }

    fn send(_now: t::Instant, socket: Socket, data: Vec<u8>) -> Result<u32, ErrorCode> {
        with(|l| l.send_vec(socket, data)).map(|n| n as u32)
    }

    fn wrote(_now: t::Instant, socket: Socket, length: u32) -> Result<u32, ErrorCode> {
        with(|l| l.wrote(socket, length as usize)).map(|n| n as u32)
    }

    fn read(_now: t::Instant, socket: Socket, max: u32) -> Result<wit::ReadResult, ErrorCode> {
        with(|l| l.read(socket, max as usize)).map(|(stored, held)| wit::ReadResult {
            stored,
            held: held as u32,
        })
    }

    fn recv(_now: t::Instant, socket: Socket, max: u32) -> Result<Vec<u8>, ErrorCode> {
        with(|l| l.recv(socket, max as usize))
    }

    fn shutdown(_now: t::Instant, socket: Socket) -> Result<(), ErrorCode> {
        with(|l| l.shutdown(socket))
    }

    fn close(_now: t::Instant, socket: Socket) -> Result<(), ErrorCode> {
        with(|l| l.close(socket))
    }

    fn abort(_now: t::Instant, socket: Socket) -> Result<(), ErrorCode> {
        with(|l| l.abort(socket))
    }

    fn set_option(socket: Socket, value: wit::SocketOption) -> Result<(), ErrorCode> {
        use crate::options::{CongestionControl as Cc, SocketOption as O};
        let option = match value {
            wit::SocketOption::NoDelay(on) => O::NoDelay(on),
            wit::SocketOption::KeepAlive(on) => O::KeepAlive(on),
            wit::SocketOption::KeepAliveIdle(ns) => O::KeepAliveIdle(ns),
            wit::SocketOption::KeepAliveInterval(ns) => O::KeepAliveInterval(ns),
            wit::SocketOption::KeepAliveCount(n) => O::KeepAliveCount(n),
            wit::SocketOption::ReceiveBufferSize(n) => O::ReceiveBufferSize(n),
            wit::SocketOption::SendBufferSize(n) => O::SendBufferSize(n),
            wit::SocketOption::HopLimit(ttl) => O::HopLimit(ttl),
            wit::SocketOption::CongestionControl(wit::CongestionControl::NewReno) => {
                O::CongestionControl(Cc::NewReno)
            }
            wit::SocketOption::CongestionControl(wit::CongestionControl::Cubic) => {
                O::CongestionControl(Cc::Cubic)
            }
        };
        with(|l| l.set_option(socket, option))
    }

    fn sockets() -> Vec<wit::SocketInfo> {
        LAYER.with_borrow(|l| {
            l.socket_ids()
                .filter_map(|id| {
                    let info = l.socket_info(id)?;
                    let conn = info.conn;
                    Some(wit::SocketInfo {
                        socket: id,
                        state: info.state.to_string(),
                        local: info.local.map(endpoint_to),
                        remote: info.remote.map(endpoint_to),
                        recv_queue: info.recv_queue as u64,
                        send_queue: info.send_queue as u64,
                        srtt: conn.and_then(|c| c.rto().srtt()).unwrap_or(0),
                        rto: conn.map_or(0, |c| c.rto().rto()),
                        cwnd: conn.map_or(0, |c| u64::from(c.congestion().cwnd())),
                        ssthresh: conn.map_or(0, |c| u64::from(c.congestion().ssthresh())),
                        mss: conn.map_or(0, |c| c.send_mss()),
                        options: conn.map_or_else(Vec::new, |c| {
                            let (ws, ts) = c.options();
                            let mut o = vec![c.congestion().name().to_string()];
                            if c.sack() {
                                o.push("sack".to_string());
                            }
                            if ts {
                                o.push("ts".to_string());
                            }
                            if let Some((snd, rcv)) = ws {
                                o.push(format!("wscale:{snd},{rcv}"));
                            }
                            // The receive buffer, as auto-tuning has grown it.
                            o.push(format!("rcvbuf:{}", c.config().recv_buffer));
                            let s = c.stats();
                            o.push(format!(
                                "retrans:{} recoveries:{} rtos:{} tlps:{} undos:{}",
                                s.retrans_segs, s.recoveries, s.rtos, s.tlps, s.undos
                            ));
                            // `ss -o`'s timer, with its deadline on the host's clock (the
                            // host, which knows the time, shows what is left).
                            if let Some((kind, at, count)) = c.timer() {
                                o.push(format!("timer:({kind},@{at},{count})"));
                            }
                            o
                        }),
                        last_error: conn.and_then(|c| c.error()).map(conn_error_to),
                    })
                })
                .collect()
        })
    }

    fn counters() -> Vec<t::Counter> {
        let bad = BAD_BATCHES.with_borrow(|n| *n);
        LAYER.with_borrow(|l| {
            counters_to(
                [("drop-bad-batch", bad)]
                    .into_iter()
                    .chain(l.counters().list()),
            )
        })
    }
}

impl StateGuest for Component {
    fn state_version() -> u32 {
        STATE_VERSION
    }

    fn export_state() -> Result<Vec<u8>, ErrorCode> {
        Ok(LAYER.with_borrow(|l| l.export_state()))
    }

    fn import_state(state: Vec<u8>) -> Result<(), ErrorCode> {
        let layer = TcpLayer::import_state(&state).map_err(|e| match e {
            StateError::Invalid => ErrorCode::InvalidStateData,
            StateError::UnsupportedVersion(_) => ErrorCode::UnsupportedStateVersion,
        })?;
        LAYER.with_borrow_mut(|l| *l = layer);
        Ok(())
    }
}
