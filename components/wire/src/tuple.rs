//! Addresses as WIT spells them (`tuple<u8, u8, u8, u8>`, as wasi:sockets does): the conversions
//! every component's glue and the host need.

use crate::{EthernetAddress, Ipv4Address};

/// `netstack:stack/types.ipv4-address`.
pub type Ipv4Tuple = (u8, u8, u8, u8);
/// `netstack:stack/types.mac-address`.
pub type MacTuple = (u8, u8, u8, u8, u8, u8);

/// An address from its tuple.
pub const fn ipv4_from(a: Ipv4Tuple) -> Ipv4Address {
    Ipv4Address::new(a.0, a.1, a.2, a.3)
}

/// An address as a tuple.
pub const fn ipv4_to(a: Ipv4Address) -> Ipv4Tuple {
    let o = a.octets();
    (o[0], o[1], o[2], o[3])
}

/// A MAC address from its tuple.
pub const fn mac_from(m: MacTuple) -> EthernetAddress {
    EthernetAddress([m.0, m.1, m.2, m.3, m.4, m.5])
}

/// A MAC address as a tuple.
pub const fn mac_to(m: EthernetAddress) -> MacTuple {
    let b = m.0;
    (b[0], b[1], b[2], b[3], b[4], b[5])
}
