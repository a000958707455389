//! The C types of mOS 0.3's API (`mtcp_api.h`, `mos_api.h`), laid out exactly as a compiled
//! middlebox expects (`MOS_COMPAT.md`, "The C ABI a middlebox was compiled against").
//!
//! The layout is asserted at compile time below; the C side asserts it again in `tests/c/`.
#![allow(non_camel_case_types)]

use core::mem::{align_of, offset_of, size_of};

// The `cfg(not(mos_*_h))` attributes are always true for Rust; cbindgen turns them into
// `#if !defined(__MTCP_API_H_)` / `#if !defined(__MOS_API_H_)`, so that a source that includes
// mOS's own headers first does not see these types defined twice.

/// `struct mtcp_context` of `mtcp_api.h`: the per-core handle; `cpu` selects the core context.
#[cfg(not(mos_mtcp_api_h))]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mtcp_context {
    pub cpu: libc::c_int,
}

/// `mtcp_sendpkt_reset`: a RST toward the host that sent the observed segment.
pub const MTCP_SENDPKT_TO_SENDER: libc::c_int = 1;
/// `mtcp_sendpkt_reset`: a RST toward the host the observed segment was addressed to.
pub const MTCP_SENDPKT_TO_RECEIVER: libc::c_int = 2;

/// `mctx_t` of `mtcp_api.h`.
#[cfg(not(mos_mtcp_api_h))]
pub type mctx_t = *mut mtcp_context;

/// `struct ethhdr` of `<linux/if_ether.h>` (packed there too: any alignment); only `h_dest` is read.
#[repr(C, packed)]
pub struct ethhdr {
    pub h_dest: [u8; 6],
    pub h_source: [u8; 6],
    pub h_proto: u16,
}

/// `struct iphdr` of `<netinet/ip.h>`. Opaque here: read as bytes, never as fields, so that a
/// caller's unaligned header is fine.
#[repr(C)]
pub struct iphdr {
    _opaque: [u8; 0],
}

/// `struct tcphdr` of `<netinet/tcp.h>`, opaque for the same reason as [`iphdr`].
#[repr(C)]
pub struct tcphdr {
    _opaque: [u8; 0],
}

/// DPDK's `struct rte_mempool`, only ever behind a pointer (declared, not defined, in our header).
#[repr(C)]
pub struct rte_mempool {
    _opaque: [u8; 0],
}

/// `struct pkt_info` of `mos_api.h` (mOS 0.3, with `in_ifidx`: 72 bytes on x86_64).
#[cfg(not(mos_mos_api_h))]
///
/// This implementation reads `iph`, `tcph`, `ethh` (only `h_dest`, and only without an ARP
/// entry), `payload`, `payloadlen` and `ip_len` (to bound how far the TCP header may be read).
/// `cur_ts`, `in_ifidx`, `eth_len`, `offset`, `seq`, `ack_seq` and `window` are ignored, as in mOS
/// (its frame copies sequence numbers and window from `tcph`, not from these scalars).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pkt_info {
    /// Receive time; read-only.
    pub cur_ts: u32,
    /// Input interface index.
    pub in_ifidx: i8,
    pub eth_len: u16,
    /// Length of the IPv4 packet `iph` points to; 0 if unknown.
    pub ip_len: u16,
    /// TCP ring buffer offset.
    pub offset: u64,
    /// Number of payload bytes to send from `payload`.
    pub payloadlen: u16,
    /// Host-order sequence number (ignored: the frame copies `tcph->seq`).
    pub seq: u32,
    /// Host-order acknowledgment number (ignored: the frame copies `tcph->ack_seq`).
    pub ack_seq: u32,
    /// Window (ignored: the frame copies `tcph->window`).
    pub window: u16,
    pub ethh: *mut ethhdr,
    pub iph: *mut iphdr,
    pub tcph: *mut tcphdr,
    pub payload: *mut u8,
}

const _: () = {
    assert!(size_of::<pkt_info>() == 72);
    assert!(align_of::<pkt_info>() == 8);
    assert!(offset_of!(pkt_info, cur_ts) == 0);
    assert!(offset_of!(pkt_info, in_ifidx) == 4);
    assert!(offset_of!(pkt_info, eth_len) == 6);
    assert!(offset_of!(pkt_info, ip_len) == 8);
    assert!(offset_of!(pkt_info, offset) == 16);
    assert!(offset_of!(pkt_info, payloadlen) == 24);
    assert!(offset_of!(pkt_info, seq) == 28);
    assert!(offset_of!(pkt_info, ack_seq) == 32);
    assert!(offset_of!(pkt_info, window) == 36);
    assert!(offset_of!(pkt_info, ethh) == 40);
    assert!(offset_of!(pkt_info, iph) == 48);
    assert!(offset_of!(pkt_info, tcph) == 56);
    assert!(offset_of!(pkt_info, payload) == 64);
    assert!(size_of::<mtcp_context>() == 4);
    assert!(size_of::<ethhdr>() == 14 && align_of::<ethhdr>() == 1);
};

/// Counters of one core context, as `mtcp_sendpkt_stats` reports them.
///
/// `accepted == transmitted + pending` holds whenever no call is in flight on that context.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct mtcp_sendpkt_stats {
    /// Calls that returned 0.
    pub accepted: u64,
    /// Frames the NIC TX queue took.
    pub transmitted: u64,
    /// Accepted frames not yet taken by the TX queue (staged or handed over between threads).
    pub pending: u64,
    /// Calls that returned -1 on this context (bad arguments, no route, no mbuf, TX busy, ...).
    pub rejected: u64,
    /// Of `rejected`: calls that found the mempool empty (ENOBUFS).
    pub no_mbuf: u64,
    /// Of `rejected`: calls that gave up on a TX queue that did not drain (EAGAIN).
    pub tx_busy: u64,
    /// Accepted frames freed unsent at shutdown because the TX queue never took them.
    pub dropped_at_shutdown: u64,
}

#[cfg(test)]
mod header_constants {
    /// The `#define`s cbindgen.toml writes into the header hold the values the library uses.
    #[test]
    fn the_headers_direction_defines_match() {
        let h = include_str!("../include/mtcp_sendpkt.h");
        for (name, value) in [
            ("MTCP_SENDPKT_TO_SENDER", super::MTCP_SENDPKT_TO_SENDER),
            ("MTCP_SENDPKT_TO_RECEIVER", super::MTCP_SENDPKT_TO_RECEIVER),
        ] {
            assert!(h.contains(&format!("#define {name} {value} ")), "{name}");
        }
    }
}
