//! Congestion control: NewReno (RFC 5681 slow start and congestion avoidance, fast retransmit
//! on three duplicate ACKs, RFC 6582's fast recovery with partial ACKs), with the initial window
//! of RFC 6928 (ten segments, as Linux), or CUBIC (RFC 9438, [`crate::cubic`]) for the
//! reduction and the growth in congestion avoidance, per socket.

use netstack_wire::SeqNumber;

use crate::Instant;
use crate::cubic::Cubic;

/// RFC 5681 §3.2: "The fast retransmit algorithm uses the arrival of 3 duplicate ACKs".
const DUPACK_THRESHOLD: u32 = 3;

/// What an acceptable ACK means for recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Nothing special: the window grew (or recovery just ended).
    Normal,
    /// RFC 6582 §3.2 step 5: a partial ACK in recovery; the next hole is retransmitted now.
    PartialAck,
}

/// NewReno's state.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    dupacks: u32,
    /// RFC 6582's `recover`: in fast recovery until an ACK covers it.
    recover: Option<SeqNumber>,
    /// The highest sequence number sent when recovery last began (RFC 6582 §3.2 step 1's check).
    last_recover: SeqNumber,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew.
    ca_acked: u32,
    /// The recovery in progress is SACK-driven (RFC 6675): cwnd stays at ssthresh and the
    /// sender counts what is in the network instead of inflating the window.
    sack: bool,
    /// Undo (RFC 3708: D-SACK shows a retransmission was not needed): cwnd and ssthresh before
    /// the last SACK recovery cut them, and that recovery's retransmissions not yet reported
    /// as duplicates. When every one of them is, the cut is undone.
    prior: Option<(u32, u32, Option<Cubic>)>,
    undo_retrans: u32,
    /// CUBIC's state when the socket chose it (TCP_CONGESTION); NewReno otherwise.
    cubic: Option<Cubic>,
}

impl NewReno {
    /// A connection's controller for segments of `mss` bytes.
    pub fn new(mss: u16, iss: SeqNumber) -> NewReno {
        let mss = u32::from(mss.max(1));
        NewReno {
            mss,
            cwnd: initial_window(mss),
            ssthresh: u32::MAX,
            dupacks: 0,
            recover: None,
            last_recover: iss,
            ca_acked: 0,
            sack: false,
            prior: None,
            undo_retrans: 0,
            cubic: None,
        }
    }

    /// The segment size changed (the handshake settled the MSS).
    pub fn set_mss(&mut self, mss: u16) {
        self.mss = u32::from(mss.max(1));
        self.cwnd = self.cwnd.max(initial_window(self.mss));
    }

    /// Chooses CUBIC (true) or NewReno (false).
    pub fn set_cubic(&mut self, on: bool) {
        if on != self.cubic.is_some() {
            self.cubic = on.then(Cubic::default);
        }
    }

    /// The algorithm's name, as `ss` shows it.
    pub fn name(&self) -> &'static str {
        if self.cubic.is_some() {
            "cubic"
        } else {
            "newreno"
        }
    }

    /// The ssthresh after a congestion event with `flight` bytes out: NewReno halves the
    /// flight (RFC 5681 eqn. 4), CUBIC takes β = 0.7 of the window (RFC 9438 §4.6).
    fn reduced(&mut self, flight: u32) -> u32 {
        match &mut self.cubic {
            Some(c) => c.on_congestion(self.cwnd, self.mss),
            None => (flight / 2).max(2 * self.mss),
        }
    }

    /// The congestion window in bytes.
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// The slow-start threshold in bytes.
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    /// RFC 3042's limited transmit: on the first and second duplicate ACK, outside recovery,
    /// one new segment each may go beyond cwnd, so that a small window still draws the
    /// duplicates fast retransmit needs.
    pub fn limited_transmit(&self) -> u32 {
        if self.recover.is_some() {
            0
        } else {
            self.dupacks.min(DUPACK_THRESHOLD - 1) * self.mss
        }
    }

    /// Whether fast recovery is on.
    pub fn in_recovery(&self) -> bool {
        self.recover.is_some()
    }

    /// An ACK that advanced SND.UNA to `ack` by `acked` bytes at `now`, with `flight` bytes
    /// outstanding before it and a smoothed RTT of `srtt` ns (CUBIC's clock).
    pub fn on_ack(
        &mut self,
        acked: u32,
        ack: SeqNumber,
        now: Instant,
        srtt: u64,
        flight: u32,
    ) -> AckOutcome {
        self.dupacks = 0;
        if let Some(recover) = self.recover {
            if ack >= recover {
                // RFC 6582 §3.2 step 3, full ACK: deflate to ssthresh and leave recovery.
                self.cwnd = self.ssthresh.max(self.mss);
                self.recover = None;
                self.sack = false;
                return AckOutcome::Normal;
            }
            if self.sack {
                // RFC 6675: a partial ACK changes nothing here; NextSeg picks what to resend.
                return AckOutcome::Normal;
            }
            // Step 5, partial ACK: deflate by what was acknowledged, add back one segment.
            self.cwnd = self
                .cwnd
                .saturating_sub(acked)
                .saturating_add(self.mss)
                .max(self.mss);
            return AckOutcome::PartialAck;
        }
        // RFC 7661 §4 and RFC 9438 (application-limited flows): the window grows only while
        // the sender uses it. A sender held back by its application or its send buffer would
        // otherwise grow cwnd without bound on every ACK, and one day send all of it at once.
        // Used means at least half of it in flight before this ACK, Linux's test in slow
        // start (`tcp_is_cwnd_limited`: cwnd < 2 * packets out), here in avoidance too.
        if u64::from(flight) * 2 <= u64::from(self.cwnd) {
            return AckOutcome::Normal;
        }
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 slow start with RFC 3465's byte counting, every byte acknowledged
            // counting (no per-ACK limit L, as Linux's tcp_slow_start): a receiver that takes a
            // batch of segments at once acknowledges them with one stretch ACK (ours does, as
            // does Linux's after GRO), and one MSS per ACK would hold slow start back to
            // one MSS per batch. Up to ssthresh, not past it.
            self.cwnd = self
                .cwnd
                .saturating_add(acked.min(self.ssthresh.saturating_sub(self.cwnd)));
        } else if let Some(c) = &mut self.cubic {
            self.cwnd = c.on_ack(now, self.cwnd, acked, self.mss, srtt);
        } else {
            // Congestion avoidance: about one MSS per window acknowledged.
            self.ca_acked += acked;
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
        AckOutcome::Normal
    }

    /// A duplicate ACK with `flight` bytes outstanding and `snd_max` sent. True when the segment
    /// at SND.UNA must be retransmitted now (the third duplicate, outside a recovery in progress).
    pub fn on_dupack(&mut self, flight: u32, snd_una: SeqNumber, snd_max: SeqNumber) -> bool {
        if self.recover.is_some() {
            // RFC 5681 §3.2 step 4: inflate for the segment that left the network.
            self.cwnd = self.cwnd.saturating_add(self.mss);
            return false;
        }
        self.dupacks += 1;
        // RFC 6582 §3.2 step 2: only if the ACK covers more than the last recovery point, so a
        // burst of duplicates from one loss does not start a second recovery.
        if self.dupacks == DUPACK_THRESHOLD && snd_una > self.last_recover {
            self.ssthresh = self.reduced(flight);
            self.cwnd = self.ssthresh + DUPACK_THRESHOLD * self.mss;
            self.recover = Some(snd_max);
            self.last_recover = snd_max;
            return true;
        }
        false
    }

    /// A duplicate ACK of a SACK connection (RFC 6675 §5): recovery starts on the third, or
    /// earlier when the scoreboard already says SND.UNA's segment is `lost`. True when it starts:
    /// then ssthresh = cwnd = FlightSize / 2 and the segment at SND.UNA goes again at once.
    pub fn on_sack_dupack(
        &mut self,
        lost: bool,
        dup_thresh: u32,
        flight: u32,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
    ) -> bool {
        if self.recover.is_some() {
            return false;
        }
        self.dupacks += 1;
        if (self.dupacks >= dup_thresh || lost) && snd_una > self.last_recover {
            self.prior = Some((self.cwnd, self.ssthresh, self.cubic));
            self.undo_retrans = 0;
            self.ssthresh = self.reduced(flight);
            self.cwnd = self.ssthresh;
            self.recover = Some(snd_max);
            self.last_recover = snd_max;
            self.sack = true;
            return true;
        }
        false
    }

    /// A segment was retransmitted in the current SACK recovery.
    pub fn on_retransmit(&mut self) {
        if self.prior.is_some() {
            self.undo_retrans += 1;
        }
    }

    /// A D-SACK reported a segment received twice. True when it was the last retransmission of
    /// the recovery outstanding, and the window cut is undone (recovery ends with it).
    ///
    /// An undone recovery never happened: the next loss (below its recovery point, at `ack` or
    /// above) may start a recovery at once. Keeping RFC 6582's guard there left every loss
    /// until SND.UNA passed the old point to the retransmission timer (200 ms and more), which
    /// a Linux receiver's D-SACKs under reordering made the common case.
    pub fn on_dsack(&mut self, ack: SeqNumber) -> bool {
        if self.prior.is_none() || self.undo_retrans == 0 {
            return false;
        }
        self.undo_retrans -= 1;
        if self.undo_retrans > 0 {
            return false;
        }
        let (cwnd, ssthresh, cubic) = self.prior.take().expect("checked");
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = self.ssthresh.max(ssthresh);
        self.cubic = cubic;
        self.recover = None;
        self.last_recover = ack - 1;
        self.sack = false;
        self.dupacks = 0;
        true
    }

    /// Whether a SACK-driven recovery is in progress.
    pub fn in_sack_recovery(&self) -> bool {
        self.recover.is_some() && self.sack
    }

    /// The retransmission timer fired (RFC 5681 §3.1 eqn. 4): halve into ssthresh, restart from
    /// one segment.
    pub fn on_rto(&mut self, flight: u32, snd_max: SeqNumber) {
        self.ssthresh = self.reduced(flight);
        self.cwnd = self.mss;
        self.recover = None;
        self.sack = false;
        self.prior = None;
        self.last_recover = snd_max;
        self.dupacks = 0;
        self.ca_acked = 0;
    }
}

/// RFC 6928: min(10*MSS, max(2*MSS, 14600)).
fn initial_window(mss: u32) -> u32 {
    (10 * mss).min((2 * mss).max(14_600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_avoidance() {
        let mut c = NewReno::new(1000, SeqNumber(0));
        assert_eq!(c.cwnd(), 10_000, "RFC 6928's initial window");
        for _ in 0..10 {
            c.on_ack(1000, SeqNumber(1), 0, 0, u32::MAX);
        }
        assert_eq!(c.cwnd(), 20_000, "one MSS per ACK in slow start");
        c.on_ack(5000, SeqNumber(1), 0, 0, u32::MAX);
        assert_eq!(c.cwnd(), 25_000, "a stretch ACK counts every byte");
        c.on_rto(25_000, SeqNumber(25_000));
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 12_500));
        while c.cwnd() < c.ssthresh() {
            c.on_ack(1000, SeqNumber(1), 0, 0, u32::MAX);
        }
        let before = c.cwnd();
        assert_eq!(before, 12_500, "slow start stops at ssthresh");
        for _ in 0..13 {
            c.on_ack(1000, SeqNumber(1), 0, 0, u32::MAX);
        }
        assert_eq!(c.cwnd(), before + 1000, "one MSS per window in avoidance");
    }

    /// RFC 7661: an ACK grows the window only if at least half of it was in flight; a sender
    /// that its application holds back keeps the window it has.
    #[test]
    fn the_window_grows_only_while_the_sender_uses_it() {
        let mut c = NewReno::new(1000, SeqNumber(0));
        c.on_ack(1000, SeqNumber(1001), 0, 0, 4000);
        assert_eq!(c.cwnd(), 10_000, "4000 of 10 000 in flight: no growth");
        c.on_ack(1000, SeqNumber(2001), 0, 0, 5000);
        assert_eq!(c.cwnd(), 10_000, "half is not more than half");
        c.on_ack(1000, SeqNumber(3001), 0, 0, 5001);
        assert_eq!(
            c.cwnd(),
            11_000,
            "more than half in flight: slow start goes on"
        );
        c.on_rto(11_000, SeqNumber(3001));
        while c.cwnd() < c.ssthresh() {
            c.on_ack(1000, SeqNumber(1), 0, 0, u32::MAX);
        }
        let before = c.cwnd();
        for _ in 0..20 {
            c.on_ack(1000, SeqNumber(1), 0, 0, before / 2);
        }
        assert_eq!(c.cwnd(), before, "nor in congestion avoidance");
        for _ in 0..20 {
            c.on_ack(1000, SeqNumber(1), 0, 0, before);
        }
        assert!(c.cwnd() > before, "a window in use grows");
    }

    #[test]
    fn a_recovery_whose_retransmissions_all_prove_needless_is_undone() {
        let mut c = NewReno::new(1000, SeqNumber(0));
        let before = (c.cwnd(), c.ssthresh());
        assert!(c.on_sack_dupack(true, 3, 10_000, SeqNumber(1000), SeqNumber(11_000)));
        assert_eq!(c.cwnd(), 5000, "halved");
        c.on_retransmit();
        c.on_retransmit();
        assert!(
            !c.on_dsack(SeqNumber(1000)),
            "one of two reported duplicate"
        );
        assert!(c.on_dsack(SeqNumber(1000)), "both: the loss was reordering");
        assert_eq!((c.cwnd(), c.ssthresh()), before);
        assert!(!c.in_recovery());
        assert!(!c.on_dsack(SeqNumber(1000)), "nothing left to undo");
        // A real loss right after, still below the undone recovery's point (11 000): a
        // recovery starts at once instead of waiting for the retransmission timer.
        assert!(
            c.on_sack_dupack(true, 3, 10_000, SeqNumber(2000), SeqNumber(12_000)),
            "a new recovery"
        );
    }

    #[test]
    fn three_dupacks_start_recovery_and_a_full_ack_ends_it() {
        let mut c = NewReno::new(1000, SeqNumber(0));
        assert!(!c.on_dupack(10_000, SeqNumber(1000), SeqNumber(11_000)));
        assert!(!c.on_dupack(10_000, SeqNumber(1000), SeqNumber(11_000)));
        assert!(
            c.on_dupack(10_000, SeqNumber(1000), SeqNumber(11_000)),
            "the third retransmits"
        );
        assert_eq!(
            (c.ssthresh(), c.cwnd(), c.in_recovery()),
            (5000, 8000, true)
        );
        assert!(!c.on_dupack(10_000, SeqNumber(1000), SeqNumber(11_000)));
        assert_eq!(c.cwnd(), 9000, "inflated per further duplicate");
        assert_eq!(
            c.on_ack(2000, SeqNumber(3000), 0, 0, u32::MAX),
            AckOutcome::PartialAck
        );
        assert_eq!(
            c.on_ack(8000, SeqNumber(11_000), 0, 0, u32::MAX),
            AckOutcome::Normal
        );
        assert_eq!((c.cwnd(), c.in_recovery()), (5000, false));
    }
}
