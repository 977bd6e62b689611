//! The retransmission timer (RFC 6298): smoothed RTT and variance from samples, Karn's rule
//! (no samples from retransmitted segments, enforced by the caller), exponential backoff, and
//! Linux's bounds (200 ms minimum, 120 s maximum).

/// One second, in nanoseconds.
const SECOND: u64 = 1_000_000_000;
/// RFC 6298 §2.1: "Until a round-trip time (RTT) measurement has been made ... RTO <- 1 second".
pub const INITIAL_RTO_NS: u64 = SECOND;
/// Linux's `TCP_RTO_MIN` (RFC 6298 §2.4 says 1 s; Linux and this stack use 200 ms).
pub const MIN_RTO_NS: u64 = 200_000_000;
/// Linux's `TCP_RTO_MAX`; RFC 6298 §2.5 allows a maximum of at least 60 s.
pub const MAX_RTO_NS: u64 = 120 * SECOND;
/// The clock granularity G of RFC 6298 §2: our clock is in nanoseconds, so 1 ms is generous.
const GRANULARITY_NS: u64 = 1_000_000;

/// The estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RtoEstimator {
    srtt: Option<u64>,
    rttvar: u64,
    rto: u64,
    backoffs: u32,
}

impl Default for RtoEstimator {
    fn default() -> Self {
        RtoEstimator {
            srtt: None,
            rttvar: 0,
            rto: INITIAL_RTO_NS,
            backoffs: 0,
        }
    }
}

impl RtoEstimator {
    /// A round-trip sample of `rtt` nanoseconds (RFC 6298 §2.2, §2.3).
    pub fn sample(&mut self, rtt: u64) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, beta = 1/4
                self.rttvar = (3 * self.rttvar + srtt.abs_diff(rtt)) / 4;
                // SRTT <- (1 - alpha) * SRTT + alpha * R', alpha = 1/8
                self.srtt = Some((7 * srtt + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        self.rto = (srtt + GRANULARITY_NS.max(4 * self.rttvar)).clamp(MIN_RTO_NS, MAX_RTO_NS);
        self.backoffs = 0;
    }

    /// The timer expired (RFC 6298 §5.5): double the RTO, up to the maximum.
    pub fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(MAX_RTO_NS);
        self.backoffs += 1;
    }

    /// The current RTO.
    pub fn rto(&self) -> u64 {
        self.rto
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<u64> {
        self.srtt
    }

    /// The RTT variance.
    pub fn rttvar(&self) -> u64 {
        self.rttvar
    }

    /// Back-offs since the last sample (how many times in a row the timer expired).
    pub fn backoffs(&self) -> u32 {
        self.backoffs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn follows_rfc6298() {
        let mut r = RtoEstimator::default();
        assert_eq!(r.rto(), SECOND);
        r.sample(100 * MS);
        // SRTT 100, RTTVAR 50: RTO = 100 + 4*50 = 300 ms.
        assert_eq!(
            (r.srtt(), r.rttvar(), r.rto()),
            (Some(100 * MS), 50 * MS, 300 * MS)
        );
        r.sample(100 * MS);
        // RTTVAR = 3/4*50 + 1/4*0 = 37.5; RTO = 100 + 150 = 250 ms.
        assert_eq!(r.rto(), 250 * MS);
        for _ in 0..20 {
            r.sample(MS);
        }
        assert_eq!(r.rto(), MIN_RTO_NS, "never below Linux's 200 ms");
        for _ in 0..20 {
            r.back_off();
        }
        assert_eq!((r.rto(), r.backoffs()), (MAX_RTO_NS, 20));
    }
}
