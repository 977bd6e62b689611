#![no_main]
//! ARP: parse never panics, and an Ethernet/IPv4 packet re-emits to the same 28 bytes.

use libfuzzer_sys::fuzz_target;
use netstack_wire::{ArpPacket, ArpRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = ArpPacket::new_checked(data) else { return };
    let Ok(repr) = ArpRepr::parse(&packet) else { return };
    let mut out = [0u8; 28];
    repr.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
    assert_eq!(out, data[..28]);
});
