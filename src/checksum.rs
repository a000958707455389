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

/// AVX2: 64 bytes per round, copied with unaligned 32-byte loads and stores, each 32-bit lane
/// summing its two 16-bit words into one of two accumulators (no lane can overflow below 2^27
/// rounds, far beyond the 64 KiB an IPv4 packet can hold). The tail goes to the scalar path.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_and_sum_avx2(dst: &mut [u8], src: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    let n = src.len();
    let mut at = 0;
    let low16 = _mm256_set1_epi32(0xffff);
    let (mut a, mut b) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    while at + 64 <= n {
        // SAFETY: at + 64 <= n = src.len() = dst.len(): both 32-byte accesses are in bounds;
        // loadu/storeu allow any alignment.
        unsafe {
            let p = src.as_ptr().add(at).cast::<__m256i>();
            let q = dst.as_mut_ptr().add(at).cast::<__m256i>();
            let v = _mm256_loadu_si256(p);
            let w = _mm256_loadu_si256(p.add(1));
            _mm256_storeu_si256(q, v);
            _mm256_storeu_si256(q.add(1), w);
            a = _mm256_add_epi32(a, _mm256_and_si256(v, low16));
            b = _mm256_add_epi32(b, _mm256_srli_epi32(v, 16));
            a = _mm256_add_epi32(a, _mm256_and_si256(w, low16));
            b = _mm256_add_epi32(b, _mm256_srli_epi32(w, 16));
        }
        at += 64;
    }
    let mut lanes = [0u32; 16];
    // SAFETY: two 32-byte stores into a 64-byte array.
    unsafe {
        _mm256_storeu_si256(lanes.as_mut_ptr().cast(), a);
        _mm256_storeu_si256(lanes.as_mut_ptr().add(8).cast(), b);
    }
    let vector: u64 = lanes.iter().map(|&l| u64::from(l)).sum();
    vector + copy_and_sum_scalar(&mut dst[at..], &src[at..])
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

    #[test]
    fn fold_handles_every_carry() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0xffff_ffff_0000_0001), 1);
    }
}
