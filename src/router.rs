//! Where a frame goes: the output port (route table, longest prefix match; port 0 without one)
//! and the Ethernet destination (ARP table, else the caller's `ethh->h_dest`), as mOS decides
//! them. Each core context remembers its last destination ([`HopCache`], kept with the owner's
//! TX state), so a stream of frames to one peer costs one comparison instead of two table scans.

use crate::error::SendError;
use crate::port::PortInfo;
use crate::request::EthDstHint;
use crate::route::{ArpTable, PrefixTable};

/// The next hop of one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hop {
    /// Index into [`Router::ports`].
    pub port: usize,
    pub eth_dst: [u8; 6],
}

pub(crate) struct Router {
    /// Tells this router's cached hops from another's (see [`HopCache`]); never 0.
    id: u64,
    ports: Vec<PortInfo>,
    /// Destination → index into `ports` (`None`: a route to a device that is not in use, whose
    /// frames are refused); `None` without any route (everything to the first port).
    routes: Option<PrefixTable<Option<usize>>>,
    arp: ArpTable,
}

/// The last lookup: the destination, its port, its ARP entry (`None`: the caller's hint is used,
/// which may differ per call). Keyed by the router's id as well, so that a cached hop never
/// answers for other tables (id 0: an empty cache).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HopCache {
    router: u64,
    daddr: u32,
    port: usize,
    arp: Option<[u8; 6]>,
}

impl Router {
    pub(crate) fn new(
        ports: Vec<PortInfo>,
        routes: Option<PrefixTable<Option<usize>>>,
        arp: ArpTable,
    ) -> Self {
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            id,
            ports,
            routes,
            arp,
        }
    }

    pub(crate) fn ports(&self) -> &[PortInfo] {
        &self.ports
    }

    /// The next hop for `daddr` (host order), through `cache`; `hint` is the caller's Ethernet
    /// destination, read only when the ARP table has no entry.
    #[inline(always)]
    pub(crate) fn resolve(
        &self,
        cache: &mut HopCache,
        daddr: u32,
        hint: Option<EthDstHint<'_>>,
    ) -> Result<Hop, SendError> {
        if cache.router != self.id || cache.daddr != daddr {
            let port = match &self.routes {
                Some(t) => t.lookup(daddr).copied().flatten().ok_or(SendError::NoRoute)?,
                None => 0,
            };
            *cache = HopCache {
                router: self.id,
                daddr,
                port,
                arp: self.arp.lookup(daddr).copied(),
            };
        }
        let eth_dst = match cache.arp {
            Some(mac) => mac,
            None => hint.ok_or(SendError::NoArpEntry)?.read(),
        };
        Ok(Hop {
            port: cache.port,
            eth_dst,
        })
    }

    /// The next hop for `dst` of any family, without the per-context cache (for the RST and raw
    /// segments, which are rare): the route and ARP tables for IPv4; for IPv6 the first port (no
    /// IPv6 tables yet). `fallback` is the Ethernet destination when no table entry answers.
    pub(crate) fn next_hop(
        &self,
        dst: std::net::IpAddr,
        fallback: Option<[u8; 6]>,
    ) -> Result<Hop, SendError> {
        let (port, mac) = match dst {
            std::net::IpAddr::V4(a) => {
                let a = u32::from(a);
                let port = match &self.routes {
                    Some(t) => t.lookup(a).copied().flatten().ok_or(SendError::NoRoute)?,
                    None => 0,
                };
                (port, self.arp.lookup(a).copied())
            }
            std::net::IpAddr::V6(_) => (0, None),
        };
        Ok(Hop {
            port,
            eth_dst: mac.or(fallback).ok_or(SendError::NoArpEntry)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Ipv4Prefix;

    fn port(id: u16) -> PortInfo {
        PortInfo::for_tests(id)
    }

    fn prefix(a: [u8; 4], len: u8) -> Ipv4Prefix {
        Ipv4Prefix::new(a.into(), len).unwrap()
    }

    fn addr(a: [u8; 4]) -> u32 {
        u32::from_be_bytes(a)
    }

    #[test]
    fn route_and_arp_decide_and_the_hint_fills_in() {
        let mut routes = PrefixTable::default();
        routes.insert(prefix([10, 0, 1, 0], 24), Some(1));
        routes.insert(prefix([10, 0, 0, 0], 16), Some(0));
        // A route to a device not in use (a kernel route of eth0): matched, and refused.
        routes.insert(prefix([10, 0, 3, 0], 24), None);
        let mut arp = ArpTable::default();
        arp.insert(prefix([10, 0, 1, 7], 32), [7; 6]);
        let r = Router::new(vec![port(0), port(1)], Some(routes), arp);
        let c = &mut HopCache::default();
        let (nine, eight) = ([9; 6], [8; 6]);
        let hint = Some(EthDstHint::new(&nine));
        let hop = |port, eth_dst| Ok(Hop { port, eth_dst });
        assert_eq!(r.resolve(c, addr([10, 0, 1, 7]), hint), hop(1, [7; 6]));
        // Same destination again (cached): the same answer.
        assert_eq!(r.resolve(c, addr([10, 0, 1, 7]), None), hop(1, [7; 6]));
        // No ARP entry: the hint, each call's own; without one, unreachable (also when cached).
        assert_eq!(r.resolve(c, addr([10, 0, 2, 1]), hint), hop(0, [9; 6]));
        let other = Some(EthDstHint::new(&eight));
        assert_eq!(r.resolve(c, addr([10, 0, 2, 1]), other), hop(0, [8; 6]));
        assert_eq!(
            r.resolve(c, addr([10, 0, 2, 1]), None),
            Err(SendError::NoArpEntry)
        );
        assert_eq!(r.resolve(c, addr([11, 0, 0, 1]), hint), Err(SendError::NoRoute));
        assert_eq!(r.resolve(c, addr([10, 0, 3, 1]), hint), Err(SendError::NoRoute));
    }

    #[test]
    fn without_a_route_table_everything_goes_to_port_0() {
        let r = Router::new(vec![port(0)], None, ArpTable::default());
        let one = [1; 6];
        let hop = r.resolve(
            &mut HopCache::default(),
            addr([1, 2, 3, 4]),
            Some(EthDstHint::new(&one)),
        );
        assert_eq!(
            hop,
            Ok(Hop {
                port: 0,
                eth_dst: [1; 6]
            })
        );
    }

    #[test]
    fn a_cached_hop_never_answers_for_another_router() {
        let mut arp = ArpTable::default();
        arp.insert(prefix([10, 0, 0, 1], 32), [1; 6]);
        let a = Router::new(vec![port(0)], None, arp);
        let b = Router::new(vec![port(0)], None, ArpTable::default());
        let c = &mut HopCache::default();
        assert!(a.resolve(c, addr([10, 0, 0, 1]), None).is_ok());
        assert_eq!(
            b.resolve(c, addr([10, 0, 0, 1]), None),
            Err(SendError::NoArpEntry)
        );
    }
}
