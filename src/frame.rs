//! The pure frame builder: turns the caller's IPv4/TCP headers into the exact Ethernet/IPv4/TCP
//! frame mOS 0.3 emits (`MOS_COMPAT.md`, "The frame mOS emits"), with correct checksums.
//!
//! No DPDK, no allocation, no pointers: byte slices in, byte slice out, so that it can be
//! unit-tested against an independent parser and fuzzed. The caller's headers are checked once
//! ([`SegmentView::new`], which also finds the Timestamp option), and each field the frame copies
//! is read once, as the frame is written over its destination's [`AckTemplate`]; the checksums
//! are summed from the values written, not read back (see `checksum`).

use crate::checksum::{self, add64, dword, word};

/// Ethernet (14) + IPv4 without options (20) + TCP with NOP,NOP,Timestamp (32).
pub const HEADER_LEN: usize = ETH_LEN + IPV4_LEN + TCP_LEN;
/// Ethernet header length.
pub const ETH_LEN: usize = 14;
/// Emitted IPv4 header length (IHL 5).
pub const IPV4_LEN: usize = 20;
/// Emitted TCP header length (data offset 8).
pub const TCP_LEN: usize = 32;
/// Longest TCP header an input can carry (data offset 15).
pub const MAX_TCP_HEADER: usize = 60;
/// Largest payload whose frame still has a valid IPv4 total length.
pub const MAX_PAYLOAD: usize = u16::MAX as usize - IPV4_LEN - TCP_LEN;

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
/// Version 4, IHL 5, TOS 0.
const IPV4_VERSION_TOS: [u8; 2] = [0x45, 0];
/// DF set, fragment offset 0.
const FLAGS_DF: [u8; 2] = [0x40, 0x00];
/// TTL 64, protocol TCP.
const TTL_PROTO: [u8; 2] = [64, IPPROTO_TCP];
const IPPROTO_TCP: u8 = 6;
/// Data offset 8 (32 bytes), ACK only.
const DOFF_FLAGS: [u8; 2] = [((TCP_LEN / 4) as u8) << 4, 0x10];
const TCPOPT_EOL: u8 = 0;
const TCPOPT_NOP: u8 = 1;
const TCPOPT_TIMESTAMP: u8 = 8;
const TCPOLEN_TIMESTAMP: usize = 10;
/// NOP, NOP, Timestamp kind and length: the options' first four bytes.
const TS_PREFIX: [u8; 4] = [TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP as u8];
/// The constant words of the emitted IPv4 header, summed once.
const IPV4_CONST_SUM: u64 = word(IPV4_VERSION_TOS) + word(FLAGS_DF) + word(TTL_PROTO);
/// The constant words of the emitted TCP header (data offset/flags, urgent pointer 0, the
/// options' prefix) and the pseudo-header's protocol word, summed once.
const TCP_CONST_SUM: u64 = word(DOFF_FLAGS) + dword(TS_PREFIX) + word([0, IPPROTO_TCP]);

/// The 66 header bytes of the ACK frames toward one destination, with every field that does not
/// depend on the segment filled in: the Ethernet addresses and type; IPv4 version, IHL, TOS, DF,
/// TTL and protocol; TCP data offset, flags, urgent pointer and the options' NOP, NOP, Timestamp
/// kind and length. A context caches it with its route; each frame starts as a copy of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckTemplate([u8; HEADER_LEN]);

impl Default for AckTemplate {
    fn default() -> Self {
        Self::new([0; 6], [0; 6])
    }
}

impl AckTemplate {
    #[inline(always)]
    pub fn new(dst: [u8; 6], src: [u8; 6]) -> Self {
        let mut h = [0; HEADER_LEN];
        h[0..6].copy_from_slice(&dst);
        h[6..12].copy_from_slice(&src);
        h[12..14].copy_from_slice(&ETHERTYPE_IPV4);
        h[14..16].copy_from_slice(&IPV4_VERSION_TOS);
        h[20..22].copy_from_slice(&FLAGS_DF);
        h[22..24].copy_from_slice(&TTL_PROTO);
        h[46..48].copy_from_slice(&DOFF_FLAGS);
        h[54..58].copy_from_slice(&TS_PREFIX);
        Self(h)
    }

    /// The Ethernet destination and source addresses, as the frame's first 12 bytes.
    #[inline(always)]
    pub fn addresses(&self) -> &[u8; 12] {
        self.0[0..12].try_into().expect("12 bytes")
    }

    /// The same header toward another Ethernet destination.
    #[inline(always)]
    pub fn set_dst(&mut self, dst: [u8; 6]) {
        self.0[0..6].copy_from_slice(&dst);
    }

    #[cfg(test)]
    pub fn dst(&self) -> [u8; 6] {
        [self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5]]
    }
}

/// Why the input headers cannot make a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than 20 bytes of IPv4 header, version not 4, or IHL below 5.
    BadIpv4Header,
    /// Fewer than 20 bytes of TCP header, or data offset below 5.
    BadTcpHeader,
    /// The payload would make the IPv4 total length overflow 65535.
    PayloadTooLong,
    /// The output buffer is shorter than the frame.
    BufferTooSmall,
}

/// How the IPv4 and TCP checksums are filled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Both checksums computed here: the frame is correct as written.
    #[default]
    Software,
    /// The NIC computes them: IPv4 checksum 0, TCP checksum holds the pseudo-header sum
    /// (what DPDK's `rte_ipv4_phdr_cksum` gives), as `RTE_MBUF_F_TX_*_CKSUM` requires.
    Offload,
}

/// Length of the IPv4 header the input claims (IHL × 4), after checking version and IHL.
#[inline]
pub fn ipv4_header_len(ip: &[u8]) -> Result<usize, FrameError> {
    if ip.len() < IPV4_LEN || ip[0] >> 4 != 4 || ip[0] & 0x0f < 5 {
        return Err(FrameError::BadIpv4Header);
    }
    Ok(usize::from(ip[0] & 0x0f) * 4)
}

/// Length of the TCP header the input claims (data offset × 4), after checking it.
///
/// Needs only the first 20 bytes, so that a caller can learn how much more it may read.
#[inline]
pub fn tcp_header_len(tcp: &[u8]) -> Result<usize, FrameError> {
    if tcp.len() < 20 || tcp[12] >> 4 < 5 {
        return Err(FrameError::BadTcpHeader);
    }
    Ok(usize::from(tcp[12] >> 4) * 4)
}

/// The caller's IPv4 and TCP headers and payload, checked: what an mOS ACK frame is built from.
#[derive(Debug, Clone, Copy)]
pub struct SegmentView<'a> {
    /// The IPv4 header's first 20 bytes (its options are not copied).
    ip: &'a [u8; IPV4_LEN],
    /// The TCP header's first 20 bytes.
    tcp: &'a [u8; 20],
    /// TSval and TSecr of the Timestamp option as they are on the wire (zeros without one), found
    /// when checked and read where the frame is written.
    ts: &'a [u8; 8],
    payload: &'a [u8],
}

impl<'a> SegmentView<'a> {
    /// The flags byte of the caller's TCP header (CWR to FIN).
    #[inline]
    pub fn tcp_flags(&self) -> u8 {
        self.tcp[13]
    }

    /// Checks an IPv4 header (at least its first 20 bytes), a TCP header (its first 20 bytes plus
    /// whatever option bytes may be read: options beyond `tcp.len()` are never looked at) and
    /// the payload's length.
    #[inline(always)]
    pub fn new(ip: &'a [u8], tcp: &'a [u8], payload: &'a [u8]) -> Result<Self, FrameError> {
        let ip = ip.first_chunk().ok_or(FrameError::BadIpv4Header)?;
        let (head, rest) = tcp.split_first_chunk().ok_or(FrameError::BadTcpHeader)?;
        let options = &rest[..Self::options_len(head).min(rest.len())];
        Self::from_parts(ip, head, options, payload)
    }

    /// How many option bytes the TCP header's data offset claims (0 when it is below 5: then
    /// [`SegmentView::from_parts`] refuses the header).
    #[inline(always)]
    pub fn options_len(tcp: &[u8; 20]) -> usize {
        (usize::from(tcp[12] >> 4) * 4).saturating_sub(20)
    }

    /// Checks the pieces of an input: the IPv4 header's first 20 bytes (version 4, IHL at least
    /// 5), the TCP header's first 20 bytes (data offset at least 5), its readable options, the
    /// payload's length. The checks happen here only.
    #[inline(always)]
    pub fn from_parts(
        ip: &'a [u8; IPV4_LEN],
        tcp: &'a [u8; 20],
        options: &'a [u8],
        payload: &'a [u8],
    ) -> Result<Self, FrameError> {
        Self::headers(ip, tcp, options)?.with_payload(payload)
    }

    /// [`SegmentView::from_parts`] in two steps: the headers (with no payload yet) ...
    #[inline(always)]
    pub fn headers(ip: &'a [u8; IPV4_LEN], tcp: &'a [u8; 20], options: &'a [u8]) -> Result<Self, FrameError> {
        // Version 4 and IHL 5..15: 0x45..=0x4f.
        if ip[0].wrapping_sub(0x45) > 0x0a {
            return Err(FrameError::BadIpv4Header);
        }
        if tcp[12] < 0x50 {
            return Err(FrameError::BadTcpHeader);
        }
        Ok(Self {
            ip,
            tcp,
            ts: timestamp(options),
            payload: &[],
        })
    }

    /// The payload the frame carries.
    #[cfg(test)]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// ... then the payload.
    #[inline(always)]
    pub fn with_payload(self, payload: &'a [u8]) -> Result<Self, FrameError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(FrameError::PayloadTooLong);
        }
        Ok(Self { payload, ..self })
    }

    /// The view [`SegmentView::from_parts`] made of these pieces again, without the checks:
    /// `ts` is that view's [`SegmentView::ts`].
    #[inline(always)]
    pub(crate) fn checked(
        ip: &'a [u8; IPV4_LEN],
        tcp: &'a [u8; 20],
        ts: &'a [u8; 8],
        payload: &'a [u8],
    ) -> Self {
        Self { ip, tcp, ts, payload }
    }

    /// TSval and TSecr as the frame carries them: the option's bytes, or zeros.
    #[inline(always)]
    pub(crate) fn ts(&self) -> &'a [u8; 8] {
        self.ts
    }

    /// Destination address as a host-order integer, for route and ARP lookups.
    #[inline]
    pub fn daddr(&self) -> u32 {
        u32::from_be_bytes(self.daddr_bytes())
    }

    /// Destination address as on the wire.
    #[inline(always)]
    pub(crate) fn daddr_bytes(&self) -> [u8; 4] {
        [self.ip[16], self.ip[17], self.ip[18], self.ip[19]]
    }

    /// Length of the frame: 66 + payload, no padding.
    #[inline]
    pub fn frame_len(&self) -> usize {
        frame_len(self.payload.len())
    }
}

/// TSval and TSecr of a TCP option list's Timestamp option, zeros without one. Most segments
/// carry exactly NOP, NOP, Timestamp first: that layout is read directly, others scanned.
#[inline(always)]
fn timestamp(options: &[u8]) -> &[u8; 8] {
    if let Some(ts) = options.first_chunk::<12>().and_then(leading_timestamp) {
        return ts;
    }
    scan_timestamp(options)
}

/// TSval and TSecr (as [`SegmentView::ts`]) when the options begin NOP, NOP, Timestamp.
#[inline(always)]
pub(crate) fn leading_timestamp(o: &[u8; 12]) -> Option<&[u8; 8]> {
    let (prefix, ts) = o.split_first_chunk::<4>()?;
    (*prefix == TS_PREFIX).then_some(ts.try_into().ok()?)
}

/// [`timestamp`] for any other option layout.
#[inline(never)]
fn scan_timestamp(options: &[u8]) -> &[u8; 8] {
    find_timestamp_at(options)
        .and_then(|at| options[at..].first_chunk())
        .unwrap_or(&NO_TIMESTAMP)
}

/// TSval and TSecr of a segment without a Timestamp option: the frame's option carries zeros.
pub(crate) static NO_TIMESTAMP: [u8; 8] = [0; 8];

/// The first well-formed Timestamp option (kind 8, length 10) in a TCP option list.
///
/// Scanning stops at End-of-Options, at an option whose length byte is missing, below 2 or runs
/// past the list: what follows a malformed option cannot be trusted. A kind-8 option of the wrong
/// length is skipped, not taken.
pub fn find_timestamp(options: &[u8]) -> Option<([u8; 4], [u8; 4])> {
    let o = &options[find_timestamp_at(options)?..];
    Some(([o[0], o[1], o[2], o[3]], [o[4], o[5], o[6], o[7]]))
}

/// Where TSval starts in `options` ([`find_timestamp`]'s option): 8 bytes are there.
fn find_timestamp_at(options: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < options.len() {
        match options[at] {
            TCPOPT_EOL => return None,
            TCPOPT_NOP => at += 1,
            kind => {
                let len = usize::from(*options.get(at + 1)?);
                if len < 2 || at + len > options.len() {
                    return None;
                }
                if kind == TCPOPT_TIMESTAMP && len == TCPOLEN_TIMESTAMP {
                    return Some(at + 2);
                }
                at += len;
            }
        }
    }
    None
}

/// Length of the frame for a payload of `payload_len` bytes: 66 + payload, no padding.
pub const fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len
}

/// Writes the mOS ACK frame for `seg` into `out[..seg.frame_len()]` and returns its length.
///
/// The 66 header bytes are written at fixed offsets of a fixed-size array; the payload is copied
/// and summed in one pass; each checksum is the sum of the values just written.
#[cfg(any(test, feature = "internals"))]
#[inline(always)]
pub fn write_ack_frame(
    seg: &SegmentView<'_>,
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    checksum: ChecksumMode,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    write_ack(seg, &AckTemplate::new(eth_dst, eth_src), checksum, out)
}

/// Puts `flags` in place of ACK in a frame [`write_ack`] wrote (the mmTLS fork of mOS sends the
/// flags byte of the caller's TCP header), keeping its TCP checksum right: in software mode
/// updated incrementally (RFC 1624, eqn. 3); with offload it holds the pseudo-header's sum only,
/// which the flags are not part of.
pub fn set_tcp_flags(frame: &mut [u8], flags: u8, checksum: ChecksumMode) {
    const AT: usize = ETH_LEN + IPV4_LEN + 12;
    let old = u16::from_be_bytes([frame[AT], frame[AT + 1]]);
    frame[AT + 1] = flags;
    let new = u16::from_be_bytes([frame[AT], frame[AT + 1]]);
    if checksum == ChecksumMode::Software {
        const SUM: usize = ETH_LEN + IPV4_LEN + 16;
        let hc = u16::from_be_bytes([frame[SUM], frame[SUM + 1]]);
        let sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = (sum & 0xffff) + (sum >> 16);
        frame[SUM..SUM + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
}

/// [`write_ack_frame`] from the destination's [`AckTemplate`].
#[inline(always)]
pub fn write_ack(
    seg: &SegmentView<'_>,
    template: &AckTemplate,
    checksum: ChecksumMode,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let len = seg.frame_len();
    let out = out.get_mut(..len).ok_or(FrameError::BufferTooSmall)?;
    let (header, data) = out.split_at_mut(HEADER_LEN);
    let h: &mut [u8; HEADER_LEN] = header.try_into().expect("split at HEADER_LEN");
    // One copy of the code per mode: the mode is a branch taken once, not a value kept.
    match checksum {
        ChecksumMode::Software => write_ack_in::<true>(seg, template, h, data),
        ChecksumMode::Offload => write_ack_in::<false>(seg, template, h, data),
    }
    Ok(len)
}

/// [`write_ack`] in one checksum mode (`SOFTWARE`: both sums computed here).
#[inline(always)]
fn write_ack_in<const SOFTWARE: bool>(
    seg: &SegmentView<'_>,
    template: &AckTemplate,
    h: &mut [u8; HEADER_LEN],
    data: &mut [u8],
) {
    let (ip, tcp) = (seg.ip, seg.tcp);

    // SegmentView::new bounds the payload: IPV4_LEN + TCP_LEN + MAX_PAYLOAD == u16::MAX.
    let tcp_len = ((TCP_LEN + seg.payload.len()) as u16).to_be_bytes();
    let total_len = ((IPV4_LEN + TCP_LEN + seg.payload.len()) as u16).to_be_bytes();
    // Copied as they are, as native words of the wire bytes (each one load and one store), and
    // summed as the same words: the id (2 bytes), the addresses (8), ports and seq (8), ack (4),
    // window (2), TSval and TSecr (8); the 8-byte ones with checksum::add64.
    let word16 = |b: &[u8; 20], at: usize| u16::from_ne_bytes(b[at..at + 2].try_into().expect("2 bytes"));
    let word32 = |b: &[u8; 20], at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let word64 = |b: &[u8; 20], at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let software = SOFTWARE;

    // The constant fields come with the template; the segment's are written over it.
    *h = template.0;
    // IPv4: total length, id, addresses, then its checksum.
    h[16..18].copy_from_slice(&total_len);
    let id = word16(ip, 4);
    h[18..20].copy_from_slice(&id.to_ne_bytes());
    let addresses = word64(ip, 12);
    h[26..34].copy_from_slice(&addresses.to_ne_bytes());
    let ip_sum = if software {
        !checksum::fold(add64(addresses, IPV4_CONST_SUM + word(total_len) + u64::from(id)))
    } else {
        // The NIC wants IPv4 checksum 0 (and, below, the TCP pseudo-header's sum alone).
        0
    };
    h[24..26].copy_from_slice(&ip_sum.to_ne_bytes());
    // The IPv4 header's values are dead from here; this fence keeps the compiler from loading
    // the TCP ones before (few values live at once: the owner's quick path then needs fewer
    // registers than it would otherwise save and restore).
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    // TCP: ports and seq, ack, window, TSval and TSecr; the checksum last.
    let ports_seq = word64(tcp, 0);
    h[34..42].copy_from_slice(&ports_seq.to_ne_bytes());
    let ack = word32(tcp, 8);
    h[42..46].copy_from_slice(&ack.to_ne_bytes());
    let window = word16(tcp, 14);
    h[48..50].copy_from_slice(&window.to_ne_bytes());
    let ts = u64::from_ne_bytes(*seg.ts);
    h[58..66].copy_from_slice(&ts.to_ne_bytes());
    let tcp_sum = if software {
        let small = word(tcp_len) + TCP_CONST_SUM + u64::from(ack) + u64::from(window);
        add64(add64(add64(addresses, ports_seq), ts), small)
    } else {
        add64(addresses, word(tcp_len) + word([0, IPPROTO_TCP]))
    };
    let payload_sum = checksum::copy_and_sum(data, seg.payload);
    let tcp_sum = if software {
        !checksum::fold(add64(tcp_sum, payload_sum))
    } else {
        checksum::fold(tcp_sum)
    };
    h[50..52].copy_from_slice(&tcp_sum.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{LinkSlice, NetSlice, SlicedPacket, TcpOptionElement, TransportSlice};

    const DST: [u8; 6] = [0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4];
    const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

    /// An input IPv4 header (IHL `ihl`) and TCP header with the given options, as a middlebox sees.
    fn input(ihl: u8, tcp_options: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut ip = vec![0u8; usize::from(ihl) * 4];
        ip[0] = 0x40 | ihl;
        ip[1] = 0xb8; // TOS, must not be copied
        ip[2..4].copy_from_slice(&999u16.to_be_bytes());
        ip[4..6].copy_from_slice(&[0xbe, 0xef]);
        ip[6..8].copy_from_slice(&[0x20, 0x10]); // MF + offset: must not be copied
        ip[8] = 3;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 1, 7]);
        assert_eq!(tcp_options.len() % 4, 0);
        let doff = (20 + tcp_options.len()) / 4;
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        tcp[8..12].copy_from_slice(&0xa0b0_c0d0u32.to_be_bytes());
        tcp[12] = (doff as u8) << 4;
        tcp[13] = 0x3f; // every flag: only ACK may survive
        tcp[14..16].copy_from_slice(&29200u16.to_be_bytes());
        tcp[18..20].copy_from_slice(&[0x12, 0x34]); // urgent pointer: must become 0
        tcp.extend_from_slice(tcp_options);
        (ip, tcp)
    }

    const TS_OPTS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78];

    /// The mmTLS fork's flags: the caller's flags byte in place of ACK, the TCP checksum still
    /// right (checked by etherparse over the whole segment), every other byte unchanged; with
    /// offload, the pseudo-header sum stays as it was.
    #[test]
    fn the_callers_flags_in_place_of_ack_keep_the_checksum_right() {
        let (ip, tcp) = input(5, &TS_OPTS);
        for flags in [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x18, 0x19, 0x3f, 0xff] {
            for payload in [&b""[..], b"a", b"some payload of odd length"] {
                let ack = build(&ip, &tcp, payload, ChecksumMode::Software);
                let mut f = ack.clone();
                set_tcp_flags(&mut f, flags, ChecksumMode::Software);
                assert_eq!(f[47], flags);
                let p = SlicedPacket::from_ethernet(&f).unwrap();
                let (Some(NetSlice::Ipv4(i)), Some(TransportSlice::Tcp(t))) = (p.net, p.transport) else {
                    panic!("IPv4 and TCP")
                };
                let want = t
                    .to_header()
                    .calc_checksum_ipv4(&i.header().to_header(), t.payload())
                    .unwrap();
                assert_eq!(t.checksum(), want, "flags {flags:#x}, payload {}", payload.len());
                let changed: Vec<usize> = (0..f.len()).filter(|&k| f[k] != ack[k]).collect();
                assert!(
                    changed.iter().all(|&k| k == 47 || k == 50 || k == 51),
                    "{changed:?}"
                );
                let mut o = build(&ip, &tcp, payload, ChecksumMode::Offload);
                let sum = [o[50], o[51]];
                set_tcp_flags(&mut o, flags, ChecksumMode::Offload);
                assert_eq!(([o[50], o[51]], o[47]), (sum, flags));
            }
        }
    }

    fn build(ip: &[u8], tcp: &[u8], payload: &[u8], mode: ChecksumMode) -> Vec<u8> {
        let seg = SegmentView::new(ip, tcp, payload).unwrap();
        let mut out = vec![0xaau8; frame_len(payload.len()) + 8];
        let len = write_ack_frame(&seg, DST, SRC, mode, &mut out).unwrap();
        assert_eq!(len, 66 + payload.len());
        out.truncate(len);
        out
    }

    #[test]
    fn every_field_matches_the_mos_table() {
        let (ip, tcp) = input(5, &TS_OPTS);
        let frame = build(&ip, &tcp, b"hello", ChecksumMode::Software);
        let p = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = p.link else {
            panic!("no ethernet")
        };
        assert_eq!(eth.destination(), DST);
        assert_eq!(eth.source(), SRC);
        assert_eq!(eth.ether_type(), etherparse::EtherType::IPV4);
        let Some(NetSlice::Ipv4(ipv4)) = p.net else {
            panic!("no ipv4")
        };
        let h = ipv4.header();
        assert_eq!(h.version(), 4);
        assert_eq!(h.ihl(), 5);
        assert_eq!(h.dcp().value(), 0);
        assert_eq!(h.ecn().value(), 0);
        assert_eq!(h.total_len(), 20 + 32 + 5);
        assert_eq!(h.identification().to_be_bytes(), [0xbe, 0xef]);
        assert!(h.dont_fragment());
        assert!(!h.more_fragments());
        assert_eq!(h.fragments_offset().value(), 0);
        assert_eq!(h.ttl(), 64);
        assert_eq!(h.protocol(), etherparse::IpNumber::TCP);
        assert_eq!(h.source(), [10, 0, 0, 1]);
        assert_eq!(h.destination(), [10, 0, 1, 7]);
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("no tcp")
        };
        assert_eq!(t.source_port(), 40000);
        assert_eq!(t.destination_port(), 80);
        assert_eq!(t.sequence_number(), 0x0102_0304);
        assert_eq!(t.acknowledgment_number(), 0xa0b0_c0d0);
        assert_eq!(t.data_offset(), 8);
        assert!(t.ack());
        assert!(!t.syn() && !t.fin() && !t.rst() && !t.psh() && !t.urg());
        assert_eq!(t.window_size(), 29200);
        assert_eq!(t.urgent_pointer(), 0);
        assert_eq!(&t.options()[..4], &[1, 1, 8, 10]);
        let opts: Vec<_> = t.options_iterator().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            opts,
            vec![
                TcpOptionElement::Noop,
                TcpOptionElement::Noop,
                TcpOptionElement::Timestamp(0x1234, 0x5678)
            ]
        );
        assert_eq!(t.payload(), b"hello");
        assert_eq!(frame.len(), 66 + 5);
    }

    fn assert_checksums_valid(frame: &[u8]) {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(NetSlice::Ipv4(ipv4)) = p.net else {
            panic!("no ipv4")
        };
        let h = ipv4.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("no tcp")
        };
        let expect = t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap();
        assert_eq!(t.checksum(), expect, "TCP checksum");
    }

    #[test]
    fn software_checksums_are_correct_for_payload_sizes() {
        let (ip, tcp) = input(5, &TS_OPTS);
        for n in [0usize, 1, 2, 3, 7, 1447, 1448] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let frame = build(&ip, &tcp, &payload, ChecksumMode::Software);
            assert_eq!(frame.len(), 66 + n);
            assert_checksums_valid(&frame);
        }
    }

    #[test]
    fn all_ones_payload_checksums_fold_correctly() {
        let (ip, tcp) = input(5, &TS_OPTS);
        let frame = build(&ip, &tcp, &[0xff; 1448], ChecksumMode::Software);
        assert_checksums_valid(&frame);
    }

    /// Every summed header field at its largest (and at its smallest): the 64-bit sums carry out
    /// and the carries must come back in.
    #[test]
    fn header_sums_carry_correctly_at_the_extremes() {
        for fill in [0xffu8, 0xfe, 0x00, 0x80] {
            let mut opts = TS_OPTS;
            opts[4..].fill(fill);
            let (mut ip, mut tcp) = input(5, &opts);
            ip[4..6].fill(fill);
            ip[12..20].fill(fill);
            tcp[0..12].fill(fill);
            tcp[14..16].fill(fill);
            for payload in [&[][..], &[0xff; 1448][..], &[fill; 3][..]] {
                assert_checksums_valid(&build(&ip, &tcp, payload, ChecksumMode::Software));
                // Offload: the pseudo-header sum alone, folded and not complemented, summed here
                // as 16-bit big-endian words.
                let frame = build(&ip, &tcp, payload, ChecksumMode::Offload);
                let addresses = ip[12..20]
                    .chunks(2)
                    .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])));
                let words = addresses.chain([6, 32 + payload.len() as u32]);
                assert_eq!(frame[50..52], folded_be(words), "fill {fill:#x}");
                assert_eq!(frame[24..26], [0, 0]);
            }
        }
    }

    #[test]
    fn offload_leaves_ip_checksum_zero_and_pseudo_header_sum_in_tcp() {
        let (ip, tcp) = input(5, &TS_OPTS);
        let frame = build(&ip, &tcp, b"abc", ChecksumMode::Offload);
        assert_eq!(&frame[24..26], &[0, 0]);
        // Pseudo header: saddr, daddr, zero+proto, TCP length, summed as 16-bit words.
        let words: [u32; 6] = [0x0a00, 0x0001, 0x0a00, 0x0107, 6, 35];
        assert_eq!(frame[50..52], folded_be(words));
    }

    /// The one's-complement sum of 16-bit words, folded (not complemented), in wire order: an
    /// independent reference for the offload checksum field.
    fn folded_be(words: impl IntoIterator<Item = u32>) -> [u8; 2] {
        let mut s: u32 = words.into_iter().sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        (s as u16).to_be_bytes()
    }

    #[test]
    fn timestamp_absent_gives_zeros() {
        let (ip, tcp) = input(5, &[]);
        let frame = build(&ip, &tcp, &[], ChecksumMode::Software);
        assert_eq!(&frame[54..66], &[1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_checksums_valid(&frame);
    }

    #[test]
    fn timestamp_after_other_options_is_found() {
        // MSS (4), SACK-permitted (2), window scale (3), NOP, Timestamp (10), EOL padding (2).
        let opts = [
            2, 4, 5, 0xb4, 4, 2, 3, 3, 7, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0,
        ];
        let (ip, tcp) = input(5, &opts);
        let frame = build(&ip, &tcp, &[], ChecksumMode::Software);
        assert_eq!(&frame[58..66], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn malformed_option_lengths_stop_the_scan() {
        for opts in [
            [2, 0, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],  // length 0
            [2, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],  // length 1
            [2, 40, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8], // runs past the end
            [0, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],  // EOL before it
        ] {
            assert_eq!(find_timestamp(&opts), None, "{opts:?}");
        }
    }

    #[test]
    fn timestamp_with_wrong_length_is_skipped() {
        assert_eq!(find_timestamp(&[8, 6, 1, 2, 3, 4, 1, 1]), None);
        let opts = [8, 6, 9, 9, 9, 9, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(find_timestamp(&opts), Some(([1, 2, 3, 4], [5, 6, 7, 8])));
    }

    #[test]
    fn timestamp_cut_by_the_readable_bytes_is_not_read() {
        // Data offset says 8 words, but only 26 bytes may be read: the option is incomplete.
        let (ip, tcp) = input(5, &TS_OPTS);
        let seg = SegmentView::new(&ip, &tcp[..26], &[]).unwrap();
        assert_eq!(seg.ts(), &[0; 8]);
    }

    #[test]
    fn input_ip_options_are_dropped() {
        let (ip, tcp) = input(8, &TS_OPTS);
        let frame = build(&ip, &tcp, b"x", ChecksumMode::Software);
        assert_eq!(frame[14], 0x45);
        assert_eq!(&frame[26..34], &[10, 0, 0, 1, 10, 0, 1, 7]);
        assert_checksums_valid(&frame);
    }

    #[test]
    fn bad_headers_are_rejected() {
        let (mut ip, mut tcp) = input(5, &[]);
        ip[0] = 0x65;
        assert_eq!(
            SegmentView::new(&ip, &tcp, &[]).map(|_| ()),
            Err(FrameError::BadIpv4Header)
        );
        ip[0] = 0x44;
        assert_eq!(
            SegmentView::new(&ip, &tcp, &[]).map(|_| ()),
            Err(FrameError::BadIpv4Header)
        );
        ip[0] = 0x45;
        assert_eq!(
            SegmentView::new(&ip[..19], &tcp, &[]).map(|_| ()),
            Err(FrameError::BadIpv4Header)
        );
        tcp[12] = 4 << 4;
        assert_eq!(
            SegmentView::new(&ip, &tcp, &[]).map(|_| ()),
            Err(FrameError::BadTcpHeader)
        );
        tcp[12] = 5 << 4;
        assert_eq!(
            SegmentView::new(&ip, &tcp[..19], &[]).map(|_| ()),
            Err(FrameError::BadTcpHeader)
        );
        assert!(SegmentView::new(&ip, &tcp, &[]).is_ok());
    }

    #[test]
    fn short_buffer_and_oversized_payload_are_errors() {
        let (ip, tcp) = input(5, &[]);
        let mut small = [0u8; 66];
        let f = SegmentView::new(&ip, &tcp, b"x").unwrap();
        assert_eq!(
            write_ack_frame(&f, DST, SRC, ChecksumMode::Software, &mut small),
            Err(FrameError::BufferTooSmall)
        );
        let big = vec![0u8; MAX_PAYLOAD + 1];
        assert_eq!(
            SegmentView::new(&ip, &tcp, &big).map(|_| ()),
            Err(FrameError::PayloadTooLong)
        );
        let max = vec![0x5au8; MAX_PAYLOAD];
        let mut out = vec![0u8; frame_len(max.len())];
        let f = SegmentView::new(&ip, &tcp, &max).unwrap();
        assert_eq!(
            write_ack_frame(&f, DST, SRC, ChecksumMode::Software, &mut out),
            Ok(65535 + 14)
        );
        assert_eq!(&out[16..18], &[0xff, 0xff]);
    }
}
