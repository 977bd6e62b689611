#![no_main]
//! UDP: parse never panics; a parsed datagram re-parses equal after emit.

use libfuzzer_sys::fuzz_target;
use netstack_wire::{ChecksumMode, Ipv4Address, UdpPacket, UdpRepr};

const SRC: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const DST: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = UdpPacket::new_checked(data) else { return };
    let Ok(repr) = UdpRepr::parse(&packet, SRC, DST, ChecksumMode::Trust) else { return };
    let payload = packet.payload();
    let mut out = vec![0u8; 8 + payload.len()];
    repr.emit(&mut UdpPacket::new_unchecked(&mut out[..]), SRC, DST, payload.len(), Some(payload));
    let again = UdpPacket::new_checked(&out[..]).unwrap();
    assert_eq!(UdpRepr::parse(&again, SRC, DST, ChecksumMode::Verify).unwrap(), repr);
});
