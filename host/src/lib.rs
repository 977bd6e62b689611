//! The netstack host: loads the protocol components with wasmtime and (as the NIC and router
//! issues land) owns the FTGMAC100, runs its NAPI loop and routes packets between the layers.
//!
//! - [`bindings`]: the host side of each component's WIT world;
//! - [`components`]: compiling and instantiating the components;
//! - [`stack`]: one instance of every layer, configured as a host of the network, and the
//!   router between them;
//! - [`router`]: `netstack run` on a network: the NIC, its NAPI loop, the stack, the control socket;
//! - [`sockets`]: the host socket layer, TCP sockets on the stack as futures;
//! - [`control`]: `netstack ctl`'s reports.

pub mod bench;
pub mod bench_rr;
pub mod bench_smoltcp;
pub mod bindings;
pub mod components;
pub mod control;
mod convert;
pub mod netcat;
pub mod node;
pub mod offload;
pub mod router;
pub mod services;
pub mod sockets;
pub mod stack;
