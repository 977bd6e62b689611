//! The Internet checksum: RFC 1071 (computation) and RFC 1624 (incremental update).
//!
//! RFC 1071 §1: "the 16-bit 1's complement sum of all 16-bit words"; a trailing odd byte is padded
//! with zero on the right. We add 16-bit big-endian words into a wide accumulator and fold the
//! carries at the end (§4.1), which is correct for any buffer below 2^48 bytes.

use crate::ipv4::Ipv4Address;

/// Folds a wide one's-complement accumulator into 16 bits.
#[inline]
pub const fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The one's-complement sum of `data`, not complemented, so that partial sums of consecutive
/// even-length pieces can be added together (and folded once).
#[inline]
pub fn sum(data: &[u8]) -> u64 {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (detected just above, cached by std after the first call).
        #[allow(unsafe_code)]
        return unsafe { sum_avx2(data) };
    }
    sum_words(data)
}

/// [`sum_words`] for AVX2, by hand: each 16-bit word is biased to a signed one (its top bit
/// flipped: the word less 32 768) and `vpmaddwd` against ones adds them two by two into eight
/// 32-bit lanes, one multiply-add a block of 32 bytes. The compiler's build of [`sum_words`]
/// widens every word with a shuffle instead, and x86 has one port for those: 1448 bytes in L1
/// took 48 ns, now 24 (the frame checksums are ~10% of `netstack bench tcp`). The bias comes
/// back at the end, 32 768 per word. A lane moves by at most 65 536 a block, so it is emptied
/// into the total every 16 384 blocks (512 KiB), before it could overflow.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
fn sum_avx2(data: &[u8]) -> u64 {
    use core::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi16,
        _mm256_setzero_si256, _mm256_storeu_si256, _mm256_xor_si256,
    };
    const GROUP: usize = 16_384 * 32;
    let (ones, bias) = (_mm256_set1_epi16(1), _mm256_set1_epi16(i16::MIN));
    let blocks = data.len() / 32 * 32;
    let mut total: u64 = 0;
    for group in data[..blocks].chunks(GROUP) {
        // Two chains of adds, so that each waits on the one before it only every other block.
        let (mut a, mut b) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut pairs = group.chunks_exact(64);
        for p in &mut pairs {
            // SAFETY: both loads read 32 bytes within `p` (64 long); `loadu` needs no alignment.
            #[allow(unsafe_code)]
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(p.as_ptr().cast::<__m256i>()),
                    _mm256_loadu_si256(p[32..].as_ptr().cast::<__m256i>()),
                )
            };
            a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_xor_si256(x, bias), ones));
            b = _mm256_add_epi32(b, _mm256_madd_epi16(_mm256_xor_si256(y, bias), ones));
        }
        if let Some(p) = pairs.remainder().get(..32) {
            // SAFETY: the load reads the 32 bytes of `p`; `loadu` needs no alignment.
            #[allow(unsafe_code)]
            let x = unsafe { _mm256_loadu_si256(p.as_ptr().cast::<__m256i>()) };
            a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_xor_si256(x, bias), ones));
        }
        let mut lanes = [0i32; 8];
        // SAFETY: the store writes the 32 bytes of `lanes`; `storeu` needs no alignment.
        #[allow(unsafe_code)]
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), _mm256_add_epi32(a, b))
        };
        let signed: i64 = lanes.iter().map(|&l| i64::from(l)).sum();
        // The bias back: 32 768 for each of the group's words (the sum is then not negative).
        total += (signed + 32_768 * (group.len() / 2) as i64) as u64;
    }
    finish(total, &data[blocks..])
}

#[inline(always)]
fn sum_words(data: &[u8]) -> u64 {
    // RFC 1071 §2(B): the sum does not depend on byte order. Words are added in the machine's
    // own order (no swap per word) and the folded result is put in network order once at the
    // end. Eight accumulators of 32-bit words keep the adds independent, so the compiler
    // turns them into vector adds of 64-bit lanes; each takes 2^32 words before it could
    // overflow.
    let mut acc = [0u64; 8];
    let mut chunks = data.chunks_exact(32);
    for c in &mut chunks {
        for (k, a) in acc.iter_mut().enumerate() {
            let w = [c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]];
            *a += u64::from(u32::from_ne_bytes(w));
        }
    }
    finish(acc.iter().sum(), chunks.remainder())
}

/// Adds the words of `rest` (the bytes after the last whole block) to `total`, a sum of
/// native-order words, and gives the folded sum in network order.
#[inline(always)]
fn finish(mut total: u64, mut rest: &[u8]) -> u64 {
    while rest.len() >= 2 {
        total += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    // A trailing odd byte is padded with zero on the right (§1): the first byte of a word.
    if let [last] = rest {
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    // The folded sum of native-order words, read as the big-endian words it stands for.
    u64::from(u16::from_be(fold(total)))
}

/// The checksum of `data`: the complement of its folded sum. Writing it into the checksum field
/// (zeroed while summing) makes the whole verify.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Whether `data`, checksum field included, verifies (folds to 0xffff).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    fold(sum(data)) == 0xffff
}

/// The sum of the TCP/UDP pseudo-header (RFC 9293 §3.1, RFC 768): source, destination, zero,
/// protocol, and the transport length.
#[inline]
pub fn pseudo_header(src: Ipv4Address, dst: Ipv4Address, protocol: u8, length: u32) -> u64 {
    let s = src.octets();
    let d = dst.octets();
    u64::from(u16::from_be_bytes([s[0], s[1]]))
        + u64::from(u16::from_be_bytes([s[2], s[3]]))
        + u64::from(u16::from_be_bytes([d[0], d[1]]))
        + u64::from(u16::from_be_bytes([d[2], d[3]]))
        + u64::from(protocol)
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changed from
/// `old` to `new`, without summing the data again: `HC' = ~(~HC + ~m + m')`.
#[inline]
pub const fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(!checksum as u64 + !old as u64 + new as u64)
}

/// [`update`] for a 32-bit field (an address or a sequence number): two words.
#[inline]
pub const fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1071 §3's worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(fold(sum(&[0xab])), 0xab00);
        assert_eq!(fold(sum(&[0x01, 0x02, 0x03])), 0x0102 + 0x0300);
    }

    /// A textbook IPv4 header (Wikipedia's "IPv4 header checksum" example) has checksum b861.
    #[test]
    fn ipv4_header_example() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verify(&h));
    }

    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for pair in data.chunks(2) {
            let w = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// The AVX2 build of the sum agrees with the portable one at every length and alignment
    /// (its 32-byte blocks, the remainder's words and the odd byte).
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn avx2_sum_matches_portable() {
        assert!(
            std::is_x86_feature_detected!("avx2"),
            "this test needs a CPU with AVX2"
        );
        let data: std::vec::Vec<u8> = (0..600u32).map(|i| (i * 151 + i / 7) as u8).collect();
        for start in 0..40 {
            for end in start..data.len() {
                #[allow(unsafe_code)]
                // SAFETY: the CPU has AVX2 (asserted above).
                let fast = unsafe { sum_avx2(&data[start..end]) };
                assert_eq!(fast, sum_words(&data[start..end]), "{start}..{end}");
            }
        }
    }

    /// Across the AVX2 sum's groups (16 384 blocks, where its lanes are emptied), with words
    /// at both extremes of the bias (all ones: every biased word 32 767; zeros: -32 768) and
    /// mixed, it agrees with the portable sum.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn avx2_sum_matches_portable_on_large_buffers() {
        assert!(std::is_x86_feature_detected!("avx2"));
        let group = 16_384 * 32;
        for fill in [0xffu8, 0x00, 0x80, 0x7f] {
            for len in [group - 32, group, group + 64 + 33, 3 * group + 7] {
                let data = std::vec![fill; len];
                #[allow(unsafe_code)]
                // SAFETY: the CPU has AVX2 (asserted above).
                let fast = unsafe { sum_avx2(&data) };
                assert_eq!(fast, sum_words(&data), "{fill:#x} x {len}");
            }
        }
        let mixed: std::vec::Vec<u8> = (0..2 * group + 100)
            .map(|i| ((i * 2_654_435_761usize) >> 13) as u8)
            .collect();
        #[allow(unsafe_code)]
        // SAFETY: as above.
        let fast = unsafe { sum_avx2(&mixed) };
        assert_eq!(fast, sum_words(&mixed));
    }

    proptest! {
        #[test]
        fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            prop_assert_eq!(checksum(&data), naive(&data));
        }

        /// Partial sums of consecutive pieces, all but the last of even length, add up to the
        /// sum of the whole (the pseudo-header plus a segment, a header plus its payload).
        #[test]
        fn partial_sums_add_up(data in proptest::collection::vec(any::<u8>(), 0..3000),
                               cut in any::<prop::sample::Index>()) {
            let at = cut.index(data.len() / 2 + 1) * 2;
            let parts = sum(&data[..at]) + sum(&data[at..]);
            prop_assert_eq!(fold(parts), fold(sum(&data)));
        }

        /// RFC 1624: the incremental update equals a full recomputation (for data whose checksum
        /// is not the ambiguous +0/-0 case, which RFC 1624 §3 says eqn. 3 resolves to the
        /// non-0xffff form a full computation gives too).
        #[test]
        fn incremental_matches_full(mut data in proptest::collection::vec(any::<u8>(), 2..200),
                                    word in any::<prop::sample::Index>(), new in any::<u16>()) {
            let even = data.len() & !1;
            let at = word.index(even / 2) * 2;
            let before = checksum(&data);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            let after = checksum(&data);
            let inc = update(before, old, new);
            // One's complement has two zeros: 0x0000 and 0xffff denote the same sum.
            prop_assert!(inc == after || (inc ^ after) == 0xffff && (inc == 0 || after == 0));
        }
    }
}
