//! Where a frame goes: the output port (route table, longest prefix match; port 0 without one)
//! and the Ethernet destination (ARP table, else the caller's `ethh->h_dest`), as mOS decides
//! them; for IPv6 (RST and raw segments) the same from the IPv6 entries. Each core context remembers
//! the destinations it sent to last ([`HopCache`], kept with the owner's TX state), so a stream of
//! frames to a peer it knows costs a hash and one comparison instead of two table scans.

use crate::error::SendError;
use crate::frame::{self, AckTemplate, ChecksumMode};
use crate::nic::{self, PortInfo, TxFlags};
use crate::request::EthDstHint;
use crate::route::{Arp6Table, ArpTable, Ipv6Prefix, Prefix, PrefixTable};

/// The next hop of one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hop {
    /// Index into [`Router::ports`].
    pub port: usize,
    pub eth_dst: [u8; 6],
}

/// The route and ARP tables of both families.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    /// Destination → index into the ports (`None`: a route to a device that is not in use,
    /// whose frames are refused); `None` without any IPv4 route (everything to the first port).
    pub routes: Option<PrefixTable<Option<usize>>>,
    pub arp: ArpTable,
    /// The same for IPv6.
    pub routes6: Option<PrefixTable<Option<usize>, Ipv6Prefix>>,
    pub arp6: Arp6Table,
}

pub(crate) struct Router {
    /// Tells this router's cached hops from another's (see [`HopCache`]); never 0.
    id: u64,
    ports: Vec<PortInfo>,
    routes: Option<PrefixTable<Option<usize>>>,
    arp: ArpTable,
    routes6: Option<PrefixTable<Option<usize>, Ipv6Prefix>>,
    arp6: Arp6Table,
    tcp_flags_from_packet: bool,
}

/// One lookup: the destination and all an ACK frame to it needs: its port, the port's frame
/// limit and checksum mode, and the Ethernet header (from the ARP entry and the port's MAC;
/// without an ARP entry the destination is the caller's hint, which may differ per call). Keyed by
/// the router's id as well, so that a cached hop never answers for other tables (id 0: an empty
/// slot).
#[derive(Debug, Default, Clone, Copy)]
struct HopSlot {
    router: u64,
    /// The destination, as on the wire.
    daddr: [u8; 4],
    /// The ARP table has an entry: the hop's Ethernet header is whole (else each call's hint
    /// goes into it).
    arp: bool,
    /// An ACK with no payload fits the port, and its flags are ours (not the packet's): what
    /// [`Router::quick_hop`] asks, in one load.
    quick: bool,
    hop: AckHop,
}

/// Destinations the owner's route cache remembers: direct-mapped by a hash of the destination,
/// so that a middlebox answering many flows in turn finds most of them there: all of the 2000
/// flows of `make bench` (addresses in a row, which the hash spreads evenly), about 61% of 2000
/// random ones (e^(-2000/4096)); a miss is looked up again on the out-of-line quick path. 480
/// KiB per context (a core context or a lane), of which a send touches one slot: few flows keep
/// few lines warm, whatever the size. (256 slots held 64 flows but missed on nearly every call
/// of 2000: 589 instructions per call, PMD included, against 297 with 4096.)
const HOP_SLOTS: usize = 4096;

/// A core context's route cache. The owner's ([`HopCache::for_owner`], kept with its TX state)
/// remembers [`HOP_SLOTS`] destinations; the one a guest's call makes (`Default`) remembers one,
/// allocates nothing and is cheap to make.
#[derive(Debug, Default)]
pub(crate) struct HopCache {
    /// The owner's slots; `None` in a guest's cache, which uses `one`.
    slots: Option<Box<[HopSlot; HOP_SLOTS]>>,
    one: HopSlot,
}

impl HopCache {
    /// The slot `daddr` (as on the wire) may be cached in.
    #[inline(always)]
    fn slot_mut(&mut self, daddr: [u8; 4]) -> &mut HopSlot {
        match &mut self.slots {
            Some(slots) => &mut slots[slot_index(daddr)],
            None => &mut self.one,
        }
    }
}

impl crate::core_ctx::Scratch for HopCache {
    fn for_owner() -> Self {
        Self {
            // Made on the heap (a Box::new of the array would build it on the stack first).
            slots: Some(
                vec![HopSlot::default(); HOP_SLOTS]
                    .into_boxed_slice()
                    .try_into()
                    .expect("HOP_SLOTS slots"),
            ),
            one: HopSlot::default(),
        }
    }

    /// A guest's cache starts from the hop the thread's last guest call looked up, so that a
    /// worker thread sending to one peer looks it up once, not on every call. A copy in and out
    /// of a thread-local cell: no allocation, no destructor. No other call of the same thread
    /// runs in between: a signal handler's call while this thread is inside the library is
    /// refused before it gets here (`runtime`'s call guard, `EDEADLK`).
    #[inline]
    fn with_guest<R>(f: impl FnOnce(&mut Self) -> R) -> R {
        thread_local! {
            static GUEST_HOP: std::cell::Cell<Option<HopSlot>> = const { std::cell::Cell::new(None) };
        }
        let one = GUEST_HOP.with(std::cell::Cell::get).unwrap_or_default();
        let mut cache = HopCache { slots: None, one };
        let r = f(&mut cache);
        GUEST_HOP.with(|g| g.set(Some(cache.one)));
        r
    }
}

/// Fibonacci hashing of the destination onto the slots: the top bits of a multiplication by
/// 2^32 / phi, which every bit of the address reaches.
#[inline(always)]
fn slot_index(daddr: [u8; 4]) -> usize {
    const BITS: u32 = HOP_SLOTS.trailing_zeros();
    (u32::from_ne_bytes(daddr).wrapping_mul(0x9E37_79B9) >> (32 - BITS)) as usize
}

/// The next hop of an ACK frame, with what its port asks of the frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AckHop {
    /// Index into [`Router::ports`].
    pub port: usize,
    /// The frame's header with everything but the segment's fields.
    pub template: AckTemplate,
    /// The port's longest frame.
    pub max_frame: usize,
    /// Who computes the checksums: the frame builder, or the port.
    pub checksum: ChecksumMode,
    /// The mbuf's offload request that goes with it.
    pub tx: TxFlags,
}

impl AckHop {
    #[cfg(test)]
    fn hop(&self) -> Hop {
        Hop {
            port: self.port,
            eth_dst: self.template.dst(),
        }
    }
}

impl Router {
    pub(crate) fn new(ports: Vec<PortInfo>, tables: Tables, tcp_flags_from_packet: bool) -> Self {
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            id,
            ports,
            routes: tables.routes,
            arp: tables.arp,
            routes6: tables.routes6,
            arp6: tables.arp6,
            tcp_flags_from_packet,
        }
    }

    /// `MTCP_SENDPKT_TCP_FLAGS=packet`: ACK frames carry the caller's flags byte (the quick
    /// path then never applies: its frames are ACKs).
    pub(crate) fn tcp_flags_from_packet(&self) -> bool {
        self.tcp_flags_from_packet
    }

    pub(crate) fn ports(&self) -> &[PortInfo] {
        &self.ports
    }

    /// Entries of each table: IPv4 routes, IPv4 ARP, IPv6 routes, IPv6 neighbours.
    pub(crate) fn table_sizes(&self) -> [usize; 4] {
        [
            self.routes.as_ref().map_or(0, |t| t.len()),
            self.arp.len(),
            self.routes6.as_ref().map_or(0, |t| t.len()),
            self.arp6.len(),
        ]
    }

    /// The next hop for `daddr` (host order), through `cache`; `hint` is the caller's Ethernet
    /// destination, read only when the ARP table has no entry.
    #[inline(always)]
    pub(crate) fn resolve<'c, 'h>(
        &self,
        cache: &'c mut HopCache,
        daddr: u32,
        hint: impl FnOnce() -> Option<EthDstHint<'h>>,
    ) -> Result<&'c AckHop, SendError> {
        let slot = cache.slot_mut(daddr.to_be_bytes());
        if slot.router != self.id || slot.daddr != daddr.to_be_bytes() {
            self.fill(slot, daddr)?;
        }
        if !slot.arp {
            let dst = hint().ok_or(SendError::NoArpEntry)?.read();
            slot.hop.template.set_dst(dst);
        }
        Ok(&slot.hop)
    }

    /// The hop for `daddr` (as on the wire) on the owner's quick path: what [`Router::resolve`]
    /// returns, from `cache` with no call when it holds the destination, else (with `FILL`)
    /// looked up in the tables into `cache` (out of line) as `resolve` does, so that a middlebox
    /// answering more destinations than the cache holds stays on the quick path. As there,
    /// `hint` (the caller's Ethernet destination) goes into the hop when the ARP table has no
    /// entry. `None` where the quick path does not apply (not cached without `FILL`, no route,
    /// no ARP entry and no hint, an ACK with no payload longer than the port takes, the packet's
    /// own flags, for which no lookup is made): the full path then decides and reports, finding
    /// in `cache` what this put there.
    #[inline(always)]
    pub(crate) fn quick_hop<'c, 'h, const FILL: bool>(
        &self,
        cache: &'c mut HopCache,
        daddr: [u8; 4],
        hint: impl FnOnce() -> Option<EthDstHint<'h>>,
    ) -> Option<&'c AckHop> {
        let slot = cache.slot_mut(daddr);
        let held = slot.router == self.id && slot.daddr == daddr;
        if !(held && slot.quick) {
            // Held but not quick: so for every call. With the packet's flags no hop is quick.
            if !FILL || held || self.tcp_flags_from_packet {
                return None;
            }
            self.fill(slot, u32::from_be_bytes(daddr)).ok()?;
            if !slot.quick {
                return None;
            }
        }
        if !slot.arp {
            slot.hop.template.set_dst(hint()?.read());
        }
        Some(&slot.hop)
    }

    /// [`Router::quick_hop`] without the lookup: the hop `cache` holds for `daddr`, with no call.
    #[inline(always)]
    pub(crate) fn cached<'c, 'h>(
        &self,
        cache: &'c mut HopCache,
        daddr: [u8; 4],
        hint: impl FnOnce() -> Option<EthDstHint<'h>>,
    ) -> Option<&'c AckHop> {
        self.quick_hop::<false>(cache, daddr, hint)
    }

    /// Looks `daddr` up in the tables, into `cache`.
    #[inline(never)]
    fn fill(&self, slot: &mut HopSlot, daddr: u32) -> Result<(), SendError> {
        let port = match &self.routes {
            Some(t) => t.lookup(daddr).copied().flatten().ok_or(SendError::NoRoute)?,
            None => 0,
        };
        let info = &self.ports[port];
        let arp = self.arp.lookup(daddr).copied();
        let (checksum, _) = nic::checksums(info.checksum_offload);
        *slot = HopSlot {
            router: self.id,
            daddr: daddr.to_be_bytes(),
            arp: arp.is_some(),
            quick: info.max_frame >= frame::HEADER_LEN && !self.tcp_flags_from_packet,
            hop: AckHop {
                port,
                template: AckTemplate::new(arp.unwrap_or_default(), info.mac),
                max_frame: info.max_frame,
                checksum,
                tx: info.tx,
            },
        };
        Ok(())
    }

    /// The next hop for `dst` of any family, without the per-context cache (for the RST and raw
    /// segments, which are rare): the route and ARP tables of its family. `fallback` is the
    /// Ethernet destination when no ARP/neighbour entry answers.
    pub(crate) fn next_hop(
        &self,
        dst: std::net::IpAddr,
        fallback: Option<[u8; 6]>,
    ) -> Result<Hop, SendError> {
        fn lookup<P: Prefix>(
            routes: &Option<PrefixTable<Option<usize>, P>>,
            arp: &PrefixTable<[u8; 6], P>,
            a: P::Addr,
        ) -> Result<(usize, Option<[u8; 6]>), SendError> {
            let port = match routes {
                Some(t) => t.lookup(a).copied().flatten().ok_or(SendError::NoRoute)?,
                None => 0,
            };
            Ok((port, arp.lookup(a).copied()))
        }
        let (port, mac) = match dst {
            std::net::IpAddr::V4(a) => lookup(&self.routes, &self.arp, u32::from(a))?,
            std::net::IpAddr::V6(a) => lookup(&self.routes6, &self.arp6, u128::from(a))?,
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

    /// A router with one port and the ARP table `arp`, no routes (everything to port 0).
    fn with_arp(arp: ArpTable) -> Router {
        Router::new(
            vec![port(0)],
            Tables {
                arp,
                ..Tables::default()
            },
            false,
        )
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
        let r = Router::new(
            vec![port(0), port(1)],
            Tables {
                routes: Some(routes),
                arp,
                ..Tables::default()
            },
            false,
        );
        let c = &mut HopCache::default();
        let (nine, eight) = ([9; 6], [8; 6]);
        let hint = Some(EthDstHint::new(&nine));
        let hop = |port, eth_dst| Ok(Hop { port, eth_dst });
        assert_eq!(
            r.resolve(c, addr([10, 0, 1, 7]), || hint).map(|h| h.hop()),
            hop(1, [7; 6])
        );
        // Same destination again (cached): the same answer.
        assert_eq!(
            r.resolve(c, addr([10, 0, 1, 7]), || None).map(|h| h.hop()),
            hop(1, [7; 6])
        );
        // No ARP entry: the hint, each call's own; without one, unreachable (also when cached).
        assert_eq!(
            r.resolve(c, addr([10, 0, 2, 1]), || hint).map(|h| h.hop()),
            hop(0, [9; 6])
        );
        let other = Some(EthDstHint::new(&eight));
        assert_eq!(
            r.resolve(c, addr([10, 0, 2, 1]), || other).map(|h| h.hop()),
            hop(0, [8; 6])
        );
        assert_eq!(
            r.resolve(c, addr([10, 0, 2, 1]), || None).map(|h| h.hop()),
            Err(SendError::NoArpEntry)
        );
        assert_eq!(
            r.resolve(c, addr([11, 0, 0, 1]), || hint).map(|h| h.hop()),
            Err(SendError::NoRoute)
        );
        assert_eq!(
            r.resolve(c, addr([10, 0, 3, 1]), || hint).map(|h| h.hop()),
            Err(SendError::NoRoute)
        );
    }

    #[test]
    fn without_a_route_table_everything_goes_to_port_0() {
        let r = Router::new(vec![port(0)], Tables::default(), false);
        let one = [1; 6];
        let cache = &mut HopCache::default();
        let hop = r.resolve(cache, addr([1, 2, 3, 4]), || Some(EthDstHint::new(&one)));
        assert_eq!(
            hop.map(|h| h.hop()),
            Ok(Hop {
                port: 0,
                eth_dst: [1; 6]
            })
        );
    }

    /// The owner's cache holds many destinations at once, and a slot never answers for another
    /// destination that hashes onto it: 64 flows in turn over 8 next hops, three times over,
    /// each answer checked against the tables, and the quick lookup (`cached`) finds a
    /// destination exactly when the slot holds it.
    #[test]
    fn the_owners_cache_answers_many_destinations_each_with_its_own_hop() {
        use crate::core_ctx::Scratch;
        let mut arp = ArpTable::default();
        for k in 0..8u8 {
            arp.insert(prefix([10, 1, k, 0], 24), [2, 0, 0, 0, 1, k]);
        }
        arp.insert(prefix([10, 1, 0, 0], 16), [2, 0, 0, 0, 1, 0xff]);
        let r = with_arp(arp);
        let c = &mut HopCache::for_owner();
        let dst = |f: u8| [10, 1, f % 8, f / 8 + 1];
        let mut found = 0;
        for _ in 0..3 {
            for f in 0..64u8 {
                let before = r.cached(c, dst(f), || None).map(|h| h.hop());
                let got = r.resolve(c, addr(dst(f)), || None).map(|h| h.hop());
                assert_eq!(
                    got,
                    Ok(Hop {
                        port: 0,
                        eth_dst: [2, 0, 0, 0, 1, f % 8]
                    })
                );
                // Once resolved it is cached, with the same answer; before, only if it was.
                assert_eq!(r.cached(c, dst(f), || None).map(|h| h.hop()), got.ok());
                if let Some(b) = before {
                    assert_eq!(Ok(b), got);
                    found += 1;
                }
            }
        }
        // The second and third rounds find all 64 in the cache: they hash to 64 slots.
        assert_eq!(found, 128, "found cached");
        // Two destinations on one slot: each answers for itself only.
        // (The hash spreads the 2048 addresses of 10.1.0.0/21 over as many slots: the other
        // one comes from the rest of 10.1.0.0/16, which its own ARP entry covers.)
        let (a, b) = (0..=255u8)
            .flat_map(|x| {
                (8..=255u8).flat_map(move |k| (0..=255u8).map(move |y| ([10, 1, 0, x], [10, 1, k, y])))
            })
            .find(|(a, b)| slot_index(*a) == slot_index(*b))
            .expect("two addresses sharing a slot");
        for _ in 0..2 {
            assert_eq!(
                r.resolve(c, addr(a), || None).map(|h| h.hop().eth_dst),
                Ok([2, 0, 0, 0, 1, 0])
            );
            assert!(r.cached(c, b, || None).is_none());
            assert_eq!(
                r.resolve(c, addr(b), || None).map(|h| h.hop().eth_dst),
                Ok([2, 0, 0, 0, 1, 0xff])
            );
            assert!(r.cached(c, a, || None).is_none());
        }
    }

    /// A destination without an ARP entry is cached too: the quick lookup answers with the
    /// caller's Ethernet destination of this call (never an earlier call's), and with nothing
    /// when the caller gives none (the full path then says EHOSTUNREACH).
    #[test]
    fn a_cached_hop_without_arp_entry_takes_each_calls_hint() {
        use crate::core_ctx::Scratch;
        let r = Router::new(vec![port(0)], Tables::default(), false);
        let c = &mut HopCache::for_owner();
        let d = [10, 9, 9, 9];
        let (h1, h2) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        assert!(
            r.cached(c, d, || Some(EthDstHint::new(&h1))).is_none(),
            "not cached yet"
        );
        assert_eq!(
            r.resolve(c, addr(d), || Some(EthDstHint::new(&h1)))
                .map(|h| h.hop().eth_dst),
            Ok(h1)
        );
        for h in [h2, h1, h2] {
            assert_eq!(
                r.cached(c, d, || Some(EthDstHint::new(&h)))
                    .map(|h| h.hop().eth_dst),
                Some(h)
            );
        }
        assert!(r.cached(c, d, || None).is_none(), "no hint, no hop");
    }

    /// The quick path's lookup fills the cache on a miss as the full path does, with the same
    /// answer; it declines (leaving the slot as it was) where the full path reports: no route,
    /// and no ARP entry without a hint (the hop is cached then, for the next call's hint).
    #[test]
    fn the_quick_lookup_fills_a_miss_as_the_full_path_would() {
        use crate::core_ctx::Scratch;
        let mut routes = PrefixTable::default();
        routes.insert(prefix([10, 1, 0, 0], 16), Some(0));
        routes.insert(prefix([10, 2, 0, 0], 16), Some(0));
        routes.insert(prefix([10, 3, 0, 0], 16), Some(0));
        let mut arp = ArpTable::default();
        for k in 0..8u8 {
            arp.insert(prefix([10, 1, k, 0], 24), [2, 0, 0, 0, 1, k]);
        }
        arp.insert(prefix([10, 3, 0, 0], 16), [2, 0, 0, 0, 3, 0]);
        let r = Router::new(
            vec![port(0)],
            Tables {
                routes: Some(routes),
                arp,
                ..Tables::default()
            },
            false,
        );
        let (quick, full) = (&mut HopCache::for_owner(), &mut HopCache::for_owner());
        // 2000 flows over 8 next hops, then more destinations than the cache holds, three times
        // over: every answer is the full path's.
        let flows = (0..2000u32).map(|f| [10, 1, (f % 8) as u8, (f / 8 + 1) as u8]);
        let more = (0..2 * HOP_SLOTS as u32).map(|f| [10, 3, (f >> 8) as u8, f as u8]);
        for _ in 0..3 {
            for d in flows.clone().chain(more.clone()) {
                let got = r.quick_hop::<true>(quick, d, || None).map(|h| h.hop());
                let want = r.resolve(full, addr(d), || None).map(|h| h.hop());
                assert_eq!(got, want.ok(), "{d:?}");
                assert_eq!(r.cached(quick, d, || None).map(|h| h.hop()), got, "cached");
            }
        }
        // No route: declined, nothing cached (the full path says EHOSTUNREACH).
        assert!(r.quick_hop::<true>(quick, [11, 0, 0, 1], || None).is_none());
        assert!(r.cached(quick, [11, 0, 0, 1], || None).is_none());
        // No ARP entry: the caller's destination, else declined with the hop cached.
        let mac = [2, 9, 9, 9, 9, 9];
        assert!(r.quick_hop::<true>(quick, [10, 2, 0, 1], || None).is_none());
        assert_eq!(
            r.cached(quick, [10, 2, 0, 1], || Some(EthDstHint::new(&mac)))
                .map(|h| h.hop().eth_dst),
            Some(mac)
        );
        assert_eq!(
            r.quick_hop::<true>(quick, [10, 2, 0, 1], || Some(EthDstHint::new(&mac)))
                .map(|h| h.hop().eth_dst),
            Some(mac)
        );
    }

    /// The route cache's memory, as its comment gives it.
    #[test]
    fn the_route_cache_takes_480_kib_per_context() {
        assert_eq!(HOP_SLOTS * std::mem::size_of::<HopSlot>(), 480 << 10);
    }

    /// How many destinations the owner's cache answers when a middlebox sends to 2000 of them in
    /// turn: all of 2000 flows over the 8 next hops of `make bench` (addresses in a row, which
    /// the hash spreads evenly), and about 61% (e^(-2000/4096), a direct-mapped cache's) of 2000
    /// random ones; the rest are looked up again (`FILL`) on the out-of-line quick path.
    #[test]
    fn the_owners_cache_holds_most_of_2000_flows() {
        use crate::core_ctx::Scratch;
        let mut arp = ArpTable::default();
        arp.insert(prefix([0, 0, 0, 0], 0), [2; 6]);
        let r = with_arp(arp);
        // The second of two rounds in turn: a destination is found when no other one took its
        // slot since its own call (then the quick lookup fills it again).
        let hits = |dests: &[[u8; 4]]| {
            let c = &mut HopCache::for_owner();
            let mut hits = 0;
            for round in 0..2 {
                for &d in dests {
                    hits += usize::from(round == 1 && r.cached(c, d, || None).is_some());
                    assert!(r.quick_hop::<true>(c, d, || None).is_some());
                }
            }
            hits as f64 / dests.len() as f64
        };
        let flows: Vec<[u8; 4]> = (0..2000u32)
            .map(|f| [10, 1, (f % 8) as u8, (f / 8 + 1) as u8])
            .collect();
        assert_eq!(hits(&flows), 1.0, "the bench's 2000 flows");
        // xorshift32: 2000 distinct pseudo-random destinations.
        let mut x = 0x1234_5678u32;
        let mut random = std::collections::BTreeSet::new();
        while random.len() < 2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            random.insert(x.to_be_bytes());
        }
        let random: Vec<[u8; 4]> = random.into_iter().collect();
        let h = hits(&random);
        assert!((0.55..0.70).contains(&h), "2000 random destinations: {h}");
    }

    /// Where no hop is quick the quick lookup declines on a miss as on a hit: with the packet's
    /// own TCP flags (`MTCP_SENDPKT_TCP_FLAGS=packet`), and on a port whose frames cannot hold
    /// the ACK; the full path still resolves the destination.
    #[test]
    fn the_quick_lookup_declines_where_no_hop_is_quick() {
        use crate::core_ctx::Scratch;
        let mut arp = ArpTable::default();
        arp.insert(prefix([10, 1, 0, 0], 16), [2; 6]);
        let tables = Tables {
            arp,
            ..Tables::default()
        };
        let mut small = port(0);
        small.max_frame = frame::HEADER_LEN - 1;
        for r in [
            Router::new(vec![port(0)], tables.clone(), true),
            Router::new(vec![small], tables.clone(), false),
        ] {
            let c = &mut HopCache::for_owner();
            let d = [10, 1, 0, 1];
            for _ in 0..2 {
                assert!(r.quick_hop::<true>(c, d, || None).is_none());
                assert_eq!(
                    r.resolve(c, addr(d), || None).map(|h| h.hop().eth_dst),
                    Ok([2; 6])
                );
            }
        }
    }

    /// A guest's cache keeps, per thread, the hop its last call looked up: the next call finds
    /// it; another thread, another destination or another router's tables look up their own.
    #[test]
    fn a_guests_cache_keeps_the_threads_last_hop() {
        use crate::core_ctx::Scratch;
        let arp_to = |mac: [u8; 6]| {
            let mut arp = ArpTable::default();
            arp.insert(prefix([10, 1, 0, 0], 16), mac);
            with_arp(arp)
        };
        let (r, other) = (arp_to([2; 6]), arp_to([3; 6]));
        let (d, e) = ([10, 1, 0, 1], [10, 1, 0, 2]);
        let cached = |r: &Router, d| HopCache::with_guest(|c| r.cached(c, d, || None).map(|h| h.hop()));
        let resolve =
            |r: &Router, d| HopCache::with_guest(|c| r.resolve(c, addr(d), || None).map(|h| h.hop()));
        std::thread::spawn(move || {
            assert_eq!(cached(&r, d), None, "a new thread has nothing cached");
            let hop = Ok(Hop {
                port: 0,
                eth_dst: [2; 6],
            });
            assert_eq!(resolve(&r, d), hop);
            assert_eq!(
                cached(&r, d).ok_or(()),
                hop.map_err(|_| ()),
                "the next call finds it"
            );
            assert_eq!(cached(&other, d), None, "never for another router");
            assert_eq!(resolve(&other, d).map(|h| h.eth_dst), Ok([3; 6]));
            assert_eq!(cached(&other, e), None, "one destination");
            std::thread::spawn(move || assert_eq!(cached(&other, d), None, "per thread"))
                .join()
                .unwrap();
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_cached_hop_never_answers_for_another_router() {
        let mut arp = ArpTable::default();
        arp.insert(prefix([10, 0, 0, 1], 32), [1; 6]);
        let a = with_arp(arp);
        let b = Router::new(vec![port(0)], Tables::default(), false);
        let c = &mut HopCache::default();
        assert!(a.resolve(c, addr([10, 0, 0, 1]), || None).is_ok());
        assert_eq!(
            b.resolve(c, addr([10, 0, 0, 1]), || None).map(|h| h.hop()),
            Err(SendError::NoArpEntry)
        );
    }

    #[test]
    fn ipv6_takes_its_own_tables_and_port_0_without_routes() {
        let p6 = |s: &str, len| Ipv6Prefix::new(s.parse().unwrap(), len).unwrap();
        let a6 = |s: &str| std::net::IpAddr::V6(s.parse().unwrap());
        let a4 = |s: &str| std::net::IpAddr::V4(s.parse().unwrap());
        let mut routes6 = PrefixTable::default();
        routes6.insert(p6("fd01::", 64), Some(1));
        routes6.insert(p6("fd00::", 64), Some(0));
        routes6.insert(p6("fd03::", 64), None);
        let mut arp6 = Arp6Table::default();
        arp6.insert(p6("fd01::9", 128), [9; 6]);
        let mut arp = ArpTable::default();
        arp.insert(prefix([10, 0, 0, 1], 32), [4; 6]);
        let r = Router::new(
            vec![port(0), port(1)],
            Tables {
                arp,
                routes6: Some(routes6),
                arp6,
                ..Tables::default()
            },
            false,
        );
        let hop = |port, eth_dst| Ok(Hop { port, eth_dst });
        assert_eq!(r.next_hop(a6("fd01::9"), Some([1; 6])), hop(1, [9; 6]));
        assert_eq!(r.next_hop(a6("fd00::7"), Some([1; 6])), hop(0, [1; 6]));
        assert_eq!(r.next_hop(a6("fd00::7"), None), Err(SendError::NoArpEntry));
        assert_eq!(r.next_hop(a6("fd02::7"), Some([1; 6])), Err(SendError::NoRoute));
        assert_eq!(r.next_hop(a6("fd03::7"), Some([1; 6])), Err(SendError::NoRoute));
        // IPv4 has no route table here: port 0; its ARP table is its own.
        assert_eq!(r.next_hop(a4("10.0.0.1"), None), hop(0, [4; 6]));
        assert_eq!(r.next_hop(a4("10.0.0.2"), None), Err(SendError::NoArpEntry));
        // An IPv6 ARP entry does not answer for IPv4, nor the reverse.
        let only6 = Router::new(vec![port(0)], Tables::default(), false);
        assert_eq!(only6.next_hop(a6("fd01::9"), Some([2; 6])), hop(0, [2; 6]));
    }
}
