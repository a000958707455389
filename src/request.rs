//! A send request: what one call asks to send, checked. Both front doors build it here: the C
//! boundary (`ffi`, from raw `pkt_info` pointers) and the Rust API (`api`, from slices).

use crate::error::SendError;
use crate::frame::{self, HeaderFields};

/// A frame to send: the fields of the caller's headers, the payload, and an Ethernet destination
/// to fall back on when the ARP table has no entry.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'a> {
    pub fields: HeaderFields,
    pub payload: &'a [u8],
    /// `pinfo->ethh->h_dest`, used when the ARP table has no entry.
    pub eth_dst_hint: Option<[u8; 6]>,
}

impl<'a> SendRequest<'a> {
    /// Checks an IPv4 header (at least its first 20 bytes) and the readable bytes of a TCP header
    /// (at least 20; options beyond the slice are not looked at).
    #[inline]
    pub fn new(
        ip: &[u8],
        tcp: &[u8],
        payload: &'a [u8],
        eth_dst_hint: Option<[u8; 6]>,
    ) -> Result<Self, SendError> {
        let fields = HeaderFields::parse(ip, tcp).map_err(|_| SendError::NoHeaders)?;
        if payload.len() > frame::MAX_PAYLOAD {
            return Err(SendError::TooLong);
        }
        Ok(Self {
            fields,
            payload,
            eth_dst_hint,
        })
    }
}
