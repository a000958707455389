//! The pure builder for any TCP segment beyond mOS's ACK: the RST pair an IPS sends to end a
//! flow at both ends, and raw segments (the caller's headers as they are), over IPv4 or IPv6,
//! with the flow's 802.1Q / 802.1ad tags.
//!
//! As in `frame`: no DPDK, no allocation, no pointers. The caller's headers are checked once
//! ([`Seen::new`]); frames are written into a byte slice with both checksums computed here.
//!
//! A RST is exact or useless: Linux takes one only when its sequence number is the next one it
//! expects (RFC 5961, 3.2) and answers anything else with a challenge ACK. [`Seen::reset`] gives
//! the values for each direction; `docs/mos-compat.md` has the rule in words.

use std::net::IpAddr;

use crate::checksum::{self, copy_and_sum, dword, word};
use crate::frame::FrameError;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q, 802.1ad and the older QinQ TPID.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Most VLAN tags copied from the observed frame (QinQ).
pub const MAX_TAGS: usize = 2;
const IPPROTO_TCP: u8 = 6;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const TCP_LEN: usize = 20;
/// Most bytes of IPv6 extension headers between the fixed header and TCP that are accepted.
pub const MAX_IPV6_EXTENSIONS: usize = 512;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// Where a segment's frame goes on the wire: Ethernet addresses and the VLAN tags to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// 0, 4 or 8 bytes: each tag a TPID and a TCI, outermost first ([`vlan_tags`]).
    pub tags: &'a [u8],
}

impl Link<'_> {
    fn len(&self) -> usize {
        12 + self.tags.len() + 2
    }

    /// Writes the Ethernet header with `ethertype`; returns its length.
    fn write(&self, out: &mut [u8], ethertype: u16) -> usize {
        let n = self.len();
        out[0..6].copy_from_slice(&self.dst);
        out[6..12].copy_from_slice(&self.src);
        out[12..12 + self.tags.len()].copy_from_slice(self.tags);
        out[n - 2..n].copy_from_slice(&ethertype.to_be_bytes());
        n
    }
}

/// The VLAN tags between an Ethernet header's source address and the network header, when
/// `l2` (from the frame's first byte up to the IP header) holds only valid tags and an ethertype
/// of `version`: `l2[12..l2.len() - 2]`; else `None`.
pub fn vlan_tags(l2: &[u8], version: IpVersion) -> Option<&[u8]> {
    let tags = l2.get(12..l2.len().checked_sub(2)?)?;
    let ethertype = u16::from_be_bytes([l2[l2.len() - 2], l2[l2.len() - 1]]);
    let valid = tags.len() % 4 == 0
        && tags.len() <= 4 * MAX_TAGS
        && tags
            .chunks(4)
            .all(|t| VLAN_TPIDS.contains(&u16::from_be_bytes([t[0], t[1]])))
        && ethertype == version.ethertype();
    valid.then_some(tags)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    fn ethertype(self) -> u16 {
        match self {
            IpVersion::V4 => ETHERTYPE_IPV4,
            IpVersion::V6 => ETHERTYPE_IPV6,
        }
    }

    /// From an IP header's version nibble.
    pub fn of(first_byte: u8) -> Option<Self> {
        match first_byte >> 4 {
            4 => Some(IpVersion::V4),
            6 => Some(IpVersion::V6),
            _ => None,
        }
    }
}

/// How many bytes the network header starting with `head` spans, as far as it can tell from its
/// first bytes: IHL × 4 for IPv4 (at least 20); 40 for IPv6 (extension headers are found by
/// [`Seen::new`] up to the TCP header). `None` when `head` is no IPv4 or IPv6 header.
pub fn ip_header_len(head: &[u8]) -> Option<usize> {
    match IpVersion::of(*head.first()?)? {
        IpVersion::V4 => {
            let ihl = usize::from(head[0] & 0x0f) * 4;
            (ihl >= IPV4_LEN).then_some(ihl)
        }
        IpVersion::V6 => Some(IPV6_LEN),
    }
}

/// A whole Ethernet frame the middlebox held back to send again later as it is (the mmTLS fork's
/// `mtcp_sendpkt_raw`): where it goes ([`Verbatim::of`]), then [`Verbatim::write`] copies it with
/// the two MAC addresses of the output port's link; every other byte is the caller's (VLAN tags
/// kept, no checksum recomputed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbatim<'a> {
    pub frame: &'a [u8],
    /// The IPv4 or IPv6 destination, which routes the frame.
    pub dst: IpAddr,
    /// Bytes of VLAN tags after the source address.
    pub tags: usize,
}

impl<'a> Verbatim<'a> {
    /// `None` when `frame` is not Ethernet (with up to [`MAX_TAGS`] VLAN tags) then a whole IPv4
    /// or IPv6 header (20 bytes at least, the version nibble matching the ethertype).
    pub fn of(frame: &'a [u8]) -> Option<Self> {
        let mut at = 12;
        let mut tags = 0;
        loop {
            let ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
            if VLAN_TPIDS.contains(&ethertype) && tags < 4 * MAX_TAGS {
                at += 4;
                tags += 4;
                continue;
            }
            let ip = frame.get(at + 2..)?;
            let version = match ethertype {
                ETHERTYPE_IPV4 => IpVersion::V4,
                ETHERTYPE_IPV6 => IpVersion::V6,
                _ => return None,
            };
            if IpVersion::of(*ip.first()?)? != version {
                return None;
            }
            let dst = match version {
                IpVersion::V4 if ip.len() >= IPV4_LEN => {
                    IpAddr::from(<[u8; 4]>::try_from(&ip[16..20]).expect("4 bytes"))
                }
                IpVersion::V6 if ip.len() >= IPV6_LEN => {
                    IpAddr::from(<[u8; 16]>::try_from(&ip[24..40]).expect("16 bytes"))
                }
                _ => return None,
            };
            return Some(Self { frame, dst, tags });
        }
    }

    /// The frame's length without its VLAN tags (what a port's frame limit bounds).
    pub fn untagged_len(&self) -> usize {
        self.frame.len() - self.tags
    }

    /// Writes the frame into `out` with `addresses` (the destination then the source MAC, 12
    /// bytes) in place of its own; returns its length.
    pub fn write(&self, addresses: &[u8; 12], out: &mut [u8]) -> Result<usize, FrameError> {
        let out = out
            .get_mut(..self.frame.len())
            .ok_or(FrameError::BufferTooSmall)?;
        out.copy_from_slice(self.frame);
        out[0..12].copy_from_slice(addresses);
        Ok(self.frame.len())
    }
}

/// A segment the middlebox observed (or wants sent as it is): its network header (IPv4 with
/// options, or IPv6 with its extension headers), TCP header with options, and payload length.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    version: IpVersion,
    ip: &'a [u8],
    tcp: &'a [u8],
    payload_len: usize,
}

/// Which way a RST goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Toward the host that sent the observed segment (as if from its receiver).
    ToSender,
    /// Toward the host the observed segment was addressed to (as if from its sender).
    ToReceiver,
}

/// A RST to write: addresses, ports, numbers and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

impl<'a> Seen<'a> {
    /// Checks the headers: `ip` is the whole network header (IPv4: IHL × 4 bytes; IPv6: the
    /// fixed header and every extension header before TCP, whose chain must end in TCP exactly
    /// where `ip` ends), `tcp` the whole TCP header (data offset × 4 bytes).
    pub fn new(ip: &'a [u8], tcp: &'a [u8], payload_len: usize) -> Result<Self, FrameError> {
        let version = ip
            .first()
            .and_then(|&b| IpVersion::of(b))
            .ok_or(FrameError::BadIpv4Header)?;
        match version {
            IpVersion::V4 => {
                if ip_header_len(ip) != Some(ip.len()) || ip[9] != IPPROTO_TCP {
                    return Err(FrameError::BadIpv4Header);
                }
            }
            IpVersion::V6 => {
                if ipv6_headers_len(ip) != Some(ip.len()) {
                    return Err(FrameError::BadIpv4Header);
                }
            }
        }
        if tcp.len() < TCP_LEN || usize::from(tcp[12] >> 4) * 4 != tcp.len() {
            return Err(FrameError::BadTcpHeader);
        }
        let s = Self {
            version,
            ip,
            tcp,
            payload_len,
        };
        // The length fields of the frames written must hold the payload.
        if s.headers_len() + payload_len > usize::from(u16::MAX) {
            return Err(FrameError::PayloadTooLong);
        }
        Ok(s)
    }

    pub fn version(&self) -> IpVersion {
        self.version
    }

    /// Network and TCP headers' length (what a raw frame carries before its payload).
    pub fn headers_len(&self) -> usize {
        self.ip.len() + self.tcp.len()
    }

    pub fn src(&self) -> IpAddr {
        self.addr(0)
    }

    pub fn dst(&self) -> IpAddr {
        self.addr(1)
    }

    fn addr(&self, which: usize) -> IpAddr {
        match self.version {
            IpVersion::V4 => {
                let a: [u8; 4] = self.ip[12 + 4 * which..16 + 4 * which]
                    .try_into()
                    .expect("20 bytes");
                IpAddr::from(a)
            }
            IpVersion::V6 => {
                let a: [u8; 16] = self.ip[8 + 16 * which..24 + 16 * which]
                    .try_into()
                    .expect("40 bytes");
                IpAddr::from(a)
            }
        }
    }

    fn seq(&self) -> u32 {
        u32::from_be_bytes(self.tcp[4..8].try_into().expect("20 bytes"))
    }

    fn ack(&self) -> u32 {
        u32::from_be_bytes(self.tcp[8..12].try_into().expect("20 bytes"))
    }

    fn flags(&self) -> u8 {
        self.tcp[13]
    }

    fn port(&self, which: usize) -> u16 {
        u16::from_be_bytes([self.tcp[2 * which], self.tcp[2 * which + 1]])
    }

    /// The RST toward `dir`. With len = payload + 1 for SYN + 1 for FIN:
    /// - toward the receiver: the observed addresses and ports, seq = seq + len, RST|ACK with the
    ///   observed ack (RST alone when the observed segment has no ACK);
    /// - toward the sender: addresses and ports swapped, seq = the observed ack when it has ACK
    ///   (else 0, RFC 793), RST|ACK with ack = seq + len.
    pub fn reset(&self, dir: Direction) -> Reset {
        let flags = self.flags();
        let len = self.payload_len as u32 + u32::from(flags & TCP_SYN != 0) + u32::from(flags & TCP_FIN != 0);
        let next = self.seq().wrapping_add(len);
        let has_ack = flags & TCP_ACK != 0;
        match dir {
            Direction::ToReceiver => Reset {
                src: self.src(),
                dst: self.dst(),
                sport: self.port(0),
                dport: self.port(1),
                seq: next,
                ack: if has_ack { self.ack() } else { 0 },
                flags: if has_ack { TCP_RST | TCP_ACK } else { TCP_RST },
            },
            Direction::ToSender => Reset {
                src: self.dst(),
                dst: self.src(),
                sport: self.port(1),
                dport: self.port(0),
                seq: if has_ack { self.ack() } else { 0 },
                ack: next,
                flags: TCP_RST | TCP_ACK,
            },
        }
    }
}

/// Length of an IPv6 header with the extension headers before TCP (hop-by-hop, routing,
/// fragment, destination options, authentication), reading no further than `p`; `None` when the
/// chain does not reach TCP, or holds a fragment past the first (it cannot be answered).
pub fn ipv6_headers_len(p: &[u8]) -> Option<usize> {
    let (mut next, mut at) = (*p.get(6)?, IPV6_LEN);
    while next != IPPROTO_TCP {
        let h = p.get(at..at + 2)?;
        at += match next {
            // Hop-by-hop, routing, destination options: length in 8-byte units, minus one.
            0 | 43 | 60 => (usize::from(h[1]) + 1) * 8,
            44 => {
                let f = p.get(at..at + 8)?;
                if u16::from_be_bytes([f[2], f[3]]) & 0xfff9 != 0 {
                    return None;
                }
                8
            }
            // Authentication header: length in 4-byte units, minus two.
            51 => (usize::from(h[1]) + 2) * 4,
            _ => return None,
        };
        next = h[0];
        if at > IPV6_LEN + MAX_IPV6_EXTENSIONS {
            return None;
        }
    }
    Some(at)
}

/// Length of the RST frame over `link` for `version`.
pub fn reset_frame_len(link: &Link<'_>, version: IpVersion) -> usize {
    link.len()
        + match version {
            IpVersion::V4 => IPV4_LEN,
            IpVersion::V6 => IPV6_LEN,
        }
        + TCP_LEN
}

/// Writes the RST frame: no options, window 0; IPv4 with IHL 5, id 0, DF, TTL 64; IPv6 with hop
/// limit 64 and no extension header. Returns the frame's length.
pub fn write_reset(link: &Link<'_>, r: &Reset, out: &mut [u8]) -> Result<usize, FrameError> {
    let (version, ip_len) = match (r.src, r.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (IpVersion::V4, IPV4_LEN),
        (IpAddr::V6(_), IpAddr::V6(_)) => (IpVersion::V6, IPV6_LEN),
        _ => return Err(FrameError::BadIpv4Header),
    };
    let len = reset_frame_len(link, version);
    let out = out.get_mut(..len).ok_or(FrameError::BufferTooSmall)?;
    let l2 = link.write(out, version.ethertype());
    let (ip, tcp) = out[l2..].split_at_mut(ip_len);
    let pseudo = write_ip(ip, r.src, r.dst, TCP_LEN, &mut [0, 0]);
    tcp.fill(0);
    tcp[0..2].copy_from_slice(&r.sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&r.dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&r.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&r.ack.to_be_bytes());
    tcp[12] = ((TCP_LEN / 4) as u8) << 4;
    tcp[13] = r.flags;
    let sum = pseudo + copy_sum_in_place(tcp);
    tcp[16..18].copy_from_slice(&checksum::finish(sum));
    Ok(len)
}

/// Writes a fresh IPv4 (IHL 5, id `id`, DF, TTL 64) or IPv6 (hop limit 64) header for a TCP
/// segment of `tcp_len` bytes; returns the pseudo-header's unfolded sum.
fn write_ip(ip: &mut [u8], src: IpAddr, dst: IpAddr, tcp_len: usize, id: &mut [u8; 2]) -> u64 {
    ip.fill(0);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((IPV4_LEN + tcp_len) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(id);
            ip[6] = 0x40;
            ip[8] = 64;
            ip[9] = IPPROTO_TCP;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let sum = copy_sum_in_place(&ip[..IPV4_LEN]);
            ip[10..12].copy_from_slice(&checksum::finish(sum));
            dword(s.octets())
                + dword(d.octets())
                + word([0, IPPROTO_TCP])
                + word((tcp_len as u16).to_be_bytes())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
            ip[6] = IPPROTO_TCP;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&s.octets());
            ip[24..40].copy_from_slice(&d.octets());
            pseudo_v6(&s.octets(), &d.octets(), tcp_len)
        }
        _ => unreachable!("write_reset checked the families"),
    }
}

fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], tcp_len: usize) -> u64 {
    let mut sum = 0;
    for a in [src, dst] {
        for c in a.chunks(4) {
            sum += dword(c.try_into().expect("chunks of 4"));
        }
    }
    sum + dword((tcp_len as u32).to_be_bytes()) + word([0, IPPROTO_TCP])
}

/// The unfolded sum of bytes already in place (an even-length region).
fn copy_sum_in_place(b: &[u8]) -> u64 {
    b.chunks(2)
        .map(|c| word([c[0], c.get(1).copied().unwrap_or(0)]))
        .sum()
}

/// One frame of a raw segment: which payload bytes it carries, and whether it is the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Offset of this frame's payload in the whole payload.
    pub offset: usize,
    pub len: usize,
    /// Index of the frame (IPv4 ids advance by it).
    pub index: u16,
    pub last: bool,
}

/// How a payload of `payload_len` bytes is cut so that each frame's IP packet fits `mtu` with
/// `headers_len` bytes of headers (network + TCP): `None` when not even one payload byte fits.
pub fn pieces(payload_len: usize, headers_len: usize, mtu: usize) -> Option<impl Iterator<Item = Piece>> {
    let mss = mtu
        .checked_sub(headers_len)
        .filter(|&m| m > 0 || payload_len == 0)?;
    let n = if payload_len == 0 {
        1
    } else {
        payload_len.div_ceil(mss)
    };
    // u16 ids: more than 65535 frames cannot come from a 64 KiB payload with mss >= 1... but a
    // tiny mss could; refuse those.
    u16::try_from(n).ok()?;
    Some((0..n).map(move |i| {
        let offset = i * mss;
        Piece {
            offset,
            len: mss.min(payload_len - offset.min(payload_len)),
            index: i as u16,
            last: i + 1 == n,
        }
    }))
}

/// Length of the frame carrying `piece` of `seen`.
pub fn raw_frame_len(link: &Link<'_>, seen: &Seen<'_>, piece: &Piece) -> usize {
    link.len() + seen.headers_len() + piece.len
}

/// Writes one frame of a raw segment: the caller's network header (IPv4 options, IPv6
/// extension headers) and TCP header (every flag and option) as they are, then `piece` of the
/// payload. Only the lengths, the checksums and, for a piece of a longer payload, the sequence
/// number (advanced by the piece's offset), the IPv4 id (by its index) and PSH/FIN (kept on the
/// last piece only) are changed.
pub fn write_raw(
    link: &Link<'_>,
    seen: &Seen<'_>,
    payload: &[u8],
    piece: &Piece,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let data = payload
        .get(piece.offset..piece.offset + piece.len)
        .ok_or(FrameError::PayloadTooLong)?;
    let len = raw_frame_len(link, seen, piece);
    let out = out.get_mut(..len).ok_or(FrameError::BufferTooSmall)?;
    let l2 = link.write(out, seen.version.ethertype());
    let (ip, rest) = out[l2..].split_at_mut(seen.ip.len());
    let (tcp, body) = rest.split_at_mut(seen.tcp.len());
    ip.copy_from_slice(seen.ip);
    tcp.copy_from_slice(seen.tcp);
    let tcp_len = seen.tcp.len() + piece.len;
    let pseudo = match seen.version {
        IpVersion::V4 => {
            let total = (ip.len() + tcp_len) as u16;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            let id = u16::from_be_bytes([ip[4], ip[5]]).wrapping_add(piece.index);
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            ip[10..12].fill(0);
            let sum = copy_sum_in_place(ip);
            ip[10..12].copy_from_slice(&checksum::finish(sum));
            let (s, d): ([u8; 4], [u8; 4]) = (
                ip[12..16].try_into().expect("20"),
                ip[16..20].try_into().expect("20"),
            );
            dword(s) + dword(d) + word([0, IPPROTO_TCP]) + word((tcp_len as u16).to_be_bytes())
        }
        IpVersion::V6 => {
            let payload_len = ip.len() - IPV6_LEN + tcp_len;
            ip[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
            let (s, d): ([u8; 16], [u8; 16]) = (
                ip[8..24].try_into().expect("40"),
                ip[24..40].try_into().expect("40"),
            );
            pseudo_v6(&s, &d, tcp_len)
        }
    };
    if !piece.last {
        tcp[13] &= !(TCP_PSH | TCP_FIN);
    }
    let seq = u32::from_be_bytes(tcp[4..8].try_into().expect("20")).wrapping_add(piece.offset as u32);
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[16..18].fill(0);
    let sum = pseudo + copy_sum_in_place(tcp) + copy_and_sum(body, data);
    tcp[16..18].copy_from_slice(&checksum::finish(sum));
    Ok(len)
}

#[cfg(test)]
mod verbatim_tests {
    use super::*;

    fn frame(tags: &[u8], ethertype: u16, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0xaa; 6];
        f.extend([0xbb; 6]);
        f.extend(tags);
        f.extend(ethertype.to_be_bytes());
        f.extend(ip);
        f
    }

    #[test]
    fn the_destination_routes_and_only_the_macs_change() {
        let mut ip4 = vec![0u8; 40];
        ip4[0] = 0x45;
        ip4[16..20].copy_from_slice(&[10, 11, 90, 3]);
        let f = frame(&[], ETHERTYPE_IPV4, &ip4);
        let v = Verbatim::of(&f).unwrap();
        assert_eq!(
            (v.dst, v.tags, v.untagged_len()),
            ("10.11.90.3".parse().unwrap(), 0, 54)
        );
        let mut out = [0u8; 64];
        let addresses = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2];
        assert_eq!(v.write(&addresses, &mut out), Ok(54));
        assert_eq!(out[..6], [1; 6]);
        assert_eq!(out[6..12], [2; 6]);
        assert_eq!(out[12..54], f[12..]);
        assert_eq!(
            v.write(&addresses, &mut out[..53]),
            Err(FrameError::BufferTooSmall)
        );
        // QinQ tags are kept, and do not count against the frame limit.
        let mut ip6 = vec![0u8; 60];
        ip6[0] = 0x60;
        ip6[24..40].copy_from_slice(&"fd00::3".parse::<std::net::Ipv6Addr>().unwrap().octets());
        let tags = [0x88, 0xa8, 0, 7, 0x81, 0x00, 0, 9];
        let f = frame(&tags, ETHERTYPE_IPV6, &ip6);
        let v = Verbatim::of(&f).unwrap();
        assert_eq!((v.dst, v.tags), ("fd00::3".parse().unwrap(), 8));
        assert_eq!(v.untagged_len(), 14 + 60);
    }

    #[test]
    fn what_is_not_ethernet_and_ip_is_refused() {
        let mut ip4 = vec![0u8; 20];
        ip4[0] = 0x45;
        assert!(Verbatim::of(&frame(&[], ETHERTYPE_IPV4, &ip4)).is_some());
        for bad in [
            frame(&[], ETHERTYPE_IPV4, &ip4[..19]),
            frame(&[], 0x0806, &ip4),
            frame(&[], ETHERTYPE_IPV6, &ip4),
            frame(
                &[0x81, 0, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3],
                ETHERTYPE_IPV4,
                &ip4,
            ),
            vec![0; 13],
            vec![],
        ] {
            assert_eq!(Verbatim::of(&bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn v4(flags: u8, seq: u32, ack: u32, payload: usize, options: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut ip = vec![0u8; 20];
        ip[0] = 0x45;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        ip[2..4].copy_from_slice(&((40 + options.len() + payload) as u16).to_be_bytes());
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = (((20 + options.len()) / 4) as u8) << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
        tcp.extend_from_slice(options);
        (ip, tcp)
    }

    fn v6(ext: &[u8], first_next: u8) -> (Vec<u8>, Vec<u8>) {
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[6] = first_next;
        ip[7] = 55;
        ip[8..24].copy_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        ip[24..40].copy_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        ip.extend_from_slice(ext);
        let (_, tcp) = v4(TCP_ACK | TCP_PSH, 1000, 2000, 0, &[]);
        (ip, tcp)
    }

    const LINK: Link<'static> = Link {
        dst: [2, 0, 0, 0, 0, 2],
        src: [2, 0, 0, 0, 0, 1],
        tags: &[],
    };

    #[test]
    fn reset_numbers_in_both_directions() {
        let (ip, tcp) = v4(TCP_ACK | TCP_PSH, 1000, 5000, 7, &[]);
        let s = Seen::new(&ip, &tcp, 7).unwrap();
        let to_rx = s.reset(Direction::ToReceiver);
        assert_eq!(
            (to_rx.seq, to_rx.ack, to_rx.flags),
            (1007, 5000, TCP_RST | TCP_ACK)
        );
        assert_eq!((to_rx.sport, to_rx.dport), (40000, 80));
        assert_eq!(to_rx.dst, IpAddr::from([10, 0, 0, 2]));
        let to_tx = s.reset(Direction::ToSender);
        assert_eq!(
            (to_tx.seq, to_tx.ack, to_tx.flags),
            (5000, 1007, TCP_RST | TCP_ACK)
        );
        assert_eq!((to_tx.sport, to_tx.dport), (80, 40000));
        assert_eq!(to_tx.dst, IpAddr::from([10, 0, 0, 1]));
        // SYN and FIN count one each; without ACK, RST alone toward the receiver and seq 0
        // toward the sender (RFC 793).
        let (ip, tcp) = v4(TCP_SYN | TCP_FIN, u32::MAX, 0, 0, &[]);
        let s = Seen::new(&ip, &tcp, 0).unwrap();
        let r = s.reset(Direction::ToReceiver);
        assert_eq!((r.seq, r.ack, r.flags), (1, 0, TCP_RST));
        let r = s.reset(Direction::ToSender);
        assert_eq!((r.seq, r.ack, r.flags), (0, 1, TCP_RST | TCP_ACK));
    }

    #[test]
    fn reset_frames_parse_with_correct_checksums() {
        let tags = [0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x20, 0x07];
        let cases = [
            (
                v4(TCP_ACK, 1, 2, 0, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
                (2, 4),
            ),
            (v6(&[], 6), (2000, 1003)),
        ];
        for ((ip, tcp), seq_ack) in cases {
            let s = Seen::new(&ip, &tcp, 3).unwrap();
            for tags in [&[][..], &tags[..4], &tags[..]] {
                let link = Link { tags, ..LINK };
                let mut out = [0u8; 128];
                let r = s.reset(Direction::ToSender);
                let n = write_reset(&link, &r, &mut out).unwrap();
                assert_eq!(n, reset_frame_len(&link, s.version()));
                let p = SlicedPacket::from_ethernet(&out[..n]).unwrap();
                assert_eq!(p.vlan.is_some(), !tags.is_empty());
                let Some(TransportSlice::Tcp(t)) = p.transport else {
                    panic!()
                };
                assert!(t.rst() && t.ack() && !t.syn() && !t.fin());
                assert_eq!((t.sequence_number(), t.acknowledgment_number()), seq_ack);
                assert_eq!((t.window_size(), t.data_offset(), t.payload().len()), (0, 5, 0));
                match p.net {
                    Some(NetSlice::Ipv4(ip)) => {
                        let h = ip.header().to_header();
                        assert_eq!(h.header_checksum, h.calc_header_checksum());
                        assert_eq!((h.identification, h.dont_fragment, h.time_to_live), (0, true, 64));
                        assert_eq!(t.checksum(), t.to_header().calc_checksum_ipv4(&h, &[]).unwrap());
                    }
                    Some(NetSlice::Ipv6(ip)) => {
                        let h = ip.header().to_header();
                        assert_eq!((h.hop_limit, h.payload_length), (64, 20));
                        assert_eq!(t.checksum(), t.to_header().calc_checksum_ipv6(&h, &[]).unwrap());
                    }
                    _ => panic!("no IP"),
                }
            }
        }
    }

    #[test]
    fn raw_keeps_ipv4_options_and_tcp_options_and_splits_payloads() {
        let syn_opts = [2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1];
        let (mut ip, tcp) = v4(TCP_ACK | TCP_PSH | TCP_FIN, 7000, 1, 0, &syn_opts);
        // IHL 6: a Router Alert option (4 bytes).
        ip[0] = 0x46;
        ip.extend_from_slice(&[0x94, 0x04, 0, 0]);
        ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        let payload: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let s = Seen::new(&ip, &tcp, payload.len()).unwrap();
        let pieces: Vec<Piece> = pieces(payload.len(), s.headers_len(), 1500).unwrap().collect();
        let mss = 1500 - 24 - 32;
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[0].len, pieces[1].len), (mss, 2500 - mss));
        let mut got = Vec::new();
        for p in &pieces {
            let mut out = vec![0u8; 1600];
            let n = write_raw(&LINK, &s, &payload, p, &mut out).unwrap();
            assert!(n - 14 <= 1500);
            let sp = SlicedPacket::from_ethernet(&out[..n]).unwrap();
            let Some(NetSlice::Ipv4(ipv4)) = &sp.net else {
                panic!()
            };
            let h = ipv4.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            assert_eq!(h.options.as_slice(), &[0x94, 0x04, 0, 0]);
            assert_eq!(h.identification, 0x1234 + p.index);
            let Some(TransportSlice::Tcp(t)) = &sp.transport else {
                panic!()
            };
            assert_eq!(t.options(), &syn_opts);
            assert_eq!(t.sequence_number(), 7000 + p.offset as u32);
            assert_eq!((t.psh(), t.fin(), t.ack()), (p.last, p.last, true));
            assert_eq!(
                t.checksum(),
                t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap()
            );
            got.extend_from_slice(t.payload());
        }
        assert_eq!(got, payload);
    }

    #[test]
    fn raw_keeps_ipv6_extension_headers() {
        // Hop-by-hop (8 bytes: PadN) then destination options (8 bytes) then TCP.
        let ext = [60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
        let (ip, tcp) = v6(&ext, 0);
        let s = Seen::new(&ip, &tcp, 5).unwrap();
        let piece = pieces(5, s.headers_len(), 1500).unwrap().next().unwrap();
        let mut out = [0u8; 200];
        let n = write_raw(&LINK, &s, b"hello", &piece, &mut out).unwrap();
        let sp = SlicedPacket::from_ethernet(&out[..n]).unwrap();
        let Some(NetSlice::Ipv6(ipv6)) = &sp.net else {
            panic!()
        };
        assert_eq!(ipv6.header().payload_length(), 16 + 20 + 5);
        assert_eq!(ipv6.header().hop_limit(), 55, "as the caller wrote it");
        assert_eq!(ipv6.extensions().slice(), &ext[..]);
        let Some(TransportSlice::Tcp(t)) = &sp.transport else {
            panic!()
        };
        let h = ipv6.header().to_header();
        assert_eq!(
            t.checksum(),
            t.to_header().calc_checksum_ipv6(&h, b"hello").unwrap()
        );
        assert_eq!(t.payload(), b"hello");
    }

    #[test]
    fn bad_headers_are_refused() {
        let (ip, tcp) = v4(TCP_ACK, 1, 2, 0, &[]);
        assert!(Seen::new(&ip[..19], &tcp, 0).is_err());
        assert!(Seen::new(&ip, &tcp[..19], 0).is_err());
        let mut bad = ip.clone();
        bad[9] = 17;
        assert!(Seen::new(&bad, &tcp, 0).is_err(), "not TCP");
        assert!(Seen::new(&ip, &tcp, 65535).is_err(), "lengths overflow");
        // IPv6 chains that do not end in TCP where the header ends.
        let (ip6, tcp6) = v6(&[6, 0, 1, 4, 0, 0, 0, 0], 60);
        assert!(Seen::new(&ip6, &tcp6, 0).is_ok());
        assert!(Seen::new(&ip6[..44], &tcp6, 0).is_err());
        let (ip6, _) = v6(&[], 17);
        assert!(Seen::new(&ip6, &tcp6, 0).is_err(), "UDP");
        let (ip6, _) = v6(&[6, 0, 0, 8, 0, 0, 0, 1], 44);
        assert!(Seen::new(&ip6, &tcp6, 0).is_err(), "a later fragment");
        assert!(pieces(10, 60, 60).is_none());
        assert_eq!(pieces(0, 60, 60).unwrap().count(), 1);
    }

    #[test]
    fn vlan_tags_are_taken_only_when_valid() {
        let mut l2 = vec![0u8; 12];
        l2.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        assert_eq!(vlan_tags(&l2, IpVersion::V4), Some(&[0x81, 0x00, 0x00, 0x0a][..]));
        assert_eq!(vlan_tags(&l2, IpVersion::V6), None, "ethertype says IPv4");
        assert_eq!(
            vlan_tags(&l2[..14], IpVersion::V4),
            None,
            "ethertype 0x8100: a tag cut short"
        );
        let mut plain = vec![0u8; 12];
        plain.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(vlan_tags(&plain, IpVersion::V4), Some(&[][..]));
        let mut odd = vec![0u8; 12];
        odd.extend_from_slice(&[0x12, 0x34, 0, 1, 0x08, 0x00]);
        assert_eq!(vlan_tags(&odd, IpVersion::V4), None, "not a TPID");
    }
}
