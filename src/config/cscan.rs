//! The C conversions mOS reads its configuration with, so that a value means here what it means
//! there: `sscanf`'s `%li` and `%d` (`strtol` with base 0 or 10), `%hhx`, and `inet_addr`.
//! Each takes the text from a position and returns the value and the position after it, or `None`
//! where the C conversion fails (nothing is assigned and `sscanf` stops).

/// `isspace` in the C locale.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Skips C white space from `at`.
pub(crate) fn skip_space(s: &[u8], mut at: usize) -> usize {
    while at < s.len() && is_space(s[at]) {
        at += 1;
    }
    at
}

/// Digits of `radix` from `at`, accumulated with saturation at `limit` (as `strtol` saturates at
/// `LONG_MAX`); returns (value, end, digits read).
fn digits(s: &[u8], mut at: usize, radix: u32, limit: u64) -> (u64, usize, usize) {
    let (mut v, start) = (0u64, at);
    while let Some(d) = s.get(at).and_then(|&b| (b as char).to_digit(radix)) {
        v = v
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(d))
            .min(limit);
        at += 1;
    }
    (v, at, at - start)
}

/// Sign, then the digits of `radix`; for radix 0, `0x` means hexadecimal and a leading `0`
/// octal, as `strtol` decides. Returns the magnitude (saturated at `limit`), negative flag, end.
fn signed(s: &[u8], at: usize, radix: u32, limit: u64) -> Option<(u64, bool, usize)> {
    let mut at = skip_space(s, at);
    let neg = match s.get(at) {
        Some(b'-') => {
            at += 1;
            true
        }
        Some(b'+') => {
            at += 1;
            false
        }
        _ => false,
    };
    let hex_prefix = |at: usize| {
        s.get(at) == Some(&b'0')
            && matches!(s.get(at + 1), Some(b'x' | b'X'))
            && s.get(at + 2).is_some_and(u8::is_ascii_hexdigit)
    };
    let (radix, at) = match radix {
        0 if hex_prefix(at) => (16, at + 2),
        0 if s.get(at) == Some(&b'0') => (8, at),
        0 => (10, at),
        16 if hex_prefix(at) => (16, at + 2),
        r => (r, at),
    };
    let (v, end, n) = digits(s, at, radix, limit);
    (n > 0).then_some((v, neg, end))
}

/// `%li` (`strtol(s, &end, 0)` on a 64-bit `long`): decimal, `0x` hexadecimal or `0` octal, with
/// a sign; saturates at the `long` range like `strtol`.
pub(crate) fn scan_long(s: &[u8], at: usize) -> Option<(i64, usize)> {
    let (v, neg, end) = signed(s, at, 0, i64::MAX as u64 + 1)?;
    let v = if neg {
        (v as i128).wrapping_neg().max(i128::from(i64::MIN)) as i64
    } else {
        v.min(i64::MAX as u64) as i64
    };
    Some((v, end))
}

/// `%d`: decimal with a sign, as an `int` (saturated).
pub(crate) fn scan_int(s: &[u8], at: usize) -> Option<(i64, usize)> {
    let (v, neg, end) = signed(s, at, 10, i32::MAX as u64 + 1)?;
    let v = if neg {
        -(v as i64)
    } else {
        v.min(i32::MAX as u64) as i64
    };
    Some((v, end))
}

/// `%hhx`: hexadecimal (optional `0x`, optional sign), stored in a byte (the low 8 bits).
pub(crate) fn scan_hex_byte(s: &[u8], at: usize) -> Option<(u8, usize)> {
    let (v, neg, end) = signed(s, at, 16, u64::MAX)?;
    let v = if neg { v.wrapping_neg() } else { v };
    Some((v as u8, end))
}

/// `%hhx:%hhx:%hhx:%hhx:%hhx:%hhx`: a MAC address with one- or two-digit (or longer) bytes.
pub(crate) fn scan_mac(s: &[u8], mut at: usize) -> Option<([u8; 6], usize)> {
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        if i > 0 {
            if s.get(at) != Some(&b':') {
                return None;
            }
            at += 1;
        }
        let (b, end) = scan_hex_byte(s, at)?;
        *byte = b;
        at = end;
    }
    Some((mac, at))
}

/// `%[set]` with a set of bytes `accept` says yes to: the longest non-empty run from `at`.
pub(crate) fn scan_set(s: &[u8], at: usize, accept: impl Fn(u8) -> bool) -> Option<(&[u8], usize)> {
    let end = at + s[at.min(s.len())..].iter().take_while(|&&b| accept(b)).count();
    (end > at).then(|| (&s[at..end], end))
}

/// `inet_addr`: one to four parts, each decimal, octal (leading `0`) or hexadecimal (`0x`);
/// `a.b` is `a` and a 24-bit `b`, `a.b.c` is `a`, `b` and a 16-bit `c`. Host order; `None`
/// where `inet_addr` returns `INADDR_NONE` for bad input.
pub(crate) fn inet_addr(s: &[u8]) -> Option<u32> {
    let mut parts = [0u64; 4];
    let mut n = 0;
    let mut at = 0;
    loop {
        if n == 4 || !s.get(at).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let (radix, start) = match (s.get(at), s.get(at + 1)) {
            (Some(b'0'), Some(b'x' | b'X')) => (16, at + 2),
            (Some(b'0'), _) => (8, at),
            _ => (10, at),
        };
        let (v, end, digits_read) = digits(s, start, radix, u64::from(u32::MAX) + 1);
        if radix == 16 && digits_read == 0 {
            return None;
        }
        parts[n] = v;
        n += 1;
        at = end;
        match s.get(at) {
            None => break,
            Some(b'.') => at += 1,
            // '8' or '9' in an octal part, or anything else: not an address.
            Some(_) => return None,
        }
    }
    let (p, limit_last) = (&parts[..n], [u32::MAX as u64, 0xff_ffff, 0xffff, 0xff][n - 1]);
    if p[..n - 1].iter().any(|&v| v > 0xff) || p[n - 1] > limit_last {
        return None;
    }
    let head = p[..n - 1]
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &v)| acc | v << (24 - 8 * i));
    Some((head | p[n - 1]) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(s: &str) -> Option<i64> {
        scan_long(s.as_bytes(), 0).map(|(v, _)| v)
    }

    #[test]
    fn long_reads_like_strtol_base_0() {
        assert_eq!(long("10"), Some(10));
        assert_eq!(long("0x10"), Some(16));
        assert_eq!(long(" 0X00fF"), Some(255));
        assert_eq!(long("010"), Some(8));
        assert_eq!(long("09"), Some(0), "octal stops at 9");
        assert_eq!(long("-1"), Some(-1));
        assert_eq!(long("+7abc"), Some(7));
        assert_eq!(long("0x"), Some(0), "a lone 0x is the number 0");
        assert_eq!(long("99999999999999999999"), Some(i64::MAX));
        assert_eq!(long("-99999999999999999999"), Some(i64::MIN));
        assert_eq!(long("x1"), None);
        assert_eq!(long(""), None);
        assert_eq!(scan_long(b"12abc", 0), Some((12, 2)));
    }

    #[test]
    fn mac_bytes_take_one_or_two_digits() {
        assert_eq!(scan_mac(b"2:0:0:0:0:a", 0), Some(([2, 0, 0, 0, 0, 0xa], 11)));
        assert_eq!(
            scan_mac(b"90:E2:ba:7c:1f:a4 rest", 0),
            Some(([0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4], 17))
        );
        assert_eq!(scan_mac(b"0x1:2:3:4:5:6", 0).unwrap().0, [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            scan_mac(b"1ff:2:3:4:5:6", 0).unwrap().0[0],
            0xff,
            "kept modulo 256"
        );
        assert_eq!(scan_mac(b"1: 2:3:4:5:6", 0).unwrap().0[1], 2, "%hhx skips spaces");
        assert_eq!(scan_mac(b"1 :2:3:4:5:6", 0), None);
        assert_eq!(scan_mac(b"1:2:3:4:5", 0), None);
        assert_eq!(scan_mac(b"1:2:3:4:5:zz", 0), None);
    }

    #[test]
    fn addresses_read_like_inet_addr() {
        let a = |s: &str| inet_addr(s.as_bytes()).map(std::net::Ipv4Addr::from);
        assert_eq!(a("10.0.0.1"), Some([10, 0, 0, 1].into()));
        assert_eq!(a("010.1"), Some([8, 0, 0, 1].into()), "octal and short form");
        assert_eq!(a("10.65535"), Some([10, 0, 255, 255].into()));
        assert_eq!(a("167772161"), Some([10, 0, 0, 1].into()));
        assert_eq!(a("1.2.3.256"), None);
        assert_eq!(a("1.2.3.4.5"), None);
        assert_eq!(a("1..2"), None);
        assert_eq!(a("1.2.3."), None);
        assert_eq!(a("08.1.1.1"), None);
        assert_eq!(a(""), None);
        assert_eq!(a("4294967296"), None);
    }

    #[test]
    fn int_and_set() {
        assert_eq!(scan_int(b" 24 x", 0), Some((24, 3)));
        assert_eq!(scan_int(b"-3", 0), Some((-3, 2)));
        assert_eq!(scan_int(b"/3", 0), None);
        assert_eq!(
            scan_set(b"10.0.0.0/8", 0, |b| b.is_ascii_digit() || b == b'.'),
            Some((&b"10.0.0.0"[..], 8))
        );
        assert_eq!(scan_set(b"/8", 0, |b| b.is_ascii_digit()), None);
    }
}
