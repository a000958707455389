//! The RST and raw-segment builder on arbitrary header bytes, lengths, payloads, VLAN tags and
//! MTUs. What it accepts must come out as frames of exactly the computed length, whose
//! checksums an independent parser (etherparse) confirms whenever it reads them as TCP, and
//! whose pieces carry the whole payload once; what it refuses must be an error, never a panic.
//! The same bytes as a whole held frame (`mtcp_sendpkt_raw`'s replay): where [`Verbatim::of`]
//! takes it, its copy differs from it in the 12 address bytes only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtcp_sendpkt::internals::{
    pieces, raw_frame_len, reset_frame_len, write_raw, write_reset, Direction, Link, Seen, Verbatim,
};

const TAGS: [u8; 8] = [0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x07];

/// RFC 1071 sum of 16-bit big-endian words, folded (written here, apart from the library's).
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for p in parts {
        for c in p.chunks(2) {
            sum += u64::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Reads a frame back with etherparse and checks both checksums over the bytes as sent (not
/// through etherparse's own checksum code, which drops the TCP header's reserved bits); returns
/// the TCP payload, or `None` where etherparse does not read TCP (an IPv4 fragment, say).
fn check(frame: &[u8]) -> Option<Vec<u8>> {
    let p = etherparse::SlicedPacket::from_ethernet(frame).ok()?;
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else { return None };
    let seg_len = t.slice().len() as u32;
    let pseudo: Vec<u8> = match p.net? {
        etherparse::NetSlice::Ipv4(ip) => {
            assert_eq!(ones_sum(&[ip.header().slice()]), 0xffff, "IPv4 header checksum");
            let h = ip.header();
            [&h.source()[..], &h.destination(), &[0, 6], &(seg_len as u16).to_be_bytes()].concat()
        }
        etherparse::NetSlice::Ipv6(ip) => {
            let h = ip.header();
            [&h.source()[..], &h.destination(), &seg_len.to_be_bytes(), &[0, 0, 0, 6]].concat()
        }
        _ => return None,
    };
    // `slice()` is the TCP header and its payload.
    assert_eq!(ones_sum(&[&pseudo, t.slice()]), 0xffff, "TCP checksum");
    Some(t.payload().to_vec())
}

fuzz_target!(|data: &[u8]| {
    if let Some(v) = Verbatim::of(data) {
        assert!(v.untagged_len() <= data.len() && v.tags % 4 == 0 && v.tags <= 8);
        let mut out = vec![0u8; data.len()];
        let addresses = [7u8; 12];
        assert_eq!(v.write(&addresses, &mut out), Ok(data.len()));
        assert_eq!((&out[..12], &out[12..]), (&addresses[..], &data[12..]));
    }
    // Layout: [ip_len][tcp_len][mode][mtu] ip bytes, tcp bytes, payload.
    let [ip_len, tcp_len, mode, mtu, rest @ ..] = data else { return };
    let (ip_len, tcp_len) = (usize::from(*ip_len) * 2, usize::from(*tcp_len));
    if rest.len() < ip_len + tcp_len {
        return;
    }
    let (ip, rest) = rest.split_at(ip_len);
    let (tcp, payload) = rest.split_at(tcp_len);
    let Ok(seen) = Seen::new(ip, tcp, payload.len()) else { return };
    let link = Link {
        dst: [1; 6],
        src: [2; 6],
        tags: &TAGS[..4 * usize::from(mode % 3)],
    };
    for dir in [Direction::ToSender, Direction::ToReceiver] {
        let r = seen.reset(dir);
        let mut out = vec![0u8; 128];
        let n = write_reset(&link, &r, &mut out).expect("a RST fits 128 bytes");
        assert_eq!(n, reset_frame_len(&link, seen.version()));
        if let Some(p) = check(&out[..n]) {
            assert!(p.is_empty());
        }
    }
    let mtu = 68 + usize::from(*mtu) * 8;
    let Some(ps) = pieces(payload.len(), seen.headers_len(), mtu) else {
        assert!(seen.headers_len() >= mtu);
        return;
    };
    let mut joined = Vec::new();
    let mut parsed_all = true;
    for piece in ps {
        let len = raw_frame_len(&link, &seen, &piece);
        assert!(len - link.tags.len() - 14 <= mtu);
        let mut out = vec![0u8; len];
        assert_eq!(write_raw(&link, &seen, payload, &piece, &mut out), Ok(len));
        match check(&out) {
            Some(p) => joined.extend_from_slice(&p),
            None => parsed_all = false,
        }
    }
    if parsed_all {
        assert_eq!(joined, payload);
    }
});
