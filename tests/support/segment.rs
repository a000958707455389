//! Observed TCP segments of any shape (IPv4 or IPv6, VLAN tags, IPv4 options or IPv6 extension
//! headers, TCP options, payload) for `mtcp_sendpkt_reset` and `mtcp_sendpkt_segment`, and the two
//! calls with their errno.

use mtcp_sendpkt::{mtcp_context, pkt_info};

use super::empty_pkt_info;

pub const SENDER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const RECEIVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const SYN: u8 = 0x02;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// An observed frame: Ethernet (with `tags`), IPv4 or IPv6 (with `ip_extra`: IPv4 options or
/// IPv6 extension headers, whose first next-header is `first_next`), TCP with `options`, payload.
pub struct Frame {
    pub bytes: Vec<u8>,
    pub ip_at: usize,
    pub tcp_at: usize,
    pub payload_len: usize,
}

pub struct Spec<'a> {
    pub v6: bool,
    pub tags: &'a [u8],
    pub ip_extra: &'a [u8],
    pub first_next: u8,
    pub src: &'a str,
    pub dst: &'a str,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

pub const V4: Spec<'static> = Spec {
    v6: false,
    tags: &[],
    ip_extra: &[],
    first_next: 6,
    src: "10.1.0.1",
    dst: "10.1.0.2",
    flags: ACK | PSH,
    seq: 1000,
    ack: 5000,
    options: &[],
    payload: &[],
};

pub fn frame(s: &Spec<'_>) -> Frame {
    let mut b = Vec::new();
    b.extend_from_slice(&RECEIVER_MAC);
    b.extend_from_slice(&SENDER_MAC);
    b.extend_from_slice(s.tags);
    b.extend_from_slice(if s.v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    let ip_at = b.len();
    let tcp_len = 20 + s.options.len();
    if s.v6 {
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&((s.ip_extra.len() + tcp_len + s.payload.len()) as u16).to_be_bytes());
        ip[6] = s.first_next;
        ip[7] = 63;
        ip[8..24].copy_from_slice(&s.src.parse::<std::net::Ipv6Addr>().unwrap().octets());
        ip[24..40].copy_from_slice(&s.dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&ip);
    } else {
        let mut ip = vec![0u8; 20];
        ip[0] = 0x45 + (s.ip_extra.len() / 4) as u8;
        ip[2..4].copy_from_slice(&((20 + s.ip_extra.len() + tcp_len + s.payload.len()) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
        ip[8] = 63;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&s.src.parse::<std::net::Ipv4Addr>().unwrap().octets());
        ip[16..20].copy_from_slice(&s.dst.parse::<std::net::Ipv4Addr>().unwrap().octets());
        b.extend_from_slice(&ip);
    }
    b.extend_from_slice(s.ip_extra);
    let tcp_at = b.len();
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&80u16.to_be_bytes());
    t[4..8].copy_from_slice(&s.seq.to_be_bytes());
    t[8..12].copy_from_slice(&s.ack.to_be_bytes());
    t[12] = ((tcp_len / 4) as u8) << 4;
    t[13] = s.flags;
    t[14..16].copy_from_slice(&1000u16.to_be_bytes());
    b.extend_from_slice(&t);
    b.extend_from_slice(s.options);
    b.extend_from_slice(s.payload);
    Frame {
        bytes: b,
        ip_at,
        tcp_at,
        payload_len: s.payload.len(),
    }
}

impl Frame {
    /// A `pkt_info` pointing into this frame (valid while it lives and is not moved).
    pub fn pkt_info(&mut self, with_ethh: bool) -> pkt_info {
        let base = self.bytes.as_mut_ptr();
        let doff = usize::from(self.bytes[self.tcp_at + 12] >> 4) * 4;
        // SAFETY: the offsets are inside the vector.
        unsafe {
            pkt_info {
                payloadlen: self.payload_len as u16,
                ethh: if with_ethh {
                    base.cast()
                } else {
                    std::ptr::null_mut()
                },
                iph: base.add(self.ip_at).cast(),
                tcph: base.add(self.tcp_at).cast(),
                payload: if self.payload_len == 0 {
                    std::ptr::null_mut()
                } else {
                    base.add(self.tcp_at + doff)
                },
                ..empty_pkt_info()
            }
        }
    }
}

/// Calls `mtcp_sendpkt_reset` on core context 0: the frames sent, or the errno.
pub fn reset(pi: &pkt_info, directions: i32) -> Result<i32, i32> {
    let mut ctx = mtcp_context { cpu: 0 };
    // SAFETY: ctx and pi are valid; pi's pointers are valid for the call (caller's part).
    let rc = unsafe { mtcp_sendpkt::mtcp_sendpkt_reset(&mut ctx, pi, directions) };
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    }
}

/// Calls `mtcp_sendpkt_segment` on core context 0: the frames sent, or the errno.
pub fn raw(pi: &pkt_info) -> Result<i32, i32> {
    let mut ctx = mtcp_context { cpu: 0 };
    // SAFETY: as for `reset`.
    let rc = unsafe { mtcp_sendpkt::mtcp_sendpkt_segment(&mut ctx, pi) };
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    }
}
