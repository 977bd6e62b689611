//! Simulated SDRAM for the device model and the driver to share: a region at a bus address (the
//! AST2500's SDRAM starts at 0x8000_0000), behind one lock. An access outside it is a bus error.
//!
//! Each access takes the lock; a burst ([`Dma::burst`], the device model's descriptor walks)
//! takes it once. A lock's atomic operation waits for the stores before it (a frame's copy)
//! to drain, so per-access locking cost ~7% of a bulk transfer.

use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard};

use crate::access::{Dma, DmaError};

/// Where the AST2500's SDRAM starts on the AHB bus.
pub const SDRAM_BASE: u32 = 0x8000_0000;

/// A block of simulated memory.
#[derive(Debug)]
pub struct SimDma {
    base: u32,
    mem: Mutex<Vec<u8>>,
}

impl SimDma {
    /// `size` bytes of zeroed memory at `base`.
    ///
    /// # Panics
    /// If the region would run past the 32-bit bus.
    pub fn new(base: u32, size: u32) -> SimDma {
        assert!(
            base.checked_add(size).is_some(),
            "region {base:#x}+{size:#x} runs past 4 GiB"
        );
        SimDma {
            base,
            mem: Mutex::new(vec![0; size as usize]),
        }
    }

    /// The first bus address.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The size in bytes.
    pub fn size(&self) -> u32 {
        self.lock().len() as u32
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves plain bytes behind: nothing to repair.
        self.mem.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn range(
        &self,
        addr: u32,
        len: usize,
        mem_len: usize,
    ) -> Result<std::ops::Range<usize>, DmaError> {
        let err = DmaError { addr, len };
        let start = addr.checked_sub(self.base).ok_or(err)? as usize;
        let end = start.checked_add(len).ok_or(err)?;
        if end > mem_len {
            Err(err)
        } else {
            Ok(start..end)
        }
    }
}

/// The memory of a [`SimDma`], locked for a burst.
struct Locked<'a> {
    dma: &'a SimDma,
    mem: RefCell<MutexGuard<'a, Vec<u8>>>,
}

/// The accesses, on memory already locked.
fn read(dma: &SimDma, mem: &[u8], addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
    let r = dma.range(addr, buf.len(), mem.len())?;
    buf.copy_from_slice(&mem[r]);
    Ok(())
}

fn write(dma: &SimDma, mem: &mut [u8], addr: u32, data: &[u8]) -> Result<(), DmaError> {
    let r = dma.range(addr, data.len(), mem.len())?;
    mem[r].copy_from_slice(data);
    Ok(())
}

fn read_append(
    dma: &SimDma,
    mem: &[u8],
    addr: u32,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), DmaError> {
    let r = dma.range(addr, len, mem.len())?;
    out.extend_from_slice(&mem[r]);
    Ok(())
}

impl Dma for SimDma {
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
        read(self, &self.lock(), addr, buf)
    }

    fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError> {
        write(self, &mut self.lock(), addr, data)
    }

    fn read_append(&self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), DmaError> {
        read_append(self, &self.lock(), addr, len, out)
    }

    fn burst(&self, f: &mut dyn FnMut(&dyn Dma)) {
        f(&Locked {
            dma: self,
            mem: RefCell::new(self.lock()),
        })
    }
}

impl Dma for Locked<'_> {
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
        read(self.dma, &self.mem.borrow(), addr, buf)
    }

    fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError> {
        write(self.dma, &mut self.mem.borrow_mut(), addr, data)
    }

    fn read_append(&self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), DmaError> {
        read_append(self.dma, &self.mem.borrow(), addr, len, out)
    }

    fn burst(&self, f: &mut dyn FnMut(&dyn Dma)) {
        // Locked already.
        f(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_outside_are_bus_errors() {
        let m = SimDma::new(SDRAM_BASE, 64);
        m.write_u32(SDRAM_BASE + 60, 0xdead_beef).unwrap();
        assert_eq!(m.read_u32(SDRAM_BASE + 60).unwrap(), 0xdead_beef);
        assert_eq!(
            m.read_u32(SDRAM_BASE + 61),
            Err(DmaError {
                addr: SDRAM_BASE + 61,
                len: 4
            })
        );
        assert!(m.read_u32(SDRAM_BASE - 4).is_err());
        assert!(m.write(u32::MAX, &[0; 2]).is_err());
        let mut v = vec![9];
        m.read_append(SDRAM_BASE + 60, 4, &mut v).unwrap();
        assert_eq!(v, [9, 0xef, 0xbe, 0xad, 0xde]);
        assert!(m.read_append(SDRAM_BASE + 62, 4, &mut v).is_err());
        assert_eq!(v.len(), 5);
    }

    #[test]
    fn a_burst_sees_and_makes_the_same_accesses_under_one_lock() {
        let m = SimDma::new(SDRAM_BASE, 64);
        m.write_u32(SDRAM_BASE, 7).unwrap();
        let mut seen = Vec::new();
        m.burst(&mut |d| {
            seen.push(d.read_u32(SDRAM_BASE).unwrap());
            d.write_u32(SDRAM_BASE + 4, 8).unwrap();
            seen.push(d.read_u32(SDRAM_BASE + 4).unwrap());
            let mut v = Vec::new();
            d.read_append(SDRAM_BASE, 8, &mut v).unwrap();
            seen.push(v.len() as u32);
            assert!(
                d.read_u32(SDRAM_BASE + 62).is_err(),
                "bus errors as without"
            );
            // A nested burst is the same one (no second lock: no deadlock).
            d.burst(&mut |n| seen.push(n.read_u32(SDRAM_BASE + 4).unwrap()));
        });
        assert_eq!(seen, [7, 8, 8, 8]);
        assert_eq!(m.read_u32(SDRAM_BASE + 4).unwrap(), 8, "written for good");
    }
}
