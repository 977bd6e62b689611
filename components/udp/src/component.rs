//! WIT glue: `netstack:stack/udp` on top of [`UdpLayer`]. Conversions only; no protocol logic.
//!
//! The socket operations answer `not-supported` until a later issue builds UDP sockets.

// The canonical-ABI code that wit-bindgen generates (exported symbols, pointer casts) is unsafe;
// this file writes none of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;

use crate::{Output, UdpLayer};

wit_bindgen::generate!({
    world: "udp-component",
    path: "../../wit",
    generate_all,
});

use exports::netstack::stack::types::{self as t, ErrorCode};
use exports::netstack::stack::udp::{self as wit, Guest, Socket};

struct Component;
export!(Component);

thread_local! {
    static LAYER: RefCell<UdpLayer> = RefCell::new(UdpLayer::new());
    /// Batches whose lengths did not add up, or whose metadata did not match their payloads.
    static BAD_BATCHES: RefCell<u64> = const { RefCell::new(0) };
}

netstack_wire::wit_conversions!();

fn output_to(out: Output) -> wit::UdpOutput {
    wit::UdpOutput {
        to_ipv4: transport_to(out.to_ipv4),
        readable: Vec::new(),
        port_unreachable: transport_to(out.port_unreachable),
    }
}

impl Guest for Component {
    fn receive(now: t::Instant, datagrams: t::TransportBatch) -> wit::UdpOutput {
        let Some(batch) = transport_from(datagrams) else {
            BAD_BATCHES.with_borrow_mut(|n| *n += 1);
            return output_to(Output::default());
        };
        let mut out = Output::default();
        LAYER.with_borrow_mut(|l| l.receive(now, batch.iter(), &mut out));
        output_to(out)
    }

    fn icmp_errors(_now: t::Instant, _errors: Vec<t::IcmpError>) -> wit::UdpOutput {
        // No socket exists for an ICMP error to concern.
        output_to(Output::default())
    }

    fn poll(_now: t::Instant) -> wit::UdpOutput {
        output_to(Output::default())
    }

    fn create() -> Result<Socket, ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn bind(_socket: Socket, _local: t::Endpoint) -> Result<t::Endpoint, ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn send_to(_socket: Socket, _remote: t::Endpoint, _data: Vec<u8>) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn recv_from(_socket: Socket) -> Result<wit::Datagram, ErrorCode> {
        Err(ErrorCode::NotSupported)
    }

    fn close(_socket: Socket) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotSupported)
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
