#![no_main]
//! ICMPv4: parse never panics; a parsed message re-emits to the same bytes, but for the checksum,
//! where one's complement has two zeros (0x0000 and 0xffff verify alike; emit writes the first).

use libfuzzer_sys::fuzz_target;
use netstack_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use netstack_wire::ChecksumMode;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else { return };
    let Ok(repr) = Icmpv4Repr::parse(&packet, ChecksumMode::Verify) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
    assert_eq!(out[..2], data[..2]);
    assert_eq!(out[4..], data[4..]);
    assert!(netstack_wire::checksum::verify(&out));
});
