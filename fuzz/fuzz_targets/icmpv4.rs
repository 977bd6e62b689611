#![no_main]
//! ICMPv4: parse never panics; a parsed message re-emits to the same bytes.

use libfuzzer_sys::fuzz_target;
use netstack_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use netstack_wire::ChecksumMode;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else { return };
    let Ok(repr) = Icmpv4Repr::parse(&packet, ChecksumMode::Verify) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
    assert_eq!(out, data);
});
