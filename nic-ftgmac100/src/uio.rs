//! The driver on real silicon: the MAC's registers and a DMA region mapped into this process, as
//! on an AST2500 running Linux with the MAC handed to user space (UIO, or `/dev/mem`).
//!
//! How it would be used on a board (it cannot be tested here: there is no FTGMAC100 on this
//! machine):
//! 1. Keep the kernel's ftgmac100 driver off the MAC (unbind it, or a device tree with the node
//!    bound to `uio_pdrv_genirq`), and reserve physically contiguous, uncached memory for rings
//!    and buffers (a `reserved-memory` node, or the `u-dma-buf` module).
//! 2. `MappedRegs::open("/dev/uio0", 0)` (or `/dev/mem` at 0x1E66_0000 for MAC1) maps the 4 KiB
//!    register window; `MappedDma::open("/dev/mem", phys, len, phys as u32)` maps the reserved
//!    region at its bus address. Open `/dev/mem` with `O_SYNC` so ARM maps it uncached
//!    (strongly ordered): volatile accesses then reach the device in program order, which is what
//!    the driver's "descriptor words first, OWN last" protocol needs.
//! 3. `Ftgmac100::probe(regs, dma, DriverConfig::new(phys as u32, len))`, then `open`, and run
//!    the [`crate::napi::NapiLoop`] with the UIO fd's interrupt count (a blocking `read` on
//!    `/dev/uio0`) raising the [`crate::napi::IrqLine`].
//!
//! This module and the TAP ioctl are the crate's only `unsafe`, each block with its `SAFETY:`.
//! The mapping mechanics (offsets, bounds, volatile access) are tested on a mapped file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::access::{Dma, DmaError, Mmio};
use crate::regs::Reg;

/// The register window: the MAC decodes `addr & 0xff`; a page is mapped.
const REG_WINDOW: usize = 0x1000;

/// A shared mapping of part of a file, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    _file: File,
}

// SAFETY: the mapping is plain memory (or device memory) owned by this value; every access goes
// through volatile reads and writes of in-bounds addresses, which are sound from any thread.
#[allow(unsafe_code)]
unsafe impl Send for Mapping {}
// SAFETY: as above; concurrent volatile accesses are what the hardware expects.
#[allow(unsafe_code)]
unsafe impl Sync for Mapping {}

impl Mapping {
    fn open(path: &Path, offset: u64, len: usize) -> io::Result<Mapping> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_SYNC)
            .open(path)?;
        // SAFETY: a fresh shared mapping of `len` bytes of an fd we keep open for the mapping's
        // life; the kernel picks the address. The result is checked before use.
        #[allow(unsafe_code)]
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping {
            ptr,
            len,
            _file: file,
        })
    }

    fn read_u32(&self, offset: usize) -> u32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "register offset {offset:#x} out of the window"
        );
        // SAFETY: in bounds and 4-byte aligned (mmap returns page-aligned addresses), checked above.
        #[allow(unsafe_code)]
        unsafe {
            self.ptr.as_ptr().add(offset).cast::<u32>().read_volatile()
        }
    }

    fn write_u32(&self, offset: usize, value: u32) {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "register offset {offset:#x} out of the window"
        );
        // SAFETY: in bounds and aligned, checked above.
        #[allow(unsafe_code)]
        unsafe {
            self.ptr
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .write_volatile(value)
        }
    }

    fn copy_out(&self, offset: usize, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: the caller checked `offset + buf.len() <= len`.
            #[allow(unsafe_code)]
            unsafe {
                *b = self.ptr.as_ptr().add(offset + i).read_volatile();
            }
        }
    }

    fn copy_in(&self, offset: usize, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            // SAFETY: the caller checked `offset + data.len() <= len`.
            #[allow(unsafe_code)]
            unsafe {
                self.ptr.as_ptr().add(offset + i).write_volatile(*b);
            }
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `open` made; nothing refers to it after drop.
        #[allow(unsafe_code)]
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// The MAC's registers, mapped.
#[derive(Debug)]
pub struct MappedRegs {
    map: Mapping,
}

impl MappedRegs {
    /// Maps the register window at `offset` of `path` (`/dev/uio0` at 0, or `/dev/mem` at the
    /// MAC's physical base).
    pub fn open(path: impl AsRef<Path>, offset: u64) -> io::Result<MappedRegs> {
        Ok(MappedRegs {
            map: Mapping::open(path.as_ref(), offset, REG_WINDOW)?,
        })
    }
}

impl Mmio for MappedRegs {
    fn read32(&self, reg: Reg) -> u32 {
        self.map.read_u32((reg.0 & 0xff) as usize)
    }

    fn write32(&self, reg: Reg, value: u32) {
        self.map.write_u32((reg.0 & 0xff) as usize, value)
    }

    /// A busy wait: the polls it spaces out (SW_RST, MDIO) last microseconds.
    fn delay_us(&self, us: u32) {
        let until = Instant::now() + Duration::from_micros(u64::from(us));
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}

/// A physically contiguous DMA region, mapped, with the bus address of its first byte.
#[derive(Debug)]
pub struct MappedDma {
    map: Mapping,
    bus_base: u32,
}

impl MappedDma {
    /// Maps `len` bytes at `offset` of `path`, which the device sees at bus address `bus_base`.
    pub fn open(
        path: impl AsRef<Path>,
        offset: u64,
        len: usize,
        bus_base: u32,
    ) -> io::Result<MappedDma> {
        Ok(MappedDma {
            map: Mapping::open(path.as_ref(), offset, len)?,
            bus_base,
        })
    }

    fn offset(&self, addr: u32, len: usize) -> Result<usize, DmaError> {
        let err = DmaError { addr, len };
        let off = addr.checked_sub(self.bus_base).ok_or(err)? as usize;
        if off.checked_add(len).is_some_and(|end| end <= self.map.len) {
            Ok(off)
        } else {
            Err(err)
        }
    }
}

impl Dma for MappedDma {
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), DmaError> {
        let off = self.offset(addr, buf.len())?;
        self.map.copy_out(off, buf);
        Ok(())
    }

    fn write(&self, addr: u32, data: &[u8]) -> Result<(), DmaError> {
        let off = self.offset(addr, data.len())?;
        self.map.copy_in(off, data);
        Ok(())
    }

    fn burst(&self, f: &mut dyn FnMut(&dyn Dma)) {
        // Real memory: nothing to hold.
        f(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file stands in for the device: the mapping, offsets and bounds are what is tested.
    fn file(len: usize) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("netstack-uio-{}-{len}", std::process::id()));
        std::fs::write(&path, vec![0u8; len]).unwrap();
        path
    }

    #[test]
    fn registers_map_and_decode_the_low_byte() {
        let path = file(REG_WINDOW);
        let regs = MappedRegs::open(&path, 0).unwrap();
        regs.write32(Reg::MACCR, 0x0002_1f1f);
        assert_eq!(regs.read32(Reg::MACCR), 0x0002_1f1f);
        // The MAC decodes addr & 0xff: a mirror at +0x100 is the same register.
        assert_eq!(regs.read32(Reg(0x150)), 0x0002_1f1f);
        drop(regs);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes[0x50..0x54],
            0x0002_1f1fu32.to_le_bytes(),
            "written through to the file"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn dma_region_checks_bus_addresses() {
        let path = file(8192);
        let dma = MappedDma::open(&path, 4096, 4096, 0x9000_0000).unwrap();
        dma.write_u32(0x9000_0ffc, 0xfeed_f00d).unwrap();
        assert_eq!(dma.read_u32(0x9000_0ffc).unwrap(), 0xfeed_f00d);
        assert!(dma.read_u32(0x9000_0ffd).is_err());
        assert!(dma.write(0x8fff_ffff, &[1]).is_err());
        // The trait's read_append (this backend keeps the default): appended, or on a bus
        // error nothing added.
        let mut v = vec![7];
        dma.read_append(0x9000_0ffc, 4, &mut v).unwrap();
        assert_eq!(v, [7, 0x0d, 0xf0, 0xed, 0xfe]);
        assert!(dma.read_append(0x9000_0ffe, 4, &mut v).is_err());
        assert_eq!(v.len(), 5);
        drop(dma);
        assert_eq!(
            std::fs::read(&path).unwrap()[8188..],
            0xfeed_f00du32.to_le_bytes()
        );
        std::fs::remove_file(path).unwrap();
    }
}
