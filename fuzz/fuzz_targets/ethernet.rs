#![no_main]
//! Ethernet II with 802.1Q: parse never panics, and a parsed header re-emits to the same bytes.

use libfuzzer_sys::fuzz_target;
use netstack_wire::{EthernetFrame, EthernetRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = EthernetFrame::new_checked(data) else { return };
    let Ok(repr) = EthernetRepr::parse(&frame) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    assert_eq!(out, data[..repr.buffer_len()]);
});
