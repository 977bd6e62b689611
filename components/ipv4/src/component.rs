//! WIT glue: `netstack:stack/ipv4` on top of [`Ipv4Layer`]. Conversions only; no protocol logic.

// The canonical-ABI code that wit-bindgen generates (exported symbols, pointer casts) is unsafe;
// this file writes none of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;

use netstack_wire::batch::{check_parts, iter_parts};
use netstack_wire::tuple::{ipv4_from, ipv4_to};
use netstack_wire::{DatagramInfo, Ipv4Cidr};

use crate::{Ipv4Layer, Output, Route, RouteError};

wit_bindgen::generate!({
    world: "ipv4-component",
    path: "../../wit",
    generate_all,
});

use exports::netstack::stack::ipv4::{self as wit, Guest};
use exports::netstack::stack::types::Outbound;
use exports::netstack::stack::types::{self as t, ErrorCode};

struct Component;
export!(Component);

thread_local! {
    static LAYER: RefCell<Ipv4Layer> = RefCell::new(Ipv4Layer::new());
    /// Batches whose lengths did not add up, or whose metadata did not match their packets.
    static BAD_BATCHES: RefCell<u64> = const { RefCell::new(0) };
}

netstack_wire::wit_conversions!();

fn output_to(out: Output) -> wit::Ipv4Output {
    wit::Ipv4Output {
        to_link: Outbound {
            packets: batch_to(out.to_link),
            next_hops: out.next_hops.into_iter().map(ipv4_to).collect(),
            segment_sizes: Vec::new(),
        },
        to_tcp: transport_to(out.to_tcp),
        to_udp: transport_to(out.to_udp),
        icmp_errors: Vec::new(),
        deadline: out.deadline,
    }
}

fn cidr_from(c: t::Ipv4Cidr) -> Result<Ipv4Cidr, ErrorCode> {
    Ipv4Cidr::new(ipv4_from(c.address), c.prefix_len).ok_or(ErrorCode::InvalidArgument)
}

fn cidr_to(c: Ipv4Cidr) -> t::Ipv4Cidr {
    t::Ipv4Cidr {
        address: ipv4_to(c.address()),
        prefix_len: c.prefix_len(),
    }
}

fn error_to(e: RouteError) -> ErrorCode {
    match e {
        RouteError::Exists => ErrorCode::AddressInUse,
        RouteError::NotFound | RouteError::Invalid => ErrorCode::InvalidArgument,
    }
}

fn run(f: impl FnOnce(&mut Ipv4Layer, &mut Output)) -> wit::Ipv4Output {
    let mut out = Output::default();
    LAYER.with_borrow_mut(|l| f(l, &mut out));
    output_to(out)
}

fn bad_batch() -> wit::Ipv4Output {
    BAD_BATCHES.with_borrow_mut(|n| *n += 1);
    output_to(Output::default())
}

impl Guest for Component {
    fn add_address(ifindex: u32, address: t::Ipv4Cidr) -> Result<(), ErrorCode> {
        let cidr = cidr_from(address)?;
        LAYER
            .with_borrow_mut(|l| l.add_address(ifindex, cidr))
            .map_err(error_to)
    }

    fn remove_address(ifindex: u32, address: t::Ipv4Cidr) -> Result<(), ErrorCode> {
        let cidr = cidr_from(address)?;
        LAYER
            .with_borrow_mut(|l| l.remove_address(ifindex, cidr))
            .map_err(error_to)
    }

    fn receive(now: t::Instant, ifindex: u32, packets: t::Batch) -> wit::Ipv4Output {
        if check_parts(&packets.bytes, &packets.lengths).is_err() {
            return bad_batch();
        }
        run(|l, out| {
            l.receive(
                now,
                ifindex,
                iter_parts(&packets.bytes, &packets.lengths),
                out,
            )
        })
    }

    fn send(now: t::Instant, payloads: t::TransportBatch) -> wit::Ipv4Output {
        let p = &payloads.payloads;
        if check_parts(&p.bytes, &p.lengths).is_err() || payloads.info.len() != p.lengths.len() {
            return bad_batch();
        }
        let info: Vec<DatagramInfo> = payloads.info.iter().map(info_from).collect();
        run(|l, out| l.send(now, info.iter().zip(iter_parts(&p.bytes, &p.lengths)), out))
    }

    fn undeliverable(_now: t::Instant, packets: t::Batch) -> wit::Ipv4Output {
        if check_parts(&packets.bytes, &packets.lengths).is_err() {
            return bad_batch();
        }
        // Host-unreachable replies come with the neighbour state machine (the Ethernet/ARP issue);
        // until then the link layer never reports a FAILED neighbour, so there is nothing to answer.
        output_to(Output::default())
    }

    fn poll(now: t::Instant) -> wit::Ipv4Output {
        run(|l, out| l.poll(now, out))
    }

    fn add_route(route: wit::Route) -> Result<(), ErrorCode> {
        let route = Route {
            destination: cidr_from(route.destination)?,
            gateway: route.gateway.map(ipv4_from),
            ifindex: route.ifindex,
            metric: route.metric,
        };
        LAYER
            .with_borrow_mut(|l| l.fib_mut().add(route))
            .map_err(error_to)
    }

    fn remove_route(destination: t::Ipv4Cidr, metric: u32) -> Result<(), ErrorCode> {
        let destination = cidr_from(destination)?;
        LAYER
            .with_borrow_mut(|l| l.fib_mut().remove(destination, metric))
            .map(drop)
            .map_err(error_to)
    }

    fn routes() -> Vec<wit::Route> {
        LAYER.with_borrow(|l| {
            l.fib()
                .routes()
                .iter()
                .map(|r| wit::Route {
                    destination: cidr_to(r.destination),
                    gateway: r.gateway.map(ipv4_to),
                    ifindex: r.ifindex,
                    metric: r.metric,
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
