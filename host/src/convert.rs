//! Moves between the layers' WIT types. Each component's bindings have their own copy of
//! `netstack:stack/types`, so a batch one layer returns is another Rust type than the one the
//! next layer takes; these conversions move the buffers across without copying them.

use crate::bindings::{ethernet_arp, ipv4, tcp, udp};

use ethernet_arp::exports::netstack::stack::types as link_t;
use ipv4::exports::netstack::stack::types as ip_t;
use tcp::exports::netstack::stack::types as tcp_t;
use udp::exports::netstack::stack::types as udp_t;

/// `From` between two modules' copies of a record, field by field.
macro_rules! records {
    ($a:ident <=> $b:ident : $($ty:ident { $($field:ident $(: $conv:ident)?),* })*) => {
        $(
            impl From<$a::$ty> for $b::$ty {
                fn from(v: $a::$ty) -> Self {
                    $b::$ty { $($field: records!(@conv v.$field $(, $conv)?)),* }
                }
            }
            impl From<$b::$ty> for $a::$ty {
                fn from(v: $b::$ty) -> Self {
                    $a::$ty { $($field: records!(@conv v.$field $(, $conv)?)),* }
                }
            }
        )*
    };
    (@conv $e:expr) => { $e };
    (@conv $e:expr, into) => { $e.into() };
    (@conv $e:expr, list) => { $e.into_iter().map(Into::into).collect() };
}

records!(link_t <=> ip_t:
    Batch { bytes, lengths }
    Outbound { packets: into, next_hops, segment_sizes }
);

records!(ip_t <=> tcp_t:
    Batch { bytes, lengths }
    DatagramInfo { protocol, source, destination, ttl, tos, dont_fragment, segment_size }
    TransportBatch { info: list, payloads: into }
    IcmpError { icmp_type, code, next_hop_mtu, original: into, transport_header }
);

records!(ip_t <=> udp_t:
    Batch { bytes, lengths }
    DatagramInfo { protocol, source, destination, ttl, tos, dont_fragment, segment_size }
    TransportBatch { info: list, payloads: into }
    IcmpError { icmp_type, code, next_hop_mtu, original: into, transport_header }
);
