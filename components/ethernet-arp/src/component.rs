//! WIT glue: `netstack:stack/link` on top of [`EthernetArp`]. Conversions only; no protocol logic.

// The canonical-ABI code that wit-bindgen generates (exported symbols, pointer casts) is unsafe;
// this file writes none of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;

use netstack_wire::batch::{check_parts, iter_parts, parts_of, segment_size, sizes_fit, sizes_for};
use netstack_wire::tuple::{ipv4_from as ip_from, ipv4_to as ip_to, mac_from, mac_to};
use netstack_wire::{EthernetFrame, Ipv4Cidr};

use crate::{Config, ConfigError, EthernetArp, Output};

wit_bindgen::generate!({
    world: "ethernet-arp-component",
    path: "../../wit",
    generate_all,
});

use exports::netstack::stack::link::{self as wit, Guest};
use exports::netstack::stack::types::{self as t, ErrorCode};

struct Component;
export!(Component);

thread_local! {
    static LAYER: RefCell<Option<EthernetArp>> = const { RefCell::new(None) };
    /// Calls that came before `configure` or carried a batch whose lengths did not add up.
    static DROPPED: RefCell<(u64, u64)> = const { RefCell::new((0, 0)) };
}

netstack_wire::wit_conversions!();

fn output_to(out: Output) -> wit::LinkOutput {
    wit::LinkOutput {
        to_ipv4_segment_sizes: sizes_for(out.to_ipv4_segment_sizes, out.to_ipv4.len()),
        to_ipv4: batch_to(out.to_ipv4),
        to_wire_segment_sizes: sizes_for(out.to_wire_segment_sizes, out.to_wire.len()),
        to_wire: batch_to(out.to_wire),
        unresolved: batch_to(out.unresolved),
        deadline: out.deadline,
    }
}

fn config_from(c: wit::LinkConfig) -> Result<Config, ErrorCode> {
    let addresses = c
        .addresses
        .into_iter()
        .map(|a| Ipv4Cidr::new(ip_from(a.address), a.prefix_len).ok_or(ErrorCode::InvalidArgument))
        .collect::<Result<_, _>>()?;
    Ok(Config {
        mac: mac_from(c.mac),
        mtu: c.mtu,
        addresses,
        vlan: c.vlan,
    })
}

fn error_to(_: ConfigError) -> ErrorCode {
    ErrorCode::InvalidArgument
}

/// Runs `f` on the configured layer, or counts the call as dropped and returns nothing.
fn with_layer(f: impl FnOnce(&mut EthernetArp, &mut Output)) -> wit::LinkOutput {
    let mut out = Output::default();
    LAYER.with_borrow_mut(|l| match l {
        Some(l) => f(l, &mut out),
        None => DROPPED.with_borrow_mut(|d| d.0 += 1),
    });
    output_to(out)
}

fn bad_batch() {
    DROPPED.with_borrow_mut(|d| d.1 += 1);
}

impl Guest for Component {
    fn configure(now: t::Instant, config: wit::LinkConfig) -> Result<wit::LinkOutput, ErrorCode> {
        let config = config_from(config)?;
        let mut out = Output::default();
        LAYER.with_borrow_mut(|l| match l {
            Some(l) => l.configure(now, config, &mut out).map_err(error_to),
            None => {
                let mut layer = EthernetArp::new(config).map_err(error_to)?;
                layer.announce(&mut out);
                *l = Some(layer);
                Ok(())
            }
        })?;
        Ok(output_to(out))
    }

    fn receive(now: t::Instant, frames: t::Batch, segment_sizes: Vec<u16>) -> wit::LinkOutput {
        if check_parts(&frames.bytes, &frames.lengths).is_err()
            || !sizes_fit(&segment_sizes, frames.lengths.len())
        {
            bad_batch();
            return output_to(Output::default());
        }
        let sizes = (0..).map(|i| segment_size(&segment_sizes, i));
        let frames = iter_parts(&frames.bytes, &frames.lengths).zip(sizes);
        with_layer(|l, out| l.receive_offloaded(now, frames, out))
    }

    fn classify(
        _now: t::Instant,
        heads: Vec<u8>,
        frames: Vec<wit::FrameHead>,
    ) -> Vec<wit::FrameClass> {
        let Some(parts) = parts_of(&heads, frames.iter().map(|f| f.head_length)) else {
            // The host then sends every frame the slow way, where `receive` counts it.
            bad_batch();
            return Vec::new();
        };
        let frames_with_heads = parts.zip(frames.iter().map(|f| f.length as usize));
        LAYER.with_borrow_mut(|l| match l {
            Some(l) => l
                .classify(frames_with_heads)
                .into_iter()
                .map(|class| match class {
                    Some((offset, length)) => wit::FrameClass::Ipv4(wit::Span {
                        offset: offset as u32,
                        length: length as u32,
                    }),
                    None => wit::FrameClass::Other,
                })
                .collect(),
            // Not configured: `receive` counts what it drops.
            None => vec![wit::FrameClass::Other; frames.len()],
        })
    }

    fn frame_headers(now: t::Instant, packets: Vec<wit::RoutedPacket>) -> wit::Framing {
        let mut framing = wit::Framing {
            headers: Vec::new(),
            header_lengths: vec![0; packets.len()],
            deadline: None,
        };
        let packets = packets
            .iter()
            .map(|p| (ip_from(p.next_hop), p.length as usize, p.segment_size));
        LAYER.with_borrow_mut(|l| {
            // Not configured: every packet goes to `send`, which counts what it drops.
            let Some(l) = l else { return };
            let headers = l.frame_headers(now, packets);
            let room = headers.iter().flatten().map(|e| e.buffer_len()).sum();
            framing.headers.resize(room, 0);
            let mut at = 0;
            for (eth, len) in headers.iter().zip(&mut framing.header_lengths) {
                if let Some(eth) = eth {
                    let n = eth.buffer_len();
                    eth.emit(&mut EthernetFrame::new_unchecked(
                        &mut framing.headers[at..at + n],
                    ));
                    (at, *len) = (at + n, n as u8);
                }
            }
            framing.deadline = l.deadline();
        });
        framing
    }

    fn send(now: t::Instant, packets: wit::Outbound) -> wit::LinkOutput {
        let p = &packets.packets;
        if check_parts(&p.bytes, &p.lengths).is_err()
            || packets.next_hops.len() != p.lengths.len()
            || !sizes_fit(&packets.segment_sizes, p.lengths.len())
        {
            bad_batch();
            return output_to(Output::default());
        }
        let sizes = &packets.segment_sizes;
        let packets = iter_parts(&p.bytes, &p.lengths)
            .zip(&packets.next_hops)
            .enumerate()
            .map(|(i, (p, &h))| (p, ip_from(h), segment_size(sizes, i)));
        with_layer(|l, out| l.send_offloaded(now, packets, out))
    }

    fn poll(now: t::Instant) -> wit::LinkOutput {
        with_layer(|l, out| l.poll(now, out))
    }

    fn neighbours() -> Vec<wit::Neighbour> {
        LAYER.with_borrow(|l| {
            l.iter()
                .flat_map(|l| l.neighbours().iter())
                .map(|(a, n)| wit::Neighbour {
                    address: ip_to(a),
                    mac: n.mac.map(mac_to),
                    state: n.state.name().to_string(),
                    queued: n.queued() as u32,
                })
                .collect()
        })
    }

    fn add_static_neighbour(address: t::Ipv4Address, mac: t::MacAddress) -> Result<(), ErrorCode> {
        LAYER.with_borrow_mut(|l| match l {
            Some(l) => l
                .add_static_neighbour(ip_from(address), mac_from(mac))
                .map_err(error_to),
            None => Err(ErrorCode::InvalidState),
        })
    }

    fn remove_neighbour(address: t::Ipv4Address) -> Result<(), ErrorCode> {
        LAYER.with_borrow_mut(|l| match l {
            Some(l) => l
                .remove_neighbour(ip_from(address))
                .then_some(())
                .ok_or(ErrorCode::InvalidArgument),
            None => Err(ErrorCode::InvalidState),
        })
    }

    fn join_multicast(group: t::MacAddress) -> Result<(), ErrorCode> {
        LAYER.with_borrow_mut(|l| match l {
            Some(l) => l.join_multicast(mac_from(group)).map_err(error_to),
            None => Err(ErrorCode::InvalidState),
        })
    }

    fn leave_multicast(group: t::MacAddress) -> Result<(), ErrorCode> {
        LAYER.with_borrow_mut(|l| match l {
            Some(l) => l.leave_multicast(mac_from(group)).map_err(error_to),
            None => Err(ErrorCode::InvalidState),
        })
    }

    fn counters() -> Vec<t::Counter> {
        let (unconfigured, bad) = DROPPED.with_borrow(|d| *d);
        let glue = [("drop-unconfigured", unconfigured), ("drop-bad-batch", bad)];
        LAYER.with_borrow(|l| {
            counters_to(
                glue.into_iter()
                    .chain(l.iter().flat_map(|l| l.counters().list())),
            )
        })
    }
}
