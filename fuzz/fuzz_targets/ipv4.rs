#![no_main]
//! IPv4: parse never panics; a parsed header re-parses equal after emit.

use libfuzzer_sys::fuzz_target;
use netstack_wire::{ChecksumMode, Ipv4Packet, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Ipv4Packet::new_checked(data) else { return };
    let _ = (packet.payload(), packet.options(), packet.verify_checksum());
    let Ok(repr) = Ipv4Repr::parse(&packet, ChecksumMode::Trust) else { return };
    let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
    let again = Ipv4Repr::parse(&Ipv4Packet::new_checked(&out[..]).unwrap(), ChecksumMode::Verify).unwrap();
    assert_eq!(again, repr);
});
