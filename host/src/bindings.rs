//! The host side of each component's world in `wit/` (`wasmtime::component::bindgen!` on the same
//! files the components use with wit-bindgen). Instantiating through these types checks the
//! component's exports against its world.

/// `netstack:stack/ethernet-arp-component`.
pub mod ethernet_arp {
    wasmtime::component::bindgen!({ world: "netstack:stack/ethernet-arp-component", path: "../wit" });
}

/// `netstack:stack/ipv4-component`.
pub mod ipv4 {
    wasmtime::component::bindgen!({ world: "netstack:stack/ipv4-component", path: "../wit" });
}

/// `netstack:stack/tcp-component`.
pub mod tcp {
    wasmtime::component::bindgen!({ world: "netstack:stack/tcp-component", path: "../wit" });
}

/// `netstack:stack/udp-component`.
pub mod udp {
    wasmtime::component::bindgen!({ world: "netstack:stack/udp-component", path: "../wit" });
}
