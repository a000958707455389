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
use crate::port::Dpdk;
use crate::request::{EthDstHint, Ethernet, SegmentRequest, SendRequest};
use crate::router::HopCache;
use crate::runtime::{self, Runtime};
use crate::segment::{self, Direction, IpVersion, Seen};

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

impl TcpPacket<'_> {
    /// TSval and TSecr of the TCP header's Timestamp option (as on the wire, big-endian), if it
    /// has a well-formed one: what a middlebox needs to answer a segment the way its receiver
    /// would.
    pub fn timestamp(&self) -> Option<([u8; 4], [u8; 4])> {
        frame::find_timestamp(self.tcp_header.get(20..)?)
    }
}

/// Any TCP segment, for [`Core::reset`] (one the middlebox observed) and [`Core::send_raw`]
/// (one to send as it is): what `struct pkt_info` points to for `mtcp_sendpkt_reset` and
/// `mtcp_sendpkt_segment`.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The frame's bytes before the IP header, when known: the Ethernet header and any 802.1Q /
    /// 802.1ad tags (kept on the frames sent). Its addresses are the fallback Ethernet
    /// destination when the ARP table has no entry.
    pub ethernet: Option<&'a [u8]>,
    /// The IPv4 header with its options, or the IPv6 header with every extension header before
    /// TCP.
    pub ip_header: &'a [u8],
    /// The TCP header with its options.
    pub tcp_header: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Splits an Ethernet frame (VLAN tags allowed) carrying IPv4 or IPv6 and TCP; the payload
    /// ends where the IP length says.
    pub fn from_ethernet(frame: &'a [u8]) -> Result<Self, SendError> {
        let mut at = 12;
        while let Some(t) = frame.get(at..at + 2) {
            match u16::from_be_bytes([t[0], t[1]]) {
                0x8100 | 0x88a8 | 0x9100 => at += 4,
                _ => break,
            }
        }
        let ip = frame.get(at + 2..).ok_or(SendError::NoHeaders)?;
        let mut s = Self::from_ip(ip)?;
        s.ethernet = Some(&frame[..at + 2]);
        Ok(s)
    }

    /// Splits an IPv4 or IPv6 packet (IPv6 extension headers allowed) carrying TCP.
    pub fn from_ip(packet: &'a [u8]) -> Result<Self, SendError> {
        let version = packet
            .first()
            .and_then(|&b| IpVersion::of(b))
            .ok_or(SendError::NoHeaders)?;
        let (ip_len, total) = match version {
            IpVersion::V4 => {
                let ihl = segment::ip_header_len(packet).ok_or(SendError::NoHeaders)?;
                let total = usize::from(u16::from_be_bytes([
                    *packet.get(2).ok_or(SendError::NoHeaders)?,
                    packet[3],
                ]));
                (ihl, total)
            }
            IpVersion::V6 => {
                let fixed = packet.get(..40).ok_or(SendError::NoHeaders)?;
                let total = 40 + usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
                (
                    segment::ipv6_headers_len(packet).ok_or(SendError::NoHeaders)?,
                    total,
                )
            }
        };
        let packet = &packet[..total.min(packet.len())];
        let tcp = packet.get(ip_len..).ok_or(SendError::NoHeaders)?;
        let doff = frame::tcp_header_len(tcp).map_err(|_| SendError::NoHeaders)?;
        let tcp_header = tcp.get(..doff).ok_or(SendError::NoHeaders)?;
        Ok(Self {
            ethernet: None,
            ip_header: &packet[..ip_len],
            tcp_header,
            payload: &tcp[doff..],
        })
    }

    /// The checked request: the headers, and the Ethernet header's addresses and tags.
    pub(crate) fn request(&self) -> Result<SegmentRequest<'a>, SendError> {
        self.request_with_len(self.payload.len())
    }

    /// As [`Segment::request`], for a payload of `payload_len` bytes that is not at hand (a
    /// RST needs only its length).
    pub(crate) fn request_with_len(&self, payload_len: usize) -> Result<SegmentRequest<'a>, SendError> {
        let seen = Seen::new(self.ip_header, self.tcp_header, payload_len)?;
        Ok(SegmentRequest {
            seen,
            payload: self.payload,
            ethernet: self.ethernet.and_then(|l2| Ethernet::new(l2, seen.version())),
        })
    }
}

/// Which ways [`Core::reset`] sends a RST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directions {
    /// Toward the host that sent the observed segment.
    pub to_sender: bool,
    /// Toward the host the observed segment was addressed to.
    pub to_receiver: bool,
}

impl Directions {
    pub const BOTH: Directions = Directions {
        to_sender: true,
        to_receiver: true,
    };

    /// From the C flags (`MTCP_SENDPKT_TO_SENDER` | `MTCP_SENDPKT_TO_RECEIVER`).
    pub fn from_bits(bits: i32) -> Result<Self, SendError> {
        match bits {
            1..=3 => Ok(Directions {
                to_sender: bits & crate::abi::MTCP_SENDPKT_TO_SENDER != 0,
                to_receiver: bits & crate::abi::MTCP_SENDPKT_TO_RECEIVER != 0,
            }),
            _ => Err(SendError::BadDirections),
        }
    }

    fn list(self) -> ([Direction; 2], usize) {
        match (self.to_receiver, self.to_sender) {
            (true, true) => ([Direction::ToReceiver, Direction::ToSender], 2),
            (true, false) => ([Direction::ToReceiver; 2], 1),
            (false, true) => ([Direction::ToSender; 2], 1),
            (false, false) => ([Direction::ToSender; 2], 0),
        }
    }
}

/// One core context: what a C caller reaches through `mctx->cpu`. A `Core` kept after
/// [`crate::mtcp_sendpkt_shutdown`] only gets errors (`NotInitialized`).
#[derive(Clone, Copy)]
pub struct Core {
    rt: &'static Runtime,
    ctx: &'static CoreContext<Dpdk, HopCache>,
}

/// The DPDK release the library runs on (`rte_version()`, e.g. `25.11.2`), and the one it was
/// built against (pkg-config's `libdpdk`). Neither starts the library.
pub fn dpdk_version() -> (String, &'static str) {
    (crate::port::dpdk_version(), crate::port::DPDK_BUILT)
}

/// Core context `cpu`, starting the library from the environment on first use.
#[inline(always)]
pub fn core(cpu: usize) -> Result<Core, SendError> {
    let rt = runtime::get().ok_or_else(runtime::why_not_running)?;
    let ctx = rt.context(cpu)?;
    Ok(Core { rt, ctx })
}

/// Number of core contexts (valid `cpu` values are 0 to this minus 1).
pub fn cores() -> Result<usize, SendError> {
    runtime::get()
        .map(Runtime::cores)
        .ok_or(SendError::NotInitialized)
}

/// A DPDK port the library sends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSummary {
    /// DPDK port id (`dpdkN` in the mOS configuration).
    pub id: u16,
    /// The device's name (`net_pcap0`, a PCI address, ...).
    pub name: String,
    pub mac: [u8; 6],
    pub mtu: u16,
    /// IPv4 and TCP checksums are computed by the NIC (else in software).
    pub checksum_offload: bool,
}

/// The ports in use, in route-table order (the route table's `dpdkN` picks among them).
pub fn ports() -> Result<Vec<PortSummary>, SendError> {
    let rt = runtime::get().ok_or(SendError::NotInitialized)?;
    Ok(rt
        .ports()
        .iter()
        .map(|p| PortSummary {
            id: p.id,
            name: p.name.clone(),
            mac: p.mac,
            mtu: p.mtu,
            checksum_offload: p.checksum_offload,
        })
        .collect())
}

/// Starts the pcapng tap on `path` (replacing a running one, whose file is completed first), or
/// stops it (`None`): from then on, a copy of every frame a TX queue takes is written to the file
/// (one interface per port, nanosecond timestamps). Stopping, like shutdown and normal exit,
/// returns once the file is complete. Errors carry their errno (`EACCES`: the library is not
/// running; else the file's or DPDK's).
pub fn tap(path: Option<&std::path::Path>) -> std::io::Result<()> {
    // Not from a signal handler that interrupted the library on this thread (which may hold the
    // tap's lock): EDEADLK.
    let _call = runtime::enter_call().map_err(|e| std::io::Error::from_raw_os_error(e.errno()))?;
    let Some(path) = path else {
        crate::tap::stop();
        return Ok(());
    };
    let rt = runtime::get().ok_or_else(|| std::io::Error::from_raw_os_error(libc::EACCES))?;
    crate::tap::start(path, rt.tap_interfaces())
}

/// Free mbufs: those in the library's mempool and those the core contexts keep at hand (taken
/// from the pool in bulk; [`Core::flush`] gives them back). With nothing in flight, it returns
/// to its value after start-up: a leak check.
pub fn free_mbufs() -> Result<u64, SendError> {
    let rt = runtime::get().ok_or(SendError::NotInitialized)?;
    rt.free_mbufs()
}

impl Core {
    /// Builds the frame for `packet` and hands it to this core's TX queue (or its staging).
    pub fn send(&self, packet: &TcpPacket<'_>) -> Result<(), SendError> {
        let r = SendRequest::new(
            packet.ip_header,
            packet.tcp_header,
            packet.payload,
            packet.eth_dst.as_ref().map(EthDstHint::new),
        )
        .and_then(|req| self.send_request(&req, true));
        self.count(r)
    }

    /// Sends `packets` in order, each as [`Core::send`] would, but entering this core's TX side
    /// once for all of them (see `mtcp_sendpkt_burst(3)`). Stops at the first packet refused.
    /// Returns how many were accepted (the first ones), and why the next one was refused, if one
    /// was: `(packets.len(), None)` when all were accepted.
    pub fn send_burst(&self, packets: &[TcpPacket<'_>]) -> (usize, Option<SendError>) {
        let reqs = packets.iter().map(|p| {
            SendRequest::new(
                p.ip_header,
                p.tcp_header,
                p.payload,
                p.eth_dst.as_ref().map(EthDstHint::new),
            )
        });
        let mut refused = None;
        let n = self.send_requests(reqs, |e| {
            refused = Some(e);
            false
        });
        if let Some(e) = refused {
            self.ctx.note_rejected(e);
        }
        (n, refused)
    }

    /// Sends checked requests in one entry (see [`Runtime::send_burst`]; not counted: callers
    /// count each refusal through [`Core::count`]).
    #[inline(always)]
    pub(crate) fn send_requests<R: crate::request::BurstRequest>(
        &self,
        reqs: impl Iterator<Item = R>,
        carry_on: impl FnMut(SendError) -> bool,
    ) -> usize {
        self.rt.send_burst(self.tx(), reqs, carry_on)
    }

    /// The context this thread's frames for this core go through: the core's, or the thread's
    /// lane of it (see [`Runtime::sender`]).
    #[inline(always)]
    fn tx(&self) -> &'static CoreContext<Dpdk, HopCache> {
        self.rt.sender(self.ctx)
    }

    /// Sends a checked request (not counted: callers count through [`Core::count`]).
    ///
    /// The owner's quick path first (see [`Runtime::try_send_quick_in`]): `req`'s headers are
    /// checked, so their errors were reported already, and the quick path only stages the
    /// frame the full path would, or declines (the route cache perhaps refilled, as the full
    /// path would) and the full path reports the rest (no route, no ARP entry, ...). It takes
    /// what `mtcp_sendpkt`'s own quick path does not read (another TCP option layout than NOP,
    /// NOP, Timestamp; a Rust caller's `Core::send`).
    /// `quick`: whether to try the quick path first (the C call's full path already tried it
    /// for what its own reading of the headers took).
    #[inline(always)]
    pub(crate) fn send_request(
        &self,
        req: &impl crate::request::AckRequest,
        quick: bool,
    ) -> Result<(), SendError> {
        let tx = self.tx();
        // A lane's quick path was not tried yet (the C call's was the core's).
        if !quick && std::ptr::eq(tx, self.ctx) {
            return self.rt.send(tx, req);
        }
        match self.rt.try_send_quick_in::<true>(tx, req) {
            crate::core_ctx::Quick::Staged => Ok(()),
            crate::core_ctx::Quick::Finish(f) => {
                // The frame is accepted and staged whatever the burst does; even after a panic
                // (a bug of this library) an error would have the caller send it again.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime::finish_quick(f)));
                Ok(())
            }
            crate::core_ctx::Quick::Declined => self.rt.send(tx, req),
        }
    }

    /// Resets the flow of `seen` (a segment the middlebox observed) with a RST toward each of
    /// `directions`, numbered so that Linux accepts it (see `mtcp_sendpkt_reset(3)`); returns the
    /// number of frames put on a TX queue (1 or 2).
    pub fn reset(&self, seen: &Segment<'_>, directions: Directions) -> Result<usize, SendError> {
        let r = seen
            .request()
            .and_then(|req| self.reset_request(&req, directions));
        self.count(r)
    }

    pub(crate) fn reset_request(
        &self,
        req: &SegmentRequest<'_>,
        directions: Directions,
    ) -> Result<usize, SendError> {
        let (list, n) = directions.list();
        if n == 0 {
            return Err(SendError::BadDirections);
        }
        let sent = self.rt.reset(self.tx(), req, &list[..n])?;
        self.ctx.note_segments(true, sent);
        Ok(sent)
    }

    /// Sends `segment` as it is (IPv4 options, IPv6 extension headers, every TCP flag and
    /// option kept; lengths and checksums fixed), cut into frames that fit the port's MTU;
    /// returns the number of frames put on a TX queue.
    pub fn send_raw(&self, segment: &Segment<'_>) -> Result<usize, SendError> {
        let r = segment.request().and_then(|req| self.raw_request(&req));
        self.count(r)
    }

    pub(crate) fn raw_request(&self, req: &SegmentRequest<'_>) -> Result<usize, SendError> {
        let sent = self.rt.send_raw(self.tx(), req)?;
        self.ctx.note_segments(false, sent);
        Ok(sent)
    }

    /// Sends a whole Ethernet frame (IPv4 or IPv6, VLAN tags kept) as it is but for its two MAC
    /// addresses: the destination's ARP/neighbour entry and the output port's, chosen by the
    /// route of its IP destination. One frame, never cut (`TooLong` when the port does not take
    /// it); no checksum is recomputed. What the mmTLS fork's `mtcp_sendpkt_raw` does.
    pub fn send_frame(&self, frame: &[u8]) -> Result<(), SendError> {
        let r = crate::segment::Verbatim::of(frame)
            .ok_or(SendError::BadFrame)
            .and_then(|f| self.frame_request(&f));
        self.count(r)
    }

    pub(crate) fn frame_request(&self, frame: &crate::segment::Verbatim<'_>) -> Result<(), SendError> {
        self.rt.send_verbatim(self.tx(), frame)?;
        self.ctx.note_segments(false, 1);
        Ok(())
    }

    /// Pushes what this core (and its lanes) has staged to the TX queues now; returns how many
    /// frames they took. `TxBusy` if some are still staged after the bounded wait (they are
    /// retried, not dropped).
    pub fn flush(&self) -> Result<usize, SendError> {
        let o = self.rt.flush(self.ctx)?;
        if o.left == 0 {
            Ok(o.transmitted)
        } else {
            Err(SendError::TxBusy)
        }
    }

    /// `MTCP_SENDPKT_ERRORS=mos` is in force (the C call then returns 0 where mOS did).
    pub(crate) fn mos_errors(&self) -> bool {
        self.rt.mos_errors()
    }

    /// This core's counters, its lanes' included.
    pub fn stats(&self) -> mtcp_sendpkt_stats {
        self.rt.core_counters(self.ctx).stats
    }

    /// Counts a failed send against this core (for `stats().rejected`).
    #[inline(always)]
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
