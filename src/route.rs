//! Longest-prefix-match tables: the route table (destination → port index) and the ARP table
//! (destination → MAC), as mOS's `route_table` and `arp_table` describe them.
//!
//! Unlike mOS, a /0 entry matches every address and a /1 entry is a real prefix (mOS's two
//! ARP-lookup bugs are not part of the contract, see `MOS_COMPAT.md`).

use std::fmt;
use std::net::Ipv4Addr;

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

    /// True when `addr` (host order) is inside this prefix.
    #[inline]
    pub fn contains(&self, addr: u32) -> bool {
        addr & self.mask == self.addr
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

/// A longest-prefix-match table. Entries are kept longest prefix first, so the first match wins;
/// among equal prefixes the one added first wins. Tables are small (a few entries per deployment),
/// so a linear scan over a contiguous vector beats a trie here.
#[derive(Debug, Clone)]
pub struct PrefixTable<T> {
    entries: Vec<(Ipv4Prefix, T)>,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<T> PrefixTable<T> {
    pub fn insert(&mut self, prefix: Ipv4Prefix, value: T) {
        let at = self.entries.partition_point(|(p, _)| p.len >= prefix.len);
        self.entries.insert(at, (prefix, value));
    }

    /// The value of the longest prefix containing `addr` (host order).
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<&T> {
        self.entries
            .iter()
            .find(|(p, _)| p.contains(addr))
            .map(|(_, v)| v)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Destination → next-hop MAC.
pub type ArpTable = PrefixTable<[u8; 6]>;

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
    fn first_of_equal_prefixes_wins() {
        let mut t = PrefixTable::<u16>::default();
        t.insert(p("10.0.0.0", 24), 1);
        t.insert(p("10.0.0.0", 24), 2);
        assert_eq!(t.lookup(a("10.0.0.1")), Some(&1));
    }
}
