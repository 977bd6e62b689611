#![no_main]
//! TCP: parse never panics (options included); a parsed segment re-parses equal after emit.

use libfuzzer_sys::fuzz_target;
use netstack_wire::{ChecksumMode, Ipv4Address, TcpPacket, TcpRepr};

const SRC: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const DST: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = TcpPacket::new_checked(data) else { return };
    for option in packet.option_iter() {
        let _ = option;
    }
    let Ok(repr) = TcpRepr::parse(&packet, SRC, DST, ChecksumMode::Trust) else { return };
    // Options the fixed layout cannot fit (more padding-free unknowns than 40 bytes) are the
    // sender's problem, not the parser's.
    if repr.options_len() > 40 {
        return;
    }
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), SRC, DST);
    let again = TcpRepr::parse(&TcpPacket::new_checked(&out[..]).unwrap(), SRC, DST, ChecksumMode::Verify).unwrap();
    assert_eq!(again, repr);
});
