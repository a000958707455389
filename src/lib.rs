//! mtcp-sendpkt: a drop-in replacement for mOS's `mtcp_sendpkt()` on DPDK 22.11.
//!
//! The data path, one module per step:
//! C call ([`ffi`]) or Rust call ([`api`]) → checked request ([`request`]) → per-core context ([`runtime`], [`core_ctx`]) →
//! frame ([`frame`]) in an mbuf ([`port`]) → TX queue ([`port`]).
//! Around it: the C types ([`abi`]), errors and their errno ([`error`]), the mOS configuration
//! ([`config`]), longest-prefix-match tables ([`route`]) and the knobs ([`settings`]).
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub mod abi;
pub mod api;
pub mod config;
pub mod core_ctx;
pub mod error;
pub mod ffi;
pub mod frame;
pub mod port;
pub mod request;
pub mod route;
pub mod runtime;
pub mod settings;

pub use abi::{ethhdr, iphdr, mctx_t, mtcp_context, mtcp_sendpkt_stats, pkt_info, rte_mempool, tcphdr};
pub use error::{InitError, SendError};
pub use ffi::{
    mtcp_sendpkt, mtcp_sendpkt_attach, mtcp_sendpkt_cores, mtcp_sendpkt_flush, mtcp_sendpkt_init,
    mtcp_sendpkt_init_error, mtcp_sendpkt_shutdown, mtcp_sendpkt_stats,
};
