//! The Rust API (the crate's rlib): the same path as the C call, with slices instead of raw
//! pointers and `Result` instead of errno.
//!
//! ```no_run
//! # fn main() -> Result<(), mtcp_sendpkt::SendError> {
//! // Configured from MTCP_SENDPKT_EAL_ARGS / MTCP_SENDPKT_CONF, like the C library.
//! let core = mtcp_sendpkt::api::core(0)?;
//! let observed: &[u8] = &[/* an IPv4/TCP packet */];
//! core.send(&mtcp_sendpkt::api::TcpPacket::from_ipv4(observed)?)?;
//! # Ok(()) }
//! ```

use crate::abi::mtcp_sendpkt_stats;
use crate::core_ctx::CoreContext;
use crate::error::SendError;
use crate::frame;
use crate::request::SendRequest;
use crate::runtime::{self, Runtime};

/// The headers and payload of a TCP packet to send, as `struct pkt_info` would point to them.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<'a> {
    /// The IPv4 header (at least 20 bytes; only the first 20 are read).
    pub ip_header: &'a [u8],
    /// The TCP header with its options (data offset × 4 bytes, or fewer: options beyond the slice
    /// are not looked at).
    pub tcp_header: &'a [u8],
    pub payload: &'a [u8],
    /// Ethernet destination when the ARP table has no entry (`pinfo->ethh->h_dest`).
    pub eth_dst: Option<[u8; 6]>,
}

impl<'a> TcpPacket<'a> {
    /// Splits a whole IPv4/TCP packet (as a middlebox received it) into header and payload; the
    /// payload ends where the IPv4 total length says.
    pub fn from_ipv4(packet: &'a [u8]) -> Result<Self, SendError> {
        let ihl = frame::ipv4_header_len(packet).map_err(|_| SendError::NoHeaders)?;
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).min(packet.len());
        let tcp = packet.get(ihl..total).ok_or(SendError::NoHeaders)?;
        let doff = frame::tcp_header_len(tcp).map_err(|_| SendError::NoHeaders)?;
        let (tcp_header, payload) = tcp.split_at(doff.min(tcp.len()));
        Ok(Self {
            ip_header: &packet[..ihl],
            tcp_header,
            payload,
            eth_dst: None,
        })
    }
}

/// One core context: what a C caller reaches through `mctx->cpu`.
#[derive(Clone, Copy)]
pub struct Core {
    rt: &'static Runtime,
    ctx: &'static CoreContext,
}

/// Core context `cpu`, starting the library from the environment on first use.
#[inline]
pub fn core(cpu: usize) -> Result<Core, SendError> {
    let rt = runtime::get().ok_or(SendError::NotInitialized)?;
    let ctx = rt.context(cpu)?;
    Ok(Core { rt, ctx })
}

/// Number of core contexts (valid `cpu` values are 0 to this minus 1).
pub fn cores() -> Result<usize, SendError> {
    runtime::get()
        .map(Runtime::cores)
        .ok_or(SendError::NotInitialized)
}

impl Core {
    /// Builds the frame for `packet` and hands it to this core's TX queue (or its staging).
    pub fn send(&self, packet: &TcpPacket<'_>) -> Result<(), SendError> {
        let r = SendRequest::new(
            packet.ip_header,
            packet.tcp_header,
            packet.payload,
            packet.eth_dst,
        )
        .and_then(|req| self.send_request(&req));
        self.count(r)
    }

    /// Sends a checked request (not counted: callers count through [`Core::count`]).
    #[inline]
    pub(crate) fn send_request(&self, req: &SendRequest<'_>) -> Result<(), SendError> {
        self.rt.send(self.ctx, req)
    }

    /// Pushes what this core has staged to the TX queues now; returns how many frames they took.
    /// `TxBusy` if some are still staged after the bounded wait (they are retried, not dropped).
    pub fn flush(&self) -> Result<usize, SendError> {
        match self.rt.flush(self.ctx) {
            Some(o) if o.left == 0 => Ok(o.transmitted),
            _ => Err(SendError::TxBusy),
        }
    }

    pub fn stats(&self) -> mtcp_sendpkt_stats {
        self.ctx.stats()
    }

    /// Counts a failed send against this core (for `stats().rejected`).
    #[inline]
    pub(crate) fn count<T>(&self, r: Result<T, SendError>) -> Result<T, SendError> {
        if let Err(e) = &r {
            self.ctx.note_rejected(*e);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_ipv4_splits_at_ihl_doff_and_total_length() {
        let mut p = vec![0u8; 24 + 24 + 5 + 3]; // IHL 6, doff 6, 5 payload bytes, 3 bytes of padding
        p[0] = 0x46;
        p[2..4].copy_from_slice(&53u16.to_be_bytes());
        p[24 + 12] = 6 << 4;
        let t = TcpPacket::from_ipv4(&p).unwrap();
        assert_eq!(
            (t.ip_header.len(), t.tcp_header.len(), t.payload.len()),
            (24, 24, 5)
        );
        assert_eq!(TcpPacket::from_ipv4(&p[..30]).unwrap_err(), SendError::NoHeaders);
        p[0] = 0x65;
        assert_eq!(TcpPacket::from_ipv4(&p).unwrap_err(), SendError::NoHeaders);
    }
}
