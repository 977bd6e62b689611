//! The FTGMAC100 Ethernet MAC of the ASPEED AST2500 (`shared/spec/ftgmac100.md`).
//!
//! - [`regs`], [`desc`]: registers and descriptors as the datasheet lays them out;
//! - [`access`]: the two traits the driver reaches hardware through (MMIO registers, DMA memory);
//! - [`dma`]: simulated SDRAM both sides share;
//! - [`model`]: the device model, the hardware itself;
//! - [`driver`]: the driver, after Linux 5.15's;
//! - [`napi`]: the NAPI loop that drives it;
//! - [`wire`]: what carries the frames: an in-memory switch, TAP, impairments, pcap, line rate;
//! - [`station`]: all of it together, one simulated NIC on a wire;
//! - `uio`: registers and DMA memory mapped from a real AST2500 (design; untestable here).

pub mod access;
pub mod desc;
pub mod dma;
pub mod driver;
pub mod model;
pub mod napi;
pub mod regs;
pub mod station;
#[cfg(target_os = "linux")]
pub mod uio;
pub mod wire;
