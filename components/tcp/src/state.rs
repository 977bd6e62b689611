//! The hot-swap state format (DESIGN.md §7), versioned so that a new build reads the previous
//! version.
//!
//! Version 1: `b"NSTCP"`, the version as a little-endian u32, then the counters as little-endian
//! u64s in their declaration order, prefixed by their count (so a build with more counters reads
//! an older state with fewer). Connections, listeners, buffers and timers are not in it yet: they
//! join the format as version 2, before `ctl swap` exists to use it.

use crate::{Counters, TcpLayer};

/// The version this build writes.
pub const STATE_VERSION: u32 = 1;
const MAGIC: &[u8; 5] = b"NSTCP";

/// Why a state could not be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// Not a TCP state, or cut short.
    Invalid,
    /// A version this build does not read.
    UnsupportedVersion(u32),
}

impl TcpLayer {
    /// Serialises the layer's state.
    pub fn export_state(&self) -> Vec<u8> {
        let counters = self.counters.list();
        let mut b = Vec::with_capacity(MAGIC.len() + 8 + 8 * counters.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&STATE_VERSION.to_le_bytes());
        b.extend_from_slice(&(counters.len() as u32).to_le_bytes());
        for (_, v) in counters {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Restores a layer from [`Self::export_state`]'s bytes.
    pub fn import_state(bytes: &[u8]) -> Result<TcpLayer, StateError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(StateError::Invalid)?;
        let (version, rest) = take_u32(rest)?;
        if version != STATE_VERSION {
            return Err(StateError::UnsupportedVersion(version));
        }
        let (count, mut rest) = take_u32(rest)?;
        let mut values = Vec::new();
        for _ in 0..count {
            let (v, r) = rest.split_first_chunk::<8>().ok_or(StateError::Invalid)?;
            values.push(u64::from_le_bytes(*v));
            rest = r;
        }
        if !rest.is_empty() {
            return Err(StateError::Invalid);
        }
        let mut v = values.into_iter().chain(core::iter::repeat(0));
        let mut next = || v.next().unwrap_or(0);
        let counters = Counters {
            in_segs: next(),
            in_csum_errors: next(),
            in_errs: next(),
            out_segs: next(),
            out_rsts: next(),
            active_opens: next(),
            passive_opens: next(),
            listen_overflows: next(),
            timeouts: next(),
        };
        Ok(TcpLayer {
            counters,
            ..TcpLayer::default()
        })
    }
}

fn take_u32(b: &[u8]) -> Result<(u32, &[u8]), StateError> {
    let (v, rest) = b.split_first_chunk::<4>().ok_or(StateError::Invalid)?;
    Ok((u32::from_le_bytes(*v), rest))
}
