//! Seeded impairments around any wire, in both directions: loss, duplication, reordering, delay,
//! corruption and a rate limit. This kernel has no netem; this is ours, and it is deterministic
//! for a seed, so a failing run can be replayed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use netstack_wire::Batch;

use super::pace::serialization_ns;
use super::{SplitMix64, Wire};

/// What to do to the traffic. Percentages are per frame, in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ImpairSpec {
    /// Frames dropped, %.
    pub loss: f64,
    /// Frames held back behind later ones, %.
    pub reorder: f64,
    /// Frames sent twice, %.
    pub duplicate: f64,
    /// Frames with one bit flipped, %.
    pub corrupt: f64,
    /// Latency added to every frame, ns.
    pub delay_ns: u64,
    /// A rate limit in bits per second (0: none).
    pub rate_bps: u64,
    /// The PRNG seed.
    pub seed: u64,
}

/// Why an impairment spec did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A `key=value` pair has a key this wire does not know.
    #[error("unknown impairment `{0}` (known: loss, reorder, dup, corrupt, delay, rate, seed)")]
    UnknownKey(String),
    /// A value is not a number, or out of range.
    #[error("bad value for `{key}`: `{value}` ({why})")]
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An item is not `key=value`.
    #[error("`{0}` is not key=value")]
    NotAPair(String),
}

impl std::str::FromStr for ImpairSpec {
    type Err = SpecError;

    /// Parses `loss=PCT,reorder=PCT,dup=PCT,corrupt=PCT,delay=MS,rate=MBIT,seed=N` (any subset).
    fn from_str(s: &str) -> Result<ImpairSpec, SpecError> {
        let mut spec = ImpairSpec::default();
        for item in s.split(',').filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| SpecError::NotAPair(item.to_string()))?;
            let bad = |why| SpecError::BadValue {
                key: key.to_string(),
                value: value.to_string(),
                why,
            };
            let pct = || -> Result<f64, SpecError> {
                let v: f64 = value.parse().map_err(|_| bad("not a number"))?;
                if (0.0..=100.0).contains(&v) {
                    Ok(v)
                } else {
                    Err(bad("a percentage is 0..=100"))
                }
            };
            match key {
                "loss" => spec.loss = pct()?,
                "reorder" => spec.reorder = pct()?,
                "dup" => spec.duplicate = pct()?,
                "corrupt" => spec.corrupt = pct()?,
                "delay" => {
                    let ms: f64 = value
                        .parse()
                        .map_err(|_| bad("not a number of milliseconds"))?;
                    if !(0.0..=60_000.0).contains(&ms) {
                        return Err(bad("delay is 0..=60000 ms"));
                    }
                    spec.delay_ns = (ms * 1e6) as u64;
                }
                "rate" => {
                    let mbit: f64 = value.parse().map_err(|_| bad("not a number of Mbit/s"))?;
                    if mbit <= 0.0 {
                        return Err(bad("a rate is above 0 Mbit/s"));
                    }
                    spec.rate_bps = (mbit * 1e6) as u64;
                }
                "seed" => spec.seed = value.parse().map_err(|_| bad("not an integer"))?,
                _ => return Err(SpecError::UnknownKey(key.to_string())),
            }
        }
        Ok(spec)
    }
}

netstack_wire::counters! {
    /// What the impairments did, both directions together.
    pub struct ImpairCounters {
        /// Frames offered.
        frames => "impair-frames",
        /// Frames dropped.
        lost => "impair-lost",
        /// Extra copies made.
        duplicated => "impair-duplicated",
        /// Frames with a bit flipped.
        corrupted => "impair-corrupted",
        /// Frames held back behind later ones.
        reordered => "impair-reordered",
    }
}

/// One direction's held frames, released in time order (ties in arrival order).
#[derive(Debug, Default)]
struct Held {
    heap: BinaryHeap<Reverse<(u64, u64, Vec<u8>)>>,
    seq: u64,
    busy_until: u64,
}

impl Held {
    fn hold(&mut self, at: u64, frame: Vec<u8>) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, frame)));
    }

    fn release(&mut self, now: u64, out: &mut Batch) {
        while self
            .heap
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= now)
        {
            let Reverse((_, _, frame)) = self.heap.pop().expect("peeked");
            out.push(&frame);
        }
    }

    fn next(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }
}

/// A wire with impairments applied to what it carries both ways.
#[derive(Debug)]
pub struct Impaired<W: Wire> {
    inner: W,
    spec: ImpairSpec,
    rng: SplitMix64,
    outbound: Held,
    inbound: Held,
    scratch: Batch,
    counters: ImpairCounters,
}

impl<W: Wire> Impaired<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, spec: ImpairSpec) -> Self {
        Impaired {
            inner,
            rng: SplitMix64::new(spec.seed),
            spec,
            outbound: Held::default(),
            inbound: Held::default(),
            scratch: Batch::new(),
            counters: ImpairCounters::default(),
        }
    }

    /// What the impairments did.
    pub fn counters(&self) -> &ImpairCounters {
        &self.counters
    }

    /// The wire inside.
    pub fn inner(&self) -> &W {
        &self.inner
    }

    /// Decides each frame's fate and holds the survivors until their time.
    fn impair(&mut self, now: u64, frames: &Batch, outbound: bool) {
        for frame in frames {
            self.counters.frames += 1;
            if self.rng.chance(self.spec.loss) {
                self.counters.lost += 1;
                continue;
            }
            let copies = if self.rng.chance(self.spec.duplicate) {
                self.counters.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut f = frame.to_vec();
                if !f.is_empty() && self.rng.chance(self.spec.corrupt) {
                    self.counters.corrupted += 1;
                    let bit = self.rng.below(f.len() as u64 * 8);
                    f[(bit / 8) as usize] ^= 1 << (bit % 8);
                }
                let held = if outbound {
                    &mut self.outbound
                } else {
                    &mut self.inbound
                };
                // The rate limit: a frame leaves once the ones before it have been serialised.
                let mut at = now;
                if self.spec.rate_bps > 0 {
                    at = at.max(held.busy_until) + serialization_ns(f.len(), self.spec.rate_bps);
                    held.busy_until = at;
                }
                at += self.spec.delay_ns;
                if self.rng.chance(self.spec.reorder) {
                    // Held back long enough for the frames behind it to pass: netem's "gap".
                    self.counters.reordered += 1;
                    at += self.spec.delay_ns.max(1_000_000);
                }
                held.hold(at, f);
            }
        }
    }

    fn flush_outbound(&mut self, now: u64) {
        self.scratch.clear();
        self.outbound.release(now, &mut self.scratch);
        if !self.scratch.is_empty() {
            self.inner.send(now, &self.scratch);
        }
    }
}

impl<W: Wire> Wire for Impaired<W> {
    fn send(&mut self, now: u64, frames: &Batch) {
        self.impair(now, frames, true);
        self.flush_outbound(now);
    }

    fn recv(&mut self, now: u64, out: &mut Batch) {
        self.flush_outbound(now);
        let mut arrived = std::mem::take(&mut self.scratch);
        arrived.clear();
        self.inner.recv(now, &mut arrived);
        self.impair(now, &arrived, false);
        self.scratch = arrived;
        self.inbound.release(now, out);
    }

    fn next_event(&self) -> Option<u64> {
        [
            self.outbound.next(),
            self.inbound.next(),
            self.inner.next_event(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut all = self.counters.list().to_vec();
        all.extend(self.inner.counters());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::super::Switch;
    use super::*;

    #[test]
    fn spec_parses_and_rejects_clearly() {
        let s: ImpairSpec = "loss=2,reorder=5,dup=1,corrupt=0.1,delay=3,rate=100,seed=7"
            .parse()
            .unwrap();
        assert_eq!(
            s,
            ImpairSpec {
                loss: 2.0,
                reorder: 5.0,
                duplicate: 1.0,
                corrupt: 0.1,
                delay_ns: 3_000_000,
                rate_bps: 100_000_000,
                seed: 7
            }
        );
        assert_eq!("".parse::<ImpairSpec>().unwrap(), ImpairSpec::default());
        assert_eq!(
            "jitter=1".parse::<ImpairSpec>(),
            Err(SpecError::UnknownKey("jitter".into()))
        );
        assert!(matches!(
            "loss=101".parse::<ImpairSpec>(),
            Err(SpecError::BadValue { .. })
        ));
        assert!(matches!(
            "loss".parse::<ImpairSpec>(),
            Err(SpecError::NotAPair(_))
        ));
        assert!(matches!(
            "seed=x".parse::<ImpairSpec>(),
            Err(SpecError::BadValue { .. })
        ));
    }

    /// Sends `n` numbered frames from a through an impaired port; returns the numbers b saw.
    fn run(spec: &str, n: u32) -> (Vec<u32>, ImpairCounters) {
        let sw = Switch::new();
        let mut a = Impaired::new(sw.add_port(), spec.parse().unwrap());
        let mut b = sw.add_port();
        let mut seen = Vec::new();
        // What both ends received by `now`, as frame numbers.
        let mut drain = |a: &mut Impaired<_>, b: &mut _, now| {
            let mut out = Batch::new();
            a.recv(now, &mut out);
            Wire::recv(b, now, &mut out);
            seen.extend(
                out.iter()
                    .map(|f| u32::from_be_bytes([f[14], f[15], f[16], f[17]])),
            );
        };
        let mut now = 0;
        for i in 0..n {
            let mut batch = Batch::new();
            batch.push(
                &[
                    &[0xffu8; 6][..],
                    &[2, 0, 0, 0, 0, 1],
                    &[0x88, 0xb5],
                    &i.to_be_bytes(),
                    &[0; 42],
                ]
                .concat(),
            );
            a.send(now, &batch);
            now += 100_000;
            drain(&mut a, &mut b, now);
        }
        for _ in 0..100 {
            now += 1_000_000;
            drain(&mut a, &mut b, now);
        }
        (seen, a.counters().clone())
    }

    #[test]
    fn impairments_happen_at_their_rates_and_replay_from_the_seed() {
        let (seen, c) = run("loss=10,dup=5,reorder=10,seed=42", 10_000);
        assert!((800..1200).contains(&c.lost), "{c:?}");
        assert!((350..650).contains(&c.duplicated), "{c:?}");
        assert!(c.reordered > 500, "{c:?}");
        assert_eq!(seen.len() as u64, 10_000 - c.lost + c.duplicated);
        assert!(
            seen.windows(2).any(|w| w[0] > w[1]),
            "some frames arrive out of order"
        );
        assert_eq!(
            run("loss=10,dup=5,reorder=10,seed=42", 10_000).0,
            seen,
            "same seed, same run"
        );
        assert_ne!(run("loss=10,dup=5,reorder=10,seed=43", 10_000).0, seen);
    }

    #[test]
    fn delay_and_rate_hold_frames() {
        let sw = Switch::new();
        let mut a = Impaired::new(sw.add_port(), "delay=5,rate=8".parse().unwrap());
        let mut b = sw.add_port();
        let mut batch = Batch::new();
        let frame = [&[0xffu8; 6][..], &[2, 0, 0, 0, 0, 1], &[0u8; 964]].concat();
        batch.push(&frame);
        batch.push(&frame);
        a.send(0, &batch);
        // 976 bytes and 24 of preamble, FCS and gap at 8 Mbit/s take 1 ms each, then 5 ms of delay.
        assert_eq!(a.next_event(), Some(6_000_000));
        let mut out = Batch::new();
        a.recv(5_999_999, &mut out);
        b.recv(5_999_999, &mut out);
        assert!(out.is_empty());
        a.recv(6_000_000, &mut out);
        b.recv(6_000_000, &mut out);
        assert_eq!(out.len(), 1);
        a.recv(7_000_000, &mut out);
        b.recv(7_000_000, &mut out);
        assert_eq!(out.len(), 2);
    }
}
