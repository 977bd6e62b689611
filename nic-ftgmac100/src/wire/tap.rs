//! A Linux TAP device as a wire: the kernel's side of the cable.
//!
//! The fd is non-blocking; `recv` reads until the kernel has nothing more (one wake-up, many
//! frames, one `read` per frame: a TAP fd offers no batched read), `send` writes each frame once.
//! Frames from the kernel shorter than Ethernet's 60-byte minimum are zero-padded, as the sending
//! MAC would on a real cable (a TAP device does not pad, and a real receiver never sees runts).
//!
//! The one `unsafe` outside the MMIO/DMA module lives here: the `TUNSETIFF` ioctl that binds the
//! fd to a named interface has no safe wrapper in std. It is a single call with a correctly sized,
//! initialised `ifreq`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

use netstack_wire::Batch;

use super::Wire;

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
/// The minimum frame without FCS.
const ETH_ZLEN: usize = 60;
/// The largest frame read: a jumbo frame with its tag.
const MAX_FRAME: usize = 9216 + 4;

netstack_wire::counters! {
    /// What crossed the TAP device.
    pub struct TapCounters {
        /// Frames read from the kernel.
        rx_frames => "tap-rx-frames",
        /// Frames written to the kernel.
        tx_frames => "tap-tx-frames",
        /// Frames the kernel would not take (its queue full, or the interface down).
        tx_dropped => "tap-tx-dropped",
        /// Frames padded to 60 bytes on the way in.
        rx_padded => "tap-rx-padded",
        /// Read or write errors other than "try again".
        errors => "tap-errors",
    }
}

/// An open TAP device.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    buf: Vec<u8>,
    counters: TapCounters,
}

/// `struct ifreq` with the name and flags that `TUNSETIFF` reads.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tap {
    /// Opens the TAP interface `name`, creating it if it does not exist (which needs
    /// CAP_NET_ADMIN). The interface stays down until someone sets it up.
    pub fn open(name: &str) -> io::Result<Tap> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', ' ', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` is not an interface name"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/net/tun")?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TAP | IFF_NO_PI,
            _pad: [0; 22],
        };
        for (d, s) in req.name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        set_iff(&file, &req)?;
        Ok(Tap {
            file,
            name: name.to_string(),
            buf: vec![0; MAX_FRAME],
            counters: TapCounters::default(),
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What crossed the device.
    pub fn counters(&self) -> &TapCounters {
        &self.counters
    }
}

#[allow(unsafe_code)]
fn set_iff(file: &File, req: &IfReq) -> io::Result<()> {
    // SAFETY: TUNSETIFF reads a `struct ifreq` (40 bytes on Linux) through the pointer; `IfReq` is
    // `repr(C)`, exactly that size, fully initialised, and lives across the call. The fd is open.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, req as *const IfReq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

const _: () = assert!(std::mem::size_of::<IfReq>() == 40);

impl AsFd for Tap {
    /// For readiness (tokio's `AsyncFd`, poll): readable when the kernel has frames for us.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Wire for Tap {
    fn send(&mut self, _now: u64, frames: &Batch) {
        for frame in frames {
            match self.file.write(frame) {
                Ok(_) => self.counters.tx_frames += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.counters.tx_dropped += 1,
                // EIO: the interface is down, the frame goes nowhere, as on an unplugged cable.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => self.counters.tx_dropped += 1,
                Err(_) => self.counters.errors += 1,
            }
        }
    }

    fn recv(&mut self, _now: u64, out: &mut Batch) {
        loop {
            match self.file.read(&mut self.buf) {
                Ok(0) => return,
                Ok(n) => {
                    self.counters.rx_frames += 1;
                    if n < ETH_ZLEN {
                        self.counters.rx_padded += 1;
                        self.buf[n..ETH_ZLEN].fill(0);
                        out.push(&self.buf[..ETH_ZLEN]);
                    } else {
                        out.push(&self.buf[..n]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.counters.errors += 1;
                    return;
                }
            }
        }
    }
}
