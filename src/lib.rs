//! mtcp-sendpkt: a drop-in replacement for mOS's `mtcp_sendpkt()` on DPDK 22.11.
//!
//! The public surface is small on purpose: the C functions (`mtcp_sendpkt` and the
//! `mtcp_sendpkt_*` extras), their C types ([`abi`]), the Rust API ([`api`]) and its errors
//! ([`error`]). Everything else is the crate's own, so no safe function outside takes a raw
//! pointer it must trust, and a [`api::Core`] kept across shutdown gets errors. For instance
//! the DPDK edge, the lifecycle and the per-core contexts are out of reach:
//!
//! ```compile_fail,E0603
//! let _ = mtcp_sendpkt::port::port_count;
//! ```
//! ```compile_fail,E0603
//! let _ = mtcp_sendpkt::runtime::shutdown;
//! ```
//! ```compile_fail,E0603
//! let _ = mtcp_sendpkt::core_ctx::HANDOFF_CAPACITY;
//! ```
//!
//! The data path, one module per step:
//! C call (`ffi`) or Rust call ([`api`]) → checked request (`request`) → route and ARP (`router`)
//! → per-core context (`core_ctx`, with its access protocol in `exclusive`) → frame (`frame`) in
//! an mbuf → TX queue (`port`). Around it: the lifecycle (`runtime`), the flusher thread
//! (`flusher`), the synchronization primitives the protocol is built and model-checked from
//! (`sync`), the mOS configuration (`config`), prefix tables (`route`) and the knobs (`settings`).
// Under loom only the protocol is exercised: the rest is built but unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

// Under `--cfg loom` only the TX protocol and what it needs are built (see `core_ctx::model`).
pub mod abi;
#[cfg(not(loom))]
pub mod api;
mod checksum;
/// The `mtcp-sendpkt` command-line tool's code (its binary is a two-line `main`). Not an API.
#[cfg(not(loom))]
#[doc(hidden)]
pub mod cli;
mod config;
mod core_ctx;
pub mod error;
mod exclusive;
#[cfg(not(loom))]
mod ffi;
mod flush_signal;
mod flusher;
mod frame;
#[cfg(not(loom))]
mod log;
mod nic;
#[cfg(not(loom))]
mod own_thread;
#[cfg(not(loom))]
mod port;
#[cfg(not(loom))]
mod request;
mod route;
#[cfg(not(loom))]
mod router;
#[cfg(not(loom))]
mod runtime;
mod segment;
mod settings;
mod sync;
#[cfg(not(loom))]
mod tap;
/// The model checks the tap's gate alone.
#[cfg(loom)]
mod tap {
    pub(crate) mod gate;
}
#[cfg(not(loom))]
mod telemetry;

pub use abi::{ethhdr, iphdr, mctx_t, mtcp_context, mtcp_sendpkt_stats, pkt_info, rte_mempool, tcphdr};
pub use error::{InitError, SendError};
#[cfg(not(loom))]
pub use ffi::{
    mtcp_sendpkt, mtcp_sendpkt_attach, mtcp_sendpkt_burst, mtcp_sendpkt_config_warnings, mtcp_sendpkt_cores,
    mtcp_sendpkt_flush, mtcp_sendpkt_init, mtcp_sendpkt_init_error, mtcp_sendpkt_raw, mtcp_sendpkt_reset,
    mtcp_sendpkt_segment, mtcp_sendpkt_shutdown, mtcp_sendpkt_stats, mtcp_sendpkt_tap,
};

/// Pieces the fuzz targets, the micro-benchmark and a few tests reach into (cargo feature
/// `internals`). Not a stable API, but sound: nothing here takes a pointer it must trust.
#[cfg(all(feature = "internals", not(loom)))]
#[doc(hidden)]
pub mod internals {
    pub use crate::config::MosConfig;
    pub use crate::frame::{
        find_timestamp, frame_len, ipv4_header_len, tcp_header_len, write_ack_frame, ChecksumMode,
        FrameError, SegmentView,
    };
    /// Bytes the pcapng tap's rings hold that its writer has not taken yet: 0 once a tap
    /// stopped.
    pub fn tap_pending_bytes() -> usize {
        crate::tap::pending_bytes()
    }
    pub use crate::segment::{
        pieces, raw_frame_len, reset_frame_len, write_raw, write_reset, Direction, IpVersion, Link, Seen,
        Verbatim,
    };

    /// Takes an mbuf from the running library's pool, lets `write` fill its room, sets its
    /// length and (with `offload`) the checksum-offload fields through the library's own code,
    /// and shows it to `inspect` (which may read it through DPDK) with where its room started
    /// and how long it was, before freeing it.
    pub fn with_finished_mbuf<R>(
        len: usize,
        offload: bool,
        write: impl FnOnce(&mut [u8]),
        inspect: impl FnOnce(*const dpdk_sys::rte_mbuf, *const u8, usize) -> R,
    ) -> Option<R> {
        let rt = crate::runtime::running()?;
        let mut m = rt.mempool().alloc()?;
        let offload = offload.then_some(crate::nic::TxOffload {
            l2_len: 14,
            l3_len: 20,
        });
        let mut room_at = (std::ptr::null(), 0);
        m.write_frame(offload, |room| {
            room_at = (room.as_ptr(), room.len());
            write(room);
            Ok::<_, crate::nic::MbufTooSmall>(len)
        })
        .ok()?;
        Some(inspect(m.as_ptr(), room_at.0, room_at.1))
    }
}
