//! CUBIC (RFC 9438): the window grows as a cubic function of the time since the last
//! congestion event, centred on the window where that event happened, and shrinks by β = 0.7
//! instead of Reno's half. Loss detection and recovery stay with [`crate::cc`]; this module
//! decides only the reduction and the growth in congestion avoidance.

use crate::Instant;

/// RFC 9438 §4.6: β_cubic.
const BETA: f64 = 0.7;
/// RFC 9438 §5: C = 0.4 (segments per second cubed).
const C: f64 = 0.4;
/// RFC 9438 §4.3: α_cubic = 3(1 - β) / (1 + β), the Reno-friendly growth per RTT.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC's state, in bytes and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cubic {
    /// W_max: the window when the last congestion event happened.
    w_max: f64,
    /// K: seconds from the epoch start until the window is back at W_max.
    k: f64,
    /// When the current congestion-avoidance epoch started.
    epoch_start: Option<Instant>,
    /// W_est: what Reno would have reached in this epoch (RFC 9438 §4.3).
    w_est: f64,
}

impl Default for Cubic {
    fn default() -> Self {
        Cubic {
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
        }
    }
}

impl Cubic {
    /// A congestion event with the window at `cwnd`: remembers W_max (with RFC 9438 §4.7's
    /// fast convergence: a window that peaks below the last W_max releases bandwidth) and
    /// returns the new ssthresh, β·cwnd.
    pub fn on_congestion(&mut self, cwnd: u32, mss: u32) -> u32 {
        let w = f64::from(cwnd);
        self.w_max = if w < self.w_max {
            w * (1.0 + BETA) / 2.0
        } else {
            w
        };
        self.epoch_start = None;
        ((w * BETA) as u32).max(2 * mss)
    }

    /// Congestion avoidance: `acked` bytes acknowledged at `now` with the window at `cwnd` and
    /// a smoothed RTT of `srtt` ns. Returns the new window (RFC 9438 §4.2–4.4).
    pub fn on_ack(&mut self, now: Instant, cwnd: u32, acked: u32, mss: u32, srtt: u64) -> u32 {
        let (w, mss_f) = (f64::from(cwnd), f64::from(mss));
        let start = *self.epoch_start.get_or_insert_with(|| {
            // §4.2: K = cbrt(W_max (1 - β) / C), in segments; 0 when the window already passed
            // W_max (the epoch starts on the concave side's end).
            self.k = if self.w_max > w {
                ((self.w_max - w) / mss_f / C).cbrt()
            } else {
                0.0
            };
            self.w_max = self.w_max.max(w);
            self.w_est = w;
            now
        });
        // §4.2: the target is W_cubic(t + RTT), and at most 1.5 · cwnd.
        let t = (now.saturating_sub(start) + srtt) as f64 / 1e9;
        let target = (C * (t - self.k).powi(3) * mss_f + self.w_max).clamp(w, 1.5 * w);
        // §4.3: Reno-friendly estimate, α segments per window acknowledged.
        self.w_est += ALPHA * mss_f * f64::from(acked) / w;
        let next = if target < self.w_est {
            self.w_est
        } else {
            // §4.4: grow by (target - cwnd) / cwnd per segment acknowledged.
            w + (target - w) * f64::from(acked) / w
        };
        next.max(w) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;
    const MS: u64 = 1_000_000;

    #[test]
    fn reduction_is_beta_and_fast_convergence_lowers_w_max() {
        let mut c = Cubic::default();
        assert_eq!(c.on_congestion(100_000, MSS), 70_000);
        assert_eq!(c.w_max, 100_000.0);
        // The next event below W_max: W_max = cwnd (1 + β) / 2.
        c.on_congestion(80_000, MSS);
        assert_eq!(c.w_max, 68_000.0);
    }

    #[test]
    fn the_window_climbs_back_to_w_max_in_k_seconds_then_probes_beyond() {
        let mut c = Cubic::default();
        let mut cwnd = c.on_congestion(100_000, MSS); // 100 segments; K = cbrt(30 / 0.4) ≈ 4.2 s
        let rtt = 100 * MS;
        let mut now = 0;
        let mut at_k = 0;
        for _ in 0..100 {
            // One RTT: a window's worth of ACKs, a segment each.
            for _ in 0..cwnd / MSS {
                cwnd = c.on_ack(now, cwnd, MSS, MSS, rtt);
            }
            now += rtt;
            if now == 4200 * MS {
                at_k = cwnd;
            }
        }
        assert!(
            (95_000..=105_000).contains(&at_k),
            "back near W_max after K: {at_k}"
        );
        assert!(cwnd > 120_000, "then beyond it, convex: {cwnd}");
    }
}
