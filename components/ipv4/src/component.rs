//! WIT glue: `netstack:stack/ipv4` on top of [`Ipv4Layer`]. Conversions only; no protocol logic.

// The canonical-ABI code that wit-bindgen generates (exported symbols, pointer casts) is unsafe;
// this file writes none of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;

use netstack_wire::Ipv4Cidr;
use netstack_wire::batch::{check_parts, iter_parts, parts_of, segment_size, sizes_fit, sizes_for};
use netstack_wire::ipv4::HEADER_LEN;
use netstack_wire::tuple::{ipv4_from, ipv4_to};

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
            segment_sizes: sizes_for(out.segment_sizes, out.to_link.len()),
            packets: batch_to(out.to_link),
            next_hops: out.next_hops.into_iter().map(ipv4_to).collect(),
        },
        to_tcp: transport_to(out.to_tcp),
        to_udp: transport_to(out.to_udp),
        icmp_errors: out.icmp_errors.iter().map(icmp_error_to).collect(),
        deadline: out.deadline,
    }
}

fn icmp_error_to(e: &crate::IcmpError) -> t::IcmpError {
    t::IcmpError {
        icmp_type: e.icmp_type,
        code: e.code,
        next_hop_mtu: e.next_hop_mtu,
        original: info_to(&e.original),
        transport_header: e.transport_header.clone(),
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

    fn receive(
        now: t::Instant,
        ifindex: u32,
        packets: t::Batch,
        segment_sizes: Vec<u16>,
    ) -> wit::Ipv4Output {
        if check_parts(&packets.bytes, &packets.lengths).is_err()
            || !sizes_fit(&segment_sizes, packets.lengths.len())
        {
            return bad_batch();
        }
        let sizes = (0..).map(|i| segment_size(&segment_sizes, i));
        let packets = iter_parts(&packets.bytes, &packets.lengths).zip(sizes);
        run(|l, out| l.receive_offloaded(now, ifindex, packets, out))
    }

    fn classify(
        _now: t::Instant,
        _ifindex: u32,
        heads: Vec<u8>,
        packets: Vec<wit::PacketHead>,
    ) -> Vec<wit::PacketClass> {
        let Some(parts) = parts_of(&heads, packets.iter().map(|p| p.head_length)) else {
            // The host then sends every packet the slow way, where `receive` counts it.
            bad_batch();
            return Vec::new();
        };
        let packets = parts
            .zip(&packets)
            .map(|(head, p)| (head, p.length as usize, p.segment_size));
        LAYER.with_borrow_mut(|l| {
            l.classify(packets)
                .into_iter()
                .map(|class| match class {
                    Some((info, offset, length)) => {
                        let delivery = wit::Delivery {
                            info: info_to(&info),
                            span: t::Span {
                                offset: offset as u32,
                                length: length as u32,
                            },
                        };
                        if info.protocol == netstack_wire::IpProtocol::Tcp {
                            wit::PacketClass::Tcp(delivery)
                        } else {
                            wit::PacketClass::Udp(delivery)
                        }
                    }
                    None => wit::PacketClass::Other,
                })
                .collect()
        })
    }

    fn route_headers(_now: t::Instant, payloads: Vec<wit::OutgoingPayload>) -> wit::Routing {
        let infos: Vec<_> = payloads.iter().map(|p| info_from(&p.info)).collect();
        let datagrams = infos.iter().zip(payloads.iter().map(|p| p.length as usize));
        LAYER.with_borrow_mut(|l| {
            let routes = l.route_headers(datagrams);
            let mut headers = Vec::with_capacity(routes.iter().flatten().count() * HEADER_LEN);
            let routes = routes
                .into_iter()
                .map(|route| {
                    route.map(|(header, next_hop)| {
                        headers.extend_from_slice(&header);
                        wit::Routed {
                            header_length: header.len() as u8,
                            next_hop: ipv4_to(next_hop),
                        }
                    })
                })
                .collect();
            wit::Routing { headers, routes }
        })
    }

    fn send(now: t::Instant, payloads: t::TransportBatch) -> wit::Ipv4Output {
        let Some(batch) = transport_from(payloads) else {
            return bad_batch();
        };
        run(|l, out| l.send(now, batch.iter(), out))
    }

    fn undeliverable(now: t::Instant, packets: t::Batch) -> wit::Ipv4Output {
        if check_parts(&packets.bytes, &packets.lengths).is_err() {
            return bad_batch();
        }
        run(|l, out| l.undeliverable(now, iter_parts(&packets.bytes, &packets.lengths), out))
    }

    fn port_unreachable(now: t::Instant, datagrams: t::TransportBatch) -> wit::Ipv4Output {
        let Some(batch) = transport_from(datagrams) else {
            return bad_batch();
        };
        run(|l, out| l.port_unreachable(now, batch.iter(), out))
    }

    fn set_mtu(ifindex: u32, mtu: u32) -> Result<(), ErrorCode> {
        LAYER
            .with_borrow_mut(|l| l.set_mtu(ifindex, mtu))
            .map_err(error_to)
    }

    fn set_forwarding(enabled: bool) {
        LAYER.with_borrow_mut(|l| l.set_forwarding(enabled))
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
