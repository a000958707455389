//! The pure frame builder: turns the caller's IPv4/TCP header bytes into the exact Ethernet/IPv4/TCP
//! frame mOS 0.3 emits (`MOS_COMPAT.md`, "The frame mOS emits"), with correct checksums.
//!
//! No DPDK, no allocation, no pointers: byte slices in, byte slice out, so that it can be unit-tested
//! against an independent parser and fuzzed.

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
const IPPROTO_TCP: u8 = 6;
const TTL: u8 = 64;
/// DF set, fragment offset 0.
const FLAGS_DF: [u8; 2] = [0x40, 0x00];
const TCP_FLAG_ACK: u8 = 0x10;
const TCPOPT_EOL: u8 = 0;
const TCPOPT_NOP: u8 = 1;
const TCPOPT_TIMESTAMP: u8 = 8;
const TCPOLEN_TIMESTAMP: usize = 10;

/// Why the input headers cannot make a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than 20 bytes of IPv4 header, version not 4, or IHL below 5.
    BadIpv4Header,
    /// Fewer than 20 bytes of TCP header, or data offset below 5.
    BadTcpHeader,
    /// The payload would make the IPv4 total length overflow 65535.
    PayloadTooLong,
    /// The output buffer is shorter than [`frame_len`].
    BufferTooSmall,
}

/// How the IPv4 and TCP checksums are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Both checksums computed here: the frame is correct as written.
    Software,
    /// The NIC computes them: IPv4 checksum 0, TCP checksum holds the pseudo-header sum
    /// (what DPDK's `rte_ipv4_phdr_cksum` gives), as `RTE_MBUF_F_TX_*_CKSUM` requires.
    Offload,
}

/// The fields of the caller's headers that the emitted frame copies, in network byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderFields {
    pub ip_id: [u8; 2],
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub sport: [u8; 2],
    pub dport: [u8; 2],
    pub seq: [u8; 4],
    pub ack: [u8; 4],
    pub window: [u8; 2],
    /// (TSval, TSecr) of the input's Timestamp option, or (0, 0) when it has none.
    pub timestamp: ([u8; 4], [u8; 4]),
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

impl HeaderFields {
    /// Reads the copied fields from the input IPv4 header (at least its first 20 bytes) and TCP
    /// header (its first 20 bytes plus whatever option bytes the caller may read; options beyond
    /// `tcp.len()` are never looked at).
    #[inline]
    pub fn parse(ip: &[u8], tcp: &[u8]) -> Result<Self, FrameError> {
        ipv4_header_len(ip)?;
        let doff = tcp_header_len(tcp)?;
        let options = &tcp[20..doff.min(tcp.len())];
        Ok(Self {
            ip_id: [ip[4], ip[5]],
            saddr: [ip[12], ip[13], ip[14], ip[15]],
            daddr: [ip[16], ip[17], ip[18], ip[19]],
            sport: [tcp[0], tcp[1]],
            dport: [tcp[2], tcp[3]],
            seq: [tcp[4], tcp[5], tcp[6], tcp[7]],
            ack: [tcp[8], tcp[9], tcp[10], tcp[11]],
            window: [tcp[14], tcp[15]],
            timestamp: timestamp_of(options),
        })
    }

    /// Destination address as a host-order integer, for route and ARP lookups.
    pub fn daddr_u32(&self) -> u32 {
        u32::from_be_bytes(self.daddr)
    }
}

/// The Timestamp of an option list, (0, 0) without one. Most segments carry exactly
/// NOP, NOP, Timestamp first: that layout is read directly, anything else is scanned.
#[inline]
fn timestamp_of(options: &[u8]) -> ([u8; 4], [u8; 4]) {
    if let Some(o) = options.first_chunk::<12>() {
        if o[..4] == [TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP as u8] {
            return ([o[4], o[5], o[6], o[7]], [o[8], o[9], o[10], o[11]]);
        }
    }
    find_timestamp(options).unwrap_or(([0; 4], [0; 4]))
}

/// The first well-formed Timestamp option (kind 8, length 10) in a TCP option list.
///
/// Scanning stops at End-of-Options, at an option whose length byte is missing, below 2 or runs
/// past the list: what follows a malformed option cannot be trusted. A kind-8 option of the wrong
/// length is skipped, not taken.
pub fn find_timestamp(options: &[u8]) -> Option<([u8; 4], [u8; 4])> {
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
                    let o = &options[at + 2..at + 10];
                    return Some(([o[0], o[1], o[2], o[3]], [o[4], o[5], o[6], o[7]]));
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

/// Writes the frame into `out[..frame_len(payload.len())]` and returns its length.
///
/// The 66 header bytes are written at fixed offsets of a fixed-size array, and the checksums are
/// summed over fixed-size word arrays: no bounds check or loop survives in the header path.
pub fn write_frame(
    fields: &HeaderFields,
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    payload: &[u8],
    checksum: ChecksumMode,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::PayloadTooLong);
    }
    let len = frame_len(payload.len());
    let out = out.get_mut(..len).ok_or(FrameError::BufferTooSmall)?;
    let (header, data) = out.split_at_mut(HEADER_LEN);
    let h: &mut [u8; HEADER_LEN] = header.try_into().expect("split at HEADER_LEN");

    // IPV4_LEN + TCP_LEN + MAX_PAYLOAD == u16::MAX, checked above.
    let total_len = ((IPV4_LEN + TCP_LEN + payload.len()) as u16).to_be_bytes();
    h[0..6].copy_from_slice(&eth_dst);
    h[6..12].copy_from_slice(&eth_src);
    h[12..14].copy_from_slice(&ETHERTYPE_IPV4);
    // IPv4: version/IHL, TOS, total length, id, DF, TTL, protocol, checksum (below), addresses.
    h[14..16].copy_from_slice(&[0x45, 0]);
    h[16..18].copy_from_slice(&total_len);
    h[18..20].copy_from_slice(&fields.ip_id);
    h[20..22].copy_from_slice(&FLAGS_DF);
    h[22..26].copy_from_slice(&[TTL, IPPROTO_TCP, 0, 0]);
    h[26..30].copy_from_slice(&fields.saddr);
    h[30..34].copy_from_slice(&fields.daddr);
    // TCP: ports, seq, ack, data offset 8, ACK only, window, checksum (below), urgent pointer 0.
    h[34..36].copy_from_slice(&fields.sport);
    h[36..38].copy_from_slice(&fields.dport);
    h[38..42].copy_from_slice(&fields.seq);
    h[42..46].copy_from_slice(&fields.ack);
    h[46..48].copy_from_slice(&[((TCP_LEN / 4) as u8) << 4, TCP_FLAG_ACK]);
    h[48..50].copy_from_slice(&fields.window);
    h[50..54].copy_from_slice(&[0; 4]);
    // NOP, NOP, Timestamp.
    h[54..58].copy_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP as u8]);
    h[58..62].copy_from_slice(&fields.timestamp.0);
    h[62..66].copy_from_slice(&fields.timestamp.1);
    if !payload.is_empty() {
        data.copy_from_slice(payload);
    }

    // The sums read native-endian words: the folded result is then the big-endian sum's bytes in
    // native order, so it is stored with to_ne_bytes and no byte swap is needed anywhere.
    let tcp_len = (TCP_LEN + payload.len()) as u16;
    let pseudo = pseudo_header_sum(&fields.saddr, &fields.daddr, tcp_len);
    match checksum {
        ChecksumMode::Software => {
            let ip: &[u8; IPV4_LEN] = h[ETH_LEN..ETH_LEN + IPV4_LEN].try_into().expect("fixed range");
            let ip_sum = !fold(sum_words(ip));
            h[24..26].copy_from_slice(&ip_sum.to_ne_bytes());
            let tcp: &[u8; TCP_LEN] = h[ETH_LEN + IPV4_LEN..].try_into().expect("fixed range");
            let tcp_sum = !fold(sum_native(data, sum_words(tcp) + pseudo));
            h[50..52].copy_from_slice(&tcp_sum.to_ne_bytes());
        }
        ChecksumMode::Offload => {
            h[50..52].copy_from_slice(&fold(pseudo).to_ne_bytes());
        }
    }
    Ok(len)
}

/// Unfolded one's-complement sum of a fixed-size block read as native-endian 32-bit words (its
/// length a multiple of 4).
///
/// One's-complement sums are byte-order independent (RFC 1071): summing native words gives the
/// big-endian sum with its bytes in native order. And 2^16 ≡ 1 (mod 0xffff), so 32- or 64-bit
/// words fold to the same 16-bit result as 16-bit words, with fewer additions.
#[inline]
fn sum_words<const N: usize>(block: &[u8; N]) -> u64 {
    let mut acc = 0u64;
    let mut i = 0;
    while i + 4 <= N {
        acc += u64::from(u32::from_ne_bytes([
            block[i],
            block[i + 1],
            block[i + 2],
            block[i + 3],
        ]));
        i += 4;
    }
    acc
}

/// Unfolded native-order sum of the TCP pseudo-header (addresses, zero + protocol, TCP length).
#[inline]
fn pseudo_header_sum(saddr: &[u8; 4], daddr: &[u8; 4], tcp_len: u16) -> u64 {
    // The protocol and length are big-endian words on the wire: to_be gives their native bytes.
    u64::from(u32::from_ne_bytes(*saddr))
        + u64::from(u32::from_ne_bytes(*daddr))
        + u64::from(u16::to_be(u16::from(IPPROTO_TCP)))
        + u64::from(tcp_len.to_be())
}

/// Adds `data` as native-endian 64-bit words with end-around carry (odd tail padded with zero, in
/// place) to `acc`, unfolded.
fn sum_native(data: &[u8], mut acc: u64) -> u64 {
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let (s, carry) = acc.overflowing_add(u64::from_ne_bytes(w.try_into().expect("8 bytes")));
        acc = s + u64::from(carry);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut pad = [0u8; 8];
        pad[..tail.len()].copy_from_slice(tail);
        let (s, carry) = acc.overflowing_add(u64::from_ne_bytes(pad));
        acc = s + u64::from(carry);
    }
    acc
}

/// Folds a wide one's-complement sum to 16 bits (end-around carries included).
#[inline]
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
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

    fn build(ip: &[u8], tcp: &[u8], payload: &[u8], mode: ChecksumMode) -> Vec<u8> {
        let fields = HeaderFields::parse(ip, tcp).unwrap();
        let mut out = vec![0xaau8; frame_len(payload.len()) + 8];
        let len = write_frame(&fields, DST, SRC, payload, mode, &mut out).unwrap();
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

    #[test]
    fn offload_leaves_ip_checksum_zero_and_pseudo_header_sum_in_tcp() {
        let (ip, tcp) = input(5, &TS_OPTS);
        let frame = build(&ip, &tcp, b"abc", ChecksumMode::Offload);
        assert_eq!(&frame[24..26], &[0, 0]);
        // Pseudo header: saddr, daddr, zero+proto, TCP length, summed as 16-bit words.
        let words: [u32; 6] = [0x0a00, 0x0001, 0x0a00, 0x0107, 6, 35];
        let mut s: u32 = words.iter().sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        assert_eq!(&frame[50..52], &(s as u16).to_be_bytes());
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
        let fields = HeaderFields::parse(&ip, &tcp[..26]).unwrap();
        assert_eq!(fields.timestamp, ([0; 4], [0; 4]));
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
        assert_eq!(HeaderFields::parse(&ip, &tcp), Err(FrameError::BadIpv4Header));
        ip[0] = 0x44;
        assert_eq!(HeaderFields::parse(&ip, &tcp), Err(FrameError::BadIpv4Header));
        ip[0] = 0x45;
        assert_eq!(
            HeaderFields::parse(&ip[..19], &tcp),
            Err(FrameError::BadIpv4Header)
        );
        tcp[12] = 4 << 4;
        assert_eq!(HeaderFields::parse(&ip, &tcp), Err(FrameError::BadTcpHeader));
        tcp[12] = 5 << 4;
        assert_eq!(
            HeaderFields::parse(&ip, &tcp[..19]),
            Err(FrameError::BadTcpHeader)
        );
        assert!(HeaderFields::parse(&ip, &tcp).is_ok());
    }

    #[test]
    fn short_buffer_and_oversized_payload_are_errors() {
        let (ip, tcp) = input(5, &[]);
        let f = HeaderFields::parse(&ip, &tcp).unwrap();
        let mut small = [0u8; 66];
        assert_eq!(
            write_frame(&f, DST, SRC, b"x", ChecksumMode::Software, &mut small),
            Err(FrameError::BufferTooSmall)
        );
        let big = vec![0u8; MAX_PAYLOAD + 1];
        let mut out = vec![0u8; frame_len(big.len())];
        assert_eq!(
            write_frame(&f, DST, SRC, &big, ChecksumMode::Software, &mut out),
            Err(FrameError::PayloadTooLong)
        );
        let max = vec![0x5au8; MAX_PAYLOAD];
        let mut out = vec![0u8; frame_len(max.len())];
        assert_eq!(
            write_frame(&f, DST, SRC, &max, ChecksumMode::Software, &mut out),
            Ok(65535 + 14)
        );
        assert_eq!(&out[16..18], &[0xff, 0xff]);
    }
}
