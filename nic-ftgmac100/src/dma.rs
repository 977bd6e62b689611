//! Simulated SDRAM for the device model and the driver to share: a region at a bus address (the
//! AST2500's SDRAM starts at 0x8000_0000), behind one lock, and host buffers mapped for the
//! device ([`Dma::map`]) in windows of their own, as an IOMMU maps them. An access outside
//! both is a bus error.
//!
//! Each access takes the lock; a burst ([`Dma::burst`], the device model's descriptor walks)
//! takes it once. A lock's atomic operation waits for the stores before it (a frame's copy)
//! to drain, so per-access locking cost ~7% of a bulk transfer.

use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard};

use crate::access::{Dma, DmaError};

/// Where the AST2500's SDRAM starts on the AHB bus.
pub const SDRAM_BASE: u32 = 0x8000_0000;

/// Where host buffers mapped for the device ([`Dma::map`]) appear on the bus: one window of
/// [`MAP_WINDOW`] bytes per mapping, below SDRAM (as an IOMMU gives a mapped buffer a bus
/// address of its own).
pub const MAP_BASE: u32 = 0x1000_0000;
/// The bus space of one mapping: the largest buffer that can be mapped.
pub const MAP_WINDOW: u32 = 1 << 24;
/// Mappings at once.
const MAP_SLOTS: usize = 64;

/// A block of simulated memory, and the host buffers mapped into the bus beside it.
#[derive(Debug)]
pub struct SimDma {
    base: u32,
    mem: Mutex<Memory>,
}

#[derive(Debug)]
struct Memory {
    sdram: Vec<u8>,
    /// Mapped buffers by window ([`MAP_BASE`] + slot × [`MAP_WINDOW`]).
    maps: Vec<Option<Vec<u8>>>,
}

impl SimDma {
    /// `size` bytes of zeroed memory at `base`.
    ///
    /// # Panics
    /// If the region would run past the 32-bit bus or overlap the mapping windows.
    pub fn new(base: u32, size: u32) -> SimDma {
        assert!(
            base.checked_add(size).is_some(),
            "region {base:#x}+{size:#x} runs past 4 GiB"
        );
        let maps_end = MAP_BASE as u64 + MAP_SLOTS as u64 * MAP_WINDOW as u64;
        assert!(
            base as u64 >= maps_end || base as u64 + size as u64 <= MAP_BASE as u64,
            "region {base:#x}+{size:#x} overlaps the mapping windows"
        );
        SimDma {
            base,
            mem: Mutex::new(Memory {
                sdram: vec![0; size as usize],
                maps: Vec::new(),
            }),
        }
    }

    /// The first bus address.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The size in bytes.
    pub fn size(&self) -> u32 {
        self.lock().sdram.len() as u32
    }

    /// Buffers mapped now.
    pub fn mapped(&self) -> usize {
        self.lock().maps.iter().flatten().count()
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        // A panic while holding the lock leaves plain bytes behind: nothing to repair.
        self.mem.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Memory {
    /// The bytes at `addr..addr + len`: in SDRAM at `base`, or in one mapped buffer.
    #[inline]
    fn at(&self, base: u32, addr: u32, len: usize) -> Result<&[u8], DmaError> {
        // SDRAM first, with one bounds check: below `base` the offset wraps past its end.
        let off = addr.wrapping_sub(base) as usize;
        if let Some(bytes) = self.sdram.get(off..off + len) {
            return Ok(bytes);
        }
        let (slot, start) = self.mapped_at(addr, len)?;
        Ok(&self.maps[slot].as_deref().unwrap_or_default()[start..start + len])
    }

    #[inline]
    fn at_mut(&mut self, base: u32, addr: u32, len: usize) -> Result<&mut [u8], DmaError> {
        let off = addr.wrapping_sub(base) as usize;
        if off + len <= self.sdram.len() {
            return Ok(&mut self.sdram[off..off + len]);
        }
        let (slot, start) = self.mapped_at(addr, len)?;
        Ok(&mut self.maps[slot].as_deref_mut().unwrap_or_default()[start..start + len])
    }

    /// Which mapping holds `addr..addr + len`, and where in it.
    fn mapped_at(&self, addr: u32, len: usize) -> Result<(usize, usize), DmaError> {
        let err = DmaError { addr, len };
        let off = addr.checked_sub(MAP_BASE).ok_or(err)?;
        let slot = (off / MAP_WINDOW) as usize;
        let buf = self.maps.get(slot).and_then(Option::as_ref).ok_or(err)?;
        let start = (off % MAP_WINDOW) as usize;
        if start + len <= buf.len() {
            Ok((slot, start))
        } else {
            Err(err)
        }
    }

    fn map(&mut self, bytes: Vec<u8>) -> Result<u32, Vec<u8>> {
        if bytes.len() > MAP_WINDOW as usize {
            return Err(bytes);
        }
        let slot = match self.maps.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.maps.len() < MAP_SLOTS => {
                self.maps.push(None);
                self.maps.len() - 1
            }
            None => return Err(bytes),
        };
        self.maps[slot] = Some(bytes);
        Ok(MAP_BASE + slot as u32 * MAP_WINDOW)
    }

    fn unmap(&mut self, addr: u32) -> Option<Vec<u8>> {
        self.mapped_slot(addr)?.take()
    }

    /// The slot of the mapping whose own address is `addr`.
    fn mapped_slot(&mut self, addr: u32) -> Option<&mut Option<Vec<u8>>> {
        let off = addr.checked_sub(MAP_BASE)?;
        if off % MAP_WINDOW != 0 {
            return None;
        }
        self.maps.get_mut((off / MAP_WINDOW) as usize)
    }

    fn mapping(&self, addr: u32, len: usize) -> Option<(u32, usize)> {
        let (slot, _) = self.mapped_at(addr, len).ok()?;
        let bytes = self.maps[slot].as_ref()?;
        Some((MAP_BASE + slot as u32 * MAP_WINDOW, bytes.len()))
    }

    fn exchange_mapped(&mut self, addr: u32, spare: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        match self.mapped_slot(addr) {
            Some(Some(bytes)) => Ok(std::mem::replace(bytes, spare)),
            _ => Err(spare),
        }
    }
}

/// The memory of a [`SimDma`], locked for a burst.
struct Locked<'a> {
    dma: &'a SimDma,
    mem: RefCell<MutexGuard<'a, Memory>>,
}

/// The accesses, on memory already locked.
fn read(base: u32, mem: &Memory, addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
    buf.copy_from_slice(mem.at(base, addr, buf.len())?);
    Ok(())
}

fn write(base: u32, mem: &mut Memory, addr: u32, data: &[u8]) -> Result<(), DmaError> {
    mem.at_mut(base, addr, data.len())?.copy_from_slice(data);
    Ok(())
}

fn read_append(
    base: u32,
    mem: &Memory,
    addr: u32,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), DmaError> {
    out.extend_from_slice(mem.at(base, addr, len)?);
    Ok(())
}

impl Dma for SimDma {
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
        read(self.base, &self.lock(), addr, buf)
    }

    fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError> {
        write(self.base, &mut self.lock(), addr, data)
    }

    fn read_append(&self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), DmaError> {
        read_append(self.base, &self.lock(), addr, len, out)
    }

    fn map(&self, bytes: Vec<u8>) -> Result<u32, Vec<u8>> {
        self.lock().map(bytes)
    }

    fn unmap(&self, addr: u32) -> Option<Vec<u8>> {
        self.lock().unmap(addr)
    }

    fn mapping(&self, addr: u32, len: usize) -> Option<(u32, usize)> {
        self.lock().mapping(addr, len)
    }

    fn exchange_mapped(&self, addr: u32, spare: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        self.lock().exchange_mapped(addr, spare)
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
        read(self.dma.base, &self.mem.borrow(), addr, buf)
    }

    fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError> {
        write(self.dma.base, &mut self.mem.borrow_mut(), addr, data)
    }

    fn read_append(&self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), DmaError> {
        read_append(self.dma.base, &self.mem.borrow(), addr, len, out)
    }

    fn map(&self, bytes: Vec<u8>) -> Result<u32, Vec<u8>> {
        self.mem.borrow_mut().map(bytes)
    }

    fn unmap(&self, addr: u32) -> Option<Vec<u8>> {
        self.mem.borrow_mut().unmap(addr)
    }

    fn mapping(&self, addr: u32, len: usize) -> Option<(u32, usize)> {
        self.mem.borrow().mapping(addr, len)
    }

    fn exchange_mapped(&self, addr: u32, spare: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        self.mem.borrow_mut().exchange_mapped(addr, spare)
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

    #[test]
    fn a_mapping_is_found_by_any_of_its_bytes_and_exchanged_whole() {
        let m = SimDma::new(SDRAM_BASE, 64);
        let a = m.map(vec![1, 2, 3, 4]).unwrap();
        assert_eq!(m.mapping(a + 1, 2), Some((a, 4)));
        assert_eq!(m.mapping(a + 3, 2), None, "past its end");
        assert_eq!(m.mapping(SDRAM_BASE, 4), None, "SDRAM is no mapping");
        assert_eq!(
            m.exchange_mapped(a + 1, vec![9]),
            Err(vec![9]),
            "only at its own address"
        );
        assert_eq!(m.exchange_mapped(a, vec![9]), Ok(vec![1, 2, 3, 4]));
        m.burst(&mut |d| {
            assert_eq!(d.mapping(a, 1), Some((a, 1)), "the spare is mapped now");
            assert_eq!(d.exchange_mapped(a, vec![7]), Ok(vec![9]), "in a burst too");
        });
        assert_eq!(m.unmap(a), Some(vec![7]), "the driver unmaps the spare");
        assert_eq!(
            m.exchange_mapped(a, Vec::new()),
            Err(Vec::new()),
            "unmapped"
        );
    }

    #[test]
    fn a_mapped_buffer_is_on_the_bus_until_unmapped() {
        let m = SimDma::new(SDRAM_BASE, 64);
        let a = m.map(vec![1, 2, 3, 4, 5]).unwrap();
        let b = m.map(vec![9; 8]).unwrap();
        assert_eq!((a, b), (MAP_BASE, MAP_BASE + MAP_WINDOW));
        let mut v = Vec::new();
        m.read_append(a + 1, 3, &mut v).unwrap();
        m.burst(&mut |d| d.read_append(b + 6, 2, &mut v).unwrap());
        assert_eq!(v, [2, 3, 4, 9, 9]);
        m.write(a + 4, &[7]).unwrap();
        assert!(m.read_u32(a + 2).is_err(), "past the buffer's end");
        assert!(m.read_u32(b + MAP_WINDOW).is_err(), "no mapping there");
        assert_eq!(m.mapped(), 2);
        assert_eq!(m.unmap(a), Some(vec![1, 2, 3, 4, 7]));
        assert_eq!(m.unmap(a), None, "once");
        assert!(m.read_u32(a).is_err(), "gone from the bus");
        assert_eq!(m.map(Vec::new()), Ok(a), "the window is free again");
        assert_eq!(m.unmap(b + 1), None, "only a mapping's own address");
        let big = vec![0; MAP_WINDOW as usize + 1];
        assert_eq!(
            m.map(big).map_err(|b| b.len()),
            Err(MAP_WINDOW as usize + 1)
        );
    }
}
