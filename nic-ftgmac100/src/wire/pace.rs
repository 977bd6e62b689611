//! Line rate: frames leave a port no faster than its PHY's speed allows, as on a real cable.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use netstack_wire::Batch;

use super::Wire;

/// Bytes on the wire beyond the frame itself: FCS (4), preamble and SFD (8), inter-frame gap (12).
const WIRE_OVERHEAD: usize = 24;

/// How long `len` bytes of frame occupy a link of `bps` bits per second.
pub(crate) fn serialization_ns(len: usize, bps: u64) -> u64 {
    ((len + WIRE_OVERHEAD) as u64 * 8 * 1_000_000_000).div_ceil(bps)
}

/// A wire whose outbound frames are paced at a rate that may change (the negotiated speed).
#[derive(Debug)]
pub struct Paced<W: Wire> {
    inner: W,
    rate_bps: Arc<AtomicU64>,
    queue: VecDeque<(u64, Vec<u8>)>,
    busy_until: u64,
    scratch: Batch,
}

impl<W: Wire> Paced<W> {
    /// Paces `inner` at `rate_bps` (read at each frame, so a speed change applies at once).
    pub fn new(inner: W, rate_bps: Arc<AtomicU64>) -> Self {
        Paced {
            inner,
            rate_bps,
            queue: VecDeque::new(),
            busy_until: 0,
            scratch: Batch::new(),
        }
    }

    fn flush(&mut self, now: u64) {
        self.scratch.clear();
        while self.queue.front().is_some_and(|(at, _)| *at <= now) {
            let (_, frame) = self.queue.pop_front().expect("peeked");
            self.scratch.push(&frame);
        }
        if !self.scratch.is_empty() {
            self.inner.send(now, &self.scratch);
        }
    }
}

impl<W: Wire> Wire for Paced<W> {
    fn send(&mut self, now: u64, frames: &Batch) {
        let bps = self.rate_bps.load(Ordering::Relaxed).max(1);
        for frame in frames {
            let done = now.max(self.busy_until) + serialization_ns(frame.len(), bps);
            self.busy_until = done;
            self.queue.push_back((done, frame.to_vec()));
        }
        self.flush(now);
    }

    fn recv(&mut self, now: u64, out: &mut Batch) {
        self.flush(now);
        self.inner.recv(now, out);
    }

    fn next_event(&self) -> Option<u64> {
        [
            self.queue.front().map(|(at, _)| *at),
            self.inner.next_event(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.inner.counters()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Switch;
    use super::*;

    #[test]
    fn a_gigabit_port_sends_a_full_frame_in_12_3_us() {
        assert_eq!(serialization_ns(1514, 1_000_000_000), 12_304);
        assert_eq!(serialization_ns(60, 100_000_000), 6_720);
        let sw = Switch::new();
        let rate = Arc::new(AtomicU64::new(1_000_000_000));
        let mut a = Paced::new(sw.add_port(), rate.clone());
        let mut b = sw.add_port();
        let mut batch = Batch::new();
        for _ in 0..3 {
            batch.push(&[0xffu8; 1514]);
        }
        a.send(0, &batch);
        let count = |b: &mut super::super::SwitchPort, a: &mut Paced<_>, t| {
            let mut out = Batch::new();
            a.recv(t, &mut out);
            b.recv(t, &mut out);
            out.len()
        };
        assert_eq!(count(&mut b, &mut a, 12_303), 0);
        assert_eq!(count(&mut b, &mut a, 12_304), 1);
        assert_eq!(a.next_event(), Some(24_608));
        rate.store(100_000_000, Ordering::Relaxed);
        assert_eq!(
            count(&mut b, &mut a, 36_912),
            2,
            "frames already queued keep their times"
        );
    }
}
