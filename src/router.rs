//! Where a frame goes: the output port (route table, longest prefix match; port 0 without one)
//! and the Ethernet destination (ARP table, else the caller's `ethh->h_dest`), as mOS decides
//! them. Each thread remembers its last destination, so a stream of frames to one peer costs one
//! comparison instead of two table scans.

use std::cell::Cell;

use crate::error::SendError;
use crate::port::PortInfo;
use crate::route::{ArpTable, PrefixTable};

/// The next hop of one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hop {
    /// Index into [`Router::ports`].
    pub port: usize,
    pub eth_dst: [u8; 6],
}

pub(crate) struct Router {
    /// Tells this router's cached hops from another's (see [`CachedHop`]).
    id: u64,
    ports: Vec<PortInfo>,
    /// Destination → index into `ports`; `None` without a route table (everything to port 0).
    routes: Option<PrefixTable<usize>>,
    arp: ArpTable,
}

/// A thread's last lookup: the destination, its port, its ARP entry (`None`: the caller's hint
/// is used, which may differ per call). Keyed by the router's id as well, so that a cached hop
/// never answers for other tables.
#[derive(Clone, Copy)]
struct CachedHop {
    router: u64,
    daddr: u32,
    port: usize,
    arp: Option<[u8; 6]>,
}

thread_local! {
    static LAST_HOP: Cell<Option<CachedHop>> = const { Cell::new(None) };
}

impl Router {
    pub(crate) fn new(ports: Vec<PortInfo>, routes: Option<PrefixTable<usize>>, arp: ArpTable) -> Self {
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

    /// The next hop for `daddr` (host order); `hint` is the caller's Ethernet destination, used
    /// when the ARP table has no entry.
    #[inline]
    pub(crate) fn resolve(&self, daddr: u32, hint: Option<[u8; 6]>) -> Result<Hop, SendError> {
        let cached = LAST_HOP
            .with(Cell::get)
            .filter(|c| c.router == self.id && c.daddr == daddr);
        let (port, arp) = match cached {
            Some(c) => (c.port, c.arp),
            None => {
                let port = match &self.routes {
                    Some(t) => *t.lookup(daddr).ok_or(SendError::NoRoute)?,
                    None => 0,
                };
                let arp = self.arp.lookup(daddr).copied();
                LAST_HOP.with(|c| {
                    c.set(Some(CachedHop {
                        router: self.id,
                        daddr,
                        port,
                        arp,
                    }))
                });
                (port, arp)
            }
        };
        let eth_dst = arp.or(hint).ok_or(SendError::NoArpEntry)?;
        Ok(Hop { port, eth_dst })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Ipv4Prefix;

    fn port(id: u16) -> PortInfo {
        PortInfo {
            id,
            name: format!("net_null{id}"),
            mac: [2, 0, 0, 0, 0, id as u8],
            mtu: 1500,
            max_frame: 1514,
            checksum_offload: false,
            owned: true,
        }
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
        routes.insert(prefix([10, 0, 1, 0], 24), 1);
        routes.insert(prefix([10, 0, 0, 0], 16), 0);
        let mut arp = ArpTable::default();
        arp.insert(prefix([10, 0, 1, 7], 32), [7; 6]);
        let r = Router::new(vec![port(0), port(1)], Some(routes), arp);
        let hint = Some([9; 6]);
        assert_eq!(
            r.resolve(addr([10, 0, 1, 7]), hint),
            Ok(Hop {
                port: 1,
                eth_dst: [7; 6]
            })
        );
        // Same destination again (cached): the same answer.
        assert_eq!(
            r.resolve(addr([10, 0, 1, 7]), None),
            Ok(Hop {
                port: 1,
                eth_dst: [7; 6]
            })
        );
        // No ARP entry: the hint, each call's own; without one, unreachable (also when cached).
        assert_eq!(
            r.resolve(addr([10, 0, 2, 1]), hint),
            Ok(Hop {
                port: 0,
                eth_dst: [9; 6]
            })
        );
        assert_eq!(
            r.resolve(addr([10, 0, 2, 1]), Some([8; 6])),
            Ok(Hop {
                port: 0,
                eth_dst: [8; 6]
            })
        );
        assert_eq!(r.resolve(addr([10, 0, 2, 1]), None), Err(SendError::NoArpEntry));
        assert_eq!(r.resolve(addr([11, 0, 0, 1]), hint), Err(SendError::NoRoute));
    }

    #[test]
    fn without_a_route_table_everything_goes_to_port_0() {
        let r = Router::new(vec![port(0)], None, ArpTable::default());
        assert_eq!(
            r.resolve(addr([1, 2, 3, 4]), Some([1; 6])),
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
        assert!(a.resolve(addr([10, 0, 0, 1]), None).is_ok());
        assert_eq!(b.resolve(addr([10, 0, 0, 1]), None), Err(SendError::NoArpEntry));
    }
}
