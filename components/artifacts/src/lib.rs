//! The built Wasm artifacts: every component, as paths to `.wasm` files that this crate's build
//! script produced for wasm32-wasip2. Tests and the host find components through these constants,
//! never through hard-coded paths.

/// A built component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// The crate directory under `components/` (`tcp`).
    pub name: &'static str,
    /// The WIT world it targets, in package `netstack:stack` (`tcp-component`).
    pub world: &'static str,
    /// The `.wasm` file.
    pub path: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
