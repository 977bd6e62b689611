//! TCP sequence numbers with wrapping comparison (RFC 9293 §3.4: "all arithmetic dealing with
//! sequence numbers must be performed modulo 2**32").

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A 32-bit TCP sequence number. Ordering is by wrapping distance: `a < b` when `b` is less than
/// 2^31 ahead of `a`. This order is not transitive over the whole space, so it is `PartialOrd`
/// only, and only meaningful for numbers within a window of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The larger of two sequence numbers.
    pub fn max(self, other: Self) -> Self {
        if self > other { self } else { other }
    }

    /// The smaller of two sequence numbers.
    pub fn min(self, other: Self) -> Self {
        if self < other { self } else { other }
    }

    /// Whether `self` is in `[start, end)` (modulo 2^32), the test RFC 9293 §3.4 uses for
    /// acceptability.
    pub fn in_window(self, start: SeqNumber, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    /// # Panics
    /// If `rhs` does not fit in 31 bits: such an advance is not meaningful in sequence space.
    fn add(self, rhs: usize) -> SeqNumber {
        assert!(
            rhs <= i32::MAX as usize,
            "sequence number advance {rhs} exceeds 2^31-1"
        );
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SeqNumber {
    type Output = SeqNumber;
    /// # Panics
    /// If `rhs` does not fit in 31 bits.
    fn sub(self, rhs: usize) -> SeqNumber {
        assert!(
            rhs <= i32::MAX as usize,
            "sequence number step {rhs} exceeds 2^31-1"
        );
        SeqNumber(self.0.wrapping_sub(rhs as u32))
    }
}

impl Sub for SeqNumber {
    type Output = usize;
    /// The distance from `rhs` forward to `self`.
    ///
    /// # Panics
    /// If `self` is before `rhs`: a negative distance is a logic error in the caller.
    fn sub(self, rhs: SeqNumber) -> usize {
        let d = self.0.wrapping_sub(rhs.0) as i32;
        assert!(d >= 0, "sequence number {self} is before {rhs}");
        d as usize
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some((self.0.wrapping_sub(other.0) as i32).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_across_wrap() {
        let a = SeqNumber(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b.0, 9);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b - a, 20);
        assert_eq!(b - 20, a);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
        assert!(SeqNumber(5).in_window(a, 20));
        assert!(!SeqNumber(9).in_window(a, 20));
    }

    #[test]
    #[should_panic(expected = "is before")]
    fn negative_distance_panics() {
        let _ = SeqNumber(1) - SeqNumber(2);
    }
}
