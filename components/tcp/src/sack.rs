//! Selective acknowledgments: the blocks a receiver reports (RFC 2018) and the sender's
//! scoreboard with RFC 6675's loss-recovery rules (IsLost, SetPipe, NextSeg).
//!
//! Sequence numbers are compared as offsets from SND.UNA (or RCV.NXT), so the sequence-space
//! wrap never reorders anything.

use std::cmp::Ordering;

use netstack_wire::SeqNumber;

/// RFC 6675 §2: DupThresh, "the number of duplicate acknowledgments required to trigger a fast
/// retransmission" (and of SACKed segments above a hole that make it lost). Its starting value:
/// a connection that finds reordering raises its own (as Linux's `tp->reordering`).
pub const DUP_THRESH: usize = 3;

/// The most DupThresh grows to.
const MAX_DUP_THRESH: usize = 32;

/// Ranges kept on the scoreboard; a receiver reports at most four per ACK, so a bound this
/// size only merges the oldest information under heavy loss.
const MAX_RANGES: usize = 64;

/// The sender's scoreboard: what the receiver holds above SND.UNA, and the retransmissions of
/// the current recovery still in the network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scoreboard {
    /// SACKed ranges `[start, end)`, sorted, disjoint, not adjacent; at most [`MAX_RANGES`].
    #[serde(deserialize_with = "at_most_max_ranges")]
    ranges: Vec<(SeqNumber, SeqNumber)>,
    /// Retransmissions not yet acknowledged nor found lost, in order of their start, so that
    /// NextSeg and SetPipe walk them once beside the holes (a recovery resends hundreds of
    /// segments, asking NextSeg and SetPipe before each).
    #[serde(deserialize_with = "in_start_order")]
    rexmits: Vec<Rexmit>,
    /// Everything not SACKed below this is lost: set when RACK's reordering window ran out
    /// with holes below data delivered after them (RFC 8985 §6.2).
    lost_below: Option<SeqNumber>,
    /// This connection's DupThresh.
    dup_thresh: usize,
}

impl Default for Scoreboard {
    fn default() -> Self {
        Scoreboard {
            ranges: Vec::new(),
            rexmits: Vec::new(),
            lost_below: None,
            dup_thresh: DUP_THRESH,
        }
    }
}

/// The ranges of an exported scoreboard, the highest forgotten past [`MAX_RANGES`] (as
/// [`Scoreboard::insert`] forgets them).
fn at_most_max_ranges<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(SeqNumber, SeqNumber)>, D::Error> {
    let mut ranges: Vec<(SeqNumber, SeqNumber)> = serde::Deserialize::deserialize(d)?;
    ranges.truncate(MAX_RANGES);
    Ok(ranges)
}

/// The retransmissions of an exported scoreboard, in order of their start (a version that kept
/// them in the order they were sent may have exported them so).
fn in_start_order<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Rexmit>, D::Error> {
    let mut rexmits: Vec<Rexmit> = serde::Deserialize::deserialize(d)?;
    rexmits.sort_by(|a, b| a.start.partial_cmp(&b.start).unwrap_or(Ordering::Equal));
    Ok(rexmits)
}

/// One retransmission: `[start, end)`, sent when SND.MAX was `sent_with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Rexmit {
    start: SeqNumber,
    end: SeqNumber,
    sent_with: SeqNumber,
}

impl Scoreboard {
    /// Takes an ACK's SACK blocks; `una`/`max` are SND.UNA (after the ACK) and SND.MAX.
    /// Blocks outside `(una, max]` are ignored (a D-SACK below SND.UNA among them). Returns
    /// whether anything new was SACKed (RFC 6675 §2's condition (e) of a duplicate ACK).
    pub fn update(
        &mut self,
        una: SeqNumber,
        max: SeqNumber,
        blocks: &[Option<(SeqNumber, SeqNumber)>],
    ) -> bool {
        self.advance(una);
        let mut new = false;
        for &(start, end) in blocks.iter().flatten() {
            if !(una < end && start < end && end <= max) {
                continue;
            }
            let start = start.max(una);
            if self.covers(start, end) {
                continue;
            }
            new = true;
            self.insert(una, start, end);
        }
        if new {
            // Resends now wholly SACKed leave. Both lists go up: one walk over each (a range
            // that ends before a resend starts covers none of those after it either).
            let mut ranges = self.ranges.iter().peekable();
            self.rexmits.retain(|r| {
                while ranges.next_if(|&&(_, e)| e <= r.start).is_some() {}
                !ranges
                    .peek()
                    .is_some_and(|&&(s, e)| s <= r.start && r.end <= e)
            });
        }
        new
    }

    fn covers(&self, start: SeqNumber, end: SeqNumber) -> bool {
        self.ranges.iter().any(|&(s, e)| s <= start && end <= e)
    }

    fn insert(&mut self, una: SeqNumber, start: SeqNumber, end: SeqNumber) {
        let (mut start, mut end) = (start, end);
        // Fold every range that overlaps or touches the new one into it.
        self.ranges.retain(|&(s, e)| {
            let apart = e < start || end < s;
            if !apart {
                start = start.min(s);
                end = end.max(e);
            }
            apart
        });
        let at = self
            .ranges
            .partition_point(|&(s, _)| (s - una) < (start - una));
        self.ranges.insert(at, (start, end));
        if self.ranges.len() > MAX_RANGES {
            // Forget the highest range: the holes below it are what recovery needs.
            self.ranges.pop();
        }
    }

    /// The cumulative ACK moved to `una`: what it covers leaves the scoreboard.
    pub fn advance(&mut self, una: SeqNumber) {
        self.ranges.retain_mut(|(s, e)| {
            if *e <= una {
                return false;
            }
            *s = (*s).max(una);
            true
        });
        self.rexmits.retain_mut(|r| {
            r.start = r.start.max(una);
            una < r.end
        });
        if self.lost_below.is_some_and(|l| l <= una) {
            self.lost_below = None;
        }
    }

    /// Whether anything is SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Forgets everything: the receiver may have reneged (RFC 2018 §8).
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.rexmits.clear();
        self.lost_below = None;
    }

    /// The current DupThresh.
    pub fn dup_thresh(&self) -> usize {
        self.dup_thresh
    }

    /// A retransmission proved spurious (D-SACK): the path reorders more than DupThresh
    /// assumed, so it doubles (up to 32), and the verdicts built on it are withdrawn.
    pub fn reordering_seen(&mut self) {
        self.dup_thresh = (self.dup_thresh * 2).min(MAX_DUP_THRESH);
        self.lost_below = None;
        self.rexmits.clear();
    }

    /// The end of the highest SACKed range.
    pub fn highest_sacked(&self) -> Option<SeqNumber> {
        self.ranges.last().map(|&(_, e)| e)
    }

    /// RACK's verdict (RFC 8985 §6.2): the holes below `seq` waited out the reordering window
    /// after data sent later was delivered, so they are lost.
    pub fn mark_lost_below(&mut self, seq: SeqNumber) {
        if self.lost_below.is_none_or(|l| l < seq) {
            self.lost_below = Some(seq);
        }
    }

    /// A recovery starts, or the RTO fired: no retransmission is in the network any more.
    pub fn forget_retransmissions(&mut self) {
        self.rexmits.clear();
    }

    /// RFC 6675 IsLost(seq): true when DupThresh discontiguous SACKed ranges, or more than
    /// (DupThresh - 1) · SMSS SACKed bytes, lie above `seq`.
    pub fn is_lost(&self, seq: SeqNumber, smss: usize) -> bool {
        self.lost_rule(smss)(seq)
    }

    /// IsLost for many points: the SACKed bytes above each range's start are summed once,
    /// and each point finds its place among the ranges by bisection.
    fn lost_rule(&self, smss: usize) -> impl Fn(SeqNumber) -> bool + '_ {
        let mut above = [0; MAX_RANGES + 1];
        for (i, &(s, e)) in self.ranges.iter().enumerate().rev() {
            above[i] = above[i + 1] + (e - s);
        }
        move |seq| {
            if self.lost_below.is_some_and(|l| seq < l) {
                return true;
            }
            // The ranges are sorted and disjoint: those ending above `seq` are a suffix.
            let i = self.ranges.partition_point(|&(_, e)| e <= seq);
            let count = self.ranges.len() - i;
            let mut bytes = above[i];
            if let Some(&(s, _)) = self.ranges.get(i)
                && s < seq
            {
                bytes -= seq - s;
            }
            count >= self.dup_thresh || bytes > (self.dup_thresh - 1) * smss
        }
    }

    /// Finds retransmissions that were lost too: data sent after one went out was SACKed as
    /// far beyond it as IsLost asks of an original (RFC 8985's RACK reasoning, with sequence
    /// order standing for time: new data leaves in sequence order). Their holes become
    /// eligible for NextSeg again. Returns how many there were.
    pub fn detect_lost_retransmissions(&mut self, smss: usize) -> usize {
        // IsLost reads the ranges only: the list is taken out to be filtered in place.
        let mut rexmits = std::mem::take(&mut self.rexmits);
        let before = rexmits.len();
        {
            let is_lost = self.lost_rule(smss);
            rexmits.retain(|r| !is_lost(r.sent_with));
        }
        let lost = before - rexmits.len();
        self.rexmits = rexmits;
        lost
    }

    /// The holes between SND.UNA and SND.MAX: `[start, end)` not SACKed, lowest first.
    fn holes(
        &self,
        una: SeqNumber,
        max: SeqNumber,
    ) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + Clone {
        let mut from = una;
        let mut ranges = self.ranges.iter();
        std::iter::from_fn(move || {
            loop {
                if from >= max {
                    return None;
                }
                match ranges.next() {
                    Some(&(s, e)) => {
                        let hole = (from, s);
                        from = e;
                        if hole.0 < hole.1 {
                            return Some(hole);
                        }
                    }
                    None => {
                        let hole = (from, max);
                        from = max;
                        return Some(hole);
                    }
                }
            }
        })
    }

    /// RFC 6675 SetPipe: the bytes still in the network. Every un-SACKed byte counts once
    /// unless it is lost, and once more if its retransmission is out. Nothing is SACKed inside
    /// a hole, so IsLost is the same for all of its bytes.
    pub fn pipe(&self, una: SeqNumber, max: SeqNumber, smss: usize) -> usize {
        if self.ranges.is_empty() && self.rexmits.is_empty() {
            // Nothing SACKed and nothing resent (every segment, outside recovery): one hole,
            // lost or not as a whole. (Asked at every segment a sender considers sending.)
            let lost = self.lost_below.is_some_and(|l| una < l);
            return if lost || una >= max { 0 } else { max - una };
        }
        let is_lost = self.lost_rule(smss);
        let original: usize = (self.holes(una, max))
            .filter(|&(s, _)| !is_lost(s))
            .map(|(s, e)| e - s)
            .sum();
        // Each retransmission out counts where it lies in a hole. The holes and the
        // retransmissions both go up: one walk over each.
        let mut holes = self.holes(una, max).peekable();
        let mut resent = 0;
        for r in &self.rexmits {
            while holes.next_if(|&(_, e)| e <= r.start).is_some() {}
            resent += (holes.clone())
                .take_while(|&(s, _)| s < r.end)
                .map(|(s, e)| {
                    let (s, e) = (s.max(r.start), e.min(r.end));
                    if s < e { e - s } else { 0 }
                })
                .sum::<usize>();
        }
        original + resent
    }

    /// RFC 6675 NextSeg rule (1): the first lost byte whose retransmission is not out, and how
    /// much to send from there (up to `smss`, not into a retransmission already out).
    pub fn next_lost(
        &self,
        una: SeqNumber,
        max: SeqNumber,
        smss: usize,
    ) -> Option<(SeqNumber, usize)> {
        // The holes and the retransmissions both go up: one walk over each.
        // `reach`: the end of the run of retransmissions stepped over so far (one may run on
        // past a SACKed range into the next hole).
        let mut out = self.rexmits.iter().peekable();
        let mut reach = una;
        let is_lost = self.lost_rule(smss);
        for (s, e) in self.holes(una, max) {
            if !is_lost(s) {
                continue;
            }
            // Step over the retransmissions out from `s` on (end to end, or overlapping).
            let mut from = s.max(reach);
            while let Some(r) = out.next_if(|r| r.start <= from) {
                from = from.max(r.end);
            }
            reach = from;
            if from >= e {
                continue;
            }
            let next_out = out.peek().map_or(e, |r| r.start.min(e));
            return Some((from, (next_out - from).min(smss)));
        }
        None
    }

    /// Records a retransmission of `[start, end)` sent when SND.MAX was `snd_max`.
    pub fn retransmitted(&mut self, start: SeqNumber, end: SeqNumber, snd_max: SeqNumber) {
        // A hole found lost again is resent below those resent after it: kept in order.
        let at = self.rexmits.partition_point(|r| r.start <= start);
        self.rexmits.insert(
            at,
            Rexmit {
                start,
                end,
                sent_with: snd_max,
            },
        );
    }

    /// If `seq` is SACKed, where its range ends (a go-back-N resend after an RTO skips it).
    pub fn sacked_end(&self, seq: SeqNumber) -> Option<SeqNumber> {
        (self.ranges.iter())
            .find(|&&(s, e)| s <= seq && seq < e)
            .map(|&(_, e)| e)
    }

    /// The first SACKed byte above `seq`, if any (a resend stops short of it).
    pub fn next_sacked(&self, seq: SeqNumber) -> Option<SeqNumber> {
        (self.ranges.iter()).map(|&(s, _)| s).find(|&s| seq < s)
    }

    /// SACKed bytes below `seq`.
    pub fn sacked_below(&self, seq: SeqNumber) -> usize {
        (self.ranges.iter())
            .filter(|&&(s, _)| s < seq)
            .map(|&(s, e)| e.min(seq) - s)
            .sum()
    }
}

/// What a receiver holds above RCV.NXT, as merged sequence ranges `[start, end)` (sorted,
/// disjoint, not touching): its SACK blocks are read from here. Kept as segments arrive, so an
/// ACK costs the ranges (a few), not the segments held (thousands, in a large window).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRanges(Vec<(SeqNumber, SeqNumber)>);

impl HeldRanges {
    /// Adds `[start, end)`, merged with what it overlaps or touches.
    pub fn insert(&mut self, start: SeqNumber, end: SeqNumber) {
        if start >= end {
            return;
        }
        // The ranges are sorted and disjoint, so their ends go up too.
        let first = self.0.partition_point(|&(_, e)| e < start);
        let (mut s, mut e, mut last) = (start, end, first);
        while let Some(&(rs, re)) = self.0.get(last).filter(|&&(rs, _)| rs <= end) {
            (s, e) = (s.min(rs), e.max(re));
            last += 1;
        }
        self.0.splice(first..last, [(s, e)]);
    }

    /// Forgets what lies below `rcv_nxt` (it was taken in order).
    pub fn advance(&mut self, rcv_nxt: SeqNumber) {
        let gone = self.0.partition_point(|&(_, e)| e <= rcv_nxt);
        self.0.drain(..gone);
        if let Some(first) = self.0.first_mut() {
            first.0 = first.0.max(rcv_nxt);
        }
    }

    /// The ranges, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        self.0.iter().copied()
    }
}

/// The receiver's SACK blocks (RFC 2018 §4) from what it holds above RCV.NXT (`held`, merged,
/// lowest first): the block holding the most recently received segment first, then the others
/// from the lowest up; at most `max` of them.
pub fn receiver_blocks(
    rcv_nxt: SeqNumber,
    held: &HeldRanges,
    latest: Option<SeqNumber>,
    max: usize,
) -> [Option<(SeqNumber, SeqNumber)>; netstack_wire::tcp::MAX_SACK_BLOCKS] {
    let above = || (held.iter()).filter(move |&(_, e)| rcv_nxt < e);
    let first = latest.and_then(|l| above().find(|&(s, e)| s <= l && l < e));
    let rest = above().filter(|&b| Some(b) != first);
    let mut blocks = [None; netstack_wire::tcp::MAX_SACK_BLOCKS];
    let chosen = first.into_iter().chain(rest).take(max);
    for (slot, (s, e)) in blocks.iter_mut().zip(chosen) {
        *slot = Some((s.max(rcv_nxt), e));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn seq(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    /// A seeded generator (xorshift64) of numbers below its argument.
    fn below(seed: u64) -> impl FnMut(u32) -> u32 {
        let mut state = seed;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % u64::from(n)) as u32
        }
    }

    #[test]
    fn scoreboard_merges_and_finds_lost_holes() {
        let mut sb = Scoreboard::default();
        let (una, max) = (seq(0), seq(10_000));
        // Segments 1, 3, 4, 5 (of 1000 bytes each) arrived; 0 and 2 did not.
        assert!(sb.update(una, max, &[Some((seq(1000), seq(2000)))]));
        assert!(sb.update(
            una,
            max,
            &[Some((seq(3000), seq(5000))), Some((seq(1000), seq(2000)))]
        ));
        assert!(
            !sb.update(una, max, &[Some((seq(3000), seq(4000)))]),
            "nothing new"
        );
        assert!(sb.update(una, max, &[Some((seq(5000), seq(6000)))]));
        assert_eq!(sb.ranges, [(seq(1000), seq(2000)), (seq(3000), seq(6000))]);
        // Out of range blocks are ignored.
        assert!(!sb.update(una, max, &[Some((seq(9000), seq(11_000)))]));

        // 0: 4000 bytes SACKed above (> 2 MSS): lost. 2: 3000 above: lost. 6..10: nothing above.
        assert!(sb.is_lost(seq(0), MSS) && sb.is_lost(seq(2000), MSS));
        assert!(!sb.is_lost(seq(6000), MSS));
        assert_eq!(sb.next_lost(una, max, MSS), Some((seq(0), 1000)));
        // In the network: nothing of the lost holes, all of 6000..10000.
        assert_eq!(sb.pipe(una, max, MSS), 4000);
        sb.retransmitted(seq(0), seq(1000), max);
        assert_eq!(
            sb.pipe(una, max, MSS),
            5000,
            "the retransmission is in flight"
        );
        assert_eq!(
            sb.next_lost(una, max, MSS),
            Some((seq(2000), 1000)),
            "the next hole"
        );
        sb.retransmitted(seq(2000), seq(3000), max);
        assert_eq!(sb.next_lost(una, max, MSS), None, "6000.. is not lost");
        assert_eq!(sb.detect_lost_retransmissions(MSS), 0);

        // The cumulative ACK covers the first hole and range.
        sb.advance(seq(2000));
        assert_eq!(sb.ranges, [(seq(3000), seq(6000))]);
    }

    #[test]
    fn scoreboard_works_across_the_sequence_wrap() {
        let una = seq(u32::MAX - 1500);
        let max = una + 10_000;
        let mut sb = Scoreboard::default();
        sb.update(una, max, &[Some((una + 3000, una + 6000))]);
        sb.update(una, max, &[Some((una + 1000, una + 2000))]);
        assert_eq!(
            sb.ranges,
            [(una + 1000, una + 2000), (una + 3000, una + 6000)]
        );
        assert_eq!(sb.next_lost(una, max, MSS), Some((una, 1000)));
    }

    #[test]
    fn a_lost_retransmission_is_found_when_later_data_is_sacked_past_it() {
        let mut sb = Scoreboard::default();
        let una = seq(0);
        sb.update(una, seq(4000), &[Some((seq(1000), seq(4000)))]);
        // Segment 0 is resent when SND.MAX is 4000; new data 4000..8000 follows it.
        sb.retransmitted(seq(0), seq(1000), seq(4000));
        assert_eq!(sb.next_lost(una, seq(8000), MSS), None, "its resend is out");
        // One segment beyond it SACKed: could be reordering still.
        sb.update(una, seq(8000), &[Some((seq(4000), seq(5000)))]);
        assert_eq!(sb.detect_lost_retransmissions(MSS), 0);
        // Three: the resend is lost as surely as an original would be.
        sb.update(una, seq(8000), &[Some((seq(4000), seq(7000)))]);
        assert_eq!(sb.detect_lost_retransmissions(MSS), 1);
        assert_eq!(sb.next_lost(una, seq(8000), MSS), Some((seq(0), 1000)));
    }

    #[test]
    fn holes_marked_lost_by_the_reordering_window_are_resent_first() {
        let mut sb = Scoreboard::default();
        let una = seq(0);
        sb.update(una, seq(3000), &[Some((seq(2000), seq(3000)))]);
        assert!(
            !sb.is_lost(una, MSS),
            "one segment above: DupThresh says wait"
        );
        assert_eq!(sb.next_lost(una, seq(3000), MSS), None);
        sb.mark_lost_below(sb.highest_sacked().unwrap());
        assert_eq!(sb.next_lost(una, seq(3000), MSS), Some((una, 1000)));
        assert_eq!(
            sb.pipe(una, seq(3000), MSS),
            0,
            "lost bytes left the network"
        );
        sb.advance(seq(3000));
        assert!(!sb.is_lost(seq(3000), MSS), "the verdict goes with the ACK");

        // Reordering seen: DupThresh doubles, three segments above a hole no longer make it lost.
        sb.update(seq(3000), seq(9000), &[Some((seq(4000), seq(7000)))]);
        assert!(sb.is_lost(seq(3000), MSS));
        sb.reordering_seen();
        assert_eq!(sb.dup_thresh(), 6);
        assert!(!sb.is_lost(seq(3000), MSS));
    }

    /// IsLost as RFC 6675 words it, straight: the ranges above `seq`, counted and summed.
    fn is_lost_by_definition(sb: &Scoreboard, seq: SeqNumber) -> bool {
        if sb.lost_below.is_some_and(|l| seq < l) {
            return true;
        }
        let above = sb.ranges.iter().filter(|&&(_, e)| seq < e);
        let (count, bytes) = above.fold((0, 0), |(n, b), &(s, e)| (n + 1, b + (e - s.max(seq))));
        count >= sb.dup_thresh || bytes > (sb.dup_thresh - 1) * MSS
    }

    /// NextSeg as RFC 6675 words it, straight: the first lost hole, stepped past every
    /// retransmission that covers the point, up to the next one out.
    fn next_lost_by_definition(
        sb: &Scoreboard,
        una: SeqNumber,
        max: SeqNumber,
    ) -> Option<(SeqNumber, usize)> {
        sb.holes(una, max)
            .filter(|&(s, _)| is_lost_by_definition(sb, s))
            .find_map(|(s, e)| {
                let mut from = s;
                while let Some(r) = sb.rexmits.iter().find(|r| r.start <= from && from < r.end) {
                    from = r.end;
                }
                let next_out = (sb.rexmits.iter())
                    .filter(|r| from < r.start && r.start < e)
                    .map(|r| r.start)
                    .fold(e, SeqNumber::min);
                (from < e).then(|| (from, (next_out - from).min(MSS)))
            })
    }

    /// SetPipe as RFC 6675 words it, straight: each hole's bytes unless lost, plus every
    /// retransmission's bytes within it.
    fn pipe_by_definition(sb: &Scoreboard, una: SeqNumber, max: SeqNumber) -> usize {
        sb.holes(una, max)
            .map(|(s, e)| {
                let original = if is_lost_by_definition(sb, s) {
                    0
                } else {
                    e - s
                };
                let resent: usize = (sb.rexmits.iter())
                    .map(|r| {
                        let (a, b) = (r.start.max(s), r.end.min(e));
                        if a < b { b - a } else { 0 }
                    })
                    .sum();
                original + resent
            })
            .sum()
    }

    #[test]
    fn pipe_without_sack_information_is_the_flight_unless_it_is_lost() {
        let (una, max) = (seq(1000), seq(1000 + 10 * MSS as u32));
        let mut sb = Scoreboard::default();
        assert_eq!(sb.pipe(una, max, MSS), 10 * MSS);
        assert_eq!(sb.pipe(una, max, MSS), pipe_by_definition(&sb, una, max));
        assert_eq!(sb.pipe(una, una, MSS), 0);
        // After an RTO everything below SND.MAX is lost.
        sb.lost_below = Some(max);
        assert_eq!(sb.pipe(una, max, MSS), 0);
        assert_eq!(sb.pipe(una, max, MSS), pipe_by_definition(&sb, una, max));
        sb.lost_below = Some(una);
        assert_eq!(sb.pipe(una, max, MSS), 10 * MSS);
        assert_eq!(sb.pipe(una, max, MSS), pipe_by_definition(&sb, una, max));
    }

    #[test]
    fn the_recovery_rules_walk_the_scoreboard_once_and_agree_with_their_definitions() {
        // Seeded random recoveries: SACKs arrive, holes are resent (some found lost and resent
        // again, below later resends), the cumulative ACK moves; after each step IsLost,
        // NextSeg and SetPipe must equal their definitions, and the resends that leave (SACKed,
        // or found lost) must be those the definitions name.
        let mut next = below(0x9e37_79b9_7f4a_7c15);
        for round in 0..80 {
            let mut sb = Scoreboard::default();
            let una0 = seq(next(u32::MAX));
            let (mut una, max) = (una0, una0 + 400 * MSS);
            for step in 0..300 {
                match next(10) {
                    0..=3 => {
                        let s = una + next(400) as usize * MSS;
                        let e = (s + (1 + next(6) as usize) * MSS).min(max);
                        // The resends wholly SACKed now leave, and only they.
                        let mut expected = sb.clone();
                        expected.advance(una);
                        if sb.update(una, max, &[Some((s, e))]) {
                            let covered = |r: &Rexmit| {
                                (sb.ranges.iter()).any(|&(s, e)| s <= r.start && r.end <= e)
                            };
                            expected.rexmits.retain(|r| !covered(r));
                        }
                        assert_eq!(sb.rexmits, expected.rexmits, "round {round} step {step}");
                    }
                    4..=7 => {
                        if let Some((s, len)) = sb.next_lost(una, max, MSS) {
                            sb.retransmitted(s, s + len, max);
                        } else if next(2) == 0 {
                            // A resend not where NextSeg says (RTO, TLP): anywhere.
                            let s = una + next(400) as usize * MSS / 2;
                            sb.retransmitted(s, s + MSS, max);
                        }
                    }
                    8 => {
                        let mut expected = sb.rexmits.clone();
                        expected.retain(|r| !is_lost_by_definition(&sb, r.sent_with));
                        sb.detect_lost_retransmissions(MSS);
                        assert_eq!(sb.rexmits, expected, "round {round} step {step}");
                    }
                    _ => {
                        una = (una + next(8) as usize * MSS).min(max);
                        sb.advance(una);
                    }
                }
                let point = una + next(450 * MSS as u32) as usize;
                assert_eq!(
                    sb.is_lost(point, MSS),
                    is_lost_by_definition(&sb, point),
                    "IsLost, round {round} step {step}"
                );
                assert_eq!(
                    sb.next_lost(una, max, MSS),
                    next_lost_by_definition(&sb, una, max),
                    "NextSeg, round {round} step {step}"
                );
                assert_eq!(
                    sb.pipe(una, max, MSS),
                    pipe_by_definition(&sb, una, max),
                    "SetPipe, round {round} step {step}"
                );
            }
        }
    }

    #[test]
    fn a_recovery_of_thousands_of_segments_resends_each_hole_once_and_sacks_take_them_off() {
        // 3000 segments lost in one burst, everything above SACKed: NextSeg hands out each
        // segment once, in order, and their SACKs take them off one by one (each rule walks
        // the resends once: this took minutes when every step searched them all again).
        let (una, n) = (seq(7), 3000);
        let max = una + (n + 10) * MSS;
        let mut sb = Scoreboard::default();
        sb.update(una, max, &[Some((una + n * MSS, max))]);
        for i in 0..n {
            let (s, len) = sb.next_lost(una, max, MSS).expect("a lost hole");
            assert_eq!((s, len), (una + i * MSS, MSS));
            sb.retransmitted(s, s + len, max);
            if i % 500 == 0 {
                assert_eq!(sb.pipe(una, max, MSS), (i + 1) * MSS);
            }
        }
        assert_eq!(sb.next_lost(una, max, MSS), None, "all resent");
        // The resends arrive from the top down, each SACKed by its own ACK, each ACK asking
        // for lost resends: every resend SACKed leaves, none is found lost.
        for i in (0..n).rev() {
            let s = una + i * MSS;
            assert!(sb.update(una, max, &[Some((s, s + MSS))]));
            assert_eq!(sb.detect_lost_retransmissions(MSS), 0);
            assert_eq!(sb.rexmits.len(), i);
        }
        assert_eq!(sb.ranges, [(una, max)]);
        let sb = {
            let mut again = Scoreboard::default();
            again.update(una, max, &[Some((una + n * MSS, max))]);
            for i in 0..n {
                again.retransmitted(una + i * MSS, una + (i + 1) * MSS, max);
            }
            again
        };
        // Exported and imported in the order they were sent, they are put back in order.
        let mut shuffled = sb.clone();
        shuffled.rexmits.reverse();
        let bytes = postcard::to_allocvec(&shuffled).unwrap();
        let back: Scoreboard = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, sb);
        // A state with more ranges than a scoreboard keeps comes in with the lowest of them.
        let crowded = Scoreboard {
            ranges: (0..MAX_RANGES + 6)
                .map(|i| (una + 2 * i * MSS, una + (2 * i + 1) * MSS))
                .collect(),
            ..Scoreboard::default()
        };
        let back: Scoreboard =
            postcard::from_bytes(&postcard::to_allocvec(&crowded).unwrap()).unwrap();
        assert_eq!(back.ranges, crowded.ranges[..MAX_RANGES]);
    }

    #[test]
    fn receiver_reports_the_latest_block_first() {
        let nxt = seq(100);
        let mut held = HeldRanges::default();
        for (s, len) in [
            (seq(1100), 100),
            (seq(5000), 10),
            (seq(1200), 100),
            (seq(3100), 50),
            (seq(40), 70),
        ] {
            held.insert(s, s + len);
        }
        let blocks = receiver_blocks(nxt, &held, Some(seq(3100)), 3);
        assert_eq!(
            blocks,
            [
                Some((seq(3100), seq(3150))),
                Some((seq(100), seq(110))),
                Some((seq(1100), seq(1300))),
                None
            ]
        );
        held.advance(seq(1150));
        assert_eq!(
            held.iter().collect::<Vec<_>>(),
            [
                (seq(1150), seq(1300)),
                (seq(3100), seq(3150)),
                (seq(5000), seq(5010))
            ]
        );
    }

    /// The held ranges are what merging every segment afresh gives (as each ACK did before,
    /// sorting all the segments held), for segments arriving in any order, across the wrap.
    #[test]
    fn held_ranges_merge_as_segments_arrive_like_merging_them_all_afresh() {
        let mut next = below(0x2545_f491_4f6c_dd1d);
        for _ in 0..300 {
            let base = seq(next(u32::MAX));
            let mut held = HeldRanges::default();
            let mut segments = Vec::new();
            for _ in 0..60 {
                let s = base + next(20_000) as usize;
                let len = next(1500) as usize;
                held.insert(s, s + len);
                segments.push((s, s + len));
                let mut all: Vec<_> = segments.iter().filter(|(s, e)| s < e).copied().collect();
                all.sort_by_key(|&(s, _)| s - base);
                let mut merged: Vec<(SeqNumber, SeqNumber)> = Vec::new();
                for (s, e) in all {
                    match merged.last_mut() {
                        Some(last) if s <= last.1 => last.1 = last.1.max(e),
                        _ => merged.push((s, e)),
                    }
                }
                assert_eq!(held.iter().collect::<Vec<_>>(), merged);
            }
        }
        // Contiguous segments above one hole stay one range, however many.
        let mut held = HeldRanges::default();
        for i in 1..5000 {
            held.insert(seq(i * 1448), seq((i + 1) * 1448));
        }
        assert_eq!(held.iter().count(), 1);
    }
}
