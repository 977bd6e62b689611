//! How the driver reaches the hardware: 32-bit register access and DMA memory. The driver uses
//! nothing else, so the same driver runs against the device model here and, through the
//! [`crate::uio`] backend, against a real AST2500's MAC mapped into a process.

use crate::regs::Reg;

/// 32-bit register access to one MAC (`addr & 0xff` decodes; accesses are 4 bytes, little-endian).
///
/// Implementations are shared between the interrupt and NAPI contexts, so both take `&self`.
pub trait Mmio {
    /// Reads a register.
    fn read32(&self, reg: Reg) -> u32;
    /// Writes a register.
    fn write32(&self, reg: Reg, value: u32);

    /// Waits about `us` microseconds between polls of a register (Linux's `udelay`). The device
    /// model completes everything at once, so the default does not wait; a backend for real
    /// hardware must.
    fn delay_us(&self, us: u32) {
        let _ = us;
    }
}

/// A DMA access that hit no memory (an AHB bus error on the SoC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("DMA access to {addr:#010x}+{len} is outside memory")]
pub struct DmaError {
    /// The bus address.
    pub addr: u32,
    /// The access length.
    pub len: usize,
}

/// Memory that both the CPU (driver) and the MAC (device) reach by 32-bit bus address.
pub trait Dma {
    /// Copies `buf.len()` bytes at `addr` into `buf`.
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), DmaError>;
    /// Copies `data` to `addr`.
    fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError>;

    /// Appends `len` bytes from `addr` to `out`. A backend that can copy straight into the
    /// vector's spare capacity overrides this and skips zero-filling it first.
    fn read_append(&self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), DmaError> {
        let at = out.len();
        out.resize(at + len, 0);
        let r = self.read(addr, &mut out[at..]);
        if r.is_err() {
            out.truncate(at);
        }
        r
    }

    /// Reads a little-endian word.
    fn read_u32(&self, addr: u32) -> Result<u32, DmaError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a little-endian word.
    fn write_u32(&self, addr: u32, value: u32) -> Result<(), DmaError> {
        self.write(addr, &value.to_le_bytes())
    }

    /// Maps `bytes` for the device (Linux's `dma_map_single`): their bus address, or the
    /// bytes given back when this memory cannot map host buffers (a driver copies them into
    /// its own DMA buffers then). The device may read and write them until [`Self::unmap`].
    fn map(&self, bytes: Vec<u8>) -> Result<u32, Vec<u8>> {
        Err(bytes)
    }

    /// Ends the mapping that [`Self::map`] made at `addr` (`dma_unmap_single`), giving the
    /// bytes back; `None` if there is none.
    fn unmap(&self, addr: u32) -> Option<Vec<u8>> {
        let _ = addr;
        None
    }

    /// The mapping ([`Self::map`]) that holds `addr..addr + len`: its bus address and its
    /// length. `None` when the bytes are elsewhere (SDRAM) or nowhere.
    fn mapping(&self, addr: u32, len: usize) -> Option<(u32, usize)> {
        let _ = (addr, len);
        None
    }

    /// Gives the device the bytes mapped at `addr` (a mapping's own address) by moving them,
    /// and maps `spare` there in their place: the simulation's DMA by reference, for a device
    /// that has read a whole mapping and would otherwise copy every byte of it out (a TX walk
    /// that sent every frame of a mapped batch). The driver unmaps as before and gets `spare`
    /// back; it never reads a buffer it gave the device to send, so it cannot tell.
    /// `Err(spare)` when there is no mapping at `addr`, or this memory cannot move it.
    fn exchange_mapped(&self, addr: u32, spare: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        let _ = addr;
        Err(spare)
    }

    /// Runs `f` with the memory held for a burst of accesses, as a bus master holds the bus
    /// for a descriptor walk: a backend that takes a lock per access (the simulation's) takes
    /// it once for the burst. `f` must not call `burst` again.
    fn burst(&self, f: &mut dyn FnMut(&dyn Dma));
}

impl<T: Dma + ?Sized> Dma for std::sync::Arc<T> {
    fn burst(&self, f: &mut dyn FnMut(&dyn Dma)) {
        (**self).burst(f)
    }
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
        (**self).read(addr, buf)
    }
    fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError> {
        (**self).write(addr, data)
    }
    fn read_append(&self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), DmaError> {
        (**self).read_append(addr, len, out)
    }
    fn map(&self, bytes: Vec<u8>) -> Result<u32, Vec<u8>> {
        (**self).map(bytes)
    }
    fn unmap(&self, addr: u32) -> Option<Vec<u8>> {
        (**self).unmap(addr)
    }
    fn mapping(&self, addr: u32, len: usize) -> Option<(u32, usize)> {
        (**self).mapping(addr, len)
    }
    fn exchange_mapped(&self, addr: u32, spare: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        (**self).exchange_mapped(addr, spare)
    }
}

impl<T: Mmio + ?Sized> Mmio for std::sync::Arc<T> {
    fn read32(&self, reg: Reg) -> u32 {
        (**self).read32(reg)
    }
    fn write32(&self, reg: Reg, value: u32) {
        (**self).write32(reg, value)
    }
    fn delay_us(&self, us: u32) {
        (**self).delay_us(us)
    }
}
