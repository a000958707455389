//! A send request: what one call asks to send, checked. Both front doors build it here: the C
//! boundary (`ffi`, from raw `pkt_info` pointers) and the Rust API (`api`, from slices).

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::error::SendError;
use crate::frame::SegmentView;
use crate::segment::{IpVersion, Seen};

/// A frame to send: the caller's headers and payload, and an Ethernet destination to fall back
/// on when the ARP table has no entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendRequest<'a> {
    pub seg: SegmentView<'a>,
    pub eth_dst_hint: Option<EthDstHint<'a>>,
}

/// `pinfo->ethh->h_dest`, read only when the ARP table has no entry: mOS never reads `ethh`,
/// so a middlebox may leave it pointing at memory that is gone by then. Kept as a pointer (a
/// reference would already claim it valid).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EthDstHint<'a> {
    ptr: NonNull<[u8; 6]>,
    _life: PhantomData<&'a [u8; 6]>,
}

impl<'a> EthDstHint<'a> {
    pub(crate) fn new(mac: &'a [u8; 6]) -> Self {
        Self {
            ptr: NonNull::from(mac),
            _life: PhantomData,
        }
    }

    /// # Safety
    /// `p` is NULL, or points to 6 bytes that are readable whenever [`EthDstHint::read`] is
    /// called during `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_ptr(p: *const [u8; 6]) -> Option<Self> {
        NonNull::new(p.cast_mut()).map(|ptr| Self {
            ptr,
            _life: PhantomData,
        })
    }

    #[inline(always)]
    pub(crate) fn read(&self) -> [u8; 6] {
        // SAFETY: readable during 'a (from a reference, or `from_ptr`'s contract); a byte array
        // has no alignment to respect.
        unsafe { self.ptr.as_ptr().read() }
    }
}

/// What an ACK frame is built from, checked: the segment and the Ethernet destination hint, made
/// where the frame is written (so that the C boundary can keep one pointer until then).
pub(crate) trait AckRequest {
    fn view(&self) -> SegmentView<'_>;
    /// Looked at only when the ARP table has no entry for the destination.
    fn eth_dst_hint(&self) -> Option<EthDstHint<'_>>;
}

impl<R: AckRequest> AckRequest for &R {
    #[inline(always)]
    fn view(&self) -> SegmentView<'_> {
        (**self).view()
    }

    #[inline(always)]
    fn eth_dst_hint(&self) -> Option<EthDstHint<'_>> {
        (**self).eth_dst_hint()
    }
}

/// One packet of a burst, read only when its turn comes: as the owner's quick path reads it
/// (`None` for anything but its common case; what it accepts, [`BurstRequest::full`] accepts
/// alike), and checked as the full path checks it.
pub(crate) trait BurstRequest {
    /// An ACK with no payload (its frame is built by code made for that).
    type QuickAck<'q>: AckRequest
    where
        Self: 'q;
    /// A segment with a payload.
    type QuickData<'q>: AckRequest
    where
        Self: 'q;
    type Full: AckRequest;
    fn quick(&self) -> Option<QuickPacket<Self::QuickAck<'_>, Self::QuickData<'_>>>;
    fn full(self) -> Result<Self::Full, SendError>;
}

/// What [`BurstRequest::quick`] read.
pub(crate) enum QuickPacket<A, D> {
    Ack(A),
    Data(D),
}

/// A request checked beforehand (the Rust API's): quick as it is, when it was accepted.
impl<R: AckRequest> BurstRequest for Result<R, SendError> {
    type QuickAck<'q>
        = &'q R
    where
        Self: 'q;
    type QuickData<'q>
        = &'q R
    where
        Self: 'q;
    type Full = R;

    #[inline(always)]
    fn quick(&self) -> Option<QuickPacket<&R, &R>> {
        self.as_ref().ok().map(QuickPacket::Data)
    }

    #[inline(always)]
    fn full(self) -> Result<R, SendError> {
        self
    }
}

impl AckRequest for SendRequest<'_> {
    #[inline(always)]
    fn view(&self) -> SegmentView<'_> {
        self.seg
    }

    #[inline(always)]
    fn eth_dst_hint(&self) -> Option<EthDstHint<'_>> {
        self.eth_dst_hint
    }
}

impl<'a> SendRequest<'a> {
    /// Checks an IPv4 header (at least its first 20 bytes) and the readable bytes of a TCP header
    /// (at least 20; options beyond the slice are not looked at).
    #[inline(always)]
    pub(crate) fn new(
        ip: &'a [u8],
        tcp: &'a [u8],
        payload: &'a [u8],
        eth_dst_hint: Option<EthDstHint<'a>>,
    ) -> Result<Self, SendError> {
        let seg = SegmentView::new(ip, tcp, payload)?;
        Ok(Self { seg, eth_dst_hint })
    }
}

/// A request to send beyond mOS's ACK ([`crate::segment`]): the segment (observed, for a RST; to
/// send as it is, for a raw one), its payload (raw only), and what the caller's Ethernet header
/// says (its addresses, read as fallbacks, and the VLAN tags to keep).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentRequest<'a> {
    pub seen: Seen<'a>,
    pub payload: &'a [u8],
    pub ethernet: Option<Ethernet<'a>>,
}

/// The caller's Ethernet header, with the VLAN tags between it and the IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ethernet<'a> {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub tags: &'a [u8],
}

impl<'a> Ethernet<'a> {
    /// From the bytes before the IP header (at least the 14 of an Ethernet header): the tags when
    /// they are valid 802.1Q/802.1ad tags leading to `version`'s ethertype, else none.
    pub(crate) fn new(l2: &'a [u8], version: IpVersion) -> Option<Self> {
        let dst = l2.get(0..6)?.try_into().ok()?;
        let src = l2.get(6..12)?.try_into().ok()?;
        Some(Self {
            dst,
            src,
            tags: crate::segment::vlan_tags(l2, version).unwrap_or(&[]),
        })
    }
}
