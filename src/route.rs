//! Longest-prefix-match tables: the route table (destination → port index) and the ARP table
//! (destination → MAC), as mOS's `route_table` and `arp_table` describe them, for IPv4 and (our
//! extension, for `mtcp_sendpkt_reset`/`_raw`) IPv6.
//!
//! Unlike mOS, a /0 entry matches every address and a /1 entry is a real prefix (mOS's two
//! ARP-lookup bugs are not part of the contract, see `MOS_COMPAT.md`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A prefix of one address family, as a table holds it.
pub trait Prefix: Copy {
    /// The address in host order (`u32` for IPv4, `u128` for IPv6).
    type Addr: Copy;
    fn len(&self) -> u8;
    fn contains(&self, addr: Self::Addr) -> bool;
}

/// An IPv4 prefix such as `10.0.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Prefix {
    addr: u32,
    /// The prefix's netmask, kept so that a lookup is one AND and one compare per entry.
    mask: u32,
    len: u8,
}

impl Ipv4Prefix {
    /// A prefix; host bits of `addr` beyond `len` are ignored. `None` if `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        (len <= 32).then(|| {
            let mask = Self::mask(len);
            Self {
                addr: u32::from(addr) & mask,
                mask,
                len,
            }
        })
    }

    fn mask(len: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }
}

impl Prefix for Ipv4Prefix {
    type Addr = u32;

    fn len(&self) -> u8 {
        self.len
    }

    /// True when `addr` (host order) is inside this prefix.
    #[inline]
    fn contains(&self, addr: u32) -> bool {
        addr & self.mask == self.addr
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

/// An IPv6 prefix such as `fd00::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Prefix {
    addr: u128,
    mask: u128,
    len: u8,
}

impl Ipv6Prefix {
    /// A prefix; host bits of `addr` beyond `len` are ignored. `None` if `len > 128`.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        (len <= 128).then(|| {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            Self {
                addr: u128::from(addr) & mask,
                mask,
                len,
            }
        })
    }
}

impl Prefix for Ipv6Prefix {
    type Addr = u128;

    fn len(&self) -> u8 {
        self.len
    }

    #[inline]
    fn contains(&self, addr: u128) -> bool {
        addr & self.mask == self.addr
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.addr), self.len)
    }
}

/// A prefix of either family, as a configuration line or a kernel table gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPrefix {
    V4(Ipv4Prefix),
    V6(Ipv6Prefix),
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpPrefix::V4(p) => p.fmt(f),
            IpPrefix::V6(p) => p.fmt(f),
        }
    }
}

impl IpPrefix {
    /// The prefix length.
    pub fn len(&self) -> u8 {
        match self {
            IpPrefix::V4(p) => p.len(),
            IpPrefix::V6(p) => p.len(),
        }
    }

    pub fn v4(&self) -> Option<Ipv4Prefix> {
        match self {
            IpPrefix::V4(p) => Some(*p),
            IpPrefix::V6(_) => None,
        }
    }

    pub fn v6(&self) -> Option<Ipv6Prefix> {
        match self {
            IpPrefix::V6(p) => Some(*p),
            IpPrefix::V4(_) => None,
        }
    }
}

impl From<Ipv4Prefix> for IpPrefix {
    fn from(p: Ipv4Prefix) -> Self {
        IpPrefix::V4(p)
    }
}

impl From<Ipv6Prefix> for IpPrefix {
    fn from(p: Ipv6Prefix) -> Self {
        IpPrefix::V6(p)
    }
}

/// A longest-prefix-match table. Entries are kept longest prefix first, so the first match wins;
/// among equal prefixes the one added first wins. Tables are small (a few entries per deployment),
/// so a linear scan over a contiguous vector beats a trie here.
#[derive(Debug, Clone)]
pub struct PrefixTable<T, P = Ipv4Prefix> {
    entries: Vec<(P, T)>,
}

impl<T, P> Default for PrefixTable<T, P> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<T, P: Prefix> PrefixTable<T, P> {
    pub fn insert(&mut self, prefix: P, value: T) {
        let at = self.entries.partition_point(|(p, _)| p.len() >= prefix.len());
        self.entries.insert(at, (prefix, value));
    }

    /// The value of the longest prefix containing `addr` (host order).
    #[inline]
    pub fn lookup(&self, addr: P::Addr) -> Option<&T> {
        self.entries
            .iter()
            .find(|(p, _)| p.contains(addr))
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Destination → next-hop MAC.
pub type ArpTable = PrefixTable<[u8; 6]>;

/// IPv6 destination → next-hop MAC (the neighbour table).
pub type Arp6Table = PrefixTable<[u8; 6], Ipv6Prefix>;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, len: u8) -> Ipv4Prefix {
        Ipv4Prefix::new(s.parse().unwrap(), len).unwrap()
    }
    fn a(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn longest_prefix_wins_whatever_the_insertion_order() {
        let mut t = PrefixTable::<u16>::default();
        t.insert(p("10.0.0.0", 8), 1);
        t.insert(p("10.0.1.0", 24), 2);
        t.insert(p("10.0.1.7", 32), 3);
        t.insert(p("10.0.0.0", 16), 4);
        assert_eq!(t.lookup(a("10.0.1.7")), Some(&3));
        assert_eq!(t.lookup(a("10.0.1.8")), Some(&2));
        assert_eq!(t.lookup(a("10.0.2.1")), Some(&4));
        assert_eq!(t.lookup(a("10.9.0.1")), Some(&1));
        assert_eq!(t.lookup(a("11.0.0.1")), None);
    }

    #[test]
    fn slash_zero_matches_everything_and_slash_one_is_a_prefix() {
        let mut t = ArpTable::default();
        t.insert(p("0.0.0.0", 0), [1; 6]);
        t.insert(p("128.0.0.0", 1), [2; 6]);
        assert_eq!(t.lookup(a("1.2.3.4")), Some(&[1; 6]));
        assert_eq!(t.lookup(a("200.1.1.1")), Some(&[2; 6]));
    }

    #[test]
    fn slash_32_is_exact_and_host_bits_are_masked() {
        let mut t = ArpTable::default();
        t.insert(p("10.0.0.10", 32), [3; 6]);
        t.insert(p("10.0.1.99", 24), [4; 6]);
        assert_eq!(t.lookup(a("10.0.0.10")), Some(&[3; 6]));
        assert_eq!(t.lookup(a("10.0.0.11")), None);
        assert_eq!(t.lookup(a("10.0.1.1")), Some(&[4; 6]));
        assert_eq!(p("10.0.1.99", 24).to_string(), "10.0.1.0/24");
        assert!(Ipv4Prefix::new(Ipv4Addr::LOCALHOST, 33).is_none());
    }

    #[test]
    fn ipv6_prefixes_match_longest_first() {
        let p6 = |s: &str, len| Ipv6Prefix::new(s.parse().unwrap(), len).unwrap();
        let a6 = |s: &str| u128::from(s.parse::<Ipv6Addr>().unwrap());
        let mut t = PrefixTable::<u16, Ipv6Prefix>::default();
        t.insert(p6("fd00::", 16), 1);
        t.insert(p6("fd00:0:0:1::9", 128), 3);
        t.insert(p6("fd00:0:0:1::77", 64), 2);
        t.insert(p6("::", 0), 0);
        assert_eq!(t.lookup(a6("fd00:0:0:1::9")), Some(&3));
        assert_eq!(t.lookup(a6("fd00:0:0:1::a")), Some(&2));
        assert_eq!(t.lookup(a6("fd00:5::1")), Some(&1));
        assert_eq!(t.lookup(a6("2001:db8::1")), Some(&0));
        assert_eq!(p6("fd00:0:0:1::77", 64).to_string(), "fd00:0:0:1::/64");
        assert_eq!(IpPrefix::from(p6("fd00::1", 128)).to_string(), "fd00::1/128");
        assert!(Ipv6Prefix::new(Ipv6Addr::LOCALHOST, 129).is_none());
    }

    #[test]
    fn first_of_equal_prefixes_wins() {
        let mut t = PrefixTable::<u16>::default();
        t.insert(p("10.0.0.0", 24), 1);
        t.insert(p("10.0.0.0", 24), 2);
        assert_eq!(t.lookup(a("10.0.0.1")), Some(&1));
    }
}
