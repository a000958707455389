//! The C boundary: every `extern "C"` function of the library. Each one turns raw pointers into
//! checked Rust values, sets errno on every -1, and contains panics (a panic becomes -1 with errno
//! EIO: it is a bug in this library, and the caller's process keeps running).

use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use crate::abi::{mctx_t, mtcp_sendpkt_stats, pkt_info, rte_mempool};
use crate::api;
use crate::core_ctx::Quick;
use crate::error::SendError;
use crate::frame::{self, SegmentView};
use crate::request::{AckRequest, EthDstHint};
use crate::runtime::{self, InitOutcome, QuickFinish, QuickSend};
use crate::segment::{self, IpVersion};
use crate::settings::Settings;

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = e }
}

/// Runs `f`, mapping `Err` and panics to -1 with errno.
#[inline(always)]
fn guarded(f: impl FnOnce() -> Result<c_int, SendError>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => fail(e),
        Err(_) => fail(SendError::Internal),
    }
}

/// Reads `len` bytes at `p`.
///
/// # Safety
/// `p` points to at least `len` readable bytes that stay unchanged during the call.
#[inline]
unsafe fn bytes<'a, T>(p: *const T, len: usize) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }
}

/// The core context `mctx->cpu` names.
///
/// # Safety
/// `mctx` is NULL or points to a valid `struct mtcp_context`.
#[inline(always)]
unsafe fn core_of(mctx: mctx_t) -> Result<api::Core, SendError> {
    // SAFETY: guaranteed by the caller.
    let cpu = unsafe { mctx.as_ref() }.ok_or(SendError::NoContext)?.cpu;
    api::core(usize::try_from(cpu).map_err(|_| SendError::NoContext)?)
}

/// The checked content of a `pkt_info`: the fields of its headers and its payload.
///
/// # Safety
/// The pointers in `pi` that are not NULL point to what `mos_api.h` says: `iph` to an IPv4 header
/// of IHL × 4 bytes, `tcph` to a TCP header of data-offset × 4 bytes (or fewer, when `ip_len` says
/// the packet ends sooner and `tcph` follows `iph` in it), `ethh` to an Ethernet header, `payload`
/// to `payloadlen` bytes.
///
/// The checks come in mOS's order: the headers (`ENODATA`), then what mOS does not check: a
/// negative `sockid` (`EBADF`), a NULL payload (`EINVAL`), a payload too long (`EMSGSIZE`).
#[inline(always)]
unsafe fn read_request(pi: &pkt_info, sockid: c_int) -> Result<PktInfoRequest<'_>, SendError> {
    if pi.iph.is_null() || pi.tcph.is_null() {
        return Err(SendError::NoHeaders);
    }
    // Nothing is read before it is known to be there: first the IPv4 header's first byte.
    // SAFETY: iph is non-NULL and points to an IPv4 header.
    let ihl_len = ipv4_header_len(unsafe { pi.iph.cast::<u8>().read() }).ok_or(SendError::NoHeaders)?;
    let readable = tcp_readable(pi, ihl_len);
    if readable < 20 {
        return Err(SendError::NoHeaders);
    }
    // SAFETY: IHL >= 5: iph points to at least 20 header bytes; 20 bytes of the TCP header are
    // readable (byte arrays: any alignment).
    let (ip, tcp): (&[u8; 20], &[u8; 20]) = unsafe { (&*pi.iph.cast(), &*pi.tcph.cast()) };
    // The option bytes the data offset claims, cut by `readable`. A data offset below 5 is
    // refused here already (SegmentView::headers would refuse it too, with the same errno).
    let claimed = usize::from(tcp[12] >> 4) * 4;
    if claimed < 20 {
        return Err(SendError::NoHeaders);
    }
    let options_len = claimed.min(readable) - 20;
    // SAFETY: those bytes are in the caller's TCP header, inside the packet.
    let options = unsafe { bytes(pi.tcph.cast::<u8>().add(20), options_len) };
    let seg = SegmentView::headers(ip, tcp, options)?;
    if sockid < 0 {
        return Err(SendError::BadSocket);
    }
    if pi.payloadlen != 0 && pi.payload.is_null() {
        return Err(SendError::NullPayload);
    }
    if usize::from(pi.payloadlen) > frame::MAX_PAYLOAD {
        return Err(SendError::TooLong);
    }
    Ok(PktInfoRequest { pi, ts: seg.ts() })
}

/// The IPv4 header's length (IHL × 4) from its first byte: `None` unless version 4 and IHL >= 5
/// (as `SegmentView::headers` checks).
#[inline(always)]
fn ipv4_header_len(version_ihl: u8) -> Option<usize> {
    (version_ihl.wrapping_sub(0x45) <= 0x0a).then_some(usize::from(version_ihl & 0x0f) * 4)
}

/// How much of the TCP header may be read: its data offset, cut where the IP packet ends when
/// the caller told us its length and the TCP header follows the IP header (`ihl_len` bytes) in it.
#[inline(always)]
fn tcp_readable(pi: &pkt_info, ihl_len: usize) -> usize {
    let in_packet = pi.ip_len != 0 && (pi.iph as usize).wrapping_add(ihl_len) == pi.tcph as usize;
    if in_packet {
        usize::from(pi.ip_len).saturating_sub(ihl_len)
    } else {
        frame::MAX_TCP_HEADER
    }
}

/// [`read_request`]'s common case, checked with no call and no error: IPv4 headers, a TCP header
/// with no options (data offset 5) or of data offset 8 or more whose options begin NOP, NOP,
/// Timestamp, readable as [`tcp_readable`] says (in a packet of `ip_len` bytes that holds them
/// when the caller gave that length and the TCP header follows the IPv4 one; else as long as
/// its data offset says); `sockid` >= 0; no payload, or with `DATA` a payload
/// (at a non-NULL pointer, at most `MAX_PAYLOAD` bytes). What it accepts, `read_request` accepts,
/// with the same Timestamp. `None` for anything else: the full path decides, and reports.
///
/// # Safety
/// As for [`read_request`].
#[inline(always)]
unsafe fn read_quick<const DATA: bool, const BARE: bool>(
    pi: &pkt_info,
    sockid: c_int,
) -> Option<QuickRequest<'_, DATA, BARE>> {
    if pi.iph.is_null() || pi.tcph.is_null() || sockid < 0 {
        return None;
    }
    let payload_ok = if DATA {
        pi.payloadlen != 0 && !pi.payload.is_null() && usize::from(pi.payloadlen) <= frame::MAX_PAYLOAD
    } else {
        pi.payloadlen == 0
    };
    if !payload_ok {
        return None;
    }
    // As in `read_request`: nothing read before it is known to be there.
    // SAFETY: iph is non-NULL and points to an IPv4 header.
    let version_ihl = unsafe { pi.iph.cast::<u8>().read() };
    // (As `ipv4_header_len`, in the branch it is tested with.)
    if version_ihl.wrapping_sub(0x45) > 0x0a {
        return None;
    }
    let ihl_len = usize::from(version_ihl & 0x0f) * 4;
    // As `tcp_readable`: in mOS's packet (`ip_len` set, the TCP header after the IPv4 one) the
    // TCP header's bytes are those the packet holds; in a hand-built `pkt_info` (`ip_len` 0, or
    // headers apart) those its data offset claims.
    // (The same test as `tcp_readable`'s, written out: through a shared helper the compiler
    // lays out the quick path's branches worse, 10 instructions more for a hand-built call.)
    let in_packet = pi.ip_len != 0 && pi.tcph as usize == (pi.iph as usize).wrapping_add(ihl_len);
    if in_packet && usize::from(pi.ip_len) < ihl_len + 32 {
        // Fewer than 32 bytes of TCP header in the packet: only a header without options (data
        // offset 5, no Timestamp) can be quick, with BARE.
        if !BARE || usize::from(pi.ip_len) < ihl_len + 20 {
            return None;
        }
        // SAFETY: at least 20 bytes of the TCP header are in the packet (checked just above).
        if unsafe { pi.tcph.cast::<u8>().add(12).read() } >> 4 != 5 {
            return None;
        }
    } else {
        // SAFETY: at least 20 bytes of the TCP header are readable (in the packet, else the
        // caller's contract).
        let doff = unsafe { pi.tcph.cast::<u8>().add(12).read() };
        if doff >= 0x80 {
            // SAFETY: the data offset claims 32 bytes or more, and that many are readable (in
            // the packet, checked above; else the caller's contract): the bytes `read_request`
            // reads as the header and its first options.
            let options: &[u8; 12] = unsafe { &*pi.tcph.cast::<u8>().add(20).cast() };
            frame::leading_timestamp(options)?;
        } else if !BARE || doff >> 4 != 5 {
            return None;
        }
    }
    Some(QuickRequest { pi })
}

/// A `pkt_info` [`read_quick`] accepted (`DATA`: with a payload; `BARE`: perhaps with no TCP
/// options, where the Timestamp is zeros). Its headers are read again where
/// they are used (the caller's contract keeps them unchanged for the call): fewer values are kept
/// in between.
struct QuickRequest<'a, const DATA: bool, const BARE: bool> {
    pi: &'a pkt_info,
}

impl<const DATA: bool, const BARE: bool> AckRequest for QuickRequest<'_, DATA, BARE> {
    #[inline(always)]
    fn view(&self) -> SegmentView<'_> {
        let pi = self.pi;
        // SAFETY: only `read_quick` makes this, after checking that iph and tcph are non-NULL,
        // point to at least 20 header bytes each, and tcph, when its data offset is not 5, to
        // 32 readable bytes that end with TSval and TSecr; with DATA, that payload is non-NULL
        // (it points to payloadlen bytes), else that there is none. The caller's contract keeps
        // it so for the call.
        unsafe {
            let ip: &[u8; 20] = &*pi.iph.cast();
            let tcp: &[u8; 20] = &*pi.tcph.cast();
            let ts: &[u8; 8] = if BARE && tcp[12] < 0x80 {
                &frame::NO_TIMESTAMP
            } else {
                &*pi.tcph.cast::<u8>().add(24).cast()
            };
            let payload = if DATA {
                bytes(pi.payload, usize::from(pi.payloadlen))
            } else {
                &[][..]
            };
            SegmentView::checked(ip, tcp, ts, payload)
        }
    }

    #[inline(always)]
    fn eth_dst_hint(&self) -> Option<EthDstHint<'_>> {
        // SAFETY: as in `PktInfoRequest::eth_dst_hint`.
        unsafe { EthDstHint::from_ptr(self.pi.ethh.cast::<[u8; 6]>()) }
    }
}

/// The owner's quick path (`CoreContext::try_send_quick`) for what [`read_quick`] accepts: with
/// `BARE` false the ACK with no payload whose destination is in the context's route cache
/// (`mtcp_sendpkt`'s own body, which then calls nothing); with `BARE` true, out of line from
/// [`sendpkt_full`], also a segment with payload (`DATA`: its copy and checksum call the payload's
/// copy-and-sum) or with no TCP options, and a destination the route cache does not hold yet
/// (looked up in the tables into it, so that a middlebox answering more destinations than the
/// cache holds stays on the quick path).
///
/// # Safety
/// As for [`mtcp_sendpkt`].
#[inline(always)]
unsafe fn send_quick<const DATA: bool, const BARE: bool>(
    mctx: mctx_t,
    sockid: c_int,
    pinfo: *const pkt_info,
) -> Option<QuickSend<'static>> {
    // SAFETY: mctx and pinfo are NULL or valid, the pointers in pinfo as documented (the
    // caller's contract).
    let (Some(m), Some(pi)) = (unsafe { mctx.as_ref() }, unsafe { pinfo.as_ref() }) else {
        return None;
    };
    // SAFETY: as above.
    let (Ok(cpu), Some(req)) = (usize::try_from(m.cpu), unsafe {
        read_quick::<DATA, BARE>(pi, sockid)
    }) else {
        return None;
    };
    Some(match runtime::live() {
        Some(rt) => rt.try_send_quick::<BARE>(cpu, &req),
        None => Quick::Declined,
    })
}

/// Completes a quick call that staged its frame: 0 whatever the burst does. (Even after a panic,
/// a bug of this library: the frame was accepted and is staged, and the owner has left; saying
/// -1 would have the caller send it again.)
#[inline(never)]
fn finish_quick(f: QuickFinish<'_>) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| runtime::finish_quick(f)));
    0
}

/// A `pkt_info` [`read_request`] checked, and the Timestamp option it read. The segment is made
/// again from the `pkt_info` where the frame is written, so that only this is kept until then.
struct PktInfoRequest<'a> {
    pi: &'a pkt_info,
    ts: &'a [u8; 8],
}

impl AckRequest for PktInfoRequest<'_> {
    #[inline(always)]
    fn view(&self) -> SegmentView<'_> {
        let pi = self.pi;
        // SAFETY: only `read_request` makes this, after checking what is read here: iph and tcph
        // are non-NULL and point to at least 20 header bytes each, payload to payloadlen bytes
        // when payloadlen > 0. The caller's contract keeps all of it valid and unchanged for the
        // call, which `'a` spans.
        unsafe {
            let ip: &[u8; 20] = &*pi.iph.cast();
            let tcp: &[u8; 20] = &*pi.tcph.cast();
            let payload = match pi.payloadlen {
                0 => &[][..],
                n => bytes(pi.payload, usize::from(n)),
            };
            SegmentView::checked(ip, tcp, self.ts, payload)
        }
    }

    #[inline(always)]
    fn eth_dst_hint(&self) -> Option<EthDstHint<'_>> {
        // SAFETY: ethh is NULL or points to an Ethernet header (its first 6 bytes h_dest),
        // valid for the call (the caller's contract).
        unsafe { EthDstHint::from_ptr(self.pi.ethh.cast::<[u8; 6]>()) }
    }
}

/// Sends one TCP packet built from `pinfo` (mOS's `mtcp_sendpkt`): an Ethernet/IPv4/TCP frame with
/// the addresses, ports, sequence and acknowledgment numbers, IP id and window of
/// `pinfo->iph`/`pinfo->tcph`, the ACK flag, a NOP,NOP,Timestamp option and `pinfo->payloadlen`
/// bytes of `pinfo->payload`, on the port the route table names, from core context `mctx->cpu`.
///
/// Returns 0 when the frame is on the TX queue or staged for it (it will be sent: nothing is
/// dropped silently), or -1 with errno:
/// - `EACCES`: `mctx` or `pinfo` is NULL, `mctx->cpu` is not a configured core, or the library is
///   not initialized (initialization failed, see `mtcp_sendpkt_init_error`, or it was shut down);
/// - `ENODATA`: `iph` or `tcph` is NULL, IPv4 version is not 4, IHL < 5, TCP data offset < 5, or
///   `ip_len` leaves no room for a TCP header;
/// - `EBADF`: `sockid` < 0;
/// - `EINVAL`: `payloadlen` > 0 with `payload` NULL;
/// - `EMSGSIZE`: the frame (66 + `payloadlen` bytes) is longer than the port's MTU + 14, or than
///   the mempool's mbufs hold past their headroom;
/// - `EHOSTUNREACH`: no route, or no ARP entry and no `pinfo->ethh`;
/// - `ENOBUFS`: the mempool is empty;
/// - `EAGAIN`: the staging is full and the TX queue did not drain within `MTCP_SENDPKT_TX_WAIT_US`,
///   or another thread held the core's TX side for 1 s;
/// - `EIO`: an internal error (a bug in this library).
///
/// Safe to call from any thread, with the same or different `mctx`, also while another thread
/// calls `mtcp_sendpkt_shutdown`; in a forked child every call fails with `EACCES`.
///
/// # Safety
/// `mctx` and `pinfo` are NULL or valid; the non-NULL header and payload pointers of `pinfo` point
/// to as many readable bytes as their headers and `payloadlen` say; `*pinfo` and what it points to
/// do not change during the call (they are read where needed, not copied first; nothing is kept
/// after the call returns).
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt(mctx: mctx_t, sockid: c_int, pinfo: *const pkt_info) -> c_int {
    // The owner's common call first, with no call inside (nothing to save, nothing to unwind);
    // anything it declines takes the full path from the start.
    // SAFETY: the caller's contract, as for the full path.
    match unsafe { send_quick::<false, false>(mctx, sockid, pinfo) } {
        Some(Quick::Staged) => 0,
        Some(Quick::Finish(f)) => finish_quick(f),
        // SAFETY: as above.
        Some(Quick::Declined) | None => unsafe { sendpkt_full(mctx, sockid, pinfo) },
    }
}

/// Sends the packets `pkts[0]` .. `pkts[n - 1]`, each as [`mtcp_sendpkt`] would with the same
/// `mctx` and `sockid`, in order, for code written for DPDK's bursts: the C boundary, the lookup
/// of `mctx` and the owner's entry into the core context are paid once per call, not per packet.
///
/// Returns the number of packets accepted, from the first: `n` when every one was. When it is
/// less than `n`, `pkts[ret]` was refused, errno says why (the errno [`mtcp_sendpkt`] gives for
/// it, in its order), and none after it was tried: the caller handles that packet and calls again
/// with `pkts + ret + 1` for the rest. A packet [`mtcp_sendpkt`] would return 0 for without
/// sending it (`MTCP_SENDPKT_ERRORS=mos`: no route, no ARP entry, ...) counts as accepted, as
/// that call's 0 does. The return value is never -1; it is 0 with errno for a refused first
/// packet, and for:
/// - `EINVAL`: `pkts` is NULL while `n` > 0, or `n` > `INT_MAX`;
/// - `EACCES`: `mctx` is NULL or its `cpu` not a configured core, or the library is not running.
///
/// `n` = 0 returns 0 and reads nothing. `EIO` (a bug in this library) refuses the packet in
/// hand; those before it count as accepted. The owner stays inside its core context for the
/// call (guests' hand-offs are drained before each of its frames) until a shutdown closes it; a
/// guest thread sends through its lane, or hands each frame over, as its single calls do.
///
/// # Safety
/// `mctx` is NULL or valid; `pkts` is NULL or points to `n` pointers, each NULL or to a
/// `pkt_info` valid as [`mtcp_sendpkt`] requires; none of it changes during the call.
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_burst(
    mctx: mctx_t,
    sockid: c_int,
    pkts: *const *const pkt_info,
    n: std::ffi::c_uint,
) -> c_int {
    if n == 0 {
        return 0;
    }
    // Packets taken so far (counted outside the unwind boundary): after a panic, the packets
    // before the one in hand were handled, and are not to be sent again.
    let taken = std::cell::Cell::new(0usize);
    let r = catch_unwind(AssertUnwindSafe(|| -> Result<c_int, SendError> {
        let count = c_int::try_from(n).map_err(|_| SendError::BadBurst)?;
        if pkts.is_null() {
            return Err(SendError::BadBurst);
        }
        // SAFETY: mctx is NULL or valid (caller contract).
        let core = unsafe { core_of(mctx) }?;
        let reqs = (0..n as usize).map(|k| {
            taken.set(k + 1);
            // SAFETY: pkts points to n pointers (caller contract), each read when its turn
            // comes; each is NULL or to a valid pkt_info, whose pointers are valid as
            // documented.
            unsafe { BurstPkt::new(pkts.add(k).read(), sockid) }
        });
        let (mut swallowed, mut refused) = (0, None);
        let accepted = core.send_requests(reqs, |e| match rejected(&core, e) {
            Ok(()) => {
                swallowed += 1;
                true
            }
            Err(e) => {
                refused = Some(e);
                false
            }
        });
        let done = c_int::try_from(accepted + swallowed).unwrap_or(count);
        if let Some(e) = refused {
            set_errno(e.errno());
        }
        Ok(done)
    }));
    match r {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => {
            set_errno(e.errno());
            0
        }
        Err(_) => {
            // A bug of this library: the packet in hand is reported refused (EIO); those
            // before it were handled (a caller resending them would send them twice).
            set_errno(SendError::Internal.errno());
            c_int::try_from(taken.get().saturating_sub(1)).unwrap_or(0)
        }
    }
}

/// A packet of [`mtcp_sendpkt_burst`]: read as the quick path reads it, else as the full path
/// does, when its turn comes.
struct BurstPkt<'a> {
    pi: Option<&'a pkt_info>,
    sockid: c_int,
}

impl BurstPkt<'_> {
    /// # Safety
    /// `pi` is NULL or points to a `pkt_info` valid as [`mtcp_sendpkt`] requires, for `'a`.
    #[inline(always)]
    unsafe fn new(pi: *const pkt_info, sockid: c_int) -> Self {
        Self {
            // SAFETY: the caller's contract.
            pi: unsafe { pi.as_ref() },
            sockid,
        }
    }
}

impl<'a> crate::request::BurstRequest for BurstPkt<'a> {
    type QuickAck<'q>
        = QuickRequest<'q, false, true>
    where
        Self: 'q;
    type QuickData<'q>
        = QuickRequest<'q, true, true>
    where
        Self: 'q;
    type Full = PktInfoRequest<'a>;

    #[inline(always)]
    fn quick(
        &self,
    ) -> Option<crate::request::QuickPacket<QuickRequest<'_, false, true>, QuickRequest<'_, true, true>>>
    {
        use crate::request::QuickPacket as Q;
        let pi = self.pi?;
        // SAFETY: `new`'s contract.
        unsafe {
            if pi.payloadlen == 0 {
                read_quick::<false, true>(pi, self.sockid).map(Q::Ack)
            } else {
                read_quick::<true, true>(pi, self.sockid).map(Q::Data)
            }
        }
    }

    #[inline(always)]
    fn full(self) -> Result<PktInfoRequest<'a>, SendError> {
        let pi = self.pi.ok_or(SendError::NullPktInfo)?;
        // SAFETY: `new`'s contract.
        unsafe { read_request(pi, self.sockid) }
    }
}

/// [`mtcp_sendpkt`] for any call.
///
/// # Safety
/// As for [`mtcp_sendpkt`].
#[inline(never)]
unsafe fn sendpkt_full(mctx: mctx_t, sockid: c_int, pinfo: *const pkt_info) -> c_int {
    // As `guarded`, but the accepted call returns 0 straight away (no c_int carried through a
    // Result); every error goes through `rejected`, out of line.
    let r = catch_unwind(AssertUnwindSafe(|| {
        // From the owner, a segment with payload, one with no TCP options, or one to a
        // destination not in the route cache yet: the quick path, out of line (calling the
        // payload's copy-and-sum and the route cache's refill; and apart from `mtcp_sendpkt`'s
        // own quick ACK, which reads no option layout but mOS's and looks in the cache only).
        // SAFETY: the caller's contract, as below.
        let quick = match unsafe { pinfo.as_ref() } {
            // SAFETY: as above.
            Some(pi) if pi.payloadlen != 0 => unsafe { send_quick::<true, true>(mctx, sockid, pinfo) },
            // SAFETY: as above.
            Some(_) => unsafe { send_quick::<false, true>(mctx, sockid, pinfo) },
            None => None,
        };
        match quick {
            Some(Quick::Staged) => return Ok(()),
            Some(Quick::Finish(f)) => {
                finish_quick(f);
                return Ok(());
            }
            Some(Quick::Declined) | None => {}
        }
        // After the full path's checks the quick path is worth another try only for what
        // `read_quick` did not read (another option layout): the rest the context declined
        // (or the runtime was not started, and then nobody owns the context yet).
        let quick_again = quick.is_none();
        // SAFETY: mctx is NULL or valid (caller contract).
        let core = unsafe { core_of(mctx) }?;
        let result = (|| {
            // SAFETY: pinfo is NULL or points to a valid pkt_info (caller contract).
            let pi = unsafe { pinfo.as_ref() }.ok_or(SendError::NullPktInfo)?;
            // SAFETY: the pointers inside pinfo are valid as documented (caller contract).
            let req = unsafe { read_request(pi, sockid) }?;
            core.send_request(&req, quick_again)
        })();
        match result {
            Ok(()) => Ok(()),
            Err(e) => rejected(&core, e),
        }
    }));
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => fail(e),
        Err(_) => fail(SendError::Internal),
    }
}

/// A call `core` refused: counted; with `MTCP_SENDPKT_ERRORS=mos`, 0 with nothing sent for the
/// errors mOS swallows, as mOS does.
#[cold]
#[inline(never)]
fn rejected(core: &api::Core, e: SendError) -> Result<(), SendError> {
    match core.count(Err(e)) {
        Err(e) if e.mos_returns_zero() && core.mos_errors() => Ok(()),
        r => r,
    }
}

/// -1 with errno for `e`.
#[cold]
#[inline(never)]
fn fail(e: SendError) -> c_int {
    set_errno(e.errno());
    -1
}

/// The segment a `pkt_info` describes for `mtcp_sendpkt_reset` and `mtcp_sendpkt_segment`.
///
/// # Safety
/// As for `mtcp_sendpkt`, and: `iph` points to a whole IPv4 header (IHL × 4 bytes) or IPv6 header
/// (40 bytes, then any extension headers up to `tcph`, which follows it in the same buffer);
/// `tcph` to a whole TCP header (data offset × 4 bytes); `ethh`, when not NULL, to an Ethernet
/// header, which is followed by any VLAN tags and then `iph` when they are in one buffer;
/// `payload`, read only when `with_payload`, to `payloadlen` bytes.
unsafe fn read_segment(pi: &pkt_info, with_payload: bool) -> Result<api::Segment<'_>, SendError> {
    if pi.iph.is_null() || pi.tcph.is_null() {
        return Err(SendError::NoHeaders);
    }
    let iph = pi.iph.cast::<u8>();
    // SAFETY: iph points to an IP header: at least its first byte is readable.
    let first = unsafe { *iph };
    let ip_len = match IpVersion::of(first) {
        Some(IpVersion::V4) => usize::from(first & 0x0f) * 4,
        // The extension headers are the bytes between the fixed header and tcph.
        Some(IpVersion::V6) => (pi.tcph as usize)
            .checked_sub(iph as usize)
            .filter(|&d| (40..=40 + segment::MAX_IPV6_EXTENSIONS).contains(&d))
            .ok_or(SendError::NoHeaders)?,
        None => return Err(SendError::NoHeaders),
    };
    // As for mtcp_sendpkt: when the caller gives the packet's length and the TCP header follows
    // the network header in it, nothing past that length is read.
    let in_packet = pi.ip_len != 0 && (iph as usize).wrapping_add(ip_len) == pi.tcph as usize;
    let tcp_room = if in_packet {
        usize::from(pi.ip_len)
            .checked_sub(ip_len)
            .ok_or(SendError::NoHeaders)?
    } else {
        frame::MAX_TCP_HEADER
    };
    if ip_len < 20 || tcp_room < 20 {
        return Err(SendError::NoHeaders);
    }
    // SAFETY: the whole network header (IHL × 4 bytes; for IPv6 up to tcph) is readable.
    let ip_header = unsafe { bytes(iph, ip_len) };
    // SAFETY: tcph points to a TCP header, at least 20 bytes (inside the packet, when its length
    // is given).
    let head = unsafe { bytes(pi.tcph, 20) };
    let doff = frame::tcp_header_len(head)
        .ok()
        .filter(|&d| d <= tcp_room)
        .ok_or(SendError::NoHeaders)?;
    // SAFETY: the whole TCP header (data offset × 4 bytes) is readable.
    let tcp_header = unsafe { bytes(pi.tcph, doff) };
    let payload = match (with_payload, pi.payloadlen, pi.payload.is_null()) {
        (true, 0, _) => &[][..],
        (true, _, true) => return Err(SendError::NullPayload),
        // SAFETY: payload points to payloadlen readable bytes.
        (true, n, false) => unsafe { bytes(pi.payload, usize::from(n)) },
        // A RST needs only the payload's length (`payloadlen`), never its bytes.
        (false, ..) => &[][..],
    };
    // The bytes from ethh up to iph when iph follows it closely (VLAN tags in between), else the
    // Ethernet header alone.
    let ethernet = (!pi.ethh.is_null()).then(|| {
        let gap = (iph as usize).wrapping_sub(pi.ethh as usize);
        let len = if (14..=14 + 4 * segment::MAX_TAGS).contains(&gap) {
            gap
        } else {
            14
        };
        // SAFETY: ethh points to an Ethernet header (14 bytes), followed by iph when `gap` says so.
        unsafe { bytes(pi.ethh, len) }
    });
    Ok(api::Segment {
        ethernet,
        ip_header,
        tcp_header,
        payload,
    })
}

/// Resets the flow of a TCP segment the middlebox observed: a RST toward the sender
/// (`MTCP_SENDPKT_TO_SENDER`), the receiver (`MTCP_SENDPKT_TO_RECEIVER`) or both, numbered so that
/// the endpoint accepts it (RFC 5961's exact sequence number). `seen->iph` is IPv4 or IPv6 (told
/// apart by its version nibble), `seen->tcph` its TCP header, `seen->payloadlen` its payload
/// length; `seen->ethh` is optional: its addresses are the Ethernet destination when the ARP
/// table has no entry (its `h_dest` toward the receiver, its `h_source` toward the sender), and
/// the VLAN tags between it and `iph` go onto the RSTs.
///
/// Returns the number of frames put on a TX queue (1 or 2), or -1 with errno when none could be:
/// as for `mtcp_sendpkt` (`EACCES`, `ENODATA`, `EHOSTUNREACH`, `ENOBUFS`, `EAGAIN`, ...), and
/// `EINVAL` for `directions` outside 1 to 3.
///
/// # Safety
/// `mctx` and `seen` are NULL or valid; `seen`'s header pointers point to whole headers (see the
/// manual page), `ethh` to an Ethernet header or NULL.
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_reset(mctx: mctx_t, seen: *const pkt_info, directions: c_int) -> c_int {
    guarded(|| {
        // SAFETY: mctx is NULL or valid (caller contract).
        let core = unsafe { core_of(mctx) }?;
        let result = (|| {
            // SAFETY: seen is NULL or points to a valid pkt_info (caller contract).
            let pi = unsafe { seen.as_ref() }.ok_or(SendError::NullPktInfo)?;
            let directions = api::Directions::from_bits(directions)?;
            // SAFETY: the pointers inside are valid as documented (caller contract).
            let seg = unsafe { read_segment(pi, false) }?;
            let req = seg.request_with_len(usize::from(pi.payloadlen))?;
            core.reset_request(&req, directions)
        })();
        core.count(result).map(|n| n as c_int)
    })
}

/// Sends again a whole Ethernet frame the middlebox held back, as the mmTLS fork of mOS's call
/// of this name does (its prototype: `int mtcp_sendpkt_raw(mctx_t, int, uint8_t *, uint16_t)`):
/// `len` bytes from `rawpkt`, Ethernet (VLAN tags kept) then IPv4 or IPv6, go out as they are
/// but for the two MAC addresses: the ARP (or IPv6 neighbour) entry of the IP destination's,
/// and the MAC of the port its route chooses. No checksum is recomputed; the frame is never cut.
/// `sock` is taken as `mtcp_sendpkt`'s `sockid`.
///
/// Returns 0 when the frame is on a TX queue or staged for one, or -1 with errno: `EACCES` (bad
/// `mctx`), `EINVAL` (`rawpkt` NULL, or not Ethernet then a whole IPv4/IPv6 header), `EBADF`
/// (`sock` < 0), `EMSGSIZE` (longer than the output port takes), `EHOSTUNREACH` (no route, or no
/// ARP entry: where the fork returns 0 with nothing sent; with `MTCP_SENDPKT_ERRORS=mos`, 0 as
/// there), `ENOBUFS`, `EAGAIN`, as `mtcp_sendpkt`.
///
/// # Safety
/// `mctx` is NULL or valid; `rawpkt` is NULL or points to `len` readable bytes, which do not
/// change during the call (nothing is kept after it).
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_raw(mctx: mctx_t, sock: c_int, rawpkt: *mut u8, len: u16) -> c_int {
    // The owner's common replay first (an untagged IPv4 frame to a cached destination), as for
    // mtcp_sendpkt; anything it declines takes the full path from the start.
    // SAFETY: the caller's contract, as for the full path.
    match unsafe { raw_quick(mctx, sock, rawpkt, len) } {
        Quick::Staged => 0,
        Quick::Finish(f) => finish_quick(f),
        // SAFETY: as above.
        Quick::Declined => unsafe { raw_full(mctx, sock, rawpkt, len) },
    }
}

/// The owner's quick path for [`mtcp_sendpkt_raw`]: an untagged IPv4 frame, `sock` >= 0.
///
/// # Safety
/// As for [`mtcp_sendpkt_raw`].
#[inline(always)]
unsafe fn raw_quick(mctx: mctx_t, sock: c_int, rawpkt: *mut u8, len: u16) -> QuickSend<'static> {
    // SAFETY: mctx is NULL or valid (the caller's contract).
    let Some(m) = (unsafe { mctx.as_ref() }) else {
        return Quick::Declined;
    };
    if rawpkt.is_null() || sock < 0 || len < 34 {
        return Quick::Declined;
    }
    // SAFETY: rawpkt points to len readable bytes (the caller's contract), 34 or more.
    let frame = unsafe { bytes(rawpkt.cast_const(), usize::from(len)) };
    // Ethernet type IPv4 and an IPv4 version nibble: the destination is at 30..34.
    let (Ok(cpu), [0x08, 0x00], 4) = (usize::try_from(m.cpu), [frame[12], frame[13]], frame[14] >> 4) else {
        return Quick::Declined;
    };
    let daddr = [frame[30], frame[31], frame[32], frame[33]];
    match runtime::live() {
        Some(rt) => rt.try_send_quick_verbatim(cpu, frame, daddr),
        None => Quick::Declined,
    }
}

/// [`mtcp_sendpkt_raw`] for any call.
///
/// # Safety
/// As for [`mtcp_sendpkt_raw`].
#[inline(never)]
unsafe fn raw_full(mctx: mctx_t, sock: c_int, rawpkt: *mut u8, len: u16) -> c_int {
    guarded(|| {
        // SAFETY: mctx is NULL or valid (caller contract).
        let core = unsafe { core_of(mctx) }?;
        let result = (|| {
            if rawpkt.is_null() {
                return Err(SendError::BadFrame);
            }
            // SAFETY: rawpkt points to len readable bytes (caller contract).
            let frame = unsafe { bytes(rawpkt.cast_const(), usize::from(len)) };
            let frame = segment::Verbatim::of(frame).ok_or(SendError::BadFrame)?;
            if sock < 0 {
                return Err(SendError::BadSocket);
            }
            core.frame_request(&frame)
        })();
        match result {
            Ok(()) => Ok(0),
            Err(e) => rejected(&core, e).map(|()| 0),
        }
    })
}

/// Sends the caller's headers as they are: the IPv4 header with its options or the IPv6 header
/// with the extension headers between `iph` and `tcph`, the TCP header with every flag and
/// option, then `payloadlen` bytes of `payload`. Only the IPv4 total length / IPv6 payload length
/// and the checksums are fixed. A payload longer than the output port's MTU allows (or than the
/// mempool's mbufs hold) is cut into several frames (sequence numbers advanced, IPv4 ids too,
/// PSH and FIN on the last only).
/// Ethernet: the ARP table's entry for the destination, else `pkt->ethh->h_dest`, with the VLAN
/// tags between `ethh` and `iph`.
///
/// Returns the number of frames put on a TX queue, or -1 with errno as for `mtcp_sendpkt`.
///
/// # Safety
/// As for `mtcp_sendpkt_reset`, and `payload` points to `payloadlen` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_segment(mctx: mctx_t, pkt: *const pkt_info) -> c_int {
    guarded(|| {
        // SAFETY: mctx is NULL or valid (caller contract).
        let core = unsafe { core_of(mctx) }?;
        let result = (|| {
            // SAFETY: pkt is NULL or points to a valid pkt_info (caller contract).
            let pi = unsafe { pkt.as_ref() }.ok_or(SendError::NullPktInfo)?;
            // SAFETY: the pointers inside are valid as documented (caller contract).
            let seg = unsafe { read_segment(pi, true) }?;
            core.raw_request(&seg.request()?)
        })();
        core.count(result)
            .map(|n| c_int::try_from(n).unwrap_or(c_int::MAX))
    })
}

/// Pushes everything core context `mctx->cpu` and its lanes have staged to their TX queues now,
/// and gives the spare mbufs they keep at hand (taken from the mempool in bulk) back to the
/// mempool. It changes no ownership: a context the calling thread does not own is taken over
/// for the flush.
///
/// Returns the number of frames the TX queues took, or -1 with errno `EACCES` (as for
/// `mtcp_sendpkt`) or `EAGAIN` (a TX queue did not take everything, or another thread stayed
/// inside a context, within `MTCP_SENDPKT_TX_WAIT_US` in all; the rest stays staged and is
/// retried, never dropped).
///
/// # Safety
/// `mctx` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_flush(mctx: mctx_t) -> c_int {
    guarded(|| {
        // SAFETY: mctx is NULL or valid (caller contract).
        let core = unsafe { core_of(mctx) }?;
        core.flush().map(|n| c_int::try_from(n).unwrap_or(c_int::MAX))
    })
}

/// Initializes the library now instead of on the first `mtcp_sendpkt` call.
///
/// `eal_args` (white-space separated EAL arguments) and `conf_path` (`:`-separated mOS config
/// files) override `MTCP_SENDPKT_EAL_ARGS` and `MTCP_SENDPKT_CONF` when not NULL; every other knob
/// comes from the environment. Returns 0 when this call started the library, -1 with errno
/// `EALREADY` when it was already running (the first initialization wins), or -1 with `EACCES`
/// when initialization failed (`mtcp_sendpkt_init_error` says why) or the library was shut down.
///
/// # Safety
/// `eal_args` and `conf_path` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_init(eal_args: *const c_char, conf_path: *const c_char) -> c_int {
    guarded(|| {
        // SAFETY: NULL or NUL-terminated (caller contract).
        let (eal, conf) = unsafe { (c_text(eal_args), c_text(conf_path)) };
        let settings = Settings::from_lookup(|k| match k {
            "MTCP_SENDPKT_EAL_ARGS" if eal.is_some() => eal.clone(),
            "MTCP_SENDPKT_CONF" if conf.is_some() => conf.clone(),
            _ => std::env::var(k).ok(),
        });
        init_outcome(runtime::init_with(settings, None))
    })
}

/// Attaches the library to a host application that initialized DPDK's EAL and its ports itself:
/// the library does not initialize EAL or configure ports; core context k sends on TX queue
/// `first_tx_queue + k` of each port (set up and started by the host), with mbufs from `pool`
/// (a `rte_pktmbuf_pool_create` pool; NULL: `MTCP_SENDPKT_MEMPOOL` names one, or the library
/// creates its own). `conf_path` as for `mtcp_sendpkt_init` (NULL: `MTCP_SENDPKT_CONF`).
///
/// Returns 0, or -1 with errno `EALREADY` (already running) or `EACCES` (attaching failed, e.g.
/// EAL not initialized or a TX queue missing: `mtcp_sendpkt_init_error` says why).
/// Without this call, a library whose first call finds EAL initialized attaches the same way,
/// with `MTCP_SENDPKT_TXQ` as `first_tx_queue`.
///
/// # Safety
/// `conf_path` is NULL or a NUL-terminated string; `pool` is NULL or a packet mempool that outlives
/// the library's use of it (until `mtcp_sendpkt_shutdown` or process exit).
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_attach(
    conf_path: *const c_char,
    first_tx_queue: u16,
    pool: *mut rte_mempool,
) -> c_int {
    guarded(|| {
        // SAFETY: NULL or NUL-terminated (caller contract).
        let conf = unsafe { c_text(conf_path) };
        let settings = Settings::from_lookup(|k| match k {
            "MTCP_SENDPKT_CONF" if conf.is_some() => conf.clone(),
            _ => std::env::var(k).ok(),
        })
        .map(|s| Settings {
            tx_queue_base: Some(first_tx_queue),
            ..s
        });
        // A mempool that outlives the library's use (caller contract), checked at init.
        let pool = std::ptr::NonNull::new(pool.cast());
        init_outcome(runtime::init_with(
            settings,
            Some(runtime::AttachRequest { pool }),
        ))
    })
}

fn init_outcome(o: InitOutcome) -> Result<c_int, SendError> {
    match o {
        InitOutcome::Started => Ok(0),
        InitOutcome::AlreadyRunning => {
            set_errno(libc::EALREADY);
            Ok(-1)
        }
        InitOutcome::Failed => Err(SendError::NotInitialized),
        InitOutcome::Reentered => Err(SendError::Reentered),
    }
}

/// A C string argument: `None` for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn c_text(p: *const c_char) -> Option<String> {
    // SAFETY: p is NULL (checked) or NUL-terminated (caller contract).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Why initialization failed, as text, or NULL if it did not fail (or was not tried yet).
/// The string lives as long as the process.
#[no_mangle]
pub extern "C" fn mtcp_sendpkt_init_error() -> *const c_char {
    static TEXT: OnceLock<CString> = OnceLock::new();
    catch_unwind(|| match runtime::init_error() {
        Some(e) => TEXT
            .get_or_init(|| CString::new(e.to_string().replace('\0', " ")).unwrap_or_default())
            .as_ptr(),
        None => std::ptr::null(),
    })
    .unwrap_or(std::ptr::null())
}

/// The warnings about the configuration read at initialization (lines mOS skips, blocks it does
/// not know, routes to devices that are not netdevs), one a line (`file:line: text\n`); an empty
/// string when there were none; NULL before initialization read the configuration (it does not
/// start the library). Each warning was also printed once to stderr. The string lives as long as
/// the process.
#[no_mangle]
pub extern "C" fn mtcp_sendpkt_config_warnings() -> *const c_char {
    static TEXT: OnceLock<CString> = OnceLock::new();
    catch_unwind(|| match runtime::config_warnings() {
        Some(lines) => TEXT
            .get_or_init(|| {
                let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
                CString::new(text.replace('\0', " ")).unwrap_or_default()
            })
            .as_ptr(),
        None => std::ptr::null(),
    })
    .unwrap_or(std::ptr::null())
}

/// Starts the pcapng tap on the file `path` (replacing a running tap, whose file is completed
/// first), or stops it (`NULL`): a copy of every frame a TX queue takes is written to the file.
/// Returns 0, or -1 with errno: `EACCES` (the library cannot run, or was shut down), `EBUSY` (a
/// stopped tap's writer is still stuck writing to a stalled FIFO), `EDEADLK` (from a signal
/// handler that interrupted a call of the library on this thread), or the errno of opening the
/// file (`ENOENT`, `ENXIO` for a FIFO nobody reads, ...).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_tap(path: *const std::ffi::c_char) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let path = if path.is_null() {
            None
        } else {
            // SAFETY: NUL-terminated (caller contract).
            let s = unsafe { std::ffi::CStr::from_ptr(path) };
            use std::os::unix::ffi::OsStrExt;
            Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(
                s.to_bytes(),
            )))
        };
        api::tap(path.as_deref())
    }));
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EIO));
            -1
        }
        Err(_) => {
            set_errno(SendError::Internal.errno());
            -1
        }
    }
}

/// Number of core contexts (valid `mctx->cpu` values are 0 to this minus 1), starting the library
/// if needed; -1 with errno `EACCES` if it cannot run.
#[no_mangle]
pub extern "C" fn mtcp_sendpkt_cores() -> c_int {
    guarded(|| {
        let rt = runtime::get().ok_or(SendError::NotInitialized)?;
        Ok(c_int::try_from(rt.cores()).unwrap_or(c_int::MAX))
    })
}

/// Copies the counters of core context `mctx->cpu` into `*out`. Returns 0, or -1 with errno
/// `EACCES` (as for `mtcp_sendpkt`) or `EINVAL` (`out` is NULL).
///
/// # Safety
/// `mctx` is NULL or valid; `out` is NULL or points to writable memory for the struct.
#[no_mangle]
pub unsafe extern "C" fn mtcp_sendpkt_stats(mctx: mctx_t, out: *mut mtcp_sendpkt_stats) -> c_int {
    guarded(|| {
        // SAFETY: mctx is NULL or valid (caller contract).
        let core = unsafe { core_of(mctx) }?;
        // SAFETY: out is NULL or writable (caller contract).
        let out = unsafe { out.as_mut() }.ok_or(SendError::NullOutput)?;
        *out = core.stats();
        Ok(0)
    })
}

/// Shuts the library down, from any thread, at any time: calls that are inside finish (every
/// frame a call accepted is put on its TX queue), later calls fail with `EACCES`, and then what
/// the library owns is released: its ports (stopped and closed), its mempool and DPDK's EAL.
/// Accepted frames a TX queue still refuses after `MTCP_SENDPKT_TX_WAIT_US` are freed, counted
/// as `dropped_at_shutdown` and reported on stderr. If a thread stays inside a call past the
/// deadline (stopped by a debugger, say), nothing is released. The library cannot be started
/// again in this process (a DPDK limit). At normal process exit the same happens without this
/// call, except that DPDK is left as it is. Called from a signal handler that interrupted a call
/// of the library on the same thread, it does nothing (that call could not end while shutdown
/// waited for it).
#[no_mangle]
pub extern "C" fn mtcp_sendpkt_shutdown() {
    let _ = catch_unwind(runtime::shutdown);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno() -> c_int {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    #[test]
    fn a_panic_becomes_minus_one_with_eio_and_does_not_unwind() {
        set_errno(0);
        let rc = guarded(|| panic!("a bug"));
        assert_eq!((rc, errno()), (-1, libc::EIO));
    }

    #[test]
    fn errors_set_their_errno_and_successes_leave_it() {
        assert_eq!(guarded(|| Err(SendError::NoRoute)), -1);
        assert_eq!(errno(), libc::EHOSTUNREACH);
        set_errno(12345);
        assert_eq!(guarded(|| Ok(7)), 7);
        assert_eq!(errno(), 12345);
    }

    /// The quick path accepts exactly the common segment (valid headers, options beginning NOP,
    /// NOP, Timestamp, readable, no payload, a socket id >= 0), mOS's `pkt_info` and a hand-built
    /// one alike, and what it accepts the full path accepts alike: over IHL, data offset, option
    /// layouts, `ip_len` 0 or cutting the header, a TCP header apart from the IPv4 one, payloads
    /// and socket ids.
    #[test]
    fn the_quick_read_accepts_only_what_the_full_read_accepts_alike() {
        let ts_first = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
        let ts_later = [1, 1, 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1];
        let sack_first = [4, 2, 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1];
        let layouts: [&[u8]; 5] = [
            &[],
            &ts_first,
            &ts_later,
            &sack_first,
            &[1, 1, 8, 8, 0, 0, 0, 7, 0, 0, 0, 9],
        ];
        let (mut quick, mut quick_data, mut cases) = (0, 0, 0);
        for version_ihl in [0x45u8, 0x46, 0x4f, 0x44, 0x55] {
            let ihl_len = usize::from(version_ihl & 0x0f).max(5) * 4;
            for options in layouts {
                for doff in [5usize, 7, 8, 9, 15] {
                    let mut tcp = vec![0u8; 60];
                    tcp[..4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
                    tcp[12] = (doff as u8) << 4;
                    tcp[20..20 + options.len()].copy_from_slice(options);
                    let mut packet = vec![0u8; ihl_len];
                    packet[0] = version_ihl;
                    packet[16..20].copy_from_slice(&[10, 0, 0, 2]);
                    packet.extend_from_slice(&tcp);
                    packet.extend_from_slice(b"data");
                    let full_len = ihl_len + doff * 4;
                    for ip_len in [
                        0,
                        full_len,
                        ihl_len + 20,
                        ihl_len + 31,
                        ihl_len + 32,
                        ihl_len + 40,
                    ] {
                        for apart in [false, true] {
                            for (payloadlen, sockid) in [(0u16, 1), (4, 1), (0, -1), (0, 0)] {
                                let tcph = if apart {
                                    tcp.as_ptr()
                                } else {
                                    packet[ihl_len..].as_ptr()
                                };
                                let pi = pkt_info {
                                    cur_ts: 0,
                                    in_ifidx: 0,
                                    eth_len: 0,
                                    ip_len: ip_len as u16,
                                    offset: 0,
                                    payloadlen,
                                    seq: 0,
                                    ack_seq: 0,
                                    window: 0,
                                    ethh: std::ptr::null_mut(),
                                    iph: packet.as_ptr() as *mut _,
                                    tcph: tcph as *mut _,
                                    payload: packet[full_len..].as_ptr() as *mut _,
                                };
                                cases += 1;
                                // SAFETY: every pointer of `pi` points into `packet` or `tcp`,
                                // which hold the headers their lengths claim and the payload.
                                let (q, q_data, f) = unsafe {
                                    (
                                        read_quick::<false, true>(&pi, sockid),
                                        read_quick::<true, true>(&pi, sockid),
                                        read_request(&pi, sockid),
                                    )
                                };
                                // In mOS's packet (ip_len given, headers adjacent), the TCP
                                // header's bytes the packet holds; else the data offset's.
                                let holds = |n| ip_len == 0 || apart || ip_len >= ihl_len + n;
                                let common = (0x45..=0x4f).contains(&version_ihl)
                                    && ((doff == 5 && holds(20))
                                        || (doff >= 8 && options == ts_first && holds(32)))
                                    && sockid >= 0;
                                let what = format!(
                                    "{version_ihl:#x} doff {doff} ip_len {ip_len} apart {apart} {options:?}"
                                );
                                assert_eq!(q.is_some(), common && payloadlen == 0, "{what}");
                                assert_eq!(q_data.is_some(), common && payloadlen != 0, "with data: {what}");
                                // A payload at NULL is the full path's EINVAL, never quick.
                                let no_payload = pkt_info {
                                    payload: std::ptr::null_mut(),
                                    ..pi
                                };
                                // SAFETY: as above; the payload pointer is not read (NULL).
                                assert!(unsafe { read_quick::<true, true>(&no_payload, sockid) }.is_none());
                                // Not BARE (`mtcp_sendpkt`'s own body): the same but for no options.
                                // SAFETY: as above.
                                let inline = unsafe { read_quick::<false, false>(&pi, sockid) };
                                assert_eq!(inline.is_some(), q.is_some() && doff != 5, "inline: {what}");
                                let f = || {
                                    f.as_ref().unwrap_or_else(|e| {
                                        panic!("quick accepts, full refuses ({e}): {what}")
                                    })
                                };
                                if let Some(q) = q {
                                    quick += 1;
                                    let (qv, fv) = (q.view(), f().view());
                                    assert_eq!(
                                        (qv.ts(), qv.frame_len(), qv.daddr()),
                                        (fv.ts(), fv.frame_len(), fv.daddr()),
                                        "{what}"
                                    );
                                    let ts = if doff == 5 {
                                        [0; 8]
                                    } else {
                                        [0, 0, 0, 7, 0, 0, 0, 9]
                                    };
                                    assert_eq!(qv.ts(), &ts);
                                }
                                if let Some(q) = q_data {
                                    quick_data += 1;
                                    let (qv, fv) = (q.view(), f().view());
                                    assert_eq!(
                                        (qv.ts(), qv.frame_len(), qv.daddr(), qv.payload()),
                                        (fv.ts(), fv.frame_len(), fv.daddr(), fv.payload()),
                                        "with data: {what}"
                                    );
                                    assert_eq!(qv.payload().as_ptr(), pi.payload.cast_const());
                                    assert_eq!(qv.payload().len(), 4);
                                }
                            }
                        }
                    }
                }
            }
        }
        // IHL 5, 6, 15 × (data offset 8, 9, 15 with the leading Timestamp × 10 placements:
        // adjacent with ip_len 0, the whole header, 32 and 40 bytes of it, apart with each of
        // the 6 ip_len; + data offset 5 × 5 option layouts (not read) × all 12 placements) ×
        // socket ids 1 and 0, no payload; the same with the 4-byte payload and socket id 1 for
        // the quick path with data.
        assert_eq!((quick, quick_data, cases), (540, 270, 6000));
    }

    #[test]
    fn every_error_maps_to_its_documented_errno() {
        let table = [
            (SendError::NoContext, libc::EACCES),
            (SendError::NotInitialized, libc::EACCES),
            (SendError::NullPktInfo, libc::EACCES),
            (SendError::BadSocket, libc::EBADF),
            (SendError::NoHeaders, libc::ENODATA),
            (SendError::NullPayload, libc::EINVAL),
            (SendError::NullOutput, libc::EINVAL),
            (SendError::TooLong, libc::EMSGSIZE),
            (SendError::NoRoute, libc::EHOSTUNREACH),
            (SendError::NoArpEntry, libc::EHOSTUNREACH),
            (SendError::NoMbuf, libc::ENOBUFS),
            (SendError::TxBusy, libc::EAGAIN),
            (SendError::Internal, libc::EIO),
        ];
        for (e, want) in table {
            assert_eq!(e.errno(), want, "{e}");
        }
    }
}
