//! The Internet checksum (RFC 1071) the frame builders share: an unfolded 64-bit sum of
//! native-endian words, folded and complemented at the end, and a copy of the payload that sums
//! it in the same pass.
//!
//! One's-complement sums do not depend on byte order (RFC 1071, 2.B): summing the frame's
//! 16-bit big-endian words read as native-endian values gives the big-endian sum's bytes in
//! native order, so it is stored back with `to_ne_bytes` and nothing is ever byte-swapped. Wider
//! words fold to the same 16-bit result (2^16 ≡ 1 mod 0xffff), so 32- and 64-bit reads are fine.
//!
//! [`copy_and_sum`] picks its implementation once, at run time: AVX2 where the CPU has it
//! (`is_x86_feature_detected!`), else a scalar loop with independent accumulators; a test holds
//! every available path to the same result.

/// Unfolded sum of a 16-bit field given as wire bytes.
#[inline(always)]
pub(crate) const fn word(b: [u8; 2]) -> u64 {
    u16::from_ne_bytes(b) as u64
}

/// Unfolded sum of a 32-bit field given as wire bytes (its two 16-bit words).
#[inline(always)]
pub(crate) const fn dword(b: [u8; 4]) -> u64 {
    u32::from_ne_bytes(b) as u64
}

/// `a + b` in one's-complement arithmetic on 64-bit words: the carry out goes back in (it cannot
/// carry again: a sum that carried is at most 2^64 - 2). Wide words fold to the same 16-bit
/// result as their 16-bit words would (2^16 ≡ 1 mod 0xffff).
#[inline(always)]
pub(crate) fn add64(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    s + u64::from(c)
}

/// Folds an unfolded sum to 16 bits, end-around carries included; still in native order.
#[inline(always)]
pub(crate) fn fold(sum: u64) -> u16 {
    // Each add's carry goes back in; the second add cannot carry again (the first left at most
    // 0xffff_fffe when it carried).
    let (s, c) = (sum as u32).overflowing_add((sum >> 32) as u32);
    let s = s + u32::from(c);
    let (t, c) = (s as u16).overflowing_add((s >> 16) as u16);
    t + u16::from(c)
}

/// The checksum field's wire bytes for an unfolded sum: the complement of its fold.
#[inline(always)]
pub(crate) fn finish(sum: u64) -> [u8; 2] {
    (!fold(sum)).to_ne_bytes()
}

/// Unfolded sum of `data` (an odd last byte padded with zero, as RFC 1071 does).
#[cfg(test)]
pub(crate) fn sum(data: &[u8]) -> u64 {
    sum_with(data, |_, _| ())
}

/// Copies `src` into `dst` (the same length) and returns the unfolded sum of the bytes, in one
/// pass over them.
#[inline(always)]
pub(crate) fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(dst.len(), src.len());
    if src.is_empty() {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { copy_and_sum_avx2(dst, src) };
    }
    copy_and_sum_scalar(dst, src)
}

/// The scalar path: 8 bytes at a time into two 64-bit accumulators of 32-bit halves (no carry
/// to propagate until the end, and two independent chains), handing each piece to `sink` (a
/// copy, or nothing) as it goes.
#[inline]
fn sum_with(src: &[u8], mut sink: impl FnMut(usize, &[u8])) -> u64 {
    let (mut lo, mut hi) = (0u64, 0u64);
    let mut chunks = src.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        sink(at, c);
        let w = u64::from_ne_bytes(c.try_into().expect("8 bytes"));
        lo += w & 0xffff_ffff;
        hi += w >> 32;
        at += 8;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        sink(at, tail);
        let mut pad = [0u8; 8];
        pad[..tail.len()].copy_from_slice(tail);
        let w = u64::from_ne_bytes(pad);
        lo += w & 0xffff_ffff;
        hi += w >> 32;
    }
    lo + hi
}

/// [`copy_and_sum`] without SIMD.
fn copy_and_sum_scalar(dst: &mut [u8], src: &[u8]) -> u64 {
    sum_with(src, |at, piece| dst[at..at + piece.len()].copy_from_slice(piece))
}

/// AVX2: 128 bytes per round, copied with unaligned 32-byte loads and stores and summed with one
/// `vpmaddwd` per 32 bytes: each 16-bit word, its top bit flipped, is read as signed (the word
/// minus 32768), and each 32-bit lane gets the sum of its two (their sum minus 65536), added
/// back at the end, 2^19 per 32 bytes. Two accumulators, so that the rounds' sums do not wait
/// for each other; no lane can overflow below 2^15 vectors each (1 MiB), far beyond the 64 KiB
/// an IPv4 packet can hold. Then a 64-, a 32- and a 16-byte step as the length asks, and the
/// last 0-15 bytes in 8-, 4-, 2- and 1-byte pieces, so that a short payload (a 100-byte segment)
/// costs a few dozen instructions and no call.
///
/// Every piece starts at an even offset but the last byte, and lands in the sum at a bit
/// position of its offset's parity (2^16 = 1 modulo 0xffff: where an even-aligned word sits in
/// a wider lane does not matter to the one's-complement sum).
///
/// # Safety
/// The CPU has AVX2; `dst` and `src` have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_and_sum_avx2(dst: &mut [u8], src: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    let n = src.len();
    debug_assert_eq!(dst.len(), n);
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    let mut at = 0;
    let flip = _mm256_set1_epi16(i16::MIN);
    let ones = _mm256_set1_epi16(1);
    // The pairs' sums of one 32-byte vector, each less 65536 (see above).
    let pairs = |v: __m256i| _mm256_madd_epi16(_mm256_xor_si256(v, flip), ones);
    let (mut a, mut b) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    // Each load below reads src[at..at + k] and each store writes dst[at..at + k] for the k of
    // its type, with at + k <= n checked first; unaligned loads and stores only.
    while at + 128 <= n {
        // SAFETY: at + 128 <= n (see above).
        unsafe {
            let p = s.add(at).cast::<__m256i>();
            let q = d.add(at).cast::<__m256i>();
            let (v0, v1) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
            let (v2, v3) = (_mm256_loadu_si256(p.add(2)), _mm256_loadu_si256(p.add(3)));
            _mm256_storeu_si256(q, v0);
            _mm256_storeu_si256(q.add(1), v1);
            _mm256_storeu_si256(q.add(2), v2);
            _mm256_storeu_si256(q.add(3), v3);
            a = _mm256_add_epi32(a, _mm256_add_epi32(pairs(v0), pairs(v2)));
            b = _mm256_add_epi32(b, _mm256_add_epi32(pairs(v1), pairs(v3)));
        }
        at += 128;
    }
    if at + 64 <= n {
        // SAFETY: at + 64 <= n.
        unsafe {
            let p = s.add(at).cast::<__m256i>();
            let q = d.add(at).cast::<__m256i>();
            let (v0, v1) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
            _mm256_storeu_si256(q, v0);
            _mm256_storeu_si256(q.add(1), v1);
            a = _mm256_add_epi32(a, pairs(v0));
            b = _mm256_add_epi32(b, pairs(v1));
        }
        at += 64;
    }
    if at + 32 <= n {
        // SAFETY: at + 32 <= n.
        unsafe {
            let v = _mm256_loadu_si256(s.add(at).cast());
            _mm256_storeu_si256(d.add(at).cast(), v);
            a = _mm256_add_epi32(a, pairs(v));
        }
        at += 32;
    }
    // What the 32-byte vectors took away: 65536 for each of their 8 lanes.
    let mut taken = (at as u64 / 32) << 19;
    // One set of 8 lanes, then 4.
    let ab = _mm256_add_epi32(a, b);
    let mut x = _mm_add_epi32(_mm256_castsi256_si128(ab), _mm256_extracti128_si256::<1>(ab));
    if at + 16 <= n {
        // SAFETY: at + 16 <= n.
        unsafe {
            let v = _mm_loadu_si128(s.add(at).cast());
            _mm_storeu_si128(d.add(at).cast(), v);
            let flipped = _mm_xor_si128(v, _mm256_castsi256_si128(flip));
            x = _mm_add_epi32(x, _mm_madd_epi16(flipped, _mm256_castsi256_si128(ones)));
        }
        at += 16;
        taken += 4 << 16;
    }
    // The 4 signed lanes, widened to 64 bits before they are added; then what was taken, back.
    let w = _mm_add_epi64(_mm_cvtepi32_epi64(x), _mm_cvtepi32_epi64(_mm_srli_si128::<8>(x)));
    let lanes = _mm_cvtsi128_si64(w).wrapping_add(_mm_extract_epi64::<1>(w));
    let mut sum = (lanes as u64).wrapping_add(taken);
    let rest = n - at;
    if rest & 8 != 0 {
        // SAFETY: at + 8 <= n (the 8 bit of n - at).
        let v = unsafe { s.add(at).cast::<u64>().read_unaligned() };
        // SAFETY: as above.
        unsafe { d.add(at).cast::<u64>().write_unaligned(v) };
        sum += (v & 0xffff_ffff) + (v >> 32);
        at += 8;
    }
    // The last 0-7 bytes, gathered into one word in their order (byte k at bits 8k).
    let mut last = 0u64;
    let mut k = 0;
    if rest & 4 != 0 {
        // SAFETY: at + 4 <= n (the 4 bit of what is left).
        let v = unsafe { s.add(at).cast::<u32>().read_unaligned() };
        // SAFETY: as above.
        unsafe { d.add(at).cast::<u32>().write_unaligned(v) };
        last = u64::from(v);
        k = 4;
    }
    if rest & 2 != 0 {
        // SAFETY: at + k + 2 <= n (the 2 bit of what is left after the 4 bit's k bytes).
        let v = unsafe { s.add(at + k).cast::<u16>().read_unaligned() };
        // SAFETY: as above.
        unsafe { d.add(at + k).cast::<u16>().write_unaligned(v) };
        last |= u64::from(v) << (8 * k);
        k += 2;
    }
    if rest & 1 != 0 {
        // SAFETY: at + k + 1 == n (the 1 bit, after the 4 and 2 bits' k bytes).
        let v = unsafe { s.add(at + k).read() };
        // SAFETY: as above.
        unsafe { d.add(at + k).write(v) };
        last |= u64::from(v) << (8 * k);
    }
    sum + (last & 0xffff_ffff) + (last >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain RFC 1071 definition: big-endian 16-bit words, odd byte padded, folded.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u64 = data
            .chunks(2)
            .map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// Deterministic bytes, different for every length and offset.
    fn bytes(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(len as u32);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn every_path_agrees_with_rfc_1071_at_every_length_and_alignment() {
        let mut paths = 0;
        for len in (0..300).chain([1447, 1448, 1449, 1460, 4095, 9000, 65_000]) {
            for offset in [0, 1, 3, 7] {
                let src = bytes(len + offset, offset as u32);
                let src = &src[offset..];
                let want = reference(src);
                assert_eq!(
                    u16::from_be(fold(sum(src))),
                    want,
                    "sum, len {len} offset {offset}"
                );
                let mut dst = vec![0u8; len + 1];
                let s = copy_and_sum_scalar(&mut dst[1..], src);
                assert_eq!(
                    (u16::from_be(fold(s)), &dst[1..]),
                    (want, src),
                    "scalar, len {len}"
                );
                paths = 1;
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    dst.fill(0);
                    // SAFETY: the CPU has AVX2.
                    let s = unsafe { copy_and_sum_avx2(&mut dst[1..], src) };
                    assert_eq!((u16::from_be(fold(s)), &dst[1..]), (want, src), "avx2, len {len}");
                    paths = 2;
                }
                dst.fill(0);
                let s = copy_and_sum(&mut dst[1..], src);
                assert_eq!(
                    (u16::from_be(fold(s)), &dst[1..]),
                    (want, src),
                    "dispatch, len {len}"
                );
            }
        }
        eprintln!(
            "checksum paths compared: {paths} (scalar{})",
            if paths > 1 { " and AVX2" } else { "" }
        );
    }

    /// The lanes at their extremes: every word 0x0000 (each pair's signed sum at its lowest)
    /// and 0xffff (at its highest), over the longest IPv4 payload and at every step's boundary.
    #[test]
    fn the_vector_sums_hold_at_the_lanes_extremes() {
        for byte in [0x00u8, 0xff, 0x80, 0x7f] {
            for len in [15, 16, 31, 32, 63, 64, 127, 128, 129, 255, 1448, 65_495, 65_535] {
                let src = vec![byte; len];
                let mut dst = vec![0u8; len];
                let s = copy_and_sum(&mut dst, &src);
                assert_eq!(
                    (u16::from_be(fold(s)), &dst[..]),
                    (reference(&src), &src[..]),
                    "{byte:#x} x {len}"
                );
            }
        }
    }

    #[test]
    fn fold_handles_every_carry() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0xffff_ffff_0000_0001), 1);
    }
}
