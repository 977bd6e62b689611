//! The FTGMAC100 Ethernet MAC of the ASPEED AST2500 (`shared/spec/ftgmac100.md`): its registers
//! and descriptors, and (as the NIC issue lands) the driver with its NAPI loop, a register-accurate
//! device model, and the wires that carry the model's frames.

pub mod desc;
pub mod regs;
