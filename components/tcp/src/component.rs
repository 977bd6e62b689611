//! WIT glue: `netstack:stack/tcp` and `netstack:stack/state` on top of [`TcpLayer`]. Conversions
//! only; no protocol logic.
//!
//! The socket operations answer `not-supported` until the TCP issue builds sockets: the core
//! has no socket to operate on yet.

// The canonical-ABI code that wit-bindgen generates (exported symbols, pointer casts) is unsafe;
// this file writes none of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;

use crate::{Output, STATE_VERSION, StateError, TcpLayer};

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
    static LAYER: RefCell<TcpLayer> = RefCell::new(TcpLayer::new());
    /// Batches whose lengths did not add up, or whose metadata did not match their payloads.
    static BAD_BATCHES: RefCell<u64> = const { RefCell::new(0) };
}

netstack_wire::wit_conversions!();

fn output_to(out: Output) -> wit::TcpOutput {
    wit::TcpOutput {
        to_ipv4: transport_to(out.to_ipv4),
        events: Vec::new(),
        deadline: out.deadline,
    }
}

fn run(f: impl FnOnce(&mut TcpLayer, &mut Output)) -> wit::TcpOutput {
    let mut out = Output::default();
    LAYER.with_borrow_mut(|l| f(l, &mut out));
    output_to(out)
}

impl Guest for Component {
    fn configure(config: wit::TcpConfig) -> Result<(), ErrorCode> {
        let (first, last) = config.ephemeral_ports;
        if first == 0 || first > last {
            return Err(ErrorCode::InvalidArgument);
        }
        Ok(())
    }

    fn receive(now: t::Instant, segments: t::TransportBatch) -> wit::TcpOutput {
        let Some(batch) = transport_from(segments) else {
            BAD_BATCHES.with_borrow_mut(|n| *n += 1);
            return output_to(Output::default());
        };
        run(|l, out| l.receive(now, batch.iter(), out))
    }

    fn icmp_errors(_now: t::Instant, _errors: Vec<t::IcmpError>) -> wit::TcpOutput {
        // No connection exists for an ICMP error to concern.
        output_to(Output::default())
    }

    fn poll(now: t::Instant) -> wit::TcpOutput {
        run(|l, out| l.poll(now, out))
    }

    fn create() -> Result<Socket, ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn bind(_socket: Socket, _local: t::Endpoint) -> Result<t::Endpoint, ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn listen(_socket: Socket, _backlog: u32) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn connect(_now: t::Instant, _socket: Socket, _remote: t::Endpoint) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn accept(_socket: Socket) -> Result<(Socket, t::Endpoint), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn send(_now: t::Instant, _socket: Socket, _data: Vec<u8>) -> Result<u32, ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn recv(_now: t::Instant, _socket: Socket, _max: u32) -> Result<Vec<u8>, ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn shutdown(_now: t::Instant, _socket: Socket) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn close(_now: t::Instant, _socket: Socket) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn abort(_now: t::Instant, _socket: Socket) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn set_option(_socket: Socket, _value: wit::SocketOption) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn sockets() -> Vec<wit::SocketInfo> {
        Vec::new()
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
