//! Wires: what carries a device model's frames to the rest of the world.
//!
//! A [`Wire`] is one end of a link, sans-IO like the protocol layers: frames go in with `send`,
//! frames that have arrived by `now` come out of `recv`, and `next_event` says when something
//! held back (a delayed or paced frame) is due. Wires stack: an [`Impaired`] or [`PcapTap`] wraps
//! any other wire, TAP included. A [`Cable`] connects a device model to a wire.

mod cable;
mod impair;
mod pace;
mod pcap;
mod switch;
#[cfg(target_os = "linux")]
mod tap;

pub use cable::Cable;
pub use impair::{ImpairCounters, ImpairSpec, Impaired, SpecError};
pub use pace::Paced;
pub use pcap::{PcapTap, PcapWriter};
pub use switch::{Switch, SwitchCounters, SwitchPort};
#[cfg(target_os = "linux")]
pub use tap::{Tap, TapCounters};

use netstack_wire::Batch;

/// One end of a link.
pub trait Wire: Send {
    /// Frames leaving through this end at `now` (Ethernet header on, FCS off).
    fn send(&mut self, now: u64, frames: &Batch);
    /// [`Self::send`] for frames the caller gives up: they leave `frames`, which is then empty
    /// (a wire that queues them may keep the batch itself instead of copying it, and hand
    /// back another, empty one).
    fn send_taking(&mut self, now: u64, frames: &mut Batch) {
        self.send(now, frames);
        frames.clear();
    }
    /// Appends to `out` the frames that have arrived at this end by `now`.
    fn recv(&mut self, now: u64, out: &mut Batch);
    /// When a frame held back (delay, pacing) is next due, if one is.
    fn next_event(&self) -> Option<u64> {
        None
    }
    /// What this wire (and any it wraps) counted, for `netstack ctl stats`: an impaired wire
    /// says what it dropped, duplicated, corrupted and reordered.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

impl<W: Wire + ?Sized> Wire for Box<W> {
    fn send(&mut self, now: u64, frames: &Batch) {
        (**self).send(now, frames)
    }
    fn send_taking(&mut self, now: u64, frames: &mut Batch) {
        (**self).send_taking(now, frames)
    }
    fn recv(&mut self, now: u64, out: &mut Batch) {
        (**self).recv(now, out)
    }
    fn next_event(&self) -> Option<u64> {
        (**self).next_event()
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        (**self).counters()
    }
}

/// A small deterministic PRNG (SplitMix64) for seeded impairments: reproducible from its seed,
/// with no dependency and no global state.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: f64) -> bool {
        percent > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 100.0 < percent
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn wires_that_wrap_another_pass_on_its_counters() {
        let sw = Switch::new();
        let impaired = Impaired::new(sw.add_port(), "loss=50,seed=3".parse().unwrap());
        let paced = Paced::new(impaired, Arc::new(AtomicU64::new(1_000_000_000)));
        let capture = PcapTap::new(paced, PcapWriter::new(Vec::new()).unwrap(), 0);
        let mut wire: Box<dyn Wire> = Box::new(capture);
        let mut frames = Batch::new();
        for _ in 0..100 {
            frames.push(&[0xff; 60]);
        }
        wire.send(0, &frames);
        wire.recv(1_000_000, &mut Batch::new());
        let counters = wire.counters();
        let get = |name| counters.iter().find(|c| c.0 == name).map(|c| c.1);
        assert_eq!(get("impair-frames"), Some(100), "{counters:?}");
        assert!(
            get("impair-lost").is_some_and(|n| (30..=70).contains(&n)),
            "{counters:?}"
        );
        assert!(
            sw.add_port().counters().is_empty(),
            "a plain port counts nothing here"
        );
    }
}
