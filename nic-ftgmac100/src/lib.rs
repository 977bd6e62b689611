//! The FTGMAC100 Ethernet MAC of the ASPEED AST2500 (`shared/spec/ftgmac100.md`).
//!
//! - [`regs`], [`desc`]: registers and descriptors as the datasheet lays them out;
//! - [`access`]: the two traits the driver reaches hardware through (MMIO registers, DMA memory);
//! - [`dma`]: simulated SDRAM both sides share;
//! - [`model`]: the device model, the hardware itself;
//! - [`driver`]: the driver, after Linux 5.15's.
//!
//! The NAPI loop and the wires land next (the NIC issue, in increments).

pub mod access;
pub mod desc;
pub mod dma;
pub mod driver;
pub mod model;
pub mod regs;
